//! The room task: its `select!` loop and the dispatch of commands and events to the components.

use super::*;

impl Room {
    pub(super) async fn run(
        mut self,
        mut rx: mpsc::Receiver<Command>,
        mut ev_rx: mpsc::UnboundedReceiver<RoomEvent>,
        bus: gst::Bus,
    ) {
        info!(mixing = self.cfg.mode.name(), "room created");
        // An MCU room serves commands once its mixer is up (its `publishers`
        // lists show the mix from the first `join`); commands wait in the
        // queue meanwhile, while events, the bus and timers go on.
        let mut mixer_due =
            (self.cfg.mode != Mode::Sfu).then(|| tokio::time::Instant::now() + ENCODER_WAIT);
        if mixer_due.is_some() {
            self.post_later(Duration::ZERO, RoomEvent::MixerCheck);
        }
        let mut bus_stream = bus.stream();
        loop {
            tokio::select! {
                cmd = rx.recv(), if mixer_due.is_none() => {
                    let Some(cmd) = cmd else { break };
                    if self.command(cmd).is_break() {
                        break;
                    }
                }
                Some(ev) = ev_rx.recv() => {
                    // Bus messages first: an element posts its error before
                    // what follows from it (a recording's EOS after a write
                    // error) reaches the room as an event.
                    while let Some(Some(msg)) = bus_stream.next().now_or_never() {
                        self.bus_message(&msg);
                    }
                    self.event(ev)
                }
                Some(msg) = bus_stream.next() => self.bus_message(&msg),
                Some(due) = self.timers.next(), if !self.timers.is_empty() => {
                    match due.into_inner() {
                        RoomEvent::MixerCheck => {
                            if let Some(deadline) = mixer_due
                                && self.try_start_mixer(tokio::time::Instant::now() >= deadline)
                            {
                                mixer_due = None;
                            } else {
                                self.post_later(ENCODER_POLL, RoomEvent::MixerCheck);
                            }
                        }
                        ev => self.event(ev),
                    }
                }
            }
        }
        self.finalize_recordings(&mut ev_rx).await;
        let teardown = self.shutdown();
        if let Some(reply) = self.closing_reply.take() {
            // Gateway shutdown waits until the pipeline is really down.
            let _ = teardown.await;
            let _ = reply.send(());
        }
        info!("room destroyed");
    }

    pub(super) fn command(&mut self, cmd: Command) -> std::ops::ControlFlow<()> {
        use std::ops::ControlFlow::{Break, Continue};
        match cmd {
            Command::Info { reply } => {
                let _ = reply.send(RoomInfo {
                    config: self.cfg.clone(),
                    participants: self.participants.len(),
                });
            }
            Command::Edit {
                secret,
                edit,
                reply,
            } => {
                let r = self
                    .cfg
                    .check_secret(secret.as_deref())
                    .map(|_| self.cfg.apply_edit(edit));
                send_reply(reply, r);
            }
            Command::Destroy { secret, reply } => {
                if let Err(e) = self.cfg.check_secret(secret.as_deref()) {
                    send_reply(reply, Err(e));
                    return Continue(());
                }
                for p in self.participants.values() {
                    self.notify(p.h, Notice::Destroyed);
                }
                for s in self.subscribers.values() {
                    self.notify(s.h, Notice::Destroyed);
                }
                send_reply(reply, Ok(()));
                return Break(());
            }
            Command::MemberInfo { h, webrtc, reply } => self.member_info(h, webrtc, reply),
            Command::Allowed {
                secret,
                action,
                tokens,
                reply,
            } => {
                let r = self
                    .cfg
                    .check_secret(secret.as_deref())
                    .map(|_| self.cfg.apply_allowed(action, tokens));
                send_reply(reply, r);
            }
            Command::ListParticipants { reply } => {
                let list = self
                    .participants
                    .values()
                    .map(|p| ParticipantInfo {
                        id: p.id.clone(),
                        display: p.display.clone(),
                        metadata: p.metadata.clone(),
                        publisher: p.publication.is_some(),
                        talking: p.talk.talking(),
                    })
                    .collect();
                send_reply(reply, Ok(list));
            }
            Command::Kick { secret, id, reply } => {
                let r = self.kick(secret.as_deref(), &id);
                send_reply(reply, r);
            }
            Command::Join { h, params, reply } => {
                let r = self.join(h, params);
                send_reply(reply, r);
            }
            Command::Publish {
                h,
                params,
                jsep,
                reply,
            } => {
                self.publish(h, params, jsep, reply);
            }
            Command::Unpublish { h, reply } => {
                let r = if self
                    .participants
                    .get(&h.key())
                    .is_some_and(|p| p.publication.is_some())
                {
                    self.unpublish(h.key());
                    Ok(())
                } else if self.participants.contains_key(&h.key()) {
                    Err(RoomError::NotPublished)
                } else {
                    Err(RoomError::NotJoined)
                };
                send_reply(reply, r);
            }
            Command::Leave { h, reply } => {
                let r = if self.participants.contains_key(&h.key()) {
                    self.leave_publisher(h.key(), None);
                    Ok(Role::Publisher)
                } else if self.subscribers.contains_key(&h.key()) {
                    self.remove_subscriber(h.key());
                    Ok(Role::Subscriber)
                } else {
                    Err(RoomError::NotJoined)
                };
                send_reply(reply, r);
            }
            Command::Subscribe {
                h,
                streams,
                private_id,
                reply,
            } => {
                let tied = private_id.and_then(|pid| {
                    self.participants
                        .iter()
                        .find(|(_, p)| u64::from(p.private_id) == pid)
                        .map(|(handle, _)| *handle)
                });
                if self.cfg.require_pvtid && tied.is_none() {
                    send_reply(
                        reply,
                        Err(RoomError::Unauthorized(
                            "this room requires a valid private_id",
                        )),
                    );
                } else {
                    self.subscribe(h, streams, tied, reply);
                }
            }
            Command::Start { h, jsep, reply } => {
                self.start(h, jsep, reply);
            }
            Command::Pause { h, reply } => {
                let r = match self.subscribers.get_mut(&h.key()) {
                    None => Err(RoomError::NotJoined),
                    Some(s) => {
                        s.paused = true;
                        for st in &mut s.streams {
                            set_forwarding(st, false);
                        }
                        Ok(())
                    }
                };
                send_reply(reply, r);
            }
            Command::ConfigureSubscriber { h, streams, reply } => {
                let r = self.configure_subscriber(h, &streams);
                send_reply(reply, r);
            }
            Command::Shutdown { reply } => {
                self.closing_reply = Some(reply);
                return Break(());
            }
            Command::Moderate {
                secret,
                id,
                mid,
                mute,
                reply,
            } => {
                let r = self.moderate(secret.as_deref(), &id, &mid, mute);
                send_reply(reply, r);
            }
            Command::EnableRecording {
                secret,
                record,
                reply,
            } => {
                let r = self.enable_recording(secret.as_deref(), record);
                send_reply(reply, r);
            }
            Command::RecordMix {
                secret,
                record,
                filename,
                reply,
            } => {
                let r = (|| {
                    if self.cfg.lock_record {
                        self.cfg.check_secret(secret.as_deref())?;
                    }
                    if record {
                        self.start_mix_recording(filename.as_deref()).map(Some)
                    } else {
                        self.stop_mix_recording();
                        Ok(None)
                    }
                })();
                send_reply(reply, r);
            }
            Command::SetLayout {
                secret,
                layout,
                reply,
            } => {
                let r = self.cfg.check_secret(secret.as_deref()).and_then(|_| {
                    match self.mixer.as_mut() {
                        None => Err(RoomError::NotMixing("set_layout")),
                        Some(m) => {
                            m.set_layout(layout);
                            Ok(())
                        }
                    }
                });
                send_reply(reply, r);
            }
            Command::Update {
                h,
                add,
                remove,
                remove_sub_mids,
                reply,
            } => {
                self.update(h, add, remove, remove_sub_mids, reply);
            }
            Command::Trickle { h, trickle } => self.trickle(h.key(), trickle),
            Command::AddIngest {
                secret,
                params,
                reply,
            } => match self.cfg.check_secret(secret.as_deref()) {
                Ok(()) => self.add_ingest(params, reply),
                Err(e) => send_reply(reply, Err(e)),
            },
            Command::RemoveIngest { secret, id, reply } => {
                let r = match self.cfg.check_secret(secret.as_deref()) {
                    Ok(()) => self.remove_ingest(&id),
                    Err(e) => Err(e),
                };
                send_reply(reply, r);
            }
            Command::StartRtmp {
                secret,
                url,
                source,
                reply,
            } => {
                let r = self
                    .cfg
                    .check_secret(secret.as_deref())
                    .and_then(|_| self.start_rtmp(url, source));
                send_reply(reply, r);
            }
            Command::StopRtmp { secret, id, reply } => {
                let r = self
                    .cfg
                    .check_secret(secret.as_deref())
                    .and_then(|_| self.stop_rtmp(id));
                send_reply(reply, r);
            }
            Command::Bridge { h, reply } => {
                let r = self.bridge(h.key());
                send_reply(reply, r);
            }
            Command::Export {
                feed,
                media,
                srcs,
                reply,
            } => {
                let r = self.export(&feed, media, srcs);
                send_reply(reply, r);
            }
            Command::Unexport { media } => self.rtsp_detach(media),
            Command::IngestStatus { reply } => {
                let _ = reply.send(self.ingest_status());
            }
            Command::Hangup { h } => {
                if self
                    .participants
                    .get(&h.key())
                    .is_some_and(|p| p.publication.is_some())
                {
                    self.unpublish(h.key());
                } else if self.subscribers.contains_key(&h.key()) {
                    self.remove_subscriber(h.key());
                }
            }
            Command::Detach { h } => {
                if self.participants.contains_key(&h.key()) {
                    self.leave_publisher(h.key(), None);
                }
                if self.subscribers.contains_key(&h.key()) {
                    self.remove_subscriber(h.key());
                }
                self.pending_candidates.remove(&h.key());
            }
        }
        Continue(())
    }

    pub(super) fn event(&mut self, ev: RoomEvent) {
        match ev {
            RoomEvent::IceCandidate {
                handle,
                mline,
                candidate,
            } => {
                let Some(h) = self.handle_of(handle) else {
                    return;
                };
                let candidate = self.ctx.ice.map_candidate(&candidate);
                let c = Candidate {
                    sdp_mid: None,
                    sdp_mline_index: Some(mline),
                    candidate,
                };
                self.notify(h, Notice::LocalCandidate(Some(c)));
            }
            RoomEvent::IceGatheringDone { handle } => {
                if let Some(h) = self.handle_of(handle) {
                    self.notify(h, Notice::LocalCandidate(None));
                }
            }
            RoomEvent::PadAdded { handle, pad, block } => {
                self.publisher_pad(handle, &pad);
                if let Some(b) = block {
                    pad.remove_probe(b);
                }
            }
            RoomEvent::ConnectionState { handle, state } => self.connection_state(handle, state),
            RoomEvent::RecordingDone { id } => self.recording_done(id),
            RoomEvent::RecordingSync { id, round } => self.recording_sync(id, round),
            RoomEvent::LayerKeyframe {
                publisher_handle,
                mindex,
                layer,
            } => self.layer_keyframe(publisher_handle, mindex, layer),
            RoomEvent::LayerSwitched {
                subscriber,
                mline,
                layer,
            } => self.layer_switched(subscriber, mline, layer),
            RoomEvent::LayerUp {
                handle,
                mindex,
                layer,
                ssrc,
            } => self.layer_up(handle, mindex, layer, ssrc),
            RoomEvent::ReceiverFeedback { handle, feedback } => {
                self.receiver_feedback(handle, feedback)
            }
            RoomEvent::AudioLevel { handle, dbov } => {
                // A moderated (muted) stream does not talk.
                let muted = self
                    .participants
                    .get(&handle)
                    .and_then(|p| p.publication.as_ref())
                    .and_then(|pb| pb.streams.iter().find(|s| s.kind == MediaKind::Audio))
                    .is_some_and(|s| s.moderated.is_some());
                if !muted {
                    self.audio_level(handle, dbov);
                }
            }
            RoomEvent::KeyframeRequest {
                publisher_handle,
                mindex,
                force,
            } => self.keyframe(publisher_handle, mindex, force),
            RoomEvent::RecordingKeyframe { id, after } => self.recording_keyframe(id, after),
            RoomEvent::IngestPad {
                handle,
                pad,
                caps,
                block,
            } => self.ingest_pad(handle, pad, caps, block),
            RoomEvent::IngestNoMorePads { handle } => self.ingest_ready(handle),
            RoomEvent::IngestTimeout { handle, attempt } => self.ingest_timeout(handle, attempt),
            RoomEvent::IngestRetry { handle } => self.ingest_retry(handle),
            RoomEvent::IngestBFrames { handle } => self.ingest_b_frames(handle),
            RoomEvent::EgressRetry { id } => self.egress_retry(id),
            RoomEvent::RtspAttach {
                handle,
                media,
                srcs,
            } => self.rtsp_attach(handle, media, srcs),
            RoomEvent::RtspDetach { media } => self.rtsp_detach(media),
            RoomEvent::EgressKeyframe { id, branch } => self.egress_keyframe(id, branch),
            RoomEvent::EgressCheck { id, failures } => self.egress_check(id, failures),
            RoomEvent::IngestFailed { handle, why } => self.ingest_failed(handle, why),
            // Handled by the loop (it gates the command queue).
            RoomEvent::MixerCheck => {}
            RoomEvent::PublisherAnswered { handle, result } => {
                self.publisher_answered(handle, result)
            }
            RoomEvent::SubscriberOffered { handle, result } => {
                self.subscriber_offered(handle, result)
            }
            RoomEvent::SubscriberAnswered { handle, result } => {
                self.subscriber_answered(handle, result)
            }
            RoomEvent::MixInputReady { publisher } => {
                if let Some(m) = self.mixer.as_mut()
                    && let Err(e) = m.input_ready(publisher)
                {
                    warn!(handle_id = %publisher, error = %e, "cannot add the publisher to the mix");
                }
            }
            RoomEvent::BranchFailed {
                handle: MIX_HANDLE,
                reason,
            } => {
                warn!(%reason, "a mixer input refused media; the publisher keeps forwarding");
            }
            RoomEvent::BranchFailed { handle, reason } => {
                warn!(handle_id = %handle, %reason, "subscriber stopped taking media; removing it");
                if let Some(h) = self.subscribers.get(&handle).map(|s| s.h) {
                    self.remove_subscriber(handle);
                    self.notify(
                        h,
                        Notice::Hangup {
                            reason: "Media error",
                        },
                    );
                }
            }
        }
    }

    /// Handles `event` after `delay`, in the task's own timer queue.
    pub(super) fn post_later(&mut self, delay: Duration, event: RoomEvent) {
        self.timers.insert(event, delay);
    }
}

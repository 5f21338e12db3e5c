//! A new offer on a published handle (`configure` or `publish` with a
//! JSEP): tracks added (a screen share next to the camera, video added to an
//! audio-only call), removed or replaced, as janus.js sends it after
//! `createOffer({tracks:[{type:'screen', add:true}]})`.
//!
//! The same `webrtcbin` answers: its m-lines keep their transceivers, new
//! m-lines get one. Streams that stop sending are taken down (their
//! subscribers' m-lines go inactive); new ones get their tees, and
//! subscribers of the whole feed get them added (Janus's `autoupdate`).
//! The room hears `publishers` with the new stream list.

use super::*;

impl Room {
    /// Starts answering a renegotiation off the task; `publisher_answered`
    /// goes on with [`Room::apply_renegotiation`].
    pub(super) fn begin_renegotiation(
        &mut self,
        h: HandleId,
        params: PublishParams,
        jsep: Jsep,
    ) -> Result<PendingPublish, RoomError> {
        let handle = h.key();
        let publication = self
            .participants
            .get(&handle)
            .and_then(|p| p.publication.as_ref())
            .ok_or(RoomError::NotJoined)?;
        let peer = publication
            .peer
            .clone()
            .ok_or(RoomError::AlreadyPublished)?;
        let msg = sdp::parse(&jsep.sdp).map_err(|e| RoomError::InvalidSdp(e.to_string()))?;
        // An ICE restart (janus.js `iceRestart`): new credentials in the
        // offer. 1.22's webrtcbin applies them to its ICE agent and keeps
        // the selected pair and its own credentials (it has no restart), so
        // media goes on and new candidates are checked as they come.
        let previous = peer
            .webrtcbin
            .property::<Option<gst_webrtc::WebRTCSessionDescription>>("current-remote-description")
            .and_then(|d| sdp::ice_credentials(d.sdp()));
        if let (Some(old), Some(new)) = (previous, sdp::ice_credentials(&msg))
            && old != new
        {
            info!(handle_id = %handle, ufrag = %new.0,
                  "publisher restarts ICE: its new credentials are applied; the gateway keeps its own (GStreamer 1.22 webrtcbin has no ICE restart)");
        }
        let offered = sdp::offered_streams(&msg, &self.cfg.audiocodec, &self.cfg.videocodec);
        let existing = (0u32..)
            .take_while(|i| peer.transceiver(*i).is_some())
            .count() as u32;
        if (offered.len() as u32) < existing {
            return Err(RoomError::InvalidSdp(
                "a renegotiation offer must keep every m-line of the last one".into(),
            ));
        }
        // A new m-line the room cannot take: 437, and nothing changes.
        if let Some(bad) = offered
            .iter()
            .find(|s| s.mindex >= existing && s.sending && s.choice.is_none())
        {
            return Err(RoomError::InvalidSdp(format!(
                "m-line {} (mid {}) has no codec this room accepts",
                bad.mindex, bad.mid
            )));
        }
        // m-lines this offer ends (they sent, now they do not).
        let ending: Vec<u32> = publication
            .streams
            .iter()
            .map(|st| st.mindex)
            .filter(|m| !offered.iter().any(|s| s.mindex == *m && s.sending))
            .collect();
        info!(handle_id = %handle, existing, offered = offered.len(), ending = ?ending, "publisher renegotiates");
        // 1.22's webrtcbin stops every stream of the PeerConnection when an
        // m-line it receives turns inactive. So webrtcbin is shown the
        // ended m-lines as still sending (it answers recvonly and keeps
        // its pads; the browser sends nothing there), and the answer is
        // corrected to `inactive` before it goes back.
        let sdp_text = sdp::with_direction(&jsep.sdp, &ending, "sendonly");
        let (task_peer, task_offered, tx) = (peer.clone(), offered.clone(), self.ev_tx.clone());
        tokio::spawn(async move {
            let result = publish::answer_offer(&task_peer, &sdp_text, &task_offered, existing)
                .await
                .map(|(answer, levels)| {
                    (sdp::with_direction(&answer, &ending, "inactive"), levels)
                });
            let _ = tx.send(RoomEvent::PublisherAnswered { handle, result });
        });
        Ok(PendingPublish {
            h,
            params,
            offered,
            peer,
            renegotiation: true,
        })
    }

    /// The renegotiation is answered: streams that stopped sending go, new
    /// ones come, the room and the feed's subscribers hear of it.
    pub(super) fn apply_renegotiation(
        &mut self,
        h: HandleId,
        params: &PublishParams,
        offered: &[sdp::OfferedStream],
        audio_level_ids: &[(u32, Option<u8>)],
        answer: String,
    ) -> Result<Published, RoomError> {
        let handle = h.key();
        let existing: Vec<u32> = self
            .participants
            .get(&handle)
            .and_then(|p| p.publication.as_ref())
            .map(|pb| pb.streams.iter().map(|s| s.mindex).collect())
            .ok_or(RoomError::NotJoined)?;
        // Gone: m-lines that no longer send (track removed or replaced by
        // an inactive one).
        let gone: Vec<u32> = existing
            .iter()
            .copied()
            .filter(|m| {
                !offered
                    .iter()
                    .any(|s| s.mindex == *m && s.sending && s.choice.is_some())
            })
            .collect();
        let mut new_streams = Vec::new();
        for s in offered
            .iter()
            .filter(|s| s.sending && !existing.contains(&s.mindex))
        {
            let Some(choice) = s.choice else { continue };
            new_streams.push(self.new_pub_stream(handle, params, s, choice, audio_level_ids)?);
        }
        let added: Vec<usize> = {
            let Some(pb) = self
                .participants
                .get_mut(&handle)
                .and_then(|p| p.publication.as_mut())
            else {
                return Err(RoomError::NotJoined);
            };
            let recorded_before = recorded_mlines(pb);
            let mixed_before = mixed_mlines(pb);
            let mut retired = Vec::new();
            pb.streams.retain(|s| {
                let keep = !gone.contains(&s.mindex);
                if !keep {
                    retired.push(s.tee.clone());
                    retired.extend(s.layers.iter().map(|l| l.tee.clone()));
                }
                keep
            });
            let first_new = pb.streams.len();
            pb.streams.extend(new_streams);
            pb.dormant.extend(retired.iter().cloned());
            let added = (first_new..pb.streams.len()).collect();
            let recorded_changed = recorded_mlines(pb) != recorded_before;
            let mixed_now = mixed_mlines(pb);
            let (mix_inputs, video_layers) = mix_sources(pb);
            for tee in &retired {
                // Lower layers and caches stop mattering; the tee discards.
                self.drop_from_subscribers(handle, Some(tee));
            }
            // The recording follows: the file so far is finalized (it stays
            // playable) and a new one starts with the streams there are now
            // (a track added to an audio-only call, a camera that ended).
            // The mix follows: the input of each kind whose stream changed
            // is rebuilt from the streams there are now (the other kind,
            // and its mix-minus if it listens, stay as they are).
            if mixed_now != mixed_before
                && let Some(key) = self.participants.get(&handle).map(|p| p.id.to_string())
                && let Some(m) = self.mixer.as_mut()
            {
                info!(handle_id = %handle, before = ?mixed_before, now = ?mixed_now,
                      "mixed streams changed: the publisher's mix inputs follow");
                if mixed_now[0] != mixed_before[0] {
                    m.remove_publisher_video(&self.pipeline, handle);
                }
                if mixed_now[1] != mixed_before[1] {
                    m.remove_publisher_audio(&self.pipeline, handle);
                }
                if let Err(e) = m.add_publisher(
                    &self.pipeline,
                    handle,
                    key,
                    &mix_inputs,
                    &video_layers,
                    &self.ev_tx,
                ) {
                    warn!(handle_id = %handle, error = %e, "cannot mix the renegotiated publisher");
                }
            }
            if recorded_changed && self.recordings.by_publisher.contains_key(&handle) {
                info!(handle_id = %handle, "recorded streams changed: the recording goes on in a new file");
                self.stop_publisher_recording(handle);
                self.start_publisher_recording(handle, None);
            }
            added
        };
        info!(handle_id = %handle, removed = ?gone, added = added.len(), "publisher renegotiated");
        self.announce(handle);
        self.add_streams_to_whole_feed_subscribers(handle, &added);
        let pb = self
            .participants
            .get(&handle)
            .and_then(|p| p.publication.as_ref())
            .ok_or(RoomError::NotJoined)?;
        let first = |k| pb.streams.iter().find(|s| s.kind == k).map(|s| s.codec);
        Ok(Published {
            streams: Self::published_streams(pb),
            audio_codec: first(MediaKind::Audio),
            video_codec: first(MediaKind::Video),
            answer,
        })
    }

    /// New streams (indexes into the feed's streams) reach the subscribers
    /// that took the whole feed, with a new offer each (`updated`).
    fn add_streams_to_whole_feed_subscribers(&mut self, feed_handle: PeerKey, added: &[usize]) {
        if added.is_empty() {
            return;
        }
        let targets: Vec<PeerKey> = self
            .subscribers
            .iter()
            .filter(|(sh, s)| {
                s.whole_feeds.contains(&feed_handle)
                    && s.stable
                    && !self.negotiations.offers.contains_key(sh)
            })
            .map(|(sh, _)| *sh)
            .collect();
        for sh in targets {
            let Some(mut sub) = self.subscribers.remove(&sh) else {
                continue;
            };
            let mut ok = true;
            for &idx in added {
                if let Err(e) = self.add_stream(&mut sub, feed_handle, idx, LayerRequest::default())
                {
                    warn!(handle_id = %sh, error = %e, "cannot add a new stream to a subscriber");
                    ok = false;
                }
            }
            self.subscribers.insert(sh, sub);
            if ok {
                self.make_offer(sh, OfferFor::Notice);
            }
        }
    }
}

/// The m-lines a publisher's recording takes (see `recorded_streams`).
fn recorded_mlines(pb: &Publication) -> Vec<u32> {
    Room::recorded_streams(pb)
        .iter()
        .map(|s| s.mindex)
        .collect()
}

/// The m-lines the mix takes from a publisher: its first video and first
/// audio stream (see `graph::mcu::Mixer::add_publisher`).
fn mixed_mlines(pb: &Publication) -> [Option<u32>; 2] {
    let first = |k| pb.streams.iter().find(|s| s.kind == k).map(|s| s.mindex);
    [first(MediaKind::Video), first(MediaKind::Audio)]
}

/// What the mix takes from a publisher: (kind, codec, m-line, tee) per
/// stream, and its first video stream's simulcast layer tees.
pub(super) fn mix_sources(
    pb: &Publication,
) -> (
    Vec<(MediaKind, Codec, u32, gst::Element)>,
    Vec<gst::Element>,
) {
    let inputs = pb
        .streams
        .iter()
        .map(|s| (s.kind, s.codec, s.mindex, s.tee.clone()))
        .collect();
    let layers = pb
        .streams
        .iter()
        .find(|s| s.kind == MediaKind::Video)
        .map(|s| s.layers.iter().map(|l| l.tee.clone()).collect())
        .unwrap_or_default();
    (inputs, layers)
}

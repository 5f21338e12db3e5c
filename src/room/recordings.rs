//! Recordings of publishers and of the mix: when they start (with the
//! call, held until the sender reports give lip-sync), keyframes for them,
//! stopping and finalizing.

use super::*;

/// The room's recording files (restreams are [`super::egress::Egresses`]).
#[derive(Default)]
pub(super) struct Recordings {
    /// Running or finalizing, by id.
    pub(super) by_id: HashMap<RecordingId, record::Recorder>,
    /// Publisher handle → its recording.
    pub(super) by_publisher: HashMap<PeerKey, RecordingId>,
    /// The mix's recording.
    pub(super) mix: Option<RecordingId>,
    /// Publishers to record once connected: handle → `filename`.
    pub(super) pending: HashMap<PeerKey, Option<String>>,
}

impl Room {
    /// Whether one more recording may start (`[limits] recordings`, counted
    /// over every room of the process).
    pub(super) fn recording_slot(&self) -> Result<(), RoomError> {
        let max = self.ctx.max_recordings;
        if max > 0 && self.registry().running.len() >= max {
            return Err(RoomError::TooManyRecordings(max));
        }
        Ok(())
    }

    /// The room's recording directory: `rec_dir`, else the gateway's.
    pub(super) fn rec_dir(&self) -> PathBuf {
        self.cfg
            .rec_dir
            .as_ref()
            .map(PathBuf::from)
            .unwrap_or_else(|| self.ctx.rec_dir.clone())
    }

    pub(super) fn h264_encoder(&self) -> Option<crate::media::encoder::Selected> {
        self.ctx
            .encoders
            .get()
            .and_then(|l| l.iter().find(|s| s.codec == Codec::H264).cloned())
    }

    /// Starts recording a publisher's streams (a failure is logged and the
    /// call goes on without a recording).
    pub(super) fn start_publisher_recording(&mut self, handle: PeerKey, filename: Option<&str>) {
        if self.recordings.by_publisher.contains_key(&handle) {
            return;
        }
        if let Err(e) = self.recording_slot() {
            warn!(handle_id = %handle, error = %e, "publisher not recorded");
            return;
        }
        let Some(p) = self.participants.get(&handle) else {
            return;
        };
        let Some(publication) = &p.publication else {
            return;
        };
        let room = self.cfg.room.to_string();
        let feed = p.id.to_string();
        let streams = Self::recorded_streams(publication);
        let codecs: Vec<Codec> = streams.iter().map(|s| s.codec).collect();
        let format = self.ctx.recording.choose(self.cfg.record_webm, &codecs);
        let Some(path) = rec_files::file_path(
            &self.rec_dir(),
            filename,
            &room,
            Some(&feed),
            &format.extension,
            record::now_ms(),
        ) else {
            return;
        };
        let offsets = Self::sync_offsets_of(publication, &streams);
        // A WebRTC publisher's sender reports come seconds after its media:
        // its recording holds the media until they do (`graph::hold`).
        // Ingests have no reports; their streams keep arrival times.
        let held = offsets.is_none() && publication.peer.is_some();
        let chosen: Vec<record::Source<'_>> = streams
            .iter()
            .enumerate()
            .map(|(i, s)| record::Source {
                kind: s.kind,
                codec: s.codec,
                tee: &s.tee,
                clock: Some(s.clock.clone()),
                offset: offsets.as_ref().map(|o| o[i]),
            })
            .collect();
        let encoder = self.h264_encoder();
        match record::Recorder::start(
            &self.pipeline,
            format,
            encoder.as_ref(),
            record::Target::File(path),
            self.cfg.room.clone(),
            Some(p.id.clone()),
            &chosen,
            &self.ev_tx,
            held,
        ) {
            Ok(r) => {
                info!(handle_id = %handle, file = %r.path.display(), held, "recording started");
                self.registry().running.insert(r.id, r.info().clone());
                if held {
                    self.post_later(
                        SR_WAIT_STEP,
                        RoomEvent::RecordingSync { id: r.id, round: 1 },
                    );
                }
                self.recordings.by_publisher.insert(handle, r.id);
                self.recordings.by_id.insert(r.id, r);
                self.keyframe_for_publisher(handle, true);
            }
            Err(e) => warn!(handle_id = %handle, error = %e, "cannot record publisher"),
        }
    }

    /// The streams a publisher's recording takes: the first video and the
    /// first audio stream not muted by moderation.
    pub(super) fn recorded_streams(publication: &Publication) -> Vec<&PubStream> {
        let mut out: Vec<&PubStream> = Vec::new();
        for s in publication.streams.iter().filter(|s| s.moderated.is_none()) {
            if !out.iter().any(|c| c.kind == s.kind) {
                out.push(s);
            }
        }
        out
    }

    /// Lip-sync offsets for `streams` from the publisher's sender reports.
    pub(super) fn sync_offsets_of(
        publication: &Publication,
        streams: &[&PubStream],
    ) -> Option<Vec<i64>> {
        let reports: Vec<(&timing::ArrivalClock, Option<timing::SenderReport>)> = streams
            .iter()
            .map(|s| {
                let sr = s
                    .ssrc
                    .zip(publication.peer.as_ref())
                    .and_then(|(ssrc, peer)| timing::sender_report(&peer.webrtcbin, ssrc));
                (s.clock.as_ref(), sr)
            })
            .collect();
        timing::sync_offsets(&reports)
    }

    pub(super) fn publisher_sync_offsets(&self, handle: PeerKey) -> Option<Vec<i64>> {
        let publication = self.participants.get(&handle)?.publication.as_ref()?;
        let streams = Self::recorded_streams(publication);
        Self::sync_offsets_of(publication, &streams)
    }

    /// A held recording's check for its publisher's sender reports: once
    /// they are in (or after `SR_WAIT_ROUNDS` checks), its offsets are
    /// frozen and the held media written.
    pub(super) fn recording_sync(&mut self, id: RecordingId, round: u32) {
        let Some(handle) = self
            .recordings
            .by_publisher
            .iter()
            .find(|(_, r)| **r == id)
            .map(|(h, _)| *h)
        else {
            return;
        };
        let offsets = self.publisher_sync_offsets(handle);
        let Some(r) = self.recordings.by_id.get_mut(&id) else {
            return;
        };
        if !r.held() {
            return;
        }
        if offsets.is_none() && round < SR_WAIT_ROUNDS {
            self.post_later(
                SR_WAIT_STEP,
                RoomEvent::RecordingSync {
                    id,
                    round: round + 1,
                },
            );
            return;
        }
        if offsets.is_none() {
            warn!(
                handle_id = %handle,
                "no sender reports: recording with lip-sync from arrival times"
            );
        }
        debug!(handle_id = %handle, waited_ms = (SR_WAIT_STEP * round).as_millis() as u64,
            synced = offsets.is_some(), "recording released");
        r.release(offsets.as_deref());
    }

    pub(super) fn stop_publisher_recording(&mut self, handle: PeerKey) {
        self.recordings.pending.remove(&handle);
        if let Some(id) = self.recordings.by_publisher.remove(&handle) {
            self.stop_recording(id);
        }
    }

    /// Starts recording the mix (its encoded video and the full audio mix:
    /// no second encode).
    pub(super) fn start_mix_recording(
        &mut self,
        filename: Option<&str>,
    ) -> Result<RecordingState, RoomError> {
        if let Some(id) = self.recordings.mix
            && let Some(r) = self.recordings.by_id.get(&id)
        {
            return Ok(r.state());
        }
        let Some(vcodec) = self.mixer.as_ref().map(|m| m.video_format().0) else {
            return Err(RoomError::NotMixing("record_mix"));
        };
        self.recording_slot()?;
        let room = self.cfg.room.to_string();
        let rec_dir = self.rec_dir();
        let path = rec_files::file_path(
            &rec_dir,
            filename,
            &room,
            None,
            &self
                .ctx
                .recording
                .choose(self.cfg.record_webm, &[vcodec, Codec::Opus])
                .extension,
            record::now_ms(),
        )
        .ok_or_else(|| RoomError::invalid("filename", "a relative name inside rec_dir"))?;
        let Some(m) = self.mixer.as_mut() else {
            return Err(RoomError::NotMixing("record_mix"));
        };
        let video = m.video_tee().clone();
        let (audio, _) = m
            .audio_tee(&self.pipeline, MixKey::All)
            .map_err(|e| RoomError::graph("mix audio", e))?;
        let sources = [
            // The mix's timestamps come from its aggregators: no jitter.
            record::Source {
                kind: MediaKind::Video,
                codec: vcodec,
                tee: &video,
                clock: None,
                offset: None,
            },
            record::Source {
                kind: MediaKind::Audio,
                codec: Codec::Opus,
                tee: &audio,
                clock: None,
                offset: None,
            },
        ];
        let encoder = self.h264_encoder();
        let format = self
            .ctx
            .recording
            .choose(self.cfg.record_webm, &[vcodec, Codec::Opus]);
        let r = record::Recorder::start(
            &self.pipeline,
            format,
            encoder.as_ref(),
            record::Target::File(path),
            self.cfg.room.clone(),
            None,
            &sources,
            &self.ev_tx,
            false,
        )?;
        info!(file = %r.path.display(), "mix recording started");
        self.registry().running.insert(r.id, r.info().clone());
        let reply = r.state();
        self.recordings.mix = Some(r.id);
        self.recordings.by_id.insert(r.id, r);
        if let Some(m) = &self.mixer {
            m.request_keyframe();
        }
        Ok(reply)
    }

    /// A recording needs a keyframe from its source `after` from now.
    pub(super) fn recording_keyframe(&mut self, id: RecordingId, after: Duration) {
        let publisher = if self.recordings.mix == Some(id) {
            MIX_HANDLE
        } else if let Some((h, _)) = self.recordings.by_publisher.iter().find(|(_, r)| **r == id) {
            *h
        } else if let Some(e) = self
            .egress
            .of_branch(id)
            .and_then(|e| self.egress.by_id.get(&e))
        {
            e.handle
        } else {
            return;
        };
        let mindex = self
            .participants
            .get(&publisher)
            .and_then(|p| p.publication.as_ref())
            .and_then(|p| p.streams.iter().find(|s| s.kind == MediaKind::Video))
            .map_or(0, |s| s.mindex);
        debug!(
            handle_id = %publisher,
            after_ms = after.as_millis() as u64,
            "recording wants a keyframe"
        );
        self.post_later(
            after,
            RoomEvent::KeyframeRequest {
                publisher_handle: publisher,
                mindex,
                force: true,
            },
        );
    }

    pub(super) fn stop_mix_recording(&mut self) {
        if let Some(id) = self.recordings.mix.take() {
            self.stop_recording(id);
        }
    }

    /// Sends EOS into a recording; it is removed when the file is final
    /// ([`RoomEvent::RecordingDone`]), or after [`record::FINALIZE_TIMEOUT`].
    pub(super) fn stop_recording(&mut self, id: RecordingId) {
        let Some(r) = self.recordings.by_id.get_mut(&id) else {
            return;
        };
        if r.stopping() {
            return;
        }
        debug!(file = %r.path.display(), "recording stopping");
        r.stop();
        self.post_later(record::FINALIZE_TIMEOUT, RoomEvent::RecordingDone { id });
    }

    /// A recording's element failed (a full disk, say): the recording
    /// stops, and the room's participants are told which one and why.
    pub(super) fn recording_failed(&mut self, id: RecordingId, reason: String) {
        let Some(r) = self.recordings.by_id.get(&id) else {
            return;
        };
        if r.stopping() {
            // Finalizing hit the error again: the timeout retires it.
            return;
        }
        let file = r.path.display().to_string();
        let publisher = self
            .recordings
            .by_publisher
            .iter()
            .find(|(_, r)| **r == id)
            .map(|(h, _)| *h);
        warn!(handle_id = ?publisher, file = %file, reason = %reason, "recording failed");
        self.recordings.by_publisher.retain(|_, r| *r != id);
        if self.recordings.mix == Some(id) {
            self.recordings.mix = None;
        }
        self.stop_recording(id);
        let feed = publisher.and_then(|h| self.participants.get(&h).map(|p| p.id.clone()));
        for (hid, p) in &self.participants {
            self.notify(
                p.h,
                Notice::RecordingFailed {
                    id: feed.clone(),
                    file: file.clone(),
                    reason: reason.clone(),
                    yours: Some(*hid) == publisher,
                },
            );
        }
    }

    /// A recording's file is final (or its time is up): remove its branch
    /// and list it.
    pub(super) fn recording_done(&mut self, id: RecordingId) {
        if self.egress.owns(id) {
            // EOS: a stopped restream is done; a live one lost its source.
            self.egress_branch_ended(id, "end of stream");
            return;
        }
        let Some(r) = self.recordings.by_id.remove(&id) else {
            return;
        };
        if !r.stopping() {
            // EOS from upstream without a stop (cannot happen in a live
            // room, but then the recording is over anyway).
            self.recordings.by_publisher.retain(|_, v| *v != id);
            if self.recordings.mix == Some(id) {
                self.recordings.mix = None;
            }
        }
        let info = r.finish(&self.pipeline);
        info!(file = %info.path.display(), duration_ms = info.duration_ms, "recording finished");
        let mut list = self.registry();
        list.running.remove(&id);
        list.finished.push(info);
    }

    /// The process's recording list.
    fn registry(&self) -> std::sync::MutexGuard<'_, record::RecordingList> {
        self.ctx
            .recordings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// `enable_recording`: the room-wide `record` flag, applied to every
    /// current publisher.
    pub(super) fn enable_recording(
        &mut self,
        secret: Option<&str>,
        record: bool,
    ) -> Result<(), RoomError> {
        self.cfg.check_secret(secret)?;
        if record && !self.cfg.record {
            self.recording_slot()?;
        }
        self.cfg.record = record;
        let publishers: Vec<PeerKey> = self
            .participants
            .iter()
            .filter(|(_, p)| p.publication.is_some())
            .map(|(h, _)| *h)
            .collect();
        for h in publishers {
            if record {
                self.start_publisher_recording(h, None);
            } else {
                self.stop_publisher_recording(h);
            }
        }
        if self.mixer.is_some() {
            if record {
                if let Err(e) = self.start_mix_recording(None) {
                    warn!(error = %e, "cannot record the mix");
                }
            } else {
                self.stop_mix_recording();
            }
        }
        Ok(())
    }

    /// Stops every recording and restream and waits (bounded) until their
    /// files are final and their servers have had their end of stream.
    pub(super) async fn finalize_recordings(
        &mut self,
        ev_rx: &mut mpsc::UnboundedReceiver<RoomEvent>,
    ) {
        let ids: Vec<RecordingId> = self.recordings.by_id.keys().copied().collect();
        for id in ids {
            self.stop_recording(id);
        }
        self.recordings.by_publisher.clear();
        self.recordings.mix = None;
        // Restreams end too: their servers get a clean end of stream.
        self.egress.end_all();
        let deadline = tokio::time::Instant::now() + record::FINALIZE_TIMEOUT;
        while !self.recordings.by_id.is_empty() || !self.egress.ending.is_empty() {
            match tokio::time::timeout_at(deadline, ev_rx.recv()).await {
                Ok(Some(RoomEvent::RecordingDone { id })) => self.recording_done(id),
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
        let left: Vec<RecordingId> = self.recordings.by_id.keys().copied().collect();
        for id in left {
            self.recording_done(id);
        }
        for (_, branch) in self.egress.ending.drain() {
            let _ = branch.finish(&self.pipeline);
        }
    }
}

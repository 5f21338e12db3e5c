//! Talking detection, speaker switching of the mix, and moderation.

use super::*;

/// The room's speaker switching.
#[derive(Default)]
pub(super) struct Speech {
    /// When the speaker layout last switched.
    pub(super) last_switch: Option<Instant>,
}

impl Room {
    /// One audio level measurement of a publisher (a packet's worth), in dBov.
    pub(super) fn audio_level(&mut self, handle: PeerKey, dbov: u8) {
        let Some(p) = self.participants.get_mut(&handle) else {
            return;
        };
        if let Some(change) = p.talk.push(dbov) {
            self.talk_changed(handle, change);
        }
    }

    /// Tells the room (with `audiolevel_event`) and steers the speaker layout.
    pub(super) fn talk_changed(&mut self, handle: PeerKey, change: TalkChange) {
        let Some(p) = self.participants.get(&handle) else {
            return;
        };
        let mid = p
            .publication
            .as_ref()
            .and_then(|pb| pb.streams.iter().find(|s| s.kind == MediaKind::Audio))
            .map(|s| s.mid.clone());
        let key = p.id.to_string();
        debug!(
            handle_id = %handle,
            talking = change.talking,
            avg_dbov = change.average_dbov,
            "talking changed"
        );
        if self.cfg.audiolevel_event {
            let notice = Notice::Talking {
                id: p.id.clone(),
                mid,
                talking: change.talking,
                average_dbov: change.average_dbov,
            };
            self.broadcast(notice, None);
        }
        if change.talking
            && let Some(m) = self.mixer.as_mut()
        {
            let now = Instant::now();
            if self
                .speech
                .last_switch
                .is_none_or(|t| now.duration_since(t) >= SPEAKER_HOLD)
            {
                m.set_speaker(Some(key));
                self.speech.last_switch = Some(now);
            }
        }
    }

    /// Stops or resumes forwarding one publisher stream: no subscriber (and,
    /// in MCU rooms, not the mix) gets it while muted. The publisher and the
    /// room hear `{"videoroom":"event","moderation":"muted"|"unmuted","id","mid"}`.
    pub(super) fn moderate(
        &mut self,
        secret: Option<&str>,
        id: &Id,
        mid: &str,
        mute: bool,
    ) -> Result<(), RoomError> {
        self.cfg.check_secret(secret)?;
        let Some((&handle, p)) = self.participants.iter_mut().find(|(_, p)| &p.id == id) else {
            return Err(RoomError::NoSuchFeed(id.to_string()));
        };
        let stream = p
            .publication
            .as_mut()
            .and_then(|pb| pb.streams.iter_mut().find(|s| s.mid == mid))
            .ok_or_else(|| RoomError::NoSuchFeed(format!("{id} mid {mid}")))?;
        let kind = stream.kind;
        if let Some(sink) = stream.tee.static_pad("sink") {
            sfu::set_dropping(&sink, &mut stream.moderated, mute);
        }
        if let Some(cache) = &stream.gop {
            cache.set_paused(mute);
        }
        // Simulcast: every layer below the top one too (the top one is `tee`).
        let top = stream.tee.clone();
        for layer in stream.layers.iter_mut().filter(|l| l.tee != top) {
            if let Some(sink) = layer.tee.static_pad("sink") {
                sfu::set_dropping(&sink, &mut layer.moderated, mute);
            }
            if let Some(cache) = &layer.gop {
                cache.set_paused(mute);
            }
        }
        if let Some(m) = self.mixer.as_mut()
            && let Err(e) = m.set_muted(&self.pipeline, handle, kind, mute)
        {
            warn!(handle_id = %handle, error = %e, "cannot change the mix");
        }
        if !mute && kind == MediaKind::Video {
            self.keyframe_for_publisher(handle, true);
        }
        info!(handle_id = %handle, id = %id, mid, mute, "moderated");
        let notice = Notice::Moderated {
            id: id.clone(),
            mid: mid.to_owned(),
            muted: mute,
        };
        self.broadcast(notice, None);
        self.announce(handle);
        Ok(())
    }
}

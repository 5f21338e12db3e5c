//! Keyframe requests (PLI/FIR) merged per publisher stream and for the mix.

use super::*;

impl Room {
    /// Asks the publisher for a keyframe on a stream, at most once per
    /// `keyframe_interval` (subscribers' PLI/FIR are merged).
    pub(super) fn keyframe(&mut self, publisher: PeerKey, mindex: u32, force: bool) {
        let interval = self.ctx.keyframe_interval;
        if publisher == MIX_HANDLE {
            let now = Instant::now();
            if !force
                && self
                    .last_mix_keyframe
                    .is_some_and(|t| now.duration_since(t) < interval)
            {
                return;
            }
            if self.mixer.as_ref().is_some_and(Mixer::request_keyframe) {
                self.last_mix_keyframe = Some(now);
            }
            return;
        }
        let Some(s) = self
            .participants
            .get_mut(&publisher)
            .and_then(|p| p.publication.as_mut())
            .and_then(|p| p.streams.iter_mut().find(|s| s.mindex == mindex))
        else {
            return;
        };
        let now = Instant::now();
        if !force
            && s.last_keyframe_request
                .is_some_and(|t| now.duration_since(t) < interval)
        {
            return;
        }
        if sfu::request_keyframe(&s.tee) {
            s.last_keyframe_request = Some(now);
            debug!(handle_id = %publisher, mindex, "keyframe requested");
        }
    }

    pub(super) fn keyframe_for_publisher(&mut self, publisher: PeerKey, force: bool) {
        let mindexes: Vec<u32> = self
            .participants
            .get(&publisher)
            .and_then(|p| p.publication.as_ref())
            .map(|p| {
                p.streams
                    .iter()
                    .filter(|s| s.kind == MediaKind::Video)
                    .map(|s| s.mindex)
                    .collect()
            })
            .unwrap_or_default();
        for m in mindexes {
            self.keyframe(publisher, m, force);
        }
    }

    /// A new or resumed subscriber needs a picture now: H.264 decoders wait for
    /// an IDR, and nothing else on the path asks for one. Streams in
    /// `replayed` (tees whose keyframe cache was just replayed to this
    /// subscriber's new branch) need no request.
    pub(super) fn keyframes_for_subscriber(&mut self, handle: PeerKey, replayed: &[gst::Element]) {
        let Some(sub) = self.subscribers.get(&handle) else {
            return;
        };
        let cached = |st: &subscribe::SubStream| replayed.contains(&st.tee);
        let targets: Vec<(PeerKey, u32)> = sub
            .streams
            .iter()
            .filter(|st| st.kind == MediaKind::Video && st.tee_pad.is_some() && !cached(st))
            .map(|st| (st.feed_handle, st.publisher_mindex))
            .collect();
        for (fh, m) in targets {
            self.keyframe(fh, m, true);
        }
    }
}

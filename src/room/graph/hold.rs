//! A recording's start, held until lip-sync is known.
//!
//! A publisher's recording is stamped from RTP timestamps with one frozen
//! offset per stream ([`super::timing`]). The right offsets come from the
//! publisher's RTCP sender reports, which arrive seconds after the media
//! (GStreamer senders send the first one 1.25–3.75 s in, browsers sooner).
//! Waiting for them before starting the branch lost those seconds from
//! every file started with the call (a room created with `record: true`).
//!
//! Instead the branch starts at once and its queues are blocked (a
//! `BLOCK` probe on each queue's source pad, so the data waits in the
//! queue, up to [`HOLD_TIME`]). When the reports arrive, or the wait ends
//! without them, [`Stamp::freeze`] fixes each stream's offset and the
//! blocks are removed: the held media is stamped with the same offsets as
//! what follows, so the file starts at the recording's first keyframe and
//! is in sync from its first frame.
//!
//! The stamp is applied on the fragment's sink pad, after the block: a
//! blocking probe runs the pad's other probes before it waits, so a stamp
//! on the queue's own pad would run too early.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use gst::prelude::*;

use super::timing::ArrivalClock;

/// The most media a held recording keeps, stream time; beyond it the
/// oldest is dropped (the queues are leaky). Above the room's wait for
/// sender reports, 5 s.
pub const HOLD_TIME: Duration = Duration::from_secs(8);

/// One stream's timestamping for a recording: its arrival clock and the
/// offset (ns) frozen for it.
#[derive(Clone)]
pub struct Stamp {
    clock: Arc<ArrivalClock>,
    frozen: Arc<OnceLock<i64>>,
}

impl Stamp {
    /// A stamp on `clock`, frozen at `offset` when given; otherwise at the
    /// first [`Stamp::freeze`] or, failing that, at the first packet
    /// stamped (the stream's least-delayed arrival offset then).
    pub fn new(clock: Arc<ArrivalClock>, offset: Option<i64>) -> Stamp {
        let frozen = Arc::new(OnceLock::new());
        if let Some(o) = offset {
            let _ = frozen.set(o);
        }
        Stamp { clock, frozen }
    }

    /// Freezes the offset: `offset` (from the sender reports), else the
    /// clock's current least-delayed arrival offset. A frozen stamp stays
    /// as it is.
    pub fn freeze(&self, offset: Option<i64>) {
        if let Some(o) = offset.or_else(|| self.clock.offset()) {
            let _ = self.frozen.set(o);
        }
    }

    /// Restamps every buffer through `pad` (`media time + offset`), so the
    /// file's timeline is monotonic and free of network jitter.
    pub fn apply_on(&self, pad: &gst::Pad) {
        let s = self.clone();
        pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            let offset = match s.frozen.get() {
                Some(o) => *o,
                None => match s.clock.offset() {
                    Some(o) => *s.frozen.get_or_init(|| o),
                    None => return gst::PadProbeReturn::Ok,
                },
            };
            if let Some(buf) = info.buffer_mut() {
                let pts = buf
                    .map_readable()
                    .ok()
                    .and_then(|m| s.clock.pts(&m, offset));
                if let Some(pts) = pts {
                    buf.make_mut().set_pts(pts);
                }
            }
            gst::PadProbeReturn::Ok
        });
    }
}

/// The blocked queues of a held recording.
#[derive(Default)]
pub struct Hold {
    blocks: Vec<(gst::Element, gst::Pad, gst::PadProbeId)>,
}

impl Hold {
    /// Blocks `queue`'s output and lets it keep up to [`HOLD_TIME`].
    pub fn block(&mut self, queue: &gst::Element) {
        let Some(pad) = queue.static_pad("src") else {
            return;
        };
        queue.set_property("max-size-time", HOLD_TIME.as_nanos() as u64);
        let id = pad.add_probe(
            gst::PadProbeType::BLOCK | gst::PadProbeType::DATA_DOWNSTREAM,
            |_, _| gst::PadProbeReturn::Ok,
        );
        if let Some(id) = id {
            self.blocks.push((queue.clone(), pad, id));
        }
    }

    /// Whether any queue is still blocked.
    pub fn held(&self) -> bool {
        !self.blocks.is_empty()
    }

    /// Unblocks every queue and sets its limit back to `queue_time`.
    pub fn release(&mut self, queue_time: Duration) {
        for (queue, pad, id) in self.blocks.drain(..) {
            queue.set_property("max-size-time", queue_time.as_nanos() as u64);
            pad.remove_probe(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(ts: u32, pts_ms: u64) -> gst::Buffer {
        let mut b = vec![0x80, 96, 0, 1];
        b.extend(ts.to_be_bytes());
        b.extend([0, 0, 0, 1]);
        let mut buf = gst::Buffer::from_mut_slice(b);
        buf.get_mut()
            .expect("a new buffer is writable")
            .set_pts(gst::ClockTime::from_mseconds(pts_ms));
        buf
    }

    /// A held queue passes nothing until released; then everything it held
    /// comes out in order, stamped with the offset frozen at the release.
    #[test]
    fn held_media_waits_and_is_stamped_with_the_released_offset() {
        gst::init().unwrap();
        let mut h = gst_check::Harness::new("queue");
        h.set_src_caps_str("application/x-rtp,media=video,clock-rate=90000");
        let queue = h.element().unwrap();
        let clock = Arc::new(ArrivalClock::new(90_000));
        let stamp = Stamp::new(clock.clone(), None);
        let after = queue.static_pad("src").unwrap().peer().unwrap();
        stamp.apply_on(&after);
        let mut hold = Hold::default();
        hold.block(&queue);
        assert!(hold.held());
        // 33 ms frames arriving 1 s in, with up to 12 ms of jitter.
        for (i, jitter) in [12u64, 0, 7].iter().enumerate() {
            let b = packet(3000 * i as u32, 1000 + 33 * i as u64 + jitter);
            clock.observe(&b);
            h.push(b).unwrap();
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
        assert!(h.try_pull().is_none(), "a held queue let data through");
        stamp.freeze(Some(5_000_000_000));
        hold.release(Duration::from_secs(3));
        assert!(!hold.held());
        for i in 0..3u64 {
            let b = h.pull().unwrap();
            let want = 5_000_000_000 + i * 3000 * 1_000_000_000 / 90_000;
            assert_eq!(b.pts(), Some(gst::ClockTime::from_nseconds(want)));
        }
        assert_eq!(
            queue.property::<u64>("max-size-time"),
            3_000_000_000,
            "the queue's limit is back to the normal one"
        );
    }

    /// Without sender reports the release freezes the stream's own
    /// least-delayed arrival offset.
    #[test]
    fn a_release_without_reports_takes_the_least_delayed_arrival() {
        gst::init().unwrap();
        let clock = Arc::new(ArrivalClock::new(90_000));
        for (i, jitter) in [12u64, 0, 7].iter().enumerate() {
            clock.observe(&packet(3000 * i as u32, 1000 + 33 * i as u64 + jitter));
        }
        let stamp = Stamp::new(clock.clone(), None);
        stamp.freeze(None);
        assert_eq!(stamp.frozen.get().copied(), clock.offset());
        // Frozen once: a later freeze changes nothing.
        stamp.freeze(Some(1));
        assert_eq!(stamp.frozen.get().copied(), clock.offset());
    }
}

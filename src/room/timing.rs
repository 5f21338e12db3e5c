//! Jitter-free timing of a publisher's RTP for recordings.
//!
//! The jitter buffer stamps each packet with its arrival time (skew
//! corrected, and shifted by rtpbin's RTCP lip-sync), so timestamps carry
//! network jitter. A recording's audio encoder takes its timeline from the
//! first packet it sees, so that one packet's jitter shifted a whole file's
//! audio against its video by 20-60 ms, differently on every run.
//!
//! [`ArrivalClock`] watches a stream and keeps the smallest
//! `arrival − media time` over the last few seconds: the packets that were
//! least delayed. A recording freezes that offset when it starts and stamps
//! every packet `media time (from its RTP timestamp) + offset`, so both of a
//! publisher's streams sit on the same lip-synced timeline without jitter.

use std::sync::Mutex;

/// How long each of the two min-tracking windows lasts, ns of stream time.
const WINDOW_NS: i64 = 2_000_000_000;

#[derive(Default)]
struct State {
    /// Last RTP timestamp seen, raw and extended (wrap-around unrolled).
    last: Option<(u32, i64)>,
    /// Smallest `pts − media time` in the current and the previous window.
    cur_min: Option<i64>,
    prev_min: Option<i64>,
    window_start: i64,
}

/// Tracks one RTP stream's arrival-time mapping (see the module docs).
pub struct ArrivalClock {
    clock_rate: i64,
    state: Mutex<State>,
}

fn rtp_ts(data: &[u8]) -> Option<u32> {
    (data.len() >= 12 && data[0] >> 6 == 2)
        .then(|| u32::from_be_bytes([data[4], data[5], data[6], data[7]]))
}

impl ArrivalClock {
    /// A clock for a stream at `clock_rate` Hz.
    pub fn new(clock_rate: i32) -> Self {
        ArrivalClock {
            clock_rate: i64::from(clock_rate.max(1)),
            state: Mutex::default(),
        }
    }

    fn media_ns(&self, ext: i64) -> i64 {
        ext * 1_000_000_000 / self.clock_rate
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes one packet (an RTP buffer with its jitter-buffer PTS).
    pub fn observe(&self, buffer: &gst::BufferRef) {
        let Some(pts) = buffer.pts() else { return };
        let Ok(map) = buffer.map_readable() else {
            return;
        };
        let Some(ts) = rtp_ts(&map) else { return };
        let mut s = self.lock();
        let ext = match s.last {
            None => i64::from(ts),
            Some((raw, ext)) => ext + i64::from(ts.wrapping_sub(raw) as i32),
        };
        s.last = Some((ts, ext));
        let pts = pts.nseconds() as i64;
        let offset = pts - self.media_ns(ext);
        if pts - s.window_start > WINDOW_NS {
            s.prev_min = s.cur_min;
            s.cur_min = None;
            s.window_start = pts;
        }
        s.cur_min = Some(s.cur_min.map_or(offset, |m| m.min(offset)));
    }

    /// The current `arrival − media time` offset (ns), once packets came.
    pub fn offset(&self) -> Option<i64> {
        let s = self.lock();
        match (s.cur_min, s.prev_min) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The PTS for a packet with RTP timestamp `ts` under a frozen `offset`
    /// (the packet must have been observed: it is the latest one).
    pub fn pts(&self, data: &[u8], offset: i64) -> Option<gst::ClockTime> {
        let ts = rtp_ts(data)?;
        let s = self.lock();
        let (raw, ext) = s.last?;
        let ext = ext + i64::from(ts.wrapping_sub(raw) as i32);
        let pts = self.media_ns(ext) + offset;
        (pts >= 0).then(|| gst::ClockTime::from_nseconds(pts as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(ts: u32, pts_ms: u64) -> gst::Buffer {
        let mut b = vec![0x80, 111, 0, 1];
        b.extend(ts.to_be_bytes());
        b.extend([0, 0, 0, 1]);
        let mut buf = gst::Buffer::from_mut_slice(b);
        buf.get_mut()
            .unwrap()
            .set_pts(gst::ClockTime::from_mseconds(pts_ms));
        buf
    }

    #[test]
    fn keeps_the_least_delayed_mapping_across_wraparound() {
        gst::init().unwrap();
        let c = ArrivalClock::new(48_000);
        let base = u32::MAX - 960 * 2;
        // 20 ms packets arriving 1000 ms + jitter of 0..15 ms.
        for (i, jitter) in [15u64, 3, 9, 0, 12].iter().enumerate() {
            let ts = base.wrapping_add(960 * i as u32);
            c.observe(&packet(ts, 1000 + 20 * i as u64 + jitter));
        }
        let off = c.offset().unwrap();
        // The packet with no jitter defines it: packet 3 arrived at 1060 ms.
        let p = c
            .pts(
                &packet(base.wrapping_add(960 * 4), 0)
                    .map_readable()
                    .unwrap(),
                off,
            )
            .unwrap();
        assert_eq!(p.mseconds(), 1080);
    }
}

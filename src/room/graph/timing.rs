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
//! least delayed. A recording freezes an offset when it starts and stamps
//! every packet `media time (from its RTP timestamp) + offset`: no jitter.
//!
//! Lip-sync comes from the publisher's RTCP sender reports (RFC 3550 §6.4.1:
//! each pairs an NTP wall-clock time with an RTP timestamp of that stream).
//! With a report for every stream, [`sync_offsets`] puts all of them on the
//! sender's NTP timeline, shifted by one common offset, so what was captured
//! together is stamped together. Without reports yet, each stream keeps its
//! own least-delayed arrival offset (lip-sync then depends on arrival).

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

    /// The extended form of RTP timestamp `ts` (near the latest packet).
    fn extend(&self, ts: u32) -> Option<i64> {
        let s = self.lock();
        let (raw, ext) = s.last?;
        Some(ext + i64::from(ts.wrapping_sub(raw) as i32))
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

/// A sender report: NTP time (ns since 1900) and the RTP timestamp that
/// goes with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderReport {
    /// NTP wall-clock time, ns.
    pub ntp_ns: u64,
    /// The stream's RTP timestamp at that time.
    pub rtp: u32,
}

/// Converts an NTP 32.32 fixed-point timestamp (RFC 5905) to ns.
pub fn ntp_to_ns(ntp: u64) -> u64 {
    (ntp >> 32) * 1_000_000_000 + (((ntp & 0xffff_ffff) * 1_000_000_000) >> 32)
}

/// The latest sender report of `ssrc` as received by `webrtcbin` (its
/// internal rtpbin session 0, which carries every bundled stream).
pub fn sender_report(webrtcbin: &gst::Element, ssrc: u32) -> Option<SenderReport> {
    use gst::prelude::*;
    let rtpbin = webrtcbin.downcast_ref::<gst::Bin>()?.by_name("rtpbin")?;
    let session = rtpbin.emit_by_name::<Option<glib::Object>>("get-internal-session", &[&0u32])?;
    let source = session.emit_by_name::<Option<glib::Object>>("get-source-by-ssrc", &[&ssrc])?;
    let stats = source.property::<gst::Structure>("stats");
    if !stats.get::<bool>("have-sr").unwrap_or(false) {
        return None;
    }
    Some(SenderReport {
        ntp_ns: ntp_to_ns(stats.get::<u64>("sr-ntptime").ok()?),
        rtp: stats.get::<u32>("sr-rtptime").ok()?,
    })
}

/// Frozen offsets for a publisher's streams, one per `(clock, report)`:
/// every stream on the sender's NTP timeline plus one common shift (the
/// least-delayed arrival over all streams). `None` unless every stream has
/// packets and a sender report.
pub fn sync_offsets(streams: &[(&ArrivalClock, Option<SenderReport>)]) -> Option<Vec<i64>> {
    // For each stream, ntp(ext) − media(ext) is a constant c; its arrival
    // offset minus c is how late (in NTP terms) its least-delayed packet came.
    let mut cs = Vec::new();
    let mut shift: Option<i64> = None;
    for (clock, sr) in streams {
        let sr = (*sr)?;
        let sr_ext = clock.extend(sr.rtp)?;
        let c = sr.ntp_ns as i64 - clock.media_ns(sr_ext);
        let late = clock.offset()? - c;
        shift = Some(shift.map_or(late, |s| s.min(late)));
        cs.push(c);
    }
    let shift = shift?;
    Some(cs.into_iter().map(|c| c + shift).collect())
}

/// Wall-clock milliseconds since the Unix epoch (0 if the clock is before it).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
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

    #[test]
    fn sender_reports_align_streams_that_arrive_skewed() {
        gst::init().unwrap();
        // Audio (48 kHz) and video (90 kHz) captured together from t = 0,
        // video arriving 50 ms later than audio.
        let (a, v) = (ArrivalClock::new(48_000), ArrivalClock::new(90_000));
        for i in 0..10u64 {
            a.observe(&packet(1_000 + 960 * i as u32, 2_000 + 20 * i));
            v.observe(&packet(5_000 + 3_000 * i as u32, 2_050 + 33 * i + i / 3));
        }
        // Both reports describe t = 10 s on the sender's NTP clock.
        let base = 3_900_000_000u64 * 1_000_000_000;
        let sra = SenderReport {
            ntp_ns: base + 10_000_000_000,
            rtp: 1_000 + 48_000 * 10,
        };
        let srv = SenderReport {
            ntp_ns: base + 10_000_000_000,
            rtp: 5_000 + 90_000 * 10,
        };
        let off = sync_offsets(&[(&a, Some(sra)), (&v, Some(srv))]).unwrap();
        // The first audio and video packets (both captured at t = 0) get the same PTS.
        let pa = a.media_ns(a.extend(1_000).unwrap()) + off[0];
        let pv = v.media_ns(v.extend(5_000).unwrap()) + off[1];
        assert_eq!(pa, pv);
        // The common shift is the least-delayed arrival: audio's, at 2 s.
        assert_eq!(pa, 2_000_000_000);
        assert_eq!(sync_offsets(&[(&a, Some(sra)), (&v, None)]), None);
        assert_eq!(ntp_to_ns(3u64 << 32 | 0x8000_0000), 3_500_000_000);
    }
}

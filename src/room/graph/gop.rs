//! The keyframe cache of an ingest's video (Janus streaming's `bufferkf`):
//! the last group of pictures, as RTP, replayed to each new viewer before
//! the live packets.
//!
//! `rtspsrc` cannot ask a camera for a keyframe, so without it a viewer
//! joining a stream whose GOP is 4 s waits up to 4 s for a picture. The
//! cache holds the RTP packets from the latest keyframe on (the keyframe's
//! first packet clears it). A new viewer's tee pad gets them first, with
//! their sequence numbers as they were (the live packets follow on without
//! a gap) and their RTP timestamps packed into the last few ticks before
//! the first live packet: the decoder catches up at once and the live
//! packets keep their timing, so no delay builds up in the viewer's jitter
//! buffer.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use gst::prelude::*;

use crate::media::codec::Codec;

/// Most bytes a cache holds; a longer GOP stops caching until its next
/// keyframe.
const MAX_BYTES: usize = 8 << 20;

#[derive(Default)]
struct State {
    packets: Vec<gst::Buffer>,
    bytes: usize,
    /// RTP timestamp of the keyframe the cache starts with.
    keyframe_ts: Option<u32>,
    overflow: bool,
    /// Set while the stream is muted by a moderator: nothing is kept.
    paused: bool,
}

/// One video stream's cache.
pub struct GopCache {
    codec: Codec,
    state: Mutex<State>,
}

/// The RTP payload of `data` (header, CSRCs and extension skipped).
fn payload(data: &[u8]) -> Option<&[u8]> {
    data.get(crate::media::vp8::payload_offset(data)?..)
}

fn rtp_ts(data: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(data.get(4..8)?.try_into().ok()?))
}

/// Whether this RTP packet starts a keyframe: H.264 (RFC 6184) SPS, or the
/// first fragment of an IDR; VP8 (RFC 7741) the first packet of a frame
/// whose payload header says key frame.
pub fn starts_keyframe(codec: Codec, data: &[u8]) -> bool {
    let Some(p) = payload(data) else {
        return false;
    };
    match codec {
        Codec::H264 => match p.first().map(|b| b & 0x1f) {
            Some(7) | Some(5) => true,
            // STAP-A: any aggregated NAL unit (x264 puts an access unit
            // delimiter first, then SPS, PPS and, for small frames, the IDR).
            Some(24) => {
                let mut off = 1;
                while let Some(len) = p.get(off..off + 2) {
                    let len = u16::from_be_bytes([len[0], len[1]]) as usize;
                    if p.get(off + 2).is_some_and(|b| matches!(b & 0x1f, 5 | 7)) {
                        return true;
                    }
                    off += 2 + len;
                }
                false
            }
            // FU-A: start bit and IDR.
            Some(28) => p.get(1).is_some_and(|b| b & 0x80 != 0 && b & 0x1f == 5),
            _ => false,
        },
        Codec::Vp8 => {
            let Some(&d) = p.first() else { return false };
            // S bit and partition 0.
            if d & 0x10 == 0 || d & 0x07 != 0 {
                return false;
            }
            let mut off = 1;
            if d & 0x80 != 0 {
                let Some(&x) = p.get(1) else { return false };
                off = 2;
                if x & 0x80 != 0 {
                    // PictureID, 7 or 15 bits.
                    off += if p.get(off).is_some_and(|b| b & 0x80 != 0) {
                        2
                    } else {
                        1
                    };
                }
                if x & 0x40 != 0 {
                    off += 1;
                }
                if x & 0x30 != 0 {
                    off += 1;
                }
            }
            // VP8 payload header: P bit 0 is a key frame.
            p.get(off).is_some_and(|b| b & 0x01 == 0)
        }
        Codec::Opus => false,
    }
}

impl GopCache {
    /// A cache for a stream of `codec` (H.264 or VP8).
    pub fn new(codec: Codec) -> Arc<GopCache> {
        Arc::new(GopCache {
            codec,
            state: Mutex::default(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes one packet of the stream (in order).
    pub fn push(&self, buf: &gst::Buffer) {
        let Ok(map) = buf.map_readable() else { return };
        let ts = rtp_ts(&map);
        let key = starts_keyframe(self.codec, &map);
        drop(map);
        let mut s = self.lock();
        if s.paused {
            return;
        }
        if key && ts.is_some() && s.keyframe_ts != ts {
            s.packets.clear();
            s.bytes = 0;
            s.overflow = false;
            s.keyframe_ts = ts;
        }
        if s.keyframe_ts.is_none() || s.overflow {
            return;
        }
        s.bytes += buf.size();
        if s.bytes > MAX_BYTES {
            s.packets.clear();
            s.bytes = 0;
            s.overflow = true;
            return;
        }
        s.packets.push(buf.clone());
    }

    /// Whether the cache holds a keyframe (a new viewer gets a picture
    /// without asking the sender for one).
    pub fn has_keyframe(&self) -> bool {
        let s = self.lock();
        !s.paused && !s.overflow && !s.packets.is_empty()
    }

    /// Empties the cache and keeps it empty while `paused` (a moderated
    /// stream must not show a new viewer its last picture), or lets it fill
    /// again from the next keyframe.
    pub fn set_paused(&self, paused: bool) {
        let mut s = self.lock();
        *s = State {
            paused,
            ..State::default()
        };
    }

    /// Watches the stream entering `tee`.
    pub fn watch(self: &Arc<Self>, tee: &gst::Element) {
        let Some(pad) = tee.static_pad("sink") else {
            return;
        };
        let cache = self.clone();
        pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            if let Some(b) = info.buffer() {
                cache.push(&b.to_owned());
            }
            gst::PadProbeReturn::Ok
        });
    }

    /// Packets to replay before live packet `first` (a copy of the cache
    /// up to, not including, `first`), with their RTP timestamps packed
    /// just before `first`'s.
    pub fn replay_before(&self, first: &gst::BufferRef) -> Vec<gst::Buffer> {
        let cached: Vec<gst::Buffer> = {
            let s = self.lock();
            let end = s
                .packets
                .iter()
                .position(|b| b.as_ptr() == first.as_ptr())
                .unwrap_or(s.packets.len());
            s.packets[..end].to_vec()
        };
        let Some(live_ts) = first.map_readable().ok().and_then(|m| rtp_ts(&m)) else {
            return Vec::new();
        };
        // Frames (distinct timestamps) in order, each one tick apart,
        // ending one tick before the live packet.
        let mut frames: Vec<u32> = Vec::new();
        for b in &cached {
            if let Some(ts) = b.map_readable().ok().and_then(|m| rtp_ts(&m))
                && frames.last() != Some(&ts)
            {
                frames.push(ts);
            }
        }
        let n = frames.len() as u32;
        cached
            .into_iter()
            .filter_map(|mut b| {
                let ts = b.map_readable().ok().and_then(|m| rtp_ts(&m))?;
                let i = frames.iter().position(|f| *f == ts)? as u32;
                let new_ts = live_ts.wrapping_sub(n - i);
                let mut map = b.make_mut().map_writable().ok()?;
                map[4..8].copy_from_slice(&new_ts.to_be_bytes());
                drop(map);
                Some(b)
            })
            .collect()
    }

    /// Makes `tee_pad` (a new viewer's, not linked yet) send the cache
    /// ahead of its first live packet.
    pub fn replay_into(self: &Arc<Self>, tee_pad: &gst::Pad) {
        let cache = self.clone();
        let replaying = AtomicBool::new(false);
        tee_pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
            if replaying.swap(true, Ordering::Relaxed) {
                // Our own replayed packets pass.
                return gst::PadProbeReturn::Ok;
            }
            let Some(first) = info.buffer() else {
                return gst::PadProbeReturn::Remove;
            };
            let replay = cache.replay_before(first);
            tracing::debug!(
                packets = replay.len(),
                "keyframe cache replayed to a new viewer"
            );
            for b in replay {
                if pad.push(b).is_err() {
                    break;
                }
            }
            gst::PadProbeReturn::Remove
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rtp(ts: u32, payload: &[u8]) -> Vec<u8> {
        let mut v = vec![0x80, 96, 0, 1];
        v.extend(ts.to_be_bytes());
        v.extend([0, 0, 0, 1]);
        v.extend(payload);
        v
    }

    #[test]
    fn finds_keyframe_starts() {
        // H.264: SPS, STAP-A with SPS, FU-A IDR start, FU-A IDR middle, P slice.
        assert!(starts_keyframe(Codec::H264, &rtp(1, &[0x67, 0x42])));
        assert!(starts_keyframe(
            Codec::H264,
            &rtp(1, &[0x78, 0x00, 0x0a, 0x67])
        ));
        assert!(starts_keyframe(Codec::H264, &rtp(1, &[0x7c, 0x85])));
        // STAP-A: AUD (2 bytes), then SPS.
        assert!(starts_keyframe(
            Codec::H264,
            &rtp(1, &[0x78, 0x00, 0x02, 0x09, 0xf0, 0x00, 0x02, 0x67, 0x42])
        ));
        assert!(!starts_keyframe(
            Codec::H264,
            &rtp(1, &[0x78, 0x00, 0x02, 0x09, 0xf0, 0x00, 0x02, 0x41, 0x9a])
        ));
        assert!(!starts_keyframe(Codec::H264, &rtp(1, &[0x7c, 0x05])));
        assert!(!starts_keyframe(Codec::H264, &rtp(1, &[0x41, 0x9a])));
        // VP8: start of partition 0, key frame / inter frame.
        assert!(starts_keyframe(Codec::Vp8, &rtp(1, &[0x10, 0x00])));
        assert!(!starts_keyframe(Codec::Vp8, &rtp(1, &[0x10, 0x01])));
        // With X, I and a 15-bit picture id.
        assert!(starts_keyframe(
            Codec::Vp8,
            &rtp(1, &[0x90, 0x80, 0x81, 0x02, 0x00])
        ));
    }

    #[test]
    fn keeps_the_last_gop_and_packs_its_timestamps() {
        gst::init().unwrap();
        let c = GopCache::new(Codec::H264);
        let bufs: Vec<gst::Buffer> = [
            rtp(100, &[0x41]),
            rtp(3000, &[0x67]),
            rtp(3000, &[0x65]),
            rtp(6000, &[0x41]),
            rtp(9000, &[0x41]),
        ]
        .into_iter()
        .map(gst::Buffer::from_mut_slice)
        .collect();
        for b in &bufs {
            c.push(b);
        }
        // Live from the last packet: the keyframe (2 packets) and one P frame
        // come first, at 8998, 8998, 8999.
        let out = c.replay_before(&bufs[4]);
        let ts: Vec<u32> = out
            .iter()
            .map(|b| rtp_ts(&b.map_readable().unwrap()).unwrap())
            .collect();
        assert_eq!(ts, vec![8998, 8998, 8999]);
    }

    #[test]
    fn a_paused_cache_keeps_nothing_until_the_next_keyframe_after_resuming() {
        gst::init().unwrap();
        let c = GopCache::new(Codec::Vp8);
        let key = |ts| gst::Buffer::from_mut_slice(rtp(ts, &[0x10, 0x00]));
        let delta = |ts| gst::Buffer::from_mut_slice(rtp(ts, &[0x10, 0x01]));
        c.push(&key(1000));
        assert!(c.has_keyframe());
        c.set_paused(true);
        assert!(!c.has_keyframe(), "a moderated stream shows no old picture");
        c.push(&key(4000));
        assert!(!c.has_keyframe());
        c.set_paused(false);
        c.push(&delta(7000));
        assert!(!c.has_keyframe(), "a delta frame alone is no picture");
        c.push(&key(10_000));
        assert!(c.has_keyframe());
    }

    #[test]
    fn a_new_viewer_gets_the_cache_before_its_first_live_packet() {
        gst::init().unwrap();
        let cache = GopCache::new(Codec::Vp8);
        // VP8 payload descriptor 0x10 (S bit, partition 0), then the VP8
        // payload header: P bit 0 = keyframe, 1 = interframe.
        let key = gst::Buffer::from_mut_slice(rtp(1000, &[0x10, 0x00]));
        let delta = gst::Buffer::from_mut_slice(rtp(4000, &[0x10, 0x01]));
        cache.push(&key);
        cache.push(&delta);
        // The viewer's tee pad stands in as the src pad of an identity.
        let mut h = gst_check::Harness::new("identity");
        h.set_src_caps_str("application/x-rtp,media=video,encoding-name=VP8,payload=96");
        let src = h.element().and_then(|e| e.static_pad("src")).unwrap();
        cache.replay_into(&src);
        let live = gst::Buffer::from_mut_slice(rtp(10_000, &[0x10, 0x01]));
        assert_eq!(h.push(live), Ok(gst::FlowSuccess::Ok));
        let ts: Vec<u32> = (0..3)
            .map(|_| {
                let b = h.pull().expect("replayed or live packet");
                rtp_ts(&b.map_readable().unwrap()).unwrap()
            })
            .collect();
        // The keyframe and the delta, packed one tick apart just before the live packet.
        assert_eq!(ts, vec![9998, 9999, 10_000]);
        // Only once: the next live packet passes alone.
        assert_eq!(
            h.push(gst::Buffer::from_mut_slice(rtp(13_000, &[0x10, 0x01]))),
            Ok(gst::FlowSuccess::Ok)
        );
        let next = h.pull().unwrap();
        assert_eq!(rtp_ts(&next.map_readable().unwrap()), Some(13_000));
        assert!(h.try_pull().is_none());
    }
}

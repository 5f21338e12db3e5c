//! Streaming `switch` without renegotiation: a viewer's PeerConnection
//! stays in its mountpoint's room, and another mountpoint's media is
//! bridged in.
//!
//! ```text
//! source room:  tee ─► queue ─► appsink ──push──► appsrc ─► rewrite ─► guard ─► viewer webrtcbin  (viewer's room)
//! ```
//!
//! The rewrite keeps the stream the viewer negotiated: the SSRC it was
//! offered, sequence numbers and timestamps continuing from the last packet
//! it got (so SRTP and the browser's jitter buffer see one stream). The
//! source's keyframe cache (or a keyframe request) gives a picture at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use gst::prelude::*;
use tracing::info;

use super::Room;
use super::error::RoomError;
use crate::ids::{Id, MediaId, PeerKey};
use crate::media::codec::MediaKind;

/// Keeps `seq << 32 | ts` of the last RTP packet through `guard`.
pub fn track_last_rtp(guard: &gst::Element) -> Arc<AtomicU64> {
    let last = Arc::new(AtomicU64::new(u64::MAX));
    if let Some(pad) = guard.static_pad("sink") {
        let l = last.clone();
        pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            if let Some(m) = info.buffer().and_then(|b| b.map_readable().ok())
                && m.len() >= 12
            {
                let seq = u64::from(u16::from_be_bytes([m[2], m[3]]));
                let ts = u64::from(u32::from_be_bytes([m[4], m[5], m[6], m[7]]));
                l.store(seq << 32 | ts, Ordering::Relaxed);
            }
            gst::PadProbeReturn::Ok
        });
    }
    last
}

/// Rewrites the RTP leaving `pad` to SSRC `ssrc`, sequence numbers and
/// timestamps continuing from `last` (`seq << 32 | ts`; one frame/packet
/// of `step` ticks after it).
fn rewrite(pad: &gst::Pad, ssrc: Option<u32>, last: u64, step: u32) {
    let offsets = std::sync::Mutex::new(None::<(u16, u32)>);
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        let Some(buf) = info.buffer_mut() else {
            return gst::PadProbeReturn::Ok;
        };
        let Ok(mut m) = buf.make_mut().map_writable() else {
            return gst::PadProbeReturn::Ok;
        };
        if m.len() < 12 {
            return gst::PadProbeReturn::Ok;
        }
        let seq = u16::from_be_bytes([m[2], m[3]]);
        let ts = u32::from_be_bytes([m[4], m[5], m[6], m[7]]);
        let mut o = offsets.lock().unwrap_or_else(|e| e.into_inner());
        let (dseq, dts) = *o.get_or_insert_with(|| {
            if last == u64::MAX {
                (0, 0)
            } else {
                let (lseq, lts) = ((last >> 32) as u16, last as u32);
                (
                    lseq.wrapping_add(1).wrapping_sub(seq),
                    lts.wrapping_add(step).wrapping_sub(ts),
                )
            }
        });
        m[2..4].copy_from_slice(&seq.wrapping_add(dseq).to_be_bytes());
        m[4..8].copy_from_slice(&ts.wrapping_add(dts).to_be_bytes());
        if let Some(ssrc) = ssrc {
            m[8..12].copy_from_slice(&ssrc.to_be_bytes());
        }
        gst::PadProbeReturn::Ok
    });
}

impl Room {
    /// The viewer's side of a switch (see the module docs): each of the
    /// subscriber's streams leaves its tee (or its previous bridge) and is
    /// fed by a new `appsrc`.
    pub(super) fn bridge(
        &mut self,
        handle: PeerKey,
    ) -> Result<Vec<(MediaKind, gst_app::AppSrc)>, RoomError> {
        let pts: Vec<(PeerKey, u32, u8, Option<u32>)> = self
            .participants
            .iter()
            .filter_map(|(h, p)| Some((*h, p.publication.as_ref()?)))
            .flat_map(|(h, pb)| pb.streams.iter().map(move |s| (h, s.mindex, s.pt, s.ssrc)))
            .collect();
        let Some(sub) = self.subscribers.get_mut(&handle) else {
            return Err(RoomError::NotJoined);
        };
        let mut out = Vec::new();
        let mut retired = Vec::new();
        for st in sub.streams.iter_mut().filter(|st| st.active) {
            let Some(&(_, _, pt, ssrc)) = pts
                .iter()
                .find(|(h, m, ..)| *h == st.feed_handle && *m == st.publisher_mindex)
            else {
                continue;
            };
            let caps = gst::Caps::builder("application/x-rtp")
                .field("media", st.kind.as_str())
                .field("encoding-name", st.codec.encoding_name())
                .field("clock-rate", st.codec.clock_rate())
                .field("payload", i32::from(pt))
                .build();
            let src = gst_app::AppSrc::builder()
                .is_live(true)
                .format(gst::Format::Time)
                .do_timestamp(true)
                .caps(&caps)
                .build();
            let el: gst::Element = src.clone().upcast();
            self.pipeline
                .add(&el)
                .map_err(|e| RoomError::graph("switch bridge", e))?;
            // Off the old source first, then on the new one.
            match st.bridge.take() {
                Some(old) => {
                    if let Some(p) = old.static_pad("src")
                        && let Some(peer) = p.peer()
                    {
                        let _ = p.unlink(&peer);
                    }
                    retired.push(old);
                }
                None => {
                    st.detach();
                }
            }
            let step = if st.kind == MediaKind::Video {
                3_000
            } else {
                960
            };
            let src_pad = el
                .static_pad("src")
                .ok_or_else(|| RoomError::graph("switch bridge", "appsrc has no src pad"))?;
            let last = st
                .last_rtp
                .as_ref()
                .map_or(u64::MAX, |l| l.load(Ordering::Relaxed));
            rewrite(&src_pad, ssrc, last, step);
            let sink = st.guard.static_pad("sink").ok_or_else(|| {
                RoomError::graph("switch bridge", "the flow guard has no sink pad")
            })?;
            src_pad
                .link(&sink)
                .map_err(|e| RoomError::graph("switch bridge", e))?;
            el.sync_state_with_parent()
                .map_err(|e| RoomError::graph("switch bridge", e))?;
            st.bridge = Some(el);
            out.push((st.kind, src));
        }
        super::peer::retire(&self.pipeline, retired);
        info!(
            handle_id = %handle,
            streams = out.len(),
            "viewer bridged for a switch"
        );
        Ok(out)
    }

    /// The source's side of a switch: feed `feed` into `srcs`.
    pub(super) fn export(
        &mut self,
        feed: &Id,
        media: MediaId,
        srcs: Vec<(MediaKind, gst_app::AppSrc)>,
    ) -> Result<(), RoomError> {
        let handle = self
            .find_feed(feed)
            .map(|(h, _)| h)
            .ok_or_else(|| RoomError::NoSuchFeed(feed.to_string()))?;
        self.rtsp_attach(handle, media, srcs);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rtp(seq: u16, ts: u32, ssrc: u32) -> gst::Buffer {
        let mut b = vec![0x80, 96];
        b.extend(seq.to_be_bytes());
        b.extend(ts.to_be_bytes());
        b.extend(ssrc.to_be_bytes());
        b.push(0xaa);
        gst::Buffer::from_mut_slice(b)
    }

    fn fields(b: &gst::Buffer) -> (u16, u32, u32) {
        let m = b.map_readable().unwrap();
        (
            u16::from_be_bytes([m[2], m[3]]),
            u32::from_be_bytes([m[4], m[5], m[6], m[7]]),
            u32::from_be_bytes([m[8], m[9], m[10], m[11]]),
        )
    }

    #[test]
    fn switched_media_continues_the_viewers_stream() {
        gst::init().unwrap();
        // The viewer got seq 100, ts 5000 last; the new source is elsewhere.
        let mut seen = gst_check::Harness::new("identity");
        seen.set_src_caps_str("application/x-rtp,media=video,encoding-name=VP8,payload=96");
        let last = track_last_rtp(seen.element().as_ref().unwrap());
        assert_eq!(last.load(Ordering::Relaxed), u64::MAX, "nothing seen yet");
        assert!(seen.push(rtp(100, 5000, 1)).is_ok());
        assert_eq!(last.load(Ordering::Relaxed), 100 << 32 | 5000);

        let mut h = gst_check::Harness::new("identity");
        h.set_src_caps_str("application/x-rtp,media=video,encoding-name=VP8,payload=96");
        let src = h.element().and_then(|e| e.static_pad("src")).unwrap();
        rewrite(&src, Some(0xdead), last.load(Ordering::Relaxed), 3000);
        for (seq, ts) in [(7u16, 900_000u32), (8, 903_000), (65535, 906_000)] {
            assert!(h.push(rtp(seq, ts, 42)).is_ok());
        }
        let out: Vec<_> = (0..3).map(|_| fields(&h.pull().unwrap())).collect();
        assert_eq!(
            out,
            vec![
                (101, 8000, 0xdead),
                (102, 11_000, 0xdead),
                (93, 14_000, 0xdead)
            ],
            "one packet and one frame step after the last, in sequence (wrapping)"
        );
    }
}

//! Whether an ingest's H.264 can be passed through untouched (browsers
//! take constrained baseline without B-frames): its profile, read from its
//! caps, and B-frames, seen at run time when the caps do not tell.

use std::sync::atomic::{AtomicU64, Ordering};

use gst::prelude::*;

use crate::ids::PeerKey;

use super::peer::{RoomEvent, RoomEvents};

/// Packets of pass-through H.264 watched for B-frames (RTP: several GOPs).
const B_FRAME_WATCH: u32 = 5_000;

/// Posts [`RoomEvent::IngestBFrames`] once if the H.264 through `pad` has
/// B-frames: browsers stutter on them, so the ingest then transcodes. On
/// RTP (`rtp`), a packet whose RTP timestamp is older than the previous
/// one's; otherwise a presentation time older than the previous one.
pub(super) fn watch_for_b_frames(pad: &gst::Pad, rtp: bool, handle: PeerKey, events: &RoomEvents) {
    use std::sync::atomic::AtomicU32;
    let tx = events.clone();
    // The previous packet's time (`u64::MAX` before the first), and how many
    // were seen: B-frames show in the first GOPs if at all, so the probe
    // goes after `B_FRAME_WATCH` packets.
    let last = AtomicU64::new(u64::MAX);
    let seen = AtomicU32::new(0);
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        if seen.fetch_add(1, Ordering::Relaxed) >= B_FRAME_WATCH {
            return gst::PadProbeReturn::Remove;
        }
        let Some(b) = info.buffer() else {
            return gst::PadProbeReturn::Ok;
        };
        let now = if rtp {
            b.map_readable().ok().and_then(|m| {
                m.get(4..8)
                    .map(|t| u64::from(u32::from_be_bytes([t[0], t[1], t[2], t[3]])))
            })
        } else {
            b.pts().map(gst::ClockTime::nseconds)
        };
        let Some(now) = now else {
            return gst::PadProbeReturn::Ok;
        };
        let l = last.swap(now, Ordering::Relaxed);
        let back = l != u64::MAX
            && if rtp {
                // Wrapping 32-bit RTP time.
                ((now as u32).wrapping_sub(l as u32) as i32) < 0
            } else {
                now < l
            };
        if back {
            let _ = tx.send(RoomEvent::IngestBFrames { handle });
            return gst::PadProbeReturn::Remove;
        }
        gst::PadProbeReturn::Ok
    });
}

/// H.264 `profile_idc` from RTP caps (`profile-level-id`, else the SPS in
/// `sprop-parameter-sets`) or from demuxed caps (`codec_data`, an avcC
/// record: byte 1 is the profile).
pub(super) fn h264_profile(s: &gst::StructureRef) -> Option<u8> {
    if let Ok(pli) = s.get::<String>("profile-level-id") {
        return u8::from_str_radix(pli.get(0..2)?, 16).ok();
    }
    if let Ok(sprop) = s.get::<String>("sprop-parameter-sets") {
        // Base64 NAL units, the SPS first: byte 1 is profile_idc.
        let sps = glib::base64_decode(sprop.split(',').next()?);
        if sps.first().map(|b| b & 0x1f) == Some(7) {
            return sps.get(1).copied();
        }
    }
    if let Ok(cd) = s.get::<gst::Buffer>("codec_data") {
        let map = cd.map_readable().ok()?;
        return map.get(1).copied();
    }
    None
}

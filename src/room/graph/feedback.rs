//! A subscriber's receiver feedback, read from the RTCP its browser sends
//! (after SRTCP decryption, at the `webrtcbin`'s `rtpbin`): per media SSRC
//! the `fraction lost` of each report block (RFC 3550 §6.4.1-6.4.2), and
//! the REMB estimate (draft-alvestrand-rmcat-remb §2.2: PSFB, FMT 15,
//! "REMB"). Posted to the room task as [`RoomEvent::ReceiverFeedback`],
//! which drives the automatic simulcast layer ([`crate::room::auto_layer`]).

use gst::prelude::*;

use super::peer::{RoomEvent, RoomEvents};
use crate::ids::PeerKey;

/// What one compound RTCP packet reports.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Feedback {
    /// (media SSRC, fraction lost 0..=255) per report block.
    pub losses: Vec<(u32, u8)>,
    /// REMB: the receiver's estimated maximum bitrate, bps.
    pub remb_bps: Option<u64>,
}

/// Parses a compound RTCP packet; malformed parts end the parse (what came
/// before is kept).
pub fn parse(data: &[u8]) -> Feedback {
    let mut out = Feedback::default();
    let mut at = 0;
    while data.len() >= at + 4 {
        let h = &data[at..];
        if h[0] >> 6 != 2 {
            break;
        }
        let count = usize::from(h[0] & 0x1f);
        let pt = h[1];
        let len = (usize::from(u16::from_be_bytes([h[2], h[3]])) + 1) * 4;
        if h.len() < len {
            break;
        }
        let body = &h[..len];
        match pt {
            // SR: 24 bytes of sender info before the blocks; RR: 4 (SSRC).
            200 | 201 => {
                let first = if pt == 200 { 28 } else { 8 };
                for i in 0..count {
                    let b = first + i * 24;
                    let Some(block) = body.get(b..b + 24) else {
                        break;
                    };
                    let ssrc = u32::from_be_bytes([block[0], block[1], block[2], block[3]]);
                    out.losses.push((ssrc, block[4]));
                }
            }
            // PSFB, FMT 15 (application layer): REMB.
            206 if count == 15 => {
                if let Some(fci) = body.get(12..20)
                    && &fci[..4] == b"REMB"
                {
                    let exp = u32::from(fci[5] >> 2);
                    let mantissa = (u64::from(fci[5] & 0x03) << 16)
                        | (u64::from(fci[6]) << 8)
                        | u64::from(fci[7]);
                    out.remb_bps = mantissa.checked_shl(exp);
                }
            }
            _ => {}
        }
        at += len;
    }
    out
}

/// Reads the RTCP a subscriber's `webrtcbin` receives and posts its losses
/// and REMB for `handle`. The probe goes on the `rtpbin`'s RTCP sink pads
/// as `webrtcbin` requests them; it only parses and posts.
pub fn watch(webrtcbin: &gst::Element, handle: PeerKey, events: &RoomEvents) {
    let Some(rtpbin) = webrtcbin
        .downcast_ref::<gst::Bin>()
        .and_then(|b| b.by_name("rtpbin"))
    else {
        return;
    };
    let tx = events.clone();
    rtpbin.connect_pad_added(move |_, pad| {
        if !pad.name().starts_with("recv_rtcp_sink") {
            return;
        }
        let tx = tx.clone();
        pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            if let Some(gst::PadProbeData::Buffer(b)) = &info.data
                && let Ok(map) = b.map_readable()
            {
                let fb = parse(&map);
                if !fb.losses.is_empty() || fb.remb_bps.is_some() {
                    let _ = tx.send(RoomEvent::ReceiverFeedback {
                        handle,
                        feedback: fb,
                    });
                }
            }
            gst::PadProbeReturn::Ok
        });
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An RR from SSRC 1 with one block for SSRC 0xabcd, then a REMB of
    /// `mantissa << exp` bps.
    fn compound(fraction: u8, exp: u8, mantissa: u32) -> Vec<u8> {
        let mut v = vec![0x81, 201, 0, 7, 0, 0, 0, 1];
        v.extend_from_slice(&0xabcdu32.to_be_bytes());
        v.push(fraction);
        v.extend_from_slice(&[0; 19]);
        // PSFB FMT 15, length 5 (24 bytes): sender, media 0, "REMB",
        // num-ssrc 1, exp/mantissa, one SSRC.
        v.extend_from_slice(&[0x8f, 206, 0, 5, 0, 0, 0, 1, 0, 0, 0, 0]);
        v.extend_from_slice(b"REMB");
        v.push(1);
        v.push((exp << 2) | ((mantissa >> 16) as u8 & 0x03));
        v.extend_from_slice(&[(mantissa >> 8) as u8, mantissa as u8]);
        v.extend_from_slice(&0xabcdu32.to_be_bytes());
        v
    }

    #[test]
    fn reads_loss_and_remb() {
        let fb = parse(&compound(64, 4, 62_500));
        assert_eq!(fb.losses, vec![(0xabcd, 64)]);
        assert_eq!(fb.remb_bps, Some(1_000_000));
    }

    #[test]
    fn a_sender_report_has_its_blocks_after_the_sender_info() {
        let mut v = vec![0x81, 200, 0, 12];
        v.extend_from_slice(&[0; 24]);
        v.extend_from_slice(&7u32.to_be_bytes());
        v.push(25);
        v.extend_from_slice(&[0; 19]);
        assert_eq!(parse(&v).losses, vec![(7, 25)]);
    }

    #[test]
    fn truncated_or_foreign_input_gives_what_parsed() {
        let full = compound(10, 0, 5);
        assert_eq!(parse(&full[..20]).losses, Vec::<(u32, u8)>::new());
        assert_eq!(parse(&full[..32]).losses, vec![(0xabcd, 10)]);
        assert_eq!(parse(&full[..40]).remb_bps, None);
        assert_eq!(parse(&[0u8; 64]), Feedback::default());
        assert_eq!(parse(&[]), Feedback::default());
    }
}

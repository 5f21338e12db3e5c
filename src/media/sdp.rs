//! SDP inspection (RFC 8866 syntax, RFC 8829 JSEP usage): validation for
//! Janus error 465, per-m-line codec choice for publishers' offers, and the
//! SSRC/mid facts the SFU needs to build subscriber offers.

use gst_sdp::{SDPMediaRef, SDPMessage};
use thiserror::Error;

use super::codec::{Codec, MediaKind};

/// Why an SDP was refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum SdpError {
    /// It does not parse as SDP at all.
    #[error("not an SDP: {0}")]
    Syntax(String),
    /// It parses but lacks what every WebRTC SDP has.
    #[error("{0}")]
    Incomplete(&'static str),
}

/// The ICE credentials (`a=ice-ufrag`, `a=ice-pwd`, RFC 8839 §5.4) of the
/// first m-line, or of the session when the m-line has none. With BUNDLE
/// every m-line shares them.
pub fn ice_credentials(msg: &gst_sdp::SDPMessageRef) -> Option<(String, String)> {
    let get = |key: &str| {
        msg.media(0)
            .and_then(|m| m.attribute_val(key))
            .or_else(|| msg.attribute_val(key))
            .map(str::to_owned)
    };
    Some((get("ice-ufrag")?, get("ice-pwd")?))
}

/// Parses an SDP and checks the minimum a WebRTC SDP has: `v=0`, an origin,
/// and at least one m-line with a media type and formats.
pub fn parse(sdp: &str) -> Result<SDPMessage, SdpError> {
    // The parser asserts GStreamer is initialized; init is idempotent and
    // cheap after the first call, and keeps the Janus core usable without
    // a prior start-up step (its unit tests, for one).
    gst::init().map_err(|e| SdpError::Syntax(format!("GStreamer unavailable: {e}")))?;
    // Refused before GStreamer sees it: an empty buffer trips a critical
    // assertion in gst_sdp_message_parse_buffer, and an SDP starts with v=.
    if !sdp.trim_start().starts_with("v=") {
        return Err(SdpError::Incomplete("missing v=0"));
    }
    let msg =
        SDPMessage::parse_buffer(sdp.as_bytes()).map_err(|e| SdpError::Syntax(e.to_string()))?;
    if msg.version() != Some("0") {
        return Err(SdpError::Incomplete("missing v=0"));
    }
    if msg.origin().is_none() {
        return Err(SdpError::Incomplete("missing o= line"));
    }
    if msg.medias_len() == 0 {
        return Err(SdpError::Incomplete("no m= line"));
    }
    for m in msg.medias() {
        if m.media().is_none() || m.formats_len() == 0 {
            return Err(SdpError::Incomplete(
                "m= line without media type or formats",
            ));
        }
    }
    Ok(msg)
}

/// [`parse`], keeping only the verdict.
pub fn validate(sdp: &str) -> Result<(), SdpError> {
    parse(sdp).map(|_| ())
}

/// One m-line of a publisher's offer, with the codec the gateway picked.
#[derive(Debug, Clone, PartialEq)]
pub struct OfferedStream {
    /// Index of the m-line.
    pub mindex: u32,
    /// Its `a=mid`.
    pub mid: String,
    /// Audio or video.
    pub kind: MediaKind,
    /// The chosen codec and payload type, or `None` when the m-line carries
    /// nothing the room allows (it is then answered inactive).
    pub choice: Option<(Codec, u8)>,
    /// The first SSRC the offer announces (`a=ssrc`, primary of an FID group).
    pub ssrc: Option<u32>,
    /// `a=msid` stream id, if any.
    pub msid: Option<String>,
    /// Whether the m-line sends to us (`sendonly`/`sendrecv`, not rejected).
    pub sending: bool,
    /// The simulcast layers a video m-line sends (rid or SSRC `SIM`).
    pub simulcast: Option<super::simulcast::Simulcast>,
}

fn first_ssrc(m: &SDPMediaRef) -> Option<u32> {
    // With `a=ssrc-group:FID primary rtx`, the primary comes first.
    if let Some(group) = m
        .attributes()
        .find(|a| a.key() == "ssrc-group" && a.value().is_some_and(|v| v.starts_with("FID ")))
    {
        return group.value()?.split_whitespace().nth(1)?.parse().ok();
    }
    m.attributes()
        .filter(|a| a.key() == "ssrc")
        .filter_map(|a| a.value()?.split_whitespace().next()?.parse().ok())
        .next()
}

fn rtpmap_for<'a>(m: &'a SDPMediaRef, pt: &str) -> Option<&'a str> {
    m.attributes()
        .filter(|a| a.key() == "rtpmap")
        .filter_map(|a| a.value())
        .find(|v| v.split_whitespace().next() == Some(pt))
        .and_then(|v| v.split_whitespace().nth(1))
}

/// The fmtp parameters of payload `pt`, as `key=value` pairs.
pub fn fmtp_for(m: &SDPMediaRef, pt: &str) -> Vec<(String, String)> {
    m.attributes()
        .filter(|a| a.key() == "fmtp")
        .filter_map(|a| a.value())
        .find(|v| v.split_whitespace().next() == Some(pt))
        .map(|v| {
            v.split_once(' ')
                .map(|(_, params)| params)
                .unwrap_or("")
                .split(';')
                .filter_map(|kv| {
                    let (k, v) = kv.trim().split_once('=')?;
                    Some((k.trim().to_ascii_lowercase(), v.trim().to_owned()))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Picks, for one m-line, the first codec of `allowed` (room preference
/// order) the offer carries, and that codec's best payload type. For H.264
/// only `packetization-mode=1` is taken, preferring constrained baseline
/// (`profile-level-id` 42e0xx) as browsers decode it everywhere.
pub fn choose_codec(m: &SDPMediaRef, allowed: &[Codec]) -> Option<(Codec, u8)> {
    for &codec in allowed {
        let mut best: Option<(u8, u8)> = None; // (score, pt)
        for pt in m.formats() {
            let Some(enc) = rtpmap_for(m, pt) else {
                continue;
            };
            let name = enc.split('/').next().unwrap_or("");
            if !name.eq_ignore_ascii_case(codec.encoding_name()) {
                continue;
            }
            let Ok(pt_num) = pt.parse::<u8>() else {
                continue;
            };
            let score = if codec == Codec::H264 {
                let fmtp = fmtp_for(m, pt);
                let get = |k: &str| {
                    fmtp.iter()
                        .find(|(key, _)| key == k)
                        .map(|(_, v)| v.to_ascii_lowercase())
                };
                if get("packetization-mode").as_deref() != Some("1") {
                    continue;
                }
                match get("profile-level-id").as_deref() {
                    Some(p) if p.starts_with("42e0") => 3,
                    Some(p) if p.starts_with("4200") => 2,
                    _ => 1,
                }
            } else {
                1
            };
            if best.is_none_or(|(s, _)| score > s) {
                best = Some((score, pt_num));
            }
        }
        if let Some((_, pt)) = best {
            return Some((codec, pt));
        }
    }
    None
}

/// Reads every audio/video m-line of a publisher's offer. `allowed_audio` and
/// `allowed_video` are the room's codec lists in preference order.
pub fn offered_streams(
    msg: &SDPMessage,
    allowed_audio: &[Codec],
    allowed_video: &[Codec],
) -> Vec<OfferedStream> {
    msg.medias()
        .enumerate()
        .filter_map(|(i, m)| {
            let kind = match m.media()? {
                "audio" => MediaKind::Audio,
                "video" => MediaKind::Video,
                _ => return None,
            };
            let allowed = if kind == MediaKind::Audio {
                allowed_audio
            } else {
                allowed_video
            };
            let direction_sends = !m
                .attributes()
                .any(|a| a.key() == "recvonly" || a.key() == "inactive");
            // Port 0 rejects an m-line unless it is `bundle-only` (RFC 8843 §6).
            let rejected = m.port() == 0 && !m.attributes().any(|a| a.key() == "bundle-only");
            Some(OfferedStream {
                mindex: i as u32,
                mid: m.attribute_val("mid").unwrap_or(&i.to_string()).to_owned(),
                kind,
                choice: choose_codec(m, allowed),
                ssrc: first_ssrc(m),
                msid: m
                    .attribute_val("msid")
                    .and_then(|v| v.split_whitespace().next())
                    .map(str::to_owned),
                sending: direction_sends && !rejected,
                simulcast: (kind == MediaKind::Video)
                    .then(|| super::simulcast::from_media(m, None))
                    .flatten(),
            })
        })
        .collect()
}

/// `sdp` with the direction attribute of each m-section in `mlines`
/// (indexes) set to `direction` (`sendonly`, `inactive`, …). Other text is
/// kept as it is, line endings included.
pub fn with_direction(sdp: &str, mlines: &[u32], direction: &str) -> String {
    if mlines.is_empty() {
        return sdp.to_owned();
    }
    let mut out = String::with_capacity(sdp.len());
    let mut section: Option<u32> = None;
    let mut next = 0u32;
    let mut pending = false;
    for line in sdp.split_inclusive('\n') {
        let text = line.trim_end_matches(['\r', '\n']);
        let eol = &line[text.len()..];
        if text.starts_with("m=") {
            if pending {
                out.push_str(&format!("a={direction}\r\n"));
            }
            section = Some(next);
            next += 1;
            pending = section.is_some_and(|m| mlines.contains(&m));
        }
        let is_dir = matches!(
            text,
            "a=sendrecv" | "a=sendonly" | "a=recvonly" | "a=inactive"
        );
        if is_dir && section.is_some_and(|m| mlines.contains(&m)) {
            out.push_str(&format!("a={direction}{eol}"));
            pending = false;
            continue;
        }
        out.push_str(line);
    }
    if pending {
        out.push_str(&format!("a={direction}\r\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A trimmed Chrome offer: audio (opus, PCMU), video (VP8, VP9, H.264 in
    /// two profiles and modes, RTX), with SSRC groups.
    pub(crate) const CHROME_OFFER: &str = "v=0\r\n\
o=- 4611731400430051336 2 IN IP4 127.0.0.1\r\n\
s=-\r\n\
t=0 0\r\n\
a=group:BUNDLE 0 1\r\n\
m=audio 9 UDP/TLS/RTP/SAVPF 111 0\r\n\
c=IN IP4 0.0.0.0\r\n\
a=mid:0\r\n\
a=sendonly\r\n\
a=msid:stream0 track0\r\n\
a=rtpmap:111 opus/48000/2\r\n\
a=fmtp:111 minptime=10;useinbandfec=1\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=ssrc:1111 cname:x\r\n\
m=video 9 UDP/TLS/RTP/SAVPF 96 97 98 102 103 104\r\n\
c=IN IP4 0.0.0.0\r\n\
a=mid:1\r\n\
a=sendonly\r\n\
a=rtpmap:96 VP8/90000\r\n\
a=rtpmap:97 rtx/90000\r\n\
a=fmtp:97 apt=96\r\n\
a=rtpmap:98 VP9/90000\r\n\
a=rtpmap:102 H264/90000\r\n\
a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42001f\r\n\
a=rtpmap:103 H264/90000\r\n\
a=fmtp:103 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f\r\n\
a=rtpmap:104 H264/90000\r\n\
a=fmtp:104 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\n\
a=ssrc-group:FID 2222 3333\r\n\
a=ssrc:2222 cname:x\r\n\
a=ssrc:3333 cname:x\r\n";

    #[test]
    fn validation() {
        assert!(validate(CHROME_OFFER).is_ok());
        assert!(validate("this is not sdp").is_err());
        assert!(validate("").is_err());
        assert!(validate("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n").is_err());
    }

    #[test]
    fn picks_codecs_in_room_order() {
        let msg = parse(CHROME_OFFER).unwrap();
        let s = offered_streams(&msg, &[Codec::Opus], &[Codec::Vp8, Codec::H264]);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].choice, Some((Codec::Opus, 111)));
        assert_eq!(s[0].ssrc, Some(1111));
        assert_eq!(s[0].msid.as_deref(), Some("stream0"));
        assert!(s[0].sending);
        assert_eq!(s[1].choice, Some((Codec::Vp8, 96)));
        assert_eq!(s[1].ssrc, Some(2222));
        assert_eq!(s[1].mid, "1");
        let s = offered_streams(&msg, &[Codec::Opus], &[Codec::H264]);
        assert_eq!(
            s[1].choice,
            Some((Codec::H264, 104)),
            "constrained baseline, mode 1 wins"
        );
        let s = offered_streams(&msg, &[], &[]);
        assert_eq!(s[1].choice, None);
    }

    #[test]
    fn directions_change_in_the_named_m_sections_only() {
        let sdp = "v=0\r\nm=audio 9 X 111\r\na=sendonly\r\nm=video 9 X 96\r\na=inactive\r\nm=video 9 X 97\r\na=mid:2\r\n";
        let out = with_direction(sdp, &[1, 2], "sendonly");
        assert_eq!(
            out,
            "v=0\r\nm=audio 9 X 111\r\na=sendonly\r\nm=video 9 X 96\r\na=sendonly\r\nm=video 9 X 97\r\na=mid:2\r\na=sendonly\r\n"
        );
        assert_eq!(with_direction(sdp, &[], "inactive"), sdp);
    }
}

//! Simulcast in a publisher's offer: which layers an m-line sends, lowest
//! first, and the header extensions that identify them.
//!
//! Two signallings exist, and both are read:
//! - **rid** (RFC 8851 `a=rid:<id> send`, RFC 8853 `a=simulcast:send
//!   <id>;<id>;…`), as Chrome, Firefox and janus.js 1.x send it. Packets
//!   carry their layer in the RFC 8852 `sdes:rtp-stream-id` header
//!   extension; `a=ssrc` lines are usually absent.
//! - **SSRC groups** (`a=ssrc-group:SIM <ssrc> <ssrc> …`, the legacy Chrome
//!   form that older janus.js and native SDKs use): one SSRC per layer,
//!   lowest first (Janus's `sdp.c` reads them in that order).
//!
//! Substream 0 is the lowest layer, as in Janus. rid order: the names
//! `l`/`m`/`h` (janus.js) and `q`/`h`/`f` (LiveKit) sort by their meaning;
//! any other names follow `jsep.rid_order` (`"lmh"`: listed lowest first;
//! `"hml"`, the janus.js default: highest first).

use gst_sdp::SDPMediaRef;

/// The RFC 8852 RTP stream id header extension.
pub const RID_URI: &str = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id";
/// The RFC 8852 repaired RTP stream id header extension (RTX).
pub const REPAIRED_RID_URI: &str = "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id";
/// The transport-wide congestion control header extension
/// (draft-holmer-rmcat-transport-wide-cc-extensions-01).
pub const TWCC_URI: &str =
    "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01";
/// The RFC 8843 MID header extension.
pub const MID_URI: &str = "urn:ietf:params:rtp-hdrext:sdes:mid";

/// How one layer is recognised in the RTP stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayerKey {
    /// By its rid (in the `rtp-stream-id` header extension).
    Rid(String),
    /// By its SSRC (an `a=ssrc-group:SIM` member).
    Ssrc(u32),
}

/// The simulcast an offered m-line sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Simulcast {
    /// The layers, lowest (substream 0) first.
    pub layers: Vec<LayerKey>,
    /// The offer's extension ids (1–255) for `sdes:mid`, `rtp-stream-id` and
    /// `repaired-rtp-stream-id`, to answer with the same ids.
    pub mid_ext: Option<u8>,
    /// See [`Simulcast::mid_ext`].
    pub rid_ext: Option<u8>,
    /// See [`Simulcast::mid_ext`].
    pub repaired_rid_ext: Option<u8>,
    /// The offer's transport-wide congestion control extension id.
    pub twcc_ext: Option<u8>,
}

/// Whether rids without well-known names are listed lowest first.
fn lowest_first(rid_order: Option<&str>) -> bool {
    rid_order == Some("lmh")
}

/// The rank of well-known rid names (0 lowest), when every name is one.
fn known_rank(rids: &[String]) -> Option<Vec<usize>> {
    for names in [["l", "m", "h"], ["q", "h", "f"]] {
        let ranks: Option<Vec<usize>> = rids
            .iter()
            .map(|r| names.iter().position(|n| n == r))
            .collect();
        if let Some(r) = ranks {
            return Some(r);
        }
    }
    None
}

/// The extension id an m-line maps `uri` to (`a=extmap:<id>[/dir] <uri>`).
fn ext_id(m: &SDPMediaRef, uri: &str) -> Option<u8> {
    m.attributes()
        .filter(|a| a.key() == "extmap")
        .filter_map(|a| a.value())
        .find_map(|v| {
            let mut it = v.split_whitespace();
            let id = it.next()?.split('/').next()?.parse::<u8>().ok()?;
            (it.next()? == uri && id > 0).then_some(id)
        })
}

/// The rids of `a=simulcast:send …` in the order listed: the first
/// alternative of each group, `~` (paused) marks dropped. Falls back to the
/// `a=rid:<id> send` lines when there is no `a=simulcast`.
fn send_rids(m: &SDPMediaRef) -> Vec<String> {
    if let Some(v) = m.attribute_val("simulcast") {
        let mut words = v.split_whitespace();
        while let Some(dir) = words.next() {
            let Some(list) = words.next() else { break };
            if dir == "send" {
                return list
                    .split(';')
                    .filter_map(|group| group.split(',').next())
                    .map(|r| r.trim_start_matches('~').to_owned())
                    .filter(|r| !r.is_empty())
                    .collect();
            }
        }
    }
    m.attributes()
        .filter(|a| a.key() == "rid")
        .filter_map(|a| a.value())
        .filter_map(|v| {
            let mut it = v.split_whitespace();
            let id = it.next()?;
            (it.next()? == "send").then(|| id.to_owned())
        })
        .collect()
}

/// The simulcast of an offered m-line, or `None` when it sends one stream
/// (fewer than two layers). `rid_order` is `jsep.rid_order`.
pub fn from_media(m: &SDPMediaRef, rid_order: Option<&str>) -> Option<Simulcast> {
    let rids = send_rids(m);
    let layers = if rids.len() >= 2 {
        let mut rids = rids;
        match known_rank(&rids) {
            Some(rank) => {
                let mut pairs: Vec<(usize, String)> = rank.into_iter().zip(rids).collect();
                pairs.sort();
                pairs.into_iter().map(|(_, r)| LayerKey::Rid(r)).collect()
            }
            None => {
                if !lowest_first(rid_order) {
                    rids.reverse();
                }
                rids.into_iter().map(LayerKey::Rid).collect()
            }
        }
    } else {
        let sim: Vec<u32> = m
            .attributes()
            .filter(|a| a.key() == "ssrc-group")
            .filter_map(|a| a.value())
            .find_map(|v| v.strip_prefix("SIM "))
            .map(|v| {
                v.split_whitespace()
                    .filter_map(|s| s.parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        if sim.len() < 2 {
            return None;
        }
        sim.into_iter().map(LayerKey::Ssrc).collect()
    };
    Some(Simulcast {
        layers,
        mid_ext: ext_id(m, MID_URI),
        rid_ext: ext_id(m, RID_URI),
        repaired_rid_ext: ext_id(m, REPAIRED_RID_URI),
        twcc_ext: ext_id(m, TWCC_URI),
    })
}

/// The rid an RTP packet carries in header extension `id` (RFC 8285 one- or
/// two-byte form), if any.
pub fn packet_rid(buffer: &gst::BufferRef, id: u8) -> Option<String> {
    let rtp = gst_rtp::RTPBuffer::from_buffer_readable(buffer).ok()?;
    let data = rtp
        .extension_onebyte_header(id, 0)
        .or_else(|| rtp.extension_twobytes_header(id, 0).map(|(_, d)| d))?;
    let rid = std::str::from_utf8(data)
        .ok()?
        .trim_end_matches('\0')
        .to_owned();
    (!rid.is_empty()).then_some(rid)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn media(attrs: &str) -> gst_sdp::SDPMessage {
        let sdp = format!(
            "v=0\r\no=- 1 0 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n\
             m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\n\
             a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\n\
             a=extmap:10 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id\r\n\
             a=extmap:11 urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id\r\n\
             a=sendonly\r\na=rtpmap:96 VP8/90000\r\n{attrs}"
        );
        gst_sdp::SDPMessage::parse_buffer(sdp.as_bytes()).unwrap()
    }

    fn rids(s: &Simulcast) -> Vec<String> {
        s.layers
            .iter()
            .map(|l| match l {
                LayerKey::Rid(r) => r.clone(),
                LayerKey::Ssrc(s) => s.to_string(),
            })
            .collect()
    }

    #[test]
    fn janus_js_rids_sort_lowest_first_whatever_their_order() {
        gst::init().unwrap();
        let m = media("a=rid:h send\r\na=rid:m send\r\na=rid:l send\r\na=simulcast:send h;m;l\r\n");
        let s = from_media(m.media(0).unwrap(), None).unwrap();
        assert_eq!(rids(&s), ["l", "m", "h"]);
        assert_eq!(
            (s.mid_ext, s.rid_ext, s.repaired_rid_ext),
            (Some(4), Some(10), Some(11))
        );
        let m = media("a=rid:l send\r\na=rid:h send\r\na=rid:m send\r\na=simulcast:send l;h;m\r\n");
        assert_eq!(
            rids(&from_media(m.media(0).unwrap(), Some("hml")).unwrap()),
            ["l", "m", "h"]
        );
        let m = media("a=rid:f send\r\na=rid:h send\r\na=rid:q send\r\na=simulcast:send f;h;q\r\n");
        assert_eq!(
            rids(&from_media(m.media(0).unwrap(), None).unwrap()),
            ["q", "h", "f"]
        );
    }

    #[test]
    fn other_rid_names_follow_rid_order() {
        gst::init().unwrap();
        let m =
            media("a=rid:a send\r\na=rid:b send\r\na=rid:c send\r\na=simulcast:send a;b;~c\r\n");
        let m = m.media(0).unwrap();
        assert_eq!(rids(&from_media(m, None).unwrap()), ["c", "b", "a"]);
        assert_eq!(rids(&from_media(m, Some("lmh")).unwrap()), ["a", "b", "c"]);
    }

    #[test]
    fn ssrc_sim_groups_are_lowest_first() {
        gst::init().unwrap();
        let m = media(
            "a=ssrc-group:SIM 11 22 33\r\na=ssrc-group:FID 11 44\r\na=ssrc:11 cname:x\r\n\
             a=ssrc:22 cname:x\r\na=ssrc:33 cname:x\r\na=ssrc:44 cname:x\r\n",
        );
        let s = from_media(m.media(0).unwrap(), None).unwrap();
        assert_eq!(
            s.layers,
            [LayerKey::Ssrc(11), LayerKey::Ssrc(22), LayerKey::Ssrc(33)]
        );
    }

    #[test]
    fn one_layer_is_no_simulcast() {
        gst::init().unwrap();
        for attrs in [
            "",
            "a=rid:h send\r\na=simulcast:send h\r\n",
            "a=ssrc-group:SIM 11\r\n",
        ] {
            assert_eq!(
                from_media(media(attrs).media(0).unwrap(), None),
                None,
                "{attrs}"
            );
        }
    }

    #[test]
    fn reads_the_rid_of_a_packet() {
        gst::init().unwrap();
        // One-byte header extension: id 10, length 1 ("m" = 0x6d) + padding.
        let mut b = vec![0x90, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2];
        b.extend([0xbe, 0xde, 0, 1, (10 << 4), b'm', 0, 0]);
        b.extend([0x10, 0x00]);
        let buf = gst::Buffer::from_slice(b);
        assert_eq!(packet_rid(&buf, 10).as_deref(), Some("m"));
        assert_eq!(packet_rid(&buf, 4), None);
    }
}

//! Janus `.mjr` recordings converted straight to one MP4, with no
//! `janus-pp-rec` and no `ffmpeg`.
//!
//! Format (Janus documentation, "Recordings"; version 2, Janus 0.10+):
//! `MJR00002`, a big-endian u16 length and a JSON info header
//! `{"t":"a"|"v"|"d","c":<codec>,"s":<created, µs>,"u":<first frame, µs>}`,
//! then frames `MEET`, u32 BE ms since the recording started, u16 BE
//! length, and the RTP packet as received (arrival order).
//!
//! Packets are put in sequence-number order (wrap-around handled, duplicates
//! dropped) and timed by their RTP timestamps; the audio and video files are
//! aligned by their `u` (first frame written). The media then goes through
//! the same fragments as live recordings (`pipelines/recording.toml`):
//! H.264 as is, VP8 transcoded to H.264, Opus to AAC.

use std::path::Path;
use std::time::Duration;

use gst::prelude::*;
use serde::Deserialize;
use thiserror::Error;

use crate::media::codec::Codec;
use crate::media::encoder::Selected;
use crate::room::record::Catalog;

/// A failed conversion.
#[derive(Debug, Error)]
pub enum MjrError {
    /// The file cannot be read or written.
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
    /// Not an `MJR00002` file.
    #[error("{0}: not a Janus .mjr recording (version 2)")]
    NotMjr(String),
    /// The JSON info header is malformed.
    #[error("{0}: bad info header: {1}")]
    BadHeader(String, String),
    /// A codec this converter does not take.
    #[error("{0}: codec '{1}' is not supported (h264, vp8, opus)")]
    Unsupported(String, String),
    /// Two files of the same kind, or none with media.
    #[error("{0}")]
    Usage(String),
    /// VP8 needs an H.264 encoder and none works here.
    #[error("no working H.264 encoder to transcode VP8")]
    NoEncoder,
    /// The GStreamer conversion failed.
    #[error("conversion: {0}")]
    Pipeline(String),
}

/// The JSON info header.
#[derive(Debug, Clone, Deserialize)]
pub struct Info {
    /// `a`, `v` or `d` (data).
    pub t: String,
    /// Codec name.
    pub c: String,
    /// Creation time, µs since the Unix epoch.
    #[serde(default)]
    pub s: u64,
    /// Time the first frame was written, µs since the Unix epoch.
    #[serde(default)]
    pub u: u64,
}

/// A parsed recording: its header and RTP packets in file order.
#[derive(Debug, Clone)]
pub struct Mjr {
    /// The info header.
    pub info: Info,
    /// RTP packets as stored.
    pub packets: Vec<Vec<u8>>,
}

/// Parses an `.mjr` file's bytes (`name` labels errors). A truncated last
/// frame (a crashed Janus) ends the packets without an error.
pub fn parse(name: &str, bytes: &[u8]) -> Result<Mjr, MjrError> {
    if bytes.len() < 10 || &bytes[..8] != b"MJR00002" {
        return Err(MjrError::NotMjr(name.into()));
    }
    let hlen = u16::from_be_bytes([bytes[8], bytes[9]]) as usize;
    let header = bytes
        .get(10..10 + hlen)
        .ok_or_else(|| MjrError::BadHeader(name.into(), "truncated".into()))?;
    let info: Info = serde_json::from_slice(header)
        .map_err(|e| MjrError::BadHeader(name.into(), e.to_string()))?;
    let mut packets = Vec::new();
    let mut at = 10 + hlen;
    while at + 10 <= bytes.len() && &bytes[at..at + 4] == b"MEET" {
        let len = u16::from_be_bytes([bytes[at + 8], bytes[at + 9]]) as usize;
        let Some(p) = bytes.get(at + 10..at + 10 + len) else {
            break;
        };
        // RTP version 2 with a full fixed header only.
        if p.len() >= 12 && p[0] >> 6 == 2 {
            packets.push(p.to_vec());
        }
        at += 10 + len;
    }
    Ok(Mjr { info, packets })
}

/// Puts packets in sequence order (extended over wrap-around, duplicates
/// dropped) and returns each with its RTP timestamp extended likewise, both
/// relative to the first packet.
pub fn order(packets: &[Vec<u8>]) -> Vec<(i64, &[u8])> {
    let mut seqd: Vec<(i64, &[u8])> = Vec::with_capacity(packets.len());
    let mut last: Option<(u16, i64)> = None;
    for p in packets {
        let seq = u16::from_be_bytes([p[2], p[3]]);
        let ext = match last {
            None => i64::from(seq),
            Some((ls, le)) => le + i64::from(seq.wrapping_sub(ls) as i16),
        };
        // Track the highest sequence seen, so one late packet does not shift the rest.
        if last.is_none_or(|(_, le)| ext > le) {
            last = Some((seq, ext));
        }
        seqd.push((ext, p.as_slice()));
    }
    seqd.sort_by_key(|(s, _)| *s);
    seqd.dedup_by_key(|(s, _)| *s);
    let mut out = Vec::with_capacity(seqd.len());
    let mut last_ts: Option<(u32, i64)> = None;
    for (_, p) in seqd {
        let ts = u32::from_be_bytes([p[4], p[5], p[6], p[7]]);
        let ext = match last_ts {
            None => 0,
            Some((lt, le)) => le + i64::from(ts.wrapping_sub(lt) as i32),
        };
        last_ts = Some((ts, ext));
        out.push((ext, p));
    }
    out
}

fn codec_of(name: &str, info: &Info) -> Result<Codec, MjrError> {
    match info.c.as_str() {
        "h264" => Ok(Codec::H264),
        "vp8" => Ok(Codec::Vp8),
        "opus" => Ok(Codec::Opus),
        other => Err(MjrError::Unsupported(name.into(), other.into())),
    }
}

/// What a conversion wrote.
#[derive(Debug, Clone)]
pub struct Converted {
    /// Media duration, ms.
    pub duration_ms: u64,
    /// Packets used per input.
    pub packets: Vec<usize>,
}

/// Converts one video and/or one audio `.mjr` into `out` (MP4), with the
/// fragments of `catalog`; `encoder` transcodes VP8.
pub fn convert(
    inputs: &[&Path],
    out: &Path,
    catalog: &Catalog,
    encoder: Option<&Selected>,
) -> Result<Converted, MjrError> {
    let mut streams = Vec::new();
    for path in inputs {
        let name = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| MjrError::Io(name.clone(), e))?;
        let mjr = parse(&name, &bytes)?;
        if mjr.info.t == "d" {
            return Err(MjrError::Unsupported(name, "data channel".into()));
        }
        let codec = codec_of(&name, &mjr.info)?;
        if streams
            .iter()
            .any(|(_, c, _): &(String, Codec, Mjr)| c.kind() == codec.kind())
        {
            return Err(MjrError::Usage(format!(
                "two {} recordings: give one video and one audio file",
                codec.kind().as_str()
            )));
        }
        if mjr.packets.is_empty() {
            return Err(MjrError::Usage(format!("{name}: no RTP packets")));
        }
        streams.push((name, codec, mjr));
    }
    if streams.is_empty() {
        return Err(MjrError::Usage("no input recordings".into()));
    }
    let first_u = streams.iter().map(|(_, _, m)| m.info.u).min().unwrap_or(0);
    let perr = |e: &dyn std::fmt::Display| MjrError::Pipeline(e.to_string());

    let pipeline = gst::Pipeline::new();
    let mux = gst::parse::launch(&catalog.mp4.mux).map_err(|e| perr(&e))?;
    let sink = gst::ElementFactory::make("filesink")
        .property("location", out.display().to_string())
        .build()
        .map_err(|e| perr(&e))?;
    pipeline.add_many([&mux, &sink]).map_err(|e| perr(&e))?;
    mux.link(&sink).map_err(|e| perr(&e))?;
    let mut feeders = Vec::new();
    for (_, codec, mjr) in &streams {
        let caps = gst::Caps::builder("application/x-rtp")
            .field("media", codec.kind().as_str())
            .field("encoding-name", codec.encoding_name())
            .field("clock-rate", codec.clock_rate())
            .field("payload", i32::from(mjr.packets[0][1] & 0x7f))
            .build();
        let src = gst_app::AppSrc::builder()
            .caps(&caps)
            .format(gst::Format::Time)
            .block(true)
            .max_bytes(2_000_000)
            .build();
        let desc = catalog.mp4.fragment(*codec);
        let frag = crate::media::fragments::build(desc, *codec, encoder).map_err(|e| match e {
            crate::media::fragments::FragmentError::NoEncoder(_) => MjrError::NoEncoder,
            e => perr(&e),
        })?;
        pipeline
            .add_many([src.upcast_ref(), &frag])
            .map_err(|e| perr(&e))?;
        gst::Element::link_many([src.upcast_ref(), &frag, &mux]).map_err(|e| perr(&e))?;
        let offset_ns = (mjr.info.u.saturating_sub(first_u)) * 1_000;
        let rate = codec.clock_rate() as u64;
        let packets: Vec<(u64, Vec<u8>)> = order(&mjr.packets)
            .into_iter()
            .filter(|(ts, _)| *ts >= 0)
            .map(|(ts, p)| (offset_ns + ts as u64 * 1_000_000_000 / rate, p.to_vec()))
            .collect();
        feeders.push((src, packets));
    }
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|e| perr(&e))?;
    let counts: Vec<usize> = feeders.iter().map(|(_, p)| p.len()).collect();
    let last_pts = feeders
        .iter()
        .filter_map(|(_, p)| p.last().map(|(t, _)| *t))
        .max()
        .unwrap_or(0);
    // One thread per input: the muxer interleaves, so a single feeder
    // pushing one whole file first would block on the full queue.
    let threads: Vec<_> = feeders
        .into_iter()
        .map(|(src, packets)| {
            std::thread::spawn(move || {
                for (pts, p) in packets {
                    let mut buf = gst::Buffer::from_mut_slice(p);
                    if let Some(b) = buf.get_mut() {
                        b.set_pts(gst::ClockTime::from_nseconds(pts));
                    }
                    if src.push_buffer(buf).is_err() {
                        break;
                    }
                }
                let _ = src.end_of_stream();
            })
        })
        .collect();
    let bus = pipeline.bus().ok_or_else(|| perr(&"no bus"))?;
    // Bounded: a generous multiple of real time for software transcoding.
    let limit = Duration::from_secs(60) + Duration::from_nanos(last_pts) * 4;
    let result = match bus.timed_pop_filtered(
        gst::ClockTime::from_nseconds(limit.as_nanos() as u64),
        &[gst::MessageType::Eos, gst::MessageType::Error],
    ) {
        Some(msg) => match msg.view() {
            gst::MessageView::Eos(_) => Ok(()),
            gst::MessageView::Error(e) => Err(MjrError::Pipeline(format!(
                "{} ({:?})",
                e.error(),
                e.debug()
            ))),
            _ => Ok(()),
        },
        None => Err(MjrError::Pipeline(format!("no end within {limit:?}"))),
    };
    // NULL unblocks any feeder still pushing.
    let _ = pipeline.set_state(gst::State::Null);
    for t in threads {
        let _ = t.join();
    }
    result?;
    Ok(Converted {
        duration_ms: last_pts / 1_000_000,
        packets: counts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rtp(seq: u16, ts: u32) -> Vec<u8> {
        let mut p = vec![0x80, 111];
        p.extend(seq.to_be_bytes());
        p.extend(ts.to_be_bytes());
        p.extend([0, 0, 0, 1, 0xaa]);
        p
    }

    fn file(header: &str, packets: &[Vec<u8>]) -> Vec<u8> {
        let mut b = b"MJR00002".to_vec();
        b.extend((header.len() as u16).to_be_bytes());
        b.extend(header.as_bytes());
        for (i, p) in packets.iter().enumerate() {
            b.extend(b"MEET");
            b.extend((i as u32 * 20).to_be_bytes());
            b.extend((p.len() as u16).to_be_bytes());
            b.extend(p);
        }
        b
    }

    #[test]
    fn parses_header_and_frames_and_tolerates_a_truncated_tail() {
        let h = r#"{"t": "a", "c": "opus", "s": 1, "u": 2}"#;
        let mut bytes = file(h, &[rtp(1, 960), rtp(2, 1920)]);
        bytes.extend(b"MEET\0\0\0\0\0\x40\x80"); // a frame cut short
        let m = parse("x", &bytes).unwrap();
        assert_eq!(
            (m.info.t.as_str(), m.info.c.as_str(), m.info.u),
            ("a", "opus", 2)
        );
        assert_eq!(m.packets.len(), 2);
        assert!(matches!(
            parse("x", b"MJR00001\0\0"),
            Err(MjrError::NotMjr(_))
        ));
        assert!(matches!(
            parse("x", &file("{not json", &[])),
            Err(MjrError::BadHeader(..))
        ));
    }

    #[test]
    fn orders_by_sequence_across_wraparound_and_drops_duplicates() {
        let pk = [
            rtp(65534, 4_294_966_000),
            rtp(1, 1_000),
            rtp(65535, 4_294_967_000),
            rtp(0, 704),
            rtp(1, 1_000),
        ];
        let o = order(&pk);
        let seqs: Vec<u16> = o
            .iter()
            .map(|(_, p)| u16::from_be_bytes([p[2], p[3]]))
            .collect();
        assert_eq!(seqs, vec![65534, 65535, 0, 1]);
        let ts: Vec<i64> = o.iter().map(|(t, _)| *t).collect();
        assert_eq!(ts, vec![0, 1000, 2000, 2296]);
    }

    #[test]
    fn rejects_unsupported_codecs() {
        let info = Info {
            t: "v".into(),
            c: "vp9".into(),
            s: 0,
            u: 0,
        };
        assert!(matches!(
            codec_of("f", &info),
            Err(MjrError::Unsupported(..))
        ));
    }
}

//! What an ingest pulls from ([`SourceSpec`]: an RTSP or RTMP URL, or RTP
//! ports), the fragments it builds its chains from ([`Catalog`],
//! `pipelines/ingest.toml`), how it fails ([`IngestError`]) and where it
//! stands ([`State`]).

use std::path::Path;

use serde::Deserialize;
use thiserror::Error;

use crate::media::codec::{Codec, MediaKind};
use crate::media::fragments::{self, FragmentError};

/// A failed ingest.
#[derive(Debug, Error)]
pub enum IngestError {
    /// The URL is not `rtsp://`, `rtsps://`, `rtmp://` or `rtmps://`.
    #[error("unsupported URL '{0}': use rtsp:// or rtmp://")]
    BadUrl(String),
    /// Building or linking the graph failed.
    #[error("ingest graph: {0}")]
    Pipeline(String),
    /// The source reported an error before it gave any stream.
    #[error("source failed: {0}")]
    Source(String),
    /// The source gave no usable stream in time.
    #[error("no usable stream from the source within {0} s")]
    Timeout(u64),
    /// A stream needs transcoding and no encoder works.
    #[error("cannot transcode {0}: no working H.264 encoder")]
    NoEncoder(String),
    /// The fragment catalog is unreadable or malformed.
    #[error(transparent)]
    Catalog(#[from] FragmentError),
}

/// One `media` entry of an RTP mountpoint (Janus streaming `create`).
#[derive(Debug, Clone, PartialEq)]
pub struct RtpMedia {
    /// `audio` or `video`.
    pub kind: MediaKind,
    /// The mid it gets.
    pub mid: String,
    /// UDP port the gateway listens on.
    pub port: u16,
    /// Payload type of the incoming RTP.
    pub pt: u8,
    /// Codec of the incoming RTP.
    pub codec: Codec,
    /// `fmtp` of the incoming RTP (kept for `info`).
    pub fmtp: Option<String>,
}

/// Where an ingest pulls from.
/// How an RTSP source carries RTP (RFC 2326 §12.39 `Transport`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RtspTransport {
    /// UDP first; TCP-interleaved when the server refuses UDP, or when no
    /// UDP packet comes within `rtspsrc`'s 5 s (a firewall): what a client
    /// should do, and cameras that offer only one of them both work.
    #[default]
    Auto,
    /// UDP only.
    Udp,
    /// TCP-interleaved only (behind NAT, or a camera that closes at once).
    Tcp,
}

impl RtspTransport {
    /// From the `rtsp_transport` create field: `auto`, `udp` or `tcp`.
    pub fn parse(s: &str) -> Option<RtspTransport> {
        match s {
            "auto" => Some(RtspTransport::Auto),
            "udp" => Some(RtspTransport::Udp),
            "tcp" => Some(RtspTransport::Tcp),
            _ => None,
        }
    }

    /// `rtspsrc`'s `protocols` value.
    pub fn protocols(self) -> &'static str {
        match self {
            RtspTransport::Auto => "udp+tcp",
            RtspTransport::Udp => "udp",
            RtspTransport::Tcp => "tcp",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum SourceSpec {
    /// An RTSP server or camera.
    Rtsp {
        /// `rtsp://` or `rtsps://` URL.
        url: String,
        /// `rtsp_user`.
        user: Option<String>,
        /// `rtsp_pwd`.
        pwd: Option<String>,
        /// The RTP lower transport to ask the server for.
        transport: RtspTransport,
    },
    /// An RTMP stream, pulled.
    Rtmp {
        /// `rtmp://` or `rtmps://` URL.
        url: String,
    },
    /// Plain RTP on UDP ports of `address`.
    Rtp {
        /// Address the ports are bound to.
        address: String,
        /// The streams.
        media: Vec<RtpMedia>,
    },
}

impl SourceSpec {
    /// An RTSP or RTMP source from its URL.
    pub fn from_url(url: &str) -> Result<SourceSpec, IngestError> {
        let lower = url.to_ascii_lowercase();
        let rest = |scheme: &str| lower.strip_prefix(scheme).is_some_and(|r| !r.is_empty());
        if rest("rtsp://") || rest("rtsps://") {
            Ok(SourceSpec::Rtsp {
                url: url.to_owned(),
                user: None,
                pwd: None,
                transport: RtspTransport::default(),
            })
        } else if rest("rtmp://") || rest("rtmps://") {
            Ok(SourceSpec::Rtmp {
                url: url.to_owned(),
            })
        } else {
            Err(IngestError::BadUrl(url.to_owned()))
        }
    }

    /// `rtsp`, `rtmp` or `rtp`.
    pub fn type_name(&self) -> &'static str {
        match self {
            SourceSpec::Rtsp { .. } => "rtsp",
            SourceSpec::Rtmp { .. } => "rtmp",
            SourceSpec::Rtp { .. } => "rtp",
        }
    }

    /// The URL (RTSP/RTMP), without credentials.
    pub fn url(&self) -> Option<&str> {
        match self {
            SourceSpec::Rtsp { url, .. } | SourceSpec::Rtmp { url } => Some(url),
            SourceSpec::Rtp { .. } => None,
        }
    }
}

/// The ingest fragment catalog (`pipelines/ingest.toml`).
#[derive(Debug, Clone, Deserialize)]
pub struct Catalog {
    /// RTP encoding name (upper case) → depayloader (and parser).
    pub depay: std::collections::HashMap<String, String>,
    /// Demuxed caps name (`video/x-h264`, `audio/mpeg`) → parser.
    pub parse: std::collections::HashMap<String, String>,
    /// Output codec → payloader.
    pub pay: std::collections::HashMap<String, String>,
    /// Decoded H.264 → raw video for the encoder.
    pub video_decode: String,
    /// Audio input (`aac`, `mpeg4-generic`, `pcmu`, …) → its decoder.
    pub decode: std::collections::HashMap<String, String>,
    /// Decoded audio → Opus.
    pub audio_to_opus: String,
    /// RTSP source element with its settings.
    pub rtspsrc: String,
    /// RTMP source and demuxer.
    pub rtmpsrc: String,
    /// Seconds to wait for a new source's streams.
    pub connect_timeout_s: u64,
    /// Default back-off before the first reconnect, s.
    pub reconnect_delay_s: u64,
}

impl Catalog {
    /// The catalog shipped in `pipelines/ingest.toml`.
    pub fn builtin() -> Catalog {
        fragments::builtin(
            "pipelines/ingest.toml",
            include_str!("../../../pipelines/ingest.toml"),
        )
    }

    /// Reads a catalog file.
    pub fn load(path: &Path) -> Result<Catalog, IngestError> {
        Ok(fragments::load("ingest", path)?)
    }
}

/// Where an ingest is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Connecting (first time, or again after a failure).
    Connecting,
    /// Media flows.
    Playing,
    /// The source failed; the next attempt is due after a back-off.
    Retrying,
}

impl State {
    /// `connecting`, `playing` or `retrying` (for `info`).
    pub fn as_str(self) -> &'static str {
        match self {
            State::Connecting => "connecting",
            State::Playing => "playing",
            State::Retrying => "retrying",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_catalog_parses() {
        let c = Catalog::builtin();
        assert!(c.depay.contains_key("H264"));
        assert!(c.pay.contains_key("opus"));
    }

    #[test]
    fn urls_pick_the_source() {
        assert!(matches!(
            SourceSpec::from_url("rtsp://127.0.0.1:8554/cam").unwrap(),
            SourceSpec::Rtsp { .. }
        ));
        assert!(matches!(
            SourceSpec::from_url("RTMP://host/live/x").unwrap(),
            SourceSpec::Rtmp { .. }
        ));
        assert!(SourceSpec::from_url("http://x").is_err());
        assert!(SourceSpec::from_url("rtsp://").is_err());
        assert!(SourceSpec::from_url("").is_err());
    }
}

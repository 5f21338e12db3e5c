//! The codecs the gateway forwards, with their RTP names and the caps a
//! subscriber's `webrtcbin` is offered.

use std::fmt;
use std::str::FromStr;

/// Audio or video, as SDP's media type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaKind {
    /// `m=audio`.
    Audio,
    /// `m=video`.
    Video,
}

impl MediaKind {
    /// `"audio"` or `"video"`, as Janus's `type` fields spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Audio => "audio",
            MediaKind::Video => "video",
        }
    }
}

/// A codec the SFU forwards (RFC 7587 Opus, RFC 7741 VP8, RFC 6184 H.264).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// Opus, 48 kHz, 2 channels in SDP.
    Opus,
    /// VP8.
    Vp8,
    /// H.264, `packetization-mode=1`.
    H264,
}

/// A codec name Janus knows but this gateway does not forward.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsupportedCodec(pub String);

impl FromStr for Codec {
    type Err = UnsupportedCodec;
    /// Janus's lowercase names: `opus`, `vp8`, `h264`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "opus" => Ok(Codec::Opus),
            "vp8" => Ok(Codec::Vp8),
            "h264" => Ok(Codec::H264),
            other => Err(UnsupportedCodec(other.to_owned())),
        }
    }
}

impl fmt::Display for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.janus_name())
    }
}

impl Codec {
    /// Janus's name (`opus`, `vp8`, `h264`), used in `streams[].codec`.
    pub fn janus_name(self) -> &'static str {
        match self {
            Codec::Opus => "opus",
            Codec::Vp8 => "vp8",
            Codec::H264 => "h264",
        }
    }

    /// The RTP `encoding-name` (upper case, as GStreamer caps carry it).
    pub fn encoding_name(self) -> &'static str {
        match self {
            Codec::Opus => "OPUS",
            Codec::Vp8 => "VP8",
            Codec::H264 => "H264",
        }
    }

    /// Audio or video.
    pub fn kind(self) -> MediaKind {
        match self {
            Codec::Opus => MediaKind::Audio,
            Codec::Vp8 | Codec::H264 => MediaKind::Video,
        }
    }

    /// RTP clock rate in Hz.
    pub fn clock_rate(self) -> i32 {
        match self {
            Codec::Opus => 48_000,
            Codec::Vp8 | Codec::H264 => 90_000,
        }
    }

    /// The caps a subscriber's `webrtcbin` sink pad and transceiver get: the
    /// codec with the publisher's payload type and SSRC, and the fmtp that
    /// browsers accept (H.264: constrained baseline 3.1, mode 1). No `extmap`
    /// and no `rtcp-fb` (webrtcbin adds NACK/PLI/FIR itself).
    pub fn subscriber_caps(self, pt: u8, ssrc: Option<u32>) -> gst::Caps {
        let mut b = gst::Caps::builder("application/x-rtp")
            .field("media", self.kind().as_str())
            .field("encoding-name", self.encoding_name())
            .field("clock-rate", self.clock_rate())
            .field("payload", pt as i32);
        b = match self {
            Codec::Opus => b
                .field("encoding-params", "2")
                .field("minptime", "10")
                .field("useinbandfec", "1"),
            Codec::Vp8 => b,
            Codec::H264 => b
                .field("packetization-mode", "1")
                .field("profile-level-id", "42e01f")
                .field("level-asymmetry-allowed", "1"),
        };
        if let Some(ssrc) = ssrc {
            b = b.field("ssrc", ssrc);
        }
        b.build()
    }
}

/// Parses Janus's comma-separated codec list (`"vp8,h264"`), keeping order.
pub fn parse_list(list: &str) -> Result<Vec<Codec>, UnsupportedCodec> {
    list.split(',')
        .filter(|s| !s.trim().is_empty())
        .map(str::parse)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists() {
        assert_eq!(
            parse_list("vp8,h264").unwrap(),
            vec![Codec::Vp8, Codec::H264]
        );
        assert_eq!(parse_list(" H264 ").unwrap(), vec![Codec::H264]);
        assert_eq!(parse_list("vp8,av1"), Err(UnsupportedCodec("av1".into())));
    }

    #[test]
    fn caps() {
        gst::init().unwrap();
        let c = Codec::H264.subscriber_caps(102, Some(7));
        let s = c.structure(0).unwrap();
        assert_eq!(s.get::<&str>("profile-level-id").unwrap(), "42e01f");
        assert_eq!(s.get::<u32>("ssrc").unwrap(), 7);
        assert_eq!(s.get::<i32>("payload").unwrap(), 102);
    }
}

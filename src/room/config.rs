//! A room's settings: the videoroom `create` keys (Janus `janus_videoroom.c`
//! "create" documentation) and their `edit` counterparts (`new_*`).
//!
//! Keys that later features implement (recording, talking events, mixing)
//! are accepted, type-checked and stored now, so clients that send them get
//! the room they asked for and see them in `list`.

use serde_json::{Map, Value, json};

use super::layout::Layout;
use super::mcu::{MixSettings, Mode};
use crate::media::codec::{self, Codec};
use crate::plugins::params::{Id, Params};
use crate::plugins::videoroom::error::VideoRoomError;

/// Janus's default `publishers`.
const DEFAULT_MAX_PUBLISHERS: u64 = 3;
/// Janus's default `audio_active_packets`.
const DEFAULT_AUDIO_ACTIVE_PACKETS: u64 = 100;
/// Janus's default `audio_level_average` (dBov, 0..127).
const DEFAULT_AUDIO_LEVEL_AVERAGE: u64 = 25;

/// Keys stored as given and shown in `list`, for features of later issues.
const STORED_KEYS: &[(&str, Kind)] = &[
    ("bitrate_cap", Kind::Bool),
    ("videoorient_ext", Kind::Bool),
    ("playoutdelay_ext", Kind::Bool),
    ("transport_wide_cc_ext", Kind::Bool),
    ("audiolevel_ext", Kind::Bool),
    ("opus_fec", Kind::Bool),
    ("opus_dtx", Kind::Bool),
    ("require_e2ee", Kind::Bool),
    ("dummy_publisher", Kind::Bool),
    ("h264_profile", Kind::Str),
    ("vp9_profile", Kind::Str),
    ("threads", Kind::UInt),
];

#[derive(Clone, Copy)]
enum Kind {
    Bool,
    Str,
    UInt,
}

/// One room's settings.
#[derive(Debug, Clone)]
pub struct RoomConfig {
    /// Room id.
    pub room: Id,
    /// `description`.
    pub description: String,
    /// `secret` needed to edit/destroy/kick.
    pub secret: Option<String>,
    /// `pin` needed to join.
    pub pin: Option<String>,
    /// Hidden from `list` when true.
    pub is_private: bool,
    /// Max concurrent publishers (`publishers`).
    pub max_publishers: u64,
    /// Bitrate cap for publishers in bps (0 = none). Stored; REMB not sent yet.
    pub bitrate: u64,
    /// Seconds between periodic keyframe requests (`fir_freq`, 0 = off).
    pub fir_freq: u64,
    /// Allowed audio codecs, preference order.
    pub audiocodec: Vec<Codec>,
    /// Allowed video codecs, preference order.
    pub videocodec: Vec<Codec>,
    /// Send `joining` events.
    pub notify_joining: bool,
    /// Emit talking events (stored; a later feature).
    pub audiolevel_event: bool,
    /// Packets per talking decision.
    pub audio_active_packets: u64,
    /// Average level threshold in dBov.
    pub audio_level_average: u64,
    /// Record publishers (stored; a later feature).
    pub record: bool,
    /// Recording directory.
    pub rec_dir: Option<String>,
    /// Only with the secret can recording be toggled.
    pub lock_record: bool,
    /// `record_format`: `"webm"` keeps VP8 and Opus as sent (else MP4).
    pub record_webm: bool,
    /// Subscribers must give a `private_id`.
    pub require_pvtid: bool,
    /// `permanent` (config files are not rewritten; accepted and reported).
    pub permanent: bool,
    /// `mixing`: SFU, MCU or hybrid.
    pub mode: Mode,
    /// `mix_width`, `mix_height`, `mix_fps`, `mix_bitrate`, `mix_videocodec`.
    pub mix: MixSettings,
    /// `layout` of the mix.
    pub layout: Layout,
    /// Other accepted keys, as given.
    pub extra: Map<String, Value>,
}

fn ranged(p: &Params, key: &str, min: u64, max: u64, default: u64) -> Result<u64, VideoRoomError> {
    match p.u64(key)? {
        None => Ok(default),
        Some(v) if (min..=max).contains(&v) => Ok(v),
        Some(_) => Err(VideoRoomError::InvalidElement(
            key.into(),
            format!("an integer in {min}..={max}"),
        )),
    }
}

fn mix_settings(p: &Params) -> Result<(Mode, MixSettings, Layout), VideoRoomError> {
    let mode = match p.str("mixing")? {
        None => Mode::Sfu,
        Some(m) => Mode::parse(m).ok_or_else(|| {
            VideoRoomError::InvalidElement("mixing".into(), "sfu, mcu or hybrid".into())
        })?,
    };
    let d = MixSettings::default();
    let codec = match p.str("mix_videocodec")? {
        None => d.codec,
        Some("h264") => Codec::H264,
        Some("vp8") => Codec::Vp8,
        Some(_) => {
            return Err(VideoRoomError::InvalidElement(
                "mix_videocodec".into(),
                "h264 or vp8".into(),
            ));
        }
    };
    let layout = match p.str("layout")? {
        None | Some("custom") => Layout::Grid,
        Some(l) => Layout::from_name(l).ok_or_else(|| {
            VideoRoomError::InvalidElement("layout".into(), "grid, speaker or custom".into())
        })?,
    };
    let even = |v: u64| (v & !1) as i32;
    let mix = MixSettings {
        width: even(ranged(p, "mix_width", 64, 3840, d.width as u64)?),
        height: even(ranged(p, "mix_height", 64, 2160, d.height as u64)?),
        fps: ranged(p, "mix_fps", 1, 60, d.fps as u64)? as i32,
        bitrate: ranged(p, "mix_bitrate", 50_000, 50_000_000, d.bitrate as u64)? as u32,
        codec,
    };
    Ok((mode, mix, layout))
}

fn codecs(p: &Params, key: &str, default: Codec) -> Result<Option<Vec<Codec>>, VideoRoomError> {
    match p.str(key)? {
        None => Ok(None),
        Some(list) => {
            let list = codec::parse_list(list).map_err(|e| {
                VideoRoomError::InvalidElement(
                    key.into(),
                    format!("a supported codec list (unsupported '{}')", e.0),
                )
            })?;
            Ok(Some(if list.is_empty() { vec![default] } else { list }))
        }
    }
}

fn check_kind(p: &Params, key: &str, kind: Kind) -> Result<Option<Value>, VideoRoomError> {
    Ok(match kind {
        Kind::Bool => p.bool(key)?.map(Value::from),
        Kind::Str => p.str(key)?.map(Value::from),
        Kind::UInt => p.u64(key)?.map(Value::from),
    })
}

impl RoomConfig {
    /// Builds a room's settings from a `create` body; `room` is the id already chosen.
    pub fn from_create(p: &Params, room: Id) -> Result<Self, VideoRoomError> {
        let max_publishers = p.u64("publishers")?.unwrap_or(DEFAULT_MAX_PUBLISHERS);
        if max_publishers == 0 {
            return Err(VideoRoomError::InvalidElement(
                "publishers".into(),
                "a positive integer".into(),
            ));
        }
        let mut extra = Map::new();
        for (key, kind) in STORED_KEYS {
            if let Some(v) = check_kind(p, key, *kind)? {
                extra.insert((*key).to_owned(), v);
            }
        }
        let (mode, mix, layout) = mix_settings(p)?;
        Ok(RoomConfig {
            mode,
            mix,
            layout,
            description: p
                .str("description")?
                .map(str::to_owned)
                .unwrap_or_else(|| format!("Room {room}")),
            room,
            secret: p.str("secret")?.map(str::to_owned),
            pin: p.str("pin")?.map(str::to_owned),
            is_private: p.bool("is_private")?.unwrap_or(false),
            max_publishers,
            bitrate: p.u64("bitrate")?.unwrap_or(0),
            fir_freq: p.u64("fir_freq")?.unwrap_or(0),
            audiocodec: codecs(p, "audiocodec", Codec::Opus)?.unwrap_or_else(|| vec![Codec::Opus]),
            videocodec: codecs(p, "videocodec", Codec::Vp8)?.unwrap_or_else(|| vec![Codec::Vp8]),
            notify_joining: p.bool("notify_joining")?.unwrap_or(false),
            audiolevel_event: p.bool("audiolevel_event")?.unwrap_or(false),
            audio_active_packets: p
                .u64("audio_active_packets")?
                .unwrap_or(DEFAULT_AUDIO_ACTIVE_PACKETS),
            audio_level_average: p
                .u64("audio_level_average")?
                .unwrap_or(DEFAULT_AUDIO_LEVEL_AVERAGE),
            record: p.bool("record")?.unwrap_or(false),
            rec_dir: p.str("rec_dir")?.map(str::to_owned),
            lock_record: p.bool("lock_record")?.unwrap_or(false),
            record_webm: match p.str("record_format")? {
                None | Some("mp4") => false,
                Some("webm") => true,
                Some(_) => {
                    return Err(VideoRoomError::InvalidElement(
                        "record_format".into(),
                        "mp4 or webm".into(),
                    ));
                }
            },
            require_pvtid: p.bool("require_pvtid")?.unwrap_or(false),
            permanent: p.bool("permanent")?.unwrap_or(false),
            extra,
        })
    }

    /// Applies an `edit` body (`new_description`, `new_secret`, ...). All
    /// fields are checked before any is changed.
    pub fn apply_edit(&mut self, p: &Params) -> Result<(), VideoRoomError> {
        let description = p.str("new_description")?;
        let secret = p.str("new_secret")?;
        let pin = p.str("new_pin")?;
        let is_private = p.bool("new_is_private")?;
        let require_pvtid = p.bool("new_require_pvtid")?;
        let bitrate = p.u64("new_bitrate")?;
        let fir_freq = p.u64("new_fir_freq")?;
        let publishers = p.u64("new_publishers")?;
        let lock_record = p.bool("new_lock_record")?;
        let rec_dir = p.str("new_rec_dir")?;
        if publishers == Some(0) {
            return Err(VideoRoomError::InvalidElement(
                "new_publishers".into(),
                "a positive integer".into(),
            ));
        }
        if let Some(v) = description {
            self.description = v.to_owned();
        }
        if let Some(v) = secret {
            self.secret = Some(v.to_owned());
        }
        if let Some(v) = pin {
            self.pin = (!v.is_empty()).then(|| v.to_owned());
        }
        if let Some(v) = is_private {
            self.is_private = v;
        }
        if let Some(v) = require_pvtid {
            self.require_pvtid = v;
        }
        if let Some(v) = bitrate {
            self.bitrate = v;
        }
        if let Some(v) = fir_freq {
            self.fir_freq = v;
        }
        if let Some(v) = publishers {
            self.max_publishers = v;
        }
        if let Some(v) = lock_record {
            self.lock_record = v;
        }
        if let Some(v) = rec_dir {
            self.rec_dir = Some(v.to_owned());
        }
        Ok(())
    }

    /// Checks a `secret` against the room's (no secret set: anything passes).
    pub fn check_secret(&self, given: Option<&str>) -> Result<(), VideoRoomError> {
        match &self.secret {
            Some(s) if given != Some(s.as_str()) => {
                Err(VideoRoomError::Unauthorized("wrong secret"))
            }
            _ => Ok(()),
        }
    }

    /// Checks a `pin` against the room's.
    pub fn check_pin(&self, given: Option<&str>) -> Result<(), VideoRoomError> {
        match &self.pin {
            Some(s) if given != Some(s.as_str()) => Err(VideoRoomError::Unauthorized("wrong pin")),
            _ => Ok(()),
        }
    }

    fn codec_list(list: &[Codec]) -> String {
        list.iter()
            .map(|c| c.janus_name())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The entry `list` shows for this room (Janus field names).
    pub fn list_entry(&self, num_participants: usize) -> Value {
        let mut v = json!({
            "room": self.room.to_json(),
            "description": self.description,
            "pin_required": self.pin.is_some(),
            "is_private": self.is_private,
            "max_publishers": self.max_publishers,
            "bitrate": self.bitrate,
            "fir_freq": self.fir_freq,
            "require_pvtid": self.require_pvtid,
            "notify_joining": self.notify_joining,
            "audiocodec": Self::codec_list(&self.audiocodec),
            "videocodec": Self::codec_list(&self.videocodec),
            "record": self.record,
            "lock_record": self.lock_record,
            "record_format": if self.record_webm { "webm" } else { "mp4" },
            "audiolevel_event": self.audiolevel_event,
            "num_participants": num_participants,
            "mixing": self.mode.name(),
        });
        if self.mode != Mode::Sfu {
            v["mix_width"] = json!(self.mix.width);
            v["mix_height"] = json!(self.mix.height);
            v["mix_fps"] = json!(self.mix.fps);
            v["mix_bitrate"] = json!(self.mix.bitrate);
            v["mix_videocodec"] = json!(self.mix.codec.janus_name());
            v["layout"] = json!(self.layout.name());
        }
        if let Some(d) = &self.rec_dir {
            v["rec_dir"] = json!(d);
        }
        if self.audiolevel_event {
            v["audio_active_packets"] = json!(self.audio_active_packets);
            v["audio_level_average"] = json!(self.audio_level_average);
        }
        if let Value::Object(m) = &mut v {
            for (k, val) in &self.extra {
                m.insert(k.clone(), val.clone());
            }
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(v: Value) -> Result<RoomConfig, VideoRoomError> {
        let m = v.as_object().unwrap().clone();
        RoomConfig::from_create(&Params::new(&m, false), Id::Num(1))
    }

    #[test]
    fn defaults_and_values() {
        let c = cfg(json!({})).unwrap();
        assert_eq!(c.max_publishers, 3);
        assert_eq!(c.audiocodec, vec![Codec::Opus]);
        assert_eq!(c.videocodec, vec![Codec::Vp8]);
        let c = cfg(json!({"publishers": 6, "videocodec": "h264,vp8", "pin": "p", "mixing": "mcu", "record": true, "mix_width": 641, "layout": "speaker", "threads": 2}))
            .unwrap();
        assert_eq!(c.videocodec, vec![Codec::H264, Codec::Vp8]);
        assert!(c.check_pin(Some("p")).is_ok());
        assert_eq!(c.check_pin(None).unwrap_err().code(), 433);
        assert_eq!(c.mode, Mode::Mcu);
        assert_eq!(
            (c.mix.width, c.mix.height, c.mix.fps, c.mix.codec),
            (640, 720, 30, Codec::H264),
            "width made even"
        );
        assert_eq!(c.layout, Layout::Speaker);
        assert_eq!(c.extra["threads"], 2);
        assert_eq!(c.list_entry(0)["mixing"], "mcu");
        assert_eq!(c.list_entry(0)["pin_required"], true);
    }

    #[test]
    fn type_errors() {
        assert_eq!(cfg(json!({"publishers": "many"})).unwrap_err().code(), 430);
        assert_eq!(cfg(json!({"publishers": 0})).unwrap_err().code(), 430);
        assert_eq!(
            cfg(json!({"videocodec": "vp8,av9"})).unwrap_err().code(),
            430
        );
        assert_eq!(cfg(json!({"is_private": "yes"})).unwrap_err().code(), 430);
        assert_eq!(cfg(json!({"mix_fps": -3})).unwrap_err().code(), 430);
        assert_eq!(cfg(json!({"mix_fps": 500})).unwrap_err().code(), 430);
        assert_eq!(cfg(json!({"mixing": "blend"})).unwrap_err().code(), 430);
        assert_eq!(
            cfg(json!({"mix_videocodec": "av1"})).unwrap_err().code(),
            430
        );
        assert_eq!(cfg(json!({"layout": "mosaic"})).unwrap_err().code(), 430);
    }

    #[test]
    fn edit_is_all_or_nothing() {
        let mut c = cfg(json!({"description": "a"})).unwrap();
        let bad = json!({"new_description": "b", "new_publishers": "x"});
        assert!(
            c.apply_edit(&Params::new(bad.as_object().unwrap(), false))
                .is_err()
        );
        assert_eq!(c.description, "a");
        let good = json!({"new_description": "b", "new_publishers": 9, "new_secret": "s"});
        c.apply_edit(&Params::new(good.as_object().unwrap(), false))
            .unwrap();
        assert_eq!((c.description.as_str(), c.max_publishers), ("b", 9));
        assert!(c.check_secret(Some("s")).is_ok());
    }
}

//! `create` and `edit` of the videoroom: request keys (Janus
//! `janus_videoroom.c`, "create" documentation) checked and turned into a
//! plain [`RoomConfig`] or [`RoomEdit`].
//!
//! Keys that the gateway does not act on yet are accepted, type-checked
//! and shown in `list` as given (kept by the plugin, not the room).

use serde_json::{Map, Value};

use super::error::VideoRoomError;
use crate::ids::Id;
use crate::media::codec::{self, Codec};
use crate::plugins::params::Params;
use crate::room::RoomEdit;
use crate::room::config::RoomConfig;
use crate::room::layout::Layout;
use crate::room::mcu::{MixSettings, Mode};

/// Keys stored as given and shown in `list` (no behaviour behind them yet).
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

/// A room's settings from a `create` body (`room` is the id already
/// chosen), and the stored keys to show in `list`.
pub fn parse_create(
    p: &Params,
    room: Id,
) -> Result<(RoomConfig, Map<String, Value>), VideoRoomError> {
    let defaults = RoomConfig::new(room.clone());
    let max_publishers = p.u64("publishers")?.unwrap_or(defaults.max_publishers);
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
    let cfg = RoomConfig {
        mode,
        mix,
        layout,
        description: p
            .str("description")?
            .map(str::to_owned)
            .unwrap_or(defaults.description),
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
            .unwrap_or(defaults.audio_active_packets),
        audio_level_average: p
            .u64("audio_level_average")?
            .unwrap_or(defaults.audio_level_average),
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
        check_allowed: p.raw("allowed").is_some(),
        allowed: super::request::string_list(p, "allowed")?
            .into_iter()
            .collect(),
        keyframe_cache: p.bool("keyframe_cache")?.unwrap_or(true),
    };
    Ok((cfg, extra))
}

/// An `edit` body (`new_description`, `new_secret`, …): every field is
/// checked before the room changes any.
pub fn parse_edit(p: &Params) -> Result<RoomEdit, VideoRoomError> {
    let edit = RoomEdit {
        description: p.str("new_description")?.map(str::to_owned),
        secret: p.str("new_secret")?.map(str::to_owned),
        pin: p.str("new_pin")?.map(str::to_owned),
        is_private: p.bool("new_is_private")?,
        require_pvtid: p.bool("new_require_pvtid")?,
        bitrate: p.u64("new_bitrate")?,
        fir_freq: p.u64("new_fir_freq")?,
        publishers: p.u64("new_publishers")?,
        lock_record: p.bool("new_lock_record")?,
        rec_dir: p.str("new_rec_dir")?.map(str::to_owned),
    };
    if edit.publishers == Some(0) {
        return Err(VideoRoomError::InvalidElement(
            "new_publishers".into(),
            "a positive integer".into(),
        ));
    }
    Ok(edit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cfg(v: Value) -> Result<RoomConfig, VideoRoomError> {
        created(v).map(|(c, _)| c)
    }

    fn created(v: Value) -> Result<(RoomConfig, Map<String, Value>), VideoRoomError> {
        let m = v.as_object().unwrap().clone();
        parse_create(&Params::new(&m, false), Id::Num(1))
    }

    #[test]
    fn defaults_and_values() {
        let c = cfg(json!({})).unwrap();
        assert_eq!(c.max_publishers, 3);
        assert_eq!(c.audiocodec, vec![Codec::Opus]);
        assert_eq!(c.videocodec, vec![Codec::Vp8]);
        let (c, extra) = created(json!({"publishers": 6, "videocodec": "h264,vp8", "pin": "p", "mixing": "mcu", "record": true, "mix_width": 641, "layout": "speaker", "threads": 2}))
            .unwrap();
        assert_eq!(c.videocodec, vec![Codec::H264, Codec::Vp8]);
        assert!(c.check_pin(Some("p")).is_ok());
        assert_eq!(
            VideoRoomError::from(c.check_pin(None).unwrap_err()).code(),
            433
        );
        assert_eq!(c.mode, Mode::Mcu);
        assert_eq!(
            (c.mix.width, c.mix.height, c.mix.fps, c.mix.codec),
            (640, 720, 30, Codec::H264),
            "width made even"
        );
        assert_eq!(c.layout, Layout::Speaker);
        assert_eq!(extra["threads"], 2);
        let entry = super::super::reply::list_entry(&c, 0, &extra);
        assert_eq!(entry["mixing"], "mcu");
        assert_eq!(entry["pin_required"], true);
        assert_eq!(entry["threads"], 2);
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
    fn edit_is_checked_before_anything_changes() {
        let edit = |v: Value| parse_edit(&Params::new(v.as_object().unwrap(), false));
        assert_eq!(
            edit(json!({"new_description": "b", "new_publishers": "x"}))
                .unwrap_err()
                .code(),
            430
        );
        assert_eq!(edit(json!({"new_publishers": 0})).unwrap_err().code(), 430);
        let mut c = cfg(json!({"description": "a"})).unwrap();
        c.apply_edit(
            edit(json!({"new_description": "b", "new_publishers": 9, "new_secret": "s"})).unwrap(),
        );
        assert_eq!((c.description.as_str(), c.max_publishers), ("b", 9));
        assert!(c.check_secret(Some("s")).is_ok());
    }
}

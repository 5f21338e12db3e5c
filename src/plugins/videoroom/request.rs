//! The videoroom's requests: the one table of request names (and whether
//! each is answered at once or acked and answered by an event, as in
//! Janus), and the readers of their bodies into the room's typed commands.
//!
//! Readers check fields in the order the plugin always has, so a request
//! with several faults gets the same error code as before.

use std::time::Duration;

use serde_json::Value;

use super::error::VideoRoomError;
use crate::ids::Id;
use crate::plugins::Route;
use crate::plugins::params::Params;
use crate::room::ingest::SourceSpec;
use crate::room::layout::{Layout, Rect};
use crate::room::{
    EgressSource, IngestParams, LayerRequest, PublishParams, StreamConfig, StreamRequest,
};

/// A videoroom request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// `create` a room.
    Create,
    /// `allowed`: the room's token check and list.
    Allowed,
    /// `exists`.
    Exists,
    /// `list` rooms.
    List,
    /// `list_recordings` (extension).
    ListRecordings,
    /// `destroy` a room.
    Destroy,
    /// `edit` a room.
    Edit,
    /// `listparticipants`.
    ListParticipants,
    /// `kick` a participant.
    Kick,
    /// `set_layout` of the mix (extension).
    SetLayout,
    /// `moderate` a publisher stream.
    Moderate,
    /// `enable_recording`.
    EnableRecording,
    /// `record_mix` (extension).
    RecordMix,
    /// `add_ingest` (extension).
    AddIngest,
    /// `remove_ingest` (extension).
    RemoveIngest,
    /// `start_rtmp` (extension).
    StartRtmp,
    /// `stop_rtmp` (extension).
    StopRtmp,
    /// `list_ingests` (extension).
    ListIngests,
    /// `join` (publisher or subscriber).
    Join,
    /// `joinandconfigure`.
    JoinAndConfigure,
    /// `configure` (publisher or subscriber).
    Configure,
    /// `publish`.
    Publish,
    /// `unpublish`.
    Unpublish,
    /// `start` (subscriber).
    Start,
    /// `pause` (subscriber).
    Pause,
    /// `leave`.
    Leave,
    /// `update` (subscriber).
    Update,
    /// `subscribe` (subscriber).
    Subscribe,
    /// `unsubscribe` (subscriber).
    Unsubscribe,
}

/// Every request: its name and how it is answered.
const TABLE: &[(&str, Request, Route)] = &[
    ("create", Request::Create, Route::Sync),
    ("add_ingest", Request::AddIngest, Route::Sync),
    ("remove_ingest", Request::RemoveIngest, Route::Sync),
    ("start_rtmp", Request::StartRtmp, Route::Sync),
    ("stop_rtmp", Request::StopRtmp, Route::Sync),
    ("list_ingests", Request::ListIngests, Route::Sync),
    ("edit", Request::Edit, Route::Sync),
    ("destroy", Request::Destroy, Route::Sync),
    ("exists", Request::Exists, Route::Sync),
    ("list", Request::List, Route::Sync),
    ("listparticipants", Request::ListParticipants, Route::Sync),
    ("kick", Request::Kick, Route::Sync),
    ("allowed", Request::Allowed, Route::Sync),
    ("set_layout", Request::SetLayout, Route::Sync),
    ("moderate", Request::Moderate, Route::Sync),
    ("enable_recording", Request::EnableRecording, Route::Sync),
    ("record_mix", Request::RecordMix, Route::Sync),
    ("list_recordings", Request::ListRecordings, Route::Sync),
    ("join", Request::Join, Route::Async),
    ("joinandconfigure", Request::JoinAndConfigure, Route::Async),
    ("configure", Request::Configure, Route::Async),
    ("publish", Request::Publish, Route::Async),
    ("unpublish", Request::Unpublish, Route::Async),
    ("start", Request::Start, Route::Async),
    ("pause", Request::Pause, Route::Async),
    ("leave", Request::Leave, Route::Async),
    ("update", Request::Update, Route::Async),
    ("subscribe", Request::Subscribe, Route::Async),
    ("unsubscribe", Request::Unsubscribe, Route::Async),
];

impl Request {
    /// The request named `name`, and how it is answered.
    pub fn lookup(name: &str) -> Option<(Request, Route)> {
        TABLE
            .iter()
            .find(|(n, ..)| *n == name)
            .map(|&(_, r, route)| (r, route))
    }

    /// Its wire name.
    pub fn name(self) -> &'static str {
        TABLE
            .iter()
            .find(|(_, r, _)| *r == self)
            .map_or("?", |(n, ..)| n)
    }
}

/// An optional `secret`.
pub fn secret(p: &Params) -> Result<Option<String>, VideoRoomError> {
    Ok(p.str("secret")?.map(str::to_owned))
}

/// An optional array of strings under `key` (absent: empty).
pub fn string_list(p: &Params, key: &str) -> Result<Vec<String>, VideoRoomError> {
    let Some(list) = p.array(key)? else {
        return Ok(vec![]);
    };
    list.iter()
        .map(|v| v.as_str().map(str::to_owned))
        .collect::<Option<_>>()
        .ok_or_else(|| VideoRoomError::InvalidElement(key.into(), "an array of strings".into()))
}

/// `streams[{feed, mid?}]` under `key` (absent: none).
pub fn stream_requests(p: &Params, key: &str) -> Result<Vec<StreamRequest>, VideoRoomError> {
    let Some(list) = p.array(key)? else {
        return Ok(vec![]);
    };
    list.iter()
        .map(|v| {
            let Value::Object(m) = v else {
                return Err(VideoRoomError::InvalidElement(
                    key.into(),
                    "an array of objects".into(),
                ));
            };
            let sp = Params::new(m, p.string_ids());
            Ok(StreamRequest {
                feed: sp.req_feed("feed")?,
                mid: sp.str("mid")?.map(str::to_owned),
                layers: layer_request(&sp)?,
            })
        })
        .collect()
}

/// The `unsubscribe` list of `unsubscribe`/`update`: entries that name a
/// `feed` (and maybe its `mid`), and entries that name only the
/// subscriber's own m-line by `sub_mid` (Janus 1.x). Returns (by feed,
/// sub_mids).
pub fn unsubscribe_requests(
    p: &Params,
    key: &str,
) -> Result<(Vec<StreamRequest>, Vec<String>), VideoRoomError> {
    let Some(list) = p.array(key)? else {
        return Ok((vec![], vec![]));
    };
    let (mut by_feed, mut sub_mids) = (Vec::new(), Vec::new());
    for v in list {
        let Value::Object(m) = v else {
            return Err(VideoRoomError::InvalidElement(
                key.into(),
                "an array of objects".into(),
            ));
        };
        let sp = Params::new(m, p.string_ids());
        match (sp.raw("feed"), sp.str("sub_mid")?) {
            (None, Some(sub_mid)) => sub_mids.push(sub_mid.to_owned()),
            _ => by_feed.push(StreamRequest {
                feed: sp.req_feed("feed")?,
                mid: sp.str("mid")?.map(str::to_owned),
                layers: layer_request(&sp)?,
            }),
        }
    }
    Ok((by_feed, sub_mids))
}

/// Janus's simulcast fields `substream`, `temporal` (non-negative integers)
/// and `fallback` (µs) of a stream request or a `configure`; `substream`
/// may also be the string `"auto"` (an extension: back to the automatic
/// layer). Any other string is a wrong type (430).
pub fn layer_request(p: &Params) -> Result<LayerRequest, VideoRoomError> {
    let auto = p.raw("substream").and_then(|v| v.as_str()) == Some("auto");
    Ok(LayerRequest {
        substream: if auto { None } else { p.u64("substream")? },
        temporal: p.u64("temporal")?,
        fallback_us: p.u64("fallback")?,
        auto,
    })
}

/// Subscriber `configure`: `streams[{mid, send?, substream?, temporal?,
/// fallback?}]`, and top-level layer fields (the Janus demo's form) for
/// every stream.
pub fn configure_streams(p: &Params) -> Result<Vec<StreamConfig>, VideoRoomError> {
    let mut streams = Vec::new();
    let top = layer_request(p)?;
    if !top.is_empty() {
        streams.push(StreamConfig {
            mid: None,
            send: None,
            layers: top,
        });
    }
    for v in p.array("streams")?.into_iter().flatten() {
        let Value::Object(m) = v else {
            return Err(VideoRoomError::InvalidElement(
                "streams".into(),
                "an array of objects".into(),
            ));
        };
        let sp = Params::new(m, p.string_ids());
        streams.push(StreamConfig {
            mid: Some(sp.req_str("mid")?.to_owned()),
            send: sp.bool("send")?,
            layers: layer_request(&sp)?,
        });
    }
    Ok(streams)
}

/// `publish`/`configure`/`joinandconfigure` of a publisher.
pub fn publish_params(p: &Params, is_publish: bool) -> Result<PublishParams, VideoRoomError> {
    let mut descriptions = Vec::new();
    for v in p.array("descriptions")?.into_iter().flatten() {
        if let Value::Object(m) = v {
            let dp = Params::new(m, false);
            descriptions.push((
                dp.req_str("mid")?.to_owned(),
                dp.req_str("description")?.to_owned(),
            ));
        }
    }
    // Accepted and type-checked for clients that send them; nothing acts
    // on them yet (no REMB, one codec per kind per room).
    p.u64("bitrate")?;
    p.str("audiocodec")?;
    p.str("videocodec")?;
    Ok(PublishParams {
        display: p.str("display")?.map(str::to_owned),
        metadata: p.raw("metadata").cloned(),
        descriptions,
        keyframe: p.bool("keyframe")?.unwrap_or(false),
        record: p.bool("record")?,
        filename: p.str("filename")?.map(str::to_owned),
        secret: p.str("secret")?.map(str::to_owned),
        is_publish,
    })
}

/// `moderate`: `secret?`, `id`, `mid`, `mute`.
pub fn moderate(p: &Params) -> Result<(Option<String>, Id, String, bool), VideoRoomError> {
    let mute = p
        .bool("mute")?
        .ok_or_else(|| VideoRoomError::MissingElement("mute".into()))?;
    Ok((
        secret(p)?,
        p.req_id("id")?,
        p.req_str("mid")?.to_owned(),
        mute,
    ))
}

/// `add_ingest`: `url` (rtsp:// or rtmp://), `id`, `display`,
/// `rtsp_reconnect_delay` (s, the first back-off; Janus streaming's name),
/// `bufferkf` (the keyframe cache, on by default).
pub fn add_ingest(p: &Params) -> Result<IngestParams, VideoRoomError> {
    let url = p.req_str("url")?;
    let spec = SourceSpec::from_url(url).map_err(|_| {
        VideoRoomError::InvalidElement("url".into(), "an rtsp:// or rtmp:// URL".into())
    })?;
    let reconnect_delay = p.u64("rtsp_reconnect_delay")?.map(Duration::from_secs);
    Ok(IngestParams {
        spec,
        id: p.id("id")?,
        display: p.str("display")?.map(str::to_owned),
        reconnect_delay,
        keyframe_cache: p.bool("bufferkf").ok().flatten().unwrap_or(true),
    })
}

/// `start_rtmp`: `url` (rtmp:// or rtmps://) and `source` (`"mix"`, the
/// default, or a feed id).
pub fn start_rtmp(p: &Params) -> Result<(String, EgressSource), VideoRoomError> {
    let url = p.req_str("url")?;
    let lower = url.to_ascii_lowercase();
    if !lower.starts_with("rtmp://") && !lower.starts_with("rtmps://") {
        return Err(VideoRoomError::InvalidElement(
            "url".into(),
            "an rtmp:// URL".into(),
        ));
    }
    let source = match p.raw("source") {
        None => EgressSource::Mix,
        Some(Value::String(s)) if s == "mix" => EgressSource::Mix,
        Some(_) => EgressSource::Feed(p.req_feed("source")?),
    };
    Ok((url.to_owned(), source))
}

/// `set_layout`: `layout` (`grid`, `speaker`, `custom`) and, for custom,
/// `regions[{feed,x,y,w,h,z?}]` in mix pixels.
pub fn layout(p: &Params) -> Result<Layout, VideoRoomError> {
    let name = p.req_str("layout")?;
    if name != "custom" {
        return Layout::from_name(name).ok_or_else(|| {
            VideoRoomError::InvalidElement("layout".into(), "grid, speaker or custom".into())
        });
    }
    let regions = p
        .array("regions")?
        .ok_or_else(|| VideoRoomError::MissingElement("regions".into()))?;
    let mut out = Vec::new();
    for r in regions {
        let Value::Object(m) = r else {
            return Err(VideoRoomError::InvalidElement(
                "regions".into(),
                "an array of objects".into(),
            ));
        };
        let rp = Params::new(m, p.string_ids());
        let feed = rp.req_id("feed")?;
        let num = |k: &str| -> Result<i32, VideoRoomError> {
            let v = rp
                .u64(k)?
                .ok_or_else(|| VideoRoomError::MissingElement(k.into()))?;
            i32::try_from(v)
                .map_err(|_| VideoRoomError::InvalidElement(k.into(), "a pixel coordinate".into()))
        };
        let z = rp.u64("z")?.unwrap_or(0) as u32;
        out.push((
            feed.to_string(),
            Rect {
                x: num("x")?,
                y: num("y")?,
                w: num("w")?,
                h: num("h")?,
                z,
            },
        ));
    }
    Ok(Layout::Custom(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Map, json};

    fn body(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    fn code<T>(r: Result<T, VideoRoomError>) -> u16 {
        r.err().map_or(0, |e| e.code())
    }

    #[test]
    fn the_table_names_every_request_once() {
        for (name, r, _) in TABLE {
            assert_eq!(r.name(), *name);
            assert_eq!(Request::lookup(name).map(|(x, _)| x), Some(*r));
        }
        assert_eq!(Request::lookup("kick"), Some((Request::Kick, Route::Sync)));
        assert_eq!(Request::lookup("join"), Some((Request::Join, Route::Async)));
        assert_eq!(Request::lookup("dance"), None);
    }

    #[test]
    fn streams_and_feeds() {
        let b = body(json!({"streams": [{"feed": 5, "mid": "a"}, {"feed": 0}]}));
        let p = Params::new(&b, false);
        let s = stream_requests(&p, "streams").unwrap();
        assert_eq!(
            s[0],
            StreamRequest {
                feed: Id::Num(5),
                mid: Some("a".into()),
                layers: Default::default(),
            }
        );
        assert_eq!(s[1].feed, Id::Num(0), "0 is the mix");
        let b = body(json!({"streams": [5]}));
        assert_eq!(
            code(stream_requests(&Params::new(&b, false), "streams")),
            430
        );
        let b = body(json!({"streams": [{"mid": "a"}]}));
        assert_eq!(
            code(stream_requests(&Params::new(&b, false), "streams")),
            429
        );
        let b = body(json!({}));
        assert!(
            stream_requests(&Params::new(&b, false), "streams")
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn unsubscribe_takes_feeds_and_sub_mids() {
        let b = body(json!({"streams": [{"feed": 5, "mid": "1"}, {"sub_mid": "3"}, {"feed": 6}]}));
        let (by_feed, sub_mids) = unsubscribe_requests(&Params::new(&b, false), "streams").unwrap();
        assert_eq!(by_feed.len(), 2);
        assert_eq!(by_feed[0].mid.as_deref(), Some("1"));
        assert_eq!(sub_mids, vec!["3".to_owned()]);
        for bad in [
            json!({"streams": [{"sub_mid": 3}]}),
            json!({"streams": [{}]}),
            json!({"streams": [7]}),
        ] {
            let b = body(bad.clone());
            let r = unsubscribe_requests(&Params::new(&b, false), "streams");
            assert!(matches!(code(r.map(|_| ())), 429 | 430), "{bad}");
        }
    }

    #[test]
    fn simulcast_layer_fields() {
        let b = body(
            json!({"streams": [{"feed": 5, "substream": 0, "temporal": 1, "fallback": 500000}]}),
        );
        let s = stream_requests(&Params::new(&b, false), "streams").unwrap();
        assert_eq!(
            s[0].layers,
            LayerRequest {
                substream: Some(0),
                temporal: Some(1),
                fallback_us: Some(500_000),
                auto: false
            }
        );
        let b = body(json!({"streams": [{"mid": "1", "substream": "auto"}]}));
        let c = configure_streams(&Params::new(&b, false)).unwrap();
        assert_eq!((c[0].layers.auto, c[0].layers.substream), (true, None));
        assert!(!c[0].layers.is_empty());
        // configure: top level (the Janus demo) and per stream (janode).
        let b =
            body(json!({"substream": 2, "streams": [{"mid": "1", "substream": 0, "send": false}]}));
        let c = configure_streams(&Params::new(&b, false)).unwrap();
        assert_eq!(c[0].mid, None);
        assert_eq!(c[0].layers.substream, Some(2));
        assert_eq!(c[1].mid.as_deref(), Some("1"));
        assert_eq!((c[1].send, c[1].layers.substream), (Some(false), Some(0)));
        // Wrong types: Janus.s 430 (invalid element); negative is no index.
        for bad in [
            json!({"substream": "high"}),
            json!({"temporal": -1}),
            json!({"streams": [{"mid": "1", "fallback": true}]}),
        ] {
            let b = body(bad.clone());
            assert_eq!(
                code(configure_streams(&Params::new(&b, false))),
                430,
                "{bad}"
            );
        }
        // No layer fields: nothing to change.
        let b = body(json!({"request": "configure"}));
        assert!(
            configure_streams(&Params::new(&b, false))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn publish_params_type_check() {
        let b = body(
            json!({"display": "a", "record": true, "descriptions": [{"mid": "0", "description": "cam"}]}),
        );
        let pp = publish_params(&Params::new(&b, false), true).unwrap();
        assert_eq!(pp.display.as_deref(), Some("a"));
        assert_eq!(pp.record, Some(true));
        assert_eq!(pp.descriptions, vec![("0".into(), "cam".into())]);
        for bad in [
            json!({"bitrate": "fast"}),
            json!({"keyframe": 1}),
            json!({"display": 5}),
            json!({"videocodec": 8}),
        ] {
            assert_eq!(
                code(publish_params(
                    &Params::new(&body(bad.clone()), false),
                    false
                )),
                430,
                "{bad}"
            );
        }
    }

    #[test]
    fn moderate_rtmp_ingest_and_layout() {
        let b = body(json!({"id": 3, "mid": "a"}));
        assert_eq!(
            code(moderate(&Params::new(&b, false))),
            429,
            "mute is required"
        );
        let b = body(json!({"id": 3, "mid": "a", "mute": true, "secret": "s"}));
        assert_eq!(
            moderate(&Params::new(&b, false)).unwrap(),
            (Some("s".into()), Id::Num(3), "a".into(), true)
        );
        let b = body(json!({"url": "rtmp://h/app/key"}));
        assert_eq!(
            start_rtmp(&Params::new(&b, false)).unwrap().1,
            EgressSource::Mix
        );
        let b = body(json!({"url": "rtmp://h/app/key", "source": 7}));
        assert_eq!(
            start_rtmp(&Params::new(&b, false)).unwrap().1,
            EgressSource::Feed(Id::Num(7))
        );
        let b = body(json!({"url": "http://h"}));
        assert_eq!(code(start_rtmp(&Params::new(&b, false))), 430);
        let b = body(json!({"url": "ftp://x"}));
        assert_eq!(code(add_ingest(&Params::new(&b, false))), 430);
        let b = body(json!({"url": "rtsp://cam/x", "rtsp_reconnect_delay": 2}));
        let i = add_ingest(&Params::new(&b, false)).unwrap();
        assert_eq!(i.reconnect_delay, Some(Duration::from_secs(2)));
        assert!(i.keyframe_cache);
        let b = body(
            json!({"layout": "custom", "regions": [{"feed": 1, "x": 0, "y": 0, "w": 10, "h": 10}]}),
        );
        assert!(
            matches!(layout(&Params::new(&b, false)).unwrap(), Layout::Custom(r) if r.len() == 1)
        );
        let b =
            body(json!({"layout": "custom", "regions": [{"feed": 1, "x": 0, "y": 0, "w": 10}]}));
        assert_eq!(code(layout(&Params::new(&b, false))), 429);
        let b = body(json!({"layout": "mosaic"}));
        assert_eq!(code(layout(&Params::new(&b, false))), 430);
    }
}

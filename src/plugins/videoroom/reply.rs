//! The videoroom's wire shapes: room results and notices as
//! `{"videoroom": …}` JSON (shapes from the doc header of Janus's
//! `janus_videoroom.c`, plus this gateway's extensions). The only place
//! that knows them; `tests/golden/videoroom.json` pins them.

use serde_json::{Map, Value, json};

use crate::ids::Id;
use crate::janus::{Jsep, SdpType};
use crate::media::codec::Codec;
use crate::plugins::HandleEvent;
use crate::room::config::RoomConfig;
use crate::room::mcu::Mode;
use crate::room::record::RecordingInfo;
use crate::room::{
    EgressInfo, EgressSource, IngestStatus, Joined, Notice, Offered, ParticipantInfo, Published,
    PublishedStream, PublisherInfo, RecordingState, Role,
};

/// The profile-level-id of the only H.264 the gateway forwards
/// (constrained baseline 3.1, what Janus reports for it too).
const H264_PROFILE: &str = "42e01f";

/// `{"videoroom": kind, "room": room}` plus `more`.
fn shape(kind: &str, room: &Id, more: Value) -> Value {
    let mut v = json!({"videoroom": kind, "room": room.to_json()});
    if let (Value::Object(m), Value::Object(extra)) = (&mut v, more) {
        m.extend(extra);
    }
    v
}

/// `{"videoroom": "event", "room": room, …more}`.
fn event(room: &Id, more: Value) -> Value {
    shape("event", room, more)
}

/// `{"videoroom": "success"}` plus `more`.
pub fn success(more: Value) -> Value {
    let mut v = json!({"videoroom": "success"});
    if let (Value::Object(m), Value::Object(extra)) = (&mut v, more) {
        m.extend(extra);
    }
    v
}

fn offer(sdp: String) -> Jsep {
    Jsep {
        kind: SdpType::Offer,
        sdp,
        trickle: None,
    }
}

/// One stream of a `publishers[]` entry (`moderated` only for real feeds).
fn published_stream(s: &PublishedStream) -> Value {
    let mut v = json!({"type": s.kind.as_str(), "mindex": s.mindex, "mid": s.mid, "codec": s.codec.janus_name()});
    if let Some(m) = s.moderated {
        v["moderated"] = json!(m);
    }
    if s.codec == Codec::H264 {
        v["h264_profile"] = json!(H264_PROFILE);
    }
    if let Some(d) = &s.description {
        v["description"] = json!(d);
    }
    if s.simulcast.is_some() {
        v["simulcast"] = json!(true);
    }
    v
}

/// One `publishers[]` entry.
pub fn publisher(p: &PublisherInfo) -> Value {
    let streams: Vec<Value> = p.streams.iter().map(published_stream).collect();
    let mut v = json!({"id": p.id.to_json(), "streams": streams, "talking": p.talking});
    if let Some(d) = &p.display {
        v["display"] = json!(d);
    }
    if let Some(m) = &p.metadata {
        v["metadata"] = m.clone();
    }
    v
}

/// `joined`.
pub fn joined(room: &Id, j: &Joined) -> Value {
    let publishers: Vec<Value> = j.publishers.iter().map(publisher).collect();
    shape(
        "joined",
        room,
        json!({"description": j.description, "id": j.id.to_json(), "private_id": j.private_id, "publishers": publishers}),
    )
}

/// `configured`, with the negotiated streams and the answer after an offer.
pub fn configured(room: &Id, published: Option<Published>) -> (Value, Option<Jsep>) {
    let mut v = event(room, json!({"configured": "ok"}));
    let Some(p) = published else {
        return (v, None);
    };
    v["streams"] = Value::Array(p.streams.iter().map(published_stream).collect());
    if let Some(a) = p.audio_codec {
        v["audio_codec"] = json!(a.janus_name());
    }
    if let Some(c) = p.video_codec {
        v["video_codec"] = json!(c.janus_name());
    }
    (
        v,
        Some(Jsep {
            kind: SdpType::Answer,
            sdp: p.answer,
            trickle: None,
        }),
    )
}

/// `edited`.
pub fn edited(room: &Id) -> Value {
    shape("edited", room, json!({}))
}

/// `destroyed` (the reply, and the event everyone in the room gets).
pub fn destroyed(room: &Id) -> Value {
    shape("destroyed", room, json!({}))
}

/// `{"videoroom":"event","room",<what>: "ok"}`: `unpublished`, `paused`, `started`, `configured`.
pub fn ok(room: &Id, what: &str) -> Value {
    let mut more = Map::new();
    more.insert(what.into(), json!("ok"));
    event(room, Value::Object(more))
}

/// `leave`: `leaving` for a participant, `left` for a subscriber.
pub fn left(room: &Id, role: Role) -> Value {
    match role {
        Role::Publisher => ok(room, "leaving"),
        Role::Subscriber => ok(room, "left"),
    }
}

/// `participants`.
pub fn participants(room: &Id, list: &[ParticipantInfo]) -> Value {
    let list: Vec<Value> = list
        .iter()
        .map(|p| {
            let mut v =
                json!({"id": p.id.to_json(), "publisher": p.publisher, "talking": p.talking});
            if let Some(d) = &p.display {
                v["display"] = json!(d);
            }
            if let Some(m) = &p.metadata {
                v["metadata"] = m.clone();
            }
            v
        })
        .collect();
    shape("participants", room, json!({"participants": list}))
}

/// A subscription's `streams[]` (note Janus's `h264-profile` spelling here).
fn subscribed_streams(o: &Offered) -> Vec<Value> {
    o.streams
        .iter()
        .map(|st| {
            let mut v = json!({
                "mindex": st.mindex, "mid": st.mid, "type": st.kind.as_str(),
                "active": st.active, "feed_id": st.feed.to_json(), "feed_mid": st.feed_mid,
                "send": st.send, "codec": st.codec.janus_name(), "ready": false,
            });
            if let Some(d) = &st.feed_display {
                v["feed_display"] = json!(d);
            }
            if st.codec == Codec::H264 {
                v["h264-profile"] = json!(H264_PROFILE);
            }
            if let Some(sc) = &st.simulcast {
                // janus_videoroom.c: `simulcast{substream, substream-target,
                // temporal-layer, temporal-layer-target, fallback}`.
                let temporal = sc.temporal.map_or(json!(-1), |t| json!(t));
                v["simulcast"] = json!({
                    "substream": sc.substream.map_or(json!(-1), |s| json!(s)),
                    "substream-target": sc.target,
                    "temporal-layer": temporal,
                    "temporal-layer-target": temporal,
                    "fallback": sc.fallback_us,
                });
            }
            v
        })
        .collect()
}

/// `attached` (a new subscription) or `updated` (a renegotiation), with the offer.
pub fn offered(kind: &str, room: &Id, o: Offered) -> (Value, Option<Jsep>) {
    let v = shape(kind, room, json!({"streams": subscribed_streams(&o)}));
    (v, Some(offer(o.offer)))
}

/// A restream: `{id, url, source, state, failures}`.
pub fn egress(e: &EgressInfo) -> Value {
    let source = match &e.source {
        EgressSource::Mix => json!("mix"),
        EgressSource::Feed(id) => id.to_json(),
    };
    json!({"id": e.id, "url": e.url, "source": source, "state": e.state.as_str(), "failures": e.failures})
}

/// `list_ingests`: `{"videoroom":"success","ingests":[…],"restreams":[…],"viewers","encoders"}`.
pub fn ingest_status(st: &IngestStatus) -> Value {
    let ingests: Vec<Value> = st
        .ingests
        .iter()
        .map(|i| {
            let media: Vec<Value> = i
                .media
                .iter()
                .map(|m| {
                    json!({
                        "type": m.kind.as_str(), "codec": m.codec.janus_name(), "input": m.input,
                        "transcoded": m.transcoded, "age_ms": m.age_ms,
                    })
                })
                .collect();
            let mut v = json!({
                "id": i.id.to_json(), "type": i.source_type, "url": i.url, "state": i.state,
                "failures": i.failures, "media": media,
            });
            if let Some(d) = &i.display {
                v["display"] = json!(d);
            }
            v
        })
        .collect();
    let restreams: Vec<Value> = st.restreams.iter().map(egress).collect();
    success(
        json!({"ingests": ingests, "restreams": restreams, "viewers": st.viewers, "encoders": st.encoders}),
    )
}

/// A running recording: `{file, started}`.
pub fn recording_state(r: &RecordingState) -> Value {
    json!({"file": r.path.display().to_string(), "started": r.started_ms})
}

/// A `list_recordings` entry: `{file, room, feed, size (bytes), duration (s),
/// codecs[], started (ms since epoch)}`.
pub fn recording(r: &RecordingInfo) -> Value {
    let size = std::fs::metadata(&r.path).map(|m| m.len()).unwrap_or(0);
    json!({
        "file": r.path.display().to_string(),
        "room": r.room.to_json(),
        "feed": r.feed.as_ref().map_or_else(|| json!("mix"), Id::to_json),
        "size": size,
        "duration": r.duration_ms as f64 / 1000.0,
        "codecs": r.codecs,
        "started": r.started_ms,
    })
}

/// A recording in progress in `list_recordings`' `running`: as
/// [`recording`], with `duration` the seconds since it started.
pub fn running_recording(r: &RecordingInfo) -> Value {
    let mut v = recording(r);
    let now = crate::room::graph::record::now_ms();
    v["duration"] = json!(now.saturating_sub(r.started_ms) as f64 / 1000.0);
    v
}

fn codec_list(list: &[Codec]) -> String {
    list.iter()
        .map(|c| c.janus_name())
        .collect::<Vec<_>>()
        .join(",")
}

/// The entry `list` shows for a room (Janus field names); `extra` holds the
/// `create` keys stored as given.
pub fn list_entry(cfg: &RoomConfig, num_participants: usize, extra: &Map<String, Value>) -> Value {
    let mut v = json!({
        "room": cfg.room.to_json(),
        "description": cfg.description,
        "pin_required": cfg.pin.is_some(),
        "is_private": cfg.is_private,
        "max_publishers": cfg.max_publishers,
        "bitrate": cfg.bitrate,
        "fir_freq": cfg.fir_freq,
        "require_pvtid": cfg.require_pvtid,
        "notify_joining": cfg.notify_joining,
        "audiocodec": codec_list(&cfg.audiocodec),
        "videocodec": codec_list(&cfg.videocodec),
        "record": cfg.record,
        "lock_record": cfg.lock_record,
        "record_format": if cfg.record_webm { "webm" } else { "mp4" },
        "audiolevel_event": cfg.audiolevel_event,
        "keyframe_cache": cfg.keyframe_cache,
        "num_participants": num_participants,
        "mixing": cfg.mode.name(),
    });
    if cfg.mode != Mode::Sfu {
        v["mix_width"] = json!(cfg.mix.width);
        v["mix_height"] = json!(cfg.mix.height);
        v["mix_fps"] = json!(cfg.mix.fps);
        v["mix_bitrate"] = json!(cfg.mix.bitrate);
        v["mix_videocodec"] = json!(cfg.mix.codec.janus_name());
        v["layout"] = json!(cfg.layout.name());
    }
    if let Some(d) = &cfg.rec_dir {
        v["rec_dir"] = json!(d);
    }
    if cfg.audiolevel_event {
        v["audio_active_packets"] = json!(cfg.audio_active_packets);
        v["audio_level_average"] = json!(cfg.audio_level_average);
    }
    if let Value::Object(m) = &mut v {
        for (k, val) in extra {
            m.insert(k.clone(), val.clone());
        }
    }
    v
}

/// What a room notice is on the wire: a plugin event, or a Janus core event.
pub fn notice(room: &Id, n: Notice) -> HandleEvent {
    let plugin = |data: Value| HandleEvent::Plugin {
        transaction: None,
        data,
        jsep: None,
    };
    match n {
        Notice::Joining { id, display } => {
            let mut who = json!({"id": id.to_json()});
            if let Some(d) = display {
                who["display"] = json!(d);
            }
            plugin(event(room, json!({"joining": who})))
        }
        Notice::Publishers(list) => {
            let list: Vec<Value> = list.iter().map(publisher).collect();
            plugin(event(room, json!({"publishers": list})))
        }
        Notice::Unpublished { id } => plugin(event(room, json!({"unpublished": id.to_json()}))),
        Notice::Left {
            id,
            display,
            reason,
        } => {
            let mut v = event(room, json!({"leaving": id.to_json()}));
            if let Some(d) = display {
                v["display"] = json!(d);
            }
            if let Some(r) = reason {
                v["reason"] = json!(r);
            }
            plugin(v)
        }
        Notice::Kicked { id } => plugin(event(room, json!({"kicked": id.to_json()}))),
        Notice::KickedYou => plugin(event(room, json!({"leaving": "ok", "reason": "kicked"}))),
        Notice::Destroyed => plugin(destroyed(room)),
        Notice::Talking {
            id,
            mid,
            talking,
            average_dbov,
        } => plugin(shape(
            if talking {
                "talking"
            } else {
                "stopped-talking"
            },
            room,
            json!({"id": id.to_json(), "mid": mid, "audio-level-dBov-avg": average_dbov}),
        )),
        Notice::Moderated { id, mid, muted } => plugin(event(
            room,
            json!({"id": id.to_json(), "mid": mid, "moderation": if muted { "muted" } else { "unmuted" }}),
        )),
        Notice::Layer {
            mid,
            substream,
            temporal,
        } => {
            let mut more = json!({"mid": mid, "substream": substream});
            if let Some(t) = temporal {
                more["temporal"] = json!(t);
            }
            plugin(event(room, more))
        }
        Notice::Renegotiated(o) => {
            let (data, jsep) = offered("updated", room, o);
            HandleEvent::Plugin {
                transaction: None,
                data,
                jsep,
            }
        }
        Notice::IngestRetrying { id, retry_in } => plugin(event(
            room,
            json!({"ingest": {"id": id.as_ref().map(Id::to_json), "state": "retrying", "retry_in_ms": retry_in.as_millis() as u64}}),
        )),
        Notice::Egress(e) => plugin(event(room, json!({"rtmp": egress(&e)}))),
        Notice::RecordingFailed {
            id, file, reason, ..
        } => {
            let mut r = json!({"state": "failed", "file": file, "reason": reason});
            if let Some(id) = id {
                r["id"] = id.to_json();
            }
            plugin(event(room, json!({"recording": r})))
        }
        Notice::WebrtcUp => HandleEvent::WebrtcUp,
        Notice::Media {
            mid,
            kind,
            receiving,
        } => HandleEvent::Media {
            mid,
            kind,
            receiving,
        },
        Notice::Hangup { reason } => HandleEvent::Hangup {
            reason: reason.into(),
        },
        Notice::LocalCandidate(c) => HandleEvent::Trickle(c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::codec::MediaKind;

    fn alice() -> PublisherInfo {
        PublisherInfo {
            id: Id::Num(5),
            display: Some("alice".into()),
            metadata: None,
            streams: vec![PublishedStream {
                kind: MediaKind::Video,
                mindex: 0,
                mid: "v".into(),
                codec: Codec::H264,
                moderated: Some(false),
                description: Some("cam".into()),
                simulcast: None,
            }],
            talking: false,
        }
    }

    #[test]
    fn publisher_entry() {
        assert_eq!(
            publisher(&alice()),
            json!({"id": 5, "display": "alice", "talking": false, "streams": [
                {"type": "video", "mindex": 0, "mid": "v", "codec": "h264", "moderated": false,
                 "h264_profile": "42e01f", "description": "cam"}]})
        );
    }

    /// Janus's simulcast shapes: `"simulcast": true` on a publisher stream,
    /// `simulcast{…}` on a subscription's stream, and the layer event.
    #[test]
    fn simulcast_shapes() {
        let mut a = alice();
        a.streams[0].simulcast = Some(3);
        assert_eq!(publisher(&a)["streams"][0]["simulcast"], true);
        let o = Offered {
            streams: vec![crate::room::SubscribedStream {
                mindex: 0,
                mid: "0".into(),
                kind: MediaKind::Video,
                active: true,
                feed: Id::Num(5),
                feed_mid: "v".into(),
                feed_display: None,
                send: true,
                codec: Codec::Vp8,
                simulcast: Some(crate::room::SimulcastState {
                    substream: Some(0),
                    target: 2,
                    temporal: None,
                    fallback_us: 250_000,
                }),
            }],
            offer: "v=0".into(),
        };
        assert_eq!(
            subscribed_streams(&o)[0]["simulcast"],
            json!({"substream": 0, "substream-target": 2, "temporal-layer": -1,
                   "temporal-layer-target": -1, "fallback": 250_000})
        );
        let HandleEvent::Plugin { data, .. } = notice(
            &Id::Num(9),
            Notice::Layer {
                mid: "0".into(),
                substream: 2,
                temporal: Some(1),
            },
        ) else {
            panic!("not a plugin event")
        };
        assert_eq!(
            data,
            json!({"videoroom": "event", "room": 9, "mid": "0", "substream": 2, "temporal": 1})
        );
    }

    #[test]
    fn notices_are_videoroom_events() {
        let room = Id::Num(9);
        let data = |e: HandleEvent| match e {
            HandleEvent::Plugin { data, .. } => data,
            other => panic!("not a plugin event: {other:?}"),
        };
        assert_eq!(
            data(notice(&room, Notice::KickedYou)),
            json!({"videoroom": "event", "room": 9, "leaving": "ok", "reason": "kicked"})
        );
        assert_eq!(
            data(notice(
                &room,
                Notice::Left {
                    id: Id::Num(5),
                    display: None,
                    reason: Some("kicked")
                }
            )),
            json!({"videoroom": "event", "room": 9, "leaving": 5, "reason": "kicked"})
        );
        assert_eq!(
            data(notice(&room, Notice::Destroyed)),
            json!({"videoroom": "destroyed", "room": 9})
        );
        assert_eq!(
            data(notice(
                &room,
                Notice::Talking {
                    id: Id::Num(5),
                    mid: Some("a".into()),
                    talking: false,
                    average_dbov: 40.0
                }
            )),
            json!({"videoroom": "stopped-talking", "room": 9, "id": 5, "mid": "a", "audio-level-dBov-avg": 40.0})
        );
        assert!(matches!(
            notice(&room, Notice::Hangup { reason: "ICE failed" }),
            HandleEvent::Hangup { reason } if reason == "ICE failed"
        ));
    }

    #[test]
    fn configure_without_offer_has_no_jsep() {
        let (v, jsep) = configured(&Id::Num(1), None);
        assert_eq!(
            v,
            json!({"videoroom": "event", "room": 1, "configured": "ok"})
        );
        assert!(jsep.is_none());
        let (v, jsep) = configured(
            &Id::Num(1),
            Some(Published {
                streams: alice().streams,
                audio_codec: None,
                video_codec: Some(Codec::H264),
                answer: "v=0".into(),
            }),
        );
        assert_eq!(v["video_codec"], "h264");
        assert!(v.get("audio_codec").is_none());
        assert_eq!(jsep.map(|j| j.kind), Some(SdpType::Answer));
    }
}

/// `handle_info`'s `plugin_specific` object for a videoroom handle, in the
/// spirit of Janus's `query_session` (`type` publisher, subscriber or none).
pub fn member_info(room: Option<&crate::ids::RoomId>, info: &crate::room::MemberInfo) -> Value {
    use crate::room::Role;
    match info.role {
        None => json!({"type": "none"}),
        Some(Role::Publisher) => {
            let mut v = json!({
                "type": "publisher",
                "room": room.map(Id::to_json),
                "id": info.id.as_ref().map(crate::ids::Id::to_json),
                "display": info.display,
                "streams": info.published.iter().map(|s| json!({
                    "type": s.kind.as_str(), "mindex": s.mindex, "mid": s.mid,
                    "codec": s.codec.janus_name(), "moderated": s.moderated,
                    "simulcast": s.simulcast.is_some(),
                })).collect::<Vec<_>>(),
            });
            if let Some(l) = info.mix_substream {
                v["mix_substream"] = json!(l);
            }
            v
        }
        Some(Role::Subscriber) => json!({
            "type": "subscriber",
            "room": room.map(Id::to_json),
            "paused": info.paused,
            "streams": info.subscribed.iter().map(|(mid, feed, feed_mid)| json!({
                "mid": mid, "feed_id": feed.to_json(), "feed_mid": feed_mid,
            })).collect::<Vec<_>>(),
        }),
    }
}

/// The event handler's view of a videoroom event (Janus's videoroom
/// `notify_event` names): `joined`, `published` (a `configured` that
/// answered an offer), `configured`, `unpublished`, `leaving`, `left`,
/// `subscribing`. `None` for what Janus does not report.
pub fn handler_event(data: &Value, jsep: Option<&Jsep>) -> Option<Value> {
    let room = data.get("room").cloned().unwrap_or(Value::Null);
    let ev = |name: &str| json!({"event": name, "room": room});
    let mut out = match data["videoroom"].as_str()? {
        "joined" => {
            let mut v = ev("joined");
            v["id"] = data["id"].clone();
            v["private_id"] = data["private_id"].clone();
            v
        }
        "attached" => ev("subscribing"),
        "event" if data["configured"] == "ok" => {
            let answered = jsep.is_some_and(|j| j.kind == SdpType::Answer);
            let mut v = ev(if answered { "published" } else { "configured" });
            if let Some(s) = data.get("streams") {
                v["streams"] = s.clone();
            }
            v
        }
        "event" if data["unpublished"] == "ok" => ev("unpublished"),
        "event" if data["leaving"] == "ok" => ev("leaving"),
        "event" if data["left"] == "ok" => ev("left"),
        _ => return None,
    };
    if room.is_null() {
        out.as_object_mut()?.remove("room");
    }
    Some(out)
}

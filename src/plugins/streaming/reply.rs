//! The streaming plugin's wire shapes (Janus `janus_streaming.c` doc
//! header): a mountpoint's `list`/`info` entry, and the few notices of a
//! mountpoint's room that mean something to a viewer, as
//! `{"streaming":"event","result":{"status":…}}`. `tests/golden/streaming.json`
//! pins them.

use serde_json::{Value, json};

use crate::janus::{Jsep, SdpType};
use crate::media::codec::MediaKind;
use crate::plugins::HandleEvent;
use crate::room::{IngestStatus, Notice};

/// `{"streaming":"event","result":{"status": status}}`.
pub fn status(status: &str) -> Value {
    json!({"streaming": "event", "result": {"status": status}})
}

/// What a viewer hears of its mountpoint room's `notice`: a status event
/// (with a core event before it for `webrtcup`), a core event, or nothing
/// (room chatter such as publishers or talking means nothing to a viewer).
pub fn notice(n: Notice) -> Vec<HandleEvent> {
    let plugin = |data: Value, jsep: Option<Jsep>| HandleEvent::Plugin {
        transaction: None,
        data,
        jsep,
    };
    match n {
        Notice::Destroyed | Notice::Left { .. } | Notice::KickedYou => {
            vec![plugin(status("stopped"), None)]
        }
        Notice::Renegotiated(o) => vec![plugin(
            status("updating"),
            Some(Jsep {
                kind: SdpType::Offer,
                sdp: o.offer,
                trickle: None,
            }),
        )],
        Notice::WebrtcUp => vec![HandleEvent::WebrtcUp, plugin(status("started"), None)],
        Notice::Media {
            mid,
            kind,
            receiving,
        } => vec![HandleEvent::Media {
            mid,
            kind,
            receiving,
        }],
        Notice::Hangup { reason } => vec![HandleEvent::Hangup {
            reason: reason.into(),
        }],
        Notice::LocalCandidate(c) => vec![HandleEvent::Trickle(c)],
        _ => vec![],
    }
}

/// What a mountpoint shows in `list` (`full: false`) and `info` (`full`),
/// from its settings (`base`: id, type, description, enabled, metadata, and
/// with `full` name, is_private and the source's type and URL) and its
/// room's ingest status.
pub fn describe(id: u64, mut base: Value, status: Option<&IngestStatus>, full: bool) -> Value {
    let ingest = status.and_then(|s| s.ingests.first());
    let media: Vec<Value> = ingest
        .map(|i| {
            i.media
                .iter()
                .enumerate()
                .map(|(n, s)| {
                    let kind = s.kind.as_str();
                    let mut v = json!({
                        "mindex": n, "mid": n.to_string(), "type": kind,
                        "label": kind, "msid": format!("janus{id}"),
                        "age_ms": s.age_ms,
                    });
                    if full {
                        v["codec"] = json!(s.codec.janus_name());
                        v["pt"] = json!(if s.kind == MediaKind::Video { 96 } else { 111 });
                        v["input"] = json!(s.input);
                        v["transcoded"] = json!(s.transcoded);
                    }
                    v
                })
                .collect()
        })
        .unwrap_or_default();
    base["media"] = Value::Array(media);
    if full {
        base["viewers"] = status.map_or(Value::Null, |s| json!(s.viewers));
        base["encoders"] = status.map_or(Value::Null, |s| json!(s.encoders));
        base["source"]["state"] = ingest.map_or(Value::Null, |i| json!(i.state));
        base["source"]["failures"] = ingest.map_or(Value::Null, |i| json!(i.failures));
    }
    base
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn viewers_hear_status_and_core_events_only() {
        assert!(
            notice(Notice::Kicked {
                id: crate::ids::Id::Num(1)
            })
            .is_empty()
        );
        let up = notice(Notice::WebrtcUp);
        assert!(matches!(up[0], HandleEvent::WebrtcUp));
        assert!(matches!(&up[1], HandleEvent::Plugin { data, .. } if *data == status("started")));
        let gone = notice(Notice::Destroyed);
        assert!(
            matches!(&gone[0], HandleEvent::Plugin { data, .. } if data["result"]["status"] == "stopped")
        );
    }

    #[test]
    fn a_room_without_status_describes_empty_media() {
        let v = describe(3, json!({"id": 3, "source": {"type": "rtp"}}), None, true);
        assert_eq!(v["media"], json!([]));
        assert_eq!(v["viewers"], Value::Null);
        assert_eq!(
            v["source"],
            json!({"type": "rtp", "state": null, "failures": null})
        );
    }

    fn golden(step: &str) -> Value {
        let steps: Vec<Value> =
            serde_json::from_str(include_str!("../../../tests/golden/streaming.json")).unwrap();
        steps
            .into_iter()
            .find(|s| s["step"] == step)
            .map(|s| s["data"].clone())
            .unwrap_or_else(|| panic!("no step '{step}'"))
    }

    #[test]
    fn status_events_and_room_errors_match_the_goldens() {
        for (step, status_name) in [
            ("pause", "pausing"),
            ("start again", "starting"),
            ("stop", "stopping"),
        ] {
            assert_eq!(status(status_name), golden(step), "{step}");
        }
        let started = notice(Notice::WebrtcUp);
        assert!(
            matches!(&started[1], HandleEvent::Plugin { data, .. } if *data == golden("viewer started"))
        );
        // A room's refusal, in streaming codes.
        let e = crate::plugins::streaming::error::StreamingError::from(
            crate::room::RoomError::invalid("mid", "an existing mid (no '0')"),
        );
        assert_eq!(e.to_json(), golden("configure"));
        let e = crate::plugins::streaming::error::StreamingError::from(
            crate::room::RoomError::AlreadyJoined(crate::room::Role::Subscriber),
        );
        assert_eq!(e.code(), 460);
        assert_eq!(e.to_string(), "Invalid state: already watching");
    }
}

//! The videoroom's reply and event shapes and its error codes, checked
//! without GStreamer or a network against the wire goldens captured from
//! the running gateway (`tests/golden/videoroom.json`, `mcu.json`). Typed
//! room results and notices are built by hand with the goldens' placeholder
//! ids (`<room>`, `<A>`, …) and must come out as the recorded JSON.

use serde_json::{Map, Value, json};

use super::error::VideoRoomError;
use super::reply;
use crate::ids::Id;
use crate::media::codec::{Codec, MediaKind};
use crate::plugins::HandleEvent;
use crate::plugins::dispatch::RequestError;
use crate::room::config::RoomConfig;
use crate::room::{
    IngestStatus, Joined, Notice, Offered, ParticipantInfo, Published, PublishedStream,
    PublisherInfo, Role, RoomError, SubscribedStream,
};

fn golden(file: &str, step: &str) -> Value {
    let text = match file {
        "videoroom" => include_str!("../../../tests/golden/videoroom.json"),
        "mcu" => include_str!("../../../tests/golden/mcu.json"),
        other => panic!("no golden {other}"),
    };
    let steps: Vec<Value> = serde_json::from_str(text).expect("golden parses");
    steps
        .into_iter()
        .find(|s| s["step"] == step)
        .map(|s| s["data"].clone())
        .unwrap_or_else(|| panic!("no step '{step}' in {file}.json"))
}

/// A plugin event's data, with its JSEP as the golden test records it.
fn data(e: HandleEvent) -> Value {
    match e {
        HandleEvent::Plugin {
            data, jsep: None, ..
        } => data,
        HandleEvent::Plugin {
            data,
            jsep: Some(j),
            ..
        } => with_jsep(data, j),
        other => panic!("not a plugin event: {other:?}"),
    }
}

fn with_jsep(data: Value, j: crate::janus::Jsep) -> Value {
    let kind = match j.kind {
        crate::janus::SdpType::Offer => "offer",
        crate::janus::SdpType::Answer => "answer",
    };
    json!({"data": data, "jsep": {"type": kind, "sdp": "<sdp>"}})
}

/// Volatile values the golden test replaced.
fn normalized(mut v: Value) -> Value {
    if let Value::Object(m) = &mut v {
        for (k, val) in m.iter_mut() {
            match k.as_str() {
                "talking" if val.is_boolean() => *val = json!("<talking>"),
                "private_id" => *val = json!("<private_id>"),
                _ => *val = normalized(val.take()),
            }
        }
    } else if let Value::Array(a) = &mut v {
        for x in a.iter_mut() {
            *x = normalized(x.take());
        }
    }
    v
}

fn id(label: &str) -> Id {
    Id::Str(format!("<{label}>"))
}

fn room() -> Id {
    id("room")
}

fn stream(
    kind: MediaKind,
    mindex: u32,
    mid: &str,
    codec: Codec,
    moderated: bool,
) -> PublishedStream {
    PublishedStream {
        kind,
        mindex,
        mid: mid.into(),
        codec,
        moderated: Some(moderated),
        description: None,
        simulcast: None,
    }
}

fn alice_streams(audio_muted: bool) -> Vec<PublishedStream> {
    vec![
        stream(MediaKind::Video, 0, "video0", Codec::Vp8, false),
        stream(MediaKind::Audio, 1, "audio1", Codec::Opus, audio_muted),
    ]
}

fn alice(display: &str, audio_muted: bool) -> PublisherInfo {
    PublisherInfo {
        id: id("A"),
        display: Some(display.into()),
        metadata: None,
        streams: alice_streams(audio_muted),
        talking: false,
    }
}

fn subscription(active: bool, video_send: bool) -> Offered {
    let sub = |mindex, mid: &str, kind, codec, send| SubscribedStream {
        mindex,
        mid: mid.into(),
        kind,
        active,
        feed: id("A"),
        feed_mid: mid.into(),
        feed_display: Some("alice".into()),
        send,
        codec,
        simulcast: None,
    };
    Offered {
        streams: vec![
            sub(0, "video0", MediaKind::Video, Codec::Vp8, video_send),
            sub(1, "audio1", MediaKind::Audio, Codec::Opus, true),
        ],
        offer: "v=0".into(),
    }
}

#[test]
fn replies_match_the_goldens() {
    let r = room();
    let joined = |description: &str, id: Id| Joined {
        id,
        private_id: 1,
        description: description.into(),
        publishers: vec![],
    };
    let cases: Vec<(&str, Value)> = vec![
        ("edit", reply::edited(&r)),
        ("join B", reply::joined(&r, &joined("golden 2", id("B")))),
        ("join A", reply::joined(&r, &joined("golden 2", id("A")))),
        (
            "publish A",
            data(HandleEvent::Plugin {
                transaction: None,
                data: reply::configured(
                    &r,
                    Some(Published {
                        streams: alice_streams(false),
                        audio_codec: Some(Codec::Opus),
                        video_codec: Some(Codec::Vp8),
                        answer: "v=0".into(),
                    }),
                )
                .0,
                jsep: None,
            }),
        ),
        (
            "listparticipants",
            reply::participants(
                &r,
                &[
                    ParticipantInfo {
                        id: id("A"),
                        display: Some("alice".into()),
                        metadata: None,
                        publisher: true,
                        talking: false,
                    },
                    ParticipantInfo {
                        id: id("B"),
                        display: Some("bob".into()),
                        metadata: None,
                        publisher: false,
                        talking: false,
                    },
                ],
            ),
        ),
        (
            "attached",
            reply::offered("attached", &r, subscription(true, true)).0,
        ),
        ("S pause", reply::ok(&r, "paused")),
        ("S start again", reply::ok(&r, "started")),
        ("S configure", reply::ok(&r, "configured")),
        ("A configure display", reply::configured(&r, None).0),
        (
            "list_ingests",
            reply::ingest_status(&IngestStatus {
                ingests: vec![],
                restreams: vec![],
                viewers: 1,
                encoders: 0,
            }),
        ),
        ("S unsubscribe", {
            let (d, j) = reply::offered("updated", &r, subscription(false, false));
            with_jsep(d, j.expect("an offer"))
        }),
        ("S leave", reply::left(&r, Role::Subscriber)),
        ("kick B", reply::success(json!({}))),
        ("moderate mute", reply::success(json!({}))),
        ("A unpublish", reply::ok(&r, "unpublished")),
        ("A leave", reply::left(&r, Role::Publisher)),
        ("destroy", reply::destroyed(&r)),
    ];
    for (step, got) in cases {
        let want = golden("videoroom", step);
        let got = normalized(got);
        // `list_ingests` counts the room's encoders: a value the golden hides.
        let want = if step == "list_ingests" {
            let mut w = want;
            w["encoders"] = json!(0);
            w
        } else {
            want
        };
        assert_eq!(got, want, "step '{step}'");
    }
}

#[test]
fn notices_match_the_goldens() {
    let r = room();
    let cases: Vec<(&str, Notice)> = vec![
        (
            "B hears A joining",
            Notice::Joining {
                id: id("A"),
                display: Some("alice".into()),
            },
        ),
        (
            "B hears A publishing",
            Notice::Publishers(vec![alice("alice", false)]),
        ),
        (
            "B hears A's new display",
            Notice::Publishers(vec![alice("alice 2", false)]),
        ),
        (
            "B hears moderation",
            Notice::Moderated {
                id: id("A"),
                mid: "audio1".into(),
                muted: true,
            },
        ),
        (
            "B hears A muted",
            Notice::Publishers(vec![alice("alice 2", true)]),
        ),
        ("B hears it was kicked", Notice::KickedYou),
        ("A hears B kicked", Notice::Kicked { id: id("B") }),
        (
            "A hears B leaving",
            Notice::Left {
                id: id("B"),
                display: Some("bob".into()),
                reason: Some("kicked"),
            },
        ),
        ("C hears destroyed", Notice::Destroyed),
    ];
    for (step, notice) in cases {
        assert_eq!(
            normalized(data(reply::notice(&r, notice))),
            golden("videoroom", step),
            "step '{step}'"
        );
    }
    // A core event: what the core adds (session, sender) the golden hides.
    let hangup = reply::notice(
        &r,
        Notice::Hangup {
            reason: "Unpublished",
        },
    );
    let h = crate::ids::HandleId {
        session_id: 1,
        handle_id: 2,
    };
    let mut v = hangup.to_json(h, super::PLUGIN);
    v["session_id"] = json!("<janus>");
    v["sender"] = json!("<janus>");
    assert_eq!(v, golden("videoroom", "A hangup"));
}

#[test]
fn the_mix_is_listed_as_a_feed_without_moderation() {
    let mix = PublisherInfo {
        id: Id::Num(0),
        display: Some("Mix".into()),
        metadata: None,
        streams: vec![
            PublishedStream {
                moderated: None,
                ..stream(MediaKind::Audio, 0, "mix-a", Codec::Opus, false)
            },
            PublishedStream {
                moderated: None,
                ..stream(MediaKind::Video, 1, "mix-v", Codec::H264, false)
            },
        ],
        talking: false,
    };
    let j = Joined {
        id: id("A"),
        private_id: 1,
        description: "Room <room>".into(),
        publishers: vec![mix],
    };
    let got = normalized(reply::joined(&room(), &j));
    // The golden's talking flag of the mix is a placeholder too.
    assert_eq!(got, golden("mcu", "join"));
}

#[test]
fn the_list_entry_matches_the_golden() {
    let mut cfg = RoomConfig::new(room());
    cfg.description = "golden".into();
    cfg.secret = Some("s".into());
    cfg.max_publishers = 6;
    cfg.notify_joining = true;
    cfg.videocodec = vec![Codec::Vp8, Codec::H264];
    assert_eq!(
        reply::list_entry(&cfg, 0, &Map::new()),
        golden("videoroom", "list entry")
    );
}

/// Every room failure the goldens met, mapped to the videoroom's code and text.
#[test]
fn room_errors_match_the_goldens() {
    let cases: Vec<(&str, RoomError)> = vec![
        ("edit wrong secret", RoomError::Unauthorized("wrong secret")),
        (
            "S configure bad mid",
            RoomError::invalid("mid", "an existing mid (no 'nope')"),
        ),
        (
            "moderate unknown mid",
            RoomError::NoSuchFeed("<A> mid zz".into()),
        ),
        ("record_mix in SFU room", RoomError::NotMixing("record_mix")),
        ("set_layout in SFU room", RoomError::NotMixing("set_layout")),
        (
            "start_rtmp of the mix in SFU room",
            RoomError::invalid("source", "a feed id (this room does not mix)"),
        ),
        (
            "stop_rtmp unknown",
            RoomError::NoSuchFeed("restream 9".into()),
        ),
        ("remove_ingest unknown", RoomError::NoSuchFeed("77".into())),
        (
            "S update while an offer is pending",
            RoomError::OfferPending,
        ),
        ("kick unknown", RoomError::NoSuchFeed("999".into())),
        ("A unpublish again", RoomError::NotPublished),
        ("join D with C's id", RoomError::IdExists(id("C"))),
        (
            "C publishes an answer",
            RoomError::WrongSdpType("Publishers must send an SDP offer"),
        ),
        ("C publishes without jsep", RoomError::Missing("jsep")),
        ("join wrong pin", RoomError::Unauthorized("wrong pin")),
        (
            "subscribe without private_id",
            RoomError::Unauthorized("this room requires a valid private_id"),
        ),
        (
            "subscribe to an unknown feed",
            RoomError::NoSuchFeed("31337".into()),
        ),
        (
            "renegotiation with an offer of another session",
            RoomError::InvalidSdp("renegotiation: No fingerprint lines in sdp for media 0".into()),
        ),
        ("publish into a full room", RoomError::PublishersFull(1)),
    ];
    for (step, e) in cases {
        assert_eq!(
            VideoRoomError::from(e).to_json(),
            golden("videoroom", step),
            "step '{step}'"
        );
    }
}

/// The plugin's own refusals (before any room is asked).
#[test]
fn plugin_errors_match_the_goldens() {
    let cases: Vec<(&str, VideoRoomError)> = vec![
        ("create exists", VideoRoomError::RoomExists(room())),
        (
            "S configure as publisher request",
            VideoRoomError::InvalidRequest("unpublish (not valid for a subscriber)".into()),
        ),
        ("S join again", VideoRoomError::AlreadyJoined("subscriber")),
        ("C joins twice", VideoRoomError::AlreadyJoined("publisher")),
        (
            "C starts as publisher",
            VideoRoomError::InvalidRequest("start (not valid for a publisher)".into()),
        ),
        ("no request", VideoRoomError::missing("request")),
        (
            "request not a string",
            VideoRoomError::invalid("request", "a string"),
        ),
        ("unknown request", VideoRoomError::unknown("dance".into())),
        (
            "exists without room",
            VideoRoomError::MissingElement("room".into()),
        ),
        (
            "destroy unknown room",
            VideoRoomError::NoSuchRoom(Id::Num(4242)),
        ),
        ("configure before join", VideoRoomError::JoinFirst),
        (
            "join bad ptype",
            VideoRoomError::InvalidElement("ptype".into(), "publisher or subscriber".into()),
        ),
    ];
    for (step, e) in cases {
        assert_eq!(e.to_json(), golden("videoroom", step), "step '{step}'");
    }
}

/// Every variant has its Janus code (`janus_videoroom.c`, `JANUS_VIDEOROOM_ERROR_*`).
#[test]
fn every_error_has_its_janus_code() {
    let codes = [
        (RoomError::NotJoined, 424),
        (RoomError::AlreadyJoined(Role::Publisher), 425),
        (RoomError::NoSuchFeed("x".into()), 428),
        (RoomError::Missing("jsep"), 429),
        (RoomError::invalid("a", "b"), 430),
        (RoomError::WrongSdpType("x"), 431),
        (RoomError::PublishersFull(3), 432),
        (RoomError::Unauthorized("x"), 433),
        (RoomError::AlreadyPublished, 434),
        (RoomError::NotPublished, 435),
        (RoomError::IdExists(Id::Num(1)), 436),
        (RoomError::InvalidSdp("x".into()), 437),
        (RoomError::NotMixing("set_layout"), 423),
        (RoomError::OfferPending, 499),
        (RoomError::Busy, 499),
        (RoomError::Closing, 499),
        (RoomError::Destroyed, 499),
        (
            RoomError::Peer(crate::room::peer::PeerError::Sdp("bad".into())),
            437,
        ),
        (
            RoomError::Peer(crate::room::peer::PeerError::Negotiation("x".into())),
            499,
        ),
    ];
    for (e, code) in codes {
        let text = e.to_string();
        let v = VideoRoomError::from(e);
        assert_eq!(v.code(), code, "{text}");
    }
}

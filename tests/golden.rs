//! Golden wire shapes: every videoroom and streaming reply and event a
//! scripted session meets, compared with `tests/golden/*.json`.
//!
//! The goldens were captured from the gateway before the room core was
//! redesigned, so a move of code that changes a reply or an event (a key,
//! a value, an error text) fails here. Volatile values are replaced before
//! comparing: the ids the scenario learns (room, participants) by their
//! names, SDP bodies, `private_id`, session/handle ids, ages, talking flags.
//! `GOLDEN_UPDATE=1 cargo test --test golden` rewrites the files (review
//! the diff: it is the wire change).

mod common;

use std::time::Duration;

use gateway_testkit::janus::Handle;
use gateway_testkit::peer::{PublisherSpec, Receive, TestPeer};
use gst::prelude::*;
use serde_json::{Map, Value, json};
use serial_test::serial;

use common::{Gateway, create_room, free_udp_port, room_id, streaming_handle, videoroom_handle};

/// How long one step may take (negotiations included).
const STEP: Duration = Duration::from_secs(15);

/// A syntactically valid SDP with one audio m-line (the core checks JSEP bodies).
const AUDIO_SDP: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendonly\r\na=rtpmap:111 opus/48000/2\r\n";

/// The recorded steps of one scenario and the names of the ids it learnt.
#[derive(Default)]
struct Golden {
    names: Vec<(Value, String)>,
    steps: Vec<(String, Value)>,
}

impl Golden {
    /// From now on `v` is written as `<label>`.
    fn name(&mut self, v: &Value, label: &str) {
        if !v.is_null() {
            self.names.push((v.clone(), format!("<{label}>")));
        }
    }

    fn record(&mut self, step: &str, v: Value) {
        self.steps.push((step.to_owned(), v));
    }

    /// A synchronous request: records `plugindata.data`.
    async fn sync(&mut self, step: &str, h: &Handle, body: Value) -> Value {
        let r = h
            .sync(body.clone())
            .await
            .unwrap_or_else(|e| panic!("{step}: {body}: {e}"));
        self.record(step, r.clone());
        r
    }

    /// An asynchronous request: records the event answering it (with its
    /// JSEP's type), or the whole reply when the core refuses it.
    async fn call(&mut self, step: &str, h: &Handle, body: Value, jsep: Option<Value>) -> Value {
        let r = h
            .message(body.clone(), jsep)
            .await
            .unwrap_or_else(|e| panic!("{step}: {body}: {e}"));
        if r["janus"] != "ack" {
            self.record(step, r.clone());
            return r;
        }
        let ev = h
            .wait_for(
                |e| e["janus"] == "event" && e.get("transaction").is_some(),
                STEP,
            )
            .await
            .unwrap_or_else(|e| panic!("{step}: {body}: {e}"));
        let data = ev["plugindata"]["data"].clone();
        self.record(step, with_jsep(&data, ev.get("jsep")));
        data
    }

    /// Waits for an unsolicited plugin event on `h` whose data matches
    /// `pred`, and records it.
    async fn event(&mut self, step: &str, h: &Handle, pred: impl Fn(&Value) -> bool) -> Value {
        let ev = h
            .wait_for(
                |e| {
                    e["janus"] == "event"
                        && e.get("transaction").is_none()
                        && pred(&e["plugindata"]["data"])
                },
                STEP,
            )
            .await
            .unwrap_or_else(|e| panic!("{step}: {e}"));
        let data = ev["plugindata"]["data"].clone();
        self.record(step, with_jsep(&data, ev.get("jsep")));
        data
    }

    /// Waits for a core event (`webrtcup`, `media`, `hangup`) on `h`
    /// matching `pred`, and records it whole.
    async fn core(&mut self, step: &str, h: &Handle, pred: impl Fn(&Value) -> bool) {
        let ev = h
            .wait_for(pred, STEP)
            .await
            .unwrap_or_else(|e| panic!("{step}: {e}"));
        self.record(step, ev);
    }

    fn normalize(&self, v: &Value, key: Option<&str>) -> Value {
        match (key, v) {
            (Some("sdp"), Value::String(_)) => json!("<sdp>"),
            (Some("private_id"), _) => json!("<private_id>"),
            (Some("session_id" | "sender" | "transaction"), _) => json!("<janus>"),
            (Some("talking"), Value::Bool(_)) => json!("<talking>"),
            (Some("age_ms"), _) => json!("<age_ms>"),
            // Free UDP ports, picked per run.
            (Some("port"), Value::Number(_)) => json!("<port>"),
            (Some("encoders"), Value::Number(_)) => json!("<encoders>"),
            (_, Value::Object(m)) => {
                let mut out = Map::new();
                for (k, val) in m {
                    out.insert(k.clone(), self.normalize(val, Some(k)));
                }
                Value::Object(out)
            }
            (_, Value::Array(a)) => {
                let mut items: Vec<Value> = a.iter().map(|x| self.normalize(x, None)).collect();
                // Participant order follows random handle ids.
                if matches!(key, Some("publishers" | "participants" | "list")) {
                    items.sort_by_key(|x| x.to_string());
                }
                Value::Array(items)
            }
            (_, Value::String(text)) => {
                if let Some((_, label)) = self.names.iter().find(|(n, _)| n.as_str() == Some(text))
                {
                    return json!(label);
                }
                // Ids inside error texts and default descriptions.
                let mut text = text.clone();
                for (n, label) in &self.names {
                    let n = n.as_str().map_or_else(|| n.to_string(), str::to_owned);
                    text = text.replace(&n, label);
                }
                json!(text)
            }
            (_, scalar) => self
                .names
                .iter()
                .find(|(n, _)| n == scalar)
                .map_or_else(|| scalar.clone(), |(_, label)| json!(label)),
        }
    }

    /// Compares with (or, with `GOLDEN_UPDATE`, writes) `tests/golden/<name>.json`.
    fn check(&self, name: &str) {
        let actual: Vec<Value> = self
            .steps
            .iter()
            .map(|(step, v)| json!({"step": step, "data": self.normalize(v, None)}))
            .collect();
        let path = format!("{}/tests/golden/{name}.json", env!("CARGO_MANIFEST_DIR"));
        let text = serde_json::to_string_pretty(&actual).expect("JSON") + "\n";
        if std::env::var_os("GOLDEN_UPDATE").is_some() {
            std::fs::write(&path, &text).expect("write golden");
            return;
        }
        let want: Vec<Value> = serde_json::from_str(
            &std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}")),
        )
        .expect("golden parses");
        let out = format!("{}/golden-{name}.actual.json", env!("CARGO_TARGET_TMPDIR"));
        let _ = std::fs::write(&out, &text);
        for (i, (w, a)) in want.iter().zip(&actual).enumerate() {
            assert_eq!(
                w, a,
                "step {i} differs from {path} (all of this run: {out})\nwant: {w}\n got: {a}"
            );
        }
        assert_eq!(
            want.len(),
            actual.len(),
            "{path} has {} steps, this run {} (all of it: {out})",
            want.len(),
            actual.len()
        );
    }
}

fn with_jsep(data: &Value, jsep: Option<&Value>) -> Value {
    match jsep {
        None => data.clone(),
        Some(j) => json!({"data": data, "jsep": {"type": j["type"], "sdp": j["sdp"]}}),
    }
}

fn init() {
    gst::init().expect("gstreamer");
}

/// The one room entry of `list` for `room`.
fn entry_of(list: &Value, room: &Value) -> Value {
    list["list"]
        .as_array()
        .and_then(|l| l.iter().find(|e| &e["room"] == room).cloned())
        .unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial(media)]
async fn videoroom_shapes() {
    init();
    let gw = Gateway::start();
    let mut g = Golden::default();
    let admin = videoroom_handle(&gw, true).await;

    // Room-level requests.
    let room = create_room(
        &admin,
        json!({"secret": "s", "notify_joining": true, "description": "golden"}),
    )
    .await;
    g.name(&room, "room");
    g.sync(
        "create exists",
        &admin,
        json!({"request": "create", "room": room}),
    )
    .await;
    g.sync("exists", &admin, json!({"request": "exists", "room": room}))
        .await;
    g.sync(
        "exists unknown",
        &admin,
        json!({"request": "exists", "room": 4242}),
    )
    .await;
    let list = admin.sync(json!({"request": "list"})).await.unwrap();
    g.record("list entry", entry_of(&list, &room));
    g.sync(
        "edit wrong secret",
        &admin,
        json!({"request": "edit", "room": room, "secret": "x", "new_description": "n"}),
    )
    .await;
    g.sync("edit", &admin, json!({"request": "edit", "room": room, "secret": "s", "new_description": "golden 2", "new_publishers": 5})).await;
    let list = admin.sync(json!({"request": "list"})).await.unwrap();
    g.record("list entry edited", entry_of(&list, &room));
    g.sync(
        "listparticipants empty",
        &admin,
        json!({"request": "listparticipants", "room": room}),
    )
    .await;

    // B joins without publishing; A joins and publishes.
    let bh = videoroom_handle(&gw, true).await;
    let joined_b = g
        .call(
            "join B",
            &bh,
            json!({"request": "join", "ptype": "publisher", "room": room, "display": "bob"}),
            None,
        )
        .await;
    g.name(&joined_b["id"], "B");
    let ah = videoroom_handle(&gw, true).await;
    let spec = PublisherSpec::default();
    let (publisher, joined_a) = TestPeer::publish(&ah, &room, "alice", &spec)
        .await
        .expect("publish A");
    g.name(&joined_a["id"], "A");
    g.record("join A", joined_a.clone());
    g.record("publish A", publisher.configured.clone());
    g.event("B hears A joining", &bh, |d| d.get("joining").is_some())
        .await;
    g.event("B hears A publishing", &bh, |d| {
        d.get("publishers").is_some()
    })
    .await;
    g.core("A webrtcup", &ah, |e| e["janus"] == "webrtcup")
        .await;
    g.core("A media", &ah, |e| {
        e["janus"] == "media" && e["type"] == "video"
    })
    .await;
    g.sync(
        "listparticipants",
        &admin,
        json!({"request": "listparticipants", "room": room}),
    )
    .await;
    let list = admin.sync(json!({"request": "list"})).await.unwrap();
    g.record("list entry with participants", entry_of(&list, &room));

    // A subscriber of A.
    let sh = videoroom_handle(&gw, true).await;
    let (subscriber, attached) =
        TestPeer::subscribe(&sh, &room, json!([{"feed": joined_a["id"]}]), false)
            .await
            .expect("subscribe");
    g.record("attached", attached.clone());
    g.core("S webrtcup", &sh, |e| e["janus"] == "webrtcup")
        .await;
    let sub_mid = attached["streams"][0]["mid"].clone();
    g.call("S pause", &sh, json!({"request": "pause"}), None)
        .await;
    g.call("S start again", &sh, json!({"request": "start"}), None)
        .await;
    g.call(
        "S configure",
        &sh,
        json!({"request": "configure", "streams": [{"mid": sub_mid, "send": false}]}),
        None,
    )
    .await;
    g.call(
        "S configure bad mid",
        &sh,
        json!({"request": "configure", "streams": [{"mid": "nope", "send": true}]}),
        None,
    )
    .await;
    g.call(
        "S configure as publisher request",
        &sh,
        json!({"request": "unpublish"}),
        None,
    )
    .await;
    g.call("S join again", &sh, json!({"request": "join", "ptype": "subscriber", "room": room, "streams": [{"feed": joined_a["id"]}]}), None).await;
    g.sync(
        "list_ingests",
        &admin,
        json!({"request": "list_ingests", "room": room}),
    )
    .await;

    // A changes display and moderation.
    g.call(
        "A configure display",
        &ah,
        json!({"request": "configure", "display": "alice 2"}),
        None,
    )
    .await;
    g.event("B hears A's new display", &bh, |d| {
        d["publishers"][0]["display"] == "alice 2"
    })
    .await;
    let audio_mid = publisher.configured["streams"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["type"] == "audio"))
        .map(|s| s["mid"].clone())
        .unwrap_or(Value::Null);
    g.sync("moderate wrong secret", &admin, json!({"request": "moderate", "room": room, "id": joined_a["id"], "mid": audio_mid, "mute": true})).await;
    g.sync("moderate mute", &admin, json!({"request": "moderate", "room": room, "secret": "s", "id": joined_a["id"], "mid": audio_mid, "mute": true})).await;
    g.event("B hears moderation", &bh, |d| d.get("moderation").is_some())
        .await;
    g.event("B hears A muted", &bh, |d| d.get("publishers").is_some())
        .await;
    g.sync("moderate unknown mid", &admin, json!({"request": "moderate", "room": room, "secret": "s", "id": joined_a["id"], "mid": "zz", "mute": true})).await;
    g.sync("moderate unmute", &admin, json!({"request": "moderate", "room": room, "secret": "s", "id": joined_a["id"], "mid": audio_mid, "mute": false})).await;

    // Recording and mixing requests in an SFU room.
    g.sync(
        "enable_recording off",
        &admin,
        json!({"request": "enable_recording", "room": room, "secret": "s", "record": false}),
    )
    .await;
    g.sync(
        "list_recordings",
        &admin,
        json!({"request": "list_recordings", "room": room}),
    )
    .await;
    g.sync(
        "record_mix in SFU room",
        &admin,
        json!({"request": "record_mix", "room": room, "secret": "s", "record": true}),
    )
    .await;
    g.sync(
        "set_layout in SFU room",
        &admin,
        json!({"request": "set_layout", "room": room, "secret": "s", "layout": "grid"}),
    )
    .await;
    g.sync("start_rtmp of the mix in SFU room", &admin, json!({"request": "start_rtmp", "room": room, "secret": "s", "url": "rtmp://127.0.0.1:1/live/x"})).await;
    g.sync(
        "start_rtmp bad url",
        &admin,
        json!({"request": "start_rtmp", "room": room, "secret": "s", "url": "http://x"}),
    )
    .await;
    g.sync(
        "stop_rtmp unknown",
        &admin,
        json!({"request": "stop_rtmp", "room": room, "secret": "s", "id": 9}),
    )
    .await;
    g.sync(
        "add_ingest bad url",
        &admin,
        json!({"request": "add_ingest", "room": room, "secret": "s", "url": "http://x"}),
    )
    .await;
    g.sync(
        "remove_ingest unknown",
        &admin,
        json!({"request": "remove_ingest", "room": room, "secret": "s", "id": 77}),
    )
    .await;

    // The subscriber drops A's streams: an `updated` offer; then it leaves.
    g.call(
        "S unsubscribe",
        &sh,
        json!({"request": "unsubscribe", "streams": [{"feed": joined_a["id"]}]}),
        None,
    )
    .await;
    g.call(
        "S update while an offer is pending",
        &sh,
        json!({"request": "update", "subscribe": [{"feed": joined_a["id"]}]}),
        None,
    )
    .await;
    g.call("S leave", &sh, json!({"request": "leave"}), None)
        .await;
    drop(subscriber);

    // Kick B.
    g.sync(
        "kick wrong secret",
        &admin,
        json!({"request": "kick", "room": room, "id": joined_b["id"]}),
    )
    .await;
    g.sync(
        "kick unknown",
        &admin,
        json!({"request": "kick", "room": room, "secret": "s", "id": 999}),
    )
    .await;
    g.sync(
        "kick B",
        &admin,
        json!({"request": "kick", "room": room, "secret": "s", "id": joined_b["id"]}),
    )
    .await;
    g.event("B hears it was kicked", &bh, |d| d["reason"] == "kicked")
        .await;
    g.event("A hears B kicked", &ah, |d| d.get("kicked").is_some())
        .await;
    g.event("A hears B leaving", &ah, |d| d.get("leaving").is_some())
        .await;

    // A unpublishes and leaves.
    g.call("A unpublish", &ah, json!({"request": "unpublish"}), None)
        .await;
    g.core("A hangup", &ah, |e| e["janus"] == "hangup").await;
    g.call(
        "A unpublish again",
        &ah,
        json!({"request": "unpublish"}),
        None,
    )
    .await;
    g.call("A leave", &ah, json!({"request": "leave"}), None)
        .await;
    drop(publisher);

    // C sits in the room when it is destroyed.
    let ch = videoroom_handle(&gw, true).await;
    let joined_c = g.call("join C with an id", &ch, json!({"request": "join", "ptype": "publisher", "room": room, "id": 5151, "display": "carol"}), None).await;
    g.name(&joined_c["id"], "C");
    let dh = videoroom_handle(&gw, true).await;
    g.call(
        "join D with C's id",
        &dh,
        json!({"request": "join", "ptype": "publisher", "room": room, "id": 5151}),
        None,
    )
    .await;
    g.call(
        "C joins twice",
        &ch,
        json!({"request": "join", "ptype": "publisher", "room": room}),
        None,
    )
    .await;
    g.call(
        "C publishes an answer",
        &ch,
        json!({"request": "publish"}),
        Some(json!({"type": "answer", "sdp": AUDIO_SDP})),
    )
    .await;
    g.call(
        "C publishes bad SDP",
        &ch,
        json!({"request": "publish"}),
        Some(json!({"type": "offer", "sdp": "not sdp"})),
    )
    .await;
    g.call(
        "C publishes without jsep",
        &ch,
        json!({"request": "publish"}),
        None,
    )
    .await;
    g.call(
        "C starts as publisher",
        &ch,
        json!({"request": "start"}),
        None,
    )
    .await;
    g.sync(
        "destroy wrong secret",
        &admin,
        json!({"request": "destroy", "room": room}),
    )
    .await;
    g.sync(
        "destroy",
        &admin,
        json!({"request": "destroy", "room": room, "secret": "s"}),
    )
    .await;
    g.event("C hears destroyed", &ch, |d| d["videoroom"] == "destroyed")
        .await;

    // Request errors.
    let eh = videoroom_handle(&gw, true).await;
    g.sync("no request", &eh, json!({"nothing": 1})).await;
    g.sync("request not a string", &eh, json!({"request": 5}))
        .await;
    g.sync("unknown request", &eh, json!({"request": "dance"}))
        .await;
    g.sync("exists without room", &eh, json!({"request": "exists"}))
        .await;
    g.sync(
        "destroy unknown room",
        &eh,
        json!({"request": "destroy", "room": 4242}),
    )
    .await;
    g.sync(
        "create bad publishers",
        &eh,
        json!({"request": "create", "publishers": "many"}),
    )
    .await;
    g.sync(
        "create bad codec",
        &eh,
        json!({"request": "create", "videocodec": "vp8,av9"}),
    )
    .await;
    g.sync(
        "create bad mixing",
        &eh,
        json!({"request": "create", "mixing": "blend"}),
    )
    .await;
    g.call(
        "configure before join",
        &eh,
        json!({"request": "configure"}),
        None,
    )
    .await;
    g.call(
        "join without room",
        &eh,
        json!({"request": "join", "ptype": "publisher"}),
        None,
    )
    .await;
    g.call(
        "join unknown room",
        &eh,
        json!({"request": "join", "ptype": "publisher", "room": 4242}),
        None,
    )
    .await;
    let pinned = create_room(&admin, json!({"pin": "p"})).await;
    g.name(&pinned, "pinned");
    g.call(
        "join bad ptype",
        &eh,
        json!({"request": "join", "ptype": "ghost", "room": pinned}),
        None,
    )
    .await;
    g.call(
        "join wrong pin",
        &eh,
        json!({"request": "join", "ptype": "publisher", "room": pinned}),
        None,
    )
    .await;
    g.call(
        "subscribe without streams",
        &eh,
        json!({"request": "join", "ptype": "subscriber", "room": pinned}),
        None,
    )
    .await;
    g.call("subscribe to an unknown feed", &eh, json!({"request": "join", "ptype": "subscriber", "room": pinned, "streams": [{"feed": 31337}]}), None).await;
    g.sync(
        "destroy pinned",
        &admin,
        json!({"request": "destroy", "room": pinned}),
    )
    .await;
    let small = create_room(&admin, json!({"publishers": 1, "require_pvtid": true})).await;
    g.name(&small, "small");
    g.call(
        "subscribe without private_id",
        &eh,
        json!({"request": "join", "ptype": "subscriber", "room": small, "streams": [{"feed": 1}]}),
        None,
    )
    .await;
    let fh = videoroom_handle(&gw, true).await;
    let (first, joined_first, ()) = TestPeer::publish_launch(
        &fh,
        &small,
        "first",
        "webrtcbin name=w audiotestsrc is-live=true ! opusenc ! rtpopuspay pt=111 ! application/x-rtp,media=audio,encoding-name=OPUS,payload=111 ! w.",
        1,
        |_| (),
    )
    .await
    .expect("publish into the small room");
    g.name(&joined_first["id"], "first");
    let offer = json!({"type": "offer", "sdp": AUDIO_SDP});
    g.call(
        "renegotiation with an offer of another session",
        &fh,
        json!({"request": "publish"}),
        Some(offer.clone()),
    )
    .await;
    let gh = videoroom_handle(&gw, true).await;
    let second = g
        .call(
            "join second",
            &gh,
            json!({"request": "join", "ptype": "publisher", "room": small, "display": "second"}),
            None,
        )
        .await;
    g.name(&second["id"], "second");
    g.call(
        "publish into a full room",
        &gh,
        json!({"request": "publish"}),
        Some(offer),
    )
    .await;
    drop(first);
    g.sync(
        "destroy small",
        &admin,
        json!({"request": "destroy", "room": small}),
    )
    .await;
    g.check("videoroom");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial(media)]
async fn mcu_shapes() {
    init();
    let gw = Gateway::start();
    let mut g = Golden::default();
    let admin = videoroom_handle(&gw, true).await;
    let room = room_id();
    g.name(&json!(room), "room");
    g.sync("create mcu", &admin, json!({"request": "create", "room": room, "mixing": "mcu", "mix_width": 320, "mix_height": 240, "layout": "grid"})).await;
    let list = admin.sync(json!({"request": "list"})).await.unwrap();
    g.record("list entry", entry_of(&list, &json!(room)));
    let ah = videoroom_handle(&gw, true).await;
    let joined = g
        .call(
            "join",
            &ah,
            json!({"request": "join", "ptype": "publisher", "room": room, "display": "alice"}),
            None,
        )
        .await;
    g.name(&joined["id"], "A");
    g.sync(
        "set_layout speaker",
        &admin,
        json!({"request": "set_layout", "room": room, "layout": "speaker"}),
    )
    .await;
    g.sync(
        "set_layout bad",
        &admin,
        json!({"request": "set_layout", "room": room, "layout": "mosaic"}),
    )
    .await;
    g.sync(
        "set_layout custom without regions",
        &admin,
        json!({"request": "set_layout", "room": room, "layout": "custom"}),
    )
    .await;
    g.sync("start_rtmp of an unknown feed", &admin, json!({"request": "start_rtmp", "room": room, "url": "rtmp://127.0.0.1:1/live/x", "source": 4242})).await;
    g.sync(
        "record_mix without record",
        &admin,
        json!({"request": "record_mix", "room": room}),
    )
    .await;
    g.sync(
        "destroy",
        &admin,
        json!({"request": "destroy", "room": room}),
    )
    .await;
    g.event("A hears destroyed", &ah, |d| d["videoroom"] == "destroyed")
        .await;
    g.check("mcu");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial(media)]
async fn streaming_shapes() {
    init();
    let gw = Gateway::start();
    let mut g = Golden::default();
    let admin = streaming_handle(&gw, true).await;
    let (vport, aport) = (free_udp_port(), free_udp_port());
    g.sync("create rtp", &admin, json!({"request": "create", "type": "rtp", "id": 901, "name": "golden", "description": "Golden", "secret": "s", "metadata": {"k": 1}, "media": [
        {"type": "video", "mid": "v", "port": vport, "pt": 100, "codec": "vp8"},
        {"type": "audio", "mid": "a", "port": aport, "pt": 111, "codec": "opus"}]})).await;
    let push = gst::parse::launch(&format!(
        "videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=30/1 ! vp8enc deadline=1 keyframe-max-dist=30 \
         ! rtpvp8pay pt=100 ! udpsink host=127.0.0.1 port={vport} \
         audiotestsrc is-live=true ! audioconvert ! opusenc ! rtpopuspay pt=111 ! udpsink host=127.0.0.1 port={aport}"
    ))
    .unwrap();
    push.set_state(gst::State::Playing).unwrap();
    g.sync("create exists", &admin, json!({"request": "create", "type": "rtp", "id": 901, "media": [{"type": "audio", "port": free_udp_port(), "pt": 111, "codec": "opus"}]})).await;
    g.sync("list", &admin, json!({"request": "list"})).await;
    g.sync("info", &admin, json!({"request": "info", "id": 901}))
        .await;
    g.sync(
        "info wrong secret",
        &admin,
        json!({"request": "info", "id": 901, "secret": "x"}),
    )
    .await;
    g.sync(
        "edit",
        &admin,
        json!({"request": "edit", "id": 901, "secret": "s", "new_description": "Golden 2"}),
    )
    .await;
    g.sync(
        "edit wrong secret",
        &admin,
        json!({"request": "edit", "id": 901, "new_description": "x"}),
    )
    .await;
    g.sync(
        "disable",
        &admin,
        json!({"request": "disable", "id": 901, "secret": "s"}),
    )
    .await;
    let vh = streaming_handle(&gw, true).await;
    g.call(
        "watch disabled",
        &vh,
        json!({"request": "watch", "id": 901}),
        None,
    )
    .await;
    g.sync(
        "enable",
        &admin,
        json!({"request": "enable", "id": 901, "secret": "s"}),
    )
    .await;
    let viewer = TestPeer::watch(&vh, 901, Receive::Packets)
        .await
        .expect("watch");
    g.event("viewer started", &vh, |d| {
        d["result"]["status"] == "started"
    })
    .await;
    g.core("viewer webrtcup", &vh, |e| e["janus"] == "webrtcup")
        .await;
    g.call(
        "watch twice",
        &vh,
        json!({"request": "watch", "id": 901}),
        None,
    )
    .await;
    g.call("pause", &vh, json!({"request": "pause"}), None)
        .await;
    g.call("start again", &vh, json!({"request": "start"}), None)
        .await;
    g.call(
        "configure",
        &vh,
        json!({"request": "configure", "streams": [{"mid": "0", "send": true}]}),
        None,
    )
    .await;
    g.call(
        "switch to itself",
        &vh,
        json!({"request": "switch", "id": 901}),
        None,
    )
    .await;
    g.call(
        "switch to unknown",
        &vh,
        json!({"request": "switch", "id": 404}),
        None,
    )
    .await;
    g.sync(
        "kick_all",
        &admin,
        json!({"request": "kick_all", "id": 901, "secret": "s"}),
    )
    .await;
    drop(viewer);
    let wh = streaming_handle(&gw, true).await;
    let second = TestPeer::watch(&wh, 901, Receive::Packets)
        .await
        .expect("watch again");
    g.call("stop", &wh, json!({"request": "stop"}), None).await;
    g.call("start after stop", &wh, json!({"request": "start"}), None)
        .await;
    drop(second);
    g.sync("unknown request", &admin, json!({"request": "dance"}))
        .await;
    g.sync("no request", &admin, json!({"x": 1})).await;
    g.sync("create without type", &admin, json!({"request": "create"}))
        .await;
    g.sync(
        "create bad type",
        &admin,
        json!({"request": "create", "type": "file"}),
    )
    .await;
    g.sync(
        "create bad rtsp url",
        &admin,
        json!({"request": "create", "type": "rtsp", "url": "http://x/y"}),
    )
    .await;
    g.sync(
        "create empty media",
        &admin,
        json!({"request": "create", "type": "rtp", "media": []}),
    )
    .await;
    g.sync("create bad port", &admin, json!({"request": "create", "type": "rtp", "media": [{"type": "video", "port": 70000, "pt": 96, "codec": "vp8"}]})).await;
    g.sync(
        "info unknown",
        &admin,
        json!({"request": "info", "id": 404}),
    )
    .await;
    g.sync("info without id", &admin, json!({"request": "info"}))
        .await;
    g.sync(
        "create unreachable rtsp",
        &admin,
        json!({"request": "create", "type": "rtsp", "url": "rtsp://127.0.0.1:1/none"}),
    )
    .await;
    g.sync(
        "destroy wrong secret",
        &admin,
        json!({"request": "destroy", "id": 901}),
    )
    .await;
    g.sync(
        "destroy",
        &admin,
        json!({"request": "destroy", "id": 901, "secret": "s"}),
    )
    .await;
    let _ = push.set_state(gst::State::Null);
    g.check("streaming");
}

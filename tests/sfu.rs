//! End-to-end SFU tests: the real gateway process on 127.0.0.1, driven by
//! GStreamer `webrtcbin` peers over the Janus API (WebSocket and HTTP).

mod common;

use std::sync::Arc;
use std::time::Duration;

use gateway_testkit::janus::Handle;
use gateway_testkit::peer::{PublisherSpec, TestPeer, VideoCodec};
use serde_json::{Value, json};
use serial_test::serial;

use common::{Gateway, create_room, videoroom_handle};

/// Frames each subscriber must decode, and how long it may take.
const FRAMES: u64 = 30;
const FRAMES_WITHIN: Duration = Duration::from_secs(10);
const EVENT_WITHIN: Duration = Duration::from_secs(10);

fn init() {
    gst::init().expect("gstreamer");
}

/// A participant that joins without publishing, to receive room events
/// (`publishers`, `unpublished`, `leaving`), as a janus.js page's publisher
/// handle does.
async fn watcher(gw: &Gateway, ws: bool, room: &Value) -> Arc<Handle> {
    let h = videoroom_handle(gw, ws).await;
    let (joined, _) = h
        .call(
            json!({"request": "join", "ptype": "publisher", "room": room, "display": "watcher"}),
            None,
            EVENT_WITHIN,
        )
        .await
        .expect("watcher join");
    assert_eq!(joined["videoroom"], "joined", "{joined}");
    h
}

/// The scenario of the SFU issue: one publisher (video + Opus), two
/// subscribers (one 3 s late), frames decoded, the publisher leaves, the
/// room is destroyed and its pipeline is gone.
async fn scenario(ws: bool, codec: VideoCodec) {
    init();
    let gw = Gateway::start();
    let admin = videoroom_handle(&gw, ws).await;
    let room = create_room(&admin, json!({})).await;

    let pub_handle = videoroom_handle(&gw, ws).await;
    let spec = PublisherSpec {
        codec,
        gop: 600,
        ..PublisherSpec::default()
    };
    let (publisher, joined) = TestPeer::publish(&pub_handle, &room, "alice", &spec)
        .await
        .expect("publish");
    let feed = joined["id"].clone();

    let w1 = watcher(&gw, ws, &room).await;
    let s1 = videoroom_handle(&gw, ws).await;
    let (sub1, attached) = TestPeer::subscribe(&s1, &room, json!([{"feed": feed}]), true)
        .await
        .expect("subscribe 1");
    assert_eq!(
        attached["streams"].as_array().map(Vec::len),
        Some(2),
        "{attached}"
    );

    tokio::time::sleep(Duration::from_secs(3)).await;
    let w2 = watcher(&gw, ws, &room).await;
    let s2 = videoroom_handle(&gw, ws).await;
    let (sub2, _) = TestPeer::subscribe(&s2, &room, json!([{"feed": feed}]), true)
        .await
        .expect("subscribe 2");

    for (name, sub) in [("first", &sub1), ("late", &sub2)] {
        let ok = sub
            .wait_until(FRAMES_WITHIN, |s| s.frames() >= FRAMES && s.audio() > 0)
            .await;
        assert!(
            ok,
            "{name} subscriber: {} frames, {} audio buffers",
            sub.stats.frames(),
            sub.stats.audio()
        );
    }
    let ttff = sub2
        .time_to_first_video()
        .expect("late subscriber got video");
    println!(
        "late joiner ({codec:?}, GOP 20 s): first decoded frame {} ms after start",
        ttff.as_millis()
    );
    assert!(
        ttff < Duration::from_secs(5),
        "late joiner waited {ttff:?} for a picture"
    );

    let (left, _) = pub_handle
        .call(json!({"request": "leave"}), None, EVENT_WITHIN)
        .await
        .expect("leave");
    assert_eq!(left["leaving"], "ok", "{left}");
    for w in [&w1, &w2] {
        let ev = w
            .wait_for(
                |e| {
                    e["plugindata"]["data"]["leaving"] == feed
                        || e["plugindata"]["data"]["unpublished"] == feed
                },
                EVENT_WITHIN,
            )
            .await
            .expect("leaving/unpublished event");
        assert_eq!(ev["plugindata"]["data"]["room"], room);
    }
    // Subscribers are renegotiated with the feed's m-lines inactive (Janus autoupdate).
    for s in [&s1, &s2] {
        let ev = s
            .wait_for(
                |e| e["plugindata"]["data"]["videoroom"] == "updated",
                EVENT_WITHIN,
            )
            .await
            .expect("updated");
        assert!(
            ev["plugindata"]["data"]["streams"]
                .as_array()
                .unwrap()
                .iter()
                .all(|st| st["active"] == false),
            "{ev}"
        );
    }
    drop(publisher);

    let destroyed = admin
        .sync(json!({"request": "destroy", "room": room}))
        .await
        .expect("destroy");
    assert_eq!(destroyed["videoroom"], "destroyed");
    let ev = w1
        .wait_for(
            |e| e["plugindata"]["data"]["videoroom"] == "destroyed",
            EVENT_WITHIN,
        )
        .await;
    assert!(ev.is_ok(), "participants hear destroyed");
    drop((sub1, sub2));
    assert_eq!(
        gw.wait_metric("gateway_pipelines_alive", 0.0, Duration::from_secs(10))
            .await,
        Some(0.0),
        "room pipeline freed"
    );
    assert_eq!(
        gw.wait_metric("gateway_webrtcbins_alive", 0.0, Duration::from_secs(10))
            .await,
        Some(0.0),
        "webrtcbins freed"
    );
    assert_eq!(gw.metric("gateway_rooms").await, Some(0.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial(media)]
async fn websocket_vp8() {
    scenario(true, VideoCodec::Vp8).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial(media)]
async fn http_long_poll_h264() {
    scenario(false, VideoCodec::H264).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial(media)]
async fn websocket_h264() {
    scenario(true, VideoCodec::H264).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial(media)]
async fn http_long_poll_vp8() {
    scenario(false, VideoCodec::Vp8).await;
}

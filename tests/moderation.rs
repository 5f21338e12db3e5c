//! `moderate` (`id`, `mid`, `mute`): in SFU rooms the stream stops being
//! forwarded; in MCU rooms it leaves the mix. The publisher and the room get
//! the moderation event, and unmuting restores the stream.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use gateway_testkit::peer::{PublisherSpec, Receive, TestPeer, VideoCodec};
use serde_json::{Value, json};
use serial_test::serial;

use common::{Gateway, create_room, videoroom_handle};

const WITHIN: Duration = Duration::from_secs(15);

fn mid_of(peer: &TestPeer, kind: &str) -> Value {
    peer.configured["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["type"] == kind)
        .unwrap()["mid"]
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial(media)]
async fn sfu_moderation_stops_and_restores_forwarding() {
    gst::init().unwrap();
    let gw = Gateway::start();
    let admin = videoroom_handle(&gw, true).await;
    let room = create_room(&admin, json!({"secret": "mod"})).await;
    let ph = videoroom_handle(&gw, true).await;
    let (publisher, joined) = TestPeer::publish(&ph, &room, "talker", &PublisherSpec::default())
        .await
        .unwrap();
    let feed = joined["id"].clone();
    let watcher = videoroom_handle(&gw, true).await;
    watcher
        .call(
            json!({"request": "join", "ptype": "publisher", "room": room}),
            None,
            WITHIN,
        )
        .await
        .unwrap();
    let sh = videoroom_handle(&gw, true).await;
    let (sub, _) = TestPeer::subscribe(&sh, &room, json!([{"feed": feed}]), false)
        .await
        .unwrap();
    assert!(
        sub.wait_until(WITHIN, |s| s.audio_packets.load(Ordering::Relaxed) > 20)
            .await
    );
    let audio_mid = mid_of(&publisher, "audio");

    let refused = admin.sync(json!({"request": "moderate", "room": room, "id": feed, "mid": audio_mid, "mute": true})).await.unwrap();
    assert_eq!(refused["error_code"], 433, "secret needed: {refused}");
    let r = admin
        .sync(json!({"request": "moderate", "room": room, "secret": "mod", "id": feed, "mid": audio_mid, "mute": true}))
        .await
        .unwrap();
    assert_eq!(r["videoroom"], "success", "{r}");
    for h in [&ph, &watcher] {
        let ev = h
            .wait_for(|e| e["plugindata"]["data"]["moderation"] == "muted", WITHIN)
            .await
            .expect("moderation event");
        assert_eq!(ev["plugindata"]["data"]["mid"], audio_mid);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (a0, v0) = (
        sub.stats.audio_packets.load(Ordering::Relaxed),
        sub.stats.video_packets.load(Ordering::Relaxed),
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (a1, v1) = (
        sub.stats.audio_packets.load(Ordering::Relaxed),
        sub.stats.video_packets.load(Ordering::Relaxed),
    );
    assert!(
        a1 - a0 <= 2,
        "muted audio stopped: {} packets in 1.5 s",
        a1 - a0
    );
    assert!(v1 - v0 > 20, "video kept flowing");

    admin
        .sync(json!({"request": "moderate", "room": room, "secret": "mod", "id": feed, "mid": audio_mid, "mute": false}))
        .await
        .unwrap();
    watcher
        .wait_for(
            |e| e["plugindata"]["data"]["moderation"] == "unmuted",
            WITHIN,
        )
        .await
        .expect("unmuted event");
    assert!(
        sub.wait_until(WITHIN, |s| s.audio_packets.load(Ordering::Relaxed)
            > a1 + 20)
            .await,
        "audio back"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial(media)]
async fn mcu_moderation_removes_a_voice_from_the_mix() {
    gst::init().unwrap();
    let gw = Gateway::start();
    let admin = videoroom_handle(&gw, true).await;
    let room = create_room(
        &admin,
        json!({"mixing": "mcu", "mix_width": 320, "mix_height": 180, "mix_fps": 10}),
    )
    .await;
    let spec = |hz| PublisherSpec {
        codec: VideoCodec::Vp8,
        video_patterns: vec![],
        audio_hz: Some(hz),
        ..PublisherSpec::default()
    };
    let ha = videoroom_handle(&gw, true).await;
    let (a, ja) = TestPeer::publish(&ha, &room, "a", &spec(440.0))
        .await
        .unwrap();
    let hb = videoroom_handle(&gw, true).await;
    let (_b, _) = TestPeer::publish(&hb, &room, "b", &spec(880.0))
        .await
        .unwrap();
    let hv = videoroom_handle(&gw, true).await;
    let (viewer, _) = TestPeer::subscribe_with(
        &hv,
        &room,
        json!([{"feed": 0, "mid": "mix-a"}]),
        json!({}),
        Receive::Capture,
    )
    .await
    .unwrap();
    assert!(viewer.wait_until(WITHIN, |s| s.audio() > 100).await);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(viewer.stats.tone(440.0) > 0.001, "A is in the mix");

    let mid = mid_of(&a, "audio");
    admin
        .sync(
            json!({"request": "moderate", "room": room, "id": ja["id"], "mid": mid, "mute": true}),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (p440, p880) = (viewer.stats.tone(440.0), viewer.stats.tone(880.0));
    println!("after muting A: 440 Hz {p440:.5}, 880 Hz {p880:.5}");
    assert!(
        p440 < p880 / 20.0 && p880 > 0.001,
        "A left the mix, B stays"
    );

    admin
        .sync(
            json!({"request": "moderate", "room": room, "id": ja["id"], "mid": mid, "mute": false}),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(viewer.stats.tone(440.0) > 0.001, "A is back in the mix");
}

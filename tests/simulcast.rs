//! Simulcast through the gateway with GStreamer peers: a `webrtcbin`
//! publisher sends three rid layers (160x90, 320x180, 640x360), and a
//! decoding subscriber switches between them 20 times with Janus's
//! `configure {substream}`. Each switch must show the layer's frame size,
//! with the `substream` event, on one SSRC (one track), and the decoder
//! must never complain: the rewrite keeps sequence numbers, timestamps and
//! VP8 picture ids continuous.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use gateway_testkit::janus::Handle;
use gateway_testkit::peer::{Receive, TestPeer, VideoCodec};
use gateway_testkit::simulcast::LAYERS;
use gst::prelude::*;
use serde_json::{Value, json};
use serial_test::serial;

use common::{Gateway, create_room, videoroom_handle};

const WITHIN: Duration = Duration::from_secs(15);

/// Decoder warnings and errors on a peer's bus so far.
fn decoder_complaints(peer: &TestPeer) -> Vec<String> {
    let Some(bus) = peer.pipeline.bus() else {
        return vec![];
    };
    let mut out = Vec::new();
    while let Some(msg) = bus.pop_filtered(&[gst::MessageType::Warning, gst::MessageType::Error]) {
        let src = msg
            .src()
            .map(|s| s.path_string().to_string())
            .unwrap_or_default();
        let text = match msg.view() {
            gst::MessageView::Warning(w) => format!("warning {}: {}", w.error(), src),
            gst::MessageView::Error(e) => format!("error {}: {}", e.error(), src),
            _ => continue,
        };
        if src.contains("dec") {
            out.push(text);
        }
    }
    out
}

/// Waits for the subscriber's layer event for `substream` and a decoded
/// frame of that layer's width.
async fn wait_layer(h: &Arc<Handle>, sub: &TestPeer, substream: usize) -> Duration {
    let t0 = Instant::now();
    let ev = h
        .wait_for(
            |e| e["plugindata"]["data"]["substream"] == json!(substream),
            WITHIN,
        )
        .await
        .unwrap_or_else(|e| panic!("no substream {substream} event: {e}"));
    assert_eq!(ev["plugindata"]["data"]["videoroom"], "event", "{ev}");
    let width = LAYERS[substream].1 as usize;
    let deadline = Instant::now() + WITHIN;
    loop {
        if sub.stats.frame().is_some_and(|f| f.width == width) {
            return t0.elapsed();
        }
        assert!(
            Instant::now() < deadline,
            "substream {substream}: frames stay {:?} wide, want {width}",
            sub.stats.frame().map(|f| f.width)
        );
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}

/// Subscribes a capturing peer to `feed` at substream 0; checks its video
/// stream is listed as simulcast. Returns the peer and the video's mid.
async fn subscribe_low(sh: &Arc<Handle>, room: &Value, feed: &Value) -> (TestPeer, Value) {
    let (sub, attached) = TestPeer::subscribe_with(
        sh,
        room,
        json!([{"feed": feed, "substream": 0}]),
        json!({}),
        Receive::Capture,
    )
    .await
    .expect("subscribe");
    let video = attached["streams"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["type"] == "video"))
        .cloned()
        .unwrap_or(Value::Null);
    assert!(video["simulcast"].is_object(), "attached: {attached}");
    (sub, video["mid"].clone())
}

async fn twenty_switches(codec: VideoCodec) {
    gst::init().unwrap();
    let gw = Gateway::start();
    let admin = videoroom_handle(&gw, true).await;
    let room = create_room(&admin, json!({})).await;
    let ph = videoroom_handle(&gw, true).await;
    let (_publisher, joined) = TestPeer::publish_simulcast(&ph, &room, "sim", codec, 15)
        .await
        .expect("simulcast publish");
    let feed = joined["id"].clone();
    // The publisher's stream is listed as simulcast.
    let listed = admin
        .sync(json!({"request": "listparticipants", "room": room}))
        .await
        .unwrap();
    println!("participants: {listed}");
    let sh = videoroom_handle(&gw, true).await;
    let (sub, mid) = subscribe_low(&sh, &room, &feed).await;
    let first = wait_layer(&sh, &sub, 0).await;
    println!("{codec:?}: substream 0 after {first:?}");
    let plan = [2, 0, 1, 2, 1, 0, 2, 1, 0, 1, 2, 0, 2, 1, 0, 2, 0, 1, 2, 0];
    let mut took = Vec::new();
    for (i, &s) in plan.iter().enumerate() {
        // The Janus demo sends it top-level; janode per stream: both work.
        let body = if i % 2 == 0 {
            json!({"request": "configure", "substream": s})
        } else {
            json!({"request": "configure", "streams": [{"mid": mid, "substream": s}]})
        };
        let (r, _) = sh.call(body, None, WITHIN).await.expect("configure");
        assert_eq!(r["configured"], "ok", "{r}");
        took.push(wait_layer(&sh, &sub, s).await);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    took.sort();
    println!(
        "{codec:?}: 20 switches, median {:?}, max {:?}",
        took[took.len() / 2],
        took.last()
    );
    let complaints = decoder_complaints(&sub);
    assert!(complaints.is_empty(), "decoder complaints: {complaints:?}");
    assert_eq!(
        sub.stats
            .video_tracks
            .load(std::sync::atomic::Ordering::Relaxed),
        1,
        "one SSRC, one track, across every switch"
    );
    // Frames kept coming.
    let before = sub.stats.frames();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(sub.stats.frames() > before + 5, "frames after the switches");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial(media)]
async fn vp8_twenty_layer_switches_decode_cleanly() {
    twenty_switches(VideoCodec::Vp8).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial(media)]
async fn h264_twenty_layer_switches_decode_cleanly() {
    twenty_switches(VideoCodec::H264).await;
}

/// The MCU decodes the layer that fits a publisher's tile (layers 160, 320
/// and 640 wide): alone in a 320-wide mix it takes the 320-wide layer, not
/// the 640-wide top one; with a second publisher the tiles are 160 wide and
/// it drops to the 160-wide layer, and goes back up when that one leaves.
/// The decoded layer is in `handle_info` (`plugin_specific.mix_substream`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial(media)]
async fn the_mix_decodes_the_layer_that_fits_the_tile() {
    gst::init().unwrap();
    let gw = Gateway::start_admin(
        "[general]\nsession_timeout = 60\nadmin_secret = \"adm\"\n",
        "",
    );
    let admin = videoroom_handle(&gw, true).await;
    let room = create_room(
        &admin,
        json!({"mixing": "mcu", "mix_width": 320, "mix_height": 180, "mix_fps": 15, "mix_videocodec": "vp8"}),
    )
    .await;
    let ph = videoroom_handle(&gw, true).await;
    let (_publisher, _) = TestPeer::publish_simulcast(&ph, &room, "sim", VideoCodec::Vp8, 15)
        .await
        .expect("simulcast publish");
    let url = gw.admin.clone().expect("admin API");
    let body = json!({"janus": "handle_info", "transaction": "t", "admin_secret": "adm",
        "session_id": ph.session().id, "handle_id": ph.id});
    let wait = |want: u64| {
        let (url, body) = (url.clone(), body.clone());
        async move {
            let deadline = Instant::now() + WITHIN;
            loop {
                let r = common::post_json(&url, &body).await;
                let got = r["info"]["plugin_specific"]["mix_substream"].as_u64();
                if got == Some(want) {
                    return;
                }
                assert!(
                    Instant::now() < deadline,
                    "mix_substream {got:?}, want {want}: {r}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    wait(1).await;
    let h = videoroom_handle(&gw, true).await;
    let spec = gateway_testkit::peer::PublisherSpec {
        audio_hz: None,
        ..Default::default()
    };
    let (other, _) = TestPeer::publish(&h, &room, "other", &spec)
        .await
        .expect("publish");
    wait(0).await;
    let (r, _) = h
        .call(json!({"request": "leave"}), None, WITHIN)
        .await
        .expect("leave");
    assert_eq!(r["videoroom"], "event", "{r}");
    drop(other);
    wait(1).await;
}

/// The automatic layer (a subscriber that pinned no `substream`) follows
/// the subscriber's own receiver reports: with a quarter of its packets
/// lost it steps down to the lowest layer, one layer at a time; once the
/// loss is gone it climbs back to the top after the hold time. A pinned
/// `substream` stops it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial(media)]
async fn the_automatic_layer_follows_the_subscribers_loss() {
    gst::init().unwrap();
    let gw = Gateway::start();
    let admin = videoroom_handle(&gw, true).await;
    let room = create_room(&admin, json!({})).await;
    let ph = videoroom_handle(&gw, true).await;
    let (_publisher, joined) = TestPeer::publish_simulcast(&ph, &room, "sim", VideoCodec::Vp8, 15)
        .await
        .expect("simulcast publish");
    let sh = videoroom_handle(&gw, true).await;
    let (sub, _) = TestPeer::subscribe_with(
        &sh,
        &room,
        json!([{"feed": joined["id"]}]),
        json!({}),
        Receive::Capture,
    )
    .await
    .expect("subscribe");
    wait_layer(&sh, &sub, 2).await;
    let lossy = sub.lossy(4, Duration::from_millis(500));
    lossy.store(true, std::sync::atomic::Ordering::Relaxed);
    let t0 = Instant::now();
    wait_layer(&sh, &sub, 1).await;
    wait_layer(&sh, &sub, 0).await;
    println!("25 % loss: down to substream 0 in {:?}", t0.elapsed());
    lossy.store(false, std::sync::atomic::Ordering::Relaxed);
    let t1 = Instant::now();
    wait_layer(&sh, &sub, 1).await;
    wait_layer(&sh, &sub, 2).await;
    let up = t1.elapsed();
    println!("loss gone: back to substream 2 in {up:?}");
    assert!(
        up >= webrtc_gateway::room::auto_layer::HOLD_MIN,
        "climbed before the hold: {up:?}"
    );
    // Pinned: loss no longer moves the layer.
    let (r, _) = sh
        .call(
            json!({"request": "configure", "substream": 2}),
            None,
            WITHIN,
        )
        .await
        .expect("configure");
    assert_eq!(r["configured"], "ok", "{r}");
    lossy.store(true, std::sync::atomic::Ordering::Relaxed);
    let moved = sh
        .wait_for(
            |e| e["plugindata"]["data"]["substream"].is_u64(),
            Duration::from_secs(5),
        )
        .await;
    assert!(moved.is_err(), "a pinned layer moved: {moved:?}");
}

/// Legacy SSRC-group simulcast (`a=ssrc-group:SIM l m h`, no rids, as
/// older janus.js and native SDKs send): the layers are told apart by SSRC
/// alone, and a subscriber switches between them as with rids.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial(media)]
async fn ssrc_group_simulcast_switches_layers() {
    gst::init().unwrap();
    let gw = Gateway::start();
    let admin = videoroom_handle(&gw, true).await;
    let room = create_room(&admin, json!({})).await;
    let ph = videoroom_handle(&gw, true).await;
    let (_publisher, joined) = TestPeer::publish_simulcast_as(
        &ph,
        &room,
        "sim",
        VideoCodec::Vp8,
        15,
        gateway_testkit::simulcast::Signalling::SsrcGroup,
    )
    .await
    .expect("SSRC-group simulcast publish");
    let published = joined["id"].clone();
    let listed = admin
        .sync(json!({"request": "listparticipants", "room": room}))
        .await
        .unwrap();
    println!("participants: {listed}");
    let sh = videoroom_handle(&gw, true).await;
    let (sub, _) = subscribe_low(&sh, &room, &published).await;
    wait_layer(&sh, &sub, 0).await;
    for s in [2, 1, 0, 2] {
        let (r, _) = sh
            .call(
                json!({"request": "configure", "substream": s}),
                None,
                WITHIN,
            )
            .await
            .expect("configure");
        assert_eq!(r["configured"], "ok", "{r}");
        let took = wait_layer(&sh, &sub, s).await;
        println!("SIM: substream {s} in {took:?}");
    }
    let complaints = decoder_complaints(&sub);
    assert!(complaints.is_empty(), "decoder complaints: {complaints:?}");
}

//! Publisher renegotiation: a new offer on a published handle adds a track
//! mid-call (camera plus screen share), as janus.js does with
//! `createOffer({tracks:[{type:'screen', add:true}]})` and `configure`.
//! The room hears `publishers` with both streams, a subscriber of the whole
//! feed gets an `updated` offer and decodes both videos; an offer with a new
//! m-line in a codec the room refuses gets 437 and changes nothing.

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use gateway_testkit::janus::Handle;
use gateway_testkit::peer::{PublisherSpec, Receive, TestPeer, VideoCodec};
use gst::prelude::*;
use serde_json::{Value, json};
use serial_test::serial;

use common::{Gateway, create_room, videoroom_handle};

const WITHIN: Duration = Duration::from_secs(15);

/// Publishes `spec` as alice into `room` and subscribes a decoding peer to
/// the whole feed; returns (publisher, its handle, subscriber, its handle).
async fn alice_and_viewer(
    gw: &Gateway,
    room: &Value,
    spec: &PublisherSpec,
) -> (TestPeer, Arc<Handle>, TestPeer, Arc<Handle>) {
    let ph = videoroom_handle(gw, true).await;
    let (publisher, joined) = TestPeer::publish(&ph, room, "alice", spec)
        .await
        .expect("publish");
    let sh = videoroom_handle(gw, true).await;
    let (sub, _) = TestPeer::subscribe_with(
        &sh,
        room,
        json!([{"feed": joined["id"]}]),
        json!({}),
        Receive::Decode,
    )
    .await
    .expect("subscribe");
    assert!(
        sub.wait_until(WITHIN, |s| s.frames() >= 10).await,
        "the subscriber decodes"
    );
    (publisher, ph, sub, sh)
}

/// Waits for the subscriber's `updated` offer and answers it; returns the
/// event.
async fn answer_updated(sh: &Arc<Handle>, sub: &mut TestPeer) -> Value {
    let updated = sh
        .wait_for(
            |e| e["plugindata"]["data"]["videoroom"] == "updated",
            WITHIN,
        )
        .await
        .expect("updated");
    let offer = updated["jsep"]["sdp"].as_str().expect("updated offer");
    sub.answer_and_start(sh, offer).await.expect("answer");
    updated
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial(media)]
async fn a_screen_share_added_mid_call_reaches_subscribers() {
    gst::init().unwrap();
    let gw = Gateway::start();
    let admin = videoroom_handle(&gw, true).await;
    let room = create_room(&admin, json!({})).await;
    let watcher = videoroom_handle(&gw, true).await;
    let (joined, _) = watcher
        .call(
            json!({"request": "join", "ptype": "publisher", "room": room, "display": "w"}),
            None,
            WITHIN,
        )
        .await
        .unwrap();
    assert_eq!(joined["videoroom"], "joined", "{joined}");
    let spec = PublisherSpec {
        codec: VideoCodec::Vp8,
        ..PublisherSpec::default()
    };
    let (mut publisher, ph, mut sub, sh) = alice_and_viewer(&gw, &room, &spec).await;

    // The screen share, added with a new offer on the same PeerConnection.
    let configured = publisher
        .add_video_track(&ph, "smpte", &spec)
        .await
        .expect("renegotiate");
    let videos = configured["streams"]
        .as_array()
        .map(|s| s.iter().filter(|s| s["type"] == "video").count())
        .unwrap_or(0);
    assert_eq!(videos, 2, "configured: {configured}");
    // The room hears the new stream list.
    let ev = watcher
        .wait_for(
            |e| {
                e["plugindata"]["data"]["publishers"][0]["streams"]
                    .as_array()
                    .is_some_and(|s| s.iter().filter(|s| s["type"] == "video").count() == 2)
            },
            WITHIN,
        )
        .await
        .expect("publishers event with two videos");
    println!("room hears: {}", ev["plugindata"]["data"]);
    // The subscriber of the whole feed gets it: `updated` with an offer.
    answer_updated(&sh, &mut sub).await;
    assert!(
        sub.wait_until(WITHIN, |s| s.video_tracks.load(Ordering::Relaxed) >= 2)
            .await,
        "the screen share plays too (video tracks {})",
        sub.stats.video_tracks.load(Ordering::Relaxed)
    );
    let before = sub.stats.frames();
    assert!(
        sub.wait_until(WITHIN, |s| s.frames() >= before + 30).await,
        "both keep decoding"
    );
}

/// A track removed mid-call (its transceiver made inactive, a new offer):
/// the room lists one video again and its subscriber's m-line goes inactive
/// (`updated`); the camera keeps playing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial(media)]
async fn a_track_removed_mid_call_leaves_the_others_playing() {
    gst::init().unwrap();
    let gw = Gateway::start();
    let admin = videoroom_handle(&gw, true).await;
    let room = create_room(&admin, json!({})).await;
    let spec = PublisherSpec {
        video_patterns: vec!["ball".into(), "smpte".into()],
        ..PublisherSpec::default()
    };
    let (mut publisher, ph, mut sub, sh) = alice_and_viewer(&gw, &room, &spec).await;
    assert!(
        sub.wait_until(WITHIN, |s| s.video_tracks.load(Ordering::Relaxed) >= 2)
            .await,
        "both videos play"
    );
    // The second video's transceiver stops sending.
    let pad = publisher
        .webrtcbin
        .static_pad("sink_1")
        .expect("second video");
    let t = pad
        .property::<Option<gst_webrtc::WebRTCRTPTransceiver>>("transceiver")
        .expect("transceiver");
    t.set_property(
        "direction",
        gst_webrtc::WebRTCRTPTransceiverDirection::Inactive,
    );
    let configured = publisher.renegotiate(&ph).await.expect("renegotiate");
    // The other streams go on at once (1.22's webrtcbin would stop them all
    // if it saw the m-line turn inactive).
    let (f0, a0) = (sub.stats.frames(), sub.stats.audio());
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (frames, audio) = (sub.stats.frames() - f0, sub.stats.audio() - a0);
    println!("in the second after the renegotiation: {frames} frames, {audio} audio buffers");
    assert!(
        frames >= 10 && audio >= 20,
        "{frames} frames, {audio} audio buffers"
    );
    let videos = configured["streams"]
        .as_array()
        .map(|s| s.iter().filter(|s| s["type"] == "video").count())
        .unwrap_or(0);
    assert_eq!(videos, 1, "configured: {configured}");
    let updated = sh
        .wait_for(
            |e| e["plugindata"]["data"]["videoroom"] == "updated",
            WITHIN,
        )
        .await
        .expect("updated");
    let inactive = updated["plugindata"]["data"]["streams"]
        .as_array()
        .map(|s| s.iter().filter(|s| s["active"] == false).count())
        .unwrap_or(0);
    assert_eq!(inactive, 1, "{updated}");
    let offer = updated["jsep"]["sdp"].as_str().expect("updated offer");
    println!("updated: {}", updated["plugindata"]["data"]);
    sub.answer_and_start(&sh, offer).await.expect("answer");
    let before = sub.stats.frames();
    assert!(
        sub.wait_until(WITHIN, |s| s.frames() >= before + 30).await,
        "the camera keeps playing (frames {} -> {})",
        before,
        sub.stats.frames()
    );
}

/// A new m-line in a codec the room does not take: 437, and the call goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial(media)]
async fn a_new_track_in_a_refused_codec_gets_437() {
    gst::init().unwrap();
    let gw = Gateway::start();
    let admin = videoroom_handle(&gw, true).await;
    let room = create_room(&admin, json!({"videocodec": "vp8"})).await;
    let spec = PublisherSpec::default();
    let (mut publisher, ph, sub, _sh) = alice_and_viewer(&gw, &room, &spec).await;
    let h264 = PublisherSpec {
        codec: VideoCodec::H264,
        ..PublisherSpec::default()
    };
    let err = publisher
        .add_video_track(&ph, "smpte", &h264)
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("437"), "{err}");
    let before = sub.stats.frames();
    assert!(
        sub.wait_until(WITHIN, |s| s.frames() >= before + 30).await,
        "the call goes on"
    );
}

/// A publisher's ICE restart (a new offer with new `ice-ufrag`/`ice-pwd`,
/// as janus.js sends with `iceRestart: true`): the gateway takes the new
/// credentials and the call goes on. A subscriber's `configure {restart:
/// true}` gets a clear error (1.22's webrtcbin cannot make new
/// credentials) and its stream goes on untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial(media)]
async fn ice_restarts_keep_the_call_going() {
    gst::init().unwrap();
    let gw = Gateway::start();
    let admin = videoroom_handle(&gw, true).await;
    let room = create_room(&admin, json!({})).await;
    let spec = PublisherSpec {
        codec: VideoCodec::Vp8,
        ..PublisherSpec::default()
    };
    let (mut publisher, ph, sub, sh) = alice_and_viewer(&gw, &room, &spec).await;
    let configured = publisher.restart_ice(&ph).await.expect("ICE restart offer");
    assert_eq!(configured["configured"], "ok", "{configured}");
    let before = sub.stats.frames();
    assert!(
        sub.wait_until(WITHIN, |s| s.frames() >= before + 30).await,
        "the subscriber keeps decoding after the publisher's ICE restart"
    );
    assert_eq!(
        publisher
            .webrtcbin
            .property::<gst_webrtc::WebRTCPeerConnectionState>("connection-state"),
        gst_webrtc::WebRTCPeerConnectionState::Connected
    );
    // The subscriber's own restart: refused, nothing else changes.
    let (r, jsep) = sh
        .call(
            json!({"request": "configure", "restart": true}),
            None,
            WITHIN,
        )
        .await
        .expect("configure restart");
    assert_eq!(r["error_code"], 499, "{r}");
    assert!(
        r["error"]
            .as_str()
            .is_some_and(|e| e.contains("ICE restart")),
        "{r}"
    );
    assert!(jsep.is_none(), "no offer for a refused restart");
    let (r, _) = sh
        .call(
            json!({"request": "configure", "restart": "yes"}),
            None,
            WITHIN,
        )
        .await
        .expect("configure restart");
    assert_eq!(r["error_code"], 430, "{r}");
    let before = sub.stats.frames();
    assert!(
        sub.wait_until(WITHIN, |s| s.frames() >= before + 30).await,
        "the subscriber keeps decoding after its refused restart"
    );
}

/// Audio-only to audio+video mid-call while recording: the subscriber of
/// the whole feed gets the video in an `updated` offer and decodes it; the
/// recording follows, as two playable files: the audio-only part, then
/// audio and video.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial(media)]
async fn audio_only_to_audio_and_video_while_recording() {
    gst::init().unwrap();
    let gw = Gateway::start();
    let dir = common::TempDir::new("reneg-rec");
    let admin = videoroom_handle(&gw, true).await;
    let room = create_room(
        &admin,
        json!({"record": true, "rec_dir": dir.0.display().to_string()}),
    )
    .await;
    let audio_only = PublisherSpec {
        codec: VideoCodec::H264,
        video_patterns: vec![],
        ..PublisherSpec::default()
    };
    let ph = videoroom_handle(&gw, true).await;
    let (mut publisher, joined) = TestPeer::publish(&ph, &room, "alice", &audio_only)
        .await
        .expect("publish audio only");
    let sh = videoroom_handle(&gw, true).await;
    let (mut sub, _) = TestPeer::subscribe_with(
        &sh,
        &room,
        json!([{"feed": joined["id"]}]),
        json!({}),
        Receive::Decode,
    )
    .await
    .expect("subscribe");
    assert!(
        sub.wait_until(WITHIN, |s| s.audio() > 0).await,
        "the subscriber hears the audio"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let spec = PublisherSpec {
        codec: VideoCodec::H264,
        ..PublisherSpec::default()
    };
    let configured = publisher
        .add_video_track(&ph, "ball", &spec)
        .await
        .expect("add video");
    assert!(
        configured["streams"]
            .as_array()
            .is_some_and(|s| s.iter().any(|s| s["type"] == "video")),
        "{configured}"
    );
    answer_updated(&sh, &mut sub).await;
    assert!(
        sub.wait_until(WITHIN, |s| s.frames() >= 30).await,
        "the new video plays"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (r, _) = ph
        .call(json!({"request": "leave"}), None, WITHIN)
        .await
        .expect("leave");
    assert_eq!(r["videoroom"], "event", "{r}");
    // Both files final and playable: audio only, then audio and video.
    let deadline = std::time::Instant::now() + WITHIN;
    let files = loop {
        let mut v: Vec<std::path::PathBuf> = std::fs::read_dir(&dir.0)
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        v.retain(|p| p.extension().is_some_and(|e| e == "mp4"));
        v.sort();
        let probed: Vec<(f64, Vec<String>)> = v.iter().map(|p| common::probe(p)).collect();
        if (v.len() == 2 && probed.iter().all(|(d, _)| *d > 1.0))
            || std::time::Instant::now() > deadline
        {
            break v.into_iter().zip(probed).collect::<Vec<_>>();
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    println!("recordings: {files:?}");
    assert_eq!(files.len(), 2, "two files: {files:?}");
    let (first, second) = (&files[0].1, &files[1].1);
    assert_eq!(
        first.1,
        vec!["aac".to_owned()],
        "the audio-only part: {first:?}"
    );
    assert!(
        second.1.contains(&"h264".to_owned()) && second.1.contains(&"aac".to_owned()),
        "then audio and video: {second:?}"
    );
    for (path, (duration, _)) in &files {
        assert!(*duration >= 2.0, "{}: {duration} s", path.display());
        let errors = common::decode_errors(path);
        assert!(errors.is_empty(), "{}: {errors}", path.display());
    }
}

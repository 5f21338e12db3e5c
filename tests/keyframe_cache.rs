//! The keyframe cache of room feeds (`create` option `keyframe_cache`, on by
//! default): a late subscriber's first picture comes from the publisher
//! stream's last GOP, replayed ahead of the live packets, not from a PLI
//! round trip or the publisher's next keyframe.
//!
//! The publishers here stop answering keyframe requests once the first
//! subscriber has its picture (as a camera behind an ingest, or a sender
//! that rate-limits PLIs, behaves), and their GOP is 10 s: a late
//! subscriber without the cache sees nothing until the next keyframe.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use gateway_testkit::janus::Handle;
use gateway_testkit::peer::{PublisherSpec, Receive, TestPeer, VideoCodec};
use serde_json::{Value, json};
use serial_test::serial;

use common::{Gateway, create_room, videoroom_handle};

const WITHIN: Duration = Duration::from_secs(10);

/// Publishes a 10 s-GOP stream of `codec` into `room`, waits for a first
/// subscriber's picture, then makes the publisher deaf to keyframe requests
/// and waits 3 s (well inside the GOP). Returns the publisher (kept alive)
/// and its feed id, and what must stay alive (the handles, the first
/// subscriber).
async fn deaf_publisher(
    gw: &Gateway,
    room: &Value,
    codec: VideoCodec,
) -> (TestPeer, Value, impl Sized) {
    let ph = videoroom_handle(gw, true).await;
    let spec = PublisherSpec {
        codec,
        gop: 300,
        audio_hz: None,
        ..PublisherSpec::default()
    };
    let (publisher, joined) = TestPeer::publish(&ph, room, "camera", &spec)
        .await
        .expect("publish");
    let feed = joined["id"].clone();
    let first = videoroom_handle(gw, true).await;
    let (sub, _) = TestPeer::subscribe_with(
        &first,
        room,
        json!([{"feed": feed}]),
        json!({}),
        Receive::Decode,
    )
    .await
    .expect("first subscriber");
    assert!(
        sub.wait_until(WITHIN, |s| s.frames() >= 5).await,
        "the first subscriber decodes (frames {})",
        sub.stats.frames()
    );
    publisher.ignore_keyframe_requests();
    tokio::time::sleep(Duration::from_secs(3)).await;
    (publisher, feed, (ph, first, sub))
}

/// Subscribes late to `feed`; returns the subscriber and the time from
/// `join` to its first decoded frame, if one came within `within`.
async fn late_subscriber(
    gw: &Gateway,
    room: &Value,
    feed: &Value,
    within: Duration,
) -> (TestPeer, Arc<Handle>, Option<Duration>) {
    let h = videoroom_handle(gw, true).await;
    let t0 = Instant::now();
    let (sub, _) = TestPeer::subscribe_with(
        &h,
        room,
        json!([{"feed": feed}]),
        json!({}),
        Receive::Decode,
    )
    .await
    .expect("late subscriber");
    sub.wait_until(within, |s| s.frames() >= 1).await;
    let first = *sub
        .stats
        .first_video
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    (sub, h, first.map(|t| t.saturating_duration_since(t0)))
}

async fn late_subscriber_gets_a_picture_at_once(codec: VideoCodec) {
    gst::init().unwrap();
    let gw = Gateway::start();
    let admin = videoroom_handle(&gw, true).await;
    let room = create_room(&admin, json!({})).await;
    let listed = admin.sync(json!({"request": "list"})).await.expect("list");
    let entry = listed["list"]
        .as_array()
        .and_then(|l| l.iter().find(|r| r["room"] == room))
        .cloned()
        .unwrap_or_default();
    assert_eq!(entry["keyframe_cache"], true, "on by default: {entry}");

    let (_publisher, feed, _keep) = deaf_publisher(&gw, &room, codec).await;
    let (sub, _h, first) = late_subscriber(&gw, &room, &feed, Duration::from_secs(4)).await;
    println!("{codec:?}: join → first decoded frame with the cache: {first:?}");
    let first = first.expect("a picture from the keyframe cache");
    assert!(first < Duration::from_secs(3), "{first:?}");
    // The live packets follow the replayed GOP: the picture keeps moving.
    assert!(
        sub.wait_until(WITHIN, |s| s.frames() >= 30).await,
        "live frames after the cache (frames {})",
        sub.stats.frames()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial(media)]
async fn vp8_late_subscriber_gets_a_picture_from_the_cache() {
    late_subscriber_gets_a_picture_at_once(VideoCodec::Vp8).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial(media)]
async fn h264_late_subscriber_gets_a_picture_from_the_cache() {
    late_subscriber_gets_a_picture_at_once(VideoCodec::H264).await;
}

/// The control: with `keyframe_cache: false` the same late subscriber sees
/// nothing until the publisher's next keyframe, 7 s away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial(media)]
async fn without_the_cache_a_late_subscriber_waits_for_the_next_keyframe() {
    gst::init().unwrap();
    let gw = Gateway::start();
    let admin = videoroom_handle(&gw, true).await;
    let room = create_room(&admin, json!({"keyframe_cache": false})).await;
    let (_publisher, feed, _keep) = deaf_publisher(&gw, &room, VideoCodec::Vp8).await;
    let (_sub, _h, first) = late_subscriber(&gw, &room, &feed, Duration::from_secs(3)).await;
    assert!(first.is_none(), "no cache, no picture yet: {first:?}");
}

/// A moderated (muted) video stream's cache is emptied: a subscriber joining
/// while it is muted gets no old picture of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial(media)]
async fn a_moderated_stream_replays_nothing() {
    gst::init().unwrap();
    let gw = Gateway::start();
    let admin = videoroom_handle(&gw, true).await;
    let room = create_room(&admin, json!({"secret": "s"})).await;
    let (publisher, feed, _keep) = deaf_publisher(&gw, &room, VideoCodec::Vp8).await;
    let mid = publisher.configured["streams"][0]["mid"].clone();
    let r = admin
        .sync(json!({"request": "moderate", "room": room, "secret": "s", "id": feed, "mid": mid, "mute": true}))
        .await
        .expect("moderate");
    assert_eq!(r["videoroom"], "success", "{r}");
    let (_sub, _h, first) = late_subscriber(&gw, &room, &feed, Duration::from_secs(3)).await;
    assert!(first.is_none(), "a muted stream shows nothing: {first:?}");
}

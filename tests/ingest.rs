//! RTSP/RTMP ingest: cameras and feeds as room publishers (`add_ingest`),
//! against real servers on loopback started and stopped by pid.

mod common;

use std::time::Duration;

use serde_json::json;
use serial_test::serial;
use webrtc_gateway::client::peer::TestPeer;

use common::{Gateway, Server, create_room, videoroom_handle};

const WITHIN: Duration = Duration::from_secs(15);

/// An RTSP camera (H.264 constrained baseline + Opus) added to an SFU room
/// is a publisher like any other: listed, subscribed to, decoded. It is
/// re-payloaded, not transcoded. When the camera dies and comes back the
/// subscriber gets frames again without renegotiating.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial(media)]
async fn rtsp_camera_joins_a_room_and_survives_a_restart() {
    gst::init().unwrap();
    let mut cam = Server::rtsp(0, &[]);
    let port = cam.port();
    let gw = Gateway::start();
    let admin = videoroom_handle(&gw, true).await;
    let room = create_room(&admin, json!({"videocodec": "h264"})).await;
    let r = admin
        .sync(json!({"request": "add_ingest", "room": room, "url": cam.url, "display": "Lobby camera", "rtsp_reconnect_delay": 1}))
        .await
        .unwrap();
    assert_eq!(r["videoroom"], "success", "{r}");
    let feed = r["id"].clone();
    let list = admin
        .sync(json!({"request": "listparticipants", "room": room}))
        .await
        .unwrap();
    assert!(
        list["participants"].as_array().is_some_and(|a| a
            .iter()
            .any(|p| p["id"] == feed && p["display"] == "Lobby camera")),
        "{list}"
    );
    let h = videoroom_handle(&gw, true).await;
    let (viewer, attached) = TestPeer::subscribe(&h, &room, json!([{"feed": feed}]), true)
        .await
        .expect("subscribe to the camera");
    println!("attached: {attached}");
    assert!(
        viewer
            .wait_until(WITHIN, |s| s.frames() >= 30 && s.audio() > 0)
            .await,
        "frames {} audio {}",
        viewer.stats.frames(),
        viewer.stats.audio()
    );
    let status = admin
        .sync(json!({"request": "list_ingests", "room": room}))
        .await
        .unwrap();
    println!("ingests: {status}");
    let media = &status["ingests"][0]["media"];
    assert!(
        media
            .as_array()
            .is_some_and(|m| m.iter().all(|s| s["transcoded"] == false)),
        "{status}"
    );

    // The camera restarts on the same port.
    cam.kill();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = viewer.stats.frames();
    let _cam = Server::rtsp(port, &[]);
    let back = viewer
        .wait_until(Duration::from_secs(10), |s| s.frames() >= before + 30)
        .await;
    assert!(back, "no frames within 10 s of the camera's return");

    let r = admin
        .sync(json!({"request": "remove_ingest", "room": room, "id": feed}))
        .await
        .unwrap();
    assert_eq!(r["videoroom"], "success", "{r}");
    drop(viewer);
}

/// Bad ingests get Janus errors, and the room keeps working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial(media)]
async fn bad_ingests_get_errors() {
    gst::init().unwrap();
    let gw = Gateway::start();
    let admin = videoroom_handle(&gw, true).await;
    let room = create_room(&admin, json!({"secret": "s3"})).await;
    let err = |r: &serde_json::Value| r["error_code"].as_u64().unwrap_or(0);
    // Not a URL we take.
    let r = admin
        .sync(json!({"request": "add_ingest", "room": room, "secret": "s3", "url": "http://example.com/x"}))
        .await
        .unwrap();
    assert_eq!(err(&r), 430, "{r}");
    // Missing url, wrong secret, unknown room.
    let r = admin
        .sync(json!({"request": "add_ingest", "room": room, "secret": "s3"}))
        .await
        .unwrap();
    assert_eq!(err(&r), 429, "{r}");
    let r = admin
        .sync(json!({"request": "add_ingest", "room": room, "secret": "no", "url": "rtsp://127.0.0.1:1/x"}))
        .await
        .unwrap();
    assert_eq!(err(&r), 433, "{r}");
    let r = admin
        .sync(json!({"request": "add_ingest", "room": 4242, "url": "rtsp://127.0.0.1:1/x"}))
        .await
        .unwrap();
    assert_eq!(err(&r), 426, "{r}");
    // Nobody listens there: a clear error, quickly.
    let t = std::time::Instant::now();
    let r = admin
        .sync(json!({"request": "add_ingest", "room": room, "secret": "s3", "url": "rtsp://127.0.0.1:1/nothing"}))
        .await
        .unwrap();
    println!("unreachable: {r} after {:?}", t.elapsed());
    assert_eq!(err(&r), 499, "{r}");
    assert!(
        r["error"].as_str().unwrap_or("").contains("source failed"),
        "{r}"
    );
    let r = admin
        .sync(json!({"request": "remove_ingest", "room": room, "secret": "s3", "id": 99}))
        .await
        .unwrap();
    assert_eq!(err(&r), 428, "{r}");
    // The room still lists, with no ingest left behind.
    let r = admin
        .sync(json!({"request": "listparticipants", "room": room}))
        .await
        .unwrap();
    assert_eq!(r["participants"], json!([]), "{r}");
}

//! Peers come and go while a room plays, and nobody else stalls; one
//! participant's failure stays with that participant; one room's failure
//! never touches another room; nothing leaks.

mod common;

use std::sync::Arc;
use std::time::Duration;

use gateway_testkit::janus::Session;
use gateway_testkit::peer::{PublisherSpec, TestPeer, VideoCodec};
use serde_json::json;
use serial_test::serial;

use common::{Gateway, VIDEOROOM, create_room, videoroom_handle};

const WITHIN: Duration = Duration::from_secs(10);
/// Largest gap allowed in a steady subscriber's decoded video while others
/// churn. At 30 fps a frame is 33 ms; this leaves room for a loaded 2-core CI.
const MAX_GAP: Duration = Duration::from_millis(500);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial(media)]
async fn churn_and_failures_stay_local() {
    gst::init().unwrap();
    let gw = Gateway::start();
    let admin = videoroom_handle(&gw, true).await;
    let room_a = create_room(&admin, json!({})).await;
    let room_b = create_room(&admin, json!({})).await;
    let spec = PublisherSpec {
        codec: VideoCodec::Vp8,
        gop: 60,
        ..PublisherSpec::default()
    };

    // Room A: a steady publisher and subscriber. Room B: the same.
    let pa = videoroom_handle(&gw, true).await;
    let (_pub_a, ja) = TestPeer::publish(&pa, &room_a, "steady-a", &spec)
        .await
        .unwrap();
    let sa = videoroom_handle(&gw, true).await;
    let (steady_a, _) = TestPeer::subscribe(&sa, &room_a, json!([{"feed": ja["id"]}]), true)
        .await
        .unwrap();
    let pb = videoroom_handle(&gw, false).await;
    let (_pub_b, jb) = TestPeer::publish(&pb, &room_b, "steady-b", &spec)
        .await
        .unwrap();
    let sb = videoroom_handle(&gw, false).await;
    let (steady_b, _) = TestPeer::subscribe(&sb, &room_b, json!([{"feed": jb["id"]}]), true)
        .await
        .unwrap();
    for s in [&steady_a, &steady_b] {
        assert!(
            s.wait_until(WITHIN, |st| st.frames() >= 30).await,
            "steady subscribers play"
        );
    }
    steady_a.stats.reset_gap();
    steady_b.stats.reset_gap();

    // Churn in room A: subscribers join and leave politely, or vanish (their
    // WebSocket closes mid-stream); a second publisher appears and dies.
    for round in 0..3 {
        let s = Session::connect_ws(&gw.ws).await.unwrap();
        let h = Arc::new(s.attach(VIDEOROOM).await.unwrap());
        let (p, _) = TestPeer::subscribe(&h, &room_a, json!([{"feed": ja["id"]}]), true)
            .await
            .unwrap();
        assert!(
            p.wait_until(WITHIN, |st| st.frames() >= 5).await,
            "churn subscriber {round} plays"
        );
        if round % 2 == 0 {
            let (left, _) = h
                .call(json!({"request": "leave"}), None, WITHIN)
                .await
                .unwrap();
            assert_eq!(left["left"], "ok", "{left}");
        }
        // Odd rounds: the client just disappears (session dropped, socket closed).
        drop(p);
        drop(h);
    }
    let s = Session::connect_ws(&gw.ws).await.unwrap();
    let h = Arc::new(s.attach(VIDEOROOM).await.unwrap());
    let (vanishing, jv) = TestPeer::publish(&h, &room_a, "vanishing", &spec)
        .await
        .unwrap();
    let sv = videoroom_handle(&gw, true).await;
    let (sub_v, _) = TestPeer::subscribe(&sv, &room_a, json!([{"feed": jv["id"]}]), true)
        .await
        .unwrap();
    assert!(
        sub_v.wait_until(WITHIN, |st| st.frames() >= 5).await,
        "second publisher plays"
    );
    drop(vanishing);
    drop(h);
    drop(s);
    // Its subscriber is renegotiated with the feed gone.
    let updated = sv
        .wait_for(
            |e| e["plugindata"]["data"]["videoroom"] == "updated",
            WITHIN,
        )
        .await;
    assert!(
        updated.is_ok(),
        "subscriber of a vanished publisher is updated"
    );

    // Room A's failure end: destroyed while room B plays.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        steady_a.stats.max_gap() < MAX_GAP,
        "room A steady subscriber stalled {:?}",
        steady_a.stats.max_gap()
    );
    admin
        .sync(json!({"request": "destroy", "room": room_a}))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        steady_b.stats.max_gap() < MAX_GAP,
        "room B stalled {:?} while room A churned and died",
        steady_b.stats.max_gap()
    );
    assert!(steady_b.stats.frames() > 100);

    // Nothing leaked: only room B's two webrtcbins remain.
    drop((steady_a, sub_v, sa, sv, pa));
    assert_eq!(
        gw.wait_metric("gateway_webrtcbins_alive", 2.0, WITHIN)
            .await,
        Some(2.0),
        "webrtcbins of gone peers freed"
    );
    assert_eq!(gw.metric("gateway_pipelines_alive").await, Some(1.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial(media)]
async fn session_timeout_and_claim() {
    gst::init().unwrap();
    let gw = Gateway::start();
    // A WebSocket session claimed over HTTP moves its events there.
    let ws = Session::connect_ws(&gw.ws).await.unwrap();
    let http = reqwest::Client::new();
    let claim: serde_json::Value = http
        .post(format!("{}/{}", gw.http, ws.id))
        .body(r#"{"janus":"claim","transaction":"c"}"#)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(claim["janus"], "success", "{claim}");
    drop(ws);
    // Closing the socket no longer owns the session: it survives.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(gw.metric("gateway_sessions").await, Some(1.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial(media)]
async fn idle_sessions_time_out_and_closed_sockets_free_theirs() {
    gst::init().unwrap();
    let gw = Gateway::start_config("[general]\nsession_timeout = 2\n", "");
    let admin = videoroom_handle(&gw, false).await; // long-polls: stays alive
    let room = create_room(&admin, json!({})).await;
    // A raw HTTP session that never polls nor keeps alive.
    let http = reqwest::Client::new();
    let post = |url: String, body: serde_json::Value| {
        let http = http.clone();
        async move {
            http.post(url)
                .body(body.to_string())
                .send()
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
                .unwrap()
        }
    };
    let created = post(
        gw.http.clone(),
        json!({"janus": "create", "transaction": "c"}),
    )
    .await;
    let sid = created["data"]["id"].as_u64().unwrap();
    let attached = post(
        format!("{}/{sid}", gw.http),
        json!({"janus": "attach", "plugin": VIDEOROOM, "transaction": "a"}),
    )
    .await;
    let hid = attached["data"]["id"].as_u64().unwrap();
    let ack = post(
        format!("{}/{sid}/{hid}", gw.http),
        json!({"janus": "message", "transaction": "j", "body": {"request": "join", "ptype": "publisher", "room": room}}),
    )
    .await;
    assert_eq!(ack["janus"], "ack", "{ack}");
    let count = || async {
        admin
            .sync(json!({"request": "listparticipants", "room": room}))
            .await
            .unwrap()["participants"]
            .as_array()
            .unwrap()
            .len()
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(count().await, 1);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let gone = post(
        format!("{}/{sid}", gw.http),
        json!({"janus": "keepalive", "transaction": "k"}),
    )
    .await;
    assert_eq!(
        gone["error"]["code"], 458,
        "timed-out session is gone: {gone}"
    );
    assert_eq!(count().await, 0, "its handle left the room");

    // A WebSocket that closes takes its sessions (and their room places) along.
    let ws = Session::connect_ws(&gw.ws).await.unwrap();
    let h = ws.attach(VIDEOROOM).await.unwrap();
    let (joined, _) = h
        .call(
            json!({"request": "join", "ptype": "publisher", "room": room}),
            None,
            WITHIN,
        )
        .await
        .unwrap();
    assert_eq!(joined["videoroom"], "joined");
    assert_eq!(count().await, 1);
    drop(h);
    drop(ws);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(count().await, 0, "closed socket's participant left");
}

/// SIGTERM with media flowing: rooms stop their pipelines in order and the
/// process exits cleanly and promptly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial(media)]
async fn sigterm_stops_rooms_and_exits() {
    gst::init().unwrap();
    let mut gw = Gateway::start();
    let admin = videoroom_handle(&gw, true).await;
    let room = create_room(&admin, json!({})).await;
    let ph = videoroom_handle(&gw, true).await;
    let spec = PublisherSpec {
        codec: VideoCodec::Vp8,
        ..PublisherSpec::default()
    };
    let (_p, joined) = TestPeer::publish(&ph, &room, "p", &spec).await.unwrap();
    let sh = videoroom_handle(&gw, true).await;
    let (sub, _) = TestPeer::subscribe(&sh, &room, json!([{"feed": joined["id"]}]), false)
        .await
        .unwrap();
    assert!(
        sub.wait_until(WITHIN, |s| s
            .video_packets
            .load(std::sync::atomic::Ordering::Relaxed)
            > 30)
            .await
    );
    let started = std::time::Instant::now();
    let status = gw
        .terminate(Duration::from_secs(10))
        .expect("gateway exits after SIGTERM");
    assert!(status.success(), "clean exit: {status}");
    println!("SIGTERM to exit: {} ms", started.elapsed().as_millis());
}

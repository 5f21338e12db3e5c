//! Sessions that survive a dropped WebSocket (`[general]
//! reclaim_session_timeout`, Janus's): a publisher's socket is cut mid-call,
//! a new socket `claim`s the session and gets the events queued meanwhile,
//! and the subscriber's video never stops; an unclaimed session goes at
//! the timeout, taking its publisher with it.

mod common;

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use serial_test::serial;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use common::{Gateway, create_room, videoroom_handle};
use gateway_testkit::peer::{PublisherSpec, TestPeer};

const WITHIN: Duration = Duration::from_secs(10);

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(url: &str) -> Ws {
    let mut req = url.into_client_request().unwrap();
    req.headers_mut()
        .insert("Sec-WebSocket-Protocol", "janus-protocol".parse().unwrap());
    tokio::time::timeout(WITHIN, tokio_tungstenite::connect_async(req))
        .await
        .expect("connect in time")
        .expect("websocket")
        .0
}

/// The first frame matching `pred`: from `backlog` (frames read earlier),
/// else read now, at most [`WITHIN`]; frames that do not match are kept in
/// `backlog` in order.
async fn read_until(ws: &mut Ws, backlog: &mut Vec<Value>, pred: impl Fn(&Value) -> bool) -> Value {
    if let Some(i) = backlog.iter().position(&pred) {
        return backlog.remove(i);
    }
    let found = tokio::time::timeout(WITHIN, async {
        loop {
            let m = ws.next().await.expect("open").expect("frame");
            if let Ok(v) = serde_json::from_str::<Value>(m.to_text().unwrap_or("")) {
                if pred(&v) {
                    return v;
                }
                backlog.push(v);
            }
        }
    })
    .await;
    found.unwrap_or_else(|_| panic!("the frame did not come; seen: {backlog:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial(media)]
async fn a_claimed_session_keeps_its_call_going() {
    gst::init().unwrap();
    let gw = Gateway::start_config(
        "[general]\nsession_timeout = 60\nreclaim_session_timeout = 20\n",
        "",
    );
    let owner = videoroom_handle(&gw, false).await;
    let room = create_room(&owner, json!({})).await;
    let publisher_handle = videoroom_handle(&gw, true).await;
    let (publisher, joined) =
        TestPeer::publish(&publisher_handle, &room, "alice", &PublisherSpec::default())
            .await
            .expect("publish");
    let feed = joined["id"].clone();
    let sub_handle = videoroom_handle(&gw, false).await;
    let (viewer, _) = TestPeer::subscribe(&sub_handle, &room, json!([{"feed": feed}]), true)
        .await
        .expect("subscribe");
    assert!(
        viewer.wait_until(WITHIN, |s| s.frames() >= 20).await,
        "frames before the cut"
    );

    // The publisher's socket drops; its session waits for a claim.
    let session = publisher_handle.session().id;
    let handle = publisher_handle.id;
    viewer.stats.reset_gap();
    publisher_handle.session().cut_socket();
    tokio::time::sleep(Duration::from_secs(2)).await;
    // An event for the orphaned session while nobody holds it: a second
    // publisher joins, and alice's handle is told.
    let bob = videoroom_handle(&gw, false).await;
    let (bob_peer, _) = TestPeer::publish(&bob, &room, "bob", &PublisherSpec::default())
        .await
        .expect("bob publishes");

    let mut ws = connect(&gw.ws).await;
    let mut backlog = Vec::new();
    ws.send(Message::text(
        json!({"janus":"claim","transaction":"c1","session_id":session}).to_string(),
    ))
    .await
    .unwrap();
    let claimed = read_until(&mut ws, &mut backlog, |v| v["transaction"] == "c1").await;
    assert_eq!(claimed["janus"], "success", "{claimed}");
    let queued = read_until(&mut ws, &mut backlog, |v| {
        v["sender"] == handle && v["plugindata"]["data"]["publishers"].is_array()
    })
    .await;
    assert_eq!(
        queued["plugindata"]["data"]["publishers"][0]["display"], "bob",
        "{queued}"
    );
    // The claimed session takes requests on the new socket.
    ws.send(Message::text(
        json!({"janus":"message","transaction":"m1","session_id":session,"handle_id":handle,
               "body":{"request":"configure","display":"alice-again"}})
        .to_string(),
    ))
    .await
    .unwrap();
    let configured = read_until(&mut ws, &mut backlog, |v| {
        v["transaction"] == "m1" && v["janus"] == "event"
    })
    .await;
    assert_eq!(
        configured["plugindata"]["data"]["configured"], "ok",
        "{configured}"
    );
    let before = viewer.stats.frames();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        viewer.stats.frames() > before + 10,
        "video goes on after the claim"
    );
    let gap = viewer.stats.max_gap();
    assert!(
        gap < Duration::from_millis(500),
        "the viewer's video stalled {gap:?} across the cut and claim"
    );
    drop((publisher, bob_peer));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial(media)]
async fn an_unclaimed_session_ends_at_the_reclaim_timeout() {
    gst::init().unwrap();
    let gw = Gateway::start_config(
        "[general]\nsession_timeout = 60\nreclaim_session_timeout = 2\n",
        "",
    );
    let owner = videoroom_handle(&gw, false).await;
    let room = create_room(&owner, json!({})).await;
    let handle = videoroom_handle(&gw, true).await;
    let (publisher, _) = TestPeer::publish(&handle, &room, "alice", &PublisherSpec::default())
        .await
        .expect("publish");
    handle.session().cut_socket();
    // Within the timeout alice is still in the room; after it she is gone.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let listed = owner
        .sync(json!({"request":"listparticipants","room":room}))
        .await
        .unwrap();
    assert_eq!(
        listed["participants"].as_array().map(Vec::len),
        Some(1),
        "{listed}"
    );
    let mut left = false;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let l = owner
            .sync(json!({"request":"listparticipants","room":room}))
            .await
            .unwrap();
        if l["participants"].as_array().is_some_and(Vec::is_empty) {
            left = true;
            break;
        }
    }
    assert!(
        left,
        "the unclaimed publisher left the room after the reclaim timeout"
    );
    drop(publisher);
}

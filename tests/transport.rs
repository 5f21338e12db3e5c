//! Transports against the real gateway: a WebSocket client that sends but
//! never reads is closed once its outbox is full, and nothing else suffers.

mod common;

use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serial_test::serial;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use common::Gateway;

/// Requests the reader sends at most (each answered by a ~1 kB `server_info`).
const MAX_REQUESTS: usize = 200_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial(media)]
async fn a_websocket_client_that_never_reads_is_closed() {
    let gw = Gateway::start();
    let mut req = gw.ws.as_str().into_client_request().unwrap();
    req.headers_mut()
        .insert("sec-websocket-protocol", "janus-protocol".parse().unwrap());
    let (socket, _) = tokio_tungstenite::connect_async(req)
        .await
        .expect("connect");
    let (mut tx, rx) = socket.split();
    // Send requests without ever reading the replies: once the socket's
    // buffers and the gateway's outbox are full, the gateway closes it and
    // our writes start failing.
    let started = Instant::now();
    let mut sent = 0;
    let mut closed = false;
    while sent < MAX_REQUESTS && started.elapsed() < Duration::from_secs(60) {
        let frame = format!(r#"{{"janus":"info","transaction":"t{sent}"}}"#);
        match tokio::time::timeout(Duration::from_secs(5), tx.send(Message::text(frame))).await {
            Ok(Ok(())) => sent += 1,
            // A write error or a write that blocks for good: the peer is gone
            // or no longer reads us.
            Ok(Err(_)) | Err(_) => {
                closed = true;
                break;
            }
        }
    }
    println!("sent {sent} requests in {:?}", started.elapsed());
    assert!(closed, "still open after {sent} unread replies");
    drop((tx, rx));
    // The gateway still serves everyone else.
    let s = gw.session(true).await;
    let h = s.attach("janus.plugin.videoroom").await.expect("attach");
    let list = h
        .sync(serde_json::json!({"request": "list"}))
        .await
        .expect("list");
    assert_eq!(list["videoroom"], "success", "{list}");
}

/// A 2 MB request gets a Janus error (450) over WebSocket and over HTTP,
/// and the WebSocket stays open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial(media)]
async fn oversized_requests_get_a_janus_error() {
    let gw = Gateway::start();
    let big = format!(
        r#"{{"janus":"ping","transaction":"t","pad":"{}"}}"#,
        "x".repeat(2 << 20)
    );
    let mut req = gw.ws.as_str().into_client_request().unwrap();
    req.headers_mut()
        .insert("sec-websocket-protocol", "janus-protocol".parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(req)
        .await
        .expect("connect");
    let next = async |socket: &mut tokio_tungstenite::WebSocketStream<_>| -> serde_json::Value {
        let m = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a reply in time")
            .expect("still open")
            .expect("a frame");
        serde_json::from_str(m.to_text().expect("text")).expect("JSON")
    };
    socket.send(Message::text(big.clone())).await.expect("sent");
    let r = next(&mut socket).await;
    assert_eq!(r["janus"], "error", "{r}");
    assert_eq!(r["error"]["code"], 450, "{r}");
    socket
        .send(Message::text(r#"{"janus":"ping","transaction":"p"}"#))
        .await
        .expect("the socket is still open");
    let r = next(&mut socket).await;
    assert_eq!(r["janus"], "pong", "{r}");

    let r: serde_json::Value = reqwest::Client::new()
        .post(&gw.http)
        .body(big)
        .send()
        .await
        .expect("POST")
        .json()
        .await
        .expect("a JSON reply, not warp's plain-text 413");
    assert_eq!(r["janus"], "error", "{r}");
    assert_eq!(r["error"]["code"], 450, "{r}");
}

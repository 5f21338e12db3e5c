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

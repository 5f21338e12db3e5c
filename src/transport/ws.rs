//! WebSocket transport (Janus "WebSockets API"): one JSON request per text
//! frame, `session_id`/`handle_id` in the body, events pushed on the same
//! socket. The `janus-protocol` subprotocol is echoed in the handshake (janus.js
//! refuses the socket otherwise; warp does not do it by itself). Closing the
//! socket destroys the sessions it created (or, with a reclaim timeout,
//! leaves them waiting for a `claim`).
//!
//! The Admin API uses the same framing on its own port, with the
//! `janus-admin-protocol` subprotocol ([`admin_routes`]): requests in,
//! replies out, no sessions owned by the socket.

use std::sync::Arc;

use futures::{SinkExt, StreamExt};
use tracing::debug;
use warp::Filter;
use warp::ws::{Message, WebSocket, Ws};

use crate::gateway::Gateway;
use crate::janus::Transport;

/// The subprotocol Janus clients ask for.
pub const SUBPROTOCOL: &str = "janus-protocol";
/// The subprotocol of the Admin API.
pub const ADMIN_SUBPROTOCOL: &str = "janus-admin-protocol";
/// Largest request: a larger one is answered with a Janus error (450) and
/// the connection stays.
const MAX_MESSAGE_BYTES: usize = 1 << 20;
/// Largest frame read at all: past it the socket is closed (the frame
/// cannot be answered without buffering it whole).
const MAX_FRAME_BYTES: usize = 16 << 20;

/// The WebSocket route (any path, as Janus accepts).
pub fn routes(
    gw: Arc<Gateway>,
) -> impl Filter<Extract = (warp::reply::Response,), Error = warp::Rejection>
+ Clone
+ Send
+ Sync
+ 'static {
    upgrade(gw, SUBPROTOCOL, |gw, socket| Box::pin(serve(gw, socket)))
}

/// The Admin API's WebSocket route (any path).
pub fn admin_routes(
    gw: Arc<Gateway>,
) -> impl Filter<Extract = (warp::reply::Response,), Error = warp::Rejection>
+ Clone
+ Send
+ Sync
+ 'static {
    upgrade(gw, ADMIN_SUBPROTOCOL, |gw, socket| {
        Box::pin(serve_admin(gw, socket))
    })
}

type Serve = fn(Arc<Gateway>, WebSocket) -> futures::future::BoxFuture<'static, ()>;

/// The upgrade, echoing `subprotocol` when the client asks for it.
fn upgrade(
    gw: Arc<Gateway>,
    subprotocol: &'static str,
    serve: Serve,
) -> impl Filter<Extract = (warp::reply::Response,), Error = warp::Rejection>
+ Clone
+ Send
+ Sync
+ 'static {
    warp::ws()
        .and(warp::header::optional::<String>("sec-websocket-protocol"))
        .map(move |ws: Ws, protocols: Option<String>| {
            let gw = gw.clone();
            let reply = ws
                .max_message_size(MAX_FRAME_BYTES)
                .max_frame_size(MAX_FRAME_BYTES)
                .on_upgrade(move |socket| serve(gw, socket));
            let wants = protocols
                .as_deref()
                .is_some_and(|p| p.split(',').any(|p| p.trim() == subprotocol));
            let mut resp = warp::reply::Reply::into_response(reply);
            if wants {
                resp.headers_mut().insert(
                    "sec-websocket-protocol",
                    warp::http::HeaderValue::from_static(subprotocol),
                );
            }
            resp
        })
}

/// One Admin API socket: each request answered on it, in order of arrival
/// of the answers (they carry their transactions).
async fn serve_admin(gw: Arc<Gateway>, socket: WebSocket) {
    debug!("admin websocket open");
    let (mut tx, mut rx) = socket.split();
    let (reply_tx, mut reply_rx) = tokio::sync::mpsc::channel::<serde_json::Value>(64);
    let writer = tokio::spawn(async move {
        while let Some(v) = reply_rx.recv().await {
            if tx.send(Message::text(v.to_string())).await.is_err() {
                break;
            }
        }
    });
    while let Some(Ok(msg)) = rx.next().await {
        if msg.is_close() {
            break;
        }
        if !(msg.is_text() || msg.is_binary()) {
            continue;
        }
        let fut = if msg.as_bytes().len() > MAX_MESSAGE_BYTES {
            let e = crate::janus::JanusError::TooLarge(MAX_MESSAGE_BYTES as u64);
            let v = crate::janus::wire::error(None, None, &e);
            Box::pin(async move { v })
        } else {
            gw.admin_request(msg.as_bytes(), None)
        };
        // Waiting for the writer bounds what one client can queue.
        if reply_tx.send(fut.await).await.is_err() {
            break;
        }
    }
    drop(reply_tx);
    let _ = writer.await;
    debug!("admin websocket closed");
}

async fn serve(gw: Arc<Gateway>, socket: WebSocket) {
    let link = gw.ws_open();
    let (conn, mut outbox, close) = (link.conn, link.outbox, link.close);
    debug!(conn, "websocket open");
    let (mut tx, mut rx) = socket.split();
    let writer = tokio::spawn(async move {
        while let Some(v) = outbox.recv().await {
            if tx.send(Message::text(v.to_string())).await.is_err() {
                break;
            }
        }
    });
    let (reply_tx, mut reply_rx) = tokio::sync::mpsc::unbounded_channel::<serde_json::Value>();
    // Replies go through the gateway's outbox so they interleave with events
    // in order (and count against its bound).
    let gw_replies = gw.clone();
    let reply_pump = tokio::spawn(async move {
        while let Some(v) = reply_rx.recv().await {
            gw_replies.push_ws(conn, v);
        }
    });
    loop {
        let msg = tokio::select! {
            m = rx.next() => m,
            // The gateway gave up on this client (it stopped reading).
            () = close.notified() => break,
        };
        let Some(Ok(msg)) = msg else { break };
        if msg.is_close() {
            break;
        }
        if !(msg.is_text() || msg.is_binary()) {
            continue;
        }
        if msg.as_bytes().len() > MAX_MESSAGE_BYTES {
            let e = crate::janus::JanusError::TooLarge(MAX_MESSAGE_BYTES as u64);
            let _ = reply_tx.send(crate::janus::wire::error(None, None, &e));
            continue;
        }
        // The ordered part runs now; only the wait for the reply is spawned.
        let fut = gw.request(msg.as_bytes(), None, Transport::Ws(conn));
        let reply_tx = reply_tx.clone();
        tokio::spawn(async move {
            let _ = reply_tx.send(fut.await);
        });
    }
    debug!(conn, "websocket closed");
    gw.ws_closed(conn);
    drop(reply_tx);
    let _ = reply_pump.await;
    writer.abort();
}

//! `[limits]`: sessions per WebSocket connection, handles per session,
//! rooms and mountpoints. Each reached limit gets a clear Janus or plugin
//! error reply; the connection stays open and the gateway keeps serving.

mod common;

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use serial_test::serial;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use common::Gateway;

const WITHIN: Duration = Duration::from_secs(10);

struct Ws {
    ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    n: u64,
}

impl Ws {
    async fn connect(url: &str) -> Ws {
        let mut req = url.into_client_request().unwrap();
        req.headers_mut()
            .insert("Sec-WebSocket-Protocol", "janus-protocol".parse().unwrap());
        let ws = tokio::time::timeout(WITHIN, tokio_tungstenite::connect_async(req))
            .await
            .expect("connect in time")
            .expect("websocket")
            .0;
        Ws { ws, n: 0 }
    }

    /// Sends `body` with a fresh transaction; the reply carrying it.
    async fn call(&mut self, mut body: Value) -> Value {
        self.n += 1;
        let tx = format!("t{}", self.n);
        body["transaction"] = json!(tx);
        self.ws.send(Message::text(body.to_string())).await.unwrap();
        tokio::time::timeout(WITHIN, async {
            loop {
                let m = self.ws.next().await.expect("open").expect("frame");
                if let Ok(v) = serde_json::from_str::<Value>(m.to_text().unwrap_or(""))
                    && v["transaction"] == tx
                    && v["janus"] != "ack"
                {
                    return v;
                }
            }
        })
        .await
        .expect("a reply in time")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial(media)]
async fn limits_get_error_replies_and_the_connection_stays() {
    let gw = Gateway::start_with(
        "[limits]\nsessions_per_connection = 2\nhandles_per_session = 2\nrooms = 1\nmountpoints = 1\n",
    );
    let mut ws = Ws::connect(&gw.ws).await;
    let mut sessions = vec![];
    for _ in 0..2 {
        let r = ws.call(json!({"janus":"create"})).await;
        sessions.push(r["data"]["id"].as_u64().expect("a session under the limit"));
    }
    let r = ws.call(json!({"janus":"create"})).await;
    assert_eq!(r["error"]["code"], 490, "{r}");
    assert!(
        r["error"]["reason"]
            .as_str()
            .unwrap()
            .contains("sessions_per_connection"),
        "{r}"
    );
    // Another connection has its own allowance.
    let mut other = Ws::connect(&gw.ws).await;
    let r = other.call(json!({"janus":"create"})).await;
    assert!(r["data"]["id"].as_u64().is_some(), "{r}");
    // Handles.
    let s = sessions[0];
    let attach = json!({"janus":"attach","session_id":s,"plugin":"janus.plugin.videoroom"});
    let h = ws.call(attach.clone()).await["data"]["id"]
        .as_u64()
        .expect("handle 1");
    let st = ws
        .call(json!({"janus":"attach","session_id":s,"plugin":"janus.plugin.streaming"}))
        .await["data"]["id"]
        .as_u64()
        .expect("handle 2");
    let r = ws.call(attach.clone()).await;
    assert_eq!(r["error"]["code"], 490, "{r}");
    assert!(
        r["error"]["reason"]
            .as_str()
            .unwrap()
            .contains("handles_per_session"),
        "{r}"
    );
    // Rooms.
    let msg = |handle: u64, body: Value| json!({"janus":"message","session_id":s,"handle_id":handle,"body":body});
    let r = ws.call(msg(h, json!({"request":"create"}))).await;
    assert_eq!(r["plugindata"]["data"]["videoroom"], "created", "{r}");
    let r = ws.call(msg(h, json!({"request":"create"}))).await;
    assert_eq!(r["plugindata"]["data"]["error_code"], 499, "{r}");
    assert!(
        r["plugindata"]["data"]["error"]
            .as_str()
            .unwrap()
            .contains("room limit"),
        "{r}"
    );
    // Mountpoints.
    let rtp = |port: u16| json!({"request":"create","type":"rtp","media":[{"type":"video","mid":"v","port":port,"pt":96,"codec":"vp8"}]});
    let (p1, p2) = (common::free_udp_port(), common::free_udp_port());
    let r = ws.call(msg(st, rtp(p1))).await;
    assert_eq!(r["plugindata"]["data"]["streaming"], "created", "{r}");
    let r = ws.call(msg(st, rtp(p2))).await;
    assert_eq!(r["plugindata"]["data"]["error_code"], 456, "{r}");
    assert!(
        r["plugindata"]["data"]["error"]
            .as_str()
            .unwrap()
            .contains("mountpoint limit"),
        "{r}"
    );
    // The connection still serves; freeing a session frees its slot.
    let r = ws.call(json!({"janus":"ping"})).await;
    assert_eq!(r["janus"], "pong");
    let r = ws
        .call(json!({"janus":"destroy","session_id":sessions[1]}))
        .await;
    assert_eq!(r["janus"], "success", "{r}");
    let r = ws.call(json!({"janus":"create"})).await;
    assert!(r["data"]["id"].as_u64().is_some(), "{r}");
}

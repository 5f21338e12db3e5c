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

/// `[limits] recordings = 1`: a second publisher's `record: true` gets
/// videoroom 499 while the first records; once that stops, it may record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial(media)]
async fn the_recordings_limit_refuses_one_more_and_frees_on_stop() {
    use gateway_testkit::peer::{PublisherSpec, TestPeer};
    gst::init().unwrap();
    let gw = Gateway::start_with("[limits]\nrecordings = 1\n");
    let dir = common::TempDir::new("reclimit");
    let owner = common::videoroom_handle(&gw, true).await;
    let room = common::create_room(&owner, json!({"rec_dir": dir.0.display().to_string()})).await;
    let (ha, hb) = (
        common::videoroom_handle(&gw, true).await,
        common::videoroom_handle(&gw, true).await,
    );
    let (_a, _) = TestPeer::publish(&ha, &room, "a", &PublisherSpec::default())
        .await
        .unwrap();
    let (_b, _) = TestPeer::publish(&hb, &room, "b", &PublisherSpec::default())
        .await
        .unwrap();
    let record = |on: bool| json!({"request": "configure", "record": on});
    let (first, _) = ha.call(record(true), None, WITHIN).await.unwrap();
    assert_eq!(first["configured"], "ok", "{first}");
    let (refused, _) = hb.call(record(true), None, WITHIN).await.unwrap();
    assert_eq!(refused["error_code"], 499, "{refused}");
    assert!(
        refused["error"]
            .as_str()
            .is_some_and(|e| e.contains("Maximum number of recordings (1)")),
        "{refused}"
    );
    let list = owner
        .sync(json!({"request": "list_recordings", "room": room}))
        .await
        .unwrap();
    assert_eq!(list["running"].as_array().map(Vec::len), Some(1), "{list}");
    ha.call(record(false), None, WITHIN).await.unwrap();
    // The slot frees once the first file is final.
    let deadline = std::time::Instant::now() + WITHIN;
    let again = loop {
        let (r, _) = hb.call(record(true), None, WITHIN).await.unwrap();
        if r["configured"] == "ok" || std::time::Instant::now() > deadline {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(again["configured"], "ok", "{again}");
}

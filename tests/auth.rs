//! The API secret (`[general] api_secret`, Janus's `api_secret`) against the
//! real gateway, over HTTP, WebSocket and the long poll.

mod common;

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use serial_test::serial;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use common::Gateway;

const SECRET: &str = "s3cret";
const WITHIN: Duration = Duration::from_secs(10);

async fn post(url: &str, body: Value) -> Value {
    common::post_json(url, &body).await
}

async fn get(url: &str) -> Value {
    tokio::time::timeout(WITHIN, async {
        reqwest::get(url)
            .await
            .expect("GET")
            .json::<Value>()
            .await
            .expect("JSON reply")
    })
    .await
    .expect("answered in time")
}

fn unauthorized(r: &Value) -> bool {
    r["janus"] == "error"
        && r["error"]["code"] == 403
        && r["error"]["reason"] == "Unauthorized request (wrong or missing secret/token)"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial(media)]
async fn the_api_secret_is_required_on_every_transport() {
    let gw = Gateway::start_config(
        &format!("[general]\nsession_timeout = 60\napi_secret = \"{SECRET}\"\n"),
        "",
    );
    // Info needs no secret, and says one is needed.
    let info = get(&format!("{}/info", gw.http)).await;
    assert_eq!(info["api_secret"], true, "{info}");

    // HTTP: nothing without the secret, everything with it.
    for body in [
        json!({"janus": "create", "transaction": "a"}),
        json!({"janus": "create", "transaction": "b", "apisecret": "wrong"}),
    ] {
        let r = post(&gw.http, body.clone()).await;
        assert!(unauthorized(&r), "{body} -> {r}");
    }
    assert_eq!(gw.metric("gateway_sessions").await, Some(0.0));
    let r = post(
        &gw.http,
        json!({"janus": "create", "transaction": "c", "apisecret": SECRET}),
    )
    .await;
    assert_eq!(r["janus"], "success", "{r}");
    let session = r["data"]["id"].as_u64().unwrap();
    let url = format!("{}/{session}", gw.http);
    let r = post(
        &url,
        json!({"janus": "attach", "transaction": "d", "plugin": "janus.plugin.videoroom"}),
    )
    .await;
    assert!(unauthorized(&r), "attach without the secret: {r}");
    let r = post(
        &url,
        json!({"janus": "attach", "transaction": "e", "plugin": "janus.plugin.videoroom", "apisecret": SECRET}),
    )
    .await;
    assert_eq!(r["janus"], "success", "{r}");
    let handle = r["data"]["id"].as_u64().unwrap();
    // An asynchronous request leaves an event for the long poll.
    let r = post(
        &format!("{url}/{handle}"),
        json!({"janus": "message", "transaction": "f", "apisecret": SECRET,
               "body": {"request": "join", "ptype": "publisher", "room": 4242}}),
    )
    .await;
    assert_eq!(r["janus"], "ack", "{r}");
    // The long poll takes the secret from its query.
    let r = get(&url).await;
    assert!(unauthorized(&r), "long poll without the secret: {r}");
    let r = get(&format!("{url}?apisecret=wrong")).await;
    assert!(unauthorized(&r), "long poll with a wrong secret: {r}");
    let r = get(&format!("{url}?apisecret={SECRET}")).await;
    assert_eq!(r["janus"], "event", "{r}");
    assert_eq!(r["plugindata"]["data"]["error_code"], 426, "{r}");

    // WebSocket: the same rule.
    let mut req = gw.ws.as_str().into_client_request().unwrap();
    req.headers_mut()
        .insert("sec-websocket-protocol", "janus-protocol".parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req)
        .await
        .expect("connect");
    let mut ask = async |body: Value| -> Value {
        ws.send(Message::text(body.to_string())).await.unwrap();
        loop {
            let m = tokio::time::timeout(WITHIN, ws.next())
                .await
                .expect("a reply in time")
                .expect("open")
                .expect("a frame");
            if let Ok(v) = serde_json::from_str::<Value>(m.to_text().unwrap_or("")) {
                return v;
            }
        }
    };
    let r = ask(json!({"janus": "create", "transaction": "g"})).await;
    assert!(unauthorized(&r), "{r}");
    let r = ask(json!({"janus": "ping", "transaction": "h"})).await;
    assert_eq!(r["janus"], "pong", "{r}");
    let r = ask(json!({"janus": "create", "transaction": "i", "apisecret": SECRET})).await;
    assert_eq!(r["janus"], "success", "{r}");
    assert_eq!(gw.metric("gateway_sessions").await, Some(2.0));
}

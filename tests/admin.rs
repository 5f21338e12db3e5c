//! The Janus Admin API and token auth against the real gateway: admin over
//! HTTP (`/admin`) and WebSocket (`janus-admin-protocol`), stored and signed
//! tokens on the public API, draining, and `handle_info` of a live
//! webrtcbin publisher with its statistics.

mod common;

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use serial_test::serial;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use common::{Gateway, create_room, videoroom_handle};
use gateway_testkit::peer::{PublisherSpec, TestPeer};

const ADMIN: &str = "overlord";
const WITHIN: Duration = Duration::from_secs(10);
const VR: &str = "janus.plugin.videoroom";
const ST: &str = "janus.plugin.streaming";

async fn post(url: &str, body: Value) -> Value {
    common::post_json(url, &body).await
}

/// An admin request over HTTP with the admin secret and a transaction.
async fn admin(gw: &Gateway, mut body: Value) -> Value {
    body["transaction"] = json!("adm");
    body["admin_secret"] = json!(ADMIN);
    post(gw.admin.as_deref().expect("admin API on"), body).await
}

fn code(r: &Value) -> Value {
    r["error"]["code"].clone()
}

/// An Admin API WebSocket client: one request at a time, replies by order.
struct AdminWs {
    ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

impl AdminWs {
    async fn connect(url: &str) -> AdminWs {
        let mut req = url.into_client_request().unwrap();
        req.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            "janus-admin-protocol".parse().unwrap(),
        );
        let (ws, resp) = tokio::time::timeout(WITHIN, tokio_tungstenite::connect_async(req))
            .await
            .expect("connect in time")
            .expect("admin websocket");
        assert_eq!(
            resp.headers()
                .get("sec-websocket-protocol")
                .and_then(|v| v.to_str().ok()),
            Some("janus-admin-protocol")
        );
        AdminWs { ws }
    }

    async fn call(&mut self, body: Value) -> Value {
        self.ws.send(Message::text(body.to_string())).await.unwrap();
        loop {
            let m = tokio::time::timeout(WITHIN, self.ws.next())
                .await
                .expect("reply in time")
                .expect("socket open")
                .expect("frame");
            if let Ok(t) = m.to_text()
                && let Ok(v) = serde_json::from_str::<Value>(t)
            {
                return v;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial(media)]
async fn stored_tokens_and_the_admin_api() {
    let gw = Gateway::start_admin(
        &format!(
            "[general]\nsession_timeout = 60\ntoken_auth = true\nadmin_secret = \"{ADMIN}\"\n"
        ),
        "",
    );
    let api = gw.http.clone();
    // The public API says what it needs.
    let info = post(&api, json!({"janus":"info","transaction":"i"})).await;
    assert_eq!(
        (
            &info["auth_token"],
            &info["api_secret"],
            &info["admin_secret"]
        ),
        (&json!(true), &json!(false), &json!(true)),
        "{info}"
    );
    // No token, or an unknown one: 403 and no session.
    for body in [
        json!({"janus":"create","transaction":"c"}),
        json!({"janus":"create","transaction":"c","token":"t1"}),
        json!({"janus":"create","transaction":"c","token":5}),
    ] {
        let r = post(&api, body).await;
        assert_eq!(code(&r), 403, "{r}");
    }
    // The admin API needs its secret, and knows nothing of the public API.
    let r = post(
        gw.admin.as_deref().unwrap(),
        json!({"janus":"list_sessions","transaction":"l"}),
    )
    .await;
    assert_eq!(code(&r), 403, "{r}");
    let r = admin(&gw, json!({"janus":"create"})).await;
    assert_eq!(code(&r), 457, "{r}");
    let r = post(&api, json!({"janus":"list_sessions","transaction":"x"})).await;
    assert_eq!(code(&r), 453, "an admin request on the public API: {r}");
    let r = admin(&gw, json!({"janus":"remove_token","token":"never"})).await;
    assert_eq!(code(&r), 470, "{r}");
    // A token limited to the videoroom.
    let r = admin(
        &gw,
        json!({"janus":"add_token","token":"t1","plugins":[VR]}),
    )
    .await;
    assert_eq!(r["data"]["plugins"], json!([VR]), "{r}");
    let r = admin(&gw, json!({"janus":"list_tokens"})).await;
    assert_eq!(
        r["data"]["tokens"],
        json!([{"token":"t1","allowed_plugins":[VR]}]),
        "{r}"
    );
    let r = post(
        &api,
        json!({"janus":"create","transaction":"c","token":"t1"}),
    )
    .await;
    let s = r["data"]["id"].as_u64().expect("session with the token");
    let url = format!("{api}/{s}");
    let r = post(
        &url,
        json!({"janus":"attach","transaction":"a","plugin":ST,"token":"t1"}),
    )
    .await;
    assert_eq!(code(&r), 405, "{r}");
    let r = post(
        &url,
        json!({"janus":"attach","transaction":"a","plugin":VR,"token":"t1","opaque_id":"op-1"}),
    )
    .await;
    let h = r["data"]["id"].as_u64().expect("handle");
    // The long poll takes the token from the query.
    let r = reqwest::get(format!("{url}?maxev=1"))
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(code(&r), 403, "{r}");

    // Over the admin WebSocket: sessions, handles, handle_info, message_plugin.
    let mut ws = AdminWs::connect(gw.admin_ws.as_deref().unwrap()).await;
    let with_secret = |mut b: Value| {
        b["transaction"] = json!("w");
        b["admin_secret"] = json!(ADMIN);
        b
    };
    let r = ws.call(with_secret(json!({"janus":"list_sessions"}))).await;
    assert_eq!(r["sessions"], json!([s]), "{r}");
    let r = ws
        .call(with_secret(json!({"janus":"list_handles","session_id":s})))
        .await;
    assert_eq!(r["handles"], json!([h]), "{r}");
    let r = ws
        .call(with_secret(
            json!({"janus":"handle_info","session_id":s,"handle_id":h}),
        ))
        .await;
    assert_eq!(r["info"]["plugin"], VR, "{r}");
    assert_eq!(r["info"]["opaque_id"], "op-1", "{r}");
    assert_eq!(
        r["info"]["session_transport"], "janus.transport.http",
        "{r}"
    );
    assert_eq!(r["info"]["plugin_specific"]["type"], "none", "{r}");
    let r = ws
        .call(with_secret(
            json!({"janus":"message_plugin","plugin":VR,"request":{"request":"list"}}),
        ))
        .await;
    assert_eq!(r["response"]["videoroom"], "success", "{r}");
    let r = ws
        .call(with_secret(
            json!({"janus":"message_plugin","plugin":VR,"request":{"request":"join"}}),
        ))
        .await;
    assert_eq!(
        r["response"]["error_code"], 423,
        "asynchronous requests are unknown here: {r}"
    );
    let r = ws.call(json!({"janus":"ping","transaction":"p"})).await;
    assert_eq!(r["janus"], "pong");
    let r = ws
        .call(json!({"janus":"get_status","transaction":"p"}))
        .await;
    assert_eq!(code(&r), 403, "{r}");

    // Draining: new sessions get 472, the existing one lives on.
    let r = admin(&gw, json!({"janus":"accept_new_sessions","accept":false})).await;
    assert_eq!(r["accept"], false, "{r}");
    let r = post(
        &api,
        json!({"janus":"create","transaction":"c","token":"t1"}),
    )
    .await;
    assert_eq!(code(&r), 472, "{r}");
    assert_eq!(r["error"]["reason"], "Currently not accepting new sessions");
    let r = post(
        &url,
        json!({"janus":"keepalive","transaction":"k","token":"t1"}),
    )
    .await;
    assert_eq!(r["janus"], "ack", "{r}");
    admin(&gw, json!({"janus":"accept_new_sessions","accept":true})).await;

    // set_log_level goes live; get_status shows it.
    let r = admin(&gw, json!({"janus":"set_log_level","level":5})).await;
    assert_eq!(r["level"], 5, "{r}");
    let r = admin(&gw, json!({"janus":"get_status"})).await;
    assert_eq!(r["status"]["log_level"], 5, "{r}");
    admin(&gw, json!({"janus":"set_log_level","level":3})).await;

    // Removing the token locks its holder out; destroy_session ends a session.
    admin(&gw, json!({"janus":"remove_token","token":"t1"})).await;
    let r = post(
        &url,
        json!({"janus":"keepalive","transaction":"k","token":"t1"}),
    )
    .await;
    assert_eq!(code(&r), 403, "{r}");
    let r = admin(&gw, json!({"janus":"destroy_session","session_id":s})).await;
    assert_eq!(r["janus"], "success", "{r}");
    let r = admin(&gw, json!({"janus":"list_sessions"})).await;
    assert_eq!(r["sessions"], json!([]), "{r}");
    // Oversized and malformed admin bodies get Janus errors.
    let big = "x".repeat(2 << 20);
    let r = post(
        gw.admin.as_deref().unwrap(),
        json!({"janus":"info","transaction":big}),
    )
    .await;
    assert_eq!(
        code(&r),
        450,
        "{}",
        &r.to_string()[..100.min(r.to_string().len())]
    );
    let r: Value = reqwest::Client::new()
        .post(gw.admin.as_deref().unwrap())
        .body("{nope")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(code(&r), 454, "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial(media)]
async fn signed_tokens_and_the_secret_either_admit() {
    use hmac::Mac;
    let gw = Gateway::start_config(
        "[general]\nsession_timeout = 60\napi_secret = \"s3\"\ntoken_auth = true\ntoken_auth_secret = \"k3y\"\n",
        "",
    );
    let api = gw.http.clone();
    let expiry = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 600;
    // Minted here independently of the gateway's code: HMAC-SHA1, base64.
    let sign = |data: &str| {
        let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(b"k3y").unwrap();
        mac.update(data.as_bytes());
        use base64::Engine;
        let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        format!("{data}:{sig}")
    };
    let token = sign(&format!("{expiry},janus,{VR}"));
    let expired = sign(&format!("{},janus,{VR}", expiry - 1200));
    let r = post(
        &api,
        json!({"janus":"create","transaction":"c","token":expired}),
    )
    .await;
    assert_eq!(code(&r), 403, "{r}");
    let r = post(
        &api,
        json!({"janus":"create","transaction":"c","token":token}),
    )
    .await;
    let s = r["data"]["id"].as_u64().expect("session by signed token");
    let url = format!("{api}/{s}");
    let r = post(
        &url,
        json!({"janus":"attach","transaction":"a","plugin":ST,"token":token}),
    )
    .await;
    assert_eq!(code(&r), 405, "{r}");
    let r = post(
        &url,
        json!({"janus":"attach","transaction":"a","plugin":VR,"token":token}),
    )
    .await;
    assert!(r["data"]["id"].as_u64().is_some(), "{r}");
    // The API secret alone admits too, and attaches anywhere.
    let r = post(
        &url,
        json!({"janus":"attach","transaction":"a","plugin":ST,"apisecret":"s3"}),
    )
    .await;
    assert!(r["data"]["id"].as_u64().is_some(), "{r}");
    // Token requests need stored tokens: 490 with Janus's reason.
    let r = post(
        &url,
        json!({"janus":"keepalive","transaction":"k","token":"junk"}),
    )
    .await;
    assert_eq!(code(&r), 403, "{r}");
}

/// `handle_info` of a real publisher: the room, the feed, ICE connected,
/// inbound packets, and a bitrate between two reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial(media)]
async fn handle_info_of_a_live_publisher() {
    gst::init().unwrap();
    let gw = Gateway::start_admin("[general]\nsession_timeout = 60\n", "");
    let owner = videoroom_handle(&gw, true).await;
    let room = create_room(&owner, json!({})).await;
    let handle = videoroom_handle(&gw, true).await;
    let (publisher, joined) = TestPeer::publish(&handle, &room, "alice", &PublisherSpec::default())
        .await
        .expect("publish");
    let (s, h) = (handle.session().id, handle.id);
    let query = json!({"janus":"handle_info","session_id":s,"handle_id":h});
    // Media flows within a few seconds of the answer.
    let mut first = Value::Null;
    for _ in 0..50 {
        first = admin(&gw, query.clone()).await;
        let inbound = first["info"]["webrtc"]["media"]
            .as_object()
            .map(|m| {
                m.values()
                    .filter(|v| v["direction"] == "inbound" && v["packets"].as_u64() > Some(0))
                    .count()
            })
            .unwrap_or(0);
        if inbound >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let i = &first["info"];
    assert_eq!(i["plugin"], VR, "{first}");
    assert_eq!(i["plugin_specific"]["type"], "publisher", "{first}");
    assert_eq!(i["plugin_specific"]["room"], room, "{first}");
    assert_eq!(i["plugin_specific"]["id"], joined["id"], "{first}");
    assert_eq!(
        i["plugin_specific"]["streams"].as_array().map(Vec::len),
        Some(2),
        "{first}"
    );
    assert!(
        matches!(
            i["webrtc"]["ice"]["state"].as_str(),
            Some("connected" | "completed")
        ),
        "{first}"
    );
    assert_eq!(i["webrtc"]["dtls"]["dtls-state"], "connected", "{first}");
    assert!(
        i["webrtc"]["ice"]["selected-pair"]
            .as_str()
            .is_some_and(|p| p.contains("127.0.0.1")),
        "{first}"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let second = admin(&gw, query.clone()).await;
    let media = second["info"]["webrtc"]["media"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let video = media
        .values()
        .find(|v| v["direction"] == "inbound" && v["kind"] == "video")
        .unwrap_or_else(|| panic!("an inbound video stream: {second}"));
    assert_eq!(video["mid"], "video0", "{second}");
    let bps = video["bitrate-bps"].as_u64().unwrap_or(0);
    assert!(bps > 10_000, "video bitrate {bps} bps: {second}");
    assert!(video.get("packets-lost").is_some(), "{second}");
    // Only the plugin part, on request.
    let r = admin(
        &gw,
        json!({"janus":"handle_info","session_id":s,"handle_id":h,"plugin_only":true}),
    )
    .await;
    assert!(r["info"].get("webrtc").is_none(), "{r}");
    // hangup_webrtc closes the PeerConnection: the client hears `hangup`.
    let r = admin(
        &gw,
        json!({"janus":"hangup_webrtc","session_id":s,"handle_id":h}),
    )
    .await;
    assert_eq!(r["janus"], "success", "{r}");
    let ev = handle
        .wait_for(
            |e| e["janus"] == "hangup" || e["plugindata"]["data"]["unpublished"].is_string(),
            WITHIN,
        )
        .await;
    assert!(ev.is_ok(), "no hangup after hangup_webrtc");
    drop(publisher);
}

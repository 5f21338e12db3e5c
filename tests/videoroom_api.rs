//! VideoRoom API behaviour against the real gateway: multistream publishing,
//! and bad input answered with the right Janus error codes while the
//! gateway keeps serving.

mod common;

use std::time::Duration;

use gateway_testkit::janus::Session;
use gateway_testkit::peer::{PublisherSpec, TestPeer, VideoCodec};
use serde_json::json;
use serial_test::serial;

use common::{Gateway, VIDEOROOM, create_room, videoroom_handle};

const WITHIN: Duration = Duration::from_secs(10);

fn init() {
    gst::init().expect("gstreamer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial(media)]
async fn multistream_publisher_two_video_tracks() {
    init();
    let gw = Gateway::start();
    let admin = videoroom_handle(&gw, true).await;
    let room = create_room(&admin, json!({})).await;
    let ph = videoroom_handle(&gw, true).await;
    let spec = PublisherSpec {
        codec: VideoCodec::Vp8,
        video_patterns: vec!["ball".into(), "smpte".into()],
        ..PublisherSpec::default()
    };
    let (_publisher, joined) = TestPeer::publish(&ph, &room, "camera+screen", &spec)
        .await
        .expect("publish");
    let feed = joined["id"].clone();

    let listed = admin
        .sync(json!({"request": "listparticipants", "room": room}))
        .await
        .unwrap();
    assert_eq!(listed["participants"][0]["publisher"], true, "{listed}");

    let sh = videoroom_handle(&gw, true).await;
    let (sub, attached) = TestPeer::subscribe(&sh, &room, json!([{"feed": feed}]), true)
        .await
        .expect("subscribe");
    let streams = attached["streams"].as_array().unwrap();
    assert_eq!(
        streams.iter().filter(|s| s["type"] == "video").count(),
        2,
        "{attached}"
    );
    let ok = sub
        .wait_until(WITHIN, |s| {
            s.video_tracks.load(std::sync::atomic::Ordering::Relaxed) >= 2 && s.frames() >= 60
        })
        .await;
    assert!(ok, "both video tracks decode: {:?}", sub.stats);

    // Subscribing to one mid only gives one m-line.
    let sh2 = videoroom_handle(&gw, true).await;
    let mid = streams.iter().find(|s| s["type"] == "video").unwrap()["feed_mid"].clone();
    let (one, attached) =
        TestPeer::subscribe(&sh2, &room, json!([{"feed": feed, "mid": mid}]), true)
            .await
            .expect("subscribe one mid");
    assert_eq!(
        attached["streams"].as_array().unwrap().len(),
        1,
        "{attached}"
    );
    assert!(
        one.wait_until(WITHIN, |s| s.frames() >= 30).await,
        "single mid decodes"
    );
}

async fn expect_core_error(s: &Session, handle: Option<u64>, raw: &str, code: u64) {
    let r = s.raw(handle, raw).await.expect("reply");
    assert_eq!(r["janus"], "error", "{raw} -> {r}");
    assert_eq!(r["error"]["code"], code, "{raw} -> {r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial(media)]
async fn bad_input_gets_janus_errors_and_nothing_breaks() {
    init();
    let mut gw = Gateway::start();
    let s = Session::connect_http(&gw.http).await.unwrap();
    let h = s.attach(VIDEOROOM).await.unwrap();

    // Core errors (Janus apierror.h codes).
    expect_core_error(&s, None, "{not json", 454).await;
    expect_core_error(&s, None, "[1,2,3]", 455).await;
    expect_core_error(&s, None, r#"{"janus":"keepalive"}"#, 456).await;
    expect_core_error(&s, None, r#"{"janus":"dance","transaction":"x"}"#, 453).await;
    expect_core_error(
        &s,
        None,
        r#"{"janus":"attach","transaction":"x","plugin":5}"#,
        467,
    )
    .await;
    expect_core_error(
        &s,
        None,
        r#"{"janus":"attach","transaction":"x","plugin":"janus.plugin.nope"}"#,
        460,
    )
    .await;
    expect_core_error(
        &s,
        Some(h.id),
        r#"{"janus":"message","transaction":"x","body":[]}"#,
        467,
    )
    .await;
    expect_core_error(
        &s,
        Some(h.id),
        r#"{"janus":"message","transaction":"x"}"#,
        456,
    )
    .await;
    expect_core_error(
        &s,
        Some(999),
        r#"{"janus":"message","transaction":"x","body":{}}"#,
        459,
    )
    .await;
    let garbage_sdp = r#"{"janus":"message","transaction":"x","body":{"request":"publish"},"jsep":{"type":"offer","sdp":"garbage"}}"#;
    expect_core_error(&s, Some(h.id), garbage_sdp, 465).await;
    let http = reqwest::Client::new();
    let unknown_session: serde_json::Value = http
        .post(format!("{}/12345", gw.http))
        .body(r#"{"janus":"keepalive","transaction":"k"}"#)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(unknown_session["error"]["code"], 458, "{unknown_session}");
    let poll: serde_json::Value = http
        .get(format!("{}/12345", gw.http))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(poll["error"]["code"], 458, "{poll}");

    // Plugin errors (videoroom codes, inside plugindata).
    let err = |v: serde_json::Value| v["error_code"].as_u64().unwrap_or(0);
    assert_eq!(err(h.sync(json!({"foo": 1})).await.unwrap()), 429);
    assert_eq!(err(h.sync(json!({"request": 7})).await.unwrap()), 430);
    assert_eq!(err(h.sync(json!({"request": "dance"})).await.unwrap()), 423);
    assert_eq!(
        err(h
            .sync(json!({"request": "create", "publishers": "many"}))
            .await
            .unwrap()),
        430
    );
    assert_eq!(
        err(h
            .sync(json!({"request": "create", "room": "abc"}))
            .await
            .unwrap()),
        430
    );
    assert_eq!(
        err(h.sync(json!({"request": "exists"})).await.unwrap()),
        429
    );
    assert_eq!(
        err(h
            .sync(json!({"request": "destroy", "room": 424242}))
            .await
            .unwrap()),
        426
    );
    let room = create_room(&h, json!({"publishers": 1, "secret": "s3", "pin": "p1"})).await;
    assert_eq!(
        err(h
            .sync(json!({"request": "create", "room": room}))
            .await
            .unwrap()),
        427
    );
    assert_eq!(
        err(h
            .sync(json!({"request": "destroy", "room": room, "secret": "wrong"}))
            .await
            .unwrap()),
        433
    );
    assert_eq!(
        err(h
            .sync(json!({"request": "edit", "room": room, "new_description": "x"}))
            .await
            .unwrap()),
        433
    );

    let (ev, _) = h
        .call(
            json!({"request": "join", "ptype": "publisher", "room": 424242}),
            None,
            WITHIN,
        )
        .await
        .unwrap();
    assert_eq!(err(ev), 426);
    let (ev, _) = h
        .call(
            json!({"request": "join", "ptype": "publisher", "room": room, "pin": "bad"}),
            None,
            WITHIN,
        )
        .await
        .unwrap();
    assert_eq!(err(ev), 433);
    let (ev, _) = h
        .call(
            json!({"request": "join", "ptype": "dancer", "room": room, "pin": "p1"}),
            None,
            WITHIN,
        )
        .await
        .unwrap();
    assert_eq!(err(ev), 430);
    let (ev, _) = h
        .call(json!({"request": "publish"}), None, WITHIN)
        .await
        .unwrap();
    assert_eq!(err(ev), 424, "publish before join");
    let (ev, _) = h
        .call(json!({"request": "join", "ptype": "subscriber", "room": room, "pin": "p1", "streams": [{"feed": 777}]}), None, WITHIN)
        .await
        .unwrap();
    assert_eq!(err(ev), 428, "unknown feed");

    // A second publisher over the room's limit of 1.
    let a = videoroom_handle(&gw, false).await;
    let (j, _) = a
        .call(
            json!({"request": "join", "ptype": "publisher", "room": room, "pin": "p1"}),
            None,
            WITHIN,
        )
        .await
        .unwrap();
    assert_eq!(j["videoroom"], "joined", "{j}");
    let sdp = webrtc_offer_sdp();
    let (ev, answer) = a
        .call(
            json!({"request": "publish"}),
            Some(json!({"type": "offer", "sdp": sdp})),
            WITHIN,
        )
        .await
        .unwrap();
    assert_eq!(ev["configured"], "ok", "{ev}");
    assert!(answer.is_some());
    let b = videoroom_handle(&gw, false).await;
    let (j, _) = b
        .call(
            json!({"request": "join", "ptype": "publisher", "room": room, "pin": "p1"}),
            None,
            WITHIN,
        )
        .await
        .unwrap();
    assert_eq!(j["videoroom"], "joined");
    let (ev, _) = b
        .call(
            json!({"request": "publish"}),
            Some(json!({"type": "offer", "sdp": sdp})),
            WITHIN,
        )
        .await
        .unwrap();
    assert_eq!(err(ev), 432, "publishers full");
    // An answer where an offer belongs.
    let (ev, _) = b
        .call(
            json!({"request": "publish"}),
            Some(json!({"type": "answer", "sdp": sdp})),
            WITHIN,
        )
        .await
        .unwrap();
    assert_eq!(err(ev), 431);
    // An offer without any codec the room accepts.
    let c = videoroom_handle(&gw, false).await;
    c.call(
        json!({"request": "join", "ptype": "publisher", "room": room, "pin": "p1"}),
        None,
        WITHIN,
    )
    .await
    .unwrap();
    let g722 = sdp
        .replace("VP8/90000", "VP9/90000")
        .replace("opus/48000/2", "G722/8000");
    let (ev, _) = b
        .call(json!({"request": "unpublish"}), None, WITHIN)
        .await
        .unwrap();
    assert_eq!(err(ev), 435, "unpublish without publishing");
    let (ev, _) = a
        .call(json!({"request": "unpublish"}), None, WITHIN)
        .await
        .unwrap();
    assert_eq!(ev["unpublished"], "ok", "{ev}");
    let (ev, _) = c
        .call(
            json!({"request": "publish"}),
            Some(json!({"type": "offer", "sdp": g722})),
            WITHIN,
        )
        .await
        .unwrap();
    assert_eq!(err(ev.clone()), 437, "no usable codec: {ev}");

    // require_pvtid: a subscriber without a participant's private_id is refused.
    let strict = create_room(&h, json!({"require_pvtid": true})).await;
    let d = videoroom_handle(&gw, false).await;
    let (ev, _) = d
        .call(json!({"request": "join", "ptype": "subscriber", "room": strict, "streams": [{"feed": 1}], "private_id": 5}), None, WITHIN)
        .await
        .unwrap();
    assert_eq!(err(ev), 433, "require_pvtid");
    h.sync(json!({"request": "destroy", "room": strict}))
        .await
        .unwrap();

    // The gateway still serves: alive, and a fresh room works end to end.
    assert!(gw.alive(), "gateway survived");
    let room2 = create_room(&h, json!({})).await;
    let list = h.sync(json!({"request": "list"})).await.unwrap();
    assert!(
        list["list"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["room"] == room2),
        "{list}"
    );
    let destroyed = h
        .sync(json!({"request": "destroy", "room": room, "secret": "s3"}))
        .await
        .unwrap();
    assert_eq!(destroyed["videoroom"], "destroyed");
    assert_eq!(
        gw.wait_metric("gateway_rooms", 1.0, WITHIN).await,
        Some(1.0)
    );
}

/// A minimal browser-like publisher offer (VP8 + Opus, BUNDLE, one SSRC each).
fn webrtc_offer_sdp() -> String {
    [
        "v=0",
        "o=- 1 2 IN IP4 127.0.0.1",
        "s=-",
        "t=0 0",
        "a=group:BUNDLE 0 1",
        "m=audio 9 UDP/TLS/RTP/SAVPF 111",
        "c=IN IP4 0.0.0.0",
        "a=mid:0",
        "a=sendonly",
        "a=rtcp-mux",
        "a=ice-ufrag:abcd",
        "a=ice-pwd:abcdefghijklmnopqrstuvwx",
        "a=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF",
        "a=setup:actpass",
        "a=rtpmap:111 opus/48000/2",
        "a=ssrc:1111 cname:x",
        "m=video 9 UDP/TLS/RTP/SAVPF 96",
        "c=IN IP4 0.0.0.0",
        "a=mid:1",
        "a=sendonly",
        "a=rtcp-mux",
        "a=ice-ufrag:abcd",
        "a=ice-pwd:abcdefghijklmnopqrstuvwx",
        "a=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF",
        "a=setup:actpass",
        "a=rtpmap:96 VP8/90000",
        "a=ssrc:2222 cname:x",
        "",
    ]
    .join("\r\n")
}

/// Publishers `a` and `b` (VP8 + Opus) in `room`: their feed ids, and the
/// handles and peers to keep alive.
async fn two_vp8_publishers(
    gw: &Gateway,
    room: &serde_json::Value,
) -> (
    Vec<serde_json::Value>,
    Vec<(std::sync::Arc<gateway_testkit::janus::Handle>, TestPeer)>,
) {
    let mut feeds = Vec::new();
    let mut pubs = Vec::new();
    for name in ["a", "b"] {
        let ph = videoroom_handle(gw, true).await;
        let spec = PublisherSpec {
            codec: VideoCodec::Vp8,
            ..PublisherSpec::default()
        };
        let (p, joined) = TestPeer::publish(&ph, room, name, &spec)
            .await
            .expect("publish");
        feeds.push(joined["id"].clone());
        pubs.push((ph, p));
    }
    (feeds, pubs)
}

/// Two publishers with the same payload types, one subscriber PeerConnection
/// receiving both (the BUNDLE carries two m-lines per kind with equal PTs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial(media)]
async fn one_subscriber_two_feeds() {
    init();
    let gw = Gateway::start();
    let admin = videoroom_handle(&gw, true).await;
    let room = create_room(&admin, json!({})).await;
    let (feeds, _pubs) = two_vp8_publishers(&gw, &room).await;
    let sh = videoroom_handle(&gw, true).await;
    let (sub, attached) = TestPeer::subscribe(
        &sh,
        &room,
        json!([{"feed": feeds[0]}, {"feed": feeds[1]}]),
        true,
    )
    .await
    .expect("subscribe");
    assert_eq!(
        attached["streams"].as_array().unwrap().len(),
        4,
        "{attached}"
    );
    let ok = sub
        .wait_until(WITHIN, |s| {
            s.video_tracks.load(std::sync::atomic::Ordering::Relaxed) >= 2 && s.frames() >= 60
        })
        .await;
    assert!(ok, "both feeds decode: {:?}", sub.stats);
}

/// Videoroom `allowed` and the `token` on `join`, as in Janus: a room made
/// with `allowed` admits publishers whose token is listed; `add`/`remove`
/// change the list, `disable` opens the room; every change needs the secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial(media)]
async fn allowed_tokens_guard_publisher_joins() {
    init();
    let gw = Gateway::start();
    let admin = videoroom_handle(&gw, true).await;
    let room = create_room(&admin, json!({"secret": "s", "allowed": ["t1"]})).await;
    let join = |token: Option<&str>| {
        let mut body =
            json!({"request": "join", "ptype": "publisher", "room": room, "display": "x"});
        if let Some(t) = token {
            body["token"] = json!(t);
        }
        body
    };
    let try_join = |token: Option<&'static str>| {
        let body = join(token);
        let gw = &gw;
        async move {
            let h = videoroom_handle(gw, true).await;
            let (ev, _) = h.call(body, None, WITHIN).await.expect("join answered");
            ev
        }
    };
    for t in [None, Some("t2")] {
        let ev = try_join(t).await;
        assert_eq!(ev["error_code"], 433, "{ev}");
        assert_eq!(
            ev["error"], "Unauthorized (not in the allowed list)",
            "{ev}"
        );
    }
    assert_eq!(try_join(Some("t1")).await["videoroom"], "joined");
    let r = admin
        .sync(json!({"request":"allowed","room":room,"secret":"s","action":"add","allowed":["t2","t3"]}))
        .await
        .unwrap();
    assert_eq!(r["allowed"], json!(["t1", "t2", "t3"]), "{r}");
    assert_eq!(try_join(Some("t2")).await["videoroom"], "joined");
    let r = admin
        .sync(json!({"request":"allowed","room":room,"secret":"s","action":"remove","allowed":["t2"]}))
        .await
        .unwrap();
    assert_eq!(r["allowed"], json!(["t1", "t3"]), "{r}");
    assert_eq!(try_join(Some("t2")).await["error_code"], 433);
    // Wrong secret, bad action, bad list: refused, nothing changes.
    for (body, code) in [
        (
            json!({"request":"allowed","room":room,"secret":"no","action":"disable"}),
            433,
        ),
        (
            json!({"request":"allowed","room":room,"secret":"s","action":"open"}),
            430,
        ),
        (
            json!({"request":"allowed","room":room,"secret":"s","action":"add","allowed":[1]}),
            430,
        ),
        (json!({"request":"allowed","room":room,"secret":"s"}), 429),
        (
            json!({"request":"allowed","room":1,"secret":"s","action":"enable"}),
            426,
        ),
    ] {
        let r = admin.sync(body.clone()).await.unwrap();
        assert_eq!(r["error_code"], code, "{body} -> {r}");
    }
    let r = admin
        .sync(json!({"request":"allowed","room":room,"secret":"s","action":"disable"}))
        .await
        .unwrap();
    assert_eq!(r, json!({"videoroom":"success","room":room}), "{r}");
    assert_eq!(
        try_join(None).await["videoroom"],
        "joined",
        "free entry after disable"
    );
    let r = admin
        .sync(json!({"request":"allowed","room":room,"secret":"s","action":"enable"}))
        .await
        .unwrap();
    assert_eq!(r["allowed"], json!(["t1", "t3"]), "the list was kept: {r}");
    assert_eq!(try_join(None).await["error_code"], 433);
}

/// `unsubscribe` by the subscriber's own m-line (`streams[{sub_mid}]`,
/// Janus 1.x): that stream goes inactive in the `updated` offer, the other
/// feed plays on; an unknown `sub_mid` is 430 and changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial(media)]
async fn unsubscribe_by_sub_mid() {
    init();
    let gw = Gateway::start();
    let admin = videoroom_handle(&gw, true).await;
    let room = create_room(&admin, json!({})).await;
    let (feeds, _pubs) = two_vp8_publishers(&gw, &room).await;
    let sh = videoroom_handle(&gw, true).await;
    let (mut sub, attached) = TestPeer::subscribe(
        &sh,
        &room,
        json!([{"feed": feeds[0]}, {"feed": feeds[1]}]),
        true,
    )
    .await
    .expect("subscribe");
    let streams = attached["streams"].as_array().cloned().unwrap_or_default();
    let a_video = streams
        .iter()
        .find(|s| s["feed_id"] == feeds[0] && s["type"] == "video")
        .expect("a's video")["mid"]
        .clone();
    let (r, jsep) = sh
        .call(
            json!({"request": "unsubscribe", "streams": [{"sub_mid": "nope"}]}),
            None,
            WITHIN,
        )
        .await
        .expect("unsubscribe");
    assert_eq!(r["error_code"], 430, "{r}");
    assert!(jsep.is_none());
    let (updated, jsep) = sh
        .call(
            json!({"request": "unsubscribe", "streams": [{"sub_mid": a_video}]}),
            None,
            WITHIN,
        )
        .await
        .expect("unsubscribe");
    assert_eq!(updated["videoroom"], "updated", "{updated}");
    let list = updated["streams"].as_array().cloned().unwrap_or_default();
    for s in &list {
        let want_active = s["mid"] != a_video;
        assert_eq!(s["active"], want_active, "{s}");
    }
    let offer = jsep
        .and_then(|j| j["sdp"].as_str().map(str::to_owned))
        .expect("updated offer");
    sub.answer_and_start(&sh, &offer).await.expect("answer");
    let before = sub.stats.frames();
    assert!(
        sub.wait_until(WITHIN, |s| s.frames() >= before + 30).await,
        "b's video plays on"
    );
}

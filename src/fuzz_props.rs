//! Property tests (proptest) of everything that reads client input without
//! GStreamer: the Janus wire parser, the Admin API parser, the core state
//! machine behind them, and the videoroom's request readers. Arbitrary
//! bytes, arbitrary JSON (huge, deep, every type in every field) and valid
//! requests with one field mutated: every input gets a well-formed answer
//! (a success or a Janus/plugin error with a known code), never a panic.

use std::time::{Duration, Instant};

use proptest::prelude::*;
use serde_json::{Map, Value, json};

use crate::janus::{Core, PluginDescriptor, Transport, admin, wire};
use crate::plugins::params::Params;
use crate::plugins::videoroom::{create, request};

/// Janus core error codes (`apierror.h`).
const CORE_CODES: &[u64] = &[
    403, 405, 450, 452, 453, 454, 455, 456, 457, 458, 459, 460, 461, 462, 463, 464, 465, 466, 467,
    468, 469, 470, 471, 472, 490,
];

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,40}".prop_map(Value::from),
        prop_oneof![
            Just("offer"),
            Just("answer"),
            Just("create"),
            Just("join"),
            Just("publisher"),
            Just("subscriber"),
            Just("v=0"),
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(6, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map(key(), inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Keys: mostly the ones the parsers look for, so the mutations reach them.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec![
            "janus", "transaction", "session_id", "handle_id", "plugin", "body", "jsep", "type",
            "sdp", "candidate", "candidates", "completed", "sdpMid", "sdpMLineIndex", "apisecret",
            "token", "id", "opaque_id", "request", "room", "ptype", "feed", "streams", "mid",
            "display", "secret", "pin", "publishers", "videocodec", "audiocodec", "record",
            "admin_secret", "timeout", "level", "accept", "plugins", "plugin_only", "allowed",
            "action", "mixing", "layout", "regions", "descriptions", "send",
        ])
        .prop_map(str::to_owned),
        1 => "[a-z_]{1,12}",
    ]
}

fn core() -> Core {
    let d = |package| PluginDescriptor {
        package,
        name: "p",
        description: "",
        version_string: "1",
        version: 1,
    };
    let mut c = Core::new(
        vec![d("janus.plugin.videoroom"), d("janus.plugin.streaming")],
        Duration::from_secs(60),
    );
    c.auth_mut().set_token_auth(true, None);
    c.auth_mut().set_api_secret(Some("s".into()));
    c
}

fn assert_janus_reply(v: &Value) {
    let kind = v["janus"].as_str().unwrap_or_default();
    assert!(
        matches!(kind, "success" | "error" | "ack" | "pong" | "server_info"),
        "not a Janus reply: {v}"
    );
    if kind == "error" {
        let code = v["error"]["code"].as_u64().unwrap_or(0);
        assert!(CORE_CODES.contains(&code), "unknown code {code}: {v}");
        assert!(v["error"]["reason"].is_string(), "{v}");
    }
}

/// Parses and, when it parses, runs one request through a core: the answer
/// must be a Janus reply.
fn through_core(c: &mut Core, bytes: &[u8], path: Option<wire::Path>) {
    match wire::parse_request(bytes, path) {
        Ok(req) => {
            let out = c.handle(req, Transport::Ws(1), Instant::now());
            if let Some(r) = out.reply {
                assert_janus_reply(&r);
            }
        }
        Err(f) => assert_janus_reply(&wire::error(
            f.transaction.as_deref(),
            f.session_id,
            &f.error,
        )),
    }
    match admin::parse(bytes, path) {
        Ok(req) => {
            let out = c.admin(req, Instant::now());
            if let Some(r) = out.reply {
                assert_janus_reply(&r);
            }
        }
        Err(f) => assert_janus_reply(&wire::error(None, f.session_id, &f.error)),
    }
}

/// Valid requests of every verb, for one field to be mutated.
fn templates() -> Vec<Value> {
    vec![
        json!({"janus":"create","transaction":"t","apisecret":"s"}),
        json!({"janus":"attach","transaction":"t","session_id":1,"plugin":"janus.plugin.videoroom","apisecret":"s"}),
        json!({"janus":"message","transaction":"t","session_id":1,"handle_id":2,"apisecret":"s",
               "body":{"request":"join","room":1234,"ptype":"publisher"},
               "jsep":{"type":"offer","sdp":"v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n"}}),
        json!({"janus":"trickle","transaction":"t","session_id":1,"handle_id":2,"apisecret":"s",
               "candidate":{"sdpMid":"0","sdpMLineIndex":0,"candidate":"candidate:1 1 UDP 1 127.0.0.1 5000 typ host"}}),
        json!({"janus":"keepalive","transaction":"t","session_id":1,"apisecret":"s"}),
        json!({"janus":"claim","transaction":"t","session_id":1,"token":"x"}),
        json!({"janus":"handle_info","transaction":"t","session_id":1,"handle_id":2}),
        json!({"janus":"add_token","transaction":"t","token":"a","plugins":["janus.plugin.videoroom"]}),
        json!({"janus":"set_session_timeout","transaction":"t","timeout":5}),
        json!({"janus":"message_plugin","transaction":"t","plugin":"janus.plugin.videoroom","request":{"request":"list"}}),
    ]
}

/// Valid videoroom bodies, for the request readers.
fn bodies() -> Vec<Value> {
    vec![
        json!({"request":"create","room":1,"publishers":3,"videocodec":"vp8,h264","record":true,"mixing":"mcu","layout":"speaker","allowed":["a"]}),
        json!({"request":"edit","room":1,"new_description":"x","new_publishers":2}),
        json!({"request":"configure","audio":true,"record":false,"display":"d","descriptions":[{"mid":"0","description":"cam"}],"streams":[{"mid":"0","send":true}]}),
        json!({"request":"subscribe","streams":[{"feed":1,"mid":"0"}]}),
        json!({"request":"moderate","room":1,"id":2,"mid":"0","mute":true}),
        json!({"request":"add_ingest","room":1,"url":"rtsp://127.0.0.1/cam","display":"cam"}),
        json!({"request":"start_rtmp","room":1,"url":"rtmp://127.0.0.1/live/x"}),
        json!({"request":"set_layout","room":1,"layout":"custom","regions":[{"feed":1,"x":0,"y":0,"w":10,"h":10}]}),
    ]
}

fn check_videoroom_readers(body: &Map<String, Value>) {
    for string_ids in [false, true] {
        let p = Params::new(body, string_ids);
        let id = crate::ids::Id::Num(1);
        let codes: Vec<Option<u16>> = vec![
            create::parse_create(&p, id).err().map(|e| e.code()),
            create::parse_edit(&p).err().map(|e| e.code()),
            request::publish_params(&p, true).err().map(|e| e.code()),
            request::publish_params(&p, false).err().map(|e| e.code()),
            request::configure_streams(&p).err().map(|e| e.code()),
            request::stream_requests(&p, "streams")
                .err()
                .map(|e| e.code()),
            request::moderate(&p).err().map(|e| e.code()),
            request::add_ingest(&p).err().map(|e| e.code()),
            request::start_rtmp(&p).err().map(|e| e.code()),
            request::layout(&p).err().map(|e| e.code()),
            request::string_list(&p, "allowed").err().map(|e| e.code()),
        ];
        for c in codes.into_iter().flatten() {
            assert!((423..=499).contains(&c), "videoroom code {c}");
        }
    }
}

proptest! {
    // 512 cases each in `cargo test`; `PROPTEST_CASES=200000` for a long run.
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(512)
    ))]

    #[test]
    fn arbitrary_bytes_get_janus_errors(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let mut c = core();
        through_core(&mut c, &bytes, None);
        through_core(&mut c, &bytes, Some(wire::Path { session: Some(1), handle: Some(2) }));
    }

    #[test]
    fn arbitrary_json_gets_janus_replies(v in arb_json()) {
        let mut c = core();
        let bytes = v.to_string().into_bytes();
        through_core(&mut c, &bytes, None);
        through_core(&mut c, &bytes, Some(wire::Path::default()));
    }

    #[test]
    fn one_mutated_field_gets_a_janus_reply(
        t in prop::sample::select(templates()),
        k in key(),
        v in arb_json(),
        drop_it in any::<bool>(),
    ) {
        let mut req = t;
        if let Value::Object(m) = &mut req {
            if drop_it { m.remove(&k); } else { m.insert(k, v); }
        }
        let mut c = core();
        // A session and handle for the templates' ids to find sometimes.
        through_core(&mut c, br#"{"janus":"create","transaction":"c","id":1,"apisecret":"s"}"#, None);
        through_core(&mut c, req.to_string().as_bytes(), None);
    }

    #[test]
    fn videoroom_readers_never_panic(
        b in prop::sample::select(bodies()),
        k in key(),
        v in arb_json(),
        extra in prop::collection::btree_map(key(), arb_json(), 0..4),
    ) {
        let Value::Object(mut body) = b else { unreachable!("templates are objects") };
        body.insert(k, v);
        body.extend(extra);
        check_videoroom_readers(&body);
    }
}

#[test]
fn huge_and_deep_inputs_are_refused_cleanly() {
    let mut c = core();
    // Nesting far past serde_json's recursion limit: a 454, no stack overflow.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    through_core(&mut c, deep.as_bytes(), None);
    let deep_obj = format!(
        "{{\"janus\":\"create\",\"transaction\":\"t\",\"x\":{}1{}}}",
        "{\"a\":".repeat(50_000),
        "}".repeat(50_000)
    );
    through_core(&mut c, deep_obj.as_bytes(), None);
    // A large but legal request: a 1 MB transaction and a body of 100k keys.
    let big = json!({"janus":"create","transaction":"t".repeat(1 << 20),"apisecret":"s"});
    through_core(&mut c, big.to_string().as_bytes(), None);
    let many: Map<String, Value> = (0..100_000).map(|i| (format!("k{i}"), json!(i))).collect();
    let mut body = many.clone();
    body.insert("request".into(), json!("create"));
    check_videoroom_readers(&body);
    let req = json!({"janus":"message","transaction":"t","session_id":1,"handle_id":2,"body":Value::Object(many),"apisecret":"s"});
    through_core(&mut c, req.to_string().as_bytes(), None);
}

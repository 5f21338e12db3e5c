//! Unit tests of the Janus core state machine, on simulated time.

use super::*;
use crate::janus::wire::{Path, parse_request};

const VR: &str = "janus.plugin.videoroom";

fn core() -> Core {
    Core::new(
        vec![PluginDescriptor {
            package: VR,
            name: "VideoRoom",
            description: "",
            version_string: "1",
            version: 1,
        }],
        Duration::from_secs(60),
    )
}

fn send(c: &mut Core, from: Transport, json: Value, now: Instant) -> Outcome {
    let req = parse_request(json.to_string().as_bytes(), None).expect("test request parses");
    c.handle(req, from, now)
}

fn create(c: &mut Core, from: Transport, now: Instant) -> u64 {
    let o = send(c, from, json!({"janus":"create","transaction":"c"}), now);
    o.reply.unwrap()["data"]["id"].as_u64().unwrap()
}

fn attach(c: &mut Core, s: u64, now: Instant) -> u64 {
    let o = send(
        c,
        Transport::Http,
        json!({"janus":"attach","transaction":"a","session_id":s,"plugin":VR}),
        now,
    );
    assert_eq!(o.calls.len(), 1);
    o.reply.unwrap()["data"]["id"].as_u64().unwrap()
}

#[test]
fn create_attach_message_detach() {
    let mut c = core();
    let now = Instant::now();
    let s = create(&mut c, Transport::Http, now);
    assert!(s > 0 && s < MAX_SAFE_ID);
    let h = attach(&mut c, s, now);
    let o = send(
        &mut c,
        Transport::Http,
        json!({"janus":"message","transaction":"m","session_id":s,"handle_id":h,"body":{"request":"list"}}),
        now,
    );
    assert!(o.reply.is_none());
    assert_eq!(o.calls[0].plugin, VR);
    let sync = plugin_reply(
        &o.calls[0],
        Ok(PluginReply::Sync(json!({"videoroom":"success"}))),
    );
    assert_eq!(sync["janus"], "success");
    assert_eq!(sync["plugindata"]["plugin"], VR);
    assert_eq!(sync["sender"], h);
    let ack = plugin_reply(&o.calls[0], Ok(PluginReply::Ack));
    assert_eq!(ack["janus"], "ack");
    let o = send(
        &mut c,
        Transport::Http,
        json!({"janus":"detach","transaction":"d","session_id":s,"handle_id":h}),
        now,
    );
    assert_eq!(o.reply.unwrap()["janus"], "success");
    assert_eq!(o.calls[0].op, PluginOp::Detach);
    assert_eq!(c.handle_count(), 0);
    // The `detached` event waits in the HTTP queue.
    let evs = c.take_events(s, 10, now).unwrap();
    assert_eq!(evs[0]["janus"], "detached");
}

#[test]
fn error_paths() {
    let mut c = core();
    let now = Instant::now();
    let o = send(
        &mut c,
        Transport::Http,
        json!({"janus":"keepalive","transaction":"k","session_id":42}),
        now,
    );
    assert_eq!(o.reply.unwrap()["error"]["code"], 458);
    let s = create(&mut c, Transport::Http, now);
    let o = send(
        &mut c,
        Transport::Http,
        json!({"janus":"message","transaction":"m","session_id":s,"handle_id":9,"body":{}}),
        now,
    );
    let r = o.reply.unwrap();
    assert_eq!(r["error"]["code"], 459);
    assert_eq!(r["transaction"], "m");
    let o = send(
        &mut c,
        Transport::Http,
        json!({"janus":"attach","transaction":"a","session_id":s,"plugin":"nope"}),
        now,
    );
    assert_eq!(o.reply.unwrap()["error"]["code"], 460);
    let o = send(
        &mut c,
        Transport::Http,
        json!({"janus":"create","transaction":"c","id":s}),
        now,
    );
    assert_eq!(o.reply.unwrap()["error"]["code"], 468);
    // A handle of another session is not found through this one.
    let s2 = create(&mut c, Transport::Http, now);
    let h2 = attach(&mut c, s2, now);
    let o = send(
        &mut c,
        Transport::Http,
        json!({"janus":"hangup","transaction":"h","session_id":s,"handle_id":h2}),
        now,
    );
    assert_eq!(o.reply.unwrap()["error"]["code"], 459);
}

#[test]
fn keepalive_and_timeout() {
    let mut c = core();
    let t0 = Instant::now();
    let s = create(&mut c, Transport::Ws(3), t0);
    let h = attach(&mut c, s, t0);
    let o = send(
        &mut c,
        Transport::Ws(3),
        json!({"janus":"keepalive","transaction":"k","session_id":s}),
        t0 + Duration::from_secs(50),
    );
    assert_eq!(o.reply.unwrap()["janus"], "ack");
    assert!(c.expire(t0 + Duration::from_secs(100)).is_empty());
    let gone = c.expire(t0 + Duration::from_secs(111));
    assert_eq!(gone.len(), 1);
    assert_eq!(gone[0].event["janus"], "timeout");
    assert_eq!(gone[0].owner, Transport::Ws(3));
    assert_eq!(gone[0].calls[0].handle_id, h);
    assert_eq!(c.session_count(), 0);
    assert_eq!(c.handle_count(), 0);
}

#[test]
fn a_pending_long_poll_keeps_the_session() {
    let mut c = core();
    let t0 = Instant::now();
    let s = create(&mut c, Transport::Http, t0);
    c.poll_started(s, t0);
    assert!(c.expire(t0 + Duration::from_secs(90)).is_empty());
    c.poll_ended(s, t0 + Duration::from_secs(90));
    assert!(c.expire(t0 + Duration::from_secs(120)).is_empty());
    assert_eq!(c.expire(t0 + Duration::from_secs(151)).len(), 1);
}

#[test]
fn zero_timeout_never_expires() {
    let mut c = Core::new(vec![], Duration::ZERO);
    let t0 = Instant::now();
    create(&mut c, Transport::Http, t0);
    assert!(c.expire(t0 + Duration::from_secs(100_000)).is_empty());
}

#[test]
fn events_route_by_owner_and_claim_moves_them() {
    let mut c = core();
    let now = Instant::now();
    let s = create(&mut c, Transport::Http, now);
    assert_eq!(c.push_event(s, json!({"n":1})), Delivery::Queued(s));
    assert_eq!(c.push_event(s, json!({"n":2})), Delivery::Queued(s));
    assert_eq!(c.take_events(s, 1, now).unwrap(), vec![json!({"n":1})]);
    let o = send(
        &mut c,
        Transport::Ws(7),
        json!({"janus":"claim","transaction":"x","session_id":s}),
        now,
    );
    assert_eq!(o.reply.unwrap()["janus"], "success");
    assert_eq!(o.pushes, vec![(7, json!({"n":2}))]);
    assert_eq!(
        c.push_event(s, json!({"n":3})),
        Delivery::Push(7, json!({"n":3}))
    );
    assert_eq!(c.push_event(999, json!({})), Delivery::Dropped);
}

#[test]
fn closing_a_websocket_destroys_its_sessions_only() {
    let mut c = core();
    let now = Instant::now();
    let a = create(&mut c, Transport::Ws(1), now);
    attach(&mut c, a, now);
    let b = create(&mut c, Transport::Ws(2), now);
    let calls = c.transport_gone(1, now);
    assert_eq!(calls.len(), 1);
    assert!(!c.has_session(a));
    assert!(c.has_session(b));
}

#[test]
fn destroy_detaches_all_handles() {
    let mut c = core();
    let now = Instant::now();
    let s = create(&mut c, Transport::Http, now);
    attach(&mut c, s, now);
    attach(&mut c, s, now);
    let o = send(
        &mut c,
        Transport::Http,
        json!({"janus":"destroy","transaction":"d","session_id":s}),
        now,
    );
    assert_eq!(o.calls.len(), 2);
    assert!(o.calls.iter().all(|c| c.op == PluginOp::Detach));
    assert!(!c.has_session(s));
}

#[test]
fn info_and_ping_anywhere() {
    let mut c = core();
    let now = Instant::now();
    let o = send(
        &mut c,
        Transport::Http,
        json!({"janus":"info","transaction":"i"}),
        now,
    );
    let r = o.reply.unwrap();
    assert_eq!(r["janus"], "server_info");
    assert!(r["plugins"][VR].is_object());
    let o = send(
        &mut c,
        Transport::Http,
        json!({"janus":"ping","transaction":"p"}),
        now,
    );
    assert_eq!(o.reply.unwrap()["janus"], "pong");
    let req = parse_request(
        br#"{"janus":"ping","transaction":"p"}"#,
        Some(Path::default()),
    )
    .unwrap();
    assert_eq!(
        c.handle(req, Transport::Http, now).reply.unwrap()["janus"],
        "pong"
    );
}

#[test]
fn the_api_secret_guards_everything_but_info_and_ping() {
    let t0 = Instant::now();
    let mut c = core();
    c.set_api_secret(Some("s3cret".into()));
    let code = |o: &Outcome| o.reply.as_ref().map(|r| r["error"]["code"].clone());
    // Info and ping need no secret; info says one is needed.
    let o = send(
        &mut c,
        Transport::Http,
        json!({"janus":"info","transaction":"i"}),
        t0,
    );
    assert_eq!(o.reply.unwrap()["api_secret"], true);
    let o = send(
        &mut c,
        Transport::Http,
        json!({"janus":"ping","transaction":"p"}),
        t0,
    );
    assert_eq!(o.reply.unwrap()["janus"], "pong");
    // Missing, wrong, or not a string: 403, and nothing is created.
    for bad in [json!(null), json!("nope"), json!(5), json!("s3cret ")] {
        let mut req = json!({"janus":"create","transaction":"c"});
        if !bad.is_null() {
            req["apisecret"] = bad.clone();
        }
        let o = send(&mut c, Transport::Http, req, t0);
        assert_eq!(code(&o), Some(json!(403)), "{bad}");
        assert_eq!(
            o.reply.unwrap()["error"]["reason"],
            "Unauthorized request (wrong or missing secret/token)"
        );
        assert_eq!(c.session_count(), 0);
    }
    let o = send(
        &mut c,
        Transport::Http,
        json!({"janus":"create","transaction":"c","apisecret":"s3cret"}),
        t0,
    );
    assert_eq!(o.reply.as_ref().unwrap()["janus"], "success");
    let s = o.reply.unwrap()["data"]["id"].as_u64().unwrap();
    // Every later request needs it too.
    let o = send(
        &mut c,
        Transport::Http,
        json!({"janus":"keepalive","transaction":"k","session_id":s}),
        t0,
    );
    assert_eq!(code(&o), Some(json!(403)));
    assert!(c.check_api_secret(Some("s3cret")).is_ok());
    // An empty secret in the config means none.
    c.set_api_secret(Some(String::new()));
    assert!(c.check_api_secret(None).is_ok());
}

#[test]
fn tokens_admit_and_limit_plugins() {
    let t0 = Instant::now();
    let mut c = core();
    c.auth_mut().set_token_auth(true, None);
    let code = |o: &Outcome| o.reply.as_ref().map(|r| r["error"]["code"].clone());
    let o = send(
        &mut c,
        Transport::Http,
        json!({"janus":"create","transaction":"c"}),
        t0,
    );
    assert_eq!(code(&o), Some(json!(403)));
    let o = send(
        &mut c,
        Transport::Http,
        json!({"janus":"create","transaction":"c","token":"t"}),
        t0,
    );
    assert_eq!(code(&o), Some(json!(403)), "token not stored yet");
    c.auth_mut()
        .add_token("t", &["other.plugin".into()], &[VR, "other.plugin"])
        .unwrap();
    let o = send(
        &mut c,
        Transport::Http,
        json!({"janus":"create","transaction":"c","token":"t"}),
        t0,
    );
    let s = o.reply.unwrap()["data"]["id"].as_u64().unwrap();
    let o = send(
        &mut c,
        Transport::Http,
        json!({"janus":"attach","transaction":"a","session_id":s,"plugin":VR,"token":"t"}),
        t0,
    );
    assert_eq!(code(&o), Some(json!(405)));
    assert_eq!(
        o.reply.unwrap()["error"]["reason"],
        format!("Provided token can't access plugin '{VR}'")
    );
    assert_eq!(c.handle_count(), 0);
    assert!(c.check_api_secret(None).is_err());
}

#[test]
fn signed_tokens_follow_the_wall_clock() {
    let t0 = Instant::now();
    let mut c = core();
    c.auth_mut().set_token_auth(true, Some("key".into()));
    c.wall_clock = || 1_000;
    let good = crate::janus::auth::signed_token("key", 1_500, &[VR]);
    let o = send(
        &mut c,
        Transport::Http,
        json!({"janus":"create","transaction":"c","token":good}),
        t0,
    );
    let s = o.reply.unwrap()["data"]["id"].as_u64().unwrap();
    attach_with(&mut c, s, &good, t0).expect("token names the plugin");
    c.wall_clock = || 2_000;
    let o = send(
        &mut c,
        Transport::Http,
        json!({"janus":"keepalive","transaction":"k","session_id":s,"token":good}),
        t0,
    );
    assert_eq!(o.reply.unwrap()["error"]["code"], 403, "expired");
}

fn attach_with(c: &mut Core, s: u64, token: &str, now: Instant) -> Result<u64, Value> {
    let o = send(
        c,
        Transport::Http,
        json!({"janus":"attach","transaction":"a","session_id":s,"plugin":VR,"token":token}),
        now,
    );
    let r = o.reply.unwrap();
    r["data"]["id"].as_u64().ok_or(r)
}

#[test]
fn draining_refuses_creates_only() {
    let t0 = Instant::now();
    let mut c = core();
    let s = create(&mut c, Transport::Http, t0);
    c.accept_new_sessions = false;
    let o = send(
        &mut c,
        Transport::Http,
        json!({"janus":"create","transaction":"c"}),
        t0,
    );
    let r = o.reply.unwrap();
    assert_eq!(r["error"]["code"], 472);
    assert_eq!(r["error"]["reason"], "Currently not accepting new sessions");
    attach(&mut c, s, t0);
}

#[test]
fn reclaim_keeps_sessions_of_a_closed_socket_until_claimed() {
    let t0 = Instant::now();
    let mut c = core();
    c.set_reclaim_timeout(Duration::from_secs(10));
    let a = create(&mut c, Transport::Ws(1), t0);
    attach(&mut c, a, t0);
    let b = create(&mut c, Transport::Ws(1), t0);
    assert!(c.transport_gone(1, t0).is_empty());
    assert_eq!(c.orphaned_count(), 2);
    // Events wait in the session meanwhile.
    assert_eq!(c.push_event(a, json!({"n":1})), Delivery::Queued(a));
    let o = send(
        &mut c,
        Transport::Ws(2),
        json!({"janus":"claim","transaction":"x","session_id":a}),
        t0 + Duration::from_secs(5),
    );
    assert_eq!(o.reply.unwrap()["janus"], "success");
    assert_eq!(o.pushes, vec![(2, json!({"n":1}))]);
    assert_eq!(
        c.push_event(a, json!({"n":2})),
        Delivery::Push(2, json!({"n":2}))
    );
    // The unclaimed one goes at the reclaim timeout, with its handles.
    assert!(c.expire(t0 + Duration::from_secs(9)).is_empty());
    let gone = c.expire(t0 + Duration::from_secs(10));
    assert_eq!(gone.len(), 1);
    assert_eq!(gone[0].session_id, b);
    assert!(c.has_session(a));
    // Without a reclaim timeout a close destroys at once (Janus's default).
    c.set_reclaim_timeout(Duration::ZERO);
    assert_eq!(c.transport_gone(2, t0).len(), 1);
    assert!(!c.has_session(a));
}

/// A long poll that is never collected cannot grow the gateway's memory:
/// an HTTP session keeps at most `MAX_QUEUED_EVENTS`, the oldest dropped.
#[test]
fn uncollected_long_poll_events_are_capped_oldest_first() {
    let mut c = core();
    let now = Instant::now();
    let s = create(&mut c, Transport::Http, now);
    for i in 0..MAX_QUEUED_EVENTS + 500 {
        c.push_event(s, json!({"janus": "event", "n": i}));
    }
    let evs = c.take_events(s, usize::MAX, now).unwrap();
    assert_eq!(evs.len(), MAX_QUEUED_EVENTS);
    assert_eq!(evs[0]["n"], 500, "the oldest were dropped");
    assert_eq!(evs[MAX_QUEUED_EVENTS - 1]["n"], MAX_QUEUED_EVENTS + 499);
}

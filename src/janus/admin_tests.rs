//! Unit tests of the Admin API requests the core answers.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::*;
use crate::janus::core::{Core, PluginDescriptor, PluginOp, Transport};
use crate::janus::wire::parse_request;

const VR: &str = "janus.plugin.videoroom";
const ST: &str = "janus.plugin.streaming";

fn core() -> Core {
    let d = |package| PluginDescriptor {
        package,
        name: "x",
        description: "",
        version_string: "1",
        version: 1,
    };
    Core::new(vec![d(VR), d(ST)], Duration::from_secs(60))
}

fn admin(c: &mut Core, body: Value) -> AdminOutcome {
    let req = parse(body.to_string().as_bytes(), None).expect("admin request parses");
    c.admin(req, Instant::now())
}

fn reply(c: &mut Core, body: Value) -> Value {
    admin(c, body).reply.expect("a reply")
}

fn public(c: &mut Core, body: Value) -> Value {
    let req = parse_request(body.to_string().as_bytes(), None).unwrap();
    c.handle(req, Transport::Ws(1), Instant::now())
        .reply
        .unwrap()
}

fn session_and_handle(c: &mut Core) -> (u64, u64) {
    let s = public(c, json!({"janus":"create","transaction":"c"}))["data"]["id"]
        .as_u64()
        .unwrap();
    let h = public(
        c,
        json!({"janus":"attach","transaction":"a","session_id":s,"plugin":VR}),
    )["data"]["id"]
        .as_u64()
        .unwrap();
    (s, h)
}

#[test]
fn the_admin_secret_guards_all_but_info_and_ping() {
    let mut c = core();
    c.auth_mut().set_admin_secret(Some("adm".into()));
    assert_eq!(
        reply(&mut c, json!({"janus":"info","transaction":"i"}))["janus"],
        "server_info"
    );
    assert_eq!(
        reply(&mut c, json!({"janus":"ping","transaction":"p"}))["janus"],
        "pong"
    );
    for bad in [json!(null), json!("no"), json!(1)] {
        let mut req = json!({"janus":"list_sessions","transaction":"l"});
        if !bad.is_null() {
            req["admin_secret"] = bad;
        }
        let r = reply(&mut c, req);
        assert_eq!(r["error"]["code"], 403);
        assert_eq!(r["transaction"], "l");
    }
    let r = reply(
        &mut c,
        json!({"janus":"list_sessions","transaction":"l","admin_secret":"adm"}),
    );
    assert_eq!(
        r,
        json!({"janus":"success","transaction":"l","sessions":[]})
    );
    // Session-level requests too.
    let (s, _) = session_and_handle(&mut c);
    let r = reply(
        &mut c,
        json!({"janus":"list_handles","transaction":"l","session_id":s}),
    );
    assert_eq!(r["error"]["code"], 403);
    // The secret's value never appears in a reply.
    assert!(!r.to_string().contains("adm\""));
}

#[test]
fn sessions_and_handles_are_listed_and_destroyed() {
    let mut c = core();
    let (s, h) = session_and_handle(&mut c);
    let r = reply(&mut c, json!({"janus":"list_sessions","transaction":"l"}));
    assert_eq!(r["sessions"], json!([s]));
    let r = reply(
        &mut c,
        json!({"janus":"list_handles","transaction":"l","session_id":s}),
    );
    assert_eq!(
        r,
        json!({"janus":"success","transaction":"l","session_id":s,"handles":[h]})
    );
    let r = reply(
        &mut c,
        json!({"janus":"list_handles","transaction":"l","session_id":7}),
    );
    assert_eq!(r["error"]["code"], 458);
    let r = reply(
        &mut c,
        json!({"janus":"handle_info","transaction":"l","session_id":s,"handle_id":9}),
    );
    assert_eq!(r["error"]["code"], 459);
    let o = admin(
        &mut c,
        json!({"janus":"hangup_webrtc","transaction":"h","session_id":s,"handle_id":h}),
    );
    assert_eq!(o.calls[0].op, PluginOp::Hangup);
    let o = admin(
        &mut c,
        json!({"janus":"detach_handle","transaction":"d","session_id":s,"handle_id":h}),
    );
    assert_eq!(o.calls[0].op, PluginOp::Detach);
    assert_eq!(o.pushes[0].1["janus"], "detached");
    assert_eq!(c.handle_count(), 0);
    let (s2, _) = session_and_handle(&mut c);
    let o = admin(
        &mut c,
        json!({"janus":"destroy_session","transaction":"d","session_id":s2}),
    );
    assert_eq!(o.reply.unwrap()["janus"], "success");
    assert_eq!(o.calls.len(), 1);
    assert_eq!(
        o.pushes,
        vec![(1, json!({"janus":"timeout","session_id":s2}))]
    );
    assert!(!c.has_session(s2));
}

#[test]
fn handle_info_leaves_the_plugin_part_to_the_gateway() {
    let mut c = core();
    let (s, h) = session_and_handle(&mut c);
    let o = admin(
        &mut c,
        json!({"janus":"handle_info","transaction":"i","session_id":s,"handle_id":h}),
    );
    assert!(o.reply.is_none());
    let Some(AdminWork::HandleInfo {
        plugin,
        info,
        plugin_only,
        ..
    }) = o.work
    else {
        panic!("{:?}", o.work)
    };
    assert_eq!((plugin, plugin_only), (VR, false));
    assert_eq!(info["session_transport"], "janus.transport.websockets");
    assert_eq!(info["handle_id"], h);
    assert_eq!(info["session_timeout"], 60);
    let r = handle_info_reply("i", s, h, info);
    assert_eq!(r["info"]["plugin"], VR);
    assert_eq!(r["handle_id"], h);
}

#[test]
fn settings() {
    let mut c = core();
    let r = reply(
        &mut c,
        json!({"janus":"set_session_timeout","transaction":"t","timeout":5}),
    );
    assert_eq!(r["timeout"], 5);
    let r = reply(
        &mut c,
        json!({"janus":"set_session_timeout","transaction":"t","timeout":-2}),
    );
    assert_eq!(r["error"]["code"], 467);
    let r = reply(
        &mut c,
        json!({"janus":"set_session_timeout","transaction":"t","timeout":"5"}),
    );
    assert_eq!(r["error"]["code"], 467);
    let r = reply(
        &mut c,
        json!({"janus":"set_session_timeout","transaction":"t"}),
    );
    assert_eq!(r["error"]["code"], 456);
    let o = admin(
        &mut c,
        json!({"janus":"set_log_level","transaction":"t","level":7}),
    );
    assert_eq!(o.work, Some(AdminWork::SetLogLevel(7)));
    assert_eq!(o.reply.unwrap()["level"], 7);
    let r = reply(
        &mut c,
        json!({"janus":"set_log_level","transaction":"t","level":8}),
    );
    assert_eq!(r["error"]["code"], 467);
    let r = reply(&mut c, json!({"janus":"get_status","transaction":"g"}));
    assert_eq!(r["status"]["log_level"], 7);
    assert_eq!(r["status"]["session_timeout"], 5);
    let r = reply(
        &mut c,
        json!({"janus":"accept_new_sessions","transaction":"a","accept":false}),
    );
    assert_eq!(r["accept"], false);
    let r = public(&mut c, json!({"janus":"create","transaction":"c"}));
    assert_eq!(r["error"]["code"], 472);
    reply(
        &mut c,
        json!({"janus":"accept_new_sessions","transaction":"a","accept":true}),
    );
    assert_eq!(
        public(&mut c, json!({"janus":"create","transaction":"c"}))["janus"],
        "success"
    );
    // A session's own timeout: 0 never expires, -1 follows the global one.
    let s = public(&mut c, json!({"janus":"create","transaction":"c"}))["data"]["id"]
        .as_u64()
        .unwrap();
    let r = reply(
        &mut c,
        json!({"janus":"set_session_timeout","transaction":"t","session_id":s,"timeout":0}),
    );
    assert_eq!(r["timeout"], 0);
    let later = Instant::now() + Duration::from_secs(3600);
    let gone: Vec<u64> = c.expire(later).iter().map(|e| e.session_id).collect();
    assert!(!gone.contains(&s) && !gone.is_empty());
}

#[test]
fn message_plugin_is_passed_on() {
    let mut c = core();
    let o = admin(
        &mut c,
        json!({"janus":"message_plugin","transaction":"m","plugin":ST,"request":{"request":"list"}}),
    );
    assert_eq!(
        o.work,
        Some(AdminWork::MessagePlugin {
            plugin: ST,
            request: json!({"request":"list"})
        })
    );
    let r = reply(
        &mut c,
        json!({"janus":"message_plugin","transaction":"m","plugin":"x","request":{}}),
    );
    assert_eq!(r["error"]["code"], 460);
    let r = reply(
        &mut c,
        json!({"janus":"message_plugin","transaction":"m","plugin":ST}),
    );
    assert_eq!(r["error"]["code"], 456);
}

#[test]
fn tokens_through_the_admin_api() {
    let mut c = core();
    let r = reply(
        &mut c,
        json!({"janus":"add_token","transaction":"t","token":"a"}),
    );
    assert_eq!(r["error"]["code"], 490, "token auth is off");
    assert_eq!(
        r["error"]["reason"],
        "Stored-Token based authentication disabled"
    );
    c.auth_mut().set_token_auth(true, None);
    let r = reply(
        &mut c,
        json!({"janus":"add_token","transaction":"t","token":"a","plugins":[VR]}),
    );
    assert_eq!(r["data"]["plugins"], json!([VR]));
    let r = reply(
        &mut c,
        json!({"janus":"add_token","transaction":"t","token":"b"}),
    );
    assert_eq!(r["data"]["plugins"], json!([ST, VR]));
    let r = reply(&mut c, json!({"janus":"list_tokens","transaction":"t"}));
    assert_eq!(
        r["data"]["tokens"],
        json!([{"token":"a","allowed_plugins":[VR]},{"token":"b","allowed_plugins":[ST, VR]}])
    );
    let r = reply(
        &mut c,
        json!({"janus":"allow_token","transaction":"t","token":"a","plugins":[ST]}),
    );
    assert_eq!(r["data"]["plugins"], json!([ST, VR]));
    let r = reply(
        &mut c,
        json!({"janus":"disallow_token","transaction":"t","token":"z","plugins":[ST]}),
    );
    assert_eq!(r["error"]["code"], 470);
    let r = reply(
        &mut c,
        json!({"janus":"allow_token","transaction":"t","token":"a"}),
    );
    assert_eq!(r["error"]["code"], 467);
    let r = reply(
        &mut c,
        json!({"janus":"add_token","transaction":"t","token":5}),
    );
    assert_eq!(r["error"]["code"], 467);
    let r = reply(
        &mut c,
        json!({"janus":"remove_token","transaction":"t","token":"a"}),
    );
    assert_eq!(r, json!({"janus":"success","transaction":"t"}));
    let r = reply(
        &mut c,
        json!({"janus":"remove_token","transaction":"t","token":"a"}),
    );
    assert_eq!(r["error"]["code"], 470);
}

#[test]
fn bad_admin_requests() {
    let mut c = core();
    let r = reply(&mut c, json!({"janus":"create","transaction":"x"}));
    assert_eq!(r["error"]["code"], 457, "a public request on the admin API");
    let r = reply(&mut c, json!({"janus":"dance","transaction":"x"}));
    assert_eq!(r["error"]["code"], 457);
    let e = parse(b"{nope", None).unwrap_err();
    assert_eq!(e.error.code(), 454);
    let e = parse(br#"{"janus":"info"}"#, None).unwrap_err();
    assert_eq!(e.error.code(), 456);
    let e = parse(br#"{"janus":3,"transaction":"t"}"#, None).unwrap_err();
    assert_eq!(e.error.code(), 467);
    // And an admin request on the public API is unknown there (453).
    let e = parse_request(br#"{"janus":"list_sessions","transaction":"x"}"#, None).unwrap_err();
    assert_eq!(e.error.code(), 453);
}

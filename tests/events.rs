//! The event handler (`[events]`, Janus's sample HTTP event handler)
//! against a real HTTP receiver started by the test on 127.0.0.1: the
//! events of a publish/subscribe/leave run arrive in order, in Janus's
//! format; and a backend that never answers does not stall a call (its
//! events are dropped and counted instead).

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use serial_test::serial;
use warp::Filter;

use common::{Gateway, create_room, videoroom_handle};
use gateway_testkit::peer::{PublisherSpec, TestPeer};

const WITHIN: Duration = Duration::from_secs(10);

/// The backend's route: `POST /ev` with one event or an array of them,
/// kept in order in what it returns.
fn collector() -> (
    impl Filter<Extract = (warp::reply::Response,), Error = warp::Rejection>
    + Clone
    + Send
    + Sync
    + 'static,
    Arc<Mutex<Vec<Value>>>,
) {
    let got: Arc<Mutex<Vec<Value>>> = Arc::default();
    let store = got.clone();
    let route = warp::post()
        .and(warp::path("ev"))
        .and(warp::body::json())
        .map(move |v: Value| {
            let mut g = store.lock().unwrap();
            match v {
                Value::Array(evs) => g.extend(evs),
                one => g.push(one),
            }
            warp::reply::Reply::into_response(warp::reply())
        });
    (route, got)
}

/// An HTTP receiver on a free port; returns its URL and what it got.
async fn receiver() -> (String, Arc<Mutex<Vec<Value>>>) {
    let (route, got) = collector();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(warp::serve(route).incoming(listener).run());
    (format!("http://{addr}/ev"), got)
}

fn events_config(backend: &str, extra: &str) -> String {
    format!("[events]\nenabled = true\nbackend = \"{backend}\"\nstats_period = 1\n{extra}")
}

/// Index of the first event after `from` matching `pred`.
fn find(evs: &[Value], from: usize, pred: impl Fn(&Value) -> bool) -> Option<usize> {
    evs.iter().skip(from).position(pred).map(|i| i + from)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial(media)]
async fn a_call_reaches_the_backend_in_order() {
    gst::init().unwrap();
    let (url, got) = receiver().await;
    let gw = Gateway::start_with(&events_config(&url, ""));
    let owner = videoroom_handle(&gw, true).await;
    let room = create_room(&owner, json!({})).await;
    let ph = videoroom_handle(&gw, true).await;
    let (publisher, joined) = TestPeer::publish(&ph, &room, "alice", &PublisherSpec::default())
        .await
        .expect("publish");
    let sh = videoroom_handle(&gw, false).await;
    let (viewer, _) = TestPeer::subscribe(&sh, &room, json!([{"feed": joined["id"]}]), true)
        .await
        .expect("subscribe");
    assert!(
        viewer.wait_until(WITHIN, |s| s.frames() >= 20).await,
        "frames"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await; // a stats period or more
    let (ps, phid) = (ph.session().id, ph.id);
    let (left, _) = ph
        .call(json!({"request": "leave"}), None, WITHIN)
        .await
        .expect("leave");
    assert_eq!(left["leaving"], "ok", "{left}");
    ph.session().destroy().await.expect("destroy");
    drop((publisher, viewer));

    // Everything up to the publisher's session ending arrives.
    let deadline = Instant::now() + WITHIN;
    let evs = loop {
        let evs = got.lock().unwrap().clone();
        let done = evs
            .iter()
            .any(|e| e["type"] == 1 && e["session_id"] == ps && e["event"]["name"] == "destroyed");
        if done || Instant::now() > deadline {
            break evs;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let dump = || serde_json::to_string_pretty(&evs).unwrap();
    // Janus's format on every event.
    for e in &evs {
        assert!(
            e["timestamp"]
                .as_u64()
                .is_some_and(|t| t > 1_600_000_000_000_000),
            "{e}"
        );
        assert_eq!(e["emitter"], "webrtc-gateway", "{e}");
        assert!(e["event"].is_object(), "{e}");
    }
    assert_eq!(evs[0]["type"], 256, "core started comes first: {}", dump());
    assert_eq!(evs[0]["event"]["status"], "started");
    let mine = |e: &Value| e["handle_id"] == phid;
    let steps: &[(&str, Box<dyn Fn(&Value) -> bool>)] = &[
        (
            "session created",
            Box::new(|e| {
                e["type"] == 1 && e["session_id"] == ps && e["event"]["name"] == "created"
            }),
        ),
        (
            "handle attached",
            Box::new(move |e| {
                e["type"] == 2
                    && mine(e)
                    && e["event"]["name"] == "attached"
                    && e["event"]["plugin"] == "janus.plugin.videoroom"
            }),
        ),
        (
            "plugin joined",
            Box::new(move |e| {
                e["type"] == 64 && mine(e) && e["event"]["data"]["event"] == "joined"
            }),
        ),
        (
            "remote offer",
            Box::new(move |e| {
                e["type"] == 8
                    && mine(e)
                    && e["event"]["owner"] == "remote"
                    && e["event"]["jsep"]["type"] == "offer"
            }),
        ),
        (
            "local answer",
            Box::new(move |e| {
                e["type"] == 8
                    && mine(e)
                    && e["event"]["owner"] == "local"
                    && e["event"]["jsep"]["type"] == "answer"
            }),
        ),
        (
            "plugin published",
            Box::new(move |e| {
                e["type"] == 64 && mine(e) && e["event"]["data"]["event"] == "published"
            }),
        ),
        (
            "webrtcup",
            Box::new(move |e| e["type"] == 16 && e["subtype"] == 6 && mine(e)),
        ),
        (
            "media receiving",
            Box::new(move |e| {
                e["type"] == 32 && e["subtype"] == 1 && mine(e) && e["event"]["receiving"] == true
            }),
        ),
        (
            "media stats",
            Box::new(move |e| {
                e["type"] == 32
                    && e["subtype"] == 3
                    && mine(e)
                    && e["event"]["packets"].as_u64() > Some(0)
            }),
        ),
        (
            "plugin leaving",
            Box::new(move |e| {
                e["type"] == 64 && mine(e) && e["event"]["data"]["event"] == "leaving"
            }),
        ),
        (
            "handle detached",
            Box::new(move |e| e["type"] == 2 && mine(e) && e["event"]["name"] == "detached"),
        ),
        (
            "session destroyed",
            Box::new(|e| {
                e["type"] == 1 && e["session_id"] == ps && e["event"]["name"] == "destroyed"
            }),
        ),
    ];
    let mut at = 0;
    for (what, pred) in steps {
        at = find(&evs, at, pred)
            .unwrap_or_else(|| panic!("no '{what}' after event {at}: {}", dump()));
    }
    // The subscriber's side too.
    let sub = sh.id;
    assert!(
        evs.iter().any(|e| e["type"] == 64
            && e["handle_id"] == sub
            && e["event"]["data"]["event"] == "subscribing"),
        "{}",
        dump()
    );
    assert!(gw.metric("gateway_events_sent_total").await.unwrap_or(0.0) > 10.0);
    assert_eq!(gw.metric("gateway_events_dropped_total").await, Some(0.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial(media)]
async fn a_dead_backend_never_stalls_a_call() {
    gst::init().unwrap();
    // Accepts connections and never answers: every POST hangs to its timeout.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    let gw = Gateway::start_with(&events_config(&format!("http://{addr}/ev"), "queue = 8\n"));
    let started = Instant::now();
    let owner = videoroom_handle(&gw, true).await;
    let room = create_room(&owner, json!({})).await;
    let ph = videoroom_handle(&gw, true).await;
    let (publisher, joined) = TestPeer::publish(&ph, &room, "alice", &PublisherSpec::default())
        .await
        .expect("publish with a dead event backend");
    let sh = videoroom_handle(&gw, true).await;
    let (viewer, _) = TestPeer::subscribe(&sh, &room, json!([{"feed": joined["id"]}]), true)
        .await
        .expect("subscribe with a dead event backend");
    assert!(
        viewer.wait_until(WITHIN, |s| s.frames() >= 30).await,
        "frames"
    );
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(8),
        "the call took {took:?} to get going"
    );
    let dropped = gw
        .metric("gateway_events_dropped_total")
        .await
        .unwrap_or(0.0);
    assert!(
        dropped > 0.0,
        "events past the queue are dropped and counted"
    );
    assert_eq!(gw.metric("gateway_events_sent_total").await, Some(0.0));
    drop((publisher, viewer));
    hold.abort();
}

/// An `https://` backend, its certificate from a CA the gateway trusts
/// through `SSL_CERT_FILE`: the start-up event, a session's events, and on
/// SIGTERM Janus's shutdown event (core subtype 2, `signum` 15) all arrive
/// before the process exits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial(media)]
async fn an_https_backend_gets_every_event_up_to_shutdown() {
    use webrtc_gateway::transport::tls;
    let dir = common::TempDir::new("evtls");
    let (ca, cert, key) = common::ca_and_server_cert(&dir.0);
    let (route, got) = collector();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = tls::acceptor(&cert, &key).expect("test certificate");
    tokio::spawn(tls::serve(listener, acceptor, route));
    let url = format!("https://{addr}/ev");
    let mut gw = Gateway::start_with_env(&events_config(&url, ""), &[("SSL_CERT_FILE", &ca)]);
    let s = gw.session(true).await;
    let sid = s.id;
    let _h = s.attach("janus.plugin.videoroom").await.expect("attach");
    let deadline = Instant::now() + WITHIN;
    while Instant::now() < deadline
        && !got
            .lock()
            .unwrap()
            .iter()
            .any(|e| e["type"] == 2 && e["session_id"] == sid)
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let status = tokio::task::spawn_blocking(move || {
        let st = gw.terminate(Duration::from_secs(15));
        (gw, st)
    })
    .await
    .unwrap()
    .1;
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
    let evs = got.lock().unwrap().clone();
    let kinds: Vec<(Value, Value)> = evs
        .iter()
        .map(|e| (e["type"].clone(), e["subtype"].clone()))
        .collect();
    println!("over https: {kinds:?}");
    let started = find(&evs, 0, |e| {
        e["type"] == 256 && e["event"]["status"] == "started"
    });
    let session = find(&evs, 0, |e| e["type"] == 1 && e["session_id"] == sid);
    let shutdown = find(&evs, 0, |e| e["type"] == 256 && e["subtype"] == 2);
    let (Some(a), Some(b), Some(c)) = (started, session, shutdown) else {
        panic!("missing events over https: {evs:?}");
    };
    assert!(
        a < b && b < c,
        "order: started {a}, session {b}, shutdown {c}"
    );
    assert_eq!(
        evs[c]["event"],
        json!({"status": "shutdown", "signum": 15}),
        "{}",
        evs[c]
    );
}

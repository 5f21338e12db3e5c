//! The live fuzzer (`gateway_testkit::fuzz`, also the `webrtc-gateway-fuzz`
//! tool) against the real gateway: a short run here (`FUZZ_MESSAGES`,
//! default 20,000); the 10^6-message figure is in docs/testing.md. Every
//! reply well-formed, every message with a transaction answered, the
//! gateway alive, and its fds and threads back where they were once what
//! the run created is gone.

mod common;

use common::Gateway;
use gateway_testkit::fuzz::{self, Options, Resources};
use serial_test::serial;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial(media)]
async fn fuzzed_messages_get_janus_replies_and_leak_nothing() {
    let messages = std::env::var("FUZZ_MESSAGES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000);
    let gw = Gateway::start();
    let pid = gw.pid();
    // A short warm-up run first, so lazily made things (thread pools,
    // GStreamer's first pipeline) count as the baseline.
    let opts = |messages, seed| Options {
        ws: gw.ws.clone(),
        http: gw.http.clone(),
        pid: Some(pid),
        messages,
        seed,
        connections: 2,
    };
    let warm = fuzz::run(opts(2_000, 7)).await.expect("warm-up run");
    assert!(warm.alive);
    let base = Resources::of(pid);
    let report = fuzz::run(opts(messages, 1)).await.expect("fuzz run");
    println!("{}", report.summary());
    println!("baseline after warm-up: {base:?}");
    assert!(report.alive, "the gateway stopped answering");
    assert_eq!(
        report.malformed,
        0,
        "malformed replies: {}",
        report.summary()
    );
    assert_eq!(
        report.unanswered,
        0,
        "unanswered messages: {}",
        report.summary()
    );
    assert!(report.sent >= messages / 2 * 2, "{}", report.summary());
    let after = report.after;
    assert!(
        after.fds <= base.fds + 4,
        "fds grew from {} to {}: {}",
        base.fds,
        after.fds,
        report.summary()
    );
    assert!(
        after.threads <= base.threads + 4,
        "threads grew from {} to {}: {}",
        base.threads,
        after.threads,
        report.summary()
    );
}

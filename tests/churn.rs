//! Churn (`gateway_testkit::churn`, also `webrtc-gateway-churn`): cycles of
//! session → attach → join → publish (real media) → subscribe → leave →
//! destroy, two at a time, against the real gateway. A short run here
//! (`CHURN_CYCLES`, default 40); the 1,000-cycle figures are in
//! docs/testing.md. Every cycle succeeds, and fds and threads end where
//! they were after a warm-up run.

mod common;

use common::Gateway;
use gateway_testkit::churn::{self, Options};
use serial_test::serial;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial(media)]
async fn churn_cycles_leave_nothing_behind() {
    gst::init().unwrap();
    let cycles = std::env::var("CHURN_CYCLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(40);
    let gw = Gateway::start();
    let opts = |cycles: u64| Options {
        ws: gw.ws.clone(),
        pid: gw.pid(),
        cycles,
        parallel: 2,
        sample_every: (cycles / 4).max(1),
    };
    // Warm-up: thread pools and caches that stay are not leaks.
    let warm = churn::run(opts(4)).await.expect("warm-up churn");
    assert!(warm.failures.is_empty(), "{:?}", warm.failures);
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let quiet = gateway_testkit::fuzz::Resources::of(gw.pid());
    let report = churn::run(opts(cycles)).await.expect("churn run");
    println!("after warm-up: {quiet:?}\n{}", report.table());
    assert!(
        report.failures.is_empty(),
        "failed cycles: {:?}",
        report.failures
    );
    assert_eq!(report.cycles, cycles);
    let end = report.samples.last().unwrap().resources;
    assert!(
        end.fds <= quiet.fds + 2,
        "fds {} -> {}\n{}",
        quiet.fds,
        end.fds,
        report.table()
    );
    assert!(
        end.threads <= quiet.threads + 3,
        "threads {} -> {}\n{}",
        quiet.threads,
        end.threads,
        report.table()
    );
    assert_eq!(gw.metric("gateway_webrtcbins_alive").await, Some(0.0));
    assert_eq!(gw.metric("gateway_pipelines_alive").await, Some(0.0));
}

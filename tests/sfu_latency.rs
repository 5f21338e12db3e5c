//! Forwarding latency of an SFU room (issue 12 §4): from the publisher's
//! socket to each subscriber's socket, both peers on this machine, timed by
//! the RTP packets themselves (`gateway_testkit::latency`). With several
//! subscribers, none may delay the others: 1.22's webrtcbin held every
//! packet about 100 ms (its sink pads' `clocksync` waited for the
//! publisher's jitter-buffer latency on the publisher's thread, shared by
//! every subscriber) from the second subscriber on.

mod common;

use std::time::Duration;

use gateway_testkit::latency::{PacketTimes, quantile};
use gateway_testkit::peer::{PublisherSpec, TestPeer};
use serde_json::json;
use serial_test::serial;

use common::{Gateway, create_room, videoroom_handle};

const SUBSCRIBERS: usize = 4;
/// The bounds, loose for a loaded 2-core CI machine; the bench reports
/// the figures (goal: 5 ms median, 15 ms p99 at 8 subscribers).
const MEDIAN_MAX: Duration = Duration::from_millis(20);
const P99_MAX: Duration = Duration::from_millis(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial(media)]
async fn no_subscriber_delays_another() {
    gst::init().unwrap();
    let gw = Gateway::start();
    let owner = videoroom_handle(&gw, true).await;
    let room = create_room(&owner, json!({})).await;
    let ph = videoroom_handle(&gw, true).await;
    let (publisher, joined) = TestPeer::publish(&ph, &room, "src", &PublisherSpec::default())
        .await
        .expect("publish");
    let sent = PacketTimes::at_socket(&publisher.webrtcbin, true);
    let mut subs = Vec::new();
    for _ in 0..SUBSCRIBERS {
        let h = videoroom_handle(&gw, true).await;
        let (sub, _) = TestPeer::subscribe(&h, &room, json!([{"feed": joined["id"]}]), false)
            .await
            .expect("subscribe");
        let got = PacketTimes::at_socket(&sub.webrtcbin, false);
        subs.push((h, sub, got));
    }
    // Every subscriber up and receiving, then a few seconds of packets.
    for (_, sub, _) in &subs {
        assert!(
            sub.wait_until(Duration::from_secs(10), |s| {
                s.video_packets.load(std::sync::atomic::Ordering::Relaxed) > 30
            })
            .await,
            "a subscriber gets no video"
        );
    }
    let steady = std::time::Instant::now();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut worst = Duration::ZERO;
    for (i, (_, _, got)) in subs.iter().enumerate() {
        let all = sent.latencies_to(got);
        let late = all
            .iter()
            .filter(|d| **d > Duration::from_millis(50))
            .count();
        println!(
            "subscriber {i}: from its start, {late} of {} packets over 50 ms",
            all.len()
        );
        let l = sent.latencies_since(got, Some(steady));
        let (median, p99) = (quantile(&l, 0.5), quantile(&l, 0.99));
        println!(
            "subscriber {i}: {} packets timed, median {median:?}, p99 {p99:?}",
            l.len()
        );
        assert!(l.len() > 100, "too few packets timed: {}", l.len());
        let (median, p99) = (median.unwrap(), p99.unwrap());
        assert!(median <= MEDIAN_MAX, "subscriber {i}: median {median:?}");
        assert!(p99 <= P99_MAX, "subscriber {i}: p99 {p99:?}");
        worst = worst.max(p99);
    }
    println!("{SUBSCRIBERS} subscribers: worst p99 {worst:?}");
}

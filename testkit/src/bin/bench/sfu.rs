//! The SFU load: one looped H.264 + Opus publisher, N non-decoding
//! subscribers; for each N a fresh server process, ours and Janus's
//! alternating run by run (`--against-janus`), medians per N, and the
//! per-subscriber slopes: CPU (P1), RSS (P2), threads, µs of CPU per
//! forwarded packet, and the added forwarding latency.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Context;
use gateway_testkit::janus::Handle;
use gateway_testkit::latency::{PacketTimes, quantile};
use gateway_testkit::peer::TestPeer;
use serde_json::{Value, json};

use super::Args;
use crate::media::{Media, publish_loop};
use crate::server::{
    Server, janus_available, measure_window, median, rand_u32, slope, start_gateway, start_janus,
    thread_count, videoroom_handle,
};

/// One measured point (one run, or the medians of runs).
#[derive(Debug, Clone)]
pub struct Point {
    pub n: usize,
    pub cpu_cores: f64,
    pub rss_mb: f64,
    /// Packets/s per subscriber.
    pub video_pps: f64,
    pub audio_pps: f64,
    /// Subscribers that got no video or no audio in the window.
    pub starved: usize,
    /// Added forwarding latency, publisher socket to subscriber socket, over
    /// every subscriber's packets in the window: median and p99, ms.
    pub lat_median_ms: f64,
    pub lat_p99_ms: f64,
    /// Threads of the server process.
    pub threads: usize,
}

pub async fn measure(
    server: &Server,
    n: usize,
    media: &Arc<Media>,
    args: &Args,
    record_to: Option<&std::path::Path>,
) -> anyhow::Result<Point> {
    let pid = server.child.id();
    let admin = videoroom_handle(&server.ws).await?;
    let room = json!(1_000 + rand_u32() % 100_000);
    let mut create = json!({"request": "create", "room": room, "publishers": 4, "videocodec": "h264", "audiocodec": "opus"});
    if let Some(dir) = record_to {
        create["record"] = json!(true);
        create["rec_dir"] = json!(dir.display().to_string());
    }
    let created = admin.sync(create).await?;
    anyhow::ensure!(created["videoroom"] == "created", "create: {created}");
    let ph = videoroom_handle(&server.ws).await?;
    let (publisher, joined) = publish_loop(&ph, &room, media, "bench", false).await?;
    let sent = PacketTimes::at_socket(&publisher.peer.webrtcbin, true);
    let feed = joined["id"].clone();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut subs = Vec::new();
    let mut received = Vec::new();
    for _ in 0..n {
        let h = videoroom_handle(&server.ws).await?;
        let (peer, _) = TestPeer::subscribe(&h, &room, json!([{"feed": feed}]), false).await?;
        received.push(PacketTimes::at_socket(&peer.webrtcbin, false));
        subs.push((h, peer));
    }
    tokio::time::sleep(Duration::from_secs(args.warmup)).await;
    let window_start = Instant::now();
    let count = |subs: &[(Arc<Handle>, TestPeer)]| -> Vec<(u64, u64)> {
        subs.iter()
            .map(|(_, p)| {
                (
                    p.stats.video_packets.load(Ordering::Relaxed),
                    p.stats.audio_packets.load(Ordering::Relaxed),
                )
            })
            .collect()
    };
    let threads_before = thread_count(pid);
    let c0 = count(&subs);
    let w = measure_window(pid, args.window).await?;
    let secs = w.secs;
    let c1 = count(&subs);
    let threads = threads_before.max(thread_count(pid));
    let per: Vec<(f64, f64)> = c0
        .iter()
        .zip(&c1)
        .map(|(a, b)| ((b.0 - a.0) as f64 / secs, (b.1 - a.1) as f64 / secs))
        .collect();
    let starved = per.iter().filter(|(v, a)| *v < 1.0 || *a < 1.0).count();
    let mut lat: Vec<Duration> = received
        .iter()
        .flat_map(|r| sent.latencies_matched(r, Some(window_start)))
        .collect();
    lat.sort();
    let ms = |q: f64| quantile(&lat, q).map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0);
    let (lat_median_ms, lat_p99_ms) = (ms(0.5), ms(0.99));
    drop(subs);
    drop(publisher);
    let _ = admin
        .sync(json!({"request": "destroy", "room": room}))
        .await;
    Ok(Point {
        n,
        cpu_cores: w.cpu_cores,
        rss_mb: w.rss_mb,
        video_pps: per.iter().map(|p| p.0).sum::<f64>() / n.max(1) as f64 + 0.0,
        audio_pps: per.iter().map(|p| p.1).sum::<f64>() / n.max(1) as f64 + 0.0,
        starved,
        lat_median_ms,
        lat_p99_ms,
        threads,
    })
}

/// The medians of `runs` (all at one N).
fn medians(n: usize, runs: &[Point]) -> Point {
    let med = |f: fn(&Point) -> f64| median(&mut runs.iter().map(f).collect::<Vec<_>>());
    Point {
        n,
        cpu_cores: med(|p| p.cpu_cores),
        rss_mb: med(|p| p.rss_mb),
        video_pps: med(|p| p.video_pps),
        audio_pps: med(|p| p.audio_pps),
        starved: runs.iter().map(|p| p.starved).max().unwrap_or(0),
        lat_median_ms: med(|p| p.lat_median_ms),
        lat_p99_ms: med(|p| p.lat_p99_ms),
        threads: med(|p| p.threads as f64).round() as usize,
    }
}

fn log_run(name: &str, run: usize, p: &Point) {
    eprintln!(
        "{name:>8} N={:>2} run {run}: {:.3} cores, {:.1} MB RSS, {} threads, {:.0} video + {:.0} audio pkt/s per subscriber, {} starved, latency {:.2} ms median / {:.2} ms p99",
        p.n,
        p.cpu_cores,
        p.rss_mb,
        p.threads,
        p.video_pps,
        p.audio_pps,
        p.starved,
        p.lat_median_ms,
        p.lat_p99_ms
    );
}

/// Per-subscriber slopes over N.
#[derive(Debug, Clone, Copy)]
pub struct Fit {
    /// CPU cores per subscriber.
    pub cpu: f64,
    /// RSS MB per subscriber.
    pub rss: f64,
    /// Threads per subscriber.
    pub threads: f64,
    /// µs of CPU per forwarded packet: the CPU slope over the packets per
    /// second each subscriber receives.
    pub us_per_packet: f64,
}

pub fn fit(points: &[Point]) -> Fit {
    let xy = |f: fn(&Point) -> f64| -> Vec<(f64, f64)> {
        points.iter().map(|p| (p.n as f64, f(p))).collect()
    };
    let cpu = slope(&xy(|p| p.cpu_cores));
    let pps = median(
        &mut points
            .iter()
            .filter(|p| p.n > 0)
            .map(|p| p.video_pps + p.audio_pps)
            .collect::<Vec<_>>(),
    );
    Fit {
        cpu,
        rss: slope(&xy(|p| p.rss_mb)),
        threads: slope(&xy(|p| p.threads as f64)),
        us_per_packet: cpu / pps * 1e6,
    }
}

fn table(name: &str, points: &[Point]) {
    println!("\n{name}");
    println!(
        "{:>4} {:>10} {:>9} {:>8} {:>12} {:>12} {:>8} {:>11} {:>9}",
        "N",
        "CPU cores",
        "RSS MB",
        "threads",
        "video pkt/s",
        "audio pkt/s",
        "starved",
        "lat med ms",
        "lat p99"
    );
    for p in points {
        println!(
            "{:>4} {:>10.3} {:>9.1} {:>8} {:>12.1} {:>12.1} {:>8} {:>11.2} {:>9.2}",
            p.n,
            p.cpu_cores,
            p.rss_mb,
            p.threads,
            p.video_pps,
            p.audio_pps,
            p.starved,
            p.lat_median_ms,
            p.lat_p99_ms
        );
    }
    let f = fit(points);
    println!(
        "per subscriber (fitted slopes): {:.4} cores, {:.2} MB RSS, {:.1} threads, {:.1} µs CPU per forwarded packet",
        f.cpu, f.rss, f.threads, f.us_per_packet
    );
}

fn to_json(points: &[Point]) -> Value {
    let f = fit(points);
    json!({
        "points": points.iter().map(|p| json!({
            "subscribers": p.n, "cpu_cores": p.cpu_cores, "rss_mb": p.rss_mb, "threads": p.threads,
            "video_pkts_per_s": p.video_pps, "audio_pkts_per_s": p.audio_pps, "starved": p.starved,
            "latency_median_ms": p.lat_median_ms, "latency_p99_ms": p.lat_p99_ms,
        })).collect::<Vec<_>>(),
        "cpu_cores_per_subscriber": f.cpu,
        "rss_mb_per_subscriber": f.rss,
        "threads_per_subscriber": f.threads,
        "cpu_us_per_forwarded_packet": f.us_per_packet,
    })
}

/// The SFU load for every N, `repeats` runs each, ours and (with
/// `--against-janus`) Janus's alternating; prints the tables and ratios and
/// writes the JSON.
pub async fn run(gateway_bin: &PathBuf, media: &Arc<Media>, args: &Args) -> anyhow::Result<()> {
    let with_janus = janus_available(args.against_janus);
    let (mut ours, mut janus) = (Vec::new(), Vec::new());
    for &n in &args.subscribers {
        let (mut o, mut j) = (Vec::new(), Vec::new());
        for r in 0..args.repeats {
            let mut order: Vec<bool> = vec![false];
            if with_janus {
                // Alternate which server goes first, run by run.
                order = if r % 2 == 0 {
                    vec![false, true]
                } else {
                    vec![true, false]
                };
            }
            for is_janus in order {
                let (name, server) = if is_janus {
                    ("janus", start_janus()?)
                } else {
                    ("gateway", start_gateway(gateway_bin)?)
                };
                let p = measure(&server, n, media, args, None)
                    .await
                    .with_context(|| format!("{name} N={n} run {}", r + 1))?;
                log_run(name, r + 1, &p);
                if is_janus {
                    j.push(p)
                } else {
                    o.push(p)
                }
                drop(server);
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
        ours.push(medians(n, &o));
        if with_janus {
            janus.push(medians(n, &j));
        }
    }
    table("webrtc-gateway (medians)", &ours);
    let mut report = json!({"load": "1 publisher H.264 640x360@30 ~1 Mbps + Opus, N non-decoding subscribers",
        "window_s": args.window, "repeats": args.repeats, "gateway": to_json(&ours)});
    if with_janus {
        table("Janus (medians)", &janus);
        let (o, j) = (fit(&ours), fit(&janus));
        println!(
            "\nratio ours/Janus per subscriber: CPU {:.2}x (P1), RSS {:.2}x (P2), threads {:.1} vs {:.1}, µs/packet {:.1} vs {:.1}",
            o.cpu / j.cpu,
            o.rss / j.rss,
            o.threads,
            j.threads,
            o.us_per_packet,
            j.us_per_packet
        );
        println!(
            "added forwarding latency, publisher socket to subscriber socket (median / p99, ms):"
        );
        for (o, j) in ours.iter().zip(&janus) {
            println!(
                "  N={:>2}: ours {:.2} / {:.2}, Janus {:.2} / {:.2}",
                o.n, o.lat_median_ms, o.lat_p99_ms, j.lat_median_ms, j.lat_p99_ms
            );
        }
        report["janus"] = to_json(&janus);
        report["ratio_cpu_per_subscriber"] = json!(o.cpu / j.cpu);
        report["ratio_rss_per_subscriber"] = json!(o.rss / j.rss);
    }
    if let Some(dir) = args.json.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&args.json, serde_json::to_string_pretty(&report)?)?;
    println!("\nJSON: {}", args.json.display());
    Ok(())
}

//! The conference load (`--conference`): P participants, each publishing
//! looped H.264 640x360 + Opus (or three simulcast layers of it) and
//! subscribing, in one subscriber PeerConnection, to every stream of the
//! P-1 others, without decoding. Server CPU, RSS and threads, and whether
//! every stream reached every participant; ours and Janus's alternating
//! run by run.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use gateway_testkit::latency::PacketTimes;
use gateway_testkit::peer::TestPeer;
use serde_json::{Value, json};

use super::Args;
use crate::media::{Media, publish_loop};
use crate::server::{
    Server, janus_available, measure_window, median, rand_u32, start_gateway, start_janus,
    thread_count, videoroom_handle,
};

/// One conference run (or the medians of runs).
#[derive(Debug, Clone)]
struct Run {
    cpu_cores: f64,
    rss_mb: f64,
    threads: usize,
    /// (subscriber, stream) pairs that flowed through the window, and how
    /// many there should be: P × (P-1) × 2 (audio and video).
    delivered: usize,
    expected: usize,
    /// Median video frames/s per delivered video stream.
    video_fps: f64,
}

async fn measure(
    server: &Server,
    participants: usize,
    simulcast: bool,
    media: &Arc<Media>,
    args: &Args,
) -> anyhow::Result<Run> {
    let pid = server.child.id();
    let admin = videoroom_handle(&server.ws).await?;
    let room = json!(1_000 + rand_u32() % 100_000);
    let created = admin
        .sync(
            json!({"request": "create", "room": room, "publishers": participants + 1,
                     "videocodec": "h264", "audiocodec": "opus"}),
        )
        .await?;
    anyhow::ensure!(created["videoroom"] == "created", "create: {created}");
    let mut publishers = Vec::new();
    let mut feeds = Vec::new();
    for i in 0..participants {
        let h = videoroom_handle(&server.ws).await?;
        let (p, joined) = publish_loop(&h, &room, media, &format!("p{i}"), simulcast)
            .await
            .with_context(|| format!("participant {i} publishing"))?;
        feeds.push(joined["id"].clone());
        publishers.push((h, p));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut subscribers = Vec::new();
    for i in 0..participants {
        let streams: Vec<Value> = feeds
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, f)| json!({"feed": f}))
            .collect();
        let h = videoroom_handle(&server.ws).await?;
        let (peer, _) = TestPeer::subscribe(&h, &room, json!(streams), false)
            .await
            .with_context(|| format!("participant {i} subscribing"))?;
        let seen = PacketTimes::at_socket(&peer.webrtcbin, false);
        subscribers.push((h, peer, seen));
    }
    tokio::time::sleep(Duration::from_secs(args.warmup)).await;
    let start = Instant::now();
    let w = measure_window(pid, args.window).await?;
    let threads = thread_count(pid);
    let per_stream = participants.saturating_sub(1) * 2;
    let mut delivered = 0;
    let mut fps = Vec::new();
    for (_, _, seen) in &subscribers {
        let mut rates: Vec<f64> = seen
            .timestamps_per_ssrc(start)
            .values()
            .map(|n| *n as f64 / w.secs)
            .filter(|r| *r >= 5.0)
            .collect();
        delivered += rates.len().min(per_stream);
        // Audio runs at 50 packets/s, video at 30 frames/s: the video
        // streams are the slower half.
        rates.sort_by(|a, b| a.total_cmp(b));
        fps.extend(rates.iter().take(per_stream / 2).copied());
    }
    drop(subscribers);
    drop(publishers);
    let _ = admin
        .sync(json!({"request": "destroy", "room": room}))
        .await;
    Ok(Run {
        cpu_cores: w.cpu_cores,
        rss_mb: w.rss_mb,
        threads,
        delivered,
        expected: participants * per_stream,
        video_fps: median(&mut fps),
    })
}

fn medians(runs: &[Run]) -> Run {
    let med = |f: fn(&Run) -> f64| median(&mut runs.iter().map(f).collect::<Vec<_>>());
    Run {
        cpu_cores: med(|r| r.cpu_cores),
        rss_mb: med(|r| r.rss_mb),
        threads: med(|r| r.threads as f64).round() as usize,
        delivered: runs.iter().map(|r| r.delivered).min().unwrap_or(0),
        expected: runs.first().map_or(0, |r| r.expected),
        video_fps: med(|r| r.video_fps),
    }
}

fn to_json(r: &Run) -> Value {
    json!({"cpu_cores": r.cpu_cores, "rss_mb": r.rss_mb, "threads": r.threads,
           "streams_delivered": r.delivered, "streams_expected": r.expected,
           "video_fps_per_stream": r.video_fps})
}

/// Runs the conference without and with simulcast, `repeats` times each,
/// ours and Janus's alternating; prints the table and writes the JSON.
pub async fn run(gateway_bin: &PathBuf, media: &Arc<Media>, args: &Args) -> anyhow::Result<()> {
    let with_janus = janus_available(args.against_janus);
    let p = args.participants;
    let mut rows = Vec::new();
    let mut report = json!({"load": format!("{p} participants, each publishing H.264 640x360@30 + Opus and subscribing to the {} others, no decoding", p.saturating_sub(1)),
        "window_s": args.window, "repeats": args.repeats});
    for simulcast in [false, true] {
        let (mut ours, mut janus) = (Vec::new(), Vec::new());
        for r in 0..args.repeats {
            let order = match (with_janus, r % 2) {
                (false, _) => vec![false],
                (true, 0) => vec![false, true],
                (true, _) => vec![true, false],
            };
            for is_janus in order {
                let (name, server) = if is_janus {
                    ("janus", start_janus()?)
                } else {
                    ("gateway", start_gateway(gateway_bin)?)
                };
                let run = measure(&server, p, simulcast, media, args)
                    .await
                    .with_context(|| {
                        format!("{name} conference (simulcast {simulcast}) run {}", r + 1)
                    })?;
                eprintln!(
                    "{name:>8} conference P={p} simulcast={simulcast} run {}: {:.3} cores, {:.1} MB RSS, {} threads, {}/{} streams delivered, {:.1} video fps per stream",
                    r + 1,
                    run.cpu_cores,
                    run.rss_mb,
                    run.threads,
                    run.delivered,
                    run.expected,
                    run.video_fps
                );
                if is_janus {
                    janus.push(run)
                } else {
                    ours.push(run)
                }
                drop(server);
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
        let mode = if simulcast {
            "simulcast"
        } else {
            "single layer"
        };
        let o = medians(&ours);
        let j = with_janus.then(|| medians(&janus));
        report[if simulcast { "simulcast" } else { "single" }] = json!({
            "gateway": to_json(&o),
            "janus": j.as_ref().map(to_json),
            "ratio_cpu": j.as_ref().map(|j| o.cpu_cores / j.cpu_cores),
            "ratio_rss": j.as_ref().map(|j| o.rss_mb / j.rss_mb),
        });
        rows.push((mode, o, j));
    }
    println!(
        "\nconference, {p} participants (medians of {} runs)",
        args.repeats
    );
    println!(
        "{:>13} {:>8} {:>10} {:>9} {:>8} {:>10} {:>10} {:>10}",
        "mode", "server", "CPU cores", "RSS MB", "threads", "delivered", "video fps", "CPU ratio"
    );
    for (mode, o, j) in &rows {
        let line = |name: &str, r: &Run, ratio: String| {
            println!(
                "{mode:>13} {name:>8} {:>10.3} {:>9.1} {:>8} {:>10} {:>10.1} {ratio:>10}",
                r.cpu_cores,
                r.rss_mb,
                r.threads,
                format!("{}/{}", r.delivered, r.expected),
                r.video_fps
            );
        };
        let ratio = j.as_ref().map_or(String::new(), |j| {
            format!("{:.2}x", o.cpu_cores / j.cpu_cores)
        });
        line("gateway", o, ratio);
        if let Some(j) = j {
            line("janus", j, String::new());
        }
    }
    let path = args.json.with_file_name("bench-conference.json");
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&path, serde_json::to_string_pretty(&report)?)?;
    println!("\nJSON: {}", path.display());
    Ok(())
}

//! The MCU load (`--mcu`): P looped publishers into one 1280x720 mix,
//! non-decoding mix viewers, optionally a mix-minus per publisher.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context;
use gateway_testkit::janus::Handle;
use gateway_testkit::peer::{Receive, TestPeer};
use serde_json::json;

use super::Args;
use crate::media::{Media, publish_loop};
use crate::server::*;

/// One measured MCU point.
#[derive(Debug, Clone)]
struct McuPoint {
    publishers: usize,
    cpu_cores: f64,
    rss_mb: f64,
    mix_fps: f64,
    starved: usize,
}

/// P pre-encoded publishers into a 1280x720@30 H.264 mix (software encoder
/// on a machine without GPU), `subscribers` mix viewers that do not decode.
async fn measure_mcu(
    server: &Server,
    p: usize,
    subscribers: usize,
    media: &Arc<Media>,
    args: &Args,
) -> anyhow::Result<McuPoint> {
    let pid = server.child.id();
    let admin = videoroom_handle(&server.ws).await?;
    let room = json!(1_000 + rand_u32() % 100_000);
    let created = admin
        .sync(json!({"request": "create", "room": room, "publishers": 16, "videocodec": "h264", "audiocodec": "opus",
                     "mixing": "mcu", "mix_width": 1280, "mix_height": 720, "mix_fps": 30, "mix_videocodec": "h264"}))
        .await?;
    anyhow::ensure!(created["videoroom"] == "created", "create: {created}");
    let mut pubs = Vec::new();
    let mut listeners = Vec::new();
    for _ in 0..p {
        let h = videoroom_handle(&server.ws).await?;
        let (publisher, joined) = publish_loop(&h, &room, media, "bench", false).await?;
        if args.mix_minus {
            let hl = videoroom_handle(&server.ws).await?;
            let (peer, _) = TestPeer::subscribe_with(
                &hl,
                &room,
                json!([{"feed": 0, "mid": "mix-a"}]),
                json!({"private_id": joined["private_id"]}),
                Receive::Packets,
            )
            .await?;
            listeners.push((hl, peer));
        }
        pubs.push((h, publisher));
    }
    let mut subs = Vec::new();
    for _ in 0..subscribers {
        let h = videoroom_handle(&server.ws).await?;
        let (peer, _) = TestPeer::subscribe(&h, &room, json!([{"feed": 0}]), false).await?;
        subs.push((h, peer));
    }
    tokio::time::sleep(Duration::from_secs(args.warmup)).await;
    let frames = |subs: &[(Arc<Handle>, TestPeer)]| -> Vec<u64> {
        subs.iter()
            .map(|(_, p)| p.stats.video_rtp_frames.load(Ordering::Relaxed))
            .collect()
    };
    let f0 = frames(&subs);
    let w = measure_window(pid, args.window).await?;
    let secs = w.secs;
    let fps: Vec<f64> = f0
        .iter()
        .zip(frames(&subs))
        .map(|(a, b)| (b - a) as f64 / secs)
        .collect();
    let starved = fps.iter().filter(|f| **f < 1.0).count();
    drop(subs);
    drop(listeners);
    drop(pubs);
    let _ = admin
        .sync(json!({"request": "destroy", "room": room}))
        .await;
    Ok(McuPoint {
        publishers: p,
        cpu_cores: w.cpu_cores,
        rss_mb: w.rss_mb,
        mix_fps: median(&mut fps.clone()),
        starved,
    })
}

pub async fn run_mcu(
    gateway_bin: &PathBuf,
    counts: &[usize],
    media: &Arc<Media>,
    args: &Args,
) -> anyhow::Result<()> {
    let mut out = Vec::new();
    for &p in counts {
        let mut runs = Vec::new();
        for r in 0..args.repeats {
            let server = start_gateway(gateway_bin)?;
            // The encoder probe runs at start-up; let it finish before loading.
            tokio::time::sleep(Duration::from_secs(3)).await;
            let m = measure_mcu(&server, p, args.mcu_subscribers, media, args)
                .await
                .with_context(|| format!("MCU P={p} run {r}"))?;
            eprintln!(
                "     mcu P={p:>2} run {}: {:.3} cores, {:.1} MB RSS, mix {:.1} fps, {} starved",
                r + 1,
                m.cpu_cores,
                m.rss_mb,
                m.mix_fps,
                m.starved
            );
            runs.push(m);
            drop(server);
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let med = |f: fn(&McuPoint) -> f64| median(&mut runs.iter().map(f).collect::<Vec<_>>());
        out.push(McuPoint {
            publishers: p,
            cpu_cores: med(|m| m.cpu_cores),
            rss_mb: med(|m| m.rss_mb),
            mix_fps: med(|m| m.mix_fps),
            starved: runs.iter().map(|m| m.starved).max().unwrap_or(0),
        });
    }
    println!(
        "\nMCU: 1280x720@30 H.264 mix, {} subscribers{} (medians)",
        args.mcu_subscribers,
        if args.mix_minus {
            ", every publisher listening to its mix-minus"
        } else {
            ""
        }
    );
    println!(
        "{:>4} {:>10} {:>9} {:>9} {:>8}",
        "P", "CPU cores", "RSS MB", "mix fps", "starved"
    );
    for m in &out {
        println!(
            "{:>4} {:>10.3} {:>9.1} {:>9.1} {:>8}",
            m.publishers, m.cpu_cores, m.rss_mb, m.mix_fps, m.starved
        );
    }
    let report = json!({
        "load": "P publishers H.264 640x360@30 ~1 Mbps + Opus into a 1280x720@30 H.264 mix",
        "subscribers": args.mcu_subscribers, "mix_minus": args.mix_minus, "window_s": args.window, "repeats": args.repeats,
        "points": out.iter().map(|m| json!({"publishers": m.publishers, "cpu_cores": m.cpu_cores, "rss_mb": m.rss_mb,
            "mix_fps": m.mix_fps, "starved": m.starved})).collect::<Vec<_>>(),
    });
    if let Some(dir) = args.json.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&args.json, serde_json::to_string_pretty(&report)?)?;
    println!("\nJSON: {}", args.json.display());
    Ok(())
}

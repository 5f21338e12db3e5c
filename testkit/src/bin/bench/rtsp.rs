//! The streaming figures (`--rtsp`): RTSP camera → WebRTC viewers through a
//! pass-through mountpoint, ours and Janus's.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Context;
use gateway_testkit::janus::{Handle, Session};
use gateway_testkit::peer::{Receive, TestPeer};
use serde_json::{Value, json};

use super::Args;
use crate::server::*;

/// The RTSP test camera (`rtsp-test-server`), stopped by its pid on drop.
struct Camera {
    child: Child,
    url: String,
}

impl Drop for Camera {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_rtsp_camera(bin: &std::path::Path, gop: u32) -> anyhow::Result<Camera> {
    let mut child = Command::new(bin)
        .args(["--port", "0", "--gop", &gop.to_string(), "--audio", "opus"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let line = ready_line(&mut child, "rtsp-test-server")?;
    let url = line.trim_start_matches("READY").trim().to_owned();
    Ok(Camera { child, url })
}

async fn streaming_handle(ws: &str) -> anyhow::Result<Arc<Handle>> {
    let s = Session::connect_ws(ws).await?;
    Ok(Arc::new(s.attach("janus.plugin.streaming").await?))
}

/// One server's streaming figures.
struct RtspFigures {
    idle: f64,
    /// (viewers, CPU cores, RSS MB), medians.
    points: Vec<(usize, f64, f64)>,
    per_viewer: f64,
    first_with: Vec<f64>,
    first_without: Vec<f64>,
}

/// Measures one server (ours, or Janus with `janus`) against `cam`.
async fn measure_rtsp(
    server: &Server,
    cam: &str,
    counts: &[usize],
    args: &Args,
    janus: bool,
) -> anyhow::Result<RtspFigures> {
    let pid = server.child.id();
    let admin = streaming_handle(&server.ws).await?;
    for (id, cache) in [(1, true), (2, false)] {
        let mut create =
            json!({"request": "create", "type": "rtsp", "id": id, "url": cam, "bufferkf": cache});
        if janus {
            // Janus 1.1 takes RTSP streams as the legacy audio/video flags.
            create["audio"] = json!(true);
            create["video"] = json!(true);
            create["videobufferkf"] = json!(cache);
        }
        let r = admin.sync(create).await?;
        anyhow::ensure!(r["streaming"] == "created", "create: {r}");
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    // CPU per viewer (viewers count packets, decode nothing).
    let mut points = Vec::new();
    for &n in counts {
        let mut cpu = Vec::new();
        let mut rss = Vec::new();
        for _ in 0..args.repeats {
            let mut viewers = Vec::new();
            for _ in 0..n {
                let h = streaming_handle(&server.ws).await?;
                let v = TestPeer::watch(&h, 1, Receive::Packets).await?;
                viewers.push((h, v));
            }
            tokio::time::sleep(Duration::from_secs(args.warmup)).await;
            let w = measure_window(pid, args.window).await?;
            let starved = viewers
                .iter()
                .filter(|(_, v)| v.stats.video_packets.load(Ordering::Relaxed) == 0)
                .count();
            anyhow::ensure!(starved == 0, "{starved} of {n} viewers got no video");
            cpu.push(w.cpu_cores);
            rss.push(w.rss_mb);
            for (h, _) in &viewers {
                let _ = h
                    .call(json!({"request": "stop"}), None, Duration::from_secs(5))
                    .await;
            }
            drop(viewers);
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        points.push((n, median(&mut cpu), median(&mut rss)));
        eprintln!(
            "{n} viewers: {:.3} cores",
            points.last().map_or(0.0, |p| p.1)
        );
    }
    // Idle: the mountpoints with no viewer.
    let idle = measure_window(pid, args.window).await?.cpu_cores;
    // watch → first decoded frame, with and without the cache, joining at
    // varied points of the 4 s GOP.
    let mut first_with = Vec::new();
    let mut first_without = Vec::new();
    for i in 0..(args.repeats * 3) {
        for (id, out) in [(1u64, &mut first_with), (2u64, &mut first_without)] {
            tokio::time::sleep(Duration::from_millis(700 + (i as u64 * 1_300) % 2_900)).await;
            let h = streaming_handle(&server.ws).await?;
            let v = TestPeer::watch(&h, id, Receive::Decode).await?;
            let t = Instant::now();
            while v.time_to_first_video().is_none() && t.elapsed() < Duration::from_secs(10) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            if let Some(d) = v.time_to_first_video() {
                out.push(d.as_secs_f64() * 1000.0);
            }
            let _ = h
                .call(json!({"request": "stop"}), None, Duration::from_secs(5))
                .await;
        }
    }
    let per_viewer = slope(
        &points
            .iter()
            .map(|(n, c, _)| (*n as f64, *c))
            .collect::<Vec<_>>(),
    );
    Ok(RtspFigures {
        idle,
        points,
        per_viewer,
        first_with,
        first_without,
    })
}

fn rtsp_table(name: &str, f: &RtspFigures) -> Value {
    let (wc, wo) = (
        median(&mut f.first_with.clone()),
        median(&mut f.first_without.clone()),
    );
    println!(
        "\n{name}: RTSP (H.264 constrained baseline 320x240@30, GOP 4 s, + Opus) → WebRTC viewers, pass-through"
    );
    println!("{:>8} {:>12} {:>10}", "viewers", "CPU cores", "RSS MB");
    println!("{:>8} {:>12.3} {:>10}", 0, f.idle, "");
    for (n, c, r) in &f.points {
        println!("{n:>8} {c:>12.3} {r:>10.0}");
    }
    println!("CPU per viewer (slope): {:.4} cores", f.per_viewer);
    println!(
        "watch → first frame (median of {}): with keyframe cache {wc:.0} ms, without {wo:.0} ms",
        f.first_with.len()
    );
    json!({
        "idle_cores": f.idle,
        "points": f.points.iter().map(|(n, c, r)| json!({"viewers": n, "cpu_cores": c, "rss_mb": r})).collect::<Vec<_>>(),
        "cpu_per_viewer": f.per_viewer,
        "first_frame_ms": {"with_cache": f.first_with, "without_cache": f.first_without, "median_with": wc, "median_without": wo},
    })
}

/// The streaming figures (see `--rtsp`), and Janus's with `--against-janus`.
pub async fn run_rtsp(gateway_bin: &PathBuf, counts: &[usize], args: &Args) -> anyhow::Result<()> {
    let cam_bin = gateway_bin
        .parent()
        .context("exe dir")?
        .join("rtsp-test-server");
    let cam = start_rtsp_camera(&cam_bin, 4)?;
    let ours = {
        let server = start_gateway(gateway_bin)?;
        measure_rtsp(&server, &cam.url, counts, args, false).await?
    };
    let mut report = json!({
        "load": "RTSP H.264 CB 320x240@30 GOP 4 s + Opus, pass-through, non-decoding viewers",
        "window_s": args.window, "repeats": args.repeats,
        "gateway": rtsp_table("webrtc-gateway", &ours),
    });
    if args.against_janus {
        if which("janus") {
            let server = start_janus()?;
            let janus = measure_rtsp(&server, &cam.url, counts, args, true).await?;
            report["janus"] = rtsp_table("Janus", &janus);
            let ratio = ours.per_viewer / janus.per_viewer;
            println!("\nratio ours/Janus: CPU per viewer {ratio:.2}x");
            report["ratio_cpu_per_viewer"] = json!(ratio);
        } else {
            eprintln!("--against-janus: janus is not installed (apt-get install janus); skipping");
        }
    }
    let path = args.json.with_file_name("bench-rtsp.json");
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&path, serde_json::to_string_pretty(&report)?)?;
    println!("JSON: {}", path.display());
    Ok(())
}

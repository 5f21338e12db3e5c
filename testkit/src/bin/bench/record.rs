//! The recording figures (`--record`): CPU cost of recording under the SFU
//! load, and stop → playable MP4 against Janus's post-processing.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::json;

use super::Args;
use crate::media::{Media, publish_loop};
use crate::server::*;

/// The recording figures (see `--record`).
pub async fn run_record(
    gateway_bin: &PathBuf,
    media: &Arc<Media>,
    args: &Args,
) -> anyhow::Result<()> {
    let rec_dir = std::env::temp_dir().join(format!("gw-bench-rec-{}", std::process::id()));
    std::fs::create_dir_all(&rec_dir)?;
    // 1. CPU: the same SFU load with and without recording the publisher.
    let mut cores = [Vec::new(), Vec::new()];
    for r in 0..args.repeats {
        for (i, record) in [false, true].into_iter().enumerate() {
            let server = start_gateway(gateway_bin)?;
            let p =
                crate::sfu::measure(&server, 4, media, args, record.then_some(rec_dir.as_path()))
                    .await
                    .with_context(|| format!("record={record} run {r}"))?;
            eprintln!(
                "  record={record:<5} run {}: {:.3} cores, {:.1} MB RSS",
                r + 1,
                p.cpu_cores,
                p.rss_mb
            );
            cores[i].push(p.cpu_cores);
            drop(server);
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    let (off, on) = (median(&mut cores[0]), median(&mut cores[1]));

    // 2. Stop to playable, ours: `configure record:false` until the file is listed.
    let server = start_gateway(gateway_bin)?;
    let admin = videoroom_handle(&server.ws).await?;
    let room = json!(1_000 + rand_u32() % 100_000);
    admin
        .sync(
            json!({"request": "create", "room": room, "videocodec": "h264", "audiocodec": "opus",
                     "rec_dir": rec_dir.display().to_string()}),
        )
        .await?;
    let ph = videoroom_handle(&server.ws).await?;
    let (publisher, _) = publish_loop(&ph, &room, media, "bench", false).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    ph.call(
        json!({"request": "configure", "record": true, "filename": "bench-call"}),
        None,
        Duration::from_secs(10),
    )
    .await?;
    eprintln!("recording a {} s call...", args.call);
    tokio::time::sleep(Duration::from_secs(args.call)).await;
    let t0 = Instant::now();
    ph.call(
        json!({"request": "configure", "record": false}),
        None,
        Duration::from_secs(10),
    )
    .await?;
    let ours_ms = loop {
        let r = admin
            .sync(json!({"request": "list_recordings", "room": room}))
            .await?;
        if r["recordings"].as_array().is_some_and(|a| !a.is_empty()) {
            break t0.elapsed().as_secs_f64() * 1000.0;
        }
        anyhow::ensure!(
            t0.elapsed() < Duration::from_secs(30),
            "recording never finalized"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let ours_file = rec_dir.join("bench-call.mp4");
    let ours_duration = ffprobe_duration(&ours_file);
    drop(publisher);
    drop(server);

    // 3. Janus: record the same call, then janus-pp-rec (video, audio) and ffmpeg.
    let janus = if which("janus") && which("janus-pp-rec") && which("ffmpeg") {
        let jdir = rec_dir.join("janus");
        std::fs::create_dir_all(&jdir)?;
        let server = start_janus()?;
        let admin = videoroom_handle(&server.ws).await?;
        let room = json!(1_000 + rand_u32() % 100_000);
        admin
            .sync(json!({"request": "create", "room": room, "videocodec": "h264", "audiocodec": "opus",
                         "record": true, "rec_dir": jdir.display().to_string()}))
            .await?;
        let ph = videoroom_handle(&server.ws).await?;
        let (publisher, _) = publish_loop(&ph, &room, media, "bench", false).await?;
        eprintln!("Janus: recording a {} s call...", args.call);
        tokio::time::sleep(Duration::from_secs(args.call)).await;
        ph.call(json!({"request": "leave"}), None, Duration::from_secs(10))
            .await?;
        drop(publisher);
        tokio::time::sleep(Duration::from_secs(1)).await;
        drop(server);
        let find = |kind: &str| {
            std::fs::read_dir(&jdir).ok().and_then(|d| {
                d.filter_map(|e| e.ok().map(|e| e.path())).find(|p| {
                    p.to_string_lossy().contains(kind) && p.extension().is_some_and(|e| e == "mjr")
                })
            })
        };
        let (v, a) = (
            find("-video-").context("janus video .mjr")?,
            find("-audio-").context("janus audio .mjr")?,
        );
        let (vo, ao, out) = (
            jdir.join("v.mp4"),
            jdir.join("a.opus"),
            jdir.join("janus.mp4"),
        );
        let t0 = Instant::now();
        let ok = |c: &mut Command| {
            c.stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .map(|s| s.success())
                .unwrap_or(false)
        };
        anyhow::ensure!(
            ok(Command::new("janus-pp-rec").arg(&v).arg(&vo)),
            "janus-pp-rec video"
        );
        anyhow::ensure!(
            ok(Command::new("janus-pp-rec").arg(&a).arg(&ao)),
            "janus-pp-rec audio"
        );
        anyhow::ensure!(
            ok(Command::new("ffmpeg")
                .args(["-y", "-nostdin", "-v", "error", "-i"])
                .arg(&vo)
                .arg("-i")
                .arg(&ao)
                .args(["-c:v", "copy", "-c:a", "aac"])
                .arg(&out)),
            "ffmpeg mux"
        );
        Some((t0.elapsed().as_secs_f64() * 1000.0, ffprobe_duration(&out)))
    } else {
        eprintln!(
            "Janus, janus-pp-rec (apt-get install janus janus-tools) or ffmpeg missing: ours only"
        );
        None
    };

    println!(
        "\nRecording (H.264 + Opus publisher, 4 subscribers, medians of {})",
        args.repeats
    );
    println!("  CPU without recording: {off:.3} cores");
    println!(
        "  CPU with recording:    {on:.3} cores  (+{:.3} cores to record)",
        on - off
    );
    println!("\nStop to playable MP4, {} s call:", args.call);
    println!("  ours:  {ours_ms:>8.0} ms  (file {ours_duration:.1} s, written while the call ran)");
    if let Some((ms, d)) = janus {
        println!(
            "  Janus: {ms:>8.0} ms  (janus-pp-rec x2 + ffmpeg; file {d:.1} s)  ratio {:.0}x",
            ms / ours_ms.max(1.0)
        );
    }
    let report = json!({
        "cpu_cores_without_recording": off, "cpu_cores_with_recording": on, "recording_cost_cores": on - off,
        "call_s": args.call, "ours_stop_to_playable_ms": ours_ms, "ours_file_s": ours_duration,
        "janus_stop_to_playable_ms": janus.map(|j| j.0), "janus_file_s": janus.map(|j| j.1),
        "repeats": args.repeats, "window_s": args.window,
    });
    let path = args.json.with_file_name("bench-record.json");
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&path, serde_json::to_string_pretty(&report)?)?;
    println!("\nJSON: {}", path.display());
    let _ = std::fs::remove_dir_all(&rec_dir);
    Ok(())
}

fn ffprobe_duration(path: &std::path::Path) -> f64 {
    Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(0.0)
}

//! P3, the late joiner (`--late-joiner`): time from a subscriber's `join`
//! to its first decoded video frame, for a publisher whose GOP is 2 s that
//! has been sending for a while.
//!
//! Three rooms side by side, sampled in alternation so machine noise falls
//! on all of them alike: ours with the keyframe cache (the default), ours
//! with `keyframe_cache: false`, and Janus's (no cache: it sends the
//! publisher a PLI). Two publishers per room kind:
//! - **pre-encoded**: H.264 looped from memory, deaf to PLI, as a camera or
//!   an encoder that rate-limits keyframe requests is; without a cache the
//!   subscriber waits for the next keyframe (up to 2 s);
//! - **live**: VP8 encoded in the client, which answers PLI with a keyframe
//!   (a browser does, unless it sent one very recently).

use std::sync::Arc;
use std::time::{Duration, Instant};

use gateway_testkit::janus::Handle;
use gateway_testkit::peer::{PublisherSpec, Receive, TestPeer, VideoCodec};
use serde_json::{Value, json};

use super::Args;
use crate::media::{Media, publish_loop};
use crate::server::{Server, median, rand_u32, videoroom_handle};

/// How long a sample may wait for its first frame before it counts as lost.
const FIRST_FRAME_WITHIN: Duration = Duration::from_secs(8);

/// One room under test and its publisher (kept alive while sampled).
struct Target {
    name: &'static str,
    ws: String,
    room: Value,
    feed: Value,
    samples: Vec<f64>,
    lost: usize,
    _keep: Box<dyn std::any::Any + Send>,
}

/// Creates a room (`extra` create fields) on `server` and publishes into it:
/// the pre-encoded loop (`live = false`) or a live VP8 encoder.
async fn target(
    name: &'static str,
    server: &Server,
    extra: Value,
    live: bool,
    media: &Arc<Media>,
) -> anyhow::Result<Target> {
    let admin = videoroom_handle(&server.ws).await?;
    let room = json!(1_000 + rand_u32() % 100_000);
    let mut create = json!({"request": "create", "room": room, "publishers": 4,
        "videocodec": if live { "vp8" } else { "h264" }, "audiocodec": "opus"});
    if let (Value::Object(c), Value::Object(e)) = (&mut create, extra) {
        c.extend(e);
    }
    let created = admin.sync(create).await?;
    anyhow::ensure!(created["videoroom"] == "created", "create: {created}");
    let ph = videoroom_handle(&server.ws).await?;
    let (keep, feed): (Box<dyn std::any::Any + Send>, Value) = if live {
        let spec = PublisherSpec {
            codec: VideoCodec::Vp8,
            width: 640,
            height: 360,
            gop: 60,
            ..PublisherSpec::default()
        };
        let (peer, joined) = TestPeer::publish(&ph, &room, "live", &spec).await?;
        (Box::new((admin, ph, peer)), joined["id"].clone())
    } else {
        let (publisher, joined) = publish_loop(&ph, &room, media, "bench", false).await?;
        (Box::new((admin, ph, publisher)), joined["id"].clone())
    };
    Ok(Target {
        name,
        ws: server.ws.clone(),
        room,
        feed,
        samples: Vec::new(),
        lost: 0,
        _keep: keep,
    })
}

/// One late subscriber: `join` → first decoded frame, ms (`None` if none
/// came within [`FIRST_FRAME_WITHIN`]). The subscriber leaves afterwards.
async fn sample(t: &Target) -> anyhow::Result<Option<f64>> {
    let h: Arc<Handle> = videoroom_handle(&t.ws).await?;
    let t0 = Instant::now();
    let (peer, _) = TestPeer::subscribe_with(
        &h,
        &t.room,
        json!([{"feed": t.feed}]),
        json!({}),
        Receive::Decode,
    )
    .await?;
    peer.wait_until(FIRST_FRAME_WITHIN, |s| s.frames() >= 1)
        .await;
    let first = *peer
        .stats
        .first_video
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let _ = h
        .call(json!({"request": "leave"}), None, Duration::from_secs(5))
        .await;
    drop(peer);
    Ok(first.map(|f| f.saturating_duration_since(t0).as_secs_f64() * 1000.0))
}

/// Runs P3 and prints the table and JSON (`bench-late.json` beside `--json`).
pub async fn run(
    gateway: &Server,
    janus: Option<&Server>,
    media: &Arc<Media>,
    args: &Args,
) -> anyhow::Result<()> {
    let mut report = json!({
        "measure": "P3: subscriber join → first decoded frame, late joiner, publisher GOP 2 s",
        "repeats": args.repeats,
    });
    for (kind, live) in [("pre-encoded", false), ("live", true)] {
        let mut targets = vec![
            target("ours, cache", gateway, json!({}), live, media).await?,
            target(
                "ours, no cache",
                gateway,
                json!({"keyframe_cache": false}),
                live,
                media,
            )
            .await?,
        ];
        if let Some(j) = janus {
            targets.push(target("Janus", j, json!({}), live, media).await?);
        }
        // Publishing for a while: the first keyframe is long gone.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let n = args.repeats * 4;
        for i in 0..n {
            // Join at random points of the 2 s GOP.
            tokio::time::sleep(Duration::from_millis(200 + u64::from(rand_u32() % 2_000))).await;
            // Alternate which room goes first.
            let k = targets.len();
            for j in 0..k {
                let t = &mut targets[(i + j) % k];
                match sample(t).await? {
                    Some(ms) => t.samples.push(ms),
                    None => t.lost += 1,
                }
            }
        }
        println!(
            "\nP3 late joiner, {kind} publisher ({}): join → first decoded frame, ms",
            if live {
                "VP8 640x360, encoded live, answers PLI"
            } else {
                "H.264 640x360 looped, ignores PLI"
            }
        );
        println!(
            "{:<16} {:>8} {:>8} {:>8} {:>6}",
            "room", "median", "min", "max", "lost"
        );
        let mut rows = serde_json::Map::new();
        let mut medians = Vec::new();
        for t in &targets {
            let mut s = t.samples.clone();
            let med = median(&mut s);
            let min = s.iter().cloned().fold(f64::NAN, f64::min);
            let max = s.iter().cloned().fold(f64::NAN, f64::max);
            println!(
                "{:<16} {med:>8.0} {min:>8.0} {max:>8.0} {:>6}",
                t.name, t.lost
            );
            medians.push(med);
            rows.insert(
                t.name.to_owned(),
                json!({"median_ms": med, "samples_ms": t.samples, "lost": t.lost}),
            );
        }
        if medians.len() == 3 {
            let (ours, nocache, janus) = (medians[0], medians[1], medians[2]);
            println!(
                "ratio ours (cache) / Janus: {:.2}x; ours without cache / Janus: {:.2}x (goal <= 0.5x)",
                ours / janus,
                nocache / janus
            );
            rows.insert("ratio_cache_vs_janus".into(), json!(ours / janus));
            rows.insert("ratio_nocache_vs_janus".into(), json!(nocache / janus));
        }
        report[kind] = Value::Object(rows);
    }
    let path = args.json.with_file_name("bench-late.json");
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&path, serde_json::to_string_pretty(&report)?)?;
    println!("JSON: {}", path.display());
    Ok(())
}

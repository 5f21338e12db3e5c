//! Churn: many cycles of session → attach → join → publish (real media
//! from a `webrtcbin` peer) → subscribe (a second peer receives it) →
//! leave → destroy, a few in parallel, against a running gateway. Every
//! `sample_every` cycles it reads the gateway's RSS, fds and threads, so a
//! leak shows as a trend (see [`Report::drift`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{Value, json};

use crate::fuzz::Resources;
use crate::janus::Session;
use crate::peer::{PublisherSpec, TestPeer};

/// How long one cycle's media may take to arrive.
const MEDIA_WITHIN: Duration = Duration::from_secs(15);

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// `ws://host:port`.
    pub ws: String,
    /// The gateway's pid (for the samples).
    pub pid: u32,
    /// Cycles in all.
    pub cycles: u64,
    /// Cycles running at once.
    pub parallel: usize,
    /// Cycles between two samples.
    pub sample_every: u64,
}

/// One reading.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// Cycles done when it was taken.
    pub cycles: u64,
    /// The gateway's resources then.
    pub resources: Resources,
}

/// What a run found.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Readings, the first before any cycle.
    pub samples: Vec<Sample>,
    /// Cycles that failed (with the first errors).
    pub failures: Vec<String>,
    /// Cycles done.
    pub cycles: u64,
    /// Wall time.
    pub elapsed: Duration,
}

impl Report {
    /// The largest relative growth of (RSS, fds, threads) between the
    /// first sample after warm-up (`skip` samples in) and any later one.
    pub fn drift(&self, skip: usize) -> (f64, f64, f64) {
        let Some(base) = self.samples.get(skip) else {
            return (0.0, 0.0, 0.0);
        };
        // Growth only: a leak grows; a figure that falls is not one.
        let rel = |a: u64, b: u64| {
            if a == 0 {
                0.0
            } else {
                (b as f64 - a as f64).max(0.0) / a as f64
            }
        };
        let mut out = (0.0f64, 0.0f64, 0.0f64);
        for s in &self.samples[skip..] {
            out.0 = out.0.max(rel(base.resources.rss_kb, s.resources.rss_kb));
            out.1 = out.1.max(rel(base.resources.fds, s.resources.fds));
            out.2 = out.2.max(rel(base.resources.threads, s.resources.threads));
        }
        out
    }

    /// A table of the samples.
    pub fn table(&self) -> String {
        let mut t = String::from("cycles  rss_kB   fds  threads\n");
        for s in &self.samples {
            t.push_str(&format!(
                "{:>6} {:>8} {:>5} {:>8}\n",
                s.cycles, s.resources.rss_kb, s.resources.fds, s.resources.threads
            ));
        }
        t
    }

    /// The figures as JSON.
    pub fn to_json(&self) -> Value {
        json!({
            "cycles": self.cycles,
            "elapsed_s": self.elapsed.as_secs_f64(),
            "failures": self.failures,
            "samples": self.samples.iter().map(|s| json!({
                "cycles": s.cycles, "rss_kb": s.resources.rss_kb,
                "fds": s.resources.fds, "threads": s.resources.threads,
            })).collect::<Vec<_>>(),
        })
    }
}

/// One cycle in `room`.
async fn cycle(ws: &str, room: &Value, n: u64) -> anyhow::Result<()> {
    let ps = Session::connect_ws(ws).await?;
    let ph = Arc::new(ps.attach("janus.plugin.videoroom").await?);
    let spec = PublisherSpec::default();
    let (publisher, joined) = TestPeer::publish(&ph, room, &format!("churn-{n}"), &spec)
        .await
        .context("publish")?;
    let ss = Session::connect_ws(ws).await?;
    let sh = Arc::new(ss.attach("janus.plugin.videoroom").await?);
    let (viewer, _) = TestPeer::subscribe(&sh, room, json!([{"feed": joined["id"]}]), false)
        .await
        .context("subscribe")?;
    anyhow::ensure!(
        viewer
            .wait_until(MEDIA_WITHIN, |s| s.video_packets.load(Ordering::Relaxed)
                >= 20)
            .await,
        "no media at the subscriber"
    );
    let _ = ph.message(json!({"request": "leave"}), None).await;
    drop((viewer, publisher));
    ss.destroy().await?;
    ps.destroy().await?;
    Ok(())
}

/// Runs the churn: one room made for it, `cycles` cycles, `parallel` at once.
pub async fn run(opts: Options) -> anyhow::Result<Report> {
    let owner = Session::connect_ws(&opts.ws).await?;
    let admin = owner.attach("janus.plugin.videoroom").await?;
    let created = admin
        .sync(json!({"request": "create", "publishers": 64, "videocodec": "vp8", "audiocodec": "opus"}))
        .await?;
    let room = created["room"].clone();
    anyhow::ensure!(!room.is_null(), "room not created: {created}");
    let mut report = Report {
        samples: vec![Sample {
            cycles: 0,
            resources: Resources::of(opts.pid),
        }],
        ..Report::default()
    };
    let started = Instant::now();
    let done = Arc::new(AtomicU64::new(0));
    let next = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(std::sync::Mutex::new(Vec::new()));
    // Rounds of `sample_every` cycles, `parallel` at a time; each sample is
    // taken between rounds, with nothing in flight, so it reads what stays.
    let every = opts.sample_every.max(1);
    let mut round_end = 0;
    while round_end < opts.cycles {
        round_end = (round_end + every).min(opts.cycles);
        let workers: Vec<_> = (0..opts.parallel.max(1))
            .map(|_| {
                let (ws, room, done, next, failures) = (
                    opts.ws.clone(),
                    room.clone(),
                    done.clone(),
                    next.clone(),
                    failures.clone(),
                );
                tokio::spawn(async move {
                    loop {
                        let n = next.fetch_add(1, Ordering::Relaxed);
                        if n >= round_end {
                            next.fetch_sub(1, Ordering::Relaxed);
                            break;
                        }
                        if let Err(e) = cycle(&ws, &room, n).await {
                            let mut f = failures.lock().unwrap_or_else(|e| e.into_inner());
                            if f.len() < 20 {
                                f.push(format!("cycle {n}: {e:#}"));
                            }
                        }
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for w in workers {
            w.await.context("churn worker")?;
        }
        // Elements leave the pipeline off the room task: let them go.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let d = done.load(Ordering::Relaxed);
        report.samples.push(Sample {
            cycles: d,
            resources: Resources::of(opts.pid),
        });
        eprintln!(
            "churn: {d} cycles, {:?}",
            report.samples.last().map(|s| s.resources)
        );
    }
    report.cycles = done.load(Ordering::Relaxed);
    report.elapsed = started.elapsed();
    let _ = admin
        .sync(json!({"request": "destroy", "room": room}))
        .await;
    let _ = owner.destroy().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    report.samples.push(Sample {
        cycles: report.cycles,
        resources: Resources::of(opts.pid),
    });
    report.failures = failures.lock().unwrap_or_else(|e| e.into_inner()).clone();
    Ok(report)
}

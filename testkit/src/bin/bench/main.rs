//! `webrtc-gateway-bench`: SFU fan-out cost of the gateway, and of Janus
//! under the same load (`--against-janus`).
//!
//! Load: one publisher sending pre-encoded H.264 constrained baseline
//! 640x360 at 30 fps (~1 Mbps) plus Opus, read into memory once and looped
//! through `appsrc` (the client encodes nothing), and N subscribers that do
//! not decode. For each N a fresh server process is measured over a window:
//! CPU in cores (utime+stime from `/proc/<pid>/stat`), RSS, packets/s per
//! subscriber, and subscribers that got nothing. CPU and RSS per subscriber
//! are the least-squares slopes over N. Runs repeat and report medians.

mod late;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// The gateway's repository (this crate is `testkit/` in it).
const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
use clap::Parser;
use gateway_testkit::janus::{Handle, Session};
use gateway_testkit::latency::{PacketTimes, quantile};
use gateway_testkit::peer::{Receive, TestPeer, wait_playing};
use gst::prelude::*;
use serde_json::{Value, json};

#[derive(Parser, Debug)]
#[command(about = "SFU fan-out benchmark: this gateway, and Janus with --against-janus")]
struct Args {
    /// Subscriber counts to measure.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4,8,16")]
    subscribers: Vec<usize>,
    /// Measurement window per point, seconds.
    #[arg(long, default_value_t = 20)]
    window: u64,
    /// Warm-up after the last subscriber started, seconds.
    #[arg(long, default_value_t = 4)]
    warmup: u64,
    /// Repetitions; the table shows medians.
    #[arg(long, default_value_t = 3)]
    repeats: usize,
    /// Also run the same load against Janus (Debian package `janus`).
    #[arg(long)]
    against_janus: bool,
    /// Where to write the JSON results.
    #[arg(long, default_value = "target/bench-sfu.json")]
    json: PathBuf,
    /// The gateway binary (default: next to this one).
    #[arg(long)]
    gateway: Option<PathBuf>,
    /// Run the MCU load instead: these publisher counts into one mix.
    #[arg(long, value_delimiter = ',')]
    mcu: Option<Vec<usize>>,
    /// Run the recording figures instead: the CPU cost of recording one
    /// publisher under the SFU load (4 subscribers), and the time from stop
    /// to a playable file for a `--call`-second call, ours and Janus's
    /// post-processing (janus-pp-rec twice, then ffmpeg) when installed.
    #[arg(long)]
    record: bool,
    /// Length of the recorded call for the stop-to-playable figure, seconds.
    #[arg(long, default_value_t = 60)]
    call: u64,
    /// Mix subscribers in the MCU load.
    #[arg(long, default_value_t = 4)]
    mcu_subscribers: usize,
    /// In the MCU load, every publisher also listens to the mix audio with
    /// its private_id: one mix-minus (an `audiomixer` and an Opus encoder)
    /// per publisher, P-1 inputs each.
    #[arg(long)]
    mix_minus: bool,
    /// Run the streaming figures instead: CPU per RTSP→WebRTC viewer of a
    /// pass-through H.264 mountpoint for these viewer counts, and the time
    /// from `watch` to the first decoded frame with and without the
    /// keyframe cache (camera GOP 4 s).
    #[arg(long, value_delimiter = ',')]
    rtsp: Option<Vec<usize>>,
    /// Run P3 instead: a late subscriber's `join` → first decoded frame for
    /// a 2 s-GOP publisher (pre-encoded and deaf to PLI, then live and
    /// answering PLI), ours with and without the keyframe cache, and Janus's
    /// with `--against-janus`; `--repeats` × 4 samples per room.
    #[arg(long)]
    late_joiner: bool,
}

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
        let (publisher, joined) = publish_loop(&h, &room, media).await?;
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

async fn run_mcu(
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

/// One measured point.
#[derive(Debug, Clone)]
struct Point {
    n: usize,
    cpu_cores: f64,
    rss_mb: f64,
    video_pps: f64,
    audio_pps: f64,
    starved: usize,
    /// Added forwarding latency, publisher socket to subscriber socket, over
    /// every subscriber's packets in the window: median and p99, ms.
    lat_median_ms: f64,
    lat_p99_ms: f64,
}

/// Pre-encoded media held in memory: (pts, duration, bytes) per unit.
struct Media {
    video: Vec<(u64, u64, gst::Buffer)>,
    audio: Vec<(u64, u64, gst::Buffer)>,
    length_ns: u64,
}

/// Encodes `secs` seconds of test media once, into memory.
fn encode_media(secs: u32) -> anyhow::Result<Media> {
    let collect = |launch: &str| -> anyhow::Result<Vec<(u64, u64, gst::Buffer)>> {
        let p = gst::parse::launch(launch)?
            .downcast::<gst::Pipeline>()
            .map_err(|_| anyhow::anyhow!("pipeline"))?;
        let sink = p
            .by_name("out")
            .context("appsink")?
            .downcast::<gst_app::AppSink>()
            .map_err(|_| anyhow::anyhow!("appsink"))?;
        p.set_state(gst::State::Playing)?;
        let mut out = Vec::new();
        while let Ok(s) = sink.pull_sample() {
            if let Some(b) = s.buffer_owned() {
                out.push((
                    b.pts().map_or(0, |t| t.nseconds()),
                    b.duration().map_or(0, |t| t.nseconds()),
                    b,
                ));
            }
        }
        p.set_state(gst::State::Null)?;
        // Encoders may offset timestamps (x264enc, opusenc lookahead): start at 0.
        let first = out.first().map_or(0, |(pts, _, _)| *pts);
        for item in &mut out {
            item.0 -= first.min(item.0);
        }
        Ok(out)
    };
    let frames = secs * 30;
    let video = collect(&format!(
        "videotestsrc num-buffers={frames} pattern=smpte horizontal-speed=4 ! video/x-raw,width=640,height=360,framerate=30/1,format=I420 ! \
         x264enc bitrate=1000 pass=cbr tune=zerolatency speed-preset=veryfast key-int-max=60 bframes=0 option-string=scenecut=0 ! \
         video/x-h264,profile=constrained-baseline,stream-format=byte-stream,alignment=au ! h264parse config-interval=-1 ! appsink name=out sync=false"
    ))?;
    let audio = collect(&format!(
        "audiotestsrc num-buffers={} samplesperbuffer=960 freq=440 ! audio/x-raw,rate=48000,channels=2 ! opusenc frame-size=20 ! appsink name=out sync=false",
        secs * 50
    ))?;
    Ok(Media {
        video,
        audio,
        length_ns: u64::from(secs) * 1_000_000_000,
    })
}

/// A publisher that loops pre-encoded media: `appsrc → payloader → webrtcbin`.
struct LoopPublisher {
    /// Kept alive for the measurement.
    #[allow(dead_code)]
    peer: TestPeer,
    stop: Arc<std::sync::atomic::AtomicBool>,
    feeder: Option<std::thread::JoinHandle<()>>,
}

impl Drop for LoopPublisher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(f) = self.feeder.take() {
            let _ = f.join();
        }
    }
}

async fn publish_loop(
    handle: &Arc<Handle>,
    room: &Value,
    media: &Arc<Media>,
) -> anyhow::Result<(LoopPublisher, Value)> {
    let launch = "webrtcbin name=w \
        appsrc name=v is-live=true format=time do-timestamp=false caps=video/x-h264,stream-format=byte-stream,alignment=au,profile=constrained-baseline \
          ! h264parse ! rtph264pay pt=96 config-interval=-1 aggregate-mode=zero-latency mtu=1200 \
          ! application/x-rtp,media=video,encoding-name=H264,payload=96,packetization-mode=(string)1 ! w. \
        appsrc name=a is-live=true format=time do-timestamp=false caps=audio/x-opus,rate=48000,channels=2,channel-mapping-family=0 \
          ! rtpopuspay pt=111 ! application/x-rtp,media=audio,encoding-name=OPUS,payload=111 ! w.";
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (peer, joined, feeder) =
        TestPeer::publish_launch(handle, room, "bench", launch, 2, |pipeline| {
            let v = pipeline
                .by_name("v")
                .and_then(|e| e.downcast::<gst_app::AppSrc>().ok());
            let a = pipeline
                .by_name("a")
                .and_then(|e| e.downcast::<gst_app::AppSrc>().ok());
            let (media, stop) = (media.clone(), stop.clone());
            let feeder = std::thread::spawn(move || {
                let (Some(v), Some(a)) = (v, a) else { return };
                if !wait_playing(&[&v, &a], &stop, Duration::from_secs(10)) {
                    eprintln!(
                        "bench feeder: appsrc never reached PLAYING ({:?})",
                        v.current_state()
                    );
                    return;
                }
                let start = Instant::now();
                let mut lap = 0u64;
                // Merge both tracks in time order, lap after lap.
                while !stop.load(Ordering::Relaxed) {
                    let mut vi = media.video.iter().peekable();
                    let mut ai = media.audio.iter().peekable();
                    loop {
                        let next_v = vi.peek().map(|x| x.0);
                        let next_a = ai.peek().map(|x| x.0);
                        let (src, item) = match (next_v, next_a) {
                            (None, None) => break,
                            (Some(tv), Some(ta)) if tv <= ta => (&v, vi.next()),
                            (Some(_), None) => (&v, vi.next()),
                            _ => (&a, ai.next()),
                        };
                        let Some((pts, dur, buf)) = item else { break };
                        let at = lap * media.length_ns + pts;
                        let due = start + Duration::from_nanos(at);
                        let now = Instant::now();
                        if due > now {
                            std::thread::sleep(due - now);
                        }
                        if stop.load(Ordering::Relaxed) {
                            return;
                        }
                        let mut b = buf.copy();
                        {
                            let bm = b.make_mut();
                            bm.set_pts(gst::ClockTime::from_nseconds(at));
                            bm.set_dts(gst::ClockTime::from_nseconds(at));
                            bm.set_duration(gst::ClockTime::from_nseconds(*dur));
                        }
                        if let Err(e) = src.push_buffer(b) {
                            eprintln!("bench feeder stops: {e:?}");
                            return;
                        }
                    }
                    lap += 1;
                }
            });
            Some(feeder)
        })
        .await?;
    Ok((LoopPublisher { peer, stop, feeder }, joined))
}

/// A server under test.
struct Server {
    child: Child,
    ws: String,
    _dir: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self._dir);
    }
}

/// A videoroom handle on a new WebSocket session.
async fn videoroom_handle(ws: &str) -> anyhow::Result<Arc<Handle>> {
    Ok(Arc::new(
        Session::connect_ws(ws)
            .await?
            .attach("janus.plugin.videoroom")
            .await?,
    ))
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn start_gateway(bin: &PathBuf) -> anyhow::Result<Server> {
    use std::io::{BufRead, BufReader};
    let dir = std::env::temp_dir().join(format!("gw-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let cfg = dir.join("gateway.toml");
    std::fs::write(
        &cfg,
        format!(
            "[rtsp]\nenabled = false\n[http]\nport = 0\ndemo_dir = \"\"\nadmin_port = 0\n[websockets]\nws_port = 0\nadmin_ws_port = 0\n[nat]\nice_enforce_list = [\"127.0.0.1\"]\n[media]\nrtp_port_range = \"\"\n[encoder]\ncatalog = \"{}/pipelines/encoders.toml\"\n",
            REPO
        ),
    )?;
    let mut child = Command::new(bin)
        .arg("--config")
        .arg(&cfg)
        .env("GATEWAY_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let stdout = child.stdout.take().context("stdout")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.starts_with("READY") {
                let _ = tx.send(line);
            }
        }
    });
    let line = match rx.recv_timeout(Duration::from_secs(20)) {
        Ok(l) => l,
        Err(_) => {
            let _ = child.kill();
            bail!("gateway did not start");
        }
    };
    let ws = line
        .split_whitespace()
        .find_map(|f| f.strip_prefix("ws="))
        .context("READY line")?
        .to_owned();
    Ok(Server {
        child,
        ws: format!("ws://{ws}"),
        _dir: dir,
    })
}

fn start_janus() -> anyhow::Result<Server> {
    let dir = std::env::temp_dir().join(format!("janus-bench-{}", std::process::id()));
    let (http, ws) = (free_port()?, free_port()?);
    let script = PathBuf::from(REPO).join("tests/janus/run-janus.sh");
    let child = Command::new(script)
        .arg(&dir)
        .arg(http.to_string())
        .arg(ws.to_string())
        .env("JANUS_DEBUG_LEVEL", "2")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting janus")?;
    let url = format!("ws://127.0.0.1:{ws}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", ws)).is_err() {
        if Instant::now() > deadline {
            bail!("janus did not start");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(Server {
        child,
        ws: url,
        _dir: dir,
    })
}

/// What a server process used over one measurement window.
struct Window {
    /// Average CPU, in cores.
    cpu_cores: f64,
    /// Median RSS over per-second samples, MB.
    rss_mb: f64,
    /// The window's real length, s.
    secs: f64,
}

/// Samples `pid` for `window_s` seconds: CPU from utime+stime, RSS each second.
async fn measure_window(pid: u32, window_s: u64) -> anyhow::Result<Window> {
    let (cpu0, _) = proc_usage(pid)?;
    let t0 = Instant::now();
    let mut rss_samples = Vec::new();
    while t0.elapsed() < Duration::from_secs(window_s) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        rss_samples.push(proc_usage(pid)?.1);
    }
    let (cpu1, _) = proc_usage(pid)?;
    let secs = t0.elapsed().as_secs_f64();
    Ok(Window {
        cpu_cores: (cpu1 - cpu0) / secs,
        rss_mb: median(&mut rss_samples),
        secs,
    })
}

/// (utime + stime) in seconds and RSS in MB of `pid`.
fn proc_usage(pid: u32) -> anyhow::Result<(f64, f64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the parenthesised command name; utime and stime are 14 and 15.
    let rest = stat.rsplit_once(')').context("stat format")?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f[11].parse::<f64>()? + f[12].parse::<f64>()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc_sysconf_clk_tck() } as f64;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let rss_kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    Ok((ticks / hz, rss_kb / 1024.0))
}

unsafe extern "C" {
    fn sysconf(name: i32) -> i64;
}

/// `sysconf(_SC_CLK_TCK)`; `_SC_CLK_TCK` is 2 on Linux.
unsafe fn libc_sysconf_clk_tck() -> i64 {
    // SAFETY: the caller upholds nothing; sysconf is always safe to call.
    let v = unsafe { sysconf(2) };
    if v > 0 { v } else { 100 }
}

async fn measure(
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
    let (publisher, joined) = publish_loop(&ph, &room, media).await?;
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
    let c0 = count(&subs);
    let w = measure_window(pid, args.window).await?;
    let secs = w.secs;
    let c1 = count(&subs);
    let per: Vec<(f64, f64)> = c0
        .iter()
        .zip(&c1)
        .map(|(a, b)| ((b.0 - a.0) as f64 / secs, (b.1 - a.1) as f64 / secs))
        .collect();
    let starved = per.iter().filter(|(v, a)| *v < 1.0 || *a < 1.0).count();
    let mut lat: Vec<Duration> = received
        .iter()
        .flat_map(|r| sent.latencies_since(r, Some(window_start)))
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
        video_pps: per.iter().map(|p| p.0).sum::<f64>() / n.max(1) as f64,
        audio_pps: per.iter().map(|p| p.1).sum::<f64>() / n.max(1) as f64,
        starved,
        lat_median_ms,
        lat_p99_ms,
    })
}

fn rand_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(Instant::now().elapsed().as_nanos());
    h.finish() as u32
}

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

/// Least-squares slope of y over x.
fn slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    if n < 2.0 {
        return f64::NAN;
    }
    let (sx, sy) = points
        .iter()
        .fold((0.0, 0.0), |(a, b), (x, y)| (a + x, b + y));
    let (mx, my) = (sx / n, sy / n);
    let num: f64 = points.iter().map(|(x, y)| (x - mx) * (y - my)).sum();
    let den: f64 = points.iter().map(|(x, _)| (x - mx) * (x - mx)).sum();
    num / den
}

/// Runs every N `repeats` times against servers from `start`; returns the
/// per-N medians.
async fn run_series(
    name: &str,
    start: &dyn Fn() -> anyhow::Result<Server>,
    media: &Arc<Media>,
    args: &Args,
) -> anyhow::Result<Vec<Point>> {
    let mut out = Vec::new();
    for &n in &args.subscribers {
        let mut runs = Vec::new();
        for r in 0..args.repeats {
            let server = start()?;
            let p = measure(&server, n, media, args, None)
                .await
                .with_context(|| format!("{name} N={n} run {r}"))?;
            eprintln!(
                "{name:>8} N={n:>2} run {}: {:.3} cores, {:.1} MB RSS, {:.0} video pkt/s, {:.0} audio pkt/s per subscriber, {} starved, latency {:.2} ms median / {:.2} ms p99",
                r + 1,
                p.cpu_cores,
                p.rss_mb,
                p.video_pps,
                p.audio_pps,
                p.starved,
                p.lat_median_ms,
                p.lat_p99_ms
            );
            runs.push(p);
            drop(server);
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let med = |f: fn(&Point) -> f64| median(&mut runs.iter().map(f).collect::<Vec<_>>());
        out.push(Point {
            n,
            cpu_cores: med(|p| p.cpu_cores),
            rss_mb: med(|p| p.rss_mb),
            video_pps: med(|p| p.video_pps),
            audio_pps: med(|p| p.audio_pps),
            starved: runs.iter().map(|p| p.starved).max().unwrap_or(0),
            lat_median_ms: med(|p| p.lat_median_ms),
            lat_p99_ms: med(|p| p.lat_p99_ms),
        });
    }
    Ok(out)
}

fn fit(points: &[Point]) -> (f64, f64) {
    let cpu: Vec<(f64, f64)> = points.iter().map(|p| (p.n as f64, p.cpu_cores)).collect();
    let rss: Vec<(f64, f64)> = points.iter().map(|p| (p.n as f64, p.rss_mb)).collect();
    (slope(&cpu), slope(&rss))
}

fn table(name: &str, points: &[Point]) {
    println!("\n{name}");
    println!(
        "{:>4} {:>10} {:>9} {:>14} {:>14} {:>8} {:>11} {:>9}",
        "N",
        "CPU cores",
        "RSS MB",
        "video pkt/s",
        "audio pkt/s",
        "starved",
        "lat med ms",
        "lat p99"
    );
    for p in points {
        println!(
            "{:>4} {:>10.3} {:>9.1} {:>14.1} {:>14.1} {:>8} {:>11.2} {:>9.2}",
            p.n,
            p.cpu_cores,
            p.rss_mb,
            p.video_pps,
            p.audio_pps,
            p.starved,
            p.lat_median_ms,
            p.lat_p99_ms
        );
    }
    let (c, r) = fit(points);
    println!("per subscriber (fitted slope): {c:.4} cores, {r:.2} MB RSS");
}

fn to_json(points: &[Point]) -> Value {
    let (c, r) = fit(points);
    json!({
        "points": points.iter().map(|p| json!({
            "subscribers": p.n, "cpu_cores": p.cpu_cores, "rss_mb": p.rss_mb,
            "video_pkts_per_s": p.video_pps, "audio_pkts_per_s": p.audio_pps, "starved": p.starved,
            "latency_median_ms": p.lat_median_ms, "latency_p99_ms": p.lat_p99_ms,
        })).collect::<Vec<_>>(),
        "cpu_cores_per_subscriber": c,
        "rss_mb_per_subscriber": r,
    })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    gst::init()?;
    let gateway_bin = match &args.gateway {
        Some(p) => p.clone(),
        None => std::env::current_exe()?
            .parent()
            .context("exe dir")?
            .join("webrtc-gateway"),
    };
    anyhow::ensure!(
        gateway_bin.exists(),
        "gateway binary not found at {}",
        gateway_bin.display()
    );
    eprintln!("encoding 10 s of H.264 640x360@30 + Opus into memory...");
    let media = Arc::new(encode_media(10)?);
    let bytes: usize = media.video.iter().map(|(_, _, b)| b.size()).sum();
    eprintln!(
        "video: {} frames, {:.0} kbps",
        media.video.len(),
        bytes as f64 * 8.0 / 10.0 / 1000.0
    );

    if args.record {
        return run_record(&gateway_bin, &media, &args).await;
    }
    if args.late_joiner {
        let gateway = start_gateway(&gateway_bin)?;
        let janus = if args.against_janus && which("janus") {
            Some(start_janus()?)
        } else {
            if args.against_janus {
                eprintln!(
                    "--against-janus: janus is not installed (apt-get install janus); skipping"
                );
            }
            None
        };
        return late::run(&gateway, janus.as_ref(), &media, &args).await;
    }
    if let Some(counts) = &args.rtsp {
        return run_rtsp(&gateway_bin, counts, &args).await;
    }
    if let Some(counts) = &args.mcu {
        return run_mcu(&gateway_bin, counts, &media, &args).await;
    }
    let ours = run_series("gateway", &|| start_gateway(&gateway_bin), &media, &args).await?;
    table("webrtc-gateway (medians)", &ours);
    let mut report = json!({"load": "1 publisher H.264 640x360@30 ~1 Mbps + Opus, N non-decoding subscribers",
        "window_s": args.window, "repeats": args.repeats, "gateway": to_json(&ours)});

    let janus_installed = Command::new("sh")
        .arg("-c")
        .arg("command -v janus")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if args.against_janus && !janus_installed {
        eprintln!("--against-janus: janus is not installed (apt-get install janus); skipping");
    }
    if args.against_janus && janus_installed {
        let janus = run_series("janus", &start_janus, &media, &args).await?;
        table("Janus (medians)", &janus);
        let (oc, or) = fit(&ours);
        let (jc, jr) = fit(&janus);
        println!(
            "\nratio ours/Janus per subscriber: CPU {:.2}x, RSS {:.2}x",
            oc / jc,
            or / jr
        );
        // Packets are matched by SSRC and RTP timestamp, which Janus rewrites
        // per subscriber: its column stays empty (NaN) until a matching that
        // survives rewriting exists (payload hashes collide on repeated
        // frames: a still picture, a steady tone).
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
        report["ratio_cpu_per_subscriber"] = json!(oc / jc);
        report["ratio_rss_per_subscriber"] = json!(or / jr);
    }
    if let Some(dir) = args.json.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&args.json, serde_json::to_string_pretty(&report)?)?;
    println!("\nJSON: {}", args.json.display());
    Ok(())
}

/// The recording figures (see `--record`).
async fn run_record(gateway_bin: &PathBuf, media: &Arc<Media>, args: &Args) -> anyhow::Result<()> {
    let rec_dir = std::env::temp_dir().join(format!("gw-bench-rec-{}", std::process::id()));
    std::fs::create_dir_all(&rec_dir)?;
    // 1. CPU: the same SFU load with and without recording the publisher.
    let mut cores = [Vec::new(), Vec::new()];
    for r in 0..args.repeats {
        for (i, record) in [false, true].into_iter().enumerate() {
            let server = start_gateway(gateway_bin)?;
            let p = measure(&server, 4, media, args, record.then_some(rec_dir.as_path()))
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
    let (publisher, _) = publish_loop(&ph, &room, media).await?;
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
        let (publisher, _) = publish_loop(&ph, &room, media).await?;
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

fn which(cmd: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {cmd}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// `ffprobe`'s format duration (s), 0 when unreadable.
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
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(bin)
        .args(["--port", "0", "--gop", &gop.to_string(), "--audio", "opus"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let stdout = child.stdout.take().context("stdout")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(u) = line.strip_prefix("READY ") {
                let _ = tx.send(u.to_owned());
            }
        }
    });
    match rx.recv_timeout(Duration::from_secs(20)) {
        Ok(url) => Ok(Camera { child, url }),
        Err(_) => {
            let _ = child.kill();
            bail!("rtsp-test-server did not start")
        }
    }
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
async fn run_rtsp(gateway_bin: &PathBuf, counts: &[usize], args: &Args) -> anyhow::Result<()> {
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

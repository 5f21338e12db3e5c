//! The bench's publishers: pre-encoded media held in memory and looped
//! through `appsrc`s into a `webrtcbin`, so the client spends no CPU
//! encoding while the server is measured.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use gateway_testkit::janus::Handle;
use gateway_testkit::peer::{TestPeer, VideoCodec, wait_playing};
use gateway_testkit::simulcast::{LAYERS, add_mid_extension, add_rid_extension, simulcast_caps};
use gst::prelude::*;
use serde_json::Value;

/// One encoded track: (pts ns, duration ns, bytes) per access unit.
pub type Track = Vec<(u64, u64, gst::Buffer)>;

/// Pre-encoded media held in memory.
pub struct Media {
    /// H.264 constrained baseline 640x360 at 30 fps, ~1 Mbps, GOP 2 s.
    pub video: Track,
    /// Opus 48 kHz stereo, 20 ms frames.
    pub audio: Track,
    /// Simulcast layers of the same picture, lowest first (rids l, m, h:
    /// 160x90, 320x180, 640x360); empty unless asked for.
    pub layers: Vec<Track>,
    /// Length of one lap, ns.
    pub length_ns: u64,
}

fn collect(launch: &str) -> anyhow::Result<Track> {
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
}

fn h264(frames: u32, width: u32, height: u32, kbps: u32) -> anyhow::Result<Track> {
    collect(&format!(
        "videotestsrc num-buffers={frames} pattern=smpte horizontal-speed=4 ! videoscale ! video/x-raw,width={width},height={height},framerate=30/1,format=I420 ! \
         x264enc bitrate={kbps} pass=cbr tune=zerolatency speed-preset=veryfast key-int-max=60 bframes=0 option-string=scenecut=0 ! \
         video/x-h264,profile=constrained-baseline,stream-format=byte-stream,alignment=au ! h264parse config-interval=-1 ! appsink name=out sync=false"
    ))
}

/// Encodes `secs` seconds of test media once, into memory; with
/// `simulcast`, also the three layers.
pub fn encode_media(secs: u32, simulcast: bool) -> anyhow::Result<Media> {
    let frames = secs * 30;
    let video = h264(frames, 640, 360, 1000)?;
    let audio = collect(&format!(
        "audiotestsrc num-buffers={} samplesperbuffer=960 freq=440 ! audio/x-raw,rate=48000,channels=2 ! opusenc frame-size=20 ! appsink name=out sync=false",
        secs * 50
    ))?;
    let mut layers = Vec::new();
    if simulcast {
        for (i, (_, w, h)) in LAYERS.iter().enumerate() {
            // 150, 300, 1000 kbps: roughly what Chrome gives 720p/4, /2, /1.
            let kbps = [150, 300, 1000][i];
            layers.push(h264(frames, *w, *h, kbps)?);
        }
    }
    Ok(Media {
        video,
        audio,
        layers,
        length_ns: u64::from(secs) * 1_000_000_000,
    })
}

/// A publisher that loops pre-encoded media: `appsrc → payloader → webrtcbin`.
pub struct LoopPublisher {
    pub peer: TestPeer,
    stop: Arc<AtomicBool>,
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

/// Pushes `tracks` (appsrc, track) in time order, lap after lap, at their
/// timestamps, until `stop`.
fn feed(tracks: Vec<(gst_app::AppSrc, &Track)>, length_ns: u64, stop: &AtomicBool) {
    let srcs: Vec<&gst_app::AppSrc> = tracks.iter().map(|(s, _)| s).collect();
    if !wait_playing(&srcs, stop, Duration::from_secs(10)) {
        eprintln!("bench feeder: appsrc never reached PLAYING");
        return;
    }
    let start = Instant::now();
    let mut lap = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let mut next = vec![0usize; tracks.len()];
        loop {
            // The track whose next unit is earliest.
            let pick = (0..tracks.len())
                .filter(|&i| next[i] < tracks[i].1.len())
                .min_by_key(|&i| tracks[i].1[next[i]].0);
            let Some(i) = pick else { break };
            let (pts, dur, buf) = &tracks[i].1[next[i]];
            next[i] += 1;
            let at = lap * length_ns + pts;
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
            if let Err(e) = tracks[i].0.push_buffer(b) {
                eprintln!("bench feeder stops: {e:?}");
                return;
            }
        }
        lap += 1;
    }
}

const H264_CAPS: &str =
    "video/x-h264,stream-format=byte-stream,alignment=au,profile=constrained-baseline";
const OPUS_CAPS: &str = "audio/x-opus,rate=48000,channels=2,channel-mapping-family=0";
const AUDIO_CHAIN: &str = "appsrc name=a is-live=true format=time do-timestamp=false caps={OPUS} \
    ! rtpopuspay pt=111 ! application/x-rtp,media=audio,encoding-name=OPUS,payload=111 ! w.";

/// Joins `room` as `display` and publishes the looped H.264 + Opus; with
/// `simulcast`, the three layers as rids l/m/h on one m-line (the media
/// must hold them). Returns the publisher and the `joined` data.
pub async fn publish_loop(
    handle: &Arc<Handle>,
    room: &Value,
    media: &Arc<Media>,
    display: &str,
    simulcast: bool,
) -> anyhow::Result<(LoopPublisher, Value)> {
    let audio = AUDIO_CHAIN.replace("{OPUS}", OPUS_CAPS);
    let launch = if simulcast {
        anyhow::ensure!(media.layers.len() == LAYERS.len(), "no simulcast media");
        let mut l =
            String::from("webrtcbin name=w rtpfunnel name=funnel ! capsfilter name=simcaps ! w. ");
        for (i, (rid, _, _)) in LAYERS.iter().enumerate() {
            l += &format!(
                "appsrc name=v_{rid} is-live=true format=time do-timestamp=false caps={H264_CAPS} \
                 ! h264parse ! rtph264pay name=pay_{rid} pt=96 ssrc={} config-interval=-1 aggregate-mode=zero-latency mtu=1200 ! funnel.sink_{i} ",
                1000 + i
            );
        }
        l + &audio
    } else {
        format!(
            "webrtcbin name=w \
             appsrc name=v is-live=true format=time do-timestamp=false caps={H264_CAPS} \
             ! h264parse ! rtph264pay pt=96 config-interval=-1 aggregate-mode=zero-latency mtu=1200 \
             ! application/x-rtp,media=video,encoding-name=H264,payload=96,packetization-mode=(string)1 ! w. {audio}"
        )
    };
    let stop = Arc::new(AtomicBool::new(false));
    let (peer, joined, feeder) =
        TestPeer::publish_launch(handle, room, display, &launch, 2, |pipeline| {
            let appsrc = |name: &str| {
                pipeline
                    .by_name(name)
                    .and_then(|e| e.downcast::<gst_app::AppSrc>().ok())
            };
            let mut srcs = Vec::new();
            if simulcast {
                if let Some(f) = pipeline.by_name("simcaps") {
                    f.set_property("caps", simulcast_caps(VideoCodec::H264));
                }
                for (i, (rid, _, _)) in LAYERS.iter().enumerate() {
                    if let Some(pay) = pipeline.by_name(&format!("pay_{rid}")) {
                        add_rid_extension(&pay, rid);
                        // The video m-line comes first: webrtcbin names it video0.
                        add_mid_extension(&pay, "video0");
                    }
                    srcs.push((appsrc(&format!("v_{rid}"))?, i + 1));
                }
            } else {
                srcs.push((appsrc("v")?, 0));
            }
            srcs.push((appsrc("a")?, usize::MAX));
            let (media, stop) = (media.clone(), stop.clone());
            Some(std::thread::spawn(move || {
                let tracks = srcs
                    .into_iter()
                    .map(|(s, which)| {
                        let t = match which {
                            0 => &media.video,
                            usize::MAX => &media.audio,
                            i => &media.layers[i - 1],
                        };
                        (s, t)
                    })
                    .collect();
                feed(tracks, media.length_ns, &stop);
            }))
        })
        .await?;
    let feeder = feeder.context("publisher appsrcs missing")?;
    Ok((
        LoopPublisher {
            peer,
            stop,
            feeder: Some(feeder),
        },
        joined,
    ))
}

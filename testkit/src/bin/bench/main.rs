//! `webrtc-gateway-bench`: SFU fan-out cost of the gateway, and of Janus
//! under the same load (`--against-janus`).
//!
//! Load: one publisher sending pre-encoded H.264 constrained baseline
//! 640x360 at 30 fps (~1 Mbps) plus Opus, read into memory once and looped
//! through `appsrc` (the client encodes nothing), and N subscribers that do
//! not decode. For each N a fresh server process is measured over a window:
//! CPU in cores (utime+stime from `/proc/<pid>/stat`), RSS, packets/s per
//! subscriber, and subscribers that got nothing. CPU and RSS per subscriber
//! are the least-squares slopes over N. Runs repeat and report medians,
//! ours and Janus's alternating. Other loads: `--conference`, `--mcu`,
//! `--record`, `--rtsp`, `--late-joiner`.

mod conference;
mod late;
mod mcu;
mod media;
mod record;
mod rtsp;
mod server;
mod sfu;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;

/// The gateway's repository (this crate is `testkit/` in it).
const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

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
    /// Run the conference load instead: `--participants` participants, each
    /// publishing and subscribing to all the others, without and with
    /// simulcast; Janus's too with `--against-janus`.
    #[arg(long)]
    conference: bool,
    /// Participants in the conference load.
    #[arg(long, default_value_t = 6)]
    participants: usize,
    /// A `[media]` setting for the gateways the bench starts, as TOML
    /// (`--media-option "batch_send = false"`); repeatable.
    #[arg(long)]
    media_option: Vec<String>,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let _ = server::MEDIA_OPTIONS.set(args.media_option.clone());
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
    let media = Arc::new(media::encode_media(10, args.conference)?);
    let bytes: usize = media.video.iter().map(|(_, _, b)| b.size()).sum();
    eprintln!(
        "video: {} frames, {:.0} kbps",
        media.video.len(),
        bytes as f64 * 8.0 / 10.0 / 1000.0
    );

    if args.record {
        return record::run_record(&gateway_bin, &media, &args).await;
    }
    if args.late_joiner {
        let gateway = server::start_gateway(&gateway_bin)?;
        let janus = if server::janus_available(args.against_janus) {
            Some(server::start_janus()?)
        } else {
            None
        };
        return late::run(&gateway, janus.as_ref(), &media, &args).await;
    }
    if let Some(counts) = &args.rtsp {
        return rtsp::run_rtsp(&gateway_bin, counts, &args).await;
    }
    if args.conference {
        return conference::run(&gateway_bin, &media, &args).await;
    }
    if let Some(counts) = &args.mcu {
        return mcu::run_mcu(&gateway_bin, counts, &media, &args).await;
    }
    sfu::run(&gateway_bin, &media, &args).await
}

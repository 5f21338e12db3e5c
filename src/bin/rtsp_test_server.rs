//! A small RTSP server (gst-rtsp-server) with test streams, for the tests
//! and the bench: `rtsp-test-server --port 8554 --path /cam`.
//!
//! Serves live H.264 (a moving ball; constrained baseline, or `--profile
//! high` with B-frames) plus Opus or AAC (`--audio`), with a keyframe every
//! `--gop` seconds. One encode, shared by every client. Prints `READY
//! rtsp://127.0.0.1:<port><path>` once it listens.

use clap::Parser;
use gst_rtsp_server::prelude::*;

#[derive(Parser)]
struct Args {
    /// TCP port (0 picks a free one).
    #[arg(long, default_value_t = 8554)]
    port: u16,
    /// Mount path.
    #[arg(long, default_value = "/cam")]
    path: String,
    /// H.264 profile: `baseline` (constrained baseline, no B-frames) or
    /// `high` (with B-frames).
    #[arg(long, default_value = "baseline")]
    profile: String,
    /// Audio codec: `opus`, `aac` or `none`.
    #[arg(long, default_value = "opus")]
    audio: String,
    /// Seconds between keyframes.
    #[arg(long, default_value_t = 1)]
    gop: u32,
    /// videotestsrc pattern.
    #[arg(long, default_value = "ball")]
    pattern: String,
    /// RTP lower transports offered: `all`, `udp` (UDP only, as some
    /// cameras) or `tcp` (TCP-interleaved only).
    #[arg(long, default_value = "all")]
    protocols: String,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    gst::init()?;
    let fps = 30;
    let video = match args.profile.as_str() {
        "high" => format!(
            "x264enc tune=zerolatency speed-preset=veryfast key-int-max={} bframes=2 b-adapt=false ! video/x-h264,profile=high",
            fps * args.gop
        ),
        _ => format!(
            "x264enc tune=zerolatency speed-preset=ultrafast key-int-max={} bframes=0 ! video/x-h264,profile=constrained-baseline",
            fps * args.gop
        ),
    };
    // zerolatency turns B-frames off; `high` re-enables them after it.
    let video = if args.profile == "high" {
        video.replace("tune=zerolatency ", "")
    } else {
        video
    };
    let audio = match args.audio.as_str() {
        "aac" => {
            " audiotestsrc is-live=true wave=sine freq=440 ! audioconvert ! avenc_aac ! rtpmp4gpay name=pay1 pt=97"
        }
        "none" => "",
        _ => {
            " audiotestsrc is-live=true wave=sine freq=440 ! audioconvert ! opusenc ! rtpopuspay name=pay1 pt=97"
        }
    };
    let launch = format!(
        "( videotestsrc is-live=true pattern={} ! video/x-raw,width=320,height=240,framerate={fps}/1 ! videoconvert ! {video} ! rtph264pay name=pay0 pt=96 config-interval=-1{audio} )",
        args.pattern
    );
    let server = gst_rtsp_server::RTSPServer::new();
    server.set_address("127.0.0.1");
    server.set_service(&args.port.to_string());
    let factory = gst_rtsp_server::RTSPMediaFactory::new();
    factory.set_launch(&launch);
    factory.set_shared(true);
    match args.protocols.as_str() {
        "all" => {}
        "udp" => factory.set_property_from_str("protocols", "udp"),
        "tcp" => factory.set_property_from_str("protocols", "tcp"),
        other => anyhow::bail!("--protocols {other}: all, udp or tcp"),
    }
    server
        .mount_points()
        .ok_or_else(|| anyhow::anyhow!("no mount points"))?
        .add_factory(&args.path, factory);
    let main_loop = glib::MainLoop::new(None, false);
    let _source = server.attach(None)?;
    println!(
        "READY rtsp://127.0.0.1:{}{}",
        server.bound_port(),
        args.path
    );
    main_loop.run();
    Ok(())
}

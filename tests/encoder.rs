//! Encoder selection with the real GStreamer probe on this machine. With no
//! GPU device (no /dev/dri, no /dev/nvidia*), hardware candidates must be
//! skipped and the software encoders chosen; what is chosen must really
//! encode browser-decodable video.

mod common;

use std::path::Path;
use std::time::Duration;

use gst::prelude::*;
use webrtc_gateway::media::codec::Codec;
use webrtc_gateway::media::encoder::{self, Catalog, PROBE_TIMEOUT, Preferences, ProbeOutcome};

fn catalog() -> Catalog {
    Catalog::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/encoders.toml"))
        .expect("catalog")
}

fn has_gpu() -> bool {
    Path::new("/dev/dri").exists()
        || std::fs::read_dir("/dev")
            .map(|d| {
                d.flatten()
                    .any(|e| e.file_name().to_string_lossy().starts_with("nvidia"))
            })
            .unwrap_or(false)
}

#[test]
fn real_probe_picks_a_working_encoder() {
    gst::init().unwrap();
    let c = catalog();
    let h264 = encoder::select(&c, Codec::H264, &Preferences::default(), |s| {
        encoder::probe(s, Codec::H264, PROBE_TIMEOUT)
    })
    .expect("an H.264 encoder");
    let vp8 = encoder::select(&c, Codec::Vp8, &Preferences::default(), |s| {
        encoder::probe(s, Codec::Vp8, PROBE_TIMEOUT)
    })
    .expect("a VP8 encoder");
    println!(
        "probe chose {} and {}; attempts: {:?}",
        h264.spec.factory, vp8.spec.factory, h264.attempts
    );
    if !has_gpu() {
        assert_eq!(
            h264.spec.factory, "x264enc",
            "no GPU here: software fallback"
        );
        assert_eq!(vp8.spec.factory, "vp8enc");
        assert!(
            h264.attempts
                .iter()
                .take(h264.attempts.len() - 1)
                .all(|a| a.outcome != ProbeOutcome::Works)
        );
    }
    // A forced encoder that cannot run here is reported, not silently replaced.
    if gst::ElementFactory::find("nvh264enc").is_none() {
        let forced = Preferences {
            order: vec![],
            force: Some("nvh264enc".into()),
        };
        assert!(
            encoder::select(&c, Codec::H264, &forced, |s| encoder::probe(
                s,
                Codec::H264,
                PROBE_TIMEOUT
            ))
            .is_err()
        );
    }
}

#[test]
fn selected_h264_encoder_makes_constrained_baseline_that_decodes() {
    gst::init().unwrap();
    let c = catalog();
    let sel = encoder::select(&c, Codec::H264, &Preferences::default(), |s| {
        encoder::probe(s, Codec::H264, PROBE_TIMEOUT)
    })
    .unwrap();
    let pipeline = gst::Pipeline::new();
    let src = gst::ElementFactory::make("videotestsrc")
        .property("num-buffers", 30)
        .build()
        .unwrap();
    let enc = encoder::build(&sel.spec, Codec::H264, 800_000, 15).unwrap();
    let parse = gst::ElementFactory::make("h264parse").build().unwrap();
    let dec = gst::ElementFactory::make("avdec_h264").build().unwrap();
    let sink = gst::ElementFactory::make("fakesink").build().unwrap();
    pipeline
        .add_many([&src, &enc, &parse, &dec, &sink])
        .unwrap();
    gst::Element::link_many([&src, &enc, &parse, &dec, &sink]).unwrap();
    let decoded = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let d = decoded.clone();
    sink.static_pad("sink")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            d.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            gst::PadProbeReturn::Ok
        });
    pipeline.set_state(gst::State::Playing).unwrap();
    let msg = pipeline
        .bus()
        .unwrap()
        .timed_pop_filtered(
            gst::ClockTime::from_seconds(20),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        )
        .expect("finished in time");
    assert!(matches!(msg.view(), gst::MessageView::Eos(_)), "{msg:?}");
    let caps = parse.static_pad("src").unwrap().current_caps().unwrap();
    let profile = caps
        .structure(0)
        .unwrap()
        .get::<&str>("profile")
        .unwrap()
        .to_owned();
    pipeline.set_state(gst::State::Null).unwrap();
    assert_eq!(profile, "constrained-baseline");
    assert_eq!(
        decoded.load(std::sync::atomic::Ordering::Relaxed),
        30,
        "every frame decodes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial_test::serial(media)]
async fn server_info_shows_the_chosen_encoders() {
    let gw = common::Gateway::start();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let info = loop {
        let info: serde_json::Value = reqwest::get(format!("{}/info", gw.http))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if info["encoders"]["h264"].is_object() || std::time::Instant::now() > deadline {
            break info;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let h264 = info["encoders"]["h264"]["encoder"]
        .as_str()
        .unwrap_or_default();
    assert!(!h264.is_empty(), "server_info: {info}");
    if !has_gpu() {
        assert_eq!(h264, "x264enc");
    }
}

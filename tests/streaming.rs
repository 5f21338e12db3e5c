//! `janus.plugin.streaming`: RTSP, RTMP and RTP mountpoints watched by
//! `webrtcbin` viewers, against real servers on loopback (gst-rtsp-server,
//! nginx-rtmp) started and stopped by pid.

mod common;

use std::time::Duration;

use gateway_testkit::peer::{Receive, TestPeer};
use gst::prelude::*;
use serde_json::{Value, json};
use serial_test::serial;

use common::{Gateway, Nginx, Server, free_udp_port, streaming_handle};

const WITHIN: Duration = Duration::from_secs(15);

fn code(r: &Value) -> u64 {
    r["error_code"].as_u64().unwrap_or(0)
}

async fn info(admin: &gateway_testkit::janus::Handle, id: u64) -> Value {
    let r = admin
        .sync(json!({"request": "info", "id": id}))
        .await
        .unwrap();
    assert_eq!(r["streaming"], "info", "{r}");
    r["info"].clone()
}

/// A viewer of `id` that decodes at least 30 frames and gets audio.
async fn watch_decodes(gw: &Gateway, id: u64) -> TestPeer {
    let h = streaming_handle(gw, true).await;
    let viewer = TestPeer::watch(&h, id, Receive::Decode)
        .await
        .expect("watch");
    assert!(
        viewer
            .wait_until(WITHIN, |s| s.frames() >= 30 && s.audio() > 0)
            .await,
        "frames {} audio {}",
        viewer.stats.frames(),
        viewer.stats.audio()
    );
    viewer
}

/// An RTSP camera sending H.264 constrained baseline + Opus: re-payloaded,
/// no encoder anywhere; `list`/`info` show it; a viewer decodes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial(media)]
async fn rtsp_mountpoint_passes_baseline_through() {
    gst::init().unwrap();
    let mut cam = Server::rtsp(0, &[]);
    let gw = Gateway::start();
    let admin = streaming_handle(&gw, true).await;
    let r = admin
        .sync(json!({"request": "create", "type": "rtsp", "id": 7, "name": "cam", "description": "Lobby", "url": cam.url, "rtsp_reconnect_delay": 1}))
        .await
        .unwrap();
    assert_eq!(r["streaming"], "created", "{r}");
    assert_eq!(r["stream"]["id"], 7, "{r}");
    let list = admin.sync(json!({"request": "list"})).await.unwrap();
    assert_eq!(list["list"][0]["id"], 7, "{list}");
    assert_eq!(list["list"][0]["description"], "Lobby", "{list}");
    let viewer = watch_decodes(&gw, 7).await;
    let i = info(&admin, 7).await;
    println!("info: {i}");
    assert_eq!(i["viewers"], 1, "{i}");
    assert_eq!(i["source"]["state"], "playing", "{i}");
    let media = i["media"].as_array().unwrap();
    assert_eq!(media.len(), 2, "{i}");
    assert!(media.iter().all(|m| m["transcoded"] == false), "{i}");
    assert!(
        media
            .iter()
            .all(|m| m["age_ms"].as_u64().is_some_and(|a| a < 2000)),
        "{i}"
    );
    // Pass-through: no encoder in the mountpoint's graph.
    assert_eq!(i["encoders"], 0, "{i}");
    // The camera restarts on its port: the viewer, still connected, gets
    // frames again within 10 s, and `info` showed the retry.
    let port = cam.port();
    cam.kill();
    let t = std::time::Instant::now();
    let mut state = Value::Null;
    while t.elapsed() < Duration::from_secs(5) {
        state = info(&admin, 7).await["source"]["state"].clone();
        if state == "retrying" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(state, "retrying");
    let _cam = Server::rtsp(port, &[]);
    let before = viewer.stats.frames();
    assert!(
        viewer
            .wait_until(Duration::from_secs(10), |s| s.frames() >= before + 30)
            .await,
        "no frames within 10 s of the camera's return"
    );
    assert_eq!(info(&admin, 7).await["source"]["state"], "playing");
    let r = admin
        .sync(json!({"request": "destroy", "id": 7}))
        .await
        .unwrap();
    assert_eq!(r["streaming"], "destroyed", "{r}");
    let r = admin
        .sync(json!({"request": "info", "id": 7}))
        .await
        .unwrap();
    assert_eq!(code(&r), 455, "{r}");
    drop(viewer);
}

/// H.264 High with B-frames and AAC: transcoded (constrained-baseline
/// H.264, Opus), and it plays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial(media)]
async fn rtsp_high_profile_and_aac_are_transcoded() {
    gst::init().unwrap();
    let cam = Server::rtsp(0, &["--profile", "high", "--audio", "aac"]);
    let gw = Gateway::start();
    let admin = streaming_handle(&gw, true).await;
    let r = admin
        .sync(json!({"request": "create", "type": "rtsp", "id": 8, "url": cam.url}))
        .await
        .unwrap();
    assert_eq!(r["streaming"], "created", "{r}");
    let viewer = watch_decodes(&gw, 8).await;
    let i = info(&admin, 8).await;
    println!("info: {i}");
    let media = i["media"].as_array().unwrap();
    assert!(media.iter().all(|m| m["transcoded"] == true), "{i}");
    // One H.264 and one Opus encoder, however many viewers.
    assert_eq!(i["encoders"], 2, "{i}");
    drop(viewer);
}

/// A mountpoint that needs transcoding, made while the start-up encoder
/// probe still runs (here made slow on purpose: its first candidate is
/// lossless x264 at its slowest, over a second a frame, past the probe's
/// 5 s timeout), waits for the probe instead
/// of failing "no working H.264 encoder"; its audio (transcoded without
/// the H.264 encoder) is not held back, and the picture plays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial(media)]
async fn a_transcoding_mountpoint_made_during_the_encoder_probe_waits_for_it() {
    gst::init().unwrap();
    let dir = common::TempDir::new("slow-probe");
    let catalog = dir.0.join("encoders.toml");
    let shipped = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/pipelines/encoders.toml"
    ))
    .unwrap();
    let keep = |factory: &str| {
        shipped
            .split("\n\n")
            .find(|b| b.contains(&format!("factory = \"{factory}\"")))
            .unwrap()
            .to_owned()
    };
    std::fs::write(
        &catalog,
        format!(
            "[[h264]]\nfactory = \"x264enc\"\n\
             properties = {{ speed-preset = \"placebo\", threads = \"1\", option-string = \"qp=0:me=tesa:merange=128\" }}\n\
             bitrate = {{ property = \"\", unit = \"bps\" }}\nkeyframe_max = \"\"\n\
             force_keyframe = \"event\"\nraw_caps = \"video/x-raw,format=I420\"\n\n{}\n\n{}\n",
            keep("x264enc").trim_start(),
            keep("vp8enc").trim_start()
        ),
    )
    .unwrap();
    let cam = Server::rtsp(0, &["--profile", "high", "--audio", "aac"]);
    let gw = Gateway::start_with(&format!("[encoder]\ncatalog = \"{}\"\n", catalog.display()));
    let admin = streaming_handle(&gw, true).await;
    let t = std::time::Instant::now();
    let r = admin
        .sync(json!({"request": "create", "type": "rtsp", "id": 18, "url": cam.url}))
        .await
        .unwrap();
    assert_eq!(r["streaming"], "created", "{r}");
    println!("created after {:?}", t.elapsed());
    let viewer = watch_decodes(&gw, 18).await;
    let i = info(&admin, 18).await;
    println!("info: {i}");
    let media = i["media"].as_array().unwrap();
    assert!(media.iter().all(|m| m["transcoded"] == true), "{i}");
    assert_eq!(i["encoders"], 2, "{i}");
    drop(viewer);
}

/// An RTMP stream (H.264 + AAC pushed into nginx-rtmp) as a mountpoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial(media)]
async fn rtmp_mountpoint_plays() {
    gst::init().unwrap();
    let nginx = Nginx::start(1935);
    let url = format!("{}/test", nginx.live);
    let push = gst::parse::launch(&format!(
        "videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=240,framerate=30/1 \
         ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=30 ! video/x-h264,profile=constrained-baseline \
         ! h264parse ! flvmux streamable=true name=m ! rtmp2sink location={url} \
         audiotestsrc is-live=true ! audioconvert ! avenc_aac ! aacparse ! m."
    ))
    .unwrap();
    push.set_state(gst::State::Playing).unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let gw = Gateway::start();
    let admin = streaming_handle(&gw, true).await;
    let r = admin
        .sync(json!({"request": "create", "type": "rtmp", "id": 9, "url": url}))
        .await
        .unwrap();
    assert_eq!(r["streaming"], "created", "{r}");
    let viewer = watch_decodes(&gw, 9).await;
    let i = info(&admin, 9).await;
    println!("info: {i}");
    drop(viewer);
    let _ = push.set_state(gst::State::Null);
}

/// Plain RTP (VP8 + Opus) on UDP ports of 127.0.0.1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial(media)]
async fn rtp_mountpoint_plays() {
    gst::init().unwrap();
    let gw = Gateway::start();
    let admin = streaming_handle(&gw, true).await;
    let push = rtp_vp8_opus_mountpoint(&admin, 10, json!({})).await;
    let viewer = watch_decodes(&gw, 10).await;
    drop(viewer);
    let _ = push.set_state(gst::State::Null);
}

/// A GStreamer sender of VP8 (pt 100) to `vport` and, when given, Opus
/// (pt 111) to `aport` on 127.0.0.1, playing; the caller stops it.
fn push_vp8_opus(vport: u64, aport: Option<u64>) -> gst::Element {
    let mut launch = format!(
        "videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=30/1 ! vp8enc deadline=1 keyframe-max-dist=30 \
         ! rtpvp8pay pt=100 ! udpsink host=127.0.0.1 port={vport} "
    );
    if let Some(aport) = aport {
        launch += &format!(
            "audiotestsrc is-live=true ! audioconvert ! opusenc ! rtpopuspay pt=111 ! udpsink host=127.0.0.1 port={aport}"
        );
    }
    let push = gst::parse::launch(&launch).unwrap();
    push.set_state(gst::State::Playing).unwrap();
    push
}

/// Creates RTP mountpoint `id` (VP8 + Opus on two free UDP ports, plus
/// the `extra` create fields) and starts a GStreamer sender into it, which
/// the caller stops.
async fn rtp_vp8_opus_mountpoint(
    admin: &gateway_testkit::janus::Handle,
    id: u64,
    extra: Value,
) -> gst::Element {
    let (vport, aport) = (free_udp_port(), free_udp_port());
    let mut body = json!({"request": "create", "type": "rtp", "id": id, "media": [
        {"type": "video", "mid": "v", "port": vport, "pt": 100, "codec": "vp8"},
        {"type": "audio", "mid": "a", "port": aport, "pt": 111, "codec": "opus"}]});
    if let (Value::Object(b), Value::Object(e)) = (&mut body, extra) {
        b.extend(e);
    }
    let r = admin.sync(body).await.unwrap();
    assert_eq!(r["streaming"], "created", "{r}");
    push_vp8_opus(u64::from(vport), Some(u64::from(aport)))
}

/// Bad input gets the streaming plugin's errors; nothing else breaks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial(media)]
async fn bad_streaming_requests_get_errors() {
    gst::init().unwrap();
    let gw = Gateway::start();
    let admin = streaming_handle(&gw, true).await;
    let cases = [
        (json!({"request": "nope"}), 452),
        (json!({"request": "create"}), 453),
        (json!({"request": "create", "type": "file"}), 454),
        (
            json!({"request": "create", "type": "rtsp", "url": "http://x/y"}),
            454,
        ),
        (json!({"request": "create", "type": "rtsp", "url": 5}), 454),
        (
            json!({"request": "create", "type": "rtp", "media": []}),
            454,
        ),
        (
            json!({"request": "create", "type": "rtp", "media": [{"type": "video", "port": 70000, "pt": 96, "codec": "vp8"}]}),
            454,
        ),
        (json!({"request": "info", "id": 404}), 455),
        (json!({"request": "destroy", "id": 404}), 455),
        // Nothing listens there.
        (
            json!({"request": "create", "type": "rtsp", "url": "rtsp://127.0.0.1:1/none"}),
            456,
        ),
        (
            json!({"request": "create", "type": "rtmp", "url": "rtmp://127.0.0.1:1/live/none"}),
            456,
        ),
    ];
    for (body, want) in cases {
        let t = std::time::Instant::now();
        let r = admin.sync(body.clone()).await.unwrap();
        println!("{body} -> {r} ({:?})", t.elapsed());
        assert_eq!(code(&r), want, "{body} -> {r}");
    }
    // A port already in use.
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let r = admin
        .sync(json!({"request": "create", "type": "rtp", "id": 11, "media": [{"type": "audio", "port": port, "pt": 111, "codec": "opus"}]}))
        .await
        .unwrap();
    assert_eq!(code(&r), 456, "{r}");
    // Secret and pin.
    let free = free_udp_port();
    let r = admin
        .sync(json!({"request": "create", "type": "rtp", "id": 12, "secret": "s", "pin": "p", "media": [{"type": "audio", "port": free, "pt": 111, "codec": "opus"}]}))
        .await
        .unwrap();
    assert_eq!(r["streaming"], "created", "{r}");
    let r = admin
        .sync(json!({"request": "destroy", "id": 12, "secret": "no"}))
        .await
        .unwrap();
    assert_eq!(code(&r), 457, "{r}");
    let h = streaming_handle(&gw, true).await;
    let (data, _) = h
        .call(
            json!({"request": "watch", "id": 12, "pin": "wrong"}),
            None,
            WITHIN,
        )
        .await
        .unwrap();
    assert_eq!(code(&data), 457, "{data}");
    let (data, _) = h
        .call(json!({"request": "watch", "id": 404}), None, WITHIN)
        .await
        .unwrap();
    assert_eq!(code(&data), 455, "{data}");
    let (data, _) = h
        .call(json!({"request": "start"}), None, WITHIN)
        .await
        .unwrap();
    assert_eq!(code(&data), 460, "{data}");
    // Still serving.
    let list = admin.sync(json!({"request": "list"})).await.unwrap();
    assert_eq!(list["list"].as_array().map(Vec::len), Some(1), "{list}");
    let r = admin
        .sync(json!({"request": "destroy", "id": 12, "secret": "s"}))
        .await
        .unwrap();
    assert_eq!(r["streaming"], "destroyed", "{r}");
}

/// A late viewer of a camera whose GOP is 8 s gets its first frame from
/// the keyframe cache, not after the camera's next IDR (`rtspsrc` cannot
/// ask the camera for one).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial(media)]
async fn late_viewer_gets_a_picture_from_the_keyframe_cache() {
    gst::init().unwrap();
    let cam = Server::rtsp(0, &["--gop", "8"]);
    let gw = Gateway::start();
    let admin = streaming_handle(&gw, true).await;
    let r = admin
        .sync(json!({"request": "create", "type": "rtsp", "id": 21, "url": cam.url}))
        .await
        .unwrap();
    assert_eq!(r["streaming"], "created", "{r}");
    // Join well after the last keyframe.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let h = streaming_handle(&gw, true).await;
    let viewer = TestPeer::watch(&h, 21, Receive::Decode)
        .await
        .expect("watch");
    assert!(
        viewer
            .wait_until(Duration::from_secs(10), |s| s.frames() >= 10)
            .await,
        "frames {}",
        viewer.stats.frames()
    );
    let first = viewer.time_to_first_video().expect("a first frame");
    println!("watch → first decoded frame: {first:?}");
    // An 8 s GOP joined 3 s in would take 5 s without the cache.
    assert!(first < Duration::from_millis(2500), "{first:?}");
}

/// H.264 with B-frames and no profile in its signalling (plain RTP) starts
/// as pass-through; the B-frames are seen at run time and the stream is
/// transcoded from then on, and plays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial(media)]
async fn b_frames_found_at_run_time_switch_to_transcoding() {
    gst::init().unwrap();
    let gw = Gateway::start();
    let admin = streaming_handle(&gw, true).await;
    let (vport, aport) = (free_udp_port(), free_udp_port());
    let r = admin
        .sync(
            json!({"request": "create", "type": "rtp", "id": 13, "media": [
            {"type": "video", "port": vport, "pt": 96, "codec": "h264"},
            {"type": "audio", "port": aport, "pt": 111, "codec": "opus"}]}),
        )
        .await
        .unwrap();
    assert_eq!(r["streaming"], "created", "{r}");
    let push = gst::parse::launch(&format!(
        "videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=240,framerate=30/1 \
         ! x264enc speed-preset=veryfast bframes=2 b-adapt=false key-int-max=30 ! video/x-h264,profile=high \
         ! rtph264pay pt=96 config-interval=-1 ! udpsink host=127.0.0.1 port={vport} \
         audiotestsrc is-live=true ! audioconvert ! opusenc ! rtpopuspay pt=111 ! udpsink host=127.0.0.1 port={aport}"
    ))
    .unwrap();
    push.set_state(gst::State::Playing).unwrap();
    let viewer = watch_decodes(&gw, 13).await;
    // The first B-frame switches the stream to transcoding.
    let t = std::time::Instant::now();
    let mut i = info(&admin, 13).await;
    while i["media"][0]["transcoded"] != true && t.elapsed() < Duration::from_secs(20) {
        tokio::time::sleep(Duration::from_millis(250)).await;
        i = info(&admin, 13).await;
    }
    println!("info: {i}");
    assert_eq!(i["media"][0]["transcoded"], true, "{i}");
    // And it still plays.
    let before = viewer.stats.frames();
    assert!(
        viewer
            .wait_until(WITHIN, |s| s.frames() >= before + 30)
            .await,
        "no frames after the switch to transcoding"
    );
    drop(viewer);
    let _ = push.set_state(gst::State::Null);
}

/// `switch` between two mountpoints with the same codecs: the picture
/// changes (red → blue → red) with no renegotiation; a mountpoint with
/// other codecs is refused (458).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial(media)]
async fn switch_changes_the_picture_without_renegotiation() {
    gst::init().unwrap();
    let red_cam = Server::rtsp(0, &["--pattern", "red", "--gop", "4"]);
    let blue_cam = Server::rtsp(0, &["--pattern", "blue", "--gop", "4"]);
    let gw = Gateway::start();
    let admin = streaming_handle(&gw, true).await;
    for (id, cam) in [(41, &red_cam), (42, &blue_cam)] {
        let r = admin
            .sync(json!({"request": "create", "type": "rtsp", "id": id, "url": cam.url}))
            .await
            .unwrap();
        assert_eq!(r["streaming"], "created", "{r}");
    }
    let vport = free_udp_port();
    let r = admin
        .sync(json!({"request": "create", "type": "rtp", "id": 43, "media": [{"type": "video", "port": vport, "pt": 100, "codec": "vp8"}]}))
        .await
        .unwrap();
    assert_eq!(r["streaming"], "created", "{r}");
    let h = streaming_handle(&gw, true).await;
    let viewer = TestPeer::watch(&h, 41, Receive::Capture)
        .await
        .expect("watch");
    let colour = |want: [u8; 3]| {
        move |s: &gateway_testkit::peer::PeerStats| {
            s.frame()
                .and_then(|f| f.pixel(160, 120))
                .is_some_and(|p| (0..3).all(|i| (p[i] as i32 - want[i] as i32).abs() < 60))
        }
    };
    assert!(
        viewer.wait_until(WITHIN, colour([255, 0, 0])).await,
        "red first"
    );
    for (id, want) in [(42, [0, 0, 255]), (41, [255, 0, 0])] {
        let t = std::time::Instant::now();
        let (data, jsep) = h
            .call(json!({"request": "switch", "id": id}), None, WITHIN)
            .await
            .unwrap();
        assert_eq!(data["result"]["switched"], "ok", "{data}");
        assert!(jsep.is_none(), "no renegotiation");
        assert!(
            viewer
                .wait_until(Duration::from_secs(5), colour(want))
                .await,
            "after switching to {id}: {:?}",
            viewer.stats.frame().and_then(|f| f.pixel(160, 120))
        );
        println!("switch to {id}: picture after {:?}", t.elapsed());
    }
    let (data, _) = h
        .call(json!({"request": "switch", "id": 43}), None, WITHIN)
        .await
        .unwrap();
    assert_eq!(code(&data), 458, "{data}");
    let (data, _) = h
        .call(json!({"request": "stop"}), None, WITHIN)
        .await
        .unwrap();
    assert_eq!(data["result"]["status"], "stopping", "{data}");
}

/// `edit`, `disable`, `enable` and `kick_all` on a mountpoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial(media)]
async fn edit_disable_enable_and_kick_all() {
    gst::init().unwrap();
    let gw = Gateway::start();
    let admin = streaming_handle(&gw, true).await;
    let push =
        rtp_vp8_opus_mountpoint(&admin, 51, json!({"secret": "s", "description": "before"})).await;
    let r = admin
        .sync(json!({"request": "edit", "id": 51, "secret": "no", "new_description": "after"}))
        .await
        .unwrap();
    assert_eq!(code(&r), 457, "{r}");
    let r = admin
        .sync(json!({"request": "edit", "id": 51, "secret": "s", "new_description": "after"}))
        .await
        .unwrap();
    assert_eq!(r["streaming"], "edited", "{r}");
    let list = admin.sync(json!({"request": "list"})).await.unwrap();
    assert_eq!(list["list"][0]["description"], "after", "{list}");
    let r = admin
        .sync(json!({"request": "disable", "id": 51, "secret": "s"}))
        .await
        .unwrap();
    assert_eq!(r["streaming"], "ok", "{r}");
    let h = streaming_handle(&gw, true).await;
    let (data, _) = h
        .call(json!({"request": "watch", "id": 51}), None, WITHIN)
        .await
        .unwrap();
    assert_eq!(code(&data), 460, "{data}");
    let r = admin
        .sync(json!({"request": "enable", "id": 51, "secret": "s"}))
        .await
        .unwrap();
    assert_eq!(r["streaming"], "ok", "{r}");
    let viewer = watch_decodes(&gw, 51).await;
    assert_eq!(info(&admin, 51).await["viewers"], 1);
    let r = admin
        .sync(json!({"request": "kick_all", "id": 51, "secret": "s"}))
        .await
        .unwrap();
    assert_eq!(r["streaming"], "kicked_all", "{r}");
    let t = std::time::Instant::now();
    while info(&admin, 51).await["viewers"] != 0 && t.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        info(&admin, 51).await["viewers"],
        0,
        "kicked viewers are gone"
    );
    drop(viewer);
    let _ = push.set_state(gst::State::Null);
}

/// An `rtp` mountpoint created with `port: 0` (as Janus allows) gets free
/// ports, listed in the `create` reply (`stream.ports[{type, mid, msid,
/// port}]`) and in `info` for the secret's holder; RTP sent there plays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial(media)]
async fn rtp_mountpoint_with_port_0_picks_free_ports() {
    gst::init().unwrap();
    let gw = Gateway::start();
    let admin = streaming_handle(&gw, true).await;
    let r = admin
        .sync(
            json!({"request": "create", "type": "rtp", "id": 11, "secret": "s3", "media": [
            {"type": "video", "mid": "v", "port": 0, "pt": 100, "codec": "vp8"},
            {"type": "audio", "mid": "a", "port": 0, "pt": 111, "codec": "opus"}]}),
        )
        .await
        .unwrap();
    assert_eq!(r["streaming"], "created", "{r}");
    let ports = r["stream"]["ports"].as_array().cloned().unwrap_or_default();
    let port = |mid: &str| {
        ports
            .iter()
            .find(|p| p["mid"] == mid)
            .and_then(|p| p["port"].as_u64())
            .unwrap_or(0)
    };
    let (vport, aport) = (port("v"), port("a"));
    assert!(vport > 0 && aport > 0 && vport != aport, "{r}");
    let info = admin
        .sync(json!({"request": "info", "id": 11, "secret": "s3"}))
        .await
        .unwrap();
    let shown: Vec<u64> = info["info"]["media"]
        .as_array()
        .or(info["info"]["ports"].as_array())
        .map(|m| m.iter().filter_map(|m| m["port"].as_u64()).collect())
        .unwrap_or_default();
    assert!(shown.contains(&vport) && shown.contains(&aport), "{info}");
    let without = admin
        .sync(json!({"request": "info", "id": 11}))
        .await
        .unwrap();
    assert!(
        !without.to_string().contains(&format!("\"port\":{vport}")),
        "ports only for the secret's holder: {without}"
    );
    let push = push_vp8_opus(vport, Some(aport));
    let viewer = watch_decodes(&gw, 11).await;
    drop(viewer);
    let _ = push.set_state(gst::State::Null);
}

/// Janus's legacy flat `rtp` syntax (`audio`/`video`, `audioport`,
/// `audiopt`, `audiortpmap`, `videoport`, …) still creates a mountpoint
/// that plays; `data: true` is refused with 454.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial(media)]
async fn legacy_flat_rtp_syntax_plays() {
    gst::init().unwrap();
    let gw = Gateway::start();
    let admin = streaming_handle(&gw, true).await;
    let (vport, aport) = (free_udp_port(), free_udp_port());
    let r = admin
        .sync(json!({"request": "create", "type": "rtp", "id": 12,
            "audio": true, "audioport": aport, "audiopt": 111, "audiortpmap": "opus/48000/2",
            "video": true, "videoport": vport, "videopt": 100, "videortpmap": "VP8/90000",
            "videobufferkf": true}))
        .await
        .unwrap();
    assert_eq!(r["streaming"], "created", "{r}");
    let push = push_vp8_opus(u64::from(vport), Some(u64::from(aport)));
    let viewer = watch_decodes(&gw, 12).await;
    drop(viewer);
    let _ = push.set_state(gst::State::Null);
    for (bad, code) in [
        (
            json!({"request": "create", "type": "rtp", "data": true, "dataport": 5000}),
            454,
        ),
        (
            json!({"request": "create", "type": "rtp", "video": true, "videoport": 5000, "videopt": 96}),
            453,
        ),
        (
            json!({"request": "create", "type": "rtp", "video": true, "videoport": 5000, "videopt": 96, "videortpmap": "theora/90000"}),
            454,
        ),
    ] {
        let r = admin.sync(bad.clone()).await.unwrap();
        assert_eq!(r["error_code"], code, "{bad}: {r}");
    }
}

/// RTSP cameras that offer RTP over UDP only, or TCP-interleaved only, both
/// play through the default transport (UDP first, TCP as the fallback);
/// `rtsp_transport` pins one, and a wrong value is 454.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial(media)]
async fn rtsp_cameras_on_udp_only_and_tcp_only_both_play() {
    gst::init().unwrap();
    let gw = Gateway::start();
    let admin = streaming_handle(&gw, true).await;
    for (id, protocols, transport) in [
        (21u64, "udp", None),
        (22, "tcp", None),
        (23, "tcp", Some("tcp")),
        (24, "udp", Some("udp")),
    ] {
        let cam = Server::rtsp(0, &["--protocols", protocols]);
        let mut body = json!({"request": "create", "type": "rtsp", "id": id, "url": cam.url});
        if let Some(t) = transport {
            body["rtsp_transport"] = json!(t);
        }
        let r = admin.sync(body).await.unwrap();
        assert_eq!(r["streaming"], "created", "{protocols}/{transport:?}: {r}");
        let viewer = watch_decodes(&gw, id).await;
        println!("camera on {protocols} only, rtsp_transport {transport:?}: plays");
        drop(viewer);
        let _ = admin
            .sync(json!({"request": "destroy", "id": id}))
            .await
            .unwrap();
        drop(cam);
    }
    let r = admin
        .sync(json!({"request": "create", "type": "rtsp", "url": "rtsp://127.0.0.1:1/x", "rtsp_transport": "quic"}))
        .await
        .unwrap();
    assert_eq!(r["error_code"], 454, "{r}");
}

/// Mountpoints defined in the config (`[[streaming.mountpoints]]`, the keys
/// of `create`, as Janus's `janus.plugin.streaming.jcfg`) exist after
/// start-up and play.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial(media)]
async fn config_mountpoints_exist_at_start_up() {
    gst::init().unwrap();
    let gw = Gateway::start_with(
        "[[streaming.mountpoints]]\ntype = \"rtp\"\nid = 31\ndescription = \"From the config\"\n\
         media = [{type = \"video\", mid = \"v\", port = 0, pt = 100, codec = \"vp8\"}]\n",
    );
    let admin = streaming_handle(&gw, true).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let info = loop {
        let r = admin
            .sync(json!({"request": "info", "id": 31}))
            .await
            .unwrap();
        if r["streaming"] == "info" || std::time::Instant::now() > deadline {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(info["info"]["description"], "From the config", "{info}");
    let port = info["info"]["media"][0]["port"]
        .as_u64()
        .or(info["info"]["ports"][0]["port"].as_u64())
        .expect("the port, shown without a secret");
    let push = push_vp8_opus(port, None);
    let h = streaming_handle(&gw, true).await;
    let viewer = TestPeer::watch(&h, 31, Receive::Decode)
        .await
        .expect("watch");
    assert!(
        viewer
            .wait_until(Duration::from_secs(15), |s| s.frames() >= 30)
            .await,
        "the config mountpoint plays"
    );
    let _ = push.set_state(gst::State::Null);
}

//! RTSP/RTMP ingest: cameras and feeds as room publishers (`add_ingest`),
//! against real servers on loopback started and stopped by pid.

mod common;

use std::time::Duration;

use gateway_testkit::peer::TestPeer;
use serde_json::json;
use serial_test::serial;

use common::{Gateway, Nginx, Server, create_room, videoroom_handle};

const WITHIN: Duration = Duration::from_secs(15);

/// An RTSP camera (H.264 constrained baseline + Opus) added to an SFU room
/// is a publisher like any other: listed, subscribed to, decoded. It is
/// re-payloaded, not transcoded. When the camera dies and comes back the
/// subscriber gets frames again without renegotiating.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial(media)]
async fn rtsp_camera_joins_a_room_and_survives_a_restart() {
    gst::init().unwrap();
    let mut cam = Server::rtsp(0, &[]);
    let port = cam.port();
    let gw = Gateway::start();
    let admin = videoroom_handle(&gw, true).await;
    let room = create_room(&admin, json!({"videocodec": "h264"})).await;
    let r = admin
        .sync(json!({"request": "add_ingest", "room": room, "url": cam.url, "display": "Lobby camera", "rtsp_reconnect_delay": 1}))
        .await
        .unwrap();
    assert_eq!(r["videoroom"], "success", "{r}");
    let feed = r["id"].clone();
    let list = admin
        .sync(json!({"request": "listparticipants", "room": room}))
        .await
        .unwrap();
    assert!(
        list["participants"].as_array().is_some_and(|a| a
            .iter()
            .any(|p| p["id"] == feed && p["display"] == "Lobby camera")),
        "{list}"
    );
    let h = videoroom_handle(&gw, true).await;
    let (viewer, attached) = TestPeer::subscribe(&h, &room, json!([{"feed": feed}]), true)
        .await
        .expect("subscribe to the camera");
    println!("attached: {attached}");
    assert!(
        viewer
            .wait_until(WITHIN, |s| s.frames() >= 30 && s.audio() > 0)
            .await,
        "frames {} audio {}",
        viewer.stats.frames(),
        viewer.stats.audio()
    );
    let status = admin
        .sync(json!({"request": "list_ingests", "room": room}))
        .await
        .unwrap();
    println!("ingests: {status}");
    let media = &status["ingests"][0]["media"];
    assert!(
        media
            .as_array()
            .is_some_and(|m| m.iter().all(|s| s["transcoded"] == false)),
        "{status}"
    );

    // The camera restarts on the same port.
    cam.kill();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = viewer.stats.frames();
    let _cam = Server::rtsp(port, &[]);
    let back = viewer
        .wait_until(Duration::from_secs(10), |s| s.frames() >= before + 30)
        .await;
    assert!(back, "no frames within 10 s of the camera's return");

    let r = admin
        .sync(json!({"request": "remove_ingest", "room": room, "id": feed}))
        .await
        .unwrap();
    assert_eq!(r["videoroom"], "success", "{r}");
    drop(viewer);
}

/// Bad ingests get Janus errors, and the room keeps working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial(media)]
async fn bad_ingests_get_errors() {
    gst::init().unwrap();
    let gw = Gateway::start();
    let admin = videoroom_handle(&gw, true).await;
    let room = create_room(&admin, json!({"secret": "s3"})).await;
    let err = |r: &serde_json::Value| r["error_code"].as_u64().unwrap_or(0);
    // Not a URL we take.
    let r = admin
        .sync(json!({"request": "add_ingest", "room": room, "secret": "s3", "url": "http://example.com/x"}))
        .await
        .unwrap();
    assert_eq!(err(&r), 430, "{r}");
    // Missing url, wrong secret, unknown room.
    let r = admin
        .sync(json!({"request": "add_ingest", "room": room, "secret": "s3"}))
        .await
        .unwrap();
    assert_eq!(err(&r), 429, "{r}");
    let r = admin
        .sync(json!({"request": "add_ingest", "room": room, "secret": "no", "url": "rtsp://127.0.0.1:1/x"}))
        .await
        .unwrap();
    assert_eq!(err(&r), 433, "{r}");
    let r = admin
        .sync(json!({"request": "add_ingest", "room": 4242, "url": "rtsp://127.0.0.1:1/x"}))
        .await
        .unwrap();
    assert_eq!(err(&r), 426, "{r}");
    // Nobody listens there: a clear error, quickly.
    let t = std::time::Instant::now();
    let r = admin
        .sync(json!({"request": "add_ingest", "room": room, "secret": "s3", "url": "rtsp://127.0.0.1:1/nothing"}))
        .await
        .unwrap();
    println!("unreachable: {r} after {:?}", t.elapsed());
    assert_eq!(err(&r), 499, "{r}");
    assert!(
        r["error"].as_str().unwrap_or("").contains("source failed"),
        "{r}"
    );
    let r = admin
        .sync(json!({"request": "remove_ingest", "room": room, "secret": "s3", "id": 99}))
        .await
        .unwrap();
    assert_eq!(err(&r), 428, "{r}");
    // The room still lists, with no ingest left behind.
    let r = admin
        .sync(json!({"request": "listparticipants", "room": room}))
        .await
        .unwrap();
    assert_eq!(r["participants"], json!([]), "{r}");
}

/// Polls `list_ingests` until the room's first restream is in `state`.
async fn restream_reaches(
    admin: &gateway_testkit::janus::Handle,
    room: &serde_json::Value,
    state: &str,
    within: Duration,
) -> bool {
    let t = std::time::Instant::now();
    while t.elapsed() < within {
        tokio::time::sleep(Duration::from_millis(250)).await;
        if let Ok(s) = admin
            .sync(json!({"request": "list_ingests", "room": room}))
            .await
            && s["restreams"][0]["state"] == state
        {
            return true;
        }
    }
    false
}

/// One RGB pixel of the first frame a GStreamer RTMP pull decodes.
fn rtmp_pixels(url: &str, points: &[(f64, f64)]) -> Option<Vec<[u8; 3]>> {
    use gst::prelude::*;
    let p = gst::parse::launch(&format!(
        "rtmp2src location={url} timeout=5 ! flvdemux name=d d.video ! queue ! h264parse ! avdec_h264 \
         ! videoconvert ! video/x-raw,format=RGB ! appsink name=s max-buffers=2 drop=true sync=false async=false \
         d.audio ! queue ! fakesink sync=false async=false"
    ))
    .map_err(|e| println!("RTMP pull: {e}"))
    .ok()?
    .downcast::<gst::Pipeline>()
    .ok()?;
    let sink = p.by_name("s")?.downcast::<gst_app::AppSink>().ok()?;
    if let Err(e) = p.set_state(gst::State::Playing) {
        println!("RTMP pull: {e}");
        return None;
    }
    // Skip the first frames (the mix may still be filling in).
    let mut out = None;
    for _ in 0..20 {
        let Some(sample) = sink.try_pull_sample(gst::ClockTime::from_seconds(10)) else {
            let msg = p
                .bus()
                .and_then(|b| b.pop_filtered(&[gst::MessageType::Error]));
            println!("RTMP pull: no frame within 10 s ({msg:?})");
            break;
        };
        let Some((w, h)) = sample.caps().and_then(|c| {
            c.structure(0).map(|s| {
                (
                    s.get::<i32>("width").unwrap_or(0) as usize,
                    s.get::<i32>("height").unwrap_or(0) as usize,
                )
            })
        }) else {
            println!("RTMP pull: a sample without caps");
            break;
        };
        let Some(buf) = sample.buffer().and_then(|b| b.map_readable().ok()) else {
            println!("RTMP pull: a sample without a buffer");
            break;
        };
        let stride = (w * 3 + 3) & !3;
        out = Some(
            points
                .iter()
                .map(|(x, y)| {
                    let (x, y) = ((x * w as f64) as usize, (y * h as f64) as usize);
                    let o = y * stride + x * 3;
                    [buf[o], buf[o + 1], buf[o + 2]]
                })
                .collect(),
        );
    }
    let _ = p.set_state(gst::State::Null);
    out
}

/// `start_rtmp` from an MCU room's mix into a local nginx-rtmp: ffprobe sees
/// H.264 + AAC, a GStreamer pull decodes the mix's colours, and the mix's
/// H.264 is not encoded a second time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial(media)]
async fn rtmp_out_restreams_the_mix() {
    use gateway_testkit::peer::PublisherSpec;
    gst::init().unwrap();
    let nginx = Nginx::start(1935);
    let gw = Gateway::start();
    let admin = videoroom_handle(&gw, true).await;
    let room = create_room(
        &admin,
        json!({"mixing": "mcu", "mix_width": 320, "mix_height": 180, "mix_fps": 15, "mix_bitrate": 500000}),
    )
    .await;
    let spec = |argb: u32| PublisherSpec {
        video_patterns: vec![format!("solid-color foreground-color=0x{argb:08x}")],
        gop: 60,
        ..PublisherSpec::default()
    };
    let ha = videoroom_handle(&gw, true).await;
    let (_a, _) = TestPeer::publish(&ha, &room, "red", &spec(0xffff0000))
        .await
        .unwrap();
    let hb = videoroom_handle(&gw, true).await;
    let (_b, _) = TestPeer::publish(&hb, &room, "blue", &spec(0xff0000ff))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = admin
        .sync(json!({"request": "list_ingests", "room": room}))
        .await
        .unwrap();
    let url = format!("{}/test", nginx.live);
    let r = admin
        .sync(json!({"request": "start_rtmp", "room": room, "url": url, "source": "mix"}))
        .await
        .unwrap();
    assert_eq!(r["videoroom"], "success", "{r}");
    let id = r["rtmp"]["id"].clone();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = admin
        .sync(json!({"request": "list_ingests", "room": room}))
        .await
        .unwrap();
    println!("before {before}\nafter {after}");
    // Only the AAC encoder is new: the mix's H.264 is reused.
    assert_eq!(
        after["encoders"].as_u64().unwrap(),
        before["encoders"].as_u64().unwrap() + 1,
        "{after}"
    );
    assert_eq!(after["restreams"][0]["state"], "live", "{after}");
    let codecs = ffprobe_codecs(&url);
    println!("ffprobe: {codecs:?}");
    assert!(
        codecs.contains("h264") && codecs.contains("aac"),
        "{codecs}"
    );
    let px = tokio::task::spawn_blocking(move || rtmp_pixels(&url, &[(0.25, 0.5), (0.75, 0.5)]))
        .await
        .unwrap()
        .expect("decoded frames from the RTMP server");
    println!("pixels: {px:?}");
    let red = |p: [u8; 3]| p[0] > 180 && p[1] < 70 && p[2] < 70;
    let blue = |p: [u8; 3]| p[2] > 180 && p[0] < 70 && p[1] < 70;
    assert!(
        (red(px[0]) && blue(px[1])) || (blue(px[0]) && red(px[1])),
        "{px:?}"
    );
    // The RTMP server goes away and comes back: the restream retries with
    // back-off, says so, and is live again.
    drop(nginx);
    assert!(
        restream_reaches(&admin, &room, "retrying", Duration::from_secs(10)).await,
        "the restream did not notice the server going away"
    );
    let _nginx = Nginx::start(1935);
    assert!(
        restream_reaches(&admin, &room, "live", Duration::from_secs(15)).await,
        "the restream was not live again within 15 s"
    );
    let r = admin
        .sync(json!({"request": "stop_rtmp", "room": room, "id": id}))
        .await
        .unwrap();
    assert_eq!(r["rtmp"]["state"], "stopped", "{r}");
}

/// Codec names ffprobe sees at `url`.
fn ffprobe_codecs(url: &str) -> String {
    let mut cmd = std::process::Command::new("timeout");
    cmd.args(["20", "ffprobe", "-v", "error"]);
    if url.starts_with("rtsp://") {
        cmd.args(["-rtsp_transport", "tcp"]);
    }
    let out = cmd
        .args(["-show_entries", "stream=codec_name", "-of", "csv=p=0"])
        .arg(url)
        .output()
        .expect("ffprobe");
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// RTSP serving: an MCU room's mix and a feed play at
/// `rtsp://…/videoroom/<room>/mix` and `/<feed>`; two clients at once add no
/// encoder (the mix is encoded once, feeds not at all).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial(media)]
async fn rtsp_out_serves_the_mix_and_feeds() {
    use gateway_testkit::peer::PublisherSpec;
    use gst::prelude::*;
    gst::init().unwrap();
    let gw = Gateway::start();
    let base = gw.rtsp.clone().expect("the gateway serves RTSP");
    let admin = videoroom_handle(&gw, true).await;
    let room = create_room(
        &admin,
        json!({"mixing": "hybrid", "mix_width": 320, "mix_height": 180, "mix_fps": 15, "mix_bitrate": 500000}),
    )
    .await;
    let h = videoroom_handle(&gw, true).await;
    let spec = PublisherSpec {
        gop: 60,
        ..PublisherSpec::default()
    };
    let (_p, joined) = TestPeer::publish(&h, &room, "alice", &spec).await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let encoders = |v: &serde_json::Value| v["encoders"].as_u64().unwrap_or(u64::MAX);
    let before = admin
        .sync(json!({"request": "list_ingests", "room": room}))
        .await
        .unwrap();
    let mix = format!("{base}/videoroom/{room}/mix");
    let codecs = ffprobe_codecs(&mix);
    println!("mix: {codecs:?}");
    assert!(
        codecs.contains("h264") && codecs.contains("opus"),
        "{codecs}"
    );
    let feed = format!("{base}/videoroom/{room}/{}", joined["id"]);
    let codecs = ffprobe_codecs(&feed);
    println!("feed: {codecs:?}");
    assert!(
        codecs.contains("vp8") && codecs.contains("opus"),
        "{codecs}"
    );
    // Two clients of the mix at once, each decoding frames.
    let clients: Vec<gst::Element> = (0..2)
        .map(|_| {
            gst::parse::launch(&format!(
                "rtspsrc location={mix} protocols=tcp latency=100 ! rtph264depay ! h264parse ! avdec_h264 ! fakesink name=s sync=false"
            ))
            .unwrap()
        })
        .collect();
    let frames: Vec<std::sync::Arc<std::sync::atomic::AtomicU64>> = clients
        .iter()
        .map(|c| {
            let n = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
            let sink = c.downcast_ref::<gst::Bin>().unwrap().by_name("s").unwrap();
            let n2 = n.clone();
            sink.static_pad("sink")
                .unwrap()
                .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
                    n2.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    gst::PadProbeReturn::Ok
                });
            c.set_state(gst::State::Playing).unwrap();
            n
        })
        .collect();
    let t = std::time::Instant::now();
    while t.elapsed() < Duration::from_secs(15)
        && frames
            .iter()
            .any(|n| n.load(std::sync::atomic::Ordering::Relaxed) < 15)
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let counts: Vec<u64> = frames
        .iter()
        .map(|n| n.load(std::sync::atomic::Ordering::Relaxed))
        .collect();
    let during = admin
        .sync(json!({"request": "list_ingests", "room": room}))
        .await
        .unwrap();
    println!(
        "frames {counts:?}; encoders before {} during {}",
        encoders(&before),
        encoders(&during)
    );
    assert!(counts.iter().all(|n| *n >= 15), "{counts:?}");
    assert_eq!(encoders(&during), encoders(&before), "{during}");
    for c in clients {
        let _ = c.set_state(gst::State::Null);
    }
}

/// An RTSP camera added to a recording MCU room is mixed (its colour fills
/// the mix) and recorded (a playable H.264 + AAC file).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial(media)]
async fn ingest_is_mixed_and_recorded() {
    use gateway_testkit::peer::Receive;
    gst::init().unwrap();
    let cam = Server::rtsp(0, &["--pattern", "red"]);
    let gw = Gateway::start();
    let dir = common::TempDir::new("ingest-rec");
    let admin = videoroom_handle(&gw, true).await;
    let room = create_room(
        &admin,
        json!({"mixing": "mcu", "mix_width": 320, "mix_height": 180, "mix_fps": 15,
               "record": true, "rec_dir": dir.0.display().to_string()}),
    )
    .await;
    let r = admin
        .sync(json!({"request": "add_ingest", "room": room, "url": cam.url, "display": "cam"}))
        .await
        .unwrap();
    assert_eq!(r["videoroom"], "success", "{r}");
    let feed = r["id"].clone();
    let hv = videoroom_handle(&gw, true).await;
    let (viewer, _) = TestPeer::subscribe_with(
        &hv,
        &room,
        json!([{"feed": 0}]),
        json!({}),
        Receive::Capture,
    )
    .await
    .expect("subscribe to the mix");
    let red = |p: Option<[u8; 3]>| p.is_some_and(|p| p[0] > 180 && p[1] < 70 && p[2] < 70);
    let t = std::time::Instant::now();
    let mut px = None;
    while t.elapsed() < WITHIN {
        px = viewer.stats.frame().and_then(|f| f.pixel(160, 90));
        if red(px) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(red(px), "the mix shows the camera: {px:?}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let r = admin
        .sync(json!({"request": "remove_ingest", "room": room, "id": feed}))
        .await
        .unwrap();
    assert_eq!(r["videoroom"], "success", "{r}");
    // The camera's recording is finalized when it leaves.
    let mut files = Vec::new();
    for _ in 0..50 {
        let l = admin
            .sync(json!({"request": "list_recordings", "room": room}))
            .await
            .unwrap();
        files = l["recordings"].as_array().cloned().unwrap_or_default();
        if !files.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!("recordings: {files:?}");
    let f = files
        .iter()
        .find(|f| f["feed"] == feed)
        .expect("the camera's recording");
    let path = std::path::PathBuf::from(f["file"].as_str().unwrap());
    let (duration, codecs) = common::probe(&path);
    println!("{duration:.2} s {codecs:?}");
    assert!(
        codecs.contains(&"h264".to_owned()) && codecs.contains(&"aac".to_owned()),
        "{codecs:?}"
    );
    assert!(duration > 2.0, "{duration}");
    assert_eq!(common::decode_errors(&path), "");
    drop(viewer);
}

/// `start_rtmp` from one H.264 feed of an SFU room: the video is sent as
/// published (the only encoder added is AAC's), and the server has H.264
/// + AAC.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial(media)]
async fn rtmp_out_of_an_h264_feed_does_not_transcode() {
    use gateway_testkit::peer::{PublisherSpec, VideoCodec};
    gst::init().unwrap();
    let nginx = Nginx::start(1935);
    let gw = Gateway::start();
    let admin = videoroom_handle(&gw, true).await;
    let room = create_room(&admin, json!({"videocodec": "h264"})).await;
    let h = videoroom_handle(&gw, true).await;
    let spec = PublisherSpec {
        codec: VideoCodec::H264,
        gop: 30,
        ..PublisherSpec::default()
    };
    let (_p, joined) = TestPeer::publish(&h, &room, "alice", &spec).await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let url = format!("{}/feed", nginx.live);
    let r = admin
        .sync(json!({"request": "start_rtmp", "room": room, "url": url, "source": joined["id"]}))
        .await
        .unwrap();
    assert_eq!(r["videoroom"], "success", "{r}");
    assert!(
        restream_reaches(&admin, &room, "live", Duration::from_secs(10)).await,
        "not live"
    );
    let s = admin
        .sync(json!({"request": "list_ingests", "room": room}))
        .await
        .unwrap();
    println!("{s}");
    // An SFU room encodes nothing: the restream adds AAC only.
    assert_eq!(s["encoders"], 1, "{s}");
    let codecs = ffprobe_codecs(&url);
    println!("ffprobe: {codecs:?}");
    assert!(
        codecs.contains("h264") && codecs.contains("aac"),
        "{codecs}"
    );
    // Unknown restream and a non-RTMP URL.
    let r = admin
        .sync(json!({"request": "stop_rtmp", "room": room, "id": 999}))
        .await
        .unwrap();
    assert_eq!(r["error_code"], 428, "{r}");
    let r = admin
        .sync(json!({"request": "start_rtmp", "room": room, "url": "http://x/y"}))
        .await
        .unwrap();
    assert_eq!(r["error_code"], 430, "{r}");
    // An SFU room has no mix to restream.
    let r = admin
        .sync(json!({"request": "start_rtmp", "room": room, "url": url, "source": "mix"}))
        .await
        .unwrap();
    assert_eq!(r["error_code"], 430, "{r}");
}

//! Recording straight to MP4 (issue 4), checked as a user would: `ffprobe`
//! for codecs and duration, `ffmpeg` for frames that decode without errors,
//! pixels of the mix recording. Real gateway, real `webrtcbin` publishers.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use gateway_testkit::peer::{PublisherSpec, TestPeer, VideoCodec};
use serde_json::{Value, json};
use serial_test::serial;

use common::avsync::{assert_av_sync, publish_flash_beep};
use common::{Gateway, TempDir, create_room, decode_errors, probe, videoroom_handle};
use gateway_testkit::janus::Handle;

const WITHIN: Duration = Duration::from_secs(10);

fn publisher(codec: VideoCodec, pattern: &str) -> PublisherSpec {
    PublisherSpec {
        codec,
        video_patterns: vec![pattern.into()],
        audio_hz: Some(440.0),
        width: 320,
        height: 240,
        fps: 30,
        gop: 60,
    }
}

/// `configure` with `record: true` and `filename`, `length` of recording,
/// then `record: false`.
async fn record_for(h: &Handle, filename: &str, length: Duration) {
    h.call(
        json!({"request": "configure", "record": true, "filename": filename}),
        None,
        WITHIN,
    )
    .await
    .unwrap();
    tokio::time::sleep(length).await;
    h.call(
        json!({"request": "configure", "record": false}),
        None,
        WITHIN,
    )
    .await
    .unwrap();
}

/// `record_mix` on, `length` of recording, then off.
async fn record_mix_for(admin: &Handle, room: &Value, length: Duration) {
    let r = admin
        .sync(json!({"request": "record_mix", "room": room, "record": true}))
        .await
        .unwrap();
    assert_eq!(r["record"], true, "{r}");
    tokio::time::sleep(length).await;
    admin
        .sync(json!({"request": "record_mix", "room": room, "record": false}))
        .await
        .unwrap();
}

/// One RGB pixel of the frame at `at_s` seconds.
fn pixel(path: &Path, at_s: f64, x: u32, y: u32) -> Option<[u8; 3]> {
    let out = Command::new("timeout")
        .args([
            "30",
            "ffmpeg",
            "-nostdin",
            "-v",
            "error",
            "-ss",
            &at_s.to_string(),
            "-i",
        ])
        .arg(path)
        .args(["-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .output()
        .ok()?;
    let (w, _) = frame_size(path)?;
    let i = ((y * w + x) * 3) as usize;
    out.stdout.get(i..i + 3).map(|p| [p[0], p[1], p[2]])
}

fn frame_size(path: &Path) -> Option<(u32, u32)> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=width,height",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .ok()?;
    let s = String::from_utf8_lossy(&out.stdout);
    let mut it = s.trim().split(',').filter_map(|v| v.parse().ok());
    Some((it.next()?, it.next()?))
}

/// The `list_recordings` entries of `room`, waiting (bounded) until `n` exist.
async fn recordings(admin: &gateway_testkit::janus::Handle, room: &Value, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + WITHIN;
    loop {
        let r = admin
            .sync(json!({"request": "list_recordings", "room": room}))
            .await
            .expect("list_recordings");
        let list = r["recordings"].as_array().cloned().unwrap_or_default();
        if list.len() >= n || Instant::now() > deadline {
            return list;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Every MP4 file in `dir`, sorted.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    v.retain(|p| p.extension().is_some_and(|e| e == "mp4"));
    v.sort();
    v
}

fn assert_playable(path: &Path, want_s: f64, tolerance_s: f64) {
    let (duration, codecs) = probe(path);
    println!("{}: {duration:.2} s, {codecs:?}", path.display());
    assert!(
        codecs.contains(&"h264".to_owned()) && codecs.contains(&"aac".to_owned()),
        "{codecs:?}"
    );
    assert!(
        (duration - want_s).abs() <= tolerance_s,
        "{}: {duration} s, want {want_s} ± {tolerance_s}",
        path.display()
    );
    let errors = decode_errors(path);
    assert!(
        errors.is_empty(),
        "{}: decode errors:\n{errors}",
        path.display()
    );
}

/// `configure` with `record: true`, 10 s, `record: false`: an H.264 + AAC
/// file of 10 s ± 0.5 s whose every frame decodes. H.264 is written as
/// published; VP8 is transcoded.
async fn records_ten_seconds(codec: VideoCodec) {
    gst::init().unwrap();
    let gw = Gateway::start();
    let dir = TempDir::new("rec");
    let admin = videoroom_handle(&gw, true).await;
    let room = create_room(&admin, json!({"rec_dir": dir.0.display().to_string()})).await;
    let h = videoroom_handle(&gw, true).await;
    let (peer, joined) = TestPeer::publish(&h, &room, "rec", &publisher(codec, "ball"))
        .await
        .unwrap();
    // Media flows before the recording starts.
    tokio::time::sleep(Duration::from_secs(2)).await;
    record_for(&h, "ten", Duration::from_secs(10)).await;
    let list = recordings(&admin, &room, 1).await;
    assert_eq!(list.len(), 1, "{list:?}");
    let entry = &list[0];
    assert_eq!(entry["feed"], joined["id"]);
    let path = PathBuf::from(entry["file"].as_str().unwrap());
    assert_eq!(path, dir.0.join("ten.mp4"));
    assert!(entry["size"].as_u64().unwrap() > 10_000, "{entry}");
    assert_playable(&path, 10.0, 0.5);
    drop(peer);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial(media)]
async fn h264_publisher_records_playable_mp4() {
    records_ten_seconds(VideoCodec::H264).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial(media)]
async fn vp8_publisher_records_transcoded_mp4() {
    records_ten_seconds(VideoCodec::Vp8).await;
}

/// `record_format: "webm"`: a VP8 publisher is written as sent (VP8 + Opus,
/// no transcoding); an H.264 publisher in the same room still gets MP4.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial(media)]
async fn webm_rooms_keep_vp8_and_opus_as_sent() {
    gst::init().unwrap();
    let gw = Gateway::start();
    let dir = TempDir::new("rec");
    let admin = videoroom_handle(&gw, true).await;
    let room = create_room(
        &admin,
        json!({"rec_dir": dir.0.display().to_string(), "record_format": "webm"}),
    )
    .await;
    let hv = videoroom_handle(&gw, true).await;
    let (v, _) = TestPeer::publish(&hv, &room, "vp8", &publisher(VideoCodec::Vp8, "ball"))
        .await
        .unwrap();
    let hh = videoroom_handle(&gw, true).await;
    let (h, _) = TestPeer::publish(&hh, &room, "h264", &publisher(VideoCodec::H264, "smpte"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    tokio::join!(
        record_for(&hv, "vp8", Duration::from_secs(5)),
        record_for(&hh, "h264", Duration::from_secs(5))
    );
    assert_eq!(recordings(&admin, &room, 2).await.len(), 2);
    let webm = dir.0.join("vp8.webm");
    let (duration, codecs) = probe(&webm);
    println!("{}: {duration:.2} s {codecs:?}", webm.display());
    assert_eq!(codecs, vec!["vp8".to_owned(), "opus".to_owned()]);
    assert!((duration - 5.0).abs() <= 0.5, "{duration} s");
    let errors = decode_errors(&webm);
    assert!(errors.is_empty(), "{errors}");
    assert_playable(&dir.0.join("h264.mp4"), 5.0, 0.5);
    drop((v, h));
}

/// Every way a recording ends leaves a playable file: stop and restart into
/// a new file, leave, room destroy, and SIGTERM of the gateway.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial(media)]
async fn every_ending_finalizes_the_file() {
    gst::init().unwrap();
    let mut gw = Gateway::start();
    let dir = TempDir::new("rec");
    let rec_dir = dir.0.display().to_string();
    let admin = videoroom_handle(&gw, true).await;

    // Room-wide `record`: every publisher is recorded from `publish`.
    let room = create_room(&admin, json!({"rec_dir": rec_dir, "record": true})).await;
    let h = videoroom_handle(&gw, true).await;
    let (a, _) = TestPeer::publish(&h, &room, "a", &publisher(VideoCodec::H264, "ball"))
        .await
        .unwrap();
    // Recording starts once the publisher's sender reports came (1-6 s).
    tokio::time::sleep(Duration::from_secs(8)).await;
    // Stop mid-call, then restart into a new file.
    h.call(
        json!({"request": "configure", "record": false}),
        None,
        WITHIN,
    )
    .await
    .unwrap();
    h.call(
        json!({"request": "configure", "record": true, "filename": "second"}),
        None,
        WITHIN,
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    // Leaving ends the second file.
    h.call(json!({"request": "leave"}), None, WITHIN)
        .await
        .unwrap();
    drop(a);
    assert_eq!(recordings(&admin, &room, 2).await.len(), 2);

    // Destroy ends a recording.
    let room2 = create_room(&admin, json!({"rec_dir": rec_dir})).await;
    let h2 = videoroom_handle(&gw, true).await;
    let (b, _) = TestPeer::publish(&h2, &room2, "b", &publisher(VideoCodec::H264, "smpte"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    // `enable_recording` turns recording on for the live room.
    let r = admin
        .sync(json!({"request": "enable_recording", "room": room2, "record": true}))
        .await
        .unwrap();
    assert_eq!(r["record"], true, "{r}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    admin
        .sync(json!({"request": "destroy", "room": room2}))
        .await
        .unwrap();
    drop(b);
    assert_eq!(recordings(&admin, &room2, 1).await.len(), 1);

    // SIGTERM ends a recording.
    let room3 = create_room(&admin, json!({"rec_dir": rec_dir, "record": true})).await;
    let h3 = videoroom_handle(&gw, true).await;
    let (c, _) = TestPeer::publish(&h3, &room3, "c", &publisher(VideoCodec::Vp8, "ball"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(9)).await;
    let status = gw
        .terminate(Duration::from_secs(15))
        .expect("gateway exits on SIGTERM");
    assert!(status.success(), "{status:?}");
    drop(c);

    let all = files(&dir.0);
    assert_eq!(all.len(), 4, "{all:?}");
    for f in &all {
        let (duration, codecs) = probe(f);
        println!("{}: {duration:.2} s {codecs:?}", f.display());
        assert!(duration >= 2.0, "{}: {duration} s", f.display());
        assert!(codecs.len() == 2, "{codecs:?}");
        let errors = decode_errors(f);
        assert!(errors.is_empty(), "{}: {errors}", f.display());
    }
}

/// `kill -9` mid-call: the fragmented file plays up to about 0.5 s before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial(media)]
async fn kill_9_leaves_a_playable_file() {
    gst::init().unwrap();
    let mut gw = Gateway::start();
    let dir = TempDir::new("rec");
    let admin = videoroom_handle(&gw, true).await;
    let room = create_room(&admin, json!({"rec_dir": dir.0.display().to_string()})).await;
    let h = videoroom_handle(&gw, true).await;
    let (peer, _) = TestPeer::publish(&h, &room, "k", &publisher(VideoCodec::H264, "ball"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    h.call(
        json!({"request": "configure", "record": true}),
        None,
        WITHIN,
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs(6)).await;
    gw.kill9();
    drop(peer);
    let all = files(&dir.0);
    assert_eq!(all.len(), 1, "{all:?}");
    let (duration, codecs) = probe(&all[0]);
    println!("after kill -9 at 6 s: {duration:.2} s playable, {codecs:?}");
    assert!(codecs.contains(&"h264".to_owned()), "{codecs:?}");
    // Fragments of 0.5 s: what was written up to about 0.5 s before the kill.
    assert!(duration >= 5.0, "only {duration} s of 6 s survived");
}

/// The mix recording of an MCU room reuses the mix's encode and shows both
/// publishers' colours side by side.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial(media)]
async fn mix_recording_shows_the_grid() {
    gst::init().unwrap();
    let gw = Gateway::start();
    let dir = TempDir::new("rec");
    let admin = videoroom_handle(&gw, true).await;
    let room = create_room(
        &admin,
        json!({"rec_dir": dir.0.display().to_string(), "mixing": "mcu",
               "mix_width": 320, "mix_height": 180, "mix_fps": 15, "mix_bitrate": 500000}),
    )
    .await;
    let solid = |argb: u32| format!("solid-color foreground-color=0x{argb:08x}");
    let ha = videoroom_handle(&gw, true).await;
    let (_a, _) = TestPeer::publish(
        &ha,
        &room,
        "red",
        &publisher(VideoCodec::Vp8, &solid(0xffff0000)),
    )
    .await
    .unwrap();
    let hb = videoroom_handle(&gw, true).await;
    let (_b, _) = TestPeer::publish(
        &hb,
        &room,
        "blue",
        &publisher(VideoCodec::Vp8, &solid(0xff0000ff)),
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    record_mix_for(&admin, &room, Duration::from_secs(4)).await;
    let list = recordings(&admin, &room, 1).await;
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["feed"], "mix");
    let path = PathBuf::from(list[0]["file"].as_str().unwrap());
    assert!(
        path.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("videoroom-"),
        "{path:?}"
    );
    assert_playable(&path, 4.0, 0.7);
    let (w, h) = frame_size(&path).unwrap();
    assert_eq!((w, h), (320, 180));
    let left = pixel(&path, 3.0, w / 4, h / 2).unwrap();
    let right = pixel(&path, 3.0, 3 * w / 4, h / 2).unwrap();
    println!("mix recording: left {left:?}, right {right:?}");
    let red = |p: [u8; 3]| p[0] > 180 && p[1] < 70 && p[2] < 70;
    let blue = |p: [u8; 3]| p[2] > 180 && p[0] < 70 && p[1] < 70;
    assert!(
        (red(left) && blue(right)) || (blue(left) && red(right)),
        "{left:?} {right:?}"
    );
}

/// Bad recording input gets Janus errors and breaks nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial(media)]
async fn bad_recording_requests_get_errors() {
    gst::init().unwrap();
    let gw = Gateway::start();
    let admin = videoroom_handle(&gw, true).await;
    let room = create_room(&admin, json!({"secret": "s", "lock_record": true})).await;
    let err = |r: Result<Value, anyhow::Error>| -> i64 {
        let r = r.map_err(|e| e.to_string());
        r.as_ref()
            .ok()
            .and_then(|v| v["error_code"].as_i64())
            .unwrap_or(-1)
    };
    // SFU room: no mix to record.
    assert_eq!(
        err(admin
            .sync(json!({"request": "record_mix", "room": room, "record": true, "secret": "s"}))
            .await),
        423
    );
    // Missing or mistyped `record`.
    assert_eq!(
        err(admin
            .sync(json!({"request": "enable_recording", "room": room}))
            .await),
        429
    );
    assert_eq!(
        err(admin
            .sync(json!({"request": "enable_recording", "room": room, "record": "yes"}))
            .await),
        430
    );
    // Wrong secret.
    assert_eq!(
        err(admin
            .sync(
                json!({"request": "enable_recording", "room": room, "record": true, "secret": "x"})
            )
            .await),
        433
    );
    // A publisher cannot toggle recording without the secret (lock_record),
    // nor write outside rec_dir.
    let h = videoroom_handle(&gw, true).await;
    h.call(
        json!({"request": "join", "ptype": "publisher", "room": room}),
        None,
        WITHIN,
    )
    .await
    .unwrap();
    let r = h
        .call(
            json!({"request": "configure", "record": true}),
            None,
            WITHIN,
        )
        .await
        .unwrap()
        .0;
    assert_eq!(r["error_code"], 433, "{r}");
    let r = h
        .call(json!({"request": "configure", "record": true, "secret": "s", "filename": "../../etc/x"}), None, WITHIN)
        .await
        .unwrap()
        .0;
    assert_eq!(r["error_code"], 430, "{r}");
    // An unknown record_format.
    let r = admin
        .sync(json!({"request": "create", "room": 4343, "record_format": "avi"}))
        .await
        .unwrap();
    assert_eq!(r["error_code"], 430, "{r}");
    // Unknown room.
    assert_eq!(
        err(admin
            .sync(json!({"request": "enable_recording", "room": 4242, "record": true}))
            .await),
        426
    );
    let r = admin
        .sync(json!({"request": "list_recordings"}))
        .await
        .unwrap();
    assert!(r["recordings"].is_array(), "{r}");
}

/// A/V sync: a white flash and a beep once a second at the publisher are
/// within 40 ms of each other all through the file, also under 5% loss.
async fn av_sync(loss: f64) {
    gst::init().unwrap();
    let gw = Gateway::start();
    let dir = TempDir::new("rec");
    let admin = videoroom_handle(&gw, true).await;
    let room = create_room(
        &admin,
        json!({"rec_dir": dir.0.display().to_string(), "videocodec": "h264"}),
    )
    .await;
    let h = videoroom_handle(&gw, true).await;
    let (peer, stop) = publish_flash_beep(&h, &room, loss).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    record_for(&h, "sync", Duration::from_secs(10)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let list = recordings(&admin, &room, 1).await;
    let path = PathBuf::from(list[0]["file"].as_str().unwrap());
    let (duration, codecs) = probe(&path);
    println!("{loss} loss: {duration:.2} s {codecs:?}");
    assert!((duration - 10.0).abs() <= 0.5, "{duration} s");
    assert_av_sync(&path, loss);
    drop(peer);
}

/// The mix recording keeps the mix's audio and video in sync: the mix's
/// video leaves its pacer later than its audio, so the recording starts at
/// a keyframe no older than the audio's start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial(media)]
async fn mix_recording_keeps_av_sync() {
    gst::init().unwrap();
    let gw = Gateway::start();
    let dir = TempDir::new("rec");
    let admin = videoroom_handle(&gw, true).await;
    let room = create_room(
        &admin,
        json!({"rec_dir": dir.0.display().to_string(), "mixing": "mcu", "videocodec": "h264",
               "mix_width": 320, "mix_height": 180, "mix_fps": 30, "mix_bitrate": 500000}),
    )
    .await;
    let h = videoroom_handle(&gw, true).await;
    let (peer, stop) = publish_flash_beep(&h, &room, 0.0).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    record_mix_for(&admin, &room, Duration::from_secs(10)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let list = recordings(&admin, &room, 1).await;
    let path = PathBuf::from(list[0]["file"].as_str().unwrap());
    let (duration, codecs) = probe(&path);
    println!("mix: {duration:.2} s {codecs:?}");
    assert!((duration - 10.0).abs() <= 0.7, "{duration} s");
    assert_av_sync(&path, 0.0);
    drop(peer);
}

/// 5% of the publisher's RTP packets lost before the gateway: the file still
/// has its full length, both tracks and hardly a decoder complaint (lost
/// audio is filled with silence, lost video waits for a keyframe).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial(media)]
async fn five_percent_loss_keeps_length_and_sync() {
    av_sync(0.05).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial(media)]
async fn flash_and_beep_stay_in_sync() {
    av_sync(0.0).await;
}

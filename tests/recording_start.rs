//! A recording keeps its start (issue 11 §6): `kill -9` after N seconds of
//! media leaves a file of at least N − 1 s, with audio and video within
//! 40 ms, for a room created with `record: true` and for one publisher's
//! `configure` `record: true` sent right after it published. The start does
//! not wait for the publisher's RTCP sender reports: what arrives before
//! them is held and stamped once they come.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use serial_test::serial;

use common::avsync::{assert_av_sync_with, publish_flash_beep};
use common::{Gateway, TempDir, create_room, probe, videoroom_handle};

const WITHIN: Duration = Duration::from_secs(10);
/// Seconds of media before the kill.
const N: f64 = 8.0;

/// The one MP4 file in `dir`.
fn only_file(dir: &Path) -> PathBuf {
    let files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    let mp4: Vec<PathBuf> = files
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "mp4"))
        .collect();
    assert_eq!(mp4.len(), 1, "{mp4:?}");
    mp4[0].clone()
}

/// The last frame's end (s) in the first stream of `kind` (`v` or `a`).
fn track_end(path: &Path, kind: &str) -> f64 {
    let out = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", &format!("{kind}:0")])
        .args([
            "-show_entries",
            "packet=pts_time,duration_time",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .expect("ffprobe");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut it = l.split(',').map(|v| v.trim().parse::<f64>().ok());
            Some(it.next()?? + it.next().flatten().unwrap_or(0.0))
        })
        .fold(0.0, f64::max)
}

/// Kills the gateway `N` s after `start` and checks the file it leaves.
async fn kill_and_check(mut gw: Gateway, start: Instant, dir: &TempDir, what: &str) {
    let kill_at = start + Duration::from_secs_f64(N);
    tokio::time::sleep_until(kill_at.into()).await;
    gw.kill9();
    let path = only_file(&dir.0);
    let (duration, codecs) = probe(&path);
    println!("{what}: kill -9 after {N} s of media: {duration:.2} s playable, {codecs:?}");
    assert!(
        codecs.contains(&"h264".to_owned()) && codecs.contains(&"aac".to_owned()),
        "{codecs:?}"
    );
    let (video, audio) = (track_end(&path, "v"), track_end(&path, "a"));
    println!("{what}: video to {video:.2} s, audio to {audio:.2} s");
    assert!(
        video.min(audio) >= N - 1.0,
        "{what}: only {video:.2} s of video and {audio:.2} s of audio of {N} s"
    );
    // A flash and a beep a second: at least N − 2 pairs (the first frame
    // is not counted, the last fragment may be cut).
    assert_av_sync_with(&path, 0.0, N as usize - 3, false);
}

async fn room(gw: &Gateway, dir: &TempDir, record: bool) -> Value {
    let admin = videoroom_handle(gw, true).await;
    create_room(
        &admin,
        json!({"rec_dir": dir.0.display().to_string(), "videocodec": "h264", "record": record}),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial(media)]
async fn a_room_wide_recording_keeps_its_start() {
    gst::init().unwrap();
    let gw = Gateway::start();
    let dir = TempDir::new("recstart");
    let room = room(&gw, &dir, true).await;
    let h = videoroom_handle(&gw, true).await;
    let (_peer, _stop) = publish_flash_beep(&h, &room, 0.0).await;
    let start = Instant::now();
    kill_and_check(gw, start, &dir, "room-wide").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial(media)]
async fn a_publisher_recording_started_at_once_keeps_its_start() {
    gst::init().unwrap();
    let gw = Gateway::start();
    let dir = TempDir::new("recstart");
    let room = room(&gw, &dir, false).await;
    let h = videoroom_handle(&gw, true).await;
    let (_peer, _stop) = publish_flash_beep(&h, &room, 0.0).await;
    let start = Instant::now();
    h.call(
        json!({"request": "configure", "record": true}),
        None,
        WITHIN,
    )
    .await
    .unwrap();
    kill_and_check(gw, start, &dir, "per-publisher").await;
}

//! Recording faults (issue 11 §6): the recording directory fills up
//! mid-recording. The test mounts a small tmpfs as the room's `rec_dir`
//! (it needs the right to mount, as root has here; without it the test says
//! so and passes). The call goes on, the publisher and the room's other
//! participants get the recording error event, the file plays up to the
//! failure, and `list_recordings` lists it.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use gateway_testkit::peer::{PublisherSpec, TestPeer, VideoCodec};
use serde_json::{Value, json};
use serial_test::serial;

use common::{Gateway, TempDir, create_room, probe, videoroom_handle};

const WITHIN: Duration = Duration::from_secs(10);
/// The tmpfs size: a few seconds of the test publisher's media.
const SIZE_KB: u32 = 200;

/// A tmpfs mounted on a fresh directory, unmounted (by path) on drop.
struct Tmpfs {
    dir: TempDir,
}

impl Tmpfs {
    fn mount(size_kb: u32) -> Option<Tmpfs> {
        let dir = TempDir::new("tmpfs");
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_kb}k"), "tmpfs"])
            .arg(&dir.0)
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(Tmpfs { dir })
    }

    fn path(&self) -> &Path {
        &self.dir.0
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir.0).status();
    }
}

fn is_failure(e: &Value) -> bool {
    e["plugindata"]["data"]["recording"]["state"] == "failed"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial(media)]
async fn a_full_disk_ends_the_recording_not_the_call() {
    gst::init().unwrap();
    let Some(fs) = Tmpfs::mount(SIZE_KB) else {
        eprintln!("SKIPPED: cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN)");
        return;
    };
    let gw = Gateway::start();
    let admin = videoroom_handle(&gw, true).await;
    let room = create_room(
        &admin,
        json!({"rec_dir": fs.path().display().to_string(), "videocodec": "h264"}),
    )
    .await;
    let h = videoroom_handle(&gw, true).await;
    let spec = PublisherSpec {
        codec: VideoCodec::H264,
        video_patterns: vec!["ball".into()],
        audio_hz: Some(440.0),
        width: 320,
        height: 240,
        fps: 30,
        gop: 30,
    };
    let (_publisher, joined) = TestPeer::publish(&h, &room, "full", &spec).await.unwrap();
    // Another participant of the room, and a subscriber that decodes.
    let other = videoroom_handle(&gw, true).await;
    other
        .call(
            json!({"request": "join", "ptype": "publisher", "room": room, "display": "other"}),
            None,
            WITHIN,
        )
        .await
        .unwrap();
    let sh = videoroom_handle(&gw, true).await;
    let (sub, _) = TestPeer::subscribe(&sh, &room, json!([{"feed": joined["id"]}]), true)
        .await
        .unwrap();
    let started = Instant::now();
    h.call(
        json!({"request": "configure", "record": true}),
        None,
        WITHIN,
    )
    .await
    .unwrap();
    let ev = match h.wait_for(is_failure, Duration::from_secs(60)).await {
        Ok(ev) => ev,
        Err(e) => {
            // What was written meanwhile, kept for a look.
            for f in std::fs::read_dir(fs.path()).into_iter().flatten().flatten() {
                let keep = std::env::temp_dir().join(format!(
                    "gw-failed-full-disk-{}",
                    f.file_name().to_string_lossy()
                ));
                let _ = std::fs::copy(f.path(), &keep);
                let size = f.metadata().map(|m| m.len()).unwrap_or(0);
                eprintln!(
                    "{}: {size} bytes (copy: {})",
                    f.path().display(),
                    keep.display()
                );
            }
            panic!("the publisher's recording error event: {e}");
        }
    };
    let failed_after = started.elapsed();
    let r = &ev["plugindata"]["data"]["recording"];
    println!("recording failed after {failed_after:.1?}: {r}");
    assert_eq!(r["id"], joined["id"], "{ev}");
    assert!(r["reason"].as_str().is_some_and(|s| !s.is_empty()), "{ev}");
    let file = PathBuf::from(r["file"].as_str().expect("file"));
    assert!(file.starts_with(fs.path()), "{ev}");
    other
        .wait_for(is_failure, WITHIN)
        .await
        .expect("the room's recording error event");
    // The call goes on.
    let before = sub.stats.frames();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = sub.stats.frames();
    println!(
        "subscriber frames in the 2 s after the failure: {}",
        after - before
    );
    assert!(after - before >= 20, "the call stalled: {before} → {after}");
    // Listed, once finalizing gave up on the full disk.
    let deadline = Instant::now() + Duration::from_secs(15);
    let listed = loop {
        let l = admin
            .sync(json!({"request": "list_recordings", "room": room}))
            .await
            .unwrap();
        let list = l["recordings"].as_array().cloned().unwrap_or_default();
        if let Some(e) = list.into_iter().find(|e| e["file"] == r["file"]) {
            break e;
        }
        assert!(Instant::now() < deadline, "not listed: {l}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    println!("listed: {listed}");
    // Playable up to the failure.
    let (duration, codecs) = probe(&file);
    println!("{}: {duration:.2} s {codecs:?}", file.display());
    assert!(codecs.contains(&"h264".to_owned()), "{codecs:?}");
    assert!(duration >= 1.0, "{duration} s");
    let decoded = Command::new("ffprobe")
        .args(["-v", "quiet", "-count_frames", "-select_streams", "v:0"])
        .args(["-show_entries", "stream=nb_read_frames", "-of", "csv=p=0"])
        .arg(&file)
        .output()
        .expect("ffprobe");
    let frames: u64 = String::from_utf8_lossy(&decoded.stdout)
        .trim()
        .trim_end_matches(',')
        .parse()
        .unwrap_or(0);
    println!("decoded frames: {frames}");
    assert!(frames >= 25, "{frames} frames decode");
    drop(sub);
}

//! The operator console (issue 11 §7) in headless Chromium: with a room
//! running (a webrtcbin publisher and a subscriber counting packets), the
//! console served at the admin listener's `/admin/` lists the room and its
//! publisher, mutes the publisher's audio (the subscriber's audio packets
//! stop, video goes on), and starts the room's recording, which is then
//! listed as running. The recording link serves the file with the admin
//! secret only, and only files `list_recordings` lists.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use gateway_testkit::peer::{PublisherSpec, TestPeer};
use serde_json::json;
use serial_test::serial;

use common::{Gateway, create_room, videoroom_handle};

const WITHIN: Duration = Duration::from_secs(10);
const BROWSER_TIMEOUT: Duration = Duration::from_secs(90);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial(media)]
async fn the_console_lists_mutes_and_records() {
    gst::init().unwrap();
    let repo = env!("CARGO_MANIFEST_DIR");
    assert!(
        std::path::Path::new(repo)
            .join("node_modules/playwright-core")
            .is_dir(),
        "node_modules missing: run `npm ci`"
    );
    let gw = Gateway::start_admin("[general]\nadmin_secret = \"adm\"\n", "");
    let admin_url = gw.admin.clone().expect("admin listener");
    let dir = common::TempDir::new("console");
    let owner = videoroom_handle(&gw, true).await;
    let room = create_room(&owner, json!({"rec_dir": dir.0.display().to_string()})).await;
    let ph = videoroom_handle(&gw, true).await;
    let (_publisher, joined) = TestPeer::publish(&ph, &room, "talker", &PublisherSpec::default())
        .await
        .unwrap();
    let feed = joined["id"].clone();
    let sh = videoroom_handle(&gw, true).await;
    let (sub, _) = TestPeer::subscribe(&sh, &room, json!([{"feed": feed}]), false)
        .await
        .unwrap();
    assert!(
        sub.wait_until(WITHIN, |s| s.audio_packets.load(Ordering::Relaxed) > 20)
            .await,
        "the subscriber gets audio before the console acts"
    );

    // The console, in Chromium.
    let mut child = Command::new("node")
        .current_dir(repo)
        .arg("tests/browser/console.mjs")
        .arg(format!("{admin_url}/"))
        .arg("adm")
        .arg(room.to_string())
        .arg(feed.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .expect("node");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            println!("{line}");
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + BROWSER_TIMEOUT;
    let mut recording = None;
    let mut ok = false;
    while Instant::now() < deadline {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(l) if l.starts_with("RECORDING ") => recording = Some(l[10..].to_owned()),
            Ok(l) if l == "browser-console: ok" => ok = true,
            Ok(_) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    let status = child.wait().expect("node");
    assert!(
        ok && status.success(),
        "the console script failed: {status}"
    );

    // Muted from the console: no more audio at the subscriber, video goes on.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (a0, v0) = (
        sub.stats.audio_packets.load(Ordering::Relaxed),
        sub.stats.video_packets.load(Ordering::Relaxed),
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (a1, v1) = (
        sub.stats.audio_packets.load(Ordering::Relaxed),
        sub.stats.video_packets.load(Ordering::Relaxed),
    );
    println!(
        "after the console's mute, in 1.5 s: audio packets +{}, video +{}",
        a1 - a0,
        v1 - v0
    );
    assert_eq!(a1, a0, "audio still flows after the console muted it");
    assert!(v1 > v0 + 10, "video stopped too");

    // The recording the console started: running, and served by its link.
    let file = recording.expect("the console showed a running recording");
    let list = owner
        .sync(json!({"request": "list_recordings", "room": room}))
        .await
        .unwrap();
    assert!(
        list["running"]
            .as_array()
            .is_some_and(|l| l.iter().any(|r| r["file"] == file.as_str())),
        "{list}"
    );
    let url = |f: &str, secret: &str| format!("{admin_url}/recordings{f}?admin_secret={secret}");
    let got = reqwest::get(url(&file, "adm")).await.unwrap();
    assert_eq!(got.status(), 200);
    let bytes = got.bytes().await.unwrap();
    assert!(
        bytes.len() > 8 && &bytes[4..8] == b"ftyp",
        "not an MP4: {} bytes",
        bytes.len()
    );
    let refused = reqwest::get(url(&file, "wrong")).await.unwrap();
    assert_eq!(refused.status(), 403);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], 403, "{body}");
    let unlisted = reqwest::get(url("/etc/passwd", "adm")).await.unwrap();
    assert_eq!(unlisted.status(), 404);
    // The page itself: at /admin/, and /admin redirects there; not on the public site.
    for u in [format!("{admin_url}/"), admin_url.clone()] {
        let page = reqwest::get(&u).await.unwrap();
        assert_eq!(page.status(), 200, "{u}");
        assert!(page.text().await.unwrap().contains("console.js"), "{u}");
    }
    let public = reqwest::get(format!("{}/console/", gw.site)).await.unwrap();
    assert_eq!(public.status(), 404);
}

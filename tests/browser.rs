//! Headless Chromium (Debian `chromium`, fake camera and microphone) loads the
//! demo page twice, as two participants of one room; each page's remote
//! `<video>` must really play (`videoWidth > 0`, `currentTime` advancing).
//! The page uses janus.js from the npm package `janus-gateway`. A third run
//! uses the page's MCU mode and checks the mix plays.

mod common;

use std::process::Command;
use std::time::Duration;

use common::Gateway;

/// The whole browser run is bounded by the script (30 s) plus start-up.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(90);

fn run_browser_test(server_override: Option<&str>) {
    run_script("tests/browser/videoroom.mjs", server_override);
}

fn run_script(script: &str, server_override: Option<&str>) {
    assert!(try_script(script, server_override), "browser test failed");
}

/// Runs `script` against a fresh gateway; whether it passed.
fn try_script(script: &str, server_override: Option<&str>) -> bool {
    let repo = env!("CARGO_MANIFEST_DIR");
    assert!(
        std::path::Path::new(repo)
            .join("node_modules/playwright-core")
            .is_dir(),
        "node_modules missing: run `npm ci` (the README's set-up command does)"
    );
    assert!(
        std::path::Path::new("/usr/bin/chromium").exists(),
        "Debian's chromium is not installed"
    );
    let gw = Gateway::start();
    let mut cmd = Command::new("node");
    cmd.current_dir(repo)
        .arg(script)
        .arg(format!("{}/", gw.site));
    if let Some(s) = server_override {
        cmd.arg(s.replace("{ws}", &gw.ws).replace("{http}", &gw.http));
    }
    wait_node(cmd.spawn().expect("node"))
}

/// Waits (bounded) for a browser script; whether it passed.
fn wait_node(mut child: std::process::Child) -> bool {
    let deadline = std::time::Instant::now() + BROWSER_TIMEOUT;
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("browser test did not finish within {BROWSER_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    status.success()
}

#[test]
#[serial_test::serial(media)]
fn chromium_demo_page_over_websocket() {
    run_browser_test(None);
}

#[test]
#[serial_test::serial(media)]
fn chromium_demo_page_over_http_long_poll() {
    run_browser_test(Some("{http}"));
}

/// An MCU room from the demo page (`?mode=mcu`): two fake cameras, each page
/// plays the 640x360 mix with both tiles lit.
#[test]
#[serial_test::serial(media)]
fn chromium_demo_page_mcu_mix() {
    run_script("tests/browser/mcu.mjs", None);
}

/// Simulcast from the demo page: janus.js publishes 1280x720 with
/// `simulcast: true`; the other page's layer picker goes 0 → 2 → 0 and its
/// `<video>` width follows (320 → 1280 → 320), with the `substream` events.
#[test]
#[serial_test::serial(media)]
fn chromium_simulcast_layer_switching() {
    // Headless Chromium sometimes captures its fake camera at 640x480
    // despite the page's 1280x720 request (2 runs in 8 on the 2-core
    // machine): its 4:3 layers then have no 1280-wide top. One retry, on a
    // fresh gateway and browser; the failed run's log says what it got.
    if !try_script("tests/browser/simulcast.mjs", None) {
        eprintln!("chromium_simulcast_layer_switching: failed once; retrying");
        run_script("tests/browser/simulcast.mjs", None);
    }
}

/// The demo's streaming page in Chromium plays an RTSP mountpoint whose
/// camera sends H.264 High with B-frames and AAC: transcoded by the gateway
/// (constrained-baseline H.264, Opus) and played by the browser.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[serial_test::serial(media)]
async fn chromium_plays_an_rtsp_mountpoint() {
    gst::init().unwrap();
    let cam = common::Server::rtsp(0, &["--profile", "high", "--audio", "aac"]);
    let gw = Gateway::start();
    let admin = common::streaming_handle(&gw, true).await;
    let r = admin
        .sync(serde_json::json!({"request": "create", "type": "rtsp", "id": 31, "description": "High camera", "url": cam.url}))
        .await
        .unwrap();
    assert_eq!(r["streaming"], "created", "{r}");
    let repo = env!("CARGO_MANIFEST_DIR");
    let child = Command::new("node")
        .current_dir(repo)
        .arg("tests/browser/streaming.mjs")
        .arg(format!("{}/", gw.site))
        .arg("31")
        .spawn()
        .expect("node");
    // The node script is bounded; waiting on a blocking thread keeps the
    // runtime free.
    tokio::task::spawn_blocking(move || wait_node(child))
        .await
        .unwrap();
}

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
    let mut child = cmd.spawn().expect("node");
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
    assert!(status.success(), "browser test failed: {status}");
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

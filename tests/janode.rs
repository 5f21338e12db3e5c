//! janode (the Janus Node.js SDK, npm `janode`) drives the gateway unchanged
//! over WebSocket: see `tests/janode/videoroom.mjs`, and its Admin API
//! client with token auth: `tests/janode/admin.mjs`.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::Gateway;

const JANODE_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs `node <script> <args>` from the repo, bounded by [`JANODE_TIMEOUT`].
fn run_node(script: &str, args: &[&str]) {
    let repo = env!("CARGO_MANIFEST_DIR");
    let mut child = Command::new("node")
        .current_dir(repo)
        .arg(script)
        .args(args)
        .spawn()
        .expect("node");
    let deadline = Instant::now() + JANODE_TIMEOUT;
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{script} did not finish within {JANODE_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "{script} failed: {status}");
}

/// janode's admin client and a janode connection with a stored token.
#[test]
#[serial_test::serial(media)]
fn janode_admin_and_tokens() {
    let gw = Gateway::start_admin(
        "[general]\nsession_timeout = 60\ntoken_auth = true\nadmin_secret = \"janode-admin\"\n",
        "",
    );
    let admin_ws = gw.admin_ws.clone().expect("admin websocket on");
    run_node(
        "tests/janode/admin.mjs",
        &[&gw.ws, &admin_ws, "janode-admin"],
    );
}

#[test]
#[serial_test::serial(media)]
fn janode_videoroom_flow() {
    let repo = env!("CARGO_MANIFEST_DIR");
    assert!(
        std::path::Path::new(repo)
            .join("node_modules/janode")
            .is_dir(),
        "node_modules missing: run scripts/install-deps.sh"
    );
    let gw = Gateway::start();
    run_node("tests/janode/videoroom.mjs", &[&gw.ws]);
}

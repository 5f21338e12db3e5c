//! janode (the Janus Node.js SDK, npm `janode`) drives the gateway unchanged
//! over WebSocket: see `tests/janode/videoroom.mjs`.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::Gateway;

const JANODE_TIMEOUT: Duration = Duration::from_secs(60);

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
    let mut child = Command::new("node")
        .current_dir(repo)
        .arg("tests/janode/videoroom.mjs")
        .arg(&gw.ws)
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
            panic!("janode test did not finish within {JANODE_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "janode test failed: {status}");
}

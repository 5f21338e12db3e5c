//! janode (the Janus Node.js SDK, npm `janode`) drives the gateway unchanged
//! over WebSocket: see `tests/janode/videoroom.mjs`, and its Admin API
//! client with token auth: `tests/janode/admin.mjs`.

mod common;

use std::time::Duration;

use common::Gateway;

const JANODE_TIMEOUT: Duration = Duration::from_secs(60);

fn run_node(script: &str, args: &[&str]) {
    common::run_node(script, args, &[], JANODE_TIMEOUT);
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

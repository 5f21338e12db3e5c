//! TLS on every front door (`[http] https`, `admin_https`, `[websockets]
//! wss`, `admin_wss`) with a self-signed certificate the test makes with
//! Debian's openssl: curl checks it properly (`--cacert`), janode runs its
//! videoroom flow over `wss://` (Node trusts the certificate through
//! `NODE_EXTRA_CA_CERTS`), and janus.js in Chromium runs the demo page from
//! `https://` over WSS and over the HTTPS long poll.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use common::{Gateway, TempDir};

const NODE_TIMEOUT: Duration = Duration::from_secs(90);

/// A self-signed certificate for 127.0.0.1 and localhost: (cert, key).
fn self_signed(dir: &Path) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "2", "-subj", "/CN=127.0.0.1"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl (Debian package openssl)");
    assert!(
        out.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert, key)
}

/// `curl --cacert cert` (the certificate verified, not skipped), bounded.
fn curl(cert: &Path, args: &[&str]) -> Value {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "--cacert"])
        .arg(cert)
        .args(args)
        .output()
        .expect("curl");
    assert!(
        out.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "curl {args:?}: not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn run_node(script: &str, args: &[&str], env: &[(&str, &Path)]) {
    common::run_node(script, args, env, NODE_TIMEOUT);
}

fn tls_gateway(dir: &TempDir) -> (Gateway, PathBuf) {
    let (cert, key) = self_signed(&dir.0);
    let gw = Gateway::start_tls(
        "[general]\nsession_timeout = 60\nadmin_secret = \"adm\"\n",
        &cert,
        &key,
    );
    (gw, cert)
}

#[test]
#[serial_test::serial(media)]
fn https_wss_and_admin_over_tls_with_curl_and_janode() {
    let dir = TempDir::new("tls");
    let (gw, cert) = tls_gateway(&dir);
    let https = gw.https.clone().expect("https on");
    let info = curl(&cert, &[&format!("{https}/janus/info")]);
    assert_eq!(info["janus"], "server_info", "{info}");
    let created = curl(
        &cert,
        &[
            "-d",
            r#"{"janus":"create","transaction":"t"}"#,
            &format!("{https}/janus"),
        ],
    );
    assert!(created["data"]["id"].as_u64().is_some(), "{created}");
    // The demo page and its config are there too, naming the WSS port.
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "--cacert"])
        .arg(&cert)
        .arg(format!("{https}/config.js"))
        .output()
        .unwrap();
    let js = String::from_utf8_lossy(&out.stdout);
    let wss_port = gw
        .wss
        .as_deref()
        .and_then(|w| w.rsplit(':').next())
        .unwrap()
        .to_owned();
    assert!(js.contains(&format!("\"wss_port\":{wss_port}")), "{js}");
    // Admin over HTTPS.
    let admin = gw.admin_https.clone().expect("admin https on");
    let r = curl(
        &cert,
        &[
            "-d",
            r#"{"janus":"list_sessions","transaction":"t","admin_secret":"adm"}"#,
            &admin,
        ],
    );
    assert_eq!(r["sessions"].as_array().map(Vec::len), Some(1), "{r}");
    // A plain-HTTP request to the TLS port is refused, and the server goes on.
    let plain = Command::new("curl")
        .args(["-sS", "--max-time", "5"])
        .arg(format!(
            "{}/janus/info",
            https.replace("https://", "http://")
        ))
        .output()
        .unwrap();
    assert!(
        !plain.status.success()
            || plain.stdout.is_empty()
            || !String::from_utf8_lossy(&plain.stdout).contains("server_info")
    );
    let again = curl(&cert, &[&format!("{https}/janus/info")]);
    assert_eq!(again["janus"], "server_info");
    // janode over wss:// (its videoroom flow); its admin client: `janode_admin_over_admin_wss`.
    let wss = gw.wss.clone().expect("wss on");
    run_node(
        "tests/janode/videoroom.mjs",
        &[&wss],
        &[("NODE_EXTRA_CA_CERTS", &cert)],
    );
}

/// janode's admin client (`is_admin`) over the admin `wss://` listener, with
/// a stored token it adds used by a public janode connection over `wss://`.
#[test]
#[serial_test::serial(media)]
fn janode_admin_over_admin_wss() {
    let dir = TempDir::new("tls-admin");
    let (cert, key) = self_signed(&dir.0);
    let gw = Gateway::start_tls(
        "[general]\nsession_timeout = 60\ntoken_auth = true\nadmin_secret = \"janode-admin\"\n",
        &cert,
        &key,
    );
    let wss = gw.wss.clone().expect("wss on");
    let admin_wss = gw.admin_wss.clone().expect("admin wss on");
    run_node(
        "tests/janode/admin.mjs",
        &[&wss, &admin_wss, "janode-admin"],
        &[("NODE_EXTRA_CA_CERTS", &cert)],
    );
}

#[test]
#[serial_test::serial(media)]
fn chromium_demo_page_over_https_and_wss() {
    let repo = env!("CARGO_MANIFEST_DIR");
    assert!(
        Path::new(repo)
            .join("node_modules/playwright-core")
            .is_dir(),
        "node_modules missing: run scripts/install-deps.sh"
    );
    let dir = TempDir::new("tls-browser");
    let (gw, _cert) = tls_gateway(&dir);
    let site = format!("{}/", gw.https.clone().expect("https on"));
    // The page picks wss:// itself (from /config.js) when loaded over https://.
    run_node("tests/browser/videoroom.mjs", &[&site], &[]);
    // And the HTTPS long poll.
    let https_api = format!("{}/janus", gw.https.clone().unwrap());
    run_node("tests/browser/videoroom.mjs", &[&site, &https_api], &[]);
}

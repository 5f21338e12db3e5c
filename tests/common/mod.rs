//! Shared test support: the real gateway binary started on free loopback
//! ports with a temporary config, and stopped by its pid.

#![allow(dead_code)]

pub mod avsync;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gateway_testkit::janus::{Handle, Session};
use serde_json::{Value, json};

/// How long the gateway may take to print its READY line.
const START_TIMEOUT: Duration = Duration::from_secs(20);

pub const VIDEOROOM: &str = "janus.plugin.videoroom";

/// A running gateway process.
pub struct Gateway {
    child: Child,
    /// `http://127.0.0.1:<port>/janus`
    pub http: String,
    /// `ws://127.0.0.1:<port>`
    pub ws: String,
    /// `http://127.0.0.1:<port>`
    pub site: String,
    /// `rtsp://127.0.0.1:<port>` when the gateway serves RTSP.
    pub rtsp: Option<String>,
    /// `http://127.0.0.1:<port>/admin` when the Admin API is on.
    pub admin: Option<String>,
    /// `ws://127.0.0.1:<port>` of the Admin API when it is on.
    pub admin_ws: Option<String>,
    /// `https://127.0.0.1:<port>` (the site; the API is at `/janus`) when HTTPS is on.
    pub https: Option<String>,
    /// `wss://127.0.0.1:<port>` when WSS is on.
    pub wss: Option<String>,
    /// `https://127.0.0.1:<port>/admin` when admin HTTPS is on.
    pub admin_https: Option<String>,
    /// `wss://127.0.0.1:<port>` of the Admin API when admin WSS is on.
    pub admin_wss: Option<String>,
    _dir: TempDir,
}

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!(
            "gw-test-{tag}-{}-{}",
            std::process::id(),
            rand_u32()
        ));
        std::fs::create_dir_all(&p).expect("temp dir");
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn rand_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(Instant::now().elapsed().as_nanos());
    h.finish() as u32
}

/// A random room id for one test.
pub fn room_id() -> u64 {
    100_000 + (rand_u32() as u64 % 1_000_000)
}

impl Gateway {
    /// Starts the gateway with `extra` TOML appended to a loopback config.
    pub fn start_with(extra: &str) -> Gateway {
        Self::start_config("[general]\nsession_timeout = 60\n", extra)
    }

    /// Starts the gateway with its `[general]` section and `extra` TOML
    /// (the Admin API off).
    pub fn start_config(general: &str, extra: &str) -> Gateway {
        Self::start_full(general, extra, None)
    }

    /// Starts the gateway with the Admin API on free ports (HTTP and WebSocket).
    pub fn start_admin(general: &str, extra: &str) -> Gateway {
        Self::start_full(general, extra, Some((free_tcp_port(), free_tcp_port())))
    }

    /// Starts the gateway with every listener also over TLS (free ports),
    /// with the certificate and key files given.
    pub fn start_tls(general: &str, cert: &std::path::Path, key: &std::path::Path) -> Gateway {
        let extra = format!(
            "[certificates]\ncert_pem = \"{}\"\ncert_key = \"{}\"\n",
            cert.display(),
            key.display()
        );
        Self::start_full_with(
            general,
            &extra,
            Some((free_tcp_port(), free_tcp_port())),
            "https = true\nsecure_port = 0\nadmin_https = true\nadmin_secure_port = 0\n",
            "wss = true\nwss_port = 0\nadmin_wss = true\nadmin_wss_port = 0\n",
        )
    }

    fn start_full(general: &str, extra: &str, admin: Option<(u16, u16)>) -> Gateway {
        Self::start_full_with(general, extra, admin, "", "")
    }

    fn start_full_with(
        general: &str,
        extra: &str,
        admin: Option<(u16, u16)>,
        http_extra: &str,
        ws_extra: &str,
    ) -> Gateway {
        Self::start_full_env(general, extra, admin, http_extra, ws_extra, &[])
    }

    /// [`Gateway::start_with`] with extra environment variables for the process.
    pub fn start_with_env(extra: &str, env: &[(&str, &std::path::Path)]) -> Gateway {
        Self::start_full_env(
            "[general]\nsession_timeout = 60\n",
            extra,
            None,
            "",
            "",
            env,
        )
    }

    fn start_full_env(
        general: &str,
        extra: &str,
        admin: Option<(u16, u16)>,
        http_extra: &str,
        ws_extra: &str,
        env: &[(&str, &std::path::Path)],
    ) -> Gateway {
        let (admin_port, admin_ws_port) = admin.unwrap_or((0, 0));
        let dir = TempDir::new("gw");
        let repo = env!("CARGO_MANIFEST_DIR");
        // The shipped encoder catalog, unless the test brings its own.
        let encoder = if extra.contains("[encoder]") {
            String::new()
        } else {
            format!("[encoder]\ncatalog = \"{repo}/pipelines/encoders.toml\"")
        };
        let cfg = format!(
            r#"
{general}
[http]
ip = "127.0.0.1"
port = 0
demo_dir = "{repo}/demo"
vendor_dir = "{repo}/node_modules"
admin_port = {admin_port}
{http_extra}
[websockets]
ws_ip = "127.0.0.1"
ws_port = 0
admin_ws_port = {admin_ws_port}
{ws_extra}
[nat]
ice_enforce_list = ["127.0.0.1"]
[media]
rtp_port_range = ""
{encoder}
[rtsp]
port = 0
{extra}
"#
        );
        let path = dir.0.join("gateway.toml");
        std::fs::write(&path, cfg).expect("write config");
        let mut child = Command::new(env!("CARGO_BIN_EXE_webrtc-gateway"))
            .arg("--config")
            .arg(&path)
            .envs(env.iter().map(|(k, v)| (*k, v.as_os_str())))
            .env(
                "GATEWAY_LOG",
                std::env::var("GATEWAY_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn gateway");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.starts_with("READY") {
                    let _ = tx.send(line);
                }
            }
        });
        let line = match rx.recv_timeout(START_TIMEOUT) {
            Ok(l) => l,
            Err(_) => {
                let _ = child.kill();
                panic!("gateway did not start within {START_TIMEOUT:?}");
            }
        };
        let field = |k: &str| {
            line.split_whitespace()
                .find_map(|f| f.strip_prefix(k))
                .expect("READY line field")
                .to_owned()
        };
        let (http, ws) = (field("http="), field("ws="));
        let rtsp = line
            .split_whitespace()
            .find_map(|f| f.strip_prefix("rtsp="))
            .map(|a| format!("rtsp://{a}"));
        let opt = |k: &str| {
            line.split_whitespace()
                .find_map(|f| f.strip_prefix(k))
                .map(str::to_owned)
        };
        Gateway {
            child,
            http: format!("http://{http}/janus"),
            ws: format!("ws://{ws}"),
            site: format!("http://{http}"),
            rtsp,
            admin: opt("admin=").map(|a| format!("http://{a}/admin")),
            admin_ws: opt("admin_ws=").map(|a| format!("ws://{a}")),
            https: opt("https=").map(|a| format!("https://{a}")),
            wss: opt("wss=").map(|a| format!("wss://{a}")),
            admin_https: opt("admin_https=").map(|a| format!("https://{a}/admin")),
            admin_wss: opt("admin_wss=").map(|a| format!("wss://{a}")),
            _dir: dir,
        }
    }

    pub fn start() -> Gateway {
        Self::start_with("")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM and waits (at most `limit`) for the exit status.
    pub fn terminate(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(st)) = self.child.try_wait() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// `kill -9`: the process gets no chance to clean up.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Whether the process still runs.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// One Prometheus gauge from `/metrics`.
    pub async fn metric(&self, name: &str) -> Option<f64> {
        let text = reqwest::get(format!("{}/metrics", self.site))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
    }

    /// Waits until a gauge equals `want`, at most `timeout`.
    pub async fn wait_metric(&self, name: &str, want: f64, timeout: Duration) -> Option<f64> {
        let deadline = Instant::now() + timeout;
        loop {
            let v = self.metric(name).await;
            if v == Some(want) || Instant::now() > deadline {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// A session over WebSocket (`ws`) or HTTP.
    pub async fn session(&self, ws: bool) -> Arc<Session> {
        if ws {
            Session::connect_ws(&self.ws).await
        } else {
            Session::connect_http(&self.http).await
        }
        .expect("janus session")
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        // Stop our own process by its pid, and reap it.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A videoroom handle on a new session.
pub async fn videoroom_handle(gw: &Gateway, ws: bool) -> Arc<Handle> {
    let s = gw.session(ws).await;
    Arc::new(s.attach(VIDEOROOM).await.expect("attach"))
}

/// Creates a room and returns its id.
pub async fn create_room(admin: &Handle, extra: Value) -> Value {
    let room = room_id();
    let mut body = json!({"request": "create", "room": room, "publishers": 6, "videocodec": "vp8,h264", "audiocodec": "opus"});
    if let (Value::Object(b), Value::Object(e)) = (&mut body, extra) {
        b.extend(e);
    }
    let r = admin.sync(body).await.expect("create");
    assert_eq!(r["videoroom"], "created", "{r}");
    r["room"].clone()
}

/// `ffprobe`'s view of a media file: format duration (s) and stream codec
/// names (needs `ffmpeg`'s ffprobe).
pub fn probe(path: &std::path::Path) -> (f64, Vec<String>) {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration:stream=codec_name",
            "-of",
            "json",
        ])
        .arg(path)
        .output()
        .expect("ffprobe runs (apt-get install ffmpeg)");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    let duration = v["format"]["duration"]
        .as_str()
        .and_then(|d| d.parse().ok())
        .unwrap_or(0.0);
    let codecs = v["streams"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s["codec_name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    (duration, codecs)
}

/// What `ffmpeg -v error -i f -f null -` prints: empty when every frame
/// decodes (bounded to 60 s).
pub fn decode_errors(path: &std::path::Path) -> String {
    let out = Command::new("timeout")
        .args(["60", "ffmpeg", "-nostdin", "-v", "error", "-i"])
        .arg(path)
        .args(["-f", "null", "-"])
        .output()
        .expect("ffmpeg runs");
    let errors = String::from_utf8_lossy(&out.stderr).into_owned();
    if !errors.is_empty() || std::env::var_os("GW_KEEP").is_some() {
        // Kept for diagnosis: the test's directory is removed on drop.
        let keep = std::env::temp_dir().join(format!(
            "gw-failed-decode-{}-{}",
            std::process::id(),
            path.file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
        ));
        if std::fs::copy(path, &keep).is_ok() {
            eprintln!("decode errors: the file is kept as {}", keep.display());
        }
    }
    errors
}

/// A child process that prints `READY <url>` once it serves, stopped by its
/// pid on drop.
pub struct Server {
    child: Child,
    /// What the READY line named (e.g. `rtsp://127.0.0.1:8554/cam`).
    pub url: String,
}

impl Server {
    /// Starts `program` with `args` and waits (bounded) for its READY line.
    pub fn start(program: &str, args: &[&str]) -> Server {
        let mut child = Command::new(program)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {program}: {e}"));
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("READY ") {
                    let _ = tx.send(url.to_owned());
                }
            }
        });
        match rx.recv_timeout(START_TIMEOUT) {
            Ok(url) => Server { child, url },
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{program} did not start within {START_TIMEOUT:?}");
            }
        }
    }

    /// The RTSP test server (`rtsp-test-server`) on `port` (0: any).
    pub fn rtsp(port: u16, extra: &[&str]) -> Server {
        let port = port.to_string();
        let mut args = vec!["--port", &port];
        args.extend_from_slice(extra);
        Server::start(env!("CARGO_BIN_EXE_rtsp-test-server"), &args)
    }

    /// The TCP port in `url`.
    pub fn port(&self) -> u16 {
        self.url
            .rsplit_once(':')
            .and_then(|(_, rest)| rest.split('/').next())
            .and_then(|p| p.parse().ok())
            .expect("port in READY url")
    }

    /// Stops it now (SIGKILL to its pid) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Attaches a handle to `janus.plugin.streaming`.
pub async fn streaming_handle(gw: &Gateway, ws: bool) -> Arc<Handle> {
    let s = gw.session(ws).await;
    Arc::new(s.attach("janus.plugin.streaming").await.expect("attach"))
}

/// nginx with Debian's `libnginx-mod-rtmp` on 127.0.0.1:`port` (one
/// process, no master, so its pid is the whole server), application `live`.
pub struct Nginx {
    server: Child,
    _dir: TempDir,
    /// `rtmp://127.0.0.1:<port>/live`
    pub live: String,
}

impl Nginx {
    pub fn start(port: u16) -> Nginx {
        let dir = TempDir::new("nginx");
        let d = dir.0.display();
        let conf = format!(
            "load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;\n\
             daemon off;\nmaster_process off;\nerror_log {d}/error.log warn;\npid {d}/nginx.pid;\n\
             events {{ worker_connections 64; }}\n\
             rtmp {{ server {{ listen 127.0.0.1:{port}; chunk_size 4096;\n\
               application live {{ live on; record off; }} }} }}\n"
        );
        let path = dir.0.join("nginx.conf");
        std::fs::write(&path, conf).expect("nginx.conf");
        let server = Command::new("nginx")
            .arg("-p")
            .arg(&dir.0)
            .arg("-e")
            .arg(dir.0.join("error.log"))
            .arg("-c")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn nginx (apt-get install nginx-light libnginx-mod-rtmp)");
        let deadline = Instant::now() + START_TIMEOUT;
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "nginx did not listen on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Nginx {
            server,
            _dir: dir,
            live: format!("rtmp://127.0.0.1:{port}/live"),
        }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

/// A TCP port free on 127.0.0.1 right now (the OS picks it; it is released
/// at once, so another process could take it before use: rare on loopback).
pub fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A UDP port free on 127.0.0.1 right now (released at once, as [`free_tcp_port`]).
pub fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("free UDP port")
}

/// Runs `node <script> <args>` from the repo with extra `env`, and asserts
/// it exits 0 within `limit` (killed by its pid otherwise).
pub fn run_node(script: &str, args: &[&str], env: &[(&str, &std::path::Path)], limit: Duration) {
    let mut cmd = Command::new("node");
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg(script)
        .args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("node");
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{script} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "{script} {args:?} failed: {status}");
}

/// POSTs `body` as JSON text and returns the JSON reply, within 10 s.
pub async fn post_json(url: &str, body: &Value) -> Value {
    tokio::time::timeout(Duration::from_secs(10), async {
        reqwest::Client::new()
            .post(url)
            .body(body.to_string())
            .send()
            .await
            .expect("POST")
            .json()
            .await
            .expect("JSON reply")
    })
    .await
    .expect("answered in time")
}

/// A certificate authority and a server certificate it signed for
/// 127.0.0.1 and localhost, made with Debian's openssl in `dir`:
/// (CA certificate, server certificate, server key). For TLS clients that,
/// like rustls, refuse a self-signed CA certificate as a server's.
pub fn ca_and_server_cert(dir: &std::path::Path) -> (PathBuf, PathBuf, PathBuf) {
    let (ca_key, ca) = (dir.join("ca.key"), dir.join("ca.pem"));
    let (key, csr, cert) = (
        dir.join("server.key"),
        dir.join("server.csr"),
        dir.join("server.pem"),
    );
    let ext = dir.join("server.ext");
    std::fs::write(
        &ext,
        "basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
    )
    .expect("write ext");
    let openssl = |args: &[&std::ffi::OsStr]| {
        let out = Command::new("openssl")
            .args(args)
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let s = |v: &str| std::ffi::OsStr::new(v).to_owned();
    let p = |v: &PathBuf| v.as_os_str().to_owned();
    let run =
        |v: Vec<std::ffi::OsString>| openssl(&v.iter().map(|a| a.as_os_str()).collect::<Vec<_>>());
    run(vec![
        s("req"),
        s("-x509"),
        s("-newkey"),
        s("ec"),
        s("-pkeyopt"),
        s("ec_paramgen_curve:prime256v1"),
        s("-nodes"),
        s("-days"),
        s("2"),
        s("-subj"),
        s("/CN=gateway test CA"),
        s("-keyout"),
        p(&ca_key),
        s("-out"),
        p(&ca),
    ]);
    run(vec![
        s("req"),
        s("-newkey"),
        s("ec"),
        s("-pkeyopt"),
        s("ec_paramgen_curve:prime256v1"),
        s("-nodes"),
        s("-subj"),
        s("/CN=127.0.0.1"),
        s("-keyout"),
        p(&key),
        s("-out"),
        p(&csr),
    ]);
    run(vec![
        s("x509"),
        s("-req"),
        s("-in"),
        p(&csr),
        s("-CA"),
        p(&ca),
        s("-CAkey"),
        p(&ca_key),
        s("-CAcreateserial"),
        s("-days"),
        s("2"),
        s("-extfile"),
        p(&ext),
        s("-out"),
        p(&cert),
    ]);
    (ca, cert, key)
}

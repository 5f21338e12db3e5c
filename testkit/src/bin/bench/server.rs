//! The servers under test (this gateway, Debian's Janus), started and
//! stopped by their own pid, and what their processes use (`/proc`).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use gateway_testkit::janus::{Handle, Session};

use super::REPO;

/// A server under test.
pub struct Server {
    pub child: Child,
    pub ws: String,
    _dir: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self._dir);
    }
}

/// A videoroom handle on a new WebSocket session.
pub async fn videoroom_handle(ws: &str) -> anyhow::Result<Arc<Handle>> {
    Ok(Arc::new(
        Session::connect_ws(ws)
            .await?
            .attach("janus.plugin.videoroom")
            .await?,
    ))
}

pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Extra `[media]` settings for every gateway the bench starts
/// (`--media-option`), e.g. `batch_send = false`.
pub static MEDIA_OPTIONS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();

pub fn start_gateway(bin: &PathBuf) -> anyhow::Result<Server> {
    let dir = std::env::temp_dir().join(format!("gw-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let cfg = dir.join("gateway.toml");
    std::fs::write(
        &cfg,
        format!(
            "[rtsp]\nenabled = false\n[http]\nport = 0\ndemo_dir = \"\"\nadmin_port = 0\n[websockets]\nws_port = 0\nadmin_ws_port = 0\n[nat]\nice_enforce_list = [\"127.0.0.1\"]\n[media]\nrtp_port_range = \"\"\n{}\n[encoder]\ncatalog = \"{}/pipelines/encoders.toml\"\n",
            MEDIA_OPTIONS
                .get()
                .map(|o| o.join("\n"))
                .unwrap_or_default(),
            REPO
        ),
    )?;
    let mut child = Command::new(bin)
        .arg("--config")
        .arg(&cfg)
        .env("GATEWAY_LOG", "warn")
        // As scripts/run.sh and the Dockerfile run it.
        .env(
            "G_SLICE",
            std::env::var("G_SLICE").unwrap_or_else(|_| "always-malloc".into()),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let line = ready_line(&mut child, "gateway")?;
    let ws = line
        .split_whitespace()
        .find_map(|f| f.strip_prefix("ws="))
        .context("READY line")?
        .to_owned();
    Ok(Server {
        child,
        ws: format!("ws://{ws}"),
        _dir: dir,
    })
}

/// The `READY …` line a child prints on stdout once it serves (bounded:
/// 20 s, then the child is killed). Later lines are drained.
pub fn ready_line(child: &mut Child, what: &str) -> anyhow::Result<String> {
    use std::io::{BufRead, BufReader};
    let stdout = child.stdout.take().context("stdout")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.starts_with("READY") {
                let _ = tx.send(line);
            }
        }
    });
    match rx.recv_timeout(Duration::from_secs(20)) {
        Ok(l) => Ok(l),
        Err(_) => {
            let _ = child.kill();
            bail!("{what} did not start")
        }
    }
}

pub fn start_janus() -> anyhow::Result<Server> {
    let dir = std::env::temp_dir().join(format!("janus-bench-{}", std::process::id()));
    let (http, ws) = (free_port()?, free_port()?);
    let script = PathBuf::from(REPO).join("tests/janus/run-janus.sh");
    let child = Command::new(script)
        .arg(&dir)
        .arg(http.to_string())
        .arg(ws.to_string())
        .env(
            "JANUS_DEBUG_LEVEL",
            std::env::var("JANUS_DEBUG_LEVEL").unwrap_or_else(|_| "2".into()),
        )
        // BENCH_JANUS_LOG=<file> keeps Janus's log (debugging the load).
        .stdout(match std::env::var_os("BENCH_JANUS_LOG") {
            Some(f) => Stdio::from(std::fs::File::create(f)?),
            None => Stdio::null(),
        })
        .stderr(Stdio::null())
        .spawn()
        .context("starting janus")?;
    let url = format!("ws://127.0.0.1:{ws}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", ws)).is_err() {
        if Instant::now() > deadline {
            bail!("janus did not start");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(Server {
        child,
        ws: url,
        _dir: dir,
    })
}

/// What a server process used over one measurement window.
pub struct Window {
    /// Average CPU, in cores.
    pub cpu_cores: f64,
    /// Median RSS over per-second samples, MB.
    pub rss_mb: f64,
    /// The window's real length, s.
    pub secs: f64,
}

/// Samples `pid` for `window_s` seconds: CPU from utime+stime, RSS each second.
pub async fn measure_window(pid: u32, window_s: u64) -> anyhow::Result<Window> {
    let (cpu0, _) = proc_usage(pid)?;
    let t0 = Instant::now();
    let mut rss_samples = Vec::new();
    while t0.elapsed() < Duration::from_secs(window_s) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        rss_samples.push(proc_usage(pid)?.1);
    }
    let (cpu1, _) = proc_usage(pid)?;
    let secs = t0.elapsed().as_secs_f64();
    Ok(Window {
        cpu_cores: (cpu1 - cpu0) / secs,
        rss_mb: median(&mut rss_samples),
        secs,
    })
}

/// (utime + stime) in seconds and RSS in MB of `pid`.
pub fn proc_usage(pid: u32) -> anyhow::Result<(f64, f64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the parenthesised command name; utime and stime are 14 and 15.
    let rest = stat.rsplit_once(')').context("stat format")?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f[11].parse::<f64>()? + f[12].parse::<f64>()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc_sysconf_clk_tck() } as f64;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let rss_kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    Ok((ticks / hz, rss_kb / 1024.0))
}

unsafe extern "C" {
    fn sysconf(name: i32) -> i64;
}

/// `sysconf(_SC_CLK_TCK)`; `_SC_CLK_TCK` is 2 on Linux.
unsafe fn libc_sysconf_clk_tck() -> i64 {
    // SAFETY: the caller upholds nothing; sysconf is always safe to call.
    let v = unsafe { sysconf(2) };
    if v > 0 { v } else { 100 }
}

pub fn rand_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(Instant::now().elapsed().as_nanos());
    h.finish() as u32
}

pub fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

/// Least-squares slope of y over x.
pub fn slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    if n < 2.0 {
        return f64::NAN;
    }
    let (sx, sy) = points
        .iter()
        .fold((0.0, 0.0), |(a, b), (x, y)| (a + x, b + y));
    let (mx, my) = (sx / n, sy / n);
    let num: f64 = points.iter().map(|(x, y)| (x - mx) * (y - my)).sum();
    let den: f64 = points.iter().map(|(x, _)| (x - mx) * (x - mx)).sum();
    num / den
}

pub fn which(cmd: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {cmd}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// `ffprobe`'s format duration (s), 0 when unreadable.

/// Threads of process `pid` now (`/proc/<pid>/task`).
pub fn thread_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task")).map_or(0, |d| d.count())
}

/// Whether Janus (Debian package `janus`) is installed; says why not when
/// `wanted`.
pub fn janus_available(wanted: bool) -> bool {
    let ok = which("janus");
    if wanted && !ok {
        eprintln!("--against-janus: janus is not installed (apt-get install janus); skipping");
    }
    wanted && ok
}

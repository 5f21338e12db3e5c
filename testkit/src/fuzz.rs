//! A live fuzzer for a running gateway: malformed and mutated Janus
//! messages over WebSocket and HTTP, on real sessions and handles, while
//! it checks that every reply is well-formed Janus JSON and that every
//! message carrying a transaction is answered. It reports the gateway's
//! RSS, open fds and threads before and after (Linux `/proc`).
//!
//! Messages, in equal shares: garbage bytes; truncated valid JSON; valid
//! core requests with one field replaced by random JSON (or removed);
//! videoroom and streaming bodies on live handles with one field mutated;
//! bad JSEPs (empty, random, cut SDPs) and bad trickle candidates.
//! Rooms and mountpoints it creates use ids in [`ID_BASE`]`..+1000` and
//! are destroyed at the end, as are its sessions.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::{SinkExt, StreamExt};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// Room and mountpoint ids the fuzzer may create.
pub const ID_BASE: u64 = 7_700_000;
/// How long a message may wait for its reply.
const REPLY_TIMEOUT: Duration = Duration::from_secs(15);
/// Messages in flight per WebSocket.
const WINDOW: usize = 64;

/// What to fuzz and how much.
#[derive(Debug, Clone)]
pub struct Options {
    /// `ws://host:port`.
    pub ws: String,
    /// `http://host:port/janus`.
    pub http: String,
    /// The gateway's pid, for RSS/fd/thread readings (`None`: skipped).
    pub pid: Option<u32>,
    /// Messages to send in all.
    pub messages: u64,
    /// PRNG seed (runs are reproducible per seed).
    pub seed: u64,
    /// WebSocket connections in parallel.
    pub connections: usize,
}

/// A process's resources (Linux `/proc/<pid>`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resources {
    /// Resident set size, kB.
    pub rss_kb: u64,
    /// Open file descriptors.
    pub fds: u64,
    /// Threads.
    pub threads: u64,
}

impl Resources {
    /// Reads them for `pid`.
    pub fn of(pid: u32) -> Resources {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
                .unwrap_or(0)
        };
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .map(|d| d.count() as u64)
            .unwrap_or(0);
        Resources {
            rss_kb: field("VmRSS:"),
            fds,
            threads: field("Threads:"),
        }
    }
}

/// What a run found.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Messages sent.
    pub sent: u64,
    /// Replies received (events not counted).
    pub replies: u64,
    /// Frames that were not a JSON object with a string `janus`.
    pub malformed: u64,
    /// The first few of them, for the report.
    pub malformed_samples: Vec<String>,
    /// Messages with a transaction that got no reply within the timeout.
    pub unanswered: u64,
    /// Error replies, by code.
    pub errors: HashMap<u64, u64>,
    /// Wall time of the sending.
    pub elapsed: Duration,
    /// Gateway resources before the run.
    pub before: Resources,
    /// Gateway resources after the run and its clean-up.
    pub after: Resources,
    /// Whether the gateway still answered `info` at the end.
    pub alive: bool,
}

impl Report {
    /// A one-screen summary.
    pub fn summary(&self) -> String {
        let mut codes: Vec<_> = self.errors.iter().collect();
        codes.sort();
        format!(
            "sent {} in {:.1} s ({:.0}/s); replies {}; malformed {}; unanswered {}; alive {}\n\
             errors by code: {:?}\n\
             gateway before: rss {} kB, fds {}, threads {}; after clean-up: rss {} kB, fds {}, threads {}\n\
             malformed samples: {:?}",
            self.sent,
            self.elapsed.as_secs_f64(),
            self.sent as f64 / self.elapsed.as_secs_f64().max(1e-9),
            self.replies,
            self.malformed,
            self.unanswered,
            self.alive,
            codes,
            self.before.rss_kb,
            self.before.fds,
            self.before.threads,
            self.after.rss_kb,
            self.after.fds,
            self.after.threads,
            self.malformed_samples,
        )
    }

    /// The figures as JSON.
    pub fn to_json(&self) -> Value {
        json!({
            "sent": self.sent, "replies": self.replies, "malformed": self.malformed,
            "unanswered": self.unanswered, "alive": self.alive,
            "elapsed_s": self.elapsed.as_secs_f64(),
            "errors": self.errors.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
            "before": {"rss_kb": self.before.rss_kb, "fds": self.before.fds, "threads": self.before.threads},
            "after": {"rss_kb": self.after.rss_kb, "fds": self.after.fds, "threads": self.after.threads},
        })
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(url: &str) -> anyhow::Result<Ws> {
    let mut req = url.into_client_request()?;
    req.headers_mut()
        .insert("Sec-WebSocket-Protocol", "janus-protocol".parse()?);
    let (ws, _) = tokio::time::timeout(REPLY_TIMEOUT, tokio_tungstenite::connect_async(req))
        .await
        .context("connect timed out")??;
    Ok(ws)
}

/// Sends `body` and waits for the reply with its transaction (events skipped).
async fn call(ws: &mut Ws, body: Value) -> anyhow::Result<Value> {
    let tx = body["transaction"].as_str().unwrap_or_default().to_owned();
    ws.send(Message::text(body.to_string())).await?;
    tokio::time::timeout(REPLY_TIMEOUT, async {
        while let Some(m) = ws.next().await {
            let m = m?;
            if let Ok(v) = serde_json::from_str::<Value>(m.to_text().unwrap_or(""))
                && v["transaction"] == tx.as_str()
                && v["janus"] != "ack"
            {
                return Ok(v);
            }
        }
        bail!("socket closed")
    })
    .await
    .context("no reply")?
}

/// Random JSON, up to `depth` deep.
fn random_json(rng: &mut StdRng, depth: u32) -> Value {
    match rng.random_range(0..if depth == 0 { 6 } else { 8 }) {
        0 => Value::Null,
        1 => json!(rng.random::<bool>()),
        2 => json!(rng.random::<i64>()),
        3 => json!(rng.random_range(0..100_000u64)),
        4 => json!(rng.random::<f64>() * 1e6),
        5 => {
            let words = [
                "",
                "x",
                "offer",
                "answer",
                "publisher",
                "subscriber",
                "v=0",
                "create",
                "join",
                "\u{0}",
                "💥",
            ];
            json!(words[rng.random_range(0..words.len())])
        }
        6 => Value::Array(
            (0..rng.random_range(0..4))
                .map(|_| random_json(rng, depth - 1))
                .collect(),
        ),
        _ => {
            let mut m = serde_json::Map::new();
            for _ in 0..rng.random_range(0..4) {
                m.insert(random_key(rng), random_json(rng, depth - 1));
            }
            Value::Object(m)
        }
    }
}

const KEYS: &[&str] = &[
    "janus",
    "transaction",
    "session_id",
    "handle_id",
    "plugin",
    "body",
    "jsep",
    "type",
    "sdp",
    "candidate",
    "candidates",
    "sdpMid",
    "sdpMLineIndex",
    "completed",
    "apisecret",
    "token",
    "request",
    "room",
    "ptype",
    "feed",
    "streams",
    "mid",
    "display",
    "id",
    "secret",
    "pin",
    "publishers",
    "videocodec",
    "audiocodec",
    "record",
    "description",
    "media",
    "port",
    "pt",
    "codec",
    "url",
    "private_id",
    "send",
    "descriptions",
    "metadata",
    "layout",
];

fn random_key(rng: &mut StdRng) -> String {
    KEYS[rng.random_range(0..KEYS.len())].to_owned()
}

const SDP: &str = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=rtpmap:111 opus/48000/2\r\na=sendonly\r\na=ice-ufrag:x\r\na=ice-pwd:yyyyyyyyyyyyyyyyyyyyyy\r\na=fingerprint:sha-256 00:11\r\na=setup:actpass\r\n";

/// One live session with a videoroom and a streaming handle.
#[derive(Debug, Clone, Copy)]
struct Live {
    session: u64,
    videoroom: u64,
    streaming: u64,
}

fn room_id(rng: &mut StdRng) -> u64 {
    ID_BASE + rng.random_range(0..1000)
}

fn videoroom_body(rng: &mut StdRng) -> Value {
    let room = room_id(rng);
    let bodies = [
        json!({"request": "create", "room": room, "publishers": 2}),
        json!({"request": "join", "room": room, "ptype": "publisher", "display": "f"}),
        json!({"request": "join", "room": room, "ptype": "subscriber", "streams": [{"feed": 1}]}),
        json!({"request": "configure", "audio": true, "bitrate": 1000}),
        json!({"request": "listparticipants", "room": room}),
        json!({"request": "exists", "room": room}),
        json!({"request": "edit", "room": room, "new_description": "x"}),
        json!({"request": "kick", "room": room, "id": 1}),
        json!({"request": "moderate", "room": room, "id": 1, "mid": "0", "mute": true}),
        json!({"request": "allowed", "room": room, "action": "add", "allowed": ["a"]}),
        json!({"request": "leave"}),
        json!({"request": "unpublish"}),
        json!({"request": "destroy", "room": room}),
        json!({"request": "list"}),
    ];
    bodies[rng.random_range(0..bodies.len())].clone()
}

fn streaming_body(rng: &mut StdRng) -> Value {
    let id = room_id(rng);
    let bodies = [
        json!({"request": "list"}),
        json!({"request": "info", "id": id}),
        json!({"request": "watch", "id": id}),
        json!({"request": "create", "id": id, "type": "rtp", "media": [{"type": "video", "mid": "v", "port": 0, "pt": 96, "codec": "vp8"}]}),
        json!({"request": "destroy", "id": id}),
        json!({"request": "switch", "id": id}),
        json!({"request": "configure", "streams": [{"mid": "v", "send": false}]}),
        json!({"request": "stop"}),
    ];
    bodies[rng.random_range(0..bodies.len())].clone()
}

/// Keeps what a fuzzed `create` makes findable and removable by the
/// clean-up: its id in the fuzz range, no secret, not private.
fn tame_create(rng: &mut StdRng, body: &mut Value) {
    if body["request"] != "create" {
        return;
    }
    let Value::Object(m) = body else { return };
    for k in ["secret", "is_private", "admin_key", "permanent", "pin"] {
        m.remove(k);
    }
    let id = room_id(rng);
    m.insert("room".into(), json!(id));
    m.insert("id".into(), json!(id));
}

/// Replaces (or removes) one random field of `v`'s object, or of one nested in it.
fn mutate(rng: &mut StdRng, v: &mut Value) {
    let Value::Object(m) = v else { return };
    let key = if !m.is_empty() && rng.random_bool(0.7) {
        m.keys()
            .nth(rng.random_range(0..m.len()))
            .cloned()
            .unwrap_or_default()
    } else {
        random_key(rng)
    };
    if rng.random_bool(0.2) {
        m.remove(&key);
    } else if let Some(inner @ Value::Object(_)) = m.get_mut(&key)
        && rng.random_bool(0.5)
    {
        mutate(rng, inner);
    } else {
        m.insert(key, random_json(rng, 3));
    }
}

/// One fuzz message: its bytes, and whether it carries a string transaction
/// (so it must be answered with it).
fn message(rng: &mut StdRng, live: &Live, tx: &str) -> Vec<u8> {
    let base = |j: Value| {
        let mut j = j;
        j["transaction"] = json!(tx);
        j
    };
    let on_handle = |janus: &str, handle: u64| json!({"janus": janus, "session_id": live.session, "handle_id": handle});
    match rng.random_range(0..5) {
        // Garbage bytes.
        0 => (0..rng.random_range(0..200))
            .map(|_| rng.random())
            .collect(),
        // Truncated valid JSON.
        1 => {
            let mut m = on_handle("message", live.videoroom);
            m["body"] = videoroom_body(rng);
            let s = base(m).to_string();
            let cut = rng.random_range(0..s.len());
            s.as_bytes()[..cut].to_vec()
        }
        // A core request with one field mutated.
        2 => {
            let verbs = [
                json!({"janus": "create"}),
                json!({"janus": "attach", "session_id": live.session, "plugin": "janus.plugin.videoroom"}),
                json!({"janus": "keepalive", "session_id": live.session}),
                json!({"janus": "info"}),
                json!({"janus": "ping"}),
                json!({"janus": "claim", "session_id": live.session}),
                on_handle("hangup", live.videoroom),
                json!({"janus": "destroy", "session_id": rng.random_range(1..1000)}),
                json!({"janus": "detach", "session_id": live.session, "handle_id": rng.random_range(1..1000)}),
            ];
            let mut m = base(verbs[rng.random_range(0..verbs.len())].clone());
            mutate(rng, &mut m);
            tame_create(rng, &mut m["body"]);
            // The transaction stays (or the message is unanswerable by design).
            m["transaction"] = json!(tx);
            m.to_string().into_bytes()
        }
        // A plugin body with one field mutated, on a live handle.
        3 => {
            let (handle, mut body) = if rng.random_bool(0.6) {
                (live.videoroom, videoroom_body(rng))
            } else {
                (live.streaming, streaming_body(rng))
            };
            mutate(rng, &mut body);
            tame_create(rng, &mut body);
            let mut m = on_handle("message", handle);
            m["body"] = body;
            base(m).to_string().into_bytes()
        }
        // Bad JSEPs and candidates.
        _ => {
            let mut m = if rng.random_bool(0.5) {
                let sdp = match rng.random_range(0..4) {
                    0 => String::new(),
                    1 => SDP[..rng.random_range(0..SDP.len())].to_owned(),
                    2 => (0..rng.random_range(0..300))
                        .map(|_| rng.random_range(' '..'~'))
                        .collect(),
                    _ => SDP.replace("opus", "nothing"),
                };
                let mut m = on_handle("message", live.videoroom);
                m["body"] = json!({"request": "configure"});
                m["jsep"] = json!({"type": if rng.random_bool(0.8) { "offer" } else { "answer" }, "sdp": sdp});
                m
            } else {
                let mut m = on_handle("trickle", live.videoroom);
                m["candidate"] = match rng.random_range(0..4) {
                    0 => {
                        json!({"candidate": "candidate:garbage", "sdpMLineIndex": rng.random_range(0..100)})
                    }
                    1 => json!({"sdpMid": random_json(rng, 1), "candidate": random_json(rng, 1)}),
                    2 => json!({"completed": true}),
                    _ => random_json(rng, 2),
                };
                m
            };
            if rng.random_bool(0.3) {
                mutate(rng, &mut m);
                tame_create(rng, &mut m["body"]);
            }
            base(m).to_string().into_bytes()
        }
    }
}

/// Makes a session with a videoroom and a streaming handle on `ws`.
async fn live(ws: &mut Ws) -> anyhow::Result<Live> {
    let s = call(ws, json!({"janus": "create", "transaction": "setup-c"})).await?["data"]["id"]
        .as_u64()
        .context("create")?;
    let attach = |plugin: &str| json!({"janus": "attach", "transaction": format!("setup-{plugin}"), "session_id": s, "plugin": plugin});
    let v = attach("janus.plugin.videoroom");
    let st = attach("janus.plugin.streaming");
    let videoroom = call(ws, v).await?["data"]["id"]
        .as_u64()
        .context("attach")?;
    let streaming = call(ws, st).await?["data"]["id"]
        .as_u64()
        .context("attach")?;
    Ok(Live {
        session: s,
        videoroom,
        streaming,
    })
}

/// Counts what came back on one socket.
#[derive(Default)]
struct Tally {
    replies: u64,
    malformed: u64,
    samples: Vec<String>,
    errors: HashMap<u64, u64>,
}

/// One connection's share of the run.
async fn worker(opts: Options, index: usize, count: u64) -> anyhow::Result<(u64, u64, Tally)> {
    let mut ws = connect(&opts.ws).await?;
    // The session lives on: fuzzed destroys name random ids, and keepalives
    // are among the messages.
    let lv = live(&mut ws).await?;
    let mut rng = StdRng::seed_from_u64(opts.seed.wrapping_add(index as u64 * 7919));
    let (mut sink, mut stream) = ws.split();
    let mut pending: HashMap<String, Instant> = HashMap::new();
    let mut tally = Tally::default();
    let (mut sent, mut unanswered, mut n) = (0u64, 0u64, 0u64);
    let http = reqwest::Client::builder().timeout(REPLY_TIMEOUT).build()?;
    while n < count || !pending.is_empty() {
        // Fill the window, then read.
        while n < count && pending.len() < WINDOW {
            let tx = format!("f{index}-{n}");
            let bytes = message(&mut rng, &lv, &tx);
            n += 1;
            sent += 1;
            // One in ten over HTTP, answered in the response.
            if rng.random_bool(0.1) {
                // The URL names the session the body names (HTTP takes ids
                // from the URL), so a fuzzed `destroy` cannot end ours.
                let path = serde_json::from_slice::<Value>(&bytes)
                    .ok()
                    .and_then(|v| {
                        let s = v["session_id"].as_u64()?;
                        Some(match v["handle_id"].as_u64() {
                            Some(h) => format!("/{s}/{h}"),
                            None => format!("/{s}"),
                        })
                    })
                    .filter(|_| rng.random_bool(0.5))
                    .unwrap_or_default();
                let url = format!("{}{path}", opts.http);
                match http.post(url).body(bytes).send().await {
                    Ok(r) => {
                        let status = r.status();
                        let text = r.text().await.unwrap_or_default();
                        match serde_json::from_str::<Value>(&text) {
                            Ok(v) if v["janus"].is_string() => {
                                tally.replies += 1;
                                if let Some(c) = v["error"]["code"].as_u64() {
                                    *tally.errors.entry(c).or_default() += 1;
                                }
                            }
                            _ => {
                                tally.malformed += 1;
                                if tally.samples.len() < 5 {
                                    tally.samples.push(format!(
                                        "HTTP {status}: {}",
                                        &text[..text.len().min(200)]
                                    ));
                                }
                            }
                        }
                    }
                    Err(_) => unanswered += 1,
                }
                continue;
            }
            // Only a message whose transaction survived can be matched.
            let matchable = serde_json::from_slice::<Value>(&bytes)
                .ok()
                .is_some_and(|v| v["transaction"] == tx.as_str());
            if matchable {
                pending.insert(tx, Instant::now());
            }
            sink.send(Message::binary(bytes)).await.context("send")?;
        }
        let next = tokio::time::timeout(Duration::from_millis(500), stream.next()).await;
        match next {
            Ok(Some(Ok(m))) => {
                if !(m.is_text() || m.is_binary()) {
                    continue;
                }
                let data = m.into_data();
                let parsed = serde_json::from_slice::<Value>(&data).ok();
                let Some(kind) = parsed.as_ref().and_then(|v| v["janus"].as_str()) else {
                    tally.malformed += 1;
                    if tally.samples.len() < 5 {
                        tally.samples.push(
                            String::from_utf8_lossy(&data[..data.len().min(200)]).into_owned(),
                        );
                    }
                    continue;
                };
                let v = parsed.clone().unwrap_or_default();
                if matches!(
                    kind,
                    "event"
                        | "webrtcup"
                        | "media"
                        | "hangup"
                        | "detached"
                        | "trickle"
                        | "slowlink"
                        | "timeout"
                ) {
                    // A `timeout`/`detached` may mean our own session went.
                    continue;
                }
                tally.replies += 1;
                if let Some(c) = v["error"]["code"].as_u64() {
                    *tally.errors.entry(c).or_default() += 1;
                }
                if let Some(tx) = v["transaction"].as_str() {
                    pending.remove(tx);
                }
            }
            Ok(Some(Err(_))) | Ok(None) => bail!("the gateway closed the fuzzing socket"),
            Err(_) => {}
        }
        let now = Instant::now();
        let before = pending.len();
        pending.retain(|_, at| now.duration_since(*at) < REPLY_TIMEOUT);
        unanswered += (before - pending.len()) as u64;
    }
    Ok((sent, unanswered, tally))
}

/// Destroys what the run may have left: rooms and mountpoints in the fuzz
/// id range.
async fn clean_up(opts: &Options) -> anyhow::Result<()> {
    let mut ws = connect(&opts.ws).await?;
    let lv = live(&mut ws).await?;
    let msg = |handle: u64, body: Value, tx: &str| json!({"janus": "message", "transaction": tx, "session_id": lv.session, "handle_id": handle, "body": body});
    let rooms = call(
        &mut ws,
        msg(lv.videoroom, json!({"request": "list"}), "cl-1"),
    )
    .await?;
    for r in rooms["plugindata"]["data"]["list"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        if let Some(id) = r["room"]
            .as_u64()
            .filter(|id| (ID_BASE..ID_BASE + 1000).contains(id))
        {
            call(
                &mut ws,
                msg(
                    lv.videoroom,
                    json!({"request": "destroy", "room": id}),
                    "cl-d",
                ),
            )
            .await?;
        }
    }
    let mps = call(
        &mut ws,
        msg(lv.streaming, json!({"request": "list"}), "cl-2"),
    )
    .await?;
    for m in mps["plugindata"]["data"]["list"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        if let Some(id) = m["id"]
            .as_u64()
            .filter(|id| (ID_BASE..ID_BASE + 1000).contains(id))
        {
            call(
                &mut ws,
                msg(
                    lv.streaming,
                    json!({"request": "destroy", "id": id}),
                    "cl-s",
                ),
            )
            .await?;
        }
    }
    call(
        &mut ws,
        json!({"janus": "destroy", "transaction": "cl-x", "session_id": lv.session}),
    )
    .await?;
    Ok(())
}

/// Runs the fuzzer: `messages` split over `connections` sockets.
pub async fn run(opts: Options) -> anyhow::Result<Report> {
    let mut report = Report::default();
    if let Some(pid) = opts.pid {
        report.before = Resources::of(pid);
    }
    let started = Instant::now();
    let per = opts.messages / opts.connections.max(1) as u64;
    let workers: Vec<_> = (0..opts.connections.max(1))
        .map(|i| tokio::spawn(worker(opts.clone(), i, per)))
        .collect();
    for w in workers {
        let (sent, unanswered, tally) = w.await.context("worker")??;
        report.sent += sent;
        report.unanswered += unanswered;
        report.replies += tally.replies;
        report.malformed += tally.malformed;
        report.malformed_samples.extend(tally.samples);
        for (c, n) in tally.errors {
            *report.errors.entry(c).or_default() += n;
        }
    }
    report.elapsed = started.elapsed();
    clean_up(&opts).await?;
    // Sessions of closed sockets and retired pipelines go within a moment.
    tokio::time::sleep(Duration::from_secs(3)).await;
    report.alive = reqwest::get(format!("{}/info", opts.http))
        .await
        .map(|r| r.status().is_success())
        .unwrap_or(false);
    if let Some(pid) = opts.pid {
        report.after = Resources::of(pid);
    }
    Ok(report)
}

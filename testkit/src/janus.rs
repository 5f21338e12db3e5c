//! A small Janus API client over WebSocket (`janus-protocol`) or HTTP long
//! poll, as janus.js speaks it. Used by the integration tests and the bench
//! against this gateway and against a real Janus.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// How long a request waits for its reply.
const REPLY_TIMEOUT: Duration = Duration::from_secs(20);
/// Keepalive period (janus.js uses 25 s against Janus's 60 s timeout).
const KEEPALIVE_PERIOD: Duration = Duration::from_secs(25);

type Pending = Arc<Mutex<HashMap<String, oneshot::Sender<Value>>>>;
/// Per handle: (plugin and core events, server-trickled candidates).
type Routes =
    Arc<Mutex<HashMap<u64, (mpsc::UnboundedSender<Value>, mpsc::UnboundedSender<Value>)>>>;

enum Link {
    Ws {
        out: mpsc::UnboundedSender<Message>,
        pending: Pending,
    },
    Http {
        base: String,
        http: reqwest::Client,
    },
}

/// A Janus session.
pub struct Session {
    link: Link,
    /// The session id.
    pub id: u64,
    routes: Routes,
    next_tx: AtomicU64,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// A handle attached to a plugin, with its own event stream.
pub struct Handle {
    session: Arc<Session>,
    /// The handle id.
    pub id: u64,
    events: tokio::sync::Mutex<(mpsc::UnboundedReceiver<Value>, VecDeque<Value>)>,
    trickles: Mutex<Option<mpsc::UnboundedReceiver<Value>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn route(routes: &Routes, ev: Value) {
    if let Some(sender) = ev.get("sender").and_then(Value::as_u64)
        && let Some((events, trickles)) = lock(routes).get(&sender)
    {
        let _ = if ev["janus"] == "trickle" {
            trickles.send(ev)
        } else {
            events.send(ev)
        };
    }
}

impl Session {
    /// Connects over WebSocket (`ws://host:port`) and creates a session.
    pub async fn connect_ws(url: &str) -> anyhow::Result<Arc<Session>> {
        let mut req = url.into_client_request()?;
        req.headers_mut()
            .insert("Sec-WebSocket-Protocol", "janus-protocol".parse()?);
        let (ws, resp) = tokio::time::timeout(REPLY_TIMEOUT, tokio_tungstenite::connect_async(req))
            .await
            .context("websocket connect timed out")??;
        anyhow::ensure!(
            resp.headers()
                .get("sec-websocket-protocol")
                .and_then(|v| v.to_str().ok())
                == Some("janus-protocol"),
            "server did not accept the janus-protocol subprotocol"
        );
        let (mut sink, mut stream) = ws.split();
        let (out, mut out_rx) = mpsc::unbounded_channel::<Message>();
        let pending: Pending = Arc::new(Mutex::new(HashMap::new()));
        let routes: Routes = Arc::new(Mutex::new(HashMap::new()));
        let writer = tokio::spawn(async move {
            while let Some(m) = out_rx.recv().await {
                if sink.send(m).await.is_err() {
                    break;
                }
            }
        });
        let (p2, r2) = (pending.clone(), routes.clone());
        let reader = tokio::spawn(async move {
            while let Some(Ok(msg)) = stream.next().await {
                let Ok(text) = msg.to_text() else { continue };
                let Ok(v) = serde_json::from_str::<Value>(text) else {
                    continue;
                };
                let kind = v["janus"].as_str().unwrap_or("");
                // Replies (success/error/ack/pong/server_info) settle their
                // transaction; events (which may carry one too) go to the handle.
                let is_reply = matches!(kind, "success" | "error" | "ack" | "pong" | "server_info");
                if is_reply
                    && let Some(t) = v["transaction"].as_str()
                    && let Some(tx) = lock(&p2).remove(t)
                {
                    let _ = tx.send(v);
                    continue;
                }
                route(&r2, v);
            }
        });
        let mut s = Session {
            link: Link::Ws { out, pending },
            id: 0,
            routes,
            next_tx: AtomicU64::new(1),
            tasks: vec![writer, reader],
        };
        s.create().await?;
        Ok(s.start_keepalive())
    }

    /// Connects over HTTP (`http://host:port/janus`) and creates a session;
    /// a background task long-polls for events.
    pub async fn connect_http(base: &str) -> anyhow::Result<Arc<Session>> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(45))
            .build()?;
        let mut s = Session {
            link: Link::Http {
                base: base.trim_end_matches('/').to_owned(),
                http: http.clone(),
            },
            id: 0,
            routes: Arc::new(Mutex::new(HashMap::new())),
            next_tx: AtomicU64::new(1),
            tasks: vec![],
        };
        s.create().await?;
        let (url, routes) = (
            format!("{}/{}?maxev=10", base.trim_end_matches('/'), s.id),
            s.routes.clone(),
        );
        s.tasks.push(tokio::spawn(async move {
            loop {
                let Ok(resp) = http.get(&url).send().await else {
                    break;
                };
                let Ok(v) = resp.json::<Value>().await else {
                    break;
                };
                let evs = match v {
                    Value::Array(a) => a,
                    other => vec![other],
                };
                for ev in evs {
                    if ev["janus"] == "error" {
                        return;
                    }
                    route(&routes, ev);
                }
            }
        }));
        Ok(s.start_keepalive())
    }

    fn start_keepalive(mut self) -> Arc<Session> {
        let s = Arc::new_cyclic(|weak: &std::sync::Weak<Session>| {
            let weak = weak.clone();
            self.tasks.push(tokio::spawn(async move {
                loop {
                    tokio::time::sleep(KEEPALIVE_PERIOD).await;
                    let Some(s) = weak.upgrade() else { break };
                    let _ = s.request(None, json!({"janus": "keepalive"})).await;
                }
            }));
            self
        });
        s
    }

    async fn create(&mut self) -> anyhow::Result<()> {
        let r = self.request(None, json!({"janus": "create"})).await?;
        self.id = r["data"]["id"]
            .as_u64()
            .ok_or_else(|| anyhow!("create failed: {r}"))?;
        Ok(())
    }

    /// Sends a raw request (the transaction and ids are filled in) and returns the reply.
    pub async fn request(&self, handle: Option<u64>, mut body: Value) -> anyhow::Result<Value> {
        let tx = format!("t{}", self.next_tx.fetch_add(1, Ordering::Relaxed));
        body["transaction"] = json!(tx);
        match &self.link {
            Link::Ws { out, pending } => {
                if self.id != 0 {
                    body["session_id"] = json!(self.id);
                }
                if let Some(h) = handle {
                    body["handle_id"] = json!(h);
                }
                let (otx, orx) = oneshot::channel();
                lock(pending).insert(tx.clone(), otx);
                out.send(Message::text(body.to_string()))
                    .map_err(|_| anyhow!("websocket closed"))?;
                tokio::time::timeout(REPLY_TIMEOUT, orx)
                    .await
                    .context("reply timed out")?
                    .context("websocket closed")
            }
            Link::Http { base, http } => {
                let url = match (self.id, handle) {
                    (0, _) => base.clone(),
                    (s, None) => format!("{base}/{s}"),
                    (s, Some(h)) => format!("{base}/{s}/{h}"),
                };
                Ok(http
                    .post(url)
                    .body(body.to_string())
                    .send()
                    .await?
                    .json()
                    .await?)
            }
        }
    }

    /// Cuts the WebSocket under the session without a close frame, as a
    /// network drop does (the session's replies and events stop arriving).
    /// No-op over HTTP.
    pub fn cut_socket(&self) {
        if matches!(self.link, Link::Ws { .. }) {
            // The writer and reader tasks own the socket's two halves.
            for t in self.tasks.iter().take(2) {
                t.abort();
            }
        }
    }

    /// Sends raw bytes (for malformed-input tests) and returns the parsed reply.
    pub async fn raw(&self, handle: Option<u64>, text: &str) -> anyhow::Result<Value> {
        match &self.link {
            Link::Http { base, http } => {
                let url = match handle {
                    None => format!("{base}/{}", self.id),
                    Some(h) => format!("{base}/{}/{h}", self.id),
                };
                Ok(http
                    .post(url)
                    .body(text.to_owned())
                    .send()
                    .await?
                    .json()
                    .await?)
            }
            Link::Ws { .. } => bail!("raw requests are only sent over HTTP"),
        }
    }

    /// Attaches to `plugin`.
    pub async fn attach(self: &Arc<Self>, plugin: &str) -> anyhow::Result<Handle> {
        let r = self
            .request(None, json!({"janus": "attach", "plugin": plugin}))
            .await?;
        let id = r["data"]["id"]
            .as_u64()
            .ok_or_else(|| anyhow!("attach failed: {r}"))?;
        let (tx, rx) = mpsc::unbounded_channel();
        let (ttx, trx) = mpsc::unbounded_channel();
        lock(&self.routes).insert(id, (tx, ttx));
        Ok(Handle {
            session: self.clone(),
            id,
            events: tokio::sync::Mutex::new((rx, VecDeque::new())),
            trickles: Mutex::new(Some(trx)),
        })
    }

    /// Destroys the session.
    pub async fn destroy(&self) -> anyhow::Result<Value> {
        self.request(None, json!({"janus": "destroy"})).await
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Handle {
    /// The session.
    pub fn session(&self) -> &Arc<Session> {
        &self.session
    }

    /// Sends a plugin `message`; returns the immediate reply (`success` with
    /// plugindata for sync requests, `ack` for async ones).
    pub async fn message(&self, body: Value, jsep: Option<Value>) -> anyhow::Result<Value> {
        let mut req = json!({"janus": "message", "body": body});
        if let Some(j) = jsep {
            req["jsep"] = j;
        }
        self.session.request(Some(self.id), req).await
    }

    /// A sync request: returns `plugindata.data`.
    pub async fn sync(&self, body: Value) -> anyhow::Result<Value> {
        let r = self.message(body, None).await?;
        if r["janus"] != "success" {
            bail!("expected success, got {r}");
        }
        Ok(r["plugindata"]["data"].clone())
    }

    /// An async request: waits for the event answering it (same transaction
    /// is not required; the first plugin event is taken) and returns
    /// `(plugindata.data, jsep)`.
    pub async fn call(
        &self,
        body: Value,
        jsep: Option<Value>,
        timeout: Duration,
    ) -> anyhow::Result<(Value, Option<Value>)> {
        let r = self.message(body, jsep).await?;
        match r["janus"].as_str() {
            Some("ack") => {}
            Some("success") => return Ok((r["plugindata"]["data"].clone(), None)),
            _ => bail!("request refused: {r}"),
        }
        let ev = self
            .wait_for(
                |e| e["janus"] == "event" && e.get("transaction").is_some(),
                timeout,
            )
            .await?;
        Ok((ev["plugindata"]["data"].clone(), ev.get("jsep").cloned()))
    }

    /// Sends a `trickle` with one candidate, or `completed` when `None`.
    pub async fn trickle(&self, mline: u32, candidate: Option<&str>) -> anyhow::Result<()> {
        let c = match candidate {
            Some(c) => json!({"sdpMLineIndex": mline, "candidate": c}),
            None => json!({"completed": true}),
        };
        self.session
            .request(Some(self.id), json!({"janus": "trickle", "candidate": c}))
            .await?;
        Ok(())
    }

    /// Waits for the next event matching `pred`; events skipped meanwhile stay queued.
    pub async fn wait_for(
        &self,
        pred: impl Fn(&Value) -> bool,
        timeout: Duration,
    ) -> anyhow::Result<Value> {
        let mut guard = self.events.lock().await;
        let (rx, backlog) = &mut *guard;
        if let Some(i) = backlog.iter().position(&pred) {
            return Ok(backlog.remove(i).unwrap_or_default());
        }
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Err(_) => {
                    bail!("timed out after {timeout:?} waiting for an event; queued: {backlog:?}")
                }
                Ok(None) => bail!("event stream closed"),
                Ok(Some(ev)) if pred(&ev) => return Ok(ev),
                Ok(Some(ev)) => backlog.push_back(ev),
            }
        }
    }

    /// The stream of candidates the server trickles (`{"janus":"trickle"}`
    /// events); `None` after the first call.
    pub fn take_trickles(&self) -> Option<mpsc::UnboundedReceiver<Value>> {
        lock(&self.trickles).take()
    }

    /// Detaches the handle.
    pub async fn detach(&self) -> anyhow::Result<Value> {
        self.session
            .request(Some(self.id), json!({"janus": "detach"}))
            .await
    }
}

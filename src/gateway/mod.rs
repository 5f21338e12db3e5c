//! The running gateway: the Janus core state machine behind a short-held
//! lock, the plugins, and event delivery to HTTP long polls and WebSocket
//! connections. Transports (`crate::transport`) call [`Gateway::request`],
//! [`Gateway::long_poll`] and the WebSocket registration functions.

mod admin;
mod notify;

pub use self::admin::LogLevelHook;

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use serde_json::Value;
use tokio::sync::{Notify, mpsc};
use tracing::{debug, info, warn};

use crate::janus::wire::{self, Path};
use crate::janus::{Core, Delivery, JanusError, PluginCall, PluginOp, PluginReply, Transport};
use crate::plugins::dispatch::lock;
use crate::plugins::{EventSink, HandleEvent, HandleId, Plugin};

/// How long a long poll is held before answering `keepalive` (Janus: 30 s).
pub const LONG_POLL_TIMEOUT: Duration = Duration::from_secs(30);
/// How often idle sessions are swept.
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);
/// How long a plugin may take to answer a request before the client gets 490.
const PLUGIN_REPLY_TIMEOUT: Duration = Duration::from_secs(20);
/// Events and replies queued for one WebSocket before its client counts as
/// not reading. A janus.js client has a few dozen in flight at most (a
/// join's trickle burst); a thousand is seconds of a busy room's events.
/// Past it the socket is closed (and its sessions destroyed, as on any
/// close): a client that never reads must not grow the gateway's memory.
pub const WS_OUTBOX: usize = 1024;

/// One WebSocket's outbox and the signal that closes it.
struct WsConn {
    outbox: mpsc::Sender<Value>,
    close: Arc<Notify>,
}

/// What the WebSocket transport holds for one open connection.
pub struct WsLink {
    /// The connection's id.
    pub conn: u64,
    /// Events and replies to write, in order.
    pub outbox: mpsc::Receiver<Value>,
    /// Notified when the gateway closes the connection (its client stopped reading).
    pub close: Arc<Notify>,
}

/// Shared gateway state. Cheap to clone through `Arc`.
pub struct Gateway {
    /// The core; held only for a few lines, never across `.await` or a plugin call.
    core: Mutex<Core>,
    plugins: HashMap<&'static str, Arc<dyn Plugin>>,
    /// Long-poll wake-ups per HTTP session.
    waiters: Mutex<HashMap<u64, Arc<Notify>>>,
    /// Outboxes of WebSocket connections.
    ws_conns: Mutex<HashMap<u64, WsConn>>,
    next_conn: AtomicU64,
    /// Applies an Admin `set_log_level` to the process's log filter.
    log_level: Mutex<Option<LogLevelHook>>,
    /// The event handler, when `[events]` is enabled.
    events: std::sync::OnceLock<Arc<crate::events::EventHandler>>,
}

/// Routes plugin events into the gateway without keeping it alive.
struct Sink(Weak<Gateway>);

impl EventSink for Sink {
    fn report(&self, h: Option<HandleId>, plugin: &'static str, data: Value) {
        if let Some(gw) = self.0.upgrade() {
            gw.notify_plugin(h, plugin, data);
        }
    }

    fn push(&self, h: HandleId, plugin: &'static str, event: HandleEvent) {
        if let Some(gw) = self.0.upgrade() {
            gw.notify_handle_event(h, plugin, &event);
            let json = event.to_json(h, plugin);
            // (the event handler saw it above)
            gw.deliver_event(h.session_id, json);
        }
    }
}

impl Gateway {
    /// Builds the gateway. `make_plugins` receives the event sink the plugins
    /// must use.
    pub fn new(
        session_timeout: Duration,
        make_plugins: impl FnOnce(Arc<dyn EventSink>) -> Vec<Arc<dyn Plugin>>,
    ) -> Arc<Self> {
        Arc::new_cyclic(|weak: &Weak<Gateway>| {
            let plugins = make_plugins(Arc::new(Sink(weak.clone())));
            let descriptors = plugins.iter().map(|p| p.descriptor()).collect();
            Gateway {
                core: Mutex::new(Core::new(descriptors, session_timeout)),
                plugins: plugins
                    .into_iter()
                    .map(|p| (p.descriptor().package, p))
                    .collect(),
                waiters: Mutex::new(HashMap::new()),
                ws_conns: Mutex::new(HashMap::new()),
                next_conn: AtomicU64::new(1),
                log_level: Mutex::new(None),
                events: std::sync::OnceLock::new(),
            }
        })
    }

    /// Starts the session-timeout sweep; it ends when the gateway is dropped.
    pub fn spawn_sweeper(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SWEEP_INTERVAL);
            loop {
                tick.tick().await;
                let Some(gw) = weak.upgrade() else { break };
                let expired = lock(&gw.core).expire(Instant::now());
                for e in expired {
                    info!(session_id = e.session_id, "session timed out");
                    gw.notify_session_gone(e.session_id, "timeout");
                    if let Transport::Ws(conn) = e.owner {
                        gw.push_ws(conn, e.event);
                    }
                    gw.wake(e.session_id);
                    gw.run_calls(e.calls);
                }
            }
        });
    }

    /// `server_info` for `GET /janus/info`.
    pub fn server_info(&self) -> Value {
        lock(&self.core).server_info(None)
    }

    /// Adds or replaces a field of `server_info`.
    pub fn set_info(&self, key: &str, value: Value) {
        lock(&self.core).set_info(key, value);
    }

    /// Sets the API secret (see [`Core::set_api_secret`]).
    pub fn set_api_secret(&self, secret: Option<String>) {
        lock(&self.core).set_api_secret(secret);
    }

    /// Checks credentials given outside a request body (the long poll's
    /// query string: `apisecret` or `token`).
    pub fn check_credentials(
        &self,
        apisecret: Option<&str>,
        token: Option<&str>,
    ) -> Result<(), JanusError> {
        lock(&self.core).check_credentials(apisecret, token)
    }

    /// Configures the core's secrets, tokens and reclaim timeout.
    pub fn configure_core(&self, f: impl FnOnce(&mut Core)) {
        f(&mut lock(&self.core));
    }

    /// (sessions, handles) alive, for metrics.
    pub fn counts(&self) -> (usize, usize) {
        let c = lock(&self.core);
        (c.session_count(), c.handle_count())
    }

    /// Handles one request body. Everything that must happen in request
    /// order (core state, routing to plugins and rooms) happens before this
    /// returns; the returned future only waits for the reply.
    pub fn request(
        self: &Arc<Self>,
        body: &[u8],
        path: Option<Path>,
        from: Transport,
    ) -> BoxFuture<'static, Value> {
        let req = match wire::parse_request(body, path) {
            Ok(r) => r,
            Err(f) => {
                debug!(code = f.error.code(), reason = %f.error, "bad request");
                let v = wire::error(f.transaction.as_deref(), f.session_id, &f.error);
                return Box::pin(async move { v });
            }
        };
        let seen = self.events().is_some().then(|| req.clone());
        let outcome = lock(&self.core).handle(req, from, Instant::now());
        for (conn, ev) in outcome.pushes {
            self.push_ws(conn, ev);
        }
        match outcome.reply {
            Some(reply) => {
                // Detaches first: a `destroy`'s handles go before its session.
                self.run_calls(outcome.calls);
                if let Some(req) = seen {
                    self.notify_request(&req, from, Some(&reply));
                }
                Box::pin(async move { reply })
            }
            None => {
                // A `message`: exactly one call, whose result is the reply.
                if let Some(req) = seen {
                    self.notify_request(&req, from, None);
                }
                let mut calls = outcome.calls.into_iter();
                let Some(call) = calls.next() else {
                    let e = JanusError::Unknown("no reply".into());
                    return Box::pin(async move { wire::error(None, None, &e) });
                };
                let fut = self.dispatch_message(&call);
                Box::pin(async move {
                    let result = match tokio::time::timeout(PLUGIN_REPLY_TIMEOUT, fut).await {
                        Ok(r) => r,
                        Err(_) => Err(JanusError::PluginMessage(
                            "plugin did not answer in time".into(),
                        )),
                    };
                    crate::janus::core::plugin_reply(&call, result)
                })
            }
        }
    }

    pub(crate) fn dispatch_message(
        &self,
        call: &PluginCall,
    ) -> BoxFuture<'static, Result<PluginReply, JanusError>> {
        let Some(plugin) = self.plugins.get(call.plugin) else {
            let e = JanusError::PluginNotFound(call.plugin.into());
            return Box::pin(async move { Err(e) });
        };
        let PluginOp::Message { body, jsep } = &call.op else {
            return Box::pin(async { Err(JanusError::Unknown("not a message".into())) });
        };
        let h = HandleId {
            session_id: call.session_id,
            handle_id: call.handle_id,
        };
        plugin.message(h, call.transaction.clone(), body.clone(), jsep.clone())
    }

    /// Runs the non-message plugin calls (attach, trickle, hangup, detach).
    pub(crate) fn run_calls(&self, calls: Vec<PluginCall>) {
        for call in calls {
            self.notify_detach(&call);
            let Some(plugin) = self.plugins.get(call.plugin) else {
                continue;
            };
            let h = HandleId {
                session_id: call.session_id,
                handle_id: call.handle_id,
            };
            match call.op {
                PluginOp::Attach | PluginOp::Message { .. } => {}
                PluginOp::Trickle(t) => plugin.trickle(h, t),
                PluginOp::Hangup => plugin.hangup(h),
                PluginOp::Detach => plugin.detach(h),
            }
        }
    }

    fn deliver_event(&self, session_id: u64, event: Value) {
        let delivery = lock(&self.core).push_event(session_id, event);
        match delivery {
            Delivery::Queued(s) => self.wake(s),
            Delivery::Push(conn, v) => self.push_ws(conn, v),
            Delivery::Dropped => debug!(session_id, "event for a gone session dropped"),
        }
    }

    fn wake(&self, session_id: u64) {
        if let Some(n) = lock(&self.waiters).get(&session_id) {
            n.notify_waiters();
        }
    }

    fn notifier(&self, session_id: u64) -> Arc<Notify> {
        lock(&self.waiters)
            .entry(session_id)
            .or_insert_with(|| Arc::new(Notify::new()))
            .clone()
    }

    /// A long poll (`GET /janus/<session>?maxev=N`): up to `maxev` events, or
    /// `[keepalive]` after `timeout`. Errors with 458 for an unknown session.
    pub fn long_poll(
        self: &Arc<Self>,
        session_id: u64,
        maxev: usize,
        timeout: Duration,
    ) -> impl Future<Output = Result<Vec<Value>, JanusError>> + Send + 'static {
        let gw = self.clone();
        async move {
            let deadline = tokio::time::Instant::now() + timeout;
            let notify = gw.notifier(session_id);
            lock(&gw.core).poll_started(session_id, Instant::now());
            // Ends the poll even when the client goes away and warp drops
            // this future mid-wait (else the session could never expire).
            struct PollGuard(Arc<Gateway>, u64);
            impl Drop for PollGuard {
                fn drop(&mut self) {
                    lock(&self.0.core).poll_ended(self.1, Instant::now());
                }
            }
            let guard = PollGuard(gw.clone(), session_id);
            let result = loop {
                // Register interest before looking, so an event pushed in
                // between is not missed.
                let notified = notify.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                match lock(&gw.core).take_events(session_id, maxev, Instant::now()) {
                    Err(e) => break Err(e),
                    Ok(evs) if !evs.is_empty() => break Ok(evs),
                    Ok(_) => {}
                }
                if tokio::time::timeout_at(deadline, notified).await.is_err() {
                    break Ok(vec![serde_json::json!({"janus": "keepalive"})]);
                }
            };
            drop(guard);
            if !lock(&gw.core).has_session(session_id) {
                lock(&gw.waiters).remove(&session_id);
            }
            result
        }
    }

    /// Registers a WebSocket connection; events for its sessions arrive in
    /// its outbox (at most [`WS_OUTBOX`] waiting).
    pub fn ws_open(&self) -> WsLink {
        let conn = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let (tx, outbox) = mpsc::channel(WS_OUTBOX);
        let close = Arc::new(Notify::new());
        lock(&self.ws_conns).insert(
            conn,
            WsConn {
                outbox: tx,
                close: close.clone(),
            },
        );
        WsLink {
            conn,
            outbox,
            close,
        }
    }

    /// A WebSocket closed: its sessions are destroyed (Janus behaviour), or
    /// with a reclaim timeout kept for a `claim`.
    pub fn ws_closed(&self, conn: u64) {
        lock(&self.ws_conns).remove(&conn);
        let calls = lock(&self.core).transport_gone(conn, Instant::now());
        let mut gone: Vec<u64> = calls.iter().map(|c| c.session_id).collect();
        gone.dedup();
        for s in gone {
            self.notify_session_gone(s, "destroyed");
        }
        if !calls.is_empty() {
            info!(
                conn,
                handles = calls.len(),
                "websocket closed, destroying its sessions"
            );
        }
        self.run_calls(calls);
    }

    /// Queues `v` for WebSocket `conn`. A full outbox closes the connection
    /// (see [`WS_OUTBOX`]); what was queued is dropped with it.
    pub fn push_ws(&self, conn: u64, v: Value) {
        let mut conns = lock(&self.ws_conns);
        let Some(c) = conns.get(&conn) else {
            return;
        };
        match c.outbox.try_send(v) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                warn!(
                    conn,
                    queued = WS_OUTBOX,
                    "websocket client is not reading its events: closing it"
                );
                if let Some(c) = conns.remove(&conn) {
                    c.close.notify_one();
                }
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                debug!(conn, "websocket outbox closed");
            }
        }
    }
}

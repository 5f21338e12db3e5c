//! The Janus core as a state machine: sessions, handles, event queues and
//! timeouts. No I/O, no clocks of its own (callers pass `now`), no locks.
//!
//! Invariants:
//! - every handle in `handles` belongs to exactly one live session, and that
//!   session's `handles` set names it;
//! - a session is owned by one transport: HTTP sessions queue their events
//!   for long polls, WebSocket sessions get them pushed to their connection;
//! - ids are random in `1..2^53` so JavaScript clients hold them exactly.
//!
//! Plugin work is not done here: a request for a plugin comes out as a
//! [`PluginCall`] for the adapter to run; the reply is formed afterwards with
//! [`plugin_reply`].

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

use rand::Rng;
use serde_json::{Value, json};

use super::auth::Auth;
use super::error::JanusError;
use super::wire::{self, Jsep, Request, Trickle, Verb};

/// Largest id JavaScript represents exactly (2^53).
const MAX_SAFE_ID: u64 = 1 << 53;
/// Events kept for an HTTP session nobody polls, before the oldest are dropped.
/// Janus keeps them unbounded; a cap stops a forgotten session from growing.
const MAX_QUEUED_EVENTS: usize = 10_000;

/// Which transport owns a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// HTTP: events wait in the session queue for a long poll.
    Http,
    /// One WebSocket connection, by its id: events are pushed to it.
    Ws(u64),
}

/// A plugin the core can attach handles to.
#[derive(Debug, Clone)]
pub struct PluginDescriptor {
    /// Package name, e.g. `janus.plugin.videoroom`.
    pub package: &'static str,
    /// Human-readable name for `server_info`.
    pub name: &'static str,
    /// Description for `server_info`.
    pub description: &'static str,
    /// Version string for `server_info`.
    pub version_string: &'static str,
    /// Numeric version for `server_info`.
    pub version: u32,
}

/// What a plugin is asked to do for one handle.
#[derive(Debug, Clone, PartialEq)]
pub enum PluginOp {
    /// A new handle was attached.
    Attach,
    /// A `message`.
    Message {
        body: serde_json::Map<String, Value>,
        jsep: Option<Jsep>,
    },
    /// Remote ICE candidates.
    Trickle(Trickle),
    /// Close the PeerConnection, keep the handle.
    Hangup,
    /// The handle is gone (detach, session destroy or timeout).
    Detach,
}

/// Work for a plugin, produced by the core for the adapter to run.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginCall {
    /// Plugin package name.
    pub plugin: &'static str,
    /// Session id.
    pub session_id: u64,
    /// Handle id.
    pub handle_id: u64,
    /// The request's transaction (empty for calls the core makes itself).
    pub transaction: String,
    /// What to do.
    pub op: PluginOp,
}

/// The result of a plugin `message`.
#[derive(Debug, Clone, PartialEq)]
pub enum PluginReply {
    /// A synchronous result, answered as `success` with `plugindata.data`.
    Sync(Value),
    /// Accepted; the result follows as an `event` with the same transaction.
    Ack,
}

/// What the adapter must do after one request.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Outcome {
    /// The immediate reply; `None` when it comes from the plugin call.
    pub reply: Option<Value>,
    /// Plugin work to run, in order.
    pub calls: Vec<PluginCall>,
    /// Events to push now to WebSocket connections (e.g. after a `claim`).
    pub pushes: Vec<(u64, Value)>,
}

/// Where an event went.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivery {
    /// Queued for the session's long poll: wake its waiters.
    Queued(u64),
    /// Push this to the WebSocket connection.
    Push(u64, Value),
    /// The session no longer exists.
    Dropped,
}

/// A session removed by the timeout sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct Expired {
    /// The session.
    pub session_id: u64,
    /// Its transport; a WebSocket gets `event` pushed.
    pub owner: Transport,
    /// `{"janus":"timeout","session_id"}`.
    pub event: Value,
    /// Detach calls for its handles.
    pub calls: Vec<PluginCall>,
}

pub(super) struct Session {
    pub(super) owner: Transport,
    pub(super) last_activity: Instant,
    /// Long polls waiting on this session right now: a client parked in a
    /// poll is alive even when the poll outlasts the session timeout.
    polls: u32,
    pub(super) handles: BTreeSet<u64>,
    events: VecDeque<Value>,
    /// Its own timeout (Admin `set_session_timeout`): `None` follows the
    /// global one, `Some(ZERO)` never times out.
    pub(super) timeout: Option<Duration>,
    /// When its WebSocket closed, if it did: it waits for a `claim` until
    /// the reclaim timeout, queueing its events meanwhile.
    pub(super) orphaned: Option<Instant>,
}

pub(super) struct Handle {
    pub(super) session: u64,
    pub(super) plugin: &'static str,
    pub(super) created: Instant,
    pub(super) opaque_id: Option<String>,
    pub(super) token: Option<String>,
}

/// The Janus core state machine.
pub struct Core {
    pub(super) sessions: HashMap<u64, Session>,
    pub(super) handles: HashMap<u64, Handle>,
    pub(super) plugins: Vec<PluginDescriptor>,
    pub(super) session_timeout: Option<Duration>,
    /// Extra `server_info` fields (e.g. the encoders chosen at start-up).
    info_extra: serde_json::Map<String, Value>,
    /// Secrets and tokens.
    pub(super) auth: Auth,
    /// `false` after Admin `accept_new_sessions` with `accept: false`.
    pub(super) accept_new_sessions: bool,
    /// How long a session outlives its closed WebSocket (`None`: not at all).
    pub(super) reclaim_timeout: Option<Duration>,
    /// Wall-clock Unix seconds, for signed tokens' expiry (a field so tests
    /// can set the time).
    pub(super) wall_clock: fn() -> u64,
    /// `[limits] sessions_per_connection` (WebSocket), `handles_per_session`; 0: none.
    pub(super) limits: (usize, usize),
    /// The Janus log level last set through the Admin API (0–7).
    pub(super) log_level: u8,
    /// When the core started: the zero of the monotonic times `handle_info` shows.
    pub(super) epoch: Instant,
}

/// The system clock in Unix seconds.
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Core {
    /// A core serving `plugins`, timing sessions out after `session_timeout`
    /// without activity (`Duration::ZERO` disables the timeout, as in Janus).
    pub fn new(plugins: Vec<PluginDescriptor>, session_timeout: Duration) -> Self {
        Core {
            sessions: HashMap::new(),
            handles: HashMap::new(),
            plugins,
            session_timeout: (!session_timeout.is_zero()).then_some(session_timeout),
            info_extra: serde_json::Map::new(),
            auth: Auth::default(),
            accept_new_sessions: true,
            reclaim_timeout: None,
            wall_clock: unix_now,
            log_level: super::admin::DEFAULT_LOG_LEVEL,
            limits: (0, 0),
            epoch: Instant::now(),
        }
    }

    /// Requires `secret` as `apisecret` on every request but `info` and
    /// `ping` (Janus `api_secret`); `None` requires nothing.
    pub fn set_api_secret(&mut self, secret: Option<String>) {
        self.auth.set_api_secret(secret);
    }

    /// The secrets and tokens, to configure them (see [`Auth`]).
    pub fn auth_mut(&mut self) -> &mut Auth {
        &mut self.auth
    }

    /// Limits sessions per WebSocket connection and handles per session
    /// (0: none); past them `create`/`attach` get 490 "Limit reached".
    pub fn set_limits(&mut self, sessions_per_connection: usize, handles_per_session: usize) {
        self.limits = (sessions_per_connection, handles_per_session);
    }

    /// Keeps the sessions of a closed WebSocket for `timeout`, waiting for a
    /// `claim` (Janus `reclaim_session_timeout`; zero destroys them at once).
    pub fn set_reclaim_timeout(&mut self, timeout: Duration) {
        self.reclaim_timeout = (!timeout.is_zero()).then_some(timeout);
    }

    /// Checks credentials given outside a request body (the long poll's
    /// query string): 403 unless the API secret or a valid token is there.
    pub fn check_api_secret(&self, given: Option<&str>) -> Result<(), JanusError> {
        self.check_credentials(given, None)
    }

    /// Checks an `apisecret` and a `token` (see [`Auth::check_request`]).
    pub fn check_credentials(
        &self,
        apisecret: Option<&str>,
        token: Option<&str>,
    ) -> Result<(), JanusError> {
        self.auth
            .check_request(apisecret, token, (self.wall_clock)())
    }

    /// Adds or replaces a field of `server_info`.
    pub fn set_info(&mut self, key: &str, value: Value) {
        self.info_extra.insert(key.to_owned(), value);
    }

    /// Number of live sessions.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// Number of live handles.
    pub fn handle_count(&self) -> usize {
        self.handles.len()
    }

    /// A handle's `opaque_id`, if it exists and has one.
    pub fn handle_opaque(&self, handle_id: u64) -> Option<String> {
        self.handles
            .get(&handle_id)
            .and_then(|h| h.opaque_id.clone())
    }

    /// Every handle: (session, handle, plugin).
    pub fn handle_list(&self) -> Vec<(u64, u64, &'static str)> {
        self.handles
            .iter()
            .map(|(id, h)| (h.session, *id, h.plugin))
            .collect()
    }

    /// The plugin a handle is attached to, if the handle exists.
    pub fn handle_plugin(&self, handle_id: u64) -> Option<&'static str> {
        self.handles.get(&handle_id).map(|h| h.plugin)
    }

    fn new_id<T>(map: &HashMap<u64, T>) -> u64 {
        let mut rng = rand::rng();
        loop {
            let id = rng.random_range(1..MAX_SAFE_ID);
            if !map.contains_key(&id) {
                return id;
            }
        }
    }

    /// `server_info`, as `GET /janus/info` and the `info` verb return it.
    pub fn server_info(&self, transaction: Option<&str>) -> Value {
        let plugins: serde_json::Map<String, Value> = self
            .plugins
            .iter()
            .map(|p| {
                (
                    p.package.to_owned(),
                    json!({"name": p.name, "description": p.description,
                           "version_string": p.version_string, "version": p.version,
                           "author": "webrtc-gateway"}),
                )
            })
            .collect();
        let mut v = json!({
            "janus": "server_info",
            "name": "webrtc-gateway (Janus API compatible)",
            "version": 1400,
            "version_string": "1.4.0",
            "author": "webrtc-gateway",
            "server-name": "webrtc-gateway",
            "gateway": env!("CARGO_PKG_VERSION"),
            "session-timeout": self.session_timeout.map_or(0, |d| d.as_secs()),
            "api_secret": self.auth.has_api_secret(),
            "auth_token": self.auth.token_auth(),
            "admin_secret": self.auth.has_admin_secret(),
            "reclaim-session-timeout": self.reclaim_timeout.map_or(0, |d| d.as_secs()),
            "accepting-new-sessions": self.accept_new_sessions,
            "plugins": plugins,
            "transports": {
                "janus.transport.http": {"name": "HTTP transport", "version_string": "1.4.0"},
                "janus.transport.websockets": {"name": "WebSockets transport", "version_string": "1.4.0"},
            },
        });
        for (k, val) in &self.info_extra {
            v[k] = val.clone();
        }
        if let Some(t) = transaction {
            v["transaction"] = json!(t);
        }
        v
    }

    fn session_mut(&mut self, id: u64) -> Result<&mut Session, JanusError> {
        self.sessions
            .get_mut(&id)
            .ok_or(JanusError::SessionNotFound(id))
    }

    /// Handles one parsed request from `from` at time `now`.
    pub fn handle(&mut self, req: Request, from: Transport, now: Instant) -> Outcome {
        let tx = req.transaction.clone();
        let session = req.path.session;
        match self.handle_inner(req, from, now) {
            Ok(o) => o,
            Err(e) => Outcome {
                reply: Some(wire::error(Some(&tx), session, &e)),
                ..Outcome::default()
            },
        }
    }

    fn handle_inner(
        &mut self,
        req: Request,
        from: Transport,
        now: Instant,
    ) -> Result<Outcome, JanusError> {
        let tx = req.transaction.as_str();
        let reply = |v| {
            Ok(Outcome {
                reply: Some(v),
                ..Outcome::default()
            })
        };
        // Janus refuses a `create` while draining before it looks at the secret.
        if matches!(req.verb, Verb::Create { .. }) && !self.accept_new_sessions {
            return Err(JanusError::NotAcceptingSessions);
        }
        if !matches!(req.verb, Verb::Info | Verb::Ping) {
            self.check_credentials(req.apisecret.as_deref(), req.token.as_deref())?;
        }
        match req.verb {
            Verb::Info => return reply(self.server_info(Some(tx))),
            Verb::Ping => return reply(json!({"janus": "pong", "transaction": tx})),
            Verb::Create { id } => {
                if let (Transport::Ws(_), max) = (from, self.limits.0)
                    && max > 0
                    && self
                        .sessions
                        .values()
                        .filter(|s| s.owner == from && s.orphaned.is_none())
                        .count()
                        >= max
                {
                    return Err(JanusError::Limit(format!(
                        "{max} sessions on this connection ([limits] sessions_per_connection)"
                    )));
                }
                let id = match id {
                    Some(id) if self.sessions.contains_key(&id) => {
                        return Err(JanusError::SessionConflict);
                    }
                    Some(id) => id,
                    None => Self::new_id(&self.sessions),
                };
                self.sessions.insert(
                    id,
                    Session {
                        owner: from,
                        last_activity: now,
                        polls: 0,
                        handles: BTreeSet::new(),
                        events: VecDeque::new(),
                        timeout: None,
                        orphaned: None,
                    },
                );
                return reply(wire::success_id(tx, None, id));
            }
            _ => {}
        }
        // Session level and below: the parser guarantees a session id here.
        let session_id = req
            .path
            .session
            .ok_or(JanusError::MissingMandatoryElement("session_id"))?;
        let session = self.session_mut(session_id)?;
        session.last_activity = now;
        let Some(handle_id) = req.path.handle else {
            return match req.verb {
                Verb::Keepalive => {
                    reply(json!({"janus": "ack", "session_id": session_id, "transaction": tx}))
                }
                Verb::Claim => {
                    session.owner = from;
                    session.orphaned = None;
                    let mut out = Outcome {
                        reply: Some(wire::success(tx, Some(session_id))),
                        ..Outcome::default()
                    };
                    if let Transport::Ws(conn) = from {
                        out.pushes = session.events.drain(..).map(|e| (conn, e)).collect();
                    }
                    Ok(out)
                }
                Verb::Attach { plugin, opaque_id } => {
                    let plugin = self
                        .plugins
                        .iter()
                        .find(|p| p.package == plugin)
                        .map(|p| p.package)
                        .ok_or(JanusError::PluginNotFound(plugin))?;
                    self.auth
                        .check_plugin(req.token.as_deref(), plugin, (self.wall_clock)())?;
                    let max = self.limits.1;
                    if max > 0 && self.session_mut(session_id)?.handles.len() >= max {
                        return Err(JanusError::Limit(format!(
                            "{max} handles in this session ([limits] handles_per_session)"
                        )));
                    }
                    let handle_id = Self::new_id(&self.handles);
                    self.handles.insert(
                        handle_id,
                        Handle {
                            session: session_id,
                            plugin,
                            created: now,
                            opaque_id,
                            token: req.token.clone(),
                        },
                    );
                    self.session_mut(session_id)?.handles.insert(handle_id);
                    Ok(Outcome {
                        reply: Some(wire::success_id(tx, Some(session_id), handle_id)),
                        calls: vec![PluginCall {
                            plugin,
                            session_id,
                            handle_id,
                            transaction: tx.to_owned(),
                            op: PluginOp::Attach,
                        }],
                        pushes: vec![],
                    })
                }
                Verb::Destroy => {
                    let calls = self.remove_session(session_id);
                    Ok(Outcome {
                        reply: Some(wire::success(tx, Some(session_id))),
                        calls,
                        pushes: vec![],
                    })
                }
                // The parser only lets session-level verbs through here.
                other => Err(JanusError::InvalidRequestPath(format!("{other:?}"))),
            };
        };
        let plugin = match self.handles.get(&handle_id) {
            Some(h) if h.session == session_id => h.plugin,
            _ => return Err(JanusError::HandleNotFound(handle_id, session_id)),
        };
        let call = |op| PluginCall {
            plugin,
            session_id,
            handle_id,
            transaction: tx.to_owned(),
            op,
        };
        match req.verb {
            Verb::Message { body, jsep } => Ok(Outcome {
                reply: None,
                calls: vec![call(PluginOp::Message { body, jsep })],
                pushes: vec![],
            }),
            Verb::Trickle(t) => Ok(Outcome {
                reply: Some(wire::ack(tx, session_id)),
                calls: vec![call(PluginOp::Trickle(t))],
                pushes: vec![],
            }),
            Verb::Hangup => Ok(Outcome {
                reply: Some(wire::success(tx, Some(session_id))),
                calls: vec![call(PluginOp::Hangup)],
                pushes: vec![],
            }),
            Verb::Detach => {
                self.handles.remove(&handle_id);
                if let Some(s) = self.sessions.get_mut(&session_id) {
                    s.handles.remove(&handle_id);
                }
                let mut out = Outcome {
                    reply: Some(wire::success(tx, Some(session_id))),
                    calls: vec![call(PluginOp::Detach)],
                    pushes: vec![],
                };
                let detached =
                    json!({"janus": "detached", "session_id": session_id, "sender": handle_id});
                if let Delivery::Push(c, v) = self.push_event(session_id, detached) {
                    out.pushes.push((c, v));
                }
                Ok(out)
            }
            other => Err(JanusError::InvalidRequestPath(format!("{other:?}"))),
        }
    }

    /// Removes a session and its handles, returning the detach calls.
    pub(super) fn remove_session(&mut self, session_id: u64) -> Vec<PluginCall> {
        let Some(session) = self.sessions.remove(&session_id) else {
            return vec![];
        };
        session
            .handles
            .into_iter()
            .filter_map(|h| {
                self.handles.remove(&h).map(|handle| PluginCall {
                    plugin: handle.plugin,
                    session_id,
                    handle_id: h,
                    transaction: String::new(),
                    op: PluginOp::Detach,
                })
            })
            .collect()
    }

    /// Queues or routes an event for `session_id`.
    pub fn push_event(&mut self, session_id: u64, event: Value) -> Delivery {
        let Some(s) = self.sessions.get_mut(&session_id) else {
            return Delivery::Dropped;
        };
        match s.owner {
            Transport::Ws(conn) if s.orphaned.is_none() => Delivery::Push(conn, event),
            // HTTP, or a WebSocket session waiting to be claimed.
            _ => {
                if s.events.len() >= MAX_QUEUED_EVENTS {
                    s.events.pop_front();
                }
                s.events.push_back(event);
                Delivery::Queued(session_id)
            }
        }
    }

    /// Takes up to `max` queued events for a long poll (which also counts as
    /// session activity, as in Janus).
    pub fn take_events(
        &mut self,
        session_id: u64,
        max: usize,
        now: Instant,
    ) -> Result<Vec<Value>, JanusError> {
        let s = self.session_mut(session_id)?;
        s.last_activity = now;
        let n = max.max(1).min(s.events.len());
        Ok(s.events.drain(..n).collect())
    }

    /// A long poll starts waiting on `session_id` (no-op for unknown sessions).
    pub fn poll_started(&mut self, session_id: u64, now: Instant) {
        if let Some(s) = self.sessions.get_mut(&session_id) {
            s.polls += 1;
            s.last_activity = now;
        }
    }

    /// A long poll on `session_id` returned.
    pub fn poll_ended(&mut self, session_id: u64, now: Instant) {
        if let Some(s) = self.sessions.get_mut(&session_id) {
            s.polls = s.polls.saturating_sub(1);
            s.last_activity = now;
        }
    }

    /// Whether the session exists.
    pub fn has_session(&self, session_id: u64) -> bool {
        self.sessions.contains_key(&session_id)
    }

    /// A WebSocket connection closed. Without a reclaim timeout its
    /// sessions are destroyed now (their detach calls are returned); with
    /// one they wait for a `claim`, queueing their events (returns none).
    pub fn transport_gone(&mut self, conn: u64, now: Instant) -> Vec<PluginCall> {
        let owned: Vec<u64> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.owner == Transport::Ws(conn) && s.orphaned.is_none())
            .map(|(id, _)| *id)
            .collect();
        if self.reclaim_timeout.is_some() {
            for id in &owned {
                if let Some(s) = self.sessions.get_mut(id) {
                    s.orphaned = Some(now);
                }
            }
            return vec![];
        }
        owned
            .into_iter()
            .flat_map(|id| self.remove_session(id))
            .collect()
    }

    /// Sessions whose WebSocket closed and that wait for a `claim`.
    pub fn orphaned_count(&self) -> usize {
        self.sessions
            .values()
            .filter(|s| s.orphaned.is_some())
            .count()
    }

    /// Removes sessions idle for longer than their session timeout, and
    /// orphaned ones nobody claimed within the reclaim timeout.
    pub fn expire(&mut self, now: Instant) -> Vec<Expired> {
        let (global, reclaim) = (self.session_timeout, self.reclaim_timeout);
        let stale: Vec<(u64, Transport)> = self
            .sessions
            .iter()
            .filter(|(_, s)| {
                let unclaimed = match (s.orphaned, reclaim) {
                    (Some(at), Some(r)) => now.saturating_duration_since(at) >= r,
                    _ => false,
                };
                let timeout = match s.timeout {
                    Some(t) if t.is_zero() => None,
                    Some(t) => Some(t),
                    None => global,
                };
                let idle = timeout.is_some_and(|t| {
                    s.polls == 0 && now.saturating_duration_since(s.last_activity) >= t
                });
                unclaimed || idle
            })
            .map(|(id, s)| (*id, s.owner))
            .collect();
        stale
            .into_iter()
            .map(|(session_id, owner)| Expired {
                session_id,
                owner,
                event: json!({"janus": "timeout", "session_id": session_id}),
                calls: self.remove_session(session_id),
            })
            .collect()
    }
}

/// Forms the reply to a plugin `message` from the plugin's result.
pub fn plugin_reply(call: &PluginCall, result: Result<PluginReply, JanusError>) -> Value {
    match result {
        Ok(PluginReply::Sync(data)) => wire::plugin_success(
            &call.transaction,
            call.session_id,
            call.handle_id,
            call.plugin,
            data,
        ),
        Ok(PluginReply::Ack) => wire::ack(&call.transaction, call.session_id),
        Err(e) => wire::error(Some(&call.transaction), Some(call.session_id), &e),
    }
}

#[cfg(test)]
#[path = "core_tests.rs"]
mod tests;

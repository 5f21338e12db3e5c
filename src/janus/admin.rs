//! The Janus Admin API (Janus documentation, "Admin/Monitor API";
//! `janus.c` `janus_process_incoming_admin_request`): its request parser and
//! the requests the core answers itself. Requests that need a plugin or the
//! process (`message_plugin`, `handle_info`'s plugin and WebRTC parts,
//! `set_log_level`) come out as [`AdminWork`] for the gateway to finish.
//!
//! The order of checks is Janus's: `info` and `ping` need nothing; then the
//! `admin_secret` (403); then the request must exist at its level (root,
//! session or handle), else 457 "Unhandled request '…' at this path".

use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use super::core::{Core, PluginCall, PluginOp, Transport};
use super::error::JanusError;
use super::wire::{ParseFailure, Path};

/// A parsed Admin API request.
#[derive(Debug, Clone, PartialEq)]
pub struct AdminRequest {
    /// The client's `transaction`.
    pub transaction: String,
    /// `session_id`/`handle_id`, from the URL (HTTP) or the body (WebSocket).
    pub path: Path,
    /// The `janus` verb, e.g. `list_sessions`.
    pub verb: String,
    /// `admin_secret`, when given as a string.
    pub admin_secret: Option<String>,
    /// The whole body, for the verb's own fields.
    pub body: Map<String, Value>,
}

/// What the gateway must finish after the core's part of an admin request.
#[derive(Debug, Clone, PartialEq)]
pub enum AdminWork {
    /// `message_plugin`: ask `plugin` `request`; the reply is
    /// `{"janus":"success","transaction","response":<plugin's answer>}`.
    MessagePlugin {
        /// The plugin's package name.
        plugin: &'static str,
        /// The plugin request (e.g. `{"request":"list"}`).
        request: Value,
    },
    /// `handle_info`: the core's fields are in `info`; the plugin adds
    /// `plugin_specific` and, unless `plugin_only`, `webrtc`.
    HandleInfo {
        /// Session id.
        session_id: u64,
        /// Handle id.
        handle_id: u64,
        /// The plugin the handle is attached to.
        plugin: &'static str,
        /// What the core knows of the handle.
        info: Map<String, Value>,
        /// Leave out the WebRTC part.
        plugin_only: bool,
    },
    /// `set_log_level`: apply Janus level `level` (0 none … 7 debug) to the
    /// tracing filter; the reply is already formed.
    SetLogLevel(u8),
}

/// What one admin request produced.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AdminOutcome {
    /// The reply, unless [`AdminWork`] forms it.
    pub reply: Option<Value>,
    /// Plugin calls to run (detach, hangup).
    pub calls: Vec<PluginCall>,
    /// Events to push to WebSocket connections (`detached`, `timeout`).
    pub pushes: Vec<(u64, Value)>,
    /// What is left for the gateway.
    pub work: Option<AdminWork>,
}

/// Parses one Admin API request body. `path` is `Some` for HTTP (ids from
/// the URL, else from the body), `None` for WebSocket (ids from the body). Janus's checks: 454
/// not JSON, 455 not an object, 456/467 a missing or non-string
/// `transaction` or `janus`.
pub fn parse(bytes: &[u8], path: Option<Path>) -> Result<AdminRequest, ParseFailure> {
    let session = path.and_then(|p| p.session);
    let root: Value = serde_json::from_slice(bytes).map_err(|e| ParseFailure {
        error: JanusError::InvalidJson(e.to_string()),
        transaction: None,
        session_id: session,
    })?;
    let Value::Object(body) = root else {
        return Err(ParseFailure {
            error: JanusError::InvalidJsonObject,
            transaction: None,
            session_id: session,
        });
    };
    let transaction = body.get("transaction").and_then(Value::as_str);
    // Ids in the URL win; else the body's (Janus reads them from the body,
    // where its HTTP transport also puts the URL's).
    let url = path.unwrap_or_default();
    let path = Path {
        session: url
            .session
            .or_else(|| body.get("session_id").and_then(Value::as_u64)),
        handle: url
            .handle
            .or_else(|| body.get("handle_id").and_then(Value::as_u64)),
    };
    let fail = |error| ParseFailure {
        error,
        transaction: transaction.map(str::to_owned),
        session_id: path.session,
    };
    let transaction = match body.get("transaction") {
        None => return Err(fail(JanusError::MissingMandatoryElement("transaction"))),
        Some(Value::String(s)) => s.clone(),
        Some(_) => {
            return Err(fail(JanusError::InvalidElementType(
                "transaction",
                "a string",
            )));
        }
    };
    let verb = match body.get("janus") {
        None => return Err(fail(JanusError::MissingMandatoryElement("janus"))),
        Some(Value::String(s)) => s.to_ascii_lowercase(),
        Some(_) => return Err(fail(JanusError::InvalidElementType("janus", "a string"))),
    };
    Ok(AdminRequest {
        transaction,
        path,
        verb,
        admin_secret: body
            .get("admin_secret")
            .and_then(Value::as_str)
            .map(str::to_owned),
        body,
    })
}

fn success(tx: &str, session: Option<u64>) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("janus".into(), json!("success"));
    m.insert("transaction".into(), json!(tx));
    if let Some(s) = session {
        m.insert("session_id".into(), json!(s));
    }
    m
}

fn with(mut m: Map<String, Value>, key: &str, v: Value) -> Value {
    m.insert(key.into(), v);
    Value::Object(m)
}

/// A required integer field (456 missing, 467 wrong type).
fn int(body: &Map<String, Value>, key: &'static str) -> Result<i64, JanusError> {
    match body.get(key) {
        None => Err(JanusError::MissingMandatoryElement(key)),
        Some(v) => v
            .as_i64()
            .ok_or(JanusError::InvalidElementType(key, "an integer")),
    }
}

fn string<'a>(body: &'a Map<String, Value>, key: &'static str) -> Result<&'a str, JanusError> {
    match body.get(key) {
        None => Err(JanusError::MissingMandatoryElement(key)),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(JanusError::InvalidElementType(key, "a string")),
    }
}

/// `plugins`: an optional array of strings (467 otherwise).
fn plugin_list(body: &Map<String, Value>) -> Result<Vec<String>, JanusError> {
    match body.get("plugins") {
        None => Ok(vec![]),
        Some(Value::Array(a)) => a
            .iter()
            .map(|p| p.as_str().map(str::to_owned))
            .collect::<Option<_>>()
            .ok_or(JanusError::InvalidElementType(
                "plugins",
                "an array of strings",
            )),
        Some(_) => Err(JanusError::InvalidElementType("plugins", "an array")),
    }
}

/// The Janus log level the gateway starts at (4, info).
pub const DEFAULT_LOG_LEVEL: u8 = 4;

impl Core {
    /// Handles one Admin API request at time `now`. Errors come back as the
    /// reply, in Janus's shape.
    pub fn admin(&mut self, req: AdminRequest, now: Instant) -> AdminOutcome {
        let (tx, session) = (req.transaction.clone(), req.path.session);
        match self.admin_inner(req, now) {
            Ok(o) => o,
            Err(e) => AdminOutcome {
                reply: Some(super::wire::error(Some(&tx), session, &e)),
                ..AdminOutcome::default()
            },
        }
    }

    fn admin_inner(&mut self, req: AdminRequest, now: Instant) -> Result<AdminOutcome, JanusError> {
        let tx = req.transaction.as_str();
        let reply = |v: Value| {
            Ok(AdminOutcome {
                reply: Some(v),
                ..AdminOutcome::default()
            })
        };
        let verb = req.verb.as_str();
        let b = &req.body;
        let Some(session_id) = req.path.session else {
            match verb {
                "info" => return reply(self.server_info(Some(tx))),
                "ping" => return reply(json!({"janus": "pong", "transaction": tx})),
                _ => {}
            }
            self.auth.check_admin(req.admin_secret.as_deref())?;
            return match verb {
                "get_status" => reply(with(success(tx, None), "status", self.status())),
                "set_session_timeout" => {
                    let t = int(b, "timeout")?;
                    let t = u64::try_from(t).map_err(|_| {
                        JanusError::Invalid(
                            "Invalid element type (timeout should be a positive integer)".into(),
                        )
                    })?;
                    self.session_timeout = (t > 0).then(|| Duration::from_secs(t));
                    reply(with(success(tx, None), "timeout", json!(t)))
                }
                "set_log_level" => {
                    let level = int(b, "level")?;
                    let level = u8::try_from(level)
                        .ok()
                        .filter(|l| *l <= 7)
                        .ok_or_else(|| {
                            JanusError::Invalid(
                                "Invalid element type (level should be between 0 and 7)".into(),
                            )
                        })?;
                    self.log_level = level;
                    Ok(AdminOutcome {
                        reply: Some(with(success(tx, None), "level", json!(level))),
                        work: Some(AdminWork::SetLogLevel(level)),
                        ..AdminOutcome::default()
                    })
                }
                "accept_new_sessions" => {
                    let accept = match b.get("accept") {
                        None => return Err(JanusError::MissingMandatoryElement("accept")),
                        Some(Value::Bool(a)) => *a,
                        Some(_) => {
                            return Err(JanusError::InvalidElementType("accept", "a boolean"));
                        }
                    };
                    self.accept_new_sessions = accept;
                    reply(with(success(tx, None), "accept", json!(accept)))
                }
                "message_plugin" => {
                    let name = string(b, "plugin")?;
                    let plugin = self
                        .plugins
                        .iter()
                        .find(|p| p.package == name)
                        .map(|p| p.package)
                        .ok_or_else(|| JanusError::PluginNotFound(name.to_owned()))?;
                    let request = match b.get("request") {
                        None => return Err(JanusError::MissingMandatoryElement("request")),
                        Some(r @ Value::Object(_)) => r.clone(),
                        Some(_) => {
                            return Err(JanusError::InvalidElementType("request", "an object"));
                        }
                    };
                    Ok(AdminOutcome {
                        work: Some(AdminWork::MessagePlugin { plugin, request }),
                        ..AdminOutcome::default()
                    })
                }
                "list_sessions" => {
                    let mut ids: Vec<u64> = self.sessions.keys().copied().collect();
                    ids.sort_unstable();
                    reply(with(success(tx, None), "sessions", json!(ids)))
                }
                "add_token" | "allow_token" | "disallow_token" => {
                    let token = string(b, "token")?.to_owned();
                    let plugins = plugin_list(b)?;
                    let all: Vec<&'static str> = self.plugins.iter().map(|p| p.package).collect();
                    let allowed = if verb == "add_token" {
                        self.auth.add_token(&token, &plugins, &all)?
                    } else {
                        self.auth
                            .allow_token(&token, &plugins, &all, verb == "allow_token")?
                    };
                    reply(with(success(tx, None), "data", json!({"plugins": allowed})))
                }
                "list_tokens" => {
                    let tokens: Vec<Value> = self
                        .auth
                        .list_tokens()?
                        .into_iter()
                        .map(|(t, p)| json!({"token": t, "allowed_plugins": p}))
                        .collect();
                    reply(with(success(tx, None), "data", json!({"tokens": tokens})))
                }
                "remove_token" => {
                    let token = string(b, "token")?.to_owned();
                    self.auth.remove_token(&token)?;
                    reply(Value::Object(success(tx, None)))
                }
                other => Err(JanusError::InvalidRequestPath(other.to_owned())),
            };
        };
        self.auth.check_admin(req.admin_secret.as_deref())?;
        let session = self
            .sessions
            .get_mut(&session_id)
            .ok_or(JanusError::SessionNotFound(session_id))?;
        let Some(handle_id) = req.path.handle else {
            return match verb {
                "destroy_session" => {
                    let owner = session.owner;
                    let calls = self.remove_session(session_id);
                    let mut pushes = vec![];
                    if let Transport::Ws(conn) = owner {
                        // Janus tells the transport the session is over; a
                        // janus.js client sees it as a timeout.
                        pushes.push((conn, json!({"janus": "timeout", "session_id": session_id})));
                    }
                    Ok(AdminOutcome {
                        reply: Some(Value::Object(success(tx, Some(session_id)))),
                        calls,
                        pushes,
                        work: None,
                    })
                }
                "set_session_timeout" => {
                    let t = int(b, "timeout")?;
                    session.timeout = match t {
                        -1 => None,
                        t if t >= 0 => Some(Duration::from_secs(t as u64)),
                        _ => {
                            return Err(JanusError::Invalid(
                                "Invalid element type (timeout should be a non-negative integer or -1)"
                                    .into(),
                            ));
                        }
                    };
                    let mut m = success(tx, Some(session_id));
                    m.insert("timeout".into(), json!(t));
                    reply(Value::Object(m))
                }
                "list_handles" => {
                    let handles: Vec<u64> = session.handles.iter().copied().collect();
                    reply(with(
                        success(tx, Some(session_id)),
                        "handles",
                        json!(handles),
                    ))
                }
                other => Err(JanusError::InvalidRequestPath(other.to_owned())),
            };
        };
        let handle = match self.handles.get(&handle_id) {
            Some(h) if h.session == session_id => h,
            _ => return Err(JanusError::HandleNotFound(handle_id, session_id)),
        };
        let plugin = handle.plugin;
        let call = |op| PluginCall {
            plugin,
            session_id,
            handle_id,
            transaction: String::new(),
            op,
        };
        match verb {
            "detach_handle" => {
                self.handles.remove(&handle_id);
                let mut pushes = vec![];
                if let Some(s) = self.sessions.get_mut(&session_id) {
                    s.handles.remove(&handle_id);
                    if let (Transport::Ws(conn), None) = (s.owner, s.orphaned) {
                        pushes.push((
                            conn,
                            json!({"janus": "detached", "session_id": session_id, "sender": handle_id}),
                        ));
                    }
                }
                Ok(AdminOutcome {
                    reply: Some(Value::Object(success(tx, Some(session_id)))),
                    calls: vec![call(PluginOp::Detach)],
                    pushes,
                    work: None,
                })
            }
            "hangup_webrtc" => Ok(AdminOutcome {
                reply: Some(Value::Object(success(tx, Some(session_id)))),
                calls: vec![call(PluginOp::Hangup)],
                ..AdminOutcome::default()
            }),
            "handle_info" => {
                let plugin_only = b.get("plugin_only").and_then(Value::as_bool) == Some(true);
                // Monotonic microseconds since the core started, as Janus's
                // monotonic clock readings.
                let epoch = self.epoch;
                let mono = |t: Instant| t.saturating_duration_since(epoch).as_micros() as u64;
                let mut info = Map::new();
                info.insert("session_id".into(), json!(session_id));
                info.insert(
                    "session_last_activity".into(),
                    json!(mono(session.last_activity)),
                );
                let timeout = match session.timeout {
                    Some(t) => t.as_secs(),
                    None => self.session_timeout.map_or(0, |d| d.as_secs()),
                };
                info.insert("session_timeout".into(), json!(timeout));
                let transport = match (session.owner, session.orphaned) {
                    (_, Some(_)) => Value::Null,
                    (Transport::Http, None) => json!("janus.transport.http"),
                    (Transport::Ws(_), None) => json!("janus.transport.websockets"),
                };
                info.insert("session_transport".into(), transport);
                info.insert("handle_id".into(), json!(handle_id));
                if let Some(o) = &handle.opaque_id {
                    info.insert("opaque_id".into(), json!(o));
                }
                // As in Janus: the admin may list the tokens anyway.
                if let Some(t) = &handle.token {
                    info.insert("token".into(), json!(t));
                }
                info.insert("created".into(), json!(mono(handle.created)));
                info.insert("current_time".into(), json!(mono(now)));
                info.insert("plugin".into(), json!(plugin));
                Ok(AdminOutcome {
                    work: Some(AdminWork::HandleInfo {
                        session_id,
                        handle_id,
                        plugin,
                        info,
                        plugin_only,
                    }),
                    ..AdminOutcome::default()
                })
            }
            other => Err(JanusError::InvalidRequestPath(other.to_owned())),
        }
    }

    /// `get_status`'s `status` object.
    fn status(&self) -> Value {
        json!({
            "token_auth": self.auth.token_auth(),
            "session_timeout": self.session_timeout.map_or(0, |d| d.as_secs()),
            "reclaim_session_timeout": self.reclaim_timeout.map_or(0, |d| d.as_secs()),
            "log_level": self.log_level,
            "accepting_new_sessions": self.accept_new_sessions,
            "sessions": self.sessions.len(),
            "handles": self.handles.len(),
        })
    }
}

/// The `handle_info` reply: `{"janus":"success","session_id","transaction","handle_id","info"}`.
pub fn handle_info_reply(
    tx: &str,
    session_id: u64,
    handle_id: u64,
    info: Map<String, Value>,
) -> Value {
    let mut m = success(tx, Some(session_id));
    m.insert("handle_id".into(), json!(handle_id));
    m.insert("info".into(), Value::Object(info));
    Value::Object(m)
}

/// The `message_plugin` reply: `{"janus":"success","transaction","response"}`.
pub fn message_plugin_reply(tx: &str, response: Value) -> Value {
    with(success(tx, None), "response", response)
}

#[cfg(test)]
#[path = "admin_tests.rs"]
mod tests;

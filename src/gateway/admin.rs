//! The gateway's side of the Janus Admin API: the core answers what it
//! knows ([`crate::janus::admin`]); what needs a plugin or the process is
//! finished here. Transports call [`Gateway::admin_request`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use serde_json::{Value, json};
use tracing::{debug, info, warn};

use super::Gateway;
use crate::janus::admin::{self, AdminWork};
use crate::janus::wire::{self, Path};
use crate::plugins::HandleId;
use crate::plugins::dispatch::lock;

/// Applies a Janus log level (0 none, 1 fatal, 2 error, 3 warn, 4 info,
/// 5 verbose, 6 huge, 7 debug) to the process's log filter; `Err` says why not.
pub type LogLevelHook = Arc<dyn Fn(u8) -> Result<(), String> + Send + Sync>;

/// How long `message_plugin` may take before the client gets 490.
const ADMIN_PLUGIN_TIMEOUT: Duration = Duration::from_secs(20);

impl Gateway {
    /// Sets what `set_log_level` changes (the binary's tracing filter).
    pub fn set_log_level_hook(&self, hook: LogLevelHook) {
        *lock(&self.log_level) = Some(hook);
    }

    /// Handles one Admin API request body; `path` as in [`Gateway::request`].
    /// Core state changes happen before this returns.
    pub fn admin_request(
        self: &Arc<Self>,
        body: &[u8],
        path: Option<Path>,
    ) -> BoxFuture<'static, Value> {
        let req = match admin::parse(body, path) {
            Ok(r) => r,
            Err(f) => {
                debug!(code = f.error.code(), reason = %f.error, "bad admin request");
                let v = wire::error(f.transaction.as_deref(), f.session_id, &f.error);
                return Box::pin(async move { v });
            }
        };
        let tx = req.transaction.clone();
        let verb = req.verb.clone();
        let outcome = lock(&self.core).admin(req, Instant::now());
        if outcome
            .reply
            .as_ref()
            .is_some_and(|r| r["janus"] == "error")
        {
            debug!(request = %verb, "admin request refused");
        } else if !matches!(
            verb.as_str(),
            "info"
                | "ping"
                | "list_sessions"
                | "list_handles"
                | "handle_info"
                | "get_status"
                | "list_tokens"
        ) {
            info!(request = %verb, "admin request");
        }
        for (conn, ev) in outcome.pushes {
            self.push_ws(conn, ev);
        }
        self.run_calls(outcome.calls);
        if verb == "destroy_session"
            && let Some(r) = outcome.reply.as_ref().filter(|r| r["janus"] == "success")
            && let Some(s) = r["session_id"].as_u64()
        {
            self.notify_session_gone(s, "destroyed");
        }
        let reply = outcome.reply;
        match outcome.work {
            None => {
                let v = reply.unwrap_or_else(|| wire::success(&tx, None));
                Box::pin(async move { v })
            }
            Some(AdminWork::SetLogLevel(level)) => {
                let hook = lock(&self.log_level).clone();
                let mut v = reply.unwrap_or_else(|| wire::success(&tx, None));
                if let Some(hook) = hook
                    && let Err(e) = hook(level)
                {
                    warn!(level, error = %e, "set_log_level failed");
                    v = wire::error(Some(&tx), None, &crate::janus::JanusError::Unknown(e));
                }
                Box::pin(async move { v })
            }
            Some(AdminWork::MessagePlugin { plugin, request }) => {
                let Some(p) = self.plugins.get(plugin).cloned() else {
                    let e = crate::janus::JanusError::PluginNotFound(plugin.into());
                    let v = wire::error(Some(&tx), None, &e);
                    return Box::pin(async move { v });
                };
                let Value::Object(request) = request else {
                    let e = crate::janus::JanusError::InvalidElementType("request", "an object");
                    let v = wire::error(Some(&tx), None, &e);
                    return Box::pin(async move { v });
                };
                let fut = p.admin_message(request);
                Box::pin(async move {
                    match tokio::time::timeout(ADMIN_PLUGIN_TIMEOUT, fut).await {
                        Ok(response) => admin::message_plugin_reply(&tx, response),
                        Err(_) => wire::error(
                            Some(&tx),
                            None,
                            &crate::janus::JanusError::Unknown(
                                "plugin did not answer in time".into(),
                            ),
                        ),
                    }
                })
            }
            Some(AdminWork::HandleInfo {
                session_id,
                handle_id,
                plugin,
                mut info,
                plugin_only,
            }) => {
                let fut = self.plugins.get(plugin).map(|p| {
                    p.handle_info(
                        HandleId {
                            session_id,
                            handle_id,
                        },
                        !plugin_only,
                    )
                });
                Box::pin(async move {
                    if let Some(fut) = fut {
                        let part = fut.await;
                        if let Some(ps) = part.plugin_specific {
                            info.insert("plugin_specific".into(), ps);
                        }
                        if !plugin_only {
                            info.insert("webrtc".into(), part.webrtc.unwrap_or_else(|| json!({})));
                        }
                    }
                    admin::handle_info_reply(&tx, session_id, handle_id, info)
                })
            }
        }
    }
}

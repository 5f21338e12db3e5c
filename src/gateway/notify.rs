//! What the gateway tells the event handler ([`crate::events`]): session,
//! handle, JSEP, WebRTC, media and plugin events, in Janus's shapes, and
//! the periodic media statistics. Every call here returns at once.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::Gateway;
use crate::events::{EventHandler, Kind, Subject};
use crate::janus::wire::{Request, Verb};
use crate::janus::{PluginCall, PluginOp, Transport};
use crate::plugins::dispatch::lock;
use crate::plugins::{HandleEvent, HandleId};

fn transport_json(from: Transport) -> Value {
    match from {
        Transport::Http => json!({"transport": "janus.transport.http"}),
        Transport::Ws(conn) => json!({"transport": "janus.transport.websockets", "id": conn}),
    }
}

impl Gateway {
    /// Sends events to `handler` from now on.
    pub fn set_event_handler(self: &Arc<Self>, handler: Arc<EventHandler>) {
        let _ = self.events.set(handler.clone());
        if handler.stats_period > 0 && handler.wants(Kind::Media) {
            self.spawn_stats(Duration::from_secs(handler.stats_period));
        }
    }

    pub(super) fn events(&self) -> Option<&Arc<EventHandler>> {
        self.events.get()
    }

    /// The event handler's delivery counters, when it is enabled.
    pub fn event_counters(&self) -> Option<Arc<crate::events::Counters>> {
        self.events().map(|e| e.counters.clone())
    }

    /// Tells the event handler the server is stopping on signal `signum`
    /// (Janus's core event, subtype 2: `{"status": "shutdown", "signum"}`).
    pub fn notify_shutdown(&self, signum: i32) {
        if let Some(ev) = self.events() {
            ev.emit(
                Kind::Core,
                Some(2),
                Subject::default(),
                json!({"status": "shutdown", "signum": signum}),
            );
        }
    }

    /// Waits, at most `within`, until every queued event was delivered or
    /// given up on (the last ones before exit reach the backend).
    pub async fn flush_events(&self, within: Duration) {
        let Some(c) = self.event_counters() else {
            return;
        };
        let deadline = tokio::time::Instant::now() + within;
        let done = || {
            use std::sync::atomic::Ordering::Relaxed;
            c.sent.load(Relaxed) + c.failed.load(Relaxed) >= c.queued.load(Relaxed)
        };
        while !done() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn opaque(&self, handle_id: u64) -> Option<String> {
        lock(&self.core).handle_opaque(handle_id)
    }

    /// After a request the core accepted: sessions, handles and remote JSEPs.
    pub(super) fn notify_request(&self, req: &Request, from: Transport, reply: Option<&Value>) {
        let Some(ev) = self.events() else { return };
        let ok = reply.is_none_or(|r| r["janus"] == "success" || r["janus"] == "ack");
        if !ok {
            return;
        }
        let new_id = reply.and_then(|r| r["data"]["id"].as_u64());
        let session = req.path.session;
        match &req.verb {
            Verb::Create { .. } => ev.emit(
                Kind::Session,
                None,
                Subject {
                    session_id: new_id,
                    ..Subject::default()
                },
                json!({"name": "created", "transport": transport_json(from)}),
            ),
            Verb::Destroy => ev.emit(
                Kind::Session,
                None,
                Subject {
                    session_id: session,
                    ..Subject::default()
                },
                json!({"name": "destroyed"}),
            ),
            Verb::Attach { plugin, opaque_id } => {
                let mut body = json!({"name": "attached", "plugin": plugin});
                if let Some(o) = opaque_id {
                    body["opaque_id"] = json!(o);
                }
                if let Some(t) = &req.token {
                    body["token"] = json!(t);
                }
                ev.emit(
                    Kind::Handle,
                    None,
                    Subject {
                        session_id: session,
                        handle_id: new_id,
                        opaque_id: opaque_id.as_deref(),
                    },
                    body,
                );
            }
            Verb::Message { jsep: Some(j), .. } => {
                let opaque = req.path.handle.and_then(|h| self.opaque(h));
                ev.emit(
                    Kind::Jsep,
                    None,
                    Subject {
                        session_id: session,
                        handle_id: req.path.handle,
                        opaque_id: opaque.as_deref(),
                    },
                    json!({"owner": "remote", "jsep": {"type": j.kind.as_str(), "sdp": j.sdp}}),
                );
            }
            _ => {}
        }
    }

    /// A plugin's own report (e.g. videoroom `recording`).
    pub(super) fn notify_plugin(&self, h: Option<HandleId>, plugin: &'static str, data: Value) {
        let Some(ev) = self.events() else { return };
        let opaque = h.and_then(|h| self.opaque(h.handle_id));
        let who = Subject {
            session_id: h.map(|h| h.session_id),
            handle_id: h.map(|h| h.handle_id),
            opaque_id: opaque.as_deref(),
        };
        ev.emit(
            Kind::Plugin,
            None,
            who,
            json!({"plugin": plugin, "data": data}),
        );
    }

    /// A session ended without a `destroy`: `timeout`, or its socket closed.
    pub(super) fn notify_session_gone(&self, session_id: u64, name: &str) {
        if let Some(ev) = self.events() {
            ev.emit(
                Kind::Session,
                None,
                Subject {
                    session_id: Some(session_id),
                    ..Subject::default()
                },
                json!({"name": name}),
            );
        }
    }

    /// A handle is being detached (any cause).
    pub(super) fn notify_detach(&self, call: &PluginCall) {
        if let (Some(ev), PluginOp::Detach) = (self.events(), &call.op) {
            ev.emit(
                Kind::Handle,
                None,
                Subject {
                    session_id: Some(call.session_id),
                    handle_id: Some(call.handle_id),
                    opaque_id: None,
                },
                json!({"name": "detached", "plugin": call.plugin}),
            );
        }
    }

    /// What a plugin told a handle's client, seen by the event handler.
    pub(super) fn notify_handle_event(
        &self,
        h: HandleId,
        plugin: &'static str,
        event: &HandleEvent,
    ) {
        let Some(ev) = self.events() else { return };
        let opaque = self.opaque(h.handle_id);
        let who = Subject {
            session_id: Some(h.session_id),
            handle_id: Some(h.handle_id),
            opaque_id: opaque.as_deref(),
        };
        match event {
            HandleEvent::Plugin { data, jsep, .. } => {
                if let Some(j) = jsep {
                    ev.emit(
                        Kind::Jsep,
                        None,
                        who,
                        json!({"owner": "local", "jsep": {"type": j.kind.as_str(), "sdp": j.sdp}}),
                    );
                }
                if ev.wants(Kind::Plugin)
                    && let Some(p) = self.plugins.get(plugin)
                    && let Some(data) = p.handler_event(data, jsep.as_ref())
                {
                    ev.emit(
                        Kind::Plugin,
                        None,
                        who,
                        json!({"plugin": plugin, "data": data}),
                    );
                }
            }
            HandleEvent::WebrtcUp => {
                ev.emit(
                    Kind::Webrtc,
                    Some(6),
                    who,
                    json!({"connection": "webrtcup"}),
                );
            }
            HandleEvent::Hangup { reason } => ev.emit(
                Kind::Webrtc,
                Some(7),
                who,
                json!({"connection": "hangup", "reason": reason}),
            ),
            HandleEvent::Media {
                mid,
                kind,
                receiving,
            } => ev.emit(
                Kind::Media,
                Some(1),
                who,
                json!({"mid": mid, "media": kind.as_str(), "receiving": receiving}),
            ),
            HandleEvent::Trickle(_) => {}
        }
    }

    /// Every `period`, each handle's per-stream statistics as media events
    /// (subtype 3), read like Admin `handle_info`'s.
    fn spawn_stats(self: &Arc<Self>, period: Duration) {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(gw) = weak.upgrade() else { break };
                let handles = lock(&gw.core).handle_list();
                for (session_id, handle_id, plugin) in handles {
                    let Some(p) = gw.plugins.get(plugin).cloned() else {
                        continue;
                    };
                    let h = HandleId {
                        session_id,
                        handle_id,
                    };
                    let info = p.handle_info(h, true).await;
                    let Some(ev) = gw.events() else { break };
                    let media = info
                        .webrtc
                        .as_ref()
                        .and_then(|w| w["media"].as_object().cloned());
                    for (ssrc, stats) in media.unwrap_or_default() {
                        let mut body = stats.clone();
                        body["ssrc"] =
                            json!(ssrc.split('-').next().and_then(|s| s.parse::<u64>().ok()));
                        body["media"] = stats["kind"].clone();
                        ev.emit(
                            Kind::Media,
                            Some(3),
                            Subject {
                                session_id: Some(session_id),
                                handle_id: Some(handle_id),
                                opaque_id: None,
                            },
                            body,
                        );
                    }
                }
            }
        });
    }
}

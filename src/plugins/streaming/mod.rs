//! `janus.plugin.streaming` (request and reply shapes from the doc header of
//! Janus's `janus_streaming.c`): mountpoints fed by RTSP, RTMP or plain RTP.
//!
//! A mountpoint is a room of its own (one task, one pipeline) whose only
//! publisher is an ingest ([`crate::room::ingest`]) and whose viewers are
//! that room's subscribers. So a viewer gets everything a videoroom
//! subscriber gets (offers from the gateway, trickle, PLI handling, flow
//! guards), and a source that dies and returns is retried while viewers
//! stay connected. This module maps the streaming requests onto room
//! commands and the room's events back onto streaming shapes.

mod create;
pub mod error;
pub mod reply;
mod switch;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use serde_json::{Map, Value, json};
use tokio::sync::oneshot;
use tracing::{info, warn};

use self::error::StreamingError;
use super::dispatch::lock;
use super::params::{Id, Params};
use super::{Events, HandleId, Plugin, Route};
use crate::ids::{MediaId, RoomId};
use crate::janus::{JanusError, Jsep, PluginDescriptor, PluginReply, Trickle};
use crate::media::codec::{Codec, MediaKind};
use crate::room::config::RoomConfig;
use crate::room::ingest::{RtpMedia, SourceSpec};
use crate::room::source::RtspTransport;
use crate::room::{
    self, Command, IngestParams, IngestStatus, Notice, Notices, RoomContext, RoomError, RoomHandle,
    StreamRequest,
};

/// The plugin's package name.
pub const PLUGIN: &str = "janus.plugin.streaming";

/// The ingest's publisher id inside a mountpoint's room.
const FEED: u64 = 1;
/// How long a request waits for its mountpoint (negotiation, or a source
/// showing its streams at `create`).
const REPLY_TIMEOUT: Duration = Duration::from_secs(20);

/// Every request: its name and how it is answered.
const REQUESTS: &[(&str, Route)] = &[
    ("list", Route::Sync),
    ("info", Route::Sync),
    ("create", Route::Sync),
    ("destroy", Route::Sync),
    ("edit", Route::Sync),
    ("enable", Route::Sync),
    ("disable", Route::Sync),
    ("kick_all", Route::Sync),
    ("watch", Route::Async),
    ("start", Route::Async),
    ("pause", Route::Async),
    ("stop", Route::Async),
    ("switch", Route::Async),
    ("configure", Route::Async),
];

fn lookup(name: &str) -> Option<(&'static str, Route)> {
    REQUESTS.iter().find(|(n, _)| *n == name).copied()
}

/// What `edit`, `enable` and `disable` change.
#[derive(Clone)]
struct Settings {
    description: String,
    metadata: Option<Value>,
    secret: Option<String>,
    pin: Option<String>,
    is_private: bool,
    enabled: bool,
}

/// One mountpoint.
struct Mountpoint {
    id: u64,
    name: String,
    settings: Mutex<Settings>,
    spec: SourceSpec,
    room: RoomHandle,
}

impl Mountpoint {
    fn settings(&self) -> Settings {
        lock(&self.settings).clone()
    }

    fn check_secret(&self, secret: Option<&str>) -> Result<(), StreamingError> {
        match &self.settings().secret {
            Some(s) if Some(s.as_str()) != secret => Err(StreamingError::Unauthorized("secret")),
            _ => Ok(()),
        }
    }
}

/// Delivers what a mountpoint room's notices mean to its viewers.
struct Notifier {
    events: Events,
}

impl Notices for Notifier {
    fn notify(&self, _room: &RoomId, to: HandleId, notice: Notice) {
        for event in reply::notice(notice) {
            self.events.push(to, PLUGIN, event);
        }
    }
}

/// The notice sink mountpoint rooms are built with.
pub fn notices(events: Events) -> Arc<dyn Notices> {
    Arc::new(Notifier { events })
}

/// The streaming plugin.
pub struct Streaming {
    ctx: Arc<RoomContext>,
    /// Where acked requests' answers go.
    events: Events,
    mountpoints: Arc<Mutex<BTreeMap<u64, Arc<Mountpoint>>>>,
    /// Viewer handle → mountpoint id.
    viewers: Arc<Mutex<HashMap<u64, u64>>>,
    /// Viewers switched to another mountpoint: handle → (source mountpoint,
    /// bridge media id in its room).
    switched: Arc<Mutex<HashMap<u64, (u64, MediaId)>>>,
    admin_key: Option<String>,
    rtp_ip: String,
    /// Mountpoints alive at once (`[limits] mountpoints`); 0: no limit.
    max_mountpoints: usize,
}

type Reply = Result<Value, StreamingError>;
/// The event an asynchronous request answers with, once done.
type Answer = BoxFuture<'static, Result<(Value, Option<Jsep>), StreamingError>>;

impl Streaming {
    /// The plugin; `ctx` must carry [`notices`] and a membership map of its own.
    pub fn new(
        ctx: Arc<RoomContext>,
        events: Events,
        admin_key: Option<String>,
        rtp_ip: String,
    ) -> Self {
        Streaming {
            ctx,
            events,
            mountpoints: Arc::default(),
            viewers: Arc::default(),
            switched: Arc::default(),
            admin_key,
            rtp_ip,
            max_mountpoints: 0,
        }
    }

    /// At most `n` mountpoints at once (0: no limit); past it `create` gets
    /// error 456 "mountpoint limit reached".
    pub fn with_max_mountpoints(mut self, n: usize) -> Self {
        self.max_mountpoints = n;
        self
    }

    /// Number of mountpoints.
    pub fn mountpoint_count(&self) -> usize {
        lock(&self.mountpoints).len()
    }

    fn mountpoint(&self, p: &Params) -> Result<Arc<Mountpoint>, StreamingError> {
        let id = p
            .u64("id")?
            .ok_or_else(|| StreamingError::MissingElement("id".into()))?;
        lock(&self.mountpoints)
            .get(&id)
            .cloned()
            .ok_or(StreamingError::NoSuchMountpoint(id))
    }

    /// Gateway shutdown: every mountpoint's room goes down.
    pub async fn shutdown(&self, limit: Duration) {
        let mps: Vec<Arc<Mountpoint>> = lock(&self.mountpoints).values().cloned().collect();
        for mp in mps {
            let (tx, rx) = oneshot::channel();
            if mp.room.send(Command::Shutdown { reply: tx }).is_ok() {
                let _ = tokio::time::timeout(limit, rx).await;
            }
        }
    }

    /// The room's ingest status, if it answers within 5 s.
    async fn status(mp: &Mountpoint) -> Option<IngestStatus> {
        let (tx, rx) = oneshot::channel();
        mp.room.send(Command::IngestStatus { reply: tx }).ok()?;
        tokio::time::timeout(Duration::from_secs(5), rx)
            .await
            .ok()?
            .ok()
    }

    /// `list` (`full: false`) and `info` (`full`: with `viewers`, codecs
    /// and the source's state) for one mountpoint.
    async fn describe(mp: &Mountpoint, full: bool) -> Value {
        Self::describe_for(mp, full, false).await
    }

    /// [`Self::describe`]; with `ports` (`info` by the secret's holder, or
    /// of a mountpoint without one, as Janus), an `rtp` mountpoint's media
    /// also show their UDP `port`.
    async fn describe_for(mp: &Mountpoint, full: bool, ports: bool) -> Value {
        let status = Self::status(mp).await;
        let st = mp.settings();
        let mut v = json!({
            "id": mp.id, "type": "live", "description": st.description, "enabled": st.enabled,
        });
        if let Some(m) = &st.metadata {
            v["metadata"] = m.clone();
        }
        if full {
            v["name"] = json!(mp.name);
            v["is_private"] = json!(st.is_private);
            v["source"] = json!({"type": mp.spec.type_name(), "url": mp.spec.url()});
        }
        let mut v = reply::describe(mp.id, v, status.as_ref(), full);
        if ports && let Some(Value::Array(list)) = create::rtp_ports(mp.id, &mp.spec) {
            if let Some(media) = v["media"].as_array_mut().filter(|m| m.len() == list.len()) {
                for (m, p) in media.iter_mut().zip(&list) {
                    m["port"] = p["port"].clone();
                }
            } else {
                v["ports"] = Value::Array(list);
            }
        }
        v
    }

    fn sync_request(&self, request: &str, body: Map<String, Value>) -> BoxFuture<'static, Reply> {
        let p = Params::new(&body, false);
        let ready = |r: Reply| -> BoxFuture<'static, Reply> { Box::pin(async move { r }) };
        match request {
            "create" => self.create(&body),
            "list" => {
                let admin = self.admin_key.is_some()
                    && p.str("admin_key").ok().flatten() == self.admin_key.as_deref();
                let mps: Vec<Arc<Mountpoint>> = lock(&self.mountpoints).values().cloned().collect();
                Box::pin(async move {
                    let mut list = Vec::new();
                    for mp in mps.iter().filter(|m| admin || !m.settings().is_private) {
                        list.push(Self::describe(mp, false).await);
                    }
                    Ok(json!({"streaming": "list", "list": list}))
                })
            }
            "info" => {
                let mp = match self.mountpoint(&p) {
                    Ok(m) => m,
                    Err(e) => return ready(Err(e)),
                };
                // Like Janus: `info` shows more to the secret's holder, but
                // a wrong secret is an error.
                let secret = p.str("secret").ok().flatten();
                if let Some(secret) = secret
                    && let Err(e) = mp.check_secret(Some(secret))
                {
                    return ready(Err(e));
                }
                let ports = secret.is_some() || mp.settings().secret.is_none();
                Box::pin(async move {
                    Ok(
                        json!({"streaming": "info", "info": Self::describe_for(&mp, true, ports).await}),
                    )
                })
            }
            "destroy" | "enable" | "disable" | "kick_all" | "edit" => {
                let mp = match self
                    .mountpoint(&p)
                    .and_then(|m| m.check_secret(p.str("secret")?).map(|_| m))
                {
                    Ok(m) => m,
                    Err(e) => return ready(Err(e)),
                };
                match request {
                    "destroy" => {
                        lock(&self.mountpoints).remove(&mp.id);
                        let viewers = self.viewers.clone();
                        Box::pin(async move {
                            let (tx, rx) = oneshot::channel();
                            if mp.room.send(Command::Shutdown { reply: tx }).is_ok() {
                                let _ = tokio::time::timeout(REPLY_TIMEOUT, rx).await;
                            }
                            lock(&viewers).retain(|_, m| *m != mp.id);
                            info!(mountpoint = mp.id, "mountpoint destroyed");
                            Ok(json!({"streaming": "destroyed", "destroyed": mp.id}))
                        })
                    }
                    "enable" | "disable" => {
                        lock(&mp.settings).enabled = request == "enable";
                        ready(Ok(json!({"streaming": "ok"})))
                    }
                    "edit" => {
                        let st = mp.settings();
                        let edited = (|| -> Result<Settings, StreamingError> {
                            Ok(Settings {
                                description: p
                                    .str("new_description")?
                                    .map_or(st.description.clone(), str::to_owned),
                                metadata: p.raw("new_metadata").cloned().or(st.metadata.clone()),
                                secret: p
                                    .str("new_secret")?
                                    .map(str::to_owned)
                                    .or(st.secret.clone()),
                                pin: p.str("new_pin")?.map(str::to_owned).or(st.pin.clone()),
                                is_private: p.bool("new_is_private")?.unwrap_or(st.is_private),
                                enabled: st.enabled,
                            })
                        })();
                        match edited {
                            Ok(new) => {
                                *lock(&mp.settings) = new;
                                ready(Ok(json!({"streaming": "edited", "id": mp.id})))
                            }
                            Err(e) => ready(Err(e)),
                        }
                    }
                    _ => {
                        // kick_all: every viewer's PeerConnection goes.
                        let handles: Vec<u64> = lock(&self.viewers)
                            .iter()
                            .filter(|(_, m)| **m == mp.id)
                            .map(|(h, _)| *h)
                            .collect();
                        let members = lock(&self.ctx.membership).clone();
                        for h in handles {
                            if members.contains_key(&h) {
                                // The session id is not needed to route.
                                let _ = mp.room.send(Command::Hangup {
                                    h: HandleId {
                                        session_id: 0,
                                        handle_id: h,
                                    },
                                });
                            }
                        }
                        ready(Ok(json!({"streaming": "kicked_all"})))
                    }
                }
            }
            other => ready(Err(StreamingError::InvalidRequest(other.to_owned()))),
        }
    }

    /// Ends `h`'s bridge from another mountpoint, if it was switched.
    fn unexport(&self, h: u64) {
        let Some((source, media)) = lock(&self.switched).remove(&h) else {
            return;
        };
        if let Some(mp) = lock(&self.mountpoints).get(&source) {
            let _ = mp.room.send(Command::Unexport { media });
        }
    }

    /// The mountpoint whose media `h` gets (its own, or the one it
    /// switched to).
    fn source_of(&self, h: u64) -> Option<u64> {
        lock(&self.switched)
            .get(&h)
            .map(|(s, _)| *s)
            .or_else(|| lock(&self.viewers).get(&h).copied())
    }

    /// The mountpoint `h` watches.
    fn watched(&self, h: u64) -> Option<Arc<Mountpoint>> {
        let id = *lock(&self.viewers).get(&h)?;
        lock(&self.mountpoints).get(&id).cloned()
    }

    fn async_request(
        &self,
        h: HandleId,
        request: &str,
        body: &Map<String, Value>,
        jsep: Option<Jsep>,
    ) -> Result<Answer, StreamingError> {
        let p = Params::new(body, false);
        let status = reply::status;
        match request {
            "watch" => {
                if self.watched(h.handle_id).is_some() {
                    return Err(StreamingError::InvalidState("already watching".into()));
                }
                let mp = self.mountpoint(&p)?;
                let st = mp.settings();
                if let Some(pin) = &st.pin
                    && p.str("pin")? != Some(pin.as_str())
                {
                    return Err(StreamingError::Unauthorized("pin"));
                }
                if !st.enabled {
                    return Err(StreamingError::InvalidState("mountpoint disabled".into()));
                }
                let (tx, rx) = oneshot::channel();
                mp.room
                    .send(Command::Subscribe {
                        h,
                        streams: vec![StreamRequest {
                            feed: Id::Num(FEED),
                            mid: None,
                            layers: Default::default(),
                        }],
                        private_id: None,
                        reply: tx,
                    })
                    .map_err(|e| StreamingError::Unknown(e.to_string()))?;
                lock(&self.viewers).insert(h.handle_id, mp.id);
                let viewers = self.viewers.clone();
                Ok(Box::pin(async move {
                    match wait(rx).await {
                        Ok(offered) => Ok((
                            status("preparing"),
                            Some(Jsep {
                                kind: crate::janus::SdpType::Offer,
                                sdp: offered.offer,
                                trickle: None,
                            }),
                        )),
                        Err(e) => {
                            lock(&viewers).remove(&h.handle_id);
                            Err(e)
                        }
                    }
                }))
            }
            "start" | "pause" | "stop" | "configure" => {
                let mp = self
                    .watched(h.handle_id)
                    .ok_or_else(|| StreamingError::InvalidState("not watching anything".into()))?;
                let (tx, rx) = oneshot::channel();
                let unit =
                    |rx| -> BoxFuture<'static, Result<(), StreamingError>> { Box::pin(wait(rx)) };
                let (cmd, answered, done) = match request {
                    "start" => (Command::Start { h, jsep, reply: tx }, unit(rx), "starting"),
                    "pause" => (Command::Pause { h, reply: tx }, unit(rx), "pausing"),
                    "configure" => {
                        let streams = p
                            .array("streams")?
                            .map(|a| {
                                a.iter()
                                    .filter_map(|s| {
                                        Some(crate::room::StreamConfig {
                                            mid: Some(s["mid"].as_str()?.to_owned()),
                                            send: Some(s["send"].as_bool()?),
                                            layers: Default::default(),
                                        })
                                    })
                                    .collect()
                            })
                            .unwrap_or_default();
                        (
                            Command::ConfigureSubscriber {
                                h,
                                streams,
                                reply: tx,
                            },
                            unit(rx),
                            "ok",
                        )
                    }
                    _ => {
                        self.unexport(h.handle_id);
                        lock(&self.viewers).remove(&h.handle_id);
                        let (tx, rx) = oneshot::channel();
                        let left: BoxFuture<'static, Result<(), StreamingError>> =
                            Box::pin(async move { wait(rx).await.map(|_| ()) });
                        (Command::Leave { h, reply: tx }, left, "stopping")
                    }
                };
                mp.room
                    .send(cmd)
                    .map_err(|e| StreamingError::Unknown(e.to_string()))?;
                Ok(Box::pin(async move {
                    answered.await?;
                    Ok((status(done), None))
                }))
            }
            "switch" => self.switch(h, &p),
            other => Err(StreamingError::InvalidRequest(other.to_owned())),
        }
    }

    fn route(&self, h: HandleId, make: impl FnOnce(HandleId) -> Command) {
        if let Some(mp) = self.watched(h.handle_id)
            && let Err(e) = mp.room.send(make(h))
        {
            warn!(handle_id = h.handle_id, error = %e, "could not reach the mountpoint");
        }
    }
}

async fn wait<T>(rx: oneshot::Receiver<Result<T, RoomError>>) -> Result<T, StreamingError> {
    match tokio::time::timeout(REPLY_TIMEOUT, rx).await {
        Ok(Ok(r)) => r.map_err(StreamingError::from),
        Ok(Err(_)) => Err(StreamingError::Unknown("the mountpoint closed".into())),
        Err(_) => Err(StreamingError::Unknown(
            "the mountpoint did not answer in time".into(),
        )),
    }
}

impl Plugin for Streaming {
    fn descriptor(&self) -> PluginDescriptor {
        PluginDescriptor {
            package: PLUGIN,
            name: "JANUS Streaming plugin",
            description: "Mountpoints fed by RTSP cameras, RTMP streams or plain RTP, watched over WebRTC",
            version_string: "0.0.1",
            version: 1,
        }
    }

    fn message(
        &self,
        h: HandleId,
        transaction: String,
        body: Map<String, Value>,
        jsep: Option<Jsep>,
    ) -> BoxFuture<'static, Result<PluginReply, JanusError>> {
        super::dispatch::dispatch::<StreamingError, _>(
            body,
            lookup,
            |request, body| self.sync_request(request, body),
            |request, body| self.async_request(h, request, body, jsep),
            (self.events.clone(), PLUGIN, h, transaction),
        )
    }

    fn trickle(&self, h: HandleId, trickle: Trickle) {
        self.route(h, |h| Command::Trickle { h, trickle });
    }

    fn hangup(&self, h: HandleId) {
        self.unexport(h.handle_id);
        self.route(h, |h| Command::Hangup { h });
    }

    fn admin_message(&self, request: Map<String, Value>) -> BoxFuture<'static, Value> {
        super::dispatch::admin::<StreamingError, _>(request, lookup, |r, body| {
            self.sync_request(r, body)
        })
    }

    fn handle_info(&self, h: HandleId, webrtc: bool) -> BoxFuture<'static, super::HandleInfo> {
        let mp = self.watched(h.handle_id);
        let id = mp.as_ref().map(|m| m.id);
        super::admin_info::ask(mp.map(|m| m.room.clone()), h, webrtc, move |info| {
            json!({
                "state": if info.role.is_some() { "watching" } else { "idle" },
                "mountpoint_id": id,
                "paused": info.paused,
            })
        })
    }

    fn detach(&self, h: HandleId) {
        self.unexport(h.handle_id);
        self.route(h, |h| Command::Detach { h });
        lock(&self.viewers).remove(&h.handle_id);
    }
}

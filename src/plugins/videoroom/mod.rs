//! `janus.plugin.videoroom` (Janus 1.x multistream API; request and event
//! shapes from the doc header of Janus's `janus_videoroom.c`).
//!
//! This module validates requests and routes them: room-less ones (`create`,
//! `list`, `exists`) are served here from the room registry, everything else
//! becomes a [`Command`] for the room's task. Synchronous requests answer in
//! the `success` reply; asynchronous ones are acked and answered by an event
//! carrying the request's transaction, as in Janus.

pub mod error;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::future::BoxFuture;
use serde_json::{Map, Value, json};
use tokio::sync::oneshot;
use tracing::{info, warn};

use self::error::VideoRoomError;
use super::params::{Id, Params};
use super::{HandleId, Plugin};
use crate::janus::{JanusError, Jsep, PluginDescriptor, PluginReply, Trickle};
use crate::room::config::RoomConfig;
use crate::room::{
    self, Command, JoinParams, Member, PublishParams, RoomContext, RoomHandle, StreamRequest,
    WithJsep,
};

/// How long a request waits for its room (negotiations included).
const ROOM_REPLY_TIMEOUT: Duration = Duration::from_secs(15);

/// The videoroom plugin.
pub struct VideoRoom {
    ctx: Arc<RoomContext>,
    rooms: Arc<Mutex<HashMap<Id, RoomHandle>>>,
    admin_key: Option<String>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Plain maps: their invariants hold between statements, so a panic
    // elsewhere while holding the lock leaves them usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

async fn wait<T>(rx: oneshot::Receiver<Result<T, VideoRoomError>>) -> Result<T, VideoRoomError> {
    match tokio::time::timeout(ROOM_REPLY_TIMEOUT, rx).await {
        Ok(Ok(r)) => r,
        Ok(Err(_)) => Err(VideoRoomError::Unknown(
            "the room closed before answering".into(),
        )),
        Err(_) => Err(VideoRoomError::Unknown(
            "the room did not answer in time".into(),
        )),
    }
}

fn stream_requests(p: &Params, key: &str) -> Result<Vec<StreamRequest>, VideoRoomError> {
    let Some(list) = p.array(key)? else {
        return Ok(vec![]);
    };
    list.iter()
        .map(|v| {
            let Value::Object(m) = v else {
                return Err(VideoRoomError::InvalidElement(
                    key.into(),
                    "an array of objects".into(),
                ));
            };
            let sp = Params::new(m, p.string_ids());
            Ok(StreamRequest {
                feed: sp.req_feed("feed")?,
                mid: sp.str("mid")?.map(str::to_owned),
            })
        })
        .collect()
}

const SYNC_REQUESTS: &[&str] = &[
    "create",
    "add_ingest",
    "remove_ingest",
    "start_rtmp",
    "stop_rtmp",
    "list_ingests",
    "edit",
    "destroy",
    "exists",
    "list",
    "listparticipants",
    "kick",
    "set_layout",
    "moderate",
    "enable_recording",
    "record_mix",
    "list_recordings",
];
const ASYNC_REQUESTS: &[&str] = &[
    "join",
    "joinandconfigure",
    "configure",
    "publish",
    "unpublish",
    "start",
    "pause",
    "leave",
    "update",
    "subscribe",
    "unsubscribe",
];

impl VideoRoom {
    /// A plugin with no rooms yet.
    pub fn new(ctx: Arc<RoomContext>, admin_key: Option<String>) -> Self {
        VideoRoom {
            ctx,
            rooms: Arc::new(Mutex::new(HashMap::new())),
            admin_key,
        }
    }

    fn string_ids(&self) -> bool {
        self.ctx.string_ids
    }

    /// Number of live rooms.
    pub fn room_count(&self) -> usize {
        lock(&self.rooms).values().filter(|r| r.is_alive()).count()
    }

    fn room(&self, id: &Id) -> Result<RoomHandle, VideoRoomError> {
        lock(&self.rooms)
            .get(id)
            .filter(|r| r.is_alive())
            .cloned()
            .ok_or_else(|| VideoRoomError::NoSuchRoom(id.clone()))
    }

    fn member(&self, handle: u64) -> Option<Member> {
        lock(&self.ctx.membership).get(&handle).cloned()
    }

    /// `create`: checks `admin_key`, picks or checks the id, starts the room.
    pub fn create(&self, body: &Map<String, Value>) -> Result<Value, VideoRoomError> {
        let p = Params::new(body, self.string_ids());
        if let Some(key) = &self.admin_key
            && p.str("admin_key")? != Some(key.as_str())
        {
            return Err(VideoRoomError::Unauthorized("admin_key"));
        }
        let requested = p.id("room")?;
        let mut rooms = lock(&self.rooms);
        rooms.retain(|_, r| r.is_alive());
        let id = match requested {
            Some(id) if rooms.contains_key(&id) => return Err(VideoRoomError::RoomExists(id)),
            Some(id) => id,
            None => loop {
                let id = if self.string_ids() {
                    Id::Str(format!("{:016x}", rand::random::<u64>()))
                } else {
                    Id::Num(rand::random_range(1..(1u64 << 53)))
                };
                if !rooms.contains_key(&id) {
                    break id;
                }
            },
        };
        let cfg = RoomConfig::from_create(&p, id.clone())?;
        let permanent = cfg.permanent;
        let handle = room::spawn(cfg, self.ctx.clone())?;
        rooms.insert(id.clone(), handle);
        info!(room = %id, "room created");
        if permanent {
            warn!(room = %id, "permanent rooms are not written back to the config file");
        }
        Ok(json!({"videoroom": "created", "room": id.to_json(), "permanent": false}))
    }

    fn sync_request(
        &self,
        request: &str,
        body: Map<String, Value>,
    ) -> BoxFuture<'static, Result<Value, VideoRoomError>> {
        let p = Params::new(&body, self.string_ids());
        let ready = |r: Result<Value, VideoRoomError>| -> BoxFuture<'static, Result<Value, VideoRoomError>> {
            Box::pin(async move { r })
        };
        match request {
            "create" => ready(self.create(&body)),
            "exists" => ready(p.req_id("room").map_err(Into::into).map(|id| {
                let exists = self.room(&id).is_ok();
                json!({"videoroom": "success", "room": id.to_json(), "exists": exists})
            })),
            "list" => {
                let admin = self.admin_key.is_some()
                    && p.str("admin_key").ok().flatten() == self.admin_key.as_deref();
                let rooms: Vec<RoomHandle> = lock(&self.rooms).values().cloned().collect();
                Box::pin(async move {
                    let mut list = Vec::new();
                    for r in rooms {
                        let (tx, rx) = oneshot::channel();
                        if r.send(Command::Info { reply: tx }).is_err() {
                            continue;
                        }
                        if let Ok(Ok(entry)) = tokio::time::timeout(ROOM_REPLY_TIMEOUT, rx).await
                            && (admin || entry["is_private"] != true)
                        {
                            list.push(entry);
                        }
                    }
                    Ok(json!({"videoroom": "success", "list": list}))
                })
            }
            "list_ingests" => {
                let room = match p
                    .req_id("room")
                    .map_err(VideoRoomError::from)
                    .and_then(|id| self.room(&id))
                {
                    Ok(r) => r,
                    Err(e) => return ready(Err(e)),
                };
                let (tx, rx) = oneshot::channel();
                if room.send(Command::IngestStatus { reply: tx }).is_err() {
                    return ready(Err(VideoRoomError::Unknown("room gone".into())));
                }
                Box::pin(async move {
                    match tokio::time::timeout(ROOM_REPLY_TIMEOUT, rx).await {
                        Ok(Ok(mut v)) => {
                            v["videoroom"] = json!("success");
                            Ok(v)
                        }
                        _ => Err(VideoRoomError::Unknown("the room did not answer".into())),
                    }
                })
            }
            "list_recordings" => {
                let room = match p.id("room") {
                    Ok(r) => r.map(|r| r.to_json()),
                    Err(e) => return ready(Err(e.into())),
                };
                let list: Vec<Value> = lock(&self.ctx.recordings)
                    .iter()
                    .filter(|r| room.as_ref().is_none_or(|id| &r.room == id))
                    .map(|r| r.to_json())
                    .collect();
                ready(Ok(json!({"videoroom": "success", "recordings": list})))
            }
            "destroy" | "edit" | "listparticipants" | "kick" | "set_layout" | "moderate"
            | "enable_recording" | "record_mix" | "add_ingest" | "remove_ingest" | "start_rtmp"
            | "stop_rtmp" => {
                let route = || -> Result<(RoomHandle, Id), VideoRoomError> {
                    let id = p.req_id("room")?;
                    Ok((self.room(&id)?, id))
                };
                let (room, id) = match route() {
                    Ok(r) => r,
                    Err(e) => return ready(Err(e)),
                };
                let (tx, rx) = oneshot::channel();
                let cmd = match request {
                    "destroy" => match p.str("secret") {
                        Ok(s) => Command::Destroy {
                            secret: s.map(str::to_owned),
                            reply: tx,
                        },
                        Err(e) => return ready(Err(e.into())),
                    },
                    "edit" => Command::Edit {
                        body: body.clone(),
                        reply: tx,
                    },
                    "listparticipants" => Command::ListParticipants { reply: tx },
                    "moderate" => match parse_moderate(&p) {
                        Ok((secret, id, mid, mute)) => Command::Moderate {
                            secret,
                            id,
                            mid,
                            mute,
                            reply: tx,
                        },
                        Err(e) => return ready(Err(e)),
                    },
                    "enable_recording" => match (p.str("secret"), p.req_bool("record")) {
                        (Ok(secret), Ok(record)) => Command::EnableRecording {
                            secret: secret.map(str::to_owned),
                            record,
                            reply: tx,
                        },
                        (Err(e), _) | (_, Err(e)) => return ready(Err(e.into())),
                    },
                    "record_mix" => {
                        let parsed = (|| {
                            Ok::<_, VideoRoomError>((
                                p.str("secret")?.map(str::to_owned),
                                p.req_bool("record")?,
                                p.str("filename")?.map(str::to_owned),
                            ))
                        })();
                        match parsed {
                            Ok((secret, record, filename)) => Command::RecordMix {
                                secret,
                                record,
                                filename,
                                reply: tx,
                            },
                            Err(e) => return ready(Err(e)),
                        }
                    }
                    "add_ingest" => match parse_add_ingest(&p) {
                        Ok((secret, spec, id, display, delay)) => Command::AddIngest {
                            secret,
                            spec,
                            id,
                            display,
                            reconnect_delay: delay,
                            keyframe_cache: p.bool("bufferkf").ok().flatten().unwrap_or(true),
                            reply: tx,
                        },
                        Err(e) => return ready(Err(e)),
                    },
                    "start_rtmp" => {
                        let parsed = (|| {
                            let url = p.req_str("url")?;
                            if !url.to_ascii_lowercase().starts_with("rtmp://")
                                && !url.to_ascii_lowercase().starts_with("rtmps://")
                            {
                                return Err(VideoRoomError::InvalidElement(
                                    "url".into(),
                                    "an rtmp:// URL".into(),
                                ));
                            }
                            let source = match p.raw("source") {
                                None => None,
                                Some(Value::String(s)) if s == "mix" => None,
                                Some(_) => Some(p.req_feed("source")?),
                            };
                            Ok::<_, VideoRoomError>((
                                p.str("secret")?.map(str::to_owned),
                                url.to_owned(),
                                source,
                            ))
                        })();
                        match parsed {
                            Ok((secret, url, source)) => Command::StartRtmp {
                                secret,
                                url,
                                source,
                                reply: tx,
                            },
                            Err(e) => return ready(Err(e)),
                        }
                    }
                    "stop_rtmp" => {
                        let parsed = (|| {
                            Ok::<_, VideoRoomError>((
                                p.str("secret")?.map(str::to_owned),
                                p.u64("id")?
                                    .ok_or_else(|| VideoRoomError::MissingElement("id".into()))?,
                            ))
                        })();
                        match parsed {
                            Ok((secret, id)) => Command::StopRtmp {
                                secret,
                                id,
                                reply: tx,
                            },
                            Err(e) => return ready(Err(e)),
                        }
                    }
                    "remove_ingest" => {
                        let parsed = p
                            .str("secret")
                            .and_then(|s| Ok((s.map(str::to_owned), p.req_id("id")?)));
                        match parsed {
                            Ok((secret, id)) => Command::RemoveIngest {
                                secret,
                                id,
                                reply: tx,
                            },
                            Err(e) => return ready(Err(e.into())),
                        }
                    }
                    "set_layout" => match parse_layout(&p) {
                        Ok(layout) => Command::SetLayout {
                            secret: p.str("secret").ok().flatten().map(str::to_owned),
                            layout,
                            reply: tx,
                        },
                        Err(e) => return ready(Err(e)),
                    },
                    _ => {
                        let parsed = p
                            .str("secret")
                            .and_then(|s| Ok((s.map(str::to_owned), p.req_id("id")?)));
                        match parsed {
                            Ok((secret, target)) => Command::Kick {
                                secret,
                                id: target,
                                reply: tx,
                            },
                            Err(e) => return ready(Err(e.into())),
                        }
                    }
                };
                if let Err(e) = room.send(cmd) {
                    return ready(Err(e));
                }
                let is_destroy = request == "destroy";
                let rooms = self.rooms.clone();
                Box::pin(async move {
                    let r = wait(rx).await;
                    if is_destroy && r.is_ok() {
                        lock(&rooms).remove(&id);
                        info!(room = %id, "room destroyed");
                    }
                    r
                })
            }
            other => ready(Err(VideoRoomError::InvalidRequest(other.to_owned()))),
        }
    }

    /// Routes an asynchronous request; the future yields its event data.
    fn async_request(
        &self,
        h: HandleId,
        request: &str,
        body: &Map<String, Value>,
        jsep: Option<Jsep>,
    ) -> Result<BoxFuture<'static, Result<WithJsep, VideoRoomError>>, VideoRoomError> {
        let p = Params::new(body, self.string_ids());
        let member = self.member(h.handle_id);
        let no_jsep = |fut: BoxFuture<'static, Result<Value, VideoRoomError>>| -> BoxFuture<'static, Result<WithJsep, VideoRoomError>> {
            Box::pin(async move { fut.await.map(|v| (v, None)) })
        };
        match request {
            "join" | "joinandconfigure" => {
                if let Some(m) = &member {
                    return Err(VideoRoomError::AlreadyJoined(if m.subscriber {
                        "subscriber"
                    } else {
                        "publisher"
                    }));
                }
                let room_id = p.req_id("room")?;
                let room = self.room(&room_id)?;
                let ptype = p.req_str("ptype")?;
                match ptype {
                    "publisher" => {
                        let params = JoinParams {
                            id: p.id("id")?,
                            display: p.str("display")?.map(str::to_owned),
                            metadata: p.raw("metadata").cloned(),
                            pin: p.str("pin")?.map(str::to_owned),
                        };
                        let publish = if request == "joinandconfigure" {
                            Some(publish_params(&p, false)?)
                        } else {
                            None
                        };
                        let (tx, rx) = oneshot::channel();
                        room.send(Command::Join {
                            h,
                            params,
                            reply: tx,
                        })?;
                        Ok(Box::pin(async move {
                            let joined = wait(rx).await?;
                            let (Some(params), Some(jsep)) = (publish, jsep) else {
                                return Ok((joined, None));
                            };
                            let (tx, rx) = oneshot::channel();
                            room.send(Command::Publish {
                                h,
                                params,
                                jsep: Some(jsep),
                                reply: tx,
                            })?;
                            let (_, answer) = wait(rx).await?;
                            Ok((joined, answer))
                        }))
                    }
                    "subscriber" | "listener" => {
                        let mut streams = stream_requests(&p, "streams")?;
                        if streams.is_empty()
                            && let Some(feed) = p.id("feed")?
                        {
                            streams.push(StreamRequest { feed, mid: None });
                        }
                        if streams.is_empty() {
                            return Err(VideoRoomError::MissingElement("streams".into()));
                        }
                        let private_id = p.u64("private_id")?;
                        let (tx, rx) = oneshot::channel();
                        room.send(Command::Subscribe {
                            h,
                            streams,
                            private_id,
                            reply: tx,
                        })?;
                        Ok(Box::pin(wait(rx)))
                    }
                    _ => Err(VideoRoomError::InvalidElement(
                        "ptype".into(),
                        "publisher or subscriber".into(),
                    )),
                }
            }
            _ => {
                let member = member.ok_or(VideoRoomError::JoinFirst)?;
                let room = self.room(&member.room)?;
                let (tx, rx) = oneshot::channel();
                match (request, member.subscriber) {
                    ("configure" | "publish", false) => {
                        let params = publish_params(&p, request == "publish")?;
                        let (tx, rx) = oneshot::channel();
                        room.send(Command::Publish {
                            h,
                            params,
                            jsep,
                            reply: tx,
                        })?;
                        return Ok(Box::pin(wait(rx)));
                    }
                    ("unpublish", false) => room.send(Command::Unpublish { h, reply: tx })?,
                    ("leave", _) => room.send(Command::Leave { h, reply: tx })?,
                    ("start", true) => room.send(Command::Start { h, jsep, reply: tx })?,
                    ("pause", true) => room.send(Command::Pause { h, reply: tx })?,
                    ("configure", true) => {
                        let mut streams = Vec::new();
                        for v in p.array("streams")?.into_iter().flatten() {
                            let Value::Object(m) = v else {
                                return Err(VideoRoomError::InvalidElement(
                                    "streams".into(),
                                    "an array of objects".into(),
                                ));
                            };
                            let sp = Params::new(m, self.string_ids());
                            streams.push((
                                sp.req_str("mid")?.to_owned(),
                                sp.bool("send")?.unwrap_or(true),
                            ));
                        }
                        room.send(Command::ConfigureSubscriber {
                            h,
                            streams,
                            reply: tx,
                        })?;
                    }
                    ("update" | "subscribe" | "unsubscribe", true) => {
                        let (add, remove) = match request {
                            "subscribe" => (stream_requests(&p, "streams")?, vec![]),
                            "unsubscribe" => (vec![], stream_requests(&p, "streams")?),
                            _ => (
                                stream_requests(&p, "subscribe")?,
                                stream_requests(&p, "unsubscribe")?,
                            ),
                        };
                        let (tx, rx) = oneshot::channel();
                        room.send(Command::Update {
                            h,
                            add,
                            remove,
                            reply: tx,
                        })?;
                        return Ok(Box::pin(wait(rx)));
                    }
                    (other, subscriber) => {
                        let role = if subscriber {
                            "subscriber"
                        } else {
                            "publisher"
                        };
                        return Err(VideoRoomError::InvalidRequest(format!(
                            "{other} (not valid for a {role})"
                        )));
                    }
                }
                Ok(no_jsep(Box::pin(wait(rx))))
            }
        }
    }

    /// Gateway shutdown: every room tears down its graph in order and sets
    /// its pipeline to NULL; waits for all of them, at most `limit`.
    pub async fn shutdown(&self, limit: Duration) {
        let rooms: Vec<RoomHandle> = lock(&self.rooms).drain().map(|(_, r)| r).collect();
        let mut waits = Vec::new();
        for r in rooms {
            let (tx, rx) = oneshot::channel();
            if r.send(Command::Shutdown { reply: tx }).is_ok() {
                waits.push(rx);
            }
        }
        let n = waits.len();
        if tokio::time::timeout(limit, futures::future::join_all(waits))
            .await
            .is_err()
        {
            warn!(rooms = n, "rooms did not all stop within {limit:?}");
        } else {
            info!(rooms = n, "rooms stopped");
        }
    }

    fn route_simple(&self, h: HandleId, make: impl FnOnce(HandleId) -> Command) {
        if let Some(m) = self.member(h.handle_id)
            && let Ok(room) = self.room(&m.room)
            && let Err(e) = room.send(make(h))
        {
            warn!(handle_id = h.handle_id, error = %e, "could not reach room");
        }
    }
}

/// `add_ingest`: `secret`, `url` (rtsp:// or rtmp://), `id`, `display`,
/// `rtsp_reconnect_delay` (s, the first back-off; Janus streaming's name).
fn parse_add_ingest(
    p: &Params,
) -> Result<
    (
        Option<String>,
        crate::room::ingest::SourceSpec,
        Option<Id>,
        Option<String>,
        Option<Duration>,
    ),
    VideoRoomError,
> {
    let secret = p.str("secret")?.map(str::to_owned);
    let url = p.req_str("url")?;
    let spec = crate::room::ingest::SourceSpec::from_url(url).map_err(|_| {
        VideoRoomError::InvalidElement("url".into(), "an rtsp:// or rtmp:// URL".into())
    })?;
    let delay = p.u64("rtsp_reconnect_delay")?.map(Duration::from_secs);
    Ok((
        secret,
        spec,
        p.id("id")?,
        p.str("display")?.map(str::to_owned),
        delay,
    ))
}

/// `moderate`: `secret?`, `id`, `mid`, `mute`.
fn parse_moderate(p: &Params) -> Result<(Option<String>, Id, String, bool), VideoRoomError> {
    let mute = p
        .bool("mute")?
        .ok_or_else(|| VideoRoomError::MissingElement("mute".into()))?;
    Ok((
        p.str("secret")?.map(str::to_owned),
        p.req_id("id")?,
        p.req_str("mid")?.to_owned(),
        mute,
    ))
}

/// `set_layout`: `layout` (`grid`, `speaker`, `custom`) and, for custom,
/// `regions[{feed,x,y,w,h,z?}]` in mix pixels.
fn parse_layout(p: &Params) -> Result<crate::room::layout::Layout, VideoRoomError> {
    use crate::room::layout::{Layout, Rect};
    let name = p.req_str("layout")?;
    if name != "custom" {
        return Layout::from_name(name).ok_or_else(|| {
            VideoRoomError::InvalidElement("layout".into(), "grid, speaker or custom".into())
        });
    }
    let regions = p
        .array("regions")?
        .ok_or_else(|| VideoRoomError::MissingElement("regions".into()))?;
    let mut out = Vec::new();
    for r in regions {
        let Value::Object(m) = r else {
            return Err(VideoRoomError::InvalidElement(
                "regions".into(),
                "an array of objects".into(),
            ));
        };
        let rp = Params::new(m, p.string_ids());
        let feed = rp.req_id("feed")?;
        let num = |k: &str| -> Result<i32, VideoRoomError> {
            let v = rp
                .u64(k)?
                .ok_or_else(|| VideoRoomError::MissingElement(k.into()))?;
            i32::try_from(v)
                .map_err(|_| VideoRoomError::InvalidElement(k.into(), "a pixel coordinate".into()))
        };
        let z = rp.u64("z")?.unwrap_or(0) as u32;
        out.push((
            feed.to_string(),
            Rect {
                x: num("x")?,
                y: num("y")?,
                w: num("w")?,
                h: num("h")?,
                z,
            },
        ));
    }
    Ok(Layout::Custom(out))
}

fn publish_params(p: &Params, is_publish: bool) -> Result<PublishParams, VideoRoomError> {
    let mut descriptions = Vec::new();
    for v in p.array("descriptions")?.into_iter().flatten() {
        if let Value::Object(m) = v {
            let dp = Params::new(m, false);
            descriptions.push((
                dp.req_str("mid")?.to_owned(),
                dp.req_str("description")?.to_owned(),
            ));
        }
    }
    // Accepted and type-checked for clients that send them; used by later features.
    p.u64("bitrate")?;
    p.str("audiocodec")?;
    p.str("videocodec")?;
    Ok(PublishParams {
        display: p.str("display")?.map(str::to_owned),
        metadata: p.raw("metadata").cloned(),
        descriptions,
        keyframe: p.bool("keyframe")?.unwrap_or(false),
        record: p.bool("record")?,
        filename: p.str("filename")?.map(str::to_owned),
        secret: p.str("secret")?.map(str::to_owned),
        is_publish,
    })
}

impl Plugin for VideoRoom {
    fn descriptor(&self) -> PluginDescriptor {
        PluginDescriptor {
            package: room::PLUGIN,
            name: "JANUS VideoRoom plugin",
            description: "SFU video rooms, each its own GStreamer pipeline",
            version_string: "0.0.9",
            version: 9,
        }
    }

    fn message(
        &self,
        h: HandleId,
        transaction: String,
        body: Map<String, Value>,
        jsep: Option<Jsep>,
    ) -> BoxFuture<'static, Result<PluginReply, JanusError>> {
        let (request, how) =
            match super::route::<VideoRoomError>(&body, SYNC_REQUESTS, ASYNC_REQUESTS) {
                Ok(r) => r,
                Err(reply) => return reply,
            };
        match how {
            super::Route::Sync => super::answer_now(self.sync_request(&request, body)),
            super::Route::Async => super::answer_later(
                self.ctx.events.clone(),
                room::PLUGIN,
                h,
                transaction,
                self.async_request(h, &request, &body, jsep),
            ),
        }
    }

    fn trickle(&self, h: HandleId, trickle: Trickle) {
        self.route_simple(h, |h| Command::Trickle { h, trickle });
    }

    fn hangup(&self, h: HandleId) {
        self.route_simple(h, |h| Command::Hangup { h });
    }

    fn detach(&self, h: HandleId) {
        self.route_simple(h, |h| Command::Detach { h });
    }
}

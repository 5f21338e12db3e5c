//! `janus.plugin.videoroom` (Janus 1.x multistream API; request and event
//! shapes from the doc header of Janus's `janus_videoroom.c`).
//!
//! This module keeps the room registry and routes requests: room-less ones
//! (`create`, `list`, `exists`, `list_recordings`) are served here,
//! everything else becomes a typed [`Command`] for the room's task
//! (`room_requests` has the synchronous ones addressed to a room).
//! [`request`] reads the bodies, [`reply`] shapes results and the rooms'
//! notices as videoroom JSON, [`error`] maps room failures onto videoroom
//! codes. Synchronous requests answer in the `success` reply; asynchronous
//! ones are acked and answered by an event carrying the request's
//! transaction, as in Janus.

pub mod create;
pub mod error;
#[cfg(test)]
mod golden_tests;
pub mod reply;
pub mod request;
mod room_requests;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use serde_json::{Map, Value, json};
use tokio::sync::oneshot;
use tracing::{info, warn};

use self::error::VideoRoomError;
use self::request::Request;
use super::dispatch::lock;
use super::params::Params;
use super::{Events, HandleId, Plugin};
use crate::ids::{EgressId, Id, RoomId};
use crate::janus::{JanusError, Jsep, PluginDescriptor, PluginReply, Trickle};
use crate::room::config::AllowedAction;
use crate::room::{
    self, Command, JoinParams, Member, Notice, Notices, Reply, RoomContext, RoomError, RoomHandle,
    StreamRequest,
};

/// The plugin's package name.
pub const PLUGIN: &str = "janus.plugin.videoroom";

/// How long a request waits for its room (negotiations included).
/// The reply to a subscriber's `configure {restart: true}` (Janus answers
/// it with an ICE-restart offer). 1.22's `webrtcbin` cannot make one: its
/// `create-offer` ignores every option and reuses the last credentials
/// (`gstwebrtcbin.c` "TODO: use the options argument", "FIXME: deal with
/// ICE restarts"), and nothing in it restarts the ICE agent. Nothing
/// changes on the handle: its PeerConnection goes on as it was.
pub const ICE_RESTART_UNSUPPORTED: &str = "ICE restart is not supported here: GStreamer 1.22's webrtcbin cannot create new ICE credentials. The PeerConnection is unchanged; to recover a broken one, leave and subscribe again";

const ROOM_REPLY_TIMEOUT: Duration = Duration::from_secs(15);

/// A room in the registry.
struct RoomEntry {
    handle: RoomHandle,
    /// `create` keys stored as given, shown in `list`.
    extra: Map<String, Value>,
}

/// The videoroom plugin.
pub struct VideoRoom {
    ctx: Arc<RoomContext>,
    /// Where acked requests' answers go.
    events: Events,
    rooms: Arc<Mutex<HashMap<Id, RoomEntry>>>,
    admin_key: Option<String>,
    /// Rooms alive at once (`[limits] rooms`); 0: no limit.
    max_rooms: usize,
}

/// Delivers rooms' notices to their handles as videoroom (or core) events.
struct Notifier {
    events: Events,
}

impl Notices for Notifier {
    fn notify(&self, room: &RoomId, to: HandleId, notice: Notice) {
        if let Notice::RecordingFailed {
            reason,
            yours: true,
            ..
        } = &notice
        {
            let data = json!({"event": "recording", "room": room.to_json(), "recording": false, "error": reason});
            self.events.report(Some(to), PLUGIN, data);
        }
        self.events.push(to, PLUGIN, reply::notice(room, notice));
    }
}

/// The notice sink videoroom rooms are built with.
pub fn notices(events: Events) -> Arc<dyn Notices> {
    Arc::new(Notifier { events })
}

async fn wait<T>(rx: oneshot::Receiver<Result<T, RoomError>>) -> Result<T, VideoRoomError> {
    match tokio::time::timeout(ROOM_REPLY_TIMEOUT, rx).await {
        Ok(Ok(r)) => r.map_err(VideoRoomError::from),
        Ok(Err(_)) => Err(VideoRoomError::Unknown(
            "the room closed before answering".into(),
        )),
        Err(_) => Err(VideoRoomError::Unknown(
            "the room did not answer in time".into(),
        )),
    }
}

/// A synchronous request's eventual result.
type Answer = BoxFuture<'static, Result<Value, VideoRoomError>>;
/// An asynchronous request's eventual event data and JSEP.
type Event = BoxFuture<'static, Result<(Value, Option<Jsep>), VideoRoomError>>;

fn ready<T: Send + 'static>(
    r: Result<T, VideoRoomError>,
) -> BoxFuture<'static, Result<T, VideoRoomError>> {
    Box::pin(async move { r })
}

/// Sends `room` the command `make` builds and shapes its result with `shape`.
fn ask<T: Send + 'static, V: Send + 'static>(
    room: &RoomHandle,
    make: impl FnOnce(Reply<T>) -> Command,
    shape: impl FnOnce(T) -> V + Send + 'static,
) -> BoxFuture<'static, Result<V, VideoRoomError>> {
    let (tx, rx) = oneshot::channel();
    if let Err(e) = room.send(make(tx)) {
        return ready(Err(e.into()));
    }
    Box::pin(async move { wait(rx).await.map(shape) })
}

impl VideoRoom {
    /// A plugin with no rooms yet; `ctx` must carry [`notices`] of `events`.
    pub fn new(ctx: Arc<RoomContext>, events: Events, admin_key: Option<String>) -> Self {
        VideoRoom {
            ctx,
            events,
            rooms: Arc::new(Mutex::new(HashMap::new())),
            admin_key,
            max_rooms: 0,
        }
    }

    /// At most `n` rooms alive at once (0: no limit); past it `create`
    /// gets error 499 "room limit reached".
    pub fn with_max_rooms(mut self, n: usize) -> Self {
        self.max_rooms = n;
        self
    }

    fn string_ids(&self) -> bool {
        self.ctx.string_ids
    }

    /// Number of live rooms.
    pub fn room_count(&self) -> usize {
        lock(&self.rooms)
            .values()
            .filter(|r| r.handle.is_alive())
            .count()
    }

    fn room(&self, id: &Id) -> Result<RoomHandle, VideoRoomError> {
        lock(&self.rooms)
            .get(id)
            .map(|r| r.handle.clone())
            .filter(RoomHandle::is_alive)
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
        rooms.retain(|_, r| r.handle.is_alive());
        if self.max_rooms > 0 && rooms.len() >= self.max_rooms {
            return Err(VideoRoomError::Unknown(format!(
                "room limit reached ({} rooms, [limits] rooms)",
                self.max_rooms
            )));
        }
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
        let (cfg, extra) = create::parse_create(&p, id.clone())?;
        let permanent = cfg.permanent;
        let handle = room::spawn(cfg, self.ctx.clone())?;
        rooms.insert(id.clone(), RoomEntry { handle, extra });
        info!(room = %id, "room created");
        if permanent {
            warn!(room = %id, "permanent rooms are not written back to the config file");
        }
        Ok(json!({"videoroom": "created", "room": id.to_json(), "permanent": false}))
    }

    /// `list`: every room's entry (private ones for the `admin_key` holder only).
    fn list(&self, p: &Params) -> Answer {
        let admin = self.admin_key.is_some()
            && p.str("admin_key").ok().flatten() == self.admin_key.as_deref();
        let rooms: Vec<(RoomHandle, Map<String, Value>)> = lock(&self.rooms)
            .values()
            .map(|r| (r.handle.clone(), r.extra.clone()))
            .collect();
        Box::pin(async move {
            let mut list = Vec::new();
            for (r, extra) in rooms {
                let (tx, rx) = oneshot::channel();
                if r.send(Command::Info { reply: tx }).is_err() {
                    continue;
                }
                if let Ok(Ok(info)) = tokio::time::timeout(ROOM_REPLY_TIMEOUT, rx).await
                    && (admin || !info.config.is_private)
                {
                    list.push(reply::list_entry(&info.config, info.participants, &extra));
                }
            }
            Ok(json!({"videoroom": "success", "list": list}))
        })
    }

    fn sync_request(&self, request: Request, body: Map<String, Value>) -> Answer {
        let p = Params::new(&body, self.string_ids());
        match request {
            Request::Create => ready(self.create(&body)),
            Request::Exists => ready(p.req_id("room").map_err(Into::into).map(|id| {
                let exists = self.room(&id).is_ok();
                json!({"videoroom": "success", "room": id.to_json(), "exists": exists})
            })),
            Request::List => self.list(&p),
            Request::ListRecordings => {
                let room = match p.id("room") {
                    Ok(r) => r,
                    Err(e) => return ready(Err(e.into())),
                };
                let all = lock(&self.ctx.recordings);
                let of_room = |r: &&crate::room::record::RecordingInfo| {
                    room.as_ref().is_none_or(|id| &r.room == id)
                };
                let list: Vec<Value> = all
                    .finished
                    .iter()
                    .filter(of_room)
                    .map(reply::recording)
                    .collect();
                let running: Vec<Value> = all
                    .running
                    .values()
                    .filter(of_room)
                    .map(reply::running_recording)
                    .collect();
                ready(Ok(
                    json!({"videoroom": "success", "recordings": list, "running": running}),
                ))
            }
            _ => {
                let routed = p
                    .req_id("room")
                    .map_err(VideoRoomError::from)
                    .and_then(|id| Ok((self.room(&id)?, id)));
                match routed {
                    Ok((room, id)) => self
                        .room_request(request, &p, &room, id)
                        .unwrap_or_else(|e| ready(Err(e))),
                    Err(e) => ready(Err(e)),
                }
            }
        }
    }

    /// Routes an asynchronous request; the future yields its event data.
    fn async_request(
        &self,
        h: HandleId,
        request: Request,
        body: &Map<String, Value>,
        jsep: Option<Jsep>,
    ) -> Result<Event, VideoRoomError> {
        let p = Params::new(body, self.string_ids());
        let member = self.member(h.handle_id);
        match request {
            Request::Join | Request::JoinAndConfigure => {
                if let Some(m) = &member {
                    return Err(VideoRoomError::AlreadyJoined(if m.subscriber {
                        "subscriber"
                    } else {
                        "publisher"
                    }));
                }
                let room_id = p.req_id("room")?;
                let room = self.room(&room_id)?;
                match p.req_str("ptype")? {
                    "publisher" => {
                        let params = JoinParams {
                            id: p.id("id")?,
                            display: p.str("display")?.map(str::to_owned),
                            metadata: p.raw("metadata").cloned(),
                            pin: p.str("pin")?.map(str::to_owned),
                            token: p.str("token")?.map(str::to_owned),
                        };
                        let publish = if request == Request::JoinAndConfigure {
                            Some(request::publish_params(&p, false)?)
                        } else {
                            None
                        };
                        let r = room_id.clone();
                        let joined = ask(
                            &room,
                            |reply| Command::Join { h, params, reply },
                            move |j| reply::joined(&r, &j),
                        );
                        Ok(Box::pin(async move {
                            let joined = joined.await?;
                            let (Some(params), Some(jsep)) = (publish, jsep) else {
                                return Ok((joined, None));
                            };
                            let answer = ask(
                                &room,
                                |reply| Command::Publish {
                                    h,
                                    params,
                                    jsep: Some(jsep),
                                    reply,
                                },
                                move |published| reply::configured(&room_id, published).1,
                            )
                            .await?;
                            Ok((joined, answer))
                        }))
                    }
                    "subscriber" | "listener" => {
                        let mut streams = request::stream_requests(&p, "streams")?;
                        if streams.is_empty()
                            && let Some(feed) = p.id("feed")?
                        {
                            streams.push(StreamRequest {
                                feed,
                                mid: None,
                                layers: request::layer_request(&p)?,
                            });
                        }
                        if streams.is_empty() {
                            return Err(VideoRoomError::MissingElement("streams".into()));
                        }
                        let private_id = p.u64("private_id")?;
                        Ok(ask(
                            &room,
                            |reply| Command::Subscribe {
                                h,
                                streams,
                                private_id,
                                reply,
                            },
                            move |o| reply::offered("attached", &room_id, o),
                        ))
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
                let r = member.room.clone();
                let ok = |what: &'static str| move |()| (reply::ok(&r, what), None);
                Ok(match (request, member.subscriber) {
                    (Request::Configure | Request::Publish, false) => {
                        let params = request::publish_params(&p, request == Request::Publish)?;
                        let r = member.room.clone();
                        let (record, events) = (params.record, self.events.clone());
                        ask(
                            &room,
                            |reply| Command::Publish {
                                h,
                                params,
                                jsep,
                                reply,
                            },
                            move |published| {
                                if let Some(on) = record {
                                    let data = json!({"event": "recording", "room": r.to_json(), "recording": on});
                                    events.report(Some(h), PLUGIN, data);
                                }
                                reply::configured(&r, published)
                            },
                        )
                    }
                    (Request::Unpublish, false) => ask(
                        &room,
                        |reply| Command::Unpublish { h, reply },
                        ok("unpublished"),
                    ),
                    (Request::Leave, _) => {
                        let r = member.room.clone();
                        ask(
                            &room,
                            |reply| Command::Leave { h, reply },
                            move |role| (reply::left(&r, role), None),
                        )
                    }
                    (Request::Start, true) => ask(
                        &room,
                        |reply| Command::Start { h, jsep, reply },
                        ok("started"),
                    ),
                    (Request::Pause, true) => {
                        ask(&room, |reply| Command::Pause { h, reply }, ok("paused"))
                    }
                    (Request::Configure, true) => {
                        if p.bool("restart")? == Some(true) {
                            return Err(VideoRoomError::Unknown(ICE_RESTART_UNSUPPORTED.into()));
                        }
                        let streams = request::configure_streams(&p)?;
                        ask(
                            &room,
                            |reply| Command::ConfigureSubscriber { h, streams, reply },
                            ok("configured"),
                        )
                    }
                    (Request::Update | Request::Subscribe | Request::Unsubscribe, true) => {
                        let (add, (remove, remove_sub_mids)) = match request {
                            Request::Subscribe => {
                                (request::stream_requests(&p, "streams")?, (vec![], vec![]))
                            }
                            Request::Unsubscribe => {
                                (vec![], request::unsubscribe_requests(&p, "streams")?)
                            }
                            _ => (
                                request::stream_requests(&p, "subscribe")?,
                                request::unsubscribe_requests(&p, "unsubscribe")?,
                            ),
                        };
                        let r = member.room.clone();
                        ask(
                            &room,
                            |reply| Command::Update {
                                h,
                                add,
                                remove,
                                remove_sub_mids,
                                reply,
                            },
                            move |o| reply::offered("updated", &r, o),
                        )
                    }
                    (other, subscriber) => {
                        let role = if subscriber {
                            "subscriber"
                        } else {
                            "publisher"
                        };
                        return Err(VideoRoomError::InvalidRequest(format!(
                            "{} (not valid for a {role})",
                            other.name()
                        )));
                    }
                })
            }
        }
    }

    /// Gateway shutdown: every room tears down its graph in order and sets
    /// its pipeline to NULL; waits for all of them, at most `limit`.
    pub async fn shutdown(&self, limit: Duration) {
        let rooms: Vec<RoomHandle> = lock(&self.rooms).drain().map(|(_, r)| r.handle).collect();
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

impl Plugin for VideoRoom {
    fn descriptor(&self) -> PluginDescriptor {
        PluginDescriptor {
            package: PLUGIN,
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
        super::dispatch::dispatch::<VideoRoomError, _>(
            body,
            Request::lookup,
            |request, body| self.sync_request(request, body),
            |request, body| self.async_request(h, request, body, jsep),
            (self.events.clone(), PLUGIN, h, transaction),
        )
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

    fn handler_event(&self, data: &Value, jsep: Option<&Jsep>) -> Option<Value> {
        reply::handler_event(data, jsep)
    }

    fn admin_message(&self, request: Map<String, Value>) -> BoxFuture<'static, Value> {
        super::dispatch::admin::<VideoRoomError, _>(request, Request::lookup, |r, body| {
            self.sync_request(r, body)
        })
    }

    fn handle_info(&self, h: HandleId, webrtc: bool) -> BoxFuture<'static, super::HandleInfo> {
        let member = self.member(h.handle_id);
        let room = member.as_ref().and_then(|m| self.room(&m.room).ok());
        let room_id = member.map(|m| m.room);
        super::admin_info::ask(room, h, webrtc, move |info| {
            reply::member_info(room_id.as_ref(), info)
        })
    }
}

//! A video room: one GStreamer pipeline owned by one tokio task.
//!
//! Invariants:
//! - only the room task touches the room's state and changes its graph;
//!   others send [`Command`]s (bounded queue, `oneshot` reply), GStreamer
//!   callbacks post [`RoomEvent`]s;
//! - a participant's failure (bad SDP, failed ICE, element error) tears down
//!   that participant only; a room's failure never touches another room;
//! - every element a participant adds is retired when it goes, and the
//!   pipeline is set to NULL when the room is destroyed, so no elements,
//!   threads or sockets outlive the room.
//!
//! The graph is built so later branches hang off the same points: every
//! publisher stream ends in a `tee` (subscribers today; recorders, the MCU
//! mixer's decoders and RTMP/RTSP egress later), and ingest sources will
//! appear as publishers feeding their own tees.

pub mod api;
pub mod config;
pub mod egress;
pub mod error;
pub mod gop;
pub mod ingest;
mod ingests;
pub mod layout;
pub mod mcu;
pub mod peer;
pub mod record;
pub mod rtsp;
mod rtsp_room;
mod sfu;
mod switch;
pub mod talk;
pub mod timing;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use gst::prelude::*;
use gst_webrtc::WebRTCPeerConnectionState;
use rand::Rng;
use tokio::sync::{mpsc, oneshot};
use tracing::{Instrument, debug, info, info_span, warn};

pub use self::api::{
    Command, EgressInfo, EgressSource, EgressState, IngestParams, IngestStatus, JoinParams, Joined,
    Member, Notice, Notices, Offered, ParticipantInfo, PublishParams, Published, PublishedStream,
    PublisherInfo, RecordingState, Reply, RoomEdit, RoomHandle, RoomInfo, StreamRequest,
    SubscribedStream,
};
use self::config::RoomConfig;
pub use self::error::{GraphError, Role, RoomError};
use self::mcu::{MixKey, Mixer, Mode};
use self::peer::{Peer, RoomEvent, RoomEvents};
use self::talk::{TalkChange, TalkDetector};
use crate::ids::{EgressId, HandleId, Id, MediaId, RecordingId};
use crate::janus::{Candidate, Jsep, SdpType, Trickle};
use crate::media::codec::{Codec, MediaKind};
use crate::media::ice::IceSettings;
use crate::media::sdp;

/// Commands a room queues before senders get "busy".
const COMMAND_QUEUE: usize = 256;
/// The mix's "publisher handle" in keyframe requests and subscriber streams
/// (real handles are random and never 0).
pub(crate) const MIX_HANDLE: u64 = 0;
/// Mids of the mix's streams, as listed in its `publishers[]` entry.
const MIX_AUDIO_MID: &str = "mix-a";
const MIX_VIDEO_MID: &str = "mix-v";
/// Minimum time between speaker-layout switches, so the layout does not flap.
const SPEAKER_HOLD: Duration = Duration::from_millis(1500);
/// How long after a publisher connects its recording starts (room-wide
/// `record`, or `record` in `publish`). The jitter buffer's first second
/// of timestamps is irregular while it learns the sender's clock; files
/// started then carry it (players complain of non-monotonic timestamps).
const RECORD_SETTLE: Duration = Duration::from_secs(1);
/// A deferred recording start waits for the publisher's RTCP sender reports
/// (lip-sync) in steps of this, at most `SR_WAIT_ROUNDS` times.
const SR_WAIT_STEP: Duration = Duration::from_millis(500);
const SR_WAIT_ROUNDS: u32 = 10;
/// How long an MCU room waits for the start-up encoder probe.
const ENCODER_WAIT: Duration = Duration::from_secs(30);

/// Settings every room shares.
pub struct RoomContext {
    /// ICE settings for every `webrtcbin`.
    pub ice: IceSettings,
    /// Publisher jitter buffer, ms.
    pub jitter_buffer_ms: u32,
    /// Minimum spacing of keyframe requests per publisher stream.
    pub keyframe_interval: Duration,
    /// Where the room's notices go (the plugin that owns the room).
    pub notices: Arc<dyn Notices>,
    /// Ids are strings.
    pub string_ids: bool,
    /// Which room each handle is in, and in which role (the plugin routes by
    /// it; room tasks keep it true).
    pub membership: Arc<Mutex<HashMap<u64, Member>>>,
    /// Weak references to every room pipeline and `webrtcbin`, for leak checks.
    pub alive: Arc<Mutex<Vec<glib::WeakRef<gst::Element>>>>,
    /// Encoders chosen at start-up (MCU mixes, VP8 recordings).
    pub encoders: crate::media::encoder::Chosen,
    /// Recording fragments (`pipelines/recording.toml`).
    pub recording: record::Catalog,
    /// Where recordings go when a room has no `rec_dir`.
    pub rec_dir: std::path::PathBuf,
    /// Finished recordings (`list_recordings`).
    pub recordings: record::Registry,
    /// Ingest fragments (`pipelines/ingest.toml`).
    pub ingest: ingest::Catalog,
    /// Egress fragments (`pipelines/egress.toml`).
    pub egress: egress::Catalog,
    /// The RTSP server rooms serve their mix and feeds on, if enabled.
    pub rtsp: Option<Arc<rtsp::RtspServer>>,
}

struct PubStream {
    mindex: u32,
    mid: String,
    kind: MediaKind,
    codec: Codec,
    pt: u8,
    ssrc: Option<u32>,
    description: Option<String>,
    tee: gst::Element,
    receiving: bool,
    last_keyframe_request: Option<Instant>,
    /// Set by `moderate`: a probe on the tee's sink drops every packet.
    moderated: Option<gst::PadProbeId>,
    /// Arrival-time mapping of this stream, for recordings.
    clock: Arc<timing::ArrivalClock>,
}

struct Publication {
    /// The publisher's `webrtcbin` (`None` for an ingest).
    peer: Option<Peer>,
    streams: Vec<PubStream>,
    connected: bool,
}

struct Participant {
    h: HandleId,
    id: Id,
    private_id: u32,
    display: Option<String>,
    /// The client's own `metadata` JSON, kept and shown as given.
    metadata: Option<serde_json::Value>,
    publication: Option<Publication>,
    /// Talking detection on this participant's audio.
    talk: TalkDetector,
}

struct SubStream {
    mindex: u32,
    mid: String,
    feed: Id,
    feed_handle: u64,
    feed_mid: String,
    feed_display: Option<String>,
    kind: MediaKind,
    codec: Codec,
    /// The flow guard in front of this m-line's `webrtcbin` sink pad.
    guard: gst::Element,
    /// The publisher stream's tee, and its m-line there.
    tee: gst::Element,
    publisher_mindex: u32,
    /// The tee pad feeding the guard, once linked (after `connected`).
    tee_pad: Option<gst::Pad>,
    /// False once the publisher stream is gone (m-line inactive).
    active: bool,
    /// The last RTP sequence number and timestamp sent (`seq << 32 | ts`),
    /// for a streaming `switch` to continue from. Kept only for streams of
    /// ingests (mountpoint viewers): others never switch, and this is a
    /// per-packet probe.
    last_rtp: Option<Arc<std::sync::atomic::AtomicU64>>,
    /// Set by a streaming `switch`: the `appsrc` that now feeds the guard
    /// (media of another mountpoint) instead of `tee`.
    bridge: Option<gst::Element>,
    send: bool,
    drop_probe: Option<gst::PadProbeId>,
}

/// Where a subscriber stream's media comes from: a publisher stream or a mix output.
struct StreamSource {
    kind: MediaKind,
    codec: Codec,
    pt: u8,
    ssrc: Option<u32>,
    tee: gst::Element,
    /// The source's mid (as listed in `publishers[]`) and m-line index.
    mid: String,
    mindex: u32,
}

struct Subscriber {
    h: HandleId,
    peer: Peer,
    streams: Vec<SubStream>,
    /// An answer was applied and no new offer is pending.
    stable: bool,
    /// ICE and DTLS are up: branches can be linked without blocking the tee.
    connected: bool,
    paused: bool,
    /// The participant (handle) this subscriber belongs to, by `private_id`:
    /// it gets that participant's mix-minus.
    tied: Option<u64>,
}

/// Creates a room's pipeline and starts its task.
pub fn spawn(cfg: RoomConfig, ctx: Arc<RoomContext>) -> Result<RoomHandle, RoomError> {
    let pipeline = gst::Pipeline::with_name(&format!("room-{}", cfg.room));
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|e| RoomError::graph("room pipeline failed to start", e))?;
    let bus = pipeline
        .bus()
        .ok_or_else(|| RoomError::graph("room pipeline", "pipeline without bus"))?;
    ctx.alive
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(pipeline.upcast_ref::<gst::Element>().downgrade());
    let (tx, rx) = mpsc::channel(COMMAND_QUEUE);
    let (ev_tx, ev_rx) = mpsc::unbounded_channel();
    let span = info_span!("room", room = %cfg.room);
    let room = Room {
        cfg,
        pipeline,
        ctx,
        ev_tx,
        participants: BTreeMap::new(),
        subscribers: HashMap::new(),
        pending_candidates: HashMap::new(),
        mixer: None,
        last_mix_keyframe: None,
        last_speaker_switch: None,
        closing_reply: None,
        recorders: HashMap::new(),
        publisher_recordings: HashMap::new(),
        mix_recording: None,
        pending_recordings: HashMap::new(),
        ingests: HashMap::new(),
        pending_ingests: HashMap::new(),
        next_ingest: ingest::HANDLE_BASE,
        egresses: BTreeMap::new(),
        next_egress: 1,
        ending_egresses: HashSet::new(),
        rtsp_mounts: HashMap::new(),
        rtsp_branches: HashMap::new(),
    };
    tokio::spawn(room.run(rx, ev_rx, bus).instrument(span));
    Ok(RoomHandle { tx })
}

struct Room {
    cfg: RoomConfig,
    pipeline: gst::Pipeline,
    ctx: Arc<RoomContext>,
    ev_tx: RoomEvents,
    /// Publisher-role participants by handle id.
    participants: BTreeMap<u64, Participant>,
    /// Subscribers by handle id.
    subscribers: HashMap<u64, Subscriber>,
    /// Candidates that arrived before their PeerConnection could take them.
    pending_candidates: HashMap<u64, Vec<Candidate>>,
    /// The MCU mixer (MCU and hybrid rooms).
    mixer: Option<Mixer>,
    last_mix_keyframe: Option<Instant>,
    /// When the speaker layout last switched.
    last_speaker_switch: Option<Instant>,
    /// Set by `Shutdown`: answered when the pipeline is down.
    closing_reply: Option<oneshot::Sender<()>>,
    /// Recordings in progress or finalizing, by recording id.
    recorders: HashMap<RecordingId, record::Recorder>,
    /// Publisher handle → its recording id.
    publisher_recordings: HashMap<u64, RecordingId>,
    /// The mix recording's id.
    mix_recording: Option<RecordingId>,
    /// Publishers to record once connected (handle → `filename`, and how
    /// often the start waited for sender reports).
    pending_recordings: HashMap<u64, (Option<String>, u32)>,
    /// Ingest publishers by handle.
    ingests: HashMap<u64, ingest::Ingest>,
    /// `add_ingest` requests waiting for their source's streams.
    pending_ingests: HashMap<u64, Reply<Id>>,
    /// The next ingest handle.
    next_ingest: u64,
    /// Restreams by id.
    egresses: BTreeMap<EgressId, egress::Egress>,
    next_egress: u64,
    /// Branches of stopped restreams, finalizing (recorder ids).
    ending_egresses: HashSet<RecordingId>,
    /// RTSP paths served, by source handle (the mix is `MIX_HANDLE`).
    rtsp_mounts: HashMap<u64, String>,
    /// Shared RTSP media being fed, by media id.
    rtsp_branches: HashMap<MediaId, rtsp::RtspBranch>,
}

fn send_reply<T>(reply: Reply<T>, r: Result<T, RoomError>) {
    // The requester may have given up (timeout); nothing to do then.
    let _ = reply.send(r);
}

impl Room {
    async fn run(
        mut self,
        mut rx: mpsc::Receiver<Command>,
        mut ev_rx: mpsc::UnboundedReceiver<RoomEvent>,
        bus: gst::Bus,
    ) {
        info!(mixing = self.cfg.mode.name(), "room created");
        if self.cfg.mode != Mode::Sfu {
            self.start_mixer().await;
        }
        let mut bus_stream = bus.stream();
        loop {
            tokio::select! {
                cmd = rx.recv() => {
                    let Some(cmd) = cmd else { break };
                    if self.command(cmd).await.is_break() {
                        break;
                    }
                }
                Some(ev) = ev_rx.recv() => self.event(ev).await,
                Some(msg) = bus_stream.next() => self.bus_message(&msg),
            }
        }
        self.finalize_recordings(&mut ev_rx).await;
        let teardown = self.shutdown();
        if let Some(reply) = self.closing_reply.take() {
            // Gateway shutdown waits until the pipeline is really down.
            let _ = teardown.await;
            let _ = reply.send(());
        }
        info!("room destroyed");
    }

    /// Builds the mixer once the start-up encoder probe has chosen. Without
    /// an encoder the room still forwards (SFU) and says why in the log.
    async fn start_mixer(&mut self) {
        let codec = self.cfg.mix.codec;
        let deadline = Instant::now() + ENCODER_WAIT;
        let chosen = loop {
            if let Some(list) = self.ctx.encoders.get() {
                break list.iter().find(|s| s.codec == codec).cloned();
            }
            if Instant::now() > deadline {
                break None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let Some(encoder) = chosen else {
            warn!(codec = %codec, "no working encoder for the mix: the room forwards only");
            return;
        };
        match Mixer::new(
            &self.pipeline,
            self.cfg.mix.clone(),
            self.cfg.layout.clone(),
            &encoder,
            Duration::from_millis(self.ctx.jitter_buffer_ms as u64),
        ) {
            Ok(m) => {
                info!(encoder = %encoder.spec.factory, width = self.cfg.mix.width, height = self.cfg.mix.height, fps = self.cfg.mix.fps, "mixer started");
                self.mixer = Some(m);
                self.rtsp_mount(MIX_HANDLE);
            }
            Err(e) => warn!(error = %e, "mixer failed to start: the room forwards only"),
        }
    }

    /// The mix's feed id: 0, or `"mix"` with string ids.
    fn mix_id(&self) -> Id {
        api::mix_id(self.ctx.string_ids)
    }

    /// The mix as a publisher (`publishers[]`), when the room mixes.
    fn mix_info(&self) -> Option<PublisherInfo> {
        let m = self.mixer.as_ref()?;
        let (vcodec, _, _) = m.video_format();
        let stream = |kind, mindex, mid: &str, codec| PublishedStream {
            kind,
            mindex,
            mid: mid.to_owned(),
            codec,
            moderated: None,
            description: None,
        };
        Some(PublisherInfo {
            id: self.mix_id(),
            display: Some("Mix".into()),
            metadata: None,
            streams: vec![
                stream(MediaKind::Audio, 0, MIX_AUDIO_MID, Codec::Opus),
                stream(MediaKind::Video, 1, MIX_VIDEO_MID, vcodec),
            ],
            talking: false,
        })
    }

    /// Tells handle `h` `notice`.
    fn notify(&self, h: HandleId, notice: Notice) {
        self.ctx.notices.notify(&self.cfg.room, h, notice);
    }

    /// Tells every publisher-role participant except `except`.
    fn broadcast(&self, notice: Notice, except: Option<u64>) {
        for (hid, p) in &self.participants {
            if Some(*hid) != except {
                self.notify(p.h, notice.clone());
            }
        }
    }

    fn published_streams(publication: &Publication) -> Vec<PublishedStream> {
        publication
            .streams
            .iter()
            .map(|s| PublishedStream {
                kind: s.kind,
                mindex: s.mindex,
                mid: s.mid.clone(),
                codec: s.codec,
                moderated: Some(s.moderated.is_some()),
                description: s.description.clone(),
            })
            .collect()
    }

    fn publisher_info(p: &Participant) -> Option<PublisherInfo> {
        let publication = p.publication.as_ref()?;
        Some(PublisherInfo {
            id: p.id.clone(),
            display: p.display.clone(),
            metadata: p.metadata.clone(),
            streams: Self::published_streams(publication),
            talking: p.talk.talking(),
        })
    }

    /// `publishers[]`: the individual feeds (SFU, hybrid) and the mix (MCU, hybrid).
    fn publishers(&self, except: Option<u64>) -> Vec<PublisherInfo> {
        let mut list: Vec<PublisherInfo> = if self.cfg.mode == Mode::Mcu {
            vec![]
        } else {
            self.participants
                .iter()
                .filter(|(h, _)| Some(**h) != except)
                .filter_map(|(_, p)| Self::publisher_info(p))
                .collect()
        };
        list.extend(self.mix_info());
        list
    }

    /// Broadcasts a new or changed publisher, unless the room shows only the mix.
    fn announce(&self, handle: u64) {
        if self.cfg.mode == Mode::Mcu {
            return;
        }
        if let Some(v) = self
            .participants
            .get(&handle)
            .and_then(Self::publisher_info)
        {
            self.broadcast(Notice::Publishers(vec![v]), Some(handle));
        }
    }

    /// 432 when the room's `publishers` limit is reached.
    fn check_publisher_room(&self) -> Result<(), RoomError> {
        let publishing = self
            .participants
            .values()
            .filter(|p| p.publication.is_some())
            .count() as u64;
        if publishing >= self.cfg.max_publishers {
            return Err(RoomError::PublishersFull(self.cfg.max_publishers));
        }
        Ok(())
    }

    fn new_participant_id(&self) -> Id {
        let mut rng = rand::rng();
        loop {
            let id = if self.ctx.string_ids {
                Id::Str(format!("{:016x}", rng.random::<u64>()))
            } else {
                Id::Num(rng.random_range(1..(1u64 << 53)))
            };
            if !self.participants.values().any(|p| p.id == id) {
                return id;
            }
        }
    }

    fn remember(&self, handle: u64, subscriber: bool) {
        let member = Member {
            room: self.cfg.room.clone(),
            subscriber,
        };
        self.ctx
            .membership
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(handle, member);
    }

    fn forget(&self, handle: u64) {
        let mut m = self
            .ctx
            .membership
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if m.get(&handle).is_some_and(|m| m.room == self.cfg.room) {
            m.remove(&handle);
        }
    }

    async fn command(&mut self, cmd: Command) -> std::ops::ControlFlow<()> {
        use std::ops::ControlFlow::{Break, Continue};
        match cmd {
            Command::Info { reply } => {
                let _ = reply.send(RoomInfo {
                    config: self.cfg.clone(),
                    participants: self.participants.len(),
                });
            }
            Command::Edit {
                secret,
                edit,
                reply,
            } => {
                let r = self
                    .cfg
                    .check_secret(secret.as_deref())
                    .map(|_| self.cfg.apply_edit(edit));
                send_reply(reply, r);
            }
            Command::Destroy { secret, reply } => {
                if let Err(e) = self.cfg.check_secret(secret.as_deref()) {
                    send_reply(reply, Err(e));
                    return Continue(());
                }
                for p in self.participants.values() {
                    self.notify(p.h, Notice::Destroyed);
                }
                for s in self.subscribers.values() {
                    self.notify(s.h, Notice::Destroyed);
                }
                send_reply(reply, Ok(()));
                return Break(());
            }
            Command::ListParticipants { reply } => {
                let list = self
                    .participants
                    .values()
                    .map(|p| ParticipantInfo {
                        id: p.id.clone(),
                        display: p.display.clone(),
                        metadata: p.metadata.clone(),
                        publisher: p.publication.is_some(),
                        talking: p.talk.talking(),
                    })
                    .collect();
                send_reply(reply, Ok(list));
            }
            Command::Kick { secret, id, reply } => {
                let r = self.kick(secret.as_deref(), &id).await;
                send_reply(reply, r);
            }
            Command::Join { h, params, reply } => {
                let r = self.join(h, params);
                send_reply(reply, r);
            }
            Command::Publish {
                h,
                params,
                jsep,
                reply,
            } => {
                let r = self.publish(h, params, jsep).await;
                send_reply(reply, r);
            }
            Command::Unpublish { h, reply } => {
                let r = if self
                    .participants
                    .get(&h.handle_id)
                    .is_some_and(|p| p.publication.is_some())
                {
                    self.unpublish(h.handle_id).await;
                    Ok(())
                } else if self.participants.contains_key(&h.handle_id) {
                    Err(RoomError::NotPublished)
                } else {
                    Err(RoomError::NotJoined)
                };
                send_reply(reply, r);
            }
            Command::Leave { h, reply } => {
                let r = if self.participants.contains_key(&h.handle_id) {
                    self.leave_publisher(h.handle_id, None).await;
                    Ok(Role::Publisher)
                } else if self.subscribers.contains_key(&h.handle_id) {
                    self.remove_subscriber(h.handle_id);
                    Ok(Role::Subscriber)
                } else {
                    Err(RoomError::NotJoined)
                };
                send_reply(reply, r);
            }
            Command::Subscribe {
                h,
                streams,
                private_id,
                reply,
            } => {
                let tied = private_id.and_then(|pid| {
                    self.participants
                        .iter()
                        .find(|(_, p)| u64::from(p.private_id) == pid)
                        .map(|(handle, _)| *handle)
                });
                let r = if self.cfg.require_pvtid && tied.is_none() {
                    Err(RoomError::Unauthorized(
                        "this room requires a valid private_id",
                    ))
                } else {
                    self.subscribe(h, streams, tied).await
                };
                send_reply(reply, r);
            }
            Command::Start { h, jsep, reply } => {
                let r = self.start(h, jsep).await;
                send_reply(reply, r);
            }
            Command::Pause { h, reply } => {
                let r = match self.subscribers.get_mut(&h.handle_id) {
                    None => Err(RoomError::NotJoined),
                    Some(s) => {
                        s.paused = true;
                        for st in &mut s.streams {
                            set_forwarding(st, false);
                        }
                        Ok(())
                    }
                };
                send_reply(reply, r);
            }
            Command::ConfigureSubscriber { h, streams, reply } => {
                let r = self.configure_subscriber(h, &streams);
                send_reply(reply, r);
            }
            Command::Shutdown { reply } => {
                self.closing_reply = Some(reply);
                return Break(());
            }
            Command::Moderate {
                secret,
                id,
                mid,
                mute,
                reply,
            } => {
                let r = self.moderate(secret.as_deref(), &id, &mid, mute);
                send_reply(reply, r);
            }
            Command::EnableRecording {
                secret,
                record,
                reply,
            } => {
                let r = self.enable_recording(secret.as_deref(), record);
                send_reply(reply, r);
            }
            Command::RecordMix {
                secret,
                record,
                filename,
                reply,
            } => {
                let r = (|| {
                    if self.cfg.lock_record {
                        self.cfg.check_secret(secret.as_deref())?;
                    }
                    if record {
                        self.start_mix_recording(filename.as_deref()).map(Some)
                    } else {
                        self.stop_mix_recording();
                        Ok(None)
                    }
                })();
                send_reply(reply, r);
            }
            Command::SetLayout {
                secret,
                layout,
                reply,
            } => {
                let r = self.cfg.check_secret(secret.as_deref()).and_then(|_| {
                    match self.mixer.as_mut() {
                        None => Err(RoomError::NotMixing("set_layout")),
                        Some(m) => {
                            m.set_layout(layout);
                            Ok(())
                        }
                    }
                });
                send_reply(reply, r);
            }
            Command::Update {
                h,
                add,
                remove,
                reply,
            } => {
                let r = self.update(h, add, remove).await;
                send_reply(reply, r);
            }
            Command::Trickle { h, trickle } => self.trickle(h.handle_id, trickle),
            Command::AddIngest {
                secret,
                params,
                reply,
            } => match self.cfg.check_secret(secret.as_deref()) {
                Ok(()) => self.add_ingest(params, reply),
                Err(e) => send_reply(reply, Err(e)),
            },
            Command::RemoveIngest { secret, id, reply } => {
                let r = match self.cfg.check_secret(secret.as_deref()) {
                    Ok(()) => self.remove_ingest(&id).await,
                    Err(e) => Err(e),
                };
                send_reply(reply, r);
            }
            Command::StartRtmp {
                secret,
                url,
                source,
                reply,
            } => {
                let r = self
                    .cfg
                    .check_secret(secret.as_deref())
                    .and_then(|_| self.start_rtmp(url, source));
                send_reply(reply, r);
            }
            Command::StopRtmp { secret, id, reply } => {
                let r = self
                    .cfg
                    .check_secret(secret.as_deref())
                    .and_then(|_| self.stop_rtmp(id));
                send_reply(reply, r);
            }
            Command::Bridge { h, reply } => {
                let r = self.bridge(h.handle_id);
                send_reply(reply, r);
            }
            Command::Export {
                feed,
                media,
                srcs,
                reply,
            } => {
                let r = self.export(&feed, media, srcs);
                send_reply(reply, r);
            }
            Command::Unexport { media } => self.rtsp_detach(media),
            Command::IngestStatus { reply } => {
                let _ = reply.send(self.ingest_status());
            }
            Command::Hangup { h } => {
                if self
                    .participants
                    .get(&h.handle_id)
                    .is_some_and(|p| p.publication.is_some())
                {
                    self.unpublish(h.handle_id).await;
                } else if self.subscribers.contains_key(&h.handle_id) {
                    self.remove_subscriber(h.handle_id);
                }
            }
            Command::Detach { h } => {
                if self.participants.contains_key(&h.handle_id) {
                    self.leave_publisher(h.handle_id, None).await;
                }
                if self.subscribers.contains_key(&h.handle_id) {
                    self.remove_subscriber(h.handle_id);
                }
                self.pending_candidates.remove(&h.handle_id);
            }
        }
        Continue(())
    }

    fn join(&mut self, h: HandleId, params: JoinParams) -> Result<Joined, RoomError> {
        if self.participants.contains_key(&h.handle_id) {
            return Err(RoomError::AlreadyJoined(Role::Publisher));
        }
        if self.subscribers.contains_key(&h.handle_id) {
            return Err(RoomError::AlreadyJoined(Role::Subscriber));
        }
        self.cfg.check_pin(params.pin.as_deref())?;
        let id = match params.id {
            Some(id) if self.participants.values().any(|p| p.id == id) => {
                return Err(RoomError::IdExists(id));
            }
            Some(id) => id,
            None => self.new_participant_id(),
        };
        let private_id = rand::rng().random::<u32>();
        let p = Participant {
            h,
            id: id.clone(),
            private_id,
            display: params.display.clone(),
            metadata: params.metadata.clone(),
            publication: None,
            talk: TalkDetector::new(self.cfg.audio_active_packets, self.cfg.audio_level_average),
        };
        if self.cfg.notify_joining {
            self.broadcast(
                Notice::Joining {
                    id: id.clone(),
                    display: params.display.clone(),
                },
                None,
            );
        }
        self.participants.insert(h.handle_id, p);
        self.remember(h.handle_id, false);
        info!(session_id = h.session_id, handle_id = h.handle_id, id = %id, "publisher joined");
        Ok(Joined {
            id,
            private_id,
            description: self.cfg.description.clone(),
            publishers: self.publishers(Some(h.handle_id)),
        })
    }

    async fn publish(
        &mut self,
        h: HandleId,
        params: PublishParams,
        jsep: Option<Jsep>,
    ) -> Result<Option<Published>, RoomError> {
        let handle = h.handle_id;
        if self.cfg.lock_record && (params.record.is_some() || params.filename.is_some()) {
            self.cfg.check_secret(params.secret.as_deref())?;
        }
        if let Some(f) = &params.filename
            && record::file_path(Path::new("."), Some(f), "", None, "mp4", 0).is_none()
        {
            return Err(RoomError::invalid(
                "filename",
                "a relative name inside rec_dir",
            ));
        }
        let Some(p) = self.participants.get_mut(&handle) else {
            return Err(RoomError::NotJoined);
        };
        let mut changed = false;
        if let Some(d) = params.display {
            p.display = Some(d);
            changed = true;
        }
        if let Some(m) = params.metadata {
            p.metadata = Some(m);
            changed = true;
        }
        let Some(jsep) = jsep else {
            if params.is_publish {
                return Err(RoomError::Missing("jsep"));
            }
            if params.keyframe {
                self.keyframe_for_publisher(handle, true);
            }
            if changed {
                self.announce(handle);
            }
            match params.record {
                Some(true) if !self.publisher_recordings.contains_key(&handle) => {
                    if self
                        .participants
                        .get(&handle)
                        .is_some_and(|p| p.publication.is_some())
                    {
                        self.start_publisher_recording(handle, params.filename.as_deref());
                    }
                }
                Some(false) => self.stop_publisher_recording(handle),
                _ => {}
            }
            return Ok(None);
        };
        if jsep.kind != SdpType::Offer {
            return Err(RoomError::WrongSdpType("Publishers must send an SDP offer"));
        }
        if p.publication.is_some() {
            return Err(RoomError::AlreadyPublished);
        }
        self.check_publisher_room()?;
        let msg = sdp::parse(&jsep.sdp).map_err(|e| RoomError::InvalidSdp(e.to_string()))?;
        let offered = sdp::offered_streams(&msg, &self.cfg.audiocodec, &self.cfg.videocodec);
        if !offered.iter().any(|s| s.choice.is_some() && s.sending) {
            return Err(RoomError::InvalidSdp(
                "the offer has no stream in a codec this room accepts".into(),
            ));
        }

        let peer = self.start_peer("pub", handle)?;
        // m-line → the RFC 6464 extension id the publisher offered.
        let mut audio_level_ids: Vec<(u32, Option<u8>)> = Vec::new();
        let negotiated = async {
            peer.set_remote(SdpType::Offer, &jsep.sdp).await?;
            // 1.22's webrtcbin creates transceivers for a remote offer only
            // while answering, matching offered m-lines to transceivers that
            // exist by codec. So add one per m-line, in offer order (they are
            // associated in that order): recvonly with the chosen codec's
            // caps, or inactive for an m-line this room does not take.
            for s in &offered {
                let Some(media) = msg.media(s.mindex) else {
                    continue;
                };
                let (pt, direction) = match s.choice {
                    Some((_, pt)) if s.sending => (
                        pt as i32,
                        gst_webrtc::WebRTCRTPTransceiverDirection::Recvonly,
                    ),
                    _ => match media.formats().next().and_then(|f| f.parse::<i32>().ok()) {
                        Some(pt) => (pt, gst_webrtc::WebRTCRTPTransceiverDirection::Inactive),
                        None => continue,
                    },
                };
                let Some(mut caps) = media.caps_from_media(pt) else {
                    continue;
                };
                // The m-line's attributes add its `extmap-<id>` fields.
                let _ = media.attributes_to_caps(caps.make_mut());
                let (caps, level_id) = strip_caps(caps);
                if s.kind == MediaKind::Audio {
                    audio_level_ids.push((s.mindex, level_id));
                }
                peer.add_transceiver(direction, &caps);
            }
            peer.answer().await
        }
        .await;
        let answer = match negotiated {
            Ok(a) => a,
            Err(e) => {
                warn!(handle_id = handle, error = %e, "publisher negotiation failed");
                peer::retire(&self.pipeline, vec![peer.webrtcbin.clone()]);
                return Err(e.into());
            }
        };
        let mut streams = Vec::new();
        for s in offered.iter().filter(|s| s.sending) {
            let Some((codec, pt)) = s.choice else {
                continue;
            };
            let tee = sfu::make_tee(&self.pipeline, &format!("tee_{handle}_{}", s.mindex))
                .map_err(|e| RoomError::graph("publisher tee", e))?;
            let clock = Arc::new(timing::ArrivalClock::new(codec.clock_rate()));
            if let Some(pad) = tee.static_pad("sink") {
                let clock = clock.clone();
                pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
                    if let Some(b) = info.buffer() {
                        clock.observe(b);
                    }
                    gst::PadProbeReturn::Ok
                });
            }
            // SFU rooms take talking levels from RFC 6464 (MCU and hybrid
            // rooms measure the decoded audio).
            let level_id = audio_level_ids
                .iter()
                .find(|(m, _)| *m == s.mindex)
                .and_then(|(_, id)| *id);
            if let Some(id) = level_id
                && self.cfg.mode == Mode::Sfu
            {
                sfu::watch_audio_level(&tee, handle, id, &self.ev_tx);
            }
            let description = params
                .descriptions
                .iter()
                .find(|(mid, _)| *mid == s.mid)
                .map(|(_, d)| d.clone());
            streams.push(PubStream {
                mindex: s.mindex,
                mid: s.mid.clone(),
                kind: s.kind,
                codec,
                pt,
                ssrc: s.ssrc,
                description,
                tee,
                receiving: false,
                last_keyframe_request: None,
                moderated: None,
                clock,
            });
        }
        let audio_codec = streams
            .iter()
            .find(|s| s.kind == MediaKind::Audio)
            .map(|s| s.codec);
        let video_codec = streams
            .iter()
            .find(|s| s.kind == MediaKind::Video)
            .map(|s| s.codec);
        let mix_inputs: Vec<(MediaKind, Codec, u32, gst::Element)> = streams
            .iter()
            .map(|s| (s.kind, s.codec, s.mindex, s.tee.clone()))
            .collect();
        let p = self
            .participants
            .get_mut(&handle)
            .ok_or(RoomError::NotJoined)?;
        p.publication = Some(Publication {
            peer: Some(peer),
            streams,
            connected: false,
        });
        let key = p.id.to_string();
        info!(session_id = h.session_id, handle_id = handle, id = %p.id, "publishing");
        self.flush_candidates(handle);
        if let Some(m) = self.mixer.as_mut()
            && let Err(e) = m.add_publisher(&self.pipeline, handle, key, &mix_inputs, &self.ev_tx)
        {
            warn!(handle_id = handle, error = %e, "cannot mix publisher");
        }
        self.announce(handle);
        self.rtsp_mount(handle);
        if self.cfg.record || params.record == Some(true) {
            // Started once media flows (see `RECORD_SETTLE`).
            self.pending_recordings
                .insert(handle, (params.filename.clone(), 0));
        }
        let streams = self
            .participants
            .get(&handle)
            .and_then(|p| p.publication.as_ref())
            .map(Self::published_streams)
            .unwrap_or_default();
        Ok(Some(Published {
            streams,
            audio_codec,
            video_codec,
            answer,
        }))
    }

    /// The room's recording directory: `rec_dir`, else the gateway's.
    fn rec_dir(&self) -> PathBuf {
        self.cfg
            .rec_dir
            .as_ref()
            .map(PathBuf::from)
            .unwrap_or_else(|| self.ctx.rec_dir.clone())
    }

    fn h264_encoder(&self) -> Option<crate::media::encoder::Selected> {
        self.ctx
            .encoders
            .get()
            .and_then(|l| l.iter().find(|s| s.codec == Codec::H264).cloned())
    }

    /// Starts recording a publisher's streams (a failure is logged and the
    /// call goes on without a recording).
    fn start_publisher_recording(&mut self, handle: u64, filename: Option<&str>) {
        if self.publisher_recordings.contains_key(&handle) {
            return;
        }
        let Some(p) = self.participants.get(&handle) else {
            return;
        };
        let Some(publication) = &p.publication else {
            return;
        };
        let room = self.cfg.room.to_string();
        let feed = p.id.to_string();
        let streams = Self::recorded_streams(publication);
        let codecs: Vec<Codec> = streams.iter().map(|s| s.codec).collect();
        let format = self.ctx.recording.choose(self.cfg.record_webm, &codecs);
        let Some(path) = record::file_path(
            &self.rec_dir(),
            filename,
            &room,
            Some(&feed),
            &format.extension,
            record::now_ms(),
        ) else {
            return;
        };
        let offsets = Self::sync_offsets_of(publication, &streams);
        if offsets.is_none() && !self.ingests.contains_key(&handle) {
            warn!(
                handle_id = handle,
                "recording without sender reports: lip-sync from arrival times"
            );
        }
        let chosen: Vec<record::Source<'_>> = streams
            .iter()
            .enumerate()
            .map(|(i, s)| record::Source {
                kind: s.kind,
                codec: s.codec,
                tee: &s.tee,
                clock: Some(s.clock.clone()),
                offset: offsets.as_ref().map(|o| o[i]),
            })
            .collect();
        let encoder = self.h264_encoder();
        match record::Recorder::start(
            &self.pipeline,
            format,
            encoder.as_ref(),
            record::Target::File(path),
            self.cfg.room.clone(),
            Some(p.id.clone()),
            &chosen,
            &self.ev_tx,
        ) {
            Ok(r) => {
                info!(handle_id = handle, file = %r.path.display(), "recording started");
                self.publisher_recordings.insert(handle, r.id);
                self.recorders.insert(r.id, r);
                self.keyframe_for_publisher(handle, true);
            }
            Err(e) => warn!(handle_id = handle, error = %e, "cannot record publisher"),
        }
    }

    /// The streams a publisher's recording takes: the first video and the
    /// first audio stream not muted by moderation.
    fn recorded_streams(publication: &Publication) -> Vec<&PubStream> {
        let mut out: Vec<&PubStream> = Vec::new();
        for s in publication.streams.iter().filter(|s| s.moderated.is_none()) {
            if !out.iter().any(|c| c.kind == s.kind) {
                out.push(s);
            }
        }
        out
    }

    /// Lip-sync offsets for `streams` from the publisher's sender reports.
    fn sync_offsets_of(publication: &Publication, streams: &[&PubStream]) -> Option<Vec<i64>> {
        let reports: Vec<(&timing::ArrivalClock, Option<timing::SenderReport>)> = streams
            .iter()
            .map(|s| {
                let sr = s
                    .ssrc
                    .zip(publication.peer.as_ref())
                    .and_then(|(ssrc, peer)| timing::sender_report(&peer.webrtcbin, ssrc));
                (s.clock.as_ref(), sr)
            })
            .collect();
        timing::sync_offsets(&reports)
    }

    fn publisher_sync_offsets(&self, handle: u64) -> Option<Vec<i64>> {
        let publication = self.participants.get(&handle)?.publication.as_ref()?;
        let streams = Self::recorded_streams(publication);
        Self::sync_offsets_of(publication, &streams)
    }

    fn stop_publisher_recording(&mut self, handle: u64) {
        self.pending_recordings.remove(&handle);
        if let Some(id) = self.publisher_recordings.remove(&handle) {
            self.stop_recording(id);
        }
    }

    /// Starts recording the mix (its encoded video and the full audio mix:
    /// no second encode).
    fn start_mix_recording(&mut self, filename: Option<&str>) -> Result<RecordingState, RoomError> {
        if let Some(id) = self.mix_recording
            && let Some(r) = self.recorders.get(&id)
        {
            return Ok(r.state());
        }
        let Some(vcodec) = self.mixer.as_ref().map(|m| m.video_format().0) else {
            return Err(RoomError::NotMixing("record_mix"));
        };
        let room = self.cfg.room.to_string();
        let rec_dir = self.rec_dir();
        let path = record::file_path(
            &rec_dir,
            filename,
            &room,
            None,
            &self
                .ctx
                .recording
                .choose(self.cfg.record_webm, &[vcodec, Codec::Opus])
                .extension,
            record::now_ms(),
        )
        .ok_or_else(|| RoomError::invalid("filename", "a relative name inside rec_dir"))?;
        let Some(m) = self.mixer.as_mut() else {
            return Err(RoomError::NotMixing("record_mix"));
        };
        let video = m.video_tee().clone();
        let (audio, _) = m
            .audio_tee(&self.pipeline, MixKey::All)
            .map_err(|e| RoomError::graph("mix audio", e))?;
        let sources = [
            // The mix's timestamps come from its aggregators: no jitter.
            record::Source {
                kind: MediaKind::Video,
                codec: vcodec,
                tee: &video,
                clock: None,
                offset: None,
            },
            record::Source {
                kind: MediaKind::Audio,
                codec: Codec::Opus,
                tee: &audio,
                clock: None,
                offset: None,
            },
        ];
        let encoder = self.h264_encoder();
        let format = self
            .ctx
            .recording
            .choose(self.cfg.record_webm, &[vcodec, Codec::Opus]);
        let r = record::Recorder::start(
            &self.pipeline,
            format,
            encoder.as_ref(),
            record::Target::File(path),
            self.cfg.room.clone(),
            None,
            &sources,
            &self.ev_tx,
        )?;
        info!(file = %r.path.display(), "mix recording started");
        let reply = r.state();
        self.mix_recording = Some(r.id);
        self.recorders.insert(r.id, r);
        if let Some(m) = &self.mixer {
            m.request_keyframe();
        }
        Ok(reply)
    }

    /// A recording needs a keyframe from its source `after` from now.
    fn recording_keyframe(&mut self, id: RecordingId, after: Duration) {
        let publisher = if self.mix_recording == Some(id) {
            MIX_HANDLE
        } else if let Some((h, _)) = self.publisher_recordings.iter().find(|(_, r)| **r == id) {
            *h
        } else if let Some(e) = self.egress_of(id).and_then(|e| self.egresses.get(&e)) {
            e.handle
        } else {
            return;
        };
        let mindex = self
            .participants
            .get(&publisher)
            .and_then(|p| p.publication.as_ref())
            .and_then(|p| p.streams.iter().find(|s| s.kind == MediaKind::Video))
            .map_or(0, |s| s.mindex);
        debug!(
            handle_id = publisher,
            after_ms = after.as_millis() as u64,
            "recording wants a keyframe"
        );
        self.post_later(
            after,
            RoomEvent::KeyframeRequest {
                publisher_handle: publisher,
                mindex,
                force: true,
            },
        );
    }

    fn stop_mix_recording(&mut self) {
        if let Some(id) = self.mix_recording.take() {
            self.stop_recording(id);
        }
    }

    /// Posts `event` to this room's task after `delay` (timers never touch
    /// room state themselves).
    fn post_later(&self, delay: Duration, event: RoomEvent) {
        let tx = self.ev_tx.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _ = tx.send(event);
        });
    }

    /// Sends EOS into a recording; it is removed when the file is final
    /// ([`RoomEvent::RecordingDone`]), or after [`record::FINALIZE_TIMEOUT`].
    fn stop_recording(&mut self, id: RecordingId) {
        let Some(r) = self.recorders.get_mut(&id) else {
            return;
        };
        if r.stopping() {
            return;
        }
        debug!(file = %r.path.display(), "recording stopping");
        r.stop();
        self.post_later(record::FINALIZE_TIMEOUT, RoomEvent::RecordingDone { id });
    }

    /// A recording's file is final (or its time is up): remove its branch
    /// and list it.
    fn recording_done(&mut self, id: RecordingId) {
        if self.is_egress_branch(id) {
            // EOS: a stopped restream is done; a live one lost its source.
            self.egress_branch_ended(id, "end of stream");
            return;
        }
        let Some(r) = self.recorders.remove(&id) else {
            return;
        };
        if !r.stopping() {
            // EOS from upstream without a stop (cannot happen in a live
            // room, but then the recording is over anyway).
            self.publisher_recordings.retain(|_, v| *v != id);
            if self.mix_recording == Some(id) {
                self.mix_recording = None;
            }
        }
        let info = r.finish(&self.pipeline);
        info!(file = %info.path.display(), duration_ms = info.duration_ms, "recording finished");
        self.ctx
            .recordings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(info);
    }

    /// `enable_recording`: the room-wide `record` flag, applied to every
    /// current publisher.
    fn enable_recording(&mut self, secret: Option<&str>, record: bool) -> Result<(), RoomError> {
        self.cfg.check_secret(secret)?;
        self.cfg.record = record;
        let publishers: Vec<u64> = self
            .participants
            .iter()
            .filter(|(_, p)| p.publication.is_some())
            .map(|(h, _)| *h)
            .collect();
        for h in publishers {
            if record {
                self.start_publisher_recording(h, None);
            } else {
                self.stop_publisher_recording(h);
            }
        }
        if self.mixer.is_some() {
            if record {
                if let Err(e) = self.start_mix_recording(None) {
                    warn!(error = %e, "cannot record the mix");
                }
            } else {
                self.stop_mix_recording();
            }
        }
        Ok(())
    }

    /// Stops every recording and waits (bounded) until their files are final.
    async fn finalize_recordings(&mut self, ev_rx: &mut mpsc::UnboundedReceiver<RoomEvent>) {
        let ids: Vec<RecordingId> = self.recorders.keys().copied().collect();
        if ids.is_empty() {
            return;
        }
        for id in ids {
            self.stop_recording(id);
        }
        self.publisher_recordings.clear();
        self.mix_recording = None;
        let deadline = tokio::time::Instant::now() + record::FINALIZE_TIMEOUT;
        while !self.recorders.is_empty() {
            match tokio::time::timeout_at(deadline, ev_rx.recv()).await {
                Ok(Some(RoomEvent::RecordingDone { id })) => self.recording_done(id),
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
        let left: Vec<RecordingId> = self.recorders.keys().copied().collect();
        for id in left {
            self.recording_done(id);
        }
    }

    /// Creates the `webrtcbin` of handle `handle` (named `<role>_<handle>`,
    /// which maps its element errors back to it), adds it to the room
    /// pipeline, tracks it for leak checks and starts it. On failure nothing
    /// stays in the pipeline.
    fn start_peer(&self, role: &str, handle: u64) -> Result<Peer, RoomError> {
        let peer = Peer::new(
            &format!("{role}_{handle}"),
            handle,
            &self.ctx.ice,
            self.ctx.jitter_buffer_ms,
            &self.ev_tx,
        )?;
        self.pipeline
            .add(&peer.webrtcbin)
            .map_err(|e| RoomError::graph("adding webrtcbin", e))?;
        self.track(&peer.webrtcbin);
        if let Err(e) = peer.webrtcbin.sync_state_with_parent() {
            peer::retire(&self.pipeline, vec![peer.webrtcbin.clone()]);
            return Err(RoomError::graph("webrtcbin failed to start", e));
        }
        Ok(peer)
    }

    fn track(&self, el: &gst::Element) {
        let mut alive = self.ctx.alive.lock().unwrap_or_else(|e| e.into_inner());
        alive.retain(|w| w.upgrade().is_some());
        alive.push(el.downgrade());
    }

    /// Takes down a publication: subscribers' branches detach (and they are
    /// renegotiated), the others hear `unpublished`.
    async fn unpublish(&mut self, handle: u64) {
        // The recording and restreams leave first, while their tees exist.
        self.stop_publisher_recording(handle);
        self.stop_egresses_of(handle);
        self.rtsp_unmount(handle);
        let Some(p) = self.participants.get_mut(&handle) else {
            return;
        };
        let Some(publication) = p.publication.take() else {
            return;
        };
        let id = p.id.clone();
        let h = p.h;
        info!(handle_id = handle, id = %id, "unpublishing");
        let mut elements: Vec<gst::Element> = publication
            .peer
            .iter()
            .map(|p| p.webrtcbin.clone())
            .collect();
        match self.ingests.remove(&handle) {
            // The ingest owns its tees (with its payloaders).
            Some(mut ingest) => elements.extend(ingest.elements()),
            None => elements.extend(publication.streams.iter().map(|s| s.tee.clone())),
        }
        if let Some(m) = self.mixer.as_mut() {
            m.remove_publisher(&self.pipeline, handle);
        }
        self.drop_feed_from_subscribers(handle).await;
        peer::retire(&self.pipeline, elements);
        self.pending_candidates.remove(&handle);
        self.broadcast(Notice::Unpublished { id }, Some(handle));
        self.notify(
            h,
            Notice::Hangup {
                reason: "Unpublished",
            },
        );
    }

    /// Detaches every subscriber branch fed by `feed_handle` and, where the
    /// subscriber's signalling allows, renegotiates it (Janus `autoupdate`).
    async fn drop_feed_from_subscribers(&mut self, feed_handle: u64) {
        let mut renegotiate = Vec::new();
        for (sh, sub) in &mut self.subscribers {
            let mut touched = false;
            for st in sub
                .streams
                .iter_mut()
                .filter(|st| st.feed_handle == feed_handle && st.active)
            {
                if let Some(pad) = st.tee_pad.take() {
                    sfu::detach_branch(&st.tee, &pad);
                }
                st.active = false;
                touched = true;
                if let Some(t) = sub.peer.transceiver(st.mindex) {
                    t.set_property(
                        "direction",
                        gst_webrtc::WebRTCRTPTransceiverDirection::Inactive,
                    );
                }
            }
            if touched && sub.stable {
                renegotiate.push(*sh);
            }
        }
        for sh in renegotiate {
            match self.renegotiate(sh).await {
                Ok(offered) => {
                    if let Some(sub) = self.subscribers.get(&sh) {
                        self.notify(sub.h, Notice::Renegotiated(offered));
                    }
                }
                Err(e) => warn!(handle_id = sh, error = %e, "subscriber renegotiation failed"),
            }
        }
    }

    async fn leave_publisher(&mut self, handle: u64, reason: Option<&'static str>) {
        self.unpublish(handle).await;
        let Some(p) = self.participants.remove(&handle) else {
            return;
        };
        self.forget(handle);
        if let Some(m) = self.mixer.as_mut() {
            m.drop_listener_mix(&self.pipeline, handle);
        }
        info!(handle_id = handle, id = %p.id, "participant left");
        self.broadcast(
            Notice::Left {
                id: p.id,
                display: p.display,
                reason,
            },
            None,
        );
    }

    async fn kick(&mut self, secret: Option<&str>, id: &Id) -> Result<(), RoomError> {
        self.cfg.check_secret(secret)?;
        let Some((&handle, p)) = self.participants.iter().find(|(_, p)| &p.id == id) else {
            return Err(RoomError::NoSuchFeed(id.to_string()));
        };
        let h = p.h;
        self.notify(h, Notice::KickedYou);
        self.broadcast(Notice::Kicked { id: id.clone() }, Some(handle));
        self.leave_publisher(handle, Some("kicked")).await;
        Ok(())
    }

    /// One audio level measurement of a publisher (a packet's worth), in dBov.
    fn audio_level(&mut self, handle: u64, dbov: u8) {
        let Some(p) = self.participants.get_mut(&handle) else {
            return;
        };
        if let Some(change) = p.talk.push(dbov) {
            self.talk_changed(handle, change);
        }
    }

    /// Tells the room (with `audiolevel_event`) and steers the speaker layout.
    fn talk_changed(&mut self, handle: u64, change: TalkChange) {
        let Some(p) = self.participants.get(&handle) else {
            return;
        };
        let mid = p
            .publication
            .as_ref()
            .and_then(|pb| pb.streams.iter().find(|s| s.kind == MediaKind::Audio))
            .map(|s| s.mid.clone());
        let key = p.id.to_string();
        debug!(
            handle_id = handle,
            talking = change.talking,
            avg_dbov = change.average_dbov,
            "talking changed"
        );
        if self.cfg.audiolevel_event {
            let notice = Notice::Talking {
                id: p.id.clone(),
                mid,
                talking: change.talking,
                average_dbov: change.average_dbov,
            };
            self.broadcast(notice, None);
        }
        if change.talking
            && let Some(m) = self.mixer.as_mut()
        {
            let now = Instant::now();
            if self
                .last_speaker_switch
                .is_none_or(|t| now.duration_since(t) >= SPEAKER_HOLD)
            {
                m.set_speaker(Some(key));
                self.last_speaker_switch = Some(now);
            }
        }
    }

    /// Stops or resumes forwarding one publisher stream: no subscriber (and,
    /// in MCU rooms, not the mix) gets it while muted. The publisher and the
    /// room hear `{"videoroom":"event","moderation":"muted"|"unmuted","id","mid"}`.
    fn moderate(
        &mut self,
        secret: Option<&str>,
        id: &Id,
        mid: &str,
        mute: bool,
    ) -> Result<(), RoomError> {
        self.cfg.check_secret(secret)?;
        let Some((&handle, p)) = self.participants.iter_mut().find(|(_, p)| &p.id == id) else {
            return Err(RoomError::NoSuchFeed(id.to_string()));
        };
        let stream = p
            .publication
            .as_mut()
            .and_then(|pb| pb.streams.iter_mut().find(|s| s.mid == mid))
            .ok_or_else(|| RoomError::NoSuchFeed(format!("{id} mid {mid}")))?;
        let kind = stream.kind;
        if let Some(sink) = stream.tee.static_pad("sink") {
            sfu::set_dropping(&sink, &mut stream.moderated, mute);
        }
        if let Some(m) = self.mixer.as_mut()
            && let Err(e) = m.set_muted(&self.pipeline, handle, kind, mute)
        {
            warn!(handle_id = handle, error = %e, "cannot change the mix");
        }
        if !mute && kind == MediaKind::Video {
            self.keyframe_for_publisher(handle, true);
        }
        info!(handle_id = handle, id = %id, mid, mute, "moderated");
        let notice = Notice::Moderated {
            id: id.clone(),
            mid: mid.to_owned(),
            muted: mute,
        };
        self.broadcast(notice, None);
        self.announce(handle);
        Ok(())
    }

    fn find_feed(&self, feed: &Id) -> Option<(u64, &Participant)> {
        self.participants
            .iter()
            .find(|(_, p)| &p.id == feed)
            .map(|(h, p)| (*h, p))
    }

    /// Resolves subscription requests into (feed handle, stream index) pairs.
    fn resolve(&self, reqs: &[StreamRequest]) -> Result<Vec<(u64, usize)>, RoomError> {
        let mut out = Vec::new();
        for r in reqs {
            if r.feed == self.mix_id() && self.mixer.is_some() {
                let mids = [(0, MIX_AUDIO_MID), (1, MIX_VIDEO_MID)];
                let before = out.len();
                out.extend(
                    mids.iter()
                        .filter(|(_, m)| r.mid.as_deref().is_none_or(|want| want == *m))
                        .map(|(i, _)| (MIX_HANDLE, *i)),
                );
                if out.len() == before {
                    return Err(RoomError::NoSuchFeed(format!(
                        "{} mid {}",
                        r.feed,
                        r.mid.as_deref().unwrap_or("*")
                    )));
                }
                continue;
            }
            let Some((fh, p)) = self.find_feed(&r.feed) else {
                return Err(RoomError::NoSuchFeed(r.feed.to_string()));
            };
            let Some(publication) = &p.publication else {
                return Err(RoomError::NoSuchFeed(r.feed.to_string()));
            };
            let before = out.len();
            for (i, s) in publication.streams.iter().enumerate() {
                if r.mid.as_deref().is_none_or(|m| m == s.mid) {
                    out.push((fh, i));
                }
            }
            if out.len() == before {
                return Err(RoomError::NoSuchFeed(format!(
                    "{} mid {}",
                    r.feed,
                    r.mid.as_deref().unwrap_or("*")
                )));
            }
        }
        Ok(out)
    }

    /// Adds one of the mix's streams (`idx` 0 audio, 1 video) to a subscriber.
    fn add_mix_stream(&mut self, sub: &mut Subscriber, idx: usize) -> Result<(), RoomError> {
        let mix_id = self.mix_id();
        let mixer = self
            .mixer
            .as_mut()
            .ok_or_else(|| RoomError::NoSuchFeed(mix_id.to_string()))?;
        let source = if idx == 0 {
            let key = sub.tied.map_or(MixKey::All, MixKey::Minus);
            let (tee, ssrc) = mixer
                .audio_tee(&self.pipeline, key)
                .map_err(|e| RoomError::graph("mix audio", e))?;
            let (codec, pt) = mixer.audio_format();
            StreamSource {
                kind: MediaKind::Audio,
                codec,
                pt,
                ssrc: Some(ssrc),
                tee,
                mid: MIX_AUDIO_MID.into(),
                mindex: 0,
            }
        } else {
            let (codec, pt, ssrc) = mixer.video_format();
            let tee = mixer.video_tee().clone();
            StreamSource {
                kind: MediaKind::Video,
                codec,
                pt,
                ssrc: Some(ssrc),
                tee,
                mid: MIX_VIDEO_MID.into(),
                mindex: 1,
            }
        };
        self.attach_stream(sub, (mix_id, MIX_HANDLE, Some("Mix".into())), source)
    }

    /// Adds publisher stream `idx` of `feed_handle` (or of the mix) to a subscriber.
    fn add_stream(
        &mut self,
        sub: &mut Subscriber,
        feed_handle: u64,
        idx: usize,
    ) -> Result<(), RoomError> {
        if feed_handle == MIX_HANDLE {
            return self.add_mix_stream(sub, idx);
        }
        let p = self
            .participants
            .get(&feed_handle)
            .ok_or_else(|| RoomError::NoSuchFeed("gone".into()))?;
        let publication = p
            .publication
            .as_ref()
            .ok_or_else(|| RoomError::NoSuchFeed(p.id.to_string()))?;
        let s = &publication.streams[idx];
        let source = StreamSource {
            kind: s.kind,
            codec: s.codec,
            pt: s.pt,
            ssrc: s.ssrc,
            tee: s.tee.clone(),
            mid: s.mid.clone(),
            mindex: s.mindex,
        };
        let feed = (p.id.clone(), feed_handle, p.display.clone());
        self.attach_stream(sub, feed, source)
    }

    /// Prepares the subscriber's branch for `source` (linked to the tee once
    /// connected) and records the stream; `feed` is (id, handle, display).
    fn attach_stream(
        &self,
        sub: &mut Subscriber,
        feed: (Id, u64, Option<String>),
        source: StreamSource,
    ) -> Result<(), RoomError> {
        let (feed, feed_handle, feed_display) = feed;
        let mline = sub.streams.len() as u32;
        let spec = sfu::BranchSpec {
            subscriber_handle: sub.h.handle_id,
            codec: source.codec,
            pt: source.pt,
            ssrc: source.ssrc,
            msid: feed.to_string(),
        };
        let guard = sfu::prepare_branch(
            &self.pipeline,
            &sub.peer.webrtcbin,
            mline,
            &spec,
            &self.ev_tx,
        )
        .map_err(|e| RoomError::graph("subscriber branch", e))?;
        let last_rtp = self
            .ingests
            .contains_key(&feed_handle)
            .then(|| switch::track_last_rtp(&guard));
        sub.streams.push(SubStream {
            mindex: mline,
            mid: mline.to_string(),
            feed,
            feed_handle,
            feed_mid: source.mid,
            feed_display,
            kind: source.kind,
            codec: source.codec,
            guard,
            tee: source.tee,
            publisher_mindex: source.mindex,
            tee_pad: None,
            active: true,
            last_rtp,
            bridge: None,
            send: true,
            drop_probe: None,
        });
        Ok(())
    }

    fn subscribed_streams(sub: &Subscriber) -> Vec<SubscribedStream> {
        sub.streams
            .iter()
            .map(|st| SubscribedStream {
                mindex: st.mindex,
                mid: st.mid.clone(),
                kind: st.kind,
                active: st.active,
                feed: st.feed.clone(),
                feed_mid: st.feed_mid.clone(),
                feed_display: st.feed_display.clone(),
                send: st.send,
                codec: st.codec,
            })
            .collect()
    }

    /// Creates and applies a new offer for a subscriber; fills the stream mids
    /// from it. Returns the SDP.
    async fn offer_for(&mut self, handle: u64) -> Result<String, RoomError> {
        let sub = self
            .subscribers
            .get_mut(&handle)
            .ok_or(RoomError::NotJoined)?;
        let offer = sub.peer.offer().await?;
        if let Ok(msg) = sdp::parse(&offer) {
            for st in &mut sub.streams {
                if let Some(mid) = msg.media(st.mindex).and_then(|m| m.attribute_val("mid")) {
                    st.mid = mid.to_owned();
                }
            }
        }
        sub.stable = false;
        Ok(offer)
    }

    async fn subscribe(
        &mut self,
        h: HandleId,
        streams: Vec<StreamRequest>,
        tied: Option<u64>,
    ) -> Result<Offered, RoomError> {
        let handle = h.handle_id;
        if self.subscribers.contains_key(&handle) {
            return Err(RoomError::AlreadyJoined(Role::Subscriber));
        }
        if self.participants.contains_key(&handle) {
            return Err(RoomError::AlreadyJoined(Role::Publisher));
        }
        let wanted = self.resolve(&streams)?;
        if wanted.is_empty() {
            return Err(RoomError::Missing("streams"));
        }
        let peer = self.start_peer("sub", handle)?;
        let mut sub = Subscriber {
            h,
            peer,
            streams: Vec::new(),
            stable: false,
            connected: false,
            paused: false,
            tied,
        };
        for (fh, idx) in wanted {
            if let Err(e) = self.add_stream(&mut sub, fh, idx) {
                self.retire_subscriber(sub);
                return Err(e);
            }
        }
        self.subscribers.insert(handle, sub);
        self.remember(handle, true);
        match self.offer_for(handle).await {
            Ok(offer) => {
                info!(
                    session_id = h.session_id,
                    handle_id = handle,
                    "subscriber attached"
                );
                let streams = self
                    .subscribers
                    .get(&handle)
                    .map(Self::subscribed_streams)
                    .unwrap_or_default();
                Ok(Offered { streams, offer })
            }
            Err(e) => {
                self.remove_subscriber(handle);
                Err(e)
            }
        }
    }

    async fn start(&mut self, h: HandleId, jsep: Option<Jsep>) -> Result<(), RoomError> {
        let handle = h.handle_id;
        let sub = self
            .subscribers
            .get_mut(&handle)
            .ok_or(RoomError::NotJoined)?;
        if let Some(jsep) = jsep {
            if jsep.kind != SdpType::Answer {
                return Err(RoomError::WrongSdpType(
                    "Subscribers must send an SDP answer",
                ));
            }
            sub.peer.set_remote(SdpType::Answer, &jsep.sdp).await?;
            sub.stable = true;
        }
        if sub.paused {
            sub.paused = false;
            for st in &mut sub.streams {
                let send = st.send;
                set_forwarding(st, send);
            }
        }
        self.flush_candidates(handle);
        self.link_branches(handle);
        self.keyframes_for_subscriber(handle);
        Ok(())
    }

    fn configure_subscriber(
        &mut self,
        h: HandleId,
        streams: &[(String, bool)],
    ) -> Result<(), RoomError> {
        let sub = self
            .subscribers
            .get_mut(&h.handle_id)
            .ok_or(RoomError::NotJoined)?;
        for (mid, send) in streams {
            let st = sub
                .streams
                .iter_mut()
                .find(|st| &st.mid == mid)
                .ok_or_else(|| {
                    RoomError::invalid("mid", format!("an existing mid (no '{mid}')"))
                })?;
            st.send = *send;
            if !sub.paused {
                set_forwarding(st, *send);
            }
        }
        self.keyframes_for_subscriber(h.handle_id);
        Ok(())
    }

    async fn renegotiate(&mut self, handle: u64) -> Result<Offered, RoomError> {
        let offer = self.offer_for(handle).await?;
        let sub = self.subscribers.get(&handle).ok_or(RoomError::NotJoined)?;
        Ok(Offered {
            streams: Self::subscribed_streams(sub),
            offer,
        })
    }

    async fn update(
        &mut self,
        h: HandleId,
        add: Vec<StreamRequest>,
        remove: Vec<StreamRequest>,
    ) -> Result<Offered, RoomError> {
        let handle = h.handle_id;
        let Some(stable) = self.subscribers.get(&handle).map(|s| s.stable) else {
            return Err(RoomError::NotJoined);
        };
        if !stable {
            return Err(RoomError::OfferPending);
        }
        let wanted = self.resolve(&add)?;
        let mut sub = self
            .subscribers
            .remove(&handle)
            .ok_or(RoomError::NotJoined)?;
        for r in &remove {
            for st in sub
                .streams
                .iter_mut()
                .filter(|st| st.feed == r.feed && r.mid.as_deref().is_none_or(|m| m == st.feed_mid))
            {
                if let Some(pad) = st.tee_pad.take() {
                    sfu::detach_branch(&st.tee, &pad);
                }
                st.active = false;
                if let Some(t) = sub.peer.transceiver(st.mindex) {
                    t.set_property(
                        "direction",
                        gst_webrtc::WebRTCRTPTransceiverDirection::Inactive,
                    );
                }
            }
        }
        let mut result = Ok(());
        for (fh, idx) in wanted {
            if let Err(e) = self.add_stream(&mut sub, fh, idx) {
                result = Err(e);
                break;
            }
        }
        self.subscribers.insert(handle, sub);
        result?;
        self.renegotiate(handle).await
    }

    /// The `webrtcbin` of a subscriber or publishing participant.
    fn peer_of(&self, handle: u64) -> Option<&Peer> {
        self.subscribers.get(&handle).map(|s| &s.peer).or_else(|| {
            self.participants
                .get(&handle)
                .and_then(|p| p.publication.as_ref())
                .and_then(|p| p.peer.as_ref())
        })
    }

    /// Applies candidates once the peer has its remote description; until
    /// then they wait in `pending_candidates`.
    fn apply_or_keep(&mut self, handle: u64, cands: Vec<Candidate>) {
        match self.peer_of(handle) {
            Some(peer)
                if peer
                    .webrtcbin
                    .property::<Option<gst_webrtc::WebRTCSessionDescription>>("remote-description")
                    .is_some() =>
            {
                for c in &cands {
                    apply_candidate(peer, c);
                }
            }
            _ => self
                .pending_candidates
                .entry(handle)
                .or_default()
                .extend(cands),
        }
    }

    fn trickle(&mut self, handle: u64, trickle: Trickle) {
        if let Trickle::Candidates(cands) = trickle {
            self.apply_or_keep(handle, cands);
        }
    }

    fn flush_candidates(&mut self, handle: u64) {
        if let Some(cands) = self.pending_candidates.remove(&handle) {
            self.apply_or_keep(handle, cands);
        }
    }

    /// Links every active, unlinked stream of a connected subscriber to its
    /// publisher's tee (see `sfu::prepare_branch` for why only then).
    fn link_branches(&mut self, handle: u64) {
        let Some(sub) = self.subscribers.get_mut(&handle) else {
            return;
        };
        if !sub.connected || !sub.stable {
            return;
        }
        for st in sub
            .streams
            .iter_mut()
            .filter(|st| st.active && st.tee_pad.is_none() && st.bridge.is_none())
        {
            let keyframes =
                (st.kind == MediaKind::Video).then_some((st.feed_handle, st.publisher_mindex));
            let replay = self
                .ingests
                .get(&st.feed_handle)
                .and_then(|i| i.streams.iter().find(|s| s.tee == st.tee))
                .and_then(|s| s.gop.as_ref());
            match sfu::link_branch(&st.tee, &st.guard, keyframes, replay, &self.ev_tx) {
                Ok(pad) => st.tee_pad = Some(pad),
                Err(e) => {
                    warn!(handle_id = handle, mid = %st.mid, error = %e, "cannot link subscriber stream")
                }
            }
        }
    }

    fn retire_subscriber(&self, sub: Subscriber) {
        let mut elements = vec![sub.peer.webrtcbin.clone()];
        for st in sub.streams {
            match st.bridge {
                Some(src) => elements.push(src),
                None => {
                    if let Some(pad) = st.tee_pad {
                        sfu::detach_branch(&st.tee, &pad);
                    }
                }
            }
            elements.push(st.guard);
        }
        peer::retire(&self.pipeline, elements);
    }

    fn remove_subscriber(&mut self, handle: u64) {
        if let Some(sub) = self.subscribers.remove(&handle) {
            info!(
                session_id = sub.h.session_id,
                handle_id = handle,
                "subscriber left"
            );
            self.forget(handle);
            self.pending_candidates.remove(&handle);
            self.retire_subscriber(sub);
        }
    }

    /// Asks the publisher for a keyframe on a stream, at most once per
    /// `keyframe_interval` (subscribers' PLI/FIR are merged).
    fn keyframe(&mut self, publisher: u64, mindex: u32, force: bool) {
        let interval = self.ctx.keyframe_interval;
        if publisher == MIX_HANDLE {
            let now = Instant::now();
            if !force
                && self
                    .last_mix_keyframe
                    .is_some_and(|t| now.duration_since(t) < interval)
            {
                return;
            }
            if self.mixer.as_ref().is_some_and(Mixer::request_keyframe) {
                self.last_mix_keyframe = Some(now);
            }
            return;
        }
        let Some(s) = self
            .participants
            .get_mut(&publisher)
            .and_then(|p| p.publication.as_mut())
            .and_then(|p| p.streams.iter_mut().find(|s| s.mindex == mindex))
        else {
            return;
        };
        let now = Instant::now();
        if !force
            && s.last_keyframe_request
                .is_some_and(|t| now.duration_since(t) < interval)
        {
            return;
        }
        if sfu::request_keyframe(&s.tee) {
            s.last_keyframe_request = Some(now);
            debug!(handle_id = publisher, mindex, "keyframe requested");
        }
    }

    fn keyframe_for_publisher(&mut self, publisher: u64, force: bool) {
        let mindexes: Vec<u32> = self
            .participants
            .get(&publisher)
            .and_then(|p| p.publication.as_ref())
            .map(|p| {
                p.streams
                    .iter()
                    .filter(|s| s.kind == MediaKind::Video)
                    .map(|s| s.mindex)
                    .collect()
            })
            .unwrap_or_default();
        for m in mindexes {
            self.keyframe(publisher, m, force);
        }
    }

    /// A new or resumed subscriber needs a picture now: H.264 decoders wait for
    /// an IDR, and nothing else on the path asks for one.
    fn keyframes_for_subscriber(&mut self, handle: u64) {
        let Some(sub) = self.subscribers.get(&handle) else {
            return;
        };
        let targets: Vec<(u64, u32)> = sub
            .streams
            .iter()
            .filter(|st| st.kind == MediaKind::Video && st.tee_pad.is_some())
            .map(|st| (st.feed_handle, st.publisher_mindex))
            .collect();
        for (fh, m) in targets {
            self.keyframe(fh, m, true);
        }
    }

    async fn event(&mut self, ev: RoomEvent) {
        match ev {
            RoomEvent::IceCandidate {
                handle,
                mline,
                candidate,
            } => {
                let Some(h) = self.handle_of(handle) else {
                    return;
                };
                let candidate = self.ctx.ice.map_candidate(&candidate);
                let c = Candidate {
                    sdp_mid: None,
                    sdp_mline_index: Some(mline),
                    candidate,
                };
                self.notify(h, Notice::LocalCandidate(Some(c)));
            }
            RoomEvent::IceGatheringDone { handle } => {
                if let Some(h) = self.handle_of(handle) {
                    self.notify(h, Notice::LocalCandidate(None));
                }
            }
            RoomEvent::PadAdded { handle, pad, block } => {
                self.publisher_pad(handle, &pad);
                if let Some(b) = block {
                    pad.remove_probe(b);
                }
            }
            RoomEvent::ConnectionState { handle, state } => {
                self.connection_state(handle, state).await
            }
            RoomEvent::RecordingDone { id } => self.recording_done(id),
            RoomEvent::StartRecording { handle } => {
                let Some((filename, waited)) = self.pending_recordings.remove(&handle) else {
                    return;
                };
                // Lip-sync needs a sender report per stream; they come within
                // seconds of the start. Wait for them, a bounded while.
                if self.publisher_sync_offsets(handle).is_none() && waited < SR_WAIT_ROUNDS {
                    self.pending_recordings
                        .insert(handle, (filename, waited + 1));
                    self.post_later(SR_WAIT_STEP, RoomEvent::StartRecording { handle });
                    return;
                }
                self.start_publisher_recording(handle, filename.as_deref());
            }
            RoomEvent::AudioLevel { handle, dbov } => {
                // A moderated (muted) stream does not talk.
                let muted = self
                    .participants
                    .get(&handle)
                    .and_then(|p| p.publication.as_ref())
                    .and_then(|pb| pb.streams.iter().find(|s| s.kind == MediaKind::Audio))
                    .is_some_and(|s| s.moderated.is_some());
                if !muted {
                    self.audio_level(handle, dbov);
                }
            }
            RoomEvent::KeyframeRequest {
                publisher_handle,
                mindex,
                force,
            } => self.keyframe(publisher_handle, mindex, force),
            RoomEvent::RecordingKeyframe { id, after } => self.recording_keyframe(id, after),
            RoomEvent::IngestPad {
                handle,
                pad,
                caps,
                block,
            } => self.ingest_pad(handle, pad, caps, block),
            RoomEvent::IngestNoMorePads { handle } => self.ingest_ready(handle).await,
            RoomEvent::IngestTimeout { handle, attempt } => {
                self.ingest_timeout(handle, attempt).await
            }
            RoomEvent::IngestRetry { handle } => self.ingest_retry(handle),
            RoomEvent::IngestBFrames { handle } => self.ingest_b_frames(handle),
            RoomEvent::EgressRetry { id } => self.egress_retry(id),
            RoomEvent::RtspAttach {
                handle,
                media,
                srcs,
            } => self.rtsp_attach(handle, media, srcs),
            RoomEvent::RtspDetach { media } => self.rtsp_detach(media),
            RoomEvent::EgressKeyframe { id, branch } => self.egress_keyframe(id, branch),
            RoomEvent::EgressCheck { id, failures } => self.egress_check(id, failures),
            RoomEvent::IngestFailed { handle, why } => self.ingest_failed(handle, why).await,
            RoomEvent::MixInputReady { publisher } => {
                if let Some(m) = self.mixer.as_mut()
                    && let Err(e) = m.input_ready(publisher)
                {
                    warn!(handle_id = publisher, error = %e, "cannot add the publisher to the mix");
                }
            }
            RoomEvent::BranchFailed {
                handle: MIX_HANDLE,
                reason,
            } => {
                warn!(%reason, "a mixer input refused media; the publisher keeps forwarding");
            }
            RoomEvent::BranchFailed { handle, reason } => {
                warn!(handle_id = handle, %reason, "subscriber stopped taking media; removing it");
                if let Some(h) = self.subscribers.get(&handle).map(|s| s.h) {
                    self.remove_subscriber(handle);
                    self.notify(
                        h,
                        Notice::Hangup {
                            reason: "Media error",
                        },
                    );
                }
            }
        }
    }

    fn handle_of(&self, handle: u64) -> Option<HandleId> {
        self.subscribers
            .get(&handle)
            .map(|s| s.h)
            .or_else(|| self.participants.get(&handle).map(|p| p.h))
    }

    /// Links a publisher's new RTP pad to its stream's tee (or a discarding
    /// sink when nothing claims it, so it never stays unlinked).
    fn publisher_pad(&mut self, handle: u64, pad: &gst::Pad) {
        let publication = self
            .participants
            .get_mut(&handle)
            .and_then(|p| p.publication.as_mut().map(|pb| (p.h, pb)));
        let Some((h, publication)) = publication else {
            let _ = sfu::link_publisher_pad(&self.pipeline, pad, None);
            return;
        };
        let mline = pad
            .property::<Option<gst_webrtc::WebRTCRTPTransceiver>>("transceiver")
            .map(|t| t.property::<u32>("mlineindex"));
        let stream = mline.and_then(|m| publication.streams.iter_mut().find(|s| s.mindex == m));
        let tee = stream.as_ref().map(|s| s.tee.clone());
        debug!(handle_id = handle, caps = ?pad.current_caps(), "publisher pad");
        if let Err(e) = sfu::link_publisher_pad(&self.pipeline, pad, tee.as_ref()) {
            warn!(handle_id = handle, error = %e, "cannot link publisher pad");
            return;
        }
        if let Some(s) = stream {
            if let Some(ssrc) = pad
                .current_caps()
                .and_then(|c| c.structure(0).and_then(|s| s.get::<u32>("ssrc").ok()))
            {
                if s.ssrc.is_none() {
                    s.ssrc = Some(ssrc);
                }
            }
            if !s.receiving {
                s.receiving = true;
                let (mid, kind) = (s.mid.clone(), s.kind);
                debug!(handle_id = handle, mid = %mid, "receiving");
                self.notify(
                    h,
                    Notice::Media {
                        mid,
                        kind,
                        receiving: true,
                    },
                );
            }
        }
    }

    async fn connection_state(&mut self, handle: u64, state: WebRTCPeerConnectionState) {
        debug!(handle_id = handle, ?state, "connection state");
        match state {
            WebRTCPeerConnectionState::Connected => {
                if let Some(h) = self.handle_of(handle) {
                    self.notify(h, Notice::WebrtcUp);
                }
                if let Some(p) = self
                    .participants
                    .get_mut(&handle)
                    .and_then(|p| p.publication.as_mut())
                {
                    p.connected = true;
                }
                if self.pending_recordings.contains_key(&handle) {
                    self.post_later(RECORD_SETTLE, RoomEvent::StartRecording { handle });
                }
                if let Some(sub) = self.subscribers.get_mut(&handle) {
                    sub.connected = true;
                    self.link_branches(handle);
                    self.keyframes_for_subscriber(handle);
                }
            }
            WebRTCPeerConnectionState::Failed => {
                warn!(handle_id = handle, "PeerConnection failed");
                let h = self.handle_of(handle);
                if self.subscribers.contains_key(&handle) {
                    self.remove_subscriber(handle);
                } else {
                    self.unpublish(handle).await;
                }
                if let Some(h) = h {
                    self.notify(
                        h,
                        Notice::Hangup {
                            reason: "ICE failed",
                        },
                    );
                }
            }
            _ => {}
        }
    }

    /// Maps a failing element to its participant (elements are named
    /// `pub_<handle>`/`sub_<handle>`; their children sit below them) and tears
    /// that participant down. The room itself keeps running.
    fn bus_message(&mut self, msg: &gst::Message) {
        match msg.view() {
            gst::MessageView::Error(err) => {
                let owner = owner_handle(msg.src());
                warn!(error = %err.error(), debug = ?err.debug(), src = ?msg.src().map(|s| s.path_string()), "element error");
                if std::env::var_os("GST_DEBUG_DUMP_DOT_DIR").is_some() {
                    self.pipeline
                        .debug_to_dot_file_with_ts(gst::DebugGraphDetails::all(), "room-error");
                }
                if let Some(handle) = self.ingest_owner(msg.src()) {
                    // A source failed: the ingest retries (see `ingests`).
                    let _ = self.ev_tx.send(RoomEvent::IngestFailed {
                        handle,
                        why: err.error().to_string(),
                    });
                    return;
                }
                if let Some(id) = record::owner(msg.src())
                    && self.is_egress_branch(id)
                {
                    // A restream's server dropped or refused it.
                    self.egress_branch_ended(id, &err.error().to_string());
                    return;
                }
                if let Some(id) = record::owner(msg.src()) {
                    // A recording failed: it ends there (what was written
                    // stays playable); the call goes on.
                    self.publisher_recordings.retain(|_, r| *r != id);
                    if self.mix_recording == Some(id) {
                        self.mix_recording = None;
                    }
                    self.stop_recording(id);
                    return;
                }
                if let Some(handle) = owner {
                    if self.subscribers.contains_key(&handle) {
                        let h = self.subscribers[&handle].h;
                        self.remove_subscriber(handle);
                        self.notify(
                            h,
                            Notice::Hangup {
                                reason: "Media error",
                            },
                        );
                    } else if self.participants.contains_key(&handle) {
                        // Unpublishing awaits renegotiations: do it from the event queue.
                        let _ = self.ev_tx.send(RoomEvent::ConnectionState {
                            handle,
                            state: WebRTCPeerConnectionState::Failed,
                        });
                    }
                }
            }
            gst::MessageView::Element(e) => {
                let handle = msg.src().and_then(|src| {
                    src.name()
                        .strip_prefix(mcu::LEVEL_PREFIX)
                        .and_then(|h| h.parse::<u64>().ok())
                });
                if let (Some(handle), Some(s)) = (handle, e.structure())
                    && s.name() == "level"
                    && let Ok(rms) = s.get::<glib::ValueArray>("rms")
                {
                    // The loudest channel, as dBov.
                    let db = rms
                        .iter()
                        .filter_map(|v| v.get::<f64>().ok())
                        .fold(f64::NEG_INFINITY, f64::max);
                    self.audio_level(handle, talk::dbov_from_rms_db(db));
                }
            }
            gst::MessageView::Latency(_) => {
                let _ = self.pipeline.recalculate_latency();
            }
            gst::MessageView::Warning(w) => {
                debug!(warning = %w.error(), src = ?msg.src().map(|s| s.path_string()), "element warning");
            }
            _ => {}
        }
    }

    /// Tears the room down in an order that cannot deadlock: first every
    /// branch leaves its tee (so no publisher thread pushes into a peer being
    /// stopped), then subscribers, publishers and the pipeline go to NULL on
    /// one blocking thread.
    fn shutdown(&mut self) -> tokio::task::JoinHandle<()> {
        let served: Vec<u64> = self.rtsp_mounts.keys().copied().collect();
        for h in served {
            self.rtsp_unmount(h);
        }
        let handles: Vec<u64> = self
            .participants
            .keys()
            .chain(self.subscribers.keys())
            .copied()
            .collect();
        for h in handles {
            self.forget(h);
        }
        let mut elements = Vec::new();
        if let Some(m) = &self.mixer {
            m.detach_inputs();
        }
        for (_, sub) in self.subscribers.drain() {
            for st in &sub.streams {
                if let Some(pad) = &st.tee_pad {
                    sfu::detach_branch(&st.tee, pad);
                }
            }
            elements.push(sub.peer.webrtcbin.clone());
            elements.extend(sub.streams.iter().map(|st| st.guard.clone()));
        }
        for (h, p) in std::mem::take(&mut self.participants) {
            if let Some(publication) = p.publication {
                elements.extend(publication.peer.iter().map(|p| p.webrtcbin.clone()));
                if !self.ingests.contains_key(&h) {
                    elements.extend(publication.streams.iter().map(|s| s.tee.clone()));
                }
            }
        }
        // Ingests (also those still connecting): blocking probes go before
        // their sources stop (see `ingest`).
        for (_, mut ingest) in self.ingests.drain() {
            elements.extend(ingest.elements());
        }
        for (_, reply) in self.pending_ingests.drain() {
            send_reply(reply, Err(RoomError::Destroyed));
        }
        if let Some(m) = self.mixer.take() {
            elements.extend(m.elements());
        }
        for e in &elements {
            e.set_locked_state(true);
        }
        let pipeline = self.pipeline.clone();
        let work = move || {
            for e in &elements {
                let _ = e.set_state(gst::State::Null);
            }
            let _ = pipeline.set_state(gst::State::Null);
            for e in &elements {
                let _ = pipeline.remove(e);
            }
        };
        tokio::task::spawn_blocking(work)
    }
}

/// The URI of an `extmap-<id>` caps field: a string, or for extmaps with
/// direction or attributes an array `<direction, uri, attributes>`.
fn extmap_uri(value: &glib::SendValue) -> Option<String> {
    if let Ok(uri) = value.get::<String>() {
        return Some(uri);
    }
    let array = value.get::<gst::Array>().ok()?;
    array.get(1).and_then(|v| v.get::<String>().ok())
}

/// Keeps the codec part of an offer's caps for a transceiver's codec
/// preferences: of the header extensions only RFC 6464 audio level (1.22's
/// `webrtcbin` answers an extension only when it is in the preferences), and
/// no Opus `sprop-*` (1.22.0's Opus caps intersection fails on them, leaving
/// the m-line without media; fixed upstream in 1.22.10). Returns the caps
/// and the audio level extension id, if offered.
fn strip_caps(caps: gst::Caps) -> (gst::Caps, Option<u8>) {
    let mut caps = caps;
    let mut level_id = None;
    {
        let caps = caps.make_mut();
        // `caps_from_media` names them application/x-unknown, which never
        // intersects with the offer's application/x-rtp.
        for s in caps.iter_mut() {
            s.set_name("application/x-rtp");
        }
        for s in caps.iter_mut() {
            let drop: Vec<String> = s
                .iter()
                .filter(|(f, v)| {
                    if let Some(id) = f.strip_prefix("extmap-") {
                        if extmap_uri(v).as_deref() == Some(sfu::AUDIO_LEVEL_URI)
                            && let Ok(id) = id.parse::<u8>()
                            && id > 0
                        {
                            level_id = Some(id);
                            return false;
                        }
                        return true;
                    }
                    f.starts_with("a-") || f.starts_with("x-") || f.starts_with("sprop-")
                })
                .map(|(f, _)| f.to_string())
                .collect();
            for f in drop {
                s.remove_field(&f);
            }
        }
    }
    (caps, level_id)
}

fn apply_candidate(peer: &Peer, c: &Candidate) {
    // With max-bundle every m-line shares one transport; an unknown mid maps to 0.
    let mline = c.sdp_mline_index.unwrap_or(0);
    if c.candidate.is_empty() {
        return;
    }
    peer.add_candidate(mline, &c.candidate);
}

fn set_forwarding(st: &mut SubStream, on: bool) {
    let Some(pad) = st.guard.static_pad("src") else {
        return;
    };
    sfu::set_dropping(&pad, &mut st.drop_probe, !on);
}

fn owner_handle(src: Option<&gst::Object>) -> Option<u64> {
    let mut cur = src.cloned();
    while let Some(o) = cur {
        let name = o.name();
        if let Some(rest) = name
            .strip_prefix("pub_")
            .or_else(|| name.strip_prefix("sub_"))
        {
            if let Ok(h) = rest.parse() {
                return Some(h);
            }
        }
        cur = o.parent();
    }
    None
}

/// Counts live room pipelines and `webrtcbin`s among tracked elements.
pub fn alive_counts(alive: &Mutex<Vec<glib::WeakRef<gst::Element>>>) -> (usize, usize) {
    let mut alive = alive.lock().unwrap_or_else(|e| e.into_inner());
    alive.retain(|w| w.upgrade().is_some());
    let pipelines = alive
        .iter()
        .filter_map(|w| w.upgrade())
        .filter(|e| e.is::<gst::Pipeline>())
        .count();
    (pipelines, alive.len() - pipelines)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer_caps(extmap: &str) -> gst::Caps {
        let sdp = format!(
            "v=0\r\no=- 1 0 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n\
             m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\n\
             a=mid:0\r\n{extmap}a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r\n\
             a=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;useinbandfec=1;sprop-stereo=1\r\n"
        );
        let msg = gst_sdp::SDPMessage::parse_buffer(sdp.as_bytes()).unwrap();
        let media = msg.media(0).unwrap();
        let mut caps = media.caps_from_media(111).unwrap();
        media.attributes_to_caps(caps.make_mut()).unwrap();
        caps
    }

    #[test]
    fn codec_preferences_keep_only_the_audio_level_extension() {
        gst::init().unwrap();
        for line in [
            "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n",
            "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level vad=on\r\n",
        ] {
            let (caps, id) = strip_caps(offer_caps(line));
            assert_eq!(id, Some(1), "{line}");
            let s = caps.structure(0).unwrap();
            assert_eq!(s.name(), "application/x-rtp");
            assert!(s.has_field("extmap-1"), "{caps}");
            assert!(!s.has_field("extmap-3"), "{caps}");
            assert!(!s.has_field("sprop-stereo"), "{caps}");
            assert!(!s.fields().any(|f| f.starts_with("a-")), "{caps}");
        }
        let (_, id) = strip_caps(offer_caps(""));
        assert_eq!(id, None);
    }
}

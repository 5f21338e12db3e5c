//! A room: one GStreamer pipeline owned by one tokio task. It knows no
//! plugin and no Janus JSON: [`Command`]s come in with typed `oneshot`
//! replies, [`Notice`]s go out to its participants through the owner's
//! [`Notices`], failures are [`RoomError`]s (see [`api`]).
//!
//! Invariants:
//! - only the room task touches the room's state and changes its graph;
//!   others send [`Command`]s (bounded queue), GStreamer callbacks post
//!   [`RoomEvent`]s and never block or lock room state;
//! - the task never waits on a peer: `webrtcbin` negotiations run in tasks
//!   of their own that touch only their element, and their results come
//!   back as [`RoomEvent`]s; timers are the task's own queue;
//! - a participant's failure (bad SDP, failed ICE, element error) tears down
//!   that participant only; a room's failure never touches another room;
//! - every element a participant adds is retired when it goes, and the
//!   pipeline is set to NULL when the room is destroyed, so no elements,
//!   threads or sockets outlive the room.
//!
//! Every publisher stream (a `webrtcbin` pad, an ingest's payloader) ends
//! in a `tee`; subscribers, recorders, the mixer's decoders, restreams and
//! RTSP clients are branches of it.
//!
//! Where things are:
//! - the task: [`task`] (loop and dispatch), [`teardown`] (unpublish, leave,
//!   kick, shutdown: the cross-feature orders), [`bus`] and [`owners`]
//!   (element errors to their owner), [`negotiation`] (SDP offers and
//!   answers made off the task, continued when their result is posted back);
//! - participants: [`participants`] (join, the `publishers` list),
//!   [`publish`] (offers, publisher pads), [`subscribe`] (subscriptions and
//!   their branches), [`signalling`] (PeerConnections, ICE), [`keyframes`]
//!   (PLI/FIR), [`speech`] (talking, speaker, moderation);
//! - features: [`mixing`] and [`mcu`] (the MCU mix), [`recordings`] and
//!   [`record`] (files), [`egress`] (RTMP restreams), [`ingests`] and
//!   [`ingest`] (RTSP/RTMP/RTP sources), [`rtsp_room`] and [`rtsp`] (RTSP
//!   serving), [`switch`] (streaming `switch` bridges);
//! - GStreamer construction, apart from the logic above: [`graph`] ([`peer`]
//!   `webrtcbin`, `sfu` tees and flow guards, [`mcu`], [`record`],
//!   [`ingest`], [`rtsp`], [`gop`], [`timing`]); pure helpers: [`layout`],
//!   [`talk`].

pub mod api;
pub mod auto_layer;
pub mod command;
pub mod config;
pub mod egress;
pub mod error;
pub mod graph;
pub mod layout;
pub mod talk;

// The room task's components: each file is one concern of `Room`.
mod bus;
mod ingests;
mod keyframes;
mod member_info;
mod mixing;
mod negotiation;
mod owners;
mod participants;
mod publish;
mod rec_files;
mod recordings;
mod republish;
mod resubscribe;
mod rtsp_room;
mod signalling;
mod simulcast;
mod speech;
mod subscribe;
mod switch;
mod task;
mod teardown;

use self::graph::sfu;
pub use self::graph::{gop, ingest, layer_inputs, layers, mcu, peer, record, rtsp, source, timing};
use self::negotiation::{Negotiations, OfferFor, PendingPublish, Waiting};
use self::owners::Owner;
use self::participants::{Layer, Participant, PubStream, Publication};
use self::subscribe::{Subscriber, set_forwarding};

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{FutureExt, StreamExt};
use gst::prelude::*;
use gst_webrtc::WebRTCPeerConnectionState;
use rand::Rng;
use tokio::sync::{mpsc, oneshot};
use tokio_util::time::DelayQueue;
use tracing::{Instrument, debug, info, info_span, warn};

pub use self::api::{
    EgressInfo, EgressSource, EgressState, IngestParams, IngestStatus, JoinParams, Joined,
    LayerRequest, Member, MemberInfo, Notice, Notices, Offered, ParticipantInfo, PublishParams,
    Published, PublishedStream, PublisherInfo, RecordingState, Reply, RoomEdit, RoomInfo,
    SimulcastState, StreamConfig, StreamRequest, SubscribedStream,
};
pub use self::command::{Command, RoomHandle, mix_id};
use self::config::RoomConfig;
pub use self::error::{GraphError, Role, RoomError};
use self::mcu::{MixKey, Mixer, Mode};
use self::peer::{Peer, PeerError, RoomEvent, RoomEvents};
use self::talk::{TalkChange, TalkDetector};
use crate::ids::{HandleId, Id, PeerKey, RecordingId};
use crate::janus::{Candidate, Jsep, SdpType, Trickle};
use crate::media::codec::{Codec, MediaKind};
use crate::media::ice::IceSettings;
use crate::media::sdp;
use crate::media::simulcast as sdp_simulcast;

/// Commands a room queues before senders get "busy".
const COMMAND_QUEUE: usize = 256;
/// The mix's "publisher handle" in keyframe requests and subscriber streams
/// (real handles are random and never 0).
pub(crate) const MIX_HANDLE: PeerKey = PeerKey(0);
/// Mids of the mix's streams, as listed in its `publishers[]` entry.
const MIX_AUDIO_MID: &str = "mix-a";
const MIX_VIDEO_MID: &str = "mix-v";
/// Minimum time between speaker-layout switches, so the layout does not flap.
const SPEAKER_HOLD: Duration = Duration::from_millis(1500);
/// A held recording (see `graph::hold`) checks for the publisher's RTCP
/// sender reports (lip-sync) in steps of this, at most `SR_WAIT_ROUNDS`
/// times (5 s, below `graph::hold::HOLD_TIME`).
const SR_WAIT_STEP: Duration = Duration::from_millis(500);
const SR_WAIT_ROUNDS: u32 = 10;
/// How long an MCU room waits for the start-up encoder probe before it
/// serves commands without a mixer. Below the plugins' 15 s reply timeout,
/// so a command queued meanwhile is still answered in time.
const ENCODER_WAIT: Duration = Duration::from_secs(10);
/// How often a room waiting for the encoder probe looks again.
const ENCODER_POLL: Duration = Duration::from_millis(50);

/// Settings every room shares.
pub struct RoomContext {
    /// ICE settings for every `webrtcbin`.
    pub ice: IceSettings,
    /// Publisher jitter buffer, ms.
    pub jitter_buffer_ms: u32,
    /// Batch each video frame's packets per subscriber (`media.batch_send`).
    pub batch_send: bool,
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
    /// Finished and running recordings (`list_recordings`).
    pub recordings: record::Registry,
    /// Recordings running at once in the process (`[limits] recordings`; 0: no limit).
    pub max_recordings: usize,
    /// Ingest fragments (`pipelines/ingest.toml`).
    pub ingest: ingest::Catalog,
    /// Egress fragments (`pipelines/egress.toml`).
    pub egress: egress::Catalog,
    /// MCU fragments (`pipelines/mcu.toml`).
    pub mcu: mcu::Catalog,
    /// The RTSP server rooms serve their mix and feeds on, if enabled.
    pub rtsp: Option<Arc<rtsp::RtspServer>>,
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
        speech: speech::Speech::default(),
        closing_reply: None,
        recordings: recordings::Recordings::default(),
        ingests: ingests::Ingests::default(),
        egress: egress::Egresses::default(),
        rtsp: rtsp_room::RtspMounts::default(),
        timers: DelayQueue::new(),
        negotiations: Negotiations::default(),
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
    participants: BTreeMap<PeerKey, Participant>,
    /// Subscribers by handle id.
    subscribers: HashMap<PeerKey, Subscriber>,
    /// Candidates that arrived before their PeerConnection could take them.
    pending_candidates: HashMap<PeerKey, Vec<Candidate>>,
    /// The MCU mixer (MCU and hybrid rooms).
    mixer: Option<Mixer>,
    /// When the mix last made a keyframe on request (merged like a publisher's).
    last_mix_keyframe: Option<Instant>,
    /// Talking and speaker switching.
    speech: speech::Speech,
    /// Set by `Shutdown`: answered when the pipeline is down.
    closing_reply: Option<oneshot::Sender<()>>,
    /// Recording files: running, finalizing and due.
    recordings: recordings::Recordings,
    /// RTSP/RTMP/RTP sources as publishers.
    ingests: ingests::Ingests,
    /// RTMP restreams and their branches.
    egress: egress::Egresses,
    /// What the room serves over RTSP.
    rtsp: rtsp_room::RtspMounts,
    /// The room's timers: events due later (retries, keyframe cadences,
    /// deferred recording starts). Owned by the task and dropped with it,
    /// so none outlives the room; they follow tokio's clock, so tests can
    /// run them on paused time.
    timers: DelayQueue<RoomEvent>,
    /// Negotiations running off the task, waiting for their result.
    negotiations: Negotiations,
}

fn send_reply<T>(reply: Reply<T>, r: Result<T, RoomError>) {
    // The requester may have given up (timeout); nothing to do then.
    let _ = reply.send(r);
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

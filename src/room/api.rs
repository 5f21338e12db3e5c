//! What a room takes and gives: the parameters and typed results of
//! [`Command`](super::Command)s, [`Notice`]s out to the room's participants,
//! and [`RoomError`](super::RoomError) when a command fails.
//!
//! Nothing here is a plugin's wire shape. The videoroom plugin turns
//! replies and notices into `{"videoroom": …}` JSON
//! (`plugins/videoroom/reply.rs`); the streaming plugin, whose mountpoints
//! are rooms too, turns the few notices a viewer cares about into
//! `{"streaming": …}` status events (`plugins/streaming/reply.rs`).

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::oneshot;

use super::error::RoomError;
use super::ingest::SourceSpec;
use crate::ids::{EgressId, FeedId, HandleId, RoomId};
use crate::janus::Candidate;
use crate::media::codec::{Codec, MediaKind};

/// The result sent back for a command.
pub type Reply<T> = oneshot::Sender<Result<T, RoomError>>;

/// Where a room's notices go: the plugin that owns the room. Called from
/// the room task, so it must not block.
pub trait Notices: Send + Sync {
    /// Tells handle `to` (a participant or subscriber of `room`) `notice`.
    fn notify(&self, room: &RoomId, to: HandleId, notice: Notice);
}

/// Something a room tells one of its participants or subscribers, unasked.
#[derive(Debug, Clone)]
pub enum Notice {
    /// A participant joined (rooms with `notify_joining`).
    Joining {
        /// Its id.
        id: FeedId,
        /// Its `display`.
        display: Option<String>,
    },
    /// New or changed publications (or the mix).
    Publishers(Vec<PublisherInfo>),
    /// A publisher stopped publishing.
    Unpublished {
        /// Its id.
        id: FeedId,
    },
    /// A participant left (or was kicked, or its ingest was removed).
    Left {
        /// Its id.
        id: FeedId,
        /// Its `display`.
        display: Option<String>,
        /// Why, when it did not leave by itself (`kicked`, `removed`).
        reason: Option<&'static str>,
    },
    /// Another participant was kicked.
    Kicked {
        /// Its id.
        id: FeedId,
    },
    /// The receiver itself was kicked.
    KickedYou,
    /// The room is gone.
    Destroyed,
    /// A participant started or stopped talking (rooms with `audiolevel_event`).
    Talking {
        /// Its id.
        id: FeedId,
        /// The mid of its audio stream.
        mid: Option<String>,
        /// Started (true) or stopped talking.
        talking: bool,
        /// Average level over the detection window, dBov (0 loudest, 127 silent).
        average_dbov: f32,
    },
    /// A publisher stream was muted or unmuted by `moderate`.
    Moderated {
        /// The publisher.
        id: FeedId,
        /// The stream.
        mid: String,
        /// Muted (true) or forwarded again.
        muted: bool,
    },
    /// A subscription changed on the room's side (a feed left): a new offer.
    Renegotiated(Offered),
    /// A subscriber's simulcast stream now relays another layer (Janus:
    /// `{"videoroom":"event","room","mid","substream"[,"temporal"]}`).
    Layer {
        /// The subscriber's mid.
        mid: String,
        /// The layer relayed, 0 = lowest.
        substream: usize,
        /// The highest temporal layer relayed, if limited.
        temporal: Option<u8>,
    },
    /// An ingest's source was lost and is retried.
    IngestRetrying {
        /// The ingest's feed id.
        id: Option<FeedId>,
        /// When the next attempt starts.
        retry_in: Duration,
    },
    /// A restream changed state.
    Egress(EgressInfo),
    /// A recording stopped on an error (the disk is full, say): what was
    /// written stays playable and is listed; the call goes on.
    RecordingFailed {
        /// The publisher recorded; `None` for the mix.
        id: Option<FeedId>,
        /// The file.
        file: String,
        /// The error, as the element reported it.
        reason: String,
        /// Whether the receiver is the publisher recorded (the event
        /// handler is told once, through it).
        yours: bool,
    },
    /// The handle's PeerConnection is up (ICE and DTLS done).
    WebrtcUp,
    /// A publisher stream started or stopped arriving.
    Media {
        /// The stream's mid.
        mid: String,
        /// Audio or video.
        kind: MediaKind,
        /// Arriving (true) or not.
        receiving: bool,
    },
    /// The handle's PeerConnection is gone.
    Hangup {
        /// Why (`Unpublished`, `ICE failed`, `Media error`).
        reason: &'static str,
    },
    /// A local ICE candidate, or `None` when gathering is complete.
    LocalCandidate(Option<Candidate>),
}

/// A handle's place: its room and role. Room tasks keep the shared
/// membership map true; plugins route by it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The room.
    pub room: RoomId,
    /// Subscriber (true) or publisher-role participant (false).
    pub subscriber: bool,
}

/// `join` as publisher.
#[derive(Debug, Clone, Default)]
pub struct JoinParams {
    /// Requested participant id.
    pub id: Option<FeedId>,
    /// `display`.
    pub display: Option<String>,
    /// `metadata`: the client's own JSON, kept and shown as given.
    pub metadata: Option<Value>,
    /// `pin`.
    pub pin: Option<String>,
    /// `token`, checked against the room's `allowed` list.
    pub token: Option<String>,
}

/// `publish`/`configure` for a publisher.
#[derive(Debug, Clone, Default)]
pub struct PublishParams {
    /// New `display`.
    pub display: Option<String>,
    /// New `metadata` (the client's own JSON).
    pub metadata: Option<Value>,
    /// `descriptions[{mid,description}]`.
    pub descriptions: Vec<(String, String)>,
    /// `keyframe: true` asks for a keyframe now.
    pub keyframe: bool,
    /// `record`: start (true) or stop (false) recording this publisher.
    pub record: Option<bool>,
    /// `filename`: base name of the recording (in the room's `rec_dir`).
    pub filename: Option<String>,
    /// `secret`, needed for `record` in rooms with `lock_record`.
    pub secret: Option<String>,
    /// The request is `publish` (not `configure`): an offer is required.
    pub is_publish: bool,
}

/// One `streams[]` entry of a subscription: a feed, and optionally one of its mids.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamRequest {
    /// Publisher id (the mix's id for the mix).
    pub feed: FeedId,
    /// The publisher's mid; `None` means all of its streams.
    pub mid: Option<String>,
    /// Simulcast layer fields, for the simulcast streams among them.
    pub layers: LayerRequest,
}

/// Janus's simulcast fields of a subscription (`substream`, `temporal`,
/// `fallback`; janus_videoroom.c `join`/`configure`/`switch`). Absent fields
/// keep the current choice (on a new subscription: the top layer, every
/// temporal layer, 250 ms).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LayerRequest {
    /// `substream`: 0 is the lowest layer; above the top it is clamped.
    pub substream: Option<u64>,
    /// `temporal`: the highest VP8 temporal layer to relay.
    pub temporal: Option<u64>,
    /// `fallback`: µs (as in Janus) without packets on the relayed layer
    /// before dropping to the next lower one.
    pub fallback_us: Option<u64>,
    /// `substream: "auto"` (an extension): the layer follows the
    /// subscriber's own RTCP ([`crate::room::auto_layer`]). A numeric
    /// `substream` pins the layer instead; a stream nobody pinned is
    /// automatic.
    pub auto: bool,
}

impl LayerRequest {
    /// Whether any field is given.
    pub fn is_empty(&self) -> bool {
        *self == LayerRequest::default()
    }
}

/// Subscriber `configure` of one stream (`streams[{mid, send?, substream?,
/// temporal?, fallback?}]`), or of every stream (`mid: None`: the top-level
/// fields the Janus demo sends).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamConfig {
    /// The subscriber's mid; `None`: all its streams.
    pub mid: Option<String>,
    /// `send`: forward it or not.
    pub send: Option<bool>,
    /// Layer fields (simulcast streams only; ignored for others, as Janus does).
    pub layers: LayerRequest,
}

/// `edit`: the settings to change (`None` keeps one).
#[derive(Debug, Clone, Default)]
pub struct RoomEdit {
    /// `new_description`.
    pub description: Option<String>,
    /// `new_secret`.
    pub secret: Option<String>,
    /// `new_pin` (empty removes the pin).
    pub pin: Option<String>,
    /// `new_is_private`.
    pub is_private: Option<bool>,
    /// `new_require_pvtid`.
    pub require_pvtid: Option<bool>,
    /// `new_bitrate`, bps.
    pub bitrate: Option<u64>,
    /// `new_fir_freq`, s.
    pub fir_freq: Option<u64>,
    /// `new_publishers` (positive).
    pub publishers: Option<u64>,
    /// `new_lock_record`.
    pub lock_record: Option<bool>,
    /// `new_rec_dir`.
    pub rec_dir: Option<String>,
}

/// `add_ingest`: an RTSP/RTMP/RTP source as a publisher.
#[derive(Debug, Clone)]
pub struct IngestParams {
    /// The source.
    pub spec: SourceSpec,
    /// Requested feed id.
    pub id: Option<FeedId>,
    /// `display`.
    pub display: Option<String>,
    /// First back-off after a failure (`rtsp_reconnect_delay`).
    pub reconnect_delay: Option<Duration>,
    /// Keep the last GOP for new viewers (Janus `bufferkf`).
    pub keyframe_cache: bool,
}

/// A publisher as others see it (one `publishers[]` entry).
#[derive(Debug, Clone, PartialEq)]
pub struct PublisherInfo {
    /// Its id (the mix's id for the mix).
    pub id: FeedId,
    /// `display` (`Mix` for the mix).
    pub display: Option<String>,
    /// `metadata`, as its client gave it.
    pub metadata: Option<Value>,
    /// Its streams.
    pub streams: Vec<PublishedStream>,
    /// Talking now.
    pub talking: bool,
}

/// One stream of a publication.
#[derive(Debug, Clone, PartialEq)]
pub struct PublishedStream {
    /// Audio or video.
    pub kind: MediaKind,
    /// m-line index in the publisher's SDP.
    pub mindex: u32,
    /// Its mid.
    pub mid: String,
    /// Its codec.
    pub codec: Codec,
    /// Muted by `moderate`; `None` for the mix's streams (never moderated).
    pub moderated: Option<bool>,
    /// The publisher's `description` of it.
    pub description: Option<String>,
    /// Simulcast layers it sends (`None`: one stream). Janus lists
    /// `"simulcast": true`.
    pub simulcast: Option<usize>,
}

/// `join` as publisher succeeded.
#[derive(Debug, Clone)]
pub struct Joined {
    /// The participant's id.
    pub id: FeedId,
    /// Its `private_id` (ties its subscriptions to it).
    pub private_id: u32,
    /// The room's description.
    pub description: String,
    /// The current publications (the mix included), without its own.
    pub publishers: Vec<PublisherInfo>,
}

/// A publication was negotiated.
#[derive(Debug, Clone)]
pub struct Published {
    /// Its streams.
    pub streams: Vec<PublishedStream>,
    /// The first audio stream's codec.
    pub audio_codec: Option<Codec>,
    /// The first video stream's codec.
    pub video_codec: Option<Codec>,
    /// The SDP answer.
    pub answer: String,
}

/// What a room knows of one member, for the Admin API's `handle_info`.
#[derive(Debug, Clone, Default)]
pub struct MemberInfo {
    /// Its role here; `None` when the handle is not (or no longer) in the room.
    pub role: Option<super::error::Role>,
    /// The participant's id (a subscriber's: none).
    pub id: Option<FeedId>,
    /// `display`.
    pub display: Option<String>,
    /// A publisher's streams (none before it publishes).
    pub published: Vec<PublishedStream>,
    /// A subscriber's m-lines: (its mid, the feed, the feed's mid).
    pub subscribed: Vec<(String, FeedId, String)>,
    /// A subscriber that paused.
    pub paused: bool,
    /// In a mixing room, the simulcast layer the mix decodes of this
    /// publisher (extension: `plugin_specific.mix_substream`).
    pub mix_substream: Option<usize>,
    /// The PeerConnection's state and statistics
    /// (`crate::room::graph::stats`), when asked for and there is one.
    pub webrtc: Option<Value>,
}

/// One entry of `listparticipants`.
#[derive(Debug, Clone)]
pub struct ParticipantInfo {
    /// Its id.
    pub id: FeedId,
    /// `display`.
    pub display: Option<String>,
    /// `metadata`.
    pub metadata: Option<Value>,
    /// Publishing now.
    pub publisher: bool,
    /// Talking now.
    pub talking: bool,
}

/// One m-line of a subscription.
#[derive(Debug, Clone, PartialEq)]
pub struct SubscribedStream {
    /// m-line index in the subscriber's SDP.
    pub mindex: u32,
    /// Its mid.
    pub mid: String,
    /// Audio or video.
    pub kind: MediaKind,
    /// False once the publisher stream is gone.
    pub active: bool,
    /// The publisher.
    pub feed: FeedId,
    /// The publisher's mid.
    pub feed_mid: String,
    /// The publisher's `display`.
    pub feed_display: Option<String>,
    /// Forwarded (`configure` with `send`).
    pub send: bool,
    /// Its codec.
    pub codec: Codec,
    /// For a simulcast stream: the layer relayed, the one asked for, and
    /// the temporal layer (Janus's `simulcast{substream, substream-target,
    /// temporal-layer}`).
    pub simulcast: Option<SimulcastState>,
}

/// Where a subscriber's simulcast stream stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimulcastState {
    /// The layer relayed now (`None` before the first keyframe).
    pub substream: Option<usize>,
    /// The layer asked for (clamped).
    pub target: usize,
    /// The highest temporal layer relayed (`None`: all).
    pub temporal: Option<u8>,
    /// `fallback`, µs.
    pub fallback_us: u64,
}

/// A subscription and the gateway's SDP offer for it (`attached`, `updated`).
#[derive(Debug, Clone)]
pub struct Offered {
    /// Every m-line, in order.
    pub streams: Vec<SubscribedStream>,
    /// The SDP offer.
    pub offer: String,
}

/// A recording that runs: what `record_mix` answers.
#[derive(Debug, Clone)]
pub struct RecordingState {
    /// The file being written.
    pub path: PathBuf,
    /// Start, ms since the Unix epoch.
    pub started_ms: u64,
}

/// What a restream sends.
#[derive(Debug, Clone, PartialEq)]
pub enum EgressSource {
    /// The room's mix.
    Mix,
    /// One feed.
    Feed(FeedId),
}

/// Where a restream is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EgressState {
    /// Its branch is built; the server has not been up for long yet.
    Connecting,
    /// Running without failure for a while.
    Live,
    /// The server dropped or refused it; a new attempt follows.
    Retrying,
    /// `stop_rtmp`, or its feed left.
    Stopped,
}

impl EgressState {
    /// `connecting`, `live`, `retrying`, `stopped`.
    pub fn as_str(self) -> &'static str {
        match self {
            EgressState::Connecting => "connecting",
            EgressState::Live => "live",
            EgressState::Retrying => "retrying",
            EgressState::Stopped => "stopped",
        }
    }
}

/// A restream as reported to clients.
#[derive(Debug, Clone)]
pub struct EgressInfo {
    /// Its id.
    pub id: EgressId,
    /// `rtmp://…`.
    pub url: String,
    /// What it sends.
    pub source: EgressSource,
    /// Where it is.
    pub state: EgressState,
    /// Failures in a row.
    pub failures: u32,
}

/// One stream of an ingest, as reported.
#[derive(Debug, Clone)]
pub struct IngestMediaInfo {
    /// Audio or video.
    pub kind: MediaKind,
    /// The codec served to the room.
    pub codec: Codec,
    /// The codec the source sends (e.g. `h264`, `aac`).
    pub input: String,
    /// Decoded and encoded again.
    pub transcoded: bool,
    /// Since the last packet, ms; `None` before the first.
    pub age_ms: Option<u64>,
}

/// An ingest, as reported.
#[derive(Debug, Clone)]
pub struct IngestInfo {
    /// Its feed id.
    pub id: FeedId,
    /// `display`.
    pub display: Option<String>,
    /// `rtsp`, `rtmp` or `rtp`.
    pub source_type: &'static str,
    /// Its URL (none for RTP).
    pub url: Option<String>,
    /// `connecting`, `playing`, `retrying`.
    pub state: &'static str,
    /// Failures in a row.
    pub failures: u32,
    /// Its streams.
    pub media: Vec<IngestMediaInfo>,
}

/// `list_ingests` and the streaming plugin's `info`.
#[derive(Debug, Clone)]
pub struct IngestStatus {
    /// Every ingest.
    pub ingests: Vec<IngestInfo>,
    /// Every restream.
    pub restreams: Vec<EgressInfo>,
    /// Subscribers.
    pub viewers: usize,
    /// Audio and video encoder elements in the room's graph.
    pub encoders: usize,
}

/// The room as `list` shows it.
#[derive(Debug, Clone)]
pub struct RoomInfo {
    /// Its settings.
    pub config: super::config::RoomConfig,
    /// Participants (publishing or not).
    pub participants: usize,
}

//! [`Command`]: what a plugin asks of a room, each with its typed
//! `oneshot` reply, and [`RoomHandle`], the bounded queue it goes through.

use tokio::sync::{mpsc, oneshot};

use super::api::{
    EgressInfo, EgressSource, IngestParams, IngestStatus, JoinParams, Joined, Offered,
    ParticipantInfo, PublishParams, Published, RecordingState, Reply, RoomEdit, RoomInfo,
    StreamConfig, StreamRequest,
};
use super::error::{Role, RoomError};
use super::layout::Layout;
use crate::ids::{EgressId, FeedId, HandleId, Id, MediaId};
use crate::janus::{Jsep, Trickle};
use crate::media::codec::MediaKind;

/// What a plugin asks of a room.
pub enum Command {
    /// The `list` entry.
    Info {
        /// The answer.
        reply: oneshot::Sender<RoomInfo>,
    },
    /// `edit` (after the `secret` check).
    Edit {
        /// `secret`.
        secret: Option<String>,
        /// The changes.
        edit: RoomEdit,
        /// The answer.
        reply: Reply<()>,
    },
    /// `destroy`: on success the room task ends.
    Destroy {
        /// `secret`.
        secret: Option<String>,
        /// The answer.
        reply: Reply<()>,
    },
    /// `allowed` (after parsing): change the token check or list.
    Allowed {
        /// `secret`.
        secret: Option<String>,
        /// `enable`, `disable`, `add` or `remove`.
        action: super::config::AllowedAction,
        /// `allowed[]`.
        tokens: Vec<String>,
        /// The list after the change (`None` after `disable`).
        reply: Reply<Option<Vec<String>>>,
    },
    /// What the room knows of handle `h` (Admin `handle_info`).
    MemberInfo {
        /// The handle.
        h: HandleId,
        /// Include the PeerConnection's state and statistics.
        webrtc: bool,
        /// The answer.
        reply: oneshot::Sender<super::api::MemberInfo>,
    },
    /// `listparticipants`.
    ListParticipants {
        /// The answer.
        reply: Reply<Vec<ParticipantInfo>>,
    },
    /// `kick`.
    Kick {
        /// `secret`.
        secret: Option<String>,
        /// The participant.
        id: FeedId,
        /// The answer.
        reply: Reply<()>,
    },
    /// `join` as publisher.
    Join {
        /// The handle.
        h: HandleId,
        /// What it asked.
        params: JoinParams,
        /// The answer.
        reply: Reply<Joined>,
    },
    /// `publish` / publisher `configure`: `Some` when an offer was answered.
    Publish {
        /// The handle.
        h: HandleId,
        /// What it asked.
        params: PublishParams,
        /// Its offer, if any.
        jsep: Option<Jsep>,
        /// The answer.
        reply: Reply<Option<Published>>,
    },
    /// `unpublish`.
    Unpublish {
        /// The handle.
        h: HandleId,
        /// The answer.
        reply: Reply<()>,
    },
    /// `leave` (either role); answers the role it left.
    Leave {
        /// The handle.
        h: HandleId,
        /// The answer.
        reply: Reply<Role>,
    },
    /// `join` as subscriber; `private_id` ties it to a participant
    /// (required when the room has `require_pvtid`).
    Subscribe {
        /// The handle.
        h: HandleId,
        /// What to receive.
        streams: Vec<StreamRequest>,
        /// `private_id`.
        private_id: Option<u64>,
        /// The answer.
        reply: Reply<Offered>,
    },
    /// `start` (answer, or resume after `pause`).
    Start {
        /// The handle.
        h: HandleId,
        /// Its answer, if any.
        jsep: Option<Jsep>,
        /// The answer.
        reply: Reply<()>,
    },
    /// `pause`.
    Pause {
        /// The handle.
        h: HandleId,
        /// The answer.
        reply: Reply<()>,
    },
    /// Subscriber `configure` with `streams[{mid,send}]`.
    ConfigureSubscriber {
        /// The handle.
        h: HandleId,
        /// Per stream (or all): `send` and simulcast layer fields.
        streams: Vec<StreamConfig>,
        /// The answer.
        reply: Reply<()>,
    },
    /// Gateway shutdown: tear everything down; reply once the pipeline is NULL.
    Shutdown {
        /// Answered when the pipeline is down.
        reply: oneshot::Sender<()>,
    },
    /// `moderate`: stop (`mute`) or resume forwarding one publisher stream.
    Moderate {
        /// `secret`.
        secret: Option<String>,
        /// The publisher.
        id: FeedId,
        /// Its stream.
        mid: String,
        /// Mute (true) or unmute.
        mute: bool,
        /// The answer.
        reply: Reply<()>,
    },
    /// `enable_recording` (`secret` checked): the room-wide `record` flag.
    EnableRecording {
        /// `secret`.
        secret: Option<String>,
        /// On or off.
        record: bool,
        /// The answer.
        reply: Reply<()>,
    },
    /// `record_mix` (extension; `secret` checked with `lock_record`):
    /// starts (answering the recording) or stops recording the mix.
    RecordMix {
        /// `secret`.
        secret: Option<String>,
        /// Start (true) or stop.
        record: bool,
        /// Base name of the file.
        filename: Option<String>,
        /// The answer.
        reply: Reply<Option<RecordingState>>,
    },
    /// `set_layout` of the mix (`secret` checked).
    SetLayout {
        /// `secret`.
        secret: Option<String>,
        /// The new layout.
        layout: Layout,
        /// The answer.
        reply: Reply<()>,
    },
    /// `update`/`subscribe`/`unsubscribe`: renegotiates.
    Update {
        /// The handle.
        h: HandleId,
        /// Streams to add.
        add: Vec<StreamRequest>,
        /// Streams to drop.
        remove: Vec<StreamRequest>,
        /// Streams to drop named by the subscriber's own mid (`sub_mid`).
        remove_sub_mids: Vec<String>,
        /// The answer.
        reply: Reply<Offered>,
    },
    /// `add_ingest` (extension): answers the feed id once the source's
    /// streams are known.
    AddIngest {
        /// `secret`.
        secret: Option<String>,
        /// The source.
        params: IngestParams,
        /// The answer.
        reply: Reply<FeedId>,
    },
    /// `remove_ingest` (extension).
    RemoveIngest {
        /// `secret`.
        secret: Option<String>,
        /// The ingest's feed id.
        id: FeedId,
        /// The answer.
        reply: Reply<()>,
    },
    /// `start_rtmp` (extension): push the mix or a feed to an RTMP server.
    StartRtmp {
        /// `secret`.
        secret: Option<String>,
        /// `rtmp://…`.
        url: String,
        /// What to send.
        source: EgressSource,
        /// The answer.
        reply: Reply<EgressInfo>,
    },
    /// `stop_rtmp` (extension).
    StopRtmp {
        /// `secret`.
        secret: Option<String>,
        /// The restream.
        id: EgressId,
        /// The answer.
        reply: Reply<EgressInfo>,
    },
    /// Streaming `switch`, the viewer's side: feed subscriber `h`'s streams
    /// from new `appsrc`s (returned by kind) instead of this room's tees.
    Bridge {
        /// The viewer.
        h: HandleId,
        /// The answer.
        reply: Reply<Vec<(MediaKind, gst_app::AppSrc)>>,
    },
    /// Streaming `switch`, the source's side: push feed `feed`'s streams
    /// into `srcs` (another room's `appsrc`s) until `Unexport { media }`.
    Export {
        /// The feed.
        feed: FeedId,
        /// The bridge's id.
        media: MediaId,
        /// Where to push.
        srcs: Vec<(MediaKind, gst_app::AppSrc)>,
        /// The answer.
        reply: Reply<()>,
    },
    /// Ends an `Export`.
    Unexport {
        /// The bridge's id.
        media: MediaId,
    },
    /// Ingests, restreams, subscribers and encoders.
    IngestStatus {
        /// The answer.
        reply: oneshot::Sender<IngestStatus>,
    },
    /// Remote ICE candidates.
    Trickle {
        /// The handle.
        h: HandleId,
        /// The candidates.
        trickle: Trickle,
    },
    /// Close the handle's PeerConnection.
    Hangup {
        /// The handle.
        h: HandleId,
    },
    /// The handle is gone.
    Detach {
        /// The handle.
        h: HandleId,
    },
}

/// A plugin's way to a room task.
#[derive(Clone)]
pub struct RoomHandle {
    pub(super) tx: mpsc::Sender<Command>,
}

impl RoomHandle {
    /// Queues a command; [`RoomError::Busy`] when the queue is full,
    /// [`RoomError::Closing`] when the room is gone.
    pub fn send(&self, cmd: Command) -> Result<(), RoomError> {
        self.tx.try_send(cmd).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => RoomError::Busy,
            mpsc::error::TrySendError::Closed(_) => RoomError::Closing,
        })
    }

    /// Whether the room task still runs.
    pub fn is_alive(&self) -> bool {
        !self.tx.is_closed()
    }
}

/// The mix's feed id: `0`, or `"mix"` with string ids.
pub fn mix_id(string_ids: bool) -> Id {
    if string_ids {
        Id::Str("mix".into())
    } else {
        Id::Num(0)
    }
}

//! Why a room command failed: [`RoomError`].
//!
//! The room knows no plugin's error codes. Each plugin maps these variants
//! onto its own codes in one place (`plugins/videoroom/error.rs`,
//! `plugins/streaming/error.rs`). The texts are the ones clients have
//! always seen (the videoroom's wording), so a plugin that forwards
//! `to_string()` keeps its wire text.

use thiserror::Error;

use super::ingest::IngestError;
use super::peer::PeerError;
use super::record::RecordError;
use crate::ids::Id;

/// A participant's role in a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Joined with `ptype: publisher` (publishing or not).
    Publisher,
    /// A subscriber (viewer).
    Subscriber,
}

impl Role {
    /// `publisher` or `subscriber`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Publisher => "publisher",
            Role::Subscriber => "subscriber",
        }
    }
}

/// Why a room command failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum RoomError {
    /// The handle has not joined this room.
    #[error("Not in a room")]
    NotJoined,
    /// The handle joined already.
    #[error("Already in as a {}", .0.as_str())]
    AlreadyJoined(Role),
    /// An unknown or unpublished feed (or a stream, restream or ingest of it).
    #[error("No such feed ({0})")]
    NoSuchFeed(String),
    /// The room's `publishers` limit is reached.
    #[error("Maximum number of publishers ({0}) already reached")]
    PublishersFull(u64),
    /// A wrong or missing `secret` or `pin`, or a missing `private_id`.
    #[error("Unauthorized ({0})")]
    Unauthorized(&'static str),
    /// `publish` twice.
    #[error("Can't publish, already published")]
    AlreadyPublished,
    /// `unpublish` without a publication.
    #[error("Can't unpublish, not published")]
    NotPublished,
    /// A participant id already taken.
    #[error("User ID {0} already exists")]
    IdExists(Id),
    /// An answer where an offer belongs, or the reverse (the text says which).
    #[error("{0}")]
    WrongSdpType(&'static str),
    /// An SDP the room cannot use.
    #[error("{0}")]
    InvalidSdp(String),
    /// A value the command needs is missing (`jsep`, `streams`).
    #[error("Missing element ({0})")]
    Missing(&'static str),
    /// A value the room cannot take (`field` should be `want`).
    #[error("Invalid element type ({field} should be {want})")]
    Invalid {
        /// The request field.
        field: String,
        /// What it should be.
        want: String,
    },
    /// A mixing request (`set_layout`, `record_mix`) in a room that does not mix.
    #[error("Unknown request '{0} (this room does not mix)'")]
    NotMixing(&'static str),
    /// A subscriber renegotiation while the previous offer waits for its answer.
    #[error("a previous offer is still waiting for its answer")]
    OfferPending,
    /// The room's command queue is full.
    #[error("room is overloaded, try again")]
    Busy,
    /// The room task has ended.
    #[error("room is closing")]
    Closing,
    /// The room went away while the command waited (a pending `add_ingest`).
    #[error("room destroyed")]
    Destroyed,
    /// An ingest was removed before its source showed its streams.
    #[error("ingest removed")]
    IngestRemoved,
    /// `[limits] recordings` recordings are running already.
    #[error("Maximum number of recordings ({0}) already reached")]
    TooManyRecordings(usize),
    /// A `webrtcbin` operation failed.
    #[error(transparent)]
    Peer(#[from] PeerError),
    /// A recording or restream branch could not be built.
    #[error(transparent)]
    Record(#[from] RecordError),
    /// An ingest source failed or could not be built.
    #[error(transparent)]
    Ingest(#[from] IngestError),
    /// Building or changing the room's graph failed.
    #[error("{context}: {source}")]
    Graph {
        /// What was being done.
        context: &'static str,
        /// GStreamer's reason.
        #[source]
        source: GraphError,
    },
}

/// A GStreamer failure while building or changing a graph.
#[derive(Debug, Error)]
pub enum GraphError {
    /// An element could not be made, added or set up.
    #[error(transparent)]
    Element(#[from] glib::BoolError),
    /// A state change failed.
    #[error(transparent)]
    State(#[from] gst::StateChangeError),
    /// Two pads did not link.
    #[error(transparent)]
    Link(#[from] gst::PadLinkError),
    /// Anything else the graph code reports in words (the SFU and MCU
    /// builders, until they get their own error types).
    #[error("{0}")]
    Other(String),
}

impl RoomError {
    /// A graph failure while doing `context`.
    pub fn graph(context: &'static str, source: impl Into<GraphError>) -> Self {
        RoomError::Graph {
            context,
            source: source.into(),
        }
    }

    /// `field` should be `want`.
    pub fn invalid(field: impl Into<String>, want: impl Into<String>) -> Self {
        RoomError::Invalid {
            field: field.into(),
            want: want.into(),
        }
    }
}

impl From<String> for GraphError {
    fn from(s: String) -> Self {
        GraphError::Other(s)
    }
}

impl From<&str> for GraphError {
    fn from(s: &str) -> Self {
        GraphError::Other(s.to_owned())
    }
}

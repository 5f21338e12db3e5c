//! VideoRoom errors and their Janus codes (Janus `janus_videoroom.c`,
//! `JANUS_VIDEOROOM_ERROR_*`). Clients receive them as
//! `{"videoroom":"event","error_code":N,"error":"..."}`; [`VideoRoomError::to_json`]
//! is the one place where that mapping happens.

use serde_json::{Value, json};
use thiserror::Error;

use crate::ids::Id;
use crate::plugins::params::ParamError;
use crate::room::peer::PeerError;
use crate::room::{Role, RoomError};

/// Why a videoroom request failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum VideoRoomError {
    /// 423: unknown `request`.
    #[error("Unknown request '{0}'")]
    InvalidRequest(String),
    /// 424: a participant request on a handle that has not joined.
    #[error("Not in a room")]
    JoinFirst,
    /// 425: `join` on a handle that already joined.
    #[error("Already in as a {0}")]
    AlreadyJoined(&'static str),
    /// 426: unknown room.
    #[error("No such room ({0})")]
    NoSuchRoom(Id),
    /// 427: `create` of an existing room.
    #[error("Room {0} already exists")]
    RoomExists(Id),
    /// 428: unknown or unpublished feed.
    #[error("No such feed ({0})")]
    NoSuchFeed(String),
    /// 429: a required field is missing.
    #[error("Missing element ({0})")]
    MissingElement(String),
    /// 430: a field has the wrong type or value.
    #[error("Invalid element type ({0} should be {1})")]
    InvalidElement(String, String),
    /// 431: an answer where an offer belongs, or the reverse.
    #[error("{0}")]
    InvalidSdpType(String),
    /// 432: the room's `publishers` limit is reached.
    #[error("Maximum number of publishers ({0}) already reached")]
    PublishersFull(u64),
    /// 433: wrong or missing `secret`/`pin`/`admin_key`.
    #[error("Unauthorized ({0})")]
    Unauthorized(&'static str),
    /// 434: `publish` twice.
    #[error("Can't publish, already published")]
    AlreadyPublished,
    /// 435: `unpublish` without a publication.
    #[error("Can't unpublish, not published")]
    NotPublished,
    /// 436: `join` with an `id` already in the room.
    #[error("User ID {0} already exists")]
    IdExists(Id),
    /// 437: an SDP the room cannot use.
    #[error("{0}")]
    InvalidSdp(String),
    /// 499: anything else (GStreamer failures, room task gone).
    #[error("{0}")]
    Unknown(String),
}

impl VideoRoomError {
    /// The numeric code.
    pub fn code(&self) -> u16 {
        use VideoRoomError::*;
        match self {
            InvalidRequest(_) => 423,
            JoinFirst => 424,
            AlreadyJoined(_) => 425,
            NoSuchRoom(_) => 426,
            RoomExists(_) => 427,
            NoSuchFeed(_) => 428,
            MissingElement(_) => 429,
            InvalidElement(..) => 430,
            InvalidSdpType(_) => 431,
            PublishersFull(_) => 432,
            Unauthorized(_) => 433,
            AlreadyPublished => 434,
            NotPublished => 435,
            IdExists(_) => 436,
            InvalidSdp(_) => 437,
            Unknown(_) => 499,
        }
    }

    /// `{"videoroom":"event","error_code":N,"error":"..."}`.
    pub fn to_json(&self) -> Value {
        json!({"videoroom": "event", "error_code": self.code(), "error": self.to_string()})
    }
}

impl crate::plugins::dispatch::RequestError for VideoRoomError {
    fn missing(key: &str) -> Self {
        VideoRoomError::MissingElement(key.into())
    }
    fn invalid(key: &str, want: &str) -> Self {
        VideoRoomError::InvalidElement(key.into(), want.into())
    }
    fn unknown(request: String) -> Self {
        VideoRoomError::InvalidRequest(request)
    }
    fn to_json(&self) -> Value {
        VideoRoomError::to_json(self)
    }
}

impl From<ParamError> for VideoRoomError {
    fn from(e: ParamError) -> Self {
        match e {
            ParamError::Missing(k) => VideoRoomError::MissingElement(k),
            ParamError::Invalid(k, t) => VideoRoomError::InvalidElement(k, t.into()),
        }
    }
}

/// The one place where room failures get videoroom codes.
impl From<RoomError> for VideoRoomError {
    fn from(e: RoomError) -> Self {
        use VideoRoomError as V;
        match e {
            RoomError::NotJoined => V::JoinFirst,
            RoomError::AlreadyJoined(role) => V::AlreadyJoined(match role {
                Role::Publisher => "publisher",
                Role::Subscriber => "subscriber",
            }),
            RoomError::NoSuchFeed(what) => V::NoSuchFeed(what),
            RoomError::PublishersFull(n) => V::PublishersFull(n),
            RoomError::Unauthorized(what) => V::Unauthorized(what),
            RoomError::AlreadyPublished => V::AlreadyPublished,
            RoomError::NotPublished => V::NotPublished,
            RoomError::IdExists(id) => V::IdExists(id),
            RoomError::WrongSdpType(why) => V::InvalidSdpType(why.into()),
            RoomError::InvalidSdp(why) | RoomError::Peer(PeerError::Sdp(why)) => V::InvalidSdp(why),
            RoomError::Missing(key) => V::MissingElement(key.into()),
            RoomError::Invalid { field, want } => V::InvalidElement(field, want),
            RoomError::NotMixing(request) => {
                V::InvalidRequest(format!("{request} (this room does not mix)"))
            }
            other => V::Unknown(other.to_string()),
        }
    }
}

//! Streaming errors and their Janus codes (Janus `janus_streaming.c`,
//! `JANUS_STREAMING_ERROR_*`). Clients receive them as
//! `{"streaming":"event","error_code":N,"error":"..."}`;
//! [`StreamingError::to_json`] is the one place where that mapping happens.

use serde_json::{Value, json};
use thiserror::Error;

use crate::plugins::params::ParamError;
use crate::room::RoomError;
use crate::room::peer::PeerError;

/// Why a streaming request failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StreamingError {
    /// 452: unknown `request`.
    #[error("Unknown request '{0}'")]
    InvalidRequest(String),
    /// 453: a required field is missing.
    #[error("Missing element ({0})")]
    MissingElement(String),
    /// 454: a field has the wrong type or value.
    #[error("Invalid element ({0} should be {1})")]
    InvalidElement(String, String),
    /// 455: unknown mountpoint.
    #[error("No such mountpoint/stream {0}")]
    NoSuchMountpoint(u64),
    /// 456: the mountpoint could not be made (source unreachable, port in use, …).
    #[error("Can't create: {0}")]
    CantCreate(String),
    /// 456: `create` with an id already in use.
    #[error("A stream with the provided ID {0} already exists")]
    Exists(u64),
    /// 457: wrong or missing `secret`/`pin`/`admin_key`.
    #[error("Unauthorized ({0})")]
    Unauthorized(&'static str),
    /// 458: `switch` refused.
    #[error("Can't switch: {0}")]
    CantSwitch(String),
    /// 460: a request that does not fit the handle's state.
    #[error("Invalid state: {0}")]
    InvalidState(String),
    /// 465: bad SDP in `start`.
    #[error("Invalid SDP: {0}")]
    InvalidSdp(String),
    /// 470: anything else.
    #[error("{0}")]
    Unknown(String),
}

impl StreamingError {
    /// The numeric code.
    pub fn code(&self) -> u16 {
        use StreamingError::*;
        match self {
            InvalidRequest(_) => 452,
            MissingElement(_) => 453,
            InvalidElement(..) => 454,
            NoSuchMountpoint(_) => 455,
            CantCreate(_) | Exists(_) => 456,
            Unauthorized(_) => 457,
            CantSwitch(_) => 458,
            InvalidState(_) => 460,
            InvalidSdp(_) => 465,
            Unknown(_) => 470,
        }
    }

    /// `{"streaming":"event","error_code":N,"error":"..."}`.
    pub fn to_json(&self) -> Value {
        json!({"streaming": "event", "error_code": self.code(), "error": self.to_string()})
    }
}

impl crate::plugins::dispatch::RequestError for StreamingError {
    fn missing(key: &str) -> Self {
        StreamingError::MissingElement(key.into())
    }
    fn invalid(key: &str, want: &str) -> Self {
        StreamingError::InvalidElement(key.into(), want.into())
    }
    fn unknown(request: String) -> Self {
        StreamingError::InvalidRequest(request)
    }
    fn to_json(&self) -> Value {
        StreamingError::to_json(self)
    }
}

impl From<ParamError> for StreamingError {
    fn from(e: ParamError) -> Self {
        match e {
            ParamError::Missing(k) => StreamingError::MissingElement(k),
            ParamError::Invalid(k, t) => StreamingError::InvalidElement(k, t.into()),
        }
    }
}

/// The one place where the failures of a mountpoint's room get streaming codes.
impl From<RoomError> for StreamingError {
    fn from(e: RoomError) -> Self {
        match e {
            RoomError::InvalidSdp(s) | RoomError::Peer(PeerError::Sdp(s)) => {
                StreamingError::InvalidSdp(s)
            }
            RoomError::WrongSdpType(s) => StreamingError::InvalidSdp(s.into()),
            RoomError::Missing(k) => StreamingError::MissingElement(k.into()),
            RoomError::Invalid { field, want } => StreamingError::InvalidElement(field, want),
            RoomError::NotJoined => StreamingError::InvalidState("not watching".into()),
            RoomError::AlreadyJoined(_) => StreamingError::InvalidState("already watching".into()),
            other => StreamingError::Unknown(other.to_string()),
        }
    }
}

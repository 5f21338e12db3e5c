//! Janus core error codes and the error type of the core protocol boundary.
//!
//! Codes and reasons follow Janus's `apierror.h` ("JSON API" page of the
//! Janus documentation). Plugin-level errors (videoroom 42x, streaming 45x)
//! travel inside `plugindata` and live with their plugins; this module only
//! covers the `{"janus":"error","error":{"code","reason"}}` replies.

use thiserror::Error;

/// An error of the Janus core protocol, answered as
/// `{"janus":"error","transaction":..,"error":{"code":N,"reason":".."}}`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum JanusError {
    /// 403: bad or missing `apisecret`/`token`.
    #[error("Unauthorized request (wrong or missing secret/token)")]
    Unauthorized,
    /// 405: the request's token may not attach to this plugin. The reason is
    /// the one Janus sends for it (`janus.c`, attach).
    #[error("Provided token can't access plugin '{0}'")]
    UnauthorizedPlugin(String),
    /// 452: the `janus` verb is absent.
    #[error("Missing request")]
    MissingRequest,
    /// 453: an unknown `janus` verb.
    #[error("Unknown request '{0}'")]
    UnknownRequest(String),
    /// 454: the body is not JSON.
    #[error("JSON error: {0}")]
    InvalidJson(String),
    /// 455: the body is JSON but not an object.
    #[error("Invalid JSON Object")]
    InvalidJsonObject,
    /// 456: a required field is missing.
    #[error("Missing mandatory element ({0})")]
    MissingMandatoryElement(&'static str),
    /// 457: a known verb sent at a path (session/handle level) where it does not apply.
    #[error("Unhandled request '{0}' at this path")]
    InvalidRequestPath(String),
    /// 458: unknown session id.
    #[error("No such session {0}")]
    SessionNotFound(u64),
    /// 459: unknown handle id.
    #[error("No such handle {0} in session {1}")]
    HandleNotFound(u64, u64),
    /// 460: `attach` to a plugin this gateway does not have.
    #[error("No such plugin '{0}'")]
    PluginNotFound(String),
    /// 462: the plugin could not take the message.
    #[error("Couldn't send message to plugin: {0}")]
    PluginMessage(String),
    /// 464: JSEP `type` is neither `offer` nor `answer`.
    #[error("JSEP error: unknown message type '{0}'")]
    JsepUnknownType(String),
    /// 465: the JSEP SDP does not parse.
    #[error("JSEP error: invalid SDP ({0})")]
    JsepInvalidSdp(String),
    /// 467: a field has the wrong JSON type.
    #[error("Invalid element type ({0} should be {1})")]
    InvalidElementType(&'static str, &'static str),
    /// 467 with a reason of its own (e.g. "timeout should be a positive integer").
    #[error("{0}")]
    Invalid(String),
    /// 463: the handle could not be detached (Admin `detach_handle`, `hangup_webrtc`).
    #[error("{0}")]
    PluginDetach(String),
    /// 470: an Admin token request names a token that is not stored.
    #[error("Token {0} not found")]
    TokenNotFound(String),
    /// 472: `create` while the Admin API has stopped new sessions (draining).
    #[error("Currently not accepting new sessions")]
    NotAcceptingSessions,
    /// 468: `claim` of a session another transport owns in a way we refuse.
    #[error("Session conflict")]
    SessionConflict,
    /// 450 (Janus's transport-specific error): a message over the transport's size limit.
    #[error("Message too large (at most {0} bytes)")]
    TooLarge(u64),
    /// 490: a configured limit (`[limits]`) was reached.
    #[error("Limit reached: {0}")]
    Limit(String),
    /// 490: anything else.
    #[error("{0}")]
    Unknown(String),
}

impl JanusError {
    /// The numeric Janus error code (Janus `apierror.h`).
    pub fn code(&self) -> u16 {
        match self {
            JanusError::Unauthorized => 403,
            JanusError::UnauthorizedPlugin(_) => 405,
            JanusError::TooLarge(_) => 450,
            JanusError::MissingRequest => 452,
            JanusError::UnknownRequest(_) => 453,
            JanusError::InvalidJson(_) => 454,
            JanusError::InvalidJsonObject => 455,
            JanusError::MissingMandatoryElement(_) => 456,
            JanusError::InvalidRequestPath(_) => 457,
            JanusError::SessionNotFound(_) => 458,
            JanusError::HandleNotFound(..) => 459,
            JanusError::PluginNotFound(_) => 460,
            JanusError::PluginMessage(_) => 462,
            JanusError::JsepUnknownType(_) => 464,
            JanusError::JsepInvalidSdp(_) => 465,
            JanusError::InvalidElementType(..) | JanusError::Invalid(_) => 467,
            JanusError::PluginDetach(_) => 463,
            JanusError::TokenNotFound(_) => 470,
            JanusError::NotAcceptingSessions => 472,
            JanusError::SessionConflict => 468,
            JanusError::Unknown(_) | JanusError::Limit(_) => 490,
        }
    }
}

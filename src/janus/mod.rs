//! The Janus core protocol: wire types ([`wire`]), error codes ([`error`])
//! and the session/handle state machine ([`core`]). Nothing here does I/O;
//! `crate::transport` adapts it to HTTP long-poll and WebSocket.

pub mod admin;
pub mod auth;
pub mod core;
pub mod error;
pub mod wire;

pub use self::core::{
    Core, Delivery, Outcome, PluginCall, PluginDescriptor, PluginOp, PluginReply, Transport,
};
pub use error::JanusError;
pub use wire::{Candidate, Jsep, SdpType, Trickle};

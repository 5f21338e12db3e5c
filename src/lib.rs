//! webrtc-gateway: a WebRTC media gateway on GStreamer that speaks the Janus
//! WebRTC Server API, so janus.js and janode clients work against it unchanged.
//!
//! Layout: [`janus`] (wire types and the session state machine, no I/O),
//! [`transport`] (HTTP long-poll and WebSocket adapters), [`plugins`]
//! (videoroom and streaming), [`room`] (the per-room task and its
//! GStreamer graph), [`media`] (codecs, SDP, ICE), [`server`] (start-up),
//! [`listen`] (the HTTP/WebSocket/Admin listeners, plain and TLS).
//! The test peers and the bench live in the `gateway-testkit` crate
//! (`testkit/`), not here.

pub mod config;
pub mod events;
pub mod gateway;
pub mod ids;
pub mod janus;
pub mod listen;
pub mod media;
pub mod metrics;
pub mod mjr;
pub mod plugins;
pub mod room;
pub mod server;
pub mod transport;

#[cfg(test)]
mod fuzz_props;

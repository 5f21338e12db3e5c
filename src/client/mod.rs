//! A Janus API client ([`janus`]) and GStreamer `webrtcbin` peers ([`peer`])
//! that publish and subscribe through it. The integration tests and the
//! bench use these as real clients, against this gateway or a real Janus.

pub mod janus;
pub mod peer;

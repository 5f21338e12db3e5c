//! The gateway's test kit, kept out of the shipped library: a Janus API
//! client ([`janus`]) and GStreamer `webrtcbin` peers ([`peer`]) that
//! publish and subscribe through it. The integration tests and the bench
//! (`webrtc-gateway-bench`, in this crate) use them as real clients,
//! against the gateway or a real Janus.

pub mod janus;
pub mod peer;

//! The gateway's test kit, kept out of the shipped library: a Janus API
//! client ([`janus`]) and GStreamer `webrtcbin` peers ([`peer`]) that
//! publish and subscribe through it, a live fuzzer ([`fuzz`]) and a churn
//! run ([`churn`]). The
//! integration tests, the bench (`webrtc-gateway-bench`) and the fuzzer
//! (`webrtc-gateway-fuzz`) use them as real clients, against the gateway
//! or a real Janus.

pub mod churn;
pub mod fuzz;
pub mod janus;
pub mod latency;
pub mod loss;
pub mod peer;
pub mod renegotiate;
pub mod simulcast;

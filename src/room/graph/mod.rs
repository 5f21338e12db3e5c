//! GStreamer construction, apart from room logic: each file builds and
//! tears down one kind of branch of a room's pipeline, and reports back to
//! the room task only through [`peer::RoomEvent`]s posted from callbacks.
//!
//! - [`peer`]: one `webrtcbin` (a PeerConnection), and retiring elements;
//! - [`sfu`]: publisher tees, subscriber branches behind flow guards, RFC 6464 levels;
//! - [`mcu`]: the mixer (compositor, per-listener audiomixers), from `pipelines/mcu.toml`;
//! - [`record`], [`timing`] and [`hold`]: recording (and restream) branches, lip-sync from
//!   sender reports, a recording's start held until they come;
//! - [`ingest`], [`source`], [`passthrough`]: RTSP/RTMP/RTP sources as publishers;
//! - [`rtsp`]: the RTSP server and the branches that feed its clients;
//! - [`gop`]: the keyframe cache replayed to new viewers;
//! - [`layers`], [`layer_inputs`]: simulcast: each subscriber's layer selector, and a
//!   publisher stream's layers routed to their tees (and the mix's selector);
//! - [`stats`]: a PeerConnection's state and statistics, for the Admin API.

pub mod batcher;
pub mod feedback;
pub mod gop;
pub mod hold;
pub mod ingest;
pub mod layer_inputs;
pub mod layers;
pub mod mcu;
mod mix_parts;
mod passthrough;
pub mod peer;
pub mod record;
pub mod rtsp;
pub(crate) mod sfu;
pub mod source;
pub mod stats;
pub mod timing;

//! Media facts shared by rooms: codecs, SDP inspection and ICE settings.
//! Later: encoder selection, recording and ingest/egress fragments.

pub mod codec;
pub mod ice;
pub mod sdp;

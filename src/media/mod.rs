//! Media facts shared by rooms: codecs, SDP inspection and ICE settings.
//! Encoder selection ([`encoder`]) serves the MCU mix, recording and egress.

pub mod codec;
pub mod encoder;
pub mod fragments;
pub mod ice;
pub mod sdp;
pub mod simulcast;
pub mod vp8;

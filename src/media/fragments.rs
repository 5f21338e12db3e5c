//! Pipeline fragments as data: every catalog in `pipelines/*.toml` is read
//! by [`load`] (a file) or [`builtin`] (the copy built into the binary), and
//! every fragment becomes elements through [`build`], which puts the chosen
//! H.264 encoder where a fragment says `%ENCODER%`.

use std::path::Path;

use gst::prelude::*;
use serde::de::DeserializeOwned;
use thiserror::Error;

use super::codec::Codec;
use super::encoder::{self, Selected};

/// The placeholder for the chosen H.264 encoder in a fragment.
pub const ENCODER_TOKEN: &str = "%ENCODER%";
/// Bitrate of what a fragment's `%ENCODER%` makes (VP8 → H.264 recordings,
/// transcoded ingests), bps.
const TRANSCODE_BITRATE: u32 = 1_500_000;
/// Keyframe interval of what a fragment's `%ENCODER%` makes, frames.
const TRANSCODE_KEYFRAME_INTERVAL: u32 = 60;

/// Why a catalog or a fragment could not be used.
#[derive(Debug, Error)]
pub enum FragmentError {
    /// The catalog file is unreadable.
    #[error("{what} catalog {path}: {source}")]
    Read {
        /// Which catalog.
        what: &'static str,
        /// Its path.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The catalog file is not a valid catalog.
    #[error("{what} catalog {path}: {source}")]
    Parse {
        /// Which catalog.
        what: &'static str,
        /// Its path.
        path: String,
        /// Why.
        #[source]
        source: toml::de::Error,
    },
    /// The fragment needs an encoder and the start-up probe found none.
    #[error("no working H.264 encoder for {0}")]
    NoEncoder(&'static str),
    /// The fragment is not a valid gst-launch description, or does not link.
    #[error("fragment '{desc}': {reason}")]
    Build {
        /// The fragment.
        desc: String,
        /// GStreamer's reason.
        reason: String,
    },
}

/// Reads catalog `what` from `path`.
pub fn load<T: DeserializeOwned>(what: &'static str, path: &Path) -> Result<T, FragmentError> {
    let text = std::fs::read_to_string(path).map_err(|source| FragmentError::Read {
        what,
        path: path.display().to_string(),
        source,
    })?;
    toml::from_str(&text).map_err(|source| FragmentError::Parse {
        what,
        path: path.display().to_string(),
        source,
    })
}

/// A catalog built into the binary (`include_str!` of a `pipelines/` file).
///
/// # Panics
/// When `text` does not parse: it is part of the source tree, and each
/// built-in catalog has a unit test that parses it.
pub fn builtin<T: DeserializeOwned>(file: &str, text: &str) -> T {
    toml::from_str(text).unwrap_or_else(|e| panic!("built-in {file} does not parse: {e}"))
}

/// Builds fragment `desc` (for a stream of `codec`) as a bin with ghost
/// pads; `%ENCODER%` becomes the chosen H.264 encoder.
pub fn build(
    desc: &str,
    codec: Codec,
    encoder: Option<&Selected>,
) -> Result<gst::Element, FragmentError> {
    let fail = |reason: &dyn std::fmt::Display| FragmentError::Build {
        desc: desc.to_owned(),
        reason: reason.to_string(),
    };
    let Some((before, after)) = desc.split_once(ENCODER_TOKEN) else {
        return gst::parse::bin_from_description(desc, true)
            .map(|b| b.upcast())
            .map_err(|e| fail(&e));
    };
    let spec = encoder.ok_or(FragmentError::NoEncoder(codec.janus_name()))?;
    let enc = encoder::build(
        &spec.spec,
        Codec::H264,
        TRANSCODE_BITRATE,
        TRANSCODE_KEYFRAME_INTERVAL,
    )
    .map_err(|e| fail(&e))?;
    let trim = |s: &str| s.trim().trim_matches('!').trim().to_owned();
    let (before, after) = (trim(before), trim(after));
    let bin = gst::Bin::new();
    let mut chain: Vec<gst::Element> = Vec::new();
    if !before.is_empty() {
        chain.push(
            gst::parse::bin_from_description(&before, true)
                .map_err(|e| fail(&e))?
                .upcast(),
        );
    }
    chain.push(enc);
    if !after.is_empty() {
        chain.push(
            gst::parse::bin_from_description(&after, true)
                .map_err(|e| fail(&e))?
                .upcast(),
        );
    }
    bin.add_many(&chain).map_err(|e| fail(&e))?;
    gst::Element::link_many(&chain).map_err(|e| fail(&e))?;
    // `chain` is non-empty: it holds at least the encoder.
    let first = chain.first().and_then(|e| e.static_pad("sink"));
    let last = chain.last().and_then(|e| e.static_pad("src"));
    let (Some(first), Some(last)) = (first, last) else {
        return Err(fail(&"no sink or src pad"));
    };
    for target in [first, last] {
        let ghost = gst::GhostPad::with_target(&target).map_err(|e| fail(&e))?;
        bin.add_pad(&ghost).map_err(|e| fail(&e))?;
    }
    Ok(bin.upcast())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragments_build_or_say_why() {
        gst::init().unwrap();
        let bin = build("rtpopusdepay ! opusparse", Codec::Opus, None).unwrap();
        assert!(bin.static_pad("sink").is_some() && bin.static_pad("src").is_some());
        assert!(matches!(
            build(
                "rtpvp8depay ! vp8dec ! %ENCODER% ! h264parse",
                Codec::Vp8,
                None
            ),
            Err(FragmentError::NoEncoder("vp8"))
        ));
        assert!(matches!(
            build("nosuchelement", Codec::Opus, None),
            Err(FragmentError::Build { .. })
        ));
    }

    #[test]
    fn a_bad_catalog_file_names_itself() {
        let path = std::env::temp_dir().join(format!("fragments-{}.toml", std::process::id()));
        std::fs::write(&path, "mux = 5").unwrap();
        #[derive(serde::Deserialize, Debug)]
        struct C {
            #[allow(dead_code)]
            mux: String,
        }
        let e = load::<C>("test", &path).unwrap_err();
        assert!(e.to_string().starts_with("test catalog "), "{e}");
        let _ = std::fs::remove_file(&path);
        assert!(matches!(
            load::<C>("test", &path),
            Err(FragmentError::Read { .. })
        ));
    }
}

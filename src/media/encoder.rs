//! Video encoder selection: candidates are data (`pipelines/encoders.toml`),
//! each is probed by really encoding a few frames, and the first that works
//! is used for the process (MCU mixes, transcoded recordings, ingests and
//! restreams).
//!
//! Why a real probe: NVENC and VA register their elements only with a working
//! device, a registry cache can be stale, and some GPUs (H100, H200) have no
//! NVENC at all; an element that exists may still fail at caps time. So each
//! candidate encodes ~10 frames with a timeout before it is trusted.
//!
//! [`select`] is the pure decision (tested with injected probe results);
//! [`probe`] is the real GStreamer check; [`build`] instantiates the choice.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use gst::prelude::*;
use serde::Deserialize;
use serde_json::{Value, json};
use thiserror::Error;

use super::codec::Codec;

/// The encoders chosen at start-up, per codec; empty until probing ends.
pub type Chosen = std::sync::Arc<std::sync::OnceLock<Vec<Selected>>>;

/// Frames a probe encodes.
const PROBE_FRAMES: u32 = 10;
/// How long one probe may take (a hardware encoder's session set-up included).
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Unit of an encoder's bitrate property.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BitrateUnit {
    /// kbit/s.
    Kbps,
    /// bit/s.
    Bps,
}

/// Where an encoder takes its bitrate.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct BitrateProperty {
    /// Property name; empty when the encoder has none.
    pub property: String,
    /// Its unit.
    pub unit: BitrateUnit,
}

/// One candidate encoder, as described in the catalog.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncoderSpec {
    /// GStreamer element factory.
    pub factory: String,
    /// Low-latency settings, as strings parsed by the property's type.
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
    /// Bitrate property and unit.
    pub bitrate: BitrateProperty,
    /// Keyframe-interval property in frames (empty: none).
    #[serde(default)]
    pub keyframe_max: String,
    /// `event` (GstForceKeyUnit) or `property:<name>`.
    pub force_keyframe: String,
    /// Raw caps it is fed.
    pub raw_caps: String,
}

/// The catalog file: candidates per codec, in default order.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    /// H.264 candidates.
    #[serde(default)]
    pub h264: Vec<EncoderSpec>,
    /// VP8 candidates.
    #[serde(default)]
    pub vp8: Vec<EncoderSpec>,
}

/// Errors of encoder selection.
#[derive(Debug, Error)]
pub enum EncoderError {
    /// The catalog could not be read or parsed.
    #[error(transparent)]
    Catalog(#[from] super::fragments::FragmentError),
    /// The configured order names an encoder the catalog does not describe.
    #[error("encoder '{0}' is not in the catalog for {1}")]
    Unknown(String, Codec),
    /// No candidate works; every attempt is listed.
    #[error("no working {codec} encoder (tried: {})", tried.iter().map(|a| format!("{}: {}", a.factory, a.outcome)).collect::<Vec<_>>().join("; "))]
    NoneWorks { codec: Codec, tried: Vec<Attempt> },
    /// Building the element failed.
    #[error("cannot build {0}: {1}")]
    Build(String, String),
}

/// What a probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeOutcome {
    /// The element factory is not registered.
    Missing,
    /// It exists but did not encode (the reason).
    Failed(String),
    /// It encoded the probe frames.
    Works,
}

impl std::fmt::Display for ProbeOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProbeOutcome::Missing => f.write_str("not installed"),
            ProbeOutcome::Failed(r) => write!(f, "failed ({r})"),
            ProbeOutcome::Works => f.write_str("works"),
        }
    }
}

/// One probe result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The factory tried.
    pub factory: String,
    /// What happened.
    pub outcome: ProbeOutcome,
}

/// How the operator overrides the catalog order (`[encoder]` in the config).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Preferences {
    /// Factories in the order to try; empty means catalog order.
    pub order: Vec<String>,
    /// Pin one factory (it must work, nothing else is tried).
    pub force: Option<String>,
}

impl Preferences {
    /// The `[encoder]` config's preferences for `codec`.
    pub fn from_config(cfg: &crate::config::Encoder, codec: Codec) -> Preferences {
        let order = match codec {
            Codec::H264 => cfg.h264.clone(),
            Codec::Vp8 => cfg.vp8.clone(),
            Codec::Opus => Vec::new(),
        };
        Preferences {
            order,
            force: (!cfg.force.is_empty()).then(|| cfg.force.clone()),
        }
    }
}

/// The chosen encoder for a codec, with the attempts that led to it.
#[derive(Debug, Clone)]
pub struct Selected {
    /// The codec.
    pub codec: Codec,
    /// The winning candidate.
    pub spec: EncoderSpec,
    /// Every probe made, in order.
    pub attempts: Vec<Attempt>,
}

impl Selected {
    /// `{"codec","encoder","tried":[{"factory","result"}]}` for `server_info`.
    pub fn to_json(&self) -> Value {
        json!({
            "codec": self.codec.janus_name(),
            "encoder": self.spec.factory,
            "tried": self.attempts.iter().map(|a| json!({"factory": a.factory, "result": a.outcome.to_string()})).collect::<Vec<_>>(),
        })
    }
}

impl Catalog {
    /// Reads a catalog file.
    pub fn load(path: &Path) -> Result<Self, EncoderError> {
        Ok(super::fragments::load("encoder", path)?)
    }

    /// The candidates for `codec`.
    pub fn candidates(&self, codec: Codec) -> &[EncoderSpec] {
        match codec {
            Codec::H264 => &self.h264,
            Codec::Vp8 => &self.vp8,
            Codec::Opus => &[],
        }
    }
}

/// Chooses the encoder for `codec`: candidates in the preferred order (or
/// just the forced one), the first whose `probe` works wins.
pub fn select(
    catalog: &Catalog,
    codec: Codec,
    prefs: &Preferences,
    mut probe: impl FnMut(&EncoderSpec) -> ProbeOutcome,
) -> Result<Selected, EncoderError> {
    let all = catalog.candidates(codec);
    let find = |name: &str| {
        all.iter()
            .find(|s| s.factory == name)
            .ok_or_else(|| EncoderError::Unknown(name.to_owned(), codec))
    };
    let order: Vec<&EncoderSpec> = match (&prefs.force, prefs.order.is_empty()) {
        // A forced factory of another codec does not constrain this one.
        (Some(f), _) if all.iter().any(|s| &s.factory == f) => vec![find(f)?],
        (_, true) => all.iter().collect(),
        (_, false) => prefs
            .order
            .iter()
            .map(|n| find(n))
            .collect::<Result<_, _>>()?,
    };
    let mut attempts = Vec::new();
    for spec in order {
        let outcome = probe(spec);
        let works = outcome == ProbeOutcome::Works;
        attempts.push(Attempt {
            factory: spec.factory.clone(),
            outcome,
        });
        if works {
            return Ok(Selected {
                codec,
                spec: spec.clone(),
                attempts,
            });
        }
    }
    Err(EncoderError::NoneWorks {
        codec,
        tried: attempts,
    })
}

fn set_props(
    el: &gst::Element,
    props: impl IntoIterator<Item = (String, String)>,
) -> Result<(), String> {
    for (k, v) in props {
        if el.find_property(&k).is_none() {
            // Older or newer element versions differ; a missing knob is not fatal.
            tracing::debug!(element = %el.name(), property = %k, "encoder has no such property; skipped");
            continue;
        }
        // Checked above: the property exists. set_property_from_str parses by its type.
        el.set_property_from_str(&k, &v);
    }
    Ok(())
}

/// Instantiates `spec` as a bin `videoconvert ! raw caps ! encoder ! out caps`
/// at `bitrate_bps` with a keyframe every `keyframe_interval` frames. H.264
/// output is constrained baseline byte-stream access units (what browsers
/// decode); VP8 is plain `video/x-vp8`.
pub fn build(
    spec: &EncoderSpec,
    codec: Codec,
    bitrate_bps: u32,
    keyframe_interval: u32,
) -> Result<gst::Element, EncoderError> {
    let berr = |e: &dyn std::fmt::Display| EncoderError::Build(spec.factory.clone(), e.to_string());
    let enc = gst::ElementFactory::make(&spec.factory)
        .build()
        .map_err(|e| berr(&e))?;
    set_props(&enc, spec.properties.clone()).map_err(|e| berr(&e))?;
    if !spec.bitrate.property.is_empty() {
        let value = match spec.bitrate.unit {
            BitrateUnit::Kbps => (bitrate_bps / 1000).max(1),
            BitrateUnit::Bps => bitrate_bps,
        };
        set_props(&enc, [(spec.bitrate.property.clone(), value.to_string())])
            .map_err(|e| berr(&e))?;
    }
    if !spec.keyframe_max.is_empty() {
        set_props(
            &enc,
            [(spec.keyframe_max.clone(), keyframe_interval.to_string())],
        )
        .map_err(|e| berr(&e))?;
    }
    let raw_caps: gst::Caps = spec
        .raw_caps
        .parse()
        .map_err(|e: glib::BoolError| berr(&e))?;
    let out_caps = match codec {
        Codec::H264 => gst::Caps::builder("video/x-h264")
            .field("profile", "constrained-baseline")
            .field("stream-format", "byte-stream")
            .field("alignment", "au")
            .build(),
        _ => gst::Caps::new_empty_simple("video/x-vp8"),
    };
    let bin = gst::Bin::with_name(&format!("enc-{}", spec.factory));
    let convert = gst::ElementFactory::make("videoconvert")
        .build()
        .map_err(|e| berr(&e))?;
    let raw = gst::ElementFactory::make("capsfilter")
        .property("caps", &raw_caps)
        .build()
        .map_err(|e| berr(&e))?;
    let out = gst::ElementFactory::make("capsfilter")
        .property("caps", &out_caps)
        .build()
        .map_err(|e| berr(&e))?;
    bin.add_many([&convert, &raw, &enc, &out])
        .map_err(|e| berr(&e))?;
    gst::Element::link_many([&convert, &raw, &enc, &out]).map_err(|e| berr(&e))?;
    let sink = convert
        .static_pad("sink")
        .ok_or_else(|| berr(&"no sink pad"))?;
    let src = out.static_pad("src").ok_or_else(|| berr(&"no src pad"))?;
    bin.add_pad(&gst::GhostPad::with_target(&sink).map_err(|e| berr(&e))?)
        .map_err(|e| berr(&e))?;
    bin.add_pad(&gst::GhostPad::with_target(&src).map_err(|e| berr(&e))?)
        .map_err(|e| berr(&e))?;
    Ok(bin.upcast())
}

/// Probes `spec` for real: encodes [`PROBE_FRAMES`] frames of 1280x720 test
/// video, within `timeout`. Blocking: run it off the async runtime.
pub fn probe(spec: &EncoderSpec, codec: Codec, timeout: Duration) -> ProbeOutcome {
    if gst::ElementFactory::find(&spec.factory).is_none() {
        return ProbeOutcome::Missing;
    }
    let run = || -> Result<u32, String> {
        let pipeline = gst::Pipeline::new();
        let src = gst::ElementFactory::make("videotestsrc")
            .property("num-buffers", PROBE_FRAMES as i32)
            .build()
            .map_err(|e| e.to_string())?;
        let caps = gst::Caps::builder("video/x-raw")
            .field("width", 1280)
            .field("height", 720)
            .field("framerate", gst::Fraction::new(30, 1))
            .build();
        let filter = gst::ElementFactory::make("capsfilter")
            .property("caps", &caps)
            .build()
            .map_err(|e| e.to_string())?;
        let enc = build(spec, codec, 1_000_000, 30).map_err(|e| e.to_string())?;
        let sink = gst::ElementFactory::make("fakesink")
            .property("sync", false)
            .build()
            .map_err(|e| e.to_string())?;
        pipeline
            .add_many([&src, &filter, &enc, &sink])
            .map_err(|e| e.to_string())?;
        gst::Element::link_many([&src, &filter, &enc, &sink]).map_err(|e| e.to_string())?;
        let encoded = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
        let counter = encoded.clone();
        if let Some(pad) = sink.static_pad("sink") {
            pad.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
                counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                gst::PadProbeReturn::Ok
            });
        }
        let bus = pipeline.bus().ok_or("no bus")?;
        let started = pipeline.set_state(gst::State::Playing);
        let result = match started {
            Err(e) => Err(format!("does not start: {e}")),
            Ok(_) => match bus.timed_pop_filtered(
                gst::ClockTime::from_nseconds(timeout.as_nanos() as u64),
                &[gst::MessageType::Eos, gst::MessageType::Error],
            ) {
                None => Err(format!("no output within {timeout:?}")),
                Some(msg) => match msg.view() {
                    gst::MessageView::Error(e) => Err(e.error().to_string()),
                    _ => Ok(encoded.load(std::sync::atomic::Ordering::Relaxed)),
                },
            },
        };
        if result.is_err() {
            // A stuck encoder (a hung device, or one far too slow) may take
            // as long to stop as it did not to finish: stop it off this
            // thread, so the next candidate is tried at once.
            std::thread::spawn(move || {
                let _ = pipeline.set_state(gst::State::Null);
            });
        } else {
            let _ = pipeline.set_state(gst::State::Null);
        }
        result
    };
    match run() {
        Ok(n) if n > 0 => ProbeOutcome::Works,
        Ok(_) => ProbeOutcome::Failed("produced no frames".into()),
        Err(e) => ProbeOutcome::Failed(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Catalog {
        Catalog::load(Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/pipelines/encoders.toml"
        )))
        .unwrap()
    }

    fn outcome(works: &[&str], missing: &[&str]) -> impl FnMut(&EncoderSpec) -> ProbeOutcome {
        let works: Vec<String> = works.iter().map(|s| s.to_string()).collect();
        let missing: Vec<String> = missing.iter().map(|s| s.to_string()).collect();
        move |s| {
            if works.contains(&s.factory) {
                ProbeOutcome::Works
            } else if missing.contains(&s.factory) {
                ProbeOutcome::Missing
            } else {
                ProbeOutcome::Failed("no device".into())
            }
        }
    }

    #[test]
    fn shipped_catalog_has_the_documented_order() {
        let c = catalog();
        let h264: Vec<&str> = c.h264.iter().map(|s| s.factory.as_str()).collect();
        assert_eq!(
            h264,
            [
                "nvh264enc",
                "nvcudah264enc",
                "vah264enc",
                "vah264lpenc",
                "vaapih264enc",
                "qsvh264enc",
                "v4l2h264enc",
                "x264enc",
                "openh264enc"
            ]
        );
        assert_eq!(c.vp8.last().unwrap().factory, "vp8enc");
    }

    #[test]
    fn first_working_candidate_wins() {
        let c = catalog();
        let s = select(
            &c,
            Codec::H264,
            &Preferences::default(),
            outcome(&["x264enc", "openh264enc"], &["nvh264enc"]),
        )
        .unwrap();
        assert_eq!(s.spec.factory, "x264enc");
        assert_eq!(s.attempts.first().unwrap().outcome, ProbeOutcome::Missing);
        assert_eq!(s.attempts.len(), 8, "every earlier candidate was tried");
        // A GPU machine: NVENC works and wins.
        let s = select(
            &c,
            Codec::H264,
            &Preferences::default(),
            outcome(&["nvh264enc", "x264enc"], &[]),
        )
        .unwrap();
        assert_eq!(
            (s.spec.factory.as_str(), s.attempts.len()),
            ("nvh264enc", 1)
        );
        // An H100: nvcodec present but no NVENC; VA missing: software it is.
        let s = select(
            &c,
            Codec::H264,
            &Preferences::default(),
            outcome(&["x264enc"], &["vah264enc", "vah264lpenc"]),
        )
        .unwrap();
        assert_eq!(s.spec.factory, "x264enc");
    }

    #[test]
    fn order_override_and_force() {
        let c = catalog();
        let prefs = Preferences {
            order: vec!["vah264enc".into(), "x264enc".into()],
            force: None,
        };
        let s = select(
            &c,
            Codec::H264,
            &prefs,
            outcome(&["x264enc", "nvh264enc"], &[]),
        )
        .unwrap();
        assert_eq!((s.spec.factory.as_str(), s.attempts.len()), ("x264enc", 2));
        let forced = Preferences {
            order: vec![],
            force: Some("openh264enc".into()),
        };
        let s = select(
            &c,
            Codec::H264,
            &forced,
            outcome(&["x264enc", "openh264enc"], &[]),
        )
        .unwrap();
        assert_eq!(s.spec.factory, "openh264enc");
        // Forcing an H.264 encoder leaves VP8 selection alone.
        let s = select(&c, Codec::Vp8, &forced, outcome(&["vp8enc"], &[])).unwrap();
        assert_eq!(s.spec.factory, "vp8enc");
        // A forced encoder that fails is an error, not a silent fallback.
        let err = select(&c, Codec::H264, &forced, outcome(&["x264enc"], &[])).unwrap_err();
        assert!(matches!(err, EncoderError::NoneWorks { .. }), "{err}");
        let bad = Preferences {
            order: vec!["nosuchenc".into()],
            force: None,
        };
        assert!(matches!(
            select(&c, Codec::H264, &bad, outcome(&[], &[])),
            Err(EncoderError::Unknown(..))
        ));
    }

    #[test]
    fn nothing_works_lists_every_attempt() {
        let c = catalog();
        let err = select(
            &c,
            Codec::Vp8,
            &Preferences::default(),
            outcome(&[], &["vavp8enc"]),
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("vavp8enc: not installed") && text.contains("vp8enc: failed"),
            "{text}"
        );
    }
}

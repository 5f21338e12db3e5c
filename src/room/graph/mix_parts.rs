//! The parts the MCU mixer (see [`super::mcu`]) is built from: its
//! fragment catalog (`pipelines/mcu.toml`), live aggregators, the pacer,
//! leaky queues, and inputs guarded against a failing mixer.

use std::collections::HashMap;
use std::time::Duration;

use gst::prelude::*;

use super::peer::RoomEvents;
use super::sfu;
use crate::media::codec::Codec;
use crate::media::fragments;

/// The MCU's fragments (`pipelines/mcu.toml`): decode chains per input
/// codec, the audio mix encode, and the mix video payloaders.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Catalog {
    /// Video RTP encoding name (`H264`, `VP8`) → depayload and decode to raw video.
    pub decode: HashMap<String, String>,
    /// The audio chains.
    pub audio: AudioFragments,
    /// Mix video codec (`h264`, `vp8`) → parse and payload.
    pub pay: HashMap<String, String>,
}

/// The audio chains of the MCU.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct AudioFragments {
    /// Opus RTP → the mixes' raw format.
    pub decode: String,
    /// One audio mix → Opus RTP.
    pub encode: String,
}

impl Catalog {
    /// The catalog shipped in `pipelines/mcu.toml`.
    pub fn builtin() -> Catalog {
        fragments::builtin(
            "pipelines/mcu.toml",
            include_str!("../../../pipelines/mcu.toml"),
        )
    }
}

/// Builds fragment `desc` of the MCU (none uses `%ENCODER%`).
pub(super) fn fragment(desc: &str, codec: Codec) -> Result<gst::Element, String> {
    fragments::build(desc, codec, None).map_err(|e| e.to_string())
}

/// Sets payload type `pt` and SSRC `ssrc` on the payloader inside `bin`.
pub(super) fn set_payloader(bin: &gst::Element, pt: u8, ssrc: u32) {
    let Some(bin) = bin.downcast_ref::<gst::Bin>() else {
        return;
    };
    for e in bin.iterate_elements().into_iter().flatten() {
        if e.find_property("pt").is_some() && e.find_property("ssrc").is_some() {
            e.set_property("pt", u32::from(pt));
            e.set_property("ssrc", ssrc);
        }
    }
}

pub(super) fn make(factory: &str) -> Result<gst::Element, String> {
    gst::ElementFactory::make(factory)
        .build()
        .map_err(|_| format!("GStreamer element '{factory}' is missing"))
}

pub(super) fn add_and_link(
    pipeline: &gst::Pipeline,
    chain: &[&gst::Element],
) -> Result<(), String> {
    pipeline
        .add_many(chain.iter().copied())
        .map_err(|e| e.to_string())?;
    gst::Element::link_many(chain.iter().copied()).map_err(|e| e.to_string())?;
    // Downstream first, so no element pushes into one that is not running.
    for e in chain.iter().rev() {
        e.sync_state_with_parent().map_err(|e| e.to_string())?;
    }
    Ok(())
}

pub(super) fn leaky_queue(max_buffers: u32) -> Result<gst::Element, String> {
    let q = make("queue")?;
    q.set_property_from_str("leaky", "downstream");
    q.set_property("max-size-buffers", max_buffers);
    q.set_property("max-size-bytes", 0u32);
    q.set_property("max-size-time", 0u64);
    Ok(q)
}

/// A `compositor`/`audiomixer` in live mode: it produces output at its own
/// rate whether or not inputs are linked, skips pads that never got data,
/// and waits `latency` for late inputs. Output time starts
/// at the first input's timestamp ("zero" makes the audio mixes' timestamps
/// jump back, which `opusenc` refuses). (`force-live` is
/// construct-only, hence the builder.)
pub(super) fn live_aggregator(factory: &str, latency: Duration) -> Result<gst::Element, String> {
    gst::ElementFactory::make(factory)
        .property("force-live", true)
        .property("ignore-inactive-pads", true)
        .property("min-upstream-latency", latency.as_nanos() as u64)
        .property_from_str("start-time-selection", "first")
        .build()
        .map_err(|_| format!("GStreamer element '{factory}' is missing"))
}

/// A `clocksync` that releases each mix frame at its timestamp plus
/// `offset` (the compositor's deadline for late inputs, plus margin).
///
/// A live compositor hands a frame on as soon as every input has one, and
/// only waits (up to its latency) when an input is late, so its output comes
/// in bursts and gaps of up to that latency whenever inputs join or jitter.
/// Paced at the deadline, the mix leaves at a steady `mix_fps`. The pacer
/// answers latency queries itself, so it never learns a different upstream
/// latency mid-call (which made the output jump back once by ~300 ms).
pub(super) fn pacer(offset: Duration) -> Result<gst::Element, String> {
    let pace = gst::ElementFactory::make("clocksync")
        .property("sync", true)
        .property("ts-offset", offset.as_nanos() as i64)
        .build()
        .map_err(|_| "GStreamer element 'clocksync' is missing".to_owned())?;
    let offset = gst::ClockTime::from_nseconds(offset.as_nanos() as u64);
    pace.static_pad("src").ok_or("clocksync src")?.add_probe(
        gst::PadProbeType::QUERY_UPSTREAM,
        move |_, info| {
            if let Some(gst::QueryViewMut::Latency(q)) = info.query_mut().map(|q| q.view_mut()) {
                q.set(true, offset, gst::ClockTime::NONE);
                return gst::PadProbeReturn::Handled;
            }
            gst::PadProbeReturn::Ok
        },
    );
    Ok(pace)
}

/// Puts a flow guard in front of a started decode branch (`first`), so a
/// failing mixer input can never stop the publisher's tee. Returns the guard
/// and the pad to link the tee to.
pub(super) fn guarded_input(
    pipeline: &gst::Pipeline,
    first: &gst::Element,
    events: &RoomEvents,
) -> Result<(gst::Element, gst::Pad), String> {
    let guard = sfu::flow_guard(crate::room::MIX_HANDLE, events);
    pipeline.add(&guard).map_err(|e| e.to_string())?;
    let gsrc = guard.static_pad("src").ok_or("guard src")?;
    gsrc.link(&first.static_pad("sink").ok_or("branch sink")?)
        .map_err(|e| format!("{e:?}"))?;
    guard.sync_state_with_parent().map_err(|e| e.to_string())?;
    let sink = guard.static_pad("sink").ok_or("guard sink")?;
    Ok((guard, sink))
}

/// How a room mixes (`mixing` in `create`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Forward only.
    Sfu,
    /// Only the mix is offered.
    Mcu,
    /// Individual feeds and the mix.
    Hybrid,
}

impl Mode {
    /// Parses `sfu`/`mcu`/`hybrid`.
    pub fn parse(s: &str) -> Option<Mode> {
        match s {
            "sfu" => Some(Mode::Sfu),
            "mcu" => Some(Mode::Mcu),
            "hybrid" => Some(Mode::Hybrid),
            _ => None,
        }
    }

    /// The wire name.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Sfu => "sfu",
            Mode::Mcu => "mcu",
            Mode::Hybrid => "hybrid",
        }
    }
}

/// Mix output settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MixSettings {
    /// Canvas width, px.
    pub width: i32,
    /// Canvas height, px.
    pub height: i32,
    /// Frames per second.
    pub fps: i32,
    /// Video bitrate, bps.
    pub bitrate: u32,
    /// H.264 or VP8.
    pub codec: Codec,
}

impl Default for MixSettings {
    fn default() -> Self {
        MixSettings {
            width: 1280,
            height: 720,
            fps: 30,
            bitrate: 1_500_000,
            codec: Codec::H264,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_catalog_builds_every_fragment() {
        gst::init().unwrap();
        let c = Catalog::builtin();
        for (name, codec) in [("H264", Codec::H264), ("VP8", Codec::Vp8)] {
            fragment(&c.decode[name], codec).unwrap();
        }
        for (name, codec) in [("h264", Codec::H264), ("vp8", Codec::Vp8)] {
            let pay = fragment(&c.pay[name], codec).unwrap();
            set_payloader(&pay, 96, 7);
            let bin = pay.downcast_ref::<gst::Bin>().unwrap();
            let payloader = bin
                .iterate_elements()
                .into_iter()
                .flatten()
                .find(|e| e.find_property("ssrc").is_some())
                .expect("a payloader");
            assert_eq!(payloader.property::<u32>("ssrc"), 7);
            assert_eq!(payloader.property::<u32>("pt"), 96);
        }
        fragment(&c.audio.decode, Codec::Opus).unwrap();
        fragment(&c.audio.encode, Codec::Opus).unwrap();
    }
}

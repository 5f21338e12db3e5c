//! The MCU part of a room graph: every publisher's video is decoded into one
//! `compositor`, encoded once, and fanned out from a tee; every publisher's
//! audio is decoded into per-listener `audiomixer`s (mix-minus: each
//! publishing listener hears everyone but themselves; others hear all).
//!
//! ```text
//! pub tee ─► queue ─► depay ─► dec ─► convert ─► compositor ─► I420 caps ─► enc ─► pay ─► mix video tee ─► subscribers
//! pub tee ─► queue ─► opusdepay ─► opusdec ─► convert ─► decoded tee ─┬─► queue ─► audiomixer(all)  ─► opusenc ─► pay ─► tee
//!                                                                     └─► queue ─► audiomixer(-P)   ─► opusenc ─► pay ─► tee
//! ```
//!
//! The outputs end in tees like a publisher's streams, so subscribers (and
//! later recorders and egress) attach with the same branch code as in SFU
//! mode. The mixers run `force-live`: they produce frames at the mix rate
//! whether or not anyone publishes, so joins and leaves never stall the mix.

use std::collections::HashMap;
use std::time::Duration;

use gst::prelude::*;

use crate::ids::PeerKey;
use rand::Rng;

pub use super::mix_parts::{AudioFragments, Catalog, MixSettings, Mode};
use super::mix_parts::{
    add_and_link, fragment, guarded_input, leaky_queue, live_aggregator, make, pacer, set_payloader,
};
use super::peer::{self, RoomEvents};
use super::sfu;
use crate::media::codec::{Codec, MediaKind};
use crate::media::encoder::{self, Selected};
use crate::room::layout::{self, Layout};

/// The least latency the mixers wait for late inputs. Inputs added later
/// with more latency would otherwise arrive late and be dropped.
const MIN_MIXER_LATENCY: Duration = Duration::from_millis(300);
/// What decoding (and its thread hand-over) adds to a publisher's jitter
/// buffer before a frame reaches a mixer.
const DECODE_LATENCY: Duration = Duration::from_millis(200);
/// Slack between the compositor's deadline and the paced output.
const PACE_MARGIN: Duration = Duration::from_millis(30);
/// How much raw mix video may wait for the encoder: more than the pipeline
/// latency (see [`Mixer::new`]).
const ENCODER_QUEUE: Duration = Duration::from_millis(1000);
/// Keyframe interval of the mix, in frames (also answered on request).
const MIX_KEYFRAME_INTERVAL: u32 = 120;
/// One level measurement per RTP-packet-sized interval.
const LEVEL_INTERVAL: Duration = Duration::from_millis(20);
/// Payload types of the mix outputs (the gateway makes every offer).
const MIX_VIDEO_PT: u8 = 96;
const MIX_AUDIO_PT: u8 = 111;

/// Whose audio mix a listener gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MixKey {
    /// Everyone (viewers who do not publish).
    All,
    /// Everyone but this publisher (by handle): mix-minus.
    Minus(PeerKey),
}

struct VideoInput {
    publisher: PeerKey,
    key: String,
    tee: gst::Element,
    /// The tee pad; `None` for a simulcast publisher, fed by `layers`.
    tee_pad: Option<gst::Pad>,
    /// A simulcast publisher's layer selector (see [`super::layers`]).
    layers: Option<super::layer_inputs::MixLayers>,
    elements: Vec<gst::Element>,
    /// The decoder output, held by `ready_block` until its first frame.
    convert: gst::Element,
    ready_block: Option<gst::PadProbeId>,
    /// The compositor pad, once the input has a first frame.
    comp_pad: Option<gst::Pad>,
    muted: bool,
}

impl VideoInput {
    /// Unlinks the input from its publisher's tee(s).
    fn detach(&self) {
        if let Some(pad) = &self.tee_pad {
            self.tee.release_request_pad(pad);
        }
        if let Some(l) = &self.layers {
            l.detach();
        }
    }
}

struct AudioInput {
    tee: gst::Element,
    tee_pad: gst::Pad,
    elements: Vec<gst::Element>,
    /// Decoded audio, fanned out to the mixes.
    decoded: gst::Element,
    muted: bool,
}

struct AudioMix {
    mixer: gst::Element,
    elements: Vec<gst::Element>,
    out: gst::Element,
    ssrc: u32,
    /// publisher handle → (decoded tee pad, queue, mixer sink pad)
    inputs: HashMap<PeerKey, (gst::Pad, gst::Element, gst::Pad)>,
}

/// A room's mixer.
pub struct Mixer {
    /// How long the mixers wait for late inputs.
    latency: Duration,
    settings: MixSettings,
    layout: Layout,
    speaker: Option<String>,
    compositor: gst::Element,
    video_out: gst::Element,
    video_ssrc: u32,
    video_elements: Vec<gst::Element>,
    video_inputs: Vec<VideoInput>,
    audio_inputs: HashMap<PeerKey, AudioInput>,
    mixes: HashMap<MixKey, AudioMix>,
    /// The fragments inputs and mixes are built from.
    catalog: Catalog,
}

impl Mixer {
    /// Builds the video mix (compositor → encoder → payloader → tee) with
    /// `encoder`, and the full audio mix. `jitter_buffer` is the publishers'
    /// jitter buffer latency: the mixers wait that plus decoding for inputs.
    pub fn new(
        pipeline: &gst::Pipeline,
        settings: MixSettings,
        layout: Layout,
        encoder: &Selected,
        jitter_buffer: Duration,
        catalog: &Catalog,
    ) -> Result<Mixer, String> {
        let latency = MIN_MIXER_LATENCY.max(jitter_buffer + DECODE_LATENCY);
        let frame = Duration::from_nanos(1_000_000_000 / settings.fps.max(1) as u64);
        let compositor = live_aggregator("compositor", latency)?;
        compositor.set_property_from_str("background", "black");
        // Pinned I420: left free, compositor picks a 64-bit RGBA format and
        // costs about twice the CPU.
        let caps = gst::Caps::builder("video/x-raw")
            .field("format", "I420")
            .field("width", settings.width)
            .field("height", settings.height)
            .field("framerate", gst::Fraction::new(settings.fps, 1))
            .build();
        let filter = gst::ElementFactory::make("capsfilter")
            .property("caps", &caps)
            .build()
            .map_err(|e| e.to_string())?;
        // The encoder's own thread. It must hold more than the pipeline
        // latency: the compositor hands frames over as soon as its inputs
        // have them, and a clock-synchronised sink downstream holds each one
        // until its time, so a 3-frame queue dropped 7 of 8 frames (the mix
        // ran at 3.75 fps). Leaky by time, so a slow encoder drops frames
        // instead of stalling the compositor.
        let queue = make("queue")?;
        queue.set_property_from_str("leaky", "downstream");
        queue.set_property("max-size-buffers", 0u32);
        queue.set_property("max-size-bytes", 0u32);
        queue.set_property("max-size-time", ENCODER_QUEUE.as_nanos() as u64);
        let enc = encoder::build(
            &encoder.spec,
            settings.codec,
            settings.bitrate,
            MIX_KEYFRAME_INTERVAL,
        )
        .map_err(|e| e.to_string())?;
        let video_ssrc = rand::rng().random::<u32>();
        let pace = pacer(latency + frame + PACE_MARGIN)?;
        let mut chain = vec![compositor.clone(), filter, queue, pace, enc];
        let pay_desc = catalog
            .pay
            .get(settings.codec.janus_name())
            .ok_or_else(|| format!("pipelines/mcu.toml has no payloader for {}", settings.codec))?;
        let pay = fragment(pay_desc, settings.codec)?;
        set_payloader(&pay, MIX_VIDEO_PT, video_ssrc);
        chain.push(pay);
        let video_out = sfu::make_tee_unstarted("mix_video_out")?;
        chain.push(video_out.clone());
        let refs: Vec<&gst::Element> = chain.iter().collect();
        add_and_link(pipeline, &refs)?;
        let mut mixer = Mixer {
            latency,
            settings,
            layout,
            speaker: None,
            compositor,
            video_out,
            video_ssrc,
            video_elements: chain,
            video_inputs: Vec::new(),
            audio_inputs: HashMap::new(),
            mixes: HashMap::new(),
            catalog: catalog.clone(),
        };
        mixer.ensure_mix(pipeline, MixKey::All)?;
        Ok(mixer)
    }

    /// Codec, payload type and SSRC of the mix video.
    pub fn video_format(&self) -> (Codec, u8, u32) {
        (self.settings.codec, MIX_VIDEO_PT, self.video_ssrc)
    }

    /// The tee carrying the encoded mix video.
    pub fn video_tee(&self) -> &gst::Element {
        &self.video_out
    }

    /// The current layout.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Mix settings.
    pub fn settings(&self) -> &MixSettings {
        &self.settings
    }

    /// The audio mix for `key` (created on first use): its tee and SSRC.
    pub fn audio_tee(
        &mut self,
        pipeline: &gst::Pipeline,
        key: MixKey,
    ) -> Result<(gst::Element, u32), String> {
        self.ensure_mix(pipeline, key)?;
        let m = &self.mixes[&key];
        Ok((m.out.clone(), m.ssrc))
    }

    /// Codec and payload type of the audio mixes.
    pub fn audio_format(&self) -> (Codec, u8) {
        (Codec::Opus, MIX_AUDIO_PT)
    }

    fn ensure_mix(&mut self, pipeline: &gst::Pipeline, key: MixKey) -> Result<(), String> {
        if self.mixes.contains_key(&key) {
            return Ok(());
        }
        let name = match key {
            MixKey::All => "all".to_owned(),
            MixKey::Minus(h) => format!("minus_{h}"),
        };
        let mixer = live_aggregator("audiomixer", self.latency)?;
        let encode = fragment(&self.catalog.audio.encode, Codec::Opus)?;
        let ssrc = rand::rng().random::<u32>();
        set_payloader(&encode, MIX_AUDIO_PT, ssrc);
        let out = sfu::make_tee_unstarted(&format!("mix_audio_{name}"))?;
        let chain = [mixer.clone(), encode, out.clone()];
        let refs: Vec<&gst::Element> = chain.iter().collect();
        add_and_link(pipeline, &refs)?;
        let mut mix = AudioMix {
            mixer,
            elements: chain.to_vec(),
            out,
            ssrc,
            inputs: HashMap::new(),
        };
        for (publisher, input) in &self.audio_inputs {
            if key != MixKey::Minus(*publisher) && !input.muted {
                Self::connect_mix_input(pipeline, &mut mix, *publisher, &input.decoded)?;
            }
        }
        self.mixes.insert(key, mix);
        Ok(())
    }

    fn connect_mix_input(
        pipeline: &gst::Pipeline,
        mix: &mut AudioMix,
        publisher: PeerKey,
        decoded: &gst::Element,
    ) -> Result<(), String> {
        let queue = leaky_queue(20)?;
        pipeline.add(&queue).map_err(|e| e.to_string())?;
        let sink = mix
            .mixer
            .request_pad_simple("sink_%u")
            .ok_or("audiomixer refused a pad")?;
        queue
            .static_pad("src")
            .ok_or("queue src")?
            .link(&sink)
            .map_err(|e| format!("{e:?}"))?;
        queue.sync_state_with_parent().map_err(|e| e.to_string())?;
        let tee_pad = decoded
            .request_pad_simple("src_%u")
            .ok_or("decoded tee refused a pad")?;
        tee_pad
            .link(&queue.static_pad("sink").ok_or("queue sink")?)
            .map_err(|e| format!("{e:?}"))?;
        mix.inputs.insert(publisher, (tee_pad, queue, sink));
        Ok(())
    }

    fn disconnect_mix_input(
        pipeline: &gst::Pipeline,
        mix: &mut AudioMix,
        decoded: Option<&gst::Element>,
        publisher: PeerKey,
    ) {
        if let Some((tee_pad, queue, sink)) = mix.inputs.remove(&publisher) {
            if let Some(d) = decoded {
                d.release_request_pad(&tee_pad);
            } else if let Some(parent) = tee_pad.parent_element() {
                parent.release_request_pad(&tee_pad);
            }
            peer::retire(pipeline, vec![queue]);
            mix.mixer.release_request_pad(&sink);
        }
    }

    /// Adds a publisher's streams to the mix: `video`/`audio` are its
    /// stream tees with their codecs and m-line indexes.
    pub fn add_publisher(
        &mut self,
        pipeline: &gst::Pipeline,
        publisher: PeerKey,
        key: String,
        streams: &[(MediaKind, Codec, u32, gst::Element)],
        video_layers: &[gst::Element],
        events: &RoomEvents,
    ) -> Result<(), String> {
        // A kind already mixed stays as it is (a renegotiation rebuilds
        // only the kind whose stream changed).
        let has_video = self.video_inputs.iter().any(|v| v.publisher == publisher);
        if let Some((_, codec, mindex, tee)) = streams
            .iter()
            .find(|s| s.0 == MediaKind::Video)
            .filter(|_| !has_video)
        {
            let queue = leaky_queue(400)?;
            let decode_desc = self
                .catalog
                .decode
                .get(codec.encoding_name())
                .ok_or_else(|| format!("pipelines/mcu.toml has no decoder for {codec}"))?;
            let convert = fragment(decode_desc, *codec)?;
            let chain = [queue.clone(), convert.clone()];
            let refs: Vec<&gst::Element> = chain.iter().collect();
            pipeline
                .add_many(refs.iter().copied())
                .map_err(|e| e.to_string())?;
            gst::Element::link_many(refs.iter().copied()).map_err(|e| e.to_string())?;
            // The compositor pad is requested only when the first frame is
            // decoded: a linked pad without data makes the live compositor
            // wait once for it (up to its latency), which stalls the mix.
            let convert_src = convert.static_pad("src").ok_or("convert src")?;
            let (tx, posted) = (events.clone(), std::sync::atomic::AtomicBool::new(false));
            let ready_block = convert_src.add_probe(
                gst::PadProbeType::BLOCK | gst::PadProbeType::BUFFER,
                move |_, _| {
                    if !posted.swap(true, std::sync::atomic::Ordering::Relaxed) {
                        let _ = tx.send(super::peer::RoomEvent::MixInputReady { publisher });
                    }
                    gst::PadProbeReturn::Ok
                },
            );
            for e in chain.iter().rev() {
                e.sync_state_with_parent().map_err(|e| e.to_string())?;
            }
            let (guard, sink) = guarded_input(pipeline, &queue, events)?;
            let mut elements = vec![guard];
            let (tee_pad, layers) = if video_layers.len() >= 2 {
                // Simulcast: start at the layer for a tile of the grid this
                // publisher joins; `relayout` refits it.
                let cols = ((self.video_inputs.len() + 1) as f64)
                    .sqrt()
                    .ceil()
                    .max(1.0) as u32;
                let mix_width = self.settings.width.max(1) as u32;
                let substream =
                    super::layer_inputs::fit_layer(video_layers.len(), mix_width, mix_width / cols);
                let ids = super::layers::SelectorIds {
                    subscriber: publisher,
                    mline: u32::MAX,
                    publisher,
                    publisher_mindex: *mindex,
                };
                let l = super::layer_inputs::MixLayers::attach(
                    pipeline,
                    video_layers,
                    &sink,
                    &convert_src,
                    *codec,
                    substream,
                    ids,
                    events,
                )?;
                elements.push(l.element().clone());
                (None, Some(l))
            } else {
                let pad = sfu::attach_to_tee(tee, &sink, Some((publisher, *mindex)), None, events)?;
                (Some(pad), None)
            };
            elements.extend(chain.iter().cloned());
            self.video_inputs.push(VideoInput {
                publisher,
                key: key.clone(),
                tee: tee.clone(),
                tee_pad,
                layers,
                elements,
                convert: convert.clone(),
                ready_block,
                comp_pad: None,
                muted: false,
            });
        }
        if let Some((_, _, _, tee)) = streams
            .iter()
            .find(|s| s.0 == MediaKind::Audio)
            .filter(|_| !self.audio_inputs.contains_key(&publisher))
        {
            let queue = leaky_queue(50)?;
            let decode = fragment(&self.catalog.audio.decode, Codec::Opus)?;
            // Talking detection from the decoded audio: one `level` message
            // per 20 ms (a "packet" in Janus's audio_active_packets terms),
            // read by the room task from the bus.
            let level = gst::ElementFactory::make("level")
                .name(crate::room::owners::Owner::Level(publisher).name(""))
                .property("interval", LEVEL_INTERVAL.as_nanos() as u64)
                .property("post-messages", true)
                .build()
                .map_err(|_| "GStreamer element 'level' is missing".to_owned())?;
            let decoded = sfu::make_tee_unstarted(&format!("decoded_audio_{publisher}"))?;
            let chain = [queue.clone(), decode, level, decoded.clone()];
            let refs: Vec<&gst::Element> = chain.iter().collect();
            add_and_link(pipeline, &refs)?;
            let (guard, sink) = guarded_input(pipeline, &queue, events)?;
            let tee_pad = sfu::attach_to_tee(tee, &sink, None, None, events)?;
            let mut chain = chain.to_vec();
            chain.insert(0, guard);
            for (mkey, mix) in self.mixes.iter_mut() {
                if *mkey != MixKey::Minus(publisher) {
                    Self::connect_mix_input(pipeline, mix, publisher, &decoded)?;
                }
            }
            self.audio_inputs.insert(
                publisher,
                AudioInput {
                    tee: tee.clone(),
                    tee_pad,
                    elements: chain,
                    decoded,
                    muted: false,
                },
            );
        }
        Ok(())
    }

    /// A publisher's first decoded frame is waiting: give it a compositor
    /// pad, place it, and let it through.
    pub fn input_ready(&mut self, publisher: PeerKey) -> Result<(), String> {
        let Some(v) = self
            .video_inputs
            .iter_mut()
            .find(|v| v.publisher == publisher && v.comp_pad.is_none())
        else {
            return Ok(());
        };
        let comp_pad = self
            .compositor
            .request_pad_simple("sink_%u")
            .ok_or("compositor refused a pad")?;
        if comp_pad.find_property("sizing-policy").is_some() {
            comp_pad.set_property_from_str("sizing-policy", "keep-aspect-ratio");
        }
        let src = v.convert.static_pad("src").ok_or("convert src")?;
        src.link(&comp_pad).map_err(|e| format!("{e:?}"))?;
        v.comp_pad = Some(comp_pad);
        let block = v.ready_block.take();
        self.relayout();
        if let Some(block) = block {
            src.remove_probe(block);
        }
        Ok(())
    }

    /// Takes a publisher out of the mix (unpublish or leave). Its mix-minus
    /// stays: the participant may still listen.
    pub fn remove_publisher(&mut self, pipeline: &gst::Pipeline, publisher: PeerKey) {
        self.remove_publisher_video(pipeline, publisher);
        self.remove_publisher_audio(pipeline, publisher);
    }

    /// Takes a publisher's video out of the mix (its tile goes).
    pub fn remove_publisher_video(&mut self, pipeline: &gst::Pipeline, publisher: PeerKey) {
        if let Some(i) = self
            .video_inputs
            .iter()
            .position(|v| v.publisher == publisher)
        {
            let v = self.video_inputs.remove(i);
            // The compositor pad goes first: a pad that stops receiving makes
            // the live compositor wait for it (up to its latency) and the mix
            // stalls. The branch's push then fails into its flow guard.
            if let Some(pad) = &v.comp_pad {
                self.compositor.release_request_pad(pad);
            }
            self.relayout();
            v.detach();
            let mut elements = v.elements;
            elements.reverse();
            peer::retire(pipeline, elements);
        }
    }

    /// Takes a publisher's audio out of every mix.
    pub fn remove_publisher_audio(&mut self, pipeline: &gst::Pipeline, publisher: PeerKey) {
        if let Some(a) = self.audio_inputs.remove(&publisher) {
            for mix in self.mixes.values_mut() {
                Self::disconnect_mix_input(pipeline, mix, Some(&a.decoded), publisher);
            }
            a.tee.release_request_pad(&a.tee_pad);
            peer::retire(pipeline, a.elements);
        }
    }

    /// Drops the mix-minus of a participant who left (its listener went with it).
    pub fn drop_listener_mix(&mut self, pipeline: &gst::Pipeline, participant: PeerKey) {
        if let Some(mut mix) = self.mixes.remove(&MixKey::Minus(participant)) {
            let inputs: Vec<PeerKey> = mix.inputs.keys().copied().collect();
            for p in inputs {
                let decoded = self.audio_inputs.get(&p).map(|a| a.decoded.clone());
                Self::disconnect_mix_input(pipeline, &mut mix, decoded.as_ref(), p);
            }
            peer::retire(pipeline, mix.elements);
        }
    }

    /// Moderation: hides a publisher's video or silences its audio in every
    /// mix (`mute`), or brings it back.
    pub fn set_muted(
        &mut self,
        pipeline: &gst::Pipeline,
        publisher: PeerKey,
        kind: MediaKind,
        mute: bool,
    ) -> Result<(), String> {
        match kind {
            MediaKind::Video => {
                if let Some(v) = self
                    .video_inputs
                    .iter_mut()
                    .find(|v| v.publisher == publisher)
                {
                    v.muted = mute;
                }
                self.relayout();
            }
            MediaKind::Audio => {
                let Some(a) = self.audio_inputs.get_mut(&publisher) else {
                    return Ok(());
                };
                if a.muted == mute {
                    return Ok(());
                }
                a.muted = mute;
                let decoded = a.decoded.clone();
                for (key, mix) in self.mixes.iter_mut() {
                    if *key == MixKey::Minus(publisher) {
                        continue;
                    }
                    if mute {
                        Self::disconnect_mix_input(pipeline, mix, Some(&decoded), publisher);
                    } else {
                        Self::connect_mix_input(pipeline, mix, publisher, &decoded)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Changes the layout and applies it.
    pub fn set_layout(&mut self, layout: Layout) {
        self.layout = layout;
        self.relayout();
    }

    /// Sets the current talker (for the speaker layout).
    pub fn set_speaker(&mut self, key: Option<String>) {
        if self.speaker != key {
            self.speaker = key;
            if self.layout == Layout::Speaker {
                self.relayout();
            }
        }
    }

    /// Puts every visible input where the layout says. Pad properties only:
    /// the compositor keeps producing frames throughout.
    fn relayout(&mut self) {
        let visible: Vec<&VideoInput> = self
            .video_inputs
            .iter()
            .filter(|v| !v.muted && v.comp_pad.is_some())
            .collect();
        let keys: Vec<String> = visible.iter().map(|v| v.key.clone()).collect();
        let rects = layout::place(
            &self.layout,
            &keys,
            self.speaker.as_deref(),
            self.settings.width,
            self.settings.height,
        );
        for (v, r) in visible.iter().zip(rects) {
            let Some(pad) = &v.comp_pad else { continue };
            pad.set_property("xpos", r.x);
            pad.set_property("ypos", r.y);
            pad.set_property("width", r.w);
            pad.set_property("height", r.h);
            pad.set_property("zorder", r.z);
            pad.set_property("alpha", if r.w > 0 { 1.0f64 } else { 0.0 });
            if let Some(l) = &v.layers
                && r.w > 0
            {
                l.fit(r.w as u32, self.settings.width.max(1) as u32);
            }
        }
        for pad in self
            .video_inputs
            .iter()
            .filter(|v| v.muted)
            .filter_map(|v| v.comp_pad.as_ref())
        {
            pad.set_property("alpha", 0.0f64);
        }
    }

    /// The simulcast layer decoded for `publisher` (0 = lowest), if it
    /// sends simulcast and a layer is relayed yet.
    pub fn input_layer(&self, publisher: PeerKey) -> Option<usize> {
        self.video_inputs
            .iter()
            .find(|v| v.publisher == publisher)
            .and_then(|v| v.layers.as_ref())
            .and_then(|l| l.active())
    }

    /// Forces a keyframe in the mix (a viewer's PLI/FIR or a new viewer).
    pub fn request_keyframe(&self) -> bool {
        sfu::request_keyframe(&self.video_out)
    }

    /// Every element the mixer owns, for room shutdown.
    pub fn elements(&self) -> Vec<gst::Element> {
        let mut out = self.video_elements.clone();
        for v in &self.video_inputs {
            out.extend(v.elements.iter().cloned());
        }
        for a in self.audio_inputs.values() {
            out.extend(a.elements.iter().cloned());
        }
        for m in self.mixes.values() {
            out.extend(m.elements.iter().cloned());
            out.extend(m.inputs.values().map(|(_, q, _)| q.clone()));
        }
        out
    }

    /// Detaches the mixer from every publisher tee (first step of shutdown).
    pub fn detach_inputs(&self) {
        for v in &self.video_inputs {
            v.detach();
        }
        for a in self.audio_inputs.values() {
            a.tee.release_request_pad(&a.tee_pad);
        }
    }
}

//! Ingests: RTSP cameras, RTMP streams and plain RTP as room publishers.
//!
//! An ingest is a publisher without a `webrtcbin`. Its graph has two parts:
//!
//! ```text
//! attempt (rebuilt on every reconnect)               kept for the ingest's life
//! rtspsrc ─pad─► depay ! parse [! decode ! encode] ─► payloader ─► tee (as a publisher's)
//! rtmp2src ! flvdemux ─pad─► parse [! decode ! encode] ─┘
//! udpsrc (caps) ─► depay ─┘
//! ```
//!
//! The source's pads appear at run time: a callback blocks each pad and
//! posts it to the room task ([`RoomEvent::IngestPad`]), which builds its
//! chain from the fragments in `pipelines/ingest.toml`. H.264 that browsers
//! take (profile_idc 66: baseline or constrained baseline, which have no
//! B-frames) and Opus are re-payloaded, not transcoded; anything else is
//! decoded and encoded (H.264 with the chosen encoder, Opus). The
//! payloader and tee outlive the attempt, so subscribers stay connected
//! while a dead source is retried with back-off.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use gst::prelude::*;

use super::peer::{RoomEvent, RoomEvents};
use crate::ids::PeerKey;
use crate::media::codec::{Codec, MediaKind};
use crate::media::encoder::Selected;
use crate::media::fragments::{self, FragmentError};

use super::passthrough::{h264_profile, watch_for_b_frames};
pub use super::source::{Catalog, IngestError, RtpMedia, SourceSpec, State};

mod connect;

/// Handles of ingest publishers start here (client handles are random
/// below 2^53, as Janus makes them).
pub const HANDLE_BASE: PeerKey = PeerKey(1 << 60);
/// Payload types of the re-payloaded streams (the gateway makes the offers).
const VIDEO_PT: u8 = 96;
const AUDIO_PT: u8 = 111;
/// The longest back-off between reconnects.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(30);

/// Numbers the depay/parse/transcode chains, for unique element names.
static NEXT_CHAIN: AtomicU64 = AtomicU64::new(1);

fn perr(e: impl std::fmt::Display) -> IngestError {
    IngestError::Pipeline(e.to_string())
}

/// One stream of an ingest, as the room sees it.
pub struct IngestStream {
    /// Audio or video.
    pub kind: MediaKind,
    /// What the tee carries (Opus, H.264 or VP8).
    pub codec: Codec,
    /// Its payload type.
    pub pt: u8,
    /// Its SSRC.
    pub ssrc: u32,
    /// The payloader (kept across reconnects) and the stream's tee.
    pub pay: gst::Element,
    /// The tee.
    pub tee: gst::Element,
    /// What the source sends, e.g. `h264 (profile 100)`, `aac`.
    pub input: String,
    /// Whether the stream is decoded and encoded again.
    pub transcoded: bool,
    /// Wall-clock ms (UNIX) of the last packet out of the payloader; 0 before.
    pub last_packet_ms: Arc<AtomicU64>,
    /// The keyframe cache of a video stream (see [`super::gop`]).
    pub gop: Option<Arc<super::gop::GopCache>>,
}

/// A source attempt's elements (torn down on reconnect).
#[derive(Default)]
struct Attempt {
    elements: Vec<gst::Element>,
    /// Each linked source pad, its caps and its chain, by kind.
    linked: Vec<(MediaKind, gst::Pad, gst::Caps, gst::Element)>,
    /// Blocking probes still held on source pads.
    blocks: Vec<(gst::Pad, gst::PadProbeId)>,
}

/// An ingest publisher: the source, its chains, the kept payloaders/tees.
pub struct Ingest {
    /// Its handle in the room (≥ [`HANDLE_BASE`]).
    pub handle: PeerKey,
    /// Where it pulls from.
    pub spec: SourceSpec,
    /// Its streams, once known (fixed by the first successful attempt).
    pub streams: Vec<IngestStream>,
    /// Where it is.
    pub state: State,
    /// Failed attempts in a row.
    pub failures: u32,
    /// Back-off before the first retry.
    pub reconnect_delay: Duration,
    /// The first attempt delivered its streams.
    pub ready: bool,
    /// The first attempt already waited for late pads.
    pub settled: bool,
    /// Keep the last GOP of the video for new viewers.
    pub keyframe_cache: bool,
    /// B-frames were seen in H.264 taken as pass-through: transcode it.
    pub force_transcode: bool,
    attempt: Attempt,
    /// Streams of this attempt not linked yet (matched by kind).
    linked_this_attempt: Vec<MediaKind>,
    /// Source pads added but not yet handled by the room task (a
    /// demuxer's pad is posted only once its caps come, which may be after
    /// "no more pads").
    pads_in_flight: Arc<std::sync::atomic::AtomicUsize>,
}

pub(crate) use super::timing::now_ms;

impl Ingest {
    /// A new ingest for `spec`; [`Ingest::connect`] starts it.
    pub fn new(handle: PeerKey, spec: SourceSpec, reconnect_delay: Duration) -> Ingest {
        Ingest {
            handle,
            spec,
            streams: Vec::new(),
            state: State::Connecting,
            failures: 0,
            reconnect_delay,
            ready: false,
            settled: false,
            keyframe_cache: true,
            force_transcode: false,
            attempt: Attempt::default(),
            linked_this_attempt: Vec::new(),
            pads_in_flight: Arc::default(),
        }
    }

    /// How many source pads were added and not yet handled
    /// ([`Ingest::pad_handled`]).
    pub fn pads_in_flight(&self) -> usize {
        self.pads_in_flight.load(Ordering::Relaxed)
    }

    /// The room task handled (linked, discarded or dropped) a posted pad.
    pub fn pad_handled(&self) {
        let _ = self
            .pads_in_flight
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }

    fn name(&self, what: &str) -> String {
        crate::room::owners::Owner::Ingest(self.handle).name(what)
    }

    /// Whether a source pad with `caps` would be transcoded to H.264, so
    /// needs the encoder the start-up probe chooses: video that is not VP8
    /// or baseline H.264 (or any video once B-frames forced transcoding).
    /// Audio never does (it becomes Opus without it).
    pub fn needs_h264_encoder(&self, caps: &gst::Caps) -> bool {
        let Some(s) = caps.structure(0) else {
            return false;
        };
        let name = s.name().as_str();
        let (video, input) = if name == "application/x-rtp" {
            (
                s.get::<&str>("media").ok() == Some("video"),
                s.get::<&str>("encoding-name")
                    .unwrap_or("")
                    .to_ascii_lowercase(),
            )
        } else {
            (
                name.starts_with("video/"),
                match name {
                    "video/x-h264" => "h264".to_owned(),
                    "video/x-vp8" => "vp8".to_owned(),
                    other => other.to_owned(),
                },
            )
        };
        video
            && match input.as_str() {
                "vp8" => false,
                "h264" => self.force_transcode || h264_profile(s).is_some_and(|p| p != 66),
                _ => true,
            }
    }

    /// Links a source pad (blocked by `block`) into its chain and on to its
    /// stream's payloader; creates the stream on the first attempt. Pads of
    /// kinds the ingest cannot use go to a discarding sink.
    #[allow(clippy::too_many_arguments)]
    pub fn link_pad(
        &mut self,
        pipeline: &gst::Pipeline,
        catalog: &Catalog,
        encoder: Option<&Selected>,
        pad: &gst::Pad,
        caps: &gst::Caps,
        block: Option<gst::PadProbeId>,
        events: &RoomEvents,
    ) -> Result<(), IngestError> {
        if let Some(b) = block {
            self.attempt.blocks.push((pad.clone(), b));
        }
        let s = caps.structure(0).ok_or_else(|| perr("empty caps"))?;
        let (kind, parse, input, profile) = if s.name() == "application/x-rtp" {
            let media = s.get::<&str>("media").unwrap_or("");
            let enc = s
                .get::<&str>("encoding-name")
                .unwrap_or("")
                .to_ascii_uppercase();
            let kind = match media {
                "audio" => MediaKind::Audio,
                "video" => MediaKind::Video,
                _ => return self.discard(pipeline, pad),
            };
            let Some(depay) = catalog.depay.get(&enc) else {
                tracing::info!(handle_id = %self.handle, encoding = %enc, "ingest: unsupported RTP encoding, ignored");
                return self.discard(pipeline, pad);
            };
            (
                kind,
                depay.clone(),
                enc.to_ascii_lowercase(),
                h264_profile(s),
            )
        } else {
            let name = s.name().as_str();
            let kind = if name.starts_with("video/") {
                MediaKind::Video
            } else if name.starts_with("audio/") {
                MediaKind::Audio
            } else {
                return self.discard(pipeline, pad);
            };
            let Some(parse) = catalog.parse.get(name) else {
                tracing::info!(handle_id = %self.handle, caps = %name, "ingest: unsupported stream, ignored");
                return self.discard(pipeline, pad);
            };
            let input = match name {
                "video/x-h264" => "h264",
                "audio/mpeg" => "aac",
                other => other,
            };
            (kind, parse.clone(), input.to_owned(), h264_profile(s))
        };
        if self.linked_this_attempt.contains(&kind) {
            // One stream per kind.
            return self.discard(pipeline, pad);
        }
        // What the tee carries, and whether it takes a transcode.
        let (codec, transcode) = match (kind, input.as_str()) {
            (MediaKind::Audio, "opus") => (Codec::Opus, false),
            (MediaKind::Audio, _) => (Codec::Opus, true),
            (MediaKind::Video, "vp8") => (Codec::Vp8, false),
            // profile_idc 66: baseline / constrained baseline, no B-frames.
            // Without profile information: pass-through, watched for
            // B-frames below.
            (MediaKind::Video, "h264") => (
                Codec::H264,
                self.force_transcode || profile.is_some_and(|p| p != 66),
            ),
            (MediaKind::Video, _) => (Codec::H264, true),
        };
        let input = match profile {
            Some(p) if input == "h264" => format!("h264 (profile_idc {p})"),
            _ => input,
        };
        // The existing stream of this kind (a reconnect) keeps its codec.
        let existing = self.streams.iter().position(|st| st.kind == kind);
        if existing.is_none() && self.ready {
            return self.discard(pipeline, pad);
        }
        let mut desc = parse;
        if transcode {
            match kind {
                MediaKind::Audio => {
                    let decode = catalog
                        .decode
                        .get(input.as_str())
                        .ok_or_else(|| IngestError::Source(format!("no decoder for {input}")))?;
                    desc = format!("{desc} ! {decode} ! {}", catalog.audio_to_opus);
                }
                MediaKind::Video => {
                    desc = format!(
                        "{desc} ! {} ! %ENCODER% ! h264parse config-interval=-1",
                        catalog.video_decode
                    );
                }
            }
        }
        let chain = fragments::build(&desc, codec, encoder).map_err(|e| match e {
            FragmentError::NoEncoder(_) => IngestError::NoEncoder(input.clone()),
            other => perr(other),
        })?;
        // A new name each time: a replaced chain (pass-through swapped for
        // transcoding) leaves the pipeline off the room's thread, maybe after
        // this one is added, and two children of a bin cannot share a name.
        let serial = NEXT_CHAIN.fetch_add(1, Ordering::Relaxed);
        chain.set_property(
            "name",
            self.name(&format!("chain_{}_{serial}", kind.as_str())),
        );
        if codec == Codec::H264 && !transcode {
            // RTP: timestamps of the packets, in sequence order (a jitter
            // buffer may smooth presentation times). Demuxed: presentation
            // times in decode order.
            let rtp = s.name() == "application/x-rtp";
            let watched = if rtp {
                Some(pad.clone())
            } else {
                chain.static_pad("src")
            };
            if let Some(p) = watched {
                watch_for_b_frames(&p, rtp, self.handle, events);
            }
        }
        pipeline.add(&chain).map_err(perr)?;
        self.attempt.elements.push(chain.clone());
        let idx = match existing {
            Some(i) => i,
            None => {
                let pay_desc = catalog
                    .pay
                    .get(codec.janus_name())
                    .ok_or_else(|| perr(format!("no payloader for {codec}")))?;
                let pay = gst::parse::bin_from_description(pay_desc, true).map_err(perr)?;
                pay.set_property("name", self.name(&format!("pay_{}", kind.as_str())));
                let ssrc = rand::random::<u32>();
                let pt = if kind == MediaKind::Video {
                    VIDEO_PT
                } else {
                    AUDIO_PT
                };
                for e in pay.iterate_elements().into_iter().flatten() {
                    if e.find_property("pt").is_some() {
                        e.set_property("pt", u32::from(pt));
                        e.set_property("ssrc", ssrc);
                    }
                }
                let tee =
                    super::sfu::make_tee_unstarted(&self.name(&format!("tee_{}", kind.as_str())))
                        .map_err(perr)?;
                pipeline
                    .add_many([pay.upcast_ref::<gst::Element>(), &tee])
                    .map_err(perr)?;
                pay.link(&tee).map_err(perr)?;
                tee.sync_state_with_parent().map_err(perr)?;
                pay.sync_state_with_parent().map_err(perr)?;
                // A source's EOS (an RTMP server that stopped) must not
                // reach the viewers: it ends the attempt instead.
                if let Some(p) = pay.static_pad("sink") {
                    let tx = events.clone();
                    let handle = self.handle;
                    p.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, move |_, info| {
                        if info
                            .event()
                            .is_some_and(|e| e.type_() == gst::EventType::Eos)
                        {
                            let _ = tx.send(RoomEvent::IngestFailed {
                                handle,
                                why: "end of stream".into(),
                            });
                            info.data.take();
                            return gst::PadProbeReturn::Handled;
                        }
                        gst::PadProbeReturn::Ok
                    });
                }
                let last = Arc::new(AtomicU64::new(0));
                if let Some(p) = tee.static_pad("sink") {
                    let last = last.clone();
                    p.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
                        last.store(now_ms(), Ordering::Relaxed);
                        gst::PadProbeReturn::Ok
                    });
                }
                let gop = (self.keyframe_cache && kind == MediaKind::Video).then(|| {
                    let cache = super::gop::GopCache::new(codec);
                    cache.watch(&tee);
                    cache
                });
                self.streams.push(IngestStream {
                    kind,
                    codec,
                    pt,
                    ssrc,
                    pay: pay.upcast(),
                    tee,
                    input: input.clone(),
                    transcoded: transcode,
                    last_packet_ms: last,
                    gop,
                });
                self.streams.len() - 1
            }
        };
        let st = &mut self.streams[idx];
        st.input = input;
        st.transcoded = transcode;
        let pay_sink = st
            .pay
            .static_pad("sink")
            .ok_or_else(|| perr("payloader sink"))?;
        // GStreamer's order: link downstream, start, then link upstream.
        let chain_src = chain.static_pad("src").ok_or_else(|| perr("chain src"))?;
        if let Some(peer) = pay_sink.peer() {
            let _ = peer.unlink(&pay_sink);
        }
        chain_src
            .link(&pay_sink)
            .map_err(|e| perr(format!("{e:?}")))?;
        chain.sync_state_with_parent().map_err(perr)?;
        let chain_sink = chain.static_pad("sink").ok_or_else(|| perr("chain sink"))?;
        pad.link(&chain_sink).map_err(|e| perr(format!("{e:?}")))?;
        self.linked_this_attempt.push(kind);
        self.attempt
            .linked
            .push((kind, pad.clone(), caps.clone(), chain.clone()));
        self.unblock(pad);
        tracing::info!(
            handle_id = %self.handle,
            kind = kind.as_str(),
            codec = %codec,
            transcoded = transcode,
            "ingest stream linked"
        );
        Ok(())
    }

    fn unblock(&mut self, pad: &gst::Pad) {
        let (mine, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.attempt.blocks)
            .into_iter()
            .partition(|(p, _)| p == pad);
        self.attempt.blocks = rest;
        for (p, id) in mine {
            p.remove_probe(id);
        }
    }

    /// Sends an unusable pad to a discarding sink (never leave it unlinked).
    fn discard(&mut self, pipeline: &gst::Pipeline, pad: &gst::Pad) -> Result<(), IngestError> {
        let sink = gst::ElementFactory::make("fakesink")
            .property("sync", false)
            .property("async", false)
            .build()
            .map_err(perr)?;
        pipeline.add(&sink).map_err(perr)?;
        self.attempt.elements.push(sink.clone());
        sink.sync_state_with_parent().map_err(perr)?;
        let sp = sink
            .static_pad("sink")
            .ok_or_else(|| perr("fakesink pad"))?;
        pad.link(&sp).map_err(|e| perr(format!("{e:?}")))?;
        self.unblock(pad);
        Ok(())
    }

    /// Swaps the video's pass-through chain for a transcoding one, the
    /// source left as it is: the source pad is blocked, unlinked from the
    /// old chain (which is retired), and linked again (see `link_pad`).
    pub fn transcode_video(
        &mut self,
        pipeline: &gst::Pipeline,
        catalog: &Catalog,
        encoder: Option<&Selected>,
        events: &RoomEvents,
    ) -> Result<(), IngestError> {
        self.force_transcode = true;
        let Some(i) = self
            .attempt
            .linked
            .iter()
            .position(|(k, ..)| *k == MediaKind::Video)
        else {
            return Ok(());
        };
        let (_, pad, caps, old) = self.attempt.linked.remove(i);
        let block = pad.add_probe(
            gst::PadProbeType::BLOCK | gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST,
            |_, _| gst::PadProbeReturn::Ok,
        );
        if let Some(peer) = pad.peer() {
            let _ = pad.unlink(&peer);
        }
        self.attempt.elements.retain(|e| e != &old);
        super::peer::retire(pipeline, vec![old]);
        self.linked_this_attempt.retain(|k| *k != MediaKind::Video);
        self.link_pad(pipeline, catalog, encoder, &pad, &caps, block, events)
    }

    /// How many kinds (audio, video) this attempt linked.
    pub fn kinds_linked(&self) -> usize {
        self.linked_this_attempt.len()
    }

    /// Whether this attempt linked at least one stream.
    pub fn has_streams(&self) -> bool {
        !self.linked_this_attempt.is_empty()
    }

    /// Ends the current attempt: blocking probes go first (a source shut
    /// down behind a blocked pad deadlocks, as gst-plugins-rs `fallbacksrc`
    /// documents), then the chains leave the payloaders and every element
    /// goes to NULL off the room's thread. Payloaders and tees stay.
    pub fn stop_attempt(&mut self, pipeline: &gst::Pipeline) {
        for (pad, id) in self.attempt.blocks.drain(..) {
            pad.remove_probe(id);
        }
        for st in &self.streams {
            if let Some(sink) = st.pay.static_pad("sink")
                && let Some(peer) = sink.peer()
            {
                let _ = peer.unlink(&sink);
            }
        }
        let elements = std::mem::take(&mut self.attempt.elements);
        super::peer::retire(pipeline, elements);
        self.attempt.linked.clear();
        self.linked_this_attempt.clear();
    }

    /// Every element the ingest owns (the attempt, payloaders and tees),
    /// for removal with its room or on `remove_ingest`.
    pub fn elements(&mut self) -> Vec<gst::Element> {
        for (pad, id) in self.attempt.blocks.drain(..) {
            pad.remove_probe(id);
        }
        let mut out = std::mem::take(&mut self.attempt.elements);
        for st in &self.streams {
            out.push(st.pay.clone());
            out.push(st.tee.clone());
        }
        out
    }

    /// The back-off before the next attempt: the reconnect delay, doubled
    /// per failure in a row, at most [`MAX_RETRY_DELAY`].
    pub fn next_delay(&self) -> Duration {
        let factor = 1u32 << self.failures.saturating_sub(1).min(5);
        (self.reconnect_delay * factor).min(MAX_RETRY_DELAY)
    }

    /// Asks the source for a keyframe where it can (a transcoding encoder
    /// takes it; cameras behind `rtspsrc` do not).
    pub fn request_keyframe(&self) {
        for st in self.streams.iter().filter(|s| s.kind == MediaKind::Video) {
            if let Some(sink) = st.pay.static_pad("sink") {
                sink.push_event(
                    gst_video::UpstreamForceKeyUnitEvent::builder()
                        .all_headers(true)
                        .build(),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_off_doubles_and_is_capped() {
        let mut i = Ingest::new(
            PeerKey(1),
            SourceSpec::from_url("rtsp://h/x").unwrap(),
            Duration::from_secs(2),
        );
        i.failures = 1;
        assert_eq!(i.next_delay(), Duration::from_secs(2));
        i.failures = 3;
        assert_eq!(i.next_delay(), Duration::from_secs(8));
        i.failures = 30;
        assert_eq!(i.next_delay(), MAX_RETRY_DELAY);
    }
}

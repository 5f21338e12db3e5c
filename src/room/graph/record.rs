//! Recording branches: a publisher's streams (or the mix) written to a
//! fragmented MP4 while the call runs, as one bin in the room's pipeline:
//!
//! ```text
//! stream tee ─► queue ─► fragment (depay/parse, or transcode) ─┐
//! stream tee ─► queue ─► fragment ─────────────────────────────┴► mp4mux ─► filesink
//! ```
//!
//! The fragments are data (`pipelines/recording.toml`). Adding follows
//! GStreamer's order: the bin is built and started, then the tees are
//! linked. Stopping releases the tee pads first (the room never stops), then
//! sends EOS into the bin only; the muxer writes its index, and when EOS
//! reaches the file sink a probe posts [`RoomEvent::RecordingDone`] so the
//! room task retires the bin. The sink is neither synchronised nor
//! asynchronous, so adding it never makes the room's pipeline re-preroll.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use gst::prelude::*;
use serde::Deserialize;

use crate::ids::{Id, RecordingId};
use thiserror::Error;

use super::hold;
use super::peer::{RoomEvent, RoomEvents};
use crate::media::codec::{Codec, MediaKind};
use crate::media::encoder::Selected;
use crate::media::fragments::{self, FragmentError};

/// How long a stopping recording may take to finalize before its branch is
/// removed anyway (the fragments already written stay playable).
pub const FINALIZE_TIMEOUT: Duration = Duration::from_secs(5);
/// Raw media a recording may buffer when the disk is slow; beyond it the
/// oldest is dropped rather than stalling the room.
const QUEUE_TIME: Duration = Duration::from_secs(3);
/// How long a recording's video waits for its audio to start (a publisher
/// may send no audio at all), or for a keyframe no older than the audio's
/// start, in stream time.
const AUDIO_WAIT: Duration = Duration::from_secs(2);
/// A failed recording start.
#[derive(Debug, Error)]
pub enum RecordError {
    /// The catalog has no fragment for this codec.
    #[error("cannot record {0}: no fragment in the recording catalog")]
    NoFragment(&'static str),
    /// A fragment needs an encoder and the start-up probe found none.
    #[error("cannot record {0}: no working H.264 encoder")]
    NoEncoder(&'static str),
    /// Building or linking the branch failed.
    #[error("recording branch: {0}")]
    Pipeline(String),
    /// The recording directory cannot be made.
    #[error("recording directory {0}: {1}")]
    Dir(String, #[source] std::io::Error),
    /// The catalog file is unreadable or malformed.
    #[error(transparent)]
    Catalog(#[from] FragmentError),
}

/// The recording catalog (`pipelines/recording.toml`): the muxer and one
/// fragment per source codec.
#[derive(Debug, Clone, Deserialize)]
pub struct Catalog {
    /// The MP4 settings (the default).
    pub mp4: Format,
    /// WebM (rooms with `record_format: "webm"`), for codecs it holds as
    /// they are; anything else is recorded to MP4.
    #[serde(default)]
    pub webm: Option<Format>,
}

/// One container format. An empty fragment means the format cannot take
/// that codec.
#[derive(Debug, Clone, Deserialize)]
pub struct Format {
    /// The muxer, as a gst-launch element description.
    pub mux: String,
    /// File name extension, without the dot.
    pub extension: String,
    /// RTP H.264 → what the muxer stores.
    #[serde(default)]
    pub h264: String,
    /// RTP VP8 → what the muxer stores (may use `%ENCODER%`).
    #[serde(default)]
    pub vp8: String,
    /// RTP Opus → what the muxer stores.
    #[serde(default)]
    pub opus: String,
    /// Codec names stored for video and audio (`list_recordings`).
    pub stored: [String; 2],
    /// Samples (48 kHz) of silence the audio encoder puts before the first
    /// input sample and the muxer does not record as such (AAC's encoder
    /// delay: 1024 for `avenc_aac`). Players start the audio track with
    /// them, so the video's start is moved back by as much.
    #[serde(default)]
    pub audio_priming_samples: u32,
    /// The sink for a network target (`rtmp2sink …`; its `location` is set
    /// per stream). Files always go to `filesink`.
    #[serde(default)]
    pub sink: String,
}

/// Where a branch writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A file (made with its directories).
    File(PathBuf),
    /// A network URL, through the format's `sink` (e.g. `rtmp://…`).
    Url(String),
}

impl Format {
    /// The fragment for `codec` (empty when the format cannot take it).
    pub fn fragment(&self, codec: Codec) -> &str {
        match codec {
            Codec::H264 => &self.h264,
            Codec::Vp8 => &self.vp8,
            Codec::Opus => &self.opus,
        }
    }

    fn takes(&self, codecs: &[Codec]) -> bool {
        codecs.iter().all(|c| !self.fragment(*c).trim().is_empty())
    }
}

impl Catalog {
    /// The catalog shipped in `pipelines/recording.toml`.
    pub fn builtin() -> Catalog {
        fragments::builtin(
            "pipelines/recording.toml",
            include_str!("../../../pipelines/recording.toml"),
        )
    }

    /// The catalog `[recording] catalog` names, or the built-in one when
    /// it names none.
    pub fn from_config(cfg: &crate::config::Recording) -> Result<Catalog, RecordError> {
        if cfg.catalog.as_os_str().is_empty() {
            Ok(Catalog::builtin())
        } else {
            Catalog::load(&cfg.catalog)
        }
    }

    /// Reads a catalog file.
    pub fn load(path: &Path) -> Result<Catalog, RecordError> {
        Ok(fragments::load("recording", path)?)
    }

    /// The format for a recording of `codecs`: WebM when asked for and it
    /// takes them all, else MP4.
    pub fn choose(&self, webm: bool, codecs: &[Codec]) -> &Format {
        match &self.webm {
            Some(w) if webm && w.takes(codecs) => w,
            _ => &self.mp4,
        }
    }
}

/// What a finished recording holds: one entry of `list_recordings`.
#[derive(Debug, Clone)]
pub struct RecordingInfo {
    /// The file.
    pub path: PathBuf,
    /// The room.
    pub room: Id,
    /// The feed recorded; `None` for the mix (and restreams, which are not listed).
    pub feed: Option<Id>,
    /// Codecs in the file (`h264`, `aac`; `vp8`, `opus` in WebM).
    pub codecs: Vec<String>,
    /// Start, ms since the Unix epoch.
    pub started_ms: u64,
    /// Media duration, ms (first to last timestamp written).
    pub duration_ms: u64,
}

/// The process's recordings, shared by every room: the finished ones and
/// the ones still being written.
#[derive(Debug, Default)]
pub struct RecordingList {
    /// Finished files, in the order they were finalized.
    pub finished: Vec<RecordingInfo>,
    /// Recordings in progress, by id (`duration_ms` is 0 until finished).
    pub running: std::collections::BTreeMap<RecordingId, RecordingInfo>,
}

/// [`RecordingList`], shared.
pub type Registry = Arc<std::sync::Mutex<RecordingList>>;

/// One stream to record: its kind, codec and tee.
pub struct Source<'a> {
    /// Audio or video.
    pub kind: MediaKind,
    /// Codec on the tee.
    pub codec: Codec,
    /// The tee carrying its RTP.
    pub tee: &'a gst::Element,
    /// The stream's arrival mapping: packets are restamped from their RTP
    /// timestamps with its offset (see [`super::timing`]). `None` keeps the
    /// incoming timestamps (the mix, whose timing has no jitter).
    pub clock: Option<Arc<super::timing::ArrivalClock>>,
    /// The frozen offset for `clock` (from the sender reports, see
    /// [`super::timing::sync_offsets`]); `None` takes the stream's own
    /// least-delayed arrival offset at the first packet.
    pub offset: Option<i64>,
}

/// First and last timestamp written, ns (`u64::MAX`/0 until data).
#[derive(Default)]
struct Span {
    first: AtomicU64,
    last: AtomicU64,
    /// PTS of the first audio buffer into the muxer (`u64::MAX` before).
    first_audio: AtomicU64,
    /// Whether the first video buffer went into the muxer.
    video_started: std::sync::atomic::AtomicBool,
    /// PTS of the first video buffer out of the fragment, passed or not.
    first_video: std::sync::OnceLock<u64>,
}

struct Input {
    tee: gst::Element,
    tee_pad: gst::Pad,
    sink: gst::Pad,
}

/// A recording in progress.
pub struct Recorder {
    /// Unique in the process.
    pub id: RecordingId,
    /// The file being written.
    pub path: PathBuf,
    bin: gst::Bin,
    inputs: Vec<Input>,
    span: Arc<Span>,
    info: RecordingInfo,
    stopping: bool,
    /// Per source, in order: its stamp (`None` for the mix's streams).
    stamps: Vec<Option<hold::Stamp>>,
    /// The queues blocked until [`Recorder::release`].
    gate: hold::Hold,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// The running time (ns) of `pts` in `pad`'s segment (`pts` itself when the
/// pad has no time segment).
fn running_ns(pad: &gst::Pad, pts: gst::ClockTime) -> u64 {
    pad.sticky_event::<gst::event::Segment>(0)
        .and_then(|e| {
            e.segment()
                .downcast_ref::<gst::ClockTime>()
                .and_then(|s| s.to_running_time(pts))
        })
        .map_or(pts.nseconds(), gst::ClockTime::nseconds)
}

pub use super::timing::now_ms;

fn perr(e: impl std::fmt::Display) -> RecordError {
    RecordError::Pipeline(e.to_string())
}

/// Builds a recording fragment ([`fragments::build`]) for a stream of `codec`.
fn fragment(
    desc: &str,
    codec: Codec,
    encoder: Option<&Selected>,
) -> Result<gst::Element, RecordError> {
    fragments::build(desc, codec, encoder).map_err(|e| match e {
        FragmentError::NoEncoder(c) => RecordError::NoEncoder(c),
        FragmentError::Build { .. } => RecordError::Pipeline(e.to_string()),
        other => RecordError::Catalog(other),
    })
}

impl Recorder {
    /// Starts recording `sources` into `path` (directories made as needed).
    /// `room`/`feed` label the registry entry. Ask the publisher for a
    /// keyframe afterwards: the file starts at the first one. `held`: the
    /// sources' media waits in the branch until [`Recorder::release`]
    /// gives their offsets (see [`super::hold`]).
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        pipeline: &gst::Pipeline,
        format: &Format,
        encoder: Option<&Selected>,
        target: Target,
        room: Id,
        feed: Option<Id>,
        sources: &[Source<'_>],
        events: &RoomEvents,
        held: bool,
    ) -> Result<Recorder, RecordError> {
        let id = RecordingId(NEXT_ID.fetch_add(1, Ordering::Relaxed));
        let (path, sink) = match target {
            Target::File(path) => {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| RecordError::Dir(dir.display().to_string(), e))?;
                }
                // Unbuffered: filesink's default 64 KiB stdio buffer held
                // the first 7 s of a low-rate call, which a killed gateway
                // lost. The muxer writes whole fragments, so writes stay few.
                let sink = gst::ElementFactory::make("filesink")
                    .property("location", path.display().to_string())
                    .property_from_str("buffer-mode", "unbuffered")
                    .build()
                    .map_err(perr)?;
                (path, sink)
            }
            Target::Url(url) => {
                if format.sink.trim().is_empty() {
                    return Err(perr("this format has no network sink"));
                }
                let sink = gst::parse::launch(&format.sink).map_err(perr)?;
                sink.set_property("location", &url);
                (PathBuf::from(url), sink)
            }
        };
        sink.set_property("sync", false);
        sink.set_property("async", false);
        let bin = gst::Bin::with_name(&crate::room::owners::Owner::Recording(id).name(""));
        let mux = gst::parse::launch(&format.mux).map_err(perr)?;
        bin.add_many([&mux, &sink]).map_err(perr)?;
        mux.link(&sink).map_err(perr)?;
        let span = Arc::new(Span {
            first: AtomicU64::new(u64::MAX),
            last: AtomicU64::new(0),
            first_audio: AtomicU64::new(u64::MAX),
            video_started: std::sync::atomic::AtomicBool::new(false),
            first_video: std::sync::OnceLock::new(),
        });
        // Both tracks start at the same instant of the sources' timeline
        // (publisher streams are put on one by `timing`; the mix's
        // aggregators stamp their output on the inputs' running time).
        // Players start every MP4 track at 0, and the audio track starts
        // with the encoder's priming: the video's start is that much
        // earlier than the first audio sample.
        let lead_ns = u64::from(format.audio_priming_samples) * 1_000_000_000 / 48_000;
        let has_audio = sources.iter().any(|s| s.kind == MediaKind::Audio);
        let mut codecs = Vec::new();
        let mut sinks = Vec::new();
        let mut stamps = Vec::new();
        let mut gate = hold::Hold::default();
        for src in sources {
            let desc = format.fragment(src.codec);
            if desc.trim().is_empty() {
                return Err(RecordError::NoFragment(src.codec.janus_name()));
            }
            let queue = gst::ElementFactory::make("queue")
                .property("max-size-buffers", 0u32)
                .property("max-size-bytes", 0u32)
                .property("max-size-time", QUEUE_TIME.as_nanos() as u64)
                .property_from_str("leaky", "downstream")
                .build()
                .map_err(perr)?;
            let frag = fragment(desc, src.codec, encoder)?;
            bin.add_many([&queue, &frag]).map_err(perr)?;
            gst::Element::link_many([&queue, &frag, &mux]).map_err(perr)?;
            let qsink = queue.static_pad("sink").ok_or_else(|| perr("queue sink"))?;
            let ghost = gst::GhostPad::builder_with_target(&qsink)
                .map_err(perr)?
                .name(format!("sink_{}", sinks.len()))
                .build();
            bin.add_pad(&ghost).map_err(perr)?;
            // Stamped on the fragment's sink, after the queue (where a
            // held recording waits: see `super::hold`).
            let stamp = src.clock.clone().map(|c| hold::Stamp::new(c, src.offset));
            if let Some(st) = &stamp {
                let fsink = frag
                    .static_pad("sink")
                    .ok_or_else(|| perr("fragment sink"))?;
                st.apply_on(&fsink);
                if held {
                    gate.block(&queue);
                }
            }
            stamps.push(stamp);
            if src.kind == MediaKind::Audio && src.clock.is_some() {
                // Lost-packet events (which the depayloader turns into gap
                // events) carry the jitter buffer's arrival times, not the
                // timeline the packets are restamped to above: concealment
                // placed by them shifted the audio by 20-75 ms. Gaps in the
                // restamped packets are filled with silence instead.
                ghost.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, |_, info| {
                    let lost = info.event().is_some_and(|e| {
                        e.type_() == gst::EventType::Gap
                            || e.structure()
                                .is_some_and(|s| s.name() == "GstRTPPacketLost")
                    });
                    if lost {
                        info.data.take();
                        return gst::PadProbeReturn::Handled;
                    }
                    gst::PadProbeReturn::Ok
                });
            }
            // Track what reaches the muxer, for the registry's duration.
            // The audio's start, known as soon as its first packet enters
            // (its encoded output reaches the muxer later than the video's
            // first keyframe, though it starts earlier).
            if src.kind == MediaKind::Audio
                && let Some(fsink) = frag.static_pad("sink")
            {
                let span = span.clone();
                fsink.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
                    if let Some(pts) = info.buffer().and_then(|b| b.pts()) {
                        let _ = span.first_audio.compare_exchange(
                            u64::MAX,
                            running_ns(pad, pts),
                            Ordering::Relaxed,
                            Ordering::Relaxed,
                        );
                    }
                    gst::PadProbeReturn::Ok
                });
            }
            if let Some(fsrc) = frag.static_pad("src") {
                let span = span.clone();
                let kind = src.kind;
                let tx_key = events.clone();
                fsrc.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
                    let Some(b) = info.buffer() else {
                        return gst::PadProbeReturn::Ok;
                    };
                    let Some(pts) = b.pts() else {
                        // The muxer fails on a buffer without a timestamp
                        // (a decoder's first output can lack one): drop it.
                        info.data.take();
                        return gst::PadProbeReturn::Handled;
                    };
                    // Running time: what the muxer and the other track go
                    // by (encoders may shift their segment, x264enc by 1000 h).
                    let mut rt = running_ns(pad, pts);
                    match kind {
                        MediaKind::Audio => {
                            let _ = span.first_audio.compare_exchange(
                                u64::MAX,
                                rt,
                                Ordering::Relaxed,
                                Ordering::Relaxed,
                            );
                        }
                        MediaKind::Video
                            if has_audio && !span.video_started.load(Ordering::Relaxed) =>
                        {
                            let first_audio = span.first_audio.load(Ordering::Relaxed);
                            let start = first_audio.saturating_sub(lead_ns);
                            let keyframe = !b.flags().contains(gst::BufferFlags::DELTA_UNIT);
                            let first_video = *span.first_video.get_or_init(|| rt);
                            let wanted = if first_audio == u64::MAX {
                                // No audio yet (one lost packet holds the
                                // audio back a jitter-buffer latency): a file
                                // whose video started first would play its
                                // audio late. Wait for it, a bounded time (a
                                // silent publisher may send no audio).
                                (rt < first_video + AUDIO_WAIT.as_nanos() as u64)
                                    .then_some(Duration::ZERO)
                            } else {
                                // Older than the audio's start (the mix's
                                // video leaves its pacer later than its
                                // audio): ask for a keyframe due when the
                                // video catches up.
                                // Bounded too: past it the file starts
                                // at the next keyframe, aligned or not.
                                (rt < start && rt < first_video + AUDIO_WAIT.as_nanos() as u64)
                                    .then(|| Duration::from_nanos(start - rt))
                            };
                            if let Some(after) = wanted {
                                if keyframe {
                                    let _ = tx_key.send(RoomEvent::RecordingKeyframe { id, after });
                                }
                                info.data.take();
                                return gst::PadProbeReturn::Handled;
                            }
                            if !keyframe {
                                info.data.take();
                                return gst::PadProbeReturn::Handled;
                            }
                            span.video_started.store(true, Ordering::Relaxed);
                            // The video starts at its first keyframe, after
                            // the audio: stretch that first frame back to
                            // the audio's start, or the audio would play
                            // late by the wait.
                            if first_audio != u64::MAX
                                && start < rt
                                && let Some(b) = info.buffer_mut()
                            {
                                let stretch = gst::ClockTime::from_nseconds(rt - start);
                                let b = b.make_mut();
                                b.set_pts(pts.saturating_sub(stretch));
                                if let Some(dts) = b.dts() {
                                    b.set_dts(dts.saturating_sub(stretch));
                                }
                                if let Some(d) = b.duration() {
                                    b.set_duration(d + stretch);
                                }
                                rt = start;
                            }
                        }
                        MediaKind::Video => {}
                    }
                    let Some(b) = info.buffer() else {
                        return gst::PadProbeReturn::Ok;
                    };
                    let end = rt + b.duration().map_or(0, gst::ClockTime::nseconds);
                    span.first.fetch_min(rt, Ordering::Relaxed);
                    span.last.fetch_max(end, Ordering::Relaxed);
                    gst::PadProbeReturn::Ok
                });
            }
            codecs.push(match src.kind {
                MediaKind::Video => format.stored[0].clone(),
                MediaKind::Audio => format.stored[1].clone(),
            });
            sinks.push((src.tee.clone(), ghost.upcast::<gst::Pad>()));
        }
        if sinks.is_empty() {
            return Err(perr("nothing to record"));
        }
        // EOS at the file: the muxer has written its index.
        let tx = events.clone();
        sink.static_pad("sink")
            .ok_or_else(|| perr("filesink pad"))?
            .add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, move |_, info| {
                if let Some(ev) = info.event()
                    && ev.type_() == gst::EventType::Eos
                {
                    let _ = tx.send(RoomEvent::RecordingDone { id });
                }
                gst::PadProbeReturn::Ok
            });
        pipeline.add(&bin).map_err(perr)?;
        if let Err(e) = bin.sync_state_with_parent() {
            let _ = pipeline.remove(&bin);
            let _ = bin.set_state(gst::State::Null);
            return Err(perr(e));
        }
        let mut inputs = Vec::new();
        for (tee, ghost) in sinks {
            let linked = tee
                .request_pad_simple("src_%u")
                .ok_or_else(|| perr("tee refused a pad"))
                .and_then(|tp| {
                    tp.link(&ghost).map_err(|e| perr(format!("{e:?}")))?;
                    Ok(tp)
                });
            match linked {
                Ok(tee_pad) => inputs.push(Input {
                    tee,
                    tee_pad,
                    sink: ghost,
                }),
                Err(e) => {
                    for i in &inputs {
                        i.tee.release_request_pad(&i.tee_pad);
                    }
                    super::peer::retire(pipeline, vec![bin.upcast()]);
                    return Err(e);
                }
            }
        }
        let info = RecordingInfo {
            path: path.clone(),
            room,
            feed,
            codecs,
            started_ms: now_ms(),
            duration_ms: 0,
        };
        Ok(Recorder {
            id,
            path,
            bin,
            inputs,
            span,
            info,
            stopping: false,
            stamps,
            gate,
        })
    }

    /// Whether the recording's media still waits for its offsets.
    pub fn held(&self) -> bool {
        self.gate.held()
    }

    /// Freezes the sources' offsets and lets the held media into the file:
    /// `offsets` (one per source, from the sender reports), or each
    /// stream's own arrival offset when `None` or of the wrong length.
    pub fn release(&mut self, offsets: Option<&[i64]>) {
        let offsets = offsets.filter(|o| o.len() == self.stamps.len());
        for (i, st) in self.stamps.iter().enumerate() {
            if let Some(st) = st {
                st.freeze(offsets.map(|o| o[i]));
            }
        }
        self.gate.release(QUEUE_TIME);
    }

    /// Whether [`Recorder::stop`] was called.
    pub fn stopping(&self) -> bool {
        self.stopping
    }

    /// Detaches the recording from the room (tee pads released, so no more
    /// data) and sends EOS into it; [`RoomEvent::RecordingDone`] follows once
    /// the file is finalized.
    pub fn stop(&mut self) {
        if self.stopping {
            return;
        }
        self.stopping = true;
        // Held media goes into the file too (on arrival offsets).
        if self.held() {
            self.release(None);
        }
        for i in &self.inputs {
            i.tee.release_request_pad(&i.tee_pad);
        }
        for i in &self.inputs {
            i.sink.send_event(gst::event::Eos::new());
        }
    }

    /// Removes the finished (or timed-out) branch; returns its registry entry.
    pub fn finish(mut self, pipeline: &gst::Pipeline) -> RecordingInfo {
        if !self.stopping {
            for i in &self.inputs {
                i.tee.release_request_pad(&i.tee_pad);
            }
        }
        super::peer::retire(pipeline, vec![self.bin.clone().upcast()]);
        let first = self.span.first.load(Ordering::Relaxed);
        let last = self.span.last.load(Ordering::Relaxed);
        self.info.duration_ms = last.saturating_sub(first) / 1_000_000;
        if first == u64::MAX {
            self.info.duration_ms = 0;
        }
        self.info
    }

    /// What the registry lists for it while it runs.
    pub fn info(&self) -> &RecordingInfo {
        &self.info
    }

    /// The file and its start, for replies.
    pub fn state(&self) -> crate::room::api::RecordingState {
        crate::room::api::RecordingState {
            path: self.path.clone(),
            started_ms: self.info.started_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_catalog_parses_and_builds() {
        gst::init().unwrap();
        let c = Catalog::builtin();
        assert!(c.mp4.mux.contains("fragment-duration"));
        for codec in [Codec::H264, Codec::Opus] {
            fragment(c.mp4.fragment(codec), codec, None).unwrap();
        }
        // VP8 needs the chosen encoder for MP4, not for WebM.
        assert!(matches!(
            fragment(c.mp4.fragment(Codec::Vp8), Codec::Vp8, None),
            Err(RecordError::NoEncoder(_))
        ));
        let webm = c.webm.as_ref().unwrap();
        for codec in [Codec::Vp8, Codec::Opus] {
            fragment(webm.fragment(codec), codec, None).unwrap();
        }
        // WebM only when it holds every codec; H.264 goes to MP4.
        assert_eq!(c.choose(true, &[Codec::Vp8, Codec::Opus]).extension, "webm");
        assert_eq!(c.choose(true, &[Codec::H264, Codec::Opus]).extension, "mp4");
        assert_eq!(c.choose(false, &[Codec::Vp8, Codec::Opus]).extension, "mp4");
    }
}

//! The room task's side of ingests (see [`super::ingest`]): `add_ingest`,
//! `remove_ingest`, linking source pads, and reconnecting with back-off.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use gst::prelude::*;
use rand::Rng;
use tokio::time::Instant;
use tracing::{info, warn};

use super::api::{IngestInfo, IngestMediaInfo, IngestParams, IngestStatus, Notice, Reply};
use super::error::RoomError;
use super::ingest::{self, Ingest, IngestError, State};
use super::peer::RoomEvent;
use super::talk::TalkDetector;
use super::{Participant, PubStream, Publication, Room, send_reply, timing};
use crate::ids::PeerKey;
use crate::ids::{HandleId, Id};
use crate::media::codec::{Codec, MediaKind};

/// How long an RTMP source that showed one kind of stream gets to show the
/// other.
const RTMP_SETTLE: Duration = Duration::from_secs(2);

fn room_error(e: IngestError) -> RoomError {
    match e {
        IngestError::BadUrl(u) => {
            RoomError::invalid(format!("url ({u})"), "an rtsp:// or rtmp:// URL")
        }
        other => RoomError::Ingest(other),
    }
}

/// The room's ingests.
pub(super) struct Ingests {
    /// Ingest publishers by handle.
    pub(super) by_handle: HashMap<PeerKey, Ingest>,
    /// `add_ingest` requests waiting for their source's streams.
    pub(super) pending: HashMap<PeerKey, Reply<Id>>,
    /// The next ingest handle (ingest handles start at [`ingest::HANDLE_BASE`]).
    pub(super) next: PeerKey,
    /// Ingests with a video pad held for the start-up encoder probe, and
    /// since when (see [`Room::ingest_pad`]).
    pub(super) probe_waits: HashMap<PeerKey, Instant>,
    /// Ingests whose "no more pads" waits for pads still on their way.
    pub(super) ready_waits: HashMap<PeerKey, Instant>,
}

/// How long a source pad that needs the H.264 encoder waits for the
/// start-up encoder probe (two codecs at
/// [`crate::media::encoder::PROBE_TIMEOUT`] each, and a margin) before it
/// is linked anyway (and fails with "no working H.264 encoder").
const PROBE_WAIT: Duration = Duration::from_secs(12);
/// How often a held pad looks again.
const PROBE_POLL: Duration = Duration::from_millis(100);

impl Default for Ingests {
    fn default() -> Self {
        Ingests {
            by_handle: HashMap::new(),
            pending: HashMap::new(),
            next: ingest::HANDLE_BASE,
            probe_waits: HashMap::new(),
            ready_waits: HashMap::new(),
        }
    }
}

impl Room {
    /// `add_ingest`: starts the source; `reply` gets `{"id"}` once its
    /// streams are known, or the error.
    pub(super) fn add_ingest(&mut self, params: IngestParams, reply: Reply<Id>) {
        let IngestParams {
            spec,
            id,
            display,
            reconnect_delay,
            keyframe_cache,
        } = params;
        if let Err(e) = self.check_publisher_room() {
            return send_reply(reply, Err(e));
        }
        let id = match id {
            Some(id) if self.participants.values().any(|p| p.id == id) => {
                return send_reply(reply, Err(RoomError::IdExists(id)));
            }
            Some(id) => id,
            None => self.new_participant_id(),
        };
        let handle = self.ingests.next;
        self.ingests.next = PeerKey(handle.0 + 1);
        let delay = reconnect_delay
            .unwrap_or(Duration::from_secs(self.ctx.ingest.reconnect_delay_s))
            .max(Duration::from_millis(100));
        let mut ing = Ingest::new(handle, spec, delay);
        ing.keyframe_cache = keyframe_cache;
        if let Err(e) = ing.connect(&self.pipeline, &self.ctx.ingest, &self.ev_tx) {
            ing.stop_attempt(&self.pipeline);
            return send_reply(reply, Err(room_error(e)));
        }
        info!(handle_id = %handle, id = %id, source = ing.spec.type_name(), url = ?ing.spec.url(), "ingest connecting");
        self.participants.insert(
            handle,
            Participant {
                h: HandleId {
                    session_id: 0,
                    handle_id: handle.0,
                },
                id,
                private_id: rand::rng().random::<u32>(),
                display,
                metadata: None,
                publication: None,
                talk: TalkDetector::new(
                    self.cfg.audio_active_packets,
                    self.cfg.audio_level_average,
                ),
            },
        );
        self.ingests.by_handle.insert(handle, ing);
        self.ingests.pending.insert(handle, reply);
        self.post_later(
            Duration::from_secs(self.ctx.ingest.connect_timeout_s),
            RoomEvent::IngestTimeout { handle, attempt: 0 },
        );
    }

    /// `remove_ingest`: the feed leaves like a publisher.
    pub(super) fn remove_ingest(&mut self, id: &Id) -> Result<(), RoomError> {
        let Some(handle) = self
            .participants
            .iter()
            .find(|(h, p)| &p.id == id && self.ingests.by_handle.contains_key(h))
            .map(|(h, _)| *h)
        else {
            return Err(RoomError::NoSuchFeed(id.to_string()));
        };
        self.drop_ingest(handle, None);
        Ok(())
    }

    /// Takes an ingest out of the room (published or not), answering a
    /// pending `add_ingest` with `error`.
    fn drop_ingest(&mut self, handle: PeerKey, error: Option<RoomError>) {
        if let Some(reply) = self.ingests.pending.remove(&handle) {
            send_reply(reply, Err(error.unwrap_or(RoomError::IngestRemoved)));
        }
        let published = self
            .participants
            .get(&handle)
            .is_some_and(|p| p.publication.is_some());
        if published {
            // Unpublishing retires the ingest's elements too.
            self.leave_publisher(handle, Some("removed"));
        } else {
            self.participants.remove(&handle);
            if let Some(mut ing) = self.ingests.by_handle.remove(&handle) {
                super::peer::retire(&self.pipeline, ing.elements());
            }
        }
        info!(handle_id = %handle, "ingest removed");
    }

    /// Ingests, restreams, subscribers, and encoder elements anywhere in
    /// the room's graph.
    pub(super) fn ingest_status(&self) -> IngestStatus {
        let now = ingest::now_ms();
        let ingests: Vec<IngestInfo> = self
            .ingests
            .by_handle
            .iter()
            .filter_map(|(h, ing)| {
                let p = self.participants.get(h)?;
                Some(IngestInfo {
                    id: p.id.clone(),
                    display: p.display.clone(),
                    source_type: ing.spec.type_name(),
                    url: ing.spec.url().map(str::to_owned),
                    state: ing.state.as_str(),
                    failures: ing.failures,
                    media: ing
                        .streams
                        .iter()
                        .map(|s| {
                            let last = s.last_packet_ms.load(std::sync::atomic::Ordering::Relaxed);
                            IngestMediaInfo {
                                kind: s.kind,
                                codec: s.codec,
                                input: s.input.clone(),
                                transcoded: s.transcoded,
                                age_ms: (last > 0).then(|| now.saturating_sub(last)),
                            }
                        })
                        .collect(),
                })
            })
            .collect();
        // Audio/video encoders in the whole graph: pass-through ingests add none.
        let encoders = self
            .pipeline
            .iterate_recurse()
            .into_iter()
            .flatten()
            .filter(|e| {
                e.factory()
                    .and_then(|f| {
                        // Media encoders only (`dtlssrtpenc` is an "Encoder/Network").
                        f.metadata(gst::ELEMENT_METADATA_KLASS).map(|k| {
                            k.contains("Encoder") && (k.contains("Video") || k.contains("Audio"))
                        })
                    })
                    .unwrap_or(false)
            })
            .count();
        IngestStatus {
            ingests,
            restreams: self.egress_infos(),
            viewers: self.subscribers.len(),
            encoders,
        }
    }

    pub(super) fn ingest_pad(
        &mut self,
        handle: PeerKey,
        pad: gst::Pad,
        caps: gst::Caps,
        block: Option<gst::PadProbeId>,
    ) {
        // Right after start-up the encoder probe may still run. A video pad
        // that needs transcoding waits for it (held by its blocking probe:
        // the encoder's first frame is a keyframe, so nothing is lost);
        // pads passed through as sent never wait.
        let probe_running = self.ctx.encoders.get().is_none();
        let needs = probe_running
            && self
                .ingests
                .by_handle
                .get(&handle)
                .is_some_and(|ing| ing.needs_h264_encoder(&caps));
        if needs {
            let since = *self
                .ingests
                .probe_waits
                .entry(handle)
                .or_insert_with(Instant::now);
            if since.elapsed() < PROBE_WAIT {
                let ev = RoomEvent::IngestPad {
                    handle,
                    pad,
                    caps,
                    block,
                };
                self.post_later(PROBE_POLL, ev);
                return;
            }
            warn!(handle_id = %handle, "ingest: the encoder probe has not answered in {PROBE_WAIT:?}");
        }
        self.ingests.probe_waits.remove(&handle);
        let encoder = self.h264_encoder();
        if let Some(ing) = self.ingests.by_handle.get(&handle) {
            ing.pad_handled();
        }
        let Some(ing) = self.ingests.by_handle.get_mut(&handle) else {
            // A late pad of a removed ingest: release it.
            if let Some(b) = block {
                pad.remove_probe(b);
            }
            return;
        };
        if let Err(e) = ing.link_pad(
            &self.pipeline,
            &self.ctx.ingest,
            encoder.as_ref(),
            &pad,
            &caps,
            block,
            &self.ev_tx,
        ) {
            warn!(handle_id = %handle, error = %e, "ingest: cannot use a source stream");
        }
    }

    /// The source showed its streams: publish them (first time), or carry on
    /// (reconnect).
    pub(super) fn ingest_ready(&mut self, handle: PeerKey) {
        // A pad still on its way (waiting for its caps, or for the encoder
        // probe, see `ingest_pad`): come after it, a bounded time.
        let in_flight = self.ingests.probe_waits.contains_key(&handle)
            || self
                .ingests
                .by_handle
                .get(&handle)
                .is_some_and(|ing| ing.pads_in_flight() > 0);
        if in_flight {
            let since = *self
                .ingests
                .ready_waits
                .entry(handle)
                .or_insert_with(Instant::now);
            if since.elapsed() < PROBE_WAIT {
                self.post_later(PROBE_POLL, RoomEvent::IngestNoMorePads { handle });
                return;
            }
        }
        self.ingests.ready_waits.remove(&handle);
        let Some(ing) = self.ingests.by_handle.get_mut(&handle) else {
            return;
        };
        if !ing.has_streams() {
            // Nothing usable this time: let the timeout decide.
            return;
        }
        // flvdemux may say "no more pads" before its video pad exists (it
        // waits for the first video tag): give a one-kind RTMP source a
        // moment for the other kind.
        if !ing.ready && !ing.settled && ing.kinds_linked() < 2 && ing.spec.type_name() == "rtmp" {
            ing.settled = true;
            self.post_later(RTMP_SETTLE, RoomEvent::IngestNoMorePads { handle });
            return;
        }
        ing.state = State::Playing;
        if ing.ready {
            info!(handle_id = %handle, "ingest reconnected");
            ing.failures = 0;
            ing.request_keyframe();
            return;
        }
        ing.ready = true;
        let streams: Vec<PubStream> = ing
            .streams
            .iter()
            .enumerate()
            .map(|(i, st)| {
                let clock = Arc::new(timing::ArrivalClock::new(st.codec.clock_rate()));
                if let Some(pad) = st.tee.static_pad("sink") {
                    let clock = clock.clone();
                    pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
                        if let Some(b) = info.buffer() {
                            clock.observe(b);
                        }
                        gst::PadProbeReturn::Ok
                    });
                }
                PubStream {
                    mindex: i as u32,
                    mid: i.to_string(),
                    kind: st.kind,
                    codec: st.codec,
                    pt: st.pt,
                    ssrc: Some(st.ssrc),
                    description: Some(match st.kind {
                        MediaKind::Video => "video".to_owned(),
                        MediaKind::Audio => "audio".to_owned(),
                    }),
                    tee: st.tee.clone(),
                    receiving: true,
                    last_keyframe_request: None,
                    moderated: None,
                    clock,
                    gop: st.gop.clone(),
                    layers: Vec::new(),
                    simulcast_keys: Vec::new(),
                    rid_ext: None,
                }
            })
            .collect();
        let mix_inputs: Vec<(MediaKind, Codec, u32, gst::Element)> = streams
            .iter()
            .map(|s| (s.kind, s.codec, s.mindex, s.tee.clone()))
            .collect();
        let Some(p) = self.participants.get_mut(&handle) else {
            return;
        };
        p.publication = Some(Publication {
            peer: None,
            streams,
            connected: true,
            dormant: Vec::new(),
        });
        let id = p.id.clone();
        let key = id.to_string();
        info!(handle_id = %handle, id = %id, "ingest publishing");
        if let Some(m) = self.mixer.as_mut()
            && let Err(e) =
                m.add_publisher(&self.pipeline, handle, key, &mix_inputs, &[], &self.ev_tx)
        {
            warn!(handle_id = %handle, error = %e, "cannot mix the ingest");
        }
        self.announce(handle);
        self.rtsp_mount(handle);
        if self.cfg.record {
            self.start_publisher_recording(handle, None);
        }
        if let Some(reply) = self.ingests.pending.remove(&handle) {
            send_reply(reply, Ok(id));
        }
    }

    /// The source failed (error, end of stream, or no streams in time).
    /// Before the first success this fails `add_ingest`; after it, the
    /// source is retried with back-off while subscribers stay connected.
    pub(super) fn ingest_failed(&mut self, handle: PeerKey, why: String) {
        let Some(ing) = self.ingests.by_handle.get_mut(&handle) else {
            return;
        };
        if !ing.ready {
            warn!(handle_id = %handle, error = %why, "ingest failed to start");
            self.drop_ingest(handle, Some(room_error(IngestError::Source(why))));
            return;
        }
        if ing.state == State::Retrying {
            return;
        }
        ing.stop_attempt(&self.pipeline);
        ing.failures += 1;
        ing.state = State::Retrying;
        let delay = ing.next_delay();
        warn!(handle_id = %handle, error = %why, retry_in_ms = delay.as_millis() as u64, failures = ing.failures, "ingest source lost; retrying");
        let id = self.participants.get(&handle).map(|p| p.id.clone());
        self.broadcast(
            Notice::IngestRetrying {
                id,
                retry_in: delay,
            },
            None,
        );
        self.post_later(delay, RoomEvent::IngestRetry { handle });
    }

    /// B-frames in pass-through H.264: swap in a transcoding chain.
    pub(super) fn ingest_b_frames(&mut self, handle: PeerKey) {
        if self.ctx.encoders.get().is_none() && self.ingests.by_handle.contains_key(&handle) {
            // The start-up encoder probe still runs: the stream stays
            // passed through until it answers (bounded by PROBE_WAIT).
            let since = *self
                .ingests
                .probe_waits
                .entry(handle)
                .or_insert_with(Instant::now);
            if since.elapsed() < PROBE_WAIT {
                self.post_later(PROBE_POLL, RoomEvent::IngestBFrames { handle });
                return;
            }
        }
        self.ingests.probe_waits.remove(&handle);
        let encoder = self.h264_encoder();
        let Some(ing) = self.ingests.by_handle.get_mut(&handle) else {
            return;
        };
        if ing.force_transcode {
            return;
        }
        info!(
            handle_id = %handle,
            "ingest: B-frames in the H.264; transcoding it"
        );
        if let Err(e) = ing.transcode_video(
            &self.pipeline,
            &self.ctx.ingest,
            encoder.as_ref(),
            &self.ev_tx,
        ) {
            warn!(handle_id = %handle, error = %e, "ingest: cannot transcode");
        }
    }

    pub(super) fn ingest_retry(&mut self, handle: PeerKey) {
        let Some(ing) = self.ingests.by_handle.get_mut(&handle) else {
            return;
        };
        if ing.state != State::Retrying {
            return;
        }
        let attempt = ing.failures;
        if let Err(e) = ing.connect(&self.pipeline, &self.ctx.ingest, &self.ev_tx) {
            warn!(handle_id = %handle, error = %e, "ingest: reconnect attempt failed to build");
        }
        self.post_later(
            Duration::from_secs(self.ctx.ingest.connect_timeout_s),
            RoomEvent::IngestTimeout { handle, attempt },
        );
    }

    pub(super) fn ingest_timeout(&mut self, handle: PeerKey, attempt: u32) {
        let Some(ing) = self.ingests.by_handle.get(&handle) else {
            return;
        };
        if ing.failures != attempt || ing.state != State::Connecting {
            return;
        }
        if ing.has_streams() {
            // Streams came, but no "no more pads": take what there is.
            self.ingest_ready(handle);
        } else {
            let why = IngestError::Timeout(self.ctx.ingest.connect_timeout_s).to_string();
            self.ingest_failed(handle, why);
        }
    }
}

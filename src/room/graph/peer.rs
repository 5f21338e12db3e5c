//! One `webrtcbin` (one PeerConnection) inside a room's pipeline.
//!
//! Invariants:
//! - signal handlers are connected before the element is added or started
//!   (connecting later sometimes never negotiates on 1.22);
//! - handlers capture only an event sender, never a strong element or
//!   pipeline reference (a strong one makes a cycle that leaks ~9 threads);
//! - handlers never panic (a panic in a GStreamer callback aborts the
//!   process) and never block: they post a [`RoomEvent`] and return.

use std::time::Duration;

use gst::glib;
use gst::prelude::*;
use gst_webrtc::{WebRTCPeerConnectionState, WebRTCSDPType, WebRTCSessionDescription};
use thiserror::Error;
use tokio::sync::{mpsc, oneshot};

use crate::ids::PeerKey;
use crate::ids::{EgressId, MediaId, RecordingId};
use crate::janus::SdpType;
use crate::media::ice::IceSettings;

/// How long one webrtcbin operation (set description, create offer/answer) may take.
const NEGOTIATION_TIMEOUT: Duration = Duration::from_secs(10);

/// Something a GStreamer callback reports to its room task.
#[derive(Debug)]
pub enum RoomEvent {
    /// A local ICE candidate for the peer of `handle`.
    IceCandidate {
        handle: PeerKey,
        mline: u32,
        candidate: String,
    },
    /// Gathering finished for that peer.
    IceGatheringDone { handle: PeerKey },
    /// A publisher's `webrtcbin` exposed a receiving RTP pad. It is held by
    /// the blocking probe `block` until the room task links it (an unlinked
    /// pad would fail the whole PeerConnection with not-linked).
    PadAdded {
        handle: PeerKey,
        pad: gst::Pad,
        block: Option<gst::PadProbeId>,
    },
    /// The PeerConnection state changed.
    ConnectionState {
        handle: PeerKey,
        state: WebRTCPeerConnectionState,
    },
    /// A subscriber branch's `webrtcbin` refused data (a flow error its guard
    /// kept from the publisher).
    BranchFailed { handle: PeerKey, reason: String },
    /// A publisher's first decoded frame reached the mixer (MCU): link it in.
    MixInputReady { publisher: PeerKey },
    /// A subscriber asked for a keyframe (PLI/FIR) on a publisher stream.
    KeyframeRequest {
        publisher_handle: PeerKey,
        mindex: u32,
        /// Skip the per-stream spacing (`keyframe_interval_ms`): a
        /// recording's own requests, one per keyframe it had to drop.
        force: bool,
    },
    /// A recording's file is final (EOS reached its sink), or its finalize
    /// time is up.
    RecordingDone { id: RecordingId },
    /// A recording dropped a keyframe older than its audio's start and
    /// needs another one, due `after` from now (the mix's video lags).
    RecordingKeyframe { id: RecordingId, after: Duration },
    /// An ingest source exposed a pad, held by the blocking probe `block`
    /// until the room task links it.
    IngestPad {
        handle: PeerKey,
        pad: gst::Pad,
        caps: gst::Caps,
        block: Option<gst::PadProbeId>,
    },
    /// An ingest source has shown all its pads.
    IngestNoMorePads { handle: PeerKey },
    /// An ingest attempt's time to show its streams is up (`attempt` is
    /// the failure count it started with, to skip stale timers).
    IngestTimeout { handle: PeerKey, attempt: u32 },
    /// An ingest's pass-through H.264 has B-frames: transcode from now on.
    IngestBFrames { handle: PeerKey },
    /// An ingest's back-off is over: try the source again.
    IngestRetry { handle: PeerKey },
    /// An ingest's source failed: an element error, or EOS (an RTMP
    /// server that stopped).
    IngestFailed { handle: PeerKey, why: String },
    /// Time for a restream's periodic keyframe (while `branch` runs).
    EgressKeyframe { id: EgressId, branch: RecordingId },
    /// A restream's back-off is over: rebuild its branch.
    EgressRetry { id: EgressId },
    /// A restream started `failures` failures ago: live if none since.
    EgressCheck { id: EgressId, failures: u32 },
    /// An RTSP media of source `handle` (a publisher, or the mix) was
    /// prepared: feed its `appsrc`s.
    RtspAttach {
        handle: PeerKey,
        media: MediaId,
        srcs: Vec<(crate::media::codec::MediaKind, gst_app::AppSrc)>,
    },
    /// That RTSP media is gone (no client left).
    RtspDetach { media: MediaId },
    /// A held recording checks for its publisher's sender reports (the
    /// `round`th check, see [`super::hold`]).
    RecordingSync {
        id: crate::ids::RecordingId,
        round: u32,
    },
    /// A publisher's offer was answered off the room task: the answer and,
    /// per audio m-line, the RFC 6464 extension id offered.
    PublisherAnswered {
        handle: PeerKey,
        result: Result<(String, Vec<(u32, Option<u8>)>), PeerError>,
    },
    /// A subscriber's offer was made off the room task.
    SubscriberOffered {
        handle: PeerKey,
        result: Result<String, PeerError>,
    },
    /// A subscriber's answer was applied off the room task.
    SubscriberAnswered {
        handle: PeerKey,
        result: Result<(), PeerError>,
    },
    /// Time for an MCU room waiting for the encoder probe to look again.
    MixerCheck,
    /// One audio packet's RFC 6464 level (dBov) from a publisher (SFU rooms).
    AudioLevel { handle: PeerKey, dbov: u8 },
    /// A subscriber's layer selector needs a keyframe of simulcast layer
    /// `layer` (0 = lowest) of a publisher stream (see [`super::layers`]).
    LayerKeyframe {
        publisher_handle: PeerKey,
        mindex: u32,
        layer: usize,
    },
    /// A subscriber stream (m-line `mline`) now relays simulcast layer `layer`.
    LayerSwitched {
        subscriber: PeerKey,
        mline: u32,
        layer: usize,
    },
    /// A packet of simulcast layer `layer` reached a publisher stream's
    /// layer tee for the first time (the layer is flowing).
    LayerUp {
        handle: PeerKey,
        mindex: u32,
        layer: usize,
        ssrc: u32,
    },
    /// A subscriber's browser reported loss or a REMB estimate (see
    /// [`super::feedback`]); about one per second per subscriber.
    ReceiverFeedback {
        handle: PeerKey,
        feedback: super::feedback::Feedback,
    },
}

/// Sender half for callbacks; unbounded so a callback never blocks or drops.
/// Every event is signalling-scale except `AudioLevel`, one per audio packet
/// (50/s per publisher, the same rate as the MCU's `level` bus messages).
pub type RoomEvents = mpsc::UnboundedSender<RoomEvent>;

/// A failed webrtcbin operation.
#[derive(Debug, Error)]
pub enum PeerError {
    /// A GStreamer element is missing (a plugin is not installed).
    #[error("GStreamer element '{0}' is not available")]
    MissingElement(&'static str),
    /// webrtcbin refused an operation.
    #[error("{0}")]
    Negotiation(String),
    /// The SDP was rejected.
    #[error("invalid SDP: {0}")]
    Sdp(String),
    /// An operation did not finish in time.
    #[error("webrtcbin did not answer within {0:?}")]
    Timeout(Duration),
}

/// One PeerConnection. Clones share the element: a negotiation task holds
/// one while the room keeps its own.
#[derive(Clone)]
pub struct Peer {
    /// The element, inside the room pipeline.
    pub webrtcbin: gst::Element,
    /// Byte counts of the last statistics read, for bitrates.
    pub samples: std::sync::Arc<super::stats::Samples>,
}

/// Turns off the clock synchronisation 1.22's `webrtcbin` puts behind each
/// of its sink pads (a `clocksync` that `_connect_input_stream` sets to
/// `sync=true`). It held every packet until its timestamp plus the upstream
/// latency, which for a relayed feed is the publisher's jitter-buffer
/// latency, on the thread that pushed it: the publisher's tee thread, shared
/// by every subscriber of the feed. From the second subscriber on, each
/// one's packets came about 100 ms late. A relay forwards at once; live
/// sources upstream (jitter buffers, the mix's aggregators) already pace the
/// media. The element may be set after it is added, so a later `sync=true`
/// is turned off again.
fn relay_without_clock_sync(webrtcbin: &gst::Element) {
    let Some(bin) = webrtcbin.downcast_ref::<gst::Bin>() else {
        return;
    };
    bin.connect_deep_element_added(|_, _, el| {
        if el.factory().is_some_and(|f| f.name() == "clocksync") {
            el.set_property("sync", false);
            el.connect_notify(Some("sync"), |el, _| {
                if el.property::<bool>("sync") {
                    el.set_property("sync", false);
                }
            });
        }
    });
}

impl Peer {
    /// Creates a `webrtcbin` named `name` for handle `handle`, configured with
    /// `ice` and a jitter buffer of `latency_ms`, with all callbacks wired to
    /// `events`. It is not yet in any bin.
    pub fn new(
        name: &str,
        handle: PeerKey,
        ice: &IceSettings,
        latency_ms: u32,
        events: &RoomEvents,
    ) -> Result<Self, PeerError> {
        let webrtcbin = gst::ElementFactory::make("webrtcbin")
            .name(name)
            .build()
            .map_err(|_| PeerError::MissingElement("webrtcbin"))?;
        ice.apply(&webrtcbin);
        webrtcbin.set_property("latency", latency_ms);
        relay_without_clock_sync(&webrtcbin);

        let tx = events.clone();
        webrtcbin.connect("on-ice-candidate", false, move |values| {
            let mline = values.get(1).and_then(|v| v.get::<u32>().ok());
            let candidate = values.get(2).and_then(|v| v.get::<String>().ok());
            if let (Some(mline), Some(candidate)) = (mline, candidate) {
                let _ = tx.send(RoomEvent::IceCandidate {
                    handle,
                    mline,
                    candidate,
                });
            }
            None
        });
        let tx = events.clone();
        webrtcbin.connect_notify(Some("ice-gathering-state"), move |el, _| {
            let state = el.property::<gst_webrtc::WebRTCICEGatheringState>("ice-gathering-state");
            if state == gst_webrtc::WebRTCICEGatheringState::Complete {
                let _ = tx.send(RoomEvent::IceGatheringDone { handle });
            }
        });
        let tx = events.clone();
        webrtcbin.connect_notify(Some("connection-state"), move |el, _| {
            let state = el.property::<WebRTCPeerConnectionState>("connection-state");
            let _ = tx.send(RoomEvent::ConnectionState { handle, state });
        });
        let tx = events.clone();
        webrtcbin.connect_pad_added(move |_, pad| {
            if pad.direction() == gst::PadDirection::Src {
                let block = pad.add_probe(gst::PadProbeType::BLOCK_DOWNSTREAM, |_, _| {
                    gst::PadProbeReturn::Ok
                });
                let _ = tx.send(RoomEvent::PadAdded {
                    handle,
                    pad: pad.clone(),
                    block,
                });
            }
        });
        // NACK on video transceivers: publishers get retransmission requests
        // from our jitter buffer, subscribers get RTX from webrtcbin's packet
        // store. (Subscriber transceivers are set again when their branch is
        // built, once the kind is known.)
        webrtcbin.connect("on-new-transceiver", false, |values| {
            if let Some(Ok(t)) = values
                .get(1)
                .map(|v| v.get::<gst_webrtc::WebRTCRTPTransceiver>())
            {
                let audio =
                    t.property::<gst_webrtc::WebRTCKind>("kind") == gst_webrtc::WebRTCKind::Audio;
                t.set_property("do-nack", !audio);
            }
            None
        });
        Ok(Peer {
            webrtcbin,
            samples: Default::default(),
        })
    }

    async fn call(
        &self,
        signal: &str,
        arg: Option<&(dyn ToValue + Sync)>,
    ) -> Result<Option<gst::Structure>, PeerError> {
        let (tx, rx) = oneshot::channel();
        let promise = gst::Promise::with_change_func(move |reply| {
            let reply = match reply {
                Ok(Some(s)) => match s.get::<glib::Error>("error") {
                    Ok(e) => Err(PeerError::Negotiation(e.message().to_owned())),
                    Err(_) => Ok(Some(s.to_owned())),
                },
                Ok(None) => Ok(None),
                Err(e) => Err(PeerError::Negotiation(format!("promise {e:?}"))),
            };
            let _ = tx.send(reply);
        });
        match arg {
            Some(a) => self.webrtcbin.emit_by_name::<()>(signal, &[a, &promise]),
            None => self
                .webrtcbin
                .emit_by_name::<()>(signal, &[&None::<gst::Structure>, &promise]),
        }
        match tokio::time::timeout(NEGOTIATION_TIMEOUT, rx).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(PeerError::Negotiation(format!("{signal}: promise dropped"))),
            Err(_) => Err(PeerError::Timeout(NEGOTIATION_TIMEOUT)),
        }
    }

    /// Applies the remote offer or answer.
    pub async fn set_remote(&self, kind: SdpType, sdp: &str) -> Result<(), PeerError> {
        let msg = crate::media::sdp::parse(sdp).map_err(|e| PeerError::Sdp(e.to_string()))?;
        let t = match kind {
            SdpType::Offer => WebRTCSDPType::Offer,
            SdpType::Answer => WebRTCSDPType::Answer,
        };
        let desc = WebRTCSessionDescription::new(t, msg);
        self.call("set-remote-description", Some(&desc))
            .await
            .map(|_| ())
    }

    async fn create(
        &self,
        signal: &str,
        field: &str,
    ) -> Result<WebRTCSessionDescription, PeerError> {
        let reply = self
            .call(signal, None)
            .await?
            .ok_or_else(|| PeerError::Negotiation(format!("{signal}: no reply")))?;
        reply
            .get::<WebRTCSessionDescription>(field)
            .map_err(|e| PeerError::Negotiation(format!("{signal}: {e}")))
    }

    /// Creates an answer, sets it as local description and returns its SDP.
    pub async fn answer(&self) -> Result<String, PeerError> {
        let answer = self.create("create-answer", "answer").await?;
        self.call("set-local-description", Some(&answer)).await?;
        answer
            .sdp()
            .as_text()
            .map_err(|e| PeerError::Sdp(e.to_string()))
    }

    /// Creates an offer, sets it as local description and returns its SDP.
    pub async fn offer(&self) -> Result<String, PeerError> {
        let offer = self.create("create-offer", "offer").await?;
        self.call("set-local-description", Some(&offer)).await?;
        offer
            .sdp()
            .as_text()
            .map_err(|e| PeerError::Sdp(e.to_string()))
    }

    /// Adds a remote ICE candidate for m-line `mline`.
    pub fn add_candidate(&self, mline: u32, candidate: &str) {
        self.webrtcbin
            .emit_by_name::<()>("add-ice-candidate", &[&mline, &candidate]);
    }

    /// The transceiver of m-line `mline`.
    /// Adds a transceiver with `direction` and codec preferences `caps`
    /// (`add-transceiver`); returns it.
    pub fn add_transceiver(
        &self,
        direction: gst_webrtc::WebRTCRTPTransceiverDirection,
        caps: &gst::Caps,
    ) -> Option<gst_webrtc::WebRTCRTPTransceiver> {
        self.webrtcbin
            .emit_by_name::<Option<gst_webrtc::WebRTCRTPTransceiver>>(
                "add-transceiver",
                &[&direction, caps],
            )
    }

    /// The transceiver at index `mline` (`get-transceiver`). Transceivers
    /// are indexed in creation order, which is the m-line order of offers
    /// this side made (subscribers).
    pub fn transceiver(&self, mline: u32) -> Option<gst_webrtc::WebRTCRTPTransceiver> {
        self.webrtcbin
            .emit_by_name::<Option<gst_webrtc::WebRTCRTPTransceiver>>(
                "get-transceiver",
                &[&(mline as i32)],
            )
    }
}

/// Takes elements out of a playing pipeline without stalling it: each is
/// locked out of the pipeline's state changes, then set to NULL and removed
/// on a blocking thread (NULL on a webrtcbin joins its threads). Pass
/// `webrtcbin`s first: NULL flushes their sink pads, which releases any
/// streaming thread blocked on them, so the queues behind can stop.
pub fn retire(pipeline: &gst::Pipeline, elements: Vec<gst::Element>) {
    if elements.is_empty() {
        return;
    }
    for e in &elements {
        e.set_locked_state(true);
    }
    let pipeline = pipeline.downgrade();
    let work = move || {
        for e in &elements {
            let _ = e.set_state(gst::State::Null);
            if let Some(p) = pipeline.upgrade() {
                let _ = p.remove(e);
            }
        }
    };
    match tokio::runtime::Handle::try_current() {
        Ok(rt) => {
            rt.spawn_blocking(work);
        }
        Err(_) => work(),
    }
}

//! The SFU part of a room graph: per-stream `tee`s behind publishers'
//! `webrtcbin`s, and subscriber branches `tee → flow guard → webrtcbin`.
//! No decoding anywhere.
//!
//! Branch order (GStreamer "pipeline manipulation" docs, plus 1.22 facts):
//! add → link downstream → `sync_state_with_parent` → link the tee last
//! (here: once the subscriber is connected); removal releases the tee's
//! request pad first (tee takes the pad's stream lock, so no buffer is
//! mid-push), then retires the elements.

use gst::prelude::*;

use super::peer::{RoomEvent, RoomEvents};
use crate::ids::PeerKey;
use crate::media::codec::{Codec, MediaKind};

/// Creates the `tee` for one publisher stream and starts it.
pub fn make_tee(pipeline: &gst::Pipeline, name: &str) -> Result<gst::Element, glib::BoolError> {
    let tee = gst::ElementFactory::make("tee")
        .name(name)
        .property("allow-not-linked", true)
        .build()?;
    pipeline.add(&tee)?;
    tee.sync_state_with_parent()?;
    Ok(tee)
}

/// A fan-out `tee` not yet in any bin (the caller adds and links it). Never
/// fails for lack of branches (`allow-not-linked`).
pub fn make_tee_unstarted(name: &str) -> Result<gst::Element, String> {
    gst::ElementFactory::make("tee")
        .name(name)
        .property("allow-not-linked", true)
        .build()
        .map_err(|e| e.to_string())
}

/// Links a publisher `webrtcbin` src pad to its stream's tee, or to a
/// discarding sink when that tee is already fed (e.g. a second SSRC on the
/// same m-line), so the pad is never left unlinked.
pub fn link_publisher_pad(
    pipeline: &gst::Pipeline,
    pad: &gst::Pad,
    tee: Option<&gst::Element>,
) -> Result<(), String> {
    if let Some(tee) = tee {
        let sink = tee.static_pad("sink").ok_or("tee has no sink pad")?;
        if !sink.is_linked() {
            return pad
                .link(&sink)
                .map(|_| ())
                .map_err(|e| format!("link to tee: {e:?}"));
        }
    }
    let fakesink = gst::ElementFactory::make("fakesink")
        .property("sync", false)
        .property("async", false)
        .build()
        .map_err(|e| e.to_string())?;
    pipeline.add(&fakesink).map_err(|e| e.to_string())?;
    fakesink
        .sync_state_with_parent()
        .map_err(|e| e.to_string())?;
    let sink = fakesink
        .static_pad("sink")
        .ok_or("fakesink has no sink pad")?;
    pad.link(&sink)
        .map(|_| ())
        .map_err(|e| format!("link to fakesink: {e:?}"))
}

/// What a subscriber branch forwards.
pub struct BranchSpec {
    /// The subscriber's handle, for failure reports.
    pub subscriber_handle: PeerKey,
    /// Codec, payload type and SSRC, for the subscriber's caps.
    pub codec: Codec,
    /// Payload type (the publisher's: the gateway makes the subscriber offer).
    pub pt: u8,
    /// The publisher's SSRC, announced in the subscriber offer.
    pub ssrc: Option<u32>,
    /// `msid` for the subscriber's track grouping (the feed id).
    pub msid: String,
}

/// Prepares `guard → webrtcbin sink_<mline>` for a subscriber: requests the
/// sink pad by explicit name (1.22's caps-based request has an inverted
/// condition), sets `msid`, makes the transceiver sendonly with the codec
/// caps (NACK/RTX for video), and puts a flow guard in front. Returns the
/// guard; it is linked to the publisher's tee by [`link_branch`] once the
/// PeerConnection is connected.
///
/// Why no queue: the tee pushes straight through the guard into the
/// subscriber's `webrtcbin` on the publisher's streaming thread, as an SFU
/// relays (no thread hop per packet per subscriber). That is safe only once
/// nothing in that `webrtcbin` blocks: its sink pads block until the answer
/// is applied and its transport holds RTP until DTLS is up, so the tee is
/// linked only after the connection state is `connected`. After that the
/// path is SRTP protection and a non-blocking UDP send.
pub fn prepare_branch(
    pipeline: &gst::Pipeline,
    webrtcbin: &gst::Element,
    mline: u32,
    spec: &BranchSpec,
    events: &RoomEvents,
) -> Result<gst::Element, String> {
    let caps = spec.codec.subscriber_caps(spec.pt, spec.ssrc);
    let sink = webrtcbin
        .request_pad_simple(&format!("sink_{mline}"))
        .ok_or_else(|| format!("webrtcbin refused sink_{mline}"))?;
    sink.set_property("msid", &spec.msid);
    let transceiver = sink.property::<gst_webrtc::WebRTCRTPTransceiver>("transceiver");
    transceiver.set_property(
        "direction",
        gst_webrtc::WebRTCRTPTransceiverDirection::Sendonly,
    );
    // NACK/RTX for video only: an audio m-line with an RTX SSRC group is
    // refused by Chrome ("Failed to add remote stream ssrc").
    transceiver.set_property("do-nack", spec.codec.kind() == MediaKind::Video);
    transceiver.set_property("codec-preferences", &caps);

    let guard = flow_guard(spec.subscriber_handle, events);
    pipeline.add(&guard).map_err(|e| e.to_string())?;
    let gsrc = guard.static_pad("src").ok_or("guard has no src pad")?;
    // The publisher's caps carry its extmap ids, rtcp-fb and other fields a
    // subscriber must not see; replace them with the caps we offered.
    gsrc.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, move |_, info| {
        if let Some(gst::PadProbeData::Event(ev)) = &info.data
            && ev.type_() == gst::EventType::Caps
        {
            info.data = Some(gst::PadProbeData::Event(gst::event::Caps::new(&caps)));
        }
        gst::PadProbeReturn::Ok
    });
    gsrc.link(&sink)
        .map_err(|e| format!("guard → webrtcbin: {e:?}"))?;
    guard.sync_state_with_parent().map_err(|e| e.to_string())?;
    Ok(guard)
}

/// Links a prepared branch to the publisher stream's tee (the upstream link
/// last, per GStreamer's dynamic-pipeline order). Video branches forward the
/// subscriber's keyframe requests (PLI/FIR) to the room task, which merges
/// them per publisher stream.
pub fn link_branch(
    tee: &gst::Element,
    guard: &gst::Element,
    keyframes: Option<(PeerKey, u32)>,
    replay: Option<&std::sync::Arc<super::gop::GopCache>>,
    events: &RoomEvents,
) -> Result<gst::Pad, String> {
    let gsink = guard.static_pad("sink").ok_or("guard has no sink pad")?;
    attach_to_tee(tee, &gsink, keyframes, replay, events)
}

/// Requests a tee pad and links it to `sink` (a started branch: the
/// upstream link last). With `keyframes = Some((publisher, mindex))`,
/// keyframe requests coming up the branch (a subscriber's PLI/FIR, a
/// depayloader waiting for a keyframe) are posted to the room task, which
/// merges them per publisher stream.
pub fn attach_to_tee(
    tee: &gst::Element,
    sink: &gst::Pad,
    keyframes: Option<(PeerKey, u32)>,
    replay: Option<&std::sync::Arc<super::gop::GopCache>>,
    events: &RoomEvents,
) -> Result<gst::Pad, String> {
    let tee_pad = tee
        .request_pad_simple("src_%u")
        .ok_or("tee refused a src pad")?;
    // A keyframe cache goes first, before any live packet can pass.
    if let Some(cache) = replay {
        cache.replay_into(&tee_pad);
    }
    if let Some((publisher_handle, mindex)) = keyframes {
        let tx = events.clone();
        tee_pad.add_probe(gst::PadProbeType::EVENT_UPSTREAM, move |_, info| {
            if let Some(gst::PadProbeData::Event(ev)) = &info.data
                && gst_video::ForceKeyUnitEvent::is(ev)
            {
                // Rate-limited and forwarded by the room task.
                let _ = tx.send(RoomEvent::KeyframeRequest {
                    publisher_handle,
                    mindex,
                    force: false,
                });
                // Consumed here: take the event and report it handled (a
                // `Drop` return leaves core unreffing a pointer the binding
                // already released, a GLib critical on 1.22).
                info.data.take();
                return gst::PadProbeReturn::Handled;
            }
            gst::PadProbeReturn::Ok
        });
    }
    if let Err(e) = tee_pad.link(sink) {
        tee.release_request_pad(&tee_pad);
        return Err(format!("tee → branch: {e:?}"));
    }
    Ok(tee_pad)
}

/// Builds a flow guard: a bin whose sink pad forwards everything to its src
/// pad but never returns a downstream flow error upstream, and answers caps
/// queries itself (any caps: the branch sets its subscriber's caps). `tee` stops and
/// returns the error of any one branch, which would stall the publisher and
/// every other subscriber; behind a guard, a failing subscriber `webrtcbin`
/// is reported (once, as [`RoomEvent::BranchFailed`]) and torn down alone.
pub fn flow_guard(subscriber: PeerKey, events: &RoomEvents) -> gst::Element {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, OnceLock};

    let bin = gst::Bin::new();
    let src_slot: Arc<OnceLock<glib::WeakRef<gst::Pad>>> = Arc::new(OnceLock::new());
    let reported = Arc::new(AtomicBool::new(false));
    let guard = {
        let (tx, reported) = (events.clone(), reported.clone());
        move |r: Result<gst::FlowSuccess, gst::FlowError>| -> Result<gst::FlowSuccess, gst::FlowError> {
            if let Err(e) = r
                && e != gst::FlowError::Flushing
                && !reported.swap(true, Ordering::Relaxed)
            {
                let _ = tx.send(RoomEvent::BranchFailed { handle: subscriber, reason: format!("{e:?}") });
            }
            Ok(gst::FlowSuccess::Ok)
        }
    };
    let src_of =
        |slot: &Arc<OnceLock<glib::WeakRef<gst::Pad>>>| slot.get().and_then(|w| w.upgrade());
    let sink = gst::Pad::builder(gst::PadDirection::Sink)
        .name("sink")
        .chain_function({
            let (slot, guard) = (src_slot.clone(), guard.clone());
            move |_, _, buf| guard(src_of(&slot).map_or(Ok(gst::FlowSuccess::Ok), |p| p.push(buf)))
        })
        .chain_list_function({
            let slot = src_slot.clone();
            move |_, _, list| {
                guard(src_of(&slot).map_or(Ok(gst::FlowSuccess::Ok), |p| p.push_list(list)))
            }
        })
        .event_function({
            let slot = src_slot.clone();
            move |_, _, ev| {
                // A publisher stream that ends (its m-line renegotiated
                // inactive) sends EOS down its tee; a subscriber's
                // `webrtcbin` would then refuse every later buffer of that
                // m-line. Its end reaches the subscriber by renegotiation.
                if ev.type_() == gst::EventType::Eos {
                    return true;
                }
                src_of(&slot).is_some_and(|p| p.push_event(ev))
            }
        })
        .query_function({
            let slot = src_slot.clone();
            move |_, _, q| {
                // Caps are not negotiated through the guard: the branch
                // rewrites the caps event into the subscriber's own caps, and
                // one subscriber's preferences (e.g. a `profile-level-id`
                // string) must never constrain a stream shared by a tee.
                answer_any_caps(q) || src_of(&slot).is_some_and(|p| p.peer_query(q))
            }
        })
        .build();
    let sink_weak = sink.downgrade();
    let sink_weak2 = sink.downgrade();
    let src = gst::Pad::builder(gst::PadDirection::Src)
        .name("src")
        .event_function(move |_, _, ev| sink_weak.upgrade().is_some_and(|p| p.push_event(ev)))
        .query_function(move |_, _, q| sink_weak2.upgrade().is_some_and(|p| p.peer_query(q)))
        .build();
    let _ = src_slot.set(src.downgrade());
    // Pad names are unique on a fresh bin: adding cannot fail.
    let _ = bin.add_pad(&sink);
    let _ = bin.add_pad(&src);
    bin.upcast()
}

/// Answers a caps or accept-caps query on a pad that passes RTP of any
/// caps (the branch sets its peer's own caps): any caps (or the filter),
/// and accepted. Returns whether `q` was one of those.
pub(crate) fn answer_any_caps(q: &mut gst::QueryRef) -> bool {
    match q.view_mut() {
        gst::QueryViewMut::Caps(c) => {
            let any = gst::Caps::new_any();
            let result = c.filter().map_or(any, |f| f.to_owned());
            c.set_result(&result);
            true
        }
        gst::QueryViewMut::AcceptCaps(c) => {
            c.set_result(true);
            true
        }
        _ => false,
    }
}

/// Detaches a branch from its tee. The guard stays linked to the subscriber's
/// `webrtcbin` (transceivers cannot be removed on 1.22) and is retired with it.
pub fn detach_branch(tee: &gst::Element, tee_pad: &gst::Pad) {
    tee.release_request_pad(tee_pad);
}

/// Asks the publisher for a keyframe on the stream behind `tee`: an upstream
/// `GstForceKeyUnit` that webrtcbin's RTP session turns into a PLI.
pub fn request_keyframe(tee: &gst::Element) -> bool {
    let Some(sink) = tee.static_pad("sink") else {
        return false;
    };
    if !sink.is_linked() {
        return false;
    }
    sink.push_event(
        gst_video::UpstreamForceKeyUnitEvent::builder()
            .all_headers(true)
            .build(),
    )
}

/// Makes `pad` drop every buffer (`drop`) or pass them again; `probe` holds
/// the dropping probe while there is one. Dropped data is consumed and the
/// probe returns `Handled` (`Drop` triggers a GLib critical on 1.22).
pub fn set_dropping(pad: &gst::Pad, probe: &mut Option<gst::PadProbeId>, drop: bool) {
    match (drop, probe.take()) {
        (true, None) => {
            *probe = pad.add_probe(
                gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST,
                |_, info| {
                    info.data.take();
                    gst::PadProbeReturn::Handled
                },
            );
        }
        (false, Some(id)) => pad.remove_probe(id),
        (_, keep) => *probe = keep,
    }
}

/// The RFC 6464 client-to-mixer audio level header extension.
pub const AUDIO_LEVEL_URI: &str = "urn:ietf:params:rtp-hdrext:ssrc-audio-level";

/// The audio level (dBov: 0 loudest, 127 silence) an RTP packet carries in
/// its RFC 6464 header extension `id` (RFC 8285 one- or two-byte form), or
/// `None` when the packet has none. The voice-activity bit is ignored.
pub fn audio_level(buffer: &gst::BufferRef, id: u8) -> Option<u8> {
    let rtp = gst_rtp::RTPBuffer::from_buffer_readable(buffer).ok()?;
    let data = rtp
        .extension_onebyte_header(id, 0)
        .or_else(|| rtp.extension_twobytes_header(id, 0).map(|(_, d)| d))?;
    data.first().map(|b| b & 0x7f)
}

/// Watches a publisher's audio stream (its tee's sink pad) for RFC 6464
/// levels in extension `id` and posts one [`RoomEvent::AudioLevel`] per
/// packet (the packet rate, as the MCU's `level` messages). Packets pass
/// unchanged.
pub fn watch_audio_level(tee: &gst::Element, publisher: PeerKey, id: u8, events: &RoomEvents) {
    let Some(pad) = tee.static_pad("sink") else {
        return;
    };
    let tx = events.clone();
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        if let Some(dbov) = info.buffer().and_then(|b| audio_level(b, id)) {
            let _ = tx.send(RoomEvent::AudioLevel {
                handle: publisher,
                dbov,
            });
        }
        gst::PadProbeReturn::Ok
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An RTP packet with a one-byte-header extension element `id` = `level`.
    fn packet_with_level(id: u8, level: u8) -> gst::Buffer {
        let mut b = vec![0x90, 111, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2];
        b.extend([0xbe, 0xde, 0, 1, (id << 4), level, 0, 0]);
        b.extend([0xfc, 0xff, 0xfe]);
        gst::Buffer::from_slice(b)
    }

    #[test]
    fn reads_rfc6464_level_from_one_byte_extension() {
        gst::init().unwrap();
        let b = packet_with_level(1, 0x80 | 42);
        assert_eq!(audio_level(&b, 1), Some(42));
        assert_eq!(audio_level(&b, 2), None);
        let plain = gst::Buffer::from_slice(vec![0x80, 111, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2, 0xfc]);
        assert_eq!(audio_level(&plain, 1), None);
        assert_eq!(audio_level(&gst::Buffer::from_slice(vec![1, 2]), 1), None);
    }

    fn rtp_buffer(seq: u16) -> gst::Buffer {
        let mut b = vec![0x80, 96];
        b.extend(seq.to_be_bytes());
        b.extend([0, 0, 0, 9, 0, 0, 0, 1, 0xaa]);
        gst::Buffer::from_mut_slice(b)
    }

    #[test]
    fn flow_guard_passes_buffers_and_answers_caps_itself() {
        gst::init().unwrap();
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        let mut h = gst_check::Harness::with_element(
            &flow_guard(PeerKey(7), &tx),
            Some("sink"),
            Some("src"),
        );
        h.set_src_caps_str("application/x-rtp,media=video,encoding-name=VP8,payload=96");
        for seq in 0..3 {
            assert_eq!(h.push(rtp_buffer(seq)), Ok(gst::FlowSuccess::Ok));
        }
        for seq in 0..3u16 {
            let out = h.pull().expect("buffer through the guard");
            let map = out.map_readable().unwrap();
            assert_eq!(u16::from_be_bytes([map[2], map[3]]), seq);
        }
        // Any caps upstream: one subscriber's preferences never constrain the tee.
        let sink = h.element().and_then(|e| e.static_pad("sink")).unwrap();
        let mut q = gst::query::Caps::new(None);
        assert!(sink.query(&mut q));
        assert!(q.result().is_some_and(|c| c.is_any()));
    }

    #[test]
    fn flow_guard_keeps_a_failing_branch_from_the_tee_and_reports_it_once() {
        gst::init().unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        // No sink side: pushes out of the guard fail with not-linked, as a
        // subscriber's broken `webrtcbin` would.
        let mut h =
            gst_check::Harness::with_element(&flow_guard(PeerKey(7), &tx), Some("sink"), None);
        h.set_src_caps_str("application/x-rtp,media=video,encoding-name=VP8,payload=96");
        for seq in 0..3 {
            assert_eq!(
                h.push(rtp_buffer(seq)),
                Ok(gst::FlowSuccess::Ok),
                "the publisher's tee never sees the branch's error"
            );
        }
        match rx.try_recv() {
            Ok(RoomEvent::BranchFailed {
                handle: PeerKey(7),
                reason,
            }) => {
                assert!(reason.contains("NotLinked"), "{reason}")
            }
            other => panic!("expected BranchFailed for 7, got {other:?}"),
        }
        assert!(rx.try_recv().is_err(), "reported once");
    }
}

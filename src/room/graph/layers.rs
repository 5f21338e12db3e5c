//! Simulcast for one subscriber stream: a layer selector with one sink pad
//! per layer (each linked to that layer's tee) and one src pad toward the
//! subscriber's flow guard.
//!
//! - Only the active layer passes; the others are dropped at the pad, with
//!   no copy.
//! - A switch to the target layer happens on that layer's keyframe only.
//!   While waiting, each packet of the target layer older than
//!   [`KEYFRAME_RETRY`] since the last request asks the room for a keyframe
//!   of that layer again: browsers ignore requests that come too soon after
//!   the last one, so a single PLI (as Janus sends) can be lost.
//! - The rewrite keeps the subscriber's stream continuous across switches:
//!   one SSRC (announced in the subscriber's offer), sequence numbers and
//!   RTP timestamps that go on from the last packet sent, and for VP8 the
//!   payload descriptor's `PictureID` and `TL0PICIDX` (RFC 7741 §4.2).
//! - `temporal` drops VP8 packets of higher temporal layers (`TID`); the
//!   sequence numbers close over them, so the receiver sees no loss.
//! - `fallback`: when the active layer sends nothing for that long (a
//!   browser stops its top layer when bandwidth drops), the next lower layer
//!   that is flowing becomes the target; the requested layer is taken back
//!   once it flows again.
//!
//! Runs on the publisher's streaming threads: no room state is touched;
//! keyframe requests and switches are posted to the room task.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use gst::prelude::*;

use super::gop::starts_keyframe;
use super::peer::{RoomEvent, RoomEvents};
use crate::ids::PeerKey;
use crate::media::codec::Codec;
use crate::media::vp8::{picture_id_mask, read_picture_id, vp8_fields, write_picture_id};

/// The least time between two keyframe requests for the target layer.
pub const KEYFRAME_RETRY: Duration = Duration::from_millis(300);

/// Janus's default `fallback`: 250 ms without packets on the active layer.
pub const DEFAULT_FALLBACK: Duration = Duration::from_millis(250);

/// What the subscriber asked for (Janus's `substream`, `temporal`,
/// `fallback`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayerChoice {
    /// Substream, 0 = lowest; clamped to the layers there are.
    pub substream: usize,
    /// Highest VP8 temporal layer to forward (`None`: all).
    pub temporal: Option<u8>,
    /// Time without packets on the active layer before dropping one layer.
    pub fallback: Duration,
}

/// Who a selector reports to.
#[derive(Debug, Clone, Copy)]
pub struct SelectorIds {
    /// The subscriber's handle and its m-line.
    pub subscriber: PeerKey,
    /// The subscriber's m-line index.
    pub mline: u32,
    /// The publisher's handle and its stream's m-line.
    pub publisher: PeerKey,
    /// The publisher stream's m-line index.
    pub publisher_mindex: u32,
}

/// The offsets that map one layer onto the subscriber's stream.
#[derive(Debug, Default, Clone, Copy)]
struct Offsets {
    seq: u16,
    ts: u32,
    picture_id: u16,
    tl0: u8,
}

/// The last packet sent to the subscriber.
#[derive(Debug, Clone, Copy)]
struct Last {
    seq: u16,
    ts: u32,
    picture_id: Option<u16>,
    tl0: Option<u8>,
    at: Instant,
}

struct State {
    choice: LayerChoice,
    /// The layer being forwarded.
    active: Option<usize>,
    /// The layer to switch to at its next keyframe.
    target: usize,
    offsets: Offsets,
    last: Option<Last>,
    /// Per layer: when its last packet came.
    seen: Vec<Option<Instant>>,
    /// Per layer: bytes received so far (for the automatic layer's bitrates).
    bytes: Vec<u64>,
    last_request: Option<Instant>,
    /// Sticky events already forwarded (one of each type reaches the guard).
    sticky: Vec<gst::EventType>,
    /// When the selector was made: for one `fallback` the requested layer
    /// is waited for even before its first packet.
    created: Instant,
}

struct Shared {
    codec: Codec,
    ssrc: u32,
    ids: SelectorIds,
    events: RoomEvents,
    state: Mutex<State>,
    /// Serialises pushes from the layers' streaming threads.
    push: Mutex<()>,
    src: OnceLock<glib::WeakRef<gst::Pad>>,
    sinks: OnceLock<Vec<glib::WeakRef<gst::Pad>>>,
}

/// A subscriber stream's layer selector (see the module docs).
pub struct Selector {
    /// The bin: sink pads `sink_0` (lowest layer) … and `src`.
    pub element: gst::Element,
    shared: Arc<Shared>,
}

impl State {
    /// The layer the subscriber should get now: the requested one, or the
    /// highest flowing one below it when it has been silent for `fallback`.
    fn wanted(&self, now: Instant, layers: usize) -> usize {
        let want = self.choice.substream.min(layers.saturating_sub(1));
        let fresh =
            |i: usize| self.seen[i].is_some_and(|t| now.duration_since(t) < self.choice.fallback);
        if fresh(want) || now.duration_since(self.created) < self.choice.fallback {
            return want;
        }
        (0..want).rev().find(|&i| fresh(i)).unwrap_or(want)
    }
}

impl Selector {
    /// A selector for `layers` layers of `codec`, sending as `ssrc`.
    pub fn new(
        layers: usize,
        codec: Codec,
        ssrc: u32,
        choice: LayerChoice,
        ids: SelectorIds,
        events: &RoomEvents,
    ) -> Selector {
        let shared = Arc::new(Shared {
            codec,
            ssrc,
            ids,
            events: events.clone(),
            state: Mutex::new(State {
                choice,
                active: None,
                target: choice.substream.min(layers.saturating_sub(1)),
                offsets: Offsets::default(),
                last: None,
                seen: vec![None; layers],
                bytes: vec![0; layers],
                last_request: None,
                sticky: Vec::new(),
                created: Instant::now(),
            }),
            push: Mutex::new(()),
            src: OnceLock::new(),
            sinks: OnceLock::new(),
        });
        let bin = gst::Bin::new();
        let mut sinks = Vec::new();
        for layer in 0..layers {
            let sink = gst::Pad::builder(gst::PadDirection::Sink)
                .name(format!("sink_{layer}"))
                .chain_function({
                    let shared = shared.clone();
                    move |_, _, buf| {
                        shared.chain(layer, buf);
                        Ok(gst::FlowSuccess::Ok)
                    }
                })
                .chain_list_function({
                    let shared = shared.clone();
                    move |_, _, list| {
                        for buf in list.iter_owned() {
                            shared.chain(layer, buf);
                        }
                        Ok(gst::FlowSuccess::Ok)
                    }
                })
                .event_function({
                    let shared = shared.clone();
                    move |_, _, ev| shared.sink_event(layer, ev)
                })
                // Any caps: the branch sets the subscriber's own caps.
                .query_function(|_, _, q| super::sfu::answer_any_caps(q))
                .build();
            // Names are unique on a fresh bin: adding cannot fail.
            let _ = bin.add_pad(&sink);
            sinks.push(sink.downgrade());
        }
        let src = gst::Pad::builder(gst::PadDirection::Src)
            .name("src")
            .event_function({
                let shared = shared.clone();
                move |_, _, ev| shared.src_event(ev)
            })
            .query_function({
                let shared = shared.clone();
                move |_, _, q| shared.src_query(q)
            })
            .build();
        let _ = bin.add_pad(&src);
        let _ = shared.src.set(src.downgrade());
        let _ = shared.sinks.set(sinks);
        Selector {
            element: bin.upcast(),
            shared,
        }
    }

    /// Sink pad of `layer` (0 = lowest).
    pub fn sink(&self, layer: usize) -> Option<gst::Pad> {
        self.element.static_pad(&format!("sink_{layer}"))
    }

    /// Applies a new choice; a different substream becomes the target and
    /// is switched to at its next keyframe. Returns the clamped substream.
    pub fn set_choice(&self, choice: LayerChoice) -> usize {
        let mut st = self.shared.lock();
        let layers = st.seen.len();
        let clamped = choice.substream.min(layers.saturating_sub(1));
        st.choice = LayerChoice {
            substream: clamped,
            ..choice
        };
        st.target = st.wanted(Instant::now(), layers);
        st.last_request = None;
        clamped
    }

    /// The layer being forwarded, if any yet.
    pub fn active(&self) -> Option<usize> {
        self.shared.lock().active
    }

    /// The subscriber's choice.
    pub fn choice(&self) -> LayerChoice {
        self.shared.lock().choice
    }

    /// Bytes received on each layer so far, lowest first.
    pub fn layer_bytes(&self) -> Vec<u64> {
        self.shared.lock().bytes.clone()
    }

    /// The SSRC the subscriber receives this stream with.
    pub fn ssrc(&self) -> u32 {
        self.shared.ssrc
    }

    /// Whether each layer sent a packet within the last second.
    pub fn flowing(&self) -> Vec<bool> {
        let now = Instant::now();
        self.shared
            .lock()
            .seen
            .iter()
            .map(|t| t.is_some_and(|t| now.duration_since(t) < Duration::from_secs(1)))
            .collect()
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn src(&self) -> Option<gst::Pad> {
        self.src.get().and_then(|w| w.upgrade())
    }

    fn request_keyframe(&self, st: &mut State, layer: usize, now: Instant) {
        if st
            .last_request
            .is_some_and(|t| now.duration_since(t) < KEYFRAME_RETRY)
        {
            return;
        }
        st.last_request = Some(now);
        let _ = self.events.send(RoomEvent::LayerKeyframe {
            publisher_handle: self.ids.publisher,
            mindex: self.ids.publisher_mindex,
            layer,
        });
    }

    /// One packet of `layer`: dropped, or rewritten and sent.
    fn chain(&self, layer: usize, mut buf: gst::Buffer) {
        let now = Instant::now();
        let mut st = self.lock();
        st.seen[layer] = Some(now);
        st.bytes[layer] += buf.size() as u64;
        let layers = st.seen.len();
        let wanted = st.wanted(now, layers);
        if wanted != st.target {
            st.target = wanted;
            st.last_request = None;
        }
        if st.active != Some(layer) {
            if layer != st.target {
                return;
            }
            let Ok(map) = buf.map_readable() else { return };
            if !starts_keyframe(self.codec, &map) {
                drop(map);
                self.request_keyframe(&mut st, layer, now);
                return;
            }
            // Switch: this keyframe goes on right after the last packet sent.
            let seq = u16::from_be_bytes([map[2], map[3]]);
            let ts = u32::from_be_bytes([map[4], map[5], map[6], map[7]]);
            let vp8 = (self.codec == Codec::Vp8)
                .then(|| vp8_fields(&map))
                .flatten()
                .unwrap_or_default();
            if let Some(last) = st.last {
                let elapsed = now.duration_since(last.at).as_millis() as u32;
                let ticks = (elapsed * (self.codec.clock_rate() as u32 / 1000)).max(1);
                st.offsets.seq = last.seq.wrapping_add(1).wrapping_sub(seq);
                st.offsets.ts = last.ts.wrapping_add(ticks).wrapping_sub(ts);
                if let (Some(pid_at), Some(last_pid)) = (vp8.picture_id, last.picture_id) {
                    let pid = read_picture_id(&map, pid_at);
                    st.offsets.picture_id = last_pid.wrapping_add(1).wrapping_sub(pid);
                }
                if let (Some(tl0_at), Some(last_tl0)) = (vp8.tl0, last.tl0) {
                    st.offsets.tl0 = last_tl0.wrapping_add(1).wrapping_sub(map[tl0_at]);
                }
            }
            drop(map);
            st.active = Some(layer);
            st.last_request = None;
            let _ = self.events.send(RoomEvent::LayerSwitched {
                subscriber: self.ids.subscriber,
                mline: self.ids.mline,
                layer,
            });
        }
        let Ok(mut map) = buf.make_mut().map_writable() else {
            return;
        };
        let vp8 = (self.codec == Codec::Vp8)
            .then(|| vp8_fields(&map))
            .flatten()
            .unwrap_or_default();
        if let (Some(max), Some(tid)) = (st.choice.temporal, vp8.tid)
            && tid > max
        {
            // Dropped: later sequence numbers close the gap.
            st.offsets.seq = st.offsets.seq.wrapping_sub(1);
            return;
        }
        let seq = u16::from_be_bytes([map[2], map[3]]).wrapping_add(st.offsets.seq);
        let ts = u32::from_be_bytes([map[4], map[5], map[6], map[7]]).wrapping_add(st.offsets.ts);
        map[2..4].copy_from_slice(&seq.to_be_bytes());
        map[4..8].copy_from_slice(&ts.to_be_bytes());
        map[8..12].copy_from_slice(&self.ssrc.to_be_bytes());
        let mut last = Last {
            seq,
            ts,
            picture_id: None,
            tl0: None,
            at: now,
        };
        if let Some(at) = vp8.picture_id {
            let pid = read_picture_id(&map, at).wrapping_add(st.offsets.picture_id)
                & picture_id_mask(at.1);
            write_picture_id(&mut map, at, pid);
            last.picture_id = Some(pid);
        }
        if let Some(at) = vp8.tl0 {
            map[at] = map[at].wrapping_add(st.offsets.tl0);
            last.tl0 = Some(map[at]);
        }
        drop(map);
        st.last = Some(last);
        drop(st);
        let _push = self.push.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(src) = self.src() {
            let _ = src.push(buf);
        }
    }

    /// Downstream events: one of each sticky type (stream-start, caps,
    /// segment) goes on; others only from the active layer.
    fn sink_event(&self, layer: usize, ev: gst::Event) -> bool {
        let ty = ev.type_();
        {
            let mut st = self.lock();
            if ty == gst::EventType::Eos {
                // One layer ending is no end of the subscriber's stream.
                return true;
            }
            if ev.is_sticky() {
                if st.sticky.contains(&ty) {
                    return true;
                }
                st.sticky.push(ty);
            } else if st.active != Some(layer) {
                return true;
            }
        }
        self.src().is_some_and(|p| p.push_event(ev))
    }

    /// Upstream events: keyframe requests (the subscriber's PLI/FIR) go to
    /// the room for the active layer; others up the active layer's pad.
    fn src_event(&self, ev: gst::Event) -> bool {
        let (active, target) = {
            let st = self.lock();
            (st.active, st.target)
        };
        if gst_video::ForceKeyUnitEvent::is(&ev) {
            let _ = self.events.send(RoomEvent::LayerKeyframe {
                publisher_handle: self.ids.publisher,
                mindex: self.ids.publisher_mindex,
                layer: active.unwrap_or(target),
            });
            return true;
        }
        self.sinks
            .get()
            .and_then(|s| s.get(active.unwrap_or(target)))
            .and_then(|w| w.upgrade())
            .is_some_and(|p| p.push_event(ev))
    }

    fn src_query(&self, q: &mut gst::QueryRef) -> bool {
        let layer = {
            let st = self.lock();
            st.active.unwrap_or(st.target)
        };
        self.sinks
            .get()
            .and_then(|s| s.get(layer))
            .and_then(|w| w.upgrade())
            .is_some_and(|p| p.peer_query(q))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A VP8 RTP packet: sequence number, timestamp, SSRC, 15-bit picture id,
    /// TL0PICIDX and TID, keyframe or not.
    fn vp8(seq: u16, ts: u32, ssrc: u32, pid: u16, tl0: u8, tid: u8, key: bool) -> gst::Buffer {
        let mut b = vec![0x80, 96];
        b.extend(seq.to_be_bytes());
        b.extend(ts.to_be_bytes());
        b.extend(ssrc.to_be_bytes());
        // X, S, PID 0; I, L, T; M + 15-bit picture id; TL0PICIDX; TID.
        b.extend([
            0x90,
            0xe0,
            0x80 | (pid >> 8) as u8,
            pid as u8,
            tl0,
            tid << 6,
        ]);
        b.push(if key { 0x00 } else { 0x01 });
        gst::Buffer::from_mut_slice(b)
    }

    struct Out {
        seq: u16,
        ts: u32,
        ssrc: u32,
        pid: u16,
        tl0: u8,
    }

    fn read(b: &gst::Buffer) -> Out {
        let m = b.map_readable().unwrap();
        let f = vp8_fields(&m).unwrap();
        Out {
            seq: u16::from_be_bytes([m[2], m[3]]),
            ts: u32::from_be_bytes([m[4], m[5], m[6], m[7]]),
            ssrc: u32::from_be_bytes([m[8], m[9], m[10], m[11]]),
            pid: read_picture_id(&m, f.picture_id.unwrap()),
            tl0: m[f.tl0.unwrap()],
        }
    }

    fn ids() -> SelectorIds {
        SelectorIds {
            subscriber: PeerKey(2),
            mline: 0,
            publisher: PeerKey(1),
            publisher_mindex: 1,
        }
    }

    fn choice(substream: usize) -> LayerChoice {
        LayerChoice {
            substream,
            temporal: None,
            fallback: Duration::from_secs(5),
        }
    }

    /// Drives a selector with an appsink on its src.
    fn harness(sel: &Selector) -> (gst_check::Harness, Vec<gst::Pad>) {
        let h = gst_check::Harness::with_element(&sel.element, None, Some("src"));
        let srcs = (0..3)
            .map(|i| {
                let src = gst::Pad::builder(gst::PadDirection::Src)
                    .name(format!("up_{i}"))
                    .build();
                src.set_active(true).unwrap();
                src.link(&sel.sink(i).unwrap()).unwrap();
                src.push_event(gst::event::StreamStart::new("s"));
                src.push_event(gst::event::Caps::new(
                    &gst::Caps::builder("application/x-rtp")
                        .field("encoding-name", "VP8")
                        .build(),
                ));
                src.push_event(gst::event::Segment::new(&gst::FormattedSegment::<
                    gst::ClockTime,
                >::new()));
                src
            })
            .collect();
        (h, srcs)
    }

    #[test]
    fn switches_on_a_keyframe_of_the_target_and_keeps_the_stream_continuous() {
        gst::init().unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let sel = Selector::new(3, Codec::Vp8, 0xabcd, choice(0), ids(), &tx);
        let (mut h, up) = harness(&sel);
        // Layer 0 (ssrc 100) starts with a delta frame: dropped, keyframe asked.
        let _ = up[0].push(vp8(10, 1000, 100, 50, 5, 0, false));
        assert!(h.try_pull().is_none());
        assert!(matches!(
            rx.try_recv(),
            Ok(RoomEvent::LayerKeyframe { layer: 0, .. })
        ));
        // Layer 2 is not the target: dropped.
        let _ = up[2].push(vp8(900, 77_000, 300, 7000, 90, 0, true));
        assert!(h.try_pull().is_none());
        // Layer 0's keyframe: the switch.
        let _ = up[0].push(vp8(11, 4000, 100, 51, 6, 0, true));
        let _ = up[0].push(vp8(12, 7000, 100, 52, 7, 0, false));
        let a = read(&h.pull().unwrap());
        let b = read(&h.pull().unwrap());
        assert_eq!(
            (a.seq, a.ts, a.ssrc, a.pid, a.tl0),
            (11, 4000, 0xabcd, 51, 6)
        );
        assert_eq!((b.seq, b.pid, b.tl0), (12, 52, 7));
        assert!(matches!(
            rx.try_recv(),
            Ok(RoomEvent::LayerSwitched { layer: 0, .. })
        ));
        // To layer 2: its delta frames are dropped until its keyframe.
        assert_eq!(sel.set_choice(choice(7)), 2, "clamped to the top layer");
        let _ = up[2].push(vp8(901, 80_000, 300, 7001, 91, 0, false));
        let _ = up[0].push(vp8(13, 10_000, 100, 53, 8, 0, false));
        let c = read(&h.pull().unwrap());
        assert_eq!(c.seq, 13, "layer 0 goes on until layer 2's keyframe");
        let _ = up[2].push(vp8(902, 83_000, 300, 7002, 92, 0, true));
        let _ = up[0].push(vp8(14, 13_000, 100, 54, 9, 0, false));
        let d = read(&h.pull().unwrap());
        assert_eq!(
            (d.seq, d.ssrc, d.pid, d.tl0),
            (14, 0xabcd, 54, 9),
            "continuous"
        );
        assert!(
            d.ts > c.ts && d.ts - c.ts < 90_000,
            "{} after {}",
            d.ts,
            c.ts
        );
        assert!(h.try_pull().is_none(), "layer 0 dropped after the switch");
        let _ = up[2].push(vp8(903, 86_000, 300, 7003, 93, 0, false));
        let e = read(&h.pull().unwrap());
        assert_eq!((e.seq, e.ts - d.ts, e.pid, e.tl0), (15, 3000, 55, 10));
    }

    #[test]
    fn temporal_drops_higher_layers_without_a_sequence_gap() {
        gst::init().unwrap();
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        let sel = Selector::new(
            3,
            Codec::Vp8,
            1,
            LayerChoice {
                temporal: Some(0),
                ..choice(0)
            },
            ids(),
            &tx,
        );
        let (mut h, up) = harness(&sel);
        let _ = up[0].push(vp8(10, 0, 100, 1, 1, 0, true));
        let _ = up[0].push(vp8(11, 3000, 100, 2, 1, 1, false));
        let _ = up[0].push(vp8(12, 6000, 100, 3, 2, 0, false));
        let seqs: Vec<u16> = (0..2).map(|_| read(&h.pull().unwrap()).seq).collect();
        assert_eq!(seqs, [10, 11]);
        assert!(h.try_pull().is_none());
    }

    #[test]
    fn falls_back_when_the_active_layer_stops() {
        gst::init().unwrap();
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        let sel = Selector::new(
            3,
            Codec::Vp8,
            1,
            LayerChoice {
                fallback: Duration::from_millis(50),
                ..choice(2)
            },
            ids(),
            &tx,
        );
        let (mut h, up) = harness(&sel);
        let _ = up[2].push(vp8(1, 0, 300, 1, 1, 0, true));
        assert_eq!(read(&h.pull().unwrap()).seq, 1);
        std::thread::sleep(Duration::from_millis(80));
        // Layer 2 went silent: layer 1's keyframe takes over.
        let _ = up[1].push(vp8(500, 9000, 200, 40, 4, 0, true));
        let f = read(&h.pull().unwrap());
        assert_eq!((f.seq, f.pid, f.tl0), (2, 2, 2));
        assert_eq!(sel.active(), Some(1));
    }

    #[test]
    fn reads_vp8_descriptors() {
        gst::init().unwrap();
        let b = vp8(1, 2, 3, 0x1234, 9, 2, true);
        let m = b.map_readable().unwrap();
        let f = vp8_fields(&m).unwrap();
        assert_eq!(f.picture_id, Some((14, true)));
        assert_eq!(read_picture_id(&m, f.picture_id.unwrap()), 0x1234);
        assert_eq!((f.tl0, f.tid), (Some(16), Some(2)));
    }
}

//! Where simulcast layers enter a room graph:
//! - [`router`]: each RTP pad a publisher's `webrtcbin` exposes for a
//!   simulcast stream (one per layer SSRC) goes to its layer's tee, found
//!   from the packets' rid or SSRC;
//! - [`MixLayers`]: the MCU mix's input of a simulcast publisher, a
//!   [`Selector`] before the decoder that takes the layer fitting the tile.

use std::sync::{Arc, OnceLock};

use gst::prelude::*;

use super::layers::{DEFAULT_FALLBACK, LayerChoice, Selector, SelectorIds};
use super::peer::{RoomEvent, RoomEvents};
use crate::ids::PeerKey;
use crate::media::codec::Codec;
use crate::media::simulcast::{LayerKey, packet_rid};

/// A simulcast publisher's input to the MCU mix: a layer selector in front
/// of the decoder, so the mix decodes the layer that fits the publisher's
/// tile (no decoding 1280x720 for a 320-pixel tile), switching on keyframes
/// like a subscriber does.
pub struct MixLayers {
    selector: Selector,
    pads: Vec<(gst::Element, gst::Pad)>,
    /// The decoded width, px (0 before the first frame), and the layer it
    /// was decoded from: the other layers' widths follow (each layer half
    /// the next one's size, as janus.js and Chrome send them).
    decoded_width: Arc<std::sync::atomic::AtomicU32>,
}

impl MixLayers {
    /// Links every layer tee to a new selector whose src goes to `sink`
    /// (the decoder branch's input), starting at `substream`. `decoded` is
    /// the decoder's src pad (its caps tell the layer's real width).
    #[allow(clippy::too_many_arguments)]
    pub fn attach(
        pipeline: &gst::Pipeline,
        tees: &[gst::Element],
        sink: &gst::Pad,
        decoded: &gst::Pad,
        codec: Codec,
        substream: usize,
        ids: SelectorIds,
        events: &RoomEvents,
    ) -> Result<MixLayers, String> {
        let choice = LayerChoice {
            substream,
            temporal: None,
            fallback: DEFAULT_FALLBACK,
        };
        // The decoder's input SSRC never changes: any fixed value does.
        let selector = Selector::new(tees.len(), codec, 0x6d69_7800, choice, ids, events);
        pipeline.add(&selector.element).map_err(|e| e.to_string())?;
        let src = selector.element.static_pad("src").ok_or("selector src")?;
        src.link(sink)
            .map_err(|e| format!("selector → mix input: {e:?}"))?;
        selector
            .element
            .sync_state_with_parent()
            .map_err(|e| e.to_string())?;
        let mut pads = Vec::new();
        for (i, tee) in tees.iter().enumerate() {
            let layer_sink = selector.sink(i).ok_or("selector sink")?;
            pads.push((
                tee.clone(),
                super::sfu::attach_to_tee(tee, &layer_sink, None, None, events)?,
            ));
        }
        let decoded_width = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let w = decoded_width.clone();
        decoded.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, move |_, info| {
            if let Some(gst::PadProbeData::Event(ev)) = &info.data
                && let gst::EventView::Caps(c) = ev.view()
                && let Some(width) = c
                    .caps()
                    .structure(0)
                    .and_then(|s| s.get::<i32>("width").ok())
            {
                w.store(width.max(0) as u32, std::sync::atomic::Ordering::Relaxed);
            }
            gst::PadProbeReturn::Ok
        });
        Ok(MixLayers {
            selector,
            pads,
            decoded_width,
        })
    }

    /// The layer being decoded, if any yet.
    pub fn active(&self) -> Option<usize> {
        self.selector.active()
    }

    /// The selector element (retired with the input).
    pub fn element(&self) -> &gst::Element {
        &self.selector.element
    }

    /// Picks the lowest layer at least `tile_width` wide. Layer widths come
    /// from the decoded width of the layer relayed, halving per layer
    /// down; before any frame, the top layer is taken to be `mix_width`.
    pub fn fit(&self, tile_width: u32, mix_width: u32) -> usize {
        let layers = self.pads.len();
        let top = layers.saturating_sub(1);
        let decoded = self
            .decoded_width
            .load(std::sync::atomic::Ordering::Relaxed);
        let top_width = match self.selector.active() {
            Some(a) if decoded > 0 => decoded << (top - a.min(top)),
            _ => mix_width,
        };
        let pick = fit_layer(layers, top_width, tile_width);
        let mut choice = self.selector.choice();
        if choice.substream != pick {
            choice.substream = pick;
            self.selector.set_choice(choice);
        }
        pick
    }

    /// Releases the tee pads (first step of removing the input).
    pub fn detach(&self) {
        for (tee, pad) in &self.pads {
            tee.release_request_pad(pad);
        }
    }
}

/// The lowest of `layers` layers (each half as wide as the next, the top
/// one `top_width` px) that is at least `tile_width` wide; the top layer
/// when none is.
pub fn fit_layer(layers: usize, top_width: u32, tile_width: u32) -> usize {
    let top = layers.saturating_sub(1);
    (0..top)
        .find(|&i| (top_width >> (top - i)) >= tile_width)
        .unwrap_or(top)
}

/// Routes one RTP pad of a publisher's simulcast stream (one SSRC) to its
/// layer's tee: the layer is found from the first packet that names it
/// (its SSRC in an `a=ssrc-group:SIM`, or its rid in the `rtp-stream-id`
/// header extension, which Chrome sends only at the start of a stream);
/// packets before that are dropped. Then the router's src pad is linked to
/// the tee, so keyframe requests for the layer go back up to this SSRC (the
/// RTP session's PLI), and [`RoomEvent::LayerUp`] is posted.
pub fn router(
    keys: Vec<LayerKey>,
    rid_ext: Option<u8>,
    tees: Vec<gst::Element>,
    handle: PeerKey,
    mindex: u32,
    events: &RoomEvents,
) -> gst::Element {
    let bin = gst::Bin::new();
    let routed: Arc<OnceLock<usize>> = Arc::new(OnceLock::new());
    let sink_slot: Arc<OnceLock<glib::WeakRef<gst::Pad>>> = Arc::new(OnceLock::new());
    let src = gst::Pad::builder(gst::PadDirection::Src)
        .name("src")
        // Upstream events (a layer's keyframe request) go back to the SSRC.
        .event_function({
            let slot = sink_slot.clone();
            move |_, _, ev| {
                slot.get()
                    .and_then(|w| w.upgrade())
                    .is_some_and(|p| p.push_event(ev))
            }
        })
        .query_function(|_, _, q| super::sfu::answer_any_caps(q))
        .build();
    let src_weak = src.downgrade();
    let sink = gst::Pad::builder(gst::PadDirection::Sink)
        .name("sink")
        .chain_function({
            let (routed, src_weak, tx) = (routed.clone(), src_weak.clone(), events.clone());
            move |sink, _, buf| {
                let Some(src) = src_weak.upgrade() else {
                    return Ok(gst::FlowSuccess::Ok);
                };
                if routed.get().is_none() {
                    let layer = {
                        let Ok(map) = buf.map_readable() else {
                            return Ok(gst::FlowSuccess::Ok);
                        };
                        let ssrc = map
                            .get(8..12)
                            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
                        keys.iter()
                            .position(|k| matches!(k, LayerKey::Ssrc(s) if Some(*s) == ssrc))
                            .or_else(|| {
                                let rid = packet_rid(&buf, rid_ext?)?;
                                keys.iter()
                                    .position(|k| matches!(k, LayerKey::Rid(r) if *r == rid))
                            })
                            .map(|l| (l, ssrc.unwrap_or(0)))
                    };
                    let Some((layer, ssrc)) = layer else {
                        // Not yet named (or no layer of this stream): dropped.
                        return Ok(gst::FlowSuccess::Ok);
                    };
                    let Some(tee_sink) = tees.get(layer).and_then(|t| t.static_pad("sink")) else {
                        return Ok(gst::FlowSuccess::Ok);
                    };
                    if tee_sink.is_linked() || src.link(&tee_sink).is_err() {
                        // Another SSRC already feeds that layer.
                        return Ok(gst::FlowSuccess::Ok);
                    }
                    sink.sticky_events_foreach(|ev| {
                        let _ = src.push_event(ev.clone());
                        std::ops::ControlFlow::Continue(gst::EventForeachAction::Keep)
                    });
                    let _ = routed.set(layer);
                    let _ = tx.send(RoomEvent::LayerUp {
                        handle,
                        mindex,
                        layer,
                        ssrc,
                    });
                }
                // A layer's tee never fails (allow-not-linked); nothing
                // from one layer may stop the publisher's other layers.
                let _ = src.push(buf);
                Ok(gst::FlowSuccess::Ok)
            }
        })
        .event_function({
            let (routed, src_weak) = (routed.clone(), src_weak.clone());
            move |_, _, ev| {
                if routed.get().is_none() {
                    // Kept on this pad (sticky) and replayed once routed.
                    return true;
                }
                src_weak.upgrade().is_some_and(|p| p.push_event(ev))
            }
        })
        .query_function(|_, _, q| super::sfu::answer_any_caps(q))
        .build();
    let _ = sink_slot.set(sink.downgrade());
    // Names are unique on a fresh bin: adding cannot fail.
    let _ = bin.add_pad(&sink);
    let _ = bin.add_pad(&src);
    bin.upcast()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_router_links_a_pad_to_the_layer_its_rid_names() {
        gst::init().unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let pipeline = gst::Pipeline::new();
        let tees: Vec<gst::Element> = (0..3)
            .map(|_| super::super::sfu::make_tee_unstarted("t").unwrap())
            .collect();
        let tees: Vec<gst::Element> = tees
            .into_iter()
            .enumerate()
            .map(|(i, t)| {
                t.set_property("name", format!("tee{i}"));
                t
            })
            .collect();
        for t in &tees {
            pipeline.add(t).unwrap();
        }
        let keys = vec![
            LayerKey::Rid("l".into()),
            LayerKey::Rid("m".into()),
            LayerKey::Rid("h".into()),
        ];
        let r = router(keys, Some(10), tees.clone(), PeerKey(1), 1, &tx);
        pipeline.add(&r).unwrap();
        let sink = gst::ElementFactory::make("appsink").build().unwrap();
        pipeline.add(&sink).unwrap();
        tees[1].link(&sink).unwrap();
        pipeline.set_state(gst::State::Playing).unwrap();
        let up = gst::Pad::builder(gst::PadDirection::Src).name("up").build();
        up.set_active(true).unwrap();
        up.link(&r.static_pad("sink").unwrap()).unwrap();
        up.push_event(gst::event::StreamStart::new("s"));
        up.push_event(gst::event::Caps::new(
            &gst::Caps::builder("application/x-rtp").build(),
        ));
        up.push_event(gst::event::Segment::new(&gst::FormattedSegment::<
            gst::ClockTime,
        >::new()));
        let mut b = vec![0x90, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2];
        b.extend([0xbe, 0xde, 0, 1, (10 << 4), b'm', 0, 0]);
        b.extend([0x10, 0x00]);
        assert_eq!(
            up.push(gst::Buffer::from_slice(b)),
            Ok(gst::FlowSuccess::Ok)
        );
        assert!(matches!(
            rx.try_recv(),
            Ok(RoomEvent::LayerUp {
                layer: 1,
                ssrc: 2,
                ..
            })
        ));
        let appsink = sink.downcast::<gst_app::AppSink>().unwrap();
        assert!(
            appsink
                .try_pull_sample(gst::ClockTime::from_seconds(2))
                .is_some()
        );
        pipeline.set_state(gst::State::Null).unwrap();
    }

    #[test]
    fn the_mix_takes_the_lowest_layer_that_fills_the_tile() {
        // 1280 / 640 / 320 wide.
        assert_eq!(fit_layer(3, 1280, 1280), 2);
        assert_eq!(fit_layer(3, 1280, 640), 1);
        assert_eq!(fit_layer(3, 1280, 426), 1);
        assert_eq!(fit_layer(3, 1280, 320), 0);
        assert_eq!(fit_layer(3, 1280, 100), 0);
        assert_eq!(fit_layer(3, 640, 1280), 2, "none is wide enough: the top");
        assert_eq!(fit_layer(2, 1280, 600), 0);
    }
}

//! Simulcast in the room: a subscriber's layer choice (Janus's `substream`,
//! `temporal`, `fallback`), keyframe requests per layer, and the layer
//! events (see [`super::layers`] for the per-packet part).

use super::auto_layer::{AutoLayer, Report};
use super::graph::feedback::Feedback;
use super::*;
use layers::{DEFAULT_FALLBACK, LayerChoice};

/// A subscriber stream's automatic layer: the controller and the layer
/// byte counts of the last report (for the layers' bitrates).
#[derive(Debug, Clone)]
pub(super) struct AutoState {
    ctl: AutoLayer,
    last: Option<(Instant, Vec<u64>)>,
}

impl AutoState {
    pub(super) fn new(layers: usize) -> AutoState {
        AutoState {
            ctl: AutoLayer::new(layers),
            last: None,
        }
    }

    /// The layer the controller wants.
    pub(super) fn layer(&self) -> usize {
        self.ctl.layer()
    }
}

/// Spacing of keyframe requests for one layer from all its subscribers.
const LAYER_KEYFRAME_SPACING: Duration = Duration::from_millis(250);

/// A subscriber's layer choice: `req` over `current` (a new subscription:
/// the top layer, every temporal layer, Janus's 250 ms fallback), with the
/// substream clamped to the `layers` there are.
pub(super) fn choice(
    current: Option<LayerChoice>,
    req: LayerRequest,
    layers: usize,
) -> LayerChoice {
    let top = layers.saturating_sub(1);
    let base = current.unwrap_or(LayerChoice {
        substream: top,
        temporal: None,
        fallback: DEFAULT_FALLBACK,
    });
    LayerChoice {
        substream: req
            .substream
            .map_or(base.substream, |s| (s as usize).min(top)),
        temporal: match req.temporal {
            Some(t) => Some(t.min(u64::from(u8::MAX)) as u8),
            None => base.temporal,
        },
        fallback: req.fallback_us.map_or(base.fallback, Duration::from_micros),
    }
}

impl Room {
    /// A selector needs a keyframe of a layer: the layer's SSRC gets a PLI
    /// (requests from many subscribers are merged).
    pub(super) fn layer_keyframe(&mut self, publisher: PeerKey, mindex: u32, layer: usize) {
        let Some(l) = self
            .participants
            .get_mut(&publisher)
            .and_then(|p| p.publication.as_mut())
            .and_then(|p| p.streams.iter_mut().find(|s| s.mindex == mindex))
            .and_then(|s| s.layers.get_mut(layer))
        else {
            return;
        };
        let now = Instant::now();
        if l.last_keyframe_request
            .is_some_and(|t| now.duration_since(t) < LAYER_KEYFRAME_SPACING)
        {
            return;
        }
        if sfu::request_keyframe(&l.tee) {
            l.last_keyframe_request = Some(now);
            debug!(handle_id = %publisher, mindex, layer, "layer keyframe requested");
        }
    }

    /// A subscriber stream relays another layer: Janus's event.
    pub(super) fn layer_switched(&mut self, subscriber: PeerKey, mline: u32, layer: usize) {
        let Some(sub) = self.subscribers.get(&subscriber) else {
            return;
        };
        let Some(st) = sub.streams.iter().find(|st| st.mindex == mline) else {
            return;
        };
        let temporal = st.selector.as_ref().and_then(|s| s.choice().temporal);
        info!(handle_id = %subscriber, mid = %st.mid, substream = layer, "simulcast layer switched");
        let notice = Notice::Layer {
            mid: st.mid.clone(),
            substream: layer,
            temporal,
        };
        let h = sub.h;
        self.notify(h, notice);
    }

    /// A subscriber's RTCP: each automatic simulcast stream it reports on
    /// may move a layer (the REMB estimate is shared out evenly among them).
    pub(super) fn receiver_feedback(&mut self, handle: PeerKey, fb: Feedback) {
        let Some(sub) = self.subscribers.get_mut(&handle) else {
            return;
        };
        let autos = sub.streams.iter().filter(|s| s.auto.is_some()).count();
        if autos == 0 {
            return;
        }
        let now = Instant::now();
        for st in sub.streams.iter_mut() {
            let (Some(sel), Some(auto)) = (&st.selector, st.auto.as_mut()) else {
                continue;
            };
            let Some(&(_, fraction)) = fb.losses.iter().find(|(ssrc, _)| *ssrc == sel.ssrc())
            else {
                continue;
            };
            let bytes = sel.layer_bytes();
            let bps: Vec<f64> = match &auto.last {
                Some((at, prev)) if now > *at => {
                    let secs = now.duration_since(*at).as_secs_f64();
                    bytes
                        .iter()
                        .zip(prev)
                        .map(|(b, p)| b.saturating_sub(*p) as f64 * 8.0 / secs)
                        .collect()
                }
                _ => Vec::new(),
            };
            auto.last = Some((now, bytes));
            let report = Report {
                loss: f64::from(fraction) / 256.0,
                remb_bps: fb.remb_bps.map(|b| b as f64 / autos as f64),
            };
            if let Some(layer) = auto.ctl.on_report(now, report, &bps) {
                info!(handle_id = %handle, mid = %st.mid, substream = layer,
                      loss = report.loss, remb_bps = ?report.remb_bps, "automatic simulcast layer");
                let mut c = sel.choice();
                c.substream = layer;
                sel.set_choice(c);
            }
        }
    }

    /// A layer's first packet: its SSRC is known.
    pub(super) fn layer_up(&mut self, handle: PeerKey, mindex: u32, layer: usize, ssrc: u32) {
        if let Some(l) = self
            .participants
            .get_mut(&handle)
            .and_then(|p| p.publication.as_mut())
            .and_then(|p| p.streams.iter_mut().find(|s| s.mindex == mindex))
            .and_then(|s| s.layers.get_mut(layer))
        {
            l.ssrc = Some(ssrc);
            info!(handle_id = %handle, mindex, layer, ssrc, "simulcast layer receiving");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_choice_clamps_and_keeps_what_is_not_asked() {
        let first = choice(None, LayerRequest::default(), 3);
        assert_eq!(
            (first.substream, first.temporal, first.fallback),
            (2, None, DEFAULT_FALLBACK)
        );
        let low = choice(
            Some(first),
            LayerRequest {
                substream: Some(0),
                ..Default::default()
            },
            3,
        );
        assert_eq!(low.substream, 0);
        let clamped = choice(
            Some(low),
            LayerRequest {
                substream: Some(9),
                temporal: Some(1),
                fallback_us: Some(500_000),
                ..Default::default()
            },
            3,
        );
        assert_eq!(
            (clamped.substream, clamped.temporal, clamped.fallback),
            (2, Some(1), Duration::from_millis(500))
        );
        assert_eq!(choice(Some(clamped), LayerRequest::default(), 3), clamped);
    }
}

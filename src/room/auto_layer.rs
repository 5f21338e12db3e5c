//! Automatic simulcast layer choice for one subscriber stream, from that
//! subscriber's own RTCP (beyond Janus, which only switches on request).
//!
//! Inputs, about once a second per receiver report:
//! - the fraction of packets lost on the stream (RFC 3550 §6.4.1 `fraction
//!   lost`, 0..=255 for 0..100 %);
//! - the subscriber's REMB estimate, when its browser sends one
//!   (draft-alvestrand-rmcat-remb), shared out among its simulcast streams;
//! - each layer's bitrate as it arrives from the publisher.
//!
//! Rules, with hysteresis so a layer does not flap:
//! - **down** one layer when the loss stays above [`LOSS_DOWN`] for
//!   [`DOWN_AFTER`], or the REMB share is below 85 % of the relayed layer's
//!   bitrate for as long;
//! - **up** one layer only after the loss stayed below [`LOSS_UP`] (and the
//!   REMB share, if any, covered 110 % of the next layer) for the current
//!   hold time, which starts at [`HOLD_MIN`], doubles each time a layer
//!   taken up has to be given back within [`FLAP_WINDOW`], up to
//!   [`HOLD_MAX`], and returns to the minimum after [`HOLD_MAX`] without
//!   such a flap;
//! - between [`LOSS_UP`] and [`LOSS_DOWN`] nothing moves.
//!
//! A `substream` the subscriber asks for pins the layer: the room then
//! keeps no controller for the stream (`substream: "auto"` brings it back).

use std::time::{Duration, Instant};

/// Loss above which the layer goes down (10 %).
pub const LOSS_DOWN: f64 = 0.10;
/// Loss below which the layer may go up (2 %).
pub const LOSS_UP: f64 = 0.02;
/// How long congestion must last before a layer is dropped.
pub const DOWN_AFTER: Duration = Duration::from_millis(1500);
/// The shortest clean time before going up a layer.
pub const HOLD_MIN: Duration = Duration::from_secs(4);
/// The longest.
pub const HOLD_MAX: Duration = Duration::from_secs(60);
/// A drop this soon after going up counts as a flap.
pub const FLAP_WINDOW: Duration = Duration::from_secs(10);

/// One receiver report's view of a stream.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Report {
    /// Fraction lost since the last report, 0.0..=1.0.
    pub loss: f64,
    /// The stream's share of the subscriber's REMB estimate, bps.
    pub remb_bps: Option<f64>,
}

/// The automatic layer of one subscriber stream (see the module docs).
#[derive(Debug, Clone)]
pub struct AutoLayer {
    /// The layer the controller wants relayed, 0 = lowest.
    layer: usize,
    top: usize,
    bad_since: Option<Instant>,
    good_since: Option<Instant>,
    last_up: Option<Instant>,
    last_flap: Option<Instant>,
    hold: Duration,
}

impl AutoLayer {
    /// Starts at the top of `layers` layers, as a Janus subscriber does.
    pub fn new(layers: usize) -> AutoLayer {
        let top = layers.saturating_sub(1);
        AutoLayer {
            layer: top,
            top,
            bad_since: None,
            good_since: None,
            last_up: None,
            last_flap: None,
            hold: HOLD_MIN,
        }
    }

    /// The layer wanted now.
    pub fn layer(&self) -> usize {
        self.layer
    }

    /// The current hold before going up.
    pub fn hold(&self) -> Duration {
        self.hold
    }

    /// Takes one report at `now`; `layer_bps` is each layer's bitrate from
    /// the publisher (lowest first; zeros when unknown). Returns the new
    /// layer when it changes.
    pub fn on_report(&mut self, now: Instant, r: Report, layer_bps: &[f64]) -> Option<usize> {
        let rate = |l: usize| layer_bps.get(l).copied().unwrap_or(0.0);
        if self
            .last_flap
            .is_some_and(|t| now.duration_since(t) >= HOLD_MAX)
        {
            self.hold = HOLD_MIN;
            self.last_flap = None;
        }
        let remb_short = r
            .remb_bps
            .is_some_and(|b| rate(self.layer) > 0.0 && b < rate(self.layer) * 0.85);
        if r.loss > LOSS_DOWN || remb_short {
            self.good_since = None;
            let since = *self.bad_since.get_or_insert(now);
            if self.layer > 0 && now.duration_since(since) >= DOWN_AFTER {
                if self
                    .last_up
                    .is_some_and(|t| now.duration_since(t) < FLAP_WINDOW)
                {
                    self.hold = (self.hold * 2).min(HOLD_MAX);
                    self.last_flap = Some(now);
                }
                self.layer -= 1;
                self.bad_since = None;
                return Some(self.layer);
            }
            return None;
        }
        self.bad_since = None;
        let room_for_next = r.remb_bps.is_none_or(|b| b >= rate(self.layer + 1) * 1.1);
        if r.loss < LOSS_UP && room_for_next {
            let since = *self.good_since.get_or_insert(now);
            if self.layer < self.top && now.duration_since(since) >= self.hold {
                self.layer += 1;
                self.last_up = Some(now);
                self.good_since = Some(now);
                return Some(self.layer);
            }
        } else {
            self.good_since = None;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(loss: f64) -> Report {
        Report {
            loss,
            remb_bps: None,
        }
    }

    /// Feeds one report a second for `secs` seconds from `*t`.
    fn run(a: &mut AutoLayer, t: &mut Instant, secs: u64, r: Report, bps: &[f64]) -> Vec<usize> {
        let mut changes = Vec::new();
        for _ in 0..secs {
            *t += Duration::from_secs(1);
            if let Some(l) = a.on_report(*t, r, bps) {
                changes.push(l);
            }
        }
        changes
    }

    #[test]
    fn drops_a_layer_only_after_lasting_loss_and_climbs_back_after_the_hold() {
        let mut a = AutoLayer::new(3);
        let mut t = Instant::now();
        assert_eq!(a.layer(), 2);
        // One lossy report is not enough.
        assert_eq!(
            run(&mut a, &mut t, 1, report(0.3), &[]),
            Vec::<usize>::new()
        );
        assert_eq!(
            run(&mut a, &mut t, 1, report(0.0), &[]),
            Vec::<usize>::new()
        );
        // Lasting loss: one layer per DOWN_AFTER.
        assert_eq!(run(&mut a, &mut t, 6, report(0.3), &[]), vec![1, 0]);
        // Moderate loss holds.
        assert_eq!(
            run(&mut a, &mut t, 10, report(0.05), &[]),
            Vec::<usize>::new()
        );
        // Clean: up one layer per hold (4 s).
        assert_eq!(run(&mut a, &mut t, 9, report(0.0), &[]), vec![1, 2]);
    }

    #[test]
    fn a_layer_given_back_soon_after_going_up_doubles_the_hold() {
        let mut a = AutoLayer::new(2);
        let mut t = Instant::now();
        run(&mut a, &mut t, 3, report(0.5), &[]);
        assert_eq!(a.layer(), 0);
        assert_eq!(run(&mut a, &mut t, 5, report(0.0), &[]), vec![1]);
        // Loss again right away: a flap.
        assert_eq!(run(&mut a, &mut t, 3, report(0.5), &[]), vec![0]);
        assert_eq!(a.hold(), HOLD_MIN * 2);
        // Going up now takes 8 s.
        assert_eq!(
            run(&mut a, &mut t, 8, report(0.0), &[]),
            Vec::<usize>::new()
        );
        assert_eq!(run(&mut a, &mut t, 1, report(0.0), &[]), vec![1]);
        // A minute without a flap brings the hold back down.
        run(&mut a, &mut t, 61, report(0.0), &[]);
        assert_eq!(a.hold(), HOLD_MIN);
    }

    #[test]
    fn remb_below_the_layer_drops_it_and_keeps_it_down() {
        let bps = [150_000.0, 300_000.0, 1_000_000.0];
        let mut a = AutoLayer::new(3);
        let mut t = Instant::now();
        let r = Report {
            loss: 0.0,
            remb_bps: Some(400_000.0),
        };
        // 400 kbps cannot carry the 1 Mbps layer; 300 kbps fits.
        assert_eq!(run(&mut a, &mut t, 3, r, &bps), vec![1]);
        // Not enough for 110 % of the top layer: it stays down.
        assert_eq!(run(&mut a, &mut t, 20, r, &bps), Vec::<usize>::new());
        let plenty = Report {
            loss: 0.0,
            remb_bps: Some(2_000_000.0),
        };
        assert_eq!(run(&mut a, &mut t, 5, plenty, &bps), vec![2]);
    }

    #[test]
    fn a_single_layer_never_moves() {
        let mut a = AutoLayer::new(1);
        let mut t = Instant::now();
        assert!(run(&mut a, &mut t, 10, report(0.9), &[]).is_empty());
        assert!(run(&mut a, &mut t, 10, report(0.0), &[]).is_empty());
    }
}

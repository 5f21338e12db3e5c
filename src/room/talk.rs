//! Talking detection as Janus's VideoRoom does it: audio levels in dBov
//! (RFC 6464: 0 is loudest, 127 silence) are averaged over
//! `audio_active_packets` packets; an average below `audio_level_average`
//! means talking. Events fire only on changes.

/// One publisher's talking state.
#[derive(Debug, Clone)]
pub struct TalkDetector {
    packets: u32,
    threshold: u32,
    sum: u32,
    count: u32,
    talking: bool,
}

/// A change of talking state, with the window's average level in dBov.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TalkChange {
    /// Now talking (true) or stopped.
    pub talking: bool,
    /// Average level over the window, dBov (0 loudest, 127 silent).
    pub average_dbov: f32,
}

impl TalkDetector {
    /// A detector averaging over `packets` packets against `threshold` dBov.
    pub fn new(packets: u64, threshold: u64) -> Self {
        TalkDetector {
            packets: packets.clamp(1, 10_000) as u32,
            threshold: threshold.min(127) as u32,
            sum: 0,
            count: 0,
            talking: false,
        }
    }

    /// Whether the publisher is talking now.
    pub fn talking(&self) -> bool {
        self.talking
    }

    /// Adds one packet's level (dBov, clamped to 0..=127); returns a change
    /// when a window closes with a different state.
    pub fn push(&mut self, level_dbov: u8) -> Option<TalkChange> {
        self.sum += u32::from(level_dbov.min(127));
        self.count += 1;
        if self.count < self.packets {
            return None;
        }
        let average = self.sum as f32 / self.count as f32;
        self.sum = 0;
        self.count = 0;
        let talking = average < self.threshold as f32;
        (talking != self.talking).then(|| {
            self.talking = talking;
            TalkChange {
                talking,
                average_dbov: average,
            }
        })
    }
}

/// dBov from a decoded RMS level in dBFS (negative; `level` reports it):
/// the magnitude, clamped to RFC 6464's 0..=127.
pub fn dbov_from_rms_db(rms_db: f64) -> u8 {
    if rms_db.is_nan() {
        return 127;
    }
    (-rms_db).clamp(0.0, 127.0).round() as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn talks_and_stops_on_window_averages() {
        let mut d = TalkDetector::new(4, 25);
        assert_eq!(d.push(10), None);
        assert_eq!(d.push(10), None);
        assert_eq!(d.push(10), None);
        assert_eq!(
            d.push(10),
            Some(TalkChange {
                talking: true,
                average_dbov: 10.0
            })
        );
        // Still talking: no repeated event.
        for _ in 0..4 {
            assert_eq!(d.push(20), None);
        }
        assert!(d.talking());
        let mut last = None;
        for _ in 0..4 {
            last = d.push(127).or(last);
        }
        assert_eq!(
            last,
            Some(TalkChange {
                talking: false,
                average_dbov: 127.0
            })
        );
    }

    #[test]
    fn threshold_is_strict_and_levels_clamp() {
        let mut d = TalkDetector::new(1, 25);
        assert_eq!(d.push(25), None, "at the threshold is not talking");
        assert!(d.push(24).unwrap().talking);
        assert_eq!(dbov_from_rms_db(-30.2), 30);
        assert_eq!(dbov_from_rms_db(3.0), 0);
        assert_eq!(dbov_from_rms_db(-200.0), 127);
        assert_eq!(dbov_from_rms_db(f64::NAN), 127);
    }
}

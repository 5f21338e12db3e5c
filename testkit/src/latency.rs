//! Forwarding latency through the gateway: when each RTP packet left a
//! publisher's socket and when it reached a subscriber's, read on both test
//! peers' `nicesink`/`nicesrc` (an SRTP packet's header is a plain RTP
//! header, RFC 3711 §3.1). A packet is known by its SSRC and RTP timestamp
//! (the gateway relays both unchanged); the first packet of each timestamp
//! counts, so a video frame is timed by its first packet.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gst::prelude::*;

/// When packets crossed one peer's socket, by (SSRC, RTP timestamp).
#[derive(Clone, Default)]
pub struct PacketTimes(Arc<Mutex<HashMap<(u32, u32), Instant>>>);

/// The (SSRC, timestamp) of an RTP packet; `None` for RTCP, STUN or DTLS.
fn rtp_key(data: &[u8]) -> Option<(u32, u32)> {
    if data.len() < 12 || data[0] >> 6 != 2 || (192..=223).contains(&data[1]) {
        return None;
    }
    let ts = u32::from_be_bytes([data[4], data[5], data[6], data[7]]);
    let ssrc = u32::from_be_bytes([data[8], data[9], data[10], data[11]]);
    Some((ssrc, ts))
}

impl PacketTimes {
    /// Starts timing the packets `webrtcbin` sends (`send`, at its
    /// `nicesink`s) or receives (at its `nicesrc`s). Call it once the peer
    /// is negotiated: the transports exist then.
    pub fn at_socket(webrtcbin: &gst::Element, send: bool) -> PacketTimes {
        let times = PacketTimes::default();
        let (factory, pad) = if send {
            ("nicesink", "sink")
        } else {
            ("nicesrc", "src")
        };
        let Some(bin) = webrtcbin.downcast_ref::<gst::Bin>() else {
            return times;
        };
        for el in bin.iterate_recurse().into_iter().flatten() {
            if el.factory().is_none_or(|f| f.name() != factory) {
                continue;
            }
            let Some(p) = el.static_pad(pad) else {
                continue;
            };
            let t = times.clone();
            p.add_probe(
                gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST,
                move |_, info| {
                    let now = Instant::now();
                    let mut seen = t.0.lock().unwrap_or_else(|e| e.into_inner());
                    let mut note = |b: &gst::BufferRef| {
                        if let Some(k) = b.map_readable().ok().and_then(|m| rtp_key(&m)) {
                            seen.entry(k).or_insert(now);
                        }
                    };
                    match &info.data {
                        Some(gst::PadProbeData::Buffer(b)) => note(b),
                        Some(gst::PadProbeData::BufferList(l)) => l.iter().for_each(note),
                        _ => {}
                    }
                    gst::PadProbeReturn::Ok
                },
            );
        }
        times
    }

    /// Distinct packets (SSRC, RTP timestamp) seen so far.
    pub fn count(&self) -> usize {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// For every packet seen by both, how long after `self` (the sender)
    /// `receiver` saw it, sorted.
    pub fn latencies_to(&self, receiver: &PacketTimes) -> Vec<Duration> {
        self.latencies_since(receiver, None)
    }

    /// [`PacketTimes::latencies_to`] for the packets sent at or after `since`.
    pub fn latencies_since(&self, receiver: &PacketTimes, since: Option<Instant>) -> Vec<Duration> {
        let sent = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let got = receiver.0.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<Duration> = got
            .iter()
            .filter_map(|(k, at)| {
                let s = sent.get(k).filter(|s| since.is_none_or(|t| **s >= t))?;
                Some(at.saturating_duration_since(*s))
            })
            .collect();
        out.sort();
        out
    }
}

/// The `q` quantile (0..=1) of sorted `v`, `None` when empty.
pub fn quantile(v: &[Duration], q: f64) -> Option<Duration> {
    if v.is_empty() {
        return None;
    }
    let i = ((v.len() - 1) as f64 * q).round() as usize;
    Some(v[i.min(v.len() - 1)])
}

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

    /// Distinct RTP timestamps (frames of a video stream, packets of an
    /// audio one) seen at or after `since`, per SSRC.
    pub fn timestamps_per_ssrc(&self, since: Instant) -> HashMap<u32, usize> {
        let seen = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = HashMap::new();
        for ((ssrc, _), at) in seen.iter() {
            if *at >= since {
                *out.entry(*ssrc).or_insert(0) += 1;
            }
        }
        out
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

impl PacketTimes {
    /// Like [`PacketTimes::latencies_since`], for a server that relays each
    /// stream with its own SSRC and a constant RTP timestamp offset (Janus
    /// rewrites both per subscriber). For each received stream, the sender
    /// stream and offset are the ones under which at least 80 % of a sample
    /// of its packets have a sent twin, none of them received before it was
    /// sent, with the smallest median latency (an offset one frame off
    /// gives every packet 33 ms more, or a negative latency). Unmatched
    /// streams add nothing.
    pub fn latencies_matched(
        &self,
        receiver: &PacketTimes,
        since: Option<Instant>,
    ) -> Vec<Duration> {
        let sent = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let got = receiver.0.lock().unwrap_or_else(|e| e.into_inner());
        let mut sent_by: HashMap<u32, HashMap<u32, Instant>> = HashMap::new();
        for ((ssrc, ts), at) in sent.iter() {
            sent_by.entry(*ssrc).or_default().insert(*ts, *at);
        }
        let mut got_by: HashMap<u32, Vec<(u32, Instant)>> = HashMap::new();
        for ((ssrc, ts), at) in got.iter() {
            if since.is_none_or(|t| *at >= t) {
                got_by.entry(*ssrc).or_default().push((*ts, *at));
            }
        }
        let mut out = Vec::new();
        for stream in got_by.values_mut() {
            stream.sort_by_key(|(_, at)| *at);
            let sample = &stream[..stream.len().min(200)];
            let Some(&(r_ts, r_at)) = sample.get(sample.len() / 2) else {
                continue;
            };
            // (median latency, sender SSRC, offset)
            let mut best: Option<(Duration, u32, u32)> = None;
            for (s_ssrc, s_map) in &sent_by {
                for (s_ts, s_at) in s_map {
                    if *s_at > r_at || r_at.duration_since(*s_at) > Duration::from_millis(500) {
                        continue;
                    }
                    let off = r_ts.wrapping_sub(*s_ts);
                    let mut lat = Vec::with_capacity(sample.len());
                    let mut negative = 0;
                    for (ts, at) in sample {
                        if let Some(s) = s_map.get(&ts.wrapping_sub(off)) {
                            match at.checked_duration_since(*s) {
                                Some(d) => lat.push(d),
                                None => negative += 1,
                            }
                        }
                    }
                    if negative > 0 || lat.len() * 5 < sample.len() * 4 {
                        continue;
                    }
                    lat.sort();
                    let med = lat[lat.len() / 2];
                    if best.is_none_or(|(m, _, _)| med < m) {
                        best = Some((med, *s_ssrc, off));
                    }
                }
            }
            let Some((_, s_ssrc, off)) = best else {
                continue;
            };
            let s_map = &sent_by[&s_ssrc];
            out.extend(stream.iter().filter_map(|(ts, at)| {
                let s = s_map.get(&ts.wrapping_sub(off))?;
                at.checked_duration_since(*s)
            }));
        }
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

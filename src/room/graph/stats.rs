//! A PeerConnection's state and statistics for the Admin API's
//! `handle_info` (`webrtc` object), read from `webrtcbin`: its ICE and
//! connection states, each transceiver's DTLS and ICE transport states, and
//! its `get-stats` report (W3C webrtc-stats names, as GStreamer gives them).
//!
//! Shape (units in the names):
//! ```json
//! {"ice": {"state": "connected", "selected-pair": "127.0.0.1:5000 [host,udp] <-> 127.0.0.1:6000 [host,udp]"},
//!  "dtls": {"dtls-state": "connected"},
//!  "connection-state": "connected",
//!  "media": {"<ssrc>": {"direction": "inbound"|"outbound", "kind": "audio"|"video"|null,
//!            "packets": 0, "bytes": 0, "packets-lost": 0, "nack-count": 0,
//!            "rtt-ms": 0.0, "bitrate-bps": 0}}}
//! ```
//! `bitrate-bps` is the rate since the previous `handle_info` on the same
//! PeerConnection (absent on the first); `rtt-ms` comes from the remote
//! end's RTCP reports, when there were some.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use gst::prelude::*;
use serde_json::{Map, Value, json};

/// Bytes seen per (direction, SSRC) at the previous sample, for bitrates.
#[derive(Default)]
pub struct Samples(Mutex<Option<(Instant, HashMap<(bool, u32), u64>)>>);

/// The nick of an enum-typed value (e.g. `"connected"`).
fn enum_nick(v: &glib::Value) -> Option<String> {
    glib::EnumValue::from_value(v).map(|(_, e)| e.nick().to_owned())
}

fn nick_of(obj: &impl IsA<glib::Object>, prop: &str) -> Value {
    if obj.as_ref().find_property(prop).is_none() {
        return Value::Null;
    }
    enum_nick(&obj.as_ref().property_value(prop)).map_or(Value::Null, Value::from)
}

fn num(s: &gst::StructureRef, field: &str) -> Option<Value> {
    let v = s.value(field).ok()?;
    if let Ok(x) = v.get::<u64>() {
        return Some(json!(x));
    }
    if let Ok(x) = v.get::<u32>() {
        return Some(json!(x));
    }
    if let Ok(x) = v.get::<i64>() {
        return Some(json!(x));
    }
    if let Ok(x) = v.get::<i32>() {
        return Some(json!(x));
    }
    v.get::<f64>().ok().map(|x| json!(x))
}

fn text(s: &gst::StructureRef, field: &str) -> Option<String> {
    s.get::<String>(field).ok()
}

/// Reads `webrtcbin`'s state and statistics and calls `done` with the
/// summary (module doc), from a GStreamer thread. It holds `webrtcbin`
/// weakly and never blocks; `samples` keeps the byte counts between calls.
///
/// `known` names streams by SSRC, (kind, mid), where the room knows them
/// from the SDP: GStreamer 1.22 reports `kind` "audio" for every inbound
/// stream, so the room's word wins.
pub fn summarize(
    webrtcbin: &gst::Element,
    samples: Arc<Samples>,
    known: HashMap<u32, (&'static str, String)>,
    done: impl FnOnce(Value) + Send + 'static,
) {
    let mut base = Map::new();
    base.insert(
        "connection-state".into(),
        nick_of(webrtcbin, "connection-state"),
    );
    let ice_state = nick_of(webrtcbin, "ice-connection-state");
    let mut dtls = Value::Null;
    let transceiver = webrtcbin
        .emit_by_name::<Option<gst_webrtc::WebRTCRTPTransceiver>>("get-transceiver", &[&0i32]);
    if let Some(t) = transceiver
        .and_then(|t| t.sender())
        .and_then(|s| s.transport())
    {
        dtls = nick_of(&t, "state");
    }
    let promise = gst::Promise::with_change_func(move |reply| {
        let report = match reply {
            Ok(Some(s)) => Some(s.to_owned()),
            _ => None,
        };
        let mut out = base;
        let (media, pair) = match &report {
            Some(r) => (media(r, &samples, &known), selected_pair(r)),
            None => (Map::new(), None),
        };
        let mut ice = Map::new();
        ice.insert("state".into(), ice_state);
        if let Some(p) = pair {
            ice.insert("selected-pair".into(), json!(p));
        }
        out.insert("ice".into(), Value::Object(ice));
        out.insert("dtls".into(), json!({"dtls-state": dtls}));
        out.insert("media".into(), Value::Object(media));
        done(Value::Object(out));
    });
    webrtcbin.emit_by_name::<()>("get-stats", &[&None::<gst::Pad>, &promise]);
}

/// The stats entries of `report` whose `type` has the nick `kind`.
fn entries<'a>(
    report: &'a gst::StructureRef,
    kind: &'a str,
) -> impl Iterator<Item = (&'a str, &'a gst::StructureRef)> + 'a {
    report.iter().filter_map(move |(name, v)| {
        let s = v.get::<&gst::StructureRef>().ok()?;
        let t = s.value("type").ok().and_then(|v| enum_nick(v))?;
        (t == kind).then_some((name.as_str(), s))
    })
}

fn media(
    report: &gst::StructureRef,
    samples: &Samples,
    known: &HashMap<u32, (&'static str, String)>,
) -> Map<String, Value> {
    let now = Instant::now();
    // Round-trip times by local SSRC, from the remote end's reports.
    let mut rtt: HashMap<u32, f64> = HashMap::new();
    for (_, s) in entries(report, "remote-inbound-rtp") {
        if let (Ok(ssrc), Ok(r)) = (s.get::<u32>("ssrc"), s.get::<f64>("round-trip-time")) {
            rtt.insert(ssrc, r * 1000.0);
        }
    }
    let mut prev = samples.0.lock().unwrap_or_else(|e| e.into_inner());
    let mut bytes_now = HashMap::new();
    let mut out = Map::new();
    for (inbound, kind) in [(true, "inbound-rtp"), (false, "outbound-rtp")] {
        for (_, s) in entries(report, kind) {
            let Ok(ssrc) = s.get::<u32>("ssrc") else {
                continue;
            };
            let mut m = Map::new();
            m.insert(
                "direction".into(),
                json!(if inbound { "inbound" } else { "outbound" }),
            );
            match known.get(&ssrc) {
                Some((kind, mid)) => {
                    m.insert("kind".into(), json!(kind));
                    m.insert("mid".into(), json!(mid));
                }
                None => {
                    let kind = text(s, "kind").map_or(Value::Null, Value::from);
                    m.insert("kind".into(), kind);
                }
            }
            let (p, b) = if inbound {
                ("packets-received", "bytes-received")
            } else {
                ("packets-sent", "bytes-sent")
            };
            m.insert("packets".into(), num(s, p).unwrap_or(json!(0)));
            m.insert("bytes".into(), num(s, b).unwrap_or(json!(0)));
            for (key, field) in [
                ("packets-lost", "packets-lost"),
                ("nack-count", "nack-count"),
                ("pli-count", "pli-count"),
                ("fir-count", "fir-count"),
                ("jitter", "jitter"),
            ] {
                if let Some(v) = num(s, field) {
                    m.insert(key.into(), v);
                }
            }
            if let Some(r) = rtt.get(&ssrc) {
                m.insert("rtt-ms".into(), json!(r));
            }
            let bytes = m["bytes"].as_u64().unwrap_or(0);
            if let Some((at, before)) = prev.as_ref()
                && let Some(b0) = before.get(&(inbound, ssrc))
            {
                let secs = now.saturating_duration_since(*at).as_secs_f64();
                if secs > 0.0 {
                    let bps = bytes.saturating_sub(*b0) as f64 * 8.0 / secs;
                    m.insert("bitrate-bps".into(), json!(bps.round() as u64));
                }
            }
            bytes_now.insert((inbound, ssrc), bytes);
            let key = if out.contains_key(&ssrc.to_string()) {
                format!("{ssrc}-{}", if inbound { "in" } else { "out" })
            } else {
                ssrc.to_string()
            };
            out.insert(key, Value::Object(m));
        }
    }
    *prev = Some((now, bytes_now));
    out
}

/// `"<local> [type,proto] <-> <remote> [type,proto]"` for the selected (or
/// the first nominated) candidate pair, as Janus shows it.
fn selected_pair(report: &gst::StructureRef) -> Option<String> {
    let cand = |id: &str| -> Option<String> {
        let s = report.get::<&gst::StructureRef>(id).ok()?;
        let addr = text(s, "address").or_else(|| text(s, "ip"))?;
        let port = num(s, "port").unwrap_or(json!(0));
        let typ = s
            .value("candidate-type")
            .ok()
            .and_then(|v| enum_nick(v))
            .or_else(|| text(s, "candidate-type"))
            .unwrap_or_default();
        let proto = text(s, "protocol").unwrap_or_default();
        Some(format!("{addr}:{port} [{typ},{proto}]"))
    };
    // Prefer the transport's selected pair; else any pair.
    let pair_id = entries(report, "transport")
        .find_map(|(_, s)| text(s, "selected-candidate-pair-id"))
        .or_else(|| {
            entries(report, "candidate-pair")
                .map(|(id, _)| id.to_owned())
                .next()
        })?;
    let pair = report.get::<&gst::StructureRef>(pair_id.as_str()).ok()?;
    let local = cand(&text(pair, "local-candidate-id")?)?;
    let remote = cand(&text(pair, "remote-candidate-id")?)?;
    Some(format!("{local} <-> {remote}"))
}

//! Event handlers, as Janus's "sample event handler" (`janus_sampleevh.c`):
//! what happens to sessions, handles, JSEPs, PeerConnections, media and
//! plugins is POSTed as JSON to an HTTP backend, in Janus's event format
//! (Janus documentation, "Event handlers"):
//!
//! ```json
//! {"emitter": "<server name>", "type": 1, "subtype"?: 1, "timestamp": <µs since 1970>,
//!  "session_id"?: 1, "handle_id"?: 2, "opaque_id"?: "…", "event": {…}}
//! ```
//!
//! `type` is one of [`Kind`]'s codes. Delivery never slows signalling or
//! media: [`EventHandler::emit`] only offers the event to a bounded queue
//! (a full queue drops it and counts the drop), and a task of its own
//! sends the queue to the backend ([`sender`]), retrying with back-off.

pub mod sender;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Map, Value, json};
use thiserror::Error;
use tokio::sync::mpsc;

/// The event types of Janus (`events.h`), with their wire codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// 1: a session was created, destroyed or timed out.
    Session,
    /// 2: a handle was attached or detached.
    Handle,
    /// 8: an SDP offer or answer, local or remote.
    Jsep,
    /// 16: ICE/DTLS state, PeerConnection up or hung up.
    Webrtc,
    /// 32: a stream started or stopped arriving; periodic statistics.
    Media,
    /// 64: something a plugin reports (videoroom joined, published, …).
    Plugin,
    /// 128: a transport event.
    Transport,
    /// 256: the server started or is shutting down.
    Core,
}

impl Kind {
    /// All of them, in code order.
    pub const ALL: [Kind; 8] = [
        Kind::Session,
        Kind::Handle,
        Kind::Jsep,
        Kind::Webrtc,
        Kind::Media,
        Kind::Plugin,
        Kind::Transport,
        Kind::Core,
    ];

    /// The `type` code on the wire.
    pub fn code(self) -> u32 {
        match self {
            Kind::Session => 1,
            Kind::Handle => 2,
            Kind::Jsep => 8,
            Kind::Webrtc => 16,
            Kind::Media => 32,
            Kind::Plugin => 64,
            Kind::Transport => 128,
            Kind::Core => 256,
        }
    }

    /// The name used in the `events` setting (Janus's: `sessions`, `handles`, …).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Session => "sessions",
            Kind::Handle => "handles",
            Kind::Jsep => "jsep",
            Kind::Webrtc => "webrtc",
            Kind::Media => "media",
            Kind::Plugin => "plugins",
            Kind::Transport => "transports",
            Kind::Core => "core",
        }
    }
}

/// A bad `[events]` setting.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum EventsError {
    /// `events` names a type that does not exist.
    #[error(
        "unknown event type '{0}' in [events] events (known: all, none, sessions, handles, jsep, webrtc, media, plugins, transports, core)"
    )]
    UnknownType(String),
    /// `enabled` without a `backend`.
    #[error("[events] enabled needs a backend URL (http://… or https://…)")]
    NoBackend,
}

/// Parses the `events` setting: `"all"`, `"none"`, or a comma-separated
/// list of type names, into a mask of `type` codes.
pub fn parse_mask(s: &str) -> Result<u32, EventsError> {
    let mut mask = 0;
    for name in s.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        mask |= match name {
            "all" => Kind::ALL.iter().map(|k| k.code()).sum(),
            "none" => 0,
            n => Kind::ALL
                .iter()
                .find(|k| k.name() == n)
                .map(|k| k.code())
                .ok_or_else(|| EventsError::UnknownType(n.to_owned()))?,
        };
    }
    Ok(mask)
}

/// Counters of the delivery, shown in `/metrics`.
#[derive(Debug, Default)]
pub struct Counters {
    /// Events offered and queued.
    pub queued: AtomicU64,
    /// Events dropped because the queue was full (the backend too slow or dead).
    pub dropped: AtomicU64,
    /// Events the backend accepted (a 2xx answer).
    pub sent: AtomicU64,
    /// Events given up on after every retry.
    pub failed: AtomicU64,
}

/// Where the gateway's parts report events. Cheap to call from anywhere:
/// it never blocks and never waits for the backend.
pub struct EventHandler {
    mask: u32,
    emitter: String,
    queue: mpsc::Sender<Value>,
    /// Delivery counters.
    pub counters: Arc<Counters>,
    /// Seconds between media statistics events (0: none).
    pub stats_period: u64,
}

/// Wall-clock microseconds since 1970, Janus's `timestamp`.
fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// Who an event is about.
#[derive(Debug, Clone, Copy, Default)]
pub struct Subject<'a> {
    /// The session, if any.
    pub session_id: Option<u64>,
    /// The handle, if any.
    pub handle_id: Option<u64>,
    /// The handle's `opaque_id`, if it has one.
    pub opaque_id: Option<&'a str>,
}

impl EventHandler {
    /// An event handler offering events of the types in `mask` to a queue
    /// of `capacity`; the receiving end goes to [`sender::spawn`].
    pub fn new(
        mask: u32,
        emitter: &str,
        capacity: usize,
        stats_period: u64,
    ) -> (Arc<Self>, mpsc::Receiver<Value>) {
        let (queue, rx) = mpsc::channel(capacity.max(1));
        let h = EventHandler {
            mask,
            emitter: emitter.to_owned(),
            queue,
            counters: Arc::default(),
            stats_period,
        };
        (Arc::new(h), rx)
    }

    /// Whether events of `kind` are wanted (callers can skip building them).
    pub fn wants(&self, kind: Kind) -> bool {
        self.mask & kind.code() != 0
    }

    /// Offers one event: `body` becomes its `event` object. Dropped (and
    /// counted) when the queue is full; never blocks.
    pub fn emit(&self, kind: Kind, subtype: Option<u32>, who: Subject<'_>, body: Value) {
        if !self.wants(kind) {
            return;
        }
        let mut ev = Map::new();
        ev.insert("emitter".into(), json!(self.emitter));
        ev.insert("type".into(), json!(kind.code()));
        if let Some(s) = subtype {
            ev.insert("subtype".into(), json!(s));
        }
        ev.insert("timestamp".into(), json!(now_us()));
        if let Some(s) = who.session_id {
            ev.insert("session_id".into(), json!(s));
        }
        if let Some(h) = who.handle_id {
            ev.insert("handle_id".into(), json!(h));
        }
        if let Some(o) = who.opaque_id {
            ev.insert("opaque_id".into(), json!(o));
        }
        ev.insert("event".into(), body);
        match self.queue.try_send(Value::Object(ev)) {
            Ok(()) => {
                self.counters.queued.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {
                let n = self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                // Say so once per thousand, not once per event.
                if n % 1000 == 0 {
                    tracing::warn!(dropped = n + 1, "event handler queue full: events dropped");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks() {
        assert_eq!(parse_mask("all"), Ok(507));
        assert_eq!(parse_mask("sessions, handles"), Ok(3));
        assert_eq!(parse_mask("plugins,media"), Ok(96));
        assert_eq!(parse_mask("none"), Ok(0));
        assert_eq!(
            parse_mask("sessions,bogus"),
            Err(EventsError::UnknownType("bogus".into()))
        );
    }

    #[tokio::test]
    async fn a_full_queue_drops_and_counts() {
        let (h, mut rx) = EventHandler::new(parse_mask("all").unwrap(), "gw", 2, 0);
        for i in 0..5 {
            h.emit(
                Kind::Session,
                None,
                Subject {
                    session_id: Some(i),
                    ..Subject::default()
                },
                json!({"name": "created"}),
            );
        }
        assert_eq!(h.counters.queued.load(Ordering::Relaxed), 2);
        assert_eq!(h.counters.dropped.load(Ordering::Relaxed), 3);
        let ev = rx.recv().await.unwrap();
        assert_eq!(ev["type"], 1);
        assert_eq!(ev["session_id"], 0);
        assert_eq!(ev["emitter"], "gw");
        assert!(ev["timestamp"].as_u64().unwrap() > 1_600_000_000_000_000);
        // Unwanted types are not even queued.
        let (h, _rx) = EventHandler::new(parse_mask("media").unwrap(), "gw", 2, 0);
        h.emit(Kind::Session, None, Subject::default(), json!({}));
        assert_eq!(h.counters.queued.load(Ordering::Relaxed), 0);
    }
}

//! Prometheus metrics at `/metrics`: sessions, handles, rooms, and the live
//! GStreamer objects (room pipelines, `webrtcbin`s) and process threads, so a
//! leak shows up as a number that does not return to zero.

use std::sync::{Arc, Mutex};

use prometheus::{Encoder, IntGauge, Registry, TextEncoder};

use crate::gateway::Gateway;
use crate::plugins::videoroom::VideoRoom;

/// Gauges sampled on every scrape.
pub struct Metrics {
    registry: Registry,
    sessions: IntGauge,
    handles: IntGauge,
    rooms: IntGauge,
    pipelines: IntGauge,
    webrtcbins: IntGauge,
    threads: IntGauge,
    events: [IntGauge; 4],
}

fn gauge(registry: &Registry, name: &str, help: &str) -> IntGauge {
    // Names are constants of this module and registered once: both calls
    // only fail on invalid or duplicate names.
    let g = IntGauge::new(name, help).expect("valid metric name");
    registry
        .register(Box::new(g.clone()))
        .expect("metric registered once");
    g
}

impl Metrics {
    /// Registers the gauges.
    pub fn new() -> Self {
        let registry = Registry::new();
        Metrics {
            sessions: gauge(&registry, "gateway_sessions", "Janus sessions alive"),
            handles: gauge(&registry, "gateway_handles", "Janus handles alive"),
            rooms: gauge(&registry, "gateway_rooms", "video rooms alive"),
            pipelines: gauge(
                &registry,
                "gateway_pipelines_alive",
                "room pipelines not yet freed",
            ),
            webrtcbins: gauge(
                &registry,
                "gateway_webrtcbins_alive",
                "webrtcbin elements not yet freed",
            ),
            threads: gauge(
                &registry,
                "gateway_threads",
                "threads of the gateway process",
            ),
            events: [
                (
                    "gateway_events_queued_total",
                    "events offered to the event handler",
                ),
                (
                    "gateway_events_dropped_total",
                    "events dropped: the event handler's queue was full",
                ),
                (
                    "gateway_events_sent_total",
                    "events the event handler's backend accepted",
                ),
                (
                    "gateway_events_failed_total",
                    "events given up on after every retry",
                ),
            ]
            .map(|(n, h)| gauge(&registry, n, h)),
            registry,
        }
    }

    /// Samples and renders the text exposition format.
    pub fn render(
        &self,
        gw: &Gateway,
        videoroom: &VideoRoom,
        alive: &Mutex<Vec<glib::WeakRef<gst::Element>>>,
    ) -> String {
        let (sessions, handles) = gw.counts();
        self.sessions.set(sessions as i64);
        self.handles.set(handles as i64);
        self.rooms.set(videoroom.room_count() as i64);
        let (pipelines, webrtcbins) = crate::room::alive_counts(alive);
        self.pipelines.set(pipelines as i64);
        self.webrtcbins.set(webrtcbins as i64);
        self.threads.set(process_threads() as i64);
        if let Some(c) = gw.event_counters() {
            use std::sync::atomic::Ordering::Relaxed;
            for (g, v) in self
                .events
                .iter()
                .zip([&c.queued, &c.dropped, &c.sent, &c.failed])
            {
                g.set(v.load(Relaxed) as i64);
            }
        }
        let mut out = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Threads of this process (Linux `/proc/self/status`), 0 elsewhere.
pub fn process_threads() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("Threads:")
                    .and_then(|v| v.trim().parse().ok())
            })
        })
        .unwrap_or(0)
}

/// A metrics renderer closing over the running parts.
pub fn renderer(
    gw: Arc<Gateway>,
    videoroom: Arc<VideoRoom>,
    alive: Arc<Mutex<Vec<glib::WeakRef<gst::Element>>>>,
) -> Arc<dyn Fn() -> String + Send + Sync> {
    let metrics = Metrics::new();
    Arc::new(move || metrics.render(&gw, &videoroom, &alive))
}

//! The room pipeline's bus: element errors routed to the one owner they tear
//! down, `level` messages, latency.

use super::*;

impl Room {
    /// Maps a failing element to its [`Owner`] and tears that owner down
    /// (or retries it: ingests, restreams). The room itself keeps running.
    pub(super) fn bus_message(&mut self, msg: &gst::Message) {
        match msg.view() {
            gst::MessageView::Error(err) => {
                let owner = Owner::of(msg.src());
                warn!(error = %err.error(), debug = ?err.debug(), src = ?msg.src().map(|s| s.path_string()), "element error");
                if std::env::var_os("GST_DEBUG_DUMP_DOT_DIR").is_some() {
                    self.pipeline
                        .debug_to_dot_file_with_ts(gst::DebugGraphDetails::all(), "room-error");
                }
                match owner {
                    Some(Owner::Ingest(handle)) if self.ingests.by_handle.contains_key(&handle) => {
                        // A source failed: the ingest retries (see `ingests`).
                        let _ = self.ev_tx.send(RoomEvent::IngestFailed {
                            handle,
                            why: err.error().to_string(),
                        });
                    }
                    Some(Owner::Recording(id)) if self.egress.owns(id) => {
                        // A restream's server dropped or refused it.
                        self.egress_branch_ended(id, &err.error().to_string());
                    }
                    Some(Owner::Recording(id)) => {
                        // A recording failed: it ends there (what was written
                        // stays playable, and is listed); the call goes on.
                        self.recording_failed(id, err.error().to_string());
                    }
                    Some(Owner::Publisher(handle) | Owner::Subscriber(handle)) => {
                        self.peer_failed(handle)
                    }
                    _ => {}
                }
            }
            gst::MessageView::Element(e) => {
                let level_of = match Owner::of(msg.src()) {
                    Some(Owner::Level(handle)) => Some(handle),
                    _ => None,
                };
                if let (Some(handle), Some(s)) = (level_of, e.structure())
                    && s.name() == "level"
                    && let Ok(rms) = s.get::<glib::ValueArray>("rms")
                {
                    // The loudest channel, as dBov.
                    let db = rms
                        .iter()
                        .filter_map(|v| v.get::<f64>().ok())
                        .fold(f64::NEG_INFINITY, f64::max);
                    self.audio_level(handle, talk::dbov_from_rms_db(db));
                }
            }
            gst::MessageView::Latency(_) => {
                let _ = self.pipeline.recalculate_latency();
            }
            gst::MessageView::Warning(w) => {
                debug!(warning = %w.error(), src = ?msg.src().map(|s| s.path_string()), "element warning");
            }
            _ => {}
        }
    }

    /// A participant's or subscriber's `webrtcbin` failed: that peer goes.
    fn peer_failed(&mut self, handle: PeerKey) {
        if let Some(h) = self.subscribers.get(&handle).map(|s| s.h) {
            self.remove_subscriber(handle);
            self.notify(
                h,
                Notice::Hangup {
                    reason: "Media error",
                },
            );
        } else if self.participants.contains_key(&handle) {
            // Unpublishing awaits renegotiations: do it from the event queue.
            let _ = self.ev_tx.send(RoomEvent::ConnectionState {
                handle,
                state: WebRTCPeerConnectionState::Failed,
            });
        }
    }
}

//! The room pipeline's bus: element errors routed to the one owner they tear
//! down, `level` messages, latency.

use super::*;

pub(super) fn owner_handle(src: Option<&gst::Object>) -> Option<u64> {
    let mut cur = src.cloned();
    while let Some(o) = cur {
        let name = o.name();
        if let Some(rest) = name
            .strip_prefix("pub_")
            .or_else(|| name.strip_prefix("sub_"))
        {
            if let Ok(h) = rest.parse() {
                return Some(h);
            }
        }
        cur = o.parent();
    }
    None
}

impl Room {
    /// Maps a failing element to its participant (elements are named
    /// `pub_<handle>`/`sub_<handle>`; their children sit below them) and tears
    /// that participant down. The room itself keeps running.
    pub(super) fn bus_message(&mut self, msg: &gst::Message) {
        match msg.view() {
            gst::MessageView::Error(err) => {
                let owner = owner_handle(msg.src());
                warn!(error = %err.error(), debug = ?err.debug(), src = ?msg.src().map(|s| s.path_string()), "element error");
                if std::env::var_os("GST_DEBUG_DUMP_DOT_DIR").is_some() {
                    self.pipeline
                        .debug_to_dot_file_with_ts(gst::DebugGraphDetails::all(), "room-error");
                }
                if let Some(handle) = self.ingest_owner(msg.src()) {
                    // A source failed: the ingest retries (see `ingests`).
                    let _ = self.ev_tx.send(RoomEvent::IngestFailed {
                        handle,
                        why: err.error().to_string(),
                    });
                    return;
                }
                if let Some(id) = record::owner(msg.src())
                    && self.is_egress_branch(id)
                {
                    // A restream's server dropped or refused it.
                    self.egress_branch_ended(id, &err.error().to_string());
                    return;
                }
                if let Some(id) = record::owner(msg.src()) {
                    // A recording failed: it ends there (what was written
                    // stays playable); the call goes on.
                    self.publisher_recordings.retain(|_, r| *r != id);
                    if self.mix_recording == Some(id) {
                        self.mix_recording = None;
                    }
                    self.stop_recording(id);
                    return;
                }
                if let Some(handle) = owner {
                    if self.subscribers.contains_key(&handle) {
                        let h = self.subscribers[&handle].h;
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
            gst::MessageView::Element(e) => {
                let handle = msg.src().and_then(|src| {
                    src.name()
                        .strip_prefix(mcu::LEVEL_PREFIX)
                        .and_then(|h| h.parse::<u64>().ok())
                });
                if let (Some(handle), Some(s)) = (handle, e.structure())
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
}

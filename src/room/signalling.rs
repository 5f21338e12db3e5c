//! PeerConnections: creating a `webrtcbin`, ICE candidates (buffered until the
//! remote description is set), and connection state changes.

use super::*;

pub(super) fn apply_candidate(peer: &Peer, c: &Candidate) {
    // With max-bundle every m-line shares one transport; an unknown mid maps to 0.
    let mline = c.sdp_mline_index.unwrap_or(0);
    if c.candidate.is_empty() {
        return;
    }
    peer.add_candidate(mline, &c.candidate);
}

impl Room {
    /// Creates the `webrtcbin` of handle `handle` (named `<role>_<handle>`,
    /// which maps its element errors back to it), adds it to the room
    /// pipeline, tracks it for leak checks and starts it. On failure nothing
    /// stays in the pipeline.
    pub(super) fn start_peer(&self, role: Role, handle: PeerKey) -> Result<Peer, RoomError> {
        let peer = Peer::new(
            &match role {
                Role::Publisher => Owner::Publisher(handle),
                Role::Subscriber => Owner::Subscriber(handle),
            }
            .name(""),
            handle,
            &self.ctx.ice,
            self.ctx.jitter_buffer_ms,
            &self.ev_tx,
        )?;
        if role == Role::Subscriber {
            graph::feedback::watch(&peer.webrtcbin, handle, &self.ev_tx);
            if self.ctx.batch_send {
                peer.webrtcbin.connect("request-aux-sender", false, |_| {
                    Some(graph::batcher::new().to_value())
                });
            }
        }
        self.pipeline
            .add(&peer.webrtcbin)
            .map_err(|e| RoomError::graph("adding webrtcbin", e))?;
        self.track(&peer.webrtcbin);
        if let Err(e) = peer.webrtcbin.sync_state_with_parent() {
            peer::retire(&self.pipeline, vec![peer.webrtcbin.clone()]);
            return Err(RoomError::graph("webrtcbin failed to start", e));
        }
        Ok(peer)
    }

    pub(super) fn track(&self, el: &gst::Element) {
        let mut alive = self.ctx.alive.lock().unwrap_or_else(|e| e.into_inner());
        alive.retain(|w| w.upgrade().is_some());
        alive.push(el.downgrade());
    }

    /// The `webrtcbin` of a subscriber or publishing participant.
    pub(super) fn peer_of(&self, handle: PeerKey) -> Option<&Peer> {
        self.subscribers.get(&handle).map(|s| &s.peer).or_else(|| {
            self.participants
                .get(&handle)
                .and_then(|p| p.publication.as_ref())
                .and_then(|p| p.peer.as_ref())
        })
    }

    /// Applies candidates once the peer has its remote description; until
    /// then they wait in `pending_candidates`.
    pub(super) fn apply_or_keep(&mut self, handle: PeerKey, cands: Vec<Candidate>) {
        match self.peer_of(handle) {
            Some(peer)
                if peer
                    .webrtcbin
                    .property::<Option<gst_webrtc::WebRTCSessionDescription>>("remote-description")
                    .is_some() =>
            {
                for c in &cands {
                    apply_candidate(peer, c);
                }
            }
            _ => self
                .pending_candidates
                .entry(handle)
                .or_default()
                .extend(cands),
        }
    }

    pub(super) fn trickle(&mut self, handle: PeerKey, trickle: Trickle) {
        if let Trickle::Candidates(cands) = trickle {
            self.apply_or_keep(handle, cands);
        }
    }

    pub(super) fn flush_candidates(&mut self, handle: PeerKey) {
        if let Some(cands) = self.pending_candidates.remove(&handle) {
            self.apply_or_keep(handle, cands);
        }
    }

    pub(super) fn connection_state(&mut self, handle: PeerKey, state: WebRTCPeerConnectionState) {
        debug!(handle_id = %handle, ?state, "connection state");
        match state {
            WebRTCPeerConnectionState::Connected => {
                if let Some(h) = self.handle_of(handle) {
                    self.notify(h, Notice::WebrtcUp);
                }
                if let Some(p) = self
                    .participants
                    .get_mut(&handle)
                    .and_then(|p| p.publication.as_mut())
                {
                    p.connected = true;
                }
                if let Some(filename) = self.recordings.pending.remove(&handle) {
                    self.start_publisher_recording(handle, filename.as_deref());
                }
                if let Some(sub) = self.subscribers.get_mut(&handle) {
                    sub.connected = true;
                    let replayed = self.link_branches(handle);
                    self.keyframes_for_subscriber(handle, &replayed);
                }
            }
            WebRTCPeerConnectionState::Failed => {
                warn!(handle_id = %handle, "PeerConnection failed");
                let h = self.handle_of(handle);
                if self.subscribers.contains_key(&handle) {
                    self.remove_subscriber(handle);
                } else {
                    self.unpublish(handle);
                }
                if let Some(h) = h {
                    self.notify(
                        h,
                        Notice::Hangup {
                            reason: "ICE failed",
                        },
                    );
                }
            }
            _ => {}
        }
    }

    pub(super) fn handle_of(&self, handle: PeerKey) -> Option<HandleId> {
        self.subscribers
            .get(&handle)
            .map(|s| s.h)
            .or_else(|| self.participants.get(&handle).map(|p| p.h))
    }
}

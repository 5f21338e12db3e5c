//! Cross-feature sequences, each written out once: unpublish, leave, kick and
//! the room's shutdown. Each says in what order the features let go, and why.

use super::*;

impl Room {
    /// Takes down a publication. The order:
    /// 1. its recording, restreams and RTSP mounts stop: they are branches
    ///    of its tees, and a file or an RTMP server gets a clean EOS only
    ///    while the tees still exist;
    /// 2. the publication leaves the participant, so nothing new links to it;
    /// 3. the mixer drops its inputs (decoders on the same tees);
    /// 4. subscribers' branches leave the tees (request pads released) and
    ///    the subscribers are renegotiated (Janus `autoupdate`);
    /// 5. the `webrtcbin` (or the ingest's elements) and the tees go to NULL
    ///    off the task, with nothing linked to them any more;
    /// 6. the room hears `unpublished`, the publisher `hangup`.
    pub(super) fn unpublish(&mut self, handle: PeerKey) {
        self.stop_publisher_recording(handle);
        self.stop_egresses_of(handle);
        self.rtsp_unmount(handle);
        let Some(p) = self.participants.get_mut(&handle) else {
            return;
        };
        let Some(publication) = p.publication.take() else {
            return;
        };
        let id = p.id.clone();
        let h = p.h;
        info!(handle_id = %handle, id = %id, "unpublishing");
        let mut elements: Vec<gst::Element> = publication
            .peer
            .iter()
            .map(|p| p.webrtcbin.clone())
            .collect();
        match self.ingests.by_handle.remove(&handle) {
            // The ingest owns its tees (with its payloaders).
            Some(mut ingest) => elements.extend(ingest.elements()),
            None => {
                for s in &publication.streams {
                    elements.push(s.tee.clone());
                    // Simulcast: the lower layers' tees (the top one is `tee`).
                    elements.extend(
                        s.layers
                            .iter()
                            .filter(|l| l.tee != s.tee)
                            .map(|l| l.tee.clone()),
                    );
                }
                elements.extend(publication.dormant.iter().cloned());
            }
        }
        if let Some(m) = self.mixer.as_mut() {
            m.remove_publisher(&self.pipeline, handle);
        }
        self.drop_feed_from_subscribers(handle);
        peer::retire(&self.pipeline, elements);
        self.pending_candidates.remove(&handle);
        self.broadcast(Notice::Unpublished { id }, Some(handle));
        self.notify(
            h,
            Notice::Hangup {
                reason: "Unpublished",
            },
        );
    }

    /// Detaches every subscriber branch fed by `feed_handle` and, where the
    /// subscriber's signalling allows, renegotiates it (Janus `autoupdate`).
    pub(super) fn drop_feed_from_subscribers(&mut self, feed_handle: PeerKey) {
        self.drop_from_subscribers(feed_handle, None);
    }

    /// [`Room::drop_feed_from_subscribers`] for the feed's stream behind
    /// `only` (its tee), or all its streams.
    pub(super) fn drop_from_subscribers(
        &mut self,
        feed_handle: PeerKey,
        only: Option<&gst::Element>,
    ) {
        let mut renegotiate = Vec::new();
        for (sh, sub) in &mut self.subscribers {
            let mut touched = false;
            for st in sub.streams.iter_mut().filter(|st| {
                st.feed_handle == feed_handle && st.active && only.is_none_or(|t| st.tee == *t)
            }) {
                st.detach();
                st.active = false;
                touched = true;
                if let Some(t) = sub.peer.transceiver(st.mindex) {
                    t.set_property(
                        "direction",
                        gst_webrtc::WebRTCRTPTransceiverDirection::Inactive,
                    );
                }
            }
            if touched && sub.stable {
                renegotiate.push(*sh);
            }
        }
        // Offers are made off the task, all at once; each subscriber hears
        // `updated` with its own (see `subscriber_offered`).
        for sh in renegotiate {
            if self.negotiations.offers.contains_key(&sh) {
                continue;
            }
            self.make_offer(sh, OfferFor::Notice);
        }
    }

    /// A participant leaves (or is kicked, or its ingest removed): its
    /// publication first (see [`Room::unpublish`]), then the participant and
    /// its membership, then its mix-minus audio mix; the room hears `leaving`
    /// last, when nothing of it is left.
    pub(super) fn leave_publisher(&mut self, handle: PeerKey, reason: Option<&'static str>) {
        self.unpublish(handle);
        let Some(p) = self.participants.remove(&handle) else {
            return;
        };
        self.forget(handle);
        if let Some(m) = self.mixer.as_mut() {
            m.drop_listener_mix(&self.pipeline, handle);
        }
        info!(handle_id = %handle, id = %p.id, "participant left");
        self.broadcast(
            Notice::Left {
                id: p.id,
                display: p.display,
                reason,
            },
            None,
        );
    }

    /// `kick`: the participant hears it first (its handle stays attached),
    /// the others hear `kicked`, then it leaves like any participant.
    pub(super) fn kick(&mut self, secret: Option<&str>, id: &Id) -> Result<(), RoomError> {
        self.cfg.check_secret(secret)?;
        let Some((&handle, p)) = self.participants.iter().find(|(_, p)| &p.id == id) else {
            return Err(RoomError::NoSuchFeed(id.to_string()));
        };
        let h = p.h;
        self.notify(h, Notice::KickedYou);
        self.broadcast(Notice::Kicked { id: id.clone() }, Some(handle));
        self.leave_publisher(handle, Some("kicked"));
        Ok(())
    }

    /// Tears the room down in an order that cannot deadlock: first every
    /// branch leaves its tee (so no publisher thread pushes into a peer being
    /// stopped), then subscribers, publishers and the pipeline go to NULL on
    /// one blocking thread.
    pub(super) fn shutdown(&mut self) -> tokio::task::JoinHandle<()> {
        let served: Vec<PeerKey> = self.rtsp.mounts.keys().copied().collect();
        for h in served {
            self.rtsp_unmount(h);
        }
        let handles: Vec<PeerKey> = self
            .participants
            .keys()
            .chain(self.subscribers.keys())
            .copied()
            .collect();
        for h in handles {
            self.forget(h);
        }
        let mut elements = Vec::new();
        if let Some(m) = &self.mixer {
            m.detach_inputs();
        }
        for (_, mut sub) in self.subscribers.drain() {
            for st in &mut sub.streams {
                st.detach();
                if let Some(sel) = &st.selector {
                    elements.push(sel.element.clone());
                }
            }
            elements.push(sub.peer.webrtcbin.clone());
            elements.extend(sub.streams.iter().map(|st| st.guard.clone()));
        }
        for (h, p) in std::mem::take(&mut self.participants) {
            if let Some(publication) = p.publication {
                elements.extend(publication.peer.iter().map(|p| p.webrtcbin.clone()));
                if !self.ingests.by_handle.contains_key(&h) {
                    elements.extend(publication.streams.iter().map(|s| s.tee.clone()));
                }
            }
        }
        // Ingests (also those still connecting): blocking probes go before
        // their sources stop (see `ingest`).
        for (_, mut ingest) in self.ingests.by_handle.drain() {
            elements.extend(ingest.elements());
        }
        for (_, reply) in self.ingests.pending.drain() {
            send_reply(reply, Err(RoomError::Destroyed));
        }
        // Negotiations still running: their commands hear the room is gone.
        let pending = std::mem::take(&mut self.negotiations);
        for (_, w) in pending.publish {
            elements.push(w.state.peer.webrtcbin.clone());
            send_reply(w.reply, Err(RoomError::Destroyed));
        }
        for (_, then) in pending.offers {
            if let OfferFor::Attach(reply) | OfferFor::Update(reply) = then {
                send_reply(reply, Err(RoomError::Destroyed));
            }
        }
        for (_, reply) in pending.answers {
            send_reply(reply, Err(RoomError::Destroyed));
        }
        if let Some(m) = self.mixer.take() {
            elements.extend(m.elements());
        }
        for e in &elements {
            e.set_locked_state(true);
        }
        let pipeline = self.pipeline.clone();
        let work = move || {
            for e in &elements {
                let _ = e.set_state(gst::State::Null);
            }
            let _ = pipeline.set_state(gst::State::Null);
            for e in &elements {
                let _ = pipeline.remove(e);
            }
        };
        tokio::task::spawn_blocking(work)
    }
}

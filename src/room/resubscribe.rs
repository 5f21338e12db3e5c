//! A running subscription changes: `configure` (`send`, simulcast layer
//! fields) and `update`/`subscribe`/`unsubscribe` (streams leave and join,
//! then a new offer).

use super::subscribe::set_forwarding;
use super::*;

impl Room {
    pub(super) fn configure_subscriber(
        &mut self,
        h: HandleId,
        streams: &[StreamConfig],
    ) -> Result<(), RoomError> {
        let sub = self
            .subscribers
            .get_mut(&h.key())
            .ok_or(RoomError::NotJoined)?;
        // Check every mid before changing any stream.
        for c in streams {
            if let Some(mid) = &c.mid
                && !sub.streams.iter().any(|st| &st.mid == mid)
            {
                return Err(RoomError::invalid(
                    "mid",
                    format!("an existing mid (no '{mid}')"),
                ));
            }
        }
        for c in streams {
            for st in sub
                .streams
                .iter_mut()
                .filter(|st| c.mid.as_ref().is_none_or(|m| *m == st.mid))
            {
                if let Some(send) = c.send {
                    st.send = send;
                    if !sub.paused {
                        set_forwarding(st, send);
                    }
                }
                if let Some(sel) = &st.selector
                    && !c.layers.is_empty()
                {
                    let layers = st.layer_tees.len();
                    if c.layers.substream.is_some() {
                        st.auto = None;
                    } else if c.layers.auto && st.auto.is_none() {
                        st.auto = Some(simulcast::AutoState::new(layers));
                    }
                    let mut req = c.layers;
                    if let (Some(a), None) = (&st.auto, req.substream) {
                        req.substream = Some(a.layer() as u64);
                    }
                    sel.set_choice(simulcast::choice(Some(sel.choice()), req, layers));
                }
            }
        }
        self.keyframes_for_subscriber(h.key(), &[]);
        Ok(())
    }

    /// `update`/`subscribe`/`unsubscribe`: streams leave and join now; the
    /// new offer is made off the task and `reply` gets `updated` with it.
    pub(super) fn update(
        &mut self,
        h: HandleId,
        add: Vec<StreamRequest>,
        mut remove: Vec<StreamRequest>,
        remove_sub_mids: Vec<String>,
        reply: Reply<Offered>,
    ) {
        // A `sub_mid` names one of the subscriber's m-lines: drop that
        // feed stream. An unknown one is refused before anything changes.
        if let Some(sub) = self.subscribers.get(&h.key()) {
            for m in &remove_sub_mids {
                match sub.streams.iter().find(|st| &st.mid == m && st.active) {
                    Some(st) => remove.push(StreamRequest {
                        feed: st.feed.clone(),
                        mid: Some(st.feed_mid.clone()),
                        layers: LayerRequest::default(),
                    }),
                    None => {
                        return send_reply(
                            reply,
                            Err(RoomError::invalid(
                                "sub_mid",
                                format!("an active mid of this subscription (no '{m}')"),
                            )),
                        );
                    }
                }
            }
        }
        match self.change_subscription(h, add, remove) {
            Ok(()) => self.make_offer(h.key(), OfferFor::Update(reply)),
            Err(e) => send_reply(reply, Err(e)),
        }
    }

    pub(super) fn change_subscription(
        &mut self,
        h: HandleId,
        add: Vec<StreamRequest>,
        remove: Vec<StreamRequest>,
    ) -> Result<(), RoomError> {
        let handle = h.key();
        let Some(stable) = self.subscribers.get(&handle).map(|s| s.stable) else {
            return Err(RoomError::NotJoined);
        };
        if !stable || self.negotiations.offers.contains_key(&handle) {
            return Err(RoomError::OfferPending);
        }
        let wanted = self.resolve(&add)?;
        let whole = |reqs: &[StreamRequest]| -> Vec<PeerKey> {
            reqs.iter()
                .filter(|r| r.mid.is_none())
                .filter_map(|r| self.find_feed(&r.feed).map(|(fh, _)| fh))
                .collect()
        };
        let (added_whole, removed_whole) = (whole(&add), whole(&remove));
        let mut sub = self
            .subscribers
            .remove(&handle)
            .ok_or(RoomError::NotJoined)?;
        sub.whole_feeds.retain(|f| !removed_whole.contains(f));
        sub.whole_feeds.extend(added_whole);
        for r in &remove {
            for st in sub
                .streams
                .iter_mut()
                .filter(|st| st.feed == r.feed && r.mid.as_deref().is_none_or(|m| m == st.feed_mid))
            {
                st.detach();
                st.active = false;
                if let Some(t) = sub.peer.transceiver(st.mindex) {
                    t.set_property(
                        "direction",
                        gst_webrtc::WebRTCRTPTransceiverDirection::Inactive,
                    );
                }
            }
        }
        let mut result = Ok(());
        for (fh, idx, choice) in wanted {
            if let Err(e) = self.add_stream(&mut sub, fh, idx, choice) {
                result = Err(e);
                break;
            }
        }
        self.subscribers.insert(handle, sub);
        result
    }
}

//! Subscribers: resolving `streams[]`, one branch per m-line (linked once
//! connected), offers, `start`/`pause`/`configure`/`update`, and leaving.

use super::*;

pub(super) struct SubStream {
    pub(super) mindex: u32,
    pub(super) mid: String,
    pub(super) feed: Id,
    pub(super) feed_handle: PeerKey,
    pub(super) feed_mid: String,
    pub(super) feed_display: Option<String>,
    pub(super) kind: MediaKind,
    pub(super) codec: Codec,
    /// The flow guard in front of this m-line's `webrtcbin` sink pad.
    pub(super) guard: gst::Element,
    /// The publisher stream's tee, and its m-line there.
    pub(super) tee: gst::Element,
    pub(super) publisher_mindex: u32,
    /// The tee pad feeding the guard, once linked (after `connected`).
    pub(super) tee_pad: Option<gst::Pad>,
    /// False once the publisher stream is gone (m-line inactive).
    pub(super) active: bool,
    /// The last RTP sequence number and timestamp sent (`seq << 32 | ts`),
    /// for a streaming `switch` to continue from. Kept only for streams of
    /// ingests (mountpoint viewers): others never switch, and this is a
    /// per-packet probe.
    pub(super) last_rtp: Option<Arc<std::sync::atomic::AtomicU64>>,
    /// Set by a streaming `switch`: the `appsrc` that now feeds the guard
    /// (media of another mountpoint) instead of `tee`.
    pub(super) bridge: Option<gst::Element>,
    pub(super) send: bool,
    pub(super) drop_probe: Option<gst::PadProbeId>,
    /// For a simulcast feed: the layer selector in front of the guard, the
    /// layers' tees (lowest first), and their pads once linked. `tee` is
    /// then the top layer's and `tee_pad` stays `None`.
    pub(super) selector: Option<layers::Selector>,
    pub(super) layer_tees: Vec<(gst::Element, Option<Arc<gop::GopCache>>)>,
    pub(super) layer_pads: Vec<(gst::Element, gst::Pad)>,
    /// The automatic layer choice, unless the subscriber pinned a substream.
    pub(super) auto: Option<simulcast::AutoState>,
}

impl SubStream {
    /// Unlinks this stream from its publisher's tee(s).
    pub(super) fn detach(&mut self) {
        if let Some(pad) = self.tee_pad.take() {
            sfu::detach_branch(&self.tee, &pad);
        }
        for (tee, pad) in self.layer_pads.drain(..) {
            sfu::detach_branch(&tee, &pad);
        }
    }
}

/// Where a subscriber stream's media comes from: a publisher stream or a mix output.
pub(super) struct StreamSource {
    pub(super) kind: MediaKind,
    pub(super) codec: Codec,
    pub(super) pt: u8,
    pub(super) ssrc: Option<u32>,
    pub(super) tee: gst::Element,
    /// The source's mid (as listed in `publishers[]`) and m-line index.
    pub(super) mid: String,
    pub(super) mindex: u32,
    /// Simulcast layers' tees and caches, lowest first (empty: none).
    pub(super) layers: Vec<(gst::Element, Option<Arc<gop::GopCache>>)>,
    /// The subscriber's layer fields.
    pub(super) choice: LayerRequest,
}

pub(super) struct Subscriber {
    pub(super) h: HandleId,
    pub(super) peer: Peer,
    pub(super) streams: Vec<SubStream>,
    /// An answer was applied and no new offer is pending.
    pub(super) stable: bool,
    /// ICE and DTLS are up: branches can be linked without blocking the tee.
    pub(super) connected: bool,
    pub(super) paused: bool,
    /// The participant (handle) this subscriber belongs to, by `private_id`:
    /// it gets that participant's mix-minus.
    pub(super) tied: Option<PeerKey>,
    /// Feeds subscribed as a whole (`streams[{feed}]` without a mid): a
    /// stream they add later is added here too (Janus's `autoupdate`).
    pub(super) whole_feeds: Vec<PeerKey>,
}

pub(super) fn set_forwarding(st: &mut SubStream, on: bool) {
    let Some(pad) = st.guard.static_pad("src") else {
        return;
    };
    sfu::set_dropping(&pad, &mut st.drop_probe, !on);
}

impl Room {
    /// Resolves subscription requests into (feed handle, stream index) pairs.
    pub(super) fn resolve(
        &self,
        reqs: &[StreamRequest],
    ) -> Result<Vec<(PeerKey, usize, LayerRequest)>, RoomError> {
        let mut out = Vec::new();
        for r in reqs {
            if r.feed == self.mix_id() && self.mixer.is_some() {
                let mids = [(0, MIX_AUDIO_MID), (1, MIX_VIDEO_MID)];
                let before = out.len();
                out.extend(
                    mids.iter()
                        .filter(|(_, m)| r.mid.as_deref().is_none_or(|want| want == *m))
                        .map(|(i, _)| (MIX_HANDLE, *i, r.layers)),
                );
                if out.len() == before {
                    return Err(RoomError::NoSuchFeed(format!(
                        "{} mid {}",
                        r.feed,
                        r.mid.as_deref().unwrap_or("*")
                    )));
                }
                continue;
            }
            let Some((fh, p)) = self.find_feed(&r.feed) else {
                return Err(RoomError::NoSuchFeed(r.feed.to_string()));
            };
            let Some(publication) = &p.publication else {
                return Err(RoomError::NoSuchFeed(r.feed.to_string()));
            };
            let before = out.len();
            for (i, s) in publication.streams.iter().enumerate() {
                if r.mid.as_deref().is_none_or(|m| m == s.mid) {
                    out.push((fh, i, r.layers));
                }
            }
            if out.len() == before {
                return Err(RoomError::NoSuchFeed(format!(
                    "{} mid {}",
                    r.feed,
                    r.mid.as_deref().unwrap_or("*")
                )));
            }
        }
        Ok(out)
    }

    /// Adds one of the mix's streams (`idx` 0 audio, 1 video) to a subscriber.
    pub(super) fn add_mix_stream(
        &mut self,
        sub: &mut Subscriber,
        idx: usize,
    ) -> Result<(), RoomError> {
        let mix_id = self.mix_id();
        let mixer = self
            .mixer
            .as_mut()
            .ok_or_else(|| RoomError::NoSuchFeed(mix_id.to_string()))?;
        let source = if idx == 0 {
            let key = sub.tied.map_or(MixKey::All, MixKey::Minus);
            let (tee, ssrc) = mixer
                .audio_tee(&self.pipeline, key)
                .map_err(|e| RoomError::graph("mix audio", e))?;
            let (codec, pt) = mixer.audio_format();
            StreamSource {
                kind: MediaKind::Audio,
                codec,
                pt,
                ssrc: Some(ssrc),
                tee,
                mid: MIX_AUDIO_MID.into(),
                mindex: 0,
                layers: Vec::new(),
                choice: LayerRequest::default(),
            }
        } else {
            let (codec, pt, ssrc) = mixer.video_format();
            let tee = mixer.video_tee().clone();
            StreamSource {
                kind: MediaKind::Video,
                codec,
                pt,
                ssrc: Some(ssrc),
                tee,
                mid: MIX_VIDEO_MID.into(),
                mindex: 1,
                layers: Vec::new(),
                choice: LayerRequest::default(),
            }
        };
        self.attach_stream(sub, (mix_id, MIX_HANDLE, Some("Mix".into())), source)
    }

    /// Adds publisher stream `idx` of `feed_handle` (or of the mix) to a subscriber.
    pub(super) fn add_stream(
        &mut self,
        sub: &mut Subscriber,
        feed_handle: PeerKey,
        idx: usize,
        choice: LayerRequest,
    ) -> Result<(), RoomError> {
        if feed_handle == MIX_HANDLE {
            return self.add_mix_stream(sub, idx);
        }
        let p = self
            .participants
            .get(&feed_handle)
            .ok_or_else(|| RoomError::NoSuchFeed("gone".into()))?;
        let publication = p
            .publication
            .as_ref()
            .ok_or_else(|| RoomError::NoSuchFeed(p.id.to_string()))?;
        let s = &publication.streams[idx];
        let source = StreamSource {
            kind: s.kind,
            codec: s.codec,
            pt: s.pt,
            ssrc: s.ssrc,
            tee: s.tee.clone(),
            mid: s.mid.clone(),
            mindex: s.mindex,
            layers: s
                .layers
                .iter()
                .map(|l| (l.tee.clone(), l.gop.clone()))
                .collect(),
            choice,
        };
        let feed = (p.id.clone(), feed_handle, p.display.clone());
        self.attach_stream(sub, feed, source)
    }

    /// Prepares the subscriber's branch for `source` (linked to the tee once
    /// connected) and records the stream; `feed` is (id, handle, display).
    pub(super) fn attach_stream(
        &self,
        sub: &mut Subscriber,
        feed: (Id, PeerKey, Option<String>),
        source: StreamSource,
    ) -> Result<(), RoomError> {
        let (feed, feed_handle, feed_display) = feed;
        let mline = sub.streams.len() as u32;
        // A simulcast feed is sent as one SSRC of the subscriber's own.
        let simulcast = source.layers.len() >= 2;
        let ssrc = if simulcast {
            Some(rand::rng().random::<u32>() | 1)
        } else {
            source.ssrc
        };
        let spec = sfu::BranchSpec {
            subscriber_handle: sub.h.key(),
            codec: source.codec,
            pt: source.pt,
            ssrc,
            msid: feed.to_string(),
        };
        let guard = sfu::prepare_branch(
            &self.pipeline,
            &sub.peer.webrtcbin,
            mline,
            &spec,
            &self.ev_tx,
        )
        .map_err(|e| RoomError::graph("subscriber branch", e))?;
        let last_rtp = self
            .ingests
            .by_handle
            .contains_key(&feed_handle)
            .then(|| switch::track_last_rtp(&guard));
        let selector = match (simulcast, ssrc) {
            (true, Some(ssrc)) => {
                let sel = layers::Selector::new(
                    source.layers.len(),
                    source.codec,
                    ssrc,
                    simulcast::choice(None, source.choice, source.layers.len()),
                    layers::SelectorIds {
                        subscriber: sub.h.key(),
                        mline,
                        publisher: feed_handle,
                        publisher_mindex: source.mindex,
                    },
                    &self.ev_tx,
                );
                let linked = self.pipeline.add(&sel.element).is_ok()
                    && sel
                        .element
                        .static_pad("src")
                        .zip(guard.static_pad("sink"))
                        .is_some_and(|(s, g)| s.link(&g).is_ok())
                    && sel.element.sync_state_with_parent().is_ok();
                if !linked {
                    return Err(RoomError::graph(
                        "subscriber branch",
                        "cannot link the layer selector",
                    ));
                }
                Some(sel)
            }
            _ => None,
        };
        let auto = (simulcast && source.choice.substream.is_none())
            .then(|| simulcast::AutoState::new(source.layers.len()));
        sub.streams.push(SubStream {
            mindex: mline,
            mid: mline.to_string(),
            feed,
            feed_handle,
            feed_mid: source.mid,
            feed_display,
            kind: source.kind,
            codec: source.codec,
            guard,
            tee: source.tee,
            publisher_mindex: source.mindex,
            tee_pad: None,
            active: true,
            last_rtp,
            bridge: None,
            send: true,
            drop_probe: None,
            selector,
            layer_tees: if simulcast { source.layers } else { Vec::new() },
            layer_pads: Vec::new(),
            auto,
        });
        Ok(())
    }

    pub(super) fn subscribed_streams(sub: &Subscriber) -> Vec<SubscribedStream> {
        sub.streams
            .iter()
            .map(|st| SubscribedStream {
                mindex: st.mindex,
                mid: st.mid.clone(),
                kind: st.kind,
                active: st.active,
                feed: st.feed.clone(),
                feed_mid: st.feed_mid.clone(),
                feed_display: st.feed_display.clone(),
                send: st.send,
                codec: st.codec,
                simulcast: st.selector.as_ref().map(|s| {
                    let c = s.choice();
                    SimulcastState {
                        substream: s.active(),
                        target: c.substream,
                        temporal: c.temporal,
                        fallback_us: c.fallback.as_micros() as u64,
                    }
                }),
            })
            .collect()
    }

    /// Creates and applies a new offer for a subscriber; fills the stream mids
    /// from it. Returns the SDP.
    /// Makes a new offer for subscriber `handle` off the task;
    /// [`Room::subscriber_offered`] goes on with `then` when it is made.
    pub(super) fn make_offer(&mut self, handle: PeerKey, then: OfferFor) {
        let Some(sub) = self.subscribers.get(&handle) else {
            return offer_failed(then, RoomError::NotJoined);
        };
        let (peer, tx) = (sub.peer.clone(), self.ev_tx.clone());
        tokio::spawn(async move {
            let result = peer.offer().await;
            let _ = tx.send(RoomEvent::SubscriberOffered { handle, result });
        });
        self.negotiations.offers.insert(handle, then);
    }

    /// A subscriber's offer is made (or failed): its mids are taken from it
    /// and it goes where it was for (see [`OfferFor`]).
    pub(super) fn subscriber_offered(
        &mut self,
        handle: PeerKey,
        result: Result<String, PeerError>,
    ) {
        let Some(then) = self.negotiations.offers.remove(&handle) else {
            return;
        };
        let offer = match result {
            Ok(offer) => offer,
            Err(e) => {
                warn!(handle_id = %handle, error = %e, "subscriber offer failed");
                if matches!(then, OfferFor::Attach(_)) {
                    self.remove_subscriber(handle);
                }
                return offer_failed(then, e.into());
            }
        };
        let Some(sub) = self.subscribers.get_mut(&handle) else {
            return offer_failed(then, RoomError::NotJoined);
        };
        if let Ok(msg) = sdp::parse(&offer) {
            for st in &mut sub.streams {
                if let Some(mid) = msg.media(st.mindex).and_then(|m| m.attribute_val("mid")) {
                    st.mid = mid.to_owned();
                }
            }
        }
        sub.stable = false;
        let offered = Offered {
            streams: Self::subscribed_streams(sub),
            offer,
        };
        let h = sub.h;
        match then {
            OfferFor::Attach(reply) => {
                info!(
                    session_id = h.session_id,
                    handle_id = %handle,
                    "subscriber attached"
                );
                send_reply(reply, Ok(offered));
            }
            OfferFor::Update(reply) => send_reply(reply, Ok(offered)),
            OfferFor::Notice => self.notify(h, Notice::Renegotiated(offered)),
        }
    }

    /// `join` as subscriber: the branches are prepared now, the offer is
    /// made off the task and `reply` gets `attached` with it.
    pub(super) fn subscribe(
        &mut self,
        h: HandleId,
        streams: Vec<StreamRequest>,
        tied: Option<PeerKey>,
        reply: Reply<Offered>,
    ) {
        let handle = h.key();
        if let Err(e) = self.attach_subscriber(h, streams, tied) {
            return send_reply(reply, Err(e));
        }
        self.remember(handle, true);
        self.make_offer(handle, OfferFor::Attach(reply));
    }

    fn attach_subscriber(
        &mut self,
        h: HandleId,
        streams: Vec<StreamRequest>,
        tied: Option<PeerKey>,
    ) -> Result<(), RoomError> {
        let handle = h.key();
        if self.subscribers.contains_key(&handle) {
            return Err(RoomError::AlreadyJoined(Role::Subscriber));
        }
        if self.participants.contains_key(&handle) {
            return Err(RoomError::AlreadyJoined(Role::Publisher));
        }
        let wanted = self.resolve(&streams)?;
        if wanted.is_empty() {
            return Err(RoomError::Missing("streams"));
        }
        let peer = self.start_peer(Role::Subscriber, handle)?;
        let mut sub = Subscriber {
            h,
            peer,
            streams: Vec::new(),
            stable: false,
            connected: false,
            paused: false,
            tied,
            whole_feeds: streams
                .iter()
                .filter(|r| r.mid.is_none())
                .filter_map(|r| self.find_feed(&r.feed).map(|(fh, _)| fh))
                .collect(),
        };
        for (fh, idx, choice) in wanted {
            if let Err(e) = self.add_stream(&mut sub, fh, idx, choice) {
                self.retire_subscriber(sub);
                return Err(e);
            }
        }
        self.subscribers.insert(handle, sub);
        Ok(())
    }

    /// `start`: an answer is applied off the task ([`Room::subscriber_answered`]
    /// goes on); without one, a paused subscriber resumes now.
    pub(super) fn start(&mut self, h: HandleId, jsep: Option<Jsep>, reply: Reply<()>) {
        let handle = h.key();
        let Some(sub) = self.subscribers.get(&handle) else {
            return send_reply(reply, Err(RoomError::NotJoined));
        };
        let Some(jsep) = jsep else {
            self.subscriber_started(handle);
            return send_reply(reply, Ok(()));
        };
        if jsep.kind != SdpType::Answer {
            return send_reply(
                reply,
                Err(RoomError::WrongSdpType(
                    "Subscribers must send an SDP answer",
                )),
            );
        }
        if self.negotiations.answers.contains_key(&handle)
            || self.negotiations.offers.contains_key(&handle)
        {
            return send_reply(reply, Err(RoomError::OfferPending));
        }
        let (peer, tx) = (sub.peer.clone(), self.ev_tx.clone());
        tokio::spawn(async move {
            let result = peer.set_remote(SdpType::Answer, &jsep.sdp).await;
            let _ = tx.send(RoomEvent::SubscriberAnswered { handle, result });
        });
        self.negotiations.answers.insert(handle, reply);
    }

    /// A subscriber's answer was applied (or refused).
    pub(super) fn subscriber_answered(&mut self, handle: PeerKey, result: Result<(), PeerError>) {
        let Some(reply) = self.negotiations.answers.remove(&handle) else {
            return;
        };
        if let Err(e) = result {
            return send_reply(reply, Err(e.into()));
        }
        let Some(sub) = self.subscribers.get_mut(&handle) else {
            return send_reply(reply, Err(RoomError::NotJoined));
        };
        sub.stable = true;
        self.subscriber_started(handle);
        send_reply(reply, Ok(()));
    }

    /// A subscriber started (or resumed): forwarding on, branches linked,
    /// a keyframe asked for.
    fn subscriber_started(&mut self, handle: PeerKey) {
        if let Some(sub) = self.subscribers.get_mut(&handle)
            && sub.paused
        {
            sub.paused = false;
            for st in &mut sub.streams {
                let send = st.send;
                set_forwarding(st, send);
            }
        }
        self.flush_candidates(handle);
        let replayed = self.link_branches(handle);
        self.keyframes_for_subscriber(handle, &replayed);
    }

    /// Links every active, unlinked stream of a connected subscriber to its
    /// publisher's tee (see `sfu::prepare_branch` for why only then).
    /// Returns the tees whose keyframe cache held a GOP for the new branch.
    pub(super) fn link_branches(&mut self, handle: PeerKey) -> Vec<gst::Element> {
        let mut replayed = Vec::new();
        let Some(sub) = self.subscribers.get_mut(&handle) else {
            return replayed;
        };
        if !sub.connected || !sub.stable {
            return replayed;
        }
        for st in sub.streams.iter_mut().filter(|st| {
            st.active && st.tee_pad.is_none() && st.layer_pads.is_empty() && st.bridge.is_none()
        }) {
            if let Some(sel) = &st.selector {
                // Every layer to the selector, each with its own cache.
                for (i, (tee, gop)) in st.layer_tees.iter().enumerate() {
                    let Some(sink) = sel.sink(i) else { continue };
                    let replay = gop.as_ref().filter(|g| g.has_keyframe());
                    match sfu::attach_to_tee(tee, &sink, None, replay, &self.ev_tx) {
                        Ok(pad) => st.layer_pads.push((tee.clone(), pad)),
                        Err(e) => {
                            warn!(handle_id = %handle, mid = %st.mid, layer = i, error = %e, "cannot link a simulcast layer")
                        }
                    }
                }
                continue;
            }
            let keyframes =
                (st.kind == MediaKind::Video).then_some((st.feed_handle, st.publisher_mindex));
            // The publisher stream's keyframe cache (an ingest's is shared
            // with its room stream).
            let replay = self
                .participants
                .get(&st.feed_handle)
                .and_then(|p| p.publication.as_ref())
                .and_then(|pb| pb.streams.iter().find(|s| s.tee == st.tee))
                .and_then(|s| s.gop.as_ref());
            let replay = replay.filter(|g| g.has_keyframe());
            match sfu::link_branch(&st.tee, &st.guard, keyframes, replay, &self.ev_tx) {
                Ok(pad) => {
                    st.tee_pad = Some(pad);
                    if replay.is_some() {
                        replayed.push(st.tee.clone());
                    }
                }
                Err(e) => {
                    warn!(handle_id = %handle, mid = %st.mid, error = %e, "cannot link subscriber stream")
                }
            }
        }
        replayed
    }

    pub(super) fn retire_subscriber(&self, sub: Subscriber) {
        let mut elements = vec![sub.peer.webrtcbin.clone()];
        for mut st in sub.streams {
            match st.bridge.take() {
                Some(src) => elements.push(src),
                None => st.detach(),
            }
            if let Some(sel) = st.selector.take() {
                elements.push(sel.element);
            }
            elements.push(st.guard);
        }
        peer::retire(&self.pipeline, elements);
    }

    pub(super) fn remove_subscriber(&mut self, handle: PeerKey) {
        if let Some(sub) = self.subscribers.remove(&handle) {
            info!(
                session_id = sub.h.session_id,
                handle_id = %handle,
                "subscriber left"
            );
            self.forget(handle);
            self.pending_candidates.remove(&handle);
            self.retire_subscriber(sub);
        }
    }
}

/// Answers a command whose offer could not be made.
fn offer_failed(then: OfferFor, e: RoomError) {
    match then {
        OfferFor::Attach(reply) | OfferFor::Update(reply) => send_reply(reply, Err(e)),
        OfferFor::Notice => warn!(error = %e, "subscriber renegotiation failed"),
    }
}

//! Publisher-role participants: who is in the room, what they publish, and how
//! the others hear of it.

use super::*;

pub(super) struct PubStream {
    pub(super) mindex: u32,
    pub(super) mid: String,
    pub(super) kind: MediaKind,
    pub(super) codec: Codec,
    pub(super) pt: u8,
    pub(super) ssrc: Option<u32>,
    pub(super) description: Option<String>,
    pub(super) tee: gst::Element,
    pub(super) receiving: bool,
    pub(super) last_keyframe_request: Option<Instant>,
    /// Set by `moderate`: a probe on the tee's sink drops every packet.
    pub(super) moderated: Option<gst::PadProbeId>,
    /// Arrival-time mapping of this stream, for recordings.
    pub(super) clock: Arc<timing::ArrivalClock>,
    /// The last GOP of a video stream, replayed to each new subscriber
    /// (room option `keyframe_cache`); `None` for audio or when off.
    pub(super) gop: Option<Arc<gop::GopCache>>,
    /// Simulcast layers, lowest first (empty: one stream). `tee` is then
    /// the top layer's, which recordings, the mix and egress take.
    pub(super) layers: Vec<Layer>,
    /// How each layer is recognised (rid or SSRC), lowest first.
    pub(super) simulcast_keys: Vec<sdp_simulcast::LayerKey>,
    /// The offer's `rtp-stream-id` extension id.
    pub(super) rid_ext: Option<u8>,
}

/// One simulcast layer of a publisher stream.
pub(super) struct Layer {
    /// Its tee (fed by the router of its SSRC's pad).
    pub(super) tee: gst::Element,
    pub(super) gop: Option<Arc<gop::GopCache>>,
    /// Its SSRC, once a packet came.
    pub(super) ssrc: Option<u32>,
    pub(super) last_keyframe_request: Option<Instant>,
    /// Set by `moderate`, as for the stream.
    pub(super) moderated: Option<gst::PadProbeId>,
}

pub(super) struct Publication {
    /// The publisher's `webrtcbin` (`None` for an ingest).
    pub(super) peer: Option<Peer>,
    pub(super) streams: Vec<PubStream>,
    pub(super) connected: bool,
    /// Tees of streams a renegotiation ended. They stay linked to their
    /// `webrtcbin` pads (1.22 cannot remove a transceiver) and discard:
    /// taking one down under a live pad would return a flow error into
    /// the shared receive path and stop every stream of the publisher.
    pub(super) dormant: Vec<gst::Element>,
}

pub(super) struct Participant {
    pub(super) h: HandleId,
    pub(super) id: Id,
    pub(super) private_id: u32,
    pub(super) display: Option<String>,
    /// The client's own `metadata` JSON, kept and shown as given.
    pub(super) metadata: Option<serde_json::Value>,
    pub(super) publication: Option<Publication>,
    /// Talking detection on this participant's audio.
    pub(super) talk: TalkDetector,
}

impl Room {
    /// Tells handle `h` `notice`.
    pub(super) fn notify(&self, h: HandleId, notice: Notice) {
        self.ctx.notices.notify(&self.cfg.room, h, notice);
    }

    /// Tells every publisher-role participant except `except`.
    pub(super) fn broadcast(&self, notice: Notice, except: Option<PeerKey>) {
        for (hid, p) in &self.participants {
            if Some(*hid) != except {
                self.notify(p.h, notice.clone());
            }
        }
    }

    pub(super) fn published_streams(publication: &Publication) -> Vec<PublishedStream> {
        publication
            .streams
            .iter()
            .map(|s| PublishedStream {
                kind: s.kind,
                mindex: s.mindex,
                mid: s.mid.clone(),
                codec: s.codec,
                moderated: Some(s.moderated.is_some()),
                description: s.description.clone(),
                simulcast: (!s.layers.is_empty()).then_some(s.layers.len()),
            })
            .collect()
    }

    pub(super) fn publisher_info(p: &Participant) -> Option<PublisherInfo> {
        let publication = p.publication.as_ref()?;
        Some(PublisherInfo {
            id: p.id.clone(),
            display: p.display.clone(),
            metadata: p.metadata.clone(),
            streams: Self::published_streams(publication),
            talking: p.talk.talking(),
        })
    }

    /// `publishers[]`: the individual feeds (SFU, hybrid) and the mix (MCU, hybrid).
    pub(super) fn publishers(&self, except: Option<PeerKey>) -> Vec<PublisherInfo> {
        let mut list: Vec<PublisherInfo> = if self.cfg.mode == Mode::Mcu {
            vec![]
        } else {
            self.participants
                .iter()
                .filter(|(h, _)| Some(**h) != except)
                .filter_map(|(_, p)| Self::publisher_info(p))
                .collect()
        };
        list.extend(self.mix_info());
        list
    }

    /// Broadcasts a new or changed publisher, unless the room shows only the mix.
    pub(super) fn announce(&self, handle: PeerKey) {
        if self.cfg.mode == Mode::Mcu {
            return;
        }
        if let Some(v) = self
            .participants
            .get(&handle)
            .and_then(Self::publisher_info)
        {
            self.broadcast(Notice::Publishers(vec![v]), Some(handle));
        }
    }

    /// 432 when the room's `publishers` limit is reached.
    pub(super) fn check_publisher_room(&self) -> Result<(), RoomError> {
        let publishing = self
            .participants
            .values()
            .filter(|p| p.publication.is_some())
            .count()
            + self.negotiations.publishing();
        if publishing as u64 >= self.cfg.max_publishers {
            return Err(RoomError::PublishersFull(self.cfg.max_publishers));
        }
        Ok(())
    }

    pub(super) fn new_participant_id(&self) -> Id {
        let mut rng = rand::rng();
        loop {
            let id = if self.ctx.string_ids {
                Id::Str(format!("{:016x}", rng.random::<u64>()))
            } else {
                Id::Num(rng.random_range(1..(1u64 << 53)))
            };
            if !self.participants.values().any(|p| p.id == id) {
                return id;
            }
        }
    }

    pub(super) fn remember(&self, handle: PeerKey, subscriber: bool) {
        let member = Member {
            room: self.cfg.room.clone(),
            subscriber,
        };
        self.ctx
            .membership
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(handle.0, member);
    }

    pub(super) fn forget(&self, handle: PeerKey) {
        let mut m = self
            .ctx
            .membership
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if m.get(&handle.0).is_some_and(|m| m.room == self.cfg.room) {
            m.remove(&handle.0);
        }
    }

    pub(super) fn join(&mut self, h: HandleId, params: JoinParams) -> Result<Joined, RoomError> {
        if self.participants.contains_key(&h.key()) {
            return Err(RoomError::AlreadyJoined(Role::Publisher));
        }
        if self.subscribers.contains_key(&h.key()) {
            return Err(RoomError::AlreadyJoined(Role::Subscriber));
        }
        self.cfg.check_pin(params.pin.as_deref())?;
        self.cfg.check_token(params.token.as_deref())?;
        let id = match params.id {
            Some(id) if self.participants.values().any(|p| p.id == id) => {
                return Err(RoomError::IdExists(id));
            }
            Some(id) => id,
            None => self.new_participant_id(),
        };
        let private_id = rand::rng().random::<u32>();
        let p = Participant {
            h,
            id: id.clone(),
            private_id,
            display: params.display.clone(),
            metadata: params.metadata.clone(),
            publication: None,
            talk: TalkDetector::new(self.cfg.audio_active_packets, self.cfg.audio_level_average),
        };
        if self.cfg.notify_joining {
            self.broadcast(
                Notice::Joining {
                    id: id.clone(),
                    display: params.display.clone(),
                },
                None,
            );
        }
        self.participants.insert(h.key(), p);
        self.remember(h.key(), false);
        info!(session_id = h.session_id, handle_id = h.handle_id, id = %id, "publisher joined");
        Ok(Joined {
            id,
            private_id,
            description: self.cfg.description.clone(),
            publishers: self.publishers(Some(h.key())),
        })
    }

    pub(super) fn find_feed(&self, feed: &Id) -> Option<(PeerKey, &Participant)> {
        self.participants
            .iter()
            .find(|(_, p)| &p.id == feed)
            .map(|(h, p)| (*h, p))
    }
}

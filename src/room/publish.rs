//! A publisher's offer answered: SDP to transceivers (`strip_caps`), one tee per
//! stream, and its RTP pads linked to them as they appear.

use super::*;

/// The URI of an `extmap-<id>` caps field: a string, or for extmaps with
/// direction or attributes an array `<direction, uri, attributes>`.
/// What `publish` does off the task: applies the publisher's offer, adds a
/// transceiver per m-line and answers. Returns the answer and, per audio
/// m-line, the RFC 6464 extension id offered.
pub(super) async fn answer_offer(
    peer: &Peer,
    offer: &str,
    offered: &[sdp::OfferedStream],
    existing: u32,
) -> Result<(String, Vec<(u32, Option<u8>)>), PeerError> {
    let msg = sdp::parse(offer).map_err(|e| PeerError::Sdp(e.to_string()))?;
    peer.set_remote(SdpType::Offer, offer).await?;
    let mut audio_level_ids = Vec::new();
    // 1.22's webrtcbin creates transceivers for a remote offer only while
    // answering, matching offered m-lines to transceivers that exist by
    // codec. So add one per m-line, in offer order (they are associated in
    // that order): recvonly with the chosen codec's caps, or inactive for an
    // m-line this room does not take.
    // A renegotiation keeps the transceivers of the m-lines it had
    // (`existing`): only new m-lines get one.
    for s in offered.iter().filter(|s| s.mindex >= existing) {
        let Some(media) = msg.media(s.mindex) else {
            continue;
        };
        let (pt, direction) = match s.choice {
            Some((_, pt)) if s.sending => (
                pt as i32,
                gst_webrtc::WebRTCRTPTransceiverDirection::Recvonly,
            ),
            _ => match media.formats().next().and_then(|f| f.parse::<i32>().ok()) {
                Some(pt) => (pt, gst_webrtc::WebRTCRTPTransceiverDirection::Inactive),
                None => continue,
            },
        };
        let Some(mut caps) = media.caps_from_media(pt) else {
            continue;
        };
        // The m-line's attributes add its `extmap-<id>` fields.
        let _ = media.attributes_to_caps(caps.make_mut());
        let (mut caps, level_id) = strip_caps(caps);
        if s.kind == MediaKind::Audio {
            audio_level_ids.push((s.mindex, level_id));
        }
        if let Some(sc) = s.simulcast.as_ref().filter(|_| s.sending) {
            accept_simulcast(caps.make_mut(), sc);
        }
        peer.add_transceiver(direction, &caps);
    }
    Ok((peer.answer().await?, audio_level_ids))
}

/// Makes a transceiver's codec preferences accept rid simulcast (1.22's
/// webrtcbin then answers `a=rid:<id> recv` and `a=simulcast:recv …`, per
/// its `do_test_simulcast`): the rids, and the offer's ids for the MID and
/// RTP stream id header extensions. SSRC `SIM` groups need nothing.
fn accept_simulcast(caps: &mut gst::CapsRef, sc: &sdp_simulcast::Simulcast) {
    use crate::media::simulcast::{LayerKey, MID_URI, REPAIRED_RID_URI, RID_URI, TWCC_URI};
    let rids: Vec<&str> = sc
        .layers
        .iter()
        .filter_map(|l| match l {
            LayerKey::Rid(r) => Some(r.as_str()),
            LayerKey::Ssrc(_) => None,
        })
        .collect();
    if rids.is_empty() {
        return;
    }
    for s in caps.iter_mut() {
        for r in &rids {
            s.set(format!("rid-{r}").as_str(), "recv");
        }
        // Highest first, as janus.js lists them (any order is valid).
        let list: Vec<&str> = rids.iter().rev().copied().collect();
        s.set("a-simulcast", format!("recv {}", list.join(";")));
        // Transport-wide congestion control (the RTP session then sends
        // TWCC feedback): without any feedback a browser's estimate grows
        // slowly from its start rate, and the top layer stays off for
        // seconds.
        if let Some(id) = sc.twcc_ext {
            s.set(format!("extmap-{id}").as_str(), TWCC_URI);
        }
        for (id, uri) in [
            (sc.mid_ext, MID_URI),
            (sc.rid_ext, RID_URI),
            (sc.repaired_rid_ext, REPAIRED_RID_URI),
        ] {
            if let Some(id) = id {
                s.set(format!("extmap-{id}").as_str(), uri);
            }
        }
    }
}

pub(super) fn extmap_uri(value: &glib::SendValue) -> Option<String> {
    if let Ok(uri) = value.get::<String>() {
        return Some(uri);
    }
    let array = value.get::<gst::Array>().ok()?;
    array.get(1).and_then(|v| v.get::<String>().ok())
}

/// Keeps the codec part of an offer's caps for a transceiver's codec
/// preferences: of the header extensions only RFC 6464 audio level (1.22's
/// `webrtcbin` answers an extension only when it is in the preferences), and
/// no Opus `sprop-*` (1.22.0's Opus caps intersection fails on them, leaving
/// the m-line without media; fixed upstream in 1.22.10). Returns the caps
/// and the audio level extension id, if offered.
pub(super) fn strip_caps(caps: gst::Caps) -> (gst::Caps, Option<u8>) {
    let mut caps = caps;
    let mut level_id = None;
    {
        let caps = caps.make_mut();
        // `caps_from_media` names them application/x-unknown, which never
        // intersects with the offer's application/x-rtp.
        for s in caps.iter_mut() {
            s.set_name("application/x-rtp");
        }
        for s in caps.iter_mut() {
            let drop: Vec<String> = s
                .iter()
                .filter(|(f, v)| {
                    if let Some(id) = f.strip_prefix("extmap-") {
                        if extmap_uri(v).as_deref() == Some(sfu::AUDIO_LEVEL_URI)
                            && let Ok(id) = id.parse::<u8>()
                            && id > 0
                        {
                            level_id = Some(id);
                            return false;
                        }
                        return true;
                    }
                    f.starts_with("a-") || f.starts_with("x-") || f.starts_with("sprop-")
                })
                .map(|(f, _)| f.to_string())
                .collect();
            for f in drop {
                s.remove_field(&f);
            }
        }
    }
    (caps, level_id)
}

impl Room {
    /// `publish`/`configure`: settings change at once and `reply` is
    /// answered; an offer is answered off the task and `reply` waits for
    /// [`Room::publisher_answered`].
    pub(super) fn publish(
        &mut self,
        h: HandleId,
        params: PublishParams,
        jsep: Option<Jsep>,
        reply: Reply<Option<Published>>,
    ) {
        match self.begin_publish(h, params, jsep) {
            Ok(Some(state)) => {
                self.negotiations
                    .publish
                    .insert(h.key(), Waiting { state, reply });
            }
            Ok(None) => send_reply(reply, Ok(None)),
            Err(e) => send_reply(reply, Err(e)),
        }
    }

    fn begin_publish(
        &mut self,
        h: HandleId,
        mut params: PublishParams,
        jsep: Option<Jsep>,
    ) -> Result<Option<PendingPublish>, RoomError> {
        let handle = h.key();
        if self.cfg.lock_record && (params.record.is_some() || params.filename.is_some()) {
            self.cfg.check_secret(params.secret.as_deref())?;
        }
        if params.record == Some(true) && !self.recordings.by_publisher.contains_key(&handle) {
            self.recording_slot()?;
        }
        if let Some(f) = &params.filename
            && rec_files::file_path(Path::new("."), Some(f), "", None, "mp4", 0).is_none()
        {
            return Err(RoomError::invalid(
                "filename",
                "a relative name inside rec_dir",
            ));
        }
        let Some(p) = self.participants.get_mut(&handle) else {
            return Err(RoomError::NotJoined);
        };
        let mut changed = false;
        if let Some(d) = params.display.take() {
            p.display = Some(d);
            changed = true;
        }
        if let Some(m) = params.metadata.take() {
            p.metadata = Some(m);
            changed = true;
        }
        let Some(jsep) = jsep else {
            if params.is_publish {
                return Err(RoomError::Missing("jsep"));
            }
            if params.keyframe {
                self.keyframe_for_publisher(handle, true);
            }
            if changed {
                self.announce(handle);
            }
            match params.record {
                Some(true) if !self.recordings.by_publisher.contains_key(&handle) => {
                    if self
                        .participants
                        .get(&handle)
                        .is_some_and(|p| p.publication.is_some())
                    {
                        self.start_publisher_recording(handle, params.filename.as_deref());
                    }
                }
                Some(false) => self.stop_publisher_recording(handle),
                _ => {}
            }
            return Ok(None);
        };
        if jsep.kind != SdpType::Offer {
            return Err(RoomError::WrongSdpType("Publishers must send an SDP offer"));
        }
        if self.negotiations.publish.contains_key(&handle) {
            return Err(RoomError::AlreadyPublished);
        }
        if p.publication.is_some() {
            return self.begin_renegotiation(h, params, jsep).map(Some);
        }
        self.check_publisher_room()?;
        let msg = sdp::parse(&jsep.sdp).map_err(|e| RoomError::InvalidSdp(e.to_string()))?;
        let offered = sdp::offered_streams(&msg, &self.cfg.audiocodec, &self.cfg.videocodec);
        if !offered.iter().any(|s| s.choice.is_some() && s.sending) {
            return Err(RoomError::InvalidSdp(
                "the offer has no stream in a codec this room accepts".into(),
            ));
        }

        let peer = self.start_peer(Role::Publisher, handle)?;
        // Negotiated off the task: the room keeps serving meanwhile, and
        // `publisher_answered` goes on when the answer (or the failure) is in.
        let (task_peer, sdp_text, task_offered, tx) =
            (peer.clone(), jsep.sdp, offered.clone(), self.ev_tx.clone());
        tokio::spawn(async move {
            let result = answer_offer(&task_peer, &sdp_text, &task_offered, 0).await;
            let _ = tx.send(RoomEvent::PublisherAnswered { handle, result });
        });
        Ok(Some(PendingPublish {
            h,
            params,
            offered,
            peer,
            renegotiation: false,
        }))
    }

    /// A publisher's offer was answered off the task (see [`Room::publish`]):
    /// its tees and branches are built and the answer goes back; a failure
    /// (or a participant that left meanwhile) retires the `webrtcbin`.
    pub(super) fn publisher_answered(
        &mut self,
        handle: PeerKey,
        result: Result<(String, Vec<(u32, Option<u8>)>), PeerError>,
    ) {
        let Some(pending) = self.negotiations.publish.remove(&handle) else {
            return;
        };
        let reply = pending.reply;
        if pending.state.renegotiation {
            let PendingPublish {
                h, params, offered, ..
            } = pending.state;
            // An offer the PeerConnection refuses (no fingerprint, another
            // session's credentials, …) is a bad SDP: 437, the call goes on.
            let r = result
                .map_err(|e| RoomError::InvalidSdp(format!("renegotiation: {e}")))
                .and_then(|(answer, levels)| {
                    self.apply_renegotiation(h, &params, &offered, &levels, answer)
                });
            return send_reply(reply, r.map(Some));
        }
        let PendingPublish {
            h,
            params,
            offered,
            peer,
            ..
        } = pending.state;
        let r = match result {
            Err(e) => {
                warn!(handle_id = %handle, error = %e, "publisher negotiation failed");
                peer::retire(&self.pipeline, vec![peer.webrtcbin.clone()]);
                Err(e.into())
            }
            Ok(_) if !self.participants.contains_key(&handle) => {
                // It left while its offer was being answered.
                peer::retire(&self.pipeline, vec![peer.webrtcbin.clone()]);
                Err(RoomError::NotJoined)
            }
            Ok((answer, audio_level_ids)) => {
                self.install_publication(h, &params, &offered, peer, &audio_level_ids, answer)
            }
        };
        send_reply(reply, r.map(Some));
    }

    /// One sending stream of a publisher's offer, built: its tee (a tee per
    /// layer for simulcast, the top one as the stream's), arrival clock,
    /// RFC 6464 watch and keyframe cache.
    pub(super) fn new_pub_stream(
        &self,
        handle: PeerKey,
        params: &PublishParams,
        s: &sdp::OfferedStream,
        (codec, pt): (Codec, u8),
        audio_level_ids: &[(u32, Option<u8>)],
    ) -> Result<PubStream, RoomError> {
        let tee = sfu::make_tee(&self.pipeline, &format!("tee_{handle}_{}", s.mindex))
            .map_err(|e| RoomError::graph("publisher tee", e))?;
        let clock = Arc::new(timing::ArrivalClock::new(codec.clock_rate()));
        if let Some(pad) = tee.static_pad("sink") {
            let clock = clock.clone();
            pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
                if let Some(b) = info.buffer() {
                    clock.observe(b);
                }
                gst::PadProbeReturn::Ok
            });
        }
        // SFU rooms take talking levels from RFC 6464 (MCU and hybrid
        // rooms measure the decoded audio).
        let level_id = audio_level_ids
            .iter()
            .find(|(m, _)| *m == s.mindex)
            .and_then(|(_, id)| *id);
        if let Some(id) = level_id
            && self.cfg.mode == Mode::Sfu
        {
            sfu::watch_audio_level(&tee, handle, id, &self.ev_tx);
        }
        let cache_for = |tee: &gst::Element| {
            (self.cfg.keyframe_cache && s.kind == MediaKind::Video).then(|| {
                let cache = gop::GopCache::new(codec);
                cache.watch(tee);
                cache
            })
        };
        // Simulcast: a tee per layer, the top one as the stream's.
        let mut layers = Vec::new();
        if let Some(sc) = &s.simulcast {
            for i in 0..sc.layers.len() {
                let layer_tee = if i + 1 == sc.layers.len() {
                    tee.clone()
                } else {
                    sfu::make_tee(&self.pipeline, &format!("tee_{handle}_{}_{i}", s.mindex))
                        .map_err(|e| RoomError::graph("simulcast layer tee", e))?
                };
                layers.push(Layer {
                    gop: cache_for(&layer_tee),
                    tee: layer_tee,
                    ssrc: None,
                    last_keyframe_request: None,
                    moderated: None,
                });
            }
            info!(handle_id = %handle, mid = %s.mid, layers = ?sc.layers, "simulcast publisher");
        }
        let gop = match layers.last() {
            Some(top) => top.gop.clone(),
            None => cache_for(&tee),
        };
        let description = params
            .descriptions
            .iter()
            .find(|(mid, _)| *mid == s.mid)
            .map(|(_, d)| d.clone());
        Ok(PubStream {
            mindex: s.mindex,
            mid: s.mid.clone(),
            kind: s.kind,
            codec,
            pt,
            ssrc: s.ssrc,
            description,
            tee,
            receiving: false,
            last_keyframe_request: None,
            moderated: None,
            clock,
            gop,
            simulcast_keys: s
                .simulcast
                .as_ref()
                .map(|sc| sc.layers.clone())
                .unwrap_or_default(),
            rid_ext: s.simulcast.as_ref().and_then(|sc| sc.rid_ext),
            layers,
        })
    }

    /// Builds a negotiated publication: a tee per sending stream, the mixer's
    /// inputs, RTSP, recording; announces it.
    fn install_publication(
        &mut self,
        h: HandleId,
        params: &PublishParams,
        offered: &[sdp::OfferedStream],
        peer: Peer,
        audio_level_ids: &[(u32, Option<u8>)],
        answer: String,
    ) -> Result<Published, RoomError> {
        let handle = h.key();
        let mut streams = Vec::new();
        for s in offered.iter().filter(|s| s.sending) {
            let Some(choice) = s.choice else {
                continue;
            };
            streams.push(self.new_pub_stream(handle, params, s, choice, audio_level_ids)?);
        }
        let audio_codec = streams
            .iter()
            .find(|s| s.kind == MediaKind::Audio)
            .map(|s| s.codec);
        let video_codec = streams
            .iter()
            .find(|s| s.kind == MediaKind::Video)
            .map(|s| s.codec);
        let p = self
            .participants
            .get_mut(&handle)
            .ok_or(RoomError::NotJoined)?;
        let publication = Publication {
            peer: Some(peer),
            streams,
            connected: false,
            dormant: Vec::new(),
        };
        let (mix_inputs, video_layers) = republish::mix_sources(&publication);
        p.publication = Some(publication);
        let key = p.id.to_string();
        info!(session_id = h.session_id, handle_id = %handle, id = %p.id, "publishing");
        self.flush_candidates(handle);
        if let Some(m) = self.mixer.as_mut()
            && let Err(e) = m.add_publisher(
                &self.pipeline,
                handle,
                key,
                &mix_inputs,
                &video_layers,
                &self.ev_tx,
            )
        {
            warn!(handle_id = %handle, error = %e, "cannot mix publisher");
        }
        self.announce(handle);
        self.rtsp_mount(handle);
        if self.cfg.record || params.record == Some(true) {
            // Started once the PeerConnection is up.
            self.recordings
                .pending
                .insert(handle, params.filename.clone());
        }
        let streams = self
            .participants
            .get(&handle)
            .and_then(|p| p.publication.as_ref())
            .map(Self::published_streams)
            .unwrap_or_default();
        Ok(Published {
            streams,
            audio_codec,
            video_codec,
            answer,
        })
    }

    /// Links a publisher's new RTP pad to its stream's tee (or a discarding
    /// sink when nothing claims it, so it never stays unlinked).
    pub(super) fn publisher_pad(&mut self, handle: PeerKey, pad: &gst::Pad) {
        let publication = self
            .participants
            .get_mut(&handle)
            .and_then(|p| p.publication.as_mut().map(|pb| (p.h, pb)));
        let Some((h, publication)) = publication else {
            let _ = sfu::link_publisher_pad(&self.pipeline, pad, None);
            return;
        };
        let mline = pad
            .property::<Option<gst_webrtc::WebRTCRTPTransceiver>>("transceiver")
            .map(|t| t.property::<u32>("mlineindex"));
        // 1.22's webrtcbin cannot place an SSRC the offer did not signal
        // (rid simulcast has no `a=ssrc`): it hands such pads to the first
        // transceiver. They carry the `rid-*` caps of the simulcast m-line
        // and its payload type, which find the stream instead (the first
        // simulcast stream with that payload type).
        let caps = pad.current_caps();
        let caps_s = caps.as_ref().and_then(|c| c.structure(0));
        let has_rids = caps_s.is_some_and(|s| s.fields().any(|f| f.starts_with("rid-")));
        let pt = caps_s.and_then(|s| s.get::<i32>("payload").ok());
        let pad_ssrc = caps_s.and_then(|s| s.get::<u32>("ssrc").ok());
        // The transceiver's own stream, when the pad is really its: a
        // simulcast stream, the SSRC its m-line announced, or (with no
        // announced SSRC) a pad without rid caps. (A bundle's caps for a
        // payload type are the first m-line's with it, so a plain video
        // after a simulcast one has `rid-*` caps too.)
        let by_mline = mline
            .and_then(|m| publication.streams.iter().position(|s| s.mindex == m))
            .filter(|&i| {
                let s = &publication.streams[i];
                !s.layers.is_empty()
                    || (s.ssrc.is_some() && s.ssrc == pad_ssrc)
                    || (s.ssrc.is_none() && !has_rids)
            });
        let by_rids = has_rids
            .then(|| {
                publication
                    .streams
                    .iter()
                    .position(|s| !s.layers.is_empty() && Some(i32::from(s.pt)) == pt)
            })
            .flatten();
        let stream = by_mline
            .or(by_rids)
            .or_else(|| mline.and_then(|m| publication.streams.iter().position(|s| s.mindex == m)))
            .and_then(|i| publication.streams.get_mut(i));
        debug!(handle_id = %handle, ?mline, ?caps, "publisher pad");
        if let Some(s) = stream.as_ref().filter(|s| !s.layers.is_empty()) {
            // Simulcast: one pad per layer SSRC, routed by its first packets.
            let keys = s.simulcast_keys.clone();
            let tees = s.layers.iter().map(|l| l.tee.clone()).collect();
            let router = layer_inputs::router(keys, s.rid_ext, tees, handle, s.mindex, &self.ev_tx);
            let linked = self.pipeline.add(&router).is_ok()
                && router.sync_state_with_parent().is_ok()
                && router
                    .static_pad("sink")
                    .is_some_and(|sink| pad.link(&sink).is_ok());
            debug!(handle_id = %handle, linked, pad = %pad.name(), "simulcast pad routed");
            if !linked {
                warn!(handle_id = %handle, "cannot route a simulcast layer");
                let _ = sfu::link_publisher_pad(&self.pipeline, pad, None);
            }
            if let Some(s) = stream
                && !s.receiving
            {
                s.receiving = true;
                let (mid, kind) = (s.mid.clone(), s.kind);
                self.notify(
                    h,
                    Notice::Media {
                        mid,
                        kind,
                        receiving: true,
                    },
                );
            }
            return;
        }
        let tee = stream.as_ref().map(|s| s.tee.clone());
        if let Err(e) = sfu::link_publisher_pad(&self.pipeline, pad, tee.as_ref()) {
            warn!(handle_id = %handle, error = %e, "cannot link publisher pad");
            return;
        }
        if let Some(s) = stream {
            if let Some(ssrc) = pad
                .current_caps()
                .and_then(|c| c.structure(0).and_then(|s| s.get::<u32>("ssrc").ok()))
            {
                if s.ssrc.is_none() {
                    s.ssrc = Some(ssrc);
                }
            }
            if !s.receiving {
                s.receiving = true;
                let (mid, kind) = (s.mid.clone(), s.kind);
                debug!(handle_id = %handle, mid = %mid, "receiving");
                self.notify(
                    h,
                    Notice::Media {
                        mid,
                        kind,
                        receiving: true,
                    },
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer_caps(extmap: &str) -> gst::Caps {
        let sdp = format!(
            "v=0\r\no=- 1 0 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n\
             m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\n\
             a=mid:0\r\n{extmap}a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r\n\
             a=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;useinbandfec=1;sprop-stereo=1\r\n"
        );
        let msg = gst_sdp::SDPMessage::parse_buffer(sdp.as_bytes()).unwrap();
        let media = msg.media(0).unwrap();
        let mut caps = media.caps_from_media(111).unwrap();
        media.attributes_to_caps(caps.make_mut()).unwrap();
        caps
    }

    #[test]
    fn codec_preferences_keep_only_the_audio_level_extension() {
        gst::init().unwrap();
        for line in [
            "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n",
            "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level vad=on\r\n",
        ] {
            let (caps, id) = strip_caps(offer_caps(line));
            assert_eq!(id, Some(1), "{line}");
            let s = caps.structure(0).unwrap();
            assert_eq!(s.name(), "application/x-rtp");
            assert!(s.has_field("extmap-1"), "{caps}");
            assert!(!s.has_field("extmap-3"), "{caps}");
            assert!(!s.has_field("sprop-stereo"), "{caps}");
            assert!(!s.fields().any(|f| f.starts_with("a-")), "{caps}");
        }
        let (_, id) = strip_caps(offer_caps(""));
        assert_eq!(id, None);
    }
}

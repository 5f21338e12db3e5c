//! Starting an ingest's source attempt: `rtspsrc` (RTSP), `rtmp2src !
//! flvdemux` (RTMP) or `udpsrc`s (plain RTP), built from the catalog's
//! fragments, their pads reported to the room task.

use super::*;

impl Ingest {
    /// Starts a source attempt in `pipeline`. Its pads reach the room task
    /// as [`RoomEvent::IngestPad`], its end of pads as
    /// [`RoomEvent::IngestNoMorePads`].
    pub fn connect(
        &mut self,
        pipeline: &gst::Pipeline,
        catalog: &Catalog,
        events: &RoomEvents,
    ) -> Result<(), IngestError> {
        self.state = State::Connecting;
        self.linked_this_attempt.clear();
        self.pads_in_flight.store(0, Ordering::Relaxed);
        let handle = self.handle;
        let on_pad = {
            let tx = events.clone();
            let in_flight = self.pads_in_flight.clone();
            move |pad: &gst::Pad, known: Option<gst::Caps>| {
                in_flight.fetch_add(1, Ordering::Relaxed);
                // Buffers are held until the room task links the pad (an
                // unlinked pad fails the source with not-linked); events
                // pass and stay sticky on the pad.
                let block = pad.add_probe(
                    gst::PadProbeType::BLOCK
                        | gst::PadProbeType::BUFFER
                        | gst::PadProbeType::BUFFER_LIST,
                    |_, _| gst::PadProbeReturn::Ok,
                );
                if let Some(caps) = known.or_else(|| pad.current_caps()) {
                    let _ = tx.send(RoomEvent::IngestPad {
                        handle,
                        pad: pad.clone(),
                        caps,
                        block,
                    });
                    return;
                }
                // A demuxer's pad gets its caps after pad-added: post it
                // with them.
                let tx = tx.clone();
                let block = std::sync::Mutex::new(block);
                pad.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, move |pad, info| {
                    if let Some(gst::EventView::Caps(c)) = info.event().map(|e| e.view()) {
                        let _ = tx.send(RoomEvent::IngestPad {
                            handle,
                            pad: pad.clone(),
                            caps: c.caps_owned(),
                            block: block.lock().ok().and_then(|mut b| b.take()),
                        });
                        return gst::PadProbeReturn::Remove;
                    }
                    gst::PadProbeReturn::Ok
                });
            }
        };
        let no_more = {
            let tx = events.clone();
            move || {
                let _ = tx.send(RoomEvent::IngestNoMorePads { handle });
            }
        };
        match &self.spec {
            SourceSpec::Rtsp {
                url,
                user,
                pwd,
                transport,
            } => {
                let src = gst::parse::launch(&catalog.rtspsrc).map_err(perr)?;
                src.set_property("name", self.name("src"));
                src.set_property("location", url);
                src.set_property_from_str("protocols", transport.protocols());
                if let Some(u) = user {
                    src.set_property("user-id", u);
                }
                if let Some(p) = pwd {
                    src.set_property("user-pw", p);
                }
                src.connect_pad_added(move |_, pad| on_pad(pad, None));
                src.connect_no_more_pads(move |_| no_more());
                pipeline.add(&src).map_err(perr)?;
                self.attempt.elements.push(src.clone());
                src.sync_state_with_parent().map_err(perr)?;
            }
            SourceSpec::Rtmp { url } => {
                let bin =
                    gst::parse::bin_from_description(&catalog.rtmpsrc, false).map_err(perr)?;
                bin.set_property("name", self.name("src"));
                let mut src = None;
                let mut demux = None;
                for e in bin.iterate_elements().into_iter().flatten() {
                    if e.find_property("location").is_some() {
                        src = Some(e.clone());
                    }
                    if e.factory().is_some_and(|f| f.name() == "flvdemux") {
                        demux = Some(e);
                    }
                }
                let (Some(src), Some(demux)) = (src, demux) else {
                    return Err(perr(
                        "the rtmpsrc fragment needs a source with 'location' and flvdemux",
                    ));
                };
                src.set_property("location", url);
                // The demuxer's pads are ghosted by the room task: post them.
                let bin_weak = bin.downgrade();
                demux.connect_pad_added(move |_, pad| {
                    let Some(bin) = bin_weak.upgrade() else {
                        return;
                    };
                    let Ok(ghost) = gst::GhostPad::with_target(pad) else {
                        return;
                    };
                    let _ = ghost.set_active(true);
                    if bin.add_pad(&ghost).is_ok() {
                        on_pad(ghost.upcast_ref(), None);
                    }
                });
                demux.connect_no_more_pads(move |_| no_more());
                pipeline.add(&bin).map_err(perr)?;
                self.attempt.elements.push(bin.clone().upcast());
                bin.sync_state_with_parent().map_err(perr)?;
            }
            SourceSpec::Rtp { address, media } => {
                for (i, m) in media.iter().enumerate() {
                    let caps = gst::Caps::builder("application/x-rtp")
                        .field("media", m.kind.as_str())
                        .field("encoding-name", m.codec.encoding_name())
                        .field("clock-rate", m.codec.clock_rate())
                        .field("payload", i32::from(m.pt))
                        .build();
                    let udp = gst::ElementFactory::make("udpsrc")
                        .name(self.name(&format!("udp{i}")))
                        .property("address", address)
                        .property("port", i32::from(m.port))
                        .property("caps", &caps)
                        .build()
                        .map_err(perr)?;
                    // Bind now, so a port in use is an error of `create`.
                    udp.set_state(gst::State::Ready).map_err(|_| {
                        IngestError::Source(format!("cannot bind UDP {address}:{}", m.port))
                    })?;
                    // A small jitter buffer: reorders, and gives timestamps.
                    let jb = gst::ElementFactory::make("rtpjitterbuffer")
                        .name(self.name(&format!("jb{i}")))
                        .property("latency", 100u32)
                        .build()
                        .map_err(perr)?;
                    pipeline.add_many([&udp, &jb]).map_err(perr)?;
                    udp.link(&jb).map_err(perr)?;
                    self.attempt.elements.push(udp.clone());
                    self.attempt.elements.push(jb.clone());
                    let pad = jb
                        .static_pad("src")
                        .ok_or_else(|| perr("jitterbuffer src"))?;
                    // Known from the mountpoint's `media`: no need to wait
                    // for data to learn them.
                    on_pad(&pad, Some(caps.clone()));
                    jb.sync_state_with_parent().map_err(perr)?;
                    udp.sync_state_with_parent().map_err(perr)?;
                }
                no_more();
            }
        }
        Ok(())
    }
}

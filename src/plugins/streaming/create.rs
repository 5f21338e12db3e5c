//! `create`: a mountpoint from an RTSP or RTMP URL or plain RTP ports
//! (Janus `janus_streaming.c` "create" documentation), started as a room
//! whose only publisher is the ingest.

use super::*;

impl Streaming {
    /// `create`: the reply once the source shows its streams (or the
    /// error). Also how `[[streaming.mountpoints]]` are made at start-up.
    pub fn create(&self, body: &Map<String, Value>) -> BoxFuture<'static, Reply> {
        let parsed = (|| -> Result<_, StreamingError> {
            let p = Params::new(body, false);
            if let Some(key) = &self.admin_key
                && p.str("admin_key")? != Some(key.as_str())
            {
                return Err(StreamingError::Unauthorized("admin_key"));
            }
            if self.max_mountpoints > 0 && self.mountpoint_count() >= self.max_mountpoints {
                return Err(StreamingError::CantCreate(format!(
                    "mountpoint limit reached ({} mountpoints, [limits] mountpoints)",
                    self.max_mountpoints
                )));
            }
            let kind = p.req_str("type")?;
            let spec = match kind {
                "rtsp" => {
                    let url = p.req_str("url")?;
                    let SourceSpec::Rtsp { url, .. } = SourceSpec::from_url(url)
                        .ok()
                        .filter(|s| s.type_name() == "rtsp")
                        .ok_or_else(|| {
                            StreamingError::InvalidElement("url".into(), "an rtsp:// URL".into())
                        })?
                    else {
                        unreachable!("filtered to rtsp above")
                    };
                    let transport = match p.str("rtsp_transport")? {
                        None => RtspTransport::default(),
                        Some(t) => RtspTransport::parse(t).ok_or_else(|| {
                            StreamingError::InvalidElement(
                                "rtsp_transport".into(),
                                "auto, udp or tcp".into(),
                            )
                        })?,
                    };
                    SourceSpec::Rtsp {
                        url,
                        user: p.str("rtsp_user")?.map(str::to_owned),
                        pwd: p.str("rtsp_pwd")?.map(str::to_owned),
                        transport,
                    }
                }
                "rtmp" => {
                    let url = p.req_str("url")?;
                    SourceSpec::from_url(url)
                        .ok()
                        .filter(|s| s.type_name() == "rtmp")
                        .ok_or_else(|| {
                            StreamingError::InvalidElement("url".into(), "an rtmp:// URL".into())
                        })?
                }
                "rtp" => SourceSpec::Rtp {
                    address: self.rtp_ip.clone(),
                    media: match legacy_media(&p)? {
                        Some(media) => {
                            let mut m = Map::new();
                            m.insert("media".into(), Value::Array(media));
                            parse_rtp_media(&Params::new(&m, false), &self.rtp_ip)?
                        }
                        None => parse_rtp_media(&p, &self.rtp_ip)?,
                    },
                },
                other => {
                    return Err(StreamingError::InvalidElement(
                        format!("type ({other})"),
                        "rtp, rtsp or rtmp".into(),
                    ));
                }
            };
            let id = match p.u64("id")? {
                Some(id) if lock(&self.mountpoints).contains_key(&id) => {
                    return Err(StreamingError::Exists(id));
                }
                Some(0) => {
                    return Err(StreamingError::InvalidElement(
                        "id".into(),
                        "a positive integer".into(),
                    ));
                }
                Some(id) => id,
                None => loop {
                    let id = rand::random_range(1..(1u64 << 53));
                    if !lock(&self.mountpoints).contains_key(&id) {
                        break id;
                    }
                },
            };
            let name = p.str("name")?.map_or_else(|| id.to_string(), str::to_owned);
            let description = p
                .str("description")?
                .map_or_else(|| name.clone(), str::to_owned);
            let delay = p.u64("rtsp_reconnect_delay")?.map(Duration::from_secs);
            // Janus's `bufferkf` (experimental there; `videobufferkf` in the
            // legacy syntax); on by default here.
            let keyframe_cache = match p.bool("bufferkf")? {
                Some(b) => b,
                None => p.bool("videobufferkf")?.unwrap_or(true),
            };
            Ok((
                id,
                name,
                description,
                p.raw("metadata").cloned(),
                p.str("secret")?.map(str::to_owned),
                p.str("pin")?.map(str::to_owned),
                p.bool("is_private")?.unwrap_or(false),
                spec,
                delay,
                keyframe_cache,
            ))
        })();
        let (id, name, description, metadata, secret, pin, is_private, spec, delay, keyframe_cache) =
            match parsed {
                Ok(v) => v,
                Err(e) => return Box::pin(async move { Err(e) }),
            };
        // The mountpoint's room: one publisher (the ingest), viewers as subscribers.
        let cfg = RoomConfig {
            description: description.clone(),
            max_publishers: 1,
            ..RoomConfig::new(Id::Num(id))
        };
        let room = match room::spawn(cfg, self.ctx.clone()) {
            Ok(r) => r,
            Err(e) => {
                return Box::pin(async move { Err(StreamingError::CantCreate(e.to_string())) });
            }
        };
        let mountpoints = self.mountpoints.clone();
        Box::pin(async move {
            let (tx, rx) = oneshot::channel();
            room.send(Command::AddIngest {
                secret: None,
                params: IngestParams {
                    spec: spec.clone(),
                    id: Some(Id::Num(FEED)),
                    display: Some(name.clone()),
                    reconnect_delay: delay,
                    keyframe_cache,
                },
                reply: tx,
            })
            .map_err(|e| StreamingError::CantCreate(e.to_string()))?;
            let added = match tokio::time::timeout(REPLY_TIMEOUT, rx).await {
                Ok(Ok(r)) => r.map_err(|e| StreamingError::CantCreate(e.to_string())),
                _ => Err(StreamingError::CantCreate(
                    "the source did not answer in time".into(),
                )),
            };
            if let Err(e) = added {
                let (tx, rx) = oneshot::channel();
                if room.send(Command::Shutdown { reply: tx }).is_ok() {
                    let _ = tokio::time::timeout(REPLY_TIMEOUT, rx).await;
                }
                warn!(mountpoint = id, error = %e, "mountpoint not created");
                return Err(e);
            }
            let kind = spec.type_name();
            let mp = Mountpoint {
                id,
                name: name.clone(),
                settings: Mutex::new(Settings {
                    description: description.clone(),
                    metadata,
                    secret,
                    pin,
                    is_private,
                    enabled: true,
                }),
                spec,
                room,
            };
            {
                let mut map = lock(&mountpoints);
                if map.contains_key(&id) {
                    // Created twice at once: the first one stays.
                    drop(map);
                    let (tx, _rx) = oneshot::channel();
                    let _ = mp.room.send(Command::Shutdown { reply: tx });
                    return Err(StreamingError::Exists(id));
                }
                map.insert(id, Arc::new(mp));
            }
            info!(mountpoint = id, source = kind, "mountpoint created");
            let mut stream = json!({"id": id, "type": "live", "description": description, "is_private": is_private});
            if let Some(ports) = rtp_ports(id, &lock(&mountpoints)[&id].spec) {
                stream["ports"] = ports;
            }
            Ok(json!({
                "streaming": "created",
                // Janus 1.1 answers `created`; its docs say `create`.
                "created": name,
                "create": name,
                "permanent": false,
                "stream": stream,
            }))
        })
    }
}

/// Janus's legacy flat `rtp` syntax (still accepted by Janus 1.x, used by
/// older tutorials and configs): `audio`/`video` flags with `audioport`,
/// `audiopt`, `audiortpmap` (e.g. `opus/48000/2`), `audiofmtp`, and the
/// same for video (`videobufferkf` is taken as `bufferkf`), turned into
/// the `media[]` list (mids `a` and `v`). `None` when `media` is given or
/// neither flag is set. `data` media are not supported (454).
fn legacy_media(p: &Params) -> Result<Option<Vec<Value>>, StreamingError> {
    if p.raw("media").is_some() {
        return Ok(None);
    }
    if p.bool("data")? == Some(true) {
        return Err(StreamingError::InvalidElement(
            "data".into(),
            "false (data media are not supported)".into(),
        ));
    }
    let mut out = Vec::new();
    for (kind, mid) in [("audio", "a"), ("video", "v")] {
        if p.bool(kind)? != Some(true) {
            continue;
        }
        let key = |k: &str| format!("{kind}{k}");
        let rtpmap = p.req_str(&key("rtpmap"))?;
        // `<encoding name>/<clock rate>[/<channels>]` (RFC 4566 a=rtpmap).
        let codec = rtpmap
            .split('/')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        let mut m = json!({"type": kind, "mid": mid, "codec": codec,
                           "port": p.raw(&key("port")).cloned().unwrap_or(Value::Null),
                           "pt": p.raw(&key("pt")).cloned().unwrap_or(Value::Null)});
        if let Some(fmtp) = p.str(&key("fmtp"))? {
            m["fmtp"] = json!(fmtp);
        }
        out.push(m);
    }
    Ok((!out.is_empty()).then_some(out))
}

/// An `rtp` mountpoint's ports as Janus lists them in `create`:
/// `[{type, mid, msid, port}]`; `None` for other sources.
pub(super) fn rtp_ports(id: u64, spec: &SourceSpec) -> Option<Value> {
    let SourceSpec::Rtp { media, .. } = spec else {
        return None;
    };
    Some(Value::Array(
        media
            .iter()
            .map(|m| json!({"type": m.kind.as_str(), "mid": m.mid, "msid": format!("janus{id}"), "port": m.port}))
            .collect(),
    ))
}

/// A free UDP port on `ip` (or any address when `ip` is not one), for an
/// `rtp` mountpoint created with `port: 0` (Janus picks one too). The port
/// is found by binding and releasing it; the mountpoint's `udpsrc` binds it
/// a moment later.
fn free_udp_port(ip: &str) -> Option<u16> {
    let ip: std::net::IpAddr = ip.parse().unwrap_or([0, 0, 0, 0].into());
    std::net::UdpSocket::bind((ip, 0))
        .and_then(|s| s.local_addr())
        .ok()
        .map(|a| a.port())
}

/// `media[{type, mid, port, pt, codec, fmtp?}]` of an `rtp` mountpoint;
/// `port: 0` takes a free port on `rtp_ip`.
fn parse_rtp_media(p: &Params, rtp_ip: &str) -> Result<Vec<RtpMedia>, StreamingError> {
    let list = p
        .array("media")?
        .ok_or_else(|| StreamingError::MissingElement("media".into()))?;
    if list.is_empty() {
        return Err(StreamingError::InvalidElement(
            "media".into(),
            "a non-empty array".into(),
        ));
    }
    let mut out = Vec::new();
    for (i, m) in list.iter().enumerate() {
        let field = |k: &str| format!("media[{i}].{k}");
        let o = m.as_object().ok_or_else(|| {
            StreamingError::InvalidElement(format!("media[{i}]"), "an object".into())
        })?;
        let mp = Params::new(o, false);
        let kind = match mp
            .req_str("type")
            .map_err(|_| StreamingError::MissingElement(field("type")))?
        {
            "audio" => MediaKind::Audio,
            "video" => MediaKind::Video,
            _ => {
                return Err(StreamingError::InvalidElement(
                    field("type"),
                    "audio or video".into(),
                ));
            }
        };
        let port = mp
            .u64("port")
            .ok()
            .flatten()
            .filter(|p| *p <= 65535)
            .and_then(|p| {
                if p == 0 {
                    free_udp_port(rtp_ip).map(u64::from)
                } else {
                    Some(p)
                }
            })
            .ok_or_else(|| {
                StreamingError::InvalidElement(field("port"), "a UDP port (0: any free one)".into())
            })?;
        let pt = mp
            .u64("pt")
            .ok()
            .flatten()
            .filter(|p| *p < 128)
            .ok_or_else(|| {
                StreamingError::InvalidElement(field("pt"), "a payload type (0-127)".into())
            })?;
        let codec: Codec = mp
            .req_str("codec")
            .map_err(|_| StreamingError::MissingElement(field("codec")))?
            .parse()
            .map_err(|_| {
                StreamingError::InvalidElement(field("codec"), "opus, vp8 or h264".into())
            })?;
        if codec.kind() != kind {
            return Err(StreamingError::InvalidElement(
                field("codec"),
                format!("a {} codec", kind.as_str()),
            ));
        }
        out.push(RtpMedia {
            kind,
            mid: mp
                .str("mid")
                .ok()
                .flatten()
                .map_or_else(|| i.to_string(), str::to_owned),
            port: port as u16,
            pt: pt as u8,
            codec,
            fmtp: mp.str("fmtp").ok().flatten().map(str::to_owned),
        });
    }
    Ok(out)
}

//! Starting the gateway from a [`Config`]: GStreamer, the plugins, the
//! listeners. Used by `main` and by tests that embed the gateway.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use tracing::info;

use crate::config::Config;
use crate::gateway::Gateway;
use crate::media::ice::IceSettings;
use crate::plugins::Plugin;
use crate::plugins::streaming::Streaming;
use crate::plugins::videoroom::VideoRoom;
use crate::room::RoomContext;
use crate::transport::http::HttpSite;

/// A started gateway.
pub struct Running {
    /// Bound HTTP address.
    pub http: SocketAddr,
    /// Bound WebSocket address.
    pub ws: SocketAddr,
    /// The gateway.
    pub gateway: Arc<Gateway>,
    /// The videoroom plugin.
    pub videoroom: Arc<VideoRoom>,
    /// The streaming plugin.
    pub streaming: Arc<Streaming>,
    /// Encoders chosen by the start-up probe.
    pub encoders: Encoders,
    /// Where rooms are served over RTSP, if enabled.
    pub rtsp: Option<SocketAddr>,
    /// Every listener's address (TLS and admin ones included).
    pub listeners: crate::listen::Bound,
}

/// Initializes GStreamer, binds the listeners (port 0 picks a free port),
/// creates the configured rooms and starts serving.
pub async fn start(cfg: &Config) -> anyhow::Result<Running> {
    gst::init().context("GStreamer failed to initialize")?;
    for f in [
        "webrtcbin",
        "nicesrc",
        "dtlssrtpenc",
        "rtpbin",
        "tee",
        "queue",
    ] {
        anyhow::ensure!(
            gst::ElementFactory::find(f).is_some(),
            "GStreamer element '{f}' is missing: install gstreamer1.0-plugins-bad, -good and gstreamer1.0-nice"
        );
    }
    let ice = IceSettings::from_config(&cfg.nat, cfg.media.port_range()?)?;
    let alive = Arc::new(Mutex::new(Vec::new()));
    let encoders: Encoders = Arc::default();
    let recording = crate::room::record::Catalog::from_config(&cfg.recording)?;
    let mut videoroom_slot = None;
    let ingest = if cfg.streaming.catalog.as_os_str().is_empty() {
        crate::room::ingest::Catalog::builtin()
    } else {
        crate::room::ingest::Catalog::load(&cfg.streaming.catalog)?
    };
    let rtsp = if cfg.rtsp.enabled {
        Some(Arc::new(crate::room::rtsp::RtspServer::start(
            &cfg.rtsp.ip.to_string(),
            cfg.rtsp.port,
        )?))
    } else {
        None
    };
    let mut streaming_slot = None;
    let gateway = Gateway::new(Duration::from_secs(cfg.general.session_timeout), |events| {
        let context = |notices: Arc<dyn crate::room::Notices>| {
            Arc::new(RoomContext {
                ice: ice.clone(),
                jitter_buffer_ms: cfg.media.jitter_buffer_ms,
                batch_send: cfg.media.batch_send,
                keyframe_interval: Duration::from_millis(cfg.media.keyframe_interval_ms),
                notices,
                string_ids: cfg.videoroom.string_ids,
                membership: Arc::new(Mutex::new(HashMap::new())),
                alive: alive.clone(),
                encoders: encoders.clone(),
                recording: recording.clone(),
                rec_dir: cfg.recording.dir.clone(),
                recordings: Default::default(),
                max_recordings: cfg.limits.recordings,
                ingest: ingest.clone(),
                egress: crate::room::egress::Catalog::builtin(),
                mcu: crate::room::mcu::Catalog::builtin(),
                rtsp: rtsp.clone(),
            })
        };
        let admin_key =
            (!cfg.videoroom.admin_key.is_empty()).then(|| cfg.videoroom.admin_key.clone());
        let vr = Arc::new(
            VideoRoom::new(
                context(crate::plugins::videoroom::notices(events.clone())),
                events.clone(),
                admin_key,
            )
            .with_max_rooms(cfg.limits.rooms),
        );
        videoroom_slot = Some(vr.clone());
        // Mountpoints are rooms whose notices the streaming plugin shapes.
        let st = Arc::new(
            Streaming::new(
                context(crate::plugins::streaming::notices(events.clone())),
                events,
                (!cfg.streaming.admin_key.is_empty()).then(|| cfg.streaming.admin_key.clone()),
                cfg.streaming.rtp_ip.to_string(),
            )
            .with_max_mountpoints(cfg.limits.mountpoints),
        );
        streaming_slot = Some(st.clone());
        vec![vr as Arc<dyn Plugin>, st as Arc<dyn Plugin>]
    });
    let videoroom = videoroom_slot.context("videoroom plugin not created")?;
    let streaming = streaming_slot.context("streaming plugin not created")?;
    for preset in &cfg.videoroom.rooms {
        let body: serde_json::Map<String, serde_json::Value> = serde_json::to_value(&preset.0)?
            .as_object()
            .cloned()
            .unwrap_or_default();
        let mut body = body;
        if !cfg.videoroom.admin_key.is_empty() {
            body.insert("admin_key".into(), cfg.videoroom.admin_key.clone().into());
        }
        videoroom
            .create(&body)
            .map_err(|e| anyhow::anyhow!("config room: {e}"))?;
    }
    // Static mountpoints: made in the background, as a source may take
    // its connect timeout to show its streams; a failure is logged.
    for (i, preset) in cfg.streaming.mountpoints.iter().enumerate() {
        let mut body: serde_json::Map<String, serde_json::Value> = serde_json::to_value(&preset.0)?
            .as_object()
            .cloned()
            .unwrap_or_default();
        if !cfg.streaming.admin_key.is_empty() {
            body.insert("admin_key".into(), cfg.streaming.admin_key.clone().into());
        }
        let made = streaming.create(&body);
        tokio::spawn(async move {
            match made.await {
                Ok(r) => {
                    tracing::info!(mountpoint = %r["stream"]["id"], "config mountpoint created")
                }
                Err(e) => tracing::warn!(index = i, error = %e, "config mountpoint not created"),
            }
        });
    }
    let g = &cfg.general;
    gateway.configure_core(|core| {
        let auth = core.auth_mut();
        auth.set_api_secret(Some(g.api_secret.clone()));
        auth.set_admin_secret(Some(g.admin_secret.clone()));
        auth.set_token_auth(g.token_auth, Some(g.token_auth_secret.clone()));
        core.set_reclaim_timeout(Duration::from_secs(g.reclaim_session_timeout));
        core.set_limits(
            cfg.limits.sessions_per_connection,
            cfg.limits.handles_per_session,
        );
    });
    if g.token_auth {
        let mode = if g.token_auth_secret.is_empty() {
            "stored"
        } else {
            "signed"
        };
        info!(mode, "token authentication enabled");
    }
    if cfg.events.enabled {
        let e = &cfg.events;
        anyhow::ensure!(
            e.backend.starts_with("http://") || e.backend.starts_with("https://"),
            crate::events::EventsError::NoBackend
        );
        let mask = crate::events::parse_mask(&e.events)?;
        let (handler, rx) =
            crate::events::EventHandler::new(mask, "webrtc-gateway", e.queue, e.stats_period);
        crate::events::sender::spawn(e.backend.clone(), e.grouping, rx, handler.counters.clone());
        gateway.set_event_handler(handler.clone());
        handler.emit(
            crate::events::Kind::Core,
            Some(1),
            crate::events::Subject::default(),
            serde_json::json!({"status": "started", "info": gateway.server_info()}),
        );
        info!(backend = %e.backend, events = %e.events, "event handler enabled");
    }
    gateway.spawn_sweeper();
    spawn_encoder_probe(cfg, &gateway, encoders.clone());

    let dir =
        |p: &std::path::Path| (!p.as_os_str().is_empty() && p.is_dir()).then(|| p.to_path_buf());
    let site = HttpSite {
        base_path: cfg.http.base_path.clone(),
        demo_dir: dir(&cfg.http.demo_dir),
        vendor_dir: dir(&cfg.http.vendor_dir),
        config_js: String::new(),
        metrics: crate::metrics::renderer(gateway.clone(), videoroom.clone(), alive),
    };
    let bound = crate::listen::start(cfg, &gateway, site).await?;
    Ok(Running {
        http: bound.http,
        ws: bound.ws,
        listeners: bound,
        gateway,
        videoroom,
        streaming,
        encoders,
        rtsp: rtsp.as_ref().map(|r| r.addr),
    })
}

/// The encoders chosen at start-up.
pub type Encoders = crate::media::encoder::Chosen;

/// Probes the encoder catalog off the runtime (it encodes real frames, so it
/// must not delay start-up), logs the choice and shows it in `server_info`.
fn spawn_encoder_probe(cfg: &Config, gateway: &Arc<Gateway>, slot: Encoders) {
    use crate::media::codec::Codec;
    use crate::media::encoder::{self, Catalog, PROBE_TIMEOUT, Preferences};
    if cfg.encoder.catalog.as_os_str().is_empty() {
        info!("encoder catalog disabled: no mixing or transcoding");
        gateway.set_info("encoders", serde_json::json!("disabled"));
        // Settled at once: nothing waits for a probe that never runs.
        let _ = slot.set(Vec::new());
        return;
    }
    let catalog = match Catalog::load(&cfg.encoder.catalog) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "no encoder catalog: mixing and transcoding unavailable");
            gateway.set_info("encoders", serde_json::json!({"error": e.to_string()}));
            let _ = slot.set(Vec::new());
            return;
        }
    };
    gateway.set_info("encoders", serde_json::json!("probing"));
    let jobs = [Codec::H264, Codec::Vp8]
        .map(|codec| (codec, Preferences::from_config(&cfg.encoder, codec)));
    let (gw, out) = (Arc::downgrade(gateway), slot.clone());
    tokio::task::spawn_blocking(move || {
        let mut chosen = Vec::new();
        let mut info = serde_json::Map::new();
        for (codec, prefs) in jobs {
            match encoder::select(&catalog, codec, &prefs, |spec| {
                encoder::probe(spec, codec, PROBE_TIMEOUT)
            }) {
                Ok(sel) => {
                    info!(codec = %codec, encoder = %sel.spec.factory, "video encoder selected");
                    info.insert(codec.janus_name().into(), sel.to_json());
                    chosen.push(sel);
                }
                Err(e) => {
                    tracing::warn!(codec = %codec, error = %e, "no video encoder");
                    info.insert(
                        codec.janus_name().into(),
                        serde_json::json!({"error": e.to_string()}),
                    );
                }
            }
        }
        let _ = out.set(chosen);
        if let Some(gw) = gw.upgrade() {
            gw.set_info("encoders", serde_json::Value::Object(info));
        }
    });
}

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
use crate::plugins::videoroom::VideoRoom;
use crate::room::RoomContext;
use crate::transport::{self, http::HttpSite};

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
}

/// Initializes GStreamer, binds the listeners (port 0 picks a free port),
/// creates the configured rooms and starts serving.
pub async fn start(cfg: &Config) -> anyhow::Result<Running> {
    gst::init().context("GStreamer failed to initialize")?;
    for f in ["webrtcbin", "nicesrc", "dtlssrtpenc", "rtpbin", "tee", "queue"] {
        anyhow::ensure!(
            gst::ElementFactory::find(f).is_some(),
            "GStreamer element '{f}' is missing: install gstreamer1.0-plugins-bad, -good and gstreamer1.0-nice"
        );
    }
    let ice = IceSettings::from_config(&cfg.nat, cfg.media.port_range()?)?;
    let alive = Arc::new(Mutex::new(Vec::new()));
    let mut videoroom_slot = None;
    let gateway = Gateway::new(Duration::from_secs(cfg.general.session_timeout), |events| {
        let ctx = Arc::new(RoomContext {
            ice,
            jitter_buffer_ms: cfg.media.jitter_buffer_ms,
            keyframe_interval: Duration::from_millis(cfg.media.keyframe_interval_ms),
            events,
            string_ids: cfg.videoroom.string_ids,
            membership: Arc::new(Mutex::new(HashMap::new())),
            alive: alive.clone(),
        });
        let admin_key = (!cfg.videoroom.admin_key.is_empty()).then(|| cfg.videoroom.admin_key.clone());
        let vr = Arc::new(VideoRoom::new(ctx, admin_key));
        videoroom_slot = Some(vr.clone());
        vec![vr as Arc<dyn Plugin>]
    });
    let videoroom = videoroom_slot.context("videoroom plugin not created")?;
    for preset in &cfg.videoroom.rooms {
        let body: serde_json::Map<String, serde_json::Value> =
            serde_json::to_value(&preset.0)?.as_object().cloned().unwrap_or_default();
        let mut body = body;
        if !cfg.videoroom.admin_key.is_empty() {
            body.insert("admin_key".into(), cfg.videoroom.admin_key.clone().into());
        }
        videoroom.create(&body).map_err(|e| anyhow::anyhow!("config room: {e}"))?;
    }
    gateway.spawn_sweeper();

    let http_listener = transport::bind(SocketAddr::new(cfg.http.ip, cfg.http.port)).await?;
    let ws_listener = transport::bind(SocketAddr::new(cfg.websockets.ws_ip, cfg.websockets.ws_port)).await?;
    let http = http_listener.local_addr()?;
    let ws = ws_listener.local_addr()?;
    let dir = |p: &std::path::Path| (!p.as_os_str().is_empty() && p.is_dir()).then(|| p.to_path_buf());
    let site = HttpSite {
        base_path: cfg.http.base_path.clone(),
        demo_dir: dir(&cfg.http.demo_dir),
        vendor_dir: dir(&cfg.http.vendor_dir),
        config_js: format!(
            "window.GATEWAY_CONFIG = {};\n",
            serde_json::json!({"ws": format!("ws://{ws}"), "http": format!("http://{http}{}", cfg.http.base_path)})
        ),
        metrics: crate::metrics::renderer(gateway.clone(), videoroom.clone(), alive),
    };
    let http_routes = transport::http::routes(gateway.clone(), site);
    let ws_routes = transport::ws::routes(gateway.clone());
    tokio::spawn(warp::serve(http_routes).incoming(http_listener).run());
    tokio::spawn(warp::serve(ws_routes).incoming(ws_listener).run());
    info!(%http, %ws, "gateway listening");
    Ok(Running { http, ws, gateway, videoroom })
}

//! The gateway's front doors, from the config: the Janus API over HTTP and
//! WebSocket, the Admin API over both, and each of them over TLS when
//! enabled. Everything is bound before anything is served, so a port in
//! use fails start-up with its address, and the demo page's `/config.js`
//! can name the ports actually bound.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tracing::{info, warn};
use warp::Filter;

use crate::config::Config;
use crate::gateway::Gateway;
use crate::transport::{self, http::HttpSite};

/// The bound addresses (`None`: that listener is off).
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    /// Janus API over HTTP, demo page, metrics.
    pub http: SocketAddr,
    /// Janus API over WebSocket.
    pub ws: SocketAddr,
    /// The same as `http`, over TLS.
    pub https: Option<SocketAddr>,
    /// The same as `ws`, over TLS.
    pub wss: Option<SocketAddr>,
    /// Admin API over HTTP.
    pub admin_http: Option<SocketAddr>,
    /// Admin API over WebSocket.
    pub admin_ws: Option<SocketAddr>,
    /// Admin API over HTTPS.
    pub admin_https: Option<SocketAddr>,
    /// Admin API over WSS.
    pub admin_wss: Option<SocketAddr>,
}

async fn bind_if(on: bool, addr: SocketAddr) -> anyhow::Result<Option<TcpListener>> {
    if !on {
        return Ok(None);
    }
    Ok(Some(transport::bind(addr).await?))
}

fn addr_of(l: &Option<TcpListener>) -> anyhow::Result<Option<SocketAddr>> {
    l.as_ref()
        .map(|l| l.local_addr())
        .transpose()
        .context("local address")
}

/// Serves `routes` on `listener`, plainly or over `tls`.
fn spawn<F>(listener: TcpListener, tls: Option<&TlsAcceptor>, routes: F)
where
    F: Filter<Extract = (warp::reply::Response,), Error = warp::Rejection>
        + Clone
        + Send
        + Sync
        + 'static,
{
    match tls {
        Some(tls) => {
            tokio::spawn(transport::tls::serve(listener, tls.clone(), routes));
        }
        None => {
            tokio::spawn(warp::serve(routes).incoming(listener).run());
        }
    }
}

/// Binds and serves every enabled listener. `site` is completed with the
/// demo page's `/config.js` here. Errors: a port in use, or TLS enabled
/// without a usable certificate.
pub async fn start(
    cfg: &Config,
    gateway: &Arc<Gateway>,
    mut site: HttpSite,
) -> anyhow::Result<Bound> {
    let (h, w) = (&cfg.http, &cfg.websockets);
    let any_tls = h.https || h.admin_https || w.wss || w.admin_wss;
    let tls = if any_tls {
        Some(transport::tls::acceptor(
            &cfg.certificates.cert_pem,
            &cfg.certificates.cert_key,
        )?)
    } else {
        None
    };
    let http = transport::bind(SocketAddr::new(h.ip, h.port)).await?;
    let ws = transport::bind(SocketAddr::new(w.ws_ip, w.ws_port)).await?;
    let https = bind_if(h.https, SocketAddr::new(h.ip, h.secure_port)).await?;
    let wss = bind_if(w.wss, SocketAddr::new(w.ws_ip, w.wss_port)).await?;
    let admin_http = bind_if(h.admin_port != 0, SocketAddr::new(h.admin_ip, h.admin_port)).await?;
    let admin_https = bind_if(
        h.admin_https,
        SocketAddr::new(h.admin_ip, h.admin_secure_port),
    )
    .await?;
    let admin_ws = bind_if(
        w.admin_ws_port != 0,
        SocketAddr::new(w.admin_ws_ip, w.admin_ws_port),
    )
    .await?;
    let admin_wss = bind_if(
        w.admin_wss,
        SocketAddr::new(w.admin_ws_ip, w.admin_wss_port),
    )
    .await?;
    let bound = Bound {
        http: http.local_addr()?,
        ws: ws.local_addr()?,
        https: addr_of(&https)?,
        wss: addr_of(&wss)?,
        admin_http: addr_of(&admin_http)?,
        admin_ws: addr_of(&admin_ws)?,
        admin_https: addr_of(&admin_https)?,
        admin_wss: addr_of(&admin_wss)?,
    };
    // The page builds its URLs from its own host name and these ports, so
    // it works from another machine too (the bound address may be 0.0.0.0).
    site.config_js = format!(
        "window.GATEWAY_CONFIG = {};\n",
        serde_json::json!({
            "ws": format!("ws://{}", bound.ws),
            "http": format!("http://{}{}", bound.http, h.base_path),
            "ws_port": bound.ws.port(),
            "wss_port": bound.wss.map(|a| a.port()),
            "base_path": h.base_path,
        })
    );
    let console_dir = site.demo_dir.as_ref().map(|d| d.join("console"));
    let api = transport::http::routes(gateway.clone(), site);
    let ws_api = transport::ws::routes(gateway.clone());
    let admin_api = transport::http::admin_routes(gateway.clone(), &h.admin_base_path, console_dir);
    let admin_ws_api = transport::ws::admin_routes(gateway.clone());
    spawn(http, None, api.clone());
    spawn(ws, None, ws_api.clone());
    if let Some(l) = https {
        spawn(l, tls.as_ref(), api);
    }
    if let Some(l) = wss {
        spawn(l, tls.as_ref(), ws_api);
    }
    if let Some(l) = admin_http {
        spawn(l, None, admin_api.clone());
    }
    if let Some(l) = admin_https {
        spawn(l, tls.as_ref(), admin_api);
    }
    if let Some(l) = admin_ws {
        spawn(l, None, admin_ws_api.clone());
    }
    if let Some(l) = admin_wss {
        spawn(l, tls.as_ref(), admin_ws_api);
    }
    info!(http = %bound.http, ws = %bound.ws, https = ?bound.https, wss = ?bound.wss, "gateway listening");
    let admin_on = [
        bound.admin_http,
        bound.admin_ws,
        bound.admin_https,
        bound.admin_wss,
    ];
    if admin_on.iter().any(Option::is_some) {
        info!(
            http = ?bound.admin_http, ws = ?bound.admin_ws, https = ?bound.admin_https,
            wss = ?bound.admin_wss, base_path = %h.admin_base_path, "admin API listening"
        );
        let exposed = admin_on.iter().flatten().any(|a| !a.ip().is_loopback());
        if exposed && cfg.general.admin_secret.is_empty() {
            warn!("the admin API listens beyond loopback without an admin_secret");
        }
    }
    Ok(bound)
}

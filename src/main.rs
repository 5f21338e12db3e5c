//! `webrtc-gateway`: runs the gateway (`--config conf/gateway.toml`).

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use webrtc_gateway::config::Config;

/// A Janus-API WebRTC gateway on GStreamer.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// Configuration file (TOML).
    #[arg(short, long, default_value = "conf/gateway.toml")]
    config: PathBuf,
    /// Override the HTTP port (0 picks a free one).
    #[arg(long)]
    http_port: Option<u16>,
    /// Override the WebSocket port (0 picks a free one).
    #[arg(long)]
    ws_port: Option<u16>,
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Converts Janus .mjr recordings (one video and/or one audio file of
    /// one participant) straight to one MP4: H.264 as recorded, VP8
    /// transcoded to H.264, Opus to AAC. No janus-pp-rec, no ffmpeg.
    Mjr2mp4 {
        /// `<video.mjr> [<audio.mjr>]` (either order).
        #[arg(required = true, num_args = 1..=2)]
        inputs: Vec<PathBuf>,
        /// The MP4 to write.
        #[arg(short, long)]
        output: PathBuf,
    },
}

/// `mjr2mp4`: the encoder for VP8 comes from the configured catalog (the
/// same probe as at gateway start-up), the fragments from the recording
/// catalog.
fn mjr2mp4(cfg: &Config, inputs: &[PathBuf], output: &std::path::Path) -> anyhow::Result<()> {
    use webrtc_gateway::media::codec::Codec;
    use webrtc_gateway::media::encoder::{self, PROBE_TIMEOUT, Preferences};
    gst::init()?;
    let catalog = webrtc_gateway::room::record::Catalog::from_config(&cfg.recording)?;
    let prefs = Preferences::from_config(&cfg.encoder, Codec::H264);
    let encoder = encoder::Catalog::load(&cfg.encoder.catalog)
        .ok()
        .and_then(|c| {
            encoder::select(&c, Codec::H264, &prefs, |spec| {
                encoder::probe(spec, Codec::H264, PROBE_TIMEOUT)
            })
            .ok()
        });
    let paths: Vec<&std::path::Path> = inputs.iter().map(PathBuf::as_path).collect();
    let done = webrtc_gateway::mjr::convert(&paths, output, &catalog, encoder.as_ref())?;
    println!(
        "{}: {:.2} s from {} packets",
        output.display(),
        done.duration_ms as f64 / 1000.0,
        done.packets.iter().sum::<usize>()
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    // warp logs every client that drops a long poll as an ERROR; silence that noise.
    use tracing_subscriber::prelude::*;
    let filter = EnvFilter::try_from_env("GATEWAY_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,warp::server=off"));
    let (filter, filter_handle) = tracing_subscriber::reload::Layer::new(filter);
    tracing_subscriber::registry()
        .with(filter)
        .with(
            tracing_subscriber::fmt::layer()
                .with_target(false)
                .with_writer(std::io::stderr),
        )
        .init();
    route_glib_logs();
    let cli = Cli::parse();
    if let Some(Cmd::Mjr2mp4 { inputs, output }) = &cli.command {
        // The config only supplies catalogs here; without one, the defaults.
        let cfg = Config::load(&cli.config).unwrap_or_default();
        return mjr2mp4(&cfg, inputs, output);
    }
    let mut cfg = Config::load(&cli.config)?;
    if let Some(p) = cli.http_port {
        cfg.http.port = p;
    }
    if let Some(p) = cli.ws_port {
        cfg.websockets.ws_port = p;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("tokio runtime")?;
    rt.block_on(async move {
        let running = webrtc_gateway::server::start(&cfg).await?;
        // Admin `set_log_level`: Janus levels onto the tracing filter, live.
        running
            .gateway
            .set_log_level_hook(std::sync::Arc::new(move |level: u8| {
                let base = match level {
                    0 => "off",
                    1 | 2 => "error",
                    3 => "warn",
                    4 => "info",
                    5 => "debug",
                    _ => "trace",
                };
                filter_handle
                    .reload(EnvFilter::new(format!("{base},warp::server=off")))
                    .map_err(|e| e.to_string())
            }));
        // A line tests and scripts parse to find the ports.
        let mut ready = format!("READY http={} ws={}", running.http, running.ws);
        if let Some(rtsp) = running.rtsp {
            ready.push_str(&format!(" rtsp={rtsp}"));
        }
        let l = running.listeners;
        for (key, addr) in [
            ("https", l.https),
            ("wss", l.wss),
            ("admin", l.admin_http),
            ("admin_ws", l.admin_ws),
            ("admin_https", l.admin_https),
            ("admin_wss", l.admin_wss),
        ] {
            if let Some(a) = addr {
                ready.push_str(&format!(" {key}={a}"));
            }
        }
        println!("{ready}");
        println!("Demo page: http://{}/", running.http);
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let signum = tokio::select! {
            _ = tokio::signal::ctrl_c() => 2,
            _ = term.recv() => 15,
        };
        tracing::info!(signum, "shutting down");
        running.gateway.notify_shutdown(signum);
        // Rooms stop their pipelines in order (no element disposed while PLAYING).
        running
            .videoroom
            .shutdown(std::time::Duration::from_secs(5))
            .await;
        running
            .streaming
            .shutdown(std::time::Duration::from_secs(5))
            .await;
        // The shutdown event and the rooms' last events reach the backend.
        running
            .gateway
            .flush_events(std::time::Duration::from_secs(2))
            .await;
        anyhow::Ok(())
    })
}

/// Sends GLib/GStreamer log output (g_warning, g_critical) through `tracing`
/// instead of bare stderr, so it carries timestamps and levels like the rest
/// of the gateway's logs. `GST_DEBUG` output is GStreamer's own and unchanged.
/// With `GATEWAY_LOG` at `debug`, criticals also log a backtrace.
fn route_glib_logs() {
    glib::log_set_default_handler(|domain, level, message| {
        let domain = domain.unwrap_or("glib");
        match level {
            glib::LogLevel::Error | glib::LogLevel::Critical => {
                tracing::error!(domain, "{message}");
                if tracing::enabled!(tracing::Level::DEBUG) {
                    tracing::debug!(domain, backtrace = %std::backtrace::Backtrace::force_capture(), "critical raised here");
                }
            }
            glib::LogLevel::Warning => tracing::warn!(domain, "{message}"),
            glib::LogLevel::Message | glib::LogLevel::Info => tracing::info!(domain, "{message}"),
            glib::LogLevel::Debug => tracing::debug!(domain, "{message}"),
        }
    });
}

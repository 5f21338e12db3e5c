//! RTSP serving of rooms: each room's mix and each feed can be played at
//! `rtsp://<ip>:<port>/videoroom/<room>/mix` and `/videoroom/<room>/<feed>`
//! (gst-rtsp-server, in its own GLib main loop thread).
//!
//! A mount's media is shared by all its clients: one `appsrc` per stream,
//! fed by one `appsink` branch on the room's stream tee, so however many
//! RTSP clients watch, the room adds one branch and no encode (the mix is
//! already encoded; feeds are forwarded as sent).
//!
//! ```text
//! room:  stream tee ─► queue ─► appsink ──push──► appsrc ─► depay ─► pay (RTSP media)
//! ```
//!
//! gst-rtsp-server's callbacks (`media-configure`, `unprepared`) only post
//! [`RoomEvent::RtspAttach`]/[`RoomEvent::RtspDetach`] to the room task.

use std::net::SocketAddr;

use gst::prelude::*;
use gst_rtsp_server::prelude::*;

use super::peer::{RoomEvent, RoomEvents};
use crate::ids::{MediaId, PeerKey};
use crate::media::codec::{Codec, MediaKind};

/// The gateway's RTSP server.
pub struct RtspServer {
    server: gst_rtsp_server::RTSPServer,
    /// Where it listens.
    pub addr: SocketAddr,
    catalog: Catalog,
}

/// The RTSP fragments (`pipelines/rtsp.toml`).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Catalog {
    /// RTP encoding name → depayload and payload again (ends with the payloader).
    pub repay: std::collections::HashMap<String, String>,
}

impl Catalog {
    /// The catalog shipped in `pipelines/rtsp.toml`.
    pub fn builtin() -> Catalog {
        crate::media::fragments::builtin(
            "pipelines/rtsp.toml",
            include_str!("../../../pipelines/rtsp.toml"),
        )
    }
}

impl std::fmt::Debug for RtspServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RtspServer({})", self.addr)
    }
}

/// One stream a mount serves: its kind, codec and payload type (as on the
/// room's tee).
#[derive(Debug, Clone, Copy)]
pub struct MountStream {
    /// Audio or video.
    pub kind: MediaKind,
    /// Codec on the tee.
    pub codec: Codec,
    /// Payload type on the tee.
    pub pt: u8,
}

/// Why the RTSP server did not start.
#[derive(Debug, thiserror::Error)]
pub enum RtspError {
    /// The address cannot be bound.
    #[error("RTSP server cannot listen on {addr}: {source}")]
    Bind {
        /// `ip:port`.
        addr: String,
        /// GLib's reason.
        #[source]
        source: glib::Error,
    },
    /// `ip` is not an IP address.
    #[error("RTSP server address: {0}")]
    Address(#[from] std::net::AddrParseError),
    /// Its thread could not be started.
    #[error("RTSP server thread: {0}")]
    Thread(#[from] std::io::Error),
}

impl RtspServer {
    /// Starts listening on `ip:port` (port 0 picks one) in a thread of its
    /// own. Errors when the port cannot be bound.
    pub fn start(ip: &str, port: u16) -> Result<RtspServer, RtspError> {
        let server = gst_rtsp_server::RTSPServer::new();
        server.set_address(ip);
        server.set_service(&port.to_string());
        let ctx = glib::MainContext::new();
        let source = server
            .create_source(gst_rtsp_server::gio::Cancellable::NONE)
            .map_err(|source| RtspError::Bind {
                addr: format!("{ip}:{port}"),
                source,
            })?;
        let bound = server.bound_port();
        source.attach(Some(&ctx));
        std::thread::Builder::new()
            .name("rtsp-server".into())
            .spawn(move || {
                let main_loop = glib::MainLoop::new(Some(&ctx), false);
                // Keep the source alive with the loop.
                let _source = source;
                main_loop.run();
            })?;
        let addr = SocketAddr::new(ip.parse()?, bound as u16);
        Ok(RtspServer {
            server,
            addr,
            catalog: Catalog::builtin(),
        })
    }

    /// The path of a room's mix or feed.
    pub fn path(room: &str, feed: Option<&str>) -> String {
        format!("/videoroom/{room}/{}", feed.unwrap_or("mix"))
    }

    /// Serves `streams` of the source `handle` of a room at `path`. Each
    /// client session prepares one shared media; its `appsrc`s are posted
    /// to the room (`events`) to be fed from the tees.
    pub fn mount(&self, path: &str, handle: PeerKey, streams: &[MountStream], events: &RoomEvents) {
        let Some(mounts) = self.server.mount_points() else {
            return;
        };
        let mut launch = String::from("(");
        for (i, s) in streams.iter().enumerate() {
            let Some(repay) = self.catalog.repay.get(s.codec.encoding_name()) else {
                tracing::warn!(codec = %s.codec, path, "pipelines/rtsp.toml has no re-payloader: not served");
                return;
            };
            // The fragment ends with the payloader: name and payload type go on it.
            launch.push_str(&format!(
                " appsrc name=src{i} is-live=true format=time do-timestamp=true \
                 caps=\"application/x-rtp,media={},encoding-name={},clock-rate={},payload={}\" \
                 ! {repay} name=pay{i} pt={}",
                s.kind.as_str(),
                s.codec.encoding_name(),
                s.codec.clock_rate(),
                s.pt,
                96 + i
            ));
        }
        launch.push_str(" )");
        let factory = gst_rtsp_server::RTSPMediaFactory::new();
        factory.set_launch(&launch);
        factory.set_shared(true);
        let tx = events.clone();
        let kinds: Vec<MediaKind> = streams.iter().map(|s| s.kind).collect();
        factory.connect_media_configure(move |_, media| {
            let media_id = MediaId::next();
            let Some(bin) = media.element().downcast::<gst::Bin>().ok() else {
                return;
            };
            let srcs: Vec<(MediaKind, gst_app::AppSrc)> = kinds
                .iter()
                .enumerate()
                .filter_map(|(i, k)| {
                    let src = bin.by_name(&format!("src{i}"))?;
                    Some((*k, src.downcast::<gst_app::AppSrc>().ok()?))
                })
                .collect();
            let _ = tx.send(RoomEvent::RtspAttach {
                handle,
                media: media_id,
                srcs,
            });
            let tx = tx.clone();
            media.connect_unprepared(move |_| {
                let _ = tx.send(RoomEvent::RtspDetach { media: media_id });
            });
        });
        mounts.add_factory(path, factory);
    }

    /// Stops serving `path` (clients already playing keep their session
    /// until the room detaches their branch).
    pub fn unmount(&self, path: &str) {
        if let Some(m) = self.server.mount_points() {
            m.remove_factory(path);
        }
    }
}

/// The room side of one shared RTSP media: an `appsink` branch per stream.
pub struct RtspBranch {
    /// The source it serves (a publisher handle, or the mix).
    pub handle: PeerKey,
    /// (tee, tee pad, queue, appsink) per stream.
    pub parts: Vec<(gst::Element, gst::Pad, Vec<gst::Element>)>,
}

/// Builds `tee → queue → appsink` feeding `src` (pushes are dropped once
/// the RTSP media is gone).
pub fn attach(
    pipeline: &gst::Pipeline,
    tee: &gst::Element,
    src: &gst_app::AppSrc,
    replay: Option<&std::sync::Arc<super::gop::GopCache>>,
) -> Result<(gst::Pad, Vec<gst::Element>), String> {
    let queue = gst::ElementFactory::make("queue")
        .property("max-size-buffers", 0u32)
        .property("max-size-bytes", 0u32)
        .property("max-size-time", 1_000_000_000u64)
        .property_from_str("leaky", "downstream")
        .build()
        .map_err(|e| e.to_string())?;
    let sink = gst_app::AppSink::builder()
        .sync(false)
        .async_(false)
        .max_buffers(50)
        .drop(true)
        .build();
    let weak = src.downgrade();
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |s| {
                let sample = s.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                if let (Some(src), Some(buf)) = (weak.upgrade(), sample.buffer_owned()) {
                    let mut buf = buf;
                    // The RTSP media stamps its own time (do-timestamp).
                    let b = buf.make_mut();
                    b.set_pts(gst::ClockTime::NONE);
                    b.set_dts(gst::ClockTime::NONE);
                    let _ = src.push_buffer(buf);
                }
                // A gone client never stops the room's tee.
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    let sink: gst::Element = sink.upcast();
    pipeline
        .add_many([&queue, &sink])
        .map_err(|e| e.to_string())?;
    queue.link(&sink).map_err(|e| e.to_string())?;
    sink.sync_state_with_parent().map_err(|e| e.to_string())?;
    queue.sync_state_with_parent().map_err(|e| e.to_string())?;
    let tee_pad = tee
        .request_pad_simple("src_%u")
        .ok_or("tee refused a pad")?;
    // A keyframe cache gives the new media a picture at once.
    if let Some(cache) = replay {
        cache.replay_into(&tee_pad);
    }
    let qsink = queue.static_pad("sink").ok_or("queue sink")?;
    tee_pad.link(&qsink).map_err(|e| format!("{e:?}"))?;
    Ok((tee_pad, vec![queue, sink]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_catalog_re_pays_every_codec() {
        gst::init().unwrap();
        let c = Catalog::builtin();
        for codec in [Codec::H264, Codec::Vp8, Codec::Opus] {
            let desc = format!("{} name=pay0 pt=96", c.repay[codec.encoding_name()]);
            let bin = gst::parse::bin_from_description(&desc, true).unwrap();
            let pay = bin.by_name("pay0").expect("the payloader is last");
            assert_eq!(pay.property::<u32>("pt"), 96, "{codec}");
        }
    }
}

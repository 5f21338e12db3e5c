//! A `webrtcbin` simulcast publisher: one `videotestsrc` encoded three times
//! (160x90, 320x180, 640x360), each layer payloaded with its own SSRC and
//! the RFC 8852 `rtp-stream-id` header extension (rids `l`, `m`, `h`),
//! funnelled into one sink pad whose caps carry `rid-<id>=send` and
//! `a-simulcast`, so the offer has `a=rid:… send` and `a=simulcast:send
//! h;m;l` as Chrome's does (GStreamer 1.22 `webrtcbin` simulcast sending).

use std::sync::Arc;

use anyhow::Context;
use gst::prelude::*;
use gst_rtp::prelude::*;
use serde_json::Value;

use crate::janus::Handle;
use crate::peer::{TestPeer, VideoCodec};

/// The rids, lowest layer first, and each layer's frame size.
pub const LAYERS: [(&str, u32, u32); 3] = [("l", 160, 90), ("m", 320, 180), ("h", 640, 360)];

/// The header extension id the publisher uses for the rid.
const RID_EXT: u8 = 10;
/// The one for the mid.
const MID_EXT: u8 = 9;

fn layer_chain(codec: VideoCodec, i: usize, (rid, w, h): (&str, u32, u32), gop: u32) -> String {
    let pt = 96;
    let ssrc = SSRCS[i];
    let enc = match codec {
        VideoCodec::Vp8 => format!(
            "vp8enc deadline=1 cpu-used=16 keyframe-max-dist={gop} target-bitrate={} ! rtpvp8pay name=pay_{rid} pt={pt} ssrc={ssrc} picture-id-mode=15-bit mtu=1200",
            w * h * 4
        ),
        VideoCodec::H264 => format!(
            "x264enc tune=zerolatency speed-preset=ultrafast key-int-max={gop} bframes=0 bitrate={} ! video/x-h264,profile=constrained-baseline ! rtph264pay name=pay_{rid} pt={pt} ssrc={ssrc} config-interval=-1 aggregate-mode=zero-latency mtu=1200",
            (w * h * 4 / 1000).max(100)
        ),
    };
    format!("t. ! queue ! videoscale ! video/x-raw,width={w},height={h} ! {enc} ! funnel.sink_{i} ")
}

/// The caps of the simulcast m-line (rids, `a-simulcast`, extmaps).
pub fn simulcast_caps(codec: VideoCodec) -> gst::Caps {
    let (name, extra) = match codec {
        VideoCodec::Vp8 => ("VP8", None),
        VideoCodec::H264 => ("H264", Some("1")),
    };
    let mut b = gst::Caps::builder("application/x-rtp")
        .field("media", "video")
        .field("encoding-name", name)
        .field("payload", 96i32)
        .field("clock-rate", 90_000i32)
        .field(
            format!("extmap-{MID_EXT}").as_str(),
            "urn:ietf:params:rtp-hdrext:sdes:mid",
        )
        .field(
            format!("extmap-{RID_EXT}").as_str(),
            "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id",
        )
        .field("a-simulcast", "send h;m;l");
    for (rid, _, _) in LAYERS {
        b = b.field(format!("rid-{rid}").as_str(), "send");
    }
    if let Some(mode) = extra {
        b = b.field("packetization-mode", mode);
    }
    b.build()
}

/// How the layers are signalled in the offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signalling {
    /// `a=rid:<id> send` and `a=simulcast:send h;m;l`, as Chrome sends.
    Rid,
    /// `a=ssrc-group:SIM <l> <m> <h>` with the layers' SSRCs and no rids,
    /// as older janus.js (Chrome's legacy simulcast) and native SDKs send.
    SsrcGroup,
}

/// The layers' SSRCs, lowest first (set on their payloaders).
pub const SSRCS: [u32; 3] = [1000, 1001, 1002];

/// Rewrites a rid simulcast offer as an SSRC-group one: the video m-line
/// loses its `a=rid`, `a=simulcast` and rid extmap lines and gets
/// `a=ssrc-group:SIM` plus `a=ssrc:<ssrc> cname/msid` lines for the three
/// layers' SSRCs (RFC 5576; Chrome's legacy "SIM" group, lowest first).
pub fn as_ssrc_group(sdp: &str) -> String {
    let mut out = Vec::new();
    let mut in_video = false;
    for line in sdp.lines() {
        if line.starts_with("m=") {
            in_video = line.starts_with("m=video");
        }
        if in_video
            && (line.starts_with("a=rid:")
                || line.starts_with("a=simulcast:")
                || (line.starts_with("a=extmap:") && line.contains("rtp-stream-id")))
        {
            continue;
        }
        out.push(line.to_owned());
        if in_video && line.starts_with("a=mid:") {
            let list: Vec<String> = SSRCS.iter().map(u32::to_string).collect();
            out.push(format!("a=ssrc-group:SIM {}", list.join(" ")));
            for ssrc in SSRCS {
                out.push(format!("a=ssrc:{ssrc} cname:simulcast-test"));
                out.push(format!("a=ssrc:{ssrc} msid:sim video"));
            }
        }
    }
    out.join("\r\n") + "\r\n"
}

/// Makes payloader `pay` write `rid` in the RFC 8852 `rtp-stream-id` header
/// extension of every packet (id [`RID_EXT`], as in [`simulcast_caps`]).
pub fn add_rid_extension(pay: &gst::Element, rid: &str) {
    let ext = gst::ElementFactory::make("rtphdrextstreamid")
        .property("rid", rid)
        .build()
        .ok()
        .and_then(|e| e.downcast::<gst_rtp::RTPHeaderExtension>().ok());
    if let Some(ext) = ext {
        ext.set_id(u32::from(RID_EXT));
        pay.emit_by_name::<()>("add-extension", &[&ext]);
    }
}

/// Makes payloader `pay` write `mid` in the RFC 8843 `sdes:mid` header
/// extension of every packet (id [`MID_EXT`]), as browsers do: Janus needs
/// it to place an unsignalled rid SSRC on its m-line.
pub fn add_mid_extension(pay: &gst::Element, mid: &str) {
    let ext = gst::ElementFactory::make("rtphdrextmid")
        .property("mid", mid)
        .build()
        .ok()
        .and_then(|e| e.downcast::<gst_rtp::RTPHeaderExtension>().ok());
    if let Some(ext) = ext {
        ext.set_id(u32::from(MID_EXT));
        pay.emit_by_name::<()>("add-extension", &[&ext]);
    }
}

impl TestPeer {
    /// Joins `room` as `display` and publishes three simulcast layers of
    /// `codec` (a GOP of `gop` frames at 15 fps, answering keyframe
    /// requests per layer). Returns the peer and the `joined` data.
    pub async fn publish_simulcast(
        handle: &Arc<Handle>,
        room: &Value,
        display: &str,
        codec: VideoCodec,
        gop: u32,
    ) -> anyhow::Result<(TestPeer, Value)> {
        Self::publish_simulcast_as(handle, room, display, codec, gop, Signalling::Rid).await
    }

    /// [`TestPeer::publish_simulcast`], signalled as `signalling` says.
    pub async fn publish_simulcast_as(
        handle: &Arc<Handle>,
        room: &Value,
        display: &str,
        codec: VideoCodec,
        gop: u32,
        signalling: Signalling,
    ) -> anyhow::Result<(TestPeer, Value)> {
        let mut launch = String::from(
            "webrtcbin name=w videotestsrc is-live=true pattern=ball ! video/x-raw,width=640,height=360,framerate=15/1 ! tee name=t \
             rtpfunnel name=funnel ! capsfilter name=simcaps ! w. ",
        );
        for (i, layer) in LAYERS.iter().enumerate() {
            launch += &layer_chain(codec, i, *layer, gop);
        }
        let edit = move |sdp: String| match signalling {
            Signalling::Rid => sdp,
            Signalling::SsrcGroup => as_ssrc_group(&sdp),
        };
        let (peer, joined, ()) = Self::publish_launch_with(
            handle,
            room,
            display,
            &launch,
            1,
            |pipeline| {
                if let Some(f) = pipeline.by_name("simcaps") {
                    f.set_property("caps", simulcast_caps(codec));
                }
                // 1.22's rtpfunnel does not route a keyframe request to
                // the layer it names (upstream MR 7405, 1.26): give it to
                // every layer's encoder, as the test's stand-in for a
                // browser's per-layer keyframes.
                if let Some(funnel) = pipeline.by_name("funnel")
                    && let Some(src) = funnel.static_pad("src")
                {
                    let weak = funnel.downgrade();
                    src.add_probe(gst::PadProbeType::EVENT_UPSTREAM, move |_, info| {
                        let Some(gst::PadProbeData::Event(ev)) = &info.data else {
                            return gst::PadProbeReturn::Ok;
                        };
                        if !gst_video::ForceKeyUnitEvent::is(ev) {
                            return gst::PadProbeReturn::Ok;
                        }
                        if std::env::var_os("GW_DEBUG_SIMULCAST").is_some() {
                            eprintln!("simulcast publisher: keyframe request {ev:?}");
                        }
                        if let Some(f) = weak.upgrade() {
                            for sink in f.sink_pads() {
                                let _ = sink.push_event(ev.clone());
                            }
                        }
                        info.data.take();
                        gst::PadProbeReturn::Handled
                    });
                }
                for (rid, _, _) in LAYERS {
                    if let Some(pay) = pipeline.by_name(&format!("pay_{rid}")) {
                        add_rid_extension(&pay, rid);
                    }
                }
            },
            edit,
        )
        .await
        .context("simulcast publish")?;
        Ok((peer, joined))
    }
}

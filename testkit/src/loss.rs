//! Packet loss on a receiving test peer: RTP packets dropped before its
//! `rtpbin`, so its RTCP receiver reports show the loss (RFC 3550
//! `fraction lost`) as a browser's would on a congested link.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use gst::prelude::*;

use crate::peer::TestPeer;

impl TestPeer {
    /// While the returned flag is set, drops one in `every` RTP packets
    /// this peer receives (audio and video), before its RTP session sees
    /// them. Also makes the peer send receiver reports every `rtcp`
    /// (rtpsession's default minimum is 5 s). Call once negotiated.
    pub fn lossy(&self, every: u32, rtcp: Duration) -> Arc<AtomicBool> {
        let on = Arc::new(AtomicBool::new(false));
        let Some(rtpbin) = self
            .webrtcbin
            .downcast_ref::<gst::Bin>()
            .and_then(|b| b.by_name("rtpbin"))
        else {
            return on;
        };
        if let Some(session) =
            rtpbin.emit_by_name::<Option<glib::Object>>("get-internal-session", &[&0u32])
        {
            session.set_property("rtcp-min-interval", rtcp.as_nanos() as u64);
        }
        let count = Arc::new(AtomicU32::new(0));
        for pad in rtpbin.sink_pads() {
            if !pad.name().starts_with("recv_rtp_sink") {
                continue;
            }
            let (on, count) = (on.clone(), count.clone());
            pad.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
                if on.load(Ordering::Relaxed)
                    && count.fetch_add(1, Ordering::Relaxed) % every.max(1) == 0
                {
                    gst::PadProbeReturn::Drop
                } else {
                    gst::PadProbeReturn::Ok
                }
            });
        }
        on
    }
}

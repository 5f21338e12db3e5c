//! A publisher that changes its tracks mid-call, as janus.js does after
//! `createOffer({tracks:[{type:'screen', add:true}]})`: a new offer on the
//! same PeerConnection, sent with `configure`.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use gst::prelude::*;
use serde_json::Value;

use crate::janus::Handle;
use crate::peer::{
    PublisherSpec, STEP_TIMEOUT, TestPeer, offer_and_apply_answer, offer_and_apply_answer_with,
    video_chain,
};

impl TestPeer {
    /// Adds a video track (`videotestsrc pattern`, `spec`'s codec and size)
    /// to this publisher and renegotiates with `configure` + offer. Returns
    /// the `configured` reply (its `streams` list the new one).
    pub async fn add_video_track(
        &mut self,
        handle: &Arc<Handle>,
        pattern: &str,
        spec: &PublisherSpec,
    ) -> anyhow::Result<Value> {
        let pt = 96 + self.webrtcbin.sink_pads().len() as u32;
        let chain = gst::parse::bin_from_description(
            &format!("{} ! identity", video_chain(spec.codec, pattern, spec, pt)),
            true,
        )
        .context("track chain")?;
        self.pipeline.add(&chain)?;
        let sink = self
            .webrtcbin
            .request_pad_simple("sink_%u")
            .context("webrtcbin sink pad")?;
        if let Some(t) = sink.property::<Option<gst_webrtc::WebRTCRTPTransceiver>>("transceiver") {
            t.set_property(
                "direction",
                gst_webrtc::WebRTCRTPTransceiverDirection::Sendonly,
            );
        }
        chain
            .static_pad("src")
            .context("chain src")?
            .link(&sink)
            .map_err(|e| anyhow::anyhow!("track → webrtcbin: {e:?}"))?;
        chain.sync_state_with_parent()?;
        let deadline = Instant::now() + STEP_TIMEOUT;
        while sink.current_caps().is_none() {
            if Instant::now() > deadline {
                bail!("the new track got no caps");
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        self.renegotiate(handle).await
    }

    /// A new offer from this publisher's `webrtcbin`, sent with `configure`;
    /// applies the answer. Returns the `configured` reply.
    pub async fn renegotiate(&mut self, handle: &Arc<Handle>) -> anyhow::Result<Value> {
        let data = offer_and_apply_answer(&self.webrtcbin, handle, "configure").await?;
        self.configured = data.clone();
        Ok(data)
    }

    /// An ICE restart as a browser makes one (`createOffer({iceRestart:
    /// true})`): a new offer whose `a=ice-ufrag`/`a=ice-pwd` are new (RFC
    /// 8839 §4.4.1.1.1), set locally (1.22's webrtcbin then gives its ICE
    /// agent the new local credentials) and sent with `configure`. Returns
    /// the `configured` reply.
    pub async fn restart_ice(&mut self, handle: &Arc<Handle>) -> anyhow::Result<Value> {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let ufrag = format!("r{:x}", stamp & 0xffff_ffff);
        let pwd = format!("restartpwd{stamp:x}0000000000000000")[..24].to_owned();
        let edit = |sdp: String| {
            sdp.lines()
                .map(|l| {
                    if l.starts_with("a=ice-ufrag:") {
                        format!("a=ice-ufrag:{ufrag}")
                    } else if l.starts_with("a=ice-pwd:") {
                        format!("a=ice-pwd:{pwd}")
                    } else {
                        l.to_owned()
                    }
                })
                .collect::<Vec<_>>()
                .join("\r\n")
                + "\r\n"
        };
        let data = offer_and_apply_answer_with(&self.webrtcbin, handle, "configure", edit).await?;
        self.configured = data.clone();
        Ok(data)
    }
}

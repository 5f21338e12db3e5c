//! A publisher that changes its tracks mid-call, as janus.js does after
//! `createOffer({tracks:[{type:'screen', add:true}]})`: a new offer on the
//! same PeerConnection, sent with `configure`.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use gst::prelude::*;
use serde_json::Value;

use crate::janus::Handle;
use crate::peer::{PublisherSpec, STEP_TIMEOUT, TestPeer, offer_and_apply_answer, video_chain};

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
}

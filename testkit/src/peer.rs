//! GStreamer `webrtcbin` peers that publish to and subscribe from a Janus
//! videoroom through a [`Handle`]: the "real clients" of the integration
//! tests and the load of the bench. Candidates stay on 127.0.0.1.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use gst::prelude::*;
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

use super::janus::Handle;

/// How long a signalling step may take.
pub(crate) const STEP_TIMEOUT: Duration = Duration::from_secs(15);

/// Video codec a test publisher encodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoCodec {
    /// VP8 (`vp8enc deadline=1`).
    Vp8,
    /// H.264 constrained baseline (`x264enc tune=zerolatency`).
    H264,
}

/// Makes the audio payloader `apay` (if any) write RFC 6464 audio levels
/// (extension id 1) from the `level` element's meta, as browsers do; the
/// offer then carries `a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level`.
fn send_audio_level(pipeline: &gst::Pipeline) {
    use gst_rtp::prelude::*;
    let Some(pay) = pipeline.by_name("apay") else {
        return;
    };
    if let Ok(ext) = gst::ElementFactory::make("rtphdrextclientaudiolevel").build()
        && let Ok(ext) = ext.downcast::<gst_rtp::RTPHeaderExtension>()
    {
        ext.set_id(1);
        pay.emit_by_name::<()>("add-extension", &[&ext]);
    }
}

/// Waits (from a feeder thread) until every `appsrc` plays: before that they
/// refuse buffers (flushing). False after `limit`, or once `stop` is set.
pub fn wait_playing(
    srcs: &[&gst_app::AppSrc],
    stop: &std::sync::atomic::AtomicBool,
    limit: Duration,
) -> bool {
    let ready_by = Instant::now() + limit;
    while srcs
        .iter()
        .any(|s| s.current_state() != gst::State::Playing)
    {
        if Instant::now() > ready_by || stop.load(Ordering::Relaxed) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    true
}

/// What a test publisher sends.
#[derive(Debug, Clone)]
pub struct PublisherSpec {
    /// Codec of every video track.
    pub codec: VideoCodec,
    /// `videotestsrc` patterns, one video track each (e.g. `"ball"`, `"smpte"`).
    pub video_patterns: Vec<String>,
    /// Audio tone in Hz; `None` for no audio track.
    pub audio_hz: Option<f64>,
    /// Frame size and rate.
    pub width: u32,
    /// Frame height.
    pub height: u32,
    /// Frames per second.
    pub fps: u32,
    /// Keyframe interval in frames (a long GOP shows whether keyframe requests work).
    pub gop: u32,
}

impl Default for PublisherSpec {
    fn default() -> Self {
        PublisherSpec {
            codec: VideoCodec::Vp8,
            video_patterns: vec!["ball".into()],
            audio_hz: Some(440.0),
            width: 320,
            height: 240,
            fps: 30,
            gop: 300,
        }
    }
}

/// A decoded video frame, RGB, tightly packed.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Width, px.
    pub width: usize,
    /// Height, px.
    pub height: usize,
    /// `width * height * 3` bytes.
    pub rgb: Vec<u8>,
}

impl Frame {
    /// The RGB value at (x, y), if inside.
    pub fn pixel(&self, x: usize, y: usize) -> Option<[u8; 3]> {
        (x < self.width && y < self.height).then(|| {
            let i = (y * self.width + x) * 3;
            [self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]]
        })
    }
}

/// How a subscriber treats what it receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Receive {
    /// Count RTP packets, decode nothing (load generation).
    Packets,
    /// Decode and count frames and audio buffers.
    Decode,
    /// Decode, count, and keep the last RGB frame and the last second of
    /// mono audio (pixel and tone checks).
    Capture,
}

/// Samples of captured audio kept (1 s at 48 kHz).
const AUDIO_KEEP: usize = 48_000;

/// Power of the `hz` component in `samples` (Goertzel), normalised so a
/// full-scale sine gives about 0.25 and silence 0.
pub fn tone_power(samples: &[f32], rate: f32, hz: f32) -> f32 {
    if samples.is_empty() {
        return 0.0;
    }
    let w = 2.0 * std::f32::consts::PI * hz / rate;
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f32, 0.0f32);
    for &x in samples {
        let s0 = x + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    power / (samples.len() as f32 * samples.len() as f32)
}

/// Counters a peer keeps about what it received.
#[derive(Debug, Default)]
pub struct PeerStats {
    /// The last decoded frame (with [`Receive::Capture`]).
    pub last_frame: Mutex<Option<Frame>>,
    /// The last second of decoded mono 48 kHz audio (with [`Receive::Capture`]).
    pub audio: Mutex<std::collections::VecDeque<f32>>,
    /// Decoded video frames (subscriber with decoding).
    pub video_frames: AtomicU64,
    /// Decoded audio buffers.
    pub audio_buffers: AtomicU64,
    /// Received RTP packets of video (subscriber without decoding).
    pub video_packets: AtomicU64,
    /// Received RTP packets of audio.
    pub audio_packets: AtomicU64,
    /// Number of distinct video tracks that produced frames or packets.
    pub video_tracks: AtomicU64,
    /// Video frames seen as RTP (packets with the marker bit: one per
    /// frame), when not decoding.
    pub video_rtp_frames: AtomicU64,
    /// When the first video frame/packet arrived.
    pub first_video: Mutex<Option<Instant>>,
    /// When the last video frame/packet arrived.
    pub last_video: Mutex<Option<Instant>>,
    /// Longest interval between two video frames/packets since
    /// [`PeerStats::reset_gap`], in ms.
    pub max_video_gap_ms: AtomicU64,
}

impl PeerStats {
    /// Decoded frames so far.
    pub fn frames(&self) -> u64 {
        self.video_frames.load(Ordering::Relaxed)
    }
    /// Decoded audio buffers so far.
    pub fn audio(&self) -> u64 {
        self.audio_buffers.load(Ordering::Relaxed)
    }
    /// The last decoded frame.
    pub fn frame(&self) -> Option<Frame> {
        self.last_frame
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
    /// Power of `hz` in the last second of decoded audio (see [`tone_power`]).
    pub fn tone(&self, hz: f32) -> f32 {
        let a = self.audio.lock().unwrap_or_else(|e| e.into_inner());
        let v: Vec<f32> = a.iter().copied().collect();
        tone_power(&v, 48_000.0, hz)
    }
    /// Starts a new max-gap measurement.
    pub fn reset_gap(&self) {
        self.max_video_gap_ms.store(0, Ordering::Relaxed);
    }
    /// Longest video gap since the last reset, counting the time since the
    /// last frame as a gap too (so a stream that stopped shows it).
    pub fn max_gap(&self) -> Duration {
        let since_last = self
            .last_video
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .map_or(Duration::MAX, |t| t.elapsed());
        Duration::from_millis(self.max_video_gap_ms.load(Ordering::Relaxed)).max(since_last)
    }
    fn video_arrived(&self) {
        let now = Instant::now();
        let mut last = self.last_video.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(prev) = *last {
            self.max_video_gap_ms.fetch_max(
                now.duration_since(prev).as_millis() as u64,
                Ordering::Relaxed,
            );
        }
        *last = Some(now);
    }
}

/// One client PeerConnection in its own pipeline.
pub struct TestPeer {
    /// The peer's pipeline.
    pub pipeline: gst::Pipeline,
    /// Its `webrtcbin`.
    pub webrtcbin: gst::Element,
    /// What it received.
    pub stats: Arc<PeerStats>,
    /// When it was created (for time-to-first-frame).
    pub created: Instant,
    /// For publishers: the `configured` reply (its `streams` list the mids).
    pub configured: Value,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for TestPeer {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

pub(crate) async fn promise(
    el: &gst::Element,
    signal: &str,
    arg: Option<&(dyn ToValue + Sync)>,
) -> anyhow::Result<Option<gst::Structure>> {
    let (tx, rx) = oneshot::channel();
    let p = gst::Promise::with_change_func(move |r| {
        let _ = tx.send(
            r.map(|s| s.map(|s| s.to_owned()))
                .map_err(|e| anyhow!("{e:?}")),
        );
    });
    match arg {
        Some(a) => el.emit_by_name::<()>(signal, &[a, &p]),
        None => el.emit_by_name::<()>(signal, &[&None::<gst::Structure>, &p]),
    }
    let reply = tokio::time::timeout(STEP_TIMEOUT, rx)
        .await
        .context("promise timed out")?
        .context("promise dropped")??;
    if let Some(s) = &reply
        && let Ok(e) = s.get::<glib::Error>("error")
    {
        bail!("{signal}: {}", e.message());
    }
    Ok(reply)
}

pub(crate) fn desc(
    kind: gst_webrtc::WebRTCSDPType,
    sdp: &str,
) -> anyhow::Result<gst_webrtc::WebRTCSessionDescription> {
    Ok(gst_webrtc::WebRTCSessionDescription::new(
        kind,
        gst_sdp::SDPMessage::parse_buffer(sdp.as_bytes())?,
    ))
}

fn loopback_only(webrtcbin: &gst::Element) {
    webrtcbin.set_property_from_str("bundle-policy", "max-bundle");
    let agent = webrtcbin.property::<glib::Object>("ice-agent");
    disable_upnp(&agent);
    let _: bool = agent.emit_by_name("add-local-ip-address", &[&"127.0.0.1"]);
}

/// Turns off libnice's UPnP (it probes the network for a gateway, which
/// this loopback-only peer never needs).
fn disable_upnp(ice_agent: &glib::Object) {
    if ice_agent.find_property("agent").is_none() {
        return;
    }
    let nice = ice_agent.property::<glib::Object>("agent");
    if nice.find_property("upnp").is_some() {
        nice.set_property("upnp", false);
    }
}

/// Sends our candidates to the server and applies the server's, until aborted.
fn wire_trickle(
    webrtcbin: &gst::Element,
    handle: &Arc<Handle>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let (tx, mut rx) = mpsc::unbounded_channel::<(u32, String)>();
    webrtcbin.connect("on-ice-candidate", false, move |v| {
        if let (Some(Ok(m)), Some(Ok(c))) = (
            v.get(1).map(|v| v.get::<u32>()),
            v.get(2).map(|v| v.get::<String>()),
        ) {
            let _ = tx.send((m, c));
        }
        None
    });
    let h = handle.clone();
    let out = tokio::spawn(async move {
        while let Some((m, c)) = rx.recv().await {
            let _ = h.trickle(m, Some(&c)).await;
        }
    });
    let mut tasks = vec![out];
    if let Some(mut incoming) = handle.take_trickles() {
        let weak = webrtcbin.downgrade();
        tasks.push(tokio::spawn(async move {
            while let Some(ev) = incoming.recv().await {
                let c = &ev["candidate"];
                let (Some(cand), Some(el)) = (c["candidate"].as_str(), weak.upgrade()) else {
                    continue;
                };
                let mline = c["sdpMLineIndex"].as_u64().unwrap_or(0) as u32;
                el.emit_by_name::<()>("add-ice-candidate", &[&mline, &cand]);
            }
        }));
    }
    tasks
}

pub(crate) fn video_chain(codec: VideoCodec, pattern: &str, s: &PublisherSpec, pt: u32) -> String {
    let src = format!(
        "videotestsrc is-live=true pattern={pattern} ! video/x-raw,width={},height={},framerate={}/1,format=I420",
        s.width, s.height, s.fps
    );
    match codec {
        VideoCodec::Vp8 => format!(
            "{src} ! vp8enc deadline=1 cpu-used=8 keyframe-max-dist={} target-bitrate=600000 ! rtpvp8pay pt={pt} picture-id-mode=15-bit mtu=1200 ! application/x-rtp,media=video,encoding-name=VP8,payload={pt}",
            s.gop
        ),
        VideoCodec::H264 => format!(
            "{src} ! x264enc tune=zerolatency speed-preset=ultrafast bitrate=600 key-int-max={} bframes=0 ! video/x-h264,profile=constrained-baseline ! rtph264pay pt={pt} config-interval=-1 aggregate-mode=zero-latency mtu=1200 ! application/x-rtp,media=video,encoding-name=H264,payload={pt},packetization-mode=(string)1",
            s.gop
        ),
    }
}

/// Makes an offer on a publisher's `webrtcbin`, sends it with `request`
/// (`publish`, or `configure` for a renegotiation), and applies the
/// answer. Returns the `configured` reply.
pub(crate) async fn offer_and_apply_answer(
    webrtcbin: &gst::Element,
    handle: &Arc<Handle>,
    request: &str,
) -> anyhow::Result<Value> {
    offer_and_apply_answer_with(webrtcbin, handle, request, |sdp| sdp).await
}

/// [`offer_and_apply_answer`] with the offer's text changed by `edit`
/// before it is set locally and sent (e.g. new ICE credentials).
pub(crate) async fn offer_and_apply_answer_with(
    webrtcbin: &gst::Element,
    handle: &Arc<Handle>,
    request: &str,
    edit: impl FnOnce(String) -> String,
) -> anyhow::Result<Value> {
    let reply = promise(webrtcbin, "create-offer", None)
        .await?
        .context("no offer")?;
    let offer = reply.get::<gst_webrtc::WebRTCSessionDescription>("offer")?;
    let sdp = edit(offer.sdp().as_text()?);
    let offer = desc(gst_webrtc::WebRTCSDPType::Offer, &sdp)?;
    promise(webrtcbin, "set-local-description", Some(&offer)).await?;
    if std::env::var_os("GW_DEBUG_SDP").is_some() {
        eprintln!("publisher offer:\n{sdp}");
    }
    let (data, jsep) = handle
        .call(
            json!({"request": request}),
            Some(json!({"type": "offer", "sdp": sdp})),
            STEP_TIMEOUT,
        )
        .await?;
    if data["configured"] != "ok" {
        bail!("{request} refused: {data}");
    }
    let answer = jsep
        .and_then(|j| j["sdp"].as_str().map(str::to_owned))
        .context("no answer")?;
    if std::env::var_os("GW_DEBUG_SDP").is_some() {
        eprintln!("publisher answer:\n{answer}");
    }
    promise(
        webrtcbin,
        "set-remote-description",
        Some(&desc(gst_webrtc::WebRTCSDPType::Answer, &answer)?),
    )
    .await?;
    Ok(data)
}

impl TestPeer {
    /// Builds a publisher pipeline for `spec`, joins `room` on `handle` as
    /// publisher `display`, publishes, and returns once the answer is applied.
    /// Returns the peer and the `joined` data.
    pub async fn publish(
        handle: &Arc<Handle>,
        room: &Value,
        display: &str,
        spec: &PublisherSpec,
    ) -> anyhow::Result<(TestPeer, Value)> {
        let mut launch = String::from("webrtcbin name=w ");
        for (i, pattern) in spec.video_patterns.iter().enumerate() {
            launch += &format!(
                "{} ! w. ",
                video_chain(spec.codec, pattern, spec, 96 + i as u32)
            );
        }
        if let Some(hz) = spec.audio_hz {
            launch += &format!(
                "audiotestsrc name=asrc is-live=true wave=sine freq={hz} volume=0.3 ! audioconvert ! audioresample ! level audio-level-meta=true post-messages=false ! opusenc ! rtpopuspay name=apay pt=111 ! application/x-rtp,media=audio,encoding-name=OPUS,payload=111 ! w. "
            );
        }
        let tracks = spec.video_patterns.len() + usize::from(spec.audio_hz.is_some());
        let (peer, joined, ()) =
            Self::publish_launch(handle, room, display, &launch, tracks, send_audio_level).await?;
        Ok((peer, joined))
    }

    /// Like [`TestPeer::publish`] with any `gst-launch` line holding a
    /// `webrtcbin name=w` fed by `tracks` payloaded tracks. `setup` runs on
    /// the pipeline before it starts (to attach `appsrc` feeders).
    pub async fn publish_launch<T>(
        handle: &Arc<Handle>,
        room: &Value,
        display: &str,
        launch: &str,
        tracks: usize,
        setup: impl FnOnce(&gst::Pipeline) -> T,
    ) -> anyhow::Result<(TestPeer, Value, T)> {
        Self::publish_launch_with(handle, room, display, launch, tracks, setup, |sdp| sdp).await
    }

    /// [`TestPeer::publish_launch`] with the offer's text changed by `edit`
    /// before it is set and sent (to stand in for another sender's SDP).
    pub async fn publish_launch_with<T>(
        handle: &Arc<Handle>,
        room: &Value,
        display: &str,
        launch: &str,
        tracks: usize,
        setup: impl FnOnce(&gst::Pipeline) -> T,
        edit: impl FnOnce(String) -> String,
    ) -> anyhow::Result<(TestPeer, Value, T)> {
        let (joined, _) = handle
            .call(
                json!({"request": "join", "ptype": "publisher", "room": room, "display": display}),
                None,
                STEP_TIMEOUT,
            )
            .await?;
        if joined["videoroom"] != "joined" {
            bail!("join refused: {joined}");
        }
        let pipeline = gst::parse::launch(launch)?
            .downcast::<gst::Pipeline>()
            .map_err(|_| anyhow!("not a pipeline"))?;
        let webrtcbin = pipeline.by_name("w").context("no webrtcbin")?;
        loopback_only(&webrtcbin);
        // Browsers pair the RTP time in their sender reports with the
        // capture time (rtpbin's default pairs it with the send time, which
        // shifts each stream by its own encoding delay).
        if let Some(rtpbin) = webrtcbin
            .downcast_ref::<gst::Bin>()
            .and_then(|b| b.by_name("rtpbin"))
        {
            rtpbin.set_property("rtcp-sync-send-time", false);
        }
        // The launch line already requested the sink pads: make their
        // transceivers sendonly, as a browser publisher's are.
        for pad in webrtcbin.sink_pads() {
            if let Some(t) = pad.property::<Option<gst_webrtc::WebRTCRTPTransceiver>>("transceiver")
            {
                t.set_property(
                    "direction",
                    gst_webrtc::WebRTCRTPTransceiverDirection::Sendonly,
                );
            }
        }
        let tasks = wire_trickle(&webrtcbin, handle);
        let extra = setup(&pipeline);
        let peer = TestPeer {
            pipeline,
            webrtcbin,
            stats: Arc::default(),
            created: Instant::now(),
            configured: Value::Null,
            tasks,
        };
        peer.pipeline.set_state(gst::State::Playing)?;
        let webrtcbin = &peer.webrtcbin;
        // Offer once every track has caps: an earlier offer would miss m-lines
        // (on-negotiation-needed can fire before the last track negotiates).
        let deadline = Instant::now() + STEP_TIMEOUT;
        while webrtcbin
            .sink_pads()
            .iter()
            .filter(|p| p.current_caps().is_some())
            .count()
            < tracks
        {
            if Instant::now() > deadline {
                bail!("publisher tracks did not get caps");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let data = offer_and_apply_answer_with(webrtcbin, handle, "publish", edit).await?;
        let mut peer = peer;
        peer.configured = data;
        Ok((peer, joined, extra))
    }

    /// Joins `room` as a subscriber of `streams` (`[{feed, mid?}]`), answers
    /// the offer and sends `start`. With `decode`, received media is decoded
    /// and frames counted; otherwise RTP packets are counted.
    pub async fn subscribe(
        handle: &Arc<Handle>,
        room: &Value,
        streams: Value,
        decode: bool,
    ) -> anyhow::Result<(TestPeer, Value)> {
        let mode = if decode {
            Receive::Decode
        } else {
            Receive::Packets
        };
        Self::subscribe_with(handle, room, streams, json!({}), mode).await
    }

    /// [`TestPeer::subscribe`] with extra `join` fields (e.g. `private_id`)
    /// and a choice of what to do with the media.
    pub async fn subscribe_with(
        handle: &Arc<Handle>,
        room: &Value,
        streams: Value,
        extra: Value,
        mode: Receive,
    ) -> anyhow::Result<(TestPeer, Value)> {
        let mut peer = Self::receiver(handle, mode)?;
        let mut body =
            json!({"request": "join", "ptype": "subscriber", "room": room, "streams": streams});
        if let (Value::Object(b), Value::Object(e)) = (&mut body, extra) {
            b.extend(e);
        }
        let (data, jsep) = handle.call(body, None, STEP_TIMEOUT).await?;
        if data["videoroom"] != "attached" {
            bail!("subscribe refused: {data}");
        }
        let offer = jsep
            .and_then(|j| j["sdp"].as_str().map(str::to_owned))
            .context("no offer")?;
        if std::env::var_os("GW_DEBUG_SDP").is_some() {
            eprintln!("subscriber offer:\n{offer}");
        }
        peer.answer_and_start(handle, &offer).await?;
        peer.created = Instant::now();
        Ok((peer, data))
    }

    /// Watches streaming mountpoint `id` (`janus.plugin.streaming`): `watch`,
    /// answer the offer, `start`. Returns the peer and the `start` reply.
    pub async fn watch(handle: &Arc<Handle>, id: u64, mode: Receive) -> anyhow::Result<TestPeer> {
        let mut peer = Self::receiver(handle, mode)?;
        let (data, jsep) = handle
            .call(json!({"request": "watch", "id": id}), None, STEP_TIMEOUT)
            .await?;
        if data["result"]["status"] != "preparing" {
            bail!("watch refused: {data}");
        }
        let offer = jsep
            .and_then(|j| j["sdp"].as_str().map(str::to_owned))
            .context("no offer")?;
        let answer = peer.answer(&offer).await?;
        let (data, _) = handle
            .call(
                json!({"request": "start"}),
                Some(json!({"type": "answer", "sdp": answer})),
                STEP_TIMEOUT,
            )
            .await?;
        if data["result"]["status"] != "starting" {
            bail!("start refused: {data}");
        }
        peer.created = Instant::now();
        Ok(peer)
    }

    /// A receiving peer (no signalling yet).
    fn receiver(handle: &Arc<Handle>, mode: Receive) -> anyhow::Result<TestPeer> {
        let pipeline = gst::Pipeline::new();
        let webrtcbin = gst::ElementFactory::make("webrtcbin").name("w").build()?;
        loopback_only(&webrtcbin);
        pipeline.add(&webrtcbin)?;
        let stats: Arc<PeerStats> = Arc::default();
        let (st, weak_pipe) = (stats.clone(), pipeline.downgrade());
        webrtcbin.connect_pad_added(move |_, pad| {
            if pad.direction() != gst::PadDirection::Src {
                return;
            }
            if let Some(p) = weak_pipe.upgrade() {
                let _ = Self::consume(&p, pad, mode, &st);
            }
        });
        let tasks = wire_trickle(&webrtcbin, handle);
        pipeline.set_state(gst::State::Playing)?;
        Ok(TestPeer {
            pipeline,
            webrtcbin,
            stats,
            created: Instant::now(),
            configured: Value::Null,
            tasks,
        })
    }

    /// Applies a server offer and returns the local answer's SDP.
    async fn answer(&self, offer: &str) -> anyhow::Result<String> {
        let w = &self.webrtcbin;
        promise(
            w,
            "set-remote-description",
            Some(&desc(gst_webrtc::WebRTCSDPType::Offer, offer)?),
        )
        .await?;
        let reply = promise(w, "create-answer", None)
            .await?
            .context("no answer")?;
        let answer = reply.get::<gst_webrtc::WebRTCSessionDescription>("answer")?;
        promise(w, "set-local-description", Some(&answer)).await?;
        Ok(answer.sdp().as_text()?)
    }

    /// Applies a server offer (initial or `updated`), answers and sends `start`.
    pub async fn answer_and_start(
        &mut self,
        handle: &Arc<Handle>,
        offer: &str,
    ) -> anyhow::Result<()> {
        let answer = self.answer(offer).await?;
        let (data, _) = handle
            .call(
                json!({"request": "start"}),
                Some(json!({"type": "answer", "sdp": answer})),
                STEP_TIMEOUT,
            )
            .await?;
        if data["started"] != "ok" {
            bail!("start refused: {data}");
        }
        Ok(())
    }

    fn count_probe(pad: &gst::Pad, stats: &Arc<PeerStats>, video: bool, decoded: bool) {
        let st = stats.clone();
        let first = std::sync::atomic::AtomicBool::new(true);
        pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            if video
                && !decoded
                && let Some(gst::PadProbeData::Buffer(b)) = &info.data
                && let Ok(map) = b.map_readable()
                && map.len() > 1
                && map[1] & 0x80 != 0
            {
                // RTP marker bit (RFC 3550 §5.1): the last packet of a frame.
                st.video_rtp_frames.fetch_add(1, Ordering::Relaxed);
            }
            if first.swap(false, Ordering::Relaxed) {
                if video {
                    st.video_tracks.fetch_add(1, Ordering::Relaxed);
                }
            }
            let counter = match (video, decoded) {
                (true, true) => &st.video_frames,
                (false, true) => &st.audio_buffers,
                (true, false) => &st.video_packets,
                (false, false) => &st.audio_packets,
            };
            if video {
                st.video_arrived();
            }
            if video && counter.fetch_add(1, Ordering::Relaxed) == 0 {
                let mut f = st.first_video.lock().unwrap_or_else(|e| e.into_inner());
                f.get_or_insert_with(Instant::now);
            } else if !video {
                counter.fetch_add(1, Ordering::Relaxed);
            }
            gst::PadProbeReturn::Ok
        });
    }

    fn consume(
        pipeline: &gst::Pipeline,
        pad: &gst::Pad,
        mode: Receive,
        stats: &Arc<PeerStats>,
    ) -> anyhow::Result<()> {
        let caps = pad.current_caps().context("pad without caps")?;
        let video = caps.structure(0).and_then(|s| s.get::<&str>("media").ok()) == Some("video");
        if mode == Receive::Packets {
            let sink = gst::ElementFactory::make("fakesink")
                .property("sync", false)
                .property("async", false)
                .build()?;
            pipeline.add(&sink)?;
            sink.sync_state_with_parent()?;
            Self::count_probe(pad, stats, video, false);
            pad.link(&sink.static_pad("sink").context("sink pad")?)?;
            return Ok(());
        }
        let decodebin = gst::ElementFactory::make("decodebin").build()?;
        // A decoded frame is a picture: libav's H.264 decoder otherwise
        // outputs the grey frames it makes from P-frames before the first
        // keyframe, which would count as "first frame" too early.
        decodebin.connect("deep-element-added", false, |args| {
            if let Some(e) = args.get(2).and_then(|v| v.get::<gst::Element>().ok())
                && e.find_property("output-corrupt").is_some()
            {
                e.set_property("output-corrupt", false);
            }
            None
        });
        let (st, weak_pipe) = (stats.clone(), pipeline.downgrade());
        decodebin.connect_pad_added(move |_, dpad| {
            let Some(p) = weak_pipe.upgrade() else { return };
            let is_video = dpad
                .current_caps()
                .and_then(|c| c.structure(0).map(|s| s.name().starts_with("video/")))
                .unwrap_or(video);
            Self::count_probe(dpad, &st, is_video, true);
            let sink = if mode == Receive::Capture {
                Self::capture_sink(&p, is_video, &st)
            } else {
                Self::fakesink(&p)
            };
            if let Some(sp) = sink.and_then(|s| s.static_pad("sink")) {
                let _ = dpad.link(&sp);
            }
        });
        pipeline.add(&decodebin)?;
        decodebin.sync_state_with_parent()?;
        pad.link(&decodebin.static_pad("sink").context("decodebin sink")?)?;
        Ok(())
    }

    fn fakesink(p: &gst::Pipeline) -> Option<gst::Element> {
        let sink = gst::ElementFactory::make("fakesink")
            .property("sync", false)
            .property("async", false)
            .build()
            .ok()?;
        p.add(&sink).ok()?;
        sink.sync_state_with_parent().ok()?;
        Some(sink)
    }

    /// `convert ! caps ! appsink` keeping the last RGB frame or the last
    /// second of mono audio in `stats`. Returns the first element.
    fn capture_sink(
        p: &gst::Pipeline,
        video: bool,
        stats: &Arc<PeerStats>,
    ) -> Option<gst::Element> {
        let (convert, caps) = if video {
            (
                gst::ElementFactory::make("videoconvert").build().ok()?,
                gst::Caps::builder("video/x-raw")
                    .field("format", "RGB")
                    .build(),
            )
        } else {
            (
                gst::ElementFactory::make("audioconvert").build().ok()?,
                gst::Caps::builder("audio/x-raw")
                    .field("format", "F32LE")
                    .field("channels", 1)
                    .field("rate", 48_000)
                    .build(),
            )
        };
        let resample = gst::ElementFactory::make(if video { "identity" } else { "audioresample" })
            .build()
            .ok()?;
        let sink = gst_app::AppSink::builder().caps(&caps).sync(false).build();
        let st = stats.clone();
        sink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |s| {
                    let sample = s.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    let (Some(buf), Some(caps)) = (sample.buffer(), sample.caps()) else {
                        return Ok(gst::FlowSuccess::Ok);
                    };
                    let Ok(map) = buf.map_readable() else {
                        return Ok(gst::FlowSuccess::Ok);
                    };
                    if video {
                        if let Ok(info) = gst_video::VideoInfo::from_caps(caps) {
                            let (w, h, stride) = (
                                info.width() as usize,
                                info.height() as usize,
                                info.stride()[0] as usize,
                            );
                            let mut rgb = Vec::with_capacity(w * h * 3);
                            for row in 0..h {
                                rgb.extend_from_slice(&map[row * stride..row * stride + w * 3]);
                            }
                            *st.last_frame.lock().unwrap_or_else(|e| e.into_inner()) =
                                Some(Frame {
                                    width: w,
                                    height: h,
                                    rgb,
                                });
                        }
                    } else {
                        let mut a = st.audio.lock().unwrap_or_else(|e| e.into_inner());
                        for c in map.chunks_exact(4) {
                            a.push_back(f32::from_le_bytes([c[0], c[1], c[2], c[3]]));
                        }
                        while a.len() > AUDIO_KEEP {
                            a.pop_front();
                        }
                    }
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
        let sink: gst::Element = sink.upcast();
        let chain = [&convert, &resample, &sink];
        p.add_many(chain).ok()?;
        gst::Element::link_many(chain).ok()?;
        for e in chain.iter().rev() {
            e.sync_state_with_parent().ok()?;
        }
        Some(convert)
    }

    /// Waits until `pred(stats)` holds, polling every 50 ms, at most `timeout`.
    pub async fn wait_until(&self, timeout: Duration, pred: impl Fn(&PeerStats) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if pred(&self.stats) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        pred(&self.stats)
    }

    /// Makes this publisher deaf to keyframe requests, as a camera or a
    /// pre-encoded source is: upstream `GstForceKeyUnit` events (webrtcbin's
    /// form of a PLI/FIR) are dropped at each video encoder's src pad, so a
    /// keyframe comes only at the end of the GOP.
    pub fn ignore_keyframe_requests(&self) {
        for e in self.pipeline.iterate_recurse().into_iter().flatten() {
            let is_encoder = e
                .factory()
                .is_some_and(|f| matches!(f.name().as_str(), "vp8enc" | "x264enc"));
            let Some(src) = is_encoder.then(|| e.static_pad("src")).flatten() else {
                continue;
            };
            src.add_probe(gst::PadProbeType::EVENT_UPSTREAM, |_, info| {
                if let Some(gst::PadProbeData::Event(ev)) = &info.data
                    && gst_video::ForceKeyUnitEvent::is(ev)
                {
                    info.data.take();
                    return gst::PadProbeReturn::Handled;
                }
                gst::PadProbeReturn::Ok
            });
        }
    }

    /// Time from creation (or the last `start`) to the first video frame.
    pub fn time_to_first_video(&self) -> Option<Duration> {
        let f = *self
            .stats
            .first_video
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        f.map(|t| t.saturating_duration_since(self.created))
    }
}

/// The feed streams a `joined`/`publishers` entry lists, as subscription requests.
pub fn all_streams_of(feed: &Value) -> Value {
    json!([{"feed": feed}])
}

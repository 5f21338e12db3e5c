//! Restreaming a room out: `start_rtmp`/`stop_rtmp` push the mix or one
//! feed to an RTMP server (`flvmux ! rtmp2sink`, H.264 + AAC).
//!
//! An egress is a recording branch with a network sink (see [`super::record`]
//! and `pipelines/egress.toml`): the mix's H.264 is reused as encoded, an
//! H.264 feed is not transcoded. When the server drops, the branch is
//! removed and rebuilt with back-off; the room hears
//! `{"videoroom":"event","rtmp":{"id","url","source","state"}}` with
//! `state` `connecting`, `live`, `retrying` or `stopped`.

use std::time::Duration;

use serde::Deserialize;
use tracing::{info, warn};

use super::api::{EgressInfo, EgressSource, EgressState, Notice};
use super::error::RoomError;
use super::peer::RoomEvent;
use super::record::{self, Format, Target};
use super::{MIX_HANDLE, Room};
use crate::ids::{EgressId, RecordingId};
use crate::media::codec::{Codec, MediaKind};

/// First back-off after a failure; it doubles, up to [`MAX_RETRY`].
const FIRST_RETRY: Duration = Duration::from_secs(1);
const MAX_RETRY: Duration = Duration::from_secs(30);
/// Keyframe spacing asked of the source while a restream runs (RTMP
/// services want 2-4 s; a viewer joining the server waits for one).
const KEYFRAME_EVERY: Duration = Duration::from_secs(2);
/// A branch that has not failed this long after starting is `live`.
const LIVE_AFTER: Duration = Duration::from_secs(2);

/// The egress catalog (`pipelines/egress.toml`).
#[derive(Debug, Clone, Deserialize)]
pub struct Catalog {
    /// RTMP push: FLV with H.264 and AAC.
    pub rtmp: Format,
}

impl Catalog {
    /// The catalog shipped in `pipelines/egress.toml`.
    pub fn builtin() -> Catalog {
        // The file is part of the source tree and parsed by a unit test.
        toml::from_str(include_str!("../../pipelines/egress.toml"))
            .expect("pipelines/egress.toml parses")
    }
}

/// One restream.
#[derive(Clone)]
pub struct Egress {
    /// Its id (`start_rtmp` reply, `stop_rtmp`).
    pub id: EgressId,
    /// `rtmp://…`.
    pub url: String,
    /// The mix ([`MIX_HANDLE`]) or a publisher's handle.
    pub handle: u64,
    /// What it sends, as reported.
    pub source: EgressSource,
    /// Where it is.
    pub state: EgressState,
    /// Failures in a row.
    pub failures: u32,
    /// The current branch (a recorder id), if any.
    pub recorder: Option<RecordingId>,
}

impl Egress {
    fn info(&self) -> EgressInfo {
        EgressInfo {
            id: self.id,
            url: self.url.clone(),
            source: self.source.clone(),
            state: self.state,
            failures: self.failures,
        }
    }
}

impl Room {
    fn egress_event(&self, e: &Egress) {
        self.broadcast(Notice::Egress(e.info()), None);
    }

    /// `start_rtmp`.
    pub(super) fn start_rtmp(
        &mut self,
        url: String,
        source: EgressSource,
    ) -> Result<EgressInfo, RoomError> {
        let handle = match &source {
            EgressSource::Mix => {
                if self.mixer.is_none() {
                    return Err(RoomError::invalid(
                        "source",
                        "a feed id (this room does not mix)",
                    ));
                }
                MIX_HANDLE
            }
            EgressSource::Feed(feed) => {
                let (h, p) = self
                    .find_feed(feed)
                    .ok_or_else(|| RoomError::NoSuchFeed(feed.to_string()))?;
                if p.publication.is_none() {
                    return Err(RoomError::NoSuchFeed(feed.to_string()));
                }
                h
            }
        };
        let id = EgressId(self.next_egress);
        self.next_egress += 1;
        let e = Egress {
            id,
            url,
            handle,
            source,
            state: EgressState::Connecting,
            failures: 0,
            recorder: None,
        };
        self.egresses.insert(id, e);
        if let Err(err) = self.egress_connect(id) {
            self.egresses.remove(&id);
            return Err(RoomError::graph("cannot restream", err));
        }
        let e = &self.egresses[&id];
        info!(egress = %id, url = %e.url, "restream started");
        Ok(e.info())
    }

    /// Builds the branch of egress `id`.
    fn egress_connect(&mut self, id: EgressId) -> Result<(), String> {
        let Some(e) = self.egresses.get(&id) else {
            return Err("gone".into());
        };
        let (url, handle) = (e.url.clone(), e.handle);
        let format = self.ctx.egress.rtmp.clone();
        let encoder = self.h264_encoder();
        let tees: Vec<(MediaKind, Codec, gst::Element)> = if handle == MIX_HANDLE {
            let (vcodec, video) = {
                let m = self.mixer.as_ref().ok_or("the room does not mix")?;
                (m.video_format().0, m.video_tee().clone())
            };
            let m = self.mixer.as_mut().ok_or("the room does not mix")?;
            let (audio, _) = m.audio_tee(&self.pipeline, super::mcu::MixKey::All)?;
            vec![
                (MediaKind::Video, vcodec, video),
                (MediaKind::Audio, Codec::Opus, audio),
            ]
        } else {
            let publication = self
                .participants
                .get(&handle)
                .and_then(|p| p.publication.as_ref())
                .ok_or("the feed is gone")?;
            let streams = Self::recorded_streams(publication);
            streams
                .iter()
                .map(|s| (s.kind, s.codec, s.tee.clone()))
                .collect()
        };
        let sources: Vec<record::Source<'_>> = tees
            .iter()
            .map(|(kind, codec, tee)| record::Source {
                kind: *kind,
                codec: *codec,
                tee,
                clock: None,
                offset: None,
            })
            .collect();
        let r = record::Recorder::start(
            &self.pipeline,
            &format,
            encoder.as_ref(),
            Target::Url(url),
            self.cfg.room.clone(),
            None,
            &sources,
            &self.ev_tx,
        )
        .map_err(|e| e.to_string())?;
        let rid = r.id;
        self.recorders.insert(rid, r);
        if let Some(e) = self.egresses.get_mut(&id) {
            e.recorder = Some(rid);
        }
        self.keyframe_for_publisher(handle, true);
        if handle == MIX_HANDLE
            && let Some(m) = &self.mixer
        {
            m.request_keyframe();
        }
        let failures = self.egresses.get(&id).map_or(0, |e| e.failures);
        self.post_later(LIVE_AFTER, RoomEvent::EgressCheck { id, failures });
        self.post_later(
            KEYFRAME_EVERY,
            RoomEvent::EgressKeyframe { id, branch: rid },
        );
        Ok(())
    }

    /// Every [`KEYFRAME_EVERY`] while branch `branch` of egress `id` runs.
    pub(super) fn egress_keyframe(&mut self, id: EgressId, branch: RecordingId) {
        let Some(source) = self
            .egresses
            .get(&id)
            .filter(|e| e.recorder == Some(branch))
            .map(|e| e.handle)
        else {
            return;
        };
        self.keyframe_for_publisher(source, true);
        if source == MIX_HANDLE
            && let Some(m) = &self.mixer
        {
            m.request_keyframe();
        }
        self.post_later(KEYFRAME_EVERY, RoomEvent::EgressKeyframe { id, branch });
    }

    /// `stop_rtmp`.
    pub(super) fn stop_rtmp(&mut self, id: EgressId) -> Result<EgressInfo, RoomError> {
        let mut e = self
            .egresses
            .remove(&id)
            .ok_or_else(|| RoomError::NoSuchFeed(format!("restream {id}")))?;
        if let Some(rid) = e.recorder.take() {
            // EOS into the branch: the server gets a clean end of stream.
            self.stop_recording(rid);
            self.ending_egresses.insert(rid);
        }
        e.state = EgressState::Stopped;
        info!(egress = %id, "restream stopped");
        self.egress_event(&e);
        Ok(e.info())
    }

    /// Stops every restream of `handle` (a feed that left).
    pub(super) fn stop_egresses_of(&mut self, handle: u64) {
        let ids: Vec<EgressId> = self
            .egresses
            .values()
            .filter(|e| e.handle == handle)
            .map(|e| e.id)
            .collect();
        for id in ids {
            let _ = self.stop_rtmp(id);
        }
    }

    /// The egress whose branch is recorder `rid`.
    pub(super) fn egress_of(&self, rid: RecordingId) -> Option<EgressId> {
        self.egresses
            .values()
            .find(|e| e.recorder == Some(rid))
            .map(|e| e.id)
    }

    /// Whether recorder `rid` is (or was) an egress branch: not a file.
    pub(super) fn is_egress_branch(&self, rid: RecordingId) -> bool {
        self.egress_of(rid).is_some() || self.ending_egresses.contains(&rid)
    }

    /// Egress branch `rid` ended (EOS or an error): a stopped restream's
    /// branch is removed; a live one is retried (see `egress_failed`).
    pub(super) fn egress_branch_ended(&mut self, rid: RecordingId, why: &str) {
        if self.ending_egresses.remove(&rid) {
            if let Some(r) = self.recorders.remove(&rid) {
                let _ = r.finish(&self.pipeline);
            }
        } else {
            self.egress_failed(rid, why);
        }
    }

    /// The branch failed (the server dropped or refused): remove it and
    /// retry with back-off.
    pub(super) fn egress_failed(&mut self, rid: RecordingId, why: &str) {
        let Some(id) = self.egress_of(rid) else {
            return;
        };
        if let Some(r) = self.recorders.remove(&rid) {
            let _ = r.finish(&self.pipeline);
        }
        let Some(e) = self.egresses.get_mut(&id) else {
            return;
        };
        e.recorder = None;
        e.failures += 1;
        e.state = EgressState::Retrying;
        let delay = (FIRST_RETRY * (1u32 << (e.failures - 1).min(5))).min(MAX_RETRY);
        warn!(
            egress = %id,
            error = why,
            retry_in_ms = delay.as_millis() as u64,
            "restream failed; retrying"
        );
        let snapshot = e.clone();
        self.egress_event(&snapshot);
        self.post_later(delay, RoomEvent::EgressRetry { id });
    }

    pub(super) fn egress_retry(&mut self, id: EgressId) {
        if self.egresses.get(&id).is_none_or(|e| e.recorder.is_some()) {
            return;
        }
        if let Err(err) = self.egress_connect(id) {
            warn!(egress = %id, error = %err, "restream cannot restart");
        }
    }

    /// `LIVE_AFTER` after a (re)start with no failure since: live.
    pub(super) fn egress_check(&mut self, id: EgressId, failures: u32) {
        let Some(e) = self.egresses.get_mut(&id) else {
            return;
        };
        if e.failures != failures || e.recorder.is_none() || e.state == EgressState::Live {
            return;
        }
        e.state = EgressState::Live;
        e.failures = 0;
        let snapshot = e.clone();
        info!(egress = %id, "restream live");
        self.egress_event(&snapshot);
    }

    /// Every restream, for `list_ingests`.
    pub(super) fn egress_infos(&self) -> Vec<EgressInfo> {
        self.egresses.values().map(Egress::info).collect()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn builtin_catalog_parses() {
        let c = super::Catalog::builtin();
        assert!(c.rtmp.mux.contains("flvmux"));
        assert!(c.rtmp.sink.contains("rtmp2sink"));
    }
}

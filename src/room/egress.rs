//! Restreaming a room out: `start_rtmp`/`stop_rtmp` push the mix or one
//! feed to an RTMP server (`flvmux ! rtmp2sink`, H.264 + AAC).
//!
//! An egress is a recording branch with a network sink (see [`super::record`]
//! and `pipelines/egress.toml`): the mix's H.264 is reused as encoded, an
//! H.264 feed is not transcoded. When the server drops, the branch is
//! removed and rebuilt with back-off; the room hears
//! `{"videoroom":"event","rtmp":{"id","url","source","state"}}` with
//! `state` `connecting`, `live`, `retrying` or `stopped`.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde::Deserialize;
use tracing::{info, warn};

use super::api::{EgressInfo, EgressSource, EgressState, Notice};
use super::error::RoomError;
use super::peer::RoomEvent;
use super::record::{self, Format, Target};
use super::{MIX_HANDLE, Room};
use crate::ids::PeerKey;
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
        crate::media::fragments::builtin(
            "pipelines/egress.toml",
            include_str!("../../pipelines/egress.toml"),
        )
    }
}

/// One restream.
pub struct Egress {
    /// Its id (`start_rtmp` reply, `stop_rtmp`).
    pub id: EgressId,
    /// `rtmp://…`.
    pub url: String,
    /// The mix ([`MIX_HANDLE`]) or a publisher's handle.
    pub handle: PeerKey,
    /// What it sends, as reported.
    pub source: EgressSource,
    /// Where it is.
    pub state: EgressState,
    /// Failures in a row.
    pub failures: u32,
    /// The current branch (a recording branch with an RTMP sink), if any.
    branch: Option<record::Recorder>,
}

/// The room's restreams. Their branches are recorder branches with a
/// network sink (see [`record`]), kept here, apart from the room's files.
#[derive(Default)]
pub struct Egresses {
    /// Restreams by id.
    pub(super) by_id: BTreeMap<EgressId, Egress>,
    /// The last id given.
    last: u64,
    /// Branches of stopped restreams, sending their EOS to the server.
    pub(super) ending: HashMap<RecordingId, record::Recorder>,
}

impl Egresses {
    /// The restream whose current branch is `rid`.
    pub(super) fn of_branch(&self, rid: RecordingId) -> Option<EgressId> {
        self.by_id
            .values()
            .find(|e| e.branch_id() == Some(rid))
            .map(|e| e.id)
    }

    /// Whether recording branch `rid` is (or was) a restream's: not a file.
    pub(super) fn owns(&self, rid: RecordingId) -> bool {
        self.of_branch(rid).is_some() || self.ending.contains_key(&rid)
    }

    /// Sends EOS into every branch (room shutdown: servers get a clean end
    /// of stream); they finish in [`Egresses::ending`].
    pub(super) fn end_all(&mut self) {
        for e in self.by_id.values_mut() {
            if let Some(mut b) = e.branch.take() {
                b.stop();
                self.ending.insert(b.id, b);
            }
        }
    }
}

impl Egress {
    fn branch_id(&self) -> Option<RecordingId> {
        self.branch.as_ref().map(|b| b.id)
    }

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
        self.egress.last += 1;
        let id = EgressId(self.egress.last);
        let e = Egress {
            id,
            url,
            handle,
            source,
            state: EgressState::Connecting,
            failures: 0,
            branch: None,
        };
        self.egress.by_id.insert(id, e);
        if let Err(err) = self.egress_connect(id) {
            self.egress.by_id.remove(&id);
            return Err(RoomError::graph("cannot restream", err));
        }
        let e = &self.egress.by_id[&id];
        info!(egress = %id, url = %e.url, "restream started");
        Ok(e.info())
    }

    /// Builds the branch of egress `id`.
    fn egress_connect(&mut self, id: EgressId) -> Result<(), String> {
        let Some(e) = self.egress.by_id.get(&id) else {
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
            false,
        )
        .map_err(|e| e.to_string())?;
        let rid = r.id;
        if let Some(e) = self.egress.by_id.get_mut(&id) {
            e.branch = Some(r);
        }
        self.keyframe_for_publisher(handle, true);
        if handle == MIX_HANDLE
            && let Some(m) = &self.mixer
        {
            m.request_keyframe();
        }
        let failures = self.egress.by_id.get(&id).map_or(0, |e| e.failures);
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
            .egress
            .by_id
            .get(&id)
            .filter(|e| e.branch_id() == Some(branch))
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
            .egress
            .by_id
            .remove(&id)
            .ok_or_else(|| RoomError::NoSuchFeed(format!("restream {id}")))?;
        if let Some(mut branch) = e.branch.take() {
            // EOS into the branch: the server gets a clean end of stream.
            // It is removed when the EOS is out, or its time is up.
            branch.stop();
            let rid = branch.id;
            self.egress.ending.insert(rid, branch);
            self.post_later(
                record::FINALIZE_TIMEOUT,
                RoomEvent::RecordingDone { id: rid },
            );
        }
        e.state = EgressState::Stopped;
        info!(egress = %id, "restream stopped");
        self.egress_event(&e);
        Ok(e.info())
    }

    /// Stops every restream of `handle` (a feed that left).
    pub(super) fn stop_egresses_of(&mut self, handle: PeerKey) {
        let ids: Vec<EgressId> = self
            .egress
            .by_id
            .values()
            .filter(|e| e.handle == handle)
            .map(|e| e.id)
            .collect();
        for id in ids {
            let _ = self.stop_rtmp(id);
        }
    }

    /// Egress branch `rid` ended (EOS or an error): a stopped restream's
    /// branch is removed; a live one is retried (see `egress_failed`).
    pub(super) fn egress_branch_ended(&mut self, rid: RecordingId, why: &str) {
        if let Some(r) = self.egress.ending.remove(&rid) {
            let _ = r.finish(&self.pipeline);
        } else {
            self.egress_failed(rid, why);
        }
    }

    /// The branch failed (the server dropped or refused): remove it and
    /// retry with back-off.
    pub(super) fn egress_failed(&mut self, rid: RecordingId, why: &str) {
        let Some(id) = self.egress.of_branch(rid) else {
            return;
        };
        let Some(e) = self.egress.by_id.get_mut(&id) else {
            return;
        };
        if let Some(b) = e.branch.take() {
            let _ = b.finish(&self.pipeline);
        }
        e.failures += 1;
        e.state = EgressState::Retrying;
        let delay = (FIRST_RETRY * (1u32 << (e.failures - 1).min(5))).min(MAX_RETRY);
        warn!(
            egress = %id,
            error = why,
            retry_in_ms = delay.as_millis() as u64,
            "restream failed; retrying"
        );
        let info = e.info();
        self.broadcast(Notice::Egress(info), None);
        self.post_later(delay, RoomEvent::EgressRetry { id });
    }

    pub(super) fn egress_retry(&mut self, id: EgressId) {
        if self
            .egress
            .by_id
            .get(&id)
            .is_none_or(|e| e.branch.is_some())
        {
            return;
        }
        if let Err(err) = self.egress_connect(id) {
            warn!(egress = %id, error = %err, "restream cannot restart");
        }
    }

    /// `LIVE_AFTER` after a (re)start with no failure since: live.
    pub(super) fn egress_check(&mut self, id: EgressId, failures: u32) {
        let Some(e) = self.egress.by_id.get_mut(&id) else {
            return;
        };
        if e.failures != failures || e.branch.is_none() || e.state == EgressState::Live {
            return;
        }
        e.state = EgressState::Live;
        e.failures = 0;
        let info = e.info();
        info!(egress = %id, "restream live");
        self.broadcast(Notice::Egress(info), None);
    }

    /// Every restream, for `list_ingests`.
    pub(super) fn egress_infos(&self) -> Vec<EgressInfo> {
        self.egress.by_id.values().map(Egress::info).collect()
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

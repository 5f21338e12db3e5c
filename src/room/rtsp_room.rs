//! The room task's side of RTSP serving (see [`super::rtsp`]): mounts
//! follow publications and the mixer; shared media attach to the tees.

use std::collections::HashMap;

use gst::prelude::*;
use tracing::{debug, info, warn};

use super::rtsp::{self, MountStream, RtspBranch, RtspServer};
use super::{MIX_HANDLE, Room};
use crate::ids::MediaId;
use crate::ids::PeerKey;
use crate::media::codec::MediaKind;

/// What the room serves over RTSP.
#[derive(Default)]
pub(super) struct RtspMounts {
    /// RTSP paths served, by source handle (the mix is `MIX_HANDLE`).
    pub(super) mounts: HashMap<PeerKey, String>,
    /// Shared RTSP media being fed (and streaming `switch` exports), by media id.
    pub(super) branches: HashMap<MediaId, rtsp::RtspBranch>,
}

impl Room {
    /// The RTSP path of source `handle` (the mix or a publisher).
    fn rtsp_path(&self, handle: PeerKey) -> Option<String> {
        let room = self.cfg.room.to_string();
        if handle == MIX_HANDLE {
            return Some(RtspServer::path(&room, None));
        }
        let p = self.participants.get(&handle)?;
        Some(RtspServer::path(&room, Some(&p.id.to_string())))
    }

    /// (kind, codec, pt, tee) of what source `handle` serves: its first
    /// video and first audio stream.
    fn rtsp_streams(&mut self, handle: PeerKey) -> Vec<(MountStream, gst::Element)> {
        if handle == MIX_HANDLE {
            let Some(m) = self.mixer.as_mut() else {
                return Vec::new();
            };
            let (vcodec, vpt, _) = m.video_format();
            let video = m.video_tee().clone();
            let (apt_codec, apt) = m.audio_format();
            let Ok((audio, _)) = m.audio_tee(&self.pipeline, super::mcu::MixKey::All) else {
                return Vec::new();
            };
            return vec![
                (
                    MountStream {
                        kind: MediaKind::Video,
                        codec: vcodec,
                        pt: vpt,
                    },
                    video,
                ),
                (
                    MountStream {
                        kind: MediaKind::Audio,
                        codec: apt_codec,
                        pt: apt,
                    },
                    audio,
                ),
            ];
        }
        let Some(publication) = self
            .participants
            .get(&handle)
            .and_then(|p| p.publication.as_ref())
        else {
            return Vec::new();
        };
        Self::recorded_streams(publication)
            .iter()
            .map(|s| {
                (
                    MountStream {
                        kind: s.kind,
                        codec: s.codec,
                        pt: s.pt,
                    },
                    s.tee.clone(),
                )
            })
            .collect()
    }

    /// Serves source `handle` over RTSP (when the gateway serves RTSP).
    pub(super) fn rtsp_mount(&mut self, handle: PeerKey) {
        let Some(server) = self.ctx.rtsp.clone() else {
            return;
        };
        let Some(path) = self.rtsp_path(handle) else {
            return;
        };
        let streams: Vec<MountStream> = self
            .rtsp_streams(handle)
            .into_iter()
            .map(|(s, _)| s)
            .collect();
        if streams.is_empty() {
            return;
        }
        server.mount(&path, handle, &streams, &self.ev_tx);
        info!(handle_id = %handle, url = %format!("rtsp://{}{path}", server.addr), "served over RTSP");
        self.rtsp.mounts.insert(handle, path);
    }

    /// Stops serving source `handle` and detaches its media.
    pub(super) fn rtsp_unmount(&mut self, handle: PeerKey) {
        if let (Some(server), Some(path)) =
            (self.ctx.rtsp.as_ref(), self.rtsp.mounts.remove(&handle))
        {
            server.unmount(&path);
        }
        let media: Vec<MediaId> = self
            .rtsp
            .branches
            .iter()
            .filter(|(_, b)| b.handle == handle)
            .map(|(m, _)| *m)
            .collect();
        for m in media {
            self.rtsp_detach(m);
        }
    }

    /// A shared RTSP media was prepared: feed its `appsrc`s from the tees.
    pub(super) fn rtsp_attach(
        &mut self,
        handle: PeerKey,
        media: MediaId,
        srcs: Vec<(MediaKind, gst_app::AppSrc)>,
    ) {
        let streams = self.rtsp_streams(handle);
        let mut parts = Vec::new();
        for (kind, src) in &srcs {
            let Some((_, tee)) = streams.iter().find(|(s, _)| s.kind == *kind) else {
                continue;
            };
            let replay = self
                .ingests
                .by_handle
                .get(&handle)
                .and_then(|i| i.streams.iter().find(|s| &s.tee == tee))
                .and_then(|s| s.gop.clone());
            match rtsp::attach(&self.pipeline, tee, src, replay.as_ref()) {
                Ok((pad, elements)) => parts.push((tee.clone(), pad, elements)),
                Err(e) => warn!(handle_id = %handle, error = %e, "RTSP: cannot attach"),
            }
        }
        debug!(
            handle_id = %handle,
            media = %media,
            streams = parts.len(),
            "RTSP media attached"
        );
        self.rtsp
            .branches
            .insert(media, RtspBranch { handle, parts });
        // A new RTSP client needs a picture now.
        self.keyframe_for_publisher(handle, true);
        if handle == MIX_HANDLE
            && let Some(m) = &self.mixer
        {
            m.request_keyframe();
        }
    }

    /// The shared media is gone (its last client left).
    pub(super) fn rtsp_detach(&mut self, media: MediaId) {
        let Some(b) = self.rtsp.branches.remove(&media) else {
            return;
        };
        let mut elements = Vec::new();
        for (tee, pad, els) in b.parts {
            tee.release_request_pad(&pad);
            elements.extend(els);
        }
        super::peer::retire(&self.pipeline, elements);
        debug!(media = %media, "RTSP media detached");
    }
}

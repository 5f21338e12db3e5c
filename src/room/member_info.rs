//! What the room tells the Admin API about one member (`handle_info`):
//! its role, id and streams, and, when asked, its PeerConnection's state
//! and statistics. The statistics come back on a GStreamer thread, which
//! only sends the answer on the command's oneshot.

use tokio::sync::oneshot;

use super::*;
use crate::room::api::MemberInfo;

impl Room {
    pub(super) fn member_info(
        &mut self,
        h: HandleId,
        webrtc: bool,
        reply: oneshot::Sender<MemberInfo>,
    ) {
        let key = h.key();
        let mut known = std::collections::HashMap::new();
        let (info, peer) = if let Some(p) = self.participants.get(&key) {
            for s in p.publication.iter().flat_map(|p| &p.streams) {
                if let Some(ssrc) = s.ssrc {
                    known.insert(ssrc, (s.kind.as_str(), s.mid.clone()));
                }
            }
            let info = MemberInfo {
                role: Some(Role::Publisher),
                id: Some(p.id.clone()),
                display: p.display.clone(),
                published: p
                    .publication
                    .as_ref()
                    .map(Self::published_streams)
                    .unwrap_or_default(),
                mix_substream: self.mixer.as_ref().and_then(|m| m.input_layer(key)),
                ..MemberInfo::default()
            };
            let peer = p.publication.as_ref().and_then(|p| p.peer.clone());
            (info, peer)
        } else if let Some(s) = self.subscribers.get(&key) {
            let info = MemberInfo {
                role: Some(Role::Subscriber),
                subscribed: s
                    .streams
                    .iter()
                    .map(|st| (st.mid.clone(), st.feed.clone(), st.feed_mid.clone()))
                    .collect(),
                paused: s.paused,
                ..MemberInfo::default()
            };
            (info, Some(s.peer.clone()))
        } else {
            let _ = reply.send(MemberInfo::default());
            return;
        };
        match peer.filter(|_| webrtc) {
            Some(peer) => {
                graph::stats::summarize(&peer.webrtcbin, peer.samples.clone(), known, move |w| {
                    let _ = reply.send(MemberInfo {
                        webrtc: Some(w),
                        ..info
                    });
                })
            }
            None => {
                let _ = reply.send(info);
            }
        }
    }
}

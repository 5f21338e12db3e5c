//! `switch` without renegotiation: the viewer's PeerConnection stays in
//! the room of the mountpoint it watched first, and the other mountpoint's
//! room exports its streams into it (see `room/switch.rs`).

use super::*;

impl Streaming {
    /// `switch` (`id`): the viewer keeps its PeerConnection (in the room of
    /// the mountpoint it watched first) and gets mountpoint `id`'s media
    /// through a bridge, with no renegotiation; the two must carry the same
    /// kinds and codecs.
    pub(super) fn switch(&self, h: HandleId, p: &Params) -> Result<Answer, StreamingError> {
        let owner = self
            .watched(h.handle_id)
            .ok_or_else(|| StreamingError::InvalidState("not watching anything".into()))?;
        let target = self.mountpoint(p)?;
        if !target.settings().enabled {
            return Err(StreamingError::InvalidState("mountpoint disabled".into()));
        }
        let current = self
            .source_of(h.handle_id)
            .and_then(|id| lock(&self.mountpoints).get(&id).cloned())
            .ok_or_else(|| StreamingError::CantSwitch("the current mountpoint is gone".into()))?;
        let done = json!({"streaming": "event", "result": {"switched": "ok", "id": target.id}});
        if current.id == target.id {
            return Ok(Box::pin(async move { Ok((done, None)) }));
        }
        let switched = self.switched.clone();
        let mountpoints = self.mountpoints.clone();
        Ok(Box::pin(async move {
            let codecs = |st: Option<IngestStatus>| {
                let mut v: Vec<(&str, &str)> = st
                    .iter()
                    .flat_map(|s| s.ingests.first())
                    .flat_map(|i| {
                        i.media
                            .iter()
                            .map(|m| (m.kind.as_str(), m.codec.janus_name()))
                    })
                    .collect();
                v.sort();
                v
            };
            let (from, to) = (
                codecs(Self::status(&current).await),
                codecs(Self::status(&target).await),
            );
            if from != to || to.is_empty() {
                return Err(StreamingError::CantSwitch(format!(
                    "the mountpoints' media differ ({from:?} → {to:?})"
                )));
            }
            let (tx, rx) = oneshot::channel();
            owner
                .room
                .send(Command::Bridge { h, reply: tx })
                .map_err(|e| StreamingError::Unknown(e.to_string()))?;
            let srcs = wait(rx).await?;
            let media = MediaId::next();
            let (tx, rx) = oneshot::channel();
            target
                .room
                .send(Command::Export {
                    feed: Id::Num(FEED),
                    media,
                    srcs,
                    reply: tx,
                })
                .map_err(|e| StreamingError::Unknown(e.to_string()))?;
            wait(rx).await?;
            let previous = lock(&switched).insert(h.handle_id, (target.id, media));
            if let Some((source, media)) = previous
                && let Some(mp) = lock(&mountpoints).get(&source)
            {
                let _ = mp.room.send(Command::Unexport { media });
            }
            info!(
                handle_id = h.handle_id,
                from = current.id,
                to = target.id,
                "viewer switched"
            );
            Ok((done, None))
        }))
    }
}

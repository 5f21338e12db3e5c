//! The room's MCU mixer as a participant: starting it, and the mix as a feed.

use super::*;

impl Room {
    /// Builds the mixer if the start-up encoder probe has chosen; `last`:
    /// the wait is over, so give up without one. Without an encoder the room
    /// still forwards (SFU) and says why in the log. True when done.
    pub(super) fn try_start_mixer(&mut self, last: bool) -> bool {
        let codec = self.cfg.mix.codec;
        let chosen = match self.ctx.encoders.get() {
            Some(list) => list.iter().find(|s| s.codec == codec).cloned(),
            None if last => None,
            None => return false,
        };
        let Some(encoder) = chosen else {
            warn!(codec = %codec, "no working encoder for the mix: the room forwards only");
            return true;
        };
        match Mixer::new(
            &self.pipeline,
            self.cfg.mix.clone(),
            self.cfg.layout.clone(),
            &encoder,
            Duration::from_millis(self.ctx.jitter_buffer_ms as u64),
            &self.ctx.mcu,
        ) {
            Ok(m) => {
                info!(encoder = %encoder.spec.factory, width = self.cfg.mix.width, height = self.cfg.mix.height, fps = self.cfg.mix.fps, "mixer started");
                self.mixer = Some(m);
                self.rtsp_mount(MIX_HANDLE);
            }
            Err(e) => warn!(error = %e, "mixer failed to start: the room forwards only"),
        }
        true
    }

    /// The mix's feed id: 0, or `"mix"` with string ids.
    pub(super) fn mix_id(&self) -> Id {
        command::mix_id(self.ctx.string_ids)
    }

    /// The mix as a publisher (`publishers[]`), when the room mixes.
    pub(super) fn mix_info(&self) -> Option<PublisherInfo> {
        let m = self.mixer.as_ref()?;
        let (vcodec, _, _) = m.video_format();
        let stream = |kind, mindex, mid: &str, codec| PublishedStream {
            kind,
            mindex,
            mid: mid.to_owned(),
            codec,
            moderated: None,
            description: None,
            simulcast: None,
        };
        Some(PublisherInfo {
            id: self.mix_id(),
            display: Some("Mix".into()),
            metadata: None,
            streams: vec![
                stream(MediaKind::Audio, 0, MIX_AUDIO_MID, Codec::Opus),
                stream(MediaKind::Video, 1, MIX_VIDEO_MID, vcodec),
            ],
            talking: false,
        })
    }
}

//! A room's settings, as plain data: what a videoroom `create` asked for
//! (parsed by `plugins/videoroom/create.rs`), or what the streaming plugin
//! chose for a mountpoint's room. Defaults are Janus's (`janus_videoroom.c`,
//! "create" documentation).

use super::api::RoomEdit;
use super::error::RoomError;
use super::layout::Layout;
use super::mcu::{MixSettings, Mode};
use crate::ids::RoomId;
use crate::media::codec::Codec;

/// Janus's default `publishers`.
pub const DEFAULT_MAX_PUBLISHERS: u64 = 3;
/// Janus's default `audio_active_packets`.
pub const DEFAULT_AUDIO_ACTIVE_PACKETS: u64 = 100;
/// Janus's default `audio_level_average` (dBov, 0..127).
pub const DEFAULT_AUDIO_LEVEL_AVERAGE: u64 = 25;

/// One room's settings.
#[derive(Debug, Clone)]
pub struct RoomConfig {
    /// Room id.
    pub room: RoomId,
    /// `description`.
    pub description: String,
    /// `secret` needed to edit/destroy/kick.
    pub secret: Option<String>,
    /// `pin` needed to join.
    pub pin: Option<String>,
    /// Hidden from `list` when true.
    pub is_private: bool,
    /// Max concurrent publishers (`publishers`).
    pub max_publishers: u64,
    /// Bitrate cap for publishers in bps (0 = none). Stored; REMB not sent yet.
    pub bitrate: u64,
    /// Seconds between periodic keyframe requests (`fir_freq`, 0 = off).
    pub fir_freq: u64,
    /// Allowed audio codecs, preference order.
    pub audiocodec: Vec<Codec>,
    /// Allowed video codecs, preference order.
    pub videocodec: Vec<Codec>,
    /// Send `joining` events.
    pub notify_joining: bool,
    /// Send `talking`/`stopped-talking` events.
    pub audiolevel_event: bool,
    /// Packets per talking decision.
    pub audio_active_packets: u64,
    /// Average level threshold in dBov.
    pub audio_level_average: u64,
    /// Record every publisher (and the mix).
    pub record: bool,
    /// Recording directory.
    pub rec_dir: Option<String>,
    /// Only with the secret can recording be toggled.
    pub lock_record: bool,
    /// `record_format`: `"webm"` keeps VP8 and Opus as sent (else MP4).
    pub record_webm: bool,
    /// Subscribers must give a `private_id`.
    pub require_pvtid: bool,
    /// `permanent` (config files are not rewritten; accepted and reported).
    pub permanent: bool,
    /// `mixing`: SFU, MCU or hybrid.
    pub mode: Mode,
    /// `mix_width`, `mix_height`, `mix_fps`, `mix_bitrate`, `mix_videocodec`.
    pub mix: MixSettings,
    /// `layout` of the mix.
    pub layout: Layout,
    /// Whether a publisher `join` must carry an `allowed` token (Janus's
    /// `check_allowed`; on when `create` gave `allowed`).
    pub check_allowed: bool,
    /// The `allowed` tokens.
    pub allowed: std::collections::BTreeSet<String>,
    /// `keyframe_cache` (extension, default on): each publisher video
    /// stream keeps its last GOP (at most 8 MiB) and replays it to a new
    /// subscriber, whose first picture then needs no PLI round trip.
    pub keyframe_cache: bool,
}

/// The `action` of an `allowed` request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllowedAction {
    /// Turn the check on.
    Enable,
    /// Turn it off (free entry); the tokens are kept.
    Disable,
    /// Add tokens.
    Add,
    /// Remove tokens.
    Remove,
}

impl RoomConfig {
    /// Room `room` with Janus's defaults (an SFU room of Opus and VP8).
    pub fn new(room: RoomId) -> Self {
        RoomConfig {
            description: format!("Room {room}"),
            room,
            secret: None,
            pin: None,
            is_private: false,
            max_publishers: DEFAULT_MAX_PUBLISHERS,
            bitrate: 0,
            fir_freq: 0,
            audiocodec: vec![Codec::Opus],
            videocodec: vec![Codec::Vp8],
            notify_joining: false,
            audiolevel_event: false,
            audio_active_packets: DEFAULT_AUDIO_ACTIVE_PACKETS,
            audio_level_average: DEFAULT_AUDIO_LEVEL_AVERAGE,
            record: false,
            rec_dir: None,
            lock_record: false,
            record_webm: false,
            require_pvtid: false,
            permanent: false,
            mode: Mode::Sfu,
            mix: MixSettings::default(),
            layout: Layout::Grid,
            check_allowed: false,
            allowed: Default::default(),
            keyframe_cache: true,
        }
    }

    /// Applies an `edit` (its values were checked when it was parsed).
    pub fn apply_edit(&mut self, edit: RoomEdit) {
        if let Some(v) = edit.description {
            self.description = v;
        }
        if let Some(v) = edit.secret {
            self.secret = Some(v);
        }
        if let Some(v) = edit.pin {
            self.pin = (!v.is_empty()).then_some(v);
        }
        if let Some(v) = edit.is_private {
            self.is_private = v;
        }
        if let Some(v) = edit.require_pvtid {
            self.require_pvtid = v;
        }
        if let Some(v) = edit.bitrate {
            self.bitrate = v;
        }
        if let Some(v) = edit.fir_freq {
            self.fir_freq = v;
        }
        if let Some(v) = edit.publishers {
            self.max_publishers = v;
        }
        if let Some(v) = edit.lock_record {
            self.lock_record = v;
        }
        if let Some(v) = edit.rec_dir {
            self.rec_dir = Some(v);
        }
    }

    /// Checks a `secret` against the room's (no secret set: anything passes).
    pub fn check_secret(&self, given: Option<&str>) -> Result<(), RoomError> {
        match &self.secret {
            Some(s) if given != Some(s.as_str()) => Err(RoomError::Unauthorized("wrong secret")),
            _ => Ok(()),
        }
    }

    /// Checks a `pin` against the room's.
    /// Checks a publisher `join`'s `token` against the `allowed` list
    /// (Janus: 433 "Unauthorized (not in the allowed list)").
    pub fn check_token(&self, given: Option<&str>) -> Result<(), RoomError> {
        if self.check_allowed && !given.is_some_and(|t| self.allowed.contains(t)) {
            return Err(RoomError::Unauthorized("not in the allowed list"));
        }
        Ok(())
    }

    /// `allowed`: `enable`/`disable` the check, or `add`/`remove` tokens
    /// (whether or not the check is on), as Janus does. Returns the list
    /// after the change, except after `disable` (Janus leaves it out then).
    pub fn apply_allowed(
        &mut self,
        action: AllowedAction,
        tokens: Vec<String>,
    ) -> Option<Vec<String>> {
        match action {
            AllowedAction::Enable => self.check_allowed = true,
            AllowedAction::Disable => {
                self.check_allowed = false;
                return None;
            }
            AllowedAction::Add => self.allowed.extend(tokens),
            AllowedAction::Remove => {
                for t in &tokens {
                    self.allowed.remove(t);
                }
            }
        }
        Some(self.allowed.iter().cloned().collect())
    }

    pub fn check_pin(&self, given: Option<&str>) -> Result<(), RoomError> {
        match &self.pin {
            Some(s) if given != Some(s.as_str()) => Err(RoomError::Unauthorized("wrong pin")),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::Id;

    #[test]
    fn defaults_are_janus_defaults() {
        let c = RoomConfig::new(Id::Num(7));
        assert_eq!(c.description, "Room 7");
        assert_eq!(c.max_publishers, 3);
        assert_eq!(c.audiocodec, vec![Codec::Opus]);
        assert_eq!(c.videocodec, vec![Codec::Vp8]);
        assert_eq!(c.mode, Mode::Sfu);
    }

    #[test]
    fn edit_changes_only_what_it_names() {
        let mut c = RoomConfig::new(Id::Num(1));
        c.pin = Some("p".into());
        c.apply_edit(RoomEdit {
            description: Some("b".into()),
            publishers: Some(9),
            secret: Some("s".into()),
            pin: Some(String::new()),
            ..RoomEdit::default()
        });
        assert_eq!((c.description.as_str(), c.max_publishers), ("b", 9));
        assert!(c.check_secret(Some("s")).is_ok());
        assert!(matches!(
            c.check_secret(None),
            Err(RoomError::Unauthorized("wrong secret"))
        ));
        assert!(
            c.check_pin(None).is_ok(),
            "an empty new_pin removes the pin"
        );
        assert!(!c.is_private);
    }
}

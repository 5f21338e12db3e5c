//! Identifiers shared by the Janus core, the plugins and the rooms.
//!
//! Wire ids are Janus's: a room, participant (feed) or mountpoint id is a
//! positive integer, or a string when the plugin runs with `string_ids`
//! (Janus `janus_videoroom.c`, "string_ids"). Ids internal to the gateway
//! are newtypes over `u64`, so a recording id cannot be passed where an
//! egress id is expected.

use std::fmt;

use serde_json::Value;

/// A room, participant or mountpoint id: a positive integer, or a string
/// when the plugin runs with `string_ids`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Id {
    /// Numeric id (below 2^53, so JavaScript clients keep it exact).
    Num(u64),
    /// String id (`string_ids = true`).
    Str(String),
}

impl Id {
    /// The JSON form: a number or a string.
    pub fn to_json(&self) -> Value {
        match self {
            Id::Num(n) => Value::from(*n),
            Id::Str(s) => Value::from(s.as_str()),
        }
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Id::Num(n) => write!(f, "{n}"),
            Id::Str(s) => f.write_str(s),
        }
    }
}

impl serde::Serialize for Id {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Id::Num(n) => s.serialize_u64(*n),
            Id::Str(v) => s.serialize_str(v),
        }
    }
}

/// A room id.
pub type RoomId = Id;
/// A participant's (publisher's) id in its room: what subscribers name as `feed`.
pub type FeedId = Id;

/// Identifies a handle to its plugin: the Janus session and handle ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HandleId {
    /// The session the handle belongs to.
    pub session_id: u64,
    /// The handle.
    pub handle_id: u64,
}

macro_rules! newtype_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(pub u64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }
    };
}

newtype_id!(
    /// A room's key for one of its members: the Janus handle id of a
    /// participant or subscriber, an ingest's handle (from 2^60 up, above
    /// any Janus handle), or 0 for the MCU mix.
    PeerKey
);

impl HandleId {
    /// The room key of this handle's participant or subscriber.
    pub fn key(&self) -> PeerKey {
        PeerKey(self.handle_id)
    }
}

impl From<HandleId> for PeerKey {
    fn from(h: HandleId) -> Self {
        PeerKey(h.handle_id)
    }
}

newtype_id!(
    /// A recording branch (a file, or the branch of a restream), unique in the process.
    RecordingId
);
newtype_id!(
    /// A restream (`start_rtmp`), unique in its room; `stop_rtmp` names it.
    EgressId
);
newtype_id!(
    /// A media fed out of a room: an RTSP client's shared media, or a
    /// streaming `switch` bridge. Unique in the process.
    MediaId
);

impl MediaId {
    /// A new id, unique in the process.
    pub fn next() -> MediaId {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        MediaId(NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
    }
}

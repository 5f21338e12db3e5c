//! Janus plugins: the interface the gateway calls ([`Plugin`]) and the way
//! plugins talk back to clients ([`EventSink`], [`HandleEvent`]).

pub mod admin_info;
pub mod dispatch;
pub mod params;
pub mod streaming;
pub mod videoroom;

use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::{Map, Value, json};

pub use self::dispatch::Route;

pub use crate::ids::HandleId;
use crate::janus::{Candidate, JanusError, Jsep, PluginDescriptor, PluginReply, Trickle};
use crate::media::codec::MediaKind;

/// Something a plugin tells one handle's client, unsolicited or as the
/// asynchronous result of a request.
#[derive(Debug, Clone, PartialEq)]
pub enum HandleEvent {
    /// `{"janus":"event","plugindata":{..},"jsep"?}`; `transaction` set when it
    /// answers an acked request.
    Plugin {
        transaction: Option<String>,
        data: Value,
        jsep: Option<Jsep>,
    },
    /// `webrtcup`: the PeerConnection is up (ICE and DTLS done).
    WebrtcUp,
    /// `media`: a stream started or stopped arriving.
    Media {
        mid: String,
        kind: MediaKind,
        receiving: bool,
    },
    /// `hangup`: the PeerConnection is gone.
    Hangup { reason: String },
    /// `trickle` from the gateway: a local candidate, or `None` for completed.
    Trickle(Option<Candidate>),
}

impl HandleEvent {
    /// The Janus JSON for this event (Janus "JSON API" page).
    pub fn to_json(&self, h: HandleId, plugin: &str) -> Value {
        let (s, sender) = (h.session_id, h.handle_id);
        match self {
            HandleEvent::Plugin {
                transaction,
                data,
                jsep,
            } => crate::janus::wire::plugin_event(
                s,
                sender,
                transaction.as_deref(),
                plugin,
                data.clone(),
                jsep.as_ref().map(Jsep::to_json),
            ),
            HandleEvent::WebrtcUp => {
                json!({"janus": "webrtcup", "session_id": s, "sender": sender})
            }
            HandleEvent::Media {
                mid,
                kind,
                receiving,
            } => json!({
                "janus": "media", "session_id": s, "sender": sender,
                "mid": mid, "type": kind.as_str(), "receiving": receiving,
            }),
            HandleEvent::Hangup { reason } => {
                json!({"janus": "hangup", "session_id": s, "sender": sender, "reason": reason})
            }
            HandleEvent::Trickle(Some(c)) => json!({
                "janus": "trickle", "session_id": s, "sender": sender,
                "candidate": {"sdpMid": c.sdp_mid, "sdpMLineIndex": c.sdp_mline_index, "candidate": c.candidate},
            }),
            HandleEvent::Trickle(None) => json!({
                "janus": "trickle", "session_id": s, "sender": sender, "candidate": {"completed": true},
            }),
        }
    }
}

/// Where plugins send events; the gateway routes them to the session's
/// transport. Must not block: it is called from room tasks.
pub trait EventSink: Send + Sync {
    /// Delivers `event` to handle `h` of plugin `plugin`.
    fn push(&self, h: HandleId, plugin: &'static str, event: HandleEvent);
    /// Reports `data` to the event handler as a plugin event (type 64)
    /// about `h`, if any; the client hears nothing of it.
    fn report(&self, h: Option<HandleId>, plugin: &'static str, data: Value) {
        let _ = (h, plugin, data);
    }
}

/// A Janus plugin. Every method returns quickly: work that waits (on a room
/// task, on GStreamer) is in the returned future. Whatever must happen in
/// request order (routing a message to its room) happens before the future
/// is returned, so a transport that calls `message` then `trickle` in order
/// gets them to the room in that order.
pub trait Plugin: Send + Sync {
    /// How the plugin presents itself in `server_info`.
    fn descriptor(&self) -> PluginDescriptor;
    /// A `message` (`body` plus optional JSEP). Sync requests resolve to
    /// [`PluginReply::Sync`]; async ones to [`PluginReply::Ack`] and later an
    /// event carrying `transaction`.
    fn message(
        &self,
        h: HandleId,
        transaction: String,
        body: Map<String, Value>,
        jsep: Option<Jsep>,
    ) -> BoxFuture<'static, Result<PluginReply, JanusError>>;
    /// Remote ICE candidates for the handle's PeerConnection.
    fn trickle(&self, h: HandleId, trickle: Trickle);
    /// Close the handle's PeerConnection.
    fn hangup(&self, h: HandleId);
    /// The handle is gone: leave rooms, free everything.
    fn detach(&self, h: HandleId);
    /// Admin `message_plugin`: a synchronous plugin request without a handle
    /// (e.g. `{"request":"list"}`); resolves to the plugin's answer, an error
    /// answer included. Asynchronous requests are refused as unknown.
    fn admin_message(&self, request: Map<String, Value>) -> BoxFuture<'static, Value> {
        let _ = request;
        Box::pin(async { json!({"error": "Plugin doesn't support Admin API messages"}) })
    }
    /// The event handler's view of an event the plugin sent a client:
    /// `Some(data)` for the ones Janus's plugin reports to event handlers
    /// (e.g. videoroom `joined`, `published`), `None` for the rest.
    fn handler_event(&self, data: &Value, jsep: Option<&Jsep>) -> Option<Value> {
        let _ = (data, jsep);
        None
    }
    /// Admin `handle_info`: what the plugin knows of handle `h`, and with
    /// `webrtc` its PeerConnection's state and statistics.
    fn handle_info(&self, h: HandleId, webrtc: bool) -> BoxFuture<'static, HandleInfo> {
        let _ = (h, webrtc);
        Box::pin(async { HandleInfo::default() })
    }
}

/// A plugin's part of an Admin `handle_info` reply.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HandleInfo {
    /// `plugin_specific`: e.g. the room, the feed, the participant's role.
    pub plugin_specific: Option<Value>,
    /// `webrtc`: ICE and DTLS state, the selected candidate pair, per-stream
    /// statistics (see `crate::room::graph::stats`).
    pub webrtc: Option<Value>,
}

/// A shared [`EventSink`].
pub type Events = Arc<dyn EventSink>;

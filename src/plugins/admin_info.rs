//! The plugins' shared part of the Admin API's `handle_info`: ask the room
//! a handle is in what it knows ([`Command::MemberInfo`]), bounded in time.

use std::time::Duration;

use futures::future::BoxFuture;
use serde_json::Value;
use tokio::sync::oneshot;

use super::{HandleId, HandleInfo};
use crate::room::{Command, MemberInfo, RoomHandle};

/// How long `handle_info` waits for the room and its statistics.
const INFO_TIMEOUT: Duration = Duration::from_secs(5);

/// Asks `room` about `h` and shapes the `plugin_specific` object with
/// `shape`. A room that is gone or slow yields what `shape` makes of an
/// empty [`MemberInfo`] and no `webrtc` part, never an error.
pub fn ask(
    room: Option<RoomHandle>,
    h: HandleId,
    webrtc: bool,
    shape: impl FnOnce(&MemberInfo) -> Value + Send + 'static,
) -> BoxFuture<'static, HandleInfo> {
    let (tx, rx) = oneshot::channel();
    let sent = room.is_some_and(|r| {
        r.send(Command::MemberInfo {
            h,
            webrtc,
            reply: tx,
        })
        .is_ok()
    });
    Box::pin(async move {
        let info = if sent {
            match tokio::time::timeout(INFO_TIMEOUT, rx).await {
                Ok(Ok(i)) => i,
                _ => MemberInfo::default(),
            }
        } else {
            MemberInfo::default()
        };
        HandleInfo {
            plugin_specific: Some(shape(&info)),
            webrtc: info.webrtc.clone(),
        }
    })
}

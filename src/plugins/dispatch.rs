//! What every plugin's `message` does the same way: read `request`, look
//! it up in the plugin's table, answer synchronous requests in the
//! `success` reply and asynchronous ones with an ack and a later event
//! carrying the transaction (Janus "plugin messages").

use std::sync::{Mutex, MutexGuard};

use futures::future::BoxFuture;
use serde_json::{Map, Value};

use super::{Events, HandleEvent, HandleId};
use crate::janus::{JanusError, Jsep, PluginReply};

/// Locks a plugin registry. They are plain maps whose invariants hold
/// between statements, so a panic elsewhere while holding the lock leaves
/// them usable: a poisoned lock is taken as it is.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A synchronous request's result, or its error event.
pub type Answer<E> = BoxFuture<'static, Result<Value, E>>;
/// An asynchronous request's event data and JSEP, or its error event; `Err`
/// outside the future when it fails before reaching a room.
pub type Later<E> = Result<BoxFuture<'static, Result<(Value, Option<Jsep>), E>>, E>;

/// Serves one `message`: `lookup` names the request, `sync` answers it now,
/// `later` acks it and answers with an event on `h` (through `events`).
pub fn dispatch<E: RequestError, R>(
    body: Map<String, Value>,
    lookup: impl Fn(&str) -> Option<(R, Route)>,
    sync: impl FnOnce(R, Map<String, Value>) -> Answer<E>,
    later: impl FnOnce(R, &Map<String, Value>) -> Later<E>,
    (events, plugin, h, transaction): (Events, &'static str, HandleId, String),
) -> BoxFuture<'static, Result<PluginReply, JanusError>> {
    let (request, how) = match route::<E, R>(&body, lookup) {
        Ok(r) => r,
        Err(reply) => return reply,
    };
    match how {
        Route::Sync => answer_now(sync(request, body)),
        Route::Async => answer_later(events, plugin, h, transaction, later(request, &body)),
    }
}

/// What the request errors of every plugin provide, so one dispatcher
/// serves them all ([`route`], [`answer_now`], [`answer_later`]).
pub trait RequestError: Send + 'static {
    /// A required field is missing.
    fn missing(key: &str) -> Self;
    /// A field has the wrong type (`want` says what it should be).
    fn invalid(key: &str, want: &str) -> Self;
    /// An unknown `request`.
    fn unknown(request: String) -> Self;
    /// The plugin's error event, e.g. `{"videoroom":"event","error_code","error"}`.
    fn to_json(&self) -> Value;
}

/// How a plugin request is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// In the `success` reply.
    Sync,
    /// Acked, then answered by an event carrying the transaction.
    Async,
}

/// Reads `request` from a message body and looks it up in the plugin's
/// table (`lookup`: name → request and how it is served); `Err` is the
/// reply for a missing, mistyped or unknown request.
pub fn route<E: RequestError, R>(
    body: &Map<String, Value>,
    lookup: impl Fn(&str) -> Option<(R, Route)>,
) -> Result<(R, Route), BoxFuture<'static, Result<PluginReply, JanusError>>> {
    let fail = |e: E| -> BoxFuture<'static, Result<PluginReply, JanusError>> {
        let v = e.to_json();
        Box::pin(async move { Ok(PluginReply::Sync(v)) })
    };
    let request = match body.get("request") {
        None => return Err(fail(E::missing("request"))),
        Some(Value::String(r)) => r,
        Some(_) => return Err(fail(E::invalid("request", "a string"))),
    };
    lookup(request).ok_or_else(|| fail(E::unknown(request.clone())))
}

/// The reply of a synchronous request: its result, or its error event.
pub fn answer_now<E: RequestError>(
    fut: BoxFuture<'static, Result<Value, E>>,
) -> BoxFuture<'static, Result<PluginReply, JanusError>> {
    Box::pin(async move {
        Ok(PluginReply::Sync(match fut.await {
            Ok(v) => v,
            Err(e) => e.to_json(),
        }))
    })
}

/// Acks an asynchronous request now; its result (or error) follows as an
/// event on `h` with `transaction`, through `events`.
pub fn answer_later<E: RequestError>(
    events: Events,
    plugin: &'static str,
    h: HandleId,
    transaction: String,
    routed: Result<BoxFuture<'static, Result<(Value, Option<Jsep>), E>>, E>,
) -> BoxFuture<'static, Result<PluginReply, JanusError>> {
    tokio::spawn(async move {
        let (data, jsep) = match routed {
            Ok(fut) => match fut.await {
                Ok(r) => r,
                Err(e) => (e.to_json(), None),
            },
            Err(e) => (e.to_json(), None),
        };
        events.push(
            h,
            plugin,
            HandleEvent::Plugin {
                transaction: Some(transaction),
                data,
                jsep,
            },
        );
    });
    Box::pin(async { Ok(PluginReply::Ack) })
}

/// Serves an Admin `message_plugin` request: only the plugin's synchronous
/// requests, answered with their result (or error) data; an asynchronous
/// one is refused as unknown, since there is no handle to answer on.
pub fn admin<E: RequestError, R>(
    body: Map<String, Value>,
    lookup: impl Fn(&str) -> Option<(R, Route)>,
    sync: impl FnOnce(R, Map<String, Value>) -> Answer<E>,
) -> BoxFuture<'static, Value> {
    let name = body
        .get("request")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let fut = match route::<E, R>(&body, lookup) {
        Ok((request, Route::Sync)) => answer_now(sync(request, body)),
        Ok((_, Route::Async)) => {
            let v = E::unknown(name.unwrap_or_default()).to_json();
            return Box::pin(async move { v });
        }
        Err(reply) => reply,
    };
    Box::pin(async move {
        match fut.await {
            Ok(PluginReply::Sync(v)) => v,
            Ok(PluginReply::Ack) | Err(_) => Value::Null,
        }
    })
}

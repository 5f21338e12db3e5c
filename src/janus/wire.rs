//! Janus core wire format: parsing of incoming requests and the JSON shapes
//! of replies and events.
//!
//! Source: Janus documentation, "JSON API" and "RESTful, WebSockets, ... API"
//! pages (`mainpage.dox`). Field names are Janus's exactly; numbers are JSON
//! numbers (session and handle ids are kept below 2^53 so JavaScript clients
//! read them exactly).

use serde_json::{Map, Value, json};

use super::error::JanusError;

/// Where a request was addressed: HTTP takes this from the URL
/// (`/janus/<session>/<handle>`), WebSocket from the body's `session_id` and
/// `handle_id`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Path {
    /// Session id, if the request is at session or handle level.
    pub session: Option<u64>,
    /// Handle id, if the request is at handle level.
    pub handle: Option<u64>,
}

/// A parsed core request.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The client's `transaction`, echoed in the reply.
    pub transaction: String,
    /// Where the request was addressed.
    pub path: Path,
    /// What it asks for.
    pub verb: Verb,
    /// `apisecret`, when the request carries one as a string.
    pub apisecret: Option<String>,
    /// `token`, when the request carries one as a string (Janus token auth).
    pub token: Option<String>,
}

/// The `janus` verbs this gateway serves.
#[derive(Debug, Clone, PartialEq)]
pub enum Verb {
    /// `info`: server description.
    Info,
    /// `ping`: answered with `pong`.
    Ping,
    /// `create`: a new session; `id` lets the client pick it.
    Create { id: Option<u64> },
    /// `claim`: move an existing session to this transport (reconnect).
    Claim,
    /// `attach`: a new handle on `plugin`.
    Attach {
        plugin: String,
        opaque_id: Option<String>,
    },
    /// `destroy`: end the session.
    Destroy,
    /// `keepalive`: refresh the session timer.
    Keepalive,
    /// `message`: a plugin request (`body`) with an optional JSEP.
    Message {
        body: Map<String, Value>,
        jsep: Option<Jsep>,
    },
    /// `trickle`: remote ICE candidates.
    Trickle(Trickle),
    /// `hangup`: close the handle's PeerConnection, keep the handle.
    Hangup,
    /// `detach`: remove the handle.
    Detach,
}

/// SDP type of a JSEP (RFC 8829 terms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SdpType {
    /// An SDP offer.
    Offer,
    /// An SDP answer.
    Answer,
}

impl SdpType {
    /// The wire spelling (`"offer"`/`"answer"`).
    pub fn as_str(self) -> &'static str {
        match self {
            SdpType::Offer => "offer",
            SdpType::Answer => "answer",
        }
    }
}

/// A JSEP attached to a `message`: `{"type":"offer"|"answer","sdp":"...","trickle"?:bool}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Jsep {
    /// Offer or answer.
    pub kind: SdpType,
    /// The SDP text, already checked to parse.
    pub sdp: String,
    /// `false` when the client will send no trickled candidates.
    pub trickle: Option<bool>,
}

impl Jsep {
    /// The JSON form sent to clients.
    pub fn to_json(&self) -> Value {
        json!({"type": self.kind.as_str(), "sdp": self.sdp})
    }
}

/// One trickled ICE candidate, as `RTCIceCandidateInit`.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// `sdpMid`.
    pub sdp_mid: Option<String>,
    /// `sdpMLineIndex`.
    pub sdp_mline_index: Option<u32>,
    /// The `candidate:...` attribute value.
    pub candidate: String,
}

/// The payload of a `trickle` request.
#[derive(Debug, Clone, PartialEq)]
pub enum Trickle {
    /// One or more candidates (`candidate` or `candidates[]`).
    Candidates(Vec<Candidate>),
    /// `{"completed":true}`: end of candidates.
    Completed,
}

/// A request that failed to parse, with what is needed to answer it.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseFailure {
    /// The error to answer with.
    pub error: JanusError,
    /// The transaction, when one could be read.
    pub transaction: Option<String>,
    /// The session the request named, when one could be read.
    pub session_id: Option<u64>,
}

/// Parses one request body. `path` is `Some` for HTTP (ids from the URL) and
/// `None` for WebSocket (ids from the body).
///
/// Errors follow Janus: 454 not JSON, 455 not an object, 456 missing
/// `transaction`/`janus`/`plugin`/`body`/`candidate`, 467 wrong types, 453
/// unknown verb, 457 verb at the wrong level, 464/465 bad JSEP.
pub fn parse_request(bytes: &[u8], path: Option<Path>) -> Result<Request, ParseFailure> {
    let root: Value = serde_json::from_slice(bytes).map_err(|e| ParseFailure {
        error: JanusError::InvalidJson(e.to_string()),
        transaction: None,
        session_id: path.and_then(|p| p.session),
    })?;
    let Value::Object(obj) = root else {
        return Err(ParseFailure {
            error: JanusError::InvalidJsonObject,
            transaction: None,
            session_id: path.and_then(|p| p.session),
        });
    };
    let transaction = match obj.get("transaction") {
        Some(Value::String(s)) => Some(s.clone()),
        _ => None,
    };
    let path = match path {
        Some(p) => p,
        None => Path {
            session: obj.get("session_id").and_then(Value::as_u64),
            handle: obj.get("handle_id").and_then(Value::as_u64),
        },
    };
    let fail = |error| ParseFailure {
        error,
        transaction: transaction.clone(),
        session_id: path.session,
    };

    match obj.get("transaction") {
        None => return Err(fail(JanusError::MissingMandatoryElement("transaction"))),
        Some(Value::String(_)) => {}
        Some(_) => {
            return Err(fail(JanusError::InvalidElementType(
                "transaction",
                "a string",
            )));
        }
    }
    let verb_name = match obj.get("janus") {
        None => return Err(fail(JanusError::MissingMandatoryElement("janus"))),
        Some(Value::String(s)) => s.as_str(),
        Some(_) => return Err(fail(JanusError::InvalidElementType("janus", "a string"))),
    };
    for key in ["session_id", "handle_id"] {
        if let Some(v) = obj.get(key)
            && v.as_u64().is_none()
        {
            let name = if key == "session_id" {
                "session_id"
            } else {
                "handle_id"
            };
            return Err(fail(JanusError::InvalidElementType(
                name,
                "a positive integer",
            )));
        }
    }

    #[derive(PartialEq)]
    enum Level {
        Any,
        Root,
        Session,
        Handle,
    }
    let (verb, level) = match verb_name {
        "info" => (Verb::Info, Level::Any),
        "ping" => (Verb::Ping, Level::Any),
        "create" => {
            let id = match obj.get("id") {
                None => None,
                Some(v) => Some(v.as_u64().filter(|&id| id > 0).ok_or_else(|| {
                    fail(JanusError::InvalidElementType("id", "a positive integer"))
                })?),
            };
            (Verb::Create { id }, Level::Root)
        }
        "claim" => (Verb::Claim, Level::Session),
        "attach" => {
            let plugin = match obj.get("plugin") {
                None => return Err(fail(JanusError::MissingMandatoryElement("plugin"))),
                Some(Value::String(s)) => s.clone(),
                Some(_) => return Err(fail(JanusError::InvalidElementType("plugin", "a string"))),
            };
            let opaque_id = obj
                .get("opaque_id")
                .and_then(Value::as_str)
                .map(str::to_owned);
            (Verb::Attach { plugin, opaque_id }, Level::Session)
        }
        "destroy" => (Verb::Destroy, Level::Session),
        "keepalive" => (Verb::Keepalive, Level::Session),
        "message" => {
            let body = match obj.get("body") {
                None => return Err(fail(JanusError::MissingMandatoryElement("body"))),
                Some(Value::Object(b)) => b.clone(),
                Some(_) => return Err(fail(JanusError::InvalidElementType("body", "an object"))),
            };
            let jsep = match obj.get("jsep") {
                None | Some(Value::Null) => None,
                Some(j) => Some(parse_jsep(j).map_err(fail)?),
            };
            (Verb::Message { body, jsep }, Level::Handle)
        }
        "trickle" => (
            Verb::Trickle(parse_trickle(&obj).map_err(fail)?),
            Level::Handle,
        ),
        "hangup" => (Verb::Hangup, Level::Handle),
        "detach" => (Verb::Detach, Level::Handle),
        other => return Err(fail(JanusError::UnknownRequest(other.to_owned()))),
    };
    let at_right_level = match level {
        Level::Any => true,
        Level::Root => path.session.is_none() && path.handle.is_none(),
        Level::Session => path.session.is_some() && path.handle.is_none(),
        Level::Handle => path.session.is_some() && path.handle.is_some(),
    };
    if !at_right_level {
        return Err(fail(JanusError::InvalidRequestPath(verb_name.to_owned())));
    }
    Ok(Request {
        transaction: transaction.unwrap_or_default(),
        path,
        verb,
        apisecret: obj
            .get("apisecret")
            .and_then(Value::as_str)
            .map(str::to_owned),
        token: obj.get("token").and_then(Value::as_str).map(str::to_owned),
    })
}

fn parse_jsep(j: &Value) -> Result<Jsep, JanusError> {
    let Value::Object(j) = j else {
        return Err(JanusError::InvalidElementType("jsep", "an object"));
    };
    let kind = match j.get("type") {
        None => return Err(JanusError::MissingMandatoryElement("type")),
        Some(Value::String(t)) if t == "offer" => SdpType::Offer,
        Some(Value::String(t)) if t == "answer" => SdpType::Answer,
        Some(Value::String(t)) => return Err(JanusError::JsepUnknownType(t.clone())),
        Some(_) => return Err(JanusError::InvalidElementType("type", "a string")),
    };
    let sdp = match j.get("sdp") {
        None => return Err(JanusError::MissingMandatoryElement("sdp")),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(JanusError::InvalidElementType("sdp", "a string")),
    };
    crate::media::sdp::validate(&sdp).map_err(|e| JanusError::JsepInvalidSdp(e.to_string()))?;
    let trickle = j.get("trickle").and_then(Value::as_bool);
    Ok(Jsep { kind, sdp, trickle })
}

fn parse_candidate(c: &Value) -> Result<Option<Candidate>, JanusError> {
    let Value::Object(c) = c else {
        return Err(JanusError::InvalidElementType("candidate", "an object"));
    };
    if c.get("completed").and_then(Value::as_bool) == Some(true) {
        return Ok(None);
    }
    let candidate = match c.get("candidate") {
        None => return Err(JanusError::MissingMandatoryElement("candidate")),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(JanusError::InvalidElementType("candidate", "a string")),
    };
    let sdp_mid = c.get("sdpMid").and_then(Value::as_str).map(str::to_owned);
    let sdp_mline_index = c
        .get("sdpMLineIndex")
        .and_then(Value::as_u64)
        .map(|i| i as u32);
    if sdp_mid.is_none() && sdp_mline_index.is_none() {
        return Err(JanusError::MissingMandatoryElement("sdpMid"));
    }
    Ok(Some(Candidate {
        sdp_mid,
        sdp_mline_index,
        candidate,
    }))
}

fn parse_trickle(obj: &Map<String, Value>) -> Result<Trickle, JanusError> {
    if let Some(c) = obj.get("candidate") {
        return Ok(match parse_candidate(c)? {
            Some(c) => Trickle::Candidates(vec![c]),
            None => Trickle::Completed,
        });
    }
    match obj.get("candidates") {
        None => Err(JanusError::MissingMandatoryElement("candidate")),
        Some(Value::Array(list)) => {
            let mut out = Vec::with_capacity(list.len());
            for c in list {
                match parse_candidate(c)? {
                    Some(c) => out.push(c),
                    None => return Ok(Trickle::Completed),
                }
            }
            Ok(Trickle::Candidates(out))
        }
        Some(_) => Err(JanusError::InvalidElementType("candidates", "an array")),
    }
}

/// `{"janus":"error",...}`.
pub fn error(transaction: Option<&str>, session_id: Option<u64>, err: &JanusError) -> Value {
    let mut v = json!({
        "janus": "error",
        "error": {"code": err.code(), "reason": err.to_string()},
    });
    if let Some(t) = transaction {
        v["transaction"] = json!(t);
    }
    if let Some(s) = session_id {
        v["session_id"] = json!(s);
    }
    v
}

/// `{"janus":"success","transaction","data":{"id"}}` for `create` and `attach`.
pub fn success_id(transaction: &str, session_id: Option<u64>, id: u64) -> Value {
    let mut v = json!({"janus": "success", "transaction": transaction, "data": {"id": id}});
    if let Some(s) = session_id {
        v["session_id"] = json!(s);
    }
    v
}

/// A plain `{"janus":"success","transaction","session_id"?}`.
pub fn success(transaction: &str, session_id: Option<u64>) -> Value {
    let mut v = json!({"janus": "success", "transaction": transaction});
    if let Some(s) = session_id {
        v["session_id"] = json!(s);
    }
    v
}

/// `{"janus":"ack","session_id","transaction"}`.
pub fn ack(transaction: &str, session_id: u64) -> Value {
    json!({"janus": "ack", "session_id": session_id, "transaction": transaction})
}

/// `{"janus":"success","session_id","sender","transaction","plugindata":{"plugin","data"}}`:
/// the reply to a synchronous plugin request.
pub fn plugin_success(
    transaction: &str,
    session_id: u64,
    sender: u64,
    plugin: &str,
    data: Value,
) -> Value {
    json!({
        "janus": "success",
        "session_id": session_id,
        "transaction": transaction,
        "sender": sender,
        "plugindata": {"plugin": plugin, "data": data},
    })
}

/// `{"janus":"event","session_id","sender","transaction"?,"plugindata":{..},"jsep"?}`.
pub fn plugin_event(
    session_id: u64,
    sender: u64,
    transaction: Option<&str>,
    plugin: &str,
    data: Value,
    jsep: Option<Value>,
) -> Value {
    let mut v = json!({
        "janus": "event",
        "session_id": session_id,
        "sender": sender,
        "plugindata": {"plugin": plugin, "data": data},
    });
    if let Some(t) = transaction {
        v["transaction"] = json!(t);
    }
    if let Some(j) = jsep {
        v["jsep"] = j;
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ws(s: &str) -> Result<Request, ParseFailure> {
        parse_request(s.as_bytes(), None)
    }

    #[test]
    fn create_at_root() {
        let r = ws(r#"{"janus":"create","transaction":"t1"}"#).unwrap();
        assert_eq!(r.verb, Verb::Create { id: None });
        assert_eq!(r.transaction, "t1");
    }

    #[test]
    fn malformed_json_is_454() {
        let e = ws("{not json").unwrap_err();
        assert_eq!(e.error.code(), 454);
        let e = ws("[1,2]").unwrap_err();
        assert_eq!(e.error.code(), 455);
    }

    #[test]
    fn missing_and_wrong_types() {
        assert_eq!(ws(r#"{"janus":"create"}"#).unwrap_err().error.code(), 456);
        assert_eq!(
            ws(r#"{"janus":"create","transaction":5}"#)
                .unwrap_err()
                .error
                .code(),
            467
        );
        assert_eq!(ws(r#"{"transaction":"x"}"#).unwrap_err().error.code(), 456);
        let e = ws(r#"{"janus":"attach","transaction":"x","session_id":1}"#).unwrap_err();
        assert_eq!(e.error, JanusError::MissingMandatoryElement("plugin"));
        assert_eq!(e.transaction.as_deref(), Some("x"));
        let e =
            ws(r#"{"janus":"message","transaction":"x","session_id":1,"handle_id":2,"body":"a"}"#)
                .unwrap_err();
        assert_eq!(e.error.code(), 467);
        let e = ws(r#"{"janus":"keepalive","transaction":"x","session_id":"abc"}"#).unwrap_err();
        assert_eq!(e.error.code(), 467);
    }

    #[test]
    fn unknown_verb_is_453_and_wrong_level_457() {
        let e = ws(r#"{"janus":"dance","transaction":"x"}"#).unwrap_err();
        assert_eq!(e.error.code(), 453);
        let e = ws(r#"{"janus":"attach","transaction":"x","plugin":"p"}"#).unwrap_err();
        assert_eq!(e.error.code(), 457);
        let e =
            ws(r#"{"janus":"message","transaction":"x","session_id":1,"body":{}}"#).unwrap_err();
        assert_eq!(e.error.code(), 457);
    }

    #[test]
    fn http_path_wins_over_body() {
        let p = Path {
            session: Some(7),
            handle: None,
        };
        let r = parse_request(
            br#"{"janus":"keepalive","transaction":"k","session_id":9}"#,
            Some(p),
        )
        .unwrap();
        assert_eq!(r.path.session, Some(7));
    }

    #[test]
    fn jsep_checks() {
        let bad_type = r#"{"janus":"message","transaction":"x","session_id":1,"handle_id":2,"body":{},
            "jsep":{"type":"pranswer","sdp":"v=0"}}"#;
        assert_eq!(ws(bad_type).unwrap_err().error.code(), 464);
        let garbage = r#"{"janus":"message","transaction":"x","session_id":1,"handle_id":2,"body":{},
            "jsep":{"type":"offer","sdp":"this is not sdp"}}"#;
        assert_eq!(ws(garbage).unwrap_err().error.code(), 465);
        let ok = r#"{"janus":"message","transaction":"x","session_id":1,"handle_id":2,"body":{"request":"x"},
            "jsep":{"type":"offer","sdp":"v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:111 opus/48000/2\r\n"}}"#;
        let r = ws(ok).unwrap();
        match r.verb {
            Verb::Message { jsep: Some(j), .. } => assert_eq!(j.kind, SdpType::Offer),
            v => panic!("unexpected {v:?}"),
        }
    }

    #[test]
    fn trickle_forms() {
        let one = r#"{"janus":"trickle","transaction":"x","session_id":1,"handle_id":2,
            "candidate":{"sdpMid":"0","sdpMLineIndex":0,"candidate":"candidate:1 1 UDP 1 127.0.0.1 5000 typ host"}}"#;
        assert!(
            matches!(ws(one).unwrap().verb, Verb::Trickle(Trickle::Candidates(c)) if c.len() == 1)
        );
        let done = r#"{"janus":"trickle","transaction":"x","session_id":1,"handle_id":2,"candidate":{"completed":true}}"#;
        assert_eq!(ws(done).unwrap().verb, Verb::Trickle(Trickle::Completed));
        let many = r#"{"janus":"trickle","transaction":"x","session_id":1,"handle_id":2,
            "candidates":[{"sdpMLineIndex":0,"candidate":"a"},{"sdpMid":"1","candidate":"b"}]}"#;
        assert!(
            matches!(ws(many).unwrap().verb, Verb::Trickle(Trickle::Candidates(c)) if c.len() == 2)
        );
        let none = r#"{"janus":"trickle","transaction":"x","session_id":1,"handle_id":2}"#;
        assert_eq!(ws(none).unwrap_err().error.code(), 456);
    }
}

//! HTTP transport (Janus "RESTful API"): `POST <base>`, `POST <base>/<session>`,
//! `POST <base>/<session>/<handle>`, long poll `GET <base>/<session>?maxev=N`
//! and `GET <base>/info`. Every Janus reply is HTTP 200 with a JSON body, as
//! in Janus. Also serves the demo page at `/`, npm packages at `/vendor/`,
//! `/config.js` (the page's gateway URLs) and Prometheus `/metrics`.

use std::path::PathBuf;
use std::sync::Arc;

use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::Value;
use warp::Filter;
use warp::http::StatusCode;
use warp::hyper::body::Bytes;

use crate::gateway::{Gateway, LONG_POLL_TIMEOUT};
use crate::janus::wire::{self, Path};
use crate::janus::{JanusError, Transport};

/// Largest request body accepted (an SDP with many m-lines fits easily).
const MAX_BODY_BYTES: u64 = 1 << 20;

/// What the HTTP server serves besides the API.
#[derive(Clone)]
pub struct HttpSite {
    /// API base path, e.g. `/janus`.
    pub base_path: String,
    /// Demo page directory, served at `/` (`None` disables).
    pub demo_dir: Option<PathBuf>,
    /// npm packages, served at `/vendor/`.
    pub vendor_dir: Option<PathBuf>,
    /// Body of `/config.js`: `window.GATEWAY_CONFIG = {...}`.
    pub config_js: String,
    /// Renders the `/metrics` text.
    pub metrics: Arc<dyn Fn() -> String + Send + Sync>,
}

#[derive(Deserialize)]
struct PollQuery {
    maxev: Option<usize>,
    /// Janus takes the API secret of a long poll from the query.
    apisecret: Option<String>,
    /// And its token.
    token: Option<String>,
}

fn parse_id(s: &str) -> Option<u64> {
    s.parse().ok()
}

fn json_reply(v: &Value) -> warp::reply::Response {
    let body = serde_json::to_vec(v).unwrap_or_default();
    let mut resp = warp::reply::Response::new(body.into());
    resp.headers_mut().insert(
        "content-type",
        warp::http::HeaderValue::from_static("application/json"),
    );
    resp
}

fn session_error(s: &str) -> Value {
    let id = parse_id(s).unwrap_or(0);
    wire::error(None, Some(id), &JanusError::SessionNotFound(id))
}

/// All HTTP routes.
pub fn routes(
    gw: Arc<Gateway>,
    site: HttpSite,
) -> impl Filter<Extract = (warp::reply::Response,), Error = warp::Rejection>
+ Clone
+ Send
+ Sync
+ 'static {
    let base = base_filter(&site.base_path);
    let gw_f = warp::any().map(move || gw.clone()).boxed();
    let posts = posts(base.clone(), gw_f.clone(), |gw, body, path| {
        gw.request(body, Some(path), Transport::Http)
    });
    let info = info_route(base.clone(), gw_f.clone());
    let poll = base
        .clone()
        .and(warp::path::param::<String>())
        .and(warp::path::end())
        .and(warp::get())
        .and(warp::query::<PollQuery>())
        .and(gw_f.clone())
        .then(|s: String, q: PollQuery, gw: Arc<Gateway>| async move {
            let Some(sid) = parse_id(&s) else {
                return json_reply(&session_error(&s));
            };
            if let Err(e) = gw.check_credentials(q.apisecret.as_deref(), q.token.as_deref()) {
                return json_reply(&wire::error(None, Some(sid), &e));
            }
            let maxev = q.maxev.unwrap_or(1).clamp(1, 1000);
            match gw.long_poll(sid, maxev, LONG_POLL_TIMEOUT).await {
                Err(e) => json_reply(&wire::error(None, Some(sid), &e)),
                // Janus answers a single object unless maxev > 1.
                Ok(mut evs) if maxev == 1 && evs.len() == 1 => json_reply(&evs.remove(0)),
                Ok(evs) => json_reply(&Value::Array(evs)),
            }
        });

    let metrics = site.metrics.clone();
    let metrics_route = warp::path("metrics")
        .and(warp::path::end())
        .and(warp::get())
        .map(move || {
            let mut r = warp::reply::Response::new(metrics().into());
            r.headers_mut().insert(
                "content-type",
                warp::http::HeaderValue::from_static("text/plain; version=0.0.4"),
            );
            r
        });
    let config_js = site.config_js.clone();
    let config_route = warp::path("config.js")
        .and(warp::path::end())
        .and(warp::get())
        .map(move || {
            let mut r = warp::reply::Response::new(config_js.clone().into());
            r.headers_mut().insert(
                "content-type",
                warp::http::HeaderValue::from_static("application/javascript"),
            );
            r
        });
    let not_found = || {
        warp::any().map(|| {
            let mut r = warp::reply::Response::new("not found".into());
            *r.status_mut() = StatusCode::NOT_FOUND;
            r
        })
    };
    let vendor = match site.vendor_dir.clone() {
        Some(dir) => warp::path("vendor")
            .and(warp::fs::dir(dir))
            .map(warp::reply::Reply::into_response)
            .boxed(),
        None => warp::path("vendor").and(not_found()).boxed(),
    };
    let demo = match site.demo_dir.clone() {
        // The operator console is served on the admin listener only.
        Some(dir) => warp::get()
            .and(
                warp::path("console")
                    .and(not_found())
                    .or(warp::fs::dir(dir).map(warp::reply::Reply::into_response))
                    .unify(),
            )
            .map(warp::reply::Reply::into_response)
            .boxed(),
        None => warp::get().and(warp::path::end()).and(not_found()).boxed(),
    };
    let cors = cors();

    info.or(posts)
        .unify()
        .or(poll)
        .unify()
        .or(metrics_route)
        .unify()
        .or(config_route)
        .unify()
        .or(vendor)
        .unify()
        .or(demo)
        .unify()
        .with(cors)
        .map(warp::reply::Reply::into_response)
        .recover(too_large)
        .unify()
}

/// Hands each request the gateway.
type GatewayFilter = warp::filters::BoxedFilter<(Arc<Gateway>,)>;

/// `GET <base>/info`: `server_info` (both APIs serve it, as Janus does).
fn info_route(
    base: warp::filters::BoxedFilter<()>,
    gw_f: GatewayFilter,
) -> warp::filters::BoxedFilter<(warp::reply::Response,)> {
    base.and(warp::path("info"))
        .and(warp::path::end())
        .and(warp::get())
        .and(gw_f)
        .map(|gw: Arc<Gateway>| json_reply(&gw.server_info()))
        .boxed()
}

/// CORS for browser pages on other origins (Janus's HTTP transport allows any).
fn cors() -> warp::filters::cors::Builder {
    warp::cors()
        .allow_any_origin()
        .allow_methods(["GET", "POST", "OPTIONS"])
        .allow_header("content-type")
}

/// The filter matching `base_path`'s segments (`/janus` → `janus`).
fn base_filter(base_path: &str) -> warp::filters::BoxedFilter<()> {
    base_path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .fold(warp::any().boxed(), |f, seg| {
            f.and(warp::path(seg.to_owned())).boxed()
        })
}

/// What a POST at `<base>[/<session>[/<handle>]]` is handed to.
type Handler = fn(&Arc<Gateway>, &[u8], Path) -> BoxFuture<'static, Value>;

/// `POST <base>`, `<base>/<session>` and `<base>/<session>/<handle>`, ids
/// from the URL, answered by `handler` (458/459 for ids that are not numbers).
fn posts(
    base: warp::filters::BoxedFilter<()>,
    gw_f: GatewayFilter,
    handler: Handler,
) -> warp::filters::BoxedFilter<(warp::reply::Response,)> {
    let body = warp::header::optional::<u64>("content-length")
        .and(warp::body::stream())
        .and_then(read_body);
    base.and(warp::path::tail())
        .and(warp::post())
        .and(body)
        .and(gw_f)
        .and_then(
            move |tail: warp::path::Tail, body: Bytes, gw: Arc<Gateway>| async move {
                let segs: Vec<&str> = tail.as_str().split('/').filter(|s| !s.is_empty()).collect();
                let path = match segs.as_slice() {
                    [] => Path::default(),
                    [s] => match parse_id(s) {
                        Some(sid) => Path {
                            session: Some(sid),
                            handle: None,
                        },
                        None => return Ok(json_reply(&session_error(s))),
                    },
                    [s, h] => {
                        let Some(sid) = parse_id(s) else {
                            return Ok(json_reply(&session_error(s)));
                        };
                        let Some(hid) = parse_id(h) else {
                            return Ok(json_reply(&wire::error(
                                None,
                                Some(sid),
                                &JanusError::HandleNotFound(0, sid),
                            )));
                        };
                        Path {
                            session: Some(sid),
                            handle: Some(hid),
                        }
                    }
                    _ => return Err(warp::reject::not_found()),
                };
                Ok::<_, warp::Rejection>(json_reply(&handler(&gw, &body, path).await))
            },
        )
        .boxed()
}

/// The Admin API over HTTP (Janus "Admin/Monitor API"): `POST <base>`,
/// `<base>/<session>`, `<base>/<session>/<handle>` and `GET <base>/info`,
/// on a listener of its own (`[http] admin_port`); and the operator console
/// ([`super::console`]) from `console_dir`.
pub fn admin_routes(
    gw: Arc<Gateway>,
    base_path: &str,
    console_dir: Option<PathBuf>,
) -> impl Filter<Extract = (warp::reply::Response,), Error = warp::Rejection>
+ Clone
+ Send
+ Sync
+ 'static {
    let base = base_filter(base_path);
    let gw_f = {
        let gw = gw.clone();
        warp::any().map(move || gw.clone()).boxed()
    };
    let info = info_route(base.clone(), gw_f.clone());
    let console = super::console::routes(gw.clone(), base.clone(), console_dir);
    let posts = posts(base, gw_f, |gw, body, path| {
        gw.admin_request(body, Some(path))
    });
    let cors = cors();
    info.or(posts)
        .unify()
        .or(console)
        .unify()
        .with(cors)
        .map(warp::reply::Reply::into_response)
        .recover(too_large)
        .unify()
}

/// Most bytes of an oversized body read (and discarded) before the 450
/// reply: a client still writing its body when the server answers and
/// closes would see a broken pipe instead of the reply. Beyond this the
/// connection is answered without reading on.
const DRAIN_BYTES: u64 = 16 << 20;

/// A body over [`MAX_BODY_BYTES`] (rejected once read, up to [`DRAIN_BYTES`]).
#[derive(Debug)]
struct BodyTooLarge;
impl warp::reject::Reject for BodyTooLarge {}

/// A POST without a `Content-Length` (an empty or chunked body).
#[derive(Debug)]
struct NoLength;
impl warp::reject::Reject for NoLength {}

/// Reads a POST body of at most [`MAX_BODY_BYTES`]. A longer one (by its
/// `Content-Length`) is drained, up to [`DRAIN_BYTES`], and rejected.
async fn read_body(
    length: Option<u64>,
    body: impl futures::Stream<Item = Result<impl warp::Buf, warp::Error>>,
) -> Result<Bytes, warp::Rejection> {
    use futures::StreamExt;
    let Some(length) = length else {
        return Err(warp::reject::custom(NoLength));
    };
    let mut body = Box::pin(body);
    if length > MAX_BODY_BYTES {
        if length <= DRAIN_BYTES {
            let mut read = 0u64;
            while let Some(Ok(chunk)) = body.next().await {
                read += chunk.remaining() as u64;
                if read >= length {
                    break;
                }
            }
        }
        return Err(warp::reject::custom(BodyTooLarge));
    }
    let mut out = Vec::with_capacity(length as usize);
    while let Some(chunk) = body.next().await {
        let mut chunk = chunk.map_err(|_| warp::reject::custom(NoLength))?;
        while chunk.has_remaining() {
            let part = chunk.chunk();
            out.extend_from_slice(part);
            let n = part.len();
            chunk.advance(n);
        }
        if out.len() as u64 > MAX_BODY_BYTES {
            return Err(warp::reject::custom(BodyTooLarge));
        }
    }
    Ok(Bytes::from(out))
}

/// A body over [`MAX_BODY_BYTES`] gets a Janus error (450), as any other
/// bad request does, not warp's plain-text 413.
async fn too_large(r: warp::Rejection) -> Result<warp::reply::Response, warp::Rejection> {
    // A POST without a length (an empty or chunked body): Janus's "Missing
    // request" (452) in JSON, not warp's plain-text 411.
    if r.find::<warp::reject::LengthRequired>().is_some() || r.find::<NoLength>().is_some() {
        return Ok(json_reply(&wire::error(
            None,
            None,
            &JanusError::MissingRequest,
        )));
    }
    if r.find::<warp::reject::PayloadTooLarge>().is_some() || r.find::<BodyTooLarge>().is_some() {
        return Ok(json_reply(&wire::error(
            None,
            None,
            &JanusError::TooLarge(MAX_BODY_BYTES),
        )));
    }
    Err(r)
}

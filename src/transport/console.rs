//! The operator console, on the Admin API's HTTP listener:
//!
//! - `GET <admin_base>/`: the console page, files from `<demo_dir>/console/`
//!   (`<admin_base>` without the slash redirects there). The page itself
//!   holds no secret; it asks the operator for the `admin_secret` and drives
//!   the Admin API (`POST <admin_base>`) and the plugins' requests through
//!   `message_plugin`.
//! - `GET <admin_base>/recordings/<absolute path>?admin_secret=…`: a
//!   recording file to download or play, with range requests. Only files
//!   videoroom's `list_recordings` lists (finished or running) are served,
//!   and only when that Admin API request, made with the given secret,
//!   succeeds: a wrong secret gets the Admin API's 403 error body with HTTP
//!   403, a file not listed HTTP 404.

use std::path::PathBuf;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Value, json};
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;

use crate::gateway::Gateway;

#[derive(Deserialize)]
struct SecretQuery {
    admin_secret: Option<String>,
}

/// Why a recording file is not served.
#[derive(Debug)]
enum Refused {
    /// The Admin API refused `list_recordings` (its error reply).
    Admin(Value),
    /// The file is not a listed recording.
    NotListed,
}

impl warp::reject::Reject for Refused {}

/// The console routes under `base` (see the module docs); `dir` is the
/// console's directory (`None`: no page, recordings still served).
pub fn routes(
    gw: Arc<Gateway>,
    base: BoxedFilter<()>,
    dir: Option<PathBuf>,
) -> BoxedFilter<(Response,)> {
    let gw_f = warp::any().map(move || gw.clone());
    let files = base
        .clone()
        .and(warp::path("recordings"))
        .and(warp::path::peek())
        .and(warp::query::<SecretQuery>())
        .and(gw_f)
        .and_then(
            |peek: warp::path::Peek, q: SecretQuery, gw: Arc<Gateway>| async move {
                let file = percent_encoding::percent_decode_str(peek.as_str())
                    .decode_utf8_lossy()
                    .into_owned();
                listed(&gw, &format!("/{file}"), q.admin_secret)
                    .await
                    .map_err(warp::reject::custom)
            },
        )
        .untuple_one()
        .and(warp::fs::dir("/"))
        .map(warp::reply::Reply::into_response);
    let page: BoxedFilter<(Response,)> = match dir {
        Some(d) => {
            // `<base>` without its slash: the page's relative links need it.
            let slash = base
                .clone()
                .and(warp::path::end())
                .and(warp::get())
                .and(warp::path::full())
                .and_then(|full: warp::path::FullPath| async move {
                    if full.as_str().ends_with('/') {
                        return Err(warp::reject::not_found());
                    }
                    let mut r = Response::new("".into());
                    *r.status_mut() = StatusCode::MOVED_PERMANENTLY;
                    if let Ok(v) = warp::http::HeaderValue::from_str(&format!("{}/", full.as_str()))
                    {
                        r.headers_mut().insert("location", v);
                    }
                    Ok::<_, warp::Rejection>(r)
                });
            let static_files = base
                .and(warp::fs::dir(d))
                .map(warp::reply::Reply::into_response);
            slash.or(static_files).unify().boxed()
        }
        None => warp::any()
            .and_then(|| async { Err::<Response, _>(warp::reject::not_found()) })
            .boxed(),
    };
    files.or(page).unify().recover(refused).unify().boxed()
}

/// Whether `file` is a recording `list_recordings` lists, asked through the
/// Admin API with `secret`.
async fn listed(gw: &Arc<Gateway>, file: &str, secret: Option<String>) -> Result<(), Refused> {
    let mut body = json!({
        "janus": "message_plugin", "transaction": "console",
        "plugin": "janus.plugin.videoroom", "request": {"request": "list_recordings"},
    });
    if let Some(s) = secret {
        body["admin_secret"] = json!(s);
    }
    let reply = gw.admin_request(body.to_string().as_bytes(), None).await;
    if reply["janus"] != "success" {
        return Err(Refused::Admin(reply));
    }
    let response = &reply["response"];
    let found = ["recordings", "running"].iter().any(|k| {
        response[k]
            .as_array()
            .is_some_and(|l| l.iter().any(|r| r["file"] == file))
    });
    if found {
        Ok(())
    } else {
        Err(Refused::NotListed)
    }
}

async fn refused(r: warp::Rejection) -> Result<Response, warp::Rejection> {
    let (status, body) = match r.find::<Refused>() {
        Some(Refused::Admin(v)) if v["error"]["code"] == 403 => (StatusCode::FORBIDDEN, v.clone()),
        Some(Refused::Admin(v)) => (StatusCode::INTERNAL_SERVER_ERROR, v.clone()),
        Some(Refused::NotListed) => (
            StatusCode::NOT_FOUND,
            json!({"error": "not a listed recording"}),
        ),
        None => return Err(r),
    };
    let mut resp = Response::new(body.to_string().into());
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        "content-type",
        warp::http::HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}

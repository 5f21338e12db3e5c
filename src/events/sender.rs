//! The task that takes events off the queue and POSTs them to the backend:
//! with `grouping`, a JSON array of what is waiting (at most
//! [`MAX_BATCH`]); else one event per request. A failed POST (no answer
//! within [`POST_TIMEOUT`], a connection error, a non-2xx status) is
//! retried with exponential back-off up to [`RETRIES`] times, then the
//! batch is counted as failed. Meanwhile the queue fills and, once full,
//! drops new events: a slow or dead backend costs a bounded amount of
//! memory and nothing else.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::Value;
use tokio::sync::mpsc;
use tracing::{debug, warn};

use super::Counters;

/// Most events in one POST.
pub const MAX_BATCH: usize = 100;
/// How long one POST may take.
pub const POST_TIMEOUT: Duration = Duration::from_secs(5);
/// Retries of one batch after the first attempt.
pub const RETRIES: u32 = 4;
/// First back-off; it doubles on each retry (0.5, 1, 2, 4 s).
const FIRST_BACKOFF: Duration = Duration::from_millis(500);

/// Starts the sender: it ends when every [`super::EventHandler`] is gone
/// and the queue is drained.
pub fn spawn(
    backend: String,
    grouping: bool,
    mut rx: mpsc::Receiver<Value>,
    counters: Arc<Counters>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let client = match Client::new() {
            Ok(c) => c,
            Err(e) => {
                warn!(error = %e, "event handler: no HTTP client; events are not sent");
                return;
            }
        };
        let mut failing = false;
        while let Some(first) = rx.recv().await {
            let mut batch = vec![first];
            if grouping {
                while batch.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(ev) => batch.push(ev),
                        Err(_) => break,
                    }
                }
            }
            let bodies: Vec<(usize, String)> = if grouping {
                vec![(batch.len(), Value::Array(batch).to_string())]
            } else {
                batch.into_iter().map(|e| (1, e.to_string())).collect()
            };
            for (n, body) in bodies {
                let ok = post(&client, &backend, body).await;
                let counter = if ok { &counters.sent } else { &counters.failed };
                counter.fetch_add(n as u64, Ordering::Relaxed);
                if ok && failing {
                    warn!(backend = %backend, "event handler backend answers again");
                } else if !ok && !failing {
                    warn!(backend = %backend, events = n, "event handler backend unreachable: events lost (see gateway_events_failed_total)");
                }
                failing = !ok;
            }
        }
    })
}

/// The backend's HTTP client: hyper with rustls (ring) for `https://`
/// backends, verified against the system's root certificates
/// (`SSL_CERT_FILE`/`SSL_CERT_DIR` override them, as for OpenSSL).
struct Client {
    inner: hyper_util::client::legacy::Client<
        hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
        Full<Bytes>,
    >,
}

impl Client {
    fn new() -> std::io::Result<Client> {
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(Arc::new(rustls::crypto::ring::default_provider()))?
            .https_or_http()
            .enable_http1()
            .build();
        let inner =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build(connector);
        Ok(Client { inner })
    }

    /// One POST of `body` (JSON); `Ok` with the status, or why it failed.
    async fn post(&self, backend: &str, body: String) -> Result<warp::http::StatusCode, String> {
        let req = warp::http::Request::post(backend)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        let resp = tokio::time::timeout(POST_TIMEOUT, self.inner.request(req))
            .await
            .map_err(|_| format!("no answer within {POST_TIMEOUT:?}"))?
            .map_err(|e| e.to_string())?;
        let status = resp.status();
        // Read (and drop) the body, so the connection can be reused.
        let _ = tokio::time::timeout(POST_TIMEOUT, resp.into_body().collect()).await;
        Ok(status)
    }
}

/// One POST with its retries; `true` when the backend took it.
async fn post(client: &Client, backend: &str, body: String) -> bool {
    let mut backoff = FIRST_BACKOFF;
    for attempt in 0..=RETRIES {
        match client.post(backend, body.clone()).await {
            Ok(status) if status.is_success() => return true,
            Ok(status) => debug!(%status, attempt, "event backend refused a batch"),
            Err(e) => debug!(error = %e, attempt, "event backend unreachable"),
        }
        if attempt < RETRIES {
            tokio::time::sleep(backoff).await;
            backoff *= 2;
        }
    }
    false
}

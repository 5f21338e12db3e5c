//! TLS for the front doors (HTTPS, WSS, and both for the Admin API), with
//! rustls. warp 0.4 has no TLS of its own, so a TLS listener accepts,
//! handshakes (bounded), and hands the stream to hyper with warp's filter
//! as the service; WebSocket upgrades work as on plain listeners.
//!
//! Certificates come from `[certificates] cert_pem` (a PEM chain, leaf
//! first) and `cert_key` (a PEM private key: PKCS#8, PKCS#1 or SEC1).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use thiserror::Error;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tracing::debug;
use warp::Filter;

/// How long a client may take to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the TLS configuration could not be built.
#[derive(Debug, Error)]
pub enum TlsError {
    /// A TLS listener is enabled but `[certificates]` names no files.
    #[error("TLS is enabled but [certificates] cert_pem and cert_key are not both set")]
    NoCertificate,
    /// The certificate file could not be read or holds no certificate.
    #[error("certificate {path}: {source}")]
    Certificate {
        /// The file.
        path: String,
        /// Why.
        source: rustls::pki_types::pem::Error,
    },
    /// The key file could not be read or holds no private key.
    #[error("private key {path}: {source}")]
    Key {
        /// The file.
        path: String,
        /// Why.
        source: rustls::pki_types::pem::Error,
    },
    /// rustls refused the pair (e.g. the key does not match).
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

/// Builds the server side of TLS from a PEM certificate chain and key.
pub fn acceptor(cert_pem: &Path, cert_key: &Path) -> Result<TlsAcceptor, TlsError> {
    if cert_pem.as_os_str().is_empty() || cert_key.as_os_str().is_empty() {
        return Err(TlsError::NoCertificate);
    }
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_pem)
        .and_then(|it| it.collect::<Result<_, _>>())
        .map_err(|source| TlsError::Certificate {
            path: cert_pem.display().to_string(),
            source,
        })?;
    if certs.is_empty() {
        return Err(TlsError::Certificate {
            path: cert_pem.display().to_string(),
            source: rustls::pki_types::pem::Error::NoItemsFound,
        });
    }
    let key = PrivateKeyDer::from_pem_file(cert_key).map_err(|source| TlsError::Key {
        path: cert_key.display().to_string(),
        source,
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(cfg)))
}

/// Serves `filter` over TLS on `listener` until the process ends. A client
/// whose handshake fails or stalls is dropped; others are not affected.
pub async fn serve<F>(listener: TcpListener, tls: TlsAcceptor, filter: F)
where
    F: Filter<Extract = (warp::reply::Response,), Error = warp::Rejection>
        + Clone
        + Send
        + Sync
        + 'static,
{
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // Out of fds and the like: back off instead of spinning.
                debug!(error = %e, "TLS accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let (tls, filter) = (tls.clone(), filter.clone());
        tokio::spawn(async move {
            let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.accept(tcp)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            let svc = hyper_util::service::TowerToHyperService::new(warp::service(filter));
            let io = hyper_util::rt::TokioIo::new(stream);
            if let Err(e) =
                hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new())
                    .http1()
                    .serve_connection_with_upgrades(io, svc)
                    .await
            {
                debug!(%peer, error = %e, "TLS connection ended with an error");
            }
        });
    }
}

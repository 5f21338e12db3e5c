//! Thin adapters from sockets to the [`Gateway`](crate::gateway::Gateway):
//! HTTP long-poll plus the demo page and metrics ([`http`]), and WebSocket
//! with the `janus-protocol` subprotocol ([`ws`]); the operator console on
//! the admin listener ([`console`]).

pub mod console;
pub mod http;
pub mod tls;
pub mod ws;

use std::net::SocketAddr;

use thiserror::Error;

/// A listener could not start.
#[derive(Debug, Error)]
#[error("cannot listen on {addr}: {source}")]
pub struct BindError {
    /// The address asked for.
    pub addr: SocketAddr,
    /// Why it failed.
    pub source: std::io::Error,
}

/// Binds a TCP listener, reporting the address on failure.
pub async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, BindError> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| BindError { addr, source })
}

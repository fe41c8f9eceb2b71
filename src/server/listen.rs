//! The listening socket and the HTTP server on it: connection cap, header and handshake
//! timeouts, TLS (or plain HTTP behind a proxy), and a graceful end when shutdown starts.

use std::time::Duration;

use axum::Router;
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use tokio::sync::watch;

use crate::config::{LimitsOptions, ServerConfig};
use crate::http::listener::{CappedAddr, CappedListener};

/// How long in-flight requests get to finish after shutdown starts.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Binds the configured address with the configured connection cap, after raising the
/// open-file limit toward what the cap needs.
pub async fn bind(config: &ServerConfig) -> Result<CappedListener, super::ServerError> {
    super::open_files::fit_open_files(config.limits.max_connections);
    CappedListener::bind(config.listen, config.limits.max_connections)
        .await
        .map_err(|source| super::ServerError::Bind {
            addr: config.listen,
            source,
        })
}

/// Serves `app` on `listener` until `stopping` turns true, then gives open connections
/// SHUTDOWN_GRACE to finish. `tls`: `None` serves plain HTTP.
pub async fn serve(
    app: Router,
    listener: CappedListener,
    limits: &LimitsOptions,
    tls: Option<RustlsConfig>,
    mut stopping: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let handle = axum_server::Handle::<CappedAddr>::new();
    let shutdown = handle.clone();
    // Connections get SHUTDOWN_GRACE, not forever: a client that never finishes its request
    // must not keep the checkpoints from being saved.
    tokio::spawn(async move {
        let _ = stopping.wait_for(|s| *s).await;
        shutdown.graceful_shutdown(Some(SHUTDOWN_GRACE));
    });
    let timeout = limits.header_read_timeout();
    let mut server = axum_server::Server::<CappedAddr>::from_listener(listener)
        .handle(handle)
        // Protocol detection and an HTTP/2 preface are bounded too, not only HTTP/1 headers.
        .first_request_timeout(timeout);
    // hyper's header timeout also runs while a keep-alive connection waits for its next request.
    server.http_builder().http1().header_read_timeout(timeout);
    // HTTP/2 has no header timeout in hyper: pings at least drop peers that went away, and the
    // connection cap bounds the rest.
    if let Some(timeout) = timeout {
        server
            .http_builder()
            .http2()
            .keep_alive_interval(timeout)
            .keep_alive_timeout(timeout);
    }
    match tls {
        None => server.serve(app.into_make_service()).await,
        Some(config) => {
            let mut acceptor = RustlsAcceptor::new(config);
            if let Some(timeout) = timeout {
                acceptor = acceptor.handshake_timeout(timeout);
            }
            server.acceptor(acceptor).serve(app.into_make_service()).await
        }
    }
}

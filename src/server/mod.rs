//! The server as a library: `build` wires a configuration into an application (store, keys,
//! read models, push, streams, the router); `run` serves it on a listener until a shutdown
//! future resolves. The binary only parses its command line and calls `run`; tests call
//! `build` and drive the router in process.
//!
//! One shutdown mechanism: a `watch` channel that turns true when the shutdown future
//! resolves. Every worker the server starts (push, TLS reload, SSE streams, the HTTP server's
//! graceful end) watches it; the read models and the stream sinks are then stopped in order,
//! after the last request, so their checkpoints hold everything that was served.

mod admin_key;
mod client_trust;
pub mod data_key;
mod enroll;
mod error;
mod listen;
mod metrics;
mod open_files;
pub mod preflight;
mod sinks;
mod state;
pub mod tls;
mod tls_issued;
mod tls_reload;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use tokio::sync::watch;

use crate::config::ServerConfig;
use crate::http::listener::CappedListener;
use crate::http::AppState;
use crate::pki::Ca;
use crate::store::StoreUrl;

pub use error::{chain, ServerError};
pub use listen::{bind, SHUTDOWN_GRACE};

/// A wired server: its router (with the state inside) and the workers it started.
pub struct Server {
    /// Every route, with the application state: serve it, or call it with `oneshot`.
    pub router: Router,
    pub state: AppState,
    config: ServerConfig,
    ca: Arc<Ca>,
    /// Trust for client certificates: Annal's CA, --external-ca's, and the imported identities.
    trust: client_trust::ClientTrust,
    sinks: sinks::Sinks,
    stop: watch::Sender<bool>,
    store_url: StoreUrl,
    head_position: u64,
}

/// Opens the store and everything the configuration names, and starts the workers.
pub async fn build(config: ServerConfig) -> Result<Server, ServerError> {
    state::build(config).await
}

/// Builds the server and serves it on `listener` until `shutdown` resolves; then lets the
/// requests in flight finish and saves the read models and the sinks' checkpoints.
pub async fn run(
    config: ServerConfig,
    listener: CappedListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    build(config).await?.serve(listener, shutdown).await
}

impl Server {
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// Annal's CA, which issues device identities and the default server certificate.
    pub fn ca(&self) -> &Ca {
        &self.ca
    }

    /// Serves on `listener` until `shutdown` resolves, then stops every worker.
    pub async fn serve(
        self,
        listener: CappedListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        let stop = self.stop.clone();
        tokio::spawn(async move {
            shutdown.await;
            stop.send_replace(true);
        });
        // The workers stop whether serving ended normally or failed (a bad TLS file, a dead
        // listener): a library caller must not be left with a push worker and sinks running.
        let served = self.listen(listener).await;
        if served.is_ok() {
            tracing::info!("requests finished; saving subscription checkpoints");
        }
        self.shutdown().await;
        served.map(|()| tracing::info!("annal stopped"))
    }

    async fn listen(&self, listener: CappedListener) -> Result<(), ServerError> {
        let local = listener.local_addr().map_err(ServerError::Serve)?;
        let stopping = self.stop.subscribe();
        let url = &self.store_url;
        let head_position = self.head_position;
        if self.config.behind_proxy {
            tracing::info!(listen = %local, store = %url, head_position, "annal serving plain HTTP (behind a proxy)");
            tls_reload::ignore_hangup(stopping.clone());
            listen::serve(self.router.clone(), listener, &self.config.limits, None, stopping)
                .await
                .map_err(ServerError::Serve)?;
        } else {
            let files = tls::serve_files(&self.ca, &self.config)?;
            let (tls, info) = tls::server_config(&files.cert, &files.key, &self.trust)?;
            self.state.observer.set_tls_not_after(info.not_after);
            self.check_base_url(&files.cert);
            let rustls = axum_server::tls_rustls::RustlsConfig::from_config(tls);
            let renewal =
                (files.source != tls::TlsSource::External).then(|| tls_reload::Renewal { ca: self.ca.clone() });
            let reloader = tls_reload::TlsReloader {
                cert: files.cert,
                key: files.key,
                trust: self.trust.clone(),
                config: rustls.clone(),
                observer: self.state.observer.clone(),
                renewal,
            };
            reloader.spawn(self.config.tls_reload_interval(), stopping.clone());
            tracing::info!(listen = %local, store = %url, head_position, "annal serving HTTPS");
            listen::serve(
                self.router.clone(),
                listener,
                &self.config.limits,
                Some(rustls),
                stopping,
            )
            .await
            .map_err(ServerError::Serve)?;
        }
        Ok(())
    }

    /// Devices are sent to the base URL (profiles, enrollment): a certificate that does not
    /// name its host fails every device's TLS with nothing in Annal's log to say why.
    fn check_base_url(&self, cert: &std::path::Path) {
        let base_url = self.config.base_url();
        let Some(host) = crate::urls::host(&base_url) else {
            return;
        };
        match tls::certificate_names(cert) {
            Ok(names) if tls_issued::covers(&names, host) => {}
            Ok(names) => tracing::warn!(
                %base_url, cert = %cert.display(), names = %names.join(","),
                "the server certificate does not name the base URL's host: devices sent there will fail TLS (set --hostname, or give a certificate that names it)"
            ),
            Err(e) => {
                tracing::warn!(cert = %cert.display(), error = %chain(&e), "could not read the server certificate's names")
            }
        }
    }

    /// Stops every worker: the push worker and streams at once, then the sinks and the read
    /// models after what they have in flight (their checkpoints saved).
    pub async fn shutdown(self) {
        self.stop.send_replace(true);
        self.sinks.shutdown().await;
        if tokio::time::timeout(SHUTDOWN_GRACE, self.state.projector.shutdown())
            .await
            .is_err()
        {
            tracing::warn!(
                "the read models could not be saved in time; the next start refolds from their last checkpoint"
            );
        }
    }
}

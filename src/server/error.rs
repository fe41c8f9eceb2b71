//! Why the server could not start or stopped serving. Each message says what was being done;
//! the cause follows as the error's source.

use std::net::SocketAddr;

use crate::config::ConfigError;
use crate::pki::PkiError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("installing the metrics recorder")]
    Metrics(#[source] metrics_exporter_prometheus::BuildError),
    #[error("opening the event store {url}")]
    OpenStore {
        url: String,
        #[source]
        source: StoreError,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("loading Annal's CA")]
    Ca(#[source] PkiError),
    #[error("loading the external CA")]
    ExternalCa(#[source] PkiError),
    #[error(transparent)]
    Pki(#[from] PkiError),
    #[error(transparent)]
    DataKey(#[from] super::data_key::DataKeyError),
    #[error(transparent)]
    AdminKey(#[from] super::admin_key::AdminKeyError),
    #[error("{0}")]
    AdminAuth(String),
    #[error("opening the read-model database")]
    ReadModels(#[source] crate::readmodel::ReadModelError),
    #[error("starting webhooks")]
    Webhook(#[source] crate::stream::webhook::ConfigError),
    #[error("starting the NATS sink")]
    Nats(#[source] crate::stream::nats::ConfigError),
    #[error("restoring the read models")]
    Projector(#[source] crate::readmodel::projector::ProjectorError),
    #[error(transparent)]
    Enroll(#[from] super::enroll::EnrollError),
    #[error(transparent)]
    Tls(#[from] super::tls::TlsError),
    /// The certificate given with `--tls-cert`/`--tls-key` cannot be served.
    #[error("--tls-cert / --tls-key (tls_cert, tls_key)")]
    TlsOption(#[source] super::tls::TlsError),
    #[error("binding {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Serve(std::io::Error),
}

/// An error and its causes on one line (`reading x: permission denied`), as the binary prints
/// them: for logs and for `config check`'s list of problems.
pub fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

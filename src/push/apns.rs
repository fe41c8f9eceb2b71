//! A small APNs client for MDM pushes: HTTP/2 over rustls with the push certificate as the TLS
//! client identity, one multiplexed connection kept alive with PINGs, bounded concurrency.
//!
//! Not a2: a2 has a fixed endpoint enum (no local mock, so no tests), pins an old rustls with
//! ring, needs OpenSSL for `.p12` (and fails on the legacy RC2/3DES exports Keychain makes),
//! rejects PKCS#1 keys and sends no keep-alive PINGs (its issue #86: ConnectionReset in
//! production). See shared/reference/crates.md.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::pki_types::CertificateDer;
use tokio::sync::Semaphore;

use super::certificate::PushCertificate;

pub const PRODUCTION_URL: &str = "https://api.push.apple.com";
pub const SANDBOX_URL: &str = "https://api.sandbox.push.apple.com";

/// Where pushes go, and whom to trust there.
#[derive(Debug, Clone)]
pub struct ApnsConfig {
    /// `https://api.push.apple.com`, the sandbox, or a local mock.
    pub base_url: String,
    /// Extra trust anchors (DER), for a mock or a proxy. Empty: the system's roots.
    pub extra_roots: Vec<Vec<u8>>,
    /// When set, only `extra_roots` are trusted (tests against a mock).
    pub only_extra_roots: bool,
    /// Pushes in flight at once on the connection (APNs allows 1,000 streams per connection).
    pub concurrency: usize,
    pub keep_alive: Duration,
    pub timeout: Duration,
}

impl ApnsConfig {
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            extra_roots: Vec::new(),
            only_extra_roots: false,
            concurrency: 500,
            keep_alive: Duration::from_secs(60),
            timeout: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApnsError {
    #[error("APNs TLS configuration: {0}")]
    Tls(String),
    #[error("APNs request: {0}")]
    Request(String),
    /// No answer: the connection failed, was reset or timed out. The TLS handshake failing
    /// because APNs refused the certificate ends up here too.
    #[error("APNs transport: {0}")]
    Transport(String),
}

/// APNs' answer to one push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApnsAnswer {
    pub status: u16,
    pub apns_id: Option<String>,
    /// The `reason` of an error answer (`BadDeviceToken`, `Unregistered`, …).
    pub reason: Option<String>,
    /// `Retry-After` in seconds, when APNs (or a proxy) sent one.
    pub retry_after_secs: Option<u64>,
}

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// One client per push certificate; clone-free sharing through `Arc`.
pub struct ApnsClient {
    http: HttpsClient,
    base: String,
    topic: String,
    permits: Arc<Semaphore>,
    timeout: Duration,
}

impl ApnsClient {
    pub fn new(cert: &PushCertificate, config: &ApnsConfig) -> Result<Self, ApnsError> {
        let tls = client_tls(cert, config)?;
        // Without TCP_NODELAY, Nagle's algorithm holds small HTTP/2 frames back until the peer's
        // delayed ACK: measured here as 40 ms per push at 200 in flight.
        let mut tcp = HttpConnector::new();
        tcp.set_nodelay(true);
        tcp.enforce_http(false);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_only()
            .enable_http2()
            .wrap_connector(tcp);
        // HTTP/2 only, one pooled connection: requests multiplex on it. PINGs keep it open
        // through NATs and tell a dead connection from an idle one before a push is lost on it.
        let http = Client::builder(TokioExecutor::new())
            .http2_only(true)
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .http2_keep_alive_interval(config.keep_alive)
            .http2_keep_alive_timeout(Duration::from_secs(20))
            .http2_keep_alive_while_idle(true)
            .pool_idle_timeout(None)
            .build(connector);
        Ok(Self {
            http,
            base: config.base_url.trim_end_matches('/').to_owned(),
            topic: cert.topic.clone(),
            permits: Arc::new(Semaphore::new(config.concurrency.max(1))),
            timeout: config.timeout,
        })
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Waits for a turn on the connection (`--push-concurrency` pushes are in flight at most).
    pub async fn turn(&self) -> Result<tokio::sync::OwnedSemaphorePermit, ApnsError> {
        self.permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| ApnsError::Request("client closed".into()))
    }

    /// Waits for a turn, then sends one MDM push.
    pub async fn push(&self, token_hex: &str, push_magic: &str) -> Result<ApnsAnswer, ApnsError> {
        let turn = self.turn().await?;
        self.send(turn, token_hex, push_magic).await
    }

    /// Sends one MDM push in the given turn: `POST /3/device/<token>` with the body exactly
    /// `{"mdm":"<PushMagic>"}`.
    pub async fn send(
        &self,
        _turn: tokio::sync::OwnedSemaphorePermit,
        token_hex: &str,
        push_magic: &str,
    ) -> Result<ApnsAnswer, ApnsError> {
        let body = serde_json::to_vec(&serde_json::json!({ "mdm": push_magic }))
            .map_err(|e| ApnsError::Request(e.to_string()))?;
        let request = Request::builder()
            .method(Method::POST)
            .uri(format!("{}/3/device/{token_hex}", self.base))
            .header("apns-topic", &self.topic)
            .header("apns-push-type", "mdm")
            // MDM pushes are sent immediately (10); Apple documents no lower priority for them.
            .header("apns-priority", "10")
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| ApnsError::Request(e.to_string()))?;
        let exchange = async {
            let response = self
                .http
                .request(request)
                .await
                .map_err(|e| ApnsError::Transport(error_chain(&e)))?;
            let status = response.status().as_u16();
            let header = |name: &str| {
                response
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            let apns_id = header("apns-id");
            let retry_after_secs = header("retry-after").and_then(|v| v.trim().parse().ok());
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| ApnsError::Transport(e.to_string()))?
                .to_bytes();
            Ok(ApnsAnswer {
                status,
                apns_id,
                reason: reason_of(&body),
                retry_after_secs,
            })
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| ApnsError::Transport(format!("no answer within {:?}", self.timeout)))?
    }
}

/// TLS to Apple with the push certificate as the client identity, trusting the system's roots
/// or the configured ones (a mock, a proxy): APNs and Apple's other endpoints that take the push
/// certificate (the Activation Lock bypass) alike.
pub(super) fn client_tls(cert: &PushCertificate, config: &ApnsConfig) -> Result<rustls::ClientConfig, ApnsError> {
    let tls_err = |e: rustls::Error| ApnsError::Tls(e.to_string());
    let mut roots = rustls::RootCertStore::empty();
    if !config.only_extra_roots {
        let native = rustls_native_certs::load_native_certs();
        roots.add_parsable_certificates(native.certs);
    }
    for der in &config.extra_roots {
        roots.add(CertificateDer::from(der.clone())).map_err(tls_err)?;
    }
    if roots.is_empty() {
        return Err(ApnsError::Tls(
            "no trust anchors for APNs (no system roots found)".into(),
        ));
    }
    let (chain, key) = cert.client_auth();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(tls_err)?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .map_err(tls_err)
}

/// APNs error bodies are `{"reason": "..."}` (410 adds a timestamp).
fn reason_of(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct ErrorBody {
        reason: String,
    }
    serde_json::from_slice::<ErrorBody>(body).ok().map(|b| b.reason)
}

/// hyper's errors hide the cause (a TLS alert, a reset) in their source chain.
pub(super) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

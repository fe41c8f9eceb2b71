//! POSTs webhook bodies to the receiver over http or https, and retries one body until the
//! receiver takes it: the worker never moves past an event the receiver has not accepted.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{HeaderValue, CONTENT_TYPE, RETRY_AFTER, USER_AGENT};
use hyper::{Request, StatusCode, Uri};
use hyper_rustls::{ConfigBuilderExt, HttpsConnector};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::CertificateDer;
use tokio::sync::watch;

use super::sign::{Signer, SIGNATURE_HEADER};
use crate::backoff::Backoff;
use crate::stream::redact::redacted_url;
use crate::stream::retry::{millis, sleep_or_stop};

/// How much of a receiver's answer is read (and thrown away) so the connection can be reused.
const MAX_ANSWER: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub connect: Duration,
    /// The whole exchange: sending the body and reading the answer.
    pub request: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(5),
            request: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("webhook URL {0:?} is not an absolute http:// or https:// URL")]
    Url(String),
    #[error("webhook TLS: {0}")]
    Tls(String),
}

/// Why one attempt failed.
#[derive(Debug, thiserror::Error)]
pub enum AttemptError {
    #[error("request failed: {0}")]
    Transport(String),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("receiver answered HTTP {status}")]
    Status { status: u16, retry_after: Option<Duration> },
}

impl AttemptError {
    /// A 4xx other than 408/429: the receiver refuses this request as it is (bad signature key,
    /// wrong path). Still retried, since dropping the event would lose it, but worth a warning.
    pub fn is_refusal(&self) -> bool {
        matches!(self, AttemptError::Status { status, .. } if (400..500).contains(status) && *status != 408 && *status != 429)
    }
}

/// How a retried delivery ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Accepted {
        attempts: u32,
    },
    /// Shutdown was asked while the receiver was still failing: the event is not delivered.
    Stopped,
}

pub struct Deliverer {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    uri: Uri,
    signer: Option<Signer>,
    timeouts: Timeouts,
}

impl Deliverer {
    /// A client for `url`. `ca_certs_der` empty trusts the system's roots (or, where the system
    /// has none, Mozilla's); otherwise only those certificates.
    pub fn new(
        url: &str,
        signer: Option<Signer>,
        timeouts: Timeouts,
        ca_certs_der: &[Vec<u8>],
    ) -> Result<Self, ConfigError> {
        let uri: Uri = url.parse().map_err(|_| ConfigError::Url(redacted_url(url)))?;
        let scheme_ok = matches!(uri.scheme_str(), Some("http" | "https"));
        if !scheme_ok || uri.host().is_none() {
            return Err(ConfigError::Url(redacted_url(url)));
        }
        let tls = tls_config(ca_certs_der)?;
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(timeouts.connect));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new()).build(connector);
        Ok(Self {
            client,
            uri,
            signer,
            timeouts,
        })
    }

    /// The receiver's host, for logs (never the full URL: it may hold a token).
    pub fn host(&self) -> &str {
        self.uri.host().unwrap_or_default()
    }

    /// One POST of `body`; Ok with the status when the receiver answered 2xx.
    pub async fn post(&self, body: &[u8]) -> Result<StatusCode, AttemptError> {
        let mut request = Request::post(self.uri.clone())
            .header(CONTENT_TYPE, "application/json; charset=utf-8")
            .header(USER_AGENT, concat!("annal-webhook/", env!("CARGO_PKG_VERSION")));
        if let Some(signer) = &self.signer {
            request = request.header(SIGNATURE_HEADER, signer.sign(body));
        }
        let request = request
            .body(Full::new(Bytes::copy_from_slice(body)))
            .map_err(|e| AttemptError::Transport(e.to_string()))?;
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| AttemptError::Transport(error_chain(&e)))?;
            let status = response.status();
            let retry_after = response.headers().get(RETRY_AFTER).and_then(retry_after_seconds);
            // Reading the answer lets the connection be reused; its content does not matter.
            let _ = Limited::new(response.into_body(), MAX_ANSWER).collect().await;
            if status.is_success() {
                Ok(status)
            } else {
                Err(AttemptError::Status {
                    status: status.as_u16(),
                    retry_after,
                })
            }
        };
        tokio::time::timeout(self.timeouts.request, exchange)
            .await
            .unwrap_or(Err(AttemptError::Timeout(self.timeouts.request)))
    }

    /// POSTs `body` until the receiver accepts it, waiting `backoff` between attempts. Returns
    /// `Stopped` only when `stop` turned true and the last attempt failed: an attempt already
    /// under way is always finished first.
    pub async fn post_until_accepted(
        &self,
        body: &[u8],
        event: &EventLabel<'_>,
        backoff: Backoff,
        stop: &mut watch::Receiver<bool>,
    ) -> Outcome {
        let mut attempt = 0u32;
        loop {
            attempt = attempt.saturating_add(1);
            let error = match self.post(body).await {
                Ok(_) => return Outcome::Accepted { attempts: attempt },
                Err(e) => e,
            };
            let mut wait = backoff.jittered(attempt);
            if let AttemptError::Status {
                retry_after: Some(asked),
                ..
            } = error
            {
                wait = wait.max(asked.min(backoff.max));
            }
            let wait_ms = millis(wait);
            let (id, position, topic, host) = (event.event_id, event.position, event.topic, self.host());
            if error.is_refusal() {
                tracing::warn!(%id, position, topic, host, attempt, wait_ms, error = %error,
                    "webhook receiver refused the event; check its configuration, retrying");
            } else {
                tracing::warn!(%id, position, topic, host, attempt, wait_ms, error = %error,
                    "webhook delivery failed, retrying");
            }
            if sleep_or_stop(wait, stop).await {
                return Outcome::Stopped;
            }
        }
    }
}

/// What the retry logs name an event by.
#[derive(Debug, Clone, Copy)]
pub struct EventLabel<'a> {
    pub event_id: uuid::Uuid,
    pub position: u64,
    pub topic: &'a str,
}

fn tls_config(ca_certs_der: &[Vec<u8>]) -> Result<rustls::ClientConfig, ConfigError> {
    let tls = |e: &dyn std::fmt::Display| ConfigError::Tls(e.to_string());
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls(&e))?;
    let builder = if ca_certs_der.is_empty() {
        match builder.clone().with_native_roots() {
            Ok(native) => native,
            Err(e) => {
                tracing::info!(error = %e, "no system root certificates; webhooks trust the built-in Mozilla roots");
                builder.with_webpki_roots()
            }
        }
    } else {
        let mut roots = rustls::RootCertStore::empty();
        for der in ca_certs_der {
            roots.add(CertificateDer::from(der.clone())).map_err(|e| tls(&e))?;
        }
        builder.with_root_certificates(roots)
    };
    Ok(builder.with_no_client_auth())
}

fn retry_after_seconds(value: &HeaderValue) -> Option<Duration> {
    value.to_str().ok()?.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// hyper's top-level error says little ("client error (Connect)"); its sources say why.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: u16) -> AttemptError {
        AttemptError::Status {
            status,
            retry_after: None,
        }
    }

    #[test]
    fn refusals_are_the_4xx_other_than_timeout_and_throttling() {
        assert!(status(400).is_refusal() && status(401).is_refusal() && status(404).is_refusal());
        assert!(!status(408).is_refusal() && !status(429).is_refusal());
        assert!(!status(500).is_refusal() && !status(503).is_refusal());
        assert!(!AttemptError::Timeout(Duration::from_secs(1)).is_refusal());
    }

    #[test]
    fn only_absolute_http_urls_are_accepted_and_errors_hide_the_path() {
        let new = |url: &str| Deliverer::new(url, None, Timeouts::default(), &[]);
        assert!(new("http://127.0.0.1:9/hook").is_ok());
        assert!(new("https://hooks.example.com/x?token=abc").is_ok());
        for bad in ["ftp://example.com/x", "/relative", "not a url"] {
            assert!(matches!(new(bad), Err(ConfigError::Url(_))), "{bad}");
        }
        assert!(matches!(
            Deliverer::new("https://h/", None, Timeouts::default(), &[b"not a cert".to_vec()]),
            Err(ConfigError::Tls(_))
        ));
        let hv = HeaderValue::from_static("7");
        assert_eq!(retry_after_seconds(&hv), Some(Duration::from_secs(7)));
    }
}

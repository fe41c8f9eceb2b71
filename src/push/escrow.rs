//! Apple's Activation Lock bypass endpoint ("escrow key unlock"): a form POST authenticated by
//! the push certificate over mutual TLS, which answers 200 when the lock was removed. Device
//! identifiers go in the query and the audit values and the bypass code in the form body, as
//! Apple documents ("Creating and using bypass codes").

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::{Method, Request};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use super::apns::{client_tls, error_chain};
use super::{ApnsConfig, ApnsError, PushCertificate};

/// Apple's endpoint (`--escrow-key-unlock-url` replaces it, for a proxy or a local mock).
pub const ESCROW_KEY_UNLOCK_URL: &str =
    "https://deviceservices-external.apple.com/deviceservicesworkers/escrowKeyUnlock";

/// Apple answers with a short status body; more than this is not an answer worth relaying.
const MAX_ANSWER: usize = 64 << 10;

/// Apple's answer, relayed to the caller as it came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscrowAnswer {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Bytes,
}

/// Posts `form` (already encoded) to `url?query` with `cert` as the TLS client identity.
pub async fn unlock(
    cert: &PushCertificate,
    apns: &ApnsConfig,
    url: &str,
    query: &str,
    form: String,
) -> Result<EscrowAnswer, ApnsError> {
    let tls = client_tls(cert, apns)?;
    let mut tcp = HttpConnector::new();
    tcp.enforce_http(false);
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_only()
        .enable_all_versions()
        .wrap_connector(tcp);
    // One request now and then: a client of its own, not kept.
    let http: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build(connector);
    let request = Request::builder()
        .method(Method::POST)
        .uri(format!("{url}?{query}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Full::new(Bytes::from(form)))
        .map_err(|e| ApnsError::Request(e.to_string()))?;
    let exchange = async {
        let response = http
            .request(request)
            .await
            .map_err(|e| ApnsError::Transport(error_chain(&e)))?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = Limited::new(response.into_body(), MAX_ANSWER)
            .collect()
            .await
            .map_err(|e| ApnsError::Transport(e.to_string()))?
            .to_bytes();
        Ok(EscrowAnswer {
            status,
            content_type,
            body,
        })
    };
    tokio::time::timeout(apns.timeout, exchange)
        .await
        .map_err(|_| ApnsError::Transport(format!("no answer within {:?}", apns.timeout)))?
}

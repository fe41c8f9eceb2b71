//! A small HTTP(S) client for the simulator: keep-alive connections, Annal's CA as the only
//! trust root, Mdm-Signature on device requests, Bearer key on admin requests.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::CertificateDer;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("TLS setup: {0}")]
    Tls(String),
    #[error("request to {url}: {detail}")]
    Request { url: String, detail: String },
    #[error("{0:?} is not an absolute http(s) URL")]
    Url(String),
}

/// `https://host:port/path?query` → (`https://host:port`, `/path?query`): a client's base and
/// the path it sends to.
pub fn split_url(url: &str) -> Result<(String, String), ClientError> {
    let uri: hyper::Uri = url.parse().map_err(|_| ClientError::Url(url.to_owned()))?;
    match (uri.scheme_str(), uri.authority()) {
        (Some(scheme @ ("https" | "http")), Some(authority)) => {
            let path = uri.path_and_query().map_or("/", |p| p.as_str());
            Ok((format!("{scheme}://{authority}"), path.to_owned()))
        }
        _ => Err(ClientError::Url(url.to_owned())),
    }
}

#[derive(Clone)]
pub struct Client {
    http: HyperClient<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
    base: String,
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: hyper::HeaderMap,
    pub body: Bytes,
    pub latency: Duration,
}

impl Answer {
    /// The Content-Type header, if any.
    pub fn content_type(&self) -> Option<&str> {
        self.headers
            .get(hyper::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
    }
}

impl Client {
    /// `base` is `https://host:port` (or `http://` behind a proxy); `ca_der` the CA to trust.
    pub fn new(base: &str, ca_der: &[u8]) -> Result<Self, ClientError> {
        Self::build(base, ca_der, None)
    }

    /// A client that presents a device identity as its TLS client certificate (mTLS).
    pub fn with_identity(
        base: &str,
        ca_der: &[u8],
        cert_der: &[u8],
        key_pkcs8_der: &[u8],
    ) -> Result<Self, ClientError> {
        Self::build(base, ca_der, Some((cert_der, key_pkcs8_der)))
    }

    fn build(base: &str, ca_der: &[u8], identity: Option<(&[u8], &[u8])>) -> Result<Self, ClientError> {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from(ca_der.to_vec()))
            .map_err(|e| ClientError::Tls(e.to_string()))?;
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ClientError::Tls(e.to_string()))?
            .with_root_certificates(roots);
        let tls = match identity {
            None => tls.with_no_client_auth(),
            Some((cert, key)) => {
                let key = rustls::pki_types::PrivateKeyDer::Pkcs8(key.to_vec().into());
                tls.with_client_auth_cert(vec![CertificateDer::from(cert.to_vec())], key)
                    .map_err(|e| ClientError::Tls(e.to_string()))?
            }
        };
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .build();
        let http = HyperClient::builder(TokioExecutor::new())
            .pool_max_idle_per_host(1024)
            .build(connector);
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_string(),
        })
    }

    pub async fn get(&self, path: &str) -> Result<Answer, ClientError> {
        self.send(Method::GET, path, None, &[], Vec::new()).await
    }

    pub async fn put(
        &self,
        path: &str,
        content_type: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<Answer, ClientError> {
        self.send(Method::PUT, path, Some(content_type), headers, body).await
    }

    /// Any method, for the admin API (POST, DELETE) and the CLI.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<Answer, ClientError> {
        let url = format!("{}{path}", self.base);
        let mut request = Request::builder().method(method).uri(&url);
        if let Some(content_type) = content_type {
            request = request.header("Content-Type", content_type);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| ClientError::Request {
                url: url.clone(),
                detail: e.to_string(),
            })?;
        let start = Instant::now();
        let response = self.http.request(request).await.map_err(|e| ClientError::Request {
            url: url.clone(),
            detail: e.to_string(),
        })?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| ClientError::Request {
                url: url.clone(),
                detail: e.to_string(),
            })?
            .to_bytes();
        Ok(Answer {
            status,
            headers,
            body,
            latency: start.elapsed(),
        })
    }
}

//! The admin CLI's HTTPS client. Not the simulator's `Client`: the CLI needs POST and DELETE,
//! streamed bodies (SSE, large exports) and the API's JSON errors, and trusts only the CA it is
//! given, Annal's own by default.
//!
//! Requests are plain values ([`ApiRequest`]) built by pure functions in each subcommand, so
//! the mapping from arguments to requests is tested without a server.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::{pem::PemObject, CertificateDer};
use serde_json::Value;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Whole-answer limit for JSON calls; streamed calls (SSE, exports) have none.
const JSON_TIMEOUT: Duration = Duration::from_secs(120);

/// Where the admin API is and how to authenticate to it; shared by every API subcommand.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Admin API connection")]
pub struct ApiArgs {
    /// The server's base URL. With --config, derived from the file's `listen` (a wildcard
    /// address becomes loopback) and `behind_proxy`.
    #[arg(long, global = true, env = "ANNAL_SERVER", default_value = "https://127.0.0.1:8443")]
    pub server: String,
    /// The name to check the server's certificate against when --server is an address the
    /// certificate does not name (default: --server's host; with --config, the file's first
    /// `hostnames` entry when the certificate does not name the loopback address).
    #[arg(long, global = true, env = "ANNAL_SERVER_NAME")]
    pub server_name: Option<String>,
    /// The admin API key (default: the bootstrap key in <data-dir>/admin-api-key). Prefer the
    /// environment variable or the file: a command-line flag is visible to other local users.
    #[arg(long, global = true, env = "ANNAL_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// PEM file with the CA certificate(s) that issued the server's TLS certificate
    /// (default: Annal's own CA, <data-dir>/ca/ca.pem, and the CA that issued the certificate
    /// in <data-dir>/tls/ should a CA rotation have kept it; with --config, the file's
    /// `tls_cert` chain when it names one).
    #[arg(long, global = true, env = "ANNAL_CA_FILE")]
    pub ca_file: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("no API key: pass --api-key, set ANNAL_API_KEY, or run where {0} exists")]
    NoKey(PathBuf),
    #[error("reading {path}: {detail} (pass --ca-file with the CA that issued the server's certificate)")]
    Ca { path: PathBuf, detail: String },
    #[error("TLS setup: {0}")]
    Tls(String),
    #[error("{method} {url}: {detail}")]
    Transport {
        method: Method,
        url: String,
        detail: String,
    },
    /// The API's own error object, as `{"error": {"code", "message", "path"?}}`.
    #[error("{status} {code}: {message}{}", path.as_ref().map(|p| format!(" (at {p})")).unwrap_or_default())]
    Api {
        status: StatusCode,
        code: String,
        message: String,
        path: Option<String>,
    },
    #[error("{status} from the server: {body}")]
    Status { status: StatusCode, body: String },
    #[error("the server's answer is not the expected JSON: {0}")]
    BadAnswer(String),
}

impl ClientError {
    /// Worth retrying on a long-running stream: the server or network, not the request.
    pub fn is_transient(&self) -> bool {
        match self {
            ClientError::Transport { .. } => true,
            ClientError::Api { status, .. } | ClientError::Status { status, .. } => status.is_server_error(),
            _ => false,
        }
    }
}

/// One admin API call as a value: what the pure request builders return.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiRequest {
    pub method: Method,
    /// Path and query, e.g. `/v1/devices?state=enrolled`.
    pub path: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Option<Value>,
}

impl ApiRequest {
    pub fn get(path: String) -> Self {
        Self {
            method: Method::GET,
            path,
            headers: Vec::new(),
            body: None,
        }
    }

    pub fn header(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }
}

pub struct Api {
    http: HyperClient<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
    base: String,
    authorization: String,
}

impl Api {
    /// The client for `args`, reading the key and CA from the data directory when not given.
    pub fn connect(data_dir: &Path, args: &ApiArgs) -> Result<Api, ClientError> {
        let key = match &args.api_key {
            Some(key) => key.trim().to_string(),
            None => {
                let path = data_dir.join("admin-api-key");
                let key = std::fs::read_to_string(&path).map_err(|_| ClientError::NoKey(path.clone()))?;
                key.trim().to_string()
            }
        };
        // Plain http:// (behind a TLS-terminating proxy) needs no trust root.
        let roots = if args.server.starts_with("http://") {
            Vec::new()
        } else {
            match &args.ca_file {
                Some(path) => read_certs(path)?,
                None => default_roots(data_dir)?,
            }
        };
        let api = Api::new(&args.server, &key, roots, args.server_name.as_deref())?;
        Ok(api)
    }

    /// `server_name`: check the certificate against this name rather than the URL's host.
    pub fn new(
        base: &str,
        key: &str,
        roots: Vec<CertificateDer<'static>>,
        server_name: Option<&str>,
    ) -> Result<Api, ClientError> {
        let mut store = rustls::RootCertStore::empty();
        for cert in roots {
            store.add(cert).map_err(|e| ClientError::Tls(e.to_string()))?;
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ClientError::Tls(e.to_string()))?
            .with_root_certificates(store)
            .with_no_client_auth();
        let mut http = HttpConnector::new();
        http.set_connect_timeout(Some(CONNECT_TIMEOUT));
        http.enforce_http(false);
        let builder = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http();
        let builder = match server_name {
            Some(name) => {
                let name = rustls::pki_types::ServerName::try_from(name.to_owned())
                    .map_err(|e| ClientError::Tls(format!("--server-name {name:?}: {e}")))?;
                builder.with_server_name_resolver(hyper_rustls::FixedServerNameResolver::new(name))
            }
            None => builder,
        };
        let connector = builder.enable_http1().wrap_connector(http);
        Ok(Api {
            http: HyperClient::builder(TokioExecutor::new()).build(connector),
            base: base.trim_end_matches('/').to_string(),
            authorization: format!("Bearer {key}"),
        })
    }

    /// Sends `req` and returns the response with its body unread, or the API's error.
    pub async fn send(&self, req: &ApiRequest) -> Result<Response<Incoming>, ClientError> {
        let url = format!("{}{}", self.base, req.path);
        let transport = |detail: String| ClientError::Transport {
            method: req.method.clone(),
            url: url.clone(),
            detail,
        };
        let mut builder = Request::builder()
            .method(req.method.clone())
            .uri(&url)
            .header("Authorization", &self.authorization);
        for (name, value) in &req.headers {
            builder = builder.header(*name, value);
        }
        let body = match &req.body {
            Some(json) => {
                builder = builder.header("Content-Type", "application/json");
                Bytes::from(json.to_string())
            }
            None => Bytes::new(),
        };
        let request = builder.body(Full::new(body)).map_err(|e| transport(e.to_string()))?;
        let response = self
            .http
            .request(request)
            .await
            .map_err(|e| transport(with_tls_hint(error_chain(&e))))?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| transport(e.to_string()))?;
        Err(api_error(status, &body.to_bytes()))
    }

    /// Sends `req` and parses the whole answer as JSON; also returns the status (200 vs 207).
    pub async fn json(&self, req: &ApiRequest) -> Result<(StatusCode, Value), ClientError> {
        let call = async {
            let response = self.send(req).await?;
            let status = response.status();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| ClientError::BadAnswer(e.to_string()))?
                .to_bytes();
            let value = serde_json::from_slice(&body).map_err(|e| ClientError::BadAnswer(e.to_string()))?;
            Ok((status, value))
        };
        tokio::time::timeout(JSON_TIMEOUT, call)
            .await
            .map_err(|_| ClientError::Transport {
                method: req.method.clone(),
                url: format!("{}{}", self.base, req.path),
                detail: format!("no complete answer within {} s", JSON_TIMEOUT.as_secs()),
            })?
    }
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, ClientError> {
    let ca_err = |detail: String| ClientError::Ca {
        path: path.to_path_buf(),
        detail,
    };
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .map_err(|e| ca_err(e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| ca_err(e.to_string()))?;
    if certs.is_empty() {
        return Err(ca_err("no PEM certificate in the file".into()));
    }
    Ok(certs)
}

/// Annal's CA, plus the CA(s) that issued the certificate the server serves from the data
/// directory: after a CA rotation that kept the old server certificate, that is the old CA.
fn default_roots(data_dir: &Path) -> Result<Vec<CertificateDer<'static>>, ClientError> {
    let mut roots = read_certs(&data_dir.join("ca").join("ca.pem"))?;
    let served = data_dir.join("tls").join("server.pem");
    if served.exists() {
        if let Ok(chain) = annal::server::tls::issuer_chain(&served) {
            roots.extend(chain.into_iter().filter(|c| !roots.contains(c)).collect::<Vec<_>>());
        }
    }
    Ok(roots)
}

/// A certificate the CLI does not trust is the one TLS failure an admin can fix from here.
fn with_tls_hint(detail: String) -> String {
    let untrusted = ["UnknownIssuer", "BadSignature", "invalid peer certificate"];
    if detail.contains("NotValidForName") || detail.contains("not valid for name") {
        return format!(
            "{detail} (the server's certificate does not name this host: pass --server-name with a name it carries, or --server with one)"
        );
    }
    if untrusted.iter().any(|u| detail.contains(u)) {
        return format!(
            "{detail} (the server's certificate was not issued by the CA the CLI trusts: pass --ca-file with the CA that issued it)"
        );
    }
    detail
}

/// hyper's errors say "client error (Connect)" at the top; the cause (refused, TLS) is below.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        parts.push(s.to_string());
        source = s.source();
    }
    parts.join(": ")
}

/// The API's error object when the body is one, else the status with the start of the body.
pub fn api_error(status: StatusCode, body: &[u8]) -> ClientError {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    match parsed.as_ref().and_then(|v| v.get("error")) {
        Some(e) => ClientError::Api {
            status,
            code: e.get("code").and_then(Value::as_str).unwrap_or("unknown").to_string(),
            message: e.get("message").and_then(Value::as_str).unwrap_or("").to_string(),
            path: e.get("path").and_then(Value::as_str).map(str::to_string),
        },
        None if body.is_empty() => ClientError::Status {
            status,
            body: "(empty body)".into(),
        },
        None => ClientError::Status {
            status,
            body: String::from_utf8_lossy(&body[..body.len().min(200)]).trim().to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_errors_show_code_message_and_path() {
        let body = br#"{"error":{"code":"invalid","message":"Message must be a string","path":"Command.Message"}}"#;
        let e = api_error(StatusCode::BAD_REQUEST, body);
        assert_eq!(
            e.to_string(),
            "400 Bad Request invalid: Message must be a string (at Command.Message)"
        );
        assert!(!e.is_transient());
        let e = api_error(
            StatusCode::FORBIDDEN,
            br#"{"error":{"code":"forbidden","message":"read-only"}}"#,
        );
        assert_eq!(e.to_string(), "403 Forbidden forbidden: read-only");
    }

    #[test]
    fn non_json_errors_keep_status_and_body() {
        let e = api_error(StatusCode::BAD_GATEWAY, b"upstream down\n");
        assert_eq!(e.to_string(), "502 Bad Gateway from the server: upstream down");
        assert!(e.is_transient());
        let e = api_error(StatusCode::NOT_FOUND, b"");
        assert_eq!(e.to_string(), "404 Not Found from the server: (empty body)");
        assert!(!e.is_transient());
    }

    #[test]
    fn missing_ca_file_names_the_path() {
        let e = read_certs(Path::new("/nonexistent/ca.pem")).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        assert!(matches!(read_certs(&empty), Err(ClientError::Ca { .. })));
    }

    #[test]
    fn key_comes_from_the_data_dir_when_not_given() {
        let dir = tempfile::tempdir().unwrap();
        let args = ApiArgs {
            server: "http://127.0.0.1:1".into(),
            server_name: None,
            api_key: None,
            ca_file: None,
        };
        assert!(matches!(Api::connect(dir.path(), &args), Err(ClientError::NoKey(_))));
        std::fs::write(dir.path().join("admin-api-key"), "annal_abc\n").unwrap();
        let api = Api::connect(dir.path(), &args).unwrap();
        assert_eq!(api.authorization, "Bearer annal_abc");
    }
}

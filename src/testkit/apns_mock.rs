//! A local stand-in for APNs (Apple's servers are unreachable here): HTTP/2 over TLS on a real
//! socket, a client certificate required (and its possession proven by the TLS handshake), every
//! request recorded exactly as it arrived, and answers that tests script per device token.
//!
//! It lives in the library, not in `tests/`, because `annal bench push` drives it too.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::pki::{fingerprint_sha256, Ca};

/// One request as the mock received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub method: String,
    pub path: String,
    /// The query string, if any (Apple's Activation Lock endpoint takes the device's there).
    pub query: Option<String>,
    pub topic: Option<String>,
    pub push_type: Option<String>,
    pub priority: Option<String>,
    pub body: Vec<u8>,
    /// SHA-256 of the client certificate the connection presented.
    pub client_fingerprint: String,
    pub http2: bool,
}

#[derive(Default)]
struct Shared {
    received: Mutex<Vec<Received>>,
    /// Per device token, the answers to give next (status, reason); then 200.
    script: Mutex<HashMap<String, VecDeque<(u16, String)>>>,
    /// An answer for every request, overriding the script (e.g. 403 for a revoked certificate).
    all: Mutex<Option<(u16, String)>>,
    count: AtomicU64,
    connections: AtomicU64,
    record: bool,
}

/// A running mock APNs. Dropping it does not stop the server task; the test process ends it.
#[derive(Clone)]
pub struct MockApns {
    pub addr: SocketAddr,
    /// PEM of the CA that issued the mock's TLS certificate: the client's trust anchor.
    pub ca_pem: String,
    pub ca_der: Vec<u8>,
    shared: Arc<Shared>,
}

impl MockApns {
    /// Starts on 127.0.0.1 with a fresh CA in `dir`. `record: false` only counts (benchmarks).
    pub async fn start(dir: &std::path::Path, record: bool) -> std::io::Result<MockApns> {
        let io = |e: crate::pki::PkiError| std::io::Error::other(e.to_string());
        let ca = Ca::load_or_init(dir).map_err(io)?;
        let (cert_pem, key_pem) = ca
            .issue_server_tls(
                &["localhost".to_owned()],
                &["127.0.0.1".parse().map_err(std::io::Error::other)?],
            )
            .map_err(io)?;
        let chain: Vec<CertificateDer<'static>> = crate::pki::pem_blocks(&cert_pem)
            .map_err(io)?
            .into_iter()
            .map(|(_, der)| CertificateDer::from(der))
            .collect();
        let key_der = crate::pki::pem_blocks(&key_pem)
            .map_err(io)?
            .into_iter()
            .next()
            .map(|(_, der)| der)
            .ok_or_else(|| std::io::Error::other("no key"))?;
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let verifier = Arc::new(AnyClientCert(provider.signature_verification_algorithms));
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(std::io::Error::other)?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, PrivateKeyDer::Pkcs8(key_der.into()))
            .map_err(std::io::Error::other)?;
        config.alpn_protocols = vec![b"h2".to_vec()];
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            record,
            ..Shared::default()
        });
        tokio::spawn(accept_loop(listener, acceptor, shared.clone()));
        Ok(MockApns {
            addr,
            ca_pem: ca.cert_pem().to_owned(),
            ca_der: ca.cert_der().to_vec(),
            shared,
        })
    }

    pub fn base_url(&self) -> String {
        format!("https://127.0.0.1:{}", self.addr.port())
    }

    /// The mock's Activation Lock bypass endpoint (`annal serve --escrow-key-unlock-url`).
    pub fn escrow_key_unlock_url(&self) -> String {
        format!("{}{ESCROW_KEY_UNLOCK_PATH}", self.base_url())
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Requests answered so far.
    pub fn count(&self) -> u64 {
        self.shared.count.load(Ordering::Relaxed)
    }

    /// TLS connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.shared.connections.load(Ordering::Relaxed)
    }

    /// The next answers for `token`, in order; after them the token gets 200 again.
    pub fn script(&self, token: &str, answers: &[(u16, &str)]) {
        if let Ok(mut s) = self.shared.script.lock() {
            s.entry(token.to_owned())
                .or_default()
                .extend(answers.iter().map(|(c, r)| (*c, (*r).to_owned())));
        }
    }

    /// Answers every request with this, until cleared with `None`.
    pub fn answer_all(&self, answer: Option<(u16, &str)>) {
        if let Ok(mut a) = self.shared.all.lock() {
            *a = answer.map(|(c, r)| (c, r.to_owned()));
        }
    }
}

async fn accept_loop(listener: TcpListener, acceptor: TlsAcceptor, shared: Arc<Shared>) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let (acceptor, shared) = (acceptor.clone(), shared.clone());
        tokio::spawn(async move {
            let _ = tcp.set_nodelay(true);
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            shared.connections.fetch_add(1, Ordering::Relaxed);
            let (_, session) = tls.get_ref();
            let fingerprint = session
                .peer_certificates()
                .and_then(|c| c.first())
                .map(|c| fingerprint_sha256(c))
                .unwrap_or_default();
            let http2 = session.alpn_protocol() == Some(b"h2");
            let service = hyper::service::service_fn(move |req| {
                let (shared, fingerprint) = (shared.clone(), fingerprint.clone());
                async move { Ok::<_, Infallible>(answer(&shared, req, fingerprint, http2).await) }
            });
            let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                .max_concurrent_streams(1000)
                .serve_connection(TokioIo::new(tls), service)
                .await;
        });
    }
}

async fn answer(shared: &Shared, req: Request<Incoming>, fingerprint: String, http2: bool) -> Response<Full<Bytes>> {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let mut received = Received {
        method: req.method().to_string(),
        path: req.uri().path().to_owned(),
        query: req.uri().query().map(str::to_owned),
        topic: header("apns-topic"),
        push_type: header("apns-push-type"),
        priority: header("apns-priority"),
        body: Vec::new(),
        client_fingerprint: fingerprint,
        http2,
    };
    received.body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes().to_vec(),
        Err(_) => Vec::new(),
    };
    if received.path == ESCROW_KEY_UNLOCK_PATH {
        return escrow_answer(shared, received);
    }
    let token = received.path.strip_prefix("/3/device/").unwrap_or_default().to_owned();
    let scripted = shared.all.lock().ok().and_then(|a| a.clone()).or_else(|| {
        shared
            .script
            .lock()
            .ok()
            .and_then(|mut s| s.get_mut(&token).and_then(VecDeque::pop_front))
    });
    // What APNs itself refuses before looking at the token.
    let (status, reason) = if received.method != "POST" || token.is_empty() {
        (405, "MethodNotAllowed".to_owned())
    } else if received.topic.is_none() {
        (400, "MissingTopic".to_owned())
    } else if !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        (400, "BadDeviceToken".to_owned())
    } else {
        scripted.unwrap_or((200, String::new()))
    };
    shared.count.fetch_add(1, Ordering::Relaxed);
    if shared.record {
        if let Ok(mut r) = shared.received.lock() {
            r.push(received);
        }
    }
    let apns_id = uuid::Uuid::new_v4().to_string();
    let mut response = Response::builder().status(status).header("apns-id", apns_id);
    let body = if status == 200 {
        Bytes::new()
    } else {
        response = response.header("content-type", "application/json");
        let mut json = serde_json::json!({ "reason": reason });
        if status == 410 {
            json["timestamp"] = chrono::Utc::now().timestamp_millis().into();
        }
        Bytes::from(json.to_string())
    };
    response
        .body(Full::new(body))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

/// Where the mock answers as Apple's Activation Lock bypass endpoint does.
pub const ESCROW_KEY_UNLOCK_PATH: &str = "/deviceservicesworkers/escrowKeyUnlock";

/// Apple's Activation Lock endpoint: 200 for a form POST naming a serial and product type with
/// a bypass code, 400 for one that does not; `answer_all` overrides it (404: unknown device or
/// wrong code).
fn escrow_answer(shared: &Shared, received: Received) -> Response<Full<Bytes>> {
    let query = received.query.as_deref().unwrap_or_default();
    let body = String::from_utf8_lossy(&received.body);
    let complete = received.method == "POST"
        && query.contains("serial=")
        && query.contains("productType=")
        && body.contains("escrowKey=");
    let scripted = shared.all.lock().ok().and_then(|a| a.clone());
    let (status, reason) = match scripted {
        Some(answer) => answer,
        None if complete => (200, String::new()),
        None => (400, "BadRequest".to_owned()),
    };
    shared.count.fetch_add(1, Ordering::Relaxed);
    if shared.record {
        if let Ok(mut r) = shared.received.lock() {
            r.push(received);
        }
    }
    let text = if status == 200 { "OK".to_owned() } else { reason };
    Response::builder()
        .status(status)
        .header("content-type", "text/plain")
        .body(Full::new(Bytes::from(text)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

/// Requires a client certificate and checks the handshake signature made with its key, but
/// trusts any certificate: the tests check which one arrived, as Apple checks it is theirs.
#[derive(Debug)]
struct AnyClientCert(WebPkiSupportedAlgorithms);

impl ClientCertVerifier for AnyClientCert {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

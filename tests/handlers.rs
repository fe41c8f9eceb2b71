//! Handler tests in process: the server is built as a library on a SQLite log in a temporary
//! directory and its router is called directly (`oneshot`), no binary and no socket; one test
//! serves it on a 127.0.0.1:0 listener and stops it through its shutdown future. Devices sign
//! their requests with Mdm-Signature as real ones do, with identities from the server's CA.

use annal::config::ServerConfig;
use annal::server::Server;
use annal::testkit::sim::VirtualDevice;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

const CHECKIN: &str = "application/x-apple-aspen-mdm-checkin";
const COMMAND: &str = "application/x-apple-aspen-mdm";
const TOPIC: &str = "com.apple.mgmt.test";
const ADMIN_KEY: &str = "annal_handlers-test-admin-key";

struct App {
    server: Server,
    _dir: tempfile::TempDir,
}

async fn app() -> App {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ServerConfig::new(dir.path());
    config.admin_api_key = Some(ADMIN_KEY.into());
    let server = annal::server::build(config).await.unwrap();
    App { server, _dir: dir }
}

impl App {
    async fn send(&self, request: Request<Body>) -> (StatusCode, Vec<u8>) {
        let response = self.server.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes().to_vec();
        (status, body)
    }

    async fn get(&self, path: &str, key: Option<&str>) -> (StatusCode, Value) {
        let mut request = Request::get(path);
        if let Some(key) = key {
            request = request.header("Authorization", format!("Bearer {key}"));
        }
        let (status, body) = self.send(request.body(Body::empty()).unwrap()).await;
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }

    /// A device request to /mdm, signed by `device`.
    async fn device(&self, device: &VirtualDevice, content_type: &str, body: Vec<u8>) -> (StatusCode, Vec<u8>) {
        let signature = device.sign(&body).unwrap();
        let request = Request::builder()
            .method(Method::PUT)
            .uri("/mdm")
            .header("Content-Type", content_type)
            .header("Mdm-Signature", signature)
            .body(Body::from(body))
            .unwrap();
        self.send(request).await
    }

    fn new_device(&self, index: usize) -> VirtualDevice {
        let identity = self
            .server
            .ca()
            .issue_device_identity(&format!("dev-{index}"), annal::pki::KeyKind::EcdsaP256, 30)
            .unwrap();
        VirtualDevice::new(index, identity)
    }

    async fn event_types(&self, device: &VirtualDevice) -> Vec<String> {
        let stream = format!("enrollment-{}", device.udid);
        let events = self.server.state.store.read_stream(&stream, 1, 1000).await.unwrap();
        events.into_iter().map(|e| e.event_type).collect()
    }

    async fn head(&self) -> u64 {
        self.server.state.store.head().await.unwrap().position
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_readiness() {
    let app = app().await;
    let (status, body) = app.get("/healthz", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ok");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    let (status, body) = app.get("/readyz", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "ready");
    assert_eq!(body["projection_lag"], 0);
    app.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_wants_a_key_and_refuses_a_wrong_one() {
    let app = app().await;
    assert_eq!(app.get("/v1/devices", None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.get("/v1/devices", Some("annal_0123456789abcdef_nope")).await.0,
        StatusCode::FORBIDDEN
    );
    let (status, devices) = app.get("/v1/devices", Some(ADMIN_KEY)).await;
    assert_eq!(status, StatusCode::OK, "{devices}");
    assert_eq!(app.head().await, 0, "reading appends nothing");
    app.server.shutdown().await;
}

/// NanoMDM's routes answer as NanoMDM does: a missing or wrong key is a 401 with its Basic
/// challenge (its Go clients and `curl -u` expect it); Annal's own routes name their scheme on a
/// 401 too. `GET /version` needs no key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nanomdm_routes_challenge_as_nanomdm_does() {
    let app = app().await;
    let challenge = |key: Option<&str>, path: &str| {
        let mut request = Request::builder().method(Method::PUT).uri(path);
        if let Some(key) = key {
            request = request.header("Authorization", format!("Bearer {key}"));
        }
        request.body(Body::empty()).unwrap()
    };
    for key in [None, Some("annal_0123456789abcdef_nope")] {
        let response = app
            .server
            .router
            .clone()
            .oneshot(challenge(key, "/v1/enqueue/UDID-1"))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{key:?}");
        assert_eq!(response.headers()["www-authenticate"], r#"Basic realm="nanomdm""#);
    }
    let response = app
        .server
        .router
        .clone()
        .oneshot(Request::get("/v1/devices").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()["www-authenticate"], r#"Bearer realm="annal""#);
    let (status, body) = app.get("/version", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    app.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_checks_in_and_receives_an_enqueued_command_on_idle() {
    let app = app().await;
    let d = app.new_device(1);

    // Check-in: Authenticate then TokenUpdate, each answered 200 and recorded.
    let (status, _) = app.device(&d, CHECKIN, d.authenticate(TOPIC)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.device(&d, CHECKIN, d.token_update(TOPIC)).await;
    assert_eq!(status, StatusCode::OK);
    // Authenticate binds the identity certificate to the enrollment.
    assert_eq!(
        app.event_types(&d).await,
        ["Authenticate", "IdentityBound", "TokenUpdate"]
    );

    // Nothing queued: an Idle gets an empty 200.
    let (status, body) = app.device(&d, COMMAND, d.idle().unwrap().0).await;
    assert_eq!((status, body.len()), (StatusCode::OK, 0));

    // The admin API queues a command...
    let uuid = "0C5D7B1E-6E0D-4C5B-9A55-2E9A1F3B7C11";
    let mut envelope = plist::Dictionary::new();
    envelope.insert("CommandUUID".into(), plist::Value::String(uuid.into()));
    envelope.insert(
        "Command".into(),
        plist::Value::Dictionary(annal::mdm::command::command("DeviceInformation")),
    );
    let enqueue = Request::builder()
        .method(Method::PUT)
        .uri(format!("/v1/enqueue/{}", d.udid))
        .header("Content-Type", "application/xml")
        .header("Authorization", format!("Bearer {ADMIN_KEY}"))
        .body(Body::from(annal::testkit::sim::encode(envelope)))
        .unwrap();
    let (status, body) = app.send(enqueue).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains(uuid));
    assert_eq!(app.event_types(&d).await.last().unwrap(), "CommandQueued");

    // ...and the device receives it on its next Idle, recorded as delivered.
    let (status, body) = app.device(&d, COMMAND, d.idle().unwrap().0).await;
    assert_eq!(status, StatusCode::OK);
    let delivered: plist::Dictionary = plist::from_bytes(&body).unwrap();
    assert_eq!(delivered.get("CommandUUID").and_then(|v| v.as_string()), Some(uuid));
    let command = delivered.get("Command").and_then(|v| v.as_dictionary()).unwrap();
    assert_eq!(
        command.get("RequestType").and_then(|v| v.as_string()),
        Some("DeviceInformation")
    );
    assert_eq!(app.event_types(&d).await.last().unwrap(), "CommandDelivered");

    // The answer completes it: the next Idle gets nothing.
    let ack = d.result(uuid, "Acknowledged", plist::Dictionary::new());
    assert_eq!(app.device(&d, COMMAND, ack).await.0, StatusCode::OK);
    assert_eq!(app.event_types(&d).await.last().unwrap(), "CommandAcknowledged");
    let (status, body) = app.device(&d, COMMAND, d.idle().unwrap().0).await;
    assert_eq!((status, body.len()), (StatusCode::OK, 0));
    app.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_signed_by_a_stranger_is_refused_and_nothing_is_appended() {
    let app = app().await;
    let stranger = {
        let dir = tempfile::tempdir().unwrap();
        let ca = annal::pki::Ca::load_or_init(dir.path()).unwrap();
        let identity = ca
            .issue_device_identity("stranger", annal::pki::KeyKind::EcdsaP256, 30)
            .unwrap();
        VirtualDevice::new(7, identity)
    };
    let (status, _) = app.device(&stranger, CHECKIN, stranger.authenticate(TOPIC)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(app.head().await, 0);
}

/// `run` serves on a listener the caller bound and returns once its shutdown future resolves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_serves_on_a_listener_until_shutdown() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let dir = tempfile::tempdir().unwrap();
    let mut config = ServerConfig::new(dir.path());
    config.behind_proxy = true;
    let listener = annal::http::listener::CappedListener::bind(([127, 0, 0, 1], 0).into(), 0)
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(annal::server::run(config, listener, async move {
        let _ = stopped.await;
    }));
    let answer = loop {
        // The listener is bound already; the server answers once it is built.
        let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
        socket
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: annal\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = String::new();
        socket.read_to_string(&mut answer).await.unwrap();
        if !answer.is_empty() {
            break answer;
        }
    };
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    stop.send(()).unwrap();
    let stopped = tokio::time::timeout(std::time::Duration::from_secs(20), server).await;
    stopped.expect("the server stopped").unwrap().unwrap();
    // The read models were saved on the way out: the checkpoint is in the data directory.
    assert!(dir.path().join("annal.db").exists());
}

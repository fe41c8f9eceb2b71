//! A server built in process and called through its router (no sockets): the admin API with a
//! key, and devices enrolled and speaking with signed requests, as a device would.

use annal::config::ServerConfig;
use annal::server::Server;
use annal::testkit::sim::VirtualDevice;
use annal_schemas::events::apikey::Role;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

pub const CHECKIN: &str = "application/x-apple-aspen-mdm-checkin";
pub const TOPIC: &str = "com.apple.mgmt.test";
pub const ADMIN_KEY: &str = "annal_inprocess-test-admin-key";

pub struct App {
    pub server: Server,
    _dir: tempfile::TempDir,
}

/// A server on a fresh SQLite log, with `ADMIN_KEY` as its admin key.
pub async fn app() -> App {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = ServerConfig::new(dir.path());
    config.admin_api_key = Some(ADMIN_KEY.into());
    let server = annal::server::build(config).await.expect("server builds");
    App { server, _dir: dir }
}

impl App {
    pub async fn call(&self, method: Method, path: &str, key: &str, body: Option<Value>) -> (StatusCode, Value) {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header("Authorization", format!("Bearer {key}"))
            .header("Content-Type", "application/json");
        let body = body.map_or(Body::empty(), |b| Body::from(b.to_string()));
        let (status, bytes) = self.send(request.body(body).expect("request")).await;
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str, key: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, key, None).await
    }

    /// A GET answered with text (CSV, NDJSON).
    pub async fn get_text(&self, path: &str, key: &str) -> (StatusCode, String) {
        let request = Request::builder()
            .uri(path)
            .header("Authorization", format!("Bearer {key}"))
            .body(Body::empty())
            .expect("request");
        let (status, bytes) = self.send(request).await;
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    pub async fn send(&self, request: Request<Body>) -> (StatusCode, bytes::Bytes) {
        let response = self
            .server
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("router answers");
        let status = response.status();
        let bytes = response.into_body().collect().await.expect("body").to_bytes();
        (status, bytes)
    }

    pub async fn key(&self, name: &str, role: Role) -> String {
        let keys = self.server.state.admin.keys();
        keys.create(name, role, "test").await.expect("key created").0
    }

    /// A device's signed check-in (or command-channel request when `checkin` is false).
    pub async fn device_request(&self, d: &VirtualDevice, body: Vec<u8>, checkin: bool) -> (StatusCode, bytes::Bytes) {
        let signature = d.sign(&body).expect("signed");
        let mut request = Request::builder()
            .method(Method::PUT)
            .uri("/mdm")
            .header("Mdm-Signature", signature);
        if checkin {
            request = request.header("Content-Type", CHECKIN);
        }
        self.send(request.body(Body::from(body)).expect("request")).await
    }

    /// A device's GET, signed over the empty body (Apple's "MDM" authentication for DDM data).
    pub async fn device_get(&self, d: &VirtualDevice, path: &str, signed: bool) -> (StatusCode, bytes::Bytes) {
        let mut request = Request::builder().uri(path);
        if signed {
            request = request.header("Mdm-Signature", d.sign(b"").expect("signed"));
        }
        self.send(request.body(Body::empty()).expect("request")).await
    }

    /// Enrolls device `index` as a `product` on OS `os`.
    pub async fn enroll(&self, index: usize, product: &str, os: &str) -> VirtualDevice {
        self.enroll_with(index, &[("ProductName", product), ("OSVersion", os)])
            .await
    }

    /// Enrolls device `index`, its Authenticate reporting these keys too (DeviceName, …).
    pub async fn enroll_with(&self, index: usize, reported: &[(&str, &str)]) -> VirtualDevice {
        let identity = self
            .server
            .ca()
            .issue_device_identity(&format!("dev-{index}"), annal::pki::KeyKind::EcdsaP256, 30)
            .expect("identity");
        let d = VirtualDevice::new(index, identity);
        let mut auth: plist::Dictionary = plist::from_bytes(&d.authenticate(TOPIC)).expect("plist");
        for (key, value) in reported {
            auth.insert((*key).into(), plist::Value::String((*value).into()));
        }
        for body in [annal::testkit::sim::encode(auth), d.token_update(TOPIC)] {
            let (status, _) = self.device_request(&d, body, true).await;
            assert_eq!(status, StatusCode::OK);
        }
        d
    }

    pub async fn head(&self) -> u64 {
        self.server.state.store.head().await.expect("head").position
    }
}

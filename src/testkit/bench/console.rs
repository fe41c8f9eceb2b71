//! `annal bench console`: the web console's server time with a large enrolled fleet. The fleet
//! is `bench scale`'s (`scale::append_fleet`: N devices enrolled with their inventory), appended
//! to a fresh store; a server is built on it in process (`server::build`, the code `annal serve`
//! runs) and, once its read models have caught up with the log, a console session is opened with
//! an API key from the log (so every page checks that key, as in use). Then each page is asked
//! for `requests` times through the router, one at a time, and timed from the request to the
//! last byte of the page: the server's time, without a network or TLS in it.
//!
//! Pages: the device list (first page), a search by serial number (the inventory filter), a name
//! search that matches nothing (the bounded scan: the most a name search reads per page), and a
//! device page (inventory, answers, queue, history).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use annal_projections::synthetic::enrolled_device;
use annal_schemas::events::apikey::Role;
use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde::Serialize;
use tower::ServiceExt;

use super::scale::{append_fleet, Progress, ScaleError};
use crate::config::ServerConfig;
use crate::server::Server;

/// How long the read models may take to catch up with the generated log.
const CATCH_UP: Duration = Duration::from_secs(3600);
/// Requests per page before timing starts (first reads warm caches and allocations).
const WARM_UP: usize = 5;

#[derive(Debug, Clone)]
pub struct ConsoleConfig {
    /// The server's data directory (CA, keys; the SQLite files when the store is there).
    pub data_dir: PathBuf,
    /// Where the log goes; it must be empty.
    pub store_url: String,
    pub devices: u64,
    /// Timed requests per page.
    pub requests: usize,
}

/// One page's server time over its requests.
#[derive(Debug, Clone, Serialize)]
pub struct PageTiming {
    pub page: String,
    pub path: String,
    pub requests: usize,
    /// Bytes of HTML the page answered with.
    pub bytes: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ConsoleReport {
    pub devices: u64,
    pub events: u64,
    pub load_seconds: f64,
    /// Building the server until its read models hold the whole log.
    pub ready_seconds: f64,
    pub pages: Vec<PageTiming>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConsoleBenchError {
    #[error(transparent)]
    Fleet(#[from] ScaleError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("the server could not be built: {0}")]
    Server(#[from] crate::server::ServerError),
    #[error("{0}")]
    Failed(String),
}

pub async fn run(config: &ConsoleConfig, progress: Progress) -> Result<ConsoleReport, ConsoleBenchError> {
    let url = config
        .store_url
        .parse()
        .map_err(|e: crate::store::StoreError| ConsoleBenchError::Failed(e.to_string()))?;
    let store = crate::store::open(&url).await?;
    if store.head().await?.position > 0 {
        return Err(ConsoleBenchError::Failed(format!("{} is not empty", config.store_url)));
    }
    // A first start on the empty log makes the data directory (the CA, the data key that seals
    // the fleet's secrets), as `annal serve` would before any device enrolled.
    progress("empty server", 0, 1);
    build(config).await?.shutdown().await;
    let started = Instant::now();
    append_fleet(store.clone(), config.devices, false, &progress).await?;
    let load_seconds = started.elapsed().as_secs_f64();
    let events = store.head().await?.position;
    drop(store);

    progress("server start (folding the log)", 0, events);
    let started = Instant::now();
    let server = build(config).await?;
    let projector = server.state.projector.clone();
    while projector.position() < events {
        if started.elapsed() > CATCH_UP {
            return Err(ConsoleBenchError::Failed(format!(
                "the read models reached {} of {events} events in {CATCH_UP:?}",
                projector.position()
            )));
        }
        progress("server start (folding the log)", projector.position(), events);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let ready_seconds = started.elapsed().as_secs_f64();

    let key = server
        .state
        .admin
        .keys()
        .create("console-bench", Role::Admin, "system:bench")
        .await
        .map_err(|e| ConsoleBenchError::Failed(e.to_string()))?
        .0;
    let session = sign_in(&server, &key).await?;
    let middle = enrolled_device(config.devices / 2)
        .first()
        .and_then(|e| e.stream.strip_prefix("enrollment-").map(str::to_string))
        .ok_or_else(|| ConsoleBenchError::Failed("the fleet is empty".into()))?;
    let serial = format!("SIM{:09}", config.devices / 2);
    let pages = [
        ("device list, first page", "/console/devices".to_string()),
        (
            "device list, serial number search",
            format!("/console/devices?serial={serial}"),
        ),
        (
            "device list, name search (no match: the bounded scan)",
            "/console/devices?name=no-such-device".to_string(),
        ),
        ("device page", format!("/console/devices/{middle}")),
    ];
    let mut timings = Vec::new();
    for (page, path) in pages {
        timings.push(time_page(&server, &session, page, &path, config.requests, &progress).await?);
    }
    server.shutdown().await;
    Ok(ConsoleReport {
        devices: config.devices,
        events,
        load_seconds,
        ready_seconds,
        pages: timings,
    })
}

/// The server on the configured store and data directory, in process.
async fn build(config: &ConsoleConfig) -> Result<Server, ConsoleBenchError> {
    let mut server_config = ServerConfig::new(&config.data_dir);
    server_config.store = Some(config.store_url.clone());
    Ok(crate::server::build(server_config).await?)
}

/// One GET through the router: its status, headers and body.
async fn get(
    server: &Server,
    path: &str,
    cookie: &str,
) -> Result<(StatusCode, axum::http::HeaderMap, bytes::Bytes), ConsoleBenchError> {
    send(server, Method::GET, path, cookie, Body::empty()).await
}

async fn send(
    server: &Server,
    method: Method,
    path: &str,
    cookie: &str,
    body: Body,
) -> Result<(StatusCode, axum::http::HeaderMap, bytes::Bytes), ConsoleBenchError> {
    let mut request = Request::builder().method(method).uri(path);
    if !cookie.is_empty() {
        request = request.header(header::COOKIE, cookie);
    }
    let request = request
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body)
        .map_err(|e| ConsoleBenchError::Failed(e.to_string()))?;
    let response = server
        .router
        .clone()
        .oneshot(request)
        .await
        .map_err(|e| ConsoleBenchError::Failed(e.to_string()))?;
    let (parts, body) = response.into_parts();
    let bytes = body
        .collect()
        .await
        .map_err(|e| ConsoleBenchError::Failed(e.to_string()))?
        .to_bytes();
    Ok((parts.status, parts.headers, bytes))
}

/// The `name=value` of a `Set-Cookie` for cookie `name`.
fn set_cookie(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .find(|pair| pair.starts_with(&format!("{name}=")))
        .map(str::to_string)
}

/// Signs in through the form, as a browser does; returns the session's cookie.
async fn sign_in(server: &Server, key: &str) -> Result<String, ConsoleBenchError> {
    let failed = |what: &str| ConsoleBenchError::Failed(format!("console sign-in: {what}"));
    let (_, headers, body) = get(server, "/console/login", "").await?;
    let login_cookie = set_cookie(&headers, "annal_console_login").ok_or_else(|| failed("no form cookie"))?;
    let page = String::from_utf8_lossy(&body);
    let marker = "name=\"csrf\" value=\"";
    let start = page.find(marker).ok_or_else(|| failed("no form token"))? + marker.len();
    let token = page[start..].split('"').next().unwrap_or_default();
    let form = serde_urlencoded::to_string([("csrf", token), ("api_key", key)])
        .map_err(|e| ConsoleBenchError::Failed(e.to_string()))?;
    let (status, headers, _) = send(server, Method::POST, "/console/login", &login_cookie, Body::from(form)).await?;
    if status != StatusCode::SEE_OTHER {
        return Err(failed(&format!("answered {status}")));
    }
    set_cookie(&headers, "annal_console").ok_or_else(|| failed("no session cookie"))
}

async fn time_page(
    server: &Server,
    session: &str,
    page: &str,
    path: &str,
    requests: usize,
    progress: &Progress,
) -> Result<PageTiming, ConsoleBenchError> {
    let mut bytes = 0;
    let mut times = Vec::with_capacity(requests);
    for n in 0..WARM_UP + requests {
        let started = Instant::now();
        let (status, _, body) = get(server, path, session).await?;
        let elapsed = started.elapsed();
        if status != StatusCode::OK {
            return Err(ConsoleBenchError::Failed(format!("GET {path}: {status}")));
        }
        bytes = body.len();
        if n >= WARM_UP {
            times.push(elapsed);
            progress(page, times.len() as u64, requests as u64);
        }
    }
    times.sort_unstable();
    let pct = |p: f64| {
        times
            .get(((times.len() as f64 * p) as usize).min(times.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    Ok(PageTiming {
        page: page.to_string(),
        path: path.to_string(),
        requests: times.len(),
        bytes,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        max_ms: times.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0),
    })
}

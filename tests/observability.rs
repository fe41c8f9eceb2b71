//! /metrics after real device and admin traffic, request log lines, and /readyz refusing when
//! the store is gone or the read models trail the log.

mod common;

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::admin::{call, create_key, get, get_text};
use common::server::{device, enroll, signed, Server, CHECKIN, COMMAND};
use hyper::Method;
use serde_json::{json, Value};

/// The value of the sample `name{labels…}` whose labels include `want`.
fn sample(text: &str, name: &str, want: &[(&str, &str)]) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|line| {
        let (series, value) = line.rsplit_once(' ')?;
        let (metric, labels) = match series.split_once('{') {
            Some((m, rest)) => (m, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        if metric != name {
            return None;
        }
        let labels: BTreeMap<&str, &str> = labels
            .split("\",")
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.trim_matches(','), v.trim_matches('"')))
            .collect();
        want.iter()
            .all(|(k, v)| labels.get(k) == Some(v))
            .then(|| value.parse().ok())?
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_describe_device_admin_store_queue_and_certificates() {
    let server = Server::start(&[]).await;
    let client = server.client();
    let key = server.api_key();
    let d = device(&server, 1);
    enroll(&client, &d).await;
    for n in 0..2 {
        let (status, body) = call(
            &client,
            Method::POST,
            "/v1/commands",
            Some(&key),
            Some(json!({"enrollments": [d.udid], "command": {"RequestType": "ProfileList"}, "command_uuid": format!("C{n}")})),
        )
        .await;
        assert!(status < 300, "{status} {body}");
    }
    let (code, reply) = signed(&client, &d, COMMAND, d.idle().unwrap().0).await;
    assert_eq!(code, 200);
    let (uuid, _, _) = annal::mdm::parse_command(&reply).unwrap();
    let uuid = uuid.unwrap();
    let ack = d.result(&uuid, "Acknowledged", Default::default());
    assert_eq!(signed(&client, &d, COMMAND, ack).await.0, 200);
    assert_eq!(signed(&client, &d, CHECKIN, b"not a plist".to_vec()).await.0, 400);

    // The read models have seen everything once the queue shows one command left.
    let deadline = Instant::now() + Duration::from_secs(10);
    let text = loop {
        let (status, text) = get_text(&client, "/metrics", &key).await;
        assert_eq!(status, 200, "{text}");
        if sample(&text, "annal_commands_pending", &[]) == Some(1.0) {
            break text;
        }
        assert!(Instant::now() < deadline, "queue depth never reached 1:\n{text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let device_requests = |t: &str, s: &str, h: &str| {
        sample(
            &text,
            "annal_device_requests_total",
            &[("message_type", t), ("status", s), ("http_status", h)],
        )
    };
    assert_eq!(device_requests("Authenticate", "", "200"), Some(1.0), "{text}");
    assert_eq!(device_requests("TokenUpdate", "", "200"), Some(1.0));
    assert_eq!(device_requests("Report", "Idle", "200"), Some(1.0));
    assert_eq!(device_requests("Report", "Acknowledged", "200"), Some(1.0));
    assert_eq!(device_requests("unknown", "", "400"), Some(1.0));
    let admin = sample(
        &text,
        "annal_http_requests_total",
        &[("method", "POST"), ("route", "/v1/commands")],
    );
    assert_eq!(admin, Some(2.0), "{text}");
    assert!(
        sample(
            &text,
            "annal_http_requests_total",
            &[("route", "/mdm"), ("status", "200")]
        )
        .unwrap()
            >= 4.0
    );
    // Authenticate, TokenUpdate, two enqueues, the delivery and the acknowledgement: at least 6
    // appends, each timed; no errors.
    let appends = sample(&text, "annal_store_append_duration_seconds_count", &[]).unwrap();
    assert!(appends >= 6.0, "{appends}");
    let slowest_bucket = sample(&text, "annal_store_append_duration_seconds_bucket", &[("le", "+Inf")]).unwrap();
    assert_eq!(slowest_bucket, appends, "a histogram, with buckets");
    assert!(sample(&text, "annal_store_append_errors_total", &[("kind", "unavailable")]).is_none());
    let lag = sample(&text, "annal_projection_lag_events", &[]).unwrap();
    assert!((0.0..5.0).contains(&lag), "{lag}");
    assert!(sample(&text, "annal_store_head_position", &[]).unwrap() >= 6.0);
    let days = |c: &str| sample(&text, "annal_certificate_expiry_seconds", &[("certificate", c)]).unwrap() / 86_400.0;
    assert!(days("ca") > 365.0, "Annal's CA: {}", days("ca"));
    assert!(days("tls") > 30.0, "the server certificate: {}", days("tls"));
    assert_eq!(sample(&text, "annal_store_up", &[]), Some(1.0));

    // Scrapers authenticate like every other caller.
    assert_eq!(client.get("/metrics").await.unwrap().status.as_u16(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_is_logged_with_method_path_status_latency_and_no_query() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("stderr.log");
    let store = format!("sqlite:{}", dir.path().join("annal.db").display());
    let file = std::fs::File::create(&log).unwrap();
    let mut server = Server::start_configured(dir.path(), &store, &["--log-format", "json"], |c| {
        c.env("ANNAL_LOG", "info").stderr(Stdio::from(file));
    })
    .await;
    let client = server.client();
    let token = "annal_secret-enrollment-token-4242";
    let a = client.get(&format!("/enroll?token={token}")).await.unwrap();
    assert!(a.status.is_client_error());
    let d = device(&server, 1);
    enroll(&client, &d).await;
    let key = server.api_key();
    assert_eq!(get(&client, "/v1/devices", &key).await.0, 200);
    server.terminate();

    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains("secret-enrollment-token"), "a query string was logged");
    assert!(!text.contains(&key), "the admin key was logged");
    let requests: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["target"] == "annal::request")
        .collect();
    let find = |path: &str| {
        requests
            .iter()
            .find(|r| r["fields"]["path"] == path)
            .unwrap_or_else(|| panic!("no request line for {path}:\n{text}"))
    };
    for (path, method) in [
        ("/enroll", "GET"),
        ("/mdm", "PUT"),
        ("/v1/devices", "GET"),
        ("/readyz", "GET"),
    ] {
        let fields = &find(path)["fields"];
        assert_eq!(fields["method"], method, "{fields}");
        assert!(fields["status"].as_u64().is_some(), "{fields}");
        assert!(fields["latency_ms"].as_f64().is_some_and(|ms| ms >= 0.0), "{fields}");
    }
    assert_eq!(find("/v1/devices")["fields"]["status"], 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_is_503_when_the_postgres_schema_is_gone() {
    let base = common::postgres_base_url();
    let schema = format!("annal_test_{}", uuid::Uuid::now_v7().simple());
    let url = annal::store::url_with_new_schema(&base, &schema).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(dir.path(), &url, &[]).await;
    let client = server.client();
    let ready = client.get("/readyz").await.unwrap();
    assert_eq!(ready.status.as_u16(), 200);

    annal::store::drop_schema(&base, &schema).await.unwrap();
    let ready = client.get("/readyz").await.unwrap();
    assert_eq!(ready.status.as_u16(), 503);
    let body: Value = serde_json::from_slice(&ready.body).unwrap();
    assert_eq!(body["status"], "unavailable", "{body}");
    // The process itself still answers: a restart would not help, a fixed database would.
    assert_eq!(client.get("/healthz").await.unwrap().status.as_u16(), 200);
}

/// Another process appends to the SQLite log; this server's read models notice only at its
/// own next append, so for a moment they trail the log: with no lag allowed, /readyz says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_is_503_while_the_read_models_trail_the_log() {
    let server = Server::start(&["--ready-max-lag", "0"]).await;
    let client = server.client();
    create_key(&server, "from-another-process", "auditor");
    let ready = client.get("/readyz").await.unwrap();
    let body: Value = serde_json::from_slice(&ready.body).unwrap();
    assert_eq!(ready.status.as_u16(), 503, "{body}");
    assert_eq!(body["status"], "lagging");
    assert_eq!(body["projection_lag"], 1);

    // The server's own next append wakes its subscribers; they catch up.
    let d = device(&server, 1);
    enroll(&client, &d).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while client.get("/readyz").await.unwrap().status.as_u16() != 200 {
        assert!(Instant::now() < deadline, "the read models did not catch up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

//! APNs pushes end to end: a real `annal serve`, a push certificate installed with the real CLI,
//! simulated devices, and the local HTTP/2 TLS mock of APNs checking each request exactly and
//! answering what the test scripts (400 / 403 / 410 / 429 / 500).

mod common;

use std::time::{Duration, Instant};

use annal::testkit::sim::{Client, VirtualDevice};
use common::admin::{call, get, get_text};
use common::push::{annal, expired_push_cert, install, mock, push_cert, serve_args, wait_received};
use common::server::{device, enroll, signed, Server, CHECKIN, TOPIC};
use hyper::Method;
use serde_json::{json, Value};

fn token_hex(d: &VirtualDevice) -> String {
    hex::encode(d.udid.as_bytes().repeat(2))
}

async fn wait_installed(client: &Client, key: &str, fingerprint: Option<&str>) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (code, status) = get(client, "/v1/push-certificate", key).await;
        assert_eq!(code, 200, "{status}");
        let matches = fingerprint.is_none_or(|f| status["fingerprint_sha256"] == f);
        if status["installed"] == true && status["usable"] == true && matches {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "the server did not load the push certificate: {status}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn push(client: &Client, key: &str, id: &str) -> (u16, Value) {
    call(client, Method::POST, &format!("/v1/push/{id}"), Some(key), None).await
}

/// The push events of a device's history: (event_type, data).
async fn push_events(client: &Client, key: &str, id: &str) -> Vec<(String, Value)> {
    let (code, history) = get(client, &format!("/v1/devices/{id}/history?limit=1000"), key).await;
    assert_eq!(code, 200);
    history["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event_type"].as_str().unwrap().starts_with("Push"))
        .map(|e| (e["event_type"].as_str().unwrap().to_owned(), e["data"].clone()))
        .collect()
}

/// Waits until the device's history holds `n` push events.
async fn wait_push_events(client: &Client, key: &str, id: &str, n: usize) -> Vec<(String, Value)> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let events = push_events(client, key, id).await;
        if events.len() >= n {
            return events;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {n} push events: {events:?}",
            events.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_reach_the_mock_exactly_and_every_answer_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let (apns, ca) = mock(dir.path()).await;
    let args = serve_args(&apns, &ca);
    let server = Server::start(&args.iter().map(String::as_str).collect::<Vec<_>>()).await;
    let (client, key) = (server.client(), server.api_key());

    // No certificate yet: the push API says so, and enqueue says it did not push.
    let d = device(&server, 1);
    enroll(&client, &d).await;
    let (code, body) = push(&client, &key, &d.udid).await;
    assert_eq!(
        (code, body["error"]["code"].as_str()),
        (500, Some("push_unavailable")),
        "{body}"
    );

    let (cert, cert_key) = push_cert(dir.path(), "push", TOPIC, 365);
    let out = install(&server, &cert, &cert_key, &["--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let installed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(installed["topic"], TOPIC);
    let status = wait_installed(&client, &key, None).await;
    assert_eq!(status["topic"], TOPIC);
    assert_eq!(status["expiring_soon"], false);
    let fingerprint = status["fingerprint_sha256"].as_str().unwrap().to_owned();

    // Enqueue pushes (coalesced per device), and the request is exactly what APNs expects.
    let body = json!({"enrollments": [d.udid], "command": {"RequestType": "DeviceInformation", "Queries": ["UDID"]}});
    let answer = client
        .send(
            Method::POST,
            "/v1/commands",
            Some("application/json"),
            &[("Authorization", &format!("Bearer {key}"))],
            serde_json::to_vec(&body).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(answer.status.as_u16(), 200);
    assert_eq!(answer.headers.get("x-annal-push").unwrap(), "requested");
    let got = wait_received(&apns, 1).await;
    let r = &got[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, format!("/3/device/{}", token_hex(&d)));
    assert_eq!(r.topic.as_deref(), Some(TOPIC));
    assert_eq!(r.push_type.as_deref(), Some("mdm"));
    assert_eq!(r.priority.as_deref(), Some("10"));
    assert_eq!(r.body, format!("{{\"mdm\":\"{}-magic\"}}", d.serial).into_bytes());
    assert_eq!(
        r.client_fingerprint, fingerprint,
        "the push certificate is the TLS client identity"
    );
    assert!(r.http2);
    let events = wait_push_events(&client, &key, &d.udid, 2).await;
    assert_eq!(events[0].0, "PushAttempted");
    assert_eq!(events[0].1["trigger"], "enqueue");
    assert_eq!(events[0].1["topic"], TOPIC);
    assert_eq!(events[1].0, "PushAccepted");
    assert_eq!(events[1].1["push_id"], events[0].1["push_id"]);
    assert!(events[1].1["apns_id"].is_string());

    // The explicit push API, NanoMDM's answer shape.
    let (code, body) = push(&client, &key, &d.udid).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["status"][&d.udid]["outcome"], "accepted");
    assert!(body["status"][&d.udid]["push_result"].is_string());

    // 429 then 500: retried with backoff under the same push_id until APNs accepts.
    apns.script(
        &token_hex(&d),
        &[(429, "TooManyRequests"), (500, "InternalServerError")],
    );
    let before = apns.count();
    // One id, not accepted (yet): NanoMDM's 500.
    let (code, body) = push(&client, &key, &d.udid).await;
    assert_eq!(code, 500);
    assert_eq!(body["status"][&d.udid]["outcome"], "retry");
    assert_eq!(body["status"][&d.udid]["http_status"], 429);
    let events = wait_push_events(&client, &key, &d.udid, 4 + 6).await;
    let retried: Vec<&(String, Value)> = events[4..].iter().collect();
    let attempts: Vec<u64> = retried
        .iter()
        .filter(|(t, _)| t == "PushAttempted")
        .map(|(_, d)| d["attempt"].as_u64().unwrap())
        .collect();
    assert_eq!(attempts, vec![1, 2, 3]);
    assert!(retried.iter().all(|(_, d)| d["push_id"] == retried[0].1["push_id"]));
    let failed: Vec<u64> = retried
        .iter()
        .filter(|(t, _)| t == "PushFailed")
        .map(|(_, d)| d["status"].as_u64().unwrap())
        .collect();
    assert_eq!(failed, vec![429, 500]);
    assert_eq!(retried.last().unwrap().0, "PushAccepted");
    assert_eq!(apns.count(), before + 3);

    // 410 Unregistered: the token is dead; no more pushes until the next TokenUpdate.
    apns.script(&token_hex(&d), &[(410, "Unregistered")]);
    let (code, body) = push(&client, &key, &d.udid).await;
    assert_eq!(code, 500);
    assert_eq!(body["status"][&d.udid]["outcome"], "token_dead");
    let sent = apns.count();
    let (code, body) = push(&client, &key, &d.udid).await;
    assert_eq!(code, 500);
    assert_eq!(body["status"][&d.udid]["error"]["code"], "conflict", "{body}");
    assert_eq!(apns.count(), sent, "a dead token is not pushed");
    let (_, health) = get(&client, &format!("/v1/devices/{}/push", d.udid), &key).await;
    assert_eq!(health["token_dead"], true, "{health}");
    assert_eq!(signed(&client, &d, CHECKIN, d.token_update(TOPIC)).await.0, 200);
    assert_eq!(push(&client, &key, &d.udid).await.0, 200);

    // 400 BadDeviceToken is a dead token too.
    apns.script(&token_hex(&d), &[(400, "BadDeviceToken")]);
    let (_, body) = push(&client, &key, &d.udid).await;
    assert_eq!(body["status"][&d.udid]["outcome"], "token_dead");
    assert_eq!(signed(&client, &d, CHECKIN, d.token_update(TOPIC)).await.0, 200);

    // 403: APNs refuses the certificate. Pushing stops (no hammering), the alarm is raised.
    apns.answer_all(Some((403, "BadCertificate")));
    let (code, body) = push(&client, &key, &d.udid).await;
    assert_eq!(code, 500);
    assert_eq!(body["status"][&d.udid]["outcome"], "certificate_rejected");
    let sent = apns.count();
    let (code, body) = push(&client, &key, &d.udid).await;
    assert_eq!(code, 500, "{body}");
    assert!(body["status"][&d.udid]["push_error"]
        .as_str()
        .unwrap()
        .contains("suspended"));
    assert!(body["error"]["message"].as_str().unwrap().contains("suspended"));
    let (_, status) = get(&client, "/v1/push-certificate", &key).await;
    assert!(
        status["suspended"]["reason"].as_str().unwrap().contains("403"),
        "{status}"
    );
    let (_, metrics) = get_text(&client, "/metrics", &key).await;
    assert!(metrics.contains("annal_push_certificate_alarm 1"), "{metrics}");
    assert!(
        metrics.contains("annal_push_total{outcome=\"certificate_rejected\"} 1"),
        "{metrics}"
    );
    assert_eq!(apns.count(), sent);
    // After the suspension the next push probes; APNs accepts again and the alarm clears.
    apns.answer_all(None);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(push(&client, &key, &d.udid).await.0, 200);
    let (_, metrics) = get_text(&client, "/metrics", &key).await;
    assert!(metrics.contains("annal_push_certificate_alarm 0"), "{metrics}");

    // A device enrolling with another topic could never be pushed: refused, nothing recorded.
    let other = device(&server, 2);
    let (code, _) = signed(&client, &other, CHECKIN, other.authenticate("com.apple.mgmt.other")).await;
    assert_eq!(code, 403);
    let (_, history) = get(&client, &format!("/v1/devices/{}/history", other.udid), &key).await;
    assert_eq!(history["events"].as_array().map(Vec::len).unwrap_or(0), 0, "{history}");
    // So is an enrolled device's TokenUpdate for another topic (a push token nobody can use).
    let before = store_head(&server).await;
    let (code, text) = signed(&client, &d, CHECKIN, d.token_update("com.apple.mgmt.other")).await;
    assert_eq!(code, 403);
    assert!(String::from_utf8_lossy(&text).contains("TokenUpdate names the push topic com.apple.mgmt.other"));
    assert_eq!(
        store_head(&server).await,
        before,
        "the refused TokenUpdate appended an event"
    );

    // Everything went over one HTTP/2 connection.
    assert_eq!(apns.connections(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_cert_install_refuses_mistakes_and_inspect_reads_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&[]).await;
    let client = server.client();
    let d = device(&server, 1);
    enroll(&client, &d).await;

    let (cert, key) = push_cert(dir.path(), "push", TOPIC, 365);
    let out = annal(&server, &["push-cert", "inspect", cert.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["topic"], TOPIC);
    assert_eq!(shown["key_matches"], Value::Null);
    assert!(shown["issuer"].as_str().unwrap().contains("APSP:push"));
    let out = annal(
        &server,
        &[
            "push-cert",
            "inspect",
            cert.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
        ],
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("belongs to the certificate"));

    // The wrong key, an expired certificate: refused, nothing installed.
    let (_, other_key) = push_cert(dir.path(), "other", TOPIC, 365);
    let out = install(&server, &cert, &other_key, &[]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("does not belong"),
        "{out:?}"
    );
    let (expired, expired_key) = expired_push_cert(dir.path(), TOPIC);
    let out = install(&server, &expired, &expired_key, &[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("expired"), "{out:?}");

    // A certificate in its last 30 days installs with a warning; the API and metrics say so.
    let (soon, soon_key) = push_cert(dir.path(), "soon", TOPIC, 10);
    let out = install(&server, &soon, &soon_key, &[]);
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("expires in 9 days"),
        "{out:?}"
    );
    let status = wait_installed(&client, &server.api_key(), None).await;
    assert_eq!(
        (status["expiring_soon"].as_bool(), status["days_left"].as_i64()),
        (Some(true), Some(9))
    );
    let (_, metrics) = get_text(&client, "/metrics", &server.api_key()).await;
    assert!(metrics.contains("annal_push_certificate_expiring 1"), "{metrics}");

    assert!(install(&server, &cert, &key, &[]).status.success());
    // A renewal under another topic would orphan the enrolled device: refused unless forced.
    let (renewal, renewal_key) = push_cert(dir.path(), "renewal", "com.apple.mgmt.External.other", 365);
    let out = install(&server, &renewal, &renewal_key, &[]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains(TOPIC));
    // Same topic: a renewal installs.
    let (same, same_key) = push_cert(dir.path(), "same", TOPIC, 365);
    let out = install(&server, &same, &same_key, &["--json"]);
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (v["replaced_topic"].as_str(), v["forced"].as_bool()),
        (Some(TOPIC), Some(false))
    );
    let out = install(&server, &renewal, &renewal_key, &["--force", "--json"]);
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["forced"], true);

    // The log holds the installs, the key sealed: never a private key in clear.
    let (_, events) = get_text(&client, "/v1/events?types=PushCertificateInstalled", &server.api_key()).await;
    assert_eq!(events.lines().count(), 4, "{events}");
    assert!(!events.contains("PRIVATE KEY"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_devices_with_pending_commands_are_re_pushed() {
    let dir = tempfile::tempdir().unwrap();
    let (apns, ca) = mock(dir.path()).await;
    let mut args = serve_args(&apns, &ca);
    args.extend(["--repush-interval-secs".into(), "2".into()]);
    let server = Server::start(&args.iter().map(String::as_str).collect::<Vec<_>>()).await;
    let (client, key) = (server.client(), server.api_key());
    let (cert, cert_key) = push_cert(dir.path(), "push", TOPIC, 365);
    assert!(install(&server, &cert, &cert_key, &[]).status.success());
    wait_installed(&client, &key, None).await;
    let d = device(&server, 1);
    enroll(&client, &d).await;
    // Queued without a push: only the periodic re-push can wake the device.
    let body = json!({"enrollments": [d.udid], "push": false,
        "command": {"RequestType": "DeviceInformation", "Queries": ["UDID"]}});
    let (code, _) = call(&client, Method::POST, "/v1/commands", Some(&key), Some(body)).await;
    assert_eq!(code, 200);
    let got = wait_received(&apns, 1).await;
    assert_eq!(got[0].path, format!("/3/device/{}", token_hex(&d)));
    let events = wait_push_events(&client, &key, &d.udid, 2).await;
    assert_eq!(events[0].1["trigger"], "repush");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_multiplexes_concurrent_pushes_on_one_connection() {
    let dir = tempfile::tempdir().unwrap();
    let (apns, _) = mock(dir.path()).await;
    let (cert, key) = push_cert(dir.path(), "push", TOPIC, 365);
    let cert =
        annal::push::PushCertificate::load(&std::fs::read(cert).unwrap(), Some(&std::fs::read(key).unwrap()), "")
            .unwrap();
    let mut config = annal::push::ApnsConfig::new(apns.base_url());
    config.extra_roots = vec![apns.ca_der.clone()];
    config.only_extra_roots = true;
    config.concurrency = 100;
    let client = std::sync::Arc::new(annal::push::ApnsClient::new(&cert, &config).unwrap());
    apns.script("0badc0de", &[(500, "InternalServerError")]);
    let answers = futures::future::join_all((0..300u32).map(|i| {
        let client = client.clone();
        async move {
            let token = if i == 7 {
                "0badc0de".to_owned()
            } else {
                format!("{i:08x}")
            };
            client.push(&token, &format!("magic-{i}")).await.unwrap()
        }
    }))
    .await;
    assert_eq!(apns.connections(), 1);
    assert_eq!(apns.count(), 300);
    assert_eq!(answers.iter().filter(|a| a.status == 200).count(), 299);
    assert_eq!(answers[7].status, 500);
    assert_eq!(answers[7].reason.as_deref(), Some("InternalServerError"));
    assert!(answers.iter().all(|a| a.apns_id.is_some()));
    let received = apns.received();
    let r = received.iter().find(|r| r.path == "/3/device/0000002a").unwrap();
    assert_eq!(r.body, b"{\"mdm\":\"magic-42\"}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_certificate_stops_a_fan_out_after_one_turn() {
    let dir = tempfile::tempdir().unwrap();
    let (apns, ca) = mock(dir.path()).await;
    let mut args = serve_args(&apns, &ca);
    let suspend = args.iter().position(|a| a == "--push-suspend-secs").unwrap();
    args[suspend + 1] = "30".into();
    args.extend(["--push-concurrency".into(), "4".into()]);
    let server = Server::start(&args.iter().map(String::as_str).collect::<Vec<_>>()).await;
    let (client, key) = (server.client(), server.api_key());
    let (cert, cert_key) = push_cert(dir.path(), "push", TOPIC, 365);
    assert!(install(&server, &cert, &cert_key, &[]).status.success());
    wait_installed(&client, &key, None).await;
    let devices: Vec<VirtualDevice> = (0..40).map(|i| device(&server, i)).collect();
    for d in &devices {
        enroll(&client, d).await;
    }
    apns.answer_all(Some((403, "BadCertificate")));
    let ids: Vec<&str> = devices.iter().map(|d| d.udid.as_str()).collect();
    let body = json!({"enrollments": ids, "command": {"RequestType": "DeviceInformation", "Queries": ["UDID"]}});
    let (code, _) = call(&client, Method::POST, "/v1/commands", Some(&key), Some(body)).await;
    assert_eq!(code, 200);
    wait_received(&apns, 1).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    // At most the pushes that already had a turn on the connection went out: not the fleet.
    let sent = apns.count();
    assert!(
        sent <= 8,
        "{sent} of 40 pushes reached APNs after it refused the certificate"
    );
    let (_, status) = get(&client, "/v1/push-certificate", &key).await;
    assert!(status["suspended"].is_object(), "{status}");
    assert_eq!(
        status["waiting"].as_u64().unwrap() + sent,
        40,
        "the rest wait for the suspension to end: {status}"
    );
}

async fn store_head(server: &Server) -> u64 {
    let store = annal::store::open(&server.store_url.parse().unwrap()).await.unwrap();
    store.head().await.unwrap().position
}

/// APNs out of reach (a firewall, DNS, a dead proxy): every failed push is counted by class,
/// the outage is logged when it starts, the alarm is raised once it lasts, and no command is
/// shown as pushed.
#[tokio::test]
async fn an_unreachable_apns_is_logged_counted_and_alarmed() {
    let dir = tempfile::tempdir().unwrap();
    let (_apns, ca) = mock(dir.path()).await;
    // Nothing listens there: every push ends without an answer.
    let closed = format!("https://127.0.0.1:{}", common::server::free_port());
    let ca = ca.display().to_string();
    let args = [
        "--apns-url",
        closed.as_str(),
        "--apns-ca-file",
        ca.as_str(),
        "--push-backoff-max-secs",
        "1",
        "--push-max-attempts",
        "4",
        "--push-unreachable-alarm-secs",
        "1",
    ];
    let log = dir.path().join("server.log");
    let file = std::fs::File::create(&log).unwrap();
    let data = tempfile::tempdir().unwrap();
    let store = format!("sqlite://{}", data.path().join("annal.db").display());
    let server = Server::start_configured(data.path(), &store, &args, |c| {
        c.stderr(file).env("ANNAL_LOG", "info");
    })
    .await;
    let (client, key) = (server.client(), server.api_key());
    let (cert, cert_key) = push_cert(dir.path(), "push", TOPIC, 365);
    assert!(install(&server, &cert, &cert_key, &[]).status.success());
    wait_installed(&client, &key, None).await;
    let d = device(&server, 1);
    enroll(&client, &d).await;
    let body = json!({"enrollments": [d.udid], "command": {"RequestType": "DeviceInformation", "Queries": ["UDID"]}});
    let (code, queued) = call(&client, Method::POST, "/v1/commands", Some(&key), Some(body)).await;
    assert_eq!(code, 200, "{queued}");
    let uuid = queued["command_uuid"].as_str().unwrap().to_owned();

    let deadline = Instant::now() + Duration::from_secs(30);
    let metrics = loop {
        let (_, metrics) = get_text(&client, "/metrics", &key).await;
        if metrics.lines().any(|l| l == "annal_push_apns_alarm 1") {
            break metrics;
        }
        assert!(Instant::now() < deadline, "no alarm:\n{metrics}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let unanswered: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("annal_push_failures_total{class=\"unreachable\"} "))
        .expect("failures counted by class")
        .parse()
        .unwrap();
    assert!(unanswered >= 2.0, "{metrics}");
    assert!(metrics
        .lines()
        .any(|l| l.starts_with("annal_push_apns_unreachable_seconds ")));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("APNs does not answer"), "{text}");
    assert!(text.contains("APNs has not answered for minutes"), "{text}");
    // Every attempt failed: the command was never pushed, whatever was attempted.
    let (_, status) = get(&client, &format!("/v1/commands/{uuid}"), &key).await;
    assert_eq!(status["devices"][0]["pushed_at"], Value::Null, "{status}");
    let attempts = push_events(&client, &key, &d.udid).await;
    assert!(attempts.iter().all(|(t, _)| t != "PushAccepted"), "{attempts:?}");
    assert!(attempts.iter().any(|(t, _)| t == "PushFailed"), "{attempts:?}");
}

//! The web console in a real browser: Debian's Chromium, driven by playwright-core from Node
//! (tests/browser/console.mjs), against a real `annal serve` over HTTPS whose pushes go to a mock
//! APNs that wakes simulated iPads, which then answer their commands.
//!
//! The driver signs in as an admin, finds a device by its serial number, reads its history,
//! locks it with a reason and sees the delivery and the device's Acknowledged arrive on a page
//! it never reloads (and the overview's counters move), views the fleet as of before the lock,
//! exports the audit trail and finds the lock with its actor and reason; signs in as an auditor
//! and finds no lock button, and a forged POST with that session refused 403; and shows a device
//! named `<img src=x onerror=alert(1)>` as text, with no dialog and no img element. Any dialog,
//! page error or console error (a CSP violation is one) fails it.
//!
//! Chromium, Node and playwright-core are installed by ops/install-test-deps.sh; without them
//! this test fails (it never skips), naming what is missing. With ANNAL_WRITE_SCREENSHOTS=1 the
//! driver saves the main pages to docs/console/*.png.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use annal::testkit::apns_mock::MockApns;
use annal::testkit::sim::{Fleet, Wakers};
use common::admin::{call, create_key, get};
use common::push::{install, mock, push_cert, serve_args};
use common::server::{device, signed, sim_config, Server, CHECKIN, COMMAND, TOPIC};
use hyper::Method;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

/// Keep in step with ops/install-test-deps.sh.
const PLAYWRIGHT_CORE_VERSION: &str = "1.65.2";
const CHROMIUM: &str = "/usr/bin/chromium";
const HOSTILE: &str = "<img src=x onerror=alert(1)>";
/// What the hostile device answers DeviceInformation with while its page is open.
const HOSTILE_ANSWER: &str = "\"><svg onload=alert(2)>";
const DEVICES: usize = 3;
/// How long the server side may take to settle a step (push, device session).
const DEADLINE: Duration = Duration::from_secs(20);
/// How long the whole browser run may take.
const DRIVER_LIMIT: Duration = Duration::from_secs(90);
/// The steps the driver must report, in order.
const STEPS: [&str; 8] = [
    "sign in as admin",
    "find the device by its serial number",
    "read the device history",
    "lock it with a reason; delivery and acknowledgement arrive live",
    "view the fleet as of before the lock",
    "export the audit trail with the lock, its actor and reason",
    "an auditor has no lock button and a forged POST is refused",
    "a hostile device name renders as text",
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Where ops/install-test-deps.sh put playwright-core.
fn playwright_core() -> PathBuf {
    let tools = std::env::var("ANNAL_TEST_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            let cache = std::env::var("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache"));
            cache.join("annal-test-tools")
        });
    tools.join(format!("playwright-core-{PLAYWRIGHT_CORE_VERSION}"))
}

/// Fails, naming the fix, when the browser, Node or the driver library is missing.
fn require_tools() -> PathBuf {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: run ops/install-test-deps.sh (Debian's chromium)"
    );
    let node = std::process::Command::new("node").arg("--version").output();
    assert!(
        node.as_ref().is_ok_and(|o| o.status.success()),
        "node is missing: run ops/install-test-deps.sh ({node:?})"
    );
    let playwright = playwright_core();
    assert!(
        playwright.join("node_modules/playwright-core/package.json").exists(),
        "playwright-core {PLAYWRIGHT_CORE_VERSION} is missing under {}: run ops/install-test-deps.sh",
        playwright.display()
    );
    playwright
}

/// Relays each push the mock APNs receives to the simulated device it is for, as APNs wakes
/// a device; stops when dropped.
struct Relay(tokio::task::JoinHandle<()>);

impl Relay {
    fn start(apns: MockApns, wakers: Wakers) -> Relay {
        Relay(tokio::spawn(async move {
            let mut seen = 0;
            loop {
                let got = apns.received();
                for push in got.iter().skip(seen) {
                    if let Some(token) = push.path.strip_prefix("/3/device/") {
                        wakers.wake(token);
                    }
                }
                seen = got.len();
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }))
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Polls `probe` until it answers Ok, for at most `DEADLINE`.
async fn eventually<T>(what: &str, mut probe: impl AsyncFnMut() -> Result<T, String>) -> T {
    let started = Instant::now();
    loop {
        match probe().await {
            Ok(value) => return value,
            Err(why) if started.elapsed() > DEADLINE => panic!("{what}: not after {DEADLINE:?}: {why}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// The hostile device is asked DeviceInformation and answers with another hostile name, while
/// the driver watches its page.
async fn hostile_answers(
    client: &annal::testkit::sim::Client,
    key: &str,
    hostile: &annal::testkit::sim::VirtualDevice,
) {
    let (status, answer) = call(
        client,
        Method::POST,
        "/v1/commands",
        Some(key),
        Some(json!({"enrollments": [hostile.udid], "command": {"RequestType": "DeviceInformation", "Queries": ["DeviceName"]}})),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let (idle, _) = hostile.idle().expect("an Idle");
    let (status, command) = signed(client, hostile, COMMAND, idle).await;
    assert_eq!(status, 200);
    let command: plist::Dictionary = plist::from_bytes(&command).expect("a command");
    let uuid = command["CommandUUID"].as_string().expect("CommandUUID");
    let mut responses = plist::Dictionary::new();
    responses.insert("DeviceName".into(), plist::Value::String(HOSTILE_ANSWER.into()));
    let mut report = plist::Dictionary::new();
    report.insert("QueryResponses".into(), plist::Value::Dictionary(responses));
    let (status, _) = signed(client, hostile, COMMAND, hostile.result(uuid, "Acknowledged", report)).await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_in_chromium() {
    let playwright = require_tools();
    rustls::crypto::aws_lc_rs::default_provider().install_default().ok();
    let dir = tempfile::tempdir().expect("tmp");
    let (apns, apns_ca) = mock(dir.path()).await;
    let args = serve_args(&apns, &apns_ca);
    let server = Server::start(&args.iter().map(String::as_str).collect::<Vec<_>>()).await;
    let (cert, cert_key) = push_cert(dir.path(), "push", TOPIC, 365);
    let out = install(&server, &cert, &cert_key, &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (client, bootstrap) = (server.client(), server.api_key());
    eventually("the server loads the push certificate", async || {
        let (_, status) = get(&client, "/v1/push-certificate", &bootstrap).await;
        (status["usable"] == true).then_some(()).ok_or(status.to_string())
    })
    .await;
    let admin_key = create_key(&server, "alice", "admin");
    let auditor_key = create_key(&server, "carol", "auditor");

    // Simulated iPads that answer pushes; and one device named to attack the page.
    let config = annal::testkit::sim::SimConfig {
        not_now_percent: 0,
        ..sim_config(&server, DEVICES, 0)
    };
    let mut fleet = Fleet::enroll(&config, &server.ca()).await.expect("enrolled");
    fleet.listen(Duration::from_secs(30));
    let _relay = Relay::start(apns.clone(), fleet.wakers());
    let hostile = device(&server, 900);
    let mut authenticate: plist::Dictionary = plist::from_bytes(&hostile.authenticate(TOPIC)).expect("plist");
    authenticate.insert("DeviceName".into(), plist::Value::String(HOSTILE.into()));
    for body in [annal::testkit::sim::encode(authenticate), hostile.token_update(TOPIC)] {
        assert_eq!(signed(&client, &hostile, CHECKIN, body).await.0, 200);
    }

    // The devices answer DeviceInformation first, so they have names, answers and a history.
    let udids: Vec<String> = fleet.devices().iter().map(|d| d.udid.clone()).collect();
    let (status, answer) = call(
        &client,
        Method::POST,
        "/v1/commands",
        Some(&admin_key),
        Some(json!({
            "enrollments": udids,
            "command": {"RequestType": "DeviceInformation", "Queries": ["DeviceName", "OSVersion", "ProductName", "ModelName", "SerialNumber", "BatteryLevel"]}
        })),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    for udid in &udids {
        eventually("each device answers DeviceInformation", async || {
            let (_, d) = get(&client, &format!("/v1/devices/{udid}"), &admin_key).await;
            (d["device_name"].is_string() && d["pending_commands"] == 0)
                .then_some(())
                .ok_or(d.to_string())
        })
        .await;
    }
    let target = &fleet.devices()[1];

    let screenshots = std::env::var("ANNAL_WRITE_SCREENSHOTS").is_ok_and(|v| v == "1");
    let shots_dir = root().join("docs/console");
    if screenshots {
        std::fs::create_dir_all(&shots_dir).expect("docs/console");
    }
    let started = Instant::now();
    let mut driver = tokio::process::Command::new("node");
    driver
        .arg(root().join("tests/browser/console.mjs"))
        .env("ANNAL_URL", &server.base)
        .env("ANNAL_ADMIN_KEY", &admin_key)
        .env("ANNAL_ADMIN_NAME", "alice")
        .env("ANNAL_AUDITOR_KEY", &auditor_key)
        .env("ANNAL_DEVICE_UDID", &target.udid)
        .env("ANNAL_DEVICE_SERIAL", &target.serial)
        .env("ANNAL_HOSTILE_UDID", &hostile.udid)
        .env("PLAYWRIGHT_CORE", &playwright)
        .env("CHROMIUM", CHROMIUM)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if screenshots {
        driver.env("ANNAL_SCREENSHOTS", &shots_dir);
    }
    let mut child = driver.spawn().expect("node runs the driver");
    let mut stdin = child.stdin.take().expect("the driver's stdin");
    let mut lines = BufReader::new(child.stdout.take().expect("the driver's stdout")).lines();
    let mut stderr = child.stderr.take().expect("the driver's stderr");
    let stderr = tokio::spawn(async move {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text).await;
        text
    });
    // The driver's output, answering what it asks for along the way.
    let talk = async {
        let mut stdout = String::new();
        while let Some(line) = lines.next_line().await.expect("the driver's output") {
            stdout.push_str(&line);
            stdout.push('\n');
            if line == "need: hostile-answer" {
                hostile_answers(&client, &admin_key, &hostile).await;
                stdin.write_all(b"done\n").await.expect("answer the driver");
            }
        }
        stdout
    };
    let stdout = tokio::time::timeout(DRIVER_LIMIT, talk)
        .await
        .unwrap_or_else(|_| panic!("the browser driver did not finish within {DRIVER_LIMIT:?}"));
    let status = child.wait().await.expect("the driver ends");
    let stderr = stderr.await.unwrap_or_default();
    eprintln!("browser driver ({:.1?}):\n{stdout}{stderr}", started.elapsed());
    assert!(status.success(), "the browser driver failed:\n{stdout}\n{stderr}");
    let reported: Vec<&str> = stdout.lines().filter_map(|l| l.strip_prefix("ok: ")).collect();
    assert_eq!(reported, STEPS, "every step, in order");
    assert!(stdout.contains("console browser suite: every step passed"));

    // What the browser did is in the log: one lock, under alice's name, with the reason, and
    // acknowledged; the auditor's forged POST queued nothing.
    let (_, audit) = get(&client, "/v1/audit?request_type=DeviceLock", &admin_key).await;
    let entries = audit["entries"]
        .as_array()
        .or_else(|| audit.as_array())
        .cloned()
        .unwrap_or_default();
    assert_eq!(entries.len(), 1, "{audit}");
    let lock: &Value = &entries[0];
    assert_eq!(lock["requester"], "api-key:alice", "{lock}");
    assert_eq!(lock["reason"], "Reported lost on the train (browser test)", "{lock}");
    assert_eq!(lock["enrollment"], target.udid.as_str(), "{lock}");
    assert_eq!(lock["status"], "acknowledged", "{lock}");
    fleet.stop().await;
}

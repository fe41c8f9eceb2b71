//! Declarative Device Management end to end: a real `annal serve` over HTTPS, pushes to the
//! mock APNs relayed to simulated iPads (`testkit::sim::Fleet`) that sync their declarations,
//! check them as iOS does and report their status. Declarations and assignments change through
//! the admin API; the devices, the fleet view, the export and the history must follow.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use annal::testkit::apns_mock::MockApns;
use annal::testkit::sim::{Client, Fleet, VirtualDevice, Wakers, OS_VERSION};
use common::admin::{call, get, get_text};
use common::push::{install, mock, push_cert, serve_args};
use common::server::{device, enroll, signed, sim_config, Server, CHECKIN, TOPIC};
use hyper::Method;
use serde_json::{json, Value};

const DEVICES: usize = 5;
/// How long any change may take to reach every device and come back as status.
const DEADLINE: Duration = Duration::from_secs(60);
/// A listening device polls this often when no push wakes it: long, so that it is the pushes
/// that bring the devices in.
const POLL: Duration = Duration::from_secs(20);
const TARGET_OS: &str = "18.2";
const SCREEN_SHARING: &str = "com.apple.configuration.screensharing.host.settings";

/// Polls `probe` until it answers Ok, for at most `DEADLINE`; a timeout names what was
/// awaited and the last reason it was not there yet.
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

struct Harness {
    _server: Server,
    client: Client,
    key: String,
    apns: MockApns,
    fleet: Fleet,
    _relay: Relay,
    _dir: tempfile::TempDir,
}

impl Harness {
    /// A server pushing through the mock APNs, and `devices` simulated iPads enrolled and
    /// listening.
    async fn start(devices: usize) -> Harness {
        Harness::start_as(devices, annal::testkit::sim::WireProfile::default()).await
    }

    /// As `start`, the devices behaving on the wire as `wire` says.
    async fn start_as(devices: usize, wire: annal::testkit::sim::WireProfile) -> Harness {
        rustls::crypto::aws_lc_rs::default_provider().install_default().ok();
        let dir = tempfile::tempdir().expect("tmp");
        let (apns, apns_ca) = mock(dir.path()).await;
        let args = serve_args(&apns, &apns_ca);
        let server = Server::start(&args.iter().map(String::as_str).collect::<Vec<_>>()).await;
        let (cert, cert_key) = push_cert(dir.path(), "push", TOPIC, 30);
        let out = install(&server, &cert, &cert_key, &[]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        // The running server loads it on its own; until then it has no topic to push to.
        let (client, key) = (server.client(), server.api_key());
        eventually("the server loads the push certificate", async || {
            let (_, status) = get(&client, "/v1/push-certificate", &key).await;
            (status["usable"] == true).then_some(()).ok_or(status.to_string())
        })
        .await;
        let config = annal::testkit::sim::SimConfig {
            not_now_percent: 0,
            wire,
            ..sim_config(&server, devices, 0)
        };
        let mut fleet = Fleet::enroll(&config, &server.ca()).await.expect("enrolled");
        fleet.listen(POLL);
        let relay = Relay::start(apns.clone(), fleet.wakers());
        Harness {
            client,
            key,
            _server: server,
            apns,
            fleet,
            _relay: relay,
            _dir: dir,
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        call(&self.client, method, path, Some(&self.key), body).await
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        get(&self.client, path, &self.key).await
    }

    /// Defines (or replaces) a declaration; returns its ServerToken.
    async fn define(&self, identifier: &str, declaration_type: &str, payload: Value) -> String {
        let body = json!({"Type": declaration_type, "Payload": payload, "reason": "ddm e2e"});
        let (status, answer) = self
            .call(Method::PUT, &format!("/v1/declarations/{identifier}"), Some(body))
            .await;
        assert_eq!(status, 200, "{answer}");
        answer["server_token"].as_str().expect("server_token").to_owned()
    }

    /// Assigns a declaration; returns the assignment's id.
    async fn assign(&self, identifier: &str, target: Value) -> String {
        let (status, answer) = self
            .call(
                Method::POST,
                &format!("/v1/declarations/{identifier}/assignments"),
                Some(target),
            )
            .await;
        assert!(status == 200 || status == 201, "{status} {answer}");
        answer["assignment_id"].as_str().expect("assignment_id").to_owned()
    }

    fn devices(&self) -> Vec<&VirtualDevice> {
        self.fleet.devices().iter().map(|d| d.as_ref()).collect()
    }

    /// Waits until every device's view says its set was given to it and every declaration is
    /// in force with the expected ServerToken.
    async fn converged(&self, devices: &[&VirtualDevice], expected: &BTreeMap<&str, String>) {
        for d in devices {
            let path = format!("/v1/devices/{}/declarations", d.udid);
            eventually(&format!("{} converged on {expected:?}", d.udid), async || {
                let (status, view) = self.get(&path).await;
                if status != 200 {
                    return Err(format!("{status} {view}"));
                }
                check_in_force(&view, expected)
            })
            .await;
        }
    }

    /// The simulator's report once it counts `n` status reports: a device counts one when the
    /// server has answered it, which may be just after the server shows it.
    async fn counted(&self, n: u64) -> annal::testkit::sim::SimReport {
        eventually(&format!("{n} status reports counted"), async || {
            let report = self.fleet.report();
            (report.status_reports == n)
                .then_some(report.clone())
                .ok_or(format!("{report:?}"))
        })
        .await
    }

    /// Every DDM endpoint one device asked for, in order (a status report is recorded as
    /// `DeclarationStatusReported`).
    async fn ddm_requests(&self, udid: &str) -> Vec<String> {
        let (status, history) = self.get(&format!("/v1/devices/{udid}/history?limit=1000")).await;
        assert_eq!(status, 200, "{history}");
        history["events"]
            .as_array()
            .expect("events")
            .iter()
            .filter_map(|e| match e["event_type"].as_str() {
                Some("DeclarativeManagement") => e["data"]["endpoint"].as_str().map(str::to_owned),
                Some("DeclarationStatusReported") => Some("status".to_owned()),
                _ => None,
            })
            .collect()
    }
}

/// Ok when the view has exactly the expected declarations, each reported for its current
/// ServerToken, valid and active, and the set was given to the device.
fn check_in_force(view: &Value, expected: &BTreeMap<&str, String>) -> Result<(), String> {
    if view["in_sync"] != true {
        return Err(format!("not in sync: {view}"));
    }
    let declarations = view["declarations"].as_array().ok_or("no declarations")?;
    let found: BTreeMap<&str, &Value> = declarations
        .iter()
        .filter_map(|d| Some((d["identifier"].as_str()?, d)))
        .collect();
    if found.keys().copied().ne(expected.keys().copied()) {
        return Err(format!("the set is {:?}", found.keys()));
    }
    for (identifier, d) in found {
        let in_force = d["state"] == "reported" && d["valid"] == "valid" && d["active"] == true;
        if !in_force || d["server_token"] != expected[identifier].as_str() {
            return Err(format!("{identifier}: {d}"));
        }
    }
    Ok(())
}

fn summary<'a>(fleet: &'a Value, identifier: &str) -> Option<&'a Value> {
    fleet["declarations"]
        .as_array()?
        .iter()
        .find(|d| d["identifier"] == identifier)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulated_devices_sync_report_and_follow_every_change() {
    let started = Instant::now();
    let h = Harness::start(DEVICES).await;
    let ready = started.elapsed();
    let devices = h.devices();

    // A baseline: a passcode policy and a software update, activated on every iPad on 18.x.
    let mut expected = BTreeMap::new();
    expected.insert(
        "cfg.passcode",
        h.define(
            "cfg.passcode",
            "com.apple.configuration.passcode.settings",
            json!({"MinimumLength": 6}),
        )
        .await,
    );
    expected.insert(
        "cfg.su",
        h.define(
            "cfg.su",
            "com.apple.configuration.softwareupdate.enforcement.specific",
            json!({"TargetOSVersion": TARGET_OS, "TargetLocalDateTime": "2027-01-01T10:00:00"}),
        )
        .await,
    );
    expected.insert(
        "act.baseline",
        h.define(
            "act.baseline",
            "com.apple.activation.simple",
            json!({"StandardConfigurations": ["cfg.passcode", "cfg.su"]}),
        )
        .await,
    );
    h.assign(
        "act.baseline",
        json!({"filter": {"model": "iPad", "os_version": "18"}, "reason": "baseline"}),
    )
    .await;
    h.converged(&devices, &expected).await;
    let baseline_took = started.elapsed();

    // The fleet view counts every device in force and the update each is downloading.
    let fleet = eventually("the fleet view counts the baseline", async || {
        let (status, fleet) = h.get("/v1/declarations/status").await;
        let all_in_force = ["cfg.passcode", "cfg.su", "act.baseline"]
            .iter()
            .all(|id| summary(&fleet, id).is_some_and(|s| s["valid"] == DEVICES && s["active"] == DEVICES));
        (status == 200 && fleet["reporting"] == DEVICES && all_in_force)
            .then_some(fleet.clone())
            .ok_or(format!("{status} {fleet}"))
    })
    .await;
    assert_eq!(fleet["devices"], DEVICES, "{fleet}");
    assert_eq!(fleet["softwareupdate_pending_versions"], json!({TARGET_OS: DEVICES}));
    assert_eq!(fleet["softwareupdate_install_states"], json!({"downloading": DEVICES}));
    assert_eq!(fleet["os_versions"], json!({OS_VERSION: DEVICES}));
    assert_eq!(fleet["passcode_compliant"], json!({"true": DEVICES}));
    for id in ["cfg.passcode", "cfg.su", "act.baseline"] {
        let s = summary(&fleet, id).expect("summary");
        assert_eq!(
            (&s["devices"], &s["pending"], &s["stale"], &s["invalid"], &s["inactive"]),
            (&json!(DEVICES), &json!(0), &json!(0), &json!(0), &json!(0)),
            "{s}"
        );
    }
    // Each device was woken by a push (the mock's), and fetched each declaration once.
    let pushed: Vec<String> = h.apns.received().iter().map(|p| p.path.to_lowercase()).collect();
    for d in &devices {
        let path = format!("/3/device/{}", hex::encode(d.push_token()));
        assert!(pushed.contains(&path), "no push for {}: {pushed:?}", d.udid);
    }
    let report = h.counted(DEVICES as u64).await;
    assert_eq!(report.declarations_fetched, 3 * DEVICES as u64, "{report:?}");
    assert_eq!(report.errors, 0);

    // A stricter passcode: every device fetches that declaration again, and nothing else.
    let before = h.fleet.report();
    let changed = h
        .define(
            "cfg.passcode",
            "com.apple.configuration.passcode.settings",
            json!({"MinimumLength": 8}),
        )
        .await;
    assert_ne!(changed, expected["cfg.passcode"]);
    expected.insert("cfg.passcode", changed);
    h.converged(&devices, &expected).await;
    let after = h.counted(before.status_reports + DEVICES as u64).await;
    assert_eq!(after.declarations_fetched - before.declarations_fetched, DEVICES as u64);
    for d in &devices {
        let asked = h.ddm_requests(&d.udid).await;
        let count = |endpoint: &str| asked.iter().filter(|a| *a == endpoint).count();
        assert_eq!(count("declaration/configuration/cfg.passcode"), 2, "{asked:?}");
        assert_eq!(count("declaration/configuration/cfg.su"), 1, "{asked:?}");
        assert_eq!(count("declaration/activation/act.baseline"), 1, "{asked:?}");
        assert_eq!(count("status"), 2, "{asked:?}");
        assert_eq!(
            d.declarations_held().await.get("cfg.passcode"),
            Some(&expected["cfg.passcode"])
        );
    }

    // A macOS-only configuration, given to one iPad: it says it cannot apply it.
    let first = devices[0];
    h.define("cfg.screen", SCREEN_SHARING, json!({"MaximumVirtualDisplays": 1}))
        .await;
    let assignment = h.assign("cfg.screen", json!({"enrollment": first.udid})).await;
    let path = format!("/v1/devices/{}/declarations", first.udid);
    eventually("the iPad reports the screen sharing settings invalid", async || {
        let (_, view) = h.get(&path).await;
        let screen = view["declarations"]
            .as_array()
            .and_then(|all| all.iter().find(|d| d["identifier"] == "cfg.screen"))
            .cloned()
            .unwrap_or_default();
        let reported = view["in_sync"] == true
            && screen["state"] == "reported"
            && screen["valid"] == "invalid"
            && screen["active"] == false
            && screen["reasons"] == json!(["Error.ConfigurationNotSupported"]);
        reported.then_some(()).ok_or(format!("{view}"))
    })
    .await;
    let fleet = eventually("the fleet view counts one invalid", async || {
        let (_, fleet) = h.get("/v1/declarations/status").await;
        summary(&fleet, "cfg.screen")
            .filter(|s| s["invalid"] == 1)
            .cloned()
            .ok_or(format!("{fleet}"))
    })
    .await;
    assert_eq!(
        (&fleet["devices"], &fleet["valid"], &fleet["active"], &fleet["inactive"]),
        (&json!(1), &json!(0), &json!(0), &json!(1)),
        "{fleet}"
    );
    assert_eq!(fleet["reasons"], json!({"Error.ConfigurationNotSupported": 1}));
    let (status, not_in_force) = h.get("/v1/declarations/cfg.screen/status?not_in_force=true").await;
    assert_eq!(status, 200, "{not_in_force}");
    let rows = not_in_force["devices"].as_array().expect("devices");
    assert_eq!(rows.len(), 1, "{not_in_force}");
    assert_eq!(rows[0]["udid"], first.udid.as_str());
    let (status, csv) = get_text(&h.client, "/v1/declarations/status/export?format=csv", &h.key).await;
    assert_eq!(status, 200, "{csv}");
    assert!(csv.starts_with("enrollment,udid,serial_number,identifier,"), "{csv}");
    assert_eq!(csv.lines().count(), 1 + 3 * DEVICES + 1, "{csv}");
    let screen_rows: Vec<&str> = csv.lines().filter(|l| l.contains("cfg.screen")).collect();
    assert_eq!(screen_rows.len(), 1, "{csv}");
    for part in [
        first.udid.as_str(),
        "configuration",
        "reported",
        "invalid",
        "Error.ConfigurationNotSupported",
    ] {
        assert!(screen_rows[0].contains(part), "{part} not in {}", screen_rows[0]);
    }
    // The others were not touched: their set did not change.
    let fetched = h.fleet.report().declarations_fetched - after.declarations_fetched;
    assert_eq!(fetched, 1, "only the one iPad fetched the new declaration");

    // Unassigned and removed: the iPad drops it and reports without it.
    let (status, body) = h
        .call(
            Method::DELETE,
            &format!("/v1/declarations/cfg.screen/assignments/{assignment}"),
            None,
        )
        .await;
    assert!(status == 200 || status == 204, "{status} {body}");
    let (status, body) = h.call(Method::DELETE, "/v1/declarations/cfg.screen", None).await;
    assert!(status == 200 || status == 204, "{status} {body}");
    h.converged(&devices, &expected).await;
    eventually("the iPad no longer holds it", async || {
        let held = first.declarations_held().await;
        (!held.contains_key("cfg.screen"))
            .then_some(())
            .ok_or(format!("{held:?}"))
    })
    .await;
    eventually("the fleet view forgets it", async || {
        let (_, fleet) = h.get("/v1/declarations/status").await;
        summary(&fleet, "cfg.screen")
            .is_none()
            .then_some(())
            .ok_or(format!("{fleet}"))
    })
    .await;

    // Its status history: every report, whole, the last without the removed declaration.
    let (status, history) = h
        .get(&format!("/v1/devices/{}/declarations/status/history", first.udid))
        .await;
    assert_eq!(status, 200, "{history}");
    let reports = history["reports"].as_array().expect("reports");
    assert_eq!(
        reports.len(),
        4,
        "baseline, passcode, screen sharing, removal: {history}"
    );
    assert!(reports.iter().all(|r| r["full_report"] == true));
    let configurations = |r: &Value| -> Vec<String> {
        r["report"]["StatusItems"]["management"]["declarations"]["configurations"]
            .as_array()
            .expect("configurations")
            .iter()
            .map(|c| c["identifier"].as_str().expect("identifier").to_owned())
            .collect()
    };
    assert_eq!(configurations(&reports[2]), ["cfg.passcode", "cfg.screen", "cfg.su"]);
    assert_eq!(configurations(&reports[3]), ["cfg.passcode", "cfg.su"]);
    let last = &reports[3]["report"]["StatusItems"];
    assert_eq!(last["device"]["operating-system"]["version"], OS_VERSION);
    assert_eq!(last["softwareupdate"]["pending-version"]["os-version"], TARGET_OS);

    let mut fleet = h.fleet;
    fleet.stop().await;
    let report = fleet.report();
    assert_eq!(report.errors, 0, "{report:?}");
    assert_eq!(report.status_reports, 2 * DEVICES as u64 + 2, "{report:?}");
    assert!(report.ddm_syncs >= report.status_reports, "{report:?}");
    eprintln!(
        "ddm_e2e: server, push certificate and {DEVICES} devices ready after {ready:?}, baseline in force after {:?}, whole scenario {:?}",
        baseline_took - ready,
        started.elapsed()
    );
}

/// A device asking for a declaration outside its set gets 404; a status report that is not a
/// JSON object gets 400 and is not recorded, while a well-formed one is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_gets_only_its_own_declarations_and_a_malformed_status_is_refused() {
    rustls::crypto::aws_lc_rs::default_provider().install_default().ok();
    let server = Server::start(&[]).await;
    let (client, key) = (server.client(), server.api_key());
    let (d, other) = (device(&server, 0), device(&server, 1));
    enroll(&client, &d).await;
    enroll(&client, &other).await;
    let body = json!({"Type": "com.apple.configuration.passcode.settings", "Payload": {"MinimumLength": 6}});
    let (status, defined) = call(
        &client,
        Method::PUT,
        "/v1/declarations/cfg.other",
        Some(&key),
        Some(body),
    )
    .await;
    assert_eq!(status, 200, "{defined}");
    let target = json!({"enrollment": other.udid});
    let (status, assigned) = call(
        &client,
        Method::POST,
        "/v1/declarations/cfg.other/assignments",
        Some(&key),
        Some(target),
    )
    .await;
    assert!(status == 200 || status == 201, "{status} {assigned}");

    let ask = async |d: &VirtualDevice, endpoint: &str, data: Option<&[u8]>| {
        let body = d.declarative_management(endpoint, data.map(<[u8]>::to_vec));
        signed(&client, d, CHECKIN, body).await
    };
    // The other device's declaration, and one that does not exist, are not this device's.
    for endpoint in [
        "declaration/configuration/cfg.other",
        "declaration/configuration/cfg.nowhere",
    ] {
        let (status, answer) = ask(&d, endpoint, None).await;
        assert_eq!(status, 404, "{endpoint}: {}", String::from_utf8_lossy(&answer));
    }
    let (status, answer) = ask(&other, "declaration/configuration/cfg.other", None).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    let served: Value = serde_json::from_slice(&answer).expect("JSON");
    assert_eq!(served["Identifier"], "cfg.other");
    assert_eq!(served["ServerToken"], defined["server_token"]);

    let history = format!("/v1/devices/{}/history?limit=1000", d.udid);
    let events = async || {
        let (status, page) = get(&client, &history, &key).await;
        assert_eq!(status, 200, "{page}");
        page["events"].as_array().expect("events").len()
    };
    let before = events().await;
    let (status, answer) = ask(&d, "status", Some(b"[1]")).await;
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&answer));
    assert_eq!(events().await, before, "a refused status appended nothing");

    let report = json!({"StatusItems": {"device": {"operating-system": {"version": OS_VERSION}}}, "Errors": [], "FullReport": true});
    let (status, answer) = ask(&d, "status", Some(report.to_string().as_bytes())).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    assert!(events().await > before);
    let (status, reports) = get(
        &client,
        &format!("/v1/devices/{}/declarations/status/history", d.udid),
        &key,
    )
    .await;
    assert_eq!(status, 200, "{reports}");
    assert_eq!(reports["reports"].as_array().map(Vec::len), Some(1), "{reports}");
    assert_eq!(reports["reports"][0]["report"], report);
}

/// The legacy-profile flagship over HTTPS: a profile stored through the admin API, a legacy
/// configuration pointing at it assigned to one iPad, which downloads it with its own identity
/// (the simulator checks it is the profile the URL names) and reports it in force; the other
/// iPads neither get it nor can fetch it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_legacy_profile_reaches_the_one_ipad_given_it_over_its_identity() {
    let h = Harness::start(2).await;
    let devices = h.devices();
    let (owner, other) = (devices[0], devices[1]);
    let mut profile = plist::Dictionary::new();
    profile.insert("PayloadType".into(), "Configuration".into());
    profile.insert("PayloadIdentifier".into(), "com.example.wifi".into());
    profile.insert("PayloadUUID".into(), "0C1A2D3E-0000-4000-8000-000000000002".into());
    profile.insert("PayloadVersion".into(), 1.into());
    profile.insert("PayloadContent".into(), plist::Value::Array(Vec::new()));
    let mut bytes = Vec::new();
    plist::Value::Dictionary(profile)
        .to_writer_xml(&mut bytes)
        .expect("plist");
    let auth = format!("Bearer {}", h.key);
    let answer = h
        .client
        .send(
            Method::PUT,
            "/v1/declarations/data",
            Some("application/x-apple-aspen-config"),
            &[("Authorization", auth.as_str())],
            bytes,
        )
        .await
        .expect("stored");
    assert_eq!(answer.status.as_u16(), 200);
    let stored: Value = serde_json::from_slice(&answer.body).expect("json");
    let (url, sha) = (
        stored["url"].as_str().expect("url").to_owned(),
        stored["sha256"].as_str().expect("sha256").to_owned(),
    );
    let legacy = h
        .define("cfg.wifi", "com.apple.configuration.legacy", json!({"ProfileURL": url}))
        .await;
    let activation = h
        .define(
            "act.wifi",
            "com.apple.activation.simple",
            json!({"StandardConfigurations": ["cfg.wifi"]}),
        )
        .await;
    h.assign("act.wifi", json!({"enrollment": owner.udid})).await;
    let expected = BTreeMap::from([("act.wifi", activation), ("cfg.wifi", legacy)]);
    h.converged(&[owner], &expected).await;
    let requests = h.ddm_requests(&owner.udid).await;
    assert!(requests.contains(&format!("data/{sha}")), "{requests:?}");
    // The other iPad has nothing: its set is empty and the data is not its to fetch.
    let (_, view) = h.get(&format!("/v1/devices/{}/declarations", other.udid)).await;
    assert_eq!(view["declarations"], json!([]), "{view}");
    let signature = other.sign(b"").expect("signed");
    let answer = h
        .client
        .send(
            Method::GET,
            &format!("/ddm/data/{sha}"),
            None,
            &[("Mdm-Signature", signature.as_str())],
            Vec::new(),
        )
        .await
        .expect("answered");
    assert_eq!(answer.status.as_u16(), 404);
    let mut fleet = h.fleet;
    fleet.stop().await;
    assert_eq!(fleet.report().errors, 0);
}

/// DDM from devices that look like real Apple devices on the wire: RSA-2048 identities, an
/// Mdm-Signature on every request (BER every third), no Content-Type on the command channel,
/// a new connection every fourth request. The sync command, every DDM endpoint and the status
/// report go through it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ddm_works_from_devices_that_look_like_real_ones_on_the_wire() {
    let h = Harness::start_as(2, annal::testkit::sim::WireProfile::real()).await;
    let passcode = h
        .define(
            "cfg.passcode",
            "com.apple.configuration.passcode.settings",
            json!({"MinimumLength": 6}),
        )
        .await;
    let activation = h
        .define(
            "act.baseline",
            "com.apple.activation.simple",
            json!({"StandardConfigurations": ["cfg.passcode"]}),
        )
        .await;
    h.assign("act.baseline", json!({"filter": {}})).await;
    let expected = BTreeMap::from([("act.baseline", activation), ("cfg.passcode", passcode)]);
    let devices = h.devices();
    h.converged(&devices, &expected).await;
    let mut fleet = h.fleet;
    fleet.stop().await;
    let report = fleet.report();
    assert_eq!(report.errors, 0, "{report:?}");
    assert!(report.status_reports >= 2, "{report:?}");
}

//! Declarative Device Management through the admin API and the device endpoints, in process:
//! declarations validated against Apple's schema (a precise 400 naming the key path, nothing
//! appended), roles, assignment by inventory filter, the device's set served by the DDM
//! endpoints, the sync command queued to exactly the devices whose set changed, and status
//! reports folded into the device view, the fleet view, the export and the history.

mod common;

use std::time::{Duration, Instant};

use annal::testkit::sim::{encode, VirtualDevice};
use annal_schemas::events::apikey::Role;
use axum::http::{Method, StatusCode};
use common::inprocess::{app, App, ADMIN_KEY};
use serde_json::{json, Value};

const PASSCODE: &str = "com.apple.configuration.passcode.settings";

async fn put(app: &App, key: &str, id: &str, body: Value) -> (StatusCode, Value) {
    app.call(Method::PUT, &format!("/v1/declarations/{id}"), key, Some(body))
        .await
}

/// A DeclarativeManagement check-in from `d`.
fn ddm(d: &VirtualDevice, endpoint: &str, data: Option<&[u8]>) -> Vec<u8> {
    let mut dict = plist::Dictionary::new();
    dict.insert("MessageType".into(), "DeclarativeManagement".into());
    dict.insert("UDID".into(), d.udid.clone().into());
    dict.insert("Endpoint".into(), endpoint.into());
    if let Some(data) = data {
        dict.insert("Data".into(), plist::Value::Data(data.to_vec()));
    }
    encode(dict)
}

async fn ask(app: &App, d: &VirtualDevice, endpoint: &str) -> (StatusCode, Value) {
    let (status, body) = app.device_request(d, ddm(d, endpoint, None), true).await;
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declarations_are_checked_against_apples_schema_and_only_an_admin_changes_them() {
    let app = app().await;
    let operator = app.key("ops", Role::Operator).await;
    let auditor = app.key("audit", Role::Auditor).await;
    let before = app.head().await;
    for (body, path) in [
        (
            json!({"Type": PASSCODE, "Payload": {"MinimumLength": "six"}}),
            "Payload.MinimumLength",
        ),
        (json!({"Type": "com.apple.configuration.nope", "Payload": {}}), "Type"),
        (json!({"Type": PASSCODE, "Payload": {"Nope": 1}}), "Payload.Nope"),
        (
            json!({"Type": "com.apple.activation.simple", "Payload": {"StandardConfigurations": ["cfg.none"]}}),
            "Payload.StandardConfigurations[0]",
        ),
    ] {
        let (status, answer) = put(&app, ADMIN_KEY, "cfg.bad", body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
        assert_eq!(answer["error"]["path"], path, "{answer}");
    }
    let (status, _) = put(
        &app,
        ADMIN_KEY,
        "other",
        json!({"Type": PASSCODE, "Identifier": "cfg.x"}),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "the body's Identifier must be the path's"
    );
    let good = json!({"Type": PASSCODE, "Payload": {"MinimumLength": 6}});
    for key in [&operator, &auditor] {
        let (status, _) = put(&app, key, "cfg.passcode", good.clone()).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    let (status, answer) = app
        .call(
            Method::POST,
            "/v1/declarations/validate",
            &auditor,
            Some(json!({"Type": PASSCODE, "Identifier": "cfg.passcode", "Payload": {"MinimumLength": 6}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(app.head().await, before, "refusals and the dry run append nothing");

    let (status, defined) = put(&app, ADMIN_KEY, "cfg.passcode", good.clone()).await;
    assert_eq!(status, StatusCode::OK, "{defined}");
    assert_eq!(defined["changed"], true);
    assert_eq!(
        defined["server_token"], answer["server_token"],
        "the dry run derives the same token"
    );
    let head = app.head().await;
    let (_, again) = put(&app, ADMIN_KEY, "cfg.passcode", good).await;
    assert_eq!(again["changed"], false);
    assert_eq!(app.head().await, head, "the same content appends nothing");
    let act = json!({"Type": "com.apple.activation.simple", "Payload": {"StandardConfigurations": ["cfg.passcode"]}});
    assert_eq!(put(&app, ADMIN_KEY, "act.baseline", act).await.0, StatusCode::OK);
    let (status, answer) = app
        .call(Method::DELETE, "/v1/declarations/cfg.passcode", ADMIN_KEY, None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "an activation names it: {answer}");
    let (status, list) = app.get("/v1/declarations", &auditor).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["declarations"].as_array().map(Vec::len), Some(2));
    // Who changed the catalog is in the audit trail.
    let (_, audit) = app.get("/v1/audit?request_type=DeclarationDefined", &auditor).await;
    let entries = audit["entries"].as_array().cloned().unwrap_or_default();
    assert_eq!(entries.len(), 2, "{audit}");
    app.server.shutdown().await;
}

/// Polls `path` until `done` holds (the sync worker and the read models run on their own).
async fn until(app: &App, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = app.get(path, ADMIN_KEY).await;
        if status == StatusCode::OK && done(&body) {
            return body;
        }
        assert!(Instant::now() < deadline, "{path} never reached the state: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn queued_ddm(queue: &Value) -> Vec<String> {
    queue["commands"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["command_uuid"].as_str())
        .filter(|u| u.starts_with("DDM-"))
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_filter_assignment_reaches_the_matching_devices_and_their_status_comes_back() {
    let app = app().await;
    let ipad = app.enroll(1, "iPad13,18", "18.1").await;
    let phone = app.enroll(2, "iPhone15,2", "17.5").await;
    let defined = put(
        &app,
        ADMIN_KEY,
        "cfg.passcode",
        json!({"Type": PASSCODE, "Payload": {"MinimumLength": 6}}),
    )
    .await
    .1;
    let server_token = defined["server_token"].as_str().unwrap_or_default().to_string();
    // Nothing is assigned: the set is empty and nothing is queued.
    let (_, tokens_before) = ask(&app, &ipad, "tokens").await;
    let (status, assigned) = app
        .call(
            Method::POST,
            "/v1/declarations/cfg.passcode/assignments",
            ADMIN_KEY,
            Some(json!({"filter": {"model": "ipad"}, "reason": "CHG-12"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{assigned}");
    // An assignment is removed under its own declaration only.
    let id = assigned["assignment_id"].as_str().unwrap_or_default();
    let encoded = id.replace('@', "%40").replace(':', "%3A");
    // The sync worker queues the iPad's new set on its own; let it before counting appends.
    until(&app, &format!("/v1/devices/{}/declarations", ipad.udid), |v| {
        v["in_sync"] == true
    })
    .await;
    let head = app.head().await;
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/v1/declarations/cfg.other/assignments/{encoded}"),
            ADMIN_KEY,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(app.head().await, head);

    // The iPad is given the new set's tokens; the phone, whose set is still empty, nothing.
    let view = until(&app, &format!("/v1/devices/{}/declarations", ipad.udid), |v| {
        v["in_sync"] == true
    })
    .await;
    let token = view["declarations_token"].as_str().unwrap_or_default().to_string();
    let queue = app.get(&format!("/v1/devices/{}/queue", ipad.udid), ADMIN_KEY).await.1;
    assert_eq!(queued_ddm(&queue), [format!("DDM-{token}")]);
    let queue = app.get(&format!("/v1/devices/{}/queue", phone.udid), ADMIN_KEY).await.1;
    assert!(queued_ddm(&queue).is_empty(), "{queue}");

    // The device side serves that set.
    let (status, tokens) = ask(&app, &ipad, "tokens").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(tokens["SyncTokens"]["DeclarationsToken"], token.as_str());
    assert_ne!(tokens, tokens_before);
    let (_, items) = ask(&app, &ipad, "declaration-items").await;
    assert_eq!(
        items["Declarations"]["Configurations"][0]["ServerToken"],
        server_token.as_str()
    );
    let (status, declaration) = ask(&app, &ipad, "declaration/configuration/cfg.passcode").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(declaration["Payload"]["MinimumLength"], 6);
    assert_eq!(declaration["ServerToken"], server_token.as_str());
    let (status, _) = ask(&app, &phone, "declaration/configuration/cfg.passcode").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "not in the phone's set");

    // A malformed report is refused and appends nothing.
    let head = app.head().await;
    let (status, _) = app
        .device_request(&ipad, ddm(&ipad, "status", Some(b"[1]")), true)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(app.head().await, head);

    let report = json!({
        "StatusItems": {
            "management": {"declarations": {"configurations": [
                {"identifier": "cfg.passcode", "server-token": server_token, "active": true, "valid": "valid"}
            ], "activations": [], "assets": [], "management": []}},
            "device": {"operating-system": {"version": "18.1"}},
            "passcode": {"is-compliant": true, "is-present": true}
        },
        "Errors": [],
        "FullReport": true
    });
    let body = serde_json::to_vec(&report).unwrap_or_default();
    let (status, _) = app.device_request(&ipad, ddm(&ipad, "status", Some(&body)), true).await;
    assert_eq!(status, StatusCode::OK);
    let view = until(&app, &format!("/v1/devices/{}/declarations", ipad.udid), |v| {
        v["declarations"][0]["state"] == "reported"
    })
    .await;
    assert_eq!(view["declarations"][0]["valid"], "valid");
    assert_eq!(view["declarations"][0]["active"], true);
    let fleet = app.get("/v1/declarations/status", ADMIN_KEY).await.1;
    assert_eq!(fleet["devices"], 2);
    assert_eq!(fleet["reporting"], 1);
    assert_eq!(fleet["declarations"][0]["devices"], 1);
    assert_eq!(fleet["declarations"][0]["active"], 1);
    assert_eq!(fleet["passcode_compliant"]["true"], 1);
    let (status, csv) = app
        .get_text("/v1/declarations/status/export?format=csv", ADMIN_KEY)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(csv.lines().count(), 2, "a header and the iPad's row: {csv}");
    assert!(
        csv.contains(&ipad.udid) && csv.contains("\"reported\"") && csv.contains("\"valid\""),
        "{csv}"
    );
    let history = app
        .get(
            &format!("/v1/devices/{}/declarations/status/history", ipad.udid),
            ADMIN_KEY,
        )
        .await
        .1;
    assert_eq!(history["reports"][0]["report"], report, "the report is kept whole");

    // A changed declaration is a new token: the iPad is synced again, the old sync superseded
    // if the device had not fetched it.
    put(
        &app,
        ADMIN_KEY,
        "cfg.passcode",
        json!({"Type": PASSCODE, "Payload": {"MinimumLength": 8}}),
    )
    .await;
    let view = until(&app, &format!("/v1/devices/{}/declarations", ipad.udid), |v| {
        v["in_sync"] == true && v["declarations_token"] != token.as_str()
    })
    .await;
    assert_eq!(
        view["declarations"][0]["state"], "stale",
        "reported for the old content"
    );
    let queue = app.get(&format!("/v1/devices/{}/queue", ipad.udid), ADMIN_KEY).await.1;
    assert_eq!(
        queued_ddm(&queue).len(),
        1,
        "the undelivered older sync was superseded: {queue}"
    );
    let (_, not_in_force) = app
        .get("/v1/declarations/cfg.passcode/status?not_in_force=true", ADMIN_KEY)
        .await;
    assert_eq!(not_in_force["devices"][0]["state"], "stale");
    app.server.shutdown().await;
}

fn profile() -> Vec<u8> {
    let mut dict = plist::Dictionary::new();
    dict.insert("PayloadType".into(), "Configuration".into());
    dict.insert("PayloadIdentifier".into(), "com.example.wifi".into());
    dict.insert("PayloadUUID".into(), "5C1A2D3E-0000-4000-8000-000000000001".into());
    dict.insert("PayloadVersion".into(), 1.into());
    dict.insert("PayloadContent".into(), plist::Value::Array(Vec::new()));
    let mut out = Vec::new();
    plist::Value::Dictionary(dict).to_writer_xml(&mut out).expect("plist");
    out
}

async fn upload(app: &App, key: &str, body: Vec<u8>) -> (StatusCode, Value) {
    let request = axum::http::Request::builder()
        .method(Method::PUT)
        .uri("/v1/declarations/data")
        .header("Authorization", format!("Bearer {key}"))
        .header("Content-Type", "application/x-apple-aspen-config")
        .body(axum::body::Body::from(body))
        .expect("request");
    let (status, bytes) = app.send(request).await;
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// The flagship legacy-profile case: a profile stored in the log, served by Annal to exactly
/// the devices whose set points at it, over the device's own identity.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_legacy_profile_is_served_as_an_asset_only_to_the_devices_given_it() {
    let app = app().await;
    let ipad = app.enroll(1, "iPad13,18", "18.1").await;
    let phone = app.enroll(2, "iPhone15,2", "18.1").await;
    let operator = app.key("ops", Role::Operator).await;
    assert_eq!(upload(&app, &operator, profile()).await.0, StatusCode::FORBIDDEN);
    assert_eq!(
        upload(&app, ADMIN_KEY, b"not a profile".to_vec()).await.0,
        StatusCode::BAD_REQUEST
    );
    let (status, stored) = upload(&app, ADMIN_KEY, profile()).await;
    assert_eq!(status, StatusCode::OK, "{stored}");
    assert_eq!(stored["stored"], true);
    let (_, again) = upload(&app, ADMIN_KEY, profile()).await;
    assert_eq!(again["stored"], false, "content-addressed: the same bytes once");
    let url = stored["url"].as_str().unwrap_or_default().to_string();
    let sha = stored["sha256"].as_str().unwrap_or_default().to_string();
    assert!(url.ends_with(&format!("/ddm/data/{sha}")), "{url}");

    let legacy = "com.apple.configuration.legacy";
    let missing = url.replace(&sha, &"0".repeat(64));
    let (status, answer) = put(
        &app,
        ADMIN_KEY,
        "cfg.wifi",
        json!({"Type": legacy, "Payload": {"ProfileURL": missing}}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(answer["error"]["path"], "Payload.ProfileURL");
    let (status, answer) = put(
        &app,
        ADMIN_KEY,
        "cfg.wifi",
        json!({"Type": legacy, "Payload": {"ProfileURL": url}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let (status, _) = app
        .call(
            Method::POST,
            "/v1/declarations/cfg.wifi/assignments",
            ADMIN_KEY,
            Some(json!({"enrollment": ipad.udid})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    let path = format!("/ddm/data/{sha}");
    let (status, body) = app.device_get(&ipad, &path, true).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body.as_ref(), profile().as_slice(), "the bytes as stored");
    let (status, _) = app.device_get(&phone, &path, true).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "not in the phone's set");
    let (status, _) = app.device_get(&ipad, &path, false).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "no identity, no data");
    let (status, _) = app.device_get(&ipad, "/ddm/data/not-a-sha", true).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Both fetches are in the devices' histories, with what they were answered.
    for (d, http_status) in [(&ipad, 200), (&phone, 404)] {
        let (_, history) = app
            .get(&format!("/v1/devices/{}/history?limit=1000", d.udid), ADMIN_KEY)
            .await;
        let fetched = history["events"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["event_type"] == "DeclarativeManagement")
            .any(|e| e["data"]["endpoint"] == format!("data/{sha}") && e["data"]["http_status"] == http_status);
        assert!(fetched, "{history}");
    }
    // A revoked certificate fetches nothing, even what its device's set points at.
    let fingerprint = annal::pki::fingerprint_sha256(&ipad.identity.cert_der);
    let (status, answer) = app
        .call(
            Method::POST,
            &format!("/v1/identities/{fingerprint}/revoke"),
            ADMIN_KEY,
            Some(json!({"reason": "key extracted"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let (status, _) = app.device_get(&ipad, &path, true).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    app.server.shutdown().await;
}

/// An operator keeps groups and tags, but not the ones a declaration follows: changing those
/// would decide which devices get settings installed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_cannot_move_devices_into_what_a_declaration_follows() {
    let app = app().await;
    let ipad = app.enroll(1, "iPad13,18", "18.1").await;
    let operator = app.key("ops", Role::Operator).await;
    put(
        &app,
        ADMIN_KEY,
        "cfg.passcode",
        json!({"Type": PASSCODE, "Payload": {}}),
    )
    .await;
    for (key, group) in [(ADMIN_KEY, "lab"), (ADMIN_KEY, "tagged"), (ADMIN_KEY, "free")] {
        let definition = if group == "tagged" {
            json!({"filter": {"tags": ["kiosk"]}})
        } else {
            json!({"members": [ipad.udid]})
        };
        let (status, _) = app
            .call(Method::PUT, &format!("/v1/groups/{group}"), key, Some(definition))
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    for target in [
        json!({"group": "lab"}),
        json!({"group": "tagged"}),
        json!({"filter": {"tags": ["vip"]}}),
    ] {
        let (status, _) = app
            .call(
                Method::POST,
                "/v1/declarations/cfg.passcode/assignments",
                ADMIN_KEY,
                Some(target),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    // The sync worker queues the iPad's new set on its own: let it, so what follows measures
    // only the operator's requests.
    until(&app, &format!("/v1/devices/{}/declarations", ipad.udid), |v| {
        v["in_sync"] == true
    })
    .await;
    let head = app.head().await;
    let refused = [
        (
            Method::PUT,
            "/v1/groups/lab".to_string(),
            Some(json!({"members": ["OTHER-UDID"]})),
        ),
        (Method::DELETE, "/v1/groups/lab".to_string(), None),
        (Method::PUT, format!("/v1/devices/{}/tags/kiosk", ipad.udid), None),
        (Method::PUT, format!("/v1/devices/{}/tags/vip", ipad.udid), None),
    ];
    for (method, path, body) in refused {
        let (status, answer) = app.call(method, &path, &operator, body).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {answer}");
    }
    assert_eq!(app.head().await, head, "nothing appended");
    // What no declaration follows stays the operator's.
    let (status, _) = app
        .call(
            Method::PUT,
            "/v1/groups/free",
            &operator,
            Some(json!({"members": ["OTHER-UDID"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .call(
            Method::PUT,
            &format!("/v1/devices/{}/tags/spare", ipad.udid),
            &operator,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    // The admin may.
    let (status, _) = app
        .call(
            Method::PUT,
            &format!("/v1/devices/{}/tags/vip", ipad.udid),
            ADMIN_KEY,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    app.server.shutdown().await;
}

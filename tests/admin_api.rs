//! The admin API end to end: a real `annal serve`, keys made with the real CLI, a simulated
//! device that signs its requests. The "done" case: a device locked through the API by
//! an admin's key (an operator's refused), and the audit trail shows who, when, the delivery and
//! the device's raw answer.

mod common;

use annal::testkit::sim::{Client, VirtualDevice};
use common::admin::{call, create_key, get, get_text, revoke_key};
use common::server::{device, enroll, signed, Server, COMMAND};
use hyper::Method;
use plist::Dictionary;
use serde_json::{json, Value};

/// Sends Idle; returns the command the server answered with, if any.
async fn poll(client: &Client, d: &VirtualDevice) -> Option<(String, String, Dictionary)> {
    let (idle, _) = d.idle().unwrap();
    let (status, body) = signed(client, d, COMMAND, idle).await;
    assert_eq!(status, 200);
    if body.is_empty() {
        return None;
    }
    let (uuid, rt, command) = annal::mdm::parse_command(&body).unwrap();
    Some((uuid.unwrap(), rt, command))
}

async fn answer(
    client: &Client,
    d: &VirtualDevice,
    uuid: &str,
    status: &str,
    response: Dictionary,
) -> Option<(String, String, Dictionary)> {
    let (code, body) = signed(client, d, COMMAND, d.result(uuid, status, response)).await;
    assert_eq!(code, 200);
    if body.is_empty() {
        return None;
    }
    let (uuid, rt, command) = annal::mdm::parse_command(&body).unwrap();
    Some((uuid.unwrap(), rt, command))
}

async fn submit(client: &Client, key: &str, body: Value) -> (u16, Value) {
    call(client, Method::POST, "/v1/commands", Some(key), Some(body)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_locks_a_device_and_the_audit_trail_proves_it() {
    let server = Server::start(&[]).await;
    let client = server.client();
    let admin = create_key(&server, "alice", "admin");
    let operator = create_key(&server, "olaf", "operator");
    let auditor = create_key(&server, "audrey", "auditor");
    let d = device(&server, 1);
    enroll(&client, &d).await;

    // The operator may not lock; the auditor may not queue anything.
    let lock = json!({"enrollments": [d.udid], "command": {"RequestType": "DeviceLock", "Message": "Call IT", "PhoneNumber": "+1 555 0100"}, "reason": "reported lost, ticket 4711"});
    let (status, body) = submit(&client, &operator, lock.clone()).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "forbidden");
    assert!(body["error"]["message"].as_str().unwrap().contains("DeviceLock"));
    let info = json!({"enrollments": [d.udid], "command": {"RequestType": "DeviceInformation", "Queries": ["DeviceName", "OSVersion", "SerialNumber", "ModelName", "ProductName"]}});
    assert_eq!(submit(&client, &auditor, info.clone()).await.0, 403);

    // The operator queues a query, the admin the lock; FIFO: the query is delivered first.
    let (status, queued_info) = submit(&client, &operator, info).await;
    assert_eq!(status, 200, "{queued_info}");
    let (status, queued_lock) = submit(&client, &admin, lock).await;
    assert_eq!(status, 200, "{queued_lock}");
    assert_eq!(queued_lock["status"][&d.udid]["queued"], true);
    let lock_uuid = queued_lock["command_uuid"].as_str().unwrap().to_string();

    let (queue_status, queue) = get(&client, &format!("/v1/devices/{}/queue", d.udid), &auditor).await;
    assert_eq!(queue_status, 200);
    let pending: Vec<&str> = queue["commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["request_type"].as_str().unwrap())
        .collect();
    assert_eq!(pending, ["DeviceInformation", "DeviceLock"]);

    let (info_uuid, rt, command) = poll(&client, &d).await.expect("a command");
    assert_eq!(rt, "DeviceInformation");
    let response = annal::testkit::sim::answers::answer(&d, &rt, &command).unwrap();
    let (uuid, rt, _) = answer(&client, &d, &info_uuid, "Acknowledged", response)
        .await
        .expect("next command");
    assert_eq!((uuid.as_str(), rt.as_str()), (lock_uuid.as_str(), "DeviceLock"));
    // The device answers NotNow once, then (next session) Acknowledged.
    assert!(answer(&client, &d, &lock_uuid, "NotNow", Dictionary::new())
        .await
        .is_none());
    let (again, _, _) = poll(&client, &d)
        .await
        .expect("re-delivered after NotNow in a new session");
    assert_eq!(again, lock_uuid);
    let mut lock_answer = Dictionary::new();
    lock_answer.insert("MessageResult".into(), plist::Value::String("Displayed".into()));
    assert!(answer(&client, &d, &lock_uuid, "Acknowledged", lock_answer)
        .await
        .is_none());

    // The audit trail: who, why, when queued / delivered / answered, and the raw answer.
    let (status, trail) = get(&client, "/v1/audit?request_type=DeviceLock", &auditor).await;
    assert_eq!(status, 200, "{trail}");
    let entries = trail["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{trail}");
    let e = &entries[0];
    assert_eq!(e["requester"], "api-key:alice");
    assert_eq!(e["reason"], "reported lost, ticket 4711");
    assert_eq!(e["udid"], d.udid.as_str());
    assert_eq!(e["status"], "acknowledged");
    for t in ["queued_at", "delivered_at", "result_at"] {
        assert!(e[t].is_string(), "{t} missing: {e}");
    }
    assert!(e["queued_at"].as_str() <= e["delivered_at"].as_str());
    assert!(e["delivered_at"].as_str() <= e["result_at"].as_str());
    let raw = e["answer"].to_string();
    assert!(
        raw.contains("MessageResult") && raw.contains("Acknowledged"),
        "raw answer: {raw}"
    );
    // A query is not security-relevant: it is in the command status, not the audit trail.
    let (_, all) = get(&client, "/v1/audit", &auditor).await;
    assert!(all["entries"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["request_type"] != "DeviceInformation"));
    // The keys used here were made on the host: who made them is in the trail too.
    let (_, made) = get(&client, "/v1/audit?request_type=ApiKeyCreated", &auditor).await;
    let made = made["entries"].as_array().unwrap();
    assert!(made.len() >= 2, "{made:?}");
    for e in made {
        assert_eq!(
            (e["class"].as_str(), e["status"].as_str()),
            (Some("administration"), Some("recorded"))
        );
        let by = e["requester"].as_str().unwrap();
        assert!(
            by.starts_with("cli:") && by.contains('@') && !by.contains("unknown"),
            "{e}"
        );
    }
    assert!(
        made.iter()
            .any(|e| e["subject"].as_str().unwrap().contains("\"alice\"")),
        "{made:?}"
    );
    let (_, csv) = get_text(&client, "/v1/audit?format=csv", &auditor).await;
    assert!(csv.lines().next().unwrap().contains("requester"));
    assert!(csv.lines().next().unwrap().ends_with("subject"));
    assert!(csv.contains("\"api-key:alice\"") && csv.contains("\"DeviceLock\""));

    // Command status of the lock: delivered twice, one NotNow, acknowledged.
    let (_, status_doc) = get(&client, &format!("/v1/commands/{lock_uuid}"), &auditor).await;
    assert_eq!(status_doc["summary"]["acknowledged"], 1, "{status_doc}");
    let c = &status_doc["devices"][0];
    assert_eq!(
        (c["deliveries"].as_u64(), c["not_now_count"].as_u64()),
        (Some(2), Some(1))
    );

    // The inventory shows what the device answered to DeviceInformation.
    let (_, dev) = get(&client, &format!("/v1/devices/{}", d.udid), &auditor).await;
    assert_eq!(dev["state"], "enrolled");
    assert_eq!(dev["serial_number"], d.serial.as_str());
    assert_eq!(dev["os_version"], "18.1");
    assert_eq!(dev["pending_commands"], 0);
    let (_, list) = get(&client, "/v1/devices?model=ipad&state=enrolled", &auditor).await;
    assert_eq!(list["devices"].as_array().unwrap().len(), 1);
    let (_, none) = get(&client, "/v1/devices?state=checked_out", &auditor).await;
    assert!(none["devices"].as_array().unwrap().is_empty());

    // Every command event carries the actor that caused it.
    let (_, history) = get(&client, &format!("/v1/devices/{}/history?limit=1000", d.udid), &auditor).await;
    let queued: Vec<&Value> = history["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event_type"] == "CommandQueued")
        .collect();
    let actors: Vec<&str> = queued.iter().map(|e| e["actor"].as_str().unwrap()).collect();
    assert_eq!(actors, ["api-key:olaf", "api-key:alice"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_refusal_is_precise_and_appends_nothing() {
    let server = Server::start(&[]).await;
    let client = server.client();
    let admin = create_key(&server, "alice", "admin");
    let operator = create_key(&server, "olaf", "operator");
    let auditor = create_key(&server, "audrey", "auditor");
    let d = device(&server, 2);
    enroll(&client, &d).await;
    let store = annal::store::open(&server.store_url.parse().unwrap()).await.unwrap();
    let head = store.head().await.unwrap().position;

    // No key, a wrong key: 401 / 403, on reads and writes alike.
    assert_eq!(call(&client, Method::GET, "/v1/devices", None, None).await.0, 401);
    assert_eq!(get(&client, "/v1/devices", "annal_0123456789abcdef_nope").await.0, 403);
    let erase = json!({"enrollments": [d.udid], "command": {"RequestType": "EraseDevice"}});
    assert_eq!(
        call(&client, Method::POST, "/v1/commands", None, Some(erase.clone()))
            .await
            .0,
        401
    );
    // Roles.
    for (key, body, want) in [
        (&operator, erase.clone(), 403),
        (
            &operator,
            json!({"enrollments": [d.udid], "command": {"RequestType": "ClearPasscode"}}),
            403,
        ),
        (
            &operator,
            json!({"enrollments": [d.udid], "command": {"RequestType": "RemoveProfile", "Identifier": "com.example"}}),
            403,
        ),
        (
            &auditor,
            json!({"enrollments": [d.udid], "command": {"RequestType": "ProfileList"}}),
            403,
        ),
    ] {
        let (status, answer) = submit(&client, key, body).await;
        assert_eq!(status, want, "{answer}");
    }
    let raw_erase = annal::mdm::command_envelope("E1", annal::mdm::command::command("EraseDevice")).unwrap();
    let op_auth = format!("Bearer {operator}");
    let answer = client
        .send(
            Method::PUT,
            &format!("/v1/enqueue/{}", d.udid),
            Some("application/xml"),
            &[("Authorization", &op_auth)],
            raw_erase,
        )
        .await
        .unwrap();
    assert_eq!(answer.status.as_u16(), 403, "the NanoMDM endpoint applies roles too");
    assert_eq!(
        call(
            &client,
            Method::DELETE,
            &format!("/v1/devices/{}/commands/X", d.udid),
            Some(&auditor),
            None
        )
        .await
        .0,
        403
    );
    assert_eq!(
        call(
            &client,
            Method::POST,
            &format!("/v1/push/{}", d.udid),
            Some(&auditor),
            None
        )
        .await
        .0,
        403
    );

    // Invalid commands: the exact key path and reason, nothing queued.
    let cases = [
        (
            json!({"RequestType": "DeviceLock", "PIN": "123456"}),
            Some("iOS"),
            "command.PIN",
        ),
        (
            json!({"RequestType": "DeviceInformation", "Queries": "DeviceName"}),
            None,
            "command.Queries",
        ),
        (json!({"RequestType": "NoSuchCommand"}), None, "command.RequestType"),
        (
            json!({"RequestType": "EraseDevice", "ObliterationBehavior": "Sometimes"}),
            None,
            "command.ObliterationBehavior",
        ),
        (json!({"RequestType": "RemoveProfile"}), None, "command.Identifier"),
    ];
    for (command, platform, path) in cases {
        let mut body = json!({"enrollments": [d.udid], "command": command});
        if let Some(p) = platform {
            body["platform"] = p.into();
        }
        let (status, answer) = submit(&client, &admin, body).await;
        assert_eq!(status, 400, "{answer}");
        assert_eq!(answer["error"]["path"], path, "{answer}");
    }
    let (status, answer) = submit(&client, &admin, json!({"enrollments": [d.udid], "plist": "<plist><dict><key>RequestType</key><string>ProfileList</string><key>Bogus</key><true/></dict></plist>"})).await;
    assert_eq!(
        (status, answer["error"]["path"].as_str()),
        (400, Some("plist.Bogus")),
        "{answer}"
    );
    let (status, answer) = submit(
        &client,
        &admin,
        json!({"enrollments": [d.udid], "command_uuid": "a/b", "command": {"RequestType": "ProfileList"}}),
    )
    .await;
    assert_eq!(
        (status, answer["error"]["path"].as_str()),
        (400, Some("command_uuid")),
        "{answer}"
    );
    let (status, answer) = submit(&client, &admin, json!({"enrollments": [d.udid], "commnd": {}})).await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (400, Some("invalid")),
        "misspelled field: {answer}"
    );
    assert_eq!(get(&client, "/v1/devices?limit=abc", &admin).await.0, 400);
    assert_eq!(
        get(
            &client,
            "/v1/push-health?filter=silent&silent_for_secs=9223372036854775807",
            &admin
        )
        .await
        .0,
        400
    );
    assert_eq!(store.head().await.unwrap().position, head, "refusals append nothing");

    // Unknown enrollments, cancelling what is not queued.
    let (status, answer) = submit(
        &client,
        &admin,
        json!({"enrollments": ["NOPE"], "command": {"RequestType": "ProfileList"}}),
    )
    .await;
    assert_eq!(status, 207);
    assert_eq!(answer["status"]["NOPE"]["error"]["code"], "not_found");
    assert_eq!(
        call(
            &client,
            Method::DELETE,
            &format!("/v1/devices/{}/commands/X", d.udid),
            Some(&operator),
            None
        )
        .await
        .0,
        404
    );
    assert_eq!(get(&client, "/v1/devices/NOPE", &auditor).await.0, 404);
    assert_eq!(get(&client, "/v1/audit?format=xml", &auditor).await.0, 400);
    assert_eq!(get(&client, "/v1/api-keys", &operator).await.0, 403);
    let (status, keys) = get(&client, "/v1/api-keys", &admin).await;
    assert_eq!(status, 200);
    assert_eq!(keys.as_array().unwrap().len(), 3);
    assert!(!keys.to_string().contains(&admin[23..]), "no secret in the listing");

    // A revoked key stops working at once.
    revoke_key(&server, "olaf");
    assert_eq!(get(&client, "/v1/devices", &operator).await.0, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_cancel_fan_out_and_clear_passcode_with_the_escrowed_token() {
    let server = Server::start(&[]).await;
    let client = server.client();
    let admin = create_key(&server, "alice", "admin");
    let devices: Vec<VirtualDevice> = (10..13).map(|i| device(&server, i)).collect();
    for d in &devices {
        enroll(&client, d).await;
    }
    let ids: Vec<&str> = devices.iter().map(|d| d.udid.as_str()).collect();
    let body = json!({"enrollments": ids, "command": {"RequestType": "ProfileList"}, "idempotency_key": "fan-1"});
    let (status, first) = submit(&client, &admin, body.clone()).await;
    assert_eq!(status, 200, "{first}");
    let (_, again) = submit(&client, &admin, body).await;
    assert_eq!(again["status"][ids[0]]["duplicate"], true, "idempotency key: {again}");
    let uuid = first["command_uuid"].as_str().unwrap();
    assert_eq!(
        again["command_uuid"], uuid,
        "a retry names the command the first request queued"
    );
    assert_eq!(again["status"][ids[1]]["command_uuid"], uuid);
    let (_, fan) = get(&client, &format!("/v1/commands/{uuid}"), &admin).await;
    assert_eq!(fan["summary"]["queued"], 3, "{fan}");

    // Cancel on one device; the others keep it.
    let (status, _) = call(
        &client,
        Method::DELETE,
        &format!("/v1/devices/{}/commands/{uuid}", ids[0]),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        poll(&client, &devices[0]).await.is_none(),
        "cancelled: nothing to deliver"
    );
    let (got, _, _) = poll(&client, &devices[1]).await.unwrap();
    assert_eq!(got, uuid);
    let (_, fan) = get(&client, &format!("/v1/commands/{uuid}"), &admin).await;
    assert_eq!(
        (
            fan["summary"]["cancelled"].as_u64(),
            fan["summary"]["delivered"].as_u64(),
            fan["summary"]["queued"].as_u64()
        ),
        (Some(1), Some(1), Some(1)),
        "{fan}"
    );

    // ClearPasscode carries the UnlockToken the device escrowed in its TokenUpdate.
    let (status, cleared) = submit(
        &client,
        &admin,
        json!({"enrollments": [ids[2]], "command": {"RequestType": "ClearPasscode"}, "reason": "forgot the passcode, ticket 88"}),
    )
    .await;
    assert_eq!(status, 200, "{cleared}");
    let (_, first_cmd, _) = poll(&client, &devices[2]).await.unwrap(); // ProfileList first (FIFO)
    assert_eq!(first_cmd, "ProfileList");
    let mut next = answer(&client, &devices[2], uuid, "Acknowledged", Dictionary::new())
        .await
        .unwrap();
    assert_eq!(next.1, "ClearPasscode");
    let token = next.2.remove("UnlockToken").and_then(|v| v.into_data()).unwrap();
    assert_eq!(token, vec![0x5a; 64], "the simulator's escrowed UnlockToken");

    // Push health: a record per enrollment; nothing dead, a bad filter refused.
    let (status, record) = get(&client, &format!("/v1/devices/{}/push", ids[1]), &admin).await;
    assert_eq!(status, 200, "{record}");
    assert_eq!(record["token_dead"], false);
    let (_, dead) = get(&client, "/v1/push-health?filter=token_dead", &admin).await;
    assert!(dead["enrollments"].as_array().unwrap().is_empty());
    assert_eq!(get(&client, "/v1/push-health?filter=bogus", &admin).await.0, 400);
}

/// NanoMDM's own routes answer as NanoMDM does, so its tools read failures as failures:
/// `command_error` per enrollment and 500 when no enrollment took the command, `no_push` for
/// any `nopush` value, POST as PUT, and `/v1/push` 500 with each `push_error` when nothing can
/// be pushed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nanomdm_routes_answer_as_nanomdm() {
    let server = Server::start(&[]).await;
    let client = server.client();
    let admin = server.api_key();
    let d = device(&server, 3);
    enroll(&client, &d).await;
    let plist = |uuid: &str| {
        let mut command = plist::Dictionary::new();
        command.insert("RequestType".into(), "ProfileList".into());
        annal::mdm::command_envelope(uuid, command).unwrap()
    };
    let send = |method: Method, path: String, body: Vec<u8>| {
        let client = client.clone();
        let auth = format!("Bearer {admin}");
        async move {
            let answer = client
                .send(
                    method,
                    &path,
                    Some("application/xml"),
                    &[("Authorization", &auth)],
                    body,
                )
                .await
                .unwrap();
            let json: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
            (answer.status.as_u16(), json)
        }
    };
    // Every id refused: 500, each with its command_error string.
    let (status, body) = send(Method::PUT, "/v1/enqueue/NOPE-1,NOPE-2".into(), plist("N-1")).await;
    assert_eq!(status, 500, "{body}");
    for id in ["NOPE-1", "NOPE-2"] {
        assert!(body["status"][id]["command_error"].is_string(), "{body}");
    }
    // Some refused: 207; the queued one has no command_error.
    let path = format!("/v1/enqueue/{},NOPE-1?nopush=0", d.udid);
    let (status, body) = send(Method::POST, path, plist("N-2")).await;
    assert_eq!(status, 207, "{body}");
    assert!(body["status"][d.udid.as_str()].get("command_error").is_none(), "{body}");
    assert_eq!(body["no_push"], true, "nopush=0 skips the push, as NanoMDM reads it");
    // No push certificate: every id's push_error, 500.
    let (status, body) = send(Method::POST, format!("/v1/push/{}", d.udid), Vec::new()).await;
    assert_eq!(status, 500, "{body}");
    assert!(body["status"][d.udid.as_str()]["push_error"].is_string(), "{body}");

    // /v1/pushcert: the PEM certificate and key in one body; another Apple ID's topic would
    // strand the enrolled device: refused (NanoMDM would install it).
    let (status, _) = send(Method::GET, "/v1/pushcert".into(), Vec::new()).await;
    assert_eq!(status, 404);
    let dir = tempfile::tempdir().unwrap();
    let pem = |name: &str, topic: &str| {
        let (cert, key) = common::push::push_cert(dir.path(), name, topic, 365);
        [std::fs::read(cert).unwrap(), std::fs::read(key).unwrap()].concat()
    };
    let (status, body) = send(
        Method::PUT,
        "/v1/pushcert".into(),
        pem("other", "com.apple.mgmt.External.other"),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    // NanoMDM's error shape, which its clients read: a string, not Annal's error object.
    assert!(body["error"].as_str().is_some_and(|e| e.contains("topic")), "{body}");
    let (status, body) = send(Method::PUT, "/v1/pushcert".into(), pem("ours", common::server::TOPIC)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["topic"], common::server::TOPIC);
    assert!(body["not_after"].is_string(), "{body}");
    let (status, got) = send(Method::GET, "/v1/pushcert".into(), Vec::new()).await;
    assert_eq!((status, &got["topic"]), (200, &body["topic"]));
    let (status, body) = send(Method::PUT, "/v1/pushcert".into(), b"not a certificate".to_vec()).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].is_string(), "{body}");

    // What one enrollment token (handed to device users) can do on these routes: nothing. It
    // cannot install a push certificate, queue, push or bypass an Activation Lock, and its refusal is a 403, not
    // NanoMDM's 401 (the key is valid, its role is not).
    let (status, token) = call(
        &client,
        Method::POST,
        "/v1/enrollment-tokens",
        Some(&admin),
        Some(json!({"name": "lobby"})),
    )
    .await;
    assert_eq!(status, 201, "{token}");
    let token = token["token"].as_str().unwrap().to_owned();
    let store = annal::store::open(&server.store_url.parse().unwrap()).await.unwrap();
    let before = store.head().await.unwrap().position;
    for (method, path, body) in [
        (
            Method::PUT,
            "/v1/pushcert".to_string(),
            pem("token", common::server::TOPIC),
        ),
        (Method::PUT, format!("/v1/enqueue/{}", d.udid), plist("T-1")),
        (Method::POST, format!("/v1/push/{}", d.udid), Vec::new()),
        // Nor ask Apple to lift a device's Activation Lock (refused on its role, before its form
        // is read).
        (
            Method::POST,
            "/v1/escrowkeyunlock".to_string(),
            format!(
                "topic={}&serial=S&productType=iPad4%2C1&escrowKey=K&orgName=O&guid=G",
                common::server::TOPIC
            )
            .into_bytes(),
        ),
    ] {
        let answer = client
            .send(
                method,
                &path,
                Some("application/xml"),
                &[("Authorization", &format!("Bearer {token}"))],
                body,
            )
            .await
            .unwrap();
        assert_eq!(answer.status.as_u16(), 403, "{path}");
    }
    assert_eq!(
        store.head().await.unwrap().position,
        before,
        "an enrollment token appended something"
    );
}

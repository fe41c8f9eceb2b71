//! End to end over real sockets: `annal serve` on the embedded store, simulated devices that
//! sign like real ones, and every kind of bad input refused with a precise 4xx that appends
//! nothing.

mod common;

use annal::pki::{KeyKind, MdmDigest};
use annal::store::{open, EventStore};
use annal::testkit::sim::{run, Client, VirtualDevice};
use common::server::{device, enroll, signed, sim_config, Server, CHECKIN, COMMAND};

async fn store_of(server: &Server) -> std::sync::Arc<dyn EventStore> {
    open(&server.store_url.parse().unwrap()).await.unwrap()
}

async fn head(server: &Server) -> u64 {
    store_of(server).await.head().await.unwrap().position
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulated_devices_enroll_poll_and_answer_every_command() {
    let server = Server::start(&[]).await;
    let config = sim_config(&server, 6, 5);
    let report = run(&config, &server.ca()).await.unwrap();
    assert_eq!(report.errors, 0);
    assert_eq!(report.acknowledged, 30, "every command acknowledged once");
    assert!(report.not_now > 0, "some commands were answered NotNow first");
    assert_eq!(report.messages, 2 * 30 + 2 * report.not_now);

    let store = store_of(&server).await;
    let events = store
        .read_stream("enrollment-0000SIM0-0000000000000000", 1, 1000)
        .await
        .unwrap();
    let count = |t: &str| events.iter().filter(|e| e.event_type == t).count();
    assert_eq!(
        (count("Authenticate"), count("TokenUpdate"), count("CommandQueued")),
        (1, 1, 5)
    );
    assert_eq!(count("CommandAcknowledged"), 5);
    assert_eq!(count("CommandDelivered"), 5 + count("CommandNotNow"));
    // The device's answer is kept byte for byte; the TokenUpdate's secrets are not in clear.
    let ack = events.iter().find(|e| e.event_type == "CommandAcknowledged").unwrap();
    assert!(String::from_utf8_lossy(ack.raw.as_deref().unwrap()).contains("<key>Status</key>"));
    let token = events.iter().find(|e| e.event_type == "TokenUpdate").unwrap();
    for bytes in [&token.data, token.raw.as_ref().unwrap()] {
        let text = String::from_utf8_lossy(bytes);
        assert!(
            !text.contains("-magic") && !text.contains("PushMagic"),
            "PushMagic in clear: {text}"
        );
    }
    let report = annal::integrity::verify(store.as_ref(), None, |_| {}).await.unwrap();
    assert_eq!(report.first_problem, None);

    // A second run issues new identities for the same UDIDs: the server refuses them until the
    // simulator, as an admin would, forgets the old enrollments (recorded, with a reason).
    let again = run(&sim_config(&server, 6, 1), &server.ca()).await.unwrap();
    assert_eq!((again.errors, again.acknowledged), (0, 6));
    let events = store
        .read_stream("enrollment-0000SIM0-0000000000000000", 1, 1000)
        .await
        .unwrap();
    let forgotten: Vec<_> = events.iter().filter(|e| e.event_type == "DeviceForgotten").collect();
    assert_eq!(forgotten.len(), 1);
    assert!(String::from_utf8_lossy(&forgotten[0].data).contains("annal sim"));
    assert_eq!(events.iter().filter(|e| e.event_type == "Authenticate").count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_precise_4xx_and_appends_nothing() {
    let server = Server::start(&["--max-body-bytes", "200000"]).await;
    let client = server.client();
    let (a, b) = (device(&server, 1), device(&server, 2));
    enroll(&client, &a).await;
    enroll(&client, &b).await;
    let before = head(&server).await;
    let idle = a.idle().unwrap().0;
    let text = String::from_utf8(idle.clone()).unwrap();
    let cases: Vec<(&str, &str, Vec<u8>, u16)> = vec![
        ("malformed XML", COMMAND, b"<plist><dict><key>Status".to_vec(), 400),
        ("truncated body", COMMAND, idle[..idle.len() / 2].to_vec(), 400),
        (
            "not a dictionary",
            COMMAND,
            b"<plist version=\"1.0\"><string>x</string></plist>".to_vec(),
            400,
        ),
        (
            "unknown Status",
            COMMAND,
            text.replace(">Idle<", ">Sleepy<").into_bytes(),
            400,
        ),
        (
            "wrong value type",
            CHECKIN,
            String::from_utf8(a.token_update("t"))
                .unwrap()
                .replace("<data>", "<string>")
                .replace("</data>", "</string>")
                .into_bytes(),
            400,
        ),
        (
            "unknown MessageType",
            CHECKIN,
            String::from_utf8(a.authenticate("t"))
                .unwrap()
                .replace(">Authenticate<", ">Reticulate<")
                .into_bytes(),
            400,
        ),
        (
            "missing UDID",
            COMMAND,
            text.replace(&a.udid, "")
                .replace("<key>UDID</key><string></string>", "")
                .into_bytes(),
            400,
        ),
        (
            "Acknowledged without CommandUUID",
            COMMAND,
            text.replace(">Idle<", ">Acknowledged<").into_bytes(),
            400,
        ),
        // Any Content-Type but the check-in one is served by what the body is; a body that is
        // neither a check-in nor a report is a 400, whatever it is labelled.
        (
            "neither MessageType nor Status",
            "application/json",
            text.replace(">Status<", ">Statue<").into_bytes(),
            400,
        ),
        (
            "unlabelled and neither MessageType nor Status",
            "",
            text.replace(">Status<", ">Statue<").into_bytes(),
            400,
        ),
    ];
    for (name, content_type, body, status) in cases {
        assert_eq!(signed(&client, &a, content_type, body).await.0, status, "{name}");
        assert_eq!(head(&server).await, before, "{name} appended an event");
    }
    // Unsigned, a signature over other bytes, and a signature by another device's identity.
    let unsigned = client.put("/mdm", COMMAND, &[], idle.clone()).await.unwrap();
    assert_eq!(unsigned.status.as_u16(), 403);
    let mut tampered = idle.clone();
    let signature = a.sign(&tampered).unwrap();
    tampered.extend_from_slice(b" ");
    let changed = client
        .put("/mdm", COMMAND, &[("Mdm-Signature", &signature)], tampered)
        .await
        .unwrap();
    assert_eq!(changed.status.as_u16(), 403);
    let garbage = client
        .put("/mdm", COMMAND, &[("Mdm-Signature", "%%%not base64")], idle.clone())
        .await
        .unwrap();
    assert_eq!(garbage.status.as_u16(), 400);
    // Device B's identity claiming device A's UDID: never 401 on the command channel.
    let as_a = b.identity.sign_mdm(&idle, MdmDigest::Sha256).unwrap();
    let impostor = client
        .put("/mdm", COMMAND, &[("Mdm-Signature", &as_a)], idle.clone())
        .await
        .unwrap();
    assert_eq!(impostor.status.as_u16(), 403);
    // An identity from another CA.
    let stranger_dir = tempfile::tempdir().unwrap();
    let stranger_ca = annal::pki::Ca::load_or_init(stranger_dir.path()).unwrap();
    let stranger = VirtualDevice::new(
        1,
        stranger_ca
            .issue_device_identity("dev-1", KeyKind::EcdsaP256, 30)
            .unwrap(),
    );
    assert_eq!(signed(&client, &stranger, COMMAND, idle.clone()).await.0, 403);
    // A body over the limit.
    let huge = vec![b' '; 300_000];
    let signature = a.sign(&huge).unwrap();
    let too_large = client
        .put("/mdm", COMMAND, &[("Mdm-Signature", &signature)], huge)
        .await
        .unwrap();
    assert_eq!(too_large.status.as_u16(), 413);
    // The body was not read: the connection ends here, so the client does not send the next
    // request on it and fail (it did, now and then, under load).
    assert_eq!(
        too_large.headers.get("connection").map(|v| v.as_bytes()),
        Some(&b"close"[..]),
        "{:?}",
        too_large.headers
    );
    // A device that never authenticated.
    let c = device(&server, 3);
    assert_eq!(signed(&client, &c, COMMAND, c.idle().unwrap().0).await.0, 403);
    assert_eq!(head(&server).await, before, "a refused request appended an event");
    // And the enrolled device still works.
    assert_eq!(signed(&client, &a, COMMAND, idle).await.0, 200);
    assert_eq!(head(&server).await, before + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mtls_identity_bootstrap_token_and_declined_messages() {
    let server = Server::start(&[]).await;
    let d = device(&server, 7);
    let mtls = Client::with_identity(
        &server.base,
        server.ca().cert_der(),
        &d.identity.cert_der,
        &d.identity.key_pkcs8_der,
    )
    .unwrap();
    // No Mdm-Signature: the TLS client certificate is the identity.
    for body in [d.authenticate("t"), d.token_update("t"), d.idle().unwrap().0] {
        let content_type = if body.windows(6).any(|w| w == b"Status") {
            COMMAND
        } else {
            CHECKIN
        };
        assert_eq!(
            mtls.put("/mdm", content_type, &[], body).await.unwrap().status.as_u16(),
            200
        );
    }
    let plist = |pairs: &[(&str, plist::Value)]| {
        let mut dict = plist::Dictionary::new();
        dict.insert("UDID".into(), plist::Value::String(d.udid.clone()));
        for (k, v) in pairs {
            dict.insert(k.to_string(), v.clone());
        }
        annal::testkit::sim::encode(dict)
    };
    let set = plist(&[
        ("MessageType", "SetBootstrapToken".into()),
        ("BootstrapToken", plist::Value::Data(b"bt-secret".to_vec())),
    ]);
    assert_eq!(
        mtls.put("/checkin", CHECKIN, &[], set).await.unwrap().status.as_u16(),
        200
    );
    let got = mtls
        .put(
            "/checkin",
            CHECKIN,
            &[],
            plist(&[("MessageType", "GetBootstrapToken".into())]),
        )
        .await
        .unwrap();
    assert_eq!(got.status.as_u16(), 200);
    let value = plist::Value::from_reader(std::io::Cursor::new(got.body.to_vec())).unwrap();
    assert_eq!(
        value
            .as_dictionary()
            .unwrap()
            .get("BootstrapToken")
            .and_then(|v| v.as_data()),
        Some(b"bt-secret".as_slice())
    );
    let ua = plist(&[("MessageType", "UserAuthenticate".into()), ("UserID", "u1".into())]);
    assert_eq!(
        mtls.put("/checkin", CHECKIN, &[], ua).await.unwrap().status.as_u16(),
        410
    );
    let tokens = plist(&[
        ("MessageType", "DeclarativeManagement".into()),
        ("Endpoint", "tokens".into()),
    ]);
    let answer = mtls.put("/checkin", CHECKIN, &[], tokens).await.unwrap();
    assert_eq!(answer.status.as_u16(), 200);
    assert!(String::from_utf8_lossy(&answer.body).contains("DeclarationsToken"));
    // A macOS user channel opens with its own TokenUpdate (no Authenticate on a user channel),
    // from the device's identity, and then polls on its own stream.
    let user_token = plist(&[
        ("MessageType", "TokenUpdate".into()),
        ("UserID", "A1B2C3D4-0000-4000-8000-000000000001".into()),
        ("UserShortName", "alice".into()),
        ("Topic", "t".into()),
        ("Token", plist::Value::Data(vec![7; 32])),
        ("PushMagic", "user-magic".into()),
    ]);
    assert_eq!(
        mtls.put("/checkin", CHECKIN, &[], user_token)
            .await
            .unwrap()
            .status
            .as_u16(),
        200
    );
    let user_idle = plist(&[
        ("UserID", "A1B2C3D4-0000-4000-8000-000000000001".into()),
        ("Status", "Idle".into()),
    ]);
    assert_eq!(
        mtls.put("/connect", COMMAND, &[], user_idle)
            .await
            .unwrap()
            .status
            .as_u16(),
        200
    );
    let user_stream = format!("enrollment-{}:A1B2C3D4-0000-4000-8000-000000000001", d.udid);
    let user_events = store_of(&server).await.read_stream(&user_stream, 1, 10).await.unwrap();
    let types: Vec<&str> = user_events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types, vec!["IdentityBound", "TokenUpdate", "Idle"]);
    // The escrowed token is sealed in the log.
    let events = store_of(&server)
        .await
        .read_stream(&format!("enrollment-{}", d.udid), 1, 100)
        .await
        .unwrap();
    assert!(events
        .iter()
        .all(|e| !String::from_utf8_lossy(&e.data).contains("bt-secret")));
    assert!(events
        .iter()
        .all(|e| !String::from_utf8_lossy(e.raw.as_deref().unwrap_or_default()).contains("bt-secret")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_proxy_plain_http_with_signatures() {
    let server = Server::start(&["--behind-proxy"]).await;
    assert!(server.base.starts_with("http://"));
    let client = server.client();
    let d = device(&server, 4);
    enroll(&client, &d).await;
    assert_eq!(signed(&client, &d, COMMAND, d.idle().unwrap().0).await.0, 200);
    // Without a TLS client certificate to fall back on, an unsigned request is refused.
    let unsigned = client.put("/mdm", COMMAND, &[], d.idle().unwrap().0).await.unwrap();
    assert_eq!(unsigned.status.as_u16(), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identities_from_a_configured_external_ca_are_accepted() {
    let external_dir = tempfile::tempdir().unwrap();
    let external = annal::pki::Ca::load_or_init(external_dir.path()).unwrap();
    let pem = external_dir.path().join("ca.pem");
    let server = Server::start(&["--external-ca", pem.to_str().unwrap()]).await;
    let client = server.client();
    let d = VirtualDevice::new(
        5,
        external.issue_device_identity("ext-5", KeyKind::EcdsaP256, 30).unwrap(),
    );
    enroll(&client, &d).await;
    let events = store_of(&server)
        .await
        .read_stream(&format!("enrollment-{}", d.udid), 1, 10)
        .await
        .unwrap();
    let bound = events.iter().find(|e| e.event_type == "IdentityBound").unwrap();
    assert!(String::from_utf8_lossy(&bound.data).contains("ext-5"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_cannot_authenticate_a_second_enrollment() {
    let server = Server::start(&[]).await;
    let client = server.client();
    let (a, b) = (device(&server, 1), device(&server, 2));
    enroll(&client, &a).await;
    // Device A's own, valid identity claiming to be device B.
    let as_b = String::from_utf8(b.authenticate("t")).unwrap();
    let body = as_b.into_bytes();
    let signature = a.identity.sign_mdm(&body, MdmDigest::Sha256).unwrap();
    let before = head(&server).await;
    let answer = client
        .put("/mdm", CHECKIN, &[("Mdm-Signature", &signature)], body)
        .await
        .unwrap();
    assert_eq!(answer.status.as_u16(), 403);
    assert_eq!(
        head(&server).await,
        before,
        "the refused Authenticate appended an event"
    );
    // A re-enrolls with the same certificate: still its own.
    assert_eq!(signed(&client, &a, CHECKIN, a.authenticate("t")).await.0, 200);
    // B with its own identity is fine.
    enroll(&client, &b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_with_events_is_never_given_a_new_data_key() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite:{}", dir.path().join("annal.db").display());
    {
        let server = Server::start_with(dir.path(), &store, &[]).await;
        let d = device(&server, 1);
        enroll(&server.client(), &d).await;
    }
    std::fs::remove_file(dir.path().join("secrets.key")).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_annal"))
        .args(["serve", "--listen", "127.0.0.1:0", "--store", &store])
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "serve started with a new key for a log full of sealed secrets"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("data key"));
    assert!(!dir.path().join("secrets.key").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sealed_command_this_node_cannot_open_is_not_recorded_as_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite:{}", dir.path().join("annal.db").display());
    let d;
    {
        let server = Server::start_with(dir.path(), &store, &[]).await;
        let client = server.client();
        d = device(&server, 1);
        enroll(&client, &d).await;
        // DeviceLock carries a PIN: it is stored sealed.
        let mut lock = annal::mdm::command::command("DeviceLock");
        lock.insert("PIN".into(), plist::Value::String("123456".into()));
        let auth = format!("Bearer {}", server.api_key());
        let queued = client
            .put(
                &format!("/v1/enqueue/{}", d.udid),
                "application/xml",
                &[("Authorization", &auth), ("X-Annal-Reason", "reported lost")],
                annal::testkit::sim::encode(lock),
            )
            .await
            .unwrap();
        assert_eq!(queued.status.as_u16(), 200);
    }
    // The same log served with another data key (a misconfigured node).
    let other_key = dir.path().join("other.key");
    common::write_private(&other_key, "11".repeat(32));
    let key_arg = other_key.to_str().unwrap().to_string();
    let before = {
        let server = Server::start_with(dir.path(), &store, &["--data-key-file", &key_arg]).await;
        let before = head(&server).await;
        let (status, _) = signed(&server.client(), &d, COMMAND, d.idle().unwrap().0).await;
        assert_eq!(status, 500);
        assert_eq!(
            head(&server).await,
            before,
            "an undeliverable command was recorded as delivered"
        );
        before
    };
    // With the right key the command is delivered, in clear to the device only.
    let server = Server::start_with(dir.path(), &store, &[]).await;
    let (status, body) = signed(&server.client(), &d, COMMAND, d.idle().unwrap().0).await;
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).contains("123456"));
    assert_eq!(head(&server).await, before + 2, "Idle and CommandDelivered");
}

/// The CommandUUID of a command-channel reply, or `None` for an empty one.
fn delivered_uuid(body: &[u8]) -> Option<String> {
    if body.is_empty() {
        return None;
    }
    let value = plist::Value::from_reader(std::io::Cursor::new(body)).unwrap();
    let uuid = value.as_dictionary()?.get("CommandUUID")?.as_string()?;
    Some(uuid.to_owned())
}

/// Issue 14: an answer whose Status and CommandUUID can be read but whose payload cannot used
/// to be a 400, and the device sent it again forever. Now the command ends as an error with
/// reason `unparseable_report`, the device gets the next command, and the same bad answer
/// again does not bring the command back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_answer_ends_its_command_and_does_not_loop() {
    let server = Server::start(&[]).await;
    let client = server.client();
    let d = device(&server, 1);
    enroll(&client, &d).await;
    let auth = format!("Bearer {}", server.api_key());
    for request_type in ["ProfileList", "SecurityInfo"] {
        let queued = client
            .put(
                &format!("/v1/enqueue/{}", d.udid),
                "application/xml",
                &[("Authorization", &auth)],
                annal::testkit::sim::encode(annal::mdm::command::command(request_type)),
            )
            .await
            .unwrap();
        assert_eq!(queued.status.as_u16(), 200, "{request_type}");
    }
    let (status, body) = signed(&client, &d, COMMAND, d.idle().unwrap().0).await;
    assert_eq!(status, 200);
    let first = delivered_uuid(&body).expect("the first command");
    // Keys in Apple's order: the broken value comes before Status and UDID.
    let bad = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<plist version="1.0"><dict>
<key>CommandUUID</key><string>{first}</string>
<key>ProfileList</key><array><dict><key>PayloadVersion</key><integer>one</integer></dict></array>
<key>Status</key><string>Acknowledged</string>
<key>UDID</key><string>{}</string>
</dict></plist>"#,
        d.udid
    )
    .into_bytes();
    let before = head(&server).await;
    let (status, body) = signed(&client, &d, COMMAND, bad.clone()).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let second = delivered_uuid(&body).expect("the next command is handed out");
    assert_ne!(second, first);

    let store = store_of(&server).await;
    let events = store.read_all(before + 1, 100).await.unwrap();
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types, vec!["CommandErrored", "CommandDelivered"]);
    let errored: serde_json::Value = serde_json::from_slice(&events[0].data).unwrap();
    assert_eq!(errored["command_uuid"], first.as_str());
    assert_eq!(errored["request_type"], "ProfileList");
    assert_eq!(errored["reason"], "unparseable_report");
    assert_eq!(errored["unparseable"]["status"], "Acknowledged");
    assert_eq!(errored["unparseable"]["raw_length"], bad.len() as u64);
    assert_eq!(errored["unparseable"]["raw_truncated"], false);
    let detail = errored["unparseable"]["detail"].as_str().unwrap();
    assert!(
        detail.contains("ProfileList[0].PayloadVersion") && detail.contains("not an integer"),
        "{detail}"
    );
    assert_eq!(
        events[0].raw.as_deref(),
        Some(&bad[..]),
        "the answer is kept byte for byte"
    );

    // The same bad answer again: recorded, answered 200, and the first command stays done.
    let (status, body) = signed(&client, &d, COMMAND, bad.clone()).await;
    assert_eq!(status, 200);
    assert_eq!(delivered_uuid(&body).as_deref(), Some(second.as_str()));
    // The second command answered properly; then Idle finds nothing: the first never returns.
    let ack = format!(
        r#"<plist version="1.0"><dict><key>CommandUUID</key><string>{second}</string>
<key>SecurityInfo</key><dict/><key>Status</key><string>Acknowledged</string>
<key>UDID</key><string>{}</string></dict></plist>"#,
        d.udid
    );
    let (status, body) = signed(&client, &d, COMMAND, ack.into_bytes()).await;
    assert_eq!((status, delivered_uuid(&body)), (200, None));
    let (status, body) = signed(&client, &d, COMMAND, d.idle().unwrap().0).await;
    assert_eq!((status, delivered_uuid(&body)), (200, None));

    // The command status API shows why the command failed.
    let key = server.api_key();
    let mut command = serde_json::Value::Null;
    for _ in 0..50 {
        let (code, body) = common::admin::get(&client, &format!("/v1/commands/{first}"), &key).await;
        assert_eq!(code, 200, "{body}");
        command = body;
        if command.to_string().contains("unparseable_report") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let text = command.to_string();
    assert!(text.contains("\"error_reason\":\"unparseable_report\""), "{text}");
    assert!(text.contains("\"status\":\"error\""), "{text}");

    // A body where not even Status can be read is still a 400 naming the problem, appending
    // nothing.
    let before = head(&server).await;
    let hopeless = format!(
        "<plist><dict><key>CommandUUID</key><string>{first}</string><key>Status</key><integer>1</integer></dict></plist>"
    );
    let (status, body) = signed(&client, &d, COMMAND, hopeless.into_bytes()).await;
    assert_eq!(status, 400);
    assert_eq!(
        String::from_utf8_lossy(&body),
        "invalid message: Status: expected a string, found an integer"
    );
    assert_eq!(head(&server).await, before);
}

/// Issue 14: a TokenUpdate whose `<data>` has no padding and odd line breaks (as some clients
/// and public captures send it) is accepted with the same token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_update_with_lenient_data_is_accepted() {
    let server = Server::start(&[]).await;
    let client = server.client();
    let d = device(&server, 1);
    enroll(&client, &d).await;
    let canonical = String::from_utf8(d.token_update(common::server::TOPIC)).unwrap();
    // The writer wraps data on lines: padding sits before a line break.
    assert!(canonical.contains("=\n"), "the test needs padded data: {canonical}");
    let lenient = canonical
        .replace("==\n", "\n")
        .replace("=\n", "\n")
        .replace("<data>", "<data>\r\n \t");
    assert!(!lenient.contains("=\n"), "no padding left");
    let before = head(&server).await;
    let (status, body) = signed(&client, &d, CHECKIN, lenient.into_bytes()).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let store = store_of(&server).await;
    let events = store.read_all(before + 1, 10).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event_type, "TokenUpdate");
    let data: serde_json::Value = serde_json::from_slice(&events[0].data).unwrap();
    assert_eq!(data["token_hex"], hex::encode(d.udid.as_bytes().repeat(2)));
    // A value that is still unreadable is refused by key, and appends nothing.
    let broken = String::from_utf8(d.token_update(common::server::TOPIC))
        .unwrap()
        .replacen("<data>", "<data>&#33;", 1);
    let (status, body) = signed(&client, &d, CHECKIN, broken.into_bytes()).await;
    assert_eq!(status, 400);
    let text = String::from_utf8_lossy(&body);
    assert!(text.contains(" at Token: not base64"), "{text}");
    assert_eq!(head(&server).await, before + 1);
}

//! `annal migrate from-nanomdm` against NanoMDM's published PostgreSQL schema on the real
//! server, filled as NanoMDM fills it (its raw Authenticate and TokenUpdate, an identity from
//! its own CA, the UnlockToken as lib/pq writes bytes into TEXT, queued commands and their
//! results); then the real `annal serve` on the migrated log: the device keeps working with
//! its old certificate and gets its queued commands, another certificate of the same old CA
//! is refused.

mod common;

use std::path::Path;
use std::process::Command;

use annal::pki::{Ca, KeyKind};
use annal::testkit::sim::VirtualDevice;
use base64::Engine as _;
use common::server::{signed, Server, CHECKIN, COMMAND, TOPIC};
use plist::{Dictionary, Value};
use serde_json::Value as Json;
use tokio_postgres::{Client, NoTls};

const SCHEMA_SQL: &str = include_str!("fixtures/nanomdm/pgsql-schema.sql");

/// A NanoMDM database of its own in a new PostgreSQL schema: (client, URL for `--source`).
async fn nanomdm_database() -> (Client, String) {
    let base = common::postgres_base_url();
    let schema = format!("nanomdm_{}", uuid::Uuid::now_v7().simple());
    let url = annal::store::url_with_new_schema(&base, &schema)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {base}: {e}"));
    let (client, connection) = tokio_postgres::connect(&url, NoTls).await.unwrap();
    tokio::spawn(connection);
    client
        .batch_execute(SCHEMA_SQL)
        .await
        .expect("NanoMDM's schema.sql loads");
    (client, url)
}

fn plist(d: Dictionary) -> String {
    String::from_utf8(annal::testkit::sim::encode(d)).unwrap()
}

fn command_plist(uuid: &str, request_type: &str) -> String {
    let mut command = Dictionary::new();
    command.insert("RequestType".into(), Value::String(request_type.into()));
    let mut d = Dictionary::new();
    d.insert("CommandUUID".into(), Value::String(uuid.into()));
    d.insert("Command".into(), Value::Dictionary(command));
    plist(d)
}

/// What NanoMDM stores for a device after its Authenticate and TokenUpdate (`StoreAuthenticate`,
/// `storeDeviceTokenUpdate`, the enrollments upsert) and the cert-auth association.
async fn store_device(db: &Client, device: &VirtualDevice) {
    let unlock = format!("\\x{}", hex::encode([0x5a_u8; 64]));
    db.execute(
        "INSERT INTO devices (id, identity_cert, serial_number, authenticate, authenticate_at, \
         token_update, token_update_at, unlock_token, unlock_token_at, bootstrap_token_b64, bootstrap_token_at) \
         VALUES ($1, $2, $3, $4, CURRENT_TIMESTAMP, $5, CURRENT_TIMESTAMP, $6, CURRENT_TIMESTAMP, $7, CURRENT_TIMESTAMP)",
        &[
            &device.udid,
            &device.identity.cert_pem(),
            &device.serial,
            &String::from_utf8(device.authenticate(TOPIC)).unwrap(),
            &String::from_utf8(device.token_update(TOPIC)).unwrap(),
            &unlock,
            &base64::engine::general_purpose::STANDARD.encode(b"bootstrap-secret"),
        ],
    )
    .await
    .unwrap();
    db.execute(
        "INSERT INTO enrollments (id, device_id, type, topic, push_magic, token_hex, last_seen_at) \
         VALUES ($1, $1, 'Device', $2, $3, $4, CURRENT_TIMESTAMP)",
        &[
            &device.udid,
            &TOPIC,
            &format!("{}-magic", device.serial),
            &hex::encode(device.udid.as_bytes().repeat(2)),
        ],
    )
    .await
    .unwrap();
    db.execute(
        "INSERT INTO cert_auth_associations (id, sha256) VALUES ($1, $2)",
        &[&device.udid, &annal::pki::fingerprint_sha256(&device.identity.cert_der)],
    )
    .await
    .unwrap();
}

const USER: &str = "A1B2C3D4-0000-0000-0000-00000000USER";

/// A user channel's message: `MessageType` (or `Status` for a report) with the user's ids.
fn user_message(device: &VirtualDevice, pairs: &[(&str, Value)]) -> Vec<u8> {
    let mut d = Dictionary::new();
    d.insert("UDID".into(), Value::String(device.udid.clone()));
    d.insert("UserID".into(), Value::String(USER.into()));
    for (k, v) in pairs {
        d.insert((*k).into(), v.clone());
    }
    annal::testkit::sim::encode(d)
}

/// What NanoMDM stores for a user channel's TokenUpdate (`storeUserTokenUpdate`), under the id
/// its default normalizer gives a user channel: `<UDID>:<UserID>`.
async fn store_user(db: &Client, device: &VirtualDevice) -> String {
    let id = format!("{}:{USER}", device.udid);
    let token_update = user_message(
        device,
        &[
            ("MessageType", Value::String("TokenUpdate".into())),
            ("Topic", Value::String(TOPIC.into())),
            ("Token", Value::Data(b"user-token".to_vec())),
            ("PushMagic", Value::String("user-magic".into())),
            ("UserShortName", Value::String("alice".into())),
        ],
    );
    db.execute(
        "INSERT INTO users (id, device_id, user_short_name, token_update, token_update_at) \
         VALUES ($1, $2, 'alice', $3, CURRENT_TIMESTAMP)",
        &[&id, &device.udid, &String::from_utf8(token_update).unwrap()],
    )
    .await
    .unwrap();
    db.execute(
        "INSERT INTO enrollments (id, device_id, user_id, type, topic, push_magic, token_hex, last_seen_at) \
         VALUES ($1, $2, $1, 'User', $3, 'user-magic', $4, CURRENT_TIMESTAMP)",
        &[&id, &device.udid, &TOPIC, &hex::encode(b"user-token")],
    )
    .await
    .unwrap();
    id
}

/// A command queued to `id` as NanoMDM's `enqueue` does, `seconds` ago.
async fn queue(db: &Client, id: &str, uuid: &str, request_type: &str, seconds: i32) {
    db.execute(
        "INSERT INTO commands (command_uuid, request_type, command) VALUES ($1, $2, $3)",
        &[&uuid, &request_type, &command_plist(uuid, request_type)],
    )
    .await
    .unwrap();
    db.execute(
        "INSERT INTO enrollment_queue (id, command_uuid, created_at) \
         VALUES ($1, $2, CURRENT_TIMESTAMP - make_interval(secs => $3))",
        &[&id, &uuid, &f64::from(seconds)],
    )
    .await
    .unwrap();
}

/// The device's report stored as NanoMDM's `StoreCommandReport` stores it.
async fn answer(db: &Client, device: &VirtualDevice, uuid: &str, status: &str) {
    let raw = String::from_utf8(device.result(uuid, status, Dictionary::new())).unwrap();
    db.execute(
        "INSERT INTO command_results (id, command_uuid, status, result, not_now_at, not_now_tally) \
         VALUES ($1, $2, $3, $4, NULL, 0)",
        &[&device.udid, &uuid, &status, &raw],
    )
    .await
    .unwrap();
}

fn migrate(data_dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_annal"))
        .args(["migrate", "from-nanomdm"])
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env("ANNAL_LOG", "warn")
        .output()
        .expect("run annal migrate from-nanomdm")
}

fn report(output: &std::process::Output) -> Json {
    assert!(
        output.status.success(),
        "migrate failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON report")
}

/// The next command the device is given on `/mdm` for `body`, if any.
async fn next_command(client: &annal::testkit::sim::Client, device: &VirtualDevice, body: Vec<u8>) -> Option<String> {
    let (status, reply) = signed(client, device, COMMAND, body).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&reply));
    if reply.is_empty() {
        return None;
    }
    let command: Dictionary = plist::from_bytes(&reply).expect("a command plist");
    command.get("CommandUUID").and_then(Value::as_string).map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_migrated_nanomdm_device_keeps_working_and_only_its_certificate_gets_in() {
    let (db, source) = nanomdm_database().await;
    let old_ca_dir = tempfile::tempdir().unwrap();
    let old_ca = Ca::load_or_init(old_ca_dir.path()).unwrap();
    let identity = old_ca.issue_device_identity("nano-1", KeyKind::EcdsaP256, 365).unwrap();
    let device = VirtualDevice::new(7, identity);
    store_device(&db, &device).await;
    // NanoMDM's delivery order is priority, then age: C1 first, then C2 (answered), C3
    // (NotNow, so still due), C4 (cleared from the queue unanswered).
    queue(&db, &device.udid, "C1-info", "DeviceInformation", 40).await;
    queue(&db, &device.udid, "C2-profiles", "ProfileList", 30).await;
    queue(&db, &device.udid, "C3-security", "SecurityInfo", 20).await;
    queue(&db, &device.udid, "C4-cleared", "CertificateList", 10).await;
    answer(&db, &device, "C2-profiles", "Acknowledged").await;
    answer(&db, &device, "C3-security", "NotNow").await;
    db.execute(
        "UPDATE enrollment_queue SET active = FALSE WHERE command_uuid = 'C4-cleared'",
        &[],
    )
    .await
    .unwrap();
    let user_channel = store_user(&db, &device).await;
    queue(&db, &user_channel, "U1-user", "ProfileList", 5).await;

    let dir = tempfile::tempdir().unwrap();
    let store_url = format!("sqlite:{}", dir.path().join("annal.db").display());

    // A dry run reads and counts everything and writes nothing.
    let dry = report(&migrate(
        dir.path(),
        &["--source", &source, "--to", &store_url, "--json", "--dry-run"],
    ));
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["device_channels"], 1);
    let store = annal::store::open(&store_url.parse().unwrap()).await.unwrap();
    assert_eq!(store.head().await.unwrap().position, 0, "a dry run writes nothing");

    let done = report(&migrate(
        dir.path(),
        &["--source", &source, "--to", &store_url, "--json"],
    ));
    assert_eq!(done["device_channels"], 1);
    assert_eq!(done["user_channels"], 1);
    assert_eq!(
        (
            &done["commands"]["pending"],
            &done["commands"]["answered"],
            &done["commands"]["cleared"]
        ),
        (&Json::from(3), &Json::from(1), &Json::from(1))
    );
    let written = done["events"].as_u64().unwrap();
    assert_eq!(store.head().await.unwrap().position, written);

    // The history says where it came from, and no secret is in clear.
    let events = store
        .read_stream(&format!("enrollment-{}", device.udid), 1, 1000)
        .await
        .unwrap();
    assert!(
        events.iter().all(|e| e.actor.starts_with("import:nanomdm by ")),
        "actor marks the import"
    );
    let auth = events.iter().find(|e| e.event_type == "Authenticate").unwrap();
    let auth: Json = serde_json::from_slice(&auth.data).unwrap();
    assert_eq!(auth["identity"]["proof"], "nanomdm-import");
    assert_eq!(
        auth["identity"]["fingerprint_sha256"],
        annal::pki::fingerprint_sha256(&device.identity.cert_der)
    );
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    for t in [
        "Authenticate",
        "IdentityBound",
        "TokenUpdate",
        "SetBootstrapToken",
        "CommandQueued",
        "CommandAcknowledged",
        "CommandNotNow",
        "CommandCancelled",
    ] {
        assert!(types.contains(&t), "{t} in {types:?}");
    }
    let all = store.read_all(1, 10_000).await.unwrap();
    for e in &all {
        for bytes in [Some(&e.data), e.raw.as_ref()].into_iter().flatten() {
            let text = String::from_utf8_lossy(bytes);
            assert!(
                !text.contains("-magic") && !text.contains("user-magic"),
                "PushMagic in clear in {}",
                e.event_type
            );
            assert!(!text.contains("WlpaWlpa"), "UnlockToken in clear in {}", e.event_type);
            assert!(
                !text.contains("bootstrap-secret") && !text.contains("Ym9vdHN0cmFw"),
                "BootstrapToken in clear"
            );
        }
    }
    let verified = annal::integrity::verify(store.as_ref(), None, |_| {}).await.unwrap();
    assert_eq!(verified.first_problem, None);

    // Again: the enrollment is already there, so nothing is written; --skip-existing says so.
    let again = migrate(dir.path(), &["--source", &source, "--to", &store_url, "--json"]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already in"));
    let skipped = report(&migrate(
        dir.path(),
        &["--source", &source, "--to", &store_url, "--json", "--skip-existing"],
    ));
    assert_eq!(skipped["events"], 0);
    assert_eq!(skipped["already_in_log"][0], device.udid.as_str());
    assert_eq!(store.head().await.unwrap().position, written);
    drop(store);

    // The real server on the migrated log.
    let server = Server::start_with(dir.path(), &store_url, &[]).await;
    let client = server.client();
    // The old identity polls and gets its queue in NanoMDM's order: C1, then C3 (NotNow
    // before the migration, due again in a new session); C2 answered and C4 cleared never come.
    let (idle, _) = device.idle().unwrap();
    assert_eq!(
        next_command(&client, &device, idle.clone()).await.as_deref(),
        Some("C1-info")
    );
    let ack = device.result("C1-info", "Acknowledged", Dictionary::new());
    assert_eq!(
        next_command(&client, &device, ack).await.as_deref(),
        Some("C3-security")
    );
    let ack = device.result("C3-security", "Acknowledged", Dictionary::new());
    assert_eq!(next_command(&client, &device, ack).await, None);
    // The user channel speaks with its device's identity and gets its own queue.
    let idle = user_message(&device, &[("Status", Value::String("Idle".into()))]);
    assert_eq!(next_command(&client, &device, idle).await.as_deref(), Some("U1-user"));
    // A TokenUpdate with the old certificate is accepted, as NanoMDM accepted it.
    let (status, _) = signed(&client, &device, CHECKIN, device.token_update(TOPIC)).await;
    assert_eq!(status, 200);

    // The same identity as a TLS client certificate (no Mdm-Signature) is accepted too.
    let mtls = annal::testkit::sim::Client::with_identity(
        &server.base,
        server.ca().cert_der(),
        &device.identity.cert_der,
        &device.identity.key_pkcs8_der,
    )
    .unwrap();
    let (idle, _) = device.idle().unwrap();
    let answer = mtls.put("/mdm", COMMAND, &[], idle).await.unwrap();
    assert_eq!(answer.status.as_u16(), 200);

    // Another certificate from the same old CA gets nowhere: not as this device, not as a new one.
    let stranger_identity = old_ca.issue_device_identity("nano-2", KeyKind::EcdsaP256, 365).unwrap();
    let impostor = VirtualDevice::new(7, stranger_identity.clone());
    let (idle, _) = impostor.idle().unwrap();
    let (status, _) = signed(&client, &impostor, COMMAND, idle).await;
    assert_eq!(status, 403, "another certificate of the old CA is refused");
    let newcomer = VirtualDevice::new(8, stranger_identity);
    let (status, _) = signed(&client, &newcomer, CHECKIN, newcomer.authenticate(TOPIC)).await;
    assert_eq!(status, 403, "the old CA enrolls nobody new");
    // Nor over mTLS: the handshake itself refuses it.
    let stranger_tls = annal::testkit::sim::Client::with_identity(
        &server.base,
        server.ca().cert_der(),
        &newcomer.identity.cert_der,
        &newcomer.identity.key_pkcs8_der,
    )
    .unwrap();
    let (idle, _) = newcomer.idle().unwrap();
    let refused = stranger_tls.put("/mdm", COMMAND, &[], idle).await;
    assert!(
        refused.as_ref().map_or(true, |a| a.status.as_u16() == 403),
        "another certificate of the old CA over mTLS: {:?}",
        refused.map(|a| a.status)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_row_is_named_and_nothing_is_written() {
    let (db, source) = nanomdm_database().await;
    let old_ca_dir = tempfile::tempdir().unwrap();
    let old_ca = Ca::load_or_init(old_ca_dir.path()).unwrap();
    let good = VirtualDevice::new(1, old_ca.issue_device_identity("good", KeyKind::EcdsaP256, 30).unwrap());
    store_device(&db, &good).await;
    let bad = VirtualDevice::new(2, old_ca.issue_device_identity("bad", KeyKind::EcdsaP256, 30).unwrap());
    store_device(&db, &bad).await;
    // A TokenUpdate for another device stored under this one.
    db.execute(
        "UPDATE devices SET token_update = $1 WHERE id = $2",
        &[&String::from_utf8(good.token_update(TOPIC)).unwrap(), &bad.udid],
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store_url = format!("sqlite:{}", dir.path().join("annal.db").display());
    let out = migrate(dir.path(), &["--source", &source, "--to", &store_url]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("NanoMDM's devices row {}: token_update", bad.udid)),
        "{stderr}"
    );
    let store = annal::store::open(&store_url.parse().unwrap()).await.unwrap();
    assert_eq!(store.head().await.unwrap().position, 0, "nothing half-written");
}

/// `cargo test --test nanomdm_migrate -- --ignored --nocapture`: how fast 1,000 devices with
/// three commands each import (the figure in the report).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check"]
async fn a_thousand_devices() {
    let (db, source) = nanomdm_database().await;
    let old_ca_dir = tempfile::tempdir().unwrap();
    let old_ca = Ca::load_or_init(old_ca_dir.path()).unwrap();
    for i in 0..1000 {
        let d = VirtualDevice::new(
            i,
            old_ca
                .issue_device_identity(&format!("d{i}"), KeyKind::EcdsaP256, 30)
                .unwrap(),
        );
        store_device(&db, &d).await;
        for (n, rt) in ["DeviceInformation", "ProfileList", "SecurityInfo"].iter().enumerate() {
            let uuid = format!("{i}-{n}");
            queue(&db, &d.udid, &uuid, rt, 30 - n as i32).await;
        }
        answer(&db, &d, &format!("{i}-1"), "Acknowledged").await;
    }
    let dir = tempfile::tempdir().unwrap();
    let store_url = format!("sqlite:{}", dir.path().join("annal.db").display());
    let started = std::time::Instant::now();
    let done = report(&migrate(
        dir.path(),
        &["--source", &source, "--to", &store_url, "--json"],
    ));
    eprintln!(
        "1,000 devices: {} rows, {} events in {:.2}s (the binary's own figure: {:.0} rows/s)",
        done["rows_read"],
        done["events"],
        started.elapsed().as_secs_f64(),
        done["rows_per_second"].as_f64().unwrap()
    );
    assert_eq!(done["device_channels"], 1000);
    // The same source into a PostgreSQL log.
    let pg = common::postgres_url_for_new_schema().await;
    let pg_dir = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let done = report(&migrate(pg_dir.path(), &["--source", &source, "--to", &pg, "--json"]));
    eprintln!(
        "1,000 devices into PostgreSQL: {} events in {:.2}s ({:.0} rows/s)",
        done["events"],
        started.elapsed().as_secs_f64(),
        done["rows_per_second"].as_f64().unwrap()
    );
    assert_eq!(done["device_channels"], 1000);
}

const MYSQL_SCHEMA_SQL: &str = include_str!("fixtures/nanomdm/mysql-schema.sql");

/// A NanoMDM database of its own on the MySQL (MariaDB) server named by ANNAL_TEST_MYSQL_URL
/// (default: the local one), with NanoMDM's MySQL schema loaded: (connection, URL).
async fn nanomdm_mysql() -> (mysql_async::Conn, String) {
    use mysql_async::prelude::Queryable;
    let base = std::env::var("ANNAL_TEST_MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into());
    let name = format!("nanomdm_{}", uuid::Uuid::now_v7().simple());
    let mut admin = mysql_async::Conn::from_url(&base)
        .await
        .unwrap_or_else(|e| panic!("MySQL is required for this test and could not be reached at {base}: {e}"));
    admin.query_drop(format!("CREATE DATABASE {name}")).await.unwrap();
    drop(admin);
    let url = format!("{}/{name}", base.rsplit_once('/').unwrap().0);
    let mut conn = mysql_async::Conn::from_url(&url).await.unwrap();
    // schema.sql is a list of statements, each ending a line with `;`.
    for statement in MYSQL_SCHEMA_SQL.split(";\n").map(str::trim).filter(|s| !s.is_empty()) {
        conn.query_drop(statement).await.expect("NanoMDM's MySQL schema loads");
    }
    (conn, url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_migrated_from_nanomdm_on_mysql_gets_its_queue() {
    use mysql_async::prelude::Queryable;
    let (mut db, source) = nanomdm_mysql().await;
    let old_ca_dir = tempfile::tempdir().unwrap();
    let old_ca = Ca::load_or_init(old_ca_dir.path()).unwrap();
    let device = VirtualDevice::new(
        3,
        old_ca
            .issue_device_identity("nano-my", KeyKind::EcdsaP256, 365)
            .unwrap(),
    );
    // As NanoMDM's MySQL backend stores them: the UnlockToken as bytes in a MEDIUMBLOB.
    db.exec_drop(
        "INSERT INTO nano_devices (id, identity_cert, serial_number, authenticate, authenticate_at, \
         token_update, token_update_at, unlock_token, unlock_token_at) \
         VALUES (?, ?, ?, ?, CURRENT_TIMESTAMP, ?, CURRENT_TIMESTAMP, ?, CURRENT_TIMESTAMP)",
        (
            &device.udid,
            device.identity.cert_pem(),
            &device.serial,
            String::from_utf8(device.authenticate(TOPIC)).unwrap(),
            String::from_utf8(device.token_update(TOPIC)).unwrap(),
            vec![0x5a_u8; 64],
        ),
    )
    .await
    .unwrap();
    db.exec_drop(
        "INSERT INTO nano_enrollments (id, device_id, type, topic, push_magic, token_hex, last_seen_at) \
         VALUES (?, ?, 'Device', ?, ?, ?, CURRENT_TIMESTAMP)",
        (
            &device.udid,
            &device.udid,
            TOPIC,
            format!("{}-magic", device.serial),
            hex::encode(device.udid.as_bytes().repeat(2)),
        ),
    )
    .await
    .unwrap();
    db.exec_drop(
        "INSERT INTO nano_cert_auth_associations (id, sha256) VALUES (?, ?)",
        (&device.udid, annal::pki::fingerprint_sha256(&device.identity.cert_der)),
    )
    .await
    .unwrap();
    for (uuid, request_type, age) in [("M1-done", "ProfileList", 20), ("M2-due", "DeviceInformation", 10)] {
        db.exec_drop(
            "INSERT INTO nano_commands (command_uuid, request_type, command) VALUES (?, ?, ?)",
            (uuid, request_type, command_plist(uuid, request_type)),
        )
        .await
        .unwrap();
        db.exec_drop(
            "INSERT INTO nano_enrollment_queue (id, command_uuid, created_at) \
             VALUES (?, ?, CURRENT_TIMESTAMP - INTERVAL ? SECOND)",
            (&device.udid, uuid, age),
        )
        .await
        .unwrap();
    }
    db.exec_drop(
        "INSERT INTO nano_command_results (id, command_uuid, status, result) VALUES (?, ?, 'Acknowledged', ?)",
        (
            &device.udid,
            "M1-done",
            String::from_utf8(device.result("M1-done", "Acknowledged", Dictionary::new())).unwrap(),
        ),
    )
    .await
    .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let store_url = format!("sqlite:{}", dir.path().join("annal.db").display());
    let done = report(&migrate(
        dir.path(),
        &["--source", &source, "--to", &store_url, "--json"],
    ));
    assert_eq!(done["device_channels"], 1);
    assert_eq!(
        (&done["commands"]["pending"], &done["commands"]["answered"]),
        (&Json::from(1), &Json::from(1))
    );
    let store = annal::store::open(&store_url.parse().unwrap()).await.unwrap();
    for e in store.read_all(1, 10_000).await.unwrap() {
        for bytes in [Some(&e.data), e.raw.as_ref()].into_iter().flatten() {
            let text = String::from_utf8_lossy(bytes);
            assert!(
                !text.contains("-magic") && !text.contains("WlpaWlpa"),
                "a secret in clear in {}",
                e.event_type
            );
        }
    }
    drop(store);

    let server = Server::start_with(dir.path(), &store_url, &[]).await;
    let client = server.client();
    let (idle, _) = device.idle().unwrap();
    assert_eq!(next_command(&client, &device, idle).await.as_deref(), Some("M2-due"));
    let other = VirtualDevice::new(
        3,
        old_ca
            .issue_device_identity("nano-my-2", KeyKind::EcdsaP256, 365)
            .unwrap(),
    );
    let (idle, _) = other.idle().unwrap();
    assert_eq!(signed(&client, &other, COMMAND, idle).await.0, 403);
}

/// NanoMDM's file store as its `FileStorage` writes it: one directory per enrollment id.
fn write_file_store(root: &Path, device: &VirtualDevice) {
    let dir = root.join(&device.udid);
    let write = |path: std::path::PathBuf, bytes: &[u8]| {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    };
    let hash = annal::pki::fingerprint_sha256(&device.identity.cert_der);
    write(dir.join("Identity.pem"), device.identity.cert_pem().as_bytes());
    write(dir.join("SerialNumber.txt"), device.serial.as_bytes());
    write(dir.join("Authenticate.plist"), &device.authenticate(TOPIC));
    write(dir.join("UnlockToken.dat"), &[0x5a; 64]);
    write(dir.join("TokenUpdate.plist"), &device.token_update(TOPIC));
    write(dir.join("BootstrapToken.dat"), b"bootstrap-secret");
    write(dir.join("CertAuth.sha256.txt"), hash.as_bytes());
    write(
        root.join("CertAuth.txt"),
        format!("{},{hash}\n", device.udid).as_bytes(),
    );
    write(
        dir.join("QueueDone/F1-done.plist"),
        command_plist("F1-done", "ProfileList").as_bytes(),
    );
    write(
        dir.join("QueueDone/F1-done.result.plist"),
        &device.result("F1-done", "Acknowledged", Dictionary::new()),
    );
    write(
        dir.join("Queue/F2-due.plist"),
        command_plist("F2-due", "DeviceInformation").as_bytes(),
    );
    write(
        dir.join("QueueInactive/F3-cleared.plist"),
        command_plist("F3-cleared", "CertificateList").as_bytes(),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_migrated_from_nanomdm_file_store_gets_its_queue() {
    let old_ca_dir = tempfile::tempdir().unwrap();
    let old_ca = Ca::load_or_init(old_ca_dir.path()).unwrap();
    let device = VirtualDevice::new(
        5,
        old_ca
            .issue_device_identity("nano-file", KeyKind::EcdsaP256, 365)
            .unwrap(),
    );
    let nano = tempfile::tempdir().unwrap();
    write_file_store(nano.path(), &device);
    let source = format!("file:{}", nano.path().display());

    let dir = tempfile::tempdir().unwrap();
    let store_url = format!("sqlite:{}", dir.path().join("annal.db").display());
    let done = report(&migrate(
        dir.path(),
        &["--source", &source, "--to", &store_url, "--json"],
    ));
    assert_eq!(done["device_channels"], 1);
    assert_eq!(
        (
            &done["commands"]["pending"],
            &done["commands"]["answered"],
            &done["commands"]["cleared"]
        ),
        (&Json::from(1), &Json::from(1), &Json::from(1))
    );
    let store = annal::store::open(&store_url.parse().unwrap()).await.unwrap();
    for e in store.read_all(1, 10_000).await.unwrap() {
        for bytes in [Some(&e.data), e.raw.as_ref()].into_iter().flatten() {
            let text = String::from_utf8_lossy(bytes);
            assert!(
                !text.contains("-magic") && !text.contains("WlpaWlpa") && !text.contains("bootstrap-secret"),
                "a secret in clear in {}",
                e.event_type
            );
        }
    }
    drop(store);

    let server = Server::start_with(dir.path(), &store_url, &[]).await;
    let client = server.client();
    let (idle, _) = device.idle().unwrap();
    assert_eq!(next_command(&client, &device, idle).await.as_deref(), Some("F2-due"));
    let other = VirtualDevice::new(
        5,
        old_ca
            .issue_device_identity("nano-file-2", KeyKind::EcdsaP256, 365)
            .unwrap(),
    );
    let (idle, _) = other.idle().unwrap();
    assert_eq!(signed(&client, &other, COMMAND, idle).await.0, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_topic_other_than_the_installed_certificates_is_refused() {
    let old_ca_dir = tempfile::tempdir().unwrap();
    let old_ca = Ca::load_or_init(old_ca_dir.path()).unwrap();
    let device = VirtualDevice::new(
        9,
        old_ca
            .issue_device_identity("nano-topic", KeyKind::EcdsaP256, 365)
            .unwrap(),
    );
    let nano = tempfile::tempdir().unwrap();
    write_file_store(nano.path(), &device);
    let dir = tempfile::tempdir().unwrap();
    let store_url = format!("sqlite:{}", dir.path().join("annal.db").display());
    // `push-cert install` acts on an existing log: make it.
    let store = annal::store::open(&store_url.parse().unwrap()).await.unwrap();
    let (cert, key) = common::push::push_cert(dir.path(), "other", "com.apple.mgmt.other", 30);
    let installed = Command::new(env!("CARGO_BIN_EXE_annal"))
        .args([
            "push-cert",
            "install",
            cert.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
        ])
        .args(["--store", &store_url])
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        installed.status.success(),
        "{}",
        String::from_utf8_lossy(&installed.stderr)
    );
    let head = store.head().await.unwrap().position;
    let source = format!("file:{}", nano.path().display());
    let out = migrate(dir.path(), &["--source", &source, "--to", &store_url]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("uses the push topic com.apple.mgmt.test"), "{stderr}");
    assert_eq!(store.head().await.unwrap().position, head, "nothing written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_into_a_postgresql_log_that_holds_other_events_continues_its_chain() {
    let old_ca_dir = tempfile::tempdir().unwrap();
    let old_ca = Ca::load_or_init(old_ca_dir.path()).unwrap();
    let device = VirtualDevice::new(
        11,
        old_ca
            .issue_device_identity("nano-pg", KeyKind::EcdsaP256, 365)
            .unwrap(),
    );
    let nano = tempfile::tempdir().unwrap();
    write_file_store(nano.path(), &device);
    let backend = common::postgres().await;
    let dir = tempfile::tempdir().unwrap();
    // The server's data key, made with its log; the import seals with it.
    annal::server::data_key::load(dir.path(), None, 0).unwrap();
    // The log already holds something: the import goes after it, on the same chain.
    backend
        .store
        .append("unrelated", annal::store::ExpectedVersion::Any, common::events(3))
        .await
        .unwrap();
    let source = format!("file:{}", nano.path().display());
    let done = report(&migrate(
        dir.path(),
        &["--source", &source, "--to", &backend.url, "--json"],
    ));
    let head = backend.store.head().await.unwrap();
    assert_eq!(head.position, 3 + done["events"].as_u64().unwrap());
    let verified = annal::integrity::verify(backend.store.as_ref(), None, |_| {})
        .await
        .unwrap();
    assert_eq!(verified.first_problem, None);
    let pins = annal::service::imported_identities::fingerprints(backend.store.as_ref())
        .await
        .unwrap();
    assert_eq!(pins.len(), 1);
    assert_eq!(
        hex::encode(pins[0]),
        annal::pki::fingerprint_sha256(&device.identity.cert_der)
    );
}

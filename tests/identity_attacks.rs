//! Issue 15's attacks on device identity, carried out as they were (with nothing but one
//! enrollment token), over real HTTPS and SCEP against a real `annal serve`: each must now
//! fail, the server's log must say why, and the event log must hold no trace of success.

mod common;
#[path = "webhooks/receiver.rs"]
mod receiver;

use std::path::{Path, PathBuf};
use std::process::Command;

use annal::pki::scep::client::{renewal_req, CertRepOutcome};
use annal::pki::scep::{ContentCipher, FailInfo};
use annal::pki::{fingerprint_sha256, DeviceIdentity, TrustAnchors};
use annal::store::open;
use annal::testkit::sim::enroll::{fetch_profile, scep_enroll};
use annal::testkit::sim::{udid_of, Client, Clients, SimError, VirtualDevice};
use annal_schemas::{Event, RecordedEvent};
use common::admin::call;
use common::server::{signed, Server, CHECKIN, COMMAND};
use hyper::Method;
use plist::Dictionary;
use serde_json::{json, Value};

const TOPIC: &str = "com.apple.mgmt.External.2f0c6a4e-8a1b-4c55-9f3e-7d1e2b9c0a11";

struct Rig {
    server: Server,
    log: PathBuf,
    client: Client,
    clients: Clients,
    anchors: TrustAnchors,
    _dir: tempfile::TempDir,
}

impl Rig {
    async fn start(extra: &[&str]) -> Rig {
        rustls::crypto::aws_lc_rs::default_provider().install_default().ok();
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().join("data");
        std::fs::create_dir_all(&data_dir).unwrap();
        let store_url = format!("sqlite:{}", data_dir.join("annal.db").display());
        let log = dir.path().join("serve.log");
        let file = std::fs::File::create(&log).unwrap();
        let mut args = vec!["--topic", TOPIC];
        args.extend_from_slice(extra);
        let server = Server::start_configured(&data_dir, &store_url, &args, |c| {
            c.env("NO_COLOR", "1").stderr(file);
        })
        .await;
        let client = server.client();
        let clients = Clients::new(server.ca().cert_der());
        let anchors = TrustAnchors::new(vec![server.ca().cert_der().to_vec()]).unwrap();
        Rig {
            server,
            log,
            client,
            clients,
            anchors,
            _dir: dir,
        }
    }

    fn admin(&self) -> String {
        self.server.api_key()
    }

    /// A new enrollment token: (id, token).
    async fn token(&self, name: &str) -> (String, String) {
        let (status, created) = call(
            &self.client,
            Method::POST,
            "/v1/enrollment-tokens",
            Some(&self.admin()),
            Some(json!({ "name": name })),
        )
        .await;
        assert_eq!(status, 201, "{created}");
        (
            created["token_id"].as_str().unwrap().to_owned(),
            created["token"].as_str().unwrap().to_owned(),
        )
    }

    /// What a token holder can do: fetch a profile and get a certificate at /scep for `udid`
    /// (the sim asks for `CN=<udid>`, as the profile's subject says).
    async fn scep_identity(&self, token: &str, udid: &str) -> Result<DeviceIdentity, SimError> {
        let profile = fetch_profile(&self.client, token, &self.anchors).await.unwrap();
        scep_enroll(&self.clients, &profile, udid).await
    }

    async fn checkin(&self, d: &VirtualDevice, body: Vec<u8>) -> (u16, String) {
        let (status, body) = signed(&self.client, d, CHECKIN, body).await;
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    /// A command-channel request; the command handed out, if any: (uuid, RequestType, plist).
    async fn report(&self, d: &VirtualDevice, body: Vec<u8>) -> (u16, Option<(String, String, Dictionary)>, String) {
        let (status, body) = signed(&self.client, d, COMMAND, body).await;
        let text = String::from_utf8_lossy(&body).into_owned();
        if status != 200 || body.is_empty() {
            return (status, None, text);
        }
        let reply: Dictionary = plist::from_bytes(&body).unwrap();
        let uuid = reply["CommandUUID"].as_string().unwrap().to_owned();
        let command = reply["Command"].as_dictionary().unwrap().clone();
        let request_type = command["RequestType"].as_string().unwrap().to_owned();
        (status, Some((uuid, request_type, command)), text)
    }

    async fn idle(&self, d: &VirtualDevice) -> (u16, Option<(String, String, Dictionary)>, String) {
        let (body, _) = d.idle().unwrap();
        self.report(d, body).await
    }

    async fn enroll(&self, d: &VirtualDevice) {
        assert_eq!(self.checkin(d, d.authenticate(TOPIC)).await.0, 200);
        assert_eq!(self.checkin(d, d.token_update(TOPIC)).await.0, 200);
    }

    /// Queues `command` for `udid` as the admin; its CommandUUID.
    async fn queue(&self, udid: &str, command: Value, platform: Option<&str>) -> String {
        let mut body = json!({"enrollments": [udid], "command": command, "reason": "reported stolen"});
        if let Some(p) = platform {
            body["platform"] = p.into();
        }
        let (status, queued) = call(
            &self.client,
            Method::POST,
            "/v1/commands",
            Some(&self.admin()),
            Some(body),
        )
        .await;
        assert_eq!(status, 200, "{queued}");
        assert_eq!(queued["status"][udid]["queued"], true, "{queued}");
        queued["command_uuid"].as_str().unwrap().to_owned()
    }

    async fn events(&self) -> Vec<(RecordedEvent, Event)> {
        let store = open(&self.server.store_url.parse().unwrap()).await.unwrap();
        let all = store.read_all(1, 100_000).await.unwrap();
        all.into_iter()
            .map(|e| {
                let decoded = e.decode().unwrap();
                (e, decoded)
            })
            .collect()
    }

    /// The server's log so far (stderr, warnings and up).
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap()
    }

    fn annal(&self, args: &[&str]) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_annal"))
            .args(args)
            .arg("--data-dir")
            .arg(&self.server.data_dir)
            .env("ANNAL_SERVER", &self.server.base)
            .env("ANNAL_API_KEY", self.admin())
            .output()
            .unwrap()
    }
}

fn result(d: &VirtualDevice, uuid: &str, status: &str) -> Vec<u8> {
    d.result(uuid, status, Dictionary::new())
}

fn acknowledged(events: &[(RecordedEvent, Event)], uuid: &str) -> bool {
    events
        .iter()
        .any(|(_, e)| matches!(e, Event::CommandAcknowledged(a) if a.command_uuid == uuid))
}

/// Attacks 1 and 3: a certificate with `CN=<an enrolled device's UDID>`, got with the
/// enrollment token, polled that device's command channel (taken as a rotation: the attacker
/// got the DeviceLock PIN, the UnlockToken, then EraseDevice, and its answers were audited
/// as the device's), and an Authenticate with it took the enrollment over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_naming_an_enrolled_udid_gets_nothing_of_that_device() {
    let hooks = receiver::Receiver::start(vec![], std::time::Duration::ZERO).await;
    let rig = Rig::start(&["--webhook-url", &hooks.url]).await;
    let (_, token) = rig.token("lobby").await;
    let victim_udid = udid_of(1);
    let victim = VirtualDevice::new(1, rig.scep_identity(&token, &victim_udid).await.unwrap());
    rig.enroll(&victim).await;
    let lock = rig
        .queue(
            &victim_udid,
            json!({"RequestType": "DeviceLock", "PIN": "123456"}),
            Some("macOS"),
        )
        .await;
    let clear = rig
        .queue(&victim_udid, json!({"RequestType": "ClearPasscode"}), None)
        .await;
    let erase = rig
        .queue(&victim_udid, json!({"RequestType": "EraseDevice"}), None)
        .await;

    // The token is all the attacker has; /scep still issues what the CSR asks for...
    let stolen = rig.scep_identity(&token, &victim_udid).await.unwrap();
    let attacker = VirtualDevice::new(1, stolen);
    assert_eq!(
        annal::pki::certificate_info(&attacker.identity.cert_der)
            .unwrap()
            .subject,
        annal::pki::certificate_info(&victim.identity.cert_der).unwrap().subject,
        "the same subject as the victim's certificate"
    );
    // ...but the subject proves nothing: the victim's command channel refuses it, 403.
    let (status, command, text) = rig.idle(&attacker).await;
    assert_eq!((status, command.is_none()), (403, true), "{text}");
    assert!(text.contains("not the one bound to this enrollment"), "{text}");
    for uuid in [&lock, &clear, &erase] {
        let (status, _, text) = rig.report(&attacker, result(&attacker, uuid, "Acknowledged")).await;
        assert_eq!(status, 403, "{text}");
    }

    // Authenticate with it does not take the device over: 403 with the reason, the lock is
    // not cancelled, and the attempt is on record in its own stream.
    let (status, text) = rig.checkin(&attacker, attacker.authenticate(TOPIC)).await;
    assert_eq!(status, 403, "{text}");
    assert!(text.contains("enrolled under another identity"), "{text}");
    let (status, text) = rig.checkin(&attacker, attacker.token_update(TOPIC)).await;
    assert_eq!(status, 403, "{text}");

    // The real device still gets its commands, the PIN first, from the bound identity.
    let (status, command, _) = rig.idle(&victim).await;
    let (uuid, request_type, body) = command.expect("the lock is still queued for the device");
    assert_eq!(
        (status, uuid.as_str(), request_type.as_str()),
        (200, lock.as_str(), "DeviceLock")
    );
    assert_eq!(body["PIN"].as_string(), Some("123456"));
    let (_, next, _) = rig.report(&victim, result(&victim, &lock, "Acknowledged")).await;
    let (uuid, request_type, body) = next.expect("ClearPasscode");
    assert_eq!(
        (uuid.as_str(), request_type.as_str()),
        (clear.as_str(), "ClearPasscode")
    );
    assert!(
        body.contains_key("UnlockToken"),
        "the escrowed UnlockToken, for the device"
    );

    let events = rig.events().await;
    let attacker_fp = fingerprint_sha256(&attacker.identity.cert_der);
    let victim_fp = fingerprint_sha256(&victim.identity.cert_der);
    for (recorded, event) in &events {
        let json = serde_json::to_string(&event.to_data()).unwrap();
        match event {
            Event::IdentityRotated(_) => panic!("a rotation was recorded: {json}"),
            Event::CommandCancelled(c) => panic!("{} was cancelled ({:?})", c.command_uuid, c.reason),
            Event::CommandDelivered(d) => assert_eq!(d.identity.fingerprint_sha256, victim_fp, "{json}"),
            Event::IdentityClaimed(c) if c.fingerprint_sha256 == attacker_fp => {
                panic!("the attacker's certificate was claimed: {json}")
            }
            _ if recorded.stream == format!("enrollment-{victim_udid}") => {
                assert!(
                    !json.contains(&attacker_fp),
                    "{} carries the attacker: {json}",
                    recorded.event_type
                )
            }
            _ => {}
        }
    }
    assert!(acknowledged(&events, &lock) && !acknowledged(&events, &clear) && !acknowledged(&events, &erase));
    let refused: Vec<&RecordedEvent> = events
        .iter()
        .filter(|(_, e)| matches!(e, Event::EnrollmentRefused(r) if r.fingerprint_sha256 == attacker_fp && r.bound_fingerprint_sha256.as_deref() == Some(victim_fp.as_str()) && r.udid.as_deref() == Some(victim_udid.as_str())))
        .map(|(r, _)| r)
        .collect();
    assert_eq!(refused.len(), 1, "one refused Authenticate on record");
    assert_eq!(refused[0].stream, format!("refused-{victim_udid}"));

    // The audit trail shows the lock acknowledged by the device, the erase not acknowledged.
    let (status, trail) = common::admin::get(&rig.client, "/v1/audit", &rig.admin()).await;
    assert_eq!(status, 200, "{trail}");
    let state_of = |uuid: &str| {
        trail["entries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["command_uuid"] == uuid)
            .map(|e| e["status"].as_str().unwrap_or_default().to_owned())
    };
    assert_eq!(state_of(&lock).as_deref(), Some("acknowledged"), "{trail}");
    assert_ne!(state_of(&erase).as_deref(), Some("acknowledged"), "{trail}");
    // The refused takeover is in the audit trail too: who, with which certificate, why.
    let (status, refusals) =
        common::admin::get(&rig.client, "/v1/audit?request_type=EnrollmentRefused", &rig.admin()).await;
    assert_eq!(status, 200, "{refusals}");
    let entries = refusals["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{refusals}");
    let refusal = &entries[0];
    assert_eq!(refusal["status"], "refused", "{refusal}");
    assert_eq!(refusal["udid"], victim_udid.as_str());
    assert_eq!(refusal["fingerprint_sha256"], attacker_fp.as_str());
    assert_eq!(refusal["bound_fingerprint_sha256"], victim_fp.as_str());
    assert!(
        refusal["requester"].as_str().is_some_and(|r| !r.is_empty()),
        "{refusal}"
    );
    assert!(
        refusal["reason"].as_str().unwrap().contains("another identity"),
        "{refusal}"
    );
    let (_, metrics) = common::admin::get_text(&rig.client, "/metrics", &rig.admin()).await;
    assert!(
        metrics.contains("annal_enrollments_refused_total{reason=\"reenrollment\"} 1"),
        "{metrics}"
    );

    // Webhook receivers hear of the attempt.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let hook = loop {
        let found = hooks
            .accepted()
            .into_iter()
            .map(|r| r.json())
            .find(|j| j["topic"] == "annal.EnrollmentRefused");
        if let Some(found) = found {
            break found;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no annal.EnrollmentRefused webhook"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(
        hook["enrollment_refused_event"]["fingerprint_sha256"],
        attacker_fp.as_str()
    );
    assert_eq!(hook["enrollment_refused_event"]["udid"], victim_udid.as_str());

    let log = rig.log();
    assert!(log.contains("not the one bound to this enrollment"), "{log}");
    assert!(log.contains("re-enrollment under another identity refused"), "{log}");
    assert!(log.contains(&attacker_fp), "the log names the certificate: {log}");
}

/// Attack 2: a certificate that arrived by rotation was never claimed, so it could
/// Authenticate a second enrollment. Now only a SCEP renewal signed with the bound key
/// rotates, the new certificate is claimed, and a secret queued for the old one is not handed
/// to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewed_certificate_is_claimed_by_its_enrollment_alone() {
    let rig = Rig::start(&[]).await;
    let (_, token) = rig.token("lobby").await;
    let udid = udid_of(1);
    let device = VirtualDevice::new(1, rig.scep_identity(&token, &udid).await.unwrap());
    rig.enroll(&device).await;
    let lock = rig
        .queue(
            &udid,
            json!({"RequestType": "DeviceLock", "PIN": "654321"}),
            Some("macOS"),
        )
        .await;

    // The device renews over SCEP, signing with its bound certificate: no challenge.
    let ca = rig.server.ca();
    let renewal = renewal_req(ca.cert_der(), &device.identity, ContentCipher::Aes256Cbc).unwrap();
    let answer = rig
        .client
        .send(
            Method::POST,
            "/scep?operation=PKIOperation",
            Some("application/x-pki-message"),
            &[],
            renewal.der.clone(),
        )
        .await
        .unwrap();
    let renewed = match renewal.read_cert_rep(&answer.body, ca.cert_der()).unwrap() {
        CertRepOutcome::Issued(id) => id,
        other => panic!("renewal refused: {other:?}"),
    };
    let rotated = VirtualDevice::new(1, renewed);
    // Its first poll rotates the identity; the PIN queued for the old certificate is not
    // handed to the new one (cancelled, so the admin sees it and queues it again).
    let (status, command, text) = rig.idle(&rotated).await;
    assert_eq!((status, command.map(|c| c.0)), (200, None), "{text}");
    let (status, _, text) = rig.idle(&device).await;
    assert_eq!(status, 403, "the old certificate is no longer the device: {text}");

    // The rotated certificate cannot enroll a second device.
    let second = VirtualDevice::new(2, rotated.identity.clone());
    let (status, text) = rig.checkin(&second, second.authenticate(TOPIC)).await;
    assert_eq!(status, 403, "{text}");
    assert!(text.contains("belongs to another enrollment"), "{text}");

    let events = rig.events().await;
    let (old_fp, new_fp) = (
        fingerprint_sha256(&device.identity.cert_der),
        fingerprint_sha256(&rotated.identity.cert_der),
    );
    assert!(events.iter().any(|(r, e)| matches!(e,
        Event::CertificateIssued(i) if i.renewal_of.as_deref() == Some(old_fp.as_str())
            && r.stream == format!("identity-{new_fp}"))));
    assert!(events.iter().any(|(_, e)| matches!(e,
        Event::IdentityRotated(r) if r.previous_fingerprint_sha256 == old_fp && r.certificate.fingerprint_sha256 == new_fp)));
    let claims: Vec<&str> = events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::IdentityClaimed(c) if c.fingerprint_sha256 == new_fp => Some(c.enrollment.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(claims, [udid.as_str()]);
    assert!(events.iter().any(|(_, e)| matches!(e,
        Event::CommandCancelled(c) if c.command_uuid == lock && c.reason == annal_schemas::events::command::CancelReason::IdentityChanged)));
    assert!(!events
        .iter()
        .any(|(_, e)| matches!(e, Event::CommandDelivered(d) if d.command_uuid == lock)));
    assert!(!events
        .iter()
        .any(|(_, e)| matches!(e, Event::Authenticate(a) if a.device.udid.as_deref() == Some(udid_of(2).as_str()))));
    assert!(rig.log().contains("belongs to another enrollment"));
}

/// Attack 3, second half: revoking the enrollment token did not revoke the challenges it had
/// handed out, and an issued certificate could not be revoked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_tokens_void_their_challenges_and_revoked_identities_get_403() {
    let rig = Rig::start(&[]).await;
    let (token_id, token) = rig.token("lobby").await;
    let udid = udid_of(1);
    let device = VirtualDevice::new(1, rig.scep_identity(&token, &udid).await.unwrap());
    rig.enroll(&device).await;

    // A profile fetched before the token is revoked: its challenge dies with the token.
    let profile = fetch_profile(&rig.client, &token, &rig.anchors).await.unwrap();
    let (status, _) = call(
        &rig.client,
        Method::DELETE,
        &format!("/v1/enrollment-tokens/{token_id}"),
        Some(&rig.admin()),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let refused = scep_enroll(&rig.clients, &profile, &udid_of(9)).await;
    assert!(
        matches!(refused, Err(SimError::ScepRefused(Some(FailInfo::BadRequest)))),
        "{refused:?}"
    );

    // The admin revokes the device's identity with the CLI: 403 from then on, never 401.
    let fp = fingerprint_sha256(&device.identity.cert_der);
    let out = rig.annal(&["devices", "revoke-identity", &fp, "--reason", "key extracted"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (answer["enrollment"].as_str(), answer["already_revoked"].as_bool()),
        (Some(udid.as_str()), Some(false))
    );
    let (status, _, text) = rig.idle(&device).await;
    assert_eq!(status, 403, "{text}");
    assert!(text.contains("revoked"), "{text}");
    let (status, text) = rig.checkin(&device, device.authenticate(TOPIC)).await;
    assert_eq!(status, 403, "a revoked certificate cannot enroll again: {text}");
    // Nor renew.
    let ca = rig.server.ca();
    let renewal = renewal_req(ca.cert_der(), &device.identity, ContentCipher::Aes256Cbc).unwrap();
    let answer = rig
        .client
        .send(
            Method::POST,
            "/scep?operation=PKIOperation",
            Some("application/x-pki-message"),
            &[],
            renewal.der.clone(),
        )
        .await
        .unwrap();
    assert!(matches!(
        renewal.read_cert_rep(&answer.body, ca.cert_der()).unwrap(),
        CertRepOutcome::Failed(Some(FailInfo::BadCertId))
    ));
    // Revoking again is harmless; an operator may not.
    let (status, again) = call(
        &rig.client,
        Method::POST,
        &format!("/v1/identities/{fp}/revoke"),
        Some(&rig.admin()),
        None,
    )
    .await;
    assert_eq!(
        (status, again["already_revoked"].as_bool()),
        (200, Some(true)),
        "{again}"
    );
    let operator = common::admin::create_key(&rig.server, "olaf", "operator");
    let (status, _) = call(
        &rig.client,
        Method::POST,
        &format!("/v1/identities/{fp}/revoke"),
        Some(&operator),
        None,
    )
    .await;
    assert_eq!(status, 403);

    let events = rig.events().await;
    let revoked: Vec<&str> = events
        .iter()
        .filter_map(|(r, e)| {
            matches!(e, Event::IdentityRevoked(i) if i.fingerprint_sha256 == fp).then_some(r.stream.as_str())
        })
        .collect();
    assert_eq!(revoked, [format!("identity-{fp}"), format!("enrollment-{udid}")]);
    assert!(events.iter().any(|(_, e)| matches!(e,
        Event::ScepChallengeIssued(c) if c.enrollment_token_id.as_deref() == Some(token_id.as_str()))));
    let log = rig.log();
    assert!(
        log.contains("the enrollment token that issued the challenge was revoked"),
        "{log}"
    );
    assert!(log.contains("this identity certificate was revoked"), "{log}");
}

/// Attack 4: the server's own TLS certificate (issued by the same CA, serverAuth only) passed
/// as a device identity over Mdm-Signature.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_servers_tls_certificate_is_not_a_device_identity() {
    let rig = Rig::start(&[]).await;
    let tls = rig.server.data_dir.join("tls");
    let pem = read(&tls.join("server.pem")) + &read(&tls.join("server.key"));
    let server_identity = DeviceIdentity::from_pem(&pem).unwrap();
    let impostor = VirtualDevice::new(7, server_identity.clone());
    let (status, text) = rig.checkin(&impostor, impostor.authenticate(TOPIC)).await;
    assert_eq!(status, 403, "{text}");
    assert!(text.contains("does not include clientAuth"), "{text}");
    // Over mTLS too.
    let mtls = Client::with_identity(
        &rig.server.base,
        rig.server.ca().cert_der(),
        &server_identity.cert_der,
        &server_identity.key_pkcs8_der,
    )
    .unwrap();
    let answer = mtls.put("/mdm", CHECKIN, &[], impostor.authenticate(TOPIC)).await;
    match answer {
        Ok(a) => assert_eq!(a.status.as_u16(), 403, "{:?}", a.body),
        // A TLS stack may refuse a serverAuth certificate as a client's before HTTP.
        Err(e) => assert!(!e.to_string().is_empty()),
    }
    let events = rig.events().await;
    assert!(!events.iter().any(|(_, e)| matches!(e, Event::Authenticate(_))));
    let log = rig.log();
    assert!(log.contains("does not include clientAuth"), "{log}");
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

/// The ways a device legitimately gets a new identity: an admin forgets the old enrollment, or
/// binds a challenge to the device; `--reenrollment allow` restores NanoMDM's behaviour, and
/// says at start that it is a risk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_re_enrolls_after_forget_or_with_an_admin_bound_challenge() {
    let rig = Rig::start(&[]).await;
    let (_, token) = rig.token("lobby").await;
    let udid = udid_of(1);
    let first = VirtualDevice::new(1, rig.scep_identity(&token, &udid).await.unwrap());
    rig.enroll(&first).await;

    // A challenge the admin binds to this UDID: its certificate replaces the lost one...
    let (status, created) = call(
        &rig.client,
        Method::POST,
        "/v1/scep/challenges",
        Some(&rig.admin()),
        Some(json!({"udid": udid})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let mut profile = fetch_profile(&rig.client, &token, &rig.anchors).await.unwrap();
    profile.scep.challenge = created["challenge"].as_str().map(str::to_owned);
    let second = VirtualDevice::new(1, scep_enroll(&rig.clients, &profile, &udid).await.unwrap());
    rig.enroll(&second).await;
    assert_eq!(rig.idle(&first).await.0, 403, "the replaced identity is out");
    // ...and enrolls no other device.
    let elsewhere = VirtualDevice::new(2, second.identity.clone());
    let (status, text) = rig.checkin(&elsewhere, elsewhere.authenticate(TOPIC)).await;
    assert_eq!(status, 403, "{text}");

    // After `annal devices forget`, a new identity may enroll.
    let third = VirtualDevice::new(1, rig.scep_identity(&token, &udid).await.unwrap());
    assert_eq!(rig.checkin(&third, third.authenticate(TOPIC)).await.0, 403);
    let out = rig.annal(&["devices", "forget", &udid, "--reason", "re-imaged"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(rig.idle(&second).await.0, 403, "a forgotten enrollment serves nobody");
    let (status, shown) = common::admin::get(&rig.client, &format!("/v1/devices/{udid}"), &rig.admin()).await;
    assert_eq!((status, shown["state"].as_str()), (200, Some("checked_out")), "{shown}");
    rig.enroll(&third).await;
    assert_eq!(rig.idle(&third).await.0, 200);
    let events = rig.events().await;
    assert!(events
        .iter()
        .any(|(_, e)| matches!(e, Event::DeviceForgotten(f) if f.reason.as_deref() == Some("re-imaged"))));

    // NanoMDM's behaviour, on request, with a warning at start.
    let open = Rig::start(&["--reenrollment", "allow"]).await;
    let (_, token) = open.token("lobby").await;
    let a = VirtualDevice::new(1, open.scep_identity(&token, &udid).await.unwrap());
    let b = VirtualDevice::new(1, open.scep_identity(&token, &udid).await.unwrap());
    open.enroll(&a).await;
    open.enroll(&b).await;
    assert!(open.log().contains("RISK: --reenrollment allow"), "{}", open.log());
}

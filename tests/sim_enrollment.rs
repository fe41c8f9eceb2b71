//! `annal sim` enrolling as real devices do, over real HTTPS against a real `annal serve`: the
//! enrollment profile from GET /enroll (its topic from the push certificate installed with
//! `annal push-cert install` while the server runs), a one-time SCEP challenge per served
//! profile, identities from /scep, then check-in and the command loop at the profile's URLs.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use annal::pki::scep::FailInfo;
use annal::pki::{certificate_info, TrustAnchors};
use annal::store::open;
use annal::testkit::sim::enroll::{fetch_profile, scep_enroll};
use annal::testkit::sim::{run, udid_of, Clients, Enrollment, SimConfig, SimError};
use annal_schemas::{Event, RecordedEvent};
use common::admin::{call, create_key};
use common::push::{install, mock, push_cert, serve_args};
use common::server::{sim_config, Server};
use hyper::Method;
use serde_json::json;

const TOPIC: &str = "com.apple.mgmt.External.2f0c6a4e-8a1b-4c55-9f3e-7d1e2b9c0a11";
const DEVICES: usize = 3;
const ROUNDS: usize = 2;

async fn events(server: &Server) -> Vec<(RecordedEvent, Event)> {
    let store = open(&server.store_url.parse().expect("url")).await.expect("store");
    let all = store.read_all(1, 100_000).await.expect("read");
    all.into_iter()
        .map(|e| {
            let decoded = e.decode().expect("decodes");
            (e, decoded)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulated_devices_enroll_through_the_profile_and_scep() {
    rustls::crypto::aws_lc_rs::default_provider().install_default().ok();
    let dir = tempfile::tempdir().expect("tmp");
    let (apns, apns_ca) = mock(dir.path()).await;
    let args = serve_args(&apns, &apns_ca);
    // No --topic and no static challenge: the topic comes from the push certificate, and every
    // profile carries a one-time challenge.
    let server = Server::start(&args.iter().map(String::as_str).collect::<Vec<_>>()).await;
    let client = server.client();
    let (status, created) = call(
        &client,
        Method::POST,
        "/v1/enrollment-tokens",
        Some(&server.api_key()),
        Some(json!({"name": "lobby"})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let token = created["token"].as_str().expect("token").to_owned();
    let anchors = TrustAnchors::new(vec![server.ca().cert_der().to_vec()]).expect("anchors");

    // No push certificate yet, so no topic: 503, and no challenge was issued for it.
    let refused = fetch_profile(&client, &token, &anchors).await.expect_err("no topic");
    assert!(refused.to_string().contains("503"), "{refused}");

    // Installing one (another process, the running server not restarted) is enough.
    let (cert, key) = push_cert(dir.path(), "push", TOPIC, 30);
    let out = install(&server, &cert, &key, &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let first = fetch_profile(&client, &token, &anchors).await.expect("profile");
    let second = fetch_profile(&client, &token, &anchors).await.expect("profile");
    assert_eq!(first.mdm.topic, TOPIC);
    assert_eq!(first.mdm.server_url, first.mdm.checkin_url);
    assert!(first.mdm.server_url.ends_with("/mdm") && first.mdm.sign_message);
    let (c1, c2) = (first.scep.challenge.clone(), second.scep.challenge.clone());
    assert!(c1.is_some() && c2.is_some());
    assert_ne!(c1, c2, "every served profile carries its own challenge");

    // The first profile's challenge enrolls one device at /scep, and only once.
    let clients = Clients::new(server.ca().cert_der());
    let identity = scep_enroll(&clients, &first, "UDID-ONCE").await.expect("SCEP");
    let subject = certificate_info(&identity.cert_der).expect("cert").subject;
    assert!(subject.contains("CN=UDID-ONCE"), "{subject}");
    let again = scep_enroll(&clients, &first, "UDID-ONCE").await;
    assert!(
        matches!(again, Err(SimError::ScepRefused(Some(FailInfo::BadRequest)))),
        "{again:?}"
    );

    // The simulator, through the profile (its own enrollment token, revoked afterwards).
    let config = SimConfig {
        enrollment: Enrollment::Profile { token: None },
        ..sim_config(&server, DEVICES, ROUNDS)
    };
    let report = run(&config, &server.ca()).await.expect("simulation");
    assert_eq!(report.errors, 0);
    assert_eq!(
        report.acknowledged,
        (DEVICES * ROUNDS) as u64,
        "every command completed"
    );

    let log = events(&server).await;
    let acknowledged = log
        .iter()
        .filter(|(_, e)| matches!(e, Event::CommandAcknowledged(_)))
        .count();
    assert_eq!(acknowledged, DEVICES * ROUNDS);
    // Every SCEP identity is in the log, and each simulated device's enrollment is bound to
    // one of them, whose subject names that device.
    let scep_issued: BTreeMap<String, String> = log
        .iter()
        .filter_map(|(_, e)| match e {
            Event::CertificateIssued(c) if c.profile == "scep" => {
                Some((c.certificate.fingerprint_sha256.clone(), c.certificate.subject.clone()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(scep_issued.len(), DEVICES + 1);
    for i in 0..DEVICES {
        let udid = udid_of(i);
        let bound: Vec<&String> = log
            .iter()
            .filter(|(r, _)| r.stream == format!("enrollment-{udid}"))
            .filter_map(|(_, e)| match e {
                Event::IdentityBound(b) => Some(&b.certificate.fingerprint_sha256),
                _ => None,
            })
            .collect();
        assert_eq!(bound.len(), 1, "{udid}");
        let subject = scep_issued.get(bound[0]).expect("bound to a SCEP identity");
        assert!(subject.contains(&format!("CN={udid}")), "{subject}");
    }

    // One challenge per served profile (2 fetched here, one per simulated device), issued by
    // the token that fetched it, each consumed once; the second profile's was never used.
    let issued: Vec<(&str, &String)> = log
        .iter()
        .filter_map(|(r, e)| match e {
            Event::ScepChallengeIssued(c) => Some((r.actor.as_str(), &c.challenge_sha256)),
            _ => None,
        })
        .collect();
    assert_eq!(issued.len(), 2 + DEVICES);
    assert!(issued[..2].iter().all(|(actor, _)| *actor == "api-key:lobby"));
    assert!(issued[2..]
        .iter()
        .all(|(actor, _)| actor.starts_with("api-key:annal-sim-")));
    let consumed: BTreeSet<&String> = log
        .iter()
        .filter_map(|(_, e)| match e {
            Event::ScepChallengeConsumed(c) => Some(&c.challenge_sha256),
            _ => None,
        })
        .collect();
    assert_eq!(consumed.len(), 1 + DEVICES);
    assert!(!consumed.contains(issued[1].1));
    let raw: String = log
        .iter()
        .map(|(r, _)| String::from_utf8_lossy(&r.data).into_owned())
        .collect();
    for challenge in [c1, c2].into_iter().flatten() {
        assert!(!raw.contains(&challenge), "a challenge in clear in the log");
    }

    // The token the simulator made for itself was revoked after enrollment.
    let revoked = log.iter().filter(|(_, e)| matches!(e, Event::ApiKeyRevoked(_))).count();
    assert_eq!(revoked, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_topic_option_overrides_and_a_static_challenge_is_reused() {
    rustls::crypto::aws_lc_rs::default_provider().install_default().ok();
    let dir = tempfile::tempdir().expect("tmp");
    let challenge_file = dir.path().join("challenge");
    common::write_private(&challenge_file, "static-challenge\n");
    let topic = "com.apple.mgmt.External.override";
    let server = Server::start(&[
        "--topic",
        topic,
        "--scep-challenge-file",
        challenge_file.to_str().expect("path"),
    ])
    .await;
    let client = server.client();
    let anchors = TrustAnchors::new(vec![server.ca().cert_der().to_vec()]).expect("anchors");
    let admin = server.api_key();
    let profile = fetch_profile(&client, &admin, &anchors).await.expect("profile");
    assert_eq!(profile.mdm.topic, topic);
    assert_eq!(profile.scep.challenge.as_deref(), Some("static-challenge"));
    let clients = Clients::new(server.ca().cert_der());
    for udid in ["UDID-A", "UDID-B"] {
        scep_enroll(&clients, &profile, udid)
            .await
            .expect("the static challenge, again");
    }
    // Through the profile with mTLS: the SCEP identity as the TLS client certificate.
    let config = SimConfig {
        enrollment: Enrollment::Profile { token: None },
        mtls: true,
        ..sim_config(&server, 1, 1)
    };
    let report = run(&config, &server.ca()).await.expect("simulation");
    assert_eq!((report.errors, report.acknowledged), (0, 1));
    let log = events(&server).await;
    assert!(
        !log.iter().any(|(_, e)| matches!(e, Event::ScepChallengeIssued(_))),
        "a static challenge is never recorded"
    );
    let authenticated: Vec<&str> = log
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Authenticate(a) => Some(a.topic.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(authenticated, [topic], "the device reported the profile's topic");
}

/// OTA phase 2 (the device's attributes signed by its Apple certificate) answers a SCEP payload
/// for that UDID whose challenge is one-time too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ota_phase_two_carries_a_one_time_challenge() {
    rustls::crypto::aws_lc_rs::default_provider().install_default().ok();
    // A stand-in for Apple iPhone Device CA (self-signed here), given to the server with
    // --ota-device-ca, and a device identity it issued.
    let ca_key = rcgen::KeyPair::generate().expect("key");
    let mut ca_params = rcgen::CertificateParams::default();
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Test iPhone Device CA");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let device_ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).expect("device CA");
    let ca_file = tempfile::NamedTempFile::new().expect("tmp");
    std::fs::write(ca_file.path(), device_ca.pem()).expect("write");
    let ca_path = ca_file.path().to_string_lossy().into_owned();
    let server = Server::start(&["--topic", TOPIC, "--ota-device-ca", &ca_path]).await;
    let client = server.client();
    let token = create_key(&server, "ota", "enrollment");
    let key = rcgen::KeyPair::generate().expect("key");
    let mut params = rcgen::CertificateParams::default();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Apple iPhone Device");
    let apple_device = annal::pki::DeviceIdentity {
        cert_der: params.signed_by(&key, &*device_ca).expect("cert").der().to_vec(),
        key_pkcs8_der: key.serialize_der(),
    };
    let mut attributes = plist::Dictionary::new();
    attributes.insert("UDID".into(), "UDID-OTA".into());
    attributes.insert("CHALLENGE".into(), token.clone().into());
    let mut xml = Vec::new();
    plist::to_writer_xml(&mut xml, &plist::Value::Dictionary(attributes)).expect("xml");
    let body = apple_device.sign_attached(&xml, &[]).expect("signed");
    let a = client
        .send(Method::POST, "/enroll/ota", None, &[], body)
        .await
        .expect("POST");
    assert_eq!(a.status.as_u16(), 200, "{}", String::from_utf8_lossy(&a.body));
    let signed = annal::pki::verify_attached(&a.body).expect("signed profile");
    let profile: plist::Dictionary = plist::from_bytes(&signed.content).expect("plist");
    let scep = annal::pki::profile::payload_of(&profile, "com.apple.security.scep").expect("SCEP payload");
    let content = scep["PayloadContent"].as_dictionary().expect("content");
    let challenge = content["Challenge"].as_string().expect("challenge").to_owned();
    assert_ne!(challenge, token);

    let settings = annal::testkit::sim::profile::ScepSettings {
        url: content["URL"].as_string().expect("URL").to_owned(),
        challenge: Some(challenge),
        subject: Vec::new(),
    };
    let phase_two = annal::testkit::sim::profile::ProfileEnrollment {
        roots: vec![server.ca().cert_der().to_vec()],
        scep: settings,
        mdm: annal::testkit::sim::profile::MdmSettings {
            server_url: String::new(),
            checkin_url: String::new(),
            topic: TOPIC.to_owned(),
            sign_message: true,
        },
    };
    let clients = Clients::new(server.ca().cert_der());
    scep_enroll(&clients, &phase_two, "UDID-OTA").await.expect("SCEP");
    let again = scep_enroll(&clients, &phase_two, "UDID-OTA").await;
    assert!(matches!(again, Err(SimError::ScepRefused(Some(FailInfo::BadRequest)))));
}

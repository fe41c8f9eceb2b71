//! `/scep` and `annal ca` end to end with Annal's own SCEP client over real HTTPS: GetCACaps,
//! GetCACert, PKIOperation by GET and POST, renewal without a challenge, refusals, roles.

mod common;

use std::process::Command;

use annal::pki::scep::client::{pkcs_req, renewal_req, CertRepOutcome, PendingRequest};
use annal::pki::scep::{ContentCipher, FailInfo};
use annal::pki::{DeviceIdentity, TrustAnchors};
use base64::Engine as _;
use common::admin::{call, create_key, get_text};
use common::server::Server;
use hyper::Method;

async fn post(server: &Server, request: &PendingRequest) -> CertRepOutcome {
    let answer = server
        .client()
        .send(
            Method::POST,
            "/scep?operation=PKIOperation",
            Some("application/x-pki-message"),
            &[],
            request.der.clone(),
        )
        .await
        .unwrap();
    assert_eq!(answer.status.as_u16(), 200);
    request.read_cert_rep(&answer.body, server.ca().cert_der()).unwrap()
}

async fn challenge(server: &Server) -> String {
    let (status, body) = call(
        &server.client(),
        Method::POST,
        "/v1/scep/challenges",
        Some(&server.api_key()),
        None,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    body["challenge"].as_str().unwrap().to_owned()
}

fn issued(outcome: CertRepOutcome) -> DeviceIdentity {
    match outcome {
        CertRepOutcome::Issued(id) => id,
        other => panic!("expected a certificate: {other:?}"),
    }
}

async fn event_count(server: &Server) -> usize {
    let (_, text) = get_text(&server.client(), "/v1/events?limit=1000", &server.api_key()).await;
    text.lines().count()
}

#[tokio::test(flavor = "multi_thread")]
async fn enrolls_by_get_and_post_and_renews_without_a_challenge() {
    let server = Server::start(&[]).await;
    let client = server.client();
    let ca = server.ca();

    let caps = client.get("/scep?operation=GetCACaps").await.unwrap();
    let caps = String::from_utf8(caps.body.to_vec()).unwrap();
    for cap in ["POSTPKIOperation", "SHA-256", "AES", "DES3", "Renewal", "SCEPStandard"] {
        assert!(caps.lines().any(|l| l == cap), "{cap} missing from {caps:?}");
    }
    let cacert = client.get("/scep?operation=GetCACert").await.unwrap();
    assert_eq!(cacert.content_type(), Some("application/x-x509-ca-cert"));
    assert_eq!(cacert.body.as_ref(), ca.cert_der());

    // PKIOperation by GET, base64 in the query (percent-encoded: '+', '/', '=').
    let request = pkcs_req(
        ca.cert_der(),
        "CN=get-device",
        Some(&challenge(&server).await),
        ContentCipher::Aes256Cbc,
    )
    .unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(&request.der);
    let encoded: String = b64
        .chars()
        .map(|c| match c {
            '+' => "%2B".to_owned(),
            '/' => "%2F".to_owned(),
            '=' => "%3D".to_owned(),
            c => c.to_string(),
        })
        .collect();
    let answer = client
        .get(&format!("/scep?operation=PKIOperation&message={encoded}"))
        .await
        .unwrap();
    assert_eq!(answer.status.as_u16(), 200);
    assert_eq!(answer.content_type(), Some("application/x-pki-message"));
    let first = issued(request.read_cert_rep(&answer.body, ca.cert_der()).unwrap());
    let anchors = TrustAnchors::new(vec![ca.cert_der().to_vec()]).unwrap();
    anchors.verify_leaf(&first.cert_der, chrono::Utc::now()).unwrap();

    // By POST with 3DES.
    let request = pkcs_req(
        ca.cert_der(),
        "CN=post-device",
        Some(&challenge(&server).await),
        ContentCipher::DesEde3Cbc,
    )
    .unwrap();
    issued(post(&server, &request).await);

    // Renewal: signed with the identity from the first enrollment, no challenge.
    let renewal = renewal_req(ca.cert_der(), &first, ContentCipher::Aes128Cbc).unwrap();
    let renewed = issued(post(&server, &renewal).await);
    anchors.verify_leaf(&renewed.cert_der, chrono::Utc::now()).unwrap();

    let (_, text) = get_text(&client, "/v1/events?types=CertificateIssued", &server.api_key()).await;
    let profiles: Vec<String> = text
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["data"]["profile"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(profiles, ["scep", "scep", "scep-renewal"]);
    // Each issuance is recorded in the certificate's own stream, where its claim and any
    // revocation follow; a renewal names the certificate it renews (the only way to rotate).
    let renewal: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    let renewed_fp = annal::pki::fingerprint_sha256(&renewed.cert_der);
    assert_eq!(renewal["stream"], format!("identity-{renewed_fp}"), "{text}");
    assert_eq!(
        renewal["data"]["renewal_of"],
        annal::pki::fingerprint_sha256(&first.cert_der),
        "{text}"
    );
    assert!(
        text.lines().take(2).all(|l| l.contains("\"challenge_sha256\"")),
        "a challenge's issuance names it: {text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn refusals_append_nothing() {
    let server = Server::start(&[]).await;
    let client = server.client();
    let ca = server.ca();
    let before = event_count(&server).await;

    // Not a PKIMessage at all: 400 with a reason.
    for body in [b"garbage".to_vec(), Vec::new()] {
        let answer = client
            .send(Method::POST, "/scep?operation=PKIOperation", None, &[], body)
            .await
            .unwrap();
        assert_eq!(answer.status.as_u16(), 400);
        assert!(String::from_utf8_lossy(&answer.body).contains("not a SCEP PKIMessage"));
    }
    for path in [
        "/scep?operation=Nope",
        "/scep",
        "/scep?operation=PKIOperation&message=%%%",
    ] {
        assert_eq!(client.get(path).await.unwrap().status.as_u16(), 400, "{path}");
    }
    // No challenge, or a wrong one: CertRep FAILURE badRequest.
    for challenge in [None, Some("wrong")] {
        let request = pkcs_req(ca.cert_der(), "CN=x", challenge, ContentCipher::Aes128Cbc).unwrap();
        let outcome = post(&server, &request).await;
        assert!(
            matches!(outcome, CertRepOutcome::Failed(Some(FailInfo::BadRequest))),
            "{outcome:?}"
        );
    }
    // Encrypted to another CA: badMessageCheck.
    let other = tempfile::tempdir().unwrap();
    let other_ca = annal::pki::Ca::load_or_init(other.path()).unwrap();
    let request = pkcs_req(other_ca.cert_der(), "CN=x", Some("c"), ContentCipher::Aes128Cbc).unwrap();
    let outcome = post(&server, &request).await;
    assert!(
        matches!(outcome, CertRepOutcome::Failed(Some(FailInfo::BadMessageCheck))),
        "{outcome:?}"
    );
    assert_eq!(event_count(&server).await, before);

    // Only the admin role issues challenges.
    let operator = create_key(&server, "op", "operator");
    let (status, body) = call(&client, Method::POST, "/v1/scep/challenges", Some(&operator), None).await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = call(
        &client,
        Method::POST,
        "/v1/scep/challenges",
        Some(&server.api_key()),
        Some(serde_json::json!({"expires_in_seconds": 0})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["path"], "expires_in_seconds");
}

#[test]
fn ca_init_is_idempotent_and_keeps_keys_private() {
    let dir = tempfile::tempdir().unwrap();
    let run = |extra: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_annal"))
            .arg("--data-dir")
            .arg(dir.path())
            .args(["ca", "init", "--json"])
            .args(extra)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let first = run(&[]);
    assert_eq!(first["ca"]["created"], true);
    assert_eq!(first["tls"]["source"], "issued");
    let ca_pem = std::fs::read(dir.path().join("ca/ca.pem")).unwrap();
    let second = run(&[]);
    assert_eq!(second["ca"]["created"], false);
    assert_eq!(second["tls"]["source"], "existing");
    assert_eq!(second["ca"]["fingerprint_sha256"], first["ca"]["fingerprint_sha256"]);
    assert_eq!(std::fs::read(dir.path().join("ca/ca.pem")).unwrap(), ca_pem);
    #[cfg(unix)]
    for key in ["ca/ca.key", "tls/server.key"] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join(key)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{key}");
    }

    // Your own certificate: a key that does not match is refused.
    let cert = dir.path().join("tls/server.pem");
    let out = Command::new(env!("CARGO_BIN_EXE_annal"))
        .arg("--data-dir")
        .arg(dir.path().join("other"))
        .args(["ca", "init", "--tls-cert"])
        .arg(&cert)
        .arg("--tls-key")
        .arg(dir.path().join("ca/ca.key"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not belong"));
    assert!(!dir.path().join("other/ca").exists(), "a refused init created a CA");
}

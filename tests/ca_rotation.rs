//! The CA rotation runbook (ops/runbooks/ca-rotation.md), as a test: a device enrolled under the
//! old CA keeps working after Annal's CA is replaced (the old CA stays trusted through
//! `--external-ca`), and new devices get identities from the new CA.

mod common;

use std::process::Command;

use annal::pki::{Ca, KeyKind};
use annal::testkit::sim::{Client, VirtualDevice};
use common::server::{enroll, signed, Server, COMMAND};

fn annal(server_dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_annal"))
        .args(args)
        .arg("--data-dir")
        .arg(server_dir)
        .output()
        .expect("run annal")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_of_the_old_ca_keep_working_after_a_ca_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let store = format!("sqlite:{}", data.join("annal.db").display());
    let mut server = Server::start_with(&data, &store, &[]).await;
    let old_ca = server.ca();
    let old_device = VirtualDevice::new(
        1,
        old_ca.issue_device_identity("old-1", KeyKind::EcdsaP256, 30).unwrap(),
    );
    let client = Client::new(&server.base, old_ca.cert_der()).unwrap();
    enroll(&client, &old_device).await;
    server.terminate();

    // Runbook steps 2–3: keep the old CA aside, make a new one. The TLS certificate is set
    // aside too and issued anew: in production it is a publicly trusted one (see the runbook),
    // which every device trusts whatever CA issued its identity; here the new CA stands in.
    std::fs::rename(data.join("ca"), data.join("ca-old")).unwrap();
    std::fs::rename(data.join("tls"), data.join("tls-old")).unwrap();
    let out = annal(&data, &["ca", "init", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let new_ca = Ca::load_or_init(&data.join("ca")).unwrap();
    assert_ne!(new_ca.cert_der(), old_ca.cert_der());

    // Step 4: serve, trusting the old CA's identities too.
    let old_pem = data.join("ca-old").join("ca.pem");
    let server = Server::start_with(&data, &store, &["--external-ca", old_pem.to_str().unwrap()]).await;
    let client = server.client();
    let (idle, _) = old_device.idle().unwrap();
    assert_eq!(
        signed(&client, &old_device, COMMAND, idle.clone()).await.0,
        200,
        "old identity still served"
    );

    // New devices get identities from the new CA and enroll.
    let new_device = VirtualDevice::new(
        2,
        new_ca.issue_device_identity("new-2", KeyKind::EcdsaP256, 30).unwrap(),
    );
    enroll(&client, &new_device).await;

    // Without the old CA (step 6, once every device has a new identity) the old one is refused.
    drop(server);
    let server = Server::start_with(&data, &store, &[]).await;
    let client = server.client();
    assert_eq!(signed(&client, &old_device, COMMAND, idle).await.0, 403);
    let (idle, _) = new_device.idle().unwrap();
    assert_eq!(signed(&client, &new_device, COMMAND, idle).await.0, 200);
}

/// Step 3's second choice: the old CA's server certificate is kept (devices enrolled so far
/// trust it). The admin CLI keeps working with its defaults, the two CAs are told apart by
/// name, and the devices still on the old CA are found by their identity's issuer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keeping_the_old_server_certificate_through_a_rotation_leaves_the_cli_working() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let store = format!("sqlite:{}", data.join("annal.db").display());
    let mut server = Server::start_with(&data, &store, &[]).await;
    let old_ca = server.ca();
    let old_name = annal::pki::certificate_info(old_ca.cert_der()).unwrap().subject;
    let client = server.client();
    let old_device = common::server::device(&server, 1);
    enroll(&client, &old_device).await;
    server.terminate();

    std::fs::rename(data.join("ca"), data.join("ca-old")).unwrap();
    let out = annal(&data, &["ca", "init", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let init: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(init["tls"]["source"], "existing", "the old server certificate is kept");
    let new_name = init["ca"]["subject"].as_str().unwrap().to_owned();
    assert_ne!(new_name, old_name, "old and new CA must not carry the same name");

    let old_pem = data.join("ca-old").join("ca.pem");
    let server = Server::start_with(&data, &store, &["--external-ca", old_pem.to_str().unwrap()]).await;
    let cli = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--server", server.base.as_str()]);
        annal(&data, &all)
    };
    // Without --ca-file: the CLI trusts the CA that issued the served certificate too.
    let listed = cli(&["devices", "list", "--json", "--identity-issuer", &old_name]);
    assert!(listed.status.success(), "{}", String::from_utf8_lossy(&listed.stderr));
    let page: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    let devices = page["devices"].as_array().unwrap();
    assert_eq!(devices.len(), 1, "{page}");
    let identity = &devices[0]["identity_certificate"];
    assert_eq!(identity["issuer"], old_name.as_str());
    assert_eq!(identity["serial_hex"].as_str().map(str::len), Some(32));
    assert!(identity["not_after"].is_string());
    let on_new = cli(&["devices", "list", "--json", "--identity-issuer", &new_name]);
    let page: serde_json::Value = serde_json::from_slice(&on_new.stdout).unwrap();
    assert_eq!(page["devices"].as_array().map(Vec::len), Some(0), "{page}");
    let shown = cli(&["devices", "show", &old_device.udid]);
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(text.contains("identity_issuer") && text.contains(&old_name), "{text}");
    assert!(text.contains("identity_expires"), "{text}");
}

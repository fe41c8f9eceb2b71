//! API conformance: schemathesis (a property-based API tester, from PyPI) generates requests
//! from an OpenAPI document and checks every answer against it. Two documents run against one
//! real `annal serve` with enrolled devices, an installed push certificate and the mock APNs:
//!
//! - Annal's own (`GET /v1/openapi.json`), with the admin key as Bearer;
//! - NanoMDM's (tests/conformance/nanomdm/openapi.yaml, MIT), with HTTP Basic as NanoMDM's tools
//!   send it, against Annal's NanoMDM-compatible routes.
//!
//! Both must show no server error and no answer that violates the document. The one 5xx the
//! checks accept is NanoMDM's documented "every id failed" 500 on its enqueue and push routes,
//! when its body names the reason for each id (tests/conformance/annal_checks.py says why).
//! Each run is bounded in time (`--max-time`); schemathesis is installed, pinned, by
//! ops/install-test-deps.sh, and a missing one fails this test.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::push::{install, mock, push_cert, serve_args};
use common::server::{device, enroll, Server, TOPIC};

const SCHEMATHESIS_VERSION: &str = "4.32.5";

/// The `st` the project installs (ops/install-test-deps.sh), or `ANNAL_SCHEMATHESIS`.
fn schemathesis() -> PathBuf {
    if let Ok(path) = std::env::var("ANNAL_SCHEMATHESIS") {
        return PathBuf::from(path);
    }
    let tools = std::env::var("ANNAL_TEST_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            let cache = std::env::var("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache"));
            cache.join("annal-test-tools")
        });
    let st = tools
        .join(format!("schemathesis-{SCHEMATHESIS_VERSION}"))
        .join("bin")
        .join("st");
    assert!(
        st.exists(),
        "schemathesis is not installed at {}: run ops/install-test-deps.sh (ops/test.sh does)",
        st.display()
    );
    st
}

fn conformance_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("conformance")
}

/// Runs schemathesis on `document` against the server; returns its exit status and output.
fn run(server: &Server, document: &str, auth: &[&str], config: &Path, max_time: u32) -> (bool, String) {
    let ca = server.data_dir.join("ca").join("ca.pem");
    let out = Command::new(schemathesis())
        .arg("--no-color")
        .arg("--config-file")
        .arg(config)
        .args(["run", document, "--url", &server.base])
        .arg("--tls-verify")
        .arg(&ca)
        .args(auth)
        .args(["--checks", "no_unexplained_server_error,response_schema_conformance"])
        .args(["--max-time", &max_time.to_string(), "--request-timeout", "20"])
        .args(["--seed", "20261205"])
        // Its crash cache goes beside the run's config, not into the repository.
        .current_dir(config.parent().unwrap_or(config))
        .env("SCHEMATHESIS_HOOKS", "annal_checks")
        .env("PYTHONPATH", conformance_dir())
        .output()
        .expect("schemathesis runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// How many operations the run says it tested (`Tested: N`), so a run that reached nothing
/// cannot pass.
fn tested(output: &str) -> usize {
    output
        .lines()
        .find_map(|l| l.trim().strip_prefix("Tested: "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_openapi_documents_hold_against_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let (apns, apns_ca) = mock(dir.path()).await;
    let mut args = serve_args(&apns, &apns_ca);
    // Activation Lock bypasses go to the mock too, never to Apple.
    args.extend(["--escrow-key-unlock-url".to_string(), apns.escrow_key_unlock_url()]);
    let server = Server::start(&args.iter().map(String::as_str).collect::<Vec<_>>()).await;
    let (cert, key) = push_cert(dir.path(), "push", TOPIC, 365);
    let installed = install(&server, &cert, &key, &[]);
    assert!(
        installed.status.success(),
        "{}",
        String::from_utf8_lossy(&installed.stderr)
    );
    let client = server.client();
    let (first, second) = (device(&server, 1), device(&server, 2));
    enroll(&client, &first).await;
    enroll(&client, &second).await;

    // Path parameters that name a device name enrolled ones, so the runs reach past the 404s
    // into the use cases (generated values are tested by the handler tests).
    let config = dir.path().join("schemathesis.toml");
    std::fs::write(
        &config,
        format!(
            "[parameters]\nid = \"{a}\"\nids = \"{b}\"\n\"id*\" = \"{b}\"\n",
            a = first.udid,
            b = second.udid
        ),
    )
    .unwrap();
    let admin = server.api_key();

    let annal_doc = format!("{}/v1/openapi.json", server.base);
    let bearer = format!("Authorization: Bearer {admin}");
    let (ok, output) = run(&server, &annal_doc, &["-H", &bearer], &config, 60);
    assert!(ok, "Annal's OpenAPI document against the server:\n{output}");
    assert!(tested(&output) >= 40, "too few operations tested:\n{output}");

    let nanomdm_doc = conformance_dir().join("nanomdm").join("openapi.yaml");
    let basic = format!("nanomdm:{admin}");
    let (ok, output) = run(&server, nanomdm_doc.to_str().unwrap(), &["--auth", &basic], &config, 30);
    assert!(ok, "NanoMDM's OpenAPI document against Annal:\n{output}");
    assert_eq!(tested(&output), 5, "every NanoMDM operation tested:\n{output}");
}

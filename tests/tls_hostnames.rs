//! The server certificate follows the hostnames it is configured with, and the admin CLI
//! finds the server from the same configuration file: what an admin following the README met
//! was a certificate for `localhost` served to devices sent to `mdm.example.com`, `ca init`
//! ignoring the file's `hostnames`, and a CLI that tried 127.0.0.1:8443 whatever the file said.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::server::{free_port, Server};
use serde_json::Value;

fn annal(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_annal"))
        .args(args)
        .env_remove("ANNAL_SERVER")
        .env_remove("ANNAL_API_KEY")
        .env_remove("ANNAL_CA_FILE")
        .output()
        .expect("run annal")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The names the certificate in `data/tls/server.pem` carries.
fn served_names(data: &Path) -> Vec<String> {
    let pem = std::fs::read(data.join("tls").join("server.pem")).unwrap();
    let der = rustls::pki_types::pem::PemObject::pem_slice_iter(&pem)
        .next()
        .map(|c: Result<rustls::pki_types::CertificateDer<'static>, _>| c.unwrap())
        .unwrap();
    annal::pki::subject_alt_names(der.as_ref()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_hostname_gets_a_certificate_naming_it_and_the_cli_checks_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let store = format!("sqlite:{}", data.join("annal.db").display());
    // First start without --hostname: the default names.
    let mut server = Server::start_with(&data, &store, &[]).await;
    assert_eq!(served_names(&data), ["localhost", "127.0.0.1"]);
    server.terminate();

    // Then with the real name (and the loopback address the test connects to): the
    // certificate is issued anew, from the same CA, and says so in the log.
    let log = dir.path().join("serve.log");
    let file = std::fs::File::create(&log).unwrap();
    let server = Server::start_configured(
        &data,
        &store,
        &[
            "--hostname",
            "mdm.example.com,127.0.0.1",
            "--base-url",
            "https://elsewhere.example.net",
        ],
        |c| {
            c.stderr(file).env("ANNAL_LOG", "warn");
        },
    )
    .await;
    assert_eq!(served_names(&data), ["mdm.example.com", "127.0.0.1"]);
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("the hostnames changed"), "{logged}");
    // A base URL the certificate does not name is said at start: devices would fail TLS.
    assert!(logged.contains("does not name the base URL's host"), "{logged}");

    // The CLI checks the certificate against --server-name when it connects by address.
    let data_arg = data.to_str().unwrap();
    let list = |name: Option<&str>| {
        let mut args = vec![
            "devices",
            "list",
            "--json",
            "--data-dir",
            data_arg,
            "--server",
            &server.base,
        ];
        if let Some(name) = name {
            args.extend(["--server-name", name]);
        }
        annal(&args)
    };
    let checked = list(Some("mdm.example.com"));
    assert!(checked.status.success(), "{}", stderr(&checked));
    let wrong = list(Some("other.example.com"));
    assert!(!wrong.status.success());
    assert!(stderr(&wrong).contains("--server-name"), "{}", stderr(&wrong));

    // While the bootstrap key is the only admin key, the server says so (its actions name no
    // person); once an admin has a key of their own, it does not.
    let bootstrap_only = "the bootstrap admin key is the only admin key";
    assert!(logged.contains(bootstrap_only), "{logged}");
    let mut server = server;
    server.terminate();
    let created = annal(&[
        "api-key",
        "create",
        "--name",
        "alice",
        "--role",
        "admin",
        "--data-dir",
        data_arg,
        "--store",
        &store,
    ]);
    assert!(created.status.success(), "{}", stderr(&created));
    let log = dir.path().join("serve2.log");
    let file = std::fs::File::create(&log).unwrap();
    let _server = Server::start_configured(&data, &store, &["--hostname", "mdm.example.com,127.0.0.1"], |c| {
        c.stderr(file).env("ANNAL_LOG", "warn");
    })
    .await;
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(!logged.contains(bootstrap_only), "{logged}");
    assert!(
        !logged.contains("the hostnames changed"),
        "same names: the certificate is kept"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ca_init_serve_and_the_cli_read_one_configuration_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = free_port();
    let config = dir.path().join("annal.toml");
    // The example configuration's shape: a wildcard address and a name only DNS knows.
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\nlisten = \"0.0.0.0:{port}\"\nhostnames = [\"mdm.example.com\"]\n",
            data.display().to_string()
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap();

    let init = annal(&["--config", config, "ca", "init", "--json"]);
    assert!(init.status.success(), "{}", stderr(&init));
    assert_eq!(
        served_names(&data),
        ["mdm.example.com"],
        "ca init reads the file's hostnames"
    );

    let mut serve = Command::new(env!("CARGO_BIN_EXE_annal"))
        .args(["--config", config, "serve"])
        .env("ANNAL_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn annal serve");
    // The CLI with nothing but the file: 127.0.0.1 (the wildcard's loopback) on the file's
    // port, the certificate checked against mdm.example.com, Annal's CA, the bootstrap key.
    let deadline = Instant::now() + Duration::from_secs(60);
    let listed = loop {
        let out = annal(&["--config", config, "devices", "list", "--json"]);
        if out.status.success() || Instant::now() > deadline {
            break out;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    serve.kill().unwrap();
    serve.wait().unwrap();
    assert!(listed.status.success(), "{}", stderr(&listed));
    let page: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert!(page["devices"].is_array(), "{page}");
}

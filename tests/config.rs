//! The configuration file and ANNAL_* environment: precedence, refusal of unknown keys and
//! wrong types with the key's name, `annal config check` redacting secrets, the example file,
//! and a real server taking its options from a file.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn annal(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_annal"));
    cmd.args(args).env("ANNAL_LOG", "warn");
    // The tests' own environment must not leak in.
    for (name, _) in std::env::vars() {
        if name.starts_with("ANNAL_") && name != "ANNAL_LOG" {
            cmd.env_remove(name);
        }
    }
    cmd.envs(env.iter().copied()).output().expect("run annal")
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    let path = path.display().to_string();
    chmod(&path, 0o600);
    path
}

fn chmod(path: &str, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// `config check --json`: the effective settings by key, and the whole document.
fn check(config: &str, extra: &[&str], env: &[(&str, &str)]) -> (Value, std::collections::BTreeMap<String, Value>) {
    let mut args = vec!["--config", config, "config", "check", "--json"];
    args.extend_from_slice(extra);
    let out = annal(&args, env);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "config check --json: {e}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let settings = doc["settings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["key"].as_str().unwrap().to_owned(), s.clone()))
        .collect();
    (doc, settings)
}

#[test]
fn command_line_beats_environment_beats_file_beats_default() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "annal.toml",
        "listen = \"127.0.0.1:7001\"\nmax_body_bytes = 1024\nhostnames = [\"mdm.example.com\", \"10.0.0.1\"]\nbehind_proxy = true\n[push]\nconcurrency = 11\nmax_attempts = 3\n[enroll]\norganization = \"From File\"\n",
    );
    let env = [
        ("ANNAL_PUSH_CONCURRENCY", "22"),
        ("ANNAL_MAX_BODY_BYTES", "2048"),
        ("ANNAL_BEHIND_PROXY", "false"),
    ];
    let (doc, s) = check(&config, &["--push-concurrency", "33"], &env);
    assert_eq!(doc["valid"], true, "{doc}");
    let is = |key: &str, value: Value, source: &str| {
        assert_eq!(s[key]["value"], value, "{key}: {}", s[key]);
        assert_eq!(s[key]["source"], source, "{key}: {}", s[key]);
    };
    is("push.concurrency", 33.into(), "command line");
    is("max_body_bytes", 2048.into(), "environment");
    is("behind_proxy", false.into(), "environment");
    is("listen", "127.0.0.1:7001".into(), "file");
    is("push.max_attempts", 3.into(), "file");
    is("hostnames", serde_json::json!(["mdm.example.com", "10.0.0.1"]), "file");
    is("enroll.organization", "From File".into(), "file");
    is("push.suspend_secs", 300.into(), "default");
    is("tls_cert", Value::Null, "unset");

    // ANNAL_CONFIG names the file when --config is absent.
    let out = annal(&["config", "check", "--json"], &[("ANNAL_CONFIG", &config)]);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["config_file"], config.as_str());
}

#[test]
fn unknown_keys_and_wrong_types_are_refused_with_their_names() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "bad.toml",
        "listn = \"127.0.0.1:1\"\nmax_body_bytes = \"big\"\nlog_format = \"xml\"\n[push]\npush_concurrency = 3\nmax_attempts = -1\n[pusj]\nconcurrency = 1\n",
    );
    // Refused before any command runs, `serve` included.
    for args in [
        vec!["--config", &config, "config", "check"],
        vec!["--config", &config, "serve"],
    ] {
        let out = annal(&args, &[]);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        for needle in [
            "unknown key `listn`",
            "key `max_body_bytes`: expected an integer, found string",
            "key `log_format`: invalid value \"xml\" (possible values: text, json)",
            "unknown key `push.push_concurrency` (did you mean `push.concurrency`?)",
            "key `push.max_attempts`: invalid value \"-1\"",
            "unknown key `pusj`",
        ] {
            assert!(err.contains(needle), "{needle:?} not in {err}");
        }
    }
    let broken = write(dir.path(), "broken.toml", "listen = \n");
    let out = annal(&["--config", &broken, "config", "check"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not valid TOML"));
    let missing = dir.path().join("missing.toml").display().to_string();
    let out = annal(&["--config", &missing, "config", "check"], &[]);
    assert_eq!(out.status.code(), Some(2));

    // Relations the file's values must keep (clap's `requires` only sees the command line).
    let half = write(dir.path(), "half.toml", "tls_cert = \"/etc/annal/cert.pem\"\n");
    let (doc, _) = check(&half, &[], &[]);
    assert_eq!(doc["valid"], false);
    assert!(
        doc["errors"].to_string().contains("tls_cert is set without tls_key"),
        "{doc}"
    );
    let out = annal(&["--config", &half, "serve"], &[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("tls_cert is set without tls_key"));
}

#[test]
fn config_check_never_prints_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "secret.toml",
        "admin_api_key = \"file-admin-key-123456\"\nstore = \"postgres://annal:pg-password-987@db.example.com/annal?password=qp-secret-555\"\n[enroll]\nchallenge = \"static-challenge-abc\"\n",
    );
    // A file holding a secret must be private.
    chmod(&config, 0o644);
    let out = annal(&["--config", &config, "config", "check"], &[]);
    assert_eq!(out.status.code(), Some(2));
    let refusal = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(refusal.contains("other users may read it"), "{refusal}");
    assert!(
        refusal.contains("admin_api_key") && refusal.contains("enroll.challenge"),
        "{refusal}"
    );
    chmod(&config, 0o600);
    // The refusal names what it found: a webhook URL (its path often carries a token) alone.
    let hook = write(
        dir.path(),
        "hook.toml",
        "[webhook]\nurl = \"https://hooks.example.com/T0K3N\"\n",
    );
    chmod(&hook, 0o644);
    let out = annal(&["--config", &hook, "config", "check"], &[]);
    let refusal = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{refusal}");
    assert!(refusal.contains("holds secrets (webhook.url)"), "{refusal}");
    assert!(!refusal.contains("T0K3N"), "{refusal}");

    let hmac = write(dir.path(), "hmac.key", "an-hmac-key-that-is-long-enough\n");
    let env = [
        ("ANNAL_ADMIN_API_KEY", "env-admin-key-654321"),
        ("ANNAL_WEBHOOK_URL", "https://hook:webhook-pass-321@hooks.example.com/x"),
        ("ANNAL_WEBHOOK_HMAC_KEY_FILE", &hmac),
        ("ANNAL_UNKNOWN_SETTING", "1"),
    ];
    let (doc, s) = check(&config, &[], &env);
    let text_out = annal(&["--config", &config, "config", "check"], &env);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&text_out.stdout),
        String::from_utf8_lossy(&text_out.stderr)
    );
    for out in [doc.to_string(), text.clone()] {
        for secret in [
            "file-admin-key-123456",
            "env-admin-key-654321",
            "pg-password-987",
            "qp-secret-555",
            "static-challenge-abc",
            "webhook-pass-321",
            "an-hmac-key",
        ] {
            assert!(!out.contains(secret), "{secret} printed: {out}");
        }
    }
    assert_eq!(s["admin_api_key"]["value"], "<redacted>");
    assert_eq!(s["admin_api_key"]["source"], "environment");
    assert_eq!(s["enroll.challenge"]["value"], "<redacted>");
    assert_eq!(
        s["store"]["value"],
        "postgres://annal:<redacted>@db.example.com/annal?password=<redacted>"
    );
    assert_eq!(
        s["webhook.hmac_key_file"]["value"],
        hmac.as_str(),
        "file paths are shown"
    );
    assert!(doc["warnings"].to_string().contains("ANNAL_UNKNOWN_SETTING"), "{doc}");
    assert!(text.contains("admin_api_key = \"<redacted>\""), "{text}");
}

/// The example file documents every key, and every key it shows (commented out or not) is real.
#[test]
fn the_example_file_is_valid_and_complete() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/ops/annal.example.toml");
    let (doc, settings) = check(example, &[], &[]);
    assert_eq!(doc["config_file"], example);
    assert!(
        doc["errors"].as_array().unwrap().is_empty(),
        "the example must check clean: {doc}"
    );
    let text = std::fs::read_to_string(example).unwrap();
    // Uncommented, every `# key = value` line must still be a known key of the right type.
    let uncommented: String = text
        .lines()
        .map(|l| match l.strip_prefix("# ") {
            Some(rest) if rest.split_once(" = ").is_some_and(|(k, _)| !k.contains(' ')) => rest.to_owned(),
            _ => l.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    let dir = tempfile::tempdir().unwrap();
    let full = write(dir.path(), "full.toml", &uncommented);
    let out = annal(&["--config", &full, "config", "check", "--json"], &[]);
    assert_ne!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    let all: Value = serde_json::from_slice(&out.stdout).unwrap();
    for s in all["settings"].as_array().unwrap() {
        let key = s["key"].as_str().unwrap();
        assert_eq!(s["source"], "file", "{key} is not documented in ops/annal.example.toml");
    }
    assert_eq!(all["settings"].as_array().unwrap().len(), settings.len());
}

/// A real server takes its address, store and data directory from the file; the
/// environment overrides the file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_runs_with_the_file_and_the_environment_overrides_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (file_port, env_port) = (common::server::free_port(), common::server::free_port());
    let config = write(
        dir.path(),
        "annal.toml",
        &format!(
            "data_dir = {:?}\nlisten = \"127.0.0.1:{file_port}\"\nbehind_proxy = true\n",
            data.display()
        ),
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_annal"))
        .args(["--config", &config, "serve"])
        .env("ANNAL_LOG", "warn")
        .env("ANNAL_LISTEN", format!("127.0.0.1:{env_port}"))
        .env_remove("ANNAL_DATA_DIR")
        .env_remove("ANNAL_STORE")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let ready = loop {
        if let Some(answer) = plain_get(env_port, "/readyz") {
            break answer;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the server did not come up on the env port"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert!(ready.starts_with("HTTP/1.1 200"), "{ready}");
    assert!(data.join("annal.db").exists(), "data_dir comes from the file");
    assert!(std::net::TcpStream::connect(("127.0.0.1", file_port)).is_err());
    // SIGHUP (a routine reload) does not stop a server that has no certificate to reload.
    let hup = Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(child.try_wait().unwrap().is_none(), "SIGHUP ended the server");
    assert!(plain_get(env_port, "/healthz").is_some_and(|a| a.starts_with("HTTP/1.1 200")));
    let _ = child.kill();
    let _ = child.wait();
}

/// A plain HTTP/1.1 GET (the server runs behind_proxy): the whole answer, or None if nothing listens.
fn plain_get(port: u16, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    Some(answer)
}

/// A wrong `--tls-cert` path fails the start naming the option, before the data directory, the
/// store or the admin key is created.
#[test]
fn a_missing_tls_certificate_is_named_and_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = annal(
        &[
            "--data-dir",
            data.to_str().unwrap(),
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            "/nonexistent/server.pem",
            "--tls-key",
            "/nonexistent/server.key",
        ],
        &[],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("--tls-cert") && stderr.contains("/nonexistent/server.pem"),
        "{stderr}"
    );
    assert!(!data.exists(), "the data directory was created: {stderr}");
}

/// `config check` tries what only trying shows: the data directory can be written and the
/// store answers (without creating anything in it).
#[test]
fn config_check_reaches_the_store_and_the_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let fresh = annal(&["--data-dir", data, "config", "check"], &[]);
    let stderr = String::from_utf8_lossy(&fresh.stderr);
    assert!(fresh.status.success(), "{stderr}");
    assert!(stderr.contains("does not exist yet: serve creates it"), "{stderr}");

    let base =
        std::env::var("ANNAL_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let (server, _) = base.rsplit_once('/').unwrap();
    let missing = format!("{server}/annal_config_check_no_such_db");
    let out = annal(&["--data-dir", data, "--store", &missing, "config", "check"], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("does not answer") && stderr.contains("database does not exist"),
        "{stderr}"
    );
    let reachable = annal(&["--data-dir", data, "--store", &base, "config", "check"], &[]);
    assert!(
        reachable.status.success(),
        "{}",
        String::from_utf8_lossy(&reachable.stderr)
    );

    let file = dir.path().join("a-file");
    std::fs::write(&file, "not a directory").unwrap();
    let out = annal(&["--data-dir", file.to_str().unwrap(), "config", "check"], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("is not a directory"), "{stderr}");
    assert!(
        !std::path::Path::new(data).exists(),
        "config check created the data directory"
    );
}

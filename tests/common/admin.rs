//! Admin API helpers for end-to-end tests: keys made with the real CLI, JSON calls over HTTPS.

#![allow(dead_code)]

use std::process::Command;

use annal::testkit::sim::Client;
use hyper::Method;
use serde_json::Value;

use super::server::Server;

/// Creates an API key with `annal api-key create` against the server's store.
pub fn create_key(server: &Server, name: &str, role: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_annal"))
        .args([
            "api-key",
            "create",
            "--name",
            name,
            "--role",
            role,
            "--json",
            "--store",
            &server.store_url,
        ])
        .arg("--data-dir")
        .arg(&server.data_dir)
        .output()
        .expect("run annal api-key create");
    assert!(
        out.status.success(),
        "api-key create: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("api-key create --json");
    v["key"].as_str().expect("key").to_string()
}

/// Calls the admin API; returns the status and the body as JSON (Null when empty or not JSON).
pub async fn call(client: &Client, method: Method, path: &str, key: Option<&str>, body: Option<Value>) -> (u16, Value) {
    let auth = key.map(|k| format!("Bearer {k}"));
    let mut headers = Vec::new();
    if let Some(a) = &auth {
        headers.push(("Authorization", a.as_str()));
    }
    let (content_type, bytes) = match body {
        Some(b) => (Some("application/json"), serde_json::to_vec(&b).unwrap()),
        None => (None, Vec::new()),
    };
    let answer = client.send(method, path, content_type, &headers, bytes).await.unwrap();
    let json = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
    (answer.status.as_u16(), json)
}

pub async fn get(client: &Client, path: &str, key: &str) -> (u16, Value) {
    call(client, Method::GET, path, Some(key), None).await
}

/// GET returning the raw body text (CSV, NDJSON).
pub async fn get_text(client: &Client, path: &str, key: &str) -> (u16, String) {
    let auth = format!("Bearer {key}");
    let answer = client
        .send(Method::GET, path, None, &[("Authorization", auth.as_str())], Vec::new())
        .await
        .unwrap();
    (
        answer.status.as_u16(),
        String::from_utf8_lossy(&answer.body).into_owned(),
    )
}

/// Revokes the key named `name` with `annal api-key list` and `annal api-key revoke`.
pub fn revoke_key(server: &Server, name: &str) {
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_annal"))
            .args(args)
            .args(["--store", &server.store_url])
            .arg("--data-dir")
            .arg(&server.data_dir)
            .output()
            .expect("run annal api-key");
        assert!(
            out.status.success(),
            "annal {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let keys: Value = serde_json::from_slice(&run(&["api-key", "list", "--json"])).unwrap();
    let key = keys
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == name)
        .expect("a key with that name");
    run(&["api-key", "revoke", key["key_id"].as_str().unwrap()]);
}

/// The `global_position` of every line of an NDJSON event read.
pub fn ndjson_positions(text: &str) -> Vec<u64> {
    text.lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["global_position"]
                .as_u64()
                .unwrap()
        })
        .collect()
}

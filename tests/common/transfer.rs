//! For the export, import and migrate tests: a log with real device traffic, and the CLI.

#![allow(dead_code)]

use std::process::{Command, Output};

use annal::store::EventStore;
use annal_schemas::RecordedEvent;

use super::server::{sim_config, Server};

/// A server on a fresh SQLite log, driven by simulated devices (enrollment with sealed
/// PushMagic and UnlockToken, command rounds with NotNow), then stopped so the log holds still.
pub async fn log_with_device_traffic(devices: usize, rounds: usize) -> Server {
    let mut server = Server::start(&[]).await;
    let report = annal::testkit::sim::run(&sim_config(&server, devices, rounds), &server.ca())
        .await
        .unwrap();
    assert_eq!(report.errors, 0);
    server.terminate();
    server
}

/// Runs the `annal` binary; the output is checked by the caller.
pub fn annal(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_annal"))
        .args(args)
        .env("ANNAL_LOG", "warn")
        .output()
        .expect("run annal")
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `annal audit head` on a store URL.
pub fn audit_head(store_url: &str) -> String {
    let out = annal(&["audit", "head", "--store", store_url]);
    assert!(out.status.success(), "{}", stderr(&out));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// `annal audit verify` on a store URL passes.
pub fn assert_verifies(store_url: &str) {
    let out = annal(&["audit", "verify", "--store", store_url]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.starts_with("OK"),
        "{stdout}{}",
        stderr(&out)
    );
}

/// No event of the log holds a device's PushMagic (`<serial>-magic` from the simulator) in
/// clear, in its body or its raw plist.
pub fn assert_no_clear_push_magic(events: &[RecordedEvent]) {
    let needle = b"-magic";
    for e in events {
        let clear = e.data.windows(needle.len()).any(|w| w == needle)
            || e.raw
                .as_ref()
                .is_some_and(|r| r.windows(needle.len()).any(|w| w == needle));
        assert!(
            !clear,
            "event {} ({}) holds a secret in clear",
            e.event_id, e.event_type
        );
    }
    assert!(
        events.iter().any(|e| e.event_type == "TokenUpdate"),
        "the log has no TokenUpdate to check"
    );
}

/// Opens the store a URL names.
pub async fn store(url: &str) -> std::sync::Arc<dyn EventStore> {
    annal::store::open(&url.parse().unwrap()).await.unwrap()
}

/// Every event of the log, in order.
pub async fn read_everything(store: &dyn EventStore) -> Vec<RecordedEvent> {
    let mut all = Vec::new();
    let mut next = 1;
    loop {
        let page = store.read_all(next, 500).await.unwrap();
        let Some(last) = page.last() else { return all };
        next = last.global_position + 1;
        all.extend(page);
    }
}

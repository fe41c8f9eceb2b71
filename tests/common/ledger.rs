//! What the load generator was told: every answer by kind, and each request a 2xx
//! acknowledged (check-ins, polls, command results, deliveries, enqueues), per device.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Instant;

/// How one request ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// A 2xx, with its body.
    Ok(Vec<u8>),
    /// Another status, and whether it carried Retry-After.
    Status(u16, bool),
    /// No answer: connection refused or reset.
    Connection(String),
    /// No answer within `load::REQUEST_LIMIT`.
    Hung,
    /// No server to send to (between a kill and its restart).
    NoServer,
}

impl Outcome {
    /// The label outcomes are counted under: `2xx`, `503`, `connection`, ….
    pub fn label(&self) -> String {
        match self {
            Outcome::Ok(_) => "2xx".into(),
            Outcome::Status(503, true) => "503".into(),
            Outcome::Status(503, false) => "503 without Retry-After".into(),
            Outcome::Status(code, _) => code.to_string(),
            Outcome::Connection(_) => "connection".into(),
            Outcome::Hung => "hung".into(),
            Outcome::NoServer => "no server".into(),
        }
    }
}

/// What one device was acknowledged.
#[derive(Debug, Default, Clone)]
pub struct DeviceLedger {
    pub idles: u64,
    pub token_updates: u64,
    /// CommandUUID → how many times a 2xx reply handed it over.
    pub deliveries: HashMap<String, u64>,
    /// (CommandUUID, Status) → how many 2xx answers to results with that status.
    pub results: HashMap<(String, String), u64>,
    /// CommandUUIDs the admin API queued for this device.
    pub enqueued: Vec<String>,
}

#[derive(Default)]
struct Inner {
    outcomes: BTreeMap<String, u64>,
    devices: HashMap<String, DeviceLedger>,
    violations: Vec<String>,
    /// When each 2xx and each non-2xx came, to measure recovery.
    successes: Vec<Instant>,
    failures: Vec<Instant>,
}

#[derive(Default)]
pub struct Ledger(Mutex<Inner>);

impl Ledger {
    pub fn record(&self, outcome: Outcome) -> Outcome {
        let mut inner = self.0.lock().unwrap();
        *inner.outcomes.entry(outcome.label()).or_default() += 1;
        let now = Instant::now();
        match outcome {
            Outcome::Ok(_) => inner.successes.push(now),
            _ => inner.failures.push(now),
        }
        outcome
    }

    fn device(&self, udid: &str, f: impl FnOnce(&mut DeviceLedger)) {
        f(self.0.lock().unwrap().devices.entry(udid.to_string()).or_default());
    }

    pub fn idle(&self, udid: &str) {
        self.device(udid, |d| d.idles += 1);
    }

    pub fn token_update(&self, udid: &str) {
        self.device(udid, |d| d.token_updates += 1);
    }

    pub fn delivered(&self, udid: &str, uuid: &str) {
        self.device(udid, |d| *d.deliveries.entry(uuid.to_string()).or_default() += 1);
    }

    pub fn result(&self, udid: &str, uuid: &str, status: &str) {
        self.device(udid, |d| {
            *d.results.entry((uuid.to_string(), status.to_string())).or_default() += 1
        });
    }

    pub fn enqueued(&self, udid: &str, uuid: &str) {
        self.device(udid, |d| d.enqueued.push(uuid.to_string()));
    }

    /// A broken promise seen on the wire (a command handed over twice in one session).
    pub fn violation(&self, what: String) {
        self.0.lock().unwrap().violations.push(what);
    }

    pub fn violations(&self) -> Vec<String> {
        self.0.lock().unwrap().violations.clone()
    }

    /// Answers counted by label.
    pub fn outcomes(&self) -> BTreeMap<String, u64> {
        self.0.lock().unwrap().outcomes.clone()
    }

    pub fn count(&self, label: &str) -> u64 {
        self.outcomes().get(label).copied().unwrap_or(0)
    }

    /// Panics if any answer carries a label outside `allowed`.
    pub fn assert_only(&self, allowed: &[&str]) {
        let outcomes = self.outcomes();
        let unexpected: Vec<_> = outcomes
            .iter()
            .filter(|(k, _)| !allowed.contains(&k.as_str()))
            .collect();
        assert!(
            unexpected.is_empty(),
            "answers other than {allowed:?}: {unexpected:?} (all: {outcomes:?})"
        );
        assert_eq!(self.violations(), Vec::<String>::new());
    }

    pub fn devices(&self) -> HashMap<String, DeviceLedger> {
        self.0.lock().unwrap().devices.clone()
    }

    /// Requests that got a 2xx.
    pub fn acknowledged(&self) -> u64 {
        self.count("2xx")
    }

    /// The first 2xx at or after `t`.
    pub fn first_success_after(&self, t: Instant) -> Option<Instant> {
        self.0.lock().unwrap().successes.iter().copied().find(|s| *s >= t)
    }

    /// The last non-2xx answer.
    pub fn last_failure(&self) -> Option<Instant> {
        self.0.lock().unwrap().failures.last().copied()
    }
}

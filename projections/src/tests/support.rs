//! A log under construction for one or more fake devices, with a clock tests can read.

use std::collections::BTreeMap;

use annal_schemas::catalog::EventData;
use annal_schemas::events::command::CommandQueued;
use annal_schemas::RecordedEvent;
use chrono::{DateTime, TimeDelta, TimeZone, Utc};

use crate::synthetic::{push_accepted, push_attempted, queued, FakeDevice, LogBuilder};
use crate::{Change, Projections};

pub const ADMIN: &str = "api-key:alice";

pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 12, 0, 0).unwrap()
}

/// `t0` plus `secs` seconds.
pub fn at(secs: i64) -> DateTime<Utc> {
    t0() + TimeDelta::seconds(secs)
}

/// A log whose clock starts at `t0` and moves one second per event.
pub struct Log {
    pub builder: LogBuilder,
    pushes: u128,
}

impl Log {
    pub fn new() -> Self {
        Self {
            builder: LogBuilder::new(t0()),
            pushes: 0,
        }
    }

    /// Records a device message (actor: the device's identity).
    pub fn device<E: EventData>(&mut self, d: &FakeDevice, body: E, raw: Option<Vec<u8>>) -> u64 {
        self.builder
            .record(&d.key(), &d.fingerprint, &body, raw)
            .global_position
    }

    /// Records an event caused by the server (deliveries, pushes, expiry).
    pub fn system<E: EventData>(&mut self, d: &FakeDevice, body: E) -> u64 {
        self.builder.record(&d.key(), "system", &body, None).global_position
    }

    pub fn enroll(&mut self, d: &FakeDevice) {
        let now = self.builder.now();
        self.device(d, d.authenticate(1), None);
        self.system(d, d.identity_bound(1, now));
        self.device(d, d.token_update(), None);
    }

    /// An admin queues `request_type` with a reason.
    pub fn queue(&mut self, d: &FakeDevice, uuid: &str, request_type: &str) -> u64 {
        let mut body = queued(uuid, request_type, 1);
        body.reason = Some(format!("ticket for {request_type}"));
        self.queue_body(d, body)
    }

    pub fn queue_body(&mut self, d: &FakeDevice, body: CommandQueued) -> u64 {
        self.builder
            .record(&d.key(), ADMIN, &body, Some(b"<plist/>".to_vec()))
            .global_position
    }

    pub fn push(&mut self, d: &FakeDevice) {
        self.pushes += 1;
        self.system(d, push_attempted(self.pushes));
        self.system(d, push_accepted(self.pushes));
    }

    pub fn idle(&mut self, d: &FakeDevice) -> u64 {
        let raw = d.report_plist("Idle", None, plist::Dictionary::new());
        self.device(d, d.idle(), Some(raw))
    }

    /// Acknowledged, with `answer` merged into the raw report.
    pub fn ack(&mut self, d: &FakeDevice, uuid: &str, request_type: &str, answer: plist::Dictionary) -> u64 {
        let raw = d.report_plist("Acknowledged", Some(uuid), answer);
        self.device(d, d.acknowledged(uuid, request_type), Some(raw))
    }

    pub fn events(&self) -> &[RecordedEvent] {
        self.builder.events()
    }

    pub fn fold(&self) -> Projections {
        Projections::fold(self.events())
    }
}

/// A plist dictionary from string pairs.
pub fn dict(pairs: &[(&str, plist::Value)]) -> plist::Dictionary {
    pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
}

/// `{"QueryResponses": {..pairs}}`.
pub fn query_responses(pairs: &[(&str, plist::Value)]) -> plist::Dictionary {
    dict(&[("QueryResponses", plist::Value::Dictionary(dict(pairs)))])
}

/// A key-value table standing in for the persisted documents.
pub type Table = BTreeMap<(&'static str, String), Change>;

pub fn persist(table: &mut Table, changes: Vec<Change>) {
    for change in changes {
        let key = (change.model, change.key.clone());
        match change.doc {
            Some(_) => table.insert(key, change),
            None => table.remove(&key),
        };
    }
}

/// Drains into `table` as a node persists, then evicts the settled documents it wrote.
pub fn persist_and_evict(node: &mut Projections, table: &mut Table) {
    let changes = node.drain_changes();
    let settled: Vec<(&'static str, String)> = changes
        .iter()
        .filter(|c| c.settled)
        .map(|c| (c.model, c.key.clone()))
        .collect();
    persist(table, changes);
    node.evict(settled.iter().map(|(m, k)| (*m, k.as_str())));
}

//! Drained changes, restoring from them, and folds "as of" a point.

use annal_schemas::RecordedEvent;
use serde_json::json;

use super::support::{persist, persist_and_evict, Log, Table};
use crate::audit::AuditFilter;
use crate::synthetic::{fleet, FakeDevice, FleetSpec};
use crate::{AsOf, Change, ProjectionError, Projections};

#[test]
fn drain_returns_each_changed_document_once_at_its_latest_value() {
    let d = FakeDevice::new(1);
    let mut log = Log::new();
    log.enroll(&d);
    for _ in 0..5 {
        log.idle(&d);
    }
    log.queue(&d, "C1", "DeviceLock");
    let mut p = log.fold();
    let changes = p.drain_changes();
    let keys: Vec<(&str, &str)> = changes.iter().map(|c| (c.model, c.key.as_str())).collect();
    let lock_key = format!("{}/C1", d.udid);
    assert_eq!(
        keys,
        [
            ("devices", d.udid.as_str()),
            ("commands", lock_key.as_str()),
            // The audit trail's own record of the device's identifiers, then the lock.
            ("audit", d.udid.as_str()),
            ("audit", lock_key.as_str()),
            ("push", d.udid.as_str())
        ]
    );
    assert_eq!(changes, p.snapshot(), "every document drained is at its latest value");
    let device = &changes[0].doc.as_ref().unwrap();
    assert_eq!(device["pending_commands"], json!(1));
    assert_eq!(device["state"], json!("enrolled"));
    let ids = &changes[2];
    assert_eq!(
        ids.doc,
        Some(json!({"udid": d.udid, "serial_number": d.serial})),
        "the audit trail's identifiers are the inventory's"
    );
    assert!(
        !ids.settled && ids.tag.is_none(),
        "never settled, never met by a query by tag"
    );
    assert!(p.drain_changes().is_empty());

    // One more poll changes the device's and its push health's documents, nothing else.
    let idle = log.idle(&d);
    p.apply(&log.events()[idle as usize - 1]);
    let changes = p.drain_changes();
    let models: Vec<&str> = changes.iter().map(|c| c.model).collect();
    assert_eq!(models, ["devices", "push"]);
}

/// Everything a query can see, one line per document, queue and fan-out.
fn observable(p: &Projections) -> Vec<String> {
    let snapshot = p.snapshot();
    let mut lines: Vec<String> = snapshot
        .iter()
        .map(|c| format!("{} {}: {}", c.model, c.key, c.doc.clone().unwrap_or_default()))
        .collect();
    for change in snapshot.iter().filter(|c| c.model == "devices") {
        let queue = p.commands().queue(&change.key);
        let uuids: Vec<&String> = queue.iter().map(|c| &c.command_uuid).collect();
        lines.push(format!("queue {}: {uuids:?}", change.key));
    }
    for change in snapshot.iter().filter(|c| c.model == "commands") {
        let uuid = change.key.split_once('/').map(|(_, u)| u).unwrap_or_default();
        lines.push(format!("fan-out {uuid}: {:?}", p.commands().fan_out(uuid).counts));
    }
    let trail = p.audit().query(&AuditFilter::default(), None, usize::MAX);
    lines.extend(
        trail
            .items
            .iter()
            .map(|e| format!("trail {}/{}", e.enrollment, e.command_uuid)),
    );
    lines
}

/// Fails on the first line that differs, so a failure shows one document, not all of them.
fn assert_same(got: &[String], want: &[String], context: &str) {
    for (g, w) in got.iter().zip(want) {
        assert_eq!(g, w, "{context}");
    }
    assert_eq!(got.len(), want.len(), "{context}");
}

fn check_restore_at_every_split(events: &[RecordedEvent]) {
    let whole = observable(&Projections::fold(events));
    for split in 0..=events.len() {
        // Persist as a live node does: drain every few events, then at the checkpoint.
        let mut table = Table::new();
        let mut first = Projections::new();
        for (i, event) in events[..split].iter().enumerate() {
            first.apply(event);
            if i % 7 == 3 {
                persist(&mut table, first.drain_changes());
            }
        }
        persist(&mut table, first.drain_changes());

        let mut second = Projections::new();
        for change in table.values() {
            second.restore(change).unwrap();
        }
        second.set_position(first.position());
        assert!(second.drain_changes().is_empty(), "restoring is not a change");
        // Redelivering the checkpoint's event must not apply it twice.
        for event in &events[split.saturating_sub(1)..] {
            second.apply(event);
        }
        let context = format!("restored at event {split} of {}", events.len());
        assert_same(&observable(&second), &whole, &context);
    }
}

#[test]
fn restoring_drained_documents_then_continuing_equals_one_fold() {
    // Ten devices: the tenth has a user channel too.
    for (devices, seed) in [(10, 1), (3, 2), (3, 3)] {
        let events = fleet(&FleetSpec {
            devices,
            rounds: 6,
            seed,
        });
        check_restore_at_every_split(&events);
    }
}

#[test]
fn one_streams_fold_is_that_enrollments_state() {
    let events = fleet(&FleetSpec {
        devices: 12,
        rounds: 10,
        seed: 9,
    });
    let whole = Projections::fold(&events);
    assert_eq!(whole.devices().len(), 13, "12 devices and one user channel");
    for change in whole.snapshot().iter().filter(|c| c.model == "devices") {
        let stream = format!("enrollment-{}", change.key);
        let alone = Projections::fold(events.iter().filter(|e| e.stream == stream));
        assert_eq!(alone.devices().get(&change.key), whole.devices().get(&change.key));
        assert_eq!(alone.push().get(&change.key), whole.push().get(&change.key));
        assert_eq!(
            alone.commands().for_enrollment(&change.key),
            whole.commands().for_enrollment(&change.key)
        );
    }
}

#[test]
fn as_of_a_time_stops_at_the_last_event_recorded_by_then() {
    let d = FakeDevice::new(2);
    let mut log = Log::new();
    log.enroll(&d);
    log.queue(&d, "C1", "ProfileList");
    let cutoff = log.builder.now();
    log.idle(&d);
    log.ack(&d, "C1", "ProfileList", plist::Dictionary::new());

    let then = Projections::fold_as_of(log.events(), AsOf::Time(cutoff));
    assert_eq!(then.position(), 5, "the Idle at the cutoff time is included");
    assert_eq!(then.commands().queue(&d.udid).len(), 1);
    let now = log.fold();
    assert!(now.commands().queue(&d.udid).is_empty());
}

#[test]
fn restore_refuses_unknown_models_old_versions_and_bad_documents() {
    let mut p = Projections::new();
    let change = |model, version, doc| Change::stored(model, version, "K".into(), doc);
    assert!(matches!(
        p.restore(&change("nope", 1, json!({}))),
        Err(ProjectionError::UnknownModel(_))
    ));
    assert!(matches!(
        p.restore(&change("devices", 99, json!({}))),
        Err(ProjectionError::VersionMismatch {
            found: 99,
            expected: 2,
            ..
        })
    ));
    assert!(matches!(
        p.restore(&change(
            "commands",
            crate::commands::Commands::VERSION,
            json!({"enrollment": 5})
        )),
        Err(ProjectionError::Document { model: "commands", .. })
    ));
    assert!(p.snapshot().is_empty());
}

#[test]
fn evicting_settled_documents_and_restoring_only_the_rest_persists_what_one_fold_does() {
    for (devices, seed) in [(10, 1), (3, 2)] {
        let events = fleet(&FleetSpec {
            devices,
            rounds: 8,
            seed,
        });
        let mut whole = Table::new();
        persist(&mut whole, Projections::fold(&events).drain_changes());
        assert!(whole.values().any(|c| c.settled) && whole.values().any(|c| !c.settled));
        for split in (0..=events.len()).step_by(5) {
            let mut table = Table::new();
            let mut first = Projections::new();
            for (i, event) in events[..split].iter().enumerate() {
                first.apply(event);
                if i % 7 == 3 {
                    persist_and_evict(&mut first, &mut table);
                }
            }
            persist_and_evict(&mut first, &mut table);
            // A restart restores what is not settled, as the read-model database loads it.
            let mut second = Projections::new();
            for change in table.values().filter(|c| !c.settled) {
                second.restore(change).unwrap();
            }
            second.set_position(first.position());
            for (i, event) in events[split..].iter().enumerate() {
                second.apply(event);
                if i % 5 == 1 {
                    persist_and_evict(&mut second, &mut table);
                }
            }
            persist_and_evict(&mut second, &mut table);
            assert_eq!(table, whole, "split at event {split} of {}", events.len());
            // Memory keeps the queues only: every command left is pending.
            let pending = whole.values().filter(|c| c.model == "commands" && !c.settled).count();
            assert_eq!(second.commands().len(), pending, "split at {split}");
            assert_eq!(second.commands().pending_total(), pending, "split at {split}");
        }
    }
}

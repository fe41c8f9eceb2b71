//! The audit trail folds from the events alone: folded from the start while the other
//! projections are restored at the head, or restored mid-log from its documents (its settled
//! entries evicted), it is what one fold of the whole log makes.

use annal_schemas::events::command::{
    CancelReason, CommandCancelled, CommandExpired, ErrorChainItem, ErrorReason, UnparseableReport,
};
use annal_schemas::events::identity::EnrollmentRefused;
use annal_schemas::RecordedEvent;
use chrono::{DateTime, Utc};
use plist::Value;

use super::support::{at, persist, persist_and_evict, query_responses, Log, Table, ADMIN};
use crate::audit::{AuditEntry, AuditFilter, AuditTrail, RawAnswer};
use crate::commands::CommandState;
use crate::synthetic::{fleet, FakeDevice, FleetSpec};
use crate::{Change, Projections};

const A: u64 = 21;
const B: u64 = 22;
/// Never checks in.
const STRAY: u64 = 23;

/// Every way an audited command goes, on a device whose serial number changes, a user channel,
/// an enrollment that never checked in, and a refusal.
fn story() -> Vec<RecordedEvent> {
    let (a, b, stray) = (FakeDevice::new(A), FakeDevice::new(B), FakeDevice::new(STRAY));
    let a_user = a.user("501");
    let mut log = Log::new();
    // Before any check-in the enrollment has no identifiers, and a DeviceInformation answer
    // gives it none.
    log.queue(&stray, "S-LOCK", "DeviceLock");
    log.ack(
        &stray,
        "S-DI",
        "DeviceInformation",
        query_responses(&[("SerialNumber", Value::from("STRAYSERIAL"))]),
    );
    log.queue(&stray, "S-LOCK2", "DeviceLock");
    log.enroll(&a);
    log.enroll(&b);
    log.queue(&a, "LOCK", "DeviceLock");
    log.queue(&a, "ERASE", "EraseDevice");
    log.push(&a);
    log.system(&a, a.delivered("LOCK", "DeviceLock", 1));
    // Delivered already, the lock keeps the push before its delivery; the erase takes this one.
    log.push(&a);
    log.device(&a, a.not_now("LOCK", "DeviceLock"), None);
    log.system(&a, a.delivered("LOCK", "DeviceLock", 2));
    log.ack(&a, "LOCK", "DeviceLock", plist::Dictionary::new());
    // A retried answer does not replace the first one.
    log.ack(
        &a,
        "LOCK",
        "DeviceLock",
        query_responses(&[("Retried", Value::from(true))]),
    );
    // The device reports another serial number: entries queued from now on record it.
    log.queue(&a, "DI", "DeviceInformation");
    log.ack(
        &a,
        "DI",
        "DeviceInformation",
        query_responses(&[("SerialNumber", Value::from("NEWSERIAL"))]),
    );
    log.queue(&a, "LOCK2", "DeviceLock");
    // A user channel opens with its TokenUpdate, which names the device's UDID only.
    log.device(&a_user, a_user.token_update(), None);
    log.queue(&a_user, "INST", "InstallProfile");
    log.push(&a_user);
    let cancel = CommandCancelled {
        command_uuid: "INST".into(),
        reason: CancelReason::Admin,
        note: None,
    };
    log.builder.record(&a_user.key(), ADMIN, &cancel, None);
    log.queue(&b, "RM", "RemoveProfile");
    log.system(&b, b.delivered("RM", "RemoveProfile", 1));
    let mut errored = b.errored("RM", "RemoveProfile", vec![chain_item()]);
    errored.reason = Some(ErrorReason::UnparseableReport);
    errored.unparseable = Some(UnparseableReport {
        status: "Error".into(),
        detail: "ErrorChain: not an array".into(),
        raw_length: 9,
        raw_truncated: false,
    });
    log.device(&b, errored, Some(b"<garbage>".to_vec()));
    log.queue(&b, "CLEAR", "ClearPasscode");
    log.push(&b);
    let expired = CommandExpired {
        command_uuid: "CLEAR".into(),
        expired_at: at(1000),
    };
    log.system(&b, expired);
    let refused = EnrollmentRefused {
        enrollment: b.udid.clone(),
        udid: None,
        fingerprint_sha256: "ee".repeat(32),
        bound_fingerprint_sha256: Some(b.fingerprint.clone()),
        reason: "this device is enrolled under another identity".into(),
    };
    log.builder
        .record_on(&format!("refused-{}", b.udid), "device:ee", &refused, None);
    // Answered and asked again under the same CommandUUID: a new entry replaces the first.
    log.queue(&a, "LOCK", "DeviceLock");
    log.queue(&b, "ERASE-B", "EraseDevice");
    log.push(&b);
    log.events().to_vec()
}

fn chain_item() -> ErrorChainItem {
    ErrorChainItem {
        error_code: 1,
        error_domain: "MCProfileErrorDomain".into(),
        localized_description: None,
        us_english_description: None,
    }
}

/// The story and a generated fleet.
fn logs() -> Vec<Vec<RecordedEvent>> {
    let generated = fleet(&FleetSpec {
        devices: 6,
        rounds: 8,
        seed: 4,
    });
    vec![story(), generated]
}

/// When APNs accepted each push to `d`, in order.
fn push_times(events: &[RecordedEvent], d: &FakeDevice) -> Vec<DateTime<Utc>> {
    let stream = format!("enrollment-{}", d.key());
    events
        .iter()
        .filter(|e| e.event_type == "PushAccepted" && e.stream == stream)
        .map(|e| e.recorded_at)
        .collect()
}

fn trail(p: &Projections) -> Vec<AuditEntry> {
    p.audit().query(&AuditFilter::default(), None, usize::MAX).items
}

fn audit_docs(changes: impl IntoIterator<Item = Change>) -> Vec<Change> {
    changes.into_iter().filter(|c| c.model == AuditTrail::NAME).collect()
}

#[test]
fn the_trail_records_what_its_own_fold_knows_of_each_command_and_device() {
    let events = story();
    let p = Projections::fold(&events);
    let (a, b, stray) = (FakeDevice::new(A), FakeDevice::new(B), FakeDevice::new(STRAY));
    let entry = |d: &FakeDevice, uuid: &str| p.audit().get(&d.key(), uuid).expect(uuid).clone();
    let ids = |e: &AuditEntry| (e.udid.clone(), e.serial_number.clone());

    assert_eq!(ids(&entry(&stray, "S-LOCK")), (None, None));
    assert_eq!(ids(&entry(&stray, "S-LOCK2")), (None, None));
    let lock2 = entry(&a, "LOCK2");
    assert_eq!(ids(&lock2), (Some(a.udid.clone()), Some("NEWSERIAL".into())));
    let erase = entry(&a, "ERASE");
    assert_eq!(ids(&erase), (Some(a.udid.clone()), Some(a.serial.clone())));
    let inst = entry(&a.user("501"), "INST");
    assert_eq!(ids(&inst), (Some(a.udid.clone()), None));
    assert_eq!(inst.status, CommandState::Cancelled);
    assert!(inst.pushed_at.is_some());

    // Never delivered, the erase was last pushed by the second push.
    assert_eq!(erase.pushed_at, Some(push_times(&events, &a)[1]));
    assert_eq!(erase.status, CommandState::Queued);

    let rm = entry(&b, "RM");
    assert_eq!(
        (rm.status, rm.error_reason, rm.error_chain.len()),
        (CommandState::Error, Some(ErrorReason::UnparseableReport), 1)
    );
    assert_eq!(rm.answer, Some(RawAnswer::Xml("<garbage>".into())));
    let clear = entry(&b, "CLEAR");
    assert_eq!((clear.status, clear.result_at), (CommandState::Expired, Some(at(1000))));
    let refusals = p.audit().query(
        &AuditFilter {
            request_type: Some("EnrollmentRefused".into()),
            ..AuditFilter::default()
        },
        None,
        10,
    );
    assert_eq!(refusals.items.len(), 1);
    assert_eq!(ids(&refusals.items[0]), (Some(b.udid.clone()), Some(b.serial.clone())));

    // Every audited command's progress is its status's: one set of rules for both.
    for e in trail(&p).iter().filter(|e| e.status != CommandState::Refused) {
        let c = p.commands().get(&e.enrollment, &e.command_uuid).expect("its command");
        assert_eq!(
            (c.status, c.pushed_at, c.delivered_at, c.completed_at, c.result_position),
            (e.status, e.pushed_at, e.delivered_at, e.result_at, e.result_position),
            "{}/{}",
            e.enrollment,
            e.command_uuid
        );
        assert_eq!(
            (&c.error_chain, c.cancel_reason, c.error_reason),
            (&e.error_chain, e.cancel_reason, e.error_reason)
        );
    }
}

#[test]
fn a_retried_answer_leaves_the_first_answer_in_the_trail() {
    let events = story();
    let p = Projections::fold(&events);
    let a = FakeDevice::new(A);
    // "LOCK" was queued again at the end; the first one's answer is in the fold up to then.
    let again = events
        .iter()
        .rposition(|e| e.event_type == "CommandQueued" && e.stream == format!("enrollment-{}", a.udid))
        .unwrap();
    let then = Projections::fold(&events[..again]);
    let lock = then.audit().get(&a.udid, "LOCK").unwrap();
    let first_answer = events
        .iter()
        .find(|e| e.event_type == "CommandAcknowledged" && e.stream == format!("enrollment-{}", a.udid))
        .unwrap();
    assert_eq!(lock.result_position, Some(first_answer.global_position));
    let Some(RawAnswer::Xml(xml)) = &lock.answer else {
        panic!("an XML answer: {:?}", lock.answer);
    };
    assert!(!xml.contains("Retried"), "{xml}");
    assert_eq!(lock.status, CommandState::Acknowledged);
    // Delivered between the two pushes: the first was its push.
    assert_eq!(lock.pushed_at, Some(push_times(&events, &a)[0]));
    // Queued again: a new life, pending.
    assert_eq!(p.audit().get(&a.udid, "LOCK").unwrap().status, CommandState::Queued);
}

#[test]
fn folded_alone_from_the_start_the_trail_is_what_the_whole_fold_makes() {
    for events in logs() {
        let whole = Projections::fold(&events);
        let head = whole.position();
        // The inventory, command status and push health restored at the head; the audit trail
        // (a new version) from nothing.
        let mut p = Projections::new();
        let others: Vec<Change> = whole
            .snapshot()
            .into_iter()
            .filter(|c| c.model != AuditTrail::NAME)
            .collect();
        for change in &others {
            p.restore(change).unwrap();
        }
        for (model, _) in Projections::models() {
            let at = if model == AuditTrail::NAME { 0 } else { head };
            p.set_checkpoint(model, at).unwrap();
        }
        for event in &events {
            p.apply(event);
        }
        assert!(
            p.drain_changes().iter().all(|c| c.model == AuditTrail::NAME),
            "the others skip what they have"
        );
        assert_eq!(p.checkpoint(AuditTrail::NAME), Some(head));
        let want = trail(&whole);
        assert!(want.len() >= 5, "{} entries", want.len());
        assert_eq!(trail(&p), want);
        assert_eq!(audit_docs(p.snapshot()), audit_docs(whole.snapshot()));
        let rest: Vec<Change> = p
            .snapshot()
            .into_iter()
            .filter(|c| c.model != AuditTrail::NAME)
            .collect();
        assert_eq!(rest, others);
    }
}

#[test]
fn restored_mid_log_with_settled_entries_evicted_the_trail_folds_on_to_the_whole_fold() {
    for events in logs() {
        let mut whole = Table::new();
        let full = Projections::fold(&events);
        persist(&mut whole, full.snapshot());
        let pending: Vec<AuditEntry> = trail(&full).into_iter().filter(|e| e.status.is_pending()).collect();
        assert!(whole.values().any(|c| c.model == AuditTrail::NAME && c.settled));
        let step = if events.len() > 200 { 7 } else { 1 };
        for split in (0..=events.len()).step_by(step) {
            let mut table = Table::new();
            let mut first = Projections::new();
            for (i, event) in events[..split].iter().enumerate() {
                first.apply(event);
                if i % 4 == 1 {
                    persist_and_evict(&mut first, &mut table);
                }
            }
            persist_and_evict(&mut first, &mut table);
            // A restart loads what is not settled, as the read-model database does.
            let mut second = Projections::new();
            for change in table.values().filter(|c| !c.settled) {
                second.restore(change).unwrap();
            }
            second.set_position(first.position());
            for (i, event) in events[split..].iter().enumerate() {
                second.apply(event);
                if i % 3 == 0 {
                    persist_and_evict(&mut second, &mut table);
                }
            }
            persist_and_evict(&mut second, &mut table);
            let context = format!("split at event {split} of {}", events.len());
            let stored = |t: &Table| audit_docs(t.values().cloned());
            assert_eq!(stored(&table), stored(&whole), "{context}");
            // Memory keeps the pending entries only.
            assert_eq!(trail(&second), pending, "{context}");
        }
    }
}

//! The audit trail: security-relevant commands only, with who, why, when and the answer.

use annal_schemas::events::command::{CancelReason, CommandCancelled, ErrorChainItem};
use base64::Engine;
use plist::Value;

use super::support::{at, query_responses, Log, ADMIN};
use crate::audit::{AuditFilter, RawAnswer};
use crate::commands::CommandState;
use crate::synthetic::{queued, FakeDevice};

#[test]
fn a_device_lock_is_audited_with_its_answer_and_device_information_is_not() {
    let d = FakeDevice::new(1);
    let mut log = Log::new();
    log.enroll(&d);
    let lock_queued = log.queue(&d, "LOCK", "DeviceLock"); // t0+3
    log.push(&d); // t0+4, t0+5
    log.idle(&d); // t0+6
    log.system(&d, d.delivered("LOCK", "DeviceLock", 1)); // t0+7
    let raw = d.report_plist("Acknowledged", Some("LOCK"), plist::Dictionary::new());
    let answered = log.device(&d, d.acknowledged("LOCK", "DeviceLock"), Some(raw.clone())); // t0+8
    log.queue(&d, "DI", "DeviceInformation");
    // The device reports another serial later; the trail keeps the one it had when locked.
    log.ack(
        &d,
        "DI",
        "DeviceInformation",
        query_responses(&[("SerialNumber", Value::from("NEWSERIAL"))]),
    );

    let p = log.fold();
    assert_eq!(p.audit().len(), 1);
    assert!(p.audit().get(&d.udid, "DI").is_none());
    let e = p.audit().get(&d.udid, "LOCK").unwrap();
    assert_eq!((e.request_type.as_str(), e.class.as_str()), ("DeviceLock", "lock"));
    assert_eq!(e.enrollment, d.udid);
    assert_eq!(e.udid.as_deref(), Some(d.udid.as_str()));
    assert_eq!(e.serial_number.as_deref(), Some(d.serial.as_str()));
    assert_eq!(e.requester, ADMIN);
    assert_eq!(e.reason.as_deref(), Some("ticket for DeviceLock"));
    assert_eq!((e.queued_at, e.queued_position), (at(3), lock_queued));
    assert_eq!(
        (e.pushed_at, e.delivered_at, e.result_at),
        (Some(at(5)), Some(at(7)), Some(at(8)))
    );
    assert_eq!(e.status, CommandState::Acknowledged);
    assert_eq!(e.answer, Some(RawAnswer::Xml(String::from_utf8(raw).unwrap())));
    assert_eq!(e.result_position, Some(answered));
    assert_eq!(
        p.devices().get(&d.udid).unwrap().serial_number.as_deref(),
        Some("NEWSERIAL")
    );
}

#[test]
fn binary_sealed_errored_and_cancelled_commands_in_the_trail() {
    let d = FakeDevice::new(2);
    let mut log = Log::new();
    log.enroll(&d);
    log.queue(&d, "ERASE", "EraseDevice");
    log.queue(&d, "BYPASS", "ActivationLockBypassCode");
    log.queue(&d, "RM", "RemoveProfile");
    log.queue(&d, "INST", "InstallProfile");
    let binary = b"bplist00\xd1\x01\x02".to_vec();
    log.device(&d, d.acknowledged("ERASE", "EraseDevice"), Some(binary.clone()));
    let sealed = br#"{"alg":"A256GCM","key_id":"k","nonce":"AA==","ciphertext":"AA=="}"#.to_vec();
    log.device(&d, d.acknowledged("BYPASS", "ActivationLockBypassCode"), Some(sealed));
    let chain = vec![ErrorChainItem {
        error_code: 1,
        error_domain: "MCProfileErrorDomain".into(),
        localized_description: None,
        us_english_description: None,
    }];
    log.device(&d, d.errored("RM", "RemoveProfile", chain.clone()), None);
    let cancel = CommandCancelled {
        command_uuid: "INST".into(),
        reason: CancelReason::Admin,
        note: None,
    };
    log.builder.record(&d.key(), ADMIN, &cancel, None);

    let p = log.fold();
    let entry = |uuid| p.audit().get(&d.udid, uuid).unwrap().clone();
    let b64 = base64::engine::general_purpose::STANDARD.encode(&binary);
    assert_eq!(entry("ERASE").answer, Some(RawAnswer::Base64(b64)));
    assert_eq!(entry("BYPASS").answer, Some(RawAnswer::Sealed));
    assert_eq!(
        (entry("RM").status, entry("RM").error_chain),
        (CommandState::Error, chain)
    );
    assert_eq!(entry("RM").answer, None);
    let inst = entry("INST");
    assert_eq!(
        (inst.status, inst.cancel_reason, inst.result_position),
        (CommandState::Cancelled, Some(CancelReason::Admin), None)
    );
    assert!(inst.result_at.is_some());
}

#[test]
fn the_trail_is_filtered_and_paged_in_queue_order() {
    let a = FakeDevice::new(10);
    let b = FakeDevice::new(11);
    let a_user = a.user("501");
    let mut log = Log::new();
    log.enroll(&a);
    log.enroll(&b);
    let mut positions = Vec::new();
    positions.push(log.queue(&a, "1", "DeviceLock")); // t0+6
    positions.push(log.queue(&b, "2", "DeviceLock")); // t0+7
    let mut by_bob = queued("3", "EraseDevice", 1);
    by_bob.reason = Some("stolen".into());
    positions.push(
        log.builder
            .record(&a.key(), "api-key:bob", &by_bob, None)
            .global_position,
    ); // t0+8
    positions.push(log.queue(&a_user, "4", "InstallProfile")); // t0+9
    log.queue(&a, "5", "ProfileList"); // not security-relevant

    let p = log.fold();
    let uuids = |filter: &AuditFilter| -> Vec<String> {
        p.audit()
            .query(filter, None, 100)
            .items
            .into_iter()
            .map(|e| e.command_uuid)
            .collect()
    };
    assert_eq!(uuids(&AuditFilter::default()), ["1", "2", "3", "4"]);
    let locks = AuditFilter {
        request_type: Some("DeviceLock".into()),
        ..AuditFilter::default()
    };
    assert_eq!(uuids(&locks), ["1", "2"]);
    let bob = AuditFilter {
        requester: Some("api-key:bob".into()),
        ..AuditFilter::default()
    };
    assert_eq!(uuids(&bob), ["3"]);
    // A UDID matches the device and its user channels; a full enrollment key only itself.
    let device_a = AuditFilter {
        device: Some(a.udid.clone()),
        ..AuditFilter::default()
    };
    assert_eq!(uuids(&device_a), ["1", "3", "4"]);
    let channel = AuditFilter {
        device: Some(a_user.key()),
        ..AuditFilter::default()
    };
    assert_eq!(uuids(&channel), ["4"]);
    let window = AuditFilter {
        queued_from: Some(at(7)),
        queued_until: Some(at(9)),
        ..AuditFilter::default()
    };
    assert_eq!(uuids(&window), ["2", "3"]);

    let first = p.audit().query(&AuditFilter::default(), None, 3);
    assert_eq!(first.items.len(), 3);
    assert_eq!(first.next, Some(positions[2]));
    let rest = p.audit().query(&AuditFilter::default(), first.next, 3);
    assert_eq!(
        rest.items.iter().map(|e| e.command_uuid.as_str()).collect::<Vec<_>>(),
        ["4"]
    );
    assert_eq!(rest.next, None);
    assert!(p.audit().query(&AuditFilter::default(), None, 0).items.is_empty());
}

#[test]
fn a_refused_enrollment_is_an_audit_entry_and_touches_nothing_else() {
    let d = FakeDevice::new(1);
    let mut log = Log::new();
    log.enroll(&d);
    log.queue(&d, "LOCK", "DeviceLock");
    let refused = annal_schemas::events::identity::EnrollmentRefused {
        enrollment: d.udid.clone(),
        udid: Some(d.udid.clone()),
        fingerprint_sha256: "ee".repeat(32),
        bound_fingerprint_sha256: Some(d.fingerprint.clone()),
        reason: "this device is enrolled under another identity".into(),
    };
    let position = log
        .builder
        .record_on(&format!("refused-{}", d.udid), "device:ee", &refused, None)
        .global_position;
    // Another stream prefix is not read, whatever it holds.
    log.builder.record_on("refusedx", "x", &refused, None);

    let p = log.fold();
    let key = format!("refused-{position}");
    let e = p.audit().get(&d.udid, &key).expect("an audit entry for the refusal");
    assert_eq!(
        (e.request_type.as_str(), e.status),
        ("EnrollmentRefused", CommandState::Refused)
    );
    assert_eq!(e.requester, "device:ee");
    assert_eq!(e.serial_number.as_deref(), Some(d.serial.as_str()));
    assert_eq!(e.fingerprint_sha256.as_deref(), Some("ee".repeat(32).as_str()));
    assert_eq!(e.bound_fingerprint_sha256.as_deref(), Some(d.fingerprint.as_str()));
    assert_eq!(e.queued_position, position);
    assert_eq!(p.audit().len(), 2, "the lock and the refusal");
    let only = p.audit().query(
        &AuditFilter {
            request_type: Some("EnrollmentRefused".into()),
            ..AuditFilter::default()
        },
        None,
        10,
    );
    assert_eq!(only.items.len(), 1);
    // The enrollment itself is unchanged: its lock is still pending.
    assert_eq!(p.audit().get(&d.udid, "LOCK").unwrap().status, CommandState::Queued);
}

/// Who created or revoked a key or an enrollment token, and who installed a push certificate,
/// are in the trail with what they acted on; the same events anywhere else are not.
#[test]
fn administrative_actions_are_in_the_trail_with_who_and_what() {
    use annal_schemas::events::apikey::{ApiKeyCreated, ApiKeyRevoked, Role};
    use annal_schemas::events::push::PushCertificateInstalled;
    let mut log = Log::new();
    let created = ApiKeyCreated {
        key_id: "K1".into(),
        name: "lobby".into(),
        role: Role::Enrollment,
        secret_sha256: "00".repeat(32),
    };
    log.builder.record_on("api-keys", "api-key:alice", &created, None);
    let revoked = ApiKeyRevoked {
        key_id: "K1".into(),
        reason: Some("the lobby kiosk was stolen".into()),
    };
    log.builder.record_on("api-keys", "cli:bob@mdm1", &revoked, None);
    let now = log.builder.now();
    let installed: PushCertificateInstalled = serde_json::from_value(serde_json::json!({
        "topic": "com.apple.mgmt.External.test",
        "fingerprint_sha256": "ab".repeat(32),
        "serial_hex": "01",
        "subject": "CN=APSP:test",
        "issuer": "CN=Apple",
        "not_before": now,
        "not_after": now + chrono::TimeDelta::days(365),
        "certificate_pem": "",
        "key": {"alg": "A256GCM", "key_id": "k", "nonce": "", "ciphertext": ""},
    }))
    .expect("an install");
    log.builder
        .record_on("push-certificates", "cli:bob@mdm1", &installed, None);
    // Not an administrative stream: ignored.
    log.builder.record_on("enrollment-X", "api-key:mallory", &created, None);

    let p = log.fold();
    let trail = p.audit().query(&AuditFilter::default(), None, 10).items;
    let summary: Vec<_> = trail
        .iter()
        .map(|e| {
            (
                e.request_type.as_str(),
                e.requester.as_str(),
                e.status,
                e.class.as_str(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                "ApiKeyCreated",
                "api-key:alice",
                CommandState::Recorded,
                "administration"
            ),
            (
                "ApiKeyRevoked",
                "cli:bob@mdm1",
                CommandState::Recorded,
                "administration"
            ),
            (
                "PushCertificateInstalled",
                "cli:bob@mdm1",
                CommandState::Recorded,
                "administration"
            ),
        ]
    );
    assert_eq!(trail[0].subject.as_deref(), Some("enrollment key \"lobby\" (K1)"));
    assert_eq!(trail[1].reason.as_deref(), Some("the lobby kiosk was stolen"));
    let cert = trail[2].subject.as_deref().unwrap();
    assert!(
        cert.contains("com.apple.mgmt.External.test") && cert.contains(&"ab".repeat(32)),
        "{cert}"
    );
    // Filters work on them as on commands.
    let by_bob = AuditFilter {
        requester: Some("cli:bob@mdm1".into()),
        ..AuditFilter::default()
    };
    assert_eq!(p.audit().query(&by_bob, None, 10).items.len(), 2);
}

/// Who defined or removed a group, who tagged a device, and whom a group meant for a command
/// are in the trail with what they acted on; the same events on another stream are not.
#[test]
fn group_and_tag_changes_and_resolutions_are_in_the_trail() {
    use annal_schemas::events::group::{
        DeviceTagged, GroupDefined, GroupDefinition, GroupRemoved, TargetFilter, TargetsResolved,
    };
    let mut log = Log::new();
    let definition = GroupDefinition::Filter(TargetFilter {
        model: Some("iPad".into()),
        tags: vec!["lab".into()],
        ..TargetFilter::default()
    });
    let defined = GroupDefined {
        name: "lab-ipads".into(),
        definition: definition.clone(),
        reason: Some("INC-7".into()),
    };
    log.builder.record_on("groups", "api-key:alice", &defined, None);
    let tagged = DeviceTagged {
        enrollment_id: "UDID-1".into(),
        tag: "lab".into(),
        reason: None,
    };
    log.builder.record_on("device-tags", "api-key:olaf", &tagged, None);
    let resolved = TargetsResolved {
        command_uuid: "C1".into(),
        request_type: "EraseDevice".into(),
        group: Some("lab-ipads".into()),
        definition,
        last_seen_before: None,
        last_seen_after: None,
        inventory_position: Some(2),
        enrollments: vec!["UDID-1".into(), "UDID-2".into()],
        reason: Some("lab reset".into()),
    };
    log.builder.record_on("targets-C1", "api-key:alice", &resolved, None);
    let removed = GroupRemoved {
        name: "lab-ipads".into(),
        reason: None,
    };
    log.builder.record_on("groups", "api-key:alice", &removed, None);
    // Not where they belong: ignored.
    log.builder.record_on("enrollment-X", "api-key:mallory", &tagged, None);
    log.builder.record_on("api-keys", "api-key:mallory", &resolved, None);

    let p = log.fold();
    let trail = p.audit().query(&AuditFilter::default(), None, 10).items;
    let summary: Vec<_> = trail
        .iter()
        .map(|e| (e.request_type.as_str(), e.requester.as_str(), e.class.as_str()))
        .collect();
    assert_eq!(
        summary,
        [
            ("GroupDefined", "api-key:alice", "administration"),
            ("DeviceTagged", "api-key:olaf", "administration"),
            ("TargetsResolved", "api-key:alice", "administration"),
            ("GroupRemoved", "api-key:alice", "administration"),
        ]
    );
    assert_eq!(trail[0].reason.as_deref(), Some("INC-7"));
    assert!(trail[0].subject.as_deref().unwrap().contains("lab-ipads"));
    assert_eq!(trail[1].subject.as_deref(), Some("tag \"lab\" on UDID-1"));
    let meant = trail[2].subject.as_deref().unwrap();
    assert!(
        meant.contains("EraseDevice C1") && meant.contains("2 devices: UDID-1, UDID-2"),
        "{meant}"
    );
    assert_eq!(trail[2].reason.as_deref(), Some("lab reset"));
}

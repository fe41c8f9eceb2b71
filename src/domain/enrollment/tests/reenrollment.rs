//! Re-enrollment under another identity, revocation, forgetting a device, and secrets bound
//! to the identity they were queued for (issue 15).

use crate::domain::enrollment::CheckOut;
use annal_schemas::events::command::CancelReason;
use annal_schemas::Event;

use super::*;

fn authenticate_vouched(fp: &str, vouched: Vouched) -> Input {
    let mut input = authenticate(fp);
    if let Input::Device { identity, .. } = &mut input {
        identity.vouched = vouched;
    }
    input
}

fn apply(state: &Enrollment, input: Input) -> Enrollment {
    let out = decide(state, input, t0()).expect("accepted");
    let mut next = state.clone();
    for (e, raw) in &out.events {
        next.evolve(e, raw.as_deref());
    }
    next
}

fn sealed_enqueue(uuid: &str, request_type: &str) -> Input {
    Input::Admin(AdminInput::Enqueue {
        command_uuid: uuid.into(),
        request_type: request_type.into(),
        payload: b"{sealed}".to_vec(),
        sealed: true,
        idempotency_key: None,
        reason: None,
        expires_at: None,
    })
}

fn report_as(fp: &str, status: ReportStatus, uuid: Option<&str>, renewal_of: Option<&str>) -> Input {
    let mut input = report(status, uuid);
    if let Input::Device { identity, .. } = &mut input {
        identity.certificate.fingerprint_sha256 = fp.into();
        identity.vouched.renewal_of = renewal_of.map(str::to_owned);
    }
    input
}

/// Attack 3 of issue 15: Authenticate with any fresh certificate for an enrolled UDID took the
/// device over, cancelling its pending lock as `reenrolled`.
#[test]
fn another_identity_cannot_take_over_an_enrolled_device() {
    let state = given([enrolled(), vec![sealed_enqueue("lock", "DeviceLock")]].concat());
    let err = decide(&state, authenticate("EVIL"), t0()).unwrap_err();
    assert_eq!(err, Refusal::Reenrollment { enrolled: "A".into() });
    assert!(err.to_string().contains("enrolled under another identity"), "{err}");
    // A challenge the device reported itself (over-the-air) is no admin's binding.
    let reported = Vouched {
        udid: Some("UDID-1".into()),
        ..Vouched::default()
    };
    assert!(matches!(
        decide(&state, authenticate_vouched("EVIL", reported), t0()),
        Err(Refusal::Reenrollment { .. })
    ));
    // Nothing changed: the lock is still for the device.
    assert_eq!(state.queue.len(), 1);
    // NanoMDM's behaviour, when the operator asks for it.
    let out = decide_with(&state, authenticate("EVIL"), t0(), Reenrollment::Allow).unwrap();
    assert_eq!(types(&out), vec!["Authenticate", "CommandCancelled", "IdentityBound"]);
}

#[test]
fn a_new_identity_enrolls_once_the_enrollment_ended() {
    let enrolled_state = given(enrolled());
    let checkout = device_input(DeviceInput::CheckOut(CheckOut { topic: "t".into() }), "A");
    let ended = [
        ("checked out", apply(&enrolled_state, checkout)),
        (
            "forgotten",
            apply(&enrolled_state, Input::Admin(AdminInput::Forget { reason: None })),
        ),
        (
            "revoked",
            apply(
                &enrolled_state,
                Input::Admin(AdminInput::RevokeIdentity {
                    fingerprint_sha256: "A".into(),
                    reason: Some("lost".into()),
                }),
            ),
        ),
    ];
    for (why, state) in ended {
        let out = decide(&state, authenticate("NEW"), t0()).unwrap_or_else(|e| panic!("{why}: {e}"));
        assert_eq!(types(&out).last(), Some(&"IdentityBound"), "{why}");
    }
    // An acknowledged EraseDevice ends it too; a queued or refused one does not.
    let erase = given([enrolled(), vec![sealed_enqueue("wipe", "EraseDevice")]].concat());
    assert!(!erase.erased);
    let out = decide(&erase, report(ReportStatus::Idle, None), t0()).unwrap();
    assert_eq!(delivered(&out), Some("wipe".into()));
    let wiped = apply(&erase, report(ReportStatus::Acknowledged, Some("wipe")));
    assert!(wiped.erased);
    assert!(decide(&wiped, authenticate("NEW"), t0()).is_ok());
    let refused = apply(&erase, report(ReportStatus::Error, Some("wipe")));
    assert!(matches!(
        decide(&refused, authenticate("NEW"), t0()),
        Err(Refusal::Reenrollment { .. })
    ));
}

#[test]
fn an_admin_bound_challenge_or_a_renewal_may_replace_the_identity() {
    let state = given(enrolled());
    let by_udid = Vouched {
        udid: Some("UDID-1".into()),
        admin_bound: true,
        ..Vouched::default()
    };
    assert!(decide(&state, authenticate_vouched("NEW", by_udid), t0()).is_ok());
    // By serial: the serial the enrolled device reported (F9FX in its Authenticate).
    let by_serial = Vouched {
        serial_number: Some("F9FX".into()),
        admin_bound: true,
        ..Vouched::default()
    };
    assert!(decide(&state, authenticate_vouched("NEW", by_serial), t0()).is_ok());
    let renewal = Vouched {
        renewal_of: Some("A".into()),
        ..Vouched::default()
    };
    assert!(decide(&state, authenticate_vouched("A2", renewal), t0()).is_ok());
    // Bound to another device: refused whatever the state, even for a new enrollment.
    let other = Vouched {
        udid: Some("UDID-2".into()),
        admin_bound: true,
        ..Vouched::default()
    };
    assert_eq!(
        decide(&state, authenticate_vouched("NEW", other.clone()), t0()).unwrap_err(),
        Refusal::IssuedForAnotherDevice("UDID-2".into())
    );
    assert_eq!(
        decide(&Enrollment::default(), authenticate_vouched("NEW", other), t0()).unwrap_err(),
        Refusal::IssuedForAnotherDevice("UDID-2".into())
    );
    let other_serial = Vouched {
        serial_number: Some("C02X".into()),
        admin_bound: true,
        ..Vouched::default()
    };
    assert_eq!(
        decide(&state, authenticate_vouched("NEW", other_serial), t0()).unwrap_err(),
        Refusal::IssuedForAnotherDevice("C02X".into())
    );
}

#[test]
fn a_revoked_identity_is_refused_and_its_queue_cancelled() {
    let state = given([enrolled(), vec![enqueue("c1", None, None)]].concat());
    let revoke = |fp: &str| {
        Input::Admin(AdminInput::RevokeIdentity {
            fingerprint_sha256: fp.into(),
            reason: None,
        })
    };
    // Another certificate's revocation does not touch this enrollment.
    assert!(decide(&state, revoke("OTHER"), t0()).unwrap().events.is_empty());
    let out = decide(&state, revoke("A"), t0()).unwrap();
    assert_eq!(types(&out), vec!["IdentityRevoked", "CommandCancelled"]);
    assert!(matches!(&out.events[1].0, Event::CommandCancelled(c) if c.reason == CancelReason::Forgotten));
    let revoked = apply(&state, revoke("A"));
    assert_eq!(
        decide(&revoked, report(ReportStatus::Idle, None), t0()).unwrap_err(),
        Refusal::IdentityRevoked
    );
    assert!(decide(&revoked, revoke("A"), t0()).unwrap().events.is_empty(), "once");
    assert_eq!(
        decide(&revoked, report_as("A2", ReportStatus::Idle, None, Some("A")), t0()).unwrap_err(),
        Refusal::IdentityRevoked,
        "a revoked identity's renewal does not rotate"
    );
}

#[test]
fn forgetting_a_device_ends_its_enrollment() {
    let state = given([enrolled(), vec![enqueue("c1", None, None)]].concat());
    let out = decide(&state, Input::Admin(AdminInput::Forget { reason: None }), t0()).unwrap();
    assert_eq!(types(&out), vec!["DeviceForgotten", "CommandCancelled"]);
    let forgotten = apply(&state, Input::Admin(AdminInput::Forget { reason: None }));
    assert_eq!(
        decide(&forgotten, report(ReportStatus::Idle, None), t0()).unwrap_err(),
        Refusal::CheckedOut
    );
    assert_eq!(
        decide(&forgotten, Input::Admin(AdminInput::Forget { reason: None }), t0()).unwrap_err(),
        Refusal::CheckedOut
    );
}

#[test]
fn a_sealed_command_is_delivered_only_to_the_identity_it_was_queued_for() {
    let state = given(
        [
            enrolled(),
            vec![sealed_enqueue("lock", "DeviceLock"), enqueue("info", None, None)],
        ]
        .concat(),
    );
    assert_eq!(state.pending("lock").unwrap().identity.as_deref(), Some("A"));
    assert_eq!(state.pending("info").unwrap().identity, None, "not a secret");
    // The bound identity gets it.
    let out = decide(&state, report(ReportStatus::Idle, None), t0()).unwrap();
    assert_eq!(delivered(&out), Some("lock".into()));
    // After a rotation, the lock's PIN is not handed to the new certificate: cancelled, and
    // the next command is delivered instead.
    let out = decide(&state, report_as("A2", ReportStatus::Idle, None, Some("A")), t0()).unwrap();
    assert_eq!(
        types(&out),
        vec!["IdentityRotated", "Idle", "CommandCancelled", "CommandDelivered"]
    );
    assert!(matches!(&out.events[2].0,
        Event::CommandCancelled(c) if c.command_uuid == "lock" && c.reason == CancelReason::IdentityChanged));
    assert_eq!(delivered(&out), Some("info".into()));
}

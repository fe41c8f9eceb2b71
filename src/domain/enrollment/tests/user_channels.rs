//! A user channel ends with its device channel, and opens again only from the device channel's
//! identity once that one enrolled again.

use super::*;
use crate::domain::enrollment::state::BoundIdentity;

fn user_token(parent: Option<BoundIdentity>) -> Input {
    let mut input = token_update();
    if let Input::Device { parent: p, device, .. } = &mut input {
        *p = parent;
        device.user_id = Some("user-1".into());
    }
    input
}

fn device_identity() -> BoundIdentity {
    BoundIdentity {
        fingerprint_sha256: "A".into(),
        subject: "CN=UDID-1".into(),
        issuer: "CN=Annal CA".into(),
    }
}

fn end() -> Input {
    Input::Admin(AdminInput::EndUserChannel {
        device: DeviceRef {
            user_id: Some("user-1".into()),
            ..device()
        },
        identity: who("A"),
    })
}

fn apply(state: &mut Enrollment, outcome: &Outcome) {
    for (e, raw) in &outcome.events {
        state.evolve(e, raw.as_deref());
    }
}

#[test]
fn ending_a_user_channel_checks_it_out_and_cancels_its_queue() {
    let mut state = Enrollment::default();
    let opened = decide(&state, user_token(Some(device_identity())), t0()).unwrap();
    apply(&mut state, &opened);
    let queued = decide(&state, enqueue("C1", None, None), t0()).unwrap();
    apply(&mut state, &queued);
    let out = decide(&state, end(), t0()).unwrap();
    assert_eq!(types(&out), vec!["CheckOut", "CommandCancelled"]);
    match &out.events[0].0 {
        annal_schemas::Event::CheckOut(c) => {
            assert!(c.with_device_channel);
            assert_eq!(c.topic, "com.apple.mgmt.test");
            assert_eq!(c.device.user_id.as_deref(), Some("user-1"));
        }
        other => panic!("expected CheckOut, got {other:?}"),
    }
    apply(&mut state, &out);
    assert_eq!(state.phase, Phase::CheckedOut);
    assert!(state.queue.is_empty());
    // Ending it again records nothing (the device channel's request still succeeds).
    assert!(decide(&state, end(), t0()).unwrap().events.is_empty());
    // Its requests are refused like a checked-out device channel's.
    assert_eq!(
        decide(&state, report(ReportStatus::Idle, None), t0()).unwrap_err(),
        Refusal::CheckedOut
    );
    // It opens again with a TokenUpdate from its (re-enrolled) device channel's identity…
    let reopened = decide(&state, user_token(Some(device_identity())), t0()).unwrap();
    assert_eq!(types(&reopened), vec!["IdentityBound", "TokenUpdate"]);
    // …and not while the device channel is not enrolled (the service then gives no parent).
    assert_eq!(decide(&state, user_token(None), t0()).unwrap_err(), Refusal::CheckedOut);
}

#[test]
fn a_channel_that_never_opened_is_not_ended() {
    let out = decide(&Enrollment::default(), end(), t0()).unwrap();
    assert!(out.events.is_empty());
}

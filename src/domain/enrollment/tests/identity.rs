//! Identity binding, rotation, channels, check-in messages.

use crate::domain::enrollment::{CheckOut, SetBootstrapToken, UserAuthenticate};
use annal_schemas::{Event, Sealed};

use super::*;

#[test]
fn authenticate_binds_the_identity_and_starts_generation_1() {
    let out = decide(&Enrollment::default(), authenticate("A"), t0()).unwrap();
    assert_eq!(types(&out), vec!["Authenticate", "IdentityBound"]);
    assert!(matches!(&out.events[0].0, Event::Authenticate(a) if a.generation == 1));
    assert_eq!(
        out.events[0].1.as_deref(),
        Some(b"<plist/>".as_slice()),
        "raw plist kept"
    );
    let state = given(enrolled());
    assert_eq!((state.phase, state.generation), (Phase::Enrolled, 1));
    assert_eq!(state.identity.unwrap().fingerprint_sha256, "A");
}

#[test]
fn a_new_authenticate_starts_a_new_generation_and_cancels_the_old_queue() {
    // The same identity authenticating again (another identity: see reenrollment.rs).
    let state = given([enrolled(), vec![enqueue("c1", None, None), enqueue("c2", None, None)]].concat());
    let out = decide(&state, authenticate("A"), t0()).unwrap();
    assert_eq!(
        types(&out),
        vec!["Authenticate", "CommandCancelled", "CommandCancelled", "IdentityBound"]
    );
    assert!(matches!(&out.events[0].0, Event::Authenticate(a) if a.generation == 2));
    let state = given([enrolled(), vec![enqueue("c1", None, None), authenticate("A")]].concat());
    assert!(state.queue.is_empty());
    assert_eq!(state.generation, 2);
    assert_eq!(state.identity.unwrap().fingerprint_sha256, "A");
}

#[test]
fn messages_before_authenticate_are_refused_without_events() {
    let err = decide(&Enrollment::default(), token_update(), t0()).unwrap_err();
    assert_eq!(err, Refusal::NotAuthenticated);
    let err = decide(&Enrollment::default(), report(ReportStatus::Idle, None), t0()).unwrap_err();
    assert_eq!(err, Refusal::NotAuthenticated);
    assert_eq!(
        decide(&Enrollment::default(), enqueue("c", None, None), t0()).unwrap_err(),
        Refusal::NotAuthenticated
    );
}

#[test]
fn another_certificate_is_refused() {
    let state = given(enrolled());
    let mut idle = report(ReportStatus::Idle, None);
    if let Input::Device { identity, .. } = &mut idle {
        *identity = Identity {
            certificate: cert("EVIL", "CN=device-2"),
            proof: "mtls",
            issued_by_annal: true,
            vouched: Vouched::default(),
            url_params: Default::default(),
        };
    }
    assert_eq!(decide(&state, idle, t0()).unwrap_err(), Refusal::IdentityMismatch);
}

/// Attack 1 of issue 15: a certificate Annal's CA issued for the same subject (`CN=<UDID>`,
/// which any challenge holder can ask for) used to be taken as a renewal. It proves nothing.
#[test]
fn a_certificate_with_the_same_subject_is_not_a_rotation() {
    let state = given(enrolled());
    let mut idle = report(ReportStatus::Idle, None);
    if let Input::Device { identity, .. } = &mut idle {
        identity.certificate.fingerprint_sha256 = "A2".into();
        assert_eq!(identity.certificate.subject, state.identity.as_ref().unwrap().subject);
        assert!(identity.issued_by_annal);
    }
    assert_eq!(decide(&state, idle, t0()).unwrap_err(), Refusal::IdentityMismatch);
}

#[test]
fn only_a_logged_renewal_of_the_bound_certificate_is_a_rotation() {
    let state = given(enrolled());
    let renewed = |renewal_of: &str| {
        let mut idle = report(ReportStatus::Idle, None);
        if let Input::Device { identity, .. } = &mut idle {
            identity.certificate = cert("A2", "CN=anything");
            identity.vouched.renewal_of = Some(renewal_of.into());
        }
        idle
    };
    let out = decide(&state, renewed("A"), t0()).unwrap();
    assert_eq!(types(&out), vec!["IdentityRotated", "Idle"]);
    assert!(matches!(&out.events[0].0,
        Event::IdentityRotated(r) if r.previous_fingerprint_sha256 == "A" && r.certificate.fingerprint_sha256 == "A2"));
    // The renewal of some other certificate does not replace this one.
    assert_eq!(
        decide(&state, renewed("OTHER"), t0()).unwrap_err(),
        Refusal::IdentityMismatch
    );
    // After the rotation the old certificate is no longer the device.
    let mut rotated = state.clone();
    for (e, raw) in &out.events {
        rotated.evolve(e, raw.as_deref());
    }
    assert_eq!(
        decide(&rotated, report(ReportStatus::Idle, None), t0()).unwrap_err(),
        Refusal::IdentityMismatch
    );
}

#[test]
fn check_out_ends_the_enrollment_and_cancels_its_queue() {
    let checkout = device_input(DeviceInput::CheckOut(CheckOut { topic: "t".into() }), "A");
    let state = given([enrolled(), vec![enqueue("c1", None, None)]].concat());
    let out = decide(&state, checkout.clone(), t0()).unwrap();
    assert_eq!(types(&out), vec!["CheckOut", "CommandCancelled"]);
    let state = given([enrolled(), vec![checkout]].concat());
    assert_eq!(
        decide(&state, report(ReportStatus::Idle, None), t0()).unwrap_err(),
        Refusal::CheckedOut
    );
    assert_eq!(
        decide(&state, enqueue("c", None, None), t0()).unwrap_err(),
        Refusal::CheckedOut
    );
    assert!(
        decide(&state, authenticate("A"), t0()).is_ok(),
        "re-enrollment is allowed"
    );
    assert!(
        decide(&state, authenticate("B"), t0()).is_ok(),
        "with another identity too: the enrollment ended"
    );
}

#[test]
fn bootstrap_token_is_escrowed_returned_and_cleared() {
    let set = |token: Option<Sealed>| {
        device_input(
            DeviceInput::SetBootstrapToken(SetBootstrapToken {
                bootstrap_token: token,
                awaiting_configuration: None,
            }),
            "A",
        )
    };
    let get = device_input(
        DeviceInput::GetBootstrapToken {
            awaiting_configuration: None,
        },
        "A",
    );
    let state = given([enrolled(), vec![set(Some(sealed("bt")))]].concat());
    let out = decide(&state, get.clone(), t0()).unwrap();
    assert_eq!(out.reply, Some(Reply::BootstrapToken(Some(sealed("bt")))));
    let state = given([enrolled(), vec![set(Some(sealed("bt"))), set(None)]].concat());
    assert_eq!(
        decide(&state, get, t0()).unwrap().reply,
        Some(Reply::BootstrapToken(None))
    );
}

#[test]
fn user_authenticate_is_declined_and_get_token_refused() {
    let state = given(enrolled());
    let ua = device_input(
        DeviceInput::UserAuthenticate(UserAuthenticate {
            user_short_name: Some("alice".into()),
            user_long_name: None,
            digest_response_present: false,
        }),
        "A",
    );
    let out = decide(&state, ua.clone(), t0()).unwrap();
    assert_eq!(out.reply, Some(Reply::Gone));
    // A user channel that does not exist yet is declined too (UserAuthenticate comes first).
    assert_eq!(
        decide(&Enrollment::default(), ua, t0()).unwrap().reply,
        Some(Reply::Gone)
    );
    assert!(matches!(&out.events[0].0, Event::UserAuthenticate(u) if u.outcome == "declined"));
    let gt = device_input(
        DeviceInput::GetToken {
            token_service_type: "com.apple.maid".into(),
        },
        "A",
    );
    assert!(matches!(
        decide(&state, gt, t0()).unwrap().reply,
        Some(Reply::Declined(_))
    ));
}

#[test]
fn a_user_channel_opens_with_a_token_update_from_its_device_identity() {
    let user_token = |parent: Option<BoundIdentity>, fp: &str| {
        let mut input = token_update();
        let presented = identity(fp);
        if let Input::Device {
            parent: p,
            identity: id,
            device,
            ..
        } = &mut input
        {
            *p = parent;
            *id = presented;
            device.user_id = Some("user-1".into());
        }
        input
    };
    let device_identity = BoundIdentity {
        fingerprint_sha256: "A".into(),
        subject: "CN=UDID-1".into(),
        issuer: "CN=Annal CA".into(),
    };
    let out = decide(
        &Enrollment::default(),
        user_token(Some(device_identity.clone()), "A"),
        t0(),
    )
    .unwrap();
    assert_eq!(types(&out), vec!["IdentityBound", "TokenUpdate"]);
    let mut state = Enrollment::default();
    for (e, raw) in &out.events {
        state.evolve(e, raw.as_deref());
    }
    assert_eq!(state.phase, Phase::Enrolled);
    // Another identity, or no enrolled device channel, cannot open it.
    let err = decide(&Enrollment::default(), user_token(Some(device_identity), "EVIL"), t0()).unwrap_err();
    assert_eq!(err, Refusal::NotAuthenticated);
    assert_eq!(
        decide(&Enrollment::default(), user_token(None, "A"), t0()).unwrap_err(),
        Refusal::NotAuthenticated
    );
}

/// NanoMDM's `token_update_tally`: 1 on an enrollment's first TokenUpdate (when servers send
/// their initial commands), counting on; a checkout and a new Authenticate start again.
#[test]
fn token_updates_are_counted_from_each_enrollment() {
    let tally = |state: &Enrollment| {
        let out = decide(state, token_update(), t0()).expect("token update");
        match &out.events[0].0 {
            Event::TokenUpdate(e) => e.token_update_tally,
            other => panic!("{other:?}"),
        }
    };
    let mut inputs = vec![authenticate("A")];
    assert_eq!(tally(&given(inputs.clone())), Some(1));
    inputs.push(token_update());
    inputs.push(token_update());
    assert_eq!(tally(&given(inputs.clone())), Some(3));
    inputs.push(device_input(DeviceInput::CheckOut(CheckOut { topic: "t".into() }), "A"));
    inputs.push(authenticate("A"));
    assert_eq!(tally(&given(inputs)), Some(1));
}

/// An enrollment replayed through `/migration`: bound to no certificate (the empty
/// fingerprint), until one the service vouched as a migration claim speaks for it.
fn migrated() -> Enrollment {
    let no_certificate = |mut input: Input| {
        if let Input::Device { identity, .. } = &mut input {
            identity.certificate.fingerprint_sha256 = String::new();
            identity.proof = crate::domain::enrollment::MIGRATION_PROOF;
            identity.issued_by_annal = false;
        }
        input
    };
    given(vec![no_certificate(authenticate("A")), no_certificate(token_update())])
}

fn idle_from(fingerprint: &str, migration_claim: bool) -> Input {
    let mut idle = report(ReportStatus::Idle, None);
    if let Input::Device { identity, .. } = &mut idle {
        identity.certificate.fingerprint_sha256 = fingerprint.into();
        identity.issued_by_annal = false;
        identity.vouched.migration_claim = migration_claim;
    }
    idle
}

#[test]
fn a_migrated_enrollment_is_claimed_only_by_a_vouched_certificate_and_then_only_by_it() {
    let state = migrated();
    assert_eq!(
        (
            state.phase,
            state.identity.as_ref().unwrap().fingerprint_sha256.as_str()
        ),
        (Phase::Enrolled, "")
    );
    // Not vouched (claims off, Annal's own CA, claimed elsewhere): refused.
    assert_eq!(
        decide(&state, idle_from("OLD-1", false), t0()).unwrap_err(),
        Refusal::IdentityMismatch
    );
    let out = decide(&state, idle_from("OLD-1", true), t0()).unwrap();
    assert_eq!(types(&out), vec!["IdentityBound", "Idle"]);
    assert!(matches!(&out.events[0].0, Event::IdentityBound(b) if b.migration_claim
        && b.certificate.fingerprint_sha256 == "OLD-1"));
    let mut claimed = state.clone();
    for (event, raw) in &out.events {
        claimed.evolve(event, raw.as_deref());
    }
    // Claimed: a second claimant is refused even if vouched, the claimant goes on unclaimed.
    assert_eq!(
        decide(&claimed, idle_from("OLD-2", true), t0()).unwrap_err(),
        Refusal::IdentityMismatch
    );
    assert_eq!(
        types(&decide(&claimed, idle_from("OLD-1", false), t0()).unwrap()),
        vec!["Idle"]
    );
}

#[test]
fn a_migrated_enrollment_is_re_enrolled_only_by_a_vouched_certificate() {
    let state = migrated();
    let mut auth = authenticate("NEW");
    assert!(matches!(
        decide(&state, auth.clone(), t0()),
        Err(Refusal::Reenrollment { .. })
    ));
    if let Input::Device { identity, .. } = &mut auth {
        identity.vouched.migration_claim = true;
    }
    assert_eq!(
        types(&decide(&state, auth, t0()).unwrap()),
        vec!["Authenticate", "IdentityBound"]
    );
}

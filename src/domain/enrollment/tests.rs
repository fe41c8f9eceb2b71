//! Given (events so far) / when (an input) / then (events appended, reply) for every rule.

use annal_schemas::events::checkin::{Authenticate, CheckOut, SetBootstrapToken, TokenUpdate, UserAuthenticate};
use annal_schemas::events::identity::CertificateInfo;
use annal_schemas::events::{DeviceRef, IdentityRef};
use annal_schemas::{Event, Sealed};
use chrono::{DateTime, Duration, Utc};

use super::*;
use crate::domain::enrollment::input::ReportStatus;

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap()
}

fn cert(fingerprint: &str, subject: &str) -> CertificateInfo {
    CertificateInfo {
        fingerprint_sha256: fingerprint.into(),
        serial_hex: "01".into(),
        subject: subject.into(),
        issuer: "CN=Annal CA".into(),
        not_before: t0(),
        not_after: t0() + Duration::days(365),
    }
}

fn identity(fingerprint: &str) -> Identity {
    Identity {
        certificate: cert(fingerprint, "CN=UDID-1"),
        proof: "mdm-signature",
        issued_by_annal: true,
    }
}

fn device() -> DeviceRef {
    DeviceRef {
        udid: Some("UDID-1".into()),
        ..DeviceRef::default()
    }
}

fn sealed(tag: &str) -> Sealed {
    Sealed {
        alg: "A256GCM".into(),
        key_id: "k1".into(),
        nonce: tag.into(),
        ciphertext: tag.into(),
    }
}

fn who(fp: &str) -> IdentityRef {
    IdentityRef {
        fingerprint_sha256: fp.into(),
        proof: "mdm-signature".into(),
    }
}

fn device_input(input: DeviceInput, fp: &str) -> Input {
    Input::Device {
        input: Box::new(input),
        device: device(),
        identity: identity(fp),
        raw: b"<plist/>".to_vec(),
        parent: None,
    }
}

fn authenticate(fp: &str) -> Input {
    device_input(
        DeviceInput::Authenticate(Authenticate {
            device: device(),
            identity: who(fp),
            topic: "com.apple.mgmt.test".into(),
            generation: 0,
            serial_number: Some("F9FX".into()),
            imei: None,
            meid: None,
            os_version: Some("18.1".into()),
            build_version: None,
            product_name: Some("iPad13,1".into()),
            device_name: None,
            model: None,
            model_name: None,
        }),
        fp,
    )
}

fn token_update(fp: &str) -> Input {
    device_input(
        DeviceInput::TokenUpdate(TokenUpdate {
            device: device(),
            identity: who(fp),
            topic: "com.apple.mgmt.test".into(),
            token_hex: "abcd".into(),
            push_magic: sealed("magic"),
            unlock_token: Some(sealed("unlock")),
            awaiting_configuration: None,
            user_short_name: None,
            user_long_name: None,
        }),
        "A",
    )
}

fn report(status: ReportStatus, uuid: Option<&str>) -> Input {
    device_input(
        DeviceInput::Report {
            status,
            command_uuid: uuid.map(str::to_string),
            error_chain: Vec::new(),
        },
        "A",
    )
}

fn enqueue(uuid: &str, key: Option<&str>, expires_at: Option<DateTime<Utc>>) -> Input {
    Input::Admin(AdminInput::Enqueue {
        command_uuid: uuid.into(),
        request_type: "DeviceInformation".into(),
        payload: format!("<plist>{uuid}</plist>").into_bytes(),
        sealed: false,
        idempotency_key: key.map(str::to_string),
        reason: None,
        expires_at,
    })
}

/// Applies inputs in turn, as the service would; returns the state and the last outcome.
fn given(inputs: Vec<Input>) -> Enrollment {
    let mut state = Enrollment::default();
    for input in inputs {
        let outcome = decide(&state, input, t0()).expect("given inputs are accepted");
        for (event, raw) in &outcome.events {
            state.evolve(event, raw.as_deref());
        }
    }
    state
}

fn types(outcome: &Outcome) -> Vec<&'static str> {
    outcome.events.iter().map(|(e, _)| e.event_type()).collect()
}

fn delivered(outcome: &Outcome) -> Option<String> {
    match &outcome.reply {
        Some(Reply::Command { command_uuid, .. }) => Some(command_uuid.clone()),
        _ => None,
    }
}

fn enrolled() -> Vec<Input> {
    vec![authenticate("A"), token_update("A")]
}

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
    let state = given([enrolled(), vec![enqueue("c1", None, None), enqueue("c2", None, None)]].concat());
    let out = decide(&state, authenticate("B"), t0()).unwrap();
    assert_eq!(
        types(&out),
        vec!["Authenticate", "CommandCancelled", "CommandCancelled", "IdentityBound"]
    );
    assert!(matches!(&out.events[0].0, Event::Authenticate(a) if a.generation == 2));
    let state = given([enrolled(), vec![enqueue("c1", None, None), authenticate("B")]].concat());
    assert!(state.queue.is_empty());
    assert_eq!(state.identity.unwrap().fingerprint_sha256, "B");
}

#[test]
fn messages_before_authenticate_are_refused_without_events() {
    let err = decide(&Enrollment::default(), token_update("A"), t0()).unwrap_err();
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
        };
    }
    assert_eq!(decide(&state, idle, t0()).unwrap_err(), Refusal::IdentityMismatch);
}

#[test]
fn a_renewal_from_annals_ca_for_the_same_subject_is_a_rotation() {
    let state = given(enrolled());
    let mut idle = report(ReportStatus::Idle, None);
    if let Input::Device { identity, .. } = &mut idle {
        identity.certificate.fingerprint_sha256 = "A2".into();
    }
    let out = decide(&state, idle.clone(), t0()).unwrap();
    assert_eq!(types(&out), vec!["IdentityRotated", "Idle"]);
    // The same subject from another CA is not a renewal Annal can vouch for.
    let mut foreign = idle.clone();
    if let Input::Device { identity, .. } = &mut foreign {
        identity.issued_by_annal = false;
    }
    assert_eq!(decide(&state, foreign, t0()).unwrap_err(), Refusal::IdentityMismatch);
    // Nor is a certificate whose subject does not name this device, even one shared by all
    // devices of a profile.
    let mut auth = authenticate("A");
    if let Input::Device { identity, .. } = &mut auth {
        identity.certificate = cert("A", "CN=MDM Device");
    }
    let shared = given(vec![auth, token_update("A")]);
    let mut other = report(ReportStatus::Idle, None);
    if let Input::Device { identity, .. } = &mut other {
        identity.certificate = cert("OTHER", "CN=MDM Device");
    }
    assert_eq!(decide(&shared, other, t0()).unwrap_err(), Refusal::IdentityMismatch);
}

#[test]
fn commands_are_delivered_in_fifo_order_one_at_a_time() {
    let state = given([enrolled(), vec![enqueue("c1", None, None), enqueue("c2", None, None)]].concat());
    let out = decide(&state, report(ReportStatus::Idle, None), t0()).unwrap();
    assert_eq!(types(&out), vec!["Idle", "CommandDelivered"]);
    assert_eq!(delivered(&out).as_deref(), Some("c1"));
    let state = given(
        [
            enrolled(),
            vec![
                enqueue("c1", None, None),
                enqueue("c2", None, None),
                report(ReportStatus::Idle, None),
            ],
        ]
        .concat(),
    );
    let out = decide(&state, report(ReportStatus::Acknowledged, Some("c1")), t0()).unwrap();
    assert_eq!(types(&out), vec!["CommandAcknowledged", "CommandDelivered"]);
    assert!(matches!(&out.events[0].0, Event::CommandAcknowledged(a) if a.request_type == "DeviceInformation"));
    assert_eq!(delivered(&out).as_deref(), Some("c2"));
    let state = given(
        [
            enrolled(),
            vec![
                enqueue("c1", None, None),
                report(ReportStatus::Idle, None),
                report(ReportStatus::Acknowledged, Some("c1")),
            ],
        ]
        .concat(),
    );
    let out = decide(&state, report(ReportStatus::Idle, None), t0()).unwrap();
    assert_eq!((types(&out), out.reply), (vec!["Idle"], Some(Reply::Empty)));
}

#[test]
fn an_unanswered_delivered_command_is_sent_again_on_the_next_idle() {
    let state = given(
        [
            enrolled(),
            vec![enqueue("c1", None, None), report(ReportStatus::Idle, None)],
        ]
        .concat(),
    );
    let out = decide(&state, report(ReportStatus::Idle, None), t0()).unwrap();
    assert_eq!(delivered(&out).as_deref(), Some("c1"));
    assert!(matches!(&out.events[1].0, Event::CommandDelivered(d) if d.attempt == 2));
}

#[test]
fn not_now_skips_the_command_for_the_session_and_keeps_it_queued() {
    let base = [
        enrolled(),
        vec![
            enqueue("c1", None, None),
            enqueue("c2", None, None),
            report(ReportStatus::Idle, None),
        ],
    ]
    .concat();
    let out = decide(&given(base.clone()), report(ReportStatus::NotNow, Some("c1")), t0()).unwrap();
    assert_eq!(types(&out), vec!["CommandNotNow", "CommandDelivered"]);
    assert_eq!(delivered(&out).as_deref(), Some("c2"));
    let after_c2 = [
        base.clone(),
        vec![
            report(ReportStatus::NotNow, Some("c1")),
            report(ReportStatus::NotNow, Some("c2")),
        ],
    ]
    .concat();
    let state = given(after_c2.clone());
    assert_eq!(state.queue.len(), 2, "NotNow keeps both queued");
    // Nothing left for this session…
    let out = decide(&given(base), report(ReportStatus::NotNow, Some("c1")), t0()).unwrap();
    assert_eq!(delivered(&out).as_deref(), Some("c2"));
    // …and the next session (Idle) starts again with the oldest.
    let out = decide(&state, report(ReportStatus::Idle, None), t0()).unwrap();
    assert_eq!(delivered(&out).as_deref(), Some("c1"));
}

#[test]
fn not_now_on_the_last_command_ends_the_session() {
    let state = given(
        [
            enrolled(),
            vec![enqueue("c1", None, None), report(ReportStatus::Idle, None)],
        ]
        .concat(),
    );
    let out = decide(&state, report(ReportStatus::NotNow, Some("c1")), t0()).unwrap();
    assert_eq!((types(&out), out.reply), (vec!["CommandNotNow"], Some(Reply::Empty)));
}

#[test]
fn error_and_format_error_complete_the_command() {
    for status in [ReportStatus::Error, ReportStatus::CommandFormatError] {
        let state = given(
            [
                enrolled(),
                vec![enqueue("c1", None, None), report(ReportStatus::Idle, None)],
            ]
            .concat(),
        );
        let out = decide(&state, report(status, Some("c1")), t0()).unwrap();
        assert_eq!(out.reply, Some(Reply::Empty));
        let mut state = state;
        for (e, raw) in &out.events {
            state.evolve(e, raw.as_deref());
        }
        assert!(state.queue.is_empty(), "{status:?} completes");
    }
}

#[test]
fn expired_commands_are_recorded_and_never_delivered() {
    let state = given(
        [
            enrolled(),
            vec![enqueue("old", None, Some(t0())), enqueue("c2", None, None)],
        ]
        .concat(),
    );
    let out = decide(&state, report(ReportStatus::Idle, None), t0() + Duration::seconds(1)).unwrap();
    assert_eq!(types(&out), vec!["Idle", "CommandExpired", "CommandDelivered"]);
    assert_eq!(delivered(&out).as_deref(), Some("c2"));
}

#[test]
fn check_out_ends_the_enrollment_and_cancels_its_queue() {
    let checkout = device_input(
        DeviceInput::CheckOut(CheckOut {
            device: device(),
            identity: who("A"),
            topic: "t".into(),
        }),
        "A",
    );
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
}

#[test]
fn enqueue_is_idempotent_on_its_key_and_cancel_needs_a_pending_command() {
    let state = given([enrolled(), vec![enqueue("c1", Some("k"), None)]].concat());
    let out = decide(&state, enqueue("c9", Some("k"), None), t0()).unwrap();
    assert!(out.events.is_empty());
    assert_eq!(
        out.reply,
        Some(Reply::Queued {
            command_uuid: "c1".into(),
            duplicate: true
        })
    );
    // Without a key, the same CommandUUID is not queued twice either.
    let out = decide(&state, enqueue("c1", None, None), t0()).unwrap();
    assert!(out.events.is_empty());
    assert_eq!(
        out.reply,
        Some(Reply::Queued {
            command_uuid: "c1".into(),
            duplicate: true
        })
    );
    let cancel = |uuid: &str| {
        Input::Admin(AdminInput::Cancel {
            command_uuid: uuid.into(),
        })
    };
    assert_eq!(
        types(&decide(&state, cancel("c1"), t0()).unwrap()),
        vec!["CommandCancelled"]
    );
    assert_eq!(
        decide(&state, cancel("nope"), t0()).unwrap_err(),
        Refusal::UnknownCommand("nope".into())
    );
}

#[test]
fn bootstrap_token_is_escrowed_returned_and_cleared() {
    let set = |token: Option<Sealed>| {
        device_input(
            DeviceInput::SetBootstrapToken(SetBootstrapToken {
                device: device(),
                identity: who("A"),
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
fn user_authenticate_is_declined_get_token_refused_and_ddm_serves_an_empty_set() {
    let state = given(enrolled());
    let ua = device_input(
        DeviceInput::UserAuthenticate(UserAuthenticate {
            device: device(),
            identity: who("A"),
            user_short_name: Some("alice".into()),
            user_long_name: None,
            digest_response_present: false,
            outcome: String::new(),
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
    for (endpoint, reply) in [
        ("tokens", DdmReply::Tokens),
        ("declaration-items", DdmReply::DeclarationItems),
        ("status", DdmReply::StatusAccepted),
        ("declaration/configuration/x", DdmReply::NotFound),
    ] {
        let ddm = device_input(
            DeviceInput::DeclarativeManagement {
                endpoint: endpoint.into(),
            },
            "A",
        );
        assert_eq!(decide(&state, ddm, t0()).unwrap().reply, Some(Reply::Ddm(reply)));
    }
}

#[test]
fn a_result_for_an_unknown_command_is_still_recorded() {
    let state = given(enrolled());
    let out = decide(&state, report(ReportStatus::Acknowledged, Some("ghost")), t0()).unwrap();
    assert_eq!(types(&out), vec!["CommandAcknowledged"]);
    assert!(matches!(&out.events[0].0, Event::CommandAcknowledged(a) if a.request_type.is_empty()));
}

#[test]
fn a_user_channel_opens_with_a_token_update_from_its_device_identity() {
    let user_token = |parent: Option<BoundIdentity>, fp: &str| {
        let mut input = token_update(fp);
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

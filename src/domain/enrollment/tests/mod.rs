//! Given (events so far) / when (an input) / then (events appended, reply) for every rule:
//! fixtures here, identity and channel rules in `identity.rs`, queue rules in `queue.rs`.

use super::{Authenticate, TokenUpdate};
use annal_schemas::events::identity::CertificateInfo;
use annal_schemas::events::{DeviceRef, IdentityRef};
use annal_schemas::Sealed;
use chrono::{DateTime, Duration, Utc};

use super::*;

mod ddm;
mod identity;
mod queue;
mod reenrollment;
mod user_channels;
use crate::domain::enrollment::input::ReportStatus;

pub(super) fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap()
}

pub(super) fn cert(fingerprint: &str, subject: &str) -> CertificateInfo {
    CertificateInfo {
        fingerprint_sha256: fingerprint.into(),
        serial_hex: "01".into(),
        subject: subject.into(),
        issuer: "CN=Annal CA".into(),
        not_before: t0(),
        not_after: t0() + Duration::days(365),
    }
}

pub(super) fn identity(fingerprint: &str) -> Identity {
    Identity {
        certificate: cert(fingerprint, "CN=UDID-1"),
        proof: "mdm-signature",
        issued_by_annal: true,
        vouched: Vouched::default(),
        url_params: Default::default(),
    }
}

pub(super) fn device() -> DeviceRef {
    DeviceRef {
        udid: Some("UDID-1".into()),
        ..DeviceRef::default()
    }
}

pub(super) fn sealed(tag: &str) -> Sealed {
    Sealed {
        alg: "A256GCM".into(),
        key_id: "k1".into(),
        nonce: tag.into(),
        ciphertext: tag.into(),
    }
}

pub(super) fn who(fp: &str) -> IdentityRef {
    IdentityRef {
        fingerprint_sha256: fp.into(),
        proof: "mdm-signature".into(),
        url_params: Default::default(),
    }
}

pub(super) fn device_input(input: DeviceInput, fp: &str) -> Input {
    Input::Device {
        input: Box::new(input),
        device: device(),
        identity: identity(fp),
        raw: bytes::Bytes::from_static(b"<plist/>"),
        parent: None,
    }
}

pub(super) fn authenticate(fp: &str) -> Input {
    device_input(
        DeviceInput::Authenticate(Authenticate {
            topic: "com.apple.mgmt.test".into(),
            serial_number: Some("F9FX".into()),
            imei: None,
            meid: None,
            os_version: Some("18.1".into()),
            build_version: None,
            product_name: Some("iPad13,1".into()),
            device_name: None,
            model: None,
            model_name: None,
            ..Default::default()
        }),
        fp,
    )
}

pub(super) fn token_update() -> Input {
    device_input(
        DeviceInput::TokenUpdate(TokenUpdate {
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

pub(super) fn report(status: ReportStatus, uuid: Option<&str>) -> Input {
    device_input(
        DeviceInput::Report {
            status,
            command_uuid: uuid.map(str::to_string),
            error_chain: Vec::new(),
            unparseable: None,
        },
        "A",
    )
}

pub(super) fn enqueue(uuid: &str, key: Option<&str>, expires_at: Option<DateTime<Utc>>) -> Input {
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
pub(super) fn given(inputs: Vec<Input>) -> Enrollment {
    let mut state = Enrollment::default();
    for input in inputs {
        let outcome = decide(&state, input, t0()).expect("given inputs are accepted");
        for (event, raw) in &outcome.events {
            state.evolve(event, raw.as_deref());
        }
    }
    state
}

pub(super) fn types(outcome: &Outcome) -> Vec<&'static str> {
    outcome.events.iter().map(|(e, _)| e.event_type()).collect()
}

pub(super) fn delivered(outcome: &Outcome) -> Option<String> {
    match &outcome.reply {
        Some(Reply::Command { command_uuid, .. }) => Some(command_uuid.clone()),
        _ => None,
    }
}

pub(super) fn enrolled() -> Vec<Input> {
    vec![authenticate("A"), token_update()]
}

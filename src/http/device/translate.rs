//! From a parsed protocol message to the domain's input: identifiers resolved to the
//! enrollment key, secrets sealed, and the raw body kept (sealed when it carries secrets).

use annal_schemas::events::checkin as body;
use annal_schemas::events::IdentityRef;

use super::error::DeviceError;
use crate::domain::enrollment::{DeviceInput, Identity, Input, ReportStatus};
use crate::mdm::{parse_checkin, parse_report_with_response, CheckinMessage, ParseError, Status};
use crate::secrets::DataKey;

/// Response keys whose values are secrets: a result carrying one is stored sealed.
const SECRET_RESPONSE_KEYS: &[&str] = &[
    "ActivationLockBypassCode",
    "BootstrapToken",
    "RecoveryLockPassword",
    "RotateResult",
    "UnlockToken",
];

pub struct Request {
    pub enrollment_key: String,
    /// The actor recorded on the events: the identity's fingerprint.
    pub actor: String,
    pub input: Input,
}

/// A request whose Content-Type does not say what it is: a command report if it has `Status`,
/// a check-in if it has `MessageType`. Reports are tried first: they are most of the traffic,
/// so an unlabelled report is parsed once, and only an unlabelled check-in twice.
pub fn by_body(raw: &[u8], identity: Identity, key: &DataKey) -> Result<Request, DeviceError> {
    match report(raw, identity.clone(), key) {
        Err(DeviceError::Parse(ParseError::MissingKey { key: missing })) if missing == "Status" => {
            match checkin(raw, identity, key) {
                Err(DeviceError::Parse(ParseError::MissingKey { key: missing })) if missing == "MessageType" => {
                    Err(DeviceError::UnknownMessage)
                }
                other => other,
            }
        }
        other => other,
    }
}

pub fn checkin(raw: &[u8], identity: Identity, key: &DataKey) -> Result<Request, DeviceError> {
    let message = parse_checkin(raw)?;
    let ids = message.ids();
    let enrollment_key = ids.enrollment_key()?;
    let device = ids.to_device_ref();
    let who = IdentityRef {
        fingerprint_sha256: identity.certificate.fingerprint_sha256.clone(),
        proof: identity.proof.to_string(),
    };
    let seal = |bytes: &[u8]| key.seal(bytes).map_err(|e| DeviceError::Internal(e.to_string()));
    let carries_secrets = matches!(
        message,
        CheckinMessage::TokenUpdate(_)
            | CheckinMessage::SetBootstrapToken(_)
            | CheckinMessage::UserAuthenticate(_)
            | CheckinMessage::GetToken(_)
    );
    let input = match message {
        CheckinMessage::Authenticate(m) => DeviceInput::Authenticate(body::Authenticate {
            device: device.clone(),
            identity: who,
            topic: m.topic,
            generation: 0,
            serial_number: m.serial_number,
            imei: m.imei,
            meid: m.meid,
            os_version: m.os_version,
            build_version: m.build_version,
            product_name: m.product_name,
            device_name: m.device_name,
            model: m.model,
            model_name: m.model_name,
        }),
        CheckinMessage::TokenUpdate(m) => DeviceInput::TokenUpdate(body::TokenUpdate {
            device: device.clone(),
            identity: who,
            topic: m.topic,
            token_hex: hex::encode(&m.token),
            push_magic: seal(m.push_magic.expose().as_bytes())?,
            unlock_token: m.unlock_token.as_ref().map(|t| seal(t.expose())).transpose()?,
            awaiting_configuration: m.awaiting_configuration,
            user_short_name: m.ids.user_short_name.clone(),
            user_long_name: m.ids.user_long_name.clone(),
        }),
        CheckinMessage::CheckOut(m) => DeviceInput::CheckOut(body::CheckOut {
            device: device.clone(),
            identity: who,
            topic: m.topic,
            with_device_channel: false,
        }),
        CheckinMessage::UserAuthenticate(m) => DeviceInput::UserAuthenticate(body::UserAuthenticate {
            device: device.clone(),
            identity: who,
            user_short_name: m.ids.user_short_name.clone(),
            user_long_name: m.ids.user_long_name.clone(),
            digest_response_present: m.digest_response.is_some(),
            outcome: String::new(),
        }),
        CheckinMessage::SetBootstrapToken(m) => DeviceInput::SetBootstrapToken(body::SetBootstrapToken {
            device: device.clone(),
            identity: who,
            bootstrap_token: m.bootstrap_token.as_ref().map(|t| seal(t.expose())).transpose()?,
            awaiting_configuration: m.awaiting_configuration,
        }),
        CheckinMessage::GetBootstrapToken(m) => DeviceInput::GetBootstrapToken {
            awaiting_configuration: m.awaiting_configuration,
        },
        CheckinMessage::GetToken(m) => DeviceInput::GetToken {
            token_service_type: m.token_service_type,
        },
        CheckinMessage::DeclarativeManagement(m) => DeviceInput::DeclarativeManagement { endpoint: m.endpoint },
    };
    let raw = if carries_secrets {
        key.seal_raw(raw).map_err(|e| DeviceError::Internal(e.to_string()))?
    } else {
        raw.to_vec()
    };
    Ok(Request {
        enrollment_key,
        actor: identity.certificate.fingerprint_sha256.clone(),
        input: Input::Device {
            input: Box::new(input),
            device,
            identity,
            raw,
            parent: None,
        },
    })
}

pub fn report(raw: &[u8], identity: Identity, key: &DataKey) -> Result<Request, DeviceError> {
    let (report, response) = parse_report_with_response(raw)?;
    let enrollment_key = report.ids.enrollment_key()?;
    let status = match report.status {
        Status::Idle => ReportStatus::Idle,
        Status::Acknowledged => ReportStatus::Acknowledged,
        Status::Error => ReportStatus::Error,
        Status::CommandFormatError => ReportStatus::CommandFormatError,
        Status::NotNow => ReportStatus::NotNow,
    };
    let secret = SECRET_RESPONSE_KEYS.iter().any(|k| response.contains_key(k));
    let raw = if secret {
        key.seal_raw(raw).map_err(|e| DeviceError::Internal(e.to_string()))?
    } else {
        raw.to_vec()
    };
    let input = DeviceInput::Report {
        status,
        command_uuid: report.command_uuid,
        error_chain: report.error_chain,
    };
    Ok(Request {
        enrollment_key,
        actor: identity.certificate.fingerprint_sha256.clone(),
        input: Input::Device {
            input: Box::new(input),
            device: report.ids.to_device_ref(),
            identity,
            raw,
            parent: None,
        },
    })
}

//! From a parsed protocol message to the domain's input: identifiers resolved to the
//! enrollment key, secrets sealed, and the raw body kept (sealed when it carries secrets).

use annal_schemas::events::command::UnparseableReport;

use bytes::Bytes;

use super::DeviceFailure as DeviceError;
use crate::domain::enrollment::{
    CheckOut, DdmRequest, DeviceInput, Identity, Input, ReportStatus, SetBootstrapToken, TokenUpdate, UserAuthenticate,
};
use crate::mdm::declarations::{parse_endpoint, parse_status, Endpoint};
use crate::mdm::{parse_checkin, read_report, CheckinMessage, ParseError, ReadReport, Status};
use crate::secrets::DataKey;
use crate::stream::redact::SECRET_KEYS;

/// Response keys whose values are secrets: a result carrying one is stored sealed.
const SECRET_RESPONSE_KEYS: &[&str] = &[
    "ActivationLockBypassCode",
    "BootstrapToken",
    "RecoveryLockPassword",
    "RotateResult",
    "UnlockToken",
];

pub struct Translated {
    pub enrollment_key: String,
    /// The actor recorded on the events: the identity's fingerprint.
    pub actor: String,
    pub input: Input,
}

/// A request whose Content-Type does not say what it is: a command report if it has `Status`,
/// a check-in if it has `MessageType`. Reports are tried first: they are most of the traffic,
/// so an unlabelled report is parsed once, and only an unlabelled check-in twice.
pub fn by_body(raw: &Bytes, identity: Identity, key: &DataKey) -> Result<Translated, DeviceError> {
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

pub fn checkin(raw: &Bytes, identity: Identity, key: &DataKey) -> Result<Translated, DeviceError> {
    let message = parse_checkin(raw)?;
    let ids = message.ids();
    let enrollment_key = ids.enrollment_key()?;
    let device = ids.to_device_ref();
    let seal = |bytes: &[u8]| key.seal(bytes).map_err(|e| DeviceError::Internal(e.to_string()));
    let carries_secrets = matches!(
        message,
        CheckinMessage::TokenUpdate(_)
            | CheckinMessage::SetBootstrapToken(_)
            | CheckinMessage::UserAuthenticate(_)
            | CheckinMessage::GetToken(_)
    );
    let input = match message {
        CheckinMessage::Authenticate(m) => DeviceInput::Authenticate(m),
        CheckinMessage::TokenUpdate(m) => DeviceInput::TokenUpdate(TokenUpdate {
            topic: m.topic,
            token_hex: hex::encode(&m.token),
            push_magic: seal(m.push_magic.expose().as_bytes())?,
            unlock_token: m.unlock_token.as_ref().map(|t| seal(t.expose())).transpose()?,
            awaiting_configuration: m.awaiting_configuration,
            user_short_name: m.ids.user_short_name.clone(),
            user_long_name: m.ids.user_long_name.clone(),
        }),
        CheckinMessage::CheckOut(m) => DeviceInput::CheckOut(CheckOut { topic: m.topic }),
        CheckinMessage::UserAuthenticate(m) => DeviceInput::UserAuthenticate(UserAuthenticate {
            user_short_name: m.ids.user_short_name.clone(),
            user_long_name: m.ids.user_long_name.clone(),
            digest_response_present: m.digest_response.is_some(),
        }),
        CheckinMessage::SetBootstrapToken(m) => DeviceInput::SetBootstrapToken(SetBootstrapToken {
            bootstrap_token: m.bootstrap_token.as_ref().map(|t| seal(t.expose())).transpose()?,
            awaiting_configuration: m.awaiting_configuration,
        }),
        CheckinMessage::GetBootstrapToken(m) => DeviceInput::GetBootstrapToken {
            awaiting_configuration: m.awaiting_configuration,
        },
        CheckinMessage::GetToken(m) => DeviceInput::GetToken {
            token_service_type: m.token_service_type,
        },
        CheckinMessage::DeclarativeManagement(m) => DeviceInput::DeclarativeManagement {
            request: ddm_request(&m.endpoint, m.data.as_deref())?,
            endpoint: m.endpoint,
            set: None,
        },
    };
    // The body is shared with the request, not copied; only a sealed one is new bytes.
    let raw = if carries_secrets {
        Bytes::from(key.seal_raw(raw).map_err(|e| DeviceError::Internal(e.to_string()))?)
    } else {
        raw.clone()
    };
    Ok(Translated {
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

/// What a DDM request asks for; a status report that is not a JSON object is refused here, so
/// nothing is appended for it.
fn ddm_request(endpoint: &str, data: Option<&[u8]>) -> Result<DdmRequest, DeviceError> {
    Ok(match parse_endpoint(endpoint) {
        Endpoint::Tokens => DdmRequest::Tokens,
        Endpoint::DeclarationItems => DdmRequest::DeclarationItems,
        Endpoint::Declaration { category, identifier } => DdmRequest::Declaration { category, identifier },
        Endpoint::Status => {
            let (full_report, report) = parse_status(data)?;
            DdmRequest::Status { full_report, report }
        }
        Endpoint::Unknown => DdmRequest::Unknown,
    })
}

/// Longest part of an unreadable report kept as its raw: enough to see what went wrong,
/// bounded because nothing guarantees the body is a device's answer and not a megabyte of junk.
pub const UNREADABLE_RAW_KEPT: usize = 64 * 1024;

pub fn report(raw: &Bytes, identity: Identity, key: &DataKey) -> Result<Translated, DeviceError> {
    let seal_raw = |bytes: &[u8]| {
        key.seal_raw(bytes)
            .map(Bytes::from)
            .map_err(|e| DeviceError::Internal(e.to_string()))
    };
    let (ids, status, command_uuid, error_chain, raw, unparseable) = match read_report(raw)? {
        ReadReport::Whole(report, response) => {
            let secret = SECRET_RESPONSE_KEYS.iter().any(|k| response.contains_key(k));
            let raw = if secret { seal_raw(raw)? } else { raw.clone() };
            (
                report.ids,
                report.status,
                report.command_uuid,
                report.error_chain,
                raw,
                None,
            )
        }
        ReadReport::Unreadable(unreadable) => {
            let kept = raw.slice(..raw.len().min(UNREADABLE_RAW_KEPT));
            let details = UnparseableReport {
                status: unreadable.status.as_str().to_owned(),
                detail: unreadable.error.to_string(),
                raw_length: raw.len() as u64,
                raw_truncated: kept.len() < raw.len(),
            };
            // Which keys the body holds is unknown, so any trace of a secret key seals it.
            let stored = if may_hold_secret(raw) { seal_raw(&kept)? } else { kept };
            let uuid = Some(unreadable.command_uuid);
            (
                unreadable.ids,
                unreadable.status,
                uuid,
                Vec::new(),
                stored,
                Some(details),
            )
        }
    };
    let enrollment_key = ids.enrollment_key()?;
    let status = match status {
        Status::Idle => ReportStatus::Idle,
        Status::Acknowledged => ReportStatus::Acknowledged,
        Status::Error => ReportStatus::Error,
        Status::CommandFormatError => ReportStatus::CommandFormatError,
        Status::NotNow => ReportStatus::NotNow,
    };
    let input = DeviceInput::Report {
        status,
        command_uuid,
        error_chain,
        unparseable,
    };
    Ok(Translated {
        enrollment_key,
        actor: identity.certificate.fingerprint_sha256.clone(),
        input: Input::Device {
            input: Box::new(input),
            device: ids.to_device_ref(),
            identity,
            raw,
            parent: None,
        },
    })
}

/// Whether a body that could not be parsed may carry a secret: the name of a secret key
/// anywhere in it, as ASCII (XML, binary plist) or UTF-16BE (a binary plist may store any key
/// so), or a character reference, which can spell a key name in XML without its letters.
fn may_hold_secret(raw: &[u8]) -> bool {
    if memchr::memmem::find(raw, b"&#").is_some() {
        return true;
    }
    SECRET_RESPONSE_KEYS.iter().chain(SECRET_KEYS).any(|name| {
        let utf16: Vec<u8> = name.bytes().flat_map(|b| [0, b]).collect();
        memchr::memmem::find(raw, name.as_bytes()).is_some() || memchr::memmem::find(raw, &utf16).is_some()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use annal_schemas::events::identity::CertificateInfo;

    fn identity() -> Identity {
        Identity {
            certificate: CertificateInfo {
                fingerprint_sha256: "ab".repeat(32),
                serial_hex: "01".into(),
                subject: "CN=dev".into(),
                issuer: "CN=ca".into(),
                not_before: chrono::DateTime::UNIX_EPOCH,
                not_after: chrono::DateTime::UNIX_EPOCH,
            },
            proof: "mdm-signature",
            issued_by_annal: true,
            vouched: Default::default(),
            url_params: Default::default(),
        }
    }

    /// An answer with a broken value after `padding` bytes of text, and `secret` as a key.
    fn unreadable(padding: usize, secret: &str) -> Vec<u8> {
        format!(
            "<plist><dict><key>CommandUUID</key><string>c1</string><key>Pad</key><string>{}</string>\
             <key>{secret}</key><integer>x</integer><key>Status</key><string>Acknowledged</string>\
             <key>UDID</key><string>U1</string></dict></plist>",
            "p".repeat(padding)
        )
        .into_bytes()
    }

    fn translated(body: &[u8], key: &DataKey) -> (Bytes, UnparseableReport) {
        let request =
            report(&Bytes::copy_from_slice(body), identity(), key).expect("an unreadable answer is translated");
        assert_eq!(request.enrollment_key, "U1");
        match request.input {
            Input::Device { input, raw, .. } => match *input {
                DeviceInput::Report {
                    status: ReportStatus::Acknowledged,
                    command_uuid: Some(uuid),
                    unparseable: Some(details),
                    ..
                } if uuid == "c1" => (raw, details),
                other => panic!("unexpected input {other:?}"),
            },
            other => panic!("unexpected input {other:?}"),
        }
    }

    #[test]
    fn an_unreadable_answer_keeps_a_bounded_raw_sealed_when_it_may_hold_a_secret() {
        let key = DataKey::from_hex(&"42".repeat(32)).expect("key");
        let small = unreadable(10, "QueryResponses");
        let (raw, details) = translated(&small, &key);
        assert_eq!(raw, small, "kept whole and in clear");
        assert_eq!((details.raw_length, details.raw_truncated), (small.len() as u64, false));
        assert_eq!(details.status, "Acknowledged");
        assert!(
            details.detail.contains("QueryResponses: not an integer"),
            "{}",
            details.detail
        );

        let big = unreadable(100_000, "QueryResponses");
        let (raw, details) = translated(&big, &key);
        assert_eq!(raw, &big[..UNREADABLE_RAW_KEPT]);
        assert_eq!((details.raw_length, details.raw_truncated), (big.len() as u64, true));

        let secret = unreadable(100_000, "UnlockToken");
        let (raw, details) = translated(&secret, &key);
        assert!(
            annal_schemas::is_sealed_raw(&raw),
            "a body naming UnlockToken is sealed"
        );
        assert_eq!(key.open_raw(&raw).expect("opens"), &secret[..UNREADABLE_RAW_KEPT]);
        assert!(details.raw_truncated);
    }

    #[test]
    fn secret_key_names_seal_an_unreadable_body() {
        assert!(may_hold_secret(b"<key>UnlockToken</key><data>***"));
        assert!(may_hold_secret(b"<key>PushMagic</key>"));
        assert!(may_hold_secret(b"<key>&#85;nlockToken</key>"));
        assert!(may_hold_secret(
            b"bplist00\x5b\0R\0e\0c\0o\0v\0e\0r\0y\0L\0o\0c\0k\0P\0a\0s\0s\0w\0o\0r\0d"
        ));
        assert!(!may_hold_secret(
            b"<key>QueryResponses</key><dict><key>ProductName</key><integer>x"
        ));
    }
}

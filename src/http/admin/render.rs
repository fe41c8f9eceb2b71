//! One JSON shape for a recorded event, used by history, the NDJSON bulk read and the SSE
//! stream. Secrets inside `data` are `Sealed` values (ciphertext); a raw body stored sealed is
//! never shown, only flagged. An unsealed raw may still hold a secret the device answered with
//! (a PersonalRecoveryKey, an ActivationLockBypassCode): only the admin role sees those; every
//! other role sees the raw with the webhook redactor's keys masked.

use annal_schemas::events::apikey::Role;
use annal_schemas::RecordedEvent;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::{json, Value};

/// Whether, and how, an event's unsealed raw plist is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawView {
    Omit,
    /// With every value under a secret key replaced (`crate::stream::redact::SECRET_KEYS`).
    Masked,
    /// As the device sent it: the admin role only.
    Plain,
}

impl RawView {
    pub fn of(include_raw: bool, role: Role) -> RawView {
        match (include_raw, role) {
            (false, _) => RawView::Omit,
            (true, Role::Admin) => RawView::Plain,
            (true, _) => RawView::Masked,
        }
    }
}

pub fn event_json(e: &RecordedEvent, view: RawView) -> Value {
    let data: Value = serde_json::from_slice(&e.data).unwrap_or(Value::Null);
    let mut out = json!({
        "event_id": e.event_id,
        "stream": e.stream,
        "stream_version": e.stream_version,
        "global_position": e.global_position,
        "recorded_at": e.recorded_at,
        "event_type": e.event_type,
        "schema_version": e.schema_version,
        "actor": e.actor,
        "correlation_id": e.correlation_id,
        "causation_id": e.causation_id,
        "data": data,
        "hash": hex::encode(e.hash),
    });
    if let Some(raw) = &e.raw {
        let sealed = annal_schemas::is_sealed_raw(raw);
        out["raw_sealed"] = sealed.into();
        let shown = match view {
            _ if sealed => None,
            RawView::Omit => None,
            RawView::Plain => Some(raw.clone()),
            RawView::Masked => match crate::stream::redact::masked_raw(raw) {
                Ok(masked) => Some(masked),
                // Not a plist: nothing says where its secrets are, so it is not shown.
                Err(_) => {
                    out["raw_withheld"] = true.into();
                    None
                }
            },
        };
        if let Some(raw) = shown {
            out["raw"] = match String::from_utf8(raw) {
                Ok(text) => text.into(),
                Err(e) => json!({ "base64": B64.encode(e.as_bytes()) }),
            };
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use annal_schemas::events::checkin::Idle;
    use annal_schemas::events::{DeviceRef, IdentityRef};
    use annal_schemas::NewEvent;

    fn recorded(raw: &[u8]) -> RecordedEvent {
        let body = Idle {
            device: DeviceRef::default(),
            identity: IdentityRef {
                fingerprint_sha256: "ab".into(),
                proof: "mtls".into(),
                url_params: Default::default(),
            },
        };
        let new = NewEvent::new("device", &body).with_raw(raw.to_vec());
        RecordedEvent::place(
            new,
            "enrollment-U1",
            1,
            7,
            chrono::Utc::now(),
            &annal_schemas::GENESIS_HASH,
        )
    }

    #[test]
    fn sealed_raws_are_flagged_never_shown() {
        let sealed = event_json(
            &recorded(br#"{"key_id":"k","nonce":"n","ciphertext":"c"}"#),
            RawView::Plain,
        );
        assert_eq!(sealed["raw_sealed"], true);
        assert!(sealed.get("raw").is_none());
        let plain = event_json(&recorded(b"<?xml version=\"1.0\"?><plist/>"), RawView::Plain);
        assert_eq!(plain["raw_sealed"], false);
        assert_eq!(plain["raw"], "<?xml version=\"1.0\"?><plist/>");
        assert_eq!(plain["global_position"], 7);
        assert!(event_json(&recorded(b"<plist/>"), RawView::Omit).get("raw").is_none());
    }

    #[test]
    fn only_the_admin_sees_secrets_in_a_raw() {
        let answer =
            b"<plist version=\"1.0\"><dict><key>PersonalRecoveryKey</key><string>ABCD-1234</string></dict></plist>";
        for role in [Role::Auditor, Role::Operator] {
            let shown = event_json(&recorded(answer), RawView::of(true, role));
            let raw = shown["raw"].as_str().unwrap();
            assert!(
                !raw.contains("ABCD-1234") && raw.contains("PersonalRecoveryKey"),
                "{raw}"
            );
        }
        let admin = event_json(&recorded(answer), RawView::of(true, Role::Admin));
        assert!(admin["raw"].as_str().unwrap().contains("ABCD-1234"));
        let garbage = event_json(&recorded(b"\xff\xfe not a plist"), RawView::of(true, Role::Auditor));
        assert!(garbage.get("raw").is_none());
        assert_eq!(garbage["raw_withheld"], true);
    }
}

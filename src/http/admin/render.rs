//! One JSON shape for a recorded event, used by history, the NDJSON bulk read and the SSE
//! stream. Secrets inside `data` are `Sealed` values (ciphertext); a raw body stored sealed is
//! never shown, only flagged.

use annal_schemas::RecordedEvent;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::{json, Value};

pub fn event_json(e: &RecordedEvent, include_raw: bool) -> Value {
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
        if include_raw && !sealed {
            out["raw"] = match std::str::from_utf8(raw) {
                Ok(text) => text.into(),
                Err(_) => json!({ "base64": B64.encode(raw) }),
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
        let sealed = event_json(&recorded(br#"{"key_id":"k","nonce":"n","ciphertext":"c"}"#), true);
        assert_eq!(sealed["raw_sealed"], true);
        assert!(sealed.get("raw").is_none());
        let plain = event_json(&recorded(b"<?xml version=\"1.0\"?><plist/>"), true);
        assert_eq!(plain["raw_sealed"], false);
        assert_eq!(plain["raw"], "<?xml version=\"1.0\"?><plist/>");
        assert_eq!(plain["global_position"], 7);
        assert!(event_json(&recorded(b"<plist/>"), false).get("raw").is_none());
    }
}

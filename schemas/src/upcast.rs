//! Upcasting: a body written at an older schema version is rewritten, one version at a time, to
//! the current one before it is deserialised. Readers (projections, exports) therefore only ever
//! see current types, and the log itself is never rewritten.

use serde_json::{json, Value};

use crate::catalog::{schema_value, DecodeError};
use crate::events::push::PushFailedV1;

/// Rewrites `value` from `from` up to `to`.
pub fn upcast(event_type: &str, from: u32, to: u32, mut value: Value) -> Result<Value, DecodeError> {
    for version in from..to {
        value = match (event_type, version) {
            ("PushFailed", 1) => push_failed_v1_to_v2(value),
            _ => {
                return Err(DecodeError::NoUpcaster {
                    event_type: event_type.to_string(),
                    version,
                })
            }
        };
    }
    Ok(value)
}

/// The schemas of versions that are no longer written but still read.
pub(crate) fn retired_schemas() -> Vec<(&'static str, u32, Value)> {
    vec![("PushFailed", 1, schema_value::<PushFailedV1>("PushFailed", 1))]
}

/// v1 kept APNs' answer as one string, `"<status> <reason>"`; v2 splits it and records whether
/// the token is dead, which for v1 events is derived from the reason as APNs defines it.
fn push_failed_v1_to_v2(v1: Value) -> Value {
    let error = v1.get("error").and_then(Value::as_str).unwrap_or_default();
    let (status, reason) = match error.split_once(' ') {
        Some((code, rest)) if code.parse::<u16>().is_ok() => (code.parse::<u16>().unwrap_or(0), rest),
        _ => (0, error),
    };
    let token_dead = matches!(reason, "Unregistered" | "BadDeviceToken");
    json!({
        "push_id": v1.get("push_id").cloned().unwrap_or(Value::Null),
        "status": status,
        "reason": reason,
        "token_dead": token_dead,
    })
}

#[cfg(test)]
mod tests {
    use crate::events::push::PushFailed;
    use crate::Event;
    use uuid::Uuid;

    #[test]
    fn push_failed_v1_reads_as_v2() {
        let id = Uuid::now_v7();
        let v1 = serde_json::json!({"push_id": id, "error": "410 Unregistered"});
        let event = Event::decode("PushFailed", 1, &serde_json::to_vec(&v1).unwrap()).unwrap();
        assert_eq!(
            event,
            Event::PushFailed(PushFailed {
                push_id: id,
                status: 410,
                reason: "Unregistered".into(),
                token_dead: true,
                retry_after_secs: None,
            })
        );
    }

    #[test]
    fn push_failed_v1_transport_error_has_status_zero() {
        let v1 = serde_json::json!({"push_id": Uuid::nil(), "error": "connection reset"});
        let Event::PushFailed(e) = Event::decode("PushFailed", 1, &serde_json::to_vec(&v1).unwrap()).unwrap() else {
            panic!("wrong type")
        };
        assert_eq!(
            (e.status, e.reason.as_str(), e.token_dead),
            (0, "connection reset", false)
        );
    }

    #[test]
    fn a_version_without_an_upcaster_is_an_error() {
        assert!(super::upcast("Idle", 0, 1, serde_json::json!({})).is_err());
    }
}

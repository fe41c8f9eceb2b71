//! From a recorded event to a NATS subject and a CloudEvents 1.0 JSON body (structured mode):
//!
//! ```json
//! {"specversion": "1.0", "id": "<event id>", "source": "annal://ANNAL",
//!  "type": "dev.annal.TokenUpdate.v1", "subject": "enrollment-<UDID>",
//!  "time": "<recorded_at, RFC 3339>", "datacontenttype": "application/json",
//!  "data": {…the event's data, secrets redacted…},
//!  "globalposition": "42", "streamversion": "2", "actor": "…", "hash": "<hex>",
//!  "correlationid": "…", "causationid": "…"}
//! ```
//!
//! Positions are strings: a CloudEvents Integer is 32-bit and a log outgrows that. The device's
//! raw plist is not sent (the typed data carries what Annal parsed; the raw stays in the log,
//! behind the audited admin API): a broker keeps what it is given, and a plist is the one place
//! a secret could hide under a key Annal does not know yet.

use annal_schemas::RecordedEvent;
use chrono::SecondsFormat;
use serde::Serialize;

use crate::stream::redact::redact_data;

pub const SPEC_VERSION: &str = "1.0";
/// The `Content-Type` of a structured-mode message.
pub const CONTENT_TYPE: &str = "application/cloudevents+json; charset=utf-8";

#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    /// The stored data is not JSON (a log written by something other than Annal): it cannot be
    /// checked for secrets, so it is not sent.
    #[error("the event's data is not JSON: {0}")]
    Data(#[from] serde_json::Error),
}

#[derive(Serialize)]
struct CloudEvent<'a> {
    specversion: &'static str,
    id: String,
    source: &'a str,
    #[serde(rename = "type")]
    event_type: String,
    subject: &'a str,
    time: String,
    datacontenttype: &'static str,
    data: serde_json::Value,
    globalposition: String,
    streamversion: String,
    actor: &'a str,
    hash: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    correlationid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    causationid: Option<String>,
}

/// The CloudEvents `type` of an event: reverse-DNS, the event type, its schema version.
pub fn cloud_event_type(event: &RecordedEvent) -> String {
    format!("dev.annal.{}.v{}", event.event_type, event.schema_version)
}

/// `<prefix>.<EventType>`. Event types are identifiers; anything a NATS subject token may not
/// hold (`.`, `*`, `>`, whitespace) would split or widen the subject, so it becomes `_`.
pub fn subject(prefix: &str, event_type: &str) -> String {
    let token: String = event_type
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let token = if token.is_empty() { "_" } else { token.as_str() };
    format!("{prefix}.{token}")
}

/// The structured-mode body of `event`, with every secret in its data redacted.
pub fn cloud_event(event: &RecordedEvent, source: &str) -> Result<Vec<u8>, EnvelopeError> {
    let mut data: serde_json::Value = serde_json::from_slice(&event.data)?;
    redact_data(&mut data);
    let body = CloudEvent {
        specversion: SPEC_VERSION,
        id: event.event_id.to_string(),
        source,
        event_type: cloud_event_type(event),
        subject: &event.stream,
        time: event.recorded_at.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        datacontenttype: "application/json",
        data,
        globalposition: event.global_position.to_string(),
        streamversion: event.stream_version.to_string(),
        actor: &event.actor,
        hash: hex::encode(event.hash),
        correlationid: event.correlation_id.map(|id| id.to_string()),
        causationid: event.causation_id.map(|id| id.to_string()),
    };
    Ok(serde_json::to_vec(&body)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use annal_schemas::events::checkin::TokenUpdate;
    use annal_schemas::events::{DeviceRef, IdentityRef};
    use annal_schemas::{NewEvent, GENESIS_HASH};
    use chrono::TimeZone;

    fn token_update() -> RecordedEvent {
        let key = crate::secrets::DataKey::from_hex(&"42".repeat(32)).unwrap();
        let body = TokenUpdate {
            device: DeviceRef {
                udid: Some("UDID-1".into()),
                ..DeviceRef::default()
            },
            identity: IdentityRef {
                fingerprint_sha256: "cd".repeat(32),
                proof: "mtls".into(),
                url_params: Default::default(),
            },
            topic: "com.apple.mgmt.External.test".into(),
            token_hex: "0a0b0c0d".into(),
            push_magic: key.seal(b"MAGIC-secret").unwrap(),
            unlock_token: None,
            awaiting_configuration: Some(false),
            user_short_name: None,
            user_long_name: None,
            token_update_tally: None,
        };
        let mut new = NewEvent::new("cd".repeat(32), &body);
        new.raw = Some(
            b"<plist><dict><key>PushMagic</key><string>MAGIC-secret</string></dict></plist>"
                .to_vec()
                .into(),
        );
        let at = chrono::Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0).unwrap();
        RecordedEvent::place(new, "enrollment-UDID-1", 2, 3_000_000_000, at, &GENESIS_HASH)
    }

    #[test]
    fn a_token_update_becomes_a_cloud_event_without_its_secrets() {
        let event = token_update();
        let body = cloud_event(&event, "annal://ANNAL").unwrap();
        let text = String::from_utf8(body.clone()).unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["specversion"], "1.0");
        assert_eq!(json["id"], event.event_id.to_string());
        assert_eq!(json["source"], "annal://ANNAL");
        assert_eq!(json["type"], "dev.annal.TokenUpdate.v1");
        assert_eq!(json["subject"], "enrollment-UDID-1");
        assert_eq!(json["time"], "2026-11-23T10:00:00Z");
        assert_eq!(json["datacontenttype"], "application/json");
        assert_eq!(json["globalposition"], "3000000000", "beyond a CloudEvents Integer");
        assert_eq!(json["streamversion"], "2");
        assert_eq!(json["hash"], hex::encode(event.hash));
        assert_eq!(json["data"]["token_hex"], "0a0b0c0d");
        assert_eq!(json["data"]["push_magic"], crate::stream::redact::REDACTED);
        assert!(json["data"]["unlock_token"].is_null());
        assert!(json.get("causationid").is_none());
        let sealed: serde_json::Value = serde_json::from_slice(&event.data).unwrap();
        let ciphertext = sealed["push_magic"]["ciphertext"].as_str().unwrap();
        assert!(!text.contains(ciphertext) && !text.contains("MAGIC-secret"), "{text}");
        for (name, _) in json.as_object().unwrap() {
            assert!(
                name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()),
                "{name}"
            );
        }
    }

    #[test]
    fn subjects_are_one_token_per_event_type() {
        assert_eq!(subject("annal.events", "TokenUpdate"), "annal.events.TokenUpdate");
        assert_eq!(subject("p", "a.b*c >d"), "p.a_b_c__d");
        assert_eq!(subject("p", ""), "p._");
    }

    #[test]
    fn data_that_is_not_json_is_refused() {
        let mut event = token_update();
        event.data = b"not json".to_vec();
        assert!(matches!(cloud_event(&event, "annal://x"), Err(EnvelopeError::Data(_))));
    }
}

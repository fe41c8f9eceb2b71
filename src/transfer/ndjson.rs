//! One exported event a line: the envelope as the log stores it, in a form that reads back to
//! the very same bytes (the hash covers every field, so anything lossy would break the chain).
//!
//! - `data` is the event's JSON body written as it is (not re-encoded: re-encoding could
//!   reorder keys or change number forms); a body that is not exactly one JSON value (only a
//!   damaged log has one) is written as `data_base64` instead.
//! - `raw` (the device's plist) is base64, `hash` hex, `recorded_at` RFC 3339 in microseconds.
//! - Sealed secrets stay sealed: they are in `data`/`raw` as the log holds them.

use annal_schemas::RecordedEvent;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use uuid::Uuid;

#[derive(Serialize, Deserialize)]
struct Line<'a> {
    event_id: Uuid,
    stream: String,
    stream_version: u64,
    global_position: u64,
    recorded_at: String,
    event_type: String,
    schema_version: u32,
    actor: String,
    correlation_id: Option<Uuid>,
    causation_id: Option<Uuid>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    data: Option<&'a RawValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    data_base64: Option<String>,
    raw: Option<String>,
    hash: String,
}

/// The event as one NDJSON line, without the newline.
pub fn encode(e: &RecordedEvent) -> Vec<u8> {
    let json_body = std::str::from_utf8(&e.data)
        .ok()
        .and_then(|text| serde_json::from_str::<&RawValue>(text).ok())
        // Whitespace around the value would be lost, and `null` reads back as "no data".
        .filter(|v| v.get().len() == e.data.len() && v.get() != "null");
    let line = Line {
        event_id: e.event_id,
        stream: e.stream.clone(),
        stream_version: e.stream_version,
        global_position: e.global_position,
        recorded_at: e.recorded_at.to_rfc3339_opts(SecondsFormat::Micros, true),
        event_type: e.event_type.clone(),
        schema_version: e.schema_version,
        actor: e.actor.clone(),
        correlation_id: e.correlation_id,
        causation_id: e.causation_id,
        data: json_body,
        data_base64: json_body.is_none().then(|| BASE64.encode(&e.data)),
        raw: e.raw.as_ref().map(|r| BASE64.encode(r)),
        hash: hex::encode(e.hash),
    };
    // A struct of strings, numbers and already-valid JSON cannot fail to serialize; a JSON
    // body never holds a raw newline (JSON escapes them in strings), so the line stays one line.
    serde_json::to_vec(&line).unwrap_or_default()
}

/// Reads a line written by [`encode`]; the error says which field is wrong.
pub fn decode(line: &[u8]) -> Result<RecordedEvent, String> {
    let l: Line<'_> = serde_json::from_slice(line).map_err(|e| e.to_string())?;
    let data = match (l.data, l.data_base64) {
        (Some(json), None) => json.get().as_bytes().to_vec(),
        (None, Some(b64)) => BASE64.decode(b64).map_err(|e| format!("data_base64: {e}"))?,
        _ => return Err("exactly one of data and data_base64 is required".into()),
    };
    let raw = l
        .raw
        .map(|r| BASE64.decode(r))
        .transpose()
        .map_err(|e| format!("raw: {e}"))?;
    let hash = hex::decode(&l.hash)
        .ok()
        .and_then(|h| h.try_into().ok())
        .ok_or("hash: not 64 hex digits")?;
    let recorded_at = DateTime::parse_from_rfc3339(&l.recorded_at)
        .map_err(|e| format!("recorded_at: {e}"))?
        .with_timezone(&Utc);
    Ok(RecordedEvent {
        event_id: l.event_id,
        stream: l.stream,
        stream_version: l.stream_version,
        global_position: l.global_position,
        recorded_at,
        event_type: l.event_type,
        schema_version: l.schema_version,
        actor: l.actor,
        correlation_id: l.correlation_id,
        causation_id: l.causation_id,
        data,
        raw,
        hash,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use annal_schemas::envelope::from_micros;
    use annal_schemas::{NewEvent, GENESIS_HASH};

    fn event(data: &[u8], raw: Option<Vec<u8>>) -> RecordedEvent {
        let new = NewEvent {
            event_id: Uuid::now_v7(),
            event_type: "TokenUpdate".into(),
            schema_version: 2,
            actor: "device-ab12".into(),
            correlation_id: Some(Uuid::now_v7()),
            causation_id: None,
            data: data.to_vec(),
            raw: raw.map(Into::into),
        };
        RecordedEvent::place(
            new,
            "enrollment-A",
            3,
            7,
            from_micros(1_700_000_000_123_456),
            &GENESIS_HASH,
        )
    }

    #[test]
    fn every_field_reads_back_byte_for_byte() {
        let bodies: [&[u8]; 5] = [
            br#"{"z":1,"a":[1.50,"x\ny"],"u":"\u00e9"}"#,
            b" {\"padded\": true} ",
            b"null",
            b"\xff not json",
            b"",
        ];
        for body in bodies {
            let e = event(body, Some(vec![0, 159, 146, 150, b'\n']));
            let line = encode(&e);
            assert!(!line.contains(&b'\n'), "{}", String::from_utf8_lossy(&line));
            assert_eq!(decode(&line).unwrap(), e);
        }
        let e = event(b"{}", None);
        assert_eq!(decode(&encode(&e)).unwrap(), e);
    }

    #[test]
    fn json_bodies_stay_readable_and_the_rest_is_base64() {
        let line = String::from_utf8(encode(&event(br#"{"Topic":"t"}"#, None))).unwrap();
        assert!(line.contains(r#""data":{"Topic":"t"}"#), "{line}");
        assert!(
            line.contains(r#""recorded_at":"2023-11-14T22:13:20.123456Z""#),
            "{line}"
        );
        let line = String::from_utf8(encode(&event(b"\xff", None))).unwrap();
        assert!(line.contains(r#""data_base64":"/w==""#), "{line}");
    }

    #[test]
    fn bad_lines_say_what_is_wrong() {
        let mut v: serde_json::Value = serde_json::from_slice(&encode(&event(b"{}", None))).unwrap();
        v["hash"] = "abc".into();
        assert!(decode(&serde_json::to_vec(&v).unwrap()).unwrap_err().contains("hash"));
        v.as_object_mut().unwrap().remove("data");
        assert!(decode(&serde_json::to_vec(&v).unwrap()).unwrap_err().contains("data"));
        assert!(decode(b"not json").is_err());
    }
}

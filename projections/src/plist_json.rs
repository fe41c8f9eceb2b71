//! The device's raw plist answers as JSON: dictionaries and arrays as they are, `<data>` as
//! base64, `<date>` as RFC 3339. Raw bodies stored sealed (they held a secret) are never opened.

use base64::Engine;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Number, Value};

/// How a raw body is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RawKind {
    Xml,
    Binary,
    /// JSON of a `Sealed`: encrypted with the server's data key.
    Sealed,
}

pub(crate) fn classify(raw: &[u8]) -> RawKind {
    if annal_schemas::is_sealed_raw(raw) {
        RawKind::Sealed
    } else if raw.starts_with(b"bplist") {
        RawKind::Binary
    } else {
        RawKind::Xml
    }
}

/// The dictionary under `key` in a device's answer, as JSON. `None` for sealed or unparsable
/// bodies and answers without that dictionary.
pub(crate) fn answer_dictionary(raw: &[u8], key: &str) -> Option<Map<String, Value>> {
    if classify(raw) == RawKind::Sealed {
        return None;
    }
    // As the HTTP edge read it: `<data>` that Apple's and Python's readers accept parses here too.
    let raw = annal_schemas::canonical_data(raw);
    let answer = plist::Value::from_reader(std::io::Cursor::new(&*raw)).ok()?;
    let dict = answer.as_dictionary()?.get(key)?.as_dictionary()?;
    Some(dict.iter().map(|(k, v)| (k.clone(), to_json(v))).collect())
}

pub(crate) fn to_json(value: &plist::Value) -> Value {
    match value {
        plist::Value::Dictionary(d) => Value::Object(d.iter().map(|(k, v)| (k.clone(), to_json(v))).collect()),
        plist::Value::Array(a) => Value::Array(a.iter().map(to_json).collect()),
        plist::Value::Boolean(b) => Value::Bool(*b),
        plist::Value::String(s) => Value::String(s.clone()),
        plist::Value::Integer(i) => match (i.as_signed(), i.as_unsigned()) {
            (Some(n), _) => Value::Number(n.into()),
            (None, Some(n)) => Value::Number(n.into()),
            (None, None) => Value::Null,
        },
        // JSON has no NaN or infinity.
        plist::Value::Real(r) => Number::from_f64(*r).map_or(Value::Null, Value::Number),
        plist::Value::Data(bytes) => Value::String(base64::engine::general_purpose::STANDARD.encode(bytes)),
        plist::Value::Date(date) => {
            let at: DateTime<Utc> = std::time::SystemTime::from(*date).into();
            Value::String(at.to_rfc3339_opts(SecondsFormat::AutoSi, true))
        }
        plist::Value::Uid(uid) => Value::Number(uid.get().into()),
        // `plist::Value` is non-exhaustive; a kind added later is kept visible rather than lost.
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_every_plist_kind() {
        let xml = br#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0"><dict>
<key>QueryResponses</key><dict>
  <key>DeviceName</key><string>Kiosk</string>
  <key>BatteryLevel</key><real>0.5</real>
  <key>IsSupervised</key><true/>
  <key>DeviceCapacity</key><integer>64</integer>
  <key>PushToken</key><data>AAEC</data>
  <key>LastBackup</key><date>2024-05-01T10:00:00Z</date>
  <key>Languages</key><array><string>en</string></array>
</dict></dict></plist>"#;
        let map = answer_dictionary(xml, "QueryResponses").unwrap();
        assert_eq!(
            Value::Object(map),
            serde_json::json!({
                "DeviceName": "Kiosk", "BatteryLevel": 0.5, "IsSupervised": true, "DeviceCapacity": 64,
                "PushToken": "AAEC", "LastBackup": "2024-05-01T10:00:00Z", "Languages": ["en"],
            })
        );
    }

    #[test]
    fn reads_binary_and_skips_sealed_and_garbage() {
        let mut inner = plist::Dictionary::new();
        inner.insert("PasscodePresent".into(), plist::Value::Boolean(true));
        let mut outer = plist::Dictionary::new();
        outer.insert("SecurityInfo".into(), plist::Value::Dictionary(inner));
        let mut binary = Vec::new();
        plist::Value::Dictionary(outer).to_writer_binary(&mut binary).unwrap();
        assert_eq!(classify(&binary), RawKind::Binary);
        let map = answer_dictionary(&binary, "SecurityInfo").unwrap();
        assert_eq!(map.get("PasscodePresent"), Some(&Value::Bool(true)));

        let sealed = br#"{"alg":"A256GCM","key_id":"k1","nonce":"AA==","ciphertext":"AA=="}"#;
        assert_eq!(classify(sealed), RawKind::Sealed);
        assert_eq!(answer_dictionary(sealed, "SecurityInfo"), None);
        assert_eq!(answer_dictionary(b"<plist><dict>", "SecurityInfo"), None);
    }
}

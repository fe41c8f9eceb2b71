//! Device-facing parsers must never panic: arbitrary bytes, and byte-level and structural
//! mutations of a valid TokenUpdate / Acknowledged report, either parse or return an error.

use plist::{Dictionary, Value};
use proptest::prelude::*;

use super::testutil::{body, s};
use super::{parse_checkin, parse_command, parse_report, read_report, ParseError, ReadReport};

fn token_update() -> Vec<(&'static str, Value)> {
    vec![
        ("MessageType", s("TokenUpdate")),
        ("Topic", s("com.apple.mgmt.External.5c8b0e2a")),
        ("UDID", s("00008020-000915083C80012E")),
        ("Token", Value::Data(vec![0xab; 32])),
        ("PushMagic", s("B5E5C5F5-0F1D-4C27-9C4B-6D1B2A3C4D5E")),
        ("UnlockToken", Value::Data(vec![1, 2, 3])),
        ("AwaitingConfiguration", Value::Boolean(false)),
    ]
}

fn acknowledged() -> Vec<(&'static str, Value)> {
    let error = [
        ("ErrorCode", Value::Integer(12021.into())),
        ("ErrorDomain", s("MCMDMErrorDomain")),
    ];
    vec![
        ("Status", s("Acknowledged")),
        ("UDID", s("00008020-000915083C80012E")),
        ("CommandUUID", s("0001_DeviceLock")),
        (
            "ErrorChain",
            Value::Array(vec![Value::Dictionary(
                error.iter().map(|(k, v)| (*k, v.clone())).collect(),
            )]),
        ),
        ("MessageResult", s("Success")),
    ]
}

fn binary(entries: &[(&str, Value)]) -> Vec<u8> {
    let dict: Dictionary = entries.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
    let mut out = Vec::new();
    if let Err(e) = Value::Dictionary(dict).to_writer_binary(&mut out) {
        panic!("test plist must encode: {e}");
    }
    out
}

/// Any plist value, a few levels deep, for type confusion at known keys.
fn any_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        any::<bool>().prop_map(Value::Boolean),
        any::<i64>().prop_map(|i| Value::Integer(i.into())),
        any::<u64>().prop_map(|i| Value::Integer(i.into())),
        (-1e9f64..1e9).prop_map(Value::Real),
        ".{0,12}".prop_map(Value::String),
        proptest::collection::vec(any::<u8>(), 0..16).prop_map(Value::Data),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::vec((".{0,8}", inner), 0..4)
                .prop_map(|kv| Value::Dictionary(kv.into_iter().collect())),
        ]
    })
}

/// Flip, overwrite, insert or delete bytes, then maybe truncate.
fn mutate(mut bytes: Vec<u8>, edits: &[(usize, u8, u8)], cut: Option<usize>) -> Vec<u8> {
    for &(at, byte, op) in edits {
        if bytes.is_empty() {
            bytes.push(byte);
            continue;
        }
        let at = at % bytes.len();
        match op % 4 {
            0 => bytes[at] ^= byte | 1,
            1 => bytes[at] = byte,
            2 => bytes.insert(at, byte),
            _ => {
                bytes.remove(at);
            }
        }
    }
    if let Some(cut) = cut {
        bytes.truncate(cut % (bytes.len() + 1));
    }
    bytes
}

/// Runs every parser; each returns, and an error's message stays short.
fn all_parsers_return(bytes: &[u8]) {
    let results: [Result<(), ParseError>; 4] = [
        parse_checkin(bytes).map(drop),
        parse_report(bytes).map(drop),
        parse_command(bytes).map(drop),
        read_report(bytes).map(|read| match read {
            // An unreadable report always answers a command and says why it is unreadable.
            ReadReport::Unreadable(r) => {
                assert!(r.status != super::Status::Idle && parse_report(bytes).is_err());
                assert!(r.error.to_string().len() < 300, "error message too long: {}", r.error);
            }
            ReadReport::Whole(report, _) => assert_eq!(parse_report(bytes).as_ref(), Ok(&report)),
        }),
    ];
    for err in results.into_iter().filter_map(Result::err) {
        assert!(err.to_string().len() < 300, "error message too long: {err}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        all_parsers_return(&bytes);
    }

    #[test]
    fn arbitrary_bytes_after_a_plist_header_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..256), bin in any::<bool>()) {
        let mut bytes = if bin { b"bplist00".to_vec() } else { b"<?xml version=\"1.0\"?><plist version=\"1.0\"><dict>".to_vec() };
        bytes.extend(tail);
        all_parsers_return(&bytes);
    }

    #[test]
    fn mutated_token_update_never_panics(
        edits in proptest::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 0..8),
        cut in proptest::option::of(any::<usize>()),
        bin in any::<bool>(),
    ) {
        let valid = if bin { binary(&token_update()) } else { body(&token_update()) };
        prop_assert!(parse_checkin(&valid).is_ok());
        all_parsers_return(&mutate(valid, &edits, cut));
    }

    #[test]
    fn mutated_acknowledged_never_panics(
        edits in proptest::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 0..8),
        cut in proptest::option::of(any::<usize>()),
        bin in any::<bool>(),
    ) {
        let valid = if bin { binary(&acknowledged()) } else { body(&acknowledged()) };
        prop_assert!(parse_report(&valid).is_ok());
        all_parsers_return(&mutate(valid, &edits, cut));
    }

    #[test]
    fn any_value_at_a_known_key_parses_or_errors(index in 0usize..7, value in any_value(), report in any::<bool>()) {
        let mut entries = if report { acknowledged() } else { token_update() };
        let index = index % entries.len();
        entries[index].1 = value;
        let bytes = body(&entries);
        all_parsers_return(&bytes);
        // Type confusion at a required key is reported precisely, not as some other error.
        if !report && entries[index].0 == "Token" && !matches!(entries[index].1, Value::Data(_)) {
            prop_assert!(
                matches!(parse_checkin(&bytes), Err(ParseError::WrongType { .. })),
                "a non-data Token must be a wrong type"
            );
        }
    }
}

/// A canonical base64 `<data>` text, possibly wrapped as Apple wraps it.
fn data_xml(bytes: &[u8], wrap: Option<usize>) -> Vec<u8> {
    use base64::Engine;
    let text = base64::engine::general_purpose::STANDARD.encode(bytes);
    let text = match wrap {
        Some(width) => text
            .as_bytes()
            .chunks(width.max(1))
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join("\n\t"),
        None => text,
    };
    format!(
        "<?xml version=\"1.0\"?><plist version=\"1.0\"><dict><key>Status</key><string>Acknowledged</string>\
         <key>UDID</key><string>U1</string><key>CommandUUID</key><string>c</string>\
         <key>Blob</key><data>{text}</data></dict></plist>"
    )
    .into_bytes()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Issue 14: canonical base64 reads exactly as the plist crate alone reads it, and the
    /// body is not copied on the way.
    #[test]
    fn canonical_data_parses_as_before(bytes in proptest::collection::vec(any::<u8>(), 0..200), wrap in proptest::option::of(1usize..80)) {
        let body = data_xml(&bytes, wrap);
        prop_assert!(matches!(annal_schemas::canonical_data(&body), std::borrow::Cow::Borrowed(_)));
        let theirs = Value::from_reader(std::io::Cursor::new(&body)).expect("the crate reads canonical data");
        prop_assert_eq!(super::parse_plist(&body), Ok(theirs));
    }

    /// Without padding and with stray characters, the same bytes come out.
    #[test]
    fn lenient_data_decodes_the_same_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..200), stray in 0usize..200) {
        let body = String::from_utf8(data_xml(&bytes, None)).expect("utf-8");
        let start = body.find("<data>").expect("data") + 6;
        let end = body.find("</data>").expect("end");
        let mut text = body[start..end].trim_end_matches('=').to_owned();
        text.insert(stray.min(text.len()), '.');
        let lenient = format!("{}{text}{}", &body[..start], &body[end..]);
        let (_, response) = super::parse_report_with_response(lenient.as_bytes()).expect("lenient data parses");
        prop_assert_eq!(response.get("Blob"), Some(&Value::Data(bytes)));
    }
}

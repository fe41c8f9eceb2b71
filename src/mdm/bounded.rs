//! Reading a request body into a `plist::Value`: bounded nesting, lenient `<data>`, and errors
//! that name the key path.
//!
//! `plist::Value::from_reader` builds iteratively, but a `Value` is dropped recursively: a
//! 1.5 MB body of 100 000 nested `<array>`s followed by one stray value aborts the process with a
//! stack overflow inside `from_reader` (measured with plist 1.10.3 on a 2 MiB thread stack,
//! the size of a tokio worker's). So the value is built here from the plist crate's event
//! reader (the one `from_reader` uses: XML, binary, ASCII) with an explicit stack that refuses
//! to go deeper than [`MAX_DEPTH`] before anything deep exists. The stack also knows where in
//! the document an error happened, so a refusal names the key (`QueryResponses.ProductName`)
//! instead of a byte offset and the crate's enum name.
//!
//! XML bodies first go through [`annal_schemas::canonical_data`]: `<data>` that Apple's and
//! Python's readers accept (missing padding, stray characters) is rewritten as canonical base64
//! for the crate's strict decoder. Canonical bodies are not copied.

use std::borrow::Cow;
use std::io::Cursor;

use plist::stream::{Event, Reader};
use plist::{Dictionary, Value};

use super::error::{a, cut, offset_of, type_name, ParseError};

/// Deepest container nesting accepted. Apple's examples nest at most 7 levels (the SCEP
/// subject inside an enrollment profile); 64 leaves room without risking the stack.
pub const MAX_DEPTH: usize = 64;

/// Longest key kept in a path segment, and longest path shown, in escaped characters: a
/// client-chosen key may be megabytes long and the path must fit a short 400 body.
const SEGMENT_CHARS: usize = 40;
const PATH_CHARS: usize = 120;

/// Parses plist bytes (XML, binary or ASCII) into a value, refusing nesting beyond [`MAX_DEPTH`].
pub fn parse_plist(body: &[u8]) -> Result<Value, ParseError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(malformed(String::new(), "the body is empty", None));
    }
    let text = annal_schemas::canonical_data(body);
    let rewritten = matches!(text, Cow::Owned(_));
    build(&text).map_err(|mut err| {
        // Offsets in a rewritten copy are not offsets in the body the client sent.
        if let ParseError::MalformedPlist { offset, .. } = &mut err {
            if rewritten {
                *offset = None;
            }
        }
        err
    })
}

/// Parses plist bytes whose top level must be a dictionary, as every MDM message's is.
pub fn parse_dict(body: &[u8]) -> Result<Dictionary, ParseError> {
    match parse_plist(body)? {
        Value::Dictionary(dict) => Ok(dict),
        other => Err(ParseError::NotADictionary {
            found: type_name(&other),
        }),
    }
}

/// An open container: its elements so far and, in a dictionary, the key whose value comes next.
enum Frame {
    Array(Vec<Value>),
    Dict(Dictionary, Option<String>),
}

fn build(bytes: &[u8]) -> Result<Value, ParseError> {
    let mut reader = Reader::new(Cursor::new(bytes));
    let mut stack: Vec<Frame> = Vec::new();
    let root = loop {
        let event = match reader.next() {
            None => return Err(ends_early(&stack)),
            Some(Err(err)) => return Err(from_crate(&stack, &err)),
            Some(Ok(event)) => event,
        };
        let value = match event {
            Event::StartArray(_) | Event::StartDictionary(_) => {
                let opened = if matches!(event, Event::StartArray(_)) {
                    "array"
                } else {
                    "dictionary"
                };
                if let Some(Frame::Dict(_, None)) = stack.last() {
                    return Err(key_not_string(&stack, opened));
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(ParseError::TooDeep { max: MAX_DEPTH });
                }
                // No capacity from the event's length: a binary plist's claimed length is not
                // trusted.
                stack.push(match event {
                    Event::StartArray(_) => Frame::Array(Vec::new()),
                    _ => Frame::Dict(Dictionary::new(), None),
                });
                continue;
            }
            Event::EndCollection => match stack.pop() {
                Some(Frame::Array(items)) => Value::Array(items),
                Some(Frame::Dict(dict, None)) => Value::Dictionary(dict),
                Some(Frame::Dict(dict, Some(key))) => {
                    stack.push(Frame::Dict(dict, Some(key)));
                    return Err(malformed(path(&stack), "the key has no value", None));
                }
                None => {
                    return Err(malformed(
                        String::new(),
                        "a container closes that was never opened",
                        None,
                    ))
                }
            },
            Event::Boolean(b) => Value::Boolean(b),
            Event::Data(d) => Value::Data(d.into_owned()),
            Event::Date(d) => Value::Date(d),
            Event::Integer(i) => Value::Integer(i),
            Event::Real(r) => Value::Real(r),
            Event::String(s) => Value::String(s.into_owned()),
            Event::Uid(u) => Value::Uid(u),
            // `Event` is non-exhaustive: a kind a later plist release adds is refused, not lost.
            _ => return Err(malformed(path(&stack), "a value of an unsupported type", None)),
        };
        match stack.last_mut() {
            None => break value,
            Some(Frame::Array(items)) => items.push(value),
            Some(Frame::Dict(dict, key)) => match (key.take(), value) {
                (Some(k), value) => {
                    dict.insert(k, value);
                }
                (None, Value::String(k)) => *key = Some(k),
                (None, other) => return Err(key_not_string(&stack, type_name(&other))),
            },
        }
    };
    match reader.next() {
        None => Ok(root),
        Some(Err(err)) => Err(from_crate(&[], &err)),
        Some(Ok(_)) => Err(malformed(String::new(), "more than one value at the top level", None)),
    }
}

fn malformed(at: String, reason: impl Into<String>, offset: Option<u64>) -> ParseError {
    ParseError::MalformedPlist {
        at,
        reason: reason.into(),
        offset,
    }
}

fn key_not_string(stack: &[Frame], found: &str) -> ParseError {
    malformed(
        path(stack),
        format!("a dictionary key is {}, not a string", a(found)),
        None,
    )
}

/// The document stopped before every container was closed.
fn ends_early(stack: &[Frame]) -> ParseError {
    let reason = match stack.last() {
        None => "the document holds no value",
        Some(Frame::Array(_)) => "the document ends inside <array>",
        Some(Frame::Dict(..)) => "the document ends inside <dict>",
    };
    // Named by the unfinished container itself, not by the slot of its next element.
    let at = match stack.last() {
        Some(Frame::Array(_)) => path(&stack[..stack.len() - 1]),
        _ => path(stack),
    };
    malformed(at, reason, None)
}

/// A plist crate error in words. The crate exposes its error kinds only through `Display`
/// (`InvalidDataString (offset 467)`), so the kind is read from the text; a kind this table
/// does not know reads as "not a valid plist", and a test pins the names it relies on.
fn from_crate(stack: &[Frame], err: &plist::Error) -> ParseError {
    let text = err.to_string();
    let kind = text
        .split(|c: char| !c.is_ascii_alphanumeric())
        .next()
        .unwrap_or_default();
    let reason = match kind {
        "UnexpectedEof" | "UnexpectedEndOfEventStream" => return ends_early(stack),
        "InvalidDataString" => "not base64",
        "InvalidDateString" => "not a date (expected YYYY-MM-DDThh:mm:ssZ)",
        "InvalidIntegerString" => "not an integer",
        "InvalidRealString" => "not a real number",
        "UnclosedXmlElement" => "an element is not closed",
        "UnexpectedXmlCharactersExpectedElement" => "text where an element was expected",
        "UnexpectedXmlOpeningTag" => "an element inside a value's text",
        "UnknownXmlElement" => "an element that is not a plist type",
        "InvalidXmlSyntax" => "not well-formed XML",
        "InvalidXmlUtf8" => "not valid UTF-8, or an invalid XML reference",
        "InvalidUtf8String" | "InvalidUtf16String" => "a string that is not valid Unicode",
        "RecursiveObject" => "a binary plist object that contains itself",
        "InvalidMagic" => "not a binary plist",
        "ObjectTooLarge"
        | "InvalidTrailerObjectOffsetSize"
        | "InvalidTrailerObjectReferenceSize"
        | "InvalidObjectLength"
        | "ObjectReferenceTooLarge"
        | "ObjectOffsetTooLarge"
        | "NullObjectUnimplemented"
        | "FillObjectUnimplemented"
        | "IntegerOutOfRange"
        | "OverflowOrNanDate"
        | "UnknownObjectType" => "a corrupt binary plist",
        "UnclosedString" | "IncompleteComment" | "InvalidUtf8AsciiStream" | "InvalidOctalString" => {
            "not a property list (neither XML nor binary)"
        }
        _ => "not a valid plist",
    };
    malformed(path(stack), reason, offset_of(&text))
}

/// Where the reader is: `QueryResponses.ProductName`, `ErrorChain[0].ErrorCode`. Long keys are
/// cut and a long path keeps its end (the part nearest the error).
fn path(stack: &[Frame]) -> String {
    let mut segments: Vec<String> = Vec::with_capacity(stack.len());
    for frame in stack {
        match frame {
            Frame::Array(items) => segments.push(format!("[{}]", items.len())),
            Frame::Dict(_, Some(key)) => {
                let key = cut(key, SEGMENT_CHARS);
                segments.push(if segments.is_empty() { key } else { format!(".{key}") });
            }
            // Between keys: the error is in the dictionary itself.
            Frame::Dict(_, None) => {}
        }
    }
    let mut out = String::new();
    let mut shown = 0;
    for segment in segments.iter().rev() {
        let len: usize = segment.chars().map(|c| c.escape_debug().len()).sum();
        if shown + len > PATH_CHARS {
            out.insert(0, '…');
            break;
        }
        shown += len;
        out.insert_str(0, segment);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xml(body: &str) -> Vec<u8> {
        format!(r#"<?xml version="1.0" encoding="UTF-8"?><plist version="1.0">{body}</plist>"#).into_bytes()
    }

    fn nested_arrays(depth: usize, trailer: &str) -> Vec<u8> {
        xml(&format!(
            "{}{}{trailer}",
            "<array>".repeat(depth),
            "</array>".repeat(depth)
        ))
    }

    #[test]
    fn same_value_as_the_plist_crate_for_every_type() {
        let body = xml("<dict><key>s</key><string>x</string><key>i</key><integer>-3</integer>\
             <key>u</key><integer>18446744073709551615</integer><key>r</key><real>1.5</real>\
             <key>b</key><true/><key>d</key><data>AAEC</data>\
             <key>t</key><date>2024-10-21T12:00:00Z</date><key>a</key><array><dict/></array></dict>");
        let ours = parse_plist(&body).expect("valid plist");
        let theirs = Value::from_reader(Cursor::new(&body)).expect("valid plist");
        assert_eq!(ours, theirs);
        let dict = ours.as_dictionary().expect("dictionary");
        assert!(matches!(dict.get("t"), Some(Value::Date(_))), "dates must stay dates");
    }

    #[test]
    fn binary_plists_parse_too() {
        let mut dict = Dictionary::new();
        dict.insert("Status".into(), Value::String("Idle".into()));
        dict.insert("When".into(), Value::Date(std::time::SystemTime::UNIX_EPOCH.into()));
        let mut bytes = Vec::new();
        Value::Dictionary(dict.clone())
            .to_writer_binary(&mut bytes)
            .expect("encode");
        assert_eq!(parse_dict(&bytes), Ok(dict));
    }

    #[test]
    fn depth_limit_is_inclusive() {
        assert!(parse_plist(&nested_arrays(MAX_DEPTH, "")).is_ok());
        assert_eq!(
            parse_plist(&nested_arrays(MAX_DEPTH + 1, "")),
            Err(ParseError::TooDeep { max: MAX_DEPTH })
        );
    }

    #[test]
    fn very_deep_nesting_with_a_trailer_is_refused_without_overflow() {
        let body = nested_arrays(100_000, "<string>x</string>");
        assert_eq!(parse_plist(&body), Err(ParseError::TooDeep { max: MAX_DEPTH }));
    }

    #[test]
    fn syntax_errors_carry_the_offset() {
        match parse_plist(&xml("<dict><key>a</key><stving>x</stving></dict>")) {
            Err(ParseError::MalformedPlist { offset: Some(_), .. }) => {}
            other => panic!("expected a malformed plist with an offset, got {other:?}"),
        }
        assert!(matches!(parse_plist(b""), Err(ParseError::MalformedPlist { .. })));
    }

    /// Regression (checkin fuzzer): a binary plist whose dictionary key is a real made the
    /// serde layer quote the number in full, a 300-digit subnormal: a 401-byte error message.
    #[test]
    fn a_long_plist_message_is_cut() {
        let mut body = b"bplist00".to_vec();
        body.extend([0xd1, 0x01, 0x02]); // object 0 at 8: {object 1: object 2}
        body.push(0x23); // object 1 at 11: a real, the smallest subnormal
        body.extend(f64::from_bits(1).to_be_bytes());
        body.extend([0x51, b'x']); // object 2 at 20: "x"
        body.extend([8, 11, 20]); // offset table at 22
        body.extend([0; 6]);
        body.extend([1, 1]); // offset and object reference sizes
        body.extend(3u64.to_be_bytes()); // objects
        body.extend(0u64.to_be_bytes()); // top object
        body.extend(22u64.to_be_bytes()); // offset table offset
        match parse_plist(&body) {
            Err(err @ ParseError::MalformedPlist { .. }) => {
                let message = err.to_string();
                assert!(message.len() < 250, "{} bytes: {message}", message.len());
                assert!(
                    message.contains("a dictionary key is a real, not a string"),
                    "{message}"
                );
            }
            other => panic!("expected a malformed plist, got {other:?}"),
        }
    }

    #[test]
    fn trailing_values_are_refused() {
        let body = xml("<dict/><string>x</string>");
        assert!(matches!(parse_plist(&body), Err(ParseError::MalformedPlist { .. })));
    }

    #[test]
    fn top_level_must_be_a_dictionary() {
        assert_eq!(
            parse_dict(&xml("<array/>")),
            Err(ParseError::NotADictionary { found: "array" })
        );
        assert_eq!(
            parse_dict(&xml("<string>x</string>")),
            Err(ParseError::NotADictionary { found: "string" })
        );
    }
}

/// The plist crate's error kinds are read from its messages; if a release renames one, the
/// words fall back to "not a valid plist" and these fail.
#[cfg(test)]
mod crate_kinds {
    use super::*;

    fn reason(body: &[u8]) -> (String, String) {
        match parse_plist(body) {
            Err(ParseError::MalformedPlist { at, reason, .. }) => (at, reason),
            other => panic!("expected a malformed plist, got {other:?}"),
        }
    }

    fn dict(entry: &str) -> Vec<u8> {
        format!("<?xml version=\"1.0\"?><plist version=\"1.0\"><dict><key>K</key>{entry}</dict></plist>").into_bytes()
    }

    #[test]
    fn every_kind_reads_in_words() {
        let k = || "K".to_owned();
        assert_eq!(reason(&dict("<data>QU&#33;</data>")), (k(), "not base64".into()));
        assert_eq!(reason(&dict("<integer>1.5</integer>")), (k(), "not an integer".into()));
        assert_eq!(reason(&dict("<real>x</real>")), (k(), "not a real number".into()));
        assert_eq!(
            reason(&dict("<date>yesterday</date>")),
            (k(), "not a date (expected YYYY-MM-DDThh:mm:ssZ)".into())
        );
        assert_eq!(
            reason(&dict("<blob>x</blob>")),
            (k(), "an element that is not a plist type".into())
        );
        assert_eq!(reason(&dict("<string>a</strong>")), (k(), "not well-formed XML".into()));
        assert_eq!(
            reason(b"<plist><dict><key>A</key><dict><key>B</key><array>"),
            ("A.B".into(), "the document ends inside <array>".into())
        );
        assert_eq!(reason(b"  "), (String::new(), "the body is empty".into()));
        assert_eq!(
            reason(b"<plist><dict><key>A</key></dict></plist>"),
            ("A".into(), "the key has no value".into())
        );
    }

    #[test]
    fn long_paths_keep_their_end() {
        let key = "k".repeat(500);
        let body = format!(
            "<plist><dict><key>{key}</key><dict><key>{key}</key><dict><key>{key}</key><dict><key>Last</key><integer>x</integer></dict></dict></dict></dict></plist>"
        );
        let (at, _) = reason(body.as_bytes());
        assert!(at.starts_with('…') && at.ends_with(".Last"), "{at}");
        assert!(at.chars().count() <= PATH_CHARS + 1, "{at}");
    }
}

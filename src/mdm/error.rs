//! Errors of the protocol layer. Every message is short and built only from key names, type
//! names and bounded excerpts of non-secret values, so the HTTP edge can quote it in a 400.

use plist::Value;

/// Why a device's request body (or a command plist) was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The bytes are not a plist (XML, binary or ASCII), or not one that can be read whole.
    /// `at` is the key path where reading stopped (`QueryResponses.ProductName`, `Token`;
    /// empty at the top level), `reason` says what was wrong in words, `offset` is the byte
    /// where the plist crate stopped (absent when not known, or when `<data>` text had to be
    /// rewritten first and offsets no longer match the body).
    #[error("malformed plist{}: {reason}{}", at_path(at), at_byte(*offset))]
    MalformedPlist {
        at: String,
        reason: String,
        offset: Option<u64>,
    },
    /// Containers nest deeper than [`crate::mdm::MAX_DEPTH`]: refused before they are built,
    /// because dropping a deeply nested value recurses and would overflow the stack.
    #[error("plist nests deeper than {max} levels")]
    TooDeep { max: usize },
    #[error("top level is not a dictionary (found {found})")]
    NotADictionary { found: &'static str },
    /// `key` is a path: `MessageType`, `Command.RequestType`, `ErrorChain[0].ErrorCode`.
    #[error("missing key {key}")]
    MissingKey { key: String },
    #[error("{key}: expected {}, found {}", a(expected), a(found))]
    WrongType {
        key: String,
        expected: &'static str,
        found: &'static str,
    },
    #[error("unknown MessageType {0:?}")]
    UnknownMessageType(String),
    #[error("unknown Status {0:?}")]
    UnknownStatus(String),
    #[error("no enrollment identifier (neither UDID nor EnrollmentID)")]
    NoEnrollmentId,
    /// An identifier that would make an ambiguous stream name (empty, too long, or containing
    /// `:`, `/`, whitespace or control characters). The value is not echoed.
    #[error("{key}: not a valid identifier")]
    InvalidIdentifier { key: &'static str },
    #[error("CommandUUID is required with Status {status}")]
    MissingCommandUuid { status: &'static str },
    /// `Command` holds another `{CommandUUID, Command}` envelope instead of `RequestType`
    /// (Apple's declarativemanagement example1.plist has this shape; a device rejects it).
    #[error("Command is itself an envelope (Command.Command); expected Command.RequestType")]
    NestedEnvelope,
    /// A `Data` value that is not what its message carries (a DDM status report that is not a
    /// JSON object).
    #[error("{key}: {reason}")]
    InvalidData { key: &'static str, reason: String },
}

/// Why a command could not be turned into the plist sent to a device.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("CommandUUID must not be empty")]
    EmptyCommandUuid,
    #[error("command has no RequestType string")]
    MissingRequestType,
    #[error("cannot write the command as an XML plist: {0}")]
    Plist(String),
}

/// Longest excerpt of a client-supplied value (an unknown MessageType, Status) put in an error.
const EXCERPT_CHARS: usize = 64;

impl ParseError {
    pub(crate) fn wrong_type(key: impl Into<String>, expected: &'static str, found: &Value) -> Self {
        ParseError::WrongType {
            key: key.into(),
            expected,
            found: type_name(found),
        }
    }

    pub(crate) fn missing(key: impl Into<String>) -> Self {
        ParseError::MissingKey { key: key.into() }
    }
}

fn at_path(at: &str) -> String {
    if at.is_empty() {
        String::new()
    } else {
        format!(" at {at}")
    }
}

fn at_byte(offset: Option<u64>) -> String {
    offset.map(|o| format!(" (byte {o})")).unwrap_or_default()
}

/// A type name as a message reads it: "a string", "an integer", "data".
pub(crate) fn a(type_name: &str) -> String {
    match type_name {
        "data" => "data".to_owned(),
        t if t.starts_with(['a', 'e', 'i', 'o', 'u']) => format!("an {t}"),
        t => format!("a {t}"),
    }
}

/// The plist type name as Apple's schema spells it (`<data>` → "data").
pub(crate) fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Array(_) => "array",
        Value::Dictionary(_) => "dictionary",
        Value::Boolean(_) => "boolean",
        Value::Data(_) => "data",
        Value::Date(_) => "date",
        Value::Real(_) => "real",
        Value::Integer(_) => "integer",
        Value::String(_) => "string",
        Value::Uid(_) => "uid",
        _ => "unknown",
    }
}

/// The start of `value` that takes at most [`EXCERPT_CHARS`] characters once quoted with `{:?}`
/// (as the messages show it), for values that are not secrets but are chosen by the client and
/// could be megabytes long.
pub(crate) fn excerpt(value: &str) -> String {
    cut(value, EXCERPT_CHARS)
}

/// The start of `value` that takes at most `max` characters once escaped, and `…` if cut.
/// Counted after escaping: a control character shows as up to ten (`\u{10ffff}`), and 64 DEL
/// characters made a 399-byte message (found by the checkin fuzzer).
pub(crate) fn cut(value: &str, max: usize) -> String {
    let mut shown = 0;
    for (at, c) in value.char_indices() {
        shown += c.escape_debug().len();
        if shown > max {
            return format!("{}…", &value[..at]);
        }
    }
    value.to_owned()
}

/// The plist crate puts the position at the end of its message: `InvalidXmlSyntax (offset 12)`.
pub(crate) fn offset_of(message: &str) -> Option<u64> {
    let (_, tail) = message.rsplit_once("(offset ")?;
    tail.strip_suffix(')')?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_short_and_name_the_key() {
        let err = ParseError::WrongType {
            key: "Token".into(),
            expected: "data",
            found: "string",
        };
        assert_eq!(err.to_string(), "Token: expected data, found a string");
        let err = ParseError::WrongType {
            key: "QueryResponses.ProductName".into(),
            expected: "string",
            found: "integer",
        };
        assert_eq!(
            err.to_string(),
            "QueryResponses.ProductName: expected a string, found an integer"
        );
        let err = ParseError::MalformedPlist {
            at: "Token".into(),
            reason: "not base64".into(),
            offset: Some(467),
        };
        assert_eq!(err.to_string(), "malformed plist at Token: not base64 (byte 467)");
        let err = ParseError::MalformedPlist {
            at: String::new(),
            reason: "the body is empty".into(),
            offset: None,
        };
        assert_eq!(err.to_string(), "malformed plist: the body is empty");
        assert_eq!(
            ParseError::missing("MessageType").to_string(),
            "missing key MessageType"
        );
        assert_eq!(
            ParseError::MissingCommandUuid { status: "Acknowledged" }.to_string(),
            "CommandUUID is required with Status Acknowledged"
        );
        assert_eq!(
            ParseError::UnknownStatus("Done".into()).to_string(),
            "unknown Status \"Done\""
        );
    }

    #[test]
    fn excerpt_bounds_client_values() {
        assert_eq!(excerpt("Idle"), "Idle");
        let long = "é".repeat(1000);
        let cut = excerpt(&long);
        assert_eq!(cut.chars().count(), EXCERPT_CHARS + 1);
        assert!(cut.ends_with('…'));
    }

    /// Regression (checkin fuzzer): a MessageType of DEL characters made a 399-byte message,
    /// each one quoted as `\u{7f}`.
    #[test]
    fn excerpt_is_bounded_as_quoted() {
        let err = ParseError::UnknownMessageType(excerpt(&format!("De{}", "\u{7f}".repeat(500))));
        let message = err.to_string();
        assert!(message.len() < 100, "{} bytes: {message}", message.len());
        assert!(message.starts_with("unknown MessageType \"De\\u{7f}"), "{message}");
        assert!(message.ends_with("…\""), "{message}");
        assert_eq!(excerpt("a\nb"), "a\nb", "short values are kept whole");
    }

    #[test]
    fn offset_is_read_from_the_plist_message() {
        assert_eq!(offset_of("InvalidXmlSyntax (offset 12)"), Some(12));
        assert_eq!(offset_of("UnexpectedEof"), None);
        assert_eq!(offset_of("Serde(\"(offset x)\")"), None);
    }

    #[test]
    fn type_names_follow_the_schema() {
        assert_eq!(type_name(&Value::Data(vec![1])), "data");
        assert_eq!(type_name(&Value::Boolean(true)), "boolean");
        assert_eq!(type_name(&Value::Dictionary(plist::Dictionary::new())), "dictionary");
        let err = ParseError::wrong_type("Topic", "string", &Value::Integer(3.into()));
        assert_eq!(
            err,
            ParseError::WrongType {
                key: "Topic".into(),
                expected: "string",
                found: "integer"
            }
        );
    }
}

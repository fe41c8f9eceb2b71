//! The one error this module returns: where in the command it went wrong and why.

/// A command that does not match Apple's schema. `path` is the key path inside the Command
/// dictionary (`PIN`, `ReturnToService.Enabled`, `Queries[2]`, `Settings[0].Item`); `reason` never
/// quotes a value except an enumerated one (so PINs, tokens and payloads stay out of messages).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{path}`: {reason}")]
pub struct CommandError {
    pub path: String,
    pub reason: String,
}

/// The path of the Command dictionary itself, for errors about its overall shape.
pub(crate) const ROOT: &str = "Command";

/// Longest quoted value in a message: enough to recognise a typo, short enough for a log line.
const QUOTE_MAX: usize = 64;

impl CommandError {
    pub(crate) fn new(path: impl Into<String>, reason: impl Into<String>) -> Self {
        CommandError {
            path: path.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn missing(path: impl Into<String>) -> Self {
        Self::new(path, "missing required key")
    }

    pub(crate) fn unknown_key(path: impl Into<String>) -> Self {
        Self::new(path, "unknown key")
    }

    pub(crate) fn wrong_type(path: impl Into<String>, expected: &str, got: &str) -> Self {
        Self::new(path, format!("wrong type: expected {expected} got {got}"))
    }

    pub(crate) fn unsupported(path: impl Into<String>, platform: super::Platform) -> Self {
        Self::new(path, format!("not supported on {platform}"))
    }

    /// `shown` is the offending value as it should appear (already quoted for strings).
    pub(crate) fn not_allowed(path: impl Into<String>, shown: &str, allowed: &[String]) -> Self {
        Self::new(
            path,
            format!("value not allowed: {shown} (allowed: {})", allowed.join(", ")),
        )
    }
}

/// `"value"` for a message, cut to [`QUOTE_MAX`] characters.
pub(crate) fn quote(value: &str) -> String {
    match value.char_indices().nth(QUOTE_MAX) {
        Some((cut, _)) => format!("{:?}…", &value[..cut]),
        None => format!("{value:?}"),
    }
}

/// `parent.key`, or `key` at the top level.
pub(crate) fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_path_then_reason() {
        let e = CommandError::wrong_type("Queries[2]", "<string>", "integer");
        assert_eq!(e.to_string(), "`Queries[2]`: wrong type: expected <string> got integer");
    }

    #[test]
    fn quotes_are_bounded() {
        assert_eq!(quote("Always"), "\"Always\"");
        let long = "x".repeat(200);
        assert_eq!(quote(&long), format!("\"{}\"…", "x".repeat(QUOTE_MAX)));
        assert_eq!(
            quote("é".repeat(QUOTE_MAX).as_str()),
            format!("\"{}\"", "é".repeat(QUOTE_MAX))
        );
    }

    #[test]
    fn paths_join_with_dots() {
        assert_eq!(join("", "PIN"), "PIN");
        assert_eq!(join("ReturnToService", "Enabled"), "ReturnToService.Enabled");
    }
}

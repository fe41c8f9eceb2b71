//! Building admin API paths and query strings, and the argument types several subcommands
//! share (RFC 3339 times, "as of" a position or time). Pure: no I/O.

use chrono::{DateTime, FixedOffset, SecondsFormat};

/// Percent-encodes everything but RFC 3986's unreserved characters, so a value is safe both as
/// a path segment and as a query value (a UDID never needs it; a free-text filter might).
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// `path?k=v&…` with the parameters that have a value, in the order given.
pub fn with_query(path: &str, params: &[(&str, Option<String>)]) -> String {
    let pairs: Vec<String> = params
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{}={}", encode(k), encode(v))))
        .collect();
    if pairs.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{}", pairs.join("&"))
    }
}

/// An RFC 3339 timestamp given on the command line, checked before any request is made.
pub type Time = DateTime<FixedOffset>;

/// clap value parser for [`Time`]: strict RFC 3339 (`2024-05-01T12:00:00Z`, `…+02:00`).
pub fn parse_time(s: &str) -> Result<Time, String> {
    DateTime::parse_from_rfc3339(s.trim()).map_err(|e| format!("not an RFC 3339 time ({e}); e.g. 2024-05-01T12:00:00Z"))
}

pub fn time_param(t: Option<&Time>) -> Option<String> {
    t.map(|t| t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
}

/// Reads the device or its history as the log knew it at a point in the past.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct AsOf {
    /// Show the state as of this global log position (events after it are left out).
    #[arg(long, conflicts_with = "as_of_time")]
    pub as_of_position: Option<u64>,
    /// Show the state as of this time (RFC 3339; events recorded after it are left out).
    #[arg(long, value_parser = parse_time)]
    pub as_of_time: Option<Time>,
}

impl AsOf {
    pub fn params(&self) -> [(&'static str, Option<String>); 2] {
        [
            ("as_of_position", self.as_of_position.map(|p| p.to_string())),
            ("as_of_time", time_param(self.as_of_time.as_ref())),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_reserved_characters_and_keeps_unreserved() {
        assert_eq!(encode("0000-AB.c_d~"), "0000-AB.c_d~");
        assert_eq!(encode("a b/c?d&e=f"), "a%20b%2Fc%3Fd%26e%3Df");
        assert_eq!(encode("2024-05-01T12:00:00+02:00"), "2024-05-01T12%3A00%3A00%2B02%3A00");
        assert_eq!(encode("é"), "%C3%A9");
    }

    #[test]
    fn query_keeps_only_given_parameters_in_order() {
        assert_eq!(with_query("/v1/x", &[("a", None), ("b", None)]), "/v1/x");
        assert_eq!(
            with_query(
                "/v1/x",
                &[("b", Some("2".into())), ("a", None), ("c", Some("x y".into()))]
            ),
            "/v1/x?b=2&c=x%20y"
        );
    }

    #[test]
    fn times_must_be_rfc3339_and_keep_their_instant() {
        assert!(parse_time("yesterday").is_err());
        assert!(parse_time("2024-05-01").is_err());
        let t = parse_time("2024-05-01T12:00:00+02:00").unwrap();
        assert_eq!(time_param(Some(&t)).unwrap(), "2024-05-01T12:00:00+02:00");
        let z = parse_time("2024-05-01T10:00:00.5Z").unwrap();
        assert_eq!(time_param(Some(&z)).unwrap(), "2024-05-01T10:00:00.500Z");
        assert_eq!(t.timestamp(), parse_time("2024-05-01T10:00:00Z").unwrap().timestamp());
    }

    #[test]
    fn as_of_maps_to_both_query_names() {
        let a = AsOf {
            as_of_position: Some(42),
            as_of_time: None,
        };
        assert_eq!(with_query("/d", &a.params()), "/d?as_of_position=42");
    }
}

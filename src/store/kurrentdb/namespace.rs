//! The `annal-namespace` URL parameter: which Annal log on a shared KurrentDB server a store
//! sees, and how its stream names map to KurrentDB's (see the module documentation).

use super::StoreError;

/// The query parameter that names the namespace; like KurrentDB's own options, matched without
/// regard to case.
const PARAMETER: &str = "annal-namespace";

/// An Annal log's share of a KurrentDB server. The empty namespace is the default: stream names
/// unchanged, metadata without a `namespace` field, exactly as before namespaces existed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Namespace(String);

impl Namespace {
    /// Takes the `annal-namespace` parameter out of a store URL, returning the namespace and the
    /// URL to give to KurrentDB's client. The URL is cut as text, not parsed: KurrentDB's
    /// cluster form (`esdb://host1:2113,host2:2113`) is no valid URL, and rebuilding a parsed
    /// one would re-encode the options that stay.
    pub(super) fn from_url(url: &str) -> Result<(Self, String), StoreError> {
        // Neither `?` nor `#` can appear unencoded before the query, in a password or elsewhere.
        let (body, fragment) = match url.split_once('#') {
            Some((body, fragment)) => (body, Some(fragment)),
            None => (url, None),
        };
        let Some((base, query)) = body.split_once('?') else {
            return Ok((Self::default(), url.to_string()));
        };
        let mut namespace = None;
        let mut kept = Vec::new();
        for pair in query.split('&') {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            if !key.eq_ignore_ascii_case(PARAMETER) {
                kept.push(pair);
                continue;
            }
            if namespace.is_some() {
                return Err(StoreError::Invalid(format!("KurrentDB URL: {PARAMETER} appears twice")));
            }
            namespace = Some(Self::new(value)?);
        }
        let mut stripped = base.to_string();
        if !kept.is_empty() {
            stripped.push('?');
            stripped.push_str(&kept.join("&"));
        }
        if let Some(fragment) = fragment {
            stripped.push('#');
            stripped.push_str(fragment);
        }
        Ok((namespace.unwrap_or_default(), stripped))
    }

    /// Letters, digits, `_` and `-` only: no `.`, so the first `.` of a KurrentDB stream name
    /// ends the namespace, and nothing a URL would have to encode.
    fn new(name: &str) -> Result<Self, StoreError> {
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            return Err(StoreError::Invalid(format!(
                "KurrentDB URL: {PARAMETER} {name:?}: use letters, digits, _ and -"
            )));
        }
        Ok(Self(name.to_string()))
    }

    pub(super) fn as_str(&self) -> &str {
        &self.0
    }

    /// The KurrentDB stream that holds Annal stream `stream`.
    pub(super) fn kurrent_stream(&self, stream: &str) -> String {
        if self.0.is_empty() {
            stream.to_string()
        } else {
            format!("{}.{stream}", self.0)
        }
    }

    /// The Annal stream KurrentDB stream `stream` holds; `None` when it lies outside the namespace.
    pub(super) fn annal_stream<'a>(&self, stream: &'a str) -> Option<&'a str> {
        if self.0.is_empty() {
            return Some(stream);
        }
        stream.strip_prefix(self.0.as_str())?.strip_prefix('.')
    }
}

#[cfg(test)]
mod tests {
    use ::kurrentdb::ClientSettings;

    use super::*;

    fn split(url: &str) -> (String, String) {
        let (namespace, stripped) = Namespace::from_url(url).unwrap();
        assert!(
            stripped.parse::<ClientSettings>().is_ok(),
            "{stripped} is a valid connection string"
        );
        (namespace.as_str().to_string(), stripped)
    }

    #[test]
    fn the_namespace_parameter_is_taken_out_of_the_url() {
        let plain = "kurrentdb://admin:changeit@localhost:2113?tls=false";
        assert_eq!(split(plain), (String::new(), plain.to_string()));
        assert_eq!(
            split("kurrentdb://admin:changeit@localhost:2113?tls=false&annal-namespace=run_1-A"),
            ("run_1-A".to_string(), plain.to_string())
        );
        assert_eq!(
            split("esdb://localhost?Annal-Namespace=t1&tls=false&tlsVerifyCert=false"),
            (
                "t1".to_string(),
                "esdb://localhost?tls=false&tlsVerifyCert=false".to_string()
            )
        );
        assert_eq!(
            split("esdb://host1:2113,host2:2113?annal-namespace=t2"),
            ("t2".to_string(), "esdb://host1:2113,host2:2113".to_string())
        );
        assert_eq!(
            split("esdb://localhost"),
            (String::new(), "esdb://localhost".to_string())
        );
    }

    #[test]
    fn a_namespace_outside_letters_digits_underscore_and_dash_is_refused() {
        for bad in ["", "a.b", "a b", "a%20b", "a/b", "é"] {
            let url = format!("esdb://localhost?tls=false&annal-namespace={bad}");
            assert!(
                matches!(Namespace::from_url(&url), Err(StoreError::Invalid(_))),
                "{bad:?} is refused"
            );
        }
        assert!(matches!(
            Namespace::from_url("esdb://localhost?annal-namespace=a&annal-namespace=b"),
            Err(StoreError::Invalid(_))
        ));
        assert!(matches!(
            Namespace::from_url("esdb://localhost?annal-namespace"),
            Err(StoreError::Invalid(_))
        ));
    }

    #[test]
    fn stream_names_map_both_ways() {
        let (namespace, _) = Namespace::from_url("esdb://localhost?annal-namespace=t1").unwrap();
        assert_eq!(namespace.kurrent_stream("device-1"), "t1.device-1");
        assert_eq!(namespace.annal_stream("t1.device-1"), Some("device-1"));
        assert_eq!(namespace.annal_stream("t10.device-1"), None);
        assert_eq!(namespace.annal_stream("device-1"), None);
        let empty = Namespace::default();
        assert_eq!(empty.kurrent_stream("t1.device-1"), "t1.device-1");
        assert_eq!(empty.annal_stream("t1.device-1"), Some("t1.device-1"));
    }
}

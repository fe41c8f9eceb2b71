//! The query parameters a device sends on its CheckInURL or ServerURL (`?profile=sales`), as
//! MicroMDM and NanoMDM hand them to webhook receivers (`url_params`): the first value of each
//! name. Devices repeat the profile's URL on every request, so they are recorded with each
//! message; bounded, because the URL is the client's to write.

use std::collections::BTreeMap;

/// The longest query string recorded (bytes, as sent, before percent-decoding).
pub const MAX_QUERY_BYTES: usize = 2048;
/// The most parameters recorded.
pub const MAX_PARAMS: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlParamsError {
    #[error("the URL's query string is {0} bytes; at most {MAX_QUERY_BYTES} are accepted")]
    TooLong(usize),
    #[error("the URL's query string has more than {MAX_PARAMS} parameters")]
    TooMany,
}

/// The parameters of `query` (the part after `?`), first value per name. Liberal in what it
/// reads: `+` and percent-escapes are decoded, an invalid escape is kept as written, bytes that
/// are not UTF-8 become U+FFFD, and a name without `=` has the empty value.
pub fn parse(query: Option<&str>) -> Result<BTreeMap<String, String>, UrlParamsError> {
    let Some(query) = query.filter(|q| !q.is_empty()) else {
        return Ok(BTreeMap::new());
    };
    if query.len() > MAX_QUERY_BYTES {
        return Err(UrlParamsError::TooLong(query.len()));
    }
    let mut params = BTreeMap::new();
    for (pairs, (name, value)) in form_urlencoded::parse(query.as_bytes()).enumerate() {
        if pairs >= MAX_PARAMS {
            return Err(UrlParamsError::TooMany);
        }
        if name.is_empty() {
            continue;
        }
        params.entry(name.into_owned()).or_insert_with(|| value.into_owned());
    }
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn no_query_is_no_params() {
        assert_eq!(parse(None), Ok(BTreeMap::new()));
        assert_eq!(parse(Some("")), Ok(BTreeMap::new()));
    }

    #[test]
    fn decodes_and_keeps_the_first_value_of_a_name() {
        let got = parse(Some("profile=sales+team&site=b%C3%A9rn&profile=other&flag")).unwrap();
        assert_eq!(got, map(&[("profile", "sales team"), ("site", "bérn"), ("flag", "")]));
    }

    #[test]
    fn odd_encodings_are_read_not_refused() {
        let got = parse(Some("a=%zz&b=%FF&=nameless&&c=1")).unwrap();
        assert_eq!(got, map(&[("a", "%zz"), ("b", "\u{FFFD}"), ("c", "1")]));
    }

    #[test]
    fn bounds_the_query() {
        let long = format!("a={}", "x".repeat(MAX_QUERY_BYTES));
        assert_eq!(parse(Some(&long)), Err(UrlParamsError::TooLong(long.len())));
        let many: Vec<String> = (0..=MAX_PARAMS).map(|i| format!("p{i}=1")).collect();
        assert_eq!(parse(Some(&many.join("&"))), Err(UrlParamsError::TooMany));
        let enough: Vec<String> = (0..MAX_PARAMS).map(|i| format!("p{i}=1")).collect();
        assert_eq!(parse(Some(&enough.join("&"))).unwrap().len(), MAX_PARAMS);
    }
}

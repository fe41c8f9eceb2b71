//! The DDM request a device makes, read from a `DeclarativeManagement` check-in: which endpoint
//! (`Endpoint`) and, for `status`, the report (`Data`, JSON).

use serde_json::Value as Json;

use super::Category;
use crate::mdm::ParseError;

/// Most JSON nesting a status report may have: Apple's deepest status item is a few levels;
/// serde_json's own limit (128) would still build values that recurse on drop.
const MAX_STATUS_DEPTH: usize = 32;

/// What a device asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Tokens,
    DeclarationItems,
    Status,
    /// `declaration/<category>/<identifier>`.
    Declaration {
        category: Category,
        identifier: String,
    },
    /// Anything else: answered 404 and recorded.
    Unknown,
}

pub fn parse_endpoint(endpoint: &str) -> Endpoint {
    match endpoint {
        "tokens" => Endpoint::Tokens,
        "declaration-items" => Endpoint::DeclarationItems,
        "status" => Endpoint::Status,
        other => other
            .strip_prefix("declaration/")
            .and_then(|rest| rest.split_once('/'))
            .and_then(|(category, identifier)| {
                let category = Category::ALL.into_iter().find(|c| c.as_str() == category)?;
                Some(Endpoint::Declaration {
                    category,
                    identifier: identifier.to_string(),
                })
            })
            .unwrap_or(Endpoint::Unknown),
    }
}

/// A status report: `FullReport` and the whole JSON object as sent. Apple's schema is not
/// enforced on it (devices send items newer than any schema Annal holds); only a body that is
/// not a JSON object is refused.
pub fn parse_status(data: Option<&[u8]>) -> Result<(bool, Json), ParseError> {
    let data = data.ok_or_else(|| ParseError::missing("Data"))?;
    let invalid = |reason: String| ParseError::InvalidData { key: "Data", reason };
    let report: Json = serde_json::from_slice(data).map_err(|e| invalid(format!("not JSON: {e}")))?;
    if !report.is_object() {
        return Err(invalid("the status report is not a JSON object".into()));
    }
    if depth(&report) > MAX_STATUS_DEPTH {
        return Err(invalid(format!(
            "the status report nests deeper than {MAX_STATUS_DEPTH} levels"
        )));
    }
    let full = report.get("FullReport").and_then(Json::as_bool).unwrap_or(false);
    Ok((full, report))
}

fn depth(value: &Json) -> usize {
    match value {
        Json::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        Json::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_read_as_apple_names_them() {
        assert_eq!(parse_endpoint("tokens"), Endpoint::Tokens);
        assert_eq!(parse_endpoint("declaration-items"), Endpoint::DeclarationItems);
        assert_eq!(parse_endpoint("status"), Endpoint::Status);
        assert_eq!(
            parse_endpoint("declaration/configuration/cfg.passcode"),
            Endpoint::Declaration {
                category: Category::Configuration,
                identifier: "cfg.passcode".into()
            }
        );
        // A category Apple does not have, and a path with no identifier part.
        assert_eq!(parse_endpoint("declaration/profile/x"), Endpoint::Unknown);
        assert_eq!(parse_endpoint("declaration/configuration"), Endpoint::Unknown);
        assert_eq!(parse_endpoint("../../etc"), Endpoint::Unknown);
    }

    #[test]
    fn a_status_report_must_be_a_json_object() {
        let (full, report) = parse_status(Some(br#"{"FullReport":true,"StatusItems":{}}"#)).expect("object");
        assert!(full);
        assert!(report["StatusItems"].is_object());
        let (full, _) = parse_status(Some(br#"{"StatusItems":{}}"#)).expect("object");
        assert!(!full, "FullReport defaults to false");
        assert!(matches!(parse_status(None), Err(ParseError::MissingKey { .. })));
        assert!(matches!(
            parse_status(Some(b"[1]")),
            Err(ParseError::InvalidData { .. })
        ));
        assert!(matches!(
            parse_status(Some(b"{\"a\":")),
            Err(ParseError::InvalidData { .. })
        ));
        let deep = format!("{}{}", "{\"a\":".repeat(40), "1".to_owned() + &"}".repeat(40));
        assert!(matches!(
            parse_status(Some(deep.as_bytes())),
            Err(ParseError::InvalidData { .. })
        ));
    }
}

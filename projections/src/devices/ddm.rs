//! A device's Declarative Device Management status as its reports left it: each declaration's
//! validity, activity and reasons, and the status items an admin acts on (OS version, software
//! update, passcode). A full report replaces what was known; an incremental one updates what it
//! names. Device strings are bounded here: a report is the device's to write.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Longest string kept from a report (identifiers, tokens, codes, versions).
const MAX_TEXT: usize = 256;
/// Most declarations kept per device: a device's set is far smaller, and what a device reports
/// beyond it costs every fleet view.
const MAX_DECLARATIONS: usize = 256;
/// Most reason codes kept per declaration.
const MAX_REASONS: usize = 8;

/// One declaration as the device reported it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeclarationStatus {
    /// `activation`, `asset`, `configuration` or `management`.
    pub category: String,
    pub identifier: String,
    /// The ServerToken the device processed.
    pub server_token: String,
    pub active: bool,
    /// `valid`, `invalid` or `unknown`.
    pub valid: String,
    /// The reasons' codes (`Error.ConfigurationCannotBeApplied`, …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
}

/// The status items kept.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusItems {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_build_version: Option<String>,
    /// `softwareupdate.install-state`: none, waiting, downloading, prepared, installing, failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub softwareupdate_install_state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub softwareupdate_pending_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub softwareupdate_failure_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passcode_is_compliant: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passcode_is_present: Option<bool>,
}

/// What a device's reports add up to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DdmStatus {
    /// In (category, identifier) order.
    #[serde(default)]
    pub declarations: Vec<DeclarationStatus>,
    #[serde(default)]
    pub items: StatusItems,
}

const CATEGORIES: [(&str, &str); 4] = [
    ("activations", "activation"),
    ("assets", "asset"),
    ("configurations", "configuration"),
    ("management", "management"),
];

fn text(value: Option<&Value>) -> Option<String> {
    let s = value?.as_str()?;
    Some(s.chars().take(MAX_TEXT).collect())
}

fn at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(value, |v, key| v.get(key))
}

impl DdmStatus {
    /// Folds one report (`{"StatusItems": …, "Errors": …, "FullReport": …}`).
    pub fn apply(&mut self, full_report: bool, report: &Value) {
        let items = report.get("StatusItems").unwrap_or(&Value::Null);
        if full_report {
            *self = DdmStatus::default();
        }
        if let Some(declarations) = at(items, &["management", "declarations"]) {
            for (plural, category) in CATEGORIES {
                let Some(list) = declarations.get(plural).and_then(Value::as_array) else {
                    continue;
                };
                for entry in list {
                    if let Some(status) = declaration(category, entry) {
                        self.upsert(status);
                    }
                }
            }
        }
        let i = &mut self.items;
        let set_text = |field: &mut Option<String>, path: &[&str]| {
            if let Some(v) = at(items, path) {
                *field = text(Some(v));
            }
        };
        set_text(&mut i.os_version, &["device", "operating-system", "version"]);
        set_text(
            &mut i.os_build_version,
            &["device", "operating-system", "build-version"],
        );
        set_text(
            &mut i.softwareupdate_install_state,
            &["softwareupdate", "install-state"],
        );
        if let Some(pending) = at(items, &["softwareupdate", "pending-version"]) {
            i.softwareupdate_pending_version = text(pending.get("os-version"));
        }
        if let Some(failure) = at(items, &["softwareupdate", "failure-reason"]) {
            i.softwareupdate_failure_reason = text(failure.get("reason"));
        }
        let set_bool = |field: &mut Option<bool>, path: &[&str]| {
            if let Some(v) = at(items, path) {
                *field = v.as_bool();
            }
        };
        set_bool(&mut i.passcode_is_compliant, &["passcode", "is-compliant"]);
        set_bool(&mut i.passcode_is_present, &["passcode", "is-present"]);
    }

    fn upsert(&mut self, status: DeclarationStatus) {
        let key = |d: &DeclarationStatus| (d.category.clone(), d.identifier.clone());
        match self.declarations.binary_search_by_key(&key(&status), key) {
            Ok(i) => self.declarations[i] = status,
            Err(i) if self.declarations.len() < MAX_DECLARATIONS => self.declarations.insert(i, status),
            Err(_) => {}
        }
    }

    pub fn find(&self, identifier: &str) -> Option<&DeclarationStatus> {
        self.declarations.iter().find(|d| d.identifier == identifier)
    }
}

fn declaration(category: &str, entry: &Value) -> Option<DeclarationStatus> {
    let identifier = text(entry.get("identifier"))?;
    let reasons = entry
        .get("reasons")
        .and_then(Value::as_array)
        .map(|rs| {
            rs.iter()
                .filter_map(|r| text(r.get("code")))
                .take(MAX_REASONS)
                .collect()
        })
        .unwrap_or_default();
    Some(DeclarationStatus {
        category: category.to_string(),
        identifier,
        server_token: text(entry.get("server-token")).unwrap_or_default(),
        active: entry.get("active").and_then(Value::as_bool).unwrap_or(false),
        valid: text(entry.get("valid")).unwrap_or_else(|| "unknown".into()),
        reasons,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn report(full: bool, declarations: Value, items: Value) -> Value {
        let mut status = items;
        status["management"] = json!({"declarations": declarations});
        json!({"StatusItems": status, "Errors": [], "FullReport": full})
    }

    #[test]
    fn a_full_report_replaces_and_an_incremental_one_updates() {
        let mut s = DdmStatus::default();
        let first = report(
            true,
            json!({"configurations": [
                {"identifier": "cfg.a", "server-token": "t1", "active": true, "valid": "valid"},
                {"identifier": "cfg.b", "server-token": "t1", "active": false, "valid": "invalid",
                 "reasons": [{"code": "Error.ConfigurationCannotBeApplied", "description": "no"}]}
            ], "activations": [], "assets": [], "management": []}),
            json!({"device": {"operating-system": {"version": "18.1", "build-version": "22B83"}},
                   "softwareupdate": {"install-state": "downloading", "pending-version": {"os-version": "18.2"}},
                   "passcode": {"is-compliant": false, "is-present": true}}),
        );
        s.apply(true, &first);
        assert_eq!(s.declarations.len(), 2);
        assert_eq!(
            s.find("cfg.b").map(|d| d.reasons.clone()),
            Some(vec!["Error.ConfigurationCannotBeApplied".into()])
        );
        assert_eq!(s.items.os_version.as_deref(), Some("18.1"));
        assert_eq!(s.items.softwareupdate_pending_version.as_deref(), Some("18.2"));
        assert_eq!(s.items.passcode_is_compliant, Some(false));
        // Incremental: cfg.b fixed, the OS moved on; cfg.a and the passcode stay as they were.
        let later = report(
            false,
            json!({"configurations": [{"identifier": "cfg.b", "server-token": "t2", "active": true, "valid": "valid"}]}),
            json!({"device": {"operating-system": {"version": "18.2"}}}),
        );
        s.apply(false, &later);
        assert_eq!(s.declarations.len(), 2);
        assert_eq!(
            s.find("cfg.b").map(|d| (d.valid.as_str(), d.active)),
            Some(("valid", true))
        );
        assert_eq!(s.items.os_version.as_deref(), Some("18.2"));
        assert_eq!(s.items.passcode_is_compliant, Some(false));
        // A full report that names only cfg.a drops cfg.b and everything not reported.
        let full = report(
            true,
            json!({"configurations": [{"identifier": "cfg.a", "server-token": "t1", "active": true, "valid": "valid"}]}),
            json!({}),
        );
        s.apply(true, &full);
        assert_eq!(s.declarations.len(), 1);
        assert_eq!(s.items, StatusItems::default());
    }

    #[test]
    fn hostile_strings_are_bounded_and_junk_is_ignored() {
        let mut s = DdmStatus::default();
        let long = "x".repeat(10_000);
        let r = report(
            true,
            json!({"configurations": [{"identifier": long, "server-token": 5, "active": "yes"}, {"no": "identifier"}],
                   "activations": "not a list"}),
            json!({"device": {"operating-system": {"version": ["18"]}}}),
        );
        s.apply(true, &r);
        assert_eq!(s.declarations.len(), 1);
        assert_eq!(s.declarations[0].identifier.len(), MAX_TEXT);
        assert_eq!(s.declarations[0].server_token, "");
        assert!(!s.declarations[0].active);
        assert_eq!(s.declarations[0].valid, "unknown");
        assert_eq!(s.items.os_version, None);
    }
}

//! An Activation Lock bypass request as NanoMDM's `/v1/escrowkeyunlock` takes it (one form with
//! every parameter) and as Apple's endpoint wants it (device identifiers in the query; the audit
//! values and the bypass code in the form body). Pure: parsing, checking, encoding.

use annal_schemas::events::escrow::EscrowKeyUnlockRequested;

/// The longest value any parameter may have: serials, IMEIs, product types, bypass codes and
/// audit names are all far shorter.
pub const MAX_VALUE: usize = 256;

/// A checked request. The bypass code is a secret: it goes to Apple and nowhere else.
#[derive(Clone, PartialEq, Eq)]
pub struct BypassRequest {
    pub topic: String,
    pub serial: String,
    pub product_type: String,
    pub imei: Option<String>,
    pub imei2: Option<String>,
    pub meid: Option<String>,
    pub org_name: String,
    pub guid: String,
    escrow_key: String,
}

impl std::fmt::Debug for BypassRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BypassRequest")
            .field("topic", &self.topic)
            .field("serial", &self.serial)
            .field("product_type", &self.product_type)
            .field("escrow_key", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// Why a request was refused; `field` is the form field's name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BypassInvalid {
    #[error("{field} is required")]
    Missing { field: &'static str },
    #[error("{field} is longer than {MAX_VALUE} characters")]
    TooLong { field: &'static str },
    #[error("{field} contains control characters")]
    Control { field: &'static str },
    #[error("{field} is given more than once")]
    Repeated { field: &'static str },
}

impl BypassInvalid {
    pub fn field(&self) -> &'static str {
        match self {
            BypassInvalid::Missing { field }
            | BypassInvalid::TooLong { field }
            | BypassInvalid::Control { field }
            | BypassInvalid::Repeated { field } => field,
        }
    }
}

impl BypassRequest {
    /// From the form's name/value pairs. Unknown names are ignored, as NanoMDM ignores them.
    pub fn from_form(pairs: &[(String, String)]) -> Result<Self, BypassInvalid> {
        let optional = |field: &'static str| -> Result<Option<String>, BypassInvalid> {
            let mut values = pairs.iter().filter(|(k, _)| k == field).map(|(_, v)| v);
            let value = values.next();
            if values.next().is_some() {
                return Err(BypassInvalid::Repeated { field });
            }
            match value.map(|v| v.trim()) {
                None | Some("") => Ok(None),
                Some(v) if v.chars().count() > MAX_VALUE => Err(BypassInvalid::TooLong { field }),
                Some(v) if v.chars().any(char::is_control) => Err(BypassInvalid::Control { field }),
                Some(v) => Ok(Some(v.to_owned())),
            }
        };
        let required = |field: &'static str| optional(field)?.ok_or(BypassInvalid::Missing { field });
        Ok(BypassRequest {
            topic: required("topic")?,
            serial: required("serial")?,
            product_type: required("productType")?,
            imei: optional("imei")?,
            imei2: optional("imei2")?,
            meid: optional("meid")?,
            org_name: required("orgName")?,
            guid: required("guid")?,
            escrow_key: required("escrowKey")?,
        })
    }

    /// Apple's query string: the device's identifiers.
    pub fn query(&self) -> String {
        let mut pairs = vec![
            ("serial", self.serial.as_str()),
            ("productType", self.product_type.as_str()),
        ];
        for (name, value) in [("imei", &self.imei), ("imei2", &self.imei2), ("meid", &self.meid)] {
            if let Some(value) = value {
                pairs.push((name, value));
            }
        }
        encode(&pairs)
    }

    /// Apple's form body: the audit values and the bypass code.
    pub fn form(&self) -> String {
        encode(&[
            ("orgName", self.org_name.as_str()),
            ("guid", self.guid.as_str()),
            ("escrowKey", self.escrow_key.as_str()),
        ])
    }

    /// What the log keeps of it: everything but the bypass code.
    pub fn recorded(&self) -> EscrowKeyUnlockRequested {
        EscrowKeyUnlockRequested {
            serial_number: self.serial.clone(),
            product_type: self.product_type.clone(),
            imei: self.imei.clone(),
            imei2: self.imei2.clone(),
            meid: self.meid.clone(),
            org_name: self.org_name.clone(),
            guid: self.guid.clone(),
            topic: self.topic.clone(),
        }
    }
}

fn encode(pairs: &[(&str, &str)]) -> String {
    // Pairs of strings always encode.
    serde_urlencoded::to_string(pairs).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn complete() -> Vec<(String, String)> {
        form(&[
            ("topic", "com.apple.mgmt.test"),
            ("serial", "C8TJ500QF1MN"),
            ("productType", "iPad4,1"),
            ("escrowKey", "3UM43-PUYVY-QYD1-UVCC-HEHJ-FKA4"),
            ("orgName", "Acme & Sons"),
            ("guid", "it@acme.example"),
            ("imei", "35 209900 176148 1"),
        ])
    }

    #[test]
    fn splits_the_form_as_apple_wants_it() {
        let request = BypassRequest::from_form(&complete()).unwrap();
        assert_eq!(
            request.query(),
            "serial=C8TJ500QF1MN&productType=iPad4%2C1&imei=35+209900+176148+1"
        );
        assert_eq!(
            request.form(),
            "orgName=Acme+%26+Sons&guid=it%40acme.example&escrowKey=3UM43-PUYVY-QYD1-UVCC-HEHJ-FKA4"
        );
    }

    #[test]
    fn the_bypass_code_is_neither_recorded_nor_printed() {
        let request = BypassRequest::from_form(&complete()).unwrap();
        let recorded = serde_json::to_string(&request.recorded()).unwrap();
        assert!(!recorded.contains("3UM43"), "{recorded}");
        assert!(!format!("{request:?}").contains("3UM43"));
        assert!(recorded.contains("C8TJ500QF1MN"));
    }

    #[test]
    fn refuses_what_nanomdm_requires_and_hostile_values() {
        for field in ["topic", "serial", "productType", "escrowKey", "orgName", "guid"] {
            let without: Vec<_> = complete().into_iter().filter(|(k, _)| k != field).collect();
            assert_eq!(
                BypassRequest::from_form(&without),
                Err(BypassInvalid::Missing { field })
            );
        }
        let mut twice = complete();
        twice.push(("serial".into(), "OTHER".into()));
        assert_eq!(
            BypassRequest::from_form(&twice),
            Err(BypassInvalid::Repeated { field: "serial" })
        );
        let mut control = complete();
        control[5].1 = "it@acme\r\nX-Injected: 1".into();
        assert_eq!(
            BypassRequest::from_form(&control),
            Err(BypassInvalid::Control { field: "guid" })
        );
        let mut long = complete();
        long[1].1 = "A".repeat(MAX_VALUE + 1);
        assert_eq!(
            BypassRequest::from_form(&long),
            Err(BypassInvalid::TooLong { field: "serial" })
        );
    }
}

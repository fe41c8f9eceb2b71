//! The MachineInfo plist an Automated Device Enrollment device POSTs (CMS-signed) to the
//! enrollment URL of its DEP profile (Apple's `other/machineinfo.yaml`).
//!
//! Only `UDID` is required here: the schema marks SERIAL, PRODUCT, VERSION and OS_VERSION
//! required too, but older releases leave some out, and the UDID alone names the device.
//! Values are device strings: bounded, and never trusted beyond what the signer vouches for.

use super::bounded::parse_dict;
use super::error::ParseError;
use super::fields::Fields;
use super::ids::checked;

/// Longest value kept of a descriptive key (serials, product names and versions are short).
const MAX_VALUE_CHARS: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineInfo {
    pub udid: String,
    pub serial: Option<String>,
    pub product: Option<String>,
    pub version: Option<String>,
    pub os_version: Option<String>,
    pub imei: Option<String>,
    pub meid: Option<String>,
    pub language: Option<String>,
}

/// Parses a MachineInfo plist (XML or binary).
pub fn parse_machine_info(bytes: &[u8]) -> Result<MachineInfo, ParseError> {
    let mut dict = parse_dict(bytes)?;
    let mut fields = Fields::top(&mut dict);
    let udid = fields.string("UDID")?;
    checked("UDID", &udid)?;
    let mut text = |key: &'static str| -> Result<Option<String>, ParseError> {
        Ok(fields
            .opt_string(key)?
            .map(|v| v.chars().filter(|c| !c.is_control()).take(MAX_VALUE_CHARS).collect())
            .filter(|v: &String| !v.is_empty()))
    };
    Ok(MachineInfo {
        serial: text("SERIAL")?,
        product: text("PRODUCT")?,
        version: text("VERSION")?,
        os_version: text("OS_VERSION")?,
        imei: text("IMEI")?,
        meid: text("MEID")?,
        language: text("LANGUAGE")?,
        udid,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mdm::testutil::{body, s};

    #[test]
    fn reads_apples_keys_and_requires_a_valid_udid() {
        let info = parse_machine_info(&body(&[
            ("UDID", s("00008030-001A2B3C4D5E6F70")),
            ("SERIAL", s("F9FXK0ABCDEF")),
            ("PRODUCT", s("iPhone16,1")),
            ("VERSION", s("22B83")),
            ("OS_VERSION", s("18.1")),
            ("LANGUAGE", s("en-US")),
            ("PAIRING_TOKEN", plist::Value::Data(vec![1, 2, 3])),
        ]))
        .unwrap();
        assert_eq!(info.udid, "00008030-001A2B3C4D5E6F70");
        assert_eq!(info.serial.as_deref(), Some("F9FXK0ABCDEF"));
        assert_eq!(info.os_version.as_deref(), Some("18.1"));
        assert_eq!(info.imei, None);

        let missing = parse_machine_info(&body(&[("SERIAL", s("F9FX"))])).unwrap_err();
        assert_eq!(missing.to_string(), "missing key UDID");
        let hostile = parse_machine_info(&body(&[("UDID", s("A:B"))])).unwrap_err();
        assert_eq!(hostile.to_string(), "UDID: not a valid identifier");
        let wrong =
            parse_machine_info(&body(&[("UDID", s("U1")), ("SERIAL", plist::Value::Integer(5.into()))])).unwrap_err();
        assert_eq!(wrong.to_string(), "SERIAL: expected a string, found an integer");
    }

    #[test]
    fn long_values_and_control_characters_are_cut() {
        let info = parse_machine_info(&body(&[
            ("UDID", s("U1")),
            ("PRODUCT", s(&format!("a\u{7}{}", "b".repeat(500)))),
        ]))
        .unwrap();
        let product = info.product.unwrap();
        assert_eq!(product.chars().count(), MAX_VALUE_CHARS);
        assert!(!product.contains('\u{7}'));
    }
}

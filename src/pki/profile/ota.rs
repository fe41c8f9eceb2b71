//! Over-the-air enrollment, the profile-service flow (seed paper 001; Apple's "Over-the-Air
//! Profile Delivery and Configuration"), as pure functions:
//!
//! 1. [`profile_service`]: a signed `Profile Service` payload asking the device for its
//!    attributes, with a challenge it echoes back.
//! 2. The device posts its attributes, CMS-signed with its Apple device certificate;
//!    [`scep_profile`] answers with Annal's CA and a SCEP payload for that UDID.
//! 3. The device posts its attributes again, signed with the identity SCEP gave it;
//!    [`encrypted_enrollment_profile`] answers with the enrollment payloads encrypted to that
//!    certificate (`EncryptedPayloadContent`, a CMS EnvelopedData).

use plist::{Dictionary, Value};
use uuid::Uuid;

use super::payloads::{ca_payload, configuration, scep_payload};
use super::{to_xml, EnrollmentSettings, PayloadIds, ProfileError};
use crate::mdm::commands::validate_profile;
use crate::pki::envelope;

/// Where the device posts its attributes, under the base URL.
pub const OTA_PATH: &str = "/enroll/ota";
/// The attributes Annal asks for: enough to recognise the device in the inventory.
const DEVICE_ATTRIBUTES: [&str; 6] = ["UDID", "VERSION", "PRODUCT", "SERIAL", "IMEI", "MEID"];

/// Phase 1: the `Profile Service` payload. Apple's profile schema has no entry for this
/// payload type, so it is built to Apple's over-the-air documentation, not schema-checked.
pub fn profile_service(settings: &EnrollmentSettings, challenge: &str, uuid: Uuid) -> Result<Dictionary, ProfileError> {
    settings.check()?;
    let mut content = Dictionary::new();
    content.insert("URL".into(), settings.url(OTA_PATH).into());
    let attributes = DEVICE_ATTRIBUTES.iter().map(|a| Value::from(*a)).collect();
    content.insert("DeviceAttributes".into(), Value::Array(attributes));
    content.insert("Challenge".into(), challenge.into());
    let mut d = configuration(settings, "profile-service", uuid, "MDM enrollment");
    d.insert("PayloadType".into(), "Profile Service".into());
    d.remove("PayloadRemovalDisallowed");
    d.insert("PayloadContent".into(), Value::Dictionary(content));
    Ok(d)
}

/// What a device posts in phases 2 and 3 (the keys it was asked for, and the challenge).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceAttributes {
    pub udid: String,
    pub challenge: String,
    pub version: Option<String>,
    pub product: Option<String>,
    pub serial: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AttributesError {
    #[error("the device attributes are not a plist dictionary: {0}")]
    NotPlist(String),
    #[error("`{0}`: missing, empty or not a string")]
    Missing(&'static str),
}

/// Reads the device's attribute plist; UDID and CHALLENGE are required.
pub fn parse_attributes(bytes: &[u8]) -> Result<DeviceAttributes, AttributesError> {
    let dict: Dictionary = plist::from_bytes(bytes).map_err(|e| AttributesError::NotPlist(e.to_string()))?;
    let text = |key: &str| dict.get(key).and_then(Value::as_string).filter(|s| !s.is_empty());
    let required = |key: &'static str| text(key).map(str::to_owned).ok_or(AttributesError::Missing(key));
    Ok(DeviceAttributes {
        udid: required("UDID")?,
        challenge: required("CHALLENGE")?,
        version: text("VERSION").map(str::to_owned),
        product: text("PRODUCT").map(str::to_owned),
        serial: text("SERIAL").map(str::to_owned),
    })
}

/// Phase 2: Annal's CA and a SCEP payload whose subject CN is the UDID.
pub fn scep_profile(
    settings: &EnrollmentSettings,
    udid: &str,
    challenge: Option<&str>,
    ids: &PayloadIds,
) -> Result<Dictionary, ProfileError> {
    settings.check()?;
    let mut profile = configuration(settings, "identity", ids.profile, "Device identity");
    let payloads = vec![
        Value::Dictionary(ca_payload(settings, ids.ca)),
        Value::Dictionary(scep_payload(settings, ids.scep, challenge, udid)),
    ];
    profile.insert("PayloadContent".into(), Value::Array(payloads));
    validate_profile(&profile, None)?;
    Ok(profile)
}

/// Phase 3: the enrollment payloads (CA, SCEP, MDM), encrypted to `recipient_der`. The
/// profile is schema-checked in clear before its payloads are encrypted.
pub fn encrypted_enrollment_profile(
    settings: &EnrollmentSettings,
    ids: &PayloadIds,
    recipient_der: &[u8],
) -> Result<Dictionary, ProfileError> {
    let mut profile = super::enrollment_profile(settings, ids)?;
    let payloads = profile
        .remove("PayloadContent")
        .ok_or_else(|| ProfileError::Plist("no PayloadContent".to_owned()))?;
    profile.insert(
        "EncryptedPayloadContent".into(),
        Value::Data(envelope(&to_xml(payloads)?, recipient_der)?),
    );
    validate_profile(&profile, None)?;
    Ok(profile)
}

#[cfg(test)]
#[path = "ota_tests.rs"]
mod tests;

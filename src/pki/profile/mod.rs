//! Enrollment profiles (.mobileconfig): payloads built by pure functions (payloads.rs), checked
//! against Apple's profile schema, serialised as an XML plist and CMS-signed (attached) with
//! the server identity, so the device shows the profile as verified and can detect tampering.
//! The over-the-air flow (profile service, encrypted final profile) is in ota.rs.

pub mod ota;
pub mod payloads;

use plist::{Dictionary, Value};

use super::{CmsSigner, PkiError};
use crate::mdm::commands::{validate_profile, CommandError};
pub use payloads::{check_base_url, check_topic, EnrollmentSettings, PayloadIds};

/// The Content-Type of a .mobileconfig, signed or not.
pub const MOBILECONFIG_CONTENT_TYPE: &str = "application/x-apple-aspen-config";

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("bad base URL: {0}")]
    BaseUrl(String),
    #[error("the push topic {0:?} is not an MDM topic, com.apple.mgmt.<…> (the push certificate's UID)")]
    Topic(String),
    /// A generated profile that Apple's schema refuses: a bug in the builder, never sent.
    #[error("the profile does not match Apple's schema: {0}")]
    Schema(#[from] CommandError),
    #[error("plist encoding failed: {0}")]
    Plist(String),
    #[error(transparent)]
    Pki(#[from] PkiError),
}

/// The enrollment profile (CA, SCEP and MDM payloads), checked against Apple's schema.
pub fn enrollment_profile(settings: &EnrollmentSettings, ids: &PayloadIds) -> Result<Dictionary, ProfileError> {
    settings.check()?;
    let mut profile = payloads::configuration(settings, "enroll", ids.profile, "MDM enrollment");
    profile.insert(
        "PayloadContent".into(),
        Value::Array(payloads::enrollment_payloads(settings, ids)),
    );
    validate_profile(&profile, None)?;
    Ok(profile)
}

/// The first payload of `payload_type` in a profile's PayloadContent.
pub fn payload_of<'a>(profile: &'a Dictionary, payload_type: &str) -> Option<&'a Dictionary> {
    profile
        .get("PayloadContent")?
        .as_array()?
        .iter()
        .filter_map(Value::as_dictionary)
        .find(|p| p.get("PayloadType").and_then(Value::as_string) == Some(payload_type))
}

/// The XML plist bytes of a profile or payload list.
pub fn to_xml(value: impl Into<Value>) -> Result<Vec<u8>, ProfileError> {
    let mut out = Vec::new();
    plist::to_writer_xml(&mut out, &value.into()).map_err(|e| ProfileError::Plist(e.to_string()))?;
    Ok(out)
}

/// A .mobileconfig as served: the XML plist in an attached CMS SignedData (DER), or the plain
/// XML without a signer.
pub fn mobileconfig(profile: Dictionary, signer: Option<&CmsSigner>) -> Result<Vec<u8>, ProfileError> {
    let xml = to_xml(profile)?;
    match signer {
        Some(signer) => Ok(signer.sign_attached(&xml)?),
        None => Ok(xml),
    }
}

#[cfg(test)]
mod tests;

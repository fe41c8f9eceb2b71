//! What a device reads from an enrollment profile before it enrolls, as pure functions: the
//! signature (an attached CMS SignedData whose signer chains to a CA it trusts), Apple's profile
//! schema, then the SCEP and MDM payloads, which the MDM payload ties together by
//! `IdentityCertificateUUID` = the SCEP payload's `PayloadUUID`.

use chrono::{DateTime, Utc};
use plist::{Dictionary, Value};

use crate::mdm::commands::{validate_profile, CommandError};
use crate::pki::profile::payload_of;
use crate::pki::{verify_attached, PkiError, SignatureError, TrustAnchors};

/// The only key the simulator's SCEP client makes (`pki::scep::client`), and what Annal's
/// profiles ask for.
const KEYSIZE: i64 = 2048;

#[derive(Debug, thiserror::Error)]
pub enum ProfileReadError {
    #[error("the profile is not a signed CMS SignedData: {0}")]
    Signature(#[from] SignatureError),
    #[error("the profile's signer is not trusted: {0}")]
    Untrusted(PkiError),
    #[error("the profile is not a plist dictionary: {0}")]
    NotPlist(String),
    #[error("the profile does not match Apple's schema: {0}")]
    Schema(#[from] CommandError),
    #[error("the profile has no {0} payload")]
    MissingPayload(&'static str),
    #[error("`{0}`: missing or of the wrong type")]
    Key(String),
    #[error("the MDM payload's IdentityCertificateUUID {0} is not the SCEP payload's PayloadUUID")]
    IdentityMismatch(String),
    #[error("the SCEP payload asks for {0}; the simulator makes RSA 2048 keys only")]
    KeyType(String),
}

/// What enrolling through a profile needs from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileEnrollment {
    /// The certificates of its `com.apple.security.root` payloads (DER).
    pub roots: Vec<Vec<u8>>,
    pub scep: ScepSettings,
    pub mdm: MdmSettings,
}

/// The SCEP payload's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScepSettings {
    pub url: String,
    pub challenge: Option<String>,
    /// RDNs in the payload's order (the DER order, most general first), each a list of
    /// (attribute type, value) pairs.
    pub subject: Vec<Vec<(String, String)>>,
}

/// The MDM payload's keys a device acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MdmSettings {
    pub server_url: String,
    /// Where check-in messages go; `ServerURL` when the payload has none (Apple's rule).
    pub checkin_url: String,
    pub topic: String,
    pub sign_message: bool,
}

/// Verifies a served profile (signer trusted by `anchors` at `now`), checks it against Apple's
/// schema and reads its SCEP and MDM payloads.
pub fn read_profile(
    body: &[u8],
    anchors: &TrustAnchors,
    now: DateTime<Utc>,
) -> Result<ProfileEnrollment, ProfileReadError> {
    let signed = verify_attached(body)?;
    anchors
        .verify_leaf(&signed.signer_cert_der, now)
        .map_err(ProfileReadError::Untrusted)?;
    let profile: Dictionary =
        plist::from_bytes(&signed.content).map_err(|e| ProfileReadError::NotPlist(e.to_string()))?;
    validate_profile(&profile, None)?;
    enrollment_of(&profile)
}

/// The SCEP and MDM payloads of a profile that passed Apple's schema.
pub fn enrollment_of(profile: &Dictionary) -> Result<ProfileEnrollment, ProfileReadError> {
    let scep = payload_of(profile, "com.apple.security.scep").ok_or(ProfileReadError::MissingPayload("SCEP"))?;
    let mdm = payload_of(profile, "com.apple.mdm").ok_or(ProfileReadError::MissingPayload("MDM"))?;
    let identity = text(mdm, "com.apple.mdm", "IdentityCertificateUUID")?;
    if text(scep, "com.apple.security.scep", "PayloadUUID")? != identity {
        return Err(ProfileReadError::IdentityMismatch(identity.to_owned()));
    }
    let roots = profile
        .get("PayloadContent")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_dictionary)
        .filter(|p| p.get("PayloadType").and_then(Value::as_string) == Some("com.apple.security.root"))
        .filter_map(|p| p.get("PayloadContent").and_then(Value::as_data).map(<[u8]>::to_vec))
        .collect();
    Ok(ProfileEnrollment {
        roots,
        scep: scep_settings(scep)?,
        mdm: mdm_settings(mdm)?,
    })
}

fn scep_settings(payload: &Dictionary) -> Result<ScepSettings, ProfileReadError> {
    let content = payload
        .get("PayloadContent")
        .and_then(Value::as_dictionary)
        .ok_or_else(|| ProfileReadError::Key("com.apple.security.scep.PayloadContent".to_owned()))?;
    let key_type = content.get("Key Type").and_then(Value::as_string).unwrap_or("RSA");
    let keysize = content
        .get("Keysize")
        .and_then(Value::as_signed_integer)
        .unwrap_or(1024);
    if key_type != "RSA" || keysize != KEYSIZE {
        return Err(ProfileReadError::KeyType(format!("{key_type} {keysize}")));
    }
    Ok(ScepSettings {
        url: text(content, "com.apple.security.scep.PayloadContent", "URL")?.to_owned(),
        challenge: content.get("Challenge").and_then(Value::as_string).map(str::to_owned),
        subject: subject(content.get("Subject"))?,
    })
}

fn mdm_settings(payload: &Dictionary) -> Result<MdmSettings, ProfileReadError> {
    let server_url = text(payload, "com.apple.mdm", "ServerURL")?.to_owned();
    Ok(MdmSettings {
        checkin_url: payload
            .get("CheckInURL")
            .and_then(Value::as_string)
            .map_or_else(|| server_url.clone(), str::to_owned),
        server_url,
        topic: text(payload, "com.apple.mdm", "Topic")?.to_owned(),
        sign_message: payload.get("SignMessage").and_then(Value::as_boolean).unwrap_or(false),
    })
}

fn text<'a>(d: &'a Dictionary, at: &str, key: &str) -> Result<&'a str, ProfileReadError> {
    d.get(key)
        .and_then(Value::as_string)
        .ok_or_else(|| ProfileReadError::Key(format!("{at}.{key}")))
}

/// `Subject`: an array of RDNs, each an array of `[type, value]` pairs (Apple's SCEP payload).
fn subject(value: Option<&Value>) -> Result<Vec<Vec<(String, String)>>, ProfileReadError> {
    let bad = || ProfileReadError::Key("com.apple.security.scep.PayloadContent.Subject".to_owned());
    let Some(rdns) = value else {
        return Ok(Vec::new());
    };
    rdns.as_array()
        .ok_or_else(bad)?
        .iter()
        .map(|rdn| {
            rdn.as_array()
                .ok_or_else(bad)?
                .iter()
                .map(|pair| match pair.as_array().map(Vec::as_slice) {
                    Some([t, v]) => match (t.as_string(), v.as_string()) {
                        (Some(t), Some(v)) => Ok((t.to_owned(), v.to_owned())),
                        _ => Err(bad()),
                    },
                    _ => Err(bad()),
                })
                .collect()
        })
        .collect()
}

/// The subject a device asks SCEP for, as an RFC 4514 string: the payload's subject with its
/// CN set to the device's UDID (added when the payload has none), as the over-the-air flow asks
/// (its SCEP payload's CN is the UDID), so the certificate names the device it was issued to.
pub fn scep_subject(subject: &[Vec<(String, String)>], udid: &str) -> String {
    let mut rdns: Vec<Vec<(String, String)>> = subject
        .iter()
        .map(|rdn| {
            rdn.iter()
                .map(|(t, v)| {
                    let v = if t.eq_ignore_ascii_case("CN") { udid } else { v };
                    (t.clone(), v.to_owned())
                })
                .collect()
        })
        .collect();
    if !rdns.iter().flatten().any(|(t, _)| t.eq_ignore_ascii_case("CN")) {
        rdns.push(vec![("CN".to_owned(), udid.to_owned())]);
    }
    // RFC 4514 writes the last RDN of the DER sequence first.
    rdns.iter()
        .rev()
        .map(|rdn| {
            rdn.iter()
                .map(|(t, v)| format!("{t}={}", escape(v)))
                .collect::<Vec<_>>()
                .join("+")
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// RFC 4514 §2.4: the characters that would end or change an attribute value.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        let edge = (i == 0 && (c == ' ' || c == '#')) || (i == last && c == ' ');
        if edge || matches!(c, '"' | '+' | ',' | ';' | '<' | '>' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
#[path = "profile_tests.rs"]
mod tests;

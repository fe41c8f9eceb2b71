//! The payload dictionaries of an enrollment profile, as pure functions of their settings.
//!
//! Key names and values follow Apple's profile schema (`schemas/apple/mdm/profiles/`) and
//! protocol.md §7–8; `super::enrollment_profile` checks the result against that schema.

use plist::{Dictionary, Value};
use uuid::Uuid;

use super::ProfileError;

/// Every access right (bits 1–4096): Annal's admin API decides what an operator may send.
pub const ACCESS_RIGHTS_ALL: i64 = 8191;
/// SCEP `Key Usage`: 1 signing + 4 encryption (the identity signs `Mdm-Signature` and receives
/// profiles encrypted to it).
const KEY_USAGE_SIGN_AND_ENCRYPT: i64 = 5;
const SERVER_CAPABILITIES: [&str; 2] = ["com.apple.mdm.per-user-connections", "com.apple.mdm.bootstraptoken"];

/// What an enrollment profile says about this server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrollmentSettings {
    /// `https://host[:port][/prefix]`, without a trailing slash: `/mdm` and `/scep` hang off it.
    pub base_url: String,
    /// The push certificate's topic (`com.apple.mgmt.External.<uuid>`).
    pub topic: String,
    /// The SCEP challenge password; absent when the SCEP server asks for none.
    pub challenge: Option<String>,
    /// Annal's CA certificate (DER), installed as a trusted root.
    pub ca_cert_der: Vec<u8>,
    pub organization: String,
}

/// The PayloadUUIDs of one generated profile. Fresh ones per profile: a device replaces an
/// installed profile by PayloadIdentifier, not by UUID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayloadIds {
    pub profile: Uuid,
    pub ca: Uuid,
    pub scep: Uuid,
    pub mdm: Uuid,
}

impl PayloadIds {
    pub fn random() -> Self {
        Self {
            profile: Uuid::new_v4(),
            ca: Uuid::new_v4(),
            scep: Uuid::new_v4(),
            mdm: Uuid::new_v4(),
        }
    }
}

impl EnrollmentSettings {
    /// Refuses what a device would refuse later, at install time: a URL that is not plain
    /// `https://host…`, and a topic that is not an MDM push topic.
    pub fn check(&self) -> Result<(), ProfileError> {
        check_base_url(&self.base_url)?;
        check_topic(&self.topic)
    }

    /// Reverse-DNS PayloadIdentifier root from the URL's host (`mdm.example.com` →
    /// `com.example.mdm.annal`), stable so a new profile replaces the installed one.
    pub fn identifier(&self) -> String {
        let rest = self.base_url.trim_start_matches("https://");
        let host = rest.split(['/', ':']).next().unwrap_or_default();
        let mut labels: Vec<&str> = host.split('.').filter(|l| !l.is_empty()).collect();
        labels.reverse();
        labels.push("annal");
        labels.join(".")
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }
}

/// A base URL a device can use: `https://host[:port][/path]`, no trailing slash, query or
/// fragment (`/mdm` and `/scep` are appended to it).
pub fn check_base_url(base_url: &str) -> Result<(), ProfileError> {
    let rest = base_url
        .strip_prefix("https://")
        .ok_or_else(|| ProfileError::BaseUrl("must start with https://".to_owned()))?;
    let host = rest.split(['/', ':']).next().unwrap_or_default();
    if host.is_empty() {
        return Err(ProfileError::BaseUrl("has no host".to_owned()));
    }
    if rest.ends_with('/') || rest.contains(['?', '#']) || rest.chars().any(char::is_whitespace) {
        return Err(ProfileError::BaseUrl(
            "must be https://host[:port][/path] without a trailing slash, query or fragment".to_owned(),
        ));
    }
    Ok(())
}

/// An MDM push topic, `com.apple.mgmt.<…>` (the push certificate's UID): devices refuse others.
pub fn check_topic(topic: &str) -> Result<(), ProfileError> {
    if !topic.starts_with("com.apple.mgmt.") || topic.len() <= "com.apple.mgmt.".len() {
        return Err(ProfileError::Topic(topic.to_owned()));
    }
    Ok(())
}

/// The common keys every payload carries (CommonPayloadKeys.yaml).
fn payload(payload_type: &str, identifier: String, uuid: Uuid, display_name: &str) -> Dictionary {
    let mut d = Dictionary::new();
    d.insert("PayloadType".into(), payload_type.into());
    d.insert("PayloadVersion".into(), 1.into());
    d.insert("PayloadIdentifier".into(), identifier.into());
    d.insert("PayloadUUID".into(), uuid.to_string().to_uppercase().into());
    d.insert("PayloadDisplayName".into(), display_name.into());
    d
}

/// com.apple.security.root: Annal's CA, so the device trusts the server and its SCEP CA.
pub fn ca_payload(s: &EnrollmentSettings, uuid: Uuid) -> Dictionary {
    let mut d = payload(
        "com.apple.security.root",
        format!("{}.ca", s.identifier()),
        uuid,
        "Annal CA",
    );
    d.insert("PayloadCertificateFileName".into(), "annal-ca.cer".into());
    d.insert("PayloadContent".into(), Value::Data(s.ca_cert_der.clone()));
    d
}

/// com.apple.security.scep: the device makes an RSA 2048 key and asks `<base>/scep` for its
/// identity certificate. `subject_cn` becomes the requested subject's CN.
pub fn scep_payload(s: &EnrollmentSettings, uuid: Uuid, challenge: Option<&str>, subject_cn: &str) -> Dictionary {
    let rdn = |oid: &str, value: &str| Value::Array(vec![Value::Array(vec![oid.into(), value.into()])]);
    let mut content = Dictionary::new();
    content.insert("URL".into(), s.url("/scep").into());
    content.insert("Name".into(), "Annal CA".into());
    content.insert(
        "Subject".into(),
        Value::Array(vec![rdn("O", &s.organization), rdn("CN", subject_cn)]),
    );
    if let Some(challenge) = challenge {
        content.insert("Challenge".into(), challenge.into());
    }
    content.insert("Keysize".into(), 2048.into());
    content.insert("Key Type".into(), "RSA".into());
    content.insert("Key Usage".into(), KEY_USAGE_SIGN_AND_ENCRYPT.into());
    let mut d = payload(
        "com.apple.security.scep",
        format!("{}.scep", s.identifier()),
        uuid,
        "Device identity (SCEP)",
    );
    d.insert("PayloadContent".into(), Value::Dictionary(content));
    d
}

/// com.apple.mdm, whose identity is the SCEP payload `identity_uuid` of the same profile.
pub fn mdm_payload(s: &EnrollmentSettings, uuid: Uuid, identity_uuid: Uuid) -> Dictionary {
    let mut d = payload(
        "com.apple.mdm",
        format!("{}.mdm", s.identifier()),
        uuid,
        "Mobile device management",
    );
    d.insert("ServerURL".into(), s.url("/mdm").into());
    d.insert("CheckInURL".into(), s.url("/mdm").into());
    d.insert("Topic".into(), s.topic.clone().into());
    d.insert(
        "IdentityCertificateUUID".into(),
        identity_uuid.to_string().to_uppercase().into(),
    );
    d.insert("AccessRights".into(), ACCESS_RIGHTS_ALL.into());
    d.insert("SignMessage".into(), true.into());
    d.insert("CheckOutWhenRemoved".into(), true.into());
    let capabilities = SERVER_CAPABILITIES.iter().map(|c| Value::from(*c)).collect();
    d.insert("ServerCapabilities".into(), Value::Array(capabilities));
    d
}

/// The three payloads of an enrollment profile: CA, SCEP identity, MDM.
pub fn enrollment_payloads(s: &EnrollmentSettings, ids: &PayloadIds) -> Vec<Value> {
    vec![
        Value::Dictionary(ca_payload(s, ids.ca)),
        Value::Dictionary(scep_payload(
            s,
            ids.scep,
            s.challenge.as_deref(),
            "Annal device identity",
        )),
        Value::Dictionary(mdm_payload(s, ids.mdm, ids.scep)),
    ]
}

/// The Configuration wrapper (TopLevel.yaml). Removable: Apple refuses an MDM profile the user
/// cannot remove ("A profile containing an MDM payload must be removable", seed paper 000).
pub fn configuration(s: &EnrollmentSettings, suffix: &str, uuid: Uuid, display_name: &str) -> Dictionary {
    let mut d = payload(
        "Configuration",
        format!("{}.{suffix}", s.identifier()),
        uuid,
        display_name,
    );
    d.insert("PayloadOrganization".into(), s.organization.clone().into());
    d.insert(
        "PayloadDescription".into(),
        format!(
            "Enrolls this device in {}'s MDM server at {}",
            s.organization, s.base_url
        )
        .into(),
    );
    d.insert("PayloadRemovalDisallowed".into(), false.into());
    d
}

//! Device identities and the certificates Annal's CA issues.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::event_data;

/// A certificate as the log describes it (never the private key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CertificateInfo {
    pub fingerprint_sha256: String,
    pub serial_hex: String,
    pub subject: String,
    pub issuer: String,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
}

/// Authenticate bound this certificate to the enrollment (or, `migration_claim`, the first
/// message of a device whose enrollment was migrated without one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct IdentityBound {
    pub certificate: CertificateInfo,
    pub generation: u64,
    /// The enrollment came through `/migration` (another server's check-ins, no certificate)
    /// and this certificate, from an external CA and claimed by no other enrollment, was the
    /// first to speak for it while the server accepted migration claims.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub migration_claim: bool,
}

/// The device presented a renewal issued by Annal's CA for the same device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct IdentityRotated {
    pub previous_fingerprint_sha256: String,
    pub certificate: CertificateInfo,
}

/// Annal's CA issued a certificate (SCEP, the server's TLS identity, simulator identities).
/// SCEP issuance is recorded in the certificate's own stream, `identity-<fingerprint>`, with
/// what vouched for it: the server, not the CSR, decides whom a certificate may serve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CertificateIssued {
    pub certificate: CertificateInfo,
    /// `scep`, `scep-renewal`, `server-tls` or `simulator`.
    pub profile: String,
    /// A renewal: the fingerprint of the certificate whose key signed the request. Only this
    /// link lets the new certificate replace the old one on an enrollment (a rotation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renewal_of: Option<String>,
    /// Hex SHA-256 of the one-time challenge the request used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub challenge_sha256: Option<String>,
    /// The request used the static challenge (`--scep-challenge-file`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub static_challenge: bool,
    /// The enrollment token whose profile carried the challenge (its key id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enrollment_token_id: Option<String>,
    /// The device the certificate was issued for, when known: the UDID the over-the-air
    /// service was told, or the one an admin bound the challenge to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub udid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial_number: Option<String>,
    /// An admin bound the challenge to `udid` / `serial_number`: the only binding that lets the
    /// certificate replace another identity enrolled for that device.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub admin_bound: bool,
}

/// An admin revoked a device identity (in `identity-<fingerprint>`, and in the enrollment it
/// is bound to): every request with it is refused from then on, and it cannot renew.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct IdentityRevoked {
    pub fingerprint_sha256: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// An admin declared the device's enrollment over (the device is gone, wiped, or re-imaged):
/// its identity is no longer accepted, and a new identity may enroll for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DeviceForgotten {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// An Authenticate was refused because the device is enrolled under another identity. Kept
/// in its own stream (`enrollment-refused-<enrollment>`), never the enrollment's: a refusal
/// does not change the enrollment, it is only evidence of an attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EnrollmentRefused {
    /// The enrollment key the request named (UDID or EnrollmentID).
    pub enrollment: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub udid: Option<String>,
    /// The certificate that asked.
    pub fingerprint_sha256: String,
    /// The certificate the enrollment is bound to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bound_fingerprint_sha256: Option<String>,
    pub reason: String,
}

/// A certificate was claimed by an enrollment (in the stream `identity-<fingerprint>`). A
/// certificate belongs to one enrollment: an Authenticate for another one with it is refused,
/// so one device cannot re-enroll as another with its own valid identity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct IdentityClaimed {
    pub fingerprint_sha256: String,
    /// The enrollment key (UDID, EnrollmentID, or `<device>:<user>`).
    pub enrollment: String,
}

/// A certificate another MDM server's CA issued, trusted because a migration imported it with
/// the enrollment it served there (`annal migrate from-nanomdm`). Kept in the stream
/// `imported-identities`, one event per certificate: the server accepts exactly these
/// certificates (by the SHA-256 of their DER) besides those chaining to its own trust anchors,
/// never any other certificate of the old CA. Each is also claimed (`IdentityClaimed`) by its
/// enrollment, so it serves that enrollment alone, and an admin can revoke it as any other.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct IdentityImported {
    pub fingerprint_sha256: String,
    /// The Annal enrollment key it is bound to.
    pub enrollment: String,
    /// Where it came from: `nanomdm`.
    pub source: String,
    /// The source's id for the enrollment (NanoMDM's `enrollments.id`).
    pub source_id: String,
}

event_data! {
    IdentityImported => "IdentityImported" v 1,
    IdentityClaimed => "IdentityClaimed" v 1,
    IdentityBound => "IdentityBound" v 1,
    IdentityRotated => "IdentityRotated" v 1,
    CertificateIssued => "CertificateIssued" v 1,
    IdentityRevoked => "IdentityRevoked" v 1,
    DeviceForgotten => "DeviceForgotten" v 1,
    EnrollmentRefused => "EnrollmentRefused" v 1,
}

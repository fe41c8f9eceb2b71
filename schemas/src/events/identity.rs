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

/// Authenticate bound this certificate to the enrollment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct IdentityBound {
    pub certificate: CertificateInfo,
    pub generation: u64,
}

/// The device presented a renewal issued by Annal's CA for the same device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct IdentityRotated {
    pub previous_fingerprint_sha256: String,
    pub certificate: CertificateInfo,
}

/// Annal's CA issued a certificate (SCEP, the server's TLS identity, simulator identities).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CertificateIssued {
    pub certificate: CertificateInfo,
    /// `scep`, `scep-renewal`, `server-tls` or `simulator`.
    pub profile: String,
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

event_data! {
    IdentityClaimed => "IdentityClaimed" v 1,
    IdentityBound => "IdentityBound" v 1,
    IdentityRotated => "IdentityRotated" v 1,
    CertificateIssued => "CertificateIssued" v 1,
}

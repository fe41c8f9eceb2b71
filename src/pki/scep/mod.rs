//! SCEP (RFC 8894): the protocol as pure functions over bytes. The HTTP edge
//! (`http::scep`) fetches challenges and appends events; everything here only parses, checks,
//! decrypts, issues and builds.
//!
//! A PKIOperation request is a SignedData (signer: a self-signed certificate, or for renewal
//! the identity Annal issued earlier) whose content is an EnvelopedData to the CA holding a
//! PKCS#10 request. The answer, a CertRep, is a SignedData by the CA whose content is an
//! EnvelopedData to the requester holding a certificates-only SignedData.

mod attrs;
pub mod client;
mod csr;
mod envelope;
mod message;
mod server;

#[cfg(test)]
mod ber_tests;
#[cfg(test)]
mod tests;

pub(crate) use envelope::seal;
pub use envelope::ContentCipher;
pub use message::{parse_pki_message, PkiMessage};
pub use server::{cert_rep, open_request, CertRepReply, EnrollmentRequest};

/// `messageType` (RFC 8894 §3.2.1.2), sent as a decimal PrintableString.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageType {
    CertRep,
    RenewalReq,
    PkcsReq,
    CertPoll,
    GetCert,
    GetCrl,
}

impl MessageType {
    pub fn code(self) -> &'static str {
        match self {
            MessageType::CertRep => "3",
            MessageType::RenewalReq => "17",
            MessageType::PkcsReq => "19",
            MessageType::CertPoll => "20",
            MessageType::GetCert => "21",
            MessageType::GetCrl => "22",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        [
            MessageType::CertRep,
            MessageType::RenewalReq,
            MessageType::PkcsReq,
            MessageType::CertPoll,
            MessageType::GetCert,
            MessageType::GetCrl,
        ]
        .into_iter()
        .find(|t| t.code() == code)
    }
}

/// `failInfo` (RFC 8894 §3.2.1.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailInfo {
    /// Unrecognized or unsupported algorithm.
    BadAlg,
    /// Integrity check (signature, digest, decryption) failed.
    BadMessageCheck,
    /// Transaction not permitted or supported (a wrong challenge, a bad CSR).
    BadRequest,
    /// The signingTime attribute was not close enough to the system time.
    BadTime,
    /// No certificate could be identified matching the provided criteria.
    BadCertId,
}

impl FailInfo {
    pub fn code(self) -> &'static str {
        match self {
            FailInfo::BadAlg => "0",
            FailInfo::BadMessageCheck => "1",
            FailInfo::BadRequest => "2",
            FailInfo::BadTime => "3",
            FailInfo::BadCertId => "4",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        [
            FailInfo::BadAlg,
            FailInfo::BadMessageCheck,
            FailInfo::BadRequest,
            FailInfo::BadTime,
            FailInfo::BadCertId,
        ]
        .into_iter()
        .find(|f| f.code() == code)
    }

    pub fn name(self) -> &'static str {
        match self {
            FailInfo::BadAlg => "badAlg",
            FailInfo::BadMessageCheck => "badMessageCheck",
            FailInfo::BadRequest => "badRequest",
            FailInfo::BadTime => "badTime",
            FailInfo::BadCertId => "badCertId",
        }
    }
}

/// A refusal with its reason: the failInfo goes to the client, the reason to the log. Reasons
/// never hold the challenge, keys or decrypted content.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{} ({reason})", info.name())]
pub struct Refusal {
    pub info: FailInfo,
    pub reason: String,
}

impl Refusal {
    pub fn new(info: FailInfo, reason: impl Into<String>) -> Self {
        Self {
            info,
            reason: reason.into(),
        }
    }
}

/// Why a SCEP exchange could not even be answered with a CertRep.
#[derive(Debug, thiserror::Error)]
pub enum ScepError {
    /// Not a PKIMessage at all (HTTP 400): not a SignedData, or without the attributes a
    /// CertRep must echo.
    #[error("not a SCEP PKIMessage: {0}")]
    NotPkiMessage(String),
    /// A CertRep (client side) that is malformed or not from the expected CA.
    #[error("bad CertRep: {0}")]
    BadCertRep(String),
    #[error(transparent)]
    Pki(#[from] super::PkiError),
}

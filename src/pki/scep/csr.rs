//! The PKCS#10 request inside a SCEP envelope: its subject, key, challengePassword, and a
//! check of its own signature (proof that the requester holds the key).

use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::cri_attributes::ParsedCriAttribute;
use x509_parser::prelude::FromDer;

use super::{FailInfo, Refusal};
use crate::pki::algorithms::{verify_with_spki, SigScheme};

/// What the server reads from a certificate request.
#[derive(Clone, PartialEq, Eq)]
pub struct CsrFacts {
    /// RFC 4514-style, as x509-parser prints it (the same form as `CertificateInfo::subject`).
    pub subject: String,
    /// DER of the subject Name, to compare with a renewed certificate's subject.
    pub subject_der: Vec<u8>,
    /// Never logged or recorded (see the `Debug` impl).
    pub challenge: Option<String>,
}

impl std::fmt::Debug for CsrFacts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CsrFacts")
            .field("subject", &self.subject)
            .field("challenge", &self.challenge.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Reads a DER PKCS#10 request and verifies its signature with its own key.
pub(crate) fn read_csr(der: &[u8]) -> Result<CsrFacts, Refusal> {
    let csr = match X509CertificationRequest::from_der(der) {
        Ok((&[], csr)) => csr,
        Ok(_) => {
            return Err(Refusal::new(
                FailInfo::BadRequest,
                "trailing bytes after the PKCS#10 request",
            ))
        }
        Err(e) => {
            return Err(Refusal::new(
                FailInfo::BadRequest,
                format!("not a PKCS#10 request: {e}"),
            ))
        }
    };
    let info = &csr.certification_request_info;
    let alg = csr.signature_algorithm.algorithm.as_bytes();
    let scheme = SigScheme::from_oid_bytes(alg);
    let digest = scheme.and_then(|s| s.digest_or(None));
    let (Some(scheme), Some(digest)) = (scheme, digest) else {
        return Err(Refusal::new(
            FailInfo::BadAlg,
            format!("PKCS#10 signature algorithm {}", csr.signature_algorithm.algorithm),
        ));
    };
    if !verify_with_spki(&info.subject_pki, scheme, digest, info.raw, &csr.signature_value.data) {
        return Err(Refusal::new(
            FailInfo::BadMessageCheck,
            "the PKCS#10 request's signature does not verify with its own key",
        ));
    }
    let mut challenge = None;
    for attr in info.iter_attributes() {
        if let ParsedCriAttribute::ChallengePassword(p) = attr.parsed_attribute() {
            if challenge.is_some() {
                return Err(Refusal::new(FailInfo::BadRequest, "two challengePassword attributes"));
            }
            challenge = Some(p.0.clone());
        }
    }
    Ok(CsrFacts {
        subject: info.subject.to_string(),
        subject_der: info.subject.as_raw().to_vec(),
        challenge,
    })
}

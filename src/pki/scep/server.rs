//! The CA's side of PKIOperation: open and check a request, and build the CertRep. The
//! decision that needs the log (is this one-time challenge still unused?) is the caller's.

use chrono::{DateTime, Utc};

use super::attrs;
use super::csr::{read_csr, CsrFacts};
use super::envelope::{open, seal, ContentCipher};
use super::{FailInfo, MessageType, PkiMessage, Refusal};
use crate::pki::cms_build::{certs_only, signed_data, Content};
use crate::pki::identity::parse_cert;
use crate::pki::{Ca, PkiError, TrustAnchors, VerifiedIdentity};

/// A PKCSReq or RenewalReq whose signature, envelope and CSR all checked out.
#[derive(Debug, Clone)]
pub struct EnrollmentRequest {
    pub message_type: MessageType,
    pub csr_der: Vec<u8>,
    pub csr: CsrFacts,
    /// The cipher the client used; the CertRep answers with the same one.
    pub cipher: ContentCipher,
    /// The still-valid certificate from Annal's CA that signed the request: a renewal, which
    /// needs no challenge.
    pub renewing: Option<VerifiedIdentity>,
}

/// Checks a parsed PKIMessage as a certificate request to `ca`: its signature, its message
/// type, the envelope (decrypted with the CA key), the CSR and, for a renewal, the signer's
/// certificate (`anchors` holds Annal's CA only: an external CA's identity is not renewed here).
pub fn open_request(
    msg: &PkiMessage,
    ca: &Ca,
    anchors: &TrustAnchors,
    now: DateTime<Utc>,
) -> Result<EnrollmentRequest, Refusal> {
    let message_type = match msg.message_type {
        Some(t @ (MessageType::PkcsReq | MessageType::RenewalReq)) => t,
        _ => {
            return Err(Refusal::new(
                FailInfo::BadRequest,
                format!("messageType {} is not supported", msg.message_type_code),
            ))
        }
    };
    msg.verify()?;
    // The CertRep seals the certificate to the signer's key, which RSA key transport needs to be
    // RSA: refused here, before a challenge is consumed or a certificate recorded, rather than
    // failing after both.
    if !crate::pki::identity::has_rsa_key(&msg.signer_cert_der) {
        return Err(Refusal::new(
            FailInfo::BadAlg,
            "the request must be signed with an RSA key: the answer is encrypted to it",
        ));
    }
    let envelope = msg
        .content
        .as_deref()
        .ok_or_else(|| Refusal::new(FailInfo::BadRequest, "the request carries no pkcsPKIEnvelope"))?;
    let (csr_der, cipher) = open(envelope, ca.cert_der(), ca.key_pkcs8_der())?;
    let csr = read_csr(&csr_der)?;

    let renewing = anchors.verify_leaf(&msg.signer_cert_der, now).ok();
    match (&renewing, message_type) {
        (None, MessageType::RenewalReq) => {
            return Err(Refusal::new(
                FailInfo::BadCertId,
                "a RenewalReq must be signed with a valid certificate from this CA",
            ))
        }
        (Some(current), _) => {
            let cert = parse_cert(&current.cert_der).map_err(|e| Refusal::new(FailInfo::BadCertId, e.to_string()))?;
            // A renewal keeps the identity: it cannot turn one device's certificate into another's.
            if cert.subject().as_raw() != csr.subject_der.as_slice() {
                return Err(Refusal::new(
                    FailInfo::BadRequest,
                    format!(
                        "a renewal must keep the subject {:?}; the request asks for {:?}",
                        current.subject, csr.subject
                    ),
                ));
            }
        }
        (None, _) => {}
    }
    Ok(EnrollmentRequest {
        message_type,
        csr_der,
        csr,
        cipher,
        renewing,
    })
}

/// What a CertRep reports.
pub enum CertRepReply<'a> {
    /// SUCCESS: `certificate`, sealed to `recipient_cert_der` (the request's signer) with `cipher`.
    Issued {
        certificate: &'a [u8],
        recipient_cert_der: &'a [u8],
        cipher: ContentCipher,
    },
    Failed(FailInfo),
}

/// A CertRep (RFC 8894 §3.3.2) signed by the CA: messageType 3, pkiStatus, failInfo on a
/// failure, the request's transactionID, its senderNonce as recipientNonce, a new senderNonce.
pub fn cert_rep(
    ca: &Ca,
    transaction_id: &str,
    recipient_nonce: &[u8],
    reply: CertRepReply<'_>,
    now: DateTime<Utc>,
) -> Result<Vec<u8>, PkiError> {
    let mut extra = vec![
        attrs::printable(attrs::MESSAGE_TYPE, MessageType::CertRep.code())?,
        attrs::printable(attrs::TRANSACTION_ID, transaction_id)?,
        attrs::nonce(attrs::SENDER_NONCE, &attrs::new_nonce()?)?,
        attrs::nonce(attrs::RECIPIENT_NONCE, recipient_nonce)?,
    ];
    let envelope;
    let content = match reply {
        CertRepReply::Issued {
            certificate,
            recipient_cert_der,
            cipher,
        } => {
            extra.push(attrs::printable(attrs::PKI_STATUS, attrs::STATUS_SUCCESS)?);
            envelope = seal(&certs_only(&[certificate])?, recipient_cert_der, cipher)?;
            Content::Attached(&envelope)
        }
        CertRepReply::Failed(info) => {
            extra.push(attrs::printable(attrs::PKI_STATUS, attrs::STATUS_FAILURE)?);
            extra.push(attrs::printable(attrs::FAIL_INFO, info.code())?);
            Content::Absent
        }
    };
    let key = crate::pki::key_cache::signing_key(ca.key_pkcs8_der())?;
    signed_data(ca.cert_der(), &[], &key, content, extra, now)
}

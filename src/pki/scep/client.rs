//! A SCEP client: what a device does to enroll or renew. Used by the tests and the device
//! simulator; every private-key operation runs in aws-lc-rs, like the server's.

use std::str::FromStr;

use chrono::Utc;
use der::asn1::{BitString, SetOfVec, Utf8StringRef};
use der::{Decode, Encode};
use x509_cert::attr::Attribute;
use x509_cert::name::Name;
use x509_cert::request::{CertReq, CertReqInfo, Version};
use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::Certificate;

use super::envelope::{open, seal};
use super::{attrs, parse_pki_message, ContentCipher, FailInfo, MessageType, ScepError};
use crate::pki::ca::{generate_pkcs8, rcgen_key};
use rcgen::PublicKeyData as _;

use crate::pki::cms_build::{attribute, enc_err, signed_data, Content, SigningKey};
use crate::pki::cms_raw::parse_signed_data;
use crate::pki::{DeviceIdentity, KeyKind, PkiError};

/// challengePassword (PKCS#9).
const CHALLENGE_PASSWORD: der::asn1::ObjectIdentifier = der::asn1::ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.7");
const SHA256_WITH_RSA: der::asn1::ObjectIdentifier = const_oid::db::rfc5912::SHA_256_WITH_RSA_ENCRYPTION;

/// A request on its way: the PKIMessage and what reading its CertRep needs.
pub struct PendingRequest {
    /// The DER PKIMessage to send (POST body, or base64 in `?message=`).
    pub der: Vec<u8>,
    pub transaction_id: String,
    sender_nonce: [u8; 16],
    /// The certificate and key that signed the request; the CertRep is sealed to them.
    signer: DeviceIdentity,
    /// The key the new certificate is for.
    new_key_pkcs8: Vec<u8>,
}

/// What the CA answered.
#[derive(Debug)]
pub enum CertRepOutcome {
    Issued(DeviceIdentity),
    Failed(Option<FailInfo>),
    Pending,
}

/// A PKCSReq for `subject` (RFC 4514, e.g. `CN=device-1,O=Annal`) with a new RSA 2048 key,
/// signed by a self-signed certificate for that key and sealed to `ca_cert_der`.
pub fn pkcs_req(
    ca_cert_der: &[u8],
    subject: &str,
    challenge: Option<&str>,
    cipher: ContentCipher,
) -> Result<PendingRequest, PkiError> {
    let key = generate_pkcs8(KeyKind::Rsa2048)?;
    let name = Name::from_str(subject).map_err(|e| PkiError::Issue(format!("subject {subject:?}: {e}")))?;
    let signer = self_signed(&key, subject)?;
    request(ca_cert_der, MessageType::PkcsReq, name, challenge, signer, key, cipher)
}

/// A RenewalReq: a new key for `current`'s subject, signed with `current`.
pub fn renewal_req(
    ca_cert_der: &[u8],
    current: &DeviceIdentity,
    cipher: ContentCipher,
) -> Result<PendingRequest, PkiError> {
    let cert = Certificate::from_der(&current.cert_der).map_err(|e| PkiError::Certificate(e.to_string()))?;
    let name = cert.tbs_certificate().subject().clone();
    let key = generate_pkcs8(KeyKind::Rsa2048)?;
    request(
        ca_cert_der,
        MessageType::RenewalReq,
        name,
        None,
        current.clone(),
        key,
        cipher,
    )
}

pub(super) fn request(
    ca_cert_der: &[u8],
    message_type: MessageType,
    subject: Name,
    challenge: Option<&str>,
    signer: DeviceIdentity,
    new_key_pkcs8: Vec<u8>,
    cipher: ContentCipher,
) -> Result<PendingRequest, PkiError> {
    let (subject, key) = (subject, new_key_pkcs8);
    request_encoded(
        ca_cert_der,
        message_type,
        subject,
        challenge,
        signer,
        key,
        cipher,
        |e| e,
    )
}

/// [`request`] with the sealed EnvelopedData re-encoded by `encode` before it is signed (tests
/// send it in BER, as some clients do).
#[allow(clippy::too_many_arguments)]
pub(super) fn request_encoded(
    ca_cert_der: &[u8],
    message_type: MessageType,
    subject: Name,
    challenge: Option<&str>,
    signer: DeviceIdentity,
    new_key_pkcs8: Vec<u8>,
    cipher: ContentCipher,
    encode: impl FnOnce(Vec<u8>) -> Vec<u8>,
) -> Result<PendingRequest, PkiError> {
    let csr = csr(&new_key_pkcs8, subject, challenge)?;
    let envelope = encode(seal(&csr, ca_cert_der, cipher)?);
    let sender_nonce = attrs::new_nonce()?;
    let transaction_id = crate::pki::fingerprint_sha256(&csr);
    let extra = vec![
        attrs::printable(attrs::MESSAGE_TYPE, message_type.code())?,
        attrs::printable(attrs::TRANSACTION_ID, &transaction_id)?,
        attrs::nonce(attrs::SENDER_NONCE, &sender_nonce)?,
    ];
    let key = SigningKey::from_pkcs8(&signer.key_pkcs8_der)?;
    let der = signed_data(
        &signer.cert_der,
        &[],
        &key,
        Content::Attached(&envelope),
        extra,
        Utc::now(),
    )?;
    Ok(PendingRequest {
        der,
        transaction_id,
        sender_nonce,
        signer,
        new_key_pkcs8,
    })
}

/// A PKCS#10 request signed with SHA-256 by `key_pkcs8` (RSA), with a challengePassword.
fn csr(key_pkcs8: &[u8], subject: Name, challenge: Option<&str>) -> Result<Vec<u8>, PkiError> {
    let spki_der = rcgen_key(key_pkcs8, KeyKind::Rsa2048)?.subject_public_key_info();
    let public_key = SubjectPublicKeyInfoOwned::from_der(&spki_der).map_err(enc_err)?;
    let mut attributes: Vec<Attribute> = Vec::new();
    if let Some(challenge) = challenge {
        attributes.push(attribute(
            CHALLENGE_PASSWORD,
            &Utf8StringRef::new(challenge).map_err(enc_err)?,
        )?);
    }
    let info = CertReqInfo {
        version: Version::V1,
        subject,
        public_key,
        attributes: SetOfVec::try_from(attributes).map_err(enc_err)?,
    };
    let signature = SigningKey::from_pkcs8(key_pkcs8)?.sign(&info.to_der().map_err(enc_err)?)?;
    CertReq {
        info,
        algorithm: AlgorithmIdentifierOwned {
            oid: SHA256_WITH_RSA,
            parameters: Some(der::asn1::Any::null()),
        },
        signature: BitString::from_bytes(&signature).map_err(enc_err)?,
    }
    .to_der()
    .map_err(enc_err)
}

/// A one-day self-signed certificate for the request's signer (RFC 8894 §2.3).
fn self_signed(key_pkcs8: &[u8], subject: &str) -> Result<DeviceIdentity, PkiError> {
    let key = rcgen_key(key_pkcs8, KeyKind::Rsa2048)?;
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, format!("SCEP request for {subject}"));
    let now = Utc::now();
    crate::pki::codec::set_validity(
        &mut params,
        now - chrono::Duration::hours(1),
        now + chrono::Duration::days(1),
    );
    let cert = params.self_signed(&key).map_err(|e| PkiError::Issue(e.to_string()))?;
    Ok(DeviceIdentity {
        cert_der: cert.der().to_vec(),
        key_pkcs8_der: key_pkcs8.to_vec(),
    })
}

impl PendingRequest {
    /// Reads the CertRep: signed by `ca_cert_der`, for this transaction and nonce; on success
    /// the new certificate (for the new key) with that key.
    pub fn read_cert_rep(&self, reply: &[u8], ca_cert_der: &[u8]) -> Result<CertRepOutcome, ScepError> {
        let bad = |m: String| ScepError::BadCertRep(m);
        let msg = parse_pki_message(reply).map_err(|e| bad(e.to_string()))?;
        if msg.message_type != Some(MessageType::CertRep) {
            return Err(bad(format!("messageType {}", msg.message_type_code)));
        }
        if msg.signer_cert_der != ca_cert_der {
            return Err(bad("not signed by the CA".to_owned()));
        }
        msg.verify().map_err(|r| bad(r.to_string()))?;
        if msg.transaction_id != self.transaction_id || msg.recipient_nonce.as_deref() != Some(&self.sender_nonce[..]) {
            return Err(bad(
                "transactionID or recipientNonce does not match the request".to_owned()
            ));
        }
        match msg.pki_status.as_deref() {
            Some(attrs::STATUS_SUCCESS) => {}
            Some(attrs::STATUS_FAILURE) => {
                return Ok(CertRepOutcome::Failed(
                    msg.fail_info.as_deref().and_then(FailInfo::from_code),
                ))
            }
            Some(attrs::STATUS_PENDING) => return Ok(CertRepOutcome::Pending),
            other => return Err(bad(format!("pkiStatus {other:?}"))),
        }
        let envelope = msg
            .content
            .as_deref()
            .ok_or_else(|| bad("no pkcsPKIEnvelope".to_owned()))?;
        let (certs_der, _) =
            open(envelope, &self.signer.cert_der, &self.signer.key_pkcs8_der).map_err(|r| bad(r.to_string()))?;
        let certs = parse_signed_data(&certs_der).map_err(|e| bad(e.to_string()))?;
        let spki = rcgen_key(&self.new_key_pkcs8, KeyKind::Rsa2048)?.subject_public_key_info();
        let issued = certs
            .certificates
            .iter()
            .find(|der| {
                Certificate::from_der(der)
                    .ok()
                    .and_then(|c| c.tbs_certificate().subject_public_key_info().to_der().ok())
                    .is_some_and(|k| k == spki)
            })
            .ok_or_else(|| bad("no certificate for the requested key".to_owned()))?;
        Ok(CertRepOutcome::Issued(DeviceIdentity {
            cert_der: issued.to_vec(),
            key_pkcs8_der: self.new_key_pkcs8.clone(),
        }))
    }
}

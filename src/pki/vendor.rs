//! MDM vendor signing of a customer's push-certificate request (seed papers 000 and 003).
//!
//! Apple's Push Certificates Portal takes the base64 of an XML plist with three strings:
//! `PushCertRequestCSR` (base64 of the customer's CSR, DER), `PushCertCertificateChain` (PEM:
//! the MDM vendor certificate, then Apple's WWDR intermediate and root) and `PushCertSignature`
//! (base64 of the vendor key's RSA PKCS#1 v1.5 SHA-256 signature over the CSR's DER).
//! Pure functions over bytes; the CLI (`annal vendor sign`) does the file I/O.

use aws_lc_rs::signature::UnparsedPublicKey;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::prelude::FromDer;
use x509_parser::x509::SubjectPublicKeyInfo;

use super::algorithms::{public_key_bytes, verification_alg, DigestAlg, KeyAlg, SigScheme};
use super::codec::{asn1_to_chrono, pem_decode_all, pem_encode};
use super::identity::parse_cert;
use super::keys::{looks_like_pem, SigningKey};
use super::PkiError;

const CSR_KEY: &str = "PushCertRequestCSR";
const CHAIN_KEY: &str = "PushCertCertificateChain";
const SIGNATURE_KEY: &str = "PushCertSignature";

#[derive(Debug, thiserror::Error)]
pub enum VendorError {
    #[error("bad certificate signing request: {0}")]
    Csr(String),
    #[error("the certificate signing request's own signature does not verify")]
    CsrSignature,
    #[error("the vendor private key does not belong to the vendor certificate")]
    KeyMismatch,
    #[error("the vendor key must be RSA (Apple issues MDM vendor certificates for RSA keys)")]
    NotRsa,
    #[error("the vendor certificate has expired (not after {0})")]
    Expired(DateTime<Utc>),
    #[error("the vendor certificate is not valid yet (not before {0})")]
    NotYetValid(DateTime<Utc>),
    #[error("bad push certificate request: {0}")]
    Request(String),
    #[error("PushCertSignature does not verify with the vendor certificate's key over the CSR")]
    BadSignature,
    #[error(transparent)]
    Pki(#[from] PkiError),
}

/// A vendor-signed push-certificate request, before or after its plist encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushCertRequest {
    pub csr_der: Vec<u8>,
    /// Vendor certificate first, then the chain above it, as PEM.
    pub chain_pem: String,
    pub signature: Vec<u8>,
}

/// What an admin checks before uploading a request (`annal vendor inspect-request`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestSummary {
    pub csr_subject: String,
    pub vendor_subject: String,
    pub vendor_not_after: DateTime<Utc>,
    /// Subjects of every certificate in the chain, vendor first.
    pub chain_subjects: Vec<String>,
}

/// Signs `csr` (PEM or DER) with the vendor key after checking the CSR's own signature, that
/// the key belongs to `vendor_cert` and that the certificate is valid at `now`. `chain`: the
/// extra certificates (PEM or DER, a PEM file may hold several), in order.
pub fn sign_push_cert_request(
    csr: &[u8],
    vendor_cert: &[u8],
    vendor_key: &[u8],
    chain: &[Vec<u8>],
    now: DateTime<Utc>,
) -> Result<PushCertRequest, VendorError> {
    let csr_der = der_of(csr, &["CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"]).map_err(VendorError::Csr)?;
    verify_csr(&csr_der)?;
    let vendor_der = der_of(vendor_cert, &["CERTIFICATE"]).map_err(PkiError::Certificate)?;
    let cert = parse_cert(&vendor_der)?;
    let key = SigningKey::from_pem_or_der(vendor_key)?;
    if !key.is_rsa() {
        return Err(VendorError::NotRsa);
    }
    if !key.matches(&cert) {
        return Err(VendorError::KeyMismatch);
    }
    let validity = cert.validity();
    let (not_before, not_after) = (
        asn1_to_chrono(validity.not_before)?,
        asn1_to_chrono(validity.not_after)?,
    );
    if now > not_after {
        return Err(VendorError::Expired(not_after));
    }
    if now < not_before {
        return Err(VendorError::NotYetValid(not_before));
    }
    let mut chain_pem = pem_encode("CERTIFICATE", &vendor_der);
    for file in chain {
        for der in certificates_of(file)? {
            parse_cert(&der)?;
            chain_pem.push_str(&pem_encode("CERTIFICATE", &der));
        }
    }
    let signature = key.sign(&csr_der)?;
    Ok(PushCertRequest {
        csr_der,
        chain_pem,
        signature,
    })
}

impl PushCertRequest {
    /// The XML plist Apple's portal decodes.
    pub fn to_plist_xml(&self) -> Result<Vec<u8>, VendorError> {
        let mut dict = plist::Dictionary::new();
        dict.insert(CSR_KEY.into(), B64.encode(&self.csr_der).into());
        dict.insert(CHAIN_KEY.into(), self.chain_pem.clone().into());
        dict.insert(SIGNATURE_KEY.into(), B64.encode(&self.signature).into());
        let mut out = Vec::new();
        plist::to_writer_xml(&mut out, &plist::Value::Dictionary(dict))
            .map_err(|e| VendorError::Request(e.to_string()))?;
        Ok(out)
    }

    /// What `annal vendor sign` writes and the portal takes: base64 of the XML plist.
    pub fn encode(&self) -> Result<String, VendorError> {
        Ok(B64.encode(self.to_plist_xml()?))
    }

    /// Reads an encoded request back (base64 of the plist, or the XML plist itself).
    pub fn decode(bytes: &[u8]) -> Result<Self, VendorError> {
        let text = std::str::from_utf8(bytes).map_err(|_| VendorError::Request("not text".to_owned()))?;
        let trimmed = text.trim_start();
        let xml = if trimmed.starts_with('<') {
            trimmed.as_bytes().to_vec()
        } else {
            let compact: String = trimmed.chars().filter(|c| !c.is_ascii_whitespace()).collect();
            B64.decode(compact)
                .map_err(|_| VendorError::Request("neither an XML plist nor base64".to_owned()))?
        };
        let dict: plist::Dictionary =
            plist::from_bytes(&xml).map_err(|e| VendorError::Request(format!("not a plist dictionary: {e}")))?;
        let string = |key: &str| -> Result<String, VendorError> {
            dict.get(key)
                .and_then(plist::Value::as_string)
                .map(str::to_owned)
                .ok_or_else(|| VendorError::Request(format!("`{key}`: missing or not a string")))
        };
        let base64 = |key: &str| -> Result<Vec<u8>, VendorError> {
            let value: String = string(key)?.chars().filter(|c| !c.is_ascii_whitespace()).collect();
            B64.decode(value)
                .map_err(|_| VendorError::Request(format!("`{key}`: not base64")))
        };
        Ok(Self {
            csr_der: base64(CSR_KEY)?,
            chain_pem: string(CHAIN_KEY)?,
            signature: base64(SIGNATURE_KEY)?,
        })
    }

    /// Checks the CSR's signature and `PushCertSignature` against the chain's first (vendor)
    /// certificate, and describes the request.
    pub fn verify(&self) -> Result<RequestSummary, VendorError> {
        let csr_subject = verify_csr(&self.csr_der)?;
        let chain = certificates_of(self.chain_pem.as_bytes())?;
        let vendor_der = chain
            .first()
            .ok_or_else(|| VendorError::Request(format!("`{CHAIN_KEY}`: no certificate")))?;
        let vendor = parse_cert(vendor_der)?;
        verify_with(
            vendor.public_key(),
            SigScheme::Rsa(None),
            &self.csr_der,
            &self.signature,
        )
        .map_err(|()| VendorError::BadSignature)?;
        let chain_subjects = chain
            .iter()
            .map(|der| parse_cert(der).map(|c| c.subject().to_string()))
            .collect::<Result<_, _>>()?;
        Ok(RequestSummary {
            csr_subject,
            vendor_subject: vendor.subject().to_string(),
            vendor_not_after: asn1_to_chrono(vendor.validity().not_after)?,
            chain_subjects,
        })
    }
}

/// Checks a PKCS#10 request's self-signature; returns its subject.
fn verify_csr(der: &[u8]) -> Result<String, VendorError> {
    let csr = match X509CertificationRequest::from_der(der) {
        Ok((&[], csr)) => csr,
        Ok(_) => return Err(VendorError::Csr("trailing bytes after the request".to_owned())),
        Err(e) => return Err(VendorError::Csr(e.to_string())),
    };
    let info = &csr.certification_request_info;
    let scheme = SigScheme::from_oid_bytes(csr.signature_algorithm.algorithm.as_bytes()).ok_or_else(|| {
        VendorError::Csr(format!(
            "unsupported signature algorithm {}",
            csr.signature_algorithm.algorithm.to_id_string()
        ))
    })?;
    verify_with(&info.subject_pki, scheme, info.raw, csr.signature_value.data.as_ref())
        .map_err(|()| VendorError::CsrSignature)?;
    Ok(info.subject.to_string())
}

/// Verifies `signature` over `message` with `spki`; the hash is the scheme's, else SHA-256.
fn verify_with(spki: &SubjectPublicKeyInfo<'_>, scheme: SigScheme, message: &[u8], signature: &[u8]) -> Result<(), ()> {
    let key = KeyAlg::from_spki(spki).map_err(|_| ())?;
    let digest = scheme.digest_or(Some(DigestAlg::Sha256)).ok_or(())?;
    let alg = verification_alg(key, scheme, digest).ok_or(())?;
    UnparsedPublicKey::new(alg, public_key_bytes(spki, key))
        .verify(message, signature)
        .map_err(|_| ())
}

/// The DER of a PEM block with one of `labels`, or the bytes themselves when they are not PEM.
fn der_of(bytes: &[u8], labels: &[&str]) -> Result<Vec<u8>, String> {
    if !looks_like_pem(bytes) {
        return Ok(bytes.to_vec());
    }
    let text = std::str::from_utf8(bytes).map_err(|_| "PEM that is not UTF-8".to_owned())?;
    pem_decode_all(text)
        .map_err(|e| e.to_string())?
        .into_iter()
        .find(|(label, _)| labels.contains(&label.as_str()))
        .map(|(_, der)| der)
        .ok_or_else(|| format!("no {} PEM block", labels.join(" or ")))
}

/// Every certificate of a PEM file, or the one DER certificate a `.cer` file holds.
fn certificates_of(bytes: &[u8]) -> Result<Vec<Vec<u8>>, PkiError> {
    if !looks_like_pem(bytes) {
        return Ok(vec![bytes.to_vec()]);
    }
    let text = std::str::from_utf8(bytes).map_err(|_| PkiError::Pem("not UTF-8".to_owned()))?;
    let certs: Vec<Vec<u8>> = pem_decode_all(text)?
        .into_iter()
        .filter(|(label, _)| label == "CERTIFICATE")
        .map(|(_, der)| der)
        .collect();
    if certs.is_empty() {
        return Err(PkiError::Pem("no CERTIFICATE block".to_owned()));
    }
    Ok(certs)
}

#[cfg(test)]
#[path = "vendor_tests.rs"]
mod tests;

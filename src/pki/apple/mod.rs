//! Apple-issued device identities: the certificate an iPhone, iPad or Mac got from Apple at
//! activation signs its over-the-air enrollment answer (phase 2 of the profile service) and its
//! Automated Device Enrollment MachineInfo request.
//!
//! Such a signer must chain to Apple iPhone Device CA (Apple iPhone Device CA → Apple iPhone
//! Certification Authority → Apple Root CA, shipped in this folder, see PROVENANCE.md). Its key
//! is RSA-1024, and so is the device CA's: RSA down to 1024 bits (PKCS#1 v1.5, SHA-1 or SHA-256)
//! is accepted here, for this chain only; every other verification in Annal keeps the 2048-bit
//! minimum. Validity dates in this chain are not checked: Apple iPhone Device CA expired in 2014
//! and Apple iPhone Certification Authority in 2022, yet devices still sign with identities
//! under them, and Apple's over-the-air enrollment guide says their validity dates should be
//! ignored. What a device sends may be BER (ber.rs).

use std::sync::OnceLock;

use aws_lc_rs::signature::UnparsedPublicKey;
use x509_parser::certificate::X509Certificate;

use annal_schemas::events::identity::CertificateInfo;

use super::algorithms::{key_description, legacy_rsa_alg, public_key_bytes, verification_alg, KeyAlg, SigScheme};
use super::cms_raw::{der_form, parse_signed_data};
use super::codec::pem_decode_all;
use super::identity::{certificate_info, parse_cert};
use super::mdm_signature::{attached_content, signed_message};
use super::{PkiError, SignatureError};

/// Apple Root CA (self-signed, RSA-2048).
pub const APPLE_ROOT_CA_PEM: &str = include_str!("AppleRootCA.pem");
/// Apple iPhone Certification Authority, issued by Apple Root CA (RSA-2048).
pub const APPLE_IPHONE_CERTIFICATION_AUTHORITY_PEM: &str = include_str!("AppleiPhoneCertificationAuthority.pem");
/// Apple iPhone Device CA, issued by Apple iPhone Certification Authority (RSA-1024): the
/// issuer of device identities.
pub const APPLE_IPHONE_DEVICE_CA_PEM: &str = include_str!("AppleiPhoneDeviceCA.pem");

/// A chain certificate is at most this many steps below its root.
const MAX_CHAIN: usize = 4;

/// Why a device-signed body was refused. Messages name keys and certificate subjects, never
/// the body or the signature.
#[derive(Debug, thiserror::Error)]
pub enum AppleIdentityError {
    /// The CMS itself: not BER/DER, no content, no or several signers, a digest mismatch.
    #[error(transparent)]
    Cms(#[from] SignatureError),
    #[error("signer key {key} is accepted only for certificates under {chain}; this one is issued by {issuer}")]
    WeakKeyOutsideChain { key: String, chain: String, issuer: String },
    #[error("the signer certificate is issued by {issuer}, which does not chain to {chain}")]
    NotUnderDeviceCa { issuer: String, chain: String },
    #[error("the signer certificate's signature does not verify with the key of {issuer}")]
    BadCertificateSignature { issuer: String },
    #[error("the CMS signature does not verify with the signer's {key} key")]
    BadSignature { key: String },
    #[error("unsupported signer key or algorithm: {0}")]
    Unsupported(String),
    /// A device CA or its chain (shipped or configured) is unusable.
    #[error("device CA chain: {0}")]
    Chain(String),
}

/// An attached SignedData from a device whose signer chains to a device CA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppleSigned {
    /// The encapsulated content (the attributes plist, the MachineInfo plist).
    pub content: Vec<u8>,
    /// The signer certificate exactly as embedded.
    pub signer_cert_der: Vec<u8>,
    /// Fingerprint, subject (the device's UDID-like CN), issuer, serial, validity.
    pub signer: CertificateInfo,
    /// The signer key, e.g. `RSA-1024`.
    pub key: String,
    /// The common name of the device CA that issued the signer.
    pub issued_by: String,
}

/// One CA that issues device identities, with its key ready to check their certificates.
struct DeviceCa {
    subject_der: Vec<u8>,
    name: String,
    key: KeyAlg,
    key_bytes: Vec<u8>,
}

/// The CAs device identities may be issued by: Apple iPhone Device CA in production
/// ([`AppleDeviceCa::apple`]); tests and labs add others with the same shape.
pub struct AppleDeviceCa {
    cas: Vec<DeviceCa>,
}

impl std::fmt::Debug for AppleDeviceCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppleDeviceCa")
            .field("cas", &self.chain_names())
            .finish()
    }
}

impl AppleDeviceCa {
    /// Apple iPhone Device CA, checked once to chain to the shipped Apple Root CA.
    pub fn apple() -> Result<&'static AppleDeviceCa, AppleIdentityError> {
        static APPLE: OnceLock<Result<AppleDeviceCa, String>> = OnceLock::new();
        APPLE
            .get_or_init(|| {
                Self::from_pem_bundle(
                    &[
                        APPLE_IPHONE_DEVICE_CA_PEM,
                        APPLE_IPHONE_CERTIFICATION_AUTHORITY_PEM,
                        APPLE_ROOT_CA_PEM,
                    ]
                    .concat(),
                )
                .map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|e| AppleIdentityError::Chain(e.clone()))
    }

    /// A device CA (`device_ca_der`, the direct issuer of device identities) and the chain above
    /// it (`chain_ders`, intermediates and a self-signed root, in any order). The device CA
    /// must chain to that root by signature; dates are not checked (see the module docs).
    pub fn new(device_ca_der: &[u8], chain_ders: &[Vec<u8>]) -> Result<Self, AppleIdentityError> {
        let chain_err = |e: PkiError| AppleIdentityError::Chain(e.to_string());
        let device_ca = parse_cert(device_ca_der).map_err(chain_err)?;
        let chain = chain_ders
            .iter()
            .map(|der| parse_cert(der))
            .collect::<Result<Vec<_>, _>>()
            .map_err(chain_err)?;
        let mut current = &device_ca;
        for _ in 0..=MAX_CHAIN {
            if current.subject().as_raw() == current.issuer().as_raw() && signed_by(current, current).is_ok() {
                return Ok(Self {
                    cas: vec![DeviceCa::new(&device_ca)?],
                });
            }
            let issuer = chain
                .iter()
                .find(|c| c.subject().as_raw() == current.issuer().as_raw() && signed_by(current, c).is_ok())
                .ok_or_else(|| {
                    AppleIdentityError::Chain(format!(
                        "{} does not chain to a root: no certificate of {} verifies it",
                        current.subject(),
                        current.issuer()
                    ))
                })?;
            current = issuer;
        }
        Err(AppleIdentityError::Chain(format!(
            "{} is more than {MAX_CHAIN} certificates below a root",
            device_ca.subject()
        )))
    }

    /// [`Self::new`] from PEM text: the first certificate is the device CA, the others its
    /// chain up to a self-signed root.
    pub fn from_pem_bundle(pem: &str) -> Result<Self, AppleIdentityError> {
        let ders: Vec<Vec<u8>> = pem_decode_all(pem)
            .map_err(|e| AppleIdentityError::Chain(e.to_string()))?
            .into_iter()
            .filter(|(label, _)| label == "CERTIFICATE")
            .map(|(_, der)| der)
            .collect();
        let (device_ca, chain) = ders
            .split_first()
            .ok_or_else(|| AppleIdentityError::Chain("no CERTIFICATE block".to_owned()))?;
        Self::new(device_ca, chain)
    }

    /// Apple's device CA plus `extra`'s (a lab's or a test's device CA), as `annal serve` uses
    /// them with `--ota-device-ca`.
    pub fn apple_with(extra: Option<AppleDeviceCa>) -> Result<Self, AppleIdentityError> {
        let mut cas: Vec<DeviceCa> = Self::apple()?.cas.iter().map(DeviceCa::clone_ca).collect();
        cas.extend(extra.into_iter().flat_map(|e| e.cas));
        Ok(Self { cas })
    }

    /// The device CAs' common names, for messages ("Apple iPhone Device CA").
    pub fn chain_names(&self) -> String {
        let names: Vec<&str> = self.cas.iter().map(|c| c.name.as_str()).collect();
        names.join(" or ")
    }
}

impl DeviceCa {
    fn new(cert: &X509Certificate<'_>) -> Result<Self, AppleIdentityError> {
        let spki = cert.public_key();
        let key = KeyAlg::from_spki(spki).map_err(AppleIdentityError::Unsupported)?;
        Ok(Self {
            subject_der: cert.subject().as_raw().to_vec(),
            name: common_name(cert),
            key,
            key_bytes: public_key_bytes(spki, key).to_vec(),
        })
    }

    fn clone_ca(&self) -> Self {
        Self {
            subject_der: self.subject_der.clone(),
            name: self.name.clone(),
            key: self.key,
            key_bytes: self.key_bytes.clone(),
        }
    }
}

fn common_name(cert: &X509Certificate<'_>) -> String {
    cert.subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map_or_else(|| cert.subject().to_string(), str::to_owned)
}

/// Verifies an attached CMS SignedData (BER or DER) from a device: the content digest and
/// signature, made by the embedded signer certificate, and that certificate's issuance by one of
/// `cas` (RSA-1024 allowed for this chain only). Used by OTA phase 2 and the ADE MachineInfo
/// request; production passes [`AppleDeviceCa::apple`].
pub fn verify_device_signed(body: &[u8], cas: &AppleDeviceCa) -> Result<AppleSigned, AppleIdentityError> {
    let der = der_form(body)?;
    let sd = parse_signed_data(&der)?;
    let content = attached_content(&sd)?;
    // The digest of the content first: a changed body is named as such, whoever signed it.
    let signed = signed_message(&sd, content.as_bytes())?;
    let leaf = &signed.cert;
    let key = key_description(leaf.public_key());

    let issuer = leaf.issuer().to_string();
    let Some(ca) = cas.cas.iter().find(|ca| ca.subject_der == leaf.issuer().as_raw()) else {
        let chain = cas.chain_names();
        return Err(match super::algorithms::rsa_bits(leaf.public_key()) {
            Some(bits) if bits < 2048 => AppleIdentityError::WeakKeyOutsideChain { key, chain, issuer },
            _ => AppleIdentityError::NotUnderDeviceCa { issuer, chain },
        });
    };
    issued_by(leaf, ca).map_err(|_| AppleIdentityError::BadCertificateSignature { issuer: issuer.clone() })?;

    let key_alg = KeyAlg::from_spki(leaf.public_key()).map_err(AppleIdentityError::Unsupported)?;
    let alg = match (key_alg, signed.scheme) {
        (KeyAlg::Rsa, SigScheme::Rsa(_)) => legacy_rsa_alg(signed.digest),
        _ => verification_alg(key_alg, signed.scheme, signed.digest),
    }
    .ok_or_else(|| AppleIdentityError::Unsupported(format!("{key} with {}", signed.algorithm)))?;
    UnparsedPublicKey::new(alg, public_key_bytes(leaf.public_key(), key_alg))
        .verify(&signed.message, signed.signature)
        .map_err(|_| AppleIdentityError::BadSignature { key: key.clone() })?;

    let signer = certificate_info(signed.cert_der).map_err(|e| AppleIdentityError::Chain(e.to_string()))?;
    Ok(AppleSigned {
        content: content.as_bytes().to_vec(),
        signer_cert_der: signed.cert_der.to_vec(),
        signer,
        key,
        issued_by: ca.name.clone(),
    })
}

/// Whether `cert`'s signature verifies with `ca`'s key (RSA from 1024 bits).
fn issued_by(cert: &X509Certificate<'_>, ca: &DeviceCa) -> Result<(), ()> {
    let (scheme, digest) = cert_algorithms(cert)?;
    let alg = match (ca.key, scheme) {
        (KeyAlg::Rsa, SigScheme::Rsa(_)) => legacy_rsa_alg(digest),
        (key, scheme) => verification_alg(key, scheme, digest),
    }
    .ok_or(())?;
    UnparsedPublicKey::new(alg, &ca.key_bytes)
        .verify(cert.tbs_certificate.as_ref(), cert.signature_value.data.as_ref())
        .map_err(|_| ())
}

/// Whether `cert` is signed by `issuer`'s key (chain building at construction).
fn signed_by(cert: &X509Certificate<'_>, issuer: &X509Certificate<'_>) -> Result<(), ()> {
    let ca = DeviceCa::new(issuer).map_err(|_| ())?;
    issued_by(cert, &ca)
}

/// The certificate's signature scheme and hash; the signed and unsigned copies must agree.
fn cert_algorithms(cert: &X509Certificate<'_>) -> Result<(SigScheme, super::algorithms::DigestAlg), ()> {
    let oid = &cert.signature_algorithm.algorithm;
    if cert.tbs_certificate.signature.algorithm != *oid {
        return Err(());
    }
    let scheme = SigScheme::from_oid_bytes(oid.as_bytes()).ok_or(())?;
    Ok((scheme, scheme.digest_or(None).ok_or(())?))
}

#[cfg(test)]
mod tests;

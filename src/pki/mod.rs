//! PKI: Annal's CA, device identities, Mdm-Signature (detached CMS) verification and signing,
//! attached CMS signatures (configuration profiles) and MDM vendor signing of push-certificate
//! requests.
//!
//! Every private-key operation (key generation, certificate and CMS signing) runs in aws-lc-rs;
//! rcgen builds certificates, x509-parser reads them (zero-copy), and the cms/der crates give the
//! CMS structures. Verification never trusts the certificate embedded in a CMS message by itself:
//! [`TrustAnchors::verify_leaf`] checks it against Annal's CA (or a configured external CA).

mod algorithms;
pub mod apple;
pub mod ber;
mod ca;
mod cms_build;
mod cms_envelope;
mod cms_raw;
mod cms_sign;
mod codec;
mod identity;
mod key_cache;
pub(crate) mod keys;
mod leaf_cache;
mod mdm_signature;
pub mod profile;
pub mod scep;
mod signer;
mod trust;
pub mod vendor;

#[cfg(test)]
mod ber_interop_tests;
#[cfg(test)]
mod ca_tests;
#[cfg(test)]
mod interop_tests;
#[cfg(test)]
mod signature_tests;
#[cfg(test)]
pub(crate) mod test_support;
#[cfg(test)]
mod trust_tests;

use std::path::PathBuf;

use chrono::{DateTime, Utc};

pub use ca::Ca;
pub use cms_envelope::envelope;
pub use cms_sign::{CmsSigner, MdmDigest};
pub(crate) use codec::{pem_decode_all as pem_blocks, pem_encode as pem_block};
pub use identity::{
    certificate_info, fingerprint_sha256, has_rsa_key, subject_alt_names, DeviceIdentity, KeyKind, VerifiedIdentity,
};
pub use mdm_signature::{verify_attached, verify_mdm_signature, SignedContent};
pub use signer::trusted_signer;
pub use trust::TrustAnchors;

/// Errors of the CA, of identities and of certificate trust checks.
///
/// Messages name files, algorithms and validity dates; they never contain key material.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// One of `ca.key`/`ca.pem` exists without the other: regenerating would orphan every
    /// certificate issued so far, so an operator has to look.
    #[error("CA directory {0} holds only one of ca.key and ca.pem; refusing to create a new CA over it")]
    IncompleteCa(PathBuf),
    #[error("the CA private key does not belong to the CA certificate")]
    KeyMismatch,
    #[error("cryptographic operation failed: {0}")]
    Crypto(&'static str),
    #[error("certificate generation failed: {0}")]
    Issue(String),
    #[error("bad PEM: {0}")]
    Pem(String),
    #[error("bad certificate: {0}")]
    Certificate(String),
    #[error("bad or unsupported private key")]
    PrivateKey,
    #[error("DER encoding failed: {0}")]
    Encoding(String),
    #[error("no trust anchor configured")]
    NoAnchors,
    #[error("certificate is not yet valid (not before {0})")]
    NotYetValid(DateTime<Utc>),
    #[error("certificate has expired (not after {0})")]
    Expired(DateTime<Utc>),
    #[error("certificate was not issued by a trusted CA (issuer {0})")]
    UnknownIssuer(String),
    #[error("certificate signature does not verify with the issuing CA's key")]
    BadCertificateSignature,
    /// A device identity must allow TLS client authentication (or name no purpose at all, as
    /// Apple's device identities do): a server's certificate is not a device.
    #[error("the certificate is not a device identity: its extendedKeyUsage ({0}) does not include clientAuth")]
    NotClientAuth(String),
    #[error("unsupported algorithm {0}")]
    UnsupportedAlgorithm(String),
}

/// Why an `Mdm-Signature` header was refused.
///
/// One variant per cause so the HTTP layer can log and count them; messages never contain the
/// request body, the signature bytes or keys.
#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    #[error("Mdm-Signature is not valid base64")]
    BadBase64,
    /// Not readable BER/DER, or not a ContentInfo holding a SignedData; the text says which.
    #[error("not a CMS SignedData: {0}")]
    NotSignedData(String),
    #[error("Mdm-Signature encapsulates content; a detached signature over the body is required")]
    NotDetached,
    #[error("the CMS SignedData carries no content")]
    NoContent,
    #[error("Mdm-Signature has no signer")]
    NoSigner,
    #[error("Mdm-Signature has {0} signers; exactly one is required")]
    MultipleSigners(usize),
    #[error("the signer's certificate is not embedded in the Mdm-Signature")]
    SignerCertificateMissing,
    #[error("the signed attributes lack a valid {0} attribute")]
    MissingAttribute(&'static str),
    #[error("message digest mismatch: the body is not the one that was signed")]
    DigestMismatch,
    #[error("the CMS signature does not verify with the signer certificate's key")]
    BadSignature,
    /// An RSA key under 2048 bits (named, e.g. `RSA-1024`): accepted only for Apple's device
    /// identities (`apple::verify_device_signed`).
    #[error("signer key {0} is under the 2048-bit minimum (RSA-1024 is accepted only under Apple iPhone Device CA)")]
    WeakKey(String),
    #[error("unsupported algorithm {0}")]
    UnsupportedAlgorithm(String),
    #[error("the signer certificate is not trusted: {0}")]
    Untrusted(#[source] PkiError),
}

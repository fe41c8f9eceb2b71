//! Algorithm identifiers and their mapping to aws-lc-rs digests and verification algorithms.
//!
//! Certificates (trust.rs) and CMS signer infos (mdm_signature.rs) name algorithms by OID; both
//! resolve them here so the set of accepted algorithms is defined once.

use aws_lc_rs::digest;
use aws_lc_rs::signature::{self, VerificationAlgorithm};
use const_oid::db::rfc5912;
use const_oid::ObjectIdentifier;
use x509_parser::x509::SubjectPublicKeyInfo;

/// ecdsa-with-SHA1 (RFC 3279); const-oid's database has only the SHA-2 variants.
const ECDSA_WITH_SHA_1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.1");

/// Message digests accepted in CMS signer infos and certificate signatures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DigestAlg {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl DigestAlg {
    pub(crate) const ALL: [DigestAlg; 4] = [DigestAlg::Sha1, DigestAlg::Sha256, DigestAlg::Sha384, DigestAlg::Sha512];

    /// Matches on the OID's DER bytes so callers holding x509-parser or der OIDs can both ask.
    pub(crate) fn from_oid_bytes(oid: &[u8]) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.oid().as_bytes() == oid)
    }

    pub(crate) fn oid(self) -> ObjectIdentifier {
        match self {
            DigestAlg::Sha1 => rfc5912::ID_SHA_1,
            DigestAlg::Sha256 => rfc5912::ID_SHA_256,
            DigestAlg::Sha384 => rfc5912::ID_SHA_384,
            DigestAlg::Sha512 => rfc5912::ID_SHA_512,
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }

    pub(crate) fn digest(self, data: &[u8]) -> digest::Digest {
        let alg = match self {
            DigestAlg::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
            DigestAlg::Sha256 => &digest::SHA256,
            DigestAlg::Sha384 => &digest::SHA384,
            DigestAlg::Sha512 => &digest::SHA512,
        };
        digest::digest(alg, data)
    }
}

/// The public-key families Annal verifies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KeyAlg {
    Rsa,
    EcP256,
    EcP384,
}

impl KeyAlg {
    /// Classifies a certificate's key; the error is the unsupported algorithm or curve OID.
    pub(crate) fn from_spki(spki: &SubjectPublicKeyInfo<'_>) -> Result<Self, String> {
        let alg = spki.algorithm.algorithm.as_bytes();
        if alg == rfc5912::RSA_ENCRYPTION.as_bytes() {
            return Ok(KeyAlg::Rsa);
        }
        if alg != rfc5912::ID_EC_PUBLIC_KEY.as_bytes() {
            return Err(spki.algorithm.algorithm.to_id_string());
        }
        let curve = spki.algorithm.parameters.as_ref().and_then(|p| p.as_oid().ok());
        match curve {
            Some(c) if c.as_bytes() == rfc5912::SECP_256_R_1.as_bytes() => Ok(KeyAlg::EcP256),
            Some(c) if c.as_bytes() == rfc5912::SECP_384_R_1.as_bytes() => Ok(KeyAlg::EcP384),
            Some(c) => Err(format!("EC curve {}", c.to_id_string())),
            None => Err("EC key without a named curve".to_owned()),
        }
    }
}

/// The key bytes aws-lc-rs parses fastest: PKCS#1 `RSAPublicKey` for RSA (the SPKI bit string)
/// and the whole SubjectPublicKeyInfo for EC keys (its first parse attempt).
pub(crate) fn public_key_bytes<'a>(spki: &'a SubjectPublicKeyInfo<'_>, key: KeyAlg) -> &'a [u8] {
    match key {
        KeyAlg::Rsa => spki.subject_public_key.data.as_ref(),
        KeyAlg::EcP256 | KeyAlg::EcP384 => spki.raw,
    }
}

/// What a signature-algorithm OID says: the key family and, if the OID names one, the hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SigScheme {
    /// RSA PKCS#1 v1.5. `None` for bare rsaEncryption, which CMS allows: the hash is then the
    /// signer info's digestAlgorithm (RFC 5652 §5.3).
    Rsa(Option<DigestAlg>),
    /// ECDSA. `None` for id-ecPublicKey used as a signature algorithm, seen in some CMS encoders.
    Ecdsa(Option<DigestAlg>),
}

impl SigScheme {
    pub(crate) fn from_oid_bytes(oid: &[u8]) -> Option<Self> {
        use DigestAlg::*;
        let table: [(ObjectIdentifier, SigScheme); 10] = [
            (rfc5912::RSA_ENCRYPTION, SigScheme::Rsa(None)),
            (rfc5912::SHA_1_WITH_RSA_ENCRYPTION, SigScheme::Rsa(Some(Sha1))),
            (rfc5912::SHA_256_WITH_RSA_ENCRYPTION, SigScheme::Rsa(Some(Sha256))),
            (rfc5912::SHA_384_WITH_RSA_ENCRYPTION, SigScheme::Rsa(Some(Sha384))),
            (rfc5912::SHA_512_WITH_RSA_ENCRYPTION, SigScheme::Rsa(Some(Sha512))),
            (rfc5912::ID_EC_PUBLIC_KEY, SigScheme::Ecdsa(None)),
            (ECDSA_WITH_SHA_1, SigScheme::Ecdsa(Some(Sha1))),
            (rfc5912::ECDSA_WITH_SHA_256, SigScheme::Ecdsa(Some(Sha256))),
            (rfc5912::ECDSA_WITH_SHA_384, SigScheme::Ecdsa(Some(Sha384))),
            (rfc5912::ECDSA_WITH_SHA_512, SigScheme::Ecdsa(Some(Sha512))),
        ];
        table.into_iter().find(|(o, _)| o.as_bytes() == oid).map(|(_, s)| s)
    }

    /// The hash this scheme uses, falling back to `default` when the OID names none.
    pub(crate) fn digest_or(self, default: Option<DigestAlg>) -> Option<DigestAlg> {
        match self {
            SigScheme::Rsa(d) | SigScheme::Ecdsa(d) => d.or(default),
        }
    }
}

/// The aws-lc-rs algorithm verifying `scheme` signatures made with hash `digest` by a `key`.
/// `None` when the combination is unsupported (wrong key family, or ECDSA P-384 with SHA-1).
pub(crate) fn verification_alg(
    key: KeyAlg,
    scheme: SigScheme,
    digest: DigestAlg,
) -> Option<&'static dyn VerificationAlgorithm> {
    use DigestAlg::*;
    let alg: &'static dyn VerificationAlgorithm = match (key, scheme, digest) {
        // RSA keys below 2048 bits are refused: devices and Annal's CA use 2048 or more.
        (KeyAlg::Rsa, SigScheme::Rsa(_), Sha1) => &signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
        (KeyAlg::Rsa, SigScheme::Rsa(_), Sha256) => &signature::RSA_PKCS1_2048_8192_SHA256,
        (KeyAlg::Rsa, SigScheme::Rsa(_), Sha384) => &signature::RSA_PKCS1_2048_8192_SHA384,
        (KeyAlg::Rsa, SigScheme::Rsa(_), Sha512) => &signature::RSA_PKCS1_2048_8192_SHA512,
        (KeyAlg::EcP256, SigScheme::Ecdsa(_), Sha1) => &signature::ECDSA_P256_SHA1_ASN1,
        (KeyAlg::EcP256, SigScheme::Ecdsa(_), Sha256) => &signature::ECDSA_P256_SHA256_ASN1,
        (KeyAlg::EcP256, SigScheme::Ecdsa(_), Sha384) => &signature::ECDSA_P256_SHA384_ASN1,
        (KeyAlg::EcP256, SigScheme::Ecdsa(_), Sha512) => &signature::ECDSA_P256_SHA512_ASN1,
        (KeyAlg::EcP384, SigScheme::Ecdsa(_), Sha256) => &signature::ECDSA_P384_SHA256_ASN1,
        (KeyAlg::EcP384, SigScheme::Ecdsa(_), Sha384) => &signature::ECDSA_P384_SHA384_ASN1,
        (KeyAlg::EcP384, SigScheme::Ecdsa(_), Sha512) => &signature::ECDSA_P384_SHA512_ASN1,
        _ => return None,
    };
    Some(alg)
}

/// RSA PKCS#1 v1.5 verification from 1024-bit keys up, for Apple's device-identity chain only
/// (apple.rs): Apple iPhone Device CA and the device identities it issues have 1024-bit keys.
/// Everywhere else [`verification_alg`] keeps the 2048-bit minimum.
pub(crate) fn legacy_rsa_alg(digest: DigestAlg) -> Option<&'static dyn VerificationAlgorithm> {
    let alg: &'static dyn VerificationAlgorithm = match digest {
        DigestAlg::Sha1 => &signature::RSA_PKCS1_1024_8192_SHA1_FOR_LEGACY_USE_ONLY,
        DigestAlg::Sha256 => &signature::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY,
        DigestAlg::Sha512 => &signature::RSA_PKCS1_1024_8192_SHA512_FOR_LEGACY_USE_ONLY,
        // aws-lc-rs has no 1024-bit SHA-384 variant; such keys need the standard minimum.
        DigestAlg::Sha384 => &signature::RSA_PKCS1_2048_8192_SHA384,
    };
    Some(alg)
}

/// The size in bits of an RSA key's modulus; `None` for other keys or an unreadable one.
pub(crate) fn rsa_bits(spki: &SubjectPublicKeyInfo<'_>) -> Option<usize> {
    match spki.parsed() {
        Ok(x509_parser::public_key::PublicKey::RSA(rsa)) => {
            let modulus = rsa.modulus;
            let start = modulus.iter().position(|b| *b != 0)?;
            Some(8 * (modulus.len() - start) - modulus[start].leading_zeros() as usize)
        }
        _ => None,
    }
}

/// A key's name for messages: `RSA-1024`, `EC P-256`, or its algorithm.
pub(crate) fn key_description(spki: &SubjectPublicKeyInfo<'_>) -> String {
    match (KeyAlg::from_spki(spki), rsa_bits(spki)) {
        (Ok(KeyAlg::Rsa), Some(bits)) => format!("RSA-{bits}"),
        (Ok(KeyAlg::EcP256), _) => "EC P-256".to_owned(),
        (Ok(KeyAlg::EcP384), _) => "EC P-384".to_owned(),
        (Ok(KeyAlg::Rsa), None) => "RSA (unreadable modulus)".to_owned(),
        (Err(alg), _) => alg,
    }
}

/// Verifies `signature` over `message` with the key of `spki` (no trust decision: the caller
/// decides whether this key counts).
pub(crate) fn verify_with_spki(
    spki: &SubjectPublicKeyInfo<'_>,
    scheme: SigScheme,
    digest: DigestAlg,
    message: &[u8],
    signature: &[u8],
) -> bool {
    let Ok(key) = KeyAlg::from_spki(spki) else {
        return false;
    };
    let Some(alg) = verification_alg(key, scheme, digest) else {
        return false;
    };
    signature::UnparsedPublicKey::new(alg, public_key_bytes(spki, key))
        .verify(message, signature)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_oids_round_trip() {
        for d in DigestAlg::ALL {
            assert_eq!(DigestAlg::from_oid_bytes(d.oid().as_bytes()), Some(d));
        }
        assert_eq!(DigestAlg::from_oid_bytes(rfc5912::RSA_ENCRYPTION.as_bytes()), None);
    }

    #[test]
    fn signature_schemes() {
        let sha1_rsa = SigScheme::from_oid_bytes(rfc5912::SHA_1_WITH_RSA_ENCRYPTION.as_bytes());
        assert_eq!(sha1_rsa, Some(SigScheme::Rsa(Some(DigestAlg::Sha1))));
        let bare = SigScheme::from_oid_bytes(rfc5912::RSA_ENCRYPTION.as_bytes());
        assert_eq!(
            bare.and_then(|s| s.digest_or(Some(DigestAlg::Sha256))),
            Some(DigestAlg::Sha256)
        );
        assert_eq!(
            SigScheme::from_oid_bytes(rfc5912::MD_5_WITH_RSA_ENCRYPTION.as_bytes()),
            None
        );
        assert_eq!(
            SigScheme::from_oid_bytes(ECDSA_WITH_SHA_1.as_bytes()),
            Some(SigScheme::Ecdsa(Some(DigestAlg::Sha1)))
        );
    }

    #[test]
    fn key_and_scheme_must_agree() {
        assert!(verification_alg(KeyAlg::Rsa, SigScheme::Ecdsa(None), DigestAlg::Sha256).is_none());
        assert!(verification_alg(KeyAlg::EcP384, SigScheme::Ecdsa(None), DigestAlg::Sha1).is_none());
        assert!(verification_alg(KeyAlg::EcP256, SigScheme::Ecdsa(None), DigestAlg::Sha1).is_some());
    }
}

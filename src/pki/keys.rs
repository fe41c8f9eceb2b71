//! Private keys loaded into aws-lc-rs, from the encodings admins actually have: PKCS#8
//! (`PRIVATE KEY`), PKCS#1 (`RSA PRIVATE KEY`, what `openssl genrsa` wrote for years) and SEC1
//! (`EC PRIVATE KEY`), as PEM or DER. Every signature Annal makes goes through [`SigningKey`].

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair as _, RsaKeyPair, ECDSA_P256_SHA256_ASN1_SIGNING, RSA_PKCS1_SHA256};
use cms::spki::AlgorithmIdentifierOwned;
use const_oid::db::rfc5912::{ECDSA_WITH_SHA_256, RSA_ENCRYPTION};
use der::asn1::Any;
use x509_parser::certificate::X509Certificate;

use super::codec::pem_decode_all;
use super::PkiError;

/// A private key able to sign with SHA-256: RSA PKCS#1 v1.5 or ECDSA P-256.
pub(crate) enum SigningKey {
    Rsa(RsaKeyPair),
    Ecdsa(EcdsaKeyPair),
}

impl SigningKey {
    pub(crate) fn from_pkcs8(der: &[u8]) -> Result<Self, PkiError> {
        if let Ok(rsa) = RsaKeyPair::from_pkcs8(der) {
            return Ok(SigningKey::Rsa(rsa));
        }
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, der)
            .map(SigningKey::Ecdsa)
            .map_err(|_| PkiError::PrivateKey)
    }

    /// Reads the first private-key block of a PEM text, or a DER key in any of the three
    /// encodings. Encrypted keys are refused (`openssl pkey -in k.pem -out plain.pem` first).
    pub(crate) fn from_pem_or_der(bytes: &[u8]) -> Result<Self, PkiError> {
        if !looks_like_pem(bytes) {
            return Self::from_der_any(bytes);
        }
        let text = std::str::from_utf8(bytes).map_err(|_| PkiError::Pem("not UTF-8 text".to_owned()))?;
        for (label, der) in pem_decode_all(text)? {
            match label.as_str() {
                "PRIVATE KEY" => return Self::from_pkcs8(&der),
                "RSA PRIVATE KEY" => {
                    return RsaKeyPair::from_der(&der)
                        .map(SigningKey::Rsa)
                        .map_err(|_| PkiError::PrivateKey)
                }
                "EC PRIVATE KEY" => return Self::from_sec1(&der),
                "ENCRYPTED PRIVATE KEY" => {
                    return Err(PkiError::Pem(
                        "the private key is encrypted; decrypt it first (openssl pkey)".to_owned(),
                    ))
                }
                _ => {}
            }
        }
        Err(PkiError::Pem(
            "no PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY block".to_owned(),
        ))
    }

    fn from_der_any(der: &[u8]) -> Result<Self, PkiError> {
        Self::from_pkcs8(der)
            .or_else(|_| RsaKeyPair::from_der(der).map(SigningKey::Rsa))
            .or_else(|_| Self::from_sec1(der))
            .map_err(|_| PkiError::PrivateKey)
    }

    fn from_sec1(der: &[u8]) -> Result<Self, PkiError> {
        EcdsaKeyPair::from_private_key_der(&ECDSA_P256_SHA256_ASN1_SIGNING, der)
            .map(SigningKey::Ecdsa)
            .map_err(|_| PkiError::PrivateKey)
    }

    /// Signs with SHA-256: RSA PKCS#1 v1.5 or ECDSA (ASN.1 DER signature).
    pub(crate) fn sign(&self, message: &[u8]) -> Result<Vec<u8>, PkiError> {
        let rng = SystemRandom::new();
        match self {
            SigningKey::Rsa(key) => {
                let mut signature = vec![0u8; key.public_modulus_len()];
                key.sign(&RSA_PKCS1_SHA256, &rng, message, &mut signature)
                    .map_err(|_| PkiError::Crypto("RSA signing"))?;
                Ok(signature)
            }
            SigningKey::Ecdsa(key) => key
                .sign(&rng, message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| PkiError::Crypto("ECDSA signing")),
        }
    }

    /// The signerInfo signatureAlgorithm: rsaEncryption with NULL parameters is what OpenSSL
    /// and Apple emit for RSA.
    pub(crate) fn signature_algorithm(&self) -> AlgorithmIdentifierOwned {
        match self {
            SigningKey::Rsa(_) => AlgorithmIdentifierOwned {
                oid: RSA_ENCRYPTION,
                parameters: Some(Any::null()),
            },
            SigningKey::Ecdsa(_) => AlgorithmIdentifierOwned {
                oid: ECDSA_WITH_SHA_256,
                parameters: None,
            },
        }
    }

    pub(crate) fn is_rsa(&self) -> bool {
        matches!(self, SigningKey::Rsa(_))
    }

    /// Whether `cert` carries this key's public half. Both encodings compared are the SPKI bit
    /// string's content: PKCS#1 `RSAPublicKey` for RSA, the uncompressed point for EC.
    pub(crate) fn matches(&self, cert: &X509Certificate<'_>) -> bool {
        let public: &[u8] = match self {
            SigningKey::Rsa(key) => key.public_key().as_ref(),
            SigningKey::Ecdsa(key) => key.public_key().as_ref(),
        };
        public == cert.public_key().subject_public_key.data.as_ref()
    }
}

pub(crate) fn looks_like_pem(bytes: &[u8]) -> bool {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    bytes[start..].starts_with(b"-----BEGIN ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::codec::pem_encode;
    use crate::pki::identity::parse_cert;
    use crate::pki::test_support::identity;
    use crate::pki::KeyKind;

    #[test]
    fn reads_pkcs8_in_pem_and_der_and_matches_its_certificate() {
        for kind in [KeyKind::Rsa2048, KeyKind::EcdsaP256] {
            let id = identity(kind);
            let cert = parse_cert(&id.cert_der).expect("cert");
            let from_pem = SigningKey::from_pem_or_der(id.key_pem().as_bytes()).expect("pem");
            let from_der = SigningKey::from_pem_or_der(&id.key_pkcs8_der).expect("der");
            assert!(from_pem.matches(&cert) && from_der.matches(&cert), "{kind:?}");
            assert_eq!(from_pem.is_rsa(), kind == KeyKind::Rsa2048);
        }
        let rsa = SigningKey::from_pkcs8(&identity(KeyKind::Rsa2048).key_pkcs8_der).expect("rsa");
        assert!(!rsa.matches(&parse_cert(&identity(KeyKind::EcdsaP256).cert_der).expect("cert")));
    }

    #[test]
    fn refuses_encrypted_unknown_and_garbage_keys() {
        let encrypted = pem_encode("ENCRYPTED PRIVATE KEY", b"x");
        let err = SigningKey::from_pem_or_der(encrypted.as_bytes())
            .err()
            .map(|e| e.to_string());
        assert!(err.unwrap_or_default().contains("encrypted"));
        let cert_only = pem_encode("CERTIFICATE", b"x");
        assert!(matches!(
            SigningKey::from_pem_or_der(cert_only.as_bytes()),
            Err(PkiError::Pem(_))
        ));
        assert!(matches!(
            SigningKey::from_pem_or_der(&[0x30, 0x03, 1, 2, 3]),
            Err(PkiError::PrivateKey)
        ));
    }
}

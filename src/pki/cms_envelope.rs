//! CMS EnvelopedData (RFC 5652 §6) encrypted to one device certificate: the
//! `EncryptedPayloadContent` of a profile that only that device can read (over-the-air
//! enrollment, phase 3).
//!
//! AES-256-CBC content encryption and RSA PKCS#1 v1.5 key transport (what Apple devices and
//! OpenSSL read), both in aws-lc-rs. Only the public-key half of RSA is used here.

use aws_lc_rs::cipher::{PaddedBlockEncryptingKey, UnboundCipherKey, AES_256};
use aws_lc_rs::rsa::{Pkcs1PublicEncryptingKey, PublicEncryptingKey};
use cms::cert::IssuerAndSerialNumber;
use cms::content_info::{CmsVersion, ContentInfo};
use cms::enveloped_data::{
    EncryptedContentInfo, EnvelopedData, KeyTransRecipientInfo, RecipientIdentifier, RecipientInfo, RecipientInfos,
};
use cms::spki::AlgorithmIdentifierOwned;
use const_oid::db::rfc5911::{ID_AES_256_CBC, ID_DATA, ID_ENVELOPED_DATA};
use const_oid::db::rfc5912::RSA_ENCRYPTION;
use der::asn1::{Any, OctetString, SetOfVec};
use der::{Decode, Encode};
use x509_cert::Certificate;

use super::cms_build::enc_err;
use super::PkiError;

/// DER ContentInfo of an EnvelopedData holding `content` for the holder of `recipient_der`'s
/// private key. The recipient must have an RSA key (SCEP identities are RSA).
pub fn envelope(content: &[u8], recipient_der: &[u8]) -> Result<Vec<u8>, PkiError> {
    let cert = Certificate::from_der(recipient_der).map_err(|e| PkiError::Certificate(e.to_string()))?;
    let spki = cert
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .map_err(enc_err)?;
    let rsa = PublicEncryptingKey::from_der(&spki)
        .ok()
        .and_then(|key| Pkcs1PublicEncryptingKey::new(key).ok())
        .ok_or_else(|| PkiError::UnsupportedAlgorithm("a recipient without an RSA key".to_owned()))?;

    let mut content_key = [0u8; 32];
    aws_lc_rs::rand::fill(&mut content_key).map_err(|_| PkiError::Crypto("content key"))?;
    let cipher = UnboundCipherKey::new(&AES_256, &content_key)
        .and_then(PaddedBlockEncryptingKey::cbc_pkcs7)
        .map_err(|_| PkiError::Crypto("AES-256-CBC key"))?;
    let mut ciphertext = content.to_vec();
    let context = cipher
        .encrypt(&mut ciphertext)
        .map_err(|_| PkiError::Crypto("AES-256-CBC encryption"))?;
    let iv: &[u8] = (&context).try_into().map_err(|_| PkiError::Crypto("AES-256-CBC IV"))?;

    let mut wrapped = vec![0u8; rsa.ciphertext_size()];
    let wrapped_len = rsa
        .encrypt(&content_key, &mut wrapped)
        .map_err(|_| PkiError::Crypto("RSA key transport"))?
        .len();
    wrapped.truncate(wrapped_len);

    let tbs = cert.tbs_certificate();
    let recipient = KeyTransRecipientInfo {
        // v0 with issuerAndSerialNumber (RFC 5652 §6.2.1).
        version: CmsVersion::V0,
        rid: RecipientIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: tbs.issuer().clone(),
            serial_number: tbs.serial_number().clone(),
        }),
        key_enc_alg: AlgorithmIdentifierOwned {
            oid: RSA_ENCRYPTION,
            parameters: Some(Any::null()),
        },
        enc_key: OctetString::new(wrapped).map_err(enc_err)?,
    };
    let enveloped = EnvelopedData {
        version: CmsVersion::V0,
        originator_info: None,
        recip_infos: RecipientInfos(SetOfVec::try_from(vec![RecipientInfo::Ktri(recipient)]).map_err(enc_err)?),
        encrypted_content: EncryptedContentInfo {
            content_type: ID_DATA,
            content_enc_alg: AlgorithmIdentifierOwned {
                oid: ID_AES_256_CBC,
                parameters: Some(Any::encode_from(&OctetString::new(iv).map_err(enc_err)?).map_err(enc_err)?),
            },
            encrypted_content: Some(OctetString::new(ciphertext).map_err(enc_err)?),
        },
        unprotected_attrs: None,
    };
    ContentInfo {
        content_type: ID_ENVELOPED_DATA,
        content: Any::encode_from(&enveloped).map_err(enc_err)?,
    }
    .to_der()
    .map_err(enc_err)
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::*;
    use crate::pki::test_support::identity;
    use crate::pki::KeyKind;

    #[test]
    fn openssl_decrypts_with_the_recipient_key_only() {
        let id = identity(KeyKind::Rsa2048);
        let content = b"<plist><array><dict/></array></plist>".repeat(40);
        let der = envelope(&content, &id.cert_der).expect("envelope");
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(dir.path().join("env.der"), &der).expect("write");
        std::fs::write(dir.path().join("id.pem"), id.to_pem()).expect("write");
        let out = Command::new("openssl")
            .args([
                "cms", "-decrypt", "-inform", "DER", "-in", "env.der", "-inkey", "id.pem", "-recip", "id.pem",
            ])
            .current_dir(dir.path())
            .output()
            .expect("openssl runs");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(out.stdout, content);
    }

    #[test]
    fn refuses_a_recipient_without_an_rsa_key() {
        let err = envelope(b"x", &identity(KeyKind::EcdsaP256).cert_der).err();
        assert!(matches!(err, Some(PkiError::UnsupportedAlgorithm(_))), "{err:?}");
    }
}

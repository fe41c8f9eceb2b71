//! CMS EnvelopedData (RFC 5652 §6) encrypted to one device certificate: the
//! `EncryptedPayloadContent` of a profile that only that device can read (over-the-air
//! enrollment, phase 3).
//!
//! AES-256-CBC content encryption and RSA PKCS#1 v1.5 key transport (what Apple devices and
//! OpenSSL read), both in aws-lc-rs. Only the public-key half of RSA is used here.

use super::scep::{seal, ContentCipher};
use super::PkiError;

/// DER ContentInfo of an EnvelopedData holding `content` for the holder of `recipient_der`'s
/// private key, AES-256-CBC. The recipient must have an RSA key (SCEP identities are RSA).
/// The same sealing SCEP uses for its CertRep.
pub fn envelope(content: &[u8], recipient_der: &[u8]) -> Result<Vec<u8>, PkiError> {
    seal(content, recipient_der, ContentCipher::Aes256Cbc)
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

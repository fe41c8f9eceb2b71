//! CMS SignedData made by Annal: detached over a request body (`Mdm-Signature`, what an
//! enrolled device with `SignMessage` sends; used by the device simulator and the tests), and
//! attached around a content (signed configuration profiles, what the server sends).
//!
//! The SignedData itself is built by `cms_build`, shared with SCEP.

use base64::Engine as _;
use chrono::{DateTime, Utc};

use super::cms_build::{signed_data, Content};
use super::codec::pem_decode_all;
use super::identity::parse_cert;
use super::keys::SigningKey;
use super::{DeviceIdentity, PkiError};

/// The digest a device uses for `Mdm-Signature`. Apple devices use SHA-1 or SHA-256.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MdmDigest {
    Sha1,
    Sha256,
}

impl DeviceIdentity {
    /// The `Mdm-Signature` header value for `body`: base64 of a detached CMS SignedData with
    /// signed attributes (contentType, signingTime, messageDigest) and this identity's
    /// certificate embedded.
    ///
    /// Limits of aws-lc-rs 1.19 signing: ECDSA P-256 signs only with SHA-256, so an ECDSA
    /// identity uses SHA-256 even when SHA-1 is asked for; RSA PKCS#1 v1.5 has no SHA-1 signing
    /// mode, so RSA + SHA-1 is refused with `UnsupportedAlgorithm` (the server still verifies
    /// SHA-1 signatures from real devices).
    pub fn sign_mdm(&self, body: &[u8], digest: MdmDigest) -> Result<String, PkiError> {
        let der = self.sign_mdm_der(body, digest, Utc::now())?;
        Ok(base64::engine::general_purpose::STANDARD.encode(der))
    }

    /// [`Self::sign_mdm`] before base64, with an explicit signing time.
    pub(crate) fn sign_mdm_der(
        &self,
        body: &[u8],
        digest: MdmDigest,
        signing_time: DateTime<Utc>,
    ) -> Result<Vec<u8>, PkiError> {
        let key = super::key_cache::signing_key(&self.key_pkcs8_der)?;
        if key.is_rsa() && digest == MdmDigest::Sha1 {
            return Err(PkiError::UnsupportedAlgorithm(
                "RSA PKCS#1 v1.5 signing with SHA-1 (aws-lc-rs signs RSA with SHA-2 only)".to_owned(),
            ));
        }
        // Detached: the body travels as the HTTP body, not inside the CMS.
        signed_data(
            &self.cert_der,
            &[],
            &key,
            Content::Detached(body),
            Vec::new(),
            signing_time,
        )
    }

    /// An attached CMS SignedData around `content` (SHA-256), this identity's certificate and
    /// `chain` embedded: what a device posts to a profile service.
    pub fn sign_attached(&self, content: &[u8], chain: &[Vec<u8>]) -> Result<Vec<u8>, PkiError> {
        let key = SigningKey::from_pkcs8(&self.key_pkcs8_der)?;
        signed_data(
            &self.cert_der,
            chain,
            &key,
            Content::Attached(content),
            Vec::new(),
            Utc::now(),
        )
    }
}

/// A certificate, its private key and the certificates above it: the server identity that signs
/// configuration profiles (the TLS identity in `<data-dir>/tls/`, or one given by the admin).
pub struct CmsSigner {
    cert_der: Vec<u8>,
    chain: Vec<Vec<u8>>,
    key: SigningKey,
}

impl std::fmt::Debug for CmsSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CmsSigner")
            .field("chain", &(1 + self.chain.len()))
            .finish_non_exhaustive()
    }
}

impl CmsSigner {
    /// `cert_pem`: the signer's certificate first, then its chain (the layout of `server.pem`);
    /// `key`: its private key in any encoding [`SigningKey::from_pem_or_der`] reads. Refused
    /// when the key does not belong to the certificate.
    pub fn from_pem(cert_pem: &str, key: &[u8]) -> Result<Self, PkiError> {
        let mut certs = pem_decode_all(cert_pem)?
            .into_iter()
            .filter(|(label, _)| label == "CERTIFICATE")
            .map(|(_, der)| der);
        let cert_der = certs
            .next()
            .ok_or_else(|| PkiError::Pem("no CERTIFICATE block".to_owned()))?;
        let key = SigningKey::from_pem_or_der(key)?;
        if !key.matches(&parse_cert(&cert_der)?) {
            return Err(PkiError::KeyMismatch);
        }
        Ok(Self {
            cert_der,
            chain: certs.collect(),
            key,
        })
    }

    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// DER ContentInfo of an attached SignedData around `content`, signed with SHA-256, the
    /// signer's certificate and chain embedded so a device can build the path to its anchor.
    pub fn sign_attached(&self, content: &[u8]) -> Result<Vec<u8>, PkiError> {
        signed_data(
            &self.cert_der,
            &self.chain,
            &self.key,
            Content::Attached(content),
            Vec::new(),
            Utc::now(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::algorithms::DigestAlg;
    use crate::pki::test_support::{anchors, identity};
    use crate::pki::{fingerprint_sha256, verify_mdm_signature, KeyKind};
    use cms::content_info::ContentInfo;
    use cms::signed_data::SignedData;
    use const_oid::db::rfc5911::{ID_CONTENT_TYPE, ID_MESSAGE_DIGEST, ID_SIGNING_TIME};
    use der::asn1::ObjectIdentifier;
    use der::Decode;

    const BODY: &[u8] = b"<?xml version=\"1.0\"?><plist><dict><key>MessageType</key></dict></plist>";

    fn signer_digest_oid(header: &str) -> ObjectIdentifier {
        let der = base64::engine::general_purpose::STANDARD
            .decode(header)
            .expect("base64");
        let ci = ContentInfo::from_der(&der).expect("content info");
        let sd: SignedData = ci.content.decode_as().expect("signed data");
        sd.signer_infos.0.iter().next().expect("signer").digest_alg.oid
    }

    #[test]
    fn round_trips_through_the_verifier() {
        let cases = [
            (KeyKind::Rsa2048, MdmDigest::Sha256, DigestAlg::Sha256),
            (KeyKind::EcdsaP256, MdmDigest::Sha256, DigestAlg::Sha256),
            // ECDSA P-256 signs only with SHA-256 in aws-lc-rs (documented on sign_mdm).
            (KeyKind::EcdsaP256, MdmDigest::Sha1, DigestAlg::Sha256),
        ];
        for (kind, asked, used) in cases {
            let id = identity(kind);
            let header = id.sign_mdm(BODY, asked).expect("sign");
            assert_eq!(signer_digest_oid(&header), used.oid(), "{kind:?} {asked:?}");
            let verified = verify_mdm_signature(&header, BODY, &anchors(), Utc::now()).expect("verifies");
            assert_eq!(verified.fingerprint_sha256, fingerprint_sha256(&id.cert_der));
        }
    }

    #[test]
    fn rsa_with_sha1_is_refused_not_downgraded() {
        let err = identity(KeyKind::Rsa2048).sign_mdm(BODY, MdmDigest::Sha1).err();
        assert!(matches!(err, Some(PkiError::UnsupportedAlgorithm(_))), "{err:?}");
    }

    #[test]
    fn output_is_detached_with_the_three_signed_attributes() {
        let id = identity(KeyKind::EcdsaP256);
        let der = id.sign_mdm_der(BODY, MdmDigest::Sha256, Utc::now()).expect("sign");
        let sd: SignedData = ContentInfo::from_der(&der)
            .expect("ci")
            .content
            .decode_as()
            .expect("sd");
        assert!(sd.encap_content_info.econtent.is_none());
        assert_eq!(sd.certificates.as_ref().map(|c| c.0.len()), Some(1));
        let signer = sd.signer_infos.0.iter().next().expect("signer");
        let oids: Vec<_> = signer
            .signed_attrs
            .iter()
            .flat_map(|a| a.iter().map(|x| x.oid))
            .collect();
        for oid in [ID_CONTENT_TYPE, ID_MESSAGE_DIGEST, ID_SIGNING_TIME] {
            assert!(oids.contains(&oid), "{oid}");
        }
    }

    #[test]
    fn bad_key_is_reported_without_content() {
        let id = DeviceIdentity {
            cert_der: identity(KeyKind::EcdsaP256).cert_der.clone(),
            key_pkcs8_der: vec![7; 40],
        };
        let err = id.sign_mdm(BODY, MdmDigest::Sha256).err();
        assert!(matches!(err, Some(PkiError::PrivateKey)), "{err:?}");
    }
}

//! SCEP's pkcsPKIEnvelope: a CMS EnvelopedData with one RSA key-transport recipient and a
//! CBC content cipher. Both directions use it: a request is sealed to the CA, a CertRep to the
//! requester. Every RSA and cipher operation runs in aws-lc-rs.

#![allow(deprecated)] // DES and 3DES are deprecated in aws-lc-rs; SCEP clients still send them.

use aws_lc_rs::cipher::{
    DecryptionContext, PaddedBlockDecryptingKey, PaddedBlockEncryptingKey, UnboundCipherKey, AES_128, AES_192, AES_256,
    DES_EDE3_FOR_LEGACY_USE_ONLY, DES_FOR_LEGACY_USE_ONLY,
};
use aws_lc_rs::iv::FixedLength;
use aws_lc_rs::rsa::{Pkcs1PublicEncryptingKey, PublicEncryptingKey};
use cms::cert::IssuerAndSerialNumber;
use cms::content_info::CmsVersion;
use cms::enveloped_data::{
    EncryptedContentInfo, EnvelopedData, KeyTransRecipientInfo, RecipientIdentifier, RecipientInfo, RecipientInfos,
};
use cms::spki::AlgorithmIdentifierOwned;
use const_oid::db::rfc5911::{ID_DATA, ID_ENVELOPED_DATA};
use const_oid::db::rfc5912::RSA_ENCRYPTION;
use der::asn1::{Any, AnyRef, ObjectIdentifier, OctetString, SetOfVec};
use der::{Decode, Encode, ErrorKind, Header, Reader, SliceReader, Tag, TagNumber, Tagged};
use x509_cert::Certificate;

use super::{FailInfo, Refusal};
use crate::pki::cms_build::{content_info, enc_err, octets};
use crate::pki::PkiError;

/// The content-encryption algorithms accepted, and used for the answer (the client's own
/// choice). GetCACaps advertises AES and DES3.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContentCipher {
    Aes128Cbc,
    Aes192Cbc,
    Aes256Cbc,
    DesEde3Cbc,
    /// Single DES: weak (56-bit keys) and not advertised, but RFC 8894's predecessors made it
    /// the default and clients still send it whatever the CA's capabilities say (micromdm's
    /// scepclient 2.1 does). Requests travel inside TLS here; the server logs a warning.
    DesCbc,
}

impl ContentCipher {
    const ALL: [ContentCipher; 5] = [
        ContentCipher::Aes128Cbc,
        ContentCipher::Aes192Cbc,
        ContentCipher::Aes256Cbc,
        ContentCipher::DesEde3Cbc,
        ContentCipher::DesCbc,
    ];

    pub fn oid(self) -> ObjectIdentifier {
        ObjectIdentifier::new_unwrap(match self {
            ContentCipher::Aes128Cbc => "2.16.840.1.101.3.4.1.2",
            ContentCipher::Aes192Cbc => "2.16.840.1.101.3.4.1.22",
            ContentCipher::Aes256Cbc => "2.16.840.1.101.3.4.1.42",
            ContentCipher::DesEde3Cbc => "1.2.840.113549.3.7",
            ContentCipher::DesCbc => "1.3.14.3.2.7",
        })
    }

    fn from_oid(oid: &ObjectIdentifier) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.oid() == *oid)
    }

    fn algorithm(self) -> &'static aws_lc_rs::cipher::Algorithm {
        match self {
            ContentCipher::Aes128Cbc => &AES_128,
            ContentCipher::Aes192Cbc => &AES_192,
            ContentCipher::Aes256Cbc => &AES_256,
            ContentCipher::DesEde3Cbc => &DES_EDE3_FOR_LEGACY_USE_ONLY,
            ContentCipher::DesCbc => &DES_FOR_LEGACY_USE_ONLY,
        }
    }

    fn key_len(self) -> usize {
        match self {
            ContentCipher::Aes128Cbc => 16,
            ContentCipher::Aes192Cbc | ContentCipher::DesEde3Cbc => 24,
            ContentCipher::Aes256Cbc => 32,
            ContentCipher::DesCbc => 8,
        }
    }
}

/// Encrypts `plaintext` to the RSA key of `recipient_cert_der`: a DER `ContentInfo
/// { envelopedData }`.
pub(crate) fn seal(plaintext: &[u8], recipient_cert_der: &[u8], cipher: ContentCipher) -> Result<Vec<u8>, PkiError> {
    let cert = Certificate::from_der(recipient_cert_der).map_err(|e| PkiError::Certificate(e.to_string()))?;
    let spki = cert
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .map_err(enc_err)?;
    let public = PublicEncryptingKey::from_der(&spki)
        .ok()
        .and_then(|k| Pkcs1PublicEncryptingKey::new(k).ok())
        .ok_or_else(|| PkiError::UnsupportedAlgorithm("the recipient's key is not an RSA key".to_owned()))?;

    let mut cek = vec![0u8; cipher.key_len()];
    aws_lc_rs::rand::fill(&mut cek).map_err(|_| PkiError::Crypto("random content key"))?;
    let key = UnboundCipherKey::new(cipher.algorithm(), &cek)
        .and_then(PaddedBlockEncryptingKey::cbc_pkcs7)
        .map_err(|_| PkiError::Crypto("content cipher"))?;
    let mut ciphertext = plaintext.to_vec();
    let context = key
        .encrypt(&mut ciphertext)
        .map_err(|_| PkiError::Crypto("content encryption"))?;
    let iv: &[u8] = (&context).try_into().map_err(|_| PkiError::Crypto("content IV"))?;

    let mut wrapped = vec![0u8; public.ciphertext_size()];
    let wrapped_len = public
        .encrypt(&cek, &mut wrapped)
        .map_err(|_| PkiError::Crypto("RSA key transport"))?
        .len();
    wrapped.truncate(wrapped_len);

    let tbs = cert.tbs_certificate();
    let recipient = RecipientInfo::Ktri(KeyTransRecipientInfo {
        version: CmsVersion::V0,
        rid: RecipientIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: tbs.issuer().clone(),
            serial_number: tbs.serial_number().clone(),
        }),
        key_enc_alg: AlgorithmIdentifierOwned {
            oid: RSA_ENCRYPTION,
            parameters: Some(Any::null()),
        },
        enc_key: octets(&wrapped)?,
    });
    let enveloped = EnvelopedData {
        version: CmsVersion::V0,
        originator_info: None,
        recip_infos: RecipientInfos(SetOfVec::try_from(vec![recipient]).map_err(enc_err)?),
        encrypted_content: EncryptedContentInfo {
            content_type: ID_DATA,
            content_enc_alg: AlgorithmIdentifierOwned {
                oid: cipher.oid(),
                parameters: Some(Any::encode_from(&octets(iv)?).map_err(enc_err)?),
            },
            encrypted_content: Some(octets(&ciphertext)?),
        },
        unprotected_attrs: None,
    };
    content_info(ID_ENVELOPED_DATA, &enveloped)
}

/// Decrypts an EnvelopedData addressed to `recipient_cert_der` with its PKCS#8 RSA key.
///
/// Every failure after the structure was read is the same `badMessageCheck`, and a key
/// transport that does not decrypt continues with a random content key (RFC 3218 §2.3.2), so
/// the answer tells an attacker nothing about the RSA padding (Bleichenbacher, Marvin).
pub(crate) fn open(
    der: &[u8],
    recipient_cert_der: &[u8],
    key_pkcs8: &[u8],
) -> Result<(Vec<u8>, ContentCipher), Refusal> {
    let bad = |m: &str| Refusal::new(FailInfo::BadMessageCheck, m);
    let ed = parse_enveloped(der).map_err(|e| Refusal::new(FailInfo::BadRequest, format!("envelopedData: {e}")))?;
    let ours = Certificate::from_der(recipient_cert_der).map_err(|_| bad("the recipient certificate is unreadable"))?;
    let wanted = IssuerAndSerialNumber {
        issuer: ours.tbs_certificate().issuer().clone(),
        serial_number: ours.tbs_certificate().serial_number().clone(),
    };
    let ktri = ed
        .recipients
        .0
        .iter()
        .find_map(|ri| match ri {
            RecipientInfo::Ktri(k) if k.rid == RecipientIdentifier::IssuerAndSerialNumber(wanted.clone()) => Some(k),
            _ => None,
        })
        .ok_or_else(|| bad("no key-transport recipient names this CA's certificate"))?;
    if ktri.key_enc_alg.oid != RSA_ENCRYPTION {
        return Err(Refusal::new(
            FailInfo::BadAlg,
            format!("key transport {} (rsaEncryption is supported)", ktri.key_enc_alg.oid),
        ));
    }
    let cipher = ContentCipher::from_oid(&ed.content_enc_alg.oid).ok_or_else(|| {
        Refusal::new(
            FailInfo::BadAlg,
            format!(
                "content encryption {} (AES-CBC, 3DES-CBC and DES-CBC are supported)",
                ed.content_enc_alg.oid
            ),
        )
    })?;
    let iv = ed
        .content_enc_alg
        .parameters
        .as_ref()
        .and_then(|p| p.decode_as::<OctetString>().ok())
        .ok_or_else(|| bad("the content-encryption IV is missing"))?;
    let ciphertext = ed
        .ciphertext
        .as_ref()
        .ok_or_else(|| bad("the encrypted content is missing"))?;

    let cek = unwrap_key(ktri.enc_key.as_bytes(), key_pkcs8, cipher.key_len());
    let context = match iv.as_bytes().len() {
        16 => FixedLength::<16>::try_from(iv.as_bytes()).map(DecryptionContext::Iv128),
        8 => FixedLength::<8>::try_from(iv.as_bytes()).map(DecryptionContext::Iv64),
        _ => return Err(bad("the content-encryption IV has the wrong length")),
    }
    .map_err(|_| bad("the content-encryption IV has the wrong length"))?;
    let key = UnboundCipherKey::new(cipher.algorithm(), &cek)
        .and_then(PaddedBlockDecryptingKey::cbc_pkcs7)
        .map_err(|_| bad("the envelope does not decrypt with this CA's key"))?;
    let mut buffer = ciphertext.clone();
    let plaintext = key
        .decrypt(&mut buffer, context)
        .map_err(|_| bad("the envelope does not decrypt with this CA's key"))?
        .to_vec();
    Ok((plaintext, cipher))
}

/// The parts of an EnvelopedData that [`open`] reads.
struct EnvelopeView {
    recipients: RecipientInfos,
    content_enc_alg: AlgorithmIdentifierOwned,
    ciphertext: Option<Vec<u8>>,
}

const CONTEXT_0: Tag = Tag::ContextSpecific {
    constructed: true,
    number: TagNumber(0),
};

/// Walks `ContentInfo { envelopedData }` by hand because Go's pkcs7 (micromdm's scepclient)
/// sends encryptedContent as a constructed `[0]` of OCTET STRING chunks, a BER form the cms
/// crate's DER decoder refuses, and the implicit tag hides it from the schema-less normalizer
/// (ber.rs), which makes every other BER form (indefinite lengths, say) DER first.
fn parse_enveloped(body: &[u8]) -> Result<EnvelopeView, String> {
    let der = crate::pki::ber::normalize(body).map_err(|e| e.to_string())?;
    parse_enveloped_der(&der).map_err(|e| e.to_string())
}

fn parse_enveloped_der(der: &[u8]) -> der::Result<EnvelopeView> {
    let mut reader = SliceReader::new(der)?;
    let view = reader.sequence(|ci| -> der::Result<EnvelopeView> {
        let content_type = ObjectIdentifier::decode(ci)?;
        if content_type != ID_ENVELOPED_DATA {
            return Err(ErrorKind::OidUnknown { oid: content_type }.into());
        }
        let explicit = AnyRef::from_der(ci.tlv_bytes()?)?;
        explicit.tag().assert_eq(CONTEXT_0)?;
        let mut inner = SliceReader::new(explicit.value())?;
        let view = inner.sequence(|ed| -> der::Result<EnvelopeView> {
            ed.tlv_bytes()?; // version
            if Header::peek(ed)?.tag() == CONTEXT_0 {
                ed.tlv_bytes()?; // originatorInfo: not used by key transport
            }
            let recipients = RecipientInfos::from_der(ed.tlv_bytes()?)?;
            let (content_enc_alg, ciphertext) = ed.sequence(|eci| -> der::Result<_> {
                let _content_type: ObjectIdentifier = ObjectIdentifier::decode(&mut *eci)?;
                let alg = AlgorithmIdentifierOwned::decode(&mut *eci)?;
                let content = if eci.is_finished() {
                    None
                } else {
                    Some(implicit_octets(AnyRef::from_der(eci.tlv_bytes()?)?)?)
                };
                Ok((alg, content))
            })?;
            while !ed.is_finished() {
                ed.tlv_bytes()?; // unprotectedAttrs
            }
            Ok(EnvelopeView {
                recipients,
                content_enc_alg,
                ciphertext,
            })
        })?;
        inner.finish()?;
        Ok(view)
    })?;
    reader.finish()?;
    Ok(view)
}

/// `[0] IMPLICIT OCTET STRING`: primitive, or constructed from OCTET STRING chunks.
fn implicit_octets(any: AnyRef<'_>) -> der::Result<Vec<u8>> {
    match any.tag() {
        Tag::ContextSpecific {
            constructed: false,
            number: TagNumber(0),
        } => Ok(any.value().to_vec()),
        Tag::ContextSpecific {
            constructed: true,
            number: TagNumber(0),
        } => {
            let mut out = Vec::new();
            let mut chunks = SliceReader::new(any.value())?;
            while !chunks.is_finished() {
                let chunk = AnyRef::from_der(chunks.tlv_bytes()?)?;
                chunk.tag().assert_eq(Tag::OctetString)?;
                out.extend_from_slice(chunk.value());
            }
            Ok(out)
        }
        other => Err(other.unexpected_error(None).into()),
    }
}

/// RSA PKCS#1 v1.5 key transport, in aws-lc-rs. A failed or wrong-sized decryption yields a
/// stand-in key of the expected size, fixed for that ciphertext, instead of an error (see
/// [`open`]).
fn unwrap_key(wrapped: &[u8], key_pkcs8: &[u8], key_len: usize) -> Vec<u8> {
    let decrypted = crate::pki::key_cache::pkcs1_decrypting_key(key_pkcs8).and_then(|k| {
        let mut out = vec![0u8; k.min_output_size()];
        let len = k.decrypt(wrapped, &mut out).ok()?.len();
        out.truncate(len);
        Some(out)
    });
    match decrypted {
        Some(cek) if cek.len() == key_len => cek,
        // Implicit rejection: the stand-in key is derived from the ciphertext and the CA key,
        // so resending the same ciphertext always fails the same way. A fresh random key would
        // make a bad padding answer differently from one try to the next, and that difference
        // is a padding oracle.
        _ => {
            let secret = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, key_pkcs8);
            let hmac_key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret.as_ref());
            let tag = aws_lc_rs::hmac::sign(&hmac_key, wrapped);
            // Content keys are at most 32 bytes (AES-256); the tag is 32.
            tag.as_ref().iter().copied().cycle().take(key_len).collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::unwrap_key;
    use crate::pki::test_support::ca;

    #[test]
    fn a_bad_key_transport_fails_the_same_way_every_time() {
        let key = ca().key_pkcs8_der();
        let garbage = vec![0x42u8; 256];
        let first = unwrap_key(&garbage, key, 32);
        assert_eq!(first.len(), 32);
        assert_eq!(
            unwrap_key(&garbage, key, 32),
            first,
            "same ciphertext, same stand-in key"
        );
        assert_ne!(unwrap_key(&[0x43u8; 256], key, 32), first);
        assert_eq!(unwrap_key(&garbage, key, 24).len(), 24);
    }
}

//! Server side of `Mdm-Signature` (protocol.md §10), and of attached signatures (a device's
//! answer to a profile service, [`verify_attached`]). `Mdm-Signature`: a base64 detached CMS SignedData over the
//! exact request body, made with the device identity, whose certificate rides along in the CMS.
//!
//! The embedded certificate proves nothing by itself, so it is verified against the trust
//! anchors too; the caller then binds the returned identity (fingerprint) to the enrollment.

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use cms::cert::IssuerAndSerialNumber;
use cms::signed_data::{SignerIdentifier, SignerInfo};
use const_oid::db::rfc5911::{ID_CONTENT_TYPE, ID_MESSAGE_DIGEST};
use der::asn1::{ObjectIdentifier, OctetString};
use der::Encode;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::ParsedExtension;

use aws_lc_rs::signature::UnparsedPublicKey;

use super::algorithms::{public_key_bytes, rsa_bits, verification_alg, DigestAlg, KeyAlg, SigScheme};
use super::cms_raw::{der_form, parse_signed_data, SignedDataView, SignerView};
use super::identity::{parse_cert, VerifiedIdentity};
use super::{SignatureError, TrustAnchors};

/// Standard alphabet; padding optional, since some proxies strip it.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Verifies an `Mdm-Signature` header value against the request body and the trust anchors,
/// and returns the signer's identity.
pub fn verify_mdm_signature(
    header_b64: &str,
    body: &[u8],
    anchors: &TrustAnchors,
    now: DateTime<Utc>,
) -> Result<VerifiedIdentity, SignatureError> {
    let raw = decode_base64(header_b64)?;
    let der = der_form(&raw)?;
    let sd = parse_signed_data(&der)?;
    // Detached means the body is not inside the CMS: an empty eContent is tolerated.
    if sd.encap.econtent.as_ref().is_some_and(|c| !c.value().is_empty()) {
        return Err(SignatureError::NotDetached);
    }
    let signed = signed_message(&sd, body)?;
    require_standard_key(&signed.cert)?;
    // Trust before the signature: an untrusted certificate is refused before any work on the
    // message signature, and a trusted one comes with its key already parsed (leaf_cache.rs).
    let leaf = anchors
        .trusted_leaf(signed.cert_der, &signed.cert, now)
        .map_err(SignatureError::Untrusted)?;
    let key = leaf
        .public_key(signed.scheme, signed.digest)
        .ok_or_else(|| unsupported(signed.algorithm))?;
    key.verify_sig(&signed.message, signed.signature)
        .map_err(|_| SignatureError::BadSignature)?;
    Ok(leaf.identity.clone())
}

/// An attached SignedData whose signature verified with its own embedded signer certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedContent {
    pub content: Vec<u8>,
    /// The signer's certificate: proven to hold the key that signed, trusted by nobody yet.
    pub signer_cert_der: Vec<u8>,
}

/// Verifies a CMS SignedData (BER or DER) that carries its content (a device's answer to a profile
/// service), with the signer certificate it embeds. Trust in that certificate is the caller's
/// decision ([`TrustAnchors::verify_leaf`]): a device's first answer is signed by an Apple
/// device certificate, the later one by the identity Annal's CA issued.
pub fn verify_attached(body: &[u8]) -> Result<SignedContent, SignatureError> {
    let der = der_form(body)?;
    let sd = parse_signed_data(&der)?;
    let content = attached_content(&sd)?;
    let signed = signed_message(&sd, content.as_bytes())?;
    require_standard_key(&signed.cert)?;
    let key_alg = KeyAlg::from_spki(signed.cert.public_key()).map_err(SignatureError::UnsupportedAlgorithm)?;
    let alg = verification_alg(key_alg, signed.scheme, signed.digest).ok_or_else(|| unsupported(signed.algorithm))?;
    UnparsedPublicKey::new(alg, public_key_bytes(signed.cert.public_key(), key_alg))
        .verify(&signed.message, signed.signature)
        .map_err(|_| SignatureError::BadSignature)?;
    Ok(SignedContent {
        content: content.as_bytes().to_vec(),
        signer_cert_der: signed.cert_der.to_vec(),
    })
}

/// The one signer of a SignedData over `content`: its certificate, algorithms, and the bytes
/// its signature covers (the signed attributes, checked against `content`, or the content).
pub(crate) struct SignedMessage<'a> {
    pub cert_der: &'a [u8],
    pub cert: X509Certificate<'a>,
    pub scheme: SigScheme,
    pub digest: DigestAlg,
    pub algorithm: &'a ObjectIdentifier,
    pub message: Vec<u8>,
    pub signature: &'a [u8],
}

/// Refuses RSA signer keys under 2048 bits by name: aws-lc-rs would only say "does not
/// verify". Apple's 1024-bit device identities are verified by `apple::verify_device_signed`.
/// The content an attached SignedData carries (a device's signed plist).
pub(crate) fn attached_content(sd: &SignedDataView<'_>) -> Result<OctetString, SignatureError> {
    sd.encap
        .econtent
        .as_ref()
        .and_then(|c| c.decode_as::<OctetString>().ok())
        .ok_or(SignatureError::NoContent)
}

fn require_standard_key(cert: &X509Certificate<'_>) -> Result<(), SignatureError> {
    match rsa_bits(cert.public_key()) {
        Some(bits) if bits < 2048 => Err(SignatureError::WeakKey(format!("RSA-{bits}"))),
        _ => Ok(()),
    }
}

pub(crate) fn signed_message<'a>(
    sd: &'a SignedDataView<'a>,
    content: &[u8],
) -> Result<SignedMessage<'a>, SignatureError> {
    let signer = match sd.signers.as_slice() {
        [] => return Err(SignatureError::NoSigner),
        [one] => one,
        many => return Err(SignatureError::MultipleSigners(many.len())),
    };
    let (cert_der, cert) = find_signer_cert(&sd.certificates, &signer.info.sid)?;
    let info = &signer.info;
    let (digest, scheme) = signer_algorithms(info)?;
    let message = match signer.signed_attrs_tlv {
        Some(tlv) => {
            check_signed_attributes(signer, &sd.encap.econtent_type, digest.digest(content).as_ref())?;
            set_of_encoding(tlv)
        }
        None => content.to_vec(),
    };
    Ok(SignedMessage {
        cert_der,
        cert,
        scheme,
        digest,
        algorithm: &info.signature_algorithm.oid,
        message,
        signature: info.signature.as_bytes(),
    })
}

/// The signer's digest and signature scheme. RFC 5652 hashes with the signer's
/// digestAlgorithm; a signature OID naming another hash is inconsistent rather than a second
/// option.
pub(crate) fn signer_algorithms(info: &SignerInfo) -> Result<(DigestAlg, SigScheme), SignatureError> {
    let digest =
        DigestAlg::from_oid_bytes(info.digest_alg.oid.as_bytes()).ok_or_else(|| unsupported(&info.digest_alg.oid))?;
    let scheme = SigScheme::from_oid_bytes(info.signature_algorithm.oid.as_bytes())
        .ok_or_else(|| unsupported(&info.signature_algorithm.oid))?;
    if scheme.digest_or(Some(digest)) != Some(digest) {
        return Err(unsupported(&info.signature_algorithm.oid));
    }
    Ok((digest, scheme))
}

/// Decodes the header, skipping the whitespace and line breaks some clients fold in.
pub(crate) fn decode_base64(header: &str) -> Result<Vec<u8>, SignatureError> {
    let trimmed = header.trim();
    let result = if trimmed.bytes().any(|b| b.is_ascii_whitespace()) {
        let compact: Vec<u8> = trimmed.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        BASE64.decode(compact)
    } else {
        BASE64.decode(trimmed)
    };
    result.map_err(|_| SignatureError::BadBase64)
}

/// The embedded certificate the signer identifier names (issuer + serial, or key identifier).
pub(crate) fn find_signer_cert<'a>(
    certs: &[&'a [u8]],
    sid: &SignerIdentifier,
) -> Result<(&'a [u8], X509Certificate<'a>), SignatureError> {
    let wanted_issuer = match sid {
        SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber { issuer, .. }) => Some(
            issuer
                .to_der()
                .map_err(|e| SignatureError::NotSignedData(e.to_string()))?,
        ),
        SignerIdentifier::SubjectKeyIdentifier(_) => None,
    };
    for der in certs {
        // A certificate we cannot parse cannot be the signer's; others may still match.
        let Ok(cert) = parse_cert(der) else { continue };
        let matches = match (sid, &wanted_issuer) {
            (SignerIdentifier::IssuerAndSerialNumber(isn), Some(issuer)) => {
                cert.issuer().as_raw() == issuer.as_slice()
                    && strip_zeros(cert.raw_serial()) == strip_zeros(isn.serial_number.as_bytes())
            }
            (SignerIdentifier::SubjectKeyIdentifier(ski), _) => cert.iter_extensions().any(|ext| {
                matches!(ext.parsed_extension(), ParsedExtension::SubjectKeyIdentifier(id) if id.0 == ski.0.as_bytes())
            }),
            _ => false,
        };
        if matches {
            return Ok((der, cert));
        }
    }
    Err(SignatureError::SignerCertificateMissing)
}

/// RFC 5652 §5.4/§11: with signed attributes, contentType must name the encapsulated type and
/// messageDigest must equal the digest of the (detached) content.
pub(crate) fn check_signed_attributes(
    signer: &SignerView<'_>,
    econtent_type: &ObjectIdentifier,
    body_digest: &[u8],
) -> Result<(), SignatureError> {
    let content_type = single_value(&signer.info, ID_CONTENT_TYPE)
        .and_then(|v| v.decode_as::<ObjectIdentifier>().ok())
        .ok_or(SignatureError::MissingAttribute("contentType"))?;
    if content_type != *econtent_type {
        return Err(SignatureError::MissingAttribute("contentType"));
    }
    let message_digest = single_value(&signer.info, ID_MESSAGE_DIGEST)
        .and_then(|v| v.decode_as::<OctetString>().ok())
        .ok_or(SignatureError::MissingAttribute("messageDigest"))?;
    if message_digest.as_bytes() != body_digest {
        return Err(SignatureError::DigestMismatch);
    }
    Ok(())
}

/// The value of a signed attribute that occurs once with exactly one value (RFC 5652 §11).
pub(crate) fn single_value(info: &SignerInfo, oid: ObjectIdentifier) -> Option<&der::Any> {
    let mut found = info.signed_attrs.as_ref()?.iter().filter(|a| a.oid == oid);
    let attr = found.next()?;
    match (found.next(), attr.values.as_slice()) {
        (None, [value]) => Some(value),
        _ => None,
    }
}

/// The signature covers the attributes encoded as a `SET OF` (tag 0x31), not with the
/// `[0] IMPLICIT` tag (0xA0) they are transmitted with (RFC 5652 §5.4).
pub(crate) fn set_of_encoding(tlv: &[u8]) -> Vec<u8> {
    let mut bytes = tlv.to_vec();
    if let Some(tag) = bytes.first_mut() {
        *tag = 0x31;
    }
    bytes
}

fn strip_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

fn unsupported(oid: &ObjectIdentifier) -> SignatureError {
    SignatureError::UnsupportedAlgorithm(oid.to_string())
}

//! Building CMS SignedData with aws-lc-rs keys: `Mdm-Signature` (detached), SCEP requests and
//! CertReps (encapsulated content plus SCEP's own signed attributes).
//!
//! The CMS is assembled from the cms crate's types rather than its builder, because the
//! builder's signer traits expect RustCrypto keys and every private-key operation here must run
//! in aws-lc-rs.

use chrono::{DateTime, Utc};
use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use cms::spki::AlgorithmIdentifierOwned;
use const_oid::db::rfc5911::{ID_CONTENT_TYPE, ID_DATA, ID_MESSAGE_DIGEST, ID_SIGNED_DATA, ID_SIGNING_TIME};
use der::asn1::{Any, ObjectIdentifier, OctetString, SetOfVec, UtcTime};
use der::{Decode, Encode};
use x509_cert::attr::Attribute;
use x509_cert::Certificate;

use super::algorithms::DigestAlg;
pub(crate) use super::keys::SigningKey;
use super::PkiError;

/// Where the signed content travels.
pub(crate) enum Content<'a> {
    /// Signed but not embedded (`Mdm-Signature`: the body is the HTTP body).
    Detached(&'a [u8]),
    /// Embedded as an `id-data` OCTET STRING (SCEP's pkcsPKIEnvelope).
    Attached(&'a [u8]),
    /// None at all (a SCEP CertRep that reports a failure).
    Absent,
}

/// A DER `ContentInfo { signedData }` with one SHA-256 signer: `cert_der` (embedded, then
/// `chain` so a verifier can build the path) and its `key`. Signed attributes: contentType,
/// signingTime, messageDigest, then `extra`.
pub(crate) fn signed_data(
    cert_der: &[u8],
    chain: &[Vec<u8>],
    key: &SigningKey,
    content: Content<'_>,
    extra: Vec<Attribute>,
    signing_time: DateTime<Utc>,
) -> Result<Vec<u8>, PkiError> {
    let digest = DigestAlg::Sha256;
    let cert = Certificate::from_der(cert_der).map_err(|e| PkiError::Certificate(e.to_string()))?;
    // RFC 5652 §5.3: with signed attributes, messageDigest is required; without content it
    // is the digest of nothing (Go's pkcs7, in micromdm's scepclient, insists on it).
    let (digested, econtent) = match content {
        Content::Detached(body) => (body, None),
        Content::Attached(body) => (body, Some(Any::encode_from(&octets(body)?).map_err(enc_err)?)),
        Content::Absent => (&[][..], None),
    };
    let mut attrs = vec![
        attribute(ID_CONTENT_TYPE, &ID_DATA)?,
        attribute(ID_SIGNING_TIME, &utc_time(signing_time)?)?,
        attribute(ID_MESSAGE_DIGEST, &octets(digest.digest(digested).as_ref())?)?,
    ];
    attrs.extend(extra);
    let signed_attrs = SetOfVec::try_from(attrs).map_err(enc_err)?;
    // The signature covers the attributes' SET OF encoding (RFC 5652 §5.4).
    let signature = key.sign(&signed_attrs.to_der().map_err(enc_err)?)?;

    let digest_alg = AlgorithmIdentifierOwned {
        oid: digest.oid(),
        parameters: None,
    };
    let tbs = cert.tbs_certificate();
    let signer = SignerInfo {
        version: CmsVersion::V1,
        sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: tbs.issuer().clone(),
            serial_number: tbs.serial_number().clone(),
        }),
        digest_alg: digest_alg.clone(),
        signed_attrs: Some(signed_attrs),
        signature_algorithm: key.signature_algorithm(),
        signature: octets(&signature)?,
        unsigned_attrs: None,
    };
    let mut certificates = vec![CertificateChoices::Certificate(cert)];
    for der in chain {
        let extra = Certificate::from_der(der).map_err(|e| PkiError::Certificate(e.to_string()))?;
        certificates.push(CertificateChoices::Certificate(extra));
    }
    let signed_data = SignedData {
        version: CmsVersion::V1,
        digest_algorithms: SetOfVec::try_from(vec![digest_alg]).map_err(enc_err)?,
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: ID_DATA,
            econtent,
        },
        certificates: Some(CertificateSet::try_from(certificates).map_err(enc_err)?),
        crls: None,
        signer_infos: SignerInfos::try_from(vec![signer]).map_err(enc_err)?,
    };
    content_info(ID_SIGNED_DATA, &signed_data)
}

/// A degenerate certificates-only SignedData (RFC 8894 §3.3.2): no content, no signers.
pub(crate) fn certs_only(cert_ders: &[&[u8]]) -> Result<Vec<u8>, PkiError> {
    let certs = cert_ders
        .iter()
        .map(|der| {
            Certificate::from_der(der)
                .map(CertificateChoices::Certificate)
                .map_err(|e| PkiError::Certificate(e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let signed_data = SignedData {
        version: CmsVersion::V1,
        digest_algorithms: SetOfVec::new(),
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: ID_DATA,
            econtent: None,
        },
        certificates: Some(CertificateSet::try_from(certs).map_err(enc_err)?),
        crls: None,
        signer_infos: SignerInfos(SetOfVec::new()),
    };
    content_info(ID_SIGNED_DATA, &signed_data)
}

pub(crate) fn content_info(
    content_type: ObjectIdentifier,
    content: &(impl der::Tagged + der::EncodeValue),
) -> Result<Vec<u8>, PkiError> {
    ContentInfo {
        content_type,
        content: Any::encode_from(content).map_err(enc_err)?,
    }
    .to_der()
    .map_err(enc_err)
}

/// A signed attribute with one value.
pub(crate) fn attribute(
    oid: ObjectIdentifier,
    value: &(impl der::Tagged + der::EncodeValue),
) -> Result<Attribute, PkiError> {
    let value = Any::encode_from(value).map_err(enc_err)?;
    Ok(Attribute {
        oid,
        values: SetOfVec::try_from(vec![value]).map_err(enc_err)?,
    })
}

pub(crate) fn octets(bytes: &[u8]) -> Result<OctetString, PkiError> {
    OctetString::new(bytes).map_err(enc_err)
}

/// signingTime is a UTCTime for years 1950–2049 (RFC 5652 §11.3), which covers any clock
/// this code will run with.
fn utc_time(t: DateTime<Utc>) -> Result<UtcTime, PkiError> {
    let secs = u64::try_from(t.timestamp()).map_err(|_| PkiError::Encoding("signing time before 1970".to_owned()))?;
    UtcTime::from_unix_duration(std::time::Duration::from_secs(secs)).map_err(enc_err)
}

pub(crate) fn enc_err(e: der::Error) -> PkiError {
    PkiError::Encoding(e.to_string())
}

//! A borrowed walk over a DER `ContentInfo { signedData }` that keeps the raw bytes where
//! verification needs them exactly as they were signed. What a device sends may be BER: it
//! goes through [`der_form`] (ber.rs) first, which keeps DER elements (certificates) byte for
//! byte and gives the signed attributes the DER shape RFC 5652 §5.4 signs.
//!
//! The cms crate decodes the parts whose meaning we need (`EncapsulatedContentInfo`,
//! `SignerInfo`), but its full `SignedData` decode cannot serve alone: der sorts every decoded
//! `SET OF`, so re-encoding the signed attributes of a signer that did not sort them would
//! change the bytes its signature covers, and it would copy and re-encode the certificates
//! we fingerprint. So the envelope is walked here and the certificate and signed-attribute
//! TLVs are returned as slices of the input.

use std::borrow::Cow;

use cms::signed_data::{EncapsulatedContentInfo, SignerInfo};
use const_oid::db::rfc5911::ID_SIGNED_DATA;
use der::asn1::{AnyRef, ObjectIdentifier};
use der::{Decode, ErrorKind, Header, Reader, SliceReader, Tag, TagNumber};

use super::{ber, SignatureError};

/// The parts of a SignedData that Mdm-Signature verification reads.
pub(crate) struct SignedDataView<'a> {
    pub encap: EncapsulatedContentInfo,
    /// Each embedded X.509 certificate's full DER (other `CertificateChoices` are skipped).
    pub certificates: Vec<&'a [u8]>,
    pub signers: Vec<SignerView<'a>>,
}

pub(crate) struct SignerView<'a> {
    pub info: SignerInfo,
    /// The signed attributes as sent, `[0] IMPLICIT` header included.
    pub signed_attrs_tlv: Option<&'a [u8]>,
}

const CONTEXT_0: Tag = Tag::ContextSpecific {
    constructed: true,
    number: TagNumber(0),
};
const CONTEXT_1: Tag = Tag::ContextSpecific {
    constructed: true,
    number: TagNumber(1),
};

/// The DER shape of a CMS structure a device sent in BER or DER (borrowed when it is DER).
pub(crate) fn der_form(bytes: &[u8]) -> Result<Cow<'_, [u8]>, SignatureError> {
    ber::normalize(bytes).map_err(|e| SignatureError::NotSignedData(e.to_string()))
}

/// Parses a DER ContentInfo that must hold a SignedData; trailing bytes are refused. BER input
/// goes through [`der_form`] first.
pub(crate) fn parse_signed_data(der: &[u8]) -> Result<SignedDataView<'_>, SignatureError> {
    parse(der).map_err(|e| SignatureError::NotSignedData(e.to_string()))
}

fn parse(der: &[u8]) -> der::Result<SignedDataView<'_>> {
    let mut reader = SliceReader::new(der)?;
    let view = reader.sequence(|ci| -> der::Result<_> {
        let content_type = ObjectIdentifier::decode(ci)?;
        if content_type != ID_SIGNED_DATA {
            return Err(ErrorKind::OidUnknown { oid: content_type }.into());
        }
        let mut explicit = SliceReader::new(value_of(ci, CONTEXT_0)?)?;
        let view = explicit.sequence(signed_data)?;
        explicit.finish()?;
        Ok(view)
    })?;
    reader.finish()?;
    Ok(view)
}

fn signed_data<'a>(sd: &mut SliceReader<'a>) -> der::Result<SignedDataView<'a>> {
    value_of(sd, Tag::Integer)?; // version: the signer infos carry what matters
    value_of(sd, Tag::Set)?; // digestAlgorithms: each signer names its own
    let encap = EncapsulatedContentInfo::decode(&mut *sd)?;

    let mut certificates = Vec::new();
    if Header::peek(sd)?.tag() == CONTEXT_0 {
        let mut set = SliceReader::new(value_of(sd, CONTEXT_0)?)?;
        while !set.is_finished() {
            let tlv = set.tlv_bytes()?;
            // A plain Certificate is a SEQUENCE; the other choices carry [1]..[3] tags.
            if tlv.first() == Some(&0x30) {
                certificates.push(tlv);
            }
        }
    }
    if Header::peek(sd)?.tag() == CONTEXT_1 {
        sd.tlv_bytes()?; // CRLs: revocation is not checked here
    }

    let mut signers = Vec::new();
    let mut set = SliceReader::new(value_of(sd, Tag::Set)?)?;
    while !set.is_finished() {
        signers.push(signer(set.tlv_bytes()?)?);
    }
    Ok(SignedDataView {
        encap,
        certificates,
        signers,
    })
}

fn signer(tlv: &[u8]) -> der::Result<SignerView<'_>> {
    let info = SignerInfo::from_der(tlv)?;
    let mut reader = SliceReader::new(tlv)?;
    let signed_attrs_tlv = reader.sequence(|si| -> der::Result<_> {
        // version, sid, digestAlgorithm; then the optional [0] signed attributes.
        for _ in 0..3 {
            si.tlv_bytes()?;
        }
        let attrs = if Header::peek(si)?.tag() == CONTEXT_0 {
            Some(si.tlv_bytes()?)
        } else {
            None
        };
        while !si.is_finished() {
            si.tlv_bytes()?;
        }
        Ok(attrs)
    })?;
    Ok(SignerView { info, signed_attrs_tlv })
}

/// Reads one TLV that must carry `tag` and returns its value bytes.
fn value_of<'a>(reader: &mut SliceReader<'a>, tag: Tag) -> der::Result<&'a [u8]> {
    let any = AnyRef::from_der(reader.tlv_bytes()?)?;
    any.header().tag().assert_eq(tag)?;
    Ok(any.value())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_garbage_and_other_content_types() {
        assert!(matches!(parse_signed_data(b""), Err(SignatureError::NotSignedData(_))));
        assert!(matches!(
            parse_signed_data(&[0x30, 0x03, 0x02, 0x01, 0x00]),
            Err(SignatureError::NotSignedData(_))
        ));
        // ContentInfo { id-data, [0] OCTET STRING "" }
        let id_data = [
            0x30, 0x0f, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01, 0xa0, 0x02, 0x04, 0x00,
        ];
        let err = parse_signed_data(&id_data)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("1.2.840.113549.1.7.1"), "{err}");
    }

    #[test]
    fn accepts_a_signed_data_without_signers() {
        // ContentInfo { signedData, SignedData { v1, {}, { id-data }, {} } }
        let der = [
            0x30, 0x23, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02, 0xa0, 0x16, 0x30, 0x14, 0x02,
            0x01, 0x01, 0x31, 0x00, 0x30, 0x0b, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01, 0x31,
            0x00,
        ];
        let view = parse_signed_data(&der).expect("parses");
        assert!(view.signers.is_empty() && view.certificates.is_empty() && view.encap.econtent.is_none());
        let mut trailing = der.to_vec();
        trailing.push(0);
        assert!(parse_signed_data(&trailing).is_err());
    }
}

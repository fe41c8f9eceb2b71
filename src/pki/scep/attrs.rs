//! SCEP's signed attributes (RFC 8894 §3.2.1): OIDs under id-VeriSign's pki arc, read from a
//! signer info and written for a new message.

use cms::signed_data::SignerInfo;
use der::asn1::{Ia5StringRef, ObjectIdentifier, OctetString, PrintableStringRef, Utf8StringRef};
use x509_cert::attr::Attribute;

use crate::pki::cms_build::{attribute, enc_err, octets};
use crate::pki::mdm_signature::single_value;
use crate::pki::PkiError;

pub(crate) const MESSAGE_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.113733.1.9.2");
pub(crate) const PKI_STATUS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.113733.1.9.3");
pub(crate) const FAIL_INFO: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.113733.1.9.4");
pub(crate) const SENDER_NONCE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.113733.1.9.5");
pub(crate) const RECIPIENT_NONCE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.113733.1.9.6");
pub(crate) const TRANSACTION_ID: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.113733.1.9.7");

/// `pkiStatus` values (RFC 8894 §3.2.1.3).
pub(crate) const STATUS_SUCCESS: &str = "0";
pub(crate) const STATUS_FAILURE: &str = "2";
pub(crate) const STATUS_PENDING: &str = "3";

/// A string attribute. RFC 8894 says PrintableString; UTF8String and IA5String are accepted
/// too, as some clients send them.
pub(crate) fn string(info: &SignerInfo, oid: ObjectIdentifier) -> Option<String> {
    let value = single_value(info, oid)?;
    if let Ok(s) = value.decode_as::<PrintableStringRef<'_>>() {
        return Some(s.as_str().to_owned());
    }
    if let Ok(s) = value.decode_as::<Utf8StringRef<'_>>() {
        return Some(s.as_str().to_owned());
    }
    value
        .decode_as::<Ia5StringRef<'_>>()
        .ok()
        .map(|s| s.as_str().to_owned())
}

pub(crate) fn octet_string(info: &SignerInfo, oid: ObjectIdentifier) -> Option<Vec<u8>> {
    let value = single_value(info, oid)?;
    value.decode_as::<OctetString>().ok().map(|o| o.as_bytes().to_vec())
}

pub(crate) fn printable(oid: ObjectIdentifier, value: &str) -> Result<Attribute, PkiError> {
    attribute(oid, &PrintableStringRef::new(value).map_err(enc_err)?)
}

pub(crate) fn nonce(oid: ObjectIdentifier, value: &[u8]) -> Result<Attribute, PkiError> {
    attribute(oid, &octets(value)?)
}

/// A fresh 16-byte nonce (RFC 8894 §3.2.1.5).
pub(crate) fn new_nonce() -> Result<[u8; 16], PkiError> {
    let mut nonce = [0u8; 16];
    aws_lc_rs::rand::fill(&mut nonce).map_err(|_| PkiError::Crypto("random nonce"))?;
    Ok(nonce)
}

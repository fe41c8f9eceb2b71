//! Small encoders shared by the PKI files: PEM blocks, lowercase hex, and time conversions
//! between chrono (Annal's clock), rcgen's `time` values and x509-parser's `ASN1Time`.

use base64::Engine as _;
use chrono::{DateTime, Utc};
use x509_parser::time::ASN1Time;

use super::PkiError;

/// Encodes one PEM block with 64-character lines (RFC 7468).
pub(crate) fn pem_encode(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::with_capacity(b64.len() + b64.len() / 64 + 2 * label.len() + 40);
    out.push_str("-----BEGIN ");
    out.push_str(label);
    out.push_str("-----\n");
    // base64 output is ASCII, so splitting on byte boundaries cannot cut a character.
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END ");
    out.push_str(label);
    out.push_str("-----\n");
    out
}

/// Decodes every PEM block of `text`, in order, as (label, DER).
pub(crate) fn pem_decode_all(text: &str) -> Result<Vec<(String, Vec<u8>)>, PkiError> {
    let mut blocks = Vec::new();
    for pem in x509_parser::pem::Pem::iter_from_buffer(text.as_bytes()) {
        let pem = pem.map_err(|e| PkiError::Pem(e.to_string()))?;
        blocks.push((pem.label, pem.contents));
    }
    Ok(blocks)
}

/// The DER of the first block labelled `label`.
pub(crate) fn pem_find(text: &str, label: &str) -> Result<Vec<u8>, PkiError> {
    pem_decode_all(text)?
        .into_iter()
        .find(|(l, _)| l == label)
        .map(|(_, der)| der)
        .ok_or_else(|| PkiError::Pem(format!("no {label} block")))
}

pub(crate) fn hex_lower(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

pub(crate) fn asn1_to_chrono(t: ASN1Time) -> Result<DateTime<Utc>, PkiError> {
    DateTime::from_timestamp(t.timestamp(), 0)
        .ok_or_else(|| PkiError::Certificate("validity date out of range".to_owned()))
}

/// Sets a certificate's validity from chrono instants. rcgen wants `time::OffsetDateTime`, and
/// `time` is not a direct dependency: rcgen's own constructor gives the epoch and
/// `OffsetDateTime + std::time::Duration` does the rest. Instants before 1970 are clamped.
pub(crate) fn set_validity(params: &mut rcgen::CertificateParams, from: DateTime<Utc>, to: DateTime<Utc>) {
    let since_epoch = |t: DateTime<Utc>| std::time::Duration::from_secs(u64::try_from(t.timestamp()).unwrap_or(0));
    params.not_before = rcgen::date_time_ymd(1970, 1, 1) + since_epoch(from);
    params.not_after = rcgen::date_time_ymd(1970, 1, 1) + since_epoch(to);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_round_trip_with_two_blocks() {
        let a: Vec<u8> = (0..200u8).collect();
        let text = format!("{}{}", pem_encode("CERTIFICATE", &a), pem_encode("PRIVATE KEY", b"k"));
        assert!(text.lines().all(|l| l.len() <= 64));
        let blocks = pem_decode_all(&text).expect("decodes");
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[0], ("CERTIFICATE".to_owned(), a));
        assert_eq!(pem_find(&text, "PRIVATE KEY").expect("key block"), b"k");
        assert!(pem_find(&text, "EC PRIVATE KEY").is_err());
    }
}

//! The `mdm_signature` target's input: an `Mdm-Signature` header value and a request body in one
//! byte string.
//!
//! `[mode][header length: u16 BE][header][body]`. With an even `mode` the header part is the
//! CMS DER and the target base64-encodes it (bit 1 set: folded into 64-character lines, as some
//! clients send it), so the fuzzer mutates the ASN.1 structure instead of base64 text; with an
//! odd `mode` it is the header text itself (which must be UTF-8, as an HTTP header value read
//! with `to_str` is).

use base64::Engine as _;

pub const DER: u8 = 0;
pub const DER_FOLDED: u8 = 2;
pub const TEXT: u8 = 1;

pub struct SignatureInput<'a> {
    pub header: String,
    /// The DER the header encodes, when the input gave DER.
    pub der: Option<&'a [u8]>,
    pub body: &'a [u8],
}

pub fn split(data: &[u8]) -> Option<SignatureInput<'_>> {
    let (&mode, rest) = data.split_first()?;
    let (len, rest) = rest.split_first_chunk::<2>()?;
    let len = usize::from(u16::from_be_bytes(*len)).min(rest.len());
    let (header, body) = rest.split_at(len);
    if mode & 1 == TEXT {
        let text = std::str::from_utf8(header).ok()?.to_owned();
        return Some(SignatureInput {
            header: text,
            der: None,
            body,
        });
    }
    let b64 = base64::engine::general_purpose::STANDARD.encode(header);
    let text = if mode & DER_FOLDED != 0 { fold(&b64) } else { b64 };
    Some(SignatureInput {
        header: text,
        der: Some(header),
        body,
    })
}

/// Base64 broken into 64-character lines (PEM style).
fn fold(b64: &str) -> String {
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .filter_map(|c| std::str::from_utf8(c).ok())
        .collect();
    lines.join("\r\n")
}

/// The inverse of [`split`], for the seed generator.
pub fn join(mode: u8, header: &[u8], body: &[u8]) -> Vec<u8> {
    let len = u16::try_from(header.len()).unwrap_or(u16::MAX);
    let mut out = vec![mode];
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&header[..usize::from(len)]);
    out.extend_from_slice(body);
    out
}

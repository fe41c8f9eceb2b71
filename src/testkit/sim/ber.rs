//! DER → BER: the outer constructed values of a DER encoding re-encoded with indefinite
//! lengths (`0x80` … end-of-contents `00 00`), as real Apple devices and `openssl cms -sign
//! -stream` emit CMS. Only the outer levels are touched: the certificates and the signer infos
//! stay DER, as they do in a real device's signature (their own signatures cover their DER).

/// Why a DER input could not be re-encoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BerError {
    #[error("DER ends inside a value at byte {0}")]
    Truncated(usize),
    #[error("a multi-byte tag at byte {0} (not produced by CMS encoders)")]
    LongTag(usize),
    #[error("not DER: an indefinite or over-long length at byte {0}")]
    NotDer(usize),
    #[error("{0} bytes after the outermost value")]
    Trailing(usize),
}

/// `der` (one value) with every constructed value down to `levels` deep (0: only the
/// outermost) given an indefinite length.
pub fn indefinite(der: &[u8], levels: usize) -> Result<Vec<u8>, BerError> {
    let mut out = Vec::with_capacity(der.len() + 16);
    let used = convert(der, 0, levels, &mut out)?;
    if used != der.len() {
        return Err(BerError::Trailing(der.len() - used));
    }
    Ok(out)
}

/// The outer levels of a CMS ContentInfo that a streaming encoder leaves indefinite:
/// ContentInfo, its `[0]` content, SignedData, and SignedData's own fields' wrappers.
pub const CMS_OUTER_LEVELS: usize = 3;

/// One value starting at `at` of `der`, re-encoded into `out`; returns the offset after it.
fn convert(der: &[u8], at: usize, levels: usize, out: &mut Vec<u8>) -> Result<usize, BerError> {
    let (tag, header_len, len) = header(der, at)?;
    let start = at + header_len;
    let end = start
        .checked_add(len)
        .filter(|e| *e <= der.len())
        .ok_or(BerError::Truncated(at))?;
    let constructed = tag & 0x20 != 0;
    if !constructed {
        out.extend_from_slice(&der[at..end]);
        return Ok(end);
    }
    out.push(tag);
    out.push(0x80);
    if levels == 0 {
        // Deeper than the outer levels: the children are kept as they are, DER.
        out.extend_from_slice(&der[start..end]);
        out.extend_from_slice(&[0, 0]);
        return Ok(end);
    }
    let mut next = start;
    while next < end {
        next = convert(&der[..end], next, levels - 1, out)?;
    }
    out.extend_from_slice(&[0, 0]);
    Ok(end)
}

/// (tag, header length, content length) of the DER value at `at`.
fn header(der: &[u8], at: usize) -> Result<(u8, usize, usize), BerError> {
    let tag = *der.get(at).ok_or(BerError::Truncated(at))?;
    if tag & 0x1f == 0x1f {
        return Err(BerError::LongTag(at));
    }
    let first = *der.get(at + 1).ok_or(BerError::Truncated(at))?;
    if first < 0x80 {
        return Ok((tag, 2, first as usize));
    }
    let count = (first & 0x7f) as usize;
    // 0x80 is BER's indefinite length; more than 4 length bytes is no CMS message we make.
    if count == 0 || count > 4 {
        return Err(BerError::NotDer(at + 1));
    }
    let bytes = der.get(at + 2..at + 2 + count).ok_or(BerError::Truncated(at))?;
    let len = bytes.iter().fold(0usize, |acc, b| (acc << 8) | *b as usize);
    Ok((tag, 2 + count, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An independent BER reader for the test: indefinite lengths back to definite ones.
    fn to_der(ber: &[u8]) -> (Vec<u8>, usize) {
        let tag = ber[0];
        if ber[1] == 0x80 {
            let mut content = Vec::new();
            let mut at = 2;
            while ber[at..at + 2] != [0, 0] {
                let (child, used) = to_der(&ber[at..]);
                content.extend(child);
                at += used;
            }
            let mut out = vec![tag];
            out.extend(der_len(content.len()));
            out.extend(content);
            (out, at + 2)
        } else {
            let (_, h, l) = header(ber, 0).expect("header");
            (ber[..h + l].to_vec(), h + l)
        }
    }

    fn der_len(n: usize) -> Vec<u8> {
        if n < 0x80 {
            return vec![n as u8];
        }
        let bytes: Vec<u8> = n.to_be_bytes().into_iter().skip_while(|b| *b == 0).collect();
        let mut out = vec![0x80 | bytes.len() as u8];
        out.extend(bytes);
        out
    }

    fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        out.extend(der_len(content.len()));
        out.extend_from_slice(content);
        out
    }

    #[test]
    fn outer_levels_become_indefinite_and_read_back_to_the_same_der() {
        let leaf = tlv(0x04, &[7; 300]);
        let inner = tlv(0x30, &[tlv(0x02, &[1]), leaf.clone()].concat());
        let der = tlv(0x30, &[tlv(0x06, &[0x2a, 0x86]), tlv(0xa0, &inner)].concat());
        let ber = indefinite(&der, 1).expect("re-encodes");
        assert_eq!(&ber[..2], &[0x30, 0x80]);
        assert_eq!(&ber[ber.len() - 2..], &[0, 0]);
        // The [0] at level 1 is indefinite; the SEQUENCE inside it (level 2) is not rewritten.
        let at = ber.windows(2).position(|w| w == [0xa0, 0x80]).expect("[0] indefinite");
        assert_eq!(ber[at + 2], 0x30);
        assert_ne!(ber[at + 3], 0x80, "level 2 keeps its definite length");
        assert_eq!(to_der(&ber).0, der);
    }

    #[test]
    fn a_cms_signature_reads_back_to_its_der() {
        let der = crate::pki::test_support::identity(crate::pki::KeyKind::Rsa2048)
            .sign_mdm_der(b"<plist/>", crate::pki::MdmDigest::Sha256, chrono::Utc::now())
            .expect("sign");
        let ber = indefinite(&der, CMS_OUTER_LEVELS).expect("re-encodes");
        assert_ne!(ber, der);
        assert_eq!(&ber[..2], &[0x30, 0x80]);
        assert_eq!(to_der(&ber).0, der);
    }

    #[test]
    fn bad_input_is_refused_not_misread() {
        assert_eq!(indefinite(&[0x30, 0x05, 1], 2), Err(BerError::Truncated(0)));
        assert_eq!(indefinite(&[0x30, 0x80, 0, 0], 2), Err(BerError::NotDer(1)));
        assert_eq!(indefinite(&[0x1f, 0x01, 0], 2), Err(BerError::LongTag(0)));
        assert_eq!(indefinite(&[0x04, 0x00, 0xff], 2), Err(BerError::Trailing(1)));
        // A child running past its parent's end.
        assert!(indefinite(&[0x30, 0x02, 0x04, 0x05, 1, 2, 3], 2).is_err());
    }
}

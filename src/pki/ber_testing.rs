//! Test support: re-encodes DER as the BER a streaming encoder writes, so tests and fuzz seeds
//! can exercise [`super::normalize`] on CMS built by Annal. Not used by the server.

/// Rewrites `der` with every constructed element in indefinite length and every primitive
/// OCTET STRING longer than `chunk` octets as a constructed OCTET STRING of `chunk`-sized
/// pieces (what `openssl cms -sign -stream` and Apple devices emit). The contents of primitive
/// elements, including OCTET STRINGs holding DER, are not descended into. `None` if `der` is
/// not one well-formed definite-length element or `chunk` is 0.
pub fn der_to_ber(der: &[u8], chunk: usize) -> Option<Vec<u8>> {
    if chunk == 0 {
        return None;
    }
    let mut out = Vec::with_capacity(der.len() + der.len() / 8);
    let rest = element(der, chunk, &mut out, 0)?;
    rest.is_empty().then_some(out)
}

/// Re-encodes the element at the start of `input` into `out`; returns what follows it.
fn element<'a>(input: &'a [u8], chunk: usize, out: &mut Vec<u8>, depth: usize) -> Option<&'a [u8]> {
    if depth > 64 {
        return None;
    }
    let first = *input.first()?;
    let mut at = 1;
    if first & 0x1f == 0x1f {
        while input.get(at)? & 0x80 != 0 {
            at += 1;
        }
        at += 1;
    }
    let tag = &input[..at];
    let b = *input.get(at)?;
    at += 1;
    let len = match b {
        short if short < 0x80 => short as usize,
        0x80 => return None,
        long => {
            let mut len = 0usize;
            for _ in 0..(long & 0x7f) {
                len = len.checked_mul(256)? + *input.get(at)? as usize;
                at += 1;
            }
            len
        }
    };
    let end = at.checked_add(len)?;
    let content = input.get(at..end)?;
    if first & 0x20 != 0 {
        out.extend_from_slice(tag);
        out.push(0x80);
        let mut rest = content;
        while !rest.is_empty() {
            rest = element(rest, chunk, out, depth + 1)?;
        }
        out.extend_from_slice(&[0, 0]);
    } else if first == 0x04 && content.len() > chunk {
        out.extend_from_slice(&[0x24, 0x80]);
        for piece in content.chunks(chunk) {
            out.push(0x04);
            super::write_length(out, piece.len());
            out.extend_from_slice(piece);
        }
        out.extend_from_slice(&[0, 0]);
    } else {
        out.extend_from_slice(&input[..end]);
    }
    Some(&input[end..])
}

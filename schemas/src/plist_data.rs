//! `<data>` in XML plists read as Apple's and Python's readers read it.
//!
//! The `plist` crate decodes `<data>` with a strict base64 decoder: it drops ASCII whitespace but
//! refuses missing padding, non-zero trailing bits and any character outside the alphabet. Apple's
//! CFPropertyList (`__CFPLDataDecode`) skips every character outside the alphabet and Python's
//! `plistlib` (`binascii.a2b_base64`, non-strict) discards them too, so devices, test captures
//! and third-party simulators send `<data>` that those readers take and the crate refuses (a
//! whole message then failed on one value). [`canonical_data`] rewrites only such elements into
//! canonical base64, before the document reaches the crate; every reader of a device's raw body
//! (the HTTP edge, the projections, the webhook redaction) goes through it, so they all see the
//! same bytes. It lives here because all of them depend on this crate.
//!
//! How a non-canonical `<data>` text is decoded:
//! - whitespace anywhere (spaces, tabs, CR, LF) is ignored, as by every reader;
//! - any other character outside the base64 alphabet (`.` of a `...` placeholder, `-`, `_`) is
//!   discarded, as `a2b_base64` in non-strict mode and CFPropertyList do;
//! - `=` ends a quantum: the characters before it that form whole bytes are kept and decoding
//!   goes on after it (so concatenated padded chunks decode whole);
//! - a missing `=` is supplied: the last 2 or 3 characters give their 1 or 2 bytes. `plistlib`
//!   refuses this ("Incorrect padding") and CFPropertyList silently drops those bytes; the bytes
//!   are whole, so keeping them loses nothing;
//! - a lone last character (6 bits, not a byte) is dropped, as CFPropertyList drops it;
//! - trailing bits that canonical base64 would have left zero are ignored.
//!
//! Canonical input is returned borrowed: one substring search over the body and one pass over
//! each `<data>` text, no allocation. Text holding an entity or character reference (`&…;`) is
//! left to the crate, which resolves references before decoding.

use std::borrow::Cow;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

const OPEN: &[u8] = b"<data";
const CLOSE: &[u8] = b"</data";

/// `xml` with every non-canonical `<data>` text rewritten as canonical base64 (see the module
/// documentation); borrowed when there is nothing to rewrite. Binary plists are returned as they
/// are.
pub fn canonical_data(xml: &[u8]) -> Cow<'_, [u8]> {
    if xml.starts_with(b"bplist") {
        return Cow::Borrowed(xml);
    }
    let mut out: Option<Vec<u8>> = None;
    // Bytes of `xml` already copied to `out`.
    let mut copied = 0;
    let mut from = 0;
    let finder = memchr::memmem::Finder::new(OPEN);
    while let Some(found) = finder.find(&xml[from..]) {
        let after_name = from + found + OPEN.len();
        from = after_name;
        let Some(content) = data_text(xml, after_name) else {
            continue;
        };
        from = content.end;
        let text = &xml[content.clone()];
        if is_canonical(text) {
            continue;
        }
        let out = out.get_or_insert_with(|| Vec::with_capacity(xml.len()));
        out.extend_from_slice(&xml[copied..content.start]);
        let decoded = decode_lenient(text);
        let start = out.len();
        out.resize(start + decoded.len().div_ceil(3) * 4, 0);
        match STANDARD.encode_slice(&decoded, &mut out[start..]) {
            Ok(written) => out.truncate(start + written),
            // Cannot happen (the room is computed above); leaving the text as it was lets the
            // crate report it rather than writing something else.
            Err(_) => {
                out.truncate(start);
                out.extend_from_slice(text);
            }
        }
        copied = content.end;
    }
    match out {
        None => Cow::Borrowed(xml),
        Some(mut out) => {
            out.extend_from_slice(&xml[copied..]);
            Cow::Owned(out)
        }
    }
}

/// The range of the text of the `<data>` element whose name ends at `after_name`, when it is a
/// start tag (`<data>`, `<data attr="…">`, not `<data/>` nor `<dataX>`) followed by text and
/// its end tag. Anything else (a comment or CDATA inside, no end tag) is left to the crate.
fn data_text(xml: &[u8], after_name: usize) -> Option<std::ops::Range<usize>> {
    let next = *xml.get(after_name)?;
    if next != b'>' && !next.is_ascii_whitespace() {
        return None;
    }
    let tag_end = after_name + memchr::memchr(b'>', &xml[after_name..])?;
    if xml[..tag_end].ends_with(b"/") {
        return None;
    }
    let start = tag_end + 1;
    let end = start + memchr::memchr(b'<', &xml[start..])?;
    let close = &xml[end..];
    let closes = close.starts_with(CLOSE)
        && close
            .get(CLOSE.len())
            .is_some_and(|&b| b == b'>' || b.is_ascii_whitespace());
    closes.then_some(start..end)
}

/// Classes of a byte in `<data>` text: a sextet value (0..=63), or one of these.
const SPACE: u8 = 64;
const PAD: u8 = 65;
const OTHER: u8 = 66;

/// The class of every byte, so the canonical check is one table load per byte.
const CLASS: [u8; 256] = {
    let mut table = [OTHER; 256];
    let mut i = 0;
    while i < 26 {
        table[b'A' as usize + i] = i as u8;
        table[b'a' as usize + i] = 26 + i as u8;
        i += 1;
    }
    let mut d = 0;
    while d < 10 {
        table[b'0' as usize + d] = 52 + d as u8;
        d += 1;
    }
    table[b'+' as usize] = 62;
    table[b'/' as usize] = 63;
    table[b'=' as usize] = PAD;
    // What the crate strips (`u8::is_ascii_whitespace`: no vertical tab).
    table[b' ' as usize] = SPACE;
    table[b'\t' as usize] = SPACE;
    table[b'\n' as usize] = SPACE;
    table[0x0c] = SPACE;
    table[b'\r' as usize] = SPACE;
    table
};

/// The value of a base64 alphabet character.
fn sextet(b: u8) -> Option<u32> {
    let class = CLASS[usize::from(b)];
    (class < 64).then_some(u32::from(class))
}

/// Whether the `plist` crate decodes `text` as it is: what is left once ASCII whitespace is
/// removed (the crate removes it) is padded base64 with zero trailing bits. Text with a
/// reference (`&`) counts as canonical: it is left to the crate.
fn is_canonical(text: &[u8]) -> bool {
    let (mut chars, mut pads, mut last) = (0usize, 0usize, 0u8);
    for &b in text {
        match CLASS[usize::from(b)] {
            SPACE => {}
            PAD => pads += 1,
            v if v < 64 && pads == 0 => {
                last = v;
                chars += 1;
            }
            _ => return b == b'&' || text.contains(&b'&'),
        }
    }
    match (chars % 4, pads) {
        (0, 0) => true,
        (2, 2) => last & 0x0f == 0,
        (3, 1) => last & 0x03 == 0,
        _ => false,
    }
}

/// Decodes `text` by the rules of the module documentation. Never fails.
pub fn decode_lenient(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3 + 2);
    let (mut acc, mut n) = (0u32, 0u32);
    for &b in text {
        match sextet(b) {
            Some(v) => {
                acc = (acc << 6) | v;
                n += 1;
                if n == 4 {
                    out.extend_from_slice(&[(acc >> 16) as u8, (acc >> 8) as u8, acc as u8]);
                    (acc, n) = (0, 0);
                }
            }
            None if b == b'=' => {
                flush(&mut out, acc, n);
                (acc, n) = (0, 0);
            }
            None => {}
        }
    }
    flush(&mut out, acc, n);
    out
}

/// The whole bytes of a partial quantum of `n` characters (2 → 1 byte, 3 → 2 bytes).
fn flush(out: &mut Vec<u8>, acc: u32, n: u32) {
    match n {
        2 => out.push((acc >> 4) as u8),
        3 => out.extend_from_slice(&[(acc >> 10) as u8, (acc >> 2) as u8]),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(data: &str) -> Vec<u8> {
        format!("<plist><dict><key>Token</key><data>{data}</data></dict></plist>").into_bytes()
    }

    fn rewritten(data: &str) -> String {
        match canonical_data(&doc(data)) {
            Cow::Borrowed(_) => panic!("{data:?} was left as it was"),
            Cow::Owned(bytes) => {
                let text = String::from_utf8(bytes).expect("utf-8");
                let start = text.find("<data>").expect("data") + 6;
                let end = text.find("</data>").expect("end");
                text[start..end].to_owned()
            }
        }
    }

    #[test]
    fn canonical_text_is_borrowed() {
        for data in ["", "QUJD", "QUI=", "QQ==", " QU\r\nJD\t", "QUJD\nREVG\n"] {
            let body = doc(data);
            assert!(matches!(canonical_data(&body), Cow::Borrowed(_)), "{data:?}");
        }
    }

    #[test]
    fn lenient_forms_become_canonical() {
        assert_eq!(rewritten("QUI"), "QUI=", "missing padding");
        assert_eq!(rewritten("QQ"), "QQ==");
        assert_eq!(rewritten("QR=="), "QQ==", "non-zero trailing bits");
        assert_eq!(rewritten("QU.JD"), "QUJD", "a character outside the alphabet");
        assert_eq!(rewritten("..."), "", "a placeholder");
        assert_eq!(rewritten("QUJDR"), "QUJD", "a lone last character");
        assert_eq!(rewritten("QQ==QUI="), "QUFC", "concatenated padded chunks");
        assert_eq!(rewritten("QUJD\r\nRA"), "QUJDRA==", "line breaks and no padding");
    }

    #[test]
    fn decoding_matches_the_standard_decoder_on_canonical_text() {
        for bytes in [&b""[..], b"A", b"AB", b"ABC", b"ABCD", &[0xff, 0x00, 0xfe, 0x10]] {
            let text = STANDARD.encode(bytes);
            assert!(is_canonical(text.as_bytes()));
            assert_eq!(decode_lenient(text.as_bytes()), bytes);
        }
    }

    #[test]
    fn other_elements_and_shapes_are_untouched() {
        for body in [
            &b"<plist><string>QUI</string></plist>"[..],
            b"<plist><data/></plist>",
            b"<plist><dataX>QUI</dataX></plist>",
            b"<plist><data>QU&#73;</data></plist>",
            b"<plist><data>QUI<!-- c --></data></plist>",
            b"<plist><data>QUI",
            b"bplist00<data>QUI</data>",
        ] {
            assert!(matches!(canonical_data(body), Cow::Borrowed(_)), "{body:?}");
        }
    }

    #[test]
    fn attributes_and_several_elements() {
        let body = b"<array><data id=\"1\">QUI</data><data>QUJD</data><data>QQ</data></array>";
        let out = canonical_data(body);
        assert_eq!(
            &*out,
            &b"<array><data id=\"1\">QUI=</data><data>QUJD</data><data>QQ==</data></array>"[..]
        );
    }
}

/// Cost on the hot path: `cargo test -p annal-schemas --release -- --ignored --nocapture scan_cost`.
#[cfg(test)]
mod cost {
    use super::*;

    #[test]
    #[ignore]
    fn scan_cost() {
        let mut body = String::from("<plist version=\"1.0\"><dict>");
        for i in 0..200 {
            body.push_str(&format!(
                "<key>K{i}</key><string>value {i}</string><key>D{i}</key><data>{}</data>",
                STANDARD.encode([i as u8; 32])
            ));
        }
        body.push_str("</dict></plist>");
        let bytes = body.as_bytes();
        let rounds = 2000;
        let start = std::time::Instant::now();
        for _ in 0..rounds {
            assert!(matches!(canonical_data(std::hint::black_box(bytes)), Cow::Borrowed(_)));
        }
        let per = start.elapsed() / rounds;
        println!("{} bytes, 200 <data>: {per:?} per body", bytes.len());
    }
}

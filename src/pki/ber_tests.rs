//! The BER normalizer on hand-written encodings: each case is BER as X.690 allows it and the
//! DER it must become, or a malformation and the error naming it.

use std::borrow::Cow;

use super::testing::der_to_ber;
use super::{normalize, normalize_with, BerError, BerLimits};

fn normalized(ber: &[u8]) -> Vec<u8> {
    normalize(ber)
        .unwrap_or_else(|e| panic!("{ber:02x?}: {e}"))
        .into_owned()
}

#[test]
fn der_comes_back_borrowed_and_unchanged() {
    // SEQUENCE { INTEGER 1, OCTET STRING "ab", [0] { NULL } }
    let der = [
        0x30, 0x0b, 0x02, 0x01, 0x01, 0x04, 0x02, b'a', b'b', 0xa0, 0x02, 0x05, 0x00,
    ];
    assert!(matches!(normalize(&der), Ok(Cow::Borrowed(b)) if b == der));
}

#[test]
fn nested_indefinite_lengths_become_definite() {
    // SEQUENCE(indef) { SEQUENCE(indef) { INTEGER 5 } EOC, [1](indef) { BOOLEAN } EOC } EOC
    let ber = [
        0x30, 0x80, 0x30, 0x80, 0x02, 0x01, 0x05, 0x00, 0x00, 0xa1, 0x80, 0x01, 0x01, 0xff, 0x00, 0x00, 0x00, 0x00,
    ];
    let der = [0x30, 0x0a, 0x30, 0x03, 0x02, 0x01, 0x05, 0xa1, 0x03, 0x01, 0x01, 0xff];
    assert_eq!(normalized(&ber), der);
}

#[test]
fn constructed_octet_strings_are_joined_at_any_depth() {
    // [0](indef) { OCTET STRING(constructed, indef) { "ab", OCTET STRING(constructed) { "c" }, "" } }
    let ber = [
        0xa0, 0x80, 0x24, 0x80, 0x04, 0x02, b'a', b'b', 0x24, 0x03, 0x04, 0x01, b'c', 0x04, 0x00, 0x00, 0x00, 0x00,
        0x00,
    ];
    assert_eq!(normalized(&ber), [0xa0, 0x05, 0x04, 0x03, b'a', b'b', b'c']);
    // A character string splits into OCTET STRING chunks too.
    let utf8 = [0x2c, 0x80, 0x04, 0x01, b'h', 0x04, 0x01, b'i', 0x00, 0x00];
    assert_eq!(normalized(&utf8), [0x0c, 0x02, b'h', b'i']);
}

#[test]
fn constructed_bit_strings_keep_the_last_unused_bits() {
    // BIT STRING(constructed) { 03 02 00 aa, 03 02 04 f0 } -> 03 03 04 aa f0
    let ber = [0x23, 0x08, 0x03, 0x02, 0x00, 0xaa, 0x03, 0x02, 0x04, 0xf0];
    assert_eq!(normalized(&ber), [0x03, 0x03, 0x04, 0xaa, 0xf0]);
    let unused_in_the_middle = [0x23, 0x08, 0x03, 0x02, 0x04, 0xaa, 0x03, 0x02, 0x00, 0xf0];
    assert!(matches!(
        normalize(&unused_in_the_middle),
        Err(BerError::BadChunk { offset: 6, .. })
    ));
}

#[test]
fn long_form_lengths_become_minimal_and_large_contents_keep_their_bytes() {
    // OCTET STRING with a 2-octet length of 3.
    assert_eq!(normalized(&[0x04, 0x82, 0x00, 0x03, 1, 2, 3]), [0x04, 0x03, 1, 2, 3]);
    let payload: Vec<u8> = (0..70_000u32).map(|i| i as u8).collect();
    let mut ber = vec![0x30, 0x80, 0x24, 0x80];
    for piece in payload.chunks(1000) {
        ber.push(0x04);
        ber.extend_from_slice(&[0x82, (piece.len() >> 8) as u8, piece.len() as u8]);
        ber.extend_from_slice(piece);
    }
    ber.extend_from_slice(&[0, 0, 0, 0]);
    let der = normalized(&ber);
    assert_eq!(&der[..2], [0x30, 0x83]);
    assert_eq!(&der[5..10], [0x04, 0x83, 0x01, 0x11, 0x70]);
    assert_eq!(&der[10..], payload.as_slice());
}

#[test]
fn reencoded_der_normalizes_back_to_the_same_bytes() {
    let der = [
        0x30, 0x14, 0x06, 0x03, 0x2a, 0x03, 0x04, 0xa0, 0x0d, 0x04, 0x0b, b'h', b'e', b'l', b'l', b'o', b' ', b'w',
        b'o', b'r', b'l', b'd',
    ];
    for chunk in [1, 2, 5, 64] {
        let ber = der_to_ber(&der, chunk).expect("re-encodes");
        assert_ne!(ber, der);
        assert_eq!(normalized(&ber), der, "chunk {chunk}");
    }
    assert_eq!(der_to_ber(&der[..5], 4), None);
}

#[test]
fn depth_and_size_limits_refuse() {
    let limits = BerLimits {
        max_depth: 3,
        max_len: 64,
    };
    let three = [0x30, 0x80, 0x30, 0x80, 0x30, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00];
    assert!(normalize_with(&three, limits).is_ok());
    let four = [0x30, 0x06, 0x30, 0x04, 0x30, 0x02, 0x30, 0x00];
    assert_eq!(
        normalize_with(&four, limits),
        Err(BerError::TooDeep { max: 3, offset: 6 })
    );
    assert_eq!(
        normalize_with(&[0x04; 65], limits),
        Err(BerError::TooLarge { len: 65, max: 64 })
    );
    // The default depth stops a deep nest without exhausting the stack.
    let deep: Vec<u8> = [[0x30u8, 0x80].repeat(10_000), [0u8, 0].repeat(10_000)].concat();
    assert!(matches!(normalize(&deep), Err(BerError::TooDeep { max: 32, .. })));
}

#[test]
fn truncated_input_is_refused_where_it_ends() {
    let full = [0x30, 0x80, 0x04, 0x03, 1, 2, 3, 0x00, 0x00];
    for cut in 1..full.len() {
        let err = normalize(&full[..cut]).expect_err("truncated");
        assert!(matches!(err, BerError::Truncated { .. }), "cut at {cut}: {err}");
    }
    assert_eq!(normalize(&[]), Err(BerError::Empty));
    assert!(matches!(
        normalize(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]),
        Err(BerError::Truncated { what: "content", .. })
    ));
}

#[test]
fn trailing_bytes_and_misplaced_markers_are_refused() {
    assert_eq!(
        normalize(&[0x05, 0x00, 0x00]),
        Err(BerError::TrailingData { offset: 2, count: 1 })
    );
    assert_eq!(
        normalize(&[0x30, 0x80, 0x05, 0x00, 0x00, 0x00, 0xff]),
        Err(BerError::TrailingData { offset: 6, count: 1 })
    );
    assert_eq!(
        normalize(&[0x30, 0x02, 0x00, 0x00]),
        Err(BerError::MisplacedEndOfContents { offset: 2 })
    );
    assert_eq!(
        normalize(&[0x04, 0x80, 0x00, 0x00]),
        Err(BerError::IndefinitePrimitive { offset: 0 })
    );
    assert!(matches!(
        normalize(&[0x30, 0x80, 0x00, 0x01, 0x00]),
        Err(BerError::BadLength { offset: 3, .. })
    ));
    assert!(matches!(normalize(&[0x30, 0xff]), Err(BerError::BadLength { .. })));
    assert!(matches!(
        normalize(&[0x30, 0x85, 0, 0, 0, 0, 1]),
        Err(BerError::BadLength { .. })
    ));
    // A child longer than its definite parent.
    assert_eq!(
        normalize(&[0x30, 0x03, 0x04, 0x05, 1, 2, 3, 4, 5]),
        Err(BerError::Overrun { offset: 2 })
    );
    // An OCTET STRING chunk of another type.
    assert!(matches!(
        normalize(&[0x24, 0x80, 0x02, 0x01, 0x01, 0x00, 0x00]),
        Err(BerError::BadChunk { offset: 2, .. })
    ));
    // A high tag number that never ends.
    assert!(matches!(
        normalize(&[0x1f, 0x81, 0x81, 0x81, 0x81, 0x81, 0x01, 0x00]),
        Err(BerError::BadTag { offset: 0 })
    ));
}

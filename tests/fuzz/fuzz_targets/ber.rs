//! The BER normalizer (`annal::pki::ber`) that every CMS a device sends goes through first. On
//! any bytes it returns an error or DER-shaped bytes that normalize to themselves unchanged (so
//! DER input comes back as it was), and re-encoding those as BER (indefinite lengths, chunked
//! OCTET STRINGs) normalizes back to the same bytes.
#![no_main]

use std::borrow::Cow;

use annal::pki::ber::testing::der_to_ber;
use annal::pki::ber::{normalize, BerError};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(out) = normalize(data) else { return };
    match normalize(&out) {
        Ok(Cow::Borrowed(again)) => assert_eq!(again, &*out),
        other => panic!("the normalized form is not a fixed point: {other:?}"),
    }
    let chunk = usize::from(data[0] % 16) + 1;
    let Some(ber) = der_to_ber(&out, chunk) else {
        panic!("the normalized form is not one definite-length element")
    };
    match normalize(&ber) {
        Ok(back) => assert_eq!(&*back, &*out, "DER -> BER -> DER changed the bytes"),
        // Chunking an OCTET STRING at the deepest allowed level nests one level more.
        Err(BerError::TooDeep { .. }) => {}
        Err(e) => panic!("re-encoded BER refused: {e}"),
    }
});

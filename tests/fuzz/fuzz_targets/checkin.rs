//! Check-in bodies (`PUT /mdm/checkin`): any bytes parse or are refused with a short error, and
//! whatever parses is a message that survives being written back and read again unchanged.
#![no_main]

use annal::mdm::parse_checkin;
use annal_fuzz::encode;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let message = match parse_checkin(data) {
        Ok(message) => message,
        Err(e) => {
            // The message goes into the 400 body: it must stay an excerpt, whatever the input.
            let text = e.to_string();
            assert!(text.len() < 300, "error message of {} bytes: {text}", text.len());
            return;
        }
    };
    // Every accepted message names the stream it is appended to.
    assert!(
        message.ids().enrollment_key().is_ok(),
        "accepted without an enrollment key"
    );
    let rewritten = encode::binary(encode::checkin(&message));
    match parse_checkin(&rewritten) {
        Ok(again) => assert!(
            again == message || same_with_nan(&again, &message),
            "round trip changed the message: {message:?} -> {again:?}"
        ),
        Err(e) => panic!("a parsed check-in, written back, is refused: {e}; {message:?}"),
    }
});

/// `TokenParameters` may hold a NaN real, which `==` never matches: compare encodings instead.
fn same_with_nan(a: &annal::mdm::CheckinMessage, b: &annal::mdm::CheckinMessage) -> bool {
    encode::same(&encode::checkin(a), &encode::checkin(b))
}

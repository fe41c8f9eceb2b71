//! The MDM protocol as values: check-in messages, command-channel reports, command envelopes. No I/O.
//!
//! Pure functions over request bodies and `plist` values; the HTTP edge turns a [`ParseError`]
//! into a 400 whose body may quote the error's message.

mod bounded;
pub mod checkin;
pub mod command;
pub mod commands;
pub mod declarations;
pub mod error;
mod fields;
pub mod ids;
pub mod machine_info;
pub mod report;
mod salvage;
pub mod secret;
pub mod url_params;

pub use bounded::{parse_dict, parse_plist, MAX_DEPTH};
pub use checkin::{parse_checkin, CheckinMessage};
pub use command::{command_envelope, parse_command};
pub use error::{EncodeError, ParseError};
pub use ids::EnrollmentIds;
pub use machine_info::{parse_machine_info, MachineInfo};
pub use report::{
    parse_report, parse_report_with_response, read_report, CommandReport, ReadReport, Status, UnreadableReport,
};
pub use secret::Secret;

#[cfg(test)]
mod proptests;

/// Test helpers shared by the module's unit tests.
#[cfg(test)]
pub(crate) mod testutil {
    use plist::{Dictionary, Value};

    pub(crate) fn s(v: &str) -> Value {
        Value::String(v.to_owned())
    }

    pub(crate) fn dict(entries: &[(&str, Value)]) -> Dictionary {
        entries.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
    }

    pub(crate) fn xml(dict: Dictionary) -> Vec<u8> {
        let mut out = Vec::new();
        if let Err(e) = Value::Dictionary(dict).to_writer_xml(&mut out) {
            panic!("test plist must encode: {e}");
        }
        out
    }

    pub(crate) fn body(entries: &[(&str, Value)]) -> Vec<u8> {
        xml(dict(entries))
    }
}

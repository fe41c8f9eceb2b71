//! Tests of the command schema, validation, JSON conversion and builders.

mod builders;
mod errors;
mod every_command;
mod examples;
mod json;
mod loader;

use plist::Dictionary;
use serde_json::Value as Json;

use super::{from_json, CommandError, Platform};

/// `from_json`, expecting an error.
pub(super) fn refused(command: Json, platform: Option<Platform>) -> CommandError {
    match from_json(&command, platform) {
        Ok(dict) => panic!("{command} was accepted as {dict:?}"),
        Err(e) => e,
    }
}

/// `from_json`, expecting success.
pub(super) fn accepted(command: Json, platform: Option<Platform>) -> Dictionary {
    from_json(&command, platform).unwrap_or_else(|e| panic!("{command} refused: {e}"))
}

pub(super) fn err(path: &str, reason: &str) -> CommandError {
    CommandError {
        path: path.into(),
        reason: reason.into(),
    }
}

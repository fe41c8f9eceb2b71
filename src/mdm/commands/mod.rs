//! MDM commands checked against Apple's own schema (`schemas/apple/mdm/commands/*.yaml`, MIT,
//! embedded in the binary): [`from_json`] for commands an operator writes as JSON, [`validate`]
//! for raw plist Command dictionaries, typed [`builders`] for the commands Annal sends itself,
//! [`validate_profile`] for the configuration profiles Annal generates (`schemas/apple/mdm/profiles/`),
//! and [`form`]: each command's keys described for a form (the web console's send form).
//!
//! Pure: the only data read is the embedded schema, parsed once on first use.

pub mod builders;
mod embedded;
pub(crate) mod error;
pub mod form;
pub(crate) mod json;
mod platform;
mod profile;
pub(crate) mod schema;
pub(crate) mod validate;

pub use builders::Command;
pub use error::CommandError;
pub use json::from_json;
pub use platform::{Platform, UnknownPlatform};
pub use profile::validate_profile;
pub use validate::validate;

/// Every RequestType in Apple's schema, sorted. Empty only if the embedded schema failed to
/// load, which the tests rule out.
pub fn request_types() -> Vec<&'static str> {
    match schema::apple() {
        Ok(schema) => schema.commands().map(|c| c.name.as_str()).collect(),
        Err(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests;

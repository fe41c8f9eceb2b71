//! Typed builders for the commands Annal sends on its own: each produces a Command dictionary
//! (`RequestType` plus Apple's keys) that validates against Apple's schema.
//!
//! Secrets a command carries (Find My PIN, UnlockToken, profile payloads that may hold passwords)
//! are held in [`Secret`], so `Debug` on a builder never prints them.

mod declarative;
mod device;
mod inventory;
mod profiles;

use plist::{Dictionary, Value};

pub use declarative::DeclarativeManagement;
pub use device::{ClearPasscode, DeviceLock, EraseDevice, ObliterationBehavior, ReturnToService};
pub use inventory::{
    CertificateList, DeviceInformation, InstalledApplicationList, ProfileList, ProvisioningProfileList,
    RestrictionsList, SecurityInfo,
};
pub use profiles::{InstallProfile, InstallProvisioningProfile, RemoveProfile, RemoveProvisioningProfile};

use crate::mdm::secret::Secret;

/// A command the server can send: its `RequestType` and its Command dictionary.
pub trait Command {
    fn request_type(&self) -> &'static str;
    fn to_command(&self) -> Dictionary;
}

/// Builds a Command dictionary one optional key at a time.
struct Keys(Dictionary);

impl Keys {
    fn new(request_type: &str) -> Self {
        Keys(crate::mdm::command::command(request_type))
    }

    fn set(mut self, key: &str, value: Value) -> Self {
        self.0.insert(key.to_owned(), value);
        self
    }

    fn opt(self, key: &str, value: Option<Value>) -> Self {
        match value {
            Some(value) => self.set(key, value),
            None => self,
        }
    }

    fn opt_bool(self, key: &str, value: Option<bool>) -> Self {
        self.opt(key, value.map(Value::Boolean))
    }

    fn opt_string(self, key: &str, value: Option<&str>) -> Self {
        self.opt(key, value.map(string))
    }

    /// Omits the key when `values` is empty (absent means "all" for Apple's filter lists).
    fn strings(self, key: &str, values: &[String]) -> Self {
        let list = (!values.is_empty()).then(|| Value::Array(values.iter().map(|v| string(v)).collect()));
        self.opt(key, list)
    }

    fn done(self) -> Dictionary {
        self.0
    }
}

fn string(s: &str) -> Value {
    Value::String(s.to_owned())
}

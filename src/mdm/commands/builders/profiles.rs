//! Commands that install and remove configuration and provisioning profiles.

use plist::{Dictionary, Value};

use super::{string, Command, Keys, Secret};

/// `InstallProfile` with the profile's bytes (signed or not); a profile may hold passwords.
#[derive(Debug, Clone)]
pub struct InstallProfile {
    pub payload: Secret<Vec<u8>>,
}

impl InstallProfile {
    pub fn new(payload: Vec<u8>) -> Self {
        InstallProfile {
            payload: Secret::new(payload),
        }
    }
}

impl Command for InstallProfile {
    fn request_type(&self) -> &'static str {
        "InstallProfile"
    }

    fn to_command(&self) -> Dictionary {
        Keys::new(self.request_type())
            .set("Payload", Value::Data(self.payload.expose().clone()))
            .done()
    }
}

/// `RemoveProfile` by the profile's `PayloadIdentifier`.
#[derive(Debug, Clone)]
pub struct RemoveProfile {
    pub identifier: String,
}

impl Command for RemoveProfile {
    fn request_type(&self) -> &'static str {
        "RemoveProfile"
    }

    fn to_command(&self) -> Dictionary {
        Keys::new(self.request_type())
            .set("Identifier", string(&self.identifier))
            .done()
    }
}

/// `InstallProvisioningProfile` with the `.mobileprovision` bytes.
#[derive(Debug, Clone)]
pub struct InstallProvisioningProfile {
    pub provisioning_profile: Vec<u8>,
}

impl Command for InstallProvisioningProfile {
    fn request_type(&self) -> &'static str {
        "InstallProvisioningProfile"
    }

    fn to_command(&self) -> Dictionary {
        Keys::new(self.request_type())
            .set("ProvisioningProfile", Value::Data(self.provisioning_profile.clone()))
            .done()
    }
}

/// `RemoveProvisioningProfile` by the profile's UUID.
#[derive(Debug, Clone)]
pub struct RemoveProvisioningProfile {
    pub uuid: String,
}

impl Command for RemoveProvisioningProfile {
    fn request_type(&self) -> &'static str {
        "RemoveProvisioningProfile"
    }

    fn to_command(&self) -> Dictionary {
        Keys::new(self.request_type()).set("UUID", string(&self.uuid)).done()
    }
}

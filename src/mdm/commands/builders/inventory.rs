//! Commands that ask the device what it has: information, security state, lists.

use plist::{Dictionary, Value};

use super::{Command, Keys};

/// `DeviceInformation` for the named queries (`UDID`, `OSVersion`, `SerialNumber`, …).
#[derive(Debug, Clone, Default)]
pub struct DeviceInformation {
    pub queries: Vec<String>,
    /// Asks for DevicePropertiesAttestation bound to this nonce (iOS 16+, macOS 14+, tvOS 16+).
    pub device_attestation_nonce: Option<Vec<u8>>,
}

impl DeviceInformation {
    pub fn new<S: AsRef<str>>(queries: impl IntoIterator<Item = S>) -> Self {
        DeviceInformation {
            queries: queries.into_iter().map(|q| q.as_ref().to_owned()).collect(),
            device_attestation_nonce: None,
        }
    }
}

impl Command for DeviceInformation {
    fn request_type(&self) -> &'static str {
        "DeviceInformation"
    }

    fn to_command(&self) -> Dictionary {
        // Queries is required, so an empty list is still sent.
        let queries = self.queries.iter().map(|q| Value::String(q.clone())).collect();
        Keys::new(self.request_type())
            .set("Queries", Value::Array(queries))
            .opt(
                "DeviceAttestationNonce",
                self.device_attestation_nonce.clone().map(Value::Data),
            )
            .done()
    }
}

/// `InstalledApplicationList`; empty `identifiers`/`items` mean all apps / all keys.
#[derive(Debug, Clone, Default)]
pub struct InstalledApplicationList {
    pub identifiers: Vec<String>,
    pub managed_apps_only: Option<bool>,
    /// Keys of each returned item (iOS 14+, tvOS 14+), e.g. `Name`, `Version`.
    pub items: Vec<String>,
}

impl Command for InstalledApplicationList {
    fn request_type(&self) -> &'static str {
        "InstalledApplicationList"
    }

    fn to_command(&self) -> Dictionary {
        Keys::new(self.request_type())
            .strings("Identifiers", &self.identifiers)
            .opt_bool("ManagedAppsOnly", self.managed_apps_only)
            .strings("Items", &self.items)
            .done()
    }
}

/// A command whose only key is an optional boolean filter.
macro_rules! filtered_list {
    ($(#[$doc:meta])* $name:ident, $request_type:literal, $field:ident, $key:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Default)]
        pub struct $name {
            pub $field: Option<bool>,
        }

        impl Command for $name {
            fn request_type(&self) -> &'static str {
                $request_type
            }

            fn to_command(&self) -> Dictionary {
                Keys::new(self.request_type()).opt_bool($key, self.$field).done()
            }
        }
    };
}

filtered_list!(
    /// `CertificateList`; `managed_only` limits it to certificates MDM installed.
    CertificateList, "CertificateList", managed_only, "ManagedOnly"
);
filtered_list!(
    /// `ProfileList`; `managed_only` limits it to profiles MDM installed.
    ProfileList, "ProfileList", managed_only, "ManagedOnly"
);
filtered_list!(
    /// `ProvisioningProfileList`; `managed_only` limits it to MDM-installed ones (iOS, tvOS).
    ProvisioningProfileList, "ProvisioningProfileList", managed_only, "ManagedOnly"
);
filtered_list!(
    /// `Restrictions` (the restrictions list); `profile_restrictions` asks for each profile's too.
    RestrictionsList, "Restrictions", profile_restrictions, "ProfileRestrictions"
);

/// `SecurityInfo`: passcode, FileVault, firewall, SIP and similar state.
#[derive(Debug, Clone, Copy, Default)]
pub struct SecurityInfo;

impl Command for SecurityInfo {
    fn request_type(&self) -> &'static str {
        "SecurityInfo"
    }

    fn to_command(&self) -> Dictionary {
        Keys::new(self.request_type()).done()
    }
}

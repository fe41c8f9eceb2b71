//! Commands that act on the device: lock, erase, clear the passcode.

use plist::{Dictionary, Value};

use super::{string, Command, Keys, Secret};

/// `DeviceLock`: locks the device now; macOS shows `pin` as the Find My PIN.
#[derive(Debug, Clone, Default)]
pub struct DeviceLock {
    /// Six characters; macOS only.
    pub pin: Option<Secret<String>>,
    pub message: Option<String>,
    pub phone_number: Option<String>,
}

impl Command for DeviceLock {
    fn request_type(&self) -> &'static str {
        "DeviceLock"
    }

    fn to_command(&self) -> Dictionary {
        Keys::new(self.request_type())
            .opt("PIN", self.pin.as_ref().map(|p| string(p.expose())))
            .opt_string("Message", self.message.as_deref())
            .opt_string("PhoneNumber", self.phone_number.as_deref())
            .done()
    }
}

/// `EraseDevice.ObliterationBehavior` (macOS 12+): what to do when Erase All Content and Settings
/// cannot run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObliterationBehavior {
    Default,
    DoNotObliterate,
    ObliterateWithWarning,
    Always,
}

impl ObliterationBehavior {
    pub const ALL: [ObliterationBehavior; 4] = [
        ObliterationBehavior::Default,
        ObliterationBehavior::DoNotObliterate,
        ObliterationBehavior::ObliterateWithWarning,
        ObliterationBehavior::Always,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ObliterationBehavior::Default => "Default",
            ObliterationBehavior::DoNotObliterate => "DoNotObliterate",
            ObliterationBehavior::ObliterateWithWarning => "ObliterateWithWarning",
            ObliterationBehavior::Always => "Always",
        }
    }
}

/// `EraseDevice.ReturnToService` (iOS 17+, tvOS 18+): re-enroll by itself after the erase.
#[derive(Debug, Clone, Default)]
pub struct ReturnToService {
    pub enabled: bool,
    /// A Wi-Fi profile, which may hold the network's password.
    pub wifi_profile_data: Option<Secret<Vec<u8>>>,
    pub mdm_profile_data: Option<Vec<u8>>,
}

impl ReturnToService {
    fn to_value(&self) -> Value {
        let mut dict = Dictionary::new();
        dict.insert("Enabled".into(), Value::Boolean(self.enabled));
        if let Some(wifi) = &self.wifi_profile_data {
            dict.insert("WiFiProfileData".into(), Value::Data(wifi.expose().clone()));
        }
        if let Some(mdm) = &self.mdm_profile_data {
            dict.insert("MDMProfileData".into(), Value::Data(mdm.clone()));
        }
        Value::Dictionary(dict)
    }
}

/// `EraseDevice`. Which options a platform accepts is in Apple's schema (PIN and
/// ObliterationBehavior are macOS only; PreserveDataPlan, DisallowProximitySetup are iOS only).
#[derive(Debug, Clone, Default)]
pub struct EraseDevice {
    pub pin: Option<Secret<String>>,
    pub preserve_data_plan: Option<bool>,
    pub disallow_proximity_setup: Option<bool>,
    pub obliteration_behavior: Option<ObliterationBehavior>,
    pub return_to_service: Option<ReturnToService>,
}

impl Command for EraseDevice {
    fn request_type(&self) -> &'static str {
        "EraseDevice"
    }

    fn to_command(&self) -> Dictionary {
        Keys::new(self.request_type())
            .opt("PIN", self.pin.as_ref().map(|p| string(p.expose())))
            .opt_bool("PreserveDataPlan", self.preserve_data_plan)
            .opt_bool("DisallowProximitySetup", self.disallow_proximity_setup)
            .opt_string(
                "ObliterationBehavior",
                self.obliteration_behavior.map(ObliterationBehavior::as_str),
            )
            .opt(
                "ReturnToService",
                self.return_to_service.as_ref().map(ReturnToService::to_value),
            )
            .done()
    }
}

/// `ClearPasscode`, carrying the UnlockToken the device escrowed at TokenUpdate.
#[derive(Debug, Clone)]
pub struct ClearPasscode {
    pub unlock_token: Secret<Vec<u8>>,
}

impl ClearPasscode {
    pub fn new(unlock_token: Secret<Vec<u8>>) -> Self {
        ClearPasscode { unlock_token }
    }
}

impl Command for ClearPasscode {
    fn request_type(&self) -> &'static str {
        "ClearPasscode"
    }

    fn to_command(&self) -> Dictionary {
        Keys::new(self.request_type())
            .set("UnlockToken", Value::Data(self.unlock_token.expose().clone()))
            .done()
    }
}

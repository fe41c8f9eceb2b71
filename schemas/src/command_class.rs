//! What a command's RequestType means for gating, sealing and auditing, from the classes in
//! `reference/protocol.md` §5a. One table shared by the admin API (who may queue it), the
//! enqueue path (whether its plist is sealed) and the audit-trail projection (whether it is
//! recorded there), so the three can never disagree.

/// The class of a RequestType.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandClass {
    /// Irreversible data loss: EraseDevice, RemoveApplication, DeleteUser, RemoveMedia.
    DataLoss,
    /// Removes management or controls: RemoveProfile, RemoveProvisioningProfile, …
    ManagementLoss,
    /// Locks the user out or takes the device down: DeviceLock, lost mode, restart, …
    Lock,
    /// Carries or returns a credential: ClearPasscode, firmware passwords, FileVault keys, …
    Credential,
    /// Installs code or trust: InstallProfile, InstallApplication, Settings, …
    Installation,
    /// Reads personal data: DeviceInformation, DeviceLocation, app and certificate lists, …
    PrivacyRead,
    /// Everything else.
    Routine,
}

const DATA_LOSS: &[&str] = &["EraseDevice", "RemoveApplication", "DeleteUser", "RemoveMedia"];
const MANAGEMENT_LOSS: &[&str] = &[
    "RemoveProfile",
    "RemoveProvisioningProfile",
    "ClearRestrictionsPassword",
];
const LOCK: &[&str] = &[
    "DeviceLock",
    "EnableLostMode",
    "DisableLostMode",
    "RestartDevice",
    "ShutDownDevice",
    "LogOutUser",
    "ScheduleOSUpdate",
    "LOMDeviceRequest",
    "UnlockUserAccount",
];
const CREDENTIAL: &[&str] = &[
    "ClearPasscode",
    "RequestUnlockToken",
    "ActivationLockBypassCode",
    "ClearActivationLockBypassCode",
    "SetFirmwarePassword",
    "VerifyFirmwarePassword",
    "SetRecoveryLock",
    "VerifyRecoveryLock",
    "RotateFileVaultKey",
    "SetAutoAdminPassword",
    "AccountConfiguration",
    "RequestMirroring",
];
const INSTALLATION: &[&str] = &[
    "InstallProfile",
    "InstallProvisioningProfile",
    "InstallApplication",
    "InstallEnterpriseApplication",
    "InstallMedia",
    "DeclarativeManagement",
    "Settings",
    "EnableRemoteDesktop",
    "RefreshCellularPlans",
    "ApplyRedemptionCode",
];
const PRIVACY_READ: &[&str] = &[
    "DeviceLocation",
    "PlayLostModeSound",
    "DeviceInformation",
    "InstalledApplicationList",
    "CertificateList",
    "ProfileList",
    "SecurityInfo",
    "UserList",
    "ContentCachingInformation",
];

/// Commands whose plist carries a secret (a PIN, an UnlockToken, a password, a profile that may
/// hold credentials): stored sealed in the log.
const SEALED: &[&str] = &[
    "AccountConfiguration",
    "ApplyRedemptionCode",
    "ClearPasscode",
    "ClearRestrictionsPassword",
    "DeclarativeManagement",
    "DeviceLock",
    "EraseDevice",
    "InstallApplication",
    "InstallProfile",
    "RequestMirroring",
    "RotateFileVaultKey",
    "SetAutoAdminPassword",
    "SetFirmwarePassword",
    "SetRecoveryLock",
    "Settings",
    "VerifyFirmwarePassword",
    "VerifyRecoveryLock",
];

impl CommandClass {
    pub fn of(request_type: &str) -> CommandClass {
        let classes = [
            (DATA_LOSS, CommandClass::DataLoss),
            (MANAGEMENT_LOSS, CommandClass::ManagementLoss),
            (LOCK, CommandClass::Lock),
            (CREDENTIAL, CommandClass::Credential),
            (INSTALLATION, CommandClass::Installation),
            (PRIVACY_READ, CommandClass::PrivacyRead),
        ];
        classes
            .iter()
            .find(|(names, _)| names.contains(&request_type))
            .map_or(CommandClass::Routine, |(_, class)| *class)
    }

    /// Destructive: only the `admin` role may queue it (an `operator` may not).
    pub fn is_destructive(self) -> bool {
        matches!(
            self,
            CommandClass::DataLoss | CommandClass::ManagementLoss | CommandClass::Lock | CommandClass::Credential
        )
    }

    /// Recorded in the audit trail with requester, reason, times and the device's answer.
    pub fn is_security_relevant(self) -> bool {
        self.is_destructive() || self == CommandClass::Installation
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CommandClass::DataLoss => "data_loss",
            CommandClass::ManagementLoss => "management_loss",
            CommandClass::Lock => "lock",
            CommandClass::Credential => "credential",
            CommandClass::Installation => "installation",
            CommandClass::PrivacyRead => "privacy_read",
            CommandClass::Routine => "routine",
        }
    }
}

/// Whether a command of this RequestType is stored sealed.
pub fn carries_secret(request_type: &str) -> bool {
    SEALED.contains(&request_type)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_gate_as_protocol_md_says() {
        assert!(CommandClass::of("EraseDevice").is_destructive());
        assert!(CommandClass::of("DeviceLock").is_destructive());
        assert!(CommandClass::of("ClearPasscode").is_destructive());
        assert!(!CommandClass::of("InstallProfile").is_destructive());
        assert!(CommandClass::of("InstallProfile").is_security_relevant());
        assert!(!CommandClass::of("DeviceInformation").is_security_relevant());
        assert_eq!(CommandClass::of("NoSuchCommand"), CommandClass::Routine);
        assert!(carries_secret("DeviceLock"));
        assert!(!carries_secret("DeviceInformation"));
    }

    #[test]
    fn no_request_type_is_in_two_classes() {
        let all = [DATA_LOSS, MANAGEMENT_LOSS, LOCK, CREDENTIAL, INSTALLATION, PRIVACY_READ].concat();
        let unique: std::collections::BTreeSet<_> = all.iter().collect();
        assert_eq!(unique.len(), all.len());
    }
}

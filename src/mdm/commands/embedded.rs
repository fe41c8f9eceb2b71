//! Apple's command and profile schema files, compiled into the binary so the server reads no files
//! at run time.

/// Lists each `schemas/apple/mdm/commands/<stem>.yaml` once; a test checks the list against the folder.
macro_rules! apple_commands {
    ($($stem:literal),* $(,)?) => {
        /// `(file stem, YAML text)` for every command schema file.
        pub(crate) const FILES: &[(&str, &str)] = &[
            $(($stem, include_str!(concat!("../../../schemas/apple/mdm/commands/", $stem, ".yaml")))),*
        ];
    };
}

apple_commands![
    "account.configuration",
    "application.extensions.listactive",
    "application.extensions.mappings",
    "application.install.enterprise",
    "application.install",
    "application.installed.list",
    "application.invitetoprogram",
    "application.managed.list",
    "application.redemptioncode",
    "application.remove",
    "application.validate",
    "certificate.list",
    "declarativemanagement",
    "device.activationlock.bypasscode",
    "device.activationlock.clearbypasscode",
    "device.configured",
    "device.erase",
    "device.esim",
    "device.lock",
    "device.lostmode.disable",
    "device.lostmode.enable",
    "device.lostmode.location",
    "device.lostmode.playsound",
    "device.restart",
    "device.restrictions.clearpassword",
    "device.restrictions.list",
    "device.shutdown",
    "information.contentcaching",
    "information.device",
    "information.security",
    "lom.devicerequest",
    "lom.setuprequest",
    "managed.application.attributes",
    "managed.application.configuration",
    "managed.application.feedback",
    "media.install",
    "media.managed.list",
    "media.remove",
    "mirroring.request",
    "mirroring.stop",
    "passcode.clear",
    "passcode.firmware.set",
    "passcode.firmware.verify",
    "passcode.recovery.set",
    "passcode.recovery.verify",
    "passcode.unlocktoken",
    "profile.install",
    "profile.list",
    "profile.provisioning.install",
    "profile.provisioning.list",
    "profile.provisioning.remove",
    "profile.remove",
    "remotedesktop.disable",
    "remotedesktop.enable",
    "rotate.file.vault.key",
    "set.auto.admin.password",
    "settings",
    "system.update.available",
    "system.update.scan",
    "system.update.schedule",
    "system.update.status",
    "user.configured",
    "user.delete",
    "user.list",
    "user.logout",
    "user.unlock",
];

/// `(file stem, YAML text)` for the profile payloads an enrollment profile holds, plus the profile
/// wrapper (`TopLevel`) and the keys every payload shares (`CommonPayloadKeys`).
pub(crate) const PROFILE_FILES: &[(&str, &str)] = &[
    (
        "TopLevel",
        include_str!("../../../schemas/apple/mdm/profiles/TopLevel.yaml"),
    ),
    (
        "CommonPayloadKeys",
        include_str!("../../../schemas/apple/mdm/profiles/CommonPayloadKeys.yaml"),
    ),
    (
        "com.apple.mdm",
        include_str!("../../../schemas/apple/mdm/profiles/com.apple.mdm.yaml"),
    ),
    (
        "com.apple.security.scep",
        include_str!("../../../schemas/apple/mdm/profiles/com.apple.security.scep.yaml"),
    ),
    (
        "com.apple.security.root",
        include_str!("../../../schemas/apple/mdm/profiles/com.apple.security.root.yaml"),
    ),
];

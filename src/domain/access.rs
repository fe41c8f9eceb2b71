//! Who may do what on the admin API, by role. Pure: the HTTP edge asks, this answers.
//!
//! - `auditor`: read only.
//! - `operator`: read, queue the routine commands of [`OPERATOR_COMMANDS`] (an allow list),
//!   cancel, push.
//! - `admin`: everything, including every other command: destructive ones (EraseDevice,
//!   DeviceLock, …), installations (InstallProfile, Settings, …: the classes in protocol.md
//!   §5a, see [`CommandClass`]) and RequestTypes Annal does not know.
//! - `enrollment`: only fetch the enrollment profile; it is handed to device users, so it
//!   must open nothing else.

use annal_schemas::events::apikey::Role;
use annal_schemas::CommandClass;

/// An authenticated caller of the admin API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Recorded as the actor of every event the call appends: `api-key:<name>`.
    pub actor: String,
    pub role: Role,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action<'a> {
    Read,
    Enqueue {
        request_type: &'a str,
    },
    Cancel,
    Push,
    /// List, create or revoke API keys.
    ManageKeys,
    /// Issue a one-time SCEP challenge: whoever holds one gets a device identity.
    IssueScepChallenge,
    /// Revoke a device identity, forget a device's enrollment.
    ManageIdentities,
    /// Fetch the enrollment profile (`GET /enroll`, the over-the-air profile service).
    Enroll,
    /// Define or remove device groups, tag devices: who a command reaches is still decided by
    /// the command's own rule, so an operator may keep the groups.
    ManageGroups,
    /// Install (renew) the push certificate: it decides which devices can be woken at all.
    InstallPushCertificate,
    /// Ask Apple to remove a device's Activation Lock: it hands a lost or stolen device to
    /// whoever holds it.
    BypassActivationLock,
    /// Replay another server's check-ins (`/migration`): it enrolls devices no certificate
    /// speaks for yet.
    MigrateEnrollment,
    /// Define, change, assign or remove DDM declarations: they install settings, trust and
    /// software-update policy on every device they reach.
    ManageDeclarations,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    #[error("the auditor role is read-only")]
    ReadOnly,
    #[error("only the admin role may manage API keys")]
    AdminOnly,
    #[error("only the admin role may issue SCEP challenges")]
    ScepAdminOnly,
    #[error("only the admin role may revoke identities or forget devices")]
    IdentityAdminOnly,
    #[error("only the admin role may install the push certificate")]
    PushCertificateAdminOnly,
    #[error("only the admin role may bypass an Activation Lock")]
    ActivationLockAdminOnly,
    #[error("only the admin role may migrate enrollments")]
    MigrationAdminOnly,
    #[error("only the admin role may change declarations or their assignments")]
    DeclarationsAdminOnly,
    #[error("the signer certificate is not accepted: {0}")]
    Untrusted(String),
    #[error("an enrollment token only fetches the enrollment profile")]
    EnrollmentOnly,
    #[error("the enrollment profile needs an enrollment token (or an admin key)")]
    NotEnrollment,
    #[error("{request_type:?} is not a routine command ({class}): only the admin role may queue it")]
    AdminOnlyCommand { request_type: String, class: &'static str },
}

/// What the operator role may queue: commands that only read (inventory, lists, status) or that
/// change nothing an attacker could use, exactly as Apple spells them. Derived from the classes
/// of protocol.md §5a: nothing destructive (data loss, loss of management, lock, credentials),
/// nothing that installs code or trust or changes settings (InstallProfile, Settings,
/// EnableRemoteDesktop, …), no lost-mode command (DeviceLocation, PlayLostModeSound: they follow
/// an admin's EnableLostMode), and nothing that deletes (ManagedApplicationFeedback can delete the
/// feedback it reads). A RequestType not listed here, however it is spelled, needs the admin
/// role: an allow list cannot be bypassed by a new, misspelled or padded name.
pub const OPERATOR_COMMANDS: &[&str] = &[
    // Privacy-sensitive reads (§5a), the inventory an operator is there to keep.
    "DeviceInformation",
    "InstalledApplicationList",
    "CertificateList",
    "ProfileList",
    "SecurityInfo",
    "UserList",
    "ContentCachingInformation",
    // Other queries.
    "ProvisioningProfileList",
    "Restrictions",
    "AvailableOSUpdates",
    "OSUpdateStatus",
    "ManagedApplicationList",
    "ManagedMediaList",
    "ManagedApplicationAttributes",
    "ManagedApplicationConfiguration",
    "ActiveNSExtensions",
    "NSExtensionMappings",
    // Changes that take nothing away and install nothing.
    "ScheduleOSUpdateScan",
    "ValidateApplications",
    "DeviceConfigured",
    "UserConfigured",
    "DisableRemoteDesktop",
    "StopMirroring",
];

/// A RequestType that is not exactly one Apple defines but looks like one: a device would refuse
/// it, and a gate or sealing rule keyed on the exact name would miss it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Misspelled {
    #[error("RequestType {given:?} is not spelled as Apple defines it: did you mean {meant:?}? RequestTypes are matched exactly")]
    Variant { given: String, meant: String },
    #[error("RequestType {0:?} contains whitespace or control characters; no RequestType does")]
    NotAName(String),
}

/// Checks a RequestType against `known` (Apple's, exactly spelled): a case or whitespace variant
/// of a known one, or a name with whitespace or control characters, is refused. A name that is
/// simply unknown passes: Apple adds commands, and only an admin may queue those (see
/// [`authorize`]); the enqueue path seals them, since nothing says what they carry.
pub fn check_spelling(request_type: &str, known: &[&str]) -> Result<(), Misspelled> {
    if known.contains(&request_type) {
        return Ok(());
    }
    let trimmed = request_type.trim();
    if let Some(meant) = known.iter().find(|k| k.eq_ignore_ascii_case(trimmed)) {
        return Err(Misspelled::Variant {
            given: request_type.to_owned(),
            meant: (*meant).to_owned(),
        });
    }
    if request_type.is_empty() || request_type.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Misspelled::NotAName(request_type.to_owned()));
    }
    Ok(())
}

pub fn authorize(role: Role, action: Action<'_>) -> Result<(), Denied> {
    match (role, action) {
        (Role::Enrollment, Action::Enroll) => Ok(()),
        (Role::Enrollment, _) => Err(Denied::EnrollmentOnly),
        (_, Action::Read) | (Role::Admin, _) => Ok(()),
        (_, Action::Enroll) => Err(Denied::NotEnrollment),
        (_, Action::ManageKeys) => Err(Denied::AdminOnly),
        (_, Action::IssueScepChallenge) => Err(Denied::ScepAdminOnly),
        (_, Action::ManageIdentities) => Err(Denied::IdentityAdminOnly),
        (_, Action::InstallPushCertificate) => Err(Denied::PushCertificateAdminOnly),
        (_, Action::BypassActivationLock) => Err(Denied::ActivationLockAdminOnly),
        (_, Action::MigrateEnrollment) => Err(Denied::MigrationAdminOnly),
        (_, Action::ManageDeclarations) => Err(Denied::DeclarationsAdminOnly),
        (Role::Auditor, _) => Err(Denied::ReadOnly),
        (Role::Operator, Action::Enqueue { request_type }) => {
            if OPERATOR_COMMANDS.contains(&request_type) {
                Ok(())
            } else {
                Err(Denied::AdminOnlyCommand {
                    request_type: request_type.to_string(),
                    class: CommandClass::of(request_type).as_str(),
                })
            }
        }
        (Role::Operator, Action::Cancel | Action::Push | Action::ManageGroups) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auditor_reads_only() {
        assert_eq!(authorize(Role::Auditor, Action::Read), Ok(()));
        assert_eq!(authorize(Role::Auditor, Action::Cancel), Err(Denied::ReadOnly));
        assert_eq!(authorize(Role::Auditor, Action::Push), Err(Denied::ReadOnly));
        assert_eq!(authorize(Role::Auditor, Action::ManageGroups), Err(Denied::ReadOnly));
        assert_eq!(authorize(Role::Operator, Action::ManageGroups), Ok(()));
        assert_eq!(authorize(Role::Admin, Action::ManageGroups), Ok(()));
        assert_eq!(authorize(Role::Admin, Action::BypassActivationLock), Ok(()));
        assert_eq!(authorize(Role::Admin, Action::ManageDeclarations), Ok(()));
        assert_eq!(
            authorize(Role::Operator, Action::ManageDeclarations),
            Err(Denied::DeclarationsAdminOnly)
        );
        assert_eq!(
            authorize(Role::Auditor, Action::ManageDeclarations),
            Err(Denied::DeclarationsAdminOnly)
        );
        for role in [Role::Operator, Role::Auditor] {
            assert_eq!(
                authorize(role, Action::BypassActivationLock),
                Err(Denied::ActivationLockAdminOnly)
            );
            assert_eq!(
                authorize(role, Action::MigrateEnrollment),
                Err(Denied::MigrationAdminOnly)
            );
        }
        assert_eq!(authorize(Role::Admin, Action::MigrateEnrollment), Ok(()));
        assert_eq!(
            authorize(Role::Enrollment, Action::MigrateEnrollment),
            Err(Denied::EnrollmentOnly)
        );
        assert_eq!(
            authorize(Role::Operator, Action::InstallPushCertificate),
            Err(Denied::PushCertificateAdminOnly)
        );
        assert_eq!(authorize(Role::Admin, Action::InstallPushCertificate), Ok(()));
        assert_eq!(
            authorize(
                Role::Auditor,
                Action::Enqueue {
                    request_type: "DeviceInformation"
                }
            ),
            Err(Denied::ReadOnly)
        );
    }

    #[test]
    fn operator_may_queue_only_routine_commands() {
        assert_eq!(
            authorize(
                Role::Operator,
                Action::Enqueue {
                    request_type: "DeviceInformation"
                }
            ),
            Ok(())
        );
        // Installations were open to operators before the allow list: no longer.
        for rt in [
            "EraseDevice",
            "DeviceLock",
            "ClearPasscode",
            "RemoveProfile",
            "InstallProfile",
            "Settings",
            "DeviceLocation",
            "EraseDevice ",
            " DeviceInformation",
            "deviceinformation",
            "NoSuchCommand",
            "",
        ] {
            assert!(
                matches!(
                    authorize(Role::Operator, Action::Enqueue { request_type: rt }),
                    Err(Denied::AdminOnlyCommand { .. })
                ),
                "{rt:?}"
            );
        }
        assert_eq!(authorize(Role::Operator, Action::Cancel), Ok(()));
        assert_eq!(authorize(Role::Operator, Action::ManageKeys), Err(Denied::AdminOnly));
        assert_eq!(authorize(Role::Auditor, Action::ManageKeys), Err(Denied::AdminOnly));
        for role in [Role::Operator, Role::Auditor] {
            assert_eq!(authorize(role, Action::IssueScepChallenge), Err(Denied::ScepAdminOnly));
        }
        assert_eq!(authorize(Role::Admin, Action::IssueScepChallenge), Ok(()));
        for role in [Role::Operator, Role::Auditor] {
            assert_eq!(
                authorize(role, Action::ManageIdentities),
                Err(Denied::IdentityAdminOnly)
            );
        }
        assert_eq!(authorize(Role::Admin, Action::ManageIdentities), Ok(()));
    }

    #[test]
    fn an_enrollment_token_only_enrolls() {
        assert_eq!(authorize(Role::Enrollment, Action::Enroll), Ok(()));
        for action in [Action::Read, Action::Cancel, Action::Push, Action::ManageKeys] {
            assert_eq!(
                authorize(Role::Enrollment, action),
                Err(Denied::EnrollmentOnly),
                "{action:?}"
            );
        }
        let enqueue = Action::Enqueue {
            request_type: "DeviceInformation",
        };
        assert_eq!(authorize(Role::Enrollment, enqueue), Err(Denied::EnrollmentOnly));
        assert_eq!(authorize(Role::Admin, Action::Enroll), Ok(()));
        assert_eq!(authorize(Role::Operator, Action::Enroll), Err(Denied::NotEnrollment));
        assert_eq!(authorize(Role::Auditor, Action::Enroll), Err(Denied::NotEnrollment));
    }

    #[test]
    fn the_operator_list_names_only_known_non_security_commands() {
        let known = crate::mdm::commands::request_types();
        for rt in OPERATOR_COMMANDS {
            assert!(known.contains(rt), "{rt} is not in Apple's schema");
            let class = CommandClass::of(rt);
            assert!(!class.is_security_relevant(), "{rt} is {}", class.as_str());
            assert!(!annal_schemas::carries_secret(rt), "{rt} is sealed");
        }
    }

    #[test]
    fn variants_of_known_request_types_are_refused_unknown_names_pass() {
        let known = ["EraseDevice", "DeviceInformation"];
        assert_eq!(check_spelling("EraseDevice", &known), Ok(()));
        assert_eq!(check_spelling("FutureCommand", &known), Ok(()));
        for given in [
            "EraseDevice ",
            " EraseDevice",
            "erasedevice",
            "ERASEDEVICE\t",
            "EraseDevice\n",
        ] {
            assert_eq!(
                check_spelling(given, &known),
                Err(Misspelled::Variant {
                    given: given.to_owned(),
                    meant: "EraseDevice".into()
                }),
                "{given:?}"
            );
        }
        for given in ["Erase Device", "", "Future\u{0}Command", "Erase\u{a0}Device"] {
            assert!(
                matches!(check_spelling(given, &known), Err(Misspelled::NotAName(_))),
                "{given:?}"
            );
        }
    }

    #[test]
    fn admin_may_do_everything() {
        for rt in ["EraseDevice", "DeviceLock", "DeviceInformation"] {
            assert_eq!(authorize(Role::Admin, Action::Enqueue { request_type: rt }), Ok(()));
        }
    }
}

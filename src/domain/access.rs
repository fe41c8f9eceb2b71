//! Who may do what on the admin API, by role. Pure: the HTTP edge asks, this answers.
//!
//! - `auditor`: read only.
//! - `operator`: read, queue non-destructive commands, cancel, push.
//! - `admin`: everything, including destructive commands (EraseDevice, DeviceLock, …: the
//!   classes in protocol.md §5a, see [`CommandClass::is_destructive`]).
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
    #[error("the signer certificate is not accepted: {0}")]
    Untrusted(String),
    #[error("an enrollment token only fetches the enrollment profile")]
    EnrollmentOnly,
    #[error("the enrollment profile needs an enrollment token (or an admin key)")]
    NotEnrollment,
    #[error("{request_type} is destructive ({class}): only the admin role may queue it")]
    Destructive { request_type: String, class: &'static str },
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
        (Role::Auditor, _) => Err(Denied::ReadOnly),
        (Role::Operator, Action::Enqueue { request_type }) => {
            let class = CommandClass::of(request_type);
            if class.is_destructive() {
                Err(Denied::Destructive {
                    request_type: request_type.to_string(),
                    class: class.as_str(),
                })
            } else {
                Ok(())
            }
        }
        (Role::Operator, Action::Cancel | Action::Push) => Ok(()),
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
    fn operator_may_not_queue_destructive_commands() {
        assert_eq!(
            authorize(
                Role::Operator,
                Action::Enqueue {
                    request_type: "DeviceInformation"
                }
            ),
            Ok(())
        );
        assert_eq!(
            authorize(
                Role::Operator,
                Action::Enqueue {
                    request_type: "InstallProfile"
                }
            ),
            Ok(())
        );
        for rt in ["EraseDevice", "DeviceLock", "ClearPasscode", "RemoveProfile"] {
            assert!(matches!(
                authorize(Role::Operator, Action::Enqueue { request_type: rt }),
                Err(Denied::Destructive { .. })
            ));
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
    fn admin_may_do_everything() {
        for rt in ["EraseDevice", "DeviceLock", "DeviceInformation"] {
            assert_eq!(authorize(Role::Admin, Action::Enqueue { request_type: rt }), Ok(()));
        }
    }
}

//! Rails on destructive commands: what a command that wipes, locks, removes management or
//! touches credentials must carry before anything is queued. One typo in a list of ids must
//! not wipe the wrong devices, and the audit trail must say why each was sent.

use annal_schemas::CommandClass;

/// A destructive command to more devices than this needs the count confirmed: the caller says
/// how many devices it means, and a list that grew by mistake (a paste, a filter) is refused.
pub const CONFIRM_COUNT_ABOVE: usize = 10;

/// The longest reason kept: room for a ticket number and a sentence, not a document.
pub const MAX_REASON_CHARS: usize = 1000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RailRefusal {
    #[error("{request_type} is a {class} command: give a reason (it is recorded in the audit trail)")]
    ReasonRequired { request_type: String, class: &'static str },
    #[error("the reason is longer than {MAX_REASON_CHARS} characters")]
    ReasonTooLong,
    #[error(
        "{request_type} is a {class} command for {targets} devices: confirm the count (confirm_count: {targets}) after checking the list"
    )]
    CountNotConfirmed {
        request_type: String,
        class: &'static str,
        targets: usize,
    },
    #[error("confirm_count is {confirmed} but the request names {targets} devices: nothing was queued")]
    CountMismatch { confirmed: usize, targets: usize },
}

impl RailRefusal {
    /// The request field the refusal is about.
    pub fn field(&self) -> &'static str {
        match self {
            RailRefusal::ReasonRequired { .. } | RailRefusal::ReasonTooLong => "reason",
            RailRefusal::CountNotConfirmed { .. } | RailRefusal::CountMismatch { .. } => "confirm_count",
        }
    }
}

/// Whether commands of this type must carry a reason and, to many devices, a confirmed count.
pub fn guarded(request_type: &str) -> bool {
    CommandClass::of(request_type).is_destructive()
}

/// Checks a command for `targets` devices. A confirmed count that disagrees with the list is
/// refused for every command, destructive or not: the caller meant another list.
pub fn check(
    request_type: &str,
    reason: Option<&str>,
    targets: usize,
    confirm_count: Option<usize>,
) -> Result<(), RailRefusal> {
    if reason.is_some_and(|r| r.chars().count() > MAX_REASON_CHARS) {
        return Err(RailRefusal::ReasonTooLong);
    }
    if let Some(confirmed) = confirm_count {
        if confirmed != targets {
            return Err(RailRefusal::CountMismatch { confirmed, targets });
        }
    }
    let class = CommandClass::of(request_type);
    if !class.is_destructive() {
        return Ok(());
    }
    if reason.is_none_or(|r| r.trim().is_empty()) {
        return Err(RailRefusal::ReasonRequired {
            request_type: request_type.to_string(),
            class: class.as_str(),
        });
    }
    if targets > CONFIRM_COUNT_ABOVE && confirm_count.is_none() {
        return Err(RailRefusal::CountNotConfirmed {
            request_type: request_type.to_string(),
            class: class.as_str(),
            targets,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destructive_commands_need_a_reason_routine_ones_do_not() {
        for request_type in ["EraseDevice", "DeviceLock", "ClearPasscode", "RemoveProfile"] {
            let refused = check(request_type, None, 1, None).unwrap_err();
            assert!(matches!(refused, RailRefusal::ReasonRequired { .. }), "{request_type}");
            assert_eq!(refused.field(), "reason");
            assert!(matches!(
                check(request_type, Some("  \n"), 1, None),
                Err(RailRefusal::ReasonRequired { .. })
            ));
            assert_eq!(check(request_type, Some("INC-42 stolen laptop"), 1, None), Ok(()));
        }
        assert_eq!(check("DeviceInformation", None, 500, None), Ok(()));
        assert_eq!(check("InstallProfile", None, 1, None), Ok(()));
    }

    #[test]
    fn many_devices_need_the_count_confirmed() {
        let reason = Some("lab reset");
        assert_eq!(check("EraseDevice", reason, CONFIRM_COUNT_ABOVE, None), Ok(()));
        let refused = check("EraseDevice", reason, CONFIRM_COUNT_ABOVE + 1, None).unwrap_err();
        assert_eq!(refused.field(), "confirm_count");
        assert!(refused.to_string().contains("confirm_count: 11"), "{refused}");
        assert_eq!(check("EraseDevice", reason, 11, Some(11)), Ok(()));
        assert_eq!(
            check("EraseDevice", reason, 12, Some(11)),
            Err(RailRefusal::CountMismatch {
                confirmed: 11,
                targets: 12
            })
        );
        // A wrong count is refused for any command: the caller meant another list.
        assert!(check("DeviceInformation", None, 3, Some(2)).is_err());
    }

    #[test]
    fn a_reason_is_bounded() {
        let long = "x".repeat(MAX_REASON_CHARS + 1);
        assert_eq!(
            check("DeviceInformation", Some(&long), 1, None),
            Err(RailRefusal::ReasonTooLong)
        );
    }
}

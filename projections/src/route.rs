//! Which projections each event type feeds, and how much of its body they read: one exhaustive
//! `match` over the catalog's [`EventType`], without a wildcard arm, so an event type added to
//! the catalog does not compile until someone decides here what it feeds (possibly nothing).

use annal_schemas::EventType;

use crate::context::Answer;

/// A set of projections, as bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Feeds(u8);

impl Feeds {
    pub const NONE: Feeds = Feeds(0);
    pub const DEVICES: Feeds = Feeds(1);
    pub const COMMANDS: Feeds = Feeds(2);
    pub const AUDIT: Feeds = Feeds(4);
    pub const PUSH: Feeds = Feeds(8);

    pub const fn and(self, other: Feeds) -> Feeds {
        Feeds(self.0 | other.0)
    }

    pub const fn has(self, other: Feeds) -> bool {
        self.0 & other.0 == other.0 && other.0 != 0
    }
}

/// How the projections read an event's body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Read {
    /// A device message whose body no projection reads.
    Seen,
    /// PushAttempted (`accepted` false) or PushAccepted.
    Push { accepted: bool },
    /// Only the CommandUUID, RequestType and attempt of a delivery.
    Delivered,
    /// Only the CommandUUID and RequestType of an answer that carries nothing but its status.
    Answered(Answer),
    /// The whole body, with `Event::decode`.
    Decode,
    /// Nothing: no projection reads this type.
    Skip,
}

/// Where one event type goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Route {
    pub read: Read,
    pub feeds: Feeds,
}

const fn route_to(read: Read, feeds: Feeds) -> Route {
    Route { read, feeds }
}

/// Device messages make the device seen (inventory) and answer its pushes (push health).
const SEEN: Feeds = Feeds::DEVICES.and(Feeds::PUSH);
/// A command's steps change its status and its audit entry.
const COMMAND: Feeds = Feeds::COMMANDS.and(Feeds::AUDIT);
const SKIP: Route = route_to(Read::Skip, Feeds::NONE);

/// The route of an event type on an enrollment stream.
pub(crate) const fn route(event_type: EventType) -> Route {
    match event_type {
        // The audit trail records the UDID and serial number a check-in reports.
        EventType::Authenticate | EventType::TokenUpdate => route_to(Read::Decode, SEEN.and(Feeds::AUDIT)),
        EventType::CheckOut => route_to(Read::Decode, SEEN),
        EventType::UserAuthenticate
        | EventType::SetBootstrapToken
        | EventType::GetBootstrapToken
        | EventType::GetToken
        | EventType::DeclarativeManagement
        | EventType::Idle => route_to(Read::Seen, SEEN),
        // The inventory keeps the last DeclarativeManagement sync given (`DDM-<token>`).
        EventType::CommandQueued => route_to(Read::Decode, COMMAND.and(Feeds::DEVICES)),
        EventType::CommandCancelled | EventType::CommandExpired => route_to(Read::Decode, COMMAND.and(Feeds::DEVICES)),
        EventType::CommandDelivered => route_to(Read::Delivered, COMMAND),
        // Answers are device messages too; an acknowledged command may change the inventory (and
        // a DeviceInformation answer the serial number the audit trail records).
        EventType::CommandAcknowledged => route_to(Read::Answered(Answer::Acknowledged), SEEN.and(COMMAND)),
        EventType::CommandNotNow => route_to(Read::Answered(Answer::NotNow), SEEN.and(COMMAND)),
        EventType::CommandFormatError => route_to(Read::Answered(Answer::CommandFormatError), SEEN.and(COMMAND)),
        EventType::CommandErrored => route_to(Read::Decode, SEEN.and(COMMAND)),
        // A push is a step of every pending command of the enrollment.
        // An attempt is not a push the device got: only push health counts it.
        EventType::PushAttempted => route_to(Read::Push { accepted: false }, Feeds::PUSH),
        EventType::PushAccepted => route_to(Read::Push { accepted: true }, COMMAND.and(Feeds::PUSH)),
        // A dead token shows in the inventory as well.
        EventType::PushFailed => route_to(Read::Decode, Feeds::DEVICES.and(Feeds::PUSH)),
        EventType::IdentityBound | EventType::IdentityRotated | EventType::DeviceForgotten => {
            route_to(Read::Decode, Feeds::DEVICES)
        }
        // Read only on the refused stream of an enrollment (see `context::read`).
        EventType::EnrollmentRefused => route_to(Read::Decode, Feeds::AUDIT),
        // Certificates, keys, challenges and the fleet's push certificate have no read model
        // of these four; the machine information is only a step before enrollment.
        // Who created or revoked a key or enrollment token, who installed a push certificate.
        EventType::PushCertificateInstalled | EventType::ApiKeyCreated | EventType::ApiKeyRevoked => {
            route_to(Read::Decode, Feeds::AUDIT)
        }
        // Who changed a group or a device's tags, and which devices a group meant for a command.
        EventType::GroupDefined
        | EventType::GroupRemoved
        | EventType::DeviceTagged
        | EventType::DeviceUntagged
        | EventType::TargetsResolved => route_to(Read::Decode, Feeds::AUDIT),
        // Who defined, changed, assigned or removed a declaration.
        EventType::DeclarationDefined
        | EventType::DeclarationRemoved
        | EventType::DeclarationAssigned
        | EventType::DeclarationUnassigned
        | EventType::DeclarationDataStored => route_to(Read::Decode, Feeds::AUDIT),
        // A device message: it is seen, and its status joins the inventory.
        EventType::DeclarationStatusReported => route_to(Read::Decode, SEEN),
        // Who asked Apple to remove a device's Activation Lock, and what Apple answered.
        EventType::EscrowKeyUnlockRequested | EventType::EscrowKeyUnlockAnswered => {
            route_to(Read::Decode, Feeds::AUDIT)
        }
        // Who signed in to the web console, and when each session ended.
        EventType::ConsoleSessionStarted | EventType::ConsoleSessionEnded => route_to(Read::Decode, Feeds::AUDIT),
        EventType::IdentityClaimed
        | EventType::IdentityImported
        | EventType::CertificateIssued
        | EventType::IdentityRevoked
        | EventType::ScepChallengeIssued
        | EventType::ScepChallengeConsumed
        | EventType::MachineInfoReceived => SKIP,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_read_feeds_something_and_what_is_skipped_feeds_nothing() {
        for t in EventType::ALL {
            let r = route(*t);
            assert_eq!(r.read == Read::Skip, r.feeds == Feeds::NONE, "{t:?}");
        }
    }
}

//! What can happen to an enrollment: a device request (already parsed and verified by the
//! device use case, secrets already sealed) or an admin action. These are commands, not
//! event bodies: `decide` builds the events.

use annal_schemas::events::command::{ErrorChainItem, UnparseableReport};
use annal_schemas::events::identity::CertificateInfo;
use annal_schemas::events::push::{PushAccepted, PushAttempted, PushFailed};
use annal_schemas::events::DeviceRef;
use annal_schemas::Sealed;
use bytes::Bytes;
use chrono::{DateTime, Utc};

/// The proof of a check-in replayed through `/migration`: no certificate at all. The
/// enrollment it makes is bound to the empty fingerprint until a device claims it.
pub const MIGRATION_PROOF: &str = "migration";

/// The verified identity a device request came with.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    pub certificate: CertificateInfo,
    /// `mtls`, `mdm-signature`, or `insecure` (development setting: unverified).
    pub proof: &'static str,
    /// Issued by Annal's own CA.
    pub issued_by_annal: bool,
    /// What the log says vouched for the certificate (the service fills it in from the
    /// certificate's stream; the edge leaves it empty). Its subject proves nothing.
    pub vouched: Vouched,
    /// The request URL's query parameters, recorded with the identity (see
    /// `IdentityRef::url_params`); they prove nothing.
    pub url_params: std::collections::BTreeMap<String, String>,
}

/// How Annal's CA issued a certificate, as recorded in `CertificateIssued`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Vouched {
    /// Issued as the SCEP renewal of this certificate (signed with its key).
    pub renewal_of: Option<String>,
    /// The device it was issued for, when known.
    pub udid: Option<String>,
    pub serial_number: Option<String>,
    /// An admin bound the challenge to `udid` / `serial_number`.
    pub admin_bound: bool,
    /// The enrollment was migrated without a certificate (`/migration`) and this one may claim
    /// it: the service found it from an external CA, claimed by no other enrollment, on a
    /// server that accepts migration claims.
    pub migration_claim: bool,
}

/// Whether a device enrolled under one identity may re-enroll under another.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Reenrollment {
    /// Only after the enrollment ended, or with a certificate an admin bound to the device.
    #[default]
    Guarded,
    /// Any Authenticate replaces the enrollment (NanoMDM's behaviour; `--reenrollment allow`).
    Allow,
}

/// A device message, as the edge translated it (secrets already sealed). Only what the device
/// said: who said it travels beside it in `Input::Device`, and `decide` builds the events.
#[derive(Debug, Clone, PartialEq)]
pub enum DeviceInput {
    Authenticate(Authenticate),
    TokenUpdate(TokenUpdate),
    CheckOut(CheckOut),
    UserAuthenticate(UserAuthenticate),
    SetBootstrapToken(SetBootstrapToken),
    GetBootstrapToken {
        awaiting_configuration: Option<bool>,
    },
    GetToken {
        token_service_type: String,
    },
    /// A DDM request: `endpoint` as the device wrote it, `request` as read, and the device's
    /// current declaration set (looked up by the service; `None`: an empty set).
    DeclarativeManagement {
        endpoint: String,
        request: DdmRequest,
        set: Option<std::sync::Arc<crate::domain::declarations::DeclSet>>,
    },
    /// A command-channel request: Idle or the result of a command.
    Report {
        status: ReportStatus,
        command_uuid: Option<String>,
        error_chain: Vec<ErrorChainItem>,
        /// Set when only `Status`, `CommandUUID` and the identifiers could be read (never for
        /// Idle): the command is then completed as an error, so the device does not send the
        /// same unreadable answer forever.
        unparseable: Option<UnparseableReport>,
    },
}

/// What a DDM request asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum DdmRequest {
    Tokens,
    DeclarationItems,
    Declaration {
        category: crate::mdm::declarations::Category,
        identifier: String,
    },
    /// A status report: its JSON as sent.
    Status {
        full_report: bool,
        report: serde_json::Value,
    },
    Unknown,
    /// A fetch of data a declaration in the device's set points at (`GET /ddm/data/…`),
    /// served by the edge; recorded here with whether it was found.
    Data {
        found: bool,
    },
}

impl DdmRequest {
    /// Whether answering needs the device's declaration set.
    pub fn needs_set(&self) -> bool {
        matches!(
            self,
            DdmRequest::Tokens | DdmRequest::DeclarationItems | DdmRequest::Declaration { .. }
        )
    }
}

/// Authenticate: the device asks to enroll (device channel only). The parsed message itself:
/// it holds no secret, and its identifiers are ignored (the enrollment is `Input::Device`'s).
pub use crate::mdm::checkin::Authenticate;

/// TokenUpdate: the push token and magic (sealed), and the UnlockToken when the device sends it.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenUpdate {
    pub topic: String,
    pub token_hex: String,
    pub push_magic: Sealed,
    pub unlock_token: Option<Sealed>,
    pub awaiting_configuration: Option<bool>,
    pub user_short_name: Option<String>,
    pub user_long_name: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct CheckOut {
    pub topic: String,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserAuthenticate {
    pub user_short_name: Option<String>,
    pub user_long_name: Option<String>,
    pub digest_response_present: bool,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct SetBootstrapToken {
    pub bootstrap_token: Option<Sealed>,
    pub awaiting_configuration: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportStatus {
    Idle,
    Acknowledged,
    Error,
    CommandFormatError,
    NotNow,
}

#[derive(Debug, Clone, PartialEq)]
pub enum AdminInput {
    Enqueue {
        command_uuid: String,
        request_type: String,
        /// The command plist, or the sealed JSON of it when `sealed`.
        payload: Vec<u8>,
        sealed: bool,
        idempotency_key: Option<String>,
        reason: Option<String>,
        expires_at: Option<DateTime<Utc>>,
    },
    /// Give the device its declaration set's tokens: queue `DeclarativeManagement` with
    /// CommandUUID `DDM-<declarations_token>`, unless that token was the last one given.
    SyncDeclarations {
        declarations_token: String,
        /// The command plist, sealed (Apple's DeclarativeManagement may carry a set's data).
        payload: Vec<u8>,
    },
    Cancel {
        command_uuid: String,
        /// The admin's reason, recorded with the cancellation.
        note: Option<String>,
    },
    /// The device channel checked out or enrolled again: this user channel ends with it.
    EndUserChannel {
        device: DeviceRef,
        /// The identity of the device-channel request that ended it.
        identity: annal_schemas::events::IdentityRef,
    },
    /// The device's enrollment is over (`annal devices forget`): its identity stops working
    /// and a new one may enroll.
    Forget { reason: Option<String> },
    /// The admin revoked this certificate; if it is the bound one, the enrollment stops
    /// accepting it.
    RevokeIdentity {
        fingerprint_sha256: String,
        reason: Option<String>,
    },
    /// A push was sent and APNs answered (or did not): recorded even if the enrollment has
    /// ended since, because the push happened.
    RecordPush {
        attempted: PushAttempted,
        answer: PushAnswer,
        /// The token the push was sent to.
        token_hex: String,
    },
}

/// APNs' answer to a push, as the log records it.
#[derive(Debug, Clone, PartialEq)]
pub enum PushAnswer {
    Accepted(PushAccepted),
    Failed(PushFailed),
}

// Built once per request; each decision attempt decides on a clone (the raw body is shared,
// and the device message is boxed, so a clone copies little).
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    Device {
        // Boxed: the message bodies are large and the enum is moved through every decision.
        input: Box<DeviceInput>,
        device: DeviceRef,
        identity: Identity,
        /// The request body as received (or sealed, when it carries secrets), shared with the
        /// store's event: never copied on the way.
        raw: Bytes,
        /// For a user channel (`<device>:<user>`): the identity bound to its device channel,
        /// which the user channel's first TokenUpdate must come from.
        parent: Option<super::state::BoundIdentity>,
    },
    Admin(AdminInput),
}

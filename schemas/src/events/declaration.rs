//! Declarative Device Management: the declaration catalog (stream `declarations`: declarations
//! and who they are assigned to, one consistency boundary) and the status devices report
//! (on their enrollment stream, like every device message).

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::group::TargetFilter;
use super::{event_data, DeviceRef, IdentityRef};

/// Whom an assignment gives a declaration to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AssignmentTarget {
    /// One enrollment: a device channel's key, or a user channel's `<device>:<user>`.
    Enrollment(String),
    /// A named group, followed as it changes.
    Group(String),
    /// The enrolled devices matching this filter, evaluated as the inventory changes (no
    /// `last_seen_*`: a declaration set follows the log, not the clock).
    Filter(TargetFilter),
}

/// A declaration was defined, or its content replaced. `server_token` is derived from the
/// content (`annal_schemas::ddm::server_token`), so the same content always has the same token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DeclarationDefined {
    pub identifier: String,
    /// `activation`, `asset`, `configuration` or `management`.
    pub category: String,
    /// The declaration's `Type`, such as `com.apple.configuration.passcode.settings`.
    pub declaration_type: String,
    /// The declaration's `Payload`, a JSON object.
    pub payload: serde_json::Value,
    pub server_token: String,
    /// When the catalog changed: the `Timestamp` of the SyncTokens devices are given.
    pub changed_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A declaration was removed (its assignments were removed before it, in the same append).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DeclarationRemoved {
    pub identifier: String,
    pub category: String,
    /// The last content's token.
    pub server_token: String,
    pub changed_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A declaration was assigned. `assignment_id` is derived from the declaration and the target,
/// so assigning the same thing twice appends nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DeclarationAssigned {
    pub assignment_id: String,
    pub identifier: String,
    pub target: AssignmentTarget,
    pub changed_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DeclarationUnassigned {
    pub assignment_id: String,
    pub identifier: String,
    pub changed_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A device's DDM status report (`DeclarativeManagement`, Endpoint `status`), its JSON as sent:
/// `StatusItems`, `Errors`, and whether it is a `FullReport`. The raw check-in is kept with it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DeclarationStatusReported {
    pub device: DeviceRef,
    pub identity: IdentityRef,
    pub full_report: bool,
    pub report: serde_json::Value,
}

/// Data a declaration points devices at (a legacy profile's `ProfileURL`, an asset's
/// `DataURL`), stored in the log content-addressed on `declaration-data-<sha256>`. The bytes
/// are the event's raw, sealed with the data key: a profile may hold credentials.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DeclarationDataStored {
    /// Hex SHA-256 of the bytes.
    pub sha256: String,
    pub size: u64,
    pub content_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

event_data! {
    DeclarationDataStored => "DeclarationDataStored" v 1,
    DeclarationDefined => "DeclarationDefined" v 1,
    DeclarationRemoved => "DeclarationRemoved" v 1,
    DeclarationAssigned => "DeclarationAssigned" v 1,
    DeclarationUnassigned => "DeclarationUnassigned" v 1,
    DeclarationStatusReported => "DeclarationStatusReported" v 1,
}

//! NanoMDM's stored state as plain rows, whichever store it came from (PostgreSQL, MySQL):
//! only the columns the import reads, in the order NanoMDM serves them.

use std::collections::HashMap;

/// A `devices` row: the device channel's last Authenticate and TokenUpdate, as the device sent
/// them, and what NanoMDM keeps beside them.
#[derive(Debug, Clone, Default)]
pub struct DeviceRow {
    pub id: String,
    /// PEM of the certificate the last Authenticate came with.
    pub identity_cert: Option<String>,
    /// The UnlockToken as stored: bytes (MySQL's BLOB) or PostgreSQL's text form of them.
    pub unlock_token: Option<Vec<u8>>,
    pub authenticate: String,
    pub token_update: Option<String>,
    pub bootstrap_token_b64: Option<String>,
}

/// A `users` row: a user channel's last TokenUpdate.
#[derive(Debug, Clone, Default)]
pub struct UserRow {
    pub id: String,
    pub device_id: String,
    pub token_update: Option<String>,
}

/// An `enrollments` row: one channel NanoMDM can push and queue to.
#[derive(Debug, Clone, Default)]
pub struct EnrollmentRow {
    pub id: String,
    pub device_id: String,
    pub user_id: Option<String>,
    /// false after a CheckOut (or an Authenticate that was not followed by a TokenUpdate).
    pub enabled: bool,
}

#[derive(Debug, Clone, Default)]
pub struct CommandRow {
    pub command_uuid: String,
    pub request_type: String,
    /// The command plist as queued (NanoMDM stores the whole envelope).
    pub command: String,
}

/// An `enrollment_queue` row, in NanoMDM's delivery order (priority, then age).
#[derive(Debug, Clone, Default)]
pub struct QueueRow {
    pub id: String,
    pub command_uuid: String,
    /// false once NanoMDM cleared the queue (a new Authenticate) or an admin removed it.
    pub active: bool,
}

/// A `command_results` row: the device's last answer to a command (NotNow, or the final one).
#[derive(Debug, Clone, Default)]
pub struct ResultRow {
    pub id: String,
    pub command_uuid: String,
    pub status: String,
    /// The device's report plist, as it sent it.
    pub result: String,
}

/// A `cert_auth_associations` row, oldest first: the certificates NanoMDM accepted for an
/// enrollment id (the last one is the one in use).
#[derive(Debug, Clone, Default)]
pub struct CertAuthRow {
    pub id: String,
    pub sha256: String,
}

/// Everything the import reads, read in one pass before anything is written.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub devices: Vec<DeviceRow>,
    pub users: Vec<UserRow>,
    pub enrollments: Vec<EnrollmentRow>,
    pub commands: HashMap<String, CommandRow>,
    pub queue: Vec<QueueRow>,
    pub results: Vec<ResultRow>,
    pub cert_auth: Vec<CertAuthRow>,
    /// Topics of `push_certs` (the certificates themselves are installed with `annal push-cert
    /// install`, which checks them; their keys are never read here).
    pub push_topics: Vec<String>,
}

impl Snapshot {
    /// Rows read, for the report.
    pub fn rows(&self) -> usize {
        self.devices.len()
            + self.users.len()
            + self.enrollments.len()
            + self.commands.len()
            + self.queue.len()
            + self.results.len()
            + self.cert_auth.len()
            + self.push_topics.len()
    }
}

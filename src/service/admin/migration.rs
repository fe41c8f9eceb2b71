//! `/migration` (NanoMDM's route, on with `--migration`): another MDM server's stored
//! Authenticate and TokenUpdate messages, replayed by a tool such as micro2nano, enroll the
//! devices they name without the devices' certificates, so those devices can be pushed and keep
//! working without re-enrolling.
//!
//! What keeps this from being a way around device identity: only the admin role may replay;
//! the events are recorded with the caller as actor (`migration by <key>`) and identity proof
//! `migration`; an enrollment already bound to a certificate is refused as any re-enrollment is;
//! and the migrated enrollment, bound to no certificate, is claimed by the first certificate
//! from an external CA (never Annal's own) that speaks for it and belongs to no other
//! enrollment (`IdentityBound` with `migration_claim`, see `service::enrollments`).

use annal_schemas::events::identity::CertificateInfo;
use bytes::Bytes;
use chrono::{DateTime, Utc};

use super::{authorize, Action, AdminError, Caller};
use crate::domain::enrollment::{DeviceInput, Identity, Input, MIGRATION_PROOF};
use crate::secrets::DataKey;
use crate::service::device::{translate_checkin, DeviceFailure};
use crate::service::enrollments::Enrollments;

/// The check-in messages a migration may replay: what makes an enrollment and its push token.
const MIGRATABLE: &str = "only Authenticate and TokenUpdate messages can be migrated";

/// What migrating one message needs from the server.
pub struct Migration<'a> {
    pub enrollments: &'a Enrollments,
    pub data_key: &'a DataKey,
    /// The topic of the installed push certificate, if any.
    pub push_topic: &'a (dyn Fn() -> Option<String> + Sync),
}

/// Which message was recorded for which enrollment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migrated {
    pub enrollment: String,
    pub message_type: &'static str,
}

impl Migration<'_> {
    /// Checks the caller, then the message, and records it as the device path would.
    pub async fn replay(&self, caller: &Caller, body: Bytes, now: DateTime<Utc>) -> Result<Migrated, AdminError> {
        // The role first: a key that may not do this learns nothing about the body.
        authorize(caller, Action::MigrateEnrollment)?;
        let translated = translate_checkin(&body, no_certificate(now), self.data_key).map_err(invalid)?;
        let Input::Device { input, device, .. } = &translated.input else {
            return Err(AdminError::invalid(MIGRATABLE));
        };
        // A user channel speaks with its device channel's identity, which a migrated device
        // channel does not have until it is claimed: one bound now to no certificate could never
        // be claimed. It opens again by itself, with the user's next TokenUpdate, once the
        // device channel is claimed.
        if device.user_id.is_some() || device.enrollment_user_id.is_some() {
            return Err(AdminError::invalid(
                "user channels are not migrated: they open again with their next TokenUpdate once the device has claimed its enrollment",
            ));
        }
        let message_type = match **input {
            DeviceInput::Authenticate(_) => "Authenticate",
            DeviceInput::TokenUpdate(_) => "TokenUpdate",
            _ => return Err(AdminError::invalid(MIGRATABLE)),
        };
        crate::domain::push::check_topic(&translated.input, self.push_topic)
            .map_err(|r| AdminError::invalid_at(r.to_string(), "Topic"))?;
        let actor = format!("migration by {}", caller.actor);
        self.enrollments
            .handle(&translated.enrollment_key, translated.input, &actor, now)
            .await?;
        Ok(Migrated {
            enrollment: translated.enrollment_key,
            message_type,
        })
    }
}

/// The identity of a replayed message: none. The empty fingerprint is what the enrollment is
/// bound to until a device claims it; no certificate has it.
fn no_certificate(now: DateTime<Utc>) -> Identity {
    Identity {
        certificate: CertificateInfo {
            fingerprint_sha256: String::new(),
            serial_hex: String::new(),
            subject: String::new(),
            issuer: String::new(),
            not_before: now,
            not_after: now,
        },
        proof: MIGRATION_PROOF,
        issued_by_annal: false,
        vouched: Default::default(),
        url_params: Default::default(),
    }
}

fn invalid(e: DeviceFailure) -> AdminError {
    match e {
        DeviceFailure::Internal(detail) => AdminError::Internal(detail),
        other => AdminError::invalid(format!("not a check-in message: {other}")),
    }
}

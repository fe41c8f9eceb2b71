//! `PUT /v1/pushcert` (NanoMDM's route): an admin installs (renews) the push certificate from
//! its PEM certificate and key, with the same checks as `annal push-cert install` — not
//! expired, the key belongs to it, and its topic is the one devices are enrolled with (a
//! different Apple ID's certificate would strand every enrolled device; NanoMDM installs it
//! anyway, Annal refuses).

use annal_schemas::events::push::PushCertificateInstalled;

use super::{authorize, Action, AdminError, Caller};
use crate::push::certificate::PushCertificate;
use crate::push::installed::{self, InstalledError};
use crate::secrets::DataKey;
use crate::store::EventStore;

/// Installs the PEM certificate and key in `body` (both in one body, as NanoMDM takes them).
pub async fn install(
    store: &dyn EventStore,
    data_key: &DataKey,
    caller: &Caller,
    body: &[u8],
) -> Result<PushCertificateInstalled, AdminError> {
    authorize(caller, Action::InstallPushCertificate)?;
    let text = std::str::from_utf8(body)
        .ok()
        .filter(|t| t.contains("-----BEGIN"))
        .ok_or_else(|| AdminError::invalid("the body must be the PEM certificate and its PEM private key"))?;
    let certificate = PushCertificate::from_pem(text, text)
        .map_err(|e| AdminError::invalid(format!("the push certificate and key: {e}")))?;
    let topics = installed::enrolled_topics(store, |_| {}).await.map_err(admin_error)?;
    installed::install(store, data_key, &certificate, &topics, false, &caller.actor)
        .await
        .map_err(admin_error)
}

fn admin_error(e: InstalledError) -> AdminError {
    match e {
        InstalledError::Store(s) => s.into(),
        InstalledError::Topic(_) | InstalledError::Raced => AdminError::Conflict(e.to_string()),
        InstalledError::Expired(_) | InstalledError::Certificate(_) => AdminError::invalid(e.to_string()),
        InstalledError::Key(_) | InstalledError::Unreadable(..) => AdminError::Internal(e.to_string()),
    }
}

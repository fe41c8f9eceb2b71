//! `POST /v1/escrowkeyunlock` (NanoMDM's route): an admin asks Apple to remove a device's
//! Activation Lock with its bypass code. The request is recorded before it goes to Apple (no
//! bypass leaves unrecorded; the code itself is never recorded), Apple's answer after it, both on
//! the `escrow-key-unlock` stream with the caller as actor, so the audit trail shows who
//! unlocked which device and what Apple said.

use annal_schemas::events::escrow::EscrowKeyUnlockAnswered;
use annal_schemas::NewEvent;

use super::{authorize, Action, AdminError, Caller};
use crate::domain::activation_lock::BypassRequest;
use crate::push::escrow::EscrowAnswer;
use crate::push::{PushError, PushService};
use crate::store::{EventStore, ExpectedVersion};

/// The stream both events go on.
pub const STREAM: &str = "escrow-key-unlock";

/// Checks the caller, then the form (`application/x-www-form-urlencoded`), records, forwards
/// and records the answer. Apple's answer is relayed whatever it is; an Apple that cannot be
/// reached is a 503 (recorded too).
pub async fn unlock(
    store: &dyn EventStore,
    push: &PushService,
    caller: &Caller,
    form: &[u8],
) -> Result<EscrowAnswer, AdminError> {
    // The role first: a key that may not do this learns nothing about what the form lacks.
    authorize(caller, Action::BypassActivationLock)?;
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(form).map_err(|e| {
        AdminError::invalid(format!(
            "the body must be a form (application/x-www-form-urlencoded): {e}"
        ))
    })?;
    let request = &BypassRequest::from_form(&pairs).map_err(|e| AdminError::invalid_at(e.to_string(), e.field()))?;
    // A certificate installed a moment ago (by another node, or the CLI) counts.
    if let Err(e) = push.refresh_certificate().await {
        tracing::warn!(error = %e, "reading the installed push certificate");
    }
    let installed = push
        .topic()
        .ok_or_else(|| AdminError::PushUnavailable(PushError::NoCertificate.to_string()))?;
    if request.topic != installed {
        return Err(AdminError::invalid_at(
            format!(
                "topic {:?} is not the installed push certificate's topic {installed:?}",
                request.topic
            ),
            "topic",
        ));
    }
    let requested = NewEvent::new(&caller.actor, &request.recorded());
    let correlation = requested.event_id;
    store.append(STREAM, ExpectedVersion::Any, vec![requested]).await?;
    let (answer, recorded) = match push.escrow_key_unlock(&request.query(), request.form()).await {
        Ok(Ok(answer)) => {
            let status = Some(answer.status);
            (Ok(answer), answered(request, status, None))
        }
        Ok(Err(unreached)) => {
            let message = format!("Apple's Activation Lock endpoint was not reached: {unreached}");
            (
                Err(AdminError::PushUnavailable(message)),
                answered(request, None, Some(unreached.to_string())),
            )
        }
        Err(e) => (
            Err(AdminError::PushUnavailable(e.to_string())),
            answered(request, None, Some(e.to_string())),
        ),
    };
    let event = NewEvent::new(&caller.actor, &recorded).with_correlation(correlation, Some(correlation));
    if let Err(e) = store.append(STREAM, ExpectedVersion::Any, vec![event]).await {
        // Apple has acted: its answer is the caller's to see even if the log cannot take it now.
        tracing::error!(error = %e, serial = %request.serial, "recording Apple's Activation Lock bypass answer");
    }
    answer
}

fn answered(request: &BypassRequest, status: Option<u16>, error: Option<String>) -> EscrowKeyUnlockAnswered {
    EscrowKeyUnlockAnswered {
        serial_number: request.serial.clone(),
        status,
        error,
    }
}

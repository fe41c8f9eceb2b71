//! The device use case: one device request in (its body, the verified identity, what the
//! request's label said), one device reply out. Translation, sealing, the topic check, the
//! identity claim, the decision and its append all happen here; the HTTP layer only reads the
//! request and encodes the reply.
//!
//! Every request: parse, decide, make the answer, append the events (with the raw plist), and
//! only then reply. A refused request appends nothing of its own; three refusals record what
//! led to them first: a user channel whose device channel ended is ended (`CheckOut`) before
//! its request is refused, a refused re-enrollment is recorded as `EnrollmentRefused` (in
//! `refused-<key>`), and a store failure after a new certificate was claimed leaves the claim
//! (the retried request finds it). The protocol's own negative
//! answers to valid messages (UserAuthenticate 410, GetToken 403, an unknown DDM declaration
//! 404) are answers, not refusals: they are recorded like any other.

pub mod enroll;
mod kind;
mod reply;
mod translate;

use annal_schemas::events::{DeviceRef, IdentityRef};
use bytes::Bytes;
use chrono::{DateTime, Utc};

use crate::domain::enrollment::{DeviceInput, Identity, Input, Refusal, Reply};
use crate::mdm::ParseError;
use crate::secrets::DataKey;
use crate::service::admin::AdminError;
use crate::service::declarations::{Declarations, Facts};
use crate::service::enrollments::{Enrollments, ServiceError};
use crate::store::StoreError;
pub use kind::MessageKind;
pub use reply::DeviceReply;
pub use translate::UNREADABLE_RAW_KEPT;
// A migration replays another server's stored check-ins and answers through the same translation.
pub use translate::{checkin as translate_checkin, report as translate_report, Translated};

/// One device request, as the HTTP layer read it.
pub struct DeviceRequest {
    /// The body as received: shared, not copied, from here to the store's event (`NewEvent.raw`
    /// is `Bytes` too, so an append retried after a conflict copies nothing).
    pub body: Bytes,
    /// Who is asking, already verified.
    pub identity: Identity,
    /// The request was labelled a check-in (`application/x-apple-aspen-mdm-checkin`); any
    /// other request is served by what its body is.
    pub labeled_checkin: bool,
    pub now: DateTime<Utc>,
}

/// Why a device request was not answered (see the module's note on the three refusals that
/// record what led to them).
#[derive(Debug, thiserror::Error)]
pub enum DeviceFailure {
    #[error("the body is neither a check-in message (no MessageType) nor a command report (no Status)")]
    UnknownMessage,
    #[error("invalid message: {0}")]
    Parse(#[from] ParseError),
    #[error("{0}")]
    Refused(Refusal),
    /// The store cannot take the request now; the detail (why) goes to the log only.
    #[error("the event store is unavailable; try again")]
    Unavailable(String),
    #[error("internal error")]
    Internal(String),
}

impl From<ServiceError> for DeviceFailure {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Refused(r) => DeviceFailure::Refused(r),
            ServiceError::Store(e @ StoreError::Unavailable(_)) => DeviceFailure::Unavailable(e.to_string()),
            e @ ServiceError::Contention(_) => DeviceFailure::Unavailable(e.to_string()),
            other => DeviceFailure::Internal(other.to_string()),
        }
    }
}

/// What serving a device request needs from the server.
pub struct Device<'a> {
    pub enrollments: &'a Enrollments,
    pub data_key: &'a DataKey,
    /// The topic of the installed push certificate, if any.
    pub push_topic: &'a (dyn Fn() -> Option<String> + Sync),
    /// The user channels (enrollment keys) the read model knows under a device channel's
    /// key prefix (`<device>:`).
    pub user_channels: &'a (dyn Fn(&str) -> Vec<String> + Sync),
    /// The declaration catalog and the facts sets are computed from (DDM requests).
    pub declarations: Option<(&'a Declarations, &'a dyn Facts)>,
}

impl Device<'_> {
    /// Serves one request; the message kind is known (for metrics) once the body is parsed,
    /// whatever the answer.
    pub async fn serve(&self, request: DeviceRequest, kind: &mut MessageKind) -> Result<DeviceReply, DeviceFailure> {
        let DeviceRequest {
            body,
            identity,
            labeled_checkin,
            now,
        } = request;
        // Devices label check-ins reliably; the command channel's label is often missing or
        // generic (third-party simulators and proxies send none, `application/xml` or
        // `octet-stream`), and NanoMDM serves those too. So anything not labelled a check-in is
        // served by what its body is, never refused for its Content-Type.
        let mut translated = if labeled_checkin {
            translate::checkin(&body, identity, self.data_key)?
        } else {
            translate::by_body(&body, identity, self.data_key)?
        };
        *kind = MessageKind::of(&translated.input);
        self.with_declaration_set(&mut translated).await?;
        let ends_user_channels = ends_user_channels(&translated);
        crate::domain::push::check_topic(&translated.input, self.push_topic).map_err(DeviceFailure::Refused)?;
        let prepare = |outcome: &crate::domain::enrollment::Outcome| {
            reply::device_reply(outcome.reply.as_ref().unwrap_or(&Reply::Empty), self.data_key)
        };
        let (_, reply) = self
            .enrollments
            .handle_preparing(
                &translated.enrollment_key,
                translated.input,
                &translated.actor,
                now,
                prepare,
            )
            .await?;
        if let Some((device, identity)) = ends_user_channels {
            // The user channels this node's read model knows; one it has not seen yet is ended
            // at its own next request (the service checks its device channel every time).
            let prefix = format!("{}:", translated.enrollment_key);
            let user_channels = (self.user_channels)(&prefix);
            // The device's own message is recorded: failing its answer now would only make it
            // send the CheckOut again. A user channel left open is ended at its next request.
            if let Err(e) = self
                .enrollments
                .end_user_channels(&device, &user_channels, &identity, &translated.actor, now)
                .await
            {
                tracing::warn!(error = %e, "ending the user channels of a device channel failed; each ends at its next request");
            }
        }
        Ok(reply)
    }
}

impl Device<'_> {
    /// A DDM request that reads the device's set gets it looked up here, so deciding stays
    /// pure; without a catalog the set is empty.
    async fn with_declaration_set(&self, translated: &mut translate::Translated) -> Result<(), DeviceFailure> {
        let Input::Device { input, .. } = &mut translated.input else {
            return Ok(());
        };
        let DeviceInput::DeclarativeManagement { request, set, .. } = input.as_mut() else {
            return Ok(());
        };
        if let (true, Some((declarations, facts))) = (request.needs_set(), self.declarations) {
            let found = declarations
                .set_of(&translated.enrollment_key, facts)
                .await
                .map_err(|e| match e {
                    AdminError::Unavailable(detail) => DeviceFailure::Unavailable(detail),
                    other => DeviceFailure::Internal(other.to_string()),
                })?;
            *set = Some(std::sync::Arc::new(found));
        }
        Ok(())
    }
}

/// A device channel's CheckOut or Authenticate ends its user channels: what to end them with.
fn ends_user_channels(request: &translate::Translated) -> Option<(DeviceRef, IdentityRef)> {
    if request.enrollment_key.contains(':') {
        return None;
    }
    let Input::Device {
        input,
        device,
        identity,
        ..
    } = &request.input
    else {
        return None;
    };
    match input.as_ref() {
        DeviceInput::CheckOut(_) | DeviceInput::Authenticate(_) => Some((
            device.clone(),
            IdentityRef {
                fingerprint_sha256: identity.certificate.fingerprint_sha256.clone(),
                proof: identity.proof.to_string(),
                url_params: identity.url_params.clone(),
            },
        )),
        _ => None,
    }
}

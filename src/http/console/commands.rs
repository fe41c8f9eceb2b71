//! The device page's actions: its short send form (a few common commands) and cancelling a
//! queued command, through the same use cases as `POST /v1/commands` and
//! `DELETE /v1/devices/{id}/commands/{uuid}` (`app.commands()`), so the role rule, Apple's
//! schema and the rails (a reason for lock and erase class commands) are the API's. Sending runs
//! the schema form's steps (`send`): a confirmation naming the device, then the queue; every
//! other command, and several devices at once, go through the schema form itself.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};

use super::csrf::SignedForm;
use super::layout;
use super::render::{query, segment};
use super::send::{self, Origin};
use crate::http::AppState;
use crate::service::admin::AdminError;
use crate::service::commands::CancelRequest;

/// A command the console offers.
pub struct Offered {
    pub request_type: &'static str,
    pub label: &'static str,
}

/// The commands the send form offers (each still only to a role the API lets send it).
pub const COMMANDS: [Offered; 4] = [
    Offered {
        request_type: "DeviceInformation",
        label: "DeviceInformation: ask for its inventory",
    },
    Offered {
        request_type: "DeviceLock",
        label: "DeviceLock: lock it now",
    },
    Offered {
        request_type: "RestartDevice",
        label: "RestartDevice: restart it",
    },
    Offered {
        request_type: "EraseDevice",
        label: "EraseDevice: erase all content and settings",
    },
];

/// What DeviceInformation asks for when the short form sends it.
const QUERIES: [&str; 12] = [
    "DeviceName",
    "OSVersion",
    "BuildVersion",
    "ProductName",
    "Model",
    "ModelName",
    "SerialNumber",
    "UDID",
    "DeviceCapacity",
    "AvailableDeviceCapacity",
    "BatteryLevel",
    "IsSupervised",
];

/// `POST /console/devices/{id}/commands`: the device page's short form (one of [`COMMANDS`],
/// DeviceLock's `message`), run through the same steps as the schema form (`send`): without
/// `confirm=yes` the confirmation page, with it the command queued and the device page again.
pub async fn send(
    State(app): State<AppState>,
    Path(id): Path<String>,
    SignedForm(session, form): SignedForm,
) -> Response {
    if !COMMANDS
        .iter()
        .any(|c| Some(c.request_type) == form.get("request_type"))
    {
        return layout::refusal(
            AdminError::invalid("choose one of the commands the form offers"),
            Some(&session),
        );
    }
    let origin = Origin::Device(&id);
    let mut draft = match send::read(&session, &form, origin) {
        Ok(draft) => draft,
        Err(refused) => return *refused,
    };
    // The short form's own fields, in the schema's keys.
    let defaults = match draft.request_type() {
        "DeviceLock" => form.get("message").map(|m| ("Message", vec![m])),
        "DeviceInformation" => Some(("Queries", QUERIES.to_vec())),
        _ => None,
    };
    if let Some((key, values)) = defaults {
        if let Err(e) = draft.default_value(key, &values) {
            return layout::refusal(AdminError::invalid(e.to_string()), Some(&session));
        }
    }
    send::proceed(&app, &session, &form, draft, origin).await
}

/// `POST /console/devices/{id}/commands/{command_uuid}/cancel`, with an optional reason.
pub async fn cancel(
    State(app): State<AppState>,
    Path((id, command_uuid)): Path<(String, String)>,
    SignedForm(session, form): SignedForm,
) -> Response {
    let request = CancelRequest {
        target: id.clone(),
        command_uuid,
        reason: form.get("reason").map(str::to_string),
    };
    match app.commands().cancel(&session.caller, request).await {
        Ok(cancelled) => {
            tracing::info!(actor = %session.caller.actor, command_uuid = %cancelled.command_uuid, enrollment = %id, "console command cancelled");
            let target = format!(
                "/console/devices/{}?{}#queue",
                segment(&id),
                query([("cancelled", cancelled.command_uuid.as_str())])
            );
            Redirect::to(&target).into_response()
        }
        Err(e) => layout::refusal(e, Some(&session)),
    }
}

//! Sending a command to one device and cancelling a queued one, through the same use cases as
//! `POST /v1/commands` and `DELETE /v1/devices/{id}/commands/{uuid}` (`app.commands()`), so the
//! role rule, Apple's schema and the rails (a reason for lock and erase class commands) are the
//! API's. Sending takes two steps: the form, then a confirmation naming the device; only the
//! confirmed form queues. Both steps check the session's CSRF token and the role first.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::json;

use super::csrf;
use super::layout::{self, Section};
use super::render::{html, query, segment, Html, Seg};
use super::session::{Session, Signed};
use crate::domain::rails;
use crate::http::AppState;
use crate::service::admin::{authorize, Action, AdminError};
use crate::service::commands::{CancelRequest, CheckedCommand, CommandSource, EnqueueRequest, Overall, TargetOutcome};

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

/// What DeviceInformation asks for.
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

/// The command as Apple's keys (JSON), as `POST /v1/commands` takes it.
fn command_json(request_type: &str, message: Option<&str>) -> serde_json::Value {
    match request_type {
        "DeviceInformation" => json!({ "RequestType": request_type, "Queries": QUERIES }),
        "DeviceLock" => match message {
            Some(message) => json!({ "RequestType": request_type, "Message": message }),
            None => json!({ "RequestType": request_type }),
        },
        _ => json!({ "RequestType": request_type }),
    }
}

fn invalid(message: impl Into<String>, session: &Session) -> Response {
    layout::refusal(AdminError::invalid(message), Some(session))
}

/// `POST /console/devices/{id}/commands`: without `confirm=yes`, the confirmation page; with
/// it, the command queued and the device page shown again.
pub async fn send(
    State(app): State<AppState>,
    Signed(session): Signed,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = match csrf::signed_form(&session, &headers, &body) {
        Ok(form) => form,
        Err(refused) => return *refused,
    };
    let Some(offered) = COMMANDS
        .iter()
        .find(|c| Some(c.request_type) == form.get("request_type"))
    else {
        return invalid("choose one of the commands the form offers", &session);
    };
    let request_type = offered.request_type;
    // The role first, as the API: a key that may not send this learns nothing more.
    if let Err(e) = authorize(&session.caller, Action::Enqueue { request_type }) {
        tracing::warn!(actor = %session.caller.actor, request_type, refused = %e, "console command refused");
        return layout::refusal(e, Some(&session));
    }
    let message = form.get("message").filter(|_| request_type == "DeviceLock");
    let reason = form.get("reason");
    if form.get("confirm") != Some("yes") {
        return confirmation(&app, &session, &id, request_type, message, reason).await;
    }
    let request = EnqueueRequest {
        targets: vec![id.clone()],
        selection: None,
        command: CommandSource::Checked(CheckedCommand {
            json: Some(command_json(request_type, message)),
            ..CheckedCommand::default()
        }),
        // The confirmation page's key: a form sent twice queues once.
        idempotency_key: form.get("idempotency_key").map(str::to_string),
        reason: reason.map(str::to_string),
        confirm_count: None,
        expires_at: None,
        no_push: false,
    };
    let result = match app.commands().enqueue(&session.caller, request).await {
        Ok(result) => result,
        Err(e) => return layout::refusal(e, Some(&session)),
    };
    if result.overall == Overall::Unavailable {
        return layout::refusal(
            AdminError::Unavailable("the command could not be queued now; nothing was queued".into()),
            Some(&session),
        );
    }
    match result.outcomes.into_values().next() {
        Some(TargetOutcome::Queued { command_uuid, .. }) => {
            tracing::info!(actor = %session.caller.actor, request_type, command_uuid, enrollment = %id, "console command queued");
            let target = format!(
                "/console/devices/{}?{}",
                segment(&id),
                query([("sent", command_uuid.as_str())])
            );
            Redirect::to(&target).into_response()
        }
        Some(TargetOutcome::Refused(e)) => layout::refusal(e, Some(&session)),
        None => invalid("no enrollment given", &session),
    }
}

/// The second step: what will be sent to which device, and why; the form again with
/// `confirm=yes`.
async fn confirmation(
    app: &AppState,
    session: &Session,
    id: &str,
    request_type: &str,
    message: Option<&str>,
    reason: Option<&str>,
) -> Response {
    if reason.is_none() && rails::guarded(request_type) {
        if let Err(refusal) = rails::check(request_type, None, 1, None) {
            return invalid(refusal.to_string(), session);
        }
    }
    let device = match app.queries().device(id, None).await {
        Ok(Some(device)) => device,
        Ok(None) => {
            return layout::refusal(AdminError::NotFound(format!("no enrollment {id}")), Some(session));
        }
        Err(e) => return layout::api_refusal(e.into(), Some(session)),
    };
    let idempotency_key = uuid::Uuid::new_v4().to_string();
    let name = device.device_name.as_deref().unwrap_or("(unnamed)");
    let mut main = Html::new();
    html!(
        main,
        "<p class=\"warning\" role=\"alert\">You are about to send <strong>{}</strong> to the device \
         <strong>{}</strong> (enrollment <span class=\"mono\">{}</span>, serial number <span class=\"mono\">{}</span>, {}).</p>\
         <dl class=\"facts\"><dt>Command</dt><dd>{}</dd>",
        request_type,
        name,
        id,
        device.serial_number.as_deref().unwrap_or("unknown"),
        device.product_name.as_deref().or(device.model.as_deref()).unwrap_or("model unknown"),
        request_type
    );
    if let Some(message) = message {
        html!(main, "<dt>Lock screen message</dt><dd>{}</dd>", message);
    }
    html!(
        main,
        "<dt>Reason</dt><dd>{}</dd><dt>Recorded as</dt><dd>{}</dd></dl>",
        reason.unwrap_or("(none)"),
        session.caller.actor
    );
    let danger = rails::guarded(request_type);
    html!(
        main,
        "<form method=\"post\" action=\"/console/devices/{}/commands\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <input type=\"hidden\" name=\"confirm\" value=\"yes\">\
         <input type=\"hidden\" name=\"idempotency_key\" value=\"{}\">\
         <input type=\"hidden\" name=\"request_type\" value=\"{}\">\
         <input type=\"hidden\" name=\"message\" value=\"{}\">\
         <input type=\"hidden\" name=\"reason\" value=\"{}\">",
        Seg(id),
        session.csrf,
        idempotency_key,
        request_type,
        message,
        reason
    );
    if danger {
        html!(
            main,
            "<button type=\"submit\" class=\"danger\">Send {} to {}</button>",
            request_type,
            name
        );
    } else {
        html!(
            main,
            "<button type=\"submit\">Send {} to {}</button>",
            request_type,
            name
        );
    }
    html!(
        main,
        " <a href=\"/console/devices/{}\">Back to the device, sending nothing</a></form>",
        Seg(id)
    );
    layout::respond(
        StatusCode::OK,
        layout::page("Confirm the command", Section::Devices, Some(session), main),
    )
}

/// `POST /console/devices/{id}/commands/{command_uuid}/cancel`, with an optional reason.
pub async fn cancel(
    State(app): State<AppState>,
    Signed(session): Signed,
    Path((id, command_uuid)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = match csrf::signed_form(&session, &headers, &body) {
        Ok(form) => form,
        Err(refused) => return *refused,
    };
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

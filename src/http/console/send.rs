//! Sending a command to one device or a selection, in three steps: the form built from Apple's
//! schema (`GET /console/send`, `schema_form`), the confirmation naming each device (`confirm`),
//! and the enqueue (`POST /console/send` with `confirm=yes`). Every step checks the session's
//! CSRF token, then the role for the RequestType; the form is checked by the enqueue's own
//! checks (`check_listed`: the list, Apple's schema, the role, the rails) before the
//! confirmation, and the enqueue (`app.commands().enqueue`, the use case behind
//! `POST /v1/commands`) makes them again, seals secret-bearing commands and queues. A refusal
//! brings the form back with the message, and nothing is queued.
//!
//! The device page's short form (`commands.rs`) runs the same steps for its one device.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use super::confirm::{self, Named};
use super::csrf::Form;
use super::csrf::SignedForm;
use super::draft::{devices, Draft, DraftError};
use super::layout::{self, Section};
use super::render::{html, query, segment, Html, Seg};
use super::schema_form::{self, Problem, ACTION};
use super::session::{Session, Signed};
use crate::http::AppState;
use crate::service::admin::{authorize, Action, AdminError};
use crate::service::commands::{check_listed, EnqueueResult, Overall, TargetOutcome};

/// Where a send started: where its forms go and where it ends.
#[derive(Debug, Clone, Copy)]
pub enum Origin<'a> {
    /// A device page's short form: back to the device.
    Device(&'a str),
    /// The schema form (one device or a selection from the list): on to the fan-out page.
    Selection,
}

impl Origin<'_> {
    fn action(&self) -> String {
        match self {
            Origin::Device(id) => format!("/console/devices/{}/commands", segment(id)),
            Origin::Selection => ACTION.to_string(),
        }
    }
}

/// `GET /console/send`: the command picker, or with `request_type` the command's form. The
/// devices come as `device` (repeated: the device list's checkboxes) or not at all (then the
/// form asks for them).
pub async fn form(Signed(session): Signed, RawQuery(raw): RawQuery) -> Response {
    let params = Form::query(raw.as_deref());
    let devices = devices(&params);
    // A role that may send nothing (an auditor) is refused with the API's refusal of the most
    // open command, DeviceInformation, which says why.
    if schema_form::allowed(&session).is_empty() {
        let e = authorize(
            &session.caller,
            Action::Enqueue {
                request_type: "DeviceInformation",
            },
        )
        .err()
        .unwrap_or_else(|| AdminError::invalid("no command is open to this role"));
        return layout::refusal(e, Some(&session));
    }
    let schema = match params.get("request_type") {
        None => return schema_form::picker(&session, &devices, None, StatusCode::OK),
        Some(_) => match Draft::schema(params.get("request_type")) {
            Ok(schema) => schema,
            Err(e) => return schema_form::picker(&session, &devices, Some(&e.to_string()), StatusCode::BAD_REQUEST),
        },
    };
    if let Err(e) = authorize(
        &session.caller,
        Action::Enqueue {
            request_type: &schema.request_type,
        },
    ) {
        return layout::refusal(e, Some(&session));
    }
    // The query's values fill nothing but the devices: a command's keys come only by POST.
    schema_form::page(&session, &schema, &Form::default(), &devices, None, StatusCode::OK)
}

/// `POST /console/send`: the confirmation page, or with `confirm=yes` the command queued and
/// its fan-out page.
pub async fn submit(State(app): State<AppState>, SignedForm(session, form): SignedForm) -> Response {
    match read(&session, &form, Origin::Selection) {
        Ok(draft) => proceed(&app, &session, &form, draft, Origin::Selection).await,
        Err(refused) => *refused,
    }
}

/// The form as a draft: its RequestType from Apple's schema, the role's right to send it (before
/// anything else is read: a key that may not send it learns nothing more), then its keys.
pub fn read(session: &Session, form: &Form, origin: Origin<'_>) -> Result<Draft, Box<Response>> {
    let listed = match origin {
        Origin::Device(id) => vec![id.to_string()],
        Origin::Selection => devices(form),
    };
    let schema = Draft::schema(form.get("request_type")).map_err(|e| {
        Box::new(schema_form::picker(
            session,
            &listed,
            Some(&e.to_string()),
            StatusCode::BAD_REQUEST,
        ))
    })?;
    let request_type = schema.request_type.as_str();
    if let Err(e) = authorize(&session.caller, Action::Enqueue { request_type }) {
        tracing::warn!(actor = %session.caller.actor, request_type, refused = %e, "console command refused");
        return Err(Box::new(layout::refusal(e, Some(session))));
    }
    let mut draft = Draft::lift(form).map_err(|e| Box::new(refused_form(session, form, &listed, &e)))?;
    if let Origin::Device(id) = origin {
        draft.devices = vec![id.to_string()];
    }
    Ok(draft)
}

/// The form again, with why it was refused (400).
fn refused_form(session: &Session, form: &Form, devices: &[String], e: &DraftError) -> Response {
    let message = e.to_string();
    match Draft::schema(form.get("request_type")) {
        Ok(schema) => schema_form::page(
            session,
            &schema,
            form,
            devices,
            Some(Problem {
                message: &message,
                key: e.key(),
            }),
            StatusCode::BAD_REQUEST,
        ),
        Err(_) => schema_form::picker(session, devices, Some(&message), StatusCode::BAD_REQUEST),
    }
}

/// Checks the draft as the enqueue will, then shows the confirmation or, confirmed, queues.
pub async fn proceed(app: &AppState, session: &Session, form: &Form, draft: Draft, origin: Origin<'_>) -> Response {
    let request = draft.request();
    let confirmed = form.get("confirm") == Some("yes");
    // Before the confirmation the count is not asked yet (the confirmation page asks for it):
    // everything else is checked as the enqueue will check it.
    let mut checking = request.clone();
    if !confirmed && checking.confirm_count.is_none() {
        checking.confirm_count = Some(draft.devices.len());
    }
    let checked = match check_listed(&session.caller, &checking) {
        Ok(checked) => checked,
        Err(AdminError::Invalid { message, path }) => {
            // `command.Queries[2]` names the key `Queries`.
            let key = path
                .as_deref()
                .and_then(|p| p.strip_prefix("command."))
                .map(|p| p.split(['.', '[']).next().unwrap_or(p));
            return schema_form::page(
                session,
                &draft.form,
                form,
                &draft.devices,
                Some(Problem { message: &message, key }),
                StatusCode::BAD_REQUEST,
            );
        }
        Err(e) => return layout::refusal(e, Some(session)),
    };
    if !confirmed {
        return confirmation(app, session, form, &draft, &checked.targets, origin).await;
    }
    let request_type = checked.request_type;
    let result = match app.commands().enqueue(&session.caller, request).await {
        Ok(result) => result,
        Err(e) => return layout::refusal(e, Some(session)),
    };
    if result.overall == Overall::Unavailable {
        return layout::refusal(
            AdminError::Unavailable("the command could not be queued now; nothing was queued".into()),
            Some(session),
        );
    }
    tracing::info!(
        actor = %session.caller.actor,
        request_type,
        command_uuid = %result.command_uuid,
        devices = result.outcomes.len(),
        "console command queued"
    );
    done(session, result, origin)
}

/// Every device looked up: the confirmation names each, and an id that is no enrollment stops
/// the send here (as `annal enqueue` does), before anything is queued.
async fn confirmation(
    app: &AppState,
    session: &Session,
    form: &Form,
    draft: &Draft,
    targets: &[String],
    origin: Origin<'_>,
) -> Response {
    let queries = app.queries();
    let mut named = Vec::with_capacity(targets.len());
    let mut unknown = Vec::new();
    for id in targets {
        match queries.device(id, None).await {
            Ok(Some(device)) => named.push(Named { id: id.clone(), device }),
            Ok(None) => unknown.push(id.as_str()),
            Err(e) => return layout::api_refusal(e.into(), Some(session)),
        }
    }
    if !unknown.is_empty() {
        if let Origin::Device(id) = origin {
            return layout::refusal(AdminError::NotFound(format!("no enrollment {id}")), Some(session));
        }
        let message = format!(
            "{} of the devices are not enrollments this server knows: {}. Nothing was sent.",
            unknown.len(),
            unknown.join(", ")
        );
        return schema_form::page(
            session,
            &draft.form,
            form,
            &draft.devices,
            Some(Problem {
                message: &message,
                key: None,
            }),
            StatusCode::BAD_REQUEST,
        );
    }
    confirm::page(session, draft, &named, &origin.action())
}

/// Where a queued command leads: its device, or its fan-out page; a page naming the devices
/// that refused it when some did.
fn done(session: &Session, result: EnqueueResult, origin: Origin<'_>) -> Response {
    if let Origin::Device(id) = origin {
        return match result.outcomes.into_values().next() {
            Some(TargetOutcome::Queued { command_uuid, .. }) => {
                let target = format!(
                    "/console/devices/{}?{}",
                    segment(id),
                    query([("sent", command_uuid.as_str())])
                );
                Redirect::to(&target).into_response()
            }
            Some(TargetOutcome::Refused(e)) => layout::refusal(e, Some(session)),
            None => layout::refusal(AdminError::invalid("no enrollment given"), Some(session)),
        };
    }
    let refused: Vec<(&String, &AdminError)> = result
        .outcomes
        .iter()
        .filter_map(|(id, o)| match o {
            TargetOutcome::Refused(e) => Some((id, e)),
            TargetOutcome::Queued { .. } => None,
        })
        .collect();
    if refused.is_empty() {
        let target = format!("/console/commands/{}?sent=1", segment(&result.command_uuid));
        return Redirect::to(&target).into_response();
    }
    partial(session, &result, &refused)
}

/// Some devices took it, some did not: which, and why.
fn partial(session: &Session, result: &EnqueueResult, refused: &[(&String, &AdminError)]) -> Response {
    let queued = result.outcomes.len() - refused.len();
    let mut main = Html::new();
    html!(
        main,
        "<p class=\"warning\" role=\"alert\">{} was queued for {} of {} devices. These did not take it:</p>\
         <table><thead><tr><th scope=\"col\">Enrollment</th><th scope=\"col\">Why</th></tr></thead><tbody>",
        result.request_type,
        queued,
        result.outcomes.len()
    );
    for (id, e) in refused {
        html!(
            main,
            "<tr><td class=\"mono\">{}</td><td>{}</td></tr>",
            id,
            e.to_string()
        );
    }
    html!(
        main,
        "</tbody></table><p><a href=\"/console/commands/{}\">Its delivery, device by device</a></p>",
        Seg(&result.command_uuid)
    );
    layout::respond(
        StatusCode::MULTI_STATUS,
        layout::page("Partly queued", Section::Devices, Some(session), main),
    )
}

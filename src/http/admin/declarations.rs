//! Declarative Device Management's catalog: `GET /v1/declarations`, `GET|PUT|DELETE
//! /v1/declarations/{identifier}` (PUT `{"Type", "Payload", "reason"?}`), `POST
//! /v1/declarations/validate` (a dry run), and the assignments: `GET|POST
//! /v1/declarations/{identifier}/assignments` (POST `{"enrollment"|"group"|"filter", "reason"?}`),
//! `DELETE /v1/declarations/{identifier}/assignments/{assignment_id}`. Changing needs the admin
//! role; reading, any reading role. `X-Annal-Reason` (or `reason`) is recorded with the change.

use annal_schemas::events::declaration::AssignmentTarget;
use annal_schemas::events::group::TargetFilter;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde_json::{json, Value};

use super::error::ApiError;
use super::extract::{self, reason_header};
use crate::http::AppState;
use crate::service::admin::Caller;

/// A declaration as an admin writes it: Apple's keys, the identifier from the path.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DefineDeclaration {
    #[serde(rename = "Type")]
    declaration_type: String,
    #[serde(rename = "Payload", default = "empty_object")]
    payload: Value,
    /// Must equal the path's, if given (a declaration file can be sent as is).
    #[serde(rename = "Identifier")]
    identifier: Option<String>,
    /// Ignored: the server derives it from the content.
    #[serde(rename = "ServerToken")]
    _server_token: Option<String>,
    reason: Option<String>,
}

fn empty_object() -> Value {
    Value::Object(Default::default())
}

/// A whole declaration, for the dry run.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidateDeclaration {
    #[serde(rename = "Type")]
    declaration_type: String,
    #[serde(rename = "Identifier")]
    identifier: String,
    #[serde(rename = "Payload", default = "empty_object")]
    payload: Value,
    #[serde(rename = "ServerToken")]
    _server_token: Option<String>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Assign {
    /// One enrollment (a device channel, or a user channel's `<device>:<user>`).
    enrollment: Option<String>,
    /// A named group, followed as it changes.
    group: Option<String>,
    /// The enrolled devices matching this inventory filter, as the inventory changes.
    filter: Option<TargetFilter>,
    reason: Option<String>,
}

/// Stores a configuration profile for declarations to point at (a legacy configuration's
/// `ProfileURL`); answers where devices fetch it.
pub async fn store_data(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    // Kept in the log and shown again: plain, short text only.
    let content_type = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .filter(|t| t.len() <= 128 && t.chars().all(|c| c.is_ascii_graphic() || c == ' '))
        .unwrap_or("application/x-apple-aspen-config");
    let info = app
        .declarations
        .store_data(&caller, &body, content_type, reason_header(&headers)?, &app.data_key)
        .await?;
    Ok(Json(json!(info)))
}

pub async fn list(State(app): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    let declarations = app.declarations.list(&caller).await?;
    Ok(Json(json!({ "declarations": declarations })))
}

pub async fn show(
    State(app): State<AppState>,
    caller: Caller,
    Path(identifier): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let declaration = app.declarations.get(&caller, &identifier).await?;
    Ok(Json(json!(declaration)))
}

pub async fn define(
    State(app): State<AppState>,
    caller: Caller,
    Path(identifier): Path<String>,
    headers: HeaderMap,
    extract::Json(body): extract::Json<DefineDeclaration>,
) -> Result<Json<Value>, ApiError> {
    if body.identifier.as_ref().is_some_and(|id| *id != identifier) {
        return Err(ApiError::invalid_at(
            "the body's Identifier differs from the path's",
            "Identifier",
        ));
    }
    let reason = body.reason.or(reason_header(&headers)?);
    let changed = app
        .declarations
        .define(&caller, &identifier, &body.declaration_type, body.payload, reason)
        .await?;
    Ok(Json(json!(changed)))
}

pub async fn remove(
    State(app): State<AppState>,
    caller: Caller,
    Path(identifier): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    app.declarations
        .remove(&caller, &identifier, reason_header(&headers)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn validate(
    State(app): State<AppState>,
    caller: Caller,
    extract::Json(body): extract::Json<ValidateDeclaration>,
) -> Result<Json<Value>, ApiError> {
    let server_token = app
        .declarations
        .validate(&caller, &body.identifier, &body.declaration_type, &body.payload)
        .await?;
    Ok(Json(
        json!({"identifier": body.identifier, "server_token": server_token, "valid": true}),
    ))
}

pub async fn assignments(
    State(app): State<AppState>,
    caller: Caller,
    Path(identifier): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let declaration = app.declarations.get(&caller, &identifier).await?;
    Ok(Json(
        json!({"identifier": identifier, "assignments": declaration.assignments}),
    ))
}

pub async fn assign(
    State(app): State<AppState>,
    caller: Caller,
    Path(identifier): Path<String>,
    headers: HeaderMap,
    extract::Json(body): extract::Json<Assign>,
) -> Result<Json<Value>, ApiError> {
    let target = match (body.enrollment, body.group, body.filter) {
        (Some(key), None, None) => AssignmentTarget::Enrollment(key),
        (None, Some(name), None) => AssignmentTarget::Group(name),
        (None, None, Some(filter)) => AssignmentTarget::Filter(filter),
        _ => {
            return Err(ApiError::invalid_at(
                "give exactly one of `enrollment`, `group` or `filter`",
                "body",
            ))
        }
    };
    let reason = body.reason.or(reason_header(&headers)?);
    let changed = app.declarations.assign(&caller, &identifier, target, reason).await?;
    Ok(Json(json!(changed)))
}

pub async fn unassign(
    State(app): State<AppState>,
    caller: Caller,
    Path((identifier, assignment_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    app.declarations
        .unassign(&caller, &identifier, &assignment_id, reason_header(&headers)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

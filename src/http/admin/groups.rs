//! Device groups: `GET /v1/groups`, `GET /v1/groups/{name}` (with the devices it means now),
//! `PUT /v1/groups/{name}` (define or replace: `members` or `filter`), `DELETE
//! /v1/groups/{name}`. Changing needs the admin or operator role; reading, any reading role.
//! `X-Annal-Reason` (or `reason` in a PUT body) is recorded with the change.

use annal_schemas::events::group::{GroupDefinition, TargetFilter};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use chrono::Utc;
use serde_json::{json, Value};

use super::error::ApiError;
use super::extract::{self, reason_header};
use crate::http::AppState;
use crate::service::admin::Caller;
use crate::service::groups::Selection;

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DefineGroup {
    /// A fixed list of enrollment ids.
    members: Option<Vec<String>>,
    /// Or a filter on the inventory and the tags, evaluated each time the group is used.
    filter: Option<TargetFilter>,
    reason: Option<String>,
}

pub async fn list(State(app): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    let groups = app.groups.list(&caller).await?;
    Ok(Json(json!({ "groups": groups })))
}

pub async fn show(
    State(app): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let queries = app.queries();
    let resolution = app
        .groups
        .resolve(&caller, &Selection::Group(name.clone()), &queries, Utc::now())
        .await?;
    Ok(Json(json!({
        "name": name,
        "definition": resolution.definition,
        "resolved": {
            "count": resolution.enrollments.len(),
            "enrollments": resolution.enrollments,
            "last_seen_before": resolution.last_seen_before,
            "last_seen_after": resolution.last_seen_after,
            "position": resolution.inventory_position,
        },
    })))
}

pub async fn define(
    State(app): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    headers: HeaderMap,
    extract::Json(body): extract::Json<DefineGroup>,
) -> Result<Json<Value>, ApiError> {
    let definition = match (body.members, body.filter) {
        (Some(members), None) => GroupDefinition::Members(members),
        (None, Some(filter)) => GroupDefinition::Filter(filter),
        _ => {
            return Err(ApiError::invalid_at(
                "give exactly one of `members` or `filter`",
                "body",
            ))
        }
    };
    let reason = body.reason.or(reason_header(&headers)?);
    app.declarations.guard_targeting(&caller, Some(&name), None).await?;
    let changed = app.groups.define(&caller, &name, definition.clone(), reason).await?;
    Ok(Json(
        json!({"name": name, "definition": definition, "changed": changed}),
    ))
}

pub async fn remove(
    State(app): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    app.declarations.guard_targeting(&caller, Some(&name), None).await?;
    app.groups.remove(&caller, &name, reason_header(&headers)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

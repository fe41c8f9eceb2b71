//! Admin tags on devices: `GET /v1/devices/{id}/tags`, `PUT` and `DELETE
//! /v1/devices/{id}/tags/{tag}`. Changing needs the admin or operator role; `X-Annal-Reason` is
//! recorded with the change. Group filters and `GET /v1/devices?tag=` match on them.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde_json::{json, Value};

use super::error::ApiError;
use super::extract::reason_header;
use crate::http::AppState;
use crate::service::admin::Caller;

pub async fn list(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let tags = app.groups.tags_of(&caller, &id).await?;
    Ok(Json(json!({"enrollment": id, "tags": tags})))
}

pub async fn tag(
    State(app): State<AppState>,
    caller: Caller,
    Path((id, tag)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    app.declarations.guard_targeting(&caller, None, Some(&tag)).await?;
    let changed = app.groups.tag(&caller, &id, &tag, reason_header(&headers)?).await?;
    Ok(Json(json!({"enrollment": id, "tag": tag, "changed": changed})))
}

pub async fn untag(
    State(app): State<AppState>,
    caller: Caller,
    Path((id, tag)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    app.declarations.guard_targeting(&caller, None, Some(&tag)).await?;
    app.groups.untag(&caller, &id, &tag, reason_header(&headers)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

//! Inventory: `GET /v1/devices` (filters, cursor pagination), `GET /v1/devices/{id}` (now, or
//! as of a position or time: refolded from that enrollment's stream), `GET /v1/devices/{id}/queue`.

use annal_projections::devices::{DeviceFilter, DeviceState};
use annal_projections::AsOf;
use axum::extract::{Path, State};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::ApiError;
use super::extract::Query;
use crate::domain::access::Caller;
use crate::http::AppState;

const MAX_PAGE: usize = 1000;

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    pub state: Option<String>,
    pub model: Option<String>,
    pub os_version: Option<String>,
    pub serial: Option<String>,
    pub topic: Option<String>,
    pub last_seen_before: Option<DateTime<Utc>>,
    pub last_seen_after: Option<DateTime<Utc>>,
    pub identity_issuer: Option<String>,
    pub identity_expires_before: Option<DateTime<Utc>>,
    /// Admin tags, comma-separated: devices carrying all of them.
    pub tag: Option<String>,
    pub after: Option<String>,
    pub limit: Option<usize>,
}

pub async fn list(
    State(app): State<AppState>,
    caller: Caller,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let state = q
        .state
        .as_deref()
        .map(|s| {
            serde_json::from_value::<DeviceState>(Value::String(s.to_string())).map_err(|_| {
                ApiError::invalid_at(
                    format!("unknown state {s:?}: use authenticated, enrolled or checked_out"),
                    "state",
                )
            })
        })
        .transpose()?;
    let filter = DeviceFilter {
        state,
        model: q.model,
        os_version_prefix: q.os_version,
        serial_number: q.serial,
        topic: q.topic,
        last_seen_before: q.last_seen_before,
        last_seen_after: q.last_seen_after,
        identity_issuer: q.identity_issuer,
        identity_expires_before: q.identity_expires_before,
        // `tag=` with nothing in it filters nothing, rather than meaning "any tagged device".
        keys: match q.tag.as_deref().map(split_tags).filter(|t| !t.is_empty()) {
            Some(tags) => Some(app.groups.carrying(&caller, &tags).await?),
            None => None,
        },
    };
    let limit = q.limit.unwrap_or(100).clamp(1, MAX_PAGE);
    let page = app.queries().devices(&filter, q.after.as_deref(), limit).await;
    Ok(Json(
        json!({"devices": page.value.items, "next": page.value.next, "position": page.position}),
    ))
}

fn split_tags(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

#[derive(Debug, Deserialize)]
pub struct AsOfQuery {
    pub as_of_position: Option<u64>,
    pub as_of_time: Option<DateTime<Utc>>,
}

impl AsOfQuery {
    pub fn as_of(&self) -> Result<Option<AsOf>, ApiError> {
        match (self.as_of_position, self.as_of_time) {
            (Some(_), Some(_)) => Err(ApiError::invalid("give as_of_position or as_of_time, not both")),
            (Some(p), None) => Ok(Some(AsOf::Position(p))),
            (None, Some(t)) => Ok(Some(AsOf::Time(t))),
            (None, None) => Ok(None),
        }
    }
}

pub async fn show(
    State(app): State<AppState>,
    _caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<AsOfQuery>,
) -> Result<Json<Value>, ApiError> {
    let device = app.queries().device(&id, q.as_of()?).await?;
    let device = device.ok_or_else(|| ApiError::not_found(format!("no enrollment {id}")))?;
    Ok(Json(
        serde_json::to_value(device).map_err(|e| ApiError::internal(e.to_string()))?,
    ))
}

pub async fn queue(
    State(app): State<AppState>,
    _caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let queue = app.queries().queue(&id).await;
    let queue = queue.ok_or_else(|| ApiError::not_found(format!("no enrollment {id}")))?;
    Ok(Json(
        json!({"enrollment": id, "commands": queue.value, "position": queue.position}),
    ))
}

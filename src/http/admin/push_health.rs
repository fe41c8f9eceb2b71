//! Push health (ARCHITECTURE.md §4): `GET /v1/push-health?filter=token_dead|silent` lists
//! enrollments whose token APNs declared dead, or that were pushed and stayed silent longer
//! than `silent_for_secs`; `GET /v1/devices/{id}/push` is one enrollment's record.

use axum::extract::{Path, State};
use axum::Json;
use chrono::{TimeDelta, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::ApiError;
use super::extract::Query;
use super::read::fresh;
use crate::domain::access::Caller;
use crate::http::AppState;

#[derive(Debug, Deserialize)]
pub struct PushHealthQuery {
    pub filter: String,
    /// For `silent`: how long since the first unanswered push (default one hour).
    pub silent_for_secs: Option<i64>,
    pub after: Option<String>,
    pub limit: Option<usize>,
}

pub async fn list(
    State(app): State<AppState>,
    _caller: Caller,
    Query(q): Query<PushHealthQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let after = q.after.as_deref();
    let silent_for =
        TimeDelta::try_seconds(q.silent_for_secs.unwrap_or(3600).max(0)).ok_or_else(|| ApiError::Invalid {
            message: "silent_for_secs is out of range".into(),
            path: Some("silent_for_secs".into()),
        })?;
    let (page, position) = match q.filter.as_str() {
        "token_dead" => fresh(&app, |p| p.push().token_dead(after, limit)).await,
        "silent" => fresh(&app, |p| p.push().silent(Utc::now(), silent_for, after, limit)).await,
        other => {
            return Err(ApiError::Invalid {
                message: format!("unknown filter {other:?}: use token_dead or silent"),
                path: Some("filter".into()),
            })
        }
    };
    Ok(Json(
        json!({"enrollments": page.items, "next": page.next, "position": position}),
    ))
}

pub async fn show(
    State(app): State<AppState>,
    _caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (record, _) = fresh(&app, |p| p.push().get(&id)).await;
    let record = record.ok_or_else(|| ApiError::NotFound(format!("no push record for {id}")))?;
    serde_json::to_value(record)
        .map(Json)
        .map_err(|e| ApiError::Internal(e.to_string()))
}

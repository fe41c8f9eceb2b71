//! Push health (design brief §4): `GET /v1/push-health?filter=token_dead|silent` lists
//! enrollments whose token APNs declared dead, or that were pushed and stayed silent longer
//! than `silent_for_secs`; `GET /v1/devices/{id}/push` is one enrollment's record.

use axum::extract::{Path, State};
use axum::Json;
use chrono::Utc;
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::ApiError;
use super::extract::Query;
use crate::http::AppState;
use crate::service::admin::push_health::{self, Filter};
use crate::service::admin::Caller;

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
    let listing = push_health::listing(&q.filter, q.silent_for_secs, q.limit)?;
    let (after, limit) = (q.after.as_deref(), listing.limit);
    let queries = app.queries();
    let page = match listing.filter {
        Filter::TokenDead => queries.push_token_dead(after, limit).await,
        Filter::Silent(silent_for) => queries.push_silent(Utc::now(), silent_for, after, limit).await,
    };
    Ok(Json(
        json!({"enrollments": page.value.items, "next": page.value.next, "position": page.position}),
    ))
}

pub async fn show(
    State(app): State<AppState>,
    _caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let record = app.queries().push_record(&id).await;
    let record = record.ok_or_else(|| ApiError::not_found(format!("no push record for {id}")))?;
    serde_json::to_value(record)
        .map(Json)
        .map_err(|e| ApiError::internal(e.to_string()))
}

//! `GET /v1/devices/{id}/history`: every event of one enrollment, oldest first, paginated by
//! stream version, optionally "as of" a global position or a time (events after it are left
//! out, so the page shows the enrollment exactly as the log knew it then).

use axum::extract::{Path, State};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::ApiError;
use super::extract::Query;
use super::render::{event_json, RawView};
use crate::domain::access::Caller;
use crate::http::AppState;

pub const MAX_PAGE: usize = 1000;

#[derive(Debug, Deserialize)]
pub struct HistoryQuery {
    /// Stream version to continue after (the previous page's `next`).
    #[serde(default)]
    pub after: u64,
    pub limit: Option<usize>,
    pub as_of_position: Option<u64>,
    pub as_of_time: Option<DateTime<Utc>>,
    /// Include the device's raw plist (never a sealed one; secrets masked for every role but
    /// admin).
    #[serde(default)]
    pub include_raw: bool,
}

impl HistoryQuery {
    fn as_of(&self) -> Result<Option<annal_projections::AsOf>, ApiError> {
        super::devices::AsOfQuery {
            as_of_position: self.as_of_position,
            as_of_time: self.as_of_time,
        }
        .as_of()
    }
}

pub async fn history(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<HistoryQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = q.limit.unwrap_or(100).clamp(1, MAX_PAGE);
    if q.after == u64::MAX {
        return Err(ApiError::invalid_at("after is out of range", "after"));
    }
    let page = app.queries().history(&id, q.after, limit, q.as_of()?).await?;
    let page = page.ok_or_else(|| ApiError::not_found(format!("no enrollment {id}")))?;
    let view = RawView::of(q.include_raw, caller.role);
    Ok(Json(json!({
        "enrollment": id,
        "events": page.events.iter().map(|e| event_json(e, view)).collect::<Vec<_>>(),
        "next": page.next,
    })))
}

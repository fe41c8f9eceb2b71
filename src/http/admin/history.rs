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
use crate::domain::enrollment::stream_name;
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

pub async fn history(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<HistoryQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = q.limit.unwrap_or(100).clamp(1, MAX_PAGE);
    let stream = stream_name(&id);
    let first = q
        .after
        .checked_add(1)
        .ok_or_else(|| ApiError::invalid_at("after is out of range", "after"))?;
    let page = app.store.read_stream(&stream, first, limit + 1).await?;
    if page.is_empty() && q.after == 0 {
        return Err(ApiError::not_found(format!("no enrollment {id}")));
    }
    let in_view = |e: &&annal_schemas::RecordedEvent| {
        q.as_of_position.is_none_or(|p| e.global_position <= p) && q.as_of_time.is_none_or(|t| e.recorded_at <= t)
    };
    // Stream order is global order within a stream, so the first event past the "as of" point
    // ends the history.
    let visible: Vec<_> = page.iter().take(limit).take_while(|e| in_view(e)).collect();
    let more = visible.len() == limit && page.len() > limit && in_view(&&page[limit]);
    let next = if more {
        visible.last().map(|e| e.stream_version)
    } else {
        None
    };
    Ok(Json(json!({
        "enrollment": id,
        "events": visible.iter().map(|e| event_json(e, RawView::of(q.include_raw, caller.role))).collect::<Vec<_>>(),
        "next": next,
    })))
}

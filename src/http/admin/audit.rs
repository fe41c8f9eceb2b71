//! The audit trail of security-relevant commands (protocol.md §5a): who queued what, why, when
//! it was pushed, delivered and answered, and the device's raw answer. JSON pages, or the whole
//! filtered trail as CSV or NDJSON for a compliance export.

use annal_projections::audit::{AuditEntry, AuditFilter};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::ApiError;
use super::extract::Query;
use super::read::caught_up;
use crate::domain::access::Caller;
use crate::http::AppState;
use crate::service::history;

const MAX_PAGE: usize = 1000;

#[derive(Debug, Deserialize)]
pub struct AuditQuery {
    pub request_type: Option<String>,
    pub actor: Option<String>,
    pub device: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub after: Option<u64>,
    pub limit: Option<usize>,
    /// `json` (default, paginated), `csv` or `ndjson` (everything that matches).
    pub format: Option<String>,
}

pub async fn audit(
    State(app): State<AppState>,
    _caller: Caller,
    Query(q): Query<AuditQuery>,
) -> Result<Response, ApiError> {
    let filter = AuditFilter {
        request_type: q.request_type,
        requester: q.actor,
        device: q.device,
        queued_from: q.since,
        queued_until: q.until,
    };
    let format = q.format.as_deref().unwrap_or("json");
    if format == "json" {
        let limit = q.limit.unwrap_or(100).clamp(1, MAX_PAGE);
        let position = caught_up(&app).await;
        let page = history::audit(&app.projector, &filter, q.after, limit).await?;
        return Ok(Json(json!({"entries": page.items, "next": page.next, "position": position})).into_response());
    }
    caught_up(&app).await;
    let entries = history::audit(&app.projector, &filter, q.after, usize::MAX)
        .await?
        .items;
    match format {
        "ndjson" => {
            let mut body = String::new();
            for e in &entries {
                body.push_str(&serde_json::to_string(e).map_err(|e| ApiError::Internal(e.to_string()))?);
                body.push('\n');
            }
            Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response())
        }
        "csv" => Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], to_csv(&entries)).into_response()),
        other => Err(ApiError::Invalid {
            message: format!("unknown format {other:?}: use json, csv or ndjson"),
            path: Some("format".into()),
        }),
    }
}

const COLUMNS: &[&str] = &[
    "queued_at",
    "request_type",
    "class",
    "requester",
    "reason",
    "enrollment",
    "udid",
    "serial_number",
    "command_uuid",
    "pushed_at",
    "delivered_at",
    "result_at",
    "status",
    "error_chain",
    "cancel_reason",
    "error_reason",
    "answer",
    "result_position",
];

/// RFC 4180 CSV: one row per entry, every field quoted, nested values as JSON text.
pub fn to_csv(entries: &[AuditEntry]) -> String {
    let mut out = COLUMNS.join(",");
    out.push_str("\r\n");
    for e in entries {
        let v = serde_json::to_value(e).unwrap_or(Value::Null);
        let row: Vec<String> = COLUMNS
            .iter()
            .map(|c| {
                let text = match v.get(*c) {
                    None | Some(Value::Null) => String::new(),
                    Some(Value::String(s)) => s.clone(),
                    Some(other) => other.to_string(),
                };
                format!("\"{}\"", text.replace('"', "\"\""))
            })
            .collect();
        out.push_str(&row.join(","));
        out.push_str("\r\n");
    }
    out
}

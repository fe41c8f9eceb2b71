//! What devices report about their declarations: `GET /v1/devices/{id}/declarations` (the set,
//! its tokens, whether the device was given them, and its status), `GET
//! /v1/devices/{id}/declarations/status/history` (every report, in full), `GET
//! /v1/declarations/status` (the fleet view), `GET /v1/declarations/{identifier}/status` (the
//! devices and their state for one declaration) and `GET /v1/declarations/status/export`
//! (CSV or NDJSON, one row per device and declaration). Any reading role.

use annal_schemas::{Event, EventType};
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::audit::csv_row;
use super::error::ApiError;
use super::extract::Query;
use crate::domain::enrollment::stream_name;
use crate::http::AppState;
use crate::service::admin::Caller;
use crate::service::declarations::{Facts, Reported, StatusRow};

/// Most rows one JSON answer lists (exports have no limit).
const MAX_ROWS: usize = 10_000;
/// Most events one history request reads looking for reports.
const HISTORY_SCAN: usize = 5_000;

const COLUMNS: &[&str] = &[
    "enrollment",
    "udid",
    "serial_number",
    "identifier",
    "category",
    "server_token",
    "reported_server_token",
    "state",
    "valid",
    "active",
    "reasons",
    "reported_at",
];

pub async fn device(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let queries = app.queries();
    let device = queries
        .device(&id, None)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no enrollment {id}")))?;
    let facts = queries
        .facts(&id)
        .await
        .unwrap_or_else(|| crate::domain::declarations::DeviceFacts::unknown(&id));
    let set = app.declarations.device_set(&caller, facts.clone()).await?;
    let reported = Reported {
        facts,
        status: device.declaration_status.clone(),
        reported_at: device.declaration_status_at,
    };
    // The rows from the same set the answer shows, so each status sits beside its declaration.
    let rows = crate::service::declarations::Declarations::device_rows(&set, &reported);
    let (state, _) = app
        .enrollments
        .state(&id)
        .await
        .map_err(crate::service::admin::AdminError::from)?;
    let given = state.ddm_token.clone();
    Ok(Json(json!({
        "enrollment": id,
        "declarations_token": set.declarations_token,
        "timestamp": set.timestamp_text(),
        "given_token": given,
        "in_sync": given.as_deref() == Some(set.declarations_token.as_str()) || (given.is_none() && set.is_empty()),
        "declarations": set.items.iter().zip(&rows).map(|(item, row)| json!({
            "identifier": item.identifier,
            "category": item.category.as_str(),
            "server_token": item.server_token,
            "assignments": item.assignments,
            "state": row.state,
            "valid": row.valid,
            "active": row.active,
            "reasons": row.reasons,
            "reported_server_token": row.reported_server_token,
        })).collect::<Vec<_>>(),
        "status": device.declaration_status,
        "reported_at": device.declaration_status_at,
    })))
}

#[derive(Debug, Deserialize)]
pub struct HistoryQuery {
    /// Stream version to continue after (the previous page's `next`).
    #[serde(default)]
    after: u64,
    limit: Option<usize>,
}

/// The device's status reports, oldest first, each with its full JSON.
pub async fn history(
    State(app): State<AppState>,
    _caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<HistoryQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let first = q
        .after
        .checked_add(1)
        .ok_or_else(|| ApiError::invalid_at("after is out of range", "after"))?;
    let events = app
        .store
        .read_stream(&stream_name(&id), first, HISTORY_SCAN)
        .await
        .map_err(crate::service::admin::AdminError::from)?;
    if events.is_empty() && q.after == 0 {
        return Err(ApiError::not_found(format!("no enrollment {id}")));
    }
    let mut reports = Vec::new();
    let mut last = q.after;
    for e in &events {
        last = e.stream_version;
        if e.event_type != EventType::DeclarationStatusReported.name() {
            continue;
        }
        if let Ok(Event::DeclarationStatusReported(r)) = Event::decode(&e.event_type, e.schema_version, &e.data) {
            reports.push(json!({
                "version": e.stream_version,
                "position": e.global_position,
                "recorded_at": e.recorded_at,
                "full_report": r.full_report,
                "report": r.report,
            }));
        }
        if reports.len() == limit {
            break;
        }
    }
    // More may follow if the scan stopped early (the page is full, or the scan bound was hit).
    let more = reports.len() == limit || events.len() == HISTORY_SCAN;
    Ok(Json(json!({
        "enrollment": id,
        "reports": reports,
        "next": more.then_some(last),
    })))
}

pub async fn fleet(State(app): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    let queries = app.queries();
    let fleet = app.declarations.fleet_status(&caller, &queries).await?;
    Ok(Json(json!(fleet)))
}

#[derive(Debug, Deserialize)]
pub struct RowsQuery {
    /// Only the rows not in force: pending, stale, invalid or inactive.
    #[serde(default)]
    not_in_force: bool,
    limit: Option<usize>,
}

/// The devices whose set holds one declaration, and what each reported of it.
pub async fn declaration(
    State(app): State<AppState>,
    caller: Caller,
    Path(identifier): Path<String>,
    Query(q): Query<RowsQuery>,
) -> Result<Json<Value>, ApiError> {
    app.declarations.get(&caller, &identifier).await?;
    let limit = q.limit.unwrap_or(1000).clamp(1, MAX_ROWS);
    let queries = app.queries();
    let (mut rows, mut more) = (Vec::new(), false);
    app.declarations
        .status_rows(&caller, &queries, Some(&identifier), q.not_in_force, |row| {
            if rows.len() < limit {
                rows.push(row);
            } else {
                more = true;
            }
        })
        .await?;
    Ok(Json(
        json!({"identifier": identifier, "devices": rows, "truncated": more}),
    ))
}

#[derive(Debug, Deserialize)]
pub struct ExportQuery {
    /// `csv` (default) or `ndjson`.
    format: Option<String>,
    identifier: Option<String>,
    #[serde(default)]
    not_in_force: bool,
}

pub async fn export(
    State(app): State<AppState>,
    caller: Caller,
    Query(q): Query<ExportQuery>,
) -> Result<Response, ApiError> {
    let format = q.format.as_deref().unwrap_or("csv");
    if !matches!(format, "csv" | "ndjson") {
        return Err(ApiError::invalid_at(
            format!("unknown format {format:?}: use csv or ndjson"),
            "format",
        ));
    }
    let queries = app.queries();
    let mut body = if format == "csv" {
        COLUMNS.join(",") + "\r\n"
    } else {
        String::new()
    };
    let mut failed = None;
    app.declarations
        .status_rows(
            &caller,
            &queries,
            q.identifier.as_deref(),
            q.not_in_force,
            |row: StatusRow| match serde_json::to_value(&row) {
                Ok(v) if format == "csv" => csv_row(COLUMNS, &v, &mut body),
                Ok(v) => {
                    body.push_str(&v.to_string());
                    body.push('\n');
                }
                Err(e) => failed = Some(e.to_string()),
            },
        )
        .await?;
    if let Some(e) = failed {
        return Err(ApiError::internal(e));
    }
    let content_type = if format == "csv" {
        "text/csv; charset=utf-8"
    } else {
        "application/x-ndjson"
    };
    Ok(([(header::CONTENT_TYPE, content_type)], body).into_response())
}

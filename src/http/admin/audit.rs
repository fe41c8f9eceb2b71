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
use crate::domain::access::Caller;
use crate::http::AppState;

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

/// A device's answer may hold a secret its sealing rule did not foresee (a PersonalRecoveryKey
/// deep inside it): every role but admin sees the answer with the redactor's keys masked, as
/// `include_raw` shows raws.
fn mask_answers(entries: &mut [AuditEntry], role: annal_schemas::events::apikey::Role) {
    use annal_projections::audit::RawAnswer;
    use base64::Engine as _;
    if role == annal_schemas::events::apikey::Role::Admin {
        return;
    }
    for entry in entries {
        let bytes = match &entry.answer {
            Some(RawAnswer::Xml(text)) => text.as_bytes().to_vec(),
            Some(RawAnswer::Base64(b64)) => match base64::engine::general_purpose::STANDARD.decode(b64) {
                Ok(bytes) => bytes,
                Err(_) => continue,
            },
            _ => continue,
        };
        entry.answer = match crate::stream::redact::masked_raw(&bytes) {
            Ok(masked) if masked == bytes => continue,
            Ok(masked) => Some(match String::from_utf8(masked) {
                Ok(text) => RawAnswer::Xml(text),
                Err(e) => RawAnswer::Base64(base64::engine::general_purpose::STANDARD.encode(e.as_bytes())),
            }),
            // Not a plist: nothing says where its secrets are.
            Err(_) => Some(RawAnswer::Sealed),
        };
    }
}

pub async fn audit(
    State(app): State<AppState>,
    caller: Caller,
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
        let page = app.queries().audit(&filter, q.after, limit).await?;
        let (mut entries, position) = (page.value.items, page.position);
        mask_answers(&mut entries, caller.role);
        return Ok(Json(json!({"entries": entries, "next": page.value.next, "position": position})).into_response());
    }
    let mut entries = app.queries().audit(&filter, q.after, usize::MAX).await?.value.items;
    mask_answers(&mut entries, caller.role);
    match format {
        "ndjson" => {
            let mut body = String::new();
            for e in &entries {
                body.push_str(&serde_json::to_string(e).map_err(|e| ApiError::internal(e.to_string()))?);
                body.push('\n');
            }
            Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response())
        }
        "csv" => Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], to_csv(&entries)).into_response()),
        other => Err(ApiError::invalid_at(
            format!("unknown format {other:?}: use json, csv or ndjson"),
            "format",
        )),
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
    "cancelled_by",
    "cancel_note",
    "error_reason",
    "answer",
    "result_position",
    "subject",
];

/// RFC 4180 CSV: one row per entry, every field quoted, nested values as JSON text.
pub fn to_csv(entries: &[AuditEntry]) -> String {
    csv(
        COLUMNS,
        entries.iter().map(|e| serde_json::to_value(e).unwrap_or(Value::Null)),
    )
}

/// RFC 4180 CSV of JSON objects: a header of `columns`, then one row per object with every
/// field quoted, absent and null fields empty, arrays and objects as JSON text.
pub fn csv(columns: &[&str], rows: impl IntoIterator<Item = Value>) -> String {
    let mut out = columns.join(",");
    out.push_str("\r\n");
    for v in rows {
        csv_row(columns, &v, &mut out);
    }
    out
}

/// One CSV row of `v` (see [`csv`]); a cell a spreadsheet would take for a formula starts
/// with `'`.
pub fn csv_row(columns: &[&str], v: &Value, out: &mut String) {
    let row: Vec<String> = columns
        .iter()
        .map(|c| {
            let text = match v.get(*c) {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
            };
            // Devices write some of these cells: one a spreadsheet would run as a formula is
            // shown as text (OWASP's CSV injection rule).
            let text = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
                format!("'{text}")
            } else {
                text
            };
            format!("\"{}\"", text.replace('"', "\"\""))
        })
        .collect();
    out.push_str(&row.join(","));
    out.push_str("\r\n");
}

#[cfg(test)]
mod csv_tests {
    use super::*;

    #[test]
    fn a_cell_a_spreadsheet_would_run_is_text_and_quotes_are_doubled() {
        let rows = [serde_json::json!({"a": "=HYPERLINK(\"http://x\")", "b": "-1+2", "c": "plain \"quoted\""})];
        let csv = csv(&["a", "b", "c"], rows);
        assert_eq!(
            csv,
            "a,b,c\r\n\"'=HYPERLINK(\"\"http://x\"\")\",\"'-1+2\",\"plain \"\"quoted\"\"\"\r\n"
        );
    }
}

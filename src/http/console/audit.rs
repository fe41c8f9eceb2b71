//! `GET /console/audit`: the audit trail, filtered as `GET /v1/audit` filters it (type, actor,
//! device, time range) and paged by queued position; `GET /console/audit/export` is the same
//! filter as CSV or NDJSON, answered by the audit endpoint's own code (the same columns, the
//! same masking of answers by role).

use annal_projections::audit::AuditFilter;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::csrf::Form;
use super::device::parse_time;
use super::layout::{self, Section};
use super::render::{html, query, Html, Seg};
use super::session::Signed;
use crate::http::admin::audit::{audit as audit_endpoint, AuditQuery};
use crate::http::admin::error::ApiError;
use crate::http::admin::extract::Query;
use crate::http::AppState;

/// Entries per page.
const PAGE: usize = 50;

/// The filter fields, as the form names them (the API's names).
const FIELDS: [&str; 5] = ["request_type", "actor", "device", "since", "until"];

/// The filter the parameters give, or why they do not.
fn filter(params: &Form) -> Result<(AuditQuery, Option<u64>), String> {
    let time = |name: &str| -> Result<Option<DateTime<Utc>>, String> {
        params
            .get(name)
            .map(parse_time)
            .transpose()
            .map_err(|e| format!("{name}: {e}"))
    };
    let after = params
        .get("after")
        .map(|a| {
            a.parse::<u64>()
                .map_err(|_| "after is a log position (a number)".to_string())
        })
        .transpose()?;
    Ok((
        AuditQuery {
            request_type: params.get("request_type").map(str::to_string),
            actor: params.get("actor").map(str::to_string),
            device: params.get("device").map(str::to_string),
            since: time("since")?,
            until: time("until")?,
            after,
            limit: None,
            format: None,
        },
        after,
    ))
}

fn filter_pairs(params: &Form) -> Vec<(&'static str, &str)> {
    FIELDS.iter().map(|f| (*f, params.get(f).unwrap_or(""))).collect()
}

pub async fn show(State(app): State<AppState>, Signed(session): Signed, RawQuery(raw): RawQuery) -> Response {
    let params = Form::query(raw.as_deref());
    let (q, after) = match filter(&params) {
        Ok(q) => q,
        Err(message) => return layout::error_page(StatusCode::BAD_REQUEST, "Not accepted", &message, Some(&session)),
    };
    let audit_filter = AuditFilter {
        request_type: q.request_type,
        requester: q.actor,
        device: q.device,
        queued_from: q.since,
        queued_until: q.until,
    };
    let page = match app.queries().audit(&audit_filter, after, PAGE).await {
        Ok(page) => page.value,
        Err(e) => return layout::api_refusal(ApiError::from(e), Some(&session)),
    };

    let mut main = Html::new();
    html!(
        main,
        "<p>Who queued which security-relevant command for which device, why, and what became of it; who changed \
         keys, groups, declarations and the push certificate; who signed in here.</p>\
         <form method=\"get\" action=\"/console/audit\" class=\"filters\" role=\"search\" aria-label=\"Filter the audit trail\">"
    );
    for (field, label, kind) in [
        ("request_type", "Type", "text"),
        ("actor", "Actor", "text"),
        ("device", "Device (enrollment, UDID or serial)", "text"),
        ("since", "Queued from (UTC)", "datetime-local"),
        ("until", "Queued until (UTC)", "datetime-local"),
    ] {
        html!(
            main,
            "<div><label for=\"a-{}\">{}</label><input id=\"a-{}\" name=\"{}\" type=\"{}\" value=\"{}\"",
            field,
            label,
            field,
            field,
            kind,
            params.get(field)
        );
        if kind == "datetime-local" {
            html!(main, " step=\"1\"");
        }
        html!(main, "></div>");
    }
    html!(main, "<div><button type=\"submit\">Filter</button></div></form>");
    let filters = query(filter_pairs(&params));
    let mut csv = filters.clone();
    let mut ndjson = filters;
    for (q, format) in [(&mut csv, "csv"), (&mut ndjson, "ndjson")] {
        if !q.is_empty() {
            q.push('&');
        }
        q.push_str(&query([("format", format)]));
    }
    html!(
        main,
        "<p>Export everything this filter matches: <a href=\"/console/audit/export?{}\">CSV</a> · \
         <a href=\"/console/audit/export?{}\">NDJSON</a></p>",
        csv,
        ndjson
    );

    if page.items.is_empty() {
        html!(main, "<p role=\"status\">No entry matches.</p>");
    } else {
        html!(
            main,
            "<table><thead><tr><th scope=\"col\">Queued</th><th scope=\"col\">Type</th><th scope=\"col\">Class</th>\
             <th scope=\"col\">Actor</th><th scope=\"col\">Reason</th><th scope=\"col\">Device</th>\
             <th scope=\"col\">Status</th><th scope=\"col\">Delivered</th><th scope=\"col\">Result</th>\
             <th scope=\"col\">Subject</th></tr></thead><tbody>"
        );
        for entry in &page.items {
            let e = serde_json::to_value(entry).unwrap_or(Value::Null);
            html!(
                main,
                "<tr><td>{}</td><td>{} <span class=\"mono hint\">{}</span></td><td>{}</td><td>{}</td><td>{}</td><td>",
                entry.queued_at,
                entry.request_type,
                entry.command_uuid,
                entry.class,
                entry.requester,
                entry.reason
            );
            if entry.class == "administration" {
                html!(main, "<span class=\"mono\">{}</span>", entry.enrollment);
            } else {
                html!(
                    main,
                    "<a class=\"mono\" href=\"/console/devices/{}\">{}</a>",
                    Seg(&entry.enrollment),
                    entry.enrollment
                );
                if let Some(serial) = &entry.serial_number {
                    html!(main, " <span class=\"hint\">serial {}</span>", serial);
                }
            }
            html!(
                main,
                "</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                e["status"],
                entry.delivered_at,
                entry.result_at,
                entry.subject
            );
        }
        html!(main, "</tbody></table>");
    }
    if let Some(next) = page.next {
        let next = next.to_string();
        let mut pairs = filter_pairs(&params);
        pairs.push(("after", next.as_str()));
        html!(
            main,
            "<nav class=\"pager\" aria-label=\"Pages\"><a href=\"/console/audit?{}\" rel=\"next\">Later entries</a></nav>",
            query(pairs)
        );
    }
    layout::respond(
        StatusCode::OK,
        layout::page("Audit trail", Section::Audit, Some(&session), main),
    )
}

/// `GET /console/audit/export?format=csv|ndjson&…`: the audit endpoint's export, as a download.
pub async fn export(State(app): State<AppState>, Signed(session): Signed, RawQuery(raw): RawQuery) -> Response {
    let params = Form::query(raw.as_deref());
    let (mut q, _) = match filter(&params) {
        Ok(q) => q,
        Err(message) => return layout::error_page(StatusCode::BAD_REQUEST, "Not accepted", &message, Some(&session)),
    };
    let format = match params.get("format") {
        Some(f @ ("csv" | "ndjson")) => f,
        _ => {
            return layout::error_page(
                StatusCode::BAD_REQUEST,
                "Not accepted",
                "format is csv or ndjson",
                Some(&session),
            )
        }
    };
    q.format = Some(format.to_string());
    match audit_endpoint(State(app), session.caller.clone(), Query(q)).await {
        Ok(mut response) => {
            let disposition = format!("attachment; filename=\"annal-audit.{format}\"");
            if let Ok(v) = HeaderValue::from_str(&disposition) {
                response.headers_mut().insert(header::CONTENT_DISPOSITION, v);
            }
            response
        }
        Err(e) => layout::api_refusal(e, Some(&session)),
    }
}

//! `GET /console/commands/{command_uuid}`: one command across every device it was queued for,
//! from the same read model and query as `GET /v1/commands/{command_uuid}`
//! (`Queries::fan_out`, and the group it was sent to, when it was): the counts per state, then
//! each device's state (queued, delivered, NotNow, Acknowledged, Error, …) with its times.

use annal_projections::commands::CommandStatus;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::csrf::Form;
use super::layout::{self, Section};
use super::render::{html, Html, Seg};
use super::session::Signed;
use crate::http::admin::error::ApiError;
use crate::http::AppState;

/// Rows a page shows; the API has every one.
const ROWS: usize = 1000;

pub async fn show(
    State(app): State<AppState>,
    Signed(session): Signed,
    Path(command_uuid): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let params = Form::query(raw.as_deref());
    let queries = app.queries();
    let answer = match queries.fan_out(&command_uuid).await {
        Ok(answer) => answer,
        Err(e) => return layout::api_refusal(ApiError::from(e), Some(&session)),
    };
    let (fan_out, position) = (answer.value, answer.position);
    let Some(first) = fan_out.commands.first() else {
        return layout::error_page(
            StatusCode::NOT_FOUND,
            "Not found",
            &format!("no command {command_uuid}"),
            Some(&session),
        );
    };
    let targeting = match app.groups.recorded(&command_uuid).await {
        Ok(targeting) => targeting,
        Err(e) => return layout::refusal(e, Some(&session)),
    };

    let mut main = Html::new();
    if params.get("sent").is_some() {
        html!(
            main,
            "<p class=\"notice\" role=\"status\">Queued. Each device's state changes here as it fetches and answers \
             the command; reload to see it.</p>"
        );
    }
    html!(
        main,
        "<dl class=\"facts\"><dt>Command</dt><dd>{} <span class=\"mono hint\">{}</span></dd>\
         <dt>Queued by</dt><dd>{}</dd><dt>Reason</dt><dd>{}</dd><dt>Queued</dt><dd>{}</dd>\
         <dt>Devices</dt><dd>{}</dd><dt>Read at log position</dt><dd>{}</dd>",
        first.request_type,
        command_uuid,
        first.requester,
        first.reason.as_deref().unwrap_or("(none)"),
        first.queued_at,
        fan_out.commands.len(),
        position
    );
    for t in &targeting {
        match &t.group {
            Some(group) => html!(main, "<dt>Sent to the group</dt><dd>{}</dd>", group),
            None => html!(main, "<dt>Sent to</dt><dd>a filter, resolved when queued</dd>"),
        }
    }
    html!(main, "</dl><h2 id=\"summary\">By state</h2><ul class=\"cards\">");
    for (state, n) in &fan_out.counts {
        html!(
            main,
            "<li><span class=\"value\">{}</span> <span class=\"label\">{}</span></li>",
            n,
            state.as_str()
        );
    }
    html!(main, "</ul>");

    html!(
        main,
        "<h2 id=\"devices\">Device by device</h2><table><thead><tr>\
         <th scope=\"col\">Device</th><th scope=\"col\">Enrollment</th><th scope=\"col\">State</th>\
         <th scope=\"col\">Pushed</th><th scope=\"col\">Delivered</th><th scope=\"col\" class=\"num\">Deliveries</th>\
         <th scope=\"col\" class=\"num\">NotNow</th><th scope=\"col\">Ended</th><th scope=\"col\">Detail</th>\
         </tr></thead><tbody>"
    );
    for c in fan_out.commands.iter().take(ROWS) {
        // The name as the inventory has it now (the fan-out keeps enrollments only).
        let name = match queries.device(&c.enrollment, None).await {
            Ok(Some(d)) => d.device_name,
            _ => None,
        };
        html!(
            main,
            "<tr><td>{}</td><td class=\"mono\"><a href=\"/console/devices/{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td></tr>",
            name.as_deref().unwrap_or("(unnamed)"),
            Seg(&c.enrollment),
            c.enrollment,
            c.status.as_str(),
            c.pushed_at,
            c.delivered_at,
            c.deliveries,
            c.not_now_count,
            c.completed_at,
            detail(c)
        );
    }
    html!(main, "</tbody></table>");
    if fan_out.commands.len() > ROWS {
        html!(
            main,
            "<p class=\"hint\">The first {} of {} devices; <span class=\"mono\">GET /v1/commands/{}</span> has every one.</p>",
            ROWS,
            fan_out.commands.len(),
            command_uuid
        );
    }
    let title = format!("{} to {} devices", first.request_type, fan_out.commands.len());
    layout::respond(
        StatusCode::OK,
        layout::page(&title, Section::Audit, Some(&session), main),
    )
}

/// What else a device's state says: the device's error, who cancelled it and why, why Annal
/// ended it.
fn detail(c: &CommandStatus) -> String {
    let mut parts: Vec<String> = c
        .error_chain
        .iter()
        .map(|e| {
            let text = e
                .us_english_description
                .as_deref()
                .or(e.localized_description.as_deref())
                .unwrap_or("");
            format!("{} {}: {text}", e.error_domain, e.error_code)
        })
        .collect();
    if let Some(by) = &c.cancelled_by {
        parts.push(format!("cancelled by {by}"));
    }
    if let Some(note) = &c.cancel_note {
        parts.push(note.clone());
    }
    if let Some(detail) = &c.error_detail {
        parts.push(detail.clone());
    }
    parts.join("; ")
}

//! `GET /console/devices/{id}`: one enrollment: its inventory, the latest answers to its
//! queries, its pending queue (with cancel buttons for a role that may cancel), a form to send
//! one of a few common commands (those the role may send), and its history: every event with
//! actor, time and position, the raw plist shown as `GET /v1/devices/{id}/history` shows it to
//! the same role (`RawView`). With `as_of_time` or `as_of_position`, the inventory and the
//! history are the log's as of then (the API's "as of" reads). The present view carries a live
//! hook: `live.js` follows `live::device` and adds new events to the history and keeps the
//! queue current, with the cells this page renders. The present view also shows the device's
//! push record (`push_health::facts`: last push, its outcome, a dead token, failures).

use annal_projections::AsOf;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::Value;

use super::commands::COMMANDS;
use super::csrf::Form;
use super::history::Row;
use super::layout::{self, Section};
use super::render::{html, query, Html, Seg};
use super::session::{Session, Signed};
use crate::http::admin::error::ApiError;
use crate::http::admin::render::RawView;
use crate::http::AppState;
use crate::service::admin::{authorize, Action};

/// Events per page of the history.
const HISTORY_PAGE: usize = 100;

/// A time as a form gives it: RFC 3339, or a `datetime-local` value (no zone), read as UTC.
pub fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Ok(t.and_utc());
        }
    }
    Err(format!(
        "{text:?} is not a time: use 2026-01-31T12:00:00Z (or a local time, read as UTC)"
    ))
}

/// The "as of" point the parameters name, as the API reads `as_of_position` and `as_of_time`.
pub fn as_of(params: &Form) -> Result<Option<AsOf>, String> {
    let position = params
        .get("as_of_position")
        .map(|p| {
            p.parse::<u64>()
                .map_err(|_| "as_of_position is a log position (a number)".to_string())
        })
        .transpose()?;
    let time = params.get("as_of_time").map(parse_time).transpose()?;
    match (position, time) {
        (Some(_), Some(_)) => Err("give as_of_position or as_of_time, not both".into()),
        (Some(p), None) => Ok(Some(AsOf::Position(p))),
        (None, Some(t)) => Ok(Some(AsOf::Time(t))),
        (None, None) => Ok(None),
    }
}

pub async fn show(
    State(app): State<AppState>,
    Signed(session): Signed,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let params = Form::query(raw.as_deref());
    let as_of = match as_of(&params) {
        Ok(as_of) => as_of,
        Err(message) => return layout::error_page(StatusCode::BAD_REQUEST, "Not accepted", &message, Some(&session)),
    };
    let after = match params.get("after").map(str::parse::<u64>) {
        None => 0,
        Some(Ok(after)) if after < u64::MAX => after,
        Some(_) => {
            return layout::error_page(
                StatusCode::BAD_REQUEST,
                "Not accepted",
                "after is a stream version (a number)",
                Some(&session),
            )
        }
    };
    // The live stream starts after what this page reads (`live.js` drops an event the page
    // already shows, should one be appended between this and the reads below).
    let live_from = app.store.watch_head().borrow().saturating_add(1);
    let queries = app.queries();
    let device = match queries.device(&id, as_of).await {
        Ok(Some(device)) => device,
        Ok(None) => {
            let message = match as_of {
                Some(_) => format!("no enrollment {id} at that point of the log"),
                None => format!("no enrollment {id}"),
            };
            return layout::error_page(StatusCode::NOT_FOUND, "Not found", &message, Some(&session));
        }
        Err(e) => return layout::api_refusal(ApiError::from(e), Some(&session)),
    };
    let history = match queries.history(&id, after, HISTORY_PAGE, as_of).await {
        Ok(history) => history,
        Err(e) => return layout::api_refusal(ApiError::from(e), Some(&session)),
    };
    // The queue is the current one: an "as of" view shows none.
    let queue = match as_of {
        None => queries.queue(&id).await.map(|q| q.value),
        Some(_) => None,
    };

    let mut main = Html::new();
    if let Some(uuid) = params.get("sent") {
        html!(
            main,
            "<p class=\"notice\" role=\"status\">Command <span class=\"mono\">{}</span> queued.</p>",
            uuid
        );
    }
    if let Some(uuid) = params.get("cancelled") {
        html!(
            main,
            "<p class=\"notice\" role=\"status\">Command <span class=\"mono\">{}</span> cancelled.</p>",
            uuid
        );
    }
    match as_of {
        Some(point) => html!(
            main,
            "<p class=\"warning\" role=\"status\">As the log knew this device at {}. \
             <a href=\"/console/devices/{}\">Show it now</a></p>",
            point_label(point),
            Seg(&id)
        ),
        // Filled in by live.js, which also unhides it; without script the page is as it was.
        None => html!(
            main,
            "<p id=\"live\" class=\"live\" role=\"status\" data-live-src=\"/console/devices/{}/live?from={}\" hidden></p>",
            Seg(&id),
            live_from
        ),
    }
    html!(
        main,
        "<form method=\"get\" action=\"/console/devices/{}\" class=\"filters\" aria-labelledby=\"as-of-title\">\
         <h2 id=\"as-of-title\">As of</h2>",
        Seg(&id)
    );
    as_of_fields(&mut main, &params);
    html!(main, "</form>");

    // Inventory: every plain field the API's device document has.
    html!(main, "<h2 id=\"inventory\">Inventory</h2><dl class=\"facts\">");
    let doc = serde_json::to_value(&device).unwrap_or(Value::Null);
    if let Value::Object(fields) = &doc {
        for (name, value) in fields {
            if matches!(value, Value::Object(_)) || value.is_null() {
                continue;
            }
            html!(main, "<dt>{}</dt><dd>{}</dd>", name, value);
        }
        if let Some(Value::Object(cert)) = fields.get("identity_certificate") {
            for (name, value) in cert {
                html!(main, "<dt>identity_certificate.{}</dt><dd>{}</dd>", name, value);
            }
        }
    }
    html!(main, "</dl>");

    html!(main, "<h2 id=\"answers\">Latest query answers</h2>");
    if device.query_responses.is_empty() {
        html!(main, "<p>No DeviceInformation answer yet.</p>");
    } else {
        html!(
            main,
            "<table><caption class=\"hint\">DeviceInformation, answered {}</caption><thead><tr>\
             <th scope=\"col\">Query</th><th scope=\"col\">Answer</th></tr></thead><tbody>",
            device.query_responses_at
        );
        for (key, value) in &device.query_responses {
            html!(main, "<tr><th scope=\"row\">{}</th><td>{}</td></tr>", key, value);
        }
        html!(main, "</tbody></table>");
    }
    if let Some(security) = &device.security_info {
        html!(
            main,
            "<table><caption class=\"hint\">SecurityInfo, answered {}</caption><thead><tr>\
             <th scope=\"col\">Key</th><th scope=\"col\">Value</th></tr></thead><tbody>",
            device.security_info_at
        );
        for (key, value) in security {
            html!(main, "<tr><th scope=\"row\">{}</th><td>{}</td></tr>", key, value);
        }
        html!(main, "</tbody></table>");
    }

    // The push record is the present one (the API's `GET /v1/devices/{id}/push`): an "as of"
    // view shows none.
    if as_of.is_none() {
        let record = queries.push_record(&id).await;
        super::push_health::facts(&mut main, record.as_ref());
    }

    if let Some(queue) = &queue {
        queue_section(&mut main, &session, &id, queue);
    }
    if as_of.is_none() {
        send_form(&mut main, &session, &id);
    }

    html!(main, "<h2 id=\"history\">History</h2>");
    match &history {
        None => html!(main, "<p>No events.</p>"),
        Some(page) if page.events.is_empty() => html!(main, "<p>No events here.</p>"),
        Some(page) => {
            let view = RawView::of(true, session.caller.role);
            // Live rows are added only to the last page of the present (not to a past view,
            // nor above later pages).
            let live_rows = if as_of.is_none() && page.next.is_none() {
                "yes"
            } else {
                "no"
            };
            html!(
                main,
                "<table id=\"history-table\" data-live-append=\"{}\"><caption class=\"hint\">Oldest first; the raw plist as your role may see it</caption><thead><tr>\
                 <th scope=\"col\" class=\"num\">Position</th><th scope=\"col\">Recorded</th>\
                 <th scope=\"col\">Event</th><th scope=\"col\">Actor</th><th scope=\"col\">Details</th></tr></thead><tbody>",
                live_rows
            );
            for e in &page.events {
                Row::of(e, view).render(&mut main);
            }
            html!(main, "</tbody></table>");
            if let Some(next) = page.next {
                let next = next.to_string();
                let q = query([
                    ("as_of_time", params.get("as_of_time").unwrap_or("")),
                    ("as_of_position", params.get("as_of_position").unwrap_or("")),
                    ("after", next.as_str()),
                ]);
                html!(
                    main,
                    "<nav class=\"pager\" aria-label=\"History pages\"><a href=\"/console/devices/{}?{}#history\" rel=\"next\">Later events</a></nav>",
                    Seg(&id),
                    q
                );
            }
        }
    }

    let title = format!("Device {}", device.device_name.as_deref().unwrap_or(&id));
    layout::respond(
        StatusCode::OK,
        layout::page(&title, Section::Devices, Some(&session), main),
    )
}

/// How a page names an "as of" point.
pub fn point_label(point: AsOf) -> String {
    match point {
        AsOf::Position(p) => format!("log position {p}"),
        AsOf::Time(t) => t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    }
}

/// The fields of an "as of" form (a time or a log position) and its button; the device page
/// and the fleet list put them in their own forms.
pub fn as_of_fields(main: &mut Html, params: &Form) {
    html!(
        main,
        "<div><label for=\"as-of-time\">Time (UTC)</label>\
         <input id=\"as-of-time\" name=\"as_of_time\" type=\"datetime-local\" step=\"1\" value=\"{}\"></div>\
         <div><label for=\"as-of-position\">or log position</label>\
         <input id=\"as-of-position\" name=\"as_of_position\" type=\"number\" min=\"0\" value=\"{}\"></div>\
         <div><button type=\"submit\">Show as of then</button></div>",
        params.get("as_of_time"),
        params.get("as_of_position")
    );
}

/// The pending queue. The table is always there (hidden while empty) so that `live.js` can fill
/// it as commands arrive and leave; its rows are the same cells the script builds.
fn queue_section(main: &mut Html, session: &Session, id: &str, queue: &[annal_projections::commands::CommandStatus]) {
    let may_cancel = authorize(&session.caller, Action::Cancel).is_ok();
    html!(main, "<h2 id=\"queue\">Pending commands</h2>");
    if queue.is_empty() {
        html!(
            main,
            "<p id=\"queue-empty\">Nothing is waiting.</p><table id=\"queue-table\" hidden"
        );
    } else {
        html!(
            main,
            "<p id=\"queue-empty\" hidden>Nothing is waiting.</p><table id=\"queue-table\""
        );
    }
    html!(
        main,
        " data-may-cancel=\"{}\" data-cancel-action=\"/console/devices/{}/commands/\"><thead><tr>\
         <th scope=\"col\">Command</th><th scope=\"col\">Queued</th><th scope=\"col\">By</th>\
         <th scope=\"col\">Reason</th><th scope=\"col\">Status</th><th scope=\"col\" class=\"num\">Deliveries</th>",
        if may_cancel { "yes" } else { "no" },
        Seg(id)
    );
    if may_cancel {
        html!(main, "<th scope=\"col\">Cancel</th>");
    }
    html!(main, "</tr></thead><tbody>");
    for c in queue {
        html!(
            main,
            "<tr data-command=\"{}\"><td>{} <span class=\"mono hint\">{}</span></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td class=\"num\">{}</td>",
            c.command_uuid,
            c.request_type,
            c.command_uuid,
            c.queued_at,
            c.requester,
            c.reason,
            c.status.as_str(),
            c.deliveries
        );
        if may_cancel {
            html!(
                main,
                "<td><form method=\"post\" action=\"/console/devices/{}/commands/{}/cancel\" class=\"inline\">\
                 <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
                 <label for=\"cancel-reason-{}\">Why</label> \
                 <input id=\"cancel-reason-{}\" name=\"reason\" type=\"text\" maxlength=\"1000\"> \
                 <button type=\"submit\" class=\"secondary\">Cancel {}</button></form></td>",
                Seg(id),
                Seg(&c.command_uuid),
                session.csrf,
                Seg(&c.command_uuid),
                Seg(&c.command_uuid),
                c.request_type
            );
        }
        html!(main, "</tr>");
    }
    html!(main, "</tbody></table>");
}

/// The send form: only the commands the role may send; none for a read-only role.
fn send_form(main: &mut Html, session: &Session, id: &str) {
    let allowed: Vec<_> = COMMANDS
        .iter()
        .filter(|c| {
            authorize(
                &session.caller,
                Action::Enqueue {
                    request_type: c.request_type,
                },
            )
            .is_ok()
        })
        .collect();
    if allowed.is_empty() {
        return;
    }
    let guarded: Vec<&str> = allowed
        .iter()
        .filter(|c| crate::domain::rails::guarded(c.request_type))
        .map(|c| c.request_type)
        .collect();
    html!(
        main,
        "<h2 id=\"send\">Send a command</h2>\
         <form method=\"post\" action=\"/console/devices/{}/commands\" class=\"stack\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <label for=\"send-type\">Command</label><select id=\"send-type\" name=\"request_type\">",
        Seg(id),
        session.csrf
    );
    for c in &allowed {
        html!(main, "<option value=\"{}\">{}</option>", c.request_type, c.label);
    }
    html!(
        main,
        "</select>\
         <label for=\"send-message\">Lock screen message <span class=\"hint\">(DeviceLock only)</span></label>\
         <input id=\"send-message\" name=\"message\" type=\"text\" maxlength=\"500\">\
         <label for=\"send-reason\">Reason <span class=\"hint\">(recorded in the audit trail"
    );
    if !guarded.is_empty() {
        html!(main, "; required for {}", guarded.join(", "));
    }
    html!(
        main,
        ")</span></label>\
         <textarea id=\"send-reason\" name=\"reason\" rows=\"2\" maxlength=\"1000\"></textarea>\
         <button type=\"submit\">Review before sending</button></form>"
    );
}

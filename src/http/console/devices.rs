//! `GET /console/devices`: the inventory, searched and paged on the server with the admin API's
//! filter (`DeviceFilter`: UDID, serial number, model, OS version prefix, state, quiet for N
//! days) and its cursor (`after`, the last enrollment key of the page before). A name search
//! reads the filtered inventory in key order a bounded number of devices at a time and says
//! where it stopped, so no request walks the whole fleet. With `as_of_time` or
//! `as_of_position`, the list is the fleet as the log knew it then (`fleet_as_of`), clearly
//! labelled, each device linking to its own page as of the same point.

use std::collections::BTreeSet;

use annal_projections::devices::{Device, DeviceFilter, DeviceState};
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::Utc;

use super::csrf::Form;
use super::device::{as_of_fields, point_label};
use super::fleet_as_of::{self, Wanted};
use super::layout::{self, Section};
use super::render::{html, query, Html, Seg};
use super::session::Signed;
use crate::http::AppState;

/// Devices per page.
pub const PAGE: usize = 50;
/// Devices a name search reads per request at most.
const NAME_SCAN: usize = 5000;
/// Devices read per round of a name search.
const NAME_ROUND: usize = 500;

/// The search fields, as the form names them.
const FIELDS: [&str; 7] = ["udid", "serial", "name", "model", "os", "state", "quiet"];
/// The "as of" fields, carried by the pager and the device links.
const AS_OF: [&str; 2] = ["as_of_time", "as_of_position"];

pub async fn list(State(app): State<AppState>, Signed(session): Signed, RawQuery(raw): RawQuery) -> Response {
    let params = Form::query(raw.as_deref());
    let as_of = match super::device::as_of(&params) {
        Ok(as_of) => as_of,
        Err(message) => return layout::error_page(StatusCode::BAD_REQUEST, "Not accepted", &message, Some(&session)),
    };
    let state = match params.get("state") {
        None => None,
        Some(s) => match serde_json::from_value::<DeviceState>(serde_json::Value::String(s.to_string())) {
            Ok(state) => Some(state),
            Err(_) => {
                return layout::error_page(
                    StatusCode::BAD_REQUEST,
                    "Not accepted",
                    &format!("unknown state {s:?}: use authenticated, enrolled or checked_out"),
                    Some(&session),
                )
            }
        },
    };
    let quiet = match params.get("quiet").map(str::parse::<i64>) {
        None => None,
        Some(Ok(days)) if (0..=36500).contains(&days) => Some(days),
        Some(_) => {
            return layout::error_page(
                StatusCode::BAD_REQUEST,
                "Not accepted",
                "quiet is a number of days",
                Some(&session),
            )
        }
    };
    let filter = DeviceFilter {
        state: state.or(quiet.map(|_| DeviceState::Enrolled)),
        model: params.get("model").map(str::to_string),
        os_version_prefix: params.get("os").map(str::to_string),
        serial_number: params.get("serial").map(str::to_string),
        last_seen_before: quiet.map(|days| Utc::now() - chrono::Duration::days(days)),
        keys: params.get("udid").map(|u| BTreeSet::from([u.to_string()])),
        ..DeviceFilter::default()
    };
    let name = params.get("name").map(str::to_lowercase);
    let after = params.get("after").map(str::to_string);
    let queries = app.queries();

    let (devices, next, scanned) = match (as_of, &name) {
        (Some(point), _) => {
            let wanted = Wanted {
                state: filter.state,
                model: filter.model.as_ref().map(|m| m.to_lowercase()),
                os_prefix: filter.os_version_prefix.clone(),
                serial: filter.serial_number.clone(),
                name: name.clone(),
                quiet_days: quiet,
                udid: params.get("udid").map(str::to_string),
            };
            match fleet_as_of::page(&app, &wanted, point, after.as_deref(), PAGE).await {
                Ok(then) => (then.devices, then.next, Some(then.read)),
                Err(e) => return layout::api_refusal(e.into(), Some(&session)),
            }
        }
        (None, None) => {
            let page = queries.devices(&filter, after.as_deref(), PAGE).await.value;
            (page.items, page.next, None)
        }
        (None, Some(needle)) => {
            let mut found: Vec<Device> = Vec::new();
            let mut cursor = after.clone();
            let mut scanned = 0usize;
            let mut next = None;
            'rounds: loop {
                let page = queries.devices(&filter, cursor.as_deref(), NAME_ROUND).await.value;
                let exhausted = page.next.is_none();
                for d in page.items {
                    scanned += 1;
                    cursor = Some(d.enrollment.clone());
                    let hit = d
                        .device_name
                        .as_deref()
                        .is_some_and(|n| n.to_lowercase().contains(needle.as_str()));
                    if hit {
                        found.push(d);
                    }
                    if found.len() == PAGE || scanned >= NAME_SCAN {
                        next = cursor.clone();
                        break 'rounds;
                    }
                }
                if exhausted {
                    break;
                }
            }
            (found, next, Some(scanned))
        }
    };

    let mut main = Html::new();
    html!(
        main,
        "<form method=\"get\" action=\"/console/devices\" class=\"filters\" role=\"search\" \
         aria-label=\"Search devices\">"
    );
    for (field, label, hint) in [
        ("udid", "UDID or enrollment", "exact"),
        ("serial", "Serial number", "exact"),
        ("name", "Name", "contains"),
        ("model", "Model", "contains"),
        ("os", "OS version", "starts with"),
    ] {
        html!(
            main,
            "<div><label for=\"f-{}\">{} <span class=\"hint\">({})</span></label>\
             <input id=\"f-{}\" name=\"{}\" type=\"search\" value=\"{}\"></div>",
            field,
            label,
            hint,
            field,
            field,
            params.get(field)
        );
    }
    html!(
        main,
        "<div><label for=\"f-state\">State</label><select id=\"f-state\" name=\"state\">"
    );
    let chosen = params.get("state").unwrap_or("");
    for (value, label) in [
        ("", "any"),
        ("enrolled", "enrolled"),
        ("authenticated", "authenticated"),
        ("checked_out", "checked out"),
    ] {
        if value == chosen {
            html!(main, "<option value=\"{}\" selected>{}</option>", value, label);
        } else {
            html!(main, "<option value=\"{}\">{}</option>", value, label);
        }
    }
    html!(
        main,
        "</select></div><div><label for=\"f-quiet\">Quiet for (days)</label>\
         <input id=\"f-quiet\" name=\"quiet\" type=\"number\" min=\"0\" value=\"{}\"></div>\
         <div><button type=\"submit\">Search</button></div>",
        params.get("quiet")
    );
    // A search from an "as of" view stays in it.
    for field in AS_OF {
        if let Some(value) = params.get(field) {
            html!(main, "<input type=\"hidden\" name=\"{}\" value=\"{}\">", field, value);
        }
    }
    html!(main, "</form>");

    // The "as of" form carries the search along.
    html!(
        main,
        "<form method=\"get\" action=\"/console/devices\" class=\"filters\" aria-labelledby=\"as-of-title\">\
         <h2 id=\"as-of-title\">As of</h2>"
    );
    for field in FIELDS {
        if let Some(value) = params.get(field) {
            html!(main, "<input type=\"hidden\" name=\"{}\" value=\"{}\">", field, value);
        }
    }
    as_of_fields(&mut main, &params);
    html!(main, "</form>");

    let search = query(FIELDS.iter().map(|f| (*f, params.get(f).unwrap_or(""))));
    let as_of_query = query(AS_OF.iter().map(|f| (*f, params.get(f).unwrap_or(""))));
    if let Some(point) = as_of {
        html!(
            main,
            "<p class=\"warning\" role=\"status\"><strong>As the log knew the fleet at {}</strong>: each device \
             as its own events had made it by then; devices enrolled later are not shown. \
             <a href=\"/console/devices?{}\">Show the fleet now</a></p>",
            point_label(point),
            search
        );
    }
    match (scanned, as_of) {
        (Some(read), Some(_)) => html!(
            main,
            "<p class=\"hint\" role=\"status\">Read {} enrollments as of then from here on.</p>",
            read
        ),
        (Some(scanned), None) => html!(
            main,
            "<p class=\"hint\" role=\"status\">The name search read {} devices from here on.</p>",
            scanned
        ),
        (None, _) => {}
    }
    if devices.is_empty() {
        html!(main, "<p role=\"status\">No device matches.</p>");
    } else {
        let count = match devices.len() {
            1 => "1 device".to_string(),
            n => format!("{n} devices"),
        };
        let caption = match as_of {
            Some(point) => format!("{count} on this page, as of {}", point_label(point)),
            None => format!("{count} on this page"),
        };
        html!(
            main,
            "<table id=\"devices-table\"><caption class=\"hint\">{}</caption><thead><tr>\
             <th scope=\"col\">Name</th><th scope=\"col\">Enrollment</th><th scope=\"col\">Serial number</th>\
             <th scope=\"col\">Model</th><th scope=\"col\">OS</th><th scope=\"col\">State</th>\
             <th scope=\"col\">Last seen</th><th scope=\"col\" class=\"num\">Pending</th></tr></thead><tbody>",
            caption
        );
        // In an "as of" view each device opens as of the same point.
        let link_query = if as_of_query.is_empty() {
            String::new()
        } else {
            format!("?{as_of_query}")
        };
        for d in &devices {
            let model = d.product_name.as_ref().or(d.model_name.as_ref()).or(d.model.as_ref());
            html!(
                main,
                "<tr data-enrollment=\"{}\"><td>{}</td><td class=\"mono\"><a href=\"/console/devices/{}{}\">{}</a></td><td class=\"mono\">{}</td>\
                 <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td></tr>",
                d.enrollment,
                d.device_name.as_deref().unwrap_or("(unnamed)"),
                Seg(&d.enrollment),
                link_query,
                d.enrollment,
                d.serial_number,
                model,
                d.os_version,
                d.state.as_str(),
                d.last_seen_at,
                d.pending_commands
            );
        }
        html!(main, "</tbody></table>");
        // Several devices at once: the send form's own selection (console/selection.rs); not
        // from a past view, whose devices are as they were, not as a command would find them.
        if as_of.is_none() {
            super::selection::form(&mut main, &session, &devices);
        }
    }
    if let Some(next) = next {
        let mut pairs: Vec<(&str, &str)> = FIELDS
            .iter()
            .chain(AS_OF.iter())
            .map(|f| (*f, params.get(f).unwrap_or("")))
            .collect();
        pairs.push(("after", next.as_str()));
        html!(
            main,
            "<nav class=\"pager\" aria-label=\"Pages\"><a href=\"/console/devices?{}\" rel=\"next\">Next page</a></nav>",
            query(pairs)
        );
    }
    layout::respond(
        StatusCode::OK,
        layout::page("Devices", Section::Devices, Some(&session), main),
    )
}

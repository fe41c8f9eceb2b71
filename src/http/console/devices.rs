//! `GET /console/devices`: the inventory, searched and paged on the server with the admin API's
//! filter (`DeviceFilter`: UDID, serial number, model, OS version prefix, state, quiet for N
//! days) and its cursor (`after`, the last enrollment key of the page before). A name search
//! reads the filtered inventory in key order a bounded number of devices at a time and says
//! where it stopped, so no request walks the whole fleet.

use std::collections::BTreeSet;

use annal_projections::devices::{Device, DeviceFilter, DeviceState};
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::Utc;

use super::csrf::Form;
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

pub async fn list(State(app): State<AppState>, Signed(session): Signed, RawQuery(raw): RawQuery) -> Response {
    let params = Form::query(raw.as_deref());
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

    let (devices, next, scanned) = match &name {
        None => {
            let page = queries.devices(&filter, after.as_deref(), PAGE).await.value;
            (page.items, page.next, None)
        }
        Some(needle) => {
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
         <div><button type=\"submit\">Search</button></div></form>",
        params.get("quiet")
    );

    if let Some(scanned) = scanned {
        html!(
            main,
            "<p class=\"hint\" role=\"status\">The name search read {} devices from here on.</p>",
            scanned
        );
    }
    if devices.is_empty() {
        html!(main, "<p role=\"status\">No device matches.</p>");
    } else {
        html!(
            main,
            "<table><caption class=\"hint\">{} devices on this page</caption><thead><tr>\
             <th scope=\"col\">Name</th><th scope=\"col\">Enrollment</th><th scope=\"col\">Serial number</th>\
             <th scope=\"col\">Model</th><th scope=\"col\">OS</th><th scope=\"col\">State</th>\
             <th scope=\"col\">Last seen</th><th scope=\"col\" class=\"num\">Pending</th></tr></thead><tbody>",
            devices.len()
        );
        for d in &devices {
            let model = d.product_name.as_ref().or(d.model_name.as_ref()).or(d.model.as_ref());
            html!(
                main,
                "<tr><td>{}</td><td class=\"mono\"><a href=\"/console/devices/{}\">{}</a></td><td class=\"mono\">{}</td>\
                 <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td></tr>",
                d.device_name.as_deref().unwrap_or("(unnamed)"),
                Seg(&d.enrollment),
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
    }
    if let Some(next) = next {
        let mut pairs: Vec<(&str, &str)> = FIELDS.iter().map(|f| (*f, params.get(f).unwrap_or(""))).collect();
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

//! The confirmation step of a send: what will be sent, why, under whose name, and to which
//! devices, each named as the inventory knows it (name, enrollment, serial number, model, OS,
//! last contact); then the same form again with `confirm=yes`. A destructive command to more
//! than ten devices asks the person to type how many devices they mean, the count the rails
//! require (`domain::rails`). Nothing is queued here.

use annal_projections::devices::Device;
use axum::http::StatusCode;
use axum::response::Response;

use super::draft::{field_name, secret_key, Draft};
use super::layout::{self, Section};
use super::render::{html, Html, Seg};
use super::session::Session;
use crate::domain::rails;

/// A device the command goes to, as the inventory knows it now.
pub struct Named {
    pub id: String,
    pub device: Device,
}

/// The page; `action` is where the confirmed form goes.
pub fn page(session: &Session, draft: &Draft, devices: &[Named], action: &str) -> Response {
    let request_type = draft.request_type();
    let guarded = rails::guarded(request_type);
    let mut main = Html::new();
    match devices {
        [one] => html!(
            main,
            "<p class=\"warning\" role=\"alert\">You are about to send <strong>{}</strong> to the device <strong>{}</strong> \
             (enrollment <span class=\"mono\">{}</span>, serial number <span class=\"mono\">{}</span>, {}).</p>",
            request_type,
            name(&one.device),
            one.id,
            one.device.serial_number.as_deref().unwrap_or("unknown"),
            model(&one.device)
        ),
        many => html!(
            main,
            "<p class=\"warning\" role=\"alert\">You are about to send <strong>{}</strong> to <strong>{} devices</strong>, \
             each listed below.</p>",
            request_type,
            many.len()
        ),
    }
    html!(
        main,
        "<table><caption class=\"hint\">The devices it goes to</caption><thead><tr>\
         <th scope=\"col\">Name</th><th scope=\"col\">Enrollment</th><th scope=\"col\">Serial number</th>\
         <th scope=\"col\">Model</th><th scope=\"col\">OS</th><th scope=\"col\">Last seen</th></tr></thead><tbody>"
    );
    for d in devices {
        html!(
            main,
            "<tr><td>{}</td><td class=\"mono\"><a href=\"/console/devices/{}\">{}</a></td><td class=\"mono\">{}</td>\
             <td>{}</td><td>{}</td><td>{}</td></tr>",
            name(&d.device),
            Seg(&d.id),
            d.id,
            d.device.serial_number,
            model(&d.device),
            d.device.os_version,
            d.device.last_seen_at
        );
    }
    html!(main, "</tbody></table>");

    html!(main, "<dl class=\"facts\"><dt>Command</dt><dd>{}</dd>", request_type);
    for field in &draft.form.fields {
        let values: Vec<&str> = draft.values_of(&field.name).collect();
        if values.is_empty() {
            continue;
        }
        if secret_key(&field.name) {
            html!(
                main,
                "<dt>{}</dt><dd>given (not shown; sealed in the log)</dd>",
                field.name
            );
        } else {
            html!(main, "<dt>{}</dt><dd>{}</dd>", field.name, values.join(", "));
        }
    }
    html!(
        main,
        "<dt>Reason</dt><dd>{}</dd><dt>Recorded as</dt><dd>{}</dd></dl>",
        draft.reason.as_deref().unwrap_or("(none)"),
        session.caller.actor
    );

    // The confirmation's own key: the form sent twice (a reload, a double click) queues once.
    let idempotency_key = uuid::Uuid::new_v4().to_string();
    html!(
        main,
        "<form method=\"post\" action=\"{}\" class=\"stack\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <input type=\"hidden\" name=\"confirm\" value=\"yes\">\
         <input type=\"hidden\" name=\"idempotency_key\" value=\"{}\">\
         <input type=\"hidden\" name=\"request_type\" value=\"{}\">\
         <input type=\"hidden\" name=\"reason\" value=\"{}\">",
        action,
        session.csrf,
        idempotency_key,
        request_type,
        draft.reason
    );
    for (key, value) in &draft.values {
        html!(
            main,
            "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
            field_name(key),
            value
        );
    }
    for d in devices {
        html!(main, "<input type=\"hidden\" name=\"device\" value=\"{}\">", d.id);
    }
    if guarded && devices.len() > rails::CONFIRM_COUNT_ABOVE {
        html!(
            main,
            "<label for=\"confirm-count\">Type the number of devices this goes to, as listed above</label>\
             <input id=\"confirm-count\" name=\"confirm_count\" type=\"number\" min=\"1\" required autocomplete=\"off\">"
        );
    }
    let to = match devices {
        [one] => name(&one.device).to_string(),
        many => format!("{} devices", many.len()),
    };
    if guarded {
        html!(
            main,
            "<button type=\"submit\" class=\"danger\">Send {} to {}</button>",
            request_type,
            to
        );
    } else {
        html!(main, "<button type=\"submit\">Send {} to {}</button>", request_type, to);
    }
    match devices {
        [one] => html!(
            main,
            " <a href=\"/console/devices/{}\">Back to the device, sending nothing</a></form>",
            Seg(&one.id)
        ),
        _ => html!(
            main,
            " <a href=\"/console/devices\">Back to the devices, sending nothing</a></form>"
        ),
    }
    layout::respond(
        StatusCode::OK,
        layout::page("Confirm the command", Section::Devices, Some(session), main),
    )
}

fn name(d: &Device) -> &str {
    d.device_name.as_deref().unwrap_or("(unnamed)")
}

fn model(d: &Device) -> &str {
    d.product_name
        .as_deref()
        .or(d.model_name.as_deref())
        .or(d.model.as_deref())
        .unwrap_or("model unknown")
}

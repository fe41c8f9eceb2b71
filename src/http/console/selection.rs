//! Choosing devices on the device list for one command: a checkbox per device of the page, in
//! a form that takes them to the send form's command picker (`GET /console/send?device=…`).
//! Only for a role that may send some command; choosing sends nothing (the picker, the
//! command's form and its confirmation come first).

use annal_projections::devices::Device;

use super::render::{html, Html};
use super::schema_form::{self, ACTION};
use super::session::Session;

/// The selection form for `devices` (a page of the list), after the list.
pub fn form(main: &mut Html, session: &Session, devices: &[Device]) {
    if devices.is_empty() || schema_form::allowed(session).is_empty() {
        return;
    }
    html!(
        main,
        "<form method=\"get\" action=\"{}\" id=\"selection\" aria-labelledby=\"selection-title\">\
         <h2 id=\"selection-title\">Send a command to several devices</h2>\
         <fieldset><legend>Devices on this page</legend><div class=\"choices\">",
        ACTION
    );
    for (n, d) in devices.iter().enumerate() {
        html!(
            main,
            "<span><input type=\"checkbox\" id=\"select-{}\" name=\"device\" value=\"{}\"> \
             <label for=\"select-{}\">{} <span class=\"mono hint\">{}</span></label></span>",
            n,
            d.enrollment,
            n,
            d.device_name.as_deref().unwrap_or("(unnamed)"),
            d.enrollment
        );
    }
    html!(
        main,
        "</div></fieldset><button type=\"submit\">Choose a command for the selected devices</button></form>"
    );
}

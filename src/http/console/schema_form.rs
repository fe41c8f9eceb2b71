//! The send form, built from Apple's command schema (`mdm::commands::form`): the command picker
//! (only the RequestTypes the role may send), then one input per key of the chosen command,
//! typed (text, number, true/false, a choice of the allowed values, the documented values of a
//! list as checkboxes, JSON for dictionaries), required keys marked, Apple's description under
//! each, and the reason (required for lock, erase and credential class commands). After a
//! refusal the same form comes back with what was typed and the message at the top.

use axum::http::StatusCode;
use axum::response::Response;

use super::csrf::Form;
use super::draft::{field_name, secret_key};
use super::layout::{self, Section};
use super::render::{html, Html};
use super::session::Session;
use crate::domain::rails;
use crate::mdm::commands::form::{catalog, CommandForm, FieldKind, FormField};
use crate::mdm::commands::Platform;
use crate::service::admin::{authorize, Action};

/// Where the form is sent.
pub const ACTION: &str = "/console/send";

/// The RequestTypes `session` may send, with Apple's titles.
pub fn allowed(session: &Session) -> Vec<(&'static str, &'static str)> {
    catalog()
        .into_iter()
        .filter(|(request_type, _)| authorize(&session.caller, Action::Enqueue { request_type }).is_ok())
        .collect()
}

/// The devices as hidden fields, and a list a person can read; a box to type them in when
/// there are none yet.
fn devices_part(main: &mut Html, devices: &[String]) {
    if devices.is_empty() {
        html!(
            main,
            "<label for=\"device-list\">Devices <span class=\"hint\">(required: enrollment ids or UDIDs, one per line)</span></label>\
             <textarea id=\"device-list\" name=\"device_list\" rows=\"3\" required spellcheck=\"false\"></textarea>"
        );
        return;
    }
    html!(main, "<p>To {} device(s): ", devices.len());
    for (n, id) in devices.iter().enumerate() {
        if n > 0 {
            html!(main, ", ");
        }
        html!(
            main,
            "<span class=\"mono\">{}</span><input type=\"hidden\" name=\"device\" value=\"{}\">",
            id,
            id
        );
    }
    html!(main, "</p>");
}

/// `GET /console/send` without a RequestType: which command, for these devices.
pub fn picker(session: &Session, devices: &[String], problem: Option<&str>, status: StatusCode) -> Response {
    let mut main = Html::new();
    if let Some(problem) = problem {
        html!(main, "<p class=\"error\" role=\"alert\">{}</p>", problem);
    }
    let commands = allowed(session);
    html!(
        main,
        "<p>Every command in Apple's MDM schema that your role may send. The next page asks for its keys.</p>\
         <form method=\"get\" action=\"{}\" class=\"stack\">",
        ACTION
    );
    devices_part(&mut main, devices);
    html!(
        main,
        "<label for=\"request-type\">Command</label><select id=\"request-type\" name=\"request_type\" required>"
    );
    for (request_type, title) in &commands {
        if rails::guarded(request_type) {
            html!(
                main,
                "<option value=\"{}\">{}: {} (needs a reason)</option>",
                request_type,
                request_type,
                title
            );
        } else {
            html!(
                main,
                "<option value=\"{}\">{}: {}</option>",
                request_type,
                request_type,
                title
            );
        }
    }
    html!(
        main,
        "</select><button type=\"submit\">Fill in its keys</button></form>"
    );
    layout::respond(
        status,
        layout::page("Send a command", Section::Devices, Some(session), main),
    )
}

/// A refusal shown with the form: the message, and the key it is about.
pub struct Problem<'a> {
    pub message: &'a str,
    pub key: Option<&'a str>,
}

/// The form of `schema`, filled from `input` (what was sent, or nothing yet).
pub fn page(
    session: &Session,
    schema: &CommandForm,
    input: &Form,
    devices: &[String],
    problem: Option<Problem<'_>>,
    status: StatusCode,
) -> Response {
    let request_type = schema.request_type.as_str();
    let mut main = Html::new();
    if let Some(p) = &problem {
        html!(
            main,
            "<p class=\"error\" role=\"alert\" id=\"problem\">{}</p>",
            p.message
        );
    }
    html!(main, "<p>{}</p>", schema.description);
    if !schema.platforms.is_empty() {
        html!(
            main,
            "<p class=\"hint\">Apple devices it applies to: {}.</p>",
            platforms(&schema.platforms)
        );
    }
    html!(
        main,
        "<form method=\"post\" action=\"{}\" class=\"stack\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <input type=\"hidden\" name=\"request_type\" value=\"{}\">",
        ACTION,
        session.csrf,
        request_type
    );
    devices_part(&mut main, devices);
    if schema.fields.is_empty() {
        html!(main, "<p>This command has no keys.</p>");
    }
    for field in &schema.fields {
        let flagged = problem.as_ref().and_then(|p| p.key) == Some(field.name.as_str());
        field_input(&mut main, field, input, flagged);
    }
    let guarded = rails::guarded(request_type);
    if guarded {
        html!(
            main,
            "<label for=\"reason\">Reason <span class=\"hint\">(required: {} is a {} command; recorded in the audit trail)</span></label>\
             <textarea id=\"reason\" name=\"reason\" rows=\"2\" maxlength=\"{}\" required>{}</textarea>",
            request_type,
            annal_schemas::CommandClass::of(request_type).as_str(),
            rails::MAX_REASON_CHARS,
            input.get("reason")
        );
    } else {
        html!(
            main,
            "<label for=\"reason\">Reason <span class=\"hint\">(optional; recorded in the audit trail)</span></label>\
             <textarea id=\"reason\" name=\"reason\" rows=\"2\" maxlength=\"{}\">{}</textarea>",
            rails::MAX_REASON_CHARS,
            input.get("reason")
        );
    }
    html!(
        main,
        "<button type=\"submit\">Review before sending</button> \
         <a href=\"{}\">Choose another command</a></form>",
        ACTION
    );
    let title = format!("Send {request_type}");
    layout::respond(status, layout::page(&title, Section::Devices, Some(session), main))
}

fn platforms(list: &[Platform]) -> String {
    list.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", ")
}

/// The label text after the key's name: its type, whether required, where it applies.
fn label_hint(field: &FormField) -> String {
    let kind = match field.kind {
        FieldKind::Text if !field.choices.is_empty() => "one of the listed values",
        FieldKind::Text => "text",
        FieldKind::Integer => "whole number",
        FieldKind::Real => "number",
        FieldKind::Boolean => "true or false",
        FieldKind::Date => "date and time, RFC 3339 (2026-01-31T12:00:00Z)",
        FieldKind::Data => "data, base64",
        FieldKind::StringList if !field.choices.is_empty() => "pick any",
        FieldKind::StringList => "list, one item per line",
        FieldKind::Json => "JSON",
    };
    let mut hint = format!("{kind}; {}", if field.required { "required" } else { "optional" });
    if !field.platforms.is_empty() {
        hint.push_str("; ");
        hint.push_str(&platforms(&field.platforms));
    }
    hint
}

/// One key's input, its label and Apple's description.
fn field_input(main: &mut Html, field: &FormField, input: &Form, flagged: bool) {
    let name = field_name(&field.name);
    let id = format!("k-{}", field.name);
    let help_id = format!("{id}-help");
    let given: Vec<&str> = input.all(&name);
    let first = given.first().copied().unwrap_or("");
    let required = flag(field.required, " required");
    let invalid = if flagged { "true" } else { "false" };
    if field.kind == FieldKind::StringList && !field.choices.is_empty() {
        html!(
            main,
            "<fieldset aria-describedby=\"{}\"><legend>{} <span class=\"hint\">({})</span></legend><div class=\"choices\">",
            help_id,
            field.name,
            label_hint(field)
        );
        let chosen: Vec<&str> = given.iter().flat_map(|v| v.lines()).map(str::trim).collect();
        for (n, choice) in field.choices.iter().enumerate() {
            let checked = flag(chosen.contains(&choice.as_str()), " checked");
            html!(
                main,
                "<span><input type=\"checkbox\" id=\"{}-{}\" name=\"{}\" value=\"{}\"{}> <label for=\"{}-{}\">{}</label></span>",
                id,
                n,
                name,
                choice,
                checked,
                id,
                n,
                choice
            );
        }
        html!(
            main,
            "</div><p class=\"hint\" id=\"{}\">{}</p></fieldset>",
            help_id,
            field.help
        );
        return;
    }
    html!(
        main,
        "<label for=\"{}\">{} <span class=\"hint\">({})</span></label>",
        id,
        field.name,
        label_hint(field)
    );
    let choices: Vec<&str> = match field.kind {
        FieldKind::Boolean => vec!["true", "false"],
        FieldKind::Text | FieldKind::Integer | FieldKind::Real => field.choices.iter().map(String::as_str).collect(),
        _ => Vec::new(),
    };
    if !choices.is_empty() {
        html!(
            main,
            "<select id=\"{}\" name=\"{}\" aria-describedby=\"{}\" aria-invalid=\"{}\"{}>",
            id,
            name,
            help_id,
            invalid,
            required
        );
        if !field.required {
            html!(main, "<option value=\"\">(not set)</option>");
        }
        for choice in choices {
            if choice == first {
                html!(main, "<option value=\"{}\" selected>{}</option>", choice, choice);
            } else {
                html!(main, "<option value=\"{}\">{}</option>", choice, choice);
            }
        }
        html!(main, "</select>");
    } else {
        match field.kind {
            FieldKind::Data | FieldKind::Json | FieldKind::StringList => {
                html!(
                    main,
                    "<textarea id=\"{}\" name=\"{}\" rows=\"4\" spellcheck=\"false\" aria-describedby=\"{}\" aria-invalid=\"{}\"{}>{}</textarea>",
                    id,
                    name,
                    help_id,
                    invalid,
                    required,
                    given.join("\n")
                );
            }
            kind => {
                let (ty, extra) = match kind {
                    FieldKind::Integer => ("number", flag(true, " step=\"1\"")),
                    FieldKind::Real => ("number", flag(true, " step=\"any\"")),
                    // A secret is typed unseen, and no browser keeps it.
                    _ if secret_key(&field.name) => ("password", flag(true, " autocomplete=\"off\"")),
                    _ => ("text", Html::new()),
                };
                html!(
                    main,
                    "<input id=\"{}\" name=\"{}\" type=\"{}\" value=\"{}\" aria-describedby=\"{}\" aria-invalid=\"{}\"{}{}>",
                    id,
                    name,
                    ty,
                    first,
                    help_id,
                    invalid,
                    extra,
                    required
                );
            }
        }
    }
    html!(main, "<p class=\"hint\" id=\"{}\">{}</p>", help_id, field.help);
}

/// A fixed attribute (` required`, ` checked`) when `on`: a template of this module, like
/// every other piece of markup, never a value.
fn flag(on: bool, attribute: &'static str) -> Html {
    let mut out = Html::new();
    if on {
        out.fill(attribute, &[]);
    }
    out
}

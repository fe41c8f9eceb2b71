//! The page around every console page: `lang="en"`, a skip link to the main content, the
//! navigation (the current page marked for screen readers), who is signed in and a sign-out
//! form; and the error pages, which say what was refused and why.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::render::{html, Html};
use super::session::Session;
use crate::http::admin::error::ApiError;
use crate::service::admin::AdminError;

/// Where a page sits in the navigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Overview,
    Devices,
    Audit,
    /// Enrollment tokens and the enrollment profile.
    Enrollment,
    PushCertificate,
    /// Dead push tokens and devices silent after a push.
    PushHealth,
    /// API keys (shown in the navigation to the admin role only, the one that may list them).
    Keys,
    /// Sign-in and error pages: nothing current.
    None,
}

/// A whole page: `title` (escaped) and `main` (already built) in the console's frame.
pub fn page(title: &str, section: Section, session: Option<&Session>, main: Html) -> Html {
    let mut out = Html::new();
    html!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · Annal</title>\
         <link rel=\"stylesheet\" href=\"/console/static/console.css\">\
         <link rel=\"icon\" href=\"data:,\">\
         <script src=\"/console/static/live.js\" defer></script></head><body>\
         <a class=\"skip\" href=\"#main\">Skip to main content</a>\
         <header class=\"top\"><p class=\"brand\"><a href=\"/console\">Annal</a></p>",
        title
    );
    if let Some(session) = session {
        html!(out, "<nav aria-label=\"Console\"><ul>");
        for (link, label, this) in [
            ("/console", "Overview", Section::Overview),
            ("/console/devices", "Devices", Section::Devices),
            ("/console/audit", "Audit trail", Section::Audit),
            ("/console/enrollment", "Enrollment", Section::Enrollment),
            (
                "/console/push-certificate",
                "Push certificate",
                Section::PushCertificate,
            ),
            ("/console/push-health", "Push health", Section::PushHealth),
            ("/console/keys", "API keys", Section::Keys),
        ] {
            if this == Section::Keys
                && crate::service::admin::authorize(&session.caller, crate::service::admin::Action::ManageKeys).is_err()
            {
                continue;
            }
            if this == section {
                html!(out, "<li><a href=\"{}\" aria-current=\"page\">{}</a></li>", link, label);
            } else {
                html!(out, "<li><a href=\"{}\">{}</a></li>", link, label);
            }
        }
        html!(
            out,
            "</ul></nav><form class=\"signout\" method=\"post\" action=\"/console/logout\">\
             <p>Signed in as <strong>{}</strong> ({})</p>\
             <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
             <button type=\"submit\">Sign out</button></form>",
            session.caller.actor,
            role_name(session),
            session.csrf
        );
    }
    html!(
        out,
        "</header><main id=\"main\" tabindex=\"-1\"><h1>{}</h1>{}</main></body></html>\n",
        title,
        main
    );
    out
}

pub fn role_name(session: &Session) -> &'static str {
    use annal_schemas::events::apikey::Role;
    match session.caller.role {
        Role::Admin => "admin",
        Role::Operator => "operator",
        Role::Auditor => "auditor",
        Role::Enrollment => "enrollment",
    }
}

/// `html` as an HTML response with `status`.
pub fn respond(status: StatusCode, html: Html) -> Response {
    let mut response = (status, html.into_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

/// An error page: what was refused (`title`) and why (`message`).
pub fn error_page(status: StatusCode, title: &str, message: &str, session: Option<&Session>) -> Response {
    let mut main = Html::new();
    html!(main, "<p class=\"error\" role=\"alert\">{}</p>", message);
    if session.is_some() {
        html!(main, "<p><a href=\"/console\">Back to the overview</a></p>");
    } else {
        html!(main, "<p><a href=\"/console/login\">Sign in</a></p>");
    }
    respond(status, page(title, Section::None, session, main))
}

/// A use case's refusal, with the status the admin API gives it.
pub fn refusal(e: AdminError, session: Option<&Session>) -> Response {
    api_refusal(ApiError::from(e), session)
}

/// An admin API error as a page, with the API's status.
pub fn api_refusal(e: ApiError, session: Option<&Session>) -> Response {
    let (status, _) = e.status_and_code();
    let title = match status {
        StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::BAD_REQUEST => "Not accepted",
        StatusCode::CONFLICT => "Not possible now",
        StatusCode::SERVICE_UNAVAILABLE => "Unavailable",
        _ => "Refused",
    };
    error_page(status, title, &e.to_string(), session)
}

//! Sign-in and sign-out. `GET /console/login` shows a form with one field, `api_key`;
//! `POST /console/login` checks the key exactly as the admin API does (`AdminAuth::caller`, then
//! the read gate, which refuses enrollment tokens) and opens a session; `POST /console/logout`
//! ends it. Both are recorded (see `session`).

use std::sync::Arc;
use std::time::Duration;

use annal_schemas::events::console::ConsoleSessionEndReason;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;

use super::csrf::{self, Form};
use super::layout::{self, Section};
use super::render::{html, Html};
use super::session::{self, Sessions, Signed};
use crate::http::AppState;
use crate::service::admin::auth::AuthError;
use crate::service::admin::keys::bootstrap_caller;
use crate::service::admin::{authorize, Action};

/// The sign-in form's own token (a double submit: this cookie and the form's field).
const LOGIN_COOKIE: &str = "annal_console_login";
const LOGIN_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

fn with_cookie(mut response: Response, value: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(value) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

/// The form, with `token` and, after a refusal, why (`problem`).
fn form_page(status: StatusCode, token: &str, problem: Option<&str>) -> Response {
    let mut main = Html::new();
    if let Some(problem) = problem {
        html!(main, "<p class=\"error\" role=\"alert\" id=\"problem\">{}</p>", problem);
    }
    html!(
        main,
        "<p>Sign in with an Annal API key (admin, operator or auditor). What you can do here is what \
         the key may do on the admin API, and everything you do is recorded under its name.</p>\
         <form method=\"post\" action=\"/console/login\" class=\"stack\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <label for=\"api_key\">API key</label>\
         <input id=\"api_key\" name=\"api_key\" type=\"password\" autocomplete=\"off\" required autofocus \
         spellcheck=\"false\">\
         <button type=\"submit\">Sign in</button></form>",
        token
    );
    layout::respond(status, layout::page("Sign in", Section::None, None, main))
}

pub async fn form(
    State(app): State<AppState>,
    Extension(sessions): Extension<Arc<Sessions>>,
    headers: HeaderMap,
) -> Response {
    if let Ok(Some(_)) = sessions.resolve(&app, &headers).await {
        return Redirect::to("/console").into_response();
    }
    let Some(token) = session::new_token() else {
        return layout::error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Unavailable",
            "the system random generator failed",
            None,
        );
    };
    let response = form_page(StatusCode::OK, &token, None);
    with_cookie(
        response,
        &session::set_cookie(LOGIN_COOKIE, &token, LOGIN_TOKEN_LIFETIME),
    )
}

pub async fn sign_in(
    State(app): State<AppState>,
    Extension(sessions): Extension<Arc<Sessions>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = match Form::parse(&body) {
        Ok(form) => form,
        Err(e) => return e.page(),
    };
    if !csrf::same_origin(&headers) {
        return csrf::forged(None);
    }
    let Some(token) = session::cookie(&headers, LOGIN_COOKIE) else {
        return csrf::forged(None);
    };
    if !csrf::matches(&token, form.get(csrf::FIELD)) {
        return csrf::forged(None);
    }
    let presented = form.get("api_key").map(str::to_string);
    if presented.is_none() {
        return form_page(StatusCode::BAD_REQUEST, &token, Some("Enter an API key."));
    }
    let caller = match app.admin.caller(presented.clone()).await {
        Ok(caller) => caller,
        Err(AuthError::Missing | AuthError::BadKey) => {
            tracing::warn!("console sign-in refused: the API key is not valid");
            return form_page(StatusCode::FORBIDDEN, &token, Some("The API key is not valid."));
        }
        Err(AuthError::Unavailable(e)) => {
            return layout::error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Unavailable",
                &format!("the API keys cannot be read now: {e}"),
                None,
            )
        }
    };
    // The gate the admin API puts before every route: an enrollment token opens nothing here.
    if let Err(e) = authorize(&caller, Action::Read) {
        tracing::warn!(actor = %caller.actor, refused = %e, "console sign-in refused");
        return form_page(StatusCode::FORBIDDEN, &token, Some(&e.to_string()));
    }
    let key_id = if caller == bootstrap_caller() {
        None
    } else {
        match app.admin.keys().key_id_of_actor(&caller.actor).await {
            Ok(Some(id)) => Some(id),
            Ok(None) => return form_page(StatusCode::FORBIDDEN, &token, Some("The API key is not valid.")),
            Err(e) => {
                return layout::error_page(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Unavailable",
                    &format!("the API keys cannot be read now: {e}"),
                    None,
                )
            }
        }
    };
    let actor = caller.actor.clone();
    let id = match sessions.start(app.store.as_ref(), caller, key_id).await {
        Ok(id) => id,
        Err(e) => return layout::error_page(StatusCode::SERVICE_UNAVAILABLE, "Unavailable", &e.to_string(), None),
    };
    tracing::info!(actor = %actor, "console session started");
    let response = Redirect::to("/console").into_response();
    let response = with_cookie(response, &session::set_cookie(session::COOKIE, &id, session::ABSOLUTE));
    with_cookie(response, &session::clear_cookie(LOGIN_COOKIE))
}

pub async fn sign_out(
    State(app): State<AppState>,
    Extension(sessions): Extension<Arc<Sessions>>,
    Signed(session): Signed,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(refused) = csrf::signed_form(&session, &headers, &body) {
        return *refused;
    }
    sessions
        .end(app.store.as_ref(), &session, ConsoleSessionEndReason::SignedOut)
        .await;
    tracing::info!(actor = %session.caller.actor, "console session ended");
    with_cookie(
        Redirect::to("/console/login").into_response(),
        &session::clear_cookie(session::COOKIE),
    )
}

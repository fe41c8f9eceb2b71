//! `GET /console/enrollment`: enrollment tokens (the API keys with the `enrollment` role that
//! open `GET /enroll` and nothing else) and the enrollment profile. Creating and revoking a
//! token and downloading the profile are POSTs with the session's CSRF token, through the same
//! use cases as `POST /v1/enrollment-tokens`, `DELETE /v1/enrollment-tokens/{id}` and
//! `GET /enroll`, so the role rules are the API's (admin only) and each is recorded under the
//! key that signed in. A token is shown once, on the page that answers its creation, and
//! never again (the log keeps only its hash).

use annal_schemas::events::apikey::Role;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

use super::csrf::SignedForm;
use super::csrf::{self, Form};
use super::layout::{self, Section};
use super::render::{html, query, Html, Seg};
use super::session::{Session, Signed};
use crate::http::admin::error::ApiError;
use crate::http::enroll::{enrolling, mobileconfig_response};
use crate::http::AppState;
use crate::service::admin::{authorize, keys, Action, AdminError};

pub async fn show(State(app): State<AppState>, Signed(session): Signed, RawQuery(raw): RawQuery) -> Response {
    let params = Form::query(raw.as_deref());
    let mut main = Html::new();
    if let Some(id) = params.get("revoked") {
        html!(
            main,
            "<p class=\"notice\" role=\"status\">Enrollment token <span class=\"mono\">{}</span> revoked: it opens \
             nothing any more, and the challenges of profiles it fetched are void.</p>",
            id
        );
    }
    tokens_section(&app, &session, &mut main).await;
    profile_section(&session, &mut main);
    layout::respond(
        StatusCode::OK,
        layout::page("Enrollment", Section::Enrollment, Some(&session), main),
    )
}

/// The tokens, for a role that may manage keys; what the role may not do is said, not offered.
async fn tokens_section(app: &AppState, session: &Session, main: &mut Html) {
    html!(main, "<h2 id=\"tokens\">Enrollment tokens</h2>");
    let listed = match keys::list(app.admin.keys(), &session.caller).await {
        Ok(listed) => listed,
        // A role that may not manage keys is told so, and offered nothing.
        Err(AdminError::Forbidden(denied)) => {
            html!(main, "<p class=\"hint\">{}.</p>", denied.to_string());
            return;
        }
        Err(e) => {
            html!(main, "<p class=\"error\" role=\"alert\">{}</p>", e.to_string());
            return;
        }
    };
    let tokens: Vec<_> = listed.into_iter().filter(|k| k.role == Role::Enrollment).collect();
    if tokens.is_empty() {
        html!(main, "<p>No enrollment token yet.</p>");
    } else {
        html!(
            main,
            "<table><thead><tr><th scope=\"col\">Name</th><th scope=\"col\">Id</th><th scope=\"col\">State</th>\
             <th scope=\"col\">Revoke</th></tr></thead><tbody>"
        );
        for t in &tokens {
            html!(
                main,
                "<tr><td>{}</td><td class=\"mono\">{}</td><td>{}</td><td>",
                t.name,
                t.key_id,
                if t.revoked { "revoked" } else { "active" }
            );
            if !t.revoked {
                html!(
                    main,
                    "<form method=\"post\" action=\"/console/enrollment/tokens/{}/revoke\" class=\"inline\">\
                     <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
                     <button type=\"submit\" class=\"danger\">Revoke {}</button></form>",
                    Seg(&t.key_id),
                    session.csrf,
                    t.name
                );
            }
            html!(main, "</td></tr>");
        }
        html!(main, "</tbody></table>");
    }
    html!(
        main,
        "<form method=\"post\" action=\"/console/enrollment/tokens\" class=\"stack\" aria-labelledby=\"new-token\">\
         <h3 id=\"new-token\">New enrollment token</h3>\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <label for=\"token-name\">Name <span class=\"hint\">(letters, digits, '.', '-', '_'; never reused)</span></label>\
         <input id=\"token-name\" name=\"name\" type=\"text\" maxlength=\"64\" required spellcheck=\"false\">\
         <button type=\"submit\">Create the token</button></form>",
        session.csrf
    );
}

fn profile_section(session: &Session, main: &mut Html) {
    html!(main, "<h2 id=\"profile\">Enrollment profile</h2>");
    if let Err(e) = authorize(&session.caller, Action::Enroll) {
        html!(main, "<p class=\"hint\">{}.</p>", e.to_string());
        return;
    }
    html!(
        main,
        "<p>The signed profile a device installs to enroll, as <span class=\"mono\">GET /enroll</span> serves it. \
         Each download carries a new one-time SCEP challenge, recorded under your name.</p>\
         <form method=\"post\" action=\"/console/enrollment/profile\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <button type=\"submit\">Download the enrollment profile</button></form>",
        session.csrf
    );
}

/// `POST /console/enrollment/tokens`: the token made, and its enroll URL shown once.
pub async fn create(State(app): State<AppState>, SignedForm(session, form): SignedForm) -> Response {
    let Some(name) = form.get("name") else {
        return layout::refusal(AdminError::invalid_at("give the token a name", "name"), Some(&session));
    };
    let created = match keys::create_token(app.admin.keys(), &session.caller, name, &app.enroll.base_url).await {
        Ok(created) => created,
        Err(e) => return layout::refusal(e, Some(&session)),
    };
    tracing::info!(actor = %session.caller.actor, token_id = %created.token_id, "console enrollment token created");
    let mut main = Html::new();
    html!(
        main,
        "<p class=\"warning\" role=\"alert\">This is the only time the token is shown: copy the enroll URL now. \
         Whoever has it can fetch the enrollment profile until the token is revoked.</p>\
         <dl class=\"facts\"><dt>Name</dt><dd>{}</dd><dt>Id</dt><dd class=\"mono\">{}</dd>\
         <dt>Enroll URL</dt><dd><code class=\"secret\">{}</code></dd></dl>\
         <p><a href=\"/console/enrollment\">Back to enrollment</a></p>",
        created.name,
        created.token_id,
        created.enroll_url
    );
    layout::respond(
        StatusCode::CREATED,
        layout::page("Enrollment token created", Section::Enrollment, Some(&session), main),
    )
}

/// `POST /console/enrollment/tokens/{token_id}/revoke`.
pub async fn revoke(
    State(app): State<AppState>,
    Signed(session): Signed,
    Path(token_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(refused) = csrf::signed_form(&session, &headers, &body) {
        return *refused;
    }
    if let Err(e) = keys::revoke_token(app.admin.keys(), &session.caller, &token_id).await {
        return layout::refusal(e, Some(&session));
    }
    tracing::info!(actor = %session.caller.actor, token_id, "console enrollment token revoked");
    let target = format!("/console/enrollment?{}#tokens", query([("revoked", token_id.as_str())]));
    Redirect::to(&target).into_response()
}

/// `POST /console/enrollment/profile`: the signed profile, as an attachment, for a role that
/// may fetch it (`GET /enroll`'s rule).
pub async fn profile(
    State(app): State<AppState>,
    Signed(session): Signed,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(refused) = csrf::signed_form(&session, &headers, &body) {
        return *refused;
    }
    if let Err(e) = authorize(&session.caller, Action::Enroll) {
        return layout::refusal(e, Some(&session));
    }
    match enrolling(&app).profile(&session.caller).await {
        Ok(body) => mobileconfig_response(body),
        Err(e) => layout::api_refusal(ApiError::from(e), Some(&session)),
    }
}

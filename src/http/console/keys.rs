//! `GET /console/keys` (admin role): the API keys, never their secrets, as `GET /v1/api-keys`
//! lists them; create one (its secret shown once, on the page that answers the creation) and
//! revoke one, through the use cases `annal api-key` runs on the host
//! (`service::admin::keys::{create_key, revoke_key}`), recorded under the key that signed in.
//! Enrollment tokens are on the enrollment page.

use annal_schemas::events::apikey::Role;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use super::csrf::Form;
use super::csrf::SignedForm;
use super::layout::{self, Section};
use super::render::{html, query, Html, Seg};
use super::session::Signed;
use crate::http::AppState;
use crate::service::admin::{keys, AdminError};

/// The roles a key can be made with here, as the API names them.
const ROLES: [(&str, Role, &str); 3] = [
    ("auditor", Role::Auditor, "auditor: reads only"),
    (
        "operator",
        Role::Operator,
        "operator: routine commands, cancel, push, groups",
    ),
    ("admin", Role::Admin, "admin: everything"),
];

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Admin => "admin",
        Role::Operator => "operator",
        Role::Auditor => "auditor",
        Role::Enrollment => "enrollment",
    }
}

pub async fn list(State(app): State<AppState>, Signed(session): Signed, RawQuery(raw): RawQuery) -> Response {
    // The API's rule: only the admin role sees the keys (`keys::list` refuses the others).
    let listed = match keys::list(app.admin.keys(), &session.caller).await {
        Ok(listed) => listed,
        Err(e) => return layout::refusal(e, Some(&session)),
    };
    let params = Form::query(raw.as_deref());
    let mut main = Html::new();
    if let Some(id) = params.get("revoked") {
        html!(
            main,
            "<p class=\"notice\" role=\"status\">API key <span class=\"mono\">{}</span> revoked: it opens nothing \
             any more, and its console sessions end at their next request.</p>",
            id
        );
    }
    html!(
        main,
        "<p>Keys for the admin API and this console. The bootstrap key (<span class=\"mono\">admin</span>, from the \
         server's data directory) is not listed: it is not in the log. Enrollment tokens are on the \
         <a href=\"/console/enrollment\">enrollment page</a>.</p>"
    );
    let keys: Vec<_> = listed.into_iter().filter(|k| k.role != Role::Enrollment).collect();
    if keys.is_empty() {
        html!(main, "<p>No API key yet besides the bootstrap key.</p>");
    } else {
        html!(
            main,
            "<table><thead><tr><th scope=\"col\">Name</th><th scope=\"col\">Id</th><th scope=\"col\">Role</th>\
             <th scope=\"col\">State</th><th scope=\"col\">Revoke</th></tr></thead><tbody>"
        );
        for (n, k) in keys.iter().enumerate() {
            html!(
                main,
                "<tr><td>{}</td><td class=\"mono\">{}</td><td>{}</td><td>{}</td><td>",
                k.name,
                k.key_id,
                role_name(k.role),
                if k.revoked { "revoked" } else { "active" }
            );
            if !k.revoked {
                html!(
                    main,
                    "<form method=\"post\" action=\"/console/keys/{}/revoke\" class=\"inline\">\
                     <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
                     <label for=\"revoke-reason-{}\">Why</label> \
                     <input id=\"revoke-reason-{}\" name=\"reason\" type=\"text\" maxlength=\"1000\"> \
                     <button type=\"submit\" class=\"danger\">Revoke {}</button></form>",
                    Seg(&k.key_id),
                    session.csrf,
                    n,
                    n,
                    k.name
                );
            }
            html!(main, "</td></tr>");
        }
        html!(main, "</tbody></table>");
    }
    html!(
        main,
        "<form method=\"post\" action=\"/console/keys\" class=\"stack\" aria-labelledby=\"new-key\">\
         <h2 id=\"new-key\">New API key</h2>\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <label for=\"key-name\">Name <span class=\"hint\">(letters, digits, '.', '-', '_'; recorded as the actor \
         of everything the key does; never reused)</span></label>\
         <input id=\"key-name\" name=\"name\" type=\"text\" maxlength=\"64\" required spellcheck=\"false\">\
         <label for=\"key-role\">Role</label><select id=\"key-role\" name=\"role\">",
        session.csrf
    );
    for (value, _, label) in ROLES {
        html!(main, "<option value=\"{}\">{}</option>", value, label);
    }
    html!(main, "</select><button type=\"submit\">Create the key</button></form>");
    layout::respond(
        StatusCode::OK,
        layout::page("API keys", Section::Keys, Some(&session), main),
    )
}

/// `POST /console/keys`: the key made, its secret shown once.
pub async fn create(State(app): State<AppState>, SignedForm(session, form): SignedForm) -> Response {
    let role = form
        .get("role")
        .and_then(|r| ROLES.iter().find(|(name, _, _)| *name == r))
        .map(|(_, role, _)| *role);
    let (Some(name), Some(role)) = (form.get("name"), role) else {
        return layout::refusal(
            AdminError::invalid("give the key a name and one of the roles auditor, operator or admin"),
            Some(&session),
        );
    };
    let created = match keys::create_key(app.admin.keys(), &session.caller, name, role).await {
        Ok(created) => created,
        Err(e) => return layout::refusal(e, Some(&session)),
    };
    tracing::info!(actor = %session.caller.actor, key_id = %created.info.key_id, role = role_name(role), "console API key created");
    let mut main = Html::new();
    html!(
        main,
        "<p class=\"warning\" role=\"alert\">This is the only time the key is shown: copy it now. The log keeps only \
         its hash.</p>\
         <dl class=\"facts\"><dt>Name</dt><dd>{}</dd><dt>Id</dt><dd class=\"mono\">{}</dd><dt>Role</dt><dd>{}</dd>\
         <dt>Key</dt><dd><code class=\"secret\">{}</code></dd></dl>\
         <p><a href=\"/console/keys\">Back to the API keys</a></p>",
        created.info.name,
        created.info.key_id,
        role_name(role),
        created.key
    );
    layout::respond(
        StatusCode::CREATED,
        layout::page("API key created", Section::Keys, Some(&session), main),
    )
}

/// `POST /console/keys/{key_id}/revoke`, with an optional reason.
pub async fn revoke(
    State(app): State<AppState>,
    Path(key_id): Path<String>,
    SignedForm(session, form): SignedForm,
) -> Response {
    let reason = form.get("reason").map(str::to_string);
    if let Err(e) = keys::revoke_key(app.admin.keys(), &session.caller, &key_id, reason).await {
        return layout::refusal(e, Some(&session));
    }
    tracing::info!(actor = %session.caller.actor, key_id, "console API key revoked");
    let target = format!("/console/keys?{}", query([("revoked", key_id.as_str())]));
    Redirect::to(&target).into_response()
}

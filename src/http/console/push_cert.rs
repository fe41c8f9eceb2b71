//! `GET /console/push-certificate`: the installed push certificate (topic, expiry, days left,
//! whether APNs refused it), as `GET /v1/push-certificate` reports it; and, for the admin role,
//! a form to install its renewal: the PEM certificate and its PEM private key, as
//! `PUT /v1/pushcert` takes them, through the same use case (`service::admin::push_cert`). Its
//! topic guard refuses a certificate for another topic than the enrolled devices' (it would
//! strand every one of them): the page says so, and nothing is installed.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use super::csrf::Form;
use super::csrf::SignedForm;
use super::layout::{self, Section};
use super::render::{html, Html};
use super::session::{Session, Signed};
use crate::http::admin::error::ApiError;
use crate::http::AppState;
use crate::service::admin::{authorize, push_cert, Action, AdminError};

pub async fn show(State(app): State<AppState>, Signed(session): Signed, RawQuery(raw): RawQuery) -> Response {
    let params = Form::query(raw.as_deref());
    let notice = params
        .get("installed")
        .map(|_| "The renewal is installed; pushes use it from now on.");
    page(&app, &session, notice, None).await
}

/// The page, with a notice or a refusal (and the refusal's status).
async fn page(app: &AppState, session: &Session, notice: Option<&str>, problem: Option<AdminError>) -> Response {
    // Another node may have installed one: read the log's latest, as the enrollment profile does.
    if let Err(e) = app.push.refresh_certificate().await {
        tracing::warn!(error = %e, "reading the installed push certificate");
    }
    let status = app.push.status();
    let mut main = Html::new();
    let code = match problem {
        Some(e) => {
            let api = ApiError::from(e);
            let (code, _) = api.status_and_code();
            html!(
                main,
                "<p class=\"error\" role=\"alert\" id=\"problem\">{}</p>",
                api.to_string()
            );
            code
        }
        None => StatusCode::OK,
    };
    if let Some(notice) = notice {
        html!(main, "<p class=\"notice\" role=\"status\">{}</p>", notice);
    }
    if status.installed {
        if status.expired {
            html!(
                main,
                "<p class=\"warning\" role=\"alert\">It has expired: APNs refuses it, and no device can be woken.</p>"
            );
        } else if status.expiring_soon {
            html!(
                main,
                "<p class=\"warning\" role=\"alert\">It expires within 30 days: renew it now, with the same topic.</p>"
            );
        }
        if let Some(s) = &status.suspended {
            html!(
                main,
                "<p class=\"warning\" role=\"alert\">APNs refused it ({}): pushes are suspended for {} s.</p>",
                s.reason,
                s.resumes_in_secs
            );
        }
        html!(
            main,
            "<dl class=\"facts\"><dt>Topic</dt><dd class=\"mono\">{}</dd><dt>Expires</dt><dd>{}</dd>\
             <dt>Days left</dt><dd>{}</dd><dt>Valid from</dt><dd>{}</dd><dt>Subject</dt><dd>{}</dd>\
             <dt>Issuer</dt><dd>{}</dd><dt>SHA-256</dt><dd class=\"mono\">{}</dd>\
             <dt>Usable on this node</dt><dd>{}</dd></dl>",
            status.topic,
            status.not_after,
            status.days_left,
            status.not_before,
            status.subject,
            status.issuer,
            status.fingerprint_sha256,
            if status.usable { "yes" } else { "no" }
        );
        if let Some(reason) = &status.unusable_reason {
            html!(main, "<p class=\"hint\">{}</p>", reason);
        }
    } else {
        html!(
            main,
            "<p>No push certificate is installed: devices are not woken, commands wait until they poll.</p>"
        );
    }
    upload_form(session, &mut main);
    layout::respond(
        code,
        layout::page("Push certificate", Section::PushCertificate, Some(session), main),
    )
}

/// The renewal form, for a role that may install one.
fn upload_form(session: &Session, main: &mut Html) {
    html!(main, "<h2 id=\"renew\">Install a renewal</h2>");
    if let Err(e) = authorize(&session.caller, Action::InstallPushCertificate) {
        html!(main, "<p class=\"hint\">{}.</p>", e.to_string());
        return;
    }
    html!(
        main,
        "<p>Paste the renewed certificate Apple issued and its private key, both PEM (<span class=\"mono\">openssl pkcs12 \
         -in push.p12 -nodes</span> turns a .p12 into both). Its topic must be the enrolled devices' topic.</p>\
         <form method=\"post\" action=\"/console/push-certificate\" class=\"stack\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <label for=\"push-certificate\">Certificate <span class=\"hint\">(PEM, required)</span></label>\
         <textarea id=\"push-certificate\" name=\"certificate\" rows=\"6\" required spellcheck=\"false\"></textarea>\
         <label for=\"push-key\">Private key <span class=\"hint\">(PEM, required; kept sealed)</span></label>\
         <textarea id=\"push-key\" name=\"private_key\" rows=\"6\" required spellcheck=\"false\" autocomplete=\"off\"></textarea>\
         <button type=\"submit\">Install the renewal</button></form>",
        session.csrf
    );
}

/// `POST /console/push-certificate`: installs the renewal, or shows why not.
pub async fn install(State(app): State<AppState>, SignedForm(session, form): SignedForm) -> Response {
    // The role first, as the API: a key that may not install learns nothing about the input.
    if let Err(e) = authorize(&session.caller, Action::InstallPushCertificate) {
        return layout::refusal(e, Some(&session));
    }
    let (Some(certificate), Some(key)) = (form.get("certificate"), form.get("private_key")) else {
        let missing = AdminError::invalid("paste both the certificate and its private key (PEM)");
        return page(&app, &session, None, Some(missing)).await;
    };
    // One body with both, as `PUT /v1/pushcert` takes it.
    let pem = format!("{certificate}\n{key}\n");
    match push_cert::install(app.store.as_ref(), &app.data_key, &session.caller, pem.as_bytes()).await {
        Ok(installed) => {
            tracing::info!(actor = %session.caller.actor, topic = %installed.topic, "console push certificate installed");
            Redirect::to("/console/push-certificate?installed=1").into_response()
        }
        Err(e) => {
            tracing::warn!(actor = %session.caller.actor, refused = %e, "console push certificate refused");
            page(&app, &session, None, Some(e)).await
        }
    }
}

//! `GET /console/push-health`: enrollments whose push token APNs declared dead, and those
//! pushed and silent for longer than a threshold (`silent_minutes`, default an hour), each list
//! paged on its own cursor (`dead_after`, `silent_after`). The lists are read exactly as
//! `GET /v1/push-health` reads them (`push_health::listing`, then `push_token_dead` /
//! `push_silent`), so the page and the API cannot disagree. [`facts`] is the device page's
//! "Push" section, from the record `GET /v1/devices/{id}/push` returns.

use annal_projections::push::PushRecord;
use annal_projections::Page;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::Utc;

use super::csrf::Form;
use super::layout::{self, Section};
use super::render::{html, query, Html, Seg};
use super::session::Signed;
use crate::http::AppState;
use crate::readmodel::Queries;
use crate::service::admin::push_health::{self, Filter, Listing};

/// Enrollments per page of each list.
const PAGE: usize = 50;
/// The silence threshold when the form gives none: the API's default (one hour).
const DEFAULT_SILENT_MINUTES: i64 = 60;

pub async fn show(State(app): State<AppState>, Signed(session): Signed, RawQuery(raw): RawQuery) -> Response {
    let params = Form::query(raw.as_deref());
    // Minutes on the form, seconds for the listing; an overflow is refused by `listing`'s own
    // range check (i64::MAX seconds), so the page refuses what the API refuses.
    let minutes = match params.get("silent_minutes").map(str::parse::<i64>) {
        None => DEFAULT_SILENT_MINUTES,
        Some(Ok(minutes)) => minutes,
        Some(Err(_)) => {
            return layout::error_page(
                StatusCode::BAD_REQUEST,
                "Not accepted",
                "silent_minutes is a number of minutes",
                Some(&session),
            )
        }
    };
    let silent_for_secs = minutes.saturating_mul(60);
    let (dead, silent) = match (
        push_health::listing("token_dead", Some(silent_for_secs), Some(PAGE)),
        push_health::listing("silent", Some(silent_for_secs), Some(PAGE)),
    ) {
        (Ok(dead), Ok(silent)) => (dead, silent),
        (Err(e), _) | (_, Err(e)) => return layout::refusal(e, Some(&session)),
    };
    let queries = app.queries();
    let dead_after = params.get("dead_after");
    let silent_after = params.get("silent_after");
    let dead_page = read(&queries, dead, dead_after).await;
    let silent_page = read(&queries, silent, silent_after).await;

    let minutes_text = minutes.to_string();
    let mut main = Html::new();
    html!(
        main,
        "<form method=\"get\" action=\"/console/push-health\" class=\"filters\" aria-labelledby=\"silent-form-title\">\
         <h2 id=\"silent-form-title\">Silence threshold</h2>\
         <div><label for=\"silent-minutes\">Pushed and silent for more than (minutes)</label>\
         <input id=\"silent-minutes\" name=\"silent_minutes\" type=\"number\" min=\"0\" value=\"{}\"></div>\
         <div><button type=\"submit\">Show</button></div></form>",
        minutes_text
    );

    html!(
        main,
        "<h2 id=\"token-dead\">Dead push tokens</h2>\
         <p class=\"hint\">APNs declared these tokens dead (Unregistered, BadDeviceToken): the devices are not \
         pushed until they send a new TokenUpdate.</p>"
    );
    let next = dead_page.next.as_deref().map(|next| {
        query([
            ("silent_minutes", minutes_text.as_str()),
            ("dead_after", next),
            ("silent_after", silent_after.unwrap_or("")),
        ])
    });
    table(
        &mut main,
        "token-dead",
        "No enrollment has a dead push token.",
        &dead_page,
        next,
    );

    html!(
        main,
        "<h2 id=\"silent\">Pushed and silent</h2>\
         <p class=\"hint\">Pushed, and not heard from for more than {} minutes since the first unanswered push.</p>",
        minutes_text
    );
    let next = silent_page.next.as_deref().map(|next| {
        query([
            ("silent_minutes", minutes_text.as_str()),
            ("dead_after", dead_after.unwrap_or("")),
            ("silent_after", next),
        ])
    });
    table(
        &mut main,
        "silent",
        "No pushed enrollment is silent that long.",
        &silent_page,
        next,
    );

    layout::respond(
        StatusCode::OK,
        layout::page("Push health", Section::PushHealth, Some(&session), main),
    )
}

/// One page of a listing, read as the API's handler reads it.
async fn read(queries: &Queries<'_>, listing: Listing, after: Option<&str>) -> Page<PushRecord> {
    let page = match listing.filter {
        Filter::TokenDead => queries.push_token_dead(after, listing.limit).await,
        Filter::Silent(silent_for) => queries.push_silent(Utc::now(), silent_for, after, listing.limit).await,
    };
    page.value
}

/// One list: a row per enrollment linking to its device page, and a pager to the next page
/// (`next`: that page's query string).
fn table(main: &mut Html, anchor: &'static str, empty: &'static str, page: &Page<PushRecord>, next: Option<String>) {
    if page.items.is_empty() {
        html!(main, "<p>{}</p>", empty);
        return;
    }
    html!(
        main,
        "<table><thead><tr><th scope=\"col\">Enrollment</th><th scope=\"col\">Last push</th>\
         <th scope=\"col\">Outcome</th><th scope=\"col\" class=\"num\">Failures in a row</th>\
         <th scope=\"col\">Last seen</th><th scope=\"col\">Silent since</th>\
         <th scope=\"col\" class=\"num\">Commands pending</th></tr></thead><tbody>"
    );
    for r in &page.items {
        html!(
            main,
            "<tr><td><a href=\"/console/devices/{}\" class=\"mono\">{}</a></td><td>{}</td><td>{}</td>\
             <td class=\"num\">{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td></tr>",
            Seg(&r.enrollment),
            r.enrollment,
            r.last_push_at,
            r.last_push_outcome,
            r.consecutive_failures,
            r.last_seen_at,
            r.unanswered_since,
            r.pending_commands
        );
    }
    html!(main, "</tbody></table>");
    if let Some(next) = next {
        html!(
            main,
            "<nav class=\"pager\" aria-label=\"{} pages\"><a href=\"/console/push-health?{}#{}\" rel=\"next\">Next page</a></nav>",
            anchor,
            next,
            anchor
        );
    }
}

/// The device page's "Push" section. Each field is named here rather than the record
/// serialized whole, so that a field added to the record later (a token, the PushMagic: the
/// secrets that wake the device) is not shown until someone decides it may be.
pub fn facts(main: &mut Html, record: Option<&PushRecord>) {
    html!(main, "<h2 id=\"push\">Push</h2>");
    let Some(r) = record else {
        html!(main, "<p>No push recorded for this enrollment.</p>");
        return;
    };
    html!(
        main,
        "<dl class=\"facts\"><dt>Last push</dt><dd>{}</dd><dt>Its outcome</dt><dd>{}</dd>\
         <dt>Push token</dt><dd>{}</dd><dt>Pushes</dt><dd>{}</dd><dt>Failures</dt><dd>{}</dd>\
         <dt>Failures since the last accepted push</dt><dd>{}</dd><dt>Last seen</dt><dd>{}</dd>\
         <dt>Answered the last push</dt><dd>{}</dd><dt>Silent since</dt><dd>{}</dd>\
         <dt>Commands pending</dt><dd>{}</dd></dl>",
        r.last_push_at,
        r.last_push_outcome,
        if r.token_dead {
            "dead (APNs refused it; waiting for a new TokenUpdate)"
        } else {
            "live"
        },
        r.pushes,
        r.failures,
        r.consecutive_failures,
        r.last_seen_at,
        if r.unanswered { "no" } else { "yes" },
        r.unanswered_since,
        r.pending_commands
    );
    if r.token_dead {
        html!(
            main,
            "<p class=\"warning\" role=\"status\">APNs declared this device's push token dead: it is not pushed \
             until it checks in with a new TokenUpdate.</p>"
        );
    }
}

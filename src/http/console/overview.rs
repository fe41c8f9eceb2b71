//! `GET /console`: the fleet at a glance: enrolled devices, those quiet for a week, commands
//! waiting, the push certificate's topic and days to expiry, and how far the read models trail
//! the log.

use annal_projections::devices::{DeviceFilter, DeviceState};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::Utc;

use super::layout::{self, Section};
use super::render::{html, Html};
use super::session::Signed;
use crate::http::AppState;
use crate::service::declarations::Facts;

/// A device with no contact for this many days is quiet.
pub const QUIET_DAYS: i64 = 7;
/// Devices read per round when counting.
const COUNT_PAGE: usize = 5000;

pub async fn show(State(app): State<AppState>, Signed(session): Signed) -> Response {
    let queries = app.queries();
    // Counted page by page from the inventory, through the same reads every handler uses.
    let mut enrolled = 0usize;
    let mut after: Option<String> = None;
    loop {
        let (page, next) = Facts::enrolled(&queries, after.as_deref(), COUNT_PAGE).await;
        enrolled += page.len();
        match next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let quiet_filter = DeviceFilter {
        state: Some(DeviceState::Enrolled),
        last_seen_before: Some(Utc::now() - chrono::Duration::days(QUIET_DAYS)),
        ..DeviceFilter::default()
    };
    let mut quiet = 0usize;
    let mut after: Option<String> = None;
    loop {
        let page = queries.devices(&quiet_filter, after.as_deref(), COUNT_PAGE).await.value;
        quiet += page.items.len();
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let pending = queries.pending_total();
    let lag = crate::observe::gauges::projection_lag(&app).await;
    let push = app.push.status();

    let mut main = Html::new();
    html!(main, "<h2>Fleet</h2><ul class=\"cards\">");
    html!(
        main,
        "<li><span class=\"value\">{}</span> <span class=\"label\">enrolled devices</span> \
         <a href=\"/console/devices?state=enrolled\">List them</a></li>",
        enrolled
    );
    html!(
        main,
        "<li><span class=\"value\">{}</span> <span class=\"label\">quiet (no contact for {} days)</span> \
         <a href=\"/console/devices?quiet={}\">List them</a></li>",
        quiet,
        QUIET_DAYS,
        QUIET_DAYS
    );
    html!(
        main,
        "<li><span class=\"value\">{}</span> <span class=\"label\">commands pending</span></li>",
        pending
    );
    match &lag {
        Ok((head, Some(lag))) => html!(
            main,
            "<li><span class=\"value\">{}</span> <span class=\"label\">events the read models trail the log by \
             (log head {})</span></li>",
            lag,
            head
        ),
        Ok((head, None)) => html!(
            main,
            "<li><span class=\"value\">{}</span> <span class=\"label\">read models at position (log head {})</span></li>",
            queries.position(),
            head
        ),
        Err(e) => html!(
            main,
            "<li><span class=\"value\">?</span> <span class=\"label\">read-model lag: the log's head cannot be read: {}</span></li>",
            e.to_string()
        ),
    }
    html!(main, "</ul><h2>Push certificate</h2>");
    match (&push.topic, push.installed) {
        (Some(topic), true) => {
            html!(
                main,
                "<dl class=\"facts\"><dt>Topic</dt><dd class=\"mono\">{}</dd>",
                topic
            );
            if let Some(days) = push.days_left {
                html!(main, "<dt>Days to expiry</dt><dd>{}</dd>", days);
            }
            if let Some(not_after) = push.not_after {
                html!(main, "<dt>Expires</dt><dd>{}</dd>", not_after);
            }
            html!(main, "</dl>");
            if push.expired {
                html!(main, "<p class=\"warning\" role=\"status\">The push certificate has expired: devices cannot be woken. Renew it with the same topic.</p>");
            } else if push.expiring_soon {
                html!(main, "<p class=\"warning\" role=\"status\">The push certificate expires within 30 days: renew it with the same topic.</p>");
            }
            if let Some(reason) = &push.unusable_reason {
                html!(main, "<p class=\"warning\">Not usable on this node: {}</p>", reason);
            }
            if push.suspended.is_some() {
                html!(
                    main,
                    "<p class=\"warning\">APNs refused the certificate: pushes are suspended.</p>"
                );
            }
        }
        _ => html!(
            main,
            "<p>No push certificate is installed: devices are not woken by pushes.</p>"
        ),
    }
    layout::respond(
        StatusCode::OK,
        layout::page("Overview", Section::Overview, Some(&session), main),
    )
}

//! `GET /console`: the fleet at a glance: enrolled devices, those quiet for a week, commands
//! waiting, events in the log, how far the read models trail it, and the push certificate's
//! topic and days to expiry. The counters are [`Counters`], which the live stream
//! (`live::fleet`) sends again as the log moves, so the page and its updates count alike.

use annal_projections::devices::{DeviceFilter, DeviceState};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::Utc;
use serde::Serialize;

use super::layout::{self, Section};
use super::render::{html, Html};
use super::session::Signed;
use crate::http::AppState;
use crate::service::declarations::Facts;

/// A device with no contact for this many days is quiet.
pub const QUIET_DAYS: i64 = 7;
/// Devices read per round when counting.
const COUNT_PAGE: usize = 5000;

/// The fleet's counters at one moment.
#[derive(Debug, Clone, Serialize)]
pub struct Counters {
    pub enrolled: usize,
    pub quiet: usize,
    pub pending: usize,
    /// The log's head position (events appended so far, on a backend with dense positions);
    /// `None` when it cannot be read now.
    pub head: Option<u64>,
    /// Events the read models trail the log by (`None`: unknown, or a backend whose positions
    /// are not dense).
    pub lag: Option<u64>,
    /// The position the read models have folded up to.
    pub position: u64,
    /// Why the head could not be read, when it could not.
    pub head_error: Option<String>,
}

/// The two counts that walk the inventory: every enrolled device, and those quiet for
/// [`QUIET_DAYS`]. Page by page, through the same reads every handler uses.
pub async fn walked(app: &AppState) -> (usize, usize) {
    let queries = app.queries();
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
    (enrolled, quiet)
}

/// The counters, with `walked` (enrolled, quiet) as counted by [`walked`]: the live stream
/// counts those less often than the cheap ones.
pub async fn counters(app: &AppState, walked: (usize, usize)) -> Counters {
    let queries = app.queries();
    let (head, lag, head_error) = match crate::observe::gauges::projection_lag(app).await {
        Ok((head, lag)) => (Some(head), lag, None),
        Err(e) => (None, None, Some(e.to_string())),
    };
    Counters {
        enrolled: walked.0,
        quiet: walked.1,
        pending: queries.pending_total(),
        head,
        lag,
        position: queries.position(),
        head_error,
    }
}

/// One card: a value `live.js` can replace (`data-counter`), what it counts, and a link.
fn card(main: &mut Html, counter: &'static str, value: String, label: Html) {
    html!(
        main,
        "<li><span class=\"value\" data-counter=\"{}\">{}</span> <span class=\"label\">{}</span></li>",
        counter,
        value,
        label
    );
}

pub async fn show(State(app): State<AppState>, Signed(session): Signed) -> Response {
    let c = counters(&app, walked(&app).await).await;
    let push = app.push.status();
    let unknown = || "?".to_string();

    let mut main = Html::new();
    // Filled in and shown by live.js; without script the page is a snapshot.
    html!(
        main,
        "<p id=\"live\" class=\"live\" role=\"status\" data-live-src=\"/console/live\" hidden></p>\
         <h2>Fleet</h2><ul class=\"cards\">"
    );
    let mut label = Html::new();
    html!(
        label,
        "enrolled devices <a href=\"/console/devices?state=enrolled\">List them</a>"
    );
    card(&mut main, "enrolled", c.enrolled.to_string(), label);
    let mut label = Html::new();
    html!(
        label,
        "quiet (no contact for {} days) <a href=\"/console/devices?quiet={}\">List them</a>",
        QUIET_DAYS,
        QUIET_DAYS
    );
    card(&mut main, "quiet", c.quiet.to_string(), label);
    let mut label = Html::new();
    html!(label, "commands pending");
    card(&mut main, "pending", c.pending.to_string(), label);
    let mut label = Html::new();
    html!(label, "events in the log (its head position)");
    card(&mut main, "head", c.head.map_or_else(unknown, |h| h.to_string()), label);
    let mut label = Html::new();
    html!(
        label,
        "events the read models trail the log by (they are at position <span data-counter=\"position\">{}</span>)",
        c.position
    );
    card(&mut main, "lag", c.lag.map_or_else(unknown, |l| l.to_string()), label);
    html!(main, "</ul>");
    if let Some(e) = &c.head_error {
        html!(
            main,
            "<p class=\"warning\">Read-model lag unknown: the log's head cannot be read: {}</p>",
            e
        );
    }

    html!(main, "<h2>Push certificate</h2>");
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

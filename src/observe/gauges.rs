//! Gauges computed at scrape time: queue depth and projection lag from the read models and
//! the log's head, certificate expiry from the certificates in use.

use chrono::{DateTime, Utc};

use crate::http::AppState;

/// The log's head position and how far the read models trail it, in events (`None` when
/// positions are not dense, as on KurrentDB: a difference of offsets counts no events).
pub async fn projection_lag(app: &AppState) -> Result<(u64, Option<u64>), crate::store::StoreError> {
    let head = app.store.head().await?.position;
    let lag = app
        .store
        .capabilities()
        .dense_positions
        .then(|| head.saturating_sub(app.projector.position()));
    Ok((head, lag))
}

pub async fn refresh(app: &AppState) {
    let now = Utc::now();
    let pending = app.projector.read(|p| p.commands().pending_total());
    metrics::gauge!("annal_commands_pending").set(pending as f64);
    metrics::gauge!("annal_projection_position").set(app.projector.position() as f64);
    match projection_lag(app).await {
        Ok((head, lag)) => {
            metrics::gauge!("annal_store_head_position").set(head as f64);
            if let Some(lag) = lag {
                metrics::gauge!("annal_projection_lag_events").set(lag as f64);
            }
            metrics::gauge!("annal_store_up").set(1.0);
        }
        Err(_) => metrics::gauge!("annal_store_up").set(0.0),
    }
    // Known from the appends themselves, so it stays true while head reads fail too.
    let writable = if app.observer.writes.refusing() { 0.0 } else { 1.0 };
    metrics::gauge!("annal_store_writable").set(writable);
    let push = app.push.status().not_after;
    let certificates = [
        ("ca", app.observer.ca_not_after()),
        ("tls", app.observer.tls_not_after()),
        ("push", push),
    ];
    for (name, not_after) in certificates {
        if let Some(t) = not_after {
            metrics::gauge!("annal_certificate_expiry_seconds", "certificate" => name).set(seconds_left(t, now));
        }
    }
}

fn seconds_left(not_after: DateTime<Utc>, now: DateTime<Utc>) -> f64 {
    (not_after - now).num_seconds() as f64
}

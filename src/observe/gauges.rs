//! Gauges computed at scrape time: queue depth and projection lag from the read models and
//! the log's head, certificate expiry from the certificates in use.

use chrono::{DateTime, Utc};

use super::Observer;
use crate::push::PushService;
use crate::readmodel::Queries;
use crate::store::EventStore;

/// What the gauges read: the log, the read models, the certificates in use.
#[derive(Clone, Copy)]
pub struct Sources<'a> {
    pub store: &'a dyn EventStore,
    pub queries: Queries<'a>,
    pub observer: &'a Observer,
    pub push: &'a PushService,
}

/// The log's head position and how far the read models trail it, in events (`None` when
/// positions are not dense, as on KurrentDB: a difference of offsets counts no events).
pub async fn projection_lag<'a>(
    sources: impl Into<Sources<'a>>,
) -> Result<(u64, Option<u64>), crate::store::StoreError> {
    let Sources { store, queries, .. } = sources.into();
    let head = store.head().await?.position;
    let lag = store
        .capabilities()
        .dense_positions
        .then(|| head.saturating_sub(queries.position()));
    Ok((head, lag))
}

pub async fn refresh<'a>(sources: impl Into<Sources<'a>>) {
    let sources = sources.into();
    let Sources {
        queries,
        observer,
        push,
        ..
    } = sources;
    let now = Utc::now();
    let pending = queries.pending_total();
    metrics::gauge!("annal_commands_pending").set(pending as f64);
    metrics::gauge!("annal_projection_position").set(queries.position() as f64);
    match projection_lag(sources).await {
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
    let writable = if observer.writes.refusing() { 0.0 } else { 1.0 };
    metrics::gauge!("annal_store_writable").set(writable);
    // Computed now rather than at the last push, so the alarm shows even when nothing is
    // retried any more.
    let (unreachable, alarm) = push.apns_unreachable();
    metrics::gauge!("annal_push_apns_unreachable_seconds").set(unreachable.map_or(0.0, |d| d.as_secs_f64()));
    metrics::gauge!("annal_push_apns_alarm").set(if alarm { 1.0 } else { 0.0 });
    let certificates = [
        ("ca", observer.ca_not_after()),
        ("tls", observer.tls_not_after()),
        ("push", push.status().not_after),
    ];
    for (name, not_after) in certificates {
        if let Some(t) = not_after {
            metrics::gauge!("annal_certificate_expiry_seconds", "certificate" => name).set(seconds_left(t, now));
        }
    }
    // As for the push certificate: 1 while the server's certificate is inside the renewal
    // window. Annal renews its own then; one that stays at 1 is the admin's to replace.
    if let Some(t) = observer.tls_not_after() {
        let expiring = t - now < chrono::Duration::days(crate::server::tls::RENEW_BEFORE_DAYS);
        metrics::gauge!("annal_tls_certificate_expiring").set(if expiring { 1.0 } else { 0.0 });
    }
}

fn seconds_left(not_after: DateTime<Utc>, now: DateTime<Utc>) -> f64 {
    (not_after - now).num_seconds() as f64
}

//! The event stream for analytics pipelines: `GET /v1/events` (NDJSON bulk read from a
//! position) and `GET /v1/events/stream` (Server-Sent Events: catch-up, then live; resumable
//! with `Last-Event-ID`, which is the last global position the client saw).

use std::convert::Infallible;
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::{Stream, StreamExt};
use serde::Deserialize;

use super::error::ApiError;
use super::extract::Query;
use super::render::{event_json, RawView};
use crate::domain::access::Caller;
use crate::http::AppState;

const PAGE: usize = 1000;
/// How often an open event stream re-checks its API key.
const RECHECK_KEY: Duration = Duration::from_secs(2);
/// Most events one NDJSON request returns; the client continues from the last position + 1.
/// Only returned events count, so a filtered read scans on until it has them or reaches the head.
pub const MAX_BULK: u64 = 100_000;

#[derive(Debug, Deserialize)]
pub struct EventsQuery {
    /// First global position to return (default 1).
    pub from: Option<u64>,
    pub limit: Option<u64>,
    /// Comma-separated event types to keep (default: all).
    pub types: Option<String>,
    #[serde(default)]
    pub include_raw: bool,
}

impl EventsQuery {
    fn keeps(&self) -> impl Fn(&str) -> bool + Send + Sync + 'static {
        let types: Option<Vec<String>> = self.types.as_ref().map(|t| {
            t.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        });
        move |event_type| types.as_ref().is_none_or(|t| t.iter().any(|x| x == event_type))
    }
}

pub async fn bulk(State(app): State<AppState>, caller: Caller, Query(q): Query<EventsQuery>) -> Response {
    let from = q.from.unwrap_or(1).max(1);
    let limit = q.limit.unwrap_or(MAX_BULK).clamp(1, MAX_BULK);
    let keep = std::sync::Arc::new(q.keeps());
    let include_raw = RawView::of(q.include_raw, caller.role);
    let store = app.store.clone();
    // Paged reads streamed out as they come: a large export never sits in memory whole.
    let lines = futures::stream::unfold((from, 0u64, false), move |(next, sent, done)| {
        let (store, keep) = (store.clone(), keep.clone());
        async move {
            if done || sent >= limit {
                return None;
            }
            // `limit` counts the events returned, not those scanned: a filter that matches
            // nothing in a stretch of the log reads on to the head instead of answering empty.
            match store.read_all(next, PAGE).await {
                Ok(page) if page.is_empty() => None,
                Ok(page) => {
                    let mut chunk = Vec::new();
                    let (mut kept, mut last) = (sent, next.saturating_sub(1));
                    for e in &page {
                        if kept >= limit {
                            break;
                        }
                        last = e.global_position;
                        if keep(&e.event_type) {
                            chunk.extend_from_slice(event_json(e, include_raw).to_string().as_bytes());
                            chunk.push(b'\n');
                            kept += 1;
                        }
                    }
                    let ended = page.len() < PAGE || kept >= limit;
                    Some((Ok::<_, std::io::Error>(chunk), (last + 1, kept, ended)))
                }
                // The status line is already sent: end the body early; the client sees a
                // truncated read and continues from its last position.
                Err(e) => Some((Err(std::io::Error::other(e.to_string())), (next, sent, true))),
            }
        }
    });
    (
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(lines),
    )
        .into_response()
}

pub async fn stream(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Query(q): Query<EventsQuery>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let resume = headers
        .get("last-event-id")
        .map(|v| {
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .ok_or_else(|| ApiError::invalid("Last-Event-ID must be a global position"))
        })
        .transpose()?;
    let from = match resume {
        None => q.from.unwrap_or(1).max(1),
        Some(p) => p
            .checked_add(1)
            .ok_or_else(|| ApiError::invalid("Last-Event-ID is out of range"))?,
    };
    let keep = q.keeps();
    let include_raw = RawView::of(q.include_raw, caller.role);
    let events = app.store.clone().subscribe_all(from).filter_map(move |item| {
        let out = match item {
            Ok(e) if keep(&e.event_type) => Some(
                SseEvent::default()
                    .id(e.global_position.to_string())
                    .event(e.event_type.clone())
                    .data(event_json(&e, include_raw).to_string()),
            ),
            Ok(_) => None,
            // A gap or a store failure ends the stream with a named error; the client resumes
            // from its Last-Event-ID.
            Err(err) => Some(SseEvent::default().event("error").data(err.to_string())),
        };
        futures::future::ready(out.map(Ok))
    });
    // The stream ends at shutdown, and when its key stops being valid (revoked on any node):
    // a key is checked at connect, so a long-lived stream checks again as it goes.
    let mut stopping = app.stopping.clone();
    let admin = app.admin.clone();
    let events = events.take_until(async move {
        let revoked = async {
            loop {
                tokio::time::sleep(RECHECK_KEY).await;
                if admin.check(&headers).await.is_err() {
                    tracing::info!("ending an event stream: its API key is no longer valid");
                    return;
                }
            }
        };
        tokio::select! {
            _ = stopping.wait_for(|s| *s) => {},
            _ = revoked => {},
        }
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

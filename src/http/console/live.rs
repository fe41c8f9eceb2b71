//! Live updates for a signed-in console page, as Server-Sent Events that `live.js` (served
//! here, from the binary) applies without a reload; every page is complete without them.
//!
//! - `GET /console/live`: the overview's counters (`overview::Counters`), sent when the log's
//!   head moves (at most once a [`COALESCE`]); the two counts that walk the inventory are
//!   taken again at most every [`WALK_EVERY`], so an open overview does not walk a large fleet
//!   at the rate devices write.
//! - `GET /console/devices/{id}/live`: the device's new events, as the history shows them
//!   (`history::Row`, redacted for the session's role exactly as the page), each followed by
//!   its queue as the read models have it then. It follows the log with the store's one
//!   subscription (`subscribe_all`, the admin API's `/v1/events/stream` mechanism), keeping the
//!   device's stream; resumable with `Last-Event-ID` (a global position).
//!
//! A stream is opened with the same session checks as a page (the `Signed` extractor: a GET
//! without a session is sent to the sign-in form) and checks its session again every
//! [`RECHECK`] without counting as a use of it: sign-out, the idle or absolute end, or the key's
//! revocation end it with an `end` event, which `live.js` takes as "stop, do not reconnect".
//! JSON only: the script puts every value in with `textContent`.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use annal_projections::commands::CommandStatus;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use chrono::{DateTime, Utc};
use futures::stream::{self, BoxStream, StreamExt};
use serde::Serialize;

use super::csrf::Form;
use super::history::Row;
use super::layout;
use super::overview;
use super::session::{Session, Sessions, Signed};
use crate::domain::enrollment::stream_name;
use crate::http::admin::render::RawView;
use crate::http::AppState;

/// The script, embedded in the binary.
const SCRIPT: &str = include_str!("live.js");
/// How often an open stream checks that its session is still open.
const RECHECK: Duration = Duration::from_secs(2);
/// Counter updates closer together than this are sent as one.
const COALESCE: Duration = Duration::from_secs(1);
/// The counts that walk the inventory are taken at most this often (and at least this often
/// while the log moves).
const WALK_EVERY: Duration = Duration::from_secs(10);
/// A device stream starts at most this many events back; a page older than that is told to
/// reload instead of the log being read from far behind.
const BACKLOG: u64 = 10_000;

/// `GET /console/static/live.js`.
pub async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "private, max-age=3600"),
        ],
        SCRIPT,
    )
        .into_response()
}

/// What a stream carries before it becomes SSE frames.
enum Item {
    Frame(SseEvent),
    /// The last frame: why the stream ends.
    End(&'static str),
}

/// A frame of JSON; a value that cannot be serialized (none of ours) becomes an error frame.
fn json_frame(name: &'static str, value: &impl Serialize) -> SseEvent {
    SseEvent::default()
        .event(name)
        .json_data(value)
        .unwrap_or_else(|e| SseEvent::default().event("failure").data(e.to_string()))
}

/// Resolves when the session is over (signed out, idle, expired, key revoked) or the server
/// stops, with the reason the `end` frame gives.
async fn closed(app: AppState, sessions: Arc<Sessions>, session: Session) -> &'static str {
    let mut stopping = app.stopping.clone();
    let over = async {
        loop {
            tokio::time::sleep(RECHECK).await;
            match sessions.still_open(&app, &session).await {
                Ok(true) => {}
                Ok(false) => {
                    tracing::info!(actor = %session.caller.actor, "ending a console live stream: its session ended");
                    return "session";
                }
                // The key ring cannot be read now: keep going, as a page would be refused
                // (503) but the session is not known to be over.
                Err(e) => tracing::warn!(error = %e, "a console live stream could not check its session"),
            }
        }
    };
    tokio::select! {
        _ = stopping.wait_for(|s| *s) => "stopping",
        reason = over => reason,
    }
}

/// `items` until `closed` resolves or `items` ends itself (with an `Item::End`), then one `end`
/// frame and the end of the body; as an SSE response.
fn respond(items: BoxStream<'static, Item>, closed: impl Future<Output = &'static str> + Send + 'static) -> Response {
    let ending = stream::once(closed).map(Item::End).boxed();
    let mut merged = stream::select(items, ending);
    let mut ended = false;
    // Stops right after the `end` frame, whichever side gave it (the other may never finish).
    let frames = stream::poll_fn(move |cx| {
        if ended {
            return Poll::Ready(None);
        }
        match merged.poll_next_unpin(cx) {
            Poll::Ready(Some(Item::Frame(frame))) => Poll::Ready(Some(Ok::<_, Infallible>(frame))),
            Poll::Ready(Some(Item::End(reason))) => {
                ended = true;
                Poll::Ready(Some(Ok(SseEvent::default().event("end").data(reason))))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    });
    Sse::new(frames)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

/// `GET /console/live`: the overview's counters now, then again as the log moves.
pub async fn fleet(
    State(app): State<AppState>,
    Extension(sessions): Extension<Arc<Sessions>>,
    Signed(session): Signed,
) -> Response {
    struct Tick {
        app: AppState,
        head: tokio::sync::watch::Receiver<u64>,
        walked: Option<((usize, usize), Instant)>,
        first: bool,
    }
    let tick = Tick {
        head: app.store.watch_head(),
        app: app.clone(),
        walked: None,
        first: true,
    };
    let counters = stream::unfold(tick, |mut t| async move {
        if !t.first {
            // The next change of the head, or the walk's period when the log is quiet (quiet
            // devices become quiet with the clock, not the log).
            tokio::select! {
                changed = t.head.changed() => if changed.is_err() { return None },
                _ = tokio::time::sleep(WALK_EVERY) => {}
            }
            tokio::time::sleep(COALESCE).await;
            t.head.borrow_and_update();
        }
        t.first = false;
        let walked = match t.walked {
            Some((counts, at)) if at.elapsed() < WALK_EVERY => counts,
            _ => {
                let counts = overview::walked(&t.app).await;
                t.walked = Some((counts, Instant::now()));
                counts
            }
        };
        let counters = overview::counters(&t.app, walked).await;
        Some((Item::Frame(json_frame("counters", &counters)), t))
    });
    respond(counters.boxed(), closed(app, sessions, session))
}

/// A pending command as the device page's queue table shows it.
#[derive(Debug, Serialize)]
struct Queued {
    command_uuid: String,
    request_type: String,
    queued_at: DateTime<Utc>,
    requester: String,
    reason: Option<String>,
    status: &'static str,
    deliveries: u32,
}

impl From<&CommandStatus> for Queued {
    fn from(c: &CommandStatus) -> Self {
        Queued {
            command_uuid: c.command_uuid.clone(),
            request_type: c.request_type.clone(),
            queued_at: c.queued_at,
            requester: c.requester.clone(),
            reason: c.reason.clone(),
            status: c.status.as_str(),
            deliveries: c.deliveries,
        }
    }
}

/// The first position a device stream sends: after `Last-Event-ID` (a reconnect), or `from`
/// (the page's), or the log's head now.
fn start(headers: &HeaderMap, params: &Form, head: u64) -> Result<u64, &'static str> {
    let resumed = headers
        .get("last-event-id")
        .map(|v| {
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .and_then(|p| p.checked_add(1))
                .ok_or("Last-Event-ID must be a log position")
        })
        .transpose()?;
    let given = params
        .get("from")
        .map(|f| f.parse::<u64>().map_err(|_| "from must be a log position"))
        .transpose()?;
    Ok(resumed.or(given).unwrap_or(head.saturating_add(1)).max(1))
}

/// `GET /console/devices/{id}/live`: the device's events after `from`, and its queue after each.
pub async fn device(
    State(app): State<AppState>,
    Extension(sessions): Extension<Arc<Sessions>>,
    Signed(session): Signed,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    if app.queries().queue(&id).await.is_none() {
        return layout::error_page(
            StatusCode::NOT_FOUND,
            "Not found",
            &format!("no enrollment {id}"),
            Some(&session),
        );
    }
    let head = *app.store.watch_head().borrow();
    let from = match start(&headers, &Form::query(raw.as_deref()), head) {
        Ok(from) => from,
        Err(message) => return layout::error_page(StatusCode::BAD_REQUEST, "Not accepted", message, Some(&session)),
    };
    // Far behind: the page is stale; say so rather than read the log from there.
    let oldest = head.saturating_sub(BACKLOG).max(1);
    let gap = (from < oldest).then(|| Item::Frame(SseEvent::default().event("gap").data("reload the page")));
    let stream = stream_name(&id);
    let view = RawView::of(true, session.caller.role);
    let events = app
        .store
        .clone()
        .subscribe_all(from.max(oldest))
        .filter(move |item| futures::future::ready(item.as_ref().map_or(true, |e| e.stream == stream)))
        .then({
            let app = app.clone();
            move |item| {
                let (app, id) = (app.clone(), id.clone());
                async move {
                    match item {
                        Ok(e) => {
                            let row = json_frame("history", &Row::of(&e, view)).id(e.global_position.to_string());
                            // The queue once the read models include this event (a read waits
                            // for that, briefly).
                            let queue: Vec<Queued> = app
                                .queries()
                                .queue(&id)
                                .await
                                .map(|q| q.value.iter().map(Queued::from).collect())
                                .unwrap_or_default();
                            vec![Item::Frame(row), Item::Frame(json_frame("queue", &queue))]
                        }
                        // A gap or a store failure ends the subscription: say so, then end.
                        Err(e) => vec![
                            Item::Frame(SseEvent::default().event("failure").data(e.to_string())),
                            Item::End("error"),
                        ],
                    }
                }
            }
        })
        .flat_map(stream::iter);
    let items = stream::iter(gap).chain(events).boxed();
    respond(items, closed(app, sessions, session))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_starts_after_the_last_event_seen_or_from_or_the_head() {
        let mut headers = HeaderMap::new();
        let none = Form::query(None);
        assert_eq!(start(&headers, &none, 41), Ok(42));
        assert_eq!(start(&headers, &Form::query(Some("from=7")), 41), Ok(7));
        headers.insert("last-event-id", "9".parse().unwrap());
        assert_eq!(start(&headers, &Form::query(Some("from=7")), 41), Ok(10));
        headers.insert("last-event-id", "x".parse().unwrap());
        assert!(start(&headers, &none, 41).is_err());
        assert!(start(&HeaderMap::new(), &Form::query(Some("from=-1")), 41).is_err());
        assert_eq!(start(&HeaderMap::new(), &Form::query(Some("from=0")), 0), Ok(1));
    }
}

//! Refused requests are answered cleanly. A handler that refuses a request before reading its
//! body (a missing or wrong API key, a device whose headers prove nothing, a route that does not
//! exist) drops the body unread; over HTTP/2 hyper then resets the stream while the client is
//! still sending, and clients such as curl report a stream error (exit 92) instead of the 401,
//! 403 or 404 they were sent. So the unread rest of a refused body is read and thrown away
//! before the answer goes out, up to [`DRAIN_MAX`] bytes and [`DRAIN_WAIT`]: enough for every
//! honest request, and a client that sends more is not worth the wait (its stream is reset, as
//! before). The body stays under the pace layer's limits while it is drained.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt;

/// The most of a refused body that is read to answer it cleanly.
pub const DRAIN_MAX: usize = 1 << 20;

/// The longest a refusal waits for the rest of its body.
pub const DRAIN_WAIT: Duration = Duration::from_secs(2);

/// A body declared this small fits HTTP/2's initial flow-control window (64 KiB): the client
/// has sent all of it before any answer, so dropping it unread resets nothing. Check-ins and
/// Idle polls (a few KiB, with Content-Length) pass untouched: no wrapper on the device path.
pub const SMALL_BODY: u64 = 16 << 10;

/// The layer: every request body with content is watched; a refusal (4xx) whose body was left
/// unread drains it before answering.
pub async fn drain_refused(request: Request, next: Next) -> Response {
    let body = request.body();
    let small = http_body::Body::size_hint(body)
        .exact()
        .is_some_and(|n| n <= SMALL_BODY);
    if small || http_body::Body::is_end_stream(body) {
        return next.run(request).await;
    }
    let left = Arc::new(Mutex::new(None));
    let watched = request.map(|body| {
        Body::new(Watched {
            inner: Some(body),
            finished: false,
            left: left.clone(),
        })
    });
    let response = next.run(watched).await;
    if !response.status().is_client_error() {
        return response;
    }
    let unread = left.lock().map(|mut slot| slot.take()).unwrap_or_default();
    if let Some(body) = unread {
        let _ = tokio::time::timeout(DRAIN_WAIT, drain(body)).await;
    }
    response
}

/// Reads and drops up to [`DRAIN_MAX`] bytes; stops at the end, an error or the bound.
async fn drain(mut body: Body) {
    let mut read = 0usize;
    while let Some(Ok(frame)) = body.frame().await {
        if let Some(data) = frame.data_ref() {
            read = read.saturating_add(data.len());
            if read > DRAIN_MAX {
                return;
            }
        }
    }
}

/// A request body that, dropped before its end, leaves itself in `left` for the layer.
struct Watched {
    inner: Option<Body>,
    finished: bool,
    left: Arc<Mutex<Option<Body>>>,
}

impl http_body::Body for Watched {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let Some(inner) = self.inner.as_mut() else {
            return Poll::Ready(None);
        };
        let polled = Pin::new(inner).poll_frame(cx);
        if let Poll::Ready(None) | Poll::Ready(Some(Err(_))) = &polled {
            self.finished = true;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(|b| b.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.as_ref().map(|b| b.size_hint()).unwrap_or_default()
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        if let (Some(body), Ok(mut slot)) = (self.inner.take(), self.left.lock()) {
            if !http_body::Body::is_end_stream(&body) {
                *slot = Some(body);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;
    use axum::routing::put;
    use axum::Router;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tower::ServiceExt as _;

    /// A body of `chunks` pieces that counts how many were read.
    fn counted(chunks: usize, read: Arc<AtomicUsize>) -> Body {
        let stream = futures::stream::iter((0..chunks).map(move |_| {
            read.fetch_add(1, Ordering::SeqCst);
            Ok::<_, std::io::Error>(Bytes::from(vec![b'x'; 1024]))
        }));
        Body::from_stream(stream)
    }

    fn app() -> Router {
        Router::new()
            .route("/refuse", put(|| async { StatusCode::UNAUTHORIZED }))
            .route("/read", put(|body: Bytes| async move { body.len().to_string() }))
            .layer(axum::middleware::from_fn(drain_refused))
    }

    async fn send(path: &str, chunks: usize) -> (StatusCode, usize) {
        let read = Arc::new(AtomicUsize::new(0));
        let request = Request::put(path).body(counted(chunks, read.clone())).unwrap();
        let response = app().oneshot(request).await.unwrap();
        (response.status(), read.load(Ordering::SeqCst))
    }

    #[tokio::test]
    async fn a_refusal_reads_the_rest_of_its_body_before_answering() {
        assert_eq!(send("/refuse", 8).await, (StatusCode::UNAUTHORIZED, 8));
    }

    #[tokio::test]
    async fn an_unknown_route_drains_too() {
        assert_eq!(send("/nowhere", 8).await, (StatusCode::NOT_FOUND, 8));
    }

    #[tokio::test]
    async fn a_refused_body_past_the_bound_is_not_read_to_its_end() {
        let chunks = DRAIN_MAX / 1024 + 64;
        let (status, read) = send("/refuse", chunks).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(read <= DRAIN_MAX / 1024 + 2, "read {read} KiB of a refused body");
    }

    #[tokio::test]
    async fn a_handler_that_reads_its_body_is_untouched() {
        let read = Arc::new(AtomicUsize::new(0));
        let request = Request::put("/read").body(counted(4, read.clone())).unwrap();
        let response = app().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"4096");
    }
}

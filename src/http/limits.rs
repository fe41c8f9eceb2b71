//! Bounds on what a client can make the server hold before it has proven anything: how long it
//! may take to send its headers and its body, how slowly it may send a body, how large a body
//! an unidentified request may have, and how many connections may be open at once.
//!
//! The header timeout, the TLS handshake timeout and the connection cap are applied where
//! connections are accepted (`annal serve`, [`crate::http::listener`]); the body timeout and the
//! minimum rate by [`timed_bodies`], a layer every route gets, so no handler can forget them.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use http_body::{Frame, SizeHint};
use tokio::time::{Instant, Sleep};

/// A device request with no identity (accepted only with `--insecure-accept-unsigned-devices`)
/// and the enrollment endpoints get this much body at most: a check-in or an Idle poll is a few
/// KiB, and whoever sends more without saying who they are gets nothing buffered for it.
pub const UNIDENTIFIED_MAX_BODY: usize = 1 << 20;

/// The defaults of `annal serve`'s limit options.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_MIN_BODY_RATE: u64 = 1024;
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;

/// How request bodies are bounded in time. Zero turns a bound off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyPace {
    /// Longest wait for the next piece of a body; also the grace period before the minimum
    /// rate applies, so a slow first round trip is not punished.
    pub read_timeout: Duration,
    /// Bytes per second a body must average once the grace period is over.
    pub min_rate: u64,
}

/// How large a device request's body may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodySizes {
    /// A request whose identity (client certificate, or the Mdm-Signature's signer) verified.
    pub identified: usize,
    /// A request with no identity (only with `--insecure-accept-unsigned-devices`).
    pub unidentified: usize,
}

/// A request body that ends in [`SlowBody`] when the client stalls or trickles.
pub async fn timed_bodies(pace: axum::extract::State<BodyPace>, request: Request, next: Next) -> Response {
    let pace = pace.0;
    // Nothing to wait for (a GET, an empty body): no timer either.
    if pace.read_timeout.is_zero() || http_body::Body::is_end_stream(request.body()) {
        return next.run(request).await;
    }
    let slow = Arc::new(AtomicBool::new(false));
    let flag = slow.clone();
    let mut response = next
        .run(request.map(|body| Body::new(TimedBody::new(body, pace, flag))))
        .await;
    // Whatever the handler's extractor made of the cut-off body (a 400 "failed to buffer"), the
    // client is told why, and the connection is not kept for another slow request.
    if slow.load(Ordering::Relaxed) {
        *response.status_mut() = StatusCode::REQUEST_TIMEOUT;
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// Why a request body was cut off: the client sent it too slowly.
#[derive(Debug, thiserror::Error)]
#[error("the request body arrived too slowly (more than {timeout:?} without data, or under {min_rate} bytes/s)")]
pub struct SlowBody {
    pub timeout: Duration,
    pub min_rate: u64,
}

/// Whether `error`, or an error it wraps, is a [`SlowBody`].
pub fn is_slow_body(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(e) = current {
        if e.is::<SlowBody>() {
            return true;
        }
        current = e.source();
    }
    false
}

struct TimedBody {
    inner: Body,
    pace: BodyPace,
    started: Instant,
    received: u64,
    deadline: Pin<Box<Sleep>>,
    failed: bool,
    /// Set when the body was cut off, for [`timed_bodies`] to see after the handler.
    slow: Arc<AtomicBool>,
}

impl TimedBody {
    fn new(inner: Body, pace: BodyPace, slow: Arc<AtomicBool>) -> Self {
        let started = Instant::now();
        Self {
            inner,
            pace,
            started,
            received: 0,
            deadline: Box::pin(tokio::time::sleep_until(started + pace.read_timeout)),
            failed: false,
            slow,
        }
    }

    fn fail(&mut self) -> axum::Error {
        self.failed = true;
        self.slow.store(true, Ordering::Relaxed);
        axum::Error::new(SlowBody {
            timeout: self.pace.read_timeout,
            min_rate: self.pace.min_rate,
        })
    }

    /// The next piece must come by the stall timeout, and soon enough that the average since
    /// the start (after the grace period) stays at the minimum rate.
    fn next_deadline(&self, now: Instant) -> Instant {
        let stall = now + self.pace.read_timeout;
        if self.pace.min_rate == 0 {
            return stall;
        }
        // What the bytes so far have earned at the minimum rate, in nanoseconds (u128: no
        // overflow for any count or rate).
        let earned_nanos = u128::from(self.received) * 1_000_000_000 / u128::from(self.pace.min_rate);
        let earned = Duration::from_nanos(u64::try_from(earned_nanos).unwrap_or(u64::MAX));
        self.started
            .checked_add(self.pace.read_timeout)
            .and_then(|t| t.checked_add(earned))
            .map_or(stall, |by_rate| stall.min(by_rate))
    }
}

impl http_body::Body for TimedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        if self.failed {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.inner).poll_frame(cx) {
            // A piece that comes after the deadline does not rescue a body that was too slow.
            Poll::Ready(Some(Ok(_))) if Instant::now() >= self.deadline.deadline() => {
                Poll::Ready(Some(Err(self.fail())))
            }
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    self.received += data.len() as u64;
                }
                let next = self.next_deadline(Instant::now());
                self.deadline.as_mut().reset(next);
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Pending => match self.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(self.fail()))),
                Poll::Pending => Poll::Pending,
            },
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.failed || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt as _;
    use http_body_util::BodyExt;

    fn pace(secs: u64, min_rate: u64) -> BodyPace {
        BodyPace {
            read_timeout: Duration::from_secs(secs),
            min_rate,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_stalled_body_fails_after_the_read_timeout() {
        let (mut tx, rx) = futures::channel::mpsc::channel::<Result<Bytes, std::io::Error>>(1);
        let slow = Arc::new(AtomicBool::new(false));
        let body = TimedBody::new(Body::from_stream(rx), pace(5, 0), slow.clone());
        tx.try_send(Ok(Bytes::from_static(b"abc"))).unwrap();
        let started = Instant::now();
        let err = body.collect().await.unwrap_err();
        assert!(is_slow_body(&err), "{err}");
        assert!(slow.load(Ordering::Relaxed), "the layer is told");
        assert_eq!(started.elapsed(), Duration::from_secs(5));
        drop(tx);
    }

    #[tokio::test(start_paused = true)]
    async fn a_trickle_under_the_minimum_rate_fails_after_the_grace_period() {
        let (mut tx, rx) = futures::channel::mpsc::channel::<Result<Bytes, std::io::Error>>(1);
        let mut body = TimedBody::new(Body::from_stream(rx), pace(10, 100), Default::default());
        let started = Instant::now();
        // One byte every 4 s: never a 10 s stall, but 0.25 bytes/s.
        let result = loop {
            tx.try_send(Ok(Bytes::from_static(b"x"))).unwrap();
            match body.frame().await {
                Some(Ok(_)) => tokio::time::sleep(Duration::from_secs(4)).await,
                Some(Err(e)) => break e,
                None => panic!("ended"),
            }
            if started.elapsed() > Duration::from_secs(60) {
                panic!("a trickle was never cut off");
            }
        };
        assert!(is_slow_body(&result));
        assert!(started.elapsed() <= Duration::from_secs(12), "{:?}", started.elapsed());
    }

    #[tokio::test(start_paused = true)]
    async fn a_steady_body_is_untouched() {
        let chunks: Vec<Result<Bytes, std::io::Error>> = (0..20).map(|_| Ok(Bytes::from(vec![7u8; 1000]))).collect();
        let stream = futures::stream::iter(chunks).then(|c| async move {
            tokio::time::sleep(Duration::from_secs(2)).await;
            c
        });
        let body = TimedBody::new(Body::from_stream(stream), pace(5, 100), Default::default());
        assert_eq!(body.collect().await.unwrap().to_bytes().len(), 20_000);
    }
}

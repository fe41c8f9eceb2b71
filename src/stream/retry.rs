//! Waiting out a failure without holding up shutdown: every sink retries until its receiver
//! takes the event (skipping one would lose it), but a stop request ends the wait at once.

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;

use crate::backoff::Backoff;

/// Runs `attempt` until it succeeds, sleeping `backoff` after each failure; `failed` is told the
/// attempt number, the wait and the error (to log them). None when a stop was asked after a
/// failed attempt: an attempt under way is always finished first.
pub async fn until_ok<T, E, F, Fut>(
    backoff: Backoff,
    stop: &mut watch::Receiver<bool>,
    mut attempt: F,
    mut failed: impl FnMut(u32, Duration, &E),
) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut attempts = 0u32;
    loop {
        attempts = attempts.saturating_add(1);
        let error = match attempt().await {
            Ok(value) => return Some(value),
            Err(e) => e,
        };
        let wait = backoff.jittered(attempts);
        failed(attempts, wait, &error);
        if sleep_or_stop(wait, stop).await {
            return None;
        }
    }
}

/// Sleeps `wait`; true if a stop was asked meanwhile (or the handle is gone).
pub async fn sleep_or_stop(wait: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    if *stop.borrow() {
        return true;
    }
    tokio::select! {
        _ = tokio::time::sleep(wait) => {}
        _ = stopped(stop) => return true,
    }
    *stop.borrow()
}

/// Resolves once a stop is asked or the handle is gone. Returns nothing, so no borrow of the
/// watch value (which is not `Send`) lives across an await.
pub async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Milliseconds for a log field.
pub fn millis(wait: Duration) -> u64 {
    u64::try_from(wait.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn retries_until_ok_and_a_stop_ends_the_wait() {
        let backoff = Backoff {
            initial: Duration::from_millis(1),
            max: Duration::from_millis(2),
        };
        let (_tx, mut stop) = watch::channel(false);
        let mut calls = 0;
        let mut seen = Vec::new();
        let got = until_ok(
            backoff,
            &mut stop,
            || {
                calls += 1;
                let n = calls;
                async move {
                    if n < 3 {
                        Err(n)
                    } else {
                        Ok("done")
                    }
                }
            },
            |attempt, _, e| seen.push((attempt, *e)),
        )
        .await;
        assert_eq!(got, Some("done"));
        assert_eq!(seen, [(1, 1), (2, 2)]);

        let (tx, mut stop) = watch::channel(false);
        let slow = Backoff {
            initial: Duration::from_secs(60),
            max: Duration::from_secs(60),
        };
        let waiting =
            tokio::spawn(
                async move { until_ok(slow, &mut stop, || async { Err::<(), _>("down") }, |_, _, _| {}).await },
            );
        tokio::time::sleep(Duration::from_millis(20)).await;
        tx.send_replace(true);
        let ended = tokio::time::timeout(Duration::from_secs(5), waiting).await;
        assert_eq!(ended.unwrap().unwrap(), None, "a stop ends the backoff");
    }
}

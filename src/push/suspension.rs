//! Stopping pushes while APNs refuses the push certificate. Every push would fail the same way,
//! so sending them would only hammer APNs and fill the log: after a refusal nothing is sent for
//! a while; then exactly one push probes, and the others wait for its answer.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The longest suspension: refusals that keep coming double it up to this.
const MAX_SUSPENSION: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone)]
pub(super) struct Suspension {
    pub reason: String,
    pub until: Instant,
    length: Duration,
    /// The suspension has run out and one push is probing; the rest still wait.
    probing: bool,
}

pub(super) struct Suspender {
    state: Mutex<Option<Suspension>>,
    /// Each suspension doubles the previous one's length, from `initial` up to an hour.
    lengths: crate::backoff::Backoff,
}

impl Suspender {
    pub fn new(base: Duration) -> Self {
        Self {
            state: Mutex::new(None),
            lengths: crate::backoff::Backoff::new(base, MAX_SUSPENSION),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Suspension>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The suspension in force at `now` (a probe in flight counts as suspended).
    pub fn current(&self, now: Instant) -> Option<Suspension> {
        self.lock().clone().filter(|s| s.until > now || s.probing)
    }

    /// Asked right before a push is sent (after it waited for its turn on the connection, so a
    /// refusal that arrived meanwhile is seen). Once a suspension has run out, the first caller
    /// is admitted as the probe.
    pub fn admit(&self, now: Instant) -> Result<(), Suspension> {
        let mut state = self.lock();
        match state.as_mut() {
            None => Ok(()),
            Some(s) if s.until > now || s.probing => Err(s.clone()),
            Some(s) => {
                s.probing = true;
                Ok(())
            }
        }
    }

    /// APNs refused the certificate. Refusals of pushes that were already on their way during a
    /// suspension change nothing; the first one (or a failed probe) suspends, doubling the
    /// previous length. Returns the new suspension's length when one started.
    pub fn refused(&self, reason: String, now: Instant) -> Option<Duration> {
        let mut state = self.lock();
        if state.as_ref().is_some_and(|s| s.until > now) {
            return None;
        }
        let length = state
            .as_ref()
            .map_or(self.lengths.initial, |s| self.lengths.next(s.length));
        *state = Some(Suspension {
            reason,
            until: now + length,
            length,
            probing: false,
        });
        Some(length)
    }

    /// A push went through: pushing resumes. Returns whether a suspension ended.
    pub fn accepted(&self) -> bool {
        self.lock().take().is_some()
    }

    /// A probe got an answer that says nothing about the certificate (a retry, a dead token):
    /// the next push probes again.
    pub fn undecided(&self) {
        if let Some(s) = self.lock().as_mut() {
            s.probing = false;
        }
    }

    /// A new certificate was installed: it deserves a new chance.
    pub fn clear(&self) {
        *self.lock() = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_refusal_suspends_then_one_probe_goes_through() {
        let s = Suspender::new(Duration::from_secs(10));
        let t0 = Instant::now();
        assert!(s.admit(t0).is_ok());
        assert_eq!(s.refused("403".into(), t0), Some(Duration::from_secs(10)));
        // Refusals of pushes already in flight neither extend nor double it.
        assert_eq!(s.refused("403".into(), t0 + Duration::from_secs(1)), None);
        assert!(s.admit(t0 + Duration::from_secs(5)).is_err());
        assert!(s.current(t0 + Duration::from_secs(5)).is_some());
        // Run out: exactly one probe is admitted.
        let later = t0 + Duration::from_secs(11);
        assert!(s.admit(later).is_ok());
        assert!(s.admit(later).is_err());
        assert!(s.current(later).is_some(), "suspended while the probe is out");
        // The probe is refused too: twice as long.
        assert_eq!(s.refused("403".into(), later), Some(Duration::from_secs(20)));
        let much_later = later + Duration::from_secs(21);
        assert!(s.admit(much_later).is_ok());
        assert!(s.accepted());
        assert!(s.admit(much_later).is_ok() && s.current(much_later).is_none());
    }

    #[test]
    fn an_undecided_probe_lets_the_next_push_probe() {
        let s = Suspender::new(Duration::from_secs(1));
        let t0 = Instant::now();
        s.refused("403".into(), t0);
        let later = t0 + Duration::from_secs(2);
        assert!(s.admit(later).is_ok());
        s.undecided();
        assert!(s.admit(later).is_ok());
        s.clear();
        assert!(s.current(later).is_none());
    }
}

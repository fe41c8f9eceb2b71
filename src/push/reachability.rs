//! Whether APNs answers at all. A push that gets no answer (network, DNS, a firewall, a proxy)
//! is retried quietly, so an outage would otherwise show only as `outcome="retry"`: this keeps
//! when the answers stopped, logs when they stop and come back, and raises an alarm (a log
//! error and `annal_push_apns_alarm`) once they have been gone for the configured time.

use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Default)]
struct Outage {
    since: Option<Instant>,
    alarmed: bool,
}

/// What a change of reachability means for the operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The first push without an answer after answers.
    Lost,
    /// No answer for at least the alarm threshold, said once per outage.
    Alarm(Duration),
    /// Answers again after an outage of this long.
    Back(Duration),
}

#[derive(Debug)]
pub struct Reachability {
    alarm_after: Duration,
    outage: Mutex<Outage>,
}

impl Reachability {
    pub fn new(alarm_after: Duration) -> Self {
        Self {
            alarm_after,
            outage: Mutex::default(),
        }
    }

    /// A push got no answer at `now`.
    pub fn unanswered(&self, now: Instant) -> Option<Change> {
        let mut outage = self.outage.lock().unwrap_or_else(|p| p.into_inner());
        let Some(since) = outage.since else {
            outage.since = Some(now);
            return Some(Change::Lost);
        };
        let gone = now.saturating_duration_since(since);
        if gone >= self.alarm_after && !outage.alarmed {
            outage.alarmed = true;
            return Some(Change::Alarm(gone));
        }
        None
    }

    /// APNs answered (whatever it said) at `now`.
    pub fn answered(&self, now: Instant) -> Option<Change> {
        let mut outage = self.outage.lock().unwrap_or_else(|p| p.into_inner());
        let since = outage.since.take()?;
        outage.alarmed = false;
        Some(Change::Back(now.saturating_duration_since(since)))
    }

    /// How long APNs has not answered, if it has not.
    pub fn unreachable_for(&self, now: Instant) -> Option<Duration> {
        let outage = self.outage.lock().unwrap_or_else(|p| p.into_inner());
        outage.since.map(|since| now.saturating_duration_since(since))
    }

    /// Whether the outage has lasted past the alarm threshold.
    pub fn alarming(&self, now: Instant) -> bool {
        self.unreachable_for(now).is_some_and(|gone| gone >= self.alarm_after)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_is_said_when_it_starts_once_when_it_alarms_and_when_it_ends() {
        let r = Reachability::new(Duration::from_secs(60));
        let t0 = Instant::now();
        assert_eq!(r.answered(t0), None, "nothing to end");
        assert_eq!(r.unanswered(t0), Some(Change::Lost));
        assert_eq!(r.unanswered(t0 + Duration::from_secs(30)), None);
        assert!(!r.alarming(t0 + Duration::from_secs(59)));
        assert_eq!(
            r.unanswered(t0 + Duration::from_secs(61)),
            Some(Change::Alarm(Duration::from_secs(61)))
        );
        assert_eq!(r.unanswered(t0 + Duration::from_secs(90)), None, "said once");
        assert!(r.alarming(t0 + Duration::from_secs(90)));
        assert_eq!(
            r.unreachable_for(t0 + Duration::from_secs(90)),
            Some(Duration::from_secs(90))
        );
        assert_eq!(
            r.answered(t0 + Duration::from_secs(100)),
            Some(Change::Back(Duration::from_secs(100)))
        );
        assert_eq!(r.unreachable_for(t0 + Duration::from_secs(101)), None);
        assert!(!r.alarming(t0 + Duration::from_secs(101)));
        // A new outage alarms again.
        assert_eq!(r.unanswered(t0 + Duration::from_secs(200)), Some(Change::Lost));
        assert_eq!(
            r.unanswered(t0 + Duration::from_secs(300)),
            Some(Change::Alarm(Duration::from_secs(100)))
        );
    }
}

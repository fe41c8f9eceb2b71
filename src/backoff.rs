//! The one backoff: how long to wait before trying again, exponential from `initial` and capped
//! at `max`. Stream sinks and the subscription runner's resubscription add jitter so many nodes
//! (or webhooks) do not retry in lockstep; the push worker, the read-model writer, the event
//! follower, the KurrentDB subscription and the push-certificate suspension double a wait they
//! keep (`next`). Each use picks its own bounds.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(60),
        }
    }
}

impl Backoff {
    pub const fn new(initial: Duration, max: Duration) -> Self {
        Self { initial, max }
    }

    /// The exponential step after failed attempt number `attempt` (1 for the first failure),
    /// without jitter: `initial`, twice that, … up to `max`.
    pub fn step(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(31));
        self.initial.saturating_mul(factor).min(self.max)
    }

    /// The wait after `previous`: twice as long, up to `max`.
    pub fn next(&self, previous: Duration) -> Duration {
        previous.saturating_mul(2).min(self.max)
    }

    /// The wait after failed attempt number `attempt` (1 for the first failure). `jitter` in
    /// [0, 1] picks a point in the upper half of the exponential step ("equal jitter"): the wait
    /// still grows, but never collapses to zero against a receiver that is down.
    pub fn delay(&self, attempt: u32, jitter: f64) -> Duration {
        let step = self.step(attempt);
        step / 2 + step.mul_f64(jitter.clamp(0.0, 1.0)) / 2
    }

    /// `delay` with a random jitter.
    pub fn jittered(&self, attempt: u32) -> Duration {
        self.delay(attempt, rand::random::<f64>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_exponentially_up_to_the_cap_with_bounded_jitter() {
        let b = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(2),
        };
        assert_eq!(b.delay(1, 1.0), Duration::from_millis(100));
        assert_eq!(b.delay(1, 0.0), Duration::from_millis(50));
        assert_eq!(b.delay(2, 1.0), Duration::from_millis(200));
        assert_eq!(b.delay(4, 1.0), Duration::from_millis(800));
        assert_eq!(b.delay(6, 1.0), Duration::from_secs(2), "capped");
        assert_eq!(b.delay(u32::MAX, 1.0), Duration::from_secs(2), "no overflow");
        assert_eq!(b.delay(3, 7.0), b.delay(3, 1.0), "jitter is clamped");
        assert_eq!(b.step(3), Duration::from_millis(400));
        assert_eq!(b.next(Duration::from_millis(300)), Duration::from_millis(600));
        assert_eq!(
            b.next(Duration::from_millis(1500)),
            Duration::from_secs(2),
            "next is capped"
        );
        assert_eq!(b.next(Duration::MAX), Duration::from_secs(2), "no overflow");
        for attempt in 1..40 {
            let d = b.jittered(attempt);
            assert!(d >= b.delay(attempt, 0.0) && d <= b.delay(attempt, 1.0));
        }
    }
}

//! How often to look at an unfinished job, and for how long.

use std::time::Duration;

use crate::error::{Error, Result};

/// The polling curve and deadline: waits of `initial * growth^n` capped at
/// `max_interval`, no jitter, and a finite total `deadline`.
///
/// Defaults: 1 s, x1.5, at most 10 s apart, give up after 15 minutes. The cap
/// keeps a finished job from waiting long for its last poll; the deadline is
/// a total, not a per-request timeout, and is finite on purpose.
///
/// ```
/// use std::time::Duration;
/// use writer_jobs::PollPolicy;
/// let policy = PollPolicy::builder()
///     .initial_interval(Duration::from_secs(2))
///     .deadline(Duration::from_secs(600))
///     .build()
///     .unwrap();
/// assert_eq!(policy.next_interval(0), Duration::from_secs(2));
/// assert_eq!(policy.next_interval(1), Duration::from_secs(3));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PollPolicy {
    initial_interval: Duration,
    growth: f64,
    max_interval: Duration,
    deadline: Duration,
}

impl Default for PollPolicy {
    fn default() -> Self {
        Self {
            initial_interval: Duration::from_secs(1),
            growth: 1.5,
            max_interval: Duration::from_secs(10),
            deadline: Duration::from_secs(15 * 60),
        }
    }
}

impl PollPolicy {
    /// A builder starting from the defaults.
    pub fn builder() -> PollPolicyBuilder {
        PollPolicyBuilder {
            policy: Self::default(),
        }
    }

    /// The wait after the `n`-th poll (0-based): `initial * growth^n`, capped.
    /// A pure function, so a shared poller can follow the same curve.
    pub fn next_interval(&self, n: u32) -> Duration {
        let secs = self.initial_interval.as_secs_f64() * self.growth.powi(n.min(1000) as i32);
        if !secs.is_finite() || secs >= self.max_interval.as_secs_f64() {
            self.max_interval
        } else {
            Duration::from_secs_f64(secs)
        }
    }

    /// The first wait.
    pub fn initial_interval(&self) -> Duration {
        self.initial_interval
    }

    /// The growth factor.
    pub fn growth(&self) -> f64 {
        self.growth
    }

    /// The longest wait between polls.
    pub fn max_interval(&self) -> Duration {
        self.max_interval
    }

    /// The total time a wait may take.
    pub fn deadline(&self) -> Duration {
        self.deadline
    }

    /// The same policy with another deadline (unchecked: zero means "poll once").
    pub fn with_deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }
}

/// Builds a [`PollPolicy`], checking its values.
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until it is built"]
pub struct PollPolicyBuilder {
    policy: PollPolicy,
}

impl PollPolicyBuilder {
    /// The first wait (default 1 s).
    pub fn initial_interval(mut self, d: Duration) -> Self {
        self.policy.initial_interval = d;
        self
    }

    /// The growth factor (default 1.5; at least 1).
    pub fn growth(mut self, g: f64) -> Self {
        self.policy.growth = g;
        self
    }

    /// The longest wait between polls (default 10 s).
    pub fn max_interval(mut self, d: Duration) -> Self {
        self.policy.max_interval = d;
        self
    }

    /// The total time a wait may take (default 15 min; finite by design).
    pub fn deadline(mut self, d: Duration) -> Self {
        self.policy.deadline = d;
        self
    }

    /// The policy, or [`Error::Config`] when a value is out of range.
    pub fn build(self) -> Result<PollPolicy> {
        let p = self.policy;
        if p.initial_interval.is_zero() {
            return Err(Error::Config(
                "poll policy: the initial interval must be above zero".into(),
            ));
        }
        if !(p.growth.is_finite() && p.growth >= 1.0) {
            return Err(Error::Config(format!(
                "poll policy: growth must be a finite number of at least 1, not {}",
                p.growth
            )));
        }
        if p.max_interval < p.initial_interval {
            return Err(Error::Config(format!(
                "poll policy: the largest interval ({:?}) is below the initial one ({:?})",
                p.max_interval, p.initial_interval
            )));
        }
        if p.deadline.is_zero() {
            return Err(Error::Config(
                "poll policy: the deadline must be above zero".into(),
            ));
        }
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_curve_grows_to_its_cap() {
        let p = PollPolicy::default();
        let ms: Vec<u128> = (0..8).map(|n| p.next_interval(n).as_millis()).collect();
        assert_eq!(ms, [1000, 1500, 2250, 3375, 5062, 7593, 10000, 10000]);
        assert_eq!(p.next_interval(u32::MAX), Duration::from_secs(10));
        assert_eq!(p.deadline(), Duration::from_secs(900));
    }

    #[test]
    fn builder_validates() {
        assert!(PollPolicy::builder().growth(0.9).build().is_err());
        assert!(
            PollPolicy::builder()
                .initial_interval(Duration::ZERO)
                .build()
                .is_err()
        );
        assert!(
            PollPolicy::builder()
                .deadline(Duration::ZERO)
                .build()
                .is_err()
        );
        assert!(
            PollPolicy::builder()
                .max_interval(Duration::from_millis(10))
                .build()
                .is_err()
        );
        assert!(PollPolicy::builder().growth(1.0).build().is_ok());
    }
}

//! The batch's [`Throttle`]: every request the batch makes (the client's own
//! transport retries included) passes the circuit breaker, then the rate
//! limiter, and reports back what happened.
//!
//! - While the circuit is open, every request waits; the first one due after
//!   the next probe time goes out as the probe, so an outage costs one
//!   request per probe interval (1 s doubling to 60 s), whatever the number
//!   of jobs and retries waiting.
//! - While creates are paused (a failure was seen and no success since),
//!   creates wait and reads go on.
//! - 429s lower the limiter's rate but are not failures: they never open the
//!   circuit. Nor are reads that time out (the batch gives them a shorter
//!   timeout than creates, see [`Batch::read_timeout`](super::Batch::read_timeout)):
//!   a slow page is not a dead server.

use crate::batch::{HashMap, HashMapExt};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::Notify;

use super::breaker::{Breaker, Gate};
use super::limiter::{LimiterStats, Rate, RateLimiter};
use super::reconcile::shift;
use crate::clock::{SharedClock, Sleep};
use crate::throttle::{Observation, Operation, Throttle};

/// Rate limiter + circuit breaker + request counters, shared by the batch.
#[derive(Debug, Clone)]
pub(crate) struct Pacer {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    clock: SharedClock,
    limiter: RateLimiter,
    breaker: Mutex<Breaker>,
    changed: Notify,
    requests: AtomicU64,
    by_operation: Mutex<HashMap<Operation, u64>>,
}

impl Pacer {
    /// A pacer keeping under `rate` (none: unlimited) whose circuit opens
    /// after `breaker_threshold` consecutive failures.
    pub(crate) fn new(clock: SharedClock, rate: Option<Rate>, breaker_threshold: u32) -> Self {
        Self {
            inner: Arc::new(Inner {
                limiter: RateLimiter::new(clock.clone(), rate),
                clock,
                breaker: Mutex::new(Breaker::new(breaker_threshold)),
                changed: Notify::new(),
                requests: AtomicU64::new(0),
                by_operation: Mutex::new(HashMap::new()),
            }),
        }
    }

    fn breaker(&self) -> std::sync::MutexGuard<'_, Breaker> {
        lock(&self.inner.breaker)
    }

    /// Whether a new create may start now.
    pub(crate) fn creates_allowed(&self) -> bool {
        self.breaker().creates_allowed()
    }

    /// Whether the circuit is open (an outage).
    pub(crate) fn circuit_open(&self) -> bool {
        self.breaker().is_open()
    }

    /// Requests sent so far (every attempt, retries included).
    pub(crate) fn requests(&self) -> u64 {
        self.inner.requests.load(Ordering::Relaxed)
    }

    /// The limiter's state.
    pub(crate) fn limiter_stats(&self) -> LimiterStats {
        self.inner.limiter.stats()
    }

    /// Whether requests queue for the rate limiter (the quota binds).
    pub(crate) fn quota_binds(&self) -> bool {
        self.inner.limiter.is_saturated()
    }

    /// Waits for a create's permit: the breaker's gate, then the rate
    /// limiter. The engine takes it before writing the create's intent, so
    /// the intent's time is the send time, not the time it was queued.
    pub(crate) async fn create_permit(&self) {
        self.acquire(Operation::Create).await;
    }

    /// Waits for a job-level retry's permit, as for a create: a retry the
    /// server answers with a new id is a create, so its intent too is
    /// written when it goes on the wire.
    pub(crate) async fn retry_permit(&self) {
        self.acquire(Operation::Retry).await;
    }

    /// Resolves when the breaker's state changes (or after `max`).
    pub(crate) async fn changed_or(&self, max: Duration) {
        let notified = self.inner.changed.notified();
        tokio::select! {
            _ = notified => {}
            _ = self.inner.clock.sleep(max) => {}
        }
    }
}

/// Clock time `at` on the steady wall clock anchored at `anchor` (the wall
/// and clock time of the same moment).
pub(crate) fn steady_time(anchor: (DateTime<Utc>, Duration), at: Duration) -> DateTime<Utc> {
    let (wall, base) = anchor;
    let offset = if at >= base {
        chrono::Duration::from_std(at - base).unwrap_or(chrono::Duration::MAX)
    } else {
        -chrono::Duration::from_std(base - at).unwrap_or(chrono::Duration::MAX)
    };
    shift(wall, offset)
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl Inner {
    /// How long `op` must wait for the breaker (`None`: it may go now).
    fn breaker_wait(&self, op: Operation) -> Option<Duration> {
        let now = self.clock.now();
        let mut breaker = lock(&self.breaker);
        match breaker.gate() {
            Gate::Open => None,
            // A create (or a job-level retry, which may make a job) is
            // never the probe: a probe that fails must not leave a row
            // ambiguous.
            Gate::ReadsOnly | Gate::ProbeAt(_)
                if matches!(op, Operation::Create | Operation::Retry) =>
            {
                Some(Duration::from_secs(1))
            }
            Gate::ReadsOnly => None,
            Gate::ProbeAt(at) if now >= at => {
                breaker.claim_probe(now);
                None
            }
            Gate::ProbeAt(at) => Some(at - now),
        }
    }
}

impl Throttle for Pacer {
    fn acquire(&self, op: Operation) -> Sleep {
        let inner = self.inner.clone();
        Box::pin(async move {
            while let Some(wait) = inner.breaker_wait(op) {
                let notified = inner.changed.notified();
                tokio::select! {
                    _ = notified => {}
                    _ = inner.clock.sleep(wait) => {}
                }
            }
            inner.limiter.acquire().await;
            inner.requests.fetch_add(1, Ordering::Relaxed);
            *lock(&inner.by_operation).entry(op).or_default() += 1;
        })
    }

    fn observe(&self, op: Operation, outcome: &Observation) {
        self.inner.limiter.observe_sent(
            outcome.status,
            outcome.retry_after,
            outcome.sent_at.since_start(),
        );
        // A read that ran out of its (short) time is a slow answer, not a
        // dead server: it is retried, and neither pauses creates nor counts
        // towards opening the circuit, else one slow list page would hold
        // every create back. A dead server refuses or resets connections
        // or answers 5xx (failures still), and a create that times out
        // counts as ever.
        let slow_read = outcome.timed_out && op.is_idempotent();
        let failed = (outcome.transport_error && !slow_read)
            || matches!(outcome.status, Some(s) if s >= 500 || s == 408);
        let answered = matches!(outcome.status, Some(s) if s < 500 && s != 408);
        let mut breaker = self.breaker();
        let before = breaker.gate();
        if failed {
            breaker.on_failure(self.inner.clock.now());
        } else if answered && outcome.status != Some(429) {
            breaker.on_success(outcome.sent_at.since_start());
        }
        if breaker.gate() != before {
            drop(breaker);
            self.inner.changed.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemClock;

    fn pacer() -> Pacer {
        let clock: SharedClock = Arc::new(SystemClock::new());
        Pacer::new(clock, None, 2)
    }

    fn timed_out() -> Observation {
        Observation {
            transport_error: true,
            timed_out: true,
            ..Observation::default()
        }
    }

    #[test]
    fn a_read_that_times_out_pauses_nothing() {
        let p = pacer();
        for op in [Operation::List, Operation::Get, Operation::Application] {
            for _ in 0..5 {
                p.observe(op, &timed_out());
            }
        }
        assert!(p.creates_allowed(), "slow reads are not a dead server");
        assert!(!p.circuit_open());
        // A create that times out still pauses creates.
        p.observe(Operation::Create, &timed_out());
        assert!(!p.creates_allowed());
    }

    #[test]
    fn a_read_refused_or_reset_is_a_failure() {
        let p = pacer();
        let reset = Observation {
            transport_error: true,
            ..Observation::default()
        };
        p.observe(Operation::List, &reset);
        assert!(!p.creates_allowed(), "a reset read pauses creates");
        p.observe(Operation::Get, &reset);
        assert!(p.circuit_open(), "two failures open a threshold-2 circuit");
        let answered = Observation {
            status: Some(200),
            sent_at: p.inner.clock.instant(),
            ..Observation::default()
        };
        p.observe(Operation::Get, &answered);
        assert!(p.creates_allowed() && !p.circuit_open());
    }
}

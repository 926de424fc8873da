//! The transport retry policy: which failures to retry, how long to wait,
//! when to give up, and a budget shared by a client's clones.
//!
//! Shaped after google-cloud-rust's `gax` (a small policy with combinators,
//! a validating backoff builder, stop early when the time left is shorter
//! than the next wait) and smithy-rs's standard retry quota (a token bucket
//! so a failing server is not hammered).
//!
//! Which failures are retried depends on the call (see
//! [`Operation::is_idempotent`](crate::Operation::is_idempotent)):
//!
//! | failure | get / list / application / run | create / retry |
//! |---|---|---|
//! | could not connect (request not sent) | retry | retry |
//! | 429 | retry (no budget spent) | retry (no budget spent) |
//! | `x-should-retry: true` | retry | retry |
//! | `x-should-retry: false` | never | never |
//! | timeout, connection lost | retry | `Error::Ambiguous`, never resent |
//! | 408, 409, 5xx | retry | `Error::Ambiguous` (5xx, 408) / `Error::Conflict` (409) |
//! | 2xx that does not decode | `Error::Decode` | `Error::Ambiguous` |
//! | other 4xx, redirects | reported | reported |
//!
//! A retry costs the [`RetryBudget`] [`cost::RETRY`] tokens
//! ([`cost::TIMEOUT_RETRY`] after a timeout; nothing after a 429). The
//! table is one function (`retry::verdict`, inside the crate) that the
//! client's retry loop asks.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::header::HeaderMap;

use crate::error::{Error, Result};
use crate::throttle::Operation;

/// How one attempt failed, as the retry table sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Failed {
    /// Could not connect: the request surely was not sent.
    NotSent,
    /// The connection broke after the request may have left.
    Lost,
    /// No answer within the timeout.
    TimedOut,
    /// A non-2xx status.
    Status(u16),
    /// A 2xx whose body did not decode.
    BadBody,
    /// Not worth repeating (e.g. the request could not be built).
    Final,
}

/// What the retry table says about one failed attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Verdict {
    /// Another attempt is safe and may help.
    pub(crate) retry: bool,
    /// Once no more attempts are made, the failure is reported as
    /// [`Error::Ambiguous`]: the call is not idempotent and may have acted.
    pub(crate) ambiguous: bool,
    /// What another attempt costs the [`RetryBudget`].
    pub(crate) cost: u32,
}

/// The retry table (see the module docs): whether `op` may be sent again
/// after `failed`, whether the failure is ambiguous, and what a retry
/// costs. `should_retry` is the server's `x-should-retry` header, which
/// decides retrying when it was sent.
pub(crate) fn verdict(op: Operation, failed: Failed, should_retry: Option<bool>) -> Verdict {
    let idempotent = op.is_idempotent();
    let retry = should_retry.unwrap_or(match failed {
        Failed::NotSent | Failed::Status(429) => true,
        Failed::Lost | Failed::TimedOut => idempotent,
        Failed::Status(s) => idempotent && (s == 408 || s == 409 || s >= 500),
        Failed::BadBody | Failed::Final => false,
    });
    let ambiguous = !idempotent
        && match failed {
            Failed::Lost | Failed::TimedOut | Failed::BadBody => true,
            Failed::Status(s) => s == 408 || s >= 500,
            Failed::NotSent | Failed::Final => false,
        };
    let cost = match failed {
        Failed::Status(429) => 0,
        Failed::TimedOut => cost::TIMEOUT_RETRY,
        _ => cost::RETRY,
    };
    Verdict {
        retry,
        ambiguous,
        cost,
    }
}

/// How much random spread a wait gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Jitter {
    /// A uniformly random wait between zero and the curve's value (AWS's
    /// "full jitter"): spreads out clients that failed together.
    #[default]
    Full,
    /// Exactly the curve's value (what polling uses).
    None,
}

/// An exponential backoff curve: `initial * multiplier^n`, capped at `max`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Backoff {
    initial: Duration,
    multiplier: f64,
    max: Duration,
    jitter: Jitter,
}

impl Default for Backoff {
    /// Initial 1 s, doubling, capped at 30 s, full jitter.
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(1),
            multiplier: 2.0,
            max: Duration::from_secs(30),
            jitter: Jitter::Full,
        }
    }
}

impl Backoff {
    /// A builder starting from the defaults.
    pub fn builder() -> BackoffBuilder {
        BackoffBuilder {
            backoff: Self::default(),
        }
    }

    /// The first wait.
    pub fn initial(&self) -> Duration {
        self.initial
    }

    /// The growth factor.
    pub fn multiplier(&self) -> f64 {
        self.multiplier
    }

    /// The largest wait.
    pub fn max(&self) -> Duration {
        self.max
    }

    /// The jitter.
    pub fn jitter(&self) -> Jitter {
        self.jitter
    }

    /// The curve's value before the `n`-th retry (0-based), without jitter.
    pub fn ceiling(&self, n: u32) -> Duration {
        let factor = self.multiplier.powi(n.min(1000) as i32);
        let secs = self.initial.as_secs_f64() * factor;
        if !secs.is_finite() || secs >= self.max.as_secs_f64() {
            self.max
        } else {
            Duration::from_secs_f64(secs)
        }
    }

    /// The wait before the `n`-th retry (0-based), with jitter applied.
    pub fn delay(&self, n: u32) -> Duration {
        let ceiling = self.ceiling(n);
        match self.jitter {
            Jitter::None => ceiling,
            Jitter::Full => ceiling.mul_f64(unit_random()),
        }
    }
}

/// A uniform random number in `0.0..=1.0` from a per-thread generator
/// seeded by the standard library's random hasher keys.
fn unit_random() -> f64 {
    use rand::{Rng, SeedableRng, rngs::SmallRng};
    use std::cell::RefCell;
    use std::hash::{BuildHasher, Hasher};
    thread_local! {
        static RNG: RefCell<SmallRng> = RefCell::new(SmallRng::seed_from_u64(
            std::collections::hash_map::RandomState::new().build_hasher().finish(),
        ));
    }
    RNG.with(|rng| rng.borrow_mut().random_range(0.0..=1.0))
}

/// Builds a [`Backoff`], checking that its values make sense.
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until it is built"]
pub struct BackoffBuilder {
    backoff: Backoff,
}

impl BackoffBuilder {
    /// The first wait (default 1 s).
    pub fn initial(mut self, d: Duration) -> Self {
        self.backoff.initial = d;
        self
    }

    /// The growth factor (default 2; at least 1).
    pub fn multiplier(mut self, m: f64) -> Self {
        self.backoff.multiplier = m;
        self
    }

    /// The largest wait (default 30 s).
    pub fn max(mut self, d: Duration) -> Self {
        self.backoff.max = d;
        self
    }

    /// The jitter (default full).
    pub fn jitter(mut self, j: Jitter) -> Self {
        self.backoff.jitter = j;
        self
    }

    /// The backoff, or [`Error::Config`] if a value is out of range.
    pub fn build(self) -> Result<Backoff> {
        let b = self.backoff;
        if b.initial.is_zero() {
            return Err(Error::Config(
                "backoff: the initial wait must be above zero".into(),
            ));
        }
        if !(b.multiplier.is_finite() && b.multiplier >= 1.0) {
            return Err(Error::Config(format!(
                "backoff: the multiplier must be a finite number of at least 1, not {}",
                b.multiplier
            )));
        }
        if b.max < b.initial {
            return Err(Error::Config(format!(
                "backoff: the largest wait ({:?}) is below the initial one ({:?})",
                b.max, b.initial
            )));
        }
        Ok(b)
    }
}

/// What a retry costs from, and what a success returns to, a [`RetryBudget`].
pub mod cost {
    /// A retry after an ordinary failure.
    pub const RETRY: u32 = 5;
    /// A retry after a timeout (the server may still be busy with the first).
    pub const TIMEOUT_RETRY: u32 = 10;
    /// What a first-try success gives back.
    pub const SUCCESS: u32 = 1;
}

/// A token bucket shared by a client and its clones, so that many calls
/// failing together stop retrying instead of multiplying the load on a
/// failing server (smithy-rs's standard retry quota): 500 tokens; a retry
/// costs 5 (10 after a timeout); a successful retry gives its cost back and
/// a first-try success gives 1. Retries of 429 spend nothing: the server
/// says when to come back and the throttle slows down.
#[derive(Clone, Debug)]
pub struct RetryBudget {
    inner: Arc<Mutex<Bucket>>,
}

#[derive(Debug)]
struct Bucket {
    capacity: u32,
    tokens: u32,
}

impl Default for RetryBudget {
    fn default() -> Self {
        Self::new(500)
    }
}

impl RetryBudget {
    /// A full bucket of `capacity` tokens.
    pub fn new(capacity: u32) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Bucket {
                capacity,
                tokens: capacity,
            })),
        }
    }

    fn bucket(&self) -> std::sync::MutexGuard<'_, Bucket> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes `cost` tokens if there are that many.
    pub fn try_spend(&self, cost: u32) -> bool {
        let mut b = self.bucket();
        if b.tokens >= cost {
            b.tokens -= cost;
            true
        } else {
            false
        }
    }

    /// Returns `tokens`, up to the capacity.
    pub fn refund(&self, tokens: u32) {
        let mut b = self.bucket();
        b.tokens = b.tokens.saturating_add(tokens).min(b.capacity);
    }

    /// The tokens left.
    pub fn available(&self) -> u32 {
        self.bucket().tokens
    }

    /// The bucket's size.
    pub fn capacity(&self) -> u32 {
        self.bucket().capacity
    }
}

/// The longest wait honoured from a `Retry-After` header by default: a
/// hostile or broken `Retry-After: 99999999` must not stall a client.
pub const DEFAULT_MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// When and how long to retry a failed request.
///
/// Defaults: 4 attempts (1 + 3 retries), 60 s in all, [`Backoff::default`],
/// `Retry-After` honoured up to 60 s, and a fresh [`RetryBudget`] of 500
/// tokens shared by every clone of the client built with it.
///
/// ```
/// use std::time::Duration;
/// use writer_jobs::RetryPolicy;
/// let policy = RetryPolicy::default()
///     .with_attempt_limit(6)
///     .with_time_limit(Duration::from_secs(120));
/// assert_eq!(policy.max_attempts(), 6);
/// ```
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    max_attempts: u32,
    max_elapsed: Option<Duration>,
    backoff: Backoff,
    max_retry_after: Duration,
    budget: Option<RetryBudget>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            max_elapsed: Some(Duration::from_secs(60)),
            backoff: Backoff::default(),
            max_retry_after: DEFAULT_MAX_RETRY_AFTER,
            budget: Some(RetryBudget::default()),
        }
    }
}

impl RetryPolicy {
    /// Never retries: every call is made once.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// For long batch runs: 6 attempts within 5 minutes, backoff up to 60 s.
    /// A batch has time to ride out a short outage; its own circuit breaker
    /// and the budget still stop it from hammering a dead server.
    pub fn batch_default() -> Self {
        Self {
            max_attempts: 6,
            max_elapsed: Some(Duration::from_secs(300)),
            backoff: Backoff {
                max: Duration::from_secs(60),
                ..Backoff::default()
            },
            ..Self::default()
        }
    }

    /// At most `n` attempts in all (at least 1).
    pub fn with_attempt_limit(mut self, n: u32) -> Self {
        self.max_attempts = n.max(1);
        self
    }

    /// Gives up once `d` has passed since the first attempt, and does not
    /// start a wait that would end past it.
    pub fn with_time_limit(mut self, d: Duration) -> Self {
        self.max_elapsed = Some(d);
        self
    }

    /// No overall time limit (attempts still end it).
    pub fn without_time_limit(mut self) -> Self {
        self.max_elapsed = None;
        self
    }

    /// The backoff curve for waits the server did not set.
    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// The longest `Retry-After` honoured; longer ones are cut to it.
    pub fn with_max_retry_after(mut self, d: Duration) -> Self {
        self.max_retry_after = d;
        self
    }

    /// Shares `budget` (e.g. between several clients).
    pub fn with_budget(mut self, budget: RetryBudget) -> Self {
        self.budget = Some(budget);
        self
    }

    /// Retries without a budget.
    pub fn without_budget(mut self) -> Self {
        self.budget = None;
        self
    }

    /// The most attempts per call.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The overall time limit per call.
    pub fn max_elapsed(&self) -> Option<Duration> {
        self.max_elapsed
    }

    /// The backoff curve.
    pub fn backoff(&self) -> &Backoff {
        &self.backoff
    }

    /// The longest `Retry-After` honoured.
    pub fn max_retry_after(&self) -> Duration {
        self.max_retry_after
    }

    /// The retry budget, if any.
    pub fn budget(&self) -> Option<&RetryBudget> {
        self.budget.as_ref()
    }

    /// The wait before retry number `n` (0-based): the server's wait hint,
    /// cut to [`max_retry_after`](Self::max_retry_after), else the backoff.
    pub fn wait(&self, n: u32, retry_after: Option<Duration>) -> Duration {
        match retry_after {
            Some(hint) => hint.min(self.max_retry_after),
            None => self.backoff.delay(n),
        }
    }
}

/// The server's wait hint: `retry-after-ms` (milliseconds) first, then
/// `Retry-After` as seconds or as an HTTP date (relative to `now`).
/// Garbage, negative values and dates in the past give `None`; huge values
/// come back as they are (clamp them with [`RetryPolicy::wait`]).
pub fn parse_retry_after(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    let text = |name: &str| headers.get(name)?.to_str().ok().map(str::trim);
    if let Some(ms) = text("retry-after-ms").and_then(parse_number) {
        return Some(ms / 1000);
    }
    let value = text("retry-after")?;
    if let Some(secs) = parse_number(value) {
        return Some(secs);
    }
    let date = DateTime::parse_from_rfc2822(value)
        .ok()?
        .with_timezone(&Utc);
    (date - now).to_std().ok()
}

/// A non-negative decimal number as a `Duration` of that many seconds
/// (`Duration::MAX` when it is too large to represent).
fn parse_number(s: &str) -> Option<Duration> {
    if s.is_empty() || s.starts_with('-') {
        return None;
    }
    let n: f64 = s.parse().ok()?;
    if !n.is_finite() && !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if n < 0.0 {
        return None;
    }
    Some(Duration::try_from_secs_f64(n).unwrap_or(Duration::MAX))
}

/// The server's `x-should-retry` decision, if it sent one.
pub fn should_retry_header(headers: &HeaderMap) -> Option<bool> {
    match headers.get("x-should-retry")?.to_str().ok()?.trim() {
        v if v.eq_ignore_ascii_case("true") => Some(true),
        v if v.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn backoff_curve_doubles_to_its_cap() {
        let b = Backoff::builder().jitter(Jitter::None).build().unwrap();
        let secs: Vec<u64> = (0..8).map(|n| b.delay(n).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 30, 30, 30]);
        assert_eq!(b.ceiling(u32::MAX), Duration::from_secs(30));
    }

    #[test]
    fn full_jitter_stays_under_the_curve() {
        let b = Backoff::default();
        for n in 0..10 {
            for _ in 0..50 {
                assert!(b.delay(n) <= b.ceiling(n));
            }
        }
    }

    #[test]
    fn backoff_builder_validates() {
        assert!(Backoff::builder().initial(Duration::ZERO).build().is_err());
        assert!(Backoff::builder().multiplier(0.5).build().is_err());
        assert!(Backoff::builder().multiplier(f64::NAN).build().is_err());
        assert!(
            Backoff::builder()
                .initial(Duration::from_secs(5))
                .max(Duration::from_secs(1))
                .build()
                .is_err()
        );
    }

    #[test]
    fn retry_after_forms() {
        let now = Utc::now();
        let p = |pairs: &[(&'static str, &str)]| parse_retry_after(&headers(pairs), now);
        assert_eq!(p(&[("retry-after", "3")]), Some(Duration::from_secs(3)));
        assert_eq!(
            p(&[("retry-after", "1.5")]),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            p(&[("retry-after-ms", "250")]),
            Some(Duration::from_millis(250))
        );
        // retry-after-ms wins over Retry-After.
        assert_eq!(
            p(&[("retry-after-ms", "250"), ("retry-after", "9")]),
            Some(Duration::from_millis(250))
        );
        let date = (now + chrono::Duration::seconds(30))
            .to_rfc2822()
            .replace("+0000", "GMT");
        let d = p(&[("retry-after", &date)]).unwrap();
        assert!(
            d > Duration::from_secs(28) && d <= Duration::from_secs(30),
            "{d:?}"
        );
        let past = (now - chrono::Duration::seconds(30)).to_rfc2822();
        assert_eq!(p(&[("retry-after", &past)]), None);
        assert_eq!(p(&[("retry-after", "soon")]), None);
        assert_eq!(p(&[("retry-after", "-5")]), None);
        assert_eq!(p(&[("retry-after", "")]), None);
        assert_eq!(p(&[("retry-after", "NaN")]), None);
        assert_eq!(p(&[]), None);
        let huge = p(&[("retry-after", "99999999999999999999999999")]).unwrap();
        assert!(huge > Duration::from_secs(1_000_000));
        // The policy clamps it.
        let policy = RetryPolicy::default();
        assert_eq!(policy.wait(0, Some(huge)), DEFAULT_MAX_RETRY_AFTER);
        assert_eq!(
            policy.wait(0, p(&[("retry-after", "99999999")])),
            Duration::from_secs(60)
        );
        assert_eq!(
            policy.wait(0, Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
    }

    #[test]
    fn should_retry_header_values() {
        assert_eq!(
            should_retry_header(&headers(&[("x-should-retry", "true")])),
            Some(true)
        );
        assert_eq!(
            should_retry_header(&headers(&[("x-should-retry", "FALSE")])),
            Some(false)
        );
        assert_eq!(
            should_retry_header(&headers(&[("x-should-retry", "maybe")])),
            None
        );
        assert_eq!(should_retry_header(&HeaderMap::new()), None);
    }

    #[test]
    fn budget_spends_and_refunds_within_capacity() {
        let b = RetryBudget::new(12);
        assert!(b.try_spend(cost::RETRY));
        assert!(b.try_spend(cost::RETRY));
        assert!(!b.try_spend(cost::RETRY));
        assert_eq!(b.available(), 2);
        let shared = b.clone();
        shared.refund(100);
        assert_eq!(b.available(), 12);
    }

    /// The module's table, row by row, for both kinds of call.
    #[test]
    fn the_retry_table() {
        use Failed::*;
        let (read, create, retry) = (Operation::Get, Operation::Create, Operation::Retry);
        let v = |op, failed, header| {
            let v = verdict(op, failed, header);
            (v.retry, v.ambiguous)
        };
        // could not connect: retried by both, never ambiguous
        assert_eq!(v(read, NotSent, None), (true, false));
        assert_eq!(v(create, NotSent, None), (true, false));
        // 429: retried by both, free
        assert_eq!(v(create, Status(429), None), (true, false));
        assert_eq!(verdict(read, Status(429), None).cost, 0);
        // x-should-retry decides both ways
        assert_eq!(v(create, Status(500), Some(true)), (true, true));
        assert_eq!(v(read, Status(503), Some(false)), (false, false));
        // timeout, connection lost: reads retry, creates are ambiguous
        for failed in [TimedOut, Lost] {
            assert_eq!(v(read, failed, None), (true, false));
            assert_eq!(v(create, failed, None), (false, true));
            assert_eq!(v(retry, failed, None), (false, true));
        }
        assert_eq!(verdict(read, TimedOut, None).cost, cost::TIMEOUT_RETRY);
        assert_eq!(verdict(read, Lost, None).cost, cost::RETRY);
        // 408, 409, 5xx: reads retry; creates: ambiguous (408, 5xx), reported (409)
        for status in [408, 500, 503] {
            assert_eq!(v(read, Status(status), None), (true, false));
            assert_eq!(v(create, Status(status), None), (false, true));
        }
        assert_eq!(v(read, Status(409), None), (true, false));
        assert_eq!(v(retry, Status(409), None), (false, false));
        // 2xx that does not decode
        assert_eq!(v(read, BadBody, None), (false, false));
        assert_eq!(v(create, BadBody, None), (false, true));
        // other 4xx, redirects, requests that cannot be built: reported
        for failed in [Status(400), Status(404), Status(302), Final] {
            assert_eq!(v(read, failed, None), (false, false));
            assert_eq!(v(create, failed, None), (false, false));
        }
    }

    #[test]
    fn policy_combinators() {
        let p = RetryPolicy::none();
        assert_eq!(p.max_attempts(), 1);
        let p = RetryPolicy::default()
            .with_attempt_limit(0)
            .without_time_limit()
            .without_budget();
        assert_eq!(p.max_attempts(), 1);
        assert_eq!(p.max_elapsed(), None);
        assert!(p.budget().is_none());
        assert_eq!(RetryPolicy::default().max_attempts(), 4);
        assert_eq!(RetryPolicy::batch_default().max_attempts(), 6);
    }
}

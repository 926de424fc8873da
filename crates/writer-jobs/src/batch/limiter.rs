//! The batch's client-side request budget: one limiter for every request.
//!
//! A token bucket on the injected clock (virtual scheduling: each request is
//! given the next free slot, so waiting requests are served in order and the
//! long-run rate never exceeds the budget). A 429 is a signal, not an error:
//! the rate is halved (multiplicative decrease, never below a floor) and no
//! slot is handed out before the server's `Retry-After`; every success then
//! raises the rate by a small step (additive increase) back up to the
//! configured budget.
//!
//! The 429s of one episode count once: answers to requests sent before the
//! rate was last lowered say nothing new (they left at the old rate), and
//! neither do 429s before the server has accepted any request sent since
//! (a run of refusals, as one burst of 429s or a spent window gives, says
//! the server is refusing, not how fast it accepts): they extend the pause
//! but lower nothing. Lowering again at each refusal of such a run would
//! drive the rate to its floor in a few seconds, and a limit learned there
//! would hold the batch at that rate for many minutes.
//!
//! Without a configured budget the limiter *learns* one. The first 429
//! halves what it was doing (the server's burst allowance is then spent);
//! at each later episode the rate the server accepted since (answers other
//! than 429, over at most the last minute) is taken as its limit. Below it
//! the rate climbs back fast (a twentieth of it per success), at it only
//! slowly (0.02% per success, about 22% per thousand requests), so the
//! server's limit costs a few 429s per episode instead of an episode every
//! few dozen requests. A limit is never learned below half the rate in
//! force, and once requests have queued for 30 s without a 429 it is probed
//! ten times faster: a burst of 429s that was not the quota (after a quiet
//! spell) must not pin the batch to that spell's rate.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use crate::clock::SharedClock;

/// A request budget: a sustained rate and a burst.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    per_second: f64,
    burst: u32,
}

impl Rate {
    /// `n` requests per second.
    pub fn per_second(n: f64) -> Self {
        Self {
            per_second: n,
            burst: 10,
        }
    }

    /// `n` requests per minute (Writer's current limit is 400 a minute).
    pub fn per_minute(n: f64) -> Self {
        Self::per_second(n / 60.0)
    }

    /// `n` requests per hour (older Writer plans: 4,000 to 20,000 an hour).
    pub fn per_hour(n: f64) -> Self {
        Self::per_second(n / 3600.0)
    }

    /// How many requests may go at once after a quiet period (default 10).
    pub fn with_burst(mut self, burst: u32) -> Self {
        self.burst = burst.max(1);
        self
    }

    /// Requests per second.
    pub fn requests_per_second(&self) -> f64 {
        self.per_second
    }

    /// The burst size.
    pub fn burst(&self) -> u32 {
        self.burst
    }

    /// Parses `400/min`, `4000/h`, `5/s` (also `/minute`, `/hour`,
    /// `/second`, and a bare number meaning per hour).
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (number, unit) = match text.split_once('/') {
            Some((n, u)) => (n.trim(), u.trim()),
            None => (text, "h"),
        };
        let n: f64 = number
            .parse()
            .map_err(|_| format!("`{text}` is not a rate: use e.g. 400/min, 4000/h or 5/s"))?;
        if !(n.is_finite() && n > 0.0) {
            return Err(format!("`{text}`: a rate must be a positive number"));
        }
        match unit {
            "s" | "sec" | "second" => Ok(Self::per_second(n)),
            "m" | "min" | "minute" => Ok(Self::per_minute(n)),
            "h" | "hr" | "hour" => Ok(Self::per_hour(n)),
            other => Err(format!(
                "`{other}` is not a time unit: use s, min or h (e.g. 400/min)"
            )),
        }
    }
}

#[derive(Debug)]
struct State {
    /// The current (possibly lowered) rate, requests per second.
    rate: f64,
    /// Clock time at which the next request may go, ignoring burst credit.
    next_free: Duration,
    /// No slot is handed out before this clock time (server's Retry-After).
    paused_until: Duration,
    /// Requests granted so far.
    granted: u64,
    /// 429s observed so far.
    throttled: u64,
    /// Clock time the rate was last lowered: 429s to requests sent before
    /// it belong to the episode that lowered it.
    lowered_at: Option<Duration>,
    /// Whether the server accepted (answered with success) a request sent
    /// at or after `lowered_at`: until it has, later 429s belong to
    /// the episode that lowered the rate.
    accepted_since_lowered: bool,
    /// No budget configured: the limit learned from 429s (requests per
    /// second), once one came.
    learned: Option<f64>,
    /// No budget configured: when the first 429 came.
    first_throttled: Option<Duration>,
    /// No budget configured: when requests were answered other than 429
    /// since the first 429, over the last minute.
    accepted: VecDeque<Duration>,
}

/// Without a 429 for this long while requests queue, a learned limit is
/// probed faster.
const PROBE_FASTER_AFTER: Duration = Duration::from_secs(30);

/// The window over which the rate at a 429 is measured.
const LEARN_WINDOW: Duration = Duration::from_secs(60);

/// A token-bucket limiter with AIMD adaptation to 429s.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    clock: SharedClock,
    configured: Option<Rate>,
    floor: f64,
    state: Mutex<State>,
}

/// A snapshot of the limiter for progress reports.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct LimiterStats {
    /// The rate in force now, requests per second (`None`: unlimited).
    pub current_rate: Option<f64>,
    /// Requests granted so far.
    pub granted: u64,
    /// 429 answers seen so far.
    pub throttled: u64,
}

impl RateLimiter {
    /// A limiter keeping under `rate`; `None` means no client-side budget
    /// (the limiter still backs off after a 429).
    pub(crate) fn new(clock: SharedClock, rate: Option<Rate>) -> Self {
        let initial = rate.map(|r| r.per_second).unwrap_or(f64::INFINITY);
        let floor = rate.map(|r| (r.per_second / 32.0).max(0.01)).unwrap_or(0.5);
        Self {
            clock,
            configured: rate,
            floor,
            state: Mutex::new(State {
                rate: initial,
                next_free: Duration::ZERO,
                paused_until: Duration::ZERO,
                granted: 0,
                throttled: 0,
                lowered_at: None,
                accepted_since_lowered: false,
                learned: None,
                first_throttled: None,
                accepted: VecDeque::new(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reserves the next slot and returns how long to wait for it.
    pub(crate) fn reserve(&self) -> Duration {
        let now = self.clock.now();
        let burst = self.configured.map(|r| r.burst).unwrap_or(1) as f64;
        let mut s = self.lock();
        s.granted += 1;
        let start = now.max(s.paused_until);
        if !s.rate.is_finite() {
            return start - now;
        }
        // GCRA: `next_free` is the theoretical arrival time; a quiet limiter
        // may run up to `burst - 1` intervals ahead of it.
        let interval = Duration::from_secs_f64(1.0 / s.rate);
        let tolerance = interval.mul_f64(burst - 1.0);
        let slot = start.max(s.next_free.saturating_sub(tolerance));
        s.next_free = s.next_free.max(start) + interval;
        slot - now
    }

    /// Waits for the next slot on the clock.
    pub(crate) async fn acquire(&self) {
        let wait = self.reserve();
        if !wait.is_zero() {
            self.clock.sleep(wait).await;
        }
    }

    /// Feeds back one answer to a request sent now (see
    /// [`RateLimiter::observe_sent`]).
    #[cfg(test)]
    pub(crate) fn observe(&self, status: Option<u16>, retry_after: Option<Duration>) {
        self.observe_sent(status, retry_after, self.clock.now());
    }

    /// Feeds back one answer to a request sent at clock time `sent_at`: a
    /// 429 (with the server's wait, if any) pauses and, unless the rate was
    /// lowered after the request left, lowers the rate; a success raises
    /// it a step.
    pub(crate) fn observe_sent(
        &self,
        status: Option<u16>,
        retry_after: Option<Duration>,
        sent_at: Duration,
    ) {
        let now = self.clock.now();
        let mut s = self.lock();
        match status {
            Some(429) => self.throttled(&mut s, retry_after, sent_at, now),
            Some(code) if code < 400 => self.accepted(&mut s, sent_at, now),
            _ => {}
        }
    }

    /// A 429 to a request sent at `sent_at`: pause for the server's wait,
    /// and lower the rate once per episode.
    fn throttled(
        &self,
        s: &mut State,
        retry_after: Option<Duration>,
        sent_at: Duration,
        now: Duration,
    ) {
        s.throttled += 1;
        let wait = retry_after.unwrap_or(Duration::from_secs(1));
        s.paused_until = s.paused_until.max(now + wait);
        if s.lowered_at
            .is_some_and(|at| sent_at < at || !s.accepted_since_lowered)
        {
            // Sent at the old rate, or nothing accepted since the rate was
            // lowered: this episode lowered it already.
            return;
        }
        s.lowered_at = Some(now);
        s.accepted_since_lowered = false;
        let lowered = match (self.configured, s.first_throttled) {
            (Some(_), _) => s.rate / 2.0,
            (None, None) => {
                // Unlimited until now: half of what we were doing.
                s.first_throttled = Some(now);
                pace(s, now) / 2.0
            }
            (None, Some(first)) => self.learn(s, first, now),
        };
        s.rate = lowered.max(self.floor);
    }

    /// No budget configured, throttled again since the first 429 at
    /// `first`: the rate the server accepted since then (its burst spent),
    /// over at most the last minute, learned as the limit.
    fn learn(&self, s: &mut State, first: Duration, now: Duration) -> f64 {
        forget_before(&mut s.accepted, now);
        let span = now.saturating_sub(first).min(LEARN_WINDOW).as_secs_f64();
        let half = pace(s, now) / 2.0;
        if span < 5.0 {
            return half;
        }
        // Never below half the rate that was in force: a burst of 429s that
        // was not the quota, after a quiet spell, must not pin the rate to
        // that spell.
        let measured = s.accepted.len() as f64 / span;
        let limit = measured.max(half).max(self.floor);
        s.learned = Some(limit);
        limit
    }

    /// A request sent at `sent_at` was accepted: raise the rate a step.
    fn accepted(&self, s: &mut State, sent_at: Duration, now: Duration) {
        if s.lowered_at.is_some_and(|at| sent_at >= at) {
            s.accepted_since_lowered = true;
        }
        if self.configured.is_none() && s.first_throttled.is_some() {
            s.accepted.push_back(now);
            forget_before(&mut s.accepted, now);
        }
        if self.configured.is_none()
            && let Some(limit) = s.learned
        {
            // A learned limit: back up to it fast, then probe slowly; ten
            // times faster once requests have queued for it for 30 s
            // without a 429 (the limit learned may be what a quiet spell
            // let through, not the server's).
            if s.rate < limit {
                s.rate = (s.rate + limit / 20.0).min(limit);
            } else {
                let quiet = s
                    .lowered_at
                    .is_none_or(|at| now.saturating_sub(at) >= PROBE_FASTER_AFTER);
                let step = if quiet && s.next_free > now {
                    1.002
                } else {
                    1.0002
                };
                let limit = limit * step;
                s.learned = Some(limit);
                s.rate = limit;
            }
            return;
        }
        let ceiling = self
            .configured
            .map(|r| r.per_second)
            .unwrap_or(f64::INFINITY);
        if s.rate < ceiling {
            // Additive increase: regain the configured rate over roughly a
            // hundred successful requests.
            let step = if ceiling.is_finite() {
                ceiling / 100.0
            } else {
                0.25
            };
            s.rate = (s.rate + step).min(ceiling);
            if !ceiling.is_finite() && s.rate > 1000.0 {
                s.rate = f64::INFINITY;
            }
        }
    }

    /// A snapshot for progress reports.
    pub(crate) fn stats(&self) -> LimiterStats {
        let s = self.lock();
        LimiterStats {
            current_rate: s.rate.is_finite().then_some(s.rate),
            granted: s.granted,
            throttled: s.throttled,
        }
    }

    /// Whether requests are waiting for slots (the quota binds).
    pub(crate) fn is_saturated(&self) -> bool {
        let now = self.clock.now();
        let s = self.lock();
        s.paused_until > now || s.next_free > now
    }
}

/// The rate in force, or, unlimited until now, what was granted per
/// second so far (at least 1).
fn pace(s: &State, now: Duration) -> f64 {
    if s.rate.is_finite() {
        s.rate
    } else {
        (s.granted as f64 / now.as_secs_f64().max(1.0)).max(1.0)
    }
}

/// Drops acceptances older than the learning window.
fn forget_before(accepted: &mut VecDeque<Duration>, now: Duration) {
    while accepted.front().is_some_and(|&t| t + LEARN_WINDOW < now) {
        accepted.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemClock;
    use std::sync::Arc;

    fn limiter(rate: Option<Rate>) -> RateLimiter {
        RateLimiter::new(Arc::new(SystemClock::new()), rate)
    }

    #[tokio::test(start_paused = true)]
    async fn keeps_under_the_rate_after_the_burst() {
        let l = limiter(Some(Rate::per_second(10.0).with_burst(5)));
        let start = tokio::time::Instant::now();
        for _ in 0..105 {
            l.acquire().await;
        }
        // 5 free, then 100 at 10/s.
        let elapsed = start.elapsed().as_secs_f64();
        assert!((9.9..=10.1).contains(&elapsed), "{elapsed}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_pauses_and_halves_the_rate_then_recovers() {
        let l = limiter(Some(Rate::per_second(10.0).with_burst(1)));
        l.acquire().await;
        l.observe(Some(429), Some(Duration::from_secs(3)));
        assert_eq!(l.stats().current_rate, Some(5.0));
        let start = tokio::time::Instant::now();
        l.acquire().await;
        assert!(start.elapsed() >= Duration::from_secs(3) - Duration::from_millis(1));
        for _ in 0..200 {
            l.observe(Some(200), None);
        }
        assert_eq!(l.stats().current_rate, Some(10.0));
        assert_eq!(l.stats().throttled, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn unlimited_never_waits_until_throttled() {
        let l = limiter(None);
        assert_eq!(l.reserve(), Duration::ZERO);
        assert_eq!(l.stats().current_rate, None);
        l.observe(Some(429), Some(Duration::from_secs(2)));
        assert!(l.reserve() >= Duration::from_secs(2) - Duration::from_millis(1));
        assert!(l.stats().current_rate.is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn one_episode_of_429s_lowers_once_and_the_limit_is_learned() {
        let l = limiter(None);
        tokio::time::advance(Duration::from_secs(1)).await;
        for _ in 0..20 {
            l.acquire().await;
        }
        let sent = l.clock.now();
        tokio::time::advance(Duration::from_millis(10)).await;
        for _ in 0..5 {
            l.observe_sent(Some(429), None, sent);
        }
        let stats = l.stats();
        assert_eq!(stats.throttled, 5);
        // One episode: halved once (20 granted in about 1 s).
        let first = stats.current_rate.unwrap();
        assert!((9.0..10.1).contains(&first), "{first}");
        // 10 s at 20 answers a second accepted (the rate climbing 0.25 a
        // success meanwhile, to about 60/s), then a new episode: the limit
        // learned is the larger of the 20/s the server accepted and half
        // the rate in force.
        for _ in 0..200 {
            tokio::time::advance(Duration::from_millis(50)).await;
            l.observe(Some(200), None);
        }
        let climbed = l.stats().current_rate.unwrap();
        assert!(climbed > 50.0, "{climbed}");
        l.observe(Some(429), None);
        let learned = l.stats().current_rate.unwrap();
        assert!(
            (climbed / 2.0 - 0.1..climbed / 2.0 + 0.1).contains(&learned),
            "{learned}"
        );
        // Successes probe above it only slowly.
        for _ in 0..100 {
            l.observe(Some(200), None);
        }
        let rate = l.stats().current_rate.unwrap();
        assert!((learned..learned * 1.03).contains(&rate), "{rate}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_run_of_429s_with_nothing_accepted_between_lowers_once() {
        // One burst of refusals (the server refusing the next few requests,
        // whatever their pace): each 429 answers a request sent after the
        // rate was lowered, but nothing was accepted in between.
        let l = limiter(None);
        tokio::time::advance(Duration::from_secs(100)).await;
        for _ in 0..300 {
            l.acquire().await;
            l.observe(Some(200), None);
        }
        let mut throttled_rates = Vec::new();
        for _ in 0..5 {
            l.acquire().await;
            let sent = l.clock.now();
            tokio::time::advance(Duration::from_millis(200)).await;
            l.observe_sent(Some(429), Some(Duration::from_secs(1)), sent);
            throttled_rates.push(l.stats().current_rate.unwrap());
        }
        // Lowered once, to half of the 3 a second it was doing.
        assert!(
            throttled_rates.iter().all(|r| (1.4..1.6).contains(r)),
            "{throttled_rates:?}"
        );
        // The burst over, successes raise the rate a step each, past what
        // it was doing: no limit was learned from the burst.
        for _ in 0..50 {
            l.acquire().await;
            l.observe(Some(200), None);
        }
        let rate = l.stats().current_rate.unwrap();
        assert!(rate > 10.0, "{rate}");
        // A 429 after the server accepted requests again is a new episode.
        l.acquire().await;
        l.observe(Some(429), None);
        assert!(l.stats().current_rate.is_some());
    }

    #[test]
    fn rates_parse_with_units_and_errors_say_how() {
        assert_eq!(
            Rate::parse("400/min").unwrap().requests_per_second(),
            400.0 / 60.0
        );
        assert_eq!(Rate::parse("3600/h").unwrap().requests_per_second(), 1.0);
        assert_eq!(Rate::parse("5/s").unwrap().requests_per_second(), 5.0);
        assert!(Rate::parse("fast").unwrap_err().contains("400/min"));
        assert!(Rate::parse("-3/s").unwrap_err().contains("positive"));
        assert!(Rate::parse("3/week").unwrap_err().contains("unit"));
    }
}

//! The one source of time for everything the client waits for.
//!
//! Backoff, `Retry-After`, poll intervals, deadlines, request timeouts, rate
//! limiting and sweeps all go through a [`Clock`], so that tests, benchmarks
//! and the demo can run the client and `writer-sim` on the same scaled clock:
//! a run at 100x counts the same requests as a real one, only faster.
//!
//! Both clocks here sleep with `tokio::time`, so tokio's paused clock also
//! drives them in tests that involve no sockets.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};

/// A boxed sleep future returned by [`Clock::sleep`].
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// A source of time: "now" and "sleep", in the clock's own frame.
///
/// For a scaled clock every duration is in simulated time: `sleep(30 s)` on a
/// 100x clock returns after 0.3 real seconds.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// Monotonic time since the clock was created, in the clock's frame.
    fn now(&self) -> Duration;
    /// Wall-clock time in the clock's frame (compare it with server timestamps).
    fn wall(&self) -> DateTime<Utc>;
    /// A future that completes after `duration` of the clock's time.
    fn sleep(&self, duration: Duration) -> Sleep;

    /// [`now`](Clock::now) as a [`ClockInstant`], a type of its own so
    /// that it cannot be taken for a duration or a wall-clock time.
    fn instant(&self) -> ClockInstant {
        ClockInstant::from_start(self.now())
    }
}

/// A moment on a [`Clock`]'s monotonic timeline: how long after the clock
/// started it is ([`Clock::now`]), in the clock's frame.
///
/// Times in this crate come in two kinds, each with a type of its own:
/// a moment of the client's own clock is a `ClockInstant` (it only
/// compares with moments of the same clock, and never goes backwards),
/// and a wall-clock time, comparable with the server's timestamps (a
/// job's `created_at`, a `Date` header), is a `DateTime<Utc>` (see
/// [`Clock::wall`]). A plain `Duration` is a length of time, never a
/// moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClockInstant(Duration);

impl ClockInstant {
    /// The moment `since_start` after the clock started.
    pub const fn from_start(since_start: Duration) -> Self {
        Self(since_start)
    }

    /// How long after the clock started this moment is.
    pub const fn since_start(self) -> Duration {
        self.0
    }

    /// How long after `earlier` this moment is (zero when it is not later).
    pub fn saturating_duration_since(self, earlier: ClockInstant) -> Duration {
        self.0.saturating_sub(earlier.0)
    }
}

/// A shared clock handle, cheap to clone.
pub type SharedClock = Arc<dyn Clock>;

/// Real time (via `tokio::time`, so tokio's paused clock works in tests).
#[derive(Debug, Clone)]
pub struct SystemClock {
    origin: tokio::time::Instant,
}

impl SystemClock {
    /// A clock starting now.
    pub fn new() -> Self {
        Self {
            origin: tokio::time::Instant::now(),
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    fn wall(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn sleep(&self, duration: Duration) -> Sleep {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// Real time sped up by a factor: simulated wall time is
/// `anchor + (real time since anchor) * scale`.
///
/// Give it the same `scale` and `anchor` as the simulator's clock
/// (`writer_sim` exposes both) and the two sides agree on every timestamp and
/// duration, even in different processes.
#[derive(Debug, Clone)]
pub struct ScaledClock {
    scale: f64,
    anchor: SystemTime,
    /// Real time between `anchor` and `origin`.
    offset: Duration,
    origin: tokio::time::Instant,
}

impl ScaledClock {
    /// A clock `scale` times faster than real time, anchored now.
    ///
    /// # Panics
    /// Never: a `scale` that is not finite and positive is treated as 1.
    pub fn new(scale: f64) -> Self {
        Self::with_anchor(scale, SystemTime::now())
    }

    /// A clock `scale` times faster than real time whose simulated wall time
    /// equals real time at `anchor`.
    pub fn with_anchor(scale: f64, anchor: SystemTime) -> Self {
        let scale = if scale.is_finite() && scale > 0.0 {
            scale
        } else {
            1.0
        };
        Self {
            scale,
            anchor,
            offset: SystemTime::now()
                .duration_since(anchor)
                .unwrap_or(Duration::ZERO),
            origin: tokio::time::Instant::now(),
        }
    }

    /// How many times faster than real time this clock runs.
    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// The real moment at which simulated and real wall time agree.
    pub fn anchor(&self) -> SystemTime {
        self.anchor
    }
}

/// A number of nanoseconds as a duration (saturating, NaN as zero). The
/// engine reads its clock several times per request, and
/// `Duration::mul_f64` goes through `from_secs_f64`, whose exact rounding
/// costs a hundred-odd instructions more than a float multiply and this
/// conversion; the result is exact to the nanosecond below 2^53 ns (104
/// days).
fn nanos(n: f64) -> Duration {
    Duration::from_nanos(n as u64)
}

impl Clock for ScaledClock {
    fn now(&self) -> Duration {
        nanos(self.origin.elapsed().as_nanos() as f64 * self.scale)
    }

    fn wall(&self) -> DateTime<Utc> {
        let since_anchor =
            nanos((self.offset + self.origin.elapsed()).as_nanos() as f64 * self.scale);
        DateTime::<Utc>::from(self.anchor + since_anchor)
    }

    fn sleep(&self, duration: Duration) -> Sleep {
        Box::pin(tokio::time::sleep(nanos(
            duration.as_nanos() as f64 / self.scale,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn scaled_sleep_takes_a_fraction_of_real_time() {
        let clock = ScaledClock::new(100.0);
        let real = tokio::time::Instant::now();
        clock.sleep(Duration::from_secs(30)).await;
        assert_eq!(real.elapsed(), Duration::from_millis(300));
        assert!(clock.now() >= Duration::from_secs(30));
    }

    #[tokio::test(start_paused = true)]
    async fn scaled_wall_time_runs_fast_from_the_anchor() {
        let anchor = SystemTime::now();
        let clock = ScaledClock::with_anchor(60.0, anchor);
        tokio::time::advance(Duration::from_secs(1)).await;
        let elapsed = clock.wall() - DateTime::<Utc>::from(anchor);
        assert!(elapsed.num_seconds() >= 59, "{elapsed}");
    }

    #[tokio::test(start_paused = true)]
    async fn instants_follow_the_clock_and_subtract_to_durations() {
        let clock = ScaledClock::new(10.0);
        let first = clock.instant();
        clock.sleep(Duration::from_secs(5)).await;
        let second = clock.instant();
        assert!(second > first);
        assert_eq!(second.since_start(), clock.now());
        assert_eq!(
            second.saturating_duration_since(first),
            Duration::from_secs(5)
        );
        assert_eq!(first.saturating_duration_since(second), Duration::ZERO);
    }

    #[test]
    fn a_bad_scale_falls_back_to_real_time() {
        assert_eq!(ScaledClock::new(f64::NAN).scale(), 1.0);
        assert_eq!(ScaledClock::new(-3.0).scale(), 1.0);
    }
}

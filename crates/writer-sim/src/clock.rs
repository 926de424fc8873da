//! The simulator's clock: real, scaled or manual time.
//!
//! Every time the simulator reasons about (job finish times, rate-limit
//! windows, `Retry-After`, slow responses, background tenants) is *simulated*
//! time from a [`SimClock`]. A scaled clock runs faster than real time, so a
//! 30 s job takes 0.3 s of wall time at scale 100; a manual clock only moves
//! when a test calls [`SimClock::advance`].

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use chrono::{DateTime, Utc};
use tokio::sync::watch;

use crate::config::ConfigError;

/// A clock in simulated time, shared (cheaply cloned) by the simulator and
/// the clients that want to wait on the same time line.
///
/// Simulated wall time is `anchor + (real time elapsed since anchor) * scale
/// + offset`, where `offset` grows with [`advance`](Self::advance). A manual
/// clock has no real-time component: it is `anchor + offset`.
#[derive(Clone, Debug)]
pub struct SimClock {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// `None` for a manual clock.
    scale: Option<f64>,
    anchor: SystemTime,
    /// The monotonic instant that corresponds to `anchor` in real time
    /// (possibly computed backwards when the anchor lies in the past).
    anchor_instant: Instant,
    /// Real time already elapsed since `anchor` when `anchor_instant` could
    /// not be placed that far back (very old anchors).
    anchor_backlog: Duration,
    offset: Mutex<Duration>,
    /// Bumped on every `advance`, so sleepers re-check the time.
    tick: watch::Sender<u64>,
}

impl SimClock {
    /// A clock that follows real time (scale 1), anchored now.
    pub fn real() -> Self {
        Self::build(Some(1.0), SystemTime::now())
    }

    /// A clock running `scale` times faster than real time, anchored now.
    ///
    /// Fails when `scale` is not a finite number above zero.
    pub fn scaled(scale: f64) -> Result<Self, ConfigError> {
        Self::scaled_from(SystemTime::now(), scale)
    }

    /// A scaled clock with an explicit anchor: lets a client in another
    /// process build a clock identical to the simulator's from its
    /// [`anchor`](Self::anchor) and [`scale`](Self::scale). An anchor in the
    /// future counts as now.
    pub fn scaled_from(anchor: SystemTime, scale: f64) -> Result<Self, ConfigError> {
        check_scale(scale)?;
        Ok(Self::build(Some(scale), anchor))
    }

    /// A clock that stands still until [`advance`](Self::advance) is called,
    /// starting at `start`. For the simulator's own tests.
    pub fn manual(start: SystemTime) -> Self {
        Self::build(None, start)
    }

    /// A manual clock starting at a fixed, arbitrary date (2025-01-01T00:00:00Z),
    /// so that test output does not depend on the day it runs.
    pub fn manual_default() -> Self {
        Self::manual(SystemTime::UNIX_EPOCH + Duration::from_secs(1_735_689_600))
    }

    fn build(scale: Option<f64>, anchor: SystemTime) -> Self {
        let now_instant = Instant::now();
        let since_anchor = SystemTime::now()
            .duration_since(anchor)
            .unwrap_or(Duration::ZERO);
        let (anchor_instant, anchor_backlog) = match scale {
            None => (now_instant, Duration::ZERO),
            Some(_) => match now_instant.checked_sub(since_anchor) {
                Some(at) => (at, Duration::ZERO),
                None => (now_instant, since_anchor),
            },
        };
        let (tick, _) = watch::channel(0);
        Self {
            inner: Arc::new(Inner {
                scale,
                anchor,
                anchor_instant,
                anchor_backlog,
                offset: Mutex::new(Duration::ZERO),
                tick,
            }),
        }
    }

    /// How many simulated seconds pass per real second; `0.0` for a manual
    /// clock (it only moves when advanced).
    pub fn scale(&self) -> f64 {
        self.inner.scale.unwrap_or(0.0)
    }

    /// Whether this is a manual clock.
    pub fn is_manual(&self) -> bool {
        self.inner.scale.is_none()
    }

    /// The real moment at which simulated time equals real time (for a
    /// manual clock: its start).
    pub fn anchor(&self) -> SystemTime {
        self.inner.anchor
    }

    /// The current simulated time as a [`SystemTime`].
    pub fn now_system(&self) -> SystemTime {
        let offset = *self
            .inner
            .offset
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let elapsed = match self.inner.scale {
            None => Duration::ZERO,
            Some(scale) => {
                let real = self.inner.anchor_instant.elapsed() + self.inner.anchor_backlog;
                Duration::try_from_secs_f64(real.as_secs_f64() * scale).unwrap_or(Duration::MAX)
            }
        };
        self.inner
            .anchor
            .checked_add(elapsed.saturating_add(offset))
            .unwrap_or(self.inner.anchor)
    }

    /// The current simulated time.
    pub fn now(&self) -> DateTime<Utc> {
        DateTime::<Utc>::from(self.now_system())
    }

    /// Moves simulated time forward by `by` and wakes every sleeper whose
    /// deadline has passed. Works on every clock kind; on a manual clock it
    /// is the only way time moves.
    pub fn advance(&self, by: Duration) {
        {
            let mut offset = self
                .inner
                .offset
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            *offset = offset.saturating_add(by);
        }
        self.inner.tick.send_modify(|t| *t = t.wrapping_add(1));
    }

    /// The real time that `sim` of simulated time takes on this clock
    /// (`None` on a manual clock, where it depends on the test).
    pub fn to_real(&self, sim: Duration) -> Option<Duration> {
        self.inner.scale.map(|scale| {
            Duration::try_from_secs_f64(sim.as_secs_f64() / scale).unwrap_or(Duration::MAX)
        })
    }

    /// Sleeps for `d` of simulated time.
    pub async fn sleep(&self, d: Duration) {
        let deadline = chrono::TimeDelta::from_std(d)
            .ok()
            .and_then(|delta| self.now().checked_add_signed(delta))
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        self.sleep_until(deadline).await;
    }

    /// Sleeps until the simulated time reaches `deadline`.
    pub async fn sleep_until(&self, deadline: DateTime<Utc>) {
        let mut ticks = self.inner.tick.subscribe();
        loop {
            let now = self.now();
            if now >= deadline {
                return;
            }
            let remaining = (deadline - now).to_std().unwrap_or(Duration::ZERO);
            match self.to_real(remaining) {
                Some(real) => {
                    // Round up a little so we do not wake a hair early and spin.
                    let real = real + Duration::from_micros(50);
                    tokio::select! {
                        _ = tokio::time::sleep(real) => {}
                        _ = ticks.changed() => {}
                    }
                }
                None => {
                    if ticks.changed().await.is_err() {
                        // The sender lives in `self`, so this cannot happen;
                        // still never spin.
                        return;
                    }
                }
            }
        }
    }
}

fn check_scale(scale: f64) -> Result<(), ConfigError> {
    if scale.is_finite() && scale > 0.0 {
        Ok(())
    } else {
        Err(ConfigError::Invalid {
            field: "scale".into(),
            value: scale.to_string(),
            fix: "use a finite number above 0 (1 = real time, 100 = 100x faster)".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_advanced() {
        let clock = SimClock::manual_default();
        let t0 = clock.now();
        assert_eq!(clock.now(), t0);
        clock.advance(Duration::from_secs(30));
        assert_eq!((clock.now() - t0).num_seconds(), 30);
        assert_eq!(clock.scale(), 0.0);
        assert!(clock.is_manual());
    }

    #[test]
    fn scaled_clock_runs_faster() {
        let clock = SimClock::scaled(1000.0).unwrap();
        let t0 = clock.now();
        std::thread::sleep(Duration::from_millis(20));
        let elapsed = (clock.now() - t0).num_milliseconds();
        assert!(elapsed >= 19_000, "elapsed {elapsed} ms");
    }

    #[test]
    fn identical_clock_from_anchor_and_scale() {
        let a = SimClock::scaled(50.0).unwrap();
        let b = SimClock::scaled_from(a.anchor(), a.scale()).unwrap();
        let diff = (a.now() - b.now()).num_milliseconds().abs();
        assert!(diff < 500, "clocks differ by {diff} ms of sim time");
    }

    #[test]
    fn bad_scale_is_an_error() {
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let err = SimClock::scaled(bad).unwrap_err();
            assert!(err.to_string().contains("scale"), "{err}");
        }
    }

    #[tokio::test]
    async fn manual_sleep_wakes_on_advance() {
        let clock = SimClock::manual_default();
        let c2 = clock.clone();
        let task = tokio::spawn(async move { c2.sleep(Duration::from_secs(10)).await });
        tokio::task::yield_now().await;
        clock.advance(Duration::from_secs(5));
        tokio::task::yield_now().await;
        assert!(!task.is_finished());
        clock.advance(Duration::from_secs(5));
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("sleeper woke")
            .unwrap();
    }

    #[tokio::test]
    async fn huge_sleep_does_not_panic() {
        for clock in [SimClock::manual_default(), SimClock::scaled(100.0).unwrap()] {
            let slept =
                tokio::time::timeout(Duration::from_millis(20), clock.sleep(Duration::MAX)).await;
            assert!(slept.is_err());
        }
    }

    #[tokio::test]
    async fn scaled_sleep_is_short_in_real_time() {
        let clock = SimClock::scaled(1000.0).unwrap();
        let start = Instant::now();
        clock.sleep(Duration::from_secs(10)).await;
        assert!(start.elapsed() < Duration::from_secs(1));
    }
}

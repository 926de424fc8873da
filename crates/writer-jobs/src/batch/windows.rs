//! Where the ambiguity windows lie: the engine's steady clock, how long the
//! server may hold a request, and what is known of the server's clock.
//!
//! Plain synchronous state whose methods take the clock time as an
//! argument, so its decisions are unit-tested without a runtime:
//!
//! - **The steady clock.** Every time the engine records or compares for a
//!   window is the wall clock at the run's start moved on by the monotonic
//!   clock: a wall clock stepped mid-run (an NTP correction) moves nothing.
//! - **The skew evidence.** This run's creates (`created_at` between send
//!   and answer) come first; the answers' `Date` headers (the pacer's)
//!   narrow them when they agree and stand in before any create is known;
//!   one that contradicts them (a proxy's clock) is ignored. What an earlier
//!   run recorded in the journal was measured against that run's clock: it
//!   places only the windows that run left.
//! - **Judging.** A window is judged only with the server's clock measured,
//!   or once probes have answered without any `Date` header (the fallback
//!   margin is then all there is).

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::pacer::steady_time;
use super::reconcile::{SkewEstimate, shift};

/// Slack added on each side of a measured clock-offset bound (rounding of
/// the times it was measured from).
pub(super) const SKEW_SLACK: chrono::Duration = chrono::Duration::milliseconds(50);

/// Probes answered without a `Date` header after which windows are judged
/// with the fallback margin alone.
const SKEW_PROBES: u32 = 3;

/// The engine's clocks and what it knows of the server's.
#[derive(Debug, Clone)]
pub(super) struct Windows {
    /// Wall and clock time of the run's start.
    anchor: (DateTime<Utc>, Duration),
    /// How long the server may hold a request.
    hold: chrono::Duration,
    /// The offset assumed on either side without evidence.
    fallback: chrono::Duration,
    /// This run's creates' evidence, on the steady clock.
    skew: SkewEstimate,
    /// An earlier run's evidence, on that run's clock.
    journal_skew: SkewEstimate,
    /// Probes sent to learn the server's clock.
    probes: u32,
}

impl Windows {
    /// The windows of a run started at `anchor` (wall and clock time of the
    /// same moment) with the server's `hold`, the `fallback` skew margin and
    /// an earlier run's evidence.
    pub(super) fn new(
        anchor: (DateTime<Utc>, Duration),
        hold: Duration,
        fallback: Duration,
        journal_skew: SkewEstimate,
    ) -> Self {
        Self {
            anchor,
            hold: chrono::Duration::from_std(hold).unwrap_or(chrono::Duration::MAX),
            fallback: chrono::Duration::from_std(fallback).unwrap_or_default(),
            skew: SkewEstimate::default(),
            journal_skew,
            probes: 0,
        }
    }

    /// Clock time `now` on the steady clock.
    pub(super) fn steady(&self, now: Duration) -> DateTime<Utc> {
        steady_time(self.anchor, now)
    }

    /// How long the server may hold a request.
    pub(super) fn hold(&self) -> chrono::Duration {
        self.hold
    }

    /// The latest steady time the server can still act on a request sent
    /// at `sent`: the hold after it, or now if it is still held.
    pub(super) fn hold_until(&self, sent: DateTime<Utc>, now: Duration) -> DateTime<Utc> {
        shift(sent, self.hold).max(self.steady(now))
    }

    /// Learns from a successful create sent and answered at these steady
    /// times.
    pub(super) fn observe_create(
        &mut self,
        sent: DateTime<Utc>,
        received: DateTime<Utc>,
        created_at: DateTime<Utc>,
    ) {
        self.skew.observe(sent, received, created_at);
    }

    /// This run's evidence, with the `Date` headers' (`dates`) where they
    /// agree with it, or in its place before any create is known.
    pub(super) fn current(&self, dates: &SkewEstimate) -> SkewEstimate {
        if !self.skew.is_measured() {
            return *dates;
        }
        let mut merged = self.skew;
        merged.merge(dates);
        if merged.is_consistent(SKEW_SLACK) {
            merged
        } else {
            self.skew
        }
    }

    /// The evidence that places a window: an earlier run's for what it left
    /// (when it recorded any), this run's for the rest.
    pub(super) fn evidence_for(&self, from_journal: bool, dates: &SkewEstimate) -> SkewEstimate {
        if from_journal && self.journal_skew.is_measured() {
            self.journal_skew
        } else {
            self.current(dates)
        }
    }

    /// The server-time window of a create first sent at `sent` whose job
    /// the server can make until `until` (steady clock), placed by `skew`.
    pub(super) fn window(
        &self,
        skew: &SkewEstimate,
        sent: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> (DateTime<Utc>, DateTime<Utc>) {
        skew.window(sent, until, SKEW_SLACK, self.fallback)
    }

    /// How far the server's clock may be from ours beyond `skew`: the width
    /// of its bound, or the fallback margin on either side.
    pub(super) fn uncertainty(&self, skew: &SkewEstimate) -> Duration {
        match skew.bounds(SKEW_SLACK) {
            Some((lo, hi)) => (hi - lo + SKEW_SLACK + SKEW_SLACK)
                .to_std()
                .unwrap_or_default(),
            None => (self.fallback + self.fallback).to_std().unwrap_or_default(),
        }
    }

    /// Whether windows may be judged, given the `Date` evidence and whether
    /// a probe is still out.
    pub(super) fn judgeable(&self, dates: &SkewEstimate, probe_running: bool) -> bool {
        self.current(dates).is_measured() || (self.probes >= SKEW_PROBES && !probe_running)
    }

    /// Counts a probe sent to learn the server's clock.
    pub(super) fn probe_sent(&mut self) {
        self.probes += 1;
    }

    /// Probes sent so far to learn the server's clock.
    pub(super) fn probes(&self) -> u32 {
        self.probes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap()
    }

    fn windows(journal: SkewEstimate) -> Windows {
        let secs = Duration::from_secs;
        Windows::new((t(0), secs(100)), secs(300), secs(30), journal)
    }

    /// Evidence that the server runs `ahead` seconds ahead, measured at `at`.
    fn evidence(at: i64, ahead: i64) -> SkewEstimate {
        let mut s = SkewEstimate::default();
        let stamp = t(at + ahead) + chrono::Duration::milliseconds(500);
        s.observe(t(at), t(at + 1), stamp);
        s
    }

    #[test]
    fn the_steady_clock_follows_the_monotonic_clock_from_the_start() {
        let w = windows(SkewEstimate::default());
        assert_eq!(w.steady(Duration::from_secs(100)), t(0));
        assert_eq!(w.steady(Duration::from_secs(160)), t(60));
        // Still being held: the window's end is now, not the past.
        assert_eq!(w.hold_until(t(-1000), Duration::from_secs(160)), t(60));
        assert_eq!(w.hold_until(t(10), Duration::from_secs(160)), t(310));
    }

    #[test]
    fn an_earlier_runs_evidence_places_only_its_own_windows() {
        // The earlier run's clock was 30 s behind the server's; this run's
        // clock is right.
        let mut w = windows(evidence(-500, 30));
        w.observe_create(t(10), t(11), t(10) + chrono::Duration::milliseconds(500));
        let dates = SkewEstimate::default();
        let (old_start, _) = w.window(&w.evidence_for(true, &dates), t(-400), t(-100));
        let (new_start, _) = w.window(&w.evidence_for(false, &dates), t(20), t(320));
        assert!(old_start >= t(-372) && old_start <= t(-368), "{old_start}");
        assert!(new_start >= t(18) && new_start <= t(21), "{new_start}");
    }

    #[test]
    fn date_headers_stand_in_before_any_create_and_never_contradict_one() {
        let w = windows(SkewEstimate::default());
        let dates = evidence(0, 49);
        assert_eq!(w.current(&dates), dates);
        let mut w = windows(SkewEstimate::default());
        w.observe_create(t(10), t(11), t(10) + chrono::Duration::milliseconds(500));
        // A proxy's Date 49 s off: ignored, the creates' bound stays.
        let (lo, hi) = w.current(&dates).bounds(SKEW_SLACK).unwrap();
        assert!(lo <= chrono::Duration::zero() && hi <= chrono::Duration::seconds(1));
    }

    #[test]
    fn windows_wait_for_evidence_or_for_probes_that_bring_none() {
        let mut w = windows(SkewEstimate::default());
        let none = SkewEstimate::default();
        assert!(!w.judgeable(&none, false));
        assert!(w.judgeable(&evidence(0, 5), false));
        for _ in 0..SKEW_PROBES {
            w.probe_sent();
        }
        assert!(!w.judgeable(&none, true), "the last probe is still out");
        assert!(w.judgeable(&none, false));
        assert_eq!(w.uncertainty(&none), Duration::from_secs(60));
    }
}

//! Where the ambiguity windows lie: the engine's steady clock, how long the
//! server may hold a request, and what is known of the server's clock.
//!
//! Plain synchronous state whose methods take the clock time as an
//! argument, so its decisions are unit-tested without a runtime:
//!
//! - **The steady clock.** Every time the engine records or compares for a
//!   window is the wall clock at the run's start moved on by the monotonic
//!   clock: a wall clock stepped mid-run (an NTP correction) moves nothing.
//! - **Trusted evidence only.** A window is placed in the server's time only
//!   by evidence the server itself stamped and that was measured on the
//!   clock the window was recorded on: this run's creates (`created_at`
//!   between send and answer) for this run's windows, each earlier run's
//!   (from the journal, whose header lines number the runs) for the
//!   windows that run left. Evidence of different runs is never merged:
//!   a clock stepped between two kills would make it lie. `Date` headers never place
//!   a window: a proxy may send its own, from a clock of its own, and
//!   nothing in the answer tells them apart. A client clock stepped between
//!   a kill and a resume moves nothing either: no window is placed with
//!   another run's evidence.
//! - **Without it, causality.** A window with no trusted evidence for its
//!   clock is unbounded in the server's time: any job the listing shows
//!   that no row owns may be its job, so such a create is found where the
//!   application is quiet (no orphan: it did not land) and reported where
//!   it is not; never judged "did not land" by a guessed offset.
//! - **When a window has passed.** The server may act on a request until
//!   the hold has passed since it received it, and it received it no later
//!   than when the exchange ended (the answer came, or the client gave up:
//!   a request can wait long in transit, in a proxy or a queue in front of
//!   the server), so a window ends at the exchange's end plus the hold, in
//!   real time: on this run's steady clock
//!   for this run's creates; for an earlier run's, whose sends all happened
//!   before this run opened the journal, at this run's start plus the hold
//!   (its recorded times are on a clock this run cannot read), unless a
//!   time the server stamped shows it has passed.

use crate::batch::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::pacer::steady_time;
use super::reconcile::{SkewEstimate, shift};

/// The longest a create may wait between its intent being written and
/// its request being first polled: a create polled later (a starved
/// runtime) is not sent but queued again
/// with a new intent, so that a window rebuilt on resume from an intent
/// alone (the journal records no send time) ends this much past the
/// intent's hold, and no later.
pub(super) const MAX_SEND_DELAY: Duration = Duration::from_secs(1);

/// Slack added on each side of a measured clock-offset bound (rounding of
/// the times it was measured from).
pub(super) const SKEW_SLACK: chrono::Duration = chrono::Duration::milliseconds(50);

/// No evidence at all.
const UNMEASURED: SkewEstimate = SkewEstimate::UNMEASURED;

/// The engine's clocks and what it knows of the server's.
#[derive(Debug, Clone)]
pub(super) struct Windows {
    /// Wall and clock time of the run's start.
    anchor: (DateTime<Utc>, Duration),
    /// How long the server may hold a request.
    hold: chrono::Duration,
    /// How long after it was sent a request may still reach the server
    /// (see [`Windows::with_transit`]).
    transit: Duration,
    /// This run's creates' evidence, on the steady clock.
    skew: SkewEstimate,
    /// Each earlier run's evidence, on that run's clock, by run (the
    /// journal's header lines number the runs).
    journal_skew: HashMap<u32, SkewEstimate>,
}

/// Which clock a window's times were recorded on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Recorded {
    /// This run's steady clock.
    ThisRun,
    /// The clock of the journal's run with this number.
    EarlierRun(u32),
}

impl Windows {
    /// The windows of a run started at `anchor` (wall and clock time of the
    /// same moment) with the server's `hold` and an earlier run's evidence.
    pub(super) fn new(
        anchor: (DateTime<Utc>, Duration),
        hold: Duration,
        journal_skew: HashMap<u32, SkewEstimate>,
    ) -> Self {
        Self {
            anchor,
            hold: chrono::Duration::from_std(hold).unwrap_or(chrono::Duration::MAX),
            transit: Duration::ZERO,
            skew: SkewEstimate::default(),
            journal_skew,
        }
    }

    /// Sets how long after its intent an earlier run's request may still
    /// reach the server: it went on the wire within [`MAX_SEND_DELAY`], and
    /// its sender gave up on it after `timeout` (a request can wait in
    /// transit after its sender died). Without it (tests), none.
    pub(super) fn with_transit(mut self, timeout: Duration) -> Self {
        self.transit = MAX_SEND_DELAY.saturating_add(timeout);
        self
    }

    /// Clock time `now` on the steady clock.
    pub(super) fn steady(&self, now: Duration) -> DateTime<Utc> {
        steady_time(self.anchor, now)
    }

    /// The latest steady time the server can still act on a request sent
    /// at `sent`: the hold after it, or now if it is still held.
    pub(super) fn hold_until(&self, sent: DateTime<Utc>, now: Duration) -> DateTime<Utc> {
        shift(sent, self.hold).max(self.steady(now))
    }

    /// The latest steady time the server can still act on a request whose
    /// exchange ended at `now` (its answer came, or the client gave up on
    /// it): the server received it no later than then (a request can spend
    /// long in transit, in a proxy or a queue in front of the server), and
    /// may hold it for the hold after it received it.
    pub(super) fn acted_until(&self, now: Duration) -> DateTime<Utc> {
        shift(self.steady(now), self.hold)
    }

    /// How long after its intent the server may act on a request an
    /// earlier run recorded no answer to: the request went on the wire
    /// within [`MAX_SEND_DELAY`] of its intent; the server received it, if
    /// at all, by the time that run would have given up on it (the request
    /// timeout, see [`Windows::with_transit`]), had it not been killed
    /// first (a request can wait in transit, in a proxy or a queue in front
    /// of the server, after its sender died); and it may hold it for the
    /// hold after that.
    pub(super) fn reach(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.transit)
            .unwrap_or(chrono::Duration::MAX / 4)
            .checked_add(&self.hold)
            .unwrap_or(chrono::Duration::MAX / 4)
    }

    /// Clock time after which the server can no longer act on anything an
    /// earlier run sent (all of it before this run started, so received by
    /// this run's start plus the transit).
    pub(super) fn earlier_runs_settled(&self) -> Duration {
        let hold = self.hold.to_std().unwrap_or(Duration::MAX / 4);
        self.anchor
            .1
            .saturating_add(self.transit)
            .saturating_add(hold)
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

    /// The trusted evidence for windows recorded on `clock`.
    pub(super) fn evidence(&self, clock: Recorded) -> &SkewEstimate {
        match clock {
            Recorded::ThisRun => &self.skew,
            Recorded::EarlierRun(run) => self.journal_skew.get(&run).unwrap_or(&UNMEASURED),
        }
    }

    /// Whether windows recorded on `clock` can be placed in the server's
    /// time (else they are unbounded: see the module doc).
    pub(super) fn placed(&self, clock: Recorded) -> bool {
        self.evidence(clock).is_measured()
    }

    /// The server-time window of a request first sent at `sent` whose job
    /// the server can make until `until`, both recorded on `clock`:
    /// placed by that clock's trusted evidence, or unbounded without any.
    pub(super) fn window(
        &self,
        clock: Recorded,
        sent: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> (DateTime<Utc>, DateTime<Utc>) {
        let evidence = self.evidence(clock);
        if evidence.is_measured() {
            evidence.window(sent, until, SKEW_SLACK, chrono::Duration::zero())
        } else {
            (DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC)
        }
    }

    /// How long after a window of this run ends on our clock it has surely
    /// ended in the server's time too: the width of the offset's bound
    /// (zero for an unbounded window, which any later listing judges).
    pub(super) fn uncertainty(&self) -> Duration {
        match self.skew.bounds(SKEW_SLACK) {
            Some((lo, hi)) => (hi - lo + SKEW_SLACK + SKEW_SLACK)
                .to_std()
                .unwrap_or_default(),
            None => Duration::ZERO,
        }
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
        let runs = if journal.is_measured() {
            [(1, journal)].into_iter().collect()
        } else {
            HashMap::default()
        };
        Windows::new((t(0), secs(100)), secs(300), runs)
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
        // An earlier run sent everything before this run started.
        assert_eq!(w.earlier_runs_settled(), Duration::from_secs(400));
        // Its requests may have reached the server up to the transit after.
        let w = w.with_transit(Duration::from_secs(60));
        assert_eq!(w.earlier_runs_settled(), Duration::from_secs(461));
        // And a request it recorded no answer to, up to 1 s to go on the
        // wire, the timeout and the hold after its intent.
        assert_eq!(w.reach(), chrono::Duration::seconds(361));
    }

    #[test]
    fn each_runs_evidence_places_only_its_own_windows() {
        // The earlier run's clock was 30 s behind the server's; this run's
        // clock is right.
        let mut w = windows(evidence(-500, 30));
        w.observe_create(t(10), t(11), t(10) + chrono::Duration::milliseconds(500));
        let (old_start, _) = w.window(Recorded::EarlierRun(1), t(-400), t(-100));
        let (new_start, _) = w.window(Recorded::ThisRun, t(20), t(320));
        assert!(old_start >= t(-372) && old_start <= t(-368), "{old_start}");
        assert!(new_start >= t(18) && new_start <= t(21), "{new_start}");
    }

    #[test]
    fn without_trusted_evidence_a_window_is_unbounded() {
        let w = windows(SkewEstimate::default());
        assert!(!w.placed(Recorded::ThisRun) && !w.placed(Recorded::EarlierRun(1)));
        for clock in [Recorded::ThisRun, Recorded::EarlierRun(1)] {
            assert_eq!(
                w.window(clock, t(10), t(310)),
                (DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC)
            );
        }
        assert_eq!(w.uncertainty(), Duration::ZERO);
        // This run's evidence does not place an earlier run's windows.
        let mut w = windows(SkewEstimate::default());
        w.observe_create(t(10), t(11), t(10));
        assert!(w.placed(Recorded::ThisRun) && !w.placed(Recorded::EarlierRun(1)));
        assert_eq!(
            w.window(Recorded::EarlierRun(1), t(10), t(310)).0,
            DateTime::<Utc>::MIN_UTC
        );
    }
}

//! The windows a reconciliation listing is judged against ([`Pending`]):
//! the ambiguous creates, creates still on the wire, this and earlier
//! runs' lost retries and reported creates; and when the next listing is
//! due after one.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::*;

impl Reconciler {
    /// Every window a listing started at `started` is judged against: the
    /// ambiguous creates, creates still on the wire, and lost retries
    /// (whose own verdicts are dropped: no ambiguous create has their
    /// key); `proof` is the latest time the server had stamped before the
    /// listing's pages were read.
    pub(super) fn pending(
        &mut self,
        started: Duration,
        now: Duration,
        proof: Option<DateTime<Utc>>,
    ) -> Vec<Pending> {
        let mut pending: Vec<Pending> = self
            .ambiguous
            .iter()
            .map(|a| {
                let (start, end) = self.window_of(a);
                Pending {
                    key: a.key.clone(),
                    start,
                    end,
                    settled: self.settled(a.clock(), (end, a.settle_at), started, proof),
                    inputs: a.inputs.clone(),
                }
            })
            .collect();
        pending.extend(self.on_wire.iter().map(|(key, since)| {
            let (start, end) = self.window(*since, self.hold_until(*since, now));
            Pending {
                key: key.clone(),
                start,
                end,
                settled: false,
                inputs: None,
            }
        }));
        // This run's lost retries and reported creates that end before
        // every window still open begins can no longer matter (but a lost
        // retry its row has yet to reconcile).
        let horizon = pending.iter().map(|p| p.start).min();
        let windows = &self.windows;
        let matters = |r: &LostRetry| {
            matches!(r.clock, Recorded::EarlierRun(_))
                || horizon.is_none_or(|h| windows.window(r.clock, r.sent, r.until).1 >= h)
        };
        let open = &self.open_lost;
        self.retry_windows
            .retain(|r| open.contains(&r.key) || matters(r));
        self.reported.retain(matters);
        let earlier_settled = self.windows.earlier_runs_settled();
        let ghost = |label: &str, r: &LostRetry| {
            let (start, end) = self.windows.window(r.clock, r.sent, r.until);
            let settled = match r.clock {
                Recorded::ThisRun => self.steady(started) > r.until,
                Recorded::EarlierRun(_) => {
                    self.settled(r.clock, (end, earlier_settled), started, proof)
                }
            };
            // Never one of the ambiguous creates' keys, so its own verdict
            // is dropped; no inputs, so no row takes its place in a cluster.
            Pending {
                key: format!("{label} {}", r.key),
                start,
                end,
                settled,
                inputs: None,
            }
        };
        let ghosts: Vec<Pending> = self
            .retry_windows
            .iter()
            .map(|r| ghost("retry of", r))
            .chain(self.reported.iter().map(|r| ghost("reported", r)))
            .collect();
        pending.extend(ghosts);
        pending
    }

    /// Schedules the next listing after one that judged `pending` and
    /// decided nothing when `none_decided`.
    pub(super) fn schedule_next(&mut self, pending: &[Pending], none_decided: bool, now: Duration) {
        // Whatever is left waits for something to change: the next create
        // to settle (a settled one still undecided waits for the unsettled
        // windows it shares orphans with), else a few seconds (a create on
        // the wire, a lost retry's window, a deeper listing). Listing again
        // sooner would only read the same pages. An earlier run's window
        // not proved passed is peeked at again every 30 s.
        for a in &mut self.ambiguous {
            if a.peek_at <= now {
                a.peek_at = (now + Duration::from_secs(30)).min(a.settle_at);
            }
        }
        // A listing that judged none of the settled creates it could (jobs
        // of one second split between its pages, say) is likely followed by
        // another that cannot either, and each reads the application back to
        // the oldest window: they come further apart (10 s doubling to 60 s)
        // until one judges something or a new create settles.
        let waiting = pending
            .iter()
            .any(|p| p.settled && self.ambiguous.iter().any(|a| a.key == p.key));
        self.fruitless = if none_decided && waiting {
            self.fruitless + 1
        } else {
            0
        };
        let again = Duration::from_secs(5)
            .saturating_mul(1 << self.fruitless.min(4))
            .min(Duration::from_secs(60));
        let next_due = self
            .ambiguous
            .iter()
            .map(|a| a.settle_at.min(a.peek_at))
            .filter(|at| *at > now)
            .min();
        self.next = next_due
            .unwrap_or(now + again)
            .max(now + Duration::from_secs(1));
    }
}

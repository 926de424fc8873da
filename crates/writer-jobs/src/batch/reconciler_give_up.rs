//! The reconciler giving up: a create no listing could judge by its
//! give-up time is reported, with the jobs no row owns that listings which
//! covered its settled window showed in it, and a reason that says why
//! its own job may be missing from them; so neither a list endpoint that
//! stays down nor one that keeps splitting a second's jobs between pages
//! can stall the run.

use std::time::Duration;

use super::{Ambiguous, Reconciler, assign};
use crate::batch::listing::Listing;
use crate::batch::reconcile::{Pending, Verdict};

/// Why a create reported because jobs of one second kept being split
/// between list pages in its window may lack its own job among the
/// candidates.
const SPLIT_REASON: &str = "jobs created in the same second kept being split between list \
    pages in its window, so a listing may have missed some of them: its own job may be missing \
    from these candidates";

impl Reconciler {
    /// A listing failed: back off (5 s doubling to 60 s), and give up on
    /// the creates past their give-up time (returned, their reason
    /// saying why), so a list endpoint that stays down cannot stall the
    /// run.
    pub(in crate::batch) fn listing_failed(
        &mut self,
        now: Duration,
        error: &str,
    ) -> Vec<Ambiguous> {
        self.running = false;
        self.failures += 1;
        self.patient = true;
        let backoff = Duration::from_secs(5)
            .saturating_mul(1 << self.failures.min(4))
            .min(Duration::from_secs(60));
        tracing::warn!(%error, ?backoff, "reconciliation listing failed; will try again");
        self.next = now + backoff.max(self.limits.min_interval);
        self.expire(now, error)
    }

    /// The running listing was dropped (nothing was left for it to judge).
    pub(in crate::batch) fn listing_dropped(&mut self) {
        self.running = false;
    }

    /// The creates past their give-up time while a listing is still
    /// running (a list that answers, but slower than it grows): reported
    /// now, so a listing that takes long cannot hold the run past the
    /// give-up time. Its verdicts on them are dropped when it ends.
    pub(in crate::batch) fn expire_while_listing(&mut self, now: Duration) -> Vec<Ambiguous> {
        // Called on every turn of the engine's loop: nothing to take, no work.
        if !self.running || !self.ambiguous.iter().any(|a| now >= a.give_up_at) {
            return Vec::new();
        }
        self.expire(
            now,
            "a listing was still reading the application's jobs at the give-up time",
        )
    }

    /// Takes the creates past their give-up time, their reasons saying
    /// why (`error`: why no listing judged them), each with the jobs no
    /// row owns that earlier listings showed in its window.
    pub(super) fn expire(&mut self, now: Duration, error: &str) -> Vec<Ambiguous> {
        let (expired, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.ambiguous)
            .into_iter()
            .partition(|a| now >= a.give_up_at);
        self.ambiguous = waiting;
        for a in &expired {
            self.keep_reported(a);
        }
        let known = &self.known;
        expired
            .into_iter()
            .map(|mut a| {
                // Jobs adopted since they were seen are another row's.
                a.seen.retain(|id| !known.contains_key(id));
                let why = if a.seen.is_empty() {
                    format!(
                        "the application's jobs could not be listed to find out whether the \
                         create landed ({error})"
                    )
                } else {
                    format!(
                        "listings that covered its window showed these jobs no row owns in it \
                         but could not judge it (it shared them with creates not yet settled, or \
                         jobs of one second were split between pages there, which may hide its \
                         job); no later listing could judge it ({error})"
                    )
                };
                a.reason = format!("{}; {why}", a.reason);
                a
            })
            .collect()
    }

    /// Keeps, for each create still undecided, the jobs no row owns that
    /// the listing showed in its window (see [`Ambiguous::seen`]): only
    /// from a listing that covered the whole window after it had settled,
    /// so its job can be missing from them only through a hole the listing
    /// reported (jobs of one stamp split between pages).
    pub(super) fn note_seen(&mut self, pending: &[Pending], listing: &Listing) {
        for a in &mut self.ambiguous {
            let Some(p) = pending.iter().find(|p| {
                p.key == a.key
                    && p.settled
                    && listing.covered_since <= p.start
                    && listing.covered_until >= p.end
            }) else {
                continue;
            };
            let known = &self.known;
            a.seen.extend(
                listing
                    .jobs
                    .iter()
                    .filter(|(id, at)| !known.contains_key(id) && assign::within(p, *at))
                    .map(|(id, _)| id.clone()),
            );
            a.seen.sort_unstable();
            a.seen.dedup();
        }
    }

    /// The creates past their give-up time that a listing could not judge
    /// because jobs of a stamp in their window were split between pages
    /// (and could not be read again in one answer): reported with the
    /// orphans in their window, so a list that keeps splitting them (a
    /// quiet application, the same page boundary) cannot stall the run.
    pub(super) fn split_too_long(
        &mut self,
        pending: &[Pending],
        listing: &Listing,
        now: Duration,
        decided: &[Verdict],
    ) -> Vec<Verdict> {
        let verdicts: Vec<Verdict> = self
            .ambiguous
            .iter()
            .filter(|a| now >= a.give_up_at && !decided.iter().any(|v| v.key() == a.key))
            .filter_map(|a| pending.iter().find(|p| p.key == a.key && p.settled))
            .filter(|p| listing.ties.iter().any(|t| assign::within(p, *t)))
            .map(|p| {
                let mut candidates: Vec<String> = listing
                    .jobs
                    .iter()
                    .filter(|(id, at)| !self.is_known(id) && assign::within(p, *at))
                    .map(|(id, _)| id.clone())
                    .collect();
                candidates.sort_unstable();
                candidates.dedup();
                tracing::warn!(key = %p.key, "jobs of one second keep splitting between pages; reporting the create");
                Verdict::Unresolved {
                    key: p.key.clone(),
                    candidates,
                }
            })
            .collect();
        for v in &verdicts {
            if let Some(a) = self.ambiguous.iter_mut().find(|a| a.key == v.key()) {
                a.reason = format!("{}; {SPLIT_REASON}", a.reason);
            }
        }
        verdicts
    }
}

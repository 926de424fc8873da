//! The create pipeline: rows waiting for a create slot, creates waiting
//! for their permit (the breaker's gate and the rate limiter), creates on
//! the wire, and what a failed create means for its row.
//!
//! Plain synchronous state: the engine takes a row from [`Creates::next`]
//! when a slot is free and creates are allowed, waits for its permit off
//! the loop, writes the intent, sends it once, and hands the answer to
//! [`after_failure`], which says what becomes of the row.
//!
//! With less overlap ([`super::Batch::less_overlap`]), a create that ends
//! ambiguous stops new creates until its window has passed, so none of
//! them can make a job inside it; creates then go one at a time and grow
//! back to the concurrency by one per answered create.

use std::collections::VecDeque;
use std::time::Duration;

use super::Row;
use crate::error::Error;

/// A row waiting for (or holding) a create slot.
#[derive(Debug)]
pub(super) struct Queued {
    pub(super) row: Row,
    pub(super) seq: u64,
    /// Creates sent for the row so far.
    pub(super) creates: u32,
    /// Creates of the row found unsent (first polled too late after their
    /// intent) in this run: capped, so a machine too slow for the clock
    /// cannot loop on the row.
    pub(super) unsent: u32,
}

impl Queued {
    /// A row never sent.
    pub(super) fn new(row: Row, seq: u64) -> Self {
        Self {
            row,
            seq,
            creates: 0,
            unsent: 0,
        }
    }
}

/// Rows queued for a create, and the creates under way.
#[derive(Debug)]
pub(super) struct Creates {
    queue: VecDeque<Queued>,
    /// Creates waiting for their permit or on the wire.
    creating: usize,
    /// Of those, creates waiting for their permit (the breaker may hold
    /// them: the engine must then probe, whatever else is tracked).
    awaiting_permit: usize,
    /// Creates under way at most.
    concurrency: usize,
    /// Less overlap after ambiguous creates (`None`: off).
    less_overlap: Option<LessOverlap>,
}

/// After a create ends ambiguous: no create until its window has passed,
/// then one at a time, growing back to the concurrency by one per answered
/// create (additive increase, multiplicative decrease).
#[derive(Debug)]
struct LessOverlap {
    /// Clock time until which no create is sent.
    paused_until: Duration,
    /// Creates under way at most after the pause.
    limit: usize,
}

impl Creates {
    /// At most `concurrency` creates under way; with `less_overlap`, none
    /// while an ambiguous create's window is open, then fewer.
    pub(super) fn new(concurrency: usize, less_overlap: bool) -> Self {
        let concurrency = concurrency.max(1);
        Self {
            queue: VecDeque::new(),
            creating: 0,
            awaiting_permit: 0,
            concurrency,
            less_overlap: less_overlap.then_some(LessOverlap {
                paused_until: Duration::ZERO,
                limit: concurrency,
            }),
        }
    }

    /// Creates under way at most at clock time `now`.
    fn limit(&self, now: Duration) -> usize {
        match &self.less_overlap {
            Some(l) if now < l.paused_until => 0,
            Some(l) => l.limit,
            None => self.concurrency,
        }
    }

    /// A create ended ambiguous, its window open until clock time `until`:
    /// with less overlap, no create is sent before then, and one at a time
    /// after.
    pub(super) fn ambiguous(&mut self, until: Duration) {
        if let Some(l) = &mut self.less_overlap {
            l.paused_until = l.paused_until.max(until);
            l.limit = 1;
        }
    }

    /// A create was answered at `now`: past a pause, one more may be under
    /// way.
    pub(super) fn answered(&mut self, now: Duration) {
        if let Some(l) = &mut self.less_overlap
            && now >= l.paused_until
        {
            l.limit = (l.limit + 1).min(self.concurrency);
        }
    }

    /// When creates paused after an ambiguous one may go again, while rows
    /// wait for it.
    pub(super) fn resume_at(&self, now: Duration) -> Option<Duration> {
        let l = self.less_overlap.as_ref()?;
        (l.paused_until > now && !self.queue.is_empty()).then_some(l.paused_until)
    }

    /// Queues a row behind the others.
    pub(super) fn push_back(&mut self, queued: Queued) {
        self.queue.push_back(queued);
    }

    /// Queues a row to go next (one sent again goes before new rows).
    pub(super) fn push_front(&mut self, queued: Queued) {
        self.queue.push_front(queued);
    }

    /// Drops the queued rows (the batch stops: a resumed run creates them).
    pub(super) fn clear_queue(&mut self) {
        self.queue.clear();
    }

    /// The next row to create, when a slot is free and creates are
    /// `allowed`; it then holds a slot and waits for its permit.
    pub(super) fn next(&mut self, allowed: bool, now: Duration) -> Option<Queued> {
        if self.creating >= self.limit(now) || !allowed {
            return None;
        }
        let queued = self.queue.pop_front()?;
        self.creating += 1;
        self.awaiting_permit += 1;
        Some(queued)
    }

    /// A create's permit was granted: it goes on the wire.
    pub(super) fn permitted(&mut self) {
        self.awaiting_permit -= 1;
    }

    /// A create ended (answered, failed, or dropped before it was sent):
    /// its slot is free.
    pub(super) fn ended(&mut self) {
        self.creating -= 1;
    }

    /// Rows queued.
    pub(super) fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Creates waiting for their permit or on the wire.
    pub(super) fn creating(&self) -> usize {
        self.creating
    }

    /// Whether anything waits that the breaker may be holding back.
    pub(super) fn waiting(&self) -> bool {
        !self.queue.is_empty() || self.awaiting_permit > 0
    }
}

/// What becomes of a row whose create failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AfterFailure {
    /// The server surely did not act (429, no connection): queue it again,
    /// to be sent later with a new intent.
    Requeue,
    /// The create may have landed: reconcile it.
    Reconcile,
    /// Every other row would fail the same way (bad key, no access, no
    /// such application): stop the batch.
    Stop,
    /// The server refused this row: it ends rejected.
    Reject,
}

/// What becomes of a row whose create failed with `error`.
pub(super) fn after_failure(error: &Error) -> AfterFailure {
    match error {
        Error::RateLimited { .. } | Error::Transport { connect: true, .. } => AfterFailure::Requeue,
        Error::Ambiguous { .. } => AfterFailure::Reconcile,
        Error::Unauthorized { .. } | Error::Forbidden { .. } | Error::NotFound { .. } => {
            AfterFailure::Stop
        }
        _ => AfterFailure::Reject,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Inputs;

    fn queued(key: &str) -> Queued {
        Queued::new(Row::new(key, Inputs::new()), 0)
    }

    #[test]
    fn slots_bound_the_creates_under_way() {
        let mut c = Creates::new(2, false);
        for key in ["a", "b", "c"] {
            c.push_back(queued(key));
        }
        assert!(
            c.next(false, Duration::ZERO).is_none(),
            "creates not allowed"
        );
        assert_eq!(c.next(true, Duration::ZERO).unwrap().row.key, "a");
        assert_eq!(c.next(true, Duration::ZERO).unwrap().row.key, "b");
        assert!(c.next(true, Duration::ZERO).is_none(), "both slots taken");
        assert_eq!((c.creating(), c.queued()), (2, 1));
        assert!(c.waiting());
        c.permitted();
        c.permitted();
        c.ended();
        c.push_front(queued("again"));
        assert_eq!(c.next(true, Duration::ZERO).unwrap().row.key, "again");
        c.permitted();
        c.ended();
        c.ended();
        assert_eq!(c.next(true, Duration::ZERO).unwrap().row.key, "c");
        c.permitted();
        assert!(!c.waiting(), "nothing queued, nothing waiting for a permit");
        c.ended();
        assert_eq!(c.creating(), 0);
    }

    #[test]
    fn after_an_ambiguous_create_none_is_sent_until_its_window_passed_then_fewer() {
        let secs = Duration::from_secs;
        let mut c = Creates::new(3, true);
        for i in 0..10 {
            c.push_back(queued(&format!("r{i}")));
        }
        let take = |c: &mut Creates, now| {
            let mut n = 0;
            while c.next(true, now).is_some() {
                c.permitted();
                n += 1;
            }
            n
        };
        assert_eq!(take(&mut c, secs(0)), 3, "no ambiguity yet: all slots");
        c.ended();
        c.ambiguous(secs(10));
        c.ended();
        c.ended();
        assert_eq!(c.resume_at(secs(2)), Some(secs(10)));
        assert_eq!(take(&mut c, secs(2)), 0, "its window is open: none");
        assert_eq!(take(&mut c, secs(10)), 1, "then one at a time");
        assert_eq!(take(&mut c, secs(10)), 0);
        assert_eq!(c.resume_at(secs(10)), None);
        c.ended();
        c.answered(secs(11));
        assert_eq!(take(&mut c, secs(11)), 2, "one more per answer");
        c.ended();
        c.answered(secs(12));
        c.ended();
        c.answered(secs(12));
        c.answered(secs(12));
        assert_eq!(
            take(&mut c, secs(12)),
            3,
            "back to the concurrency, no more"
        );
        // Off: an ambiguous create changes nothing.
        let mut plain = Creates::new(2, false);
        plain.push_back(queued("a"));
        plain.push_back(queued("b"));
        plain.ambiguous(secs(100));
        assert_eq!(plain.resume_at(secs(0)), None);
        assert_eq!(take(&mut plain, secs(0)), 2);
    }

    #[test]
    fn a_create_is_sent_again_only_when_the_server_surely_did_not_act() {
        let refused = Error::transport("connection refused", true, None);
        assert_eq!(after_failure(&refused), AfterFailure::Requeue);
        let ambiguous = Error::Ambiguous {
            operation: "create_job",
            status: Some(502),
            request_id: None,
            reason: "bad gateway".into(),
        };
        assert_eq!(after_failure(&ambiguous), AfterFailure::Reconcile);
    }
}

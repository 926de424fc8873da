//! The create pipeline: rows waiting for a create slot, creates waiting
//! for their permit (the breaker's gate and the rate limiter), creates on
//! the wire, and what a failed create means for its row.
//!
//! Plain synchronous state: the engine takes a row from [`Creates::next`]
//! when a slot is free and creates are allowed, waits for its permit off
//! the loop, writes the intent, sends it once, and hands the answer to
//! [`after_failure`], which says what becomes of the row.
//!
//! With a cool-down set ([`super::Batch::cautious_after_ambiguous`]), a
//! create that ends ambiguous makes the next creates go one at a time
//! until the cool-down has passed, and the creates under way then grow
//! back by one per answered create (additive increase, multiplicative
//! decrease): fewer creates on the wire beside an ambiguous one means
//! fewer windows for its orphan to fall in.

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
}

impl Queued {
    /// A row never sent.
    pub(super) fn new(row: Row, seq: u64) -> Self {
        Self {
            row,
            seq,
            creates: 0,
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
    /// After an ambiguous create: one at a time for the cool-down, then
    /// back to `concurrency` by one per answered create.
    caution: Option<Caution>,
}

/// The state of the cool-down after ambiguous creates.
#[derive(Debug)]
struct Caution {
    cooldown: Duration,
    /// Clock time until which creates go one at a time.
    until: Duration,
    /// Creates under way at most, once the cool-down has passed.
    limit: usize,
}

impl Creates {
    /// At most `concurrency` creates under way; with a `cooldown`, one at a
    /// time for that long after each ambiguous create.
    pub(super) fn new(concurrency: usize, cooldown: Option<Duration>) -> Self {
        let concurrency = concurrency.max(1);
        Self {
            queue: VecDeque::new(),
            creating: 0,
            awaiting_permit: 0,
            concurrency,
            caution: cooldown.map(|cooldown| Caution {
                cooldown,
                until: Duration::ZERO,
                limit: concurrency,
            }),
        }
    }

    /// Creates under way at most at clock time `now`.
    fn limit(&self, now: Duration) -> usize {
        match &self.caution {
            Some(c) if now < c.until => 1,
            Some(c) => c.limit,
            None => self.concurrency,
        }
    }

    /// A create ended ambiguous at `now`: one at a time for the cool-down.
    pub(super) fn ambiguous(&mut self, now: Duration) {
        if let Some(c) = &mut self.caution {
            c.until = c.until.max(now + c.cooldown);
            c.limit = 1;
        }
    }

    /// A create was answered at `now`: past the cool-down, one more may be
    /// under way.
    pub(super) fn answered(&mut self, now: Duration) {
        if let Some(c) = &mut self.caution
            && now >= c.until
        {
            c.limit = (c.limit + 1).min(self.concurrency);
        }
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

    /// The next row to create at clock time `now`, when a slot is free and
    /// creates are `allowed`; it then holds a slot and waits for its permit.
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

    const T0: Duration = Duration::ZERO;

    fn queued(key: &str) -> Queued {
        Queued::new(Row::new(key, Inputs::new()), 0)
    }

    #[test]
    fn slots_bound_the_creates_under_way() {
        let mut c = Creates::new(2, None);
        for key in ["a", "b", "c"] {
            c.push_back(queued(key));
        }
        assert!(c.next(false, T0).is_none(), "creates not allowed");
        assert_eq!(c.next(true, T0).unwrap().row.key, "a");
        assert_eq!(c.next(true, T0).unwrap().row.key, "b");
        assert!(c.next(true, T0).is_none(), "both slots taken");
        assert_eq!((c.creating(), c.queued()), (2, 1));
        assert!(c.waiting());
        c.permitted();
        c.permitted();
        c.ended();
        c.push_front(queued("again"));
        assert_eq!(c.next(true, T0).unwrap().row.key, "again");
        c.permitted();
        c.ended();
        c.ended();
        assert_eq!(c.next(true, T0).unwrap().row.key, "c");
        c.permitted();
        assert!(!c.waiting(), "nothing queued, nothing waiting for a permit");
        c.ended();
        assert_eq!(c.creating(), 0);
    }

    #[test]
    fn after_an_ambiguous_create_creates_go_one_at_a_time_then_grow_back() {
        let secs = Duration::from_secs;
        let mut c = Creates::new(3, Some(secs(10)));
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
        c.ambiguous(secs(1));
        c.ended();
        c.ended();
        assert_eq!(take(&mut c, secs(2)), 1, "cooling down: one at a time");
        assert_eq!(take(&mut c, secs(2)), 0);
        c.ended();
        c.answered(secs(5));
        assert_eq!(
            take(&mut c, secs(5)),
            1,
            "answers in the cool-down add nothing"
        );
        c.ended();
        c.answered(secs(11));
        assert_eq!(take(&mut c, secs(11)), 2, "past it: one more per answer");
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
        // Without a cool-down, an ambiguous create changes nothing.
        let mut plain = Creates::new(2, None);
        plain.push_back(queued("a"));
        plain.push_back(queued("b"));
        plain.ambiguous(secs(0));
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

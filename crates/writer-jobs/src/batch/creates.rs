//! The create pipeline: rows waiting for a create slot, creates waiting
//! for their permit (the breaker's gate and the rate limiter), creates on
//! the wire, and what a failed create means for its row.
//!
//! Plain synchronous state: the engine takes a row from [`Creates::next`]
//! when a slot is free and creates are allowed, waits for its permit off
//! the loop, writes the intent, sends it once, and hands the answer to
//! [`after_failure`], which says what becomes of the row.

use std::collections::VecDeque;

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
}

impl Creates {
    pub(super) fn new(concurrency: usize) -> Self {
        Self {
            queue: VecDeque::new(),
            creating: 0,
            awaiting_permit: 0,
            concurrency: concurrency.max(1),
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

    /// The next row to create, when a slot is free and creates are
    /// `allowed`; it then holds a slot and waits for its permit.
    pub(super) fn next(&mut self, allowed: bool) -> Option<Queued> {
        if self.creating >= self.concurrency || !allowed {
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
        let mut c = Creates::new(2);
        for key in ["a", "b", "c"] {
            c.push_back(queued(key));
        }
        assert!(c.next(false).is_none(), "creates not allowed");
        assert_eq!(c.next(true).unwrap().row.key, "a");
        assert_eq!(c.next(true).unwrap().row.key, "b");
        assert!(c.next(true).is_none(), "both slots taken");
        assert_eq!((c.creating(), c.queued()), (2, 1));
        assert!(c.waiting());
        c.permitted();
        c.permitted();
        c.ended();
        c.push_front(queued("again"));
        assert_eq!(c.next(true).unwrap().row.key, "again");
        c.permitted();
        c.ended();
        c.ended();
        assert_eq!(c.next(true).unwrap().row.key, "c");
        c.permitted();
        assert!(!c.waiting(), "nothing queued, nothing waiting for a permit");
        c.ended();
        assert_eq!(c.creating(), 0);
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

//! What the reconciler holds: creates (and job-level retries) whose
//! outcome is unknown, each with the window in which its job can appear.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::Row;
use super::windows::Recorded;

/// Why a create ambiguous since the journal's last record was torn is
/// reconciled.
pub(super) const TORN_REASON: &str =
    "the journal's last record was torn; the create may have been sent";

/// A create whose outcome is unknown, waiting for reconciliation.
#[derive(Debug)]
pub(super) struct Ambiguous {
    pub(super) key: String,
    /// The row, once read from the input (a resumed row is known from the
    /// journal before the input reaches it).
    pub(super) row: Option<Row>,
    pub(super) seq: u64,
    /// Steady-clock time its create was first put on the wire.
    pub(super) since: DateTime<Utc>,
    /// Steady-clock time after which the server can no longer make its
    /// job: when its exchange ended (answer or giving up; the server had
    /// received it by then, if at all) plus
    /// [`super::Batch::max_server_hold`].
    pub(super) until: DateTime<Utc>,
    /// Clock time when the window has surely passed in the server's time
    /// too, and a listing may judge it.
    pub(super) settle_at: Duration,
    /// Clock time from which a listing is worth reading for it before
    /// `settle_at`: an earlier run's window that has passed on the clock it
    /// was recorded on, which a time the server stamped may prove passed.
    pub(super) peek_at: Duration,
    /// Clock time after which a reconciliation that cannot list gives up
    /// and reports the row.
    pub(super) give_up_at: Duration,
    pub(super) creates: u32,
    pub(super) reason: String,
    /// The fingerprint of the row's inputs, when the row is known.
    pub(super) inputs: Option<String>,
    /// Left by an earlier run: new creates wait until it is decided, so that
    /// none of ours lands in its window.
    pub(super) from_journal: bool,
    /// The journal's run that recorded it (when `from_journal`).
    pub(super) run: u32,
    /// Its intent was torn: it waits for reconciliation like any ambiguous
    /// create, but its window is empty, because the intent is written
    /// before the send and the earlier run died writing it.
    pub(super) never_sent: bool,
    /// Not a create but a job-level retry whose answer was lost, of this
    /// failed job: a retry answered with a new id is a create in disguise.
    pub(super) retry_of: Option<RetryOf>,
    /// Jobs no row owns that listings showed in its window while they
    /// could not judge it: its candidates if it is given up without a
    /// verdict (a listing that fails later does not unsee them).
    pub(super) seen: Vec<String>,
}

/// The failed job a lost retry was sent for.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct RetryOf {
    pub(super) job_id: String,
    pub(super) created_at: DateTime<Utc>,
    /// Runs of the row's job so far, the lost retry counted.
    pub(super) attempts: u32,
}

impl Ambiguous {
    /// An ambiguous create first sent at `since` whose job the server can
    /// make until `until` (both steady-clock times).
    pub(super) fn new(
        key: String,
        row: Option<Row>,
        seq: u64,
        creates: u32,
        (since, until): (DateTime<Utc>, DateTime<Utc>),
        reason: impl Into<String>,
    ) -> Self {
        Self {
            inputs: row.as_ref().map(|r| r.inputs.fingerprint()),
            key,
            row,
            seq,
            since,
            until,
            settle_at: Duration::ZERO,
            peek_at: Duration::MAX,
            give_up_at: Duration::MAX,
            creates,
            reason: reason.into(),
            from_journal: false,
            run: 0,
            never_sent: false,
            retry_of: None,
            seen: Vec::new(),
        }
    }

    /// The ambiguous retry of `from` whose answer was lost, in `window`
    /// (its send and the end of the server's hold, on `clock`): the row's
    /// job is the failed one, or a new job the retry made.
    pub(super) fn lost_retry(
        key: String,
        seq: u64,
        creates: u32,
        from: RetryOf,
        window: &LostRetry,
    ) -> Self {
        let reason = format!(
            "job {} failed and its retry's answer was lost: the retry may have made a new job",
            from.job_id
        );
        let mut a = Self::new(key, None, seq, creates, (window.sent, window.until), reason);
        a.retry_of = Some(from);
        if let Recorded::EarlierRun(run) = window.clock {
            a.from_journal = true;
            a.run = run;
        }
        a
    }

    /// Marks its intent as torn (see `never_sent`).
    pub(super) fn torn(mut self) -> Self {
        self.never_sent = true;
        self
    }

    /// Marks it as left by an earlier run.
    pub(super) fn left_by_earlier_run(mut self) -> Self {
        self.from_journal = true;
        self
    }

    /// The clock its times were recorded on.
    pub(super) fn clock(&self) -> Recorded {
        if self.from_journal {
            Recorded::EarlierRun(self.run)
        } else {
            Recorded::ThisRun
        }
    }
}

/// A job-level retry whose answer was lost.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct LostRetry {
    pub(super) key: String,
    /// When it was sent, and until when the server can act on it.
    pub(super) sent: DateTime<Utc>,
    pub(super) until: DateTime<Utc>,
    /// The clock those times were recorded on.
    pub(super) clock: Recorded,
}

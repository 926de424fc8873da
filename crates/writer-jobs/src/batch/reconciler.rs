//! The reconciler: the batch's creates whose outcome is unknown, and what
//! it takes to judge them.
//!
//! It owns the ambiguous creates (with their windows and settle times),
//! the verdicts reached before the input reached a resumed row, the
//! creates still on the wire, the windows of job-level retries whose
//! answer was lost, the batch's known job ids, and the clocks
//! ([`Windows`]). Plain synchronous state: every method takes the clock
//! time (`now`, the injected clock's monotonic time) as an argument, and
//! learns the server's stamps it has seen as arguments, so its decisions are
//! unit-tested without a runtime or a server. The engine sends the
//! listings it asks for and carries out its verdicts (resend, adopt,
//! report); [`reconcile::decide`] is the judgement itself.

use crate::batch::{HashMap, HashMapExt, HashSet, HashSetExt};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::Row;
use super::assign;
use super::listing::Listing;
use super::reconcile::{self, Pending, Verdict, shift};
use super::windows::{Recorded, Windows};

pub(super) use super::ambiguous::{Ambiguous, LostRetry, RetryOf, TORN_REASON};

/// A verdict reached before the input reached the row.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Early {
    /// Create the row when it is read (it did not land, or resend was asked).
    Resend { creates: u32 },
    /// Report it as ambiguous when it is read.
    Report {
        reason: String,
        candidates: Vec<String>,
        creates: u32,
    },
}

/// What the reconciler asks of the engine next.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Step {
    /// Nothing to do now.
    Wait,
    /// List the application's jobs created in this server-time range.
    List {
        back_to: DateTime<Utc>,
        up_to: DateTime<Utc>,
        /// A listing failed before: from then on listings' pages get the
        /// whole request timeout, not the batch's shorter read timeout. A
        /// list slower than the read timeout still answers, and only a
        /// listing tells whether a lost create landed.
        patient: bool,
    },
}

/// The batch's settings the reconciler needs.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    /// How long a reconciliation that cannot list keeps trying, counted
    /// from a create's settle time.
    pub(super) give_up_after: Duration,
    /// The shortest pause between two listings.
    pub(super) min_interval: Duration,
    /// Known job ids kept before pruning.
    pub(super) known_cap: usize,
}

/// The ambiguous creates and the evidence that judges them.
#[derive(Debug)]
pub(super) struct Reconciler {
    ambiguous: Vec<Ambiguous>,
    /// Verdicts on resumed rows the input has not reached yet.
    early: HashMap<String, Early>,
    /// Creates on the wire: key -> when sent (steady clock).
    on_wire: HashMap<String, DateTime<Utc>>,
    windows: Windows,
    /// Job-level retries whose answer was lost: a retry may make a new job
    /// of ours whose id we never learn, so no ambiguous create may adopt a
    /// job in such a window.
    retry_windows: Vec<LostRetry>,
    /// Rows with a lost retry of this run not yet reconciled: their windows
    /// stay (and block the row's next retry, see [`Self::has_lost_retry`])
    /// however long the failed job takes to be seen again.
    open_lost: HashSet<String>,
    /// Creates (and lost retries) reported ambiguous, or resent on the
    /// user's word: each may still have made one of the orphans, so each
    /// stays among the explanations of every later listing (never judged
    /// again), or another row could adopt its job.
    reported: Vec<LostRetry>,
    /// The latest time the server stamped on anything listed (a job's
    /// creation or update): the server's clock has reached it.
    server_seen: Option<DateTime<Utc>>,
    /// Job ids of this batch, with when they were created, for telling
    /// orphans apart (pruned to the span reconciliation can still look at).
    known: HashMap<String, DateTime<Utc>>,
    running: bool,
    next: Duration,
    /// Consecutive failed listings (for the back-off).
    failures: u32,
    /// A listing has failed in this run (see [`Step::List`]).
    patient: bool,
    /// Listings in a row that judged none of the settled creates.
    fruitless: u32,
    limits: Limits,
}

impl Reconciler {
    /// A reconciler with the clocks, the jobs an earlier run had and its
    /// lost retries' windows.
    pub(super) fn new(
        windows: Windows,
        known: HashMap<String, DateTime<Utc>>,
        retry_windows: Vec<LostRetry>,
        limits: Limits,
    ) -> Self {
        Self {
            ambiguous: Vec::new(),
            early: HashMap::new(),
            on_wire: HashMap::new(),
            windows,
            retry_windows,
            open_lost: HashSet::new(),
            reported: Vec::new(),
            server_seen: None,
            known,
            running: false,
            next: Duration::ZERO,
            failures: 0,
            patient: false,
            fruitless: 0,
            limits,
        }
    }

    // ----- clocks ------------------------------------------------------

    /// Now, on the steady clock (see [`Windows`]).
    pub(super) fn steady(&self, now: Duration) -> DateTime<Utc> {
        self.windows.steady(now)
    }

    /// The latest steady-clock time the server can still act on a request
    /// sent at `sent`.
    pub(super) fn hold_until(&self, sent: DateTime<Utc>, now: Duration) -> DateTime<Utc> {
        self.windows.hold_until(sent, now)
    }

    /// See [`Windows::acted_until`].
    pub(super) fn acted_until(&self, now: Duration) -> DateTime<Utc> {
        self.windows.acted_until(now)
    }

    /// Whether a create of this run has measured the server's clock (this
    /// run's windows can be placed).
    pub(super) fn placed(&self) -> bool {
        self.windows.placed(Recorded::ThisRun)
    }

    /// A create of this run answered: evidence of the server's clock.
    pub(super) fn observe_create(
        &mut self,
        sent: DateTime<Utc>,
        received: DateTime<Utc>,
        created_at: DateTime<Utc>,
    ) {
        self.windows.observe_create(sent, received, created_at);
    }

    /// The server-time window of an ambiguous create (empty when it was
    /// never sent).
    fn window_of(&self, a: &Ambiguous) -> (DateTime<Utc>, DateTime<Utc>) {
        let (start, end) = self.windows.window(a.clock(), a.since, a.until);
        if a.never_sent {
            (end, start)
        } else {
            (start, end)
        }
    }

    /// The server-time window of a request of this run sent at `sent`
    /// that the server can act on until `until`.
    fn window(&self, sent: DateTime<Utc>, until: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
        self.windows.window(Recorded::ThisRun, sent, until)
    }

    /// Whether a listing started at `started` (clock time) judges a window
    /// ending at `end` (server time) that settles at `settle_at` and was
    /// recorded on `clock`: once it has settled, or, for an earlier run's
    /// window placed by that run's evidence, once the server has stamped a
    /// time past its end (`proof`) before the listing's pages were read.
    fn settled(
        &self,
        clock: Recorded,
        (end, settle_at): (DateTime<Utc>, Duration),
        started: Duration,
        proof: Option<DateTime<Utc>>,
    ) -> bool {
        started >= settle_at
            || (matches!(clock, Recorded::EarlierRun(_))
                && self.windows.placed(clock)
                && proof.is_some_and(|seen| seen > end))
    }

    // ----- what is pending --------------------------------------------

    /// Ambiguous creates waiting for a verdict.
    pub(super) fn len(&self) -> usize {
        self.ambiguous.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.ambiguous.is_empty()
    }

    /// An earlier run left creates undecided: no new create may be sent
    /// until they are, so none of ours lands in their windows.
    pub(super) fn blocks_creates(&self) -> bool {
        self.ambiguous.iter().any(|a| a.from_journal)
    }

    /// A create went on the wire at `since` (steady clock).
    pub(super) fn sent(&mut self, key: &str, since: DateTime<Utc>) {
        self.on_wire.insert(key.to_string(), since);
    }

    /// A create's answer (or failure) came back.
    pub(super) fn answered(&mut self, key: &str) {
        self.on_wire.remove(key);
    }

    /// Adds an ambiguous create: it is judged only once its window has
    /// passed, on our clock and on what we do not know of the server's.
    /// An earlier run's window was recorded on that run's clock, which this
    /// run cannot read: it has surely passed once this run's start plus the
    /// transit and the hold has (that run sent nothing later; see
    /// [`Windows::earlier_runs_settled`]), and is peeked at (a listing
    /// whose stamps may prove it passed) once it looks passed on our clock.
    pub(super) fn add(&mut self, mut a: Ambiguous, now: Duration) {
        let remaining = (a.until - self.steady(now))
            .to_std()
            .unwrap_or(Duration::ZERO);
        if a.never_sent {
            a.settle_at = now;
        } else if a.from_journal {
            a.settle_at = self.windows.earlier_runs_settled().max(now);
            if self.windows.placed(a.clock()) {
                a.peek_at = (now + remaining).min(a.settle_at);
            }
        } else {
            a.settle_at = now + remaining + self.windows.uncertainty();
        }
        a.give_up_at = a.settle_at + self.limits.give_up_after;
        self.ambiguous.push(a);
        if !self.running {
            self.next = self.earliest_due().unwrap_or(now);
        }
    }

    /// Gives a resumed ambiguous create its row once the input reaches it;
    /// hands the row back when `key` has no ambiguous create.
    pub(super) fn attach_row(&mut self, row: Row, seq: u64) -> Option<Row> {
        match self.ambiguous.iter_mut().find(|a| a.key == row.key) {
            Some(a) => {
                a.seq = seq;
                a.inputs = Some(row.inputs.fingerprint());
                a.row = Some(row);
                None
            }
            None => Some(row),
        }
    }

    /// The verdict reached on `key` before the input reached it.
    pub(super) fn take_early(&mut self, key: &str) -> Option<Early> {
        self.early.remove(key)
    }

    /// Keeps a verdict for a row the input has not reached yet.
    pub(super) fn defer(&mut self, key: String, early: Early) {
        self.early.insert(key, early);
    }

    /// A job-level retry sent at `sent` has no answer (its exchange ended
    /// at `now`): it may have made a job of ours whose id is lost.
    pub(super) fn lost_retry(&mut self, key: &str, sent: DateTime<Utc>, now: Duration) {
        let until = self.acted_until(now);
        self.open_lost.insert(key.to_string());
        self.retry_windows.push(LostRetry {
            key: key.to_string(),
            sent,
            until,
            clock: Recorded::ThisRun,
        });
    }

    /// The row `key` ended: its lost retries, if any, stay only as windows
    /// another row's orphans may belong to, and go once they cannot.
    pub(super) fn row_ended(&mut self, key: &str) {
        self.open_lost.remove(key);
    }

    /// Whether a retry of `key` was sent and its answer lost.
    pub(super) fn has_lost_retry(&self, key: &str) -> bool {
        self.retry_windows.iter().any(|r| r.key == key)
    }

    /// Takes the latest lost retry of `key`, to be reconciled as the row's
    /// ambiguous create (it no longer blocks the row's own adoption).
    pub(super) fn take_lost_retry(&mut self, key: &str) -> Option<LostRetry> {
        self.open_lost.remove(key);
        let index = self.retry_windows.iter().rposition(|r| r.key == key)?;
        Some(self.retry_windows.remove(index))
    }

    // ----- known jobs ------------------------------------------------

    pub(super) fn is_known(&self, job_id: &str) -> bool {
        self.known.contains_key(job_id)
    }

    /// Records a job id of ours; forgets ids created before anything
    /// reconciliation can still look at, so memory stays bounded. Nothing
    /// is forgotten while a window is unbounded, or could be: a job no row
    /// knows would look like an orphan.
    pub(super) fn remember(&mut self, job_id: String, created_at: DateTime<Utc>, now: Duration) {
        self.known.insert(job_id, created_at);
        if self.known.len() <= self.limits.known_cap || !self.windows.placed(Recorded::ThisRun) {
            return;
        }
        // A window opened from now on starts no earlier than this.
        let now = self.steady(now);
        let horizon = self
            .ambiguous
            .iter()
            .map(|a| self.window_of(a).0)
            .chain(
                self.on_wire
                    .values()
                    .map(|since| self.window(*since, *since).0),
            )
            .chain(
                self.retry_windows
                    .iter()
                    .chain(&self.reported)
                    .map(|r| self.windows.window(r.clock, r.sent, r.until).0),
            )
            .chain(std::iter::once(self.window(now, now).0))
            .min()
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        if horizon == DateTime::<Utc>::MIN_UTC {
            return;
        }
        let horizon = shift(horizon, -chrono::Duration::minutes(1));
        self.known.retain(|_, at| *at >= horizon);
    }

    // ----- listing ---------------------------------------------------

    /// Whether a listing is under way.
    pub(super) fn running(&self) -> bool {
        self.running
    }

    /// When the next listing is due, while one may be wanted.
    pub(super) fn next_wake(&self) -> Option<Duration> {
        if self.running {
            // A create's give-up time comes even while a listing runs.
            return self.ambiguous.iter().map(|a| a.give_up_at).min();
        }
        (!self.ambiguous.is_empty()).then_some(self.next)
    }

    /// Whether a listing is due now.
    pub(super) fn due(&self, now: Duration) -> bool {
        !self.running && !self.ambiguous.is_empty() && now >= self.next
    }

    /// What to do now that a listing is due: list the windows that have
    /// settled (or may be proved passed), or wait. This run's windows that
    /// no trusted evidence places wait while a create of this run is on the
    /// wire (its answer will likely bound them; not past their give-up
    /// time). A `List` marks a listing running until [`Self::listed`] or
    /// [`Self::listing_failed`].
    pub(super) fn step(&mut self, now: Duration) -> Step {
        let unplaced = !self.windows.placed(Recorded::ThisRun) && !self.on_wire.is_empty();
        let due: Vec<_> = self
            .ambiguous
            .iter()
            .filter(|a| now >= a.settle_at || now >= a.peek_at)
            .filter(|a| a.from_journal || a.never_sent || !unplaced || now >= a.give_up_at)
            .map(|a| self.window_of(a))
            .collect();
        let Some(back_to) = due.iter().map(|w| w.0).min() else {
            if unplaced && self.earliest_due().is_some_and(|at| at <= now) {
                tracing::debug!("waiting for a create's answer to place the windows");
                self.next = now + Duration::from_secs(1);
            } else {
                self.next = self.earliest_due().unwrap_or(now);
            }
            return Step::Wait;
        };
        let up_to = due
            .iter()
            .map(|w| w.1)
            .max()
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        self.running = true;
        Step::List {
            back_to,
            up_to,
            patient: self.patient,
        }
    }

    /// Judges the settled creates from a listing. Returns each decided
    /// create with its verdict (removed from the pending ones).
    pub(super) fn listed(
        &mut self,
        listing: &Listing,
        now: Duration,
        exclusive: bool,
    ) -> Vec<(Ambiguous, Verdict)> {
        self.running = false;
        self.failures = 0;
        // The server had stamped these before the listing's pages were
        // read: its clock was past them.
        let proof = self.server_seen.max(listing.first_page_stamp);
        self.server_seen = self.server_seen.max(listing.newest_stamp);
        let pending = self.pending(listing.started, now, proof);
        // An unbounded window (no evidence placed it) could hold any job
        // the application ever had, made before this run too: "exclusive"
        // says nothing about those, so no job is matched to one.
        let exclusive = exclusive && pending.iter().all(|p| p.start > DateTime::<Utc>::MIN_UTC);
        let mut verdicts = reconcile::decide_around(
            &pending,
            &listing.jobs,
            &|id| self.is_known(id),
            (listing.covered_since, listing.covered_until),
            &listing.ties,
            exclusive,
        );
        verdicts.extend(self.split_too_long(&pending, listing, now, &verdicts));
        tracing::debug!(
            pending = pending.len(),
            settled = pending.iter().filter(|p| p.settled).count(),
            listed = listing.jobs.len(),
            covered_since = %listing.covered_since,
            verdicts = verdicts.len(),
            "reconciled"
        );
        let decided: Vec<(Ambiguous, Verdict)> = verdicts
            .into_iter()
            .filter_map(|verdict| {
                let index = self.ambiguous.iter().position(|a| a.key == verdict.key())?;
                Some((self.ambiguous.swap_remove(index), verdict))
            })
            .collect();
        for (a, verdict) in &decided {
            if matches!(verdict, Verdict::Unresolved { .. }) {
                self.keep_reported(a);
            }
        }
        self.note_seen(&pending, listing);
        self.schedule_next(&pending, decided.is_empty(), now);
        decided
    }

    /// Keeps the windows of rows an earlier run reported among the
    /// explanations (see [`Self::keep_reported`]).
    pub(super) fn keep_reported_windows(&mut self, windows: Vec<LostRetry>) {
        self.reported.extend(windows);
    }

    /// Keeps the window of a create leaving undecided (reported, or resent
    /// on the user's word) among the explanations of later listings.
    fn keep_reported(&mut self, a: &Ambiguous) {
        self.reported.push(LostRetry {
            key: a.key.clone(),
            sent: a.since,
            until: a.until,
            clock: a.clock(),
        });
    }

    /// When the first ambiguous create is due for a listing (`None`: there
    /// is none).
    fn earliest_due(&self) -> Option<Duration> {
        self.ambiguous
            .iter()
            .map(|a| a.settle_at.min(a.peek_at))
            .min()
    }
}

impl Verdict {
    /// The key of the row it is about.
    pub(super) fn key(&self) -> &str {
        match self {
            Verdict::NotLanded { key }
            | Verdict::Adopt { key, .. }
            | Verdict::Unresolved { key, .. } => key,
        }
    }
}

#[path = "reconciler_give_up.rs"]
mod give_up;
#[path = "reconciler_pending.rs"]
mod pending;

#[cfg(test)]
#[path = "reconciler_tests.rs"]
mod tests;

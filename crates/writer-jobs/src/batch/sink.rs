//! Where the batch's decisions go: journal records (written in the order
//! the decisions are made, with the crash-test failpoints), outcomes to
//! the consumer, and the progress snapshot.

use tokio::sync::{mpsc, watch};

use super::journal::{Journal, Record};
use super::limiter::LimiterStats;
use super::{Batch, BatchError, Outcome, OutcomeResult, Progress};
#[cfg(feature = "test-util")]
use super::{FailMode, Failpoint};

/// What the engine's owners say about the work under way, for the
/// progress snapshot.
#[derive(Debug, Clone, Copy)]
pub(super) struct Snapshot {
    pub(super) in_flight: u64,
    pub(super) reconciling: u64,
    pub(super) requests: u64,
    pub(super) limiter: LimiterStats,
    pub(super) circuit_open: bool,
    pub(super) creating_done: bool,
}

/// The journal, the outcome channel and the progress counters.
#[derive(Debug)]
pub(super) struct Sink {
    journal: Option<Journal>,
    /// A crash test's failpoint, and whether it aborts the process.
    #[cfg(feature = "test-util")]
    failpoint: Option<(Failpoint, bool)>,
    /// Journal records written by this run (for failpoints).
    #[cfg(feature = "test-util")]
    appended: u64,
    out: mpsc::Sender<Result<Outcome, BatchError>>,
    progress: Progress,
    progress_tx: watch::Sender<Progress>,
    finished_this_run: u64,
}

impl Sink {
    pub(super) fn new(
        journal: Option<Journal>,
        #[cfg_attr(not(feature = "test-util"), allow(unused_variables))] settings: &Batch,
        out: mpsc::Sender<Result<Outcome, BatchError>>,
        progress_tx: watch::Sender<Progress>,
    ) -> Self {
        Self {
            journal,
            #[cfg(feature = "test-util")]
            failpoint: settings.failpoint,
            #[cfg(feature = "test-util")]
            appended: 0,
            out,
            progress: Progress::default(),
            progress_tx,
            finished_this_run: 0,
        }
    }

    /// The journal, when the batch has one.
    pub(super) fn journal(&self) -> Option<&Journal> {
        self.journal.as_ref()
    }

    /// The counters (rows read, created, replayed).
    pub(super) fn progress_mut(&mut self) -> &mut Progress {
        &mut self.progress
    }

    /// Writes a journal record (nothing without a journal). A failpoint at
    /// this record stops the run around it, as a crash would.
    pub(super) fn append(&mut self, record: Record) -> Result<(), BatchError> {
        self.append_with(|| record)
    }

    /// As [`Sink::append`], the record made only when there is a journal
    /// to write it to (a row's fingerprint, an outcome's copy: per row, for
    /// nothing, in a run without one).
    pub(super) fn append_with(
        &mut self,
        record: impl FnOnce() -> Record,
    ) -> Result<(), BatchError> {
        let Some(journal) = &mut self.journal else {
            return Ok(());
        };
        let record = record();
        #[cfg(feature = "test-util")]
        {
            let index = self.appended;
            self.appended += 1;
            if let Some((fp, abort)) = self.failpoint
                && fp.index == index
            {
                match fp.mode {
                    FailMode::Before => {}
                    FailMode::Torn => journal.append_torn(&record, None)?,
                    FailMode::TornAt(n) => journal.append_torn(&record, Some(n))?,
                    FailMode::After => journal.append(&record)?,
                }
                if abort {
                    // As `kill -9` would: nothing else is written.
                    std::process::abort();
                }
                return Err(BatchError::Failpoint(index));
            }
        }
        Ok(journal.append(&record)?)
    }

    /// Records the outcome in the journal, then hands it to the consumer
    /// (with the progress as `now` says).
    pub(super) async fn finish(
        &mut self,
        outcome: Outcome,
        now: Snapshot,
    ) -> Result<(), BatchError> {
        self.append_with(|| Record::Done {
            outcome: outcome.clone(),
        })?;
        self.finished_this_run += 1;
        self.emit(outcome, now).await;
        Ok(())
    }

    /// Hands an outcome (a new one, or one replayed from the journal) to
    /// the consumer, after publishing the progress as `now` says.
    pub(super) async fn emit(&mut self, outcome: Outcome, now: Snapshot) {
        let p = &mut self.progress;
        match outcome.result {
            OutcomeResult::Completed { .. } => p.completed += 1,
            OutcomeResult::Failed { .. } => p.failed += 1,
            OutcomeResult::Ambiguous { .. } => p.ambiguous += 1,
            OutcomeResult::Rejected { .. } => p.rejected += 1,
            OutcomeResult::TimedOut { .. } => p.timed_out += 1,
        }
        self.publish(now);
        // A consumer that dropped the stream no longer wants outcomes.
        let _ = self.out.send(Ok(outcome)).await;
    }

    /// Hands the error that ends the run to the consumer.
    pub(super) async fn fail(&mut self, error: BatchError) {
        let _ = self.out.send(Err(error)).await;
    }

    /// Updates the progress snapshot from the owners' figures, and
    /// publishes it when it changed.
    pub(super) fn publish(&mut self, s: Snapshot) {
        let p = &mut self.progress;
        p.in_flight = s.in_flight;
        p.reconciling = s.reconciling;
        p.requests = s.requests;
        // Per job started or finished, so the figure is sane from the start.
        let jobs = self.finished_this_run.max(p.created);
        p.requests_per_job = if jobs > 0 {
            p.requests as f64 / jobs as f64
        } else {
            0.0
        };
        p.current_rate = s.limiter.current_rate;
        p.throttled = s.limiter.throttled;
        p.circuit_open = s.circuit_open;
        p.creating_done = s.creating_done;
        let snapshot = self.progress.clone();
        self.progress_tx.send_if_modified(|old| {
            if *old != snapshot {
                *old = snapshot;
                true
            } else {
                false
            }
        });
    }
}

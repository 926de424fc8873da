//! Where the batch's decisions go: journal records (written in the order
//! the decisions are made, with the crash-test failpoints), outcomes to
//! the consumer, and the progress snapshot.

use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::sync::{Semaphore, mpsc, watch};

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

/// What goes to the consumer: outcomes, and last the error that ends a
/// run, if one does.
pub(super) type Delivery = Result<Outcome, BatchError>;

/// The most outcomes sent in chunks the consumer has not yet taken whole:
/// past that, the engine waits for it.
const WAITING: usize = 256;

/// The most outcomes held back in a turn (see [`Sink::flush`]): a resumed
/// run replays its journal's outcomes, thousands, in one turn. With
/// [`WAITING`], at most 384 outcomes wait for a consumer that reads none.
const HELD: usize = 128;

/// The way from the engine to the consumer: a turn's outcomes go as one
/// message (see [`Sink::flush`]), and a count of room bounds how many wait.
pub(super) fn outcome_channel() -> (Outbox, Inbox) {
    let (tx, rx) = mpsc::unbounded_channel();
    let room = Arc::new(Semaphore::new(WAITING));
    let outbox = Outbox {
        chunks: tx,
        room: room.clone(),
    };
    let inbox = Inbox {
        chunks: rx,
        ready: Vec::new().into_iter(),
        taking: 0,
        room,
    };
    (outbox, inbox)
}

/// The engine's end of [`outcome_channel`].
#[derive(Debug)]
pub(super) struct Outbox {
    chunks: mpsc::UnboundedSender<Vec<Delivery>>,
    room: Arc<Semaphore>,
}

/// The consumer's end of [`outcome_channel`].
#[derive(Debug)]
pub(super) struct Inbox {
    chunks: mpsc::UnboundedReceiver<Vec<Delivery>>,
    /// The rest of the chunk being taken.
    ready: std::vec::IntoIter<Delivery>,
    /// Its length: room given back once it is all taken.
    taking: usize,
    room: Arc<Semaphore>,
}

impl Inbox {
    /// The next outcome (or the error that ends the run); `None` once the
    /// engine is gone and all it sent is taken.
    pub(super) fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Delivery>> {
        loop {
            if let Some(delivery) = self.ready.next() {
                return Poll::Ready(Some(delivery));
            }
            self.room.add_permits(std::mem::take(&mut self.taking));
            match std::task::ready!(self.chunks.poll_recv(cx)) {
                Some(chunk) => {
                    self.taking = chunk.len();
                    self.ready = chunk.into_iter();
                }
                None => return Poll::Ready(None),
            }
        }
    }
}

impl Drop for Inbox {
    fn drop(&mut self) {
        // A consumer gone wants nothing more: an engine waiting for room
        // goes on (and drops what it would have sent).
        self.room.close();
    }
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
    out: Outbox,
    /// Outcomes decided this turn, not yet sent (see [`Sink::flush`]).
    pending: Vec<Delivery>,
    progress: Progress,
    progress_tx: watch::Sender<Progress>,
    finished_this_run: u64,
}

impl Sink {
    pub(super) fn new(
        journal: Option<Journal>,
        #[cfg_attr(not(feature = "test-util"), allow(unused_variables))] settings: &Batch,
        out: Outbox,
        progress_tx: watch::Sender<Progress>,
    ) -> Self {
        Self {
            journal,
            #[cfg(feature = "test-util")]
            failpoint: settings.failpoint,
            #[cfg(feature = "test-util")]
            appended: 0,
            out,
            pending: Vec::new(),
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
    /// the consumer, after publishing the progress as `now` says: it goes
    /// with the turn's other outcomes, at the engine's next
    /// [`Sink::flush`] (or once [`HELD`] wait).
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
        self.pending.push(Ok(outcome));
        if self.pending.len() >= HELD {
            self.flush().await;
        }
    }

    /// Hands the error that ends the run to the consumer, after the
    /// outcomes decided before it.
    pub(super) async fn fail(&mut self, error: BatchError) {
        self.pending.push(Err(error));
        self.flush().await;
    }

    /// Sends the outcomes not yet sent, as one message, once the consumer
    /// has room for them. The engine calls it before it waits for
    /// anything, so no outcome waits longer than the turn that decided it.
    ///
    /// Why a turn's outcomes go together (a sweep's page ends many rows
    /// at once): on the multi-threaded runtime the consumer runs on
    /// another thread, and each outcome sent on its own could wake it
    /// (sent as soon as decided, or even back to back: the consumer,
    /// woken by the first, took it and waited again before the next),
    /// a quarter of the process's context switches.
    pub(super) async fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        // At most `HELD` + 1 (an error after them): within `WAITING`.
        let n = u32::try_from(self.pending.len()).unwrap_or(u32::MAX);
        match self.out.room.acquire_many(n).await {
            Ok(room) => room.forget(),
            // A consumer that dropped the stream no longer wants outcomes.
            Err(_) => {
                self.pending.clear();
                return;
            }
        }
        let _ = self.out.chunks.send(std::mem::take(&mut self.pending));
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

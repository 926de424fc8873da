//! The batch driver: one task that reacts to events (a create answered, a
//! sweep done, a retry answered, a reconciliation listing done, a timer)
//! and routes them to the owners of the batch's state, so no locks guard
//! the bookkeeping and every journal record is written in the order the
//! decisions are made.
//!
//! The owners are plain synchronous state with unit tests of their
//! decisions: the create pipeline ([`Creates`]), the jobs waited for
//! ([`Tracker`]), the sweep scheduler ([`SweepScheduler`]), the reconciler
//! of ambiguous creates ([`Reconciler`]), the resume cursor
//! ([`ResumeCursor`]) and the sink of records, outcomes and progress
//! ([`Sink`]). The engine owns the I/O: it starts the requests they ask
//! for and hands each answer back.

use crate::batch::{HashMap, HashMapExt, HashSet};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use futures::{Stream, StreamExt};
use tokio::sync::{mpsc, watch};

use super::budget::InFlight;
use super::creates::{AfterFailure, Creates, Queued, after_failure};
use super::journal::{Binding, Journal, Record, ResumeState};
use super::listing::{Hedge, Listing, SweepResult, list_back_to, sweep};
use super::pacer::Pacer;
use super::poller::{Pace, Spacing, SweepScheduler};
use super::reconcile::Verdict;
use super::reconciler::{Ambiguous, Early, Limits, Reconciler, RetryOf, Step};
use super::resume::{Placed, ResumeCursor};
use super::sink::{Outbox, Sink, Snapshot};
use super::tracking::{NewJob, Seen, Tracked, Tracker};
use super::windows::Windows;
use super::{AmbiguousPolicy, Batch, BatchError, Outcome, OutcomeResult, Progress, Row};
use crate::Client;
use crate::clock::SharedClock;
use crate::error::Error;
use crate::model::validate_inputs;
use crate::model::{CreatedJob, Job, JobStatus, Output, RetriedJob};
use crate::throttle::Throttle;

mod answers;
use answers::retry_on_wire;
mod rows;
mod starts;
mod verdicts;

type Rows = Pin<Box<dyn Stream<Item = Row> + Send>>;

/// A sweep's read not answered within this fraction of the read timeout
/// is asked for once more (2.5 s at the default 10 s): a page comes back
/// in well under a second, so only a slow answer costs the extra request.
const HEDGE_FRACTION: u32 = 4;

/// Creates sent for one row at most, when creates do not land or are sent
/// again as asked ([`AmbiguousPolicy::Resend`]).
const MAX_CREATES: u32 = 20;

/// Creates found unsent for one row, or one after the other (no create or
/// retry sent in time between them; at least twice the create concurrency,
/// so that one pause of the machine, which can leave every create slot
/// unsent at once, stops nothing), after which the batch stops
/// ([`BatchError::TooSlow`]): every create then starts too late after its
/// intent, so going on would only write intents.
const MAX_UNSENT: u32 = 64;

enum Event {
    /// A create's permit was granted: its intent is written and it is sent.
    Permitted(Queued),
    Created {
        queued: Queued,
        /// When its intent was written (steady clock): the window's start.
        since: DateTime<Utc>,
        /// When the request was first polled (clock time): it cannot have
        /// reached the server before, and the server may act on it for the
        /// hold after (its task is polled by the runtime, at once unless the
        /// machine is starved).
        sent: Duration,
        result: crate::Result<CreatedJob>,
    },
    /// A create first polled more than `MAX_SEND_DELAY` after its
    /// intent: not sent, to be queued again with a new intent.
    Unsent(Queued),
    Swept(SweepResult),
    /// A job-level retry's permit was granted: its intent is written and
    /// it is sent.
    RetryPermitted {
        key: String,
        job_id: String,
    },
    Retried {
        job_id: String,
        /// When its intent was written (steady clock): the window's start.
        sent_at: DateTime<Utc>,
        result: crate::Result<RetriedJob>,
    },
    /// A retry first polled more than `MAX_SEND_DELAY` after its intent:
    /// not sent, to get a new permit and a new intent.
    RetryUnsent {
        key: String,
        job_id: String,
    },
    Reconciled(crate::Result<Listing>),
    /// A reconciliation listing dropped before its end: nothing was left
    /// for it to judge.
    ListingDropped,
    Probed,
}

pub(super) struct Engine {
    settings: Batch,
    /// Whether orphans are matched as on an application exclusive to the
    /// batch: declared so for this run, and every window an earlier run
    /// left to judge lies in a run declared so too.
    exclusive: bool,
    client: Client,
    /// Sends creates and job-level retries: one attempt each, after the
    /// engine took the permit.
    create_client: Client,
    pacer: Pacer,
    clock: SharedClock,
    rows: Rows,
    input_done: bool,
    stopping: bool,
    stop: watch::Receiver<bool>,
    next_seq: u64,
    /// Hashes of the keys seen: duplicate detection in 8 bytes a row (a
    /// false alarm would need a 64-bit hash collision).
    keys: HashMap<u64, u64>,
    creates: Creates,
    /// How many rows may be in flight.
    in_flight: InFlight,
    tracker: Tracker,
    sweeps: SweepScheduler,
    reconciler: Reconciler,
    resume: ResumeCursor,
    /// Rows whose job id another row already had, to be reported.
    collisions: Vec<Outcome>,
    tasks: FuturesUnordered<BoxFuture<'static, Event>>,
    /// Creates on their way, each a task of its own: a create must go on
    /// the wire right after its intent and finish its exchange whatever
    /// the engine is doing (it may wait on a slow consumer of outcomes),
    /// since its window is counted from its send. Dropped with the engine
    /// (a killed run), they are aborted.
    creates_running: tokio::task::JoinSet<Event>,
    /// Finished jobs the running sweep read, handed over as soon as read
    /// (the sender goes with each sweep).
    finished_tx: mpsc::UnboundedSender<Job>,
    finished_rx: mpsc::UnboundedReceiver<Job>,
    /// Drops the running reconciliation listing (see [`Event::ListingDropped`]).
    listing: Option<futures::future::AbortHandle>,
    probe_running: bool,
    next_probe: Duration,
    /// When (clock time) the breaker began holding creates back while rows
    /// wait: past the poll deadline, the batch stops.
    blocked_from: Option<Duration>,
    /// How long the server may stay unreachable (the poll deadline).
    outage_limit: Duration,
    /// When (clock time) the first intent was written since the engine
    /// last yielded to let the create tasks start (see
    /// [`Engine::yield_if_round_long`]).
    round_from: Option<Duration>,
    /// Creates and retries found unsent since the last one sent in time.
    unsent_streak: u32,
    /// Set when too many creates went unsent: the batch stops creating and
    /// ends with [`BatchError::TooSlow`] (this many found unsent in a row).
    too_slow: Option<u32>,
    sink: Sink,
}

impl Engine {
    pub(super) fn start(
        settings: Batch,
        rows: Rows,
        out: Outbox,
        progress_tx: watch::Sender<Progress>,
        stop: watch::Receiver<bool>,
    ) -> Result<Self, BatchError> {
        let clock = settings.client.clock().clone();
        // The steady clock every window is measured on: the wall clock at
        // the start, moved on by the monotonic clock, so a wall clock that
        // steps mid-run (an NTP correction) moves no window.
        let anchor = (clock.wall(), clock.now());
        let pacer = Pacer::new(clock.clone(), settings.rate, settings.breaker_threshold);
        // Reads get the batch's shorter timeout; creates (and job
        // retries) keep the client's request timeout.
        let client = settings
            .client
            .with_throttle(Arc::new(pacer.clone()) as Arc<dyn Throttle>)
            .with_read_timeout(settings.read_timeout);
        let poll = settings
            .poll
            .unwrap_or_else(|| *settings.client.poll_policy());
        let (journal, state) = open_journal(&settings, clock.wall())?;
        // The declaration covers this run's time only: windows an earlier,
        // shared run left may hold another client's job.
        let exclusive = settings.exclusive_application && state.earlier_windows_exclusive();
        if settings.exclusive_application && !exclusive {
            tracing::warn!(
                "an earlier run of this journal was not declared exclusive and left creates \
                 to reconcile: this run matches no job as if the application were exclusive"
            );
        }
        let in_flight = InFlight::new(settings.max_in_flight, settings.create_concurrency);
        let limits = Limits {
            give_up_after: poll.deadline(),
            min_interval: settings.min_sweep_interval,
            known_cap: 4 * in_flight.ceiling() + 1024,
        };
        let timeout = client.request_timeout();
        let (mut resume, reconciler) =
            reconcile_from(state, anchor, settings.max_server_hold, timeout, limits);
        let sweeps = SweepScheduler::new(Spacing {
            min_interval: settings.min_sweep_interval,
            max_interval: poll.max_interval(),
            poll_overhead: settings.poll_overhead,
            page_size: settings.page_size,
        });
        let left = resume.left_ambiguous();
        let (finished_tx, finished_rx) = mpsc::unbounded_channel();
        let mut engine = Self {
            exclusive,
            create_client: client.single_attempt(),
            client,
            pacer,
            clock,
            rows,
            input_done: false,
            stopping: false,
            stop,
            next_seq: 0,
            keys: HashMap::new(),
            creates: Creates::new(settings.create_concurrency, settings.less_overlap),
            in_flight,
            tracker: Tracker::new(poll, settings.job_retries),
            sweeps,
            reconciler,
            resume,
            collisions: Vec::new(),
            tasks: FuturesUnordered::new(),
            creates_running: tokio::task::JoinSet::new(),
            finished_tx,
            finished_rx,
            listing: None,
            probe_running: false,
            next_probe: Duration::ZERO,
            blocked_from: None,
            outage_limit: poll.deadline(),
            round_from: None,
            unsent_streak: 0,
            too_slow: None,
            sink: Sink::new(journal, &settings, out, progress_tx),
            settings,
        };
        // Rows an earlier run sent a create for without recording the
        // answer are reconciled first: until they are decided, no new
        // create is sent, so no job of this run can land in their windows.
        for a in left {
            engine.make_ambiguous(a, false)?;
        }
        Ok(engine)
    }

    /// Runs until every row read has an outcome (or the batch stops).
    pub(super) async fn run(mut self) {
        match self.drive().await {
            Ok(()) => self.sink.flush().await,
            Err(error) => self.sink.fail(error).await,
        }
        self.publish();
    }

    async fn drive(&mut self) -> Result<(), BatchError> {
        loop {
            for outcome in std::mem::take(&mut self.collisions) {
                self.finish(outcome).await?;
            }
            for mut a in self.reconciler.expire_while_listing(self.clock.now()) {
                let candidates = std::mem::take(&mut a.seen);
                self.report_ambiguous(a, candidates).await?;
            }
            if self.reconciler.is_empty()
                && let Some(listing) = self.listing.take()
            {
                // Nothing left for it to judge: the run need not wait for it.
                listing.abort();
            }
            self.check_outage()?;
            self.start_work();
            self.size_in_flight();
            self.publish();
            if self.is_finished() {
                return match self.too_slow {
                    Some(late) => Err(BatchError::TooSlow { late }),
                    None => Ok(()),
                };
            }
            let wake = self.next_wake();
            let can_read = self.can_read_rows();
            let mut stop = self.stop.clone();
            // The turn's outcomes go before the engine waits.
            self.sink.flush().await;
            tokio::select! {
                biased;
                Some(event) = self.tasks.next(), if !self.tasks.is_empty() => {
                    self.handle(event).await?;
                }
                Some(joined) = self.creates_running.join_next(), if !self.creates_running.is_empty() => {
                    self.on_joined(joined).await?;
                }
                Some(job) = self.finished_rx.recv() => {
                    self.on_finished(job).await?;
                }
                changed = stop.changed(), if !self.stopping => {
                    if changed.is_err() || *stop.borrow() {
                        self.begin_stop();
                    }
                }
                row = self.rows.next(), if can_read => {
                    match row {
                        Some(row) => self.accept_row(row).await?,
                        None => self.input_done = true,
                    }
                }
                // The breaker's state is progress too: publish it when it
                // changes, even while every task waits on it.
                _ = self.pacer.changed_or(wake) => {}
            }
            self.handle_ready().await?;
        }
    }

    /// Handles every event already waiting (answers, finished jobs) before
    /// the loop's bookkeeping runs again: one wake-up often brings several
    /// (a sweep's finished jobs, creates answered together), and the
    /// bookkeeping (starting work, the next wake-up's timer, progress)
    /// once per wake-up rather than once per event is a good part of the
    /// engine's CPU. Nothing here waits: the loop's `select!` polls every
    /// source again, with its waker, before the engine sleeps.
    async fn handle_ready(&mut self) -> Result<(), BatchError> {
        use futures::FutureExt;
        loop {
            // In the order of the loop's biased `select!`.
            if let Some(Some(event)) = self.tasks.next().now_or_never() {
                self.handle(event).await?;
            } else if let Some(joined) = self.creates_running.try_join_next() {
                self.on_joined(joined).await?;
            } else if let Ok(job) = self.finished_rx.try_recv() {
                self.on_finished(job).await?;
            } else {
                return Ok(());
            }
        }
    }

    /// A create task ended: its event. A create task never panics but
    /// through a bug: a panic is carried on as the engine's own.
    async fn on_joined(
        &mut self,
        joined: Result<Event, tokio::task::JoinError>,
    ) -> Result<(), BatchError> {
        match joined {
            Ok(event) => self.handle(event).await,
            Err(error) => std::panic::resume_unwind(error.into_panic()),
        }
    }

    /// A sweep handed over a finished job, seen no earlier than the
    /// sweep's start.
    async fn on_finished(&mut self, job: Job) -> Result<(), BatchError> {
        let now = self.clock.now();
        self.observe(job, self.sweeps.started(), now).await
    }

    fn begin_stop(&mut self) {
        if !self.stopping {
            tracing::info!("stopping: no new jobs will be created");
        }
        self.stopping = true;
        self.input_done = true;
        self.creates.clear_queue();
    }

    fn is_finished(&self) -> bool {
        self.input_done
            && self.creates.queued() == 0
            && self.creates.creating() == 0
            && self.tracker.is_empty()
            && (self.reconciler.is_empty() || self.stopping)
            && self.tasks.is_empty()
            && self.creates_running.is_empty()
    }

    fn can_read_rows(&self) -> bool {
        let in_flight = self.tracker.len()
            + self.creates.creating()
            + self.creates.queued()
            + self.reconciler.len();
        !self.input_done && !self.stopping && in_flight < self.in_flight.limit()
    }

    /// Stops the batch when the server has stayed unreachable (creates
    /// paused by the breaker) for longer than the poll deadline while rows
    /// wait to be created or reconciled: the run ends instead of waiting
    /// forever, and a resume picks every row up where it was.
    fn check_outage(&mut self) -> Result<(), BatchError> {
        let now = self.clock.now();
        let waiting = self.creates.waiting() || !self.reconciler.is_empty();
        if self.pacer.creates_allowed() || !waiting || self.stopping {
            self.blocked_from = None;
            return Ok(());
        }
        let from = *self.blocked_from.get_or_insert(now);
        let waited = now.saturating_sub(from);
        if waited <= self.outage_limit {
            return Ok(());
        }
        tracing::warn!(?waited, "the server stayed unreachable; stopping the batch");
        self.begin_stop();
        Err(BatchError::Unavailable {
            waited_secs: waited.as_secs(),
        })
    }

    /// Recomputes the in-flight limit (once a second at most) from the
    /// request budget, set or learned, and the job durations seen.
    fn size_in_flight(&mut self) {
        let now = self.clock.now();
        if self.in_flight.due(now) {
            let rate = self.pacer.limiter_stats().current_rate;
            let per_job = 1.0 + self.settings.poll_overhead;
            let ages = self.tracker.ages(now);
            self.in_flight.recompute(now, rate, per_job, ages);
        }
    }

    /// How long the loop may sleep before something is due.
    fn next_wake(&self) -> Duration {
        let now = self.clock.now();
        let mut due = now + Duration::from_secs(3600);
        let timers = [
            self.sweeps.next_wake(!self.tracker.is_empty()),
            self.reconciler.next_wake(),
            // Creates paused by the breaker: look again soon (and publish
            // the breaker's state meanwhile).
            self.creates
                .waiting()
                .then(|| now + Duration::from_millis(250)),
            self.needs_probe().then_some(self.next_probe),
            self.creates.resume_at(now),
        ];
        for at in timers.into_iter().flatten() {
            due = due.min(at);
        }
        due.saturating_sub(now).max(Duration::from_millis(1))
    }

    async fn handle(&mut self, event: Event) -> Result<(), BatchError> {
        match event {
            Event::Created {
                queued,
                since,
                sent,
                result,
            } => {
                self.unsent_streak = 0;
                self.on_created(queued, (since, sent), result).await
            }
            Event::Permitted(queued) => {
                self.yield_if_round_long().await;
                self.on_permitted(queued)
            }
            Event::Unsent(queued) => self.on_unsent(queued),
            Event::Swept(result) => self.on_swept(result).await,
            Event::Retried {
                job_id,
                sent_at,
                result,
            } => {
                self.unsent_streak = 0;
                self.on_retried(job_id, sent_at, result).await
            }
            Event::RetryPermitted { key, job_id } => {
                self.yield_if_round_long().await;
                self.on_retry_permitted(key, job_id)
            }
            Event::RetryUnsent { key, job_id } => {
                self.reconciler.answered(&retry_on_wire(&job_id));
                // As for a create (see `on_unsent`): not taken for a retry
                // whose answer was lost.
                self.sink
                    .append_with(|| Record::RetryUnsent { key: key.clone() })?;
                self.note_unsent(0);
                self.request_retry_permit(key, job_id);
                Ok(())
            }
            Event::Reconciled(result) => self.on_reconciled(result).await,
            Event::ListingDropped => {
                self.reconciler.listing_dropped();
                Ok(())
            }
            Event::Probed => {
                self.probe_running = false;
                self.next_probe = self.clock.now() + Duration::from_secs(1);
                Ok(())
            }
        }
    }

    fn outcome(
        &self,
        key: String,
        seq: u64,
        job_id: Option<String>,
        result: OutcomeResult,
    ) -> Outcome {
        Outcome {
            key,
            seq,
            job_id,
            result,
            attempts: 1,
            creates: 1,
            created_at: None,
            finished_at: None,
            observed_at: self.clock.wall(),
            replayed: false,
        }
    }

    /// The outcome of a tracked row whose job is `job_id`.
    fn tracked_outcome(
        &self,
        t: Tracked,
        job_id: Option<String>,
        result: OutcomeResult,
    ) -> Outcome {
        Outcome {
            attempts: t.attempts,
            creates: t.creates,
            created_at: Some(t.created_at),
            ..self.outcome(t.key, t.seq, job_id, result)
        }
    }

    /// Records the outcome in the journal, then hands it to the consumer.
    async fn finish(&mut self, outcome: Outcome) -> Result<(), BatchError> {
        self.reconciler.row_ended(&outcome.key);
        let now = self.snapshot();
        self.sink.finish(outcome, now).await
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot {
            in_flight: (self.tracker.len() + self.creates.creating()) as u64,
            reconciling: self.reconciler.len() as u64,
            requests: self.pacer.requests(),
            limiter: self.pacer.limiter_stats(),
            circuit_open: self.pacer.circuit_open(),
            creating_done: self.input_done && self.creates.queued() == 0,
        }
    }

    fn publish(&mut self) {
        let now = self.snapshot();
        self.sink.publish(now);
    }
}

/// The resume cursor and the reconciler of a run started at `anchor` from
/// what the journal recorded (`state`): the windows are placed by each
/// run's own evidence, and those an earlier run left reach as far as the
/// server may have received its requests (the request `timeout`) and held
/// them (`hold`).
fn reconcile_from(
    mut state: ResumeState,
    anchor: (DateTime<Utc>, Duration),
    hold: Duration,
    timeout: Duration,
    limits: Limits,
) -> (ResumeCursor, Reconciler) {
    let windows = Windows::new(anchor, hold, std::mem::take(&mut state.skew)).with_transit(timeout);
    let resume = ResumeCursor::new(state, anchor.0, windows.reach());
    let mut reconciler = Reconciler::new(
        windows,
        resume.known_jobs(),
        resume.lost_retry_windows(),
        limits,
    );
    reconciler.keep_reported_windows(resume.reported_windows());
    (resume, reconciler)
}

/// Opens the batch's journal, when it has one, and reads what an earlier
/// run left in it.
fn open_journal(
    settings: &Batch,
    now: DateTime<Utc>,
) -> Result<(Option<Journal>, ResumeState), BatchError> {
    let Some(path) = &settings.journal else {
        return Ok((None, ResumeState::default()));
    };
    let binding = Binding {
        base_url: settings.client.base_url().to_string(),
        app_id: settings.app_id.clone(),
        simulated: settings.simulated,
    };
    let (journal, resume) = Journal::open(
        path,
        &binding,
        settings.exclusive_application,
        settings.durability,
        now,
    )?;
    Ok((Some(journal), resume))
}

/// A 64-bit hash of a row key.
fn key_hash(key: &str) -> u64 {
    use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
    BuildHasherDefault::<DefaultHasher>::default().hash_one(key)
}

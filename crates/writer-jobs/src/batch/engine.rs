//! The batch driver: one task that owns all state and reacts to events
//! (a create answered, a sweep done, a retry answered, a reconciliation
//! listing done, a timer), so no locks guard the bookkeeping and every
//! journal record is written in the order the decisions are made.

use std::collections::{HashMap, HashSet, VecDeque};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use futures::{Stream, StreamExt};
use tokio::sync::{mpsc, watch};

use super::journal::{Binding, Journal, Record, ResumeState, RowState};
use super::listing::{Listing, SweepResult, list_back_to, sweep};
use super::pacer::Pacer;
use super::poller::{self, Candidate, OrderEvidence};
use super::reconcile::{self, Pending, SkewEstimate, Verdict, shift};
use super::windows::Windows;
use super::{AmbiguousPolicy, Batch, BatchError, FailMode, Outcome, OutcomeResult, Progress, Row};
use crate::Client;
use crate::clock::SharedClock;
use crate::error::Error;
use crate::model::validate_inputs;
use crate::model::{CreatedJob, Job, JobStatus, Output, RetriedJob};
use crate::poll::PollPolicy;
use crate::throttle::Throttle;

type Rows = Pin<Box<dyn Stream<Item = Row> + Send>>;

/// Creates sent for one row at most, when creates do not land or are sent
/// again as asked ([`AmbiguousPolicy::Resend`]).
const MAX_CREATES: u32 = 20;

/// A job the batch waits for.
#[derive(Debug)]
struct Tracked {
    key: String,
    seq: u64,
    created_at: DateTime<Utc>,
    /// Clock time the batch started waiting for this row's job.
    since: Duration,
    next_check: Duration,
    checks: u32,
    attempts: u32,
    creates: u32,
    /// A job-level retry request is on the wire.
    retrying: bool,
    /// A listing that covered its creation time did not show it.
    missed: bool,
    /// Clock time after which the row ends as timed out, whatever it is
    /// doing (waiting, being retried): one bound on every loop over it.
    deadline: Duration,
    /// The row's span: every event about this job is logged inside it.
    span: tracing::Span,
}

/// A create whose outcome is unknown, waiting for reconciliation.
#[derive(Debug)]
struct Ambiguous {
    key: String,
    /// The row, once read from the input (a resumed row is known from the
    /// journal before the input reaches it).
    row: Option<Row>,
    seq: u64,
    /// Client clock time its create was first put on the wire.
    since: DateTime<Utc>,
    /// Client clock time after which the server can no longer make its job:
    /// its last send plus [`Batch::max_server_hold`].
    until: DateTime<Utc>,
    /// Clock time when the window has surely passed in the server's time
    /// too, and a listing may judge it.
    settle_at: Duration,
    /// Clock time after which a reconciliation that cannot list gives up
    /// and reports the row.
    give_up_at: Duration,
    creates: u32,
    reason: String,
    /// Left by an earlier run: new creates wait until it is decided, so that
    /// none of ours lands in its window.
    from_journal: bool,
    /// Its intent was torn: it waits for reconciliation like any ambiguous
    /// create, but its window is empty, because the intent is written
    /// before the send and the earlier run died writing it.
    never_sent: bool,
}

impl Ambiguous {
    /// An ambiguous create first sent at `since` whose job the server can
    /// make until `until` (both our clock).
    fn new(
        key: String,
        row: Option<Row>,
        seq: u64,
        creates: u32,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        reason: impl Into<String>,
    ) -> Self {
        Self {
            key,
            row,
            seq,
            since,
            until,
            settle_at: Duration::ZERO,
            give_up_at: Duration::MAX,
            creates,
            reason: reason.into(),
            from_journal: false,
            never_sent: false,
        }
    }

    /// Marks its intent as torn (see `never_sent`).
    fn torn(mut self) -> Self {
        self.never_sent = true;
        self
    }

    /// Marks it as left by an earlier run.
    fn left_by_earlier_run(mut self) -> Self {
        self.from_journal = true;
        self
    }
}

/// A verdict reached before the input reached the row.
#[derive(Debug, Clone)]
enum Early {
    /// Create the row when it is read (it did not land, or resend was asked).
    Resend { creates: u32 },
    /// Report it as ambiguous when it is read.
    Report {
        reason: String,
        candidates: Vec<String>,
        creates: u32,
    },
}

/// A row waiting for a create slot.
#[derive(Debug)]
struct Queued {
    row: Row,
    seq: u64,
    creates: u32,
}

enum Event {
    /// A create's permit was granted: its intent is written and it is sent.
    Permitted(Queued),
    Created {
        queued: Queued,
        since: DateTime<Utc>,
        result: crate::Result<CreatedJob>,
    },
    Swept(SweepResult),
    Retried {
        job_id: String,
        sent_at: DateTime<Utc>,
        result: crate::Result<RetriedJob>,
    },
    Reconciled(crate::Result<Listing>),
    Probed,
}

pub(super) struct Engine {
    settings: Batch,
    client: Client,
    /// Sends creates: one attempt each, after the engine took the permit.
    create_client: Client,
    pacer: Pacer,
    clock: SharedClock,
    poll: PollPolicy,
    journal: Option<Journal>,
    resume: ResumeState,
    /// When this run reopened the journal. A torn intent's create cannot
    /// have been sent before then: the intent is written before the send,
    /// and the earlier run died writing it. Its window starts here.
    opened_at: DateTime<Utc>,
    rows: Rows,
    input_done: bool,
    stopping: bool,
    stop: watch::Receiver<bool>,
    next_seq: u64,
    /// A torn intent in the journal: `Some(Some(key))` names its row,
    /// `Some(None)` means the next row never intended.
    torn_intent: Option<Option<String>>,
    queue: VecDeque<Queued>,
    tracked: HashMap<String, Tracked>,
    /// Creates waiting for their permit or on the wire.
    creating: usize,
    /// Of those, creates waiting for their permit (the breaker may hold
    /// them: the engine must then probe, whatever else is tracked).
    awaiting_permit: usize,
    ambiguous: Vec<Ambiguous>,
    /// Verdicts on resumed rows the input has not reached yet.
    early: HashMap<String, Early>,
    /// Rows whose job id another row already had, to be reported.
    collisions: Vec<Outcome>,
    /// Creates on the wire: key -> when sent (our clock).
    on_wire: HashMap<String, DateTime<Utc>>,
    /// The steady clock, the server's hold and the skew evidence (the
    /// pacer adds what `Date` headers say).
    windows: Windows,
    /// Job-level retries whose answer was lost (key, sent, end of hold): a
    /// retry may make a new job of ours whose id we never learn, so no
    /// ambiguous create may adopt a job in such a window.
    retry_windows: Vec<(String, DateTime<Utc>, DateTime<Utc>)>,
    /// What list pages showed about the list's order.
    order: OrderEvidence,
    /// Jobs the running sweep's listing is meant to show: any it does not
    /// show (the page failed, the order is not what the plan assumed) is
    /// fetched by id next time.
    sweep_listed: HashSet<String>,
    /// Consecutive failed reconciliation listings (for the back-off).
    reconcile_failures: u32,
    /// Job ids of this batch, with when they were created, for telling
    /// orphans apart (pruned to the span reconciliation can still look at).
    known: HashMap<String, DateTime<Utc>>,
    /// Hashes of the keys seen: duplicate detection in 8 bytes a row (a
    /// false alarm would need a 64-bit hash collision).
    keys: HashMap<u64, u64>,
    tasks: FuturesUnordered<BoxFuture<'static, Event>>,
    sweep_running: bool,
    /// Clock time the running (or last) sweep started.
    sweep_started: Duration,
    reconcile_running: bool,
    probe_running: bool,
    next_sweep: Duration,
    next_probe: Duration,
    next_reconcile: Duration,
    last_sweep_cost: u64,
    creates_since_sweep: u64,
    last_sweep_at: Duration,
    density: f64,
    progress: Progress,
    progress_tx: watch::Sender<Progress>,
    out: mpsc::Sender<Result<Outcome, BatchError>>,
    finished_this_run: u64,
    /// Journal records written by this run (for failpoints).
    appended: u64,
}

impl Engine {
    pub(super) fn start(
        settings: Batch,
        rows: Rows,
        out: mpsc::Sender<Result<Outcome, BatchError>>,
        progress_tx: watch::Sender<Progress>,
        stop: watch::Receiver<bool>,
    ) -> Result<Self, BatchError> {
        let clock = settings.client.clock().clone();
        // The steady clock every window is measured on: the wall clock at
        // the start, moved on by the monotonic clock, so a wall clock that
        // steps mid-run (an NTP correction) moves no window.
        let anchor = (clock.wall(), clock.now());
        let pacer = Pacer::new(
            clock.clone(),
            settings.rate,
            settings.breaker_threshold,
            anchor,
        );
        let client = settings
            .client
            .with_throttle(Arc::new(pacer.clone()) as Arc<dyn Throttle>);
        let create_client = client.single_attempt();
        let poll = settings
            .poll
            .unwrap_or_else(|| *settings.client.poll_policy());
        let (journal, resume) = match &settings.journal {
            Some(path) => {
                let binding = Binding {
                    base_url: settings.client.base_url().to_string(),
                    app_id: settings.app_id.clone(),
                    simulated: settings.simulated,
                };
                let (journal, resume) =
                    Journal::open(path, &binding, settings.durability, clock.wall())?;
                (Some(journal), resume)
            }
            None => (None, ResumeState::default()),
        };
        let (opened_at, _) = anchor;
        // Every job an earlier run had (the ones retries replaced too) is
        // ours: never an orphan to adopt.
        let known: HashMap<String, DateTime<Utc>> = resume
            .rows
            .values()
            .filter_map(|r| Some((r.job_id.clone()?, r.intent_at.unwrap_or(opened_at))))
            .chain(
                resume
                    .replaced_jobs
                    .iter()
                    .map(|id| (id.clone(), opened_at)),
            )
            .collect();
        let torn_intent = resume.torn_intent.clone();
        if resume.resumed {
            tracing::info!(
                rows = resume.rows.len(),
                done = resume.done(),
                torn_bytes = resume.torn_bytes,
                "resuming from the journal"
            );
        }
        let windows = Windows::new(
            anchor,
            settings.max_server_hold,
            settings.skew_margin,
            resume.skew,
        );
        // An earlier run's retries without a recorded answer: their windows
        // (placed as this run's clock sees them) block adoption too.
        let hold =
            chrono::Duration::from_std(settings.max_server_hold).unwrap_or(chrono::Duration::MAX);
        let retry_windows = resume
            .lost_retries
            .iter()
            .map(|(key, at)| {
                let sent = (*at).min(opened_at);
                (key.clone(), sent, shift(sent, hold))
            })
            .collect();
        let mut engine = Self {
            client,
            create_client,
            pacer,
            clock,
            poll,
            journal,
            resume,
            opened_at,
            rows,
            input_done: false,
            stopping: false,
            stop,
            next_seq: 0,
            keys: HashMap::new(),
            torn_intent,
            queue: VecDeque::new(),
            tracked: HashMap::new(),
            creating: 0,
            awaiting_permit: 0,
            ambiguous: Vec::new(),
            early: HashMap::new(),
            collisions: Vec::new(),
            on_wire: HashMap::new(),
            windows,
            retry_windows,
            order: OrderEvidence::default(),
            sweep_listed: HashSet::new(),
            reconcile_failures: 0,
            known,
            tasks: FuturesUnordered::new(),
            sweep_running: false,
            sweep_started: Duration::ZERO,
            reconcile_running: false,
            probe_running: false,
            next_sweep: Duration::ZERO,
            next_probe: Duration::ZERO,
            next_reconcile: Duration::ZERO,
            last_sweep_cost: 0,
            creates_since_sweep: 0,
            last_sweep_at: Duration::ZERO,
            density: 0.0,
            progress: Progress::default(),
            progress_tx,
            out,
            finished_this_run: 0,
            appended: 0,
            settings,
        };
        engine.register_resumed()?;
        Ok(engine)
    }

    /// Rows an earlier run sent a create for without recording the answer
    /// (and a torn intent naming its row) are reconciled first: until they
    /// are decided, no new create is sent, so no job of this run can land
    /// in their windows.
    fn register_resumed(&mut self) -> Result<(), BatchError> {
        let mut pending: Vec<Ambiguous> = self
            .resume
            .rows
            .iter()
            .filter(|(_, r)| r.job_id.is_none() && r.done_at.is_none())
            .filter_map(|(key, r)| self.resumed_ambiguous(key, r, None))
            .collect();
        if let Some(Some(key)) = &self.torn_intent {
            let key = key.clone();
            self.torn_intent = None;
            if self
                .resume
                .rows
                .get(&key)
                .is_none_or(|r| r.intent_at.is_none())
            {
                let reason = "the journal's last record was torn; the create may have been sent";
                let at = self.opened_at;
                pending.push(Ambiguous::new(key, None, u64::MAX, 1, at, at, reason).torn());
            }
        }
        pending.sort_by_key(|a| a.seq);
        for a in pending {
            self.make_ambiguous(a.left_by_earlier_run(), false)?;
        }
        Ok(())
    }

    /// The ambiguous create an earlier run left for a row with an intent
    /// but no job: its window is rebuilt from what the journal recorded
    /// (the first send, the last send plus the server's hold, any recorded
    /// window end), never from defaults.
    fn resumed_ambiguous(&self, key: &str, r: &RowState, row: Option<Row>) -> Option<Ambiguous> {
        // The earlier run sent nothing after this run opened the journal:
        // a recorded time past that (a clock set back, a damaged file)
        // counts as that moment, so no window waits for a far future.
        let last = r.intent_at?.min(self.opened_at);
        let since = r.first_intent_at.unwrap_or(last).min(last);
        let latest = shift(self.opened_at, self.hold());
        let until = shift(last, self.hold());
        let until = r
            .ambiguous_until
            .map_or(until, |u| u.max(until))
            .min(latest);
        let reason = "an earlier run sent the create but recorded no answer";
        Some(Ambiguous::new(
            key.to_string(),
            row,
            r.seq,
            1,
            since,
            until,
            reason,
        ))
    }

    /// Now, on the steady clock (see [`Windows`]).
    fn steady(&self) -> DateTime<Utc> {
        self.windows.steady(self.clock.now())
    }

    /// The latest time (steady clock) the server can still act on a create
    /// sent at `sent`.
    fn hold_until(&self, sent: DateTime<Utc>) -> DateTime<Utc> {
        self.windows.hold_until(sent, self.clock.now())
    }

    /// How long the server may hold a request ([`Batch::max_server_hold`]).
    fn hold(&self) -> chrono::Duration {
        self.windows.hold()
    }

    /// Runs until every row read has an outcome (or the batch stops).
    pub(super) async fn run(mut self) {
        if let Err(error) = self.drive().await {
            let _ = self.out.send(Err(error)).await;
        }
        self.publish();
    }

    async fn drive(&mut self) -> Result<(), BatchError> {
        loop {
            for outcome in std::mem::take(&mut self.collisions) {
                self.finish(outcome).await?;
            }
            self.start_work()?;
            self.publish();
            if self.is_finished() {
                return Ok(());
            }
            let wake = self.next_wake();
            let can_read = self.can_read_rows();
            let mut stop = self.stop.clone();
            tokio::select! {
                biased;
                Some(event) = self.tasks.next(), if !self.tasks.is_empty() => {
                    self.handle(event).await?;
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
        }
    }

    fn begin_stop(&mut self) {
        if !self.stopping {
            tracing::info!("stopping: no new jobs will be created");
        }
        self.stopping = true;
        self.input_done = true;
        self.queue.clear();
    }

    fn is_finished(&self) -> bool {
        self.input_done
            && self.queue.is_empty()
            && self.tracked.is_empty()
            && self.creating == 0
            && (self.ambiguous.is_empty() || self.stopping)
            && self.tasks.is_empty()
    }

    fn in_flight(&self) -> usize {
        self.tracked.len() + self.creating + self.queue.len() + self.ambiguous.len()
    }

    fn can_read_rows(&self) -> bool {
        !self.input_done && !self.stopping && self.in_flight() < self.settings.max_in_flight
    }

    /// How long the loop may sleep before something is due.
    fn next_wake(&self) -> Duration {
        let now = self.clock.now();
        let mut due = now + Duration::from_secs(3600);
        if !self.tracked.is_empty() && !self.sweep_running {
            due = due.min(self.next_sweep);
        }
        if !self.ambiguous.is_empty() && !self.reconcile_running {
            due = due.min(self.next_reconcile);
        }
        if !self.queue.is_empty() || self.awaiting_permit > 0 {
            // Creates paused by the breaker: look again soon (and publish
            // the breaker's state meanwhile).
            due = due.min(now + Duration::from_millis(250));
        }
        if self.needs_probe() {
            due = due.min(self.next_probe);
        }
        due.saturating_sub(now).max(Duration::from_millis(1))
    }

    // ----- starting work ---------------------------------------------------

    fn start_work(&mut self) -> Result<(), BatchError> {
        self.start_creates()?;
        let now = self.clock.now();
        if !self.sweep_running && !self.tracked.is_empty() && now >= self.next_sweep {
            self.start_sweep();
        }
        if !self.reconcile_running
            && !self.ambiguous.is_empty()
            && now >= self.next_reconcile
            && !self.pacer.circuit_open()
        {
            self.start_reconcile();
        }
        if self.needs_probe() && now >= self.next_probe {
            self.start_probe();
        }
        Ok(())
    }

    /// The breaker holds something back (creates paused, or the circuit
    /// open), work is pending, and no read is on its way to tell whether
    /// the server is back: a cheap read (the application's details) probes
    /// it. Any pending work counts (rows queued or waiting for a create
    /// permit, ambiguous rows, which are reconciled only on a closed
    /// circuit, tracked jobs): the breaker closes only on an answer to a
    /// request sent after the latest failure, so someone must send one.
    fn needs_probe(&self) -> bool {
        let pending = !self.queue.is_empty()
            || self.awaiting_permit > 0
            || !self.ambiguous.is_empty()
            || !self.tracked.is_empty();
        !self.probe_running
            && !self.pacer.creates_allowed()
            && pending
            && !self.sweep_running
            && !self.reconcile_running
    }

    fn start_creates(&mut self) -> Result<(), BatchError> {
        if self.ambiguous.iter().any(|a| a.from_journal) {
            return Ok(());
        }
        while self.creating < self.settings.create_concurrency && self.pacer.creates_allowed() {
            let Some(queued) = self.queue.pop_front() else {
                break;
            };
            self.send_create(queued)?;
        }
        Ok(())
    }

    /// First step of a create: wait for its permit (the breaker's gate and
    /// the rate limiter) off the engine's loop.
    fn send_create(&mut self, queued: Queued) -> Result<(), BatchError> {
        self.creating += 1;
        self.awaiting_permit += 1;
        let pacer = self.pacer.clone();
        self.tasks.push(Box::pin(async move {
            pacer.create_permit().await;
            Event::Permitted(queued)
        }));
        Ok(())
    }

    /// Second step, once permitted: the intent is written with the time
    /// the request goes on the wire (not the time it was queued), and the
    /// create is sent exactly once (no hidden retries: a create that surely
    /// did not reach the server is queued again, with a new intent).
    fn on_permitted(&mut self, mut queued: Queued) -> Result<(), BatchError> {
        self.awaiting_permit -= 1;
        if self.stopping {
            // Not sent: a resumed run creates it.
            self.creating -= 1;
            return Ok(());
        }
        let since = self.steady();
        queued.creates += 1;
        self.append(Record::Intent {
            key: queued.row.key.clone(),
            seq: queued.seq,
            fp: queued.row.inputs.fingerprint(),
            at: since,
        })?;
        self.creates_since_sweep += 1;
        self.on_wire.insert(queued.row.key.clone(), since);
        let client = self.create_client.clone();
        let app_id = self.settings.app_id.clone();
        self.tasks.push(Box::pin(async move {
            let result = client.create_job(&app_id, &queued.row.inputs).await;
            Event::Created {
                queued,
                since,
                result,
            }
        }));
        Ok(())
    }

    fn start_sweep(&mut self) {
        let now = self.clock.now();
        let candidates: Vec<Candidate> = self
            .tracked
            .iter()
            .filter(|(_, t)| !t.retrying)
            .map(|(id, t)| Candidate {
                id: id.clone(),
                created_at: t.created_at,
                due: now >= t.next_check,
                must_get: t.missed,
            })
            .collect();
        let density = self.density_estimate();
        let plan = if self.order.not_newest_first() {
            // Listing "back to" a time only pays on a newest-first list.
            poller::plan_gets(&candidates)
        } else {
            poller::plan(
                &candidates,
                self.clock.wall(),
                density,
                self.settings.page_size,
            )
        };
        if plan.is_empty() {
            self.schedule_sweep(0);
            return;
        }
        tracing::debug!(
            list_back_to = ?plan.list_back_to,
            gets = plan.gets.len(),
            cost = plan.cost,
            "sweep"
        );
        self.last_sweep_cost = plan.cost;
        self.sweep_running = true;
        self.sweep_started = now;
        self.sweep_listed = match plan.list_back_to {
            Some(back_to) => candidates
                .iter()
                .filter(|c| c.due && !c.must_get && c.created_at >= back_to)
                .map(|c| c.id.clone())
                .collect(),
            None => HashSet::new(),
        };
        let wanted: HashSet<String> = self.tracked.keys().cloned().collect();
        let client = self.client.clone();
        let app_id = self.settings.app_id.clone();
        let page_size = self.settings.page_size;
        let newest_first = self.order.newest_first();
        self.tasks.push(Box::pin(async move {
            Event::Swept(sweep(client, app_id, plan, page_size, wanted, newest_first).await)
        }));
    }

    /// Jobs per second the application's list grows by (all clients).
    fn density_estimate(&self) -> f64 {
        if self.density > 0.0 {
            return self.density;
        }
        // No listing yet: our own jobs are a lower bound.
        let oldest = self.tracked.values().map(|t| t.created_at).min();
        match oldest {
            Some(oldest) => {
                let span =
                    (self.clock.wall() - oldest).num_milliseconds().max(1000) as f64 / 1000.0;
                self.tracked.len() as f64 / span
            }
            None => 0.0,
        }
    }

    /// Spaces sweeps so polling costs about `poll_overhead` requests per
    /// created job while creating, never more than the poll policy's maximum
    /// interval apart, and at that maximum when the quota binds.
    fn schedule_sweep(&mut self, cost: u64) {
        let now = self.clock.now();
        let min = self.settings.min_sweep_interval;
        let max = self.poll.max_interval().max(min);
        let elapsed = now
            .saturating_sub(self.last_sweep_at)
            .as_secs_f64()
            .max(0.001);
        let create_rate = self.creates_since_sweep as f64 / elapsed;
        let interval = if self.pacer.quota_binds() {
            max
        } else if create_rate > 0.0 && !self.input_done {
            Duration::from_secs_f64(
                (cost.max(1) as f64 / (self.settings.poll_overhead * create_rate)).min(3600.0),
            )
        } else {
            // Not creating: wake when the next job is due.
            self.tracked
                .values()
                .map(|t| t.next_check.saturating_sub(now))
                .min()
                .unwrap_or(max)
        };
        self.last_sweep_at = now;
        self.creates_since_sweep = 0;
        self.next_sweep = now + interval.clamp(min, max);
    }

    fn start_reconcile(&mut self) {
        let now = self.clock.now();
        if !self.skew_known() {
            tracing::debug!(
                probes = self.windows.probes(),
                "no skew evidence yet; probing first"
            );
            // No evidence of the server's clock yet (a resumed run before
            // any answer): a cheap read brings a `Date` header first.
            if !self.probe_running {
                self.windows.probe_sent();
                self.start_probe();
            }
            self.next_reconcile = now + Duration::from_secs(1);
            return;
        }
        let settled: Vec<(DateTime<Utc>, DateTime<Utc>)> = self
            .ambiguous
            .iter()
            .filter(|a| now >= a.settle_at)
            .map(|a| self.window_of(a))
            .collect();
        let back_to = settled.iter().map(|w| w.0).min();
        let up_to = settled
            .iter()
            .map(|w| w.1)
            .max()
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        let Some(back_to) = back_to else {
            self.next_reconcile = self.earliest_settle().unwrap_or(now);
            return;
        };
        self.reconcile_running = true;
        let client = self.client.clone();
        let app_id = self.settings.app_id.clone();
        let page_size = self.settings.page_size;
        let prior = self.order;
        let started = now;
        self.tasks.push(Box::pin(async move {
            let range = (back_to, up_to);
            let listing = list_back_to(&client, &app_id, range, page_size, prior, started).await;
            Event::Reconciled(listing)
        }));
    }

    /// When the first ambiguous create settles (`None`: there is none).
    fn earliest_settle(&self) -> Option<Duration> {
        self.ambiguous.iter().map(|a| a.settle_at).min()
    }

    /// The server-time window of an ambiguous create (empty when it was
    /// never sent).
    fn window_of(&self, a: &Ambiguous) -> (DateTime<Utc>, DateTime<Utc>) {
        let (start, end) = self.windows.window(&self.evidence_for(a), a.since, a.until);
        if a.never_sent {
            (end, start)
        } else {
            (start, end)
        }
    }

    /// The server-time window in which a create of this run first sent at
    /// `sent`, whose job the server can make until `until`, may have made it.
    fn window(&self, sent: DateTime<Utc>, until: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
        let skew = self.windows.current(&self.pacer.skew());
        self.windows.window(&skew, sent, until)
    }

    /// The evidence that places `a`'s window (an earlier run's for what it
    /// left).
    fn evidence_for(&self, a: &Ambiguous) -> SkewEstimate {
        self.windows
            .evidence_for(a.from_journal, &self.pacer.skew())
    }

    /// Whether windows may be judged (the server's clock is measured).
    fn skew_known(&self) -> bool {
        self.windows
            .judgeable(&self.pacer.skew(), self.probe_running)
    }

    fn start_probe(&mut self) {
        self.probe_running = true;
        let client = self.client.clone();
        let app_id = self.settings.app_id.clone();
        self.tasks.push(Box::pin(async move {
            let _ = client.application(&app_id).await;
            Event::Probed
        }));
    }

    // ----- rows --------------------------------------------------------------

    async fn accept_row(&mut self, row: Row) -> Result<(), BatchError> {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.progress.rows_read += 1;
        if let Some(first) = self.keys.insert(key_hash(&row.key), seq) {
            return Err(BatchError::DuplicateKey {
                key: row.key,
                first,
                second: seq,
            });
        }
        let fp = row.inputs.fingerprint();
        let state = self.resume.rows.remove(&row.key);
        if let (Some(state), Some(journal)) = (&state, &self.journal) {
            journal.check_row(state, &row.key, &fp)?;
        }
        match self.early.remove(&row.key) {
            Some(Early::Resend { creates }) => {
                self.queue.push_back(Queued { row, seq, creates });
                return Ok(());
            }
            Some(Early::Report {
                reason,
                candidates,
                creates,
            }) => {
                let result = OutcomeResult::Ambiguous { reason, candidates };
                let outcome = Outcome {
                    creates,
                    ..self.outcome(row.key, seq, None, result)
                };
                return self.finish(outcome).await;
            }
            None => {}
        }
        if let Some(a) = self.ambiguous.iter_mut().find(|a| a.key == row.key) {
            // Registered from the journal; now its inputs are known.
            a.seq = seq;
            a.row = Some(row);
            return Ok(());
        }
        match state {
            Some(state) if state.done_at.is_some() => {
                let offset = state.done_at.unwrap_or_default();
                let journal = self
                    .journal
                    .as_ref()
                    .expect("resume state comes from a journal");
                let mut outcome = journal.read_outcome(offset)?;
                outcome.replayed = true;
                self.progress.replayed += 1;
                self.count(&outcome.result);
                self.emit(outcome).await;
            }
            Some(state) if state.job_id.is_some() => {
                let job_id = state.job_id.unwrap_or_default();
                let created_at = state.intent_at.unwrap_or_else(|| self.clock.wall());
                self.track(job_id, row.key, seq, created_at, state.attempts.max(1), 1);
            }
            Some(state) if state.intent_at.is_some() => {
                let key = row.key.clone();
                if let Some(mut a) = self.resumed_ambiguous(&key, &state, Some(row)) {
                    a.seq = seq;
                    self.make_ambiguous(a.left_by_earlier_run(), false)?;
                }
            }
            _ if self.is_torn_intent(&row.key) => {
                // The journal's torn last line was (or may have been) this
                // row's intent: its create may have been about to go.
                self.torn_intent = None;
                let reason = "the journal's last record was torn; the create may have been sent";
                let at = self.opened_at;
                let a = Ambiguous::new(row.key.clone(), Some(row), seq, 1, at, at, reason).torn();
                self.make_ambiguous(a, false)?;
            }
            _ => {
                let invalid = self
                    .settings
                    .application
                    .as_ref()
                    .and_then(|app| validate_inputs(app, &row.inputs).err());
                if let Some(problems) = invalid {
                    let error = problems
                        .iter()
                        .map(|p| p.to_string())
                        .collect::<Vec<_>>()
                        .join("; ");
                    let outcome = self.outcome(
                        row.key,
                        seq,
                        None,
                        OutcomeResult::Rejected {
                            error,
                            http_status: None,
                        },
                    );
                    return self.finish(outcome).await;
                }
                self.queue.push_back(Queued {
                    row,
                    seq,
                    creates: 0,
                });
            }
        }
        Ok(())
    }

    /// Records a job id of ours; forgets ids created before anything
    /// reconciliation can still look at, so memory stays bounded.
    fn remember(&mut self, job_id: String, created_at: DateTime<Utc>) {
        self.known.insert(job_id, created_at);
        if self.known.len() > 4 * self.settings.max_in_flight + 1024 {
            let oldest = self
                .ambiguous
                .iter()
                .map(|a| a.since)
                .chain(self.on_wire.values().copied())
                .min()
                .unwrap_or_else(|| self.steady());
            // Older than any window can reach, in server time (the skew
            // estimate) and in ours (times recorded from our clock).
            let fallback =
                chrono::Duration::from_std(self.settings.skew_margin).unwrap_or_default();
            let horizon = shift(
                self.window(oldest, oldest).0.min(shift(oldest, -fallback)),
                -chrono::Duration::minutes(1),
            );
            self.known.retain(|_, at| *at >= horizon);
        }
    }

    fn is_torn_intent(&self, key: &str) -> bool {
        match &self.torn_intent {
            Some(Some(torn)) => torn == key,
            Some(None) => true,
            None => false,
        }
    }

    fn track(
        &mut self,
        job_id: String,
        key: String,
        seq: u64,
        created_at: DateTime<Utc>,
        attempts: u32,
        creates: u32,
    ) {
        let now = self.clock.now();
        if let Some(other) = self.tracked.get(&job_id) {
            // Two rows cannot share a job: the server (or the journal) named
            // one that another row already waits for. Report this row rather
            // than let one of the two vanish.
            let reason = format!(
                "the server answered with job {job_id}, which row `{}` already waits for; \
                 this row's own job is unknown",
                other.key
            );
            tracing::warn!(%key, %job_id, other = %other.key, "two rows answered with one job id");
            let result = OutcomeResult::Ambiguous {
                reason,
                candidates: vec![job_id],
            };
            let outcome = Outcome {
                attempts,
                creates,
                ..self.outcome(key, seq, None, result)
            };
            self.collisions.push(outcome);
            return;
        }
        self.remember(job_id.clone(), created_at);
        let span = tracing::info_span!("batch.job", key = %key, job_id = %job_id, seq);
        span.in_scope(|| tracing::debug!(attempts, "waiting for the job"));
        self.tracked.insert(
            job_id,
            Tracked {
                span,
                key,
                seq,
                created_at,
                since: now,
                next_check: now + self.poll.next_interval(0),
                checks: 0,
                attempts,
                creates,
                retrying: false,
                missed: false,
                deadline: now + self.row_deadline(),
            },
        );
    }

    /// How long a row may be waited for in all: the poll deadline for each
    /// run of its job (the first and every job-level retry).
    fn row_deadline(&self) -> Duration {
        self.poll
            .deadline()
            .saturating_mul(self.settings.job_retries.saturating_add(1))
    }

    /// Adds an ambiguous create (its `settle_at` is computed here) and,
    /// with `record`, notes it in the journal.
    fn make_ambiguous(&mut self, mut a: Ambiguous, record: bool) -> Result<(), BatchError> {
        if record {
            self.append(Record::Ambiguous {
                key: a.key.clone(),
                since: a.since,
                until: a.until,
                reason: a.reason.clone(),
            })?;
        }
        // Judged only once the window has passed: our clock past its end,
        // plus what we do not know of the server's clock.
        let now = self.clock.now();
        let remaining = (a.until - self.steady()).to_std().unwrap_or(Duration::ZERO);
        a.settle_at = now + remaining + self.windows.uncertainty(&self.evidence_for(&a));
        a.give_up_at = a.settle_at + self.poll.deadline();
        let settle_at = a.settle_at;
        self.ambiguous.push(a);
        if !self.reconcile_running {
            self.next_reconcile = self.earliest_settle().unwrap_or(settle_at);
        }
        Ok(())
    }

    // ----- events ----------------------------------------------------------

    async fn handle(&mut self, event: Event) -> Result<(), BatchError> {
        match event {
            Event::Created {
                queued,
                since,
                result,
            } => self.on_created(queued, since, result).await,
            Event::Permitted(queued) => self.on_permitted(queued),
            Event::Swept(result) => self.on_swept(result).await,
            Event::Retried {
                job_id,
                sent_at,
                result,
            } => self.on_retried(job_id, sent_at, result).await,
            Event::Reconciled(result) => self.on_reconciled(result).await,
            Event::Probed => {
                self.probe_running = false;
                self.next_probe = self.clock.now() + Duration::from_secs(1);
                Ok(())
            }
        }
    }

    async fn on_created(
        &mut self,
        queued: Queued,
        since: DateTime<Utc>,
        result: crate::Result<CreatedJob>,
    ) -> Result<(), BatchError> {
        self.creating -= 1;
        self.on_wire.remove(&queued.row.key);
        match result {
            Ok(created) => {
                let received = self.steady();
                self.windows
                    .observe_create(since, received, created.created_at);
                self.append(Record::Created {
                    key: queued.row.key.clone(),
                    job_id: created.id.clone(),
                    created_at: Some(created.created_at),
                    received_at: Some(received),
                })?;
                self.progress.created += 1;
                self.track(
                    created.id,
                    queued.row.key,
                    queued.seq,
                    created.created_at,
                    1,
                    queued.creates,
                );
            }
            // The server surely did not act (429, no connection): send it
            // again later, with a new intent.
            Err(Error::RateLimited { .. }) | Err(Error::Transport { connect: true, .. }) => {
                let mut queued = queued;
                queued.creates -= 1;
                self.queue.push_front(queued);
            }
            Err(error @ Error::Ambiguous { .. }) => {
                tracing::warn!(key = %queued.row.key, %error, "create is ambiguous; will reconcile");
                let Queued { row, seq, creates } = queued;
                // The server may act on it until it has held it for as long
                // as it can, counted from when it went on the wire.
                let until = self.hold_until(since);
                let a = Ambiguous::new(
                    row.key.clone(),
                    Some(row),
                    seq,
                    creates,
                    since,
                    until,
                    error.to_string(),
                );
                self.make_ambiguous(a, true)?;
            }
            Err(
                error @ (Error::Unauthorized { .. }
                | Error::Forbidden { .. }
                | Error::NotFound { .. }),
            ) => {
                // Every other row would fail the same way: stop creating.
                self.queue.push_front(queued);
                self.begin_stop();
                return Err(BatchError::Api(error));
            }
            Err(error) => {
                let status = error.status();
                let outcome = self.outcome(
                    queued.row.key,
                    queued.seq,
                    None,
                    OutcomeResult::Rejected {
                        error: error.to_string(),
                        http_status: status,
                    },
                );
                let mut outcome = outcome;
                outcome.creates = queued.creates;
                self.finish(outcome).await?;
            }
        }
        Ok(())
    }

    async fn on_swept(&mut self, result: SweepResult) -> Result<(), BatchError> {
        self.sweep_running = false;
        let now = self.clock.now();
        if let Some(oldest) = result.oldest {
            let span = (self.clock.wall() - oldest).num_milliseconds().max(1000) as f64 / 1000.0;
            let measured = result.listed as f64 / span;
            self.density = if self.density > 0.0 {
                0.5 * self.density + 0.5 * measured
            } else {
                measured
            };
        }
        self.order.merge(&result.order);
        // A job the listing was meant to show but did not (the page failed,
        // it vanished, pages shifted, the list is not newest first) is
        // fetched by id next time.
        let seen: HashSet<&str> = result.observed.iter().map(|j| j.id.as_str()).collect();
        for id in std::mem::take(&mut self.sweep_listed) {
            if let Some(t) = self.tracked.get_mut(&id)
                && !t.retrying
                && !seen.contains(id.as_str())
            {
                t.missed = true;
            }
        }
        let started = self.sweep_started;
        for job in result.observed {
            if let Some(t) = self.tracked.get_mut(&job.id) {
                if t.since > started {
                    // Fetched before the row's latest retry was answered:
                    // it shows the job as it was, not as it is.
                    continue;
                }
                t.missed = false;
            }
            self.observe(job).await?;
        }
        for id in result.not_found {
            if let Some(t) = self.tracked.remove(&id) {
                self.finish(self.tracked_outcome(
                    t,
                    Some(id.clone()),
                    OutcomeResult::Failed {
                        error: format!("job {id} no longer exists (404)"),
                    },
                ))
                .await?;
            }
        }
        // Jobs past their deadline (each run's, or the row's in all),
        // whatever they are doing: no loop over a row outlives it.
        let deadline = self.poll.deadline();
        let expired: Vec<String> = self
            .tracked
            .iter()
            .filter(|(_, t)| now.saturating_sub(t.since) > deadline || now > t.deadline)
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired {
            if let Some(t) = self.tracked.remove(&id) {
                let waited_secs = now.saturating_sub(t.since).as_secs();
                let result = OutcomeResult::TimedOut { waited_secs };
                self.finish(self.tracked_outcome(t, Some(id), result))
                    .await?;
            }
        }
        let cost = self.last_sweep_cost;
        self.schedule_sweep(cost);
        Ok(())
    }

    async fn observe(&mut self, job: Job) -> Result<(), BatchError> {
        let now = self.clock.now();
        let steady = self.steady();
        let Some(t) = self.tracked.get_mut(&job.id) else {
            return Ok(());
        };
        if t.retrying {
            return Ok(());
        }
        match &job.status {
            JobStatus::Completed => {
                let t = self.tracked.remove(&job.id).expect("tracked");
                let output = job.output.clone().unwrap_or_else(|| {
                    tracing::warn!(job_id = %job.id, "completed job has no data");
                    Output {
                        title: None,
                        suggestion: String::new(),
                    }
                });
                self.finish_job(t, &job, OutcomeResult::Completed { output })
                    .await?;
            }
            JobStatus::Failed if t.attempts <= self.settings.job_retries => {
                t.retrying = true;
                let key = t.key.clone();
                t.span
                    .in_scope(|| tracing::info!(attempt = t.attempts, "job failed; retrying it"));
                let client = self.client.clone();
                let job_id = job.id.clone();
                let sent_at = steady;
                self.append(Record::RetryIntent {
                    key,
                    from: job_id.clone(),
                    at: sent_at,
                })?;
                self.tasks.push(Box::pin(async move {
                    let result = client.retry_job(&job_id).await;
                    Event::Retried {
                        job_id,
                        sent_at,
                        result,
                    }
                }));
            }
            JobStatus::Failed => {
                let t = self.tracked.remove(&job.id).expect("tracked");
                let error = job
                    .error
                    .clone()
                    .unwrap_or_else(|| "the job failed without a message".into());
                self.finish_job(t, &job, OutcomeResult::Failed { error })
                    .await?;
            }
            _ => {
                t.checks += 1;
                t.next_check = now + self.poll.next_interval(t.checks);
            }
        }
        Ok(())
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

    async fn finish_job(
        &mut self,
        t: Tracked,
        job: &Job,
        result: OutcomeResult,
    ) -> Result<(), BatchError> {
        t.span.in_scope(|| {
            tracing::debug!(
                status = result.name(),
                attempts = t.attempts,
                "job finished"
            )
        });
        let outcome = Outcome {
            created_at: Some(job.created_at),
            finished_at: job.completed_at.or(job.updated_at),
            ..self.tracked_outcome(t, Some(job.id.clone()), result)
        };
        self.finish(outcome).await
    }

    async fn on_retried(
        &mut self,
        job_id: String,
        sent_at: DateTime<Utc>,
        result: crate::Result<RetriedJob>,
    ) -> Result<(), BatchError> {
        let now = self.clock.now();
        let Some(mut t) = self.tracked.remove(&job_id) else {
            return Ok(());
        };
        t.retrying = false;
        t.checks = 0;
        t.next_check = now + self.poll.next_interval(0);
        match result {
            Ok(retried) => {
                self.append(Record::Retried {
                    key: t.key.clone(),
                    job_id: retried.id.clone(),
                    from: job_id.clone(),
                })?;
                t.attempts += 1;
                t.since = now;
                t.created_at = if retried.id == job_id {
                    t.created_at
                } else {
                    retried.created_at
                };
                if retried.id != job_id && self.tracked.contains_key(&retried.id) {
                    let (key, seq, attempts, creates) = (t.key, t.seq, t.attempts, t.creates);
                    self.track(retried.id, key, seq, t.created_at, attempts, creates);
                } else {
                    self.remember(retried.id.clone(), retried.created_at);
                    self.tracked.insert(retried.id, t);
                }
            }
            Err(Error::Conflict { .. }) => {
                // Not failed any more (retried elsewhere?), or the server
                // will not retry it: fetch it to learn what it is doing now,
                // and count the attempt, so the retries stay bounded.
                t.attempts += 1;
                t.missed = true;
                t.next_check = now;
                self.tracked.insert(job_id, t);
            }
            Err(error) if error.is_transient() || matches!(error, Error::Ambiguous { .. }) => {
                // The retry may or may not have landed: look at the job
                // before trying again, and count the attempt either way.
                tracing::warn!(%job_id, %error, %sent_at, "retry is ambiguous; checking the job first");
                // A retry answered with a new id may have made a job of
                // ours whose id is lost: no ambiguous create may adopt it.
                let until = self.hold_until(sent_at);
                self.retry_windows.push((t.key.clone(), sent_at, until));
                t.attempts += 1;
                t.missed = true;
                t.next_check = now;
                self.tracked.insert(job_id, t);
            }
            Err(error) => {
                self.finish(self.tracked_outcome(
                    t,
                    Some(job_id),
                    OutcomeResult::Failed {
                        error: format!("the job failed and could not be retried: {error}"),
                    },
                ))
                .await?;
            }
        }
        Ok(())
    }

    async fn on_reconciled(&mut self, result: crate::Result<Listing>) -> Result<(), BatchError> {
        self.reconcile_running = false;
        let now = self.clock.now();
        let listing = match result {
            Ok(listing) => {
                self.reconcile_failures = 0;
                listing
            }
            Err(error) => {
                // Back off (5 s doubling to 60 s); rows that could not be
                // judged by their give-up time are reported, so a list
                // endpoint that stays down cannot stall the run.
                self.reconcile_failures += 1;
                let backoff = Duration::from_secs(5)
                    .saturating_mul(1 << self.reconcile_failures.min(4))
                    .min(Duration::from_secs(60));
                tracing::warn!(%error, ?backoff, "reconciliation listing failed; will try again");
                self.next_reconcile = now + backoff.max(self.settings.min_sweep_interval);
                let reason = format!(
                    "the application's jobs could not be listed to find out whether the \
                     create landed ({error})"
                );
                let (expired, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.ambiguous)
                    .into_iter()
                    .partition(|a| now >= a.give_up_at);
                self.ambiguous = waiting;
                for mut a in expired {
                    a.reason = format!("{}; {reason}", a.reason);
                    self.report_ambiguous(a, Vec::new()).await?;
                }
                return Ok(());
            }
        };
        self.order.merge(&listing.order);
        if !self.skew_known() {
            // Judged only with the server's clock measured.
            self.next_reconcile = now + Duration::from_secs(1);
            return Ok(());
        }
        let mut pending: Vec<Pending> = self
            .ambiguous
            .iter()
            .map(|a| {
                let (start, end) = self.window_of(a);
                Pending {
                    key: a.key.clone(),
                    start,
                    end,
                    settled: listing.started >= a.settle_at,
                }
            })
            .collect();
        // Creates still on the wire may own an orphan: their windows wait.
        pending.extend(self.on_wire.iter().map(|(key, since)| {
            let (start, end) = self.window(*since, self.hold_until(*since));
            Pending {
                key: key.clone(),
                start,
                end,
                settled: false,
            }
        }));
        // So may retries whose answer was lost: an orphan in one of their
        // windows is never adopted by a create (their own verdicts are
        // dropped below: no ambiguous create has their key).
        self.forget_old_retry_windows();
        let steady = self.steady();
        pending.extend(self.retry_windows.iter().map(|(key, sent, until)| {
            let (start, end) = self.window(*sent, *until);
            Pending {
                key: format!("retry of {key}"),
                start,
                end,
                settled: steady > *until,
            }
        }));
        let verdicts = reconcile::decide(
            &pending,
            &listing.jobs,
            &|id| self.known.contains_key(id),
            listing.covered_since,
            listing.covered_until,
            self.settings.exclusive_application,
        );
        tracing::debug!(
            pending = pending.len(),
            settled = pending.iter().filter(|p| p.settled).count(),
            listed = listing.jobs.len(),
            covered_since = %listing.covered_since,
            verdicts = verdicts.len(),
            "reconciled"
        );
        for verdict in verdicts {
            let key = match &verdict {
                Verdict::NotLanded { key }
                | Verdict::Adopt { key, .. }
                | Verdict::Unresolved { key, .. } => key.clone(),
            };
            let Some(index) = self.ambiguous.iter().position(|a| a.key == key) else {
                continue;
            };
            let a = self.ambiguous.swap_remove(index);
            match verdict {
                Verdict::NotLanded { .. } => {
                    tracing::info!(%key, "ambiguous create did not land; sending it again");
                    self.resend(a, None).await?;
                }
                Verdict::Adopt { job_id, .. } => {
                    tracing::info!(%key, %job_id, "ambiguous create landed; adopting its job");
                    self.append(Record::Created {
                        key: key.clone(),
                        job_id: job_id.clone(),
                        created_at: None,
                        received_at: None,
                    })?;
                    let created_at = listing
                        .jobs
                        .iter()
                        .find(|(id, _)| *id == job_id)
                        .map(|(_, at)| *at)
                        .unwrap_or(a.since);
                    match self.resume.rows.get_mut(&key).filter(|_| a.row.is_none()) {
                        // Not read yet: it is tracked when the input reaches it.
                        Some(state) => {
                            state.job_id = Some(job_id.clone());
                            state.attempts = 1;
                            self.remember(job_id, created_at);
                        }
                        None => self.track(job_id, key, a.seq, created_at, 1, a.creates),
                    }
                }
                Verdict::Unresolved { candidates, .. } => match self.settings.on_ambiguous {
                    AmbiguousPolicy::Resend => {
                        tracing::warn!(%key, ?candidates, "ambiguous create unresolved; resending as asked");
                        self.resend(a, Some(candidates)).await?;
                    }
                    AmbiguousPolicy::Report => {
                        tracing::warn!(%key, ?candidates, "ambiguous create unresolved; reporting it");
                        self.report_ambiguous(a, candidates).await?;
                    }
                },
            }
        }
        // Whatever is left waits for something to change: the next create
        // to settle (a settled one still undecided waits for the unsettled
        // windows it shares orphans with), else a few seconds (a create on
        // the wire, a lost retry's window, a deeper listing). Listing again
        // sooner would only read the same pages.
        let next_settle = self
            .ambiguous
            .iter()
            .map(|a| a.settle_at)
            .filter(|at| *at > now)
            .min();
        self.next_reconcile = next_settle
            .unwrap_or(now + Duration::from_secs(5))
            .max(now + Duration::from_secs(1));
        Ok(())
    }

    /// Drops lost retries' windows that no pending create's window can
    /// reach any more (they end before the earliest one starts).
    fn forget_old_retry_windows(&mut self) {
        let earliest = self
            .ambiguous
            .iter()
            .map(|a| a.since)
            .chain(self.on_wire.values().copied())
            .min()
            .unwrap_or_else(|| self.steady());
        let margin = chrono::Duration::from_std(self.settings.skew_margin * 4).unwrap_or_default();
        let horizon = shift(earliest, -margin);
        self.retry_windows.retain(|(_, _, until)| *until >= horizon);
    }

    /// Reports an ambiguous row with its candidates (now, or when the input
    /// reaches a row known so far only from the journal).
    async fn report_ambiguous(
        &mut self,
        a: Ambiguous,
        candidates: Vec<String>,
    ) -> Result<(), BatchError> {
        if a.row.is_none() {
            self.early.insert(
                a.key,
                Early::Report {
                    reason: a.reason,
                    candidates,
                    creates: a.creates,
                },
            );
            return Ok(());
        }
        let outcome = Outcome {
            creates: a.creates,
            ..self.outcome(
                a.key,
                a.seq,
                None,
                OutcomeResult::Ambiguous {
                    reason: a.reason,
                    candidates,
                },
            )
        };
        self.finish(outcome).await
    }

    /// Sends an ambiguous row's create again (now, or when the input
    /// reaches a row known so far only from the journal), at most
    /// [`MAX_CREATES`] times in all, so creates that never land cannot loop
    /// forever. Then the row ends: reported with `candidates` when it is
    /// unresolved (sent again only because the batch was told to), else
    /// rejected (none of its creates made a job). A count, not a time: each
    /// round may take the server's whole hold.
    async fn resend(
        &mut self,
        a: Ambiguous,
        candidates: Option<Vec<String>>,
    ) -> Result<(), BatchError> {
        // Only a row the input has reached ends here: one known so far only
        // from the journal waits for the input (it may not be there).
        if a.row.is_some() && a.creates >= MAX_CREATES {
            tracing::warn!(key = %a.key, creates = a.creates, "the row's creates did not land; giving up");
            return match candidates {
                Some(candidates) => self.report_ambiguous(a, candidates).await,
                None => {
                    let error = format!(
                        "none of the row's {} creates made a job; the last: {}",
                        a.creates, a.reason
                    );
                    let outcome = Outcome {
                        creates: a.creates,
                        ..self.outcome(
                            a.key,
                            a.seq,
                            None,
                            OutcomeResult::Rejected {
                                error,
                                http_status: None,
                            },
                        )
                    };
                    self.finish(outcome).await
                }
            };
        }
        match a.row {
            Some(row) => self.queue.push_front(Queued {
                row,
                seq: a.seq,
                creates: a.creates,
            }),
            None => {
                self.early
                    .insert(a.key, Early::Resend { creates: a.creates });
            }
        }
        Ok(())
    }

    // ----- outcomes ---------------------------------------------------------

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

    fn count(&mut self, result: &OutcomeResult) {
        let p = &mut self.progress;
        match result {
            OutcomeResult::Completed { .. } => p.completed += 1,
            OutcomeResult::Failed { .. } => p.failed += 1,
            OutcomeResult::Ambiguous { .. } => p.ambiguous += 1,
            OutcomeResult::Rejected { .. } => p.rejected += 1,
            OutcomeResult::TimedOut { .. } => p.timed_out += 1,
        }
    }

    /// Records the outcome in the journal, then hands it to the consumer.
    async fn finish(&mut self, outcome: Outcome) -> Result<(), BatchError> {
        self.append(Record::Done {
            outcome: outcome.clone(),
        })?;
        self.finished_this_run += 1;
        self.count(&outcome.result);
        self.emit(outcome).await;
        Ok(())
    }

    async fn emit(&mut self, outcome: Outcome) {
        self.publish();
        // A consumer that dropped the stream no longer wants outcomes.
        let _ = self.out.send(Ok(outcome)).await;
    }

    fn append(&mut self, record: Record) -> Result<(), BatchError> {
        let Some(journal) = &mut self.journal else {
            return Ok(());
        };
        let index = self.appended;
        self.appended += 1;
        match self.settings.failpoint {
            Some(fp) if fp.index == index => {
                match fp.mode {
                    FailMode::Before => {}
                    FailMode::Torn => journal.append_torn(&record, None)?,
                    FailMode::TornAt(n) => journal.append_torn(&record, Some(n))?,
                    FailMode::After => journal.append(&record)?,
                }
                Err(BatchError::Failpoint(index))
            }
            _ => Ok(journal.append(&record)?),
        }
    }

    fn publish(&mut self) {
        let p = &mut self.progress;
        p.in_flight = (self.tracked.len() + self.creating) as u64;
        p.reconciling = self.ambiguous.len() as u64;
        p.requests = self.pacer.requests();
        // Per job started or finished, so the figure is sane from the start.
        let jobs = self.finished_this_run.max(p.created);
        p.requests_per_job = if jobs > 0 {
            p.requests as f64 / jobs as f64
        } else {
            0.0
        };
        let limiter = self.pacer.limiter_stats();
        p.current_rate = limiter.current_rate;
        p.throttled = limiter.throttled;
        p.circuit_open = self.pacer.circuit_open();
        p.creating_done = self.input_done && self.queue.is_empty();
        let snapshot = p.clone();
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

/// A 64-bit hash of a row key.
fn key_hash(key: &str) -> u64 {
    use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
    BuildHasherDefault::<DefaultHasher>::default().hash_one(key)
}

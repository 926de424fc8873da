//! The batch engine: many rows in, one outcome per row out, under the API's
//! request budget, resumable, with no job lost or created twice.
//!
//! ```no_run
//! # async fn demo(client: writer_jobs::Client) -> Result<(), Box<dyn std::error::Error>> {
//! use futures::StreamExt;
//! use writer_jobs::batch::{Batch, Rate, Row};
//! use writer_jobs::Inputs;
//!
//! let rows = (0..1000).map(|i| Row::new(format!("row-{i}"), Inputs::new().text("Product name", format!("Shoe #{i}"))));
//! let mut run = Batch::new(client, "my-app-id")
//!     .max_in_flight(100)
//!     .rate(Rate::per_minute(400.0))
//!     .journal("products.journal")
//!     .run(futures::stream::iter(rows))
//!     .await?;
//! while let Some(outcome) = run.next().await {
//!     let outcome = outcome?;
//!     println!("{}: {:?}", outcome.key, outcome.result);
//! }
//! # Ok(()) }
//! ```
//!
//! How it spends requests:
//!
//! - **Creates** go one request per row. A create is never blindly resent:
//!   a failure after the request left makes the row *ambiguous*, and the
//!   engine reconciles it by the jobs that appeared in the create's time
//!   window.
//! - **One shared poller** learns which outstanding jobs finished. Each
//!   sweep lists the application's jobs newest first back to some point and
//!   GETs the due jobs older than that point, choosing the split that costs
//!   the fewest requests. Sweeps are spaced so that polling costs about
//!   [`Batch::poll_overhead`] requests per job while jobs are being
//!   created, and no more than the poll policy's maximum interval apart, so
//!   a finished job is noticed within that interval.
//! - **Every request** passes one pacer: a token-bucket rate limiter that
//!   backs off on 429 and a circuit breaker for outages.
//!
//! **Outage bound.** After any failure that suggests an outage (5xx,
//! timeout, lost connection), new creates wait until some request succeeds.
//! So the rows that can become ambiguous in an outage are the creates
//! already sent when it began: at most [`Batch::create_concurrency`].
//!
//! **Resume.** With a [journal](Batch::journal), each row's intent is
//! recorded before its create is sent, its job id once known, and its
//! outcome when final. A
//! resumed run replays finished rows' outcomes (marked
//! [`Outcome::replayed`]), re-attaches to created jobs without creating them
//! again, creates rows never sent, and treats a row with an intent but no
//! job id as ambiguous, never as unsent.
//!
//! **Resolving.** Rows left ambiguous are decided by the user afterwards
//! with a [`Resolution`] on the journal: adopt one of a row's candidate
//! jobs, send the row again on the next resumed run, or give up on it.
//! A tool that only needs to know what a journal holds (its endpoint, the
//! jobs a stopped run left waiting) reads a [`JournalSummary`].

mod ambiguous;
mod assign;
mod breaker;
mod budget;
mod creates;
mod engine;
mod journal;
mod limiter;
mod listing;
mod pacer;
mod poller;
mod positions;
mod reconcile;
mod reconciler;
mod records;
mod resolve;
mod resume;
mod sink;
mod summary;
mod tracking;
mod windows;

#[cfg(test)]
#[path = "../../tests/fuzz_gen/mod.rs"]
mod fuzz_gen;
#[cfg(test)]
mod journal_fuzz_tests;

use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::Stream;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};

pub use journal::{Decision, Durability, JournalError};
pub use limiter::Rate;
pub use resolve::{AmbiguousRow, Resolution, ResolveError};
pub use summary::JournalSummary;

use crate::Client;
use crate::model::{Application, Inputs, Output};
use crate::poll::PollPolicy;

/// The default of [`Batch::max_server_hold`].
pub const DEFAULT_MAX_SERVER_HOLD: Duration = Duration::from_secs(300);

/// The default of [`Batch::read_timeout`]: a page of 100 jobs comes back
/// in well under a second; a read still unanswered after 10 s is sent
/// again rather than waited for until the request timeout.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// One input row: its identity is its key, not its inputs (two rows may
/// carry the same inputs and get a job each).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The row's unique key.
    pub key: String,
    /// The inputs to run the application with.
    pub inputs: Inputs,
}

impl Row {
    /// A row with a key and inputs.
    pub fn new(key: impl Into<String>, inputs: Inputs) -> Self {
        Self {
            key: key.into(),
            inputs,
        }
    }
}

/// The final outcome of one row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Outcome {
    /// The row's key.
    pub key: String,
    /// The row's index in the input.
    pub seq: u64,
    /// The job that produced the outcome, when there is one.
    pub job_id: Option<String>,
    /// What happened.
    #[serde(flatten)]
    pub result: OutcomeResult,
    /// Job runs: 1, plus one per job-level retry (0 for a row rejected
    /// before anything was sent).
    pub attempts: u32,
    /// Create requests sent for the row (more than 1 only when a create
    /// surely did not land, or the user chose to resend ambiguous rows; 0
    /// for a row rejected before anything was sent).
    pub creates: u32,
    /// When the server created the job.
    pub created_at: Option<DateTime<Utc>>,
    /// When the job finished, by the server's clock.
    pub finished_at: Option<DateTime<Utc>>,
    /// When the batch learned the outcome, by the client's clock.
    pub observed_at: DateTime<Utc>,
    /// `true` when this outcome was recorded by an earlier run and is
    /// yielded again on resume (a consumer that already stored it skips it).
    #[serde(skip)]
    pub replayed: bool,
}

impl Outcome {
    /// An outcome of row `key` (input index `seq`) learned at `observed_at`,
    /// with no job, no attempts or creates and no server times (set the
    /// public fields for more): for tests of code that handles outcomes.
    pub fn new(
        key: impl Into<String>,
        seq: u64,
        result: OutcomeResult,
        observed_at: DateTime<Utc>,
    ) -> Self {
        Self {
            key: key.into(),
            seq,
            job_id: None,
            result,
            attempts: 0,
            creates: 0,
            created_at: None,
            finished_at: None,
            observed_at,
            replayed: false,
        }
    }
}

/// What happened to a row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum OutcomeResult {
    /// The job completed with this output.
    Completed {
        /// The generated output.
        output: Output,
    },
    /// The job failed (after any job-level retries).
    Failed {
        /// The server's error message.
        error: String,
    },
    /// The create's outcome is unknown: a job may or may not exist. Never
    /// resent unless the batch was told to ([`AmbiguousPolicy::Resend`]).
    Ambiguous {
        /// What went wrong.
        reason: String,
        /// Jobs created in the create's time window that no row claims:
        /// one of them may be this row's.
        candidates: Vec<String>,
    },
    /// The server refused to create the job (e.g. invalid inputs), or the
    /// row did not pass validation; nothing was created.
    Rejected {
        /// Why.
        error: String,
        /// The HTTP status, when the server answered.
        http_status: Option<u16>,
    },
    /// The job did not finish within the poll policy's deadline; it may
    /// still finish (`writer-jobs wait JOB_ID`).
    TimedOut {
        /// How long the batch waited, in seconds.
        waited_secs: u64,
    },
}

impl OutcomeResult {
    /// A short name: `completed`, `failed`, `ambiguous`, `rejected`, `timed_out`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Completed { .. } => "completed",
            Self::Failed { .. } => "failed",
            Self::Ambiguous { .. } => "ambiguous",
            Self::Rejected { .. } => "rejected",
            Self::TimedOut { .. } => "timed_out",
        }
    }
}

/// What to do with a create whose outcome is unknown and that
/// reconciliation could not settle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AmbiguousPolicy {
    /// Report the row as [`OutcomeResult::Ambiguous`] (at most once per row).
    #[default]
    Report,
    /// Create it again (at least once: the row may end up with two jobs).
    Resend,
}

/// Why a batch stopped early.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BatchError {
    /// The journal could not be used.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// Two rows share a key.
    #[error("row key `{key}` appears twice (input rows {first} and {second}); keys must be unique")]
    DuplicateKey {
        /// The key.
        key: String,
        /// Index of the first row with it.
        first: u64,
        /// Index of the second.
        second: u64,
    },
    /// The API refused in a way every later row would hit too (bad key, no
    /// access, unknown application): the batch stopped creating.
    #[error("the API refused the batch: {0}")]
    Api(#[source] crate::Error),
    /// The server stayed unreachable (every request failing, the circuit
    /// breaker open) for longer than the poll deadline while rows waited
    /// to be created or reconciled: the batch stopped. Nothing is lost:
    /// rows not yet created were not sent, and a resumed run (with a
    /// journal) picks up every row where it was.
    #[error(
        "the server has been unreachable for {waited_secs} s (every request failed); the batch \
         stopped with rows still to create or reconcile: run it again (resume) once the \
         server is back"
    )]
    Unavailable {
        /// How long requests had been failing.
        waited_secs: u64,
    },
    /// The settings are inconsistent.
    #[error("invalid batch settings: {0}")]
    Config(String),
    /// A crash test's failpoint stopped the engine (feature `test-util`).
    #[cfg(feature = "test-util")]
    #[error("stopped at failpoint (journal record {0})")]
    Failpoint(u64),
}

/// Where a crash test stops the engine, as `kill -9` would: around the
/// `index`-th journal record the engine writes in this run (0 is the first
/// after the header). Only with the `test-util` feature, which no shipped
/// build enables.
///
/// With the feature, a batch given no failpoint reads one from the
/// `WRITER_JOBS_FAILPOINT` environment variable (`INDEX:before|torn|after`,
/// see [`Failpoint::parse`]) and then *aborts the process* there, so a crash
/// test can kill a program that runs a batch (the CLI) at an exact record.
#[cfg(feature = "test-util")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failpoint {
    /// Which record (counting from 0, in this run).
    pub index: u64,
    /// Where around it.
    pub mode: FailMode,
}

/// Where around a journal record a failpoint stops (feature `test-util`).
#[cfg(feature = "test-util")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailMode {
    /// Before the record is written.
    Before,
    /// Half-way through writing it (a torn line).
    Torn,
    /// After writing only its first `n` bytes (a torn line cut anywhere).
    TornAt(usize),
    /// Right after it is written.
    After,
}

#[cfg(feature = "test-util")]
impl Failpoint {
    /// The environment variable a batch reads a failpoint from when it was
    /// given none (and then aborts the process at it).
    pub const ENV: &'static str = "WRITER_JOBS_FAILPOINT";

    /// Parses `INDEX:before|torn|after`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || format!("bad failpoint `{text}`: use INDEX:before|torn|after");
        let (index, mode) = text.split_once(':').ok_or_else(bad)?;
        let index = index.parse().map_err(|_| bad())?;
        let mode = match mode {
            "before" => FailMode::Before,
            "torn" => FailMode::Torn,
            "after" => FailMode::After,
            _ => return Err(bad()),
        };
        Ok(Self { index, mode })
    }
}

/// A snapshot of the batch's progress, for progress bars and logs.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Progress {
    /// Rows read from the input so far.
    pub rows_read: u64,
    /// Rows whose outcome an earlier run recorded (resume).
    pub replayed: u64,
    /// Jobs created by this run.
    pub created: u64,
    /// Jobs being waited for.
    pub in_flight: u64,
    /// Rows completed.
    pub completed: u64,
    /// Rows failed.
    pub failed: u64,
    /// Rows reported ambiguous.
    pub ambiguous: u64,
    /// Rows rejected.
    pub rejected: u64,
    /// Rows timed out.
    pub timed_out: u64,
    /// Ambiguous creates waiting for reconciliation.
    pub reconciling: u64,
    /// Requests sent by this run.
    pub requests: u64,
    /// Requests per finished row so far.
    pub requests_per_job: f64,
    /// The rate limiter's rate in force, requests per second (`None`: unlimited).
    pub current_rate: Option<f64>,
    /// 429 answers seen.
    pub throttled: u64,
    /// Whether the circuit is open (outage).
    pub circuit_open: bool,
    /// Whether the input is exhausted and nothing more will be created.
    pub creating_done: bool,
}

impl Progress {
    /// Rows with a final outcome (this run and replayed).
    pub fn finished(&self) -> u64 {
        self.completed + self.failed + self.ambiguous + self.rejected + self.timed_out
    }
}

/// The settings of a batch.
#[derive(Debug, Clone)]
pub struct Batch {
    client: Client,
    app_id: String,
    max_in_flight: Option<usize>,
    create_concurrency: usize,
    rate: Option<Rate>,
    poll: Option<PollPolicy>,
    poll_overhead: f64,
    min_sweep_interval: Duration,
    page_size: u64,
    job_retries: u32,
    on_ambiguous: AmbiguousPolicy,
    journal: Option<PathBuf>,
    durability: Durability,
    simulated: bool,
    application: Option<Application>,
    breaker_threshold: u32,
    read_timeout: Duration,
    max_server_hold: Duration,
    exclusive_application: bool,
    less_overlap: bool,
    /// A crash test's failpoint, and whether reaching it aborts the
    /// process (one read from the environment) rather than ending the run
    /// with [`BatchError::Failpoint`].
    #[cfg(feature = "test-util")]
    failpoint: Option<(Failpoint, bool)>,
}

impl Batch {
    /// A batch that runs rows through application `app_id` with `client`.
    pub fn new(client: Client, app_id: impl Into<String>) -> Self {
        Self {
            client,
            app_id: app_id.into(),
            max_in_flight: None,
            create_concurrency: 8,
            rate: None,
            poll: None,
            poll_overhead: 0.03,
            min_sweep_interval: Duration::from_secs(2),
            page_size: 100,
            job_retries: 0,
            on_ambiguous: AmbiguousPolicy::Report,
            journal: None,
            durability: Durability::Os,
            simulated: false,
            application: None,
            breaker_threshold: 5,
            read_timeout: DEFAULT_READ_TIMEOUT,
            max_server_hold: DEFAULT_MAX_SERVER_HOLD,
            exclusive_application: false,
            less_overlap: false,
            #[cfg(feature = "test-util")]
            failpoint: None,
        }
    }

    /// The most rows in flight at once (queued, being created, running,
    /// being reconciled): a fixed cap. Without one, the batch keeps as
    /// many in flight as its request budget can create and poll (Little's
    /// law over the job durations it observes) when a [`Batch::rate`] is
    /// set or a limit is learned from 429s, up to 10,000; else 100.
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = Some(n);
        self
    }

    /// The most create requests on the wire at once (default 8). This is
    /// also the bound on rows made ambiguous by an outage.
    pub fn create_concurrency(mut self, n: usize) -> Self {
        self.create_concurrency = n;
        self
    }

    /// Less overlap (default off): after a create ends ambiguous, no create
    /// is sent until its window (see [`Batch::max_server_hold`]) has passed,
    /// then one at a time, back to [`Batch::create_concurrency`] by one per
    /// answer. Pays only with a short hold; with `create_concurrency(1)` no
    /// window holds another create's job (bench, exclusive application,
    /// 1 s hold: 0 of 2,000 rows ambiguous, was 1.65-1.9%; wall +14-29%).
    pub fn less_overlap(mut self, on: bool) -> Self {
        self.less_overlap = on;
        self
    }

    /// The request budget (default: none; the limiter still backs off on 429).
    pub fn rate(mut self, rate: Rate) -> Self {
        self.rate = Some(rate);
        self
    }

    /// The poll policy: its maximum interval caps the time between sweeps,
    /// its deadline ends the wait for one job (default: the client's).
    pub fn poll_policy(mut self, policy: PollPolicy) -> Self {
        self.poll = Some(policy);
        self
    }

    /// Polling requests per created job to aim for while creating
    /// (default 0.03). Sweeps are spaced so that they cost about this many
    /// requests per job created, and never further apart than the poll
    /// policy's maximum interval (10 s by default, counted from a sweep's
    /// start), so a finished job is seen within about that interval
    /// whatever this is. Higher notices results sooner for more requests;
    /// at the default the maximum interval sets the pace when ~100 jobs of
    /// ~30 s are in flight. Bench (`cargo xtask bench --only overhead`,
    /// 1,000 rows): 0.03 gives 1.10 requests/job at a p95 result delay of
    /// 10 s, 0.15 gives 1.14 at the same p95, 0.3 gives 1.19 at 9.7 s; a
    /// longer maximum interval with [`Batch::poll_policy`] trades delay for
    /// requests (15 s: 1.08 at p95 14.6 s; 20 s: 1.06 at 19.4 s). A client
    /// that looks at every running job each sweep needs at least about
    /// 1.105 requests/job for p95 <= 10 s and 1.07 for 15 s on those jobs
    /// (the bench's computed floor).
    pub fn poll_overhead(mut self, requests_per_job: f64) -> Self {
        self.poll_overhead = requests_per_job;
        self
    }

    /// The shortest time between sweeps (default 2 s).
    pub fn min_sweep_interval(mut self, interval: Duration) -> Self {
        self.min_sweep_interval = interval;
        self
    }

    /// The list page size to ask for (default 100, the API's maximum).
    pub fn page_size(mut self, n: u64) -> Self {
        self.page_size = n;
        self
    }

    /// How many times to retry a failed job with the retry endpoint (default 0).
    pub fn job_retries(mut self, n: u32) -> Self {
        self.job_retries = n;
        self
    }

    /// What to do with ambiguous creates reconciliation cannot settle.
    pub fn on_ambiguous(mut self, policy: AmbiguousPolicy) -> Self {
        self.on_ambiguous = policy;
        self
    }

    /// Record progress in a journal at `path`, and resume from it if it exists.
    pub fn journal(mut self, path: impl Into<PathBuf>) -> Self {
        self.journal = Some(path.into());
        self
    }

    /// How hard journal records are pushed to disk (default [`Durability::Os`]).
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// Marks the run as talking to a simulator: its journal cannot be
    /// resumed against the real API (and the other way round).
    pub fn simulated(mut self, simulated: bool) -> Self {
        self.simulated = simulated;
        self
    }

    /// Check every row against the application's inputs before creating it;
    /// invalid rows become [`OutcomeResult::Rejected`] without a request.
    pub fn validate_against(mut self, application: Application) -> Self {
        self.application = Some(application);
        self
    }

    /// Consecutive failures that open the circuit (default 5).
    pub fn breaker_threshold(mut self, n: u32) -> Self {
        self.breaker_threshold = n;
        self
    }

    /// How long one read of a sweep or a reconciliation (a list page, a
    /// job's GET, the application probe) may take before it is given up
    /// and sent again (default [`DEFAULT_READ_TIMEOUT`], 10 s; never longer
    /// than the client's request timeout). Creates and job retries keep
    /// the client's request timeout (60 s by default): giving up on those
    /// makes a row ambiguous, giving up on a read costs one more request.
    /// A read that times out is not counted as a failure of the server
    /// (the circuit breaker counts refused or reset connections and 5xx),
    /// so slow pages do not pause creates.
    pub fn read_timeout(mut self, timeout: Duration) -> Self {
        self.read_timeout = timeout;
        self
    }

    /// How long the server may hold a request before acting on it
    /// (default 300 s: Writer's own server-side timeout is about five
    /// minutes). Nothing but this bounds when a create the client gave up
    /// on can still make its job, so an ambiguous create's window runs from
    /// its first send to its last send plus this (placed in the server's
    /// time by what successful creates showed of its clock), and the create
    /// is judged only once that window has passed. A window a killed run
    /// left is judged after the resumed run's start plus this, unless a
    /// time the server stamped shows it has passed sooner.
    /// A shorter value judges sooner but trusts the server to act sooner.
    pub fn max_server_hold(mut self, hold: Duration) -> Self {
        self.max_server_hold = hold;
        self
    }

    /// Declares that only this run creates jobs on the application while
    /// it runs (default `false`). Then a job that appears in an ambiguous
    /// create's window and that no row owns can only be that create's, and
    /// is adopted. On a shared application timing cannot tell our job from
    /// another client's, so such a row is reported
    /// [`OutcomeResult::Ambiguous`] with its candidate job ids instead.
    pub fn exclusive_application(mut self, exclusive: bool) -> Self {
        self.exclusive_application = exclusive;
        self
    }

    /// Stops the engine at a journal record, as a crash would: the run
    /// ends with [`BatchError::Failpoint`] (crash tests; feature
    /// `test-util`).
    #[cfg(feature = "test-util")]
    pub fn failpoint(mut self, failpoint: Failpoint) -> Self {
        self.failpoint = Some((failpoint, false));
        self
    }

    /// With `test-util`, a batch given no failpoint takes the one in
    /// [`Failpoint::ENV`], if set, and aborts the process there.
    #[cfg(feature = "test-util")]
    fn with_env_failpoint(mut self) -> Result<Self, BatchError> {
        if self.failpoint.is_none()
            && let Ok(text) = std::env::var(Failpoint::ENV)
        {
            let failpoint = Failpoint::parse(&text).map_err(BatchError::Config)?;
            self.failpoint = Some((failpoint, true));
        }
        Ok(self)
    }

    #[cfg(not(feature = "test-util"))]
    fn with_env_failpoint(self) -> Result<Self, BatchError> {
        Ok(self)
    }

    fn validate(&self) -> Result<(), BatchError> {
        let bad = |m: &str| Err(BatchError::Config(m.to_string()));
        if self.max_in_flight == Some(0) {
            return bad("max_in_flight must be at least 1");
        }
        if self.create_concurrency == 0 {
            return bad("create_concurrency must be at least 1");
        }
        if self.read_timeout.is_zero() {
            return bad("read_timeout must be above zero");
        }
        if self.page_size == 0 {
            return bad("page_size must be at least 1");
        }
        if !(self.poll_overhead.is_finite() && self.poll_overhead > 0.0) {
            return bad("poll_overhead must be a positive number of requests per job");
        }
        if self.app_id.is_empty() {
            return bad("the application id is empty");
        }
        Ok(())
    }

    /// Starts the batch on the current tokio runtime. Rows are read lazily
    /// (memory stays bounded however many there are); outcomes arrive as
    /// jobs finish, not in input order.
    pub async fn run<S>(self, rows: S) -> Result<BatchRun, BatchError>
    where
        S: Stream<Item = Row> + Send + 'static,
    {
        self.validate()?;
        let settings = self.with_env_failpoint()?;
        let (tx, rx) = mpsc::channel(256);
        let (progress_tx, progress_rx) = watch::channel(Progress::default());
        let (stop_tx, stop_rx) = watch::channel(false);
        let engine = engine::Engine::start(settings, Box::pin(rows), tx, progress_tx, stop_rx)?;
        let task = tokio::spawn(engine.run());
        Ok(BatchRun {
            outcomes: rx,
            progress: progress_rx,
            stop: StopHandle(stop_tx),
            task: Some(task),
        })
    }
}

/// Stops a batch from creating more jobs.
#[derive(Debug, Clone)]
pub struct StopHandle(watch::Sender<bool>);

impl StopHandle {
    /// Stop creating new jobs; jobs already created are still waited for,
    /// and their outcomes and the journal are written as usual.
    pub fn stop(&self) {
        let _ = self.0.send(true);
    }
}

/// A running batch: a stream of outcomes as jobs finish.
#[derive(Debug)]
pub struct BatchRun {
    outcomes: mpsc::Receiver<Result<Outcome, BatchError>>,
    progress: watch::Receiver<Progress>,
    stop: StopHandle,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl BatchRun {
    /// A receiver of progress snapshots (`changed().await`, `borrow()`).
    pub fn progress(&self) -> watch::Receiver<Progress> {
        self.progress.clone()
    }

    /// A handle that stops the batch from creating more jobs.
    pub fn stop_handle(&self) -> StopHandle {
        self.stop.clone()
    }
}

impl Stream for BatchRun {
    type Item = Result<Outcome, BatchError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.outcomes.poll_recv(cx)
    }
}

impl Drop for BatchRun {
    fn drop(&mut self) {
        // Dropping the run abandons it: the engine stops at its next step
        // (the journal stays consistent; a later run resumes).
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

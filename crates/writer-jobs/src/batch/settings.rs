//! [`Batch`]: the settings of a batch, set with builder methods and
//! checked before it starts. The engine reads them (hence the fields
//! visible to the rest of the batch module); starting a batch is in
//! `run.rs`.

use std::path::PathBuf;
use std::time::Duration;

#[cfg(feature = "test-util")]
use super::Failpoint;
use super::{BatchError, Durability, Rate};
use crate::Client;
use crate::model::Application;
use crate::poll::PollPolicy;

/// The default of [`Batch::max_server_hold`].
pub const DEFAULT_MAX_SERVER_HOLD: Duration = Duration::from_secs(300);

/// The default of [`Batch::read_timeout`]: a page of 100 jobs comes back
/// in well under a second; a read still unanswered after 10 s is sent
/// again rather than waited for until the request timeout.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// What to do with a create whose outcome is unknown and that
/// reconciliation could not settle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum AmbiguousPolicy {
    /// Report the row as
    /// [`OutcomeResult::Ambiguous`](super::OutcomeResult::Ambiguous) (at
    /// most once per row).
    #[default]
    Report,
    /// Create it again (at least once: the row may end up with two jobs).
    /// A job-level retry whose answer was lost is reported either way:
    /// retrying the failed job again cannot make the row's job anew.
    Resend,
}

/// The settings of a batch.
#[derive(Debug, Clone)]
pub struct Batch {
    pub(super) client: Client,
    pub(super) app_id: String,
    pub(super) max_in_flight: Option<usize>,
    pub(super) create_concurrency: usize,
    pub(super) rate: Option<Rate>,
    pub(super) poll: Option<PollPolicy>,
    pub(super) poll_overhead: f64,
    pub(super) min_sweep_interval: Duration,
    pub(super) page_size: u64,
    pub(super) job_retries: u32,
    pub(super) on_ambiguous: AmbiguousPolicy,
    pub(super) journal: Option<PathBuf>,
    pub(super) durability: Durability,
    pub(super) simulated: bool,
    pub(super) application: Option<Application>,
    pub(super) breaker_threshold: u32,
    pub(super) read_timeout: Duration,
    pub(super) max_server_hold: Duration,
    pub(super) exclusive_application: bool,
    pub(super) less_overlap: bool,
    pub(super) engine_thread: bool,
    /// A crash test's failpoint, and whether reaching it aborts the
    /// process (one read from the environment) rather than ending the run
    /// with [`BatchError::Failpoint`].
    #[cfg(feature = "test-util")]
    pub(super) failpoint: Option<(Failpoint, bool)>,
    /// How long after its intent a create (or retry) may start and still
    /// be sent: [`MAX_SEND_DELAY`](super::windows::MAX_SEND_DELAY), which
    /// the journal's windows count on; only the tests make it shorter
    /// (feature `test-util`).
    pub(super) send_delay: Duration,
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
            engine_thread: true,
            #[cfg(feature = "test-util")]
            failpoint: None,
            send_delay: super::windows::MAX_SEND_DELAY,
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
    /// Each retry is sent once, after its permit, like a create: a retry the
    /// server answers with a new id makes a job, so one whose answer is lost
    /// is reconciled, never sent again blind.
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
    /// invalid rows become
    /// [`OutcomeResult::Rejected`](super::OutcomeResult::Rejected) without
    /// a request.
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
    /// so slow pages do not pause creates. A server slower than this is
    /// still read: once a sweep's read (and its second request) timed out,
    /// sweeps' GETs get the request timeout for the rest of the run (their
    /// list pages keep this one: a failed listing sends its jobs to GETs),
    /// and reconciliation listings do once one failed; a listing's page
    /// that fails with a transient error (a burst of 429s, a 503) is read
    /// again twice, after the server's wait, before the listing fails.
    pub fn read_timeout(mut self, timeout: Duration) -> Self {
        self.read_timeout = timeout;
        self
    }

    /// How long the server may hold a request before acting on it
    /// (default 300 s: Writer's own server-side timeout is about five
    /// minutes). Nothing but this bounds when a create the client gave up
    /// on can still make its job. The hold counts from when the server
    /// received the request, which is no later than the end of its exchange
    /// (the answer, or the request timeout; a request can wait in transit,
    /// in a proxy or a queue in front of the server; a proxy that still
    /// forwards a request after the client gave up on it needs its longest
    /// such delay added to this). So an ambiguous
    /// create's window runs from its first send to the end of its last
    /// exchange plus this (placed in the server's time by what successful
    /// creates showed of its clock), and the create is judged only once that
    /// window has passed. A killed run's create with no recorded answer is
    /// taken as received by its intent plus 1 s plus the request timeout.
    /// A window a killed run left is judged after the resumed run's start
    /// plus this, unless a time the server stamped shows it has passed
    /// sooner. A shorter value judges sooner but trusts the server to act
    /// sooner: below the server's real hold, a create the server still
    /// holds can be judged not landed and sent again (a second job).
    pub fn max_server_hold(mut self, hold: Duration) -> Self {
        self.max_server_hold = hold;
        self
    }

    /// Declares that only this run creates jobs on the application while
    /// it runs (default `false`). Then a job that appears in an ambiguous
    /// create's window and that no row owns can only be that create's, and
    /// is adopted. On a shared application timing cannot tell our job from
    /// another client's, so such a row is reported
    /// [`OutcomeResult::Ambiguous`](super::OutcomeResult::Ambiguous) with
    /// its candidate job ids instead.
    ///
    /// The declaration covers this run's time only, and the journal records
    /// it in the run's header: a resumed run matches jobs as on an
    /// exclusive application only when every window an earlier run left to
    /// judge lies in a run declared exclusive too (an earlier run of a
    /// journal older than format 5 counts as shared); otherwise its rows are
    /// judged as on a shared application.
    pub fn exclusive_application(mut self, exclusive: bool) -> Self {
        self.exclusive_application = exclusive;
        self
    }

    /// Whether the batch runs on a thread of its own when started on
    /// tokio's multi-threaded runtime (default `true`): its engine, its
    /// requests and their connections' tasks then run on one thread, on a
    /// current-thread runtime, and only rows, outcomes and progress cross
    /// to the caller's. On the multi-threaded runtime every answer would
    /// otherwise wake tasks on the other workers, several wake-ups a
    /// request between threads, and that costs more CPU than the engine's
    /// own work (issue 18's bench: 80 against 61 µs a job at 10,000 rows).
    ///
    /// On its thread the batch sends through connections of its own, not
    /// the client's pool (a connection's task lives on the runtime that
    /// opened it, and ends with it); a client over a `reqwest::Client` the
    /// caller gave ([`ClientBuilder::http_client`](crate::ClientBuilder::http_client))
    /// cannot open its own, so its batches stay on the caller's runtime.
    /// The rows stream is read on the caller's runtime either way (up to a
    /// few hundred rows ahead), so it may use what that runtime offers. On a
    /// current-thread runtime (the CLI's, and tests with a paused clock)
    /// the batch runs as a task of the caller's runtime; `false` keeps it
    /// one on the multi-threaded runtime too (say, to see its tasks in a
    /// runtime console).
    pub fn engine_thread(mut self, own: bool) -> Self {
        self.engine_thread = own;
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

    /// Sends a create (or retry) only if it starts within `delay` of its
    /// intent, at most the usual 1 s: a shorter delay makes creates come
    /// back unsent, as on a machine too slow for the batch's clock (tests;
    /// feature `test-util`).
    #[cfg(feature = "test-util")]
    pub fn send_delay(mut self, delay: Duration) -> Self {
        self.send_delay = delay.min(super::windows::MAX_SEND_DELAY);
        self
    }

    /// With `test-util`, a batch given no failpoint takes the one in
    /// [`Failpoint::ENV`], if set, and aborts the process there.
    #[cfg(feature = "test-util")]
    pub(super) fn with_env_failpoint(mut self) -> Result<Self, BatchError> {
        if self.failpoint.is_none()
            && let Ok(text) = std::env::var(Failpoint::ENV)
        {
            let failpoint = Failpoint::parse(&text).map_err(BatchError::Config)?;
            self.failpoint = Some((failpoint, true));
        }
        Ok(self)
    }

    #[cfg(not(feature = "test-util"))]
    pub(super) fn with_env_failpoint(self) -> Result<Self, BatchError> {
        Ok(self)
    }

    pub(super) fn validate(&self) -> Result<(), BatchError> {
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
}

//! The simulator's builder and handle.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::clock::SimClock;
use crate::config::{
    ApiConfig, AppConfig, ConfigError, DurationDist, ErrorShape, IdStyle, KeyConfig, ListConfig,
    ListOrder, RateLimitConfig, RefuseSchedule, SimConfig, SuccessStatus, Timestamps, TotalCount,
    UnknownInputs,
};
use crate::faults::{FaultConfig, FaultEngine, Outage};
use crate::listener::{ListenerControl, Refuse};
use crate::ratelimit::RateLimiter;
use crate::routes::Caller;
use crate::stats::{RequestRecord, Stats, StatsCollector};
use crate::store::{JobState, Store};

/// Why a simulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The listening socket could not be bound.
    #[error("cannot listen on 127.0.0.1:{port}: {source} (use port 0 for any free port)")]
    Bind {
        /// The port asked for.
        port: u16,
        /// The cause.
        source: std::io::Error,
    },
}

/// The state every request handler shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: SimConfig,
    pub(crate) clock: SimClock,
    store: Mutex<Store>,
    pub(crate) stats: StatsCollector,
    pub(crate) limiter: RateLimiter,
    faults: Mutex<FaultEngine>,
    pub(crate) listener: ListenerControl,
}

impl Shared {
    pub(crate) fn lock_store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn lock_faults(&self) -> MutexGuard<'_, FaultEngine> {
        self.faults.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The key a caller authenticated with.
    pub(crate) fn key(&self, caller: Caller) -> &KeyConfig {
        &self.config.keys[caller.0]
    }

    /// Finds the key a bearer token names.
    pub(crate) fn authenticate(&self, token: &str) -> Option<Caller> {
        self.config
            .keys
            .iter()
            .position(|k| k.key == token)
            .map(Caller)
    }

    pub(crate) fn stats(&self) -> Stats {
        let (tenants, by_input_set) = {
            let store = self.lock_store();
            (store.tenant_jobs_created, store.input_set_origins())
        };
        self.stats.snapshot(tenants, by_input_set)
    }

    pub(crate) fn job(&self, id: &str) -> Option<JobState> {
        let now = self.clock.now();
        let store = self.lock_store();
        store.job_index(id).map(|j| store.state(j, now))
    }
}

/// Configures and starts a [`Simulator`].
///
/// Defaults: the demo application ([`AppConfig::demo`]), one key
/// ([`DEFAULT_API_KEY`](crate::DEFAULT_API_KEY)) with access to every
/// application, log-normal job durations (mean 30 s), no failures, no rate
/// limit, no faults, a real-time clock, seed 0, any free port.
#[derive(Debug, Clone)]
pub struct SimulatorBuilder {
    config: SimConfig,
    clock: Option<SimClock>,
    port: u16,
    request_log: bool,
}

impl SimulatorBuilder {
    /// Replaces the whole configuration (for example one read with
    /// `SimConfig::from_toml`); later builder calls change it further.
    pub fn config(mut self, config: SimConfig) -> Self {
        self.config = config;
        self
    }

    /// Seeds every random choice (durations, failures, faults, job ids).
    pub fn seed(mut self, seed: u64) -> Self {
        self.config.seed = seed;
        self
    }

    /// Runs on this clock (shared with the test's client, if it likes).
    pub fn clock(mut self, clock: SimClock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Runs on a real-time clock scaled by `scale` (100 = 100x faster).
    /// Checked when the simulator starts.
    pub fn scale(mut self, scale: f64) -> Self {
        self.config.scale = scale;
        self.clock = None;
        self
    }

    /// Runs on a manual clock ([`SimClock::manual_default`]): time moves
    /// only with [`Simulator::advance`].
    pub fn manual_clock(mut self) -> Self {
        self.clock = Some(SimClock::manual_default());
        self
    }

    /// Adds an application (the demo application stays unless replaced with
    /// [`apps`](Self::apps)).
    pub fn app(mut self, app: AppConfig) -> Self {
        self.config.apps.push(app);
        self
    }

    /// Replaces the list of applications.
    pub fn apps(mut self, apps: Vec<AppConfig>) -> Self {
        self.config.apps = apps;
        self
    }

    /// Sets the main API key (the one [`Simulator::api_key`] returns), with
    /// access to every application.
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        let key = KeyConfig::all_apps(key);
        match self.config.keys.first_mut() {
            Some(first) => *first = key,
            None => self.config.keys.push(key),
        }
        self
    }

    /// Adds another accepted key (with its own application access and its
    /// own rate-limit budget).
    pub fn key(mut self, key: KeyConfig) -> Self {
        self.config.keys.push(key);
        self
    }

    /// Sets how long jobs run (simulated time).
    pub fn duration(mut self, dist: DurationDist) -> Self {
        self.config.duration = dist;
        self
    }

    /// Sets the chance that one attempt of a job fails (0 to 1).
    pub fn failure_rate(mut self, rate: f64) -> Self {
        self.config.failure_rate = rate;
        self
    }

    /// Makes retries answer with a new job id (the failed job stays failed).
    pub fn retry_new_id(mut self, yes: bool) -> Self {
        self.config.retry_new_id = yes;
        self
    }

    /// Sets list paging behaviour.
    pub fn list(mut self, list: ListConfig) -> Self {
        self.config.list = list;
        self
    }

    /// Sets the order of the list operation (default newest first).
    pub fn list_order(mut self, order: ListOrder) -> Self {
        self.config.list.order = order;
        self
    }

    /// Sets what a list answer's `totalCount` says (default: all jobs).
    pub fn total_count(mut self, total: TotalCount) -> Self {
        self.config.list.total_count = total;
        self
    }

    /// Sets the probability that a full list page is cut to a random
    /// shorter, non-empty length (see [`ListConfig::short_pages`]).
    pub fn short_pages(mut self, probability: f64) -> Self {
        self.config.list.short_pages = probability;
        self
    }

    /// Replaces the wire behaviours (success status, error shape, unknown
    /// inputs, id style).
    pub fn api(mut self, api: ApiConfig) -> Self {
        self.config.api = api;
        self
    }

    /// Sets the status of a successful create or retry (default 202).
    pub fn success_status(mut self, status: SuccessStatus) -> Self {
        self.config.api.success_status = status;
        self
    }

    /// Sets the shape of error bodies (default Writer's documented one).
    pub fn error_shape(mut self, shape: ErrorShape) -> Self {
        self.config.api.error_shape = shape;
        self
    }

    /// Sets what a create with an unknown input gets (default 400).
    pub fn unknown_inputs(mut self, unknown: UnknownInputs) -> Self {
        self.config.api.unknown_inputs = unknown;
        self
    }

    /// Sets how job ids look (default random UUID v4-style).
    pub fn ids(mut self, ids: IdStyle) -> Self {
        self.config.api.ids = ids;
        self
    }

    /// Sets how precise job timestamps are on the wire (default micros).
    pub fn timestamps(mut self, timestamps: Timestamps) -> Self {
        self.config.api.timestamps = timestamps;
        self
    }

    /// Makes every streamed run fail after `pieces` pieces of its output
    /// with an `event: error` (see [`ApiConfig::stream_error_after`]).
    pub fn stream_error_after(mut self, pieces: u32) -> Self {
        self.config.api.stream_error_after = Some(pieces);
        self
    }

    /// Refuses TCP connections for `down` out of every `period` of
    /// simulated time (see [`RefuseSchedule`]). Checked when the simulator
    /// starts.
    pub fn refuse_connections(mut self, period: Duration, down: Duration) -> Self {
        self.config.refuse_every = Some(RefuseSchedule { period, down });
        self
    }

    /// Whether a connection serves more than one request (default true);
    /// `false` closes each connection after its answer, so every request
    /// connects anew (and meets refused connections).
    pub fn keep_alive(mut self, yes: bool) -> Self {
        self.config.keep_alive = yes;
        self
    }

    /// Enables a per-key request budget.
    pub fn rate_limit(mut self, limit: RateLimitConfig) -> Self {
        self.config.rate_limit = Some(limit);
        self
    }

    /// Sets the faults to inject.
    pub fn faults(mut self, faults: FaultConfig) -> Self {
        self.config.faults = faults;
        self
    }

    /// Sets how long a synchronous run may take before it answers 500.
    pub fn sync_timeout(mut self, timeout: Duration) -> Self {
        self.config.sync_timeout = timeout;
        self
    }

    /// Listens on this port of 127.0.0.1 (default 0: any free port).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Keeps a log of every API request (its arrival time, operation and
    /// answer), read with [`Simulator::request_log`] (default off: it grows
    /// with every request).
    pub fn request_log(mut self, on: bool) -> Self {
        self.request_log = on;
        self
    }

    /// Validates the configuration, binds 127.0.0.1 and starts serving on
    /// the current tokio runtime.
    pub async fn start(self) -> Result<Simulator, SimError> {
        self.config.validate()?;
        let clock = match self.clock {
            Some(clock) => clock,
            None if self.config.scale == 1.0 => SimClock::real(),
            None => SimClock::scaled(self.config.scale)?,
        };
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, self.port))
            .await
            .map_err(|source| SimError::Bind {
                port: self.port,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| SimError::Bind {
            port: self.port,
            source,
        })?;
        let store = Store::new(&self.config, clock.now());
        let shared = Arc::new(Shared {
            listener: ListenerControl::new(self.config.refuse_every, clock.now()),
            faults: Mutex::new(FaultEngine::new(
                self.config.faults.clone(),
                self.config.seed,
            )),
            limiter: RateLimiter::new(self.config.rate_limit),
            stats: StatsCollector::new(self.request_log),
            store: Mutex::new(store),
            clock,
            config: self.config,
        });
        let (shutdown, shutdown_rx) = watch::channel(false);
        let task = tokio::spawn(crate::server::serve(listener, shared.clone(), shutdown_rx));
        tracing::info!(%addr, "writer-sim listening");
        Ok(Simulator {
            shared,
            addr,
            shutdown,
            task: Some(task),
        })
    }
}

/// A running simulator: an HTTP server on 127.0.0.1 and the handle to
/// inspect and steer it. Dropping it stops the server.
#[derive(Debug)]
pub struct Simulator {
    shared: Arc<Shared>,
    addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl Simulator {
    /// A builder with the defaults (see [`SimulatorBuilder`]).
    pub fn builder() -> SimulatorBuilder {
        SimulatorBuilder {
            config: SimConfig::default(),
            clock: None,
            port: 0,
            request_log: false,
        }
    }

    /// The base URL to give a client, like `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The socket address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The main API key (the first configured key).
    pub fn api_key(&self) -> &str {
        self.shared
            .config
            .keys
            .first()
            .map(|k| k.key.as_str())
            .unwrap_or_default()
    }

    /// The simulator's clock.
    pub fn clock(&self) -> &SimClock {
        &self.shared.clock
    }

    /// Moves simulated time forward (see [`SimClock::advance`]).
    pub fn advance(&self, by: Duration) {
        self.shared.clock.advance(by);
    }

    /// The configuration it runs with (faults as at start).
    pub fn config(&self) -> &SimConfig {
        &self.shared.config
    }

    /// A snapshot of the statistics so far.
    pub fn stats(&self) -> Stats {
        self.shared.stats()
    }

    /// Every API request so far, in arrival order, when the builder asked
    /// for the log ([`SimulatorBuilder::request_log`]); empty otherwise.
    /// Cleared by [`reset_stats`](Self::reset_stats).
    pub fn request_log(&self) -> Vec<RequestRecord> {
        self.shared.stats.log()
    }

    /// Sets every counter back to zero (and clears the request log; jobs stay).
    pub fn reset_stats(&self) {
        self.shared.stats.reset();
    }

    /// A job's full state now (including its finish time), or `None` for an
    /// unknown id.
    pub fn job(&self, id: &str) -> Option<JobState> {
        self.shared.job(id)
    }

    /// The ids of an application's jobs (by id or alias), newest first;
    /// empty for an unknown application.
    pub fn job_ids(&self, app: &str) -> Vec<String> {
        let now = self.shared.clock.now();
        let mut store = self.shared.lock_store();
        match store.app_index(app) {
            Some(idx) => store.app_job_ids(idx, now),
            None => Vec::new(),
        }
    }

    /// How many jobs exist (all applications, all origins).
    pub fn job_count(&self) -> usize {
        self.shared.lock_store().len()
    }

    /// Replaces the faults to inject from now on (the seeded draw goes on
    /// where it was; an ongoing 429 burst ends).
    pub fn set_faults(&self, faults: FaultConfig) -> Result<(), ConfigError> {
        faults.validate()?;
        self.shared.lock_faults().set_config(faults);
        Ok(())
    }

    /// Starts or ends an outage: every API request answered 503 or its
    /// connection dropped, until set back to [`Outage::None`].
    pub fn set_outage(&self, outage: Outage) {
        self.shared.lock_faults().outage = outage;
    }

    /// Switches refused connections on (until switched off) or off: while
    /// on, the server's listening socket is closed, so a connect gets
    /// ECONNREFUSED; when off it listens again on the same address and
    /// port (a periodic [`RefuseSchedule`] still applies). Connections
    /// already open stay open. Returns once the server applied the change.
    pub async fn set_refusing(&self, on: bool) {
        let refuse = if on { Refuse::On } else { Refuse::Off };
        let generation = self.shared.listener.set(refuse, &self.shared.clock);
        self.shared.listener.wait_applied(generation).await;
    }

    /// Refuses connections for `period` of simulated time from now, then
    /// listens again on the same port (see [`set_refusing`](Self::set_refusing)).
    /// Returns once the listening socket is closed.
    pub async fn refuse_for(&self, period: Duration) {
        let generation = self
            .shared
            .listener
            .set(Refuse::For(period), &self.shared.clock);
        self.shared.listener.wait_applied(generation).await;
    }

    /// Whether the server's listening socket is open now.
    pub fn is_accepting(&self) -> bool {
        self.shared.listener.accepting()
    }

    /// Waits until the listening socket is open (`true`) or closed
    /// (`false`): after a refusal period ends in simulated time, the server
    /// rebinds soon after, and a test waits for it here instead of sleeping.
    pub async fn wait_accepting(&self, accepting: bool) {
        self.shared.listener.wait_accepting(accepting).await;
    }

    /// Stops accepting connections, lets in-flight requests finish (for up
    /// to two seconds of real time) and waits for the server to stop.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

//! The scenarios: which simulator, which client, how many rows, and what
//! is measured.
//!
//! Every run gets a fresh, seeded simulator in this process and a fresh
//! client process ([`crate::child`]). Request counts come from the
//! simulator's statistics, delays from the simulator's finish times, CPU
//! and RSS from the client process alone.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use writer_jobs::PollPolicy;
use writer_sim::{
    AppConfig, DurationDist, FaultConfig, JobOrigin, ListOrder, Operation, RateLimitConfig,
    RequestRecord, Simulator, Stats, TenantConfig, TotalCount,
};

use crate::child::{self, Kind, Target};
use crate::floor::SweepJobs;
use crate::naive;
use crate::oracle;
use crate::replay::Sent;

/// The application every scenario runs its rows through.
pub const APP: &str = "demo-product-descriptions";

/// The fault mix of the fault scenario (names from `writer_sim::FaultKind`).
pub const FAULT_MIX: &str = "create:accept_then_drop=0.01,create:500=0.01,*:503=0.01,*:reset=0.005,get:malformed=0.01,list:malformed=0.01,*:429_burst=0.002,*:slow=0.005";

/// The fault mix of the ambiguity scenario (issue 19): every create fault
/// that can leave a create's outcome unknown at 1.5% each (a lost answer
/// after the job was made, 500, 504, a reset before any answer), and the
/// other kinds on reads.
pub const AMBIGUITY_MIX: &str = "create:accept_then_drop=0.015,create:500=0.015,create:504=0.015,create:reset=0.015,get:503=0.01,list:503=0.01,get:reset=0.005,list:reset=0.005,get:malformed=0.01,list:malformed=0.01,get:truncated=0.005,list:truncated=0.005,get:slow=0.005,list:slow=0.005,*:429_burst=0.002";

/// The request quota the "at 400/min" columns and the quota run assume
/// (Writer's current per-key limit).
pub const QUOTA_PER_MINUTE: f64 = 400.0;

/// Other tenants on the busy application: old jobs to page past, and
/// background clients creating more while the batch runs.
pub const BUSY: TenantConfig = TenantConfig {
    prefill_jobs: 5000,
    jobs_per_minute: 60.0,
};

/// The busy application of the busy-quota scenario (issue 18): many more
/// old jobs, and other tenants creating five times as fast as [`BUSY`].
pub const CROWDED: TenantConfig = TenantConfig {
    prefill_jobs: 20_000,
    jobs_per_minute: 300.0,
};

/// The list settings the list-order scenario plays: each order, with
/// `totalCount` counting all jobs (the default) and missing.
pub const LIST_VARIANTS: [(ListOrder, TotalCount); 6] = [
    (ListOrder::Newest, TotalCount::All),
    (ListOrder::Oldest, TotalCount::All),
    (ListOrder::Unspecified, TotalCount::All),
    (ListOrder::Newest, TotalCount::Missing),
    (ListOrder::Oldest, TotalCount::Missing),
    (ListOrder::Unspecified, TotalCount::Missing),
];

/// The name of a list order in tables.
pub fn order_label(order: ListOrder) -> &'static str {
    match order {
        ListOrder::Newest => "newest",
        ListOrder::Oldest => "oldest",
        ListOrder::Unspecified => "unspecified",
    }
}

/// The name of a `totalCount` setting in tables.
pub fn total_count_label(total: TotalCount) -> &'static str {
    match total {
        TotalCount::All => "all",
        TotalCount::Filtered => "filtered",
        TotalCount::Missing => "missing",
        TotalCount::Zero => "zero",
    }
}

/// Sizes and clock speeds of a whole bench run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The child binary (this program).
    pub exe: PathBuf,
    /// Seed of every simulator.
    pub seed: u64,
    /// Clock scale of the batch runs (simulated seconds per real second).
    pub scale: f64,
    /// Clock scale of the naive runs: lower, because a naive client makes
    /// 100 requests per simulated second and must keep up in real time.
    pub naive_scale: f64,
    /// Row counts of the comparison tables, batch.
    pub sizes: Vec<u64>,
    /// Row counts of the comparison tables, naive loops, empty application.
    pub naive_sizes: Vec<u64>,
    /// Row counts of the naive loops on the busy application (a naive loop
    /// never lists, so the load changes little for it).
    pub naive_busy_sizes: Vec<u64>,
    /// Rows of the quota-bound run.
    pub quota_rows: u64,
    /// Row counts of the memory scaling runs.
    pub memory_sizes: Vec<u64>,
    /// Clock scale of the memory runs.
    pub memory_scale: f64,
    /// Rows of the fault run.
    pub fault_rows: u64,
    /// Rows of each list-order run.
    pub list_order_rows: u64,
    /// Rows of the busy-quota runs.
    pub busy_quota_rows: u64,
    /// Rows of each ambiguity run.
    pub ambiguity_rows: u64,
    /// Rows of each poll-overhead run.
    pub overhead_rows: u64,
    /// Run the clients on tokio's single-threaded runtime.
    pub current_thread: bool,
    /// The batch's poll overhead (`None`: the library's default).
    pub poll_overhead: Option<f64>,
    /// Runs of the CLI's batch at the largest size with its timed floors
    /// (see [`runtimes`]): CPU seconds vary by a tenth or more from run to
    /// run on a shared machine, so the CPU verdict compares medians.
    pub cpu_rounds: u32,
}

impl Plan {
    /// The full bench.
    pub fn full(exe: PathBuf) -> Self {
        Self {
            exe,
            seed: 42,
            scale: 100.0,
            naive_scale: 40.0,
            sizes: vec![100, 1_000, 10_000],
            naive_sizes: vec![100, 1_000, 10_000],
            naive_busy_sizes: vec![100, 1_000],
            quota_rows: 1_000,
            memory_sizes: vec![1_000, 10_000, 100_000],
            memory_scale: 500.0,
            fault_rows: 1_000,
            list_order_rows: 1_000,
            busy_quota_rows: 1_000,
            ambiguity_rows: 2_000,
            overhead_rows: 1_000,
            current_thread: false,
            poll_overhead: None,
            cpu_rounds: 3,
        }
    }

    /// Small sizes, for trying changes quickly (about a minute).
    pub fn quick(exe: PathBuf) -> Self {
        Self {
            sizes: vec![100, 1_000],
            naive_sizes: vec![100],
            naive_busy_sizes: vec![100],
            quota_rows: 200,
            memory_sizes: vec![1_000, 10_000],
            fault_rows: 200,
            list_order_rows: 100,
            busy_quota_rows: 200,
            ambiguity_rows: 500,
            overhead_rows: 200,
            cpu_rounds: 1,
            ..Self::full(exe)
        }
    }

    /// Tiny sizes, for the smoke test: every code path, a few seconds.
    pub fn smoke(exe: PathBuf) -> Self {
        Self {
            scale: 200.0,
            naive_scale: 50.0,
            sizes: vec![20],
            naive_sizes: vec![20],
            naive_busy_sizes: vec![20],
            quota_rows: 20,
            memory_sizes: vec![20, 40],
            fault_rows: 20,
            list_order_rows: 20,
            busy_quota_rows: 20,
            ambiguity_rows: 20,
            overhead_rows: 20,
            cpu_rounds: 2,
            ..Self::full(exe)
        }
    }
}

/// Whether the application has other tenants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Load {
    /// Only our jobs.
    Empty,
    /// [`BUSY`]: thousands of older jobs and background creates.
    Busy,
}

impl Load {
    /// The name used in tables.
    pub fn label(self) -> &'static str {
        match self {
            Load::Empty => "empty",
            Load::Busy => "busy",
        }
    }
}

/// One simulator's set-up.
#[derive(Debug, Clone)]
pub struct SimSpec {
    /// Clock scale.
    pub scale: f64,
    /// Seed.
    pub seed: u64,
    /// Other tenants or not.
    pub load: Load,
    /// Job durations.
    pub duration: DurationDist,
    /// Faults to inject.
    pub faults: FaultConfig,
    /// A per-key rate limit, if any.
    pub rate_limit: Option<RateLimitConfig>,
    /// Other tenants (from `load` unless a scenario sets its own).
    pub tenants: TenantConfig,
    /// The list's order.
    pub list_order: ListOrder,
    /// What the list's `totalCount` says.
    pub total_count: TotalCount,
}

impl SimSpec {
    /// Log-normal jobs with a mean of 30 s, no faults, no rate limit.
    pub fn standard(scale: f64, seed: u64, load: Load) -> Self {
        Self {
            scale,
            seed,
            load,
            duration: DurationDist::LogNormal {
                mean_secs: 30.0,
                sigma: 0.5,
            },
            faults: FaultConfig::none(),
            rate_limit: None,
            tenants: match load {
                Load::Empty => TenantConfig::default(),
                Load::Busy => BUSY,
            },
            list_order: ListOrder::Newest,
            total_count: TotalCount::All,
        }
    }

    async fn start(&self) -> Result<Simulator, String> {
        let mut app = AppConfig::demo();
        if self.tenants != TenantConfig::default() {
            app = app.tenants(self.tenants);
        }
        let mut builder = Simulator::builder()
            .scale(self.scale)
            .seed(self.seed)
            .duration(self.duration)
            .failure_rate(0.0)
            .apps(vec![app])
            .list_order(self.list_order)
            .total_count(self.total_count)
            .request_log(true)
            .faults(self.faults.clone());
        if let Some(limit) = self.rate_limit {
            builder = builder.rate_limit(limit);
        }
        builder.start().await.map_err(|e| e.to_string())
    }
}

/// What one run measured.
#[derive(Debug, Clone)]
pub struct Measured {
    /// The client.
    pub kind: Kind,
    /// Rows.
    pub rows: u64,
    /// Jobs in flight at most (`None`: the library's default).
    pub max_in_flight: Option<usize>,
    /// The batch's request budget per minute, if one was given.
    pub rate_per_minute: Option<f64>,
    /// The application's load.
    pub load: Load,
    /// The list's order on the simulator.
    pub list_order: ListOrder,
    /// What the list's `totalCount` said.
    pub total_count: TotalCount,
    /// Other tenants on the application.
    pub tenants: TenantConfig,
    /// The simulator clock's scale.
    pub scale: f64,
    /// The simulator's statistics after the client process exited.
    pub stats: Stats,
    /// Simulated seconds from the client's start to its last outcome.
    pub wall_secs: f64,
    /// Simulated seconds from the client's start to the last of its jobs
    /// finishing on the server: no client could be done sooner.
    pub floor_secs: f64,
    /// Simulated seconds from the client's start to its last job's creation.
    pub last_create_secs: f64,
    /// Simulated seconds an ideal client would need under the quota: one
    /// create exactly every `60 / 400` s, no other request, no in-flight
    /// cap, each job taking the time this run's jobs took (in creation
    /// order): `max_i(i / rate + duration_i)`.
    pub quota_ideal_secs: f64,
    /// What one GET per poll at the default poll policy's pace would cost
    /// for this run's jobs.
    pub poll_pace: PollPace,
    /// The requests by phase and operation, from the simulator's log.
    pub breakdown: Breakdown,
    /// A batch run's creates and list pages (the page each asked for),
    /// each with when it reached the simulator, simulated seconds from the
    /// client's start: what a timed replay sends (empty for other clients).
    pub sent: Vec<(f64, Sent)>,
    /// Bytes of the list pages the client was answered (the bodies, by the
    /// simulator's log): what shows a replay read pages as long as the
    /// batch's.
    pub list_bytes: u64,
    /// Which of the CPU rounds this run belongs to (see
    /// [`Plan::cpu_rounds`]; 0 for every other run).
    pub round: u32,
    /// Rows reported ambiguous whose create did make a job on the server.
    pub ambiguous_landed: u64,
    /// Creates whose answer left their outcome unknown (no answer, 408,
    /// 5xx), by the simulator's log.
    pub unknown_creates: u64,
    /// Of those, the ones no client could decide on an exclusive
    /// application with this run's hold (see [`crate::oracle`]).
    pub undecidable: u64,
    /// Rows that took the job of an unanswered create although another
    /// explanation of the orphans gives that create another fate: lucky
    /// guesses, which the batch must never make (see [`crate::oracle`]).
    pub unjustified: u64,
    /// Adoptions the oracle cannot judge: their create's job was made
    /// past the hold (see [`oracle::unjustified`]).
    pub unjudged: u64,
    /// Unanswered creates whose job the simulator made later after their
    /// arrival than the hold (a loaded machine on a fast clock).
    pub made_past_hold: u64,
    /// Whether the batch declared the application exclusive.
    pub exclusive: bool,
    /// The batch's `max_server_hold` (`None`: the library's default).
    pub max_server_hold_secs: Option<f64>,
    /// Whether the batch kept creates from overlapping ambiguous ones.
    pub less_overlap: bool,
    /// The batch's create concurrency (`None`: the library's, 8).
    pub create_concurrency: Option<usize>,
    /// Completed or failed rows whose job ran other inputs than the row's
    /// (by the simulator's records): another row's output.
    pub wrong_outputs: u64,
    /// Ambiguous rows reported without any candidate job.
    pub ambiguous_no_candidate: u64,
    /// The reasons given for those, distinct.
    pub no_candidate_reasons: Vec<String>,
    /// Rows with no outcome at all.
    pub lost: u64,
    /// The batch's poll overhead (`None`: the library's default).
    pub poll_overhead: Option<f64>,
    /// Whether the client ran on tokio's current-thread runtime.
    pub current_thread: bool,
    /// The poll policy's maximum interval, seconds (`None`: the default).
    pub poll_max_interval_secs: Option<f64>,
    /// The run's jobs as the computed floor of requests per job needs them.
    pub sweep_jobs: SweepJobs,
    /// Delays from a job's finish (simulator) to its outcome being
    /// yielded (client), simulated seconds, sorted.
    pub delays: Vec<f64>,
    /// Outcomes by kind.
    pub outcomes: BTreeMap<String, u64>,
    /// Client CPU seconds (the whole process).
    pub cpu_secs: f64,
    /// Of which before the client started (process and runtime start).
    pub startup_cpu_secs: f64,
    /// Client peak RSS, KiB.
    pub peak_rss_kib: u64,
    /// Client context switches (all its threads): its wake-ups.
    pub context_switches: u64,
    /// Real seconds the run took (child start to exit).
    pub real_secs: f64,
}

impl Measured {
    /// Requests the simulator received.
    pub fn requests(&self) -> u64 {
        self.stats.total_requests
    }

    /// Requests per row.
    pub fn requests_per_job(&self) -> f64 {
        self.requests() as f64 / self.rows.max(1) as f64
    }

    /// Simulated seconds the run would take under the quota:
    /// `max(wall, requests / quota)`.
    pub fn quota_wall_secs(&self) -> f64 {
        self.wall_secs
            .max(self.requests() as f64 / (QUOTA_PER_MINUTE / 60.0))
    }

    /// Client CPU microseconds per request.
    pub fn cpu_us_per_request(&self) -> f64 {
        self.cpu_secs * 1e6 / self.requests().max(1) as f64
    }

    /// The `p`-th percentile delay (nearest rank), if any job finished.
    pub fn delay(&self, p: f64) -> Option<f64> {
        percentile(&self.delays, p)
    }
}

/// A client that polls each job on its own at the default [`PollPolicy`]'s
/// pace (first GET one initial interval after the create, then waits
/// growing 1.5x to 10 s, no jitter), computed for the same jobs: the
/// baseline an unknown list order must not be worse than (issue 17).
#[derive(Debug, Clone, Default)]
pub struct PollPace {
    /// Its requests per job: one create plus the GETs until the job is done.
    pub requests_per_job: f64,
    /// Its delays from a job's finish to the GET that sees it, sorted.
    pub delays: Vec<f64>,
}

impl PollPace {
    /// The pace's cost and delays for jobs of these durations (seconds).
    pub fn of(durations: &[f64]) -> Self {
        let policy = PollPolicy::default();
        let mut gets = 0u64;
        let mut delays = Vec::with_capacity(durations.len());
        for &took in durations {
            let mut at = 0.0;
            let mut n = 0u32;
            while at < took {
                at += policy.next_interval(n).as_secs_f64();
                n += 1;
            }
            gets += u64::from(n);
            delays.push(at - took);
        }
        delays.sort_by(f64::total_cmp);
        Self {
            requests_per_job: 1.0 + gets as f64 / durations.len().max(1) as f64,
            delays,
        }
    }
}

/// The phases of a run, by simulated time (issue 18).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// Until the first of the run's jobs finishes.
    Start,
    /// From then until the last create.
    Steady,
    /// After the last create (and after the first finish).
    Tail,
}

impl Phase {
    /// The three, in order.
    pub const ALL: [Phase; 3] = [Phase::Start, Phase::Steady, Phase::Tail];

    /// The name used in tables.
    pub fn label(self) -> &'static str {
        match self {
            Phase::Start => "start",
            Phase::Steady => "steady",
            Phase::Tail => "tail",
        }
    }
}

/// The columns of the breakdown: the operations a batch uses, then the rest.
pub const BREAKDOWN_OPS: [&str; 6] = ["create", "get", "list", "retry", "app", "other"];

/// Requests by phase and operation, from the simulator's request log.
#[derive(Debug, Clone, Default)]
pub struct Breakdown {
    /// Requests by phase, then operation (a name of [`BREAKDOWN_OPS`]).
    pub counts: BTreeMap<Phase, BTreeMap<&'static str, u64>>,
    /// Requests answered 429 by phase (also counted under their operation).
    pub throttled: BTreeMap<Phase, u64>,
    /// Simulated seconds of each phase.
    pub secs: BTreeMap<Phase, f64>,
}

impl Breakdown {
    /// Sorts the log's requests into phases: before `first_finish_us`
    /// (start), after `last_create_us` (tail, unless still before the first
    /// finish), steady between. `started_us` and `ended_us` bound the spans.
    pub fn of(
        log: impl IntoIterator<Item = (i64, Operation, Option<u16>)>,
        started_us: i64,
        first_finish_us: i64,
        last_create_us: i64,
        ended_us: i64,
    ) -> Self {
        let tail_from = last_create_us.max(first_finish_us);
        let phase = |at: i64| {
            if at < first_finish_us {
                Phase::Start
            } else if at > tail_from || (at == tail_from && last_create_us < first_finish_us) {
                Phase::Tail
            } else {
                Phase::Steady
            }
        };
        let mut out = Breakdown::default();
        for p in Phase::ALL {
            out.counts.entry(p).or_default();
            out.throttled.insert(p, 0);
        }
        for (at_us, op, status) in log {
            let p = phase(at_us);
            let op = match op {
                Operation::Create => "create",
                Operation::Get => "get",
                Operation::List => "list",
                Operation::Retry => "retry",
                Operation::App => "app",
                Operation::Run | Operation::Other => "other",
            };
            *out.counts.entry(p).or_default().entry(op).or_default() += 1;
            if status == Some(429) {
                *out.throttled.entry(p).or_default() += 1;
            }
        }
        let secs = |from: i64, to: i64| (to - from).max(0) as f64 / 1e6;
        let first = first_finish_us.clamp(started_us, ended_us);
        let tail = tail_from.clamp(first, ended_us);
        out.secs.insert(Phase::Start, secs(started_us, first));
        out.secs.insert(Phase::Steady, secs(first, tail));
        out.secs.insert(Phase::Tail, secs(tail, ended_us));
        out
    }

    /// Requests of one phase and operation.
    pub fn count(&self, phase: Phase, op: &str) -> u64 {
        self.counts
            .get(&phase)
            .and_then(|ops| ops.get(op))
            .copied()
            .unwrap_or(0)
    }

    /// Requests of one phase.
    pub fn phase_total(&self, phase: Phase) -> u64 {
        self.counts
            .get(&phase)
            .map(|ops| ops.values().sum())
            .unwrap_or(0)
    }
}

/// The `p`-th percentile (0-100, nearest rank) of sorted values.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// Starts a simulator, runs one client process against it, and measures.
pub async fn measure(plan: &Plan, spec: &SimSpec, job: child::Job) -> Result<Measured, String> {
    let sim = spec.start().await?;
    let target = Target {
        base_url: sim.base_url(),
        key: sim.api_key().to_string(),
        app: APP.to_string(),
        scale: sim.clock().scale(),
        anchor: sim.clock().anchor(),
    };
    let exe = plan.exe.clone();
    let child_job = job.clone();
    let real = Instant::now();
    let result = tokio::task::spawn_blocking(move || child::spawn(&exe, &target, &child_job))
        .await
        .map_err(|e| e.to_string())??;
    let real_secs = real.elapsed().as_secs_f64();
    let stats = sim.stats();
    let summary = result.summary;
    let mut delays = Vec::with_capacity(result.outcomes.len());
    let mut last_finish_us = summary.started_us;
    for outcome in &result.outcomes {
        if !matches!(outcome.kind.as_str(), "completed" | "failed") {
            continue;
        }
        let Some(state) = outcome.job.as_deref().and_then(|id| sim.job(id)) else {
            continue;
        };
        let finish_us = state.finish_at.timestamp_micros();
        last_finish_us = last_finish_us.max(finish_us);
        delays.push((outcome.observed_us - finish_us) as f64 / 1e6);
    }
    delays.sort_by(f64::total_cmp);
    let ambiguous_landed = result
        .outcomes
        .iter()
        .filter(|o| o.kind == "ambiguous")
        .filter(|o| {
            let inputs = naive::inputs(child::row_inputs(o.seq));
            stats.created_for(APP, &inputs) > 0
        })
        .count() as u64;
    let wrong_outputs = result
        .outcomes
        .iter()
        .filter(|o| matches!(o.kind.as_str(), "completed" | "failed"))
        .filter(|o| {
            let Some(state) = o.job.as_deref().and_then(|id| sim.job(id)) else {
                return false;
            };
            let ran = sorted_inputs(&state.inputs);
            ran != sorted_inputs(&naive::inputs(child::row_inputs(o.seq)))
        })
        .count() as u64;
    let no_candidate: Vec<&child::OutcomeLine> = result
        .outcomes
        .iter()
        .filter(|o| o.kind == "ambiguous" && o.candidates.is_empty())
        .collect();
    let mut no_candidate_reasons: Vec<String> = no_candidate
        .iter()
        .map(|o| o.reason.clone().unwrap_or_default())
        .collect();
    no_candidate_reasons.sort();
    no_candidate_reasons.dedup();
    let reported: u64 = summary.outcomes.values().sum();
    let schedule = creation_schedule(&sim, summary.started_us);
    let log = sim.request_log();
    let unknown = oracle::unknown_creates(&log);
    let hold = job
        .max_server_hold_secs
        .unwrap_or(writer_jobs::batch::DEFAULT_MAX_SERVER_HOLD.as_secs_f64());
    let undecidable = oracle::undecidable(&unknown, hold) as u64;
    let made: std::collections::HashSet<i64> = unknown
        .iter()
        .filter_map(|c| c.made)
        .map(|t| (t * 1e6).round() as i64)
        .collect();
    let adopted: Vec<f64> = result
        .outcomes
        .iter()
        .filter(|o| matches!(o.kind.as_str(), "completed" | "failed"))
        .filter_map(|o| sim.job(o.job.as_deref()?))
        .map(|state| state.created_at.timestamp_micros())
        .filter(|us| made.contains(us))
        .map(|us| us as f64 / 1e6)
        .collect();
    let judged = oracle::unjustified(&unknown, hold, &adopted);
    let made_past_hold = oracle::made_past_hold(&unknown, hold) as u64;
    for guess in &judged.guesses {
        progress(&format!("adopted on a guess: {guess}"));
    }
    for unjudged in &judged.unjudged_described {
        progress(&format!("adoption not judged: {unjudged}"));
    }
    let breakdown = Breakdown::of(
        log.iter().map(log_entry),
        summary.started_us,
        schedule.first_finish_us,
        schedule.last_create_us,
        summary.finished_us.max(summary.started_us),
    );
    let sent = if job.kind == Kind::Batch {
        log.iter()
            .filter_map(|r| {
                let sent = match (r.op, r.list_page) {
                    (Operation::Create, _) => Sent::Create,
                    (Operation::List, Some(page)) => Sent::List {
                        offset: page.offset,
                        limit: page.limit,
                    },
                    // A list answered without a page (refused, or not
                    // answered): the replay reads the first page for it.
                    (Operation::List, None) => Sent::FIRST_PAGE,
                    _ => return None,
                };
                let at = (r.at.timestamp_micros() - summary.started_us) as f64 / 1e6;
                Some((at, sent))
            })
            .collect()
    } else {
        Vec::new()
    };
    sim.shutdown().await;
    Ok(Measured {
        kind: job.kind,
        rows: job.rows,
        max_in_flight: job.max_in_flight,
        rate_per_minute: job.rate_per_minute,
        load: spec.load,
        list_order: spec.list_order,
        total_count: spec.total_count,
        tenants: spec.tenants,
        scale: spec.scale,
        stats,
        wall_secs: (summary.finished_us - summary.started_us) as f64 / 1e6,
        floor_secs: (last_finish_us - summary.started_us) as f64 / 1e6,
        last_create_secs: (schedule.last_create_us - summary.started_us) as f64 / 1e6,
        quota_ideal_secs: schedule.quota_ideal_secs,
        poll_pace: PollPace::of(&schedule.durations),
        poll_overhead: job.poll_overhead,
        current_thread: job.current_thread,
        poll_max_interval_secs: job.poll_max_interval_secs,
        sweep_jobs: SweepJobs {
            ours: schedule.ours,
            all_created: schedule.all_created,
            page_size: job.page_size.unwrap_or(100),
        },
        breakdown,
        sent,
        list_bytes: log
            .iter()
            .filter(|r| r.op == Operation::List)
            .filter_map(|r| r.answer_bytes)
            .sum(),
        round: 0,
        ambiguous_landed,
        unknown_creates: unknown.len() as u64,
        undecidable,
        unjustified: judged.guesses.len() as u64,
        unjudged: judged.unjudged as u64,
        made_past_hold,
        exclusive: job.exclusive,
        max_server_hold_secs: job.max_server_hold_secs,
        less_overlap: job.less_overlap,
        create_concurrency: job.create_concurrency,
        wrong_outputs,
        ambiguous_no_candidate: no_candidate.len() as u64,
        no_candidate_reasons,
        lost: job.rows.saturating_sub(reported),
        delays,
        outcomes: summary.outcomes,
        cpu_secs: summary.cpu_secs,
        startup_cpu_secs: summary.startup_cpu_secs,
        peak_rss_kib: summary.peak_rss_kib,
        context_switches: summary.context_switches,
        real_secs,
    })
}

/// A job's inputs as comparable values, in name order.
fn sorted_inputs(inputs: &[writer_api::types::JobInput]) -> Vec<(String, Vec<String>)> {
    let mut v: Vec<_> = inputs
        .iter()
        .map(|i| (i.id.clone(), i.value.clone()))
        .collect();
    v.sort();
    v
}

/// A logged request as [`Breakdown::of`] takes it.
fn log_entry(r: &RequestRecord) -> (i64, Operation, Option<u16>) {
    (r.at.timestamp_micros(), r.op, r.status)
}

/// When the client's jobs were created and finished, from the simulator.
struct Schedule {
    /// When the last was created (microseconds).
    last_create_us: i64,
    /// When the first finished (microseconds).
    first_finish_us: i64,
    /// The ideal quota-bound finish (see [`Measured::quota_ideal_secs`]).
    quota_ideal_secs: f64,
    /// Each job's duration, seconds, in creation order.
    durations: Vec<f64>,
    /// Each job's creation and finish, seconds from the start.
    ours: Vec<(f64, f64)>,
    /// Every job on the application (other tenants' too): creation,
    /// seconds from the start, sorted.
    all_created: Vec<f64>,
}

/// The client's jobs' creation schedule (see [`Schedule`]).
fn creation_schedule(sim: &Simulator, started_us: i64) -> Schedule {
    let states: Vec<_> = sim
        .job_ids(APP)
        .iter()
        .filter_map(|id| sim.job(id))
        .collect();
    let secs = |us: i64| (us - started_us) as f64 / 1e6;
    let mut all_created: Vec<f64> = states
        .iter()
        .map(|j| secs(j.created_at.timestamp_micros()))
        .collect();
    all_created.sort_by(f64::total_cmp);
    let mut jobs: Vec<(i64, i64)> = states
        .iter()
        .filter(|j| j.origin == JobOrigin::Client)
        .map(|j| {
            (
                j.created_at.timestamp_micros(),
                j.finish_at.timestamp_micros(),
            )
        })
        .collect();
    jobs.sort_unstable();
    let last_create_us = jobs.last().map(|(c, _)| *c).unwrap_or(started_us);
    let first_finish_us = jobs.iter().map(|(_, f)| *f).min().unwrap_or(started_us);
    let durations: Vec<f64> = jobs
        .iter()
        .map(|(created, finish)| (finish - created) as f64 / 1e6)
        .collect();
    let interval = 60.0 / QUOTA_PER_MINUTE;
    let quota_ideal_secs = durations
        .iter()
        .enumerate()
        .map(|(i, took)| i as f64 * interval + took)
        .fold(0.0, f64::max);
    let ours = jobs.iter().map(|&(c, f)| (secs(c), secs(f))).collect();
    Schedule {
        last_create_us,
        first_finish_us,
        quota_ideal_secs,
        durations,
        ours,
        all_created,
    }
}

fn progress(what: &str) {
    eprintln!("writer-bench: {what}");
}

/// The comparison: batch and naive loops, every size, empty and busy.
pub async fn comparison(plan: &Plan) -> Result<Vec<Measured>, String> {
    let mut runs = Vec::new();
    for load in [Load::Empty, Load::Busy] {
        for kind in [Kind::Batch, Kind::Naive1, Kind::Naive5] {
            let (sizes, scale) = match (kind, load) {
                (Kind::Batch, _) => (&plan.sizes, plan.scale),
                (_, Load::Empty) => (&plan.naive_sizes, plan.naive_scale),
                (_, Load::Busy) => (&plan.naive_busy_sizes, plan.naive_scale),
            };
            for &rows in sizes.iter().filter(|&&n| n > 0) {
                progress(&format!(
                    "{} x {rows} rows on the {} application (scale {scale})",
                    kind.label(),
                    load.label()
                ));
                let spec = SimSpec::standard(scale, plan.seed, load);
                let job = comparison_job(plan, kind, rows, plan.current_thread);
                runs.push(measure(plan, &spec, job).await?);
            }
        }
    }
    Ok(runs)
}

/// Client CPU on the other tokio runtime: the batch at the comparison's
/// largest size and the naive 1 s loop at 1,000 rows (its CPU per request
/// is the bare request the CPU floor is made of), on the empty
/// application, each on the runtime the comparison did not use. The CLI
/// runs a current-thread runtime; `#[tokio::main]` gives the
/// multi-threaded one: both are measured so the CPU verdict can name each.
pub async fn runtimes(plan: &Plan, comparison: &[Measured]) -> Result<Vec<Measured>, String> {
    let mut runs = Vec::new();
    let batch_rows = plan.sizes.iter().copied().max().unwrap_or(0);
    let naive_rows = plan
        .naive_sizes
        .iter()
        .copied()
        .max()
        .unwrap_or(0)
        .min(1_000);
    let other = !plan.current_thread;
    for (kind, rows, scale) in [
        (Kind::Batch, batch_rows, plan.scale),
        (Kind::Naive1, naive_rows, plan.naive_scale),
    ] {
        if rows == 0 {
            continue;
        }
        progress(&format!(
            "{} x {rows} rows on the empty application, {} runtime (scale {scale})",
            kind.label(),
            runtime_name(other)
        ));
        let spec = SimSpec::standard(scale, plan.seed, Load::Empty);
        let job = comparison_job(plan, kind, rows, other);
        runs.push(measure(plan, &spec, job).await?);
    }
    // The floor of each batch run's CPU: its own requests, sent bare on
    // the same runtime.
    let batches: Vec<(bool, u64)> = comparison
        .iter()
        .chain(&runs)
        .filter(|m| m.kind == Kind::Batch && m.load == Load::Empty && m.rows == batch_rows)
        .map(|m| {
            let lists = Phase::ALL
                .iter()
                .map(|p| m.breakdown.count(*p, "list"))
                .sum();
            (m.current_thread, lists)
        })
        .collect();
    for (current_thread, lists) in batches {
        for kind in [Kind::Replay, Kind::ReplayClient] {
            progress(&format!(
                "{}: {batch_rows} creates and {lists} list pages, {} runtime",
                kind.label(),
                runtime_name(current_thread)
            ));
            let spec = SimSpec::standard(plan.scale, plan.seed, Load::Empty);
            let job = child::Job {
                replay_lists: Some(lists),
                outcomes: false,
                ..comparison_job(plan, kind, batch_rows, current_thread)
            };
            runs.push(measure(plan, &spec, job).await?);
        }
    }
    // The same requests at the times the CLI's (current-thread) batch sent
    // them: the floor at the batch's own pace.
    let timed = comparison
        .iter()
        .chain(&runs)
        .find(|m| {
            m.kind == Kind::Batch
                && m.load == Load::Empty
                && m.rows == batch_rows
                && m.current_thread
        })
        .map(|m| m.sent.clone());
    if let Some(sent) = &timed {
        let schedule = write_schedule(sent)?;
        // And with the creates gathered into buckets far apart: what
        // starting rows in bursts, to be woken less, would save.
        let gathered = write_schedule(&gather_creates(sent, child::GATHER_SECS))?;
        for (kind, schedule) in [
            (Kind::ReplayTimed, &schedule),
            (Kind::ReplayClientTimed, &schedule),
            (Kind::ReplayGeneratedTimed, &schedule),
            (Kind::ReplayGathered, &gathered),
        ] {
            progress(&format!(
                "{}: {} requests, current-thread runtime",
                kind.label(),
                sent.len()
            ));
            let spec = SimSpec::standard(plan.scale, plan.seed, Load::Empty);
            let job = child::Job {
                replay_schedule: Some(schedule.path().to_path_buf()),
                outcomes: false,
                ..comparison_job(plan, kind, batch_rows, true)
            };
            runs.push(measure(plan, &spec, job).await?);
        }
    }
    // Every multi-threaded batch run (the empty and the busy
    // application's) through writer-api's generated client alone, at the
    // run's own times, on its runtime and application (on a thread of its
    // own, as the batch's engine runs there): each run the verdict judges
    // has the floor of any client built on that client.
    let multi: Vec<(Load, Vec<(f64, Sent)>)> = comparison
        .iter()
        .chain(&runs)
        .filter(|m| m.kind == Kind::Batch && m.rows == batch_rows && !m.current_thread)
        .map(|m| (m.load, m.sent.clone()))
        .collect();
    for (load, sent) in multi {
        let schedule = write_schedule(&sent)?;
        progress(&format!(
            "{}: {} requests, multi-threaded runtime, {} application",
            Kind::ReplayGeneratedTimed.label(),
            sent.len(),
            load.label()
        ));
        let spec = SimSpec::standard(plan.scale, plan.seed, load);
        let job = child::Job {
            replay_schedule: Some(schedule.path().to_path_buf()),
            outcomes: false,
            ..comparison_job(plan, Kind::ReplayGeneratedTimed, batch_rows, false)
        };
        runs.push(measure(plan, &spec, job).await?);
    }
    // More rounds of the CLI's batch and its two floors at its pace (a
    // fresh batch run each, its requests replayed at its own times), so
    // the verdict compares medians rather than one run of each.
    for round in 1..plan.cpu_rounds {
        if timed.is_none() {
            break;
        }
        progress(&format!(
            "CPU round {} of {}: the batch x {batch_rows} rows and its floors at its times, \
             current-thread runtime",
            round + 1,
            plan.cpu_rounds
        ));
        let spec = SimSpec::standard(plan.scale, plan.seed, Load::Empty);
        let job = comparison_job(plan, Kind::Batch, batch_rows, true);
        let batch = Measured {
            round,
            ..measure(plan, &spec, job).await?
        };
        let schedule = write_schedule(&batch.sent)?;
        runs.push(batch);
        for kind in [Kind::ReplayTimed, Kind::ReplayGeneratedTimed] {
            let spec = SimSpec::standard(plan.scale, plan.seed, Load::Empty);
            let job = child::Job {
                replay_schedule: Some(schedule.path().to_path_buf()),
                outcomes: false,
                ..comparison_job(plan, kind, batch_rows, true)
            };
            runs.push(Measured {
                round,
                ..measure(plan, &spec, job).await?
            });
        }
    }
    Ok(runs)
}

/// A schedule's requests (simulated seconds from the start) with each
/// create moved to the end of its bucket of `secs`, in time order; list
/// pages keep their times.
fn gather_creates(sent: &[(f64, Sent)], secs: f64) -> Vec<(f64, Sent)> {
    let mut gathered: Vec<(f64, Sent)> = sent
        .iter()
        .map(|&(at, sent)| {
            let at = if sent == Sent::Create {
                (at / secs).ceil() * secs
            } else {
                at
            };
            (at, sent)
        })
        .collect();
    gathered.sort_by(|a, b| a.0.total_cmp(&b.0));
    gathered
}

/// Writes a timed replay's schedule (see `child::ClientArgs::replay_schedule`)
/// to a temporary file, removed when dropped.
fn write_schedule(sent: &[(f64, Sent)]) -> Result<tempfile::NamedTempFile, String> {
    use std::io::Write;
    let mut file = tempfile::NamedTempFile::new().map_err(|e| e.to_string())?;
    for (at, sent) in sent {
        writeln!(file, "{at:.6} {}", sent.to_line()).map_err(|e| e.to_string())?;
    }
    file.flush().map_err(|e| e.to_string())?;
    Ok(file)
}

/// How progress lines name a runtime.
fn runtime_name(current_thread: bool) -> &'static str {
    if current_thread {
        "current-thread"
    } else {
        "multi-threaded"
    }
}

/// A client of the comparison: 100 in flight, pages of 100, default
/// settings otherwise, every outcome reported. Every other scenario starts
/// from it and states only what it changes.
fn comparison_job(plan: &Plan, kind: Kind, rows: u64, current_thread: bool) -> child::Job {
    child::Job {
        kind,
        rows,
        max_in_flight: Some(100),
        page_size: Some(100),
        rate_per_minute: None,
        request_timeout_secs: None,
        outcomes: true,
        current_thread,
        poll_overhead: plan.poll_overhead,
        poll_max_interval_secs: None,
        exclusive: false,
        max_server_hold_secs: None,
        less_overlap: false,
        create_concurrency: None,
        replay_lists: None,
        replay_schedule: None,
    }
}

/// The quota-bound batch: a client-side budget of 400 requests a minute
/// (and the simulator enforcing the same limit), with the default flags
/// (rows in flight sized from the budget), with a cap of 100 (100 jobs of
/// ~30 s are only 200 a minute) and with a cap of 1,000.
pub async fn quota(plan: &Plan) -> Result<Vec<Measured>, String> {
    let mut runs = Vec::new();
    for in_flight in [None, Some(100), Some(1000)] {
        progress(&format!(
            "quota-bound batch x {} rows, {} in flight",
            plan.quota_rows,
            in_flight.map_or("default".to_string(), |n| n.to_string())
        ));
        let spec = SimSpec {
            rate_limit: Some(RateLimitConfig::per_minute(QUOTA_PER_MINUTE, 50)),
            ..SimSpec::standard(plan.scale, plan.seed, Load::Empty)
        };
        let job = child::Job {
            max_in_flight: in_flight,
            rate_per_minute: Some(QUOTA_PER_MINUTE),
            ..comparison_job(plan, Kind::Batch, plan.quota_rows, plan.current_thread)
        };
        runs.push(measure(plan, &spec, job).await?);
    }
    Ok(runs)
}

/// Peak RSS as the row count grows: short fixed jobs on a fast clock, each
/// size in a fresh process, no per-outcome output. The request timeout is
/// raised (to an hour of simulated time) so that a loaded machine on a
/// fast clock cannot turn slow answers into timeouts.
pub async fn memory(plan: &Plan) -> Result<Vec<Measured>, String> {
    let mut runs = Vec::new();
    for &rows in &plan.memory_sizes {
        progress(&format!("memory: batch x {rows} rows"));
        let spec = SimSpec {
            duration: DurationDist::fixed(Duration::from_secs(5)),
            ..SimSpec::standard(plan.memory_scale, plan.seed, Load::Empty)
        };
        let job = child::Job {
            request_timeout_secs: Some(3600.0),
            outcomes: false,
            ..comparison_job(plan, Kind::Batch, rows, plan.current_thread)
        };
        runs.push(measure(plan, &spec, job).await?);
    }
    Ok(runs)
}

/// The batch under the fault mix [`FAULT_MIX`], on an application it
/// shares (the default: an orphan in an ambiguous create's window is a
/// candidate, never adopted) and on one declared exclusive (adopted).
pub async fn faults(plan: &Plan) -> Result<Vec<Measured>, String> {
    let mut runs = Vec::new();
    for exclusive in [false, true] {
        progress(&format!(
            "faults: batch x {} rows ({} application)",
            plan.fault_rows,
            if exclusive { "exclusive" } else { "shared" }
        ));
        let spec = SimSpec {
            faults: FaultConfig::parse_compact(FAULT_MIX).map_err(|e| e.to_string())?,
            ..SimSpec::standard(plan.scale, plan.seed, Load::Empty)
        };
        let job = child::Job {
            exclusive,
            ..comparison_job(plan, Kind::Batch, plan.fault_rows, plan.current_thread)
        };
        runs.push(measure(plan, &spec, job).await?);
    }
    Ok(runs)
}

/// The list-order scenario (issue 17): the batch on an empty application
/// whose list comes newest first, oldest first, or in no time order, with
/// `totalCount` counting all jobs or missing.
pub async fn list_order(plan: &Plan) -> Result<Vec<Measured>, String> {
    let mut runs = Vec::new();
    for (order, total_count) in LIST_VARIANTS {
        progress(&format!(
            "list order {}, totalCount {}: batch x {} rows",
            order_label(order),
            total_count_label(total_count),
            plan.list_order_rows
        ));
        let spec = SimSpec {
            list_order: order,
            total_count,
            ..SimSpec::standard(plan.scale, plan.seed, Load::Empty)
        };
        let job = comparison_job(plan, Kind::Batch, plan.list_order_rows, plan.current_thread);
        runs.push(measure(plan, &spec, job).await?);
    }
    Ok(runs)
}

/// The busy-quota scenario (issue 18): an application with [`CROWDED`]
/// other tenants and a simulator limit of 400 requests a minute, the batch
/// with the library's default settings: once told the budget (`.rate`, as
/// `--rate 400/min`), once told nothing (learning it from 429s).
pub async fn busy_quota(plan: &Plan) -> Result<Vec<Measured>, String> {
    let mut runs = Vec::new();
    for rate in [Some(QUOTA_PER_MINUTE), None] {
        progress(&format!(
            "busy quota: batch x {} rows, default flags, {}",
            plan.busy_quota_rows,
            match rate {
                Some(r) => format!("budget {r}/min"),
                None => "no budget given".into(),
            }
        ));
        let spec = SimSpec {
            rate_limit: Some(RateLimitConfig::per_minute(QUOTA_PER_MINUTE, 50)),
            tenants: CROWDED,
            ..SimSpec::standard(plan.scale, plan.seed, Load::Busy)
        };
        let job = child::Job {
            max_in_flight: None,
            page_size: None,
            rate_per_minute: rate,
            ..comparison_job(plan, Kind::Batch, plan.busy_quota_rows, plan.current_thread)
        };
        runs.push(measure(plan, &spec, job).await?);
    }
    Ok(runs)
}

/// The poll overheads of the overhead scenario (`None`: the default), and
/// the poll policy's maximum interval (`None`: the default 10 s).
pub const OVERHEAD_VARIANTS: [(Option<f64>, Option<f64>); 6] = [
    (Some(0.3), None),
    (Some(0.15), None),
    (None, None),
    (Some(0.03), None),
    (Some(0.03), Some(15.0)),
    (Some(0.03), Some(20.0)),
];

/// The overhead scenario (issue 18): 1,000 rows on the empty application
/// at several poll overheads (and longer maximum sweep gaps), to show what
/// the knob trades (requests per job against result delay) next to the
/// computed floor.
pub async fn overhead(plan: &Plan) -> Result<Vec<Measured>, String> {
    let mut runs = Vec::new();
    for (overhead, max_interval) in OVERHEAD_VARIANTS {
        progress(&format!(
            "overhead: batch x {} rows, poll overhead {}, poll max interval {}",
            plan.overhead_rows,
            overhead.map_or("default".to_string(), |o| o.to_string()),
            max_interval.map_or("default".to_string(), |s| format!("{s} s")),
        ));
        let spec = SimSpec::standard(plan.scale, plan.seed, Load::Empty);
        let job = child::Job {
            poll_overhead: overhead,
            poll_max_interval_secs: max_interval,
            ..comparison_job(plan, Kind::Batch, plan.overhead_rows, plan.current_thread)
        };
        runs.push(measure(plan, &spec, job).await?);
    }
    Ok(runs)
}

/// One run of the ambiguity scenario.
#[derive(Debug, Clone, Copy)]
pub struct AmbiguityVariant {
    /// The application is declared exclusive to the batch.
    pub exclusive: bool,
    /// The batch's max server hold, simulated seconds (`None`: 300 s).
    pub hold: Option<f64>,
    /// `Batch::less_overlap`.
    pub less_overlap: bool,
    /// The batch's create concurrency (`None`: 8).
    pub create_concurrency: Option<usize>,
}

const fn variant(
    exclusive: bool,
    hold: Option<f64>,
    less_overlap: bool,
    create_concurrency: Option<usize>,
) -> AmbiguityVariant {
    AmbiguityVariant {
        exclusive,
        hold,
        less_overlap,
        create_concurrency,
    }
}

/// The runs of the ambiguity scenario: the library's defaults first, then
/// shorter holds (the simulator never holds a create), with and without
/// less overlap, and creates one at a time.
pub const AMBIGUITY_VARIANTS: [AmbiguityVariant; 9] = [
    variant(true, None, false, None),
    variant(true, Some(5.0), false, None),
    variant(true, Some(5.0), true, None),
    variant(true, Some(1.0), false, None),
    variant(true, Some(1.0), true, None),
    variant(true, Some(1.0), true, Some(1)),
    variant(false, None, false, None),
    variant(false, Some(1.0), false, None),
    variant(false, Some(1.0), true, None),
];

/// The ambiguity scenario (issue 19): [`AMBIGUITY_MIX`] on an empty
/// application, on an application declared exclusive and on one the batch
/// shares, with the library's default max server hold (300 s) and shorter
/// ones: the hold sets how long each ambiguous create's window is, and so
/// how many other creates share it; less overlap keeps new creates out of
/// an open window.
pub async fn ambiguity(plan: &Plan) -> Result<Vec<Measured>, String> {
    let mut runs = Vec::new();
    for v in AMBIGUITY_VARIANTS {
        progress(&format!(
            "ambiguity: batch x {} rows ({} application, hold {}, less overlap {}, create concurrency {})",
            plan.ambiguity_rows,
            if v.exclusive { "exclusive" } else { "shared" },
            v.hold.map_or("default".to_string(), |h| format!("{h} s")),
            if v.less_overlap { "on" } else { "off" },
            v.create_concurrency
                .map_or("default".to_string(), |n| n.to_string()),
        ));
        let spec = SimSpec {
            faults: FaultConfig::parse_compact(AMBIGUITY_MIX).map_err(|e| e.to_string())?,
            ..SimSpec::standard(plan.scale, plan.seed, Load::Empty)
        };
        let job = child::Job {
            exclusive: v.exclusive,
            max_server_hold_secs: v.hold,
            less_overlap: v.less_overlap,
            create_concurrency: v.create_concurrency,
            ..comparison_job(plan, Kind::Batch, plan.ambiguity_rows, plan.current_thread)
        };
        runs.push(measure(plan, &spec, job).await?);
    }
    Ok(runs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gathered_creates_wait_for_their_buckets_end_and_lists_keep_their_times() {
        let (c, page) = (
            Sent::Create,
            Sent::List {
                offset: 200,
                limit: 100,
            },
        );
        let sent = [(0.0, c), (1.0, c), (12.0, page), (29.0, c), (31.0, c)];
        assert_eq!(
            gather_creates(&sent, 30.0),
            vec![(0.0, c), (12.0, page), (30.0, c), (30.0, c), (60.0, c)]
        );
    }

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), Some(50.0));
        assert_eq!(percentile(&v, 95.0), Some(95.0));
        assert_eq!(percentile(&v, 0.0), Some(1.0));
        assert_eq!(percentile(&[], 50.0), None);
    }

    fn at(us: i64) -> (i64, Operation, Option<u16>) {
        (us, Operation::List, Some(200))
    }

    #[test]
    fn phases_split_at_the_first_finish_and_the_last_create() {
        // Started at 0, first finish at 10, last create at 20, done at 30.
        let log = [at(0), at(9), at(10), at(20), at(21), at(30)];
        let b = Breakdown::of(log, 0, 10, 20, 30);
        assert_eq!(b.phase_total(Phase::Start), 2);
        assert_eq!(b.phase_total(Phase::Steady), 2);
        assert_eq!(b.phase_total(Phase::Tail), 2);
        assert_eq!(b.secs[&Phase::Steady], 10e-6);
        // Every create before the first finish: no steady phase.
        let b = Breakdown::of(log, 0, 10, 5, 30);
        assert_eq!(b.phase_total(Phase::Start), 2);
        assert_eq!(b.phase_total(Phase::Steady), 0);
        assert_eq!(b.phase_total(Phase::Tail), 4);
    }

    #[test]
    fn poll_pace_counts_gets_until_a_job_is_done() {
        // Polls at 1, 2.5, 4.75 s: a 2 s job needs 2 GETs, seen 0.5 s late.
        let pace = PollPace::of(&[2.0]);
        assert_eq!(pace.requests_per_job, 3.0);
        assert!((pace.delays[0] - 0.5).abs() < 1e-9);
    }

    #[test]
    fn the_fault_mix_parses() {
        FaultConfig::parse_compact(FAULT_MIX).unwrap();
        FaultConfig::parse_compact(AMBIGUITY_MIX).unwrap();
    }
}

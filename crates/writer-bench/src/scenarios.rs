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

use writer_sim::{
    AppConfig, DurationDist, FaultConfig, JobOrigin, RateLimitConfig, Simulator, Stats,
    TenantConfig,
};

use crate::child::{self, Kind, Target};
use crate::naive;

/// The application every scenario runs its rows through.
pub const APP: &str = "demo-product-descriptions";

/// The fault mix of the fault scenario (names from `writer_sim::FaultKind`).
pub const FAULT_MIX: &str = "create:accept_then_drop=0.01,create:500=0.01,*:503=0.01,*:reset=0.005,get:malformed=0.01,list:malformed=0.01,*:429_burst=0.002,*:slow=0.005";

/// The request quota the "at 400/min" columns and the quota run assume
/// (Writer's current per-key limit).
pub const QUOTA_PER_MINUTE: f64 = 400.0;

/// Other tenants on the busy application: old jobs to page past, and
/// background clients creating more while the batch runs.
pub const BUSY: TenantConfig = TenantConfig {
    prefill_jobs: 5000,
    jobs_per_minute: 60.0,
};

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
    /// Run the clients on tokio's single-threaded runtime.
    pub current_thread: bool,
    /// The batch's poll overhead (`None`: the library's default).
    pub poll_overhead: Option<f64>,
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
            current_thread: false,
            poll_overhead: None,
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
        }
    }

    async fn start(&self) -> Result<Simulator, String> {
        let app = match self.load {
            Load::Empty => AppConfig::demo(),
            Load::Busy => AppConfig::demo().tenants(BUSY),
        };
        let mut builder = Simulator::builder()
            .scale(self.scale)
            .seed(self.seed)
            .duration(self.duration)
            .failure_rate(0.0)
            .apps(vec![app])
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
    /// Jobs in flight at most.
    pub max_in_flight: usize,
    /// The application's load.
    pub load: Load,
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
    /// Rows reported ambiguous whose create did make a job on the server.
    pub ambiguous_landed: u64,
    /// Rows with no outcome at all.
    pub lost: u64,
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
    let reported: u64 = summary.outcomes.values().sum();
    let (last_create_us, quota_ideal_secs) = creation_schedule(&sim, summary.started_us);
    sim.shutdown().await;
    Ok(Measured {
        kind: job.kind,
        rows: job.rows,
        max_in_flight: job.max_in_flight,
        load: spec.load,
        scale: spec.scale,
        stats,
        wall_secs: (summary.finished_us - summary.started_us) as f64 / 1e6,
        floor_secs: (last_finish_us - summary.started_us) as f64 / 1e6,
        last_create_secs: (last_create_us - summary.started_us) as f64 / 1e6,
        quota_ideal_secs,
        ambiguous_landed,
        lost: job.rows.saturating_sub(reported),
        delays,
        outcomes: summary.outcomes,
        cpu_secs: summary.cpu_secs,
        startup_cpu_secs: summary.startup_cpu_secs,
        peak_rss_kib: summary.peak_rss_kib,
        real_secs,
    })
}

/// When the client's last job was created (microseconds), and the ideal
/// quota-bound finish (see [`Measured::quota_ideal_secs`]) of its jobs.
fn creation_schedule(sim: &Simulator, started_us: i64) -> (i64, f64) {
    let mut jobs: Vec<(i64, f64)> = sim
        .job_ids(APP)
        .iter()
        .filter_map(|id| sim.job(id))
        .filter(|j| j.origin == JobOrigin::Client)
        .map(|j| {
            let created = j.created_at.timestamp_micros();
            let took = (j.finish_at.timestamp_micros() - created) as f64 / 1e6;
            (created, took)
        })
        .collect();
    jobs.sort_by_key(|(created, _)| *created);
    let last_create = jobs.last().map(|(c, _)| *c).unwrap_or(started_us);
    let interval = 60.0 / QUOTA_PER_MINUTE;
    let ideal = jobs
        .iter()
        .enumerate()
        .map(|(i, (_, took))| i as f64 * interval + took)
        .fold(0.0, f64::max);
    (last_create, ideal)
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
                let job = child::Job {
                    kind,
                    rows,
                    max_in_flight: 100,
                    rate_per_minute: None,
                    request_timeout_secs: None,
                    outcomes: true,
                    current_thread: plan.current_thread,
                    poll_overhead: plan.poll_overhead,
                    exclusive: false,
                };
                runs.push(measure(plan, &spec, job).await?);
            }
        }
    }
    Ok(runs)
}

/// The quota-bound batch: a client-side budget of 400 requests a minute
/// (and the simulator enforcing the same limit), with 100 jobs in flight
/// as everywhere else, and with enough in flight that the quota, not the
/// concurrency, is what binds (100 jobs of ~30 s are only 200 a minute).
pub async fn quota(plan: &Plan) -> Result<Vec<Measured>, String> {
    let mut runs = Vec::new();
    for in_flight in [100, 1000] {
        progress(&format!(
            "quota-bound batch x {} rows, {in_flight} in flight",
            plan.quota_rows
        ));
        let spec = SimSpec {
            rate_limit: Some(RateLimitConfig::per_minute(QUOTA_PER_MINUTE, 50)),
            ..SimSpec::standard(plan.scale, plan.seed, Load::Empty)
        };
        let job = child::Job {
            kind: Kind::Batch,
            rows: plan.quota_rows,
            max_in_flight: in_flight,
            rate_per_minute: Some(QUOTA_PER_MINUTE),
            request_timeout_secs: None,
            outcomes: true,
            current_thread: plan.current_thread,
            poll_overhead: plan.poll_overhead,
            exclusive: false,
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
            kind: Kind::Batch,
            rows,
            max_in_flight: 100,
            rate_per_minute: None,
            request_timeout_secs: Some(3600.0),
            outcomes: false,
            current_thread: plan.current_thread,
            poll_overhead: plan.poll_overhead,
            exclusive: false,
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
            kind: Kind::Batch,
            rows: plan.fault_rows,
            max_in_flight: 100,
            rate_per_minute: None,
            request_timeout_secs: None,
            outcomes: true,
            current_thread: plan.current_thread,
            poll_overhead: plan.poll_overhead,
            exclusive,
        };
        runs.push(measure(plan, &spec, job).await?);
    }
    Ok(runs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), Some(50.0));
        assert_eq!(percentile(&v, 95.0), Some(95.0));
        assert_eq!(percentile(&v, 0.0), Some(1.0));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn the_fault_mix_parses() {
        FaultConfig::parse_compact(FAULT_MIX).unwrap();
    }
}

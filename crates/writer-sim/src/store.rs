//! The job store: every job, its lazily computed status, per-application
//! indexes for listing, and other tenants' jobs.
//!
//! A job's outcome and finish time are fixed when an attempt starts; its
//! status is `completed`/`failed` once the clock reaches the finish time.
//! No timer runs per job, so 100k jobs cost only their memory.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, TimeDelta, Utc};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use writer_api::types::{GenerateApplicationResponse, Job, JobInput};

use crate::config::{AppConfig, DurationDist, InputType, ListConfig, SimConfig, TotalCount};
use crate::output::expected_output;

/// A job's status at some moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    /// Running.
    InProgress,
    /// Finished with a result.
    Completed,
    /// Finished with an error.
    Failed,
}

impl JobStatus {
    /// The wire value (`in_progress`, `completed`, `failed`).
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::InProgress => "in_progress",
            JobStatus::Completed => "completed",
            JobStatus::Failed => "failed",
        }
    }

    /// Parses a wire value.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "in_progress" => Some(JobStatus::InProgress),
            "completed" => Some(JobStatus::Completed),
            "failed" => Some(JobStatus::Failed),
            _ => None,
        }
    }
}

/// Who created a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobOrigin {
    /// A client through the API.
    Client,
    /// A retry that answered with a new job id.
    Retry,
    /// A background tenant (see [`TenantConfig`](crate::TenantConfig)).
    Tenant,
    /// Pre-filled before the simulator started.
    Prefill,
}

/// Everything the simulator knows about a job, at one moment of sim time:
/// for tests and benchmarks (for example the delay between `finish_at` and
/// the moment a client noticed).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobState {
    /// The job id.
    pub id: String,
    /// The application's id.
    pub application_id: String,
    /// The inputs it was created with.
    pub inputs: Vec<JobInput>,
    /// Its status now.
    pub status: JobStatus,
    /// When it was created (sim time).
    pub created_at: DateTime<Utc>,
    /// When its current attempt started (sim time).
    pub attempt_started_at: DateTime<Utc>,
    /// When its current attempt finishes or finished (sim time); fixed when
    /// the attempt starts.
    pub finish_at: DateTime<Utc>,
    /// How the current attempt ends (`completed` or `failed`), known in advance.
    pub outcome: JobStatus,
    /// How many attempts it has had (1 + retries in place).
    pub attempts: u32,
    /// With retries answering a new id: the job that replaced this one.
    pub retried_as: Option<String>,
    /// Who created it.
    pub origin: JobOrigin,
}

#[derive(Debug)]
struct JobRecord {
    id: String,
    app: usize,
    inputs: Vec<JobInput>,
    created_at: DateTime<Utc>,
    started_at: DateTime<Utc>,
    finish_at: DateTime<Utc>,
    fails: bool,
    attempts: u32,
    retried_as: Option<usize>,
    origin: JobOrigin,
}

impl JobRecord {
    fn status(&self, now: DateTime<Utc>) -> JobStatus {
        if now < self.finish_at {
            JobStatus::InProgress
        } else if self.fails {
            JobStatus::Failed
        } else {
            JobStatus::Completed
        }
    }
}

#[derive(Debug)]
struct AppState {
    config: AppConfig,
    duration: DurationDist,
    failure_rate: f64,
    /// Job indexes in creation order, which is also (created_at, id) order.
    jobs: Vec<usize>,
    tenant_next: Option<DateTime<Utc>>,
    tenant_interval: TimeDelta,
    tenant_count: u64,
}

/// Why a retry was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NotFailed(pub(crate) JobStatus);

/// All jobs of all applications.
#[derive(Debug)]
pub(crate) struct Store {
    seed: u64,
    jobs: Vec<JobRecord>,
    by_id: HashMap<String, usize>,
    apps: Vec<AppState>,
    app_index: HashMap<String, usize>,
    runs: u64,
    pub(crate) tenant_jobs_created: u64,
}

/// The splitmix64 finaliser: spreads a seed over 64 bits.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn delta(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

impl Store {
    pub(crate) fn new(config: &SimConfig, start: DateTime<Utc>) -> Self {
        let mut store = Store {
            seed: config.seed,
            jobs: Vec::new(),
            by_id: HashMap::new(),
            apps: Vec::new(),
            app_index: HashMap::new(),
            runs: 0,
            tenant_jobs_created: 0,
        };
        let start = start.trunc_subsecs(6);
        for app in &config.apps {
            let idx = store.apps.len();
            for name in std::iter::once(&app.id).chain(&app.aliases) {
                store.app_index.insert(name.clone(), idx);
            }
            let rate = app.tenants.jobs_per_minute;
            let interval = if rate > 0.0 {
                delta(Duration::from_secs_f64((60.0 / rate).min(1e9)))
            } else {
                TimeDelta::zero()
            };
            store.apps.push(AppState {
                config: app.clone(),
                duration: app.duration.unwrap_or(config.duration),
                failure_rate: app.failure_rate.unwrap_or(config.failure_rate),
                jobs: Vec::new(),
                tenant_next: (rate > 0.0).then(|| start + interval),
                tenant_interval: interval,
                tenant_count: 0,
            });
            store.prefill(idx, app.tenants.prefill_jobs, start);
        }
        store
    }

    fn prefill(&mut self, app: usize, n: u32, start: DateTime<Utc>) {
        for i in 0..n {
            let created = start - TimeDelta::minutes(i64::from(n - i));
            let inputs = self.tenant_inputs(app, u64::from(i));
            let idx = self.insert(app, inputs, created, JobOrigin::Prefill);
            let job = &mut self.jobs[idx];
            if job.finish_at > start {
                job.finish_at = start;
            }
        }
    }

    /// Synthetic inputs satisfying the application's required inputs.
    fn tenant_inputs(&self, app: usize, n: u64) -> Vec<JobInput> {
        self.apps[app]
            .config
            .inputs
            .iter()
            .filter(|d| d.required)
            .map(|d| JobInput {
                id: d.name.clone(),
                value: vec![match d.input_type {
                    InputType::Text => format!("Other tenant's item {n}"),
                    InputType::Dropdown => d
                        .list
                        .get(n as usize % d.list.len().max(1))
                        .cloned()
                        .unwrap_or_default(),
                    InputType::File | InputType::Media => format!("file-{n}"),
                }],
            })
            .collect()
    }

    /// Draws the duration and outcome of one attempt, from the seed and the
    /// job's sequence number and attempt only (not from request order).
    fn draw(&self, app: usize, key: u64, attempt: u32) -> (Duration, bool) {
        let mut rng = SmallRng::seed_from_u64(mix(self.seed
            ^ mix(key)
            ^ mix(u64::from(attempt).wrapping_mul(0x5851_f42d))));
        let state = &self.apps[app];
        let d = state.duration.sample(&mut rng);
        let fails = rng.random::<f64>() < state.failure_rate;
        (d, fails)
    }

    fn make_id(&self, seq: u64) -> String {
        let r = mix(self.seed ^ mix(seq ^ 0x6a6f_6273));
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            (seq >> 16) as u32,
            seq & 0xffff,
            r & 0xfff,
            0x8000 | ((r >> 12) & 0x3fff),
            (r >> 26) & 0xffff_ffff_ffff
        )
    }

    fn insert(
        &mut self,
        app: usize,
        inputs: Vec<JobInput>,
        now: DateTime<Utc>,
        origin: JobOrigin,
    ) -> usize {
        let seq = self.jobs.len() as u64 + 1;
        let id = self.make_id(seq);
        let (d, fails) = self.draw(app, seq, 1);
        let idx = self.jobs.len();
        self.jobs.push(JobRecord {
            id: id.clone(),
            app,
            inputs,
            created_at: now,
            started_at: now,
            finish_at: (now + delta(d)).trunc_subsecs(6),
            fails,
            attempts: 1,
            retried_as: None,
            origin,
        });
        self.by_id.insert(id, idx);
        self.apps[app].jobs.push(idx);
        idx
    }

    /// Creates the background tenants' jobs that are due by `now`, each
    /// with its scheduled creation time. Called before any other access to
    /// the application, so creation order stays time order.
    fn catch_up(&mut self, app: usize, now: DateTime<Utc>) {
        while let Some(due) = self.apps[app].tenant_next {
            if due > now {
                break;
            }
            let n = self.apps[app].tenant_count;
            let inputs = self.tenant_inputs(app, 1_000_000 + n);
            self.insert(app, inputs, due.trunc_subsecs(6), JobOrigin::Tenant);
            let state = &mut self.apps[app];
            state.tenant_count += 1;
            state.tenant_next = Some(due + state.tenant_interval);
            self.tenant_jobs_created += 1;
        }
    }

    pub(crate) fn app_index(&self, name: &str) -> Option<usize> {
        self.app_index.get(name).copied()
    }

    pub(crate) fn app(&self, idx: usize) -> &AppConfig {
        &self.apps[idx].config
    }

    pub(crate) fn job_index(&self, id: &str) -> Option<usize> {
        self.by_id.get(id).copied()
    }

    pub(crate) fn job_app(&self, job: usize) -> usize {
        self.jobs[job].app
    }

    pub(crate) fn job_id(&self, job: usize) -> &str {
        &self.jobs[job].id
    }

    pub(crate) fn job_created_at(&self, job: usize) -> DateTime<Utc> {
        self.jobs[job].created_at
    }

    #[cfg(test)]
    pub(crate) fn job_status(&self, job: usize, now: DateTime<Utc>) -> JobStatus {
        self.jobs[job].status(now)
    }

    /// Creates a client job (inputs already validated).
    pub(crate) fn create(
        &mut self,
        app: usize,
        inputs: Vec<JobInput>,
        now: DateTime<Utc>,
    ) -> usize {
        let now = now.trunc_subsecs(6);
        self.catch_up(app, now);
        self.insert(app, inputs, now, JobOrigin::Client)
    }

    /// Retries a failed job: in place (same id, next attempt) or, with
    /// `new_id`, as a new job with the same inputs.
    pub(crate) fn retry(
        &mut self,
        job: usize,
        now: DateTime<Utc>,
        new_id: bool,
    ) -> Result<usize, NotFailed> {
        let now = now.trunc_subsecs(6);
        let status = self.jobs[job].status(now);
        if status != JobStatus::Failed || (new_id && self.jobs[job].retried_as.is_some()) {
            return Err(NotFailed(status));
        }
        let app = self.jobs[job].app;
        if new_id {
            self.catch_up(app, now);
            let inputs = self.jobs[job].inputs.clone();
            let new = self.insert(app, inputs, now, JobOrigin::Retry);
            self.jobs[job].retried_as = Some(new);
            Ok(new)
        } else {
            let attempt = self.jobs[job].attempts + 1;
            let (d, fails) = self.draw(app, job as u64 + 1, attempt);
            let rec = &mut self.jobs[job];
            rec.attempts = attempt;
            rec.started_at = now;
            rec.finish_at = (now + delta(d)).trunc_subsecs(6);
            rec.fails = fails;
            Ok(job)
        }
    }

    /// Draws the duration and outcome of a synchronous run.
    pub(crate) fn draw_run(&mut self, app: usize) -> (Duration, bool) {
        self.runs += 1;
        self.draw(app, (1 << 62) | self.runs, 1)
    }

    /// The job as the API shows it at `now`.
    pub(crate) fn to_wire(&self, job: usize, now: DateTime<Utc>) -> Job {
        let rec = &self.jobs[job];
        let app_id = &self.apps[rec.app].config.id;
        let status = rec.status(now);
        let done = status != JobStatus::InProgress;
        Job {
            application_id: app_id.clone(),
            completed_at: done.then_some(rec.finish_at),
            created_at: rec.created_at,
            data: (status == JobStatus::Completed).then(|| expected_output(app_id, &rec.inputs)),
            error: (status == JobStatus::Failed).then(|| {
                format!(
                    "simulated failure: the application run failed (attempt {})",
                    rec.attempts
                )
            }),
            id: rec.id.clone(),
            status: status.as_str().to_string(),
            updated_at: Some(if done { rec.finish_at } else { rec.started_at }),
        }
    }

    /// The simulator's full view of a job at `now`.
    pub(crate) fn state(&self, job: usize, now: DateTime<Utc>) -> JobState {
        let rec = &self.jobs[job];
        JobState {
            id: rec.id.clone(),
            application_id: self.apps[rec.app].config.id.clone(),
            inputs: rec.inputs.clone(),
            status: rec.status(now),
            created_at: rec.created_at,
            attempt_started_at: rec.started_at,
            finish_at: rec.finish_at,
            outcome: if rec.fails {
                JobStatus::Failed
            } else {
                JobStatus::Completed
            },
            attempts: rec.attempts,
            retried_as: rec.retried_as.map(|i| self.jobs[i].id.clone()),
            origin: rec.origin,
        }
    }

    /// The ids of an application's jobs, newest first.
    pub(crate) fn app_job_ids(&mut self, app: usize, now: DateTime<Utc>) -> Vec<String> {
        self.catch_up(app, now);
        self.apps[app]
            .jobs
            .iter()
            .rev()
            .map(|&i| self.jobs[i].id.clone())
            .collect()
    }

    /// One page of an application's jobs, newest first (by `created_at`,
    /// ties by id descending), and the `totalCount` to report.
    pub(crate) fn list(
        &mut self,
        app: usize,
        now: DateTime<Utc>,
        filter: Option<JobStatus>,
        offset: usize,
        limit: usize,
        list: &ListConfig,
    ) -> (Vec<Job>, usize) {
        self.catch_up(app, now);
        let ids = &self.apps[app].jobs;
        match filter {
            None => {
                let page = ids
                    .iter()
                    .rev()
                    .skip(offset)
                    .take(limit)
                    .map(|&i| self.to_wire(i, now))
                    .collect();
                (page, ids.len())
            }
            Some(status) => {
                let page: Vec<Job> = ids
                    .iter()
                    .rev()
                    .filter(|&&i| self.jobs[i].status(now) == status)
                    .skip(offset)
                    .take(limit)
                    .map(|&i| self.to_wire(i, now))
                    .collect();
                let total = match list.total_count {
                    TotalCount::All => ids.len(),
                    TotalCount::Filtered => ids
                        .iter()
                        .filter(|&&i| self.jobs[i].status(now) == status)
                        .count(),
                };
                (page, total)
            }
        }
    }

    /// The expected output of a run of `app` with `inputs`.
    pub(crate) fn output(&self, app: usize, inputs: &[JobInput]) -> GenerateApplicationResponse {
        expected_output(&self.apps[app].config.id, inputs)
    }

    /// How many jobs exist in all.
    pub(crate) fn len(&self) -> usize {
        self.jobs.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TenantConfig;

    fn start() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2025-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn config(fail: f64) -> SimConfig {
        SimConfig {
            duration: DurationDist::fixed(Duration::from_secs(10)),
            failure_rate: fail,
            seed: 3,
            ..SimConfig::default()
        }
    }

    fn name(v: &str) -> Vec<JobInput> {
        vec![JobInput {
            id: "Product name".into(),
            value: vec![v.into()],
        }]
    }

    #[test]
    fn status_is_computed_from_the_clock() {
        let mut store = Store::new(&config(0.0), start());
        let job = store.create(0, name("a"), start());
        assert_eq!(store.job_status(job, start()), JobStatus::InProgress);
        let wire = store.to_wire(job, start() + TimeDelta::seconds(9));
        assert_eq!(wire.status, "in_progress");
        assert!(wire.completed_at.is_none() && wire.data.is_none());
        let wire = store.to_wire(job, start() + TimeDelta::seconds(10));
        assert_eq!(wire.status, "completed");
        assert_eq!(wire.completed_at, Some(start() + TimeDelta::seconds(10)));
        assert_eq!(wire.updated_at, wire.completed_at);
        assert_eq!(
            wire.data,
            Some(expected_output("demo-product-descriptions", &name("a")))
        );
    }

    #[test]
    fn ids_sort_in_creation_order() {
        let mut store = Store::new(&config(0.0), start());
        let ids: Vec<String> = (0..70_000)
            .map(|i| {
                let j = store.create(0, name("x"), start());
                if i % 1000 == 0 {
                    store.job_id(j).to_string()
                } else {
                    String::new()
                }
            })
            .filter(|s| !s.is_empty())
            .collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
    }

    #[test]
    fn retry_in_place_runs_again_and_can_succeed() {
        let mut store = Store::new(&config(0.5), start());
        let mut now = start();
        let mut retried_to_success = false;
        for i in 0..40 {
            let job = store.create(0, name(&i.to_string()), now);
            now += TimeDelta::seconds(10);
            if store.job_status(job, now) != JobStatus::Failed {
                assert_eq!(
                    store.retry(job, now, false),
                    Err(NotFailed(JobStatus::Completed))
                );
                continue;
            }
            for _ in 0..10 {
                assert_eq!(store.retry(job, now, false), Ok(job));
                assert_eq!(store.job_status(job, now), JobStatus::InProgress);
                now += TimeDelta::seconds(10);
                if store.job_status(job, now) == JobStatus::Completed {
                    retried_to_success = true;
                    break;
                }
            }
        }
        assert!(retried_to_success);
    }

    #[test]
    fn tenants_prefill_and_keep_creating() {
        let mut cfg = config(0.0);
        cfg.apps[0].tenants = TenantConfig {
            prefill_jobs: 1000,
            jobs_per_minute: 60.0,
        };
        let mut store = Store::new(&cfg, start());
        assert_eq!(store.len(), 1000);
        assert!((0..1000).all(|j| store.job_status(j, start()) != JobStatus::InProgress));
        let (page, total) = store.list(
            0,
            start() + TimeDelta::seconds(30),
            None,
            0,
            5,
            &ListConfig::default(),
        );
        assert_eq!(total, 1030);
        assert_eq!(page.len(), 5);
        assert!(
            page.windows(2)
                .all(|w| w[0].created_at >= w[1].created_at && w[0].id > w[1].id)
        );
    }

    #[test]
    fn filtered_total_counts_matches() {
        let mut store = Store::new(&config(0.0), start());
        for i in 0..10 {
            store.create(0, name(&i.to_string()), start() + TimeDelta::seconds(i));
        }
        let now = start() + TimeDelta::seconds(14);
        let filtered = ListConfig {
            total_count: TotalCount::Filtered,
            ..ListConfig::default()
        };
        // Jobs 0..=4 completed, 5..=9 in progress.
        let (page, total) = store.list(0, now, Some(JobStatus::Completed), 1, 2, &filtered);
        assert_eq!((page.len(), total), (2, 5));
        let (page, total) = store.list(0, now, Some(JobStatus::Completed), 7, 2, &filtered);
        assert_eq!((page.len(), total), (0, 5));
        let (_, total) = store.list(
            0,
            now,
            Some(JobStatus::Completed),
            0,
            2,
            &ListConfig::default(),
        );
        assert_eq!(total, 10);
    }
}

//! The job store: every job, its lazily computed status, per-application
//! indexes for listing, and other tenants' jobs.
//!
//! A job's outcome and finish time are fixed when an attempt starts; its
//! status is `completed`/`failed` once the clock reaches the finish time.
//! No timer runs per job, so 100k jobs cost only their memory.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use chrono::{DateTime, SubsecRound, TimeDelta, Utc};
use rand::rngs::{SmallRng, StdRng};
use rand::{Rng, SeedableRng};
use serde::Serialize;
use writer_api::types::{GenerateApplicationResponse, Job, JobInput};

use crate::config::{
    AppConfig, DurationDist, IdStyle, InputType, ListConfig, ListOrder, SimConfig, Timestamps,
    TotalCount,
};
use crate::output::{expected_output, input_key};
use crate::stats::OriginCounts;

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

/// How a job came to be: tells a client's own creates apart from retries
/// that answered a new id and from other tenants' jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobOrigin {
    /// A create request through the API (`create`).
    Create,
    /// A retry that answered with a new job id (`retry`).
    Retry,
    /// Other tenants: background load and jobs pre-filled before the start
    /// (`tenant`, see [`TenantConfig`](crate::TenantConfig)).
    Tenant,
}

#[allow(non_upper_case_globals)]
impl JobOrigin {
    /// The earlier name of [`JobOrigin::Create`], kept so that code
    /// comparing with it still builds.
    pub const Client: JobOrigin = JobOrigin::Create;

    /// Its name (`create`, `retry`, `tenant`), as in [`Stats`](crate::Stats).
    pub fn as_str(self) -> &'static str {
        match self {
            JobOrigin::Create => "create",
            JobOrigin::Retry => "retry",
            JobOrigin::Tenant => "tenant",
        }
    }
}

/// Who asked for a job (a create, or a retry answering a new id): the index
/// of the API key in the config's `keys`, and the request's `x-sim-client`
/// header, if any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Requester {
    pub(crate) key: usize,
    pub(crate) client: Option<String>,
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
    /// How it came to be.
    pub origin: JobOrigin,
    /// For a create or a retry: the index (in the config's `keys`, 0 = the
    /// main key) of the API key that asked for it.
    pub api_key_index: Option<usize>,
    /// For a create or a retry: the `x-sim-client` header of the request
    /// (a tag a test gives each of its clients), if it had one.
    pub client_tag: Option<String>,
    /// For a job made by a retry answering a new id: the failed job it
    /// replaced.
    pub retry_of: Option<String>,
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
    retry_of: Option<usize>,
    origin: JobOrigin,
    requester: Option<Requester>,
    /// Set when every attempt fails with this error (an unknown input
    /// accepted with `unknown_inputs = "fail_job"`).
    doomed: Option<String>,
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
    /// Job indexes in creation order, which is also `created_at` order
    /// (nothing relies on the ids' order: they may be random).
    jobs: Vec<usize>,
    /// With [`ListOrder::Unspecified`]: (seeded hash of the id, job index).
    hashed: BTreeSet<(u64, usize)>,
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
    ids: IdStyle,
    timestamps: Timestamps,
    order: ListOrder,
    /// Draws random job ids.
    id_rng: StdRng,
    /// Draws which list pages are cut short.
    list_rng: StdRng,
    jobs: Vec<JobRecord>,
    /// Jobs per input set ([`input_key`]) by origin.
    by_input_set: HashMap<String, OriginCounts>,
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
            ids: config.api.ids,
            timestamps: config.api.timestamps,
            order: config.list.order,
            id_rng: StdRng::seed_from_u64(mix(config.seed ^ 0x6a6f_625f_6964_7321)),
            list_rng: StdRng::seed_from_u64(mix(config.seed ^ 0x6c69_7374_5f70_6721)),
            jobs: Vec::new(),
            by_input_set: HashMap::new(),
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
                hashed: BTreeSet::new(),
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
            let idx = self.insert(app, inputs, created, JobOrigin::Tenant, None);
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

    /// A new job id in the configured style, never one already used.
    fn new_id(&mut self, seq: u64) -> String {
        match self.ids {
            IdStyle::Ordered => self.ordered_id(seq),
            IdStyle::Random => loop {
                let mut bytes = self.id_rng.random::<u128>().to_be_bytes();
                bytes[6] = (bytes[6] & 0x0f) | 0x40; // version 4
                bytes[8] = (bytes[8] & 0x3f) | 0x80; // RFC 4122 variant
                let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
                let id = format!(
                    "{}-{}-{}-{}-{}",
                    &hex[..8],
                    &hex[8..12],
                    &hex[12..16],
                    &hex[16..20],
                    &hex[20..]
                );
                if !self.by_id.contains_key(&id) {
                    break id;
                }
            },
        }
    }

    /// A UUID-shaped id whose leading 12 hex digits count `seq` up, so id
    /// order is creation order.
    fn ordered_id(&self, seq: u64) -> String {
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
        requester: Option<Requester>,
    ) -> usize {
        let seq = self.jobs.len() as u64 + 1;
        let id = self.new_id(seq);
        let (d, fails) = self.draw(app, seq, 1);
        let idx = self.jobs.len();
        let counts = self
            .by_input_set
            .entry(input_key(&self.apps[app].config.id, &inputs))
            .or_default();
        match origin {
            JobOrigin::Create => counts.create += 1,
            JobOrigin::Retry => counts.retry += 1,
            JobOrigin::Tenant => counts.tenant += 1,
        }
        if self.order == ListOrder::Unspecified {
            let hash = self.id_hash(&id);
            self.apps[app].hashed.insert((hash, idx));
        }
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
            retry_of: None,
            origin,
            requester,
            doomed: None,
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
            self.insert(app, inputs, due.trunc_subsecs(6), JobOrigin::Tenant, None);
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

    /// The job's `created_at` as the API shows it.
    pub(crate) fn job_created_at(&self, job: usize) -> DateTime<Utc> {
        self.wire_time(self.jobs[job].created_at)
    }

    /// A time as the API shows it, at the configured precision.
    fn wire_time(&self, at: DateTime<Utc>) -> DateTime<Utc> {
        match self.timestamps {
            Timestamps::Micros => at,
            Timestamps::Seconds => at.trunc_subsecs(0),
        }
    }

    #[cfg(test)]
    pub(crate) fn job_status(&self, job: usize, now: DateTime<Utc>) -> JobStatus {
        self.jobs[job].status(now)
    }

    /// A seeded hash of a job id: the key of the unspecified list order.
    fn id_hash(&self, id: &str) -> u64 {
        let fnv = id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        mix(fnv ^ mix(self.seed))
    }

    /// Creates a client job (inputs already validated). With `doomed`,
    /// every attempt of the job fails with that error.
    pub(crate) fn create(
        &mut self,
        app: usize,
        inputs: Vec<JobInput>,
        now: DateTime<Utc>,
        requester: Requester,
        doomed: Option<String>,
    ) -> usize {
        let now = now.trunc_subsecs(6);
        self.catch_up(app, now);
        let job = self.insert(app, inputs, now, JobOrigin::Create, Some(requester));
        if doomed.is_some() {
            self.jobs[job].fails = true;
            self.jobs[job].doomed = doomed;
        }
        job
    }

    /// Retries a failed job: in place (same id, next attempt) or, with
    /// `new_id`, as a new job with the same inputs.
    pub(crate) fn retry(
        &mut self,
        job: usize,
        now: DateTime<Utc>,
        new_id: bool,
        requester: Requester,
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
            let new = self.insert(app, inputs, now, JobOrigin::Retry, Some(requester));
            let doomed = self.jobs[job].doomed.clone();
            let rec = &mut self.jobs[new];
            rec.retry_of = Some(job);
            if doomed.is_some() {
                rec.fails = true;
                rec.doomed = doomed;
            }
            self.jobs[job].retried_as = Some(new);
            Ok(new)
        } else {
            let attempt = self.jobs[job].attempts + 1;
            let (d, fails) = self.draw(app, job as u64 + 1, attempt);
            let rec = &mut self.jobs[job];
            rec.attempts = attempt;
            rec.started_at = now;
            rec.finish_at = (now + delta(d)).trunc_subsecs(6);
            rec.fails = fails || rec.doomed.is_some();
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
            completed_at: done.then_some(self.wire_time(rec.finish_at)),
            created_at: self.wire_time(rec.created_at),
            data: (status == JobStatus::Completed).then(|| expected_output(app_id, &rec.inputs)),
            error: (status == JobStatus::Failed).then(|| match &rec.doomed {
                Some(error) => error.clone(),
                None => format!(
                    "simulated failure: the application run failed (attempt {})",
                    rec.attempts
                ),
            }),
            id: rec.id.clone(),
            status: status.as_str().to_string(),
            updated_at: Some(self.wire_time(if done { rec.finish_at } else { rec.started_at })),
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
            api_key_index: rec.requester.as_ref().map(|r| r.key),
            client_tag: rec.requester.as_ref().and_then(|r| r.client.clone()),
            retry_of: rec.retry_of.map(|i| self.jobs[i].id.clone()),
        }
    }

    /// Jobs per input set by origin, for the input sets that a create or a
    /// retry used (other tenants' own input sets are left out, so that the
    /// statistics stay small on a busy application).
    pub(crate) fn input_set_origins(&self) -> BTreeMap<String, OriginCounts> {
        self.by_input_set
            .iter()
            .filter(|(_, c)| c.create + c.retry > 0)
            .map(|(k, c)| (k.clone(), *c))
            .collect()
    }

    /// The ids of an application's jobs in creation order, newest first
    /// (whatever the list order).
    pub(crate) fn app_job_ids(&mut self, app: usize, now: DateTime<Utc>) -> Vec<String> {
        self.catch_up(app, now);
        self.apps[app]
            .jobs
            .iter()
            .rev()
            .map(|&i| self.jobs[i].id.clone())
            .collect()
    }

    /// An application's job indexes in list order.
    fn in_list_order(&self, app: usize) -> Box<dyn Iterator<Item = usize> + '_> {
        let state = &self.apps[app];
        match self.order {
            ListOrder::Newest => Box::new(state.jobs.iter().rev().copied()),
            ListOrder::Oldest => Box::new(state.jobs.iter().copied()),
            ListOrder::Unspecified => Box::new(state.hashed.iter().map(|&(_, i)| i)),
        }
    }

    /// One page of an application's jobs in the configured order (newest
    /// first: by creation, latest first), and the `totalCount` to report
    /// (`None`: leave it out).
    pub(crate) fn list(
        &mut self,
        app: usize,
        now: DateTime<Utc>,
        filter: Option<JobStatus>,
        offset: usize,
        limit: usize,
        list: &ListConfig,
    ) -> (Vec<Job>, Option<usize>) {
        self.catch_up(app, now);
        let (mut page, total) = {
            let matches =
                |i: &usize| filter.is_none_or(|status| self.jobs[*i].status(now) == status);
            let page: Vec<usize> = self
                .in_list_order(app)
                .filter(matches)
                .skip(offset)
                .take(limit)
                .collect();
            let jobs = &self.apps[app].jobs;
            let total = match (list.total_count, filter) {
                (TotalCount::Missing, _) => None,
                (TotalCount::Zero, _) => Some(0),
                (TotalCount::All, _) | (TotalCount::Filtered, None) => Some(jobs.len()),
                (TotalCount::Filtered, Some(_)) => Some(jobs.iter().filter(|i| matches(i)).count()),
            };
            (page, total)
        };
        // Only a full page is cut: the jobs cut off come first at the next
        // offset, so a client advancing by what it received misses none.
        if page.len() == limit && limit >= 2 && list.short_pages > 0.0 {
            let cut = self.list_rng.random::<f64>() < list.short_pages;
            let len = self.list_rng.random_range(1..limit);
            if cut {
                page.truncate(len);
            }
        }
        (
            page.into_iter().map(|i| self.to_wire(i, now)).collect(),
            total,
        )
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

    fn me() -> Requester {
        Requester::default()
    }

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
        let job = store.create(0, name("a"), start(), me(), None);
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
    fn ordered_ids_sort_in_creation_order() {
        let mut cfg = config(0.0);
        cfg.api.ids = IdStyle::Ordered;
        let mut store = Store::new(&cfg, start());
        let ids: Vec<String> = (0..70_000)
            .map(|i| {
                let j = store.create(0, name("x"), start(), me(), None);
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
    fn random_ids_are_uuid_v4_shaped_and_seeded() {
        let ids = |seed: u64| {
            let mut cfg = config(0.0);
            cfg.seed = seed;
            let mut store = Store::new(&cfg, start());
            (0..2000)
                .map(|_| {
                    let j = store.create(0, name("x"), start(), me(), None);
                    store.job_id(j).to_string()
                })
                .collect::<Vec<_>>()
        };
        let a = ids(1);
        assert_eq!(a, ids(1), "the same seed gives the same ids");
        assert_ne!(a, ids(2));
        for id in &a {
            let groups: Vec<&str> = id.split('-').collect();
            assert_eq!(
                groups.iter().map(|g| g.len()).collect::<Vec<_>>(),
                [8, 4, 4, 4, 12],
                "{id}"
            );
            assert!(id.chars().all(|c| c == '-' || c.is_ascii_hexdigit()));
            assert!(groups[2].starts_with('4'), "version nibble: {id}");
            assert!(matches!(&groups[3][..1], "8" | "9" | "a" | "b"), "{id}");
        }
        let ascending = a.windows(2).filter(|w| w[0] < w[1]).count();
        assert!(
            (800..1200).contains(&ascending),
            "id order says nothing of creation order: {ascending} of 1999 ascending"
        );
        let unique: std::collections::BTreeSet<&String> = a.iter().collect();
        assert_eq!(unique.len(), a.len());
    }

    #[test]
    fn retry_in_place_runs_again_and_can_succeed() {
        let mut store = Store::new(&config(0.5), start());
        let mut now = start();
        let mut retried_to_success = false;
        for i in 0..40 {
            let job = store.create(0, name(&i.to_string()), now, me(), None);
            now += TimeDelta::seconds(10);
            if store.job_status(job, now) != JobStatus::Failed {
                assert_eq!(
                    store.retry(job, now, false, me()),
                    Err(NotFailed(JobStatus::Completed))
                );
                continue;
            }
            for _ in 0..10 {
                assert_eq!(store.retry(job, now, false, me()), Ok(job));
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
        assert_eq!(total, Some(1030));
        assert_eq!(page.len(), 5);
        assert!(page.windows(2).all(|w| w[0].created_at > w[1].created_at));
    }

    #[test]
    fn filtered_total_counts_matches() {
        let mut store = Store::new(&config(0.0), start());
        for i in 0..10 {
            store.create(
                0,
                name(&i.to_string()),
                start() + TimeDelta::seconds(i),
                me(),
                None,
            );
        }
        let now = start() + TimeDelta::seconds(14);
        let filtered = ListConfig {
            total_count: TotalCount::Filtered,
            ..ListConfig::default()
        };
        // Jobs 0..=4 completed, 5..=9 in progress.
        let (page, total) = store.list(0, now, Some(JobStatus::Completed), 1, 2, &filtered);
        assert_eq!((page.len(), total), (2, Some(5)));
        let (page, total) = store.list(0, now, Some(JobStatus::Completed), 7, 2, &filtered);
        assert_eq!((page.len(), total), (0, Some(5)));
        let (_, total) = store.list(
            0,
            now,
            Some(JobStatus::Completed),
            0,
            2,
            &ListConfig::default(),
        );
        assert_eq!(total, Some(10));
        for (mode, want) in [(TotalCount::Missing, None), (TotalCount::Zero, Some(0))] {
            let list = ListConfig {
                total_count: mode,
                ..ListConfig::default()
            };
            let (page, total) = store.list(0, now, Some(JobStatus::Completed), 0, 2, &list);
            assert_eq!((page.len(), total), (2, want), "{mode:?}");
            let (_, total) = store.list(0, now, None, 0, 2, &list);
            assert_eq!(total, want, "{mode:?}");
        }
    }
}

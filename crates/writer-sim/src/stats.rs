//! Statistics of what clients did to the simulator: for tests (did the
//! client create each row exactly once?) and benchmarks (how many requests
//! did it take?).

use std::collections::BTreeMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use writer_api::types::JobInput;

use crate::faults::{FaultKind, Operation};
use crate::output::input_key;

/// A snapshot of the simulator's counters (also served as JSON at
/// `GET /_sim/stats`). Requests to `/_sim/*` are not counted.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Every API request received, answered or not.
    pub total_requests: u64,
    /// Requests by operation (`create`, `get`, `list`, `retry`, `run`, `app`, `other`).
    pub by_operation: BTreeMap<String, u64>,
    /// Answered requests by HTTP status code.
    pub by_status: BTreeMap<u16, u64>,
    /// Answered requests by operation, then status code.
    pub by_operation_status: BTreeMap<String, BTreeMap<u16, u64>>,
    /// Jobs that clients created (creates that got as far as creating the
    /// job, including those whose answer a fault then dropped).
    pub jobs_created: u64,
    /// Accepted retries of failed jobs.
    pub retries: u64,
    /// Jobs that background tenants created (not counted in `jobs_created`).
    pub tenant_jobs_created: u64,
    /// Jobs created per input set by create requests (origin `create`;
    /// retries answering a new id and other tenants are not counted),
    /// keyed by [`input_key`]: a count above 1 means the same row was
    /// submitted more than once.
    pub created_by_inputs: BTreeMap<String, u64>,
    /// Requests refused by the rate limit (not counting injected 429 bursts).
    pub rate_limited: u64,
    /// Injected faults by kind name (see [`FaultKind::as_str`]), including
    /// outage answers as `outage_503` and `outage_reset`.
    pub faults: BTreeMap<String, u64>,
    /// Connections closed without a response.
    pub connections_dropped: u64,
    /// Jobs that retries answering a new id made (origin `retry`; not
    /// counted in `jobs_created` nor in `created_by_inputs`).
    #[serde(default)]
    pub retry_jobs_created: u64,
    /// For every input set ([`input_key`]) that a create or a retry used:
    /// its jobs by origin (`create`, `retry`, `tenant`). Counts the jobs
    /// that exist, so [`reset_stats`](crate::Simulator::reset_stats) does
    /// not clear it. Its `create` counts equal `created_by_inputs`; a test
    /// checks "no input set has more jobs from creates than rows with those
    /// inputs" on them, telling retries with new ids and other tenants apart.
    #[serde(default)]
    pub jobs_by_input_set: BTreeMap<String, OriginCounts>,
    /// Jobs created per input set by create requests only (origin
    /// `create`; the same numbers as `created_by_inputs`, under the name
    /// that says so).
    #[serde(default)]
    pub creates_per_input_set: BTreeMap<String, u64>,
}

/// How many jobs of one input set came from each origin (see
/// [`JobOrigin`](crate::JobOrigin)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OriginCounts {
    /// Made by create requests.
    pub create: u64,
    /// Made by retries answering a new id.
    pub retry: u64,
    /// Other tenants' jobs (background load and pre-filled ones).
    pub tenant: u64,
}

impl Stats {
    /// How many jobs clients created for application `app_id` (its id, not
    /// an alias) with exactly these inputs (in any order).
    pub fn created_for(&self, app_id: &str, inputs: &[JobInput]) -> u64 {
        self.created_by_inputs
            .get(&input_key(app_id, inputs))
            .copied()
            .unwrap_or(0)
    }

    /// Jobs created beyond the first for their input set: the duplicates.
    pub fn duplicate_creates(&self) -> u64 {
        self.created_by_inputs
            .values()
            .map(|n| n.saturating_sub(1))
            .sum()
    }

    /// Requests received for one operation.
    pub fn requests(&self, op: Operation) -> u64 {
        self.by_operation.get(op.as_str()).copied().unwrap_or(0)
    }

    /// Responses with one status code.
    pub fn status(&self, code: u16) -> u64 {
        self.by_status.get(&code).copied().unwrap_or(0)
    }

    /// Faults of one kind injected.
    pub fn faults_of(&self, kind: FaultKind) -> u64 {
        self.faults.get(kind.as_str()).copied().unwrap_or(0)
    }
}

/// One API request as the simulator received it, in the order they
/// arrived: what a benchmark needs to tell which requests went where and
/// when (see [`Simulator::request_log`](crate::Simulator::request_log)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestRecord {
    /// Simulated time when the request arrived.
    pub at: DateTime<Utc>,
    /// Its operation.
    pub op: Operation,
    /// The status answered; `None` while unanswered, or when the
    /// connection was closed without a response.
    pub status: Option<u16>,
    /// For a create that made a job: that job's `created_at`, even when
    /// its answer never reached the client (what lets a benchmark tell a
    /// lost answer from a create that made nothing).
    pub made_job_at: Option<DateTime<Utc>>,
    /// For a list request answered with a page: the page it asked for
    /// (what lets a benchmark send the same pages again).
    pub list_page: Option<ListPage>,
    /// The length of the answer's body in bytes, when it was answered
    /// with a body of known length (every answer of the API's routes):
    /// what lets a benchmark check that requests sent again were answered
    /// as much as the first time.
    pub answer_bytes: Option<u64>,
}

/// The page a list request asked for, as the simulator served it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListPage {
    /// How many jobs it skipped.
    pub offset: u64,
    /// The page size used (the one asked for, or the default, clamped to
    /// the maximum).
    pub limit: u64,
    /// The status filter, if any.
    pub status: Option<crate::JobStatus>,
}

/// The live counters behind [`Stats`], and the request log when it is kept.
#[derive(Debug, Default)]
pub(crate) struct StatsCollector {
    inner: Mutex<Stats>,
    /// `Some` when the log is kept (off by default: it grows with every
    /// request).
    log: Option<Mutex<Vec<RequestRecord>>>,
}

/// Where a request's record is in the log, to fill in its answer (and, for
/// a create, the job it made: the handler finds it in the request's
/// extensions).
#[derive(Debug, Clone, Copy)]
pub(crate) struct LogSlot(Option<usize>);

impl StatsCollector {
    /// Counters, and a log of every request when `log` is true.
    pub(crate) fn new(log: bool) -> Self {
        Self {
            inner: Mutex::default(),
            log: log.then(Mutex::default),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut Stats) -> R) -> R {
        let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }

    fn with_log<R>(&self, f: impl FnOnce(&mut Vec<RequestRecord>) -> R) -> Option<R> {
        let log = self.log.as_ref()?;
        let mut guard = log.lock().unwrap_or_else(|p| p.into_inner());
        Some(f(&mut guard))
    }

    /// Fills in the record in `slot`, when the log is kept.
    fn update(&self, slot: LogSlot, f: impl FnOnce(&mut RequestRecord)) {
        if let LogSlot(Some(i)) = slot {
            self.with_log(|log| {
                if let Some(record) = log.get_mut(i) {
                    f(record);
                }
            });
        }
    }

    pub(crate) fn request(&self, op: Operation, at: DateTime<Utc>) -> LogSlot {
        self.with(|s| {
            s.total_requests += 1;
            *s.by_operation.entry(op.as_str().to_string()).or_default() += 1;
        });
        LogSlot(self.with_log(|log| {
            log.push(RequestRecord {
                at,
                op,
                status: None,
                made_job_at: None,
                list_page: None,
                answer_bytes: None,
            });
            log.len() - 1
        }))
    }

    /// The request in `slot` was answered `status`, with a body of
    /// `bytes` when its length is known.
    pub(crate) fn response(&self, op: Operation, status: u16, bytes: Option<u64>, slot: LogSlot) {
        self.update(slot, |record| {
            record.status = Some(status);
            record.answer_bytes = bytes;
        });
        self.with(|s| {
            *s.by_status.entry(status).or_default() += 1;
            *s.by_operation_status
                .entry(op.as_str().to_string())
                .or_default()
                .entry(status)
                .or_default() += 1;
        });
    }

    /// The request in `slot` made a job created at `at`.
    pub(crate) fn made_job(&self, slot: LogSlot, at: DateTime<Utc>) {
        self.update(slot, |record| record.made_job_at = Some(at));
    }

    /// The request in `slot` was answered with the page `page`.
    pub(crate) fn listed(&self, slot: LogSlot, page: ListPage) {
        self.update(slot, |record| record.list_page = Some(page));
    }

    pub(crate) fn dropped(&self) {
        self.with(|s| s.connections_dropped += 1);
    }

    pub(crate) fn fault(&self, name: &str) {
        self.with(|s| *s.faults.entry(name.to_string()).or_default() += 1);
    }

    pub(crate) fn rate_limited(&self) {
        self.with(|s| s.rate_limited += 1);
    }

    pub(crate) fn created(&self, key: String) {
        self.with(|s| {
            s.jobs_created += 1;
            *s.created_by_inputs.entry(key).or_default() += 1;
        });
    }

    /// An accepted retry; `new_job` when it made a new job.
    pub(crate) fn retried(&self, new_job: bool) {
        self.with(|s| {
            s.retries += 1;
            if new_job {
                s.retry_jobs_created += 1;
            }
        });
    }

    pub(crate) fn snapshot(
        &self,
        tenant_jobs_created: u64,
        jobs_by_input_set: BTreeMap<String, OriginCounts>,
    ) -> Stats {
        let mut stats = self.with(|s| s.clone());
        stats.tenant_jobs_created = tenant_jobs_created;
        stats.jobs_by_input_set = jobs_by_input_set;
        stats.creates_per_input_set = stats.created_by_inputs.clone();
        stats
    }

    /// The request log so far (empty when it is not kept).
    pub(crate) fn log(&self) -> Vec<RequestRecord> {
        self.with_log(|log| log.clone()).unwrap_or_default()
    }

    pub(crate) fn reset(&self) {
        self.with(|s| *s = Stats::default());
        self.with_log(Vec::clear);
    }
}

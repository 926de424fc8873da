//! What goes into a batch and what comes out of it: a [`Row`] (a key and
//! its inputs) in, one [`Outcome`] per row out, saying what happened
//! ([`OutcomeResult`]) and which job did it. These are the types a consumer
//! of a batch stores and matches on; outcomes are also what the journal
//! records, hence their serde shape.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::{Inputs, Output};

/// One input row: its identity is its key, not its inputs (two rows may
/// carry the same inputs and get a job each).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
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
    /// The job that produced the outcome, when there is one; for a row
    /// left ambiguous by a retry whose answer was lost, the job retried
    /// (the retry's own job, if it made one, is among the candidates).
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
#[non_exhaustive]
pub enum OutcomeResult {
    /// The job completed with this output.
    #[non_exhaustive]
    Completed {
        /// The generated output.
        output: Output,
    },
    /// The job failed (after any job-level retries).
    #[non_exhaustive]
    Failed {
        /// The server's error message.
        error: String,
    },
    /// The create's outcome is unknown: a job may or may not exist. Never
    /// resent unless the batch was told to ([`AmbiguousPolicy::Resend`](super::AmbiguousPolicy::Resend)).
    #[non_exhaustive]
    Ambiguous {
        /// What went wrong.
        reason: String,
        /// Jobs created in the create's time window that no row claims:
        /// one of them may be this row's.
        candidates: Vec<String>,
    },
    /// The server refused to create the job (e.g. invalid inputs), or the
    /// row did not pass validation; nothing was created.
    #[non_exhaustive]
    Rejected {
        /// Why.
        error: String,
        /// The HTTP status, when the server answered.
        http_status: Option<u16>,
    },
    /// The job did not finish within the poll policy's deadline; it may
    /// still finish (`writer-jobs wait JOB_ID`).
    #[non_exhaustive]
    TimedOut {
        /// How long the batch waited, in seconds.
        waited_secs: u64,
    },
}

impl OutcomeResult {
    /// [`OutcomeResult::Completed`] with this output.
    pub fn completed(output: Output) -> Self {
        Self::Completed { output }
    }

    /// [`OutcomeResult::Failed`] with the server's error message.
    pub fn failed(error: impl Into<String>) -> Self {
        Self::Failed {
            error: error.into(),
        }
    }

    /// [`OutcomeResult::Ambiguous`]: why, and the candidate job ids.
    pub fn ambiguous(reason: impl Into<String>, candidates: Vec<String>) -> Self {
        Self::Ambiguous {
            reason: reason.into(),
            candidates,
        }
    }

    /// [`OutcomeResult::Rejected`]: why, and the HTTP status when the
    /// server answered.
    pub fn rejected(error: impl Into<String>, http_status: Option<u16>) -> Self {
        Self::Rejected {
            error: error.into(),
            http_status,
        }
    }

    /// [`OutcomeResult::TimedOut`] after waiting `waited_secs` seconds.
    pub fn timed_out(waited_secs: u64) -> Self {
        Self::TimedOut { waited_secs }
    }

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

//! The types users see: jobs, their status and output, inputs, pages and
//! applications.
//!
//! They are converted from `writer-api`'s generated wire types in one place
//! (`model/convert.rs`). Values a newer server may extend (a job's status, an
//! input's type) map to `#[non_exhaustive]` enums with an `Unknown(String)`
//! variant, so a new value never breaks decoding.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

mod application;
pub(crate) mod convert;
mod inputs;

pub use application::{Application, InputDef, InputOptions, InputType, validate_inputs};
pub use inputs::Inputs;

/// An asynchronous job and, once finished, its output or error.
///
/// Its serde form is the wire form of the spec's `Job` (the output is
/// `data`), so a job read from or written to JSON means the same everywhere.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Job {
    /// The job's id (an opaque string).
    pub id: String,
    /// Where the job is in its life.
    pub status: JobStatus,
    /// The application the job runs.
    pub application_id: String,
    /// When the job was created.
    pub created_at: DateTime<Utc>,
    /// When the job last changed.
    pub updated_at: Option<DateTime<Utc>>,
    /// When the job finished.
    pub completed_at: Option<DateTime<Utc>>,
    /// The result, once `completed` (`data` on the wire).
    #[serde(rename = "data")]
    pub output: Option<Output>,
    /// Why it failed, once `failed`.
    pub error: Option<String>,
}

impl Job {
    /// A job with no times but its creation, no output and no error (set
    /// the public fields for more): for tests of code that handles jobs.
    pub fn new(
        id: impl Into<String>,
        status: JobStatus,
        application_id: impl Into<String>,
        created_at: DateTime<Utc>,
    ) -> Self {
        Self {
            id: id.into(),
            status,
            application_id: application_id.into(),
            created_at,
            updated_at: None,
            completed_at: None,
            output: None,
            error: None,
        }
    }

    /// The generated text of a completed job (what
    /// [`create_and_wait`](crate::Jobs::create_and_wait) and
    /// [`Wait`](crate::Wait) return), or `""` while the job has no output.
    ///
    /// ```no_run
    /// # async fn demo(client: writer_jobs::Client, inputs: writer_jobs::Inputs) -> writer_jobs::Result<()> {
    /// let job = client.jobs("my-app-id").create_and_wait(&inputs).await?;
    /// println!("{}", job.suggestion());
    /// # Ok(()) }
    /// ```
    pub fn suggestion(&self) -> &str {
        self.output.as_ref().map_or("", |o| o.suggestion.as_str())
    }

    /// The name of the output field, when the job has output and the
    /// application names it.
    pub fn title(&self) -> Option<&str> {
        self.output.as_ref()?.title.as_deref()
    }
}

/// A job's status. Unknown values from a newer server are kept, not refused.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum JobStatus {
    /// `in_progress`: still running.
    InProgress,
    /// `completed`: the output is ready.
    Completed,
    /// `failed`: see the job's `error`; it may be retried.
    Failed,
    /// A value this client does not know; treated as unfinished.
    Unknown(String),
}

impl JobStatus {
    /// `true` for `completed` and `failed`; an unknown status is unfinished.
    pub fn is_finished(&self) -> bool {
        matches!(self, Self::Completed | Self::Failed)
    }

    /// The wire string (`in_progress`, `completed`, `failed`, or the unknown value).
    pub fn as_str(&self) -> &str {
        match self {
            Self::InProgress => "in_progress",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Unknown(s) => s,
        }
    }
}

impl From<&str> for JobStatus {
    fn from(s: &str) -> Self {
        match s {
            "in_progress" => Self::InProgress,
            "completed" => Self::Completed,
            "failed" => Self::Failed,
            other => Self::Unknown(other.to_string()),
        }
    }
}

impl From<String> for JobStatus {
    fn from(s: String) -> Self {
        match JobStatus::from(s.as_str()) {
            Self::Unknown(_) => Self::Unknown(s),
            known => known,
        }
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for JobStatus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for JobStatus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(JobStatus::from(String::deserialize(d)?))
    }
}

/// The status filter of a job listing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum StatusFilter {
    /// Only jobs still running.
    InProgress,
    /// Only completed jobs.
    Completed,
    /// Only failed jobs.
    Failed,
}

impl StatusFilter {
    /// The wire string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InProgress => "in_progress",
            Self::Completed => "completed",
            Self::Failed => "failed",
        }
    }
}

/// What a completed job (or a synchronous run) generated.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Output {
    /// The name of the output field, if the application gives one.
    pub title: Option<String>,
    /// The generated content.
    pub suggestion: String,
}

impl Output {
    /// An output with this text and, when the application names it, title.
    pub fn new(title: Option<String>, suggestion: impl Into<String>) -> Self {
        Self {
            title,
            suggestion: suggestion.into(),
        }
    }
}

/// The answer to a create: the new job's id and first status.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CreatedJob {
    /// The new job's id (from `id`, or `job_id` as Writer's guide names it).
    pub id: String,
    /// Its status (normally `in_progress`).
    pub status: JobStatus,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

impl CreatedJob {
    /// The answer to a create, as a server would give it.
    pub fn new(id: impl Into<String>, status: JobStatus, created_at: DateTime<Utc>) -> Self {
        Self {
            id: id.into(),
            status,
            created_at,
        }
    }
}

/// The answer to a retry: follow its `id`, which may name a new job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RetriedJob {
    /// The id of the job that now runs.
    pub id: String,
    /// Its status.
    pub status: JobStatus,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

impl RetriedJob {
    /// The answer to a retry, as a server would give it.
    pub fn new(id: impl Into<String>, status: JobStatus, created_at: DateTime<Utc>) -> Self {
        Self {
            id: id.into(),
            status,
            created_at,
        }
    }
}

/// One page of an application's jobs (newest first).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct JobPage {
    /// The jobs on this page.
    pub jobs: Vec<Job>,
    /// The server's `totalCount`; it may ignore the status filter, so do not
    /// page by it alone.
    pub total_count: Option<u64>,
    /// The offset of this page (as the server reported it, else as asked).
    pub offset: u64,
    /// The page size the server used (as it reported it, else as asked; 50
    /// when neither said).
    pub limit: u64,
}

impl JobPage {
    /// A page of `jobs` at `offset` with page size `limit`, without a
    /// `totalCount` (set [`total_count`](Self::total_count) for one).
    pub fn new(jobs: Vec<Job>, offset: u64, limit: u64) -> Self {
        Self {
            jobs,
            total_count: None,
            offset,
            limit,
        }
    }

    /// Whether this page, asked for at `offset` of an unfiltered list,
    /// surely is the last: it is empty, or it reaches the server's
    /// `totalCount`. A short page alone is no proof (servers may cut pages
    /// before the end), nor is a missing or zero `totalCount`.
    pub fn is_last(&self, offset: u64) -> bool {
        let n = self.jobs.len() as u64;
        n == 0 || matches!(self.total_count, Some(total) if total > 0 && offset + n >= total)
    }
}

/// The parameters of one `list_jobs` request: `ListQuery::default()` (all
/// statuses, offset 0, the server's page size), then the setters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListQuery {
    /// Only jobs with this status.
    pub status: Option<StatusFilter>,
    /// How many jobs to skip.
    pub offset: u64,
    /// The page size to ask for (the server's default, 50, when `None`).
    pub limit: Option<u64>,
}

impl ListQuery {
    /// Only jobs with this status.
    pub fn with_status(mut self, status: StatusFilter) -> Self {
        self.status = Some(status);
        self
    }

    /// Skip this many jobs.
    pub fn with_offset(mut self, offset: u64) -> Self {
        self.offset = offset;
        self
    }

    /// Ask for this page size.
    pub fn with_limit(mut self, limit: u64) -> Self {
        self.limit = Some(limit);
        self
    }
}

/// The page size the API uses when none is given.
pub const DEFAULT_PAGE_SIZE: u64 = 50;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jobs_output_without_an_option_dance() {
        let mut job = Job::new("j", JobStatus::InProgress, "app", Utc::now());
        assert_eq!(job.suggestion(), "");
        assert_eq!(job.title(), None);
        job.status = JobStatus::Completed;
        job.output = Some(Output::new(Some("Post".into()), "Hello"));
        assert_eq!(job.suggestion(), "Hello");
        assert_eq!(job.title(), Some("Post"));
    }

    #[test]
    fn unknown_statuses_are_kept_and_unfinished() {
        let s = JobStatus::from("queued");
        assert_eq!(s, JobStatus::Unknown("queued".into()));
        assert!(!s.is_finished());
        assert_eq!(s.as_str(), "queued");
        assert!(JobStatus::from("failed").is_finished());
        assert!(JobStatus::from("completed").is_finished());
        assert!(!JobStatus::from("in_progress").is_finished());
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(json, "\"queued\"");
        let back: JobStatus = serde_json::from_str("\"in_progress\"").unwrap();
        assert_eq!(back, JobStatus::InProgress);
    }
}

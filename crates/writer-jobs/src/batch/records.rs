//! The journal's records: one JSON line each (see [`super::journal`] for
//! the file and the order the engine writes them in).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Outcome;

/// A user's decision on an ambiguous row (format 3).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Decision {
    /// The row's job is this one: the row follows it (and its outcome is
    /// the job's once it has finished).
    #[non_exhaustive]
    Adopted {
        /// The adopted job.
        job_id: String,
    },
    /// The row is to be created again: the next resumed run sends one new
    /// create for it.
    Resend,
    /// The row stays ambiguous, and no run acts on it again.
    GaveUp,
}

impl std::fmt::Display for Decision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Adopted { job_id } => {
                write!(f, "adopted job {job_id}; the next --resume waits for it")
            }
            Self::Resend => f.write_str("to be sent again by the next --resume"),
            Self::GaveUp => f.write_str("given up: it stays ambiguous"),
        }
    }
}

/// What a journal belongs to; a resume must match it exactly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Binding {
    /// The API's base URL.
    pub base_url: String,
    /// The application id.
    pub app_id: String,
    /// Whether the run talks to a simulator (its results are not real).
    pub simulated: bool,
}

/// One line of the journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum Record {
    /// The first line: what the journal is bound to.
    Header {
        /// Journal format version.
        version: u32,
        /// The binding.
        #[serde(flatten)]
        binding: Binding,
        /// When the journal was started.
        started_at: DateTime<Utc>,
        /// Whether the run that wrote this header was declared the only
        /// client creating jobs on the application while it ran
        /// (`Batch::exclusive_application`; format 5). `None` on a header
        /// no run wrote (`writer-jobs resolve` upgrading an older journal:
        /// it sends no create) and on the headers of older formats; both
        /// count as not exclusive.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exclusive: Option<bool>,
    },
    /// A row is about to be created (written before the request is sent).
    Intent {
        /// The row's key.
        key: String,
        /// The row's index in the input.
        seq: u64,
        /// The fingerprint of the row's inputs.
        fp: String,
        /// Client clock time when the create was about to be sent.
        at: DateTime<Utc>,
    },
    /// The row's latest create was not sent (format 6): its task started
    /// more than the send delay after the intent, so it never went on the
    /// wire. A resumed run forgets that intent (its window would hold
    /// other creates' jobs, and the row is not ambiguous).
    Unsent {
        /// The row's key.
        key: String,
    },
    /// The server created the row's job.
    Created {
        /// The row's key.
        key: String,
        /// The job id.
        job_id: String,
        /// When the server says it created the job.
        created_at: Option<DateTime<Utc>>,
        /// Client clock time the create's answer arrived (format 2): with
        /// the intent's time and `created_at` it bounds the offset between
        /// the server's clock and ours, which a resumed run needs before it
        /// judges any window.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        received_at: Option<DateTime<Utc>>,
    },
    /// A failed job's retry is about to be sent (written before the send,
    /// format 2): a retry answered with a new id whose answer is lost makes
    /// a job of the batch's that no row knows, and a resumed run must not
    /// let another row adopt it.
    RetryIntent {
        /// The row's key.
        key: String,
        /// The failed job being retried.
        from: String,
        /// Steady-clock time the retry was about to be sent.
        at: DateTime<Utc>,
    },
    /// The row's latest job-level retry was not sent (format 6), as
    /// [`Record::Unsent`] for a create: a resumed run forgets its intent.
    RetryUnsent {
        /// The row's key.
        key: String,
    },
    /// A failed job was retried; follow `job_id` from now on.
    Retried {
        /// The row's key.
        key: String,
        /// The id the retry answered with (maybe a new job).
        job_id: String,
        /// The failed job's id.
        from: String,
    },
    /// A create's outcome is unknown (it may or may not have made a job).
    Ambiguous {
        /// The row's key.
        key: String,
        /// Client clock time the create was sent.
        since: DateTime<Utc>,
        /// Client clock time the failure was seen.
        until: DateTime<Utc>,
        /// What went wrong.
        reason: String,
    },
    /// The row's final outcome.
    Done {
        /// The outcome.
        outcome: Outcome,
    },
    /// The user adopted a job for an ambiguous row (format 3): the row
    /// follows it from now on. A `done` record follows at once when the
    /// job had finished; otherwise the next resumed run waits for it.
    Adopted {
        /// The row's key.
        key: String,
        /// The adopted job.
        job_id: String,
        /// Client clock time of the decision.
        at: DateTime<Utc>,
    },
    /// The user asked for an ambiguous row to be created again (format 3):
    /// the next resumed run sends one new create for it (with a new
    /// intent), and forgets the earlier creates' windows.
    Resend {
        /// The row's key.
        key: String,
        /// Creates sent for the row before the decision: the new create
        /// counts on from there (and the bound on a row's creates holds).
        #[serde(default)]
        creates: u32,
        /// Client clock time of the decision.
        at: DateTime<Utc>,
    },
    /// The user gave up on an ambiguous row (format 3): it stays
    /// ambiguous, decided; no run acts on it again.
    GaveUp {
        /// The row's key.
        key: String,
        /// Client clock time of the decision.
        at: DateTime<Utc>,
    },
}

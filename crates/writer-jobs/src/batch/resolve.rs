//! Deciding ambiguous rows after a run: the user's word where timing
//! cannot tell a row's job from another client's.
//!
//! A [`Resolution`] opens a batch's journal (locked, so no run can use it
//! meanwhile), lists the rows whose outcome is ambiguous with their
//! candidate jobs, and records the user's decision on each as a journal
//! record:
//!
//! - [`adopt`](Resolution::adopt): the row's job is one of its candidates.
//!   Applied at once: a finished job's outcome becomes the row's (a `done`
//!   record follows); a running one is waited for by the next resumed run.
//! - [`resend`](Resolution::resend): the row is created again by the next
//!   resumed run (one new create; at least once: if a candidate was the
//!   row's job after all, the row now has two).
//! - [`give_up`](Resolution::give_up): the row stays ambiguous, marked
//!   decided; no run acts on it again.
//!
//! ```no_run
//! # async fn demo(client: writer_jobs::Client) -> Result<(), Box<dyn std::error::Error>> {
//! use writer_jobs::batch::Resolution;
//!
//! let mut resolution = Resolution::open("products.journal".as_ref())?;
//! for row in resolution.rows() {
//!     println!("{}: {:?}", row.key, row.candidates);
//! }
//! resolution.resend("sku-17")?;
//! let outcome = resolution.adopt(&client, "sku-42", "job-id-from-the-candidates").await?;
//! # Ok(()) }
//! ```

use crate::batch::{HashMap, HashMapExt};
use std::path::Path;

use chrono::Utc;

use super::journal::{Binding, Decision, Durability, Journal, JournalError, Record};
use super::{Outcome, OutcomeResult};
use crate::Client;
use crate::model::{Job, JobStatus, Output};

/// An ambiguous row of a batch, as its journal holds it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct AmbiguousRow {
    /// The row's key.
    pub key: String,
    /// The row's index in the input.
    pub seq: u64,
    /// Why its create's outcome is unknown.
    pub reason: String,
    /// Jobs that may be the row's (created in its create's window, owned by
    /// no row).
    pub candidates: Vec<String>,
    /// The user's decision, while it is not yet carried out (adopted job
    /// still running, resend not yet sent) or for good (given up).
    pub decision: Option<Decision>,
    /// The ambiguous outcome the run reported.
    pub outcome: Outcome,
}

/// Why a decision was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResolveError {
    /// The journal could not be used (missing, locked, damaged).
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The journal has no row with this key.
    #[error("no row `{key}` in the journal: the batch never sent it")]
    #[non_exhaustive]
    UnknownKey {
        /// The key.
        key: String,
    },
    /// The row's outcome is not ambiguous.
    #[error("row `{key}` is not ambiguous (it is {status}); only ambiguous rows are resolved")]
    #[non_exhaustive]
    NotAmbiguous {
        /// The key.
        key: String,
        /// Its outcome's status, or where it stands.
        status: String,
    },
    /// The row was decided already.
    #[error("row `{key}` was decided already ({decision})")]
    #[non_exhaustive]
    Decided {
        /// The key.
        key: String,
        /// The decision, in words.
        decision: String,
    },
    /// The job is not among the row's candidates.
    #[error(
        "job {job_id} is not a candidate of row `{key}` (its candidates: {})",
        if candidates.is_empty() { "none".to_string() } else { candidates.join(", ") }
    )]
    #[non_exhaustive]
    NotACandidate {
        /// The key.
        key: String,
        /// The job asked for.
        job_id: String,
        /// The row's candidates.
        candidates: Vec<String>,
    },
    /// Another row of the batch owns the job.
    #[error("job {job_id} belongs to row `{owner}`, so it cannot be row `{key}`'s")]
    #[non_exhaustive]
    Owned {
        /// The key.
        key: String,
        /// The job asked for.
        job_id: String,
        /// The row that owns it.
        owner: String,
    },
    /// The job could not be fetched.
    #[error("cannot fetch job {job_id}")]
    #[non_exhaustive]
    Fetch {
        /// The job.
        job_id: String,
        /// Why.
        #[source]
        source: crate::Error,
    },
}

/// A batch's journal opened to decide its ambiguous rows (see the module
/// docs). Holds the journal's lock until dropped.
#[derive(Debug)]
pub struct Resolution {
    journal: Journal,
    binding: Binding,
    version: u32,
    rows: Vec<AmbiguousRow>,
    /// Jobs rows of the batch own (their own, or replaced by a retry), by
    /// job id: the row's key.
    owners: HashMap<String, String>,
    /// Every key the journal knows, with its outcome's status (`None`: no
    /// outcome yet).
    known: HashMap<String, Option<String>>,
    /// Outcomes of rows whose adopted job has finished.
    settled: Vec<Outcome>,
}

impl Resolution {
    /// Opens and locks the journal at `path` (refused while a run holds
    /// it) and reads its ambiguous rows.
    pub fn open(path: &Path) -> Result<Self, ResolveError> {
        // Decisions are few: each is flushed to disk.
        let (journal, state) = Journal::open_existing(path, Durability::Fsync)?;
        let binding = state.binding.clone().expect("read without a binding");
        let mut rows = Vec::new();
        let mut owners = HashMap::new();
        let mut known = HashMap::new();
        let mut settled = Vec::new();
        for (key, row) in &state.rows {
            // The latest outcome; for a decision not yet carried out, the
            // ambiguous one it was made on.
            let offset = match (row.done_at, &row.decision) {
                (Some(offset), _) => Some(offset),
                (None, Some(Decision::Adopted { .. } | Decision::Resend)) => row.superseded_at,
                _ => None,
            };
            let latest = offset.map(|o| journal.read_outcome(o)).transpose()?;
            let status = match (&row.done_at, &row.decision) {
                (Some(_), _) => latest.as_ref().map(|o| o.result.name().to_string()),
                (None, Some(decision)) => Some(decision.to_string()),
                (None, None) => None,
            };
            known.insert(key.clone(), status);
            if let (Some(Decision::Adopted { .. }), Some(_), Some(outcome)) =
                (&row.decision, row.done_at, &latest)
            {
                settled.push(outcome.clone());
            }
            let ambiguous = latest.filter(|o| matches!(o.result, OutcomeResult::Ambiguous { .. }));
            match ambiguous {
                Some(outcome) => {
                    let OutcomeResult::Ambiguous { reason, candidates } = &outcome.result else {
                        unreachable!("matched above")
                    };
                    rows.push(AmbiguousRow {
                        key: key.clone(),
                        seq: outcome.seq,
                        reason: reason.clone(),
                        candidates: candidates.clone(),
                        decision: row.decision.clone(),
                        outcome,
                    });
                }
                None => {
                    if let Some(job_id) = &row.job_id {
                        owners.insert(job_id.clone(), key.clone());
                    }
                }
            }
        }
        for job_id in &state.replaced_jobs {
            owners
                .entry(job_id.clone())
                .or_insert_with(|| "(replaced by a retry)".to_string());
        }
        // An ambiguous row's own journal entry may name a job another row
        // owns (two rows answered with one id): adopted rows own theirs.
        for row in &rows {
            if let Some(Decision::Adopted { job_id }) = &row.decision {
                owners.insert(job_id.clone(), row.key.clone());
            }
        }
        rows.sort_by_key(|r| r.seq);
        Ok(Self {
            journal,
            binding,
            version: state.version,
            rows,
            owners,
            known,
            settled,
        })
    }

    /// The application the batch ran.
    pub fn app_id(&self) -> &str {
        &self.binding.app_id
    }

    /// Checks that the endpoint a caller fetches jobs from (its base URL,
    /// and whether it is a simulator) is the one the journal was written
    /// for.
    pub fn check_endpoint(&self, base_url: &str, simulated: bool) -> Result<(), ResolveError> {
        let run = Binding {
            base_url: base_url.to_string(),
            app_id: self.binding.app_id.clone(),
            simulated,
        };
        Ok(self.journal.check_binding(&self.binding, &run)?)
    }

    /// The ambiguous rows, in input order: undecided, decided but not yet
    /// carried out, and given up.
    pub fn rows(&self) -> &[AmbiguousRow] {
        &self.rows
    }

    /// The outcomes of rows adopted by a decision whose job has finished
    /// (those adopted by this `Resolution` too): what a results file kept
    /// beside the journal must show for them.
    pub fn settled(&self) -> &[Outcome] {
        &self.settled
    }

    /// The journal's path.
    pub fn path(&self) -> &Path {
        self.journal.path()
    }

    /// Checks that `job_id` may be adopted for `key`: the row is ambiguous
    /// and undecided, the job is among its candidates, and no other row
    /// owns it. Nothing is fetched or written.
    pub fn check_adopt(&self, key: &str, job_id: &str) -> Result<(), ResolveError> {
        let row = self.undecided(key)?;
        if let Some(owner) = self.owners.get(job_id).filter(|o| *o != key) {
            return Err(ResolveError::Owned {
                key: key.to_string(),
                job_id: job_id.to_string(),
                owner: owner.clone(),
            });
        }
        if !row.candidates.iter().any(|c| c == job_id) {
            return Err(ResolveError::NotACandidate {
                key: key.to_string(),
                job_id: job_id.to_string(),
                candidates: row.candidates.clone(),
            });
        }
        Ok(())
    }

    /// Adopts `job_id` as row `key`'s job (after [`Self::check_adopt`]),
    /// fetching it with `client`. A finished job's outcome becomes the
    /// row's at once and is returned; a running one's is `None` (the next
    /// resumed run waits for it).
    pub async fn adopt(
        &mut self,
        client: &Client,
        key: &str,
        job_id: &str,
    ) -> Result<Option<Outcome>, ResolveError> {
        self.check_adopt(key, job_id)?;
        let job = client
            .get_job(job_id)
            .await
            .map_err(|source| ResolveError::Fetch {
                job_id: job_id.to_string(),
                source,
            })?;
        self.adopt_job(key, &job)
    }

    /// [`Self::adopt`] with the job already fetched.
    pub fn adopt_job(&mut self, key: &str, job: &Job) -> Result<Option<Outcome>, ResolveError> {
        self.check_adopt(key, &job.id)?;
        let now = Utc::now();
        let result = match &job.status {
            JobStatus::Completed => Some(OutcomeResult::Completed {
                output: job.output.clone().unwrap_or(Output {
                    title: None,
                    suggestion: String::new(),
                }),
            }),
            JobStatus::Failed => Some(OutcomeResult::Failed {
                error: job
                    .error
                    .clone()
                    .unwrap_or_else(|| "the job failed without a message".into()),
            }),
            _ => None,
        };
        self.upgrade()?;
        self.journal.append(&Record::Adopted {
            key: key.to_string(),
            job_id: job.id.clone(),
            at: now,
        })?;
        self.owners.insert(job.id.clone(), key.to_string());
        let index = self.index(key);
        let row = &mut self.rows[index];
        let Some(result) = result else {
            row.decision = Some(Decision::Adopted {
                job_id: job.id.clone(),
            });
            return Ok(None);
        };
        let outcome = Outcome {
            job_id: Some(job.id.clone()),
            result,
            attempts: 1,
            created_at: Some(job.created_at),
            finished_at: job.completed_at.or(job.updated_at),
            observed_at: now,
            replayed: false,
            ..row.outcome.clone()
        };
        self.journal.append(&Record::Done {
            outcome: outcome.clone(),
        })?;
        self.known
            .insert(key.to_string(), Some(outcome.result.name().to_string()));
        self.rows.remove(index);
        self.settled.push(outcome.clone());
        Ok(Some(outcome))
    }

    /// Decides that row `key` is created again by the next resumed run.
    pub fn resend(&mut self, key: &str) -> Result<(), ResolveError> {
        let creates = self.undecided(key)?.outcome.creates;
        self.decide(
            key,
            Record::Resend {
                key: key.to_string(),
                creates,
                at: Utc::now(),
            },
            Decision::Resend,
        )
    }

    /// Decides that row `key` stays ambiguous, for good.
    pub fn give_up(&mut self, key: &str) -> Result<(), ResolveError> {
        self.undecided(key)?;
        self.decide(
            key,
            Record::GaveUp {
                key: key.to_string(),
                at: Utc::now(),
            },
            Decision::GaveUp,
        )
    }

    fn decide(
        &mut self,
        key: &str,
        record: Record,
        decision: Decision,
    ) -> Result<(), ResolveError> {
        self.upgrade()?;
        self.journal.append(&record)?;
        let index = self.index(key);
        self.rows[index].decision = Some(decision);
        Ok(())
    }

    /// A journal of an older format gets a header of this one before its
    /// first decision, so an older writer-jobs refuses it by name.
    fn upgrade(&mut self) -> Result<(), JournalError> {
        if self.version >= super::journal::FORMAT_VERSION {
            return Ok(());
        }
        self.journal.append(&Record::Header {
            version: super::journal::FORMAT_VERSION,
            binding: self.binding.clone(),
            started_at: Utc::now(),
            // Not a run: it sends no create, and declares nothing.
            exclusive: None,
        })?;
        self.version = super::journal::FORMAT_VERSION;
        Ok(())
    }

    fn index(&self, key: &str) -> usize {
        self.rows
            .iter()
            .position(|r| r.key == key)
            .expect("checked to be an ambiguous row")
    }

    /// The row, when it is ambiguous and undecided; else why no decision
    /// can be made on it.
    pub fn undecided(&self, key: &str) -> Result<&AmbiguousRow, ResolveError> {
        let Some(row) = self.rows.iter().find(|r| r.key == key) else {
            return Err(match self.known.get(key) {
                None => ResolveError::UnknownKey {
                    key: key.to_string(),
                },
                Some(status) => ResolveError::NotAmbiguous {
                    key: key.to_string(),
                    status: status.clone().unwrap_or_else(|| "not finished".into()),
                },
            });
        };
        match &row.decision {
            None => Ok(row),
            Some(decision) => Err(ResolveError::Decided {
                key: key.to_string(),
                decision: decision.to_string(),
            }),
        }
    }
}

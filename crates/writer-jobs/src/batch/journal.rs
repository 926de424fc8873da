//! The batch journal: an append-only JSON Lines file that makes a killed run
//! resumable without creating any job twice.
//!
//! Why JSON Lines and not an embedded database: every record is one `write`
//! of one line to a file opened for appending, so a record either reached the
//! OS whole or is a torn last line without its `\n`, which [`Journal::open`]
//! detects and cuts off; a person can read it with `less` and `jq`; and it
//! adds no dependency. Records, in the order the engine writes them:
//!
//! - `header`: what the journal is bound to (base URL, application,
//!   simulated or real), written by each run as it opens the journal, with
//!   whether that run was declared exclusive;
//! - `intent`: a row's key, input index and input fingerprint, written
//!   **before** its create is sent;
//! - `created`: the job id, once the server answered the create;
//! - `retried`: a job-level retry and the id the server answered with;
//! - `ambiguous`: a create whose outcome is unknown, and its time window;
//! - `done`: the row's final outcome;
//! - `adopted`, `resend`, `gave_up`: the user's decision on an ambiguous
//!   row (`writer-jobs resolve`, [`Resolution`](super::Resolution)),
//!   written under the same lock, so never while a run holds the journal.
//!
//! Durability: each record is written with one unbuffered `write_all`, so it
//! is in the OS before the engine takes its next step, and `kill -9` at any
//! moment loses nothing that was acknowledged. With [`Durability::Fsync`]
//! every record is also `fsync`ed (and the directory, when the file is
//! created), so a power loss loses nothing either, at the cost of one disk
//! flush per record.
//!
//! The file is locked exclusively (`File::try_lock`) while a run holds it: a
//! second run on the same journal is refused.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use super::Outcome;
pub use super::records::Decision;
pub(crate) use super::records::{Binding, Record};
pub(crate) use super::resume::{BeforeIntent, ResumeState, RowState};

/// The journal format version this code writes. It reads this one and
/// every earlier one: version 5 records in each run's header whether the
/// run was declared exclusive (`exclusive`: only it created jobs on the
/// application while it ran); a run of an older journal counts as not
/// exclusive, the safe reading (its windows are never matched as if only
/// the batch created jobs then); version 4 starts every run with a header line (the
/// runs are numbered by them, and each run's clock evidence places only
/// that run's windows; in an older journal every record counts as one
/// run's); version 3 added the user's decisions on ambiguous
/// rows (`adopted`, `resend`, `gave_up`; a decision added to an older
/// journal is preceded by a version 3 `header` line, so an older
/// writer-jobs refuses the file by name instead of misreading it);
/// version 2 added `received_at` to `created` records (skew evidence for a
/// resumed run); version 1 journals resume with windows rebuilt from their
/// intents alone. Version 6 records creates and retries found unsent
/// (`unsent`, `retry_unsent`), so a resumed run does not take their
/// intents for requests sent with their answers lost.
pub(crate) const FORMAT_VERSION: u32 = 6;

/// How hard each record is pushed to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Durability {
    /// Each record reaches the OS before the next step: safe against the
    /// process being killed, not against a power loss. The default.
    #[default]
    Os,
    /// Each record is also `fsync`ed: safe against a power loss too.
    Fsync,
}

/// Why a journal cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JournalError {
    /// The file could not be read or written.
    #[error("journal {path}: {source}")]
    #[non_exhaustive]
    Io {
        /// The journal.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Another run holds the journal.
    #[error(
        "journal {path} is in use by another writer-jobs run; wait for it to finish \
         (or stop it) before resuming"
    )]
    #[non_exhaustive]
    Locked {
        /// The journal.
        path: PathBuf,
    },
    /// The journal belongs to another endpoint, application or mode.
    #[error(
        "journal {path} was written for {field} `{journal}`, but this run uses `{run}`; \
         resume with the same settings or start a new journal"
    )]
    #[non_exhaustive]
    Mismatch {
        /// The journal.
        path: PathBuf,
        /// What differs: base URL, application or mode.
        field: &'static str,
        /// The journal's value.
        journal: String,
        /// This run's value.
        run: String,
    },
    /// A row's inputs changed since the journal recorded it.
    #[error(
        "row `{key}` changed since journal {path} recorded it (its inputs differ); \
         restore the row, or start a new journal to run it as a new job"
    )]
    #[non_exhaustive]
    RowChanged {
        /// The journal.
        path: PathBuf,
        /// The row's key.
        key: String,
    },
    /// A complete line in the middle of the journal is not a record.
    #[error(
        "journal {path}, line {line}: not a journal record ({message}); the file was edited or damaged"
    )]
    #[non_exhaustive]
    Corrupt {
        /// The journal.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The parser's message.
        message: String,
    },
}

/// An open, locked journal.
#[derive(Debug)]
pub(crate) struct Journal {
    path: PathBuf,
    file: File,
    durability: Durability,
    len: u64,
}

impl Journal {
    /// Opens (creating if needed) and locks the journal at `path` for a run
    /// bound to `binding`, and reads what an earlier run left in it. A torn
    /// last line is cut off (and counted in [`ResumeState::torn_bytes`]).
    /// The run's header records whether it is declared `exclusive`.
    pub(crate) fn open(
        path: &Path,
        binding: &Binding,
        exclusive: bool,
        durability: Durability,
        now: DateTime<Utc>,
    ) -> Result<(Self, ResumeState), JournalError> {
        Self::open_with(path, Some((binding, exclusive)), durability, now)
    }

    /// Opens and locks an existing journal, whatever it is bound to (the
    /// binding is in [`ResumeState::binding`]): for tools that work on a
    /// batch's journal between runs. A missing or headerless file is an
    /// error, never created.
    pub(crate) fn open_existing(
        path: &Path,
        durability: Durability,
    ) -> Result<(Self, ResumeState), JournalError> {
        if !path.is_file() {
            return Err(JournalError::Io {
                path: path.to_path_buf(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such journal file"),
            });
        }
        Self::open_with(path, None, durability, Utc::now())
    }

    fn open_with(
        path: &Path,
        run: Option<(&Binding, bool)>,
        durability: Durability,
        now: DateTime<Utc>,
    ) -> Result<(Self, ResumeState), JournalError> {
        let io = |source| JournalError::Io {
            path: path.to_path_buf(),
            source,
        };
        let binding = run.map(|(binding, _)| binding);
        let exclusive = run.is_some_and(|(_, exclusive)| exclusive);
        let (mut file, text) = open_locked(path, binding.is_some(), durability)?;
        let mut state = ResumeState::default();
        let complete = cut_torn_line(&mut file, &text, durability, &mut state).map_err(io)?;
        let mut journal = Self {
            path: path.to_path_buf(),
            file,
            durability,
            len: complete as u64,
        };
        let header = journal.replay(&text[..complete], &mut state)?;
        let header_of_this_run = |binding: &Binding| Record::Header {
            version: FORMAT_VERSION,
            binding: binding.clone(),
            started_at: now,
            exclusive: Some(exclusive),
        };
        match (header, binding) {
            (Some(found), Some(binding)) => {
                journal.check_binding(&found, binding)?;
                state.resumed = true;
                // Each run starts with a header line of its own: the runs
                // are numbered by them, and a window is placed only with
                // evidence from the run (the clock) that recorded it.
                journal.append(&header_of_this_run(binding))?;
            }
            (Some(found), None) => {
                state.resumed = true;
                state.binding = Some(found);
            }
            (None, None) => {
                return Err(JournalError::Corrupt {
                    path: path.to_path_buf(),
                    line: 1,
                    message: "no header line: the file is empty or not a writer-jobs journal"
                        .into(),
                });
            }
            (None, Some(binding)) => journal.append(&header_of_this_run(binding))?,
        }
        Ok((journal, state))
    }

    /// Applies every complete line of `text` to `state`; returns the first
    /// run's header (the batch the journal is bound to).
    fn replay(
        &self,
        text: &[u8],
        state: &mut ResumeState,
    ) -> Result<Option<Binding>, JournalError> {
        let mut offset = 0u64;
        let mut header = None;
        for (index, line) in text.split_inclusive(|b| *b == b'\n').enumerate() {
            let here = offset;
            offset += line.len() as u64;
            let line = line.strip_suffix(b"\n").unwrap_or(line);
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let record: Record =
                serde_json::from_slice(line).map_err(|e| JournalError::Corrupt {
                    path: self.path.clone(),
                    line: index + 1,
                    message: e.to_string(),
                })?;
            self.apply(state, &mut header, record, here)?;
        }
        Ok(header)
    }

    fn apply(
        &self,
        state: &mut ResumeState,
        header: &mut Option<Binding>,
        record: Record,
        offset: u64,
    ) -> Result<(), JournalError> {
        match record {
            Record::Header {
                binding,
                version,
                exclusive,
                ..
            } => {
                self.check_version(version)?;
                state.version = state.version.max(version);
                state.runs += 1;
                // A run of an older format, or a header no run wrote,
                // declared nothing: not exclusive.
                if exclusive == Some(true) && version >= 5 {
                    state.exclusive_runs.insert(state.runs);
                }
                header.get_or_insert(binding);
            }
            Record::Intent { key, seq, fp, at } => intent(state, key, seq, fp, at),
            Record::Created {
                key,
                job_id,
                created_at,
                received_at,
            } => created(state, key, job_id, created_at, received_at),
            Record::Unsent { key } => {
                if let Some(row) = state.rows.get_mut(&key) {
                    row.forget_latest_intent();
                }
            }
            Record::RetryIntent { key, at, .. } => {
                state.lost_retries.push((key, at, state.runs));
            }
            Record::RetryUnsent { key } => {
                if let Some(i) = state.lost_retries.iter().rposition(|(k, ..)| *k == key) {
                    state.lost_retries.remove(i);
                }
            }
            Record::Retried { key, job_id, from } => {
                if let Some(i) = state.lost_retries.iter().rposition(|(k, ..)| *k == key) {
                    state.lost_retries.remove(i);
                }
                if from != job_id {
                    state.replaced_jobs.push(from);
                }
                let row = state.rows.entry(key).or_default();
                row.job_id = Some(job_id);
                row.attempts += 1;
            }
            Record::Ambiguous { key, until, .. } => {
                let row = state.rows.entry(key).or_default();
                row.ambiguous_until = Some(row.ambiguous_until.map_or(until, |u| u.max(until)));
            }
            Record::Done { outcome } => {
                state.rows.entry(outcome.key.clone()).or_default().done_at = Some(offset);
            }
            Record::Adopted { key, job_id, .. } => {
                let row = state.rows.entry(key).or_default();
                row.superseded_at = row.done_at.take().or(row.superseded_at);
                row.job_id = Some(job_id.clone());
                row.attempts = row.attempts.max(1);
                row.decision = Some(Decision::Adopted { job_id });
            }
            Record::Resend { key, creates, .. } => {
                let row = state.rows.entry(key).or_default();
                row.creates_before = creates;
                row.superseded_at = row.done_at.take().or(row.superseded_at);
                // Forgotten: the next run creates the row afresh.
                row.job_id = None;
                row.intent_at = None;
                row.first_intent_at = None;
                row.ambiguous_until = None;
                row.decision = Some(Decision::Resend);
            }
            Record::GaveUp { key, .. } => {
                state.rows.entry(key).or_default().decision = Some(Decision::GaveUp);
            }
        }
        Ok(())
    }

    /// A journal of a newer format than this build reads is refused.
    fn check_version(&self, version: u32) -> Result<(), JournalError> {
        if version > FORMAT_VERSION {
            return Err(JournalError::Corrupt {
                path: self.path.clone(),
                line: 1,
                message: format!(
                    "journal format {version} is newer than this writer-jobs reads \
                     ({FORMAT_VERSION}); resume with the version that wrote it"
                ),
            });
        }
        Ok(())
    }

    pub(super) fn check_binding(
        &self,
        journal: &Binding,
        run: &Binding,
    ) -> Result<(), JournalError> {
        let mismatch = |field, a: &str, b: &str| JournalError::Mismatch {
            path: self.path.clone(),
            field,
            journal: a.to_string(),
            run: b.to_string(),
        };
        if journal.base_url != run.base_url {
            return Err(mismatch("base URL", &journal.base_url, &run.base_url));
        }
        if journal.app_id != run.app_id {
            return Err(mismatch("application", &journal.app_id, &run.app_id));
        }
        if journal.simulated != run.simulated {
            let mode = |simulated| if simulated { "simulator" } else { "real API" };
            return Err(mismatch(
                "mode",
                mode(journal.simulated),
                mode(run.simulated),
            ));
        }
        Ok(())
    }

    /// Checks that a row about to run still has the inputs the journal
    /// recorded for it.
    pub(crate) fn check_row(
        &self,
        row: &RowState,
        key: &str,
        fp: &str,
    ) -> Result<(), JournalError> {
        if !row.fp.is_empty() && row.fp != fp {
            return Err(JournalError::RowChanged {
                path: self.path.clone(),
                key: key.to_string(),
            });
        }
        Ok(())
    }

    /// Appends one record: one `write_all` of one line, then `fsync` when
    /// durability asks for it.
    pub(crate) fn append(&mut self, record: &Record) -> Result<(), JournalError> {
        let mut line = serde_json::to_vec(record).expect("journal records always serialize");
        line.push(b'\n');
        let io = |source| JournalError::Io {
            path: self.path.clone(),
            source,
        };
        self.file.write_all(&line).map_err(io)?;
        if self.durability == Durability::Fsync {
            self.file.sync_data().map_err(io)?;
        }
        self.len += line.len() as u64;
        Ok(())
    }

    /// Writes only the first `bytes` (default: half) of a record's line, as
    /// a process killed mid-write would leave it (for crash tests).
    #[cfg(any(test, feature = "test-util"))]
    pub(crate) fn append_torn(
        &mut self,
        record: &Record,
        bytes: Option<usize>,
    ) -> Result<(), JournalError> {
        let line = serde_json::to_vec(record).expect("journal records always serialize");
        let cut = bytes.unwrap_or(line.len() / 2).min(line.len());
        let half = &line[..cut];
        self.file
            .write_all(half)
            .map_err(|source| JournalError::Io {
                path: self.path.clone(),
                source,
            })?;
        self.len += half.len() as u64;
        Ok(())
    }

    /// Reads the `done` outcome stored at `offset` (see [`RowState::done_at`]).
    pub(crate) fn read_outcome(&self, offset: u64) -> Result<Outcome, JournalError> {
        let io = |source| JournalError::Io {
            path: self.path.clone(),
            source,
        };
        let mut file = &self.file;
        file.seek(SeekFrom::Start(offset)).map_err(io)?;
        let mut reader = std::io::BufReader::new(file);
        let mut line = String::new();
        std::io::BufRead::read_line(&mut reader, &mut line).map_err(io)?;
        match serde_json::from_str(&line) {
            Ok(Record::Done { outcome }) => Ok(outcome),
            Ok(_) => Err(JournalError::Corrupt {
                path: self.path.clone(),
                line: 0,
                message: format!("expected a done record at byte {offset}"),
            }),
            Err(e) => Err(JournalError::Corrupt {
                path: self.path.clone(),
                line: 0,
                message: format!("at byte {offset}: {e}"),
            }),
        }
    }

    /// The journal's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The journal's length in bytes.
    #[cfg(test)]
    pub(crate) fn len(&self) -> u64 {
        self.len
    }
}

/// An intent: a create of the row about to be sent at `at`.
fn intent(state: &mut ResumeState, key: String, seq: u64, fp: String, at: DateTime<Utc>) {
    let row = state.rows.entry(key).or_default();
    row.seq = seq;
    row.fp = fp;
    let earlier_run = row.intent_run != state.runs;
    if earlier_run {
        // The row's creates of an earlier run were judged before this one
        // sent again: its window is this run's.
        row.first_intent_at = None;
        row.ambiguous_until = None;
        row.intent_run = state.runs;
    }
    // What an `unsent` record for this intent puts back.
    row.before_intent = Some(Box::new(BeforeIntent {
        intent_at: if earlier_run { None } else { row.intent_at },
        first_intent_at: row.first_intent_at,
        ambiguous_until: row.ambiguous_until,
        decision: row.decision.clone(),
    }));
    row.intent_at = Some(at);
    row.first_intent_at.get_or_insert(at);
    // A new create of the row carries out (and ends) a decision.
    row.decision = None;
}

/// A create's answer: the row's job, and (from the same run's intent)
/// evidence of the server's clock.
fn created(
    state: &mut ResumeState,
    key: String,
    job_id: String,
    created_at: Option<DateTime<Utc>>,
    received_at: Option<DateTime<Utc>>,
) {
    let row = state.rows.entry(key).or_default();
    if let (Some(sent), Some(received), Some(created)) = (row.intent_at, received_at, created_at)
        && row.intent_run == state.runs
    {
        let run = state.skew.entry(state.runs).or_default();
        run.observe(sent, received, created);
    }
    row.job_id = Some(job_id);
    row.attempts = row.attempts.max(1);
}

/// Opens the journal (created only for a run that writes it), takes its
/// lock (a second run on the same journal is refused) and reads it whole.
fn open_locked(
    path: &Path,
    create: bool,
    durability: Durability,
) -> Result<(File, Vec<u8>), JournalError> {
    let io = |source| JournalError::Io {
        path: path.to_path_buf(),
        source,
    };
    let existed = path.exists();
    let mut file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(create)
        .open(path)
        .map_err(io)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            return Err(JournalError::Locked {
                path: path.to_path_buf(),
            });
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
    }
    if !existed && durability == Durability::Fsync {
        sync_parent(path).map_err(io)?;
    }
    let mut text = Vec::new();
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    file.read_to_end(&mut text).map_err(io)?;
    Ok((file, text))
}

/// Cuts off a torn last line (a run killed mid-write), noting in `state`
/// how many bytes and whether it was an intent; returns the length of the
/// complete lines.
fn cut_torn_line(
    file: &mut File,
    text: &[u8],
    durability: Durability,
    state: &mut ResumeState,
) -> std::io::Result<usize> {
    let complete = text
        .iter()
        .rposition(|b| *b == b'\n')
        .map(|i| i + 1)
        .unwrap_or(0);
    if complete < text.len() {
        state.torn_bytes = (text.len() - complete) as u64;
        tracing::warn!(
            bytes = state.torn_bytes,
            "journal ends with a torn line (a run was killed mid-write); cutting it off"
        );
        state.torn_intent = torn_intent(&text[complete..]);
        file.set_len(complete as u64)?;
        if durability == Durability::Fsync {
            file.sync_data()?;
        }
    }
    Ok(complete)
}

/// Reads what it can of a torn record: `Some(_)` when it was (or may have
/// been) an intent, with its key when the bytes got that far (records
/// serialize `type` first, then `key`).
fn torn_intent(bytes: &[u8]) -> Option<Option<String>> {
    const PREFIX: &str = r#"{"type":"intent","key":""#;
    let text = String::from_utf8_lossy(bytes);
    if text.len() < PREFIX.len() {
        // Too short to tell which record it was: it may have been an intent.
        return PREFIX.starts_with(text.as_ref()).then_some(None);
    }
    let rest = text.strip_prefix(PREFIX)?;
    let key = rest
        .find('"')
        .map(|end| &rest[..end])
        .filter(|key| !key.contains('\\'));
    Some(key.map(str::to_string))
}

fn sync_parent(path: &Path) -> std::io::Result<()> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    File::open(parent)?.sync_all()
}

#[cfg(test)]
#[path = "journal_tests.rs"]
mod tests;

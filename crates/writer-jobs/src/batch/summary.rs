//! A summary of a journal, for tools that look at one before they resume
//! or resolve it (the CLI: which address a resumed run's built-in simulator
//! takes, and how many jobs an interrupted run left waiting).

use crate::batch::{HashSet, HashSetExt};
use std::path::Path;

use serde::Deserialize;

use super::journal::{Binding, JournalError};

/// What a batch's journal says about the run that wrote it. Read without
/// the journal's lock (a run may hold it) and leniently: lines that are not
/// records (a torn last line, a damaged one) are skipped, where
/// [`Batch::journal`](super::Batch::journal) would refuse the file.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct JournalSummary {
    /// The API base URL the journal is bound to.
    pub base_url: String,
    /// The application the batch ran.
    pub app_id: String,
    /// Whether the batch talked to a simulator.
    pub simulated: bool,
    /// Rows with a final outcome.
    pub finished: usize,
    /// Rows whose job was created but has no final outcome: jobs the run
    /// was still waiting for when it stopped.
    pub waiting: usize,
}

/// The few fields of a record a summary reads.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Line {
    Header {
        #[serde(flatten)]
        binding: Binding,
    },
    Created {
        key: String,
    },
    Done {
        outcome: Keyed,
    },
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct Keyed {
    key: String,
}

impl JournalSummary {
    /// Reads the journal at `path`: an error when the file cannot be read
    /// or has no header line.
    pub fn read(path: &Path) -> Result<Self, JournalError> {
        let text = std::fs::read(path).map_err(|source| JournalError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut binding = None;
        let mut waiting = HashSet::new();
        let mut finished = HashSet::new();
        for line in text.split(|b| *b == b'\n') {
            match serde_json::from_slice::<Line>(line) {
                Ok(Line::Header { binding: found }) => {
                    binding.get_or_insert(found);
                }
                Ok(Line::Created { key }) => {
                    waiting.insert(key);
                }
                Ok(Line::Done { outcome }) => {
                    waiting.remove(&outcome.key);
                    finished.insert(outcome.key);
                }
                Ok(Line::Other) | Err(_) => {}
            }
        }
        let Some(binding) = binding else {
            return Err(JournalError::Corrupt {
                path: path.to_path_buf(),
                line: 1,
                message: "no header line: the file is empty or not a writer-jobs journal".into(),
            });
        };
        Ok(Self {
            base_url: binding.base_url,
            app_id: binding.app_id,
            simulated: binding.simulated,
            finished: finished.len(),
            waiting: waiting.len(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary_of(text: &str) -> Result<JournalSummary, JournalError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        std::fs::write(&path, text).unwrap();
        JournalSummary::read(&path)
    }

    #[test]
    fn a_summary_counts_waiting_and_finished_rows_and_skips_what_is_not_a_record() {
        let done = |key: &str| {
            format!(
                "{{\"type\":\"done\",\"outcome\":{{\"key\":\"{key}\",\"seq\":0,\"job_id\":\"j\",\
                 \"status\":\"failed\",\"error\":\"e\",\"attempts\":1,\"creates\":1,\
                 \"created_at\":null,\"finished_at\":null,\"observed_at\":\"2025-01-01T00:00:00Z\"}}}}"
            )
        };
        let text = [
            "{\"type\":\"header\",\"version\":3,\"base_url\":\"http://127.0.0.1:4567\",\
             \"app_id\":\"a\",\"simulated\":true,\"started_at\":\"2025-01-01T00:00:00Z\"}"
                .to_string(),
            "{\"type\":\"intent\",\"key\":\"k0\",\"seq\":0,\"fp\":\"f\",\"at\":\"2025-01-01T00:00:00Z\"}"
                .to_string(),
            "{\"type\":\"created\",\"key\":\"k0\",\"job_id\":\"j0\",\"created_at\":null}".into(),
            "{\"type\":\"created\",\"key\":\"k1\",\"job_id\":\"j1\",\"created_at\":null}".into(),
            "not a record".into(),
            done("k0"),
            done("k2"),
            "{\"type\":\"created\",\"key\":\"k3\",\"jo".into(),
        ]
        .join("\n");
        let summary = summary_of(&text).unwrap();
        assert_eq!(summary.base_url, "http://127.0.0.1:4567");
        assert_eq!(summary.app_id, "a");
        assert!(summary.simulated);
        assert_eq!((summary.finished, summary.waiting), (2, 1));
    }

    #[test]
    fn a_file_without_a_header_or_missing_is_an_error() {
        assert!(matches!(
            summary_of("{\"type\":\"created\",\"key\":\"k0\",\"job_id\":\"j0\"}\n"),
            Err(JournalError::Corrupt { .. })
        ));
        assert!(matches!(
            JournalSummary::read(Path::new("/nonexistent/writer-jobs/journal")),
            Err(JournalError::Io { .. })
        ));
    }
}

//! [`BatchError`]: why a batch stopped early, as opposed to a row's own
//! failure (which is an [`Outcome`](super::Outcome), not an error).

use super::JournalError;

/// Why a batch stopped early.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BatchError {
    /// The journal could not be used.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// Two rows share a key.
    #[error("row key `{key}` appears twice (input rows {first} and {second}); keys must be unique")]
    #[non_exhaustive]
    DuplicateKey {
        /// The key.
        key: String,
        /// Index of the first row with it.
        first: u64,
        /// Index of the second.
        second: u64,
    },
    /// The API refused in a way every later row would hit too (bad key, no
    /// access, unknown application): the batch stopped creating.
    #[error("the API refused the batch: {0}")]
    Api(#[source] crate::Error),
    /// The server stayed unreachable (every request failing, the circuit
    /// breaker open) for longer than the poll deadline while rows waited
    /// to be created or reconciled: the batch stopped. Nothing is lost:
    /// rows not yet created were not sent, and a resumed run (with a
    /// journal) picks up every row where it was.
    #[error(
        "the server has been unreachable for {waited_secs} s (every request failed); the batch \
         stopped with rows still to create or reconcile: run it again (resume) once the \
         server is back"
    )]
    #[non_exhaustive]
    Unavailable {
        /// How long requests had been failing.
        waited_secs: u64,
    },
    /// The settings are inconsistent.
    #[error("invalid batch settings: {0}")]
    Config(String),
    /// A crash test's failpoint stopped the engine (feature `test-util`).
    #[cfg(feature = "test-util")]
    #[error("stopped at failpoint (journal record {0})")]
    Failpoint(u64),
}

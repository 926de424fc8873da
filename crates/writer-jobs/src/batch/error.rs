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
    /// Creates kept going unsent: each is sent only if its request starts
    /// within 1 s (the batch's clock) of its intent record, and this many
    /// in a row (64, or twice the create concurrency if more; or one row's
    /// creates 64 times) started later,
    /// because the machine, or the disk the journal is written to, is too
    /// slow for the batch's clock. Stopped instead of writing intents for
    /// ever. Nothing was sent twice: a resumed run picks up every row
    /// where it was.
    #[error(
        "{late} creates were not sent because each started more than 1 s after its intent \
         record: the machine (or the journal's disk) is too slow for the batch's clock; the \
         batch stopped with rows still to create: run it again (resume) with fewer creates at \
         a time"
    )]
    #[non_exhaustive]
    TooSlow {
        /// Creates found unsent before the batch stopped.
        late: u32,
    },
    /// The batch's own thread (see
    /// [`Batch::engine_thread`](super::Batch::engine_thread)) could not be
    /// started: nothing was sent. The machine is out of threads or memory;
    /// `engine_thread(false)` runs the batch on the caller's runtime instead.
    #[error(
        "cannot start the batch's own thread: {0}; nothing was sent (the machine is out of \
         threads or memory; `Batch::engine_thread(false)` runs the batch on the caller's runtime)"
    )]
    Thread(#[source] std::io::Error),
    /// The settings are inconsistent.
    #[error("invalid batch settings: {0}")]
    Config(String),
    /// A crash test's failpoint stopped the engine (feature `test-util`).
    #[cfg(feature = "test-util")]
    #[error("stopped at failpoint (journal record {0})")]
    Failpoint(u64),
}

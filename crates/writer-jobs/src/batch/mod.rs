//! The batch engine: many rows in, one outcome per row out, under the API's
//! request budget, resumable, with no job lost or created twice.
//!
//! ```no_run
//! # async fn demo(client: writer_jobs::Client) -> Result<(), Box<dyn std::error::Error>> {
//! use futures::StreamExt;
//! use writer_jobs::batch::{Batch, Rate, Row};
//! use writer_jobs::Inputs;
//!
//! let rows = (0..1000).map(|i| Row::new(format!("row-{i}"), Inputs::new().text("Product name", format!("Shoe #{i}"))));
//! let mut run = Batch::new(client, "my-app-id")
//!     .max_in_flight(100)
//!     .rate(Rate::per_minute(400.0))
//!     .journal("products.journal")
//!     .run(futures::stream::iter(rows))
//!     .await?;
//! while let Some(outcome) = run.next().await {
//!     let outcome = outcome?;
//!     println!("{}: {:?}", outcome.key, outcome.result);
//! }
//! # Ok(()) }
//! ```
//!
//! How it spends requests:
//!
//! - **Creates** go one request per row. A create is never blindly resent:
//!   a failure after the request left makes the row *ambiguous*, and the
//!   engine reconciles it by the jobs that appeared in the create's time
//!   window.
//! - **One shared poller** learns which outstanding jobs finished. Each
//!   sweep lists the application's jobs newest first back to some point and
//!   GETs the due jobs older than that point, choosing the split that costs
//!   the fewest requests. Sweeps are spaced so that polling costs about
//!   [`Batch::poll_overhead`] requests per job while jobs are being
//!   created, and no more than the poll policy's maximum interval apart, so
//!   a finished job is noticed within that interval.
//! - **Every request** passes one pacer: a token-bucket rate limiter that
//!   backs off on 429 and a circuit breaker for outages.
//!
//! **Outage bound.** After any failure that suggests an outage (5xx,
//! timeout, lost connection), new creates wait until some request succeeds.
//! So the rows that can become ambiguous in an outage are the creates
//! already sent when it began: at most [`Batch::create_concurrency`].
//!
//! **Resume.** With a [journal](Batch::journal), each row's intent is
//! recorded before its create is sent, its job id once known, and its
//! outcome when final. A
//! resumed run replays finished rows' outcomes (marked
//! [`Outcome::replayed`]), re-attaches to created jobs without creating them
//! again, creates rows never sent, and treats a row with an intent but no
//! job id as ambiguous, never as unsent.
//!
//! **Resolving.** Rows left ambiguous are decided by the user afterwards
//! with a [`Resolution`] on the journal: adopt one of a row's candidate
//! jobs, send the row again on the next resumed run, or give up on it.
//! A tool that only needs to know what a journal holds (its endpoint, the
//! jobs a stopped run left waiting) reads a [`JournalSummary`].

mod ambiguous;
mod assign;
mod breaker;
mod budget;
mod creates;
mod engine;
mod error;
#[cfg(feature = "test-util")]
mod failpoint;
mod journal;
mod limiter;
mod listing;
mod outcome;
mod pacer;
mod poller;
mod positions;
mod progress;
mod reconcile;
mod reconciler;
mod records;
mod resolve;
mod resume;
mod run;
mod settings;
mod sink;
mod summary;
mod tracking;
mod windows;

/// The batch's hash maps and sets (job ids, row keys, run numbers): std's
/// maps with foldhash, randomly seeded per process, instead of SipHash,
/// which hashing each listed job's id several times per sweep made 7% of
/// the batch's instructions (callgrind, 2,000 rows).
use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};

#[cfg(test)]
#[path = "../../tests/fuzz_gen/mod.rs"]
mod fuzz_gen;
#[cfg(test)]
mod journal_fuzz_tests;
pub use error::BatchError;
#[cfg(feature = "test-util")]
pub use failpoint::{FailMode, Failpoint};
pub use journal::{Decision, Durability, JournalError};
pub use limiter::Rate;
pub use outcome::{Outcome, OutcomeResult, Row};
pub use progress::Progress;
pub use resolve::{AmbiguousRow, Resolution, ResolveError};
pub use run::{BatchRun, StopHandle};
pub use settings::{AmbiguousPolicy, Batch, DEFAULT_MAX_SERVER_HOLD, DEFAULT_READ_TIMEOUT};
pub use summary::JournalSummary;

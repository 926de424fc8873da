//! High-level client for Writer's async applications jobs API.
//!
//! Create a job and wait for its result in one call, stream an
//! application's jobs page by page, and let retries, polling and rate limits
//! be handled by small, replaceable policies.
//!
//! The key comes from `WRITER_API_KEY` (in the environment or a `.env` file);
//! `WRITER_BASE_URL` overrides `https://api.writer.com`.
//!
//! The one-call path: create a job and wait for its output.
//!
//! ```no_run
//! # async fn demo() -> writer_jobs::Result<()> {
//! use writer_jobs::{Client, Inputs};
//!
//! let client = Client::from_env()?;
//! let inputs = Inputs::new().text("Product name", "Terra running shoe");
//! let job = client.jobs("my-app-id").create_and_wait(&inputs).await?;
//! println!("{}", job.suggestion());
//! # Ok(()) }
//! ```
//!
//! The stream path: every completed job of an application, page by page.
//!
//! ```no_run
//! # async fn demo(client: writer_jobs::Client) -> writer_jobs::Result<()> {
//! use writer_jobs::StatusFilter;
//!
//! let mut jobs = client.jobs("my-app-id").list().status(StatusFilter::Completed).stream();
//! while let Some(job) = jobs.next().await {
//!     let job = job?;
//!     println!("{}: {}", job.id, job.suggestion());
//! }
//! # Ok(()) }
//! ```
//!
//! Failures are one [`Error`] enum; a create that may or may not have reached
//! the server is [`Error::Ambiguous`] and is never resent. Every wait goes
//! through the client's [`Clock`], so tests and benchmarks can run fast on a
//! [`ScaledClock`].
//!
//! # The tour
//!
//! | module | what it does |
//! |---|---|
//! | [`client`] | [`Client`] and its builder: key, base URL, timeouts, policies |
//! | [`error`] | the one [`Error`] enum, with request ids and `Retry-After` |
//! | [`retry`] | transport retries: which failures, how long to wait, a shared budget |
//! | [`paginate`] | an application's jobs as a `Stream`, with a status filter |
//! | [`poll`] | poll one job until it is done, with a finite deadline |
//! | [`batch`] | many rows under the request budget, resumable, nothing created twice |
//! | [`model`] | [`Job`], [`JobStatus`], [`Inputs`], [`Output`], [`Application`] |
//! | [`clock`] | the injected time source ([`SystemClock`], [`ScaledClock`]) |
//!
//! Many rows at once go through the batch engine, which polls all of them
//! with one shared poller (about one request per job in all) and keeps a
//! journal so that a killed run resumes without creating a job twice:
//!
//! ```no_run
//! # async fn demo(client: writer_jobs::Client) -> Result<(), Box<dyn std::error::Error>> {
//! use futures::StreamExt;
//! use writer_jobs::batch::{Batch, Row};
//! use writer_jobs::Inputs;
//!
//! let rows = ["Terra", "Aqua", "Flex"]
//!     .map(|name| Row::new(name, Inputs::new().text("Product name", name)));
//! let mut outcomes = Batch::new(client, "my-app-id")
//!     .journal("products.journal")
//!     .run(futures::stream::iter(rows))
//!     .await?;
//! while let Some(outcome) = outcomes.next().await {
//!     let outcome = outcome?;
//!     println!("{}: {}", outcome.key, outcome.result.name());
//! }
//! # Ok(()) }
//! ```
//!
//! To test code that uses this crate, start `writer-sim` (a local simulator
//! of the API with fault injection) and point the client at it, on the
//! simulator's clock; see `examples/testing_with_simulator.rs`.
#![deny(missing_docs)]
#![warn(unreachable_pub)]

pub mod app;
pub mod batch;
pub mod client;
pub mod clock;
pub mod config;
pub mod error;
pub mod model;
pub mod paginate;
pub mod poll;
pub mod retry;
mod sse;
pub mod throttle;

pub use app::App;
pub use client::{Client, ClientBuilder, RunStream};
pub use clock::{Clock, ClockInstant, ScaledClock, SharedClock, SystemClock};
pub use config::EnvSource;
pub use error::{Error, ErrorBody, ErrorProblem, InputProblem, Result};
pub use model::{
    Application, CreatedJob, InputDef, InputOptions, InputType, Inputs, Job, JobPage, JobStatus,
    ListQuery, Output, RetriedJob, StatusFilter, validate_inputs,
};
pub use paginate::{JobStream, Jobs, ListBuilder};
pub use poll::{CreateAndWait, PollPolicy, Wait};
pub use retry::{Backoff, RetryBudget, RetryPolicy};
pub use throttle::{Observation, Operation, Throttle};

/// Compile-time checks that the main types and the futures and streams the
/// client returns can cross threads.
#[allow(dead_code)]
fn _assert_send_sync() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>(_: &T) {}
    send_sync::<Client>();
    send_sync::<Error>();
    send_sync::<Job>();
    send_sync::<Jobs>();
    fn unpin<T: Unpin>() {}
    unpin::<JobStream>();
    send_sync::<RetryPolicy>();
    let client: Client = unreachable_client();
    let inputs = Inputs::new();
    send(&client.create_job("a", &inputs));
    send(&client.get_job("j"));
    send(&client.list_jobs_page("a", &ListQuery::default()));
    send(&client.retry_job("j"));
    send(&client.get_application("a"));
    send(&client.run_application("a", &inputs));
    send(&client.jobs("a").list().stream());
    send(&client.jobs("a").list().pages());
    send(&client.wait("j").run());
    send(&client.wait("j").watch());
    send(&std::future::IntoFuture::into_future(
        client.jobs("a").create_and_wait(&inputs),
    ));
    send(&client.app("a").details());
    send(&client.app("a").run_stream(&inputs));
}

#[allow(dead_code)]
fn unreachable_client() -> Client {
    unreachable!("only used for type checks")
}

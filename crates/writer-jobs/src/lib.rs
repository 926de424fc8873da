//! High-level client for Writer's async applications jobs API.
//!
//! Create a job and wait for its result in one call, stream an
//! application's jobs page by page, and let retries, polling and rate limits
//! be handled by small, replaceable policies.
#![deny(missing_docs)]

pub mod client;
pub mod clock;
pub mod config;
pub mod error;
pub mod model;
pub mod poll;
pub mod retry;
pub mod throttle;

pub use client::{Client, ClientBuilder};
pub use clock::{Clock, ScaledClock, SharedClock, SystemClock};
pub use config::EnvSource;
pub use error::{Error, InputProblem, Result};
pub use model::{
    Application, CreatedJob, InputDef, InputOptions, InputType, Inputs, Job, JobPage, JobStatus,
    ListQuery, Output, RetriedJob, StatusFilter, validate_inputs,
};
pub use poll::PollPolicy;
pub use retry::{Backoff, RetryBudget, RetryPolicy};
pub use throttle::{Observation, Operation, Throttle};

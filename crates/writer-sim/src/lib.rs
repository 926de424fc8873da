//! A faithful local simulator of Writer's async applications jobs API, with
//! fault injection: the test double for clients of the API.
//!
//! It is a real HTTP server on 127.0.0.1 that serves the six operations of
//! `openapi/writer-jobs.yaml` (create, get, list and retry jobs; run an
//! application synchronously; get an application's details) with the
//! generated types of `writer-api` as its wire format, so the spec drives
//! both ends. It simulates:
//!
//! - **the job lifecycle**: jobs start `in_progress` and end `completed`
//!   (with [`expected_output`]) or `failed` after a duration drawn from a
//!   seeded distribution; retries run a failed job again (or, by setting,
//!   as a new job);
//! - **time** on a [`SimClock`]: real, scaled (100x: a 30 s job takes 0.3 s)
//!   or manual, so tests never sleep for job durations;
//! - **validation and errors** like the real service: 400 with a JSON
//!   `Error` naming the input, 401, 403, 404, 409;
//! - **pagination** newest first, `offset`/`limit`/`status`, `totalCount`,
//!   and other tenants' jobs on a busy application;
//! - **rate limits** per key (token bucket, 429 with `Retry-After`);
//! - **faults** ([`FaultKind`]): 500/503/504, 429 bursts, resets,
//!   accept-then-drop creates, slow answers, broken JSON, unknown fields and
//!   statuses, `job_id` instead of `id`, `x-should-retry`; and outages;
//! - **statistics** ([`Stats`]) of requests, statuses, jobs per input set
//!   (to catch duplicate creates) and faults, from the handle or
//!   `GET /_sim/stats`.
//!
//! Inspection and control endpoints, without authentication and not
//! counted in the statistics: `GET /_sim/stats`, `GET /_sim/clock` (scale
//! and anchor, to build an identical clock in another process),
//! `GET /_sim/jobs/{id}` (a [`JobState`], with its finish time),
//! `POST /_sim/faults` (body: a compact fault string) and
//! `POST /_sim/outage` (body: `none`, `unavailable` or `reset`).
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use writer_sim::{DurationDist, Simulator};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let sim = Simulator::builder()
//!     .manual_clock()
//!     .duration(DurationDist::fixed(Duration::from_secs(30)))
//!     .seed(42)
//!     .start()
//!     .await?;
//! let http = reqwest::Client::new();
//! let created: writer_api::types::CreateJobResponse = http
//!     .post(format!("{}/v1/applications/demo-product-descriptions/jobs", sim.base_url()))
//!     .bearer_auth(sim.api_key())
//!     .json(&serde_json::json!({"inputs": [{"id": "Product name", "value": ["Terra running shoe"]}]}))
//!     .send()
//!     .await?
//!     .json()
//!     .await?;
//! let id = created.id.unwrap();
//! sim.advance(Duration::from_secs(30)); // the job is now completed
//! assert_eq!(sim.job(&id).unwrap().status, writer_sim::JobStatus::Completed);
//! assert_eq!(sim.stats().jobs_created, 1);
//! # Ok(()) }
//! ```
//!
//! # Configuration file
//!
//! The `writer-sim` binary (and [`SimConfig::from_toml`]) read TOML:
//!
//! ```toml
//! seed = 42
//! scale = 100.0             # simulated seconds per real second
//! failure_rate = 0.05       # per attempt
//! retry_new_id = false      # true: a retry answers with a new job id
//! sync_timeout_secs = 300
//!
//! [duration]                # or kind = "fixed", secs = 30 / kind = "uniform", min_secs, max_secs
//! kind = "lognormal"
//! mean_secs = 30.0
//! sigma = 0.5
//!
//! [list]
//! default_limit = 50
//! max_limit = 100
//! over_max = "clamp"        # or "reject" (400)
//! total_count = "all"       # or "filtered"
//!
//! [rate_limit]              # omit to disable
//! requests = 400
//! per = "minute"            # second | minute | hour
//! burst = 50
//!
//! [faults]
//! spec = "create:accept_then_drop=0.01,*:reset=0.005"
//! burst_len = 5
//! slow_secs = 120
//! should_retry = "mixed"    # none | true | false | mixed
//! [faults.get]
//! 500 = 0.02
//!
//! [[keys]]
//! key = "sim-test-key"      # the first key is the main one
//! [[keys]]
//! key = "limited-key"
//! apps = ["demo-product-descriptions"]
//!
//! [[apps]]
//! preset = "demo"
//! tenants = { prefill_jobs = 5000, jobs_per_minute = 30.0 }
//! [[apps]]
//! id = "social-posts"
//! name = "Social posts"
//! inputs = [{ name = "Topic", input_type = "text", required = true, max_fields = 1 }]
//! ```
//!
//! # Listing order
//!
//! Lists are newest first by `created_at`, ties by id descending. Job ids
//! look like UUIDs whose leading digits count up in creation order, so id
//! order is creation order.
#![deny(missing_docs)]

mod clock;
mod config;
mod faults;
mod output;
mod ratelimit;
mod routes;
mod server;
mod sim;
mod stats;
mod store;
mod validate;

pub use clock::SimClock;
pub use config::{
    AppConfig, ConfigError, DEFAULT_API_KEY, DurationDist, InputDef, InputType, KeyConfig,
    ListConfig, OverMax, RateLimitConfig, RatePer, SimConfig, TenantConfig, TotalCount,
};
pub use faults::{FaultConfig, FaultKind, Operation, Outage, ShouldRetry};
pub use output::{SIMULATED_MARKER, expected_output, input_digest, input_key};
pub use sim::{SimError, Simulator, SimulatorBuilder};
pub use stats::Stats;
pub use store::{JobOrigin, JobState, JobStatus};

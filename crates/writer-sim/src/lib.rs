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
//! - **the wire as Writer documents it**: create and retry answer 202
//!   Accepted (or 200, by setting), job ids are random UUIDs (or counting
//!   ones), and every error body is Writer's `{"tpe", "errors": [{"description",
//!   "key", "extras"}], "extras"}` (or the legacy `{"message", "code",
//!   "errors"}`) — see [`ApiConfig`];
//! - **the streamed run**: a synchronous run with `"stream": true` answers
//!   `text/event-stream`, its output in [`STREAM_CHUNKS`] pieces
//!   (`{"delta": {"content"}}`) spread over the run's simulated duration,
//!   or, by setting, a few pieces and then an `event: error`;
//! - **validation and errors** like the real service: 400 naming the input
//!   in `key`, 401, 403, 404, 409; an unknown input refused or, by setting,
//!   a job that fails naming it;
//! - **pagination** newest first, oldest first or in no particular order,
//!   `offset`/`limit`/`status`, `totalCount` counting all jobs, the filtered
//!   ones, missing or 0, pages cut short before the end, and other tenants'
//!   jobs on a busy application;
//! - **rate limits** per key (token bucket, 429 with `Retry-After`);
//! - **faults** ([`FaultKind`]): 500/503/504, 429 bursts, resets,
//!   accept-then-drop creates, requests held past the client's timeout and
//!   handled anyway, slow answers, broken JSON, unknown fields and
//!   statuses, `job_id` instead of `id`, `x-should-retry`; outages; and
//!   refused connections (the listening socket closed, then bound again on
//!   the same port), switched at runtime or periodic;
//! - **statistics** ([`Stats`]) of requests, statuses, jobs per input set
//!   by origin (a create, a retry answering a new id, another tenant: to
//!   catch duplicate creates) and faults, from the handle or
//!   `GET /_sim/stats`; each job's origin, API key and `x-sim-client` tag
//!   from [`Simulator::job`].
//!
//! Inspection and control endpoints, without authentication and not
//! counted in the statistics: `GET /_sim/stats`, `GET /_sim/clock` (scale
//! and anchor, to build an identical clock in another process),
//! `GET /_sim/jobs/{id}` (a [`JobState`], with its finish time),
//! `POST /_sim/faults` (body: a compact fault string),
//! `POST /_sim/outage` (body: `none`, `unavailable` or `reset`) and
//! `POST /_sim/refuse` (body: `on`, `off` or a duration like `10s`).
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
//! The `writer-sim` binary (and `SimConfig::from_toml`, with the `toml`
//! feature, part of the default `cli` feature) read TOML:
//!
//! ```toml
//! seed = 42
//! scale = 100.0             # simulated seconds per real second
//! failure_rate = 0.05       # per attempt
//! retry_new_id = false      # true: a retry answers with a new job id
//! sync_timeout_secs = 300
//! refuse_every = { period = "60s", down = "10ms" }  # omit: always listen
//! keep_alive = true         # false: close each connection after its answer
//!
//! [api]
//! success_status = 202      # or 200: the status of create and retry
//! error_shape = "writer"    # or "legacy": {"message", "code", "errors"}
//! unknown_inputs = "reject" # or "fail_job": the job fails naming the input
//! ids = "random"            # or "ordered": ids that count up
//! timestamps = "micros"     # or "seconds": job times in whole seconds
//! # stream_error_after = 2  # a streamed run sends 2 pieces, then `event: error`
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
//! total_count = "all"       # or "filtered", "missing", "zero"
//! order = "newest"          # or "oldest", "unspecified"
//! short_pages = 0.0         # chance that a full page is cut short
//!
//! [rate_limit]              # omit to disable
//! requests = 400
//! per = "minute"            # second | minute | hour
//! burst = 50
//!
//! [faults]
//! spec = "create:accept_then_drop=0.01,create:hold=0.01,*:reset=0.005"
//! burst_len = 5
//! slow_secs = 120
//! hold_secs = 70
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
//! # Cargo features
//!
//! - `cli` (default): the `writer-sim` binary (clap, tracing-subscriber)
//!   and `toml`;
//! - `toml`: `SimConfig::from_toml` and `SimConfig::from_toml_file`.
//!
//! A library user who builds simulators in code sets
//! `default-features = false` and does without clap, toml and
//! tracing-subscriber.
//!
//! # Listing order and ids
//!
//! By default lists are newest first by `created_at`, ties in reverse
//! creation order ([`ListOrder`] selects oldest first, or a stable order
//! unrelated to time). Job ids are random UUID v4-style strings drawn from
//! the seeded RNG, so the same seed gives the same ids but nothing in an id
//! tells which job is newer; [`IdStyle::Ordered`] gives ids whose leading
//! digits count up instead. Nothing in the simulator depends on id order.
#![deny(missing_docs)]

mod clock;
mod config;
mod faults;
mod listener;
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
    ApiConfig, AppConfig, ConfigError, DEFAULT_API_KEY, DurationDist, ErrorShape, IdStyle,
    InputDef, InputType, KeyConfig, ListConfig, ListOrder, OverMax, RateLimitConfig, RatePer,
    RefuseSchedule, SimConfig, SuccessStatus, TenantConfig, Timestamps, TotalCount, UnknownInputs,
};
pub use faults::{FaultConfig, FaultKind, Operation, Outage, ShouldRetry};
pub use output::{SIMULATED_MARKER, expected_output, input_digest, input_key};
pub use routes::STREAM_CHUNKS;
pub use sim::{SimError, Simulator, SimulatorBuilder};
pub use stats::{ListPage, OriginCounts, RequestRecord, Stats};
pub use store::{JobOrigin, JobState, JobStatus};

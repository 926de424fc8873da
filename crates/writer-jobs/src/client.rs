//! [`Client`], its builder, and the low-level calls with transport retries.
//!
//! Every call goes through one loop: await the throttle, send (racing the
//! request against the clock's timeout), classify what came back, report it
//! to the throttle, and retry by the [`RetryPolicy`] when that is safe. The
//! raw status, headers and body of every response come from
//! [`writer_api::raw::capture`], so even a 2xx that does not decode is
//! classified by what really arrived.
//!
//! This file holds the [`Client`] and its public calls; the steps of a call
//! live in submodules, one concern each:
//!
//! | module | what it does |
//! |---|---|
//! | `builder` | [`ClientBuilder`]: key, base URL (and the plain-`http://` check), timeouts, policies |
//! | `attempts` | the retry loop around every call: throttle, timeout, retry policy and budget |
//! | `exchange` | one request through the generated client, inside a raw capture |
//! | `classify` | what came back sorted into a value or an [`Error`], with the key scrubbed out |
//! | `brief` | list pages decoded brief for the batch's sweeps |
//! | `stream` | the streamed synchronous run ([`RunStream`]) |

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use writer_api::types as wire;

use crate::clock::SharedClock;
use crate::error::{Error, Result};
use crate::model::{
    Application, CreatedJob, Inputs, Job, JobPage, ListQuery, Output, RetriedJob, convert,
};
use crate::poll::PollPolicy;
use crate::retry::RetryPolicy;
use crate::throttle::{Operation, Throttle};

/// The base URL used when none is configured.
pub const DEFAULT_BASE_URL: &str = "https://api.writer.com";

/// The default user agent: `writer-jobs/<version>`.
pub const DEFAULT_USER_AGENT: &str = concat!("writer-jobs/", env!("CARGO_PKG_VERSION"));

mod attempts;
mod brief;
mod builder;
mod classify;
mod created;
mod exchange;
mod scan;
#[cfg(test)]
mod scan_tests;
mod stream;

use attempts::Failure;
#[cfg(test)]
pub(crate) use brief::id_key;
pub(crate) use brief::{BriefPage, KeptId};
pub use builder::ClientBuilder;
pub(crate) use classify::chain_text;
use classify::{error_message, server_date};
use exchange::Undecodable;
use exchange::{Call, Exchange, Typed, run_body, wire_value};

pub use stream::RunStream;

/// A client for Writer's async jobs API: cheap to clone (an `Arc` inside),
/// `Send + Sync`, carrying its policies, clock and optional throttle.
///
/// ```no_run
/// # async fn demo() -> writer_jobs::Result<()> {
/// use writer_jobs::{Client, Inputs};
/// let client = Client::from_env()?; // WRITER_API_KEY, also from ./.env
/// let created = client
///     .create_job("my-app-id", &Inputs::new().text("Product name", "Terra"))
///     .await?;
/// let job = client.get_job(&created.id).await?;
/// println!("{} is {}", job.id, job.status);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
    throttle: Option<Arc<dyn Throttle>>,
    /// The caller took the throttle's permit itself and wants exactly one
    /// attempt: the batch engine's creates, each recorded in its journal
    /// before it is sent (see [`Client::single_attempt`]).
    single_attempt: bool,
    /// The timeout of reads (get, list, application details) when shorter
    /// than the request timeout (see [`Client::with_read_timeout`]).
    read_timeout: Option<Duration>,
}

struct Inner {
    /// The generated client: over our own reqwest client or the caller's,
    /// the credentials going on each request in its `pre` hook.
    api: writer_api::Client,
    /// Whether `api` sends through a `reqwest::Client` the caller gave.
    shared_http: bool,
    /// The connect timeout our own `reqwest::Client` was built with (see
    /// [`Client::with_own_connections`]).
    connect_timeout: Duration,
    base_url: String,
    clock: SharedClock,
    retry: RetryPolicy,
    poll: PollPolicy,
    request_timeout: Duration,
    run_timeout: Duration,
    user_agent: String,
    /// Kept only to scrub it out of server messages and request-id logs;
    /// never printed. Shared, so a request clones a pointer, not the key.
    key: Arc<str>,
    /// The largest list page size the server has not refused (the batch's
    /// pages are lowered to it; see [`Client::list_jobs_brief`]).
    list_limit: std::sync::atomic::AtomicU64,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.inner.base_url)
            .field("api_key", &"<redacted>")
            .field("user_agent", &self.inner.user_agent)
            .field("request_timeout", &self.inner.request_timeout)
            .field("run_timeout", &self.inner.run_timeout)
            .field("retry_policy", &self.inner.retry)
            .field("poll_policy", &self.inner.poll)
            .field("clock", &self.inner.clock)
            .field(
                "http",
                &if self.inner.shared_http {
                    "shared"
                } else {
                    "own"
                },
            )
            .field("throttle", &self.throttle)
            .finish()
    }
}

impl Client {
    /// A builder with the defaults (reads no environment).
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// A client configured from `WRITER_API_KEY` and `WRITER_BASE_URL`, in
    /// the process environment or `./.env`.
    pub fn from_env() -> Result<Client> {
        ClientBuilder::from_env().build()
    }

    /// The clock every wait goes through.
    pub fn clock(&self) -> &SharedClock {
        &self.inner.clock
    }

    /// The base URL (without a trailing slash).
    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    /// The transport retry policy.
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.inner.retry
    }

    /// The default polling policy.
    pub fn poll_policy(&self) -> &PollPolicy {
        &self.inner.poll
    }

    /// The per-request timeout.
    pub fn request_timeout(&self) -> Duration {
        self.inner.request_timeout
    }

    /// A clone whose every attempt (transport retries included) first awaits
    /// `throttle.acquire` and then reports to `throttle.observe`.
    pub fn with_throttle(&self, throttle: Arc<dyn Throttle>) -> Client {
        Client {
            inner: self.inner.clone(),
            throttle: Some(throttle),
            single_attempt: self.single_attempt,
            read_timeout: self.read_timeout,
        }
    }

    /// A clone whose reads (get, list, the application's details: calls
    /// that are safe to resend) each time out after `timeout` when that is
    /// shorter than the request timeout, and are retried by the retry
    /// policy as any timeout of an idempotent call is. Creates, retries of
    /// jobs and synchronous runs keep their own timeouts. The batch engine
    /// sends its sweeps through one, so a slow list page costs a sweep
    /// seconds, not the whole request timeout.
    pub(crate) fn with_read_timeout(&self, timeout: Duration) -> Client {
        Client {
            read_timeout: Some(timeout.min(self.inner.request_timeout)),
            ..self.clone()
        }
    }

    /// A clone whose requests go through a connection pool of its own (a
    /// new `reqwest::Client`, as this one's was built), sharing all else:
    /// key, clock, policies, throttle. The batch on a thread of its own
    /// sends through one: a connection's task runs on the runtime that
    /// opened it, and a connection opened on the batch's runtime and left
    /// in a shared pool would break under whoever used it next once that
    /// runtime ended. `None` when the client sends through a
    /// `reqwest::Client` the caller gave (it cannot be built anew).
    pub(crate) fn with_own_connections(&self) -> Option<Client> {
        let inner = &self.inner;
        if inner.shared_http {
            return None;
        }
        let http = builder::own_http(
            inner.connect_timeout,
            writer_api::ClientInfo::baseurl(&inner.api),
        )
        .ok()?;
        // The credentials the client was built with (key and user agent).
        let credentials = writer_api::ClientInfo::inner(&inner.api).clone();
        let inner = Inner {
            api: writer_api::Client::new_with_client(&inner.base_url, http, credentials),
            shared_http: false,
            connect_timeout: inner.connect_timeout,
            base_url: inner.base_url.clone(),
            clock: inner.clock.clone(),
            retry: inner.retry.clone(),
            poll: inner.poll,
            request_timeout: inner.request_timeout,
            run_timeout: inner.run_timeout,
            user_agent: inner.user_agent.clone(),
            key: inner.key.clone(),
            list_limit: std::sync::atomic::AtomicU64::new(
                inner.list_limit.load(std::sync::atomic::Ordering::Relaxed),
            ),
        };
        Some(Client {
            inner: Arc::new(inner),
            ..self.clone()
        })
    }

    /// A clone that sends each call exactly once and does not wait for the
    /// throttle's permit (it still reports to the throttle): for a caller
    /// that took the permit itself and must know the time each attempt
    /// went on the wire, as the batch engine does for creates, whose
    /// journal intent is written right before the send.
    pub(crate) fn single_attempt(&self) -> Client {
        Client {
            single_attempt: true,
            ..self.clone()
        }
    }

    /// The throttle, if one is set.
    pub fn throttle(&self) -> Option<&Arc<dyn Throttle>> {
        self.throttle.as_ref()
    }

    /// Creates a job that runs `app_id` with `inputs`.
    ///
    /// Not idempotent: retried only when the server surely did not act
    /// (could not connect, 429, or `x-should-retry: true`). Any other
    /// failure after the request left (timeout, lost connection, 5xx, an
    /// answer without a job id) is [`Error::Ambiguous`] and is never resent.
    pub async fn create_job(&self, app_id: &str, inputs: &Inputs) -> Result<CreatedJob> {
        nonempty("application id", app_id)?;
        self.execute(
            Operation::Create,
            Call::Create {
                app: app_id,
                inputs,
            },
            |bytes, _| created::decode(bytes),
        )
        .await
    }

    /// Fetches a job.
    pub async fn get_job(&self, job_id: &str) -> Result<Job> {
        nonempty("job id", job_id)?;
        self.execute(Operation::Get, Call::Get { job: job_id }, |bytes, typed| {
            wire_value::<wire::Job>(bytes, typed).map(convert::job)
        })
        .await
    }

    /// Fetches one page of an application's jobs (newest first).
    pub async fn list_jobs_page(&self, app_id: &str, query: &ListQuery) -> Result<JobPage> {
        nonempty("application id", app_id)?;
        if query.limit == Some(0) {
            return Err(Error::InvalidRequest(
                "a page size must be at least 1".into(),
            ));
        }
        self.execute(
            Operation::List,
            Call::List {
                app: app_id,
                query,
                raw_only: false,
            },
            |bytes, typed| {
                wire_value::<wire::JobList>(bytes, typed).map(|w| convert::page(w, query))
            },
        )
        .await
    }

    /// Asks the server to run a `failed` job again; follow the returned id.
    ///
    /// 409 ([`Error::Conflict`]) means the job is not `failed`. Like create,
    /// it is never resent after an ambiguous failure ([`Error::Ambiguous`]):
    /// fetch the job to see whether the retry took.
    pub async fn retry_job(&self, job_id: &str) -> Result<RetriedJob> {
        nonempty("job id", job_id)?;
        self.execute(
            Operation::Retry,
            Call::Retry { job: job_id },
            |bytes, typed| {
                let w: wire::RetryJobResponse = wire_value(bytes, typed)?;
                convert::retried(w).map_err(Undecodable::shape)
            },
        )
        .await
    }

    /// Fetches an application's details and input definitions (see also
    /// [`Client::app`], a handle on one application).
    pub async fn get_application(&self, app_id: &str) -> Result<Application> {
        nonempty("application id", app_id)?;
        self.execute(
            Operation::Application,
            Call::Application { app: app_id },
            |bytes, typed| wire_value::<wire::Application>(bytes, typed).map(convert::application),
        )
        .await
    }

    /// Runs an application synchronously and returns its output (waits up
    /// to the run timeout; the server gives up after about 5 minutes).
    pub async fn run_application(&self, app_id: &str, inputs: &Inputs) -> Result<Output> {
        nonempty("application id", app_id)?;
        let body = run_body(inputs, None);
        self.execute(
            Operation::Run,
            Call::Run {
                app: app_id,
                body: &body,
            },
            |bytes, typed| {
                wire_value::<wire::GenerateApplicationResponse>(bytes, typed).map(convert::output)
            },
        )
        .await
    }
}

fn nonempty(what: &str, value: &str) -> Result<()> {
    if value.trim().is_empty() {
        Err(Error::InvalidRequest(format!("the {what} is empty")))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod future_sizes {
    use super::*;

    /// A request's state machine stays a few KiB: the batch engine boxes a
    /// create's future per row, and every move or allocation of it costs
    /// by its size. Nested `async fn`s that each hold the request's future
    /// beside their callee's made it four times the generated `send()`'s
    /// (13.8 KiB, 2.6 KiB of them the `send()`).
    #[test]
    fn request_futures_stay_small() {
        let client = Client::builder()
            .api_key("k")
            .base_url("http://127.0.0.1:1")
            .build()
            .unwrap();
        let inputs = Inputs::new().text("a", "b");
        let create = std::mem::size_of_val(&client.create_job("app", &inputs));
        let get = std::mem::size_of_val(&client.get_job("j"));
        let query = ListQuery::default();
        let brief = std::mem::size_of_val(&client.list_jobs_brief::<Option<Arc<str>>>(
            "app",
            &query,
            |_| None,
        ));
        for (name, size) in [("create", create), ("get", get), ("brief list", brief)] {
            assert!(size < 6 * 1024, "the {name} future is {size} bytes");
        }
    }
}

//! [`Client`], its builder, and the low-level calls with transport retries.
//!
//! Every call goes through one loop: await the throttle, send (racing the
//! request against the clock's timeout), classify what came back, report it
//! to the throttle, and retry by the [`RetryPolicy`] when that is safe. The
//! raw status, headers and body of every response come from
//! [`writer_api::raw::capture`], so even a 2xx that does not decode is
//! classified by what really arrived.

use std::fmt;
use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use writer_api::auth::Credentials;
use writer_api::raw::{self, RawResponse};
use writer_api::types as wire;

use crate::clock::{Clock, ScaledClock, SharedClock, SystemClock};
use crate::config::{ALLOW_HTTP_VAR, API_KEY_VAR, BASE_URL_VAR, EnvSource};
use crate::error::{Error, ErrorBody, ErrorProblem, MALFORMED_KEY_ADVICE, Result, snippet};
use crate::model::{
    Application, CreatedJob, Inputs, Job, JobPage, ListQuery, Output, RetriedJob, convert,
};
use crate::poll::PollPolicy;
use crate::retry::{Failed, RetryPolicy, cost, parse_retry_after, should_retry_header, verdict};
use crate::throttle::{Observation, Operation, Throttle};

/// The base URL used when none is configured.
pub const DEFAULT_BASE_URL: &str = "https://api.writer.com";

/// The default user agent: `writer-jobs/<version>`.
pub const DEFAULT_USER_AGENT: &str = concat!("writer-jobs/", env!("CARGO_PKG_VERSION"));

mod brief;
mod stream;

pub(crate) use brief::BriefPage;

pub use stream::RunStream;

/// How many bytes of a body an error keeps.
const SNIPPET_BYTES: usize = 300;

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

/// Builds a [`Client`]. Nothing is read from the environment unless
/// [`ClientBuilder::from_env`] or [`ClientBuilder::env_source`] says so.
#[must_use = "a builder does nothing until it is built"]
pub struct ClientBuilder {
    api_key: Option<String>,
    base_url: Option<String>,
    clock: Option<SharedClock>,
    connect_timeout: Duration,
    request_timeout: Duration,
    run_timeout: Duration,
    user_agent: String,
    retry: RetryPolicy,
    poll: PollPolicy,
    http: Option<reqwest::Client>,
    allow_insecure_http: Option<bool>,
    env: EnvSource,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("base_url", &self.base_url)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("run_timeout", &self.run_timeout)
            .field("user_agent", &self.user_agent)
            .field("retry", &self.retry)
            .field("poll", &self.poll)
            .field("allow_insecure_http", &self.allow_insecure_http)
            .field("env", &self.env)
            .finish_non_exhaustive()
    }
}

impl Default for ClientBuilder {
    fn default() -> Self {
        Self {
            api_key: None,
            base_url: None,
            clock: None,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            run_timeout: Duration::from_secs(330),
            user_agent: DEFAULT_USER_AGENT.to_string(),
            retry: RetryPolicy::default(),
            poll: PollPolicy::default(),
            http: None,
            allow_insecure_http: None,
            env: EnvSource::none(),
        }
    }
}

impl ClientBuilder {
    /// A builder that reads `WRITER_API_KEY` and `WRITER_BASE_URL` from the
    /// process environment and `./.env` (values set on the builder win).
    pub fn from_env() -> Self {
        Self {
            env: EnvSource::process(),
            ..Self::default()
        }
    }

    /// Where to read `WRITER_API_KEY` and `WRITER_BASE_URL` from.
    pub fn env_source(mut self, env: EnvSource) -> Self {
        self.env = env;
        self
    }

    /// The API key (wins over the environment).
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// The API's base URL (default `https://api.writer.com`). Plain
    /// `http://` is refused unless the host is loopback or
    /// [`allow_insecure_http`](Self::allow_insecure_http) says otherwise.
    pub fn base_url(mut self, url: impl AsRef<str>) -> Self {
        self.base_url = Some(url.as_ref().to_string());
        self
    }

    /// Allows a plain `http://` base URL to a host that is not loopback
    /// (default: refused, since the key would cross the network in clear
    /// text), e.g. a simulator in another container of a docker-compose
    /// setup. Wins over `WRITER_ALLOW_HTTP=1` in the environment source.
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = Some(allow);
        self
    }

    /// Wires the client to a simulator (such as `writer-sim`) in one call:
    /// its base URL and key, and a [`ScaledClock`] with the simulator
    /// clock's `scale` and `anchor`, so both sides agree on every duration
    /// and timestamp. Plain values, so this crate needs no simulator.
    ///
    /// ```no_run
    /// # fn demo(sim: &writer_sim::Simulator) -> writer_jobs::Result<()> {
    /// let clock = sim.clock();
    /// let client = writer_jobs::Client::builder()
    ///     .simulator(sim.base_url(), sim.api_key(), clock.scale(), clock.anchor())
    ///     .build()?;
    /// # Ok(()) }
    /// ```
    pub fn simulator(
        self,
        base_url: impl AsRef<str>,
        api_key: impl Into<String>,
        scale: f64,
        anchor: std::time::SystemTime,
    ) -> Self {
        self.base_url(base_url)
            .api_key(api_key)
            .clock(ScaledClock::with_anchor(scale, anchor))
    }

    /// The clock every wait goes through (default: real time).
    pub fn clock(self, clock: impl Clock) -> Self {
        self.shared_clock(Arc::new(clock))
    }

    /// A clock shared with other parts of the program (e.g. a simulator).
    pub fn shared_clock(mut self, clock: SharedClock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// How long opening a connection may take (default 10 s, real time;
    /// not applied to a client given with [`http_client`](Self::http_client)).
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self
    }

    /// How long one request may take, on the client's clock (default 60 s).
    pub fn request_timeout(mut self, d: Duration) -> Self {
        self.request_timeout = d;
        self
    }

    /// How long a synchronous [`Client::run_application`] may take
    /// (default 330 s: the server itself gives up after about 5 minutes).
    pub fn run_timeout(mut self, d: Duration) -> Self {
        self.run_timeout = d;
        self
    }

    /// The `User-Agent` header (default `writer-jobs/<version>`).
    pub fn user_agent(mut self, ua: impl Into<String>) -> Self {
        self.user_agent = ua.into();
        self
    }

    /// The transport retry policy.
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// The default polling policy for waits.
    pub fn poll_policy(mut self, policy: PollPolicy) -> Self {
        self.poll = policy;
        self
    }

    /// Sends through the caller's `reqwest::Client` (sharing its connection
    /// pool, proxy and default headers). The key and user agent go on each
    /// request, as with the client's own, and that client's redirect, TLS
    /// and connect-timeout settings apply: build it with
    /// `redirect(Policy::none())` so a redirect never carries the key
    /// elsewhere.
    pub fn http_client(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    /// The client, or [`Error::Config`] saying what is missing or wrong.
    pub fn build(self) -> Result<Client> {
        let key = match self.api_key.filter(|k| !k.trim().is_empty()) {
            Some(key) => key.trim().to_string(),
            None => self.env.get(API_KEY_VAR).ok_or_else(|| {
                Error::Config(format!(
                    "no API key: looked in {}. Set {API_KEY_VAR} (in the environment or a .env \
                     file) or call ClientBuilder::api_key",
                    self.env.describe(API_KEY_VAR)
                ))
            })?,
        };
        let base = self
            .base_url
            .or_else(|| self.env.get(BASE_URL_VAR))
            .unwrap_or_else(|| DEFAULT_BASE_URL.to_string());
        let allow_http = self.allow_insecure_http.unwrap_or_else(|| {
            self.env.get(ALLOW_HTTP_VAR).is_some_and(|v| {
                let v = v.trim();
                v == "1" || v.eq_ignore_ascii_case("true")
            })
        });
        let base_url = check_base_url(&base, allow_http)?;
        if self.request_timeout.is_zero() || self.run_timeout.is_zero() {
            return Err(Error::Config("request timeouts must be above zero".into()));
        }
        let credentials = Credentials::bearer(&key)
            .map_err(|e| Error::Config(format!("{e}; {MALFORMED_KEY_ADVICE}")))?
            .with_user_agent(&self.user_agent)
            .map_err(|_| {
                Error::Config(format!(
                    "the user agent {:?} is not a valid header value",
                    self.user_agent
                ))
            })?;
        let shared_http = self.http.is_some();
        let http = match self.http {
            Some(http) => http,
            None => reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .connect_timeout(self.connect_timeout)
                .build()
                .map_err(|e| Error::Config(format!("could not build the HTTP client: {e}")))?,
        };
        Ok(Client {
            inner: Arc::new(Inner {
                api: writer_api::Client::new_with_client(&base_url, http, credentials),
                shared_http,
                base_url,
                clock: self.clock.unwrap_or_else(|| Arc::new(SystemClock::new())),
                retry: self.retry,
                poll: self.poll,
                request_timeout: self.request_timeout,
                run_timeout: self.run_timeout,
                user_agent: self.user_agent,
                key: Arc::from(key),
            }),
            throttle: None,
            single_attempt: false,
            read_timeout: None,
        })
    }
}

/// Checks the base URL: a valid http(s) URL, no credentials, and plain
/// `http://` only to a loopback host (the key must not cross a network in
/// clear text) unless `allow_http`. Returns it without a trailing slash.
fn check_base_url(base: &str, allow_http: bool) -> Result<String> {
    let url = url::Url::parse(base.trim())
        .map_err(|e| Error::Config(format!("the base URL {base:?} is not a valid URL: {e}")))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::Config(
            "the base URL must not contain credentials; give the key with WRITER_API_KEY".into(),
        ));
    }
    match url.scheme() {
        "https" => {}
        "http" => {
            let loopback = match url.host() {
                Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
                Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
                Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
                None => false,
            };
            if !loopback && !allow_http {
                return Err(Error::Config(format!(
                    "refusing plain http:// to {}: the API key would travel unencrypted. Use \
                     https://, or http:// only for a loopback host (127.0.0.1, ::1, localhost); \
                     to send it in clear text anyway (e.g. to a simulator in another \
                     container), set {ALLOW_HTTP_VAR}=1 or call \
                     ClientBuilder::allow_insecure_http(true)",
                    url.host_str().unwrap_or("an unknown host")
                )));
            }
            if !loopback {
                tracing::warn!(
                    host = url.host_str().unwrap_or(""),
                    "plain http:// to a host that is not loopback: the API key travels unencrypted"
                );
            }
        }
        other => {
            return Err(Error::Config(format!(
                "the base URL must start with https:// (not {other}://)"
            )));
        }
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
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
        let body = inputs.to_wire();
        self.execute(
            Operation::Create,
            Call::Create {
                app: app_id,
                body: &body,
            },
            |bytes, typed| {
                let w: wire::CreateJobResponse = wire_value(bytes, typed)?;
                convert::created(w).map_err(Undecodable::shape)
            },
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

    /// One call through the retry loop: each attempt is one exchange,
    /// classified and decoded.
    async fn execute<T>(
        &self,
        op: Operation,
        call: Call<'_>,
        decode: impl Fn(&[u8], Option<Typed>) -> std::result::Result<T, Undecodable>,
    ) -> Result<T> {
        let (call, decode) = (&call, &decode);
        self.attempts(op, move || async move {
            let exchange = self.timed_exchange(op, call).await;
            self.classify(op, exchange, decode)
        })
        .await
    }

    /// The retry loop shared by every call: the throttle's permit before
    /// each attempt, its report after, and the retry policy's decision,
    /// wait and budget between attempts.
    async fn attempts<T, F, Fut>(&self, op: Operation, mut attempt_once: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = (std::result::Result<T, Failure>, Observation)>,
    {
        let policy = &self.inner.retry;
        let clock = &self.inner.clock;
        let started = clock.now();
        let mut attempt: u32 = 0;
        let mut spent: u32 = 0;
        loop {
            attempt += 1;
            if let Some(throttle) = &self.throttle
                && !self.single_attempt
            {
                throttle.acquire(op).await;
            }
            let sent_at = clock.now();
            let (outcome, mut observation) = attempt_once().await;
            observation.sent_at = sent_at;
            if let Some(throttle) = &self.throttle {
                throttle.observe(op, &observation);
            }
            let failure = match outcome {
                Ok(value) => {
                    if let Some(budget) = policy.budget() {
                        budget.refund(if spent > 0 { spent } else { cost::SUCCESS });
                    }
                    return Ok(value);
                }
                Err(failure) => failure,
            };
            let verdict = failure.verdict(op);
            if !verdict.retry {
                return Err(failure.into_error(op));
            }
            if attempt >= policy.max_attempts() || self.single_attempt {
                tracing::debug!(operation = %op, attempt, "no attempts left");
                return Err(failure.into_error(op));
            }
            let wait = policy.wait(attempt - 1, failure.retry_after);
            let elapsed = clock.now().saturating_sub(started);
            if let Some(limit) = policy.max_elapsed()
                && elapsed + wait > limit
            {
                tracing::debug!(operation = %op, attempt, ?wait, ?elapsed, "no time left for another attempt");
                return Err(failure.into_error(op));
            }
            let price = verdict.cost;
            if price > 0
                && let Some(budget) = policy.budget()
            {
                if !budget.try_spend(price) {
                    tracing::warn!(
                        operation = %op,
                        attempt,
                        "retry budget exhausted: not retrying (the server is failing a lot)"
                    );
                    return Err(failure.into_error(op));
                }
                spent += price;
            }
            tracing::info!(
                operation = %op,
                attempt,
                next_attempt = attempt + 1,
                wait_ms = wait.as_millis() as u64,
                error = %failure.error,
                "retrying"
            );
            clock.sleep(wait).await;
        }
    }

    /// One exchange, racing the clock's timeout.
    async fn timed_exchange(&self, op: Operation, call: &Call<'_>) -> Exchange {
        let timeout = match (op, self.read_timeout) {
            (Operation::Run, _) => self.inner.run_timeout,
            (Operation::Get | Operation::List | Operation::Application, Some(read)) => read,
            _ => self.inner.request_timeout,
        };
        let sleep = self.inner.clock.sleep(timeout);
        tokio::select! {
            biased;
            exchange = self.exchange(call) => exchange,
            () = sleep => Exchange::TimedOut(timeout),
        }
    }

    async fn exchange(&self, call: &Call<'_>) -> Exchange {
        let secret = self.inner.key.clone();
        let api = &self.inner.api;
        match *call {
            Call::Create { app, body } => {
                generated(
                    secret,
                    Typed::Created,
                    api.create_job()
                        .application_id(app)
                        .body(body.clone())
                        .send(),
                )
                .await
            }
            Call::Get { job } => {
                generated(secret, Typed::Job, api.get_job().job_id(job).send()).await
            }
            Call::List {
                app,
                query,
                raw_only,
            } => {
                let mut b = api.list_jobs().application_id(app).offset(query.offset);
                if let Some(limit) = query.limit {
                    // The API types `limit` as int32: a larger page
                    // size asks for the largest it can express.
                    b = b.limit(limit.min(i32::MAX as u64) as u32);
                }
                if let Some(status) = query.status {
                    b = b.status(convert::status_filter(status));
                }
                if raw_only {
                    raw_only_exchange(secret, b.send()).await
                } else {
                    generated(secret, Typed::List, b.send()).await
                }
            }
            Call::Retry { job } => {
                generated(secret, Typed::Retried, api.retry_job().job_id(job).send()).await
            }
            Call::Application { app } => {
                generated(
                    secret,
                    Typed::Application,
                    api.get_application().application_id(app).send(),
                )
                .await
            }
            Call::Run { app, body } => {
                generated(
                    secret,
                    Typed::Output,
                    api.run_application()
                        .application_id(app)
                        .body(body.clone())
                        .send(),
                )
                .await
            }
        }
    }

    /// Sorts what came back into a value or a failure, and what the
    /// throttle should hear about it.
    fn classify<T>(
        &self,
        op: Operation,
        exchange: Exchange,
        decode: &impl Fn(&[u8], Option<Typed>) -> std::result::Result<T, Undecodable>,
    ) -> (std::result::Result<T, Failure>, Observation) {
        let policy = &self.inner.retry;
        match exchange {
            Exchange::Invalid(message) => (
                Err(Failure::new(Error::InvalidRequest(message), Failed::Final)),
                Observation::default(),
            ),
            Exchange::TimedOut(after) => (
                Err(Failure::new(
                    Error::Timeout {
                        operation: op.as_str(),
                        after,
                    },
                    Failed::TimedOut,
                )),
                Observation {
                    transport_error: true,
                    timed_out: true,
                    ..Observation::default()
                },
            ),
            Exchange::NoResponse(source) => {
                let connect = source.as_ref().is_some_and(reqwest::Error::is_connect);
                let (message, failed) = if connect {
                    ("the connection could not be opened", Failed::NotSent)
                } else {
                    ("it broke before an answer arrived", Failed::Lost)
                };
                let error = self.transport_error(message, connect, source);
                (
                    Err(Failure::new(error, failed)),
                    Observation {
                        transport_error: true,
                        ..Observation::default()
                    },
                )
            }
            Exchange::Response {
                raw,
                complete,
                typed,
            } => {
                let status = raw.status.as_u16();
                let request_id = raw.request_id().map(|id| self.request_id(id));
                let retry_after = parse_retry_after(&raw.headers, self.inner.clock.wall())
                    .map(|d| d.min(policy.max_retry_after()));
                let observation = Observation {
                    status: Some(status),
                    retry_after,
                    transport_error: !complete,
                    server_date: server_date(&raw.headers),
                    ..Observation::default()
                };
                let should_retry = should_retry_header(&raw.headers);
                let failure = |error, failed| Failure {
                    error,
                    failed,
                    should_retry,
                    retry_after,
                };
                if !complete {
                    let error = Error::transport(
                        format!("it broke while the answer was read (HTTP {status})"),
                        false,
                        None,
                    );
                    return (Err(failure(error, Failed::Lost)), observation);
                }
                if raw.status.is_success() {
                    let decoded = if raw.truncated {
                        Err(Undecodable::Shape(format!(
                            "the body is larger than {} bytes and was cut",
                            raw.body.len()
                        )))
                    } else {
                        decode(&raw.body, typed.map(|t| *t))
                    };
                    return match decoded {
                        Ok(value) => (Ok(value), observation),
                        Err(undecodable) => {
                            let error =
                                self.decode_error(undecodable, &raw.body, status, request_id);
                            (Err(failure(error, Failed::BadBody)), observation)
                        }
                    };
                }
                let (message, body) =
                    error_message(&raw, |text| self.scrub(text), |b| self.scrubbed_snippet(b));
                let (message, body) = if raw.status.is_redirection() {
                    let location = raw
                        .headers
                        .get(reqwest::header::LOCATION)
                        .map_or(&b"an unnamed location"[..], |l| l.as_bytes());
                    let message = format!(
                        "the server redirected to {}; redirects are not followed, so the key \
                         is never sent elsewhere (check the base URL)",
                        self.scrubbed_snippet(location)
                    );
                    (message, ErrorBody::default())
                } else {
                    (message, body)
                };
                let error =
                    Error::from_answer(status, message, request_id, Box::new(body), retry_after);
                (Err(failure(error, Failed::Status(status))), observation)
            }
        }
    }

    /// Text from outside (a body, a header), with the key removed before it
    /// is cut to a snippet, so no part of the key survives the cut.
    fn scrubbed_snippet(&self, bytes: &[u8]) -> String {
        let text = self.scrub(String::from_utf8_lossy(bytes).into_owned());
        snippet(text.as_bytes(), SNIPPET_BYTES)
    }

    /// A transport error with `source` as its cause, unless the cause's
    /// text holds the key: it is then kept only as scrubbed text.
    pub(crate) fn transport_error(
        &self,
        message: &str,
        connect: bool,
        source: Option<reqwest::Error>,
    ) -> Error {
        match self.keep_cause(source) {
            Ok(source) => Error::transport(message, connect, source),
            Err(text) => Error::transport(format!("{message}: {text}"), connect, None),
        }
    }

    /// The error of a successful answer that did not decode.
    pub(crate) fn decode_error(
        &self,
        undecodable: Undecodable,
        body: &[u8],
        status: u16,
        request_id: Option<String>,
    ) -> Error {
        let (message, source) = match undecodable {
            Undecodable::Shape(message) => (self.scrub(message), None),
            Undecodable::Json(e) => {
                let message = "the body is not the JSON expected";
                match self.keep_cause(Some(e)) {
                    Ok(source) => (message.to_string(), source),
                    Err(text) => (format!("{message}: {text}"), None),
                }
            }
        };
        Error::Decode {
            message,
            body_snippet: self.scrubbed_snippet(body),
            status,
            request_id,
            source,
        }
    }

    /// `Ok(cause)` when neither its text (with its own causes) nor its
    /// `Debug` holds the key; else `Err` with that text, scrubbed.
    fn keep_cause<E: std::error::Error>(
        &self,
        cause: Option<E>,
    ) -> std::result::Result<Option<E>, String> {
        let Some(cause) = cause else {
            return Ok(None);
        };
        let text = chain_text(&cause);
        let key = &*self.inner.key;
        if text.contains(key) || format!("{cause:?}").contains(key) {
            Err(self.scrub(text))
        } else {
            Ok(Some(cause))
        }
    }

    /// A server-sent request id fit for errors: the key removed, then at
    /// most 128 printable ASCII characters.
    fn request_id(&self, id: &str) -> String {
        self.scrub(id.to_string())
            .chars()
            .filter(|c| c.is_ascii_graphic())
            .take(writer_api::raw::MAX_REQUEST_ID)
            .collect()
    }

    /// Removes the API key from text that came from outside.
    fn scrub(&self, text: String) -> String {
        let key = &self.inner.key;
        if key.len() >= 4 && text.contains(&**key) {
            text.replace(&**key, "<redacted>")
        } else {
            text
        }
    }
}

fn nonempty(what: &str, value: &str) -> Result<()> {
    if value.trim().is_empty() {
        Err(Error::InvalidRequest(format!("the {what} is empty")))
    } else {
        Ok(())
    }
}

/// A successful answer the generated client already decoded, by operation.
enum Typed {
    Created(wire::CreateJobResponse),
    Job(wire::Job),
    List(wire::JobList),
    Retried(wire::RetryJobResponse),
    Application(wire::Application),
    Output(wire::GenerateApplicationResponse),
}

/// A wire type that a [`Typed`] answer may hold.
trait FromTyped: serde::de::DeserializeOwned {
    fn from_typed(typed: Typed) -> Option<Self>;
}

macro_rules! from_typed {
    ($($variant:ident => $ty:ty),* $(,)?) => {$(
        impl FromTyped for $ty {
            fn from_typed(typed: Typed) -> Option<Self> {
                match typed {
                    Typed::$variant(value) => Some(value),
                    _ => None,
                }
            }
        }
    )*};
}

from_typed! {
    Created => wire::CreateJobResponse,
    Job => wire::Job,
    List => wire::JobList,
    Retried => wire::RetryJobResponse,
    Application => wire::Application,
    Output => wire::GenerateApplicationResponse,
}

/// The wire value of a successful answer: the generated client's decoded
/// value when there is one, else decoded from the raw bytes (a 2xx the
/// spec does not list, or the hand-built streamed run's whole answer).
fn wire_value<W: FromTyped>(
    bytes: &[u8],
    typed: Option<Typed>,
) -> std::result::Result<W, Undecodable> {
    match typed.and_then(W::from_typed) {
        Some(value) => Ok(value),
        None => serde_json::from_slice(bytes).map_err(Undecodable::Json),
    }
}

/// Why a successful answer did not decode.
pub(crate) enum Undecodable {
    /// Not the JSON expected.
    Json(serde_json::Error),
    /// JSON of the right shape that still cannot be used (e.g. no job id).
    Shape(String),
}

impl Undecodable {
    pub(crate) fn shape(message: &str) -> Self {
        Self::Shape(message.to_string())
    }
}

/// The request a call makes.
enum Call<'a> {
    Create {
        app: &'a str,
        body: &'a wire::GenerateApplicationRequest,
    },
    Get {
        job: &'a str,
    },
    List {
        app: &'a str,
        query: &'a ListQuery,
        /// The caller decodes the raw body itself (see `client/brief.rs`).
        raw_only: bool,
    },
    Retry {
        job: &'a str,
    },
    Application {
        app: &'a str,
    },
    Run {
        app: &'a str,
        body: &'a wire::RunApplicationRequest,
    },
}

/// The body of a synchronous run: the inputs, and `stream` only when asked.
fn run_body(inputs: &Inputs, stream: Option<bool>) -> wire::RunApplicationRequest {
    wire::RunApplicationRequest {
        inputs: inputs.to_wire().inputs,
        stream,
    }
}

/// What one attempt came back with.
enum Exchange {
    /// A response; `complete` is false when its body broke off.
    Response {
        raw: RawResponse,
        complete: bool,
        /// The generated client's decoded value of a successful answer.
        typed: Option<Box<Typed>>,
    },
    /// No response, with the HTTP client's error when there is one.
    NoResponse(Option<reqwest::Error>),
    /// The clock's timeout won the race.
    TimedOut(Duration),
    /// The request could not be built.
    Invalid(String),
}

/// An error's text followed by its causes', joined by ": ".
pub(crate) fn chain_text(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Runs a generated `send()` inside a raw capture. The generated code has
/// already decoded a successful answer: `typed` keeps that value (see
/// [`Typed`]) so it is not decoded a second time from the raw bytes.
async fn generated<T, E>(
    secret: Arc<str>,
    typed: fn(T) -> Typed,
    send: impl Future<Output = std::result::Result<writer_api::ResponseValue<T>, writer_api::Error<E>>>,
) -> Exchange {
    let (result, raw) = raw::capture_redacting(secret, send).await;
    match (result, raw) {
        (Err(writer_api::Error::InvalidRequest(message)), _) => Exchange::Invalid(message),
        (Err(writer_api::Error::CommunicationError(_)), Some(raw)) => Exchange::Response {
            raw,
            complete: false,
            typed: None,
        },
        (Ok(value), Some(raw)) => Exchange::Response {
            raw,
            complete: true,
            typed: Some(Box::new(typed(value.into_inner()))),
        },
        (_, Some(raw)) => Exchange::Response {
            raw,
            complete: true,
            typed: None,
        },
        (Err(writer_api::Error::CommunicationError(e)), None) => Exchange::NoResponse(Some(e)),
        (_, None) => Exchange::NoResponse(None),
    }
}

/// Runs a generated `send()` inside a raw capture that hands the generated
/// code an empty body ([`raw::capture_raw_only`]): the caller decodes the
/// raw bytes itself, so whatever the generated code made of the answer is
/// dropped, and a complete response is classified by its raw status,
/// headers and body alone.
async fn raw_only_exchange<T, E>(
    secret: Arc<str>,
    send: impl Future<Output = std::result::Result<writer_api::ResponseValue<T>, writer_api::Error<E>>>,
) -> Exchange {
    match raw::capture_raw_only(secret, send).await {
        (Err(writer_api::Error::InvalidRequest(message)), _) => Exchange::Invalid(message),
        (Err(writer_api::Error::CommunicationError(_)), Some(raw)) => Exchange::Response {
            raw,
            complete: false,
            typed: None,
        },
        (_, Some(raw)) => Exchange::Response {
            raw,
            complete: true,
            typed: None,
        },
        (Err(writer_api::Error::CommunicationError(e)), None) => Exchange::NoResponse(Some(e)),
        (_, None) => Exchange::NoResponse(None),
    }
}

/// What went wrong, in the server's words when it gave some, and the error
/// body field by field. `scrub` removes the key from anything the server
/// sent; `snippet_of` cuts (and scrubs) a body that is not a JSON error.
///
/// The message lists each problem as `key: description` (Writer's shape),
/// after the older shape's `message`; with neither, the type name (`tpe`
/// or `code`) stands for it.
fn error_message(
    raw: &RawResponse,
    scrub: impl Fn(String) -> String,
    snippet_of: impl Fn(&[u8]) -> String,
) -> (String, ErrorBody) {
    if let Ok(wire) = serde_json::from_slice::<wire::Error>(&raw.body) {
        let body = ErrorBody {
            tpe: wire.tpe.or(wire.code).map(&scrub),
            problems: wire
                .errors
                .unwrap_or_default()
                .into_iter()
                .map(|d| ErrorProblem {
                    key: d.key.map(&scrub),
                    description: d.description.map(&scrub),
                    extras: d.extras.map(|v| scrub_json(v, &scrub)),
                })
                .collect(),
            extras: wire.extras.map(|v| scrub_json(v, &scrub)),
        };
        let mut parts: Vec<String> = wire.message.map(&scrub).into_iter().collect();
        for problem in &body.problems {
            match (&problem.key, &problem.description) {
                (Some(k), Some(d)) => parts.push(format!("{k}: {d}")),
                (None, Some(d)) => parts.push(d.clone()),
                _ => {}
            }
        }
        if parts.is_empty()
            && let Some(tpe) = &body.tpe
        {
            parts.push(tpe.clone());
        }
        if !parts.is_empty() {
            return (parts.join("; "), body);
        }
        if body != ErrorBody::default() {
            let reason = raw
                .status
                .canonical_reason()
                .unwrap_or("no explanation given");
            return (reason.to_string(), body);
        }
    }
    let text = snippet_of(&raw.body);
    let message = if text.trim().is_empty() {
        raw.status
            .canonical_reason()
            .unwrap_or("no explanation given")
            .to_string()
    } else {
        text
    };
    (message, ErrorBody::default())
}

/// The server's clock when it answered, from its `Date` header (whole
/// seconds, so the server's time was in `[date, date + 1 s)`).
fn server_date(headers: &reqwest::header::HeaderMap) -> Option<chrono::DateTime<chrono::Utc>> {
    let value = headers.get(reqwest::header::DATE)?.to_str().ok()?;
    chrono::DateTime::parse_from_rfc2822(value)
        .ok()
        .map(|d| d.with_timezone(&chrono::Utc))
}

/// `value` with `scrub` applied to every string in it (keys included).
fn scrub_json(value: serde_json::Value, scrub: &impl Fn(String) -> String) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::String(s) => Value::String(scrub(s)),
        Value::Array(items) => {
            Value::Array(items.into_iter().map(|v| scrub_json(v, scrub)).collect())
        }
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (scrub(k), scrub_json(v, scrub)))
                .collect(),
        ),
        other => other,
    }
}

/// A failed attempt: the error to report, and what the retry table
/// needs to judge it.
struct Failure {
    error: Error,
    failed: Failed,
    should_retry: Option<bool>,
    retry_after: Option<std::time::Duration>,
}

impl Failure {
    fn new(error: Error, failed: Failed) -> Self {
        Self {
            error,
            failed,
            should_retry: None,
            retry_after: None,
        }
    }

    /// What the retry table says about it (see [`crate::retry`]).
    fn verdict(&self, op: Operation) -> crate::retry::Verdict {
        verdict(op, self.failed, self.should_retry)
    }

    /// The error to report once no more attempts are made: for calls that
    /// are not idempotent, a failure after the request left is ambiguous.
    fn into_error(self, op: Operation) -> Error {
        if !self.verdict(op).ambiguous {
            return self.error;
        }
        Error::Ambiguous {
            operation: op.as_str(),
            status: self.error.status(),
            request_id: self.error.request_id().map(str::to_string),
            reason: chain_text(&self.error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls() {
        assert_eq!(
            check_base_url("https://api.writer.com/", false).unwrap(),
            "https://api.writer.com"
        );
        assert_eq!(
            check_base_url("http://127.0.0.1:8080", false).unwrap(),
            "http://127.0.0.1:8080"
        );
        assert!(check_base_url("http://127.5.0.1:1", false).is_ok());
        assert!(check_base_url("http://[::1]:1", false).is_ok());
        assert!(
            check_base_url("http://LOCALHOST:1/prefix/", false)
                .unwrap()
                .ends_with("/prefix")
        );
        let e = check_base_url("http://api.writer.com", false)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("refusing plain http://") && e.contains("api.writer.com"),
            "{e}"
        );
        assert!(check_base_url("http://10.0.0.1", false).is_err());
        assert!(check_base_url("http://localhost.evil.com", false).is_err());
        assert!(check_base_url("ftp://x", false).is_err());
        assert!(check_base_url("not a url", false).is_err());
        assert!(check_base_url("https://user:pw@api.writer.com", false).is_err());
        // The explicit opt-in lets http:// reach any host; the other checks stay.
        assert_eq!(
            check_base_url("http://sim:8080/", true).unwrap(),
            "http://sim:8080"
        );
        assert!(check_base_url("http://user:pw@sim:8080", true).is_err());
        assert!(check_base_url("ftp://sim", true).is_err());
    }

    #[tokio::test]
    async fn one_call_wires_a_client_to_a_simulator() {
        let anchor = std::time::SystemTime::now() - Duration::from_secs(10);
        let client = Client::builder()
            .simulator("http://127.0.0.1:9/", "sim-key", 60.0, anchor)
            .build()
            .unwrap();
        assert_eq!(client.base_url(), "http://127.0.0.1:9");
        // 10 real seconds since the anchor are 600 simulated ones.
        let since = client.clock().wall() - chrono::DateTime::<chrono::Utc>::from(anchor);
        assert!((600..700).contains(&since.num_seconds()), "{since}");
    }

    #[test]
    fn create_failures_after_sending_are_ambiguous() {
        let f = Failure::new(
            Error::from_answer(500, "boom".into(), Some("r".into()), Box::default(), None),
            Failed::Status(500),
        );
        assert!(!f.verdict(Operation::Create).retry);
        assert!(f.verdict(Operation::Get).retry);
        match f.into_error(Operation::Create) {
            Error::Ambiguous {
                operation,
                status,
                request_id,
                reason,
                ..
            } => {
                assert_eq!(operation, "create_job");
                assert_eq!(status, Some(500));
                assert_eq!(request_id.as_deref(), Some("r"));
                assert!(reason.contains("boom"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        let f = Failure::new(Error::transport("refused", true, None), Failed::NotSent);
        assert!(f.verdict(Operation::Create).retry);
        assert!(matches!(
            f.into_error(Operation::Create),
            Error::Transport { connect: true, .. }
        ));
        let mut f = Failure::new(Error::from_status(409, "not failed"), Failed::Status(409));
        assert!(!f.verdict(Operation::Retry).retry);
        assert!(f.verdict(Operation::List).retry);
        f.should_retry = Some(false);
        assert!(!f.verdict(Operation::List).retry);
        assert!(matches!(
            f.into_error(Operation::Retry),
            Error::Conflict { .. }
        ));
    }
}

//! Waiting for one job: poll it by a [`PollPolicy`] until it finishes.

use std::collections::VecDeque;
use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::Stream;
use futures::stream;

use super::PollPolicy;
use crate::client::Client;
use crate::error::{Error, Result};
use crate::model::{Inputs, Job, JobStatus};
use crate::paginate::Jobs;

/// A callback told about each change of a waited-for job's status.
pub type StatusCallback = Arc<dyn Fn(&Job) + Send + Sync>;

/// A boxed, `Send` future of a wait's outcome.
pub type WaitFuture = Pin<Box<dyn Future<Output = Result<Job>> + Send + 'static>>;

#[derive(Clone)]
struct WaitOptions {
    policy: PollPolicy,
    on_status: Option<StatusCallback>,
    retry_failed: u32,
}

impl fmt::Debug for WaitOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitOptions")
            .field("policy", &self.policy)
            .field("on_status", &self.on_status.as_ref().map(|_| "callback"))
            .field("retry_failed", &self.retry_failed)
            .finish()
    }
}

macro_rules! wait_options {
    () => {
        /// The polling policy (default: the client's).
        pub fn policy(mut self, policy: PollPolicy) -> Self {
            self.opts.policy = policy;
            self
        }

        /// The total time to wait (default: the policy's, 15 minutes).
        pub fn deadline(mut self, deadline: Duration) -> Self {
            self.opts.policy = self.opts.policy.with_deadline(deadline);
            self
        }

        /// Calls `f` with the job each time its status (or, after a retry,
        /// its id) changes, the first poll included.
        pub fn on_status(mut self, f: impl Fn(&Job) + Send + Sync + 'static) -> Self {
            self.opts.on_status = Some(Arc::new(f));
            self
        }

        /// When the job fails, ask the server to retry it up to `n` times
        /// (following the id the retry returns) and keep waiting.
        ///
        /// After a retry whose outcome is unknown ([`Error::Ambiguous`]) the
        /// job is fetched again before any further retry; a 409 (the job is
        /// no longer `failed`) just resumes polling. If the server answers a
        /// retry with a new id and that answer is lost, the new job cannot
        /// be followed: the wait sees the old job still `failed`.
        pub fn retry_failed(mut self, n: u32) -> Self {
            self.opts.retry_failed = n;
            self
        }
    };
}

/// A wait for one job; `.await` it, or [`watch`](Wait::watch) its changes.
/// Dropping it cancels it: no further request is made.
///
/// ```no_run
/// # async fn demo(client: writer_jobs::Client) -> writer_jobs::Result<()> {
/// let job = client
///     .wait("123-456-789")
///     .on_status(|job| println!("{} is {}", job.id, job.status))
///     .await?;
/// println!("{}", job.suggestion());
/// # Ok(()) }
/// ```
#[derive(Debug)]
#[must_use = "a wait does nothing until it is awaited"]
pub struct Wait {
    client: Client,
    job_id: String,
    opts: WaitOptions,
}

impl Client {
    /// Waits for job `job_id` to finish, by the client's poll policy.
    pub fn wait(&self, job_id: impl Into<String>) -> Wait {
        Wait {
            client: self.clone(),
            job_id: job_id.into(),
            opts: WaitOptions {
                policy: *self.poll_policy(),
                on_status: None,
                retry_failed: 0,
            },
        }
    }
}

impl Jobs {
    /// Waits for job `job_id` to finish (see [`Client::wait`]).
    pub fn wait(&self, job_id: impl Into<String>) -> Wait {
        self.client.wait(job_id)
    }

    /// Creates a job with `inputs` and waits for its result: the one-call path.
    ///
    /// ```no_run
    /// # async fn demo(client: writer_jobs::Client) -> writer_jobs::Result<()> {
    /// use writer_jobs::Inputs;
    /// let inputs = Inputs::new().text("Product name", "Terra running shoe");
    /// let job = client.jobs("my-app-id").create_and_wait(&inputs).retry_failed(1).await?;
    /// println!("{}", job.suggestion());
    /// # Ok(()) }
    /// ```
    pub fn create_and_wait(&self, inputs: &Inputs) -> CreateAndWait {
        CreateAndWait {
            jobs: self.clone(),
            inputs: inputs.clone(),
            opts: WaitOptions {
                policy: *self.client.poll_policy(),
                on_status: None,
                retry_failed: 0,
            },
        }
    }
}

impl Wait {
    wait_options!();

    /// The job's id.
    pub fn job_id(&self) -> &str {
        &self.job_id
    }

    /// Waits: the completed job, [`Error::JobFailed`], or
    /// [`Error::Deadline`] (after one last poll at the deadline).
    pub async fn run(self) -> Result<Job> {
        WaitLoop::new(self.client, self.job_id, self.opts)
            .run()
            .await
    }

    /// The job each time its status changes, ending with the completed job,
    /// or with an error when the wait fails.
    pub fn watch(self) -> impl Stream<Item = Result<Job>> + Send + 'static {
        WaitLoop::new(self.client, self.job_id, self.opts).into_stream()
    }
}

impl IntoFuture for Wait {
    type Output = Result<Job>;
    type IntoFuture = WaitFuture;

    fn into_future(self) -> WaitFuture {
        Box::pin(self.run())
    }
}

/// Creates a job, then waits for it (see [`Jobs::create_and_wait`]).
#[derive(Debug)]
#[must_use = "nothing is created until it is awaited"]
pub struct CreateAndWait {
    jobs: Jobs,
    inputs: Inputs,
    opts: WaitOptions,
}

impl CreateAndWait {
    wait_options!();

    /// Creates the job and waits for it.
    pub async fn run(self) -> Result<Job> {
        let created = self
            .jobs
            .client
            .create_job(&self.jobs.app_id, &self.inputs)
            .await?;
        tracing::debug!(job_id = %created.id, "job created; waiting");
        WaitLoop::new(self.jobs.client, created.id, self.opts)
            .run()
            .await
    }
}

impl IntoFuture for CreateAndWait {
    type Output = Result<Job>;
    type IntoFuture = WaitFuture;

    fn into_future(self) -> WaitFuture {
        Box::pin(self.run())
    }
}

/// What one step of the wait loop came to.
enum Step {
    /// Not finished yet (or a failed job that was just retried).
    Pending,
    /// The wait is over.
    Done(Result<Job>),
}

/// The poll loop, one step at a time, so that `run` and `watch` share it.
struct WaitLoop {
    client: Client,
    job_id: String,
    opts: WaitOptions,
    started: Option<Duration>,
    polls: u32,
    intervals: u32,
    retries_left: u32,
    last_seen: Option<(String, JobStatus)>,
    changes: VecDeque<Job>,
}

impl WaitLoop {
    fn new(client: Client, job_id: String, opts: WaitOptions) -> Self {
        Self {
            retries_left: opts.retry_failed,
            client,
            job_id,
            opts,
            started: None,
            polls: 0,
            intervals: 0,
            last_seen: None,
            changes: VecDeque::new(),
        }
    }

    fn elapsed(&self) -> Duration {
        let now = self.client.clock().now();
        now.saturating_sub(self.started.unwrap_or(now))
    }

    /// Records `job`, telling the callback (and the stream) when it changed.
    fn see(&mut self, job: &Job) {
        let key = (job.id.clone(), job.status.clone());
        if self.last_seen.as_ref() != Some(&key) {
            self.last_seen = Some(key);
            if let Some(f) = &self.opts.on_status {
                f(job);
            }
            self.changes.push_back(job.clone());
        }
    }

    fn deadline_error(&self) -> Error {
        Error::Deadline {
            waited: self.elapsed(),
            polls: self.polls,
            job_id: self.job_id.clone(),
        }
    }

    async fn step(&mut self) -> Step {
        let clock = self.client.clock().clone();
        let deadline = self.opts.policy.deadline();
        match self.started {
            None => self.started = Some(clock.now()),
            Some(_) => {
                // Sleep until the next poll, but never past the deadline:
                // at the deadline, poll one last time instead.
                let interval = self.opts.policy.next_interval(self.intervals);
                self.intervals = self.intervals.saturating_add(1);
                let remaining = deadline.saturating_sub(self.elapsed());
                clock.sleep(interval.min(remaining)).await;
            }
        }
        let result = self.client.get_job(&self.job_id).await;
        self.polls += 1;
        let job = match result {
            Ok(job) => job,
            Err(e) if e.is_transient() => {
                tracing::warn!(job_id = %self.job_id, error = %e, "poll failed; polling on");
                if self.elapsed() >= deadline {
                    return Step::Done(Err(self.deadline_error()));
                }
                return Step::Pending;
            }
            Err(e) => return Step::Done(Err(e)),
        };
        self.see(&job);
        match job.status {
            JobStatus::Completed => Step::Done(Ok(job)),
            JobStatus::Failed if self.retries_left > 0 => {
                self.retries_left -= 1;
                match self.client.retry_job(&job.id).await {
                    Ok(retried) => {
                        tracing::info!(
                            failed = %job.id,
                            now = %retried.id,
                            error = job.error.as_deref().unwrap_or(""),
                            "job failed; retried it"
                        );
                        self.job_id = retried.id;
                        self.intervals = 0;
                    }
                    Err(Error::Conflict { .. }) => {
                        tracing::info!(job_id = %job.id, "job is no longer failed; polling on");
                    }
                    Err(e @ Error::Ambiguous { .. }) => {
                        tracing::warn!(job_id = %job.id, error = %e, "retry outcome unknown; fetching the job before any further retry");
                    }
                    Err(e) => return Step::Done(Err(e)),
                }
                if self.elapsed() >= deadline {
                    return Step::Done(Err(self.deadline_error()));
                }
                Step::Pending
            }
            JobStatus::Failed => Step::Done(Err(Error::JobFailed {
                message: job
                    .error
                    .clone()
                    .unwrap_or_else(|| "the server gave no reason".to_string()),
                job_id: job.id,
            })),
            // In progress, or a status this client does not know (logged
            // once when decoded): unfinished; the deadline ends the wait.
            _ => {
                if self.elapsed() >= deadline {
                    Step::Done(Err(self.deadline_error()))
                } else {
                    Step::Pending
                }
            }
        }
    }

    async fn run(mut self) -> Result<Job> {
        loop {
            if let Step::Done(result) = self.step().await {
                return result;
            }
        }
    }

    fn into_stream(self) -> impl Stream<Item = Result<Job>> + Send + 'static {
        stream::unfold(
            (self, None::<Error>, false),
            |(mut wait_loop, mut error, mut done)| async move {
                loop {
                    if let Some(job) = wait_loop.changes.pop_front() {
                        return Some((Ok(job), (wait_loop, error, done)));
                    }
                    if let Some(e) = error.take() {
                        return Some((Err(e), (wait_loop, None, true)));
                    }
                    if done {
                        return None;
                    }
                    match wait_loop.step().await {
                        Step::Pending => {}
                        Step::Done(Ok(_)) => done = true,
                        Step::Done(Err(e)) => {
                            error = Some(e);
                            done = true;
                        }
                    }
                }
            },
        )
    }
}

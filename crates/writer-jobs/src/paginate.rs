//! An application's jobs as a lazy `Stream`, over offset/limit pages.
//!
//! The stream asks for one page at a time, only when the previous one has
//! been consumed. It advances the offset by the number of jobs the page
//! held, drops any job it has already yielded (by id), and stops at the
//! first empty page or at a page shorter than the page size the server says
//! it used (`pagination.limit`). It never stops on `totalCount` alone: that
//! count may ignore the status filter, and it goes stale while jobs are
//! being added.
//!
//! What it can miss when the list shifts while it is read (the list is
//! newest first): jobs created after the scan started come in at the front
//! and are not seen (the jobs they push back are seen twice, and deduped).
//! With a status filter, a job that leaves the filter mid-scan (e.g.
//! `in_progress` becomes `completed`) pulls the later ones forward by one,
//! so one job per such change can be skipped. Scan again, or without a
//! filter, when every job must be seen.

use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;
use futures::stream::{self, BoxStream, StreamExt};

use crate::client::Client;
use crate::error::Result;
use crate::model::{DEFAULT_PAGE_SIZE, Job, JobPage, ListQuery, StatusFilter};

/// The jobs of one application: listing, waiting and creating.
#[derive(Clone, Debug)]
pub struct Jobs {
    pub(crate) client: Client,
    pub(crate) app_id: String,
}

impl Client {
    /// The jobs of application `app_id`.
    ///
    /// ```no_run
    /// # async fn demo(client: writer_jobs::Client) -> writer_jobs::Result<()> {
    /// use writer_jobs::StatusFilter;
    /// let mut failed = client
    ///     .jobs("my-app-id")
    ///     .list()
    ///     .status(StatusFilter::Failed)
    ///     .stream();
    /// while let Some(job) = failed.next().await {
    ///     println!("{} failed", job?.id);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn jobs(&self, app_id: impl Into<String>) -> Jobs {
        Jobs {
            client: self.clone(),
            app_id: app_id.into(),
        }
    }
}

impl Jobs {
    /// The application's id.
    pub fn app_id(&self) -> &str {
        &self.app_id
    }

    /// The client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// A listing of the application's jobs (all statuses, 50 per page).
    pub fn list(&self) -> ListBuilder {
        ListBuilder {
            client: self.client.clone(),
            app_id: self.app_id.clone(),
            status: None,
            page_size: DEFAULT_PAGE_SIZE,
            start: 0,
        }
    }
}

/// Options of a listing; end with [`stream`](Self::stream) or [`pages`](Self::pages).
#[derive(Clone, Debug)]
#[must_use = "a listing does nothing until it is streamed"]
pub struct ListBuilder {
    client: Client,
    app_id: String,
    status: Option<StatusFilter>,
    page_size: u64,
    start: u64,
}

impl ListBuilder {
    /// Only jobs with this status.
    pub fn status(mut self, status: StatusFilter) -> Self {
        self.status = Some(status);
        self
    }

    /// The page size to ask for (default 50; at least 1). The server may use
    /// a smaller one; the stream follows what it reports.
    pub fn page_size(mut self, size: u64) -> Self {
        self.page_size = size.max(1);
        self
    }

    /// Start at this offset instead of 0.
    pub fn start_offset(mut self, offset: u64) -> Self {
        self.start = offset;
        self
    }

    /// The pages as they come, each as the server sent it (not deduped).
    /// Ends after an empty page or a page shorter than its limit; ends after
    /// the first error.
    pub fn pages(self) -> impl Stream<Item = Result<JobPage>> + Send + 'static {
        let start = self.start;
        stream::unfold(Some((self, start)), |state| async move {
            let (builder, offset) = state?;
            let query = ListQuery {
                status: builder.status,
                offset,
                limit: Some(builder.page_size),
            };
            match builder.client.list_jobs_page(&builder.app_id, &query).await {
                Err(e) => Some((Err(e), None)),
                Ok(page) => {
                    let n = page.jobs.len() as u64;
                    let last = n == 0 || n < page.limit.min(builder.page_size);
                    let next = (!last).then(|| (builder, offset + n));
                    Some((Ok(page), next))
                }
            }
        })
    }

    /// The jobs, one at a time, each at most once: a [`JobStream`].
    pub fn stream(self) -> JobStream {
        JobStream {
            inner: self.job_stream().boxed(),
        }
    }

    fn job_stream(self) -> impl Stream<Item = Result<Job>> + Send + 'static {
        let pages = self.pages().boxed();
        let state = (
            pages,
            VecDeque::<Job>::new(),
            HashSet::<String>::new(),
            false,
        );
        stream::unfold(
            state,
            |(mut pages, mut queue, mut seen, mut done)| async move {
                loop {
                    if let Some(job) = queue.pop_front() {
                        return Some((Ok(job), (pages, queue, seen, done)));
                    }
                    if done {
                        return None;
                    }
                    match pages.next().await {
                        None => return None,
                        Some(Err(e)) => {
                            done = true;
                            return Some((Err(e), (pages, queue, seen, done)));
                        }
                        Some(Ok(page)) => {
                            for job in page.jobs {
                                if seen.insert(job.id.clone()) {
                                    queue.push_back(job);
                                }
                            }
                        }
                    }
                }
            },
        )
    }
}

/// An application's jobs, one at a time, each at most once (see the
/// [module docs](self) for what a list that shifts while it is read can
/// do). From [`ListBuilder::stream`].
///
/// It is `Unpin` and has its own [`next`](Self::next), so the common loop
/// needs neither `pin!` nor the `futures` crate; it is also a
/// [`futures::Stream`] for the combinators. It ends after the first error.
///
/// ```no_run
/// # async fn demo(client: writer_jobs::Client) -> writer_jobs::Result<()> {
/// let mut jobs = client.jobs("my-app-id").list().stream();
/// while let Some(job) = jobs.next().await {
///     let job = job?;
///     println!("{}: {}", job.id, job.status);
/// }
/// # Ok(()) }
/// ```
#[must_use = "a stream does nothing unless polled"]
pub struct JobStream {
    inner: BoxStream<'static, Result<Job>>,
}

impl JobStream {
    /// The next job, or `None` when the listing is over.
    pub async fn next(&mut self) -> Option<Result<Job>> {
        StreamExt::next(&mut self.inner).await
    }
}

impl fmt::Debug for JobStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobStream").finish_non_exhaustive()
    }
}

impl Stream for JobStream {
    type Item = Result<Job>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

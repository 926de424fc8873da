//! The two listings the batch engine makes, as plain async functions of
//! the client (the engine routes their results): a sweep, which learns
//! which outstanding jobs finished, and a reconciliation listing, which
//! must show every job created in a range of time whatever the list's
//! order.

use crate::batch::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;

use super::pacer::Pacer;
use super::poller::{OrderEvidence, Plan};
use super::positions::{Start, gallop_probe, made_until};
use crate::Client;
use crate::client::{BriefPage, KeptId};
use crate::clock::SharedClock;
use crate::error::Error;
use crate::model::{Job, JobStatus, ListQuery};

mod back;
mod scan;

pub(super) use back::list_back_to;
use scan::{Scanned, locate};

/// Marks recorded by a scan: offsets of pages' first and last jobs and
/// their creation times (see [`super::positions`]).
pub(super) type Marks = Vec<(u64, DateTime<Utc>)>;

/// How a sweep reads the list for its plan's listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Scan {
    /// Known newest first: from offset 0 back to the plan's point.
    NewestFirst,
    /// Known oldest first: forward to the end from a start at (or
    /// galloping to) the plan's point.
    OldestFirst(Start),
    /// Order not known yet: one page (what it shows counts, and teaches
    /// the order).
    OnePage,
}

/// Where a sweep hands each finished job of ours as soon as a page or a
/// GET shows it, so its row ends then rather than when the whole sweep
/// (whose other pages or GETs may be slow) is over.
pub(super) type Finished = tokio::sync::mpsc::UnboundedSender<Job>;

/// What one sweep learned.
pub(super) struct SweepResult {
    /// The jobs of ours it fetched that were not handed over early.
    pub(super) observed: Vec<Job>,
    /// The ids of the finished jobs it handed over early (see [`Finished`]).
    pub(super) handed: Vec<String>,
    /// The ids of the jobs of ours a page showed still running (nothing
    /// else of them was decoded: see `client/brief.rs`).
    pub(super) running: Vec<Arc<str>>,
    pub(super) listed: u64,
    pub(super) oldest: Option<DateTime<Utc>>,
    pub(super) not_found: Vec<String>,
    /// What the pages showed about the list's order.
    pub(super) order: OrderEvidence,
    /// Where the pages read sit (used on an oldest-first list).
    pub(super) marks: Marks,
    /// The offset just past the list's end, when a page showed it.
    pub(super) end: Option<u64>,
    /// A page of the listing failed (after the client's retries): the
    /// jobs it should have shown are fetched by id by the next sweep,
    /// which therefore comes soon.
    pub(super) listing_failed: bool,
    /// A read (a page or a GET) went unanswered for the read timeout.
    pub(super) timed_out: bool,
}

/// A reconciliation listing: the jobs created in the range it covered.
pub(super) struct Listing {
    pub(super) jobs: Vec<(String, DateTime<Utc>)>,
    /// Every job created from `covered_since` to `covered_until` was shown.
    pub(super) covered_since: DateTime<Utc>,
    pub(super) covered_until: DateTime<Utc>,
    /// What the pages showed about the list's order.
    pub(super) order: OrderEvidence,
    /// Clock time the listing started: only creates settled by then can be
    /// judged from it.
    pub(super) started: Duration,
    /// Where the pages read sit (used on an oldest-first list).
    pub(super) marks: Marks,
    /// The offset just past the list's end, when a page showed it.
    pub(super) end: Option<u64>,
    /// The latest time the server stamped (a job's creation) on
    /// the first page whose jobs the listing holds: the server's clock had
    /// reached it before any of them was read.
    pub(super) first_page_stamp: Option<DateTime<Utc>>,
    /// The latest time the server stamped on any page read.
    pub(super) newest_stamp: Option<DateTime<Utc>>,
    /// Stamps whose jobs were split between two pages and could not be
    /// read again in one answer: the pages were two answers, which may
    /// order jobs of equal stamps differently, so a job made then may be
    /// on neither (see `back::regroup`).
    pub(super) ties: Vec<DateTime<Utc>>,
}

impl SweepResult {
    /// Takes a job a page or a GET showed: a finished one (with its
    /// results, when completed) is handed to `finished` at once.
    fn take(&mut self, job: Job, finished: &Finished) {
        let done = match job.status {
            JobStatus::Completed => job.output.is_some(),
            JobStatus::Failed => true,
            _ => false,
        };
        if done {
            let id = job.id.clone();
            match finished.send(job) {
                Ok(()) => self.handed.push(id),
                Err(unsent) => self.observed.push(unsent.0),
            }
        } else {
            self.observed.push(job);
        }
    }
}

/// One sweep: the plan's listing (read as `scan` says) through `client`,
/// then the plan's GETs, and a GET of each job listed `completed` without
/// its results, through `get_client`.
/// Jobs the listing was meant to show but did not are fetched by id next
/// time; a failed page ends the listing the same way. Each finished job
/// is handed to `finished` as soon as it is read. A page or a GET not
/// answered in time is asked for once more (see [`Hedge`]).
pub(super) async fn sweep(
    (client, get_client): (Client, Client),
    app_id: String,
    plan: Plan,
    page_size: u64,
    wanted: HashSet<Arc<str>>,
    scan: Scan,
    (finished, hedge): (Finished, Hedge),
) -> SweepResult {
    let mut result = SweepResult {
        observed: Vec::new(),
        handed: Vec::new(),
        running: Vec::new(),
        listed: 0,
        oldest: None,
        not_found: Vec::new(),
        order: OrderEvidence::default(),
        marks: Vec::new(),
        end: None,
        listing_failed: false,
        timed_out: false,
    };
    if let Some(back_to) = plan.list_back_to
        && let Err(error) = sweep_listing(
            &client,
            &app_id,
            back_to,
            page_size,
            &wanted,
            scan,
            (&mut result, &finished, &hedge),
        )
        .await
    {
        tracing::debug!(%error, "list page failed; its jobs are fetched by id");
        result.listing_failed = true;
        result.timed_out |= matches!(error, Error::Timeout { .. });
    }
    // A list entry may leave a job's results out (`data` is nullable and
    // the spec does not say what a listing includes): a job listed
    // `completed` without them is fetched by id before its row is written,
    // so the row gets the output the server holds. Only those cost a GET;
    // if the GET fails, the job was not seen: it stays outstanding, and a
    // later sweep looks at it again.
    let mut gets = plan.gets;
    let (complete, summaries): (Vec<Job>, Vec<Job>) = std::mem::take(&mut result.observed)
        .into_iter()
        .partition(|job| !(job.status == JobStatus::Completed && job.output.is_none()));
    result.observed = complete;
    for job in summaries {
        tracing::debug!(job_id = %job.id, "listed completed without its results; fetching it");
        if !gets.contains(&job.id) {
            gets.push(job.id);
        }
    }
    let hedge = &hedge;
    let mut fetched = futures::stream::iter(gets)
        .map(|id| {
            let client = get_client.clone();
            async move {
                let r = hedge.read(client.clock(), || client.get_job(&id)).await;
                (id, r)
            }
        })
        .buffer_unordered(8);
    while let Some((id, r)) = fetched.next().await {
        match r {
            Ok(job) => result.take(job, &finished),
            Err(Error::NotFound { .. }) => result.not_found.push(id),
            Err(error) => {
                tracing::debug!(%id, %error, "GET failed; the job stays due");
                result.timed_out |= matches!(error, Error::Timeout { .. });
            }
        }
    }
    result
}

/// A sweep's listing of every job made since `back_to`: newest first from
/// offset 0 until a job older than that, oldest first from a start near
/// it to the end, one page when the order is unknown. A short page ends
/// it too: a job it may have hidden is fetched by id next time, which
/// costs less than asking for one more page every sweep.
async fn sweep_listing(
    client: &Client,
    app_id: &str,
    back_to: DateTime<Utc>,
    page_size: u64,
    wanted: &HashSet<Arc<str>>,
    scan: Scan,
    (result, finished, hedge): (&mut SweepResult, &Finished, &Hedge),
) -> crate::Result<()> {
    let mut offset = match scan {
        Scan::OldestFirst(start) => {
            locate(client, app_id, back_to, start, page_size, &mut result.marks)
                .await?
                .offset
        }
        _ => 0,
    };
    let mut scanned = Scanned::default();
    loop {
        let marks = &mut result.marks;
        // Ids kept only of our jobs: the scan knows the others by key.
        let page: BriefPage<Option<Arc<str>>> = read_page(
            client,
            app_id,
            (offset, page_size),
            marks,
            Some(wanted),
            Some(hedge),
        )
        .await?;
        let skip = scanned.page(stamps(&page), scan == Scan::NewestFirst)?;
        let page_oldest = page.jobs.iter().map(|j| j.created_at).min();
        let n = page.jobs.len() as u64;
        result
            .order
            .observe_page(page.jobs.iter().map(|j| j.created_at));
        let last = page.is_last(offset);
        let short = n < page.limit.min(page_size);
        if let Some(o) = page_oldest {
            result.oldest = Some(result.oldest.map_or(o, |r| r.min(o)));
        }
        result.listed += n;
        // Only our jobs were decoded whole, and of those only the ones
        // no longer running.
        for brief in page.jobs {
            match (brief.job, brief.id) {
                (Some(job), _) => result.take(job, finished),
                (None, Some(id)) if brief.running => result.running.push(id),
                _ => {}
            }
        }
        let past = page_oldest.is_none_or(|o| o < back_to);
        let done = match scan {
            Scan::NewestFirst => past,
            Scan::OldestFirst(_) => false,
            Scan::OnePage => true,
        };
        if last || short {
            result.end = Some(offset + n);
        }
        if last || short || done {
            return Ok(());
        }
        offset += n + skip;
    }
}

/// A page's jobs as [`Scanned::page`] takes them.
fn stamps<I>(page: &BriefPage<I>) -> impl Iterator<Item = (u64, DateTime<Utc>)> + '_ {
    page.jobs.iter().map(|j| (j.key, j.created_at))
}

/// Reads the page at `offset`, recording its mark: every job's id and
/// creation time, and the whole job only for the ids in `wanted` (the
/// jobs a sweep waits for; see `client/brief.rs` for why). With a
/// `hedge`, a page not answered in time is asked for once more.
async fn read_page<I: KeptId>(
    client: &Client,
    app_id: &str,
    (offset, limit): (u64, u64),
    marks: &mut Marks,
    wanted: Option<&HashSet<Arc<str>>>,
    hedge: Option<&Hedge>,
) -> crate::Result<BriefPage<I>> {
    let query = ListQuery {
        status: None,
        offset,
        limit: Some(limit),
    };
    let wanted = |id: &str| wanted.and_then(|w| w.get(id)).cloned();
    let read = || client.list_jobs_brief(app_id, &query, wanted);
    let page = match hedge {
        Some(hedge) => hedge.read(client.clock(), read).await?,
        None => persistently(client.clock(), read).await?,
    };
    // The first job and the last: a later scan can start right at the
    // last job made before its point, not a page earlier.
    if let Some(first) = page.jobs.first() {
        marks.push((offset, first.created_at));
    }
    if let (Some(last), n) = (page.jobs.last(), page.jobs.len() as u64)
        && n > 1
    {
        marks.push((offset + n - 1, last.created_at));
    }
    Ok(page)
}

/// Reads of a page a listing makes at most (see [`persistently`]).
const PAGE_TRIES: u32 = 3;

/// A page read that failed with a transient error (after the client's own
/// retries) is read again, [`PAGE_TRIES`] times in all, after the wait the
/// server asked for (else 5 s). A listing that fails starts over from its
/// first page, so one page caught in a burst of 429s or 503s longer than
/// the client's retries must not cost every page read before it (and the
/// rows waiting on the listing their verdict).
async fn persistently<T, F, Fut>(clock: &SharedClock, read: F) -> crate::Result<T>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = crate::Result<T>>,
{
    let mut tries = 1;
    loop {
        match read().await {
            Err(error) if error.is_transient() && tries < PAGE_TRIES => {
                let wait = error.retry_after().unwrap_or(Duration::from_secs(5));
                tracing::debug!(%error, ?wait, "a listing's page failed; reading it again");
                clock.sleep(wait).await;
                tries += 1;
            }
            answer => return answer,
        }
    }
}

/// When a sweep's read is asked for once more (see [`hedged`]).
pub(super) struct Hedge {
    /// How long a read may go unanswered first.
    pub(super) after: Duration,
    /// The batch's pacer: while requests queue for the rate limiter, a
    /// late answer may be a read still waiting for its slot, and a second
    /// read would only spend the budget.
    pub(super) pacer: Pacer,
}

impl Hedge {
    async fn read<T, F, Fut>(&self, clock: &SharedClock, read: F) -> crate::Result<T>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = crate::Result<T>>,
    {
        let pacer = &self.pacer;
        hedged(clock, self.after, || !pacer.quota_binds(), read).await
    }
}

/// A read that has not answered within `after` is sent once more (when
/// `may` says so then), and the first answer is taken (the other request
/// is dropped; an error waits for the other's answer). One slow answer (a
/// server's hiccup, a lost packet) then costs one request more and
/// `after`, instead of holding the sweep, and every row it would show
/// finished, for the whole read timeout and a retry. Only reads are
/// hedged: they are idempotent.
async fn hedged<T, F, Fut>(
    clock: &SharedClock,
    after: Duration,
    may: impl Fn() -> bool,
    read: F,
) -> crate::Result<T>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = crate::Result<T>>,
{
    let first = read();
    tokio::pin!(first);
    tokio::select! {
        biased;
        answer = &mut first => return answer,
        () = clock.sleep(after) => {}
    }
    if !may() {
        return first.await;
    }
    tracing::debug!(?after, "a read is slow; asking once more");
    let second = read();
    tokio::pin!(second);
    tokio::select! {
        answer = &mut first => match answer {
            Ok(answer) => Ok(answer),
            Err(_) => second.await,
        },
        answer = &mut second => match answer {
            Ok(answer) => Ok(answer),
            Err(_) => first.await,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A read that does not answer is asked for once more after the hedge
    /// delay, and the first answer wins; an answer in time sends nothing
    /// more; a failed hedge waits for the first read's answer.
    #[tokio::test(start_paused = true)]
    async fn a_slow_read_is_asked_for_once_more_and_the_first_answer_wins() {
        use std::sync::atomic::{AtomicU32, Ordering};
        let clock: SharedClock = std::sync::Arc::new(crate::clock::SystemClock::new());
        let after = Duration::from_millis(2500);
        let sent = AtomicU32::new(0);
        // The first request hangs (a slow answer); the second answers at once.
        let read = || {
            let n = sent.fetch_add(1, Ordering::SeqCst);
            async move {
                if n == 0 {
                    std::future::pending::<()>().await;
                }
                Ok::<u32, crate::Error>(n)
            }
        };
        let start = tokio::time::Instant::now();
        assert_eq!(hedged(&clock, after, || true, read).await.unwrap(), 1);
        assert_eq!(start.elapsed(), after);
        assert_eq!(sent.load(Ordering::SeqCst), 2);

        let sent = AtomicU32::new(0);
        let quick = || {
            sent.fetch_add(1, Ordering::SeqCst);
            async { Ok::<u32, crate::Error>(7) }
        };
        assert_eq!(hedged(&clock, after, || true, quick).await.unwrap(), 7);
        assert_eq!(
            sent.load(Ordering::SeqCst),
            1,
            "an answer in time is not hedged"
        );

        // The first answers late (after 4 s); the hedge fails at once.
        let sent = AtomicU32::new(0);
        let clock2 = clock.clone();
        let late = || {
            let n = sent.fetch_add(1, Ordering::SeqCst);
            let clock = clock2.clone();
            async move {
                if n == 0 {
                    clock.sleep(Duration::from_secs(4)).await;
                    Ok(0)
                } else {
                    Err(crate::Error::Timeout {
                        operation: "list_jobs",
                        after: Duration::from_secs(1),
                    })
                }
            }
        };
        let start = tokio::time::Instant::now();
        assert_eq!(hedged(&clock, after, || true, late).await.unwrap(), 0);
        assert_eq!(start.elapsed(), Duration::from_secs(4));

        // While requests queue for the budget, a late answer is waited for.
        let sent = AtomicU32::new(0);
        let clock3 = clock.clone();
        let queued = || {
            let n = sent.fetch_add(1, Ordering::SeqCst);
            let clock = clock3.clone();
            async move {
                clock.sleep(Duration::from_secs(4)).await;
                Ok::<u32, crate::Error>(n)
            }
        };
        assert_eq!(hedged(&clock, after, || false, queued).await.unwrap(), 0);
        assert_eq!(sent.load(Ordering::SeqCst), 1);
    }

    /// A page that fails with a transient error is read again after the
    /// server's wait, three reads in all; a failure that waiting cannot
    /// fix is not read again.
    #[tokio::test(start_paused = true)]
    async fn a_listing_page_caught_in_a_burst_of_429s_is_read_again() {
        use std::sync::atomic::{AtomicU32, Ordering};
        let clock: SharedClock = std::sync::Arc::new(crate::clock::SystemClock::new());
        let limited = || crate::Error::RateLimited {
            retry_after: Some(Duration::from_secs(2)),
            request_id: None,
        };
        let sent = AtomicU32::new(0);
        let start = tokio::time::Instant::now();
        let answer = persistently(&clock, || {
            let n = sent.fetch_add(1, Ordering::SeqCst);
            async move { if n < 2 { Err(limited()) } else { Ok(n) } }
        })
        .await;
        assert_eq!(answer.unwrap(), 2);
        assert_eq!(
            start.elapsed(),
            Duration::from_secs(4),
            "waited as asked, twice"
        );

        let sent = AtomicU32::new(0);
        let always = persistently(&clock, || {
            sent.fetch_add(1, Ordering::SeqCst);
            async { Err::<u32, _>(limited()) }
        })
        .await;
        assert!(always.is_err());
        assert_eq!(sent.load(Ordering::SeqCst), PAGE_TRIES);

        let sent = AtomicU32::new(0);
        let refused = persistently(&clock, || {
            sent.fetch_add(1, Ordering::SeqCst);
            async { Err::<u32, _>(crate::Error::Config("not transient".into())) }
        })
        .await;
        assert!(refused.is_err());
        assert_eq!(sent.load(Ordering::SeqCst), 1);
    }
}

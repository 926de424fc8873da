//! The two listings the batch engine makes, as plain async functions of
//! the client (the engine routes their results): a sweep, which learns
//! which outstanding jobs finished, and a reconciliation listing, which
//! must show every job created in a range of time whatever the list's
//! order.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;

use super::pacer::Pacer;
use super::poller::{OrderEvidence, Plan};
use super::positions::{Start, gallop_probe, made_until};
use crate::Client;
use crate::client::BriefPage;
use crate::clock::SharedClock;
use crate::error::Error;
use crate::model::{Job, JobStatus, ListQuery};

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
    /// on neither (see [`regroup`]).
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
    wanted: HashSet<String>,
    scan: Scan,
    (finished, hedge): (Finished, Hedge),
) -> SweepResult {
    let mut result = SweepResult {
        observed: Vec::new(),
        handed: Vec::new(),
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
    wanted: &HashSet<String>,
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
        let page = read_page(
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
        // Only our jobs were decoded whole.
        for job in page.jobs.into_iter().filter_map(|brief| brief.job) {
            result.take(job, finished);
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

/// Pages one listing reads at most: a list that keeps answering (a server
/// ignoring `offset` while jobs keep coming, an application growing faster
/// than pages are read) fails the listing instead of paging forever. Far
/// above what any application's history needs (100,000 jobs at 100 a page).
pub(super) const MAX_PAGES: u32 = 1_000;

/// Pages in a row that may show nothing a scan had not read before (see
/// [`Scanned`]) before it is given up: one such page is a list that moved
/// on while it was read; several in a row, a list that does not lead
/// anywhere.
const MAX_STALLS: u32 = 5;

/// Why a listing stops early: the list does not lead anywhere.
fn stalled(message: String) -> crate::Error {
    crate::Error::Decode {
        message,
        body_snippet: String::new(),
        status: 200,
        request_id: None,
        source: None,
    }
}

/// What one scan has read: it keeps the scan moving, says where its next
/// page starts, and fails it when the list leads nowhere.
///
/// On a list known newest first, every job made while the scan runs goes
/// to the front and pushes the others back. A page of a busy application
/// may then hold only jobs already read (the list moved on by more than a
/// page while it was asked for): that is not a server ignoring `offset`.
/// Every job read that is older than a page's last job sits past that job
/// (with jobs made since, perhaps, between), so the next page may start
/// that many jobs further on and still not pass a job older than all read.
/// The skip is counted short of the oldest stamp read, so the next page
/// starts at or before that stamp's first job and reads the whole group
/// in one answer (the list may order jobs of one stamp differently in
/// each answer). Jobs made after the scan started may be passed: a
/// listing is judged only for creates settled before it started. Reading
/// short of where the jobs not yet read start costs a few jobs read twice;
/// reading past it would hide a job.
///
/// A page "leads on" when it shows a job not read before: on a list known
/// newest first, one no newer than the oldest job read before, or it ends
/// further back in time than the page before. After
/// [`MAX_STALLS`] pages in a row that do not (a server ignoring `offset`,
/// or jobs arriving faster than a page per read), or past [`MAX_PAGES`]
/// pages, the scan fails.
#[derive(Debug, Default)]
struct Scanned {
    pages: u32,
    /// The creation time of each job read, by id.
    seen: HashMap<String, DateTime<Utc>>,
    /// The oldest creation time read.
    oldest: Option<DateTime<Utc>>,
    /// The creation time of the previous page's last job.
    last: Option<DateTime<Utc>>,
    /// Pages in a row that did not lead on.
    stalls: u32,
}

impl Scanned {
    /// Takes a page (its jobs' ids and creation times, in the page's
    /// order) and returns how many jobs past its end the next page starts.
    fn page<'a>(
        &mut self,
        jobs: impl Iterator<Item = (&'a str, DateTime<Utc>)> + Clone,
        newest_first: bool,
    ) -> crate::Result<u64> {
        self.pages += 1;
        if self.pages > MAX_PAGES {
            return Err(stalled(format!(
                "the list was still answering after {MAX_PAGES} pages: the application grows \
                 faster than its pages can be read, or the server ignores `offset`"
            )));
        }
        let before = self.oldest;
        let mut empty = true;
        let mut leads_on = false;
        let mut last = None;
        for (id, stamp) in jobs.clone() {
            empty = false;
            let new = !self.seen.contains_key(id);
            leads_on |= new && (!newest_first || before.is_none_or(|b| stamp <= b));
            last = Some(stamp);
        }
        // Every job read that is older than the page's last sits past it
        // (jobs made since may sit between): the next page may start that
        // many jobs on, short of the oldest stamp's group.
        let skip = match (newest_first, last, before) {
            (true, Some(last), Some(oldest)) => self
                .seen
                .values()
                .filter(|&&stamp| oldest < stamp && stamp < last)
                .count() as u64,
            _ => 0,
        };
        for (id, stamp) in jobs {
            self.seen.insert(id.to_string(), stamp);
            self.oldest = Some(self.oldest.map_or(stamp, |o| o.min(stamp)));
        }
        // On a newest-first list, a page that ends further back in time
        // than the page before moves on too, though all it shows was read
        // (the page before showed jobs made since, and the skip after it
        // fell short).
        let moved_back =
            newest_first && matches!((last, self.last), (Some(now), Some(before)) if now < before);
        self.last = last;
        if empty || leads_on || moved_back {
            self.stalls = 0;
            return Ok(skip);
        }
        self.stalls += 1;
        if self.stalls >= MAX_STALLS {
            return Err(stalled(if newest_first {
                format!(
                    "{MAX_STALLS} newest-first list pages in a row showed nothing older than the \
                     jobs already read: the server ignores `offset`, or jobs arrive faster than \
                     a page per read"
                )
            } else {
                format!(
                    "{MAX_STALLS} list pages in a row showed only jobs already read: the server \
                     seems to ignore `offset`"
                )
            }));
        }
        Ok(skip)
    }
}

/// A page's jobs as [`Scanned::page`] takes them.
fn stamps(page: &BriefPage) -> impl Iterator<Item = (&str, DateTime<Utc>)> + Clone {
    page.jobs.iter().map(|j| (j.id.as_str(), j.created_at))
}

/// Reads the page at `offset`, recording its mark: every job's id and
/// creation time, and the whole job only for the ids in `wanted` (the
/// jobs a sweep waits for; see `client/brief.rs` for why). With a
/// `hedge`, a page not answered in time is asked for once more.
async fn read_page(
    client: &Client,
    app_id: &str,
    (offset, limit): (u64, u64),
    marks: &mut Marks,
    wanted: Option<&HashSet<String>>,
    hedge: Option<&Hedge>,
) -> crate::Result<BriefPage> {
    let query = ListQuery {
        status: None,
        offset,
        limit: Some(limit),
    };
    let wanted = |id: &str| wanted.is_some_and(|w| w.contains(id));
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

/// Where a forward scan of an oldest-first list for every job made since
/// `back_to` starts: `start` itself, or, when it may be far behind, found
/// by galloping from it (probes of one job each, one, two, four... pages
/// on) and halving the gap to within a page.
async fn locate(
    client: &Client,
    app_id: &str,
    back_to: DateTime<Utc>,
    start: Start,
    page_size: u64,
    marks: &mut Marks,
) -> crate::Result<Start> {
    if !start.gallop {
        return Ok(start);
    }
    // `lo` is a start whose job was made before `back_to`; `hi` an offset
    // at or past the first job that may not have been (or past the end).
    let mut lo = Start {
        gallop: false,
        ..start
    };
    let mut hi = None;
    for steps in 0..64 {
        let probe = gallop_probe(start.offset, steps, page_size);
        match start_at(client, app_id, probe, back_to, marks).await? {
            Some(found) => lo = found,
            None => {
                hi = Some(probe);
                break;
            }
        }
    }
    let Some(mut hi) = hi else {
        return Ok(lo);
    };
    while hi - lo.offset > page_size {
        let mid = lo.offset + (hi - lo.offset) / 2;
        match start_at(client, app_id, mid, back_to, marks).await? {
            Some(found) => lo = found,
            None => hi = mid,
        }
    }
    Ok(lo)
}

/// Reads the one job at `offset`: a start for a scan since `back_to` when
/// it was surely made before then, else `None` (too new, or past the end).
async fn start_at(
    client: &Client,
    app_id: &str,
    offset: u64,
    back_to: DateTime<Utc>,
    marks: &mut Marks,
) -> crate::Result<Option<Start>> {
    let page = read_page(client, app_id, (offset, 1), marks, None, None).await?;
    Ok(page
        .jobs
        .first()
        .map(|j| made_until(j.created_at))
        .filter(|since| *since <= back_to)
        .map(|covered_since| Start {
            offset,
            covered_since,
            gallop: false,
        }))
}

/// A listing holds only the jobs made after `back_to`: it shows what was
/// made before only as far as that. Claiming more would let a window that
/// starts earlier (settled since the listing was asked for) be judged
/// against jobs the listing left out: "no orphan, did not land", a
/// duplicate.
fn only_from(mut listing: Listing, back_to: DateTime<Utc>) -> Listing {
    listing.covered_since = listing.covered_since.max(back_to);
    listing
}

/// Lists the application's jobs, unfiltered, far enough to cover every job
/// created from `back_to` to `up_to`. Writer documents no order, so the
/// scan stops early only on a list whose order is known, from `prior`
/// evidence and the pages of this scan itself: newest first, at a job older
/// than `back_to`; oldest first, at a job newer than `up_to`. Otherwise it
/// reads to the end (an empty page, or `totalCount` reached; a short page
/// is not the end, since servers may send those mid-list). On a list known
/// oldest first it starts at `start` (see [`super::positions`]), after
/// checking that the job there was made before `back_to`; else from 0.
/// Fails rather than return a partial listing.
pub(super) async fn list_back_to(
    client: &Client,
    app_id: &str,
    (back_to, up_to): (DateTime<Utc>, DateTime<Utc>),
    page_size: u64,
    (prior, start): (OrderEvidence, Start),
    started: Duration,
) -> crate::Result<Listing> {
    let mut listing = Listing {
        jobs: Vec::new(),
        covered_since: DateTime::<Utc>::MIN_UTC,
        covered_until: DateTime::<Utc>::MAX_UTC,
        order: OrderEvidence::default(),
        started,
        marks: Vec::new(),
        end: None,
        first_page_stamp: None,
        newest_stamp: None,
        ties: Vec::new(),
    };
    let mut offset = 0;
    let mut located = false;
    // The previous page's last stamp and how many jobs ended it with that
    // stamp (`None` when the next page does not continue it).
    let mut tail: Option<(DateTime<Utc>, u64)> = None;
    if prior.oldest_first() && start != Start::ORIGIN {
        let start = locate(
            client,
            app_id,
            back_to,
            start,
            page_size,
            &mut listing.marks,
        )
        .await?;
        offset = start.offset;
        located = true;
    }
    let mut checked = offset == 0;
    let mut scanned = Scanned::default();
    loop {
        let marks = &mut listing.marks;
        let page = read_page(client, app_id, (offset, page_size), marks, None, None).await?;
        if !checked {
            // Every job before the start was made before its first job:
            // it must have been made before `back_to`, else (offsets
            // moved) the scan starts over from 0.
            checked = true;
            match page.jobs.first().map(|j| made_until(j.created_at)) {
                Some(since) if since <= back_to => listing.covered_since = since,
                _ => {
                    tracing::debug!(offset, "the start's job is not old enough; listing from 0");
                    offset = 0;
                    scanned = Scanned::default();
                    tail = None;
                    continue;
                }
            }
        }
        let n = page.jobs.len() as u64;
        tracing::trace!(offset, n, total = ?page.total_count, "reconciliation page");
        if let (Some((stamp, count)), Some(first)) = (tail, page.jobs.first())
            && first.created_at == stamp
            && !regroup(
                client,
                app_id,
                (offset, count, stamp),
                page_size,
                back_to,
                &mut listing,
            )
            .await?
        {
            tracing::debug!(%stamp, offset, "jobs of one stamp split between pages; a job made then may be missing");
            listing.ties.push(stamp);
        }
        // A page wholly of one stamp continues the previous page's run.
        tail = page.jobs.last().map(|last| {
            let stamp = last.created_at;
            let same = page.jobs.iter().rev().take_while(|j| j.created_at == stamp);
            let same = same.count() as u64;
            match tail {
                Some((before, count)) if before == stamp && same == n => (stamp, count + n),
                _ => (stamp, same),
            }
        });
        let oldest = page.jobs.iter().map(|j| j.created_at).min();
        let newest = page.jobs.iter().map(|j| j.created_at).max();
        // Judged on what the pages before this one showed of the order.
        let mut known = prior;
        known.merge(&listing.order);
        let skip = scanned.page(stamps(&page), known.newest_first())?;
        listing
            .order
            .observe_page(page.jobs.iter().map(|j| j.created_at));
        // Evidence adds up: start again from the prior, with this page.
        let mut known = prior;
        known.merge(&listing.order);
        let last = n == 0 || page.is_last(offset);
        // Stamps are creation times only: update times may come from
        // other clocks.
        if listing.first_page_stamp.is_none() {
            listing.first_page_stamp = newest;
        }
        listing.newest_stamp = listing.newest_stamp.max(newest);
        // A listed time is cut to its precision: a job stamped before
        // `back_to` may still have been made after it.
        for job in page.jobs {
            if made_until(job.created_at) > back_to {
                listing.jobs.push((job.id, job.created_at));
            }
        }
        if last {
            // The end of the list: everything from the start was covered.
            listing.end = Some(offset + n);
            return Ok(only_from(listing, back_to));
        }
        // Newest first: every job on later pages was made before the
        // page's oldest stamp plus its precision.
        if known.newest_first()
            && let Some(since) = oldest.map(made_until).filter(|s| *s <= back_to)
        {
            listing.covered_since = since;
            return Ok(only_from(listing, back_to));
        }
        if known.oldest_first()
            && let Some(newest) = newest.filter(|n| *n > up_to)
        {
            listing.covered_until = newest;
            return Ok(only_from(listing, back_to));
        }
        offset += n + skip;
        if skip > 0 {
            // The next page does not follow on this one: no run of one
            // stamp continues across (the skip stops short of the oldest
            // stamp read, so its group is read again whole).
            tracing::debug!(offset, skip, "the list moved on while a page was read");
            tail = None;
        }
        // Oldest first, learnt on this scan's first pages, and this page
        // wholly older than `back_to`: gallop on rather than read the
        // list's history page by page (the start found is checked).
        if known.oldest_first() && !located && newest.is_some_and(|n| made_until(n) <= back_to) {
            located = true;
            let from = Start {
                offset,
                covered_since: listing.covered_since,
                gallop: true,
            };
            let found =
                locate(client, app_id, back_to, from, page_size, &mut listing.marks).await?;
            checked = found.offset == offset;
            if found.offset != offset {
                tail = None;
            }
            offset = found.offset;
        }
    }
}

/// The page size a split group is read again with, at least.
const REGROUP_LIMIT: u64 = 100;

/// Jobs stamped `stamp` were split between the page ending just before
/// `offset` (its last `count` jobs) and the page starting there. The two
/// pages were two answers, and a server that orders by creation time alone
/// may order jobs of equal stamps differently in each, so a job of the
/// group may be on neither. Reads the group again in one answer, from the
/// job before it, adding its jobs to the listing; `true` when that answer
/// holds the whole group (a job of another stamp on each side of it, or
/// the list's start or end).
async fn regroup(
    client: &Client,
    app_id: &str,
    (offset, count, stamp): (u64, u64, DateTime<Utc>),
    page_size: u64,
    back_to: DateTime<Utc>,
    listing: &mut Listing,
) -> crate::Result<bool> {
    let from = offset.saturating_sub(count + 1);
    // A page as large as the list allows (100 on Writer's list), however
    // small the batch's pages: a group of one second's jobs fits whole.
    let limit = page_size.max(REGROUP_LIMIT);
    let page = read_page(
        client,
        app_id,
        (from, limit),
        &mut listing.marks,
        None,
        None,
    )
    .await?;
    let stamps: Vec<DateTime<Utc>> = page.jobs.iter().map(|j| j.created_at).collect();
    let (Some(first), Some(last)) = (
        stamps.iter().position(|t| *t == stamp),
        stamps.iter().rposition(|t| *t == stamp),
    ) else {
        return Ok(false);
    };
    let bracketed = (first > 0 || from == 0)
        && (last + 1 < stamps.len() || page.is_last(from))
        && stamps[first..=last].iter().all(|t| *t == stamp);
    if bracketed {
        for job in &page.jobs[first..=last] {
            if made_until(job.created_at) > back_to {
                listing.jobs.push((job.id.clone(), job.created_at));
            }
        }
    }
    Ok(bracketed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Inputs;

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

    fn page_of(
        jobs: &[(String, DateTime<Utc>)],
    ) -> impl Iterator<Item = (&str, DateTime<Utc>)> + Clone {
        jobs.iter().map(|(id, t)| (id.as_str(), *t))
    }

    /// A server that ignores `offset` (the same page each time) fails a
    /// scan on the fifth page in a row that leads nowhere, in any order; a
    /// list that keeps answering new jobs fails it past the page bound.
    #[test]
    fn a_scan_that_leads_nowhere_fails() {
        let t = |s: i64| DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap();
        let same: Vec<_> = (0..100).map(|i| (format!("j{i}"), t(1000 - i))).collect();
        for newest_first in [true, false] {
            let mut s = Scanned::default();
            assert_eq!(s.page(page_of(&same), newest_first).unwrap(), 0);
            for _ in 1..MAX_STALLS {
                s.page(page_of(&same), newest_first)
                    .expect("a page that shows nothing new may be a list that moved");
            }
            assert!(s.page(page_of(&same), newest_first).is_err());
        }
        let mut s = Scanned::default();
        for p in 0..MAX_PAGES {
            let page = vec![(format!("p{p}"), t(i64::from(p)))];
            s.page(page_of(&page), false).unwrap();
        }
        let page = vec![("one more".to_string(), t(0))];
        assert!(
            s.page(page_of(&page), false).is_err(),
            "past the page bound"
        );
    }

    /// Page 1 reads jobs 0-99 of a newest-first list; 150 jobs are made
    /// before page 2 (offset 100) is read, which shows 50 of them and jobs
    /// 0-49 again. The next page starts at job 99 (the oldest read, whose
    /// stamp group is read again), not at job 50 nor past job 100.
    #[test]
    fn a_list_that_moved_on_by_more_than_a_page_is_read_on_past_what_was_read() {
        let t = |s: i64| DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap();
        let old: Vec<_> = (0..300).map(|i| (format!("old{i}"), t(1000 - i))).collect();
        let new: Vec<_> = (0..150).map(|i| (format!("new{i}"), t(2000 - i))).collect();
        let mut s = Scanned::default();
        assert_eq!(s.page(page_of(&old[..100]), true).unwrap(), 0);
        let list: Vec<_> = new.iter().chain(&old).cloned().collect();
        let skip = s.page(page_of(&list[100..200]), true).unwrap();
        assert_eq!(skip, 49, "jobs 50-98 are skipped");
        assert_eq!(list[200 + skip as usize].0, "old99");
        // The page there leads on: nothing is skipped after it.
        let from = 200 + skip as usize;
        assert_eq!(s.page(page_of(&list[from..from + 100]), true).unwrap(), 0);
    }

    proptest::proptest! {
        /// A newest-first list to which jobs are added while each page is
        /// read: under half a page, and now and then (at most one read in
        /// four) 1 to 4 pages' worth; ties of one stamp included. A scan
        /// back to a time reads every job made since that was on the list
        /// when it started, and ends.
        #[test]
        fn a_newest_first_list_moving_on_while_read_hides_no_job(
            adds in proptest::collection::vec((0usize..40, 0usize..60, proptest::bool::ANY, 0i64..3), 1..40),
            back in 50usize..600,
        ) {
            let t = |s: i64| DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap();
            // Newest first: a higher stamp first; one stamp in id order.
            let mut list: Vec<(String, DateTime<Utc>)> =
                (0..800).map(|i| (format!("old{i}"), t(10_000 - i / 3))).collect();
            let back_to = list[back].1;
            let wanted: Vec<String> = list
                .iter()
                .filter(|(_, at)| *at >= back_to)
                .map(|(id, _)| id.clone())
                .collect();
            let mut now = 20_000;
            let mut s = Scanned::default();
            let mut offset = 0usize;
            let mut made = 0;
            for (i, &(small, big, burst, step)) in adds.iter().cycle().enumerate() {
                proptest::prop_assert!(i < 200, "the scan did not end");
                let n = if burst && i % 4 == 1 { 100 + big * 5 } else { small };
                if i > 0 {
                    now += step;
                    let fresh = (0..n).map(|_| {
                        made += 1;
                        (format!("new{made}"), t(now))
                    });
                    list.splice(0..0, fresh.collect::<Vec<_>>());
                }
                let page = &list[offset.min(list.len())..(offset + 100).min(list.len())];
                let skip = s.page(page_of(page), true).expect("a list that moves on by more than a page only now and then");
                let oldest = page.iter().map(|(_, at)| *at).min();
                if page.len() < 100 || oldest.is_some_and(|o| o < back_to) {
                    break;
                }
                offset += page.len() + skip as usize;
            }
            let missed: Vec<&String> = wanted.iter().filter(|id| !s.seen.contains_key(*id)).collect();
            proptest::prop_assert!(missed.is_empty(), "jobs never read: {missed:?}");
        }
    }

    /// A listing back to a time claims to show what was made before it
    /// only as far as that time: a window that starts earlier is not
    /// judged from it (it left those jobs out).
    #[tokio::test]
    async fn a_listing_covers_only_what_it_holds() {
        let sim = writer_sim::Simulator::builder()
            .scale(1000.0)
            .start()
            .await
            .expect("simulator");
        let client = Client::builder()
            .simulator(
                sim.base_url(),
                sim.api_key(),
                sim.clock().scale(),
                sim.clock().anchor(),
            )
            .build()
            .expect("client");
        let app = "demo-product-descriptions";
        let mut made = Vec::new();
        for i in 0..3 {
            let inputs = Inputs::new().text("Product name", format!("listed #{i}"));
            made.push(client.create_job(app, &inputs).await.expect("create"));
        }
        let back_to = made.iter().map(|j| j.created_at).max().unwrap() + chrono::Duration::hours(1);
        let range = (back_to, DateTime::<Utc>::MAX_UTC);
        let listing = list_back_to(
            &client,
            app,
            range,
            100,
            (OrderEvidence::default(), Start::ORIGIN),
            Duration::ZERO,
        )
        .await
        .expect("listing");
        assert!(listing.jobs.is_empty(), "every job was made before back_to");
        assert!(
            listing.covered_since >= back_to,
            "claims to cover from {} though it left out every job before {back_to}",
            listing.covered_since
        );
    }
}

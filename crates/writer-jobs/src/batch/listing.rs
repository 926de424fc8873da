//! The two listings the batch engine makes, as plain async functions of
//! the client (the engine routes their results): a sweep, which learns
//! which outstanding jobs finished, and a reconciliation listing, which
//! must show every job created in a range of time whatever the list's
//! order.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;

use super::poller::{OrderEvidence, Plan};
use super::reconcile::{precision, shift};
use crate::Client;
use crate::error::Error;
use crate::model::{Job, ListQuery};

/// What one sweep learned.
pub(super) struct SweepResult {
    pub(super) observed: Vec<Job>,
    pub(super) listed: u64,
    pub(super) oldest: Option<DateTime<Utc>>,
    pub(super) not_found: Vec<String>,
    /// What the pages showed about the list's order.
    pub(super) order: OrderEvidence,
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
}

/// One sweep: a listing back to the plan's point, then the plan's GETs.
/// The listing stops early at the plan's point only on a list known to be
/// newest first; otherwise it reads one page (what it shows still counts,
/// and teaches the order), and jobs it was meant to show but did not are
/// fetched by id next time.
pub(super) async fn sweep(
    client: Client,
    app_id: String,
    plan: Plan,
    page_size: u64,
    wanted: HashSet<String>,
    newest_first: bool,
) -> SweepResult {
    let mut result = SweepResult {
        observed: Vec::new(),
        listed: 0,
        oldest: None,
        not_found: Vec::new(),
        order: OrderEvidence::default(),
    };
    if let Some(back_to) = plan.list_back_to {
        let mut offset = 0;
        loop {
            let query = ListQuery {
                status: None,
                offset,
                limit: Some(page_size),
            };
            let page = match client.list_jobs_page(&app_id, &query).await {
                Ok(page) => page,
                Err(error) => {
                    tracing::debug!(%error, "list page failed; its jobs are fetched by id");
                    break;
                }
            };
            let n = page.jobs.len() as u64;
            result
                .order
                .observe_page(page.jobs.iter().map(|j| j.created_at));
            let last = page.is_last(offset);
            let short = n < page.limit.min(page_size);
            let mut page_oldest = None;
            for job in page.jobs {
                result.listed += 1;
                page_oldest = Some(
                    page_oldest.map_or(job.created_at, |o: DateTime<Utc>| o.min(job.created_at)),
                );
                if wanted.contains(&job.id) {
                    result.observed.push(job);
                }
            }
            if let Some(o) = page_oldest {
                result.oldest = Some(result.oldest.map_or(o, |r| r.min(o)));
            }
            let past = page_oldest.is_none_or(|o| o < back_to);
            // A short page ends a sweep: a job it may have hidden is
            // fetched by id next time, which costs less than asking for
            // one more page every sweep.
            if last || short || past || !newest_first {
                break;
            }
            offset += n;
        }
    }
    let fetched: Vec<(String, crate::Result<Job>)> = futures::stream::iter(plan.gets)
        .map(|id| {
            let client = client.clone();
            async move {
                let r = client.get_job(&id).await;
                (id, r)
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    for (id, r) in fetched {
        match r {
            Ok(job) => result.observed.push(job),
            Err(Error::NotFound { .. }) => result.not_found.push(id),
            Err(error) => tracing::debug!(%id, %error, "GET failed; the job stays due"),
        }
    }
    result
}

/// Lists the application's jobs, unfiltered, far enough to cover every job
/// created from `back_to` to `up_to`. Writer documents no order, so the
/// scan stops early only on a list whose order is known, from `prior`
/// evidence and the pages of this scan itself: newest first, at a job older
/// than `back_to`; oldest first, at a job newer than `up_to`. Otherwise it
/// reads to the end (an empty page, or `totalCount` reached; a short page
/// is not the end, since servers may send those mid-list). Fails rather
/// than return a partial listing.
pub(super) async fn list_back_to(
    client: &Client,
    app_id: &str,
    (back_to, up_to): (DateTime<Utc>, DateTime<Utc>),
    page_size: u64,
    prior: OrderEvidence,
    started: Duration,
) -> crate::Result<Listing> {
    let mut jobs = Vec::new();
    let mut order = OrderEvidence::default();
    let mut offset = 0;
    let listing = |jobs, order, covered_since, covered_until| Listing {
        jobs,
        covered_since,
        covered_until,
        order,
        started,
    };
    loop {
        let query = ListQuery {
            status: None,
            offset,
            limit: Some(page_size),
        };
        let page = client.list_jobs_page(app_id, &query).await?;
        let n = page.jobs.len() as u64;
        tracing::trace!(offset, n, total = ?page.total_count, "reconciliation page");
        order.observe_page(page.jobs.iter().map(|j| j.created_at));
        let mut known = prior;
        known.merge(&order);
        let last = n == 0 || page.is_last(offset);
        let oldest = page.jobs.iter().map(|j| j.created_at).min();
        let newest = page.jobs.iter().map(|j| j.created_at).max();
        // A listed time is cut to its precision: a job stamped before
        // `back_to` may still have been made after it.
        for job in page.jobs {
            if made_until(job.created_at) > back_to {
                jobs.push((job.id, job.created_at));
            }
        }
        if last {
            // The end of the list: everything was covered.
            return Ok(listing(
                jobs,
                order,
                DateTime::<Utc>::MIN_UTC,
                DateTime::<Utc>::MAX_UTC,
            ));
        }
        // Newest first: every job on later pages was made before the
        // page's oldest stamp plus its precision.
        if known.newest_first()
            && let Some(since) = oldest.map(made_until).filter(|s| *s <= back_to)
        {
            return Ok(listing(jobs, order, since, DateTime::<Utc>::MAX_UTC));
        }
        if known.oldest_first()
            && let Some(newest) = newest.filter(|n| *n > up_to)
        {
            return Ok(listing(jobs, order, DateTime::<Utc>::MIN_UTC, newest));
        }
        offset += n;
    }
}

/// The latest a job stamped `at` can have been made (exclusive): its
/// stamp plus the stamp's precision.
fn made_until(at: DateTime<Utc>) -> DateTime<Utc> {
    shift(at, precision(at))
}

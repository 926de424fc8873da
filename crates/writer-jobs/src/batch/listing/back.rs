//! The reconciliation listing: every job created in a range of time,
//! whatever the list's order, with the stamps whose jobs a page split may
//! have hidden.

use super::scan::{Scanned, locate};
use super::*;

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
pub(in crate::batch) async fn list_back_to(
    client: &Client,
    app_id: &str,
    (back_to, up_to): (DateTime<Utc>, DateTime<Utc>),
    page_size: u64,
    (prior, start): (OrderEvidence, Start),
    started: Duration,
) -> crate::Result<Listing> {
    let mut listing = Listing::empty(started);
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
        let at = (offset, page_size, back_to);
        listing.check_split(client, app_id, tail, &page, at).await?;
        tail = next_tail(tail, &page);
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
        listing.hold(page, newest, back_to);
        if last {
            // The end of the list: everything from the start was covered.
            listing.end = Some(offset + n);
            return Ok(only_from(listing, back_to));
        }
        if listing.covers_the_range(known, (oldest, newest), (back_to, up_to)) {
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

impl Listing {
    /// A listing started at clock time `started` that holds nothing yet.
    fn empty(started: Duration) -> Self {
        Self {
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
        }
    }

    /// Takes a page's jobs made after `back_to` (`newest`: its newest
    /// stamp), and the server's clock it shows.
    fn hold(&mut self, page: BriefPage, newest: Option<DateTime<Utc>>, back_to: DateTime<Utc>) {
        // Stamps are creation times only: update times may come from
        // other clocks.
        if self.first_page_stamp.is_none() {
            self.first_page_stamp = newest;
        }
        self.newest_stamp = self.newest_stamp.max(newest);
        // A listed time is cut to its precision: a job stamped before
        // `back_to` may still have been made after it.
        for job in page.jobs {
            if made_until(job.created_at) > back_to {
                self.jobs.push((job.id, job.created_at));
            }
        }
    }

    /// Before taking `page` (at `offset`): when the run of one stamp that
    /// ended the page before (`tail`) goes on at its start, reads that
    /// stamp's jobs again in one answer (see [`regroup`]); a stamp whose
    /// jobs cannot be is recorded in `ties`.
    async fn check_split(
        &mut self,
        client: &Client,
        app_id: &str,
        tail: Option<(DateTime<Utc>, u64)>,
        page: &BriefPage,
        (offset, page_size, back_to): (u64, u64, DateTime<Utc>),
    ) -> crate::Result<()> {
        let Some((stamp, count)) = tail else {
            return Ok(());
        };
        if page
            .jobs
            .first()
            .is_none_or(|first| first.created_at != stamp)
        {
            return Ok(());
        }
        let group = (offset, count, stamp);
        if !regroup(client, app_id, group, page_size, back_to, self).await? {
            tracing::debug!(%stamp, offset, "jobs of one stamp split between pages; a job made then may be missing");
            self.ties.push(stamp);
        }
        Ok(())
    }

    /// Whether the pages read cover every job made from `back_to` to
    /// `up_to`, on a list of `known` order whose page just read spans
    /// `(oldest, newest)`; if so, records how far they cover.
    fn covers_the_range(
        &mut self,
        known: OrderEvidence,
        (oldest, newest): (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
        (back_to, up_to): (DateTime<Utc>, DateTime<Utc>),
    ) -> bool {
        // Newest first: every job on later pages was made before the
        // page's oldest stamp plus its precision.
        if known.newest_first()
            && let Some(since) = oldest.map(made_until).filter(|s| *s <= back_to)
        {
            self.covered_since = since;
            return true;
        }
        if known.oldest_first()
            && let Some(newest) = newest.filter(|n| *n > up_to)
        {
            self.covered_until = newest;
            return true;
        }
        false
    }
}

/// The run of one stamp that ends `page` (its stamp and how many jobs of
/// it end the page), after the run `tail` that ended the page before: a
/// page wholly of one stamp continues that run.
fn next_tail(tail: Option<(DateTime<Utc>, u64)>, page: &BriefPage) -> Option<(DateTime<Utc>, u64)> {
    let n = page.jobs.len() as u64;
    page.jobs.last().map(|last| {
        let stamp = last.created_at;
        let same = page.jobs.iter().rev().take_while(|j| j.created_at == stamp);
        let same = same.count() as u64;
        match tail {
            Some((before, count)) if before == stamp && same == n => (stamp, count + n),
            _ => (stamp, same),
        }
    })
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
    let page: BriefPage = read_page(
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

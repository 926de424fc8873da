//! A scan's bookkeeping: where it starts (on an oldest-first list, found
//! by galloping) and what it has read, which keeps it moving on a list
//! that moves while it is read and fails it when the list leads nowhere.

use crate::batch::HashMap;

use super::*;

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
///
/// Jobs read are known by a 64-bit hash of their id (its key, see
/// `client/brief.rs`), not the id itself: a scan reads ten jobs or so for
/// each of the batch's, and a copy of each id was an allocation per job
/// read. Two ids of one hash (about one chance in 10^10 for 100,000 jobs)
/// can only make a job look read before: its page may then count as not
/// leading on, or the next page start one job short (that job is read
/// twice), never past a job.
#[derive(Debug, Default)]
pub(super) struct Scanned {
    pages: u32,
    /// The creation time of each job read, by its id's key.
    seen: HashMap<u64, DateTime<Utc>>,
    /// The oldest creation time read.
    oldest: Option<DateTime<Utc>>,
    /// The creation time of the previous page's last job.
    last: Option<DateTime<Utc>>,
    /// Pages in a row that did not lead on.
    stalls: u32,
}

impl Scanned {
    /// Whether the job `id` was read.
    #[cfg(test)]
    fn has_read(&self, id: &str) -> bool {
        self.seen.contains_key(&crate::client::id_key(id))
    }

    /// Takes a page (its jobs' keys and creation times, in the page's
    /// order) and returns how many jobs past its end the next page starts.
    pub(super) fn page(
        &mut self,
        jobs: impl Iterator<Item = (u64, DateTime<Utc>)>,
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
        let jobs: Vec<(u64, DateTime<Utc>)> = jobs.collect();
        for &(id, stamp) in &jobs {
            empty = false;
            let new = !self.seen.contains_key(&id);
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
        self.seen.reserve(jobs.len());
        for (id, stamp) in jobs {
            self.seen.insert(id, stamp);
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

/// Where a forward scan of an oldest-first list for every job made since
/// `back_to` starts: `start` itself, or, when it may be far behind, found
/// by galloping from it (probes of one job each, one, two, four... pages
/// on) and halving the gap to within a page.
pub(super) async fn locate(
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
    let page: BriefPage<Option<Arc<str>>> =
        read_page(client, app_id, (offset, 1), marks, None, None).await?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn page_of(jobs: &[(String, DateTime<Utc>)]) -> impl Iterator<Item = (u64, DateTime<Utc>)> {
        jobs.iter().map(|(id, t)| (crate::client::id_key(id), *t))
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
            let missed: Vec<&String> = wanted.iter().filter(|id| !s.has_read(id)).collect();
            proptest::prop_assert!(missed.is_empty(), "jobs never read: {missed:?}");
        }
    }
}

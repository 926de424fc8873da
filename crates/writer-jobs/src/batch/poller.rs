//! The shared poller: how one sweep learns which outstanding jobs finished
//! with the fewest requests.
//!
//! Two tools: the list endpoint (one request shows up to a page of the
//! application's jobs, ours and other clients', newest first) and a GET per
//! job. For outstanding jobs sorted newest first, listing back to the `k`-th
//! one costs about `count(app jobs created since then) / page size + 1`
//! pages; the jobs older than that which are *due* (their own poll interval
//! has passed) are then fetched one GET each. [`plan`] tries every `k` and
//! takes the cheapest, so a busy application (many other jobs between ours)
//! tips the balance towards GETs, and many jobs of ours finishing together
//! towards the list.
//!
//! Correctness never depends on the listing: a job is finished only when a
//! response showed it `completed` or `failed`; a job a sweep missed (pages
//! shifted, a page failed) stays outstanding, becomes due, and a later sweep
//! lists it or GETs it.

use crate::batch::{HashSet, HashSetExt};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::listing::{Scan, SweepResult};
use super::positions::{Positions, Start};

/// One outstanding job, as the planner sees it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Candidate {
    /// The job id (shared with the tracker's).
    pub id: Arc<str>,
    /// When the server created it (approximately, for resumed jobs).
    pub created_at: DateTime<Utc>,
    /// Whether its own poll interval has passed.
    pub due: bool,
    /// A listing that should have shown it did not: fetch it by id.
    pub must_get: bool,
}

/// What one sweep will do.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Plan {
    /// List the application's jobs newest first until one older than this.
    pub list_back_to: Option<DateTime<Utc>>,
    /// Jobs to fetch one by one.
    pub gets: Vec<String>,
    /// Estimated requests.
    pub cost: u64,
}

impl Plan {
    /// Whether the sweep does nothing.
    pub(crate) fn is_empty(&self) -> bool {
        self.list_back_to.is_none() && self.gets.is_empty()
    }
}

/// Plans a sweep over `candidates` (any order). `density` is the estimated
/// number of the application's jobs created per second (all clients);
/// `page_size` the list page size. Returns an empty plan when nothing is due.
pub(crate) fn plan(
    candidates: &[Candidate],
    now: DateTime<Utc>,
    density: f64,
    page_size: u64,
) -> Plan {
    if !candidates.iter().any(|c| c.due) {
        return Plan::default();
    }
    // Jobs a listing missed are fetched one by one, whatever else is planned.
    let forced: Vec<String> = candidates
        .iter()
        .filter(|c| c.due && c.must_get)
        .map(|c| c.id.to_string())
        .collect();
    let rest: Vec<&Candidate> = candidates
        .iter()
        .filter(|c| !(c.due && c.must_get))
        .collect();
    let mut plan = plan_listing(rest, now, density, page_size);
    plan.cost += forced.len() as u64;
    plan.gets.extend(forced);
    plan
}

/// A sweep of GETs only: every due job fetched by id. For a list known
/// not to be newest first, where listing "back to" a time saves nothing.
pub(crate) fn plan_gets(candidates: &[Candidate]) -> Plan {
    let gets: Vec<String> = candidates
        .iter()
        .filter(|c| c.due)
        .map(|c| c.id.to_string())
        .collect();
    Plan {
        list_back_to: None,
        cost: gets.len() as u64,
        gets,
    }
}

fn plan_listing(
    mut candidates: Vec<&Candidate>,
    now: DateTime<Utc>,
    density: f64,
    page_size: u64,
) -> Plan {
    if !candidates.iter().any(|c| c.due) {
        return Plan::default();
    }
    candidates.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
    let total_due = candidates.iter().filter(|c| c.due).count() as u64;
    // k = 0: GET every due job.
    let mut best = (total_due, 0usize);
    let mut due_covered = 0u64;
    for (i, c) in candidates.iter().enumerate() {
        let k = i + 1;
        if c.due {
            due_covered += 1;
        }
        let span = (now - c.created_at).num_milliseconds().max(0) as f64 / 1000.0;
        let expected = (density * span).max(k as f64);
        let pages = (expected / page_size as f64).floor() as u64 + 1;
        let cost = pages + (total_due - due_covered);
        // Ties go to the larger k: the same cost covers more jobs.
        if cost <= best.0 {
            best = (cost, k);
        }
    }
    let (cost, k) = best;
    Plan {
        list_back_to: (k > 0).then(|| candidates[k - 1].created_at),
        gets: candidates[k..]
            .iter()
            .filter(|c| c.due)
            .map(|c| c.id.to_string())
            .collect(),
        cost,
    }
}

/// What the pages seen so far say about the list's order. Writer documents
/// none, so a scan may stop early at an old job only once the order is
/// known to be newest first.
///
/// Evidence comes from jobs next to each other *on one page* (one
/// snapshot of the list): across pages, jobs created between two requests
/// shift positions, so a pair split over two pages proves nothing. Equal
/// times prove nothing either (second-only timestamps tie often).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct OrderEvidence {
    newer_first: u64,
    older_first: u64,
}

impl OrderEvidence {
    /// Strictly ordered pairs needed before the order counts as known.
    pub(crate) const NEEDED: u64 = 32;

    /// Learns from the creation times of one page, in the page's order.
    pub(crate) fn observe_page(&mut self, times: impl IntoIterator<Item = DateTime<Utc>>) {
        let mut previous: Option<DateTime<Utc>> = None;
        for at in times {
            if let Some(p) = previous {
                if p > at {
                    self.newer_first += 1;
                } else if p < at {
                    self.older_first += 1;
                }
            }
            previous = Some(at);
        }
    }

    /// Adds what another scan saw.
    pub(crate) fn merge(&mut self, other: &OrderEvidence) {
        self.newer_first += other.newer_first;
        self.older_first += other.older_first;
    }

    /// Whether the list is known to be newest first: enough pairs said so
    /// and none ever said otherwise.
    pub(crate) fn newest_first(&self) -> bool {
        self.older_first == 0 && self.newer_first >= Self::NEEDED
    }

    /// Whether the list is known to be oldest first: enough pairs said so
    /// and none ever said otherwise.
    pub(crate) fn oldest_first(&self) -> bool {
        self.newer_first == 0 && self.older_first >= Self::NEEDED
    }

    /// Whether the list is known NOT to be newest first (some page showed
    /// an older job before a newer one): listing "back to" a time is then
    /// no cheaper than reading everything.
    pub(crate) fn not_newest_first(&self) -> bool {
        self.older_first > 0
    }
}

/// Settings that space the sweeps.
#[derive(Debug, Clone, Copy)]
pub(super) struct Spacing {
    /// The shortest pause between two sweeps.
    pub(super) min_interval: Duration,
    /// The longest (the poll policy's maximum interval).
    pub(super) max_interval: Duration,
    /// Polling requests to spend per created job while creating.
    pub(super) poll_overhead: f64,
    /// Jobs per list page.
    pub(super) page_size: u64,
}

/// What the engine tells the scheduler when it spaces the next sweep.
#[derive(Debug, Clone, Copy)]
pub(super) struct Pace {
    /// The rate limit binds: sweep at the maximum interval.
    pub(super) quota_binds: bool,
    /// Rows are still being read and created.
    pub(super) creating: bool,
    /// When the next tracked job is due, if any.
    pub(super) next_due: Option<Duration>,
}

/// When sweeps run and what the earlier ones taught: the list's density
/// (jobs per second, all clients) and order, and which jobs the running
/// sweep's listing is meant to show. Plain synchronous state; times are
/// the injected clock's (`now`) and the wall clock (`wall`), as arguments.
#[derive(Debug)]
pub(super) struct SweepScheduler {
    spacing: Spacing,
    running: bool,
    /// Clock time the running (or last) sweep started.
    started: Duration,
    next: Duration,
    last_cost: u64,
    creates_since: u64,
    last_at: Duration,
    /// The start of the sweep whose end the next schedule follows.
    swept_from: Option<Duration>,
    /// That sweep's listing failed: the next comes at the minimum interval.
    retry_soon: bool,
    /// Sweeps in a row whose listing failed.
    failed_listings: u32,
    /// A sweep's read went unanswered for the whole read timeout: from
    /// then on sweeps' reads get the request timeout (see [`Self::patient`]).
    patient: bool,
    /// The spacing the create rate gave last (`None`: never paced by
    /// creates): once creating ends, sweeps come no closer than that.
    creating_interval: Option<Duration>,
    density: f64,
    order: OrderEvidence,
    /// Where jobs sit, on a list known to be oldest first.
    positions: Positions,
    /// The running (or last) sweep read one page, the order not known.
    one_page: bool,
    /// Jobs the running sweep's listing is meant to show: any it does not
    /// show (the page failed, the order is not what the plan assumed) is
    /// fetched by id next time.
    listed: HashSet<Arc<str>>,
}

impl SweepScheduler {
    pub(super) fn new(spacing: Spacing) -> Self {
        Self {
            spacing,
            running: false,
            started: Duration::ZERO,
            next: Duration::ZERO,
            last_cost: 0,
            creates_since: 0,
            last_at: Duration::ZERO,
            creating_interval: None,
            swept_from: None,
            retry_soon: false,
            failed_listings: 0,
            patient: false,
            density: 0.0,
            order: OrderEvidence::default(),
            positions: Positions::default(),
            one_page: false,
            listed: HashSet::new(),
        }
    }

    /// Whether sweeps' GETs wait for the whole request timeout rather than
    /// the batch's read timeout: once a read of a sweep went unanswered for
    /// the read timeout (and its second request too), the server is slower
    /// than that, and a GET given up on every time is a row never seen
    /// finished. List pages keep the read timeout: a listing paging a busy
    /// application's list with slow pages would chase it for ever, and its
    /// failing is what sends the jobs to GETs. A single slow answer is
    /// still asked for again after a quarter of the read timeout (see
    /// `listing::Hedge`).
    pub(super) fn patient(&self) -> bool {
        self.patient
    }

    /// What pages showed about the list's order so far.
    pub(super) fn order(&self) -> OrderEvidence {
        self.order
    }

    /// Adds what another listing showed about the order and where the
    /// pages it read sit.
    pub(super) fn learn(
        &mut self,
        order: &OrderEvidence,
        marks: &[(u64, DateTime<Utc>)],
        end: Option<u64>,
    ) {
        self.order.merge(order);
        self.positions.merge(marks, end);
    }

    /// Where a listing of every job made since `back_to` may start: near
    /// it on a list known to be oldest first, else at the origin.
    pub(super) fn listing_start(&self, back_to: DateTime<Utc>) -> Start {
        if !self.order.oldest_first() {
            return Start::ORIGIN;
        }
        self.positions.start_for(back_to, self.spacing.page_size)
    }

    /// A create went out (sweeps are spaced by the create rate).
    pub(super) fn note_create(&mut self) {
        self.creates_since += 1;
    }

    /// Whether a sweep is under way.
    pub(super) fn running(&self) -> bool {
        self.running
    }

    /// Whether a sweep is due now (jobs are tracked, none running).
    pub(super) fn due(&self, now: Duration, tracking: bool) -> bool {
        tracking && !self.running && now >= self.next
    }

    /// When the next sweep is due, while one may be wanted.
    pub(super) fn next_wake(&self, tracking: bool) -> Option<Duration> {
        (tracking && !self.running).then_some(self.next)
    }

    /// Plans a sweep of `candidates` at `now` (wall time `wall`): the
    /// cheapest split between listing and GETs on a list known to be
    /// newest or oldest first (or not known yet: its listing then reads
    /// one page), GETs alone on one known to be in neither order. `None`
    /// when nothing is due (the next sweep is then spaced with `pace`).
    pub(super) fn begin(
        &mut self,
        candidates: &[Candidate],
        now: Duration,
        wall: DateTime<Utc>,
        pace: Pace,
    ) -> Option<(Plan, Scan)> {
        let plan = if self.order.not_newest_first() && !self.order.oldest_first() {
            plan_gets(candidates)
        } else {
            let density = self.density_estimate(candidates, wall);
            plan(candidates, wall, density, self.spacing.page_size)
        };
        if plan.is_empty() {
            self.schedule(now, Some(0), pace);
            return None;
        }
        let scan = match plan.list_back_to {
            Some(back_to) if self.order.oldest_first() => {
                Scan::OldestFirst(self.listing_start(back_to))
            }
            _ if self.order.newest_first() => Scan::NewestFirst,
            _ => Scan::OnePage,
        };
        self.last_cost = plan.cost;
        self.running = true;
        self.started = now;
        self.swept_from = Some(now);
        self.one_page = scan == Scan::OnePage;
        self.listed = match plan.list_back_to {
            Some(back_to) => candidates
                .iter()
                .filter(|c| c.due && !c.must_get && c.created_at >= back_to)
                .map(|c| c.id.clone())
                .collect(),
            _ => HashSet::new(),
        };
        Some((plan, scan))
    }

    /// Clock time the running (or last) sweep started: jobs it hands over
    /// before it ends were seen no earlier.
    pub(super) fn started(&self) -> Duration {
        self.started
    }

    /// A sweep ended: learns the density (it listed `listed` jobs back to
    /// `oldest`, all clients'), the order and the positions its pages
    /// showed, and returns when it started and the jobs its listing was
    /// meant to show.
    pub(super) fn finished(
        &mut self,
        result: &SweepResult,
        wall: DateTime<Utc>,
    ) -> (Duration, HashSet<Arc<str>>) {
        self.running = false;
        self.retry_soon = result.listing_failed;
        self.patient |= result.timed_out;
        self.failed_listings = if result.listing_failed {
            self.failed_listings + 1
        } else {
            0
        };
        if let Some(oldest) = result.oldest {
            let measured = result.listed as f64 / seconds_since(oldest, wall);
            self.density = if self.density > 0.0 {
                0.5 * self.density + 0.5 * measured
            } else {
                measured
            };
        }
        self.learn(&result.order, &result.marks, result.end);
        let mut listed = std::mem::take(&mut self.listed);
        if self.one_page && (self.order.newest_first() || self.order.oldest_first()) {
            // One page read in an order not known before: it taught the
            // order, so the jobs it did not show stay due (the next sweep
            // lists them in that order) rather than be fetched by id.
            listed.clear();
        }
        if self.failed_listings == 1 {
            // A page failed (a 429, a 5xx, a slow or garbled answer): the
            // jobs it did not show stay due, and the next sweep, soon,
            // lists them again; one page costs less than a GET each, which
            // under a lowered rate would hold the sweep for many seconds.
            // A listing that fails again has them fetched by id.
            listed.clear();
        }
        (self.started, listed)
    }

    /// Spaces the next sweep after one that cost `cost` requests (the last
    /// planned one's when `None`): about `poll_overhead` requests per
    /// created job while creating, never more than the maximum interval
    /// apart, and at that maximum when the quota binds; when not
    /// creating, at the next due job but no sooner than the spacing the
    /// create rate gave last. (In the tail the last jobs created are young
    /// and due often by their own poll curve; a sweep for them alone would
    /// mostly show jobs still running, and the jobs finishing then are
    /// noticed as soon as they were while creating.) After a sweep whose
    /// listing failed, at the minimum interval.
    pub(super) fn schedule(&mut self, now: Duration, cost: Option<u64>, pace: Pace) {
        let cost = cost.unwrap_or(self.last_cost);
        let Spacing {
            min_interval: min,
            max_interval,
            poll_overhead,
            ..
        } = self.spacing;
        let max = max_interval.max(min);
        let elapsed = now.saturating_sub(self.last_at).as_secs_f64().max(0.001);
        let create_rate = self.creates_since as f64 / elapsed;
        let interval = if pace.quota_binds {
            if pace.creating {
                self.creating_interval = Some(max);
            }
            max
        } else if create_rate > 0.0 && pace.creating {
            let paced = Duration::from_secs_f64(
                (cost.max(1) as f64 / (poll_overhead * create_rate)).min(3600.0),
            );
            self.creating_interval = Some(paced.clamp(min, max));
            paced
        } else {
            let due = pace.next_due.unwrap_or(max);
            match (pace.creating, self.creating_interval) {
                (false, Some(floor)) => due.max(floor),
                _ => due,
            }
        };
        self.last_at = now;
        self.creates_since = 0;
        // The maximum interval runs from the last sweep's start, so that a
        // job finishing just after a sweep read it is seen within that
        // interval, however long the sweep took; never sooner than the
        // minimum from now.
        // A failed page left jobs unseen (they are fetched by id next
        // time): the next sweep comes soon, so a page that failed does not
        // add a whole interval to those jobs' delays.
        let interval = if std::mem::take(&mut self.retry_soon) {
            min
        } else {
            interval
        };
        let from_now = now + interval.clamp(min, max);
        self.next = match self.swept_from.take() {
            Some(start) => from_now.min(start + max).max(now + min),
            None => from_now,
        };
    }

    /// Jobs per second the application's list grows by (all clients); no
    /// listing yet: our own jobs are a lower bound.
    fn density_estimate(&self, candidates: &[Candidate], wall: DateTime<Utc>) -> f64 {
        if self.density > 0.0 {
            return self.density;
        }
        match candidates.iter().map(|c| c.created_at).min() {
            Some(oldest) => candidates.len() as f64 / seconds_since(oldest, wall),
            None => 0.0,
        }
    }
}

/// Seconds from `then` to `now`, at least one.
fn seconds_since(then: DateTime<Utc>, now: DateTime<Utc>) -> f64 {
    (now - then).num_milliseconds().max(1000) as f64 / 1000.0
}

#[cfg(test)]
#[path = "poller_tests.rs"]
mod tests;

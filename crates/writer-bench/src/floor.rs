//! The computed floor of requests per job for a given result delay.
//!
//! A client that learns of finished jobs by sweeps (list pages, newest
//! first, plus GETs of single jobs) must, at each sweep, look at every job
//! of its own still running: any of them may have finished. The cheapest
//! such sweep lists back to some job `k` (every job of the application
//! created since, ours or other tenants', a page of `page_size` per
//! request, stopping at the page that shows job `k`) and GETs the older
//! ones one by one; it picks the `k` that costs least. Sweeps at a fixed
//! period `T` see a job finished at `f` at the first sweep at or after `f`,
//! so the p95 of those delays grows with `T`, and the requests fall as
//! `1 / T`.
//!
//! [`SweepJobs::floor`] plays that client on a run's own jobs (their
//! creation and finish times, from the simulator) and every job on the
//! application, with answers that take no time, and finds the cheapest
//! period whose p95 delay stays within `D`: its requests per job,
//! `1 (the create) + sweep requests / rows`, is the floor for `D`. No sweep
//! client that checks every job of its own at each sweep does better with
//! these jobs and these creation times. (A client that knows job durations
//! in advance could skip young jobs; the batch does not.)

/// A run's jobs as the floor needs them.
#[derive(Debug, Clone, Default)]
pub struct SweepJobs {
    /// Our jobs: (created, finished), seconds from the client's start, by
    /// creation.
    pub ours: Vec<(f64, f64)>,
    /// Creation times of every job on the application (ours included),
    /// seconds from the client's start, sorted.
    pub all_created: Vec<f64>,
    /// Jobs per list page.
    pub page_size: u64,
}

/// The floor for one delay.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Floor {
    /// Requests per job: 1 + sweep requests / rows.
    pub requests_per_job: f64,
    /// The sweep period that achieves it.
    pub period_secs: f64,
    /// The p95 delay at that period.
    pub p95_secs: f64,
    /// List pages and GETs per job at that period.
    pub pages_per_job: f64,
    /// GETs per job at that period.
    pub gets_per_job: f64,
}

struct Played {
    pages: u64,
    gets: u64,
    p95: f64,
}

impl SweepJobs {
    /// The floor for a p95 delay of at most `delay_secs` (`None`: no jobs,
    /// or no period short enough).
    pub fn floor(&self, delay_secs: f64) -> Option<Floor> {
        if self.ours.is_empty() || self.page_size == 0 {
            return None;
        }
        // The p95 delay does not grow strictly with the period (a longer
        // one can land its sweeps just after more finishes), so every
        // period of a geometric grid (0.25 s to 10 min, 3% apart) is
        // played, the cheapest within the delay kept, and the step above
        // it bisected.
        let mut grid = Vec::new();
        let mut t = 0.25_f64;
        while t <= 600.0 {
            grid.push(t);
            t *= 1.03;
        }
        let cost = |p: &Played| p.pages + p.gets;
        let mut best: Option<(f64, Played)> = None;
        let mut above: Option<f64> = None;
        for (i, &period) in grid.iter().enumerate() {
            let played = self.play(period);
            if played.p95 <= delay_secs
                && best.as_ref().is_none_or(|(_, b)| cost(&played) <= cost(b))
            {
                best = Some((period, played));
                above = grid.get(i + 1).copied();
            }
        }
        let (mut lo, mut chosen) = best?;
        if let Some(mut hi) = above {
            for _ in 0..12 {
                let mid = 0.5 * (lo + hi);
                let played = self.play(mid);
                if played.p95 <= delay_secs && cost(&played) <= cost(&chosen) {
                    lo = mid;
                    chosen = played;
                } else {
                    hi = mid;
                }
            }
        }
        let rows = self.ours.len() as f64;
        Some(Floor {
            requests_per_job: 1.0 + cost(&chosen) as f64 / rows,
            period_secs: lo,
            p95_secs: chosen.p95,
            pages_per_job: chosen.pages as f64 / rows,
            gets_per_job: chosen.gets as f64 / rows,
        })
    }

    /// Sweeps every `period` seconds from the first create on.
    fn play(&self, period: f64) -> Played {
        let first = self.ours.iter().map(|j| j.0).fold(f64::INFINITY, f64::min);
        let mut waiting: Vec<(f64, f64)> = self.ours.clone();
        waiting.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut delays = Vec::with_capacity(waiting.len());
        let (mut pages, mut gets) = (0u64, 0u64);
        let mut t = first;
        while !waiting.is_empty() {
            t += period;
            // Our jobs created by now, newest first.
            let made = waiting.partition_point(|j| j.0 <= t);
            if made == 0 {
                continue;
            }
            let outstanding = &waiting[..made];
            let n = outstanding.len();
            // k = 0: GET every one.
            let mut best = n as u64;
            let mut best_pages = 0u64;
            for k in 1..=n {
                let created = outstanding[n - k].0;
                let since = self.all_created.partition_point(|&c| c < created);
                let until = self.all_created.partition_point(|&c| c <= t);
                let m = until.saturating_sub(since).max(k) as u64;
                let p = m.div_ceil(self.page_size);
                let cost = p + (n - k) as u64;
                if cost <= best {
                    best = cost;
                    best_pages = p;
                }
            }
            pages += best_pages;
            gets += best - best_pages;
            let mut kept = Vec::with_capacity(waiting.len());
            for (i, &(c, f)) in waiting.iter().enumerate() {
                if i < made && f <= t {
                    delays.push(t - f);
                } else {
                    kept.push((c, f));
                }
            }
            waiting = kept;
        }
        delays.sort_by(f64::total_cmp);
        let rank = ((0.95 * delays.len() as f64).ceil() as usize).clamp(1, delays.len().max(1));
        Played {
            pages,
            gets,
            p95: delays.get(rank - 1).copied().unwrap_or(0.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_page_per_sweep_for_a_handful_of_jobs() {
        // 10 jobs made at 0 s, finishing at 1..=10 s; nothing else on the app.
        let jobs = SweepJobs {
            ours: (1..=10).map(|i| (0.0, f64::from(i))).collect(),
            all_created: vec![0.0; 10],
            page_size: 100,
        };
        // Within 1 s: a sweep at least every 2 s, one page each.
        let f = jobs.floor(1.0).unwrap();
        assert!(f.p95_secs <= 1.0 && f.requests_per_job <= 2.0, "{f:?}");
        assert!(f.requests_per_job >= 1.5, "{f:?}");
        // Within 10 s: one sweep (at 10 to 11 s) sees them all.
        let f = jobs.floor(10.0).unwrap();
        assert!((f.requests_per_job - 1.1).abs() < 1e-9, "{f:?}");
    }

    #[test]
    fn other_tenants_jobs_cost_pages_and_old_stragglers_cost_gets() {
        // One old job of ours under 250 newer jobs of others, and a new one.
        let mut all: Vec<f64> = (0..250).map(|i| 1.0 + f64::from(i) * 0.01).collect();
        all.push(0.0);
        all.push(5.0);
        all.sort_by(f64::total_cmp);
        let jobs = SweepJobs {
            ours: vec![(0.0, 10.0), (5.0, 10.0)],
            all_created: all,
            page_size: 100,
        };
        let f = jobs.floor(5.0).unwrap();
        // One sweep at 10 s: one page for the new job, a GET for the old.
        assert!((f.pages_per_job - 0.5).abs() < 1e-9, "{f:?}");
        assert!((f.gets_per_job - 0.5).abs() < 1e-9, "{f:?}");
    }
}

//! How many rows the batch keeps in flight when the user set no cap.
//!
//! With a request budget (set, or learned from 429s), the batch should keep
//! as many jobs running as the budget can create and poll: by Little's
//! law, `in flight = creation rate x mean job duration`. A fixed 100 caps
//! creation at `100 / duration` (about 200 a minute for 30 s jobs), far
//! below a 400/min budget. The creation rate the budget allows is its
//! request rate divided by the requests a job costs (one create plus the
//! polling overhead).
//!
//! Job durations are censored: jobs still running have lasted *at least*
//! their age so far. The estimate is the exponential model's maximum
//! likelihood with one pseudo-observation as a prior: the sum of finished
//! durations, running ages and the longest running age, over one more
//! than the jobs finished. Before anything finishes it grows with the
//! running jobs' ages, so the batch reads ahead gradually instead of all
//! at once; once jobs finish it converges to their mean.
//!
//! Without a budget the default stays [`DEFAULT_IN_FLIGHT`]. The limit
//! never exceeds [`MAX_IN_FLIGHT`], which bounds memory.

use std::time::Duration;

/// Rows in flight without a budget (and before any estimate).
pub(super) const DEFAULT_IN_FLIGHT: usize = 100;

/// Rows in flight at most, whatever the budget allows (memory bound).
pub(super) const MAX_IN_FLIGHT: usize = 10_000;

/// Headroom over Little's law: durations vary, and a job that finishes
/// is noticed a sweep later.
const HEADROOM: f64 = 1.25;

/// How often the limit is recomputed (it sums the running jobs' ages).
const RECOMPUTE: Duration = Duration::from_secs(1);

/// What is known of job durations: finished jobs, and the running ones'
/// ages (given when the limit is computed).
#[derive(Debug, Clone, Default)]
pub(super) struct Durations {
    finished_secs: f64,
    finished: u64,
}

impl Durations {
    /// A job ran for `lasted` before it finished (completed or failed).
    pub(super) fn finished(&mut self, lasted: Duration) {
        self.finished_secs += lasted.as_secs_f64();
        self.finished += 1;
    }

    /// The estimated mean duration, given the running jobs' ages (their
    /// sum and the longest), in seconds; `None` before any job ran.
    pub(super) fn mean_secs(&self, running_sum: f64, running_max: f64) -> Option<f64> {
        let total = self.finished_secs + running_sum + running_max;
        (total > 0.0).then(|| total / (self.finished + 1) as f64)
    }
}

/// The in-flight limit: the user's cap, else from the budget.
#[derive(Debug, Clone)]
pub(super) struct InFlight {
    cap: Option<usize>,
    floor: usize,
    durations: Durations,
    limit: usize,
    computed_at: Option<Duration>,
}

impl InFlight {
    /// A limit fixed at `cap` when given; else from the budget, never
    /// below `floor` (the create concurrency, so creates are not starved).
    pub(super) fn new(cap: Option<usize>, floor: usize) -> Self {
        Self {
            cap,
            floor: floor.max(1),
            durations: Durations::default(),
            limit: cap.unwrap_or(DEFAULT_IN_FLIGHT),
            computed_at: None,
        }
    }

    /// The limit now.
    pub(super) fn limit(&self) -> usize {
        self.limit
    }

    /// The most the limit can be (sizes what is remembered per row).
    pub(super) fn ceiling(&self) -> usize {
        self.cap.unwrap_or(MAX_IN_FLIGHT)
    }

    /// A job finished after `lasted`.
    pub(super) fn finished(&mut self, lasted: Duration) {
        self.durations.finished(lasted);
    }

    /// Whether the limit is due for recomputing at `now`.
    pub(super) fn due(&self, now: Duration) -> bool {
        self.cap.is_none() && self.computed_at.is_none_or(|at| now >= at + RECOMPUTE)
    }

    /// Recomputes the limit at `now` from the budget (`rate`, requests a
    /// second, when one is set or learned), the requests a job costs and
    /// the running jobs' ages (sum and longest, seconds).
    pub(super) fn recompute(
        &mut self,
        now: Duration,
        rate: Option<f64>,
        requests_per_job: f64,
        (running_sum, running_max): (f64, f64),
    ) {
        self.computed_at = Some(now);
        if self.cap.is_some() {
            return;
        }
        let mean = self.durations.mean_secs(running_sum, running_max);
        self.limit = match (rate, mean) {
            (Some(rate), Some(mean)) if rate > 0.0 => {
                let jobs_per_sec = rate / requests_per_job.max(1.0);
                let little = (jobs_per_sec * mean * HEADROOM).ceil() as usize;
                little.clamp(self.floor.max(DEFAULT_IN_FLIGHT / 4), MAX_IN_FLIGHT)
            }
            _ => DEFAULT_IN_FLIGHT,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn a_cap_is_kept_whatever_the_budget() {
        let mut f = InFlight::new(Some(7), 8);
        assert!(!f.due(Duration::ZERO));
        f.recompute(Duration::ZERO, Some(100.0), 1.1, (1e6, 1e3));
        assert_eq!((f.limit(), f.ceiling()), (7, 7));
    }

    #[test]
    fn without_a_budget_the_default_holds() {
        let mut f = InFlight::new(None, 8);
        f.recompute(Duration::ZERO, None, 1.1, (300.0, 30.0));
        assert_eq!(f.limit(), DEFAULT_IN_FLIGHT);
        assert_eq!(f.ceiling(), MAX_IN_FLIGHT);
    }

    #[test]
    fn little_s_law_sizes_the_limit_from_the_budget_and_durations() {
        let mut f = InFlight::new(None, 8);
        // 400 requests a minute, 1.15 requests a job, jobs of 30 s: about
        // 174 jobs in flight, 217 with headroom.
        for _ in 0..1000 {
            f.finished(30 * S);
        }
        f.recompute(Duration::ZERO, Some(400.0 / 60.0), 1.15, (0.0, 0.0));
        let limit = f.limit();
        assert!((200..=230).contains(&limit), "{limit}");
    }

    #[test]
    fn running_jobs_count_as_lasting_at_least_their_age() {
        let mut f = InFlight::new(None, 8);
        f.recompute(Duration::ZERO, Some(10.0), 1.0, (0.0, 0.0));
        assert_eq!(f.limit(), DEFAULT_IN_FLIGHT, "no job ran yet");
        // 50 jobs running for 20 s, none finished: the mean is at least 20 s.
        f.recompute(2 * S, Some(10.0), 1.0, (50.0 * 20.0, 20.0));
        let early = f.limit();
        assert!(early >= 10 * 20, "{early}");
        // Finished jobs of 5 s bring it down.
        for _ in 0..500 {
            f.finished(5 * S);
        }
        f.recompute(4 * S, Some(10.0), 1.0, (50.0 * 2.0, 2.0));
        assert!(f.limit() < early / 2, "{} vs {early}", f.limit());
    }

    #[test]
    fn the_limit_is_recomputed_once_a_second_and_stays_bounded() {
        let mut f = InFlight::new(None, 8);
        assert!(f.due(Duration::ZERO));
        f.recompute(Duration::ZERO, Some(1e6), 1.0, (1e9, 1e6));
        assert_eq!(f.limit(), MAX_IN_FLIGHT);
        assert!(!f.due(Duration::from_millis(500)));
        assert!(f.due(S));
    }
}

//! The jobs the batch waits for: one per row whose job is known, with
//! when it is next due, how often it ran, and the one deadline that bounds
//! every loop over the row (waiting and job-level retries alike).
//!
//! Plain synchronous state: methods take the clock time (`now`) as an
//! argument. The engine asks it for the sweep's candidates, feeds it what
//! sweeps and retries showed, and finishes the rows it hands back.

use crate::batch::{HashMap, HashMapExt, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::poller::Candidate;
use crate::model::{Job, JobStatus, RetriedJob};
use crate::poll::PollPolicy;

/// Consecutive 404 answers after which a tracked job is taken as gone.
const NOT_FOUND_LIMIT: u32 = 3;

/// The least time over which those answers are spread.
const NOT_FOUND_SPAN: Duration = Duration::from_secs(30);

/// A job the batch waits for.
#[derive(Debug)]
pub(super) struct Tracked {
    pub(super) key: String,
    pub(super) seq: u64,
    pub(super) created_at: DateTime<Utc>,
    /// Clock time the batch started waiting for this run of the job.
    waiting_from: Duration,
    next_check: Duration,
    checks: u32,
    /// Job runs so far (1 + job-level retries).
    pub(super) attempts: u32,
    /// Creates sent for the row.
    pub(super) creates: u32,
    /// A job-level retry is under way (waiting for its permit, or on the
    /// wire).
    retrying: bool,
    /// That retry's request is on the wire: its answer may name the row's
    /// next job, so the row waits for it even past its deadline (the
    /// request timeout bounds that).
    retry_sent: bool,
    /// A listing that covered its creation time did not show it.
    missed: bool,
    /// Consecutive fetches answered 404.
    not_found: u32,
    /// Clock time after which the row ends as timed out, whatever it is
    /// doing (waiting, being retried): one bound on every loop over it.
    deadline: Duration,
    /// The row's span: every event about this job is logged inside it.
    pub(super) span: tracing::Span,
}

impl Tracked {
    /// How long this run of the job has lasted at `now`.
    pub(super) fn lasted(&self, now: Duration) -> Duration {
        now.saturating_sub(self.waiting_from)
    }
}

/// A row whose job is known, to be tracked.
#[derive(Debug)]
pub(super) struct NewJob {
    pub(super) job_id: String,
    pub(super) key: String,
    pub(super) seq: u64,
    pub(super) created_at: DateTime<Utc>,
    pub(super) attempts: u32,
    pub(super) creates: u32,
}

/// What a fetched job means for its row.
#[derive(Debug)]
pub(super) enum Seen {
    /// Not a job the batch waits for (or a retry of it is under way).
    Ignored,
    /// Still running: looked at again later.
    Running,
    /// Finished (completed, or failed with no retry left): the row ends.
    Finished(Tracked),
    /// Failed with retries left: the engine sends a job-level retry (the
    /// row is marked as retrying until its answer).
    Retry { key: String },
}

/// The jobs the batch waits for, by job id.
///
/// Ids are shared (`Arc<str>`): every sweep takes the ids it waits for and
/// its candidates (a hundred or more each), and a page hands back the ones
/// it saw running, so a copy of an id is a count, not an allocation.
#[derive(Debug)]
pub(super) struct Tracker {
    jobs: HashMap<Arc<str>, Tracked>,
    poll: PollPolicy,
    /// Job-level retries per row.
    job_retries: u32,
}

impl Tracker {
    pub(super) fn new(poll: PollPolicy, job_retries: u32) -> Self {
        Self {
            jobs: HashMap::new(),
            poll,
            job_retries,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.jobs.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }

    /// The running jobs' ages at `now`, in seconds: their sum and the
    /// longest.
    pub(super) fn ages(&self, now: Duration) -> (f64, f64) {
        self.jobs.values().fold((0.0, 0.0), |(sum, max), t| {
            let age = t.lasted(now).as_secs_f64();
            (sum + age, f64::max(max, age))
        })
    }

    /// The key of the row waiting for `job_id`.
    pub(super) fn key_of(&self, job_id: &str) -> Option<String> {
        self.jobs.get(job_id).map(|t| t.key.clone())
    }

    /// The job ids waited for.
    pub(super) fn ids(&self) -> HashSet<Arc<str>> {
        self.jobs.keys().cloned().collect()
    }

    /// How long a row may be waited for in all: the poll deadline for each
    /// run of its job (the first and every job-level retry).
    fn row_deadline(&self) -> Duration {
        self.poll
            .deadline()
            .saturating_mul(self.job_retries.saturating_add(1))
    }

    /// Starts waiting for a job. Two rows cannot share a job: when another
    /// row already waits for this id (the server or the journal named it
    /// twice), the new row is handed back with the other row's key, to be
    /// reported rather than let one of the two vanish.
    pub(super) fn track(&mut self, job: NewJob, now: Duration) -> Result<(), (NewJob, String)> {
        if let Some(other) = self.jobs.get(job.job_id.as_str()) {
            let other = other.key.clone();
            return Err((job, other));
        }
        let span =
            tracing::info_span!("batch.job", key = %job.key, job_id = %job.job_id, seq = job.seq);
        span.in_scope(|| tracing::debug!(attempts = job.attempts, "waiting for the job"));
        let tracked = Tracked {
            span,
            key: job.key,
            seq: job.seq,
            created_at: job.created_at,
            waiting_from: now,
            next_check: now + self.poll.next_interval(0),
            checks: 0,
            attempts: job.attempts,
            creates: job.creates,
            retrying: false,
            retry_sent: false,
            missed: false,
            not_found: 0,
            deadline: now + self.row_deadline(),
        };
        self.jobs.insert(Arc::from(job.job_id), tracked);
        Ok(())
    }

    /// The jobs a sweep may look at (not those being retried).
    pub(super) fn candidates(&self, now: Duration) -> Vec<Candidate> {
        self.jobs
            .iter()
            .filter(|(_, t)| !t.retrying)
            .map(|(id, t)| Candidate {
                id: id.clone(),
                created_at: t.created_at,
                due: now >= t.next_check,
                must_get: t.missed,
            })
            .collect()
    }

    /// When the next job is due (`None`: nothing tracked).
    pub(super) fn next_due(&self, now: Duration) -> Option<Duration> {
        self.jobs
            .values()
            .map(|t| t.next_check.saturating_sub(now))
            .min()
    }

    /// Jobs a sweep's listing was meant to show (`listed`) but did not
    /// (`seen` is what it showed) are fetched by id next time.
    pub(super) fn missed(&mut self, listed: HashSet<Arc<str>>, seen: &HashSet<&str>) {
        for id in listed {
            if let Some(t) = self.jobs.get_mut(&id)
                && !t.retrying
                && !seen.contains(&*id)
            {
                t.missed = true;
            }
        }
    }

    /// What a job fetched by a sweep that started at `started` means for
    /// its row. A job fetched before the row's latest retry was answered
    /// shows the job as it was, not as it is: ignored.
    pub(super) fn seen(&mut self, job: &Job, started: Duration, now: Duration) -> Seen {
        self.sighted(&job.id, &job.status, started, now)
    }

    /// [`Tracker::seen`] of a job known by its id and status alone (a
    /// sweep's page showing one of ours still running is not decoded
    /// whole).
    pub(super) fn sighted(
        &mut self,
        id: &str,
        status: &JobStatus,
        started: Duration,
        now: Duration,
    ) -> Seen {
        let Some(t) = self.jobs.get_mut(id) else {
            return Seen::Ignored;
        };
        if t.waiting_from > started || t.retrying {
            return Seen::Ignored;
        }
        t.missed = false;
        t.not_found = 0;
        match status {
            // Past the row's deadline a failed job is not retried: the
            // deadline bounds every loop on a row.
            JobStatus::Failed if t.attempts <= self.job_retries && now <= t.deadline => {
                t.retrying = true;
                t.span
                    .in_scope(|| tracing::info!(attempt = t.attempts, "job failed; retrying it"));
                Seen::Retry { key: t.key.clone() }
            }
            JobStatus::Completed | JobStatus::Failed => {
                Seen::Finished(self.jobs.remove(id).expect("tracked"))
            }
            _ => {
                t.checks += 1;
                t.next_check = now + self.poll.next_interval(t.checks);
                Seen::Running
            }
        }
    }

    /// A fetch of `job_id` was answered 404. A job the server just made may
    /// not be visible everywhere yet, and a proxy or a deploy may answer a
    /// stray 404: the job is fetched again, and only after
    /// [`NOT_FOUND_LIMIT`] answers in a row, spread over at least
    /// [`NOT_FOUND_SPAN`], is it taken as gone (handed back, no longer
    /// tracked).
    pub(super) fn not_found(&mut self, job_id: &str, now: Duration) -> Option<Tracked> {
        let t = self.jobs.get_mut(job_id)?;
        t.not_found += 1;
        if t.not_found >= NOT_FOUND_LIMIT {
            return self.jobs.remove(job_id);
        }
        t.missed = true;
        t.next_check = now + NOT_FOUND_SPAN / (NOT_FOUND_LIMIT - 1);
        None
    }

    /// Stops waiting for a job (it is gone, or its row ends).
    pub(super) fn remove(&mut self, job_id: &str) -> Option<Tracked> {
        self.jobs.remove(job_id)
    }

    /// Jobs past their deadline (this run's, or the row's in all), whatever
    /// they are doing, with how long this run waited: no loop over a row
    /// outlives it.
    pub(super) fn expired(&mut self, now: Duration) -> Vec<(String, Tracked, Duration)> {
        let deadline = self.poll.deadline();
        let ids: Vec<String> = self
            .jobs
            .iter()
            .filter(|(_, t)| !t.retry_sent)
            .filter(|(_, t)| now.saturating_sub(t.waiting_from) > deadline || now > t.deadline)
            .map(|(id, _)| id.to_string())
            .collect();
        ids.into_iter()
            .filter_map(|id| {
                let t = self.jobs.remove(id.as_str())?;
                let waited = now.saturating_sub(t.waiting_from);
                Some((id, t, waited))
            })
            .collect()
    }

    /// A job-level retry of `job_id` was answered with `retried`: the row
    /// waits for the job it names (a new id, or the same job run again).
    /// Hands the row back with the other row's key when another row
    /// already waits for the new id.
    pub(super) fn retried(
        &mut self,
        job_id: &str,
        retried: &RetriedJob,
        now: Duration,
    ) -> Result<(), (NewJob, String)> {
        let Some(mut t) = self.jobs.remove(job_id) else {
            return Ok(());
        };
        t.attempts += 1;
        if retried.id != job_id {
            t.created_at = retried.created_at;
        }
        if let Some(other) = self.jobs.get(retried.id.as_str()) {
            let job = NewJob {
                job_id: retried.id.clone(),
                key: t.key,
                seq: t.seq,
                created_at: t.created_at,
                attempts: t.attempts,
                creates: t.creates,
            };
            return Err((job, other.key.clone()));
        }
        t.retrying = false;
        t.retry_sent = false;
        t.checks = 0;
        t.waiting_from = now;
        t.next_check = now + self.poll.next_interval(0);
        self.jobs.insert(Arc::from(retried.id.as_str()), t);
        Ok(())
    }

    /// The retry of `job_id` went on the wire (see `Tracked::retry_sent`).
    pub(super) fn retry_sent(&mut self, job_id: &str) {
        if let Some(t) = self.jobs.get_mut(job_id) {
            t.retry_sent = true;
        }
    }

    /// A job-level retry of `job_id` got no usable answer (refused with a
    /// conflict, or lost): the job is fetched by id at once to learn what
    /// it is doing now, and the attempt counts, so retries stay bounded.
    pub(super) fn retry_unanswered(&mut self, job_id: &str, now: Duration) {
        if let Some(t) = self.jobs.get_mut(job_id) {
            t.retrying = false;
            t.retry_sent = false;
            t.checks = 0;
            t.attempts += 1;
            t.missed = true;
            t.next_check = now;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Output;

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    fn new_job(id: &str, key: &str) -> NewJob {
        NewJob {
            job_id: id.into(),
            key: key.into(),
            seq: 0,
            created_at: t(0),
            attempts: 1,
            creates: 1,
        }
    }

    fn job(id: &str, status: JobStatus) -> Job {
        let output = (status == JobStatus::Completed).then(|| Output {
            title: None,
            suggestion: "text".into(),
        });
        Job {
            id: id.into(),
            status,
            application_id: "app".into(),
            created_at: t(0),
            updated_at: None,
            completed_at: None,
            output,
            error: None,
        }
    }

    fn policy() -> PollPolicy {
        PollPolicy::default()
    }

    #[test]
    fn a_job_is_gone_only_after_several_404s_spread_over_time() {
        let mut tracker = Tracker::new(policy(), 0);
        tracker.track(new_job("j", "a"), Duration::ZERO).unwrap();
        let mut now = Duration::from_secs(5);
        assert!(
            tracker.not_found("j", now).is_none(),
            "one 404 is not proof"
        );
        let wait = tracker.next_due(now).unwrap();
        assert!(
            wait >= Duration::from_secs(15),
            "fetched again later: {wait:?}"
        );
        let due = now + wait;
        // Seen again: the count starts over.
        assert!(matches!(
            tracker.seen(&job("j", JobStatus::InProgress), due, due),
            Seen::Running
        ));
        for n in 0..NOT_FOUND_LIMIT {
            now += NOT_FOUND_SPAN;
            let gone = tracker.not_found("j", now);
            assert_eq!(
                gone.is_some(),
                n + 1 == NOT_FOUND_LIMIT,
                "404 number {}",
                n + 1
            );
        }
        assert!(tracker.is_empty());
    }

    #[test]
    fn two_rows_cannot_share_a_job() {
        let mut tracker = Tracker::new(policy(), 0);
        tracker.track(new_job("j", "a"), Duration::ZERO).unwrap();
        let (job, other) = tracker
            .track(new_job("j", "b"), Duration::ZERO)
            .unwrap_err();
        assert_eq!((job.key.as_str(), other.as_str()), ("b", "a"));
        assert_eq!(tracker.len(), 1);
    }

    #[test]
    fn a_failed_job_is_retried_until_its_retries_are_spent() {
        let mut tracker = Tracker::new(policy(), 1);
        let now = Duration::from_secs(5);
        tracker.track(new_job("j", "a"), Duration::ZERO).unwrap();
        let failed = job("j", JobStatus::Failed);
        assert!(matches!(tracker.seen(&failed, now, now), Seen::Retry { ref key } if key == "a"));
        assert!(
            tracker.candidates(now).is_empty(),
            "a retrying job is not swept"
        );
        assert!(matches!(tracker.seen(&failed, now, now), Seen::Ignored));
        let retried = RetriedJob {
            id: "j2".into(),
            status: JobStatus::InProgress,
            created_at: t(10),
        };
        let later = now + Duration::from_secs(5);
        tracker.retried("j", &retried, later).unwrap();
        let failed = job("j2", JobStatus::Failed);
        assert!(
            matches!(tracker.seen(&failed, now, later), Seen::Ignored),
            "fetched before the retry was answered"
        );
        assert!(matches!(
            tracker.seen(&failed, later, later),
            Seen::Finished(ref t) if t.attempts == 2
        ));
        assert!(tracker.is_empty());
    }

    #[test]
    fn a_conflict_on_retry_counts_the_attempt_and_fetches_the_job() {
        let mut tracker = Tracker::new(policy(), 5);
        let now = Duration::from_secs(5);
        tracker.track(new_job("j", "a"), Duration::ZERO).unwrap();
        let failed = job("j", JobStatus::Failed);
        for attempt in 1..=5 {
            assert!(
                matches!(tracker.seen(&failed, now, now), Seen::Retry { .. }),
                "attempt {attempt}"
            );
            tracker.retry_unanswered("j", now);
            let candidate = &tracker.candidates(now)[0];
            assert!(candidate.due && candidate.must_get);
        }
        assert!(
            matches!(tracker.seen(&failed, now, now), Seen::Finished(ref t) if t.attempts == 6)
        );
    }

    #[test]
    fn every_row_ends_by_its_deadline_whatever_it_is_doing() {
        let policy = policy();
        let mut tracker = Tracker::new(policy, 2);
        tracker.track(new_job("j", "a"), Duration::ZERO).unwrap();
        let failed = job("j", JobStatus::Failed);
        assert!(matches!(
            tracker.seen(&failed, Duration::ZERO, Duration::ZERO),
            Seen::Retry { .. }
        ));
        // The retry's answer never comes: the row still ends.
        let end = policy.deadline() * 3 + Duration::from_secs(1);
        assert!(tracker.expired(policy.deadline()).is_empty());
        let expired = tracker.expired(end);
        assert_eq!(expired.len(), 1);
        assert!(tracker.is_empty());
    }

    #[test]
    fn a_job_the_listing_should_have_shown_is_fetched_by_id() {
        let mut tracker = Tracker::new(policy(), 0);
        tracker
            .track(new_job("shown", "a"), Duration::ZERO)
            .unwrap();
        tracker
            .track(new_job("hidden", "b"), Duration::ZERO)
            .unwrap();
        let listed: HashSet<Arc<str>> = ["shown", "hidden"].into_iter().map(Arc::from).collect();
        let seen: HashSet<&str> = ["shown"].into_iter().collect();
        tracker.missed(listed, &seen);
        let must_get: Vec<String> = tracker
            .candidates(Duration::ZERO)
            .into_iter()
            .filter(|c| c.must_get)
            .map(|c| c.id.to_string())
            .collect();
        assert_eq!(must_get, ["hidden"]);
    }
}

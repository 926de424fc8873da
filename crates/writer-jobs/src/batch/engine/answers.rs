//! Answers to the engine's requests: creates, sweeps and job-level
//! retries, each routed to the owner it concerns.

use super::*;

/// Beyond an ambiguous create's window, how long less overlap keeps
/// creates back: the server's clock is known to within a create's round
/// trip (the skew bound's width), which this covers.
const OVERLAP_MARGIN: Duration = Duration::from_secs(1);

impl Engine {
    /// A create's answer; `times` are when its intent was written (steady
    /// clock) and when its request was first polled (clock time).
    pub(super) async fn on_created(
        &mut self,
        mut queued: Queued,
        times: (DateTime<Utc>, Duration),
        result: crate::Result<CreatedJob>,
    ) -> Result<(), BatchError> {
        self.creates.ended();
        self.reconciler.answered(&queued.row.key);
        let now = self.clock.now();
        let (since, sent) = (times.0, self.reconciler.steady(times.1));
        let error = match result {
            Ok(created) => {
                self.creates.answered(now);
                let received = self.reconciler.steady(now);
                self.reconciler
                    .observe_create(sent, received, created.created_at);
                self.sink.append_with(|| Record::Created {
                    key: queued.row.key.clone(),
                    job_id: created.id.clone(),
                    created_at: Some(created.created_at),
                    received_at: Some(received),
                })?;
                self.sink.progress_mut().created += 1;
                self.track(NewJob {
                    job_id: created.id,
                    key: queued.row.key,
                    seq: queued.seq,
                    created_at: created.created_at,
                    attempts: 1,
                    creates: queued.creates,
                });
                return Ok(());
            }
            Err(error) => error,
        };
        match after_failure(&error) {
            // A 429 was a create sent (and refused): it counts towards the
            // row's creates, so creates always refused cannot loop forever.
            // A connection never opened sent nothing.
            AfterFailure::Requeue if queued.creates >= MAX_CREATES => {
                let message = format!(
                    "none of the row's {} creates was accepted; the last: {error}",
                    queued.creates
                );
                self.reject_create(queued, message, error.status()).await?;
            }
            AfterFailure::Requeue => {
                if matches!(error, Error::Transport { connect: true, .. }) {
                    queued.creates -= 1;
                }
                self.creates.push_front(queued);
            }
            AfterFailure::Reconcile => {
                tracing::warn!(key = %queued.row.key, %error, "create is ambiguous; will reconcile");
                // The server may act on it from when it went on the wire
                // until it has held it for as long as it can, counted from
                // when it received it: at the latest, now.
                let window = (since, self.reconciler.acted_until(now));
                let open_for = (window.1 - self.reconciler.steady(now)).to_std();
                let until = now + open_for.unwrap_or_default() + OVERLAP_MARGIN;
                // Before any create of this run succeeded its window is
                // unbounded, and only the next create's answer can place it:
                // creates go on.
                if self.reconciler.placed() {
                    self.creates.ambiguous(until);
                }
                let Queued {
                    row, seq, creates, ..
                } = queued;
                let key = row.key.clone();
                let a = Ambiguous::new(key, Some(row), seq, creates, window, error.to_string());
                self.make_ambiguous(a, true)?;
            }
            AfterFailure::Stop => {
                self.begin_stop();
                return Err(BatchError::Api(error));
            }
            AfterFailure::Reject => {
                let message = error.to_string();
                self.reject_create(queued, message, error.status()).await?;
            }
        }
        Ok(())
    }

    /// Ends a row whose creates the server refused: `rejected`, with its
    /// creates counted.
    async fn reject_create(
        &mut self,
        queued: Queued,
        error: String,
        http_status: Option<u16>,
    ) -> Result<(), BatchError> {
        let result = OutcomeResult::Rejected { error, http_status };
        let outcome = Outcome {
            creates: queued.creates,
            ..self.outcome(queued.row.key, queued.seq, None, result)
        };
        self.finish(outcome).await
    }

    pub(super) async fn on_swept(&mut self, result: SweepResult) -> Result<(), BatchError> {
        // The finished jobs it handed over and not yet taken: first.
        while let Ok(job) = self.finished_rx.try_recv() {
            let now = self.clock.now();
            self.observe(job, self.sweeps.started(), now).await?;
        }
        let now = self.clock.now();
        let wall = self.clock.wall();
        let (started, listed) = self.sweeps.finished(&result, wall);
        // A job the listing was meant to show but did not (the page failed,
        // it vanished, pages shifted, the list is not newest first) is
        // fetched by id next time.
        let seen: HashSet<&str> = result
            .observed
            .iter()
            .map(|j| j.id.as_str())
            .chain(result.handed.iter().map(String::as_str))
            .chain(result.running.iter().map(|id| &**id))
            .collect();
        self.tracker.missed(listed, &seen);
        for id in &result.running {
            // Still running: its next check moves on, nothing else (a job
            // in progress is never retried nor finished).
            let seen = self
                .tracker
                .sighted(id, &JobStatus::InProgress, started, now);
            debug_assert!(matches!(seen, Seen::Running | Seen::Ignored));
        }
        for job in result.observed {
            self.observe(job, started, now).await?;
        }
        for id in result.not_found {
            if let Some(t) = self.tracker.not_found(&id, now) {
                let error = format!("job {id} no longer exists (404, several times)");
                let outcome = self.tracked_outcome(t, Some(id), OutcomeResult::Failed { error });
                self.finish(outcome).await?;
            }
        }
        for (id, t, waited) in self.tracker.expired(now) {
            if self.reconciler.has_lost_retry(&t.key) {
                // Its last retry's answer was lost: that retry may have
                // made the row's job; reconciled, not given up.
                self.reconcile_lost_retry(t, id, now);
                continue;
            }
            let result = OutcomeResult::TimedOut {
                waited_secs: waited.as_secs(),
            };
            let outcome = self.tracked_outcome(t, Some(id), result);
            self.finish(outcome).await?;
        }
        let pace = self.pace(now);
        self.sweeps.schedule(now, None, pace);
        Ok(())
    }

    /// Acts on a job a sweep that started at `started` fetched: a finished
    /// row ends, a failed job with retries left is retried (the retry's
    /// intent is recorded first: it may make a new job).
    pub(super) async fn observe(
        &mut self,
        job: Job,
        started: Duration,
        now: Duration,
    ) -> Result<(), BatchError> {
        match self.tracker.seen(&job, started, now) {
            Seen::Ignored | Seen::Running => Ok(()),
            // Still failed after a retry whose answer was lost: that retry
            // may have made a new job (a create in disguise). It is
            // reconciled like an ambiguous create, never sent again blind.
            Seen::Retry { key } if self.reconciler.has_lost_retry(&key) => {
                if let Some(t) = self.tracker.remove(&job.id) {
                    self.reconcile_lost_retry(t, job.id, now);
                }
                Ok(())
            }
            // Stopping: no new job, so no retry; the row is left for a
            // resumed run, which finds its job failed and retries it.
            Seen::Retry { .. } if self.stopping => {
                self.tracker.remove(&job.id);
                Ok(())
            }
            Seen::Retry { key } => {
                self.request_retry_permit(key, job.id);
                Ok(())
            }
            // No retry left (or past the deadline), but the last one's
            // answer was lost: it may have made the row's job.
            Seen::Finished(t)
                if job.status == JobStatus::Failed && self.reconciler.has_lost_retry(&t.key) =>
            {
                self.reconcile_lost_retry(t, job.id, now);
                Ok(())
            }
            Seen::Finished(t) => {
                self.in_flight.finished(t.lasted(now));
                let result = match job.status {
                    JobStatus::Completed => {
                        let output = job.output.clone().unwrap_or_else(|| {
                            tracing::warn!(job_id = %job.id, "completed job has no data");
                            Output {
                                title: None,
                                suggestion: String::new(),
                            }
                        });
                        OutcomeResult::Completed { output }
                    }
                    _ => OutcomeResult::Failed {
                        error: job
                            .error
                            .clone()
                            .unwrap_or_else(|| "the job failed without a message".into()),
                    },
                };
                self.finish_job(t, &job, result).await
            }
        }
    }

    /// Reconciles the lost retry of the row `t` (its job `job_id` still
    /// failed) like an ambiguous create: the retry may have made a new job
    /// of the row's whose id was lost; it is never sent again blind.
    pub(super) fn reconcile_lost_retry(&mut self, t: Tracked, job_id: String, now: Duration) {
        let Some(window) = self.reconciler.take_lost_retry(&t.key) else {
            return;
        };
        tracing::warn!(key = %t.key, %job_id, "the job is still failed after a lost retry; reconciling the retry");
        let from = RetryOf {
            job_id,
            created_at: t.created_at,
            attempts: t.attempts,
        };
        let a = Ambiguous::lost_retry(t.key, t.seq, t.creates, from, &window);
        self.reconciler.add(a, now);
    }

    /// Waits, off the engine's loop, for the permit of a retry of the
    /// failed job `job_id` (row `key`).
    pub(super) fn request_retry_permit(&mut self, key: String, job_id: String) {
        let pacer = self.pacer.clone();
        let mut stop = self.stop.clone();
        self.tasks.push(Box::pin(async move {
            // A stop ends the wait (the row is then left for a resume); a
            // stop handle gone (no stop can come) does not.
            let stopped = async {
                if stop.wait_for(|stopping| *stopping).await.is_err() {
                    std::future::pending::<()>().await;
                }
            };
            tokio::select! {
                _ = pacer.retry_permit() => {}
                _ = stopped => {}
            }
            Event::RetryPermitted { key, job_id }
        }));
    }

    /// Once permitted, as for a create: the intent is written with the time
    /// the retry goes on the wire (a resumed run rebuilds a lost retry's
    /// window from it), and the retry is sent exactly once. A row that
    /// ended meanwhile (its deadline passed) or a stopping run sends
    /// nothing: a resumed run retries a job it finds still failed.
    pub(super) fn on_retry_permitted(
        &mut self,
        key: String,
        job_id: String,
    ) -> Result<(), BatchError> {
        if self.tracker.key_of(&job_id).as_deref() != Some(key.as_str()) {
            return Ok(());
        }
        if self.stopping || *self.stop.borrow() {
            // Not sent: left for a resumed run (see `observe`).
            self.tracker.remove(&job_id);
            return Ok(());
        }
        if !self.pacer.creates_allowed() {
            // The gate closed since the permit was granted (as for a
            // create, see `on_permitted`): wait for it again.
            self.request_retry_permit(key, job_id);
            return Ok(());
        }
        let intended = self.clock.now();
        let sent_at = self.reconciler.steady(intended);
        self.sink.append(Record::RetryIntent {
            key: key.clone(),
            from: job_id.clone(),
            at: sent_at,
        })?;
        // Answered with a new id, a retry is a create: until its answer
        // comes, its job may be an orphan no other row may take.
        self.reconciler.sent(&retry_on_wire(&job_id), sent_at);
        self.tracker.retry_sent(&job_id);
        let client = self.create_client.clone();
        let clock = self.clock.clone();
        let send_delay = self.settings.send_delay;
        // Boxed, as a create's task is (see `on_permitted`).
        self.creates_running.spawn(Box::pin(async move {
            if clock.now().saturating_sub(intended) > send_delay {
                return Event::RetryUnsent { key, job_id };
            }
            let result = client.retry_job(&job_id).await;
            Event::Retried {
                job_id,
                sent_at,
                result,
            }
        }));
        Ok(())
    }

    pub(super) async fn on_retried(
        &mut self,
        job_id: String,
        sent_at: DateTime<Utc>,
        result: crate::Result<RetriedJob>,
    ) -> Result<(), BatchError> {
        let now = self.clock.now();
        self.reconciler.answered(&retry_on_wire(&job_id));
        let Some(key) = self.tracker.key_of(&job_id) else {
            return Ok(());
        };
        match result {
            Ok(retried) => {
                self.sink.append(Record::Retried {
                    key,
                    job_id: retried.id.clone(),
                    from: job_id.clone(),
                })?;
                match self.tracker.retried(&job_id, &retried, now) {
                    Ok(()) => self
                        .reconciler
                        .remember(retried.id, retried.created_at, now),
                    Err((job, other)) => self.collide(job, &other),
                }
            }
            // Not failed any more (retried elsewhere?), or the server will
            // not retry it: fetch it to learn what it is doing now, and
            // count the attempt, so the retries stay bounded.
            Err(Error::Conflict { .. }) => self.tracker.retry_unanswered(&job_id, now),
            // Surely not acted on (refused with 429, or no connection): sent
            // again after a new permit, as a create would be (the row's
            // deadline bounds this).
            Err(error) if after_failure(&error) == AfterFailure::Requeue => {
                tracing::debug!(%job_id, %error, "retry not taken; sending it again");
                self.request_retry_permit(key, job_id);
            }
            Err(error) if error.is_transient() || matches!(error, Error::Ambiguous { .. }) => {
                // The retry may or may not have landed: look at the job
                // before trying again, and count the attempt either way. A
                // retry answered with a new id may have made a job of ours
                // whose id is lost: no ambiguous create may adopt it.
                tracing::warn!(%job_id, %error, %sent_at, "retry is ambiguous; checking the job first");
                self.reconciler.lost_retry(&key, sent_at, now);
                self.tracker.retry_unanswered(&job_id, now);
            }
            Err(error) => {
                if let Some(t) = self.tracker.remove(&job_id) {
                    let error = format!("the job failed and could not be retried: {error}");
                    let outcome =
                        self.tracked_outcome(t, Some(job_id), OutcomeResult::Failed { error });
                    self.finish(outcome).await?;
                }
            }
        }
        Ok(())
    }

    pub(super) async fn finish_job(
        &mut self,
        t: Tracked,
        job: &Job,
        result: OutcomeResult,
    ) -> Result<(), BatchError> {
        t.span.in_scope(|| {
            tracing::debug!(
                status = result.name(),
                attempts = t.attempts,
                "job finished"
            )
        });
        let outcome = Outcome {
            created_at: Some(job.created_at),
            finished_at: job.completed_at.or(job.updated_at),
            ..self.tracked_outcome(t, Some(job.id.clone()), result)
        };
        self.finish(outcome).await
    }
}

/// The reconciler's name for a job-level retry of `job_id` on the wire
/// (never a row's key, so no verdict is ever carried out on it).
pub(super) fn retry_on_wire(job_id: &str) -> String {
    format!("retry of job {job_id} on the wire")
}

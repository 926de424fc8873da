//! Rows as the input delivers them: replayed, re-attached or reconciled
//! by what the journal recorded, validated and queued when new, and the
//! rows whose job is known handed to the tracker.

use super::*;

impl Engine {
    pub(super) async fn accept_row(&mut self, row: Row) -> Result<(), BatchError> {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.sink.progress_mut().rows_read += 1;
        if let Some(first) = self.keys.insert(key_hash(&row.key), seq) {
            return Err(BatchError::DuplicateKey {
                key: row.key,
                first,
                second: seq,
            });
        }
        let state = self.resume.take(&row.key);
        if let (Some(state), Some(journal)) = (&state, self.sink.journal()) {
            journal.check_row(state, &row.key, &row.inputs.fingerprint())?;
        }
        match self.reconciler.take_early(&row.key) {
            Some(Early::Resend { creates }) => {
                self.creates.push_back(Queued {
                    creates,
                    ..Queued::new(row, seq)
                });
                return Ok(());
            }
            Some(Early::Report {
                reason,
                candidates,
                creates,
            }) => {
                let result = OutcomeResult::Ambiguous { reason, candidates };
                let outcome = Outcome {
                    creates,
                    ..self.outcome(row.key, seq, None, result)
                };
                return self.finish(outcome).await;
            }
            None => {}
        }
        // Registered from the journal: now its inputs are known.
        let Some(row) = self.reconciler.attach_row(row, seq) else {
            return Ok(());
        };
        match self.resume.place(row, seq, state) {
            Placed::Replay { offset } => {
                let journal = self
                    .sink
                    .journal()
                    .expect("resume state comes from a journal");
                let mut outcome = journal.read_outcome(offset)?;
                outcome.replayed = true;
                self.sink.progress_mut().replayed += 1;
                let now = self.snapshot();
                self.sink.emit(outcome, now).await;
            }
            Placed::Track {
                row,
                job_id,
                sent_at,
                attempts,
            } => self.track(NewJob {
                job_id,
                key: row.key,
                seq,
                created_at: sent_at.unwrap_or_else(|| self.clock.wall()),
                attempts,
                creates: 1,
            }),
            Placed::Ambiguous(a) => self.make_ambiguous(a, false)?,
            Placed::Fresh(row) => self.admit(row, seq, 0).await?,
            Placed::Resend { row, creates } => self.admit(row, seq, creates).await?,
        }
        Ok(())
    }

    /// Queues a new row for its create, unless its inputs do not fit the
    /// application (then it ends rejected, and nothing is sent).
    pub(super) async fn admit(
        &mut self,
        row: Row,
        seq: u64,
        creates: u32,
    ) -> Result<(), BatchError> {
        let invalid = self
            .settings
            .application
            .as_ref()
            .and_then(|app| validate_inputs(app, &row.inputs).err());
        let Some(problems) = invalid else {
            self.creates.push_back(Queued {
                creates,
                ..Queued::new(row, seq)
            });
            return Ok(());
        };
        let error = problems
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join("; ");
        let result = OutcomeResult::Rejected {
            error,
            http_status: None,
        };
        // Nothing was sent and no job ran.
        let outcome = Outcome {
            attempts: 0,
            creates: 0,
            ..self.outcome(row.key, seq, None, result)
        };
        self.finish(outcome).await
    }

    /// Starts waiting for a row's job; a job another row already waits
    /// for is reported for this row instead.
    pub(super) fn track(&mut self, job: NewJob) {
        let now = self.clock.now();
        let (job_id, created_at) = (job.job_id.clone(), job.created_at);
        match self.tracker.track(job, now) {
            Ok(()) => self.reconciler.remember(job_id, created_at, now),
            Err((job, other)) => self.collide(job, &other),
        }
    }

    /// The server (or the journal) named a job that row `other` already
    /// waits for: this row is reported rather than let one of the two
    /// vanish.
    pub(super) fn collide(&mut self, job: NewJob, other: &str) {
        let NewJob {
            job_id, key, seq, ..
        } = job;
        let reason = format!(
            "the server answered with job {job_id}, which row `{other}` already waits for; \
             this row's own job is unknown"
        );
        tracing::warn!(%key, %job_id, %other, "two rows answered with one job id");
        let result = OutcomeResult::Ambiguous {
            reason,
            candidates: vec![job_id],
        };
        let outcome = Outcome {
            attempts: job.attempts,
            creates: job.creates,
            ..self.outcome(key, seq, None, result)
        };
        self.collisions.push(outcome);
    }

    /// Adds an ambiguous create and, with `record`, notes it in the
    /// journal.
    pub(super) fn make_ambiguous(&mut self, a: Ambiguous, record: bool) -> Result<(), BatchError> {
        if record {
            self.sink.append(Record::Ambiguous {
                key: a.key.clone(),
                since: a.since,
                until: a.until,
                reason: a.reason.clone(),
            })?;
        }
        let now = self.clock.now();
        self.reconciler.add(a, now);
        Ok(())
    }
}

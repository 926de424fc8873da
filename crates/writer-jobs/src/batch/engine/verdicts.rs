//! Reconciliation listings and the verdicts on ambiguous creates: sent
//! again, adopted, or reported with their candidates.

use super::*;

impl Engine {
    pub(super) async fn on_reconciled(
        &mut self,
        result: crate::Result<Listing>,
    ) -> Result<(), BatchError> {
        let now = self.clock.now();
        self.listing = None;
        let listing = match result {
            Ok(listing) => listing,
            Err(error) => {
                // Rows that could not be judged by their give-up time are
                // reported, so a list endpoint that stays down cannot stall
                // the run.
                for mut a in self.reconciler.listing_failed(now, &error.to_string()) {
                    // What earlier listings showed in its window, if any.
                    let candidates = std::mem::take(&mut a.seen);
                    self.report_ambiguous(a, candidates).await?;
                }
                return Ok(());
            }
        };
        self.sweeps
            .learn(&listing.order, &listing.marks, listing.end);
        let decided = self.reconciler.listed(&listing, now, self.exclusive);
        for (a, verdict) in decided {
            self.carry_out(a, verdict, &listing, now).await?;
        }
        Ok(())
    }

    /// Carries out the reconciler's verdict on an ambiguous create.
    pub(super) async fn carry_out(
        &mut self,
        a: Ambiguous,
        verdict: Verdict,
        listing: &Listing,
        now: Duration,
    ) -> Result<(), BatchError> {
        let key = a.key.clone();
        if let Some(from) = a.retry_of.clone() {
            return self.carry_out_retry(a, from, verdict, listing).await;
        }
        match verdict {
            Verdict::NotLanded { .. } => {
                tracing::info!(%key, "ambiguous create did not land; sending it again");
                self.resend(a, None).await
            }
            Verdict::Adopt { job_id, .. } => {
                tracing::info!(%key, %job_id, "ambiguous create landed; adopting its job");
                self.sink.append(Record::Created {
                    key: key.clone(),
                    job_id: job_id.clone(),
                    created_at: None,
                    received_at: None,
                })?;
                let created_at = listing
                    .jobs
                    .iter()
                    .find(|(id, _)| *id == job_id)
                    .map_or(a.since, |(_, at)| *at);
                if a.row.is_none() && self.resume.adopt_unread(&key, &job_id) {
                    // Not read yet: it is tracked when the input reaches it.
                    self.reconciler.remember(job_id, created_at, now);
                } else {
                    self.track(NewJob {
                        job_id,
                        key,
                        seq: a.seq,
                        created_at,
                        attempts: 1,
                        creates: a.creates,
                    });
                }
                Ok(())
            }
            Verdict::Unresolved { candidates, .. } => match self.settings.on_ambiguous {
                AmbiguousPolicy::Resend => {
                    tracing::warn!(%key, ?candidates, "ambiguous create unresolved; resending as asked");
                    self.resend(a, Some(candidates)).await
                }
                AmbiguousPolicy::Report => {
                    tracing::warn!(%key, ?candidates, "ambiguous create unresolved; reporting it");
                    self.report_ambiguous(a, candidates).await
                }
            },
        }
    }

    /// Carries out the verdict on a lost retry of the failed job `from`:
    /// it made no job (the failed job is followed again, and retried if
    /// retries are left), its job is adopted (followed as the retry's
    /// answer would have been), or the row is reported with the
    /// candidates. Reported with `--on-ambiguous resend` too: retrying the
    /// failed job again cannot make the row's job anew (a server that
    /// answers a retry with a new id refuses a second retry of one job, and
    /// the first retry's job would be listed nowhere).
    async fn carry_out_retry(
        &mut self,
        a: Ambiguous,
        from: RetryOf,
        verdict: Verdict,
        listing: &Listing,
    ) -> Result<(), BatchError> {
        let (key, seq, creates) = (a.key.clone(), a.seq, a.creates);
        let follow = |job_id: String, created_at| NewJob {
            job_id,
            key: key.clone(),
            seq,
            created_at,
            attempts: from.attempts,
            creates,
        };
        match verdict {
            Verdict::Unresolved { candidates, .. } => {
                tracing::warn!(%key, ?candidates, "lost retry unresolved; reporting it");
                let result = OutcomeResult::Ambiguous {
                    reason: a.reason,
                    candidates,
                };
                // The row's job is known (the one retried): the user can
                // look at it beside the candidates.
                let outcome = Outcome {
                    creates,
                    attempts: from.attempts,
                    ..self.outcome(key.clone(), seq, Some(from.job_id.clone()), result)
                };
                self.finish(outcome).await
            }
            Verdict::NotLanded { .. } => {
                tracing::info!(%key, job_id = %from.job_id, "lost retry made no job; following the failed job");
                self.track(follow(from.job_id.clone(), from.created_at));
                Ok(())
            }
            Verdict::Adopt { job_id, .. } => {
                tracing::info!(%key, %job_id, "lost retry landed; following its job");
                self.sink.append(Record::Retried {
                    key: key.clone(),
                    job_id: job_id.clone(),
                    from: from.job_id.clone(),
                })?;
                let created_at = listing
                    .jobs
                    .iter()
                    .find(|(id, _)| *id == job_id)
                    .map_or(from.created_at, |(_, at)| *at);
                self.track(follow(job_id, created_at));
                Ok(())
            }
        }
    }

    /// Reports an ambiguous row with its candidates (now, or when the input
    /// reaches a row known so far only from the journal).
    pub(super) async fn report_ambiguous(
        &mut self,
        a: Ambiguous,
        candidates: Vec<String>,
    ) -> Result<(), BatchError> {
        // A row known so far only from the journal waits for the input; a
        // lost retry's row was read long ago (its job was tracked).
        if a.row.is_none() && a.retry_of.is_none() {
            let early = Early::Report {
                reason: a.reason,
                candidates,
                creates: a.creates,
            };
            self.reconciler.defer(a.key, early);
            return Ok(());
        }
        let result = OutcomeResult::Ambiguous {
            reason: a.reason,
            candidates,
        };
        // A lost retry's row names its known job (the one retried), and
        // counts its runs, the lost retry's included.
        let attempts = a.retry_of.as_ref().map_or(1, |from| from.attempts);
        let job_id = a.retry_of.map(|from| from.job_id);
        let outcome = Outcome {
            creates: a.creates,
            attempts,
            ..self.outcome(a.key, a.seq, job_id, result)
        };
        self.finish(outcome).await
    }

    /// Sends an ambiguous row's create again (now, or when the input
    /// reaches a row known so far only from the journal), at most
    /// [`MAX_CREATES`] times in all, so creates that never land cannot loop
    /// forever. Then the row ends: reported with `candidates` when it is
    /// unresolved (sent again only because the batch was told to), else
    /// rejected (none of its creates made a job). A count, not a time: each
    /// round may take the server's whole hold.
    pub(super) async fn resend(
        &mut self,
        a: Ambiguous,
        candidates: Option<Vec<String>>,
    ) -> Result<(), BatchError> {
        let Some(row) = a.row else {
            // Known so far only from the journal: wait for the input (it
            // may not be there).
            let early = Early::Resend { creates: a.creates };
            self.reconciler.defer(a.key, early);
            return Ok(());
        };
        if a.creates < MAX_CREATES {
            let queued = Queued {
                creates: a.creates,
                ..Queued::new(row, a.seq)
            };
            self.creates.push_front(queued);
            return Ok(());
        }
        tracing::warn!(key = %a.key, creates = a.creates, "the row's creates did not land; giving up");
        let result = match candidates {
            Some(candidates) => OutcomeResult::Ambiguous {
                reason: a.reason,
                candidates,
            },
            None => OutcomeResult::Rejected {
                error: format!(
                    "none of the row's {} creates made a job; the last: {}",
                    a.creates, a.reason
                ),
                http_status: None,
            },
        };
        let outcome = Outcome {
            creates: a.creates,
            ..self.outcome(a.key, a.seq, None, result)
        };
        self.finish(outcome).await
    }
}

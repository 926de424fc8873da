//! The requests the engine starts: creates (each after its permit, its
//! intent written first), sweeps, reconciliation listings and breaker
//! probes, each a task on the engine's set whose answer comes back as an
//! [`Event`].

use super::*;

impl Engine {
    pub(super) fn start_work(&mut self) {
        self.start_creates();
        let now = self.clock.now();
        if self.sweeps.due(now, !self.tracker.is_empty()) {
            self.start_sweep(now);
        }
        if self.reconciler.due(now) && !self.pacer.circuit_open() {
            self.start_reconcile(now);
        }
        if self.needs_probe() && now >= self.next_probe {
            self.start_probe();
        }
    }

    /// The breaker holds something back (creates paused, or the circuit
    /// open), work is pending, and no read is on its way to tell whether
    /// the server is back: a cheap read (the application's details) probes
    /// it. Any pending work counts (rows queued or waiting for a create
    /// permit, ambiguous rows, which are reconciled only on a closed
    /// circuit, tracked jobs): the breaker closes only on an answer to a
    /// request sent after the latest failure, so someone must send one.
    pub(super) fn needs_probe(&self) -> bool {
        let pending =
            self.creates.waiting() || !self.reconciler.is_empty() || !self.tracker.is_empty();
        !self.probe_running
            && !self.pacer.creates_allowed()
            && pending
            && !self.sweeps.running()
            && !self.reconciler.running()
    }

    /// Takes rows from the queue while a create slot is free: each waits
    /// for its permit (the breaker's gate and the rate limiter) off the
    /// engine's loop. None while an earlier run's creates are undecided.
    pub(super) fn start_creates(&mut self) {
        if self.reconciler.blocks_creates() {
            return;
        }
        let now = self.clock.now();
        while let Some(queued) = self.creates.next(self.pacer.creates_allowed(), now) {
            let pacer = self.pacer.clone();
            self.tasks.push(Box::pin(async move {
                pacer.create_permit().await;
                Event::Permitted(queued)
            }));
        }
    }

    /// Once permitted: the intent is written with the time the request goes
    /// on the wire (not the time it was queued), and the create is sent
    /// exactly once (no hidden retries: a create that surely did not reach
    /// the server is queued again, with a new intent).
    pub(super) fn on_permitted(&mut self, mut queued: Queued) -> Result<(), BatchError> {
        self.creates.permitted();
        if self.stopping {
            // Not sent: a resumed run creates it.
            self.creates.ended();
            return Ok(());
        }
        if !self.pacer.creates_allowed() {
            // The breaker's gate closed (a failure seen) since the permit
            // was granted: the row waits for the gate again, so only the
            // creates already on the wire when an outage began can become
            // ambiguous.
            self.creates.ended();
            self.creates.push_front(queued);
            return Ok(());
        }
        let intended = self.clock.now();
        let since = self.reconciler.steady(intended);
        queued.creates += 1;
        self.sink.append_with(|| Record::Intent {
            key: queued.row.key.clone(),
            seq: queued.seq,
            fp: queued.row.inputs.fingerprint(),
            at: since,
        })?;
        self.sweeps.note_create();
        self.reconciler.sent(&queued.row.key, since);
        let client = self.create_client.clone();
        let app_id = self.settings.app_id.clone();
        let clock = self.clock.clone();
        let send_delay = self.settings.send_delay;
        // Boxed: the task then holds a pointer, not the request's whole
        // state machine (kilobytes), which tokio would otherwise copy on
        // every move of the task's stage (spawn, completion, join).
        self.creates_running.spawn(Box::pin(async move {
            let sent = clock.now();
            if sent.saturating_sub(intended) > send_delay {
                return Event::Unsent(queued);
            }
            let result = client.create_job(&app_id, &queued.row.inputs).await;
            Event::Created {
                queued,
                since,
                sent,
                result,
            }
        }));
        Ok(())
    }

    /// A create first polled too long after its intent (see
    /// `MAX_SEND_DELAY`): it was not sent, so an `unsent` record says so
    /// (a resumed run then does not take the intent for a create sent with
    /// its answer lost, to reconcile or report ambiguous), and its row is
    /// queued again at the front for a new permit and a new intent. Too
    /// many unsent stop the batch (see [`Engine::note_unsent`]).
    pub(super) fn on_unsent(&mut self, mut queued: Queued) -> Result<(), BatchError> {
        tracing::debug!(key = %queued.row.key, "create polled late after its intent; queued again");
        self.creates.ended();
        self.reconciler.answered(&queued.row.key);
        self.sink.append_with(|| Record::Unsent {
            key: queued.row.key.clone(),
        })?;
        if self.stopping {
            // Left for a resumed run, as a row never permitted is.
            return Ok(());
        }
        queued.creates -= 1;
        queued.unsent += 1;
        let unsent = queued.unsent;
        self.creates.push_front(queued);
        self.note_unsent(unsent);
        Ok(())
    }

    /// Counts a create or retry found unsent (`row_unsent`: how often its
    /// row's creates were). Past [`MAX_UNSENT`] for one row, or in a row
    /// (and past twice the create slots), the machine is too slow for the
    /// clock: the batch stops creating, rather than write a new intent for
    /// each row on every round for ever, lets the creates and jobs under
    /// way finish (their answers recorded: none left to reconcile), and
    /// then ends with [`BatchError::TooSlow`].
    pub(super) fn note_unsent(&mut self, row_unsent: u32) {
        self.unsent_streak += 1;
        let slots = u32::try_from(self.settings.create_concurrency).unwrap_or(u32::MAX);
        let streak_limit = MAX_UNSENT.max(slots.saturating_mul(2));
        if self.too_slow.is_some() || (self.unsent_streak < streak_limit && row_unsent < MAX_UNSENT)
        {
            return;
        }
        tracing::warn!(
            streak = self.unsent_streak,
            row_unsent,
            "creates keep starting too late after their intents; stopping the batch"
        );
        self.too_slow = Some(self.unsent_streak);
        self.begin_stop();
    }

    /// Lets the create tasks already spawned start before another intent
    /// is written, once the first intent written since the last yield is a
    /// quarter of `MAX_SEND_DELAY` old: a create is sent only if its task
    /// starts within that delay of its intent, and many permits ready at
    /// once (or a slow journal) could otherwise keep the engine writing
    /// intents past it, so that every create of the round comes back
    /// unsent. Costs nothing while intents are written fast.
    pub(super) async fn yield_if_round_long(&mut self) {
        let now = self.clock.now();
        match self.round_from {
            Some(from) if now.saturating_sub(from) > self.settings.send_delay / 4 => {
                tokio::task::yield_now().await;
                self.round_from = Some(self.clock.now());
            }
            Some(_) => {}
            None => self.round_from = Some(now),
        }
    }

    /// What the sweep scheduler needs to space the next sweep.
    pub(super) fn pace(&self, now: Duration) -> Pace {
        Pace {
            quota_binds: self.pacer.quota_binds(),
            // Rows read but not yet created (queued, or their create on
            // the wire) are still being created.
            creating: !self.input_done || self.creates.queued() > 0 || self.creates.creating() > 0,
            next_due: self.tracker.next_due(now),
        }
    }

    pub(super) fn start_sweep(&mut self, now: Duration) {
        let candidates = self.tracker.candidates(now);
        let pace = self.pace(now);
        let Some((plan, scan)) = self.sweeps.begin(&candidates, now, self.clock.wall(), pace)
        else {
            return;
        };
        tracing::debug!(
            list_back_to = ?plan.list_back_to,
            ?scan,
            gets = plan.gets.len(),
            cost = plan.cost,
            "sweep"
        );
        let wanted = self.tracker.ids();
        let client = self.client.clone();
        // Only GETs wait longer once reads were slow: a listing paging a
        // busy application's list with slow pages would chase it for ever,
        // while its failing sends the jobs to GETs by id.
        let get_client = if self.sweeps.patient() {
            self.client.with_read_timeout(Duration::MAX)
        } else {
            self.client.clone()
        };
        let app_id = self.settings.app_id.clone();
        let page_size = self.settings.page_size;
        let finished = self.finished_tx.clone();
        let hedge = Hedge {
            after: self.settings.read_timeout / HEDGE_FRACTION,
            pacer: self.pacer.clone(),
        };
        self.tasks.push(Box::pin(async move {
            let io = (finished, hedge);
            let clients = (client, get_client);
            let result = sweep(clients, app_id, plan, page_size, wanted, scan, io).await;
            Event::Swept(result)
        }));
    }

    pub(super) fn start_reconcile(&mut self, now: Duration) {
        match self.reconciler.step(now) {
            Step::Wait => {}
            Step::List {
                back_to,
                up_to,
                patient,
            } => {
                let client = if patient {
                    self.client.with_read_timeout(Duration::MAX)
                } else {
                    self.client.clone()
                };
                let app_id = self.settings.app_id.clone();
                let page_size = self.settings.page_size;
                let known = (self.sweeps.order(), self.sweeps.listing_start(back_to));
                let (handle, registration) = futures::future::AbortHandle::new_pair();
                self.listing = Some(handle);
                let listing = futures::future::Abortable::new(
                    async move {
                        let range = (back_to, up_to);
                        list_back_to(&client, &app_id, range, page_size, known, now).await
                    },
                    registration,
                );
                self.tasks.push(Box::pin(async move {
                    match listing.await {
                        Ok(listing) => Event::Reconciled(listing),
                        Err(futures::future::Aborted) => Event::ListingDropped,
                    }
                }));
            }
        }
    }

    pub(super) fn start_probe(&mut self) {
        self.probe_running = true;
        let client = self.client.clone();
        let app_id = self.settings.app_id.clone();
        self.tasks.push(Box::pin(async move {
            let _ = client.get_application(&app_id).await;
            Event::Probed
        }));
    }
}

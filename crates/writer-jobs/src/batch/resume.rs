//! The resume cursor: what an earlier run left in the journal, and what
//! becomes of each row when this run's input reaches it.
//!
//! [`Journal::open`](super::journal::Journal::open) reads the records into
//! a [`ResumeState`]; the [`ResumeCursor`] turns it into decisions. Rows
//! the earlier run sent a create for without recording the answer are
//! ambiguous, with windows rebuilt from what the journal recorded (the
//! first send, the last send plus the request timeout and the server's
//! hold, any recorded window
//! end), never from defaults; a torn last intent makes its row ambiguous
//! with an empty window (the intent is written before the send); finished
//! rows are replayed; rows with a job are tracked again. Plain synchronous
//! state with unit tests of each decision.

use crate::batch::{HashMap, HashSet};

use chrono::{DateTime, Utc};

use super::Row;
use super::journal::{Binding, Decision};
use super::reconcile::{SkewEstimate, shift};
use super::reconciler::{Ambiguous, LostRetry, TORN_REASON};
use super::windows::Recorded;

/// What the journal knows about one row.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct RowState {
    /// The row's index in the input.
    pub seq: u64,
    /// The fingerprint of the row's inputs at intent time.
    pub fp: String,
    /// When the latest create was sent (its intent is written right
    /// before the send).
    pub intent_at: Option<DateTime<Utc>>,
    /// When the first create of the row was sent, in the run of the
    /// latest (an earlier run's creates of the row were judged before
    /// this run sent again).
    pub first_intent_at: Option<DateTime<Utc>>,
    /// The journal run (header line number) of the latest create.
    pub intent_run: u32,
    /// The latest end of an ambiguity window recorded for the row.
    pub ambiguous_until: Option<DateTime<Utc>>,
    /// The job to follow, once known.
    pub job_id: Option<String>,
    /// Job runs so far (1 + job-level retries).
    pub attempts: u32,
    /// Byte offset of the row's `done` record, when it has one.
    pub done_at: Option<u64>,
    /// The user's decision on the row's ambiguous outcome (format 3), until
    /// a new create of the row carries it out.
    pub decision: Option<Decision>,
    /// Byte offset of the `done` record a decision superseded (the
    /// ambiguous outcome the user decided on).
    pub superseded_at: Option<u64>,
    /// Creates sent for the row before a resend decision.
    pub creates_before: u32,
    /// The row's state before its latest intent, which an `unsent` record
    /// (format 6) puts back.
    pub before_intent: Option<Box<BeforeIntent>>,
}

/// What a row's latest intent changed, put back when the journal says it
/// was not sent.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct BeforeIntent {
    /// The latest intent before it in the same run (none: the row has
    /// sent nothing since its earlier creates were judged).
    pub intent_at: Option<DateTime<Utc>>,
    pub first_intent_at: Option<DateTime<Utc>>,
    pub ambiguous_until: Option<DateTime<Utc>>,
    /// The user's decision the intent would have carried out.
    pub decision: Option<Decision>,
}

impl RowState {
    /// Forgets the row's latest intent, which was not sent (an `unsent`
    /// record): the row is as before it, so a resumed run neither waits
    /// for nor reconciles a create that never went on the wire.
    pub(crate) fn forget_latest_intent(&mut self) {
        if let Some(before) = self.before_intent.take() {
            self.intent_at = before.intent_at;
            self.first_intent_at = before.first_intent_at;
            self.ambiguous_until = before.ambiguous_until;
            self.decision = before.decision;
        }
    }
}

/// What [`Journal::open`](super::journal::Journal::open) found in an existing journal.
#[derive(Debug, Default)]
pub(crate) struct ResumeState {
    /// Per-row state, by key.
    pub rows: HashMap<String, RowState>,
    /// Bytes of a torn last line that were cut off (0 when none).
    pub torn_bytes: u64,
    /// When the torn line was an `intent`: `Some(key)`, the key when it
    /// could be read from the torn bytes. A torn intent means its create
    /// was about to be sent; the engine treats that row as ambiguous.
    pub torn_intent: Option<Option<String>>,
    /// Whether the journal existed with records (a resume).
    pub resumed: bool,
    /// Clock-offset evidence from the recorded creates (intent, answer
    /// and `created_at` of each), by the run that recorded it.
    pub skew: HashMap<u32, SkewEstimate>,
    /// Runs recorded so far (each writes a header line first).
    pub runs: u32,
    /// Jobs a job-level retry replaced (answered with a new id): still the
    /// batch's own, never orphans for another row to adopt.
    pub replaced_jobs: Vec<String>,
    /// Retries sent without a recorded answer (row key, when sent, the run
    /// that sent it): each may have made a job of the batch's whose id is
    /// lost.
    pub lost_retries: Vec<(String, DateTime<Utc>, u32)>,
    /// The runs (header line numbers, from 1) whose header declared the
    /// application exclusive to them (format 5); every other run counts as
    /// shared.
    pub exclusive_runs: HashSet<u32>,
    /// The highest format version among the journal's header lines.
    pub version: u32,
    /// What the journal is bound to, when it was opened without a binding
    /// to check ([`Journal::open_existing`](super::journal::Journal::open_existing)).
    pub binding: Option<Binding>,
}

impl ResumeState {
    /// Rows with a final outcome.
    pub(crate) fn done(&self) -> usize {
        self.rows.values().filter(|r| r.done_at.is_some()).count()
    }

    /// Whether every window an earlier run left to judge lies in a run
    /// declared exclusive: a create it sent without a recorded answer, a
    /// retry it sent without one, a torn intent (the last run's). A
    /// resumed run's own declaration covers only its own time: a window of
    /// a shared run may hold another client's job, so while one is left,
    /// the resumed run matches no orphan as if the application were
    /// exclusive. (A journal with no such window: true.)
    pub(crate) fn earlier_windows_exclusive(&self) -> bool {
        let declared = |run: u32| self.exclusive_runs.contains(&run);
        let creates = self
            .rows
            .values()
            .filter(|r| r.intent_at.is_some() && r.job_id.is_none() && r.done_at.is_none())
            .all(|r| declared(r.intent_run));
        let retries = self.lost_retries.iter().all(|(.., run)| declared(*run));
        let torn = self.torn_intent.is_none() || declared(self.runs);
        creates && retries && torn
    }
}

/// What becomes of a row the input reached, by what the journal says.
#[derive(Debug)]
pub(super) enum Placed {
    /// Finished in an earlier run: its outcome is at this journal offset.
    Replay { offset: u64 },
    /// Its job is known: wait for it.
    Track {
        row: Row,
        job_id: String,
        /// When its create was sent, when recorded.
        sent_at: Option<DateTime<Utc>>,
        attempts: u32,
    },
    /// Its create may have landed: reconcile it.
    Ambiguous(Ambiguous),
    /// Never sent (as far as the journal knows): create it.
    Fresh(Row),
    /// The user decided to create it again: one new create, counted after
    /// the `creates` sent before.
    Resend { row: Row, creates: u32 },
}

/// Walks what an earlier run recorded, row by row.
#[derive(Debug)]
pub(super) struct ResumeCursor {
    state: ResumeState,
    /// When this run reopened the journal (steady clock): the earlier run
    /// sent nothing after it, and a torn intent's window starts there.
    opened_at: DateTime<Utc>,
    /// How long after its intent the server may act on a create or retry
    /// the earlier run recorded no answer to (see [`Windows::reach`](super::windows::Windows::reach)).
    reach: chrono::Duration,
}

impl ResumeCursor {
    pub(super) fn new(
        state: ResumeState,
        opened_at: DateTime<Utc>,
        reach: chrono::Duration,
    ) -> Self {
        if state.resumed {
            tracing::info!(
                rows = state.rows.len(),
                done = state.done(),
                torn_bytes = state.torn_bytes,
                "resuming from the journal"
            );
        }
        Self {
            state,
            opened_at,
            reach,
        }
    }

    /// Every job an earlier run had (the ones retries replaced too): ours,
    /// never an orphan to adopt. Their creation times are not all recorded
    /// (and the ones the journal has are on the earlier run's clock), so
    /// they are kept for the whole run: never pruned as too old to matter.
    pub(super) fn known_jobs(&self) -> HashMap<String, DateTime<Utc>> {
        let forever = DateTime::<Utc>::MAX_UTC;
        self.state
            .rows
            .values()
            .filter_map(|r| Some((r.job_id.clone()?, forever)))
            .chain(
                self.state
                    .replaced_jobs
                    .iter()
                    .map(|id| (id.clone(), forever)),
            )
            .collect()
    }

    /// The earlier run's retries without a recorded answer, as windows on
    /// that run's clock: they block adoption too.
    pub(super) fn lost_retry_windows(&self) -> Vec<LostRetry> {
        self.state
            .lost_retries
            .iter()
            .map(|(key, at, run)| LostRetry {
                key: key.clone(),
                sent: *at,
                until: shift(*at, self.reach),
                clock: Recorded::EarlierRun(*run),
            })
            .collect()
    }

    /// The windows of rows an earlier run finished without a job after
    /// sending a create (reported ambiguous, or given up on): that create
    /// may have made one of the orphans, so its window stays among the
    /// explanations of this run's listings, on its run's clock.
    pub(super) fn reported_windows(&self) -> Vec<LostRetry> {
        self.state
            .rows
            .iter()
            .filter(|(_, r)| r.job_id.is_none() && r.done_at.is_some())
            .filter_map(|(key, r)| self.ambiguous(key, r, None))
            .map(|a| LostRetry {
                key: a.key.clone(),
                sent: a.since,
                until: a.until,
                clock: Recorded::EarlierRun(a.run),
            })
            .collect()
    }

    /// The creates the earlier run left undecided (and a torn intent
    /// naming its row), in input order, marked as left by it: reconciled
    /// before this run sends any create, so no job of this run can land in
    /// their windows.
    pub(super) fn left_ambiguous(&mut self) -> Vec<Ambiguous> {
        let mut pending: Vec<Ambiguous> = self
            .state
            .rows
            .iter()
            .filter(|(_, r)| r.job_id.is_none() && r.done_at.is_none())
            .filter_map(|(key, r)| self.ambiguous(key, r, None))
            .collect();
        if let Some(Some(key)) = self.state.torn_intent.clone() {
            self.state.torn_intent = None;
            if self
                .state
                .rows
                .get(&key)
                .is_none_or(|r| r.intent_at.is_none())
            {
                pending.push(self.torn(key, None, u64::MAX));
            }
        }
        pending.sort_by_key(|a| a.seq);
        pending
            .into_iter()
            .map(Ambiguous::left_by_earlier_run)
            .collect()
    }

    /// What the journal recorded of `key` (taken: asked once per row).
    pub(super) fn take(&mut self, key: &str) -> Option<RowState> {
        self.state.rows.remove(key)
    }

    /// What becomes of `row` (input index `seq`), given what the journal
    /// recorded of it (`state`, from [`Self::take`]).
    pub(super) fn place(&mut self, row: Row, seq: u64, state: Option<RowState>) -> Placed {
        match state {
            Some(RowState {
                done_at: Some(offset),
                ..
            }) => Placed::Replay { offset },
            // The user chose to create the row again (`resolve --resend`):
            // one new create, with a new intent; the ambiguous outcome and
            // the earlier creates' windows are not replayed.
            Some(RowState {
                decision: Some(Decision::Resend),
                intent_at: None,
                creates_before,
                ..
            }) => Placed::Resend {
                row,
                creates: creates_before,
            },
            Some(RowState {
                job_id: Some(job_id),
                intent_at,
                attempts,
                ..
            }) => {
                let unanswered = self.unanswered_retries(&row.key);
                Placed::Track {
                    row,
                    job_id,
                    sent_at: intent_at,
                    attempts: attempts.max(1).saturating_add(unanswered),
                }
            }
            Some(state) if state.intent_at.is_some() => {
                let key = row.key.clone();
                let mut a = self
                    .ambiguous(&key, &state, Some(row))
                    .expect("an intent was recorded");
                a.seq = seq;
                Placed::Ambiguous(a.left_by_earlier_run())
            }
            _ if self.is_torn_intent(&row.key) => {
                // The journal's torn last line was (or may have been) this
                // row's intent: its create may have been about to go.
                self.state.torn_intent = None;
                let key = row.key.clone();
                Placed::Ambiguous(self.torn(key, Some(row), seq))
            }
            _ => Placed::Fresh(row),
        }
    }

    /// How many retries of row `key` an earlier run sent without recording
    /// their answer. Each may have run the job again (an in-place retry
    /// makes no new job to find), as that run counted it: each counts as a
    /// run here too (one per run killed with a retry on the wire, and any
    /// lost within a run), so a resume never gives a row more runs than its
    /// job retries allow. Counted only for rows resumed as tracked, not for
    /// every row read.
    fn unanswered_retries(&self, key: &str) -> u32 {
        let n = self
            .state
            .lost_retries
            .iter()
            .filter(|(k, ..)| k == key)
            .count();
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// A resumed row the input has not reached was adopted its job: noted,
    /// so it is tracked when the input reaches it. `false` when the journal
    /// has no such row left.
    pub(super) fn adopt_unread(&mut self, key: &str, job_id: &str) -> bool {
        match self.state.rows.get_mut(key) {
            Some(state) => {
                state.job_id = Some(job_id.to_string());
                state.attempts = 1;
                true
            }
            None => false,
        }
    }

    /// The ambiguous create an earlier run left for a row with an intent
    /// but no job, its window rebuilt from what the journal recorded, on
    /// the earlier run's clock (placed by that run's evidence, see
    /// [`super::windows`]).
    fn ambiguous(&self, key: &str, r: &RowState, row: Option<Row>) -> Option<Ambiguous> {
        let last = r.intent_at?;
        let since = r.first_intent_at.unwrap_or(last).min(last);
        // The create went on the wire at most MAX_SEND_DELAY after its
        // intent (else it was queued again, with a new intent); see
        // Windows::reach.
        let until = shift(last, self.reach);
        let until = r.ambiguous_until.map_or(until, |u| u.max(until));
        let reason = "an earlier run sent the create but recorded no answer";
        let mut a = Ambiguous::new(key.to_string(), row, r.seq, 1, (since, until), reason);
        a.run = r.intent_run;
        Some(a)
    }

    /// The ambiguous create of a torn intent: an empty window.
    fn torn(&self, key: String, row: Option<Row>, seq: u64) -> Ambiguous {
        let at = self.opened_at;
        Ambiguous::new(key, row, seq, 1, (at, at), TORN_REASON).torn()
    }

    fn is_torn_intent(&self, key: &str) -> bool {
        match &self.state.torn_intent {
            Some(Some(torn)) => torn == key,
            Some(None) => true,
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Inputs;

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    fn row(key: &str) -> Row {
        Row::new(key, Inputs::new())
    }

    fn cursor(rows: Vec<(&str, RowState)>) -> ResumeCursor {
        let state = ResumeState {
            rows: rows.into_iter().map(|(k, r)| (k.to_string(), r)).collect(),
            resumed: true,
            ..ResumeState::default()
        };
        // 1 s to go on the wire, the 60 s request timeout, the 300 s hold.
        let reach = chrono::Duration::seconds(361);
        ResumeCursor::new(state, t(1000), reach)
    }

    #[test]
    fn a_window_is_rebuilt_from_what_the_journal_recorded() {
        let sent = RowState {
            seq: 3,
            intent_at: Some(t(100)),
            first_intent_at: Some(t(40)),
            ambiguous_until: Some(t(500)),
            ..RowState::default()
        };
        let mut c = cursor(vec![("a", sent)]);
        let left = c.left_ambiguous();
        assert_eq!(left.len(), 1);
        // The recorded end, past the reach of the last intent (461).
        assert_eq!((left[0].since, left[0].until), (t(40), t(500)));
        assert_eq!(left[0].seq, 3);
    }

    #[test]
    fn a_recorded_time_stays_on_the_earlier_runs_clock() {
        // Past this run's opening on this run's clock: the earlier run's
        // clock was ahead (or has been set back since). Its window is
        // placed by its own evidence, never clamped to ours.
        let future = RowState {
            intent_at: Some(t(5000)),
            ..RowState::default()
        };
        let mut c = cursor(vec![("a", future)]);
        let a = &c.left_ambiguous()[0];
        // The hold (300 s) after the latest the server can have received
        // the create: its intent, plus MAX_SEND_DELAY (1 s) before it went
        // on the wire, plus the request timeout (60 s).
        assert_eq!((a.since, a.until), (t(5000), t(5361)));
    }

    #[test]
    fn each_row_is_replayed_tracked_reconciled_or_created() {
        let done = RowState {
            done_at: Some(77),
            job_id: Some("j0".into()),
            ..RowState::default()
        };
        let created = RowState {
            intent_at: Some(t(10)),
            job_id: Some("j1".into()),
            attempts: 0,
            ..RowState::default()
        };
        let sent = RowState {
            intent_at: Some(t(20)),
            ..RowState::default()
        };
        let mut c = cursor(vec![("done", done), ("created", created), ("sent", sent)]);
        assert_eq!(c.known_jobs().len(), 2);
        let mut place = |key: &str| {
            let state = c.take(key);
            c.place(row(key), 9, state)
        };
        assert!(matches!(place("done"), Placed::Replay { offset: 77 }));
        assert!(matches!(
            place("created"),
            Placed::Track { ref job_id, attempts: 1, .. } if job_id == "j1"
        ));
        assert!(matches!(place("sent"), Placed::Ambiguous(ref a) if a.seq == 9 && a.row.is_some()));
        assert!(matches!(place("new"), Placed::Fresh(_)));
    }

    #[test]
    fn a_torn_intent_makes_its_row_ambiguous_with_an_empty_window() {
        let mut c = cursor(vec![]);
        c.state.torn_intent = Some(None);
        match c.place(row("next"), 0, None) {
            Placed::Ambiguous(a) => assert_eq!((a.since, a.until), (t(1000), t(1000))),
            other => panic!("expected ambiguous, got {other:?}"),
        }
        assert!(
            matches!(c.place(row("after"), 1, None), Placed::Fresh(_)),
            "only one row"
        );
        let mut c = cursor(vec![]);
        c.state.torn_intent = Some(Some("k".into()));
        let left = c.left_ambiguous();
        assert_eq!(left.len(), 1, "named in the torn bytes: reconciled first");
        assert!(matches!(c.place(row("k"), 0, None), Placed::Fresh(_)));
    }

    #[test]
    fn a_resend_decision_is_one_fresh_create_and_an_adoption_is_tracked() {
        let resend = RowState {
            seq: 1,
            creates_before: 2,
            decision: Some(Decision::Resend),
            superseded_at: Some(40),
            ..RowState::default()
        };
        let adopted = RowState {
            intent_at: Some(t(10)),
            job_id: Some("picked".into()),
            attempts: 1,
            decision: Some(Decision::Adopted {
                job_id: "picked".into(),
            }),
            superseded_at: Some(80),
            ..RowState::default()
        };
        let mut c = cursor(vec![("resend", resend), ("adopted", adopted)]);
        assert!(c.left_ambiguous().is_empty(), "neither is reconciled");
        let state = c.take("resend");
        assert!(matches!(
            c.place(row("resend"), 1, state),
            Placed::Resend { creates: 2, .. }
        ));
        let state = c.take("adopted");
        assert!(matches!(
            c.place(row("adopted"), 2, state),
            Placed::Track { ref job_id, .. } if job_id == "picked"
        ));
    }

    #[test]
    fn a_retry_without_a_recorded_answer_counts_as_an_attempt() {
        let tracked = || RowState {
            job_id: Some("j1".into()),
            attempts: 1,
            ..RowState::default()
        };
        let mut c = cursor(vec![]);
        c.state.lost_retries = vec![("a".into(), t(2000), 1)];
        assert!(matches!(
            c.place(row("a"), 0, Some(tracked())),
            Placed::Track { attempts: 2, .. }
        ));
        assert!(matches!(
            c.place(row("b"), 1, Some(tracked())),
            Placed::Track { attempts: 1, .. }
        ));
        // Each one counts: one per run killed with a retry on the wire, or
        // one lost in a run and one on the wire at its kill.
        c.state.lost_retries = vec![("a".into(), t(2000), 1), ("a".into(), t(2100), 2)];
        assert!(matches!(
            c.place(row("a"), 0, Some(tracked())),
            Placed::Track { attempts: 3, .. }
        ));
    }

    #[test]
    fn lost_retries_block_adoption_for_the_servers_hold() {
        let mut c = cursor(vec![]);
        c.state.lost_retries = vec![("a".into(), t(2000), 2)];
        assert_eq!(
            c.lost_retry_windows(),
            vec![LostRetry {
                key: "a".into(),
                sent: t(2000),
                until: t(2361),
                clock: Recorded::EarlierRun(2),
            }]
        );
        c.state.replaced_jobs = vec!["old".into()];
        assert!(c.known_jobs().contains_key("old"));
        assert!(!c.adopt_unread("missing", "j"));
    }
}

//! Kill and resume: the engine is stopped at every journal record (before
//! it, half-way through it, right after it), as `kill -9` would stop it,
//! and a second run resumes from the journal against the same simulator.
//! The final results must be exact, with no job created twice.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use futures::StreamExt;
use writer_jobs::batch::{Batch, BatchError, FailMode, Failpoint, Outcome, OutcomeResult, Row};
use writer_jobs::{Client, Inputs};
use writer_sim::{DurationDist, Simulator};

const APP: &str = "demo-product-descriptions";

async fn sim() -> (Simulator, Client) {
    let sim = Simulator::builder()
        .scale(500.0)
        .seed(3)
        .duration(DurationDist::Uniform {
            min_secs: 5.0,
            max_secs: 20.0,
        })
        .failure_rate(0.0)
        .start()
        .await
        .unwrap();
    let client = common::sim_client(&sim)
        .request_timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    (sim, client)
}

fn rows(n: usize) -> Vec<Row> {
    (0..n)
        .map(|i| {
            Row::new(
                format!("k{i}"),
                Inputs::new().text("Product name", format!("Item {i}")),
            )
        })
        .collect()
}

fn batch(client: &Client, journal: &std::path::Path, creates: usize) -> Batch {
    Batch::new(client.clone(), APP)
        .journal(journal)
        .max_in_flight(4)
        .create_concurrency(creates)
        // The simulator acts on a request as soon as it reads it, but on a
        // loaded machine reading it can take tens of milliseconds, which
        // at 500x is many simulated seconds: the hold must cover that, or
        // the server breaks the very promise the engine relies on.
        .max_server_hold(Duration::from_secs(60))
        // Only this batch creates jobs on the simulator's application, so a
        // killed run's landed create may be adopted by its timing.
        .exclusive_application(true)
}

/// Runs one crash-and-resume case; returns the outcomes of both runs.
async fn crash_and_resume(
    n_rows: usize,
    creates: usize,
    fp: Failpoint,
) -> (Vec<Outcome>, Vec<Outcome>, Simulator) {
    let (sim, client) = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("run.journal");
    let rows = rows(n_rows);
    let mut first = Vec::new();
    let mut crashed = false;
    let mut run = batch(&client, &journal, creates)
        .failpoint(fp)
        .run(futures::stream::iter(rows.clone()))
        .await
        .unwrap();
    while let Some(item) = run.next().await {
        match item {
            Ok(outcome) => first.push(outcome),
            Err(BatchError::Failpoint(_)) => crashed = true,
            Err(other) => panic!("{fp:?}: {other}"),
        }
    }
    drop(run);
    let second: Vec<Outcome> = batch(&client, &journal, creates)
        .run(futures::stream::iter(rows.clone()))
        .await
        .unwrap()
        .map(|o| o.unwrap_or_else(|e| panic!("{fp:?}: resume failed: {e}")))
        .collect()
        .await;
    assert!(
        crashed || first.len() == n_rows,
        "{fp:?}: the failpoint was never reached"
    );
    (first, second, sim)
}

/// The jobs the simulator made from `row`'s inputs.
fn made_from(sim: &Simulator, row: &Row) -> Vec<String> {
    let want = writer_sim::input_key(APP, &row.inputs.to_wire().inputs);
    sim.job_ids(APP)
        .into_iter()
        .filter(|id| {
            sim.job(id)
                .is_some_and(|j| writer_sim::input_key(&j.application_id, &j.inputs) == want)
        })
        .collect()
}

/// With one create on the wire at a time, every crash point resumes to the
/// exact results: a create whose answer the crash lost is found again by
/// reconciliation (its job is the one orphan in its window) or proven never
/// sent, so nothing is created twice; the one exception, reported with its
/// job as the candidate, is the first row's create lost before any create
/// of the killed run was answered (no evidence places its window).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_crash_point_resumes_exactly() {
    const ROWS: usize = 6;
    // 1 intent + 1 created + 1 done per row.
    let records = 3 * ROWS as u64;
    let mut cases = 0;
    for index in 0..records {
        // Torn lines cut where the record type is not yet readable (5 bytes),
        // before its key is complete (26), half-way, and all but the newline.
        let modes = [
            FailMode::Before,
            FailMode::TornAt(5),
            FailMode::TornAt(26),
            FailMode::Torn,
            FailMode::TornAt(usize::MAX),
            FailMode::After,
        ];
        for mode in modes {
            let fp = Failpoint::new(index, mode);
            let (first, second, sim) = crash_and_resume(ROWS, 1, fp).await;
            // The resumed run yields every row once: finished ones replayed.
            let mut by_key: HashMap<&str, &Outcome> = HashMap::new();
            for o in &second {
                assert!(
                    by_key.insert(o.key.as_str(), o).is_none(),
                    "{fp:?}: {} twice",
                    o.key
                );
            }
            assert_eq!(by_key.len(), ROWS, "{fp:?}: {second:?}");
            for o in &first {
                let again = by_key[o.key.as_str()];
                assert!(
                    again.replayed,
                    "{fp:?}: {} was finished but not replayed",
                    o.key
                );
                assert_eq!(again.result, o.result, "{fp:?}");
            }
            for (i, row) in rows(ROWS).iter().enumerate() {
                let o = by_key[row.key.as_str()];
                assert_eq!(o.seq, i as u64);
                match &o.result {
                    OutcomeResult::Completed { output, .. } => {
                        let want = writer_sim::expected_output(APP, &row.inputs.to_wire().inputs);
                        assert_eq!(output.suggestion, want.suggestion, "{fp:?}");
                    }
                    // The crash came before any create of the killed run was
                    // answered: nothing measured that run's clock, so its
                    // lost create's window is unbounded and its job, which
                    // could as well be one made before the run, is reported
                    // as the candidate (never adopted, never sent again).
                    OutcomeResult::Ambiguous { candidates, .. }
                        if i == 0 && first.iter().all(|f| f.created_at.is_none()) =>
                    {
                        let made = made_from(&sim, row);
                        assert_eq!(
                            candidates, &made,
                            "{fp:?}: {} ended {:?}",
                            row.key, o.result
                        );
                    }
                    other => panic!("{fp:?}: {} ended {other:?}", row.key),
                }
            }
            let stats = sim.stats();
            assert_eq!(
                stats.jobs_created, ROWS as u64,
                "{fp:?}: {:?}",
                stats.created_by_inputs
            );
            assert_eq!(stats.duplicate_creates(), 0, "{fp:?}");
            cases += 1;
        }
    }
    assert_eq!(cases, 6 * records);
}

/// With several creates on the wire, a crash can lose the answers of all of
/// them at once; their jobs cannot be told apart by time, so the rows are
/// reported ambiguous (never guessed, never resent): no duplicate, no loss,
/// and at most `create_concurrency` ambiguous rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_lost_in_a_crash_are_reported_not_duplicated() {
    const ROWS: usize = 8;
    for index in 0..3 * ROWS as u64 {
        for mode in [FailMode::Before, FailMode::Torn, FailMode::After] {
            let fp = Failpoint::new(index, mode);
            let (_first, second, sim) = crash_and_resume(ROWS, 3, fp).await;
            let mut keys: Vec<&str> = second.iter().map(|o| o.key.as_str()).collect();
            keys.sort_unstable();
            keys.dedup();
            assert_eq!(keys.len(), ROWS, "{fp:?}: every row once");
            let ambiguous = second
                .iter()
                .filter(|o| matches!(o.result, OutcomeResult::Ambiguous { .. }))
                .count();
            assert!(ambiguous <= 3, "{fp:?}: {ambiguous} ambiguous");
            assert!(second.iter().all(|o| matches!(
                o.result,
                OutcomeResult::Completed { .. } | OutcomeResult::Ambiguous { .. }
            )));
            assert_eq!(sim.stats().duplicate_creates(), 0, "{fp:?}");
            assert!(sim.stats().jobs_created <= ROWS as u64, "{fp:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journal_in_use_is_refused() {
    let (_sim, client) = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("busy.journal");
    let _first = batch(&client, &journal, 2)
        .run(futures::stream::pending())
        .await
        .unwrap();
    let error = batch(&client, &journal, 2)
        .run(futures::stream::iter(rows(1)))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("in use by another"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_against_another_app_or_with_a_changed_row_is_refused() {
    let (_sim, client) = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("bound.journal");
    let done: Vec<_> = batch(&client, &journal, 2)
        .run(futures::stream::iter(rows(2)))
        .await
        .unwrap()
        .collect()
        .await;
    assert_eq!(done.len(), 2);
    let error = Batch::new(client.clone(), "another-app")
        .journal(&journal)
        .run(futures::stream::iter(rows(2)))
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("application `demo-product-descriptions`"),
        "{error}"
    );
    let error = Batch::new(client.clone(), APP)
        .journal(&journal)
        .simulated(true)
        .run(futures::stream::iter(rows(2)))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("real API"), "{error}");
    let mut changed = rows(2);
    changed[1].inputs = Inputs::new().text("Product name", "Something else");
    let results: Vec<_> = batch(&client, &journal, 2)
        .run(futures::stream::iter(changed))
        .await
        .unwrap()
        .collect()
        .await;
    let error = results
        .into_iter()
        .find_map(|r| r.err())
        .expect("a changed row is refused");
    assert!(error.to_string().contains("row `k1` changed"), "{error}");
}

/// A job the journal knows but the server no longer has (a listing never
/// shows it) is fetched by id and ends as failed, not after the deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journaled_job_that_vanished_fails_fast() {
    let (sim, client) = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("gone.journal");
    let row = &rows(1)[0];
    let now = chrono::Utc::now();
    let lines = [
        serde_json::json!({"type": "header", "version": 1, "base_url": sim.base_url(), "app_id": APP, "simulated": false, "started_at": now}),
        serde_json::json!({"type": "intent", "key": row.key, "seq": 0, "fp": row.inputs.fingerprint(), "at": now}),
        serde_json::json!({"type": "created", "key": row.key, "job_id": "gone-1", "created_at": now}),
    ];
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(&journal, text).unwrap();
    let outcomes: Vec<Outcome> = batch(&client, &journal, 1)
        .run(futures::stream::iter(rows(1)))
        .await
        .unwrap()
        .map(|o| o.unwrap())
        .collect()
        .await;
    assert_eq!(outcomes.len(), 1);
    match &outcomes[0].result {
        OutcomeResult::Failed { error, .. } => assert!(error.contains("404"), "{error}"),
        other => panic!("{other:?}"),
    }
    // Without the GET it would end as `timed_out` after the poll deadline.
    assert_eq!(
        sim.stats().jobs_created,
        0,
        "a vanished job is not re-created"
    );
    assert!(sim.stats().requests(writer_sim::Operation::Get) >= 1);
}

/// A format 2 journal (written before decisions existed) whose three rows
/// ended ambiguous: decisions made with a `Resolution` are recorded after a
/// format 3 header, and the resumed engine carries them out: the resent
/// row gets exactly one new create, the adopted row the adopted job's
/// outcome, the given-up row stays ambiguous, and nothing else is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decisions_on_an_older_journal_are_carried_out_by_the_next_run() {
    use writer_jobs::batch::{Decision, Resolution, ResolveError};

    let (sim, client) = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("decided.journal");
    let rows = rows(3);
    // k0's job exists (made by another client, as far as the journal knows).
    let job = client
        .create_job(APP, &rows[0].inputs)
        .await
        .expect("create");
    let now = chrono::Utc::now();
    let mut lines = vec![
        serde_json::json!({"type": "header", "version": 2, "base_url": sim.base_url(), "app_id": APP, "simulated": false, "started_at": now}),
    ];
    for (seq, row) in rows.iter().enumerate() {
        lines.push(serde_json::json!({"type": "intent", "key": row.key, "seq": seq, "fp": row.inputs.fingerprint(), "at": now}));
        lines.push(serde_json::json!({"type": "done", "outcome": {
            "key": row.key, "seq": seq, "job_id": null, "status": "ambiguous",
            "reason": "the answer was lost", "candidates": [job.id],
            "attempts": 1, "creates": 1, "created_at": null, "finished_at": null,
            "observed_at": now}}));
    }
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(&journal, text).unwrap();
    let created_before = sim.stats().jobs_created;

    let mut resolution = Resolution::open(&journal).unwrap();
    assert_eq!(resolution.rows().len(), 3);
    assert!(matches!(
        resolution.check_adopt("k1", "someone-else"),
        Err(ResolveError::NotACandidate { .. })
    ));
    // Adopted once finished (a running job would be waited for by the
    // next run instead).
    let finished = client.wait(&job.id).await.expect("the job finishes");
    let adopted = resolution.adopt_job("k0", &finished).unwrap();
    assert!(matches!(
        adopted,
        Some(Outcome {
            result: OutcomeResult::Completed { .. },
            ..
        })
    ));
    assert!(matches!(
        resolution.check_adopt("k1", &job.id),
        Err(ResolveError::Owned { ref owner, .. }) if owner == "k0"
    ));
    resolution.resend("k1").unwrap();
    resolution.give_up("k2").unwrap();
    assert!(matches!(
        resolution.give_up("k2"),
        Err(ResolveError::Decided { .. })
    ));
    drop(resolution);
    let written = std::fs::read_to_string(&journal).unwrap();
    assert!(written.contains("\"version\":6"), "{written}");

    let reopened = Resolution::open(&journal).unwrap();
    let decided: Vec<_> = reopened
        .rows()
        .iter()
        .map(|r| (r.key.as_str(), r.decision.clone()))
        .collect();
    assert_eq!(
        decided,
        vec![
            ("k1", Some(Decision::Resend)),
            ("k2", Some(Decision::GaveUp))
        ]
    );
    assert_eq!(reopened.settled().len(), 1);
    drop(reopened);

    let outcomes: Vec<Outcome> = batch(&client, &journal, 2)
        .exclusive_application(false)
        .run(futures::stream::iter(rows.clone()))
        .await
        .unwrap()
        .map(|o| o.unwrap())
        .collect()
        .await;
    let by_key: HashMap<&str, &Outcome> = outcomes.iter().map(|o| (o.key.as_str(), o)).collect();
    assert_eq!(by_key.len(), 3);
    assert!(by_key["k0"].replayed);
    assert_eq!(by_key["k0"].job_id.as_deref(), Some(job.id.as_str()));
    assert!(!by_key["k1"].replayed, "created again");
    assert_eq!(by_key["k1"].creates, 2, "counted after the first");
    assert!(matches!(
        by_key["k1"].result,
        OutcomeResult::Completed { .. }
    ));
    assert_ne!(by_key["k1"].job_id.as_deref(), Some(job.id.as_str()));
    assert!(by_key["k2"].replayed);
    assert!(matches!(
        by_key["k2"].result,
        OutcomeResult::Ambiguous { .. }
    ));
    assert_eq!(
        sim.stats().jobs_created,
        created_before + 1,
        "one new job: the resent row's"
    );
    let written = std::fs::read_to_string(&journal).unwrap();
    let intents = written
        .lines()
        .filter(|l| l.contains("\"type\":\"intent\"") && l.contains("\"k1\""))
        .count();
    // One new intent, or more if a create was first polled past
    // MAX_SEND_DELAY after its intent (1 s: 2 ms of real time at this
    // clock) and so queued again unsent; the server got one create (above).
    assert!(intents >= 2, "a new intent for the resent row: {intents}");
}

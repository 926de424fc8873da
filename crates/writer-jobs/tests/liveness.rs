//! A run always ends, even on a machine too slow for the batch's clock.
//!
//! A create is sent only if its task is first polled within one second
//! (the batch's clock) of its intent record; one polled later is not sent,
//! and its row gets a new intent (the journal's windows assume the send
//! followed the intent at once). When the engine is slower than that, for
//! every create, the batch must not loop writing intents for ever: it
//! either gets its creates out or stops with an error saying why, and the
//! journal stays bounded. Judged from the SIMULATOR's records (no input set
//! created twice) and the journal's own lines (intents per row), never from
//! the client's report.
//!
//! The machine is made "too slow" by compressing time: at a scale of
//! 50,000 a simulated second lasts 20 us of real time, less than writing a
//! round of intent records takes.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::invariants::creates_per_input_set;
use common::{sim_client, start};
use futures::StreamExt;
use writer_jobs::Inputs;
use writer_jobs::batch::{Batch, BatchError, Outcome, OutcomeResult, Row};
use writer_sim::{AppConfig, DurationDist, Simulator, TenantConfig};

const APP: &str = "demo-product-descriptions";

/// Intent records one row may leave at most: 20 creates (the engine's cap
/// per row) and the creates found unsent, which the engine caps too.
const MAX_INTENTS_PER_ROW: usize = 100;

fn rows(n: usize) -> Vec<Row> {
    (0..n)
        .map(|i| {
            Row::new(
                format!("slow-{i:04}"),
                Inputs::new().text("Product name", format!("slow product #{i}")),
            )
        })
        .collect()
}

/// Runs `rows` to their end (outcomes, or the error the batch stopped
/// with), failing if the run does not end within `bound` of real time.
async fn run_to_end(
    batch: Batch,
    rows: Vec<Row>,
    bound: Duration,
) -> (Vec<Outcome>, Option<BatchError>) {
    let mut run = batch
        .run(futures::stream::iter(rows))
        .await
        .expect("batch starts");
    let deadline = tokio::time::Instant::now() + bound;
    let mut outcomes = Vec::new();
    loop {
        match tokio::time::timeout_at(deadline, run.next()).await {
            Ok(Some(Ok(outcome))) => outcomes.push(outcome),
            Ok(Some(Err(error))) => return (outcomes, Some(error)),
            Ok(None) => return (outcomes, None),
            Err(_) => panic!(
                "the run did not end within {bound:?} of real time ({} outcomes): the engine \
                 loops on creates it never sends",
                outcomes.len()
            ),
        }
    }
}

/// Intent records per row key in a journal.
fn intents_per_row(journal: &std::path::Path) -> HashMap<String, usize> {
    let text = std::fs::read_to_string(journal).expect("journal readable");
    let mut per_row = HashMap::new();
    for line in text.lines() {
        let Ok(record) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if record.get("type").and_then(|t| t.as_str()) == Some("intent")
            && let Some(key) = record.get("key").and_then(|k| k.as_str())
        {
            *per_row.entry(key.to_string()).or_insert(0) += 1;
        }
    }
    per_row
}

/// Runs 1,000 rows, 256 creates at a time and 1,000 in flight, on a
/// simulator at `scale`, and checks the promises from its records: no
/// input set created twice, no row with more than [`MAX_INTENTS_PER_ROW`]
/// intents in the journal, every row written at most once; all of them
/// when the run ended without an error. Returns the rows written and the
/// error the batch stopped with.
async fn slow_run(scale: f64) -> (usize, Option<String>) {
    let sim = start(
        Simulator::builder()
            .scale(scale)
            .seed(63)
            .duration(DurationDist::Fixed { secs: 5.0 })
            .failure_rate(0.0),
    )
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let journal = dir.path().join("slow.journal");
    let client = sim_client(&sim).build().expect("client");
    let rows = rows(1000);
    let batch = Batch::new(client, APP)
        .create_concurrency(256)
        .max_in_flight(1000)
        .journal(&journal);
    let (outcomes, error) = run_to_end(batch, rows.clone(), Duration::from_secs(60)).await;

    let per_set = creates_per_input_set(&sim, APP);
    let twice: Vec<_> = per_set.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "a job was created twice: {twice:?}");
    let intents = intents_per_row(&journal);
    let most = intents.values().copied().max().unwrap_or(0);
    assert!(
        most <= MAX_INTENTS_PER_ROW,
        "the journal grew without bound: a row has {most} intent records ({} in all)",
        intents.values().sum::<usize>()
    );
    let mut keys: Vec<&str> = outcomes.iter().map(|o| o.key.as_str()).collect();
    keys.sort_unstable();
    let written = keys.len();
    keys.dedup();
    assert_eq!(keys.len(), written, "a row was written twice");
    if error.is_none() {
        assert_eq!(written, rows.len(), "the run ended with rows unwritten");
    }
    (written, error.map(|e| e.to_string()))
}

/// At a scale of 50,000 (a simulated second is 20 us) no create can be
/// sent in time: the run ends at once with an error naming the cause, its
/// journal bounded, nothing created twice.
#[tokio::test]
async fn a_machine_too_slow_for_the_clock_stops_the_run_with_a_bounded_journal() {
    let (written, error) = slow_run(50_000.0).await;
    if let Some(message) = error {
        assert!(
            message.contains("too slow"),
            "the batch stopped with an error that does not name the cause: {message}"
        );
    } else {
        assert_eq!(written, 1000);
    }
}

/// At a scale of 500 (a simulated second is 2 ms) one create is sent well
/// within its second, but writing 256 intents one after the other takes
/// longer: the engine lets the creates start before their second is over,
/// and the run ends with every row written.
#[tokio::test]
async fn many_permits_at_once_on_a_compressed_clock_still_send_their_creates() {
    let (written, error) = slow_run(500.0).await;
    assert_eq!(error, None, "the batch stopped");
    assert_eq!(written, 1000);
}

/// A run whose creates all went unsent (each started after its send
/// delay, as on a machine too slow for the clock) stops; resumed on a busy
/// application, whose other clients' jobs fall in the windows those
/// intents would have had, it creates every row once, and reports none
/// ambiguous: an intent found unsent is recorded as such, so it is not
/// mistaken for a create sent with its answer lost.
#[tokio::test]
async fn rows_whose_creates_went_unsent_are_created_on_resume_not_reported_ambiguous() {
    let busy = AppConfig::demo().tenants(TenantConfig {
        prefill_jobs: 0,
        jobs_per_minute: 600.0,
    });
    let sim = start(
        Simulator::builder()
            .scale(200.0)
            .seed(64)
            .apps(vec![busy])
            .duration(DurationDist::Fixed { secs: 5.0 })
            .failure_rate(0.0),
    )
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let journal = dir.path().join("unsent.journal");
    let rows = rows(40);
    let batch = || {
        Batch::new(sim_client(&sim).build().expect("client"), APP)
            .create_concurrency(8)
            .journal(&journal)
    };
    let too_slow = batch().send_delay(Duration::ZERO);
    let (first, error) = run_to_end(too_slow, rows.clone(), Duration::from_secs(60)).await;
    let message = error.map(|e| e.to_string()).unwrap_or_default();
    assert!(
        first.is_empty() && message.contains("too slow"),
        "setup: the first run should send nothing and stop for being too slow ({} outcomes; \
         error: {message:?})",
        first.len()
    );
    assert_eq!(
        creates_per_input_set(&sim, APP).values().sum::<u64>(),
        0,
        "setup: the first run sent a create"
    );

    let (outcomes, error) = run_to_end(batch(), rows.clone(), Duration::from_secs(60)).await;
    assert!(error.is_none(), "the resumed run stopped: {error:?}");
    let ambiguous: Vec<&str> = outcomes
        .iter()
        .filter(|o| matches!(o.result, OutcomeResult::Ambiguous { .. }))
        .map(|o| o.key.as_str())
        .collect();
    assert!(
        ambiguous.is_empty(),
        "rows never sent were reported ambiguous: {ambiguous:?}"
    );
    assert_eq!(outcomes.len(), rows.len(), "not every row was written");
    let per_set = creates_per_input_set(&sim, APP);
    let not_once: Vec<_> = rows
        .iter()
        .map(|r| writer_sim::input_key(APP, &r.inputs.to_wire().inputs))
        .filter(|k| per_set.get(k).copied() != Some(1))
        .collect();
    assert!(
        not_once.is_empty(),
        "rows not created exactly once: {not_once:?}"
    );
}

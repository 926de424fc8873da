//! The batch on a thread of its own (`Batch::engine_thread`, on the
//! multi-threaded runtime), against what a caller does beside it: its own
//! requests on the same `Client` while batches end, and a rows stream that
//! needs the caller's runtime. Each test was a break found by trying the
//! thread as an adversary would; the simulator's records judge.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::StreamExt;
use writer_jobs::batch::{Batch, Outcome, Row};
use writer_jobs::{Client, Inputs};
use writer_sim::Simulator;

const APP: &str = "demo-product-descriptions";

async fn sim() -> (Simulator, Client) {
    common::lognormal_sim(200.0, |b| b).await
}

fn rows_from(start: usize, n: usize) -> Vec<Row> {
    (start..start + n)
        .map(|i| {
            let inputs = Inputs::new()
                .text("Product name", format!("Product #{i}"))
                .text("Tone", ["casual", "formal", "playful"][i % 3]);
            Row::new(format!("row-{i:05}"), inputs)
        })
        .collect()
}

async fn outcomes_of(run: writer_jobs::batch::BatchRun) -> Vec<Outcome> {
    let all = run.map(|o| o.expect("no batch error")).collect();
    tokio::time::timeout(Duration::from_secs(120), all)
        .await
        .expect("the run ends")
}

/// The caller keeps creating jobs on the batch's `Client` while batches
/// run and end one after another: none of its requests fails. (The
/// batch's connections once went to the client's shared pool, and a
/// caller's request on one failed, ambiguous, when the batch's runtime
/// ended under it: 42, 12 and 1 of ~18,000 in three runs.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_callers_requests_beside_batches_that_end_do_not_fail() {
    let (sim, client) = sim().await;
    let done = Arc::new(AtomicBool::new(false));
    let mut callers = Vec::new();
    for w in 0..8 {
        let (client, done) = (client.clone(), done.clone());
        callers.push(tokio::spawn(async move {
            let (mut sent, mut failed) = (0, Vec::new());
            while !done.load(Ordering::Relaxed) {
                let inputs = Inputs::new()
                    .text("Product name", format!("caller {w} {sent}"))
                    .text("Tone", "casual");
                if let Err(e) = client.create_job(APP, &inputs).await {
                    failed.push(e.to_string());
                }
                sent += 1;
            }
            (sent, failed)
        }));
    }
    for round in 0..20 {
        let rows = rows_from(round * 100, 40);
        let run = Batch::new(client.clone(), APP)
            .max_in_flight(40)
            .create_concurrency(16)
            .run(futures::stream::iter(rows.clone()))
            .await
            .unwrap();
        let outcomes = outcomes_of(run).await;
        common::invariants::check(&sim, APP, &outcomes, &rows, "beside the caller");
    }
    done.store(true, Ordering::Relaxed);
    let (mut sent, mut failed) = (0, Vec::new());
    for caller in callers {
        let (n, f) = caller.await.unwrap();
        sent += n;
        failed.extend(f);
    }
    assert!(sent > 0);
    assert!(
        failed.is_empty(),
        "{} of {sent} of the caller's creates failed: {:?}",
        failed.len(),
        &failed[..failed.len().min(3)]
    );
}

/// A rows stream may use what the caller's multi-threaded runtime offers
/// (here `block_in_place`): it is read there, not on the batch's thread,
/// and every row gets its outcome. (Read on the batch's current-thread
/// runtime it panicked, and the run ended with no outcome and no error.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rows_stream_is_read_on_the_callers_runtime() {
    let (sim, client) = sim().await;
    let rows = rows_from(0, 30);
    let stream = futures::stream::iter(rows.clone()).map(|row| {
        assert_ne!(std::thread::current().name(), Some("writer-jobs-batch"));
        tokio::task::block_in_place(move || row)
    });
    let run = Batch::new(client, APP)
        .max_in_flight(10)
        .run(stream)
        .await
        .unwrap();
    let outcomes = outcomes_of(run).await;
    common::invariants::check(&sim, APP, &outcomes, &rows, "block_in_place rows");
}

/// A batch runs while other batches on the same `Client` start and are
/// dropped one after the other: each has its own connections, so none of
/// the running batch's rows ends otherwise than completed. (Sharing the
/// client's pool, rows of the running batch became ambiguous when a
/// dropped batch's runtime ended under their creates: 7 runs in 10, 1 to
/// 14 rows each.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_dropped_beside_a_batch_cost_it_no_row() {
    use writer_jobs::batch::OutcomeResult;
    let (sim, client) = sim().await;
    let rows = rows_from(100_000, 600);
    let running = Batch::new(client.clone(), APP)
        .max_in_flight(200)
        .create_concurrency(32)
        .run(futures::stream::iter(rows.clone()))
        .await
        .unwrap();
    let running = tokio::spawn(outcomes_of(running));
    let mut dropped = 0;
    while !running.is_finished() && dropped < 200 {
        let mut other = Batch::new(client.clone(), APP)
            .max_in_flight(64)
            .create_concurrency(32)
            .run(futures::stream::iter(rows_from(dropped * 1000, 1000)))
            .await
            .unwrap();
        let _ = other.next().await;
        drop(other);
        dropped += 1;
    }
    let outcomes = running.await.unwrap();
    assert!(dropped > 0);
    common::invariants::check(&sim, APP, &outcomes, &rows, "beside dropped batches");
    let not_completed: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| !matches!(o.result, OutcomeResult::Completed { .. }))
        .collect();
    assert!(not_completed.is_empty(), "{not_completed:?}");
}

/// A batch that does not start (here, its journal cannot be created)
/// stops reading its rows: the stream is dropped, not left to a task on
/// the caller's runtime that waits on it for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_that_does_not_start_drops_its_rows_stream() {
    struct Dropped(Option<tokio::sync::oneshot::Sender<()>>);
    impl Drop for Dropped {
        fn drop(&mut self) {
            if let Some(tx) = self.0.take() {
                let _ = tx.send(());
            }
        }
    }
    let (_sim, client) = sim().await;
    let (tx, rx) = tokio::sync::oneshot::channel();
    let guard = Dropped(Some(tx));
    // No row ever comes: the reader waits on the stream, never on the
    // engine.
    let rows = futures::stream::pending::<Row>().inspect(move |_| {
        let _ = &guard;
    });
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("no such directory").join("run.journal");
    let started = Batch::new(client, APP).journal(journal).run(rows).await;
    assert!(started.is_err(), "the journal cannot be created");
    tokio::time::timeout(Duration::from_secs(30), rx)
        .await
        .expect("the rows stream was dropped")
        .expect("dropped, not leaked");
}

//! How a batch's outcomes reach its consumer (`batch/sink.rs`: a turn's
//! outcomes go as one message, at most 256 waiting and 128 held in a
//! turn), tried as an adversary would: the error that ends a run comes
//! after every outcome and nothing after it; a run dropped while the
//! engine waits for room leaves no thread and loses no row on resume; a
//! prompt consumer is never kept waiting for an outcome already decided.
//! The simulator's records judge (`invariants::check`).

mod common;

use std::time::Duration;

use futures::StreamExt;
use writer_jobs::batch::{Batch, BatchError, BatchRun, Row};
use writer_jobs::{Client, Inputs};

const APP: &str = "demo-product-descriptions";

/// Row `i`: refused before any request when `bad`, a real job otherwise.
fn row(i: usize, bad: bool) -> Row {
    let inputs = if bad {
        Inputs::new()
            .text("Product name", format!("Shoe #{i}"))
            .text("Colour", "red")
    } else {
        Inputs::new().text("Product name", format!("Shoe #{i}"))
    };
    Row::new(format!("row-{i:05}"), inputs)
}

fn rows(n: usize, bad: impl Fn(usize) -> bool) -> Vec<Row> {
    (0..n).map(|i| row(i, bad(i))).collect()
}

async fn setup(
    scale: f64,
) -> (
    writer_sim::Simulator,
    Client,
    writer_jobs::model::Application,
) {
    let (sim, client) = common::lognormal_sim(scale, |b| b).await;
    let app = client.get_application(APP).await.unwrap();
    (sim, client, app)
}

/// Threads named "writer-jobs-batch" (comm is cut at 15 bytes).
fn batch_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| {
                    std::fs::read_to_string(e.path().join("comm"))
                        .is_ok_and(|c| c.trim_end().starts_with("writer-jobs-bat"))
                })
                .count()
        })
        .unwrap_or(0)
}

/// Outcomes decided once the progress stopped changing for 300 ms.
async fn wait_stalled(run: &BatchRun) -> u64 {
    let p = common::progress_once_still(run, Duration::from_millis(300)).await;
    p.completed + p.failed + p.ambiguous + p.rejected + p.timed_out
}

/// A duplicate key after 1000 refused rows ends the run: the consumer,
/// reading nothing until the engine waits, then gets the 1000, the error,
/// and the end.
async fn error_after_outcomes(flavour: &str) {
    let (_sim, client, app) = setup(200.0).await;
    let mut all = rows(1000, |_| true);
    all.push(row(5, true));
    let run = Batch::new(client, APP)
        .validate_against(app)
        .run(futures::stream::iter(all.clone()))
        .await
        .unwrap();
    let held = wait_stalled(&run).await;
    assert!(held <= 384, "{flavour}: {held} decided before any read");
    let mut run = run;
    let mut outcomes = Vec::new();
    let mut error = None;
    let mut after_error = 0;
    loop {
        match tokio::time::timeout(Duration::from_secs(20), run.next()).await {
            Err(_) => panic!("{flavour}: stuck after {} outcomes", outcomes.len()),
            Ok(None) => break,
            Ok(Some(Ok(o))) => {
                if error.is_some() {
                    after_error += 1;
                }
                outcomes.push(o)
            }
            Ok(Some(Err(e))) => {
                assert!(error.is_none(), "{flavour}: two errors");
                error = Some(e);
            }
        }
    }
    assert!(
        matches!(error, Some(BatchError::DuplicateKey { .. })),
        "{flavour}: {error:?}"
    );
    assert_eq!(after_error, 0, "{flavour}");
    // The 1,000 rows before the duplicate, each once.
    common::invariants::each_row_once(&outcomes, &all[..1000]).unwrap();
}

#[tokio::test(start_paused = true)]
async fn error_after_outcomes_paused() {
    error_after_outcomes("paused").await;
}

/// Reads `k` outcomes, lets the engine fill the room, drops the run, then
/// resumes with the same journal: the resumed run yields every row once and
/// no input set got two jobs.
async fn drop_then_resume(flavour: &str, k: usize) {
    let (sim, client, app) = setup(200.0).await;
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("run.journal");
    let all = rows(1500, |i| i % 5 != 0);
    let batch = Batch::new(client, APP)
        .validate_against(app)
        .journal(&journal)
        .max_in_flight(64)
        .exclusive_application(true)
        .max_server_hold(Duration::from_secs(60));
    let mut run = common::run_resuming(&batch, || futures::stream::iter(all.clone())).await;
    let mut first = Vec::new();
    for _ in 0..k {
        match tokio::time::timeout(Duration::from_secs(20), run.next()).await {
            Ok(Some(Ok(o))) => first.push(o),
            other => panic!("{flavour}: {other:?}"),
        }
    }
    let decided = wait_stalled(&run).await;
    drop(run);
    let give_up = std::time::Instant::now() + Duration::from_secs(10);
    while batch_threads() > 0 {
        assert!(
            std::time::Instant::now() < give_up,
            "{flavour}: batch thread leaked"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let run = common::run_resuming(&batch, || futures::stream::iter(all.clone())).await;
    let second = common::collect_within(run, Duration::from_secs(60), flavour).await;
    let replayed = second.iter().filter(|o| o.replayed).count();
    eprintln!(
        "{flavour}: read {} of {decided} decided; resumed: {} outcomes, {replayed} replayed",
        first.len(),
        second.len()
    );
    common::invariants::each_row_once(&second, &all).unwrap();
    assert!(
        replayed as u64 >= decided.min(first.len() as u64),
        "{flavour}"
    );
    for o in &first {
        let again = second.iter().find(|s| s.key == o.key).unwrap();
        assert!(
            again.replayed,
            "{flavour}: {} read in run 1 not replayed",
            o.key
        );
    }
    common::invariants::check(&sim, APP, &second, &all, flavour);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_then_resume_multi_thread() {
    drop_then_resume("multi-0", 0).await;
    drop_then_resume("multi-130", 130).await;
}

/// `fut` within `bound` of real time (a thread's timer: paused tokio time
/// auto-advances and would fire a tokio timeout at once).
async fn real_timeout<F: std::future::Future>(bound: Duration, fut: F) -> Option<F::Output> {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        std::thread::sleep(bound);
        let _ = tx.send(());
    });
    tokio::select! {
        out = fut => Some(out),
        _ = rx => None,
    }
}

/// A prompt consumer: whenever no outcome came for a second of real time,
/// every outcome the progress counts as decided must have been read.
async fn prompt_consumer_sees_every_decided(flavour: &str, paused: bool) {
    let (sim, client) = common::lognormal_sim(20.0, |b| {
        b.duration(writer_sim::DurationDist::LogNormal {
            mean_secs: 30.0,
            sigma: 1.5,
        })
    })
    .await;
    let app = client.get_application(APP).await.unwrap();
    let all = rows(150, |i| i % 2 == 0);
    let mut run = Batch::new(client, APP)
        .validate_against(app)
        .max_in_flight(40)
        .run(futures::stream::iter(all.clone()))
        .await
        .unwrap();
    let progress = run.progress();
    let mut got = Vec::new();
    let mut idle_checks = 0;
    let give_up = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        assert!(std::time::Instant::now() < give_up, "{flavour}: no end");
        let next = if paused {
            real_timeout(Duration::from_secs(1), run.next()).await
        } else {
            tokio::time::timeout(Duration::from_secs(1), run.next())
                .await
                .ok()
        };
        match next {
            Some(Some(Ok(o))) => got.push(o),
            Some(Some(Err(e))) => panic!("{flavour}: {e}"),
            Some(None) => break,
            None => {
                idle_checks += 1;
                let p = progress.borrow().clone();
                let decided = p.completed + p.failed + p.ambiguous + p.rejected + p.timed_out;
                assert_eq!(
                    decided,
                    got.len() as u64,
                    "{flavour}: idle for 1 s with outcomes decided and not delivered"
                );
            }
        }
    }
    eprintln!(
        "{flavour}: {} outcomes, {idle_checks} idle checks",
        got.len()
    );
    common::invariants::check(&sim, APP, &got, &all, flavour);
}

#[tokio::test]
async fn prompt_consumer_current_thread() {
    prompt_consumer_sees_every_decided("current", false).await;
}

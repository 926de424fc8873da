//! The client and the batch engine against what Writer does not document,
//! each played by a simulator setting: a create naming an unknown input
//! that makes a job which fails (`[api] unknown_inputs = "fail_job"`), job
//! times with whole seconds only (`[api] timestamps = "seconds"`), 200 or
//! 202 on create and retry (`success_status`), and the error body's shape
//! (`error_shape`). The batch's promises are checked from the simulator's
//! records.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use chrono::{SubsecRound, Timelike};
use common::invariants::{
    creates_per_input_set, each_row_once, input_set, no_duplicate_jobs, right_outputs, tally,
};
use futures::StreamExt;
use writer_jobs::batch::{Batch, Outcome, OutcomeResult, Row};
use writer_jobs::{Client, Error, Inputs, ListQuery};
use writer_sim::{
    AppConfig, DurationDist, ErrorShape, FaultConfig, FaultKind, ListOrder, Operation, Simulator,
    SimulatorBuilder, SuccessStatus, TenantConfig, Timestamps, TotalCount, UnknownInputs,
};

const APP: &str = "demo-product-descriptions";

async fn start(builder: SimulatorBuilder) -> (Simulator, Client) {
    let sim = builder.start().await.unwrap();
    let client = common::sim_client(&sim)
        .request_timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    (sim, client)
}

fn sim_builder(seed: u64) -> SimulatorBuilder {
    Simulator::builder()
        .scale(200.0)
        .seed(seed)
        .duration(DurationDist::Uniform {
            min_secs: 5.0,
            max_secs: 20.0,
        })
        .failure_rate(0.0)
}

/// `n` rows; every odd one also names `Colour`, an input the demo
/// application does not have.
fn rows_with_unknown_inputs(n: usize) -> Vec<Row> {
    (0..n)
        .map(|i| {
            let inputs = Inputs::new().text("Product name", format!("Shoe #{i}"));
            let inputs = if i % 2 == 1 {
                inputs.text("Colour", "red")
            } else {
                inputs
            };
            Row::new(format!("row-{i}"), inputs)
        })
        .collect()
}

fn unknown(row: &Row) -> bool {
    row.key
        .strip_prefix("row-")
        .and_then(|i| i.parse::<usize>().ok())
        .is_some_and(|i| i % 2 == 1)
}

async fn run_batch(batch: Batch, rows: &[Row]) -> Vec<Outcome> {
    let run = batch
        .run(futures::stream::iter(rows.to_vec()))
        .await
        .expect("batch starts");
    tokio::time::timeout(
        Duration::from_secs(60),
        run.map(|o| o.expect("batch error")).collect::<Vec<_>>(),
    )
    .await
    .expect("the batch ends")
}

/// Without pre-flight validation the rows reach the server; on a server
/// that makes a job which fails for an unknown input (as Writer's cookbook
/// says), the batch reports each such row failed with the server's
/// message, after its job-level retries, and the others completed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_failed_for_an_unknown_input_is_reported_with_the_servers_message() {
    let (sim, client) = start(sim_builder(11).unknown_inputs(UnknownInputs::FailJob)).await;
    let rows = rows_with_unknown_inputs(8);
    let outcomes = run_batch(Batch::new(client, APP).job_retries(1), &rows).await;
    each_row_once(&outcomes, &rows).unwrap();
    right_outputs(APP, &outcomes, &rows).unwrap();
    let by_key: HashMap<&str, &Outcome> = outcomes.iter().map(|o| (o.key.as_str(), o)).collect();
    for row in &rows {
        let outcome = by_key[row.key.as_str()];
        if !unknown(row) {
            assert_eq!(outcome.result.name(), "completed", "{outcome:?}");
            continue;
        }
        let OutcomeResult::Failed { error, .. } = &outcome.result else {
            panic!("{}: {:?}", row.key, outcome.result);
        };
        let job_id = outcome.job_id.as_deref().expect("a failed job has an id");
        // The server's own words, as its job record has them.
        let job = sim.job(job_id).expect("the job exists on the server");
        assert_eq!(job.status, writer_sim::JobStatus::Failed);
        assert!(error.contains("unknown input: Colour"), "{error}");
        assert_eq!(outcome.creates, 1, "{outcome:?}");
        assert_eq!(outcome.attempts, 2, "retried once, failed again");
    }
    // Every row was sent once: one job per input set.
    let per_set = creates_per_input_set(&sim, APP);
    for row in &rows {
        assert_eq!(per_set.get(&input_set(APP, row)), Some(&1), "{}", row.key);
    }
}

/// With the application's inputs known, the rows naming an unknown input
/// are rejected before any request: the simulator never saw them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pre_flight_validation_keeps_rows_with_unknown_inputs_from_being_sent() {
    let (sim, client) = start(sim_builder(12).unknown_inputs(UnknownInputs::FailJob)).await;
    let application = client.get_application(APP).await.unwrap();
    let rows = rows_with_unknown_inputs(8);
    let outcomes = run_batch(Batch::new(client, APP).validate_against(application), &rows).await;
    each_row_once(&outcomes, &rows).unwrap();
    right_outputs(APP, &outcomes, &rows).unwrap();
    let per_set = creates_per_input_set(&sim, APP);
    for outcome in &outcomes {
        let row = rows.iter().find(|r| r.key == outcome.key).unwrap();
        let jobs = per_set.get(&input_set(APP, row)).copied().unwrap_or(0);
        if !unknown(row) {
            assert_eq!(outcome.result.name(), "completed", "{outcome:?}");
            assert_eq!(jobs, 1, "{}", row.key);
            continue;
        }
        match &outcome.result {
            OutcomeResult::Rejected {
                error, http_status, ..
            } => {
                assert!(error.contains("Colour"), "{error}");
                assert_eq!(*http_status, None, "refused before any request");
            }
            other => panic!("{}: {other:?}", row.key),
        }
        assert_eq!(jobs, 0, "{}: the simulator has no job for it", row.key);
    }
    let stats = sim.stats();
    assert_eq!(stats.jobs_created, 4);
    assert_eq!(stats.requests(Operation::Create), 4);
}

/// A row rejected before any request reports no create request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_rejected_before_sending_reports_no_create() {
    let (sim, client) = start(sim_builder(12)).await;
    let application = client.get_application(APP).await.unwrap();
    let rows = rows_with_unknown_inputs(2);
    let outcomes = run_batch(Batch::new(client, APP).validate_against(application), &rows).await;
    let rejected = outcomes.iter().find(|o| o.key == "row-1").unwrap();
    assert_eq!(rejected.result.name(), "rejected", "{rejected:?}");
    assert_eq!(sim.stats().requests(Operation::Create), 1);
    assert_eq!(rejected.creates, 0, "{rejected:?}");
}

/// Job times with whole seconds only decode, on create, get and list, as
/// the server's time cut to the second.
#[tokio::test]
async fn second_only_job_times_decode() {
    let (sim, client) = start(sim_builder(13).timestamps(Timestamps::Seconds)).await;
    let inputs = Inputs::new().text("Product name", "Terra running shoe");
    let created = client.create_job(APP, &inputs).await.unwrap();
    let record = sim.job(&created.id).unwrap();
    assert_ne!(
        record.created_at.nanosecond(),
        0,
        "the server's time has a fraction"
    );
    assert_eq!(created.created_at, record.created_at.trunc_subsecs(0));
    let job = client.get_job(&created.id).await.unwrap();
    assert_eq!(job.created_at, record.created_at.trunc_subsecs(0));
    let page = client
        .list_jobs_page(APP, &ListQuery::default())
        .await
        .unwrap();
    let listed = page.jobs.iter().find(|j| j.id == created.id).unwrap();
    assert_eq!(listed.created_at, job.created_at);
    let done = client.wait(&created.id).await.unwrap();
    for at in [Some(done.created_at), done.updated_at, done.completed_at] {
        let at = at.expect("a finished job has all its times");
        assert_eq!(at.nanosecond(), 0, "{at}");
    }
}

/// `n` rows where every fourth repeats the inputs of the row before it.
fn rows(n: usize) -> Vec<Row> {
    (0..n)
        .map(|i| {
            let product = if i % 4 == 3 { i - 1 } else { i };
            Row::new(
                format!("row-{i:03}"),
                Inputs::new().text("Product name", format!("Product #{product}")),
            )
        })
        .collect()
}

/// On an application declared exclusive, creates whose answers are lost
/// after they landed (`accept_then_drop`, 30% of creates) are reconciled
/// from the listed job times; no input set may get more jobs than rows
/// carrying it (checked from the simulator's records).
async fn ambiguous_creates_make_no_duplicate(precision: Timestamps) {
    for seed in [21, 22, 23] {
        let faults = FaultConfig::none().on(Operation::Create, FaultKind::AcceptThenDrop, 0.3);
        let (sim, client) = start(sim_builder(seed).timestamps(precision).faults(faults)).await;
        let rows = rows(40);
        let batch = Batch::new(client, APP)
            .exclusive_application(true)
            .max_in_flight(10)
            .max_server_hold(Duration::from_secs(60));
        let outcomes = run_batch(batch, &rows).await;
        let dropped = sim.stats().faults_of(FaultKind::AcceptThenDrop);
        println!(
            "{precision:?}, seed {seed}: {:?}; creates dropped: {dropped}",
            tally(&outcomes)
        );
        assert!(dropped > 0, "seed {seed}: setup: some creates were dropped");
        if let Err(e) = no_duplicate_jobs(&sim, APP, &rows) {
            for o in outcomes.iter().filter(|o| o.creates > 1) {
                println!("resent: {o:?}");
            }
            panic!("{precision:?}, seed {seed}: {e}");
        }
        each_row_once(&outcomes, &rows).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        right_outputs(APP, &outcomes, &rows).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    }
}

/// The control: with precise job times the same runs make no duplicate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn precise_job_times_make_no_duplicate_on_an_exclusive_application() {
    ambiguous_creates_make_no_duplicate(Timestamps::Micros).await;
}

/// With whole-second job times, a job made 0.7 s into a second is listed
/// 0.7 s before it was made. Windows must widen to that precision.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_only_job_times_make_no_duplicate_on_an_exclusive_application() {
    ambiguous_creates_make_no_duplicate(Timestamps::Seconds).await;
}

/// Create and retry answered 202 (Writer's reference) or 200 (its guide):
/// both are successes.
#[tokio::test]
async fn create_and_retry_succeed_with_202_and_with_200() {
    for status in [SuccessStatus::Accepted, SuccessStatus::Ok] {
        let (sim, client) = start(
            sim_builder(14)
                .success_status(status)
                .failure_rate(1.0)
                .retry_new_id(true),
        )
        .await;
        let inputs = Inputs::new().text("Product name", "Terra running shoe");
        let created = client.create_job(APP, &inputs).await.unwrap();
        let failed = client.wait(&created.id).await.unwrap_err();
        assert!(matches!(failed, Error::JobFailed { .. }), "{failed:?}");
        let retried = client.retry_job(&created.id).await.unwrap();
        assert_ne!(retried.id, created.id, "the retry's new id is followed");
        let stats = sim.stats();
        for op in ["create", "retry"] {
            let answered = &stats.by_operation_status[op];
            assert_eq!(answered.get(&status.code()), Some(&1), "{op}: {answered:?}");
        }
    }
}

/// An error body in Writer's documented shape and in the older
/// `{message, code, errors}` one: both name the input at fault.
#[tokio::test]
async fn error_bodies_of_both_shapes_name_the_input_at_fault() {
    for shape in [ErrorShape::Writer, ErrorShape::Legacy] {
        let (_sim, client) = start(sim_builder(15).error_shape(shape)).await;
        let inputs = Inputs::new()
            .text("Product name", "Terra running shoe")
            .text("Colour", "red");
        let error = client.create_job(APP, &inputs).await.unwrap_err();
        let Error::BadRequest { message, body, .. } = &error else {
            panic!("{shape:?}: {error:?}");
        };
        assert!(message.contains("Colour"), "{shape:?}: {message}");
        let keys: Vec<&str> = body.keyed().map(|(key, _)| key).collect();
        assert_eq!(keys, ["Colour"], "{shape:?}: {body:?}");
        assert!(body.tpe.is_some(), "{shape:?}: {body:?}");
    }
}

/// An oldest-first list with a long history (5,000 older jobs, other
/// clients creating more): sweeps and reconciliation listings start near
/// the end of the list (found once by galloping, then remembered) instead
/// of reading it from offset 0, with and without `totalCount`, and no
/// create lands twice (the simulator's records judge).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oldest_first_list_with_a_long_history_is_read_from_near_its_end() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    for total in [TotalCount::All, TotalCount::Missing] {
        let app = AppConfig::demo().tenants(TenantConfig {
            prefill_jobs: 5000,
            jobs_per_minute: 60.0,
        });
        let faults = FaultConfig::none().on(Operation::Create, FaultKind::AcceptThenDrop, 0.05);
        let builder = sim_builder(31)
            .apps(vec![app])
            .list_order(ListOrder::Oldest)
            .total_count(total)
            .faults(faults);
        let (sim, client) = start(builder).await;
        let rows = rows(200);
        let batch = Batch::new(client, APP).max_server_hold(Duration::from_secs(60));
        let outcomes = run_batch(batch, &rows).await;
        let stats = sim.stats();
        let lists = stats.requests(Operation::List);
        println!(
            "{total:?}: {:?}; {} requests ({:.2}/row), {lists} list pages",
            tally(&outcomes),
            stats.total_requests,
            stats.total_requests as f64 / rows.len() as f64
        );
        no_duplicate_jobs(&sim, APP, &rows).unwrap_or_else(|e| panic!("{total:?}: {e}"));
        each_row_once(&outcomes, &rows).unwrap_or_else(|e| panic!("{total:?}: {e}"));
        right_outputs(APP, &outcomes, &rows).unwrap_or_else(|e| panic!("{total:?}: {e}"));
        // Reading the 5,000 older jobs takes 50 pages: one reconciliation
        // from offset 0 would cost that alone.
        assert!(
            lists < 100,
            "{total:?}: {lists} list pages for 200 rows: the list was read from its start"
        );
        // Newest first, the same run takes about 1.17 requests a row; read
        // from offset 0 (or swept by GETs), about 1.8.
        assert!(
            stats.total_requests * 2 < 3 * rows.len() as u64,
            "{total:?}: {} requests for 200 rows",
            stats.total_requests
        );
    }
}

/// Less overlap (issue 19): on an application declared exclusive, with a
/// short hold and one create at a time, no create is sent while an
/// ambiguous one's window is open, so every orphan has one explanation:
/// each lost create is adopted or sent again, none stays ambiguous, and
/// the simulator's records show no duplicate and no row with another's
/// output.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_less_overlap_no_row_stays_ambiguous_on_an_exclusive_application() {
    for seed in [31, 32, 33] {
        let faults = FaultConfig::none()
            .on(Operation::Create, FaultKind::AcceptThenDrop, 0.2)
            .on(Operation::Create, FaultKind::Status500, 0.1);
        let (sim, client) = start(sim_builder(seed).faults(faults)).await;
        let rows = rows(40);
        let batch = Batch::new(client, APP)
            .exclusive_application(true)
            .max_in_flight(10)
            .max_server_hold(Duration::from_secs(2))
            .create_concurrency(1)
            .less_overlap(true);
        let outcomes = run_batch(batch, &rows).await;
        let dropped = sim.stats().faults_of(FaultKind::AcceptThenDrop);
        println!(
            "seed {seed}: {:?}; creates dropped: {dropped}",
            tally(&outcomes)
        );
        assert!(dropped > 0, "seed {seed}: setup: some creates were dropped");
        no_duplicate_jobs(&sim, APP, &rows).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        each_row_once(&outcomes, &rows).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        right_outputs(APP, &outcomes, &rows).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        let ambiguous: Vec<&Outcome> = outcomes
            .iter()
            .filter(|o| matches!(o.result, OutcomeResult::Ambiguous { .. }))
            .collect();
        assert!(ambiguous.is_empty(), "seed {seed}: {ambiguous:#?}");
    }
}

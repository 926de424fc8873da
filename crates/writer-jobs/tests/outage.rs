//! Retry amplification and outages: the server fails every request for a
//! simulated minute in the middle of a batch.
//!
//! The design bounds what an outage costs (see `batch/mod.rs`,
//! `batch/pacer.rs`, `batch/breaker.rs`):
//!
//! - after the first failure, new creates wait until some request succeeds,
//!   so the rows an outage can make ambiguous are the creates already on the
//!   wire: at most `create_concurrency`;
//! - after `breaker_threshold` consecutive failures the circuit opens and
//!   every request (the engine's own and the client's transport retries)
//!   waits for the probe slot: one request per probe interval, 1 s doubling
//!   to 60 s.
//!
//! So the requests the server receives during an outage of length `W` are
//! at most: the requests in flight when it began (`C`, the engine's
//! concurrency: `create_concurrency` creates + 8 sweep GETs + 1 reconcile
//! listing + 1 probe), plus those sent until the circuit opens (at most
//! `breaker_threshold` failures, plus `C` still in flight at that moment),
//! plus one probe per probe slot in `W`. The tests compute that bound from
//! the settings and count the requests from the simulator's statistics.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use futures::StreamExt;
use writer_jobs::Inputs;
use writer_jobs::batch::{Batch, Outcome, OutcomeResult, Progress, Row};
use writer_sim::{DurationDist, Outage, Simulator};

const APP: &str = "demo-product-descriptions";
const SCALE: f64 = 100.0;
const ROWS: usize = 500;
const CREATE_CONCURRENCY: usize = 8;
const BREAKER_THRESHOLD: u32 = 5;
/// GETs one sweep keeps on the wire (`buffer_unordered(8)` in the engine).
const SWEEP_GETS: u64 = 8;
/// The breaker's probe schedule (`batch/breaker.rs`): first 1 s, doubling,
/// capped at 60 s.
const FIRST_PROBE: Duration = Duration::from_secs(1);
const MAX_PROBE: Duration = Duration::from_secs(60);

/// Probes the breaker can send in a window of `window` after it opens.
fn probes_in(window: Duration) -> u64 {
    let (mut at, mut interval, mut n) = (Duration::ZERO, FIRST_PROBE, 0);
    loop {
        at += interval;
        if at > window {
            return n;
        }
        n += 1;
        interval = (interval * 2).min(MAX_PROBE);
    }
}

/// The most requests the engine can have on the wire at once.
fn max_concurrent_requests() -> u64 {
    CREATE_CONCURRENCY as u64 + SWEEP_GETS + 1 + 1
}

/// The bound on requests the server receives during an outage of `window`.
fn outage_request_bound(window: Duration) -> u64 {
    let c = max_concurrent_requests();
    c + u64::from(BREAKER_THRESHOLD) + c + probes_in(window)
}

fn rows(n: usize) -> Vec<Row> {
    (0..n)
        .map(|i| {
            Row::new(
                format!("row-{i:04}"),
                Inputs::new().text("Product name", format!("Outage product #{i}")),
            )
        })
        .collect()
}

struct Report {
    outcomes: Vec<Outcome>,
    requests_during: u64,
    creates_during: u64,
    window: Duration,
    max_reconciling: u64,
    circuit_opened: bool,
    jobs_created: HashMap<String, u64>,
    rows: Vec<Row>,
}

async fn batch_through_outage(outage: Outage, length: Duration, seed: u64) -> Report {
    let sim = Simulator::builder()
        .scale(SCALE)
        .seed(seed)
        .duration(DurationDist::Uniform {
            min_secs: 10.0,
            max_secs: 40.0,
        })
        .failure_rate(0.0)
        .start()
        .await
        .expect("simulator");
    let client = common::sim_client(&sim)
        .request_timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let rows = rows(ROWS);
    let run = Batch::new(client, APP)
        .max_in_flight(100)
        .create_concurrency(CREATE_CONCURRENCY)
        .breaker_threshold(BREAKER_THRESHOLD)
        .max_server_hold(Duration::from_secs(10))
        .run(futures::stream::iter(rows.clone()))
        .await
        .expect("batch starts");
    let mut progress = run.progress();
    let collector = tokio::spawn(async move {
        run.map(|o| o.expect("the batch must ride out the outage"))
            .collect::<Vec<Outcome>>()
            .await
    });

    // Start the outage while the batch is busy creating and polling.
    let busy = |p: &Progress| p.created >= 150;
    tokio::time::timeout(Duration::from_secs(60), progress.wait_for(busy))
        .await
        .expect("the batch gets busy")
        .expect("progress");
    let before = sim.stats();
    sim.set_outage(outage);
    let started = sim.clock().now();

    // Watch the engine during the outage.
    let mut watch = progress.clone();
    let watcher = tokio::spawn(async move {
        let (mut max_reconciling, mut opened) = (0, false);
        loop {
            {
                let p = watch.borrow_and_update();
                max_reconciling = max_reconciling.max(p.reconciling);
                opened |= p.circuit_open;
            }
            if watch.changed().await.is_err() {
                return (max_reconciling, opened);
            }
        }
    });
    sim.clock().sleep(length).await;
    let during = sim.stats();
    let window = (sim.clock().now() - started)
        .to_std()
        .unwrap_or(Duration::ZERO);
    sim.set_outage(Outage::None);
    // Let the watcher see the state at the end of the outage.
    tokio::time::sleep(Duration::from_millis(5)).await;
    watcher.abort();
    let (max_reconciling, circuit_opened) = match watcher.await {
        Ok(v) => v,
        Err(_) => {
            let p = progress.borrow();
            (p.reconciling, p.circuit_open)
        }
    };

    let outcomes = tokio::time::timeout(Duration::from_secs(90), collector)
        .await
        .expect("the batch finishes after the outage")
        .expect("collector");
    let stats = sim.stats();
    Report {
        outcomes,
        requests_during: during.total_requests - before.total_requests,
        creates_during: during.requests(writer_sim::Operation::Create)
            - before.requests(writer_sim::Operation::Create),
        window,
        max_reconciling,
        circuit_opened,
        jobs_created: stats.created_by_inputs.into_iter().collect(),
        rows,
    }
}

fn check(report: &Report, length: Duration, label: &str) {
    let bound = outage_request_bound(report.window);
    let rows_ambiguous = report
        .outcomes
        .iter()
        .filter(|o| o.creates > 1 || matches!(o.result, OutcomeResult::Ambiguous { .. }))
        .count();
    println!(
        "{label}: window {:.1?} (simulated): {} requests received during the outage \
         (bound {bound} = in flight {c} + threshold {BREAKER_THRESHOLD} + in flight at opening {c} \
         + probes {}), {} of them creates; rows made ambiguous: {} in reconciliation at most, \
         {rows_ambiguous} resent or reported (bound {CREATE_CONCURRENCY}); circuit opened: {}",
        report.window,
        report.requests_during,
        probes_in(report.window),
        report.creates_during,
        report.max_reconciling,
        report.circuit_opened,
        c = max_concurrent_requests(),
    );
    assert!(report.window >= length, "{:?}", report.window);
    assert!(
        report.circuit_opened,
        "the circuit opened during the outage"
    );
    assert!(
        report.requests_during <= bound,
        "{} requests during a {:?} outage: more than the design's bound {bound}",
        report.requests_during,
        report.window
    );
    assert!(
        report.creates_during <= CREATE_CONCURRENCY as u64,
        "{} creates reached the server during the outage (at most {CREATE_CONCURRENCY} may be in flight)",
        report.creates_during
    );
    assert!(
        report.max_reconciling <= CREATE_CONCURRENCY as u64,
        "{} rows ambiguous at once",
        report.max_reconciling
    );
    assert!(
        rows_ambiguous <= CREATE_CONCURRENCY,
        "{rows_ambiguous} rows made ambiguous by the outage"
    );

    // Recovery: every row has one outcome, and every row completes except
    // at most the ambiguous ones (which reconciliation normally settles).
    assert_eq!(report.outcomes.len(), report.rows.len());
    let by_key: HashMap<&str, &Outcome> = report
        .outcomes
        .iter()
        .map(|o| (o.key.as_str(), o))
        .collect();
    assert_eq!(by_key.len(), report.rows.len(), "one outcome per row");
    let mut not_completed = 0;
    for row in &report.rows {
        let o = by_key[row.key.as_str()];
        match &o.result {
            OutcomeResult::Completed { output, .. } => {
                let want = writer_sim::expected_output(APP, &row.inputs.to_wire().inputs);
                assert_eq!(output.suggestion, want.suggestion, "{}", row.key);
            }
            OutcomeResult::Ambiguous { .. } => not_completed += 1,
            other => panic!("{}: {other:?} after the outage ended", row.key),
        }
        let set = writer_sim::input_key(APP, &row.inputs.to_wire().inputs);
        let created = report.jobs_created.get(&set).copied().unwrap_or(0);
        assert!(created <= 1, "{}: {created} jobs (a duplicate)", row.key);
    }
    assert!(not_completed <= CREATE_CONCURRENCY);
}

#[test]
fn the_bound_follows_the_probe_schedule() {
    // 1, 2, 4, 8, 16 s: probes at 1, 3, 7, 15, 31 s; the next at 63 s.
    assert_eq!(probes_in(Duration::from_secs(60)), 5);
    assert_eq!(probes_in(Duration::from_secs(63)), 6);
    // Then one a minute: 63, 123, 183, ... s.
    assert_eq!(probes_in(Duration::from_secs(600)), 6 + 8);
    assert_eq!(
        outage_request_bound(Duration::from_secs(60)),
        18 + 5 + 18 + 5
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_minute_of_503s_costs_a_bounded_number_of_requests() {
    let minute = Duration::from_secs(60);
    let report = batch_through_outage(Outage::Unavailable, minute, 21).await;
    check(&report, minute, "outage 503");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_minute_of_connection_resets_costs_a_bounded_number_of_requests() {
    let minute = Duration::from_secs(60);
    let report = batch_through_outage(Outage::Reset, minute, 22).await;
    check(&report, minute, "outage reset");
}

/// Ten simulated minutes: past the first minute the probes come one a
/// minute, so the cost grows by one request a minute, not by the number of
/// waiting jobs and retries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ten_minute_outage_costs_one_probe_a_minute() {
    let ten = Duration::from_secs(600);
    let report = batch_through_outage(Outage::Unavailable, ten, 23).await;
    check(&report, ten, "outage 503, 10 min");
}

//! The batch engine's promises, one named scenario per way it was found to
//! break them (issue 15): no job is ever created twice, no row is given
//! another row's (or another client's) result, every row is written once,
//! and a run always ends.
//!
//! Each test runs a batch against `writer-sim` on its scaled clock (through
//! a proxy from `common/proxy.rs` where the simulator cannot make the fault
//! itself) and checks the promises from the SIMULATOR's records, never from
//! the client's report:
//!
//! - (a) no input set has more jobs made by creates (jobs whose origin is
//!   `client`: not other tenants' jobs, not retries answered with a new id)
//!   than rows carrying it; every row here has its own inputs, so the check
//!   is "at most one job per row";
//! - (b) no completed row carries output made from other inputs (the
//!   simulator's output is a function of the inputs: `expected_output`);
//! - (c) every row is in the outcomes exactly once;
//! - (d) a row reported ambiguous lists its candidates;
//! - (e) the run ends: each run is wrapped in a generous real-time bound.

mod common;

use common::start;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::OffsetClock;
use common::invariants::{creates_per_input_set, tally};
use common::proxy::{Hold, Proxy, ProxyConfig, Refuse};
use futures::StreamExt;
use writer_jobs::batch::{
    AmbiguousPolicy, Batch, BatchError, BatchRun, Outcome, OutcomeResult, Rate, Row,
};
use writer_jobs::{Client, Inputs, PollPolicy};
use writer_sim::{AppConfig, DurationDist, FaultConfig, JobOrigin, Simulator, TenantConfig};

const APP: &str = "demo-product-descriptions";

/// A seed whose first job fails (at `failure_rate(0.5)`).
const SEED_FIRST_JOB_FAILS: u64 = 402;

// ----- helpers ---------------------------------------------------------------

/// `n` rows, each with inputs of its own.
fn rows(n: usize, tag: &str) -> Vec<Row> {
    (0..n)
        .map(|i| {
            Row::new(
                format!("{tag}-{i:03}"),
                Inputs::new().text("Product name", format!("{tag} product #{i}")),
            )
        })
        .collect()
}

fn key_of(row: &Row) -> String {
    writer_sim::input_key(APP, &row.inputs.to_wire().inputs)
}

fn expected(row: &Row) -> String {
    writer_sim::expected_output(APP, &row.inputs.to_wire().inputs).suggestion
}

/// Promise (a): at most one job made by a create per row.
fn assert_no_duplicate_jobs(sim: &Simulator, rows: &[Row], scenario: &str) {
    let per_set = creates_per_input_set(sim, APP);
    let mut twice: BTreeMap<&str, u64> = BTreeMap::new();
    for row in rows {
        let n = per_set.get(&key_of(row)).copied().unwrap_or(0);
        if n > 1 {
            twice.insert(row.key.as_str(), n);
        }
    }
    let total: u64 = per_set.values().sum();
    assert!(
        twice.is_empty(),
        "{scenario}: promise (a) broken, a job was created twice: {} of {} rows have more than \
         one job made by creates on the server ({} jobs by creates in all): {twice:?}",
        twice.len(),
        rows.len(),
        total,
    );
}

/// Promise (c): every row is in the outcomes exactly once. Returns the
/// outcomes by row key.
fn assert_each_row_once<'a>(
    outcomes: &'a [Outcome],
    rows: &[Row],
    scenario: &str,
) -> HashMap<&'a str, &'a Outcome> {
    let mut by_key: HashMap<&str, &Outcome> = HashMap::new();
    let mut twice = Vec::new();
    for o in outcomes {
        if by_key.insert(o.key.as_str(), o).is_some() {
            twice.push(o.key.clone());
        }
    }
    let missing: Vec<&str> = rows
        .iter()
        .map(|r| r.key.as_str())
        .filter(|k| !by_key.contains_key(k))
        .collect();
    assert!(
        twice.is_empty() && missing.is_empty() && outcomes.len() == rows.len(),
        "{scenario}: promise (c) broken, not every row written exactly once: {} outcomes for {} \
         rows; written twice: {twice:?}; missing: {missing:?}",
        outcomes.len(),
        rows.len(),
    );
    by_key
}

/// Promise (b): no completed row carries output made from other inputs;
/// and (d): every ambiguous row lists its candidates.
fn assert_right_outputs(outcomes: &[Outcome], rows: &[Row], scenario: &str) {
    let by_row: HashMap<&str, &Row> = rows.iter().map(|r| (r.key.as_str(), r)).collect();
    let by_output: HashMap<String, &str> =
        rows.iter().map(|r| (expected(r), r.key.as_str())).collect();
    let mut wrong = Vec::new();
    let mut no_candidates = Vec::new();
    for o in outcomes {
        let Some(row) = by_row.get(o.key.as_str()) else {
            continue;
        };
        match &o.result {
            OutcomeResult::Completed { output, .. } if output.suggestion != expected(row) => {
                let whose = by_output
                    .get(&output.suggestion)
                    .map(|k| format!("row {k}'s"))
                    .unwrap_or_else(|| "another client's".to_string());
                wrong.push(format!(
                    "{} (job {:?}) carries {whose} output: {:?}",
                    o.key, o.job_id, output.suggestion
                ));
            }
            OutcomeResult::Ambiguous {
                candidates, reason, ..
            } if candidates.is_empty() => {
                no_candidates.push(format!("{}: {reason}", o.key));
            }
            _ => {}
        }
    }
    assert!(
        wrong.is_empty(),
        "{scenario}: promise (b) broken, {} completed rows carry output made from other \
         inputs:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    assert!(
        no_candidates.is_empty(),
        "{scenario}: promise (d) broken, rows reported ambiguous without their candidates:\n{}",
        no_candidates.join("\n")
    );
}

/// Collects a run's outcomes; promise (e): fails if the run does not end
/// within `bound` of real time.
async fn collect_within(
    mut run: BatchRun,
    bound: Duration,
    sim: &Simulator,
    rows: usize,
    scenario: &str,
) -> Vec<Outcome> {
    let progress = run.progress();
    let started = sim.clock().now();
    let deadline = tokio::time::Instant::now() + bound;
    let mut outcomes = Vec::new();
    loop {
        match tokio::time::timeout_at(deadline, run.next()).await {
            Ok(Some(Ok(outcome))) => outcomes.push(outcome),
            Ok(Some(Err(error))) => panic!("{scenario}: the batch stopped with an error: {error}"),
            Ok(None) => return outcomes,
            Err(_) => {
                let simulated = (sim.clock().now() - started).num_seconds();
                let stats = sim.stats();
                panic!(
                    "{scenario}: promise (e) broken, the run did not end within {bound:?} of \
                     real time ({simulated} simulated s): {} of {rows} rows written ({:?}); \
                     progress {:?}; server saw {:?}",
                    outcomes.len(),
                    tally(&outcomes),
                    *progress.borrow(),
                    stats.by_operation_status,
                );
            }
        }
    }
}

/// Starts a batch, waiting for a killed run's journal lock to go (an
/// aborted engine lets go of it when its task is dropped).
async fn run_resuming(batch: &Batch, rows: &[Row]) -> BatchRun {
    let give_up = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match batch
            .clone()
            .run(futures::stream::iter(rows.to_vec()))
            .await
        {
            Ok(run) => return run,
            Err(BatchError::Journal(e))
                if e.to_string().contains("in use") && tokio::time::Instant::now() < give_up =>
            {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err(e) => panic!("the batch does not start: {e}"),
        }
    }
}

/// The keys of rows whose create answer the journal recorded.
fn answered_in_journal(path: &Path) -> HashSet<String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["type"] == "created")
        .filter_map(|v| v["key"].as_str().map(str::to_string))
        .collect()
}

/// Jobs on the simulator made by creates whose answer the journal has not
/// recorded, with their creation time (server clock).
fn landed_unanswered(sim: &Simulator, rows: &[Row], journal: &Path) -> Vec<DateTime<Utc>> {
    let answered = answered_in_journal(journal);
    let row_of: HashMap<String, &str> = rows.iter().map(|r| (key_of(r), r.key.as_str())).collect();
    sim.job_ids(APP)
        .iter()
        .filter_map(|id| sim.job(id))
        .filter(|j| j.origin == JobOrigin::Client)
        .filter(|j| {
            row_of
                .get(&writer_sim::input_key(&j.application_id, &j.inputs))
                .is_some_and(|k| !answered.contains(*k))
        })
        .map(|j| j.created_at)
        .collect()
}

/// Creates that landed more than `secs` simulated seconds after their
/// row's intent was journaled (the client clock is the server's here), and
/// whose answer the journal has not recorded.
fn late_unanswered(sim: &Simulator, rows: &[Row], journal: &Path, secs: i64) -> usize {
    let text = std::fs::read_to_string(journal).unwrap_or_default();
    let mut intent_at: HashMap<String, DateTime<Utc>> = HashMap::new();
    for v in text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["type"] == "intent")
    {
        let (Some(key), Some(at)) = (v["key"].as_str(), v["at"].as_str()) else {
            continue;
        };
        if let Ok(at) = at.parse::<DateTime<Utc>>() {
            intent_at.insert(key.to_string(), at);
        }
    }
    let answered = answered_in_journal(journal);
    let row_of: HashMap<String, &str> = rows.iter().map(|r| (key_of(r), r.key.as_str())).collect();
    sim.job_ids(APP)
        .iter()
        .filter_map(|id| sim.job(id))
        .filter(|j| j.origin == JobOrigin::Client)
        .filter(|j| {
            let Some(key) = row_of.get(&writer_sim::input_key(&j.application_id, &j.inputs)) else {
                return false;
            };
            !answered.contains(*key)
                && intent_at
                    .get(*key)
                    .is_some_and(|at| j.created_at > *at + chrono::Duration::seconds(secs))
        })
        .count()
}

/// Prints the journal and the server's jobs (`PROMISE_DEBUG=1`).
fn dump(sim: &Simulator, journal: &Path) {
    println!(
        "journal:\n{}",
        std::fs::read_to_string(journal).unwrap_or_default()
    );
    for id in sim.job_ids(APP) {
        if let Some(j) = sim.job(&id) {
            let value = j.inputs.first().map(|i| i.value.join(" | "));
            println!(
                "job {id} {:?} created {} {:?}",
                j.origin, j.created_at, value
            );
        }
    }
}

fn client_for(sim: &Simulator, base_url: &str, timeout: Duration) -> Client {
    common::sim_client(sim)
        .base_url(base_url)
        .request_timeout(timeout)
        .build()
        .expect("client")
}

/// Promises (a) to (d) of a finished run, from the simulator's records:
/// every row written once, no row given other inputs' output (ambiguous
/// rows list their candidates), no input set with a job made twice.
fn assert_promises(sim: &Simulator, outcomes: &[Outcome], rows: &[Row], scenario: &str) {
    assert_each_row_once(outcomes, rows, scenario);
    assert_right_outputs(outcomes, rows, scenario);
    assert_no_duplicate_jobs(sim, rows, scenario);
}

/// Runs `rows` straight to the server (60 s request timeout) through the
/// batch `setup` makes of the default one, and collects its outcomes
/// within `bound` of real time (promise (e)).
async fn run_on(
    sim: &Simulator,
    rows: &[Row],
    setup: impl FnOnce(Batch) -> Batch,
    bound: Duration,
    scenario: &str,
) -> Vec<Outcome> {
    let client = client_for(sim, &sim.base_url(), Duration::from_secs(60));
    let run = setup(Batch::new(client, APP))
        .run(futures::stream::iter(rows.to_vec()))
        .await
        .expect("batch starts");
    collect_within(run, bound, sim, rows.len(), scenario).await
}

/// Prints the run's tally and how many creates the server dropped after
/// making their job: a test of lost answers fails unless some were.
fn assert_some_dropped_after_landing(sim: &Simulator, outcomes: &[Outcome], scenario: &str) {
    let dropped = sim.stats().faults_of(writer_sim::FaultKind::AcceptThenDrop);
    println!(
        "{scenario}: {:?}; creates dropped after landing {dropped}",
        tally(outcomes)
    );
    assert!(
        dropped > 0,
        "{scenario}: some creates were dropped after landing"
    );
}

// ----- 1. a create held past the client's timeout ----------------------------

/// A simulator (200x, jobs of 5-20 s that never fail) behind a proxy that
/// holds its creates `skip..skip + count` for `delay` of simulated time
/// before forwarding them (see `common::proxy`).
async fn sim_behind_holding_proxy(
    skip: usize,
    count: usize,
    delay: Duration,
) -> (Simulator, Proxy) {
    const SCALE: f64 = 200.0;
    let sim = start(
        Simulator::builder()
            .scale(SCALE)
            .seed(101)
            .duration(DurationDist::Uniform {
                min_secs: 5.0,
                max_secs: 20.0,
            })
            .failure_rate(0.0),
    )
    .await;
    let proxy = Proxy::start(
        &sim.base_url(),
        ProxyConfig {
            hold: Some(Hold {
                skip,
                count,
                delay,
                scale: SCALE,
            }),
            ..ProxyConfig::default()
        },
    )
    .await;
    (sim, proxy)
}

/// Bug 1: a create the server holds past the client's 60 s timeout (70 s)
/// and then commits is created after the client gave up. Its window must
/// reach as far as the server may still act on the request; judged "did not
/// land", the row is sent again and gets a second job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_held_past_the_client_timeout_is_not_sent_twice() {
    let scenario = "create held 70 s past a 60 s timeout";
    // The first 16 creates go through (the client measures the clock skew
    // from their answers); the next 8 are held 70 simulated seconds.
    let (sim, proxy) = sim_behind_holding_proxy(16, 8, Duration::from_secs(70)).await;
    let client = client_for(&sim, &proxy.base_url, Duration::from_secs(60));
    let rows = rows(48, "held");
    let run = Batch::new(client, APP)
        .create_concurrency(8)
        .run(futures::stream::iter(rows.clone()))
        .await
        .expect("batch starts");
    let outcomes = collect_within(run, Duration::from_secs(40), &sim, rows.len(), scenario).await;
    let c = proxy.counters();
    let (held, forwarded, undelivered) = (
        c.held.load(std::sync::atomic::Ordering::SeqCst),
        c.held_forwarded.load(std::sync::atomic::Ordering::SeqCst),
        c.held_undelivered.load(std::sync::atomic::Ordering::SeqCst),
    );
    println!(
        "{scenario}: {:?}; held {held}, forwarded late {forwarded} (answer undeliverable: \
         {undelivered}); server {:?}",
        tally(&outcomes),
        sim.stats().by_operation_status
    );
    assert_eq!(held, 8, "{scenario}: the proxy held 8 creates");
    assert_eq!(
        forwarded, 8,
        "{scenario}: the held creates reached the server late"
    );
    assert_promises(&sim, &outcomes, &rows, scenario);
}

/// A create held in transit (30 s in a proxy: a queue in front of the
/// server), then held by the server itself for 95 s of a 100 s hold before
/// it makes the job. The client gave up at its 60 s timeout. The server's
/// hold counts from when it received the request, which can be as late as
/// the client giving up, so the window must run to then plus the hold;
/// ending at the send plus the hold, it missed the job (made 125 s after
/// the send) and the row was sent again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_slow_to_reach_the_server_and_held_there_is_not_sent_twice() {
    let scenario = "create 30 s in transit, then held 95 s by the server (hold 100 s)";
    // The first 8 creates go through (the client measures the clock skew
    // from their answers); the next 4 are held 30 simulated seconds.
    let (sim, proxy) = sim_behind_holding_proxy(8, 4, Duration::from_secs(30)).await;
    let client = client_for(&sim, &proxy.base_url, Duration::from_secs(60));
    let rows = rows(12, "transit");
    let batch = Batch::new(client, APP)
        .create_concurrency(4)
        .max_server_hold(Duration::from_secs(100));
    let (tx, rx) = futures::channel::mpsc::unbounded();
    let run = batch.run(rx).await.expect("batch starts");
    for row in &rows[..8] {
        tx.unbounded_send(row.clone()).unwrap();
    }
    wait_created(&run, 8, scenario).await;
    sim.set_faults(FaultConfig::parse_compact("create:hold=1.0,hold_secs=95").unwrap())
        .unwrap();
    for row in &rows[8..] {
        tx.unbounded_send(row.clone()).unwrap();
    }
    drop(tx);
    // Once the held creates reached the server (which holds them in turn),
    // the faults go: anything sent again is answered at once.
    clear_faults_after(&sim, writer_sim::FaultKind::Hold, 4).await;
    assert_eq!(
        sim.stats().faults_of(writer_sim::FaultKind::Hold),
        4,
        "{scenario}: setup: the server holds the 4 creates the proxy held"
    );
    let outcomes = collect_within(run, Duration::from_secs(40), &sim, rows.len(), scenario).await;
    println!(
        "{scenario}: {:?}; server {:?}, faults {:?}",
        tally(&outcomes),
        sim.stats().by_operation_status,
        sim.stats().faults
    );
    assert_promises(&sim, &outcomes, &rows, scenario);
}

/// The same on resume: creates held 30 s in transit (a proxy) when the run
/// is killed reach the server after the kill, which makes their jobs at
/// once. A resumed run rebuilds their windows from the intents alone; with
/// a hold of 10 s they must still reach past the request timeout the dead
/// run would have waited (the server received them by then, if at all).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_finds_creates_that_reached_the_server_after_the_kill() {
    let scenario = "creates 30 s in transit at the kill, resumed, hold 10 s";
    let (sim, proxy) = sim_behind_holding_proxy(8, 4, Duration::from_secs(30)).await;
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("transit.journal");
    let client = client_for(&sim, &proxy.base_url, Duration::from_secs(60));
    let rows = rows(12, "transitkill");
    let batch = Batch::new(client, APP)
        .journal(&journal)
        .create_concurrency(4)
        .max_server_hold(Duration::from_secs(10));
    let (tx, rx) = futures::channel::mpsc::unbounded();
    let run = batch.clone().run(rx).await.expect("batch starts");
    for row in &rows[..8] {
        tx.unbounded_send(row.clone()).unwrap();
    }
    wait_created(&run, 8, scenario).await;
    for row in &rows[8..] {
        tx.unbounded_send(row.clone()).unwrap();
    }
    let held = || {
        proxy
            .counters()
            .held
            .load(std::sync::atomic::Ordering::SeqCst)
    };
    let give_up = tokio::time::Instant::now() + Duration::from_secs(10);
    while held() < 4 {
        assert!(
            tokio::time::Instant::now() < give_up,
            "{scenario}: setup: the proxy did not hold 4 creates in time"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    // kill -9 while the proxy holds the creates: the journal has their
    // intents, no answers.
    drop(run);
    drop(tx);
    let run = run_resuming(&batch, &rows).await;
    let outcomes = collect_within(run, Duration::from_secs(30), &sim, rows.len(), scenario).await;
    println!(
        "{scenario}: resumed: {:?}; forwarded late {}",
        tally(&outcomes),
        proxy
            .counters()
            .held_forwarded
            .load(std::sync::atomic::Ordering::SeqCst)
    );
    assert_promises(&sim, &outcomes, &rows, scenario);
}

// ----- 2. resume after a kill: creates that waited in the rate limiter -------

/// Bug 2: with a small request budget a create waits in the client's rate
/// limiter long after its intent was written; the process is killed after
/// the create landed and before its answer came. On resume the row's
/// window must cover when the create was really sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_after_a_kill_finds_creates_that_waited_in_the_rate_limiter() {
    const SCALE: f64 = 500.0;
    let scenario = "resume, creates queued in the rate limiter";
    let faults = FaultConfig::parse_compact("create:slow=1.0,slow_secs=40").unwrap();
    let sim = start(
        Simulator::builder()
            .scale(SCALE)
            .seed(102)
            .duration(DurationDist::Uniform {
                min_secs: 5.0,
                max_secs: 20.0,
            })
            .failure_rate(0.0)
            .faults(faults),
    )
    .await;
    let client = client_for(&sim, &sim.base_url(), Duration::from_secs(60));
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("rate.journal");
    let rows = rows(32, "queued");
    let batch = Batch::new(client, APP)
        .journal(&journal)
        .rate(Rate::per_minute(3.0));
    let run = run_resuming(&batch, &rows).await;
    let started = sim.clock().now();

    // Kill -9 once two creates that waited in the client more than 100
    // simulated seconds after their intents were written (3 requests a
    // minute) have landed with their answers still out; at the latest 225 s
    // into the run (when, on this schedule, such creates are on the wire
    // whatever the engine writes in its journal).
    let latest = started + chrono::Duration::seconds(225);
    while sim.clock().now() < latest && late_unanswered(&sim, &rows, &journal, 100) < 2 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let killed_at = (sim.clock().now() - started).num_seconds();
    let unanswered = landed_unanswered(&sim, &rows, &journal).len();
    let late = late_unanswered(&sim, &rows, &journal, 100);
    drop(run);

    let run = run_resuming(&batch, &rows).await;
    let outcomes = collect_within(run, Duration::from_secs(60), &sim, rows.len(), scenario).await;
    println!(
        "{scenario}: killed at {killed_at} simulated s with {unanswered} landed creates \
         unanswered, {late} of them landed over 100 s after their intent; resumed: {:?}",
        tally(&outcomes)
    );
    assert_promises(&sim, &outcomes, &rows, scenario);
}

// ----- 3. resume with the client clock ahead of the server's -----------------

/// Bug 3: the client clock is 49.5 s ahead of the server's. The run is
/// killed while its first creates have landed but not answered; the resumed
/// run must judge their windows with the skew measured, not a default
/// +-30 s margin that misses them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_with_the_client_clock_ahead_finds_its_creates() {
    const SCALE: f64 = 500.0;
    let scenario = "resume, client clock 49.5 s ahead";
    let faults = FaultConfig::parse_compact("create:slow=1.0,slow_secs=40").unwrap();
    let sim = start(
        Simulator::builder()
            .scale(SCALE)
            .seed(103)
            .duration(DurationDist::Uniform {
                min_secs: 5.0,
                max_secs: 20.0,
            })
            .failure_rate(0.0)
            .faults(faults),
    )
    .await;
    let clock = OffsetClock::new(&sim, 49_500);
    let client = Client::builder()
        .api_key(sim.api_key())
        .base_url(sim.base_url())
        .clock(clock)
        .request_timeout(Duration::from_secs(60))
        .build()
        .expect("client");
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("skew.journal");
    let rows = rows(16, "skewed");
    let batch = Batch::new(client, APP)
        .journal(&journal)
        .create_concurrency(8);
    let run = run_resuming(&batch, &rows).await;
    let started = sim.clock().now();

    // Kill -9 when the first wave of creates has landed (their answers are
    // 40 simulated seconds away), 10 s later.
    let latest = started + chrono::Duration::seconds(35);
    while sim.clock().now() < latest && landed_unanswered(&sim, &rows, &journal).len() < 8 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    sim.clock().sleep(Duration::from_secs(10)).await;
    let unanswered = landed_unanswered(&sim, &rows, &journal).len();
    drop(run);
    if std::env::var_os("PROMISE_DEBUG").is_some() {
        dump(&sim, &journal);
    }

    let run = run_resuming(&batch, &rows).await;
    let outcomes = collect_within(run, Duration::from_secs(60), &sim, rows.len(), scenario).await;
    println!(
        "{scenario}: killed with {unanswered} landed creates unanswered; resumed: {:?}",
        tally(&outcomes)
    );
    assert!(
        unanswered >= 1,
        "{scenario}: the kill came when no create was unanswered (nothing to reconcile)"
    );
    assert_promises(&sim, &outcomes, &rows, scenario);
}

// ----- 4. a busy application: another client's job ---------------------------

/// Bug 4: on an application where other clients create 120 jobs a minute,
/// a create answered 500 (it did not land) has a window that may hold
/// exactly one job no row owns: another client's. Timing cannot tell whose
/// it is, so the row must be reported ambiguous with its candidates (or
/// sent again), never completed with that job's output.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_clients_job_is_never_given_to_a_row() {
    let scenario = "busy application, creates answered 500";
    let busy = AppConfig::demo().tenants(TenantConfig {
        prefill_jobs: 0,
        jobs_per_minute: 120.0,
    });
    let faults = FaultConfig::parse_compact("create:500=0.15").unwrap();
    let sim = start(
        Simulator::builder()
            .scale(200.0)
            .seed(104)
            .apps(vec![busy])
            .duration(DurationDist::Uniform {
                min_secs: 5.0,
                max_secs: 20.0,
            })
            .failure_rate(0.0)
            .faults(faults),
    )
    .await;
    let rows = rows(60, "busy");
    let outcomes = run_on(
        &sim,
        &rows,
        |b| b.create_concurrency(1),
        Duration::from_secs(60),
        scenario,
    )
    .await;
    let stats = sim.stats();
    println!(
        "{scenario}: {:?}; jobs by creates {}, by tenants {}, create answers {:?}",
        tally(&outcomes),
        creates_per_input_set(&sim, APP).values().sum::<u64>(),
        stats.tenant_jobs_created,
        stats.by_operation_status.get("create"),
    );
    assert!(
        stats.tenant_jobs_created > 0,
        "{scenario}: tenants created jobs"
    );
    assert_promises(&sim, &outcomes, &rows, scenario);
}

// ----- 5. a refused connection with nothing else polling ---------------------

/// Bug 5: one job in flight at a time (`--concurrency 1`) through a proxy
/// that refuses connections 10 ms of every 60 ms for three seconds, then
/// stays up. A refused create pauses creates until some request succeeds;
/// with nothing tracked nothing else is sent, so the breaker must probe on
/// its own. The server is healthy: every row must complete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_connection_with_nothing_tracked_does_not_stall_the_run() {
    let scenario = "max_in_flight 1, connections refused now and then";
    let sim = start(
        Simulator::builder()
            .scale(1000.0)
            .seed(105)
            .duration(DurationDist::Uniform {
                min_secs: 2.0,
                max_secs: 5.0,
            })
            .failure_rate(0.0),
    )
    .await;
    let proxy = Proxy::start(
        &sim.base_url(),
        ProxyConfig {
            refuse: Some(Refuse {
                period: Duration::from_millis(60),
                down: Duration::from_millis(10),
                until: Duration::from_secs(3),
            }),
            // Every request connects anew, so creates meet the refusals.
            close_after_answer: true,
            ..ProxyConfig::default()
        },
    )
    .await;
    let client = client_for(&sim, &proxy.base_url, Duration::from_secs(60));
    let rows = rows(40, "refused");
    let run = Batch::new(client, APP)
        .max_in_flight(1)
        .run(futures::stream::iter(rows.clone()))
        .await
        .expect("batch starts");
    let outcomes = collect_within(run, Duration::from_secs(8), &sim, rows.len(), scenario).await;
    println!(
        "{scenario}: {:?}; listener closed {} times",
        tally(&outcomes),
        proxy
            .counters()
            .refusals
            .load(std::sync::atomic::Ordering::SeqCst)
    );
    assert_each_row_once(&outcomes, &rows, scenario);
    assert_right_outputs(&outcomes, &rows, scenario);
    let completed = outcomes
        .iter()
        .filter(|o| matches!(o.result, OutcomeResult::Completed { .. }))
        .count();
    assert_eq!(
        completed,
        rows.len(),
        "{scenario}: refused connections create nothing and the server is healthy, so every \
         row completes: {:?}",
        tally(&outcomes)
    );
    assert_no_duplicate_jobs(&sim, &rows, scenario);
}

// ----- 6. a retry answered 409 -----------------------------------------------

/// Bug 6: retries answer with a new job id; the first retry's connection is
/// dropped after the server acted (the new job exists, the client does not
/// know it), then the fault is cleared at once, so the next retry of the
/// same failed job gets 409 (already retried). The run must still end,
/// with every row written once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_answered_409_does_not_loop_forever() {
    const SCALE: f64 = 250.0;
    let scenario = "retry with a new id, first retries dropped";
    let sim = sim_whose_retries_are_all_lost(SCALE, 106).await;
    let client = client_for(&sim, &sim.base_url(), Duration::from_secs(60));
    let rows = rows(20, "retried");
    let run = Batch::new(client, APP)
        .job_retries(2)
        // One row's wait is bounded by 5 simulated minutes.
        .poll_policy(
            PollPolicy::builder()
                .deadline(Duration::from_secs(300))
                .build()
                .unwrap(),
        )
        .run(futures::stream::iter(rows.clone()))
        .await
        .expect("batch starts");
    // Clear the fault as soon as one retry was dropped (at the latest after
    // 300 simulated seconds): that row's next retry is answered 409.
    let clear = async {
        let latest = sim.clock().now() + chrono::Duration::seconds(300);
        while sim.clock().now() < latest
            && sim.stats().faults_of(writer_sim::FaultKind::AcceptThenDrop) < 1
        {
            tokio::time::sleep(Duration::from_micros(500)).await;
        }
        sim.set_faults(FaultConfig::none()).unwrap();
    };
    let (outcomes, ()) = tokio::join!(
        collect_within(
            run,
            Duration::from_secs_f64(2000.0 / SCALE),
            &sim,
            rows.len(),
            scenario
        ),
        clear
    );
    let stats = sim.stats();
    println!(
        "{scenario}: {:?}; retry answers {:?}, retries dropped {}",
        tally(&outcomes),
        stats.by_operation_status.get("retry"),
        stats.faults_of(writer_sim::FaultKind::AcceptThenDrop),
    );
    assert_promises(&sim, &outcomes, &rows, scenario);
}

// ----- 7. the list endpoint down ---------------------------------------------

/// Bug 7: every list request fails (500). Jobs can still be fetched by id,
/// so every row must complete instead of timing out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_complete_while_the_list_endpoint_is_down() {
    let scenario = "list endpoint down";
    let faults = FaultConfig::parse_compact("list:500=1.0").unwrap();
    let sim = start(
        Simulator::builder()
            .scale(1000.0)
            .seed(107)
            .duration(DurationDist::Uniform {
                min_secs: 5.0,
                max_secs: 30.0,
            })
            .failure_rate(0.0)
            .faults(faults),
    )
    .await;
    let rows = rows(20, "unlisted");
    let outcomes = run_on(&sim, &rows, |b| b, Duration::from_secs(30), scenario).await;
    let stats = sim.stats();
    println!(
        "{scenario}: {:?}; server saw {:?}",
        tally(&outcomes),
        stats.by_operation_status
    );
    assert_each_row_once(&outcomes, &rows, scenario);
    assert_right_outputs(&outcomes, &rows, scenario);
    let completed = outcomes
        .iter()
        .filter(|o| matches!(o.result, OutcomeResult::Completed { .. }))
        .count();
    assert_eq!(
        completed,
        rows.len(),
        "{scenario}: every job completes on the server and can be fetched by id, so every row \
         completes: {:?} ({} GETs sent)",
        tally(&outcomes),
        stats.requests(writer_sim::Operation::Get),
    );
    assert_no_duplicate_jobs(&sim, &rows, scenario);
}

/// Found by the refused-connection scenario under load: the circuit opens
/// while the only pending row waits for reconciliation (nothing queued,
/// nothing tracked). Reconciliation waits for the circuit to close, and
/// nothing probed to close it: the run stalled. Here one lost create answer
/// opens the circuit (threshold 1) with one job in flight at most.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_circuit_with_only_a_reconciling_row_still_probes() {
    let scenario = "circuit open, one row reconciling";
    let faults = FaultConfig::parse_compact("create:accept_then_drop=0.3").unwrap();
    let sim = start(
        Simulator::builder()
            .scale(1000.0)
            .seed(211)
            .duration(DurationDist::Uniform {
                min_secs: 5.0,
                max_secs: 10.0,
            })
            .failure_rate(0.0)
            .faults(faults),
    )
    .await;
    let rows = rows(12, "probed");
    let outcomes = run_on(
        &sim,
        &rows,
        |b| {
            b.max_in_flight(1)
                .breaker_threshold(1)
                .max_server_hold(Duration::from_secs(20))
        },
        Duration::from_secs(20),
        scenario,
    )
    .await;
    println!("{scenario}: {:?}", tally(&outcomes));
    assert_promises(&sim, &outcomes, &rows, scenario);
    assert!(
        outcomes
            .iter()
            .any(|o| matches!(o.result, OutcomeResult::Ambiguous { .. }) || o.creates > 1),
        "{scenario}: the seed must make at least one create ambiguous, or the test proves \
         nothing: {:?}",
        tally(&outcomes)
    );
}

// ----- 8. a list that is not newest first ------------------------------------

/// Bug 8: the server lists oldest first (Writer documents no order), on an
/// application with 300 older jobs. A create whose answer was dropped
/// after it landed must be found wherever its job is in the list, not
/// judged "did not land" and sent again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_served_oldest_first_does_not_hide_a_landed_create() {
    let scenario = "list oldest first, creates dropped after landing";
    let app = AppConfig::demo().tenants(TenantConfig {
        prefill_jobs: 300,
        jobs_per_minute: 0.0,
    });
    let faults = FaultConfig::parse_compact("create:accept_then_drop=0.1").unwrap();
    let sim = start(
        Simulator::builder()
            .scale(200.0)
            .seed(108)
            .apps(vec![app])
            .duration(DurationDist::Uniform {
                min_secs: 5.0,
                max_secs: 20.0,
            })
            .failure_rate(0.0)
            .faults(faults),
    )
    .await;
    let proxy = Proxy::start(
        &sim.base_url(),
        ProxyConfig {
            oldest_first: true,
            ..ProxyConfig::default()
        },
    )
    .await;
    let client = client_for(&sim, &proxy.base_url, Duration::from_secs(60));
    let rows = rows(60, "reordered");
    let run = Batch::new(client, APP)
        .max_server_hold(Duration::from_secs(10))
        .run(futures::stream::iter(rows.clone()))
        .await
        .expect("batch starts");
    let outcomes = collect_within(run, Duration::from_secs(60), &sim, rows.len(), scenario).await;
    let stats = sim.stats();
    println!(
        "{scenario}: {:?}; creates dropped after landing {}, pages served oldest first {}",
        tally(&outcomes),
        stats.faults_of(writer_sim::FaultKind::AcceptThenDrop),
        proxy
            .counters()
            .reordered_pages
            .load(std::sync::atomic::Ordering::SeqCst),
    );
    assert!(
        stats.faults_of(writer_sim::FaultKind::AcceptThenDrop) > 0,
        "{scenario}: some creates were dropped after landing"
    );
    assert_promises(&sim, &outcomes, &rows, scenario);
}

/// Every list page answers after 15 s: slower than the batch's read
/// timeout (10 s), well within the request timeout (60 s). The list still
/// works, so reconciliation must still find the jobs of the creates whose
/// answers were lost: each such row is reported with its candidate (the
/// application is shared), not "could not be listed". (Sweeps fall back to
/// GETs by id, which are fast.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_slower_than_the_read_timeout_still_settles_lost_creates() {
    let scenario = "every list page slower than the read timeout";
    let faults =
        FaultConfig::parse_compact("create:accept_then_drop=0.1,list:slow=1.0,slow_secs=15")
            .unwrap();
    let sim = start(
        Simulator::builder()
            .scale(50.0)
            .seed(109)
            .duration(DurationDist::Uniform {
                min_secs: 5.0,
                max_secs: 20.0,
            })
            .failure_rate(0.0)
            .faults(faults),
    )
    .await;
    let rows = rows(40, "slowlist");
    let outcomes = run_on(
        &sim,
        &rows,
        |b| b.max_server_hold(Duration::from_secs(10)),
        Duration::from_secs(120),
        scenario,
    )
    .await;
    assert_some_dropped_after_landing(&sim, &outcomes, scenario);
    assert_promises(&sim, &outcomes, &rows, scenario);
}

/// A busy application (other clients make 1,200 jobs a minute) whose list
/// is newest first and often slow (4 s): while one page is read, the list
/// can move on by more than a page, so a page at offset 100 may hold only
/// jobs already seen. That is a list that moved, not a server ignoring
/// `offset`: reconciliation must read on and find the jobs of the creates
/// whose answers were lost, each reported with its candidates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_list_moving_by_more_than_a_page_per_read_still_settles_lost_creates() {
    let scenario = "busy application, newest-first list often slow";
    let app = AppConfig::demo().tenants(TenantConfig {
        prefill_jobs: 1000,
        jobs_per_minute: 1200.0,
    });
    let faults =
        FaultConfig::parse_compact("list:slow=0.5,create:accept_then_drop=0.05,slow_secs=4")
            .unwrap();
    let sim = start(
        Simulator::builder()
            .scale(50.0)
            .seed(901)
            .apps(vec![app])
            .faults(faults),
    )
    .await;
    let rows = rows(200, "busy");
    let outcomes = run_on(
        &sim,
        &rows,
        |b| b.max_server_hold(Duration::from_secs(15)),
        Duration::from_secs(120),
        scenario,
    )
    .await;
    assert_some_dropped_after_landing(&sim, &outcomes, scenario);
    assert_promises(&sim, &outcomes, &rows, scenario);
}

/// Every list page and every GET answers after 12 s: slower than the
/// batch's read timeout (10 s), well within the request timeout (60 s).
/// Sweeps must still see the jobs finish: every row completes, none is
/// given up as timed out while its job sits completed on the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_slower_than_the_read_timeout_still_see_jobs_finish() {
    let scenario = "every read slower than the read timeout";
    let faults = FaultConfig::parse_compact("list:slow=1.0,get:slow=1.0,slow_secs=12").unwrap();
    let sim = start(
        Simulator::builder()
            .scale(50.0)
            .seed(110)
            .duration(DurationDist::Uniform {
                min_secs: 5.0,
                max_secs: 20.0,
            })
            .failure_rate(0.0)
            .faults(faults),
    )
    .await;
    let rows = rows(20, "slowread");
    let outcomes = run_on(&sim, &rows, |b| b, Duration::from_secs(120), scenario).await;
    let tally = tally(&outcomes);
    println!("{scenario}: {tally:?}");
    assert_promises(&sim, &outcomes, &rows, scenario);
    assert_eq!(
        tally.get("completed").copied().unwrap_or(0),
        rows.len(),
        "{scenario}: every job completed on the server, yet: {tally:?}"
    );
}

/// A busy application (other clients make 1,500 jobs a minute) whose list
/// pages often answer after 55 s: slower than the read timeout, within the
/// request timeout. Sweeps must not page that list for ever (it grows
/// faster than slow pages read it): a listing that fails sends the jobs to
/// GETs by id, which are fast, and every row completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_list_pages_on_a_busy_application_do_not_hide_finished_jobs() {
    let scenario = "busy application, list pages often slower than the read timeout";
    let app = AppConfig::demo().tenants(TenantConfig {
        prefill_jobs: 2000,
        jobs_per_minute: 1500.0,
    });
    let faults = FaultConfig::parse_compact("list:slow=0.6,slow_secs=55").unwrap();
    let sim = start(
        Simulator::builder()
            .scale(50.0)
            .seed(401)
            .apps(vec![app])
            .failure_rate(0.0)
            .faults(faults),
    )
    .await;
    let rows = rows(30, "busyslow");
    let outcomes = run_on(
        &sim,
        &rows,
        |b| b.max_server_hold(Duration::from_secs(15)),
        Duration::from_secs(120),
        scenario,
    )
    .await;
    let tally = tally(&outcomes);
    println!(
        "{scenario}: {tally:?}; GETs {}",
        sim.stats().requests(writer_sim::Operation::Get)
    );
    assert_promises(&sim, &outcomes, &rows, scenario);
    assert_eq!(
        tally.get("completed").copied().unwrap_or(0),
        rows.len(),
        "{scenario}: every job completed on the server, yet: {tally:?}"
    );
}

// ----- found by adversarial testing (after issue 15) -------------------------

/// Waits (a bounded time) until the run reports `n` creates answered.
async fn wait_created(run: &BatchRun, n: u64, scenario: &str) {
    let progress = run.progress();
    let give_up = tokio::time::Instant::now() + Duration::from_secs(10);
    while progress.borrow().created < n {
        assert!(
            tokio::time::Instant::now() < give_up,
            "{scenario}: setup: {n} creates were not answered in time: {:?}",
            *progress.borrow()
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Clears the faults (in the background) once `n` faults of `kind` were
/// injected, so a fault meant for one request does not loop.
async fn clear_faults_after(sim: &Simulator, kind: writer_sim::FaultKind, n: u64) {
    let give_up = tokio::time::Instant::now() + Duration::from_secs(30);
    while sim.stats().faults_of(kind) < n && tokio::time::Instant::now() < give_up {
        tokio::time::sleep(Duration::from_micros(500)).await;
    }
    sim.set_faults(FaultConfig::none()).unwrap();
}

/// The client's clock steps 20 s forward in the middle of the run (an NTP
/// correction, a VM resumed), after the creates measured the clock offset
/// and before the last row's create, whose answer is lost after the job
/// landed. The answers' `Date` headers say the clock moved, but the engine
/// ignores `Date` evidence that contradicts its creates' evidence: the
/// window is placed 20 s after the job, judged "did not land", and the row
/// is sent again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_clock_stepped_forward_mid_run_does_not_hide_a_landed_create() {
    let scenario = "client clock steps 20 s forward mid-run, last create dropped";
    let sim = start(
        Simulator::builder()
            .scale(200.0)
            .seed(301)
            .duration(DurationDist::Uniform {
                min_secs: 5.0,
                max_secs: 10.0,
            })
            .failure_rate(0.0),
    )
    .await;
    let clock = OffsetClock::new(&sim, 0);
    let client = common::client_on(&sim, clock.clone(), Duration::from_secs(60));
    let rows = rows(6, "stepped");
    let (tx, rx) = futures::channel::mpsc::unbounded();
    let run = Batch::new(client, APP)
        .create_concurrency(1)
        .max_server_hold(Duration::from_secs(30))
        .run(rx)
        .await
        .expect("batch starts");
    for row in &rows[..5] {
        tx.unbounded_send(row.clone()).unwrap();
    }
    wait_created(&run, 5, scenario).await;
    clock.step_to(20_000);
    sim.set_faults(FaultConfig::parse_compact("create:accept_then_drop=1.0").unwrap())
        .unwrap();
    tx.unbounded_send(rows[5].clone()).unwrap();
    drop(tx);
    let (outcomes, ()) = tokio::join!(
        collect_within(run, Duration::from_secs(30), &sim, rows.len(), scenario),
        clear_faults_after(&sim, writer_sim::FaultKind::AcceptThenDrop, 1)
    );
    println!(
        "{scenario}: {:?}; creates dropped after landing {}",
        tally(&outcomes),
        sim.stats().faults_of(writer_sim::FaultKind::AcceptThenDrop)
    );
    assert_promises(&sim, &outcomes, &rows, scenario);
}

/// Killed while the client clock ran 30 s behind the server's, resumed
/// after the clock was corrected (or on another machine). The journal's
/// skew evidence is the old clock's; the resumed run's own `Date` headers
/// contradict it and are ignored, so the window of a create the resumed
/// run sends (answer lost after it landed) is placed 30 s late: judged
/// "did not land", the row is sent again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_on_a_corrected_clock_does_not_hide_a_landed_create() {
    let scenario = "killed with the clock 30 s behind, resumed on a corrected clock";
    let sim = start(
        Simulator::builder()
            .scale(200.0)
            .seed(302)
            .duration(DurationDist::Uniform {
                min_secs: 5.0,
                max_secs: 10.0,
            })
            .failure_rate(0.0),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("corrected.journal");
    let rows = rows(6, "corrected");
    let behind = OffsetClock::new(&sim, -30_000);
    let batch = Batch::new(
        common::client_on(&sim, behind, Duration::from_secs(60)),
        APP,
    )
    .journal(&journal)
    .create_concurrency(1)
    .max_server_hold(Duration::from_secs(30));
    let run = run_resuming(&batch, &rows[..5]).await;
    wait_created(&run, 5, scenario).await;
    drop(run);

    let corrected = OffsetClock::new(&sim, 0);
    let batch = Batch::new(
        common::client_on(&sim, corrected, Duration::from_secs(60)),
        APP,
    )
    .journal(&journal)
    .create_concurrency(1)
    .max_server_hold(Duration::from_secs(30));
    sim.set_faults(FaultConfig::parse_compact("create:accept_then_drop=1.0").unwrap())
        .unwrap();
    let run = run_resuming(&batch, &rows).await;
    let (outcomes, ()) = tokio::join!(
        collect_within(run, Duration::from_secs(30), &sim, rows.len(), scenario),
        clear_faults_after(&sim, writer_sim::FaultKind::AcceptThenDrop, 1)
    );
    if std::env::var_os("PROMISE_DEBUG").is_some() {
        dump(&sim, &journal);
    }
    println!(
        "{scenario}: resumed: {:?}; creates dropped after landing {}",
        tally(&outcomes),
        sim.stats().faults_of(writer_sim::FaultKind::AcceptThenDrop)
    );
    assert_promises(&sim, &outcomes, &rows, scenario);
}

/// Promise (b), by job: no row's outcome names a job made from other
/// inputs (whatever its result: a failed row given another row's failed
/// job is given another row's result too).
fn assert_own_jobs(sim: &Simulator, outcomes: &[Outcome], rows: &[Row], scenario: &str) {
    let by_row: HashMap<&str, &Row> = rows.iter().map(|r| (r.key.as_str(), r)).collect();
    let mut wrong = Vec::new();
    for o in outcomes {
        let (Some(row), Some(id)) = (by_row.get(o.key.as_str()), o.job_id.as_deref()) else {
            continue;
        };
        let Some(job) = sim.job(id) else { continue };
        if writer_sim::input_key(&job.application_id, &job.inputs) != key_of(row) {
            let whose = rows
                .iter()
                .find(|r| key_of(r) == writer_sim::input_key(&job.application_id, &job.inputs))
                .map(|r| format!("row {}'s", r.key))
                .unwrap_or_else(|| "another client's".into());
            wrong.push(format!(
                "{} ({}) was given job {id}, made ({:?}) from {whose} inputs",
                o.key,
                o.result.name(),
                job.origin
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{scenario}: promise (b) broken, {} rows were given another row's job:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

/// A simulator (200x, jobs of 5-10 s, half of them failing, retries
/// answered with a new id) whose first job fails ([`SEED_FIRST_JOB_FAILS`]).
async fn sim_whose_first_job_fails() -> Simulator {
    start(
        Simulator::builder()
            .scale(200.0)
            .seed(SEED_FIRST_JOB_FAILS)
            .retry_new_id(true)
            .duration(DurationDist::Uniform {
                min_secs: 5.0,
                max_secs: 10.0,
            })
            .failure_rate(0.5),
    )
    .await
}

/// Whether the simulator will fail the only job made so far (the seed
/// decides each job's fate from its sequence number).
fn first_job_fails(sim: &Simulator) -> bool {
    sim.job_ids(APP)
        .last()
        .and_then(|id| sim.job(id))
        .is_some_and(|j| j.outcome == writer_sim::JobStatus::Failed)
}

/// On an application declared exclusive, row A's job fails and its retry
/// (answered with a new id) lands but its answer is lost: the new job is
/// the batch's own, with A's inputs, and no row knows its id. Row B's
/// create, sent just before, was answered 500 and did not land. B's window
/// holds exactly one job no row owns, A's retried job, and B adopts it:
/// timing alone cannot tell our own lost retries from a lost create, even
/// when no other client exists.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_an_exclusive_application_a_lost_retrys_job_is_not_given_to_another_row() {
    let scenario =
        "exclusive application, a retry's answer lost, another row's create answered 500";
    let sim = sim_whose_first_job_fails().await;
    let client = client_for(&sim, &sim.base_url(), Duration::from_secs(60));
    let rows = rows(2, "exclusive");
    let (tx, rx) = futures::channel::mpsc::unbounded();
    let run = Batch::new(client, APP)
        .exclusive_application(true)
        .job_retries(1)
        .max_server_hold(Duration::from_secs(60))
        .run(rx)
        .await
        .expect("batch starts");
    tx.unbounded_send(rows[0].clone()).unwrap();
    wait_created(&run, 1, scenario).await;
    assert!(
        first_job_fails(&sim),
        "{scenario}: setup: the seed must fail row 0's first job"
    );
    sim.set_faults(
        FaultConfig::parse_compact("create:500=1.0,retry:accept_then_drop=1.0").unwrap(),
    )
    .unwrap();
    tx.unbounded_send(rows[1].clone()).unwrap();
    drop(tx);
    let (outcomes, ()) = tokio::join!(
        collect_within(run, Duration::from_secs(30), &sim, rows.len(), scenario),
        clear_faults_after(&sim, writer_sim::FaultKind::AcceptThenDrop, 1)
    );
    let stats = sim.stats();
    println!(
        "{scenario}: {:?}; creates answered 500: {}, retries dropped after landing: {}",
        tally(&outcomes),
        stats.faults_of(writer_sim::FaultKind::Status500),
        stats.faults_of(writer_sim::FaultKind::AcceptThenDrop)
    );
    assert!(
        stats.faults_of(writer_sim::FaultKind::AcceptThenDrop) == 1,
        "{scenario}: setup: one retry was dropped after landing"
    );
    assert_each_row_once(&outcomes, &rows, scenario);
    assert_right_outputs(&outcomes, &rows, scenario);
    assert_own_jobs(&sim, &outcomes, &rows, scenario);
    assert_no_duplicate_jobs(&sim, &rows, scenario);
}

/// The resumed twin, with no lost answer at all: row B's create was
/// answered 500 (it did not land); row A's job, created just after, failed
/// and was retried with a new id (recorded). The run is killed while B
/// waits for its window to pass. The resumed run knows A only by its new
/// job id: A's first job, inside B's window, looks like no row's, and on
/// an exclusive application B adopts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_does_not_forget_a_retried_rows_first_job() {
    let scenario = "exclusive application, resumed after a retry with a new id";
    let sim = sim_whose_first_job_fails().await;
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("retried.journal");
    let rows = rows(2, "forgotten");
    let batch = Batch::new(
        client_for(&sim, &sim.base_url(), Duration::from_secs(60)),
        APP,
    )
    .journal(&journal)
    .exclusive_application(true)
    .job_retries(1)
    .max_server_hold(Duration::from_secs(120));
    let (tx, rx) = futures::channel::mpsc::unbounded();
    let run = batch.clone().run(rx).await.expect("batch starts");
    sim.set_faults(FaultConfig::parse_compact("create:500=1.0").unwrap())
        .unwrap();
    tx.unbounded_send(rows[0].clone()).unwrap();
    let give_up = tokio::time::Instant::now() + Duration::from_secs(10);
    while sim.stats().faults_of(writer_sim::FaultKind::Status500) < 1 {
        assert!(
            tokio::time::Instant::now() < give_up,
            "{scenario}: setup: no 500"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    sim.set_faults(FaultConfig::none()).unwrap();
    tx.unbounded_send(rows[1].clone()).unwrap();
    wait_created(&run, 1, scenario).await;
    assert!(
        first_job_fails(&sim),
        "{scenario}: setup: the seed must fail row 1's first job"
    );
    let retried = || {
        std::fs::read_to_string(&journal)
            .unwrap_or_default()
            .contains(r#""type":"retried""#)
    };
    let give_up = tokio::time::Instant::now() + Duration::from_secs(10);
    while !retried() {
        assert!(
            tokio::time::Instant::now() < give_up,
            "{scenario}: setup: the retry was not recorded"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let reconciling = run.progress().borrow().reconciling;
    drop(run);
    drop(tx);
    assert_eq!(
        reconciling, 1,
        "{scenario}: setup: row 0 was still reconciling at the kill"
    );

    let run = run_resuming(&batch, &rows).await;
    let outcomes = collect_within(run, Duration::from_secs(30), &sim, rows.len(), scenario).await;
    if std::env::var_os("PROMISE_DEBUG").is_some() {
        dump(&sim, &journal);
    }
    println!("{scenario}: resumed: {:?}", tally(&outcomes));
    for o in &outcomes {
        println!("  {} {} job {:?}", o.key, o.result.name(), o.job_id);
    }
    assert_each_row_once(&outcomes, &rows, scenario);
    assert_right_outputs(&outcomes, &rows, scenario);
    assert_own_jobs(&sim, &outcomes, &rows, scenario);
    assert_no_duplicate_jobs(&sim, &rows, scenario);
}

/// The create endpoint answers 500 to every create (an application broken
/// on the server side for hours) while everything else works. Each create
/// is ambiguous, reconciled, found not landed, and sent again: nothing
/// bounds that loop (the row's deadline bounds only a job being waited
/// for), so the run never ends. Each row must end within a bound derived
/// from its deadlines (here 300 simulated seconds a row).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creates_always_answered_500_do_not_loop_forever() {
    const SCALE: f64 = 1000.0;
    let scenario = "every create answered 500, the rest of the API up";
    let faults = FaultConfig::parse_compact("create:500=1.0").unwrap();
    let sim = start(
        Simulator::builder()
            .scale(SCALE)
            .seed(501)
            .duration(DurationDist::Uniform {
                min_secs: 5.0,
                max_secs: 10.0,
            })
            .failure_rate(0.0)
            .faults(faults),
    )
    .await;
    let client = client_for(&sim, &sim.base_url(), Duration::from_secs(60));
    let rows = rows(3, "refused");
    let run = Batch::new(client, APP)
        .max_server_hold(Duration::from_secs(10))
        .poll_policy(
            PollPolicy::builder()
                .deadline(Duration::from_secs(300))
                .build()
                .unwrap(),
        )
        .run(futures::stream::iter(rows.clone()))
        .await
        .expect("batch starts");
    // 5,000 simulated seconds: over 16 times the row's deadline.
    let outcomes = collect_within(
        run,
        Duration::from_secs_f64(5_000.0 / SCALE),
        &sim,
        rows.len(),
        scenario,
    )
    .await;
    println!(
        "{scenario}: {:?}; creates answered 500: {}",
        tally(&outcomes),
        sim.stats().faults_of(writer_sim::FaultKind::Status500)
    );
    assert_promises(&sim, &outcomes, &rows, scenario);
}

/// Found by the swarm (seed 1046): the resumed twin of the lost retry. Row
/// A's job fails and its retry (answered with a new id) lands but its
/// answer is lost; row B's create is answered 500 (it did not land); the
/// run is killed. The resumed run must still know that A's retry may have
/// made a job of the batch's: on an exclusive application, B must not adopt
/// the one job in its window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_keeps_a_lost_retrys_window() {
    let scenario = "exclusive application, a retry's answer lost, killed, resumed";
    let sim = sim_whose_first_job_fails().await;
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("lost-retry.journal");
    let client = client_for(&sim, &sim.base_url(), Duration::from_secs(60));
    let rows = rows(2, "lostretry");
    let batch = Batch::new(client, APP)
        .journal(&journal)
        .exclusive_application(true)
        .job_retries(1)
        .max_server_hold(Duration::from_secs(60));
    let (tx, rx) = futures::channel::mpsc::unbounded();
    let run = batch.clone().run(rx).await.expect("batch starts");
    tx.unbounded_send(rows[0].clone()).unwrap();
    wait_created(&run, 1, scenario).await;
    assert!(
        first_job_fails(&sim),
        "{scenario}: setup: the seed must fail row 0's first job"
    );
    sim.set_faults(
        FaultConfig::parse_compact("create:500=1.0,retry:accept_then_drop=1.0").unwrap(),
    )
    .unwrap();
    tx.unbounded_send(rows[1].clone()).unwrap();
    let give_up = tokio::time::Instant::now() + Duration::from_secs(10);
    let landed = |sim: &Simulator| {
        let stats = sim.stats();
        stats.faults_of(writer_sim::FaultKind::AcceptThenDrop) >= 1
            && stats.faults_of(writer_sim::FaultKind::Status500) >= 1
    };
    while !landed(&sim) {
        assert!(
            tokio::time::Instant::now() < give_up,
            "{scenario}: setup: the retry was not dropped and the create not refused in time"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    // kill -9: the journal stays as it was.
    drop(run);
    drop(tx);
    sim.set_faults(FaultConfig::none()).unwrap();

    let run = run_resuming(&batch, &rows).await;
    let outcomes = collect_within(run, Duration::from_secs(30), &sim, rows.len(), scenario).await;
    println!(
        "{scenario}: resumed: {:?}; retry jobs {}",
        tally(&outcomes),
        sim.stats().retry_jobs_created
    );
    assert_each_row_once(&outcomes, &rows, scenario);
    assert_right_outputs(&outcomes, &rows, scenario);
    assert_own_jobs(&sim, &outcomes, &rows, scenario);
    assert_no_duplicate_jobs(&sim, &rows, scenario);
}

/// A job-level retry waits for the request budget like any request. Its
/// intent must be written when it goes on the wire, not when the sweep
/// saw the job failed: a resumed run rebuilds the lost retry's window from
/// the intent alone, and a retry sent 30 s after an intent written early
/// made its job outside that window, so the resumed run judged it "did
/// not land" and made the row's job again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_covers_a_lost_retry_that_waited_for_its_permit() {
    let scenario = "a retry held 30 s by the rate limit, its answer lost, killed, resumed";
    let sim = sim_whose_first_job_fails().await;
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("slow-retry.journal");
    let client = client_for(&sim, &sim.base_url(), Duration::from_secs(60));
    let rows = rows(1, "slowretry");
    let batch = Batch::new(client, APP)
        .journal(&journal)
        .job_retries(2)
        .rate(Rate::per_minute(2.0).with_burst(1))
        .max_server_hold(Duration::from_secs(2));
    let (tx, rx) = futures::channel::mpsc::unbounded();
    let run = batch.clone().run(rx).await.expect("batch starts");
    tx.unbounded_send(rows[0].clone()).unwrap();
    wait_created(&run, 1, scenario).await;
    assert!(
        first_job_fails(&sim),
        "{scenario}: setup: the seed must fail row 0's first job"
    );
    sim.set_faults(FaultConfig::parse_compact("retry:accept_then_drop=1.0").unwrap())
        .unwrap();
    let give_up = tokio::time::Instant::now() + Duration::from_secs(10);
    while sim.stats().faults_of(writer_sim::FaultKind::AcceptThenDrop) == 0 {
        assert!(
            tokio::time::Instant::now() < give_up,
            "{scenario}: setup: the retry was not dropped in time"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    // kill -9 once the retry made its job: the journal stays as it was.
    drop(run);
    drop(tx);
    sim.set_faults(FaultConfig::none()).unwrap();

    let run = run_resuming(&batch, &rows).await;
    let outcomes = collect_within(run, Duration::from_secs(30), &sim, rows.len(), scenario).await;
    println!(
        "{scenario}: resumed: {:?}; retry jobs {}",
        tally(&outcomes),
        sim.stats().retry_jobs_created
    );
    assert_each_row_once(&outcomes, &rows, scenario);
    assert_right_outputs(&outcomes, &rows, scenario);
    assert_no_duplicate_jobs(&sim, &rows, scenario);
    if let Err(twice) = common::invariants::no_job_retried_twice(&sim, APP) {
        panic!("{scenario}: promise (a) broken, a job was retried twice: {twice}");
    }
    assert_retry_jobs_claimed(&sim, &outcomes, &rows, scenario);
}

/// Killed twice, each time with an in-place retry acted on but not
/// answered (the server reruns the job at once and answers late), then
/// resumed to the end: each unanswered retry the journal holds counts as a
/// run of the row. It used to count one however many there were: a row
/// allowed 3 runs ran 4 times (found by adversary round 7).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_retry_left_unanswered_by_a_kill_counts_as_a_run() {
    let scenario = "in-place retries acted on at once, answered late, killed twice";
    let sim = start(
        Simulator::builder()
            .scale(100.0)
            .seed(1)
            .retry_new_id(false)
            .duration(DurationDist::Fixed { secs: 5.0 })
            .failure_rate(1.0)
            .faults(FaultConfig::parse_compact("retry:slow=1.0,slow_secs=1000").unwrap()),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let client = client_for(&sim, &sim.base_url(), Duration::from_secs(60));
    let rows = rows(1, "killedretry");
    let batch = Batch::new(client, APP)
        .journal(dir.path().join("killed-retry.journal"))
        .job_retries(2)
        .max_server_hold(Duration::from_secs(5));
    // Runs 2 and 3 of the job: each started by a retry, then kill -9.
    for runs in [2, 3] {
        let run = run_resuming(&batch, &rows).await;
        let give_up = tokio::time::Instant::now() + Duration::from_secs(10);
        while job_runs(&sim) < runs {
            assert!(
                tokio::time::Instant::now() < give_up,
                "{scenario}: setup: run {runs} of the job did not start"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        drop(run);
    }
    let run = run_resuming(&batch, &rows).await;
    let outcomes = collect_within(run, Duration::from_secs(30), &sim, rows.len(), scenario).await;
    println!(
        "{scenario}: {:?}; job runs {}",
        tally(&outcomes),
        job_runs(&sim)
    );
    assert_each_row_once(&outcomes, &rows, scenario);
    assert!(
        job_runs(&sim) <= 3,
        "{scenario}: promise (a) broken, the row's job ran {} times with 2 retries allowed",
        job_runs(&sim)
    );
}

/// How many times the server ran the application's jobs, retries included.
fn job_runs(sim: &Simulator) -> u32 {
    common::invariants::job_runs(sim, APP)
}

/// A known limit, kept as a failing test: a budget far below what reading
/// the application takes (2 requests a minute, an application growing 60
/// jobs a minute with 300 older ones), every retry's answer lost. No
/// reconciliation listing reads back to a lost retry's window before the
/// row's give-up time (its settle plus the poll deadline), so the row is
/// reported ambiguous with no candidate, its reason saying why, though the
/// retry's job exists: promise (d) holds only while listings can keep up.
/// The give-up is what keeps promise (e) (the run ends); a fix would give
/// reconciliation pages priority over sweeps and creates in the limiter.
/// Found by adversary round 7 (B-2).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "known limit: a starving budget gives up lost retries without candidates"]
async fn under_a_starving_budget_a_lost_retrys_job_is_still_listed() {
    let scenario = "2 requests a minute, a busy application, every retry's answer lost";
    let busy = AppConfig::demo().tenants(TenantConfig {
        prefill_jobs: 300,
        jobs_per_minute: 60.0,
    });
    let sim = start(
        Simulator::builder()
            .scale(300.0)
            .seed(1)
            .apps(vec![busy])
            .retry_new_id(true)
            .duration(DurationDist::Uniform {
                min_secs: 5.0,
                max_secs: 30.0,
            })
            .failure_rate(1.0)
            .faults(FaultConfig::parse_compact("retry:accept_then_drop=1.0").unwrap()),
    )
    .await;
    let rows = rows(20, "starved");
    let setup = |b: Batch| {
        b.job_retries(1)
            .rate(Rate::per_minute(2.0))
            .max_server_hold(Duration::from_secs(30))
    };
    let outcomes = run_on(&sim, &rows, setup, Duration::from_secs(120), scenario).await;
    println!("{scenario}: {:?}", tally(&outcomes));
    assert_each_row_once(&outcomes, &rows, scenario);
    assert_retry_jobs_claimed(&sim, &outcomes, &rows, scenario);
}

/// A simulator answering retries with a new id, where half the job runs
/// fail and every retry's answer is lost after it made its job (clock
/// `scale`, random choices by `seed`).
async fn sim_whose_retries_are_all_lost(scale: f64, seed: u64) -> Simulator {
    let faults = FaultConfig::parse_compact("retry:accept_then_drop=1.0").unwrap();
    start(
        Simulator::builder()
            .scale(scale)
            .seed(seed)
            .retry_new_id(true)
            .duration(DurationDist::Uniform {
                min_secs: 5.0,
                max_secs: 20.0,
            })
            .failure_rate(0.5)
            .faults(faults),
    )
    .await
}

/// Promise (d) for job-level retries: every job a retry made (answered
/// with a new id, or its answer lost) is its row's final job, or among its
/// candidates, or was retried in turn (the batch followed it), never
/// dropped (e.g. the row reported failed with the job it retried).
fn assert_retry_jobs_claimed(sim: &Simulator, outcomes: &[Outcome], rows: &[Row], scenario: &str) {
    let mut lost = Vec::new();
    let jobs: Vec<_> = sim
        .job_ids(APP)
        .iter()
        .filter_map(|id| sim.job(id))
        .collect();
    let retried: HashSet<&str> = jobs.iter().filter_map(|j| j.retry_of.as_deref()).collect();
    for job in &jobs {
        let id = &job.id;
        if job.origin != JobOrigin::Retry || retried.contains(id.as_str()) {
            continue;
        }
        let claimed = outcomes.iter().any(|o| match &o.result {
            OutcomeResult::Ambiguous { candidates, .. } => candidates.contains(id),
            _ => o.job_id.as_deref() == Some(id.as_str()),
        });
        if !claimed {
            let inputs = writer_sim::input_key(&job.application_id, &job.inputs);
            let row = rows.iter().find(|r| key_of(r) == inputs);
            let outcome = row.and_then(|r| outcomes.iter().find(|o| o.key == r.key));
            lost.push(format!(
                "{id} (a retry of {:?}); its row's outcome: {outcome:?}",
                job.retry_of
            ));
        }
    }
    assert!(
        lost.is_empty(),
        "{scenario}: promise (d) broken, {} jobs made by retries are neither their row's nor \
         among its candidates:\n{}",
        lost.len(),
        lost.join("\n")
    );
}

/// How many retries the server refused with 409: with retries answered
/// with a new id, a second retry of a job already retried. The batch must
/// never send one (after a lost retry it reconciles, never retries blind).
fn retries_refused(sim: &Simulator) -> u64 {
    sim.stats()
        .by_operation_status
        .get("retry")
        .and_then(|by| by.get(&409))
        .copied()
        .unwrap_or(0)
}

// ----- job-level retries under adversity (adversary round 5) -----------------

/// A retry still on the wire (60 s slow) when its row's 15 min wait runs
/// out: the row used to end `timed_out` with the failed job and drop the
/// retry's answer, losing the new job it names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_on_the_wire_at_the_rows_deadline_is_not_lost() {
    let scenario = "retries 60 s slow, jobs failing after 840-899 s";
    let faults = FaultConfig::parse_compact("retry:slow=1.0,slow_secs=60").unwrap();
    let sim = start(
        Simulator::builder()
            .scale(200.0)
            .seed(7)
            .retry_new_id(true)
            .duration(DurationDist::Uniform {
                min_secs: 840.0,
                max_secs: 899.0,
            })
            .failure_rate(0.6)
            .faults(faults),
    )
    .await;
    let rows = rows(30, "lateretry");
    let outcomes = run_on(
        &sim,
        &rows,
        |b| b.job_retries(1),
        Duration::from_secs(60),
        scenario,
    )
    .await;
    println!(
        "{scenario}: {:?}; retry jobs {}",
        tally(&outcomes),
        sim.stats().retry_jobs_created
    );
    assert!(
        sim.stats().retry_jobs_created > 0,
        "{scenario}: setup: no retry made a job"
    );
    assert_promises(&sim, &outcomes, &rows, scenario);
    assert_retry_jobs_claimed(&sim, &outcomes, &rows, scenario);
}

/// The answer to a row's last allowed retry is lost: the retry may have
/// made a job (here it did, and it may complete). The row used to end
/// `failed` with the job it retried, the new job dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lost_answer_to_the_last_allowed_retry_is_reconciled() {
    let scenario = "every retry's answer lost, one retry allowed";
    let sim = sim_whose_retries_are_all_lost(200.0, 11).await;
    let rows = rows(30, "lastretry");
    let setup = |b: Batch| {
        b.job_retries(1)
            .exclusive_application(true)
            .max_server_hold(Duration::from_secs(5))
    };
    let outcomes = run_on(&sim, &rows, setup, Duration::from_secs(30), scenario).await;
    println!(
        "{scenario}: {:?}; retry jobs {}",
        tally(&outcomes),
        sim.stats().retry_jobs_created
    );
    assert!(
        sim.stats().retry_jobs_created > 0,
        "{scenario}: setup: no retry made a job"
    );
    assert_promises(&sim, &outcomes, &rows, scenario);
    assert_retry_jobs_claimed(&sim, &outcomes, &rows, scenario);
}

/// With `--on-ambiguous resend`, lost retries that reconciliation cannot
/// settle (several rows' retries lost at once on a shared application, so
/// a window holds jobs no row claims): retrying the failed job again
/// cannot make the row's job anew (a server answering retries with a new
/// id refuses a second retry of a job, 409), so the row is reported with
/// its candidates, as without resend. It used to be retried blind: 409s,
/// the row ended `failed` and the lost retry's job was listed nowhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_resend_an_unsettled_lost_retry_is_reported_not_retried_blind() {
    let scenario = "every retry's answer lost, resend asked, shared application";
    let sim = sim_whose_retries_are_all_lost(200.0, 11).await;
    let rows = rows(30, "resendretry");
    let setup = |b: Batch| {
        b.job_retries(2)
            .on_ambiguous(AmbiguousPolicy::Resend)
            .max_server_hold(Duration::from_secs(5))
    };
    let outcomes = run_on(&sim, &rows, setup, Duration::from_secs(30), scenario).await;
    println!(
        "{scenario}: {:?}; retry jobs {}, retries refused {}",
        tally(&outcomes),
        sim.stats().retry_jobs_created,
        retries_refused(&sim)
    );
    assert!(
        sim.stats().retry_jobs_created > 0,
        "{scenario}: setup: no retry made a job"
    );
    assert_promises(&sim, &outcomes, &rows, scenario);
    assert_retry_jobs_claimed(&sim, &outcomes, &rows, scenario);
    assert_eq!(
        retries_refused(&sim),
        0,
        "{scenario}: a job already retried was retried again"
    );
    for o in outcomes.iter().filter(|o| o.result.name() == "ambiguous") {
        assert!(
            o.attempts >= 2,
            "{scenario}: {} counts its lost retry's run: {o:?}",
            o.key
        );
    }
}

/// Stopped (Ctrl-C) while a failed job's retry waits for its permit: the
/// retry is not sent (no new job once stopping), and the run must still
/// end; it used to wait for ever on the row left "retrying".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_while_a_retry_waits_for_its_permit_ends_the_run() {
    let scenario = "stopped while a retry waits 30 s for its permit";
    let sim = sim_whose_first_job_fails().await;
    let client = client_for(&sim, &sim.base_url(), Duration::from_secs(60));
    let rows = rows(1, "stopretry");
    let batch = Batch::new(client, APP)
        .job_retries(2)
        .rate(Rate::per_minute(2.0).with_burst(1));
    let (tx, rx) = futures::channel::mpsc::unbounded();
    let run = batch.run(rx).await.expect("batch starts");
    tx.unbounded_send(rows[0].clone()).unwrap();
    drop(tx);
    wait_created(&run, 1, scenario).await;
    assert!(
        first_job_fails(&sim),
        "{scenario}: setup: the seed must fail the row's first job"
    );
    // Once the job has failed, a sweep sees it and its retry waits for a
    // permit (2 requests a minute: each waits up to 30 s).
    let give_up = tokio::time::Instant::now() + Duration::from_secs(10);
    let failed_at = loop {
        let job = sim.job_ids(APP).first().and_then(|id| sim.job(id));
        if let Some(job) = job.filter(|j| j.status == writer_sim::JobStatus::Failed) {
            break job.finish_at;
        }
        assert!(
            tokio::time::Instant::now() < give_up,
            "{scenario}: setup: the job did not fail in time"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    };
    while sim.clock().now() < failed_at + chrono::Duration::seconds(45) {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    run.stop_handle().stop();
    let outcomes = collect_within(run, Duration::from_secs(20), &sim, rows.len(), scenario).await;
    println!("{scenario}: {:?}", tally(&outcomes));
    assert_eq!(
        sim.stats().retry_jobs_created,
        0,
        "{scenario}: a retry was sent while stopping"
    );
}

/// A retry's answer is lost, and the failed job is seen again only after
/// reconciliation listings of later creates went by (reads slow): the lost
/// retry's window used to be pruned by then, so the job was retried again
/// blind (the server, having made a job for the first retry, refuses the
/// second with 409) and the first retry's job was lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_retry_is_reconciled_however_late_its_job_is_seen_again() {
    let scenario = "half the retries' answers lost, slow reads, lost creates";
    let faults = FaultConfig::parse_compact(
        "retry:accept_then_drop=0.5,create:accept_then_drop=0.1,list:slow=0.3,get:slow=0.3,slow_secs=9",
    )
    .unwrap();
    let sim = start(
        Simulator::builder()
            .scale(100.0)
            .seed(4)
            .retry_new_id(true)
            .duration(DurationDist::Uniform {
                min_secs: 3.0,
                max_secs: 20.0,
            })
            .failure_rate(0.5)
            .faults(faults),
    )
    .await;
    let rows = rows(150, "forgotten");
    let setup = |b: Batch| {
        b.job_retries(3)
            .create_concurrency(1)
            .max_server_hold(Duration::from_secs(3))
    };
    let outcomes = run_on(&sim, &rows, setup, Duration::from_secs(60), scenario).await;
    let refused = retries_refused(&sim);
    println!(
        "{scenario}: {:?}; retry jobs {}, retries refused {refused}",
        tally(&outcomes),
        sim.stats().retry_jobs_created
    );
    assert_promises(&sim, &outcomes, &rows, scenario);
    assert_retry_jobs_claimed(&sim, &outcomes, &rows, scenario);
    assert_eq!(
        refused, 0,
        "{scenario}: a job was retried again after a lost retry, without reconciling it"
    );
}

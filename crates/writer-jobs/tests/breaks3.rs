//! Adversarial scenarios against the batch engine (third round), checked
//! from the SIMULATOR's records as in `breaks.rs` and `breaks2.rs`: no
//! input set has more jobs made by creates than rows carrying it, no row
//! is given output made from other inputs (or a job made from them), every
//! row is written exactly once, and a run ends within a bound of real
//! time.
//!
//! Tests marked `#[ignore = "break: ..."]` fail on the code they were
//! written against (6669b9a); each doc comment states the scenario, the
//! promise it breaks and the evidence from the simulator's records. Run
//! them with `cargo test -p writer-jobs --test breaks3 -- --ignored`. The
//! tests without `ignore` are their controls (they pass). By root cause:
//!
//! - the list is trusted to show every job at once and to be sorted by
//!   creation whenever the pages seen agree: a list that shows new jobs
//!   late (`a_list_that_shows_new_jobs_late_does_not_hide_a_create_landed_late_in_the_hold`)
//!   or is sorted by `updated_at`
//!   (`a_list_ordered_by_update_time_does_not_hide_a_landed_create`)
//!   hides a landed create: "did not land", sent again;
//! - the exclusivity of the application is the current run's, applied to
//!   an earlier run's windows
//!   (`exclusivity_declared_on_a_resume_does_not_adopt_a_job_of_the_shared_run_before`);
//! - on an exclusive application, the orphans are matched only to the
//!   creates still pending: a job-level retry on the wire
//!   (`a_retry_still_on_the_wire_does_not_give_its_new_job_to_another_row`)
//!   and a create already reported ambiguous
//!   (`a_row_reported_ambiguous_does_not_leave_its_job_to_another_row`,
//!   found by the swarm, seeds 6129 and 7026) are not among them, so their jobs are
//!   adopted by other rows;
//! - a job seen `completed` on a list page without its `data` is written
//!   with an empty result (`a_list_without_results_does_not_empty_the_rows_results`);
//! - jobs whose second-precision times tie have no fixed place in the
//!   list, so a listing read page by page can miss one
//!   (`jobs_tied_to_the_second_in_no_fixed_order_do_not_hide_a_landed_create`).

mod common;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::invariants;
use common::proxy::{Hold, ListView, Proxy, ProxyConfig};
use common::{collect_within, start};
use writer_jobs::batch::{Batch, Outcome, OutcomeResult, Row};
use writer_jobs::{Client, Inputs};
use writer_sim::{
    DurationDist, FaultConfig, FaultKind, ListConfig, OverMax, Simulator, SimulatorBuilder,
};

const APP: &str = "demo-product-descriptions";

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

/// A simulator at `scale` whose jobs never fail and last `secs`.
fn sim_builder(seed: u64, scale: f64, secs: f64) -> SimulatorBuilder {
    Simulator::builder()
        .scale(scale)
        .seed(seed)
        .duration(DurationDist::Fixed { secs })
        .failure_rate(0.0)
}

/// A client of `base_url` on the simulator's clock, giving up on a request
/// after `timeout` (simulated time).
fn client_via(sim: &Simulator, base_url: &str, timeout: Duration) -> Client {
    Client::builder()
        .api_key(sim.api_key())
        .base_url(base_url)
        .clock(common::OffsetClock::new(sim, 0))
        .request_timeout(timeout)
        .build()
        .expect("client")
}

/// Checks the promises on a finished run, from the simulator's records.
fn check(sim: &Simulator, outcomes: &[Outcome], rows: &[Row], scenario: &str) {
    invariants::check(sim, APP, outcomes, rows, scenario);
}

/// A job's time field as the list shows it.
fn time_of(job: &serde_json::Value, field: &str) -> DateTime<Utc> {
    job.get(field)
        .and_then(|v| v.as_str())
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

// ----- the list shows a new job late ------------------------------------------

/// Scenario: a create is held by the server (or a load balancer in front
/// of it) for 58 s, within the 60 s `max_server_hold` the batch was told;
/// the client gave up on it after 5 s, so it is ambiguous. The list
/// endpoint shows a new job only some time after it was made (a read
/// replica or a search index behind the list: read-after-write
/// consistency of the list is documented nowhere, and the README's table
/// of what the API does not promise does not mention it). Here the lag is
/// 30 s; with a create landing at the very end of the hold, any lag longer
/// than the time from the landing to the reconciliation listing does the
/// same.
///
/// The reconciler lists as soon as the window has settled (last send +
/// hold + the skew bound's width): the job made at 58 s is not on the list
/// yet, so "no orphan in the window: it did not land", and the row is sent
/// again.
///
/// Broken: promise 1 (no job is ever created twice for one row). Evidence:
/// the simulator holds two jobs made by creates with the row's inputs
/// (`no_duplicate_jobs`). Fix idea: do not judge "did not land" from a
/// listing made right at the window's end; list again after a settling
/// margin (or re-list before every resend), or make the lag a setting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "known limit (README: what the API does not promise): a list that shows new jobs later than the hold allows hides a create that landed at the end of the hold"]
async fn a_list_that_shows_new_jobs_late_does_not_hide_a_create_landed_late_in_the_hold() {
    lagging_list_run(
        30,
        60,
        "list lagging 30 s, a create landing 58 s into a 60 s hold",
    )
    .await;
}

/// The remedy the README gives for a list that shows new jobs late: a hold
/// that also covers the lag (`--max-server-hold` 60 s + 30 s). The window
/// is judged only after the job shows: found, no second create.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_lag_counted_in_the_hold_hides_no_landed_create() {
    lagging_list_run(
        30,
        90,
        "list lagging 30 s, a create landing 58 s into a 60 + 30 s hold",
    )
    .await;
}

/// The control of the break above: the same held create, on a list that
/// shows every job at once: found, adopted, no second create.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_landed_late_in_the_hold_is_found_on_a_list_without_lag() {
    lagging_list_run(
        0,
        60,
        "list without lag, a create landing 58 s into a 60 s hold",
    )
    .await;
}

async fn lagging_list_run(lag_secs: i64, hold_secs: u64, scenario: &str) {
    const SCALE: f64 = 200.0;
    let sim = start(sim_builder(3001, SCALE, 8.0)).await;
    let clock = sim.clock().clone();
    let lag = chrono::Duration::seconds(lag_secs);
    let view = ListView(Arc::new(move |all: Vec<serde_json::Value>, _, _| {
        let now = clock.now();
        all.into_iter()
            .filter(|job| time_of(job, "created_at") <= now - lag)
            .collect()
    }));
    let proxy = Proxy::start(
        &sim.base_url(),
        ProxyConfig {
            // The first create is answered (it measures the server's
            // clock); the second lands 58 s after it was sent.
            hold: Some(Hold {
                skip: 1,
                count: 1,
                delay: Duration::from_secs(58),
                scale: SCALE,
            }),
            list_view: Some(view),
            ..ProxyConfig::default()
        },
    )
    .await;
    let rows = rows(2, "lagged");
    let run = Batch::new(
        client_via(&sim, &proxy.base_url, Duration::from_secs(5)),
        APP,
    )
    .create_concurrency(1)
    .max_server_hold(Duration::from_secs(hold_secs))
    .run(futures::stream::iter(rows.clone()))
    .await
    .expect("batch starts");
    let outcomes = collect_within(run, Duration::from_secs(30), scenario).await;
    invariants::show(scenario, &outcomes);
    assert_eq!(
        proxy
            .counters()
            .held_forwarded
            .load(std::sync::atomic::Ordering::SeqCst),
        1,
        "setup: the held create reached the server"
    );
    check(&sim, &outcomes, &rows, scenario);
}

// ----- a list in another order that looks newest first ------------------------

/// Scenario: the list is ordered by `updated_at`, newest first (the most
/// recently active jobs first: a common choice, and Writer documents no
/// order). Another tenant's 40 jobs, made before the batch, finish while
/// the batch's second create is ambiguous (held past the client's 5 s
/// timeout, landing 10 s after it was sent, within the 60 s hold); the
/// landed job is still running (jobs take 200 s), so its `updated_at` is
/// its creation and it sorts behind the tenant's freshly finished jobs.
///
/// Every page the engine reads shows creation times strictly decreasing
/// (the tenant's jobs all last as long, so they finish in the order they
/// were made, and the first sweeps saw running jobs, ordered by creation
/// too): the engine takes the list to be newest first. The reconciliation
/// listing reads page 1 (the tenant's jobs, all made before the window),
/// stops at a job older than the window ("newest first: nothing later can
/// be in it"), finds no orphan, and sends the row again. The landed job
/// was on page 3.
///
/// Broken: promise 1 (no job is ever created twice for one row). Evidence:
/// the simulator holds two jobs made by creates with the row's inputs
/// (`no_duplicate_jobs`). The inference "pages side by side in creation
/// order, so the list is newest first" is unsound for a list sorted by
/// another key that agrees with creation order on the pages seen. Fix
/// idea: stop early only when the server documents the order (or a
/// setting says so), else read to the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "known limit (README: what the API does not promise): a list ordered by updated_at looks newest first, and reconciliation stops before the landed job"]
async fn a_list_ordered_by_update_time_does_not_hide_a_landed_create() {
    update_order_run(
        true,
        "list ordered by updated_at, a landed create still running",
    )
    .await;
}

/// The control of the break above: the same jobs and held create on the
/// list newest first by creation: the landed job is on page 1, adopted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_landed_create_still_running_is_found_on_a_list_newest_first() {
    update_order_run(false, "list newest first, a landed create still running").await;
}

async fn update_order_run(by_update: bool, scenario: &str) {
    const SCALE: f64 = 100.0;
    const PAGE: u64 = 20;
    let sim = start(sim_builder(3002, SCALE, 200.0)).await;
    let view = ListView(Arc::new(move |mut all: Vec<serde_json::Value>, _, _| {
        if by_update {
            all.sort_by_key(|job| {
                std::cmp::Reverse((time_of(job, "updated_at"), time_of(job, "created_at")))
            });
        }
        all
    }));
    let proxy = Proxy::start(
        &sim.base_url(),
        ProxyConfig {
            hold: Some(Hold {
                skip: 1,
                count: 1,
                delay: Duration::from_secs(10),
                scale: SCALE,
            }),
            list_view: Some(view),
            ..ProxyConfig::default()
        },
    )
    .await;
    // The other tenant's jobs, made at once.
    let tenant = client_via(&sim, &sim.base_url(), Duration::from_secs(60));
    let made = futures::future::join_all((0..2 * PAGE).map(|i| {
        let tenant = tenant.clone();
        async move {
            tenant
                .create_job(
                    APP,
                    &Inputs::new().text("Product name", format!("tenant #{i}")),
                )
                .await
                .expect("a tenant job is created")
        }
    }))
    .await;
    let first = made.iter().map(|j| j.created_at).min().unwrap();
    let last = made.iter().map(|j| j.created_at).max().unwrap();
    assert!(
        last - first < chrono::Duration::seconds(40),
        "setup: the tenant's jobs were made over {} (too slow a machine)",
        last - first
    );
    // The batch starts 145 s after the last of them: they finish between
    // the landed create (10 s in) and the reconciliation (60 s in).
    common::wait_until("the batch's start", || {
        sim.clock().now() >= last + chrono::Duration::seconds(145)
    })
    .await;
    let rows = rows(2, "updated");
    let run = Batch::new(
        client_via(&sim, &proxy.base_url, Duration::from_secs(5)),
        APP,
    )
    .create_concurrency(1)
    .page_size(PAGE)
    .max_server_hold(Duration::from_secs(60))
    .run(futures::stream::iter(rows.clone()))
    .await
    .expect("batch starts");
    let outcomes = collect_within(run, Duration::from_secs(60), scenario).await;
    invariants::show(scenario, &outcomes);
    check(&sim, &outcomes, &rows, scenario);
}

// ----- exclusivity declared on a resume only -----------------------------------

/// Scenario: run 1 is started on a shared application (no
/// `--exclusive-app`): another tenant creates jobs there. Row 1's create
/// is answered 500 (the simulator's 500 comes before the handler: no job
/// was made), and a tenant's job is made right after, inside row 1's
/// window; run 1 is killed before judging it. The user resumes with
/// `--exclusive-app` (the tenant has finished: from now on, only this
/// batch creates jobs, which holds). The resumed run places run 1's window
/// by run 1's own evidence (row 0's create), finds one orphan in it, the
/// tenant's job, and, the application being "exclusive", adopts it: row 1
/// is written `completed` with the tenant's output.
///
/// `Batch::exclusive_application` declares that only *this run* creates
/// jobs while it runs; the journal does not record whether the earlier
/// run was declared exclusive, and the resumed run applies its own
/// declaration to windows that lie in the earlier run's time.
///
/// Broken: promise 2 (no row is given another client's job). Evidence: the
/// row's job in the outcome is the tenant's, whose inputs (simulator
/// records) are not the row's (`right_outputs`). Fix idea: record the
/// declaration in each run's header line and match an earlier run's
/// windows as exclusive only when that run was declared so too.
/// Fixed: each run's header records its declaration (journal format 5),
/// and a resumed run matches orphans as on an exclusive application only
/// when every window an earlier run left lies in a run declared so too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exclusivity_declared_on_a_resume_does_not_adopt_a_job_of_the_shared_run_before() {
    toggled_exclusive_run(
        true,
        "run 1 shared (a tenant's job in row 1's window), resumed --exclusive-app",
    )
    .await;
}

/// The control of the break above: resumed without `--exclusive-app`,
/// the tenant's job is reported as row 1's candidate, never adopted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_resume_reports_a_job_of_the_shared_run_before_as_a_candidate() {
    toggled_exclusive_run(
        false,
        "run 1 shared (a tenant's job in row 1's window), resumed shared",
    )
    .await;
}

async fn toggled_exclusive_run(exclusive_on_resume: bool, scenario: &str) {
    use writer_sim::{FaultConfig, FaultKind};
    let sim = start(sim_builder(3003, 200.0, 8.0)).await;
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("toggle.journal");
    let rows = rows(2, "toggle");
    let batch = |exclusive: bool| {
        Batch::new(
            client_via(&sim, &sim.base_url(), Duration::from_secs(120)),
            APP,
        )
        .journal(&journal)
        .create_concurrency(1)
        .exclusive_application(exclusive)
        .max_server_hold(Duration::from_secs(30))
    };
    let (run, tx) = common::run_fed(&batch(false)).await;
    tx.unbounded_send(rows[0].clone()).unwrap();
    common::wait_until("row 0's create answered", || {
        run.progress().borrow().created >= 1
    })
    .await;
    sim.set_faults(FaultConfig::parse_compact("create:500=1.0").unwrap())
        .unwrap();
    tx.unbounded_send(rows[1].clone()).unwrap();
    common::wait_until("row 1's create answered 500", || {
        sim.stats().faults_of(FaultKind::Status500) >= 1
    })
    .await;
    sim.set_faults(FaultConfig::none()).unwrap();
    // The tenant's job, inside row 1's window (run 1 is shared).
    let tenant = client_via(&sim, &sim.base_url(), Duration::from_secs(60))
        .create_job(
            APP,
            &Inputs::new().text("Product name", "the tenant's product"),
        )
        .await
        .expect("the tenant's job is created")
        .id;
    sim.clock().sleep(Duration::from_secs(2)).await;
    drop(run);
    drop(tx);

    let all = rows.clone();
    let run = common::run_resuming(&batch(exclusive_on_resume), || {
        futures::stream::iter(all.clone())
    })
    .await;
    let outcomes = collect_within(run, Duration::from_secs(30), scenario).await;
    invariants::show(scenario, &outcomes);
    assert!(
        outcomes
            .iter()
            .all(|o| o.job_id.as_deref() != Some(&tenant)),
        "{scenario}: a row was given the tenant's job {tenant}"
    );
    check(&sim, &outcomes, &rows, scenario);
}

// ----- a job-level retry still on the wire --------------------------------------

/// Every row that names a job is given a job made from its own inputs
/// (the simulator's records), whatever the job's status: promise 2 for
/// rows that did not complete too.
fn own_jobs(sim: &Simulator, outcomes: &[Outcome], rows: &[Row], scenario: &str) {
    for o in outcomes {
        let (Some(id), Some(row)) = (&o.job_id, rows.iter().find(|r| r.key == o.key)) else {
            continue;
        };
        if matches!(o.result, OutcomeResult::Ambiguous { .. }) {
            continue;
        }
        let job = sim.job(id).expect("the row's job exists");
        assert_eq!(
            writer_sim::input_key(&job.application_id, &job.inputs),
            common::invariants::input_set(APP, row),
            "{scenario}: row {} ({}) was given job {id}, made from another row's inputs",
            o.key,
            o.result.name()
        );
    }
}

/// Scenario: an application declared exclusive; job-level retries answer
/// with a new job (`retry_new_id`), and the server answers a retry 120 s
/// after acting on it (the simulator's `retry:slow`: the new job is made
/// at once, the answer comes late). Row 0's job fails and is retried: its
/// new job is made at once, inside row 1's window. Row 1's create was
/// answered 500 (made no job) just before; its window (60 s hold) settles
/// while row 0's retry is still on the wire.
///
/// The reconciliation listing shows row 0's new job, whose id no row knows
/// yet; the pending windows are row 1's create only (creates on the wire
/// and lost retries count, a retry still on the wire does not), so the
/// only explanation on an exclusive application is that row 1's create
/// made it: adopted. Row 1 is given row 0's retried job (and its result);
/// when row 0's retry answer comes, the job is row 1's already and row 0
/// is reported ambiguous.
///
/// Broken: promise 2 (no row is given another row's result). Evidence:
/// the job in row 1's outcome was made (simulator records: origin
/// `retry`, `retry_of` row 0's job) from row 0's inputs (`own_jobs`).
/// Fix idea: a job-level retry on the wire is a pending, unsettled window
/// like a create on the wire (`Reconciler::sent` for retries too).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_still_on_the_wire_does_not_give_its_new_job_to_another_row() {
    use writer_sim::{FaultConfig, FaultKind};
    let scenario = "exclusive, row 0's retry answered late, row 1's create answered 500";
    let sim = start(
        sim_builder(3004, 200.0, 5.0)
            .failure_rate(1.0)
            .retry_new_id(true),
    )
    .await;
    let slow_retries = "retry:slow=1.0,slow_secs=120";
    sim.set_faults(FaultConfig::parse_compact(slow_retries).unwrap())
        .unwrap();
    let rows = rows(2, "retry-wire");
    let batch = Batch::new(
        client_via(&sim, &sim.base_url(), Duration::from_secs(600)),
        APP,
    )
    .create_concurrency(1)
    .job_retries(1)
    .exclusive_application(true)
    .max_server_hold(Duration::from_secs(60));
    let (run, tx) = common::run_fed(&batch).await;
    tx.unbounded_send(rows[0].clone()).unwrap();
    common::wait_until("row 0's create answered", || {
        run.progress().borrow().created >= 1
    })
    .await;
    sim.set_faults(FaultConfig::parse_compact(&format!("create:500=1.0,{slow_retries}")).unwrap())
        .unwrap();
    tx.unbounded_send(rows[1].clone()).unwrap();
    common::wait_until("row 1's create answered 500", || {
        sim.stats().faults_of(FaultKind::Status500) >= 1
    })
    .await;
    sim.set_faults(FaultConfig::parse_compact(slow_retries).unwrap())
        .unwrap();
    drop(tx);
    let outcomes = collect_within(run, Duration::from_secs(60), scenario).await;
    invariants::show(scenario, &outcomes);
    assert!(
        sim.stats().faults_of(FaultKind::Slow) >= 1,
        "setup: row 0's retry was answered late"
    );
    own_jobs(&sim, &outcomes, &rows, scenario);
    check(&sim, &outcomes, &rows, scenario);
}

// ----- a row reported ambiguous stops explaining its job ----------------------

/// Found by the swarm (seed 6129, about one run in six: exclusive, oldest
/// first, 1 kill; seed 7026, about one in five: exclusive, newest first,
/// 3 kills): rows completed with another row's output after that row was
/// reported ambiguous with the job among its candidates (logged: `swarm-016`
/// reported with candidates `[.., 28d8.., ebb1..]`, then `swarm-037` and
/// `swarm-025` adopted those two). Made deterministic here through the
/// listing give-up path.
///
/// Scenario: an application declared exclusive. Row 1's create is held by
/// the server 50 s (the client gives up after 40 s; its job lands at
/// 50 s, within the 60 s hold). Row 2's create, sent at 40 s, is answered
/// 500 (made no job); its window (40 s to 100 s) holds row 1's job too.
/// The list endpoint fails (500) for a while: row 1's window settles first,
/// and past its give-up time (20 s poll deadline) row 1 is reported
/// ambiguous ("could not be listed"), honestly. Then the list recovers;
/// row 2's window is judged with row 1's create no longer pending: row 1's
/// job is an orphan in row 2's window that no pending create but row 2's
/// can explain, so on an exclusive application row 2 adopts it and is
/// written `completed` with row 1's output.
///
/// The same happens when row 1 is reported `Unresolved` with candidates
/// (the swarm's case): a create leaves the pending set when it is
/// reported, though its job may be one of the orphans, and
/// `assign::decide_exclusive` then assumes every orphan in a window is a
/// pending create's.
///
/// Broken: promise 2 (no row is given another row's result). Evidence: row
/// 2's completed output is made from row 1's inputs (`right_outputs`); the
/// simulator holds no job with row 2's inputs. Fix idea: a create reported
/// ambiguous keeps its window among the explanations (settled, no verdict)
/// for every later judgement, or its possible jobs are never adopted by
/// another row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_reported_ambiguous_does_not_leave_its_job_to_another_row() {
    reported_then_judged(false).await;
}

/// The same across a kill: run 1 reports row 1 ambiguous and is killed
/// while row 2 is still undecided; the resumed run judges row 2's window
/// (left by run 1) with row 1's window still among the explanations, read
/// back from the journal, so row 1's job is not adopted by row 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_reported_ambiguous_before_a_kill_does_not_leave_its_job_to_another_row() {
    reported_then_judged(true).await;
}

async fn reported_then_judged(kill: bool) {
    use writer_sim::FaultConfig;
    let scenario = if kill {
        "exclusive, row 1 reported (list down), killed, row 2's window judged on resume"
    } else {
        "exclusive, row 1 reported (list down), row 2's window then holds row 1's job"
    };
    const SCALE: f64 = 200.0;
    let sim = start(sim_builder(3005, SCALE, 8.0)).await;
    let proxy = Proxy::start(
        &sim.base_url(),
        ProxyConfig {
            hold: Some(Hold {
                skip: 1,
                count: 1,
                delay: Duration::from_secs(50),
                scale: SCALE,
            }),
            ..ProxyConfig::default()
        },
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("reported.journal");
    let rows = rows(3, "reported");
    let mut batch = Batch::new(
        client_via(&sim, &proxy.base_url, Duration::from_secs(40)),
        APP,
    )
    .create_concurrency(1)
    .exclusive_application(true)
    .breaker_threshold(10_000)
    .poll_policy(writer_jobs::PollPolicy::default().with_deadline(Duration::from_secs(20)))
    .max_server_hold(Duration::from_secs(60));
    if kill {
        batch = batch.journal(&journal);
    }
    let (run, tx) = common::run_fed(&batch).await;
    tx.unbounded_send(rows[0].clone()).unwrap();
    common::wait_until("row 0's create answered", || {
        run.progress().borrow().created >= 1
    })
    .await;
    sim.set_faults(FaultConfig::parse_compact("list:500=1.0").unwrap())
        .unwrap();
    tx.unbounded_send(rows[1].clone()).unwrap();
    common::wait_until("row 1's create held", || {
        proxy
            .counters()
            .held
            .load(std::sync::atomic::Ordering::SeqCst)
            >= 1
    })
    .await;
    // Row 2 goes when row 1's create is given up on (40 s), and is
    // answered 500; row 1's held create reaches the server at 50 s, after
    // creates are let through again.
    sim.set_faults(FaultConfig::parse_compact("list:500=1.0,create:500=1.0").unwrap())
        .unwrap();
    tx.unbounded_send(rows[2].clone()).unwrap();
    common::wait_until("rows 1 and 2 ambiguous", || {
        run.progress().borrow().reconciling >= 2
    })
    .await;
    sim.set_faults(FaultConfig::parse_compact("list:500=1.0").unwrap())
        .unwrap();
    drop(tx);
    let progress = run.progress();
    let outcomes = if kill {
        common::wait_until("row 1 reported ambiguous", || {
            progress.borrow().ambiguous >= 1
        })
        .await;
        drop(run);
        sim.set_faults(FaultConfig::none()).unwrap();
        let all = rows.clone();
        let run = common::run_resuming(&batch, || futures::stream::iter(all.clone())).await;
        collect_within(run, Duration::from_secs(30), scenario).await
    } else {
        let recover = async {
            common::wait_until("row 1 reported ambiguous", || {
                progress.borrow().ambiguous >= 1
            })
            .await;
            sim.set_faults(FaultConfig::none()).unwrap();
        };
        let (outcomes, ()) = tokio::join!(
            collect_within(run, Duration::from_secs(30), scenario),
            recover
        );
        outcomes
    };
    invariants::show(scenario, &outcomes);
    own_jobs(&sim, &outcomes, &rows, scenario);
    check(&sim, &outcomes, &rows, scenario);
}

// ----- a list that leaves the results out --------------------------------------

/// Scenario: the list endpoint sends each job without its `data` (a
/// summary listing keeps pages small; the spec makes `data` nullable and
/// says nothing of what the list includes), while `GET /jobs/{id}` sends
/// the whole job. The batch's sweeps learn from the list that a job is
/// `completed` and take its output from the list entry: there is none, so
/// the row is written `completed` with an empty suggestion (a warning in
/// the log is all), and the result the server holds is never fetched.
///
/// Broken: promise 3 (nothing done is lost) and, as the invariants see it,
/// promise 2 (a completed row carries output that is not its inputs'):
/// the simulator's records hold each row's output, the results have an
/// empty suggestion (`right_outputs`). Fix idea: a job seen `completed`
/// without `data` is fetched by id before its row is written.
/// Fixed: the sweep fetches such a job by id before handing it to the
/// engine (`listing::sweep`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_without_results_does_not_empty_the_rows_results() {
    let gets = list_view_run(true, "list entries without data, GET with data").await;
    // One GET per completed job at most, on top of what the sweeps plan.
    assert!(gets <= 2 * 20, "{gets} GETs for 20 rows");
}

/// The control of the fix above: a list that carries the results costs no
/// GET for a job it shows completed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_with_results_costs_no_get_for_a_completed_job() {
    let gets = list_view_run(false, "list entries with data").await;
    // The sweeps' listings show every job (none is missed on this quiet
    // application): a GET here and there at most, never one per job.
    assert!(
        gets < 10,
        "{gets} GETs for 20 rows whose list carries results"
    );
}

/// 20 rows through a proxy whose list entries keep or drop `data`; checks
/// every completed row has its output and returns the run's GETs by id.
async fn list_view_run(drop_data: bool, scenario: &str) -> u64 {
    let sim = start(sim_builder(3006, 200.0, 8.0)).await;
    let view = ListView(Arc::new(move |all: Vec<serde_json::Value>, _, _| {
        all.into_iter()
            .map(|mut job| {
                if let Some(map) = job.as_object_mut()
                    && drop_data
                {
                    map.remove("data");
                }
                job
            })
            .collect()
    }));
    let proxy = Proxy::start(
        &sim.base_url(),
        ProxyConfig {
            list_view: Some(view),
            ..ProxyConfig::default()
        },
    )
    .await;
    let rows = rows(20, "summary");
    let run = Batch::new(
        client_via(&sim, &proxy.base_url, Duration::from_secs(60)),
        APP,
    )
    .run(futures::stream::iter(rows.clone()))
    .await
    .expect("batch starts");
    let outcomes = collect_within(run, Duration::from_secs(30), scenario).await;
    invariants::show(scenario, &outcomes);
    let empty: Vec<&str> = outcomes
        .iter()
        .filter(|o| {
            matches!(&o.result, OutcomeResult::Completed { output, .. } if output.suggestion.is_empty())
        })
        .map(|o| o.key.as_str())
        .collect();
    assert!(
        empty.is_empty(),
        "{scenario}: {} rows written completed with an empty result: {empty:?}",
        empty.len()
    );
    check(&sim, &outcomes, &rows, scenario);
    let stats = sim.stats();
    println!("{scenario}: requests {:?}", stats.by_operation);
    stats.requests(writer_sim::Operation::Get)
}

// ----- jobs made in the same second, in no fixed order -------------------------

/// Scenario: the server keeps job times in whole seconds (an alternative
/// the README lists: `[api] timestamps = "seconds"`) and lists its jobs
/// `ORDER BY created_at DESC` with no tie-breaker, so jobs made in the
/// same second come back in whatever order each query finds them (what a
/// database does with `LIMIT`/`OFFSET` over a non-unique key). Eight rows
/// are created at once, within one second; one create is held 300 ms by
/// the server and its answer lost (the client gave up after 150 ms), so
/// it is ambiguous and its job lands in the same second as the others.
///
/// The reconciliation listing reads the application page by page (2 a
/// page; no order is known, since equal times prove none, so it reads to
/// the end). Each page is a correct answer to the query, but the tied jobs
/// come in another order each time, and the landed job happens to sit
/// outside every page read (the test makes the worst case happen: the tie
/// order of each answer puts it elsewhere). The listing shows the seven
/// other jobs, no orphan: "did not land", and the row is sent again.
///
/// The README's "an unfiltered, newest-first listing cannot miss a job:
/// jobs are only ever added, at the front" does not hold for jobs whose
/// times tie. Broken: promise 1 (no job is created twice for one row).
/// Evidence: two jobs made by creates with the row's inputs
/// (`no_duplicate_jobs`). Fix idea: on second-precision stamps, read the
/// pages around a tie group again (or twice) before "did not land", or
/// judge a window whose times tie with a page boundary as unresolved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_tied_to_the_second_in_no_fixed_order_do_not_hide_a_landed_create() {
    tied_jobs_run(true, "second-only times, ties in a new order each answer").await;
}

/// The control of the break above: the same ties in one fixed order: the
/// landed job is listed (a candidate on this shared application).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_tied_to_the_second_in_a_fixed_order_show_a_landed_create() {
    tied_jobs_run(false, "second-only times, ties in a fixed order").await;
}

async fn tied_jobs_run(reorder_ties: bool, scenario: &str) {
    let sim = start(
        Simulator::builder()
            .scale(1.0)
            .seed(3007)
            .duration(DurationDist::Fixed { secs: 0.5 })
            .failure_rate(0.0)
            .timestamps(writer_sim::Timestamps::Seconds),
    )
    .await;
    let hidden: Arc<std::sync::Mutex<Option<String>>> = Arc::default();
    let seen = hidden.clone();
    let view = ListView(Arc::new(
        move |mut all: Vec<serde_json::Value>, offset: usize, limit: usize| {
            let Some(id) = seen.lock().unwrap().clone() else {
                return all;
            };
            let Some(at) = all.iter().position(|j| j["id"] == id.as_str()) else {
                return all;
            };
            if !reorder_ties {
                return all;
            }
            // Its tie group (the list is sorted by time: the group is a
            // run of positions), and a place in it off the page asked for.
            let stamp = all[at]["created_at"].clone();
            let group: Vec<usize> = (0..all.len())
                .filter(|&i| all[i]["created_at"] == stamp)
                .collect();
            if let Some(&to) = group.iter().find(|&&i| i < offset || i >= offset + limit) {
                let job = all.remove(at);
                all.insert(to, job);
            }
            all
        },
    ));
    let proxy = Proxy::start(
        &sim.base_url(),
        ProxyConfig {
            hold: Some(Hold {
                skip: 3,
                count: 1,
                delay: Duration::from_millis(300),
                scale: 1.0,
            }),
            list_view: Some(view),
            ..ProxyConfig::default()
        },
    )
    .await;
    let rows = rows(8, "tied");
    // Start just after a second begins, so the burst stays in one second.
    common::wait_until("a second begins", || {
        sim.clock().now().timestamp_subsec_millis() < 100
    })
    .await;
    let run = Batch::new(
        client_via(&sim, &proxy.base_url, Duration::from_millis(150)),
        APP,
    )
    .create_concurrency(8)
    .page_size(2)
    .max_server_hold(Duration::from_secs(2))
    .run(futures::stream::iter(rows.clone()))
    .await
    .expect("batch starts");
    let find = async {
        common::wait_until("the held create landed", || {
            proxy
                .counters()
                .held_forwarded
                .load(std::sync::atomic::Ordering::SeqCst)
                >= 1
        })
        .await;
        let newest = sim
            .job_ids(APP)
            .into_iter()
            .filter_map(|id| sim.job(&id))
            .max_by_key(|j| j.created_at)
            .expect("jobs were made");
        let burst: Vec<DateTime<Utc>> = sim
            .job_ids(APP)
            .into_iter()
            .filter_map(|id| sim.job(&id))
            .map(|j| j.created_at)
            .collect();
        *hidden.lock().unwrap() = Some(newest.id.clone());
        burst
    };
    let (outcomes, burst) = tokio::join!(
        collect_within(run, Duration::from_secs(120), scenario),
        find
    );
    invariants::show(scenario, &outcomes);
    let seconds: std::collections::BTreeSet<i64> = burst.iter().map(|t| t.timestamp()).collect();
    assert_eq!(
        seconds.len(),
        1,
        "setup: the burst spread over several seconds: {burst:?}"
    );
    check(&sim, &outcomes, &rows, scenario);
}

/// Writer documents no largest list page size. On a server whose maximum
/// is below the batch's page size (100) and that refuses larger pages with
/// 400, the batch lowers its pages to a size the server accepts, so
/// reconciliation still finds the jobs of creates whose answers were lost.
/// Before, every reconciliation listing failed: each such row was reported
/// ambiguous with no candidate, though its job existed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_refusing_the_page_size_is_read_in_smaller_pages() {
    let scenario = "list maximum 20, larger pages refused, creates' answers lost";
    let list = ListConfig {
        default_limit: 20,
        max_limit: 20,
        over_max: OverMax::Reject,
        ..ListConfig::default()
    };
    let faults = FaultConfig::parse_compact("create:accept_then_drop=0.2").unwrap();
    let sim = start(sim_builder(71, 200.0, 10.0).list(list).faults(faults)).await;
    let rows = rows(30, "smallpages");
    let client = client_via(&sim, &sim.base_url(), Duration::from_secs(60));
    let run = Batch::new(client, APP)
        .exclusive_application(true)
        .create_concurrency(1)
        .max_server_hold(Duration::from_secs(5))
        .run(futures::stream::iter(rows.clone()))
        .await
        .expect("batch starts");
    let outcomes = collect_within(run, Duration::from_secs(30), scenario).await;
    let dropped = sim.stats().faults_of(FaultKind::AcceptThenDrop);
    println!(
        "{scenario}: {:?}; creates dropped after landing {dropped}",
        invariants::tally(&outcomes)
    );
    assert!(
        dropped > 0,
        "{scenario}: setup: no create's answer was lost"
    );
    check(&sim, &outcomes, &rows, scenario);
    for o in &outcomes {
        assert!(
            matches!(o.result, OutcomeResult::Completed { .. }),
            "{scenario}: {} ended {:?} (one create at a time on an exclusive \
             application: every lost create's job is found and adopted)",
            o.key,
            o.result
        );
    }
}

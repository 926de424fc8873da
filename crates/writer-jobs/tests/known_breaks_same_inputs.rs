//! KNOWN BREAKS, not fixed: every test here is ignored so CI stays green,
//! and each fails intermittently (run them with `--ignored`, two copies at
//! once, to load the CPU). Written by a helper attacking 1db5a6f
//! (`assign::undecided_verdicts`: a member of an undecided input set with
//! no orphan of its own is sent again); that change was not the cause in
//! any failing run (an instrumented copy showed its branch never fired in
//! them, and the code before it fails too).
//!
//! The set-up: an application declared exclusive, many rows sharing
//! inputs (sets of 2 to 10), creates that land with their answers lost
//! (accept_then_drop, slow_drop, slow past the request timeout, a hold
//! just under `max_server_hold`), the client's clock skewed by up to 90 s
//! and stepped, kills and resumes, at a 1000x clock under CPU load. Judged
//! from the simulator's records. Seen:
//! - a completed row carrying a job made from another input set's inputs
//!   (promise (b)), with kills and held creates (about 1 pair of runs in 4);
//! - input sets with more jobs than rows (duplicates), with kills, with
//!   and without clock steps.
//!
//! None reproduces on its own seed without the CPU load, or with
//! `RUST_LOG` on: they depend on how long a loaded process takes between
//! recording a create's send and sending it, or between an answer and its
//! handling, at a clock where 1 ms is a simulated second.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use futures::StreamExt;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use writer_jobs::Inputs;
use writer_jobs::batch::{Batch, Outcome, Row};
use writer_sim::Simulator;

const APP: &str = "demo-product-descriptions";

/// Rows in clusters of 2..=max_cluster rows with the same inputs
/// (interleaved so members are sent at different times).
fn rows(n: usize, rng: &mut StdRng, max_cluster: usize, tag: u64) -> Vec<Row> {
    let mut sets = Vec::new();
    let mut s = 0;
    while sets.len() < n {
        let k = rng.random_range(2..=max_cluster);
        for _ in 0..k {
            sets.push(s);
        }
        s += 1;
    }
    sets.truncate(n);
    // Interleave: shuffle within windows of 40 rows.
    for chunk in sets.chunks_mut(40) {
        for i in (1..chunk.len()).rev() {
            let j = rng.random_range(0..=i);
            chunk.swap(i, j);
        }
    }
    sets.iter()
        .enumerate()
        .map(|(i, s)| {
            Row::new(
                format!("row-{i:05}"),
                Inputs::new().text("Product name", format!("Boot {tag} #{s}")),
            )
        })
        .collect()
}

/// Two rows reporting one job id (a row's outcome using another's job).
fn no_shared_job(last: &[Outcome]) -> Result<(), String> {
    let mut by_job: HashMap<&str, Vec<&str>> = HashMap::new();
    for o in last {
        if let Some(j) = o.job_id.as_deref() {
            by_job.entry(j).or_default().push(&o.key);
        }
    }
    let shared: Vec<String> = by_job
        .iter()
        .filter(|(_, k)| k.len() > 1)
        .map(|(j, k)| format!("{j}: {k:?}"))
        .collect();
    if shared.is_empty() {
        Ok(())
    } else {
        Err(format!("jobs shared by rows: {}", shared.join("; ")))
    }
}

/// For diagnosis: each input set with more jobs than rows, or a row whose
/// job has other inputs: the set's jobs (id, created_at, origin) and rows.
fn dump(sim: &Simulator, all: &[Row], last: &[Outcome]) {
    let set_of = |r: &Row| common::invariants::input_set(APP, r);
    let per_set = common::invariants::creates_per_input_set(sim, APP);
    let mut rows_per: HashMap<String, Vec<&Row>> = HashMap::new();
    for r in all {
        rows_per.entry(set_of(r)).or_default().push(r);
    }
    let by_key: HashMap<&str, &Outcome> = last.iter().map(|o| (o.key.as_str(), o)).collect();
    let mut bad_sets: Vec<String> = rows_per
        .iter()
        .filter(|(s, r)| per_set.get(*s).copied().unwrap_or(0) > r.len() as u64)
        .map(|(s, _)| s.clone())
        .collect();
    for o in last {
        if let Some(j) = o.job_id.as_deref().and_then(|j| sim.job(j)) {
            let s = writer_sim::input_key(&j.application_id, &j.inputs);
            let row = all.iter().find(|r| r.key == o.key).unwrap();
            if s != set_of(row) {
                eprintln!("WRONG {} has job {} of set {s}", o.key, j.id);
                bad_sets.push(s);
                bad_sets.push(set_of(row));
            }
        }
    }
    bad_sets.sort();
    bad_sets.dedup();
    for s in &bad_sets {
        eprintln!("SET {s}");
        let mut jobs: Vec<_> = sim
            .job_ids(APP)
            .iter()
            .filter_map(|id| sim.job(id))
            .filter(|j| &writer_sim::input_key(&j.application_id, &j.inputs) == s)
            .collect();
        jobs.sort_by_key(|j| j.created_at);
        for j in jobs {
            eprintln!(
                "  JOB {} created {} origin {:?} retry_of {:?}",
                j.id, j.created_at, j.origin, j.retry_of
            );
        }
        for r in rows_per.get(s).into_iter().flatten() {
            let o = by_key.get(r.key.as_str());
            eprintln!(
                "  ROW {} -> {:?} {:?} creates={:?}",
                r.key,
                o.and_then(|o| o.job_id.clone()),
                o.map(|o| &o.result),
                o.map(|o| o.creates)
            );
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Plan {
    seed: u64,
    n: usize,
    max_cluster: usize,
    kills: usize,
    steps: bool,
    hold_secs: u64,
    max_hold: u64,
}

async fn attack(plan: Plan, faults: &str) -> Result<(), String> {
    let scenario = format!("{plan:?}");
    let mut rng = StdRng::seed_from_u64(plan.seed);
    let sim = common::faulty_sim(plan.seed, (2.0, 60.0), 0.05, faults).await;
    let clock = common::OffsetClock::new(&sim, rng.random_range(-90_000..90_000));
    let client = common::client_on(&sim, clock.clone(), Duration::from_secs(20));
    let dir = tempfile::tempdir().unwrap();
    let batch = Batch::new(client, APP)
        .journal(dir.path().join("j.journal"))
        .max_in_flight(rng.random_range(20..300))
        .job_retries(rng.random_range(0..2))
        .max_server_hold(Duration::from_secs(plan.max_hold))
        .exclusive_application(true);
    let all = rows(plan.n, &mut rng, plan.max_cluster, plan.seed);
    let mut before: HashMap<String, Outcome> = HashMap::new();
    for k in 0..plan.kills {
        let mut run = common::start_run(&batch, &all).await;
        let mut got = Vec::new();
        let until = tokio::time::Instant::now() + Duration::from_millis(rng.random_range(20..600));
        if plan.steps {
            clock.step_to(rng.random_range(-300_000..300_000));
        }
        let mut ended = false;
        while tokio::time::Instant::now() < until {
            match tokio::time::timeout(Duration::from_millis(5), run.next()).await {
                Ok(Some(Ok(o))) => got.push(o),
                Ok(Some(Err(e))) => panic!("{scenario}: run {k}: {e}"),
                Ok(None) => {
                    ended = true;
                    break;
                }
                Err(_) => {}
            }
        }
        if let Err(e) = common::invariants::keep_earlier(&mut before, got) {
            panic!("{scenario}: run {k}: {e}");
        }
        drop(run);
        if ended {
            break;
        }
    }
    if plan.steps {
        clock.step_to(rng.random_range(-300_000..300_000));
    }
    let mut run = common::start_run(&batch, &all).await;
    let mut last = Vec::new();
    let give_up = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        assert!(
            tokio::time::Instant::now() < give_up,
            "{scenario}: no end, {} outcomes",
            last.len()
        );
        match tokio::time::timeout(Duration::from_millis(50), run.next()).await {
            Ok(Some(Ok(o))) => last.push(o),
            Ok(Some(Err(e))) => panic!("{scenario}: {e}"),
            Ok(None) => break,
            Err(_) => {
                if plan.steps && rng.random_bool(0.05) {
                    clock.step_to(rng.random_range(-300_000..300_000));
                }
            }
        }
    }
    let broken: Vec<String> = [
        common::invariants::each_row_once(&last, &all),
        common::invariants::right_outputs(APP, &last, &all),
        common::invariants::no_duplicate_jobs(&sim, APP, &all),
        common::invariants::no_job_retried_twice(&sim, APP),
        common::invariants::same_as_before(&before, &last),
        no_shared_job(&last),
    ]
    .into_iter()
    .filter_map(Result::err)
    .collect();
    let stats = sim.stats();
    eprintln!(
        "{scenario}: {:?} faults atd={} hold={} slowdrop={}",
        common::invariants::tally(&last),
        stats.faults_of(writer_sim::FaultKind::AcceptThenDrop),
        stats.faults_of(writer_sim::FaultKind::Hold),
        stats.faults_of(writer_sim::FaultKind::SlowDrop),
    );
    if broken.is_empty() {
        Ok(())
    } else {
        dump(&sim, &all, &last);
        Err(format!("{scenario}: broken:\n{}", broken.join("\n")))
    }
}

/// Runs every plan, then fails with every break (not just the first).
async fn all_of(plans: Vec<Plan>) {
    let mut broken = Vec::new();
    for plan in plans {
        if let Err(e) = attack(plan, &lost(plan.hold_secs)).await {
            eprintln!("BROKEN {e}");
            broken.push(e);
        }
    }
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}

/// Landed-but-lost creates dominate; hold just under max_server_hold.
const LOST: &str = "create:accept_then_drop=0.15,create:slow_drop=0.05,create:slow=0.05,\
create:hold=0.08,create:500=0.03,create:reset=0.03,list:slow=0.02,list:500=0.03,\
get:500=0.02,*:429=0.01,slow_secs=25,burst_len=2,retry_after_secs=1";

fn lost(hold: u64) -> String {
    format!("{LOST},hold_secs={hold}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the known breaks' set-up without kills (no failure seen yet): see the module docs"]
async fn clusters_lost_answers_no_kills() {
    all_of(
        (100..104)
            .map(|seed| Plan {
                seed,
                n: 400,
                max_cluster: 10,
                kills: 0,
                steps: false,
                hold_secs: 55,
                max_hold: 60,
            })
            .collect(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "known break under CPU load: see the module docs"]
async fn clusters_lost_answers_kills() {
    all_of(
        (200..204)
            .map(|seed| Plan {
                seed,
                n: 400,
                max_cluster: 6,
                kills: 3,
                steps: false,
                hold_secs: 59,
                max_hold: 60,
            })
            .collect(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "known break under CPU load: see the module docs"]
async fn clusters_lost_answers_kills_steps() {
    all_of(
        (300..304)
            .map(|seed| Plan {
                seed,
                n: 400,
                max_cluster: 4,
                kills: 3,
                steps: true,
                hold_secs: 30,
                max_hold: 30,
            })
            .collect(),
    )
    .await;
}

#[tokio::test]
#[ignore = "known break under CPU load: see the module docs"]
async fn clusters_lost_answers_current_thread() {
    all_of(
        (400..403)
            .map(|seed| Plan {
                seed,
                n: 300,
                max_cluster: 10,
                kills: 2,
                steps: seed % 2 == 0,
                hold_secs: 45,
                max_hold: 50,
            })
            .collect(),
    )
    .await;
}

/// Env-driven: NLA="seed,n,max_cluster,kills,steps,hold,max_hold".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a plan from NLA, for diagnosis"]
async fn env_plan() {
    let v: Vec<u64> = std::env::var("NLA")
        .unwrap()
        .split(',')
        .map(|s| s.parse().unwrap())
        .collect();
    let count = std::env::var("NLA_COUNT")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(1u64);
    for s in 0..count {
        let plan = Plan {
            seed: v[0] + s,
            n: v[1] as usize,
            max_cluster: v[2] as usize,
            kills: v[3] as usize,
            steps: v[4] == 1,
            hold_secs: v[5],
            max_hold: v[6],
        };
        attack(plan, &lost(plan.hold_secs)).await.unwrap();
    }
}

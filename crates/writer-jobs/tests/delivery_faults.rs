//! Adversarial tests of the batched outcome delivery (batch/sink.rs) under
//! server faults, clock steps, slow/bursty consumers and kills (drops
//! in-process and real SIGKILLs of a child process), judged from the
//! simulator's records (`common::invariants`). Written by a helper trying
//! to break the delivery: no break of it, one of promise (d) elsewhere.

mod common;

use std::collections::HashMap;
use std::io::Write;
use std::time::Duration;

use futures::StreamExt;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use writer_jobs::batch::{Batch, BatchError, BatchRun, Outcome, Row};
use writer_jobs::{Client, Inputs};
use writer_sim::{DurationDist, FaultConfig, Simulator};

const APP: &str = "demo-product-descriptions";

fn rows(n: usize) -> Vec<Row> {
    (0..n)
        .map(|i| {
            // Every 7th row repeats the inputs of the one before it.
            let j = if i % 7 == 6 { i - 1 } else { i };
            Row::new(
                format!("row-{i:05}"),
                Inputs::new().text("Product name", format!("Shoe #{j}")),
            )
        })
        .collect()
}

/// Every promise the simulator's records can judge, on a run's last
/// outcomes (and those earlier runs gave, `before`): each row once, right
/// outputs, ambiguous rows naming candidates or why none (d), no extra
/// job for an input set, no job retried twice, the same outcome as
/// before.
fn judge(
    scenario: &str,
    sim: &Simulator,
    all: &[Row],
    before: &HashMap<String, Outcome>,
    last: &[Outcome],
) {
    let broken: Vec<String> = [
        common::invariants::each_row_once(last, all),
        common::invariants::right_outputs(APP, last, all),
        common::invariants::no_duplicate_jobs(sim, APP, all),
        common::invariants::no_job_retried_twice(sim, APP),
        common::invariants::same_as_before(before, last),
    ]
    .into_iter()
    .filter_map(Result::err)
    .collect();
    assert!(
        broken.is_empty(),
        "{scenario}: {:?}; broken:\n{}",
        common::invariants::tally(last),
        broken.join("\n")
    );
    eprintln!("{scenario}: {:?}", common::invariants::tally(last));
}

const FAULTS: &str = "create:500=0.05,create:503=0.04,create:reset=0.03,create:accept_then_drop=0.05,\
create:slow=0.02,get:500=0.05,get:reset=0.03,get:slow=0.03,list:500=0.05,list:503=0.04,\
list:reset=0.03,list:slow=0.03,*:429=0.02,*:truncated=0.01,slow_secs=20,burst_len=3,retry_after_secs=2";

/// A consumer that reads in bursts and sleeps (real time) between them.
async fn read_some(
    run: &mut BatchRun,
    rng: &mut StdRng,
    got: &mut Vec<Outcome>,
    for_real: Duration,
    scenario: &str,
) -> bool {
    let until = tokio::time::Instant::now() + for_real;
    while tokio::time::Instant::now() < until {
        let burst = rng.random_range(1..400);
        for _ in 0..burst {
            match tokio::time::timeout(Duration::from_millis(2), run.next()).await {
                Ok(Some(Ok(o))) => got.push(o),
                Ok(Some(Err(e))) => panic!("{scenario}: error {e}"),
                Ok(None) => return true,
                Err(_) => break,
            }
        }
        let pause = rng.random_range(0..30);
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
    false
}

/// Faults + bursty consumer + drops (kills) at random moments + optional
/// client clock steps; the last run must give every row once, consistent
/// with what earlier runs gave, and the simulator must hold no extra job.
async fn faults_kills(seed: u64, n: usize, steps: bool) {
    let scenario = format!("seed {seed} steps {steps}");
    let mut rng = StdRng::seed_from_u64(seed);
    let sim = common::faulty_sim(seed, (5.0, 90.0), 0.1, FAULTS).await;
    let clock = common::OffsetClock::new(&sim, rng.random_range(-60_000..60_000));
    let client = common::client_on(&sim, clock.clone(), Duration::from_secs(60));
    let dir = tempfile::tempdir().unwrap();
    let batch = Batch::new(client, APP)
        .journal(dir.path().join("j.journal"))
        .max_in_flight(rng.random_range(20..200))
        .job_retries(rng.random_range(0..2))
        .exclusive_application(rng.random_bool(0.5));
    let all = rows(n);
    let mut before: HashMap<String, Outcome> = HashMap::new();
    let kills = rng.random_range(2..6);
    for k in 0..kills {
        let mut run = common::start_run(&batch, &all).await;
        let mut got = Vec::new();
        let t = Duration::from_millis(rng.random_range(5..400));
        if steps {
            clock.step_to(rng.random_range(-300_000..300_000));
        }
        let ended = read_some(&mut run, &mut rng, &mut got, t, &scenario).await;
        // Sometimes stop reading a while so the engine fills the room.
        if rng.random_bool(0.5) {
            tokio::time::sleep(Duration::from_millis(rng.random_range(0..200))).await;
        }
        // No key twice within a run.
        let mut seen = std::collections::HashSet::new();
        for o in &got {
            assert!(
                seen.insert(o.key.clone()),
                "{scenario}: run {k} gave {} twice",
                o.key
            );
        }
        if let Err(e) = common::invariants::keep_earlier(&mut before, got) {
            panic!("{scenario}: run {k}: {e}");
        }
        drop(run);
        if ended {
            break;
        }
    }
    if steps {
        clock.step_to(rng.random_range(-300_000..300_000));
    }
    let mut run = common::start_run(&batch, &all).await;
    let mut last = Vec::new();
    let give_up = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        assert!(
            tokio::time::Instant::now() < give_up,
            "{scenario}: no end, {} outcomes",
            last.len()
        );
        let ended = read_some(
            &mut run,
            &mut rng,
            &mut last,
            Duration::from_millis(50),
            &scenario,
        )
        .await;
        if ended {
            break;
        }
    }
    judge(&scenario, &sim, &all, &before, &last);
}

/// Promise (d) after kills: a resumed row was reported ambiguous as "an
/// earlier run sent the create but recorded no answer" with no candidates
/// and no reason why (in 1 of 3 runs, by how tasks raced; at fe7ba12^
/// too): a create of an input set the reconciler could not decide whose
/// own window held no job (see `assign::undecided_verdicts`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kills_ambiguous_without_candidates() {
    for seed in 1..=12 {
        faults_kills(seed, 400, seed % 2 == 0).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_kills_multi_thread() {
    for seed in 1..=4 {
        faults_kills(seed, 400, seed % 2 == 0).await;
    }
}

#[tokio::test]
async fn faults_kills_current_thread() {
    for seed in 11..=14 {
        faults_kills(seed, 400, seed % 2 == 0).await;
    }
}

// ---------------------------------------------------------------------
// Real SIGKILL of a child process running the batch against a simulator
// in this (the parent) process.

const CHILD_ENV: &str = "DELIVERY_FAULTS_CHILD";

/// The child: runs the batch against the parent's simulator (env), reading
/// outcomes slowly and in bursts, appending each to a file (flushed).
#[test]
#[ignore]
fn child_batch() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let v: Vec<&str> = spec.split('|').collect();
    let (base, key, scale, anchor_ns, journal, out, n, multi, seed) = (
        v[0].to_string(),
        v[1].to_string(),
        v[2].parse::<f64>().unwrap(),
        v[3].parse::<u64>().unwrap(),
        v[4].to_string(),
        v[5].to_string(),
        v[6].parse::<usize>().unwrap(),
        v[7] == "1",
        v[8].parse::<u64>().unwrap(),
    );
    let rt = if multi {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    };
    rt.block_on(async move {
        let anchor = std::time::UNIX_EPOCH + Duration::from_nanos(anchor_ns);
        let client = Client::builder()
            .simulator(base, key, scale, anchor)
            .request_timeout(Duration::from_secs(20))
            .build()
            .unwrap();
        let batch = Batch::new(client, APP)
            .journal(&journal)
            .max_server_hold(Duration::from_secs(30))
            .max_in_flight(150)
            .exclusive_application(seed % 2 == 0);
        let all = rows(n);
        let mut run = common::start_run(&batch, &all).await;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&out)
            .unwrap();
        let mut rng = StdRng::seed_from_u64(seed);
        loop {
            let burst = rng.random_range(1..300);
            for _ in 0..burst {
                match run.next().await {
                    Some(Ok(o)) => {
                        writeln!(
                            f,
                            "{}\t{}\t{}\t{}",
                            o.key,
                            o.job_id.clone().unwrap_or_default(),
                            o.replayed,
                            std::process::id()
                        )
                        .unwrap();
                    }
                    Some(Err(e)) => {
                        writeln!(f, "ERROR\t{e}").unwrap();
                        return;
                    }
                    None => {
                        writeln!(f, "END\t{}", std::process::id()).unwrap();
                        return;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(rng.random_range(0..40))).await;
        }
    });
}

async fn sigkill_loop(multi: bool, seed0: u64) {
    let scenario = format!("sigkill multi={multi}");
    let mut rng = StdRng::seed_from_u64(seed0);
    let sim = common::faulty_sim(seed0, (5.0, 60.0), 0.05, FAULTS).await;
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("j.journal");
    let out = dir.path().join("out.tsv");
    let n = 3000;
    let anchor_ns = sim
        .clock()
        .anchor()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let exe = std::env::current_exe().unwrap();
    let spawn = |seed: u64, failpoint: Option<String>| {
        let spec = format!(
            "{}|{}|{}|{}|{}|{}|{}|{}|{}",
            sim.base_url(),
            sim.api_key(),
            sim.clock().scale(),
            anchor_ns,
            journal.display(),
            out.display(),
            n,
            if multi { "1" } else { "0" },
            seed
        );
        let mut cmd = std::process::Command::new(&exe);
        cmd.args([
            "--exact",
            "child_batch",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, spec)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
        match failpoint {
            Some(fp) => {
                cmd.env("WRITER_JOBS_FAILPOINT", fp);
            }
            None => {
                cmd.env_remove("WRITER_JOBS_FAILPOINT");
            }
        }
        cmd.spawn().unwrap()
    };
    let kills = 22;
    for k in 0..kills {
        let fp = if k % 4 == 3 {
            let mode = ["before", "torn", "after"][rng.random_range(0..3)];
            Some(format!("{}:{mode}", rng.random_range(0..3000)))
        } else {
            None
        };
        let mut child = spawn(seed0 * 100 + k, fp);
        let wait = Duration::from_millis(rng.random_range(50..1000));
        let give = std::time::Instant::now() + wait;
        while std::time::Instant::now() < give {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // SIGKILL (Child::kill sends SIGKILL on unix).
        let _ = child.kill();
        let _ = child.wait();
    }
    // Last run to the end.
    let mut child = spawn(seed0 * 100 + 99, None);
    let give_up = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            assert!(st.success(), "{scenario}: last child {st:?}");
            break;
        }
        assert!(
            std::time::Instant::now() < give_up,
            "{scenario}: last run no end"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let text = std::fs::read_to_string(&out).unwrap();
    std::fs::copy(
        &out,
        format!("/work/adv-scratch/sigkill-{multi}-{seed0}.tsv"),
    )
    .ok();
    let lines: Vec<&str> = text.lines().collect();
    let end = lines
        .iter()
        .rposition(|l| l.starts_with("END"))
        .expect("an END line");
    let last_pid = lines[end].split('\t').nth(1).unwrap();
    // Per key, every job id any run reported.
    let mut ids: HashMap<&str, std::collections::BTreeSet<&str>> = HashMap::new();
    let mut last_count: HashMap<&str, usize> = HashMap::new();
    for l in &lines {
        let f: Vec<&str> = l.split('\t').collect();
        if f[0] == "ERROR" {
            eprintln!("{scenario}: child error line: {l}");
            continue;
        }
        if f.len() < 4 {
            continue;
        }
        ids.entry(f[0]).or_default().insert(f[1]);
        if f[3] == last_pid {
            *last_count.entry(f[0]).or_default() += 1;
        }
    }
    let all = rows(n);
    let mut broken = Vec::new();
    for r in &all {
        match last_count.get(r.key.as_str()) {
            Some(1) => {}
            c => broken.push(format!("{}: {:?} outcomes in the last run", r.key, c)),
        }
        if let Some(s) = ids.get(r.key.as_str())
            && s.len() > 1
        {
            broken.push(format!("{}: job ids across runs {:?}", r.key, s));
        }
    }
    if let Err(e) = common::invariants::no_duplicate_jobs(&sim, APP, &all) {
        broken.push(e);
    }
    assert!(
        broken.is_empty(),
        "{scenario}: {} broken: {}",
        broken.len(),
        broken[..broken.len().min(10)].join("\n")
    );
    eprintln!("{scenario}: {} lines, ok", lines.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_child_multi_thread() {
    sigkill_loop(true, 5).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_child_current_thread() {
    sigkill_loop(false, 6).await;
}

// ---------------------------------------------------------------------
// A consumer that stalls for long stretches (hundreds of simulated
// seconds) while the server misbehaves: every row once, no extra job, the
// run ends. Optionally a failpoint (non-aborting) ends a first run with an
// error, which must come after the outcomes and be followed by nothing.

async fn stalls(seed: u64, n: usize, exclusive: bool, failpoint: Option<u64>, steps: bool) {
    stalls_ms(seed, n, exclusive, failpoint, steps, 800).await
}

async fn stalls_ms(
    seed: u64,
    n: usize,
    exclusive: bool,
    failpoint: Option<u64>,
    steps: bool,
    stall_ms: u64,
) {
    stalls_full(seed, n, exclusive, failpoint, steps, stall_ms).await
}

async fn stalls_full(
    seed: u64,
    n: usize,
    exclusive: bool,
    failpoint: Option<u64>,
    steps: bool,
    stall_ms: u64,
) {
    use writer_jobs::batch::{AmbiguousPolicy, FailMode, Failpoint};
    let scenario =
        format!("stalls seed {seed} exclusive {exclusive} fp {failpoint:?} steps {steps}");
    let mut rng = StdRng::seed_from_u64(seed);
    let sim = common::faulty_sim(seed, (5.0, 120.0), 0.1, FAULTS).await;
    let clock = common::OffsetClock::new(&sim, 0);
    let client = common::client_on(&sim, clock.clone(), Duration::from_secs(30));
    let dir = tempfile::tempdir().unwrap();
    let mut batch = Batch::new(client, APP)
        .journal(dir.path().join("j.journal"))
        .max_in_flight(rng.random_range(50..400))
        .job_retries(1)
        .max_server_hold(Duration::from_secs(60));
    // (AmbiguousPolicy::Resend documents possible second jobs: not used.)
    let _ = AmbiguousPolicy::Report;
    if exclusive {
        batch = batch.exclusive_application(true);
    }
    let all = rows(n);
    let mut before: HashMap<String, Outcome> = HashMap::new();
    if let Some(index) = failpoint {
        let fb = batch
            .clone()
            .failpoint(Failpoint::new(index, FailMode::After));
        let mut run = common::start_run(&fb, &all).await;
        let mut error = false;
        loop {
            match tokio::time::timeout(Duration::from_secs(60), run.next()).await {
                Ok(Some(Ok(o))) => {
                    assert!(!error, "{scenario}: outcome after the error");
                    assert!(
                        before.insert(o.key.clone(), o).is_none(),
                        "{scenario}: twice"
                    );
                }
                Ok(Some(Err(e))) => {
                    assert!(!error, "{scenario}: two errors");
                    assert!(matches!(e, BatchError::Failpoint(_)), "{scenario}: {e}");
                    error = true;
                }
                Ok(None) => break,
                Err(_) => panic!("{scenario}: failpoint run no end"),
            }
            if rng.random_bool(0.02) {
                tokio::time::sleep(Duration::from_millis(rng.random_range(50..400))).await;
            }
        }
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
        let burst = rng.random_range(1..500);
        let mut ended = false;
        for _ in 0..burst {
            match tokio::time::timeout(Duration::from_secs(5), run.next()).await {
                Ok(Some(Ok(o))) => last.push(o),
                Ok(Some(Err(e))) => panic!("{scenario}: error {e}"),
                Ok(None) => {
                    ended = true;
                    break;
                }
                Err(_) => break,
            }
        }
        if ended {
            break;
        }
        if steps && rng.random_bool(0.3) {
            clock.step_to(rng.random_range(-600_000..600_000));
        }
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..=stall_ms))).await;
    }
    judge(&scenario, &sim, &all, &before, &last);
}

/// Promise (d) under create faults (500/503/reset/accept_then_drop) on an
/// application declared exclusive: a row was reported ambiguous with no
/// candidates and no reason why (`ambiguous create unresolved; reporting
/// it ... candidates=[]`) on most of these seeds, at fe7ba12^ too: a
/// create of an input set (every 7th row repeats one) the reconciler could
/// not decide, whose own window held no job; it did not land, and is now
/// sent again.
#[tokio::test]
async fn exclusive_faults_ambiguous_without_candidates() {
    for seed in [34, 37] {
        stalls_full(seed, 1500, true, None, false, 0).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalls_multi_thread() {
    stalls(21, 1500, false, None, false).await;
    stalls(22, 1500, true, Some(700), true).await;
}

#[tokio::test]
async fn stalls_current_thread() {
    stalls(31, 1500, true, None, true).await;
    stalls(32, 1500, false, Some(1200), false).await;
}

/// Matrix from env (for diagnosis): STALL="seed,exclusive,steps,stall_ms".
#[tokio::test]
#[ignore]
async fn stalls_env() {
    let v: Vec<String> = std::env::var("STALL")
        .unwrap()
        .split(',')
        .map(String::from)
        .collect();
    stalls_ms(
        v[0].parse().unwrap(),
        1500,
        v[1] == "1",
        None,
        v[2] == "1",
        v[3].parse().unwrap(),
    )
    .await;
}

/// A consumer that reads nothing until the engine waits for room (384
/// decided), then stops the batch and reads slowly; then a resume. Every
/// row once across the two (each run's outcomes distinct, the second's
/// replays agreeing), no extra job, both runs end. On the paused clock.
async fn stop_while_full(flavour: &str) {
    let (sim, client) = common::lognormal_sim(1000.0, |b| {
        b.duration(DurationDist::Uniform { min_secs: 1.0, max_secs: 5.0 })
            .faults(FaultConfig::parse_compact("get:500=0.05,list:503=0.05,list:slow=0.02,*:429=0.02,slow_secs=10,retry_after_secs=1").unwrap())
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let all = rows(2000);
    let batch = Batch::new(client, APP)
        .journal(dir.path().join("j.journal"))
        .max_in_flight(500);
    let mut run = common::start_run(&batch, &all).await;
    let p = common::progress_once_still(&run, Duration::from_millis(300)).await;
    let decided = p.completed + p.failed + p.ambiguous + p.rejected + p.timed_out;
    assert!(
        decided <= 384,
        "{flavour}: {decided} decided before any read"
    );
    run.stop_handle().stop();
    let mut first = Vec::new();
    let give_up = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        assert!(
            std::time::Instant::now() < give_up,
            "{flavour}: stopped run no end"
        );
        match run.next().await {
            Some(Ok(o)) => first.push(o),
            Some(Err(e)) => panic!("{flavour}: {e}"),
            None => break,
        }
        if first.len() % 50 == 0 {
            tokio::task::yield_now().await;
        }
    }
    let mut seen = std::collections::HashSet::new();
    for o in &first {
        assert!(seen.insert(o.key.clone()), "{flavour}: {} twice", o.key);
    }
    let before: HashMap<String, Outcome> =
        first.iter().map(|o| (o.key.clone(), o.clone())).collect();
    let run = common::start_run(&batch, &all).await;
    let last = common::collect_within(run, Duration::from_secs(60), flavour).await;
    eprintln!(
        "{flavour}: decided {decided} before reading; first run {}; last {}",
        first.len(),
        last.len()
    );
    common::invariants::each_row_once(&last, &all).unwrap();
    common::invariants::no_duplicate_jobs(&sim, APP, &all).unwrap();
    common::invariants::same_as_before(&before, &last).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_while_full_multi_thread() {
    stop_while_full("multi").await;
}

#[tokio::test]
async fn stop_while_full_current_thread() {
    stop_while_full("current").await;
}

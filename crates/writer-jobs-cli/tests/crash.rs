//! Crash and resume, end to end: the CLI batch runs as a child process and
//! dies abruptly (no cleanup, as under `kill -9`) at each journal record —
//! before it, half-way through writing it, right after it — and at seeded
//! random moments (a real SIGKILL); each time a second run with `--resume`
//! must end with exactly one completed result per row and no job created
//! twice. Both runs talk to one simulator in the test process, so jobs
//! created before the crash still exist after it.

mod common;

use std::collections::HashSet;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use writer_sim::DurationDist;

const ROWS: usize = 5;

fn write_rows(dir: &Path, rows: usize) {
    let body: String = (0..rows)
        .map(|i| {
            format!("{{\"key\":\"r{i}\",\"inputs\":{{\"Product name\":\"Crash item {i}\"}}}}\n")
        })
        .collect();
    std::fs::write(dir.join("rows.jsonl"), body).unwrap();
}

// Only this batch creates jobs on the simulator's application: a killed
// run's landed create may be adopted by its timing.
const ARGS: [&str; 9] = [
    "batch",
    "rows.jsonl",
    "--app",
    "demo-product-descriptions",
    "--out",
    "out.jsonl",
    "--create-concurrency",
    "1",
    "--exclusive-app",
];

/// Checks the final results file and the simulator after the resume.
/// `unplaced_first`: the crash lost the first create's answer before any
/// create of the run was answered, so nothing measured that run's clock and
/// row r0's job, which could as well be one made before the run, is
/// reported as its candidate (never adopted, never sent again).
fn check_final(sim: &common::Sim, dir: &Path, rows: usize, what: &str, unplaced_first: bool) {
    let lines = common::lines(&dir.join("out.jsonl"));
    assert_eq!(lines.len(), rows, "{what}: {lines:#?}");
    let mut keys = HashSet::new();
    for line in &lines {
        let record: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(
            keys.insert(record["key"].as_str().unwrap().to_string()),
            "{what}: {line}"
        );
        if unplaced_first && record["key"] == "r0" && record["status"] == "ambiguous" {
            let candidates = record["candidates"].as_array().unwrap();
            assert_eq!(candidates.len(), 1, "{what}: {line}");
            let job = sim
                .sim
                .job(candidates[0].as_str().unwrap())
                .expect("the job exists");
            assert!(
                format!("{:?}", job.inputs).contains("Crash item 0"),
                "{what}: {line}"
            );
            continue;
        }
        assert_eq!(record["status"], "completed", "{what}: {line}");
        let key: usize = record["key"].as_str().unwrap()[1..].parse().unwrap();
        let want = format!("Product name = Crash item {key}");
        assert!(
            record["suggestion"].as_str().unwrap().contains(&want),
            "{what}: {line}"
        );
    }
    let stats = sim.sim.stats();
    assert_eq!(
        stats.duplicate_creates(),
        0,
        "{what}: {:?}",
        stats.created_by_inputs
    );
    assert_eq!(stats.jobs_created, rows as u64, "{what}");
}

fn resume(sim: &common::Sim, dir: &Path, what: &str, unplaced_first: bool) {
    let output = sim
        .cli_std(dir)
        .args(ARGS)
        .arg("--resume")
        .output()
        .unwrap();
    // Exit 7: a row is ambiguous (see `check_final`).
    assert!(
        output.status.success() || (unplaced_first && output.status.code() == Some(7)),
        "{what}: resume failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn dying_at_every_journal_record_resumes_exactly() {
    // 1 intent + 1 created + 1 done per row.
    for index in 0..3 * ROWS {
        for mode in ["before", "torn", "after"] {
            let what = format!("failpoint {index}:{mode}");
            let sim = common::Sim::start(500.0, |b| {
                b.duration(DurationDist::Uniform {
                    min_secs: 5.0,
                    max_secs: 30.0,
                })
            });
            let dir = tempfile::tempdir().unwrap();
            write_rows(dir.path(), ROWS);
            let crashed = sim
                .cli_std(dir.path())
                .args(ARGS)
                .env("WRITER_JOBS_FAILPOINT", format!("{index}:{mode}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .unwrap();
            assert!(!crashed.success(), "{what}: the run did not die");
            // Records 0 and 1 are r0's intent and its answer.
            let unplaced_first = index <= 1;
            resume(&sim, dir.path(), &what, unplaced_first);
            check_final(&sim, dir.path(), ROWS, &what, unplaced_first);
        }
    }
}

/// A tiny deterministic generator for the kill moments (no extra crate).
fn next(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

#[test]
fn sigkill_at_seeded_random_moments_resumes_exactly() {
    const ROWS: usize = 40;
    let mut seed = 0x5eed_u64;
    for round in 0..4 {
        let sim = common::Sim::start(200.0, |b| {
            b.duration(DurationDist::Uniform {
                min_secs: 5.0,
                max_secs: 60.0,
            })
        });
        let dir = tempfile::tempdir().unwrap();
        write_rows(dir.path(), ROWS);
        // Kill after a seeded number of results lines (0..ROWS/2), possibly
        // several times, then finish with a resume.
        let mut kills = 0;
        loop {
            let target = (next(&mut seed) % (ROWS as u64 / 2)) as usize;
            let mut cmd = sim.cli_std(dir.path());
            cmd.args(ARGS).stdout(Stdio::null()).stderr(Stdio::null());
            if kills > 0 {
                cmd.arg("--resume");
            }
            let mut child = cmd.spawn().unwrap();
            let results = dir.path().join("out.jsonl");
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            loop {
                if common::lines(&results).len() >= target
                    || child.try_wait().unwrap().is_some()
                    || std::time::Instant::now() > deadline
                {
                    break;
                }
                std::thread::yield_now();
            }
            let _ = child.kill(); // SIGKILL
            let _ = child.wait();
            kills += 1;
            if kills == 3 || common::lines(&results).len() == ROWS {
                break;
            }
        }
        let what = format!("round {round} after {kills} kills");
        // A kill before any answer is possible (a target of 0 lines).
        resume(&sim, dir.path(), &what, true);
        check_final(&sim, dir.path(), ROWS, &what, true);
    }
}

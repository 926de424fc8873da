//! End-to-end tests of `resolve`: a batch whose every create's answer is
//! lost (the simulator's `create:accept_then_drop=1.0`) leaves each row
//! ambiguous with candidates on a shared application; `resolve` shows them,
//! and each decision (adopt, resend, give up) and refusal is checked from
//! the results file, the journal and the simulator's records, across CLI
//! processes on one standalone simulator.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use writer_sim::{DurationDist, FaultConfig, JobStatus};

const KEYS: [&str; 3] = ["row-a", "row-b", "row-c"];
const APP: &str = "demo-product-descriptions";

/// A standalone simulator, a directory, and a finished batch whose three
/// rows are all ambiguous.
struct Bed {
    sim: common::Sim,
    dir: tempfile::TempDir,
}

fn product(key: &str) -> String {
    format!("Product {key}")
}

fn batch_args() -> Vec<&'static str> {
    vec![
        "batch",
        "rows.jsonl",
        "--app",
        APP,
        "--out",
        "results.jsonl",
        "--max-server-hold",
        "1",
    ]
}

impl Bed {
    /// A bed whose candidate jobs have all finished: the tests on it read
    /// their status as `completed`. The jobs run 5 simulated seconds
    /// (50 ms), and are waited for rather than counted on to end before
    /// the next command starts (it starts quicker than that since a
    /// client of a plain `http://` server reads no root certificates).
    fn new() -> Self {
        let bed = Self::with_jobs_of(Duration::from_secs(5));
        let give_up = std::time::Instant::now() + Duration::from_secs(10);
        while bed
            .sim
            .sim
            .job_ids(APP)
            .iter()
            .filter_map(|id| bed.sim.sim.job(id))
            .any(|j| j.status == JobStatus::InProgress)
        {
            assert!(
                std::time::Instant::now() < give_up,
                "setup: the jobs did not finish"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        bed
    }

    /// Jobs that run `duration` simulated seconds (100 to a real one).
    fn with_jobs_of(duration: Duration) -> Self {
        let sim = common::Sim::start(100.0, |b| b.duration(DurationDist::fixed(duration)));
        let dir = tempfile::tempdir().unwrap();
        let body: String = KEYS
            .iter()
            .map(|k| {
                format!(
                    "{{\"key\":\"{k}\",\"inputs\":{{\"Product name\":\"{}\"}}}}\n",
                    product(k)
                )
            })
            .collect();
        std::fs::write(dir.path().join("rows.jsonl"), body).unwrap();
        sim.sim
            .set_faults(FaultConfig::parse_compact("create:accept_then_drop=1.0").unwrap())
            .unwrap();
        let out = sim.cli(dir.path()).args(batch_args()).output().unwrap();
        assert_eq!(out.status.code(), Some(7), "{}", text(&out.stderr));
        sim.sim.set_faults(FaultConfig::none()).unwrap();
        let bed = Self { sim, dir };
        let records = bed.results();
        assert_eq!(records.len(), KEYS.len());
        for r in &records {
            assert_eq!(r["status"], "ambiguous", "{r}");
            assert!(
                r["candidates"].as_array().is_some_and(|c| !c.is_empty()),
                "{r}"
            );
        }
        assert_eq!(bed.sim.sim.stats().jobs_created, KEYS.len() as u64);
        bed
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn results(&self) -> Vec<serde_json::Value> {
        common::lines(&self.path("results.jsonl"))
            .iter()
            .map(|l| serde_json::from_str(l).expect("each result line is JSON"))
            .collect()
    }

    fn result(&self, key: &str) -> Option<serde_json::Value> {
        self.results().into_iter().find(|r| r["key"] == key)
    }

    /// The candidates the batch reported for `key`'s row (timing decides
    /// which jobs fall in its window: not always its own).
    fn candidates(&self, key: &str) -> Vec<String> {
        let row = self.result(key).expect("the row has a result");
        row["candidates"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_string())
            .collect()
    }

    /// Creates made for `key`'s row, by the simulator's records.
    fn creates_of(&self, key: &str) -> u64 {
        let stats = self.sim.sim.stats();
        let wanted = product(key);
        stats
            .created_by_inputs
            .iter()
            .filter(|(k, _)| k.contains(&wanted))
            .map(|(_, n)| *n)
            .sum()
    }

    fn resolve(&self, args: &[&str]) -> std::process::Output {
        self.sim
            .cli(self.dir.path())
            .arg("resolve")
            .arg("results.jsonl")
            .args(args)
            .output()
            .unwrap()
    }

    fn resume(&self) -> std::process::Output {
        self.sim
            .cli(self.dir.path())
            .args(batch_args())
            .arg("--resume")
            .output()
            .unwrap()
    }

    fn journal(&self) -> String {
        std::fs::read_to_string(self.path("results.jsonl.journal")).unwrap()
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).to_string()
}

/// Checks the exit code and that stderr (or stdout) holds each needle.
fn expect(out: &std::process::Output, code: i32, needles: &[&str]) {
    let (o, e) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(code), "stdout:\n{o}\nstderr:\n{e}");
    for needle in needles {
        assert!(
            o.contains(needle) || e.contains(needle),
            "no {needle:?} in:\nstdout:\n{o}\nstderr:\n{e}"
        );
    }
}

#[test]
fn resolve_lists_each_ambiguous_row_with_its_candidates() {
    let bed = Bed::new();
    let job = bed.candidates("row-a")[0].clone();
    let out = bed.resolve(&[]);
    expect(
        &out,
        7,
        &[
            "3 ambiguous row(s)",
            "3 undecided",
            "row-a:",
            "CANDIDATE",
            &job,
            "completed",
            "--adopt KEY=JOB_ID",
        ],
    );
    let out = bed.resolve(&["--json"]);
    expect(&out, 7, &[]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    let a = rows.iter().find(|r| r["key"] == "row-a").unwrap();
    assert!(a["decision"].is_null());
    let candidate = a["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == job.as_str())
        .expect("the row's candidate is listed");
    assert_eq!(candidate["status"], "completed");
    let first_line = candidate["output"].as_str().unwrap();
    assert!(first_line.contains("Product row-"), "{first_line}");
    assert!(!first_line.contains('\n'));
    assert!(candidate["created_at"].is_string());
}

#[test]
fn adopting_a_finished_candidate_applies_at_once_and_a_resume_creates_nothing() {
    let bed = Bed::new();
    let job = bed.candidates("row-a")[0].clone();
    // Finished (a candidate may still be running when the batch ends).
    let give_up = std::time::Instant::now() + Duration::from_secs(30);
    while bed.sim.sim.job(&job).unwrap().finish_at > bed.sim.sim.clock().now() {
        assert!(
            std::time::Instant::now() < give_up,
            "the candidate never finished"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let out = bed.resolve(&["--adopt", &format!("row-a={job}")]);
    expect(
        &out,
        7,
        &[
            "row-a: adopted job",
            "(completed)",
            "2 ambiguous row(s) still undecided",
        ],
    );
    let a = bed.result("row-a").unwrap();
    assert_eq!(a["status"], "completed");
    assert_eq!(a["job_id"], job.as_str());
    // The adopted job's own output, whichever row's inputs it ran.
    let inputs = format!("{:?}", bed.sim.sim.job(&job).unwrap().inputs);
    let suggestion = a["suggestion"].as_str().unwrap();
    let product = suggestion
        .split("Product name = ")
        .nth(1)
        .and_then(|rest| rest.split(" (digest").next())
        .unwrap();
    assert!(inputs.contains(product), "{suggestion} vs {inputs}");
    assert_eq!(bed.results().len(), 3, "replaced, not added");
    let journal = bed.journal();
    assert!(journal.contains("\"type\":\"adopted\""), "{journal}");
    assert!(journal.contains("\"version\":6"), "{journal}");
    // The row is no longer ambiguous; the others still are.
    expect(&bed.resolve(&[]), 7, &["2 ambiguous row(s)"]);
    // A resume finds every row with a result: nothing is sent.
    let out = bed.resume();
    expect(&out, 7, &["1 completed", "2 ambiguous"]);
    assert_eq!(bed.sim.sim.stats().jobs_created, 3);
    assert_eq!(bed.result("row-a").unwrap()["job_id"], job.as_str());
}

#[test]
fn adopting_a_running_candidate_makes_the_next_resume_wait_for_it() {
    // Jobs run 400 simulated seconds (4 real ones): still running when the
    // batch reports the rows ambiguous and when resolve adopts one.
    let bed = Bed::with_jobs_of(Duration::from_secs(400));
    let job = bed.candidates("row-c")[0].clone();
    let out = bed.resolve(&["--adopt", &format!("row-c={job}")]);
    expect(&out, 7, &["row-c: adopted job", "still running"]);
    assert!(bed.result("row-c").is_none(), "taken out until it finishes");
    let out = bed.resolve(&["--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let c = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == "row-c")
        .unwrap()
        .clone();
    assert_eq!(c["decision"], "adopt");
    let out = bed.resume();
    expect(&out, 7, &["1 completed", "2 ambiguous"]);
    let c = bed.result("row-c").unwrap();
    assert_eq!(c["status"], "completed");
    assert_eq!(c["job_id"], job.as_str());
    assert_eq!(bed.sim.sim.stats().jobs_created, 3, "nothing created");
    // The journal and the results file agree: nothing left to change.
    let before = std::fs::read(bed.path("results.jsonl")).unwrap();
    expect(&bed.resolve(&[]), 7, &["2 ambiguous row(s)"]);
    assert_eq!(std::fs::read(bed.path("results.jsonl")).unwrap(), before);
}

#[test]
fn giving_up_keeps_the_row_ambiguous_and_decided_and_a_resume_leaves_it() {
    let bed = Bed::new();
    let out = bed.resolve(&["--give-up", "row-b"]);
    expect(&out, 7, &["row-b: given up"]);
    assert_eq!(bed.result("row-b").unwrap()["status"], "ambiguous");
    assert!(bed.journal().contains("\"type\":\"gave_up\""));
    let out = bed.resolve(&["--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let b = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == "row-b")
        .unwrap()
        .clone();
    assert_eq!(b["decision"], "give_up");
    expect(
        &bed.resolve(&["--give-up", "row-b"]),
        2,
        &["row `row-b` was decided already"],
    );
    let out = bed.resume();
    expect(&out, 7, &["3 ambiguous"]);
    assert_eq!(bed.sim.sim.stats().jobs_created, 3);
}

#[test]
fn a_resend_decision_makes_the_next_resume_create_exactly_one_new_job_for_that_row() {
    let bed = Bed::new();
    let before = bed.sim.sim.stats().jobs_created;
    let out = bed.resolve(&["--resend", "row-b"]);
    expect(&out, 7, &["row-b: will be created again"]);
    assert!(bed.result("row-b").is_none(), "taken out until the resume");
    assert!(bed.journal().contains("\"type\":\"resend\""));
    assert_eq!(
        bed.sim.sim.stats().jobs_created,
        before,
        "resolve creates nothing"
    );
    let intents_before = bed.journal().matches("\"type\":\"intent\"").count();
    let out = bed.resume();
    expect(&out, 7, &["1 completed", "2 ambiguous"]);
    let stats = bed.sim.sim.stats();
    assert_eq!(stats.jobs_created, before + 1, "exactly one new job");
    assert_eq!(bed.creates_of("row-b"), 2);
    assert_eq!(bed.creates_of("row-a"), 1);
    assert_eq!(bed.creates_of("row-c"), 1);
    let intents = bed.journal().matches("\"type\":\"intent\"").count();
    assert_eq!(intents, intents_before + 1, "one new intent");
    let b = bed.result("row-b").unwrap();
    assert_eq!(b["status"], "completed");
    assert_eq!(b["creates"], 2, "the row's creates, both runs'");
    let old = bed.job_of_first("row-b");
    assert_ne!(b["job_id"], old.as_str(), "a new job, not a candidate");
    assert_eq!(bed.results().len(), 3);
    // Carried out: the row is no longer ambiguous, and a second resume
    // creates nothing more.
    expect(
        &bed.resolve(&["--resend", "row-b"]),
        2,
        &["row `row-b` is not ambiguous (it is completed)"],
    );
    bed.resume();
    assert_eq!(bed.sim.sim.stats().jobs_created, before + 1);
}

impl Bed {
    /// The oldest job made for `key`'s row.
    fn job_of_first(&self, key: &str) -> String {
        let wanted = format!("\"{}\"", product(key));
        let mut jobs: Vec<_> = self
            .sim
            .sim
            .job_ids(APP)
            .into_iter()
            .filter_map(|id| self.sim.sim.job(&id))
            .filter(|j| format!("{:?}", j.inputs).contains(&wanted))
            .collect();
        jobs.sort_by_key(|j| j.created_at);
        jobs[0].id.clone()
    }
}

#[test]
fn refusals_name_the_fix_and_change_nothing() {
    let bed = Bed::new();
    let before = std::fs::read(bed.path("results.jsonl")).unwrap();
    let journal_before = bed.journal();
    expect(
        &bed.resolve(&["--resend", "no-such-row"]),
        2,
        &["no row `no-such-row`", "hint:"],
    );
    expect(
        &bed.resolve(&["--adopt", "row-a=not-a-job"]),
        2,
        &[
            "job not-a-job is not a candidate of row `row-a`",
            "--resend",
        ],
    );
    expect(&bed.resolve(&["--adopt", "row-a"]), 2, &["KEY=JOB_ID"]);
    expect(
        &bed.resolve(&["--resend", "row-a", "--give-up", "row-a"]),
        2,
        &["more than one decision"],
    );
    assert_eq!(std::fs::read(bed.path("results.jsonl")).unwrap(), before);
    assert_eq!(bed.journal(), journal_before, "nothing recorded");

    // Once a row owns a job, no other row can adopt it, and the row is no
    // longer ambiguous. Windows overlap: some job is two rows' candidate.
    let shared = KEYS
        .iter()
        .flat_map(|x| KEYS.iter().map(move |y| (*x, *y)))
        .filter(|(x, y)| x != y)
        .find_map(|(x, y)| {
            let theirs = bed.candidates(y);
            bed.candidates(x)
                .into_iter()
                .find(|j| theirs.contains(j))
                .map(|j| (x, y, j))
        });
    let (x, y, job) = shared.expect("two rows share a candidate");
    expect(
        &bed.resolve(&["--adopt", &format!("{x}={job}")]),
        7,
        &["adopted"],
    );
    expect(
        &bed.resolve(&["--adopt", &format!("{y}={job}")]),
        2,
        &[&format!("job {job} belongs to row `{x}`")],
    );
    expect(
        &bed.resolve(&["--give-up", x]),
        2,
        &[&format!("row `{x}` is not ambiguous (it is completed)")],
    );

    // Not while a run holds the journal.
    let file = std::fs::File::open(bed.path("results.jsonl.journal")).unwrap();
    file.try_lock().unwrap();
    expect(
        &bed.resolve(&["--give-up", y]),
        2,
        &["in use by another writer-jobs run", "a batch is running"],
    );
    drop(file);
    assert_eq!(bed.result(y).unwrap()["status"], "ambiguous");
}

#[test]
fn resolve_without_a_journal_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("r.jsonl"), "").unwrap();
    let out = common::cli(dir.path())
        .args(["resolve", "r.jsonl"])
        .output()
        .unwrap();
    expect(&out, 2, &["the journal r.jsonl.journal does not exist"]);
}

#[test]
fn a_resume_brings_a_results_file_that_missed_the_decisions_into_agreement() {
    // Decisions recorded in the journal while the results file kept its
    // old lines: a `resolve` stopped between its two writes, or decisions
    // made through the library's `Resolution`, which writes only the
    // journal. The next resume must carry them out all the same.
    let bed = Bed::new();
    let stale = std::fs::read(bed.path("results.jsonl")).unwrap();
    let before = bed.sim.sim.stats().jobs_created;
    let job = bed.candidates("row-a")[0].clone();
    let out = bed.resolve(&[
        "--adopt",
        &format!("row-a={job}"),
        "--resend",
        "row-b",
        "--give-up",
        "row-c",
    ]);
    expect(
        &out,
        0,
        &["row-a: adopted job", "row-b: will be", "row-c: given up"],
    );
    std::fs::write(bed.path("results.jsonl"), &stale).unwrap();

    let out = bed.resume();
    expect(&out, 7, &["2 completed", "1 ambiguous"]);
    let a = bed.result("row-a").unwrap();
    assert_eq!(a["status"], "completed", "{a}");
    assert_eq!(a["job_id"], job.as_str());
    let b = bed.result("row-b").unwrap();
    assert_eq!(b["status"], "completed", "the resend was carried out: {b}");
    assert_eq!(bed.sim.sim.stats().jobs_created, before + 1, "one new job");
    assert_eq!(bed.creates_of("row-b"), 2);
    assert_eq!(bed.result("row-c").unwrap()["status"], "ambiguous");
    assert_eq!(bed.results().len(), 3, "one line per row");
    // Nothing left for resolve to repair.
    let agreed = std::fs::read(bed.path("results.jsonl")).unwrap();
    expect(&bed.resolve(&[]), 0, &["1 ambiguous row(s)", "0 undecided"]);
    assert_eq!(std::fs::read(bed.path("results.jsonl")).unwrap(), agreed);
}

#[test]
fn resolve_is_refused_while_a_resumed_batch_runs_on_the_journal() {
    // Jobs run 1,000 simulated seconds (10 real ones): the resume waits for
    // the adopted running job, holding the journal all the while.
    let bed = Bed::with_jobs_of(Duration::from_secs(1000));
    let job = bed.candidates("row-c")[0].clone();
    expect(
        &bed.resolve(&["--adopt", &format!("row-c={job}")]),
        7,
        &["still running"],
    );
    let mut run = bed
        .sim
        .cli_std(bed.dir.path())
        .args(batch_args())
        .arg("--resume")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the run holds the journal's lock.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let file = std::fs::File::open(bed.path("results.jsonl.journal")).unwrap();
        if file.try_lock().is_err() {
            break;
        }
        drop(file);
        assert!(run.try_wait().unwrap().is_none(), "the resume ended early");
        assert!(
            std::time::Instant::now() < deadline,
            "the resume never locked"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let journal_before = bed.journal();
    expect(
        &bed.resolve(&["--give-up", "row-a"]),
        2,
        &["in use by another writer-jobs run", "a batch is running"],
    );
    // The running batch may append its own records meanwhile; resolve
    // must have added none.
    let after = bed.journal();
    assert!(
        after.starts_with(&journal_before),
        "the journal was only appended to"
    );
    assert!(
        !after.contains("\"type\":\"gave_up\""),
        "resolve recorded its decision while a batch held the journal"
    );
    let status = run.wait().unwrap();
    assert_eq!(status.code(), Some(7));
    assert_eq!(bed.result("row-c").unwrap()["job_id"], job.as_str());
    // Once the run has ended, the same decision goes through; the exit
    // status says whether any row is left undecided.
    expect(
        &bed.resolve(&["--give-up", "row-a"]),
        7,
        &["row-a: given up"],
    );
    expect(
        &bed.resolve(&["--give-up", "row-b"]),
        0,
        &["row-b: given up"],
    );
    expect(&bed.resolve(&[]), 0, &["2 ambiguous row(s)", "0 undecided"]);
}

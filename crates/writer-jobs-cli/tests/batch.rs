//! End-to-end tests of `batch`: bad files are refused whole, the example
//! CSV runs on the built-in simulator, existing results are never
//! overwritten, and a killed run resumes to exactly one result per row with
//! no job created twice.

mod common;

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

use writer_sim::DurationDist;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).to_string()
}

fn records(path: &Path) -> Vec<serde_json::Value> {
    common::lines(path)
        .iter()
        .map(|l| serde_json::from_str(l).expect("each result line is JSON"))
        .collect()
}

#[test]
fn a_bad_jsonl_file_lists_every_bad_line_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("rows.jsonl");
    std::fs::write(
        &input,
        [
            r#"{"key":"ok-1","inputs":{"Product name":"Terra"}}"#,
            r#"{"key":"no-name","inputs":{"Tone":"casual"}}"#,
            r#"{"key":"unknown","inputs":{"Product name":"Luna","Colour":"red"}}"#,
            r#"{"key":"broken","inputs":{"Product name":"Sol""#,
            r#"{"key":"ok-1","inputs":{"Product name":"Again"}}"#,
            r#"{"key":"bad-tone","inputs":{"Product name":"Vega","Tone":"loud"}}"#,
            r#"{"key":"ok-2","inputs":{"Product name":"Atlas","Tags":["a","b"]}}"#,
        ]
        .join("\n"),
    )
    .unwrap();
    let out = common::cli(dir.path())
        .args(["batch", "rows.jsonl", "--out", "results.jsonl"])
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    for needle in [
        "line 2: input \"Product name\" is required but missing",
        "line 3: input \"Colour\" is not an input",
        "line 4: invalid JSON",
        "line 5: duplicate key \"ok-1\" (first on line 1)",
        "line 6: input \"Tone\" has \"loud\"",
        "nothing was created",
    ] {
        assert!(err.contains(needle), "stderr lacks {needle:?}:\n{err}");
    }
    assert!(
        !err.contains("line 1:") && !err.contains("line 7:"),
        "{err}"
    );
    assert!(!dir.path().join("results.jsonl").exists());
    assert!(!dir.path().join("results.jsonl.journal").exists());

    // --skip-invalid runs the two good rows only.
    let out = common::cli(dir.path())
        .args([
            "batch",
            "rows.jsonl",
            "--out",
            "results.jsonl",
            "--skip-invalid",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let keys: Vec<String> = records(&dir.path().join("results.jsonl"))
        .iter()
        .map(|r| r["key"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        keys.iter().collect::<HashSet<_>>(),
        ["ok-1".to_string(), "ok-2".to_string()].iter().collect()
    );
}

#[test]
fn a_bad_csv_file_is_refused_with_line_numbers() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("rows.csv"),
        "key,Product name,Tone,Tags\n\
         a,Terra,casual,x;y\n\
         b,,formal,\n\
         c,Luna,loud,\n\
         d,Sol,casual\n\
         e,Vega,,a;b;c;d;e;f\n",
    )
    .unwrap();
    let out = common::cli(dir.path())
        .args(["batch", "rows.csv", "--out", "results.csv"])
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    for needle in [
        "line 3: input \"Product name\" is required",
        "line 4: input \"Tone\" has \"loud\"",
        "line 5: has 3 fields, but the header has 4",
        "line 6: input \"Tags\" has 6 values; at most 5 allowed",
    ] {
        assert!(err.contains(needle), "stderr lacks {needle:?}:\n{err}");
    }
    assert!(!dir.path().join("results.csv").exists());

    // A missing required column and an unknown column: reported at line 1.
    std::fs::write(
        dir.path().join("cols.csv"),
        "key,Name,Tone\nk1,Terra,casual\n",
    )
    .unwrap();
    let out = common::cli(dir.path())
        .args(["batch", "cols.csv", "--out", "results.csv"])
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("line 1: column \"Name\" is not an input"),
        "{err}"
    );
    assert!(
        err.contains("line 1: missing required input \"Product name\""),
        "{err}"
    );
    assert!(!dir.path().join("results.csv").exists());
    assert!(!dir.path().join("results.csv.journal").exists());
}

#[test]
fn the_example_csv_gives_one_result_per_row_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let input = common::examples().join("products.csv");
    let rows = common::lines(&input).len() - 1;
    let out = common::cli(dir.path())
        .arg("batch")
        .arg(&input)
        .args(["--out", "results.jsonl"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let summary = text(&out.stdout);
    assert!(
        summary.contains(&format!("{rows} rows: {rows} completed")),
        "{summary}"
    );
    assert!(summary.contains("(simulated)"), "{summary}");
    let results = records(&dir.path().join("results.jsonl"));
    assert_eq!(results.len(), rows);
    let keys: HashSet<&str> = results.iter().map(|r| r["key"].as_str().unwrap()).collect();
    assert_eq!(keys.len(), rows);
    for r in &results {
        assert_eq!(r["status"], "completed");
        assert_eq!(r["simulated"], true);
        assert!(r["suggestion"].as_str().unwrap().contains("[simulated]"));
        assert!(r["job_id"].is_string());
    }
    // Tags were split on ';'.
    let csv1 = results.iter().find(|r| r["key"] == "csv-002").unwrap();
    assert!(
        csv1["suggestion"]
            .as_str()
            .unwrap()
            .contains("Tags = unisex | UV400 | summer")
    );

    // A second run without --resume must not touch the results.
    let out = common::cli(dir.path())
        .arg("batch")
        .arg(&input)
        .args(["--out", "results.jsonl"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--resume"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(records(&dir.path().join("results.jsonl")).len(), rows);

    // CSV output.
    let out = common::cli(dir.path())
        .arg("batch")
        .arg(&input)
        .args(["--out", "results.csv", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["completed"], rows);
    assert_eq!(summary["simulated"], true);
    let mut reader = csv::Reader::from_path(dir.path().join("results.csv")).unwrap();
    assert_eq!(&reader.headers().unwrap()[2], "status");
    assert_eq!(reader.records().count(), rows);
}

#[test]
fn resume_with_a_missing_journal_is_refused_not_started_afresh() {
    // A fresh journal would not know the jobs an earlier run created and
    // had not finished, and would create them again.
    let dir = tempfile::tempdir().unwrap();
    let input = common::examples().join("products.csv");
    let out = common::cli(dir.path())
        .arg("batch")
        .arg(&input)
        .args([
            "--out",
            "results.jsonl",
            "--max-server-hold",
            "60",
            "--exclusive-app",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let before = std::fs::read(dir.path().join("results.jsonl")).unwrap();
    let out = common::cli(dir.path())
        .arg("batch")
        .arg(&input)
        .args([
            "--out",
            "results.jsonl",
            "--resume",
            "--journal",
            "elsewhere.journal",
        ])
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("elsewhere.journal") && err.contains("does not exist"),
        "{err}"
    );
    assert!(err.contains("--journal"), "the hint names the fix: {err}");
    assert!(!dir.path().join("elsewhere.journal").exists());
    assert_eq!(
        std::fs::read(dir.path().join("results.jsonl")).unwrap(),
        before
    );
}

/// Waits until `done` holds, checking every 20 ms, for at most `limit`.
fn wait_for(limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "timed out waiting");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_killed_batch_resumes_with_one_result_per_row_and_no_duplicate_job() {
    const ROWS: usize = 120;
    // Jobs run 10 to 400 simulated seconds: at 100x, 0.1 to 4 real seconds,
    // so the run is still going when it is killed after 20 results.
    let sim = common::Sim::start(100.0, |b| {
        b.duration(DurationDist::Uniform {
            min_secs: 10.0,
            max_secs: 400.0,
        })
    });
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("rows.jsonl");
    let body: String = (0..ROWS)
        .map(|i| {
            format!("{{\"key\":\"row-{i:03}\",\"inputs\":{{\"Product name\":\"Product {i}\"}}}}\n")
        })
        .collect();
    std::fs::write(&input, body).unwrap();
    let results = dir.path().join("results.jsonl");
    let journal = dir.path().join("results.jsonl.journal");
    let args = [
        "batch",
        "rows.jsonl",
        "--app",
        "demo-product-descriptions",
        "--out",
        "results.jsonl",
        "--concurrency",
        "200",
    ];

    let mut child = sim
        .cli_std(dir.path())
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill once every create is answered (so no create is mid-flight: that
    // case is the library's reconciliation, tested there) and some results
    // are written.
    wait_for(Duration::from_secs(30), || {
        let created = common::lines(&journal)
            .iter()
            .filter(|l| l.contains("\"type\":\"created\""))
            .count();
        created == ROWS && common::lines(&results).len() >= 20
    });
    child.kill().unwrap();
    let _ = child.wait();
    let before = common::lines(&results).len();
    assert!(before < ROWS, "the run finished before it was killed");

    // Tear the last line, as a kill in the middle of a write would.
    let bytes = std::fs::read(&results).unwrap();
    std::fs::write(&results, &bytes[..bytes.len() - 7]).unwrap();

    let out = sim
        .cli(dir.path())
        .args(args)
        .arg("--resume")
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("torn last line"), "{err}");
    let records = records(&results);
    assert_eq!(records.len(), ROWS);
    let keys: HashSet<&str> = records.iter().map(|r| r["key"].as_str().unwrap()).collect();
    assert_eq!(keys.len(), ROWS);
    assert!(records.iter().all(|r| r["status"] == "completed"));
    assert!(records.iter().all(|r| r["simulated"] == true));
    let stats = sim.sim.stats();
    assert_eq!(stats.jobs_created, ROWS as u64);
    assert_eq!(stats.duplicate_creates(), 0);
}

#[cfg(unix)]
#[test]
fn sigterm_stops_creating_finishes_in_flight_jobs_and_prints_the_resume_command() {
    const ROWS: usize = 150;
    let sim = common::Sim::start(100.0, |b| {
        b.duration(DurationDist::Uniform {
            min_secs: 10.0,
            max_secs: 200.0,
        })
    });
    let dir = tempfile::tempdir().unwrap();
    let body: String = (0..ROWS)
        .map(|i| format!("{{\"inputs\":{{\"Product name\":\"Item {i}\"}}}}\n"))
        .collect();
    std::fs::write(dir.path().join("rows.jsonl"), body).unwrap();
    let results = dir.path().join("out.jsonl");
    let args = [
        "batch",
        "rows.jsonl",
        "--app",
        "demo-product-descriptions",
        "--out",
        "out.jsonl",
        "--concurrency",
        "20",
    ];
    let child = sim
        .cli_std(dir.path())
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(Duration::from_secs(30), || {
        common::lines(&results).len() >= 10
    });
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(
        err.contains("stopping: no new jobs will be created"),
        "{err}"
    );
    assert!(
        err.contains("writer-jobs batch rows.jsonl --app demo-product-descriptions --out out.jsonl --concurrency 20 --resume"),
        "{err}"
    );
    // Every job created before the stop was waited for and written.
    let written = records(&results);
    assert!(written.len() < ROWS);
    assert_eq!(written.len() as u64, sim.sim.stats().jobs_created);
    assert!(written.iter().all(|r| r["status"] == "completed"));

    let out = sim
        .cli(dir.path())
        .args(args)
        .arg("--resume")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let all = records(&results);
    assert_eq!(all.len(), ROWS);
    let keys: HashSet<&str> = all.iter().map(|r| r["key"].as_str().unwrap()).collect();
    assert_eq!(keys.len(), ROWS);
    assert_eq!(sim.sim.stats().jobs_created, ROWS as u64);
    assert_eq!(sim.sim.stats().duplicate_creates(), 0);
}

#[cfg(unix)]
#[test]
fn a_stopped_run_on_the_built_in_simulator_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let input = common::examples().join("products.csv");
    let rows = common::lines(&input).len() - 1;
    let results = dir.path().join("r.jsonl");
    // At 20x, jobs take about 1.5 s: slow enough to stop mid-run.
    let run = |resume: bool| {
        let mut cmd = common::cli_std(dir.path());
        cmd.arg("batch").arg(&input).args([
            "--out",
            "r.jsonl",
            "--sim-scale",
            "20",
            "--concurrency",
            "10",
        ]);
        if resume {
            cmd.arg("--resume");
        }
        cmd
    };
    let child = run(false)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(Duration::from_secs(30), || {
        !common::lines(&results).is_empty()
    });
    std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
    let before = common::lines(&results).len();
    assert!(before < rows);
    // The resumed run restarts the simulator at the journal's address.
    let out = run(true).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let all = records(&results);
    assert_eq!(all.len(), rows);
    assert!(all.iter().all(|r| r["status"] == "completed"));
    let keys: HashSet<&str> = all.iter().map(|r| r["key"].as_str().unwrap()).collect();
    assert_eq!(keys.len(), rows);
}

#[test]
fn less_overlap_on_an_exclusive_application_leaves_no_row_ambiguous() {
    // Every fourth create's answer is lost after its job was made. With a
    // short hold and creates kept out of each ambiguous create's window,
    // every lost job has one explanation: adopted, nothing created twice.
    const ROWS: usize = 24;
    let sim = common::Sim::start(100.0, |b| {
        b.duration(DurationDist::fixed(Duration::from_secs(5)))
    });
    sim.sim
        .set_faults(writer_sim::FaultConfig::parse_compact("create:accept_then_drop=0.25").unwrap())
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let body: String = (0..ROWS)
        .map(|i| {
            format!("{{\"key\":\"row-{i:03}\",\"inputs\":{{\"Product name\":\"Product {i}\"}}}}\n")
        })
        .collect();
    std::fs::write(dir.path().join("rows.jsonl"), body).unwrap();
    let out = sim
        .cli(dir.path())
        .args([
            "batch",
            "rows.jsonl",
            "--app",
            "demo-product-descriptions",
            "--out",
            "results.jsonl",
            "--exclusive-app",
            "--max-server-hold",
            "1",
            "--create-concurrency",
            "1",
            "--less-overlap",
        ])
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    assert!(stdout.contains(&format!("{ROWS} completed")), "{stdout}");
    let stats = sim.sim.stats();
    assert!(stats.faults.get("accept_then_drop").copied().unwrap_or(0) > 0);
    assert_eq!(stats.duplicate_creates(), 0);
    assert_eq!(stats.jobs_created, ROWS as u64);
    let rows = records(&dir.path().join("results.jsonl"));
    assert_eq!(rows.len(), ROWS);
    for r in &rows {
        let product = format!(
            "Product {}",
            r["key"].as_str().unwrap()[4..].parse::<u32>().unwrap()
        );
        let job = sim.sim.job(r["job_id"].as_str().unwrap()).unwrap();
        assert!(
            format!("{:?}", job.inputs).contains(&format!("\"{product}\"")),
            "{r}"
        );
    }
}

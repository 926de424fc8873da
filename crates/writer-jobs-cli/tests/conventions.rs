//! End-to-end tests of the conventions command-line users expect: `-` for
//! stdin and stdout, `--quiet`, `RUST_LOG`, no colour off a terminal or with
//! `NO_COLOR`, and the built-in simulator only when asked for (or on a
//! terminal) when no key is configured.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Output, Stdio};

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// Runs `cmd` with `input` on its stdin.
fn with_stdin(mut cmd: std::process::Command, input: &str) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let mut pipe = child.stdin.take().expect("stdin is piped");
    pipe.write_all(input.as_bytes())
        .expect("stdin takes the rows");
    drop(pipe);
    child.wait_with_output().expect("the binary ends")
}

/// `n` JSONL rows for the demo application.
fn rows(n: usize) -> String {
    (0..n)
        .map(|i| format!("{{\"key\":\"k{i}\",\"inputs\":{{\"Product name\":\"Item {i}\"}}}}\n"))
        .collect()
}

/// The result records in `text` (JSONL), by key.
fn keys_of(text: &str) -> Vec<String> {
    let mut keys: Vec<String> = text
        .lines()
        .map(|l| {
            let record: serde_json::Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}"));
            assert_eq!(record["status"], "completed", "{l}");
            record["key"].as_str().unwrap().to_string()
        })
        .collect();
    keys.sort();
    keys
}

fn sorted_keys(n: usize) -> Vec<String> {
    let mut keys: Vec<String> = (0..n).map(|i| format!("k{i}")).collect();
    keys.sort();
    keys
}

#[test]
fn the_readme_quick_start_runs_without_a_terminal() {
    // CI runs the quick start without a terminal and without a key.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let prefix = "cargo run --release -p writer-jobs-cli -- ";
    let line = readme
        .lines()
        .find(|l| l.starts_with(prefix))
        .expect("the README's quick start runs the CLI");
    let args: Vec<&str> = line[prefix.len()..].split_whitespace().collect();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("examples")).unwrap();
    std::fs::copy(
        common::examples().join("products.jsonl"),
        dir.path().join("examples/products.jsonl"),
    )
    .unwrap();
    let out = common::cli_bare(dir.path()).args(&args).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{line}\n{}", stderr(&out));
    let out_path = args[args.iter().position(|a| *a == "--out").unwrap() + 1];
    let written = common::lines(&dir.path().join(out_path));
    assert_eq!(written.len(), 300, "{line}");
}

#[test]
fn without_a_key_or_a_terminal_the_simulator_must_be_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    for args in [vec!["app"], vec!["batch", "rows.jsonl", "--out", "r.jsonl"]] {
        std::fs::write(dir.path().join("rows.jsonl"), rows(2)).unwrap();
        let out = common::cli_bare(dir.path()).args(&args).output().unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {err}");
        assert!(err.contains("no API key"), "{err}");
        assert!(
            err.contains("set WRITER_API_KEY") && err.contains("pass --simulator"),
            "the message names both fixes: {err}"
        );
        assert!(!err.contains("using the built-in"), "{err}");
        assert!(stdout(&out).is_empty(), "{}", stdout(&out));
        assert!(!dir.path().join("r.jsonl").exists());
    }
    let out = common::cli_bare(dir.path())
        .args(["app", "--simulator"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("demo-product-descriptions"));
    assert!(stderr(&out).contains("built-in local simulator (--simulator)"));
}

#[test]
fn simulator_wins_over_a_configured_key_and_conflicts_with_base_url() {
    const SECRET: &str = "sk-conventions-secret-never-printed";
    let sim = common::Sim::start(100.0, |b| b.api_key(SECRET));
    let dir = tempfile::tempdir().unwrap();
    let out = sim
        .cli(dir.path())
        .args(["--simulator", "app"])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("WRITER_API_KEY is not used"), "{err}");
    assert!(!err.contains(SECRET) && !stdout(&out).contains(SECRET));
    assert_eq!(
        sim.sim.stats().total_requests,
        0,
        "the configured server was not asked"
    );

    let out = common::cli(dir.path())
        .args(["--base-url", "http://127.0.0.1:9", "app"])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--simulator") && err.contains("--base-url"),
        "{err}"
    );
}

#[test]
fn rows_from_stdin_and_results_to_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = common::cli_std(dir.path());
    cmd.args(["batch", "-", "--out", "-", "--journal", "run.journal"]);
    let out = with_stdin(cmd, &rows(5));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    // stdout holds the results and nothing else; the summary is on stderr.
    assert_eq!(keys_of(&stdout(&out)), sorted_keys(5));
    assert!(
        err.contains("5 rows: 5 completed") && err.contains("results: stdout (5 written now)"),
        "{err}"
    );
    assert!(dir.path().join("run.journal").is_file());

    // CSV on stdin, CSV on stdout, the summary as JSON on stderr.
    let mut cmd = common::cli_std(dir.path());
    cmd.args([
        "--json",
        "batch",
        "-",
        "--input-format",
        "csv",
        "--out",
        "-",
        "--format",
        "csv",
        "--journal",
        "csv.journal",
    ]);
    let out = with_stdin(cmd, "key,Product name\na,Terra\nb,Luna\n");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mut reader = csv::Reader::from_reader(out.stdout.as_slice());
    assert_eq!(&reader.headers().unwrap()[0], "key");
    assert_eq!(reader.records().count(), 2);
    let err = stderr(&out);
    let json_start = err.find('{').expect("a JSON summary on stderr");
    let summary: serde_json::Value = serde_json::from_str(&err[json_start..]).unwrap();
    assert_eq!(summary["completed"], 2);
}

#[test]
fn bad_rows_on_stdin_are_named_as_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = common::cli_std(dir.path());
    cmd.args(["batch", "-", "--out", "r.jsonl"]);
    let out = with_stdin(cmd, "{\"key\":\"a\",\"inputs\":{\"Colour\":\"red\"}}\n");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("stdin: line 1: "), "{err}");
    assert!(err.contains("problem(s) in stdin"), "{err}");
    assert!(!dir.path().join("r.jsonl").exists());

    // CSV without --input-format: the hint names the flag.
    let mut cmd = common::cli_std(dir.path());
    cmd.args(["batch", "-", "--out", "r.jsonl"]);
    let out = with_stdin(cmd, "key,Product name\na,Terra\n");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--input-format csv"), "{err}");

    let mut cmd = common::cli_std(dir.path());
    cmd.args(["batch", "-", "--out", "r.jsonl"]);
    let out = with_stdin(cmd, "");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("stdin has no valid rows"), "{err}");
}

#[test]
fn results_on_stdout_need_a_journal_and_resume_into_a_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rows.jsonl"), rows(4)).unwrap();
    let out = common::cli(dir.path())
        .args(["batch", "rows.jsonl", "--out", "-"])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--out -") && err.contains("pass --journal PATH"),
        "{err}"
    );
    assert!(stdout(&out).is_empty());

    let out = common::cli(dir.path())
        .args(["batch", "rows.jsonl", "--out", "-", "--journal", "j"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(keys_of(&stdout(&out)), sorted_keys(4));

    let out = common::cli(dir.path())
        .args([
            "batch",
            "rows.jsonl",
            "--out",
            "-",
            "--journal",
            "j",
            "--resume",
        ])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--resume cannot continue results written to stdout"),
        "{err}"
    );
    assert!(err.contains("--out FILE --journal"), "the fix: {err}");
    assert!(stdout(&out).is_empty());

    // The fix the message names: the journal's finished rows go to a file,
    // and nothing is created again.
    let out = common::cli(dir.path())
        .args([
            "batch",
            "rows.jsonl",
            "--out",
            "r.jsonl",
            "--journal",
            "j",
            "--resume",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let written = std::fs::read_to_string(dir.path().join("r.jsonl")).unwrap();
    assert_eq!(keys_of(&written), sorted_keys(4));
    assert!(stdout(&out).contains("0 requests"), "{}", stdout(&out));
}

#[test]
fn quiet_prints_only_errors_and_the_summary() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rows.jsonl"), rows(30)).unwrap();
    // At 10x, jobs take seconds: long enough for progress lines.
    let batch = |out: &str, quiet: bool| {
        let mut cmd = common::cli(dir.path());
        cmd.args(["batch", "rows.jsonl", "--out", out, "--sim-scale", "10"]);
        if quiet {
            cmd.arg("--quiet");
        }
        cmd.output().unwrap()
    };
    let loud = batch("loud.jsonl", false);
    assert_eq!(loud.status.code(), Some(0), "{}", stderr(&loud));
    let err = stderr(&loud);
    assert!(err.contains("built-in local simulator"), "{err}");
    assert!(err.contains("progress: "), "{err}");
    let quiet = batch("quiet.jsonl", true);
    assert_eq!(quiet.status.code(), Some(0), "{}", stderr(&quiet));
    assert_eq!(stderr(&quiet), "", "nothing but errors on stderr");
    assert!(
        stdout(&quiet).contains("30 rows: 30 completed"),
        "{}",
        stdout(&quiet)
    );
    assert_eq!(common::lines(&dir.path().join("quiet.jsonl")).len(), 30);

    // Errors still show.
    let out = common::cli(dir.path())
        .args(["-q", "batch", "missing.jsonl", "--out", "x.jsonl"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("error: the input file missing.jsonl"));

    // A single job: its result, no status lines.
    let out = common::cli(dir.path())
        .args(["run", "-q", "--input", "Product name=Terra"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
    assert!(stdout(&out).contains("status:      completed"));

    let out = common::cli(dir.path())
        .args(["-q", "-v", "app"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--quiet"), "{}", stderr(&out));
}

#[test]
fn rust_log_overrides_the_verbosity_flags() {
    let dir = tempfile::tempdir().unwrap();
    let log_line = "built-in simulator started";
    let out = common::cli(dir.path()).arg("app").output().unwrap();
    assert!(!stderr(&out).contains(log_line), "{}", stderr(&out));

    let out = common::cli(dir.path())
        .env("RUST_LOG", "writer_jobs=info")
        .arg("app")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(stderr(&out).contains(log_line), "{}", stderr(&out));

    let out = common::cli(dir.path())
        .env("RUST_LOG", "off")
        .args(["-vvv", "app"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let err = stderr(&out);
    assert!(
        !err.contains(log_line) && !err.contains("DEBUG") && !err.contains("TRACE"),
        "{err}"
    );

    let out = common::cli(dir.path())
        .env("RUST_LOG", "writer_jobs=loud")
        .arg("app")
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("RUST_LOG=\"writer_jobs=loud\""), "{err}");
    assert!(err.contains("hint:"), "{err}");
}

#[test]
fn no_colour_when_stderr_is_not_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let out = common::cli(dir.path())
        .args(["-vv", "app"])
        .output()
        .unwrap();
    assert!(stderr(&out).contains("DEBUG"), "{}", stderr(&out));
    assert!(!stderr(&out).contains('\u{1b}'), "{}", stderr(&out));
    let out = common::cli(dir.path())
        .args(["app", "--no-such-flag"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--no-such-flag"));
    assert!(!stderr(&out).contains('\u{1b}'), "{}", stderr(&out));
}

#[test]
fn sim_scale_is_hidden_from_help_but_still_checked() {
    let dir = tempfile::tempdir().unwrap();
    let out = common::cli(dir.path()).arg("--help").output().unwrap();
    let help = stdout(&out);
    assert!(help.contains("--simulator"), "{help}");
    assert!(
        !help.contains("--sim-scale") && !help.contains("--sim-seed"),
        "{help}"
    );
    let out = common::cli(dir.path())
        .args(["--sim-scale", "0", "app"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--sim-scale must be a number above 0"));
}

/// Runs the binary with a terminal as stdin, stdout and stderr (util-linux
/// `script`), with `env` on top of an empty environment; its output, the
/// terminal's, comes back as one text.
#[cfg(target_os = "linux")]
fn on_a_terminal(dir: &Path, env: &[(&str, &str)], args: &str) -> (Option<i32>, String) {
    let exe = env!("CARGO_BIN_EXE_writer-jobs");
    let mut cmd = std::process::Command::new("script");
    cmd.env_clear()
        .env("HOME", dir)
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .current_dir(dir)
        .args(["-q", "-e", "-c", &format!("'{exe}' {args}"), "/dev/null"])
        .stdin(Stdio::null());
    let out = cmd
        .output()
        .expect("util-linux `script` runs (it gives the binary a terminal)");
    (out.status.code(), stdout(&out))
}

#[cfg(target_os = "linux")]
#[test]
fn on_a_terminal_the_simulator_starts_without_a_key_and_colour_follows_no_color() {
    let dir = tempfile::tempdir().unwrap();
    let (code, text) = on_a_terminal(dir.path(), &[], "-v app");
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("no WRITER_API_KEY found, so using the built-in local simulator"),
        "{text}"
    );
    assert!(text.contains("demo-product-descriptions"), "{text}");
    assert!(text.contains('\u{1b}'), "colour on a terminal: {text}");

    let (code, text) = on_a_terminal(dir.path(), &[("NO_COLOR", "1")], "-v app");
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("built-in simulator started"), "{text}");
    assert!(!text.contains('\u{1b}'), "NO_COLOR: {text}");
}

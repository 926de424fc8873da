//! End-to-end tests of the conventions command-line users expect: `-` for
//! stdin and stdout, `--quiet`, `RUST_LOG`, no colour off a terminal or with
//! `NO_COLOR`, and the built-in simulator only when asked for (or on a
//! terminal) when no key is configured.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Output, Stdio};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).to_string()
}

/// Checks the exit code of a finished run; returns its (stdout, stderr).
fn check(out: Output, code: i32) -> (String, String) {
    let (o, e) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(code), "stdout:\n{o}\nstderr:\n{e}");
    (o, e)
}

/// Runs `cmd`, expecting exit `code`; returns its (stdout, stderr).
fn expect(cmd: &mut assert_cmd::Command, code: i32) -> (String, String) {
    check(cmd.output().expect("the binary runs"), code)
}

/// Runs `writer-jobs --simulator ARGS` in `dir` with `input` on its stdin,
/// expecting exit `code`; returns its (stdout, stderr).
fn expect_with_stdin(dir: &Path, args: &[&str], input: &str, code: i32) -> (String, String) {
    let mut child = common::cli_std(dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let mut pipe = child.stdin.take().expect("stdin is piped");
    pipe.write_all(input.as_bytes())
        .expect("stdin takes the rows");
    drop(pipe);
    check(child.wait_with_output().expect("the binary ends"), code)
}

/// `n` JSONL rows for the demo application.
fn rows(n: usize) -> String {
    (0..n)
        .map(|i| format!("{{\"key\":\"k{i}\",\"inputs\":{{\"Product name\":\"Item {i}\"}}}}\n"))
        .collect()
}

/// The keys of the completed result records in `text` (JSONL), sorted.
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

/// The keys of [`rows`]`(n)`, sorted.
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
    expect(common::cli_bare(dir.path()).args(&args), 0);
    let out_path = args[args.iter().position(|a| *a == "--out").unwrap() + 1];
    let written = common::lines(&dir.path().join(out_path));
    assert_eq!(written.len(), 300, "{line}");
}

#[test]
fn without_a_key_or_a_terminal_the_simulator_must_be_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rows.jsonl"), rows(2)).unwrap();
    for args in [vec!["app"], vec!["batch", "rows.jsonl", "--out", "r.jsonl"]] {
        let (out, err) = expect(common::cli_bare(dir.path()).args(&args), 3);
        assert!(err.contains("no API key"), "{err}");
        assert!(
            err.contains("set WRITER_API_KEY") && err.contains("pass --simulator"),
            "the message names both fixes: {err}"
        );
        assert!(!err.contains("using the built-in"), "{err}");
        assert!(out.is_empty(), "{out}");
        assert!(!dir.path().join("r.jsonl").exists());
    }
    let (out, err) = expect(common::cli_bare(dir.path()).args(["app", "--simulator"]), 0);
    assert!(out.contains("demo-product-descriptions"), "{out}");
    assert!(
        err.contains("built-in local simulator (--simulator)"),
        "{err}"
    );
}

#[test]
fn simulator_wins_over_a_configured_key_and_conflicts_with_base_url() {
    const SECRET: &str = "sk-conventions-secret-never-printed";
    let sim = common::Sim::start(100.0, |b| b.api_key(SECRET));
    let dir = tempfile::tempdir().unwrap();
    let (out, err) = expect(sim.cli(dir.path()).args(["--simulator", "app"]), 0);
    assert!(err.contains("WRITER_API_KEY is not used"), "{err}");
    assert!(!err.contains(SECRET) && !out.contains(SECRET));
    assert_eq!(
        sim.sim.stats().total_requests,
        0,
        "the configured server was not asked"
    );

    let (_, err) = expect(
        common::cli(dir.path()).args(["--base-url", "http://127.0.0.1:9", "app"]),
        2,
    );
    assert!(
        err.contains("--simulator") && err.contains("--base-url"),
        "{err}"
    );
}

#[test]
fn rows_from_stdin_and_results_to_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["batch", "-", "--out", "-", "--journal", "run.journal"];
    let (out, err) = expect_with_stdin(dir.path(), &args, &rows(5), 0);
    // stdout holds the results and nothing else; the summary is on stderr.
    assert_eq!(keys_of(&out), sorted_keys(5));
    assert!(
        err.contains("5 rows: 5 completed") && err.contains("results: stdout (5 written now)"),
        "{err}"
    );
    assert!(dir.path().join("run.journal").is_file());

    // CSV on stdin, CSV on stdout, the summary as JSON on stderr.
    let args = [
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
    ];
    let (out, err) = expect_with_stdin(dir.path(), &args, "key,Product name\na,Terra\nb,Luna\n", 0);
    let mut reader = csv::Reader::from_reader(out.as_bytes());
    assert_eq!(&reader.headers().unwrap()[0], "key");
    assert_eq!(reader.records().count(), 2);
    let json_start = err.find('{').expect("a JSON summary on stderr");
    let summary: serde_json::Value = serde_json::from_str(&err[json_start..]).unwrap();
    assert_eq!(summary["completed"], 2);
}

#[test]
fn bad_rows_on_stdin_are_named_as_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["batch", "-", "--out", "r.jsonl"];
    let unknown = "{\"key\":\"a\",\"inputs\":{\"Colour\":\"red\"}}\n";
    let (_, err) = expect_with_stdin(dir.path(), &args, unknown, 2);
    assert!(err.contains("stdin: line 1: "), "{err}");
    assert!(err.contains("problem(s) in stdin"), "{err}");
    assert!(!dir.path().join("r.jsonl").exists());

    // CSV without --input-format: the hint names the flag.
    let (_, err) = expect_with_stdin(dir.path(), &args, "key,Product name\na,Terra\n", 2);
    assert!(err.contains("--input-format csv"), "{err}");

    let (_, err) = expect_with_stdin(dir.path(), &args, "", 2);
    assert!(err.contains("stdin has no valid rows"), "{err}");
}

#[test]
fn results_on_stdout_need_a_journal_and_resume_into_a_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rows.jsonl"), rows(4)).unwrap();
    let batch = |extra: &[&str], code: i32| {
        expect(
            common::cli(dir.path())
                .args(["batch", "rows.jsonl"])
                .args(extra),
            code,
        )
    };
    let (out, err) = batch(&["--out", "-"], 2);
    assert!(
        err.contains("--out -") && err.contains("pass --journal PATH"),
        "{err}"
    );
    assert!(out.is_empty(), "{out}");

    let (out, _) = batch(&["--out", "-", "--journal", "j"], 0);
    assert_eq!(keys_of(&out), sorted_keys(4));

    let (out, err) = batch(&["--out", "-", "--journal", "j", "--resume"], 2);
    assert!(
        err.contains("--resume cannot continue results written to stdout"),
        "{err}"
    );
    assert!(err.contains("--out FILE --journal"), "the fix: {err}");
    assert!(out.is_empty(), "{out}");

    // The fix the message names: the journal's finished rows go to a file,
    // and nothing is created again.
    let (out, _) = batch(&["--out", "r.jsonl", "--journal", "j", "--resume"], 0);
    let written = std::fs::read_to_string(dir.path().join("r.jsonl")).unwrap();
    assert_eq!(keys_of(&written), sorted_keys(4));
    assert!(out.contains("0 requests"), "{out}");
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
        expect(&mut cmd, 0)
    };
    let (_, err) = batch("loud.jsonl", false);
    assert!(err.contains("built-in local simulator"), "{err}");
    assert!(err.contains("progress: "), "{err}");
    let (out, err) = batch("quiet.jsonl", true);
    assert_eq!(err, "", "nothing but errors on stderr");
    assert!(out.contains("30 rows: 30 completed"), "{out}");
    assert_eq!(common::lines(&dir.path().join("quiet.jsonl")).len(), 30);

    // Errors still show.
    let (_, err) = expect(
        common::cli(dir.path()).args(["-q", "batch", "missing.jsonl", "--out", "x.jsonl"]),
        2,
    );
    assert!(err.contains("error: the input file missing.jsonl"), "{err}");

    // A single job: its result, no status lines.
    let (out, err) = expect(
        common::cli(dir.path()).args(["run", "-q", "--input", "Product name=Terra"]),
        0,
    );
    assert_eq!(err, "");
    assert!(out.contains("status:      completed"), "{out}");

    let (_, err) = expect(common::cli(dir.path()).args(["-q", "-v", "app"]), 2);
    assert!(err.contains("--quiet"), "{err}");
}

#[test]
fn rust_log_overrides_the_verbosity_flags() {
    let dir = tempfile::tempdir().unwrap();
    let log_line = "built-in simulator started";
    let app = |rust_log: Option<&str>, verbose: &str, code: i32| {
        let mut cmd = common::cli(dir.path());
        if let Some(value) = rust_log {
            cmd.env("RUST_LOG", value);
        }
        expect(cmd.args([verbose, "app"]), code).1
    };
    let err = app(None, "--json", 0);
    assert!(!err.contains(log_line), "{err}");

    let err = app(Some("writer_jobs=info"), "--json", 0);
    assert!(err.contains(log_line), "{err}");

    let err = app(Some("off"), "-vvv", 0);
    assert!(
        !err.contains(log_line) && !err.contains("DEBUG") && !err.contains("TRACE"),
        "{err}"
    );

    let err = app(Some("writer_jobs=loud"), "--json", 2);
    assert!(err.contains("RUST_LOG=\"writer_jobs=loud\""), "{err}");
    assert!(err.contains("hint:"), "{err}");
}

#[test]
fn no_colour_when_stderr_is_not_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let (_, err) = expect(common::cli(dir.path()).args(["-vv", "app"]), 0);
    assert!(err.contains("DEBUG"), "{err}");
    assert!(!err.contains('\u{1b}'), "{err}");
    let (_, err) = expect(common::cli(dir.path()).args(["app", "--no-such-flag"]), 2);
    assert!(err.contains("--no-such-flag"), "{err}");
    assert!(!err.contains('\u{1b}'), "{err}");
}

#[test]
fn sim_scale_is_hidden_from_help_but_still_checked() {
    let dir = tempfile::tempdir().unwrap();
    let (help, _) = expect(common::cli(dir.path()).arg("--help"), 0);
    assert!(help.contains("--simulator"), "{help}");
    assert!(
        !help.contains("--sim-scale") && !help.contains("--sim-seed"),
        "{help}"
    );
    let (_, err) = expect(common::cli(dir.path()).args(["--sim-scale", "0", "app"]), 2);
    assert!(
        err.contains("--sim-scale must be a number above 0"),
        "{err}"
    );
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
    (out.status.code(), text(&out.stdout))
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

//! End-to-end tests of the single-job commands: on the built-in simulator
//! (no key in the environment) and on a standalone simulator reached with
//! WRITER_BASE_URL and its key, so jobs outlive one process.

mod common;

use std::time::Duration;

use writer_sim::{AppConfig, DurationDist, InputDef};

const SECRET: &str = "sk-test-secret-key-never-printed";

fn sim() -> common::Sim {
    common::Sim::start(100.0, |b| {
        b.api_key(SECRET)
            .duration(DurationDist::fixed(Duration::from_secs(20)))
            .app(
                AppConfig::new("always-fails", "Always fails")
                    .input(InputDef::text("Topic", true))
                    .failure_rate(1.0),
            )
    })
}

/// Runs `cmd` and checks its exit code and that each `(stream, text)`
/// appears (stream "out" or "err").
fn expect(
    cmd: &mut assert_cmd::Command,
    code: i32,
    needles: &[(&str, &str)],
) -> std::process::Output {
    let out = cmd.output().expect("the binary runs");
    let (o, e) = (stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(code), "stdout:\n{o}\nstderr:\n{e}");
    for (stream, text) in needles {
        let hay = if *stream == "out" { &o } else { &e };
        assert!(
            hay.contains(text),
            "{stream} lacks {text:?}:\nstdout:\n{o}\nstderr:\n{e}"
        );
    }
    out
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

#[test]
fn run_on_the_embedded_simulator_prints_a_simulated_result() {
    let dir = tempfile::tempdir().unwrap();
    expect(
        common::cli(dir.path()).args([
            "run",
            "--input",
            "Product name=Terra running shoe",
            "-i",
            "Tags=a",
            "-i",
            "Tags=b",
        ]),
        0,
        &[
            ("out", "status:      completed"),
            ("out", "[simulated]"),
            ("out", "Tags = a | b"),
            ("err", "built-in local simulator"),
        ],
    );
}

#[test]
fn submit_prints_the_job_id_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let out = common::cli(dir.path())
        .args(["submit", "--input", "Product name=Terra"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim().len(), 36, "{}", stdout(&out));
    let out = common::cli(dir.path())
        .args([
            "--json",
            "submit",
            "--app",
            "demo-product-descriptions",
            "--input",
            "Product name=Terra",
        ])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["status"], "in_progress");
}

#[test]
fn bad_inputs_are_listed_together_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    expect(
        common::cli(dir.path()).args(["submit", "--input", "Tone=loud", "--input", "Colour=red"]),
        2,
        &[
            ("err", "input \"Product name\" is required"),
            ("err", "input \"Colour\" is not an input"),
            ("err", "\"loud\""),
            ("err", "hint:"),
        ],
    );
    expect(
        common::cli(dir.path()).args(["submit", "--input", "no-equals-sign"]),
        2,
        &[("err", "NAME=VALUE")],
    );
}

#[test]
fn unknown_ids_exit_4_and_missing_key_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        vec!["get", "no-such-job"],
        vec!["wait", "no-such-job"],
        vec!["retry", "no-such-job"],
        vec!["app", "no-such-app"],
        vec!["list", "--app", "no-such-app"],
    ] {
        expect(
            common::cli(dir.path()).args(&args),
            4,
            &[("err", "error:"), ("err", "hint:")],
        );
    }
    expect(
        common::cli_bare(dir.path()).args(["--base-url", "https://example.invalid", "get", "x"]),
        3,
        &[("err", "hint: set WRITER_API_KEY or put it in .env")],
    );
}

#[test]
fn a_key_in_dot_env_is_used_and_never_printed() {
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(".env"),
        format!("WRITER_API_KEY={SECRET}\n"),
    )
    .unwrap();
    let out = common::cli_bare(dir.path())
        .args([
            "-vvv",
            "--base-url",
            &sim.sim.base_url(),
            "app",
            "demo-product-descriptions",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        !stderr(&out).contains("built-in"),
        "used the simulator: {}",
        stderr(&out)
    );
    assert!(!stdout(&out).contains(SECRET) && !stderr(&out).contains(SECRET));
    // A wrong key: exit 3, and still no key in the output.
    std::fs::write(
        dir.path().join(".env"),
        "WRITER_API_KEY=sk-wrong-key-also-secret\n",
    )
    .unwrap();
    let out = common::cli_bare(dir.path())
        .args(["-vv", "--base-url", &sim.sim.base_url(), "get", "x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(!stderr(&out).contains("sk-wrong-key-also-secret"));
}

#[test]
fn submit_get_wait_list_and_retry_against_one_simulator() {
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    let out = sim
        .cli(dir.path())
        .args([
            "submit",
            "--app",
            "demo-product-descriptions",
            "--input",
            "Product name=Terra",
            "--input",
            "Tone=formal",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let id = stdout(&out).trim().to_string();

    let out = sim.cli(dir.path()).args(["wait", &id]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("status:      completed"));
    assert!(stdout(&out).contains("Tone = formal"));

    let out = sim
        .cli(dir.path())
        .args(["--json", "get", &id])
        .output()
        .unwrap();
    let job: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(job["id"], id.as_str());
    assert_eq!(job["status"], "completed");
    assert!(
        job["data"]["suggestion"]
            .as_str()
            .unwrap()
            .contains("[simulated]")
    );

    expect(
        sim.cli(dir.path()).args([
            "list",
            "--app",
            "demo-product-descriptions",
            "--status",
            "completed",
        ]),
        0,
        &[("out", id.as_str())],
    );
    let out = sim
        .cli(dir.path())
        .args([
            "--json",
            "list",
            "--app",
            "demo-product-descriptions",
            "--all",
        ])
        .output()
        .unwrap();
    assert_eq!(stdout(&out).lines().count(), 1);

    // A job that fails: wait exits 6; retry prints the id it runs as.
    let out = sim
        .cli(dir.path())
        .args(["submit", "--app", "always-fails", "--input", "Topic=x"])
        .output()
        .unwrap();
    let failing = stdout(&out).trim().to_string();
    expect(
        sim.cli(dir.path()).args(["wait", &failing]),
        6,
        &[("err", "failed"), ("err", "hint: retry it")],
    );
    let out = sim
        .cli(dir.path())
        .args(["retry", &failing])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let retried = stdout(&out).trim().to_string();
    assert!(!retried.is_empty());
    let out = sim
        .cli(dir.path())
        .args(["--json", "wait", &retried])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(6));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["status"], "failed");
    expect(
        sim.cli(dir.path()).args(["retry", &retried, "--wait"]),
        6,
        &[],
    );
}

#[test]
fn completions_are_generated() {
    let dir = tempfile::tempdir().unwrap();
    expect(
        common::cli(dir.path()).args(["completions", "bash"]),
        0,
        &[("out", "writer-jobs")],
    );
}

fn demo_output(name: &str) -> writer_api::types::GenerateApplicationResponse {
    let inputs = vec![writer_api::types::JobInput {
        id: "Product name".into(),
        value: vec![name.into()],
    }];
    writer_sim::expected_output("demo-product-descriptions", &inputs)
}

#[test]
fn run_sync_prints_the_output_and_sync_stream_the_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let expected = demo_output("Terra running shoe");
    let out = expect(
        common::cli(dir.path()).args(["run", "--sync", "-i", "Product name=Terra running shoe"]),
        0,
        &[("out", "suggestion:"), ("out", &expected.suggestion)],
    );
    assert!(!stdout(&out).contains("status:"), "no job is involved");
    let out = expect(
        common::cli(dir.path()).args([
            "run",
            "--sync",
            "--stream",
            "-i",
            "Product name=Terra running shoe",
        ]),
        0,
        &[("err", "built-in local simulator")],
    );
    assert_eq!(stdout(&out), format!("{}\n", expected.suggestion));
    let out = expect(
        common::cli(dir.path()).args([
            "--json",
            "run",
            "--sync",
            "--stream",
            "-i",
            "Product name=Terra running shoe",
        ]),
        0,
        &[],
    );
    let texts: Vec<String> = stdout(&out)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["text"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(texts.len(), writer_sim::STREAM_CHUNKS);
    assert_eq!(texts.concat(), expected.suggestion);
    // --stream needs --sync; --timeout is for the job's wait.
    expect(
        common::cli(dir.path()).args(["run", "--stream", "-i", "Product name=x"]),
        2,
        &[("err", "--sync")],
    );
    expect(
        common::cli(dir.path()).args(["run", "--sync", "--timeout", "5", "-i", "Product name=x"]),
        2,
        &[("err", "--timeout")],
    );
}

#[test]
fn run_sync_stream_prints_chunks_as_they_arrive() {
    use std::io::Read;
    use std::time::Instant;
    // 10x: the 20 s run streams a piece every 0.4 real seconds.
    let sim = common::Sim::start(10.0, |b| {
        b.api_key(SECRET)
            .duration(DurationDist::fixed(Duration::from_secs(20)))
    });
    let dir = tempfile::tempdir().unwrap();
    let name = "Terra running shoe for long trail races in the rain";
    let mut child = sim
        .cli_std(dir.path())
        .args([
            "run",
            "--sync",
            "--stream",
            "--app",
            "demo-product-descriptions",
            "-i",
            &format!("Product name={name}"),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let started = Instant::now();
    let mut text = String::new();
    let mut first_text_at = None;
    let mut buf = [0u8; 4096];
    loop {
        let n = stdout.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        text.push_str(std::str::from_utf8(&buf[..n]).unwrap());
        first_text_at.get_or_insert_with(|| started.elapsed());
    }
    let ended_at = started.elapsed();
    let status = child.wait().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(status.success(), "{err}");
    assert_eq!(text, format!("{}\n", demo_output(name).suggestion));
    assert!(!text.contains(SECRET) && !err.contains(SECRET));
    // The first piece came out well before the run ended (about 1.6 s).
    let first = first_text_at.unwrap();
    assert!(
        ended_at - first >= Duration::from_millis(1000),
        "first text at {first:?}, end at {ended_at:?}"
    );
}

/// A 400 in Writer's documented error shape (`tpe`, `errors[].key`,
/// `errors[].description`, `extras`) for an input the pre-flight check
/// could not judge (a rule only the server knows): the CLI prints the
/// server's description next to the input it names, exits 2, and never
/// prints the key.
#[test]
fn a_server_400_in_writers_shape_names_the_input_and_its_description() {
    use httpmock::prelude::*;
    let server = MockServer::start();
    server.mock(|when, then| {
        when.method(GET).path("/v1/applications/app-1");
        then.status(200).json_body(serde_json::json!({
            "id": "app-1", "name": "Pages", "type": "generation", "status": "deployed",
            "created_at": "2025-02-10T18:18:09Z", "updated_at": "2025-02-10T18:18:09Z",
            "inputs": [{"name": "Product name", "input_type": "text", "required": true}]
        }));
    });
    let create = server.mock(|when, then| {
        when.method(POST).path("/v1/applications/app-1/jobs");
        then.status(400).json_body(serde_json::json!({
            "tpe": "invalid_inputs",
            "errors": [{
                "description": "must name a product in the catalogue",
                "key": "Product name",
                "extras": {"max_length": 40}
            }],
            "extras": null
        }));
    });
    let dir = tempfile::tempdir().unwrap();
    let out = expect(
        common::cli_bare(dir.path())
            .env("WRITER_API_KEY", SECRET)
            .env("WRITER_BASE_URL", server.base_url())
            .args(["submit", "--app", "app-1", "--input", "Product name=Gizmo"]),
        2,
        &[
            ("err", "HTTP 400"),
            ("err", "Product name: must name a product in the catalogue"),
        ],
    );
    create.assert();
    assert!(
        !stdout(&out).contains(SECRET) && !stderr(&out).contains(SECRET),
        "the key was printed"
    );
}

//! The bench must not rot: run every scenario at tiny sizes through the real
//! binary (parent, simulator, child processes, tables, verdicts).

use std::process::Command;

#[test]
fn every_scenario_runs_at_tiny_sizes() {
    let dir = std::env::temp_dir().join(format!("writer-bench-smoke-{}", std::process::id()));
    let out = dir.join("results.md");
    let output = Command::new(env!("CARGO_BIN_EXE_writer-bench"))
        .args(["--smoke", "--save", "--out"])
        .arg(&out)
        .output()
        .expect("run writer-bench");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    for heading in [
        "Batch vs naive polling, empty application",
        "Batch vs naive polling, busy application",
        "Quota-bound batch",
        "Memory:",
        "Faults:",
        "List order:",
        "Busy application under the quota",
        "Where requests go: the batch rows of the comparison",
        "Where requests go: list order",
        "Where requests go: busy application under the quota",
        "Ambiguous rows:",
        "### Verdicts",
    ] {
        assert!(stdout.contains(heading), "no `{heading}` in:\n{stdout}");
    }
    assert!(!stdout.contains("NaN"), "{stdout}");
    // The CPU rounds: a second run of the CLI's batch and its floors, and
    // the verdict on their medians.
    assert!(
        stdout.contains("current-thread (the CLI's), run 2"),
        "{stdout}"
    );
    assert!(stdout.contains("(median of 2 runs, "), "{stdout}");
    // Each multi-threaded run's floor at its own pace (empty and busy).
    assert_eq!(
        stdout
            .matches("at its own times through writer-api's generated client alone")
            .count(),
        3,
        "{stdout}"
    );
    let saved = std::fs::read_to_string(&out).expect("results written");
    assert!(saved.starts_with("# writer-bench results"));
    assert!(saved.contains("### Verdicts"));
    let _ = std::fs::remove_dir_all(&dir);
}

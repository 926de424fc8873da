//! Golden files for output people read: `--help` of every command, and the
//! deterministic `app` output on the built-in simulator. Run with
//! `UPDATE_GOLDEN=1` to rewrite them after an intended change.

mod common;

use std::path::{Path, PathBuf};

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// Compares `actual` with the golden file `name`, or rewrites it when
/// `UPDATE_GOLDEN=1`.
fn check_golden(name: &str, actual: &str) {
    let path = golden_dir().join(name);
    if std::env::var("UPDATE_GOLDEN").as_deref() == Ok("1") {
        std::fs::create_dir_all(golden_dir()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "missing golden file {}; run with UPDATE_GOLDEN=1 to create it",
            path.display()
        )
    });
    assert!(
        expected == actual,
        "{name} differs from its golden file (UPDATE_GOLDEN=1 rewrites it)\n--- expected\n{expected}\n--- actual\n{actual}"
    );
}

const SUBCOMMANDS: [&str; 10] = [
    "submit",
    "get",
    "list",
    "wait",
    "retry",
    "run",
    "app",
    "batch",
    "resolve",
    "completions",
];

#[test]
fn help_of_every_command_matches_golden() {
    let dir = tempfile::tempdir().unwrap();
    let out = common::cli(dir.path()).arg("--help").output().unwrap();
    assert!(out.status.success());
    let top = String::from_utf8(out.stdout).unwrap();
    assert!(top.contains("Exit codes:"), "{top}");
    check_golden("help.txt", &top);
    for sub in SUBCOMMANDS {
        let out = common::cli(dir.path())
            .args([sub, "--help"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{sub} --help failed");
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(
            text.contains("Example"),
            "{sub} --help has no example:\n{text}"
        );
        check_golden(&format!("help_{sub}.txt"), &text);
    }
}

#[test]
fn app_output_matches_golden() {
    let dir = tempfile::tempdir().unwrap();
    let out = common::cli(dir.path())
        .args(["app", "demo-product-descriptions"])
        .output()
        .unwrap();
    assert!(out.status.success());
    check_golden("app_demo.txt", &String::from_utf8(out.stdout).unwrap());
    // The one line on stderr says where requests go and how to change it.
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("simulator") && err.contains("WRITER_API_KEY"),
        "{err}"
    );
}

#[test]
fn version_names_the_api_spec() {
    let dir = tempfile::tempdir().unwrap();
    let out = common::cli(dir.path()).arg("--version").output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        text.trim(),
        format!(
            "writer-jobs {} (Writer API spec {})",
            env!("CARGO_PKG_VERSION"),
            writer_api::API_VERSION
        )
    );
}

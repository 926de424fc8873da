//! Code generation is deterministic, `--check` passes on the committed tree,
//! and fails (naming the file and the first differing lines) on a spec that
//! changed without regenerating. Works on copies in temp dirs, never on the
//! real files.

use std::fs;
use std::path::Path;

use xtask::{CodegenError, CodegenPaths};

fn real_paths() -> CodegenPaths {
    CodegenPaths::in_workspace(&xtask::workspace_root())
}

/// A temp workspace holding copies of the spec and the generated file.
fn temp_copy() -> (tempfile::TempDir, CodegenPaths) {
    let dir = tempfile::tempdir().unwrap();
    let real = real_paths();
    let paths = CodegenPaths::in_workspace(dir.path());
    fs::create_dir_all(paths.spec.parent().unwrap()).unwrap();
    fs::create_dir_all(paths.output.parent().unwrap()).unwrap();
    fs::copy(&real.spec, &paths.spec).unwrap();
    fs::copy(&real.output, &paths.output).unwrap();
    (dir, paths)
}

#[test]
fn generation_is_deterministic() {
    let paths = real_paths();
    let first = xtask::generate(&paths).unwrap();
    let second = xtask::generate(&paths).unwrap();
    assert_eq!(first, second);
    assert!(first.starts_with("// The contents of this file are generated; do not modify them."));
}

#[test]
fn check_passes_on_the_committed_tree() {
    xtask::check(&real_paths()).unwrap();
}

#[test]
fn check_fails_when_the_spec_changed_without_regenerating() {
    let (_dir, paths) = temp_copy();
    xtask::check(&paths).expect("a faithful copy is up to date");
    let spec = fs::read_to_string(&paths.spec).unwrap();
    let changed = spec.replacen(
        "        error:\n          type: string\n          nullable: true\n          description: Why the job failed, once it is `failed`.\n",
        "        error:\n          type: string\n          nullable: true\n          description: Why the job failed, once it is `failed`.\n        queue_position:\n          type: integer\n          description: Where the job waits.\n",
        1,
    );
    assert_ne!(
        spec, changed,
        "the test's anchor text is no longer in the spec"
    );
    fs::write(&paths.spec, changed).unwrap();
    match xtask::check(&paths) {
        Err(CodegenError::Stale { path, diff }) => {
            assert_eq!(path, "crates/writer-api/src/generated.rs");
            assert!(diff.contains("queue_position"), "{diff}");
        }
        other => panic!("expected a stale error, got {other:?}"),
    }
    // Regenerating brings it back in line.
    assert!(xtask::write(&paths).unwrap());
    xtask::check(&paths).unwrap();
}

#[test]
fn invalid_yaml_names_the_file_and_location() {
    let error =
        xtask::generate_from_str("openapi: 3.0.3\ninfo: [unclosed\n", "spec.yaml").unwrap_err();
    let message = error.to_string();
    assert!(message.starts_with("spec.yaml:"), "{message}");
    assert!(
        matches!(
            error,
            CodegenError::Parse {
                location: Some(_),
                ..
            }
        ),
        "{message}"
    );
}

#[test]
fn an_unsupported_construct_is_an_error_not_a_panic() {
    // Two different error schemas on one operation: progenitor asserts on it.
    let spec = fs::read_to_string(real_paths().spec).unwrap().replacen(
        "        \"401\": { $ref: \"#/components/responses/Unauthorized\" }\n",
        "        \"401\":\n          description: x\n          content:\n            application/json:\n              schema: { $ref: \"#/components/schemas/Job\" }\n",
        1,
    );
    let error = xtask::generate_from_str(&spec, "spec.yaml").unwrap_err();
    assert!(matches!(error, CodegenError::Generate { .. }), "{error}");
    assert!(error.to_string().contains("spec.yaml"));
}

#[test]
fn a_missing_spec_is_a_clear_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let paths = CodegenPaths::in_workspace(Path::new(dir.path()));
    let message = xtask::generate(&paths).unwrap_err().to_string();
    assert!(message.contains("openapi/writer-jobs.yaml"), "{message}");
}

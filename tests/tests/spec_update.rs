//! The spec-update drill: what happens when Writer's server, or its spec,
//! moves ahead of this workspace.
//!
//! - Wire data of a NEWER server (an added optional field, a new job status,
//!   a new input type, a new application type) decodes with today's
//!   generated types AND comes through today's `writer-jobs` client, the
//!   new values kept as `Unknown(..)`.
//! - Values generated from a newer spec (every object with an added
//!   optional property) decode with today's generated types.
//! - On a temporary copy of the workspace (never the real files), a spec
//!   with an added optional field regenerates with `cargo xtask codegen`
//!   and the regenerated crate compiles, with the new field in it.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};
use writer_api::types as wire;
use writer_jobs::{Client, InputType, Inputs, JobStatus, ListQuery, validate_inputs};
use writer_jobs_tests::Spec;
use writer_jobs_tests::canned::CannedServer;
use writer_jobs_tests::strategy::{GenOptions, value_for};

fn newer_job() -> Value {
    json!({
        "id": "123-456-789",
        "status": "queued",
        "application_id": "app-1",
        "created_at": "2026-01-01T00:00:00Z",
        "priority": 3,
        "labels": ["beta"],
        "usage": { "tokens": 812, "model": "palmyra-x5" },
        "data": { "suggestion": "hi", "title": null, "format": "markdown" }
    })
}

fn newer_application() -> Value {
    json!({
        "id": "app-1", "name": "Podcasts", "type": "chat", "status": "archived",
        "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-02T00:00:00Z",
        "owner": { "team": "content" },
        "inputs": [
            { "name": "Episode", "input_type": "audio", "required": false,
              "options": { "max_duration_secs": 3600, "codecs": ["mp3"] } },
            { "name": "Topic", "input_type": "text", "required": true,
              "options": { "max_fields": 1, "language": "en" } }
        ]
    })
}

#[test]
fn a_newer_servers_data_decodes_with_todays_generated_types() {
    let spec = Spec::load();
    let job: wire::Job = serde_json::from_value(newer_job()).unwrap();
    assert_eq!(job.status, "queued");
    assert_eq!(job.data.unwrap().suggestion, "hi");
    let app: wire::Application = serde_json::from_value(newer_application()).unwrap();
    assert_eq!(app.inputs[0].input_type, "audio");
    assert_eq!(app.type_, "chat");
    let created: wire::CreateJobResponse = serde_json::from_value(
        json!({ "job_id": "j9", "status": "queued", "created_at": "2026-01-01T00:00:00Z", "eta_secs": 30 }),
    )
    .unwrap();
    assert_eq!(created.job_id.as_deref(), Some("j9"));
    // And today's spec already calls all of it valid: tolerance by design.
    assert_eq!(spec.validate("Job", &newer_job()), Vec::<String>::new());
    assert_eq!(
        spec.validate("Application", &newer_application()),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn a_newer_servers_data_comes_through_todays_client() {
    let server = CannedServer::start().await.unwrap();
    let client = Client::builder()
        .api_key("sk-test")
        .base_url(server.base_url())
        .build()
        .unwrap();

    server.set(200, &newer_job());
    let job = client.get_job("123-456-789").await.unwrap();
    assert_eq!(job.status, JobStatus::Unknown("queued".into()));
    assert!(!job.status.is_finished(), "an unknown status is unfinished");
    assert_eq!(job.output.unwrap().suggestion, "hi");

    server.set(
        200,
        &json!({ "result": [newer_job()], "totalCount": 1, "cursor": "abc" }),
    );
    let page = client
        .list_jobs_page("app-1", &ListQuery::default())
        .await
        .unwrap();
    assert_eq!(page.jobs[0].status.as_str(), "queued");

    server.set(200, &newer_application());
    let app = client.get_application("app-1").await.unwrap();
    assert_eq!(app.app_type, "chat");
    assert_eq!(app.status, "archived");
    assert_eq!(app.inputs[0].input_type, InputType::Unknown("audio".into()));
    assert_eq!(app.inputs[1].options.max_fields, Some(1));
    // Inputs of an unknown type are passed through, not refused.
    let inputs = Inputs::new()
        .text("Topic", "AI")
        .text("Episode", "file-123");
    assert_eq!(validate_inputs(&app, &inputs), Ok(()));

    server.set(
        200,
        &json!({ "job_id": "j9", "status": "queued", "created_at": "2026-01-01T00:00:00Z", "eta_secs": 30 }),
    );
    let created = client.create_job("app-1", &inputs).await.unwrap();
    assert_eq!(
        (created.id.as_str(), created.status.as_str()),
        ("j9", "queued")
    );
}

/// The spec with one more optional property on every object schema.
fn newer_spec_document() -> Value {
    let mut doc: Value =
        serde_yaml::from_str(&std::fs::read_to_string(writer_jobs_tests::spec::SPEC_PATH).unwrap())
            .unwrap();
    let schemas = doc["components"]["schemas"].as_object_mut().unwrap();
    for schema in schemas.values_mut() {
        if schema["type"] == "object" {
            schema["properties"]["added_in_v2"] = json!({
                "type": "object",
                "description": "A property a newer server sends.",
                "properties": { "level": { "type": "integer" }, "tags": { "type": "array", "items": { "type": "string" } } },
                "required": ["level"]
            });
        }
    }
    doc
}

#[test]
fn values_of_a_newer_spec_decode_with_todays_types() {
    let newer = Spec::from_value(newer_spec_document()).unwrap();
    macro_rules! check {
        ($($ty:ident),*) => {$({
            let mut runner = TestRunner::new(Config { cases: 64, failure_persistence: None, ..Config::default() });
            runner
                .run(&value_for(&newer, stringify!($ty), GenOptions::valid()), |json| {
                    let decoded = serde_json::from_value::<wire::$ty>(json.clone());
                    proptest::prop_assert!(decoded.is_ok(), "{}: {:?}\n{}", stringify!($ty), decoded.err(), json);
                    Ok(())
                })
                .unwrap();
        })*};
    }
    check!(
        Job,
        JobList,
        CreateJobResponse,
        RetryJobResponse,
        Application,
        Error,
        GenerateApplicationResponse
    );
}

// ---- Regenerating from a changed spec, on a temporary copy. ----

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            if entry.file_name() != "target" {
                copy_dir(&entry.path(), &target);
            }
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

fn rename_package(manifest: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(manifest).unwrap();
    let line = format!("name = \"{from}\"");
    assert!(text.contains(&line), "{}: no `{line}`", manifest.display());
    std::fs::write(
        manifest,
        text.replacen(&line, &format!("name = \"{to}\""), 1),
    )
    .unwrap();
}

fn cargo(dir: &Path, target_dir: &Path, args: &[&str]) -> (bool, String) {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target_dir)
        .env_remove("RUSTFLAGS")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Copies the workspace root files, `crates/writer-api`, `xtask` and
/// `openapi` into a temporary directory, adds an optional `priority` to the
/// copied spec's `Job`, regenerates there and checks the copy compiles.
/// The build reuses the real target directory's cache (no cold build of
/// the dependencies); the copied packages are renamed so that their
/// artifacts never replace the real ones.
///
/// Warm (xtask's dependencies built, as CI's `cargo xtask codegen --check`
/// step leaves them) it takes about ten seconds; it never touches the
/// network (`--offline`). `WRITER_SPEC_DRILL=0` skips it, e.g. when the
/// cache is cold and the wait is unwelcome.
#[test]
fn a_spec_with_an_added_optional_field_regenerates_and_compiles() {
    if std::env::var("WRITER_SPEC_DRILL").as_deref() == Ok("0") {
        eprintln!("skipped: WRITER_SPEC_DRILL=0");
        return;
    }
    let started = Instant::now();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let tmp = std::env::temp_dir().join(format!("writer-spec-drill-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    for file in ["Cargo.lock", "README.md"] {
        if root.join(file).exists() {
            std::fs::copy(root.join(file), tmp.join(file)).unwrap();
        }
    }
    // Only the members that exist in the copy.
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let manifest: String = manifest
        .lines()
        .filter(|l| !l.starts_with("default-members"))
        .map(|l| {
            if l.starts_with("members") {
                "members = [\"crates/writer-api\", \"xtask\"]".to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(tmp.join("Cargo.toml"), manifest).unwrap();
    for dir in ["crates/writer-api", "xtask", "openapi"] {
        copy_dir(&root.join(dir), &tmp.join(dir));
    }
    // Renamed packages: cargo names a workspace member's artifacts by its
    // package name and workspace-relative path, so a copy under its real
    // names would overwrite the real workspace's `xtask` binary and
    // `writer-api` metadata in the shared target directory, and cargo
    // would then take them for fresh there.
    rename_package(
        &tmp.join("crates/writer-api/Cargo.toml"),
        "writer-api",
        "writer-api-spec-drill",
    );
    rename_package(&tmp.join("xtask/Cargo.toml"), "xtask", "xtask-spec-drill");
    let main = tmp.join("xtask/src/main.rs");
    let text = std::fs::read_to_string(&main).unwrap();
    std::fs::write(&main, text.replace("xtask::", "xtask_spec_drill::")).unwrap();

    let spec_path = tmp.join("openapi/writer-jobs.yaml");
    let spec = std::fs::read_to_string(&spec_path).unwrap();
    let anchor = "        error:\n          type: string\n          nullable: true\n          description: Why the job failed, once it is `failed`.\n";
    assert!(
        spec.contains(anchor),
        "the Job schema moved; update the drill"
    );
    let changed = spec.replace(
        anchor,
        &format!(
            "{anchor}        priority:\n          type: integer\n          format: int64\n          description: The job's priority (added by a newer server).\n"
        ),
    );
    std::fs::write(&spec_path, changed).unwrap();

    let (ok, out) = cargo(
        &tmp,
        &target_dir,
        &[
            "run",
            "-q",
            "--offline",
            "-p",
            "xtask-spec-drill",
            "--",
            "codegen",
            "--check",
        ],
    );
    assert!(
        !ok && out.contains("generated code is out of date"),
        "--check must see the spec change:\n{out}"
    );
    let (ok, out) = cargo(
        &tmp,
        &target_dir,
        &[
            "run",
            "-q",
            "--offline",
            "-p",
            "xtask-spec-drill",
            "--",
            "codegen",
        ],
    );
    assert!(ok, "codegen failed:\n{out}");
    let generated =
        std::fs::read_to_string(tmp.join("crates/writer-api/src/generated.rs")).unwrap();
    assert!(
        generated.contains("pub priority: ::std::option::Option<i64>"),
        "the new field is generated"
    );
    let (ok, out) = cargo(
        &tmp,
        &target_dir,
        &["check", "-q", "-p", "writer-api-spec-drill", "--offline"],
    );
    assert!(ok, "the regenerated crate does not compile:\n{out}");
    // The real files were not touched.
    let real = std::fs::read_to_string(root.join("crates/writer-api/src/generated.rs")).unwrap();
    assert!(!real.contains("pub priority:"));
    let _ = std::fs::remove_dir_all(&tmp);
    eprintln!("spec drill took {:?}", started.elapsed());
    assert!(started.elapsed() < Duration::from_secs(600));
}

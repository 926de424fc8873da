//! Proptest generators shared by the fuzz tests: this crate's `tests/fuzz.rs`
//! and the journal fuzzing inside the library (`src/batch/journal_fuzz_tests.rs`,
//! which includes this file with `#[path]`, since the journal is not public).
//! Plain JSON and bytes only: no writer-jobs type, so it compiles in both.

#![allow(dead_code)]

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::Utc;
use proptest::prelude::*;
use proptest::test_runner::Config;
use serde_json::{Value, json};

/// What a journal's header binds it to.
#[derive(Debug, Clone)]
pub(crate) struct Bound {
    /// The API's base URL.
    pub(crate) base_url: String,
    /// The application id.
    pub(crate) app_id: String,
    /// Whether the run talks to a simulator.
    pub(crate) simulated: bool,
}

pub(crate) fn config(cases: u32) -> Config {
    Config {
        cases,
        // Never write regression files into the shared checkout; found
        // inputs become the fixed tests at the end of tests/fuzz.rs.
        failure_persistence: None,
        max_shrink_iters: 2000,
        ..Config::default()
    }
}

/// Counts panics anywhere in the process (spawned engine tasks included:
/// tokio catches those, but the hook still sees them).
pub(crate) fn panics() -> usize {
    static COUNT: AtomicUsize = AtomicUsize::new(0);
    static HOOK: OnceLock<()> = OnceLock::new();
    HOOK.get_or_init(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            COUNT.fetch_add(1, Ordering::SeqCst);
            previous(info);
        }));
    });
    COUNT.load(Ordering::SeqCst)
}

// ----- the model's serde forms ----------------------------------------------

pub(crate) fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "[ -~]{0,12}".prop_map(Value::from),
        "\\PC{0,8}".prop_map(Value::from),
        prop::sample::select(vec![
            "in_progress",
            "completed",
            "failed",
            "queued",
            "",
            "job-1",
            "2025-01-01T00:00:00Z",
            "2025-13-45T99:99:99Z",
            "+262143-12-31T23:59:59Z",
            "-262143-01-01T00:00:00Z",
            "9999-12-31T23:59:59.999999999Z",
            "0000-01-01T00:00:00Z",
            "1970-01-01T00:00:00+23:59",
        ])
        .prop_map(Value::from),
    ]
}

pub(crate) const FIELDS: &[&str] = &[
    "id",
    "job_id",
    "status",
    "application_id",
    "created_at",
    "updated_at",
    "completed_at",
    "data",
    "title",
    "suggestion",
    "error",
    "result",
    "totalCount",
    "pagination",
    "offset",
    "limit",
    "message",
    "errors",
    "key",
    "description",
    "code",
    "name",
    "type",
    "inputs",
    "input_type",
    "required",
    "options",
    "list",
    "max_fields",
    "last_deployed_at",
];

pub(crate) fn json_value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 48, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec(
                (
                    prop_oneof![
                        prop::sample::select(FIELDS).prop_map(str::to_string),
                        "[a-z_]{1,8}"
                    ],
                    inner
                ),
                0..8
            )
            .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// Valid answers, as a newer or older server might send them.
pub(crate) fn templates() -> Vec<Value> {
    let job = json!({
        "id": "job-1", "status": "completed", "application_id": "app",
        "created_at": "2025-01-01T00:00:00Z", "updated_at": "2025-01-01T00:00:30Z",
        "completed_at": "2025-01-01T00:00:30Z",
        "data": {"title": "t", "suggestion": "s"}, "error": null
    });
    vec![
        job.clone(),
        json!({"result": [job.clone(), job], "totalCount": 2, "pagination": {"offset": 0, "limit": 50}}),
        json!({"id": "job-1", "status": "in_progress", "created_at": "2025-01-01T00:00:00Z"}),
        json!({"job_id": "job-1", "status": "in_progress", "created_at": "2025-01-01T00:00:00Z"}),
        json!({"title": "t", "suggestion": "s"}),
        json!({
            "id": "app", "name": "App", "type": "generation", "status": "deployed",
            "created_at": "2025-01-01T00:00:00Z", "updated_at": "2025-01-01T00:00:00Z",
            "inputs": [{"name": "Product name", "input_type": "text", "required": true,
                        "options": {"min_fields": 1, "max_fields": 1}}]
        }),
        json!({"message": "bad", "errors": [{"key": "k", "description": "d"}], "code": "c"}),
    ]
}

/// Replaces, drops or adds fields of `value` (and its nested objects).
pub(crate) fn mutate(value: &mut Value, edits: &[(u8, usize, Value)], depth: usize) {
    match value {
        Value::Object(map) => {
            for (what, index, new) in edits {
                let keys: Vec<String> = map.keys().cloned().collect();
                if keys.is_empty() {
                    break;
                }
                let key = keys[index % keys.len()].clone();
                match what % 5 {
                    0 => {
                        map.remove(&key);
                    }
                    1 => {
                        map.insert(key, new.clone());
                    }
                    2 => {
                        map.insert(FIELDS[index % FIELDS.len()].to_string(), new.clone());
                    }
                    3 if depth < 3 => {
                        if let Some(inner) = map.get_mut(&key) {
                            mutate(inner, &edits[1..], depth + 1);
                        }
                    }
                    _ => {}
                }
            }
        }
        Value::Array(items) => {
            for item in items.iter_mut() {
                mutate(item, edits, depth + 1);
            }
        }
        _ => {}
    }
}

pub(crate) fn body() -> impl Strategy<Value = Vec<u8>> {
    let mutated = (
        0..templates().len(),
        proptest::collection::vec((any::<u8>(), any::<usize>(), json_value()), 0..6),
        proptest::collection::vec((any::<u8>(), any::<usize>(), any::<u8>()), 0..3),
    )
        .prop_map(|(t, edits, bytes)| {
            let mut value = templates()[t].clone();
            mutate(&mut value, &edits, 0);
            let mut out = serde_json::to_vec(&value).unwrap();
            for (what, at, byte) in bytes {
                if out.is_empty() {
                    break;
                }
                let at = at % out.len();
                match what % 3 {
                    0 => out.truncate(at),
                    1 => out.insert(at, byte),
                    _ => out[at] = byte,
                }
            }
            out
        });
    prop_oneof![
        4 => mutated,
        2 => json_value().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        1 => proptest::collection::vec(any::<u8>(), 0..256),
        2 => templates_strategy(),
    ]
}

pub(crate) fn templates_strategy() -> impl Strategy<Value = Vec<u8>> {
    (0..templates().len()).prop_map(|t| serde_json::to_vec(&templates()[t]).unwrap())
}

// ----- journals -------------------------------------------------------------

/// `extreme`: also chrono's own limits (they parse; see the regression
/// tests at the end for what the engine does with them).
pub(crate) fn timestamp(extreme: bool) -> impl Strategy<Value = String> {
    let mut odd = vec![
        "1970-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
        "0001-01-01T00:00:00Z",
        "2025-02-30T00:00:00Z",
        "not a date",
    ];
    if extreme {
        odd.extend([
            "+262142-12-31T23:59:59.999999999Z",
            "-262143-01-01T00:00:00Z",
        ]);
    }
    prop_oneof![
        4 => (-3600i64..3600).prop_map(|s| (Utc::now() + chrono::Duration::seconds(s)).to_rfc3339()),
        1 => prop::sample::select(odd).prop_map(str::to_string),
    ]
}

/// One journal line: a record of a known type with plausible or wild
/// fields, or junk. With `shared_ids` two rows may be bound to one job
/// (see `two_rows_bound_to_one_job_in_a_journal_both_get_an_outcome`);
/// without, each row's job ids are its own.
pub(crate) fn journal_line(
    job_ids: Vec<String>,
    fps: Vec<String>,
    junk: u32,
    extreme: bool,
    shared_ids: bool,
) -> impl Strategy<Value = String> {
    let timestamp = move || timestamp(extreme);
    const KEYS: [&str; 6] = ["k0", "k1", "k2", "k3", "kX", ""];
    let key = prop::sample::select(KEYS.to_vec());
    let fakes = vec!["nope", "", "../../etc", "a b", "x?y=1#z"];
    let bound = (
        0..KEYS.len(),
        0..job_ids.len(),
        prop::option::weighted(0.25, prop::sample::select(fakes)),
    )
        .prop_map(move |(k, pick, fake)| {
            let key = KEYS[k];
            let id = match (fake, shared_ids) {
                (Some(fake), true) => fake.to_string(),
                (Some(fake), false) => format!("{fake}{key}"),
                (None, true) => job_ids[pick].clone(),
                (None, false) if k < job_ids.len() => job_ids[k].clone(),
                (None, false) => format!("none-{key}"),
            };
            (key, id)
        });
    let job_id = bound.clone().prop_map(|(_, id)| id);
    let fp = prop_oneof![
        4 => prop::sample::select(fps),
        1 => "[a-f0-9]{0,8}",
    ];
    let outcome = (
        key.clone(),
        any::<u64>(),
        job_id.clone(),
        prop::sample::select(vec![
            json!({"status": "completed", "output": {"title": null, "suggestion": "s"}}),
            json!({"status": "failed", "error": "e"}),
            json!({"status": "ambiguous", "reason": "r", "candidates": ["a"]}),
            json!({"status": "rejected", "error": "e", "http_status": 400}),
            json!({"status": "timed_out", "waited_secs": 5}),
            json!({"status": "exploded"}),
        ]),
        timestamp(),
        any::<u32>(),
    )
        .prop_map(|(key, seq, job_id, result, at, n)| {
            let mut o = json!({
                "key": key, "seq": seq, "job_id": job_id, "attempts": n % 4,
                "creates": n % 3, "created_at": at, "finished_at": null, "observed_at": at
            });
            for (k, v) in result.as_object().unwrap() {
                o[k] = v.clone();
            }
            json!({"type": "done", "outcome": o}).to_string()
        });
    prop_oneof![
        3 => (key.clone(), any::<u64>(), fp, timestamp()).prop_map(|(key, seq, fp, at)| {
            json!({"type": "intent", "key": key, "seq": seq % 8, "fp": fp, "at": at}).to_string()
        }),
        3 => (bound.clone(), prop::option::of(timestamp())).prop_map(|((key, job_id), at)| {
            json!({"type": "created", "key": key, "job_id": job_id, "created_at": at}).to_string()
        }),
        1 => (bound, job_id.clone()).prop_map(|((key, job_id), from)| {
            json!({"type": "retried", "key": key, "job_id": job_id, "from": from}).to_string()
        }),
        1 => (key.clone(), timestamp(), timestamp()).prop_map(|(key, since, until)| {
            json!({"type": "ambiguous", "key": key, "since": since, "until": until, "reason": "r"}).to_string()
        }),
        2 => outcome,
        junk => json_value().prop_map(|v| v.to_string()),
        junk => "[ -~]{0,40}",
    ]
}

/// A whole journal: a header (usually the right one), lines, then byte
/// damage and maybe a torn last line.
/// `wild`: how often lines are junk, bytes are damaged and the header is
/// wrong (0: plausible journals with odd values; higher: more damage).
pub(crate) fn journal(
    binding: Bound,
    job_ids: Vec<String>,
    fps: Vec<String>,
    wild: u32,
    extreme: bool,
    shared_ids: bool,
) -> impl Strategy<Value = Vec<u8>> {
    let header = prop_oneof![
        6 => Just(json!({
            "type": "header", "version": 1, "base_url": binding.base_url,
            "app_id": binding.app_id, "simulated": binding.simulated,
            "started_at": Utc::now().to_rfc3339()
        }).to_string()),
        wild => Just(json!({"type": "header", "version": 99, "base_url": "http://elsewhere", "app_id": "x", "simulated": false, "started_at": "2025-01-01T00:00:00Z"}).to_string()),
        1 => Just(String::new()),
    ];
    (
        header,
        proptest::collection::vec(journal_line(job_ids, fps, wild, extreme, shared_ids), 0..12),
        proptest::collection::vec(
            (any::<u8>(), any::<usize>(), any::<u8>()),
            0..(wild as usize + 1).min(3),
        ),
        prop::option::of(0usize..60),
    )
        .prop_map(|(header, lines, damage, torn)| {
            let mut text = String::new();
            if !header.is_empty() {
                text.push_str(&header);
                text.push('\n');
            }
            for line in lines {
                text.push_str(&line);
                text.push('\n');
            }
            let mut bytes = text.into_bytes();
            for (what, at, byte) in damage {
                if bytes.is_empty() {
                    break;
                }
                let at = at % bytes.len();
                match what % 3 {
                    0 => bytes[at] = byte,
                    1 => bytes.insert(at, byte),
                    _ => {
                        bytes.remove(at);
                    }
                }
            }
            if let Some(cut) = torn {
                // A torn last record (a kill mid-write).
                bytes.extend_from_slice(
                    &br#"{"type":"intent","key":"k3","seq":3,"fp":"ab","at":"2025-01-01T00:00:00Z"}"#
                        [..cut.min(70)],
                );
            }
            bytes
        })
}

//! Property-based fuzzing (proptest, CI-sized) of every decoder the client
//! has: wait-hint headers, response bodies of every call (arbitrary bytes,
//! arbitrary JSON and mutated valid answers, served by a local server),
//! the model's own serde forms, and batch journals (opened directly, and
//! resumed by a batch against the simulator).
//!
//! Whatever the input: an error or a value, never a panic, and for a batch
//! resuming from a damaged journal either an error or one outcome per row.
//! Inputs that once broke something are kept below as fixed regression
//! tests.

mod common;

mod hostile_server;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use hostile_server::{HostileServer, Reply};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Value, json};
use writer_jobs::batch::journal::{Binding, Durability, Journal, Record};
use writer_jobs::batch::{Batch, Outcome, Row};
use writer_jobs::retry::{parse_retry_after, should_retry_header};
use writer_jobs::{Client, Error, Inputs, Job, JobStatus, ListQuery, PollPolicy, RetryPolicy};
use writer_sim::{DurationDist, Simulator};

fn config(cases: u32) -> Config {
    Config {
        cases,
        // Never write regression files into the shared checkout; found
        // inputs become the fixed tests at the end of this file.
        failure_persistence: None,
        max_shrink_iters: 2000,
        ..Config::default()
    }
}

/// Counts panics anywhere in the process (spawned engine tasks included:
/// tokio catches those, but the hook still sees them).
fn panics() -> usize {
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

// ----- headers --------------------------------------------------------------

fn weird_header_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<u64>().prop_map(|n| n.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|f| f.to_string()),
        "-?[0-9]{0,30}(\\.[0-9]{0,12})?([eE][+-]?[0-9]{1,4})?",
        "[ -~]{0,40}",
        "(Mon|Tue|Wed|Thu|Fri|Sat|Sun|Xyz), [0-9]{1,2} (Jan|Feb|Dec|Foo) [0-9]{1,7} [0-9]{2}:[0-9]{2}:[0-9]{2} (GMT|UTC|[+-][0-9]{4})",
        // Years 1 to 9999: what RFC 2822 can write.
        (-62_135_596_800i64..253_402_300_799i64).prop_map(|s| {
            DateTime::<Utc>::from_timestamp(s, 0)
                .map(|d| d.to_rfc2822())
                .unwrap_or_default()
        }),
        Just("inf".to_string()),
        Just("NaN".to_string()),
        Just("1e309".to_string()),
        Just("18446744073709551616".to_string()),
        Just(" 5 ".to_string()),
        Just("5, 6".to_string()),
    ]
}

fn header_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        weird_header_text().prop_map(String::into_bytes),
        proptest::collection::vec(any::<u8>(), 0..48),
    ]
}

#[test]
fn fuzz_wait_hint_and_should_retry_headers() {
    let before = panics();
    let names = [
        "retry-after",
        "retry-after-ms",
        "x-should-retry",
        "Retry-After",
    ];
    let strategy = proptest::collection::vec((0..names.len(), header_bytes()), 0..4);
    let now = Utc::now();
    let policy = RetryPolicy::default();
    TestRunner::new(config(2000))
        .run(&strategy, |pairs| {
            let mut headers = HeaderMap::new();
            for (name, bytes) in &pairs {
                let Ok(value) = HeaderValue::from_bytes(bytes) else {
                    continue;
                };
                headers.append(
                    HeaderName::from_bytes(names[*name].as_bytes()).unwrap(),
                    value,
                );
            }
            let hint = parse_retry_after(&headers, now);
            // Whatever the server says, the client waits at most the cap.
            let wait = policy.wait(0, hint);
            prop_assert!(wait <= policy.max_retry_after().max(policy.backoff().max()));
            let decision = should_retry_header(&headers);
            let first = headers
                .get("x-should-retry")
                .and_then(|v| v.to_str().ok())
                .map(str::trim);
            match decision {
                Some(true) => prop_assert!(first.is_some_and(|v| v.eq_ignore_ascii_case("true"))),
                Some(false) => {
                    prop_assert!(first.is_some_and(|v| v.eq_ignore_ascii_case("false")))
                }
                None => prop_assert!(!first.is_some_and(
                    |v| v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("false")
                )),
            }
            Ok(())
        })
        .unwrap();
    assert_eq!(panics(), before, "a header made the client panic");
}

#[test]
fn fuzz_wait_hints_mean_what_they_say() {
    let now = Utc::now();
    let strategy = (0u64..10_000_000, 0u64..10_000_000, any::<bool>());
    TestRunner::new(config(1000))
        .run(&strategy, |(secs, ms, both)| {
            let mut h = HeaderMap::new();
            h.insert("retry-after", HeaderValue::from(secs));
            prop_assert_eq!(parse_retry_after(&h, now), Some(Duration::from_secs(secs)));
            if both {
                h.insert("retry-after-ms", HeaderValue::from(ms));
                prop_assert_eq!(parse_retry_after(&h, now), Some(Duration::from_millis(ms)));
            }
            let date = (now + chrono::Duration::seconds(secs as i64 + 2)).to_rfc2822();
            let mut d = HeaderMap::new();
            d.insert("retry-after", HeaderValue::from_str(&date).unwrap());
            let got = parse_retry_after(&d, now).expect("a future date");
            prop_assert!(got.as_secs().abs_diff(secs + 2) <= 1, "{got:?} for {secs}");
            Ok(())
        })
        .unwrap();
}

// ----- the model's serde forms -----------------------------------------------

fn leaf() -> impl Strategy<Value = Value> {
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

const FIELDS: &[&str] = &[
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

fn json_value() -> impl Strategy<Value = Value> {
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
fn templates() -> Vec<Value> {
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
fn mutate(value: &mut Value, edits: &[(u8, usize, Value)], depth: usize) {
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

fn body() -> impl Strategy<Value = Vec<u8>> {
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

fn templates_strategy() -> impl Strategy<Value = Vec<u8>> {
    (0..templates().len()).prop_map(|t| serde_json::to_vec(&templates()[t]).unwrap())
}

#[test]
fn fuzz_the_model_serde_forms() {
    let before = panics();
    TestRunner::new(config(1000))
        .run(&body(), |bytes| {
            let _ = serde_json::from_slice::<Job>(&bytes);
            let _ = serde_json::from_slice::<JobStatus>(&bytes);
            let _ = serde_json::from_slice::<Inputs>(&bytes);
            let _ = serde_json::from_slice::<Outcome>(&bytes);
            let _ = serde_json::from_slice::<Record>(&bytes);
            if let Ok(job) = serde_json::from_slice::<Job>(&bytes) {
                // What decodes re-encodes and decodes to the same job.
                let again: Job = serde_json::from_slice(&serde_json::to_vec(&job).unwrap())
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(again, job);
            }
            Ok(())
        })
        .unwrap();
    assert_eq!(panics(), before);
}

// ----- response bodies over HTTP --------------------------------------------

#[test]
fn fuzz_response_bodies_of_every_call() {
    let before = panics();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let slot: Arc<Mutex<(u16, Vec<u8>)>> = Arc::default();
    let current = slot.clone();
    let server = runtime.block_on(HostileServer::start(move |_| {
        let (status, body) = current.lock().unwrap().clone();
        Reply::json(status, body)
    }));
    let client = Client::builder()
        .api_key("sk-fuzz")
        .base_url(server.base_url())
        .request_timeout(Duration::from_secs(20))
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap();
    let status = prop::sample::select(vec![200u16, 200, 200, 200, 201, 400, 404, 429, 500, 503]);
    let outcomes: RefCell<HashMap<String, usize>> = RefCell::default();
    TestRunner::new(config(400))
        .run(&(status, body()), |(status, body)| {
            *slot.lock().unwrap() = (status, body.clone());
            let inputs = Inputs::new().text("Product name", "Terra");
            let results: Vec<(&str, Result<(), Error>)> = runtime.block_on(async {
                vec![
                    ("get", client.get_job("job-1").await.map(|_| ())),
                    (
                        "list",
                        client
                            .list_jobs_page("app", &ListQuery::default())
                            .await
                            .map(|p| assert!(p.limit > 0)),
                    ),
                    (
                        "create",
                        client
                            .create_job("app", &inputs)
                            .await
                            .map(|c| assert!(!c.id.is_empty())),
                    ),
                    (
                        "retry",
                        client
                            .retry_job("job-1")
                            .await
                            .map(|r| assert!(!r.id.is_empty())),
                    ),
                    ("app", client.get_application("app").await.map(|_| ())),
                    (
                        "run",
                        client.run_application("app", &inputs).await.map(|_| ()),
                    ),
                ]
            });
            for (op, result) in results {
                let label = match &result {
                    Ok(()) => "ok".to_string(),
                    Err(e) => format!("{e:?}")
                        .split([' ', '{', '('])
                        .next()
                        .unwrap_or("")
                        .to_string(),
                };
                *outcomes
                    .borrow_mut()
                    .entry(format!("{op}/{status}/{label}"))
                    .or_default() += 1;
                let success = (200..300).contains(&status);
                match (&result, success, op) {
                    (Ok(()), false, _) => {
                        return Err(TestCaseError::fail(format!("{op}: Ok on HTTP {status}")));
                    }
                    (Err(Error::Ambiguous { .. }), true, "create" | "retry") => {}
                    (Err(e), true, "create" | "retry") => {
                        return Err(TestCaseError::fail(format!(
                            "{op}: a 2xx that does not decode must be ambiguous: {e:?}"
                        )));
                    }
                    (Err(Error::Decode { .. }), true, _) => {}
                    (Err(e), true, _) => {
                        return Err(TestCaseError::fail(format!("{op}: {e:?} on a 2xx")));
                    }
                    _ => {}
                }
            }
            Ok(())
        })
        .unwrap();
    let outcomes = outcomes.into_inner();
    let ok = outcomes
        .iter()
        .filter(|(k, _)| k.ends_with("/ok"))
        .map(|(_, n)| n)
        .sum::<usize>();
    println!(
        "{} calls, {ok} decoded; {} distinct (call, status, result) classes",
        outcomes.values().sum::<usize>(),
        outcomes.len()
    );
    assert!(ok > 20, "the mutations keep enough answers valid: {ok}");
    assert_eq!(panics(), before);
}

// ----- journals -------------------------------------------------------------

const APP: &str = "demo-product-descriptions";

fn rows() -> Vec<Row> {
    (0..4)
        .map(|i| {
            Row::new(
                format!("k{i}"),
                Inputs::new().text("Product name", format!("Fuzz #{i}")),
            )
        })
        .collect()
}

/// `extreme`: also chrono's own limits (they parse; see the regression
/// tests at the end for what the engine does with them).
fn timestamp(extreme: bool) -> impl Strategy<Value = String> {
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
fn journal_line(
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
fn journal(
    binding: Binding,
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

#[test]
fn fuzz_journal_files_opened_directly() {
    let before = panics();
    let dir = tempfile::tempdir().unwrap();
    let binding = Binding {
        base_url: "http://127.0.0.1:9".into(),
        app_id: APP.into(),
        simulated: true,
    };
    let fps: Vec<String> = rows().iter().map(|r| r.inputs.fingerprint()).collect();
    let ids = vec!["job-a".to_string(), "job-b".to_string()];
    let n = Cell::new(0usize);
    let kinds: RefCell<HashMap<String, usize>> = RefCell::default();
    TestRunner::new(config(600))
        .run(
            &journal(binding.clone(), ids, fps, 1, true, true),
            |bytes| {
                n.set(n.get() + 1);
                let path = dir.path().join(format!("j{}", n.get()));
                std::fs::write(&path, &bytes).unwrap();
                let result = Journal::open(&path, &binding, Durability::Os, Utc::now());
                let kind = match &result {
                    Ok((_, state)) => {
                        if state.resumed {
                            "resumed"
                        } else {
                            "new"
                        }
                    }
                    Err(e) => match e {
                        writer_jobs::batch::JournalError::Corrupt { .. } => "corrupt",
                        writer_jobs::batch::JournalError::Mismatch { .. } => "mismatch",
                        _ => "other error",
                    },
                };
                *kinds.borrow_mut().entry(kind.to_string()).or_default() += 1;
                if let Ok((journal, state)) = result {
                    // Every recorded outcome can be read back.
                    for row in state.rows.values() {
                        if let Some(at) = row.done_at {
                            let _ = journal.read_outcome(at);
                        }
                    }
                }
                Ok(())
            },
        )
        .unwrap();
    let kinds = kinds.into_inner();
    println!("journals opened: {kinds:?}");
    assert!(kinds.get("resumed").copied().unwrap_or(0) > 30, "{kinds:?}");
    assert_eq!(panics(), before);
}

/// A shared simulator for the batch-resume fuzzing, and jobs that exist in it.
struct ResumeBed {
    runtime: tokio::runtime::Runtime,
    sim: Simulator,
    client: Client,
    job_ids: Vec<String>,
}

fn resume_bed() -> ResumeBed {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (sim, client, job_ids) = runtime.block_on(async {
        let sim = Simulator::builder()
            .scale(1000.0)
            .seed(9)
            .duration(DurationDist::Uniform {
                min_secs: 1.0,
                max_secs: 5.0,
            })
            .failure_rate(0.2)
            .start()
            .await
            .unwrap();
        let client = common::sim_client(&sim)
            .request_timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let mut ids = Vec::new();
        for row in rows() {
            ids.push(client.create_job(APP, &row.inputs).await.unwrap().id);
        }
        (sim, client, ids)
    });
    ResumeBed {
        runtime,
        sim,
        client,
        job_ids,
    }
}

/// What a batch resuming from `bytes` did: an error, or the outcomes.
fn resume_from(bed: &ResumeBed, dir: &std::path::Path, n: usize, bytes: &[u8]) -> ResumeResult {
    let path = dir.join(format!("resume-{n}.journal"));
    std::fs::write(&path, bytes).unwrap();
    let batch = Batch::new(bed.client.clone(), APP)
        .journal(&path)
        .simulated(true)
        .max_in_flight(8)
        .job_retries(1)
        .max_server_hold(Duration::from_secs(5))
        .poll_policy(PollPolicy::default().with_deadline(Duration::from_secs(300)));
    bed.runtime.block_on(async {
        let run = match batch.run(futures::stream::iter(rows())).await {
            Ok(run) => run,
            Err(e) => return ResumeResult::Refused(e.to_string()),
        };
        let collected =
            tokio::time::timeout(Duration::from_secs(15), run.collect::<Vec<_>>()).await;
        let Ok(items) = collected else {
            eprintln!(
                "a batch resuming from this journal hung:\n{}",
                String::from_utf8_lossy(bytes)
            );
            return ResumeResult::Hung;
        };
        let mut outcomes = Vec::new();
        for item in items {
            match item {
                Ok(o) => outcomes.push(o),
                Err(e) => return ResumeResult::Stopped(e.to_string()),
            }
        }
        ResumeResult::Finished(outcomes)
    })
}

/// An error message without its specifics (paths, keys, line numbers).
fn reason(message: &str) -> String {
    let m = message.to_string();
    for (needle, name) in [
        ("not a journal record", "corrupt line"),
        ("was written for", "binding mismatch"),
        ("changed since journal", "row changed"),
        ("in use by another", "locked"),
        ("expected a done record", "corrupt done offset"),
    ] {
        if m.contains(needle) {
            return name.to_string();
        }
    }
    m.chars().take(60).collect()
}

#[derive(Debug)]
enum ResumeResult {
    Refused(String),
    Stopped(String),
    Finished(Vec<Outcome>),
    Hung,
}

fn check_resume(result: &ResumeResult) -> Result<(), TestCaseError> {
    match result {
        ResumeResult::Refused(_) | ResumeResult::Stopped(_) => Ok(()),
        ResumeResult::Hung => Err(TestCaseError::fail("the batch hung")),
        ResumeResult::Finished(outcomes) => {
            let mut keys: Vec<&str> = outcomes.iter().map(|o| o.key.as_str()).collect();
            keys.sort_unstable();
            prop_assert_eq!(
                keys,
                vec!["k0", "k1", "k2", "k3"],
                "one outcome per row (a missing row is lost, or the engine panicked)"
            );
            Ok(())
        }
    }
}

#[test]
fn fuzz_journals_resumed_by_a_batch() {
    let before = panics();
    let bed = resume_bed();
    let dir = tempfile::tempdir().unwrap();
    let binding = Binding {
        base_url: bed.client.base_url().to_string(),
        app_id: APP.into(),
        simulated: true,
    };
    let fps: Vec<String> = rows().iter().map(|r| r.inputs.fingerprint()).collect();
    let n = Cell::new(0usize);
    let kinds: RefCell<HashMap<String, usize>> = RefCell::default();
    // Each case runs a batch: shrink briefly.
    TestRunner::new(Config {
        max_shrink_iters: 20,
        ..config(200)
    })
    .run(
        &journal(binding, bed.job_ids.clone(), fps, 0, false, false),
        |bytes| {
            n.set(n.get() + 1);
            let result = resume_from(&bed, dir.path(), n.get(), &bytes);
            *kinds
                .borrow_mut()
                .entry(match &result {
                    ResumeResult::Refused(e) => format!("refused: {}", reason(e)),
                    ResumeResult::Stopped(e) => format!("stopped: {}", reason(e)),
                    ResumeResult::Finished(_) => "finished".to_string(),
                    ResumeResult::Hung => "hung".to_string(),
                })
                .or_default() += 1;
            check_resume(&result)
        },
    )
    .unwrap();
    let kinds = kinds.into_inner();
    println!(
        "batches resumed from fuzzed journals: {kinds:?}; simulator requests {}",
        bed.sim.stats().total_requests
    );
    assert!(
        kinds.get("finished").copied().unwrap_or(0) > 20,
        "{kinds:?}"
    );
    assert_eq!(panics(), before, "the engine panicked on a journal");
}

// ----- regression tests: inputs the fuzzers found ---------------------------

/// The header of a journal for `bed`'s client.
fn header_for(bed: &ResumeBed) -> String {
    json!({
        "type": "header", "version": 1, "base_url": bed.client.base_url(),
        "app_id": APP, "simulated": true, "started_at": Utc::now().to_rfc3339()
    })
    .to_string()
}

/// chrono's largest date parses; the engine then adds the request timeout
/// (or the settle time) to it and overflows.
const END_OF_TIME: &str = "+262142-12-31T23:59:59.999999999Z";

#[test]
fn an_intent_at_the_end_of_time_is_an_error_or_a_resume() {
    let before = panics();
    let bed = resume_bed();
    let dir = tempfile::tempdir().unwrap();
    let fp = rows()[0].inputs.fingerprint();
    let journal = format!(
        "{}\n{}\n",
        header_for(&bed),
        json!({"type": "intent", "key": "k0", "seq": 0, "fp": fp, "at": END_OF_TIME})
    );
    let result = resume_from(&bed, dir.path(), 0, journal.as_bytes());
    check_resume(&result).unwrap();
    assert_eq!(panics(), before, "the engine panicked");
}

/// Found by `fuzz_journals_resumed_by_a_batch`: no header, an intent at the
/// end of time for a key no row has, and a torn `{` (which may have been
/// the next row's intent).
#[test]
fn a_torn_tail_after_an_intent_at_the_end_of_time_is_an_error_or_a_resume() {
    let before = panics();
    let bed = resume_bed();
    let dir = tempfile::tempdir().unwrap();
    let journal = format!(
        "{}\n{{",
        json!({"at": END_OF_TIME, "fp": "85177b54", "key": "kX", "seq": 0, "type": "intent"})
    );
    let result = resume_from(&bed, dir.path(), 0, journal.as_bytes());
    check_resume(&result).unwrap();
    assert_eq!(panics(), before, "the engine panicked");
}

/// Found by `fuzz_journals_resumed_by_a_batch` (with shared job ids): two
/// rows bound to one job. The engine tracks jobs by id, so the second row
/// replaces the first, which then never gets an outcome, and the batch
/// ends without an error.
#[test]
fn two_rows_bound_to_one_job_in_a_journal_both_get_an_outcome() {
    let bed = resume_bed();
    let dir = tempfile::tempdir().unwrap();
    for job in ["nope", bed.job_ids[0].as_str()] {
        let journal = format!(
            "{}\n{}\n{}\n",
            header_for(&bed),
            json!({"type": "created", "key": "k0", "job_id": job, "created_at": null}),
            json!({"type": "created", "key": "k1", "job_id": job, "created_at": null}),
        );
        let result = resume_from(&bed, dir.path(), 0, journal.as_bytes());
        check_resume(&result).unwrap_or_else(|e| panic!("job {job}: {e}"));
        std::fs::remove_file(dir.path().join("resume-0.journal")).unwrap();
    }
}

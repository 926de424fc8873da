//! Property-based fuzzing (proptest, CI-sized) of every decoder the client
//! has: wait-hint headers, response bodies of every call (arbitrary bytes,
//! arbitrary JSON and mutated valid answers, served by a local server),
//! the model's own serde forms, and batch journals resumed by a batch
//! against the simulator. Journal records and files opened directly are
//! fuzzed inside the library (`src/batch/journal_fuzz_tests.rs`, the
//! journal being private), with this file's generators (`fuzz_gen`).
//!
//! Whatever the input: an error or a value, never a panic, and for a batch
//! resuming from a damaged journal either an error or one outcome per row.
//! Inputs that once broke something are kept below as fixed regression
//! tests.

mod common;

mod fuzz_gen;
mod hostile_server;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use fuzz_gen::{Bound, body, config, journal, panics};
use hostile_server::{HostileServer, Reply};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::json;
use writer_jobs::batch::{Batch, Outcome, Row};
use writer_jobs::retry::{parse_retry_after, should_retry_header};
use writer_jobs::{Client, Error, Inputs, Job, JobStatus, ListQuery, PollPolicy, RetryPolicy};
use writer_sim::{DurationDist, Simulator};

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

#[test]
fn fuzz_the_model_serde_forms() {
    let before = panics();
    TestRunner::new(config(1000))
        .run(&body(), |bytes| {
            let _ = serde_json::from_slice::<Job>(&bytes);
            let _ = serde_json::from_slice::<JobStatus>(&bytes);
            let _ = serde_json::from_slice::<Inputs>(&bytes);
            let _ = serde_json::from_slice::<Outcome>(&bytes);
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
    let binding = Bound {
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

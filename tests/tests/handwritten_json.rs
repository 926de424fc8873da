//! JSON the project writes by hand, held to the spec's schemas.
//!
//! - The simulator's error answers (validation, auth, access, not found,
//!   conflict, rate limit) and its injected faults (500, 503, 504, 429
//!   bursts, outages, a timed-out synchronous run) are `Error` bodies, with
//!   a status the operation declares and `application/json`.
//! - `writer-jobs` claims the wire shape in two places: the request body
//!   (`Inputs::to_wire`) and `Output`, which batch results serialize
//!   (`Outcome`) in the shape of `GenerateApplicationResponse`. Its other
//!   model types have their own serde form (a `Job` says `output` where the
//!   wire says `data`): that form is checked NOT to pass for the wire, and
//!   the wire -> model conversion is checked lossless in `roundtrip.rs`.

use std::time::Duration;

use serde_json::{Value, json};
use writer_jobs::batch::{Outcome, OutcomeResult};
use writer_jobs::{Inputs, Output};
use writer_jobs_tests::conformance::exchange;
use writer_jobs_tests::{Checker, Exchange, Spec};
use writer_sim::{
    AppConfig, DurationDist, FaultConfig, FaultKind, KeyConfig, Operation, Outage, RateLimitConfig,
    Simulator,
};

const APP: &str = "demo-product-descriptions";

fn http() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// Sends one request to the simulator and returns the recorded exchange.
async fn send(
    sim: &Simulator,
    key: Option<&str>,
    method: &str,
    path: &str,
    query: Option<&str>,
    body: Option<Value>,
) -> Exchange {
    let body = body.map(|b| ("application/json", serde_json::to_vec(&b).unwrap()));
    let (ex, problem) = exchange(&http(), &sim.base_url(), key, method, path, query, body).await;
    assert!(problem.is_none(), "{problem:?}");
    ex
}

/// Asserts the exchange has `status`, an `Error` body the spec accepts
/// (in Writer's documented shape, the simulator's default: a `tpe` and
/// problems that each say what went wrong), and no other departure from
/// the spec.
fn assert_error(spec: &Spec, ex: &Exchange, status: u16) -> Value {
    assert_eq!(ex.status, Some(status), "{}", ex.summary());
    let violations = Checker::new(spec).check(ex);
    assert!(
        violations.is_empty(),
        "{}:\n{}",
        ex.summary(),
        violations
            .iter()
            .map(|v| format!("  {v}\n"))
            .collect::<String>()
    );
    let body = ex.response_json().expect("a JSON body");
    assert!(spec.validate("Error", &body).is_empty());
    assert!(
        body["tpe"].as_str().is_some_and(|t| !t.is_empty()),
        "{}: the error has a type: {body}",
        ex.summary()
    );
    let problems = body["errors"].as_array().cloned().unwrap_or_default();
    assert!(
        !problems.is_empty()
            && problems
                .iter()
                .all(|p| { p["description"].as_str().is_some_and(|d| !d.is_empty()) }),
        "{}: the error says what went wrong: {body}",
        ex.summary()
    );
    body
}

fn product(name: &str) -> Value {
    json!({ "inputs": [{ "id": "Product name", "value": [name] }] })
}

#[tokio::test]
async fn the_simulators_refusals_are_spec_errors() {
    let spec = Spec::load();
    let sim = Simulator::builder()
        .manual_clock()
        .duration(DurationDist::fixed(Duration::from_secs(30)))
        .app(AppConfig::new("other-app", "Other").input(writer_sim::InputDef::text("Topic", true)))
        .key(KeyConfig::for_apps("limited-key", &["other-app"]))
        .seed(3)
        .start()
        .await
        .unwrap();
    let key = Some(sim.api_key());
    let jobs = format!("/v1/applications/{APP}/jobs");

    // 400: a missing required input, an unknown one, broken JSON, bad paging.
    let missing = send(
        &sim,
        key,
        "POST",
        &jobs,
        None,
        Some(json!({ "inputs": [] })),
    )
    .await;
    let body = assert_error(&spec, &missing, 400);
    assert_eq!(body["errors"][0]["key"], "Product name", "{body}");
    let unknown = send(
        &sim,
        key,
        "POST",
        &jobs,
        None,
        Some(json!({ "inputs": [
            { "id": "Product name", "value": ["x"] },
            { "id": "Colour", "value": ["red"] },
        ] })),
    )
    .await;
    assert_error(&spec, &unknown, 400);
    let (broken, _) = exchange(
        &http(),
        &sim.base_url(),
        key,
        "POST",
        &jobs,
        None,
        Some(("application/json", b"{\"inputs\": [".to_vec())),
    )
    .await;
    assert_eq!(broken.status, Some(400));
    let body = broken.response_json().expect("JSON error body");
    assert!(spec.validate("Error", &body).is_empty(), "{body}");
    for query in ["limit=0", "offset=-1", "status=queued", "limit=ten"] {
        // The request breaks the spec on purpose; the answer must not.
        let ex = send(&sim, key, "GET", &jobs, Some(query), None).await;
        assert_eq!(ex.status, Some(400), "{query}");
        let body = ex.response_json().unwrap();
        assert!(spec.validate("Error", &body).is_empty(), "{query}: {body}");
        assert_eq!(
            ex.response_content_type.as_deref(),
            Some("application/json")
        );
    }
    let run = send(
        &sim,
        key,
        "POST",
        &format!("/v1/applications/{APP}"),
        None,
        Some(json!({ "inputs": [] })),
    )
    .await;
    assert_error(&spec, &run, 400);

    // 401: no key, a wrong key; 403: a key without access.
    assert_error(
        &spec,
        &send(&sim, None, "GET", &jobs, None, None).await,
        401,
    );
    let wrong = send(&sim, Some("sk-wrong"), "GET", &jobs, None, None).await;
    assert_error(&spec, &wrong, 401);
    let limited = send(&sim, Some("limited-key"), "GET", &jobs, None, None).await;
    assert_error(&spec, &limited, 403);

    // 404: an unknown job, application, and retry of an unknown job.
    for (method, path) in [
        ("GET", "/v1/applications/jobs/no-such-job".to_string()),
        (
            "POST",
            "/v1/applications/jobs/no-such-job/retry".to_string(),
        ),
        ("GET", "/v1/applications/no-such-app".to_string()),
        ("GET", "/v1/applications/no-such-app/jobs".to_string()),
    ] {
        let body = assert_error(
            &spec,
            &send(&sim, key, method, &path, None, None).await,
            404,
        );
        assert_eq!(body["tpe"], "not_found");
    }
    // A path outside the API: the checker names the request as the culprit,
    // and the body is still an `Error`.
    let outside = send(&sim, key, "GET", "/v2/nothing", None, None).await;
    assert_eq!(outside.status, Some(404));
    let violations = Checker::new(&spec).check(&outside);
    assert!(
        violations[0].problem.contains("matches no operation"),
        "{violations:?}"
    );
    assert!(
        spec.validate("Error", &outside.response_json().unwrap())
            .is_empty()
    );

    // 409: retrying a job that has not failed.
    let created = send(&sim, key, "POST", &jobs, None, Some(product("Terra"))).await;
    assert_eq!(created.status, Some(202));
    let id = created.response_json().unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let retry = send(
        &sim,
        key,
        "POST",
        &format!("/v1/applications/jobs/{id}/retry"),
        None,
        None,
    )
    .await;
    let body = assert_error(&spec, &retry, 409);
    assert_eq!(body["tpe"], "conflict");
}

#[tokio::test]
async fn injected_faults_and_outages_answer_spec_errors() {
    let spec = Spec::load();
    let sim = Simulator::builder()
        .manual_clock()
        .seed(5)
        .start()
        .await
        .unwrap();
    let key = Some(sim.api_key());
    let get = "/v1/applications/demo-product-descriptions/jobs";
    for (kind, status) in [
        (FaultKind::Status500, 500),
        (FaultKind::Status503, 503),
        (FaultKind::Status504, 504),
        (FaultKind::Burst429, 429),
    ] {
        for op in [Operation::List, Operation::Create, Operation::App] {
            sim.set_faults(FaultConfig::none().on(op, kind, 1.0).burst_len(1))
                .unwrap();
            let (method, path, body) = match op {
                Operation::List => ("GET", get.to_string(), None),
                Operation::Create => ("POST", get.to_string(), Some(product("x"))),
                _ => ("GET", format!("/v1/applications/{APP}"), None),
            };
            let ex = send(&sim, key, method, &path, None, body).await;
            assert_error(&spec, &ex, status);
        }
    }
    sim.set_faults(FaultConfig::none()).unwrap();
    sim.set_outage(Outage::Unavailable);
    let ex = send(&sim, key, "GET", "/v1/applications/jobs/any", None, None).await;
    assert_error(&spec, &ex, 503);
    sim.set_outage(Outage::None);
    assert_eq!(sim.stats().faults_of(FaultKind::Status500), 3);
}

#[tokio::test]
async fn rate_limit_and_sync_timeout_answer_spec_errors() {
    let spec = Spec::load();
    let sim = Simulator::builder()
        .scale(500.0)
        .rate_limit(RateLimitConfig::per_hour(1.0, 1))
        .duration(DurationDist::fixed(Duration::from_secs(60)))
        .sync_timeout(Duration::from_secs(5))
        .seed(9)
        .start()
        .await
        .unwrap();
    let key = Some(sim.api_key());
    // The one request of the budget: a synchronous run that outlasts the
    // server's limit (5 s of simulated time, 10 ms here) and answers 500.
    let run = send(
        &sim,
        key,
        "POST",
        &format!("/v1/applications/{APP}"),
        None,
        Some(product("x")),
    )
    .await;
    let body = assert_error(&spec, &run, 500);
    assert_eq!(body["tpe"], "timeout");
    let limited = send(
        &sim,
        key,
        "GET",
        &format!("/v1/applications/{APP}/jobs"),
        None,
        None,
    )
    .await;
    let body = assert_error(&spec, &limited, 429);
    assert_eq!(body["tpe"], "rate_limited");
}

#[test]
fn inputs_to_wire_is_a_spec_request_body() {
    let spec = Spec::load();
    let inputs = Inputs::new()
        .text("Product name", "Terra \"running\" shoe")
        .list("Tags", ["running", "outdoor", "ünïcode"])
        .list("Empty", Vec::<String>::new());
    let wire = serde_json::to_value(inputs.to_wire()).unwrap();
    assert_eq!(
        spec.validate("GenerateApplicationRequest", &wire),
        Vec::<String>::new()
    );
    assert_eq!(wire["inputs"][1]["value"][2], "ünïcode");
    assert_eq!(wire["inputs"][2]["value"], json!([]));
}

#[test]
fn output_and_completed_outcomes_carry_the_wire_shape_of_a_result() {
    let spec = Spec::load();
    for output in [
        Output::new(Some("Social post".into()), "# Hi"),
        Output::new(None, String::new()),
    ] {
        let value = serde_json::to_value(&output).unwrap();
        assert_eq!(
            spec.validate("GenerateApplicationResponse", &value),
            Vec::<String>::new(),
            "{value}"
        );
        let mut outcome = Outcome::new(
            "row-1",
            0,
            OutcomeResult::completed(output.clone()),
            chrono::DateTime::UNIX_EPOCH,
        );
        outcome.job_id = Some("j".into());
        outcome.attempts = 1;
        outcome.creates = 1;
        let line = serde_json::to_value(&outcome).unwrap();
        assert_eq!(line["status"], "completed");
        assert_eq!(
            spec.validate("GenerateApplicationResponse", &line["output"]),
            Vec::<String>::new()
        );
    }
}

#[test]
fn the_models_serde_form_is_the_wire_form() {
    // A high-level `Job` reads wire JSON directly (its output is `data`) and
    // writes JSON that the spec's `Job` schema accepts.
    let spec = Spec::load();
    let wire = json!({
        "id": "j1", "status": "completed", "application_id": "a",
        "created_at": "2025-02-10T18:18:09Z",
        "data": { "title": null, "suggestion": "hello" }
    });
    assert!(spec.validate("Job", &wire).is_empty());
    let model: writer_jobs::Job = serde_json::from_value(wire).unwrap();
    assert_eq!(
        model.output.as_ref().map(|o| o.suggestion.as_str()),
        Some("hello")
    );
    let back = serde_json::to_value(&model).unwrap();
    assert!(back.get("data").is_some() && back.get("output").is_none());
    let problems = spec.validate("Job", &back);
    assert!(problems.is_empty(), "{problems:?}");
    // The status strings, however, are the wire strings both ways.
    for s in ["in_progress", "completed", "failed", "queued"] {
        let status: writer_jobs::JobStatus = serde_json::from_value(json!(s)).unwrap();
        assert_eq!(serde_json::to_value(&status).unwrap(), json!(s));
        let t: writer_jobs::InputType = serde_json::from_value(json!(s)).unwrap();
        assert_eq!(serde_json::to_value(&t).unwrap(), json!(s));
    }
}

/// A job id whose percent-encoding is not UTF-8 is refused by the router's
/// path extractor before the simulator's handlers see it; the answer must
/// still be the JSON `Error` the spec declares for 400 (not axum's own
/// plain-text body).
#[tokio::test]
async fn a_path_parameter_that_is_not_utf8_gets_a_spec_error() {
    let spec = Spec::load();
    let sim = Simulator::builder().manual_clock().start().await.unwrap();
    let key = Some(sim.api_key());
    for path in ["/v1/applications/jobs/%FF", "/v1/applications/%FF/jobs"] {
        let ex = send(&sim, key, "GET", path, None, None).await;
        assert_error(&spec, &ex, 400);
    }
}

/// A request body over axum's default limit (2 MiB) must be answered with a
/// status the spec declares (400) and an `Error` body, not axum's plain-text
/// 413. (Writer's real limit is not documented.)
#[tokio::test]
async fn an_oversized_body_gets_a_spec_error() {
    let spec = Spec::load();
    let sim = Simulator::builder().manual_clock().start().await.unwrap();
    let big = "x".repeat(3 << 20);
    let ex = send(
        &sim,
        Some(sim.api_key()),
        "POST",
        &format!("/v1/applications/{APP}/jobs"),
        None,
        Some(product(&big)),
    )
    .await;
    let violations = Checker::new(&spec).check(&ex);
    assert!(violations.is_empty(), "{violations:#?}");
}

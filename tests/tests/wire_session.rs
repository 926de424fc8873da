//! Wire validation during a realistic session: the `writer-jobs` client
//! talks to the simulator through a recording proxy, and every request it
//! sent and every response it got is checked against the spec (operation,
//! query parameters, request body; declared status, response body).
//!
//! And the checker is shown to catch what it must: a broken response, an
//! unknown path, an unknown query parameter, a bad request body.

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use serde_json::json;
use writer_jobs::batch::{Batch, OutcomeResult, Row};
use writer_jobs::{Client, Error, Inputs, JobStatus, ListQuery, ScaledClock, StatusFilter};
use writer_jobs_tests::canned::CannedServer;
use writer_jobs_tests::proxy::RecordingProxy;
use writer_jobs_tests::{Checker, Exchange, Spec};
use writer_sim::{AppConfig, DurationDist, InputDef, Simulator};

const APP: &str = "demo-product-descriptions";
const FLAKY: &str = "flaky-app";

fn client_for(sim: &Simulator, base_url: &str) -> Client {
    Client::builder()
        .api_key(sim.api_key())
        .base_url(base_url)
        .clock(ScaledClock::with_anchor(
            sim.clock().scale(),
            sim.clock().anchor(),
        ))
        .request_timeout(Duration::from_secs(600))
        .build()
        .unwrap()
}

fn product(name: &str) -> Inputs {
    Inputs::new()
        .text("Product name", name)
        .text("Tone", "playful")
        .list("Tags", ["light", "fast"])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_session_and_a_batch_stay_within_the_spec() {
    let spec = Spec::load();
    let sim = Simulator::builder()
        .scale(500.0)
        .duration(DurationDist::fixed(Duration::from_secs(4)))
        .app(
            AppConfig::new(FLAKY, "Always fails")
                .input(InputDef::text("Topic", true))
                .failure_rate(1.0),
        )
        .seed(11)
        .start()
        .await
        .unwrap();
    let proxy = RecordingProxy::start(&sim.base_url()).await.unwrap();
    let client = client_for(&sim, &proxy.base_url());

    // Application details, then jobs: create, get, wait.
    let app = client.get_application(APP).await.unwrap();
    assert_eq!(app.inputs.len(), 3);
    let mut ids = Vec::new();
    for name in ["Terra", "Nimbus", "Cirrus"] {
        ids.push(client.create_job(APP, &product(name)).await.unwrap().id);
    }
    assert_eq!(client.get_job(&ids[0]).await.unwrap().id, ids[0]);
    let done = client
        .jobs(APP)
        .create_and_wait(&product("Stratus"))
        .await
        .unwrap();
    assert_eq!(done.status, JobStatus::Completed);
    for id in &ids {
        client.wait(id.as_str()).await.unwrap();
    }

    // Listing with every parameter, by page and as a stream.
    let page = client
        .list_jobs_page(
            APP,
            &ListQuery::default()
                .with_status(StatusFilter::Completed)
                .with_offset(1)
                .with_limit(2),
        )
        .await
        .unwrap();
    assert_eq!(page.jobs.len(), 2);
    let all: Vec<_> = client
        .jobs(APP)
        .list()
        .page_size(3)
        .stream()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(all.len(), 4);

    // A failed job, retried.
    let failing = client
        .create_job(FLAKY, &Inputs::new().text("Topic", "rain"))
        .await
        .unwrap();
    match client.wait(failing.id.as_str()).await {
        Err(Error::JobFailed { .. }) => {}
        Ok(job) => assert_eq!(job.status, JobStatus::Failed),
        Err(other) => panic!("{other}"),
    }
    let retried = client.retry_job(&failing.id).await.unwrap();
    assert_eq!(retried.status, JobStatus::InProgress);

    // The synchronous run, and a refusal the client reports.
    let output = client.run_application(APP, &product("Sync")).await.unwrap();
    assert!(!output.suggestion.is_empty());
    let chunks: Vec<String> = client
        .app(APP)
        .run_stream(&product("Streamed"))
        .try_collect()
        .await
        .unwrap();
    assert!(chunks.len() > 1, "{chunks:?}");
    assert!(client.get_job("no-such-job").await.is_err());

    // A small batch through the same proxy.
    let rows: Vec<Row> = (0..6)
        .map(|i| Row::new(format!("row-{i}"), product(&format!("Batch #{i}"))))
        .collect();
    let run = Batch::new(client.clone(), APP)
        .max_in_flight(4)
        .run(futures::stream::iter(rows))
        .await
        .unwrap();
    let outcomes: Vec<_> = run.map(|o| o.unwrap()).collect().await;
    assert_eq!(outcomes.len(), 6);
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o.result, OutcomeResult::Completed { .. }))
    );

    let exchanges = proxy.exchanges();
    let report = Checker::new(&spec).check_all(&exchanges);
    report.assert_clean();
    assert_eq!(
        report.operations(),
        [
            "create_job",
            "get_application",
            "get_job",
            "list_jobs",
            "retry_job",
            "run_application"
        ],
        "every operation was exercised"
    );
    let mut names = report.query_names["list_jobs"].clone();
    names.sort();
    assert_eq!(names, ["limit", "offset", "status"]);
    assert!(report.seen["get_job"].contains(&404));
    assert_eq!(
        exchanges.len() as u64,
        sim.stats().total_requests,
        "the proxy saw every request the simulator answered"
    );
}

#[tokio::test]
async fn conforming_surprises_from_a_newer_server_pass_the_checker() {
    // Extra fields, the unknown status `queued`, and `job_id` instead of
    // `id` are all within the spec; the client copes and the checker agrees.
    use writer_sim::{FaultConfig, FaultKind, Operation};
    let spec = Spec::load();
    let sim = Simulator::builder()
        .scale(500.0)
        .duration(DurationDist::fixed(Duration::from_secs(4)))
        .faults(
            FaultConfig::none()
                .on_all(FaultKind::ExtraFields, 0.4)
                .on(Operation::Get, FaultKind::UnknownStatus, 0.4)
                .on(Operation::Create, FaultKind::JobIdField, 0.5),
        )
        .seed(4)
        .start()
        .await
        .unwrap();
    let proxy = RecordingProxy::start(&sim.base_url()).await.unwrap();
    let client = client_for(&sim, &proxy.base_url());
    for i in 0..6 {
        let job = client
            .jobs(APP)
            .create_and_wait(&product(&format!("p{i}")))
            .await
            .unwrap();
        assert_eq!(job.status, JobStatus::Completed);
    }
    client.get_application(APP).await.unwrap();
    let report = Checker::new(&spec).check_all(&proxy.exchanges());
    report.assert_clean();
    let stats = sim.stats();
    assert!(stats.faults_of(FaultKind::ExtraFields) > 0);
    assert!(stats.faults_of(FaultKind::JobIdField) > 0);
    assert!(stats.faults_of(FaultKind::UnknownStatus) > 0);
}

fn exchange(
    method: &str,
    path: &str,
    query: Option<&str>,
    status: u16,
    body: serde_json::Value,
) -> Exchange {
    Exchange {
        method: method.into(),
        path: path.into(),
        query: query.map(String::from),
        status: Some(status),
        response_content_type: Some("application/json".into()),
        response_body: serde_json::to_vec(&body).unwrap(),
        ..Exchange::default()
    }
}

fn problems(spec: &Spec, ex: &Exchange) -> String {
    Checker::new(spec)
        .check(ex)
        .iter()
        .map(|v| format!("{v}\n"))
        .collect()
}

#[test]
fn the_checker_reports_what_departs_from_the_spec() {
    let spec = Spec::load();
    let good_job = json!({
        "id": "j1", "status": "completed", "application_id": "a",
        "created_at": "2025-02-10T18:18:09Z",
        "data": { "title": null, "suggestion": "hi" }
    });
    let ok = exchange(
        "GET",
        "/v1/applications/jobs/j1",
        None,
        200,
        good_job.clone(),
    );
    assert_eq!(problems(&spec, &ok), "");

    // A job whose status is a number.
    let mut bad = good_job.clone();
    bad["status"] = json!(42);
    let p = problems(
        &spec,
        &exchange("GET", "/v1/applications/jobs/j1", None, 200, bad),
    );
    assert!(
        p.contains("[get_job] response: body: /status: 42 is not of type \"string\""),
        "{p}"
    );

    // A job without a required field, and with a date that is not one.
    let mut bad = good_job.clone();
    bad.as_object_mut().unwrap().remove("application_id");
    bad["created_at"] = json!("yesterday");
    let p = problems(
        &spec,
        &exchange("GET", "/v1/applications/jobs/j1", None, 200, bad),
    );
    assert!(
        p.contains("\"application_id\" is a required property"),
        "{p}"
    );
    assert!(
        p.contains("/created_at: \"yesterday\" is not a \"date-time\""),
        "{p}"
    );

    // A page whose job lacks `id`, inside the list.
    let p = problems(
        &spec,
        &exchange(
            "GET",
            "/v1/applications/a/jobs",
            Some("limit=2"),
            200,
            json!({ "result": [{ "status": "completed" }] }),
        ),
    );
    assert!(
        p.contains("/result/0: \"id\" is a required property"),
        "{p}"
    );

    // A request to a path the spec does not have, and a method it does not.
    let p = problems(&spec, &exchange("GET", "/v1/jobs/j1", None, 404, json!({})));
    assert!(
        p.contains("request: path /v1/jobs/j1 matches no operation of the spec"),
        "{p}"
    );
    let p = problems(
        &spec,
        &exchange("DELETE", "/v1/applications/jobs/j1", None, 404, json!({})),
    );
    assert!(
        p.contains("method DELETE is not an operation of this path"),
        "{p}"
    );

    // An unknown query parameter, a bad value, a status no one declared.
    let p = problems(
        &spec,
        &exchange(
            "GET",
            "/v1/applications/a/jobs",
            Some("page=2&limit=0&status=queued"),
            418,
            json!({}),
        ),
    );
    assert!(
        p.contains("query parameter `page` is not a parameter of list_jobs"),
        "{p}"
    );
    assert!(
        p.contains("query parameter `limit`=\"0\": /: 0 is less than the minimum of 1"),
        "{p}"
    );
    assert!(p.contains("query parameter `status`=\"queued\""), "{p}");
    assert!(
        p.contains("status 418 is not a declared response of list_jobs"),
        "{p}"
    );

    // A create whose body breaks the request schema; a retry with a body.
    let mut create = exchange(
        "POST",
        "/v1/applications/a/jobs",
        None,
        400,
        json!({ "message": "no" }),
    );
    create.request_content_type = Some("application/json".into());
    create.request_body = br#"{"inputs":[{"id":"Product name","value":"Terra"}]}"#.to_vec();
    let p = problems(&spec, &create);
    assert!(
        p.contains("request body: /inputs/0/value: \"Terra\" is not of type \"array\""),
        "{p}"
    );
    let mut retry = exchange(
        "POST",
        "/v1/applications/jobs/j1/retry",
        None,
        409,
        json!({}),
    );
    retry.request_body = b"{}".to_vec();
    assert!(problems(&spec, &retry).contains("retry_job takes no request body"));

    // An event stream is declared for the run's 200 only.
    let mut streamed = exchange("POST", "/v1/applications/a", None, 200, json!(null));
    streamed.request_content_type = Some("application/json".into());
    streamed.request_body = br#"{"inputs":[],"stream":true}"#.to_vec();
    streamed.response_content_type = Some("text/event-stream".into());
    streamed.response_body = b"data: {\"delta\": {\"content\": \"hi\"}}\n\n".to_vec();
    assert_eq!(problems(&spec, &streamed), "");
    let mut stream_of_job = streamed.clone();
    stream_of_job.method = "GET".into();
    stream_of_job.path = "/v1/applications/jobs/j1".into();
    stream_of_job.request_body.clear();
    let p = problems(&spec, &stream_of_job);
    assert!(
        p.contains("a text/event-stream answer is not declared for 200 of get_job"),
        "{p}"
    );

    // An error answer that is not JSON, and one whose `errors` is not a list.
    let mut html = exchange("GET", "/v1/applications/a", None, 503, json!(null));
    html.response_content_type = Some("text/html".into());
    html.response_body = b"<html>Service Unavailable</html>".to_vec();
    let p = problems(&spec, &html);
    assert!(
        p.contains("content-type Some(\"text/html\") is not application/json"),
        "{p}"
    );
    assert!(p.contains("body is not JSON"), "{p}");
    let p = problems(
        &spec,
        &exchange(
            "GET",
            "/v1/applications/a",
            None,
            500,
            json!({ "errors": "x" }),
        ),
    );
    assert!(p.contains("/errors: \"x\" is not of type"), "{p}");

    // No response at all.
    let mut dropped = ok.clone();
    dropped.status = None;
    assert!(problems(&spec, &dropped).contains("no response arrived"));
}

#[tokio::test]
async fn a_broken_server_is_caught_end_to_end() {
    // The real client, through the proxy, against a server answering a job
    // whose status is 42 and which lacks `application_id`: the client
    // refuses to decode it, and the checker names the departure.
    let spec = Spec::load();
    let server = CannedServer::start().await.unwrap();
    server.set(
        200,
        &json!({ "id": "j1", "status": 42, "created_at": "2025-02-10T18:18:09Z" }),
    );
    let proxy = RecordingProxy::start(&server.base_url()).await.unwrap();
    let client = Client::builder()
        .api_key("k")
        .base_url(proxy.base_url())
        .build()
        .unwrap();
    let err = client.get_job("j1").await.unwrap_err();
    assert!(matches!(err, Error::Decode { .. }), "{err:?}");
    let report = Checker::new(&spec).check_all(&proxy.exchanges());
    let text: Vec<String> = report.violations.iter().map(ToString::to_string).collect();
    assert!(
        text.iter()
            .any(|v| v.contains("/status: 42 is not of type \"string\"")),
        "{text:#?}"
    );
    assert!(
        text.iter()
            .any(|v| v.contains("\"application_id\" is a required property")),
        "{text:#?}"
    );
}

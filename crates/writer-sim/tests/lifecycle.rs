//! The job lifecycle, retries, the synchronous run and the application
//! details, all decoded with writer-api's generated types.

mod common;

use std::time::Duration;

use common::{Client, DEMO, input, manual, product};
use reqwest::StatusCode;
use writer_api::types::{
    Application, CreateJobResponse, GenerateApplicationResponse, Job, RetryJobResponse,
};
use writer_sim::{DurationDist, JobStatus, Operation, SIMULATED_MARKER, Stats, expected_output};

#[tokio::test]
async fn job_runs_to_completion_with_the_expected_output() {
    let sim = manual().start().await.unwrap();
    let client = Client::new(&sim);
    let inputs = vec![
        input("Product name", &["Terra running shoe"]),
        input("Tone", &["playful"]),
        input("Tags", &["running", "trail"]),
    ];
    let t0 = sim.clock().now();
    let answer = client.create(DEMO, &inputs).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED);
    assert!(answer.header("x-request-id").is_some());
    let created: CreateJobResponse = answer.decode();
    assert_eq!(created.status, "in_progress");
    assert!(created.job_id.is_none());
    let id = created.id.unwrap();
    assert_eq!(created.created_at, t0.trunc_subsecs_micros());

    let job: Job = client.job(&id).await.decode();
    assert_eq!(job.status, "in_progress");
    assert_eq!(job.application_id, DEMO);
    assert!(job.completed_at.is_none() && job.data.is_none() && job.error.is_none());
    assert_eq!(job.updated_at, Some(job.created_at));

    sim.advance(Duration::from_secs(29));
    assert_eq!(client.job(&id).await.decode::<Job>().status, "in_progress");
    sim.advance(Duration::from_secs(1));
    let job: Job = client.job(&id).await.decode();
    assert_eq!(job.status, "completed");
    let finish = job.created_at + chrono::TimeDelta::seconds(30);
    assert_eq!(job.completed_at, Some(finish));
    assert_eq!(job.updated_at, Some(finish));
    let data = job.data.unwrap();
    assert_eq!(data, expected_output(DEMO, &inputs));
    assert!(data.suggestion.starts_with(SIMULATED_MARKER));
    assert!(data.suggestion.contains("Terra running shoe"));

    let state = sim.job(&id).unwrap();
    assert_eq!(state.status, JobStatus::Completed);
    assert_eq!(state.finish_at, finish);
    assert_eq!(state.inputs, inputs);

    let stats = sim.stats();
    assert_eq!(stats.jobs_created, 1);
    assert_eq!(stats.created_for(DEMO, &inputs), 1);
    assert_eq!(stats.requests(writer_sim::Operation::Get), 3);
    assert_eq!(stats.status(202), 1, "the create");
    assert_eq!(stats.status(200), 3, "the three gets");
}

trait Micros {
    fn trunc_subsecs_micros(self) -> Self;
}

impl Micros for chrono::DateTime<chrono::Utc> {
    fn trunc_subsecs_micros(self) -> Self {
        chrono::SubsecRound::trunc_subsecs(self, 6)
    }
}

#[tokio::test]
async fn failed_job_reports_its_error_and_retry_runs_it_again() {
    let sim = manual().failure_rate(1.0).start().await.unwrap();
    let client = Client::new(&sim);
    let id = client.create_id(DEMO, &product("Aqua goggles")).await;

    // Not failed yet: 409 with a JSON error.
    let answer = client.retry(&id).await;
    assert_eq!(answer.status, StatusCode::CONFLICT);
    assert!(answer.error_text().contains("in_progress"));

    sim.advance(Duration::from_secs(30));
    let job: Job = client.job(&id).await.decode();
    assert_eq!(job.status, "failed");
    assert!(job.error.unwrap().contains("simulated failure"));
    assert!(job.data.is_none());
    assert!(job.completed_at.is_some());

    let answer = client.retry(&id).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED);
    let retried: RetryJobResponse = answer.decode();
    assert_eq!(retried.id, id, "retry in place keeps the id");
    assert_eq!(retried.status, "in_progress");
    assert_eq!(retried.created_at, job.created_at);
    let job: Job = client.job(&id).await.decode();
    assert_eq!(job.status, "in_progress");
    assert!(job.completed_at.is_none() && job.error.is_none());
    assert_eq!(
        job.updated_at,
        Some(sim.clock().now().trunc_subsecs_micros())
    );
    assert_eq!(sim.job(&id).unwrap().attempts, 2);
    assert_eq!(sim.stats().retries, 1);
}

#[tokio::test]
async fn a_retried_job_can_succeed() {
    // Failure rate applies per attempt: with 50% some retries succeed.
    let sim = manual().failure_rate(0.5).start().await.unwrap();
    let client = Client::new(&sim);
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(client.create_id(DEMO, &product(&format!("p{i}"))).await);
    }
    sim.advance(Duration::from_secs(30));
    let mut recovered = 0;
    for id in &ids {
        for _ in 0..10 {
            let job: Job = client.job(id).await.decode();
            match job.status.as_str() {
                "completed" => break,
                "failed" => {
                    assert_eq!(client.retry(id).await.status, StatusCode::ACCEPTED);
                    sim.advance(Duration::from_secs(30));
                    if client.job(id).await.decode::<Job>().status == "completed" {
                        recovered += 1;
                    }
                }
                other => panic!("unexpected status {other}"),
            }
        }
        assert_eq!(client.job(id).await.decode::<Job>().status, "completed");
    }
    assert!(recovered > 0);
}

#[tokio::test]
async fn retry_can_answer_with_a_new_job() {
    let sim = manual()
        .failure_rate(1.0)
        .retry_new_id(true)
        .start()
        .await
        .unwrap();
    let client = Client::new(&sim);
    let inputs = product("Flex yoga mat");
    let id = client.create_id(DEMO, &inputs).await;
    sim.advance(Duration::from_secs(30));
    let retried: RetryJobResponse = client.retry(&id).await.decode();
    assert_ne!(retried.id, id);
    assert_eq!(retried.status, "in_progress");
    // The old job stays failed and cannot be retried twice.
    assert_eq!(client.job(&id).await.decode::<Job>().status, "failed");
    assert_eq!(client.retry(&id).await.status, StatusCode::CONFLICT);
    let new: Job = client.job(&retried.id).await.decode();
    assert_eq!(new.status, "in_progress");
    assert_eq!(sim.job(&id).unwrap().retried_as, Some(retried.id.clone()));
    assert_eq!(sim.job(&retried.id).unwrap().inputs, inputs);
    // A retry is not a client create.
    assert_eq!(sim.stats().jobs_created, 1);
}

/// Advances the manual clock by `step` until the request task finishes
/// (the request may reach the server after any one advance).
async fn advance_until_done(
    sim: &writer_sim::Simulator,
    mut task: tokio::task::JoinHandle<common::Answer>,
    step: Duration,
) -> common::Answer {
    for _ in 0..100 {
        sim.advance(step);
        if let Ok(done) = tokio::time::timeout(Duration::from_millis(50), &mut task).await {
            return done.unwrap();
        }
    }
    panic!("the request never finished");
}

#[tokio::test]
async fn synchronous_run_answers_after_the_job_duration_in_sim_time() {
    let sim = manual().start().await.unwrap();
    let client = Client::new(&sim);
    let inputs = product("Terra running shoe");
    let c2 = client.clone();
    let body = serde_json::json!({ "inputs": inputs });
    let run =
        tokio::spawn(async move { c2.post(&format!("/v1/applications/{DEMO}"), &body).await });
    // Nothing comes back while sim time stands still.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!run.is_finished());
    let answer = advance_until_done(&sim, run, Duration::from_secs(30)).await;
    assert_eq!(answer.status, StatusCode::OK);
    let output: GenerateApplicationResponse = answer.decode();
    assert_eq!(output, expected_output(DEMO, &inputs));
    assert_eq!(sim.stats().jobs_created, 0);
}

#[tokio::test]
async fn synchronous_run_times_out_with_500_like_the_real_server() {
    let sim = manual()
        .duration(DurationDist::fixed(Duration::from_secs(600)))
        .start()
        .await
        .unwrap();
    let client = Client::new(&sim);
    let body = serde_json::json!({ "inputs": product("Slow product") });
    let c2 = client.clone();
    let run =
        tokio::spawn(async move { c2.post(&format!("/v1/applications/{DEMO}"), &body).await });
    let answer = advance_until_done(&sim, run, Duration::from_secs(300)).await;
    assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(answer.error_text().contains("timed out"));
}

#[tokio::test]
async fn application_details_list_the_demo_inputs() {
    let sim = manual().start().await.unwrap();
    let client = Client::new(&sim);
    let app: Application = client
        .get(&format!("/v1/applications/{DEMO}"))
        .await
        .decode();
    assert_eq!(app.id, DEMO);
    assert_eq!(app.name, "Product descriptions");
    assert_eq!(app.type_, "generation");
    assert_eq!(app.status, "deployed");
    let names: Vec<&str> = app.inputs.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["Product name", "Tone", "Tags"]);
    assert!(app.inputs[0].required && !app.inputs[1].required);
    assert_eq!(app.inputs[1].input_type, "dropdown");
    assert_eq!(
        app.inputs[1].options.as_ref().unwrap().list,
        ["casual", "formal", "playful"]
    );
    assert_eq!(app.inputs[2].options.as_ref().unwrap().max_fields, Some(5));
}

#[tokio::test]
async fn alias_resolves_to_the_application() {
    let sim = manual()
        .apps(vec![writer_sim::AppConfig::demo().alias("products")])
        .start()
        .await
        .unwrap();
    let client = Client::new(&sim);
    let inputs = product("Alias shoe");
    let id = client.create_id("products", &inputs).await;
    let job: Job = client.job(&id).await.decode();
    assert_eq!(job.application_id, DEMO);
    assert_eq!(sim.stats().created_for(DEMO, &inputs), 1);
}

#[tokio::test]
async fn sim_endpoints_need_no_key_and_are_not_counted() {
    let sim = manual().start().await.unwrap();
    let client = Client::new(&sim);
    let id = client.create_id(DEMO, &product("Stats shoe")).await;
    let anonymous = Client::with_key(&sim, None);
    let stats: Stats = anonymous.get("/_sim/stats").await.decode();
    assert_eq!(stats.total_requests, 1);
    assert_eq!(stats.jobs_created, 1);
    assert_eq!(stats, sim.stats());
    let clock = anonymous.get("/_sim/clock").await.json();
    assert_eq!(clock["manual"], true);
    let job = anonymous.get(&format!("/_sim/jobs/{id}")).await.json();
    assert_eq!(job["status"], "in_progress");
    assert!(job["finish_at"].is_string());
    assert_eq!(
        anonymous.get("/_sim/jobs/nope").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(sim.stats().total_requests, 1);
}

#[tokio::test]
async fn shutdown_stops_the_server() {
    let sim = manual().start().await.unwrap();
    let client = Client::new(&sim);
    client.create_id(DEMO, &product("x")).await;
    let base = sim.base_url();
    sim.shutdown().await;
    let fresh = reqwest::Client::new();
    assert!(
        fresh
            .get(format!("{base}/_sim/stats"))
            .send()
            .await
            .is_err()
    );
}

#[tokio::test]
async fn the_request_log_records_each_requests_time_operation_and_answer() {
    let sim = manual().request_log(true).start().await.unwrap();
    let client = Client::new(&sim);
    let t0 = sim.clock().now();
    let id = client.create_id(DEMO, &product("Log shoe")).await;
    sim.advance(Duration::from_secs(5));
    client.job(&id).await;
    client.list(DEMO, "limit=10").await;
    client.get("/v1/applications/jobs/no-such-job").await;
    client.get("/_sim/stats").await;
    let log = sim.request_log();
    let ops: Vec<_> = log.iter().map(|r| (r.op, r.status)).collect();
    assert_eq!(
        ops,
        [
            (Operation::Create, Some(202)),
            (Operation::Get, Some(200)),
            (Operation::List, Some(200)),
            (Operation::Get, Some(404)),
        ]
    );
    assert_eq!(log[0].at, t0);
    assert_eq!(log[1].at, t0 + chrono::TimeDelta::seconds(5));
    assert_eq!(log.len() as u64, sim.stats().total_requests);
    sim.reset_stats();
    assert!(sim.request_log().is_empty());

    let unlogged = manual().start().await.unwrap();
    Client::new(&unlogged).job(&id).await;
    assert!(unlogged.request_log().is_empty());
}

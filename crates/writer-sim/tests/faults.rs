//! Every fault kind, outages, runtime changes and determinism under a seed.

mod common;

use std::time::Duration;

use common::{Client, DEMO, manual, product};
use reqwest::StatusCode;
use writer_api::types::{CreateJobResponse, Job, JobList};
use writer_sim::{FaultConfig, FaultKind, Operation, Outage, ShouldRetry, Simulator};

async fn with_faults(spec: &str) -> (Simulator, Client) {
    let sim = manual()
        .faults(spec.parse().unwrap())
        .start()
        .await
        .unwrap();
    let client = Client::new(&sim);
    (sim, client)
}

#[tokio::test]
async fn reset_drops_the_connection_before_handling() {
    let (sim, client) = with_faults("create:reset=1").await;
    let err = client
        .try_send(
            reqwest::Method::POST,
            &format!("/v1/applications/{DEMO}/jobs"),
            Some(serde_json::to_vec(&serde_json::json!({"inputs": product("x")})).unwrap()),
        )
        .await
        .unwrap_err();
    assert!(!err.is_status(), "{err}");
    let stats = sim.stats();
    assert_eq!(stats.connections_dropped, 1);
    assert_eq!(stats.faults_of(FaultKind::Reset), 1);
    assert_eq!(stats.jobs_created, 0, "a reset create did nothing");
    assert_eq!(
        stats.total_requests, 1,
        "the client did not resend on its own"
    );
    // Other operations are untouched.
    assert_eq!(client.list(DEMO, "").await.status, StatusCode::OK);
}

#[tokio::test]
async fn server_errors_carry_json_bodies_and_should_retry_headers() {
    for (kind, status) in [
        (FaultKind::Status500, 500),
        (FaultKind::Status503, 503),
        (FaultKind::Status504, 504),
    ] {
        let faults = FaultConfig::none()
            .on(Operation::Get, kind, 1.0)
            .should_retry(ShouldRetry::True);
        let sim = manual().faults(faults).start().await.unwrap();
        let client = Client::new(&sim);
        let id = client.create_id(DEMO, &product("x")).await;
        let answer = client.job(&id).await;
        assert_eq!(answer.status.as_u16(), status);
        assert!(answer.error_text().contains("simulated"));
        assert_eq!(answer.header("x-should-retry").as_deref(), Some("true"));
        assert_eq!(answer.header("retry-after").is_some(), status == 503);
        assert_eq!(sim.stats().faults_of(kind), 1);
    }
    let (_sim, client) = with_faults("list:500=1,should_retry=false").await;
    assert_eq!(
        client
            .list(DEMO, "")
            .await
            .header("x-should-retry")
            .as_deref(),
        Some("false")
    );
    let (_sim, client) = with_faults("list:500=1").await;
    assert_eq!(client.list(DEMO, "").await.header("x-should-retry"), None);
}

#[tokio::test]
async fn mixed_should_retry_gives_both_values() {
    let (_sim, client) = with_faults("list:503=1,should_retry=mixed").await;
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..40 {
        seen.insert(
            client
                .list(DEMO, "")
                .await
                .header("x-should-retry")
                .unwrap(),
        );
    }
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), ["false", "true"]);
}

#[tokio::test]
async fn a_429_burst_refuses_the_next_requests() {
    let (sim, client) = with_faults("list:429=1,burst_len=3,retry_after_secs=2").await;
    let id = client.create_id(DEMO, &product("x")).await;
    let answer = client.list(DEMO, "").await;
    assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(answer.header("retry-after").as_deref(), Some("2"));
    assert_eq!(answer.header("retry-after-ms").as_deref(), Some("2000"));
    assert_eq!(answer.error_code().as_deref(), Some("rate_limited"));
    // The burst goes on over other operations.
    assert_eq!(client.job(&id).await.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(client.job(&id).await.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(client.job(&id).await.status, StatusCode::OK);
    let stats = sim.stats();
    assert_eq!(stats.faults_of(FaultKind::Burst429), 3);
    assert_eq!(
        stats.rate_limited, 0,
        "injected bursts are not the rate limit"
    );
}

#[tokio::test]
async fn accept_then_drop_creates_the_job_but_loses_the_answer() {
    let (sim, client) = with_faults("create:accept_then_drop=1").await;
    let inputs = product("Terra running shoe");
    let body = serde_json::to_vec(&serde_json::json!({ "inputs": inputs })).unwrap();
    let path = format!("/v1/applications/{DEMO}/jobs");
    let err = client
        .try_send(reqwest::Method::POST, &path, Some(body.clone()))
        .await
        .unwrap_err();
    assert!(!err.is_status(), "{err}");
    let stats = sim.stats();
    assert_eq!(
        stats.jobs_created, 1,
        "the job exists although the client saw no answer"
    );
    assert_eq!(stats.connections_dropped, 1);
    assert_eq!(stats.faults_of(FaultKind::AcceptThenDrop), 1);
    assert_eq!(sim.job_ids(DEMO).len(), 1);
    // The trap: a client that blindly resends makes a duplicate.
    sim.set_faults(FaultConfig::none()).unwrap();
    client.create_id(DEMO, &inputs).await;
    let stats = sim.stats();
    assert_eq!(stats.created_for(DEMO, &inputs), 2);
    assert_eq!(stats.duplicate_creates(), 1);
}

#[tokio::test]
async fn slow_answers_after_the_delay_in_sim_time_and_outlives_a_client_timeout() {
    let (sim, client) = with_faults("create:slow=1,slow_secs=90").await;
    // A client with a short (real) timeout gives up; the job exists anyway.
    let impatient = Client {
        http: reqwest::Client::builder()
            .timeout(Duration::from_millis(200))
            .build()
            .unwrap(),
        ..client.clone()
    };
    let body = serde_json::to_vec(&serde_json::json!({ "inputs": product("slow") })).unwrap();
    let path = format!("/v1/applications/{DEMO}/jobs");
    let err = impatient
        .try_send(reqwest::Method::POST, &path, Some(body.clone()))
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert_eq!(sim.stats().jobs_created, 1);

    // A patient client gets a normal answer once 90 s of sim time passed.
    let c2 = client.clone();
    let task = tokio::spawn(async move { c2.send(reqwest::Method::POST, &path, Some(body)).await });
    let answer = advance_until_done(&sim, task, Duration::from_secs(90)).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED);
    answer.decode::<CreateJobResponse>();
    assert_eq!(sim.stats().faults_of(FaultKind::Slow), 2);
}

async fn advance_until_done<T: Send + 'static>(
    sim: &Simulator,
    mut task: tokio::task::JoinHandle<T>,
    step: Duration,
) -> T {
    for _ in 0..100 {
        sim.advance(step);
        if let Ok(done) = tokio::time::timeout(Duration::from_millis(50), &mut task).await {
            return done.unwrap();
        }
    }
    panic!("the request never finished");
}

#[tokio::test]
async fn slow_drop_waits_then_drops() {
    let (sim, client) = with_faults("get:slow_drop=1").await;
    let id = client.create_id(DEMO, &product("x")).await;
    let c2 = client.clone();
    let task = tokio::spawn(async move {
        c2.try_send(
            reqwest::Method::GET,
            &format!("/v1/applications/jobs/{id}"),
            None,
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        !task.is_finished(),
        "nothing happens before the delay passes"
    );
    let result = advance_until_done(&sim, task, Duration::from_secs(120)).await;
    assert!(result.is_err());
    assert_eq!(sim.stats().faults_of(FaultKind::SlowDrop), 1);
    assert_eq!(sim.stats().connections_dropped, 1);
}

#[tokio::test]
async fn truncated_and_malformed_bodies_come_with_a_success_status() {
    let (sim, client) = with_faults("create:truncated=1").await;
    let answer = client.create(DEMO, &product("x")).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED);
    assert!(serde_json::from_slice::<CreateJobResponse>(&answer.body).is_err());
    assert!(answer.body.starts_with(b"{"));
    assert_eq!(sim.stats().jobs_created, 1);
    assert_eq!(sim.stats().faults_of(FaultKind::Truncated), 1);

    let (sim, client) = with_faults("list:malformed=1").await;
    let answer = client.list(DEMO, "").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(serde_json::from_slice::<serde_json::Value>(&answer.body).is_err());
    assert_eq!(sim.stats().faults_of(FaultKind::Malformed), 1);
}

#[tokio::test]
async fn extra_fields_still_decode_with_the_generated_types() {
    let (sim, client) = with_faults("*:extra_fields=1").await;
    let answer = client.create(DEMO, &product("x")).await;
    assert_eq!(answer.json()["x_sim_future_field"], "ignore me");
    let id = answer.decode::<CreateJobResponse>().id.unwrap();
    sim.advance(Duration::from_secs(30));
    let answer = client.job(&id).await;
    assert!(answer.json()["data"]["x_sim_future_object"].is_object());
    assert_eq!(answer.decode::<Job>().status, "completed");
    let page: JobList = client.list(DEMO, "").await.decode();
    assert_eq!(page.result.len(), 1);
    let app: writer_api::types::Application = client
        .get(&format!("/v1/applications/{DEMO}"))
        .await
        .decode();
    assert_eq!(app.inputs.len(), 3);
    assert_eq!(sim.stats().faults_of(FaultKind::ExtraFields), 4);
}

#[tokio::test]
async fn unknown_status_only_relabels_running_jobs() {
    let (sim, client) = with_faults("get:unknown_status=1,list:unknown_status=1").await;
    let id = client.create_id(DEMO, &product("x")).await;
    let job: Job = client.job(&id).await.decode();
    assert_eq!(job.status, "queued");
    let page: JobList = client.list(DEMO, "").await.decode();
    assert_eq!(page.result[0].status, "queued");
    assert_eq!(sim.stats().faults_of(FaultKind::UnknownStatus), 2);
    sim.advance(Duration::from_secs(30));
    // A final state is never hidden.
    assert_eq!(client.job(&id).await.decode::<Job>().status, "completed");
    assert_eq!(
        client.list(DEMO, "").await.decode::<JobList>().result[0].status,
        "completed"
    );
    assert_eq!(sim.stats().faults_of(FaultKind::UnknownStatus), 2);
}

#[tokio::test]
async fn job_id_field_replaces_id_in_the_create_answer() {
    let (sim, client) = with_faults("create:job_id_field=1").await;
    let answer = client.create(DEMO, &product("x")).await;
    let json = answer.json();
    assert!(json.get("id").is_none());
    let created: CreateJobResponse = answer.decode();
    let id = created.job_id.unwrap();
    assert!(created.id.is_none());
    assert_eq!(client.job(&id).await.status, StatusCode::OK);
    assert_eq!(sim.stats().faults_of(FaultKind::JobIdField), 1);
}

#[tokio::test]
async fn outage_then_recovery() {
    let sim = manual().start().await.unwrap();
    let client = Client::new(&sim);
    sim.set_outage(Outage::Unavailable);
    let answer = client.list(DEMO, "").await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(answer.header("retry-after").is_some());
    answer.error();
    assert_eq!(
        client.create(DEMO, &product("x")).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    sim.set_outage(Outage::Reset);
    assert!(
        client
            .try_send(
                reqwest::Method::GET,
                &format!("/v1/applications/{DEMO}/jobs"),
                None
            )
            .await
            .is_err()
    );
    // The inspection endpoints keep working during an outage.
    assert_eq!(client.get("/_sim/stats").await.status, StatusCode::OK);
    sim.set_outage(Outage::None);
    assert_eq!(client.list(DEMO, "").await.status, StatusCode::OK);
    let stats = sim.stats();
    assert_eq!(stats.faults["outage_503"], 2);
    assert_eq!(stats.faults["outage_reset"], 1);
    assert_eq!(stats.jobs_created, 0);
}

#[tokio::test]
async fn faults_change_at_runtime_and_bad_ones_are_refused() {
    let sim = manual().start().await.unwrap();
    let client = Client::new(&sim);
    assert_eq!(client.list(DEMO, "").await.status, StatusCode::OK);
    sim.set_faults("list:504=1".parse().unwrap()).unwrap();
    assert_eq!(
        client.list(DEMO, "").await.status,
        StatusCode::GATEWAY_TIMEOUT
    );
    let err = sim
        .set_faults(FaultConfig::none().on(Operation::List, FaultKind::Reset, -0.5))
        .unwrap_err();
    assert!(err.to_string().contains("-0.5"), "{err}");
    sim.set_faults(FaultConfig::none()).unwrap();
    assert_eq!(client.list(DEMO, "").await.status, StatusCode::OK);
}

/// The statuses (or "drop") a fixed request sequence gets.
async fn fault_trace(seed: u64) -> Vec<String> {
    let sim = manual()
        .seed(seed)
        .faults(
            "*:500=0.1,*:503=0.05,*:reset=0.05,*:429=0.02,create:accept_then_drop=0.1,get:unknown_status=0.2"
                .parse()
                .unwrap(),
        )
        .start()
        .await
        .unwrap();
    let client = Client::new(&sim);
    let mut trace = Vec::new();
    for i in 0..60 {
        let path = if i % 3 == 0 {
            format!("/v1/applications/{DEMO}/jobs")
        } else {
            format!("/v1/applications/{DEMO}/jobs?limit=5")
        };
        let (method, body) = if i % 3 == 0 {
            (
                reqwest::Method::POST,
                Some(
                    serde_json::to_vec(&serde_json::json!({"inputs": product(&format!("p{i}"))}))
                        .unwrap(),
                ),
            )
        } else {
            (reqwest::Method::GET, None)
        };
        trace.push(match client.try_send(method, &path, body).await {
            Ok(answer) => answer.status.as_u16().to_string(),
            Err(_) => "drop".to_string(),
        });
    }
    let stats = sim.stats();
    trace.push(format!("{:?}", stats.faults));
    trace.push(format!("jobs {}", stats.jobs_created));
    trace
}

#[tokio::test]
async fn same_seed_same_faults() {
    let a = fault_trace(11).await;
    let b = fault_trace(11).await;
    assert_eq!(a, b);
    assert!(a.iter().any(|s| s == "drop") && a.iter().any(|s| s == "500"));
    let c = fault_trace(12).await;
    assert_ne!(a, c);
}

#[tokio::test]
async fn faults_and_outages_can_be_set_over_http() {
    let sim = manual().start().await.unwrap();
    let client = Client::new(&sim);
    let set = |path: &str, body: &str| {
        let client = client.clone();
        let (path, body) = (path.to_string(), body.as_bytes().to_vec());
        async move { client.send(reqwest::Method::POST, &path, Some(body)).await }
    };
    assert_eq!(
        set("/_sim/faults", "list:503=1").await.status,
        StatusCode::OK
    );
    assert_eq!(
        client.list(DEMO, "").await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    let refused = set("/_sim/faults", "list:boom=1").await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(refused.error_text().contains("boom"));
    assert_eq!(set("/_sim/faults", "").await.status, StatusCode::OK);
    assert_eq!(client.list(DEMO, "").await.status, StatusCode::OK);
    assert_eq!(set("/_sim/outage", "reset").await.status, StatusCode::OK);
    assert!(
        client
            .try_send(
                reqwest::Method::GET,
                &format!("/v1/applications/{DEMO}/jobs"),
                None
            )
            .await
            .is_err()
    );
    assert_eq!(
        set("/_sim/outage", "sideways").await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(set("/_sim/outage", "none").await.status, StatusCode::OK);
    assert_eq!(client.list(DEMO, "").await.status, StatusCode::OK);
}

#[tokio::test]
async fn hold_handles_the_request_after_the_client_gave_up() {
    let (sim, client) = with_faults("create:hold=1,hold_secs=70").await;
    let t0 = sim.clock().now();
    let inputs = product("held shoe");
    // A client whose timeout is 1 s on the simulator's (manual) clock:
    // when it fires, the request future is dropped and its connection closed.
    let c2 = client.clone();
    let clock = sim.clock().clone();
    let body = serde_json::to_vec(&serde_json::json!({ "inputs": inputs })).unwrap();
    let attempt = tokio::spawn(async move {
        let path = format!("/v1/applications/{DEMO}/jobs");
        tokio::select! {
            answer = c2.try_send(reqwest::Method::POST, &path, Some(body)) => {
                Some(answer.map(|a| a.status))
            }
            _ = clock.sleep(Duration::from_secs(1)) => None,
        }
    });
    // Wait (in real time, without moving the clock) until the server holds it.
    for _ in 0..500 {
        if sim.stats().faults_of(FaultKind::Hold) == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(
        sim.stats().faults_of(FaultKind::Hold),
        1,
        "the server holds it"
    );
    sim.advance(Duration::from_secs(1));
    let outcome = attempt.await.unwrap();
    assert!(outcome.is_none(), "the client timed out: {outcome:?}");
    let gave_up = sim.clock().now();
    assert!(
        sim.job_ids(DEMO).is_empty(),
        "nothing is handled during the hold"
    );
    assert_eq!(sim.stats().jobs_created, 0);

    // The hold ends 70 s after the server received the request: then the
    // create is handled, although nobody waits for the answer.
    sim.advance(Duration::from_secs(69));
    let mut ids = Vec::new();
    for _ in 0..500 {
        ids = sim.job_ids(DEMO);
        if !ids.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(ids.len(), 1, "the held create made its job");
    let job = sim.job(&ids[0]).unwrap();
    assert!(job.created_at > gave_up, "created after the client gave up");
    assert_eq!(job.created_at, t0 + chrono::TimeDelta::seconds(70));
    assert_eq!(job.inputs, inputs);
    let stats = sim.stats();
    assert_eq!(stats.jobs_created, 1);
    assert_eq!(stats.created_for(DEMO, &inputs), 1);

    // A patient client gets the answer once the hold is over.
    let c2 = client.clone();
    let task = tokio::spawn(async move { c2.create(DEMO, &product("patient")).await });
    let answer = advance_until_done(&sim, task, Duration::from_secs(70)).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED);
    let created: CreateJobResponse = answer.decode();
    assert_eq!(
        sim.job(&created.id.unwrap()).unwrap().created_at,
        created.created_at
    );
    assert_eq!(sim.stats().faults_of(FaultKind::Hold), 2);
}

/// The request log tells a create whose answer was lost (it made a job:
/// `made_job_at` is that job's `created_at`) from one reset before it was
/// handled (no job), and records the job of an answered create too.
#[tokio::test]
async fn the_request_log_tells_a_lost_answer_from_a_create_that_made_nothing() {
    let sim = manual()
        .request_log(true)
        .faults("create:accept_then_drop=1".parse().unwrap())
        .start()
        .await
        .unwrap();
    let client = Client::new(&sim);
    let path = format!("/v1/applications/{DEMO}/jobs");
    let body =
        |name: &str| serde_json::to_vec(&serde_json::json!({ "inputs": product(name) })).unwrap();
    let send = |name: &'static str| client.try_send(reqwest::Method::POST, &path, Some(body(name)));
    assert!(send("lost answer").await.is_err());
    sim.set_faults("create:reset=1".parse().unwrap()).unwrap();
    assert!(send("reset").await.is_err());
    sim.set_faults(FaultConfig::none()).unwrap();
    let answered = client.create_id(DEMO, &product("answered")).await;

    let log = sim.request_log();
    let creates: Vec<_> = log.iter().filter(|r| r.op == Operation::Create).collect();
    assert_eq!(creates.len(), 3, "{log:?}");
    let ids = sim.job_ids(DEMO);
    let lost = ids
        .iter()
        .find(|id| **id != answered)
        .expect("the lost answer's job");
    assert_eq!(creates[0].status, None);
    assert_eq!(
        creates[0].made_job_at,
        Some(sim.job(lost).unwrap().created_at)
    );
    assert_eq!((creates[1].status, creates[1].made_job_at), (None, None));
    assert_eq!(creates[2].status, Some(202));
    assert_eq!(
        creates[2].made_job_at,
        Some(sim.job(&answered).unwrap().created_at)
    );
}

/// The request log records the page each list request was served (its
/// offset, the page size used and the status filter), what lets a
/// benchmark send the same pages again (a refused list has none), and the
/// length of every answer's body, as the client received it.
#[tokio::test]
async fn the_request_log_records_each_list_requests_page_and_answer_length() {
    let sim = manual().request_log(true).start().await.unwrap();
    let client = Client::new(&sim);
    let mut received = Vec::new();
    for i in 0..3 {
        let answer = client.create(DEMO, &product(&format!("p{i}"))).await;
        received.push(answer.body.len() as u64);
    }
    for query in [
        "offset=2&limit=7",
        "",
        "status=completed&limit=5",
        "limit=0",
    ] {
        received.push(client.list(DEMO, query).await.body.len() as u64);
    }
    let log = sim.request_log();
    let lengths: Vec<u64> = log.iter().filter_map(|r| r.answer_bytes).collect();
    assert_eq!(lengths, received);
    assert!(received.iter().all(|&n| n > 0), "{received:?}");
    let pages: Vec<_> = log
        .iter()
        .filter(|r| r.op == Operation::List)
        .map(|r| r.list_page)
        .collect();
    let page = |offset, limit, status| {
        Some(writer_sim::ListPage {
            offset,
            limit,
            status,
        })
    };
    assert_eq!(
        pages,
        [
            page(2, 7, None),
            page(0, 50, None),
            page(0, 5, Some(writer_sim::JobStatus::Completed)),
            None,
        ]
    );
}

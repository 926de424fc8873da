//! The wire behaviours Writer's documentation leaves open, each a setting:
//! the success status of create and retry, the error body shape, what an
//! unknown input gets, how job ids look, and how precise job times are.

mod common;

use std::time::Duration;

use common::{Answer, Client, DEMO, input, manual, product};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use writer_api::types::{CreateJobResponse, Job, RetryJobResponse};
use writer_sim::{
    AppConfig, ErrorShape, FaultConfig, FaultKind, IdStyle, InputDef, JobOrigin, KeyConfig,
    Operation, Outage, RateLimitConfig, SuccessStatus, Timestamps, UnknownInputs,
};

#[tokio::test]
async fn create_and_retry_answer_202_by_default_and_200_by_setting() {
    for (setting, want) in [
        (None, StatusCode::ACCEPTED),
        (Some(SuccessStatus::Accepted), StatusCode::ACCEPTED),
        (Some(SuccessStatus::Ok), StatusCode::OK),
    ] {
        let mut builder = manual().failure_rate(1.0);
        if let Some(status) = setting {
            builder = builder.success_status(status);
        }
        let sim = builder.start().await.unwrap();
        let client = Client::new(&sim);
        let answer = client.create(DEMO, &product("x")).await;
        assert_eq!(answer.status, want, "{setting:?}");
        let id = answer.decode::<CreateJobResponse>().id.unwrap();
        sim.advance(Duration::from_secs(30));
        let answer = client.retry(&id).await;
        assert_eq!(answer.status, want, "{setting:?}");
        assert_eq!(answer.decode::<RetryJobResponse>().id, id);
        // Everything else still answers 200.
        assert_eq!(client.job(&id).await.status, StatusCode::OK);
        assert_eq!(
            sim.stats().status(want.as_u16()),
            2 + u64::from(want == 200)
        );
    }
    #[cfg(feature = "toml")]
    {
        let config = writer_sim::SimConfig::from_toml("[api]\nsuccess_status = 200").unwrap();
        assert_eq!(config.api.success_status, SuccessStatus::Ok);
    }
}

/// Checks a Writer-shaped error body: the status, `tpe`, a problem with
/// `key` (or a null key) whose description mentions `text`, and explicit
/// null `extras`.
fn assert_writer_error(answer: &Answer, status: u16, tpe: &str, key: Option<&str>, text: &str) {
    assert_eq!(answer.status.as_u16(), status, "{:?}", answer.json());
    let body = answer.json();
    assert_eq!(body["tpe"], tpe, "{body}");
    assert_eq!(body["extras"], Value::Null, "{body}");
    assert!(body.get("extras").is_some(), "extras written out: {body}");
    assert!(
        body.get("message").is_none() && body.get("code").is_none(),
        "{body}"
    );
    let problems = body["errors"].as_array().expect("errors listed");
    assert!(!problems.is_empty());
    for problem in problems {
        assert!(problem.get("key").is_some() && problem.get("extras").is_some());
        assert!(
            problem["description"]
                .as_str()
                .is_some_and(|d| !d.is_empty()),
            "every problem has a description: {body}"
        );
    }
    assert!(
        problems.iter().any(|p| {
            p["key"].as_str() == key && p["description"].as_str().unwrap().contains(text)
        }),
        "no problem with key {key:?} mentioning {text:?}: {body}"
    );
}

#[tokio::test]
async fn every_error_is_in_writers_documented_shape_by_default() {
    let other = AppConfig::new("social-posts", "Social posts").input(InputDef::text("Topic", true));
    let sim = manual()
        .app(other)
        .key(KeyConfig::for_apps("social-only", &["social-posts"]))
        .start()
        .await
        .unwrap();
    let client = Client::new(&sim);
    let id = client.create_id(DEMO, &product("x")).await;

    // Validation: one problem per input, keyed by the input's name.
    let answer = client
        .create(
            DEMO,
            &[input("Colour", &["red"]), input("Tone", &["angry"])],
        )
        .await;
    assert_writer_error(&answer, 400, "bad_request", Some("Colour"), "unknown input");
    assert_writer_error(&answer, 400, "bad_request", Some("Tone"), "not one of");
    assert_writer_error(
        &answer,
        400,
        "bad_request",
        Some("Product name"),
        "missing required input",
    );
    assert_writer_error(
        &client.list(DEMO, "limit=0").await,
        400,
        "bad_request",
        Some("limit"),
        "invalid limit",
    );
    let answer = client
        .send(
            Method::POST,
            &format!("/v1/applications/{DEMO}/jobs"),
            Some(b"{oops".to_vec()),
        )
        .await;
    assert_writer_error(&answer, 400, "bad_request", Some("body"), "malformed JSON");
    // An extractor's own rejection (a path segment that is not UTF-8).
    assert_writer_error(
        &client.get("/v1/applications/%FF/jobs").await,
        400,
        "bad_request",
        None,
        "UTF-8",
    );
    assert_writer_error(
        &Client::with_key(&sim, Some("wrong")).job(&id).await,
        401,
        "unauthorized",
        None,
        "invalid API key",
    );
    assert_writer_error(
        &Client::with_key(&sim, Some("social-only")).job(&id).await,
        403,
        "forbidden",
        None,
        DEMO,
    );
    assert_writer_error(
        &client.job("123-456-789").await,
        404,
        "not_found",
        Some("job"),
        "123-456-789",
    );
    assert_writer_error(
        &client.get("/v2/elsewhere").await,
        404,
        "not_found",
        None,
        "no such endpoint",
    );
    assert_writer_error(
        &client
            .send(
                Method::DELETE,
                &format!("/v1/applications/{DEMO}/jobs"),
                None,
            )
            .await,
        405,
        "method_not_allowed",
        None,
        "method",
    );
    assert_writer_error(
        &client.retry(&id).await,
        409,
        "conflict",
        Some("status"),
        "only a failed job can be retried",
    );
    for (kind, status, tpe) in [
        (FaultKind::Burst429, 429, "rate_limited"),
        (FaultKind::Status500, 500, "internal_error"),
        (FaultKind::Status503, 503, "service_unavailable"),
        (FaultKind::Status504, 504, "gateway_timeout"),
    ] {
        sim.set_faults(
            FaultConfig::none()
                .on(Operation::Get, kind, 1.0)
                .burst_len(1),
        )
        .unwrap();
        assert_writer_error(&client.job(&id).await, status, tpe, None, "simulated");
    }
    sim.set_faults(FaultConfig::none()).unwrap();
    sim.set_outage(Outage::Unavailable);
    assert_writer_error(
        &client.job(&id).await,
        503,
        "service_unavailable",
        None,
        "simulated",
    );
    sim.set_outage(Outage::None);

    // The rate limit's own 429.
    let sim = manual()
        .rate_limit(RateLimitConfig::per_minute(60.0, 1))
        .start()
        .await
        .unwrap();
    let client = Client::new(&sim);
    client.list(DEMO, "").await;
    assert_writer_error(
        &client.list(DEMO, "").await,
        429,
        "rate_limited",
        None,
        "rate limit exceeded",
    );
}

#[tokio::test]
async fn legacy_error_shape_by_setting() {
    let sim = manual()
        .error_shape(ErrorShape::Legacy)
        .start()
        .await
        .unwrap();
    let client = Client::new(&sim);
    let answer = client.create(DEMO, &[input("Colour", &["red"])]).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    let body = answer.json();
    assert_eq!(body["code"], "bad_request");
    assert!(body["message"].as_str().unwrap().contains("Colour"));
    assert!(body.get("tpe").is_none() && body.get("extras").is_none());
    let problems = body["errors"].as_array().unwrap();
    assert!(
        problems
            .iter()
            .any(|p| p["key"] == "Colour" && p["description"].as_str().unwrap().contains("unknown"))
    );
    // Errors without problems have only message and code.
    let body = Client::with_key(&sim, None).list(DEMO, "").await.json();
    assert_eq!(body["code"], "unauthorized");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("missing API key")
    );
    assert!(body.get("errors").is_none());
    let body = client.get("/nowhere").await.json();
    assert_eq!(body["code"], "not_found");
    #[cfg(feature = "toml")]
    {
        let config = writer_sim::SimConfig::from_toml("[api]\nerror_shape = \"legacy\"").unwrap();
        assert_eq!(config.api.error_shape, ErrorShape::Legacy);
    }
}

#[tokio::test]
async fn unknown_input_fails_the_job_by_setting() {
    // Default: refused, no job.
    let sim = manual().start().await.unwrap();
    let answer = Client::new(&sim)
        .create(
            DEMO,
            &[input("Product name", &["x"]), input("Colour", &["red"])],
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(sim.job_count(), 0);

    let sim = manual()
        .unknown_inputs(UnknownInputs::FailJob)
        .start()
        .await
        .unwrap();
    let client = Client::new(&sim);
    let inputs = vec![input("Product name", &["x"]), input("Colour", &["red"])];
    let id = client.create_id(DEMO, &inputs).await;
    assert_eq!(client.job(&id).await.decode::<Job>().status, "in_progress");
    sim.advance(Duration::from_secs(30));
    let job: Job = client.job(&id).await.decode();
    assert_eq!(job.status, "failed");
    let error = job.error.unwrap();
    assert!(error.contains("unknown input: Colour"), "{error}");
    assert!(job.data.is_none());
    // A retry fails the same way: the input is still unknown.
    assert_eq!(client.retry(&id).await.status, StatusCode::ACCEPTED);
    sim.advance(Duration::from_secs(30));
    let job: Job = client.job(&id).await.decode();
    assert_eq!(job.status, "failed");
    assert!(job.error.unwrap().contains("Colour"));
    assert_eq!(sim.stats().created_for(DEMO, &inputs), 1);

    // Other problems are still refused, and the synchronous run still
    // validates strictly.
    let answer = client.create(DEMO, &[input("Colour", &["red"])]).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(answer.error_text().contains("missing required input"));
    let answer = client
        .post(
            &format!("/v1/applications/{DEMO}"),
            &serde_json::json!({ "inputs": inputs }),
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(sim.job_count(), 1);
    #[cfg(feature = "toml")]
    {
        let config =
            writer_sim::SimConfig::from_toml("[api]\nunknown_inputs = \"fail_job\"").unwrap();
        assert_eq!(config.api.unknown_inputs, UnknownInputs::FailJob);
    }
}

fn is_uuid_v4(id: &str) -> bool {
    let groups: Vec<&str> = id.split('-').collect();
    groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && id.chars().all(|c| c == '-' || c.is_ascii_hexdigit())
        && groups[2].starts_with('4')
        && matches!(&groups[3][..1], "8" | "9" | "a" | "b")
}

async fn created_ids(ids: Option<IdStyle>, seed: u64) -> Vec<String> {
    let mut builder = manual().seed(seed);
    if let Some(style) = ids {
        builder = builder.ids(style);
    }
    let sim = builder.start().await.unwrap();
    let client = Client::new(&sim);
    let mut out = Vec::new();
    for i in 0..40 {
        let id = client.create_id(DEMO, &product(&format!("p{i}"))).await;
        assert_eq!(sim.job(&id).unwrap().origin, JobOrigin::Create);
        out.push(id);
    }
    out
}

#[tokio::test]
async fn ids_are_random_uuids_by_default_and_ordered_by_setting() {
    let random = created_ids(None, 3).await;
    assert!(random.iter().all(|id| is_uuid_v4(id)), "{random:?}");
    let mut sorted = random.clone();
    sorted.sort();
    assert_ne!(sorted, random, "random ids do not sort by creation");
    assert_eq!(random, created_ids(None, 3).await, "the seed fixes the ids");
    assert_ne!(random, created_ids(None, 4).await);

    let ordered = created_ids(Some(IdStyle::Ordered), 3).await;
    let mut sorted = ordered.clone();
    sorted.sort();
    assert_eq!(sorted, ordered, "ordered ids sort by creation");
    #[cfg(feature = "toml")]
    {
        let config = writer_sim::SimConfig::from_toml("[api]\nids = \"ordered\"").unwrap();
        assert_eq!(config.api.ids, IdStyle::Ordered);
    }
}

/// Every job time in `answer`'s JSON (at any depth), as sent.
fn job_times(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                match value {
                    Value::String(text)
                        if ["created_at", "updated_at", "completed_at"].contains(&key.as_str()) =>
                    {
                        out.push(text.clone());
                    }
                    _ => job_times(value, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| job_times(v, out)),
        _ => {}
    }
}

#[tokio::test]
async fn job_times_are_whole_seconds_by_setting() {
    use chrono::{DateTime, SubsecRound, Timelike};
    for setting in [None, Some(Timestamps::Micros), Some(Timestamps::Seconds)] {
        let mut builder = manual().failure_rate(1.0);
        if let Some(timestamps) = setting {
            builder = builder.timestamps(timestamps);
        }
        let sim = builder.start().await.unwrap();
        let client = Client::new(&sim);
        sim.advance(Duration::from_millis(1_234));
        let created = client.create(DEMO, &product("x")).await;
        let id = created.decode::<CreateJobResponse>().id.unwrap();
        let recorded = sim.job(&id).unwrap().created_at;
        assert_ne!(recorded.nanosecond(), 0, "the test needs a fraction");
        sim.advance(Duration::from_millis(500));
        let running = client.job(&id).await;
        let listed = client.list(DEMO, "").await;
        sim.advance(Duration::from_secs(30));
        let failed = client.job(&id).await;
        let retried = client.retry(&id).await;
        let mut times = Vec::new();
        for answer in [&created, &running, &listed, &failed, &retried] {
            job_times(&answer.json(), &mut times);
        }
        // create, get (created, updated), list (created, updated), get
        // (created, updated, completed), retry.
        assert_eq!(times.len(), 9, "{times:?}");
        let whole = setting == Some(Timestamps::Seconds);
        for text in &times {
            assert_eq!(!text.contains('.'), whole, "{setting:?}: {text}");
            // Still RFC 3339, as the generated types decode it.
            DateTime::parse_from_rfc3339(text).unwrap();
        }
        let job: Job = failed.decode();
        let want = if whole {
            recorded.trunc_subsecs(0)
        } else {
            recorded
        };
        assert_eq!(job.created_at, want, "{setting:?}");
        // The simulator's own records keep the precise time.
        assert_eq!(sim.job(&id).unwrap().created_at, recorded);
    }
    #[cfg(feature = "toml")]
    {
        let config = writer_sim::SimConfig::from_toml("[api]\ntimestamps = \"seconds\"").unwrap();
        assert_eq!(config.api.timestamps, Timestamps::Seconds);
    }
}

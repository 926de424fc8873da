//! Wire tests against httpmock on 127.0.0.1: what the client sends, what it
//! makes of answers, and when it retries (counting the server's hits).

mod common;

use std::time::Duration;

use common::{KEY, RecordingClock, builder, job_json};
use futures::TryStreamExt;
use httpmock::prelude::*;
use serde_json::json;
use writer_jobs::retry::Jitter;
use writer_jobs::{
    Backoff, Client, EnvSource, Error, Inputs, JobStatus, ListQuery, RetryBudget, RetryPolicy,
    StatusFilter,
};

const UA: &str = concat!("writer-jobs/", env!("CARGO_PKG_VERSION"));

fn inputs() -> Inputs {
    Inputs::new()
        .text("Product name", "Terra running shoe")
        .list("Tags", ["running", "outdoor"])
}

fn created_body() -> serde_json::Value {
    json!({"id": "job-1", "status": "in_progress", "created_at": "2025-02-10T18:18:09Z"})
}

/// A backoff with fixed, recognisable waits.
fn fixed_backoff() -> Backoff {
    Backoff::builder()
        .initial(Duration::from_secs(7))
        .multiplier(1.0)
        .max(Duration::from_secs(7))
        .jitter(Jitter::None)
        .build()
        .unwrap()
}

#[tokio::test]
async fn create_sends_key_user_agent_and_the_json_body() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.method(POST)
                .path("/v1/applications/app-1/jobs")
                .header("authorization", format!("Bearer {KEY}"))
                .header("user-agent", UA)
                .header("api-version", writer_api::API_VERSION)
                .json_body(json!({"inputs": [
                    {"id": "Product name", "value": ["Terra running shoe"]},
                    {"id": "Tags", "value": ["running", "outdoor"]},
                ]}));
            then.status(200).json_body(created_body());
        })
        .await;
    let clock = RecordingClock::new();
    let client = builder(&server.base_url(), &clock).build().unwrap();
    let created = client.create_job("app-1", &inputs()).await.unwrap();
    assert_eq!(created.id, "job-1");
    assert_eq!(created.status, JobStatus::InProgress);
    mock.assert_calls_async(1).await;
}

#[tokio::test]
async fn create_accepts_the_guides_job_id() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(POST).path("/v1/applications/app-1/jobs");
            then.status(200).json_body(
                json!({"job_id": "123-456-789", "status": "in_progress", "created_at": "2024-03-15T10:00:00Z"}),
            );
        })
        .await;
    let clock = RecordingClock::new();
    let client = builder(&server.base_url(), &clock).build().unwrap();
    assert_eq!(
        client.create_job("app-1", &inputs()).await.unwrap().id,
        "123-456-789"
    );
}

#[tokio::test]
async fn list_sends_its_query_and_reports_the_servers_pagination() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/v1/applications/app-1/jobs")
                .query_param("status", "completed")
                .query_param("offset", "20")
                .query_param("limit", "10");
            then.status(200).json_body(json!({
                "result": [job_json("j1", "completed"), job_json("j2", "something_new")],
                "totalCount": 99,
                "pagination": {"offset": 20, "limit": 5},
            }));
        })
        .await;
    let clock = RecordingClock::new();
    let client = builder(&server.base_url(), &clock).build().unwrap();
    let query = ListQuery::default()
        .with_status(StatusFilter::Completed)
        .with_offset(20)
        .with_limit(10);
    let page = client.list_jobs_page("app-1", &query).await.unwrap();
    mock.assert_calls_async(1).await;
    assert_eq!(page.jobs.len(), 2);
    assert_eq!(
        page.jobs[1].status,
        JobStatus::Unknown("something_new".into())
    );
    assert_eq!(
        (page.total_count, page.offset, page.limit),
        (Some(99), 20, 5)
    );
}

#[tokio::test]
async fn get_retry_application_and_run_decode() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET).path("/v1/applications/jobs/j1");
            let mut job = job_json("j1", "completed");
            job["data"] = json!({"title": "Post", "suggestion": "Hello"});
            job["completed_at"] = json!("2025-02-10T18:18:14.470324Z");
            then.status(200).json_body(job);
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method(POST).path("/v1/applications/jobs/j2/retry");
            then.status(200).json_body(
                json!({"id": "j3", "status": "in_progress", "created_at": "2025-02-10T18:18:09Z"}),
            );
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method(GET).path("/v1/applications/app-1");
            then.status(200).json_body(json!({
                "id": "app-1", "name": "Pages", "type": "generation", "status": "deployed",
                "created_at": "2025-02-10T18:18:09Z", "updated_at": "2025-02-10T18:18:09Z",
                "inputs": [
                    {"name": "Product name", "input_type": "text", "required": true, "options": {"max_fields": 1}},
                    {"name": "Tone", "input_type": "dropdown", "required": false, "options": {"list": ["formal"]}},
                    {"name": "Mood", "input_type": "hologram", "required": false},
                ]
            }));
        })
        .await;
    let run = server
        .mock_async(|when, then| {
            when.method(POST)
                .path("/v1/applications/app-1")
                .json_body_includes(
                    r#"{"inputs":[{"id":"Product name","value":["Terra running shoe"]}]}"#,
                );
            then.status(200)
                .json_body(json!({"suggestion": "Generated"}));
        })
        .await;
    let clock = RecordingClock::new();
    let client = builder(&server.base_url(), &clock).build().unwrap();
    let job = client.get_job("j1").await.unwrap();
    assert_eq!(job.output.unwrap().suggestion, "Hello");
    assert!(job.completed_at.is_some());
    let retried = client.retry_job("j2").await.unwrap();
    assert_eq!(retried.id, "j3");
    let app = client.app("app-1").details().await.unwrap();
    assert_eq!(app.inputs.len(), 3);
    assert_eq!(
        app.inputs[2].input_type,
        writer_jobs::InputType::Unknown("hologram".into())
    );
    let bad = Inputs::new().text("Tone", "angry");
    match client.app("app-1").validate(&bad).await.unwrap_err() {
        Error::InvalidInputs(problems) => assert_eq!(problems.len(), 2, "{problems:?}"),
        other => panic!("{other:?}"),
    }
    let output = client
        .app("app-1")
        .run(&Inputs::new().text("Product name", "Terra running shoe"))
        .await
        .unwrap();
    assert_eq!(output.suggestion, "Generated");
    assert_eq!(output.title, None);
    run.assert_calls_async(1).await;
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let server = MockServer::start_async().await;
    let clock = RecordingClock::new();
    let client = builder(&server.base_url(), &clock).build().unwrap();
    for status in [400u16, 401, 403, 404] {
        let path = format!("/v1/applications/jobs/job-{status}");
        let mock = server
            .mock_async(|when, then| {
                when.method(GET).path(path.as_str());
                then.status(status)
                    .header("x-request-id", "req-42")
                    .json_body(json!({"message": format!("nope {status}")}));
            })
            .await;
        let error = client.get_job(&format!("job-{status}")).await.unwrap_err();
        mock.assert_calls_async(1).await;
        assert_eq!(error.status(), Some(status));
        assert_eq!(error.request_id(), Some("req-42"));
        assert!(!error.is_transient());
        assert!(
            error.to_string().contains(&format!("nope {status}")),
            "{error}"
        );
        let expected = match status {
            400 => matches!(error, Error::BadRequest { .. }),
            401 => matches!(error, Error::Unauthorized { .. }),
            403 => matches!(error, Error::Forbidden { .. }),
            _ => matches!(error, Error::NotFound { .. }),
        };
        assert!(expected, "{error:?}");
    }
    assert!(clock.waits().is_empty());
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.method(GET).path("/v1/applications/jobs/j1");
            then.status(503).header("retry-after", "2").body("busy");
        })
        .await;
    let clock = RecordingClock::new();
    let client = builder(&server.base_url(), &clock)
        .retry_policy(
            RetryPolicy::default()
                .with_backoff(fixed_backoff())
                .with_attempt_limit(3),
        )
        .build()
        .unwrap();
    let error = client.get_job("j1").await.unwrap_err();
    assert!(
        matches!(error, Error::Server { status: 503, .. }),
        "{error:?}"
    );
    mock.assert_calls_async(3).await;
    assert_eq!(clock.waits(), [Duration::from_secs(2); 2]);
}

#[tokio::test]
async fn a_hostile_retry_after_is_clamped_and_retry_after_ms_wins() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET).path("/v1/applications/jobs/huge");
            then.status(429).header("retry-after", "99999999");
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method(GET).path("/v1/applications/jobs/ms");
            then.status(429)
                .header("retry-after-ms", "1500")
                .header("retry-after", "30");
        })
        .await;
    let clock = RecordingClock::new();
    let client = builder(&server.base_url(), &clock)
        .retry_policy(
            RetryPolicy::default()
                .with_attempt_limit(2)
                .with_max_retry_after(Duration::from_secs(3)),
        )
        .build()
        .unwrap();
    let error = client.get_job("huge").await.unwrap_err();
    assert_eq!(error.retry_after(), Some(Duration::from_secs(3)));
    client.get_job("ms").await.unwrap_err();
    assert_eq!(
        clock.waits(),
        [Duration::from_secs(3), Duration::from_millis(1500)]
    );
}

#[tokio::test]
async fn x_should_retry_decides_both_ways() {
    let server = MockServer::start_async().await;
    // false: a 503 on a read is not retried.
    let no = server
        .mock_async(|when, then| {
            when.method(GET).path("/v1/applications/jobs/j1");
            then.status(503).header("x-should-retry", "false");
        })
        .await;
    // true: even a create that got a 500 is sent again.
    let yes = server
        .mock_async(|when, then| {
            when.method(POST).path("/v1/applications/app-1/jobs");
            then.status(500).header("x-should-retry", "true");
        })
        .await;
    let clock = RecordingClock::new();
    let client = builder(&server.base_url(), &clock)
        .retry_policy(
            RetryPolicy::default()
                .with_backoff(fixed_backoff())
                .with_attempt_limit(3),
        )
        .build()
        .unwrap();
    client.get_job("j1").await.unwrap_err();
    no.assert_calls_async(1).await;
    let error = client.create_job("app-1", &inputs()).await.unwrap_err();
    yes.assert_calls_async(3).await;
    // Out of attempts after a 500: the last create may have landed.
    assert!(
        matches!(
            error,
            Error::Ambiguous {
                status: Some(500),
                ..
            }
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn create_is_not_resent_after_a_server_error() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.method(POST).path("/v1/applications/app-1/jobs");
            then.status(500)
                .header("x-request-id", "req-7")
                .json_body(json!({"message": "boom"}));
        })
        .await;
    let clock = RecordingClock::new();
    let client = builder(&server.base_url(), &clock).build().unwrap();
    let error = client.create_job("app-1", &inputs()).await.unwrap_err();
    mock.assert_calls_async(1).await;
    match &error {
        Error::Ambiguous {
            operation,
            status,
            request_id,
            ..
        } => {
            assert_eq!(*operation, "create_job");
            assert_eq!(*status, Some(500));
            assert_eq!(request_id.as_deref(), Some("req-7"));
        }
        other => panic!("{other:?}"),
    }
    assert!(!error.is_transient());
}

#[tokio::test]
async fn create_is_not_resent_after_a_2xx_without_an_id() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.method(POST).path("/v1/applications/app-1/jobs");
            then.status(200)
                .body("{\"status\":\"in_progress\",\"created_at\":\"2025-02-10T18:18:09Z\"}");
        })
        .await;
    let clock = RecordingClock::new();
    let client = builder(&server.base_url(), &clock).build().unwrap();
    let error = client.create_job("app-1", &inputs()).await.unwrap_err();
    mock.assert_calls_async(1).await;
    assert!(
        matches!(
            error,
            Error::Ambiguous {
                status: Some(200),
                ..
            }
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn create_is_not_resent_after_a_timeout() {
    let server = common::SilentServer::start().await;
    let clock = RecordingClock::new();
    // 200 simulated seconds at 1000x: 0.2 real seconds, time enough for the
    // request to arrive even on a busy machine.
    let client = builder(&server.base_url, &clock)
        .request_timeout(Duration::from_secs(200))
        .build()
        .unwrap();
    let error = client.create_job("app-1", &inputs()).await.unwrap_err();
    assert!(
        matches!(
            error,
            Error::Ambiguous {
                operation: "create_job",
                status: None,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("200s"), "{error}");
    assert_eq!(server.requests(), 1);
}

#[tokio::test]
async fn a_read_that_times_out_is_retried_and_reported_as_a_timeout() {
    let server = common::SilentServer::start().await;
    let clock = RecordingClock::new();
    let client = builder(&server.base_url, &clock)
        .request_timeout(Duration::from_secs(200))
        .retry_policy(
            RetryPolicy::default()
                .with_backoff(fixed_backoff())
                .with_attempt_limit(2)
                .without_time_limit(),
        )
        .build()
        .unwrap();
    let error = client.get_job("slow").await.unwrap_err();
    assert!(
        matches!(
            error,
            Error::Timeout {
                operation: "get_job",
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.is_transient());
    assert_eq!(server.requests(), 2);
    // Within the default 60 s time limit there is no room for a second
    // 200 s attempt: it stops early instead.
    let client = builder(&server.base_url, &clock)
        .request_timeout(Duration::from_secs(200))
        .retry_policy(RetryPolicy::default().with_backoff(fixed_backoff()))
        .build()
        .unwrap();
    client.get_job("slow").await.unwrap_err();
    assert_eq!(server.requests(), 3);
}

#[tokio::test]
async fn create_is_retried_after_429() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.method(POST).path("/v1/applications/app-1/jobs");
            then.status(429).header("retry-after", "1");
        })
        .await;
    let clock = RecordingClock::new();
    let budget = RetryBudget::new(500);
    let client = builder(&server.base_url(), &clock)
        .retry_policy(RetryPolicy::default().with_budget(budget.clone()))
        .build()
        .unwrap();
    let error = client.create_job("app-1", &inputs()).await.unwrap_err();
    mock.assert_calls_async(4).await;
    assert!(
        matches!(
            error,
            Error::RateLimited {
                retry_after: Some(_),
                ..
            }
        ),
        "{error:?}"
    );
    // 429 retries spend no budget.
    assert_eq!(budget.available(), 500);
    assert_eq!(clock.waits(), [Duration::from_secs(1); 3]);
}

#[tokio::test]
async fn create_is_retried_when_it_could_not_connect() {
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let clock = RecordingClock::new();
    let client = builder(&format!("http://127.0.0.1:{port}"), &clock)
        .retry_policy(
            RetryPolicy::default()
                .with_backoff(fixed_backoff())
                .with_attempt_limit(2),
        )
        .build()
        .unwrap();
    let error = client.create_job("app-1", &inputs()).await.unwrap_err();
    assert!(
        matches!(error, Error::Transport { connect: true, .. }),
        "{error:?}"
    );
    assert_eq!(clock.waits(), [Duration::from_secs(7)]);
    // The cause is kept: reqwest's error, and below it the OS's refusal.
    let source = std::error::Error::source(&error).expect("a cause");
    assert!(source.is::<reqwest::Error>(), "{source:?}");
    let mut chain = Vec::new();
    let mut next = Some(source);
    while let Some(e) = next {
        chain.push(e.to_string());
        next = e.source();
    }
    assert!(chain.len() >= 2, "{chain:?}");
    assert!(!error.to_string().contains(&chain[0]), "{error}");
}

#[tokio::test]
async fn the_retry_budget_runs_out_and_is_shared_by_clones() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.method(GET).path("/v1/applications/jobs/j1");
            then.status(503);
        })
        .await;
    let clock = RecordingClock::new();
    // Room for two retries (5 tokens each).
    let budget = RetryBudget::new(10);
    let client = builder(&server.base_url(), &clock)
        .retry_policy(
            RetryPolicy::default()
                .with_backoff(fixed_backoff())
                .with_budget(budget.clone()),
        )
        .build()
        .unwrap();
    client.get_job("j1").await.unwrap_err();
    mock.assert_calls_async(3).await; // 1 + 2 retries, then the budget is empty
    assert_eq!(budget.available(), 0);
    client.clone().get_job("j1").await.unwrap_err();
    mock.assert_calls_async(4).await; // no retry at all now
}

#[tokio::test]
async fn retrying_a_job_that_is_not_failed_is_a_conflict() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.method(POST).path("/v1/applications/jobs/j1/retry");
            then.status(409)
                .json_body(json!({"message": "job is not failed"}));
        })
        .await;
    let clock = RecordingClock::new();
    let client = builder(&server.base_url(), &clock).build().unwrap();
    let error = client.retry_job("j1").await.unwrap_err();
    mock.assert_calls_async(1).await;
    assert!(matches!(error, Error::Conflict { .. }), "{error:?}");
    assert!(!error.is_transient());
}

#[tokio::test]
async fn a_retry_that_got_a_server_error_is_ambiguous_and_not_resent() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.method(POST).path("/v1/applications/jobs/j1/retry");
            then.status(502);
        })
        .await;
    let clock = RecordingClock::new();
    let client = builder(&server.base_url(), &clock).build().unwrap();
    let error = client.retry_job("j1").await.unwrap_err();
    mock.assert_calls_async(1).await;
    assert!(
        matches!(
            error,
            Error::Ambiguous {
                operation: "retry_job",
                ..
            }
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let server = MockServer::start_async().await;
    let target = server
        .mock_async(|when, then| {
            when.path("/elsewhere");
            then.status(200).json_body(job_json("j1", "completed"));
        })
        .await;
    let redirect = server
        .mock_async(|when, then| {
            when.method(GET).path("/v1/applications/jobs/j1");
            then.status(307)
                .header("location", server.url("/elsewhere"));
        })
        .await;
    let clock = RecordingClock::new();
    let client = builder(&server.base_url(), &clock).build().unwrap();
    let error = client.get_job("j1").await.unwrap_err();
    assert_eq!(error.status(), Some(307));
    assert!(
        error.to_string().contains("redirects are not followed"),
        "{error}"
    );
    redirect.assert_calls_async(1).await;
    target.assert_calls_async(0).await;
}

#[tokio::test]
async fn undecodable_answers_keep_a_snippet() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET).path("/v1/applications/jobs/j1");
            then.status(200)
                .header("x-request-id", "req-9")
                .body(format!("<html>{}", "x".repeat(1000)));
        })
        .await;
    let clock = RecordingClock::new();
    let client = builder(&server.base_url(), &clock).build().unwrap();
    match client.get_job("j1").await.unwrap_err() {
        error @ Error::Decode { .. } => {
            let source = std::error::Error::source(&error).expect("the JSON error");
            assert!(source.is::<serde_json::Error>(), "{source:?}");
            let Error::Decode {
                body_snippet,
                status,
                request_id,
                ..
            } = error
            else {
                unreachable!()
            };
            assert!(body_snippet.starts_with("<html>xxx"));
            assert!(body_snippet.len() <= 310, "{}", body_snippet.len());
            assert_eq!(status, 200);
            assert_eq!(request_id.as_deref(), Some("req-9"));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn the_key_never_shows_in_debug_or_errors() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET).path("/v1/applications/jobs/j1");
            // A server that echoes the key back.
            then.status(401)
                .json_body(json!({"message": format!("bad key {KEY}")}));
        })
        .await;
    let clock = RecordingClock::new();
    let client = builder(&server.base_url(), &clock).build().unwrap();
    let builder_debug = format!("{:?}", builder(&server.base_url(), &clock));
    assert!(!builder_debug.contains(KEY), "{builder_debug}");
    let debug = format!("{client:?}");
    assert!(!debug.contains(KEY), "{debug}");
    assert!(debug.contains("redacted"));
    let error = client.get_job("j1").await.unwrap_err();
    assert!(matches!(error, Error::Unauthorized { .. }));
    for text in [error.to_string(), format!("{error:?}")] {
        assert!(!text.contains(KEY), "{text}");
    }
    assert!(error.advice().unwrap().contains("WRITER_API_KEY"));
}

#[test]
fn plain_http_to_a_remote_host_is_refused() {
    for base in ["http://api.writer.com", "http://192.168.1.10:8080"] {
        let error = Client::builder()
            .api_key(KEY)
            .base_url(base)
            .build()
            .unwrap_err();
        assert!(matches!(error, Error::Config(_)));
        assert!(
            error.to_string().contains("refusing plain http://"),
            "{error}"
        );
        assert!(!error.to_string().contains(KEY));
    }
    for base in [
        "http://127.0.0.1:9",
        "http://localhost:9",
        "http://[::1]:9",
        "https://api.writer.com",
    ] {
        Client::builder()
            .api_key(KEY)
            .base_url(base)
            .build()
            .unwrap();
    }
}

/// The opt-in for plain http:// to a host that is not loopback (a
/// simulator in another container): from the builder, or from
/// `WRITER_ALLOW_HTTP=1` in the environment source; the builder wins.
#[test]
fn plain_http_to_a_remote_host_needs_an_explicit_opt_in() {
    let base = "http://writer-sim:8080";
    let refused = |b: writer_jobs::ClientBuilder| {
        let error = b.api_key(KEY).base_url(base).build().unwrap_err();
        assert!(error.to_string().contains("WRITER_ALLOW_HTTP=1"), "{error}");
    };
    refused(Client::builder());
    refused(Client::builder().allow_insecure_http(false));
    refused(Client::builder().env_source(EnvSource::from_pairs([("WRITER_ALLOW_HTTP", "0")])));
    refused(
        Client::builder()
            .env_source(EnvSource::from_pairs([("WRITER_ALLOW_HTTP", "1")]))
            .allow_insecure_http(false),
    );
    let allowed = Client::builder()
        .api_key(KEY)
        .base_url(base)
        .allow_insecure_http(true)
        .build()
        .unwrap();
    assert_eq!(allowed.base_url(), base);
    for value in ["1", "true", "TRUE"] {
        let from_env = Client::builder()
            .api_key(KEY)
            .base_url(base)
            .env_source(EnvSource::from_pairs([("WRITER_ALLOW_HTTP", value)]))
            .build()
            .unwrap();
        assert_eq!(from_env.base_url(), base);
    }
}

#[test]
fn a_missing_key_says_where_it_looked() {
    let dir = tempfile::tempdir().unwrap();
    let dotenv = dir.path().join(".env");
    let error = Client::builder()
        .env_source(EnvSource::from_pairs([("OTHER", "x")]).with_dotenv_file(&dotenv))
        .build()
        .unwrap_err();
    let text = error.to_string();
    assert!(text.contains("WRITER_API_KEY"), "{text}");
    assert!(text.contains(&dotenv.display().to_string()), "{text}");
    assert!(text.contains(".env"), "{text}");
}

#[tokio::test]
async fn env_sources_configure_key_and_base_url() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/v1/applications/jobs/j1")
                .header("authorization", "Bearer key-from-dotenv");
            then.status(200).json_body(job_json("j1", "in_progress"));
        })
        .await;
    // The key from a .env file in a temporary directory; the base URL from pairs.
    let dir = tempfile::tempdir().unwrap();
    let dotenv = dir.path().join(".env");
    std::fs::write(
        &dotenv,
        "WRITER_API_KEY=key-from-dotenv\nWRITER_BASE_URL=https://ignored.example\n",
    )
    .unwrap();
    let client = Client::builder()
        .env_source(
            EnvSource::from_pairs([("WRITER_BASE_URL", server.base_url())])
                .with_dotenv_file(&dotenv),
        )
        .build()
        .unwrap();
    assert_eq!(client.base_url(), server.base_url());
    client.get_job("j1").await.unwrap();
    mock.assert_calls_async(1).await;
    // An explicit key wins over every source.
    let client = Client::builder()
        .env_source(EnvSource::none().with_dotenv_file(&dotenv))
        .api_key("explicit")
        .build()
        .unwrap();
    assert_eq!(client.base_url(), "https://ignored.example");
}

#[tokio::test]
async fn the_stream_pages_dedupes_and_stops_on_a_short_page() {
    let server = MockServer::start_async().await;
    let page = |offset: &'static str, jobs: serde_json::Value| {
        let server = &server;
        async move {
            server
                .mock_async(|when, then| {
                    when.method(GET)
                        .path("/v1/applications/app-1/jobs")
                        .query_param("offset", offset)
                        .query_param("limit", "3");
                    // totalCount lies (it counts other statuses too).
                    then.status(200)
                        .json_body(json!({"result": jobs, "totalCount": 1000, "pagination": {"offset": offset.parse::<u64>().unwrap(), "limit": 3}}));
                })
                .await
        }
    };
    let p0 = page(
        "0",
        json!([
            job_json("j9", "completed"),
            job_json("j8", "completed"),
            job_json("j7", "completed")
        ]),
    )
    .await;
    // A new job arrived at the front: j7 shifted onto this page too.
    let p3 = page(
        "3",
        json!([
            job_json("j7", "completed"),
            job_json("j6", "completed"),
            job_json("j5", "completed")
        ]),
    )
    .await;
    let p6 = page("6", json!([job_json("j4", "completed")])).await;
    let clock = RecordingClock::new();
    let client = builder(&server.base_url(), &clock).build().unwrap();
    let ids: Vec<String> = client
        .jobs("app-1")
        .list()
        .page_size(3)
        .stream()
        .map_ok(|job| job.id)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(ids, ["j9", "j8", "j7", "j6", "j5", "j4"]);
    for mock in [p0, p3, p6] {
        mock.assert_calls_async(1).await;
    }
}

#[tokio::test]
async fn the_stream_ends_on_an_empty_page_and_follows_a_clamped_limit() {
    let server = MockServer::start_async().await;
    // The server clamps 100 to 2 and says so.
    let full = server
        .mock_async(|when, then| {
            when.method(GET).path("/v1/applications/app-1/jobs").query_param("offset", "0");
            then.status(200).json_body(json!({"result": [job_json("a", "failed"), job_json("b", "failed")], "pagination": {"offset": 0, "limit": 2}}));
        })
        .await;
    let empty = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/v1/applications/app-1/jobs")
                .query_param("offset", "2");
            then.status(200)
                .json_body(json!({"result": [], "pagination": {"offset": 2, "limit": 2}}));
        })
        .await;
    let clock = RecordingClock::new();
    let client = builder(&server.base_url(), &clock).build().unwrap();
    let pages: Vec<_> = client
        .jobs("app-1")
        .list()
        .status(StatusFilter::Failed)
        .page_size(100)
        .pages()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(pages.len(), 2);
    assert_eq!(pages[0].limit, 2);
    full.assert_calls_async(1).await;
    empty.assert_calls_async(1).await;
}

#[tokio::test]
async fn a_stream_ends_after_its_first_error() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET).path("/v1/applications/app-1/jobs");
            then.status(404)
                .json_body(json!({"message": "no such application"}));
        })
        .await;
    let clock = RecordingClock::new();
    let client = builder(&server.base_url(), &clock).build().unwrap();
    let items: Vec<_> = futures::StreamExt::collect(client.jobs("app-1").list().stream()).await;
    assert_eq!(items.len(), 1);
    assert!(matches!(items[0], Err(Error::NotFound { .. })));
}

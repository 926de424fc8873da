//! Validation errors, authentication, access, missing things and bad
//! requests: each answered with the right status and a JSON `Error` body
//! that names the problem.

mod common;

use common::{Client, DEMO, input, manual, product};
use reqwest::{Method, StatusCode};
use writer_sim::{AppConfig, InputDef, KeyConfig, ListConfig, OverMax};

/// Asserts a 400 whose error names `key` and whose description mentions `text`.
fn assert_bad_input(answer: &common::Answer, key: &str, text: &str) {
    assert_eq!(
        answer.status,
        StatusCode::BAD_REQUEST,
        "{:?}",
        answer.json()
    );
    let error = answer.error();
    let errors = error.errors.expect("errors listed");
    assert!(
        errors.iter().any(|e| e.key.as_deref() == Some(key)
            && e.description.as_deref().unwrap_or("").contains(text)),
        "no error for {key} mentioning {text:?}: {errors:?}"
    );
    assert_eq!(error.tpe.as_deref(), Some("bad_request"));
    assert!(answer.error_text().contains(key));
}

#[tokio::test]
async fn invalid_inputs_are_400_naming_the_input() {
    let sim = manual().start().await.unwrap();
    let client = Client::new(&sim);
    let cases: Vec<(Vec<writer_api::types::JobInput>, &str, &str)> = vec![
        (vec![], "Product name", "missing required input"),
        (
            vec![input("Tone", &["casual"])],
            "Product name",
            "missing required input",
        ),
        (
            vec![input("Product name", &["x"]), input("Colour", &["red"])],
            "Colour",
            "unknown input",
        ),
        (
            vec![input("Product name", &[])],
            "Product name",
            "empty value array",
        ),
        (
            vec![input("Product name", &["x"]), input("Tone", &["angry"])],
            "Tone",
            "not one of casual, formal, playful",
        ),
        (
            vec![
                input("Product name", &["x"]),
                input("Tags", &["1", "2", "3", "4", "5", "6"]),
            ],
            "Tags",
            "at most 5 values",
        ),
        (
            vec![input("Product name", &["a", "b"])],
            "Product name",
            "at most 1",
        ),
    ];
    for (inputs, key, text) in cases {
        let answer = client.create(DEMO, &inputs).await;
        assert_bad_input(&answer, key, text);
        // The synchronous run validates the same way.
        let answer = client
            .post(
                &format!("/v1/applications/{DEMO}"),
                &serde_json::json!({ "inputs": inputs }),
            )
            .await;
        assert_bad_input(&answer, key, text);
    }
    assert_eq!(sim.stats().jobs_created, 0);
    assert_eq!(sim.job_count(), 0);
}

#[tokio::test]
async fn file_and_media_inputs_validate() {
    let app = AppConfig::new("docs", "Docs")
        .input(InputDef::file("Document", true).with_max_fields(2))
        .input(InputDef::media("Picture", false));
    let sim = manual().apps(vec![app]).start().await.unwrap();
    let client = Client::new(&sim);
    let ok = client
        .create(
            "docs",
            &[input("Document", &["file-1"]), input("Picture", &["img-1"])],
        )
        .await;
    assert_eq!(ok.status, StatusCode::ACCEPTED);
    let answer = client
        .create("docs", &[input("Document", &["f1", "f2", "f3"])])
        .await;
    assert_bad_input(&answer, "Document", "at most 2");
}

#[tokio::test]
async fn malformed_json_is_400() {
    let sim = manual().start().await.unwrap();
    let client = Client::new(&sim);
    for body in [
        &b"{not json"[..],
        b"",
        b"{\"inputs\": \"Product name\"}",
        b"[]",
    ] {
        let answer = client
            .send(
                Method::POST,
                &format!("/v1/applications/{DEMO}/jobs"),
                Some(body.to_vec()),
            )
            .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST);
        assert!(answer.error_text().contains("malformed JSON"));
    }
}

#[tokio::test]
async fn missing_or_wrong_key_is_401() {
    let sim = manual().start().await.unwrap();
    let id = Client::new(&sim).create_id(DEMO, &product("x")).await;
    for key in [None, Some("wrong-key")] {
        let client = Client::with_key(&sim, key);
        for answer in [
            client.create(DEMO, &product("y")).await,
            client.job(&id).await,
            client.list(DEMO, "").await,
            client.retry(&id).await,
            client.get(&format!("/v1/applications/{DEMO}")).await,
        ] {
            assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
            assert_eq!(answer.error_code().as_deref(), Some("unauthorized"));
        }
    }
    assert_eq!(sim.stats().jobs_created, 1);
    assert_eq!(sim.stats().status(401), 10);
}

#[tokio::test]
async fn key_without_access_is_403() {
    let other = AppConfig::new("social-posts", "Social posts").input(InputDef::text("Topic", true));
    let sim = manual()
        .app(other)
        .key(KeyConfig::for_apps("social-only", &["social-posts"]))
        .start()
        .await
        .unwrap();
    let main = Client::new(&sim);
    let demo_job = main.create_id(DEMO, &product("x")).await;
    let limited = Client::with_key(&sim, Some("social-only"));
    for answer in [
        limited.create(DEMO, &product("x")).await,
        limited.list(DEMO, "").await,
        limited.job(&demo_job).await,
        limited.retry(&demo_job).await,
        limited.get(&format!("/v1/applications/{DEMO}")).await,
    ] {
        assert_eq!(answer.status, StatusCode::FORBIDDEN);
        assert!(answer.error_text().contains(DEMO));
    }
    let social = limited
        .create("social-posts", &[input("Topic", &["Rust"])])
        .await;
    assert_eq!(social.status, StatusCode::ACCEPTED);
}

#[tokio::test]
async fn unknown_application_or_job_is_404() {
    let sim = manual().start().await.unwrap();
    let client = Client::new(&sim);
    for answer in [
        client.create("no-such-app", &product("x")).await,
        client.list("no-such-app", "").await,
        client.get("/v1/applications/no-such-app").await,
        client.job("123-456-789").await,
        client.retry("123-456-789").await,
        client.get("/v2/elsewhere").await,
    ] {
        assert_eq!(answer.status, StatusCode::NOT_FOUND);
        assert_eq!(answer.error_code().as_deref(), Some("not_found"));
    }
}

#[tokio::test]
async fn wrong_method_is_405_with_a_json_error() {
    let sim = manual().start().await.unwrap();
    let client = Client::new(&sim);
    let answer = client
        .send(
            Method::DELETE,
            &format!("/v1/applications/{DEMO}/jobs"),
            None,
        )
        .await;
    assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(answer.error_code().as_deref(), Some("method_not_allowed"));
}

#[tokio::test]
async fn retry_of_a_job_that_is_not_failed_is_409() {
    let sim = manual().start().await.unwrap();
    let client = Client::new(&sim);
    let id = client.create_id(DEMO, &product("x")).await;
    let answer = client.retry(&id).await;
    assert_eq!(answer.status, StatusCode::CONFLICT);
    assert!(answer.error_text().contains("in_progress"));
    sim.advance(std::time::Duration::from_secs(30));
    let answer = client.retry(&id).await;
    assert_eq!(answer.status, StatusCode::CONFLICT);
    assert!(answer.error_text().contains("completed"));
}

#[tokio::test]
async fn bad_list_parameters_are_400() {
    let sim = manual().start().await.unwrap();
    let client = Client::new(&sim);
    for query in [
        "status=queued",
        "status=",
        "offset=-1",
        "limit=0",
        "limit=abc",
        "offset=1.5",
    ] {
        let answer = client.list(DEMO, query).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{query}");
        assert!(!answer.error_text().is_empty());
    }
}

#[tokio::test]
async fn limit_above_the_maximum_clamps_or_rejects() {
    let sim = manual().start().await.unwrap();
    let page: writer_api::types::JobList = Client::new(&sim).list(DEMO, "limit=500").await.decode();
    assert_eq!(page.pagination.unwrap().limit, Some(100));

    let sim = manual()
        .list(ListConfig {
            over_max: OverMax::Reject,
            ..ListConfig::default()
        })
        .start()
        .await
        .unwrap();
    let answer = Client::new(&sim).list(DEMO, "limit=101").await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(answer.error_text().contains("100"));
}

#[tokio::test]
async fn bad_config_is_a_clear_error_not_a_panic() {
    let err = manual().failure_rate(-0.5).start().await.unwrap_err();
    assert!(err.to_string().contains("failure_rate"), "{err}");
    let err = manual()
        .rate_limit(writer_sim::RateLimitConfig::per_minute(-10.0, 5))
        .start()
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("rate_limit.requests = -10"),
        "{err}"
    );
    let err = "create:explode=0.1"
        .parse::<writer_sim::FaultConfig>()
        .unwrap_err();
    assert!(err.to_string().contains("unknown fault `explode`"), "{err}");
    let err = manual().scale(-3.0).start().await.unwrap_err();
    assert!(err.to_string().contains("scale"), "{err}");
    let err = manual().apps(vec![]).start().await.unwrap_err();
    assert!(err.to_string().contains("apps"), "{err}");
}

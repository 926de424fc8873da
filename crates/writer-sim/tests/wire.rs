//! Every answer without an injected fault decodes with writer-api's
//! generated types and carries nothing those types do not know: decoding
//! and encoding again gives back the same JSON.

mod common;

use std::time::Duration;

use common::{Answer, Client, DEMO, input, manual, product};
use serde::Serialize;
use serde::de::DeserializeOwned;
use writer_api::types::{
    Application, CreateJobResponse, Error, GenerateApplicationResponse, Job, JobList,
    RetryJobResponse,
};

/// Decodes as `T`, checks the round trip is lossless, and that the answer
/// says it is JSON.
fn conforms<T: DeserializeOwned + Serialize>(answer: &Answer) -> T {
    assert_eq!(
        answer.header("content-type").as_deref(),
        Some("application/json"),
        "status {}",
        answer.status
    );
    let value: T = answer.decode();
    let again = serde_json::to_value(&value).unwrap();
    assert_eq!(
        again,
        answer.json(),
        "{} loses or adds fields",
        std::any::type_name::<T>()
    );
    value
}

/// An error answer: in Writer's shape it writes out `extras` and each
/// problem's `key` and `extras` even when null, which the generated
/// optional fields read as absent. So: exactly the keys of Writer's shape,
/// nulls only where the shape allows them, and (nulls aside) a lossless
/// round trip.
fn conforms_error(answer: &Answer) -> Error {
    assert_eq!(
        answer.header("content-type").as_deref(),
        Some("application/json")
    );
    let mut raw = answer.json();
    let object = raw.as_object_mut().expect("an object");
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["errors", "extras", "tpe"], "{object:?}");
    assert!(object["tpe"].is_string());
    if object["extras"].is_null() {
        object.remove("extras");
    }
    let problems = object["errors"].as_array_mut().expect("errors listed");
    assert!(!problems.is_empty());
    for problem in problems {
        let problem = problem.as_object_mut().unwrap();
        let mut keys: Vec<&str> = problem.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["description", "extras", "key"], "{problem:?}");
        assert!(
            problem["description"]
                .as_str()
                .is_some_and(|d| !d.is_empty())
        );
        for nullable in ["key", "extras"] {
            if problem[nullable].is_null() {
                problem.remove(nullable);
            }
        }
    }
    let value: Error = answer.decode();
    assert_eq!(
        serde_json::to_value(&value).unwrap(),
        raw,
        "Error loses or adds fields"
    );
    value
}

#[tokio::test]
async fn every_answer_matches_the_spec_types() {
    let sim = manual()
        .failure_rate(0.5)
        .sync_timeout(Duration::from_secs(300))
        .start()
        .await
        .unwrap();
    let client = Client::new(&sim);
    let mut ids = Vec::new();
    for i in 0..8 {
        let inputs = vec![
            input("Product name", &[&format!("p{i}")]),
            input("Tags", &["a", "b"]),
        ];
        let created: CreateJobResponse = conforms(&client.create(DEMO, &inputs).await);
        ids.push(created.id.unwrap());
    }
    conforms::<JobList>(&client.list(DEMO, "").await);
    conforms::<Job>(&client.job(&ids[0]).await);
    sim.advance(Duration::from_secs(30));
    let page: JobList = conforms(&client.list(DEMO, "limit=3&offset=2").await);
    assert_eq!(page.result.len(), 3);
    for status in ["completed", "failed", "in_progress"] {
        conforms::<JobList>(&client.list(DEMO, &format!("status={status}")).await);
    }
    let mut saw_failed = false;
    for id in &ids {
        let job: Job = conforms(&client.job(id).await);
        if job.status == "failed" {
            saw_failed = true;
            conforms::<RetryJobResponse>(&client.retry(id).await);
        }
    }
    assert!(saw_failed);
    conforms::<Application>(&client.get(&format!("/v1/applications/{DEMO}")).await);

    // The synchronous run (answered once sim time passes).
    let c2 = client.clone();
    let run = tokio::spawn(async move {
        c2.post(
            &format!("/v1/applications/{DEMO}"),
            &serde_json::json!({ "inputs": product("sync") }),
        )
        .await
    });
    let mut run = run;
    let answer = loop {
        sim.advance(Duration::from_secs(30));
        if let Ok(done) = tokio::time::timeout(Duration::from_millis(50), &mut run).await {
            break done.unwrap();
        }
    };
    if answer.status.is_success() {
        conforms::<GenerateApplicationResponse>(&answer);
    } else {
        conforms_error(&answer);
    }

    // Errors.
    conforms_error(&client.create(DEMO, &[]).await);
    conforms_error(&client.job("nope").await);
    conforms_error(&client.retry(&ids[0]).await);
    conforms_error(&client.list(DEMO, "status=bogus").await);
    conforms_error(&Client::with_key(&sim, None).list(DEMO, "").await);
    conforms_error(&client.get("/v2/nowhere").await);
}

#[tokio::test]
async fn legacy_error_shape_matches_the_spec_types() {
    let sim = manual()
        .error_shape(writer_sim::ErrorShape::Legacy)
        .start()
        .await
        .unwrap();
    let client = Client::new(&sim);
    for answer in [
        client.create(DEMO, &[]).await,
        client.job("nope").await,
        client.list(DEMO, "status=bogus").await,
        Client::with_key(&sim, None).list(DEMO, "").await,
    ] {
        let error: Error = conforms(&answer);
        assert!(error.message.is_some() && error.code.is_some());
        assert!(error.tpe.is_none() && error.extras.is_none());
    }
}

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
        conforms::<Error>(&answer);
    }

    // Errors.
    conforms::<Error>(&client.create(DEMO, &[]).await);
    conforms::<Error>(&client.job("nope").await);
    conforms::<Error>(&client.retry(&ids[0]).await);
    conforms::<Error>(&client.list(DEMO, "status=bogus").await);
    conforms::<Error>(&Client::with_key(&sim, None).list(DEMO, "").await);
}

//! The streamed synchronous run: `stream: true` answers `text/event-stream`
//! whose pieces arrive over simulated time and join to the JSON answer's
//! suggestion.

mod common;

use std::time::Duration;

use common::{DEMO, manual, product};
use reqwest::StatusCode;
use serde_json::{Value, json};
use writer_api::types::GenerateApplicationResponse;
use writer_sim::expected_output;

/// The `data:` values of the complete events in `text` (test streams put
/// each event on one line).
fn events(text: &str) -> Vec<Value> {
    text.split("\n\n")
        .filter_map(|block| {
            let line = block.lines().find_map(|l| l.strip_prefix("data: "))?;
            Some(serde_json::from_str(line).unwrap())
        })
        .collect()
}

fn contents(text: &str) -> Vec<String> {
    events(text)
        .iter()
        .filter_map(|e| e.pointer("/delta/content")?.as_str().map(str::to_string))
        .collect()
}

async fn start_stream(sim: &writer_sim::Simulator, body: Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}/v1/applications/{DEMO}", sim.base_url()))
        .bearer_auth(sim.api_key())
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// Reads whatever arrives within `wait` of real time.
async fn read_for(response: &mut reqwest::Response, text: &mut String, wait: Duration) -> bool {
    loop {
        match tokio::time::timeout(wait, response.chunk()).await {
            Ok(Ok(Some(bytes))) => text.push_str(std::str::from_utf8(&bytes).unwrap()),
            Ok(Ok(None)) => return true,
            Ok(Err(e)) => panic!("the stream broke: {e}"),
            Err(_) => return false,
        }
    }
}

#[tokio::test]
async fn a_streamed_run_sends_its_output_in_pieces_over_sim_time() {
    let sim = manual().start().await.unwrap();
    let inputs = product("Terra running shoe with a long and winding description");
    let mut response = start_stream(&sim, json!({ "inputs": inputs, "stream": true })).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    assert!(response.headers().contains_key("x-request-id"));

    // At once: a comment and the title, no content while sim time stands.
    let mut text = String::new();
    let ended = read_for(&mut response, &mut text, Duration::from_millis(100)).await;
    assert!(!ended);
    assert!(text.starts_with(": "), "{text:?}");
    let expected = expected_output(DEMO, &inputs);
    assert_eq!(
        events(&text),
        [json!({"delta": {"title": expected.title.clone().unwrap()}})]
    );

    // The 30 s run comes in 5 pieces, one every 6 s of sim time.
    let mut seen = Vec::new();
    for piece in 1..=writer_sim::STREAM_CHUNKS {
        sim.advance(Duration::from_secs(5));
        read_for(&mut response, &mut text, Duration::from_millis(50)).await;
        assert_eq!(
            contents(&text).len(),
            piece - 1,
            "too early at piece {piece}"
        );
        sim.advance(Duration::from_secs(1));
        let ended = read_for(&mut response, &mut text, Duration::from_millis(200)).await;
        seen = contents(&text);
        assert_eq!(seen.len(), piece, "{text:?} at {}", sim.clock().now());
        if piece == writer_sim::STREAM_CHUNKS {
            // The body ends right after the last piece.
            assert!(ended || read_for(&mut response, &mut text, Duration::from_secs(2)).await);
        } else {
            assert!(!ended);
        }
    }
    assert_eq!(seen.concat(), expected.suggestion);
    assert!(seen.iter().all(|p| !p.is_empty()));
}

#[tokio::test]
async fn without_stream_the_run_answers_json() {
    let sim = manual()
        .duration(writer_sim::DurationDist::fixed(Duration::ZERO))
        .start()
        .await
        .unwrap();
    let inputs = product("Terra");
    for body in [
        json!({ "inputs": inputs, "stream": false }),
        json!({ "inputs": inputs }),
    ] {
        let response = start_stream(&sim, body).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json")
        );
        let output: GenerateApplicationResponse = response.json().await.unwrap();
        assert_eq!(output, expected_output(DEMO, &inputs));
    }
}

#[tokio::test]
async fn a_streamed_run_that_fails_answers_an_error_before_any_chunk() {
    let sim = manual()
        .failure_rate(1.0)
        .duration(writer_sim::DurationDist::fixed(Duration::ZERO))
        .start()
        .await
        .unwrap();
    let response = start_stream(&sim, json!({ "inputs": product("Doomed"), "stream": true })).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["tpe"], "run_failed");
}

#[tokio::test]
async fn body_faults_leave_a_streamed_run_alone() {
    let sim = manual()
        .duration(writer_sim::DurationDist::fixed(Duration::ZERO))
        .faults(writer_sim::FaultConfig::none().on_all(writer_sim::FaultKind::Truncated, 1.0))
        .start()
        .await
        .unwrap();
    let inputs = product("Terra");
    let response = start_stream(&sim, json!({ "inputs": inputs, "stream": true })).await;
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    assert_eq!(
        contents(&text).concat(),
        expected_output(DEMO, &inputs).suggestion
    );
    assert_eq!(sim.stats().faults_of(writer_sim::FaultKind::Truncated), 0);
}

#[tokio::test]
async fn a_streamed_run_can_fail_mid_stream_with_an_error_event() {
    let sim = manual()
        .duration(writer_sim::DurationDist::fixed(Duration::ZERO))
        .stream_error_after(2)
        .start()
        .await
        .unwrap();
    let inputs = product("Terra running shoe with a long and winding description");
    let response = start_stream(&sim, json!({ "inputs": inputs, "stream": true })).await;
    // The stream opened fine: the failure comes inside it.
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    let whole = expected_output(DEMO, &inputs).suggestion;
    let seen = contents(&text);
    assert_eq!(seen.len(), 2, "{text:?}");
    assert!(whole.starts_with(&seen.concat()));
    assert!(seen.concat().len() < whole.len());
    // The last event is `event: error` with Writer's error body as data.
    let last = text.trim_end().rsplit("\n\n").next().unwrap();
    let data = last
        .strip_prefix("event: error\ndata: ")
        .unwrap_or_else(|| panic!("{last:?}"));
    let error: Value = serde_json::from_str(data).unwrap();
    assert_eq!(error["tpe"], "run_failed");
    assert!(
        error["errors"][0]["description"]
            .as_str()
            .unwrap()
            .contains("mid-stream"),
        "{error}"
    );
}

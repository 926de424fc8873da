//! The streamed synchronous run (`App::run_stream`): what the hand-built
//! request carries (httpmock), how answers and errors come out, and the
//! chunks arriving over time from `writer-sim`.

mod common;

use std::time::{Duration, SystemTime};

use common::{KEY, LONG_TIMEOUT, RecordingClock, builder};
use futures::{StreamExt, TryStreamExt};
use httpmock::prelude::*;
use serde_json::json;
use writer_jobs::{Client, Error, Inputs, ScaledClock};
use writer_sim::{AppConfig, DurationDist, STREAM_CHUNKS, SimClock, Simulator};

const UA: &str = concat!("writer-jobs/", env!("CARGO_PKG_VERSION"));
const APP: &str = "demo-product-descriptions";

fn inputs() -> Inputs {
    Inputs::new().text("Product name", "Terra running shoe")
}

/// An event stream with everything a parser must get right: comments,
/// CRLF, a title-only chunk, a multi-line data field, plain text, `[DONE]`
/// and something after it.
const SSE: &str = ": keep-alive\r\n\
    data: {\"delta\": {\"title\": \"Shoes\"}}\r\n\r\n\
    data: {\"delta\": {\"content\": \"Terra \"}}\n\n\
    data: {\"delta\":\n\
    data:  {\"content\": \"runs \"}}\n\n\
    event: message\n\
    data: far.\n\n\
    data: [DONE]\n\n\
    data: {\"delta\": {\"content\": \"never shown\"}}\n\n";

async fn collect(client: &Client) -> Vec<writer_jobs::Result<String>> {
    client.app("app-1").run_stream(&inputs()).collect().await
}

#[tokio::test]
async fn the_request_carries_key_user_agent_version_accept_and_stream() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.method(POST)
                .path("/v1/applications/app-1")
                .header("authorization", format!("Bearer {KEY}"))
                .header("user-agent", UA)
                .header("api-version", writer_api::API_VERSION)
                .header("accept", "text/event-stream")
                .json_body(json!({
                    "inputs": [{"id": "Product name", "value": ["Terra running shoe"]}],
                    "stream": true,
                }));
            then.status(200)
                .header("content-type", "text/event-stream; charset=utf-8")
                .body(SSE);
        })
        .await;
    let clock = RecordingClock::new();
    // The client's own reqwest client and the caller's shared one: the
    // same request (the key and user agent go on each request either way).
    let own = builder(&server.base_url(), &clock)
        .run_timeout(LONG_TIMEOUT)
        .build()
        .unwrap();
    let shared = builder(&server.base_url(), &clock)
        .run_timeout(LONG_TIMEOUT)
        .http_client(reqwest::Client::new())
        .build()
        .unwrap();
    for client in [own, shared] {
        let chunks: Vec<String> = client
            .app("app-1")
            .run_stream(&inputs())
            .try_collect()
            .await
            .unwrap();
        assert_eq!(chunks, ["Terra ", "runs ", "far."]);
    }
    mock.assert_calls_async(2).await;
}

#[tokio::test]
async fn the_plain_run_never_sends_stream() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.method(POST)
                .path("/v1/applications/app-1")
                .header("accept", "application/json")
                .json_body(json!({
                    "inputs": [{"id": "Product name", "value": ["Terra running shoe"]}],
                }));
            then.status(200)
                .json_body(json!({"title": "T", "suggestion": "whole"}));
        })
        .await;
    let clock = RecordingClock::new();
    let client = builder(&server.base_url(), &clock)
        .run_timeout(LONG_TIMEOUT)
        .build()
        .unwrap();
    assert_eq!(
        client.app("app-1").run(&inputs()).await.unwrap().suggestion,
        "whole"
    );
    mock.assert_calls_async(1).await;
}

#[tokio::test]
async fn a_json_answer_comes_out_as_one_chunk() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(POST).path("/v1/applications/app-1");
            then.status(200)
                .json_body(json!({"title": "T", "suggestion": "all at once"}));
        })
        .await;
    let clock = RecordingClock::new();
    let client = builder(&server.base_url(), &clock)
        .run_timeout(LONG_TIMEOUT)
        .build()
        .unwrap();
    let chunks: Vec<String> = client
        .app("app-1")
        .run_stream(&inputs())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(chunks, ["all at once"]);
}

#[tokio::test]
async fn errors_map_like_every_other_call_and_never_show_the_key() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(POST).path("/v1/applications/app-1");
            then.status(400)
                .header("x-request-id", "req-7")
                .json_body(json!({
                    "tpe": "bad_request",
                    "errors": [{"key": "Product name", "description": format!("too long; you sent {KEY}")}],
                }));
        })
        .await;
    let clock = RecordingClock::new();
    let client = builder(&server.base_url(), &clock)
        .run_timeout(LONG_TIMEOUT)
        .build()
        .unwrap();
    let items = collect(&client).await;
    assert_eq!(items.len(), 1, "an error ends the stream");
    let error = items.into_iter().next().unwrap().unwrap_err();
    match &error {
        Error::BadRequest {
            message,
            request_id,
            body,
            ..
        } => {
            assert!(message.contains("Product name: too long"), "{message}");
            assert_eq!(request_id.as_deref(), Some("req-7"));
            assert_eq!(body.problems[0].key.as_deref(), Some("Product name"));
        }
        other => panic!("{other:?}"),
    }
    assert!(!format!("{error} {error:?}").contains(KEY));
    // A 400 is not retried.
    assert!(clock.waits().is_empty(), "{:?}", clock.waits());
}

#[tokio::test]
async fn a_server_error_is_retried_by_the_policy_then_reported() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.method(POST).path("/v1/applications/app-1");
            then.status(503).body("down");
        })
        .await;
    let clock = RecordingClock::new();
    let client = builder(&server.base_url(), &clock)
        .run_timeout(LONG_TIMEOUT)
        .build()
        .unwrap();
    let items = collect(&client).await;
    assert!(
        matches!(&items[..], [Err(Error::Server { status: 503, .. })]),
        "{items:?}"
    );
    let attempts = writer_jobs::RetryPolicy::default().max_attempts() as usize;
    mock.assert_calls_async(attempts).await;
}

#[tokio::test]
async fn an_empty_application_id_is_refused_without_a_request() {
    let clock = RecordingClock::new();
    let client = builder("http://127.0.0.1:9", &clock).build().unwrap();
    let items: Vec<_> = client.app(" ").run_stream(&inputs()).collect().await;
    assert!(
        matches!(&items[..], [Err(Error::InvalidRequest(_))]),
        "{items:?}"
    );
}

const SCALE: f64 = 200.0;

async fn start(run: Duration) -> (Simulator, writer_jobs::ClientBuilder) {
    let anchor = SystemTime::now();
    let sim = Simulator::builder()
        .clock(SimClock::scaled_from(anchor, SCALE).unwrap())
        .apps(vec![AppConfig::demo()])
        .duration(DurationDist::fixed(run))
        .seed(7)
        .start()
        .await
        .unwrap();
    let client = Client::builder()
        .api_key(sim.api_key())
        .base_url(sim.base_url())
        .clock(ScaledClock::with_anchor(SCALE, anchor));
    (sim, client)
}

#[tokio::test]
async fn chunks_arrive_over_sim_time_and_join_to_the_output() {
    let (sim, client) = start(Duration::from_secs(20)).await;
    let client = client.build().unwrap();
    let inputs = Inputs::new().text(
        "Product name",
        "Terra running shoe for long trail races in the rain",
    );
    let app = client.app(APP);
    let started = client.clock().now();
    let mut stream = app.run_stream(&inputs);
    let mut chunks = Vec::new();
    let mut arrivals = Vec::new();
    while let Some(chunk) = stream.next().await {
        chunks.push(chunk.unwrap());
        arrivals.push(client.clock().now() - started);
    }
    assert_eq!(chunks.len(), STREAM_CHUNKS);
    let whole = app.run(&inputs).await.unwrap();
    assert_eq!(chunks.concat(), whole.suggestion);
    // One piece every 4 s of the 20 s run, not all at the end.
    assert!(arrivals[0] < Duration::from_secs(12), "{arrivals:?}");
    assert!(arrivals[4] >= Duration::from_secs(19), "{arrivals:?}");
    assert_eq!(sim.stats().jobs_created, 0);
}

#[tokio::test]
async fn the_run_timeout_ends_a_stream_that_runs_too_long() {
    let (_sim, client) = start(Duration::from_secs(200)).await;
    let client = client.run_timeout(Duration::from_secs(60)).build().unwrap();
    let inputs = Inputs::new().text("Product name", "Terra running shoe for long trail races");
    let items: Vec<_> = client.app(APP).run_stream(&inputs).collect().await;
    // The first piece comes at 40 s, then the 60 s run timeout passes.
    assert_eq!(items.len(), 2, "{items:?}");
    assert!(items[0].is_ok());
    assert!(
        matches!(
            items[1],
            Err(Error::Timeout {
                operation: "run_application",
                ..
            })
        ),
        "{items:?}"
    );
}

#[tokio::test]
async fn a_stream_that_breaks_off_ends_with_a_transport_error() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = vec![0u8; 64 * 1024];
        let _ = socket.read(&mut request).await.unwrap();
        let event = "data: {\"delta\": {\"content\": \"first \"}}\n\n";
        let answer = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\
             transfer-encoding: chunked\r\n\r\n{:x}\r\n{event}\r\n",
            event.len()
        );
        socket.write_all(answer.as_bytes()).await.unwrap();
        socket.flush().await.unwrap();
        // Closed before the last chunk: the body breaks off.
    });
    let clock = RecordingClock::new();
    let client = builder(&base, &clock)
        .run_timeout(LONG_TIMEOUT)
        .build()
        .unwrap();
    let items = collect(&client).await;
    assert_eq!(items.len(), 2, "{items:?}");
    assert_eq!(items[0].as_deref().unwrap(), "first ");
    match &items[1] {
        Err(
            error @ Error::Transport {
                message, connect, ..
            },
        ) => {
            assert!(!connect);
            assert!(message.contains("the stream broke off"), "{message}");
            // The HTTP client's error is the cause.
            let source = std::error::Error::source(error).expect("a cause");
            assert!(source.is::<reqwest::Error>(), "{source:?}");
        }
        other => panic!("{other:?}"),
    }
}

/// What the stream yields for `body` (served as `text/event-stream`).
async fn stream_of(body: &str) -> Vec<writer_jobs::Result<String>> {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(POST).path("/v1/applications/app-1");
            then.status(200)
                .header("content-type", "text/event-stream")
                .header("x-request-id", "req-9")
                .body(body);
        })
        .await;
    let clock = RecordingClock::new();
    let client = builder(&server.base_url(), &clock)
        .run_timeout(LONG_TIMEOUT)
        .build()
        .unwrap();
    collect(&client).await
}

#[tokio::test]
async fn an_error_event_mid_stream_ends_it_with_the_servers_message() {
    let pieces = "data: {\"delta\": {\"content\": \"Terra \"}}\n\n\
                  data: {\"delta\": {\"content\": \"runs \"}}\n\n";
    let after = "data: {\"delta\": {\"content\": \"never shown\"}}\n\n";
    // (error event(s), words the message must carry, `tpe` of the body).
    let cases = [
        // Writer's error body, as an `event: error` (what its SDKs raise on).
        (
            format!(
                "event: error\ndata: {{\"tpe\": \"overloaded\", \"errors\": [{{\"description\": \
                 \"the model is overloaded; key {KEY}\", \"key\": null}}], \"extras\": null}}\n\n"
            ),
            "the model is overloaded",
            Some("overloaded"),
        ),
        // The older shape.
        (
            "event: error\ndata: {\"message\": \"run aborted\", \"code\": \"aborted\"}\n\n".into(),
            "run aborted",
            Some("aborted"),
        ),
        // `{"error": ...}` in plain data, as other streaming APIs send it.
        (
            "data: {\"error\": {\"message\": \"quota spent\", \"type\": \"quota\"}}\n\n".into(),
            "quota spent",
            None,
        ),
        (
            "data: {\"error\": \"gone away\"}\n\n".into(),
            "gone away",
            None,
        ),
        // Plain text, split over two data lines, and no data at all.
        (
            "event: error\ndata: upstream\ndata: timeout\n\n".into(),
            "upstream\ntimeout",
            None,
        ),
        ("event: error\n\n".into(), "no explanation given", None),
    ];
    for (error, words, tpe) in cases {
        let items = stream_of(&format!("{pieces}{error}{after}")).await;
        assert_eq!(items.len(), 3, "{error}: {items:?}");
        assert_eq!(items[0].as_deref().unwrap(), "Terra ");
        assert_eq!(items[1].as_deref().unwrap(), "runs ");
        let error = items[2].as_ref().unwrap_err();
        match error {
            Error::Http {
                status,
                message,
                request_id,
                body,
                ..
            } => {
                assert_eq!(*status, 200);
                assert!(message.contains("mid-stream"), "{message}");
                assert!(message.contains(words), "{message}");
                assert_eq!(request_id.as_deref(), Some("req-9"));
                assert_eq!(body.tpe.as_deref(), tpe, "{body:?}");
            }
            other => panic!("{other:?}"),
        }
        assert!(!error.is_transient());
        assert!(!format!("{error} {error:?}").contains(KEY), "{error:?}");
    }
}

#[tokio::test]
async fn a_simulated_run_that_fails_mid_stream_yields_its_pieces_then_the_error() {
    let anchor = SystemTime::now();
    let sim = Simulator::builder()
        .clock(SimClock::scaled_from(anchor, SCALE).unwrap())
        .apps(vec![AppConfig::demo()])
        .duration(DurationDist::fixed(Duration::from_secs(20)))
        .stream_error_after(2)
        .seed(7)
        .start()
        .await
        .unwrap();
    let client = Client::builder()
        .api_key(sim.api_key())
        .base_url(sim.base_url())
        .clock(ScaledClock::with_anchor(SCALE, anchor))
        .build()
        .unwrap();
    let inputs = Inputs::new().text(
        "Product name",
        "Terra running shoe for long trail races in the rain",
    );
    let items: Vec<_> = client.app(APP).run_stream(&inputs).collect().await;
    assert_eq!(items.len(), 3, "{items:?}");
    let whole = writer_sim::expected_output(APP, &inputs.to_wire().inputs).suggestion;
    let text: String = items[..2].iter().map(|i| i.as_deref().unwrap()).collect();
    assert!(
        whole.starts_with(&text) && text.len() < whole.len(),
        "{text:?}"
    );
    match &items[2] {
        Err(
            error @ Error::Http {
                status: 200,
                message,
                request_id,
                ..
            },
        ) => {
            assert!(message.contains("failed mid-stream"), "{message}");
            assert!(request_id.is_some());
            assert_eq!(error.body().unwrap().tpe.as_deref(), Some("run_failed"));
        }
        other => panic!("{other:?}"),
    }
    // One request: an error inside an open stream is not retried.
    assert_eq!(sim.stats().total_requests, 1);
}

//! A caller's own `reqwest::Client` (`ClientBuilder::http_client`) goes
//! through the one request path, the generated client's: every operation
//! is sent through it, carries our headers, and is traced in a
//! `writer_api.request` span. In a test binary of its own: the spans are
//! caught by a subscriber scoped to this test's thread, and tracing's
//! per-callsite cache could miss them if other tests' threads reached the
//! same callsites first.

mod common;

use common::{KEY, RecordingClock, builder, job_json};
use futures::TryStreamExt;
use httpmock::prelude::*;
use serde_json::json;
use writer_jobs::{Inputs, ListQuery, RetryPolicy};

const UA: &str = concat!("writer-jobs/", env!("CARGO_PKG_VERSION"));

fn inputs() -> Inputs {
    Inputs::new()
        .text("Product name", "Terra running shoe")
        .list("Tags", ["running", "outdoor"])
}

fn created_body() -> serde_json::Value {
    json!({"id": "job-1", "status": "in_progress", "created_at": "2025-02-10T18:18:09Z"})
}

/// The `operation` of every `writer_api.request` span opened while it is
/// the (thread's) default subscriber: one per request, the generated
/// client's hook and the streamed run alike.
#[derive(Clone, Default)]
struct RequestSpans(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for RequestSpans {
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        _: &tracing::span::Id,
        _: tracing_subscriber::layer::Context<'_, S>,
    ) {
        struct Operation(String);
        impl tracing::field::Visit for Operation {
            fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
                if field.name() == "operation" {
                    self.0 = value.to_string();
                }
            }
            fn record_debug(&mut self, _: &tracing::field::Field, _: &dyn std::fmt::Debug) {}
        }
        if attrs.metadata().name() == "writer_api.request" {
            let mut operation = Operation(String::new());
            attrs.record(&mut operation);
            self.0.lock().unwrap().push(operation.0);
        }
    }
}

/// A caller's own `reqwest::Client` serves EVERY operation (its default
/// header is on each request), each request also carrying the key, the
/// user agent (ours wins over the caller's default) and the API version,
/// each traced in a `writer_api.request` span as with the client's own
/// `reqwest::Client`, and the client's `Debug` still shows no key.
#[tokio::test]
async fn a_callers_reqwest_client_serves_every_operation() {
    use tracing_subscriber::layer::SubscriberExt;
    let spans = RequestSpans::default();
    // This test runs on one thread: the subscriber sees all its requests.
    let _traced =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(spans.clone()));
    let server = MockServer::start_async().await;
    // Every mock asks for the caller's header and ours: a request missing
    // one falls through to httpmock's 404 and fails its call.
    let ours = |when: httpmock::When| {
        when.header("x-caller", "mine")
            .header("authorization", format!("Bearer {KEY}"))
            .header("user-agent", UA)
            .header("api-version", writer_api::API_VERSION)
    };
    let create = server
        .mock_async(|when, then| {
            ours(when).method(POST).path("/v1/applications/app-1/jobs");
            then.status(200).json_body(created_body());
        })
        .await;
    let get = server
        .mock_async(|when, then| {
            ours(when).method(GET).path("/v1/applications/jobs/j1");
            then.status(200).json_body(job_json("j1", "in_progress"));
        })
        .await;
    let list = server
        .mock_async(|when, then| {
            ours(when).method(GET).path("/v1/applications/app-1/jobs");
            then.status(200)
                .json_body(json!({"result": [job_json("j1", "failed")], "totalCount": 1}));
        })
        .await;
    let retry = server
        .mock_async(|when, then| {
            ours(when)
                .method(POST)
                .path("/v1/applications/jobs/j1/retry");
            then.status(200).json_body(
                json!({"id": "j2", "status": "in_progress", "created_at": "2025-02-10T18:18:09Z"}),
            );
        })
        .await;
    let application = server
        .mock_async(|when, then| {
            ours(when).method(GET).path("/v1/applications/app-1");
            then.status(200).json_body(json!({
                "id": "app-1", "name": "Pages", "type": "generation", "status": "deployed",
                "created_at": "2025-02-10T18:18:09Z", "updated_at": "2025-02-10T18:18:09Z",
                "inputs": []
            }));
        })
        .await;
    let run = server
        .mock_async(|when, then| {
            ours(when)
                .method(POST)
                .path("/v1/applications/app-1")
                .header("accept", "application/json");
            then.status(200).json_body(json!({"suggestion": "whole"}));
        })
        .await;
    let run_stream = server
        .mock_async(|when, then| {
            ours(when)
                .method(POST)
                .path("/v1/applications/app-1")
                .header("accept", "text/event-stream");
            then.status(200)
                .header("content-type", "text/event-stream")
                .body("data: {\"delta\": {\"content\": \"streamed\"}}\n\ndata: [DONE]\n\n");
        })
        .await;
    let mut defaults = reqwest::header::HeaderMap::new();
    defaults.insert("x-caller", "mine".parse().unwrap());
    let http = reqwest::Client::builder()
        .default_headers(defaults)
        .user_agent("callers-default/1")
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let clock = RecordingClock::new();
    let client = builder(&server.base_url(), &clock)
        .retry_policy(RetryPolicy::none())
        .http_client(http)
        .build()
        .unwrap();

    assert_eq!(
        client.create_job("app-1", &inputs()).await.unwrap().id,
        "job-1"
    );
    assert_eq!(client.get_job("j1").await.unwrap().id, "j1");
    let page = client
        .list_jobs_page("app-1", &ListQuery::default())
        .await
        .unwrap();
    assert_eq!(page.jobs.len(), 1);
    let streamed: Vec<_> = client
        .jobs("app-1")
        .list()
        .stream()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(streamed.len(), 1);
    assert_eq!(client.retry_job("j1").await.unwrap().id, "j2");
    assert_eq!(client.get_application("app-1").await.unwrap().id, "app-1");
    assert_eq!(
        client
            .run_application("app-1", &inputs())
            .await
            .unwrap()
            .suggestion,
        "whole"
    );
    let chunks: Vec<String> = client
        .run_application_stream("app-1", &inputs())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(chunks, ["streamed"]);

    create.assert_calls_async(1).await;
    get.assert_calls_async(1).await;
    list.assert_calls_async(2).await;
    retry.assert_calls_async(1).await;
    application.assert_calls_async(1).await;
    run.assert_calls_async(1).await;
    run_stream.assert_calls_async(1).await;
    let mut traced = spans.0.lock().unwrap().clone();
    traced.sort();
    assert_eq!(
        traced,
        [
            "create_job",
            "get_application",
            "get_job",
            "list_jobs",
            "list_jobs",
            "retry_job",
            "run_application",
            "run_application",
        ],
        "one request span per request, named by its operation"
    );
    let debug = format!("{client:?} {client:#?}");
    assert!(!debug.contains(KEY), "{debug}");
    assert!(debug.contains("shared"), "{debug}");
}

/// On the multi-threaded runtime a batch runs on a thread of its own
/// (`Batch::engine_thread`): a subscriber scoped to the caller's thread
/// still sees each of its requests, as it would the caller's own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_on_its_own_thread_is_traced_by_the_callers_subscriber() {
    use futures::StreamExt;
    use tracing_subscriber::layer::SubscriberExt;
    use writer_jobs::batch::{Batch, Row};
    let spans = RequestSpans::default();
    let _traced =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(spans.clone()));
    let sim = writer_sim::Simulator::builder()
        .scale(200.0)
        .seed(3)
        .duration(writer_sim::DurationDist::fixed(
            std::time::Duration::from_secs(5),
        ))
        .start()
        .await
        .unwrap();
    let client = common::sim_client(&sim).build().unwrap();
    let rows = (0..5).map(|i| {
        let inputs = Inputs::new()
            .text("Product name", format!("Product #{i}"))
            .text("Tone", "casual");
        Row::new(format!("row-{i}"), inputs)
    });
    let run = Batch::new(client, "demo-product-descriptions")
        .run(futures::stream::iter(rows))
        .await
        .unwrap();
    let outcomes: Vec<_> = run.collect().await;
    assert_eq!(outcomes.len(), 5);
    assert!(outcomes.iter().all(|o| o.is_ok()));
    let operations = spans.0.lock().unwrap().clone();
    let creates = operations.iter().filter(|o| *o == "create_job").count();
    assert_eq!(creates, 5, "{operations:?}");
    assert!(
        operations.iter().any(|o| o == "list_jobs"),
        "{operations:?}"
    );
}

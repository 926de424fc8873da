//! Result delay: a row whose job is known and finished is written as soon
//! as the batch reads it, not when something unrelated ends. On the
//! simulator's scaled clock; the promises are checked from its records
//! as in `breaks3.rs`.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::invariants;
use common::proxy::{ListView, Proxy, ProxyConfig};
use common::{collect_within, start};
use writer_jobs::batch::{Batch, OutcomeResult, Row};
use writer_jobs::{Client, Inputs};
use writer_sim::{DurationDist, FaultConfig, Simulator};

const APP: &str = "demo-product-descriptions";

/// Scenario: two rows whose jobs finish together. The list shows one with
/// its results; the other without them (`data` is nullable), so the sweep
/// fetches it by id, and every GET is answered 8 s late (under the
/// batch's 10 s read timeout).
///
/// The row the list showed whole is written when the page is read; it
/// used to wait for the end of the sweep, that is for the other job's slow
/// GET (8 s more of result delay for a job already read).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_job_on_a_list_page_does_not_wait_for_the_sweeps_slow_get() {
    let scenario = "one job listed whole, one listed without results, slow GETs";
    let sim = start(
        Simulator::builder()
            .scale(100.0)
            .seed(3101)
            .duration(DurationDist::Fixed { secs: 5.0 })
            .failure_rate(0.0),
    )
    .await;
    sim.set_faults(FaultConfig::parse_compact("get:slow=1.0,slow_secs=8").unwrap())
        .unwrap();
    let view = ListView(Arc::new(|all: Vec<serde_json::Value>, _, _| {
        all.into_iter()
            .map(|mut job| {
                if job.to_string().contains("needs a GET")
                    && let Some(map) = job.as_object_mut()
                {
                    map.remove("data");
                }
                job
            })
            .collect()
    }));
    let proxy = Proxy::start(
        &sim.base_url(),
        ProxyConfig {
            list_view: Some(view),
            ..ProxyConfig::default()
        },
    )
    .await;
    let rows = vec![
        Row::new("listed", Inputs::new().text("Product name", "shown whole")),
        Row::new("fetched", Inputs::new().text("Product name", "needs a GET")),
    ];
    let client = Client::builder()
        .api_key(sim.api_key())
        .base_url(&proxy.base_url)
        .clock(common::OffsetClock::new(&sim, 0))
        .request_timeout(Duration::from_secs(60))
        .build()
        .expect("client");
    let run = Batch::new(client, APP)
        .run(futures::stream::iter(rows.clone()))
        .await
        .expect("batch starts");
    let outcomes = collect_within(run, Duration::from_secs(30), scenario).await;
    invariants::show(scenario, &outcomes);
    invariants::check(&sim, APP, &outcomes, &rows, scenario);
    let outcome = |key: &str| {
        let o = outcomes.iter().find(|o| o.key == key).expect("written");
        assert!(
            matches!(o.result, OutcomeResult::Completed { .. }),
            "{scenario}: {key}: {:?}",
            o.result
        );
        o
    };
    let (listed, fetched) = (outcome("listed"), outcome("fetched"));
    // Both finished together (same start, same duration), so one sweep's
    // page showed both finished; only the second waited for its GET.
    let finished = |o: &writer_jobs::batch::Outcome| o.finished_at.expect("finish time");
    let apart = (finished(fetched) - finished(listed)).abs();
    assert!(
        apart < chrono::Duration::seconds(1),
        "setup: the jobs finished {apart} apart"
    );
    let gap = fetched.observed_at - listed.observed_at;
    assert!(
        gap >= chrono::Duration::seconds(6),
        "{scenario}: the row listed whole was written only {gap} before the row whose GET \
         took 8 s: it waited for the sweep's GET"
    );
}

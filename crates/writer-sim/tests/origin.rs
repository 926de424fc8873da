//! How each job came to be (a create, a retry answering a new id, another
//! tenant), per job and per input set in the statistics.

mod common;

use std::time::Duration;

use common::{Client, DEMO, manual, product};
use reqwest::Method;
use serde_json::json;
use writer_api::types::RetryJobResponse;
use writer_sim::{AppConfig, JobOrigin, KeyConfig, OriginCounts, Stats, TenantConfig, input_key};

#[tokio::test]
async fn every_job_records_its_origin_key_and_client_tag() {
    let app = AppConfig::demo().tenants(TenantConfig {
        prefill_jobs: 3,
        jobs_per_minute: 6.0,
    });
    let sim = manual()
        .apps(vec![app])
        .key(KeyConfig::all_apps("second-key"))
        .failure_rate(1.0)
        .retry_new_id(true)
        .start()
        .await
        .unwrap();
    let main = Client::new(&sim);
    let second = Client::with_key(&sim, Some("second-key"));

    let plain = main.create_id(DEMO, &product("plain")).await;
    let body = serde_json::to_vec(&json!({ "inputs": product("tagged") })).unwrap();
    let tagged = main
        .http
        .post(format!("{}/v1/applications/{DEMO}/jobs", main.base))
        .bearer_auth(sim.api_key())
        .header("x-sim-client", "worker-7")
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap()
        .json::<writer_api::types::CreateJobResponse>()
        .await
        .unwrap()
        .id
        .unwrap();
    let by_second = second.create_id(DEMO, &product("second")).await;

    let state = sim.job(&plain).unwrap();
    assert_eq!(state.origin, JobOrigin::Create);
    assert_eq!((state.api_key_index, state.client_tag), (Some(0), None));
    let state = sim.job(&tagged).unwrap();
    assert_eq!(state.origin, JobOrigin::Create);
    assert_eq!(state.client_tag.as_deref(), Some("worker-7"));
    assert_eq!(sim.job(&by_second).unwrap().api_key_index, Some(1));

    // A retry answering a new id makes a job of origin `retry`.
    sim.advance(Duration::from_secs(30));
    let retried: RetryJobResponse = second.retry(&plain).await.decode();
    let state = sim.job(&retried.id).unwrap();
    assert_eq!(state.origin, JobOrigin::Retry);
    assert_eq!(state.retry_of.as_deref(), Some(plain.as_str()));
    assert_eq!(state.api_key_index, Some(1));
    assert_eq!(sim.job(&plain).unwrap().retry_of, None);

    // Pre-filled and background jobs are other tenants'.
    let tenants: Vec<String> = sim
        .job_ids(DEMO)
        .into_iter()
        .filter(|id| sim.job(id).unwrap().origin == JobOrigin::Tenant)
        .collect();
    assert_eq!(
        tenants.len(),
        3 + 3,
        "3 pre-filled, 3 in 30 s at 6 a minute"
    );
    assert!(tenants.iter().all(|id| {
        let state = sim.job(id).unwrap();
        state.api_key_index.is_none() && state.client_tag.is_none()
    }));

    // The same over HTTP.
    let anonymous = Client::with_key(&sim, None);
    let view = anonymous.get(&format!("/_sim/jobs/{tagged}")).await.json();
    assert_eq!(view["origin"], "create");
    assert_eq!(view["api_key_index"], 0);
    assert_eq!(view["client_tag"], "worker-7");
    let view = anonymous
        .get(&format!("/_sim/jobs/{}", retried.id))
        .await
        .json();
    assert_eq!(view["origin"], "retry");
    assert_eq!(view["retry_of"], plain.as_str());
    let view = anonymous
        .get(&format!("/_sim/jobs/{}", tenants[0]))
        .await
        .json();
    assert_eq!(view["origin"], "tenant");
}

#[tokio::test]
async fn stats_count_jobs_per_input_set_by_origin() {
    let sim = manual()
        .failure_rate(1.0)
        .retry_new_id(true)
        .start()
        .await
        .unwrap();
    let client = Client::new(&sim);
    let rows = [product("a"), product("b")];
    let first = client.create_id(DEMO, &rows[0]).await;
    client.create_id(DEMO, &rows[1]).await;
    sim.advance(Duration::from_secs(30));
    // A retry with a new id: two jobs for row a, but only one from a create.
    let retried: RetryJobResponse = client.retry(&first).await.decode();
    sim.advance(Duration::from_secs(30));
    client.retry(&retried.id).await.decode::<RetryJobResponse>();

    let stats = sim.stats();
    let a = input_key(DEMO, &rows[0]);
    let b = input_key(DEMO, &rows[1]);
    assert_eq!(
        stats.jobs_by_input_set[&a],
        OriginCounts {
            create: 1,
            retry: 2,
            tenant: 0
        }
    );
    assert_eq!(stats.jobs_by_input_set[&b].create, 1);
    assert_eq!(stats.creates_per_input_set[&a], 1);
    assert_eq!(stats.creates_per_input_set, stats.created_by_inputs);
    assert_eq!(stats.jobs_created, 2);
    assert_eq!(stats.retry_jobs_created, 2);
    assert_eq!(stats.retries, 2);
    // "No input set has more jobs from creates than rows with those inputs."
    assert!(
        rows.iter()
            .all(|r| stats.jobs_by_input_set[&input_key(DEMO, r)].create <= 1)
    );
    // The same numbers over HTTP.
    let over_http: Stats = Client::with_key(&sim, None)
        .send(Method::GET, "/_sim/stats", None)
        .await
        .decode();
    assert_eq!(over_http, stats);
    // Counts of existing jobs survive a reset of the counters.
    sim.reset_stats();
    let stats = sim.stats();
    assert_eq!(stats.jobs_by_input_set[&a].retry, 2);
    assert!(stats.creates_per_input_set.is_empty());
}

#[tokio::test]
async fn tenants_are_counted_only_on_input_sets_a_client_used() {
    let app = AppConfig::demo().tenants(TenantConfig {
        prefill_jobs: 1000,
        jobs_per_minute: 0.0,
    });
    let sim = manual().apps(vec![app]).start().await.unwrap();
    let client = Client::new(&sim);
    // A client row that happens to equal a pre-filled tenant's inputs.
    let same_as_tenant = product("Other tenant's item 0");
    client.create_id(DEMO, &same_as_tenant).await;
    let stats = sim.stats();
    assert_eq!(
        stats.jobs_by_input_set.len(),
        1,
        "tenant-only sets left out"
    );
    assert_eq!(
        stats.jobs_by_input_set[&input_key(DEMO, &same_as_tenant)],
        OriginCounts {
            create: 1,
            retry: 0,
            tenant: 1
        }
    );
}

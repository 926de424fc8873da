//! The per-key request budget: 429 with Retry-After in simulated time.

mod common;

use std::time::Duration;

use common::{Client, DEMO, manual, product};
use reqwest::StatusCode;
use writer_sim::{KeyConfig, RateLimitConfig};

#[tokio::test]
async fn over_budget_is_429_with_retry_after_in_sim_time() {
    let sim = manual()
        .rate_limit(RateLimitConfig::per_minute(30.0, 3))
        .key(KeyConfig::all_apps("second-key"))
        .start()
        .await
        .unwrap();
    let client = Client::new(&sim);
    for _ in 0..3 {
        assert_eq!(client.list(DEMO, "").await.status, StatusCode::OK);
    }
    let answer = client.create(DEMO, &product("x")).await;
    assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS);
    // 30 per minute: one token every 2 s of simulated time.
    assert_eq!(answer.header("retry-after").as_deref(), Some("2"));
    assert_eq!(answer.header("retry-after-ms").as_deref(), Some("2000"));
    assert_eq!(answer.error_code().as_deref(), Some("rate_limited"));
    assert_eq!(
        sim.stats().jobs_created,
        0,
        "a refused create creates nothing"
    );

    // Another key has its own budget.
    let other = Client::with_key(&sim, Some("second-key"));
    assert_eq!(other.list(DEMO, "").await.status, StatusCode::OK);

    // Half the wait: still refused, with the rest to wait (rounded up).
    sim.advance(Duration::from_millis(1500));
    let answer = client.list(DEMO, "").await;
    assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(answer.header("retry-after").as_deref(), Some("1"));
    assert_eq!(answer.header("retry-after-ms").as_deref(), Some("500"));
    sim.advance(Duration::from_millis(500));
    assert_eq!(
        client.create(DEMO, &product("x")).await.status,
        StatusCode::ACCEPTED
    );

    let stats = sim.stats();
    assert_eq!(stats.rate_limited, 2);
    assert_eq!(stats.status(429), 2);
    assert_eq!(stats.jobs_created, 1);
}

#[tokio::test]
async fn hourly_budget_refills_slowly() {
    let sim = manual()
        .rate_limit(RateLimitConfig::per_hour(3600.0, 1))
        .start()
        .await
        .unwrap();
    let client = Client::new(&sim);
    assert_eq!(client.list(DEMO, "").await.status, StatusCode::OK);
    let answer = client.list(DEMO, "").await;
    assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(answer.header("retry-after").as_deref(), Some("1"));
    sim.advance(Duration::from_secs(1));
    assert_eq!(client.list(DEMO, "").await.status, StatusCode::OK);
}

#[tokio::test]
async fn no_rate_limit_by_default() {
    let sim = manual().start().await.unwrap();
    let client = Client::new(&sim);
    for _ in 0..200 {
        assert_eq!(client.list(DEMO, "limit=1").await.status, StatusCode::OK);
    }
    assert_eq!(sim.stats().rate_limited, 0);
}

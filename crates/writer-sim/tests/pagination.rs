//! Listing: order, offset/limit, status filter, totalCount, pages shifting
//! under inserts and status changes, busy applications with other tenants,
//! and a large store.

mod common;

use std::time::{Duration, Instant};

use common::{Client, DEMO, manual, product};
use writer_api::types::JobList;
use writer_sim::{AppConfig, ListConfig, ListOrder, TenantConfig, TotalCount};

fn ids(page: &JobList) -> Vec<String> {
    page.result.iter().map(|j| j.id.clone()).collect()
}

#[tokio::test]
async fn newest_first_with_defaults_and_pagination_echo() {
    let sim = manual().start().await.unwrap();
    let client = Client::new(&sim);
    let mut created = Vec::new();
    for i in 0..120 {
        created.push(client.create_id(DEMO, &product(&format!("p{i}"))).await);
        if i % 7 == 0 {
            sim.advance(Duration::from_millis(1500));
        }
    }
    let newest_first: Vec<String> = created.iter().rev().cloned().collect();

    let page: JobList = client.list(DEMO, "").await.decode();
    assert_eq!(page.result.len(), 50, "default limit 50");
    assert_eq!(page.total_count, Some(120));
    let pagination = page.pagination.clone().unwrap();
    assert_eq!((pagination.offset, pagination.limit), (Some(0), Some(50)));
    assert_eq!(ids(&page), newest_first[..50]);
    // Order: created_at descending, ties in reverse creation order (ids
    // are random, so they say nothing of the order).
    assert!(
        page.result
            .windows(2)
            .all(|w| w[0].created_at >= w[1].created_at)
    );

    let page: JobList = client.list(DEMO, "offset=100&limit=30").await.decode();
    assert_eq!(ids(&page), newest_first[100..]);
    assert_eq!(page.pagination.unwrap().limit, Some(30));
    let page: JobList = client.list(DEMO, "offset=500").await.decode();
    assert!(page.result.is_empty());
    assert_eq!(page.total_count, Some(120));
}

#[tokio::test]
async fn pages_shift_when_jobs_are_created_while_paging() {
    let sim = manual().start().await.unwrap();
    let client = Client::new(&sim);
    let mut created = Vec::new();
    for i in 0..10 {
        created.push(client.create_id(DEMO, &product(&format!("p{i}"))).await);
    }
    let first: JobList = client.list(DEMO, "offset=0&limit=4").await.decode();
    assert_eq!(
        ids(&first),
        ["9", "8", "7", "6"].map(|i| created[i.parse::<usize>().unwrap()].clone())
    );
    // Two new jobs arrive before the client asks for the next page: the
    // old jobs move two places down, so page 2 repeats two of page 1.
    client.create_id(DEMO, &product("new1")).await;
    client.create_id(DEMO, &product("new2")).await;
    let second: JobList = client.list(DEMO, "offset=4&limit=4").await.decode();
    assert_eq!(
        ids(&second),
        [&created[7], &created[6], &created[5], &created[4]].map(|s| s.clone())
    );
    assert_eq!(second.total_count, Some(12));
}

#[tokio::test]
async fn status_filtered_pages_lose_jobs_that_change_status() {
    let sim = manual().start().await.unwrap();
    let client = Client::new(&sim);
    let mut created = Vec::new();
    for i in 0..6 {
        created.push(client.create_id(DEMO, &product(&format!("p{i}"))).await);
        sim.advance(Duration::from_secs(5));
    }
    // Jobs finish 30 s after creation: at t=30 s (after 6 advances), job 0
    // is done, the others run.
    let running: JobList = client
        .list(DEMO, "status=in_progress&limit=2")
        .await
        .decode();
    assert_eq!(ids(&running), [created[5].clone(), created[4].clone()]);
    assert_eq!(
        running.total_count,
        Some(6),
        "totalCount counts all jobs by default"
    );
    // Two more finish while the client pages: the filtered list shrinks
    // from the old end and the next page skips nothing here, but counts fewer.
    sim.advance(Duration::from_secs(10));
    let running: JobList = client
        .list(DEMO, "status=in_progress&offset=2&limit=2")
        .await
        .decode();
    assert_eq!(ids(&running), [created[3].clone()]);
    let done: JobList = client.list(DEMO, "status=completed").await.decode();
    assert_eq!(
        ids(&done),
        [created[2].clone(), created[1].clone(), created[0].clone()]
    );
    let failed: JobList = client.list(DEMO, "status=failed").await.decode();
    assert!(failed.result.is_empty());
}

#[tokio::test]
async fn total_count_can_count_only_the_filtered_jobs() {
    let sim = manual()
        .list(ListConfig {
            total_count: TotalCount::Filtered,
            ..ListConfig::default()
        })
        .start()
        .await
        .unwrap();
    let client = Client::new(&sim);
    for i in 0..5 {
        client.create_id(DEMO, &product(&format!("p{i}"))).await;
    }
    sim.advance(Duration::from_secs(30));
    for i in 0..3 {
        client.create_id(DEMO, &product(&format!("q{i}"))).await;
    }
    let done: JobList = client.list(DEMO, "status=completed&limit=2").await.decode();
    assert_eq!(done.total_count, Some(5));
    let running: JobList = client.list(DEMO, "status=in_progress").await.decode();
    assert_eq!(running.total_count, Some(3));
    let all: JobList = client.list(DEMO, "").await.decode();
    assert_eq!(all.total_count, Some(8));
}

#[tokio::test]
async fn busy_application_has_old_jobs_and_background_tenants() {
    let app = AppConfig::demo().tenants(TenantConfig {
        prefill_jobs: 3000,
        jobs_per_minute: 120.0,
    });
    let sim = manual().apps(vec![app]).start().await.unwrap();
    let client = Client::new(&sim);
    let page: JobList = client.list(DEMO, "").await.decode();
    assert_eq!(page.total_count, Some(3000));
    assert!(
        page.result
            .iter()
            .all(|j| j.status == "completed" || j.status == "failed")
    );
    assert!(page.result.iter().all(|j| j.created_at < sim.clock().now()));

    let mine = client.create_id(DEMO, &product("mine")).await;
    // One minute later, 120 tenants' jobs arrived after mine.
    sim.advance(Duration::from_secs(60));
    let page: JobList = client.list(DEMO, "offset=100&limit=100").await.decode();
    assert_eq!(page.total_count, Some(3000 + 1 + 120));
    let position = page.result.iter().position(|j| j.id == mine).unwrap();
    assert_eq!(
        100 + position,
        120,
        "tenants' newer jobs push mine down the list"
    );
    assert_eq!(sim.job_ids(DEMO)[120], mine);
    let page: JobList = client.list(DEMO, "limit=100").await.decode();
    assert!(
        page.result
            .windows(2)
            .all(|w| w[0].created_at > w[1].created_at)
    );
    assert_eq!(ids(&page), sim.job_ids(DEMO)[..100]);
    let stats = sim.stats();
    assert_eq!(stats.jobs_created, 1);
    assert_eq!(stats.tenant_jobs_created, 120);
    let running: JobList = client
        .list(DEMO, "status=in_progress&limit=100")
        .await
        .decode();
    assert!(
        !running.result.is_empty(),
        "tenants' recent jobs are still running"
    );
}

#[tokio::test]
async fn listing_stays_fast_with_100k_jobs() {
    let app = AppConfig::demo().tenants(TenantConfig {
        prefill_jobs: 100_000,
        jobs_per_minute: 0.0,
    });
    let sim = manual().apps(vec![app]).start().await.unwrap();
    let client = Client::new(&sim);
    let id = client.create_id(DEMO, &product("needle")).await;
    let start = Instant::now();
    for offset in [0, 50_000, 99_950] {
        let page: JobList = client
            .list(DEMO, &format!("offset={offset}&limit=50"))
            .await
            .decode();
        assert_eq!(page.result.len(), 50);
        assert_eq!(page.total_count, Some(100_001));
    }
    let running: JobList = client.list(DEMO, "status=in_progress").await.decode();
    assert_eq!(ids(&running), [id]);
    let elapsed = start.elapsed();
    assert!(elapsed < Duration::from_secs(3), "4 lists took {elapsed:?}");
}

/// Every job of the application, paged by advancing the offset by the
/// items received, until an empty page.
async fn scan(client: &Client, query: &str, limit: usize) -> (Vec<String>, Vec<JobList>) {
    let mut seen = Vec::new();
    let mut pages = Vec::new();
    loop {
        let page: JobList = client
            .list(
                DEMO,
                &format!("{query}&offset={}&limit={limit}", seen.len()),
            )
            .await
            .decode();
        if page.result.is_empty() {
            return (seen, pages);
        }
        seen.extend(ids(&page));
        pages.push(page);
    }
}

#[tokio::test]
async fn oldest_first_appends_new_jobs_at_the_end() {
    let sim = manual()
        .list_order(ListOrder::Oldest)
        .start()
        .await
        .unwrap();
    let client = Client::new(&sim);
    let mut created = Vec::new();
    for i in 0..10 {
        created.push(client.create_id(DEMO, &product(&format!("p{i}"))).await);
        sim.advance(Duration::from_secs(1));
    }
    let first: JobList = client.list(DEMO, "offset=0&limit=4").await.decode();
    assert_eq!(ids(&first), created[..4]);
    // New jobs go to the end: the next offsets are not disturbed.
    created.push(client.create_id(DEMO, &product("new")).await);
    let second: JobList = client.list(DEMO, "offset=4&limit=4").await.decode();
    assert_eq!(ids(&second), created[4..8]);
    let last: JobList = client.list(DEMO, "offset=8&limit=4").await.decode();
    assert_eq!(ids(&last), created[8..]);
    assert!(
        first
            .result
            .windows(2)
            .all(|w| w[0].created_at < w[1].created_at)
    );
    #[cfg(feature = "toml")]
    {
        let config = writer_sim::SimConfig::from_toml("[list]\norder = \"oldest\"").unwrap();
        assert_eq!(config.list.order, ListOrder::Oldest);
    }
}

#[tokio::test]
async fn unspecified_order_is_stable_and_unrelated_to_creation_time() {
    let sim = manual()
        .list_order(ListOrder::Unspecified)
        .start()
        .await
        .unwrap();
    let client = Client::new(&sim);
    let mut created = Vec::new();
    for i in 0..60 {
        created.push(client.create_id(DEMO, &product(&format!("p{i}"))).await);
        sim.advance(Duration::from_secs(1));
    }
    let (listed, _) = scan(&client, "", 7).await;
    // Every job once, in neither creation order nor its reverse.
    let mut sorted = listed.clone();
    sorted.sort();
    let mut all = created.clone();
    all.sort();
    assert_eq!(sorted, all);
    assert_ne!(listed, created);
    let newest_first: Vec<String> = created.iter().rev().cloned().collect();
    assert_ne!(listed, newest_first);
    // Stable: the same list again, also with another page size.
    assert_eq!(scan(&client, "", 60).await.0, listed);
    // A new job lands somewhere; the others keep their relative order.
    let new = client.create_id(DEMO, &product("new")).await;
    let (again, _) = scan(&client, "", 60).await;
    let without: Vec<String> = again.iter().filter(|id| **id != new).cloned().collect();
    assert_eq!(without, listed);
    // The status filter keeps the same order.
    let (done, _) = scan(&client, "status=completed", 5).await;
    let expected: Vec<String> = listed
        .iter()
        .filter(|id| sim.job(id).unwrap().status == writer_sim::JobStatus::Completed)
        .cloned()
        .collect();
    assert_eq!(done, expected);
}

#[tokio::test]
async fn total_count_can_be_missing_or_zero() {
    for (mode, want) in [(TotalCount::Missing, None), (TotalCount::Zero, Some(0))] {
        let sim = manual().total_count(mode).start().await.unwrap();
        let client = Client::new(&sim);
        for i in 0..3 {
            client.create_id(DEMO, &product(&format!("p{i}"))).await;
        }
        for query in ["", "status=in_progress", "status=completed&limit=1"] {
            let answer = client.list(DEMO, query).await;
            assert_eq!(
                answer.json().get("totalCount").is_some(),
                want.is_some(),
                "{mode:?} {query}"
            );
            let page: JobList = answer.decode();
            assert_eq!(page.total_count, want, "{mode:?} {query}");
        }
        let page: JobList = client.list(DEMO, "").await.decode();
        assert_eq!(page.result.len(), 3, "the jobs are still listed");
    }
    #[cfg(feature = "toml")]
    {
        let config = writer_sim::SimConfig::from_toml("[list]\ntotal_count = \"missing\"").unwrap();
        assert_eq!(config.list.total_count, TotalCount::Missing);
    }
}

#[tokio::test]
async fn short_pages_still_yield_every_job_once_when_advancing_by_items() {
    let app = AppConfig::demo().tenants(TenantConfig {
        prefill_jobs: 500,
        jobs_per_minute: 0.0,
    });
    let sim = manual()
        .apps(vec![app])
        .short_pages(0.3)
        .start()
        .await
        .unwrap();
    let client = Client::new(&sim);
    let (listed, pages) = scan(&client, "", 20).await;
    assert_eq!(listed, sim.job_ids(DEMO), "every job once, in order");
    let short = pages
        .iter()
        .rev()
        .skip(1)
        .filter(|p| p.result.len() < 20)
        .count();
    assert!(
        (5..pages.len()).contains(&short),
        "{short} of {} pages cut short",
        pages.len()
    );
    let mut offset = 0;
    for page in &pages {
        assert!(!page.result.is_empty() && page.result.len() <= 20);
        let pagination = page.pagination.clone().unwrap();
        assert_eq!(pagination.offset, Some(offset), "offset echoed");
        assert_eq!(
            pagination.limit,
            Some(20),
            "limit echoed, not the cut length"
        );
        assert_eq!(page.total_count, Some(500));
        offset += page.result.len() as i64;
    }
    // A client that stops on the first page shorter than the limit misses jobs.
    let first_short = pages.iter().position(|p| p.result.len() < 20).unwrap();
    assert!(first_short < pages.len() - 1);
    #[cfg(feature = "toml")]
    {
        let config = writer_sim::SimConfig::from_toml("[list]\nshort_pages = 0.3").unwrap();
        assert_eq!(config.list.short_pages, 0.3);
    }
}

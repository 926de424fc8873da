//! Scaled time: a run at 100x counts the same requests as the same run in
//! real time, and 1,000 jobs go through in a few seconds of wall time.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::TimeDelta;
use common::{Client, DEMO, input, product};
use reqwest::StatusCode;
use writer_api::types::{CreateJobResponse, Job, JobList};
use writer_sim::{DurationDist, SimClock, Simulator, Stats, expected_output};

/// The two tests here measure wall time: run them one at a time so that the
/// busy one does not slow the other's requests.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A deterministic client: creates `n` jobs at once, then polls each job at
/// its `created_at` + 0.25 s, + 3.25 s, + 6.25 s ... of simulated time until
/// it is final. Jobs take 3 s, so each is polled exactly twice at any clock
/// speed (the margin before a job finishes is 2.75 s of simulated time,
/// 27 ms of real time at 100x).
async fn poll_run(scale: f64, n: usize) -> Stats {
    let clock = SimClock::scaled(scale).unwrap();
    let sim = Simulator::builder()
        .clock(clock.clone())
        .duration(DurationDist::fixed(Duration::from_secs(3)))
        .seed(5)
        .start()
        .await
        .unwrap();
    let client = Client::new(&sim);
    let mut tasks = Vec::new();
    for i in 0..n {
        let client = client.clone();
        let clock = clock.clone();
        tasks.push(tokio::spawn(async move {
            let created: CreateJobResponse = client
                .create(DEMO, &product(&format!("p{i}")))
                .await
                .decode();
            let id = created.id.unwrap();
            for k in 0.. {
                let at = created.created_at + TimeDelta::milliseconds(250 + 3000 * k);
                clock.sleep_until(at).await;
                let job: Job = client.job(&id).await.decode();
                if job.status != "in_progress" {
                    return job;
                }
            }
            unreachable!()
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap().status, "completed");
    }
    sim.stats()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_100_counts_the_same_requests_as_real_time() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let start = Instant::now();
    let fast = poll_run(100.0, 3).await;
    let fast_wall = start.elapsed();
    let start = Instant::now();
    let real = poll_run(1.0, 3).await;
    let real_wall = start.elapsed();
    assert_eq!(fast.by_operation, real.by_operation);
    assert_eq!(fast.by_status, real.by_status);
    assert_eq!(fast.total_requests, 3 + 3 * 2);
    assert!(fast_wall < real_wall / 10, "{fast_wall:?} vs {real_wall:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_jobs_in_a_few_seconds_of_wall_time() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let clock = SimClock::scaled(1000.0).unwrap();
    let sim = Simulator::builder()
        .clock(clock.clone())
        .duration(DurationDist::LogNormal {
            mean_secs: 30.0,
            sigma: 0.5,
        })
        .failure_rate(0.1)
        .seed(99)
        .start()
        .await
        .unwrap();
    let wall = Instant::now();
    let client = Client::new(&sim);
    let rows: Vec<Vec<writer_api::types::JobInput>> = (0..1000)
        .map(|i| {
            vec![
                input("Product name", &[&format!("Product {i}")]),
                input("Tone", &[["casual", "formal", "playful"][i % 3]]),
            ]
        })
        .collect();

    // Create with 8 concurrent workers.
    let mut ids: HashMap<String, usize> = HashMap::new();
    let mut chunks = Vec::new();
    for worker in 0..8 {
        let client = client.clone();
        let mine: Vec<(usize, Vec<writer_api::types::JobInput>)> = rows
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 8 == worker)
            .map(|(i, r)| (i, r.clone()))
            .collect();
        chunks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            for (row, inputs) in mine {
                out.push((client.create_id(DEMO, &inputs).await, row));
            }
            out
        }));
    }
    for chunk in chunks {
        ids.extend(chunk.await.unwrap());
    }
    assert_eq!(ids.len(), 1000);

    // Poll by listing every 10 s of sim time; retry failures.
    let mut results: HashMap<usize, String> = HashMap::new();
    while results.len() < 1000 {
        clock.sleep(Duration::from_secs(10)).await;
        let mut offset = 0;
        loop {
            let page: JobList = client
                .list(DEMO, &format!("offset={offset}&limit=100"))
                .await
                .decode();
            for job in &page.result {
                let Some(&row) = ids.get(&job.id) else {
                    continue;
                };
                match job.status.as_str() {
                    "completed" => {
                        results
                            .entry(row)
                            .or_insert_with(|| job.data.as_ref().unwrap().suggestion.clone());
                    }
                    "failed" => {
                        let answer = client.retry(&job.id).await;
                        assert_eq!(answer.status, StatusCode::ACCEPTED);
                    }
                    _ => {}
                }
            }
            offset += page.result.len();
            if page.result.len() < 100 {
                break;
            }
        }
        assert!(wall.elapsed() < Duration::from_secs(30), "took too long");
    }
    let elapsed = wall.elapsed();
    for (row, suggestion) in &results {
        assert_eq!(suggestion, &expected_output(DEMO, &rows[*row]).suggestion);
    }
    let stats = sim.stats();
    assert_eq!(stats.jobs_created, 1000);
    assert_eq!(stats.duplicate_creates(), 0);
    assert!(rows.iter().all(|r| stats.created_for(DEMO, r) == 1));
    assert!(
        stats.retries > 50,
        "about 10% of attempts fail: {}",
        stats.retries
    );
    assert!(
        elapsed < Duration::from_secs(10),
        "1,000 jobs took {elapsed:?}"
    );
}

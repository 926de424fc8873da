//! End-to-end tests of the high-level calls against `writer-sim`, with the
//! client and the simulator on the same scaled clock (200x: a 10 s job takes
//! 50 real milliseconds).

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use futures::TryStreamExt;
use writer_jobs::{Client, Error, Inputs, JobStatus, PollPolicy, ScaledClock, StatusFilter};
use writer_sim::{AppConfig, DurationDist, SimClock, Simulator};

const SCALE: f64 = 200.0;
const APP: &str = "demo-product-descriptions";

async fn start(job: Duration, failure_rate: f64) -> (Simulator, Client) {
    let anchor = SystemTime::now();
    let sim = Simulator::builder()
        .clock(SimClock::scaled_from(anchor, SCALE).unwrap())
        .apps(vec![AppConfig::demo().failure_rate(failure_rate)])
        .duration(DurationDist::fixed(job))
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
    (sim, client)
}

fn inputs(name: &str) -> Inputs {
    Inputs::new().text("Product name", name)
}

#[tokio::test]
async fn create_and_wait_returns_the_output() {
    let (sim, client) = start(Duration::from_secs(10), 0.0).await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let job = client
        .jobs(APP)
        .create_and_wait(&inputs("Terra running shoe"))
        .on_status(move |job| log.lock().unwrap().push(job.status.clone()))
        .await
        .unwrap();
    assert_eq!(job.status, JobStatus::Completed);
    assert!(!job.output.unwrap().suggestion.is_empty());
    assert_eq!(
        *seen.lock().unwrap(),
        [JobStatus::InProgress, JobStatus::Completed]
    );
    let stats = sim.stats();
    assert_eq!(stats.jobs_created, 1);
    // 10 s at 1, 1.5, 2.25, 3.4, 5 s... : a handful of polls, not one a second.
    let gets = stats.requests(writer_sim::Operation::Get);
    assert!((3..=8).contains(&gets), "{gets} polls");
}

#[tokio::test]
async fn a_wait_ends_at_its_deadline_after_one_last_poll() {
    let (_sim, client) = start(Duration::from_secs(3600), 0.0).await;
    let created = client.create_job(APP, &inputs("Slow")).await.unwrap();
    let policy = PollPolicy::builder()
        .initial_interval(Duration::from_secs(20))
        .growth(1.0)
        .max_interval(Duration::from_secs(20))
        .deadline(Duration::from_secs(50))
        .build()
        .unwrap();
    match client.wait(&created.id).policy(policy).await.unwrap_err() {
        Error::Deadline {
            waited,
            polls,
            job_id,
            ..
        } => {
            assert_eq!(job_id, created.id);
            // Polls at 0, 20, 40 and one last at 50 s: never sleeping past it.
            assert_eq!(polls, 4);
            assert!(waited >= Duration::from_secs(50), "{waited:?}");
            assert!(waited < Duration::from_secs(60), "{waited:?}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_failed_job_is_reported_and_can_be_retried() {
    let (sim, client) = start(Duration::from_secs(5), 1.0).await;
    let error = client
        .jobs(APP)
        .create_and_wait(&inputs("Doomed"))
        .await
        .unwrap_err();
    assert!(matches!(error, Error::JobFailed { .. }), "{error:?}");
    assert_eq!(sim.stats().retries, 0);

    let error = client
        .jobs(APP)
        .create_and_wait(&inputs("Doomed twice"))
        .retry_failed(2)
        .await
        .unwrap_err();
    // The job always fails: two retries, then the failure is reported.
    assert!(matches!(error, Error::JobFailed { .. }), "{error:?}");
    assert_eq!(sim.stats().retries, 2);
    assert_eq!(sim.stats().jobs_created, 2);
}

#[tokio::test]
async fn watch_streams_status_changes() {
    let (_sim, client) = start(Duration::from_secs(4), 0.0).await;
    let created = client
        .create_job(APP, &inputs("Aqua goggles"))
        .await
        .unwrap();
    let statuses: Vec<JobStatus> = client
        .wait(&created.id)
        .watch()
        .map_ok(|job| job.status)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(statuses, [JobStatus::InProgress, JobStatus::Completed]);
}

#[tokio::test]
async fn a_listing_sees_every_job_once_while_jobs_are_added() {
    let (_sim, client) = start(Duration::from_secs(1), 0.0).await;
    let mut originals = Vec::new();
    for i in 0..7 {
        let created = client
            .create_job(APP, &inputs(&format!("Product {i}")))
            .await
            .unwrap();
        originals.push(created.id);
    }
    // A JobStream is Unpin with its own `next()`: no pinning, no futures.
    let mut stream: writer_jobs::JobStream = client.jobs(APP).list().page_size(3).stream();
    let mut ids = Vec::new();
    while let Some(job) = stream.next().await {
        ids.push(job.unwrap().id);
        if ids.len() == 2 {
            // New jobs land at the front and push the rest back a page.
            for i in 0..4 {
                client
                    .create_job(APP, &inputs(&format!("Late {i}")))
                    .await
                    .unwrap();
            }
        }
    }
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "a job came twice: {ids:?}");
    // Every job that existed when the scan began is seen; jobs added during
    // the scan may or may not be.
    for id in &originals {
        assert!(ids.contains(id), "{id} was missed: {ids:?}");
    }
}

#[tokio::test]
async fn a_status_filtered_listing_and_validation_against_the_sim() {
    let (_sim, client) = start(Duration::from_secs(1), 0.0).await;
    let app = client.app(APP).details().await.unwrap();
    assert_eq!(app.inputs.len(), 3);
    let bad = Inputs::new().text("Tone", "grumpy");
    assert!(writer_jobs::validate_inputs(&app, &bad).is_err());
    assert!(matches!(
        client.create_job(APP, &bad).await.unwrap_err(),
        Error::BadRequest { .. }
    ));
    let created = client
        .create_job(APP, &inputs("Flex yoga mat"))
        .await
        .unwrap();
    client.wait(&created.id).await.unwrap();
    let completed: Vec<_> = client
        .jobs(APP)
        .list()
        .status(StatusFilter::Completed)
        .stream()
        .try_collect()
        .await
        .unwrap();
    assert!(completed.iter().any(|j| j.id == created.id));
    assert!(completed.iter().all(|j| j.status == JobStatus::Completed));
}

//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod invariants;
pub mod proxy;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use writer_jobs::{Client, ClientBuilder, Clock, RetryPolicy, ScaledClock, clock::Sleep};

/// The key the tests use; it must never show up in any output.
pub const KEY: &str = "sk-test-0123456789-secret";

/// The request timeout of test clients: long enough never to fire unless a
/// test wants it to (an hour of simulated time, 3.6 real seconds at 1000x).
pub const LONG_TIMEOUT: Duration = Duration::from_secs(3600);

/// A 1000x scaled clock that records every sleep asked of it, so a test can
/// check the waits without waiting for them.
#[derive(Debug, Clone)]
pub struct RecordingClock {
    inner: ScaledClock,
    sleeps: Arc<Mutex<Vec<Duration>>>,
}

impl RecordingClock {
    pub fn new() -> Self {
        Self {
            inner: ScaledClock::new(1000.0),
            sleeps: Arc::default(),
        }
    }

    /// The sleeps asked for, without the request-timeout races.
    pub fn waits(&self) -> Vec<Duration> {
        self.sleeps
            .lock()
            .unwrap()
            .iter()
            .copied()
            .filter(|d| *d != LONG_TIMEOUT)
            .collect()
    }
}

impl Clock for RecordingClock {
    fn now(&self) -> Duration {
        self.inner.now()
    }

    fn wall(&self) -> DateTime<Utc> {
        self.inner.wall()
    }

    fn sleep(&self, duration: Duration) -> Sleep {
        self.sleeps.lock().unwrap().push(duration);
        self.inner.sleep(duration)
    }
}

/// A builder for `base` with the test key, a long timeout and `clock`.
pub fn builder(base: &str, clock: &RecordingClock) -> ClientBuilder {
    Client::builder()
        .api_key(KEY)
        .base_url(base)
        .clock(clock.clone())
        .request_timeout(LONG_TIMEOUT)
        .retry_policy(RetryPolicy::default().without_time_limit())
}

/// A job as the API sends it.
pub fn job_json(id: &str, status: &str) -> serde_json::Value {
    serde_json::json!({
        "id": id,
        "status": status,
        "application_id": "app-1",
        "created_at": "2025-02-10T18:18:09.501223Z",
    })
}

/// A server on 127.0.0.1 that reads requests and never answers them: it
/// counts the requests that arrived, so a test can tell whether a call that
/// timed out was sent again.
pub struct SilentServer {
    pub base_url: String,
    requests: Arc<std::sync::atomic::AtomicUsize>,
}

impl SilentServer {
    pub async fn start() -> Self {
        use tokio::io::AsyncReadExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = requests.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let counter = counter.clone();
                tokio::spawn(async move {
                    let mut seen = Vec::new();
                    let mut buf = [0u8; 4096];
                    while let Ok(n) = socket.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        let before = seen.windows(4).filter(|w| w == b"\r\n\r\n").count();
                        seen.extend_from_slice(&buf[..n]);
                        let after = seen.windows(4).filter(|w| w == b"\r\n\r\n").count();
                        counter.fetch_add(after - before, std::sync::atomic::Ordering::SeqCst);
                    }
                });
            }
        });
        Self { base_url, requests }
    }

    /// How many request heads arrived.
    pub fn requests(&self) -> usize {
        self.requests.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// A client builder for `sim`: its key and base URL, on the simulator's own
/// clock (same scale and anchor), so both sides agree on every duration.
pub fn sim_client(sim: &writer_sim::Simulator) -> ClientBuilder {
    Client::builder().simulator(
        sim.base_url(),
        sim.api_key(),
        sim.clock().scale(),
        sim.clock().anchor(),
    )
}

/// A client clock on a simulator's scaled clock whose wall time runs
/// `offset` milliseconds off the simulator's, and can be stepped while a
/// batch runs (an NTP correction, a VM resumed from suspend).
#[derive(Debug, Clone)]
pub struct OffsetClock {
    inner: ScaledClock,
    offset_ms: Arc<std::sync::atomic::AtomicI64>,
}

impl OffsetClock {
    pub fn new(sim: &writer_sim::Simulator, offset_ms: i64) -> Self {
        Self {
            inner: ScaledClock::with_anchor(sim.clock().scale(), sim.clock().anchor()),
            offset_ms: Arc::new(std::sync::atomic::AtomicI64::new(offset_ms)),
        }
    }

    /// Steps the wall clock to `offset_ms` off the simulator's.
    pub fn step_to(&self, offset_ms: i64) {
        self.offset_ms
            .store(offset_ms, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> Duration {
        self.inner.now()
    }

    fn wall(&self) -> DateTime<Utc> {
        let offset = self.offset_ms.load(std::sync::atomic::Ordering::SeqCst);
        self.inner.wall() + chrono::Duration::milliseconds(offset)
    }

    fn sleep(&self, duration: Duration) -> Sleep {
        self.inner.sleep(duration)
    }
}

/// Starts a simulator; with `RUST_LOG` set, the engine's decisions are
/// logged to the test output.
pub async fn start(builder: writer_sim::SimulatorBuilder) -> writer_sim::Simulator {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
    builder.start().await.expect("simulator starts")
}

/// Collects a run's outcomes, failing if it does not end within `bound`
/// of real time (promise: the run ends).
pub async fn collect_within(
    mut run: writer_jobs::batch::BatchRun,
    bound: std::time::Duration,
    scenario: &str,
) -> Vec<writer_jobs::batch::Outcome> {
    use futures::StreamExt;
    let deadline = tokio::time::Instant::now() + bound;
    let mut outcomes = Vec::new();
    loop {
        match tokio::time::timeout_at(deadline, run.next()).await {
            Ok(Some(Ok(outcome))) => outcomes.push(outcome),
            Ok(Some(Err(error))) => panic!("{scenario}: the batch stopped with an error: {error}"),
            Ok(None) => return outcomes,
            Err(_) => panic!(
                "{scenario}: the run did not end within {bound:?}: {} outcomes {:?}",
                outcomes.len(),
                invariants::tally(&outcomes)
            ),
        }
    }
}

/// A run's progress once it has not changed for `quiet` of real time (the
/// engine waits for its consumer, not for a clock), waiting at most 30 s.
pub async fn progress_once_still(
    run: &writer_jobs::batch::BatchRun,
    quiet: Duration,
) -> writer_jobs::batch::Progress {
    let mut progress = run.progress();
    let give_up = std::time::Instant::now() + Duration::from_secs(30);
    while tokio::time::timeout(quiet, progress.changed())
        .await
        .is_ok_and(|changed| changed.is_ok())
    {
        assert!(
            std::time::Instant::now() < give_up,
            "the engine never waits"
        );
    }
    progress.borrow().clone()
}

/// Waits (at most 10 s of real time) until `done` holds.
pub async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let give_up = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while !done() {
        assert!(
            tokio::time::Instant::now() < give_up,
            "setup: {what} did not happen in time"
        );
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
}

/// Starts a batch on `rows`, waiting for a killed run's journal lock to go
/// (an aborted engine lets go of it when its task is dropped).
pub async fn run_resuming<S>(
    batch: &writer_jobs::batch::Batch,
    rows: impl Fn() -> S,
) -> writer_jobs::batch::BatchRun
where
    S: futures::Stream<Item = writer_jobs::batch::Row> + Send + 'static,
{
    let give_up = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match batch.clone().run(rows()).await {
            Ok(run) => return run,
            Err(writer_jobs::batch::BatchError::Journal(e))
                if e.to_string().contains("in use") && tokio::time::Instant::now() < give_up =>
            {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            Err(e) => panic!("the batch does not start: {e}"),
        }
    }
}

/// Starts a batch fed by a channel (resuming: see [`run_resuming`]).
pub async fn run_fed(
    batch: &writer_jobs::batch::Batch,
) -> (
    writer_jobs::batch::BatchRun,
    futures::channel::mpsc::UnboundedSender<writer_jobs::batch::Row>,
) {
    let slot = Mutex::new(None);
    let run = run_resuming(batch, || {
        let (tx, rx) = futures::channel::mpsc::unbounded();
        *slot.lock().unwrap() = Some(tx);
        rx
    })
    .await;
    let tx = slot.lock().unwrap().take().expect("a sender");
    (run, tx)
}

/// A simulator of log-normal jobs (mean 30 s, sigma 0.5; seed 7, no
/// failures) at `scale`, with whatever `configure` adds, and a client of
/// it with a 20 s request timeout: the batch tests' usual set-up.
pub async fn lognormal_sim(
    scale: f64,
    configure: impl FnOnce(writer_sim::SimulatorBuilder) -> writer_sim::SimulatorBuilder,
) -> (writer_sim::Simulator, Client) {
    let builder = writer_sim::Simulator::builder()
        .scale(scale)
        .seed(7)
        .duration(writer_sim::DurationDist::LogNormal {
            mean_secs: 30.0,
            sigma: 0.5,
        })
        .failure_rate(0.0);
    let sim = configure(builder).start().await.unwrap();
    let client = sim_client(&sim)
        .request_timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    (sim, client)
}

/// A client of `sim` on `clock` (a simulator's clock running off the
/// server's, see [`OffsetClock`]), with `request_timeout`.
pub fn client_on(
    sim: &writer_sim::Simulator,
    clock: OffsetClock,
    request_timeout: Duration,
) -> Client {
    Client::builder()
        .api_key(sim.api_key())
        .base_url(sim.base_url())
        .clock(clock)
        .request_timeout(request_timeout)
        .build()
        .expect("client")
}

/// A simulator at 1000x of jobs lasting `min_secs..max_secs` simulated
/// seconds (uniform), failing at `failure_rate`, with the fault mix
/// `faults` (compact form): the fault and kill tests' set-up.
pub async fn faulty_sim(
    seed: u64,
    (min_secs, max_secs): (f64, f64),
    failure_rate: f64,
    faults: &str,
) -> writer_sim::Simulator {
    start(
        writer_sim::Simulator::builder()
            .scale(1000.0)
            .seed(seed)
            .duration(writer_sim::DurationDist::Uniform { min_secs, max_secs })
            .failure_rate(failure_rate)
            .faults(writer_sim::FaultConfig::parse_compact(faults).unwrap()),
    )
    .await
}

/// Starts `batch` over `rows` again after a run of it was dropped (as a
/// kill would end it): the dropped run's engine holds the journal until
/// its task is gone, and a run started before that is refused as
/// `Locked`, so a refusal is tried again, a millisecond later each time.
pub async fn start_run(
    batch: &writer_jobs::batch::Batch,
    rows: &[writer_jobs::batch::Row],
) -> writer_jobs::batch::BatchRun {
    use writer_jobs::batch::{BatchError, JournalError};
    for _ in 0..5000 {
        match batch
            .clone()
            .run(futures::stream::iter(rows.to_vec()))
            .await
        {
            Err(BatchError::Journal(JournalError::Locked { .. })) => {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            other => return other.expect("the batch starts"),
        }
    }
    panic!("the dropped run never released the journal")
}

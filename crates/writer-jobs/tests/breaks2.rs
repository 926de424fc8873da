//! Adversarial scenarios against the batch engine's windows after they
//! were placed only by "trusted" evidence (`created_at` of successful
//! creates, measured on the clock a window was recorded on), and the
//! attacks on that change that held.
//!
//! The promises, checked from the SIMULATOR's records as in `breaks.rs`:
//! no job is created twice (unless `on_ambiguous(Resend)`), no row is given
//! another row's or another client's output, every row is written exactly
//! once, and a run always ends (a bound on real time).
//!
//! Tests marked `#[ignore = "break: ..."]` fail on the code they were
//! written against (3208ce6); each doc comment says which decision is
//! wrong. The breaks, by root cause:
//!
//! - the journal has no run boundaries: every `created` record's evidence
//!   is folded into one estimate (and intersected), and every earlier
//!   run's window is placed with it, whatever clock recorded it
//!   (`a_third_run_does_not_place_the_second_runs_window_by_the_first_runs_evidence`,
//!   `a_third_run_places_the_second_runs_window_by_the_second_runs_clock`,
//!   `a_third_run_on_an_exclusive_app_does_not_swap_the_second_runs_jobs`,
//!   `a_third_run_does_not_give_a_row_another_rows_lost_retry_job`);
//! - an unplaced (unbounded) window is matched on an exclusive
//!   application, so a job made before the run is adopted
//!   (`an_exclusive_app_does_not_adopt_an_earlier_runs_job_for_an_unplaced_window`,
//!   `a_resume_on_an_exclusive_app_does_not_adopt_an_earlier_runs_job`);
//! - evidence is trusted to hold for the whole run: the offset between the
//!   steady clock and the server's changes (a server clock step, a client
//!   suspend), or the stamps are not what the evidence assumes (coarser
//!   than seconds, answers stamped apart from the stored job, another
//!   clock's `updated_at` taken as proof)
//!   (`a_server_clock_stepped_back_mid_run_does_not_hide_a_landed_create`,
//!   `a_client_suspended_mid_run_does_not_hide_a_landed_create`,
//!   `job_times_cut_to_the_minute_do_not_hide_a_landed_create`,
//!   `create_answers_stamped_later_than_the_list_do_not_hide_a_landed_create`,
//!   `a_future_stamp_of_another_tenant_does_not_judge_a_held_create_early`);
//! - a listing on a busy application never ends
//!   (`a_list_that_ignores_offset_on_a_busy_app_does_not_stall_the_run`,
//!   `a_slow_list_on_a_busy_app_does_not_stall_the_run`).

mod common;

use common::{collect_within, start, wait_until};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use common::invariants::{self, tally};
use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use writer_jobs::batch::{Batch, BatchRun, Outcome, OutcomeResult, Row};
use writer_jobs::{Client, Inputs};
use writer_sim::{DurationDist, FaultConfig, FaultKind, Simulator, SimulatorBuilder};

const APP: &str = "demo-product-descriptions";

// ----- helpers ---------------------------------------------------------------

/// `n` rows, each with inputs of its own.
fn rows(n: usize, tag: &str) -> Vec<Row> {
    (0..n)
        .map(|i| {
            Row::new(
                format!("{tag}-{i:03}"),
                Inputs::new().text("Product name", format!("{tag} product #{i}")),
            )
        })
        .collect()
}

/// A simulator at 200x with jobs of 5-10 s that never fail.
fn sim_builder(seed: u64) -> SimulatorBuilder {
    Simulator::builder()
        .scale(200.0)
        .seed(seed)
        .duration(DurationDist::Uniform {
            min_secs: 5.0,
            max_secs: 10.0,
        })
        .failure_rate(0.0)
}

/// Checks the promises on a finished run, from the simulator's records.
fn check(sim: &Simulator, outcomes: &[Outcome], rows: &[Row], scenario: &str) {
    invariants::check(sim, APP, outcomes, rows, scenario);
}

/// Starts a batch on `rows`, waiting for a killed run's journal lock to go
/// (an aborted engine lets go of it when its task is dropped).
async fn run_resuming<S>(batch: &Batch, rows: impl Fn() -> S) -> BatchRun
where
    S: futures::Stream<Item = Row> + Send + 'static,
{
    let give_up = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match batch.clone().run(rows()).await {
            Ok(run) => return run,
            Err(writer_jobs::batch::BatchError::Journal(e))
                if e.to_string().contains("in use") && tokio::time::Instant::now() < give_up =>
            {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err(e) => panic!("the batch does not start: {e}"),
        }
    }
}

/// Starts a batch fed by a channel (resuming: see [`run_resuming`]).
async fn run_fed(batch: &Batch) -> (BatchRun, futures::channel::mpsc::UnboundedSender<Row>) {
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

/// A client of `base_url` on a clock `offset_ms` off the simulator's.
fn client_at(sim: &Simulator, base_url: &str, offset_ms: i64) -> Client {
    Client::builder()
        .api_key(sim.api_key())
        .base_url(base_url)
        .clock(common::OffsetClock::new(sim, offset_ms))
        .request_timeout(Duration::from_secs(120))
        .build()
        .expect("client")
}

/// Makes one job on the application, outside any batch (another client,
/// or an earlier run of the user's own, with no journal), and waits for it
/// to finish. Returns its id.
async fn job_outside_the_batch(sim: &Simulator, product: &str) -> String {
    let client = client_at(sim, &sim.base_url(), 0);
    let job = client
        .create_job(APP, &Inputs::new().text("Product name", product))
        .await
        .expect("an outside job is created");
    let id = job.id.clone();
    wait_until("the outside job finished", || {
        sim.job(&id)
            .is_some_and(|j| j.finish_at <= sim.clock().now())
    })
    .await;
    id
}

// ----- a proxy that rewrites the server's stamps -----------------------------

/// What [`StampProxy`] does to the job times in answers (create answers,
/// job reads and list pages alike), as a server whose clock misbehaves.
#[derive(Debug, Clone, Default)]
struct Stamps {
    /// Jobs created at or after this (true) time have every time moved by
    /// this much: a server clock stepped at that moment (an NTP step, a
    /// node with another clock taking over).
    step: Option<(DateTime<Utc>, chrono::Duration)>,
    /// Every time cut down to a multiple of this many seconds (a server that
    /// keeps coarser times than whole seconds).
    coarse_secs: Option<i64>,
    /// This job's `updated_at` moved by this much (a stamp made on a wrong
    /// clock).
    updated: Option<(String, chrono::Duration)>,
    /// The times in create answers (only) moved by this much: a server
    /// that stamps the answer at another moment than the job it stores.
    create_answers: Option<chrono::Duration>,
    /// Sends every list request upstream with `offset=0` (a server that
    /// ignores `offset`: every page is the first).
    ignore_list_offset: bool,
    /// Each list request is answered this much later (real time): a slow
    /// list endpoint.
    list_delay: Option<Duration>,
}

/// An HTTP/1.1 proxy on 127.0.0.1 that rewrites the job times in answers
/// ([`Stamps`], changeable while it runs). One request per connection,
/// forwarded on a fresh upstream connection; an upstream that closes
/// without an answer makes the proxy close without one too.
struct StampProxy {
    base_url: String,
    stamps: Arc<Mutex<Stamps>>,
}

impl StampProxy {
    async fn start(upstream: &str, stamps: Stamps) -> Self {
        let upstream: SocketAddr = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .parse()
            .expect("upstream is http://IP:PORT");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy binds");
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let stamps = Arc::new(Mutex::new(stamps));
        let shared = stamps.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let shared = shared.clone();
                tokio::spawn(async move {
                    let _ = stamp_one(client, upstream, &shared).await;
                });
            }
        });
        Self { base_url, stamps }
    }

    fn set(&self, stamps: Stamps) {
        *self.stamps.lock().unwrap() = stamps;
    }
}

/// Reads an HTTP message's head and `content-length` body from `stream`
/// into `buf`; `None` at EOF.
async fn read_message(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<usize> {
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let length: usize = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Some(head_end)
}

/// Decodes a chunked body; `None` if it is cut short.
fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&data[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        if data.len() < size + 2 {
            return None;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

async fn stamp_one(
    mut client: TcpStream,
    upstream: SocketAddr,
    stamps: &Mutex<Stamps>,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let Some(head_end) = read_message(&mut client, &mut buf).await else {
        return Ok(());
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut request: String = head
        .trim_end()
        .lines()
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .map(|l| format!("{l}\r\n"))
        .collect();
    let is_list = request.starts_with("GET ") && request.contains("/jobs?");
    if stamps.lock().unwrap().ignore_list_offset && is_list {
        request = without_offset(&request);
    }
    let list_delay = stamps.lock().unwrap().list_delay.filter(|_| is_list);
    if let Some(delay) = list_delay {
        tokio::time::sleep(delay).await;
    }
    request.push_str("connection: close\r\n\r\n");
    let mut up = TcpStream::connect(upstream).await?;
    up.write_all(request.as_bytes()).await?;
    up.write_all(&buf[head_end..]).await?;
    let mut answer = Vec::new();
    let _ = up.read_to_end(&mut answer).await;
    let Some(answer_head_end) = answer.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(());
    };
    let answer_head = String::from_utf8_lossy(&answer[..answer_head_end]).to_string();
    let raw = &answer[answer_head_end + 4..];
    let chunked = answer_head.lines().any(|l| {
        l.to_ascii_lowercase().starts_with("transfer-encoding:")
            && l.to_ascii_lowercase().contains("chunked")
    });
    let body = if chunked {
        match dechunk(raw) {
            Some(body) => body,
            None => return Ok(()),
        }
    } else {
        raw.to_vec()
    };
    let mut rules = stamps.lock().unwrap().clone();
    let first_line = head.lines().next().unwrap_or_default();
    let is_create = first_line.starts_with("POST ")
        && first_line
            .split_whitespace()
            .nth(1)
            .is_some_and(|target| target.split('?').next().unwrap_or("").ends_with("/jobs"));
    if let Some(by) = rules.create_answers.filter(|_| is_create) {
        rules.step = Some((DateTime::<Utc>::MIN_UTC, by));
    }
    let body = match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(mut json) => {
            rewrite(&mut json, &rules);
            serde_json::to_vec(&json).unwrap()
        }
        Err(_) => body,
    };
    let mut out = String::new();
    for line in answer_head.lines() {
        let lower = line.to_ascii_lowercase();
        if lower.starts_with("content-length:")
            || lower.starts_with("transfer-encoding:")
            || lower.starts_with("connection:")
        {
            continue;
        }
        out.push_str(&format!("{line}\r\n"));
    }
    out.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    ));
    client.write_all(out.as_bytes()).await?;
    client.write_all(&body).await?;
    client.shutdown().await
}

/// A request head whose first line's `offset=N` query parameter reads
/// `offset=0`.
fn without_offset(request: &str) -> String {
    let (first, rest) = request.split_once("\r\n").unwrap_or((request, ""));
    let first = match first.find("offset=") {
        Some(i) => {
            let digits = first[i + 7..]
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(first.len() - i - 7);
            format!("{}offset=0{}", &first[..i], &first[i + 7 + digits..])
        }
        None => first.to_string(),
    };
    format!("{first}\r\n{rest}")
}

/// Rewrites the times of every job object (one with `id` and `created_at`)
/// in `json`.
fn rewrite(json: &mut serde_json::Value, rules: &Stamps) {
    match json {
        serde_json::Value::Array(items) => items.iter_mut().for_each(|v| rewrite(v, rules)),
        serde_json::Value::Object(map) => {
            let created = map
                .get("created_at")
                .and_then(|v| v.as_str())
                .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                .map(|d| d.with_timezone(&Utc));
            let id = map.get("id").and_then(|v| v.as_str()).map(str::to_string);
            if let (Some(created), Some(id)) = (created, id) {
                for field in ["created_at", "updated_at", "completed_at"] {
                    let Some(at) = map
                        .get(field)
                        .and_then(|v| v.as_str())
                        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                        .map(|d| d.with_timezone(&Utc))
                    else {
                        continue;
                    };
                    let mut at = at;
                    if let Some((from, by)) = rules.step
                        && created >= from
                    {
                        at += by;
                    }
                    if let Some((job, by)) = &rules.updated
                        && field == "updated_at"
                        && *job == id
                    {
                        at += *by;
                    }
                    if let Some(secs) = rules.coarse_secs {
                        let t = at.timestamp();
                        at = DateTime::from_timestamp(t - t.rem_euclid(secs), 0).unwrap();
                    }
                    map.insert(
                        field.to_string(),
                        serde_json::Value::String(at.to_rfc3339_opts(SecondsFormat::Micros, true)),
                    );
                }
            }
            map.values_mut().for_each(|v| rewrite(v, rules));
        }
        _ => {}
    }
}

// ----- breaks ------------------------------------------------------------------

/// Yesterday's run of the user (no journal, or another one) left a
/// finished job on the application; today's batch declares the
/// application exclusive (only it creates jobs *while it runs*, which
/// holds). Its only row's create is answered 500 (the sim's 500 is sent
/// before the handler: no job was made). No create of the run has
/// succeeded, so no trusted evidence places the window
/// (`Windows::window` returns `(MIN_UTC, MAX_UTC)`), and once it settles
/// `assign::decide_exclusive` gets one pending create with an unbounded
/// window and one orphan (yesterday's job): the only explanation is that
/// the create made it, so it is adopted, and the row is written
/// `completed` with yesterday's job's output (made from other inputs).
/// The README says an unbounded window's create "is found to have not
/// landed only on an application that holds no such job, and is otherwise
/// reported": on an exclusive application it is adopted instead. Fix (in
/// `reconcile::decide` / `assign::decide_exclusive`): never adopt for a
/// window that no evidence places (give such pending creates no `Adopt`
/// verdict: report with candidates as on a shared application, or wait
/// for a create's answer to place the window); "exclusive" says nothing of
/// the jobs made before the run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exclusive_app_does_not_adopt_an_earlier_runs_job_for_an_unplaced_window() {
    let scenario = "exclusive app with yesterday's job, the only create answered 500";
    let sim = start(sim_builder(701)).await;
    let yesterday = job_outside_the_batch(&sim, "yesterday's product").await;
    sim.set_faults(FaultConfig::parse_compact("create:500=1.0").unwrap())
        .unwrap();
    let rows = rows(1, "today");
    let run = Batch::new(client_at(&sim, &sim.base_url(), 0), APP)
        .exclusive_application(true)
        .max_server_hold(Duration::from_secs(30))
        .run(futures::stream::iter(rows.clone()))
        .await
        .expect("batch starts");
    let clear = async {
        wait_until("the create answered 500", || {
            sim.stats().faults_of(FaultKind::Status500) >= 1
        })
        .await;
        sim.set_faults(FaultConfig::none()).unwrap();
    };
    let (outcomes, ()) = tokio::join!(
        collect_within(run, Duration::from_secs(30), scenario),
        clear
    );
    invariants::show(scenario, &outcomes);
    assert!(
        outcomes
            .iter()
            .all(|o| o.job_id.as_deref() != Some(&yesterday)),
        "{scenario}: the row was given yesterday's job {yesterday}"
    );
    check(&sim, &outcomes, &rows, scenario);
}

/// The control of the break above on a shared application: the same
/// unplaced window holds yesterday's job, which is reported as a
/// candidate, never adopted (and the create is not sent again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_app_reports_an_earlier_runs_job_for_an_unplaced_window() {
    let scenario = "shared app with yesterday's job, the only create answered 500";
    let sim = start(sim_builder(702)).await;
    let yesterday = job_outside_the_batch(&sim, "yesterday's product").await;
    sim.set_faults(FaultConfig::parse_compact("create:500=1.0").unwrap())
        .unwrap();
    let rows = rows(1, "today");
    let run = Batch::new(client_at(&sim, &sim.base_url(), 0), APP)
        .max_server_hold(Duration::from_secs(30))
        .run(futures::stream::iter(rows.clone()))
        .await
        .expect("batch starts");
    let clear = async {
        wait_until("the create answered 500", || {
            sim.stats().faults_of(FaultKind::Status500) >= 1
        })
        .await;
        sim.set_faults(FaultConfig::none()).unwrap();
    };
    let (outcomes, ()) = tokio::join!(
        collect_within(run, Duration::from_secs(30), scenario),
        clear
    );
    invariants::show(scenario, &outcomes);
    assert!(
        matches!(&outcomes[0].result, OutcomeResult::Ambiguous { candidates, .. }
            if candidates == std::slice::from_ref(&yesterday)),
        "{scenario}: expected ambiguous with yesterday's job as the candidate"
    );
    check(&sim, &outcomes, &rows, scenario);
}

/// Three runs on one journal (kill -9, resume, kill -9, resume), the
/// clock stepped 10 s forward between the first kill and the first
/// resume: run 1 (clock right) creates two rows, the journal records their
/// evidence (offset about 0, a bound a fraction of a second wide). Run 2
/// (clock 10 s ahead) creates two rows while the server holds every create
/// 20 s before making its job (`hold`): each bounds the offset to about
/// [-10 s, +10 s], which contains run 1's bound. Then a create of run 2
/// lands with its answer lost, and run 2 is killed. Run 3 (the same
/// clock as run 2) reads the journal: `Journal::apply` folds every
/// `created` record into ONE `SkewEstimate` (`ResumeState::skew`), whatever
/// run wrote it, and `SkewEstimate::merge` intersects the bounds: the
/// intersection is run 1's bound (about 0) and it is "consistent", so
/// `Windows::window(Recorded::EarlierRun, ..)` places run 2's window as if
/// run 2's clock were run 1's: 10 s after the job, which is outside it.
/// Judged "did not land", the row is sent again: two jobs. (The README:
/// "a clock stepped between a kill and the resume moves nothing"; each
/// run's evidence only places its own windows.) Fix: keep evidence per
/// run in the journal (a run marker, e.g. a `run` record with its own id on
/// each open, and windows tagged with the run that recorded them), and
/// place each window only by its own run's evidence; or at least never
/// intersect evidence of different runs (take the hull).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_third_run_places_the_second_runs_window_by_the_second_runs_clock() {
    let scenario = "run 1 clock right, run 2 and 3 clock 10 s ahead with held creates";
    let sim = start(sim_builder(703)).await;
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("three-runs.journal");
    let rows = rows(6, "three");
    let batch = |offset_ms: i64| {
        Batch::new(client_at(&sim, &sim.base_url(), offset_ms), APP)
            .journal(&journal)
            .create_concurrency(1)
            .max_server_hold(Duration::from_secs(60))
    };

    // Run 1: clock right.
    let (tx, rx) = futures::channel::mpsc::unbounded();
    let run = batch(0).run(rx).await.expect("batch starts");
    for row in &rows[..2] {
        tx.unbounded_send(row.clone()).unwrap();
    }
    wait_until("run 1's 2 creates answered", || {
        run.progress().borrow().created >= 2
    })
    .await;
    drop(run);
    drop(tx);

    // Run 2: clock 10 s ahead; the server holds creates 20 s.
    sim.set_faults(FaultConfig::parse_compact("create:hold=1.0,hold_secs=20").unwrap())
        .unwrap();
    let (run, tx) = run_fed(&batch(10_000)).await;
    for row in &rows[..4] {
        tx.unbounded_send(row.clone()).unwrap();
    }
    wait_until("run 2's 2 held creates answered", || {
        run.progress().borrow().created >= 2
    })
    .await;
    sim.set_faults(FaultConfig::parse_compact("create:accept_then_drop=1.0").unwrap())
        .unwrap();
    tx.unbounded_send(rows[4].clone()).unwrap();
    wait_until("row 4's create dropped after landing", || {
        sim.stats().faults_of(FaultKind::AcceptThenDrop) >= 1
    })
    .await;
    sim.set_faults(FaultConfig::none()).unwrap();
    sim.clock().sleep(Duration::from_secs(2)).await;
    drop(run);
    drop(tx);

    // Run 3: the same clock as run 2.
    let all = rows.clone();
    let run = run_resuming(&batch(10_000), || futures::stream::iter(all.clone())).await;
    let outcomes = collect_within(run, Duration::from_secs(30), scenario).await;
    invariants::show(scenario, &outcomes);
    if std::env::var_os("BREAK_DEBUG").is_some() {
        println!("{}", std::fs::read_to_string(&journal).unwrap_or_default());
    }
    check(&sim, &outcomes, &rows, scenario);
}

/// The control of the break above: the same three runs with no clock step
/// (every run on the server's clock). Run 2's window is placed right and
/// its lost create is found, never sent again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_runs_on_one_clock_find_the_second_runs_lost_create() {
    let scenario = "three runs, clocks right, held creates in run 2";
    let sim = start(sim_builder(704)).await;
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("three-runs-right.journal");
    let rows = rows(6, "right");
    let batch = || {
        Batch::new(client_at(&sim, &sim.base_url(), 0), APP)
            .journal(&journal)
            .create_concurrency(1)
            .exclusive_application(true)
            .max_server_hold(Duration::from_secs(60))
    };
    let (tx, rx) = futures::channel::mpsc::unbounded();
    let run = batch().run(rx).await.expect("batch starts");
    for row in &rows[..2] {
        tx.unbounded_send(row.clone()).unwrap();
    }
    wait_until("run 1's 2 creates answered", || {
        run.progress().borrow().created >= 2
    })
    .await;
    drop(run);
    drop(tx);

    sim.set_faults(FaultConfig::parse_compact("create:hold=1.0,hold_secs=20").unwrap())
        .unwrap();
    let (run, tx) = run_fed(&batch()).await;
    for row in &rows[..4] {
        tx.unbounded_send(row.clone()).unwrap();
    }
    wait_until("run 2's 2 held creates answered", || {
        run.progress().borrow().created >= 2
    })
    .await;
    sim.set_faults(FaultConfig::parse_compact("create:accept_then_drop=1.0").unwrap())
        .unwrap();
    tx.unbounded_send(rows[4].clone()).unwrap();
    wait_until("row 4's create dropped after landing", || {
        sim.stats().faults_of(FaultKind::AcceptThenDrop) >= 1
    })
    .await;
    sim.set_faults(FaultConfig::none()).unwrap();
    sim.clock().sleep(Duration::from_secs(2)).await;
    drop(run);
    drop(tx);

    let all = rows.clone();
    let run = run_resuming(&batch(), || futures::stream::iter(all.clone())).await;
    let outcomes = collect_within(run, Duration::from_secs(30), scenario).await;
    invariants::show(scenario, &outcomes);
    check(&sim, &outcomes, &rows, scenario);
}

/// The server's clock is stepped 5 s back mid-run (an NTP step on the
/// server; equally, a load-balanced API whose nodes' clocks differ and a
/// create handled by a node behind the one that answered the others).
/// Rows 0 and 1 are created before the step: the run's evidence bounds the
/// offset to about 0. Row 2's create lands after the step (stamped 5 s
/// "early") with its answer lost; no create succeeds after it, so nothing
/// contradicts the evidence (`SkewEstimate` falls back to the hull only
/// when later evidence contradicts earlier). `Windows::window` places the
/// window from the send on: the job, stamped 5 s before the send by the
/// server's new clock, is outside it, the create is judged "did not land"
/// and sent again: two jobs. The README promises safety "under clock skew
/// of the client vs server"; a skew that changes between the evidence and
/// the lost create is one. Fix: widen windows by a margin for the server
/// clock's own instability (seconds, not the 50 ms `SKEW_SLACK`), or judge
/// a window placed by evidence older than the window only after fresh
/// evidence (a create answered after it) confirms the offset.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "known limit (README: what the API does not promise): a server clock stepped back after the evidence hides a landed create"]
async fn a_server_clock_stepped_back_mid_run_does_not_hide_a_landed_create() {
    let scenario = "server clock stepped 5 s back before the lost create";
    let sim = start(sim_builder(705)).await;
    let proxy = StampProxy::start(&sim.base_url(), Stamps::default()).await;
    let rows = rows(3, "stepback");
    let (tx, rx) = futures::channel::mpsc::unbounded();
    let run = Batch::new(client_at(&sim, &proxy.base_url, 0), APP)
        .create_concurrency(1)
        .max_server_hold(Duration::from_secs(30))
        .run(rx)
        .await
        .expect("batch starts");
    for row in &rows[..2] {
        tx.unbounded_send(row.clone()).unwrap();
    }
    wait_until("2 creates answered", || {
        run.progress().borrow().created >= 2
    })
    .await;
    proxy.set(Stamps {
        step: Some((sim.clock().now(), chrono::Duration::seconds(-5))),
        ..Stamps::default()
    });
    sim.set_faults(FaultConfig::parse_compact("create:accept_then_drop=1.0").unwrap())
        .unwrap();
    tx.unbounded_send(rows[2].clone()).unwrap();
    drop(tx);
    let clear = async {
        wait_until("row 2's create dropped after landing", || {
            sim.stats().faults_of(FaultKind::AcceptThenDrop) >= 1
        })
        .await;
        sim.set_faults(FaultConfig::none()).unwrap();
    };
    let (outcomes, ()) = tokio::join!(
        collect_within(run, Duration::from_secs(30), scenario),
        clear
    );
    invariants::show(scenario, &outcomes);
    check(&sim, &outcomes, &rows, scenario);
}

/// The control of the break above: the same run, the server's clock
/// stepped back by 5 s before ANY create (so every piece of evidence is on
/// the new clock, which is then just an offset): the lost create is found.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_clock_off_from_the_start_does_not_hide_a_landed_create() {
    let scenario = "server clock 5 s behind from the start";
    let sim = start(sim_builder(706)).await;
    let proxy = StampProxy::start(
        &sim.base_url(),
        Stamps {
            step: Some((DateTime::<Utc>::MIN_UTC, chrono::Duration::seconds(-5))),
            ..Stamps::default()
        },
    )
    .await;
    let rows = rows(3, "offset");
    let (tx, rx) = futures::channel::mpsc::unbounded();
    let run = Batch::new(client_at(&sim, &proxy.base_url, 0), APP)
        .create_concurrency(1)
        .max_server_hold(Duration::from_secs(30))
        .run(rx)
        .await
        .expect("batch starts");
    for row in &rows[..2] {
        tx.unbounded_send(row.clone()).unwrap();
    }
    wait_until("2 creates answered", || {
        run.progress().borrow().created >= 2
    })
    .await;
    sim.set_faults(FaultConfig::parse_compact("create:accept_then_drop=1.0").unwrap())
        .unwrap();
    tx.unbounded_send(rows[2].clone()).unwrap();
    drop(tx);
    let clear = async {
        wait_until("row 2's create dropped after landing", || {
            sim.stats().faults_of(FaultKind::AcceptThenDrop) >= 1
        })
        .await;
        sim.set_faults(FaultConfig::none()).unwrap();
    };
    let (outcomes, ()) = tokio::join!(
        collect_within(run, Duration::from_secs(30), scenario),
        clear
    );
    invariants::show(scenario, &outcomes);
    check(&sim, &outcomes, &rows, scenario);
}

/// The server keeps job times to the whole minute (`...T22:41:00Z`),
/// coarser than the whole seconds the engine knows of. Row 0's create
/// measures the offset from a stamp cut by up to 59 s: `precision` takes
/// any stamp without a fraction to be good to a second, so the bound says
/// the server runs up to a minute behind, with a one-second width, and
/// the window of row 1's lost create (sent 20 s later) starts 20 s after
/// the minute its job is stamped with: outside. Judged "did not land", it
/// is sent again. Fix: learn a stamp's precision from the stamps seen (all
/// of a server's stamps on whole minutes, or the spacing of distinct
/// stamps), or widen a window by the largest truncation seen in the
/// evidence (the gap between a stamp and the send it followed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_times_cut_to_the_minute_do_not_hide_a_landed_create() {
    let scenario = "job times to the whole minute, a lost create 20 s after the evidence";
    let sim = start(sim_builder(707)).await;
    let proxy = StampProxy::start(
        &sim.base_url(),
        Stamps {
            coarse_secs: Some(60),
            ..Stamps::default()
        },
    )
    .await;
    // Start at the top of a simulated minute, so both creates fall in it.
    let now = sim.clock().now();
    let into = now.timestamp().rem_euclid(60);
    sim.clock()
        .sleep(Duration::from_secs((61 - into) as u64))
        .await;
    let rows = rows(2, "minutes");
    let (tx, rx) = futures::channel::mpsc::unbounded();
    let run = Batch::new(client_at(&sim, &proxy.base_url, 0), APP)
        .create_concurrency(1)
        .max_server_hold(Duration::from_secs(30))
        .run(rx)
        .await
        .expect("batch starts");
    tx.unbounded_send(rows[0].clone()).unwrap();
    wait_until("row 0's create answered", || {
        run.progress().borrow().created >= 1
    })
    .await;
    sim.clock().sleep(Duration::from_secs(20)).await;
    sim.set_faults(FaultConfig::parse_compact("create:accept_then_drop=1.0").unwrap())
        .unwrap();
    tx.unbounded_send(rows[1].clone()).unwrap();
    drop(tx);
    let clear = async {
        wait_until("row 1's create dropped after landing", || {
            sim.stats().faults_of(FaultKind::AcceptThenDrop) >= 1
        })
        .await;
        sim.set_faults(FaultConfig::none()).unwrap();
    };
    let (outcomes, ()) = tokio::join!(
        collect_within(run, Duration::from_secs(30), scenario),
        clear
    );
    invariants::show(scenario, &outcomes);
    check(&sim, &outcomes, &rows, scenario);
}

/// A killed run's create is held by the server (40 s, within the 60 s
/// `max_server_hold`) when the run is killed; the resumed run's clock was
/// stepped 120 s forward, so the window looks passed at once and is
/// "peeked" at. Another tenant's job on the application shows an
/// `updated_at` a day in the future (stamped by a server clock that was
/// wrong for a moment, or a node with a bad clock). `Reconciler::settled`
/// takes any stamp on the listing's first page past the window's end as
/// proof that the server's clock has passed it, so the window is judged
/// while the create is still held: no orphan, "did not land", sent again;
/// then the held create makes its job too. (Without that one stamp the
/// engine waits for its start plus the hold and finds the job.) Fix: take
/// proof only from stamps that are themselves bounded by evidence (no
/// later than the server's clock as measured: e.g. ignore a stamp past
/// this run's measured server time, `steady(now) + hi`), or only from
/// `created_at` of jobs of this run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_future_stamp_of_another_tenant_does_not_judge_a_held_create_early() {
    let scenario = "killed with a create held, resumed 120 s ahead, a tenant's future stamp";
    let sim = start(sim_builder(708)).await;
    let proxy = StampProxy::start(&sim.base_url(), Stamps::default()).await;
    // Another tenant's job, made before any of ours (outside every window).
    let tenant = job_outside_the_batch(&sim, "a tenant's product").await;
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("future-stamp.journal");
    let rows = rows(3, "held");
    let batch = |offset_ms: i64| {
        Batch::new(client_at(&sim, &proxy.base_url, offset_ms), APP)
            .journal(&journal)
            .create_concurrency(1)
            .max_server_hold(Duration::from_secs(60))
    };
    let (tx, rx) = futures::channel::mpsc::unbounded();
    let run = batch(0).run(rx).await.expect("batch starts");
    for row in &rows[..2] {
        tx.unbounded_send(row.clone()).unwrap();
    }
    wait_until("2 creates answered", || {
        run.progress().borrow().created >= 2
    })
    .await;
    sim.set_faults(FaultConfig::parse_compact("create:hold=1.0,hold_secs=40").unwrap())
        .unwrap();
    tx.unbounded_send(rows[2].clone()).unwrap();
    wait_until("row 2's create held", || {
        sim.stats().faults_of(FaultKind::Hold) >= 1
    })
    .await;
    sim.clock().sleep(Duration::from_secs(1)).await;
    drop(run);
    drop(tx);
    sim.set_faults(FaultConfig::none()).unwrap();
    // The tenant's job's update is now shown stamped a day ahead.
    proxy.set(Stamps {
        updated: Some((tenant, chrono::Duration::days(1))),
        ..Stamps::default()
    });

    let all = rows.clone();
    let run = run_resuming(&batch(120_000), || futures::stream::iter(all.clone())).await;
    let outcomes = collect_within(run, Duration::from_secs(30), scenario).await;
    invariants::show(scenario, &outcomes);
    // The held create makes its job 40 s after it was sent, whenever the
    // run ended.
    sim.clock().sleep(Duration::from_secs(60)).await;
    check(&sim, &outcomes, &rows, scenario);
}

/// The control of the break above: the same held create and resume on a
/// clock 120 s ahead, with no wrong stamp: the engine waits for the
/// resumed run's start plus the hold and finds the held create's job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_create_of_a_killed_run_is_found_after_a_resume_ahead() {
    let scenario = "killed with a create held, resumed 120 s ahead";
    let sim = start(sim_builder(709)).await;
    let _tenant = job_outside_the_batch(&sim, "a tenant's product").await;
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("held.journal");
    let rows = rows(3, "held");
    let batch = |offset_ms: i64| {
        Batch::new(client_at(&sim, &sim.base_url(), offset_ms), APP)
            .journal(&journal)
            .create_concurrency(1)
            .max_server_hold(Duration::from_secs(60))
    };
    let (tx, rx) = futures::channel::mpsc::unbounded();
    let run = batch(0).run(rx).await.expect("batch starts");
    for row in &rows[..2] {
        tx.unbounded_send(row.clone()).unwrap();
    }
    wait_until("2 creates answered", || {
        run.progress().borrow().created >= 2
    })
    .await;
    sim.set_faults(FaultConfig::parse_compact("create:hold=1.0,hold_secs=40").unwrap())
        .unwrap();
    tx.unbounded_send(rows[2].clone()).unwrap();
    wait_until("row 2's create held", || {
        sim.stats().faults_of(FaultKind::Hold) >= 1
    })
    .await;
    sim.clock().sleep(Duration::from_secs(1)).await;
    drop(run);
    drop(tx);
    sim.set_faults(FaultConfig::none()).unwrap();

    let all = rows.clone();
    let run = run_resuming(&batch(120_000), || futures::stream::iter(all.clone())).await;
    let outcomes = collect_within(run, Duration::from_secs(30), scenario).await;
    invariants::show(scenario, &outcomes);
    // The held create makes its job 40 s after it was sent, whenever the
    // run ended.
    sim.clock().sleep(Duration::from_secs(60)).await;
    check(&sim, &outcomes, &rows, scenario);
}

/// The twin of `an_exclusive_app_does_not_adopt_an_earlier_runs_job_for_an_unplaced_window`
/// on a resume: yesterday's job is on the application; today's run (the
/// application declared exclusive) has its only create answered 500 and
/// is killed before judging it, so its journal holds no evidence of the
/// server's clock. The resumed run's window for that create is unbounded
/// (`Windows::window(Recorded::EarlierRun, ..)` without journal evidence),
/// and `assign::decide_exclusive` adopts yesterday's job for it: the row
/// is written `completed` with another job's output. Same fix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_on_an_exclusive_app_does_not_adopt_an_earlier_runs_job() {
    let scenario = "exclusive app with yesterday's job, killed after a 500, resumed";
    let sim = start(sim_builder(710)).await;
    let yesterday = job_outside_the_batch(&sim, "yesterday's product").await;
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("exclusive-unplaced.journal");
    let rows = rows(1, "today");
    let batch = Batch::new(client_at(&sim, &sim.base_url(), 0), APP)
        .journal(&journal)
        .exclusive_application(true)
        .max_server_hold(Duration::from_secs(30));
    sim.set_faults(FaultConfig::parse_compact("create:500=1.0").unwrap())
        .unwrap();
    let (run, tx) = run_fed(&batch).await;
    tx.unbounded_send(rows[0].clone()).unwrap();
    wait_until("the create answered 500", || {
        sim.stats().faults_of(FaultKind::Status500) >= 1
    })
    .await;
    sim.set_faults(FaultConfig::none()).unwrap();
    sim.clock().sleep(Duration::from_secs(2)).await;
    drop(run);
    drop(tx);

    let all = rows.clone();
    let run = run_resuming(&batch, || futures::stream::iter(all.clone())).await;
    let outcomes = collect_within(run, Duration::from_secs(30), scenario).await;
    invariants::show(scenario, &outcomes);
    assert!(
        outcomes
            .iter()
            .all(|o| o.job_id.as_deref() != Some(&yesterday)),
        "{scenario}: the row was given yesterday's job {yesterday}"
    );
    check(&sim, &outcomes, &rows, scenario);
}

/// The break `a_third_run_places_the_second_runs_window_by_the_second_runs_clock`
/// on an application declared exclusive, with two lost creates in run 2,
/// 10 s apart (rows 4 and 5). Run 3 places both windows 10 s late (run 1's
/// offset, from the intersected journal evidence): row 4's job is in no
/// window, and row 5's job (made 10 s after row 4's) is in row 4's window
/// only. `assign::decide_exclusive` finds a single explanation: row 4
/// adopts row 5's job (written `completed` with row 5's output) and row 5
/// "did not land" and is sent again (two jobs for row 5).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_third_run_on_an_exclusive_app_does_not_swap_the_second_runs_jobs() {
    let scenario = "exclusive, run 1 clock right, runs 2 and 3 10 s ahead, 2 lost creates";
    let sim = start(sim_builder(711)).await;
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("three-runs-swap.journal");
    let rows = rows(6, "swap");
    let batch = |offset_ms: i64| {
        Batch::new(client_at(&sim, &sim.base_url(), offset_ms), APP)
            .journal(&journal)
            .create_concurrency(1)
            .exclusive_application(true)
            .max_server_hold(Duration::from_secs(60))
    };
    let (run, tx) = run_fed(&batch(0)).await;
    for row in &rows[..2] {
        tx.unbounded_send(row.clone()).unwrap();
    }
    wait_until("run 1's 2 creates answered", || {
        run.progress().borrow().created >= 2
    })
    .await;
    drop(run);
    drop(tx);

    sim.set_faults(FaultConfig::parse_compact("create:hold=1.0,hold_secs=20").unwrap())
        .unwrap();
    let (run, tx) = run_fed(&batch(10_000)).await;
    for row in &rows[..4] {
        tx.unbounded_send(row.clone()).unwrap();
    }
    wait_until("run 2's 2 held creates answered", || {
        run.progress().borrow().created >= 2
    })
    .await;
    sim.set_faults(FaultConfig::parse_compact("create:accept_then_drop=1.0").unwrap())
        .unwrap();
    tx.unbounded_send(rows[4].clone()).unwrap();
    wait_until("row 4's create dropped after landing", || {
        sim.stats().faults_of(FaultKind::AcceptThenDrop) >= 1
    })
    .await;
    sim.clock().sleep(Duration::from_secs(10)).await;
    tx.unbounded_send(rows[5].clone()).unwrap();
    wait_until("row 5's create dropped after landing", || {
        sim.stats().faults_of(FaultKind::AcceptThenDrop) >= 2
    })
    .await;
    sim.set_faults(FaultConfig::none()).unwrap();
    sim.clock().sleep(Duration::from_secs(2)).await;
    drop(run);
    drop(tx);

    let all = rows.clone();
    let run = run_resuming(&batch(10_000), || futures::stream::iter(all.clone())).await;
    let outcomes = collect_within(run, Duration::from_secs(30), scenario).await;
    invariants::show(scenario, &outcomes);
    check(&sim, &outcomes, &rows, scenario);
}

/// The client machine is suspended mid-run (a laptop's lid closed) for
/// twice the server's hold: the simulator's clock jumps 120 s while the
/// client's monotonic clock, which does not count a suspend (Linux
/// `CLOCK_MONOTONIC`, what `tokio::time::Instant` reads; macOS likewise),
/// stands still. The run's evidence, measured before the suspend, says the
/// server's clock is ours; the first create after the wake lands with its
/// answer lost (the network is still coming back). Its window, placed by
/// the old evidence, ends the hold (60 s) after the send, in the server's
/// time, but the server stamped the job 120 s after it by that evidence:
/// outside. Judged "did not land", the row is sent again: two jobs. With
/// the default hold (300 s) a suspend of over 5 minutes does it. The
/// steady clock (`pacer::steady_time`, the wall clock at the start moved
/// on by the monotonic clock) is immune to wall-clock steps, not to a
/// suspend. Fix: measure the steady clock with a clock that counts suspend
/// (`CLOCK_BOOTTIME` on Linux), or detect a suspend (the wall clock and the
/// monotonic clock drifting apart by more than a margin) and then trust no
/// earlier evidence (windows unbounded until a new create is answered).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "known limit (README: what the API does not promise): a client suspended for longer than the hold mid-run hides a landed create"]
async fn a_client_suspended_mid_run_does_not_hide_a_landed_create() {
    let scenario = "client suspended for 120 s (hold 60 s), then the first create's answer lost";
    let sim = start(sim_builder(712)).await;
    let rows = rows(3, "suspend");
    let (tx, rx) = futures::channel::mpsc::unbounded();
    let run = Batch::new(client_at(&sim, &sim.base_url(), 0), APP)
        .create_concurrency(1)
        .max_server_hold(Duration::from_secs(60))
        .run(rx)
        .await
        .expect("batch starts");
    for row in &rows[..2] {
        tx.unbounded_send(row.clone()).unwrap();
    }
    wait_until("2 creates answered", || {
        run.progress().borrow().created >= 2
    })
    .await;
    // The suspend: the server's time moves on, the client's monotonic
    // clock does not.
    sim.advance(Duration::from_secs(120));
    sim.set_faults(FaultConfig::parse_compact("create:accept_then_drop=1.0").unwrap())
        .unwrap();
    tx.unbounded_send(rows[2].clone()).unwrap();
    drop(tx);
    let clear = async {
        wait_until("row 2's create dropped after landing", || {
            sim.stats().faults_of(FaultKind::AcceptThenDrop) >= 1
        })
        .await;
        sim.set_faults(FaultConfig::none()).unwrap();
    };
    let (outcomes, ()) = tokio::join!(
        collect_within(run, Duration::from_secs(30), scenario),
        clear
    );
    invariants::show(scenario, &outcomes);
    check(&sim, &outcomes, &rows, scenario);
}

/// The control of the suspend break: a suspend shorter than the hold
/// (30 s, hold 60 s) leaves the job inside its window, which is found and
/// reported with it as the candidate (a shared application), never sent
/// again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_suspended_for_less_than_the_hold_finds_its_landed_create() {
    let scenario = "client suspended for 30 s (hold 60 s), then the first create's answer lost";
    let sim = start(sim_builder(713)).await;
    let rows = rows(3, "nap");
    let (tx, rx) = futures::channel::mpsc::unbounded();
    let run = Batch::new(client_at(&sim, &sim.base_url(), 0), APP)
        .create_concurrency(1)
        .max_server_hold(Duration::from_secs(60))
        .run(rx)
        .await
        .expect("batch starts");
    for row in &rows[..2] {
        tx.unbounded_send(row.clone()).unwrap();
    }
    wait_until("2 creates answered", || {
        run.progress().borrow().created >= 2
    })
    .await;
    sim.advance(Duration::from_secs(30));
    sim.set_faults(FaultConfig::parse_compact("create:accept_then_drop=1.0").unwrap())
        .unwrap();
    tx.unbounded_send(rows[2].clone()).unwrap();
    drop(tx);
    let clear = async {
        wait_until("row 2's create dropped after landing", || {
            sim.stats().faults_of(FaultKind::AcceptThenDrop) >= 1
        })
        .await;
        sim.set_faults(FaultConfig::none()).unwrap();
    };
    let (outcomes, ()) = tokio::join!(
        collect_within(run, Duration::from_secs(30), scenario),
        clear
    );
    invariants::show(scenario, &outcomes);
    check(&sim, &outcomes, &rows, scenario);
}

/// An unplaced window on an application that holds no job at all but the
/// batch's (declared exclusive, and it is: nothing before the run): the
/// only create is answered 500 (no job made), no evidence places its
/// window, the listing finds no orphan anywhere: "did not land", sent once
/// more and completed, one job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unplaced_window_on_an_empty_app_resends_once() {
    let scenario = "empty exclusive app, the only create answered 500";
    let sim = start(sim_builder(714)).await;
    sim.set_faults(FaultConfig::parse_compact("create:500=1.0").unwrap())
        .unwrap();
    let rows = rows(1, "empty");
    let run = Batch::new(client_at(&sim, &sim.base_url(), 0), APP)
        .exclusive_application(true)
        .max_server_hold(Duration::from_secs(30))
        .run(futures::stream::iter(rows.clone()))
        .await
        .expect("batch starts");
    let clear = async {
        wait_until("the create answered 500", || {
            sim.stats().faults_of(FaultKind::Status500) >= 1
        })
        .await;
        sim.set_faults(FaultConfig::none()).unwrap();
    };
    let (outcomes, ()) = tokio::join!(
        collect_within(run, Duration::from_secs(30), scenario),
        clear
    );
    invariants::show(scenario, &outcomes);
    assert!(
        matches!(outcomes[0].result, OutcomeResult::Completed { .. }) && outcomes[0].creates == 2,
        "{scenario}: expected completed after a second create"
    );
    check(&sim, &outcomes, &rows, scenario);
}

/// Three runs on one journal, the clock stepped 5 s forward between the
/// first kill and the first resume (an NTP correction), no fault but one
/// lost answer. Run 1 (clock right) creates two rows: the journal records
/// their evidence (offset about 0). Run 2 (clock 5 s ahead) follows those
/// two jobs and sends row 2's create, which lands with its answer lost;
/// run 2 has no create answered, so no evidence of its clock, and it is
/// killed while the row waits for its window. Run 3 (clock as run 2's)
/// reads the journal, which has no run boundaries: row 2's intent is
/// "an earlier run's", and `Windows::window(Recorded::EarlierRun, ..)`
/// places it with `ResumeState::skew`, run 1's evidence, as if run 2's
/// clock were run 1's: the window starts 5 s after the job was made.
/// Judged "did not land", the row is sent again: two jobs. The README says
/// no window is placed with another run's evidence and a clock stepped
/// between a kill and the resume moves nothing; it does, as soon as there
/// is a second resume. Fix: give each run's records a run id (a `run`
/// record on each open), keep evidence per run, and place each window
/// (and lost retry, and a row's first/last intent pair) only with the
/// evidence of the run that recorded it: unbounded when that run had none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_third_run_does_not_place_the_second_runs_window_by_the_first_runs_evidence() {
    let scenario = "run 1 clock right, runs 2 and 3 clock 5 s ahead, run 2's only create lost";
    let sim = start(sim_builder(715)).await;
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("first-runs-evidence.journal");
    let rows = rows(3, "borrowed");
    let batch = |offset_ms: i64| {
        Batch::new(client_at(&sim, &sim.base_url(), offset_ms), APP)
            .journal(&journal)
            .create_concurrency(1)
            .max_server_hold(Duration::from_secs(60))
    };
    let (run, tx) = run_fed(&batch(0)).await;
    for row in &rows[..2] {
        tx.unbounded_send(row.clone()).unwrap();
    }
    wait_until("run 1's 2 creates answered", || {
        run.progress().borrow().created >= 2
    })
    .await;
    drop(run);
    drop(tx);

    sim.set_faults(FaultConfig::parse_compact("create:accept_then_drop=1.0").unwrap())
        .unwrap();
    let (run, tx) = run_fed(&batch(5_000)).await;
    for row in &rows {
        tx.unbounded_send(row.clone()).unwrap();
    }
    wait_until("row 2's create dropped after landing", || {
        sim.stats().faults_of(FaultKind::AcceptThenDrop) >= 1
    })
    .await;
    sim.set_faults(FaultConfig::none()).unwrap();
    sim.clock().sleep(Duration::from_secs(2)).await;
    assert_eq!(
        run.progress().borrow().created,
        0,
        "{scenario}: setup: run 2 had no create answered"
    );
    drop(run);
    drop(tx);

    let all = rows.clone();
    let run = run_resuming(&batch(5_000), || futures::stream::iter(all.clone())).await;
    let outcomes = collect_within(run, Duration::from_secs(30), scenario).await;
    invariants::show(scenario, &outcomes);
    check(&sim, &outcomes, &rows, scenario);
}

/// The control of the break above: the same three runs, no clock step.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_third_run_on_one_clock_finds_the_second_runs_lost_create() {
    let scenario = "three runs on one clock, run 2's only create lost";
    let sim = start(sim_builder(716)).await;
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("one-clock.journal");
    let rows = rows(3, "oneclock");
    let batch = || {
        Batch::new(client_at(&sim, &sim.base_url(), 0), APP)
            .journal(&journal)
            .create_concurrency(1)
            .max_server_hold(Duration::from_secs(60))
    };
    let (run, tx) = run_fed(&batch()).await;
    for row in &rows[..2] {
        tx.unbounded_send(row.clone()).unwrap();
    }
    wait_until("run 1's 2 creates answered", || {
        run.progress().borrow().created >= 2
    })
    .await;
    drop(run);
    drop(tx);

    sim.set_faults(FaultConfig::parse_compact("create:accept_then_drop=1.0").unwrap())
        .unwrap();
    let (run, tx) = run_fed(&batch()).await;
    for row in &rows {
        tx.unbounded_send(row.clone()).unwrap();
    }
    wait_until("row 2's create dropped after landing", || {
        sim.stats().faults_of(FaultKind::AcceptThenDrop) >= 1
    })
    .await;
    sim.set_faults(FaultConfig::none()).unwrap();
    sim.clock().sleep(Duration::from_secs(2)).await;
    drop(run);
    drop(tx);

    let all = rows.clone();
    let run = run_resuming(&batch(), || futures::stream::iter(all.clone())).await;
    let outcomes = collect_within(run, Duration::from_secs(30), scenario).await;
    invariants::show(scenario, &outcomes);
    check(&sim, &outcomes, &rows, scenario);
}

/// The server stamps the `created_at` of a create's answer 5 s later than
/// the `created_at` it stores and lists (it answers with the time of its
/// answer, after a slow commit; or a proxy rewrites the answers but not
/// the lists). The evidence then says the server runs 5 s ahead, and
/// `SkewEstimate::window` starts the window of row 2's lost create about
/// 5 s after its send, while the listed job was made at the send: outside.
/// (Any gap larger than the evidence's round trip plus `SKEW_SLACK`, 50 ms,
/// does it; 1 s fails here most of the time at 200x.) Judged "did not land", it is sent again. Every create
/// answer of the run agrees, so nothing looks inconsistent. Fix: take
/// evidence only from times the list itself shows (the `created_at` a
/// later listing or GET shows for the job the create answered), or widen
/// windows by a margin for the difference seen between a create answer's
/// `created_at` and the same job's listed one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "known limit (README: what the API does not promise): create answers stamped later than the listed created_at hide a landed create"]
async fn create_answers_stamped_later_than_the_list_do_not_hide_a_landed_create() {
    let scenario = "create answers' created_at 5 s later than the listed one";
    let sim = start(sim_builder(717)).await;
    let proxy = StampProxy::start(
        &sim.base_url(),
        Stamps {
            create_answers: Some(chrono::Duration::seconds(5)),
            ..Stamps::default()
        },
    )
    .await;
    let rows = rows(3, "answered");
    let (tx, rx) = futures::channel::mpsc::unbounded();
    let run = Batch::new(client_at(&sim, &proxy.base_url, 0), APP)
        .create_concurrency(1)
        .max_server_hold(Duration::from_secs(30))
        .run(rx)
        .await
        .expect("batch starts");
    for row in &rows[..2] {
        tx.unbounded_send(row.clone()).unwrap();
    }
    wait_until("2 creates answered", || {
        run.progress().borrow().created >= 2
    })
    .await;
    sim.set_faults(FaultConfig::parse_compact("create:accept_then_drop=1.0").unwrap())
        .unwrap();
    tx.unbounded_send(rows[2].clone()).unwrap();
    drop(tx);
    let clear = async {
        wait_until("row 2's create dropped after landing", || {
            sim.stats().faults_of(FaultKind::AcceptThenDrop) >= 1
        })
        .await;
        sim.set_faults(FaultConfig::none()).unwrap();
    };
    let (outcomes, ()) = tokio::join!(
        collect_within(run, Duration::from_secs(30), scenario),
        clear
    );
    invariants::show(scenario, &outcomes);
    check(&sim, &outcomes, &rows, scenario);
}

/// Lists served oldest first, or in an order unrelated to time, on an
/// application declared exclusive: a run (clock 30 s behind the server)
/// creates four rows, two more land with their answers lost, it is killed;
/// the resume runs on a clock set 45 s forward (15 s ahead). The lost
/// creates are found and adopted (each window placed by the killed run's
/// own evidence), none is sent twice.
async fn lost_creates_found_on_a_resume_with_a_list_order(order: writer_sim::ListOrder, seed: u64) {
    let scenario = format!("list order {order:?}, killed with 2 lost creates, resumed 45 s ahead");
    let sim = start(sim_builder(seed).list_order(order)).await;
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("ordered.journal");
    let rows = rows(6, "ordered");
    let batch = |offset_ms: i64| {
        Batch::new(client_at(&sim, &sim.base_url(), offset_ms), APP)
            .journal(&journal)
            .create_concurrency(1)
            .exclusive_application(true)
            .max_server_hold(Duration::from_secs(30))
    };
    let (run, tx) = run_fed(&batch(-30_000)).await;
    for row in &rows[..4] {
        tx.unbounded_send(row.clone()).unwrap();
    }
    wait_until("4 creates answered", || {
        run.progress().borrow().created >= 4
    })
    .await;
    sim.set_faults(FaultConfig::parse_compact("create:accept_then_drop=1.0").unwrap())
        .unwrap();
    for row in &rows[4..] {
        tx.unbounded_send(row.clone()).unwrap();
    }
    wait_until("2 creates dropped after landing", || {
        sim.stats().faults_of(FaultKind::AcceptThenDrop) >= 2
    })
    .await;
    sim.set_faults(FaultConfig::none()).unwrap();
    sim.clock().sleep(Duration::from_secs(2)).await;
    drop(run);
    drop(tx);

    let all = rows.clone();
    let run = run_resuming(&batch(15_000), || futures::stream::iter(all.clone())).await;
    let outcomes = collect_within(run, Duration::from_secs(30), &scenario).await;
    invariants::show(&scenario, &outcomes);
    check(&sim, &outcomes, &rows, &scenario);
    assert_eq!(
        tally(&outcomes).get("completed"),
        Some(&6),
        "{scenario}: the lost creates are adopted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_creates_are_found_on_a_resume_with_an_oldest_first_list() {
    lost_creates_found_on_a_resume_with_a_list_order(writer_sim::ListOrder::Oldest, 718).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_creates_are_found_on_a_resume_with_a_list_in_no_order() {
    lost_creates_found_on_a_resume_with_a_list_order(writer_sim::ListOrder::Unspecified, 719).await;
}

/// The twin of `breaks.rs`'s `a_list_that_ignores_offset_does_not_stall_the_run`
/// on a busy application: the list ignores `offset` (every page is the
/// first) and sends no `totalCount`, and other clients create 20 jobs a
/// simulated second (one every 0.25 ms of real time at 200x, so every
/// page read shows a new one). A listing stops reading at an empty page, at
/// `totalCount`, at a job older than its point (newest first), or when a
/// page shows nothing new (`nothing_new`, the fix for the quiet case). On
/// a busy application every "first page" shows jobs made since the last
/// one, so none of these ever comes. The first sweep already never ends:
/// the pages look newest first, so `listing::sweep_listing` reads
/// `Scan::NewestFirst` until a page older than its point, which never
/// comes; no job is ever seen finished, no row is ever written (not even
/// the ones whose creates were answered), and the run does not end (the
/// reconciliation listing, `list_back_to`, would loop the same way). Fix:
/// bound a listing (pages, or time: no more pages than the jobs that can
/// have been made since its point, at the request rate seen) and fail it
/// past the bound, or detect an ignored offset from the pages themselves:
/// on a newest-first list, a page at a higher offset whose first job is
/// newer than the previous page's first job means a whole page of jobs was
/// made between two reads; a few in a row mean `offset` is not honoured.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_that_ignores_offset_on_a_busy_app_does_not_stall_the_run() {
    busy_app_run(true, 1200.0, None).await;
}

/// The control of the break above: a list that honours `offset` (still no
/// `totalCount`), on an application other clients make 2 jobs a simulated
/// second on (a rate the pages keep ahead of): the run ends, every lost
/// create reported with candidates or found.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_app_with_lost_creates_ends() {
    busy_app_run(false, 120.0, None).await;
}

/// A busy application (other clients make 20 jobs a simulated second) whose
/// list endpoint takes 10 simulated seconds a page (a slow endpoint, or a
/// slow network): two pages of new jobs (200) are made while each page is
/// read, and the list honours `offset`. Newest first, every job moves down
/// the list by 200 between two reads, so a scan that advances its offset
/// by the page it read (100) only ever sees newer jobs and never gets
/// further back: the first sweep's `Scan::NewestFirst`
/// (`listing::sweep_listing`) never reaches its point, `nothing_new` never
/// fires (each page shows jobs not seen before), the rows' jobs are not
/// seen finished (at best they end `timed_out`), the ambiguous rows are
/// never judged, and the run never ends ("a run always ends, whatever the
/// server answers"). Found by accident: a control at 20 jobs a second with
/// no delay stalled the same way when the machine was loaded. Fix: bound each listing
/// (pages or time) and fail it past the bound (a sweep falls back to GETs by
/// id; a reconciliation to its give-up time), or page from the position of
/// the last job read (advance the offset by the jobs made since, counted on
/// a re-read first page).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_list_on_a_busy_app_does_not_stall_the_run() {
    busy_app_run(false, 1200.0, Some(Duration::from_millis(50))).await;
}

/// One run of 10 rows on an application where other clients make
/// `jobs_per_minute` jobs, through a proxy that may drop the list's
/// `offset` and delay list answers.
async fn busy_app_run(
    ignore_list_offset: bool,
    jobs_per_minute: f64,
    list_delay: Option<Duration>,
) {
    const SCALE: f64 = 200.0;
    let scenario = format!(
        "busy app ({jobs_per_minute} jobs/min), list ignores offset: {ignore_list_offset}, list \
         delay {list_delay:?}, no totalCount, creates dropped after landing"
    );
    let scenario = scenario.as_str();
    let busy = writer_sim::AppConfig::demo().tenants(writer_sim::TenantConfig {
        prefill_jobs: 0,
        jobs_per_minute,
    });
    let sim = start(
        Simulator::builder()
            .scale(SCALE)
            .seed(720)
            .apps(vec![busy])
            .duration(DurationDist::Uniform {
                min_secs: 5.0,
                max_secs: 10.0,
            })
            .failure_rate(0.0)
            .total_count(writer_sim::TotalCount::Missing)
            .faults(FaultConfig::parse_compact("create:accept_then_drop=0.3").unwrap()),
    )
    .await;
    let proxy = StampProxy::start(
        &sim.base_url(),
        Stamps {
            ignore_list_offset,
            list_delay,
            ..Stamps::default()
        },
    )
    .await;
    let rows = rows(10, "busypaged");
    let run = Batch::new(client_at(&sim, &proxy.base_url, 0), APP)
        .max_server_hold(Duration::from_secs(10))
        .poll_policy(
            writer_jobs::PollPolicy::builder()
                .deadline(Duration::from_secs(300))
                .build()
                .unwrap(),
        )
        .run(futures::stream::iter(rows.clone()))
        .await
        .expect("batch starts");
    // 2,000 simulated seconds: over 6 times a row's deadline.
    let bound = Duration::from_secs_f64(2_000.0 / SCALE);
    let deadline = tokio::time::Instant::now() + bound;
    let mut run = run;
    let mut outcomes = Vec::new();
    let ended = loop {
        match tokio::time::timeout_at(deadline, run.next()).await {
            Ok(Some(Ok(outcome))) => outcomes.push(outcome),
            Ok(Some(Err(error))) => panic!("{scenario}: the batch stopped with an error: {error}"),
            Ok(None) => break true,
            Err(_) => break false,
        }
    };
    let stats = sim.stats();
    println!(
        "{scenario}: ended {ended}; {:?}; creates dropped after landing {}; list requests {}",
        tally(&outcomes),
        stats.faults_of(FaultKind::AcceptThenDrop),
        stats.requests(writer_sim::Operation::List),
    );
    invariants::show(scenario, &outcomes);
    assert!(
        stats.faults_of(FaultKind::AcceptThenDrop) > 0,
        "{scenario}: setup: some creates were dropped after landing"
    );
    assert!(
        ended,
        "{scenario}: the run did not end within {bound:?} ({} rows of {} written, {} list \
         requests)",
        outcomes.len(),
        rows.len(),
        stats.requests(writer_sim::Operation::List)
    );
    check(&sim, &outcomes, &rows, scenario);
}

/// A seed whose first job fails (at `failure_rate(0.5)`), as in
/// `promises.rs`.
const SEED_FIRST_JOB_FAILS: u64 = 402;

/// The "no run boundaries" break through a lost retry, on an application
/// declared exclusive, with a clock stepped 8 s forward between the first
/// kill and the first resume. Run 1 (clock right) creates row A (the
/// journal records its evidence) and is killed. Run 2 (clock 8 s ahead)
/// sends row B's create, answered 500 (no job); then A's job fails and its
/// retry (answered with a new id) lands with its answer lost; run 2 is
/// killed. Run 3 reads both windows (B's create, A's retry) as "an earlier
/// run's" and places them with run 1's evidence, 8 s late: the retry's
/// job, made at the retry's send, is before the retry's own window, but
/// inside B's (sent 30 s or more before it: A's job runs 60-80 s). `assign::decide_exclusive`
/// finds one explanation: B adopts A's retry job, and row B is written
/// `completed` with row A's output. Fix as for
/// `a_third_run_does_not_place_the_second_runs_window_by_the_first_runs_evidence`:
/// `ResumeCursor::lost_retry_windows` and `ResumeCursor::ambiguous` must
/// place each window with the evidence of the run that recorded it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_third_run_does_not_give_a_row_another_rows_lost_retry_job() {
    three_runs_with_a_lost_retry(8_000).await;
}

/// The control of the break above: the same three runs on one clock. B's
/// window and the retry's both hold the retry's job: B is reported with it
/// as a candidate, never given it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_third_run_on_one_clock_does_not_give_a_row_another_rows_lost_retry_job() {
    three_runs_with_a_lost_retry(0).await;
}

/// Run 1 on the server's clock creates row A (its job fails); runs 2 and 3
/// on a clock `step_ms` ahead: run 2 sends B (answered 500) and A's retry
/// (answer lost), and is killed; run 3 finishes.
async fn three_runs_with_a_lost_retry(step_ms: i64) {
    let scenario = format!(
        "exclusive, run 1 clock right, runs 2 and 3 {step_ms} ms ahead, a retry's answer lost"
    );
    let scenario = scenario.as_str();
    let sim = start(
        Simulator::builder()
            .scale(200.0)
            .seed(SEED_FIRST_JOB_FAILS)
            .retry_new_id(true)
            .duration(DurationDist::Uniform {
                min_secs: 60.0,
                max_secs: 80.0,
            })
            .failure_rate(0.5),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("lost-retry-third-run.journal");
    let rows = rows(2, "retry3");
    let batch = |offset_ms: i64| {
        Batch::new(client_at(&sim, &sim.base_url(), offset_ms), APP)
            .journal(&journal)
            .exclusive_application(true)
            .job_retries(1)
            // Long enough that run 2 cannot judge B before the retry, however
            // late the failure is seen.
            .max_server_hold(Duration::from_secs(300))
    };
    let (run, tx) = run_fed(&batch(0)).await;
    tx.unbounded_send(rows[0].clone()).unwrap();
    wait_until("row A's create answered", || {
        run.progress().borrow().created >= 1
    })
    .await;
    let first_fails = sim
        .job_ids(APP)
        .last()
        .and_then(|id| sim.job(id))
        .is_some_and(|j| j.outcome == writer_sim::JobStatus::Failed);
    assert!(
        first_fails,
        "{scenario}: setup: the seed must fail row A's job"
    );
    drop(run);
    drop(tx);

    sim.set_faults(
        FaultConfig::parse_compact("create:500=1.0,retry:accept_then_drop=1.0").unwrap(),
    )
    .unwrap();
    let (run, tx) = run_fed(&batch(step_ms)).await;
    for row in &rows {
        tx.unbounded_send(row.clone()).unwrap();
    }
    wait_until(
        "B's create refused and A's retry dropped after landing",
        || {
            let stats = sim.stats();
            stats.faults_of(FaultKind::AcceptThenDrop) >= 1
                && stats.faults_of(FaultKind::Status500) >= 1
        },
    )
    .await;
    sim.clock().sleep(Duration::from_secs(2)).await;
    drop(run);
    drop(tx);
    sim.set_faults(FaultConfig::none()).unwrap();

    let all = rows.clone();
    let run = run_resuming(&batch(step_ms), || futures::stream::iter(all.clone())).await;
    let outcomes = collect_within(run, Duration::from_secs(30), scenario).await;
    invariants::show(scenario, &outcomes);
    if std::env::var_os("BREAK_DEBUG").is_some() {
        println!("{}", std::fs::read_to_string(&journal).unwrap_or_default());
        for id in sim.job_ids(APP) {
            let job = sim.job(&id).unwrap();
            println!("  sim job {id} {:?} {:?}", job.origin, job.outcome);
        }
    }
    check(&sim, &outcomes, &rows, scenario);
}

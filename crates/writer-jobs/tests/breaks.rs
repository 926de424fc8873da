//! Ways the batch engine's promises were found broken by adversarial
//! testing after issue 15, each a deterministic scenario that failed
//! before its fix (they were committed as ignored failing tests first).
//!
//! The promises, checked from the SIMULATOR's records as in `promises.rs`:
//! no job is created twice (unless `on_ambiguous(Resend)`), no row is given
//! another row's or another client's output, every row is written exactly
//! once, and a run always ends.

mod common;

use common::{collect_within, start, wait_until};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::invariants::{
    each_row_once, no_duplicate_jobs, no_job_retried_twice, right_outputs, tally,
};
use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use writer_jobs::batch::{Batch, BatchRun, Outcome, Row};
use writer_jobs::{Client, Inputs};
use writer_sim::{DurationDist, FaultConfig, FaultKind, JobOrigin, Simulator};

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

/// Checks the promises on a finished run.
fn check(sim: &Simulator, outcomes: &[Outcome], rows: &[Row], scenario: &str) {
    let mut broken = Vec::new();
    for result in [
        each_row_once(outcomes, rows),
        right_outputs(APP, outcomes, rows),
        no_duplicate_jobs(sim, APP, rows),
        no_job_retried_twice(sim, APP),
    ] {
        if let Err(e) = result {
            broken.push(e);
        }
    }
    assert!(
        broken.is_empty(),
        "{scenario}: {:?}; promises broken:\n{}",
        tally(outcomes),
        broken.join("\n")
    );
}

/// Clears the faults once `n` faults of `kind` were injected.
async fn clear_faults_after(sim: &Simulator, kind: FaultKind, n: u64) {
    let give_up = tokio::time::Instant::now() + Duration::from_secs(30);
    while sim.stats().faults_of(kind) < n && tokio::time::Instant::now() < give_up {
        tokio::time::sleep(Duration::from_micros(500)).await;
    }
    sim.set_faults(FaultConfig::none()).unwrap();
}

// ----- a proxy whose clock is off --------------------------------------------

/// What [`RewritingProxy`] changes on the way.
#[derive(Debug, Clone, Copy, Default)]
struct Rewrite {
    /// Sends its own `Date` header, this many seconds off the server's (a
    /// reverse proxy, or a TLS-inspecting corporate proxy, on a machine
    /// whose clock is off: nginx, for one, sends its own `Date` unless told
    /// to pass the upstream's).
    date_shift_secs: i64,
    /// Drops the `Date` header (a proxy that strips it, a server without a
    /// clock it trusts).
    strip_date: bool,
    /// Sends every list request upstream with `offset=0`, as a server
    /// that ignores (or no longer knows) the `offset` parameter answers.
    ignore_list_offset: bool,
}

/// An HTTP/1.1 proxy on 127.0.0.1 that rewrites requests and answers
/// ([`Rewrite`]). Everything else passes through: one request per
/// connection, forwarded on a fresh upstream connection; an upstream that
/// closes without an answer makes the proxy close without one too.
struct RewritingProxy {
    base_url: String,
    /// Answers passed on to clients.
    answers: Arc<AtomicU64>,
}

impl RewritingProxy {
    async fn start(upstream: &str, rewrite: Rewrite) -> Self {
        let upstream: SocketAddr = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .parse()
            .expect("upstream is http://IP:PORT");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy binds");
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let answers = Arc::new(AtomicU64::new(0));
        let counter = answers.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let counter = counter.clone();
                tokio::spawn(async move {
                    let _ = proxy_one(client, upstream, rewrite, &counter).await;
                });
            }
        });
        Self { base_url, answers }
    }
}

/// Reads one request from `client`, forwards it, and answers with the
/// upstream's answer, its times rewritten.
async fn proxy_one(
    mut client: TcpStream,
    upstream: SocketAddr,
    rewrite: Rewrite,
    answers: &AtomicU64,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = client.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
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
        let n = client.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let mut request: String = head
        .trim_end()
        .lines()
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .map(|l| format!("{l}\r\n"))
        .collect();
    if rewrite.ignore_list_offset && request.starts_with("GET ") && request.contains("/jobs?") {
        request = without_offset(&request);
    }
    request.push_str("connection: close\r\n\r\n");
    let mut up = TcpStream::connect(upstream).await?;
    up.write_all(request.as_bytes()).await?;
    up.write_all(&buf[head_end..head_end + length]).await?;
    let mut answer = Vec::new();
    let _ = up.read_to_end(&mut answer).await;
    let Some(answer_head_end) = answer.windows(4).position(|w| w == b"\r\n\r\n") else {
        // No answer upstream: none to the client either.
        return Ok(());
    };
    let answer_head = String::from_utf8_lossy(&answer[..answer_head_end]).to_string();
    let body = answer[answer_head_end + 4..].to_vec();
    let mut out = String::new();
    for line in answer_head.lines() {
        match line.split_once(':') {
            Some((k, _)) if k.trim().eq_ignore_ascii_case("date") && rewrite.strip_date => {}
            Some((k, v))
                if k.trim().eq_ignore_ascii_case("date") && rewrite.date_shift_secs != 0 =>
            {
                let shifted = DateTime::parse_from_rfc2822(v.trim())
                    .map(|d| {
                        d.with_timezone(&Utc) + chrono::Duration::seconds(rewrite.date_shift_secs)
                    })
                    .map(|d| d.format("%a, %d %b %Y %H:%M:%S GMT").to_string())
                    .unwrap_or_else(|_| v.trim().to_string());
                out.push_str(&format!("date: {shifted}\r\n"));
            }
            Some((k, _)) if k.trim().eq_ignore_ascii_case("content-length") => {
                out.push_str(&format!("content-length: {}\r\n", body.len()));
            }
            _ => out.push_str(&format!("{line}\r\n")),
        }
    }
    out.push_str("\r\n");
    client.write_all(out.as_bytes()).await?;
    client.write_all(&body).await?;
    answers.fetch_add(1, Ordering::SeqCst);
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

fn client_via(sim: &Simulator, base_url: &str) -> Client {
    common::sim_client(sim)
        .base_url(base_url)
        .request_timeout(Duration::from_secs(60))
        .build()
        .expect("client")
}

// ----- breaks ------------------------------------------------------------------

/// The run's only create lands but its answer is lost; every answer's
/// `Date` header comes through a proxy whose clock is `shift_secs` off the
/// server's (the client's clock is the server's). Returns the outcomes
/// after checking the setup.
async fn lone_lost_create_behind_a_date_proxy(
    shift_secs: i64,
    scenario: &str,
) -> (Simulator, Vec<Row>, Vec<Outcome>) {
    let sim = start(
        Simulator::builder()
            .scale(200.0)
            .seed(601)
            .duration(DurationDist::Uniform {
                min_secs: 5.0,
                max_secs: 10.0,
            })
            .failure_rate(0.0)
            .faults(FaultConfig::parse_compact("create:accept_then_drop=1.0").unwrap()),
    )
    .await;
    let proxy = RewritingProxy::start(
        &sim.base_url(),
        Rewrite {
            date_shift_secs: shift_secs,
            ..Rewrite::default()
        },
    )
    .await;
    let rows = rows(1, "dated");
    let run = Batch::new(client_via(&sim, &proxy.base_url), APP)
        .max_server_hold(Duration::from_secs(30))
        .run(futures::stream::iter(rows.clone()))
        .await
        .expect("batch starts");
    let (outcomes, ()) = tokio::join!(
        collect_within(run, Duration::from_secs(30), scenario),
        clear_faults_after(&sim, FaultKind::AcceptThenDrop, 1)
    );
    println!(
        "{scenario}: {:?}; creates dropped after landing {}; answers through the proxy {}",
        tally(&outcomes),
        sim.stats().faults_of(FaultKind::AcceptThenDrop),
        proxy.answers.load(Ordering::SeqCst)
    );
    assert_eq!(
        sim.stats().faults_of(FaultKind::AcceptThenDrop),
        1,
        "{scenario}: setup: the create was dropped after landing"
    );
    assert!(
        proxy.answers.load(Ordering::SeqCst) > 0,
        "{scenario}: setup: answers came through the proxy"
    );
    (sim, rows, outcomes)
}

/// The control of the break below: the same run through the same proxy,
/// its clock right. The lost create is found (or reported), never resent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_lost_create_behind_a_proxy_with_the_right_clock_is_not_sent_twice() {
    let scenario = "Date headers right (proxy clock), the only create's answer lost";
    let (sim, rows, outcomes) = lone_lost_create_behind_a_date_proxy(0, scenario).await;
    check(&sim, &outcomes, &rows, scenario);
}

/// The `Date` headers come from a proxy whose clock is 20 s ahead of the
/// server that stamps `created_at` (a reverse proxy, or a TLS-inspecting
/// corporate proxy, that sends its own `Date`). The run's only create
/// lands but its answer is lost, so no create has measured the server's
/// clock, and the engine places the window by the `Date` headers alone:
/// 20 s late. The job, made at the moment of the send, is outside its own
/// window; judged "did not land", the row is sent again and gets a second
/// job. (5 s is enough, 2 s is not: the window starts at the send plus the
/// `Date` offset, less one second of `Date` precision.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn date_headers_from_a_proxy_with_a_clock_ahead_do_not_hide_a_landed_create() {
    let scenario = "Date headers 20 s ahead (proxy clock), the only create's answer lost";
    let (sim, rows, outcomes) = lone_lost_create_behind_a_date_proxy(20, scenario).await;
    check(&sim, &outcomes, &rows, scenario);
}

/// Starts a batch, waiting for a killed run's journal lock to go (an
/// aborted engine lets go of it when its task is dropped).
async fn run_resuming(batch: &Batch, rows: &[Row]) -> BatchRun {
    let give_up = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match batch
            .clone()
            .run(futures::stream::iter(rows.to_vec()))
            .await
        {
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

/// The client's clock runs 120 s ahead of the server's; the run creates a
/// few rows (the journal records their evidence of the offset), then one
/// create lands but its answer is lost, and the run is killed 2 s later,
/// while that row waits for its window to pass. The clock is set back
/// 90 s (to 30 s ahead) before the resume. Rebuilding the row's window,
/// the resumed run clamps the recorded send time (earlier run's clock) to
/// its own opening time (new clock: 88 s "earlier"), then places that
/// window with the earlier run's evidence (-120 s): the window lands 88 s
/// before the job. Judged "did not land", the row is sent again. A step
/// back of 20 s passes, 60 s fails; the same happens on a shared
/// application and on one declared exclusive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_on_a_clock_set_back_finds_the_killed_runs_lost_create() {
    let scenario =
        "killed with the clock 120 s ahead and a create's answer lost, resumed 30 s ahead";
    let sim = start(
        Simulator::builder()
            .scale(200.0)
            .seed(604)
            .duration(DurationDist::Uniform {
                min_secs: 5.0,
                max_secs: 10.0,
            })
            .failure_rate(0.0),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("stepped.journal");
    let rows = rows(6, "stepped");
    let ahead = common::OffsetClock::new(&sim, 120_000);
    let batch = Batch::new(common::client_on(&sim, ahead, Duration::from_secs(60)), APP)
        .journal(&journal)
        .create_concurrency(1)
        .max_server_hold(Duration::from_secs(35));
    let (tx, rx) = futures::channel::mpsc::unbounded();
    let run = batch.clone().run(rx).await.expect("batch starts");
    for row in &rows[..4] {
        tx.unbounded_send(row.clone()).unwrap();
    }
    wait_until("4 creates answered", || {
        run.progress().borrow().created >= 4
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
    // Let the journal record the ambiguity, then kill -9.
    sim.clock().sleep(Duration::from_secs(2)).await;
    drop(run);
    drop(tx);

    let corrected = common::OffsetClock::new(&sim, 30_000);
    let batch = Batch::new(
        common::client_on(&sim, corrected, Duration::from_secs(60)),
        APP,
    )
    .journal(&journal)
    .create_concurrency(1)
    .max_server_hold(Duration::from_secs(35));
    let run = run_resuming(&batch, &rows).await;
    let outcomes = collect_within(run, Duration::from_secs(30), scenario).await;
    println!("{scenario}: resumed: {:?}", tally(&outcomes));
    if std::env::var_os("BREAK_DEBUG").is_some() {
        println!("{}", std::fs::read_to_string(&journal).unwrap_or_default());
    }
    check(&sim, &outcomes, &rows, scenario);
}

/// A seed whose first job fails (at `failure_rate(0.5)`), as in
/// `promises.rs`.
const SEED_FIRST_JOB_FAILS: u64 = 402;

/// The twin of `promises.rs`'s `a_resume_keeps_a_lost_retrys_window`, with
/// the client's clock set 100 s forward between the kill and the resume.
/// On an application declared exclusive: row A's job fails and its retry
/// (answered with a new id) lands but its answer is lost; row B's create,
/// sent just before, is answered 500 (it did not land); the run is killed.
/// The resumed run places B's window with the killed run's evidence of the
/// server's clock (right), but the lost retry's window with its own (the
/// new clock's): 100 s early, so it no longer holds the retry's job. B's
/// window holds exactly that one job, which no row owns and no other
/// window claims: B adopts it and is written `completed` with A's output.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_on_a_clock_set_forward_keeps_a_lost_retrys_window() {
    let scenario = "exclusive application, a retry's answer lost, killed, resumed 100 s ahead";
    let sim = start(
        Simulator::builder()
            .scale(200.0)
            .seed(SEED_FIRST_JOB_FAILS)
            .retry_new_id(true)
            .duration(DurationDist::Uniform {
                min_secs: 5.0,
                max_secs: 10.0,
            })
            .failure_rate(0.5),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("lost-retry-stepped.journal");
    let rows = rows(2, "retrystep");
    let batch = |offset_ms: i64| {
        Batch::new(
            common::client_on(
                &sim,
                common::OffsetClock::new(&sim, offset_ms),
                Duration::from_secs(60),
            ),
            APP,
        )
        .journal(&journal)
        .exclusive_application(true)
        .job_retries(1)
        .max_server_hold(Duration::from_secs(60))
    };
    let (tx, rx) = futures::channel::mpsc::unbounded();
    let run = batch(0).run(rx).await.expect("batch starts");
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
    sim.set_faults(
        FaultConfig::parse_compact("create:500=1.0,retry:accept_then_drop=1.0").unwrap(),
    )
    .unwrap();
    tx.unbounded_send(rows[1].clone()).unwrap();
    wait_until(
        "A's retry dropped after landing and B's create refused",
        || {
            let stats = sim.stats();
            stats.faults_of(FaultKind::AcceptThenDrop) >= 1
                && stats.faults_of(FaultKind::Status500) >= 1
        },
    )
    .await;
    // kill -9: the journal stays as it was.
    drop(run);
    drop(tx);
    sim.set_faults(FaultConfig::none()).unwrap();

    let run = run_resuming(&batch(100_000), &rows).await;
    let outcomes = collect_within(run, Duration::from_secs(30), scenario).await;
    println!(
        "{scenario}: resumed: {:?}; retry jobs {}",
        tally(&outcomes),
        sim.stats().retry_jobs_created
    );
    for o in &outcomes {
        println!("  {} {} job {:?}", o.key, o.result.name(), o.job_id);
    }
    check(&sim, &outcomes, &rows, scenario);
}

/// Killed before any create was answered (every create lands and answers
/// 40 s later), so the journal holds no evidence of the killed run's clock;
/// the client's clock is set 60 s forward before the resume. The resumed
/// run places the earlier run's windows (recorded on the old clock) with
/// the new clock's evidence (its `Date` headers): 60 s early, past the
/// 35 s the server may hold a request. The landed creates are judged "did
/// not land" and sent again: a duplicate job for every row in flight at
/// the kill. (The killed run had the server's `Date` headers, but the
/// journal keeps only the creates' evidence.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_on_a_clock_set_forward_finds_creates_the_killed_run_never_heard_back_from() {
    let scenario = "killed before any create answered, resumed 60 s ahead";
    let sim = start(
        Simulator::builder()
            .scale(200.0)
            .seed(605)
            .duration(DurationDist::Uniform {
                min_secs: 5.0,
                max_secs: 10.0,
            })
            .failure_rate(0.0)
            .faults(FaultConfig::parse_compact("create:slow=1.0,slow_secs=40").unwrap()),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("unheard.journal");
    let rows = rows(8, "unheard");
    let batch = |offset_ms: i64| {
        Batch::new(
            common::client_on(
                &sim,
                common::OffsetClock::new(&sim, offset_ms),
                Duration::from_secs(60),
            ),
            APP,
        )
        .journal(&journal)
        .create_concurrency(8)
        .max_server_hold(Duration::from_secs(35))
    };
    let run = run_resuming(&batch(0), &rows).await;
    wait_until("8 creates landed", || sim.stats().jobs_created >= 8).await;
    sim.clock().sleep(Duration::from_secs(5)).await;
    assert_eq!(
        run.progress().borrow().created,
        0,
        "{scenario}: setup: no create was answered before the kill"
    );
    drop(run);
    sim.set_faults(FaultConfig::none()).unwrap();

    let run = run_resuming(&batch(60_000), &rows).await;
    let outcomes = collect_within(run, Duration::from_secs(30), scenario).await;
    println!("{scenario}: resumed: {:?}", tally(&outcomes));
    check(&sim, &outcomes, &rows, scenario);
}

/// The list endpoint ignores `offset` (every page is the first page) and
/// sends no `totalCount`: a server bug, or a proxy that drops the query's
/// `offset`. Some creates land with their answers lost. A reconciliation
/// listing reads "to the end" (an empty page, or `totalCount` reached) on
/// a list whose order it does not know: with neither ever coming, it pages
/// forever. The ambiguous rows are never written and the run never ends
/// (the README: "a run always ends, whatever the server answers"); it
/// also spends the request budget at hundreds of list requests a second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_that_ignores_offset_does_not_stall_the_run() {
    const SCALE: f64 = 1000.0;
    let scenario = "list ignores offset, no totalCount, creates dropped after landing";
    let sim = start(
        Simulator::builder()
            .scale(SCALE)
            .seed(606)
            .duration(DurationDist::Uniform {
                min_secs: 5.0,
                max_secs: 10.0,
            })
            .failure_rate(0.0)
            .total_count(writer_sim::TotalCount::Missing)
            .faults(FaultConfig::parse_compact("create:accept_then_drop=0.3").unwrap()),
    )
    .await;
    let proxy = RewritingProxy::start(
        &sim.base_url(),
        Rewrite {
            ignore_list_offset: true,
            ..Rewrite::default()
        },
    )
    .await;
    let rows = rows(10, "paged");
    let run = Batch::new(client_via(&sim, &proxy.base_url), APP)
        .max_server_hold(Duration::from_secs(30))
        .poll_policy(
            writer_jobs::PollPolicy::builder()
                .deadline(Duration::from_secs(300))
                .build()
                .unwrap(),
        )
        .run(futures::stream::iter(rows.clone()))
        .await
        .expect("batch starts");
    // 10,000 simulated seconds: over 30 times a row's deadline.
    let bound = Duration::from_secs_f64(10_000.0 / SCALE);
    let progress = run.progress();
    let mut run = run;
    let deadline = tokio::time::Instant::now() + bound;
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
        "{scenario}: ended {ended}; {:?}; creates dropped after landing {}; list requests {}; \
         progress {:?}",
        tally(&outcomes),
        stats.faults_of(FaultKind::AcceptThenDrop),
        stats.requests(writer_sim::Operation::List),
        *progress.borrow()
    );
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

/// Every create is answered 429 (a quota used up for the day, an
/// application throttled on its own), with `Retry-After: 1`; every other
/// request works. The README bounds every row: "its creates are sent at
/// most 20 times ... then the row ends rejected", so "a run always ends,
/// whatever the server answers". A 429 is not counted: the creates are sent
/// again and again (about 30 a simulated minute, thousands in all), no row
/// is ever written, and the run never ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creates_always_answered_429_do_not_loop_forever() {
    const SCALE: f64 = 1000.0;
    let scenario = "every create answered 429, the rest of the API up";
    let sim = start(
        Simulator::builder()
            .scale(SCALE)
            .seed(607)
            .duration(DurationDist::Uniform {
                min_secs: 5.0,
                max_secs: 10.0,
            })
            .failure_rate(0.0)
            .faults(FaultConfig::parse_compact("create:429_burst=1.0").unwrap()),
    )
    .await;
    let rows = rows(3, "throttled");
    let run = Batch::new(client_via(&sim, &sim.base_url()), APP)
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
    // 10,000 simulated seconds: over 30 times a row's deadline.
    let bound = Duration::from_secs_f64(10_000.0 / SCALE);
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
    let creates = sim.stats().requests(writer_sim::Operation::Create);
    println!(
        "{scenario}: ended {ended}; {:?}; creates sent {creates}",
        tally(&outcomes)
    );
    assert!(
        ended,
        "{scenario}: the run did not end within {bound:?} ({} rows of {} written, {creates} \
         creates sent for {} rows)",
        outcomes.len(),
        rows.len(),
        rows.len()
    );
    check(&sim, &outcomes, &rows, scenario);
}

/// The service goes down for good once 10 jobs exist (every request
/// answered 503 with `Retry-After: 1`). The jobs being waited for end
/// `timed_out` at their deadline; rows not yet sent and rows reconciling
/// cannot move. The run must end anyway: past the poll deadline of
/// failing requests the batch stops with [`BatchError::Unavailable`], and
/// once the service is back a resume writes every row exactly once, with
/// no job created twice (it once waited at the breaker forever).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lasting_outage_mid_run_does_not_stall_the_run() {
    const SCALE: f64 = 1000.0;
    let scenario = "every request answered 503 from the 10th job on";
    let sim = start(
        Simulator::builder()
            .scale(SCALE)
            .seed(608)
            .duration(DurationDist::Uniform {
                min_secs: 5.0,
                max_secs: 60.0,
            })
            .failure_rate(0.0),
    )
    .await;
    let rows = rows(40, "outage");
    let dir = tempfile::tempdir().unwrap();
    let batch = Batch::new(client_via(&sim, &sim.base_url()), APP)
        .journal(dir.path().join("outage.journal"))
        .create_concurrency(2)
        .max_server_hold(Duration::from_secs(30))
        .poll_policy(
            writer_jobs::PollPolicy::builder()
                .deadline(Duration::from_secs(300))
                .build()
                .unwrap(),
        );
    let run = run_resuming(&batch, &rows).await;
    let outage = async {
        wait_until("10 jobs made", || sim.stats().jobs_created >= 10).await;
        sim.set_outage(writer_sim::Outage::Unavailable);
    };
    let bound = Duration::from_secs_f64(10_000.0 / SCALE);
    let collect = async {
        let deadline = tokio::time::Instant::now() + bound;
        let mut run = run;
        let mut outcomes = Vec::new();
        loop {
            match tokio::time::timeout_at(deadline, run.next()).await {
                Ok(Some(Ok(outcome))) => outcomes.push(outcome),
                Ok(Some(Err(error))) => return (Some(error), outcomes),
                Ok(None) => return (None, outcomes),
                Err(_) => panic!(
                    "{scenario}: the run did not end within {bound:?}: {} rows of {} written {:?}",
                    outcomes.len(),
                    rows.len(),
                    tally(&outcomes)
                ),
            }
        }
    };
    let ((stopped, mut outcomes), ()) = tokio::join!(collect, outage);
    println!(
        "{scenario}: stopped with {stopped:?}; {:?}; requests {}",
        tally(&outcomes),
        sim.stats().total_requests
    );
    assert!(
        matches!(
            stopped,
            Some(writer_jobs::batch::BatchError::Unavailable { .. })
        ),
        "{scenario}: the batch should stop as unavailable, got {stopped:?}"
    );
    // The service is back: a resume finishes every row.
    sim.set_outage(writer_sim::Outage::None);
    let resumed = collect_within(run_resuming(&batch, &rows).await, bound, scenario).await;
    println!("{scenario}: resumed: {:?}", tally(&resumed));
    outcomes.extend(resumed.into_iter().filter(|o| !o.replayed));
    check(&sim, &outcomes, &rows, scenario);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_date_header_and_a_clock_off_do_not_hide_a_landed_create() {
    let scenario = "no Date header, client clock 49.5 s ahead, the only create's answer lost";
    let sim = start(
        Simulator::builder()
            .scale(200.0)
            .seed(610)
            .duration(DurationDist::Uniform {
                min_secs: 5.0,
                max_secs: 10.0,
            })
            .failure_rate(0.0)
            .faults(FaultConfig::parse_compact("create:accept_then_drop=1.0").unwrap()),
    )
    .await;
    let proxy = RewritingProxy::start(
        &sim.base_url(),
        Rewrite {
            strip_date: true,
            ..Rewrite::default()
        },
    )
    .await;
    let rows = rows(1, "undated");
    let client = Client::builder()
        .api_key(sim.api_key())
        .base_url(&proxy.base_url)
        .clock(common::OffsetClock::new(&sim, 49_500))
        .request_timeout(Duration::from_secs(60))
        .build()
        .expect("client");
    let run = Batch::new(client, APP)
        .max_server_hold(Duration::from_secs(30))
        .run(futures::stream::iter(rows.clone()))
        .await
        .expect("batch starts");
    let (outcomes, ()) = tokio::join!(
        collect_within(run, Duration::from_secs(30), scenario),
        clear_faults_after(&sim, FaultKind::AcceptThenDrop, 1)
    );
    println!(
        "{scenario}: {:?}; creates dropped after landing {}",
        tally(&outcomes),
        sim.stats().faults_of(FaultKind::AcceptThenDrop)
    );
    check(&sim, &outcomes, &rows, scenario);
}

/// A row's job fails; its retry (the server answers retries with a new id)
/// lands but its answer is lost. The retry is a create in disguise: the
/// engine must find the job it made (adopt it where the application is
/// exclusive, report it otherwise), not retry the failed job again, which
/// makes a second job from the same failure (a duplicate, invariant (e)).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_retry_that_landed_is_not_sent_again() {
    for exclusive in [false, true] {
        let scenario = format!("a retry's answer lost, exclusive application {exclusive}");
        let sim = start(
            Simulator::builder()
                .scale(200.0)
                .seed(SEED_FIRST_JOB_FAILS)
                .retry_new_id(true)
                .duration(DurationDist::Uniform {
                    min_secs: 5.0,
                    max_secs: 10.0,
                })
                .failure_rate(0.5)
                .faults(FaultConfig::parse_compact("retry:accept_then_drop=1.0").unwrap()),
        )
        .await;
        let rows = rows(1, "lostretry");
        let run = Batch::new(
            common::client_on(
                &sim,
                common::OffsetClock::new(&sim, 0),
                Duration::from_secs(60),
            ),
            APP,
        )
        .exclusive_application(exclusive)
        .job_retries(3)
        .max_server_hold(Duration::from_secs(30))
        .run(futures::stream::iter(rows.clone()))
        .await
        .expect("batch starts");
        let (outcomes, ()) = tokio::join!(
            collect_within(run, Duration::from_secs(30), &scenario),
            clear_faults_after(&sim, FaultKind::AcceptThenDrop, 1)
        );
        println!(
            "{scenario}: {:?}; retry jobs {}",
            tally(&outcomes),
            sim.stats().retry_jobs_created
        );
        assert!(
            sim.stats().faults_of(FaultKind::AcceptThenDrop) >= 1,
            "{scenario}: setup: a retry's answer was dropped"
        );
        check(&sim, &outcomes, &rows, &scenario);
        let retry_job = sim
            .job_ids(APP)
            .into_iter()
            .find(|id| sim.job(id).is_some_and(|j| j.retry_of.is_some()))
            .expect("setup: the retry made a job");
        if exclusive {
            assert_eq!(
                outcomes[0].job_id.as_deref(),
                Some(retry_job.as_str()),
                "{scenario}: the row follows the job its retry made"
            );
        } else {
            match &outcomes[0].result {
                writer_jobs::batch::OutcomeResult::Ambiguous { candidates, .. } => assert!(
                    candidates.contains(&retry_job),
                    "{scenario}: the retry's job is a candidate: {candidates:?}"
                ),
                other => panic!(
                    "{scenario}: a shared application cannot tell the retry's job from \
                     another client's: reported, not {}",
                    other.name()
                ),
            }
        }
    }
}

/// The same lost retry, with the list endpoint down for good: the retry
/// cannot be reconciled, so once its give-up time passes the row is
/// reported, and written (found by the swarm: the row, read long before,
/// waited for its input to come again, and was never written).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_retry_that_cannot_be_reconciled_is_reported() {
    let scenario = "a retry's answer lost, the list endpoint down";
    let sim = start(
        Simulator::builder()
            .scale(1000.0)
            .seed(SEED_FIRST_JOB_FAILS)
            .retry_new_id(true)
            .duration(DurationDist::Uniform {
                min_secs: 5.0,
                max_secs: 10.0,
            })
            .failure_rate(0.5)
            .faults(FaultConfig::parse_compact("retry:accept_then_drop=1.0,list:500=1.0").unwrap()),
    )
    .await;
    let rows = rows(1, "unlisted");
    let run = Batch::new(
        common::client_on(
            &sim,
            common::OffsetClock::new(&sim, 0),
            Duration::from_secs(60),
        ),
        APP,
    )
    .job_retries(3)
    .max_server_hold(Duration::from_secs(30))
    .run(futures::stream::iter(rows.clone()))
    .await
    .expect("batch starts");
    let outcomes = collect_within(run, Duration::from_secs(30), scenario).await;
    println!("{scenario}: {:?}", tally(&outcomes));
    assert!(
        sim.stats().faults_of(FaultKind::AcceptThenDrop) >= 1,
        "{scenario}: setup: a retry's answer was dropped"
    );
    check(&sim, &outcomes, &rows, scenario);
    assert_eq!(outcomes[0].result.name(), "ambiguous", "{scenario}");
    // The row's own job (the one retried) is named beside the candidates.
    let retried = sim
        .job_ids(APP)
        .into_iter()
        .find(|id| sim.job(id).is_some_and(|j| j.origin == JobOrigin::Create));
    assert_eq!(outcomes[0].job_id, retried, "{scenario}: the row's job");
    // Its runs, the lost retry's included, as the server counts them.
    let runs = common::invariants::job_runs(&sim, APP);
    assert_eq!(outcomes[0].attempts, runs, "{scenario}: the row's runs");
}

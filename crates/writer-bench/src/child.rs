//! The child-process protocol: each measured client runs alone in a fresh
//! process, so its CPU time and peak RSS are its own, not the simulator's.
//!
//! The parent (which runs the simulator) starts `writer-bench client ...`
//! with the simulator's URL, key, clock scale and anchor. The child writes
//! one JSON line per outcome as it is yielded (when asked to; the parent
//! turns them into delays with the simulator's finish times, so the child
//! holds no per-row state of its own) and one summary line at the end, with
//! its CPU time and peak RSS read from `/proc/self`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::{Args, ValueEnum};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use writer_jobs::batch::{Batch, OutcomeResult, Rate, Row};
use writer_jobs::{Client, Inputs, ScaledClock};

use crate::{naive, replay};

/// Which client a child process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// The writer-jobs batch engine.
    Batch,
    /// The naive loop from writer-api: create, then GET every 1 s.
    Naive1,
    /// The naive loop from writer-api: create, then GET every 5 s.
    Naive5,
    /// A batch run's requests sent bare (see [`crate::replay`]): the
    /// floor of the batch's CPU.
    Replay,
    /// The same requests through `writer_jobs::Client`, no engine.
    ReplayClient,
    /// A batch run's requests sent bare, each at the time the batch sent
    /// it (see [`crate::replay`]).
    ReplayTimed,
    /// The same, through `writer_jobs::Client`.
    ReplayClientTimed,
    /// The same, through writer-api's generated client alone: the floor
    /// of any client built on it (see [`crate::replay::through_generated`]).
    ReplayGeneratedTimed,
    /// A batch run's requests sent bare at its times, but its creates
    /// gathered into buckets of [`GATHER_SECS`]: the floor of a client
    /// that starts rows in bursts, far apart, to be woken less.
    ReplayGathered,
}

/// The bucket a gathered replay sends a batch's creates in, simulated
/// seconds: each create waits for the end of its bucket.
pub const GATHER_SECS: f64 = 30.0;

impl Kind {
    /// The name used in tables.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Batch => "writer-jobs batch",
            Kind::Naive1 => "naive GET every 1 s",
            Kind::Naive5 => "naive GET every 5 s",
            Kind::Replay => "the batch's requests, bare",
            Kind::ReplayClient => "the batch's requests, writer-jobs Client",
            Kind::ReplayTimed => "the batch's requests at its times, bare",
            Kind::ReplayClientTimed => "the batch's requests at its times, writer-jobs Client",
            Kind::ReplayGeneratedTimed => {
                "the batch's requests at its times, writer-api's generated client"
            }
            Kind::ReplayGathered => "the batch's requests at its times, creates every 30 s, bare",
        }
    }

    fn arg(self) -> &'static str {
        match self {
            Kind::Batch => "batch",
            Kind::Naive1 => "naive1",
            Kind::Naive5 => "naive5",
            Kind::Replay => "replay",
            Kind::ReplayClient => "replay-client",
            Kind::ReplayTimed => "replay-timed",
            Kind::ReplayClientTimed => "replay-client-timed",
            Kind::ReplayGeneratedTimed => "replay-generated-timed",
            Kind::ReplayGathered => "replay-gathered",
        }
    }
}

/// The arguments of the hidden `client` subcommand.
#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    /// Which client to run.
    #[arg(long, value_enum)]
    pub kind: Kind,
    /// The simulator's base URL.
    #[arg(long)]
    pub base_url: String,
    /// The API key.
    #[arg(long)]
    pub key: String,
    /// The application to run the rows through.
    #[arg(long)]
    pub app: String,
    /// The simulator clock's scale (simulated seconds per real second).
    #[arg(long)]
    pub scale: f64,
    /// The simulator clock's anchor, in nanoseconds since the Unix epoch.
    #[arg(long)]
    pub anchor_unix_nanos: u128,
    /// How many rows.
    #[arg(long)]
    pub rows: u64,
    /// Jobs in flight at once (default: the batch's own default; 100 for
    /// the naive loops).
    #[arg(long)]
    pub max_in_flight: Option<usize>,
    /// The batch's list page size (default: the batch's own default).
    #[arg(long)]
    pub page_size: Option<u64>,
    /// The batch's client-side request budget, per minute (batch only).
    #[arg(long)]
    pub rate_per_minute: Option<f64>,
    /// The client's request timeout in simulated seconds (default: the
    /// library's own).
    #[arg(long)]
    pub request_timeout_secs: Option<f64>,
    /// Write one line per outcome (off for the memory runs, whose parent
    /// needs only the summary).
    #[arg(long)]
    pub outcomes: bool,
    /// Run the client on tokio's single-threaded runtime instead of the
    /// multi-threaded one `#[tokio::main]` gives.
    #[arg(long)]
    pub current_thread: bool,
    /// The batch's polling requests per job to aim for (default: the
    /// library's).
    #[arg(long)]
    pub poll_overhead: Option<f64>,
    /// The poll policy's maximum interval, simulated seconds (default: the
    /// library's 10 s): the longest gap between sweeps.
    #[arg(long)]
    pub poll_max_interval_secs: Option<f64>,
    /// Declare the application exclusive to the batch (adoption by timing).
    #[arg(long)]
    pub exclusive_app: bool,
    /// The batch's `max_server_hold`, simulated seconds (default: the
    /// library's).
    #[arg(long)]
    pub max_server_hold_secs: Option<f64>,
    /// The batch's `less_overlap` after ambiguous creates.
    #[arg(long)]
    pub less_overlap: bool,
    /// The batch's create concurrency (default: the library's).
    #[arg(long)]
    pub create_concurrency: Option<usize>,
    /// The list pages a replay sends among its creates (replay only).
    #[arg(long)]
    pub replay_lists: Option<u64>,
    /// A timed replay's schedule: a file of lines `SECS create` or `SECS
    /// list OFFSET LIMIT`, the simulated seconds from the start at which
    /// each request is sent (and which page a list reads).
    #[arg(long)]
    pub replay_schedule: Option<PathBuf>,
}

/// The inputs of row `i`: distinct for every row, so that the simulator's
/// per-input-set counts reveal any job created twice.
pub fn row_inputs(i: u64) -> [(&'static str, String); 2] {
    [
        ("Product name", format!("Product #{i}")),
        (
            "Tone",
            ["casual", "formal", "playful"][(i % 3) as usize].to_string(),
        ),
    ]
}

/// Simulated time for code that does not use writer-jobs' clock (the naive
/// loops and the child's own timestamps): the simulator's formula,
/// `anchor + (real now - anchor) * scale`.
#[derive(Debug, Clone, Copy)]
pub struct SimTime {
    scale: f64,
    anchor: SystemTime,
}

impl SimTime {
    /// The clock with this scale and anchor.
    pub fn new(scale: f64, anchor: SystemTime) -> Self {
        Self { scale, anchor }
    }

    /// Simulated wall time now, in microseconds since the Unix epoch.
    pub fn now_us(&self) -> i64 {
        let since = SystemTime::now()
            .duration_since(self.anchor)
            .unwrap_or(Duration::ZERO);
        let anchor_us = self
            .anchor
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_micros() as i64)
            .unwrap_or(0);
        anchor_us + (since.as_secs_f64() * self.scale * 1e6) as i64
    }

    /// Sleeps for `d` of simulated time.
    pub async fn sleep(&self, d: Duration) {
        tokio::time::sleep(d.div_f64(self.scale)).await;
    }
}

/// One outcome as the child saw it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutcomeLine {
    /// The row's index in the input.
    pub seq: u64,
    /// The job, when one is known.
    pub job: Option<String>,
    /// `completed`, `failed`, `ambiguous`, ... (writer-jobs' names; the
    /// naive loops add `create_error`).
    pub kind: String,
    /// Simulated wall time when the outcome was yielded, microseconds
    /// since the Unix epoch.
    pub observed_us: i64,
    /// An ambiguous row's candidate jobs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<String>,
    /// Why an ambiguous row is ambiguous.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The child's final report.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Summary {
    /// Outcomes by kind.
    pub outcomes: BTreeMap<String, u64>,
    /// Simulated wall time when the client started work (microseconds).
    pub started_us: i64,
    /// Simulated wall time when the last outcome was yielded (microseconds).
    pub finished_us: i64,
    /// CPU time of the whole process, seconds.
    pub cpu_secs: f64,
    /// CPU time spent before the client started (process start and the
    /// tokio runtime), seconds: included in `cpu_secs`.
    pub startup_cpu_secs: f64,
    /// Peak resident set size (VmHWM), KiB.
    pub peak_rss_kib: u64,
    /// Context switches of all the process's threads (voluntary, each a
    /// sleep and a wake-up, and involuntary), as `/proc` counts them.
    #[serde(default)]
    pub context_switches: u64,
    /// Why the client stopped early, if it did.
    pub error: Option<String>,
}

/// A line on the child's stdout.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Line {
    Outcome(OutcomeLine),
    Summary(Summary),
}

/// Runs the `client` subcommand: the client's own runtime, then the report.
pub fn main(args: ClientArgs) -> ExitCode {
    let runtime = if args.current_thread {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Runtime::new()
    };
    let runtime = match runtime {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("writer-bench client: cannot start a runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Outcome lines go out in blocks, not a write (and a wake-up of the
    // parent) per line: the parent only collects them, each carries its
    // own time, and a write per line is the bench's cost, not the client's.
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout());
    let mut summary = runtime.block_on(run(&args, &mut out));
    // Measured before the runtime goes away, but after all the work.
    let (cpu, rss) = proc_usage();
    summary.cpu_secs = cpu;
    summary.peak_rss_kib = rss;
    summary.context_switches = context_switches();
    emit(&mut out, &Line::Summary(summary));
    // A closed pipe means the parent is gone: nothing left to report to.
    let _ = out.flush();
    ExitCode::SUCCESS
}

async fn run(args: &ClientArgs, out: &mut impl Write) -> Summary {
    let anchor = UNIX_EPOCH + Duration::from_nanos(args.anchor_unix_nanos as u64);
    let time = SimTime::new(args.scale, anchor);
    let mut summary = Summary {
        startup_cpu_secs: cpu_secs(),
        started_us: time.now_us(),
        ..Summary::default()
    };
    let mut record = |seq: u64, job: Option<String>, kind: &str, why: Option<Why>| {
        note_switches();
        let observed_us = time.now_us();
        *summary.outcomes.entry(kind.to_string()).or_default() += 1;
        summary.finished_us = observed_us;
        if args.outcomes {
            emit(
                out,
                &Line::Outcome(OutcomeLine {
                    seq,
                    job,
                    kind: kind.to_string(),
                    observed_us,
                    candidates: why.as_ref().map(|w| w.1.clone()).unwrap_or_default(),
                    reason: why.map(|w| w.0),
                }),
            );
        }
    };
    let error = match args.kind {
        Kind::Batch => run_batch(args, anchor, &mut record).await.err(),
        Kind::Naive1 | Kind::Naive5 => {
            let every = Duration::from_secs(if args.kind == Kind::Naive1 { 1 } else { 5 });
            let rows = (0..args.rows).map(|i| naive::inputs(row_inputs(i)));
            naive::run(
                &args.base_url,
                &args.key,
                &args.app,
                &time,
                rows,
                every,
                args.max_in_flight.unwrap_or(100),
                |o| record(o.seq, o.job, o.kind, None),
            )
            .await
            .err()
        }
        Kind::Replay
        | Kind::ReplayClient
        | Kind::ReplayTimed
        | Kind::ReplayClientTimed
        | Kind::ReplayGeneratedTimed
        | Kind::ReplayGathered => {
            // The kind names the pace in the tables: a timed kind, and
            // only one, is sent at a schedule's times.
            let timed = matches!(
                args.kind,
                Kind::ReplayTimed
                    | Kind::ReplayClientTimed
                    | Kind::ReplayGeneratedTimed
                    | Kind::ReplayGathered
            );
            let pace = match (&args.replay_schedule, timed) {
                (Some(path), true) => replay::Pace::read(path, args.scale),
                (None, false) => Ok(replay::Pace::BackToBack {
                    lists: args.replay_lists.unwrap_or(0),
                    in_flight: args.max_in_flight.unwrap_or(100),
                }),
                _ => Err(format!(
                    "--replay-schedule goes with the timed replays only (kind {})",
                    args.kind.arg()
                )),
            };
            let answered = match (pace, args.kind) {
                (Err(e), _) => Err(e),
                (Ok(pace), Kind::Replay | Kind::ReplayTimed | Kind::ReplayGathered) => {
                    let rows = (0..args.rows).map(|i| naive::inputs(row_inputs(i)));
                    replay::run(&args.base_url, &args.key, &args.app, rows, pace).await
                }
                (Ok(pace), Kind::ReplayGeneratedTimed) => {
                    let n = args.rows;
                    let (url, key, app) =
                        (args.base_url.clone(), args.key.clone(), args.app.clone());
                    let send = async move {
                        let rows = (0..n).map(|i| naive::inputs(row_inputs(i)));
                        replay::through_generated(&url, &key, &app, rows, pace).await
                    };
                    if args.current_thread {
                        send.await
                    } else {
                        on_own_thread(send).await
                    }
                }
                (Ok(pace), _) => match client_of(args, anchor) {
                    Ok(client) => {
                        let rows = (0..args.rows).map(batch_inputs);
                        replay::through_client(&client, &args.app, rows, pace).await
                    }
                    Err(e) => Err(e),
                },
            };
            match answered {
                Ok(answered) => {
                    summary.outcomes.insert("answered".to_string(), answered);
                    summary.finished_us = time.now_us();
                    None
                }
                Err(e) => Some(e),
            }
        }
    };
    summary.error = error;
    summary
}

/// An ambiguous outcome's reason and candidates.
type Why = (String, Vec<String>);

async fn run_batch(
    args: &ClientArgs,
    anchor: SystemTime,
    record: &mut impl FnMut(u64, Option<String>, &str, Option<Why>),
) -> Result<(), String> {
    let client = client_of(args, anchor)?;
    let rows = (0..args.rows).map(|i| Row::new(format!("row-{i}"), batch_inputs(i)));
    let mut batch = Batch::new(client, &args.app);
    if let Some(secs) = args.request_timeout_secs {
        // A run that raises the request timeout (so CPU contention on a
        // fast clock cannot turn into timeouts) raises the reads' too.
        batch = batch.read_timeout(Duration::from_secs_f64(secs));
    }
    if let Some(n) = args.max_in_flight {
        batch = batch.max_in_flight(n);
    }
    if let Some(n) = args.page_size {
        batch = batch.page_size(n);
    }
    if let Some(per_minute) = args.rate_per_minute {
        batch = batch.rate(Rate::per_minute(per_minute));
    }
    if let Some(overhead) = args.poll_overhead {
        batch = batch.poll_overhead(overhead);
    }
    if let Some(secs) = args.poll_max_interval_secs {
        let policy = writer_jobs::PollPolicy::builder()
            .max_interval(Duration::from_secs_f64(secs))
            .build()
            .map_err(|e| e.to_string())?;
        batch = batch.poll_policy(policy);
    }
    batch = batch.exclusive_application(args.exclusive_app);
    if let Some(secs) = args.max_server_hold_secs {
        batch = batch.max_server_hold(Duration::from_secs_f64(secs));
    }
    if let Some(n) = args.create_concurrency {
        batch = batch.create_concurrency(n);
    }
    batch = batch.less_overlap(args.less_overlap);
    let mut run = batch
        .run(futures::stream::iter(rows))
        .await
        .map_err(|e| e.to_string())?;
    while let Some(outcome) = run.next().await {
        let outcome = outcome.map_err(|e| e.to_string())?;
        let why = match &outcome.result {
            OutcomeResult::Ambiguous {
                reason, candidates, ..
            } => Some((reason.clone(), candidates.clone())),
            _ => None,
        };
        record(outcome.seq, outcome.job_id, outcome.result.name(), why);
    }
    Ok(())
}

/// Runs `work` as the batch runs its engine under the multi-threaded
/// runtime: on a current-thread runtime on a thread of its own, the
/// caller's runtime only waiting for the answer (see
/// `Batch::engine_thread`). A replay that stands for the batch's floor
/// there runs the same way, so it is woken as the batch's engine is
/// rather than across the runtime's workers (each timer and answer of a
/// replay run on the workers woke one: six times the batch's wake-ups).
async fn on_own_thread<T: Send + 'static>(
    work: impl std::future::Future<Output = Result<T, String>> + Send + 'static,
) -> Result<T, String> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("writer-bench-replay".into())
        .spawn(move || {
            let result = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
                .and_then(|runtime| runtime.block_on(work));
            // The thread's context switches, read before it ends (see
            // `context_switches`).
            read_switches(&mut seen_switches());
            let _ = tx.send(result);
        })
        .map_err(|e| format!("cannot start the replay's thread: {e}"))?;
    rx.await
        .map_err(|_| "the replay's thread ended without an answer".to_string())?
}

/// The client the batch (and the client replay) runs on.
fn client_of(args: &ClientArgs, anchor: SystemTime) -> Result<Client, String> {
    let mut builder = Client::builder()
        .api_key(&args.key)
        .base_url(&args.base_url)
        .clock(ScaledClock::with_anchor(args.scale, anchor));
    if let Some(secs) = args.request_timeout_secs {
        builder = builder.request_timeout(Duration::from_secs_f64(secs));
    }
    builder.build().map_err(|e| e.to_string())
}

/// Row `i`'s inputs as the batch takes them.
fn batch_inputs(i: u64) -> Inputs {
    row_inputs(i)
        .into_iter()
        .fold(Inputs::new(), |acc, (name, value)| acc.text(name, value))
}

fn emit(out: &mut impl Write, line: &Line) {
    // A closed pipe means the parent is gone: nothing left to report to.
    let _ = serde_json::to_writer(&mut *out, line);
    let _ = out.write_all(b"\n");
}

/// This process's CPU seconds and peak RSS in KiB (`VmHWM` of
/// `/proc/self/status`). Zero where `/proc` is not there.
pub fn proc_usage() -> (f64, u64) {
    let rss = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
            line.split_whitespace().nth(1)?.parse().ok()
        })
        .unwrap_or(0);
    (cpu_secs(), rss)
}

/// Context switches of this process's threads (voluntary + involuntary,
/// `/proc/self/task/*/status`): how often the client was put to sleep and
/// woken, which costs CPU of its own on a virtual machine. Zero where
/// `/proc` is not there. A thread that has ended (a batch's own thread,
/// gone before the run is measured) counts as when last read: see
/// [`note_switches`].
pub fn context_switches() -> u64 {
    let mut seen = seen_switches();
    read_switches(&mut seen);
    seen.values().sum()
}

/// Reads the threads' context switches, at most once a second of real
/// time (about 40 reads in a 10,000-row run): a thread's count then
/// survives its end, short of its last second.
pub fn note_switches() {
    static LAST: Mutex<Option<Instant>> = Mutex::new(None);
    let mut last = LAST.lock().unwrap_or_else(|p| p.into_inner());
    if last.is_some_and(|t| t.elapsed() < Duration::from_secs(1)) {
        return;
    }
    *last = Some(Instant::now());
    read_switches(&mut seen_switches());
}

/// Each thread's context switches when last read, by thread id.
fn seen_switches() -> std::sync::MutexGuard<'static, BTreeMap<String, u64>> {
    static SEEN: Mutex<BTreeMap<String, u64>> = Mutex::new(BTreeMap::new());
    SEEN.lock().unwrap_or_else(|p| p.into_inner())
}

fn read_switches(seen: &mut BTreeMap<String, u64>) {
    let tasks = std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten();
    for task in tasks {
        let Ok(status) = std::fs::read_to_string(task.path().join("status")) else {
            continue;
        };
        let n = status
            .lines()
            .filter(|l| l.contains("ctxt_switches:"))
            .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            .sum::<u64>();
        seen.insert(task.file_name().to_string_lossy().into_owned(), n);
    }
}

/// The contents of file `name` of each of this process's threads
/// (`/proc/self/task/*/NAME`); none where `/proc` is not there.
fn per_thread(name: &str) -> impl Iterator<Item = String> + '_ {
    std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(move |task| std::fs::read_to_string(task.path().join(name)).ok())
}

/// This process's CPU seconds: the sum of its threads' run time in
/// nanoseconds (`/proc/self/task/*/schedstat`), precise where the 10 ms
/// ticks of `/proc/self/stat` are not; the ticks (user + system, which also
/// count threads that have exited) when they say more.
pub fn cpu_secs() -> f64 {
    let threads_ns: u64 = per_thread("schedstat")
        .filter_map(|line| line.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    // Linux reports utime and stime in USER_HZ ticks, 100 a second on
    // every architecture it exposes to user space.
    const TICKS_PER_SEC: f64 = 100.0;
    let ticks = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|stat| {
            // Fields after the command name (which may hold spaces) start
            // with the state, field 3; utime and stime are fields 14 and 15.
            let rest = &stat[stat.rfind(')')? + 2..];
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let utime: f64 = fields.get(11)?.parse().ok()?;
            let stime: f64 = fields.get(12)?.parse().ok()?;
            Some((utime + stime) / TICKS_PER_SEC)
        })
        .unwrap_or(0.0);
    let precise = threads_ns as f64 / 1e9;
    // Ticks are sampled: only trust them over the precise sum when they
    // exceed it by more than their resolution (threads gone).
    if ticks > precise + 0.02 {
        ticks
    } else {
        precise
    }
}

/// What the parent got back from one child.
#[derive(Debug, Clone)]
pub struct ChildResult {
    /// Every outcome line (empty unless `outcomes` was asked for).
    pub outcomes: Vec<OutcomeLine>,
    /// The summary line.
    pub summary: Summary,
}

/// What the parent tells a child to do (everything but the simulator's
/// coordinates, which [`spawn`] adds).
#[derive(Debug, Clone)]
pub struct Job {
    /// Which client.
    pub kind: Kind,
    /// How many rows.
    pub rows: u64,
    /// Jobs in flight (`None`: the client's default).
    pub max_in_flight: Option<usize>,
    /// The batch's list page size (`None`: the batch's default).
    pub page_size: Option<u64>,
    /// The batch's request budget per minute, if any.
    pub rate_per_minute: Option<f64>,
    /// The request timeout, simulated seconds, if not the library's.
    pub request_timeout_secs: Option<f64>,
    /// Whether to stream outcome lines.
    pub outcomes: bool,
    /// Whether the client runs on a single-threaded runtime.
    pub current_thread: bool,
    /// The batch's poll overhead, if not the library's default.
    pub poll_overhead: Option<f64>,
    /// The poll policy's maximum interval, simulated seconds, if not the
    /// library's.
    pub poll_max_interval_secs: Option<f64>,
    /// Whether the batch declares the application exclusive.
    pub exclusive: bool,
    /// The batch's `max_server_hold`, simulated seconds, if not the
    /// library's.
    pub max_server_hold_secs: Option<f64>,
    /// Whether the batch keeps creates from overlapping an ambiguous one's
    /// window.
    pub less_overlap: bool,
    /// The batch's create concurrency, if not the library's.
    pub create_concurrency: Option<usize>,
    /// The list pages a replay sends among its creates.
    pub replay_lists: Option<u64>,
    /// A timed replay's schedule file (see [`ClientArgs::replay_schedule`]).
    pub replay_schedule: Option<PathBuf>,
}

/// The simulator's coordinates, for a child to reach it on the same clock.
#[derive(Debug, Clone)]
pub struct Target {
    /// Base URL.
    pub base_url: String,
    /// API key.
    pub key: String,
    /// Application id.
    pub app: String,
    /// Clock scale.
    pub scale: f64,
    /// Clock anchor.
    pub anchor: SystemTime,
}

/// Runs one client in a fresh child process (`exe client ...`) and waits
/// for it (blocking: call it from `spawn_blocking`).
pub fn spawn(exe: &Path, target: &Target, job: &Job) -> Result<ChildResult, String> {
    let anchor_nanos = target
        .anchor
        .duration_since(UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_nanos();
    let mut command = Command::new(exe);
    command
        .arg("client")
        .args(["--kind", job.kind.arg()])
        .args(["--base-url", &target.base_url])
        .args(["--key", &target.key])
        .args(["--app", &target.app])
        .args(["--scale", &target.scale.to_string()])
        .args(["--anchor-unix-nanos", &anchor_nanos.to_string()])
        .args(["--rows", &job.rows.to_string()]);
    if let Some(n) = job.max_in_flight {
        command.args(["--max-in-flight", &n.to_string()]);
    }
    if let Some(n) = job.page_size {
        command.args(["--page-size", &n.to_string()]);
    }
    if let Some(rate) = job.rate_per_minute {
        command.args(["--rate-per-minute", &rate.to_string()]);
    }
    if let Some(secs) = job.request_timeout_secs {
        command.args(["--request-timeout-secs", &secs.to_string()]);
    }
    if job.outcomes {
        command.arg("--outcomes");
    }
    if job.current_thread {
        command.arg("--current-thread");
    }
    if let Some(overhead) = job.poll_overhead {
        command.args(["--poll-overhead", &overhead.to_string()]);
    }
    if let Some(secs) = job.poll_max_interval_secs {
        command.args(["--poll-max-interval-secs", &secs.to_string()]);
    }
    if job.exclusive {
        command.arg("--exclusive-app");
    }
    if let Some(secs) = job.max_server_hold_secs {
        command.args(["--max-server-hold-secs", &secs.to_string()]);
    }
    if job.less_overlap {
        command.arg("--less-overlap");
    }
    if let Some(n) = job.create_concurrency {
        command.args(["--create-concurrency", &n.to_string()]);
    }
    if let Some(n) = job.replay_lists {
        command.args(["--replay-lists", &n.to_string()]);
    }
    if let Some(path) = &job.replay_schedule {
        command.arg("--replay-schedule").arg(path);
    }
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
    let stdout = child.stdout.take().ok_or("no stdout from the child")?;
    let mut outcomes = Vec::new();
    let mut summary = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.map_err(|e| format!("reading the child's output: {e}"))?;
        match serde_json::from_str::<Line>(&line) {
            Ok(Line::Outcome(o)) => outcomes.push(o),
            Ok(Line::Summary(s)) => summary = Some(s),
            Err(e) => return Err(format!("bad line from the child ({e}): {line}")),
        }
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    if !status.success() {
        return Err(format!("the client process exited with {status}"));
    }
    let summary = summary.ok_or("the client process sent no summary")?;
    if let Some(error) = &summary.error {
        return Err(format!("the client stopped early: {error}"));
    }
    Ok(ChildResult { outcomes, summary })
}

//! Fault soak: thousands of rows through the batch engine against the
//! simulator with every fault kind enabled at once, at realistic rates.
//!
//! What must hold, whatever the faults did:
//!
//! - every row has exactly one final outcome (none lost, none twice);
//! - with the default `report` policy, no input set got more jobs than the
//!   rows carrying it (no duplicate create), and an unsettled create is
//!   reported as ambiguous rather than resent;
//! - every completed row carries exactly the simulator's
//!   `expected_output` for its inputs (what a fault-free run gives);
//! - with the `resend` policy every row completes, and an input set gets
//!   more jobs than rows only where an outcome says it was resent
//!   (`creates > 1`).
//!
//! The client and the simulator share one scaled clock, so the soak runs
//! simulated hours in seconds and counts the same requests a real run would.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use futures::StreamExt;
use writer_jobs::Inputs;
use writer_jobs::batch::{AmbiguousPolicy, Batch, Outcome, OutcomeResult, Row};
use writer_sim::{DurationDist, FaultConfig, FaultKind, Simulator, Stats};

const APP: &str = "demo-product-descriptions";

/// Every fault kind, at rates a bad day on a real service might show. Each
/// request gets at most one fault; per-operation entries override `*`.
const FAULTS: &str = "*:500=0.01,*:503=0.01,*:504=0.005,*:429_burst=0.003,*:reset=0.005,\
     *:slow=0.003,*:slow_drop=0.002,*:truncated=0.004,*:malformed=0.004,*:extra_fields=0.02,\
     create:accept_then_drop=0.01,create:job_id_field=0.1,create:hold=0.002,\
     get:unknown_status=0.05,list:unknown_status=0.05,\
     burst_len=5,slow_secs=300,hold_secs=90,should_retry=mixed";

/// The client's request timeout (simulated time); `slow` and `slow_drop`
/// answers take `slow_secs` (300 s), far beyond it.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Every `REPEAT_EVERY`-th row carries the same inputs as the row before it:
/// the known, intentional repeats (two rows, two jobs, one input set).
const REPEAT_EVERY: usize = 50;

fn rows(n: usize) -> Vec<Row> {
    (0..n)
        .map(|i| {
            let product = if i % REPEAT_EVERY == REPEAT_EVERY - 1 {
                i - 1
            } else {
                i
            };
            Row::new(
                format!("row-{i:06}"),
                Inputs::new()
                    .text("Product name", format!("Soak product #{product}"))
                    .text("Tone", ["casual", "formal", "playful"][product % 3]),
            )
        })
        .collect()
}

fn input_set(row: &Row) -> String {
    writer_sim::input_key(APP, &row.inputs.to_wire().inputs)
}

struct Soak {
    rows: Vec<Row>,
    outcomes: Vec<Outcome>,
    stats: Stats,
    elapsed: Duration,
}

async fn soak(n: usize, scale: f64, seed: u64, policy: AmbiguousPolicy) -> Soak {
    let faults = FaultConfig::parse_compact(FAULTS).expect("fault spec");
    let sim = Simulator::builder()
        .scale(scale)
        .seed(seed)
        .duration(DurationDist::LogNormal {
            mean_secs: 30.0,
            sigma: 0.5,
        })
        .failure_rate(0.0)
        .faults(faults)
        .start()
        .await
        .expect("simulator");
    let client = common::sim_client(&sim)
        .request_timeout(REQUEST_TIMEOUT)
        .build()
        .expect("client");
    let rows = rows(n);
    let started = Instant::now();
    let run = Batch::new(client, APP)
        .max_in_flight(400)
        .on_ambiguous(policy)
        .simulated(true)
        .run(futures::stream::iter(rows.clone()))
        .await
        .expect("batch starts");
    let outcomes: Vec<Outcome> = run
        .map(|o| o.expect("the batch must not stop on faults"))
        .collect()
        .await;
    let elapsed = started.elapsed();
    let stats = sim.stats();
    sim.shutdown().await;
    Soak {
        rows,
        outcomes,
        stats,
        elapsed,
    }
}

impl Soak {
    /// Rows per input set.
    fn rows_per_set(&self) -> HashMap<String, u64> {
        let mut per_set = HashMap::new();
        for row in &self.rows {
            *per_set.entry(input_set(row)).or_default() += 1;
        }
        per_set
    }

    /// Outcomes by key, asserting exactly one per row.
    fn by_key(&self) -> HashMap<&str, &Outcome> {
        let mut by_key: HashMap<&str, &Outcome> = HashMap::new();
        for o in &self.outcomes {
            assert!(
                by_key.insert(o.key.as_str(), o).is_none(),
                "row {} has two outcomes",
                o.key
            );
        }
        let missing: Vec<&str> = self
            .rows
            .iter()
            .map(|r| r.key.as_str())
            .filter(|k| !by_key.contains_key(k))
            .collect();
        assert!(
            missing.is_empty(),
            "{} rows have no outcome (lost), e.g. {:?}",
            missing.len(),
            &missing[..missing.len().min(5)]
        );
        assert_eq!(
            by_key.len(),
            self.rows.len(),
            "no outcome for an unknown row"
        );
        by_key
    }

    fn counts(&self) -> BTreeMap<&'static str, usize> {
        let mut counts = BTreeMap::new();
        for o in &self.outcomes {
            *counts.entry(o.result.name()).or_default() += 1;
        }
        counts
    }

    /// Every completed row carries exactly what a fault-free run gives.
    fn check_results(&self, by_key: &HashMap<&str, &Outcome>) {
        for row in &self.rows {
            let o = by_key[row.key.as_str()];
            if let OutcomeResult::Completed { output, .. } = &o.result {
                let want = writer_sim::expected_output(APP, &row.inputs.to_wire().inputs);
                assert_eq!(
                    output.suggestion, want.suggestion,
                    "{}: wrong result",
                    row.key
                );
                assert_eq!(output.title, want.title, "{}: wrong title", row.key);
                assert!(o.job_id.is_some(), "{}: completed without a job", row.key);
            }
        }
        // Two rows never claim the same job.
        let mut owners: HashMap<&str, &str> = HashMap::new();
        for o in &self.outcomes {
            if let Some(job) = &o.job_id {
                assert!(
                    owners.insert(job.as_str(), o.key.as_str()).is_none(),
                    "job {job} is claimed by {} and {}",
                    owners[job.as_str()],
                    o.key
                );
            }
        }
    }

    /// Jobs created beyond the rows carrying an input set.
    fn extra_creates(&self) -> u64 {
        let per_set = self.rows_per_set();
        self.stats
            .created_by_inputs
            .iter()
            .map(|(set, created)| created.saturating_sub(per_set.get(set).copied().unwrap_or(0)))
            .sum()
    }

    fn report(&self, label: &str) {
        let ambiguous = self.counts().get("ambiguous").copied().unwrap_or(0);
        let completed = self.counts().get("completed").copied().unwrap_or(0);
        let injected: u64 = self.stats.faults.values().sum();
        println!(
            "{label}: {} rows in {:.1?} real: outcomes {:?}; lost 0; duplicates {}; ambiguous {ambiguous}",
            self.rows.len(),
            self.elapsed,
            self.counts(),
            self.extra_creates(),
        );
        println!(
            "{label}: {injected} faults injected by kind {:?}",
            self.stats.faults
        );
        let mut why: BTreeMap<String, usize> = BTreeMap::new();
        for o in &self.outcomes {
            if let OutcomeResult::Ambiguous {
                reason, candidates, ..
            } = &o.result
            {
                let cause = if reason.contains("no answer within") {
                    "timeout"
                } else if reason.contains("connection") {
                    "connection lost"
                } else if reason.contains("HTTP 5") {
                    "5xx"
                } else if reason.contains("understand") {
                    "undecodable 2xx"
                } else {
                    "other"
                };
                let n = match candidates.len() {
                    0 => "0",
                    1 => "1",
                    _ => "2+",
                };
                *why.entry(format!("{cause}/{n} candidates")).or_default() += 1;
            }
        }
        if !why.is_empty() {
            println!("{label}: ambiguous rows by cause and candidates: {why:?}");
        }
        println!(
            "{label}: {} requests, {:.3} requests/job ({:.3} per completed row): {:?}; \
             jobs created {}, connections dropped {}",
            self.stats.total_requests,
            self.stats.total_requests as f64 / self.rows.len() as f64,
            self.stats.total_requests as f64 / completed.max(1) as f64,
            self.stats.by_operation,
            self.stats.jobs_created,
            self.stats.connections_dropped,
        );
    }
}

/// The `report`-policy invariants.
fn check_report_run(soak: &Soak, require_every_kind: bool) {
    let by_key = soak.by_key();
    soak.check_results(&by_key);
    let counts = soak.counts();
    for (name, n) in &counts {
        assert!(
            matches!(*name, "completed" | "ambiguous"),
            "{n} rows ended {name}: faults must end in a result or an ambiguity report"
        );
    }
    // No duplicate create: per input set, at most one job per row carrying it.
    let per_set = soak.rows_per_set();
    for (set, created) in &soak.stats.created_by_inputs {
        let rows = per_set.get(set).copied().unwrap_or(0);
        assert!(
            *created <= rows,
            "input set {set}: {created} jobs for {rows} rows (a duplicate create)"
        );
    }
    assert_eq!(soak.extra_creates(), 0);
    // Under `report` nothing is resent after an ambiguous failure: a second
    // create happens only after a create that surely did not land.
    for o in &soak.outcomes {
        if let OutcomeResult::Ambiguous { candidates, .. } = &o.result {
            assert!(o.job_id.is_none(), "{}: ambiguous with a job", o.key);
            // A candidate is an orphan: a job no row claims.
            for c in candidates {
                assert!(
                    !soak.outcomes.iter().any(|x| x.job_id.as_deref() == Some(c)),
                    "{}: candidate {c} belongs to another row",
                    o.key
                );
            }
        }
    }
    // Every completed row has its own job on the server.
    let completed = counts.get("completed").copied().unwrap_or(0) as u64;
    assert!(soak.stats.jobs_created >= completed);
    // Rows made ambiguous can only come from faults that hit creates.
    let ambiguous = counts.get("ambiguous").copied().unwrap_or(0) as u64;
    let create_faults: u64 = soak
        .stats
        .by_operation_status
        .get("create")
        .map(|by_status| {
            by_status
                .iter()
                .filter(|(s, _)| **s >= 500)
                .map(|(_, n)| *n)
                .sum()
        })
        .unwrap_or(0)
        + [
            FaultKind::AcceptThenDrop,
            FaultKind::Reset,
            FaultKind::Slow,
            FaultKind::SlowDrop,
            FaultKind::Truncated,
            FaultKind::Malformed,
        ]
        .iter()
        .map(|k| soak.stats.faults_of(*k))
        .sum::<u64>();
    assert!(
        ambiguous <= create_faults,
        "{ambiguous} ambiguous rows but only {create_faults} faults that can hit a create"
    );
    if require_every_kind {
        for kind in FaultKind::ALL {
            assert!(
                soak.stats.faults_of(kind) > 0,
                "fault {kind} was never injected: {:?}",
                soak.stats.faults
            );
        }
    }
    // The engine does not amplify faults into a request storm.
    let per_row = soak.stats.total_requests as f64 / soak.rows.len() as f64;
    assert!(per_row < 3.0, "{per_row:.3} requests per row under faults");
}

/// 10,000 rows, every fault kind: runs in CI (a few seconds at 500x).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_10k_rows_every_fault_kind() {
    let soak = soak(10_000, 500.0, 11, AmbiguousPolicy::Report).await;
    soak.report("soak 10k");
    check_report_run(&soak, true);
}

/// The bigger soak: 50,000 rows (about a minute of real time in a debug build).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "long soak; run with --ignored"]
async fn soak_50k_rows_every_fault_kind() {
    let soak = soak(50_000, 500.0, 12, AmbiguousPolicy::Report).await;
    soak.report("soak 50k");
    check_report_run(&soak, true);
}

/// `resend`: every row completes; a duplicate job exists only for a row
/// whose outcome says its create was sent more than once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_resend_every_row_completes_duplicates_only_where_reported() {
    let soak = soak(2_000, 500.0, 13, AmbiguousPolicy::Resend).await;
    soak.report("soak resend 2k");
    let by_key = soak.by_key();
    soak.check_results(&by_key);
    for o in &soak.outcomes {
        assert!(
            matches!(o.result, OutcomeResult::Completed { .. }),
            "{}: {:?} (resend must complete every row)",
            o.key,
            o.result
        );
    }
    // Per input set: at least one job per row, and more only where some
    // row carrying it reports more than one create.
    let mut rows_per_set: HashMap<String, u64> = HashMap::new();
    let mut creates_per_set: HashMap<String, u64> = HashMap::new();
    for row in &soak.rows {
        let set = input_set(row);
        *rows_per_set.entry(set.clone()).or_default() += 1;
        *creates_per_set.entry(set).or_default() += u64::from(by_key[row.key.as_str()].creates);
    }
    let mut resent_rows = 0;
    for (set, rows) in &rows_per_set {
        let created = soak.stats.created_by_inputs.get(set).copied().unwrap_or(0);
        let creates = creates_per_set[set];
        assert!(created >= *rows, "{set}: {created} jobs for {rows} rows");
        assert!(
            created <= creates,
            "{set}: {created} jobs but the outcomes report only {creates} creates"
        );
        if created > *rows {
            resent_rows += 1;
        }
    }
    let reported_resends = soak.outcomes.iter().filter(|o| o.creates > 1).count();
    println!(
        "soak resend 2k: {reported_resends} rows resent, {resent_rows} input sets with a duplicate job, {} extra jobs",
        soak.extra_creates()
    );
    assert!(resent_rows <= reported_resends);
}

//! Markdown tables and the verdicts on the targets, from measured runs only.

use std::fmt::Write as _;

use crate::child::{GATHER_SECS, Kind};
use writer_sim::ListOrder;

use crate::scenarios::{
    BREAKDOWN_OPS, CROWDED, FAULT_MIX, Load, Measured, Phase, QUOTA_PER_MINUTE, order_label,
    percentile, total_count_label,
};

/// A markdown table with a heading and notes under it.
#[derive(Debug, Clone, Default)]
pub struct Table {
    /// The heading (rendered as `### title`).
    pub title: String,
    /// Column names.
    pub headers: Vec<String>,
    /// Cells, row by row.
    pub rows: Vec<Vec<String>>,
    /// Lines of text under the table.
    pub notes: Vec<String>,
}

impl Table {
    pub(crate) fn new(title: &str, headers: &[&str]) -> Self {
        Self {
            title: title.to_string(),
            headers: headers.iter().map(|h| h.to_string()).collect(),
            ..Self::default()
        }
    }

    /// The table as markdown, columns padded to line up in plain text too.
    pub fn render(&self) -> String {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let line = |cells: &[String]| {
            let mut s = String::from("|");
            for (cell, w) in cells.iter().zip(&widths) {
                let pad = w - cell.chars().count();
                let _ = write!(s, " {cell}{} |", " ".repeat(pad));
            }
            s.push('\n');
            s
        };
        let mut out = format!("### {}\n\n", self.title);
        out += &line(&self.headers);
        let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        out += &line(&rule);
        for row in &self.rows {
            out += &line(row);
        }
        if !self.notes.is_empty() {
            out.push('\n');
            for note in &self.notes {
                out += note;
                out.push('\n');
            }
        }
        out
    }
}

/// `1234567` as `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Simulated seconds as `42 s`, `12.5 min` or `1.2 h`.
pub fn duration(secs: f64) -> String {
    if secs < 120.0 {
        format!("{secs:.1} s")
    } else if secs < 7200.0 {
        format!("{:.1} min", secs / 60.0)
    } else {
        format!("{:.2} h", secs / 3600.0)
    }
}

fn delay(d: Option<f64>) -> String {
    d.map(|d| format!("{d:.1} s")).unwrap_or_else(|| "-".into())
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn in_flight(m: &Measured) -> String {
    m.max_in_flight
        .map(|n| thousands(n as u64))
        .unwrap_or_else(|| "default".into())
}

fn outcomes(m: &Measured) -> String {
    m.outcomes
        .iter()
        .map(|(k, n)| format!("{k} {}", thousands(*n)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The comparison table for one application load.
pub fn comparison(runs: &[Measured], load: Load) -> Table {
    let mut table = Table::new(
        &format!(
            "Batch vs naive polling, {} application (job time log-normal, mean 30 s; 100 in flight; list page size 100)",
            load.label()
        ),
        &[
            "Client",
            "Rows",
            "Requests",
            "Req/job",
            "Sim wall time",
            "Wall at 400/min",
            "p50 delay",
            "p95 delay",
            "Floor at that p95",
            "Client CPU",
            "CPU/request",
            "CPU/job",
            "Peak RSS",
            "Outcomes",
        ],
    );
    let runs: Vec<&Measured> = runs.iter().filter(|m| m.load == load).collect();
    for m in &runs {
        table.rows.push(vec![
            m.kind.label().to_string(),
            thousands(m.rows),
            thousands(m.requests()),
            format!("{:.2}", m.requests_per_job()),
            duration(m.wall_secs),
            duration(m.quota_wall_secs()),
            delay(m.delay(50.0)),
            delay(m.delay(95.0)),
            floor_at_p95(m),
            format!("{:.2} s", m.cpu_secs),
            format!("{:.0} µs", m.cpu_us_per_request()),
            format!("{:.0} µs", m.cpu_secs * 1e6 / m.rows.max(1) as f64),
            mib(m.peak_rss_kib),
            outcomes(m),
        ]);
    }
    let scale_of = |naive: bool| {
        runs.iter()
            .find(|m| (m.kind != Kind::Batch) == naive)
            .map(|m| m.scale.to_string())
            .unwrap_or_else(|| "-".into())
    };
    let naive_sizes: Vec<String> = runs
        .iter()
        .filter(|m| m.kind == Kind::Naive1)
        .map(|m| thousands(m.rows))
        .collect();
    let startup = runs.iter().map(|m| m.startup_cpu_secs).fold(0.0, f64::max);
    table.notes = vec![
        format!(
            "Requests are counted by the simulator. Wall at 400/min = max(sim wall time, requests / {QUOTA_PER_MINUTE} per minute): \
             the time the run would take under a {QUOTA_PER_MINUTE} requests/minute quota."
        ),
        "Delay = simulated time from the job finishing on the simulator to the client yielding its outcome. \
         The naive loops sleep 1 s (or 5 s) after each answer before the next GET, so their period is the sleep \
         plus a round trip."
            .to_string(),
        FLOOR_NOTE.to_string(),
        format!(
            "CPU and peak RSS are of the client process alone (a fresh process per run, tokio {} runtime; \
             process and runtime start-up took at most {:.1} ms of it).",
            if runs.iter().any(|m| m.current_thread) {
                "current-thread"
            } else {
                "multi-threaded"
            },
            startup * 1e3
        ),
        format!(
            "Naive loops ran at {} rows here. They run on a slower clock (scale {}) than the batch (scale {}) so that \
             100 requests per simulated second stay within what 2 cores serve in real time; all times are simulated.",
            if naive_sizes.is_empty() { "no".to_string() } else { naive_sizes.join(", ") },
            scale_of(true),
            scale_of(false),
        ),
    ];
    if load == Load::Busy {
        table.notes.push(format!(
            "Busy: {} older jobs of other tenants already on the application, and other tenants creating {} jobs a minute. \
             The naive loops never list, so they ran on it at the smaller sizes only.",
            thousands(u64::from(crate::scenarios::BUSY.prefill_jobs)),
            crate::scenarios::BUSY.jobs_per_minute
        ));
    }
    table
}

/// The quota-bound table.
pub fn quota(runs: &[Measured]) -> Table {
    let mut table = Table::new(
        &format!(
            "Quota-bound batch: client budget .rate(Rate::per_minute({QUOTA_PER_MINUTE})), simulator limit {QUOTA_PER_MINUTE}/min"
        ),
        &[
            "Rows",
            "In flight",
            "Requests",
            "Req/job",
            "Creates alone",
            "Last create",
            "Ideal finish",
            "Last job done",
            "Sim wall time",
            "Wall / creates alone",
            "Wall / ideal",
            "429s",
            "p95 delay",
            "Outcomes",
        ],
    );
    for m in runs {
        let creates_alone = creates_alone_secs(m.rows);
        table.rows.push(vec![
            thousands(m.rows),
            in_flight(m),
            thousands(m.requests()),
            format!("{:.2}", m.requests_per_job()),
            duration(creates_alone),
            duration(m.last_create_secs),
            duration(m.quota_ideal_secs),
            duration(m.floor_secs),
            duration(m.wall_secs),
            format!("{:.2}", m.wall_secs / creates_alone),
            format!("{:.2}", m.wall_secs / m.quota_ideal_secs),
            thousands(m.stats.status(429)),
            delay(m.delay(95.0)),
            outcomes(m),
        ]);
    }
    table.notes = vec![
        format!(
            "Creates alone = rows / {QUOTA_PER_MINUTE} per minute. Last create = when the run's last job was created. \
             Ideal finish = an oracle client under the same quota: one create every {:.2} s and no other request, \
             with this run's job durations, max over jobs of (i x {:.2} s + duration of job i). No client finishes sooner. \
             Last job done = when the run's last job finished on the simulator.",
            60.0 / QUOTA_PER_MINUTE,
            60.0 / QUOTA_PER_MINUTE
        ),
        "With 100 in flight and jobs of ~30 s the batch cannot create more than ~200 jobs a minute, so that run \
         is bound by concurrency, not by the quota (the ideal ignores the in-flight cap); the second run lifts the \
         cap so the quota binds."
            .to_string(),
    ];
    table
}

/// Simulated seconds that `rows` creates alone need under the quota.
pub fn creates_alone_secs(rows: u64) -> f64 {
    rows as f64 / (QUOTA_PER_MINUTE / 60.0)
}

/// The memory scaling table.
pub fn memory(runs: &[Measured]) -> Table {
    let mut table = Table::new(
        "Memory: rows streamed through the batch (fixed 5 s jobs, fast clock, one fresh process per size)",
        &[
            "Rows",
            "Requests",
            "Req/job",
            "Sim wall time",
            "Real time",
            "Client CPU",
            "CPU/request",
            "Peak RSS",
            "Outcomes",
        ],
    );
    for m in runs {
        table.rows.push(vec![
            thousands(m.rows),
            thousands(m.requests()),
            format!("{:.2}", m.requests_per_job()),
            duration(m.wall_secs),
            format!("{:.1} s", m.real_secs),
            format!("{:.2} s", m.cpu_secs),
            format!("{:.0} µs", m.cpu_us_per_request()),
            mib(m.peak_rss_kib),
            outcomes(m),
        ]);
    }
    if let Some(ratio) = memory_ratio(runs) {
        table.notes.push(format!(
            "RSS({}) / RSS({}) = {ratio:.2}",
            thousands(runs.last().map(|m| m.rows).unwrap_or(0)),
            thousands(runs.first().map(|m| m.rows).unwrap_or(0)),
        ));
    }
    if let Some(m) = runs.first() {
        table.notes.push(format!(
            "Clock scale {}; request timeout raised to 1 h of simulated time so CPU contention on a fast clock \
             cannot turn into timeouts.",
            m.scale
        ));
    }
    table
}

/// Peak RSS of the largest run over the smallest.
pub fn memory_ratio(runs: &[Measured]) -> Option<f64> {
    let (first, last) = (runs.first()?, runs.last()?);
    (runs.len() > 1 && first.peak_rss_kib > 0)
        .then(|| last.peak_rss_kib as f64 / first.peak_rss_kib as f64)
}

/// The fault table: one row for a shared application, one for an
/// application declared exclusive (in that order).
pub fn faults(runs: &[Measured]) -> Table {
    let mut table = Table::new(
        "Faults: the batch under an injected fault mix",
        &[
            "Application",
            "Rows",
            "Requests",
            "Req/job",
            "Sim wall time",
            "p95 delay",
            "Outcomes",
            "Ambiguous with a job",
            "Rows lost",
            "Jobs created",
            "Duplicate creates",
            "Faults injected",
        ],
    );
    for (m, kind) in runs.iter().zip(["shared", "exclusive"]) {
        let injected: u64 = m.stats.faults.values().sum();
        table.rows.push(vec![
            kind.to_string(),
            thousands(m.rows),
            thousands(m.requests()),
            format!("{:.2}", m.requests_per_job()),
            duration(m.wall_secs),
            delay(m.delay(95.0)),
            outcomes(m),
            thousands(m.ambiguous_landed),
            thousands(m.lost),
            thousands(m.stats.jobs_created),
            thousands(m.stats.duplicate_creates()),
            thousands(injected),
        ]);
    }
    let Some(m) = runs.first() else {
        return table;
    };
    let by_kind: Vec<String> = m
        .stats
        .faults
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    table.notes = vec![
        format!("Fault mix: `{FAULT_MIX}`."),
        format!("Injected by kind: {}.", by_kind.join(", ")),
        format!(
            "Requests by operation: {}.",
            m.stats
                .by_operation
                .iter()
                .map(|(k, n)| format!("{k} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        "Every row has distinct inputs, so the simulator's jobs-per-input-set count exposes any row created twice. \
         Ambiguous with a job = rows reported ambiguous whose create did make a job on the simulator (the batch \
         reports them with candidate job ids rather than guess). Rows lost = rows with no outcome at all."
            .to_string(),
    ];
    table
}

/// The list-order table: one row per list setting.
pub fn list_order(runs: &[Measured]) -> Table {
    let mut table = Table::new(
        "List order: the batch on an empty application whose list order and totalCount vary (job time log-normal, mean 30 s; 100 in flight; list page size 100)",
        &[
            "List order",
            "totalCount",
            "Rows",
            "Requests",
            "Req/job",
            "Per-job GETs at poll pace",
            "Sim wall time",
            "p50 delay",
            "p95 delay",
            "Poll pace p95 delay",
            "Outcomes",
            "Duplicate creates",
            "Requests by operation",
        ],
    );
    for m in runs {
        table.rows.push(vec![
            order_label(m.list_order).to_string(),
            total_count_label(m.total_count).to_string(),
            thousands(m.rows),
            thousands(m.requests()),
            format!("{:.2}", m.requests_per_job()),
            format!("{:.2}", m.poll_pace.requests_per_job),
            duration(m.wall_secs),
            delay(m.delay(50.0)),
            delay(m.delay(95.0)),
            delay(percentile(&m.poll_pace.delays, 95.0)),
            outcomes(m),
            thousands(m.stats.duplicate_creates()),
            by_operation(m),
        ]);
    }
    table.notes = vec![
        "The simulator's `[list] order`: newest first (the default; new jobs push older ones down), oldest first \
         (new jobs append at the end), unspecified (a stable order by a seeded hash of the id, unrelated to time). \
         totalCount `all` counts all of the application's jobs; `missing` leaves the field out."
            .to_string(),
        "Per-job GETs at poll pace = a client polling each job on its own at the default poll policy's pace \
         (first GET 1 s after the create, waits growing 1.5x to 10 s), for this run's jobs: one create plus the \
         GETs until the job is done, per job; its p95 delay is from a job's finish to the GET that sees it. \
         Target (issue 17): <= 1.2 requests/job for newest and oldest; unspecified no worse than the poll pace."
            .to_string(),
        "Duplicate creates = jobs the simulator created beyond the first for one row's inputs (every row's inputs \
         differ)."
            .to_string(),
    ];
    table
}

/// The busy-quota table: the batch with default settings on a crowded
/// application under the simulator's 400/min limit.
pub fn busy_quota(runs: &[Measured]) -> Table {
    let mut table = Table::new(
        &format!(
            "Busy application under the quota: simulator limit {QUOTA_PER_MINUTE}/min, default batch settings"
        ),
        &[
            "Budget given",
            "In flight",
            "Rows",
            "Requests",
            "Req/job",
            "Creates alone",
            "Last create",
            "Ideal finish",
            "Last job done",
            "Sim wall time",
            "Wall / ideal",
            "429s",
            "p50 delay",
            "p95 delay",
            "Outcomes",
            "Duplicate creates",
            "Requests by operation",
        ],
    );
    for m in runs {
        table.rows.push(vec![
            budget(m),
            in_flight(m),
            thousands(m.rows),
            thousands(m.requests()),
            format!("{:.2}", m.requests_per_job()),
            duration(creates_alone_secs(m.rows)),
            duration(m.last_create_secs),
            duration(m.quota_ideal_secs),
            duration(m.floor_secs),
            duration(m.wall_secs),
            format!("{:.2}", m.wall_secs / m.quota_ideal_secs),
            thousands(m.stats.status(429)),
            delay(m.delay(50.0)),
            delay(m.delay(95.0)),
            outcomes(m),
            thousands(m.stats.duplicate_creates()),
            by_operation(m),
        ]);
    }
    let tenants = runs.first().map(|m| m.tenants).unwrap_or(CROWDED);
    table.notes = vec![
        format!(
            "Busy: {} older jobs of other tenants already on the application, and other tenants creating {} jobs a \
             minute (their jobs cost our key no requests). The simulator answers 429 beyond {QUOTA_PER_MINUTE} requests \
             a minute (bursts of 50).",
            thousands(u64::from(tenants.prefill_jobs)),
            tenants.jobs_per_minute
        ),
        "Default settings: no in-flight cap, page size, poll overhead or concurrency set; `Budget given` is \
         `.rate(Rate::per_minute(400))` (the CLI's `--rate 400/min`), or nothing at all (the batch learns the limit \
         from 429s). Target (issue 18): <= 1.20 requests/job."
            .to_string(),
        format!(
            "Ideal finish = the oracle of the quota table: one create every {:.2} s and no other request, with this \
             run's job durations. Last job done = when the run's last job finished on the simulator.",
            60.0 / QUOTA_PER_MINUTE
        ),
    ];
    table
}

fn budget(m: &Measured) -> String {
    m.rate_per_minute
        .map(|r| format!("{r}/min"))
        .unwrap_or_else(|| "none".into())
}

fn by_operation(m: &Measured) -> String {
    m.stats
        .by_operation
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A comparison run's name in the breakdown.
pub fn comparison_label(m: &Measured) -> String {
    format!("{} application", m.load.label())
}

/// A list-order run's name in the breakdown.
pub fn list_order_label(m: &Measured) -> String {
    let order = match m.list_order {
        ListOrder::Unspecified => "unspecified order".to_string(),
        order => format!("{} first", order_label(order)),
    };
    format!("{order}, totalCount {}", total_count_label(m.total_count))
}

/// A busy-quota run's name in the breakdown.
pub fn busy_quota_label(m: &Measured) -> String {
    format!("busy, budget {}", budget(m))
}

/// Where the requests went: by phase and operation, one block of rows per
/// batch run.
pub fn breakdown(title: &str, runs: &[&Measured], label: impl Fn(&Measured) -> String) -> Table {
    let mut headers = vec!["Run", "Rows", "Phase", "Span"];
    headers.extend(BREAKDOWN_OPS);
    headers.extend(["429s", "Total", "Per row"]);
    let mut table = Table::new(&format!("Where requests go: {title}"), &headers);
    for m in runs {
        let b = &m.breakdown;
        let mut all_ops = vec![0u64; BREAKDOWN_OPS.len()];
        let mut all_throttled = 0;
        for phase in Phase::ALL {
            let mut row = vec![
                label(m),
                thousands(m.rows),
                phase.label().to_string(),
                duration(b.secs.get(&phase).copied().unwrap_or(0.0)),
            ];
            for (i, op) in BREAKDOWN_OPS.iter().enumerate() {
                let n = b.count(phase, op);
                all_ops[i] += n;
                row.push(thousands(n));
            }
            let throttled = b.throttled.get(&phase).copied().unwrap_or(0);
            all_throttled += throttled;
            let total = b.phase_total(phase);
            row.push(thousands(throttled));
            row.push(thousands(total));
            row.push(format!("{:.3}", total as f64 / m.rows.max(1) as f64));
            table.rows.push(row);
        }
        let total: u64 = all_ops.iter().sum();
        let mut row = vec![
            label(m),
            thousands(m.rows),
            "all".to_string(),
            duration(m.wall_secs),
        ];
        row.extend(all_ops.iter().map(|n| thousands(*n)));
        row.push(thousands(all_throttled));
        row.push(thousands(total));
        row.push(format!("{:.3}", total as f64 / m.rows.max(1) as f64));
        table.rows.push(row);
    }
    table.notes = vec![
        "From the simulator's own request log (every request with its arrival time in simulated time). \
         Phases: start = until the first of the run's jobs finishes on the simulator; tail = after the last create \
         (when every create came before the first finish, from the first finish on); steady = between. \
         Span = the phase's simulated time, from the client's start to its last outcome. retry = the API's retry \
         operation (of a failed job); app = the application's details; other = anything else (none expected). \
         429s = requests answered 429, also counted under their operation. Per row = the phase's requests / rows."
            .to_string(),
    ];
    table
}

/// How the floor column is computed (see [`crate::floor`]).
pub const FLOOR_NOTE: &str = "Floor at that p95 = the fewest requests per job of any client that, at each sweep, \
     looks at every job of its own still running (list pages newest first back to some job, 100 jobs a page, other \
     tenants' jobs included, and a GET for each older one, the cheapest split), sweeping at the cheapest fixed period \
     whose p95 delay is within the run's measured p95; played on the run's own jobs (creation and finish times from the \
     simulator) with answers that take no time: 1 + sweep requests / rows.";

/// The computed floor at the run's own p95 delay (`-` for naive runs).
fn floor_at_p95(m: &Measured) -> String {
    if m.kind != Kind::Batch {
        return "-".into();
    }
    m.delay(95.0)
        .and_then(|d| m.sweep_jobs.floor(d))
        .map(|f| format!("{:.3}", f.requests_per_job))
        .unwrap_or_else(|| "-".into())
}

/// The poll-overhead sweep: requests per job and delays at each overhead,
/// with the computed floor at each run's p95, and the floor at set delays.
pub fn overhead(runs: &[Measured]) -> Table {
    let mut table = Table::new(
        "Requests per job vs result delay: the batch at each poll overhead (empty application, job time log-normal, mean 30 s; 100 in flight; list page size 100)",
        &[
            "Poll overhead",
            "Poll max interval",
            "Rows",
            "Requests",
            "Req/job",
            "list",
            "get",
            "p50 delay",
            "p95 delay",
            "Floor at that p95",
            "Above the floor",
        ],
    );
    for m in runs {
        let floor = m.delay(95.0).and_then(|d| m.sweep_jobs.floor(d));
        let ops = |op: &str| {
            Phase::ALL
                .iter()
                .map(|p| m.breakdown.count(*p, op))
                .sum::<u64>()
        };
        table.rows.push(vec![
            m.poll_overhead
                .map(|o| format!("{o:.2}"))
                .unwrap_or_else(|| "default".into()),
            m.poll_max_interval_secs
                .map(|s| format!("{s:.0} s"))
                .unwrap_or_else(|| "10 s (default)".into()),
            thousands(m.rows),
            thousands(m.requests()),
            format!("{:.3}", m.requests_per_job()),
            thousands(ops("list")),
            thousands(ops("get")),
            delay(m.delay(50.0)),
            delay(m.delay(95.0)),
            floor
                .map(|f| format!("{:.3}", f.requests_per_job))
                .unwrap_or_else(|| "-".into()),
            floor
                .map(|f| format!("{:+.3}", m.requests_per_job() - f.requests_per_job))
                .unwrap_or_else(|| "-".into()),
        ]);
    }
    if let Some(m) = runs.iter().find(|m| m.poll_overhead.is_none()) {
        let points: Vec<String> = FLOOR_DELAYS
            .iter()
            .filter_map(|&d| {
                m.sweep_jobs.floor(d).map(|f| {
                    format!(
                        "p95 <= {d:.0} s: {:.3} (a sweep every {:.1} s, {:.3} pages + {:.3} GETs per job)",
                        f.requests_per_job, f.period_secs, f.pages_per_job, f.gets_per_job
                    )
                })
            })
            .collect();
        table.notes.push(format!(
            "Computed floor on the default run's jobs: {}.",
            points.join("; ")
        ));
    }
    table.notes.push(FLOOR_NOTE.to_string());
    table.notes.push(
        "The poll overhead spaces sweeps at about that many requests per created job while creating; the poll policy's \
         maximum interval caps the gap between sweeps (so a finished job is seen within it), and below some overhead \
         the cap binds and the overhead no longer matters. Longer gaps (a longer maximum interval) trade delay for requests."
            .to_string(),
    );
    table
}

/// The delays the floor is tabulated and plotted at.
pub const FLOOR_DELAYS: [f64; 6] = [5.0, 7.5, 10.0, 12.5, 15.0, 20.0];

/// Everything measured in one bench run (each part optional: `--only`).
#[derive(Debug, Default)]
pub struct Results {
    /// The comparison runs.
    pub comparison: Vec<Measured>,
    /// The quota-bound runs.
    pub quota: Vec<Measured>,
    /// The memory runs.
    pub memory: Vec<Measured>,
    /// The fault run.
    pub faults: Vec<Measured>,
    /// The list-order runs.
    pub list_order: Vec<Measured>,
    /// The busy-quota runs.
    pub busy_quota: Vec<Measured>,
    /// The ambiguity runs.
    pub ambiguity: Vec<Measured>,
    /// The poll-overhead runs.
    pub overhead: Vec<Measured>,
    /// The comparison's CPU runs on the other tokio runtime.
    pub runtimes: Vec<Measured>,
}

/// One line per target: met, not met, or not measured in this run.
pub fn verdicts(results: &Results) -> Vec<String> {
    let mut out = Vec::new();

    // Requests per job at 1,000 rows.
    let at_1000: Vec<&Measured> = results
        .comparison
        .iter()
        .filter(|m| m.kind == Kind::Batch && m.rows == 1_000)
        .collect();
    if at_1000.is_empty() {
        out.push("requests/job at 1,000 rows: not measured in this run".into());
    } else {
        let worst = at_1000
            .iter()
            .map(|m| m.requests_per_job())
            .fold(0.0, f64::max);
        let each: Vec<String> = at_1000
            .iter()
            .map(|m| format!("{} {:.3}", m.load.label(), m.requests_per_job()))
            .collect();
        let naive: Vec<String> = results
            .comparison
            .iter()
            .filter(|m| m.kind == Kind::Naive1 && m.rows == 1_000)
            .map(|m| format!("{} {:.1}", m.load.label(), m.requests_per_job()))
            .collect();
        out.push(format!(
            "{}: writer-jobs at 1,000 rows <= 1.3 requests/job ({}; stretch 1.1: {}; naive 1 s poll: {})",
            mark(worst <= 1.3),
            each.join(", "),
            if worst <= 1.1 { "met" } else { "not met" },
            if naive.is_empty() { "not run".into() } else { naive.join(", ") },
        ));
    }

    // Quota-bound time.
    // The default flags' run (rows in flight sized from the budget).
    match results.quota.iter().find(|m| m.max_in_flight.is_none()) {
        None => out.push(
            "quota-bound batch with default flags within 1.10x the ideal finish: not measured in \
             this run"
                .into(),
        ),
        Some(m) => {
            let alone = creates_alone_secs(m.rows);
            let ratio = m.wall_secs / m.quota_ideal_secs;
            out.push(format!(
                "{}: quota-bound batch ({} rows, {} in flight) within 1.10x the ideal finish: {} vs {} = {:.2}x \
                 (with 30 s jobs no client can finish before the ideal). Its creates alone took {} ({:.2}x the \
                 {} the creates need at the quota; {} requests, {} answered 429)",
                mark(ratio <= 1.10),
                thousands(m.rows),
                in_flight(m),
                duration(m.wall_secs),
                duration(m.quota_ideal_secs),
                ratio,
                duration(m.last_create_secs),
                m.last_create_secs / alone,
                duration(alone),
                thousands(m.requests()),
                thousands(m.stats.status(429)),
            ));
        }
    }

    // Memory.
    match memory_ratio(&results.memory) {
        None => out.push("RSS(100k)/RSS(1k) <= 2: not measured in this run".into()),
        Some(ratio) => {
            let (first, last) = (
                &results.memory[0],
                &results.memory[results.memory.len() - 1],
            );
            out.push(format!(
                "{}: RSS({}) / RSS({}) <= 2: {} / {} = {ratio:.2}",
                mark(ratio <= 2.0),
                thousands(last.rows),
                thousands(first.rows),
                mib(last.peak_rss_kib),
                mib(first.peak_rss_kib),
            ));
        }
    }

    cpu_verdict(results, &mut out);

    delay_verdict(results, &mut out);
    fault_delay_verdict(&results.faults, &mut out);

    list_order_verdicts(&results.list_order, &mut out);
    busy_quota_verdict(&results.busy_quota, &mut out);
    crate::ambiguity::verdicts(&results.ambiguity, &mut out);
    out
}

pub(crate) fn mark(ok: bool) -> &'static str {
    if ok { "MET" } else { "NOT MET" }
}

/// Issue 17's targets for the list-order runs.
fn list_order_verdicts(runs: &[Measured], out: &mut Vec<String>) {
    if runs.is_empty() {
        out.push(
            "list order: <= 1.2 requests/job newest and oldest first: not measured in this run"
                .into(),
        );
        return;
    }
    let rows = thousands(runs[0].rows);
    let each = |m: &Measured| {
        format!(
            "{}/totalCount {} {:.3}",
            order_label(m.list_order),
            total_count_label(m.total_count),
            m.requests_per_job()
        )
    };
    let ordered: Vec<&Measured> = runs
        .iter()
        .filter(|m| m.list_order != ListOrder::Unspecified)
        .collect();
    if !ordered.is_empty() {
        let worst = ordered
            .iter()
            .map(|m| m.requests_per_job())
            .fold(0.0, f64::max);
        out.push(format!(
            "{}: list order newest and oldest first, {rows} rows, <= 1.2 requests/job ({})",
            mark(worst <= 1.2),
            ordered
                .iter()
                .map(|m| each(m))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let unspecified: Vec<&Measured> = runs
        .iter()
        .filter(|m| m.list_order == ListOrder::Unspecified)
        .collect();
    if !unspecified.is_empty() {
        let ok = unspecified
            .iter()
            .all(|m| m.requests_per_job() <= m.poll_pace.requests_per_job);
        out.push(format!(
            "{}: list order unspecified, {rows} rows, no more requests/job than per-job GETs at the poll policy's pace ({})",
            mark(ok),
            unspecified
                .iter()
                .map(|m| format!(
                    "{} vs pace {:.3}, p95 delay {} vs pace {}",
                    each(m),
                    m.poll_pace.requests_per_job,
                    delay(m.delay(95.0)),
                    delay(percentile(&m.poll_pace.delays, 95.0))
                ))
                .collect::<Vec<_>>()
                .join("; ")
        ));
    }
    let duplicates: u64 = runs.iter().map(|m| m.stats.duplicate_creates()).sum();
    let incomplete: u64 = runs
        .iter()
        .map(|m| m.rows - m.outcomes.get("completed").copied().unwrap_or(0))
        .sum();
    out.push(format!(
        "{}: list order, every setting: 0 duplicate creates and every row completed ({duplicates} duplicates, {incomplete} rows not completed)",
        mark(duplicates == 0 && incomplete == 0)
    ));
}

/// The name of a run's tokio runtime.
fn runtime_label(m: &Measured) -> &'static str {
    if m.current_thread {
        "current-thread (the CLI's)"
    } else {
        "multi-threaded"
    }
}

/// Client CPU on both tokio runtimes: the comparison's empty-application
/// runs of the batch at its largest size and of the naive 1 s loop, beside
/// the same clients on the other runtime.
pub fn runtimes(comparison: &[Measured], others: &[Measured]) -> Table {
    let mut table = Table::new(
        "Client CPU by tokio runtime, empty application (job time log-normal, mean 30 s; 100 in flight)",
        &[
            "Client",
            "Runtime",
            "Rows",
            "Requests",
            "Req/job",
            "Client CPU",
            "CPU/request",
            "CPU/job",
            "Wake-ups",
            "Pages read",
            "Peak RSS",
        ],
    );
    for m in cpu_runs(comparison, others) {
        let runtime = match m.round {
            0 => runtime_label(m).to_string(),
            round => format!("{}, run {}", runtime_label(m), round + 1),
        };
        table.rows.push(vec![
            m.kind.label().to_string(),
            runtime,
            thousands(m.rows),
            thousands(m.requests()),
            format!("{:.2}", m.requests_per_job()),
            format!("{:.2} s", m.cpu_secs),
            format!("{:.0} µs", m.cpu_us_per_request()),
            format!("{:.0} µs", m.cpu_secs * 1e6 / m.rows.max(1) as f64),
            thousands(m.context_switches),
            format!("{:.1} MiB", m.list_bytes as f64 / 1_048_576.0),
            mib(m.peak_rss_kib),
        ]);
    }
    table.notes = vec![
        "CPU of the client process alone (user + system, all its threads), one fresh process per run. The CLI \
         runs tokio's current-thread runtime; a library user's `#[tokio::main]` gives the multi-threaded one, \
         whose wake-ups cross threads. Wake-ups: the context switches of all the client's threads (each sleep \
         and wake-up costs CPU of its own on this machine). Pages read: the bodies of the list pages the client \
         was answered, by the simulator's log."
            .to_string(),
        "\"The batch's requests, bare\" sends the batch run's own requests on the same runtime (a create per row \
         and as many first pages of 100 jobs as the batch read) through reqwest with nothing else: no engine, no \
         decoding, no timers, no outcome lines. It is the floor of the batch's CPU per job. \"The batch's requests, \
         writer-jobs Client\" sends them through the library's `Client` (retries, timeouts, error classification, \
         decoding; list pages decoded whole) without the batch engine: the client's layers above the floor, and \
         the engine above them. Both send back to back, 100 in flight."
            .to_string(),
        "\"At its times\": the same, each request sent when the current-thread batch run sent it (the simulator's \
         log of that run: its creates and list pages, simulated time from its start), each list page the page the \
         batch read (its offset and size: as long an answer as the batch's), whatever else is in flight. \
         The batch sends as its jobs finish, spread over the run, and is woken for a few answers at a time; back to \
         back, the same requests share wake-ups and warm caches. A replay waits on a timer for each burst of \
         requests (those within 1 ms of the burst's first, as the creates the batch sends on one wake-up), so it \
         can still be woken more often than the batch was (compare the wake-ups): only a replay woken no more \
         often than the batch bounds what the batch's pace costs."
            .to_string(),
        "\"Writer-api's generated client\": the same requests at the batch's times through the generated \
         client alone (progenitor's code over reqwest, with writer-api's hooks: credentials, a tracing span, the \
         bounded body read), each create's answer decoded into the generated type, each list page's body parsed \
         as JSON and dropped: less than any client must do with these requests on the crate writer-jobs is built \
         on, so the floor of its CPU at that pace."
            .to_string(),
        "\"Creates every 30 s\": the same bare requests at the batch's times, but each create moved to the end \
         of its 30 s bucket (simulated time; the list pages keep their times): a client that starts rows in bursts \
         far apart to be woken less, at the price of rows waiting up to 30 s to start."
            .to_string(),
        "\"Run 2\", \"run 3\": the CLI's batch run again, each run's requests replayed at its own times, bare \
         and through the generated client: CPU seconds vary by a tenth or more from run to run here, so the \
         verdict compares the medians of these runs."
            .to_string(),
    ];
    table
}

/// The empty-application CPU runs on each runtime: the batch at the
/// largest size measured, the naive 1 s loop at the size measured on both.
fn cpu_runs<'a>(comparison: &'a [Measured], others: &'a [Measured]) -> Vec<&'a Measured> {
    let batch_rows = others
        .iter()
        .filter(|m| m.kind == Kind::Batch)
        .map(|m| m.rows)
        .max();
    let naive_rows = others
        .iter()
        .filter(|m| m.kind == Kind::Naive1)
        .map(|m| m.rows)
        .max();
    let wanted = |m: &&Measured| {
        m.load == Load::Empty
            && match m.kind {
                Kind::Batch
                | Kind::Replay
                | Kind::ReplayClient
                | Kind::ReplayTimed
                | Kind::ReplayClientTimed
                | Kind::ReplayGeneratedTimed
                | Kind::ReplayGathered => Some(m.rows) == batch_rows,
                Kind::Naive1 => Some(m.rows) == naive_rows,
                Kind::Naive5 => false,
            }
    };
    comparison
        .iter()
        .filter(wanted)
        .chain(others.iter().filter(wanted))
        .collect()
}

/// The CPU per job of each of the CPU rounds' runs of `kind` at `rows`
/// (the CLI's current-thread runtime, empty application), sorted: a
/// median and a range rather than one run (see `Plan::cpu_rounds`).
fn rounds_of(results: &Results, kind: Kind, rows: u64) -> Vec<(f64, u64)> {
    let mut runs: Vec<(f64, u64)> = results
        .comparison
        .iter()
        .chain(&results.runtimes)
        .filter(|m| m.kind == kind && m.rows == rows && m.current_thread && m.load == Load::Empty)
        .map(|m| (m.cpu_secs * 1e6 / m.rows.max(1) as f64, m.context_switches))
        .collect();
    runs.sort_by(|a, b| a.0.total_cmp(&b.0));
    runs
}

/// The median of the CPU rounds' runs (CPU per job, and the wake-ups of
/// that run), with "median of N runs, LOW-HIGH" when there are several.
struct Rounds {
    per_job: f64,
    woken: u64,
    text: String,
}

impl Rounds {
    fn of(runs: &[(f64, u64)]) -> Option<Rounds> {
        let &(per_job, woken) = runs.get(runs.len().checked_sub(1)? / 2)?;
        let text = match runs {
            [_] => format!("{per_job:.0} µs/job"),
            [first, .., last] => format!(
                "{per_job:.0} µs/job (median of {} runs, {:.0}-{:.0})",
                runs.len(),
                first.0,
                last.0
            ),
            [] => return None,
        };
        Some(Rounds {
            per_job,
            woken,
            text,
        })
    }
}

/// Issue 18: client CPU <= 60 µs per job at 10,000 rows, with what bounds
/// it: the same requests sent bare on the same runtime (see
/// `replay.rs`: reqwest, the kernel and the transport, nothing of the
/// batch's own), and for comparison the CPU of one GET of the naive 1 s
/// loop.
fn cpu_verdict(results: &Results, out: &mut Vec<String>) {
    let batch: Vec<&Measured> = results
        .comparison
        .iter()
        .filter(|m| m.kind == Kind::Batch)
        .collect();
    let Some(rows) = batch.iter().map(|m| m.rows).max() else {
        out.push("client CPU <= 60 µs per job at 10,000 rows: not measured in this run".into());
        return;
    };
    let per_job = |m: &Measured| m.cpu_secs * 1e6 / m.rows.max(1) as f64;
    let mut runs: Vec<&Measured> = batch.into_iter().filter(|m| m.rows == rows).collect();
    runs.extend(
        results
            .runtimes
            .iter()
            .filter(|m| m.kind == Kind::Batch && m.rows == rows && m.round == 0),
    );
    let on = |kind: Kind, current_thread: bool| {
        results
            .comparison
            .iter()
            .chain(&results.runtimes)
            .filter(|m| {
                m.kind == kind && m.load == Load::Empty && m.current_thread == current_thread
            })
            .max_by_key(|m| m.rows)
    };
    // A run's requests through the generated client alone at the run's
    // own times, on its runtime and application (the first round's).
    let at_its_pace = |m: &Measured| {
        results.runtimes.iter().find(|g| {
            g.kind == Kind::ReplayGeneratedTimed
                && g.rows == m.rows
                && g.load == m.load
                && g.current_thread == m.current_thread
                && g.round == 0
        })
    };
    let mut floors = Vec::new();
    let each: Vec<String> = runs
        .iter()
        .map(|m| {
            let mut floor = String::new();
            if m.load == Load::Empty
                && let Some(r) = on(Kind::Replay, m.current_thread).filter(|r| r.rows == m.rows)
            {
                floors.push(per_job(r));
                floor = format!(
                    "; floor {:.0} µs/job: the same {} creates and list pages sent bare, batch/floor {:.2}",
                    per_job(r),
                    thousands(r.rows),
                    per_job(m) / per_job(r).max(f64::MIN_POSITIVE)
                );
                if let Some(c) =
                    on(Kind::ReplayClient, m.current_thread).filter(|c| c.rows == m.rows)
                {
                    floor += &format!(
                        "; the same requests through writer-jobs' Client without the engine {:.0} µs/job",
                        per_job(c)
                    );
                }
            }
            if let Some(g) = at_its_pace(m) {
                floor += &format!(
                    "; its own requests at its own times through writer-api's generated client \
                     alone {:.0} µs/job, woken {} times against the batch's {}, the batch {:.0} \
                     above it",
                    per_job(g),
                    thousands(g.context_switches),
                    thousands(m.context_switches),
                    per_job(m) - per_job(g)
                );
            }
            if let Some(n) = on(Kind::Naive1, m.current_thread) {
                floor += &format!(
                    "; one naive GET {:.0} µs",
                    n.cpu_us_per_request()
                );
            }
            format!(
                "{} application, {} runtime: {:.0} µs/job ({:.0} µs/request{floor})",
                m.load.label(),
                runtime_label(m),
                per_job(m),
                m.cpu_us_per_request(),
            )
        })
        .collect();
    // Each runtime's figure: one run multi-threaded, the rounds' median
    // on the CLI's current-thread runtime.
    let cli = Rounds::of(&rounds_of(results, Kind::Batch, rows));
    let figure = |m: &Measured| match &cli {
        Some(median) if m.current_thread && m.load == Load::Empty => median.per_job,
        _ => per_job(m),
    };
    let worst = runs.iter().map(|m| figure(m)).fold(0.0, f64::max);
    let best = runs.iter().map(|m| figure(m)).fold(f64::MAX, f64::min);
    let bound = floors.iter().copied().fold(f64::MAX, f64::min);
    let mut bounded = if bound > 60.0 && bound < f64::MAX {
        format!(
            ". The floor itself is above the target ({bound:.0} µs/job at best): no client sending \
             these requests through reqwest on this machine can meet it"
        )
    } else {
        String::new()
    };
    // The target holds for every run only if it holds for the run whose
    // generated-client floor at its own pace is highest. A replay woken
    // more often than its batch is no floor for the batch's pace.
    let paced = runs
        .iter()
        .filter_map(|m| {
            let g = at_its_pace(m).filter(|g| g.context_switches <= m.context_switches)?;
            Some((m, per_job(g)))
        })
        .max_by(|a, b| a.1.total_cmp(&b.1));
    if let Some((m, g)) = paced {
        bounded += &format!(
            ". Highest floor of a run at its own pace: {g:.0} µs/job ({} application, {} runtime: \
             its requests through writer-api's generated client alone, woken no more than the \
             batch){}",
            m.load.label(),
            runtime_label(m),
            if g > 60.0 {
                ", above the target: no client built on the generated client meets the target on \
                 every run on this machine"
            } else {
                ", within the target"
            }
        );
    }
    let timed = |kind: Kind| {
        results
            .runtimes
            .iter()
            .find(|m| m.kind == kind && m.rows == rows && m.current_thread && m.load == Load::Empty)
    };
    // The CLI's batch (`cli`, above) and its floors at its pace: medians
    // of the CPU rounds.
    let bare = Rounds::of(&rounds_of(results, Kind::ReplayTimed, rows));
    let generated = Rounds::of(&rounds_of(results, Kind::ReplayGeneratedTimed, rows));
    // Whether the replays read as much as the batch: its first run's pages
    // against its bare replay's.
    let first_batch = runs
        .iter()
        .find(|m| m.current_thread && m.load == Load::Empty);
    let pages = match (first_batch, timed(Kind::ReplayTimed)) {
        (Some(batch), Some(bare)) => format!(
            "; the bare replay was answered {:.1} MiB of list pages, the batch {:.1} MiB",
            bare.list_bytes as f64 / 1_048_576.0,
            batch.list_bytes as f64 / 1_048_576.0
        ),
        _ => String::new(),
    };
    let cli_median = cli.as_ref().map_or(String::new(), |c| {
        format!(". The CLI's batch (current-thread runtime): {}", c.text)
    });
    let at_its_times = match (&bare, timed(Kind::ReplayClientTimed), &cli) {
        (Some(bare), Some(client), Some(batch)) => {
            // A replay waits on a timer for each burst of requests, so it may
            // be woken more often than the batch was: then its cost is no
            // floor for the batch's pace.
            let woken = if bare.woken > batch.woken {
                "more than the batch: not a floor for the batch's pace"
            } else if bare.per_job > 60.0 {
                "no more than the batch: at the batch's pace, sent as its jobs finish and woken for \
                 a few answers at a time, the bare requests alone cost more than the target"
            } else {
                "no more than the batch: the floor at the batch's pace is below the target"
            };
            format!(
                ". Sent at its own times (each request when it sent it, each list page the page it read), \
                 the same requests cost {} bare and {:.0} µs/job through writer-jobs' Client, woken {} times \
                 bare against the batch's {} ({woken}){pages}",
                bare.text,
                per_job(client),
                thousands(bare.woken),
                thousands(batch.woken),
            )
        }
        _ => String::new(),
    };
    // The floor of any client built on writer-api's generated client:
    // the batch's requests through it alone, at the batch's times.
    let on_generated = match (&generated, &cli) {
        (Some(g), Some(batch)) => {
            let woken = if g.woken > batch.woken {
                "more than the batch: not a floor for the batch's pace"
            } else if g.per_job > 60.0 {
                "no more than the batch: at the batch's pace, these requests through the generated \
                 client alone cost more than the target, so no client built on it can meet it here"
            } else {
                "no more than the batch: the generated client's floor at the batch's pace is below \
                 the target"
            };
            format!(
                ". Through writer-api's generated client alone (progenitor's code over reqwest, which \
                 writer-jobs is built on; each create's answer decoded, each page parsed and dropped), \
                 at the same times: {}, woken {} times ({woken}); the batch spends {:.0} µs/job above it",
                g.text,
                thousands(g.woken),
                batch.per_job - g.per_job,
            )
        }
        _ => String::new(),
    };
    let gathered = timed(Kind::ReplayGathered).map_or_else(String::new, |g| {
        format!(
            ". With its creates gathered into {:.0} s buckets (each row waiting up to that long to \
             start, its list pages at their times), the bare requests cost {:.0} µs/job, woken {} \
             times{}",
            GATHER_SECS,
            per_job(g),
            thousands(g.context_switches),
            if per_job(g) > 60.0 {
                ": starting rows in bursts alone does not bring a client of these requests to the target"
            } else {
                ""
            }
        )
    });
    out.push(format!(
        "{}: client CPU <= 60 µs per job, batch at {} rows (every run: {}; best {:.0} µs/job). Floor = \
         the batch's own requests (a create per row, its list pages) sent bare through reqwest on the same \
         runtime, answers read and dropped: the HTTP client, kernel and transport, which no batch of these \
         requests can avoid{bounded}{cli_median}{at_its_times}{on_generated}{gathered}",
        mark(worst <= 60.0 && rows >= 10_000),
        thousands(rows),
        each.join("; "),
        best,
    ));
}

/// Issue 18: the p95 result delay under the fault mix stays under 15 s.
fn fault_delay_verdict(runs: &[Measured], out: &mut Vec<String>) {
    if runs.is_empty() {
        out.push("p95 result delay under the fault mix < 15 s: not measured in this run".into());
        return;
    }
    let worst = runs
        .iter()
        .filter_map(|m| m.delay(95.0))
        .fold(0.0, f64::max);
    let each: Vec<String> = runs
        .iter()
        .map(|m| {
            format!(
                "{} application {}",
                if m.exclusive { "exclusive" } else { "shared" },
                delay(m.delay(95.0))
            )
        })
        .collect();
    out.push(format!(
        "{}: p95 result delay under the fault mix < 15 s ({})",
        mark(worst < 15.0),
        each.join(", ")
    ));
}

/// Issue 18: <= 1.10 requests/job at p95 <= 10 s, or <= 1.05 at p95 <=
/// 15 s, 1,000 rows on the empty application with the default settings;
/// with the computed floor for each.
fn delay_verdict(results: &Results, out: &mut Vec<String>) {
    let run = results
        .comparison
        .iter()
        .find(|m| m.kind == Kind::Batch && m.rows == 1_000 && m.load == Load::Empty);
    let Some(m) = run else {
        out.push(
            "requests/job vs result delay (<= 1.10 at p95 <= 10 s or <= 1.05 at p95 <= 15 s, 1,000 rows): \
             not measured in this run"
                .into(),
        );
        return;
    };
    let rpj = m.requests_per_job();
    let p95 = m.delay(95.0).unwrap_or(f64::INFINITY);
    let floor = |d: f64| {
        m.sweep_jobs
            .floor(d)
            .map(|f| {
                format!(
                    "{:.3} (a sweep every {:.1} s)",
                    f.requests_per_job, f.period_secs
                )
            })
            .unwrap_or_else(|| "-".into())
    };
    let at_10 = rpj <= 1.10 && p95 <= 10.0;
    let at_15 = rpj <= 1.05 && p95 <= 15.0;
    out.push(format!(
        "{}: requests/job vs result delay, 1,000 rows, empty application, default settings: <= 1.10 at p95 <= 10 s \
         ({}) or <= 1.05 at p95 <= 15 s ({}): measured {rpj:.3} requests/job at p95 {p95:.1} s. Computed floor \
         (every running job looked at each sweep, this run's jobs): {} at p95 <= 10 s, {} at p95 <= 15 s, {} at the \
         measured p95",
        mark(at_10 || at_15),
        if at_10 { "met" } else { "not met" },
        if at_15 { "met" } else { "not met" },
        floor(10.0),
        floor(15.0),
        floor(p95),
    ));
}

fn busy_quota_verdict(runs: &[Measured], out: &mut Vec<String>) {
    if runs.is_empty() {
        out.push("busy application under the quota, default settings, <= 1.20 requests/job: not measured in this run".into());
        return;
    }
    let worst = runs
        .iter()
        .map(|m| m.requests_per_job())
        .fold(0.0, f64::max);
    let each: Vec<String> = runs
        .iter()
        .map(|m| {
            format!(
                "budget {}: {:.3} requests/job, {} answered 429, finished in {} = {:.2}x the ideal {}",
                budget(m),
                m.requests_per_job(),
                thousands(m.stats.status(429)),
                duration(m.wall_secs),
                m.wall_secs / m.quota_ideal_secs,
                duration(m.quota_ideal_secs),
            )
        })
        .collect();
    out.push(format!(
        "{}: busy application under the quota ({} rows, default settings) <= 1.20 requests/job ({})",
        mark(worst <= 1.20),
        thousands(runs[0].rows),
        each.join("; ")
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
    }

    #[test]
    fn tables_line_up() {
        let mut t = Table::new("T", &["a", "long header"]);
        t.rows.push(vec!["wide cell".into(), "1".into()]);
        let text = t.render();
        let lines: Vec<&str> = text.lines().skip(2).collect();
        assert_eq!(lines[0], "| a         | long header |");
        assert_eq!(lines[1], "| --------- | ----------- |");
        assert_eq!(lines[2], "| wide cell | 1           |");
    }

    #[test]
    fn durations_pick_a_unit() {
        assert_eq!(duration(42.0), "42.0 s");
        assert_eq!(duration(600.0), "10.0 min");
        assert_eq!(duration(7200.0), "2.00 h");
    }
}

//! `writer-bench`: the writer-jobs batch engine against naive polling loops,
//! on writer-sim, with client and simulator on the same scaled clock.
//!
//! Run it with `cargo xtask bench [--save] [--quick] [--only SCENARIO]`. It
//! prints markdown tables; `--save` also writes them to `bench/results.md`.
//! Each measured client runs in a fresh child process (the hidden `client`
//! subcommand, see [`child`]) so that its CPU time and peak RSS are its own.
//! Request counts come from the simulator, never from the client.

mod ambiguity;
mod child;
mod floor;
mod naive;
mod oracle;
mod plots;
mod replay;
mod report;
mod scenarios;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand, ValueEnum};

use crate::child::Kind;
use crate::report::{Results, Table};
use crate::scenarios::{Load, Measured, Plan};

/// Benchmarks of writer-jobs against naive polling loops, on writer-sim.
#[derive(Debug, Parser)]
#[command(name = "writer-bench", about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Also write the tables to bench/results.md (or --out), the charts
    /// (SVG) beside it, and the README's performance section.
    #[arg(long)]
    save: bool,
    /// Where --save writes (default: bench/results.md in the workspace).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Smaller sizes, for trying changes (about a minute).
    #[arg(long)]
    quick: bool,
    /// Tiny sizes: every code path in a few seconds (the smoke test).
    #[arg(long, hide = true)]
    smoke: bool,
    /// Run only these scenarios (repeatable).
    #[arg(long, value_enum)]
    only: Vec<Scenario>,
    /// Seed of every simulator (default 42).
    #[arg(long)]
    seed: Option<u64>,
    /// Clock scale of the batch runs (simulated seconds per real second).
    #[arg(long)]
    scale: Option<f64>,
    /// Clock scale of the naive runs.
    #[arg(long)]
    naive_scale: Option<f64>,
    /// Run the measured clients on tokio's single-threaded runtime (default:
    /// the multi-threaded one, as `#[tokio::main]` gives).
    #[arg(long)]
    current_thread: bool,
    /// The batch's polling requests per job to aim for (default: the
    /// library's own).
    #[arg(long)]
    poll_overhead: Option<f64>,
    /// Row counts of the batch comparison runs, e.g. `100,1000`.
    #[arg(long, value_delimiter = ',')]
    sizes: Option<Vec<u64>>,
    /// Row counts of the naive comparison runs (both applications; 0 for none).
    #[arg(long, value_delimiter = ',')]
    naive_sizes: Option<Vec<u64>>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run one measured client (the parent bench starts this).
    #[command(hide = true)]
    Client(child::ClientArgs),
}

/// The parts of the bench.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scenario {
    /// Batch vs naive loops at every size, empty and busy application.
    Comparison,
    /// The batch under a 400 requests/minute budget.
    Quota,
    /// Peak RSS at growing row counts.
    Memory,
    /// The batch under injected faults.
    Faults,
    /// The batch under each list order the API might have (issue 17).
    ListOrder,
    /// The batch with default settings on a busy application under the
    /// quota (issue 18).
    BusyQuota,
    /// 2,000 rows under create faults that leave outcomes unknown, on an
    /// exclusive and a shared application (issue 19).
    Ambiguity,
    /// 1,000 rows at several poll overheads, with the computed floor of
    /// requests per job for each result delay (issue 18).
    Overhead,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Client(args)) = cli.command {
        return child::main(args);
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("writer-bench: cannot start a runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(bench(&cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("writer-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn bench(cli: &Cli) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    let mut plan = if cli.smoke {
        Plan::smoke(exe)
    } else if cli.quick {
        Plan::quick(exe)
    } else {
        Plan::full(exe)
    };
    if let Some(seed) = cli.seed {
        plan.seed = seed;
    }
    if let Some(scale) = cli.scale {
        plan.scale = scale;
    }
    if let Some(scale) = cli.naive_scale {
        plan.naive_scale = scale;
    }
    plan.current_thread = cli.current_thread;
    plan.poll_overhead = cli.poll_overhead;
    if let Some(sizes) = &cli.sizes {
        plan.sizes = sizes.clone();
    }
    if let Some(sizes) = &cli.naive_sizes {
        plan.naive_sizes = sizes.clone();
        plan.naive_busy_sizes = sizes.clone();
    }
    let wanted = |s: Scenario| cli.only.is_empty() || cli.only.contains(&s);
    let started = Instant::now();
    let mut results = Results::default();
    let mut tables: Vec<Table> = Vec::new();
    let show = |table: &Table| println!("{}", table.render());

    if wanted(Scenario::Comparison) {
        results.comparison = scenarios::comparison(&plan).await?;
        for load in [Load::Empty, Load::Busy] {
            let table = report::comparison(&results.comparison, load);
            show(&table);
            tables.push(table);
        }
        let batch: Vec<&Measured> = results
            .comparison
            .iter()
            .filter(|m| m.kind == Kind::Batch)
            .collect();
        let table = report::breakdown(
            "the batch rows of the comparison",
            &batch,
            report::comparison_label,
        );
        show(&table);
        tables.push(table);
        results.runtimes = scenarios::runtimes(&plan, &results.comparison).await?;
        let table = report::runtimes(&results.comparison, &results.runtimes);
        show(&table);
        tables.push(table);
    }
    if wanted(Scenario::Quota) {
        results.quota = scenarios::quota(&plan).await?;
        let table = report::quota(&results.quota);
        show(&table);
        tables.push(table);
    }
    if wanted(Scenario::Memory) {
        results.memory = scenarios::memory(&plan).await?;
        let table = report::memory(&results.memory);
        show(&table);
        tables.push(table);
    }
    if wanted(Scenario::Faults) {
        results.faults = scenarios::faults(&plan).await?;
        let table = report::faults(&results.faults);
        show(&table);
        tables.push(table);
    }
    if wanted(Scenario::ListOrder) {
        results.list_order = scenarios::list_order(&plan).await?;
        let table = report::list_order(&results.list_order);
        show(&table);
        tables.push(table);
        let runs: Vec<&Measured> = results.list_order.iter().collect();
        let table = report::breakdown("list order", &runs, report::list_order_label);
        show(&table);
        tables.push(table);
    }
    if wanted(Scenario::BusyQuota) {
        results.busy_quota = scenarios::busy_quota(&plan).await?;
        let table = report::busy_quota(&results.busy_quota);
        show(&table);
        tables.push(table);
        let runs: Vec<&Measured> = results.busy_quota.iter().collect();
        let table = report::breakdown(
            "busy application under the quota",
            &runs,
            report::busy_quota_label,
        );
        show(&table);
        tables.push(table);
    }
    if wanted(Scenario::Overhead) {
        results.overhead = scenarios::overhead(&plan).await?;
        let table = report::overhead(&results.overhead);
        show(&table);
        tables.push(table);
    }
    if wanted(Scenario::Ambiguity) {
        results.ambiguity = scenarios::ambiguity(&plan).await?;
        let table = ambiguity::table(&results.ambiguity);
        show(&table);
        tables.push(table);
    }

    let verdicts = report::verdicts(&results);
    let elapsed = started.elapsed().as_secs_f64();
    let mut summary = String::from("### Verdicts\n\n");
    for line in &verdicts {
        summary += &format!("- {line}\n");
    }
    summary += &format!(
        "\nWhole bench: {elapsed:.0} s of real time on {} cores; seed {}.\n",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        plan.seed
    );
    println!("{summary}");

    if cli.save {
        let path = cli.out.clone().unwrap_or_else(|| {
            // crates/writer-bench -> the workspace root.
            let crate_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
            let root = crate_dir.ancestors().nth(2).unwrap_or(crate_dir);
            root.join("bench").join("results.md")
        });
        let mut text = String::from(
            "# writer-bench results\n\n\
             Written by `cargo xtask bench --save`. Client and simulator (writer-sim) run on the same \
             scaled clock; every time below is simulated time unless it says real. Request counts come \
             from the simulator's statistics; CPU and peak RSS from the client's own process.\n\n",
        );
        for table in &tables {
            text += &table.render();
            text.push('\n');
        }
        text += &summary;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        eprintln!("writer-bench: wrote {}", path.display());
        let dir = path.parent().unwrap_or(std::path::Path::new("."));
        for written in plots::write_all(&results, dir)? {
            eprintln!("writer-bench: wrote {}", written.display());
        }
        // The README's performance section, when --save writes to the
        // workspace's bench/ (not to some --out elsewhere).
        if cli.out.is_none()
            && let Some(root) = dir.parent()
        {
            let readme = root.join("README.md");
            if plots::update_readme(&readme, &results)? {
                eprintln!("writer-bench: updated {}", readme.display());
            }
        }
    }
    Ok(())
}

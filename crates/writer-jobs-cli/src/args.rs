//! The command line, as clap types: every subcommand, flag and help text.
//!
//! Help texts end with an example (clap `after_help`); the top-level help
//! also documents the exit codes, so scripts can rely on them.

use std::path::PathBuf;

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};

/// The version line: the crate version and the API spec it speaks.
pub fn version() -> &'static str {
    static VERSION: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    VERSION.get_or_init(|| {
        format!(
            "{} (Writer API spec {})",
            env!("CARGO_PKG_VERSION"),
            writer_api::API_VERSION
        )
    })
}

/// The full command definition (with the version), for parsing and for
/// shell completions.
pub fn command() -> clap::Command {
    Cli::command().version(version())
}

/// The exit-code table, shown at the end of `writer-jobs --help`.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0    success
  1    internal or unexpected error
  2    usage error or bad input file (nothing was created)
  3    authentication: key refused (401/403), or no API key (and no --simulator)
  4    not found: no such application or job (404)
  5    rate limited, server unavailable, or gave up waiting
  6    some rows (or the job) failed, were rejected or timed out
  7    some rows are ambiguous (a job may or may not exist); takes precedence over 6;
       resolve: some ambiguous rows are still undecided
  130  interrupted (Ctrl-C or SIGTERM); a batch can be resumed with --resume

With --simulator, writer-jobs runs against a built-in local simulator and says
so on stderr. Without WRITER_API_KEY (in the environment or ./.env) and without
--base-url it does so too when stderr is a terminal; elsewhere (scripts, CI) it
exits 3 unless --simulator is given.

Logs: RUST_LOG (e.g. RUST_LOG=writer_jobs=debug) overrides -v. NO_COLOR, or
output that is not a terminal, turns colour off.

Examples:
  writer-jobs batch examples/products.jsonl --out results.jsonl --simulator
  writer-jobs run --app demo-product-descriptions --input 'Product name=Terra running shoe'
  writer-jobs list --app demo-product-descriptions --status failed --all";

/// `writer-jobs`: run Writer no-code applications as async jobs, one at a
/// time or as a resumable batch.
#[derive(Debug, Parser)]
#[command(
    name = "writer-jobs",
    about = "Run Writer no-code applications as async jobs: one at a time, or as a resumable batch.",
    after_help = EXIT_CODES_HELP,
    propagate_version = true
)]
pub struct Cli {
    /// Options shared by every subcommand.
    #[command(flatten)]
    pub global: Global,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every subcommand accepts.
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "Global options")]
pub struct Global {
    /// The API's base URL (default: WRITER_BASE_URL, else https://api.writer.com).
    #[arg(long, global = true, value_name = "URL")]
    pub base_url: Option<String>,
    /// Print JSON instead of text (for batch: the final summary).
    #[arg(long, global = true)]
    pub json: bool,
    /// Log what happens to stderr (-v info, -vv debug, -vvv trace; RUST_LOG,
    /// when set, takes precedence). The API key never appears.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Print only errors and the final result or summary: no notes, no progress.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Run against the built-in local simulator (no key needed; results are
    /// simulated). Without a key it is used anyway when stderr is a terminal.
    #[arg(long, global = true, conflicts_with = "base_url")]
    pub simulator: bool,
    /// Time scale of the built-in simulator (100: a 30 s job takes 0.3 s).
    #[arg(
        long,
        global = true,
        value_name = "X",
        default_value_t = 100.0,
        hide = true
    )]
    pub sim_scale: f64,
    /// Seed of the built-in simulator (default: a fresh one per run, so job
    /// ids never repeat across runs).
    #[arg(long, global = true, value_name = "N", hide = true)]
    pub sim_seed: Option<u64>,
    /// Time scale of the server's clock (for a simulator started elsewhere):
    /// the client then runs on the same scaled clock and marks results as simulated.
    #[arg(
        long,
        global = true,
        hide = true,
        env = "WRITER_JOBS_CLOCK_SCALE",
        value_name = "X"
    )]
    pub clock_scale: Option<f64>,
    /// The scaled clock's anchor, in Unix seconds (with --clock-scale).
    #[arg(
        long,
        global = true,
        hide = true,
        env = "WRITER_JOBS_CLOCK_ANCHOR",
        value_name = "UNIX_SECS"
    )]
    pub clock_anchor: Option<f64>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a job and print its id.
    #[command(after_help = "\
Repeat --input with the same NAME to give a list value (e.g. several Tags).

Example:
  writer-jobs submit --app demo-product-descriptions \\
      --input 'Product name=Terra running shoe' --input Tone=casual \\
      --input Tags=running --input Tags=outdoor")]
    Submit(JobInputs),

    /// Show one job: status, and its result or error.
    #[command(after_help = "\
Example:
  writer-jobs get 0000002a-0001-4abc-8def-0123456789ab --json")]
    Get {
        /// The job's id.
        job_id: String,
    },

    /// List an application's jobs, newest first (streams page by page).
    #[command(after_help = "\
Example:
  writer-jobs list --app demo-product-descriptions --status failed --all --json")]
    List(ListArgs),

    /// Wait until a job finishes, then print its result.
    #[command(after_help = "\
Exits 0 when the job completed, 6 when it failed, 5 when the wait gave up.

Example:
  writer-jobs wait 0000002a-0001-4abc-8def-0123456789ab --timeout 600")]
    Wait(WaitArgs),

    /// Retry a failed job (and optionally wait for it).
    #[command(after_help = "\
The server may answer with a new job id; writer-jobs follows and prints it.
Retrying a job that is not failed is refused by the server (HTTP 409).

Example:
  writer-jobs retry 0000002a-0001-4abc-8def-0123456789ab --wait")]
    Retry(RetryArgs),

    /// Create a job and wait for its result, in one command (--sync: a synchronous run).
    #[command(after_help = "\
With --sync no job is created: one request runs the application and the
server answers with its output (it gives up after about 5 minutes). Add
--stream to print the output as it is generated (research applications).

Examples:
  writer-jobs run --app demo-product-descriptions \\
      --input 'Product name=Terra running shoe' --input Tone=playful
  writer-jobs run --sync --stream --app my-research-app --input 'Query=trail shoes'")]
    Run(RunArgs),

    /// Show an application and the inputs it takes.
    #[command(after_help = "\
Example:
  writer-jobs app demo-product-descriptions")]
    App {
        /// The application's id (default with the built-in simulator: its demo application).
        app_id: Option<String>,
    },

    /// Run every row of a JSONL or CSV file as a job; write one result per row.
    #[command(after_help = BATCH_HELP)]
    Batch(Box<BatchArgs>),

    /// Decide a batch's ambiguous rows: adopt a candidate job, send the row again, or give up.
    #[command(after_help = RESOLVE_HELP)]
    Resolve(ResolveArgs),

    /// Print a shell completion script.
    #[command(after_help = "\
Example:
  writer-jobs completions bash > ~/.local/share/bash-completion/completions/writer-jobs")]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },

    /// Write man pages (writer-jobs.1 and one per subcommand) into a directory
    /// (used by `cargo xtask man`).
    #[command(hide = true)]
    Man {
        /// The directory to write into (created if missing).
        out_dir: PathBuf,
    },
}

/// The `--app` and `--input` options of `submit` and `run`.
#[derive(Debug, Args, Clone)]
pub struct JobInputs {
    /// The application's id (default with the built-in simulator: its demo application).
    #[arg(long, env = "WRITER_APP_ID", value_name = "ID")]
    pub app: Option<String>,
    /// One input, as NAME=VALUE; repeat NAME for a list value.
    #[arg(long = "input", short = 'i', value_name = "NAME=VALUE")]
    pub inputs: Vec<String>,
}

/// `list` options.
#[derive(Debug, Args, Clone)]
pub struct ListArgs {
    /// The application's id (default with the built-in simulator: its demo application).
    #[arg(long, env = "WRITER_APP_ID", value_name = "ID")]
    pub app: Option<String>,
    /// Only jobs with this status.
    #[arg(long, value_enum)]
    pub status: Option<StatusArg>,
    /// At most this many jobs (default 50).
    #[arg(long, value_name = "N", conflicts_with = "all")]
    pub limit: Option<u64>,
    /// Every job, page after page.
    #[arg(long)]
    pub all: bool,
}

/// `wait` options.
#[derive(Debug, Args, Clone)]
pub struct WaitArgs {
    /// The job's id.
    pub job_id: String,
    /// Give up after this many seconds (default 900).
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<u64>,
}

/// `retry` options.
#[derive(Debug, Args, Clone)]
pub struct RetryArgs {
    /// The failed job's id.
    pub job_id: String,
    /// Wait for the retried job to finish and print its result.
    #[arg(long)]
    pub wait: bool,
    /// With --wait: give up after this many seconds (default 900).
    #[arg(long, value_name = "SECS", requires = "wait")]
    pub timeout: Option<u64>,
}

/// `run` options.
#[derive(Debug, Args, Clone)]
pub struct RunArgs {
    /// The application and inputs.
    #[command(flatten)]
    pub job: JobInputs,
    /// Give up waiting after this many seconds (default 900).
    #[arg(long, value_name = "SECS", conflicts_with = "sync")]
    pub timeout: Option<u64>,
    /// Run synchronously (POST /v1/applications/{id}) instead of as a job.
    #[arg(long)]
    pub sync: bool,
    /// With --sync: print the output chunk by chunk as the server streams it.
    #[arg(long, requires = "sync")]
    pub stream: bool,
}

/// A job status, as `list --status` takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum StatusArg {
    /// Still running.
    InProgress,
    /// Finished with a result.
    Completed,
    /// Finished with an error.
    Failed,
}

/// The format of the results file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutFormatArg {
    /// One JSON object per line.
    Jsonl,
    /// Comma-separated values with a header row.
    Csv,
}

/// The format of the input file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InFormatArg {
    /// By the file's extension: .csv is CSV, anything else JSONL.
    Auto,
    /// One JSON object per line: {"key": "...", "inputs": {...}}.
    Jsonl,
    /// A header row of input names, then one row per job.
    Csv,
}

/// `--on-ambiguous`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AmbiguousArg {
    /// Report the row as ambiguous, with candidate job ids (never a duplicate).
    Report,
    /// Create the row's job again (may make a duplicate job); a job retry whose answer was lost is still reported
    Resend,
}

const BATCH_HELP: &str = "\
Input files:
  JSONL  one object per line: {\"key\": \"sku-1\", \"inputs\": {\"Product name\": \"Terra\",
         \"Tags\": [\"a\", \"b\"]}}; a missing key defaults to the line number.
  CSV    a header row of input names; the key comes from --key-column (default: a
         column named \"key\" if present, else the row number, 1 for the first data
         row). For inputs that take several values (per the application's details)
         a cell is split on the list separator (default ';'). Empty cells are
         left out.

Before anything is created, every row is checked against the application's
inputs; all bad rows (invalid JSON, unknown or missing inputs, duplicate keys)
are listed with their line numbers, and the batch stops (exit 2) unless
--skip-invalid is given.

Results are written as rows finish, one line per row, flushed line by line:
key, job_id, status (completed | failed | ambiguous | rejected | timed_out),
title, suggestion, error, attempts, creates, created_at, finished_at, and
simulated: true on the simulator. A journal (default: OUT.journal) records
every create before it is sent, so a stopped or killed run resumes with
--resume without creating any job twice.

Pipes: FILE - reads the rows from stdin (JSONL, or CSV with --input-format
csv); --out - writes the results to stdout, and the summary and progress to
stderr. With --out - the journal cannot sit beside the results: pass --journal
PATH. A stopped run to stdout resumes into a file (--out FILE --journal PATH
--resume writes every finished row's result there).

Ctrl-C (or SIGTERM) stops creating jobs, waits for the jobs in flight and
prints the command to resume; a second Ctrl-C quits at once (exit 130).

Examples:
  writer-jobs batch examples/products.jsonl --out results.jsonl --simulator
  generate-rows | writer-jobs batch - --app my-app --out - --journal run.journal > results.jsonl
  writer-jobs batch products.csv --app my-app --out results.csv --rate 400/min
  writer-jobs batch products.csv --app my-app --out results.csv --rate 400/min --resume";

const RESOLVE_HELP: &str = "\
A row is ambiguous when its create may or may not have made a job and the
batch could not tell which (on an application other clients use too). Without
a decision, resolve lists each ambiguous row with its candidate jobs: id,
created_at, status and the first line of the output, fetched from the API.

Decisions (repeatable; all are checked before any is applied):
  --adopt KEY=JOB_ID  the row's job is JOB_ID, one of its candidates. Applied at
                      once: a finished job's result replaces the row's result in
                      RESULTS; a running one's row is taken out of RESULTS and the
                      next `batch ... --resume` waits for the job.
  --resend KEY        the next `batch ... --resume` creates the row again: one new
                      job (if a candidate was the row's after all, it now has two).
                      The row is taken out of RESULTS until then.
  --give-up KEY       the row stays ambiguous in RESULTS, marked decided: later
                      resumes and resolves leave it alone.

Decisions are records in the batch's journal, written under its lock: resolve
refuses to run while a batch runs on the same journal. It refuses (exit 2) a key
that is unknown, not ambiguous or already decided, a job that is not among the
row's candidates, and a job another row owns.

Exit status: 0 when no ambiguous row is left undecided, 7 while some is (as a
batch that leaves rows ambiguous), 2 for a refusal; nothing is decided by the
exit status itself, so a script can run resolve until it exits 0.

Examples:
  writer-jobs resolve results.jsonl
  writer-jobs resolve results.jsonl --adopt sku-7=0000002a-0001-4abc-8def-0123456789ab
  writer-jobs resolve results.jsonl --resend sku-9 --give-up sku-12
  writer-jobs batch products.jsonl --app my-app --out results.jsonl --resume";

/// `resolve` options.
#[derive(Debug, Args, Clone)]
pub struct ResolveArgs {
    /// The batch's results file.
    pub results: PathBuf,
    /// The batch's journal (default: RESULTS + ".journal").
    #[arg(long, value_name = "PATH")]
    pub journal: Option<PathBuf>,
    /// Results format (default: csv when RESULTS ends in .csv, else jsonl).
    #[arg(long, value_enum)]
    pub format: Option<OutFormatArg>,
    /// Adopt job JOB_ID (one of the row's candidates) as row KEY's job.
    #[arg(long, value_name = "KEY=JOB_ID")]
    pub adopt: Vec<String>,
    /// Create row KEY again on the next `batch --resume`.
    #[arg(long, value_name = "KEY")]
    pub resend: Vec<String>,
    /// Leave row KEY ambiguous for good.
    #[arg(long, value_name = "KEY")]
    pub give_up: Vec<String>,
}

/// `batch` options.
#[derive(Debug, Args, Clone)]
pub struct BatchArgs {
    /// The input file (JSONL or CSV); - reads stdin.
    pub file: PathBuf,
    /// The application's id (default with the built-in simulator: its demo application).
    #[arg(long, env = "WRITER_APP_ID", value_name = "ID")]
    pub app: Option<String>,
    /// Where to write the results; - writes them to stdout (needs --journal).
    #[arg(long, value_name = "PATH")]
    pub out: PathBuf,
    /// Results format (default: csv when OUT ends in .csv, else jsonl).
    #[arg(long, value_enum)]
    pub format: Option<OutFormatArg>,
    /// Input file format.
    #[arg(long, value_enum, default_value_t = InFormatArg::Auto)]
    pub input_format: InFormatArg,
    /// Most rows in flight at once (default: as many as the --rate budget
    /// can create and poll, from the job durations seen, up to 10,000;
    /// 100 without a budget).
    #[arg(long, value_name = "N")]
    pub concurrency: Option<usize>,
    /// Most create requests on the wire at once; also the most rows a crash
    /// or an outage can leave ambiguous.
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub create_concurrency: usize,
    /// Request budget, e.g. 400/min, 4000/h, 5/s (default: none; backs off on 429).
    #[arg(long, value_name = "R/UNIT")]
    pub rate: Option<String>,
    /// Polling requests to spend per created job while creating (default
    /// 0.03): sweeps are spaced so that they cost about this much, and never
    /// more than 10 s apart (so a finished job is seen within about 10 s).
    /// Higher sees results sooner for more requests; at the default the 10 s
    /// bound sets the pace (bench: 1.10 requests/job, p95 delay 10 s; 0.15:
    /// 1.14 at the same p95).
    #[arg(long, value_name = "R")]
    pub poll_overhead: Option<f64>,
    /// Continue an earlier run from its results file and journal.
    #[arg(long)]
    pub resume: bool,
    /// What to do with a create whose outcome is unknown.
    #[arg(long, value_enum, default_value_t = AmbiguousArg::Report)]
    pub on_ambiguous: AmbiguousArg,
    /// How long the server may hold a request before acting on it, in
    /// seconds: an ambiguous create is judged only once this has passed
    /// since its exchange ended (its answer, or the request timeout; Writer's
    /// server gives up after about 300 s). A value below the server's real
    /// hold can judge a create still held as not landed and send it again,
    /// making a second job.
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    pub max_server_hold: u64,
    /// How long one read of a sweep (a list page, a job's GET) may take, in
    /// seconds, before it is sent again; creates keep the 60 s request
    /// timeout. A read that times out does not pause creates.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    pub read_timeout: u64,
    /// Declare that no other client creates jobs on the application while
    /// this run does: a lone unclaimed job in an ambiguous create's window
    /// is then adopted as that row's (otherwise it is reported as a candidate).
    /// On --resume it holds only if every earlier run that left creates to
    /// reconcile was declared exclusive too.
    #[arg(long)]
    pub exclusive_app: bool,
    /// After a create ends ambiguous, send no create until its window
    /// (--max-server-hold) has passed, then one at a time: fewer rows stay
    /// ambiguous where the hold is short (with --create-concurrency 1, none
    /// in the bench); with the 300 s default it stalls creation.
    #[arg(long)]
    pub less_overlap: bool,
    /// Retry a failed job up to N times.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub job_retries: u32,
    /// CSV: the column holding each row's key.
    #[arg(long, value_name = "COL")]
    pub key_column: Option<String>,
    /// CSV: the separator of list values within a cell.
    #[arg(long, value_name = "SEP", default_value = ";")]
    pub list_separator: String,
    /// Report invalid rows and run the valid ones (instead of stopping).
    #[arg(long)]
    pub skip_invalid: bool,
    /// The journal (default: OUT + ".journal"; required with --out -).
    #[arg(long, value_name = "PATH")]
    pub journal: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_definition_is_consistent() {
        super::command().debug_assert();
    }
}

//! `batch FILE --out RESULTS`: check every row, then run them all through
//! the library's batch engine, writing one result per row as rows finish,
//! with progress, graceful stop on Ctrl-C/SIGTERM, and resume. `-` as FILE
//! reads stdin (spooled to a temporary file: the rows are read twice), and
//! `--out -` writes the results to stdout (the summary then goes to stderr).

use std::collections::HashSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio::sync::mpsc;
use writer_jobs::Application;
use writer_jobs::batch::{
    AmbiguousPolicy, Batch, BatchError, JournalSummary, Outcome, Progress, Rate, Resolution,
    ResolveError, Row,
};

use crate::args::{AmbiguousArg, BatchArgs, Global, InFormatArg, OutFormatArg};
use crate::embedded::{ConnectOptions, connect};
use crate::exit::{CliError, Code};
use crate::input::{Checked, InputFormat, ReadOptions, check_file, open_rows};
use crate::output::{Counts, OutFormat, ResultsWriter};
use crate::progress::ProgressView;
use crate::ui::note;

/// The settings derived from the flags, checked before anything else.
struct Plan {
    out: PathBuf,
    /// `--out -`: results on stdout, the summary on stderr.
    to_stdout: bool,
    /// FILE is `-`: the rows come from stdin.
    from_stdin: bool,
    journal: PathBuf,
    out_format: OutFormat,
    read: ReadOptions,
    rate: Option<Rate>,
}

fn plan(args: &BatchArgs) -> Result<Plan, CliError> {
    let to_stdout = args.out == Path::new(STDIO);
    check_stdout(args, to_stdout)?;
    let journal = args.journal.clone().unwrap_or_else(|| {
        let mut name = OsString::from(args.out.as_os_str());
        name.push(".journal");
        PathBuf::from(name)
    });
    if journal == args.out {
        return Err(CliError::usage(
            "--journal and --out must be different files",
        ));
    }
    let out_format = match args.format {
        Some(OutFormatArg::Jsonl) => OutFormat::Jsonl,
        Some(OutFormatArg::Csv) => OutFormat::Csv,
        None => OutFormat::from_path(&args.out),
    };
    let format = match args.input_format {
        InFormatArg::Auto => InputFormat::from_path(&args.file),
        InFormatArg::Jsonl => InputFormat::Jsonl,
        InFormatArg::Csv => InputFormat::Csv,
    };
    if args.concurrency == Some(0) {
        return Err(CliError::usage("--concurrency must be at least 1"));
    }
    if args.list_separator.is_empty() {
        return Err(CliError::usage("--list-separator must not be empty"));
    }
    let rate = args
        .rate
        .as_deref()
        .map(Rate::parse)
        .transpose()
        .map_err(|e| CliError::usage(format!("--rate: {e}")))?;
    check_paths(args, &journal, to_stdout)?;
    Ok(Plan {
        out: args.out.clone(),
        to_stdout,
        from_stdin: args.file == Path::new(STDIO),
        journal,
        out_format,
        read: ReadOptions {
            format,
            key_column: args.key_column.clone(),
            list_separator: args.list_separator.clone(),
        },
        rate,
    })
}

/// `-` as a file name: stdin for the input, stdout for the results.
const STDIO: &str = "-";

/// With `--out -`: the journal needs a path of its own, and there is no
/// results file a resume could continue.
fn check_stdout(args: &BatchArgs, to_stdout: bool) -> Result<(), CliError> {
    if args.journal.as_deref() == Some(Path::new(STDIO)) {
        return Err(CliError::usage(
            "--journal - : the journal must be a file (a resume reads it back)",
        )
        .hint("pass --journal PATH"));
    }
    if !to_stdout {
        return Ok(());
    }
    if args.resume {
        return Err(CliError::usage(
            "--resume cannot continue results written to stdout (--out -): there is no \
             results file to read back",
        )
        .hint(
            "resume into a file instead: --out FILE --journal JOURNAL --resume, with the \
             earlier run's journal (its finished rows are written to FILE again)",
        ));
    }
    if args.journal.is_none() {
        return Err(CliError::usage(
            "--out - writes the results to stdout, so the journal cannot sit beside them",
        )
        .hint("pass --journal PATH as well (a new file; it lets the run be resumed into a file)"));
    }
    Ok(())
}

/// Checks the files the flags name: the input exists; a resume has its
/// journal; a fresh run overwrites nothing.
fn check_paths(args: &BatchArgs, journal: &Path, to_stdout: bool) -> Result<(), CliError> {
    if args.file != Path::new(STDIO) && !args.file.is_file() {
        return Err(CliError::usage(format!(
            "the input file {} does not exist or is not a file",
            args.file.display()
        )));
    }
    if args.resume && !journal.is_file() {
        // A fresh journal would know nothing of the jobs the earlier run
        // created and had not finished: it would create them again.
        return Err(CliError::usage(format!(
            "--resume: the journal {} does not exist, so the earlier run's unfinished jobs \
             cannot be found again",
            journal.display()
        ))
        .hint(
            "pass --journal with the path the earlier run used, or start over without --resume \
             and a new --out",
        ));
    }
    if !args.resume {
        let results = (!to_stdout).then_some((args.out.as_path(), "results file"));
        for (path, what) in results.into_iter().chain([(journal, "journal")]) {
            if path.exists() {
                return Err(CliError::usage(format!(
                    "the {what} {} already exists; refusing to overwrite it",
                    path.display()
                ))
                .hint("add --resume to continue that run, or remove the file to start over"));
            }
        }
    }
    Ok(())
}

/// Where the rows are read from: the input file, or stdin spooled to a
/// temporary file (deleted on drop), since the rows are read twice.
struct Input {
    path: PathBuf,
    /// How messages name it: the path, or `stdin`.
    name: String,
    _spool: Option<tempfile::NamedTempFile>,
}

impl Input {
    /// The input file, or (for `-`) all of stdin copied to a temporary file.
    async fn open(file: &Path) -> Result<Self, CliError> {
        if file != Path::new(STDIO) {
            return Ok(Self {
                path: file.to_path_buf(),
                name: file.display().to_string(),
                _spool: None,
            });
        }
        let spool = tokio::task::spawn_blocking(|| {
            let mut spool = tempfile::NamedTempFile::new()?;
            std::io::copy(&mut std::io::stdin().lock(), &mut spool)?;
            std::io::Write::flush(&mut spool)?;
            Ok::<_, std::io::Error>(spool)
        })
        .await
        .map_err(|e| CliError::new(Code::Internal, "reading stdin stopped").cause(e))?
        .map_err(|e| CliError::io("cannot read the rows from stdin", &e))?;
        Ok(Self {
            path: spool.path().to_path_buf(),
            name: "stdin".to_string(),
            _spool: Some(spool),
        })
    }
}

/// The port of the base URL a journal is bound to (its header line), so a
/// resumed run can start the built-in simulator at the same address.
pub(super) fn journal_port(journal: &Path) -> Option<u16> {
    let summary = JournalSummary::read(journal).ok()?;
    let (_, port) = summary.base_url.trim_end_matches('/').rsplit_once(':')?;
    port.parse().ok()
}

/// Rows of a journal with a job but no final outcome: jobs an interrupted
/// run was still waiting for.
fn unfinished_in_journal(journal: &Path) -> usize {
    JournalSummary::read(journal).map_or(0, |summary| summary.waiting)
}

/// Runs the `batch` command: check the inputs, open (or resume) the
/// results, run the rows through the engine, report.
pub async fn run(global: &Global, args: &BatchArgs) -> Result<Code, CliError> {
    let started = Instant::now();
    let plan = plan(args)?;
    let input = Input::open(&args.file).await?;
    let target = connect_for(global, args, &plan).await?;
    let (app_id, app) = super::app::fetch(&target, args.app.as_deref()).await?;
    let checked = check_inputs(args, &plan, &input, &app).await?;
    let mut results = open_results(args, &plan, target.simulated, &checked)?;
    let rows = read_rows(&plan, &input, &app, &checked, results.seen.clone());
    let batch = configure(args, &plan, &target, &app_id, app)?;
    let ran = execute(batch, rows, &mut results, resume_command(&plan)).await?;
    let summary = Summary {
        rows: checked.valid,
        counts: results.counts,
        written: results.written,
        already: results.already,
        progress: ran.progress.clone(),
        simulated: target.simulated,
        seconds: started.elapsed().as_secs_f64(),
        out: plan.out.clone(),
    };
    summary.print(global.json, plan.to_stdout)?;
    finish(&plan, &summary, ran)
}

/// Connects (on a resume, the built-in simulator at the journal's address)
/// and warns when the jobs an interrupted run left are gone with its
/// built-in simulator.
async fn connect_for(
    global: &Global,
    args: &BatchArgs,
    plan: &Plan,
) -> Result<crate::embedded::Target, CliError> {
    let preferred_port = if args.resume {
        journal_port(&plan.journal)
    } else {
        None
    };
    let target = connect(global, ConnectOptions { preferred_port }).await?;
    if target.embedded && args.resume {
        let lost = unfinished_in_journal(&plan.journal);
        if lost > 0 {
            note!(
                "warning: {lost} job(s) of the interrupted run lived in that run's built-in \
                 simulator, which is gone; their rows will end as timed out (remove {} and {} \
                 to run everything again)",
                plan.out.display(),
                plan.journal.display()
            );
        }
    }
    Ok(target)
}

/// Pass 1: checks every row against the application; nothing is created
/// if any is bad (unless `--skip-invalid`), or if no row is valid.
async fn check_inputs(
    args: &BatchArgs,
    plan: &Plan,
    input: &Input,
    app: &Application,
) -> Result<Checked, CliError> {
    let checked = {
        let (path, read, app) = (input.path.clone(), plan.read.clone(), app.clone());
        tokio::task::spawn_blocking(move || check_file(&path, &read, &app))
            .await
            .map_err(|e| CliError::new(Code::Internal, "the file check stopped").cause(e))??
    };
    if !checked.problems.is_empty() {
        let bad = checked.bad_lines.len();
        for problem in &checked.problems {
            eprintln!("{}: {problem}", input.name);
        }
        if !args.skip_invalid {
            return Err(CliError::usage(format!(
                "{} problem(s) in {} ({bad} bad row(s)); nothing was created",
                checked.problems.len(),
                input.name
            ))
            .hint(
                if plan.from_stdin && args.input_format == InFormatArg::Auto {
                    "fix the rows above, or pass --skip-invalid to run only the valid rows \
                 (stdin is read as JSONL: pass --input-format csv for CSV)"
                } else {
                    "fix the rows above, or pass --skip-invalid to run only the valid rows"
                },
            ));
        }
        note!("skipping {bad} bad row(s) (--skip-invalid)");
    }
    if checked.valid == 0 {
        return Err(CliError::usage(format!(
            "{} has no valid rows to run",
            input.name
        )));
    }
    Ok(checked)
}

/// The results file and what this run adds to it.
struct Results {
    writer: ResultsWriter,
    /// Results by status: the earlier run's, then this run's.
    counts: Counts,
    /// Keys with a result (a replayed outcome is not written twice).
    seen: HashSet<String>,
    /// Valid rows without a result yet: this run's share.
    remaining: u64,
    /// Valid rows that already had a result.
    already: u64,
    /// Results written by this run.
    written: u64,
}

impl Results {
    /// Writes an outcome unless its row already has a result.
    fn record(&mut self, outcome: &Outcome) -> Result<(), CliError> {
        if !self.seen.insert(outcome.key.clone()) {
            return Ok(()); // already in the results file (a replay)
        }
        let record = self.writer.write(outcome)?;
        self.counts.add(&record.status);
        self.written += 1;
        Ok(())
    }
}

/// Opens the results file: new, or resumed (torn last line cut off, the
/// rows already done counted).
fn open_results(
    args: &BatchArgs,
    plan: &Plan,
    simulated: bool,
    checked: &Checked,
) -> Result<Results, CliError> {
    let (writer, existing) = if plan.to_stdout {
        (
            ResultsWriter::stdout(plan.out_format, simulated)?,
            Default::default(),
        )
    } else if args.resume {
        agree_with_decisions(plan, simulated)?;
        ResultsWriter::resume(&plan.out, plan.out_format, simulated)?
    } else {
        (
            ResultsWriter::create(&plan.out, plan.out_format, simulated)?,
            Default::default(),
        )
    };
    if existing.torn_bytes > 0 {
        note!(
            "{}: cut off a torn last line (line {}, {} bytes) left by an interrupted write; \
             its row's result will be written again",
            plan.out.display(),
            existing.torn_line.unwrap_or_default(),
            existing.torn_bytes
        );
    }
    let remaining = checked
        .valid_keys
        .iter()
        .filter(|k| !existing.keys.contains(*k))
        .count() as u64;
    let already = checked.valid - remaining;
    if args.resume && already > 0 {
        note!(
            "resuming: {already} of {} rows already have a result in {}",
            checked.valid,
            plan.out.display()
        );
    }
    Ok(Results {
        writer,
        counts: existing.counts,
        seen: existing.keys,
        remaining,
        already,
        written: 0,
    })
}

/// On a resume, before the results file is read back: brings it into
/// agreement with the decisions `resolve` recorded in the journal, so a
/// row to resend (or whose adopted job still runs) is run, and a finished
/// adopted job's result replaces the ambiguous one, even when the file
/// missed the decisions. The journal's lock is held only meanwhile.
fn agree_with_decisions(plan: &Plan, simulated: bool) -> Result<(), CliError> {
    if !plan.out.is_file() {
        return Ok(());
    }
    let resolution = match Resolution::open(&plan.journal) {
        Ok(r) => r,
        Err(ResolveError::Journal(e)) => return Err(BatchError::Journal(e).into()),
        Err(e) => return Err(CliError::new(Code::Internal, e.to_string())),
    };
    let changed = super::resolve::agree(&plan.out, plan.out_format, simulated, &resolution)?;
    drop(resolution);
    if changed > 0 {
        note!(
            "{}: {changed} result(s) brought into agreement with the decisions in {}",
            plan.out.display(),
            plan.journal.display()
        );
    }
    Ok(())
}

/// Pass 2: streams the valid rows without a result to the engine, read
/// from the file again by a blocking reader thread.
fn read_rows(
    plan: &Plan,
    input: &Input,
    app: &Application,
    checked: &Checked,
    skip_keys: HashSet<String>,
) -> impl futures::Stream<Item = Row> + Send + 'static {
    let (tx, rx) = mpsc::channel::<Row>(256);
    let bad_lines = checked.bad_lines.clone();
    let (path, read, app) = (input.path.clone(), plan.read.clone(), app.clone());
    tokio::task::spawn_blocking(move || {
        let Ok(rows) = open_rows(&path, &read, &app) else {
            return;
        };
        for item in rows {
            let Ok(row) = item else {
                // Checked in pass 1; a change since is skipped.
                continue;
            };
            if bad_lines.contains(&row.line) || skip_keys.contains(&row.key) {
                continue;
            }
            if tx.blocking_send(Row::new(row.key, row.inputs)).is_err() {
                return;
            }
        }
    });
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|r| (r, rx)) })
}

/// The engine, configured from the flags.
fn configure(
    args: &BatchArgs,
    plan: &Plan,
    target: &crate::embedded::Target,
    app_id: &str,
    app: Application,
) -> Result<Batch, CliError> {
    let mut batch = Batch::new(target.client.clone(), app_id)
        .create_concurrency(args.create_concurrency)
        .job_retries(args.job_retries)
        .on_ambiguous(match args.on_ambiguous {
            AmbiguousArg::Report => AmbiguousPolicy::Report,
            AmbiguousArg::Resend => AmbiguousPolicy::Resend,
        })
        .journal(&plan.journal)
        .max_server_hold(Duration::from_secs(args.max_server_hold))
        .read_timeout(Duration::from_secs(args.read_timeout.max(1)))
        .exclusive_application(args.exclusive_app)
        .less_overlap(args.less_overlap)
        .simulated(target.simulated)
        .validate_against(app);
    if let Some(n) = args.concurrency {
        batch = batch.max_in_flight(n);
    }
    if let Some(overhead) = args.poll_overhead {
        batch = batch.poll_overhead(overhead);
    }
    if let Some(rate) = plan.rate {
        batch = batch.rate(rate);
    }
    Ok(batch)
}

/// How the run ended.
struct Ran {
    /// The engine's last progress snapshot.
    progress: Progress,
    /// Whether Ctrl-C or SIGTERM stopped it.
    interrupted: bool,
    /// The engine's first fatal error.
    fatal: Option<BatchError>,
    /// The first failure to write a result (creating stopped then).
    write_error: Option<CliError>,
}

/// Runs the rows, writing each outcome as it arrives, with progress and
/// graceful stop on Ctrl-C/SIGTERM.
async fn execute<S>(
    batch: Batch,
    rows: S,
    results: &mut Results,
    resume: String,
) -> Result<Ran, CliError>
where
    S: futures::Stream<Item = Row> + Send + 'static,
{
    let mut run = batch.run(rows).await?;
    let view = Arc::new(ProgressView::start(run.progress(), results.remaining));
    let interrupted = Arc::new(AtomicBool::new(false));
    let signals = tokio::spawn(watch_signals(
        run.stop_handle(),
        interrupted.clone(),
        view.clone(),
        resume,
    ));
    let mut fatal: Option<BatchError> = None;
    let mut write_error: Option<CliError> = None;
    while let Some(item) = run.next().await {
        match item {
            Ok(outcome) => {
                if let Err(e) = results.record(&outcome) {
                    // Stop creating; the journal keeps every outcome.
                    run.stop_handle().stop();
                    write_error.get_or_insert(e);
                }
            }
            Err(e) => {
                fatal.get_or_insert(e);
            }
        }
    }
    signals.abort();
    let progress = run.progress().borrow().clone();
    if let Ok(view) = Arc::try_unwrap(view) {
        view.finish();
    }
    Ok(Ran {
        progress,
        interrupted: interrupted.load(Ordering::SeqCst),
        fatal,
        write_error,
    })
}

/// The exit code, after the summary: how to resume a run that did not
/// finish, else by the worst outcome.
fn finish(plan: &Plan, summary: &Summary, ran: Ran) -> Result<Code, CliError> {
    if let Some(e) = ran.write_error {
        eprintln!("to resume: {}", resume_command(plan));
        return Err(e);
    }
    if let Some(e) = ran.fatal {
        eprintln!("to resume: {}", resume_command(plan));
        return Err(e.into());
    }
    let counts = &summary.counts;
    if ran.interrupted || counts.total() < summary.rows {
        eprintln!(
            "stopped with {} of {} rows done; the journal {} keeps the rest. To resume:\n  {}",
            counts.total(),
            summary.rows,
            plan.journal.display(),
            resume_command(plan)
        );
        return Ok(if ran.interrupted {
            Code::Interrupted
        } else {
            Code::Internal
        });
    }
    Ok(if counts.ambiguous > 0 {
        Code::Ambiguous
    } else if counts.failed + counts.rejected + counts.timed_out > 0 {
        Code::Failed
    } else {
        Code::Ok
    })
}

/// First Ctrl-C/SIGTERM: stop creating, let in-flight jobs finish. Second:
/// quit at once (the journal is consistent: each record is one write).
async fn watch_signals(
    stop: writer_jobs::batch::StopHandle,
    interrupted: Arc<AtomicBool>,
    view: Arc<ProgressView>,
    resume: String,
) {
    if !next_signal().await {
        return;
    }
    interrupted.store(true, Ordering::SeqCst);
    stop.stop();
    view.println(
        "stopping: no new jobs will be created; waiting for the jobs in flight \
         (press Ctrl-C again to quit now)",
    );
    if !next_signal().await {
        return;
    }
    view.println(&format!(
        "quitting now; the journal keeps the jobs in flight. To resume:\n  {resume}"
    ));
    std::process::exit(Code::Interrupted as i32);
}

/// Waits for Ctrl-C or SIGTERM; `false` when signals cannot be watched.
async fn next_signal() -> bool {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut term) = signal(SignalKind::terminate()) else {
            return tokio::signal::ctrl_c().await.is_ok();
        };
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.is_ok(),
            r = term.recv() => r.is_some(),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await.is_ok()
    }
}

/// How to continue a stopped run: this command line with `--resume`,
/// quoted for a POSIX shell; with `--out -`, into a results file (a resume
/// writes the finished rows there again); from stdin, with the same rows.
fn resume_command(plan: &Plan) -> String {
    let args = resume_args(std::env::args().collect(), plan.to_stdout);
    let mut command = args
        .iter()
        .map(|a| shell_quote(a))
        .collect::<Vec<_>>()
        .join(" ");
    if plan.from_stdin {
        command.push_str("  (with the same rows on stdin)");
    }
    if plan.to_stdout {
        command.push_str("  (FILE: a new results file; it gets every finished row's result)");
    }
    command
}

/// `args` (this command line) with the program's bare name, `--resume`
/// added, and for a run to stdout `--out FILE` instead of `--out -`.
fn resume_args(mut args: Vec<String>, to_stdout: bool) -> Vec<String> {
    if let Some(first) = args.first_mut() {
        let name = Path::new(first.as_str())
            .file_name()
            .map(|n| n.to_string_lossy().to_string());
        if let Some(name) = name {
            *first = name;
        }
    }
    if to_stdout {
        for i in 0..args.len() {
            if args[i] == "--out=-" {
                args[i] = "--out=FILE".into();
            } else if args[i] == "--out" && args.get(i + 1).is_some_and(|a| a == STDIO) {
                args[i + 1] = "FILE".into();
            }
        }
    }
    if !args.iter().any(|a| a == "--resume") {
        args.push("--resume".into());
    }
    args
}

fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The end-of-run report.
struct Summary {
    rows: u64,
    counts: Counts,
    written: u64,
    already: u64,
    progress: Progress,
    simulated: bool,
    seconds: f64,
    out: PathBuf,
}

impl Summary {
    /// Prints the summary on stdout, or on stderr when the results go to
    /// stdout.
    fn print(&self, json: bool, to_stderr: bool) -> Result<(), CliError> {
        let text = if json { self.json()? } else { self.text() };
        if to_stderr {
            eprintln!("{text}");
        } else {
            println!("{text}");
        }
        Ok(())
    }

    fn requests_per_job(&self) -> f64 {
        self.progress.requests as f64 / self.written.max(1) as f64
    }

    fn json(&self) -> Result<String, CliError> {
        let c = &self.counts;
        crate::render::json_string(&serde_json::json!({
            "rows": self.rows,
            "completed": c.completed,
            "failed": c.failed,
            "ambiguous": c.ambiguous,
            "rejected": c.rejected,
            "timed_out": c.timed_out,
            "written": self.written,
            "already_done": self.already,
            "requests": self.progress.requests,
            "requests_per_job": self.requests_per_job(),
            "wall_seconds": self.seconds,
            "simulated": self.simulated,
            "results": self.out,
        }))
    }

    fn text(&self) -> String {
        let c = &self.counts;
        let simulated = if self.simulated { " (simulated)" } else { "" };
        let earlier = if self.already > 0 {
            format!(", {} from an earlier run", self.already)
        } else {
            String::new()
        };
        let results = if self.out == Path::new(STDIO) {
            "stdout".to_string()
        } else {
            self.out.display().to_string()
        };
        format!(
            "{} rows: {} completed, {} failed, {} ambiguous, {} rejected, {} timed out{simulated}\n\
             {} requests ({:.2}/job), wall time {:.1} s{simulated}\n\
             results: {results} ({} written now{earlier})",
            self.rows,
            c.completed,
            c.failed,
            c.ambiguous,
            c.rejected,
            c.timed_out,
            self.progress.requests,
            self.requests_per_job(),
            self.seconds,
            self.written
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("results.jsonl"), "results.jsonl");
        assert_eq!(shell_quote("my file"), "'my file'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn the_resume_command_adds_resume_and_sends_stdout_results_to_a_file() {
        let args = |list: &[&str]| list.iter().map(|a| a.to_string()).collect::<Vec<_>>();
        assert_eq!(
            resume_args(
                args(&["/usr/bin/writer-jobs", "batch", "in", "--out", "r"]),
                false
            ),
            args(&["writer-jobs", "batch", "in", "--out", "r", "--resume"])
        );
        assert_eq!(
            resume_args(args(&["wj", "batch", "-", "--out", "-", "--resume"]), true),
            args(&["wj", "batch", "-", "--out", "FILE", "--resume"])
        );
        assert_eq!(
            resume_args(args(&["wj", "batch", "in", "--out=-"]), true),
            args(&["wj", "batch", "in", "--out=FILE", "--resume"])
        );
    }

    #[test]
    fn journal_port_reads_the_header() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        std::fs::write(
            &path,
            "{\"type\":\"header\",\"version\":1,\"base_url\":\"http://127.0.0.1:4567\",\"app_id\":\"a\",\"simulated\":true}\n",
        )
        .unwrap();
        assert_eq!(journal_port(&path), Some(4567));
        assert_eq!(journal_port(&dir.path().join("missing")), None);
    }
}

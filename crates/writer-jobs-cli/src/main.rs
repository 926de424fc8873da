//! The `writer-jobs` command line: submit, get, list, wait, retry and run
//! single jobs of Writer no-code applications, and run resumable batches
//! from JSONL or CSV files.
//!
//! The CLI holds no API logic: every request goes through the `writer-jobs`
//! library. With no API key configured it runs against `writer-sim`,
//! started in-process, so the first command a user tries works offline.

mod args;
mod commands;
mod embedded;
mod exit;
mod input;
mod output;
mod progress;
mod render;
mod ui;

use std::process::ExitCode;

use clap::FromArgMatches;

use crate::args::Cli;
use crate::exit::{CliError, Code};

fn main() -> ExitCode {
    let matches = args::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    ui::set_quiet(cli.global.quiet);
    if let Err(err) = init_tracing(&cli.global) {
        err.report();
        return err.code.into();
    }
    // One thread: the CLI's work is one batch engine task and its HTTP
    // connections (plus, with --simulator, the simulator's), all I/O
    // bound. On the multi-threaded runtime every answer woke another
    // thread to run the task it completed; on one thread it does not,
    // and the client spent 15-20% less CPU per job (writer-bench, 10,000
    // rows, quiet machine: 104-109 µs/job on one thread, 131-136 µs/job
    // on the multi-threaded runtime; issue 18).
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            CliError::new(Code::Internal, "cannot start the async runtime")
                .cause(e)
                .report();
            return Code::Internal.into();
        }
    };
    let result = runtime.block_on(commands::dispatch(cli));
    // Do not wait for stray background tasks (a progress ticker, a server).
    runtime.shutdown_background();
    match result {
        Ok(code) => code.into(),
        Err(err) => {
            err.report();
            err.code.into()
        }
    }
}

/// Logs to stderr: `RUST_LOG` when set, else a level set by `-v` (errors
/// only with `--quiet`, warnings by default); colour only on a terminal
/// without `NO_COLOR`. The library never logs the API key, and neither
/// does the CLI.
fn init_tracing(global: &args::Global) -> Result<(), CliError> {
    let rust_log = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty());
    let filter = log_filter(global.verbose, global.quiet, rust_log.as_deref())?;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ui::stderr_color())
        .with_writer(std::io::stderr)
        .with_target(global.verbose >= 2 || rust_log.is_some())
        .try_init();
    Ok(())
}

/// The log filter: `rust_log` (the `RUST_LOG` value) when given, else the
/// level of `-v`/`--quiet` with the HTTP stack's chatter kept at warnings.
fn log_filter(
    verbose: u8,
    quiet: bool,
    rust_log: Option<&str>,
) -> Result<tracing_subscriber::EnvFilter, CliError> {
    if let Some(directives) = rust_log {
        return tracing_subscriber::EnvFilter::try_new(directives).map_err(|e| {
            CliError::usage(format!("RUST_LOG={directives:?} is not a log filter: {e}")).hint(
                "use a level (RUST_LOG=debug) or TARGET=LEVEL pairs \
                 (RUST_LOG=writer_jobs=debug,info), or unset RUST_LOG and pass -v",
            )
        });
    }
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        _ => "trace",
    };
    Ok(tracing_subscriber::EnvFilter::new(format!(
        "{level},hyper=warn,hyper_util=warn,reqwest=warn,h2=warn,rustls=warn"
    )))
}

#[cfg(test)]
mod tests {
    use super::log_filter;

    #[test]
    fn rust_log_wins_and_a_bad_one_is_a_usage_error() {
        let filter = log_filter(3, false, Some("writer_jobs=debug")).unwrap();
        assert_eq!(filter.to_string(), "writer_jobs=debug");
        let filter = log_filter(0, true, None).unwrap();
        assert!(filter.to_string().ends_with(",error"), "{filter}");
        let err = log_filter(0, false, Some("writer_jobs=loud")).unwrap_err();
        assert_eq!(err.code, crate::exit::Code::Usage);
        assert!(err.to_string().contains("RUST_LOG"), "{err}");
    }
}

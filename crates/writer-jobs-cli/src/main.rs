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
    init_tracing(cli.global.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
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

/// Logs to stderr at a level set by `-v`; warnings only by default. The
/// library never logs the API key, and neither does the CLI.
fn init_tracing(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::new(format!(
        "{level},hyper=warn,hyper_util=warn,reqwest=warn,h2=warn,rustls=warn"
    ));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .with_target(verbose >= 2)
        .try_init();
}

//! One module per group of subcommands; `dispatch` connects and runs one.

mod app;
mod batch;
mod jobs;
mod resolve;

use crate::args::{Cli, Command};
use crate::embedded::{ConnectOptions, Target, connect};
use crate::exit::{CliError, Code};

/// Runs the parsed command line; returns the exit code on success paths
/// (a batch with failed rows is not an error but exits 6).
pub async fn dispatch(cli: Cli) -> Result<Code, CliError> {
    let global = cli.global;
    let json = global.json;
    match cli.command {
        Command::Completions { shell } => {
            let mut cmd = crate::args::command();
            clap_complete::generate(shell, &mut cmd, "writer-jobs", &mut std::io::stdout());
            Ok(Code::Ok)
        }
        Command::Man { out_dir } => {
            std::fs::create_dir_all(&out_dir)
                .and_then(|()| clap_mangen::generate_to(crate::args::command(), &out_dir))
                .map_err(|e| {
                    CliError::io(format!("writing man pages to {}", out_dir.display()), &e)
                })?;
            println!("man pages written to {}", out_dir.display());
            Ok(Code::Ok)
        }
        Command::Batch(args) => batch::run(&global, &args).await,
        Command::Resolve(args) => resolve::run(&global, &args).await,
        command => {
            let target = connect(&global, ConnectOptions::default()).await?;
            single(&target, json, command).await.map_err(|mut err| {
                if target.embedded && err.code == Code::NotFound {
                    err.hint = Some(
                        "jobs of the built-in simulator vanish when the command that made them \
                         exits; set WRITER_API_KEY (or put it in .env) to use the real API"
                            .into(),
                    );
                }
                err
            })
        }
    }
}

/// The commands that act on one job or application.
async fn single(target: &Target, json: bool, command: Command) -> Result<Code, CliError> {
    match command {
        Command::Submit(args) => jobs::submit(target, json, &args).await,
        Command::Get { job_id } => jobs::get(target, json, &job_id).await,
        Command::List(args) => jobs::list(target, json, &args).await,
        Command::Wait(args) => jobs::wait(target, json, &args.job_id, args.timeout).await,
        Command::Retry(args) => jobs::retry(target, json, &args).await,
        Command::Run(args) => jobs::run(target, json, &args).await,
        Command::App { app_id } => app::show(target, json, app_id.as_deref()).await,
        Command::Batch(_)
        | Command::Resolve(_)
        | Command::Completions { .. }
        | Command::Man { .. } => Ok(Code::Ok),
    }
}

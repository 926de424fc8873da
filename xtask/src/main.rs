//! `cargo xtask`: the workspace's own tasks.
//!
//! - `cargo xtask codegen [--check]` regenerates `crates/writer-api/src/generated.rs`
//!   from `openapi/writer-jobs.yaml` (or, with `--check`, fails when it is stale).
//! - `cargo xtask bench [ARGS...]` builds and runs the benchmark program
//!   (`writer-bench`, release mode) as a subprocess, so this tool never links
//!   the generated crate.

use std::process::{Command, ExitCode};

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "writer-jobs workspace tasks")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Regenerate the `writer-api` crate from the OpenAPI spec.
    Codegen {
        /// Do not write anything; fail if the checked-in code is stale.
        #[arg(long)]
        check: bool,
    },
    /// Run the benchmarks (release build of `writer-bench`); extra arguments go to it.
    Bench {
        /// Arguments passed to `writer-bench`, e.g. `--save`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let root = xtask::workspace_root();
    match cli.task {
        Task::Codegen { check } => codegen(&root, check),
        Task::Bench { args } => bench(&root, &args),
    }
}

fn codegen(root: &std::path::Path, check: bool) -> ExitCode {
    let paths = xtask::CodegenPaths::in_workspace(root);
    let result = if check {
        xtask::check(&paths).map(|()| format!("{} is up to date", paths.output_display()))
    } else {
        xtask::write(&paths).map(|changed| {
            if changed {
                format!("wrote {}", paths.output_display())
            } else {
                format!("{} was already up to date", paths.output_display())
            }
        })
    };
    match result {
        Ok(message) => {
            println!("{message}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn bench(root: &std::path::Path, args: &[String]) -> ExitCode {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(root)
        .args([
            "run",
            "--locked",
            "--release",
            "--quiet",
            "-p",
            "writer-bench",
            "--",
        ])
        .args(args)
        .status();
    match status {
        Ok(status) if status.success() => ExitCode::SUCCESS,
        Ok(status) => {
            eprintln!("error: writer-bench exited with {status}");
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("error: could not run cargo: {error}");
            ExitCode::FAILURE
        }
    }
}

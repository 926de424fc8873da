//! Single-job commands: submit, get, list, wait, retry, run.

use std::time::Duration;

use futures::StreamExt;
use writer_jobs::{Error, Inputs, Job, StatusFilter};

use crate::args::{JobInputs, ListArgs, RetryArgs, RunArgs, StatusArg};
use crate::embedded::Target;
use crate::exit::{CliError, Code};
use crate::render;
use crate::ui::note;

/// Default `list` length when neither `--limit` nor `--all` is given.
const DEFAULT_LIST_LIMIT: u64 = 50;

/// Parses `NAME=VALUE` pairs; a NAME given again adds to its list.
pub fn parse_inputs(pairs: &[String]) -> Result<Inputs, CliError> {
    let mut order: Vec<(String, Vec<String>)> = Vec::new();
    for pair in pairs {
        let Some((name, value)) = pair.split_once('=') else {
            return Err(
                CliError::usage(format!("--input {pair:?} is not NAME=VALUE"))
                    .hint("quote inputs with spaces: --input 'Product name=Terra running shoe'"),
            );
        };
        let name = name.trim();
        if name.is_empty() {
            return Err(CliError::usage(format!(
                "--input {pair:?} has an empty name"
            )));
        }
        match order.iter_mut().find(|(n, _)| n == name) {
            Some((_, values)) => values.push(value.to_string()),
            None => order.push((name.to_string(), vec![value.to_string()])),
        }
    }
    let mut inputs = Inputs::new();
    for (name, values) in order {
        inputs.set(name, values);
    }
    Ok(inputs)
}

/// Checks inputs against the application (one request) so that every
/// problem is reported at once, before a job is created.
async fn checked_inputs(
    target: &Target,
    app_id: &str,
    args: &JobInputs,
) -> Result<Inputs, CliError> {
    let inputs = parse_inputs(&args.inputs)?;
    match target.client.app(app_id).validate(&inputs).await {
        Ok(_) => Ok(inputs),
        Err(Error::InvalidInputs(problems)) => {
            let mut err = CliError::usage(format!("the inputs do not fit application {app_id}"));
            for p in problems {
                err = err.detail(p);
            }
            Err(err.hint(format!("see its inputs with `writer-jobs app {app_id}`")))
        }
        Err(e) => Err(CliError::context(
            format!("cannot fetch application {app_id}"),
            e,
        )),
    }
}

/// `submit`: creates a job, prints its id.
pub async fn submit(target: &Target, json: bool, args: &JobInputs) -> Result<Code, CliError> {
    let app_id = target.app_id(args.app.as_deref())?;
    let inputs = checked_inputs(target, &app_id, args).await?;
    let created = target.client.create_job(&app_id, &inputs).await?;
    if json {
        render::json(&created)?;
    } else {
        println!("{}", created.id);
    }
    Ok(Code::Ok)
}

/// `get`: prints one job.
pub async fn get(target: &Target, json: bool, job_id: &str) -> Result<Code, CliError> {
    let job = target.client.get_job(job_id).await?;
    print_job(&job, json)?;
    Ok(Code::Ok)
}

fn print_job(job: &Job, json: bool) -> Result<(), CliError> {
    if json {
        render::json(job)
    } else {
        print!("{}", render::job_text(job));
        Ok(())
    }
}

/// `list`: streams the application's jobs, page by page.
pub async fn list(target: &Target, json: bool, args: &ListArgs) -> Result<Code, CliError> {
    let app_id = target.app_id(args.app.as_deref())?;
    let limit = if args.all {
        None
    } else {
        Some(args.limit.unwrap_or(DEFAULT_LIST_LIMIT))
    };
    let mut builder = target.client.jobs(&app_id).list();
    if let Some(status) = args.status {
        builder = builder.status(match status {
            StatusArg::InProgress => StatusFilter::InProgress,
            StatusArg::Completed => StatusFilter::Completed,
            StatusArg::Failed => StatusFilter::Failed,
        });
    }
    // Ask for no more than needed (the API's page maximum is 100).
    builder = builder.page_size(limit.unwrap_or(100).clamp(1, 100));
    let mut stream = Box::pin(builder.stream());
    let mut shown = 0u64;
    if !json {
        println!("{}", render::job_row_header());
    }
    while limit.is_none_or(|l| shown < l) {
        let Some(item) = stream.next().await else {
            break;
        };
        let job =
            item.map_err(|e| CliError::context(format!("cannot list the jobs of {app_id}"), e))?;
        if json {
            render::json_line(&job)?;
        } else {
            println!("{}", render::job_row(&job));
        }
        shown += 1;
    }
    if !json && shown == 0 {
        eprintln!("no jobs");
    }
    Ok(Code::Ok)
}

/// Prints status changes on stderr while waiting.
fn status_printer(job: &Job) {
    note!("job {} is {}", job.id, job.status);
}

/// Prints the outcome of a wait: the job, or why it ended badly.
fn finish_wait(result: writer_jobs::Result<Job>, json: bool) -> Result<Code, CliError> {
    match result {
        Ok(job) => {
            print_job(&job, json)?;
            Ok(Code::Ok)
        }
        Err(Error::JobFailed {
            job_id, message, ..
        }) if json => {
            render::json(&serde_json::json!({
                "id": job_id, "status": "failed", "error": message
            }))?;
            Ok(Code::Failed)
        }
        Err(e) => Err(e.into()),
    }
}

/// `wait`: polls one job until it finishes.
pub async fn wait(
    target: &Target,
    json: bool,
    job_id: &str,
    timeout: Option<u64>,
) -> Result<Code, CliError> {
    let mut wait = target.client.wait(job_id).on_status(status_printer);
    if let Some(secs) = timeout {
        wait = wait.deadline(Duration::from_secs(secs));
    }
    finish_wait(wait.await, json)
}

/// `retry`: retries a failed job; with `--wait`, waits for it.
pub async fn retry(target: &Target, json: bool, args: &RetryArgs) -> Result<Code, CliError> {
    let retried = target.client.retry_job(&args.job_id).await?;
    if !args.wait {
        if json {
            render::json(&retried)?;
        } else {
            println!("{}", retried.id);
        }
        return Ok(Code::Ok);
    }
    if retried.id != args.job_id {
        note!("job {} was retried as job {}", args.job_id, retried.id);
    }
    wait(target, json, &retried.id, args.timeout).await
}

/// `run`: creates a job and waits for its result; with `--sync`, runs the
/// application synchronously instead.
pub async fn run(target: &Target, json: bool, args: &RunArgs) -> Result<Code, CliError> {
    let app_id = target.app_id(args.job.app.as_deref())?;
    let inputs = checked_inputs(target, &app_id, &args.job).await?;
    if args.sync {
        let app = target.client.app(&app_id);
        if args.stream {
            return run_stream(app.run_stream(&inputs), json).await;
        }
        let output = app.run(&inputs).await?;
        if json {
            render::json(&output)?;
        } else {
            print!("{}", render::output_text(&output));
        }
        return Ok(Code::Ok);
    }
    let mut run = target
        .client
        .jobs(&app_id)
        .create_and_wait(&inputs)
        .on_status(status_printer);
    if let Some(secs) = args.timeout {
        run = run.deadline(Duration::from_secs(secs));
    }
    finish_wait(run.run().await, json)
}

/// `run --sync --stream`: prints each chunk the moment it arrives (as a
/// JSON line `{"text": ...}` with `--json`), flushing stdout every time.
async fn run_stream(mut chunks: writer_jobs::RunStream, json: bool) -> Result<Code, CliError> {
    use std::io::Write;
    let mut ends_in_newline = true;
    let result = loop {
        let text = match chunks.next().await {
            Some(Ok(text)) => text,
            Some(Err(e)) => break Err(e),
            None => break Ok(()),
        };
        let mut out = std::io::stdout().lock();
        let written = if json {
            serde_json::to_string(&serde_json::json!({ "text": text }))
                .map_err(std::io::Error::other)
                .and_then(|line| writeln!(out, "{line}"))
        } else {
            write!(out, "{text}")
        };
        written
            .and_then(|()| out.flush())
            .map_err(|e| CliError::io("writing the output", &e))?;
        if !text.is_empty() {
            ends_in_newline = json || text.ends_with('\n');
        }
    };
    if !ends_in_newline {
        println!();
    }
    result?;
    Ok(Code::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_names_make_lists() {
        let inputs = parse_inputs(&[
            "Product name=Terra = shoe".into(),
            "Tags=a".into(),
            "Tags=b".into(),
        ])
        .unwrap();
        assert_eq!(inputs.get("Product name").unwrap(), ["Terra = shoe"]);
        assert_eq!(inputs.get("Tags").unwrap(), ["a", "b"]);
        assert!(parse_inputs(&["novalue".into()]).is_err());
        assert!(parse_inputs(&["=x".into()]).is_err());
    }
}

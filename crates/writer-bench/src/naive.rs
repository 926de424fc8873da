//! The baseline: the loop Writer's guide implies, built from the generated
//! `writer-api` client alone. Create a job, then GET it every `every` until
//! it is no longer `in_progress`; `in_flight` rows at a time.
//!
//! It has no retries, no rate limiting and no shared polling: each job
//! costs one create plus about `duration / every` GETs. A GET that fails is
//! simply tried again at the next tick (the guide's loop would crash; this
//! one is kinder, and no faults are injected into its runs anyway).

use std::time::Duration;

use futures::StreamExt;
use writer_api::types::{GenerateApplicationRequest, JobInput};

use crate::child::SimTime;

/// The final state of one naive row.
#[derive(Debug, Clone)]
pub struct NaiveOutcome {
    /// The row's index in the input.
    pub seq: u64,
    /// The job id (none when the create failed).
    pub job: Option<String>,
    /// `completed`, `failed`, another final status the server sent, or
    /// `create_error`.
    pub kind: &'static str,
}

/// The wire inputs of one row.
pub fn inputs<const N: usize>(pairs: [(&'static str, String); N]) -> Vec<JobInput> {
    pairs
        .into_iter()
        .map(|(id, value)| JobInput {
            id: id.to_string(),
            value: vec![value],
        })
        .collect()
}

/// Runs every row through the naive loop, calling `on_outcome` as each
/// finishes. Fails only when the HTTP client cannot be built.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    base_url: &str,
    key: &str,
    app: &str,
    time: &SimTime,
    rows: impl Iterator<Item = Vec<JobInput>>,
    every: Duration,
    in_flight: usize,
    mut on_outcome: impl FnMut(NaiveOutcome),
) -> Result<(), String> {
    let credentials = writer_api::auth::Credentials::bearer(key).map_err(|e| e.to_string())?;
    let client = writer_api::Client::new_with_client(base_url, reqwest::Client::new(), credentials);
    let client = &client;
    let mut outcomes = futures::stream::iter(rows.enumerate())
        .map(|(seq, inputs)| one(client, app, time, seq as u64, inputs, every))
        .buffer_unordered(in_flight.max(1));
    while let Some(outcome) = outcomes.next().await {
        on_outcome(outcome);
    }
    Ok(())
}

/// One row: create, then poll until done.
async fn one(
    client: &writer_api::Client,
    app: &str,
    time: &SimTime,
    seq: u64,
    inputs: Vec<JobInput>,
    every: Duration,
) -> NaiveOutcome {
    let created = client
        .create_job()
        .application_id(app)
        .body(GenerateApplicationRequest { inputs })
        .send()
        .await;
    let id = match created.map(|r| r.into_inner()) {
        Ok(created) => match created.id.or(created.job_id) {
            Some(id) => id,
            None => return NaiveOutcome::create_error(seq),
        },
        Err(_) => return NaiveOutcome::create_error(seq),
    };
    loop {
        time.sleep(every).await;
        let Ok(job) = client.get_job().job_id(&id).send().await else {
            continue;
        };
        let kind = match job.status.as_str() {
            "in_progress" => continue,
            "completed" => "completed",
            "failed" => "failed",
            _ => "other",
        };
        return NaiveOutcome {
            seq,
            job: Some(id),
            kind,
        };
    }
}

impl NaiveOutcome {
    fn create_error(seq: u64) -> Self {
        Self {
            seq,
            job: None,
            kind: "create_error",
        }
    }
}

//! The floor of the batch's client CPU: the requests a batch run sent (one
//! create per row and as many list pages as it read), sent bare with the
//! same HTTP client (reqwest, which the batch's generated client wraps)
//! and nothing else: no engine, no retries, no timers, no decoding of the
//! answers (each body is read whole and dropped), no outcome lines.
//!
//! Whatever the batch spends above this is its own (the engine, decoding
//! what it needs, the generated client's layers); what this spends no
//! client sending the same requests through reqwest can avoid: building
//! and encoding the request, HTTP/1 framing, the kernel's sockets, the
//! runtime's I/O driver. It is a lower bound in every way: its list pages
//! are the first page of the application (mostly jobs still running, whose
//! answers are shorter than a page of finished jobs with their outputs),
//! and it sends no GETs of single jobs (a handful per thousand jobs in the
//! batch's runs).

use futures::StreamExt;
use writer_api::types::{GenerateApplicationRequest, JobInput};

/// The requests of a replay, in order: `Some(row)` a create, `None` a
/// first page of 100 jobs; `lists` pages spread evenly among the creates
/// (Bresenham's spread, so they come through the run as the batch's do).
fn requests<T>(rows: impl Iterator<Item = T>, lists: u64) -> impl Iterator<Item = Option<T>> {
    let rows: Vec<T> = rows.collect();
    let creates = rows.len() as u64;
    rows.into_iter().enumerate().flat_map(move |(i, inputs)| {
        let i = i as u64;
        let upto = |n: u64| (n * lists).checked_div(creates).unwrap_or(0);
        let pages = upto(i + 1) - upto(i);
        std::iter::once(Some(inputs)).chain((0..pages).map(|_| None))
    })
}

/// Sends a create per row and `lists` first pages of 100 jobs bare,
/// `in_flight` at a time. Returns the number of requests answered; fails
/// when the HTTP client cannot be built or a request gets no answer.
pub async fn run(
    base_url: &str,
    key: &str,
    app: &str,
    rows: impl Iterator<Item = Vec<JobInput>>,
    lists: u64,
    in_flight: usize,
) -> Result<u64, String> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| e.to_string())?;
    let jobs = format!("{base_url}/v1/applications/{app}/jobs");
    let page = format!("{jobs}?offset=0&limit=100");
    let bearer = format!("Bearer {key}");
    let (http, jobs, page, bearer) = (&http, &jobs, &page, &bearer);
    let sent = futures::stream::iter(requests(rows, lists)).map(|request| async move {
        let request = match request {
            Some(inputs) => {
                let body = serde_json::to_vec(&GenerateApplicationRequest { inputs })
                    .map_err(|e| e.to_string())?;
                http.post(jobs)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body)
            }
            None => http.get(page),
        };
        let response = request
            .header(reqwest::header::AUTHORIZATION, bearer)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        response.bytes().await.map_err(|e| e.to_string())?;
        Ok::<(), String>(())
    });
    count(sent, in_flight).await
}

/// The same requests through `writer_jobs::Client` alone (its retries,
/// timeouts, error classification and decoding; pages decoded whole, as
/// its public `list_jobs_page` does), without the batch engine: what the
/// client's layers cost above the bare requests, and the engine above it.
pub async fn through_client(
    client: &writer_jobs::Client,
    app: &str,
    rows: impl Iterator<Item = writer_jobs::Inputs>,
    lists: u64,
    in_flight: usize,
) -> Result<u64, String> {
    let query = writer_jobs::ListQuery::default().with_limit(100);
    let query = &query;
    let sent = futures::stream::iter(requests(rows, lists)).map(|request| async move {
        match request {
            Some(inputs) => client.create_job(app, &inputs).await.map(drop),
            None => client.list_jobs_page(app, query).await.map(drop),
        }
        .map_err(|e| e.to_string())
    });
    count(sent, in_flight).await
}

/// Runs `sent`, `in_flight` at a time, counting the answers; the first
/// failure ends it.
async fn count(
    sent: impl futures::Stream<Item = impl std::future::Future<Output = Result<(), String>>>,
    in_flight: usize,
) -> Result<u64, String> {
    let mut sent = std::pin::pin!(sent.buffer_unordered(in_flight.max(1)));
    let mut answered = 0;
    while let Some(result) = sent.next().await {
        result?;
        answered += 1;
    }
    Ok(answered)
}

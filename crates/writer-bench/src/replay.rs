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

/// Sends a create per row and `lists` first pages of 100 jobs, spread
/// evenly among the creates, `in_flight` at a time. Returns the number of
/// requests that got an answer; fails when the HTTP client cannot be built
/// or a request gets none.
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
    let rows: Vec<Vec<JobInput>> = rows.collect();
    let creates = rows.len() as u64;
    // A list page after every `creates / lists` creates (Bresenham's
    // spread, so the pages come through the run as the batch's do).
    let requests = rows.into_iter().enumerate().flat_map(|(i, inputs)| {
        let i = i as u64;
        let upto = |n: u64| (n * lists).checked_div(creates).unwrap_or(0);
        let pages = upto(i + 1) - upto(i);
        std::iter::once(Some(inputs)).chain((0..pages).map(|_| None))
    });
    let (http, jobs, page, bearer) = (&http, &jobs, &page, &bearer);
    let mut sent = futures::stream::iter(requests)
        .map(|request| async move {
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
        })
        .buffer_unordered(in_flight.max(1));
    let mut answered = 0;
    while let Some(result) = sent.next().await {
        result?;
        answered += 1;
    }
    Ok(answered)
}

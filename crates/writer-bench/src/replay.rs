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
//! runtime's I/O driver. It is a lower bound in every way: it sends no
//! GETs of single jobs (a handful per thousand jobs in the batch's runs),
//! and sent back to back its list pages are the first page of the
//! application (mostly jobs still running, whose answers are shorter than
//! a page of finished jobs with their outputs). A timed replay reads the
//! pages the batch read (the same offset and size, of an application
//! whose jobs were created at the same times by the same seeded
//! simulator), so its answers are as long as the batch's.
//!
//! Sent back to back (100 in flight), the requests share the process's
//! wake-ups and warm caches; the batch sends them as its jobs finish,
//! spread over the run. A timed replay sends each request at the time the
//! batch sent it (from the simulator's log of the batch's run), whatever
//! else is in flight: the same requests at the same pace, so what the
//! batch spends above it is its own work, not the cost of being woken
//! for each answer.

use std::path::Path;
use std::time::Duration;

use futures::{Stream, StreamExt};
use writer_api::types::{GenerateApplicationRequest, JobInput};

/// A request of a batch run, as a replay sends it again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// A create (of the replay's next row).
    Create,
    /// A list page of the application's jobs: how many it skipped and its
    /// size (a batch's sweeps read unfiltered pages).
    List { offset: u64, limit: u64 },
}

impl Sent {
    /// The application's first page of 100 jobs.
    pub const FIRST_PAGE: Sent = Sent::List {
        offset: 0,
        limit: 100,
    };

    /// The request as a schedule line writes it (after the time):
    /// `create` or `list OFFSET LIMIT`.
    pub fn to_line(self) -> String {
        match self {
            Sent::Create => "create".into(),
            Sent::List { offset, limit } => format!("list {offset} {limit}"),
        }
    }

    /// Reads a schedule line's request (see [`Sent::to_line`]; a bare
    /// `list` is the first page of 100).
    fn from_line(text: &str) -> Option<Sent> {
        let mut words = text.split_whitespace();
        let sent = match (words.next()?, words.next(), words.next()) {
            ("create", None, None) => Sent::Create,
            ("list", None, None) => Sent::FIRST_PAGE,
            ("list", Some(offset), Some(limit)) => Sent::List {
                offset: offset.parse().ok()?,
                limit: limit.parse().ok().filter(|&l| l > 0)?,
            },
            _ => return None,
        };
        words.next().is_none().then_some(sent)
    }
}

/// When a replay sends its requests.
#[derive(Debug, Clone)]
pub enum Pace {
    /// A create per row and `lists` first pages spread evenly among them
    /// (Bresenham's spread, so they come through the run as the batch's
    /// do), `in_flight` at a time, each as soon as there is room.
    BackToBack { lists: u64, in_flight: usize },
    /// Each request at its real time from the start, in order, a burst on
    /// one timer (see [`BURST`]); a create past the rows is not sent.
    At(Vec<(Duration, Sent)>),
}

impl Pace {
    /// Reads a schedule file (lines `SECS create` or `SECS list OFFSET
    /// LIMIT`, simulated seconds from the start) and turns its times into
    /// real ones at `scale`.
    pub fn read(path: &Path, scale: f64) -> Result<Pace, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the schedule {}: {e}", path.display()))?;
        let mut at = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let bad = || {
                format!(
                    "{}:{}: expected `SECS create` or `SECS list OFFSET LIMIT`",
                    path.display(),
                    n + 1
                )
            };
            let (secs, op) = line.split_once(' ').ok_or_else(bad)?;
            let secs: f64 = secs.parse().map_err(|_| bad())?;
            let sent = Sent::from_line(op).ok_or_else(bad)?;
            at.push((Duration::from_secs_f64(secs.max(0.0) / scale), sent));
        }
        Ok(Pace::At(at))
    }
}

/// How close together (real time) a timed replay's requests go on one
/// timer (see [`requests`]): the batch sends a burst of creates within a
/// millisecond or so.
const BURST: Duration = Duration::from_millis(1);

/// A request of a replay: a create of a row, or a list page (how many
/// jobs it skips, its size).
enum Step<T> {
    Create(T),
    List { offset: u64, limit: u64 },
}

impl<T> Step<T> {
    /// The application's first page of 100 jobs.
    fn first_page() -> Self {
        Step::List {
            offset: 0,
            limit: 100,
        }
    }
}

/// A request of a replay and when it goes (`None`: as soon as there is
/// room, or, on a timed replay, right after the request before it).
type Planned<T> = (Option<Duration>, Step<T>);

/// The requests of a replay in order, and how many may be in flight.
fn requests<T: Send + 'static>(
    rows: impl Iterator<Item = T>,
    pace: Pace,
) -> (impl Stream<Item = Step<T>>, usize) {
    let mut rows = rows.fuse();
    let (plan, in_flight): (Vec<Planned<T>>, usize) = match pace {
        Pace::BackToBack { lists, in_flight } => {
            let rows: Vec<T> = rows.collect();
            let creates = rows.len() as u64;
            let plan = rows
                .into_iter()
                .enumerate()
                .flat_map(|(i, inputs)| {
                    let i = i as u64;
                    let upto = |n: u64| (n * lists).checked_div(creates).unwrap_or(0);
                    let pages = upto(i + 1) - upto(i);
                    std::iter::once((None, Step::Create(inputs)))
                        .chain((0..pages).map(|_| (None, Step::first_page())))
                })
                .collect();
            (plan, in_flight)
        }
        Pace::At(at) => {
            // A burst (requests within BURST of the first of them, as
            // the creates the batch sends on one wake-up) goes on one
            // timer, as the batch is woken once for it: a timer each
            // would wake the replay more often than the batch was.
            let mut burst: Option<Duration> = None;
            let plan = at
                .into_iter()
                .filter_map(|(at, sent)| {
                    let request = match sent {
                        Sent::Create => Step::Create(rows.next()?),
                        Sent::List { offset, limit } => Step::List { offset, limit },
                    };
                    let timer = match burst {
                        Some(first) if at.saturating_sub(first) <= BURST => None,
                        _ => {
                            burst = Some(at);
                            Some(at)
                        }
                    };
                    Some((timer, request))
                })
                .collect();
            // Every request goes at its time, whatever is in flight.
            (plan, usize::MAX)
        }
    };
    let start = tokio::time::Instant::now();
    let stream = futures::stream::iter(plan).then(move |(at, request)| async move {
        if let Some(at) = at {
            tokio::time::sleep_until(start + at).await;
        }
        request
    });
    (stream, in_flight)
}

/// Sends creates and list pages bare, at `pace`. Returns the number of
/// requests answered; fails when the HTTP client cannot be built or a
/// request gets no answer.
pub async fn run(
    base_url: &str,
    key: &str,
    app: &str,
    rows: impl Iterator<Item = Vec<JobInput>>,
    pace: Pace,
) -> Result<u64, String> {
    let http = http()?;
    let jobs = format!("{base_url}/v1/applications/{app}/jobs");
    let bearer = format!("Bearer {key}");
    let (http, jobs, bearer) = (&http, &jobs, &bearer);
    let (requests, in_flight) = requests(rows, pace);
    let sent = requests.map(|request| async move {
        let request = match request {
            Step::Create(inputs) => {
                let body = serde_json::to_vec(&GenerateApplicationRequest { inputs })
                    .map_err(|e| e.to_string())?;
                http.post(jobs)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body)
            }
            Step::List { offset, limit } => {
                http.get(format!("{jobs}?offset={offset}&limit={limit}"))
            }
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

/// The HTTP client of the bare and generated replays, set as
/// writer-jobs' `Client` sets its own: no redirects, and no retries of
/// reqwest's (so reqwest keeps no copy of each request for one).
fn http() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .retry(reqwest::retry::never().max_retries_per_request(0))
        .build()
        .map_err(|e| e.to_string())
}

/// The same requests through writer-api's generated client alone (the
/// layer writer-jobs is built on, with its hooks: credentials, the
/// tracing span, the bounded body read): each create's answer decoded
/// into the generated type, each list page's body read raw and parsed as
/// JSON, nothing of it kept (`IgnoredAny`: less than reading any job's
/// status). No retries, timers, classification or engine. What any
/// client built on the generated client spends on these requests, so a
/// floor of the batch's CPU.
pub async fn through_generated(
    base_url: &str,
    key: &str,
    app: &str,
    rows: impl Iterator<Item = Vec<JobInput>>,
    pace: Pace,
) -> Result<u64, String> {
    let credentials = writer_api::auth::Credentials::bearer(key).map_err(|e| e.to_string())?;
    let api = writer_api::Client::new_with_client(base_url, http()?, credentials);
    let (api, secret): (_, std::sync::Arc<str>) = (&api, key.into());
    let secret = &secret;
    let (requests, in_flight) = requests(rows, pace);
    let sent = requests.map(|request| async move {
        match request {
            Step::Create(inputs) => {
                let body = GenerateApplicationRequest { inputs };
                let send = api.create_job().application_id(app).body(body).send();
                send.await.map(drop).map_err(|e| e.to_string())
            }
            Step::List { offset, limit } => {
                let limit = u32::try_from(limit)
                    .ok()
                    .and_then(std::num::NonZeroU32::new)
                    .ok_or("a list page's size is out of range")?;
                let offset = i64::try_from(offset).map_err(|e| e.to_string())?;
                let list = api
                    .list_jobs()
                    .application_id(app)
                    .offset(offset)
                    .limit(limit);
                let (_, raw) = writer_api::raw::capture_raw_only(secret.clone(), list.send()).await;
                let raw = raw.ok_or("a list page got no answer")?;
                serde_json::from_slice::<serde::de::IgnoredAny>(&raw.body)
                    .map(drop)
                    .map_err(|e| format!("a list page is not JSON: {e}"))
            }
        }
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
    pace: Pace,
) -> Result<u64, String> {
    let (requests, in_flight) = requests(rows, pace);
    let sent = requests.map(|request| async move {
        match request {
            Step::Create(inputs) => client.create_job(app, &inputs).await.map(drop),
            Step::List { offset, limit } => {
                let query = writer_jobs::ListQuery::default()
                    .with_limit(limit)
                    .with_offset(offset);
                client.list_jobs_page(app, &query).await.map(drop)
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_lines_read_back_as_written() {
        let page = Sent::List {
            offset: 300,
            limit: 100,
        };
        for sent in [Sent::Create, page, Sent::FIRST_PAGE] {
            assert_eq!(Sent::from_line(&sent.to_line()), Some(sent));
        }
        assert_eq!(Sent::from_line("list"), Some(Sent::FIRST_PAGE));
        for bad in [
            "",
            "get",
            "list 5",
            "list 5 0",
            "list x 100",
            "create 1",
            "list 1 2 3",
        ] {
            assert_eq!(Sent::from_line(bad), None, "{bad:?}");
        }
    }
}

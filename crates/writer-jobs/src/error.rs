//! One error type a caller can match on.
//!
//! Each variant says what happened in a sentence, and carries the server's
//! request id when it sent one (quote it to Writer's support). What to do
//! about it is [`Error::advice`], the one place that advice is written. The
//! cause (a `reqwest::Error`, a `serde_json::Error`) is the error's
//! [`source`](std::error::Error::source), so the chain can be walked.
//!
//! The API key never appears in an error: messages taken from server bodies
//! are scrubbed of it before they are stored, and a cause whose text holds
//! it is kept only as scrubbed text.

use std::fmt;
use std::time::Duration;

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong when talking to the jobs API.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// 400: the server refused the request as malformed.
    #[error(
        "the server refused the request as invalid (HTTP 400): {message}{}",
        rid(request_id)
    )]
    #[non_exhaustive]
    BadRequest {
        /// The server's explanation.
        message: String,
        /// The server's request id.
        request_id: Option<String>,
        /// What the error body said, field by field (boxed: it is rarely
        /// read, and keeps `Error` small).
        body: Box<ErrorBody>,
    },
    /// 401: the API key was not accepted.
    #[error(
        "the API key was not accepted (HTTP 401): {message}{}",
        rid(request_id)
    )]
    #[non_exhaustive]
    Unauthorized {
        /// The server's explanation.
        message: String,
        /// The server's request id.
        request_id: Option<String>,
        /// What the error body said, field by field (boxed: it is rarely
        /// read, and keeps `Error` small).
        body: Box<ErrorBody>,
    },
    /// 403: the key may not use this application or job.
    #[error(
        "the API key has no access to this resource (HTTP 403): {message}{}",
        rid(request_id)
    )]
    #[non_exhaustive]
    Forbidden {
        /// The server's explanation.
        message: String,
        /// The server's request id.
        request_id: Option<String>,
        /// What the error body said, field by field (boxed: it is rarely
        /// read, and keeps `Error` small).
        body: Box<ErrorBody>,
    },
    /// 404: no such application or job.
    #[error("not found (HTTP 404): {message}{}", rid(request_id))]
    #[non_exhaustive]
    NotFound {
        /// The server's explanation.
        message: String,
        /// The server's request id.
        request_id: Option<String>,
        /// What the error body said, field by field (boxed: it is rarely
        /// read, and keeps `Error` small).
        body: Box<ErrorBody>,
    },
    /// 409: the request conflicts with the resource's state, e.g. retrying a
    /// job that is not `failed`. Not transient: repeating it will not help.
    #[error(
        "the request conflicts with the current state (HTTP 409): {message}{}",
        rid(request_id)
    )]
    #[non_exhaustive]
    Conflict {
        /// The server's explanation.
        message: String,
        /// The server's request id.
        request_id: Option<String>,
        /// What the error body said, field by field (boxed: it is rarely
        /// read, and keeps `Error` small).
        body: Box<ErrorBody>,
    },
    /// 429: the request budget is spent for now.
    #[error(
        "rate limited by the server (HTTP 429){}{}",
        after(retry_after),
        rid(request_id)
    )]
    #[non_exhaustive]
    RateLimited {
        /// How long the server asked to wait, if it said.
        retry_after: Option<Duration>,
        /// The server's request id.
        request_id: Option<String>,
    },
    /// 5xx: the server failed.
    #[error("the server failed (HTTP {status}): {message}{}", rid(request_id))]
    #[non_exhaustive]
    Server {
        /// The HTTP status (500..=599).
        status: u16,
        /// The server's explanation.
        message: String,
        /// The server's request id.
        request_id: Option<String>,
        /// What the error body said, field by field (boxed: it is rarely
        /// read, and keeps `Error` small).
        body: Box<ErrorBody>,
    },
    /// Any other HTTP status (a redirect, 408, 422, ...).
    #[error(
        "unexpected answer from the server (HTTP {status}): {message}{}",
        rid(request_id)
    )]
    #[non_exhaustive]
    Http {
        /// The HTTP status.
        status: u16,
        /// What the server said, or what the client made of it.
        message: String,
        /// The server's request id.
        request_id: Option<String>,
        /// What the error body said, field by field (boxed: it is rarely
        /// read, and keeps `Error` small).
        body: Box<ErrorBody>,
    },
    /// No answer within the request timeout.
    #[error("{operation} got no answer within {after:?}")]
    #[non_exhaustive]
    Timeout {
        /// The operation that timed out.
        operation: &'static str,
        /// The timeout that elapsed.
        after: Duration,
    },
    /// The connection failed or broke.
    #[error("{}: {message}", if *connect { "could not connect to the server (the request was not sent)" } else { "the connection failed" })]
    #[non_exhaustive]
    Transport {
        /// What went wrong: when it happened, or (when the cause could not
        /// be kept, see [`Error`]'s notes on the key) the cause's text.
        message: String,
        /// `true` when the connection could not be opened: the request
        /// surely was not sent.
        connect: bool,
        /// The HTTP client's error.
        #[source]
        source: Option<reqwest::Error>,
    },
    /// A response that does not have the expected shape.
    #[error(
        "could not understand the server's answer (HTTP {status}): {message}; \
         body starts with: {body_snippet:?}{}",
        rid(request_id)
    )]
    #[non_exhaustive]
    Decode {
        /// Why decoding failed.
        message: String,
        /// The start of the body (about 300 bytes, lossy UTF-8).
        body_snippet: String,
        /// The HTTP status.
        status: u16,
        /// The server's request id.
        request_id: Option<String>,
        /// The JSON decoder's error, when the body was not the JSON
        /// expected.
        #[source]
        source: Option<serde_json::Error>,
    },
    /// The job finished as `failed`.
    #[error("job {job_id} failed: {message}")]
    #[non_exhaustive]
    JobFailed {
        /// The job's id.
        job_id: String,
        /// The server's `error` text.
        message: String,
    },
    /// A call that is not safe to repeat (create, retry) failed after the
    /// request left: the server may or may not have acted on it. The client
    /// does not resend it; look the job up (e.g. list the application's
    /// jobs) before trying again.
    #[error(
        "{operation} may or may not have taken effect ({reason}{}); it was not resent, \
         to avoid a duplicate{}",
        status.map(|s| format!(", HTTP {s}")).unwrap_or_default(),
        rid(request_id)
    )]
    #[non_exhaustive]
    Ambiguous {
        /// The operation (`create_job`, `retry_job`).
        operation: &'static str,
        /// The HTTP status, if a response arrived.
        status: Option<u16>,
        /// The server's request id.
        request_id: Option<String>,
        /// What happened.
        reason: String,
    },
    /// A wait gave up at its deadline; the job may still finish later.
    #[error("job {job_id} was still unfinished after waiting {waited:?} ({polls} polls)")]
    #[non_exhaustive]
    Deadline {
        /// How long the wait lasted.
        waited: Duration,
        /// How many times the job was fetched.
        polls: u32,
        /// The job's id.
        job_id: String,
    },
    /// The client is misconfigured (key, base URL, policy values).
    #[error("configuration error: {0}")]
    Config(String),
    /// The request could not be built from the given arguments.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The inputs do not fit the application's input definitions.
    #[error("the inputs do not fit the application: {}", list(.0))]
    InvalidInputs(Vec<InputProblem>),
}

/// What an error answer's body said, field by field: Writer's documented
/// shape `{"tpe", "errors": [{"description", "key", "extras"}], "extras"}`,
/// or the older `{"message", "code", "errors"}` one. Empty when the body was
/// not JSON (the error's message then quotes a snippet of it). Every string
/// in it is scrubbed of the API key.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct ErrorBody {
    /// The error's type name (`tpe`, or `code` in the older shape).
    pub tpe: Option<String>,
    /// The individual problems, in the server's order.
    pub problems: Vec<ErrorProblem>,
    /// Anything more the server said about the error.
    pub extras: Option<serde_json::Value>,
}

/// One problem named in an error body.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct ErrorProblem {
    /// What the problem is about (for a 400 on create, the input at fault).
    pub key: Option<String>,
    /// The problem, in words.
    pub description: Option<String>,
    /// Anything more the server said about this problem.
    pub extras: Option<serde_json::Value>,
}

impl ErrorBody {
    /// The body's problems that name a key, as `(key, description)`.
    pub fn keyed(&self) -> impl Iterator<Item = (&str, &str)> {
        self.problems
            .iter()
            .filter_map(|p| Some((p.key.as_deref()?, p.description.as_deref().unwrap_or(""))))
    }
}

/// One problem with one input, found by [`crate::model::validate_inputs`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct InputProblem {
    /// The input's name.
    pub input: String,
    /// What is wrong with it.
    pub problem: String,
}

impl InputProblem {
    /// A problem with the input named `input`.
    pub fn new(input: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            input: input.into(),
            problem: problem.into(),
        }
    }
}

impl fmt::Display for InputProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "input {:?} {}", self.input, self.problem)
    }
}

fn rid(request_id: &Option<String>) -> String {
    match request_id {
        Some(id) => format!(" (request id {id})"),
        None => String::new(),
    }
}

fn after(retry_after: &Option<Duration>) -> String {
    match retry_after {
        Some(d) => format!(", asked to wait {d:?}"),
        None => String::new(),
    }
}

fn list(problems: &[InputProblem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// What to do when no API key was found: the advice of a missing key,
/// shared by every front end.
pub const MISSING_KEY_ADVICE: &str = "set WRITER_API_KEY or put it in .env";

/// What to do when the key cannot be an HTTP header value.
pub(crate) const MALFORMED_KEY_ADVICE: &str =
    "check WRITER_API_KEY for stray quotes, spaces or newlines";

impl Error {
    /// The error an answer with HTTP `status` stands for, with the server's
    /// `message` (the status table: 400, 401, 403, 404, 409, 429, 5xx, and
    /// [`Error::Http`] for any other). For tests of code that handles
    /// errors; the client itself also keeps the request id and the body.
    pub fn from_status(status: u16, message: impl Into<String>) -> Error {
        Error::from_answer(status, message.into(), None, Box::default(), None)
    }

    /// The status table: the error an answer with HTTP `status` stands for.
    pub(crate) fn from_answer(
        status: u16,
        message: String,
        request_id: Option<String>,
        body: Box<ErrorBody>,
        retry_after: Option<Duration>,
    ) -> Error {
        match status {
            400 => Error::BadRequest {
                message,
                request_id,
                body,
            },
            401 => Error::Unauthorized {
                message,
                request_id,
                body,
            },
            403 => Error::Forbidden {
                message,
                request_id,
                body,
            },
            404 => Error::NotFound {
                message,
                request_id,
                body,
            },
            409 => Error::Conflict {
                message,
                request_id,
                body,
            },
            429 => Error::RateLimited {
                retry_after,
                request_id,
            },
            500..=599 => Error::Server {
                status,
                message,
                request_id,
                body,
            },
            _ => Error::Http {
                status,
                message,
                request_id,
                body,
            },
        }
    }

    /// A job that finished as `failed`, with the server's `message`.
    pub fn job_failed(job_id: impl Into<String>, message: impl Into<String>) -> Error {
        Error::JobFailed {
            job_id: job_id.into(),
            message: message.into(),
        }
    }

    /// A connection failure; `connect` when it could not be opened (the
    /// request surely was not sent).
    pub(crate) fn transport(
        message: impl Into<String>,
        connect: bool,
        source: Option<reqwest::Error>,
    ) -> Error {
        Error::Transport {
            message: message.into(),
            connect,
            source,
        }
    }

    /// What a person can do about this error, in a sentence: the one place
    /// advice is written (the CLI prints it as its hint).
    pub fn advice(&self) -> Option<&'static str> {
        Some(match self {
            Self::BadRequest { .. } | Self::InvalidInputs(_) | Self::InvalidRequest(_) => {
                "check the inputs against the application's input definitions"
            }
            Self::Unauthorized { .. } => {
                "check WRITER_API_KEY (in the environment or .env): the key was refused"
            }
            Self::Forbidden { .. } => {
                "this key has no access to the application or job; check the id and the key's \
                 permissions"
            }
            Self::NotFound { .. } => "check the application or job id",
            Self::Conflict { .. } => {
                "the job is not in a state that allows this; fetch it to see its status"
            }
            Self::RateLimited { .. } => {
                "the request budget is spent for now; wait a minute, or lower the request rate \
                 or concurrency"
            }
            Self::Server { .. } | Self::Transport { .. } => {
                "the server is unavailable; try again later (check the base URL if this persists)"
            }
            Self::Timeout { .. } => {
                "the server may be slow or unreachable; try again later, or raise the request \
                 timeout if slow answers are expected"
            }
            Self::Deadline { .. } => {
                "the job may still finish: wait for it again later, or raise the poll deadline"
            }
            Self::JobFailed { .. } => "retry it (a retry answers the id to follow), then wait",
            Self::Ambiguous { .. } => {
                "list the application's jobs to see whether it took effect before trying again"
            }
            Self::Decode { .. } | Self::Http { .. } | Self::Config(_) => return None,
        })
    }

    /// Whether a call that is not safe to repeat (create, retry) may or may
    /// not have taken effect: [`Error::Ambiguous`].
    pub fn is_ambiguous(&self) -> bool {
        matches!(self, Self::Ambiguous { .. })
    }

    /// The job this error is about, when it is known (a failed job, a wait
    /// that gave up).
    pub fn job_id(&self) -> Option<&str> {
        match self {
            Self::JobFailed { job_id, .. } | Self::Deadline { job_id, .. } => Some(job_id),
            _ => None,
        }
    }

    /// The server's request id, when a response carried one.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Self::BadRequest { request_id, .. }
            | Self::Unauthorized { request_id, .. }
            | Self::Forbidden { request_id, .. }
            | Self::NotFound { request_id, .. }
            | Self::Conflict { request_id, .. }
            | Self::RateLimited { request_id, .. }
            | Self::Server { request_id, .. }
            | Self::Http { request_id, .. }
            | Self::Decode { request_id, .. }
            | Self::Ambiguous { request_id, .. } => request_id.as_deref(),
            _ => None,
        }
    }

    /// What the error answer's body said (`tpe`, each problem's `key` and
    /// description, `extras`), when the server answered with an error status.
    pub fn body(&self) -> Option<&ErrorBody> {
        match self {
            Self::BadRequest { body, .. }
            | Self::Unauthorized { body, .. }
            | Self::Forbidden { body, .. }
            | Self::NotFound { body, .. }
            | Self::Conflict { body, .. }
            | Self::Server { body, .. }
            | Self::Http { body, .. } => Some(body.as_ref()),
            _ => None,
        }
    }

    /// How long the server asked to wait before the next request (429).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The HTTP status of the response behind this error, if there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::BadRequest { .. } => Some(400),
            Self::Unauthorized { .. } => Some(401),
            Self::Forbidden { .. } => Some(403),
            Self::NotFound { .. } => Some(404),
            Self::Conflict { .. } => Some(409),
            Self::RateLimited { .. } => Some(429),
            Self::Server { status, .. }
            | Self::Http { status, .. }
            | Self::Decode { status, .. } => Some(*status),
            Self::Ambiguous { status, .. } => *status,
            _ => None,
        }
    }

    /// Whether the same call may succeed if made again later: connection
    /// failures, timeouts, 408, 429 and 5xx.
    ///
    /// [`Error::Conflict`] (409) is *not* transient: in this API it means a
    /// retry of a job that is not `failed`, which repeating cannot fix. (The
    /// client's own retry loop still retries a 409 on the read-only calls
    /// `get_job`, `list_jobs_page` and `application`, as Writer's SDKs do,
    /// before it reports one.) [`Error::Ambiguous`] is not transient either:
    /// repeating it may duplicate a job.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Transport { .. } | Self::Timeout { .. } | Self::RateLimited { .. } => true,
            Self::Server { .. } => true,
            Self::Http { status, .. } => *status == 408,
            _ => false,
        }
    }
}

/// Cuts `body` to about `max` bytes (on a char boundary), lossy UTF-8.
pub(crate) fn snippet(body: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(max + 4)]);
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = text[..end].to_string();
    if body.len() > end {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_transience() {
        let e = Error::Conflict {
            message: "not failed".into(),
            request_id: Some("r1".into()),
            body: Box::default(),
        };
        assert_eq!(e.status(), Some(409));
        assert!(!e.is_transient());
        assert_eq!(e.request_id(), Some("r1"));
        let e = Error::RateLimited {
            retry_after: Some(Duration::from_secs(3)),
            request_id: None,
        };
        assert!(e.is_transient());
        assert_eq!(e.retry_after(), Some(Duration::from_secs(3)));
        assert!(e.to_string().contains("3s"), "{e}");
        let e = Error::Ambiguous {
            operation: "create_job",
            status: Some(500),
            request_id: None,
            reason: "server error".into(),
        };
        assert!(!e.is_transient());
        assert!(e.to_string().contains("not resent"), "{e}");
    }

    #[test]
    fn the_status_table_advice_and_helpers() {
        type Is = fn(&Error) -> bool;
        let cases: [(u16, Is); 8] = [
            (400, |e| matches!(e, Error::BadRequest { .. })),
            (401, |e| matches!(e, Error::Unauthorized { .. })),
            (403, |e| matches!(e, Error::Forbidden { .. })),
            (404, |e| matches!(e, Error::NotFound { .. })),
            (409, |e| matches!(e, Error::Conflict { .. })),
            (429, |e| matches!(e, Error::RateLimited { .. })),
            (502, |e| matches!(e, Error::Server { status: 502, .. })),
            (422, |e| matches!(e, Error::Http { status: 422, .. })),
        ];
        for (status, is) in cases {
            let e = Error::from_status(status, "said so");
            assert!(is(&e), "{status}: {e:?}");
            assert_eq!(e.status(), Some(status));
            assert!(!e.is_ambiguous());
            assert_eq!(e.job_id(), None);
        }
        // Advice is not repeated in the message.
        let e = Error::from_status(401, "bad key");
        assert!(e.advice().unwrap().contains("WRITER_API_KEY"));
        assert!(!e.to_string().contains("WRITER_API_KEY"), "{e}");
        let e = Error::job_failed("j-1", "boom");
        assert_eq!(e.job_id(), Some("j-1"));
        assert!(e.advice().unwrap().starts_with("retry it"));
        let e = Error::Ambiguous {
            operation: "create_job",
            status: None,
            request_id: None,
            reason: "timed out".into(),
        };
        assert!(e.is_ambiguous());
        assert!(e.advice().is_some());
        assert_eq!(Error::Config("x".into()).advice(), None);
    }

    #[test]
    fn snippets_are_cut_on_char_boundaries() {
        let body = "é".repeat(400);
        let s = snippet(body.as_bytes(), 301);
        assert!(s.len() <= 301 + '…'.len_utf8());
        assert!(s.ends_with('…'));
        assert_eq!(snippet(b"short", 300), "short");
        assert_eq!(snippet(&[0xff, 0xfe], 300), "\u{fffd}\u{fffd}");
    }

    #[test]
    fn input_problems_read_well() {
        let e = Error::InvalidInputs(vec![InputProblem::new("Tone", "is required but missing")]);
        assert_eq!(
            e.to_string(),
            "the inputs do not fit the application: input \"Tone\" is required but missing"
        );
    }
}

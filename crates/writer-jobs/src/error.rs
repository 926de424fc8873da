//! One error type a caller can match on.
//!
//! Each variant says what happened in a sentence a person can act on, and
//! carries the server's request id when it sent one (quote it to Writer's
//! support). The API key never appears in an error: messages taken from
//! server bodies are scrubbed of it before they are stored.

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
        "the API key was not accepted (HTTP 401): {message}; check WRITER_API_KEY{}",
        rid(request_id)
    )]
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
    #[error(
        "not found (HTTP 404): {message}; check the application or job id{}",
        rid(request_id)
    )]
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
        "the request conflicts with the current state (HTTP 409): {message}; \
         fetch the job to see its status{}",
        rid(request_id)
    )]
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
        "rate limited by the server (HTTP 429){}; slow down or lower the concurrency{}",
        after(retry_after),
        rid(request_id)
    )]
    RateLimited {
        /// How long the server asked to wait, if it said.
        retry_after: Option<Duration>,
        /// The server's request id.
        request_id: Option<String>,
    },
    /// 5xx: the server failed.
    #[error(
        "the server failed (HTTP {status}): {message}; try again later{}",
        rid(request_id)
    )]
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
    #[error(
        "{operation} got no answer within {after:?}; the server may be slow or unreachable \
         (raise ClientBuilder::request_timeout if it is expected)"
    )]
    Timeout {
        /// The operation that timed out.
        operation: &'static str,
        /// The timeout that elapsed.
        after: Duration,
    },
    /// The connection failed or broke.
    #[error("{}: {message}", if *connect { "could not connect to the server (the request was not sent)" } else { "the connection failed" })]
    Transport {
        /// What went wrong.
        message: String,
        /// `true` when the connection could not be opened: the request
        /// surely was not sent.
        connect: bool,
    },
    /// A response that does not have the expected shape.
    #[error(
        "could not understand the server's answer (HTTP {status}): {message}; \
         body starts with: {body_snippet:?}{}",
        rid(request_id)
    )]
    Decode {
        /// Why decoding failed.
        message: String,
        /// The start of the body (about 300 bytes, lossy UTF-8).
        body_snippet: String,
        /// The HTTP status.
        status: u16,
        /// The server's request id.
        request_id: Option<String>,
    },
    /// The job finished as `failed`.
    #[error("job {job_id} failed: {message}")]
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
         to avoid a duplicate: check the application's jobs before trying again{}",
        status.map(|s| format!(", HTTP {s}")).unwrap_or_default(),
        rid(request_id)
    )]
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
    #[error(
        "job {job_id} was still unfinished after waiting {waited:?} ({polls} polls); \
         wait again later or raise the poll deadline"
    )]
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
pub struct InputProblem {
    /// The input's name.
    pub input: String,
    /// What is wrong with it.
    pub problem: String,
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

impl Error {
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
        let e = Error::InvalidInputs(vec![InputProblem {
            input: "Tone".into(),
            problem: "is required but missing".into(),
        }]);
        assert_eq!(
            e.to_string(),
            "the inputs do not fit the application: input \"Tone\" is required but missing"
        );
    }
}

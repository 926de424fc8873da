//! Errors as people and scripts see them: a message, its cause chain, a
//! hint, and a distinct exit code (documented in `writer-jobs --help`).

use std::fmt;
use std::process::ExitCode;

use writer_jobs::Error;
use writer_jobs::batch::{BatchError, JournalError};

/// The exit codes (see [`crate::args::EXIT_CODES_HELP`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// 0: everything worked.
    Ok = 0,
    /// 1: internal or unexpected error.
    Internal = 1,
    /// 2: usage error or bad input file.
    Usage = 2,
    /// 3: the key was refused, or there is none.
    Auth = 3,
    /// 4: no such application or job.
    NotFound = 4,
    /// 5: rate limited, server unavailable, or gave up.
    Unavailable = 5,
    /// 6: a job or some rows failed.
    Failed = 6,
    /// 7: some rows are ambiguous.
    Ambiguous = 7,
    /// 130: interrupted.
    Interrupted = 130,
}

impl From<Code> for ExitCode {
    fn from(code: Code) -> Self {
        ExitCode::from(code as u8)
    }
}

/// An error to report: what happened, why (the cause chain), what to do.
#[derive(Debug)]
pub struct CliError {
    /// The exit code.
    pub code: Code,
    /// The top-level message.
    pub message: String,
    /// Items the message lists (e.g. every problem with the inputs).
    pub details: Vec<String>,
    /// The causes, outermost first.
    pub causes: Vec<String>,
    /// What the user can do about it.
    pub hint: Option<String>,
}

impl CliError {
    /// An error with a code and a message.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            details: Vec::new(),
            causes: Vec::new(),
            hint: None,
        }
    }

    /// Adds an item to the list under the message.
    pub fn detail(mut self, item: impl fmt::Display) -> Self {
        self.details.push(item.to_string());
        self
    }

    /// A usage or input-file error (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(Code::Usage, message)
    }

    /// Adds a hint.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Adds a cause.
    pub fn cause(mut self, cause: impl fmt::Display) -> Self {
        self.causes.push(cause.to_string());
        self
    }

    /// Wraps an error with context: `message` on top, `err` and its
    /// sources as the causes, and `err`'s code and hint.
    pub fn context(message: impl Into<String>, err: impl Into<CliError>) -> Self {
        let inner: CliError = err.into();
        let mut causes = vec![inner.message];
        causes.extend(inner.causes);
        Self {
            code: inner.code,
            message: message.into(),
            details: inner.details,
            causes,
            hint: inner.hint,
        }
    }

    /// An I/O error on a file (exit 2 for a missing file or a permission
    /// problem: something the user passed; 1 otherwise).
    pub fn io(what: impl fmt::Display, err: &std::io::Error) -> Self {
        use std::io::ErrorKind::*;
        let code = match err.kind() {
            NotFound | PermissionDenied | AlreadyExists | IsADirectory | InvalidData => Code::Usage,
            _ => Code::Internal,
        };
        Self::new(code, format!("{what}: {err}"))
    }

    /// Prints the error to stderr: `error: ...`, `  caused by: ...`, `hint: ...`.
    pub fn report(&self) {
        eprintln!("{self}");
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error: {}", self.message)?;
        for item in &self.details {
            write!(f, "\n  - {item}")?;
        }
        for cause in &self.causes {
            write!(f, "\n  caused by: {cause}")?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "\nhint: {hint}")?;
        }
        Ok(())
    }
}

/// The causes of `err` below itself, outermost first.
fn sources(err: &dyn std::error::Error) -> Vec<String> {
    let mut out = Vec::new();
    let mut next = err.source();
    while let Some(e) = next {
        out.push(e.to_string());
        next = e.source();
    }
    out
}

/// The exit code for an API error (its hint is the library's
/// [`Error::advice`]).
fn code(err: &Error) -> Code {
    match err {
        Error::Unauthorized { .. } | Error::Forbidden { .. } => Code::Auth,
        Error::NotFound { .. } => Code::NotFound,
        Error::RateLimited { .. }
        | Error::Server { .. }
        | Error::Timeout { .. }
        | Error::Transport { .. }
        | Error::Deadline { .. } => Code::Unavailable,
        Error::JobFailed { .. } => Code::Failed,
        Error::Ambiguous { .. } => Code::Ambiguous,
        Error::BadRequest { .. }
        | Error::InvalidInputs(_)
        | Error::InvalidRequest(_)
        | Error::Config(_) => Code::Usage,
        _ => Code::Internal,
    }
}

impl From<Error> for CliError {
    fn from(err: Error) -> Self {
        CliError {
            code: code(&err),
            message: err.to_string(),
            details: Vec::new(),
            causes: sources(&err),
            hint: err.advice().map(str::to_string),
        }
    }
}

impl From<BatchError> for CliError {
    fn from(err: BatchError) -> Self {
        match err {
            BatchError::Api(api) => CliError::context("the API refused the batch", api),
            BatchError::Journal(journal) => {
                let code = match &journal {
                    JournalError::Io { .. } => Code::Internal,
                    _ => Code::Usage,
                };
                let hint = match &journal {
                    JournalError::Locked { .. } => {
                        Some("another writer-jobs run holds the journal; let it finish or stop it")
                    }
                    JournalError::Mismatch { .. } => Some(
                        "resume with the same --app and --base-url (and the same API key \
                         setup: real API or simulator), or remove the journal to start over",
                    ),
                    JournalError::RowChanged { .. } => Some(
                        "a row's inputs changed since the journal recorded it; restore the \
                         file, or use a new --out and --journal",
                    ),
                    JournalError::Corrupt { .. } => {
                        Some("the journal was edited or damaged; restore it or start over")
                    }
                    _ => None,
                };
                CliError {
                    code,
                    message: journal.to_string(),
                    details: Vec::new(),
                    causes: sources(&journal),
                    hint: hint.map(str::to_string),
                }
            }
            BatchError::Unavailable { .. } | BatchError::TooSlow { .. } => {
                let first = if matches!(err, BatchError::TooSlow { .. }) {
                    "rerun the same command with --resume and a lower --create-concurrency \
                     (against the simulator, a lower --scale)"
                } else {
                    "rerun the same command with --resume once the server answers again"
                };
                CliError {
                    code: Code::Unavailable,
                    message: err.to_string(),
                    details: Vec::new(),
                    causes: sources(&err),
                    hint: Some(format!(
                        "{first}; rows already created are followed, none is created twice"
                    )),
                }
            }
            BatchError::DuplicateKey { .. } | BatchError::Config(_) => CliError {
                code: Code::Usage,
                message: err.to_string(),
                details: Vec::new(),
                causes: sources(&err),
                hint: None,
            },
            other => CliError {
                code: Code::Internal,
                message: other.to_string(),
                details: Vec::new(),
                causes: sources(&other),
                hint: None,
            },
        }
    }
}

/// The hint for a missing API key.
pub const KEY_HINT: &str = writer_jobs::error::MISSING_KEY_ADVICE;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_errors_map_to_documented_codes() {
        for (status, code) in [
            (401, Code::Auth),
            (403, Code::Auth),
            (404, Code::NotFound),
            (429, Code::Unavailable),
            (503, Code::Unavailable),
            (400, Code::Usage),
        ] {
            let e: CliError = Error::from_status(status, "no").into();
            assert_eq!(e.code, code, "{status}");
        }
        let e: CliError = Error::job_failed("j", "boom").into();
        assert_eq!(e.code, Code::Failed);
        assert!(e.to_string().contains("hint: retry"), "{e}");
        let e: CliError = Error::from_status(401, "bad key").into();
        assert!(e.to_string().contains("hint: check WRITER_API_KEY"), "{e}");
    }

    #[test]
    fn context_keeps_the_chain_and_code() {
        let e = CliError::context(
            "cannot fetch the application",
            Error::from_status(403, "no access"),
        );
        assert_eq!(e.code, Code::Auth);
        let text = e.to_string();
        assert!(text.starts_with("error: cannot fetch the application"));
        assert!(
            text.contains("caused by: the API key has no access"),
            "{text}"
        );
    }
}

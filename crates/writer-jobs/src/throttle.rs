//! A hook that paces every request a [`Client`](crate::Client) sends.
//!
//! The batch engine plugs its rate limiter and circuit breaker in here:
//! each attempt (transport retries included) first awaits
//! [`Throttle::acquire`], and reports what happened to
//! [`Throttle::observe`]. A client has no throttle unless one is set with
//! [`Client::with_throttle`](crate::Client::with_throttle).

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::clock::{ClockInstant, Sleep};

/// The kind of request about to be sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Operation {
    /// `POST /v1/applications/{id}/jobs` (not idempotent).
    Create,
    /// `GET /v1/applications/jobs/{id}`.
    Get,
    /// `GET /v1/applications/{id}/jobs`.
    List,
    /// `POST /v1/applications/jobs/{id}/retry` (not idempotent).
    Retry,
    /// `GET /v1/applications/{id}`.
    Application,
    /// `POST /v1/applications/{id}` (a synchronous run).
    Run,
}

impl Operation {
    /// The API's operation id (`create_job`, `get_job`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create_job",
            Self::Get => "get_job",
            Self::List => "list_jobs",
            Self::Retry => "retry_job",
            Self::Application => "get_application",
            Self::Run => "run_application",
        }
    }

    /// Whether sending it twice is harmless. Create and retry are not: a
    /// second send can make a second job. A synchronous run leaves nothing
    /// behind on the server, so it counts as safe to resend.
    pub fn is_idempotent(self) -> bool {
        !matches!(self, Self::Create | Self::Retry)
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one attempt came to, as a throttle sees it (built by the client;
/// `Observation::default()` and the public fields for a test).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Observation {
    /// The HTTP status, when a response arrived.
    pub status: Option<u16>,
    /// The wait the server asked for (`Retry-After`/`retry-after-ms`, clamped).
    pub retry_after: Option<Duration>,
    /// `true` when no response arrived (connect error, reset, timeout).
    pub transport_error: bool,
    /// `true` when the attempt ran out of time with no answer (then
    /// `transport_error` is `true` too): a slow server, not a dead one.
    pub timed_out: bool,
    /// When the attempt was sent, on the client's clock
    /// ([`Clock::instant`]; not a wall-clock time): an answer to a request
    /// sent before some failure says nothing about whether the server has
    /// recovered since.
    ///
    /// [`Clock::instant`]: crate::clock::Clock::instant
    pub sent_at: ClockInstant,
    /// The server's `Date` header, when it sent one: with the time the
    /// attempt was sent and the time this is observed, it bounds the offset
    /// between the server's clock and ours.
    pub server_date: Option<DateTime<Utc>>,
}

/// Paces requests: called around every attempt a client makes.
pub trait Throttle: Send + Sync + fmt::Debug + 'static {
    /// A future that completes when a request of kind `op` may be sent.
    fn acquire(&self, op: Operation) -> Sleep;
    /// Reports the outcome of an attempt that [`acquire`](Self::acquire) let through.
    fn observe(&self, op: Operation, outcome: &Observation);
}

/// A throttle that never waits (what a client without one behaves like).
#[derive(Clone, Copy, Debug, Default)]
pub struct Unthrottled;

impl Throttle for Unthrottled {
    fn acquire(&self, _op: Operation) -> Sleep {
        Box::pin(std::future::ready(()))
    }

    fn observe(&self, _op: Operation, _outcome: &Observation) {}
}

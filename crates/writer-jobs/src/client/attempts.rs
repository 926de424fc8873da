//! The retry loop every call goes through: the throttle's permit before
//! each attempt and its report after, the attempt raced against the
//! clock's timeout, and the retry policy's decision, wait and budget
//! between attempts. Whether a failure is retried, ambiguous, and what it
//! costs is the one table in [`crate::retry`]; this module only applies it.

use std::future::Future;

use super::Client;
use super::classify::chain_text;
use super::exchange::{Call, Exchange, Typed, Undecodable};
use crate::error::{Error, Result};
use crate::retry::{Failed, cost, verdict};
use crate::throttle::{Observation, Operation};

impl Client {
    /// One call through the retry loop: each attempt is one exchange,
    /// classified and decoded.
    pub(super) async fn execute<T>(
        &self,
        op: Operation,
        call: Call<'_>,
        decode: impl Fn(&[u8], Option<Typed>) -> std::result::Result<T, Undecodable>,
    ) -> Result<T> {
        let (call, decode) = (&call, &decode);
        self.attempts(op, move || async move {
            let exchange = self.timed_exchange(op, call).await;
            self.classify(op, exchange, decode)
        })
        .await
    }

    /// The retry loop shared by every call: the throttle's permit before
    /// each attempt, its report after, and the retry policy's decision,
    /// wait and budget between attempts.
    pub(super) async fn attempts<T, F, Fut>(&self, op: Operation, mut attempt_once: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = (std::result::Result<T, Failure>, Observation)>,
    {
        let policy = &self.inner.retry;
        let clock = &self.inner.clock;
        let started = clock.now();
        let mut attempt: u32 = 0;
        let mut spent: u32 = 0;
        loop {
            attempt += 1;
            if let Some(throttle) = &self.throttle
                && !self.single_attempt
            {
                throttle.acquire(op).await;
            }
            let sent_at = clock.instant();
            let (outcome, mut observation) = attempt_once().await;
            observation.sent_at = sent_at;
            if let Some(throttle) = &self.throttle {
                throttle.observe(op, &observation);
            }
            let failure = match outcome {
                Ok(value) => {
                    if let Some(budget) = policy.budget() {
                        budget.refund(if spent > 0 { spent } else { cost::SUCCESS });
                    }
                    return Ok(value);
                }
                Err(failure) => failure,
            };
            let verdict = failure.verdict(op);
            if !verdict.retry {
                return Err(failure.into_error(op));
            }
            if attempt >= policy.max_attempts() || self.single_attempt {
                tracing::debug!(operation = %op, attempt, "no attempts left");
                return Err(failure.into_error(op));
            }
            let wait = policy.wait(attempt - 1, failure.retry_after);
            let elapsed = clock.now().saturating_sub(started);
            if let Some(limit) = policy.max_elapsed()
                && elapsed + wait > limit
            {
                tracing::debug!(operation = %op, attempt, ?wait, ?elapsed, "no time left for another attempt");
                return Err(failure.into_error(op));
            }
            let price = verdict.cost;
            if price > 0
                && let Some(budget) = policy.budget()
            {
                if !budget.try_spend(price) {
                    tracing::warn!(
                        operation = %op,
                        attempt,
                        "retry budget exhausted: not retrying (the server is failing a lot)"
                    );
                    return Err(failure.into_error(op));
                }
                spent += price;
            }
            tracing::info!(
                operation = %op,
                attempt,
                next_attempt = attempt + 1,
                wait_ms = wait.as_millis() as u64,
                error = %failure.error,
                "retrying"
            );
            clock.sleep(wait).await;
        }
    }

    /// One exchange, racing the clock's timeout.
    pub(super) async fn timed_exchange(&self, op: Operation, call: &Call<'_>) -> Exchange {
        let timeout = match (op, self.read_timeout) {
            (Operation::Run, _) => self.inner.run_timeout,
            (Operation::Get | Operation::List | Operation::Application, Some(read)) => read,
            _ => self.inner.request_timeout,
        };
        let sleep = self.inner.clock.sleep(timeout);
        tokio::select! {
            biased;
            exchange = self.exchange(call) => exchange,
            () = sleep => Exchange::TimedOut(timeout),
        }
    }
}

/// A failed attempt: the error to report, and what the retry table
/// needs to judge it.
pub(super) struct Failure {
    pub(super) error: Error,
    pub(super) failed: Failed,
    pub(super) should_retry: Option<bool>,
    pub(super) retry_after: Option<std::time::Duration>,
}

impl Failure {
    pub(super) fn new(error: Error, failed: Failed) -> Self {
        Self {
            error,
            failed,
            should_retry: None,
            retry_after: None,
        }
    }

    /// What the retry table says about it (see [`crate::retry`]).
    pub(super) fn verdict(&self, op: Operation) -> crate::retry::Verdict {
        verdict(op, self.failed, self.should_retry)
    }

    /// The error to report once no more attempts are made: for calls that
    /// are not idempotent, a failure after the request left is ambiguous.
    pub(super) fn into_error(self, op: Operation) -> Error {
        if !self.verdict(op).ambiguous {
            return self.error;
        }
        Error::Ambiguous {
            operation: op.as_str(),
            status: self.error.status(),
            request_id: self.error.request_id().map(str::to_string),
            reason: chain_text(&self.error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_failures_after_sending_are_ambiguous() {
        let f = Failure::new(
            Error::from_answer(500, "boom".into(), Some("r".into()), Box::default(), None),
            Failed::Status(500),
        );
        assert!(!f.verdict(Operation::Create).retry);
        assert!(f.verdict(Operation::Get).retry);
        match f.into_error(Operation::Create) {
            Error::Ambiguous {
                operation,
                status,
                request_id,
                reason,
                ..
            } => {
                assert_eq!(operation, "create_job");
                assert_eq!(status, Some(500));
                assert_eq!(request_id.as_deref(), Some("r"));
                assert!(reason.contains("boom"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        let f = Failure::new(Error::transport("refused", true, None), Failed::NotSent);
        assert!(f.verdict(Operation::Create).retry);
        assert!(matches!(
            f.into_error(Operation::Create),
            Error::Transport { connect: true, .. }
        ));
        let mut f = Failure::new(Error::from_status(409, "not failed"), Failed::Status(409));
        assert!(!f.verdict(Operation::Retry).retry);
        assert!(f.verdict(Operation::List).retry);
        f.should_retry = Some(false);
        assert!(!f.verdict(Operation::List).retry);
        assert!(matches!(
            f.into_error(Operation::Retry),
            Error::Conflict { .. }
        ));
    }
}

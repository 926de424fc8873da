//! [`Progress`]: a snapshot of a running batch's counts, published on a
//! watch channel for progress bars and logs (see
//! [`BatchRun::progress`](super::BatchRun::progress)).

/// A snapshot of the batch's progress, for progress bars and logs.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Progress {
    /// Rows read from the input so far.
    pub rows_read: u64,
    /// Rows whose outcome an earlier run recorded (resume).
    pub replayed: u64,
    /// Jobs created by this run.
    pub created: u64,
    /// Jobs being waited for.
    pub in_flight: u64,
    /// Rows completed.
    pub completed: u64,
    /// Rows failed.
    pub failed: u64,
    /// Rows reported ambiguous.
    pub ambiguous: u64,
    /// Rows rejected.
    pub rejected: u64,
    /// Rows timed out.
    pub timed_out: u64,
    /// Ambiguous creates waiting for reconciliation.
    pub reconciling: u64,
    /// Requests sent by this run.
    pub requests: u64,
    /// Requests per finished row so far.
    pub requests_per_job: f64,
    /// The rate limiter's rate in force, requests per second (`None`: unlimited).
    pub current_rate: Option<f64>,
    /// 429 answers seen.
    pub throttled: u64,
    /// Whether the circuit is open (outage).
    pub circuit_open: bool,
    /// Whether the input is exhausted and nothing more will be created.
    pub creating_done: bool,
}

impl Progress {
    /// Rows with a final outcome (this run and replayed).
    pub fn finished(&self) -> u64 {
        self.completed + self.failed + self.ambiguous + self.rejected + self.timed_out
    }
}

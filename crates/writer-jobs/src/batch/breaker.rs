//! Outage handling: when to stop sending creates, and when to start again.
//!
//! Two rules, both on the injected clock:
//!
//! 1. **Create gate.** A create that fails ambiguously (5xx, timeout, lost
//!    connection) or any transport/5xx failure closes the gate for *new*
//!    creates until some later request succeeds. So in an outage, the rows
//!    that can become ambiguous are the creates already in flight when it
//!    began, and no more: the bound is the batch's create concurrency.
//! 2. **Circuit breaker.** After `threshold` consecutive failures the circuit
//!    opens: the engine sends nothing but one cheap probe (a read) at growing
//!    intervals (1 s doubling to 60 s), and closes the circuit when a probe
//!    succeeds.

use std::time::Duration;

/// Whether the engine may send a request of a given kind now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Gate {
    /// Send freely.
    Open,
    /// Creates wait; reads go on (they will tell us when the server is back).
    ReadsOnly,
    /// Outage: only a probe, no earlier than the given clock time.
    ProbeAt(Duration),
}

/// The breaker's state machine (no I/O; the engine drives it).
#[derive(Debug, Clone)]
pub(crate) struct Breaker {
    threshold: u32,
    consecutive_failures: u32,
    creates_paused: bool,
    /// Clock time of the latest failure: only an answer to a request sent
    /// after it shows the server has recovered.
    last_failure: Option<Duration>,
    open: bool,
    probe_interval: Duration,
    next_probe: Duration,
    opened: u32,
}

/// The first wait between probes.
const FIRST_PROBE: Duration = Duration::from_secs(1);
/// The longest wait between probes.
const MAX_PROBE: Duration = Duration::from_secs(60);

impl Breaker {
    /// A closed breaker that opens after `threshold` consecutive failures.
    pub(crate) fn new(threshold: u32) -> Self {
        Self {
            threshold: threshold.max(1),
            consecutive_failures: 0,
            creates_paused: false,
            last_failure: None,
            open: false,
            probe_interval: FIRST_PROBE,
            next_probe: Duration::ZERO,
            opened: 0,
        }
    }

    /// What may be sent at clock time `now`.
    pub(crate) fn gate(&self) -> Gate {
        if self.open {
            Gate::ProbeAt(self.next_probe)
        } else if self.creates_paused {
            Gate::ReadsOnly
        } else {
            Gate::Open
        }
    }

    /// Whether a new create may start.
    pub(crate) fn creates_allowed(&self) -> bool {
        self.gate() == Gate::Open
    }

    /// A request sent at clock time `sent_at` succeeded (any 2xx, or a 4xx
    /// that proves the server is up). An answer to a request sent before the
    /// latest failure is old news and changes nothing.
    pub(crate) fn on_success(&mut self, sent_at: Duration) {
        if self.last_failure.is_some_and(|failed| sent_at < failed) {
            return;
        }
        self.consecutive_failures = 0;
        self.creates_paused = false;
        if self.open {
            tracing::info!("the server answers again; resuming");
        }
        self.open = false;
        self.probe_interval = FIRST_PROBE;
    }

    /// A request failed in a way that suggests an outage (5xx, transport,
    /// timeout) at clock time `now`.
    pub(crate) fn on_failure(&mut self, now: Duration) {
        self.last_failure = Some(now);
        self.consecutive_failures += 1;
        self.creates_paused = true;
        if self.open {
            // A failed probe: wait longer before the next one.
            self.probe_interval = (self.probe_interval * 2).min(MAX_PROBE);
            self.next_probe = now + self.probe_interval;
        } else if self.consecutive_failures >= self.threshold {
            tracing::warn!(
                failures = self.consecutive_failures,
                "circuit open: the server keeps failing; probing before sending more"
            );
            self.open = true;
            self.opened += 1;
            self.probe_interval = FIRST_PROBE;
            self.next_probe = now + self.probe_interval;
        }
    }

    /// Marks the probe due at `now` as sent, so no other request goes out as
    /// a probe before the next probe time.
    pub(crate) fn claim_probe(&mut self, now: Duration) {
        self.next_probe = now + self.probe_interval;
    }

    /// How many times the circuit has opened.
    #[cfg(test)]
    pub(crate) fn times_opened(&self) -> u32 {
        self.opened
    }

    /// Whether the circuit is open (outage mode).
    pub(crate) fn is_open(&self) -> bool {
        self.open
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn one_failure_pauses_creates_until_a_success() {
        let mut b = Breaker::new(5);
        assert!(b.creates_allowed());
        b.on_failure(S);
        assert_eq!(b.gate(), Gate::ReadsOnly);
        // An answer to a request sent before the failure proves nothing.
        b.on_success(S / 2);
        assert_eq!(b.gate(), Gate::ReadsOnly);
        b.on_success(2 * S);
        assert!(b.creates_allowed());
    }

    #[test]
    fn a_run_of_failures_opens_and_probes_back_off() {
        let mut b = Breaker::new(3);
        for _ in 0..3 {
            b.on_failure(S);
        }
        assert_eq!(b.gate(), Gate::ProbeAt(2 * S));
        b.on_failure(2 * S);
        assert_eq!(b.gate(), Gate::ProbeAt(4 * S));
        b.on_failure(4 * S);
        assert_eq!(b.gate(), Gate::ProbeAt(8 * S));
        for _ in 0..20 {
            b.on_failure(100 * S);
        }
        assert_eq!(b.gate(), Gate::ProbeAt(160 * S), "probe interval is capped");
        b.on_success(200 * S);
        assert_eq!(b.gate(), Gate::Open);
        assert_eq!(b.times_opened(), 1);
    }
}

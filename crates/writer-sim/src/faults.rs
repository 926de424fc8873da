//! Fault injection: which failures the simulator injects, on which
//! operations, how often, and the seeded draw that decides each request.
//!
//! A [`FaultConfig`] maps (operation, fault kind) to a probability. Each
//! request draws one number from a seeded RNG and gets at most one fault, so
//! the same seed and the same request sequence give the same faults. Parse
//! one from a compact string:
//!
//! ```
//! use writer_sim::{FaultConfig, FaultKind, Operation};
//! let faults: FaultConfig = "create:accept_then_drop=0.01,get:500=0.02,*:reset=0.005"
//!     .parse()
//!     .unwrap();
//! assert_eq!(faults.probability(Operation::Get, FaultKind::Status500), 0.02);
//! assert_eq!(faults.probability(Operation::List, FaultKind::Reset), 0.005);
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::config::{ConfigError, check_probability};

/// One operation of the API (the unit that faults, rate limits and
/// statistics are counted by).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Operation {
    /// POST /v1/applications/{app}/jobs
    Create,
    /// GET /v1/applications/jobs/{job_id}
    Get,
    /// GET /v1/applications/{app}/jobs
    List,
    /// POST /v1/applications/jobs/{job_id}/retry
    Retry,
    /// POST /v1/applications/{app} (synchronous run)
    Run,
    /// GET /v1/applications/{app} (details)
    App,
    /// Any other path (answered 404).
    Other,
}

impl Operation {
    /// The six operations of the API.
    pub const ALL: [Operation; 6] = [
        Operation::Create,
        Operation::Get,
        Operation::List,
        Operation::Retry,
        Operation::Run,
        Operation::App,
    ];

    /// Its short name (`create`, `get`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "create",
            Operation::Get => "get",
            Operation::List => "list",
            Operation::Retry => "retry",
            Operation::Run => "run",
            Operation::App => "app",
            Operation::Other => "other",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Operation {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, ConfigError> {
        Operation::ALL
            .into_iter()
            .find(|op| op.as_str() == s)
            .ok_or_else(|| ConfigError::UnknownOperation {
                name: s.to_string(),
                context: "the fault config".into(),
            })
    }
}

/// A kind of fault the simulator can inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FaultKind {
    /// Close the connection before any response (`reset`); the request is
    /// not handled.
    Reset,
    /// 500 with a JSON error (`500`).
    Status500,
    /// 503 with a JSON error and `Retry-After` (`503`).
    Status503,
    /// 504 with a JSON error (`504`).
    Status504,
    /// A burst of 429s: this request and the next `burst_len - 1` get 429
    /// (`429_burst`, alias `429`).
    Burst429,
    /// Handle the request (a create DOES create the job), then close the
    /// connection without a response (`accept_then_drop`).
    AcceptThenDrop,
    /// Handle the request, wait `slow_delay` of simulated time, then answer
    /// normally (`slow`).
    Slow,
    /// Handle the request, wait `slow_delay`, then close the connection
    /// without a response (`slow_drop`).
    SlowDrop,
    /// A 200 whose JSON body is cut in half (`truncated`).
    Truncated,
    /// A 200 whose body is not JSON at all (`malformed`).
    Malformed,
    /// A 200 with extra unknown fields in every object (`extra_fields`).
    ExtraFields,
    /// In-progress jobs reported with the unknown status `queued`
    /// (`unknown_status`); final states are never hidden.
    UnknownStatus,
    /// A create answer naming the job `job_id` instead of `id`
    /// (`job_id_field`), as Writer's guide shows.
    JobIdField,
    /// Receive the request (body included), hold it for `hold_delay` of
    /// simulated time, and only then handle it (a create makes its job at
    /// the end of the hold, with that `created_at`) and answer, if the
    /// client is still connected (`hold`). The handling runs in its own
    /// task, so a client that gives up and closes the connection does not
    /// cancel it: the job appears after the client's timeout, as with a
    /// server slow before it commits.
    Hold,
}

impl FaultKind {
    /// Every kind, in the order a request's draw walks them.
    pub const ALL: [FaultKind; 14] = [
        FaultKind::Reset,
        FaultKind::Status500,
        FaultKind::Status503,
        FaultKind::Status504,
        FaultKind::Burst429,
        FaultKind::AcceptThenDrop,
        FaultKind::Slow,
        FaultKind::SlowDrop,
        FaultKind::Truncated,
        FaultKind::Malformed,
        FaultKind::ExtraFields,
        FaultKind::UnknownStatus,
        FaultKind::JobIdField,
        FaultKind::Hold,
    ];

    /// Its name in configs and statistics.
    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::Reset => "reset",
            FaultKind::Status500 => "500",
            FaultKind::Status503 => "503",
            FaultKind::Status504 => "504",
            FaultKind::Burst429 => "429_burst",
            FaultKind::AcceptThenDrop => "accept_then_drop",
            FaultKind::Slow => "slow",
            FaultKind::SlowDrop => "slow_drop",
            FaultKind::Truncated => "truncated",
            FaultKind::Malformed => "malformed",
            FaultKind::ExtraFields => "extra_fields",
            FaultKind::UnknownStatus => "unknown_status",
            FaultKind::JobIdField => "job_id_field",
            FaultKind::Hold => "hold",
        }
    }

    /// Whether the fault replaces the request's handling (the request never
    /// reaches the API), as opposed to acting on the handled response.
    pub fn before_handler(self) -> bool {
        matches!(
            self,
            FaultKind::Reset
                | FaultKind::Status500
                | FaultKind::Status503
                | FaultKind::Status504
                | FaultKind::Burst429
        )
    }

    fn known_names() -> String {
        let names: Vec<&str> = FaultKind::ALL.iter().map(|k| k.as_str()).collect();
        names.join(", ")
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FaultKind {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, ConfigError> {
        if s == "429" {
            return Ok(FaultKind::Burst429);
        }
        FaultKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| ConfigError::UnknownFault {
                name: s.to_string(),
                context: "the fault config".into(),
                known: FaultKind::known_names(),
            })
    }
}

/// Which `x-should-retry` header injected 5xx responses carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ShouldRetry {
    /// No header.
    #[default]
    Absent,
    /// `x-should-retry: true`.
    True,
    /// `x-should-retry: false`.
    False,
    /// `true` or `false`, drawn per response from the seeded RNG.
    Mixed,
}

impl FromStr for ShouldRetry {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, ConfigError> {
        match s {
            "none" | "absent" => Ok(ShouldRetry::Absent),
            "true" => Ok(ShouldRetry::True),
            "false" => Ok(ShouldRetry::False),
            "mixed" => Ok(ShouldRetry::Mixed),
            other => Err(ConfigError::invalid(
                "faults.should_retry",
                other,
                "use none, true, false or mixed",
            )),
        }
    }
}

/// Whether the whole service is down (set at runtime with
/// [`Simulator::set_outage`](crate::Simulator::set_outage)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Outage {
    /// The service works.
    #[default]
    None,
    /// Every API request gets 503.
    Unavailable,
    /// Every API request's connection is closed without a response.
    Reset,
}

/// Which faults to inject where, with their probabilities and parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultConfig {
    /// Probabilities for one operation; they override `all`.
    pub per_operation: BTreeMap<Operation, BTreeMap<FaultKind, f64>>,
    /// Probabilities for every operation (`*:` in the compact form).
    pub all: BTreeMap<FaultKind, f64>,
    /// How many consecutive 429s a `429_burst` gives (default 5).
    pub burst_len: u32,
    /// How long `slow` and `slow_drop` wait, in simulated time (default
    /// 120 s: longer than a typical client timeout).
    pub slow_delay: Duration,
    /// The `Retry-After` of injected 429s and 503s, in simulated time
    /// (default 1 s).
    pub retry_after: Duration,
    /// How long `hold` keeps a request before handling it, in simulated
    /// time (default 70 s: past a typical 60 s client timeout; compact form
    /// `hold_secs=S`, TOML `hold_secs`).
    pub hold_delay: Duration,
    /// The `x-should-retry` header of injected 5xx responses.
    pub should_retry: ShouldRetry,
}

impl Default for FaultConfig {
    fn default() -> Self {
        Self {
            per_operation: BTreeMap::new(),
            all: BTreeMap::new(),
            burst_len: 5,
            slow_delay: Duration::from_secs(120),
            retry_after: Duration::from_secs(1),
            hold_delay: Duration::from_secs(70),
            should_retry: ShouldRetry::Absent,
        }
    }
}

impl FaultConfig {
    /// No faults.
    pub fn none() -> Self {
        Self::default()
    }

    /// Injects `kind` on `op` with probability `p` (checked by
    /// [`validate`](Self::validate) when the simulator takes the config).
    pub fn on(mut self, op: Operation, kind: FaultKind, p: f64) -> Self {
        self.per_operation.entry(op).or_default().insert(kind, p);
        self
    }

    /// Injects `kind` on every operation with probability `p`.
    pub fn on_all(mut self, kind: FaultKind, p: f64) -> Self {
        self.all.insert(kind, p);
        self
    }

    /// Sets the length of 429 bursts.
    pub fn burst_len(mut self, n: u32) -> Self {
        self.burst_len = n;
        self
    }

    /// Sets the delay of slow responses (simulated time).
    pub fn slow_delay(mut self, d: Duration) -> Self {
        self.slow_delay = d;
        self
    }

    /// Sets how long `hold` keeps a request before handling it (simulated
    /// time).
    pub fn hold_delay(mut self, d: Duration) -> Self {
        self.hold_delay = d;
        self
    }

    /// Sets the `x-should-retry` header of injected 5xx responses.
    pub fn should_retry(mut self, v: ShouldRetry) -> Self {
        self.should_retry = v;
        self
    }

    /// Whether no fault is configured.
    pub fn is_empty(&self) -> bool {
        self.all.values().all(|p| *p == 0.0)
            && self
                .per_operation
                .values()
                .all(|m| m.values().all(|p| *p == 0.0))
    }

    /// The probability of `kind` on `op` (the operation's own setting, else
    /// the `*` one, else 0).
    pub fn probability(&self, op: Operation, kind: FaultKind) -> f64 {
        self.per_operation
            .get(&op)
            .and_then(|m| m.get(&kind))
            .or_else(|| self.all.get(&kind))
            .copied()
            .unwrap_or(0.0)
    }

    /// Checks every probability is in [0, 1] and that each operation's add
    /// up to at most 1 (a request gets at most one fault).
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (kind, p) in &self.all {
            check_probability(&format!("faults.*.{kind}"), *p)?;
        }
        for (op, kinds) in &self.per_operation {
            for (kind, p) in kinds {
                check_probability(&format!("faults.{op}.{kind}"), *p)?;
            }
        }
        for op in Operation::ALL {
            let sum: f64 = FaultKind::ALL
                .iter()
                .map(|k| self.probability(op, *k))
                .sum();
            if sum > 1.0 + 1e-9 {
                return Err(ConfigError::invalid(
                    format!("faults on {op} (sum of probabilities)"),
                    sum,
                    "a request gets at most one fault: make the probabilities of one operation add up to at most 1",
                ));
            }
        }
        if self.burst_len == 0 {
            return Err(ConfigError::invalid(
                "faults.burst_len",
                0,
                "use a burst of at least 1 response",
            ));
        }
        Ok(())
    }

    /// Parses the compact form: comma-separated `op:kind=probability` items
    /// (`op` is create, get, list, retry, run, app or `*`) and settings
    /// `burst_len=N`, `slow_secs=S`, `retry_after_secs=S`, `hold_secs=S`,
    /// `should_retry=none|true|false|mixed`.
    pub fn parse_compact(text: &str) -> Result<Self, ConfigError> {
        let mut config = FaultConfig::default();
        config.apply_compact(text)?;
        config.validate()?;
        Ok(config)
    }

    fn apply_compact(&mut self, text: &str) -> Result<(), ConfigError> {
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (lhs, value) = item.split_once('=').ok_or_else(|| {
                ConfigError::invalid(
                    "faults",
                    item,
                    "write op:kind=probability, e.g. get:500=0.02",
                )
            })?;
            let (lhs, value) = (lhs.trim(), value.trim());
            match lhs.split_once(':') {
                Some((op, kind)) => {
                    let kind: FaultKind = kind.trim().parse().map_err(|e| with_context(e, item))?;
                    let p: f64 = value.parse().map_err(|_| {
                        ConfigError::invalid(
                            format!("faults.{}", lhs),
                            value,
                            "use a probability between 0 and 1 (0.01 = 1%)",
                        )
                    })?;
                    check_probability(&format!("faults.{lhs}"), p)?;
                    match op.trim() {
                        "*" => {
                            self.all.insert(kind, p);
                        }
                        op => {
                            let op: Operation = op.parse().map_err(|e| with_context(e, item))?;
                            self.per_operation.entry(op).or_default().insert(kind, p);
                        }
                    }
                }
                None => self.apply_setting(lhs, value)?,
            }
        }
        Ok(())
    }

    fn apply_setting(&mut self, name: &str, value: &str) -> Result<(), ConfigError> {
        let secs = |field: &str| -> Result<Duration, ConfigError> {
            value
                .parse::<f64>()
                .ok()
                .filter(|s| s.is_finite() && *s >= 0.0)
                .map(Duration::from_secs_f64)
                .ok_or_else(|| {
                    ConfigError::invalid(
                        format!("faults.{field}"),
                        value,
                        "use a number of seconds of 0 or more",
                    )
                })
        };
        match name {
            "burst_len" => {
                self.burst_len = value.parse().map_err(|_| {
                    ConfigError::invalid(
                        "faults.burst_len",
                        value,
                        "use a whole number of at least 1",
                    )
                })?;
            }
            "slow_secs" => self.slow_delay = secs("slow_secs")?,
            "retry_after_secs" => self.retry_after = secs("retry_after_secs")?,
            "hold_secs" => self.hold_delay = secs("hold_secs")?,
            "should_retry" => self.should_retry = value.parse()?,
            other => {
                return Err(ConfigError::invalid(
                    "faults",
                    other,
                    "settings are burst_len, slow_secs, retry_after_secs, hold_secs and should_retry; faults are written op:kind=probability",
                ));
            }
        }
        Ok(())
    }

    /// Reads the `[faults]` table of a TOML config: optional `spec` (the
    /// compact form), settings, and one sub-table per operation (or `"*"`)
    /// mapping fault names to probabilities.
    #[cfg(feature = "toml")]
    pub(crate) fn from_toml_table(table: &toml::Table) -> Result<Self, ConfigError> {
        let mut config = FaultConfig::default();
        for (key, value) in table {
            match (key.as_str(), value) {
                ("spec", toml::Value::String(s)) => config.apply_compact(s)?,
                ("should_retry", toml::Value::Boolean(b)) => {
                    config.should_retry = if *b {
                        ShouldRetry::True
                    } else {
                        ShouldRetry::False
                    }
                }
                (op, toml::Value::Table(kinds)) => {
                    for (kind, p) in kinds {
                        let p = match p {
                            toml::Value::Float(f) => *f,
                            toml::Value::Integer(i) => *i as f64,
                            other => {
                                return Err(ConfigError::invalid(
                                    format!("faults.{op}.{kind}"),
                                    other,
                                    "use a probability between 0 and 1",
                                ));
                            }
                        };
                        config.apply_compact(&format!("{op}:{kind}={p}"))?;
                    }
                }
                (name, value) => {
                    let text = match value {
                        toml::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    config.apply_setting(name, &text)?;
                }
            }
        }
        config.validate()?;
        Ok(config)
    }
}

fn with_context(err: ConfigError, item: &str) -> ConfigError {
    match err {
        ConfigError::UnknownFault { name, known, .. } => ConfigError::UnknownFault {
            name,
            context: format!("`{item}`"),
            known,
        },
        ConfigError::UnknownOperation { name, .. } => ConfigError::UnknownOperation {
            name,
            context: format!("`{item}`"),
        },
        other => other,
    }
}

impl FromStr for FaultConfig {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, ConfigError> {
        Self::parse_compact(s)
    }
}

/// What the fault engine decided for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Decision {
    pub(crate) fault: Option<FaultKind>,
    /// The `x-should-retry` value for an injected 5xx.
    pub(crate) should_retry: Option<bool>,
}

/// The seeded state that turns a [`FaultConfig`] into per-request decisions.
#[derive(Debug)]
pub(crate) struct FaultEngine {
    pub(crate) config: FaultConfig,
    pub(crate) outage: Outage,
    rng: StdRng,
    burst_left: u32,
}

impl FaultEngine {
    pub(crate) fn new(config: FaultConfig, seed: u64) -> Self {
        Self {
            config,
            outage: Outage::None,
            rng: StdRng::seed_from_u64(seed ^ 0x6661_756c_7473_0001),
            burst_left: 0,
        }
    }

    /// Replaces the config (keeping the RNG's position) and ends any burst.
    pub(crate) fn set_config(&mut self, config: FaultConfig) {
        self.config = config;
        self.burst_left = 0;
    }

    /// Decides one request's fault. Always draws the same amount of
    /// randomness, so decisions depend only on the request sequence.
    pub(crate) fn decide(&mut self, op: Operation) -> Decision {
        let u: f64 = self.rng.random();
        let coin: bool = self.rng.random();
        let should_retry = match self.config.should_retry {
            ShouldRetry::Absent => None,
            ShouldRetry::True => Some(true),
            ShouldRetry::False => Some(false),
            ShouldRetry::Mixed => Some(coin),
        };
        if self.burst_left > 0 {
            self.burst_left -= 1;
            return Decision {
                fault: Some(FaultKind::Burst429),
                should_retry,
            };
        }
        let mut acc = 0.0;
        for kind in FaultKind::ALL {
            let p = self.config.probability(op, kind);
            if p <= 0.0 {
                continue;
            }
            acc += p;
            if u < acc {
                if kind == FaultKind::Burst429 {
                    self.burst_left = self.config.burst_len.saturating_sub(1);
                }
                return Decision {
                    fault: Some(kind),
                    should_retry,
                };
            }
        }
        Decision {
            fault: None,
            should_retry,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_form_parses() {
        let f: FaultConfig =
            "create:accept_then_drop=0.01, get:500=0.02,*:reset=0.005,burst_len=3,slow_secs=90,should_retry=false,create:hold=0.05,hold_secs=30"
                .parse()
                .unwrap();
        assert_eq!(
            f.probability(Operation::Create, FaultKind::AcceptThenDrop),
            0.01
        );
        assert_eq!(f.probability(Operation::Get, FaultKind::Status500), 0.02);
        assert_eq!(f.probability(Operation::Get, FaultKind::Reset), 0.005);
        assert_eq!(f.probability(Operation::List, FaultKind::Status500), 0.0);
        assert_eq!(f.burst_len, 3);
        assert_eq!(f.slow_delay, Duration::from_secs(90));
        assert_eq!(f.should_retry, ShouldRetry::False);
        assert_eq!(f.probability(Operation::Create, FaultKind::Hold), 0.05);
        assert_eq!(f.hold_delay, Duration::from_secs(30));
        assert_eq!(FaultConfig::default().hold_delay, Duration::from_secs(70));
        assert_eq!(
            "list:429=0.1"
                .parse::<FaultConfig>()
                .unwrap()
                .probability(Operation::List, FaultKind::Burst429),
            0.1
        );
    }

    #[test]
    fn bad_compact_forms_are_clear_errors() {
        let err = "get:explode=0.1".parse::<FaultConfig>().unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("explode") && text.contains("accept_then_drop"),
            "{text}"
        );
        let err = "fetch:500=0.1".parse::<FaultConfig>().unwrap_err();
        assert!(err.to_string().contains("fetch"), "{err}");
        let err = "get:500=1.5".parse::<FaultConfig>().unwrap_err();
        assert!(err.to_string().contains("1.5"), "{err}");
        let err = "get:500=-0.1".parse::<FaultConfig>().unwrap_err();
        assert!(err.to_string().contains("-0.1"), "{err}");
        let err = "get:500=0.7,get:503=0.7"
            .parse::<FaultConfig>()
            .unwrap_err();
        assert!(err.to_string().contains("at most 1"), "{err}");
        let err = "get:500".parse::<FaultConfig>().unwrap_err();
        assert!(err.to_string().contains("op:kind=probability"), "{err}");
        let err = "burst_len=-2".parse::<FaultConfig>().unwrap_err();
        assert!(err.to_string().contains("burst_len"), "{err}");
        let err = FaultConfig::none()
            .on(Operation::Get, FaultKind::Reset, 2.0)
            .validate()
            .unwrap_err();
        assert!(err.to_string().contains("faults.get.reset"), "{err}");
    }

    #[test]
    fn same_seed_same_decisions() {
        let config: FaultConfig = "*:500=0.2,*:reset=0.1,*:429=0.05".parse().unwrap();
        let run = |seed| {
            let mut engine = FaultEngine::new(config.clone(), seed);
            (0..500)
                .map(|i| engine.decide(Operation::ALL[i % 6]).fault)
                .collect::<Vec<_>>()
        };
        assert_eq!(run(1), run(1));
        assert_ne!(run(1), run(2));
    }

    #[test]
    fn burst_covers_the_next_requests() {
        let config = FaultConfig::none()
            .on(Operation::Get, FaultKind::Burst429, 1.0)
            .burst_len(4);
        let mut engine = FaultEngine::new(config, 0);
        assert_eq!(
            engine.decide(Operation::Get).fault,
            Some(FaultKind::Burst429)
        );
        // The burst also covers other operations.
        for _ in 0..3 {
            assert_eq!(
                engine.decide(Operation::List).fault,
                Some(FaultKind::Burst429)
            );
        }
        assert_eq!(engine.decide(Operation::List).fault, None);
    }
}

//! The simulator's configuration: applications, keys, job durations, list
//! behaviour, rate limits and faults, built in code or read from TOML.
//!
//! Every value is checked before the simulator starts: a bad value is a
//! [`ConfigError`] that names the value and says how to fix it, never a panic.

use std::collections::BTreeMap;
use std::time::Duration;

use rand::Rng;
use rand_distr::{Distribution, LogNormal};
use serde::Deserialize;
use writer_api::types::{ApplicationInput, ApplicationInputOptions};

use crate::faults::FaultConfig;

/// A configuration value the simulator cannot use, with what to do instead.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// A value is out of range or malformed.
    #[error("invalid {field} = {value}: {fix}")]
    Invalid {
        /// Which setting (for example `failure_rate` or `faults.get.500`).
        field: String,
        /// The value given.
        value: String,
        /// How to fix it.
        fix: String,
    },
    /// A fault name that the simulator does not know.
    #[error("unknown fault `{name}` in {context}: use one of {known}")]
    UnknownFault {
        /// The name given.
        name: String,
        /// Where it appeared.
        context: String,
        /// The names that exist.
        known: String,
    },
    /// An operation name that the simulator does not know.
    #[error(
        "unknown operation `{name}` in {context}: use one of create, get, list, retry, run, app or *"
    )]
    UnknownOperation {
        /// The name given.
        name: String,
        /// Where it appeared.
        context: String,
    },
    /// The TOML text does not parse or has fields of the wrong type.
    #[error("cannot read the simulator config: {0}")]
    Toml(String),
    /// The config file cannot be read.
    #[error("cannot read the config file {path}: {message}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
}

impl ConfigError {
    pub(crate) fn invalid(
        field: impl Into<String>,
        value: impl ToString,
        fix: impl Into<String>,
    ) -> Self {
        ConfigError::Invalid {
            field: field.into(),
            value: value.to_string(),
            fix: fix.into(),
        }
    }
}

/// The type of an application input, as Writer's application details name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InputType {
    /// Free text: one or more values (up to `max_fields`).
    Text,
    /// One value from a fixed list.
    Dropdown,
    /// A file id.
    File,
    /// A media (image) file id.
    Media,
}

impl InputType {
    /// The wire name (`text`, `dropdown`, `file`, `media`).
    pub fn as_str(self) -> &'static str {
        match self {
            InputType::Text => "text",
            InputType::Dropdown => "dropdown",
            InputType::File => "file",
            InputType::Media => "media",
        }
    }
}

/// The definition of one input of a simulated application; the simulator
/// validates job requests against it like the real service.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputDef {
    /// The input's name (a request names it as the input's `id`).
    pub name: String,
    /// Its type.
    pub input_type: InputType,
    /// Whether every run must give it.
    #[serde(default)]
    pub required: bool,
    /// What it is for (shown in the application details).
    #[serde(default)]
    pub description: Option<String>,
    /// For a dropdown: the values it accepts.
    #[serde(default)]
    pub list: Vec<String>,
    /// For text: the fewest values.
    #[serde(default)]
    pub min_fields: Option<u32>,
    /// For text (and file: `max_files`): the most values.
    #[serde(default)]
    pub max_fields: Option<u32>,
}

impl InputDef {
    /// A text input.
    pub fn text(name: impl Into<String>, required: bool) -> Self {
        Self {
            name: name.into(),
            input_type: InputType::Text,
            required,
            description: None,
            list: Vec::new(),
            min_fields: None,
            max_fields: None,
        }
    }

    /// A dropdown input accepting the values of `list`.
    pub fn dropdown(name: impl Into<String>, required: bool, list: &[&str]) -> Self {
        Self {
            input_type: InputType::Dropdown,
            list: list.iter().map(|s| s.to_string()).collect(),
            ..Self::text(name, required)
        }
    }

    /// A file input.
    pub fn file(name: impl Into<String>, required: bool) -> Self {
        Self {
            input_type: InputType::File,
            ..Self::text(name, required)
        }
    }

    /// A media input.
    pub fn media(name: impl Into<String>, required: bool) -> Self {
        Self {
            input_type: InputType::Media,
            ..Self::text(name, required)
        }
    }

    /// Sets the largest number of values (text `max_fields`, file `max_files`).
    pub fn with_max_fields(mut self, max: u32) -> Self {
        self.max_fields = Some(max);
        self
    }

    /// Sets the description.
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// The definition as the wire type of the application details.
    pub fn to_wire(&self) -> ApplicationInput {
        let mut options = ApplicationInputOptions::default();
        match self.input_type {
            InputType::Text => {
                options.min_fields = self.min_fields.map(wire_int);
                options.max_fields = self.max_fields.map(wire_int);
            }
            InputType::Dropdown => options.list = self.list.clone(),
            InputType::File => {
                options.max_files = self.max_fields.map(wire_int);
                options.upload_types = vec!["url".into(), "file_id".into()];
            }
            InputType::Media => options.file_types = vec!["png".into(), "jpg".into()],
        }
        ApplicationInput {
            description: self.description.clone(),
            input_type: self.input_type.as_str().to_string(),
            name: self.name.clone(),
            options: (options != ApplicationInputOptions::default()).then_some(options),
            required: self.required,
        }
    }
}

/// A count as the int32 of the application details (the spec types its
/// integer limits int32): a larger value is shown as `i32::MAX`.
fn wire_int(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// How long a job runs, in simulated time.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum DurationDist {
    /// Always the same duration.
    Fixed {
        /// Seconds.
        secs: f64,
    },
    /// Uniformly between two durations.
    Uniform {
        /// Shortest, seconds.
        min_secs: f64,
        /// Longest, seconds.
        max_secs: f64,
    },
    /// Log-normal with the given mean and shape: most jobs near the mean, a
    /// long tail of slow ones, like real generation jobs.
    #[serde(rename = "lognormal")]
    LogNormal {
        /// Mean, seconds.
        mean_secs: f64,
        /// Sigma of the underlying normal (0.5 is a moderate tail).
        sigma: f64,
    },
}

/// The longest duration any distribution yields (a day), so a wild
/// log-normal draw cannot overflow time arithmetic.
const MAX_JOB_SECS: f64 = 86_400.0;

impl DurationDist {
    /// A fixed duration.
    pub fn fixed(d: Duration) -> Self {
        DurationDist::Fixed {
            secs: d.as_secs_f64(),
        }
    }

    /// Draws one duration.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Duration {
        let secs = match *self {
            DurationDist::Fixed { secs } => secs,
            DurationDist::Uniform { min_secs, max_secs } => {
                if max_secs > min_secs {
                    rng.random_range(min_secs..=max_secs)
                } else {
                    min_secs
                }
            }
            DurationDist::LogNormal { mean_secs, sigma } => {
                if mean_secs <= 0.0 {
                    0.0
                } else {
                    let mu = mean_secs.ln() - sigma * sigma / 2.0;
                    match LogNormal::new(mu, sigma) {
                        Ok(dist) => dist.sample(rng),
                        Err(_) => mean_secs,
                    }
                }
            }
        };
        if secs.is_nan() {
            return Duration::ZERO;
        }
        Duration::from_secs_f64(secs.clamp(0.0, MAX_JOB_SECS))
    }

    fn validate(&self, field: &str) -> Result<(), ConfigError> {
        let secs_ok = |name: &str, v: f64| {
            if v.is_finite() && (0.0..=MAX_JOB_SECS).contains(&v) {
                Ok(())
            } else {
                Err(ConfigError::invalid(
                    format!("{field}.{name}"),
                    v,
                    "use a number of seconds between 0 and 86400",
                ))
            }
        };
        match *self {
            DurationDist::Fixed { secs } => secs_ok("secs", secs),
            DurationDist::Uniform { min_secs, max_secs } => {
                secs_ok("min_secs", min_secs)?;
                secs_ok("max_secs", max_secs)?;
                if min_secs > max_secs {
                    return Err(ConfigError::invalid(
                        format!("{field}.min_secs"),
                        min_secs,
                        format!("must not exceed max_secs ({max_secs})"),
                    ));
                }
                Ok(())
            }
            DurationDist::LogNormal { mean_secs, sigma } => {
                secs_ok("mean_secs", mean_secs)?;
                if !(sigma.is_finite() && (0.0..=5.0).contains(&sigma)) {
                    return Err(ConfigError::invalid(
                        format!("{field}.sigma"),
                        sigma,
                        "use a sigma between 0 and 5 (0.5 is a moderate tail)",
                    ));
                }
                Ok(())
            }
        }
    }
}

impl Default for DurationDist {
    /// Log-normal, mean 30 s, sigma 0.5: a typical generation job.
    fn default() -> Self {
        DurationDist::LogNormal {
            mean_secs: 30.0,
            sigma: 0.5,
        }
    }
}

/// Other tenants on an application: old jobs already there, and background
/// clients creating more, so that list-based polling is measured on a busy
/// application.
#[derive(Debug, Clone, Copy, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    /// Finished jobs created before the simulator started (newest one minute
    /// of sim time before the start, one minute apart).
    #[serde(default)]
    pub prefill_jobs: u32,
    /// Jobs that background clients create per minute of simulated time.
    #[serde(default)]
    pub jobs_per_minute: f64,
}

/// A simulated no-code application.
#[derive(Debug, Clone, PartialEq)]
pub struct AppConfig {
    /// Its id, used in paths and as `application_id` of its jobs.
    pub id: String,
    /// Other names accepted in paths (Writer accepts an alias for the id).
    pub aliases: Vec<String>,
    /// Its display name.
    pub name: String,
    /// Its inputs.
    pub inputs: Vec<InputDef>,
    /// Job durations for this application (default: the simulator's).
    pub duration: Option<DurationDist>,
    /// Failure rate for this application (default: the simulator's).
    pub failure_rate: Option<f64>,
    /// Other tenants' jobs on it.
    pub tenants: TenantConfig,
}

impl AppConfig {
    /// An application with the given id and name and no inputs yet.
    pub fn new(id: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            aliases: Vec::new(),
            name: name.into(),
            inputs: Vec::new(),
            duration: None,
            failure_rate: None,
            tenants: TenantConfig::default(),
        }
    }

    /// The demo application that the CLI and examples use:
    /// `demo-product-descriptions`, "Product descriptions", with inputs
    /// "Product name" (text, required), "Tone" (dropdown casual/formal/playful,
    /// optional) and "Tags" (text, optional, at most 5 values).
    pub fn demo() -> Self {
        Self::new("demo-product-descriptions", "Product descriptions")
            .input(
                InputDef::text("Product name", true)
                    .with_max_fields(1)
                    .with_description("The product to describe"),
            )
            .input(
                InputDef::dropdown("Tone", false, &["casual", "formal", "playful"])
                    .with_description("The voice of the description"),
            )
            .input(
                InputDef::text("Tags", false)
                    .with_max_fields(5)
                    .with_description("Keywords to work in"),
            )
    }

    /// Adds an input definition.
    pub fn input(mut self, input: InputDef) -> Self {
        self.inputs.push(input);
        self
    }

    /// Adds an alias accepted in paths in place of the id.
    pub fn alias(mut self, alias: impl Into<String>) -> Self {
        self.aliases.push(alias.into());
        self
    }

    /// Sets this application's own job duration distribution.
    pub fn duration(mut self, dist: DurationDist) -> Self {
        self.duration = Some(dist);
        self
    }

    /// Sets this application's own failure rate.
    pub fn failure_rate(mut self, rate: f64) -> Self {
        self.failure_rate = Some(rate);
        self
    }

    /// Sets other tenants' jobs on this application.
    pub fn tenants(mut self, tenants: TenantConfig) -> Self {
        self.tenants = tenants;
        self
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let field = format!("apps[{}]", self.id);
        if self.id.is_empty() || self.id.contains('/') {
            return Err(ConfigError::invalid(
                "apps.id",
                format!("{:?}", self.id),
                "use a non-empty id without '/'",
            ));
        }
        if let Some(d) = &self.duration {
            d.validate(&format!("{field}.duration"))?;
        }
        if let Some(rate) = self.failure_rate {
            check_probability(&format!("{field}.failure_rate"), rate)?;
        }
        let rate = self.tenants.jobs_per_minute;
        if !(rate.is_finite() && rate >= 0.0) {
            return Err(ConfigError::invalid(
                format!("{field}.tenants.jobs_per_minute"),
                rate,
                "use a rate of 0 or more jobs per minute of simulated time",
            ));
        }
        for input in &self.inputs {
            if input.input_type == InputType::Dropdown && input.list.is_empty() {
                return Err(ConfigError::invalid(
                    format!("{field}.inputs[{}].list", input.name),
                    "[]",
                    "give a dropdown at least one value",
                ));
            }
            if let (Some(min), Some(max)) = (input.min_fields, input.max_fields)
                && min > max
            {
                return Err(ConfigError::invalid(
                    format!("{field}.inputs[{}].min_fields", input.name),
                    min,
                    format!("must not exceed max_fields ({max})"),
                ));
            }
        }
        Ok(())
    }
}

/// An API key the simulator accepts and the applications it may use.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyConfig {
    /// The bearer token.
    pub key: String,
    /// Application ids it may use; `None` (or `"*"` in the list) means all.
    #[serde(default)]
    pub apps: Option<Vec<String>>,
}

impl KeyConfig {
    /// A key with access to every application.
    pub fn all_apps(key: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            apps: None,
        }
    }

    /// A key with access to the listed applications only.
    pub fn for_apps(key: impl Into<String>, apps: &[&str]) -> Self {
        Self {
            key: key.into(),
            apps: Some(apps.iter().map(|s| s.to_string()).collect()),
        }
    }

    /// Whether this key may use the application `app_id`.
    pub fn allows(&self, app_id: &str) -> bool {
        match &self.apps {
            None => true,
            Some(apps) => apps.iter().any(|a| a == "*" || a == app_id),
        }
    }
}

/// What the list operation does with a `limit` above the maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OverMax {
    /// Silently use the maximum (and say so in `pagination.limit`).
    #[default]
    Clamp,
    /// Answer 400.
    Reject,
}

/// What a list answer's `totalCount` says. Writer does not document it, so
/// every plausible server is one setting away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TotalCount {
    /// All of the application's jobs, whatever the `status` filter (the
    /// pessimistic real-world case: a filtered scan cannot stop on it).
    #[default]
    All,
    /// Only the jobs matching the filter.
    Filtered,
    /// No `totalCount` field at all (Writer's SDKs stop paging silently
    /// when it is missing).
    Missing,
    /// Always 0, whatever exists (a client must not stop on it alone).
    Zero,
}

/// The order of the list operation. Writer does not document it, so a
/// client must not rely on one; the simulator can serve each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ListOrder {
    /// Newest first: new jobs push older ones down the list (offsets shift
    /// while a client pages).
    #[default]
    Newest,
    /// Oldest first: new jobs append at the end.
    Oldest,
    /// A stable order unrelated to creation time (sorted by a seeded hash
    /// of the job id): a new job lands anywhere in the list.
    Unspecified,
}

/// How the list operation pages.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ListConfig {
    /// The page size when the request gives none (50).
    pub default_limit: u32,
    /// The largest page size (100).
    pub max_limit: u32,
    /// Above the maximum: clamp or 400.
    pub over_max: OverMax,
    /// What `totalCount` says.
    pub total_count: TotalCount,
    /// The order of the jobs (TOML `order`; default newest first).
    pub order: ListOrder,
    /// The probability (0 to 1) that a full page is cut to a random
    /// shorter, non-empty length (TOML `short_pages`; default 0). The jobs
    /// cut off are the next offsets' first: a client that advances its
    /// offset by the items it received still sees every job once, but one
    /// that stops on a page shorter than `limit` stops too early.
    /// `pagination.limit` still echoes the limit used.
    pub short_pages: f64,
}

impl Default for ListConfig {
    fn default() -> Self {
        Self {
            default_limit: 50,
            max_limit: 100,
            over_max: OverMax::Clamp,
            total_count: TotalCount::All,
            order: ListOrder::Newest,
            short_pages: 0.0,
        }
    }
}

/// The status that a successful create or retry answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SuccessStatus {
    /// 202 Accepted, as Writer's API reference declares (TOML `202`).
    #[default]
    Accepted,
    /// 200 OK, as older servers and Writer's guide show (TOML `200`).
    Ok,
}

impl SuccessStatus {
    /// The status code.
    pub fn code(self) -> u16 {
        match self {
            SuccessStatus::Accepted => 202,
            SuccessStatus::Ok => 200,
        }
    }
}

impl<'de> Deserialize<'de> for SuccessStatus {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match u16::deserialize(d)? {
            202 => Ok(SuccessStatus::Accepted),
            200 => Ok(SuccessStatus::Ok),
            other => Err(serde::de::Error::custom(format!(
                "success_status = {other}: use 202 (Writer's reference) or 200"
            ))),
        }
    }
}

/// The JSON shape of every error answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ErrorShape {
    /// Writer's documented shape: `{"tpe": "<code>", "errors":
    /// [{"description": "...", "key": "<input name or null>", "extras":
    /// null}], "extras": null}`; every error has at least one description.
    #[default]
    Writer,
    /// The older `{"message": "...", "code": "<code>", "errors": [{"key",
    /// "description"}]?}` that proxies and earlier servers send.
    Legacy,
}

/// What a create naming an input the application does not have gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnknownInputs {
    /// 400 naming the input (no job is made).
    #[default]
    Reject,
    /// The job is created (202) and ends `failed` with an error naming the
    /// unknown input, as Writer's cookbook describes. Other input problems
    /// are still refused with 400; synchronous runs still answer 400.
    FailJob,
}

/// How job ids look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IdStyle {
    /// Random UUID v4-style ids (8-4-4-4-12 hex, version nibble 4), drawn
    /// from the seeded RNG: nothing about them says which job is newer.
    #[default]
    Random,
    /// UUID-shaped ids whose leading digits count up in creation order, so
    /// sorting ids sorts by creation.
    Ordered,
}

/// How precise the job timestamps the API shows (`created_at`,
/// `updated_at`, `completed_at`) are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Timestamps {
    /// Microseconds (`2026-12-02T16:31:31.123456Z`).
    #[default]
    Micros,
    /// Whole seconds (`2026-12-02T16:31:31Z`), cut down, as a server that
    /// keeps only seconds would show them. The simulator's own records
    /// ([`JobState`](crate::JobState)) keep the precise times.
    Seconds,
}

/// Wire behaviours where Writer's documentation leaves room (TOML `[api]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// The status of a successful create or retry (TOML `success_status =
    /// 202 | 200`; default 202).
    pub success_status: SuccessStatus,
    /// The shape of error bodies (TOML `error_shape = "writer" | "legacy"`;
    /// default writer).
    pub error_shape: ErrorShape,
    /// What a create with an unknown input gets (TOML `unknown_inputs =
    /// "reject" | "fail_job"`; default reject).
    pub unknown_inputs: UnknownInputs,
    /// How job ids look (TOML `ids = "random" | "ordered"`; default random).
    pub ids: IdStyle,
    /// How precise job timestamps are (TOML `timestamps = "micros" |
    /// "seconds"`; default micros).
    pub timestamps: Timestamps,
    /// A streamed run fails mid-stream: after this many pieces of its
    /// output it sends an `event: error` whose data is an error body (in
    /// the configured [`ErrorShape`]) and ends (TOML `stream_error_after =
    /// N`; default: streams do not fail). Writer does not document what a
    /// failing stream sends; its SDKs raise an error on `event: error`.
    pub stream_error_after: Option<u32>,
}

/// A periodic window in which the server refuses TCP connections: for
/// `down` out of every `period` of simulated time (the last `down` of each
/// period, counted from the simulator's start), it closes its listening
/// socket, so a connect gets ECONNREFUSED; then it listens again on the
/// same port. TOML: `refuse_every = { period = "60s", down = "10ms" }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefuseSchedule {
    /// The length of one cycle.
    pub period: Duration,
    /// How long of each cycle connections are refused (less than `period`).
    pub down: Duration,
}

impl RefuseSchedule {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.period.is_zero() || self.down.is_zero() || self.down >= self.period {
            return Err(ConfigError::invalid(
                "refuse_every",
                format!("period {:?}, down {:?}", self.period, self.down),
                "use a period above 0 and a down time above 0 and shorter than the period",
            ));
        }
        Ok(())
    }
}

/// Parses a duration written `"60s"`, `"10ms"`, `"2m"`, `"1h"`, `"1.5s"`
/// or a bare number of seconds.
pub(crate) fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().ok()?;
    let secs = match unit.trim() {
        "" | "s" => value,
        "ms" => value / 1000.0,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        _ => return None,
    };
    Duration::try_from_secs_f64(secs).ok()
}

/// The period of a rate limit's budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RatePer {
    /// Per second.
    Second,
    /// Per minute.
    Minute,
    /// Per hour.
    Hour,
}

impl RatePer {
    /// The period's length.
    pub fn duration(self) -> Duration {
        match self {
            RatePer::Second => Duration::from_secs(1),
            RatePer::Minute => Duration::from_secs(60),
            RatePer::Hour => Duration::from_secs(3600),
        }
    }
}

/// A per-key request budget: a token bucket on the simulated clock holding
/// up to `burst` requests and refilled at `requests` per `per`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Requests allowed per period.
    pub requests: f64,
    /// The period.
    pub per: RatePer,
    /// The most requests that may come at once (default: `requests`).
    #[serde(default)]
    pub burst: Option<u32>,
}

impl RateLimitConfig {
    /// `requests` per minute, bursting up to `burst`.
    pub fn per_minute(requests: f64, burst: u32) -> Self {
        Self {
            requests,
            per: RatePer::Minute,
            burst: Some(burst),
        }
    }

    /// `requests` per hour, bursting up to `burst`.
    pub fn per_hour(requests: f64, burst: u32) -> Self {
        Self {
            requests,
            per: RatePer::Hour,
            burst: Some(burst),
        }
    }

    /// The bucket's capacity.
    pub fn capacity(&self) -> f64 {
        match self.burst {
            Some(b) => f64::from(b),
            None => self.requests.max(1.0),
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if !(self.requests.is_finite() && self.requests > 0.0) {
            return Err(ConfigError::invalid(
                "rate_limit.requests",
                self.requests,
                "use a number of requests above 0 (omit rate_limit to disable it)",
            ));
        }
        if self.burst == Some(0) {
            return Err(ConfigError::invalid(
                "rate_limit.burst",
                0,
                "use a burst of at least 1",
            ));
        }
        Ok(())
    }
}

/// The whole configuration of a simulator.
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    /// Seed of every random choice (job durations, failures, faults, ids).
    pub seed: u64,
    /// The clock's speed when the simulator makes its own clock (1 = real
    /// time). A clock given to the builder wins.
    pub scale: f64,
    /// The applications.
    pub apps: Vec<AppConfig>,
    /// The keys; the first is the one [`api_key`](crate::Simulator::api_key) returns.
    pub keys: Vec<KeyConfig>,
    /// Job durations.
    pub duration: DurationDist,
    /// The chance that one attempt of a job fails.
    pub failure_rate: f64,
    /// Whether a retry answers with a new job id (the failed job stays failed).
    pub retry_new_id: bool,
    /// How long a synchronous run may take before the server answers 500,
    /// like Writer's ~5 minute timeout.
    pub sync_timeout: Duration,
    /// List paging.
    pub list: ListConfig,
    /// The per-key request budget, if any (off by default).
    pub rate_limit: Option<RateLimitConfig>,
    /// Fault injection.
    pub faults: FaultConfig,
    /// Wire behaviours Writer leaves open: success status, error shape,
    /// unknown inputs, id style.
    pub api: ApiConfig,
    /// Periodic refused connections (off by default); see
    /// [`Simulator::set_refusing`](crate::Simulator::set_refusing) for the
    /// runtime switch.
    pub refuse_every: Option<RefuseSchedule>,
    /// Whether a connection serves more than one request (default true).
    /// `false` closes every connection after its answer (`Connection:
    /// close`), so each request connects anew and meets refused
    /// connections (TOML `keep_alive = false`).
    pub keep_alive: bool,
}

/// The key the simulator accepts when none is configured.
pub const DEFAULT_API_KEY: &str = "sim-test-key";

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            scale: 1.0,
            apps: vec![AppConfig::demo()],
            keys: vec![KeyConfig::all_apps(DEFAULT_API_KEY)],
            duration: DurationDist::default(),
            failure_rate: 0.0,
            retry_new_id: false,
            sync_timeout: Duration::from_secs(300),
            list: ListConfig::default(),
            rate_limit: None,
            faults: FaultConfig::default(),
            api: ApiConfig::default(),
            refuse_every: None,
            keep_alive: true,
        }
    }
}

pub(crate) fn check_probability(field: &str, p: f64) -> Result<(), ConfigError> {
    if p.is_finite() && (0.0..=1.0).contains(&p) {
        Ok(())
    } else {
        Err(ConfigError::invalid(
            field,
            p,
            "use a probability between 0 and 1 (0.01 = 1%)",
        ))
    }
}

impl SimConfig {
    /// Checks every value; the simulator calls this before it starts.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(self.scale.is_finite() && self.scale > 0.0) {
            return Err(ConfigError::invalid(
                "scale",
                self.scale,
                "use a finite number above 0 (1 = real time, 100 = 100x faster)",
            ));
        }
        if self.apps.is_empty() {
            return Err(ConfigError::invalid(
                "apps",
                "[]",
                "configure at least one application (or use AppConfig::demo())",
            ));
        }
        let mut names = BTreeMap::new();
        for app in &self.apps {
            app.validate()?;
            for name in std::iter::once(&app.id).chain(&app.aliases) {
                if names.insert(name.clone(), ()).is_some() {
                    return Err(ConfigError::invalid(
                        "apps.id",
                        name,
                        "give every application a distinct id and alias",
                    ));
                }
            }
        }
        if self.keys.is_empty() || self.keys.iter().any(|k| k.key.trim().is_empty()) {
            return Err(ConfigError::invalid(
                "keys",
                "(empty)",
                "configure at least one non-empty API key",
            ));
        }
        self.duration.validate("duration")?;
        check_probability("failure_rate", self.failure_rate)?;
        if self.list.default_limit == 0 || self.list.max_limit == 0 {
            return Err(ConfigError::invalid(
                "list.default_limit / list.max_limit",
                0,
                "use page sizes of at least 1",
            ));
        }
        if self.list.default_limit > self.list.max_limit {
            return Err(ConfigError::invalid(
                "list.default_limit",
                self.list.default_limit,
                format!("must not exceed list.max_limit ({})", self.list.max_limit),
            ));
        }
        check_probability("list.short_pages", self.list.short_pages)?;
        if let Some(rl) = &self.rate_limit {
            rl.validate()?;
        }
        if let Some(refuse) = &self.refuse_every {
            refuse.validate()?;
        }
        self.faults.validate()?;
        Ok(())
    }

    /// Reads a configuration from TOML text (see the crate docs for the
    /// format). Missing fields keep their defaults. Needs the `toml` feature
    /// (part of the default `cli` feature).
    #[cfg(feature = "toml")]
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let file: ConfigFile =
            toml::from_str(text).map_err(|e| ConfigError::Toml(e.to_string()))?;
        let defaults = SimConfig::default();
        let mut apps = Vec::new();
        for app in file.apps {
            apps.push(app.into_app()?);
        }
        let faults = match file.faults {
            Some(table) => FaultConfig::from_toml_table(&table)?,
            None => FaultConfig::default(),
        };
        let sync_timeout = match file.sync_timeout_secs {
            Some(secs) if secs.is_finite() && secs >= 0.0 => Duration::from_secs_f64(secs),
            Some(secs) => {
                return Err(ConfigError::invalid(
                    "sync_timeout_secs",
                    secs,
                    "use a number of seconds of 0 or more",
                ));
            }
            None => defaults.sync_timeout,
        };
        let config = SimConfig {
            seed: file.seed.unwrap_or(defaults.seed),
            scale: file.scale.unwrap_or(defaults.scale),
            apps: if apps.is_empty() { defaults.apps } else { apps },
            keys: if file.keys.is_empty() {
                defaults.keys
            } else {
                file.keys
            },
            duration: file.duration.unwrap_or(defaults.duration),
            failure_rate: file.failure_rate.unwrap_or(defaults.failure_rate),
            retry_new_id: file.retry_new_id.unwrap_or(defaults.retry_new_id),
            sync_timeout,
            list: file.list.unwrap_or_default(),
            rate_limit: file.rate_limit,
            faults,
            api: file.api.unwrap_or_default(),
            refuse_every: file
                .refuse_every
                .map(RefuseFile::into_schedule)
                .transpose()?,
            keep_alive: file.keep_alive.unwrap_or(defaults.keep_alive),
        };
        config.validate()?;
        Ok(config)
    }

    /// Reads a configuration from a TOML file. Needs the `toml` feature.
    #[cfg(feature = "toml")]
    pub fn from_toml_file(path: &std::path::Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        Self::from_toml(&text)
    }
}

/// The TOML file's shape (see [`SimConfig::from_toml`]).
#[cfg(feature = "toml")]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    seed: Option<u64>,
    scale: Option<f64>,
    failure_rate: Option<f64>,
    retry_new_id: Option<bool>,
    sync_timeout_secs: Option<f64>,
    duration: Option<DurationDist>,
    list: Option<ListConfig>,
    rate_limit: Option<RateLimitConfig>,
    faults: Option<toml::Table>,
    api: Option<ApiConfig>,
    refuse_every: Option<RefuseFile>,
    keep_alive: Option<bool>,
    #[serde(default)]
    keys: Vec<KeyConfig>,
    #[serde(default)]
    apps: Vec<AppFile>,
}

/// `refuse_every = { period = "60s", down = "10ms" }` (strings with a unit,
/// or numbers of seconds).
#[cfg(feature = "toml")]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RefuseFile {
    period: toml::Value,
    down: toml::Value,
}

#[cfg(feature = "toml")]
impl RefuseFile {
    fn into_schedule(self) -> Result<RefuseSchedule, ConfigError> {
        let read = |name: &str, v: &toml::Value| {
            let d = match v {
                toml::Value::String(s) => parse_duration(s),
                toml::Value::Integer(i) => u64::try_from(*i).ok().map(Duration::from_secs),
                toml::Value::Float(f) => Duration::try_from_secs_f64(*f).ok(),
                _ => None,
            };
            d.ok_or_else(|| {
                ConfigError::invalid(
                    format!("refuse_every.{name}"),
                    v,
                    "use a duration like \"60s\", \"10ms\", \"2m\" or a number of seconds",
                )
            })
        };
        let schedule = RefuseSchedule {
            period: read("period", &self.period)?,
            down: read("down", &self.down)?,
        };
        schedule.validate()?;
        Ok(schedule)
    }
}

#[cfg(feature = "toml")]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AppFile {
    /// `"demo"` starts from [`AppConfig::demo`].
    preset: Option<String>,
    id: Option<String>,
    name: Option<String>,
    #[serde(default)]
    aliases: Vec<String>,
    #[serde(default)]
    inputs: Vec<InputDef>,
    duration: Option<DurationDist>,
    failure_rate: Option<f64>,
    #[serde(default)]
    tenants: TenantConfig,
}

#[cfg(feature = "toml")]
impl AppFile {
    fn into_app(self) -> Result<AppConfig, ConfigError> {
        let mut app = match self.preset.as_deref() {
            Some("demo") => AppConfig::demo(),
            Some(other) => {
                return Err(ConfigError::invalid(
                    "apps.preset",
                    other,
                    "the only preset is \"demo\"; or omit preset and give id, name and inputs",
                ));
            }
            None => {
                let id = self.id.clone().ok_or_else(|| {
                    ConfigError::invalid("apps.id", "(missing)", "give each application an id")
                })?;
                let name = self.name.clone().unwrap_or_else(|| id.clone());
                AppConfig::new(id, name)
            }
        };
        if let Some(id) = self.id {
            app.id = id;
        }
        if let Some(name) = self.name {
            app.name = name;
        }
        app.aliases.extend(self.aliases);
        app.inputs.extend(self.inputs);
        app.duration = self.duration.or(app.duration);
        app.failure_rate = self.failure_rate.or(app.failure_rate);
        app.tenants = self.tenants;
        Ok(app)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_is_valid() {
        SimConfig::default().validate().unwrap();
    }

    #[cfg(feature = "toml")]
    #[test]
    fn full_toml_parses() {
        let config = SimConfig::from_toml(
            r#"
            seed = 7
            scale = 100.0
            failure_rate = 0.1
            retry_new_id = true
            refuse_every = { period = "60s", down = "10ms" }
            keep_alive = false
            [duration]
            kind = "uniform"
            min_secs = 1.0
            max_secs = 2.0
            [list]
            max_limit = 20
            default_limit = 10
            over_max = "reject"
            total_count = "missing"
            order = "oldest"
            short_pages = 0.3
            [api]
            success_status = 200
            error_shape = "legacy"
            unknown_inputs = "fail_job"
            ids = "ordered"
            timestamps = "seconds"
            stream_error_after = 2
            [rate_limit]
            requests = 400
            per = "minute"
            burst = 10
            [faults]
            spec = "get:500=0.1,create:hold=0.05"
            burst_len = 3
            hold_secs = 90
            [faults.create]
            accept_then_drop = 0.01
            [[keys]]
            key = "a"
            [[keys]]
            key = "b"
            apps = ["other"]
            [[apps]]
            preset = "demo"
            tenants = { prefill_jobs = 100, jobs_per_minute = 6.0 }
            [[apps]]
            id = "other"
            name = "Other"
            inputs = [{ name = "Topic", input_type = "text", required = true }]
            "#,
        )
        .unwrap();
        assert_eq!(config.seed, 7);
        assert!(!config.keep_alive);
        assert_eq!(config.apps.len(), 2);
        assert_eq!(config.apps[0].tenants.prefill_jobs, 100);
        assert_eq!(config.list.over_max, OverMax::Reject);
        assert_eq!(config.list.total_count, TotalCount::Missing);
        assert!(config.keys[1].allows("other"));
        assert!(!config.keys[1].allows("demo-product-descriptions"));
        assert_eq!(config.faults.burst_len, 3);
        assert_eq!(config.faults.hold_delay, Duration::from_secs(90));
        assert_eq!(config.list.order, ListOrder::Oldest);
        assert_eq!(config.list.short_pages, 0.3);
        assert_eq!(
            config.api,
            ApiConfig {
                success_status: SuccessStatus::Ok,
                error_shape: ErrorShape::Legacy,
                unknown_inputs: UnknownInputs::FailJob,
                ids: IdStyle::Ordered,
                timestamps: Timestamps::Seconds,
                stream_error_after: Some(2),
            }
        );
        assert_eq!(
            config.refuse_every,
            Some(RefuseSchedule {
                period: Duration::from_secs(60),
                down: Duration::from_millis(10),
            })
        );
    }

    #[cfg(feature = "toml")]
    #[test]
    fn new_settings_default_to_the_documented_api() {
        let config = SimConfig::from_toml("").unwrap();
        assert_eq!(config.api.success_status.code(), 202);
        assert_eq!(config.api.error_shape, ErrorShape::Writer);
        assert_eq!(config.api.unknown_inputs, UnknownInputs::Reject);
        assert_eq!(config.api.ids, IdStyle::Random);
        assert_eq!(config.list.order, ListOrder::Newest);
        assert_eq!(config.list.short_pages, 0.0);
        assert_eq!(config.refuse_every, None);
        assert!(config.keep_alive);
    }

    #[cfg(feature = "toml")]
    #[test]
    fn bad_new_settings_are_clear_errors() {
        let err = SimConfig::from_toml("[api]\nsuccess_status = 201").unwrap_err();
        assert!(err.to_string().contains("success_status = 201"), "{err}");
        let err = SimConfig::from_toml("[list]\nshort_pages = 1.5").unwrap_err();
        assert!(err.to_string().contains("list.short_pages = 1.5"), "{err}");
        let err = SimConfig::from_toml("refuse_every = { period = \"10ms\", down = \"1s\" }")
            .unwrap_err();
        assert!(err.to_string().contains("refuse_every"), "{err}");
        let err = SimConfig::from_toml("refuse_every = { period = \"soon\", down = \"1s\" }")
            .unwrap_err();
        assert!(err.to_string().contains("refuse_every.period"), "{err}");
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("3"), Some(Duration::from_secs(3)));
        assert_eq!(parse_duration("x"), None);
    }

    #[cfg(feature = "toml")]
    #[test]
    fn negative_rate_is_a_clear_error() {
        let err = SimConfig::from_toml("[rate_limit]\nrequests = -5\nper = \"hour\"").unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("rate_limit.requests") && text.contains("-5"),
            "{text}"
        );
        let err = SimConfig::from_toml("failure_rate = 1.5").unwrap_err();
        assert!(err.to_string().contains("failure_rate = 1.5"), "{err}");
        let err = SimConfig::from_toml(
            "[[apps]]\npreset = \"demo\"\ntenants = { jobs_per_minute = -1.0 }",
        )
        .unwrap_err();
        assert!(err.to_string().contains("jobs_per_minute"), "{err}");
    }

    #[cfg(feature = "toml")]
    #[test]
    fn typo_is_a_clear_error() {
        let err = SimConfig::from_toml("failure_rat = 0.1").unwrap_err();
        assert!(err.to_string().contains("failure_rat"), "{err}");
    }

    #[test]
    fn lognormal_has_the_requested_mean() {
        use rand::SeedableRng;
        let dist = DurationDist::LogNormal {
            mean_secs: 30.0,
            sigma: 0.5,
        };
        let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
        let n = 20_000;
        let total: f64 = (0..n).map(|_| dist.sample(&mut rng).as_secs_f64()).sum();
        let mean = total / f64::from(n);
        assert!((mean - 30.0).abs() < 1.0, "mean {mean}");
    }
}

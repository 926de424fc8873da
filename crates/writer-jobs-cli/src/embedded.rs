//! Where the CLI sends its requests: the real API (a key is configured), a
//! server given with `--base-url`, or a simulator started in-process: with
//! `--simulator`, or when there is neither a key nor a base URL and stderr
//! is a terminal, so the first command a user types just works. A script
//! without a key gets an error instead of simulated results it did not ask for.

use std::time::{Duration, SystemTime};

use writer_jobs::config::{API_KEY_VAR, BASE_URL_VAR};
use writer_jobs::{Client, EnvSource, ScaledClock};
use writer_sim::{AppConfig, Simulator};

use crate::args::Global;
use crate::exit::{CliError, Code, KEY_HINT};
use crate::ui::note;

/// The application the built-in simulator serves.
pub const DEMO_APP: &str = "demo-product-descriptions";

/// A configured client, and the simulator behind it when there is one.
#[derive(Debug)]
pub struct Target {
    /// The client every command uses.
    pub client: Client,
    /// Whether results are simulated (built-in simulator, or a scaled clock).
    pub simulated: bool,
    /// Whether the simulator runs inside this process.
    pub embedded: bool,
    /// Kept alive for the command's lifetime: dropping it stops the server.
    _sim: Option<Simulator>,
}

impl Target {
    /// The application id to use: the one given, else the demo application
    /// on the built-in simulator, else a usage error.
    pub fn app_id(&self, given: Option<&str>) -> Result<String, CliError> {
        match given.map(str::trim).filter(|s| !s.is_empty()) {
            Some(id) => Ok(id.to_string()),
            None if self.embedded => Ok(DEMO_APP.to_string()),
            None => Err(CliError::usage("no application given")
                .hint("pass --app APP_ID (or set WRITER_APP_ID)")),
        }
    }
}

/// Options for [`connect`] beyond the global flags.
#[derive(Debug, Default, Clone, Copy)]
pub struct ConnectOptions {
    /// For the built-in simulator: try this port first (a resumed batch's
    /// journal is bound to the base URL of the run that wrote it).
    pub preferred_port: Option<u16>,
}

/// Why the built-in simulator runs (its one line on stderr says so).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Why {
    /// No key and no base URL, on a terminal.
    NoKey,
    /// `--simulator`, with no key configured.
    Asked,
    /// `--simulator`, though a key is configured (it is not used).
    AskedOverKey,
}

/// Builds the client: the built-in simulator with `--simulator`; else the
/// real API when a key is configured; else the built-in simulator when
/// stderr is a terminal (unless `--base-url` points elsewhere, which needs
/// a key); else an error naming both fixes.
pub async fn connect(global: &Global, opts: ConnectOptions) -> Result<Target, CliError> {
    let env = EnvSource::process();
    let key = env.get(API_KEY_VAR);
    if global.simulator {
        let why = if key.is_some() {
            Why::AskedOverKey
        } else {
            Why::Asked
        };
        return start_embedded(global, opts, why).await;
    }
    let base_url = global
        .base_url
        .clone()
        .filter(|u| !u.trim().is_empty())
        .or_else(|| env.get(BASE_URL_VAR));
    match (key, base_url) {
        (None, None) if crate::ui::stderr_is_terminal() => {
            start_embedded(global, opts, Why::NoKey).await
        }
        (None, None) => Err(CliError::new(
            Code::Auth,
            format!(
                "no API key: looked in {}; the built-in simulator starts without one only \
                 when stderr is a terminal",
                env.describe(API_KEY_VAR)
            ),
        )
        .hint(
            "set WRITER_API_KEY (or put it in .env) to use the real API, or pass --simulator \
             to run against the built-in local simulator (simulated results)",
        )),
        (None, Some(url)) => Err(CliError::new(
            Code::Auth,
            format!(
                "no API key for {url}: looked in {}",
                env.describe(API_KEY_VAR)
            ),
        )
        .hint(KEY_HINT)),
        (Some(_), base_url) => {
            let mut builder = Client::builder()
                .env_source(env)
                .user_agent(concat!("writer-jobs-cli/", env!("CARGO_PKG_VERSION")));
            if let Some(url) = &base_url {
                builder = builder.base_url(url);
            }
            let simulated = match global.clock_scale {
                Some(scale) => {
                    let anchor = match global.clock_anchor {
                        Some(secs) if secs.is_finite() && secs >= 0.0 => {
                            SystemTime::UNIX_EPOCH + Duration::from_secs_f64(secs)
                        }
                        Some(_) => {
                            return Err(CliError::usage(
                                "the clock anchor must be a non-negative number of Unix seconds",
                            ));
                        }
                        None => SystemTime::now(),
                    };
                    if !(scale.is_finite() && scale > 0.0) {
                        return Err(CliError::usage("the clock scale must be above 0"));
                    }
                    builder = builder.clock(ScaledClock::with_anchor(scale, anchor));
                    true
                }
                None => false,
            };
            let client = builder
                .build()
                .map_err(|e| CliError::context("cannot set up the API client", e))?;
            Ok(Target {
                client,
                simulated,
                embedded: false,
                _sim: None,
            })
        }
    }
}

/// Starts the simulator in this process with the demo application and says
/// so on stderr, in one line.
async fn start_embedded(
    global: &Global,
    opts: ConnectOptions,
    why: Why,
) -> Result<Target, CliError> {
    let scale = global.sim_scale;
    if !(scale.is_finite() && scale > 0.0) {
        return Err(CliError::usage(format!(
            "--sim-scale must be a number above 0 (got {scale})"
        )));
    }
    // A fresh seed per process: job ids are drawn from the seed, and ids of
    // an earlier run (in a resumed journal) must never name new jobs.
    let seed = global.sim_seed.unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x5eed)
    });
    let builder = Simulator::builder()
        .scale(scale)
        .seed(seed)
        .apps(vec![AppConfig::demo()]);
    let mut started = None;
    if let Some(port) = opts.preferred_port {
        started = builder.clone().port(port).start().await.ok();
    }
    let sim = match started {
        Some(sim) => sim,
        None => builder.start().await.map_err(|e| {
            CliError::new(Code::Internal, "cannot start the built-in simulator").cause(e)
        })?,
    };
    tracing::info!(seed, base_url = %sim.base_url(), "built-in simulator started");
    const SIMULATED: &str = "(results are simulated; its jobs vanish when the command exits)";
    match why {
        Why::NoKey => note!(
            "writer-jobs: no WRITER_API_KEY found, so using the built-in local simulator \
             {SIMULATED}. To use the real API, set WRITER_API_KEY or put it in .env."
        ),
        Why::Asked => note!(
            "writer-jobs: using the built-in local simulator (--simulator) {SIMULATED}. To use \
             the real API, set WRITER_API_KEY and leave out --simulator."
        ),
        Why::AskedOverKey => note!(
            "writer-jobs: using the built-in local simulator (--simulator) {SIMULATED}; \
             the configured WRITER_API_KEY is not used."
        ),
    }
    let clock = ScaledClock::with_anchor(sim.clock().scale(), sim.clock().anchor());
    let client = Client::builder()
        .api_key(sim.api_key())
        .base_url(sim.base_url())
        .clock(clock)
        .user_agent(concat!("writer-jobs-cli/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| CliError::context("cannot set up the simulator's client", e))?;
    Ok(Target {
        client,
        simulated: true,
        embedded: true,
        _sim: Some(sim),
    })
}

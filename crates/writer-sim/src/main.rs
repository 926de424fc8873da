//! `writer-sim`: run the simulator of Writer's async jobs API by hand.
//!
//! Prints the base URL and key to use, then serves until Ctrl-C.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use writer_sim::{FaultConfig, SimClock, SimConfig, Simulator};

/// A local simulator of Writer's async applications jobs API.
#[derive(Debug, Parser)]
#[command(name = "writer-sim", version, about)]
struct Args {
    /// Port on 127.0.0.1 (0 = any free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// TOML config file (applications, keys, durations, rate limit, faults).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Clock speed: simulated seconds per real second (overrides the config).
    #[arg(long)]
    scale: Option<f64>,
    /// Seed of every random choice (overrides the config).
    #[arg(long)]
    seed: Option<u64>,
    /// Faults in compact form, e.g. "create:accept_then_drop=0.01,*:reset=0.005"
    /// (overrides the config's).
    #[arg(long)]
    faults: Option<String>,
    /// Chance that one attempt of a job fails (overrides the config).
    #[arg(long)]
    failure_rate: Option<f64>,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("writer-sim: {message}");
            ExitCode::from(2)
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let mut config = match &args.config {
        Some(path) => SimConfig::from_toml_file(path).map_err(|e| e.to_string())?,
        None => SimConfig::default(),
    };
    if let Some(seed) = args.seed {
        config.seed = seed;
    }
    if let Some(scale) = args.scale {
        config.scale = scale;
    }
    if let Some(rate) = args.failure_rate {
        config.failure_rate = rate;
    }
    if let Some(spec) = &args.faults {
        config.faults = spec.parse::<FaultConfig>().map_err(|e| e.to_string())?;
    }
    let clock = SimClock::scaled(config.scale).map_err(|e| e.to_string())?;
    let sim = Simulator::builder()
        .config(config)
        .clock(clock)
        .port(args.port)
        .start()
        .await
        .map_err(|e| e.to_string())?;
    let anchor_ms = sim
        .clock()
        .anchor()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    println!("writer-sim listening on {}", sim.base_url());
    println!("WRITER_BASE_URL={}", sim.base_url());
    println!("WRITER_API_KEY={}", sim.api_key());
    println!(
        "clock: scale {} anchored at {} ms since the epoch (GET /_sim/clock); stats: GET /_sim/stats",
        sim.clock().scale(),
        anchor_ms
    );
    for app in &sim.config().apps {
        println!("application: {} ({})", app.id, app.name);
    }
    tokio::signal::ctrl_c()
        .await
        .map_err(|e| format!("cannot wait for Ctrl-C: {e}"))?;
    sim.shutdown().await;
    Ok(())
}

//! Custom retry and poll policies, and a shared `reqwest::Client`.
//!
//! `cargo run -p writer-jobs --example custom_policies`

mod common;

use std::time::Duration;

use writer_jobs::{Backoff, Client, Inputs, PollPolicy, RetryPolicy};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let setup = common::setup().await?;
    let retry = RetryPolicy::default()
        .with_attempt_limit(6)
        .with_time_limit(Duration::from_secs(120))
        .with_backoff(
            Backoff::builder()
                .initial(Duration::from_millis(500))
                .max(Duration::from_secs(20))
                .build()?,
        );
    let poll = PollPolicy::builder()
        .initial_interval(Duration::from_secs(2))
        .growth(2.0)
        .max_interval(Duration::from_secs(15))
        .deadline(Duration::from_secs(600))
        .build()?;
    // One connection pool for the whole service (redirects off, so a
    // redirect never carries the key elsewhere).
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(8)
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let mut builder = Client::builder()
        .base_url(setup.client.base_url())
        .shared_clock(setup.client.clock().clone())
        .retry_policy(retry)
        .poll_policy(poll)
        .http_client(http);
    builder = match &setup.sim {
        Some(sim) => builder.api_key(sim.api_key()),
        None => builder.env_source(writer_jobs::EnvSource::process()),
    };
    let client = builder.build()?;
    println!("{client:?}");
    let job = client
        .jobs(&setup.app_id)
        .create_and_wait(&Inputs::new().text("Product name", "Aqua swim goggles"))
        .retry_failed(2)
        .await?;
    println!("{} -> {}", job.id, job.suggestion());
    Ok(())
}

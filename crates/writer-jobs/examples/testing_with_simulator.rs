//! How to test your own code against `writer-sim`: start a simulator in the
//! test, put your client on the simulator's clock, make it misbehave, and
//! check what your code did from the simulator's statistics.
//!
//! `cargo run -p writer-jobs --example testing_with_simulator`

use writer_jobs::{Client, Error, Inputs};
use writer_sim::{DurationDist, FaultConfig, Simulator};

/// The code under test: describe a product, or say why not.
async fn describe(client: &Client, app: &str, product: &str) -> Result<String, Error> {
    let job = client
        .jobs(app)
        .create_and_wait(&Inputs::new().text("Product name", product))
        .await?;
    Ok(job.suggestion().to_string())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // 1,000x: a 30 s job takes 30 ms; the client shares the clock.
    let sim = Simulator::builder()
        .scale(1000.0)
        .seed(42)
        .duration(DurationDist::Fixed { secs: 30.0 })
        .failure_rate(0.0)
        .start()
        .await?;
    let client = Client::builder()
        .simulator(
            sim.base_url(),
            sim.api_key(),
            sim.clock().scale(),
            sim.clock().anchor(),
        )
        .build()?;
    let app = "demo-product-descriptions";

    // The happy path: the right output for the right input.
    let text = describe(&client, app, "Flex yoga mat").await?;
    let inputs = Inputs::new()
        .text("Product name", "Flex yoga mat")
        .to_wire()
        .inputs;
    assert_eq!(text, writer_sim::expected_output(app, &inputs).suggestion);

    // A flaky server: transient errors on reads are retried for you.
    sim.set_faults(FaultConfig::parse_compact("get:503=0.5")?)?;
    let text = describe(&client, app, "Terra running shoe").await?;
    assert!(text.contains("[simulated]"));

    // A create whose answer is lost is reported, never blindly resent.
    sim.set_faults(FaultConfig::parse_compact("create:accept_then_drop=1")?)?;
    let error = describe(&client, app, "Aqua swim goggles")
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Ambiguous { .. }), "{error}");
    let stats = sim.stats();
    assert_eq!(stats.duplicate_creates(), 0);
    println!(
        "all checks passed: {} requests, {} jobs created, faults {:?}",
        stats.total_requests, stats.jobs_created, stats.faults
    );
    Ok(())
}

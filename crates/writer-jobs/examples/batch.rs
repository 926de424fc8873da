//! A batch of a few hundred rows with progress events: one shared poller,
//! about one request per job, every row's outcome exactly once.
//!
//! `cargo run -p writer-jobs --example batch`

mod common;

use futures::StreamExt;
use writer_jobs::Inputs;
use writer_jobs::batch::{Batch, OutcomeResult, Rate, Row};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let setup = common::setup().await?;
    let rows = (0..300).map(|i| {
        Row::new(
            format!("sku-{i:04}"),
            Inputs::new()
                .text("Product name", format!("Trail shoe model {i}"))
                .list("Tags", ["running", "outdoor"]),
        )
    });
    let mut run = Batch::new(setup.client.clone(), &setup.app_id)
        .max_in_flight(100)
        .rate(Rate::per_minute(400.0))
        .job_retries(2)
        .run(futures::stream::iter(rows))
        .await?;
    let mut progress = run.progress();
    let reporter = tokio::spawn(async move {
        while progress.changed().await.is_ok() {
            let p = progress.borrow().clone();
            if p.finished() % 50 == 0 && p.finished() > 0 {
                eprintln!(
                    "progress: {} done, {} in flight, {} requests ({:.2}/job)",
                    p.finished(),
                    p.in_flight,
                    p.requests,
                    p.requests_per_job
                );
            }
        }
    });
    let (mut completed, mut other) = (0, 0);
    while let Some(outcome) = run.next().await {
        match outcome?.result {
            OutcomeResult::Completed { .. } => completed += 1,
            _ => other += 1,
        }
    }
    reporter.abort();
    println!("{completed} completed, {other} not completed");
    if let Some(sim) = &setup.sim {
        let stats = sim.stats();
        println!(
            "the simulator counted {} requests for 300 rows ({:.2} per job)",
            stats.total_requests,
            stats.total_requests as f64 / 300.0
        );
    }
    Ok(())
}

//! List an application's jobs as a stream, with a status filter: pages are
//! fetched lazily, and no job is yielded twice even while jobs are added.
//! The loop needs no `futures` import; the combinators are there when wanted.
//!
//! `cargo run -p writer-jobs --example stream_jobs`

mod common;

use futures::{StreamExt, TryStreamExt};
use writer_jobs::{Inputs, StatusFilter};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let setup = common::setup().await?;
    let jobs = setup.client.jobs(&setup.app_id);
    if setup.sim.is_some() {
        // Give the simulated application some history.
        for i in 0..120 {
            let inputs = Inputs::new().text("Product name", format!("Item {i}"));
            setup.client.create_job(&setup.app_id, &inputs).await?;
        }
        jobs.wait(
            setup
                .client
                .create_job(&setup.app_id, &Inputs::new().text("Product name", "last"))
                .await?
                .id,
        )
        .await
        .ok();
    }
    let completed: Vec<_> = jobs
        .list()
        .status(StatusFilter::Completed)
        .page_size(50)
        .stream()
        .take(75)
        .try_collect()
        .await?;
    println!("first {} completed jobs, newest first:", completed.len());
    for job in completed.iter().take(5) {
        println!("  {}  {}", job.id, job.created_at);
    }
    // The common loop: `next()` is the stream's own method.
    let mut failed = jobs.list().status(StatusFilter::Failed).stream();
    let mut count = 0;
    while let Some(job) = failed.next().await {
        job?;
        count += 1;
    }
    println!("failed jobs: {count}");
    Ok(())
}

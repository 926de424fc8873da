//! Retry a failed job: check its status first (retrying a job that is not
//! `failed` is refused with 409), then follow the id the retry answers with.
//!
//! `cargo run -p writer-jobs --example retry_failed`

mod common;

use writer_jobs::{Error, Inputs, JobStatus};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let setup = common::setup().await?;
    let jobs = setup.client.jobs(&setup.app_id);
    // Find a failed job: create a few until one fails (the simulator fails 10%).
    for i in 0..100 {
        let inputs = Inputs::new().text("Product name", format!("Fragile item {i}"));
        let created = setup.client.create_job(&setup.app_id, &inputs).await?;
        match jobs.wait(&created.id).await {
            Ok(job) => println!("{} completed", job.id),
            Err(Error::JobFailed {
                job_id, message, ..
            }) => {
                println!("{job_id} failed: {message}");
                let job = setup.client.get_job(&job_id).await?;
                assert_eq!(job.status, JobStatus::Failed);
                let retried = setup.client.retry_job(&job_id).await?;
                println!("retried as {} ({})", retried.id, retried.status.as_str());
                match jobs.wait(&retried.id).retry_failed(3).await {
                    Ok(job) => println!("{} completed after a retry", job.id),
                    Err(error) => println!("still failing: {error}"),
                }
                return Ok(());
            }
            Err(error) => return Err(error.into()),
        }
    }
    println!("no job failed this time");
    Ok(())
}

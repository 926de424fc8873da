//! The one-call path: create a job and wait for its result.
//!
//! `cargo run -p writer-jobs --example create_and_wait`

mod common;

use writer_jobs::Inputs;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let setup = common::setup().await?;
    let inputs = Inputs::new()
        .text("Product name", "Terra running shoe")
        .text("Tone", "playful");
    let job = setup
        .client
        .jobs(&setup.app_id)
        .create_and_wait(&inputs)
        .retry_failed(2)
        .await?;
    println!("job {} is {}", job.id, job.status.as_str());
    println!("{}: {}", job.title().unwrap_or_default(), job.suggestion());
    Ok(())
}

//! Shared set-up for the examples: the real API when `WRITER_API_KEY` is set
//! (in the environment or `.env`), otherwise a local simulator.

use std::time::Duration;

use writer_jobs::Client;
use writer_sim::{DurationDist, Simulator};

/// Where an example runs.
pub struct Setup {
    /// The client to use.
    pub client: Client,
    /// The application to run (`WRITER_APP_ID` on the real API).
    pub app_id: String,
    /// The simulator, kept alive while the example runs (`None`: real API).
    #[allow(dead_code)] // some examples only hold it
    pub sim: Option<Simulator>,
}

/// Connects to the real API if a key is configured, else starts the
/// simulator on a 100x clock (a 30 s job takes 0.3 s) with the demo app.
pub async fn setup() -> Result<Setup, Box<dyn std::error::Error>> {
    if let Ok(client) = Client::from_env() {
        let app_id = std::env::var("WRITER_APP_ID")
            .map_err(|_| "set WRITER_APP_ID to the application to run")?;
        eprintln!("using the real API at {}", client.base_url());
        return Ok(Setup {
            client,
            app_id,
            sim: None,
        });
    }
    let sim = Simulator::builder()
        .scale(100.0)
        .seed(1)
        .duration(DurationDist::LogNormal {
            mean_secs: 20.0,
            sigma: 0.4,
        })
        .failure_rate(0.1)
        .start()
        .await?;
    eprintln!(
        "no WRITER_API_KEY: using the local simulator at {} (results are simulated)",
        sim.base_url()
    );
    let client = Client::builder()
        .simulator(
            sim.base_url(),
            sim.api_key(),
            sim.clock().scale(),
            sim.clock().anchor(),
        )
        .request_timeout(Duration::from_secs(30))
        .build()?;
    Ok(Setup {
        client,
        app_id: "demo-product-descriptions".into(),
        sim: Some(sim),
    })
}

//! The operation-level conformance suite (`writer_jobs_tests::conformance`):
//! each of the six operations called with valid input, every exchange
//! checked against the spec.
//!
//! It runs against the simulator here, and against any server with
//!
//! ```text
//! WRITER_CONFORMANCE_BASE_URL=https://api.writer.com WRITER_API_KEY=... \
//! WRITER_CONFORMANCE_APP_ID=... cargo test -p writer-jobs-tests -- --ignored conformance
//! ```
//!
//! (which creates one job and one synchronous run on that application, and
//! may retry one failed job of it).

use std::time::Duration;

use writer_jobs::{Client, Error, Inputs};
use writer_jobs_tests::conformance::{SuiteRun, Target, run_suite};
use writer_jobs_tests::{Checker, Report, Spec};
use writer_sim::{AppConfig, DurationDist, Simulator};

const APP: &str = "demo-product-descriptions";

const ALL: [&str; 6] = [
    "create_job",
    "get_application",
    "get_job",
    "list_jobs",
    "retry_job",
    "run_application",
];

fn judge(run: &SuiteRun) -> Report {
    let spec = Spec::load();
    let report = Checker::new(&spec).check_all(&run.exchanges);
    for note in &run.notes {
        println!("note: {note}");
    }
    for ex in &run.exchanges {
        println!("{}", ex.summary());
    }
    report.assert_clean();
    report
}

async fn sim(failure_rate: f64) -> Simulator {
    Simulator::builder()
        .scale(500.0)
        .duration(DurationDist::fixed(Duration::from_secs(2)))
        .apps(vec![AppConfig::demo().failure_rate(failure_rate)])
        .seed(21)
        .start()
        .await
        .unwrap()
}

fn target(sim: &Simulator) -> Target {
    Target {
        base_url: sim.base_url(),
        api_key: sim.api_key().to_string(),
        app_id: APP.to_string(),
    }
}

#[tokio::test]
async fn conformance_against_the_simulator() {
    let sim = sim(0.0).await;
    let run = run_suite(&target(&sim)).await;
    assert!(run.notes.is_empty(), "{:?}", run.notes);
    let report = judge(&run);
    assert_eq!(report.operations(), ALL);
    for op in ["get_application", "get_job", "list_jobs", "run_application"] {
        assert_eq!(report.seen[op], [200], "{op}");
    }
    // Writer's reference: a create answers 202 Accepted.
    assert_eq!(report.seen["create_job"], [202]);
    // No failed job to retry: the new job is retried and refused.
    assert_eq!(report.seen["retry_job"], [409]);
}

#[tokio::test]
async fn conformance_against_the_simulator_with_failing_jobs() {
    let sim = sim(1.0).await;
    // A job that has failed before the suite looks for one.
    let client = Client::builder()
        .simulator(
            sim.base_url(),
            sim.api_key(),
            sim.clock().scale(),
            sim.clock().anchor(),
        )
        .build()
        .unwrap();
    let job = client
        .create_job(APP, &Inputs::new().text("Product name", "Doomed"))
        .await
        .unwrap();
    assert!(matches!(
        client.wait(job.id.as_str()).await,
        Err(Error::JobFailed { .. })
    ));

    let run = run_suite(&target(&sim)).await;
    let report = judge(&run);
    assert_eq!(report.operations(), ALL);
    assert_eq!(report.seen["retry_job"], [202], "the failed job is retried");
    // Every run fails here: the synchronous run's 500 is a spec `Error`.
    assert_eq!(report.seen["run_application"], [500]);
}

#[tokio::test]
async fn the_suite_reports_a_server_that_strays() {
    // The suite against a server that answers everything with a body that
    // is no operation's schema: the checker names the departures.
    let server = writer_jobs_tests::canned::CannedServer::start()
        .await
        .unwrap();
    server.set(200, &serde_json::json!({ "hello": "world" }));
    let run = run_suite(&Target {
        base_url: server.base_url(),
        api_key: "sk-test".into(),
        app_id: "app".into(),
    })
    .await;
    let spec = Spec::load();
    let report = Checker::new(&spec).check_all(&run.exchanges);
    let text: Vec<String> = report.violations.iter().map(ToString::to_string).collect();
    assert!(
        text.iter().any(|v| v.contains(
            "[get_application] response: body: /: \"created_at\" is a required property"
        )),
        "{text:#?}"
    );
    assert!(
        text.iter().any(|v| v.contains("[list_jobs] response: body: /: \"result\" is a required property")),
        "{text:#?}"
    );
}

/// The suite against the server the environment names; prints why it is
/// skipped when `WRITER_CONFORMANCE_BASE_URL`, `WRITER_API_KEY` or
/// `WRITER_CONFORMANCE_APP_ID` is unset.
#[tokio::test]
#[ignore = "talks to a real server: set WRITER_CONFORMANCE_BASE_URL, WRITER_API_KEY, WRITER_CONFORMANCE_APP_ID and run with --ignored"]
async fn conformance_against_configured_server() {
    let target = match Target::from_env() {
        Ok(target) => target,
        Err(reason) => {
            println!("skipped: {reason}");
            return;
        }
    };
    println!("conformance suite against {target:?}");
    let run = run_suite(&target).await;
    let report = judge(&run);
    println!("operations exercised: {:?}", report.seen);
    assert!(
        report.seen.contains_key("get_application") && report.seen.contains_key("list_jobs"),
        "the suite reached the server"
    );
}

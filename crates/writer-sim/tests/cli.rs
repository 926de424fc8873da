//! The `writer-sim` binary: prints its base URL and key and serves; bad
//! flags or config files fail with a clear message.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_writer-sim");

#[tokio::test]
async fn binary_prints_url_and_key_then_serves() {
    let mut child = Command::new(BIN)
        .args([
            "--port",
            "0",
            "--scale",
            "100",
            "--seed",
            "3",
            "--faults",
            "get:500=0.1",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let mut base = None;
    let mut key = None;
    for _ in 0..10 {
        let Some(Ok(line)) = lines.next() else { break };
        if let Some(v) = line.strip_prefix("WRITER_BASE_URL=") {
            base = Some(v.to_string());
        }
        if let Some(v) = line.strip_prefix("WRITER_API_KEY=") {
            key = Some(v.to_string());
        }
        if base.is_some() && key.is_some() {
            break;
        }
    }
    let (base, key) = (base.expect("base URL printed"), key.expect("key printed"));
    assert!(base.starts_with("http://127.0.0.1:"));
    let http = reqwest::Client::new();
    let clock: serde_json::Value = http
        .get(format!("{base}/_sim/clock"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(clock["scale"], 100.0);
    let app: writer_api::types::Application = http
        .get(format!("{base}/v1/applications/demo-product-descriptions"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(app.name, "Product descriptions");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn bad_flags_and_config_fail_clearly() {
    let out = Command::new(BIN)
        .args(["--faults", "get:boom=1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown fault `boom`"), "{err}");

    let dir = std::env::temp_dir().join(format!("writer-sim-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("sim.toml");
    std::fs::write(&path, "[rate_limit]\nrequests = -1\nper = \"minute\"\n").unwrap();
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("rate_limit.requests = -1"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);

    let out = Command::new(BIN).args(["--scale", "0"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("scale"));
}

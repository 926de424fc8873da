//! The operation-level conformance suite: call each of the spec's six
//! operations once with valid input against any server (the simulator, or
//! Writer's API given a base URL, key and application id), record every
//! exchange, and leave the judging to the [`Checker`](crate::checker::Checker).
//!
//! The suite reads the application's input definitions first and builds
//! valid inputs from them (text and dropdown inputs; a required file or
//! media input cannot be made up, so create and run are then skipped with a
//! note). `retry_job` retries a `failed` job of the application when one
//! exists, else the job the suite created, which a conforming server refuses
//! with 409.

use std::time::Duration;

use serde_json::{Value, json};

use crate::checker::Exchange;

/// Where to run the suite.
#[derive(Clone)]
pub struct Target {
    /// The base URL, like `https://api.writer.com`.
    pub base_url: String,
    /// The API key.
    pub api_key: String,
    /// The application to use.
    pub app_id: String,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("base_url", &self.base_url)
            .field("api_key", &"<redacted>")
            .field("app_id", &self.app_id)
            .finish()
    }
}

/// The environment variable naming the server's base URL.
pub const ENV_BASE_URL: &str = "WRITER_CONFORMANCE_BASE_URL";
/// The environment variable holding the API key.
pub const ENV_API_KEY: &str = "WRITER_API_KEY";
/// The environment variable naming the application.
pub const ENV_APP_ID: &str = "WRITER_CONFORMANCE_APP_ID";

impl Target {
    /// The target the environment describes, or why there is none (the
    /// reason to print when skipping).
    pub fn from_env() -> Result<Target, String> {
        let get = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let missing: Vec<&str> = [ENV_BASE_URL, ENV_API_KEY, ENV_APP_ID]
            .into_iter()
            .filter(|n| get(n).is_none())
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "set {} to run the conformance suite against a server",
                missing.join(", ")
            ));
        }
        Ok(Target {
            base_url: get(ENV_BASE_URL).unwrap_or_default(),
            api_key: get(ENV_API_KEY).unwrap_or_default(),
            app_id: get(ENV_APP_ID).unwrap_or_default(),
        })
    }

    fn is_loopback(&self) -> bool {
        let rest = self
            .base_url
            .split_once("://")
            .map(|(_, r)| r)
            .unwrap_or(&self.base_url);
        rest.starts_with("127.0.0.1") || rest.starts_with("localhost") || rest.starts_with("[::1]")
    }
}

/// What a suite run did.
#[derive(Debug, Clone, Default)]
pub struct SuiteRun {
    /// Every exchange, in order.
    pub exchanges: Vec<Exchange>,
    /// What the suite could not do, and why.
    pub notes: Vec<String>,
}

struct Recorder {
    http: reqwest::Client,
    target: Target,
    run: SuiteRun,
}

impl Recorder {
    async fn send(
        &mut self,
        method: &str,
        path: &str,
        query: Option<&str>,
        body: Option<&Value>,
    ) -> Exchange {
        let body = body.map(|b| serde_json::to_vec(b).unwrap_or_default());
        let (ex, problem) = exchange(
            &self.http,
            &self.target.base_url,
            Some(&self.target.api_key),
            method,
            path,
            query,
            body.map(|b| ("application/json", b)),
        )
        .await;
        if let Some(problem) = problem {
            self.run.notes.push(problem);
        }
        self.run.exchanges.push(ex.clone());
        ex
    }
}

/// Sends one request and records it as an [`Exchange`], with what went
/// wrong when no (whole) response came. `body` is `(content type, bytes)`.
pub async fn exchange(
    http: &reqwest::Client,
    base_url: &str,
    api_key: Option<&str>,
    method: &str,
    path: &str,
    query: Option<&str>,
    body: Option<(&str, Vec<u8>)>,
) -> (Exchange, Option<String>) {
    let base = base_url.trim_end_matches('/');
    let url = match query {
        Some(q) => format!("{base}{path}?{q}"),
        None => format!("{base}{path}"),
    };
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::GET);
    let mut request = http.request(method.clone(), &url);
    if let Some(key) = api_key {
        request = request.bearer_auth(key);
    }
    let mut ex = Exchange {
        method: method.to_string(),
        path: path.to_string(),
        query: query.map(str::to_string),
        ..Exchange::default()
    };
    if let Some((content_type, bytes)) = body {
        ex.request_content_type = Some(content_type.to_string());
        ex.request_body = bytes.clone();
        request = request
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(bytes);
    }
    let mut problem = None;
    match request.send().await {
        Ok(response) => {
            ex.status = Some(response.status().as_u16());
            ex.response_content_type = response
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            match response.bytes().await {
                Ok(b) => ex.response_body = b.to_vec(),
                Err(e) => {
                    problem = Some(format!("{}: body lost: {e}", ex.summary()));
                    ex.status = None;
                }
            }
        }
        Err(e) => problem = Some(format!("{} {path}: {e}", ex.method)),
    }
    (ex, problem)
}

/// Builds valid inputs from an `Application` body, or says why it cannot.
pub fn inputs_for(application: &Value) -> Result<Value, String> {
    let mut inputs = Vec::new();
    let defs = application["inputs"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for def in &defs {
        let name = def["name"].as_str().unwrap_or_default();
        let required = def["required"].as_bool().unwrap_or(false);
        let options = &def["options"];
        let value: Option<Vec<String>> = match def["input_type"].as_str() {
            Some("text") => {
                let n = options["min_fields"].as_u64().unwrap_or(1).max(1) as usize;
                Some(vec!["writer-jobs conformance check".to_string(); n])
            }
            Some("dropdown") => options["list"]
                .as_array()
                .and_then(|l| l.first())
                .and_then(Value::as_str)
                .map(|v| vec![v.to_string()]),
            _ => None,
        };
        match value {
            Some(value) if required || inputs.is_empty() => {
                inputs.push(json!({ "id": name, "value": value }))
            }
            Some(_) => {}
            None if required => {
                return Err(format!(
                    "required input {name:?} is of type {}, which the suite cannot fill",
                    def["input_type"]
                ));
            }
            None => {}
        }
    }
    Ok(json!({ "inputs": inputs }))
}

fn encode_segment(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Runs the suite against `target`: each of the six operations at least
/// once. The synchronous run may take as long as the server's own limit
/// (about five minutes on Writer's API).
pub async fn run_suite(target: &Target) -> SuiteRun {
    let mut builder = reqwest::Client::builder()
        .timeout(Duration::from_secs(360))
        .user_agent("writer-jobs-conformance");
    if target.is_loopback() {
        builder = builder.no_proxy();
    }
    let http = match builder.build() {
        Ok(h) => h,
        Err(e) => {
            return SuiteRun {
                notes: vec![format!("cannot build an HTTP client: {e}")],
                ..SuiteRun::default()
            };
        }
    };
    let mut rec = Recorder {
        http,
        target: target.clone(),
        run: SuiteRun::default(),
    };
    let app = encode_segment(&target.app_id);

    // get_application, and valid inputs from its definitions.
    let details = rec
        .send("GET", &format!("/v1/applications/{app}"), None, None)
        .await;
    let inputs = match (details.status, details.response_json()) {
        (Some(200), Some(body)) => inputs_for(&body),
        _ => Err(format!("no application details ({})", details.summary())),
    };

    // create_job and get_job.
    let mut created_id = None;
    match &inputs {
        Ok(inputs) => {
            let created = rec
                .send(
                    "POST",
                    &format!("/v1/applications/{app}/jobs"),
                    None,
                    Some(inputs),
                )
                .await;
            if let Some(body) = created
                .response_json()
                .filter(|_| matches!(created.status, Some(200 | 202)))
            {
                created_id = body["id"]
                    .as_str()
                    .or(body["job_id"].as_str())
                    .map(str::to_string);
            }
        }
        Err(why) => rec
            .run
            .notes
            .push(format!("create_job and run_application skipped: {why}")),
    }

    // list_jobs with every parameter; it also finds a failed job to retry.
    rec.send(
        "GET",
        &format!("/v1/applications/{app}/jobs"),
        Some("status=completed&offset=0&limit=5"),
        None,
    )
    .await;
    let failed = rec
        .send(
            "GET",
            &format!("/v1/applications/{app}/jobs"),
            Some("status=failed&limit=1"),
            None,
        )
        .await;
    let failed_id = failed
        .response_json()
        .and_then(|b| b["result"][0]["id"].as_str().map(str::to_string));

    let job_for_get = created_id.clone().or_else(|| failed_id.clone());
    match &job_for_get {
        Some(id) => {
            rec.send(
                "GET",
                &format!("/v1/applications/jobs/{}", encode_segment(id)),
                None,
                None,
            )
            .await;
        }
        None => rec
            .run
            .notes
            .push("get_job skipped: no job id to get".into()),
    }

    // retry_job: a failed job (202, or 200), else the new one (a
    // conforming 409).
    match failed_id.or(created_id) {
        Some(id) => {
            rec.send(
                "POST",
                &format!("/v1/applications/jobs/{}/retry", encode_segment(&id)),
                None,
                None,
            )
            .await;
        }
        None => rec
            .run
            .notes
            .push("retry_job skipped: no job to retry".into()),
    }

    // run_application last: it may take minutes.
    if let Ok(inputs) = &inputs {
        rec.send(
            "POST",
            &format!("/v1/applications/{app}"),
            None,
            Some(inputs),
        )
        .await;
    }
    rec.run
}

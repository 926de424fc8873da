//! Helpers shared by the integration tests: a thin HTTP client for the
//! simulator and input builders.
#![allow(dead_code)]

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use writer_api::types::JobInput;
use writer_sim::{DurationDist, Simulator, SimulatorBuilder};

/// The demo application's id.
pub const DEMO: &str = "demo-product-descriptions";

/// A builder on a manual clock with fixed 30 s jobs and a fixed seed.
pub fn manual() -> SimulatorBuilder {
    Simulator::builder()
        .manual_clock()
        .seed(7)
        .duration(DurationDist::fixed(Duration::from_secs(30)))
}

/// One answer: status, headers and the raw body.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    /// Decodes the body as `T`, panicking with the body text if it does not.
    pub fn decode<T: DeserializeOwned>(&self) -> T {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body does not decode as {}: {e}: {}",
                std::any::type_name::<T>(),
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The body as a JSON value.
    pub fn json(&self) -> Value {
        self.decode()
    }

    /// The error body (decoded with writer-api's `Error`).
    pub fn error(&self) -> writer_api::types::Error {
        self.decode()
    }

    /// The error's type name: `tpe` in Writer's shape, `code` in the legacy one.
    pub fn error_code(&self) -> Option<String> {
        let error = self.error();
        error.tpe.or(error.code)
    }

    /// Every text of the error a client could show: the problems'
    /// descriptions and, in the legacy shape, `message`.
    pub fn error_text(&self) -> String {
        let error = self.error();
        let mut parts: Vec<String> = error
            .errors
            .unwrap_or_default()
            .into_iter()
            .filter_map(|e| e.description)
            .collect();
        parts.extend(error.message);
        parts.join("\n")
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
}

/// A client for one simulator, with its key.
#[derive(Debug, Clone)]
pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
    pub key: Option<String>,
    /// The status of a successful create or retry on this simulator.
    pub accepted: StatusCode,
}

impl Client {
    pub fn new(sim: &Simulator) -> Self {
        Self::with_key(sim, Some(sim.api_key()))
    }

    pub fn with_key(sim: &Simulator, key: Option<&str>) -> Self {
        Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap(),
            base: sim.base_url(),
            key: key.map(str::to_string),
            accepted: StatusCode::from_u16(sim.config().api.success_status.code()).unwrap(),
        }
    }

    /// Sends a request; `Err` when the connection failed (no answer).
    pub async fn try_send(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Answer, reqwest::Error> {
        let mut req = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(key) = &self.key {
            req = req.bearer_auth(key);
        }
        if let Some(body) = body {
            req = req.header("content-type", "application/json").body(body);
        }
        let resp = req.send().await?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.bytes().await?.to_vec();
        Ok(Answer {
            status,
            headers,
            body,
        })
    }

    pub async fn send(&self, method: Method, path: &str, body: Option<Vec<u8>>) -> Answer {
        self.try_send(method, path, body)
            .await
            .unwrap_or_else(|e| panic!("{path}: no answer: {e}"))
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.send(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Answer {
        self.send(Method::POST, path, Some(serde_json::to_vec(body).unwrap()))
            .await
    }

    pub async fn create(&self, app: &str, inputs: &[JobInput]) -> Answer {
        self.post(
            &format!("/v1/applications/{app}/jobs"),
            &json!({ "inputs": inputs }),
        )
        .await
    }

    /// Creates a job and returns its id (the create must succeed with the
    /// simulator's configured success status: 202 by default).
    pub async fn create_id(&self, app: &str, inputs: &[JobInput]) -> String {
        let answer = self.create(app, inputs).await;
        assert_eq!(answer.status, self.accepted, "{:?}", answer.json());
        let created: writer_api::types::CreateJobResponse = answer.decode();
        created.id.expect("create answers with id")
    }

    pub async fn job(&self, id: &str) -> Answer {
        self.get(&format!("/v1/applications/jobs/{id}")).await
    }

    pub async fn list(&self, app: &str, query: &str) -> Answer {
        self.get(&format!("/v1/applications/{app}/jobs?{query}"))
            .await
    }

    pub async fn retry(&self, id: &str) -> Answer {
        self.send(
            Method::POST,
            &format!("/v1/applications/jobs/{id}/retry"),
            None,
        )
        .await
    }
}

/// The demo application's inputs for one product.
pub fn product(name: &str) -> Vec<JobInput> {
    vec![JobInput {
        id: "Product name".into(),
        value: vec![name.into()],
    }]
}

/// One input.
pub fn input(id: &str, values: &[&str]) -> JobInput {
    JobInput {
        id: id.into(),
        value: values.iter().map(|s| s.to_string()).collect(),
    }
}

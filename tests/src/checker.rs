//! The wire checker: does one recorded HTTP exchange match the spec?
//!
//! For a request: its method and path match an operation's template, every
//! query parameter is declared by that operation and its value fits the
//! parameter's schema, required parameters are present, and the body
//! validates against the operation's request schema (or is empty when the
//! operation takes none). For a response: its status is declared for the
//! operation, and a JSON body says `application/json` and validates against
//! the schema of that status; a `text/event-stream` answer must be declared
//! for that status (the streamed synchronous run) and be UTF-8.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

use crate::spec::{Operation, Spec};

/// One request and its response, as seen on the wire.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Exchange {
    /// The method, like `GET`.
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The raw query string (without `?`), if there was one.
    pub query: Option<String>,
    /// The request's `content-type`, if any.
    pub request_content_type: Option<String>,
    /// The request body (empty when there was none).
    pub request_body: Vec<u8>,
    /// The response status; `None` when no response came (connection error).
    pub status: Option<u16>,
    /// The response's `content-type`, if any.
    pub response_content_type: Option<String>,
    /// The response body.
    pub response_body: Vec<u8>,
}

impl Exchange {
    /// `METHOD /path?query -> status`, for messages.
    pub fn summary(&self) -> String {
        let query = self
            .query
            .as_deref()
            .map(|q| format!("?{q}"))
            .unwrap_or_default();
        let status = self
            .status
            .map(|s| s.to_string())
            .unwrap_or_else(|| "no response".into());
        format!("{} {}{} -> {}", self.method, self.path, query, status)
    }

    /// The response body as JSON, if it is JSON.
    pub fn response_json(&self) -> Option<Value> {
        serde_json::from_slice(&self.response_body).ok()
    }

    /// The query's `(name, value)` pairs, decoded.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        let Some(query) = self.query.as_deref().filter(|q| !q.is_empty()) else {
            return Vec::new();
        };
        query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                let plus = |s: &str| crate::spec::percent_decode(&s.replace('+', " "));
                (plus(k), plus(v))
            })
            .collect()
    }
}

/// One way an exchange departs from the spec.
#[derive(Debug, Clone, PartialEq)]
pub struct Violation {
    /// The exchange ([`Exchange::summary`]).
    pub exchange: String,
    /// The operation it matched, if any.
    pub operation: Option<String>,
    /// Whether the request (as opposed to the response) is at fault.
    pub in_request: bool,
    /// What is wrong.
    pub problem: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} [{}] {}: {}",
            self.exchange,
            self.operation.as_deref().unwrap_or("no operation"),
            if self.in_request {
                "request"
            } else {
                "response"
            },
            self.problem
        )
    }
}

/// What a run of exchanges showed: the violations and which operations,
/// statuses and query parameters were exercised.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// How many exchanges were checked.
    pub exchanges: usize,
    /// Every violation found.
    pub violations: Vec<Violation>,
    /// operationId -> status codes seen (0 for no response).
    pub seen: BTreeMap<String, Vec<u16>>,
    /// operationId -> query parameter names sent.
    pub query_names: BTreeMap<String, Vec<String>>,
}

impl Report {
    /// Panics with every violation, one per line, when there is any.
    pub fn assert_clean(&self) {
        assert!(
            self.violations.is_empty(),
            "{} of {} exchanges depart from the spec:\n{}",
            self.violations.len(),
            self.exchanges,
            self.violations
                .iter()
                .map(|v| format!("  - {v}"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }

    /// The operations seen, sorted.
    pub fn operations(&self) -> Vec<&str> {
        self.seen.keys().map(String::as_str).collect()
    }
}

/// Checks exchanges against a [`Spec`].
#[derive(Debug, Clone, Copy)]
pub struct Checker<'a> {
    spec: &'a Spec,
}

impl<'a> Checker<'a> {
    /// A checker for `spec`.
    pub fn new(spec: &'a Spec) -> Self {
        Self { spec }
    }

    /// Checks every exchange and sums up.
    pub fn check_all<'e>(&self, exchanges: impl IntoIterator<Item = &'e Exchange>) -> Report {
        let mut report = Report::default();
        for ex in exchanges {
            report.exchanges += 1;
            if let Some((op, _)) = self.spec.find_operation(&ex.method, &ex.path) {
                let statuses = report.seen.entry(op.id.clone()).or_default();
                let status = ex.status.unwrap_or(0);
                if !statuses.contains(&status) {
                    statuses.push(status);
                }
                let names = report.query_names.entry(op.id.clone()).or_default();
                for (name, _) in ex.query_pairs() {
                    if !names.contains(&name) {
                        names.push(name);
                    }
                }
            }
            report.violations.extend(self.check(ex));
        }
        report
    }

    /// Every way `ex` departs from the spec (empty when it conforms).
    pub fn check(&self, ex: &Exchange) -> Vec<Violation> {
        let mut out = Vec::new();
        let Some((op, path_params)) = self.spec.find_operation(&ex.method, &ex.path) else {
            let known_path = self
                .spec
                .operations()
                .iter()
                .any(|op| op.match_path(&ex.path).is_some());
            out.push(Violation {
                exchange: ex.summary(),
                operation: None,
                in_request: true,
                problem: if known_path {
                    format!("method {} is not an operation of this path", ex.method)
                } else {
                    format!("path {} matches no operation of the spec", ex.path)
                },
            });
            return out;
        };
        let mut push = |in_request: bool, problem: String| {
            out.push(Violation {
                exchange: ex.summary(),
                operation: Some(op.id.clone()),
                in_request,
                problem,
            })
        };
        self.check_request(op, &path_params, ex, &mut |p| push(true, p));
        self.check_response(op, ex, &mut |p| push(false, p));
        out
    }

    fn check_request(
        &self,
        op: &Operation,
        path_params: &BTreeMap<String, String>,
        ex: &Exchange,
        push: &mut dyn FnMut(String),
    ) {
        for param in &op.path_params {
            match path_params.get(&param.name) {
                Some(value) => {
                    for p in self.check_param(param, value) {
                        push(format!("path parameter `{}`: {p}", param.name));
                    }
                }
                None => push(format!("path parameter `{}` is missing", param.name)),
            }
        }
        let pairs = ex.query_pairs();
        for (name, value) in &pairs {
            match op.query_params.iter().find(|p| &p.name == name) {
                Some(param) => {
                    for p in self.check_param(param, value) {
                        push(format!("query parameter `{name}`={value:?}: {p}"));
                    }
                }
                None => push(format!(
                    "query parameter `{name}` is not a parameter of {} (it has: {})",
                    op.id,
                    op.query_params
                        .iter()
                        .map(|p| p.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            }
        }
        for param in op.query_params.iter().filter(|p| p.required) {
            if !pairs.iter().any(|(n, _)| n == &param.name) {
                push(format!(
                    "required query parameter `{}` is missing",
                    param.name
                ));
            }
        }
        match &op.request_body {
            None if !ex.request_body.is_empty() => push(format!(
                "{} takes no request body, but {} bytes were sent",
                op.id,
                ex.request_body.len()
            )),
            None => {}
            Some(_) if ex.request_body.is_empty() && op.request_body_required => {
                push("the request body is required but none was sent".into());
            }
            Some(_) if ex.request_body.is_empty() => {}
            Some(schema) => {
                if !is_json(ex.request_content_type.as_deref()) {
                    push(format!(
                        "request content-type {:?} is not application/json",
                        ex.request_content_type
                    ));
                }
                match serde_json::from_slice::<Value>(&ex.request_body) {
                    Ok(body) => {
                        for p in self.spec.validate_with(schema, &body) {
                            push(format!("request body: {p}"));
                        }
                    }
                    Err(e) => push(format!("request body is not JSON: {e}")),
                }
            }
        }
    }

    fn check_param(&self, param: &crate::spec::Param, raw: &str) -> Vec<String> {
        let types: Vec<&str> = match &param.schema["type"] {
            Value::String(t) => vec![t.as_str()],
            Value::Array(list) => list.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        let resolved_type = param.schema["$ref"]
            .as_str()
            .and_then(|r| r.strip_prefix("#/$defs/"))
            .and_then(|name| self.spec.schema(name))
            .and_then(|s| s["type"].as_str());
        let numeric = types
            .iter()
            .chain(resolved_type.as_ref())
            .any(|t| *t == "integer" || *t == "number");
        let value = if numeric {
            match raw.parse::<i64>() {
                Ok(n) => Value::from(n),
                Err(_) => match raw.parse::<f64>() {
                    Ok(f) => Value::from(f),
                    Err(_) => return vec![format!("{raw:?} is not a number")],
                },
            }
        } else {
            Value::from(raw)
        };
        self.spec.validate_with(&param.schema, &value)
    }

    fn check_response(&self, op: &Operation, ex: &Exchange, push: &mut dyn FnMut(String)) {
        let Some(status) = ex.status else {
            push("no response arrived (connection failed or dropped)".into());
            return;
        };
        let Some(schema) = op.response_schema(status) else {
            push(format!(
                "status {status} is not a declared response of {} (declared: {})",
                op.id,
                op.responses.keys().cloned().collect::<Vec<_>>().join(", ")
            ));
            return;
        };
        if is_event_stream(ex.response_content_type.as_deref()) {
            if !op.streams(status) {
                push(format!(
                    "a text/event-stream answer is not declared for {status} of {}",
                    op.id
                ));
            } else if let Err(e) = std::str::from_utf8(&ex.response_body) {
                push(format!("the event stream is not UTF-8: {e}"));
            }
            return;
        }
        let Some(schema) = schema else {
            return;
        };
        if !is_json(ex.response_content_type.as_deref()) {
            push(format!(
                "content-type {:?} is not application/json",
                ex.response_content_type
            ));
        }
        match serde_json::from_slice::<Value>(&ex.response_body) {
            Ok(body) => {
                for p in self.spec.validate_with(schema, &body) {
                    push(format!("body: {p}"));
                }
            }
            Err(e) => push(format!(
                "body is not JSON ({e}): {:?}",
                String::from_utf8_lossy(&ex.response_body[..ex.response_body.len().min(120)])
            )),
        }
    }
}

fn is_event_stream(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|ct| {
        let mime = ct.split(';').next().unwrap_or("").trim();
        mime.eq_ignore_ascii_case("text/event-stream")
    })
}

fn is_json(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|ct| {
        let mime = ct.split(';').next().unwrap_or("").trim();
        mime.eq_ignore_ascii_case("application/json")
            || mime.to_ascii_lowercase().ends_with("+json")
    })
}

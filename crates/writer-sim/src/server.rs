//! The HTTP server: hyper connections on a tokio listener, and the layer in
//! front of the router that counts requests, applies outages, faults,
//! authentication and the rate limit.
//!
//! Served with hyper directly (not `axum::serve`) so that a fault can close
//! a connection without any response: the service returns an error and
//! hyper drops the connection.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes, HttpBody};
use axum::http::{HeaderValue, Method, Request, Response, StatusCode, header};
use chrono::{DateTime, Utc};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tower::ServiceExt;

use crate::config::ErrorShape;
use crate::faults::{Decision, FaultKind, Operation, Outage};
use crate::routes::{error_response, router};
use crate::sim::Shared;

/// The error a service returns to make hyper close the connection without
/// a response.
#[derive(Debug)]
pub(crate) struct Dropped(&'static str);

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "connection dropped by fault injection ({})", self.0)
    }
}

impl std::error::Error for Dropped {}

/// Accepts connections until `shutdown` turns true, then closes them
/// gracefully (aborting those still busy after two seconds). While
/// connections are to be refused (see [`crate::listener`]) the listening
/// socket is closed, and bound again on the same address afterwards.
pub(crate) async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let addr = listener.local_addr().ok();
    let mut listener = Some(listener);
    let router = router(shared.clone());
    let seq = Arc::new(AtomicU64::new(0));
    let mut conns = JoinSet::new();
    let mut control_rx = shared.listener.subscribe();
    loop {
        let control = *control_rx.borrow_and_update();
        let now = shared.clock.now();
        let refusing = control.refusing(now);
        if refusing && listener.is_some() {
            listener = None;
            tracing::debug!(?addr, "refusing connections: listening socket closed");
        }
        let mut rebind_failed = false;
        if !refusing
            && listener.is_none()
            && let Some(addr) = addr
        {
            match TcpListener::bind(addr).await {
                Ok(l) => {
                    listener = Some(l);
                    tracing::debug!(%addr, "accepting connections again");
                }
                Err(e) => {
                    tracing::warn!(%addr, error = %e, "cannot listen again yet; retrying");
                    rebind_failed = true;
                }
            }
        }
        shared
            .listener
            .applied(control.generation(), listener.is_some());
        let next_change = control.next_change(now);
        let clock = shared.clock.clone();
        tokio::select! {
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    break;
                }
            }
            _ = control_rx.changed() => {}
            _ = async { clock.sleep_until(next_change.unwrap_or(DateTime::<Utc>::MAX_UTC)).await }, if next_change.is_some() => {}
            _ = tokio::time::sleep(Duration::from_millis(10)), if rebind_failed => {}
            accepted = async { listener.as_ref().expect("checked by the precondition").accept().await }, if listener.is_some() => {
                let (stream, peer) = match accepted {
                    Ok(conn) => conn,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let keep_alive = shared.config.keep_alive;
                let shared = shared.clone();
                let router = router.clone();
                let seq = seq.clone();
                let mut conn_shutdown = shutdown.clone();
                conns.spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        handle(shared.clone(), router.clone(), seq.clone(), req)
                    });
                    let conn = http1::Builder::new()
                        .keep_alive(keep_alive)
                        .serve_connection(TokioIo::new(stream), service);
                    tokio::pin!(conn);
                    tokio::select! {
                        result = conn.as_mut() => {
                            if let Err(e) = result {
                                tracing::debug!(%peer, error = %e, "connection ended");
                            }
                        }
                        _ = async { conn_shutdown.wait_for(|stop| *stop).await.map(|_| ()) } => {
                            conn.as_mut().graceful_shutdown();
                            let _ = conn.await;
                        }
                    }
                });
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    drop(listener);
    let drain = async { while conns.join_next().await.is_some() {} };
    if tokio::time::timeout(Duration::from_secs(2), drain)
        .await
        .is_err()
    {
        conns.abort_all();
    }
    tracing::info!("writer-sim stopped");
}

/// Which operation a request is, from its method and path.
pub(crate) fn classify(method: &Method, path: &str) -> Operation {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method, segments.as_slice()) {
        (&Method::GET, ["v1", "applications", "jobs", _]) => Operation::Get,
        (&Method::POST, ["v1", "applications", "jobs", _, "retry"]) => Operation::Retry,
        (&Method::POST, ["v1", "applications", _, "jobs"]) => Operation::Create,
        (&Method::GET, ["v1", "applications", _, "jobs"]) => Operation::List,
        (&Method::POST, ["v1", "applications", _]) => Operation::Run,
        (&Method::GET, ["v1", "applications", _]) => Operation::App,
        _ => Operation::Other,
    }
}

fn bearer(req: &Request<Body>) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

fn set_header(resp: &mut Response<Body>, name: &'static str, value: String) {
    if let Ok(v) = HeaderValue::from_str(&value) {
        resp.headers_mut().insert(name, v);
    }
}

/// `Retry-After` (whole seconds, rounded up) and `retry-after-ms`, both in
/// simulated time.
fn set_retry_after(resp: &mut Response<Body>, wait: Duration) {
    let ms = wait.as_nanos().div_ceil(1_000_000);
    let secs = wait.as_nanos().div_ceil(1_000_000_000).max(1);
    set_header(resp, "retry-after", secs.to_string());
    set_header(resp, "retry-after-ms", ms.to_string());
}

fn injected_status(
    shape: ErrorShape,
    kind: FaultKind,
    decision: Decision,
    retry_after: Duration,
) -> Response<Body> {
    let (status, code, message) = match kind {
        FaultKind::Status500 => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "simulated internal server error",
        ),
        FaultKind::Status503 => (
            StatusCode::SERVICE_UNAVAILABLE,
            "service_unavailable",
            "simulated: the service is temporarily unavailable",
        ),
        FaultKind::Status504 => (
            StatusCode::GATEWAY_TIMEOUT,
            "gateway_timeout",
            "simulated: the gateway timed out",
        ),
        _ => (
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "simulated: too many requests, slow down",
        ),
    };
    let mut resp = error_response(shape, status, code, message, Vec::new());
    if status.is_server_error()
        && let Some(should) = decision.should_retry
    {
        set_header(&mut resp, "x-should-retry", should.to_string());
    }
    if matches!(kind, FaultKind::Status503 | FaultKind::Burst429) {
        set_retry_after(&mut resp, retry_after);
    }
    resp
}

/// One request through outage, faults, auth, rate limit and the router.
async fn handle(
    shared: Arc<Shared>,
    router: Router,
    seq: Arc<AtomicU64>,
    req: Request<Incoming>,
) -> Result<Response<Body>, Dropped> {
    let path = req.uri().path().to_string();
    if path.starts_with("/_sim/") {
        return Ok(route(router, req.map(Body::new)).await);
    }
    let op = classify(req.method(), &path);
    let request_id = format!("sim-req-{}", seq.fetch_add(1, Ordering::Relaxed) + 1);
    let slot = shared.stats.request(op, shared.clock.now());
    let mut req = req.map(Body::new);
    req.extensions_mut().insert(slot);
    let result = handle_api(&shared, router, op, req).await;
    match result {
        Ok(mut resp) => {
            tracing::debug!(%op, %path, status = resp.status().as_u16(), %request_id, "answered");
            set_header(&mut resp, "x-request-id", request_id);
            // The server's clock is the simulated one: its `Date` header
            // must agree with the `created_at` it stamps (hyper would
            // otherwise send the machine's time), since clients bound the
            // clock offset with it.
            let date = shared.clock.now().format("%a, %d %b %Y %H:%M:%S GMT");
            set_header(&mut resp, "date", date.to_string());
            let bytes = resp.body().size_hint().exact();
            shared
                .stats
                .response(op, resp.status().as_u16(), bytes, slot);
            Ok(resp)
        }
        Err(dropped) => {
            tracing::debug!(%op, %path, reason = dropped.0, "dropping connection");
            shared.stats.dropped();
            Err(dropped)
        }
    }
}

async fn route(router: Router, req: Request<Body>) -> Response<Body> {
    match router.oneshot(req).await {
        Ok(resp) => resp,
        Err(never) => match never {},
    }
}

async fn handle_api(
    shared: &Arc<Shared>,
    router: Router,
    op: Operation,
    req: Request<Body>,
) -> Result<Response<Body>, Dropped> {
    let shape = shared.config.api.error_shape;
    let (decision, outage, fault_config) = {
        let mut engine = shared.lock_faults();
        let decision = engine.decide(op);
        (decision, engine.outage, engine.config.clone())
    };
    match outage {
        Outage::None => {}
        Outage::Reset => {
            shared.stats.fault("outage_reset");
            return Err(Dropped("outage"));
        }
        Outage::Unavailable => {
            shared.stats.fault("outage_503");
            return Ok(injected_status(
                shape,
                FaultKind::Status503,
                decision,
                fault_config.retry_after,
            ));
        }
    }
    let fault = decision.fault;
    if let Some(kind) = fault.filter(|k| k.before_handler()) {
        shared.stats.fault(kind.as_str());
        if kind == FaultKind::Reset {
            return Err(Dropped("reset"));
        }
        return Ok(injected_status(
            shape,
            kind,
            decision,
            fault_config.retry_after,
        ));
    }

    if fault == Some(FaultKind::Hold) {
        // Receive the whole request first (the server has it), then hold
        // and handle it in a task of its own: if the client gives up and
        // closes the connection, hyper drops this future, not the task.
        let (parts, body) = req.into_parts();
        let body: Bytes = match axum::body::to_bytes(body, usize::MAX).await {
            Ok(bytes) => bytes,
            Err(_) => return Err(Dropped("hold: request body lost")),
        };
        let req = Request::from_parts(parts, Body::from(body));
        let deadline = shared.clock.now()
            + chrono::TimeDelta::from_std(fault_config.hold_delay)
                .unwrap_or(chrono::TimeDelta::MAX);
        shared.stats.fault(FaultKind::Hold.as_str());
        let task_shared = shared.clone();
        let held = tokio::spawn(async move {
            task_shared.clock.sleep_until(deadline).await;
            authorize_and_route(&task_shared, router, req).await
        });
        return match held.await {
            Ok(resp) => Ok(resp),
            Err(_) => Err(Dropped("hold: handling failed")),
        };
    }

    let resp = authorize_and_route(shared, router, req).await;

    let Some(kind) = fault else {
        return Ok(resp);
    };
    match kind {
        FaultKind::AcceptThenDrop => {
            shared.stats.fault(kind.as_str());
            Err(Dropped("accept_then_drop"))
        }
        FaultKind::Slow | FaultKind::SlowDrop => {
            shared.stats.fault(kind.as_str());
            shared.clock.sleep(fault_config.slow_delay).await;
            if kind == FaultKind::SlowDrop {
                Err(Dropped("slow_drop"))
            } else {
                Ok(resp)
            }
        }
        // A streamed run's answer is not JSON: body faults leave it alone.
        _ if resp.status().is_success() && !is_event_stream(&resp) => {
            Ok(mangle(shared, op, kind, resp).await)
        }
        _ => Ok(resp),
    }
}

/// Authentication, the rate limit, then the router.
async fn authorize_and_route(
    shared: &Shared,
    router: Router,
    mut req: Request<Body>,
) -> Response<Body> {
    let shape = shared.config.api.error_shape;
    let Some(caller) = bearer(&req).and_then(|token| shared.authenticate(token)) else {
        let message = if bearer(&req).is_some() {
            "invalid API key"
        } else {
            "missing API key: send Authorization: Bearer <key>"
        };
        return error_response(
            shape,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            message,
            Vec::new(),
        );
    };
    if let Err(wait) = shared
        .limiter
        .check(&shared.key(caller).key, shared.clock.now())
    {
        shared.stats.rate_limited();
        let mut resp = error_response(
            shape,
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!(
                "rate limit exceeded: retry after {:.3} s",
                wait.as_secs_f64()
            ),
            Vec::new(),
        );
        set_retry_after(&mut resp, wait);
        return resp;
    }
    req.extensions_mut().insert(caller);
    route(router, req).await
}

/// Whether `resp` is a streamed run's `text/event-stream`.
fn is_event_stream(resp: &Response<Body>) -> bool {
    resp.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"))
}

/// Applies a body fault to a successful JSON answer; counts it only when it
/// changed something.
async fn mangle(
    shared: &Shared,
    op: Operation,
    kind: FaultKind,
    resp: Response<Body>,
) -> Response<Body> {
    let (mut parts, body) = resp.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return Response::from_parts(parts, Body::empty());
    };
    let new_body: Option<Vec<u8>> = match kind {
        FaultKind::Truncated => Some(bytes[..bytes.len() / 2].to_vec()),
        FaultKind::Malformed => {
            Some(b"{\"status\": in_progress,, <html>Bad Gateway</html>".to_vec())
        }
        _ => serde_json::from_slice::<Value>(&bytes)
            .ok()
            .and_then(|mut value| {
                let changed = match kind {
                    FaultKind::ExtraFields => {
                        add_extra_fields(&mut value);
                        true
                    }
                    FaultKind::UnknownStatus => relabel_in_progress(&mut value),
                    FaultKind::JobIdField if op == Operation::Create => rename_id(&mut value),
                    _ => false,
                };
                changed.then(|| serde_json::to_vec(&value).unwrap_or_default())
            }),
    };
    let body = match new_body {
        Some(new) => {
            shared.stats.fault(kind.as_str());
            parts.headers.remove(header::CONTENT_LENGTH);
            new
        }
        None => bytes.to_vec(),
    };
    Response::from_parts(parts, Body::from(body))
}

/// Adds unknown fields to every object, as a newer server might.
fn add_extra_fields(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for v in map.values_mut() {
                add_extra_fields(v);
            }
            map.insert("x_sim_future_field".into(), Value::from("ignore me"));
            map.insert(
                "x_sim_future_object".into(),
                serde_json::json!({"nested": [1, 2, 3], "flag": true}),
            );
        }
        Value::Array(items) => items.iter_mut().for_each(add_extra_fields),
        _ => {}
    }
}

/// Reports in-progress jobs as `queued`, a status the spec does not list.
/// Only in-progress jobs: a final state is never hidden.
fn relabel_in_progress(value: &mut Value) -> bool {
    match value {
        Value::Object(map) => {
            let mut changed = false;
            if map.get("status").and_then(Value::as_str) == Some("in_progress") {
                map.insert("status".into(), Value::from("queued"));
                changed = true;
            }
            for v in map.values_mut() {
                changed |= relabel_in_progress(v);
            }
            changed
        }
        Value::Array(items) => items
            .iter_mut()
            .fold(false, |c, v| relabel_in_progress(v) | c),
        _ => false,
    }
}

/// Renames a create answer's `id` to `job_id`, as Writer's guide shows it.
fn rename_id(value: &mut Value) -> bool {
    let Value::Object(map) = value else {
        return false;
    };
    match map.remove("id") {
        Some(id) => {
            map.insert("job_id".into(), id);
            true
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_the_six_operations() {
        let cases = [
            (Method::POST, "/v1/applications/app/jobs", Operation::Create),
            (Method::GET, "/v1/applications/jobs/123", Operation::Get),
            (Method::GET, "/v1/applications/app/jobs", Operation::List),
            (
                Method::POST,
                "/v1/applications/jobs/123/retry",
                Operation::Retry,
            ),
            (Method::POST, "/v1/applications/app", Operation::Run),
            (Method::GET, "/v1/applications/app", Operation::App),
            (Method::DELETE, "/v1/applications/app", Operation::Other),
            (Method::GET, "/v2/x", Operation::Other),
        ];
        for (method, path, op) in cases {
            assert_eq!(classify(&method, path), op, "{method} {path}");
        }
    }

    #[test]
    fn relabel_never_touches_final_states() {
        let mut v = serde_json::json!({"result": [{"status": "completed"}, {"status": "in_progress"}, {"status": "failed"}]});
        assert!(relabel_in_progress(&mut v));
        assert_eq!(v["result"][0]["status"], "completed");
        assert_eq!(v["result"][1]["status"], "queued");
        assert_eq!(v["result"][2]["status"], "failed");
        let mut done = serde_json::json!({"status": "completed"});
        assert!(!relabel_in_progress(&mut done));
    }
}

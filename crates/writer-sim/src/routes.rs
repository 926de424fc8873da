//! The API's six operations (and the `/_sim/*` inspection endpoints) as an
//! axum router. Authentication, rate limiting and faults happen in front of
//! it, in [`server`](crate::server).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, TimeDelta, Utc};
use futures::StreamExt;
use serde::Serialize;
use writer_api::types::{
    Application, CreateJobResponse, Error as ApiError, ErrorDetail, GenerateApplicationRequest,
    JobInput, JobList, Pagination, RetryJobResponse, RunApplicationRequest,
};

use crate::config::{ErrorShape, OverMax, UnknownInputs};
use crate::output::input_key;
use crate::sim::Shared;
use crate::stats::{ListPage, LogSlot};
use crate::store::{JobStatus, NotFailed, Requester};

/// The request header a test may set to tag which of its clients made a
/// job (recorded as the job's `client_tag`).
pub(crate) const CLIENT_TAG_HEADER: &str = "x-sim-client";

/// The key the request authenticated with (an index into the config's keys),
/// put in the request's extensions by the server.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Caller(pub(crate) usize);

/// A refused request: becomes an error answer with a JSON [`ApiError`] body
/// in the configured [`ErrorShape`]. Its response carries the failure as an
/// extension, and the router's last layer renders the body (handlers do
/// not see the configuration).
#[derive(Debug, Clone)]
pub(crate) struct ApiFailure {
    status: StatusCode,
    code: &'static str,
    message: String,
    errors: Vec<ErrorDetail>,
}

impl IntoResponse for ApiFailure {
    fn into_response(self) -> Response {
        let mut response = self.status.into_response();
        response.extensions_mut().insert(self);
        response
    }
}

impl ApiFailure {
    fn render(self, shape: ErrorShape) -> Response {
        error_response(shape, self.status, self.code, self.message, self.errors)
    }
}

fn failure(
    status: StatusCode,
    code: &'static str,
    message: impl Into<String>,
    errors: Vec<ErrorDetail>,
) -> ApiFailure {
    ApiFailure {
        status,
        code,
        message: message.into(),
        errors,
    }
}

/// One problem of an error body.
pub(crate) fn detail(key: Option<&str>, description: impl Into<String>) -> ErrorDetail {
    ErrorDetail {
        key: key.map(str::to_string),
        description: Some(description.into()),
        extras: None,
    }
}

/// An error answer with a JSON [`ApiError`] body: in Writer's shape,
/// `{"tpe": code, "errors": [...], "extras": null}` where `errors` holds
/// the problems (or, when there are none, one problem with `message` as its
/// description and a null key), every key and extras written out even when
/// null; in the legacy shape, `{"message", "code", "errors"?}`.
pub(crate) fn error_response(
    shape: ErrorShape,
    status: StatusCode,
    code: &str,
    message: impl Into<String>,
    errors: Vec<ErrorDetail>,
) -> Response {
    (status, Json(error_body(shape, code, message, errors))).into_response()
}

/// An error body in `shape`.
fn error_body(
    shape: ErrorShape,
    code: &str,
    message: impl Into<String>,
    errors: Vec<ErrorDetail>,
) -> serde_json::Value {
    let message = message.into();
    match shape {
        ErrorShape::Writer => {
            let errors = if errors.is_empty() {
                vec![detail(None, message)]
            } else {
                errors
            };
            let errors: Vec<serde_json::Value> = errors
                .into_iter()
                .map(|e| {
                    serde_json::json!({
                        "description": e.description,
                        "key": e.key,
                        "extras": e.extras,
                    })
                })
                .collect();
            serde_json::json!({"tpe": code, "errors": errors, "extras": null})
        }
        ErrorShape::Legacy => serde_json::to_value(ApiError {
            code: Some(code.to_string()),
            errors: (!errors.is_empty()).then_some(errors),
            extras: None,
            message: Some(message),
            tpe: None,
        })
        .unwrap_or_default(),
    }
}

fn not_found(what: &str, id: &str) -> ApiFailure {
    failure(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("{what} not found: {id}"),
        vec![detail(Some(what), format!("{what} not found: {id}"))],
    )
}

fn forbidden(app_id: &str) -> ApiFailure {
    failure(
        StatusCode::FORBIDDEN,
        "forbidden",
        format!("this API key has no access to application {app_id}"),
        Vec::new(),
    )
}

fn bad_request(message: impl Into<String>, errors: Vec<ErrorDetail>) -> ApiFailure {
    failure(StatusCode::BAD_REQUEST, "bad_request", message, errors)
}

/// Builds the router over the simulator's shared state.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(
            "/v1/applications/{app}/jobs",
            get(list_jobs).post(create_job),
        )
        .route("/v1/applications/jobs/{job_id}", get(get_job))
        .route(
            "/v1/applications/jobs/{job_id}/retry",
            axum::routing::post(retry_job),
        )
        .route(
            "/v1/applications/{app}",
            get(get_application).post(run_application),
        )
        .route("/_sim/stats", get(sim_stats))
        .route("/_sim/clock", get(sim_clock))
        .route("/_sim/jobs/{job_id}", get(sim_job))
        .route("/_sim/faults", axum::routing::post(sim_set_faults))
        .route("/_sim/outage", axum::routing::post(sim_set_outage))
        .route("/_sim/refuse", axum::routing::post(sim_set_refusing))
        .fallback(fallback)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::map_response_with_state(
            shared.clone(),
            json_errors,
        ))
        .with_state(shared)
}

/// Resolves an application by id or alias and checks the caller's access.
fn resolve_app(shared: &Shared, caller: Caller, name: &str) -> Result<usize, ApiFailure> {
    let store = shared.lock_store();
    let idx = store
        .app_index(name)
        .ok_or_else(|| not_found("application", name))?;
    let app_id = &store.app(idx).id;
    if !shared.key(caller).allows(app_id) {
        return Err(forbidden(app_id));
    }
    Ok(idx)
}

/// A create's or a run's body (`GenerateApplicationRequest` or
/// `RunApplicationRequest`).
fn parse_inputs<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiFailure> {
    serde_json::from_slice(body).map_err(|e| {
        let message = format!("malformed JSON body: {e}");
        bad_request(
            message.clone(),
            vec![detail(
                Some("body"),
                format!(
                    "{message}: expected {{\"inputs\": [{{\"id\": \"<input name>\", \"value\": [\"...\"]}}]}}"
                ),
            )],
        )
    })
}

/// Validates a request's inputs. `Ok(None)`: valid. `Ok(Some(error))`:
/// only unknown inputs, and `unknown_inputs = "fail_job"` lets them through
/// (with `allow_unknown`): the error the job fails with. `Err`: a 400
/// naming every problem's input.
fn validate(
    shared: &Shared,
    app: usize,
    inputs: &[JobInput],
    allow_unknown: bool,
) -> Result<Option<String>, ApiFailure> {
    let store = shared.lock_store();
    let problems = crate::validate::validate_inputs(store.app(app), inputs);
    let fail_job = allow_unknown && shared.config.api.unknown_inputs == UnknownInputs::FailJob;
    let refused = if problems.other.is_empty() && (fail_job || problems.unknown.is_empty()) {
        let doomed: Vec<&str> = problems
            .unknown
            .iter()
            .filter_map(|p| p.description.as_deref())
            .collect();
        return Ok((!doomed.is_empty()).then(|| doomed.join("; ")));
    } else {
        problems.all()
    };
    let message = match refused.as_slice() {
        [one] => one.description.clone().unwrap_or_default(),
        many => format!(
            "{} input problems: {}",
            many.len(),
            many.iter()
                .filter_map(|p| p.description.as_deref())
                .collect::<Vec<_>>()
                .join("; ")
        ),
    };
    Err(bad_request(message, refused))
}

/// Who is asking: the caller's key and the request's `x-sim-client` tag.
fn requester(caller: Caller, headers: &HeaderMap) -> Requester {
    Requester {
        key: caller.0,
        client: headers
            .get(CLIENT_TAG_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
    }
}

/// The status of a successful create or retry (202 unless configured 200).
fn success_status(shared: &Shared) -> StatusCode {
    StatusCode::from_u16(shared.config.api.success_status.code()).unwrap_or(StatusCode::ACCEPTED)
}

async fn create_job(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    slot: Option<Extension<LogSlot>>,
    Path(app): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiFailure> {
    let app = resolve_app(&shared, caller, &app)?;
    let request: GenerateApplicationRequest = parse_inputs(&body)?;
    let doomed = validate(&shared, app, &request.inputs, true)?;
    let requester = requester(caller, &headers);
    let (id, created_at, key) = {
        let mut store = shared.lock_store();
        // Read the clock under the lock, so creation order is time order.
        let now = shared.clock.now();
        let key = input_key(&store.app(app).id, &request.inputs);
        let job = store.create(app, request.inputs, now, requester, doomed);
        (
            store.job_id(job).to_string(),
            store.job_created_at(job),
            key,
        )
    };
    shared.stats.created(key);
    if let Some(Extension(slot)) = slot {
        shared.stats.made_job(slot, created_at);
    }
    tracing::debug!(job_id = %id, "job created");
    Ok((
        success_status(&shared),
        Json(CreateJobResponse {
            created_at,
            id: Some(id),
            job_id: None,
            status: JobStatus::InProgress.as_str().to_string(),
        }),
    )
        .into_response())
}

/// Looks a job up and checks the caller may see its application.
fn resolve_job(shared: &Shared, caller: Caller, job_id: &str) -> Result<usize, ApiFailure> {
    let store = shared.lock_store();
    let job = store
        .job_index(job_id)
        .ok_or_else(|| not_found("job", job_id))?;
    let app_id = &store.app(store.job_app(job)).id;
    if !shared.key(caller).allows(app_id) {
        return Err(forbidden(app_id));
    }
    Ok(job)
}

async fn get_job(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path(job_id): Path<String>,
) -> Result<Response, ApiFailure> {
    let job = resolve_job(&shared, caller, &job_id)?;
    let now = shared.clock.now();
    let wire = shared.lock_store().to_wire(job, now);
    Ok(Json(wire).into_response())
}

fn parse_int(
    params: &HashMap<String, String>,
    name: &str,
    min: i64,
) -> Result<Option<i64>, ApiFailure> {
    let Some(raw) = params.get(name) else {
        return Ok(None);
    };
    match raw.trim().parse::<i64>() {
        Ok(v) if v >= min => Ok(Some(v)),
        _ => {
            let message = format!("invalid {name}: {raw:?} (use an integer of at least {min})");
            Err(bad_request(
                message.clone(),
                vec![detail(Some(name), message)],
            ))
        }
    }
}

async fn list_jobs(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    slot: Option<Extension<LogSlot>>,
    Path(app): Path<String>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Response, ApiFailure> {
    let app = resolve_app(&shared, caller, &app)?;
    let Ok(Query(params)) = query else {
        return Err(bad_request("malformed query string", Vec::new()));
    };
    let list = shared.config.list;
    let offset = parse_int(&params, "offset", 0)?.unwrap_or(0);
    let mut limit = parse_int(&params, "limit", 1)?.unwrap_or(i64::from(list.default_limit));
    if limit > i64::from(list.max_limit) {
        match list.over_max {
            OverMax::Clamp => limit = i64::from(list.max_limit),
            OverMax::Reject => {
                let message = format!("limit {limit} is above the maximum of {}", list.max_limit);
                return Err(bad_request(
                    message.clone(),
                    vec![detail(Some("limit"), message)],
                ));
            }
        }
    }
    let filter = match params.get("status") {
        None => None,
        Some(s) => match JobStatus::parse(s) {
            Some(status) => Some(status),
            None => {
                let message =
                    format!("invalid status filter: {s:?} (use in_progress, failed or completed)");
                return Err(bad_request(
                    message.clone(),
                    vec![detail(Some("status"), message)],
                ));
            }
        },
    };
    let now = shared.clock.now();
    let (result, total) = shared.lock_store().list(
        app,
        now,
        filter,
        usize::try_from(offset).unwrap_or(usize::MAX),
        usize::try_from(limit).unwrap_or(usize::MAX),
        &list,
    );
    if let Some(Extension(slot)) = slot {
        let page = ListPage {
            offset: u64::try_from(offset).unwrap_or(0),
            limit: u64::try_from(limit).unwrap_or(0),
            status: filter,
        };
        shared.stats.listed(slot, page);
    }
    Ok(Json(JobList {
        pagination: Some(Pagination {
            limit: Some(i32::try_from(limit).unwrap_or(i32::MAX)),
            offset: Some(offset),
        }),
        result,
        total_count: total.map(|t| i64::try_from(t).unwrap_or(i64::MAX)),
    })
    .into_response())
}

async fn retry_job(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path(job_id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiFailure> {
    let job = resolve_job(&shared, caller, &job_id)?;
    let requester = requester(caller, &headers);
    let result = {
        let mut store = shared.lock_store();
        let now = shared.clock.now();
        store
            .retry(job, now, shared.config.retry_new_id, requester)
            .map(|j| (j, store.job_id(j).to_string(), store.job_created_at(j)))
    };
    match result {
        Ok((new, id, created_at)) => {
            shared.stats.retried(new != job);
            Ok((
                success_status(&shared),
                Json(RetryJobResponse {
                    created_at,
                    id,
                    status: JobStatus::InProgress.as_str().to_string(),
                }),
            )
                .into_response())
        }
        Err(NotFailed(status)) => {
            let message = if status == JobStatus::Failed {
                format!("job {job_id} was already retried as a new job")
            } else {
                format!(
                    "job {job_id} is {}: only a failed job can be retried",
                    status.as_str()
                )
            };
            Err(failure(
                StatusCode::CONFLICT,
                "conflict",
                message.clone(),
                vec![detail(Some("status"), message)],
            ))
        }
    }
}

async fn run_application(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path(app): Path<String>,
    body: Bytes,
) -> Result<Response, ApiFailure> {
    let app = resolve_app(&shared, caller, &app)?;
    let request: RunApplicationRequest = parse_inputs(&body)?;
    validate(&shared, app, &request.inputs, false)?;
    let (duration, fails, output) = {
        let mut store = shared.lock_store();
        let (d, fails) = store.draw_run(app);
        (d, fails, store.output(app, &request.inputs))
    };
    let timeout = shared.config.sync_timeout;
    if duration > timeout {
        shared.clock.sleep(timeout).await;
        return Err(failure(
            StatusCode::INTERNAL_SERVER_ERROR,
            "timeout",
            "the application run timed out",
            Vec::new(),
        ));
    }
    if request.stream == Some(true) && !fails {
        return Ok(event_stream(&shared, duration, output));
    }
    shared.clock.sleep(duration).await;
    if fails {
        return Err(failure(
            StatusCode::INTERNAL_SERVER_ERROR,
            "run_failed",
            "simulated failure: the application run failed",
            Vec::new(),
        ));
    }
    Ok(Json(output).into_response())
}

/// How many pieces a streamed run's output comes in (fewer when it has
/// fewer words).
pub const STREAM_CHUNKS: usize = 5;

/// A streamed run's answer: `text/event-stream` that opens at once with a
/// comment and the title (`{"delta": {"title"}}`), then sends the output in
/// [`STREAM_CHUNKS`] pieces (`{"delta": {"content"}}`, split between words)
/// spread evenly over the run's `duration` of simulated time, and ends by
/// closing the body. The pieces joined are exactly the JSON answer's
/// `suggestion`. With `[api] stream_error_after = N`, only the first `N`
/// pieces come, then (at the next piece's moment) `event: error` with an
/// error body as data, and the body closes.
fn event_stream(
    shared: &Shared,
    duration: std::time::Duration,
    output: writer_api::types::GenerateApplicationResponse,
) -> Response {
    let pieces = split_words(&output.suggestion, STREAM_CHUNKS);
    let step = duration / pieces.len().max(1) as u32;
    let event = |value: serde_json::Value| Bytes::from(format!("data: {value}\n\n"));
    let fail_after = shared.config.api.stream_error_after.map(|n| n as usize);
    let error_event = fail_after.map(|_| {
        let body = error_body(
            shared.config.api.error_shape,
            "run_failed",
            "simulated failure: the application run failed mid-stream",
            Vec::new(),
        );
        Bytes::from(format!("event: error\ndata: {body}\n\n"))
    });
    let pieces: Vec<Bytes> = pieces
        .into_iter()
        .map(|piece| event(serde_json::json!({"delta": {"content": piece}})))
        .take(fail_after.unwrap_or(usize::MAX))
        .chain(error_event)
        .collect();
    let mut opening = b": writer-sim streams this run\n".to_vec();
    if let Some(title) = &output.title {
        opening.extend_from_slice(&event(serde_json::json!({"delta": {"title": title}})));
    }
    let clock = shared.clock.clone();
    let start = clock.now();
    let later = futures::stream::iter(pieces.into_iter().zip(1u32..)).then(move |(piece, k)| {
        let clock = clock.clone();
        // Each piece at its own moment from the start, however late the
        // previous one was read.
        let at = start + TimeDelta::from_std(step * k).unwrap_or(TimeDelta::MAX);
        async move {
            clock.sleep_until(at).await;
            Ok::<_, std::convert::Infallible>(piece)
        }
    });
    let body = futures::stream::once(async move { Ok(Bytes::from(opening)) }).chain(later);
    (
        [
            (axum::http::header::CONTENT_TYPE, "text/event-stream"),
            (axum::http::header::CACHE_CONTROL, "no-cache"),
        ],
        axum::body::Body::from_stream(body),
    )
        .into_response()
}

/// `text` in `n` pieces (fewer when it has fewer words) of about as many
/// words each, cut after the
/// spaces, so that the pieces joined are `text` again.
fn split_words(text: &str, n: usize) -> Vec<String> {
    let words: Vec<&str> = text.split_inclusive(' ').collect();
    let n = n.clamp(1, words.len().max(1));
    (0..n)
        .map(|i| words[i * words.len() / n..(i + 1) * words.len() / n].concat())
        .collect()
}

/// A fixed date for applications' own timestamps, so answers are stable.
fn app_date(days: i64) -> DateTime<Utc> {
    DateTime::<Utc>::UNIX_EPOCH + TimeDelta::days(19_875 + days)
}

async fn get_application(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path(app): Path<String>,
) -> Result<Response, ApiFailure> {
    let app = resolve_app(&shared, caller, &app)?;
    let config = shared.lock_store().app(app).clone();
    Ok(Json(Application {
        created_at: app_date(0),
        id: config.id.clone(),
        inputs: config.inputs.iter().map(|i| i.to_wire()).collect(),
        last_deployed_at: Some(app_date(2)),
        name: config.name.clone(),
        status: "deployed".into(),
        type_: "generation".into(),
        updated_at: app_date(2),
    })
    .into_response())
}

async fn sim_stats(State(shared): State<Arc<Shared>>) -> Response {
    Json(shared.stats()).into_response()
}

/// The clock as `GET /_sim/clock` shows it: enough for a client in another
/// process to build an identical clock.
#[derive(Debug, Serialize)]
struct ClockView {
    now: DateTime<Utc>,
    scale: f64,
    manual: bool,
    anchor: DateTime<Utc>,
    anchor_unix_ms: i64,
}

async fn sim_clock(State(shared): State<Arc<Shared>>) -> Response {
    let anchor = DateTime::<Utc>::from(shared.clock.anchor());
    Json(ClockView {
        now: shared.clock.now(),
        scale: shared.clock.scale(),
        manual: shared.clock.is_manual(),
        anchor,
        anchor_unix_ms: anchor.timestamp_millis(),
    })
    .into_response()
}

async fn sim_job(State(shared): State<Arc<Shared>>, Path(job_id): Path<String>) -> Response {
    match shared.job(&job_id) {
        Some(state) => Json(state).into_response(),
        None => not_found("job", &job_id).into_response(),
    }
}

/// `POST /_sim/faults` with a compact fault string as the body: replaces
/// the faults (for a simulator running in another process).
async fn sim_set_faults(State(shared): State<Arc<Shared>>, body: String) -> Response {
    let parsed = body.trim().parse::<crate::faults::FaultConfig>();
    match parsed {
        Ok(faults) => {
            shared.lock_faults().set_config(faults);
            Json(serde_json::json!({"faults": body.trim()})).into_response()
        }
        Err(e) => bad_request(e.to_string(), Vec::new()).into_response(),
    }
}

/// `POST /_sim/outage` with `none`, `unavailable` or `reset` as the body.
async fn sim_set_outage(State(shared): State<Arc<Shared>>, body: String) -> Response {
    let outage = match body.trim() {
        "none" => crate::faults::Outage::None,
        "unavailable" | "503" => crate::faults::Outage::Unavailable,
        "reset" => crate::faults::Outage::Reset,
        other => {
            return bad_request(
                format!("unknown outage {other:?}: use none, unavailable or reset"),
                Vec::new(),
            )
            .into_response();
        }
    };
    shared.lock_faults().outage = outage;
    Json(serde_json::json!({"outage": body.trim()})).into_response()
}

/// `POST /_sim/refuse`: `on` refuses connections until `off`; a number of
/// seconds (or a duration like `500ms`) refuses them for that long of
/// simulated time. Answers once the listening socket is in the new state
/// (this connection stays open meanwhile).
async fn sim_set_refusing(State(shared): State<Arc<Shared>>, body: String) -> Response {
    let text = body.trim();
    let refuse = match text {
        "on" | "true" => crate::listener::Refuse::On,
        "off" | "false" | "none" => crate::listener::Refuse::Off,
        other => match crate::config::parse_duration(other) {
            Some(d) => crate::listener::Refuse::For(d),
            None => {
                return bad_request(
                    format!("unknown refuse setting {other:?}: use on, off or a duration like 10s"),
                    Vec::new(),
                )
                .render(shared.config.api.error_shape);
            }
        },
    };
    shared.listener.set(refuse, &shared.clock);
    Json(serde_json::json!({"refuse": text})).into_response()
}

async fn method_not_allowed() -> ApiFailure {
    failure(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not take that method",
        Vec::new(),
    )
}

/// Every error answer is a JSON `Error` in the configured shape, as the
/// spec says: the handlers' own failures and also those axum's extractors
/// produce on their own (a path parameter that is not UTF-8, a body over
/// the size limit). A status the spec does not declare (413 for a
/// too-large body, 415, 422) is answered 400, a bad request.
async fn json_errors(State(shared): State<Arc<Shared>>, mut response: Response) -> Response {
    let shape = shared.config.api.error_shape;
    if let Some(failure) = response.extensions_mut().remove::<ApiFailure>() {
        return failure.render(shape);
    }
    let status = response.status();
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !status.is_client_error() || is_json {
        return response;
    }
    const DECLARED: [u16; 6] = [400, 401, 403, 404, 409, 429];
    let (status, message) = if status == StatusCode::PAYLOAD_TOO_LARGE {
        (
            StatusCode::BAD_REQUEST,
            "the request body is too large".to_string(),
        )
    } else {
        let status = if DECLARED.contains(&status.as_u16()) {
            status
        } else {
            StatusCode::BAD_REQUEST
        };
        let body = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&body).trim().to_string();
        let message = if text.is_empty() {
            status
                .canonical_reason()
                .unwrap_or("bad request")
                .to_string()
        } else {
            text
        };
        (status, message)
    };
    error_response(shape, status, "bad_request", message, Vec::new())
}

async fn fallback() -> ApiFailure {
    failure(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such endpoint",
        Vec::new(),
    )
}

#[cfg(test)]
mod stream_tests {
    use super::split_words;

    #[test]
    fn split_words_joins_back_to_the_text() {
        for text in ["", "one", "a b", "a b c d e f g h i j k", "  spaced  out  "] {
            for n in 1..8 {
                let pieces = split_words(text, n);
                assert_eq!(pieces.concat(), text);
                let words = text.split_inclusive(' ').count();
                assert_eq!(
                    pieces.len(),
                    n.min(words).max(1),
                    "{text:?} {n}: {pieces:?}"
                );
            }
        }
        assert_eq!(split_words("a b c d e f", 3), ["a b ", "c d ", "e f"]);
        assert_eq!(split_words("a b c d", 3), ["a ", "b ", "c d"]);
    }
}

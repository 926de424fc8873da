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
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use writer_api::types::{
    Application, CreateJobResponse, Error as ApiError, ErrorDetail, GenerateApplicationRequest,
    JobList, Pagination, RetryJobResponse,
};

use crate::config::OverMax;
use crate::output::input_key;
use crate::sim::Shared;
use crate::store::{JobStatus, NotFailed};

/// The key the request authenticated with (an index into the config's keys),
/// put in the request's extensions by the server.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Caller(pub(crate) usize);

/// A refused request: becomes an error answer with a JSON [`ApiError`] body.
#[derive(Debug)]
pub(crate) struct ApiFailure {
    status: StatusCode,
    code: &'static str,
    message: String,
    errors: Vec<ErrorDetail>,
}

impl IntoResponse for ApiFailure {
    fn into_response(self) -> Response {
        error_response(self.status, self.code, self.message, self.errors)
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

/// An error answer with a JSON [`ApiError`] body.
pub(crate) fn error_response(
    status: StatusCode,
    code: &str,
    message: impl Into<String>,
    errors: Vec<ErrorDetail>,
) -> Response {
    let body = ApiError {
        code: Some(code.to_string()),
        errors: (!errors.is_empty()).then_some(errors),
        message: Some(message.into()),
    };
    (status, Json(body)).into_response()
}

fn not_found(what: &str, id: &str) -> ApiFailure {
    failure(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("{what} not found: {id}"),
        vec![ErrorDetail {
            key: Some(what.to_string()),
            description: Some(format!("no {what} with id {id}")),
        }],
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
        .fallback(fallback)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::map_response(json_errors))
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

fn parse_inputs(body: &[u8]) -> Result<GenerateApplicationRequest, ApiFailure> {
    serde_json::from_slice(body).map_err(|e| {
        bad_request(
            format!("malformed JSON body: {e}"),
            vec![ErrorDetail {
                key: Some("body".into()),
                description: Some(
                    "expected {\"inputs\": [{\"id\": \"<input name>\", \"value\": [\"...\"]}]}"
                        .into(),
                ),
            }],
        )
    })
}

fn validate(
    shared: &Shared,
    app: usize,
    request: &GenerateApplicationRequest,
) -> Result<(), ApiFailure> {
    let store = shared.lock_store();
    let problems = crate::validate::validate_inputs(store.app(app), &request.inputs);
    if problems.is_empty() {
        return Ok(());
    }
    let message = match problems.as_slice() {
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
    Err(bad_request(message, problems))
}

async fn create_job(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path(app): Path<String>,
    body: Bytes,
) -> Result<Response, ApiFailure> {
    let app = resolve_app(&shared, caller, &app)?;
    let request = parse_inputs(&body)?;
    validate(&shared, app, &request)?;
    let now = shared.clock.now();
    let (id, created_at, key) = {
        let mut store = shared.lock_store();
        let key = input_key(&store.app(app).id, &request.inputs);
        let job = store.create(app, request.inputs, now);
        (
            store.job_id(job).to_string(),
            store.job_created_at(job),
            key,
        )
    };
    shared.stats.created(key);
    tracing::debug!(job_id = %id, "job created");
    Ok(Json(CreateJobResponse {
        created_at,
        id: Some(id),
        job_id: None,
        status: JobStatus::InProgress.as_str().to_string(),
    })
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
        _ => Err(bad_request(
            format!("invalid {name}: {raw:?} (use an integer of at least {min})"),
            vec![ErrorDetail {
                key: Some(name.to_string()),
                description: Some(format!("must be an integer of at least {min}")),
            }],
        )),
    }
}

async fn list_jobs(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
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
                return Err(bad_request(
                    format!("limit {limit} is above the maximum of {}", list.max_limit),
                    vec![ErrorDetail {
                        key: Some("limit".into()),
                        description: Some(format!("must be at most {}", list.max_limit)),
                    }],
                ));
            }
        }
    }
    let filter = match params.get("status") {
        None => None,
        Some(s) => match JobStatus::parse(s) {
            Some(status) => Some(status),
            None => {
                return Err(bad_request(
                    format!("invalid status filter: {s:?} (use in_progress, failed or completed)"),
                    vec![ErrorDetail {
                        key: Some("status".into()),
                        description: Some("must be in_progress, failed or completed".into()),
                    }],
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
    Ok(Json(JobList {
        pagination: Some(Pagination {
            limit: Some(limit),
            offset: Some(offset),
        }),
        result,
        total_count: Some(i64::try_from(total).unwrap_or(i64::MAX)),
    })
    .into_response())
}

async fn retry_job(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path(job_id): Path<String>,
) -> Result<Response, ApiFailure> {
    let job = resolve_job(&shared, caller, &job_id)?;
    let now = shared.clock.now();
    let result = {
        let mut store = shared.lock_store();
        store
            .retry(job, now, shared.config.retry_new_id)
            .map(|j| (store.job_id(j).to_string(), store.job_created_at(j)))
    };
    match result {
        Ok((id, created_at)) => {
            shared.stats.retried();
            Ok(Json(RetryJobResponse {
                created_at,
                id,
                status: JobStatus::InProgress.as_str().to_string(),
            })
            .into_response())
        }
        Err(NotFailed(status)) => Err(failure(
            StatusCode::CONFLICT,
            "conflict",
            if status == JobStatus::Failed {
                format!("job {job_id} was already retried as a new job")
            } else {
                format!(
                    "job {job_id} is {}: only a failed job can be retried",
                    status.as_str()
                )
            },
            vec![ErrorDetail {
                key: Some("status".into()),
                description: Some(status.as_str().to_string()),
            }],
        )),
    }
}

async fn run_application(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path(app): Path<String>,
    body: Bytes,
) -> Result<Response, ApiFailure> {
    let app = resolve_app(&shared, caller, &app)?;
    let request = parse_inputs(&body)?;
    validate(&shared, app, &request)?;
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

async fn method_not_allowed() -> Response {
    error_response(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not take that method",
        Vec::new(),
    )
}

/// Every error answer is a JSON `Error`, as the spec says, including those
/// axum's extractors produce on their own (a path parameter that is not
/// UTF-8, a body over the size limit). A status the spec does not declare
/// (413 for a too-large body, 415, 422) is answered 400, a bad request.
async fn json_errors(response: Response) -> Response {
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
    error_response(status, "bad_request", message, Vec::new())
}

async fn fallback() -> Response {
    error_response(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such endpoint",
        Vec::new(),
    )
}

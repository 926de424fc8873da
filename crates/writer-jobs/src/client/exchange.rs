//! One request, as the generated client sends it (its routes, query and
//! headers; the key and user agent go on in its `pre` hook), inside a raw
//! capture of the answer's status, headers and body, so that the answer can
//! be classified by what really arrived. The generated client's decoded
//! value of a successful answer is kept ([`Typed`]) so it is not decoded
//! twice.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use writer_api::raw::{self, RawResponse};
use writer_api::types as wire;

use super::Client;
use crate::model::{Inputs, ListQuery, convert};

impl Client {
    pub(super) async fn exchange(&self, call: &Call<'_>) -> Exchange {
        let secret = self.inner.key.clone();
        let api = &self.inner.api;
        match *call {
            // The caller decodes the answer itself (see `client/created.rs`).
            Call::Create { app, inputs } => {
                raw_only_exchange(
                    secret,
                    api.create_job()
                        .application_id(app)
                        .body(inputs.to_wire())
                        .send(),
                )
                .await
            }
            Call::Get { job } => {
                generated(secret, Typed::Job, api.get_job().job_id(job).send()).await
            }
            Call::List {
                app,
                query,
                raw_only,
            } => {
                let mut b = api.list_jobs().application_id(app).offset(query.offset);
                if let Some(limit) = query.limit {
                    // The API types `limit` as int32: a larger page
                    // size asks for the largest it can express.
                    b = b.limit(limit.min(i32::MAX as u64) as u32);
                }
                if let Some(status) = query.status {
                    b = b.status(convert::status_filter(status));
                }
                if raw_only {
                    raw_only_exchange(secret, b.send()).await
                } else {
                    generated(secret, Typed::List, b.send()).await
                }
            }
            Call::Retry { job } => {
                generated(secret, Typed::Retried, api.retry_job().job_id(job).send()).await
            }
            Call::Application { app } => {
                generated(
                    secret,
                    Typed::Application,
                    api.get_application().application_id(app).send(),
                )
                .await
            }
            Call::Run { app, body } => {
                generated(
                    secret,
                    Typed::Output,
                    api.run_application()
                        .application_id(app)
                        .body(body.clone())
                        .send(),
                )
                .await
            }
        }
    }
}

/// A successful answer the generated client already decoded, by operation.
pub(super) enum Typed {
    Job(wire::Job),
    List(wire::JobList),
    Retried(wire::RetryJobResponse),
    Application(wire::Application),
    Output(wire::GenerateApplicationResponse),
}

/// A wire type that a [`Typed`] answer may hold.
pub(super) trait FromTyped: serde::de::DeserializeOwned {
    fn from_typed(typed: Typed) -> Option<Self>;
}

macro_rules! from_typed {
    ($($variant:ident => $ty:ty),* $(,)?) => {$(
        impl FromTyped for $ty {
            fn from_typed(typed: Typed) -> Option<Self> {
                match typed {
                    Typed::$variant(value) => Some(value),
                    _ => None,
                }
            }
        }
    )*};
}

from_typed! {
    Job => wire::Job,
    List => wire::JobList,
    Retried => wire::RetryJobResponse,
    Application => wire::Application,
    Output => wire::GenerateApplicationResponse,
}

/// The wire value of a successful answer: the generated client's decoded
/// value when there is one, else decoded from the raw bytes (a 2xx the
/// spec does not list, or the streamed run's whole answer).
pub(super) fn wire_value<W: FromTyped>(
    bytes: &[u8],
    typed: Option<Typed>,
) -> std::result::Result<W, Undecodable> {
    match typed.and_then(W::from_typed) {
        Some(value) => Ok(value),
        None => serde_json::from_slice(bytes).map_err(Undecodable::Json),
    }
}

/// Why a successful answer did not decode.
pub(crate) enum Undecodable {
    /// Not the JSON expected.
    Json(serde_json::Error),
    /// JSON of the right shape that still cannot be used (e.g. no job id).
    Shape(String),
}

impl Undecodable {
    pub(crate) fn shape(message: &str) -> Self {
        Self::Shape(message.to_string())
    }
}

/// The request a call makes.
pub(super) enum Call<'a> {
    Create {
        app: &'a str,
        /// Made into the wire body for each attempt (the generated
        /// builder takes it by value).
        inputs: &'a Inputs,
    },
    Get {
        job: &'a str,
    },
    List {
        app: &'a str,
        query: &'a ListQuery,
        /// The caller decodes the raw body itself (see `client/brief.rs`).
        raw_only: bool,
    },
    Retry {
        job: &'a str,
    },
    Application {
        app: &'a str,
    },
    Run {
        app: &'a str,
        body: &'a wire::RunApplicationRequest,
    },
}

/// The body of a synchronous run: the inputs, and `stream` only when asked.
pub(super) fn run_body(inputs: &Inputs, stream: Option<bool>) -> wire::RunApplicationRequest {
    wire::RunApplicationRequest {
        inputs: inputs.to_wire().inputs,
        stream,
    }
}

/// What one attempt came back with.
pub(super) enum Exchange {
    /// A response; `complete` is false when its body broke off.
    Response {
        raw: RawResponse,
        complete: bool,
        /// The generated client's decoded value of a successful answer.
        typed: Option<Box<Typed>>,
    },
    /// No response, with the HTTP client's error when there is one.
    NoResponse(Option<reqwest::Error>),
    /// The clock's timeout won the race.
    TimedOut(Duration),
    /// The request could not be built.
    Invalid(String),
}

/// Runs a generated `send()` inside a raw capture. The generated code has
/// already decoded a successful answer: `typed` keeps that value (see
/// [`Typed`]) so it is not decoded a second time from the raw bytes.
///
/// A plain function returning the future, not an `async fn`: that would
/// hold `send` a second time beside the capture that holds it (see
/// [`raw::capture`]).
fn generated<T, E>(
    secret: Arc<str>,
    typed: fn(T) -> Typed,
    send: impl Future<Output = std::result::Result<writer_api::ResponseValue<T>, writer_api::Error<E>>>,
) -> impl Future<Output = Exchange> {
    raw::capture_redacting(secret, send).map(move |captured| match captured {
        (Err(writer_api::Error::InvalidRequest(message)), _) => Exchange::Invalid(message),
        (Err(writer_api::Error::CommunicationError(_)), Some(raw)) => Exchange::Response {
            raw,
            complete: false,
            typed: None,
        },
        (Ok(value), Some(raw)) => Exchange::Response {
            raw,
            complete: true,
            typed: Some(Box::new(typed(value.into_inner()))),
        },
        (_, Some(raw)) => Exchange::Response {
            raw,
            complete: true,
            typed: None,
        },
        (Err(writer_api::Error::CommunicationError(e)), None) => Exchange::NoResponse(Some(e)),
        (_, None) => Exchange::NoResponse(None),
    })
}

/// Runs a generated `send()` inside a raw capture that hands the generated
/// code an empty body ([`raw::capture_raw_only`]): the caller decodes the
/// raw bytes itself, so whatever the generated code made of the answer is
/// dropped, and a complete response is classified by its raw status,
/// headers and body alone.
fn raw_only_exchange<T, E>(
    secret: Arc<str>,
    send: impl Future<Output = std::result::Result<writer_api::ResponseValue<T>, writer_api::Error<E>>>,
) -> impl Future<Output = Exchange> {
    raw::capture_raw_only(secret, send).map(|captured| match captured {
        (Err(writer_api::Error::InvalidRequest(message)), _) => Exchange::Invalid(message),
        (Err(writer_api::Error::CommunicationError(_)), Some(raw)) => Exchange::Response {
            raw,
            complete: false,
            typed: None,
        },
        (_, Some(raw)) => Exchange::Response {
            raw,
            complete: true,
            typed: None,
        },
        (Err(writer_api::Error::CommunicationError(e)), None) => Exchange::NoResponse(Some(e)),
        (_, None) => Exchange::NoResponse(None),
    })
}

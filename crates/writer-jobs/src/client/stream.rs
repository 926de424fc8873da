//! The streamed synchronous run: `POST /v1/applications/{id}` with
//! `"stream": true`, answered with `text/event-stream`.
//!
//! This is the one request the generated `writer-api` client builds but
//! does not send. progenitor picks the `application/json` content of
//! a response (and asks for it with `Accept`), and the exec hook that
//! records raw responses reads every body whole before the generated code
//! sees it: a stream read that way would arrive all at once when the run
//! ends. So the generated client builds the request (its route, body, API
//! version, and the key and user agent its `pre` hook puts on), without
//! sending it ([`raw::prepare`]), and it is sent here
//! ([`Client::stream_request`]) on the generated client's own
//! `reqwest::Client` (the caller's, when one was given), asking for an
//! event stream, through the same retry loop, throttle and timeouts, and
//! the same error mapping ([`Client::classify`]) as every other call, in a
//! tracing span like the hook's.

use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::Stream;
use futures::stream::BoxStream;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderValue};
use tracing::Instrument;
use writer_api::ClientInfo;
use writer_api::raw;
use writer_api::types as wire;

use super::{
    Client, Exchange, Failure, Undecodable, chain_text, error_message, nonempty, run_body,
    server_date,
};
use crate::error::{Error, Result};
use crate::model::Inputs;
use crate::sse;
use crate::throttle::{Observation, Operation};

/// The text of a streamed run, chunk by chunk as the server sends it: see
/// [`App::run_stream`](crate::App::run_stream).
///
/// Each item is the next piece of the output (join them for the whole
/// text). An error ends the stream: the request failed (the same
/// [`Error`]s as [`Client::run_application`], after the same retries), the
/// connection broke or the run timeout passed mid-stream, or the server
/// reported an error mid-stream: an `event: error`, or event data that is
/// an error body rather than a piece of output, which comes out as
/// [`Error::Http`] with the stream's status, the server's message and its
/// body field by field ([`Error::body`]).
#[must_use = "a stream does nothing unless polled"]
pub struct RunStream {
    inner: BoxStream<'static, Result<String>>,
}

impl fmt::Debug for RunStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunStream").finish_non_exhaustive()
    }
}

impl RunStream {
    /// The next piece of text, or `None` when the output is complete (no
    /// `pin!` or `futures` import needed: the stream is `Unpin`).
    pub async fn next(&mut self) -> Option<Result<String>> {
        futures::StreamExt::next(&mut self.inner).await
    }
}

impl Stream for RunStream {
    type Item = Result<String>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

/// What a successful attempt opened.
enum Opened {
    /// An event stream, still being read.
    Events(Box<Reading>),
    /// A server that answered the whole output as JSON despite `stream`.
    Whole(String),
}

/// A stream being read.
struct Reading {
    response: reqwest::Response,
    parser: sse::Parser,
    /// The span of the request, entered while the body is read.
    span: tracing::Span,
    /// The server's request id (scrubbed), for errors mid-stream.
    request_id: Option<String>,
    /// When the request was sent, on the client's clock.
    started: Duration,
    /// When the run timeout passes, on the client's clock.
    deadline: Duration,
    /// Texts parsed but not handed out yet.
    ready: VecDeque<String>,
    /// The body ended (or brought `[DONE]` or an error): only `ready` is
    /// left, then `failed` if the server reported an error.
    finished: bool,
    /// The error the server reported mid-stream, yielded after `ready`.
    failed: Option<Error>,
    chunks: u64,
}

/// Where the stream is.
enum Step {
    Open(Client, String, wire::RunApplicationRequest),
    Read(Client, Box<Reading>),
    Done,
}

impl Client {
    /// Runs `app_id` synchronously with `stream: true` and yields its output
    /// text as it arrives (see [`App::run_stream`](crate::App::run_stream)).
    pub fn run_application_stream(&self, app_id: &str, inputs: &Inputs) -> RunStream {
        let start = match nonempty("application id", app_id) {
            Ok(()) => Step::Open(
                self.clone(),
                app_id.to_string(),
                run_body(inputs, Some(true)),
            ),
            Err(error) => {
                return RunStream {
                    inner: Box::pin(futures::stream::once(async { Err(error) })),
                };
            }
        };
        let inner = futures::stream::unfold(start, |step| async move {
            match step {
                Step::Open(client, app, body) => match client.open_stream(&app, &body).await {
                    Ok(Opened::Events(reading)) => client.next_chunk(reading).await,
                    Ok(Opened::Whole(text)) => Some((Ok(text), Step::Done)),
                    Err(error) => Some((Err(error), Step::Done)),
                },
                Step::Read(client, reading) => client.next_chunk(reading).await,
                Step::Done => None,
            }
        });
        RunStream {
            inner: Box::pin(inner),
        }
    }

    /// Sends the streamed run through the retry loop until an answer opens
    /// (or the failure is final).
    async fn open_stream(&self, app: &str, body: &wire::RunApplicationRequest) -> Result<Opened> {
        let op = Operation::Run;
        self.attempts(op, move || async move {
            let request = match self.stream_request(app, body).await {
                Ok(request) => request,
                Err(message) => {
                    return self.classify(op, Exchange::Invalid(message), &never_decoded);
                }
            };
            let span = tracing::debug_span!(
                "writer_api.request",
                operation = op.as_str(),
                stream = true,
                method = %request.method(),
                path = request.url().path(),
                status = tracing::field::Empty,
                request_id = tracing::field::Empty,
                duration_ms = tracing::field::Empty,
            );
            self.open_attempt(request, span.clone())
                .instrument(span)
                .await
        })
        .await
    }

    /// The generated client's `run_application` request (its route, body,
    /// API version and credentials; built, not sent: see
    /// [`raw::prepare`]), asking for an event stream instead of JSON.
    async fn stream_request(
        &self,
        app: &str,
        body: &wire::RunApplicationRequest,
    ) -> std::result::Result<reqwest::Request, String> {
        let send = self
            .inner
            .api
            .run_application()
            .application_id(app)
            .body(body.clone())
            .send();
        match raw::prepare(send).await {
            (_, Some(mut request)) => {
                request
                    .headers_mut()
                    .insert(ACCEPT, HeaderValue::from_static("text/event-stream"));
                Ok(request)
            }
            (Err(writer_api::Error::InvalidRequest(message)), None) => Err(message),
            (_, None) => Err("the request could not be built".to_string()),
        }
    }

    /// One attempt: send, and sort the answer into an open stream, a whole
    /// JSON output, or a failure classified like any other call's.
    async fn open_attempt(
        &self,
        request: reqwest::Request,
        span: tracing::Span,
    ) -> (std::result::Result<Opened, Failure>, Observation) {
        let op = Operation::Run;
        let started = self.inner.clock.now();
        let timeout = self.inner.run_timeout;
        let http = self.inner.api.client();
        let sleep = self.inner.clock.sleep(timeout);
        let sent = tokio::select! {
            biased;
            sent = http.execute(request) => sent,
            () = sleep => {
                tracing::debug!("no answer within the run timeout");
                return self.classify(op, Exchange::TimedOut(timeout), &never_decoded);
            }
        };
        let response = match sent {
            Ok(response) => response,
            Err(e) => {
                tracing::debug!(error = %self.scrub(chain_text(&e)), "request failed");
                return self.classify(op, Exchange::NoResponse(Some(e)), &never_decoded);
            }
        };
        let status = response.status();
        span.record("status", status.as_u16());
        let request_id = ["x-request-id", "request-id"]
            .iter()
            .find_map(|name| response.headers().get(*name)?.to_str().ok())
            .map(|id| self.request_id(id));
        if let Some(id) = &request_id {
            span.record("request_id", id.as_str());
        }
        let event_stream = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("text/event-stream"));
        if status.is_success() && event_stream {
            tracing::debug!("event stream opened");
            let observation = Observation {
                status: Some(status.as_u16()),
                server_date: server_date(response.headers()),
                ..Observation::default()
            };
            let reading = Reading {
                response,
                parser: sse::Parser::new(raw::DEFAULT_BODY_LIMIT),
                span,
                request_id,
                started,
                deadline: started + timeout,
                ready: VecDeque::new(),
                finished: false,
                failed: None,
                chunks: 0,
            };
            return (Ok(Opened::Events(Box::new(reading))), observation);
        }
        // An error, or an output answered whole: read it like any other
        // answer (bounded) and let the shared classification speak.
        let (raw, read) = raw::read_limited(response, raw::DEFAULT_BODY_LIMIT).await;
        span.record(
            "duration_ms",
            self.inner.clock.now().saturating_sub(started).as_millis() as u64,
        );
        tracing::debug!("response received");
        let exchange = Exchange::Response {
            raw,
            complete: read.is_ok(),
            typed: None,
        };
        self.classify(op, exchange, &|bytes, typed| {
            super::wire_value::<wire::GenerateApplicationResponse>(bytes, typed)
                .map(|output| Opened::Whole(output.suggestion))
        })
    }

    /// The next piece of text: from those already parsed, else read until
    /// an event brings some, the stream ends, or the run timeout passes.
    async fn next_chunk(self, mut reading: Box<Reading>) -> Option<(Result<String>, Step)> {
        let span = reading.span.clone();
        async move {
            loop {
                if let Some(text) = reading.ready.pop_front() {
                    reading.chunks += 1;
                    return Some((Ok(text), Step::Read(self, reading)));
                }
                if reading.finished {
                    if let Some(error) = reading.failed.take() {
                        self.ended(&reading, "the server reported an error mid-stream");
                        return Some((Err(error), Step::Done));
                    }
                    self.ended(&reading, "stream ended");
                    return None;
                }
                let remaining = reading.deadline.saturating_sub(self.inner.clock.now());
                let sleep = self.inner.clock.sleep(remaining);
                let read = tokio::select! {
                    biased;
                    read = reading.response.chunk() => read,
                    () = sleep => {
                        self.ended(&reading, "the run timeout passed mid-stream");
                        let error = Error::Timeout {
                            operation: Operation::Run.as_str(),
                            after: self.inner.run_timeout,
                        };
                        return Some((Err(error), Step::Done));
                    }
                };
                let bytes = match read {
                    Ok(Some(bytes)) => bytes,
                    Ok(None) => {
                        reading.finished = true;
                        continue;
                    }
                    Err(e) => {
                        tracing::debug!(error = %self.scrub(chain_text(&e)), "reading the stream failed");
                        self.ended(&reading, "stream broke");
                        let error = self.transport_error("the stream broke off", false, Some(e));
                        return Some((Err(error), Step::Done));
                    }
                };
                let mut events = Vec::new();
                if let Err(message) = reading.parser.feed(&bytes, &mut events) {
                    self.ended(&reading, "stream refused");
                    let error = self.decode_error(
                        Undecodable::Shape(message),
                        &bytes,
                        reading.response.status().as_u16(),
                        reading.request_id.clone(),
                    );
                    return Some((Err(error), Step::Done));
                }
                for event in events {
                    let chunk = if event.event == "error" {
                        Chunk::Error
                    } else {
                        chunk_text(&event.data)
                    };
                    match chunk {
                        Chunk::Text(text) => reading.ready.push_back(text),
                        Chunk::Skip => {}
                        Chunk::Done => {
                            // What came before the sentinel still goes out;
                            // anything after it is ignored.
                            reading.finished = true;
                            break;
                        }
                        Chunk::Error => {
                            // Likewise before the error, which ends it.
                            reading.failed = Some(self.stream_error(&reading, &event.data));
                            reading.finished = true;
                            break;
                        }
                    }
                }
            }
        }
        .instrument(span)
        .await
    }

    /// The error the server reported mid-stream with `data`: an error body
    /// in any shape [`Client::classify`] reads (Writer's, `{message,
    /// code}`), that body wrapped as `{"error": ...}`, `{"error": "text"}`,
    /// or plain text.
    fn stream_error(&self, reading: &Reading, data: &str) -> Error {
        let status = reading.response.status();
        let wrapped = match serde_json::from_str::<serde_json::Value>(data) {
            Ok(serde_json::Value::Object(mut map)) => map.remove("error").filter(|e| !e.is_null()),
            _ => None,
        };
        let (message, body) = match wrapped {
            Some(serde_json::Value::String(text)) => (self.scrub(text), Default::default()),
            _ if data.trim().is_empty() => ("no explanation given".into(), Default::default()),
            wrapped => {
                let bytes = match wrapped {
                    Some(inner) => inner.to_string().into_bytes(),
                    None => data.as_bytes().to_vec(),
                };
                let raw = raw::RawResponse {
                    status,
                    headers: reqwest::header::HeaderMap::new(),
                    body: bytes.into(),
                    truncated: false,
                };
                error_message(&raw, |text| self.scrub(text), |b| self.scrubbed_snippet(b))
            }
        };
        tracing::debug!(error = %message, "the server reported an error mid-stream");
        Error::Http {
            status: status.as_u16(),
            message: format!("the run failed mid-stream: {message}"),
            request_id: reading.request_id.clone(),
            body: Box::new(body),
        }
    }

    /// Records the end of a stream in its span (entered by the caller).
    fn ended(&self, reading: &Reading, what: &'static str) {
        let elapsed = self.inner.clock.now().saturating_sub(reading.started);
        reading
            .span
            .record("duration_ms", elapsed.as_millis() as u64);
        tracing::debug!(chunks = reading.chunks, "{what}");
    }
}

/// The decode function of an answer that cannot be a success.
fn never_decoded(_: &[u8], _: Option<super::Typed>) -> std::result::Result<Opened, Undecodable> {
    Err(Undecodable::shape("the answer was not an event stream"))
}

/// What one event's data means.
#[derive(Debug, PartialEq, Eq)]
enum Chunk {
    /// A piece of the output text.
    Text(String),
    /// Nothing to show (a title or the stages of a research application).
    Skip,
    /// The `[DONE]` sentinel: the stream is over.
    Done,
    /// An error the server reported: the stream is over, and failed.
    Error,
}

/// The text in one event's data. Writer's SDKs read each event as JSON
/// `{"delta": {"content"?, "title"?, "stages"?}}`: the text is
/// `delta.content`. A whole output (`{"suggestion"}`) gives its
/// suggestion; data that is not JSON is taken as text as it is. An object
/// with no output in it but an error (`error`, or the `tpe`/`errors` of an
/// error body) is the server reporting a failure.
fn chunk_text(data: &str) -> Chunk {
    if data.trim() == "[DONE]" {
        return Chunk::Done;
    }
    let Ok(value) = serde_json::from_str::<serde_json::Value>(data) else {
        return Chunk::Text(data.to_string());
    };
    let text = match &value {
        serde_json::Value::Object(map) if is_error_body(map) => return Chunk::Error,
        serde_json::Value::String(text) => Some(text.as_str()),
        serde_json::Value::Object(_) => value
            .pointer("/delta/content")
            .or_else(|| value.get("suggestion"))
            .and_then(serde_json::Value::as_str),
        _ => None,
    };
    match text {
        Some(text) if !text.is_empty() => Chunk::Text(text.to_string()),
        _ => Chunk::Skip,
    }
}

/// Whether event data is an error body rather than output.
fn is_error_body(map: &serde_json::Map<String, serde_json::Value>) -> bool {
    let output = map.contains_key("delta") || map.contains_key("suggestion");
    let error = map.get("error").is_some_and(|e| !e.is_null())
        || map.get("errors").is_some_and(serde_json::Value::is_array)
        || map.get("tpe").is_some_and(serde_json::Value::is_string);
    !output && error
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_data_to_text() {
        let text = |s: &str| Chunk::Text(s.to_string());
        assert_eq!(
            chunk_text(r#"{"delta": {"content": "Terra "}}"#),
            text("Terra ")
        );
        assert_eq!(chunk_text(r#"{"delta": {"title": "T"}}"#), Chunk::Skip);
        assert_eq!(
            chunk_text(r#"{"delta": {"stages": [{"id": "1", "content": "thinking"}]}}"#),
            Chunk::Skip
        );
        assert_eq!(chunk_text(r#"{"delta": {"content": ""}}"#), Chunk::Skip);
        assert_eq!(
            chunk_text(r#"{"suggestion": "all of it"}"#),
            text("all of it")
        );
        assert_eq!(chunk_text(r#""quoted""#), text("quoted"));
        assert_eq!(chunk_text("plain words"), text("plain words"));
        assert_eq!(chunk_text("[DONE]"), Chunk::Done);
        assert_eq!(chunk_text("42"), Chunk::Skip);
        for error in [
            r#"{"error": {"message": "overloaded"}}"#,
            r#"{"error": "overloaded"}"#,
            r#"{"tpe": "run_failed", "errors": [{"description": "x"}]}"#,
            r#"{"message": "x", "errors": []}"#,
        ] {
            assert_eq!(chunk_text(error), Chunk::Error, "{error}");
        }
        // Output that happens to carry an error field is still output.
        assert_eq!(
            chunk_text(r#"{"delta": {"content": "a"}, "error": null}"#),
            text("a")
        );
        assert_eq!(chunk_text(r#"{"error": null}"#), Chunk::Skip);
    }
}

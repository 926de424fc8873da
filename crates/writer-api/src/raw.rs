//! The raw side of every exchange: status, headers and body bytes.
//!
//! progenitor's generated methods return typed values, but a retry policy
//! needs more: the status and headers of a response whose body did not
//! decode, `Retry-After` on a 429, the request id, and whether the request
//! reached the server at all. The `ClientHooks::exec` of [`crate::Client`]
//! records each response here when the call runs inside [`capture`] (a tokio
//! task-local scope, so concurrent calls never see each other's responses).
//!
//! Response bodies are read into memory once, and never more than
//! [`DEFAULT_BODY_LIMIT`] bytes (or the limit given to [`capture_with_limit`]):
//! a larger body is cut there and marked [`RawResponse::truncated`], so a
//! hostile or broken server cannot make the client allocate without bound.

use std::future::Future;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::FutureExt;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;

/// The largest response body read by default: 8 MiB. Real responses are a
/// few KiB; a page of 100 jobs with long suggestions stays well below this.
pub const DEFAULT_BODY_LIMIT: usize = 8 * 1024 * 1024;

/// One HTTP response as it came off the wire.
#[derive(Debug, Clone)]
pub struct RawResponse {
    /// The HTTP status.
    pub status: StatusCode,
    /// The response headers.
    pub headers: HeaderMap,
    /// The body, at most the capture's limit long.
    pub body: Bytes,
    /// `true` when the body was longer than the limit and was cut.
    pub truncated: bool,
}

impl RawResponse {
    /// The server's request id (`x-request-id` or `request-id`), if it sent one.
    pub fn request_id(&self) -> Option<&str> {
        ["x-request-id", "request-id"]
            .iter()
            .find_map(|name| self.headers.get(*name)?.to_str().ok())
    }
}

/// Reads `response`'s body, keeping at most `limit` bytes (a longer body is
/// cut and marked [`RawResponse::truncated`]; the rest is not read). The
/// second value is the error when the connection broke mid-body; the raw
/// response then holds what arrived.
pub async fn read_limited(
    mut response: reqwest::Response,
    limit: usize,
) -> (RawResponse, Result<(), reqwest::Error>) {
    let status = response.status();
    // The body is all that is read from here on.
    let headers = std::mem::take(response.headers_mut());
    // Sized once from `Content-Length` (when it is sent), so a large body
    // is not copied again at each doubling; a body that arrives in one
    // chunk is kept as it came, not copied at all.
    let expected = response
        .content_length()
        .map_or(0, |n| usize::try_from(n).unwrap_or(usize::MAX).min(limit));
    let mut first: Option<Bytes> = None;
    let mut body = bytes::BytesMut::new();
    let mut truncated = false;
    let mut outcome = Ok(());
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if let Some(first) = first.take() {
                    body.reserve(expected.max(first.len() + chunk.len()));
                    body.extend_from_slice(&first);
                }
                let room = limit - body.len();
                if chunk.len() > room {
                    body.extend_from_slice(&chunk[..room]);
                    truncated = true;
                    break;
                }
                if body.is_empty() {
                    first = Some(chunk);
                } else {
                    body.extend_from_slice(&chunk);
                }
            }
            Ok(None) => break,
            Err(error) => {
                outcome = Err(error);
                break;
            }
        }
    }
    let body = match first {
        Some(first) => first,
        None => body.freeze(),
    };
    let raw = RawResponse {
        status,
        headers,
        body,
        truncated,
    };
    (raw, outcome)
}

/// What the hook learned about one exchange.
#[derive(Debug)]
pub(crate) struct Slot {
    pub(crate) limit: usize,
    /// Text that must never reach a log (the API key), if the caller gave it.
    pub(crate) secret: Option<Arc<str>>,
    /// The caller decodes the raw body itself: the generated code is
    /// handed an empty body and no headers (see [`capture_raw_only`]).
    pub(crate) raw_only: bool,
    pub(crate) response: Mutex<Option<RawResponse>>,
}

tokio::task_local! {
    static CAPTURE: Arc<Slot>;
}

/// Runs `future` (a generated `send()`) and returns its output together with
/// the raw response the server sent, if one arrived (`None` when the request
/// failed before any response: connect error, timeout, reset).
///
/// The capture functions are plain functions returning the future (not
/// `async fn`s calling one another): each `async` layer would hold its own
/// copy of `future` next to the inner layer's, and a request's state
/// machine would grow several times over (kilobytes, moved and allocated
/// with every request).
pub fn capture<F: Future>(future: F) -> impl Future<Output = (F::Output, Option<RawResponse>)> {
    capture_with_limit(DEFAULT_BODY_LIMIT, future)
}

/// Like [`capture`], reading at most `limit` bytes of the response body.
pub fn capture_with_limit<F: Future>(
    limit: usize,
    future: F,
) -> impl Future<Output = (F::Output, Option<RawResponse>)> {
    capture_with(limit, None, false, future)
}

/// Like [`capture`], and never logs a server-sent request id that contains
/// `secret` (a hostile server could echo the `Authorization` header there).
pub fn capture_redacting<F: Future>(
    secret: Arc<str>,
    future: F,
) -> impl Future<Output = (F::Output, Option<RawResponse>)> {
    capture_with(DEFAULT_BODY_LIMIT, Some(secret), false, future)
}

/// Like [`capture_redacting`], for a caller that decodes the raw body
/// itself (into a type of its own, e.g. only the fields it needs): the
/// generated code is handed an empty body and no headers instead of the
/// response's, so the body is not decoded twice nor the headers copied.
/// The generated method then returns an error (for a success,
/// `InvalidResponsePayload` of an empty body): the raw response, headers
/// included, is the answer.
pub fn capture_raw_only<F: Future>(
    secret: Arc<str>,
    future: F,
) -> impl Future<Output = (F::Output, Option<RawResponse>)> {
    capture_with(DEFAULT_BODY_LIMIT, Some(secret), true, future)
}

fn capture_with<F: Future>(
    limit: usize,
    secret: Option<Arc<str>>,
    raw_only: bool,
    future: F,
) -> impl Future<Output = (F::Output, Option<RawResponse>)> {
    let slot = Arc::new(Slot {
        limit,
        secret,
        raw_only,
        response: Mutex::new(None),
    });
    CAPTURE.scope(slot.clone(), future).map(move |output| {
        let raw = slot
            .response
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        (output, raw)
    })
}

tokio::task_local! {
    static PREPARE: Arc<Mutex<Option<reqwest::Request>>>;
}

/// Runs `future` (a generated `send()`) without sending anything: the
/// request the generated code built (its route, query, headers and body,
/// with the credentials the `pre` hook put on it) is kept and returned,
/// and the generated code gets an empty `204` instead of an answer (so its
/// output is an error, `UnexpectedResponse`, unless the request could not
/// be built: then `InvalidRequest` and no request).
///
/// For a caller that must send a request itself but should not build it
/// by hand: the streamed synchronous run, whose answer is an event stream
/// that the generated code cannot read as it arrives.
pub async fn prepare<F: Future>(future: F) -> (F::Output, Option<reqwest::Request>) {
    let slot = Arc::new(Mutex::new(None));
    let output = PREPARE.scope(slot.clone(), future).await;
    let request = slot
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .take();
    (output, request)
}

/// Whether the current task runs inside [`prepare`].
pub(crate) fn preparing() -> bool {
    PREPARE.try_with(|_| ()).is_ok()
}

/// Inside [`prepare`]: keeps `request` and gives the empty answer to hand
/// the generated code instead of sending it.
pub(crate) fn keep(request: reqwest::Request) -> reqwest::Response {
    // Outside a scope there is nowhere to keep it: it is dropped, unsent.
    let _ = PREPARE.try_with(|slot| {
        *slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(request);
    });
    let mut empty = http::Response::new(reqwest::Body::from(Bytes::new()));
    *empty.status_mut() = StatusCode::NO_CONTENT;
    reqwest::Response::from(empty)
}

/// The body limit of the current capture scope (the default outside one).
pub(crate) fn current_limit() -> usize {
    CAPTURE
        .try_with(|slot| slot.limit)
        .unwrap_or(DEFAULT_BODY_LIMIT)
}

/// Whether the current capture scope decodes the raw body itself (see
/// [`capture_raw_only`]).
pub(crate) fn current_raw_only() -> bool {
    CAPTURE.try_with(|slot| slot.raw_only).unwrap_or(false)
}

/// The longest request id worth logging.
pub const MAX_REQUEST_ID: usize = 128;

/// A server-sent request id fit for logs and messages: at most
/// [`MAX_REQUEST_ID`] printable ASCII characters, and `None` when it holds
/// the current capture's secret.
pub(crate) fn loggable_request_id(id: &str) -> Option<String> {
    let secret = CAPTURE.try_with(|slot| slot.secret.clone()).ok().flatten();
    if secret.is_some_and(|s| !s.is_empty() && id.contains(&*s)) {
        return None;
    }
    Some(
        id.chars()
            .filter(|c| c.is_ascii_graphic())
            .take(MAX_REQUEST_ID)
            .collect(),
    )
}

/// Records `raw` in the current capture scope, if there is one.
pub(crate) fn record(raw: RawResponse) {
    let _ = CAPTURE.try_with(|slot| {
        *slot
            .response
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(raw);
    });
}

#[cfg(test)]
mod read_tests {
    use super::*;

    /// A response whose body arrives in `chunks`, with or without a
    /// `Content-Length`.
    fn response(chunks: &[&'static str], length: bool) -> reqwest::Response {
        let total: usize = chunks.iter().map(|c| c.len()).sum();
        let stream = futures::stream::iter(
            chunks
                .iter()
                .map(|c| Ok::<_, std::io::Error>(Bytes::from_static(c.as_bytes())))
                .collect::<Vec<_>>(),
        );
        let mut r = http::Response::new(reqwest::Body::wrap_stream(stream));
        r.headers_mut()
            .insert("x-request-id", http::HeaderValue::from_static("req-1"));
        if length {
            r.headers_mut().insert(
                http::header::CONTENT_LENGTH,
                total.to_string().parse().unwrap(),
            );
        }
        reqwest::Response::from(r)
    }

    /// The body is read whole in one chunk or several, sized from
    /// `Content-Length` or not, and cut at the limit; the headers are kept.
    #[tokio::test]
    async fn a_body_is_read_whole_or_cut_at_the_limit() {
        for length in [false, true] {
            for chunks in [
                &["{\"a\":1}"][..],
                &["{\"a\"", ":1", "}"],
                &["", "{\"a\":1}"],
            ] {
                let (raw, read) = read_limited(response(chunks, length), 100).await;
                assert!(read.is_ok());
                assert_eq!(&raw.body[..], b"{\"a\":1}", "{chunks:?}");
                assert!(!raw.truncated);
                assert_eq!(raw.request_id(), Some("req-1"));
            }
            for (chunks, cut) in [
                (&["0123456789"][..], "01234"),
                (&["012", "3456789"], "01234"),
                (&["01234", "56789"], "01234"),
            ] {
                let (raw, _) = read_limited(response(chunks, length), 5).await;
                assert_eq!(&raw.body[..], cut.as_bytes(), "{chunks:?}");
                assert!(raw.truncated, "{chunks:?}");
            }
        }
    }
}

//! What came back, sorted: a decoded value, or the [`Error`] to report
//! with what the retry table and the throttle need to know about it. Every
//! text that came from outside (messages, bodies, request ids, causes) has
//! the API key removed before it goes into an error or a log.

use writer_api::raw::RawResponse;
use writer_api::types as wire;

use super::Client;
use super::attempts::Failure;
use super::exchange::{Exchange, Typed, Undecodable};
use crate::error::{Error, ErrorBody, ErrorProblem, snippet};
use crate::retry::{Failed, parse_retry_after, should_retry_header};
use crate::throttle::{Observation, Operation};

/// How many bytes of a body an error keeps.
const SNIPPET_BYTES: usize = 300;

impl Client {
    /// Sorts what came back into a value or a failure, and what the
    /// throttle should hear about it.
    pub(super) fn classify<T>(
        &self,
        op: Operation,
        exchange: Exchange,
        decode: &impl Fn(&[u8], Option<Typed>) -> std::result::Result<T, Undecodable>,
    ) -> (std::result::Result<T, Failure>, Observation) {
        let policy = &self.inner.retry;
        match exchange {
            Exchange::Invalid(message) => (
                Err(Failure::new(Error::InvalidRequest(message), Failed::Final)),
                Observation::default(),
            ),
            Exchange::TimedOut(after) => (
                Err(Failure::new(
                    Error::Timeout {
                        operation: op.as_str(),
                        after,
                    },
                    Failed::TimedOut,
                )),
                Observation {
                    transport_error: true,
                    timed_out: true,
                    ..Observation::default()
                },
            ),
            Exchange::NoResponse(source) => {
                let connect = source.as_ref().is_some_and(reqwest::Error::is_connect);
                let (message, failed) = if connect {
                    ("the connection could not be opened", Failed::NotSent)
                } else {
                    ("it broke before an answer arrived", Failed::Lost)
                };
                let error = self.transport_error(message, connect, source);
                (
                    Err(Failure::new(error, failed)),
                    Observation {
                        transport_error: true,
                        ..Observation::default()
                    },
                )
            }
            Exchange::Response {
                raw,
                complete,
                typed,
            } => {
                let status = raw.status.as_u16();
                // Built only for an error: a success never shows it.
                let request_id = || raw.request_id().map(|id| self.request_id(id));
                let retry_after = parse_retry_after(&raw.headers, self.inner.clock.wall())
                    .map(|d| d.min(policy.max_retry_after()));
                let observation = Observation {
                    status: Some(status),
                    retry_after,
                    transport_error: !complete,
                    server_date: server_date(&raw.headers),
                    ..Observation::default()
                };
                let should_retry = should_retry_header(&raw.headers);
                let failure = |error, failed| Failure {
                    error,
                    failed,
                    should_retry,
                    retry_after,
                };
                if !complete {
                    let error = Error::transport(
                        format!("it broke while the answer was read (HTTP {status})"),
                        false,
                        None,
                    );
                    return (Err(failure(error, Failed::Lost)), observation);
                }
                if raw.status.is_success() {
                    let decoded = if raw.truncated {
                        Err(Undecodable::Shape(format!(
                            "the body is larger than {} bytes and was cut",
                            raw.body.len()
                        )))
                    } else {
                        decode(&raw.body, typed.map(|t| *t))
                    };
                    return match decoded {
                        Ok(value) => (Ok(value), observation),
                        Err(undecodable) => {
                            let error =
                                self.decode_error(undecodable, &raw.body, status, request_id());
                            (Err(failure(error, Failed::BadBody)), observation)
                        }
                    };
                }
                let (message, body) =
                    error_message(&raw, |text| self.scrub(text), |b| self.scrubbed_snippet(b));
                let (message, body) = if raw.status.is_redirection() {
                    let location = raw
                        .headers
                        .get(reqwest::header::LOCATION)
                        .map_or(&b"an unnamed location"[..], |l| l.as_bytes());
                    let message = format!(
                        "the server redirected to {}; redirects are not followed, so the key \
                         is never sent elsewhere (check the base URL)",
                        self.scrubbed_snippet(location)
                    );
                    (message, ErrorBody::default())
                } else {
                    (message, body)
                };
                let error =
                    Error::from_answer(status, message, request_id(), Box::new(body), retry_after);
                (Err(failure(error, Failed::Status(status))), observation)
            }
        }
    }

    /// Text from outside (a body, a header), with the key removed before it
    /// is cut to a snippet, so no part of the key survives the cut.
    pub(super) fn scrubbed_snippet(&self, bytes: &[u8]) -> String {
        let text = self.scrub(String::from_utf8_lossy(bytes).into_owned());
        snippet(text.as_bytes(), SNIPPET_BYTES)
    }

    /// A transport error with `source` as its cause, unless the cause's
    /// text holds the key: it is then kept only as scrubbed text.
    pub(crate) fn transport_error(
        &self,
        message: &str,
        connect: bool,
        source: Option<reqwest::Error>,
    ) -> Error {
        match self.keep_cause(source) {
            Ok(source) => Error::transport(message, connect, source),
            Err(text) => Error::transport(format!("{message}: {text}"), connect, None),
        }
    }

    /// The error of a successful answer that did not decode.
    pub(crate) fn decode_error(
        &self,
        undecodable: Undecodable,
        body: &[u8],
        status: u16,
        request_id: Option<String>,
    ) -> Error {
        let (message, source) = match undecodable {
            Undecodable::Shape(message) => (self.scrub(message), None),
            Undecodable::Json(e) => {
                let message = "the body is not the JSON expected";
                match self.keep_cause(Some(e)) {
                    Ok(source) => (message.to_string(), source),
                    Err(text) => (format!("{message}: {text}"), None),
                }
            }
        };
        Error::Decode {
            message,
            body_snippet: self.scrubbed_snippet(body),
            status,
            request_id,
            source,
        }
    }

    /// `Ok(cause)` when neither its text (with its own causes) nor its
    /// `Debug` holds the key; else `Err` with that text, scrubbed.
    fn keep_cause<E: std::error::Error>(
        &self,
        cause: Option<E>,
    ) -> std::result::Result<Option<E>, String> {
        let Some(cause) = cause else {
            return Ok(None);
        };
        let text = chain_text(&cause);
        let key = &*self.inner.key;
        if text.contains(key) || format!("{cause:?}").contains(key) {
            Err(self.scrub(text))
        } else {
            Ok(Some(cause))
        }
    }

    /// A server-sent request id fit for errors: the key removed, then at
    /// most 128 printable ASCII characters.
    pub(super) fn request_id(&self, id: &str) -> String {
        self.scrub(id.to_string())
            .chars()
            .filter(|c| c.is_ascii_graphic())
            .take(writer_api::raw::MAX_REQUEST_ID)
            .collect()
    }

    /// Removes the API key from text that came from outside.
    pub(super) fn scrub(&self, text: String) -> String {
        let key = &self.inner.key;
        if key.len() >= 4 && text.contains(&**key) {
            text.replace(&**key, "<redacted>")
        } else {
            text
        }
    }
}

/// An error's text followed by its causes', joined by ": ".
pub(crate) fn chain_text(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// What went wrong, in the server's words when it gave some, and the error
/// body field by field. `scrub` removes the key from anything the server
/// sent; `snippet_of` cuts (and scrubs) a body that is not a JSON error.
///
/// The message lists each problem as `key: description` (Writer's shape),
/// after the older shape's `message`; with neither, the type name (`tpe`
/// or `code`) stands for it.
pub(super) fn error_message(
    raw: &RawResponse,
    scrub: impl Fn(String) -> String,
    snippet_of: impl Fn(&[u8]) -> String,
) -> (String, ErrorBody) {
    if let Ok(wire) = serde_json::from_slice::<wire::Error>(&raw.body) {
        let body = ErrorBody {
            tpe: wire.tpe.or(wire.code).map(&scrub),
            problems: wire
                .errors
                .unwrap_or_default()
                .into_iter()
                .map(|d| ErrorProblem {
                    key: d.key.map(&scrub),
                    description: d.description.map(&scrub),
                    extras: d.extras.map(|v| scrub_json(v, &scrub)),
                })
                .collect(),
            extras: wire.extras.map(|v| scrub_json(v, &scrub)),
        };
        let mut parts: Vec<String> = wire.message.map(&scrub).into_iter().collect();
        for problem in &body.problems {
            match (&problem.key, &problem.description) {
                (Some(k), Some(d)) => parts.push(format!("{k}: {d}")),
                (None, Some(d)) => parts.push(d.clone()),
                _ => {}
            }
        }
        if parts.is_empty()
            && let Some(tpe) = &body.tpe
        {
            parts.push(tpe.clone());
        }
        if !parts.is_empty() {
            return (parts.join("; "), body);
        }
        if body != ErrorBody::default() {
            let reason = raw
                .status
                .canonical_reason()
                .unwrap_or("no explanation given");
            return (reason.to_string(), body);
        }
    }
    let text = snippet_of(&raw.body);
    let message = if text.trim().is_empty() {
        raw.status
            .canonical_reason()
            .unwrap_or("no explanation given")
            .to_string()
    } else {
        text
    };
    (message, ErrorBody::default())
}

/// The server's clock when it answered, from its `Date` header (whole
/// seconds, so the server's time was in `[date, date + 1 s)`).
pub(super) fn server_date(
    headers: &reqwest::header::HeaderMap,
) -> Option<chrono::DateTime<chrono::Utc>> {
    let value = headers.get(reqwest::header::DATE)?.to_str().ok()?;
    chrono::DateTime::parse_from_rfc2822(value)
        .ok()
        .map(|d| d.with_timezone(&chrono::Utc))
}

/// `value` with `scrub` applied to every string in it (keys included).
fn scrub_json(value: serde_json::Value, scrub: &impl Fn(String) -> String) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::String(s) => Value::String(scrub(s)),
        Value::Array(items) => {
            Value::Array(items.into_iter().map(|v| scrub_json(v, scrub)).collect())
        }
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (scrub(k), scrub_json(v, scrub)))
                .collect(),
        ),
        other => other,
    }
}

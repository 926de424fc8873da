//! `ClientHooks` for the generated [`Client`]: the credentials on every
//! request, a tracing span per request and a bounded, recorded read of every
//! response body (see [`crate::raw`]).

use std::time::Instant;

use progenitor_client::{ClientHooks, ClientInfo, OperationInfo};
use reqwest::ResponseBuilderExt;
use tracing::Instrument;

use crate::Client;
use crate::auth::Credentials;
use crate::raw;

impl ClientHooks<Credentials> for Client {
    async fn pre<E>(
        &self,
        request: &mut reqwest::Request,
        _info: &OperationInfo,
    ) -> Result<(), progenitor_client::Error<E>> {
        self.inner().apply(request.headers_mut());
        Ok(())
    }

    async fn exec(
        &self,
        request: reqwest::Request,
        info: &OperationInfo,
    ) -> reqwest::Result<reqwest::Response> {
        // Inside `raw::prepare` nothing is sent (and nothing traced).
        if raw::preparing() {
            return Ok(raw::keep(request));
        }
        let span = tracing::debug_span!(
            "writer_api.request",
            operation = info.operation_id,
            method = %request.method(),
            path = request.url().path(),
            status = tracing::field::Empty,
            request_id = tracing::field::Empty,
            duration_ms = tracing::field::Empty,
        );
        let started = Instant::now();
        let client = self.client().clone();
        async move {
            let result = execute(&client, request).await;
            let span = tracing::Span::current();
            span.record("duration_ms", started.elapsed().as_millis() as u64);
            match &result {
                Ok(response) => {
                    span.record("status", response.status().as_u16());
                    tracing::debug!("response received");
                }
                Err(error) => tracing::debug!(%error, "request failed"),
            }
            result
        }
        .instrument(span)
        .await
    }
}

/// Sends the request, reads the body (at most the capture's limit), records
/// the raw response and hands the generated code an equivalent response.
async fn execute(
    client: &reqwest::Client,
    request: reqwest::Request,
) -> reqwest::Result<reqwest::Response> {
    let response = client.execute(request).await?;
    let version = response.version();
    // Only for a span that is recorded: the id is copied and checked.
    let span = tracing::Span::current();
    if !span.is_disabled()
        && let Some(id) = ["x-request-id", "request-id"]
            .iter()
            .find_map(|name| response.headers().get(*name)?.to_str().ok())
            .and_then(raw::loggable_request_id)
    {
        span.record("request_id", id.as_str());
    }
    let limit = raw::current_limit();
    let (raw, read) = raw::read_limited(response, limit).await;
    if raw.truncated {
        tracing::warn!(limit, "response body exceeds the limit; it was cut");
    }
    // A caller that decodes the raw body itself gets it, and the headers,
    // from the capture: the generated code then decodes nothing, and no
    // copy of the headers is made for it (two, with the one it keeps).
    let (body, headers) = if raw::current_raw_only() {
        (bytes::Bytes::new(), http::HeaderMap::new())
    } else {
        (raw.body.clone(), raw.headers.clone())
    };
    let status = raw.status;
    raw::record(raw);
    read?;
    // With the URL reqwest gives a response built by hand when it has
    // none, parsed once: it would parse it again for every response.
    let mut rebuilt = http::Response::builder()
        .url(NO_URL.clone())
        .body(reqwest::Body::from(body))
        .expect("a builder given only a URL and a body");
    *rebuilt.status_mut() = status;
    *rebuilt.headers_mut() = headers;
    *rebuilt.version_mut() = version;
    Ok(reqwest::Response::from(rebuilt))
}

/// The URL of a response reqwest did not send (see `execute`).
static NO_URL: std::sync::LazyLock<reqwest::Url> = std::sync::LazyLock::new(|| {
    reqwest::Url::parse("http://no.url.provided.local").expect("a valid URL")
});

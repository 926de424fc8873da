//! Low-level client for Writer's async applications jobs API.
//!
//! Everything in [`Client`] and [`types`] is **generated** by progenitor from
//! `openapi/writer-jobs.yaml` (API version [`API_VERSION`]) and checked in as
//! `src/generated.rs`. Do not edit it: change the spec and run
//! `cargo xtask codegen`; `cargo xtask codegen --check` fails when the file is
//! stale.
//!
//! Most users want the high-level `writer-jobs` crate, which wraps this one
//! with retries, polling, pagination streams and a batch engine. This crate
//! holds only what Rust's orphan rule forces next to the generated `Client`:
//!
//! - [`ClientHooks`](progenitor_client::ClientHooks) for `Client`: each request
//!   runs in a `tracing` span (operation id, status, duration, request id),
//!   and its response body is read once, capped at a size limit, and recorded
//!   so that the layer above can see the status, headers and raw bytes of any
//!   response, including a 2xx whose body does not decode (progenitor's
//!   `InvalidResponsePayload` carries neither status nor headers). See
//!   [`raw`].
//! - [`auth::Credentials`], the generated client's inner value: the hooks'
//!   `pre` puts the `Authorization` header (marked sensitive, so the key
//!   never shows in `Debug` output) and the user agent on every request, so
//!   the client works over any `reqwest::Client`, a caller's own included.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use writer_api::auth::Credentials;
//! let client = writer_api::Client::new_with_client(
//!     "https://api.writer.com",
//!     reqwest::Client::new(),
//!     Credentials::bearer("my-key")?,
//! );
//! let (result, raw) = writer_api::raw::capture(client.get_job().job_id("123-456-789").send()).await;
//! if let Some(raw) = raw {
//!     println!("HTTP {} ({} bytes)", raw.status, raw.body.len());
//! }
//! let job = result?.into_inner();
//! println!("{} is {}", job.id, job.status);
//! # Ok(()) }
//! ```

#![deny(missing_docs)]

// Formatted by prettyplease at generation time; rustfmt must not touch it,
// or `cargo xtask codegen --check` would see a difference.
#[rustfmt::skip]
#[allow(
    missing_docs,
    clippy::all,
    clippy::pedantic,
    unused_qualifications,
    rustdoc::all
)]
mod generated;

pub use generated::*;

pub mod auth;
mod hooks;
pub mod raw;

/// The version of the API that `openapi/writer-jobs.yaml` describes
/// (its `info.version`).
pub const API_VERSION: &str = "2025-02-10";

#[cfg(test)]
mod tests {
    use super::*;
    use progenitor_client::ClientInfo;

    /// A prepared request is the generated one, credentials included, and
    /// is not sent: nothing listens on the base URL's port, so a send
    /// would end in a connection error, not in the empty 204.
    #[tokio::test]
    async fn prepare_keeps_the_generated_request_unsent() {
        let unused = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", unused.local_addr().unwrap());
        drop(unused);
        let credentials = auth::Credentials::bearer("sk-prepared").unwrap();
        let client = Client::new(&base, credentials);
        let body = types::RunApplicationRequest {
            inputs: Vec::new(),
            stream: Some(true),
        };
        let send = client
            .run_application()
            .application_id("app 1")
            .body(body)
            .send();
        let (output, request) = raw::prepare(send).await;
        assert!(
            matches!(&output, Err(Error::UnexpectedResponse(r)) if r.status() == 204),
            "{output:?}"
        );
        let request = request.expect("the request is kept");
        assert_eq!(request.method(), reqwest::Method::POST);
        assert_eq!(request.url().path(), "/v1/applications/app%201");
        let header = |name: &str| request.headers()[name].to_str().unwrap().to_string();
        assert_eq!(header("authorization"), "Bearer sk-prepared");
        assert_eq!(header("api-version"), API_VERSION);
        let sent: serde_json::Value =
            serde_json::from_slice(request.body().unwrap().as_bytes().unwrap()).unwrap();
        assert_eq!(sent["stream"], true);
        // Outside `prepare`, the same call is sent (and fails to connect).
        let send = client.get_job().job_id("j").send();
        assert!(matches!(send.await, Err(Error::CommunicationError(_))));
    }

    #[test]
    fn api_version_matches_the_spec() {
        assert_eq!(
            <Client as ClientInfo<auth::Credentials>>::api_version(),
            API_VERSION
        );
    }
}

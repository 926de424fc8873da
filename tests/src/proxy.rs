//! A recording HTTP proxy on 127.0.0.1 (port 0): point a client's base URL
//! at it, and it forwards every request to the upstream server and records
//! the exchange (method, path, query, request body, response status and
//! body) for the [`Checker`](crate::checker::Checker).
//!
//! When the upstream gives no response (its connection failed or was
//! dropped), the proxy records `status: None` and answers `502` with an
//! `x-recording-proxy-error` header: it cannot drop the client's connection
//! the same way, so do not use it to test how a client handles drops.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::checker::Exchange;

/// The largest body the proxy reads (16 MiB).
const BODY_LIMIT: usize = 16 * 1024 * 1024;

#[derive(Debug)]
struct ProxyState {
    upstream: String,
    http: reqwest::Client,
    log: Mutex<Vec<Exchange>>,
}

/// A running recording proxy; dropping it stops it.
#[derive(Debug)]
pub struct RecordingProxy {
    addr: SocketAddr,
    state: Arc<ProxyState>,
    task: JoinHandle<()>,
}

impl RecordingProxy {
    /// Starts a proxy in front of `upstream` (like `http://127.0.0.1:PORT`)
    /// on the current tokio runtime.
    pub async fn start(upstream: &str) -> std::io::Result<Self> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .build()
            .map_err(std::io::Error::other)?;
        let state = Arc::new(ProxyState {
            upstream: upstream.trim_end_matches('/').to_string(),
            http,
            log: Mutex::new(Vec::new()),
        });
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let app = Router::new().fallback(forward).with_state(state.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { addr, state, task })
    }

    /// The base URL to give the client.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The exchanges recorded so far, in the order their responses came.
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.state
            .log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl Drop for RecordingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn is_hop_by_hop(name: &str) -> bool {
    matches!(
        name,
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "transfer-encoding"
            | "te"
            | "trailer"
            | "upgrade"
            | "host"
            | "content-length"
    )
}

fn copy_headers(from: &HeaderMap, to: &mut HeaderMap) {
    for (name, value) in from {
        if !is_hop_by_hop(name.as_str()) {
            to.append(name.clone(), value.clone());
        }
    }
}

fn content_type(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

async fn forward(State(state): State<Arc<ProxyState>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, BODY_LIMIT)
        .await
        .unwrap_or_default();
    let mut exchange = Exchange {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().map(str::to_string),
        request_content_type: content_type(&parts.headers),
        request_body: body.to_vec(),
        ..Exchange::default()
    };
    let url = format!(
        "{}{}",
        state.upstream,
        parts
            .uri
            .path_and_query()
            .map(|pq| pq.as_str())
            .unwrap_or("/")
    );
    let mut headers = HeaderMap::new();
    copy_headers(&parts.headers, &mut headers);
    let sent = state
        .http
        .request(parts.method.clone(), url)
        .headers(headers)
        .body(body)
        .send()
        .await;
    let response = match sent {
        Ok(upstream) => {
            let status = upstream.status();
            let mut headers = HeaderMap::new();
            copy_headers(upstream.headers(), &mut headers);
            match upstream.bytes().await {
                Ok(bytes) => {
                    exchange.status = Some(status.as_u16());
                    exchange.response_content_type = content_type(&headers);
                    exchange.response_body = bytes.to_vec();
                    let mut response = Response::new(Body::from(bytes));
                    *response.status_mut() = status;
                    *response.headers_mut() = headers;
                    response
                }
                Err(e) => proxy_error(&e),
            }
        }
        Err(e) => proxy_error(&e),
    };
    state
        .log
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(exchange);
    response
}

fn proxy_error(e: &reqwest::Error) -> Response {
    let mut response = (StatusCode::BAD_GATEWAY, e.to_string()).into_response();
    if let Ok(v) = HeaderValue::from_str("upstream gave no response") {
        response.headers_mut().insert("x-recording-proxy-error", v);
    }
    response
}

//! A server on 127.0.0.1 (port 0) that answers every request with one
//! canned JSON body: how a test feeds exact wire data (a newer server's, a
//! generated one) through the real `writer-jobs` client, whose wire -> model
//! conversions are private to that crate.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

#[derive(Debug)]
struct Canned {
    status: u16,
    body: Vec<u8>,
    requests: usize,
}

/// A running canned-answer server; dropping it stops it.
#[derive(Debug)]
pub struct CannedServer {
    addr: SocketAddr,
    state: Arc<Mutex<Canned>>,
    task: JoinHandle<()>,
}

impl CannedServer {
    /// Starts one answering `200 {}` until told otherwise.
    pub async fn start() -> std::io::Result<Self> {
        let state = Arc::new(Mutex::new(Canned {
            status: 200,
            body: b"{}".to_vec(),
            requests: 0,
        }));
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let app = Router::new().fallback(answer).with_state(state.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { addr, state, task })
    }

    /// The base URL to give a client.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Answers every request from now on with `status` and `body`.
    pub fn set(&self, status: u16, body: &Value) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.status = status;
        s.body = serde_json::to_vec(body).unwrap_or_default();
    }

    /// How many requests arrived.
    pub fn requests(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .requests
    }
}

impl Drop for CannedServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(State(state): State<Arc<Mutex<Canned>>>) -> Response {
    let (status, body) = {
        let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
        s.requests += 1;
        (s.status, s.body.clone())
    };
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

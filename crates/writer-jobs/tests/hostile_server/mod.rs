//! A deliberately hostile HTTP/1.1 server on 127.0.0.1:0, written on raw
//! tokio sockets so that it can send what no well-behaved framework would:
//! bodies far longer than memory, endless chunked streams, one byte a
//! second, absurd headers, redirects, invalid UTF-8, or nothing at all.
//!
//! Each connection serves requests until a reply closes it. The handler
//! sees every request (method, path, headers, body) and picks a [`Reply`].

#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One request as the server read it.
#[derive(Debug, Clone)]
pub struct Request {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path and query.
    pub path: String,
    /// Header names (lower case) and values, in order.
    pub headers: Vec<(String, String)>,
    /// The body (`Content-Length` bytes).
    pub body: Vec<u8>,
}

impl Request {
    /// The first value of a header (name in lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The operation this request is, by method and path.
    pub fn op(&self) -> &'static str {
        let path = self.path.split('?').next().unwrap_or("");
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        match (self.method.as_str(), segments.as_slice()) {
            ("GET", ["v1", "applications", "jobs", _]) => "get",
            ("POST", ["v1", "applications", "jobs", _, "retry"]) => "retry",
            ("POST", ["v1", "applications", _, "jobs"]) => "create",
            ("GET", ["v1", "applications", _, "jobs"]) => "list",
            ("POST", ["v1", "applications", _]) => "run",
            ("GET", ["v1", "applications", _]) => "app",
            _ => "other",
        }
    }
}

/// How the server answers one request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A complete response with `Content-Length`; the connection stays open.
    Full {
        /// The status code.
        status: u16,
        /// Extra headers, written as given (no validation).
        headers: Vec<(String, String)>,
        /// The body.
        body: Vec<u8>,
    },
    /// These exact bytes, then the connection is closed.
    Raw(Vec<u8>),
    /// A 200 that announces `len` bytes and streams them, without ever
    /// holding more than 64 KiB.
    Huge {
        /// The announced and sent length.
        len: u64,
    },
    /// A response with `Transfer-Encoding: chunked` that never ends (until
    /// the client hangs up).
    Endless {
        /// The status code.
        status: u16,
    },
    /// `head` at once, then `bytes` one per `every` of real time, then close.
    Drip {
        /// Sent at once.
        head: Vec<u8>,
        /// Sent one byte at a time.
        bytes: Vec<u8>,
        /// The pause between bytes.
        every: Duration,
    },
    /// Close the connection without a response.
    Close,
    /// Keep the connection open and never answer.
    Hang,
}

impl Reply {
    /// A JSON response.
    pub fn json(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Reply::Full {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.into(),
        }
    }

    /// A response with these headers and body.
    pub fn with_headers(status: u16, headers: &[(&str, &str)], body: impl Into<Vec<u8>>) -> Self {
        Reply::Full {
            status,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: body.into(),
        }
    }
}

type Handler = Arc<dyn Fn(&Request) -> Reply + Send + Sync>;

/// A running hostile server; it stops when dropped.
pub struct HostileServer {
    addr: std::net::SocketAddr,
    requests: Arc<Mutex<Vec<Request>>>,
    connections: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for HostileServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl HostileServer {
    /// Starts a server answering every request with `handler`.
    pub async fn start(handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let handler: Handler = Arc::new(handler);
        let (log, conns) = (requests.clone(), connections.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                conns.fetch_add(1, Ordering::SeqCst);
                let _ = stream.set_nodelay(true);
                tokio::spawn(serve(stream, handler.clone(), log.clone()));
            }
        });
        Self {
            addr,
            requests,
            connections,
            task,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Requests received so far.
    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    /// How many requests arrived.
    pub fn request_count(&self) -> usize {
        self.requests.lock().unwrap().len()
    }

    /// How many connections were accepted.
    pub fn connection_count(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

/// The most header bytes the server reads for one request.
const MAX_HEAD: usize = 64 * 1024;

async fn serve(mut stream: TcpStream, handler: Handler, log: Arc<Mutex<Vec<Request>>>) {
    let mut buf = Vec::new();
    loop {
        let Some(request) = read_request(&mut stream, &mut buf).await else {
            return;
        };
        log.lock().unwrap().push(request.clone());
        let reply = handler(&request);
        if !write_reply(&mut stream, reply).await {
            let _ = stream.shutdown().await;
            return;
        }
    }
}

async fn read_request(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Request> {
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > MAX_HEAD {
            return None;
        }
        let mut chunk = [0u8; 8192];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_string();
    let path = first.next()?.to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + len {
        let mut chunk = [0u8; 8192];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = buf[head_end..head_end + len].to_vec();
    buf.drain(..head_end + len);
    Some(Request {
        method,
        path,
        headers,
        body,
    })
}

fn reason(status: u16) -> &'static str {
    http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Whatever")
}

/// Writes a reply; `true` when the connection may serve another request.
async fn write_reply(stream: &mut TcpStream, reply: Reply) -> bool {
    match reply {
        Reply::Full {
            status,
            headers,
            body,
        } => {
            let mut out = format!("HTTP/1.1 {status} {}\r\n", reason(status)).into_bytes();
            for (k, v) in &headers {
                out.extend_from_slice(k.as_bytes());
                out.extend_from_slice(b": ");
                out.extend_from_slice(v.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(format!("content-length: {}\r\n\r\n", body.len()).as_bytes());
            out.extend_from_slice(&body);
            stream.write_all(&out).await.is_ok()
        }
        Reply::Raw(bytes) => {
            let _ = stream.write_all(&bytes).await;
            false
        }
        Reply::Huge { len } => {
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {len}\r\n\r\n"
            );
            if stream.write_all(head.as_bytes()).await.is_err() {
                return false;
            }
            // A JSON string that never closes: nothing decodes before the end.
            let mut chunk = vec![b'a'; 64 * 1024];
            chunk[..10].copy_from_slice(b"{\"id\": \"aa");
            let mut left = len;
            let mut first = true;
            while left > 0 {
                let piece = if first { &chunk[..] } else { &chunk[10..] };
                first = false;
                let n = (piece.len() as u64).min(left) as usize;
                if stream.write_all(&piece[..n]).await.is_err() {
                    return false;
                }
                left -= n as u64;
            }
            false
        }
        Reply::Endless { status } => {
            let head = format!(
                "HTTP/1.1 {status} {}\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n",
                reason(status)
            );
            if stream.write_all(head.as_bytes()).await.is_err() {
                return false;
            }
            let data = vec![b'['; 32 * 1024];
            let mut chunk = format!("{:x}\r\n", data.len()).into_bytes();
            chunk.extend_from_slice(&data);
            chunk.extend_from_slice(b"\r\n");
            while stream.write_all(&chunk).await.is_ok() {}
            false
        }
        Reply::Drip { head, bytes, every } => {
            if stream.write_all(&head).await.is_err() {
                return false;
            }
            for b in bytes {
                if stream.write_all(&[b]).await.is_err() {
                    return false;
                }
                let _ = stream.flush().await;
                tokio::time::sleep(every).await;
            }
            false
        }
        Reply::Close => false,
        Reply::Hang => {
            // Read (and ignore) until the client gives up.
            let mut sink = [0u8; 1024];
            while let Ok(n) = stream.read(&mut sink).await {
                if n == 0 {
                    break;
                }
            }
            false
        }
    }
}

/// A valid job JSON (what `get_job` expects).
pub fn job_json(id: &str, status: &str) -> String {
    let data = if status == "completed" {
        r#","data":{"title":"t","suggestion":"s"}"#
    } else {
        ""
    };
    format!(
        r#"{{"id":"{id}","status":"{status}","application_id":"app","created_at":"2025-01-01T00:00:00Z"{data}}}"#
    )
}

/// A valid create answer.
pub fn created_json(id: &str) -> String {
    format!(r#"{{"id":"{id}","status":"in_progress","created_at":"2025-01-01T00:00:00Z"}}"#)
}

/// A valid list page holding `jobs`.
pub fn page_json(jobs: &[String]) -> String {
    format!(
        r#"{{"result":[{}],"totalCount":{},"pagination":{{"offset":0,"limit":50}}}}"#,
        jobs.join(","),
        jobs.len()
    )
}

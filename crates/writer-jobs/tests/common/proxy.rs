//! A small HTTP/1.1 proxy on 127.0.0.1 that puts faults between a client
//! and a simulator that the simulator cannot make on its own, for the
//! promise tests (`tests/promises.rs`):
//!
//! - **hold**: chosen create requests are read in full, kept for a delay of
//!   simulated time, and only then forwarded, from a task of their own, so
//!   the server creates the job late even if the client gave up and hung up
//!   meanwhile (a server that is slow before it commits);
//! - **refuse**: for `down` out of every `period` (real time), the proxy
//!   closes its listening socket, so a connect gets ECONNREFUSED, then
//!   listens again on the same port; after a while it stays up;
//! - **oldest first**: list pages are served oldest job first (the proxy
//!   reads the whole newest-first list upstream, reverses it and cuts the
//!   page the client asked for);
//! - **close after answer**: every client connection is closed after one
//!   answer, so each request connects anew (and can meet a refusal);
//! - **list view**: list pages are cut from the whole list as a function
//!   the test gives rewrites it (another order, jobs left out, fields
//!   dropped), the list read upstream as for oldest first.
//!
//! Each request goes upstream on a fresh connection with `connection:
//! close`; an upstream that closes without an answer (the simulator's
//! `accept_then_drop`, `reset`) makes the proxy close the client's
//! connection without an answer too.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::JoinHandle;

/// Which creates to hold, and for how long.
#[derive(Debug, Clone, Copy)]
pub struct Hold {
    /// Creates (counted from 0 in arrival order) before the first held one.
    pub skip: usize,
    /// How many creates to hold.
    pub count: usize,
    /// How long to hold each, in simulated time.
    pub delay: Duration,
    /// The simulator's clock scale (simulated seconds per real second).
    pub scale: f64,
}

/// When to refuse connections (real time, counted from the proxy's start).
#[derive(Debug, Clone, Copy)]
pub struct Refuse {
    /// One cycle.
    pub period: Duration,
    /// The refused part at the end of each cycle.
    pub down: Duration,
    /// After this long, the proxy stays up for good.
    pub until: Duration,
}

/// What the proxy does.
#[derive(Debug, Clone, Default)]
pub struct ProxyConfig {
    /// Hold some creates (default: none).
    pub hold: Option<Hold>,
    /// Refuse connections periodically (default: never).
    pub refuse: Option<Refuse>,
    /// Serve list pages oldest first (default: as the server does).
    pub oldest_first: bool,
    /// Close each client connection after one answer (default: keep-alive).
    pub close_after_answer: bool,
    /// Rewrite the whole list before a page is cut from it (default: as
    /// the server has it).
    pub list_view: Option<ListView>,
}

/// A function of the whole list (the server's jobs as JSON, newest first,
/// after `oldest_first` reversed them) and the page asked for (offset,
/// limit) to the list that page is cut from.
#[derive(Clone)]
#[allow(clippy::type_complexity)]
pub struct ListView(
    pub Arc<dyn Fn(Vec<serde_json::Value>, usize, usize) -> Vec<serde_json::Value> + Send + Sync>,
);

impl std::fmt::Debug for ListView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ListView(..)")
    }
}

/// What the proxy saw and did.
#[derive(Debug, Default)]
pub struct ProxyCounters {
    /// Connections accepted.
    pub connections: AtomicU64,
    /// Requests read from clients.
    pub requests: AtomicU64,
    /// Create requests read from clients.
    pub creates: AtomicUsize,
    /// Creates held.
    pub held: AtomicU64,
    /// Held creates forwarded upstream after their delay.
    pub held_forwarded: AtomicU64,
    /// Held creates whose answer could no longer be delivered (the client
    /// had hung up).
    pub held_undelivered: AtomicU64,
    /// Times the listening socket was closed.
    pub refusals: AtomicU64,
    /// List pages served oldest first.
    pub reordered_pages: AtomicU64,
}

struct Shared {
    upstream: SocketAddr,
    config: ProxyConfig,
    counters: Arc<ProxyCounters>,
}

/// A running proxy; dropping it stops it.
pub struct Proxy {
    /// `http://127.0.0.1:PORT`, to give the client.
    pub base_url: String,
    counters: Arc<ProxyCounters>,
    task: JoinHandle<()>,
}

impl Proxy {
    /// Starts a proxy on a free port of 127.0.0.1 in front of `upstream`
    /// (a `http://127.0.0.1:PORT` base URL).
    pub async fn start(upstream: &str, config: ProxyConfig) -> Self {
        let upstream: SocketAddr = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .parse()
            .expect("upstream is http://IP:PORT");
        let listener = bind("127.0.0.1:0".parse().unwrap()).expect("proxy binds");
        let addr = listener.local_addr().unwrap();
        let counters = Arc::new(ProxyCounters::default());
        let shared = Arc::new(Shared {
            upstream,
            config,
            counters: counters.clone(),
        });
        let task = tokio::spawn(run(listener, addr, shared));
        Self {
            base_url: format!("http://{addr}"),
            counters,
            task,
        }
    }

    /// The counters so far.
    pub fn counters(&self) -> &ProxyCounters {
        &self.counters
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

/// Accepts connections; with a refusal schedule, closes the listener for
/// the down part of each cycle and binds the same port again after it.
async fn run(first: TcpListener, addr: SocketAddr, shared: Arc<Shared>) {
    let started = tokio::time::Instant::now();
    let mut listener = Some(first);
    loop {
        let current = match listener.take() {
            Some(l) => l,
            None => loop {
                match bind(addr) {
                    Ok(l) => break l,
                    Err(_) => tokio::time::sleep(Duration::from_millis(1)).await,
                }
            },
        };
        let up_for = match shared.config.refuse {
            Some(r) if started.elapsed() < r.until => {
                let into = started.elapsed().as_nanos() % r.period.as_nanos().max(1);
                let into = Duration::from_nanos(into as u64);
                (r.period - r.down).saturating_sub(into)
            }
            _ => Duration::from_secs(24 * 3600),
        };
        let accept = accept_loop(&current, shared.clone());
        tokio::select! {
            _ = accept => {}
            _ = tokio::time::sleep(up_for) => {}
        }
        if let Some(r) = shared.config.refuse.filter(|r| started.elapsed() < r.until) {
            drop(current);
            shared.counters.refusals.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(r.down).await;
        } else {
            listener = Some(current);
        }
    }
}

async fn accept_loop(listener: &TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(1)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        shared.counters.connections.fetch_add(1, Ordering::SeqCst);
        tokio::spawn(connection(stream, shared.clone()));
    }
}

/// One HTTP request as read from a client.
#[derive(Debug, Clone)]
struct Request {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// One HTTP response.
#[derive(Debug, Clone)]
struct Response {
    status_line: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    fn segments(&self) -> Vec<&str> {
        self.path().split('/').filter(|s| !s.is_empty()).collect()
    }

    /// `POST /v1/applications/{app}/jobs`
    fn is_create(&self) -> bool {
        let s = self.segments();
        self.method == "POST" && s.len() == 4 && s[0] == "v1" && s[3] == "jobs" && s[2] != "jobs"
    }

    /// `GET /v1/applications/{app}/jobs`
    fn is_list(&self) -> bool {
        let s = self.segments();
        self.method == "GET" && s.len() == 4 && s[0] == "v1" && s[3] == "jobs" && s[2] != "jobs"
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = format!("{} {} HTTP/1.1\r\n", self.method, self.target).into_bytes();
        for (name, value) in &self.headers {
            let lower = name.to_ascii_lowercase();
            if lower == "connection" || lower == "content-length" || lower == "keep-alive" {
                continue;
            }
            out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
        }
        out.extend_from_slice(b"connection: close\r\n");
        out.extend_from_slice(format!("content-length: {}\r\n\r\n", self.body.len()).as_bytes());
        out.extend_from_slice(&self.body);
        out
    }
}

impl Response {
    fn status(&self) -> u16 {
        self.status_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }

    fn encode(&self, close: bool) -> Vec<u8> {
        let mut out = format!("{}\r\n", self.status_line).into_bytes();
        for (name, value) in &self.headers {
            let lower = name.to_ascii_lowercase();
            if lower == "connection"
                || lower == "content-length"
                || lower == "transfer-encoding"
                || lower == "keep-alive"
            {
                continue;
            }
            out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
        }
        let connection = if close { "close" } else { "keep-alive" };
        out.extend_from_slice(format!("connection: {connection}\r\n").as_bytes());
        out.extend_from_slice(format!("content-length: {}\r\n\r\n", self.body.len()).as_bytes());
        out.extend_from_slice(&self.body);
        out
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Splits a head (without the blank line) into its first line and headers.
fn parse_head(head: &[u8]) -> Option<(String, Vec<(String, String)>)> {
    let text = std::str::from_utf8(head).ok()?;
    let mut lines = text.split("\r\n");
    let first = lines.next()?.to_string();
    let headers = lines
        .filter(|l| !l.is_empty())
        .filter_map(|l| {
            let (n, v) = l.split_once(':')?;
            Some((n.trim().to_string(), v.trim().to_string()))
        })
        .collect();
    Some((first, headers))
}

fn find_blank_line(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n")
}

/// Reads one request (head and `content-length` body); `None` at EOF or on
/// garbage.
async fn read_request(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Request> {
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(at) = find_blank_line(buf) {
            break at;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let (first, headers) = parse_head(&buf[..head_end])?;
    let mut parts = first.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let length: usize = header(&headers, "content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let body_start = head_end + 4;
    while buf.len() < body_start + length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = buf[body_start..body_start + length].to_vec();
    buf.drain(..body_start + length);
    Some(Request {
        method,
        target,
        headers,
        body,
    })
}

/// Decodes a chunked body; `None` if it is cut short.
fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&data[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        if data.len() < size + 2 {
            return None;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

/// Sends `request` upstream on a fresh connection and reads the whole
/// answer; `None` when the upstream closed without a complete one.
async fn forward(upstream: SocketAddr, request: &Request) -> Option<Response> {
    let mut stream = TcpStream::connect(upstream).await.ok()?;
    let _ = stream.set_nodelay(true);
    stream.write_all(&request.encode()).await.ok()?;
    let mut data = Vec::new();
    if stream.read_to_end(&mut data).await.is_err() && data.is_empty() {
        return None;
    }
    let head_end = find_blank_line(&data)?;
    let (status_line, headers) = parse_head(&data[..head_end])?;
    let raw = &data[head_end + 4..];
    let body = if header(&headers, "transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    {
        dechunk(raw)?
    } else if let Some(length) = header(&headers, "content-length").and_then(|v| v.parse().ok()) {
        if raw.len() < length {
            return None;
        }
        raw[..length].to_vec()
    } else {
        raw.to_vec()
    };
    Some(Response {
        status_line,
        headers,
        body,
    })
}

async fn connection(mut stream: TcpStream, shared: Arc<Shared>) {
    let mut buf = Vec::new();
    loop {
        let Some(request) = read_request(&mut stream, &mut buf).await else {
            return;
        };
        shared.counters.requests.fetch_add(1, Ordering::SeqCst);
        let held = request.is_create() && hold(&shared);
        let answer = if held {
            // Forwarded from its own task after the delay, whatever the
            // client does meanwhile.
            let (tx, rx) = tokio::sync::oneshot::channel();
            let shared2 = shared.clone();
            let request2 = request.clone();
            let delay = shared.config.hold.map(|h| h.delay.div_f64(h.scale));
            tokio::spawn(async move {
                tokio::time::sleep(delay.unwrap_or_default()).await;
                let answer = forward(shared2.upstream, &request2).await;
                shared2
                    .counters
                    .held_forwarded
                    .fetch_add(1, Ordering::SeqCst);
                if tx.send(answer).is_err() {
                    shared2
                        .counters
                        .held_undelivered
                        .fetch_add(1, Ordering::SeqCst);
                }
            });
            // Wait for the answer, or for the client to hang up.
            let mut probe = [0u8; 1];
            tokio::select! {
                answer = rx => answer.ok().flatten(),
                _ = stream.read(&mut probe) => return,
            }
        } else if request.is_list()
            && (shared.config.oldest_first || shared.config.list_view.is_some())
        {
            oldest_first(&shared, &request).await
        } else {
            forward(shared.upstream, &request).await
        };
        let Some(answer) = answer else {
            return;
        };
        let close = shared.config.close_after_answer;
        if stream.write_all(&answer.encode(close)).await.is_err() || close {
            return;
        }
    }
}

/// Counts a create and tells whether it is one to hold.
fn hold(shared: &Shared) -> bool {
    let n = shared.counters.creates.fetch_add(1, Ordering::SeqCst);
    match shared.config.hold {
        Some(h) if n >= h.skip && n < h.skip + h.count => {
            shared.counters.held.fetch_add(1, Ordering::SeqCst);
            true
        }
        _ => false,
    }
}

/// Serves a list page oldest first: reads the whole list upstream (newest
/// first, 100 a page), reverses it and cuts the page asked for. An upstream
/// failure is passed on as it came.
async fn oldest_first(shared: &Shared, request: &Request) -> Option<Response> {
    let (path, query) = request
        .target
        .split_once('?')
        .unwrap_or((request.target.as_str(), ""));
    let params: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.to_string(), v.to_string())
        })
        .collect();
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.parse::<usize>().ok())
    };
    let offset = get("offset").unwrap_or(0);
    let limit = get("limit").unwrap_or(50).min(100);
    let others: Vec<String> = params
        .iter()
        .filter(|(k, _)| k != "offset" && k != "limit")
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let mut all: Vec<serde_json::Value> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut first: Option<(Response, serde_json::Value)> = None;
    let mut upstream_offset = 0;
    loop {
        let mut query = others.clone();
        query.push(format!("offset={upstream_offset}"));
        query.push("limit=100".to_string());
        let page_request = Request {
            target: format!("{path}?{}", query.join("&")),
            ..request.clone()
        };
        let page = forward(shared.upstream, &page_request).await?;
        if page.status() != 200 {
            return Some(page);
        }
        let Ok(json) = serde_json::from_slice::<serde_json::Value>(&page.body) else {
            return Some(page);
        };
        let items = json
            .get("result")
            .and_then(|r| r.as_array())
            .cloned()
            .unwrap_or_default();
        let n = items.len();
        for item in items {
            let id = item.get("id").map(|v| v.to_string()).unwrap_or_default();
            if seen.insert(id) {
                all.push(item);
            }
        }
        if first.is_none() {
            first = Some((page, json));
        }
        if n < 100 {
            break;
        }
        upstream_offset += n;
    }
    let (page, mut json) = first?;
    if shared.config.oldest_first {
        all.reverse();
    }
    if let Some(view) = &shared.config.list_view {
        all = (view.0)(all, offset, limit);
        // The list it serves counts its own jobs.
        if json.get("totalCount").is_some_and(|t| t.is_number()) {
            json["totalCount"] = serde_json::json!(all.len());
        }
    }
    let cut: Vec<serde_json::Value> = all.into_iter().skip(offset).take(limit).collect();
    json["result"] = serde_json::Value::Array(cut);
    json["pagination"] = serde_json::json!({"offset": offset, "limit": limit});
    shared
        .counters
        .reordered_pages
        .fetch_add(1, Ordering::SeqCst);
    Some(Response {
        body: serde_json::to_vec(&json).ok()?,
        ..page
    })
}

//! The API key is a secret: it never appears in `Debug` or `Display` of the
//! client or of any error (even when a server echoes the `Authorization`
//! header back), in tracing output at TRACE level, in the journal, or in
//! outcomes; `.env` problems never echo values; and plain `http://` to a
//! host that is not loopback is refused.
//!
//! One tracing subscriber at TRACE level writes everything of this test
//! binary to a buffer; every test greps the buffer for the key when done.

mod common;

mod hostile_server;

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use futures::StreamExt;
use hostile_server::{HostileServer, Reply};
use writer_jobs::batch::{Batch, Outcome, Row};
use writer_jobs::{
    Client, ClientBuilder, EnvSource, Error, Inputs, ListQuery, RetryPolicy, ScaledClock,
};
use writer_sim::{DurationDist, FaultConfig, Simulator};

/// The key every test uses. Long and distinctive, so any leak is found.
const KEY: &str = "sk-SECRET-0f1e2d3c4b5a69788796a5b4c3d2e1f0-do-not-print";

// ----- a TRACE subscriber writing to a buffer ------------------------------

#[derive(Clone)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn log() -> &'static Buffer {
    static LOG: OnceLock<Buffer> = OnceLock::new();
    LOG.get_or_init(|| {
        let buffer = Buffer(Arc::default());
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_span_events(tracing_subscriber::fmt::format::FmtSpan::FULL)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("one subscriber");
        buffer
    })
}

/// The log so far, checked for the key.
fn assert_log_clean() -> String {
    let text = String::from_utf8_lossy(&log().0.lock().unwrap()).to_string();
    assert!(
        !text.contains(KEY),
        "the key appears in the TRACE log: {}",
        context(&text, KEY)
    );
    text
}

fn context(text: &str, needle: &str) -> String {
    match text.find(needle) {
        Some(i) => {
            let mut start = i.saturating_sub(200);
            while !text.is_char_boundary(start) {
                start -= 1;
            }
            let mut end = (i + needle.len() + 100).min(text.len());
            while !text.is_char_boundary(end) {
                end += 1;
            }
            text[start..end].to_string()
        }
        None => String::new(),
    }
}

fn assert_clean(what: &str, text: &str) {
    assert!(
        !text.contains(KEY),
        "the key appears in {what}: {}",
        context(text, KEY)
    );
    // Not even a recognisable part of it.
    for part in KEY.split('-').filter(|p| p.len() >= 16) {
        assert!(
            !text.contains(part),
            "part of the key appears in {what}: {}",
            context(text, part)
        );
    }
}

fn assert_error_clean(what: &str, error: &Error) {
    assert_clean(what, &error.to_string());
    assert_clean(what, &format!("{error:?}"));
    assert_clean(what, &format!("{error:#?}"));
    let mut source = std::error::Error::source(error);
    while let Some(s) = source {
        assert_clean(what, &s.to_string());
        source = s.source();
    }
}

fn client_for(base_url: &str) -> Client {
    Client::builder()
        .api_key(KEY)
        .base_url(base_url)
        .clock(ScaledClock::new(1000.0))
        .request_timeout(Duration::from_secs(3000))
        .retry_policy(RetryPolicy::default().with_attempt_limit(2))
        .build()
        .expect("client")
}

fn inputs() -> Inputs {
    Inputs::new().text("Product name", "Terra")
}

async fn every_call(client: &Client) -> Vec<(&'static str, Result<String, Error>)> {
    vec![
        ("get", client.get_job("job-1").await.map(|j| j.id)),
        (
            "list",
            client
                .list_jobs_page("app", &ListQuery::default())
                .await
                .map(|p| p.jobs.len().to_string()),
        ),
        (
            "create",
            client.create_job("app", &inputs()).await.map(|c| c.id),
        ),
        ("retry", client.retry_job("job-1").await.map(|r| r.id)),
        ("app", client.get_application("app").await.map(|a| a.id)),
        (
            "run",
            client
                .run_application("app", &inputs())
                .await
                .map(|o| o.suggestion),
        ),
    ]
}

// ----- Debug and Display ---------------------------------------------------

#[test]
fn the_client_and_its_builder_never_print_the_key() {
    log();
    let builder = Client::builder()
        .api_key(KEY)
        .base_url("https://api.writer.com");
    assert_clean("ClientBuilder Debug", &format!("{builder:?}"));
    assert_clean("ClientBuilder Debug", &format!("{builder:#?}"));
    let client = builder.build().unwrap();
    assert_clean("Client Debug", &format!("{client:?}"));
    assert_clean("Client Debug", &format!("{client:#?}"));
    assert!(format!("{client:?}").contains("redacted"));
    let batch = Batch::new(client.clone(), "app");
    assert_clean("Batch Debug", &format!("{batch:?}"));
    // With the caller's own reqwest client (the key goes on each request).
    let shared = Client::builder()
        .api_key(KEY)
        .http_client(reqwest::Client::new())
        .build()
        .unwrap();
    assert_clean("Client Debug (shared http)", &format!("{shared:#?}"));
    let env = EnvSource::from_pairs([("WRITER_API_KEY", KEY)]);
    assert_clean("EnvSource Debug", &format!("{env:?}"));
    assert_clean("EnvSource describe", &env.describe("WRITER_API_KEY"));
    let from_env = ClientBuilder::default().env_source(env).build().unwrap();
    assert_clean("Client Debug (from env)", &format!("{from_env:#?}"));
    assert_log_clean();
}

#[test]
fn a_key_that_cannot_be_a_header_is_refused_without_echoing_it() {
    log();
    // (Leading and trailing whitespace is trimmed, as from a `.env` line.)
    for bad in [
        format!("{KEY}\nX-Injected: 1"),
        format!("{KEY}\r\n\r\nGET / HTTP/1.1"),
        format!("{KEY}\u{0}x"),
        format!("{KEY}\u{7f}"),
        format!("\"{KEY}\u{1b}"),
    ] {
        let error = Client::builder().api_key(&bad).build().expect_err(&format!(
            "not a header value: {:?}",
            bad.replace(KEY, "KEY")
        ));
        assert!(matches!(error, Error::Config(_)), "{error:?}");
        assert_error_clean("a refused key's error", &error);
    }
    assert_log_clean();
}

// ----- errors from a server that echoes the key ----------------------------

/// Bodies that echo the `Authorization` header in every place a client
/// might copy server text from.
fn echo_bodies(auth: &str) -> Vec<(u16, String)> {
    let json = |s: &str| serde_json::to_string(s).unwrap();
    let statuses = [200u16, 400, 401, 403, 404, 409, 422, 429, 500, 503];
    let mut bodies = Vec::new();
    for status in statuses {
        bodies.push((status, format!("{{\"message\":{}}}", json(auth))));
        bodies.push((
            status,
            format!(
                "{{\"errors\":[{{\"key\":{a},\"description\":{a}}}],\"code\":{a}}}",
                a = json(&format!("you sent {auth}"))
            ),
        ));
        bodies.push((status, format!("{{\"code\":{}}}", json(auth))));
        bodies.push((status, format!("plain text: Authorization: {auth}")));
        bodies.push((status, format!("<html>{auth}</html>")));
        // A 2xx shaped like a job, the key as its fields. (Within the
        // 300 bytes an error quotes: a key across the cut is a known gap,
        // see `a_key_straddling_the_snippet_cut_is_not_shown_in_part`.)
        bodies.push((
            status,
            format!(
                "{{\"id\":{a},\"status\":{a},\"created_at\":{a}}}",
                a = json(auth)
            ),
        ));
    }
    bodies
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_never_show_the_key_even_when_the_server_echoes_it() {
    log();
    let case = Arc::new(Mutex::new((0u16, String::new())));
    let current = case.clone();
    let server = HostileServer::start(move |request| {
        let auth = request.header("authorization").unwrap_or("").to_string();
        let (status, template) = current.lock().unwrap().clone();
        Reply::json(status, template.replace("{AUTH}", &auth))
    })
    .await;
    let client = client_for(&server.base_url());
    let mut checked = 0;
    for (status, body) in echo_bodies("{AUTH}") {
        *case.lock().unwrap() = (status, body.clone());
        for (op, result) in every_call(&client).await {
            match result {
                Ok(value) => assert_clean(&format!("the value of {op}"), &value),
                Err(error) => {
                    assert_error_clean(&format!("{op} on HTTP {status} with {body}"), &error);
                    checked += 1;
                }
            }
        }
    }
    // The server did receive the key: the echo was real.
    assert!(
        server
            .requests()
            .iter()
            .all(|r| r.header("authorization") == Some(&format!("Bearer {KEY}")))
    );
    assert!(checked > 300, "{checked} errors checked");
    assert_log_clean();
}

/// The same with a simple echo of the key as the whole body of 2xx and
/// errors, through the caller's own reqwest client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_never_show_the_key_with_a_shared_http_client() {
    log();
    let server = HostileServer::start(|request| {
        let auth = request.header("authorization").unwrap_or("").to_string();
        let status = if request.op() == "get" { 200 } else { 500 };
        Reply::json(status, format!("{{\"message\":\"{auth}\"}} {auth}"))
    })
    .await;
    let client = Client::builder()
        .api_key(KEY)
        .base_url(server.base_url())
        .http_client(
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        )
        .clock(ScaledClock::new(1000.0))
        .request_timeout(Duration::from_secs(3000))
        .build()
        .unwrap();
    for (op, result) in every_call(&client).await {
        let error = result.expect_err("echo is not a valid answer");
        assert_error_clean(op, &error);
    }
    assert_log_clean();
}

/// Transport errors (a refused connection) carry reqwest's messages, which
/// name the URL but never the headers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transport_errors_never_show_the_key() {
    log();
    // A port nobody listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let client = client_for(&format!("http://{addr}"));
    for (op, result) in every_call(&client).await {
        let error = result.expect_err("nobody listens");
        assert!(
            matches!(error, Error::Transport { connect: true, .. }),
            "{op}: {error:?}"
        );
        assert_error_clean(op, &error);
    }
    assert_log_clean();
}

// ----- places the key may slip through (known gaps) -------------------------

/// A second key for the known-gap tests, so that their leaks (when run with
/// `--ignored`) do not trip the shared TRACE-log check of the others.
const KEY2: &str = "sk-SECOND-aaaabbbbccccddddeeeeffff00001111";

fn client_with_key2(base_url: &str) -> Client {
    Client::builder()
        .api_key(KEY2)
        .base_url(base_url)
        .clock(ScaledClock::new(1000.0))
        .request_timeout(Duration::from_secs(3000))
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_request_id_that_echoes_the_key_is_scrubbed() {
    log();
    let server = HostileServer::start(|request| {
        let auth = request.header("authorization").unwrap_or("").to_string();
        Reply::with_headers(500, &[("x-request-id", &auth)], "{}")
    })
    .await;
    let client = client_with_key2(&server.base_url());
    for (op, result) in every_call(&client).await {
        let error = result.expect_err("500");
        let text = format!("{error} {error:?}");
        assert!(!text.contains(KEY2), "{op}: {text}");
    }
    // The request span records it too (writer-api hooks.rs).
    let log = String::from_utf8_lossy(&log().0.lock().unwrap()).to_string();
    assert!(!log.contains(KEY2), "{}", context(&log, KEY2));
}

#[tokio::test]
async fn a_redirect_location_that_echoes_the_key_is_scrubbed() {
    let server = HostileServer::start(|request| {
        let auth = request.header("authorization").unwrap_or("").to_string();
        let location = format!("https://evil.example.invalid/?token={}", &auth[7..]);
        Reply::with_headers(307, &[("location", &location)], "")
    })
    .await;
    let client = client_with_key2(&server.base_url());
    for (op, result) in every_call(&client).await {
        let error = result.expect_err("307");
        let text = format!("{error} {error:?}");
        assert!(!text.contains(KEY2), "{op}: {text}");
    }
}

#[tokio::test]
async fn a_key_straddling_the_snippet_cut_is_not_shown_in_part() {
    // The key starts 10 bytes before the 300-byte cut.
    let server = HostileServer::start(|request| {
        let auth = request.header("authorization").unwrap_or("").to_string();
        let key = auth.trim_start_matches("Bearer ").to_string();
        let body = format!("{}{key} trailing text", "x".repeat(290));
        let status = if request.op() == "get" { 200 } else { 500 };
        Reply::json(status, body)
    })
    .await;
    let client = client_with_key2(&server.base_url());
    let prefix = &KEY2[..10];
    for (op, result) in every_call(&client).await {
        let error = result.expect_err("not JSON");
        let text = format!("{error} {error:?}");
        assert!(
            !text.contains(prefix),
            "{op}: the first 10 bytes of the key are shown: {}",
            context(&text, prefix)
        );
    }
}

// ----- batch: TRACE log, journal, outcomes ----------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_with_faults_leaves_the_key_in_no_log_journal_or_outcome() {
    log();
    let faults = FaultConfig::parse_compact(
        "create:accept_then_drop=0.05,*:500=0.03,*:503=0.03,*:reset=0.02,*:malformed=0.03,\
         *:truncated=0.02,*:429_burst=0.01,*:slow=0.01,should_retry=mixed,slow_secs=120",
    )
    .unwrap();
    let sim = Simulator::builder()
        .api_key(KEY)
        .scale(500.0)
        .seed(5)
        .duration(DurationDist::Uniform {
            min_secs: 5.0,
            max_secs: 20.0,
        })
        .failure_rate(0.2)
        .faults(faults)
        .start()
        .await
        .unwrap();
    let client = common::sim_client(&sim)
        .request_timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    // A few single calls first (create, get, list, wait).
    let created = loop {
        match client
            .create_job("demo-product-descriptions", &inputs())
            .await
        {
            Ok(created) => break created,
            Err(error) => assert_error_clean("create", &error),
        }
    };
    for _ in 0..20 {
        if let Err(e) = client.get_job(&created.id).await {
            assert_error_clean("get", &e)
        }
        if let Err(e) = client
            .list_jobs_page("demo-product-descriptions", &ListQuery::default())
            .await
        {
            assert_error_clean("list", &e)
        }
    }
    // Unauthorized and not found: errors quoting the server.
    let wrong = Client::builder()
        .api_key(format!("{KEY}-wrong"))
        .base_url(sim.base_url())
        .build()
        .unwrap();
    for _ in 0..5 {
        if let Err(e) = wrong.get_job("nope").await {
            assert_error_clean("unauthorized", &e);
        }
    }
    // The batch, with a journal.
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("secrets.journal");
    let rows: Vec<Row> = (0..300)
        .map(|i| {
            Row::new(
                format!("row-{i}"),
                Inputs::new().text("Product name", format!("Secret-free #{i}")),
            )
        })
        .collect();
    let run = Batch::new(client.clone(), "demo-product-descriptions")
        .journal(&journal)
        .job_retries(2)
        .simulated(true)
        .max_server_hold(Duration::from_secs(10))
        .run(futures::stream::iter(rows))
        .await
        .unwrap();
    let outcomes: Vec<Outcome> = run.map(|o| o.expect("no batch error")).collect().await;
    assert_eq!(outcomes.len(), 300);
    let mut kinds: HashMap<&str, usize> = HashMap::new();
    for o in &outcomes {
        *kinds.entry(o.result.name()).or_default() += 1;
        assert_clean("an outcome (Debug)", &format!("{o:?}"));
        assert_clean("an outcome (JSON)", &serde_json::to_string(o).unwrap());
    }
    let journal_text = String::from_utf8_lossy(&std::fs::read(&journal).unwrap()).to_string();
    assert!(
        journal_text.lines().count() > 600,
        "the journal was written"
    );
    assert_clean("the journal", &journal_text);
    let stats = sim.stats();
    assert!(
        stats.faults.values().sum::<u64>() > 20,
        "{:?}",
        stats.faults
    );
    let text = assert_log_clean();
    // The log really is at TRACE level and saw the requests and the faults.
    assert!(text.contains("writer_api.request"), "request spans logged");
    assert!(text.contains("TRACE") || text.contains("DEBUG"));
    assert!(text.contains("retrying") || text.contains("ambiguous"));
    println!(
        "outcomes {kinds:?}; faults {:?}; {} bytes of TRACE log, {} bytes of journal, no key",
        stats.faults,
        text.len(),
        journal_text.len()
    );
}

// ----- .env ----------------------------------------------------------------

#[test]
fn dotenv_problems_never_echo_values() {
    log();
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        // No '=': the whole line is the key.
        format!("WRITER_API_KEY {KEY}\n"),
        // An unterminated quote.
        format!("WRITER_API_KEY='{KEY}\n"),
        format!("WRITER_API_KEY=\"{KEY}\n"),
        // A bad variable name holding the key.
        format!("{KEY}=1\n"),
        // A substitution that does not parse.
        format!("WRITER_API_KEY=${{{KEY}\n"),
        // The key on a malformed line before a good line for another variable.
        format!("export {KEY} oops\nWRITER_BASE_URL=https://api.writer.com\n"),
        // A key that is not a valid header value.
        format!("WRITER_API_KEY=\"{KEY}\\nX-Injected: 1\"\n"),
        // Binary junk around it.
        format!("\u{0}\u{1}WRITER_API_KEY {KEY} \u{7f}\n"),
    ];
    for (i, text) in cases.iter().enumerate() {
        let path = dir.path().join(format!("case-{i}.env"));
        std::fs::write(&path, text).unwrap();
        let source = EnvSource::none().with_dotenv_file(&path);
        assert_clean("EnvSource Debug", &format!("{source:?}"));
        assert_clean("EnvSource describe", &source.describe("WRITER_API_KEY"));
        match ClientBuilder::default().env_source(source).build() {
            Ok(client) => assert_clean("a client from .env", &format!("{client:?}")),
            Err(error) => assert_error_clean(&format!(".env case {i}"), &error),
        }
    }
    // A malformed line with the key next to a good one: the good one wins
    // and the warning about the bad one does not quote it.
    let path = dir.path().join("mixed.env");
    std::fs::write(
        &path,
        format!("WRITER_API_KEY {KEY}\nWRITER_API_KEY={KEY}\n"),
    )
    .unwrap();
    let client = ClientBuilder::default()
        .env_source(EnvSource::none().with_dotenv_file(&path))
        .build()
        .expect("the good line gives the key");
    assert_clean("a client from .env", &format!("{client:?}"));
    let text = assert_log_clean();
    assert!(
        text.contains("malformed .env line"),
        "the warning was logged"
    );
}

// ----- plain http:// -------------------------------------------------------

#[test]
fn plain_http_to_a_host_that_is_not_loopback_is_refused() {
    log();
    let refused = [
        "http://api.writer.com",
        "http://api.writer.com:80/",
        "HTTP://API.WRITER.COM",
        "http://10.0.0.1:8080",
        "http://192.168.1.20",
        "http://172.17.0.1",
        "http://0.0.0.0:8080",
        "http://8.8.8.8",
        "http://localhost.evil.com",
        "http://127.0.0.1.nip.io",
        "http://localhost@evil.com",
        "http://[::ffff:8.8.8.8]",
        "http://[fe80::1]",
        "http://[2001:db8::1]:8080",
        "ws://127.0.0.1",
        "ftp://127.0.0.1",
        "file:///etc/passwd",
        "https://user:password@api.writer.com",
        "https://:token@api.writer.com",
    ];
    for url in refused {
        for via_env in [false, true] {
            let builder = if via_env {
                ClientBuilder::default().env_source(EnvSource::from_pairs([
                    ("WRITER_API_KEY", KEY),
                    ("WRITER_BASE_URL", url),
                ]))
            } else {
                Client::builder().api_key(KEY).base_url(url)
            };
            let error = builder.build().expect_err(url);
            assert!(matches!(error, Error::Config(_)), "{url}: {error:?}");
            assert_error_clean(url, &error);
            // Credentials in the URL are never echoed either.
            assert!(!error.to_string().contains("password"), "{error}");
        }
    }
    let allowed = [
        "http://127.0.0.1:8080",
        "http://127.1.2.3",
        "http://localhost:1234",
        "http://LOCALHOST",
        "http://[::1]:9",
        "http://2130706433",
        "https://api.writer.com",
        "https://10.0.0.1",
    ];
    for url in allowed {
        Client::builder()
            .api_key(KEY)
            .base_url(url)
            .build()
            .unwrap_or_else(|e| panic!("{url}: {e}"));
    }
    assert_log_clean();
}

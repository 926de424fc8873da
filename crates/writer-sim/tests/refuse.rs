//! Refused connections: the server closes its listening socket (connects
//! get ECONNREFUSED) and listens again on the same port afterwards, by a
//! runtime switch or periodically in simulated time.

mod common;

use std::io::ErrorKind;
use std::time::Duration;

use common::{Client, DEMO, manual, product};
use reqwest::StatusCode;
use tokio::net::TcpStream;

/// Connects with a plain TCP socket: `Ok` when the server listens.
async fn connect(addr: std::net::SocketAddr) -> std::io::Result<()> {
    TcpStream::connect(addr).await.map(drop)
}

fn assert_refused(result: std::io::Result<()>) {
    let err = result.expect_err("the connect is refused");
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
}

#[tokio::test]
async fn switch_refuses_connections_then_listens_on_the_same_port() {
    let sim = manual().start().await.unwrap();
    let addr = sim.addr();
    let client = Client::new(&sim);
    connect(addr).await.unwrap();
    assert!(sim.is_accepting());

    sim.set_refusing(true).await;
    assert!(!sim.is_accepting());
    assert_refused(connect(addr).await);
    // reqwest sees a connect error too (a fresh client: no pooled connection).
    let fresh = reqwest::Client::new();
    let err = fresh
        .get(format!("{}/_sim/stats", sim.base_url()))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_connect(), "{err}");
    // Simulated time does not end a switched-on refusal.
    sim.advance(Duration::from_secs(3600));
    assert_refused(connect(addr).await);

    sim.set_refusing(false).await;
    assert!(sim.is_accepting());
    assert_eq!(sim.addr(), addr);
    connect(addr).await.unwrap();
    client.create_id(DEMO, &product("after")).await;
}

#[tokio::test]
async fn refusal_for_a_period_of_sim_time() {
    let sim = manual().start().await.unwrap();
    let addr = sim.addr();
    sim.refuse_for(Duration::from_secs(10)).await;
    assert_refused(connect(addr).await);
    sim.advance(Duration::from_secs(9));
    assert_refused(connect(addr).await);
    sim.advance(Duration::from_secs(1));
    sim.wait_accepting(true).await;
    connect(addr).await.unwrap();
    let fresh = Client::new(&sim);
    assert_eq!(fresh.list(DEMO, "").await.status, StatusCode::OK);
}

#[tokio::test]
async fn periodic_refusal_in_sim_time() {
    let sim = manual()
        .refuse_connections(Duration::from_secs(60), Duration::from_secs(10))
        .start()
        .await
        .unwrap();
    let addr = sim.addr();
    for cycle in 0..3 {
        // The first 50 s of each minute: listening.
        connect(addr).await.unwrap();
        sim.advance(Duration::from_secs(49));
        connect(addr).await.unwrap();
        // The last 10 s: refused.
        sim.advance(Duration::from_secs(1));
        sim.wait_accepting(false).await;
        assert_refused(connect(addr).await);
        sim.advance(Duration::from_secs(10));
        sim.wait_accepting(true).await;
        assert_eq!(sim.addr(), addr, "cycle {cycle}");
    }
    let client = Client::new(&sim);
    client.create_id(DEMO, &product("between windows")).await;
}

#[tokio::test]
async fn refusal_settings_in_toml_and_over_http() {
    #[cfg(feature = "toml")]
    {
        let config = writer_sim::SimConfig::from_toml(
            "refuse_every = { period = \"60s\", down = \"10ms\" }",
        )
        .unwrap();
        assert_eq!(
            config.refuse_every,
            Some(writer_sim::RefuseSchedule {
                period: Duration::from_secs(60),
                down: Duration::from_millis(10),
            })
        );
    }
    let err = manual()
        .refuse_connections(Duration::from_secs(1), Duration::from_secs(2))
        .start()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("refuse_every"), "{err}");

    // Over HTTP, for a simulator in another process: the answer comes on
    // the open connection; new connections are then refused.
    let sim = manual().start().await.unwrap();
    let client = Client::new(&sim);
    let answer = client
        .send(reqwest::Method::POST, "/_sim/refuse", Some(b"5s".to_vec()))
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    sim.wait_accepting(false).await;
    assert_refused(connect(sim.addr()).await);
    sim.advance(Duration::from_secs(5));
    sim.wait_accepting(true).await;
    connect(sim.addr()).await.unwrap();
    let answer = Client::new(&sim)
        .send(
            reqwest::Method::POST,
            "/_sim/refuse",
            Some(b"sideways".to_vec()),
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
}

/// With `keep_alive(false)` every answer closes its connection, so each
/// request connects anew (and meets refused connections); by default a
/// connection serves request after request.
#[tokio::test]
async fn keep_alive_off_closes_each_connection_after_its_answer() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    async fn two_requests_on_one_connection(addr: std::net::SocketAddr) -> (String, bool) {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let request = format!("GET /_sim/clock HTTP/1.1\r\nhost: {addr}\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut buf = vec![0u8; 4096];
        let n = stream.read(&mut buf).await.unwrap();
        let head = String::from_utf8_lossy(&buf[..n]).to_ascii_lowercase();
        // A second request on the same connection: answered, or the
        // connection was closed.
        let _ = stream.write_all(request.as_bytes()).await;
        let second = matches!(
            tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buf)).await,
            Ok(Ok(n)) if n > 0
        );
        (head, second)
    }
    let sim = manual().keep_alive(false).start().await.unwrap();
    let (head, second) = two_requests_on_one_connection(sim.addr()).await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("connection: close"), "{head}");
    assert!(!second, "the connection served a second request");

    let sim = manual().start().await.unwrap();
    let (head, second) = two_requests_on_one_connection(sim.addr()).await;
    assert!(!head.contains("connection: close"), "{head}");
    assert!(second, "a kept-alive connection serves a second request");
    #[cfg(feature = "toml")]
    assert!(
        !writer_sim::SimConfig::from_toml("keep_alive = false")
            .unwrap()
            .keep_alive
    );
}

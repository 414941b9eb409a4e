//! No exhaustion without a login: idle and trickling connections are capped per address and in
//! all, and closed when they miss the handshake or request-head deadline, so that a signed-in
//! user and an agent still get through.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::agents::{TestAgent, admin_org};
use crate::common::{TestServer, wait_for};

/// A TCP connection to the server from `source` (another loopback address), that sends nothing.
async fn idle_from(server: &SocketAddr, source: [u8; 4]) -> Option<TcpStream> {
    let socket = TcpSocket::new_v4().ok()?;
    socket.bind(SocketAddr::from((source, 0))).ok()?;
    socket.connect(*server).await.ok()
}

/// Whether the server closed `stream` (EOF or reset) within `within`.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 64];
    match tokio::time::timeout(within, stream.read(&mut buf)).await {
        Ok(Ok(0)) | Ok(Err(_)) => true,
        Ok(Ok(_)) => false,
        Err(_) => false,
    }
}

fn addr(server: &TestServer) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], server.port()))
}

#[tokio::test]
async fn idle_sockets_cannot_keep_a_user_or_an_agent_out() {
    let server = TestServer::start_with(&[
        ("SESSIONFORGE_CONNECTIONS__MAX", "120"),
        ("SESSIONFORGE_CONNECTIONS__MAX_PER_IP", "50"),
        ("SESSIONFORGE_CONNECTIONS__HANDSHAKE_TIMEOUT_SECS", "2"),
        ("SESSIONFORGE_CONNECTIONS__HEADER_TIMEOUT_SECS", "3"),
    ])
    .await;
    let org = admin_org(&server).await;
    let target = addr(&server);

    // 80 idle sockets from one address: only 50 are held, the rest are closed at once.
    let mut held = Vec::new();
    for _ in 0..80 {
        if let Some(s) = idle_from(&target, [127, 0, 0, 2]).await {
            held.push(s);
        }
    }
    let mut shut = 0;
    for s in &mut held {
        if closed_within(s, Duration::from_millis(10)).await {
            shut += 1;
        }
    }
    assert!(shut >= 30, "the per-address cap closes what is over it ({shut} closed)");
    // The user and an agent from another address are not affected.
    let me = server.get("/api/v1/auth/me", &org.admin).await;
    assert_eq!(me.status(), StatusCode::OK);
    let mut agent = TestAgent::enroll(&server, &org).await;
    agent.run(&server, &org).await;

    // Filling the global cap from more addresses (each within its per-address cap) blocks
    // newcomers only until the deadlines close the silent ones (3 s for a request head, 2 s
    // for a TLS handshake).
    let refused_before = refused(&server).await;
    for source in [[127, 0, 0, 3], [127, 0, 0, 4], [127, 0, 0, 5]] {
        for _ in 0..50 {
            if let Some(s) = idle_from(&target, source).await {
                held.push(s);
            }
        }
    }
    wait_for("a signed-in request to get through", Duration::from_secs(20), || async {
        let resp = server.client.get(server.url("/api/v1/auth/me")).headers(org.admin.headers()).send().await.ok()?;
        (resp.status() == StatusCode::OK).then_some(())
    })
    .await;
    for s in &mut held {
        assert!(closed_within(s, Duration::from_secs(10)).await, "every silent socket is closed by its deadline");
    }
    // Refusals while the cap was full (of the fill, or of the request until room was made).
    assert!(refused(&server).await > refused_before, "the global cap was reached");
    agent.wait_online(&server, &org, true).await;
    assert!(refused(&server).await >= 30);
}

/// Connections the server closed at once because a cap was reached, from `/metrics`.
async fn refused(server: &TestServer) -> u64 {
    let metrics = server.client.get(server.url("/metrics")).send().await.expect("metrics").text().await.expect("text");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("sessionforge_refused_connections_total "))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .expect("refused counter")
}

#[tokio::test]
async fn a_request_head_sent_a_byte_at_a_time_is_cut_off() {
    let server = TestServer::start_with(&[
        ("SESSIONFORGE_TLS__ENABLED", "false"),
        ("SESSIONFORGE_CONNECTIONS__HEADER_TIMEOUT_SECS", "2"),
    ])
    .await;
    let mut slow = TcpStream::connect(addr(&server)).await.expect("connect");
    slow.write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n").await.expect("write");
    let started = Instant::now();
    let mut cut = false;
    while started.elapsed() < Duration::from_secs(10) {
        if slow.write_all(b"X").await.is_err() || closed_within(&mut slow, Duration::from_millis(400)).await {
            cut = true;
            break;
        }
    }
    assert!(cut, "a trickled head must not hold its connection");
    assert!(started.elapsed() >= Duration::from_millis(1500), "not before its deadline");

    // A complete request on a kept-alive connection is served, and the next one may follow.
    let mut ok = TcpStream::connect(addr(&server)).await.expect("connect");
    for _ in 0..2 {
        ok.write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n").await.expect("write");
        let mut buf = vec![0u8; 4096];
        let n = ok.read(&mut buf).await.expect("read");
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&buf[..n]));
    }
    let health: Value = reqwest::get(server.url("/api/v1/health")).await.expect("get").json().await.expect("json");
    assert_eq!(health["status"], "ok", "{health}");
}

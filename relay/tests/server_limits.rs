//! The listener holds up under idle and slow clients (issue 18): a connection that sends
//! nothing or half a request head is closed after the header-read timeout, a slow body and
//! a slow answer end in a JSON 408, and at the connection cap new clients wait instead of
//! the relay failing `accept` for everyone.

mod common;

use std::time::{Duration, Instant};

use common::{fixture_with, Fixture};
use latch_relay::http::server::{serve, ServerLimits};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

async fn start(f: &Fixture, max_connections: usize, header_read_timeout: Duration) -> String {
    let limits = ServerLimits { max_connections, header_read_timeout, per_address: 0, trusted_proxies: vec![] };
    start_with(f, limits).await
}

async fn start_with(f: &Fixture, limits: ServerLimits) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(serve(listener, latch_relay::app(f.state.clone()), limits, std::future::pending()));
    addr
}

/// Reads until the peer closes; how long that took, and what was read.
async fn until_closed(s: &mut TcpStream, within: Duration) -> (Duration, String) {
    let started = Instant::now();
    let mut got = Vec::new();
    let read = tokio::time::timeout(within, async {
        let mut buf = [0u8; 4096];
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "still open after {within:?}");
    (started.elapsed(), String::from_utf8_lossy(&got).into_owned())
}

async fn healthz(addr: &str) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nhost: relay\r\nconnection: close\r\n\r\n").await.unwrap();
    until_closed(&mut s, Duration::from_secs(5)).await.1
}

#[tokio::test]
async fn silent_and_half_sent_connections_are_closed_after_the_header_read_timeout() {
    let f = fixture_with(|_| {}).await;
    let addr = start(&f, 100, Duration::from_millis(500)).await;
    let mut silent = TcpStream::connect(&addr).await.unwrap();
    let mut half = TcpStream::connect(&addr).await.unwrap();
    half.write_all(b"GET /healthz HTTP/1.1\r\nhost: relay\r\n").await.unwrap();
    let mut kept_alive = TcpStream::connect(&addr).await.unwrap();
    kept_alive.write_all(b"GET /healthz HTTP/1.1\r\nhost: relay\r\n\r\n").await.unwrap();
    for (name, conn) in [("silent", &mut silent), ("half-sent head", &mut half), ("idle keep-alive", &mut kept_alive)] {
        let (took, _) = until_closed(conn, Duration::from_secs(5)).await;
        assert!(took < Duration::from_secs(2), "{name}: closed after {took:?}");
    }
    assert!(healthz(&addr).await.starts_with("HTTP/1.1 200"), "the relay still answers");
}

#[tokio::test]
async fn a_request_in_flight_is_not_cut_by_the_idle_timeout() {
    // A long-poll outlasting several idle periods: answered (here by the request timeout,
    // 408 in the JSON shape), then the kept-alive connection closes once idle.
    let f = fixture_with(|c| c.request_timeout_ms = 1_500).await;
    let addr = start(&f, 100, Duration::from_millis(300)).await;
    let (code, issued) = f
        .call("POST", "/api/pairing/request", None, Some(serde_json::json!({"deviceId": "d1", "deviceName": "x"})))
        .await;
    assert_eq!(code, 201, "{issued}");
    let id = issued["challengeId"].as_str().unwrap();
    let mut s = TcpStream::connect(&addr).await.unwrap();
    let head = format!("GET /api/pairing/status?challengeId={id}&wait=20 HTTP/1.1\r\nhost: relay\r\n\r\n");
    s.write_all(head.as_bytes()).await.unwrap();
    let (took, answer) = until_closed(&mut s, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "cut after {took:?}: {answer:?}");
    assert!(answer.contains("request_timeout"), "{answer}");
    assert!(took >= Duration::from_millis(1_500), "{took:?}");
}

#[tokio::test]
async fn a_large_answer_read_slowly_arrives_whole_and_one_never_read_still_closes() {
    let f = fixture_with(|c| {
        c.limits.redeem_per_address = 0;
        c.inbox.per_binding_per_minute = 0;
    })
    .await;
    sqlx::query("UPDATE tenants SET captures = 1").execute(&f.state.db).await.unwrap();
    let (code, grant) = f.redeem(&f.mint("dana").await).await;
    assert_eq!(code, 200, "{grant}");
    let access = grant["accessToken"].as_str().unwrap();
    for _ in 0..4 {
        let page = serde_json::json!({"url": "https://example.com/", "title": "T", "text": "a".repeat(600_000)});
        let (code, b) = f.call("POST", "/api/inbox/v1/captures", Some(access), Some(page)).await;
        assert_eq!(code, 202, "{b}");
    }
    let addr = start(&f, 100, Duration::from_millis(300)).await;
    let drain =
        format!("GET /api/inbox/v1/captures HTTP/1.1\r\nhost: relay\r\nauthorization: Bearer {}\r\n\r\n", f.api_key);
    let small_window = || async {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        socket.connect(addr.parse().unwrap()).await.unwrap()
    };
    // ~2.4 MB read at ~1 MB/s: many idle periods long, yet never idle.
    let mut slow = small_window().await;
    slow.write_all(drain.as_bytes()).await.unwrap();
    let started = Instant::now();
    let mut got = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match tokio::time::timeout(Duration::from_secs(10), slow.read(&mut buf)).await.expect("answer stalled") {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
        if complete(&got) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(4)).await;
    }
    assert!(
        started.elapsed() > Duration::from_millis(900),
        "read in {:?}: too fast to prove anything",
        started.elapsed()
    );
    assert!(complete(&got), "cut after {} bytes in {:?}", got.len(), started.elapsed());
    // The same answer, never read: the connection still closes (on loopback the kernel's
    // send buffer takes the whole answer, so the close comes after it).
    let mut stuck = small_window().await;
    stuck.write_all(drain.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    until_closed(&mut stuck, Duration::from_secs(5)).await;
}

/// A whole HTTP/1.1 answer with a `content-length` is in `got`.
fn complete(got: &[u8]) -> bool {
    let text = String::from_utf8_lossy(got);
    let Some(end) = text.find("\r\n\r\n") else { return false };
    let length = text[..end]
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .and_then(|n| n.trim().parse::<usize>().ok())
        .expect("a content-length");
    got.len() >= end + 4 + length
}

#[tokio::test]
async fn at_the_connection_cap_new_clients_wait_and_are_served_when_a_slot_frees() {
    let f = fixture_with(|_| {}).await;
    let addr = start(&f, 3, Duration::from_secs(30)).await;
    let mut idle = Vec::new();
    for _ in 0..3 {
        idle.push(TcpStream::connect(&addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let waiting = tokio::spawn({
        let addr = addr.clone();
        async move { (healthz(&addr).await, Instant::now()) }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!waiting.is_finished(), "a fourth client was served past a cap of 3");
    let freed = Instant::now();
    drop(idle.pop());
    let (answer, served) = tokio::time::timeout(Duration::from_secs(5), waiting).await.unwrap().unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(served >= freed);
}

#[tokio::test]
async fn a_slow_body_and_a_slow_answer_end_in_a_json_error() {
    let f = fixture_with(|c| c.request_timeout_ms = 600).await;
    let addr = start(&f, 100, Duration::from_secs(30)).await;
    // A body that stops after 10 of its 100 bytes.
    let mut s = TcpStream::connect(&addr).await.unwrap();
    s.write_all(
        b"POST /api/pairing/request HTTP/1.1\r\nhost: relay\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"deviceI",
    )
    .await
    .unwrap();
    let (took, answer) = until_closed(&mut s, Duration::from_secs(5)).await;
    assert!(took < Duration::from_secs(2), "{took:?}");
    let status: u16 = answer.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    assert!(matches!(status, 400 | 408), "{answer}");

    // A long-poll longer than the request timeout: 408 in the JSON error shape.
    let (code, issued) = f
        .call("POST", "/api/pairing/request", None, Some(serde_json::json!({"deviceId": "d1", "deviceName": "x"})))
        .await;
    assert_eq!(code, 201, "{issued}");
    let id = issued["challengeId"].as_str().unwrap();
    let (code, body) = f.call("GET", &format!("/api/pairing/status?challengeId={id}&wait=20"), None, None).await;
    assert_eq!((code.as_u16(), body["error"].as_str()), (408, Some("request_timeout")), "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    let _: Value = body;
}

#[tokio::test]
async fn one_address_gets_only_its_share_and_a_trusted_proxy_is_exempt() {
    let f = fixture_with(|_| {}).await;
    let limits = |trusted: Vec<std::net::IpAddr>| ServerLimits {
        max_connections: 100,
        header_read_timeout: Duration::from_secs(30),
        per_address: 3,
        trusted_proxies: trusted,
    };
    let addr = start_with(&f, limits(vec![])).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(TcpStream::connect(&addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    // The fourth from the same address is closed before anything is read.
    let mut fourth = TcpStream::connect(&addr).await.unwrap();
    let _ = fourth.write_all(b"GET /healthz HTTP/1.1\r\nhost: relay\r\n\r\n").await;
    let (_, answer) = until_closed(&mut fourth, Duration::from_secs(5)).await;
    assert!(answer.is_empty(), "over its share but served: {answer}");
    drop(held.pop());
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(healthz(&addr).await.starts_with("HTTP/1.1 200"), "a place freed is usable again");

    // Behind a trusted proxy every client shares its address: no per-address share.
    let proxied = start_with(&f, limits(vec!["127.0.0.1".parse().unwrap()])).await;
    let mut many = Vec::new();
    for _ in 0..5 {
        many.push(TcpStream::connect(&proxied).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(healthz(&proxied).await.starts_with("HTTP/1.1 200"));
}

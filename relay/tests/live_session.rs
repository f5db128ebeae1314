//! The WebSocket session over a real socket: handshake rules, errands, revocation, and
//! what bounds a socket: frame sizes before `auth_ack`, unauthenticated sockets per
//! address, one socket per binding, the access token's expiry. Which socket an errand
//! goes to and takes its answer from: `errand_routing.rs`.

mod common;

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use common::ws::{authed, close_of, recv, round_trip, send, serve, serve_with_addr, Ws};
use common::{fixture, fixture_with, Fixture};
use futures_util::SinkExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_refuses_everything_before_auth_ack() {
    let f = fixture().await;
    let url = serve(&f).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    send(&mut ws, json!({"type": "errand_result", "id": "x", "ok": true})).await;
    assert_eq!(recv(&mut ws).await.unwrap()["code"], "hello_required");
    assert!(recv(&mut ws).await.is_none(), "closed");

    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    send(&mut ws, json!({"type": "hello"})).await;
    recv(&mut ws).await.unwrap();
    send(&mut ws, json!({"type": "auth", "accessToken": "forged"})).await;
    assert_eq!(recv(&mut ws).await.unwrap(), json!({"type": "error", "code": "invalid_access_token"}));
    assert!(recv(&mut ws).await.is_none(), "closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errands_round_trip_and_offline_is_504() {
    let f = fixture().await;
    let url = serve(&f).await;
    let (_, grant) = f.redeem(&f.mint("dana").await).await;
    let errand = json!({"userId": "dana", "kind": "ping", "params": {}});
    let (s, b) = f.call("POST", "/api/errands", Some(&f.api_key), Some(errand.clone())).await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::GATEWAY_TIMEOUT, Some("extension_offline")));

    let mut ws = authed(&url, grant["accessToken"].as_str().unwrap()).await;
    let extension = tokio::spawn(async move {
        let e = recv(&mut ws).await.unwrap();
        assert_eq!((e["type"].as_str(), e["kind"].as_str()), (Some("errand"), Some("ping")));
        send(
            &mut ws,
            json!({"type": "errand_result", "id": e["id"], "ok": true, "result": {"pong": true, "appName": "Acme"}}),
        )
        .await;
        ws
    });
    let (s, b) = f.call("POST", "/api/errands", Some(&f.api_key), Some(errand)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["result"], json!({"pong": true, "appName": "Acme"}));
    extension.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_the_binding_closes_its_socket_within_a_second() {
    let f = fixture().await;
    let url = serve(&f).await;
    let (_, grant) = f.redeem(&f.mint("dana").await).await;
    let mut ws = authed(&url, grant["accessToken"].as_str().unwrap()).await;
    let id = grant["binding"]["bindingId"].as_str().unwrap();
    let t = Instant::now();
    let (s, _) = f.call("DELETE", &format!("/api/bindings/{id}"), Some(&f.api_key), None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(recv(&mut ws).await.unwrap()["code"], "binding_revoked");
    assert!(recv(&mut ws).await.is_none());
    println!("revoke → socket closed: {:?}", t.elapsed());
    assert!(t.elapsed() < Duration::from_secs(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_over_4_kib_before_auth_ack_close_the_socket_and_after_it_up_to_64_kib_pass() {
    let f = fixture().await;
    let url = serve(&f).await;
    // A hello padded past 4 KiB: refused with 1009 before anything else happens.
    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    send(&mut ws, json!({"type": "hello", "pad": "x".repeat(5 * 1024)})).await;
    assert_eq!(recv(&mut ws).await.unwrap(), json!({"type": "error", "code": "frame_too_large"}));
    assert_eq!(close_of(&mut ws).await, Some((1009, "frame_too_large".into())));
    // A 200 KiB frame is refused from its header: the socket ends, nothing is answered.
    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    let _ = ws.send(Message::text(json!({"type": "hello", "pad": "x".repeat(200 * 1024)}).to_string())).await;
    assert_eq!(recv(&mut ws).await, None, "no hello back");
    // The same 4 KiB is allowed after auth_ack: a 10 KiB errand_result gets through.
    let (_, grant) = f.redeem(&f.mint("dana").await).await;
    let mut ws = authed(&url, grant["accessToken"].as_str().unwrap()).await;
    let big = "y".repeat(10 * 1024);
    let extension = tokio::spawn({
        let big = big.clone();
        async move {
            let e = recv(&mut ws).await.unwrap();
            send(&mut ws, json!({"type": "errand_result", "id": e["id"], "ok": true, "result": {"text": big}})).await;
            ws
        }
    });
    let (s, b) =
        f.call("POST", "/api/errands", Some(&f.api_key), Some(json!({"userId": "dana", "kind": "ping"}))).await;
    assert_eq!((s, b["result"]["text"].as_str()), (StatusCode::OK, Some(big.as_str())));
    extension.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_sockets_per_address_are_capped_until_they_authenticate() {
    let f = fixture_with(|c| c.unauthenticated_sockets_per_address = 3).await;
    let url = serve_with_addr(f.app.clone()).await;
    let (_, grant) = f.redeem(&f.mint("dana").await).await;
    let mut waiting = Vec::new();
    for _ in 0..3 {
        waiting.push(tokio_tungstenite::connect_async(&url).await.expect("under the cap").0);
    }
    match tokio_tungstenite::connect_async(&url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => {
            assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
            assert_eq!(res.headers().get("retry-after").map(|v| v.as_bytes()), Some(&b"1"[..]));
        }
        other => panic!("a fourth unauthenticated socket from one address: {:?}", other.map(|(_, r)| r.status())),
    }
    // One of them authenticates: it no longer counts, and a new socket is let in.
    let mut first = waiting.remove(0);
    send(&mut first, json!({"type": "hello"})).await;
    recv(&mut first).await.unwrap();
    send(&mut first, json!({"type": "auth", "accessToken": grant["accessToken"]})).await;
    assert_eq!(recv(&mut first).await.unwrap()["type"], "auth_ack");
    waiting.push(tokio_tungstenite::connect_async(&url).await.expect("an authenticated socket frees its place").0);
    // One that closes frees its place too (counted down when the server sees it end).
    drop(waiting.remove(0));
    let started = Instant::now();
    loop {
        match tokio_tungstenite::connect_async(&url).await {
            Ok((ws, _)) => break waiting.push(ws),
            Err(_) if started.elapsed() < Duration::from_secs(2) => tokio::time::sleep(Duration::from_millis(20)).await,
            Err(e) => panic!("a closed socket still counts: {e}"),
        }
    }
    let text = f.state.metrics.render();
    // At least the one refusal above (more if the closed socket's place took a retry).
    let refused =
        text.lines().find_map(|l| l.strip_prefix("latch_rate_limited_total{limit=\"unauthenticated_sockets\"} "));
    assert!(refused.and_then(|n| n.parse::<u64>().ok()).is_some_and(|n| n >= 1), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_socket_of_a_binding_closes_the_older_with_4409() {
    let f = fixture().await;
    let url = serve(&f).await;
    let (_, grant) = f.redeem(&f.mint("dana").await).await;
    let token = grant["accessToken"].as_str().unwrap();
    // One access token, twenty sockets one after another: each closes the one before.
    let mut older = authed(&url, token).await;
    for _ in 0..20 {
        let newer = authed(&url, token).await;
        assert_eq!(close_of(&mut older).await, Some((4409, "replaced".into())));
        older = newer;
    }
    // The survivor is the binding's socket: it gets the errand.
    let extension = tokio::spawn(async move {
        let e = recv(&mut older).await.unwrap();
        send(&mut older, json!({"type": "errand_result", "id": e["id"], "ok": true, "result": "last"})).await;
        older
    });
    let (s, b) =
        f.call("POST", "/api/errands", Some(&f.api_key), Some(json!({"userId": "dana", "kind": "ping"}))).await;
    assert_eq!((s, &b["result"]), (StatusCode::OK, &json!("last")), "{b}");
    extension.await.unwrap();
    assert!(f.state.metrics.render().contains("latch_sockets_replaced_total 20"));
}

async fn refresh(f: &Fixture, grant: &Value) -> Value {
    let (s, b) = f.call("POST", "/api/auth/refresh", None, Some(json!({"refreshToken": grant["refreshToken"]}))).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_ends_with_its_access_token_unless_an_auth_renews_it() {
    let f = fixture_with(|c| c.access_ttl_ms = 4_000).await;
    let url = serve(&f).await;
    let (_, dana) = f.redeem(&f.mint("dana").await).await;
    let (_, erin) = f.redeem(&f.mint("erin").await).await;
    let started = Instant::now();
    let mut lapsing = authed(&url, dana["accessToken"].as_str().unwrap()).await;
    let mut renewed = authed(&url, erin["accessToken"].as_str().unwrap()).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let fresh = refresh(&f, &erin).await;
    send(&mut renewed, json!({"type": "auth", "accessToken": fresh["accessToken"]})).await;
    let ack = recv(&mut renewed).await.unwrap();
    assert_eq!(
        (ack["type"].as_str(), ack["bindingId"].as_str()),
        (Some("auth_ack"), erin["binding"]["bindingId"].as_str())
    );
    // The first token's expiry (≤ 4 s after it was issued) passes: only the renewed socket lives on.
    assert_eq!(recv(&mut lapsing).await.unwrap(), json!({"type": "error", "code": "access_token_expired"}));
    assert_eq!(close_of(&mut lapsing).await, Some((4408, "access_token_expired".into())));
    let lapsed_after = started.elapsed();
    assert!(lapsed_after <= Duration::from_millis(4_500), "{lapsed_after:?}");
    tokio::time::sleep(Duration::from_millis(4_600).saturating_sub(started.elapsed())).await;
    round_trip(&mut renewed).await;
    // …until the fresh token's own expiry.
    assert_eq!(close_of(&mut renewed).await, Some((4408, "access_token_expired".into())));
    assert!(started.elapsed() >= Duration::from_secs(5), "{:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewing_auth_must_carry_a_token_of_the_same_binding() {
    let f = fixture().await;
    let url = serve(&f).await;
    let (_, dana) = f.redeem(&f.mint("dana").await).await;
    let (_, erin) = f.redeem(&f.mint("erin").await).await;
    for bad in [erin["accessToken"].clone(), json!("forged"), Value::Null] {
        let mut ws = authed(&url, dana["accessToken"].as_str().unwrap()).await;
        send(&mut ws, json!({"type": "auth", "accessToken": bad})).await;
        assert_eq!(recv(&mut ws).await.unwrap(), json!({"type": "error", "code": "invalid_access_token"}), "{bad}");
        assert_eq!(close_of(&mut ws).await, Some((4401, "invalid_access_token".into())), "{bad}");
    }
}

/// A second tenant for tests that need another app's binding.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_loses_its_socket_after_the_send_timeout() {
    let f = std::sync::Arc::new(fixture_with(|c| c.socket_send_timeout_ms = 300).await);
    let url = serve(&f).await;
    let (_, grant) = f.redeem(&f.mint("dana").await).await;
    // An extension with a tiny receive window that never reads after `auth_ack`.
    let addr = url.trim_start_matches("ws://").trim_end_matches("/api/session").parse().unwrap();
    let tcp = tokio::net::TcpSocket::new_v4().unwrap();
    tcp.set_recv_buffer_size(4096).unwrap();
    let stream = tokio_tungstenite::MaybeTlsStream::Plain(tcp.connect(addr).await.unwrap());
    let (mut ws, _) = tokio_tungstenite::client_async(&url, stream).await.unwrap();
    send(&mut ws, json!({"type": "hello"})).await;
    recv(&mut ws).await.unwrap();
    send(&mut ws, json!({"type": "auth", "accessToken": grant["accessToken"]})).await;
    assert_eq!(recv(&mut ws).await.unwrap()["type"], "auth_ack");
    assert_eq!(f.state.realtime.sockets.count(), 1);
    // The app sends 48 KiB errands, a wave of 16 every 20 ms, 12 MiB at most: they fill the
    // relay's send buffer (4 MiB here at most), and then a send waits for a reader that
    // never comes.
    let params = json!({"pad": "x".repeat(48 * 1024)});
    let started = Instant::now();
    let mut answers = Vec::new();
    while f.state.realtime.sockets.count() > 0 {
        assert!(started.elapsed() < Duration::from_secs(30), "a socket that stopped reading is still held");
        tokio::time::sleep(Duration::from_millis(20)).await;
        if answers.len() >= 256 {
            continue;
        }
        for _ in 0..16 {
            let (f, params) = (f.clone(), params.clone());
            answers.push(tokio::spawn(async move {
                let errand = json!({"userId": "dana", "kind": "fill", "params": params});
                f.call("POST", "/api/errands", Some(&f.api_key), Some(errand)).await.0
            }));
        }
    }
    println!("stopped reading → socket ended: {:?}", started.elapsed());
    // Well before the default 10 s: the configured 300 ms ended it, after the time to fill.
    assert!(started.elapsed() < Duration::from_secs(8), "{:?}", started.elapsed());
    // Every errand is answered (offline), none waits on the dead socket for its timeout.
    for answer in answers {
        let status = tokio::time::timeout(Duration::from_secs(5), answer).await.expect("answered").unwrap();
        assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
    }
    drop(ws);
}

/// Sends raw text (what `send` can't: arrays, repeated keys).
async fn send_text(ws: &mut Ws, text: &str) {
    ws.send(Message::text(text.to_owned())).await.unwrap();
}

/// A frame is a JSON object. An array spelling of a frame (`["hello"]`, which serde's
/// derive for tagged enums would read) is no frame: refused before `auth_ack`, ignored
/// after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_spelled_as_arrays_are_not_frames() {
    let f = fixture().await;
    let url = serve(&f).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    send_text(&mut ws, r#"["hello"]"#).await;
    assert_eq!(recv(&mut ws).await.unwrap(), json!({"type": "error", "code": "hello_required"}));
    assert!(recv(&mut ws).await.is_none(), "closed");

    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    send(&mut ws, json!({"type": "hello"})).await;
    recv(&mut ws).await.unwrap();
    let (_, grant) = f.redeem(&f.mint("dana").await).await;
    send_text(&mut ws, &json!(["auth", grant["accessToken"]]).to_string()).await;
    assert_eq!(recv(&mut ws).await.unwrap(), json!({"type": "error", "code": "auth_required"}));
    assert!(recv(&mut ws).await.is_none(), "closed");

    let mut ws = authed(&url, grant["accessToken"].as_str().unwrap()).await;
    send_text(&mut ws, r#"["ping"]"#).await;
    send(&mut ws, json!({"type": "ping"})).await;
    assert_eq!(recv(&mut ws).await.unwrap(), json!({"type": "pong"}), "one pong: the array got none");
    let quiet = tokio::time::timeout(Duration::from_millis(300), recv(&mut ws)).await;
    assert!(quiet.is_err(), "nothing more: {quiet:?}");
}

/// A repeated key keeps its last value, as a JSON value reads it: a renewing `auth` whose
/// last token is forged is refused and closes the socket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_key_counts_with_its_last_value() {
    let f = fixture().await;
    let url = serve(&f).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    send_text(&mut ws, r#"{"type":"nope","type":"hello"}"#).await;
    assert_eq!(recv(&mut ws).await.unwrap()["type"], "hello");

    let (_, grant) = f.redeem(&f.mint("dana").await).await;
    let token = grant["accessToken"].as_str().unwrap();
    let mut ws = authed(&url, token).await;
    send_text(&mut ws, &format!(r#"{{"type":"auth","accessToken":"{token}","accessToken":"forged"}}"#)).await;
    assert_eq!(recv(&mut ws).await.unwrap(), json!({"type": "error", "code": "invalid_access_token"}));
    assert_eq!(close_of(&mut ws).await, Some((4401, "invalid_access_token".into())));
}

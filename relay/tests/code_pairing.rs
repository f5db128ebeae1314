//! PROTOCOL §3 code pairing: request, status (long-poll, slow_down), approve/deny, pending.

mod common;

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use common::{fixture, fixture_with, Fixture};
use serde_json::{json, Value};

const ALPHABET: &str = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

async fn request(f: &Fixture, device: &str) -> (StatusCode, Value) {
    f.call("POST", "/api/pairing/request", None, Some(json!({"deviceId": device, "deviceName": "Chrome"}))).await
}

async fn status(f: &Fixture, id: &str, wait: u64) -> (StatusCode, Value) {
    f.call("GET", &format!("/api/pairing/status?challengeId={id}&wait={wait}"), None, None).await
}

async fn approve(f: &Fixture, code: &str) -> (StatusCode, Value) {
    f.call("POST", "/api/pairing/approve", Some(&f.api_key), Some(json!({"code": code, "userId": "dana"}))).await
}

#[tokio::test]
async fn request_issues_a_code_from_the_alphabet() {
    let f = fixture().await;
    let (s, b) = request(&f, "dev-1").await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let code = b["code"].as_str().unwrap();
    assert_eq!(code.len(), 8);
    assert!(code.chars().all(|c| ALPHABET.contains(c)), "{code}");
    assert!(b["challengeId"].as_str().unwrap().starts_with("lch_"));
    assert_eq!(b["interval"], 5);
    let now = latch_relay::clock::now_ms();
    let ttl = b["expiresAt"].as_u64().unwrap() - now;
    assert!((590_000..=600_000).contains(&ttl), "{ttl}");
    for bad in [json!({}), json!({"deviceId": "", "deviceName": "x"}), json!({"deviceId": 3, "deviceName": "x"})] {
        let (s, _) = f.call("POST", "/api/pairing/request", None, Some(bad)).await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
    }
}

#[tokio::test]
async fn at_most_three_pending_per_device() {
    let f = fixture().await;
    for _ in 0..3 {
        assert_eq!(request(&f, "dev-1").await.0, StatusCode::CREATED);
    }
    let (s, b) = request(&f, "dev-1").await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::TOO_MANY_REQUESTS, Some("max_pending")));
    assert_eq!(request(&f, "dev-2").await.0, StatusCode::CREATED);
}

#[tokio::test]
async fn requests_are_rate_limited_per_address() {
    let f = fixture_with(|c| c.limits.challenge_per_address = 4).await;
    for i in 0..4 {
        assert_eq!(request(&f, &format!("dev-{i}")).await.0, StatusCode::CREATED);
    }
    let (s, b) = request(&f, "dev-9").await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::TOO_MANY_REQUESTS, Some("rate_limited")));
    assert!(b["retryAfter"].as_u64().is_some_and(|r| (1..=60).contains(&r)), "{b}");
}

#[tokio::test]
async fn polling_faster_than_the_interval_slows_down() {
    let f = fixture().await;
    let (_, c) = request(&f, "dev-1").await;
    let id = c["challengeId"].as_str().unwrap();
    let (s, b) = status(&f, id, 0).await;
    assert_eq!((s, b["status"].as_str()), (StatusCode::OK, Some("pending")));
    let (s, b) = status(&f, id, 0).await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::TOO_MANY_REQUESTS, Some("slow_down")));
    assert_eq!(b["interval"], 10, "RFC 8628: +5 s");
    let (_, b) = status(&f, id, 0).await;
    assert_eq!(b["interval"], 15);
}

#[tokio::test]
async fn unknown_challenges_and_codes() {
    let f = fixture().await;
    let (s, b) = status(&f, "lch_nope", 0).await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::NOT_FOUND, Some("challenge_not_found")));
    for code in ["ABCD-2345", "nonsense", ""] {
        let (s, b) = approve(&f, code).await;
        assert_eq!((s, b["error"].as_str()), (StatusCode::NOT_FOUND, Some("code_not_found")), "{code}");
    }
    let (s, _) =
        f.call("POST", "/api/pairing/approve", None, Some(json!({"code": "ABCD2345", "userId": "dana"}))).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn approval_delivers_tokens_exactly_once() {
    let f = fixture_with(|c| c.poll_interval_ms = 0).await;
    let (_, c) = request(&f, "dev-1").await;
    let (id, code) = (c["challengeId"].as_str().unwrap(), c["code"].as_str().unwrap());
    let (s, p) = f.call("GET", "/api/pairing/pending", Some(&f.api_key), None).await;
    assert_eq!(s, StatusCode::OK);
    let shown = format!("{}-{}", &code[..4], &code[4..]);
    assert!(p["pending"].as_array().unwrap().iter().any(|x| x["code"] == shown.as_str()), "{p}");

    // Lower case with a dash is accepted.
    let (s, b) = approve(&f, &shown.to_lowercase()).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["binding"]["userId"], "dana");
    assert_eq!(b["binding"]["appName"], "Acme");
    let (s, b) = approve(&f, code).await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::NOT_FOUND, Some("code_not_found")), "approve once");

    let (s, b) = status(&f, id, 0).await;
    assert_eq!((s, b["status"].as_str()), (StatusCode::OK, Some("approved")), "{b}");
    assert!(latch::core::token::is_refresh_token(b["refreshToken"].as_str().unwrap()));
    let (s, me) = f.call("GET", "/api/me", b["accessToken"].as_str(), None).await;
    assert_eq!((s, me["userId"].as_str()), (StatusCode::OK, Some("dana")));
    let (s, _) = status(&f, id, 0).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "tokens are handed out once");
}

#[tokio::test]
async fn deny_and_expiry() {
    let f = fixture_with(|c| c.poll_interval_ms = 0).await;
    let (_, c) = request(&f, "dev-1").await;
    let (s, _) = f.call("POST", "/api/pairing/deny", Some(&f.api_key), Some(json!({"code": c["code"]}))).await;
    assert_eq!(s, StatusCode::OK);
    let (_, b) = status(&f, c["challengeId"].as_str().unwrap(), 0).await;
    assert_eq!(b["status"], "denied");

    let f = fixture_with(|c| {
        c.poll_interval_ms = 0;
        c.challenge_ttl_ms = 1;
    })
    .await;
    let (_, c) = request(&f, "dev-1").await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    let (s, b) = approve(&f, c["code"].as_str().unwrap()).await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::GONE, Some("code_expired")));
    let (_, b) = status(&f, c["challengeId"].as_str().unwrap(), 0).await;
    assert_eq!(b["status"], "expired");
}

/// A long-poll answers on the approval, not at the end of its 20 s wait. The bound is
/// loose on purpose: this checks the wake-up, not its speed (12–15 ms here, printed; a
/// shared CI machine once took 120 ms on PostgreSQL). Speed is BENCHMARKS.md's job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_poll_wakes_on_approval() {
    let f = std::sync::Arc::new(fixture().await);
    let (_, c) = request(&f, "dev-1").await;
    let id = c["challengeId"].as_str().unwrap().to_owned();
    let poller = {
        let f = f.clone();
        tokio::spawn(async move {
            let r = status(&f, &id, 20).await;
            (r, Instant::now())
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!poller.is_finished(), "still waiting while pending");
    let approved_at = Instant::now();
    assert_eq!(approve(&f, c["code"].as_str().unwrap()).await.0, StatusCode::OK);
    let ((s, b), answered_at) = poller.await.unwrap();
    assert_eq!((s, b["status"].as_str()), (StatusCode::OK, Some("approved")));
    let latency = answered_at.duration_since(approved_at);
    println!("long-poll wake latency: {latency:?}");
    assert!(latency < Duration::from_secs(1), "{latency:?}");
}

#[tokio::test]
async fn long_poll_returns_pending_at_its_deadline() {
    let f = fixture().await;
    let (_, c) = request(&f, "dev-1").await;
    let t = Instant::now();
    let (s, b) = status(&f, c["challengeId"].as_str().unwrap(), 1).await;
    assert_eq!((s, b["status"].as_str()), (StatusCode::OK, Some("pending")));
    assert!(t.elapsed() >= Duration::from_millis(950), "{:?}", t.elapsed());
}

/// An approval whose answer was lost (worker stopped mid long-poll, connection dropped):
/// a poll with `redeliver=1` gets the same binding and refresh token again, while that
/// token is unused. A plain poll still gets the documented 404.
#[tokio::test]
async fn a_lost_delivery_is_answered_again_only_when_asked_and_only_while_unused() {
    let f = fixture_with(|c| c.poll_interval_ms = 0).await;
    let (_, issued) = request(&f, "dev-1").await;
    let id = issued["challengeId"].as_str().unwrap();
    assert_eq!(approve(&f, issued["code"].as_str().unwrap()).await.0, StatusCode::OK);
    let (s, first) = status(&f, id, 0).await;
    assert_eq!((s, first["status"].as_str()), (StatusCode::OK, Some("approved")));
    // The answer never arrived.
    let (s, b) = status(&f, id, 0).await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::NOT_FOUND, Some("challenge_not_found")), "plain poll: 404");
    let again_path = format!("/api/pairing/status?challengeId={id}&wait=0&redeliver=1");
    let (s, again) = f.call("GET", &again_path, None, None).await;
    assert_eq!((s, again["status"].as_str()), (StatusCode::OK, Some("approved")), "{again}");
    assert_eq!(again["binding"], first["binding"]);
    assert_eq!(again["refreshToken"], first["refreshToken"]);
    let bindings = latch_relay::store::list_bindings(&f.state.db, Some("acme")).await.unwrap();
    assert_eq!(bindings.len(), 1, "never a second binding");
    // Someone else's challenge id gets nothing.
    let (s, _) = f.call("GET", "/api/pairing/status?challengeId=lch_guess&redeliver=1", None, None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // Once the refresh token was used, the answer evidently arrived: nothing more.
    let (s, _) = f.call("POST", "/api/auth/refresh", None, Some(json!({"refreshToken": first["refreshToken"]}))).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = f.call("GET", &again_path, None, None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

//! Abuse limits (issue 6): per-key limits on minting and code approval, per-address limits
//! on describe, redeem and code requests — each 429 `rate_limited` with `Retry-After` — and
//! the request body limit, answered as JSON. A limited request changes nothing.

mod common;

use axum::http::StatusCode;
use common::{fixture_with, Fixture};
use latch_relay::limits::LimitConfig;
use serde_json::{json, Value};

fn limited(f: &mut LimitConfig, n: usize) {
    *f = LimitConfig {
        mint_per_key: n,
        describe_per_address: n,
        redeem_per_address: n,
        challenge_per_address: n,
        approve_per_key: n,
        refresh_per_address: n,
        refresh_per_token: n,
        revoke_per_address: n,
        status_per_address: n,
        changes_per_binding: n,
    };
}

fn assert_rate_limited(status: StatusCode, body: &Value, what: &str) {
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::TOO_MANY_REQUESTS, Some("rate_limited")),
        "{what}: {body}"
    );
    let wait = body["retryAfter"].as_u64().unwrap_or(0);
    assert!((1..=60).contains(&wait), "{what}: retryAfter {wait}");
    assert!(body["message"].as_str().is_some_and(|m| m.starts_with("Too many")), "{what}");
}

async fn post(f: &Fixture, path: &str, bearer: Option<&str>, body: Value) -> (StatusCode, Value) {
    f.call("POST", path, bearer, Some(body)).await
}

#[tokio::test]
async fn minting_is_limited_per_api_key_and_a_limited_mint_creates_nothing() {
    let f = fixture_with(|c| limited(&mut c.limits, 3)).await;
    for _ in 0..3 {
        f.mint("dana").await;
    }
    let (s, b) = post(&f, "/pairing-tokens", Some(&f.api_key), json!({"userId": "dana"})).await;
    assert_rate_limited(s, &b, "mint");
    assert!(b.get("pairingToken").is_none());
    // Another key of the same tenant has its own budget.
    let (other, _) = latch_relay::db::create_api_key(&f.state.db, "acme", "Acme 2", 0).await.unwrap();
    let (s, _) = post(&f, "/pairing-tokens", Some(&other), json!({"userId": "dana"})).await;
    assert_eq!(s, StatusCode::CREATED);
    // A wrong key is refused as such, not counted against anyone.
    let (s, b) = post(&f, "/pairing-tokens", Some("lak_nope"), json!({"userId": "dana"})).await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("api_key_invalid")));
}

#[tokio::test]
async fn describe_and_redeem_are_limited_per_address_and_a_limited_redeem_spends_nothing() {
    let f = fixture_with(|c| limited(&mut c.limits, 2)).await;
    let token = f.mint("dana").await;
    for _ in 0..2 {
        let (s, _) = post(&f, "/pairing-tokens/describe", None, json!({"pairingToken": token})).await;
        assert_eq!(s, StatusCode::OK);
    }
    let (s, b) = post(&f, "/pairing-tokens/describe", None, json!({"pairingToken": token})).await;
    assert_rate_limited(s, &b, "describe");

    let spare = f.mint("erin").await;
    let unknown = "lpt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    for _ in 0..2 {
        assert_eq!(f.redeem(unknown).await.0, StatusCode::NOT_FOUND);
    }
    let (s, b) = f.redeem(&spare).await;
    assert_rate_limited(s, &b, "redeem");
    let row = latch_relay::db::pairing_token(&f.state.db, &latch_relay::secrets::token_hash(&f.state.pepper, &spare))
        .await
        .unwrap()
        .unwrap();
    assert!(!row.used, "a limited redeem must not spend the token");
}

#[tokio::test]
async fn code_requests_and_approvals_are_limited() {
    let f = fixture_with(|c| limited(&mut c.limits, 2)).await;
    for i in 0..2 {
        let (s, b) =
            post(&f, "/api/pairing/request", None, json!({"deviceId": format!("d{i}"), "deviceName": "x"})).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
    }
    let (s, b) = post(&f, "/api/pairing/request", None, json!({"deviceId": "d9", "deviceName": "x"})).await;
    assert_rate_limited(s, &b, "code request");

    // Guessing codes with an API key: two wrong guesses, then 429 even for a right one.
    for _ in 0..2 {
        let (s, _) =
            post(&f, "/api/pairing/approve", Some(&f.api_key), json!({"code": "AAAA-AAAA", "userId": "dana"})).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
    }
    let (s, b) =
        post(&f, "/api/pairing/approve", Some(&f.api_key), json!({"code": "BBBB-BBBB", "userId": "dana"})).await;
    assert_rate_limited(s, &b, "approve");
    let (s, b) = post(&f, "/api/pairing/deny", Some(&f.api_key), json!({"code": "BBBB-BBBB"})).await;
    assert_rate_limited(s, &b, "deny");
}

#[tokio::test]
async fn the_retry_after_header_matches_the_body() {
    let f = fixture_with(|c| limited(&mut c.limits, 1)).await;
    f.mint("dana").await;
    let req = axum::http::Request::builder()
        .method("POST")
        .uri("/pairing-tokens")
        .header("authorization", format!("Bearer {}", f.api_key))
        .header("content-type", "application/json")
        .body(axum::body::Body::from(r#"{"userId":"dana"}"#))
        .unwrap();
    let res = tower::ServiceExt::oneshot(f.app.clone(), req).await.unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let header: u64 = res.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&header));
}

#[tokio::test]
async fn oversized_bodies_are_refused_as_json_before_anything_is_read() {
    let f = fixture_with(|_| {}).await;
    let huge = format!(r#"{{"pairingToken":"{}"}}"#, "A".repeat(1 << 20));
    for path in ["/pairing-tokens/describe", "/pairing-tokens/redeem", "/api/pairing/request", "/api/auth/refresh"] {
        let (s, body) = f.raw("POST", path, None, Some(huge.clone())).await;
        assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{path}");
        let b: Value = serde_json::from_slice(&body).expect("a JSON error body");
        assert_eq!(b["error"], "payload_too_large", "{path}");
    }
}

/// An app route checks the API key before it reads the body: a caller without a valid key
/// gets 401 whatever it sends, and nothing of its body is buffered.
#[tokio::test]
async fn app_routes_refuse_a_missing_or_wrong_key_before_reading_the_body() {
    let f = fixture_with(|_| {}).await;
    let huge = format!(r#"{{"userId":"{}"}}"#, "A".repeat(1 << 20));
    for path in ["/pairing-tokens", "/api/errands", "/api/pairing/approve", "/api/pairing/deny"] {
        for key in [None, Some("lak_wrong")] {
            let (s, body) = f.raw("POST", path, key, Some(huge.clone())).await;
            assert_eq!(s, StatusCode::UNAUTHORIZED, "{path} {key:?}");
            let b: Value = serde_json::from_slice(&body).expect("a JSON error body");
            let expected = if key.is_none() { "api_key_required" } else { "api_key_invalid" };
            assert_eq!(b["error"], expected, "{path}");
        }
    }
}

#[tokio::test]
async fn refresh_revoke_and_status_are_limited_per_address_and_a_limited_refresh_rotates_nothing() {
    let f = fixture_with(|c| limited(&mut c.limits, 2)).await;
    let (_, grant) = f.redeem(&f.mint("dana").await).await;
    let refresh = grant["refreshToken"].as_str().unwrap().to_owned();
    let unknown = "lrt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    for _ in 0..2 {
        let (s, _) = post(&f, "/api/auth/refresh", None, json!({"refreshToken": unknown})).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    let (s, b) = post(&f, "/api/auth/refresh", None, json!({"refreshToken": refresh})).await;
    assert_rate_limited(s, &b, "refresh");

    for _ in 0..2 {
        let (s, _) = post(&f, "/api/auth/revoke", None, json!({"refreshToken": unknown})).await;
        assert_eq!(s, StatusCode::OK);
    }
    let (s, b) = post(&f, "/api/auth/revoke", None, json!({"refreshToken": refresh})).await;
    assert_rate_limited(s, &b, "revoke");

    for i in 0..2 {
        let (s, _) = f.call("GET", &format!("/api/pairing/status?challengeId=lch_nope{i}"), None, None).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
    }
    let (s, b) = f.call("GET", "/api/pairing/status?challengeId=lch_nope", None, None).await;
    assert_rate_limited(s, &b, "status");

    // Neither the limited refresh nor the limited revoke touched the session.
    let mut f2 = f;
    f2.state = latch_relay::AppState::new(f2.state.db.clone(), latch_relay::Config::new("http://localhost:8787"))
        .await
        .unwrap();
    f2.app = latch_relay::app(f2.state.clone());
    let (s, b) = post(&f2, "/api/auth/refresh", None, json!({"refreshToken": refresh})).await;
    assert_eq!(s, StatusCode::OK, "the token still rotates once limits allow: {b}");
}

#[tokio::test]
async fn one_refresh_token_is_limited_on_its_own_whatever_the_address() {
    let f = fixture_with(|c| {
        limited(&mut c.limits, 0);
        c.limits.refresh_per_token = 2;
    })
    .await;
    // Well-shaped tokens nobody holds, differing in their first character.
    let unknown = |i: u8| format!("lrt_{}{}", char::from(b'B' + i), "A".repeat(42));
    for i in 0..5 {
        let (s, _) = post(&f, "/api/auth/refresh", None, json!({"refreshToken": unknown(i)})).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "other tokens are not held back");
    }
    for _ in 0..2 {
        let (s, _) = post(&f, "/api/auth/refresh", None, json!({"refreshToken": unknown(9)})).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    let (s, b) = post(&f, "/api/auth/refresh", None, json!({"refreshToken": unknown(9)})).await;
    assert_rate_limited(s, &b, "refresh of one token");
}

//! Refresh rotation, lost-response retry, reuse detection, restart survival, key rotation.

mod common;

use axum::http::StatusCode;
use common::{fixture, Fixture};
use serde_json::{json, Value};

async fn paired(f: &Fixture) -> Value {
    let (s, grant) = f.redeem(&f.mint("dana").await).await;
    assert_eq!(s, StatusCode::OK);
    grant
}

async fn refresh(f: &Fixture, token: &str) -> (StatusCode, Value) {
    f.call("POST", "/api/auth/refresh", None, Some(json!({"refreshToken": token}))).await
}

#[tokio::test]
async fn refresh_rotates_and_the_new_access_token_works() {
    let f = fixture().await;
    let grant = paired(&f).await;
    let r0 = grant["refreshToken"].as_str().unwrap();
    let (s, b) = refresh(&f, r0).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let r1 = b["refreshToken"].as_str().unwrap();
    assert_ne!(r1, r0);
    assert!(latch_wire::token::is_refresh_token(r1));
    assert!(b["accessExpiresAt"].as_u64().unwrap() < b["refreshExpiresAt"].as_u64().unwrap());
    let (s, me) = f.call("GET", "/api/me", b["accessToken"].as_str(), None).await;
    assert_eq!((s, me["bindingId"].clone()), (StatusCode::OK, grant["binding"]["bindingId"].clone()));
    // Rotation continues.
    let (s, b2) = refresh(&f, r1).await;
    assert_eq!(s, StatusCode::OK);
    assert_ne!(b2["refreshToken"], b["refreshToken"]);
}

#[tokio::test]
async fn a_retry_after_a_lost_response_gets_the_same_successor() {
    let f = fixture().await;
    let r0 = paired(&f).await["refreshToken"].as_str().unwrap().to_owned();
    let (_, first) = refresh(&f, &r0).await;
    let (s, again) = refresh(&f, &r0).await;
    assert_eq!(s, StatusCode::OK, "{again}");
    assert_eq!(again["refreshToken"], first["refreshToken"]);
}

#[tokio::test]
async fn reuse_of_a_rotated_token_revokes_the_family() {
    let f = fixture().await;
    let grant = paired(&f).await;
    let r0 = grant["refreshToken"].as_str().unwrap();
    let (_, b1) = refresh(&f, r0).await;
    let r1 = b1["refreshToken"].as_str().unwrap();
    let (_, b2) = refresh(&f, r1).await; // the successor is now used: r0 is stale for good
    let (s, b) = refresh(&f, r0).await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("refresh_token_reused")));
    // The whole family is gone, and the binding with it.
    let (s, b) = refresh(&f, b2["refreshToken"].as_str().unwrap()).await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("refresh_token_revoked")));
    let (s, _) = f.call("GET", "/api/me", b2["accessToken"].as_str(), None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn invalid_and_revoked_tokens() {
    let f = fixture().await;
    for bad in ["nope", &latch_wire::token::encode_secret("lrt_", &[9; 32])] {
        let (s, b) = refresh(&f, bad).await;
        assert_eq!((s, b["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("refresh_token_invalid")), "{bad}");
    }
    let grant = paired(&f).await;
    let r0 = grant["refreshToken"].as_str().unwrap();
    f.call("POST", "/api/auth/revoke", None, Some(json!({"refreshToken": r0}))).await;
    let (s, b) = refresh(&f, r0).await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("refresh_token_revoked")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_refreshes_agree_on_one_successor() {
    let f = std::sync::Arc::new(fixture().await);
    let r0 = paired(&f).await["refreshToken"].as_str().unwrap().to_owned();
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let (f, t) = (f.clone(), r0.clone());
            tokio::spawn(async move { refresh(&f, &t).await })
        })
        .collect();
    let mut successors = std::collections::HashSet::new();
    for t in tasks {
        let (s, b) = t.await.unwrap();
        assert_eq!(s, StatusCode::OK, "{b}");
        successors.insert(b["refreshToken"].as_str().unwrap().to_owned());
    }
    assert_eq!(successors.len(), 1);
}

/// Sessions live in the database: a new relay process on the same database honours them.
#[tokio::test]
async fn refresh_sessions_survive_a_relay_restart() {
    let test_db = common::test_db().await;
    let url = &test_db.url;
    let grant = {
        let db = latch_relay::db::open(url).await.unwrap();
        let state = latch_relay::AppState::new(db, latch_relay::Config::new("http://localhost:8787")).await.unwrap();
        let f = common::fixture_on(state).await;
        let g = paired(&f).await;
        f.state.db.close().await;
        g
    };
    let db = latch_relay::db::open(url).await.unwrap();
    let state = latch_relay::AppState::new(db, latch_relay::Config::new("http://localhost:8787")).await.unwrap();
    let app = latch_relay::app(state);
    let f = common::Fixture::from_app(app);
    let (s, b) = f.call("POST", "/api/auth/refresh", None, Some(json!({"refreshToken": grant["refreshToken"]}))).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    // The generated signing key was kept too: the old access token still verifies.
    let (s, _) = f.call("GET", "/api/me", grant["accessToken"].as_str(), None).await;
    assert_eq!(s, StatusCode::OK);
}

#[test]
fn signing_key_rotation_keeps_old_tokens_until_the_previous_key_is_dropped() {
    use latch_relay::access::Signer;
    let now = latch_relay::clock::now_ms();
    let (old_token, _) = Signer::new("iss", b"old-key", None).issue("b", "t", "u", None, now, 60_000);
    assert!(Signer::new("iss", b"new-key", Some(b"old-key")).verify(&old_token).is_some());
    assert!(Signer::new("iss", b"new-key", None).verify(&old_token).is_none());
    let (expired, _) = Signer::new("iss", b"old-key", None).issue("b", "t", "u", None, now - 120_000, 60_000);
    assert!(Signer::new("iss", b"new-key", Some(b"old-key")).verify(&expired).is_none());
}

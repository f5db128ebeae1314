//! The token secret and pepper live outside the database and rotate without logging anyone
//! out (issue 18): a relay started with a new pepper and signing secret, the old ones kept
//! as previous, still rotates refresh tokens hashed under the old pepper, still accepts
//! access tokens signed with the old secret until they expire, and revokes by old tokens.

mod common;

use axum::http::StatusCode;
use common::{fixture_on, test_db, FixtureApp};
use latch_relay::secrets::TokenKeys;
use latch_relay::{app, db, AppState, Config};
use serde_json::json;

fn keys(pepper: u8, signing: u8, previous: Option<(u8, u8)>) -> TokenKeys {
    TokenKeys {
        pepper: vec![pepper; 32],
        previous_pepper: previous.map(|(p, _)| vec![p; 32]),
        signing: vec![signing; 32],
        previous_signing: previous.map(|(_, s)| vec![s; 32]),
        from_database: false,
    }
}

async fn relay(url: &str, k: TokenKeys) -> FixtureApp {
    let state = AppState::with_keys(db::open(url).await.unwrap(), Config::new("http://localhost:8787"), k).unwrap();
    FixtureApp { app: app(state) }
}

#[tokio::test]
async fn a_rotated_pepper_and_secret_log_nobody_out_and_the_old_ones_alone_are_refused() {
    let test_db = test_db().await;
    let before = AppState::with_keys(
        db::open(&test_db.url).await.unwrap(),
        Config::new("http://localhost:8787"),
        keys(1, 2, None),
    )
    .unwrap();
    let old = fixture_on(before).await;
    let mut grants = Vec::new();
    for user in ["dana", "erin", "finn"] {
        let (s, g) = old.redeem(&old.mint(user).await).await;
        assert_eq!(s, StatusCode::OK, "{g}");
        grants.push(g);
    }
    let token = |i: usize, k: &str| grants[i][k].as_str().unwrap().to_owned();

    // New keys without the previous ones: the old sessions are unknown to it.
    let forgetful = relay(&test_db.url, keys(3, 4, None)).await;
    let (s, b) = forgetful
        .call("POST", "/api/auth/refresh", None, Some(json!({"refreshToken": token(0, "refreshToken")})))
        .await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("refresh_token_invalid")), "{b}");
    let (s, _) = forgetful.call("GET", "/api/me", Some(&token(0, "accessToken")), None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    // New keys with the previous ones kept: everyone stays signed in.
    let rotated = relay(&test_db.url, keys(3, 4, Some((1, 2)))).await;
    let (s, me) = rotated.call("GET", "/api/me", Some(&token(0, "accessToken")), None).await;
    assert_eq!((s, me["userId"].as_str()), (StatusCode::OK, Some("dana")), "{me}");
    let (s, next) =
        rotated.call("POST", "/api/auth/refresh", None, Some(json!({"refreshToken": token(0, "refreshToken")}))).await;
    assert_eq!(s, StatusCode::OK, "{next}");
    let (s, again) =
        rotated.call("POST", "/api/auth/refresh", None, Some(json!({"refreshToken": next["refreshToken"]}))).await;
    assert_eq!(s, StatusCode::OK, "the successor is hashed under the new pepper: {again}");

    // Once rotated under the new keys, the previous pepper is no longer needed.
    let (s, _) =
        forgetful.call("POST", "/api/auth/refresh", None, Some(json!({"refreshToken": again["refreshToken"]}))).await;
    assert_eq!(s, StatusCode::OK);

    // Reuse detection still holds across the rotation: the first token again kills the family.
    let (s, b) =
        rotated.call("POST", "/api/auth/refresh", None, Some(json!({"refreshToken": token(0, "refreshToken")}))).await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("refresh_token_reused")), "{b}");

    // Revoke by a token hashed under the previous pepper.
    let (s, b) =
        rotated.call("POST", "/api/auth/revoke", None, Some(json!({"refreshToken": token(1, "refreshToken")}))).await;
    assert_eq!((s, b["revoked"].as_bool()), (StatusCode::OK, Some(true)), "{b}");
    let (s, b) =
        rotated.call("POST", "/api/auth/refresh", None, Some(json!({"refreshToken": token(1, "refreshToken")}))).await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("refresh_token_revoked")), "{b}");

    // An access token signed with a secret the relay never had is refused.
    let stranger = relay(&test_db.url, keys(5, 6, None)).await;
    let (s, _) = stranger.call("GET", "/api/me", Some(&token(2, "accessToken")), None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

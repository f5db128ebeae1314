//! A redeem whose answer was lost (relay killed after the commit, connection dropped, worker
//! stopped) is recovered by repeating it with the same redeem key: the same binding and
//! refresh token come back, never a second binding. Without the key, or with another key,
//! or once the refresh token was used or the binding revoked, the token stays spent.

mod common;

use axum::http::StatusCode;
use common::{fixture, Fixture};
use serde_json::{json, Value};

const KEY: &str = "lrk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
const OTHER_KEY: &str = "lrk_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBA";

async fn redeem_with(f: &Fixture, token: &str, key: Option<&str>) -> (StatusCode, Value) {
    let mut body = json!({"pairingToken": token, "deviceName": "Test browser"});
    if let Some(k) = key {
        body["redeemKey"] = json!(k);
    }
    f.call("POST", "/pairing-tokens/redeem", None, Some(body)).await
}

async fn bindings(f: &Fixture) -> usize {
    latch_relay::db::list_bindings(&f.state.db, Some("acme")).await.unwrap().len()
}

#[tokio::test]
async fn a_repeated_redeem_with_the_same_key_gets_the_same_binding_back() {
    let f = fixture().await;
    let token = f.mint("dana").await;
    let (s1, first) = redeem_with(&f, &token, Some(KEY)).await;
    assert_eq!(s1, StatusCode::OK, "{first}");
    // The answer is lost; the extension repeats the attempt.
    let (s2, again) = redeem_with(&f, &token, Some(KEY)).await;
    assert_eq!(s2, StatusCode::OK, "{again}");
    assert_eq!(again["binding"], first["binding"]);
    assert_eq!(again["refreshToken"], first["refreshToken"]);
    assert_eq!(bindings(&f).await, 1, "never a second binding");
    let (me, _) = f.call("GET", "/api/me", again["accessToken"].as_str(), None).await;
    assert_eq!(me, StatusCode::OK);
}

#[tokio::test]
async fn another_key_or_no_key_finds_the_token_spent() {
    let f = fixture().await;
    let token = f.mint("dana").await;
    assert_eq!(redeem_with(&f, &token, Some(KEY)).await.0, StatusCode::OK);
    for key in [Some(OTHER_KEY), None] {
        let (s, b) = redeem_with(&f, &token, key).await;
        assert_eq!((s, b["error"].as_str()), (StatusCode::CONFLICT, Some("token_used")), "{key:?}");
    }
    // A redeem without a key has nothing to repeat.
    let token = f.mint("erin").await;
    assert_eq!(redeem_with(&f, &token, None).await.0, StatusCode::OK);
    assert_eq!(redeem_with(&f, &token, Some(KEY)).await.0, StatusCode::CONFLICT);
    assert_eq!(bindings(&f).await, 2);
}

#[tokio::test]
async fn nothing_is_answered_again_once_the_refresh_token_was_used_or_the_binding_revoked() {
    let f = fixture().await;
    let token = f.mint("dana").await;
    let (_, first) = redeem_with(&f, &token, Some(KEY)).await;
    let (s, _) = f.call("POST", "/api/auth/refresh", None, Some(json!({"refreshToken": first["refreshToken"]}))).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(redeem_with(&f, &token, Some(KEY)).await.0, StatusCode::CONFLICT, "the answer evidently arrived");

    let token = f.mint("erin").await;
    let (_, first) = redeem_with(&f, &token, Some(KEY)).await;
    let id = first["binding"]["bindingId"].as_str().unwrap();
    let (s, _) = f.call("DELETE", &format!("/api/bindings/{id}"), Some(&f.api_key), None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(redeem_with(&f, &token, Some(KEY)).await.0, StatusCode::CONFLICT);
}

#[tokio::test]
async fn concurrent_attempts_with_one_key_agree_on_one_binding() {
    let f = fixture().await;
    let token = f.mint("dana").await;
    let answers = futures_util::future::join_all((0..20).map(|_| redeem_with(&f, &token, Some(KEY)))).await;
    let ids: std::collections::HashSet<String> = answers
        .iter()
        .map(|(s, b)| {
            assert_eq!(*s, StatusCode::OK, "{b}");
            b["binding"]["bindingId"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(ids.len(), 1);
    assert_eq!(bindings(&f).await, 1);
}

#[tokio::test]
async fn a_malformed_redeem_key_is_refused_before_anything_is_spent() {
    let f = fixture().await;
    let token = f.mint("dana").await;
    for key in ["", "lrk_short", "lpt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"] {
        let (s, b) = redeem_with(&f, &token, Some(key)).await;
        assert_eq!((s, b["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_redeem_key")), "{key}");
    }
    assert_eq!(redeem_with(&f, &token, Some(KEY)).await.0, StatusCode::OK);
}

#[tokio::test]
async fn the_key_counts_without_a_device_name_too() {
    let f = fixture().await;
    let token = f.mint("dana").await;
    let body = json!({"pairingToken": token, "redeemKey": KEY});
    let (s1, first) = f.call("POST", "/pairing-tokens/redeem", None, Some(body.clone())).await;
    assert_eq!(s1, StatusCode::OK, "{first}");
    let (s2, again) = f.call("POST", "/pairing-tokens/redeem", None, Some(body)).await;
    assert_eq!((s2, &again["binding"]), (StatusCode::OK, &first["binding"]));
}

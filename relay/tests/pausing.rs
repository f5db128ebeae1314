//! Pause without forgetting (PROTOCOL §10): the user pauses one app's connection; the
//! binding and its tokens stay, the app's errands are answered 409 `extension_paused`
//! (never delivered, even to a socket the paused browser kept open), and resuming brings
//! everything back.

mod common;

use axum::http::StatusCode;
use common::ws::{authed, recv, send, serve};
use common::{fixture, fixture_with, Fixture};
use serde_json::{json, Value};

async fn pair(f: &Fixture, user: &str) -> Value {
    let (s, grant) = f.redeem(&f.mint(user).await).await;
    assert_eq!(s, StatusCode::OK, "{grant}");
    grant
}

async fn set(f: &Fixture, grant: &Value, what: &str) -> (StatusCode, Value) {
    f.call("POST", &format!("/api/me/{what}"), grant["accessToken"].as_str(), Some(json!({}))).await
}

async fn errand(f: &Fixture, body: Value) -> (StatusCode, String) {
    let (s, b) = f.call("POST", "/api/errands", Some(&f.api_key), Some(body)).await;
    (s, b["error"].as_str().unwrap_or_default().to_owned())
}

async fn listed_paused(f: &Fixture, grant: &Value) -> bool {
    let (_, b) = f.call("GET", "/api/bindings", Some(&f.api_key), None).await;
    let row = b["bindings"].as_array().unwrap().iter().find(|r| r["bindingId"] == grant["binding"]["bindingId"]);
    row.and_then(|r| r["paused"].as_bool()).expect("listed with paused")
}

#[tokio::test]
async fn a_paused_binding_answers_extension_paused_until_resumed() {
    let f = fixture().await;
    let grant = pair(&f, "dana").await;
    let id = grant["binding"]["bindingId"].as_str().unwrap();
    let paused = (StatusCode::CONFLICT, "extension_paused".to_owned());
    let offline = (StatusCode::GATEWAY_TIMEOUT, "extension_offline".to_owned());
    assert!(!listed_paused(&f, &grant).await);

    let (s, b) = set(&f, &grant, "pause").await;
    assert_eq!((s, &b), (StatusCode::OK, &json!({"bindingId": id, "paused": true})));
    assert_eq!(set(&f, &grant, "pause").await.0, StatusCode::OK, "idempotent");
    assert!(listed_paused(&f, &grant).await);
    assert_eq!(errand(&f, json!({"userId": "dana", "kind": "ping"})).await, paused);
    assert_eq!(errand(&f, json!({"userId": "dana", "kind": "ping", "bindingId": id})).await, paused);
    // The tokens stay good: the browser can still call the relay (and resume).
    let (s, _) = f.call("GET", "/api/me", grant["accessToken"].as_str(), None).await;
    assert_eq!(s, StatusCode::OK);

    let (s, b) = set(&f, &grant, "resume").await;
    assert_eq!((s, &b), (StatusCode::OK, &json!({"bindingId": id, "paused": false})));
    assert!(!listed_paused(&f, &grant).await);
    assert_eq!(errand(&f, json!({"userId": "dana", "kind": "ping"})).await, offline);
}

#[tokio::test]
async fn one_paused_binding_of_several_leaves_the_others_reachable() {
    let f = fixture().await;
    let work = pair(&f, "dana").await;
    let home = pair(&f, "dana").await;
    set(&f, &home, "pause").await;
    // The other is merely offline: that is what the app hears.
    let offline = (StatusCode::GATEWAY_TIMEOUT, "extension_offline".to_owned());
    assert_eq!(errand(&f, json!({"userId": "dana", "kind": "ping"})).await, offline);
    set(&f, &work, "pause").await;
    let paused = (StatusCode::CONFLICT, "extension_paused".to_owned());
    assert_eq!(errand(&f, json!({"userId": "dana", "kind": "ping"})).await, paused);
    // Revoking one paused binding leaves the other's pause standing; revoking both: not paired.
    let refresh = home["refreshToken"].as_str().unwrap();
    f.call("POST", "/api/auth/revoke", None, Some(json!({"refreshToken": refresh}))).await;
    assert_eq!(errand(&f, json!({"userId": "dana", "kind": "ping"})).await, paused);
    let refresh = work["refreshToken"].as_str().unwrap();
    f.call("POST", "/api/auth/revoke", None, Some(json!({"refreshToken": refresh}))).await;
    let not_paired = (StatusCode::NOT_FOUND, "not_paired".to_owned());
    assert_eq!(errand(&f, json!({"userId": "dana", "kind": "ping"})).await, not_paired);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_errand_never_reaches_a_paused_binding_even_over_a_socket_it_kept() {
    let f = fixture().await;
    let url = serve(&f).await;
    let other = pair(&f, "dana").await;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let paused_one = pair(&f, "dana").await; // the newest: the rule would pick it, unpaused
    let mut kept = authed(&url, paused_one["accessToken"].as_str().unwrap()).await;
    let mut live = authed(&url, other["accessToken"].as_str().unwrap()).await;
    set(&f, &paused_one, "pause").await;
    let answer = tokio::spawn(async move {
        let e = recv(&mut live).await.unwrap();
        send(&mut live, json!({"type": "errand_result", "id": e["id"], "ok": true, "result": "from other"})).await;
        live
    });
    let (s, b) =
        f.call("POST", "/api/errands", Some(&f.api_key), Some(json!({"userId": "dana", "kind": "ping"}))).await;
    assert_eq!((s, &b["bindingId"]), (StatusCode::OK, &other["binding"]["bindingId"]), "{b}");
    answer.await.unwrap();
    // Named: refused, and nothing arrives on the paused binding's socket.
    let named = json!({"userId": "dana", "kind": "ping", "bindingId": paused_one["binding"]["bindingId"]});
    assert_eq!(errand(&f, named).await, (StatusCode::CONFLICT, "extension_paused".to_owned()));
    let nothing = tokio::time::timeout(std::time::Duration::from_millis(300), recv(&mut kept)).await;
    assert!(nothing.is_err() || nothing.unwrap().is_none(), "an errand reached the paused binding");
}

#[tokio::test]
async fn only_the_binding_s_own_live_access_token_pauses_it() {
    let f = fixture().await;
    let grant = pair(&f, "dana").await;
    for what in ["pause", "resume"] {
        let (s, b) = f.call("POST", &format!("/api/me/{what}"), None, Some(json!({}))).await;
        assert_eq!((s, b["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("access token required")));
        // The app can't pause its user's browser with its API key.
        let (s, b) = f.call("POST", &format!("/api/me/{what}"), Some(&f.api_key), Some(json!({}))).await;
        assert_eq!((s, b["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("access token invalid")));
    }
    let refresh = grant["refreshToken"].as_str().unwrap();
    f.call("POST", "/api/auth/revoke", None, Some(json!({"refreshToken": refresh}))).await;
    let (s, b) = set(&f, &grant, "pause").await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("access token invalid")));
}

#[tokio::test]
async fn pausing_counts_against_the_binding_s_change_budget() {
    let f = fixture_with(|c| c.limits.changes_per_binding = 2).await;
    let grant = pair(&f, "dana").await;
    assert_eq!(set(&f, &grant, "pause").await.0, StatusCode::OK);
    assert_eq!(set(&f, &grant, "resume").await.0, StatusCode::OK);
    let (s, b) = set(&f, &grant, "pause").await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::TOO_MANY_REQUESTS, Some("rate_limited")));
    assert!(!listed_paused(&f, &grant).await);
}

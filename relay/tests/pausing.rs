//! Pause without forgetting (PROTOCOL §10): the user pauses one app's connection; the
//! binding and its tokens stay, the app's errands are answered 409 `extension_paused`
//! (never delivered), its socket is closed and refused with `binding_paused` until the user
//! resumes, and the organization's binding can't be paused or renamed by its user.

mod common;

use axum::http::StatusCode;
use common::ws::{authed, close_of, recv, send, serve};
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
async fn an_errand_never_reaches_a_paused_binding_and_its_socket_is_closed() {
    let f = fixture().await;
    let url = serve(&f).await;
    let other = pair(&f, "dana").await;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let paused_one = pair(&f, "dana").await; // the newest: the rule would pick it, unpaused
    let mut kept = authed(&url, paused_one["accessToken"].as_str().unwrap()).await;
    let mut live = authed(&url, other["accessToken"].as_str().unwrap()).await;
    set(&f, &paused_one, "pause").await;
    // Closed by the relay, wherever it is (the re-check a revocation also runs).
    assert_eq!(close_of(&mut kept).await, Some((4401, "binding_paused".to_owned())));
    let answer = tokio::spawn(async move {
        let e = recv(&mut live).await.unwrap();
        send(&mut live, json!({"type": "errand_result", "id": e["id"], "ok": true, "result": "from other"})).await;
        live
    });
    let (s, b) =
        f.call("POST", "/api/errands", Some(&f.api_key), Some(json!({"userId": "dana", "kind": "ping"}))).await;
    assert_eq!((s, &b["bindingId"]), (StatusCode::OK, &other["binding"]["bindingId"]), "{b}");
    answer.await.unwrap();
    let named = json!({"userId": "dana", "kind": "ping", "bindingId": paused_one["binding"]["bindingId"]});
    assert_eq!(errand(&f, named).await, (StatusCode::CONFLICT, "extension_paused".to_owned()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_binding_s_socket_is_refused_until_it_is_resumed() {
    let f = fixture().await;
    let url = serve(&f).await;
    let grant = pair(&f, "dana").await;
    let access = grant["accessToken"].as_str().unwrap();
    set(&f, &grant, "pause").await;
    let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str()).await.unwrap();
    send(&mut ws, json!({"type": "hello"})).await;
    assert_eq!(recv(&mut ws).await.unwrap()["type"], "hello");
    send(&mut ws, json!({"type": "auth", "accessToken": access})).await;
    assert_eq!(recv(&mut ws).await.unwrap(), json!({"type": "error", "code": "binding_paused"}));
    assert_eq!(close_of(&mut ws).await, Some((4401, "binding_paused".to_owned())));
    set(&f, &grant, "resume").await;
    let mut ws = authed(&url, access).await;
    let answer = tokio::spawn(async move {
        let e = recv(&mut ws).await.unwrap();
        send(&mut ws, json!({"type": "errand_result", "id": e["id"], "ok": true, "result": "back"})).await;
    });
    let (s, b) =
        f.call("POST", "/api/errands", Some(&f.api_key), Some(json!({"userId": "dana", "kind": "ping"}))).await;
    assert_eq!((s, &b["result"]), (StatusCode::OK, &json!("back")), "{b}");
    answer.await.unwrap();
}

/// The organization's binding (enterprise auto-pair): its user can neither pause nor
/// rename it with a copy of its access token, as they can't revoke it.
#[tokio::test]
async fn the_organization_s_binding_is_not_the_user_s_to_pause_or_rename() {
    let f = fixture().await;
    let grant = pair(&f, "dana").await;
    let id = grant["binding"]["bindingId"].as_str().unwrap();
    sqlx::query("UPDATE bindings SET managed = 1 WHERE id = $1").bind(id).execute(&f.state.db).await.unwrap();
    for what in ["pause", "resume"] {
        let (s, b) = set(&f, &grant, what).await;
        assert_eq!((s, b["error"].as_str()), (StatusCode::FORBIDDEN, Some("managed_binding")), "{what}");
    }
    let rename = json!({"deviceName": "Mine now"});
    let (s, b) = f.call("PATCH", "/api/me/device", grant["accessToken"].as_str(), Some(rename)).await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::FORBIDDEN, Some("managed_binding")));
    let (_, b) = f.call("GET", "/api/bindings", Some(&f.api_key), None).await;
    assert_eq!((&b["bindings"][0]["paused"], &b["bindings"][0]["managed"]), (&json!(false), &json!(true)));
    assert_ne!(b["bindings"][0]["deviceName"], "Mine now");
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

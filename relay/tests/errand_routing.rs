//! Which binding an errand goes to (the named one, else the user's newest with a socket)
//! and that its answer is taken only from the socket it went to, over real sockets.

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use common::ws::{authed, recv, round_trip, send, serve, Ws};
use common::{fixture, Fixture};
use serde_json::{json, Value};

async fn globex(f: &Fixture) -> String {
    let tenant = latch_relay::db::Tenant {
        id: "globex".into(),
        name: "Globex".into(),
        origins: vec!["http://localhost:8789".into()],
        captures: false,
    };
    let now = latch_relay::clock::now_ms();
    latch_relay::db::create_tenant(&f.state.db, &tenant, now).await.unwrap();
    latch_relay::db::create_api_key(&f.state.db, "globex", "Globex", now).await.unwrap().0
}

async fn pair_with(f: &Fixture, api_key: &str, user: &str) -> Value {
    let (s, minted) = f.call("POST", "/pairing-tokens", Some(api_key), Some(json!({"userId": user}))).await;
    assert_eq!(s, StatusCode::CREATED, "{minted}");
    let (s, grant) = f.redeem(minted["pairingToken"].as_str().unwrap()).await;
    assert_eq!(s, StatusCode::OK, "{grant}");
    grant
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_errand_result_is_taken_only_from_the_socket_the_errand_went_to() {
    let f = fixture().await;
    let url = serve(&f).await;
    let globex_key = globex(&f).await;
    let dana = pair_with(&f, &f.api_key, "dana").await;
    let eve = pair_with(&f, &globex_key, "eve").await; // another tenant's browser
    let mut target = authed(&url, dana["accessToken"].as_str().unwrap()).await;
    let mut intruder = authed(&url, eve["accessToken"].as_str().unwrap()).await;
    let extension = tokio::spawn(async move {
        let e = recv(&mut target).await.unwrap();
        send(&mut intruder, json!({"type": "errand_result", "id": e["id"], "ok": true, "result": "forged"})).await;
        round_trip(&mut intruder).await; // the forged answer was read first
        send(&mut target, json!({"type": "errand_result", "id": e["id"], "ok": true, "result": "real"})).await;
        (target, intruder)
    });
    let (s, b) =
        f.call("POST", "/api/errands", Some(&f.api_key), Some(json!({"userId": "dana", "kind": "ping"}))).await;
    assert_eq!((s, &b["result"]), (StatusCode::OK, &json!("real")), "{b}");
    extension.await.unwrap();
    let text = f.state.metrics.render();
    assert!(text.contains("latch_errand_results_ignored_total{reason=\"other_socket\"} 1"), "{text}");
}

/// Answers the next errand on `ws` with `name`.
fn answer_as(mut ws: Ws, name: &'static str) -> tokio::task::JoinHandle<Ws> {
    tokio::spawn(async move {
        let e = recv(&mut ws).await.unwrap();
        send(&mut ws, json!({"type": "errand_result", "id": e["id"], "ok": true, "result": name})).await;
        ws
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errands_go_to_the_named_binding_or_else_the_users_newest() {
    let f = fixture().await;
    let url = serve(&f).await;
    let globex_key = globex(&f).await;
    let older = pair_with(&f, &f.api_key, "dana").await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    let newer = pair_with(&f, &f.api_key, "dana").await;
    let id = |g: &Value| g["binding"]["bindingId"].as_str().unwrap().to_owned();
    let older_ws = authed(&url, older["accessToken"].as_str().unwrap()).await;
    let newer_ws = authed(&url, newer["accessToken"].as_str().unwrap()).await;
    let errand = |binding: Option<String>| json!({"userId": "dana", "kind": "ping", "bindingId": binding});

    let newer_task = answer_as(newer_ws, "newer");
    let (s, b) = f.call("POST", "/api/errands", Some(&f.api_key), Some(errand(None))).await;
    assert_eq!(
        (s, &b["result"], b["bindingId"].as_str()),
        (StatusCode::OK, &json!("newer"), Some(id(&newer).as_str()))
    );
    let older_task = answer_as(older_ws, "older");
    let (s, b) = f.call("POST", "/api/errands", Some(&f.api_key), Some(errand(Some(id(&older))))).await;
    assert_eq!(
        (s, &b["result"], b["bindingId"].as_str()),
        (StatusCode::OK, &json!("older"), Some(id(&older).as_str()))
    );
    let (_older_ws, _newer_ws) = (older_task.await.unwrap(), newer_task.await.unwrap());

    // Bindings the caller may not name: another tenant's, another user's, one that never existed.
    let foreign = pair_with(&f, &globex_key, "dana").await;
    let erins = pair_with(&f, &f.api_key, "erin").await;
    for other in [id(&foreign), id(&erins), "bnd_nope".into()] {
        let (s, b) = f.call("POST", "/api/errands", Some(&f.api_key), Some(errand(Some(other.clone())))).await;
        assert_eq!((s, b["error"].as_str()), (StatusCode::NOT_FOUND, Some("not_paired")), "{other}: {b}");
        assert!(b["message"].is_string(), "{b}");
    }
    let (s, _) = f.call("DELETE", &format!("/api/bindings/{}", id(&older)), Some(&f.api_key), None).await;
    assert_eq!(s, StatusCode::OK);
    let (s, b) = f.call("POST", "/api/errands", Some(&f.api_key), Some(errand(Some(id(&older))))).await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::GONE, Some("binding_revoked")), "{b}");
}

/// Why an errand can't be delivered (PROTOCOL §10): a user who never paired with this app
/// is 404 `not_paired` — also when they paired with another app, which this one can't tell
/// — a paired user with no browser connected is 504 `extension_offline`, and once every
/// binding with this app is revoked the user is `not_paired` again.
#[tokio::test]
async fn an_undeliverable_errand_says_whether_the_user_is_paired_or_offline() {
    let f = fixture().await;
    let globex_key = globex(&f).await;
    let refusal = |key: String, user: &'static str| {
        let f = &f;
        async move {
            let errand = json!({"userId": user, "kind": "ping"});
            let (s, b) = f.call("POST", "/api/errands", Some(&key), Some(errand)).await;
            assert!(b["message"].is_string(), "{b}");
            (s, b["error"].as_str().unwrap_or_default().to_owned())
        }
    };
    let not_paired = (StatusCode::NOT_FOUND, "not_paired".to_owned());
    let offline = (StatusCode::GATEWAY_TIMEOUT, "extension_offline".to_owned());
    let acme = f.api_key.clone();

    assert_eq!(refusal(acme.clone(), "dana").await, not_paired);
    pair_with(&f, &globex_key, "dana").await;
    assert_eq!(refusal(acme.clone(), "dana").await, not_paired, "a pairing with another app doesn't count");
    assert_eq!(refusal(globex_key.clone(), "dana").await, offline);
    let grant = pair_with(&f, &acme, "dana").await;
    assert_eq!(refusal(acme.clone(), "dana").await, offline);
    assert_eq!(refusal(acme.clone(), "erin").await, not_paired, "another user of the same app");

    let id = grant["binding"]["bindingId"].as_str().unwrap();
    let (s, _) = f.call("DELETE", &format!("/api/bindings/{id}"), Some(&acme), None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(refusal(acme, "dana").await, not_paired, "revoked: not paired any more");
    assert_eq!(refusal(globex_key, "dana").await, offline, "the other app's binding stands");
}

/// Two bindings created in the same millisecond: the greater binding id wins, whichever was
/// inserted last.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bindings_created_in_the_same_millisecond_route_to_the_greater_id() {
    let f = fixture().await;
    let url = serve(&f).await;
    // Pair until the first binding of a user has the greater id (half the time): the
    // insertion order then disagrees with the rule.
    let (user, first, second) = loop {
        let user = format!("user-{}", latch_relay::secrets::new_id(""));
        let first = pair_with(&f, &f.api_key, &user).await;
        let second = pair_with(&f, &f.api_key, &user).await;
        if first["binding"]["bindingId"].as_str() > second["binding"]["bindingId"].as_str() {
            break (user, first, second);
        }
    };
    sqlx::query("UPDATE bindings SET created_at = 1700000000000 WHERE user_id = $1")
        .bind(&user)
        .execute(&f.state.db)
        .await
        .unwrap();
    let first_ws = authed(&url, first["accessToken"].as_str().unwrap()).await;
    let _second_ws = authed(&url, second["accessToken"].as_str().unwrap()).await;
    let first_task = answer_as(first_ws, "first");
    let (s, b) = f.call("POST", "/api/errands", Some(&f.api_key), Some(json!({"userId": user, "kind": "ping"}))).await;
    assert_eq!((s, &b["result"]), (StatusCode::OK, &json!("first")), "{b}");
    first_task.await.unwrap();
}

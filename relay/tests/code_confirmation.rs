//! Code pairing after an app's approval: tenants see and touch only the codes they
//! approved, and the browser user's confirm binds exactly once (retries with the same
//! redeem key after a lost answer get the same binding; concurrency never makes two).

mod common;

use std::collections::HashSet;
use std::sync::Arc;

use axum::http::StatusCode;
use common::{fixture_with, Fixture};
use latch_relay::clock::now_ms;
use latch_relay::db;
use serde_json::{json, Value};

const KEY: &str = "lrk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
const OTHER_KEY: &str = "lrk_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBA";

async fn fixture() -> Fixture {
    // 100 confirms come from one test address (the per-address limit is tested below);
    // polls are not the point here.
    fixture_with(|c| {
        c.poll_interval_ms = 0;
        c.limits.redeem_per_address = 0;
    })
    .await
}

/// Confirm and reject need no key (the challenge id is the credential), so guessing is held
/// to the redeem limit per address; a guessed id costs a read, not a write.
#[tokio::test]
async fn confirms_and_rejects_are_rate_limited_per_address() {
    let f = fixture_with(|c| c.limits.redeem_per_address = 3).await;
    for n in 0..3 {
        let path = if n % 2 == 0 { "/api/pairing/confirm" } else { "/api/pairing/reject" };
        let body = json!({"challengeId": format!("lch_guess{n}"), "redeemKey": KEY});
        let (s, b) = f.call("POST", path, None, Some(body)).await;
        assert_eq!((s, b["error"].as_str()), (StatusCode::NOT_FOUND, Some("challenge_not_found")), "{b}");
    }
    let (s, b) =
        f.call("POST", "/api/pairing/confirm", None, Some(json!({"challengeId": "lch_x", "redeemKey": KEY}))).await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::TOO_MANY_REQUESTS, Some("rate_limited")), "{b}");
}

/// A code requested by a browser: `(challengeId, code)`.
async fn requested(f: &Fixture, device: &str) -> (String, String) {
    let body = json!({"deviceId": device, "deviceName": "Chrome"});
    let (s, c) = f.call("POST", "/api/pairing/request", None, Some(body)).await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    (c["challengeId"].as_str().unwrap().to_owned(), c["code"].as_str().unwrap().to_owned())
}

async fn approve_as(f: &Fixture, key: &str, code: &str, user: &str) -> (StatusCode, Value) {
    f.call("POST", "/api/pairing/approve", Some(key), Some(json!({"code": code, "userId": user}))).await
}

async fn deny_as(f: &Fixture, key: &str, code: &str) -> (StatusCode, Value) {
    f.call("POST", "/api/pairing/deny", Some(key), Some(json!({"code": code}))).await
}

async fn confirm(f: &Fixture, id: &str, key: &str) -> (StatusCode, Value) {
    f.call("POST", "/api/pairing/confirm", None, Some(json!({"challengeId": id, "redeemKey": key}))).await
}

async fn status_of(f: &Fixture, id: &str) -> String {
    let (s, b) = f.call("GET", &format!("/api/pairing/status?challengeId={id}"), None, None).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b["status"].as_str().unwrap().to_owned()
}

async fn pending_for(f: &Fixture, key: &str) -> Vec<Value> {
    let (s, b) = f.call("GET", "/api/pairing/pending", Some(key), None).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b["pending"].as_array().unwrap().clone()
}

/// Every binding on the relay, any tenant.
async fn all_bindings(f: &Fixture) -> usize {
    db::list_bindings(&f.state.db, None).await.unwrap().len()
}

/// A second tenant, "globex", and its API key.
async fn globex_key(f: &Fixture) -> String {
    let t = db::Tenant {
        id: "globex".into(),
        name: "Globex".into(),
        origins: vec!["https://globex.example".into()],
        captures: false,
    };
    db::create_tenant(&f.state.db, &t, now_ms()).await.unwrap();
    db::create_api_key(&f.state.db, "globex", "Globex", now_ms()).await.unwrap().0
}

#[tokio::test]
async fn another_tenant_sees_nothing_and_cannot_take_or_cancel_a_code() {
    let f = fixture().await;
    let globex = globex_key(&f).await;
    let acme = f.api_key.clone();
    let (unapproved_id, unapproved) = requested(&f, "dev-1").await;
    let (approved_id, approved) = requested(&f, "dev-2").await;
    let (s, b) = approve_as(&f, &acme, &approved, "dana").await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");

    assert_eq!(pending_for(&f, &globex).await, Vec::<Value>::new(), "neither unapproved nor acme's codes");
    assert_eq!(pending_for(&f, &acme).await.len(), 1, "acme sees only the code it approved");

    let (s, b) = approve_as(&f, &globex, &approved, "dana").await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::CONFLICT, Some("code_already_approved")), "{b}");
    for code in [&approved, &unapproved] {
        let (s, b) = deny_as(&f, &globex, code).await;
        assert_eq!((s, b["error"].as_str()), (StatusCode::NOT_FOUND, Some("code_not_found")), "{code}");
    }
    let (s, b) = deny_as(&f, &acme, &unapproved).await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::NOT_FOUND, Some("code_not_found")), "unapproved: {b}");
    assert_eq!(status_of(&f, &approved_id).await, "awaiting_confirmation");
    assert_eq!(status_of(&f, &unapproved_id).await, "pending");

    let (s, b) = approve_as(&f, &acme, &approved, "erin").await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::CONFLICT, Some("code_already_approved")), "another user");
    let (s, b) = approve_as(&f, &acme, &approved, "dana").await;
    assert_eq!(
        (s, b),
        (StatusCode::ACCEPTED, json!({"status": "awaiting_confirmation", "appName": "Acme", "userId": "dana"})),
        "the same approval again (lost answer)"
    );
    let (_, b) = f.call("GET", &format!("/api/pairing/status?challengeId={approved_id}"), None, None).await;
    assert_eq!((b["tenantId"].as_str(), b["userId"].as_str()), (Some("acme"), Some("dana")), "still acme's: {b}");

    // Globex approves the unapproved code for itself: the browser sees globex asking.
    let (s, b) = approve_as(&f, &globex, &unapproved, "gus").await;
    assert_eq!((s, b["appName"].as_str()), (StatusCode::ACCEPTED, Some("Globex")), "{b}");
    let (_, b) = f.call("GET", &format!("/api/pairing/status?challengeId={unapproved_id}"), None, None).await;
    assert_eq!((b["tenantId"].as_str(), b["appOrigin"].as_str()), (Some("globex"), Some("https://globex.example")));
    assert_eq!(pending_for(&f, &acme).await.len(), 1, "acme still sees only its own");
    assert_eq!(all_bindings(&f).await, 0, "approvals bind nothing");
}

/// A confirm whose answer was lost: the same redeem key gets the same binding and refresh
/// token while that token is unused; another key, or the same once the token was used,
/// gets 409. Never a second binding.
#[tokio::test]
async fn a_lost_confirm_answer_is_given_again_only_for_the_same_key_while_unused() {
    let f = fixture().await;
    let (id, code) = requested(&f, "dev-1").await;
    assert_eq!(approve_as(&f, &f.api_key, &code, "dana").await.0, StatusCode::ACCEPTED);
    let (s, first) = confirm(&f, &id, KEY).await;
    assert_eq!(s, StatusCode::OK, "{first}");
    let (s, again) = confirm(&f, &id, KEY).await;
    assert_eq!(s, StatusCode::OK, "{again}");
    assert_eq!(again["binding"], first["binding"]);
    assert_eq!(again["refreshToken"], first["refreshToken"]);
    let (s, b) = confirm(&f, &id, OTHER_KEY).await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::CONFLICT, Some("not_awaiting_confirmation")), "another key");
    let (s, _) = f.call("POST", "/api/auth/refresh", None, Some(json!({"refreshToken": first["refreshToken"]}))).await;
    assert_eq!(s, StatusCode::OK);
    let (s, b) = confirm(&f, &id, KEY).await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::CONFLICT, Some("not_awaiting_confirmation")), "used: {b}");
    assert_eq!(all_bindings(&f).await, 1, "never a second binding");
}

/// 100 concurrent confirms of one challenge with one key (one extension retrying): all get
/// the same binding. With 100 different keys: exactly one wins. One binding either way.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hundred_concurrent_confirms_bind_exactly_once() {
    let f = Arc::new(fixture().await);
    let (id, code) = requested(&f, "dev-1").await;
    assert_eq!(approve_as(&f, &f.api_key, &code, "dana").await.0, StatusCode::ACCEPTED);
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let (f, id) = (f.clone(), id.clone());
            tokio::spawn(async move { confirm(&f, &id, KEY).await })
        })
        .collect();
    let mut ids = HashSet::new();
    for t in tasks {
        let (s, b) = t.await.unwrap();
        assert_eq!(s, StatusCode::OK, "{b}");
        ids.insert(b["binding"]["bindingId"].as_str().unwrap().to_owned());
    }
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(all_bindings(&f).await, 1);

    let (id, code) = requested(&f, "dev-2").await;
    assert_eq!(approve_as(&f, &f.api_key, &code, "erin").await.0, StatusCode::ACCEPTED);
    let tasks: Vec<_> = (0..100)
        .map(|n| {
            let (f, id) = (f.clone(), id.clone());
            let key = format!("lrk_{n:0>42}A"); // the last character carries no data bits
            tokio::spawn(async move { confirm(&f, &id, &key).await })
        })
        .collect();
    let (mut ok, mut conflict) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            (StatusCode::OK, _) => ok += 1,
            (StatusCode::CONFLICT, b) if b["error"] == "not_awaiting_confirmation" => conflict += 1,
            (s, b) => panic!("unexpected {s} {b}"),
        }
    }
    assert_eq!((ok, conflict), (1, 99));
    assert_eq!(all_bindings(&f).await, 2);
}

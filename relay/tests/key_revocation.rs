//! Issue 18 item 6: a revoked API key's pairing tokens and code approvals stop working the
//! moment `latch-relay key revoke` commits on the same database — read in the statement that
//! describes, redeems or confirms, never from what a running relay remembers of the key.
//! Runs on SQLite and, under tests/support/with-postgres.sh, on PostgreSQL.

mod common;

use axum::http::StatusCode;
use common::{fixture_with, Fixture};
use latch_relay::clock::now_ms;
use latch_relay::db;
use serde_json::{json, Value};

const KEY: &str = "lrk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

async fn fixture() -> Fixture {
    fixture_with(|c| {
        c.poll_interval_ms = 0;
        c.limits.redeem_per_address = 0;
        c.limits.describe_per_address = 0;
    })
    .await
}

async fn describe(f: &Fixture, token: &str) -> (StatusCode, Value) {
    f.call("POST", "/pairing-tokens/describe", None, Some(json!({"pairingToken": token}))).await
}

async fn binding_count(f: &Fixture) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM bindings").fetch_one(&f.state.db).await.unwrap()
}

/// The revocation as the owner's CLI makes it: another process, same database. The serving
/// relay is not told (no `revocations.bump()`), and its API-key cache still holds the key.
async fn revoke_from_the_cli(f: &Fixture, key_id: &str) {
    assert!(db::revoke_api_key(&f.state.db, key_id, now_ms()).await.unwrap());
}

#[tokio::test]
async fn a_revoked_keys_pairing_tokens_stop_describing_and_redeeming_at_once() {
    let f = fixture().await;
    let used = f.mint("dana").await;
    let (s, grant) = f.redeem(&used).await;
    assert_eq!(s, StatusCode::OK, "{grant}");
    let (to_describe, to_redeem, unnamed) = (f.mint("dana").await, f.mint("dana").await, f.mint("eve").await);
    // A token minted before names were stored (migration 0006) takes the other redeem path.
    let hash = latch_relay::secrets::token_hash(&f.state.pepper, &unnamed);
    sqlx::query("UPDATE pairing_tokens SET app_name = NULL WHERE hash = $1")
        .bind(&hash[..])
        .execute(&f.state.db)
        .await
        .unwrap();
    let (other_key, other_id) = db::create_api_key(&f.state.db, "acme", "Acme 2", now_ms()).await.unwrap();
    let (s, b) = f.call("POST", "/pairing-tokens", Some(&other_key), Some(json!({"userId": "fay"}))).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let others = b["pairingToken"].as_str().unwrap().to_owned();
    let (s, _) = describe(&f, &to_describe).await;
    assert_eq!(s, StatusCode::OK, "describes while the key is active");
    let bindings_before = binding_count(&f).await;

    revoke_from_the_cli(&f, &f.key_id).await;

    let (s, b) = describe(&f, &to_describe).await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::GONE, Some("token_revoked")), "{b}");
    assert!(b["message"].as_str().is_some_and(|m| !m.is_empty()));
    for token in [&to_redeem, &unnamed, &to_describe] {
        let (s, b) = f.redeem(token).await;
        assert_eq!((s, b["error"].as_str()), (StatusCode::GONE, Some("token_revoked")), "{b}");
        let body = json!({"pairingToken": token, "deviceName": "Chrome", "redeemKey": KEY});
        let (s, b) = f.call("POST", "/pairing-tokens/redeem", None, Some(body)).await;
        assert_eq!((s, b["error"].as_str()), (StatusCode::GONE, Some("token_revoked")), "{b}");
    }
    assert_eq!(binding_count(&f).await, bindings_before, "nothing was bound");
    // A token used before the revocation stays used; its binding stays (PROTOCOL: "existing
    // bindings stay").
    let (s, b) = describe(&f, &used).await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::CONFLICT, Some("token_used")));
    let (s, _) = f.call("GET", "/api/me", grant["accessToken"].as_str(), None).await;
    assert_eq!(s, StatusCode::OK);
    // Another key of the same tenant is untouched.
    let (s, b) = f.redeem(&others).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let _ = other_id;
}

async fn requested(f: &Fixture, device: &str) -> (String, String) {
    let body = json!({"deviceId": device, "deviceName": "Chrome"});
    let (s, c) = f.call("POST", "/api/pairing/request", None, Some(body)).await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    (c["challengeId"].as_str().unwrap().to_owned(), c["code"].as_str().unwrap().to_owned())
}

async fn approve(f: &Fixture, key: &str, code: &str) -> (StatusCode, Value) {
    f.call("POST", "/api/pairing/approve", Some(key), Some(json!({"code": code, "userId": "dana"}))).await
}

async fn confirm(f: &Fixture, id: &str) -> (StatusCode, Value) {
    f.call("POST", "/api/pairing/confirm", None, Some(json!({"challengeId": id, "redeemKey": KEY}))).await
}

async fn status_of(f: &Fixture, id: &str) -> String {
    let (s, b) = f.call("GET", &format!("/api/pairing/status?challengeId={id}"), None, None).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b["status"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_code_approved_with_a_key_revoked_before_the_users_approve_binds_nothing() {
    let f = fixture().await;
    let (id, code) = requested(&f, "dev-1").await;
    let (s, b) = approve(&f, &f.api_key, &code).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    assert_eq!(status_of(&f, &id).await, "awaiting_confirmation");

    revoke_from_the_cli(&f, &f.key_id).await;

    // The revocation withdrew the approval: the waiting browser hears `denied`.
    assert_eq!(status_of(&f, &id).await, "denied");
    let (s, b) = confirm(&f, &id).await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::CONFLICT, Some("not_awaiting_confirmation")), "{b}");
    assert_eq!(binding_count(&f).await, 0);
}

#[tokio::test]
async fn an_approval_that_raced_the_revocation_is_refused_at_confirm() {
    let f = fixture().await;
    let (id, code) = requested(&f, "dev-1").await;
    let (s, _) = approve(&f, &f.api_key, &code).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    revoke_from_the_cli(&f, &f.key_id).await;
    // An approval committed beside the revocation, so the revocation's sweep missed it.
    sqlx::query("UPDATE challenges SET status = 'awaiting_confirmation'").execute(&f.state.db).await.unwrap();
    let (s, b) = confirm(&f, &id).await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::CONFLICT, Some("not_awaiting_confirmation")), "{b}");
    assert_eq!(binding_count(&f).await, 0);
    assert_eq!(status_of(&f, &id).await, "denied", "converged to what the sweep does");

    // A key revoked while the relay still remembers it as active can't approve either.
    let (id, code) = requested(&f, "dev-2").await;
    let (s, b) = approve(&f, &f.api_key, &code).await;
    assert_ne!(s, StatusCode::ACCEPTED, "{b}");
    assert_eq!(status_of(&f, &id).await, "pending");
}

#[tokio::test]
async fn the_owners_approval_is_no_keys_and_outlives_key_revocations() {
    let f = fixture().await;
    let (id, code) = requested(&f, "dev-1").await;
    let approved = latch_relay::http::code_approval::approve_code(&f.state.db, &code, "acme", "dana", None, None)
        .await
        .map_err(|e| e.code)
        .unwrap();
    assert_eq!(approved.reply.user_id, "dana");
    revoke_from_the_cli(&f, &f.key_id).await;
    let (s, b) = confirm(&f, &id).await;
    assert_eq!(s, StatusCode::OK, "{b}");
}

/// The revoked-key check in the redeem gate is one primary-key probe, not a scan of every
/// API key on each redeem (it runs inside SQLite's one writer). SQLite's plan, read back.
#[tokio::test]
async fn the_redeem_gate_probes_the_minting_key_instead_of_scanning_all_keys() {
    if common::on_postgres() {
        return; // EXPLAIN QUERY PLAN is SQLite's; PostgreSQL plans the same EXISTS as a probe.
    }
    use sqlx::Row;
    let test_db = common::test_db().await;
    let db = latch_relay::db::open(&test_db.url).await.unwrap();
    let plan: Vec<String> = sqlx::query(&format!("EXPLAIN QUERY PLAN {}", db::redeem::CONSUME_PAIRING_TOKEN))
        .bind(1_i64)
        .bind("hash")
        .fetch_all(&db)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<String, _>("detail"))
        .collect();
    assert!(plan.iter().any(|step| step.contains("api_keys") && step.starts_with("SEARCH")), "{plan:?}");
    assert!(!plan.iter().any(|step| step.starts_with("SCAN")), "{plan:?}");
}

/// `latch-relay key revoke --all --tenant acme`: every key of that tenant, each with its
/// awaiting approvals withdrawn, and nothing of another tenant's. Again: nothing left to do.
#[tokio::test]
async fn revoking_all_of_a_tenants_keys_withdraws_each_ones_approvals_and_nothing_else() {
    let f = fixture().await;
    let (second_key, _) = db::create_api_key(&f.state.db, "acme", "Acme 2", now_ms()).await.unwrap();
    let beta = db::Tenant { id: "beta".into(), name: "Beta".into(), origins: vec![], captures: false };
    db::create_tenant(&f.state.db, &beta, now_ms()).await.unwrap();
    let (beta_key, _) = db::create_api_key(&f.state.db, "beta", "Beta", now_ms()).await.unwrap();
    let mut ids = Vec::new();
    for (device, key) in [("dev-1", &f.api_key), ("dev-2", &second_key), ("dev-3", &beta_key)] {
        let (id, code) = requested(&f, device).await;
        let (s, b) = approve(&f, key, &code).await;
        assert_eq!(s, StatusCode::ACCEPTED, "{b}");
        ids.push(id);
    }

    assert_eq!(db::revoke_tenant_api_keys(&f.state.db, "acme", now_ms()).await.unwrap(), 2);
    assert_eq!(status_of(&f, &ids[0]).await, "denied");
    assert_eq!(status_of(&f, &ids[1]).await, "denied");
    assert_eq!(status_of(&f, &ids[2]).await, "awaiting_confirmation", "another tenant's approval stands");
    let active = |key: &str| {
        let id = db::api_key_id(key).unwrap();
        let db = f.state.db.clone();
        async move { db::active_api_key(&db, &id).await.unwrap().is_some() }
    };
    assert!(!active(&f.api_key).await && !active(&second_key).await, "both acme keys revoked");
    assert!(active(&beta_key).await, "beta's key untouched");

    assert_eq!(db::revoke_tenant_api_keys(&f.state.db, "acme", now_ms()).await.unwrap(), 0, "idempotent");
    assert_eq!(db::revoke_tenant_api_keys(&f.state.db, "nobody", now_ms()).await.unwrap(), 0);
}

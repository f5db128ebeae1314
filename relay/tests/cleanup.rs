//! Issue 18 item 7: the cleanup removes what expired past the retention (and revoked
//! bindings with their sessions) and keeps everything still usable; two passes at once
//! don't get in each other's way. Driven with its own clock (`cleanup::run_once(state,
//! now)`), on SQLite and, under tests/support/with-postgres.sh, on PostgreSQL.

mod common;

use axum::http::StatusCode;
use common::{fixture_with, Fixture};
use latch_relay::cleanup::{self, BATCH};
use latch_relay::clock::now_ms;
use serde_json::{json, Value};

const HOUR: u64 = 3_600_000;
const DAY: u64 = 24 * HOUR;
const KEY: &str = "lrk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

async fn fixture() -> Fixture {
    fixture_with(|c| {
        c.poll_interval_ms = 0;
        c.limits.redeem_per_address = 0;
    })
    .await
}

async fn count(f: &Fixture, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(&f.state.db).await.unwrap()
}

async fn rows(f: &Fixture) -> [i64; 6] {
    [
        count(f, "SELECT COUNT(*) FROM pairing_tokens").await,
        count(f, "SELECT COUNT(*) FROM challenges").await,
        count(f, "SELECT COUNT(*) FROM enrollment_nonces").await,
        count(f, "SELECT COUNT(*) FROM sessions").await,
        count(f, "SELECT COUNT(*) FROM bindings").await,
        count(f, "SELECT COUNT(*) FROM bindings WHERE revoked_at IS NULL").await,
    ]
}

async fn paired(f: &Fixture, user: &str) -> Value {
    let (s, grant) = f.redeem(&f.mint(user).await).await;
    assert_eq!(s, StatusCode::OK, "{grant}");
    grant
}

/// A code requested, approved by the app and confirmed by the browser's user, whose
/// tokens the browser never received (its first session unused).
async fn confirmed_code(f: &Fixture) -> Value {
    let body = json!({"deviceId": "dev-1", "deviceName": "Chrome"});
    let (s, c) = f.call("POST", "/api/pairing/request", None, Some(body)).await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    let approve = json!({"code": c["code"], "userId": "gus"});
    let (s, b) = f.call("POST", "/api/pairing/approve", Some(&f.api_key), Some(approve)).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    let confirm = json!({"challengeId": c["challengeId"], "redeemKey": KEY});
    let (s, grant) = f.call("POST", "/api/pairing/confirm", None, Some(confirm.clone())).await;
    assert_eq!(s, StatusCode::OK, "{grant}");
    confirm
}

#[tokio::test]
async fn a_pass_removes_what_expired_past_retention_and_keeps_what_is_usable() {
    let f = fixture().await;
    let t0 = now_ms();
    let _unused_token = f.mint("ann").await; // expires at t0 + 2 min
    let active = paired(&f, "bob").await; // token used; binding active, family live 30 days
    let (s, rotated) =
        f.call("POST", "/api/auth/refresh", None, Some(json!({"refreshToken": active["refreshToken"]}))).await;
    assert_eq!(s, StatusCode::OK, "{rotated}");
    let revoked = paired(&f, "cat").await;
    let revoked_id = revoked["binding"]["bindingId"].as_str().unwrap();
    let (s, _) = f.call("DELETE", &format!("/api/bindings/{revoked_id}"), Some(&f.api_key), None).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) =
        f.call("POST", "/api/pairing/request", None, Some(json!({"deviceId": "dev-2", "deviceName": "C"}))).await;
    assert_eq!(s, StatusCode::CREATED); // pending, expires at t0 + 10 min
    let repeat_confirm = confirmed_code(&f).await;
    sqlx::query("INSERT INTO enrollment_keys (id, tenant_id, public_key, created_at) VALUES ('ek_1', 'acme', 'x', $1)")
        .bind(t0 as i64)
        .execute(&f.state.db)
        .await
        .unwrap();
    sqlx::query("INSERT INTO enrollment_nonces (key_id, nonce, created_at) VALUES ('ek_1', 'nonce-1', $1)")
        .bind(t0 as i64)
        .execute(&f.state.db)
        .await
        .unwrap();
    // tokens: ann, bob, cat; challenges: 2; nonces: 1; sessions: bob ×2, cat, gus; bindings:
    // bob, cat (revoked), gus.
    let start = [3, 2, 1, 4, 3, 2];
    assert_eq!(rows(&f).await, start);

    // Everything is expired or revoked, but not yet for a whole retention period.
    let removed = cleanup::run_once(&f.state, t0 + DAY - HOUR).await.unwrap();
    assert_eq!(removed.total(), 0, "{removed:?}");
    assert_eq!(rows(&f).await, start);

    // Past the retention: expired tokens, the expired pending code, the revoked binding and
    // its session and activity (`revoked`; `paired` is the binding's row) go. The confirmed code stays while the browser may repeat its confirm;
    // live session families, active bindings and the nonce (its assertion may live 30
    // days) stay.
    let t1 = t0 + DAY + HOUR;
    let removed = cleanup::run_once(&f.state, t1).await.unwrap();
    assert_eq!(
        (removed.of("pairing_tokens"), removed.of("challenges"), removed.of("sessions"), removed.of("bindings")),
        (3, 1, 1, 1),
        "{removed:?}"
    );
    assert_eq!(removed.of("binding_events"), 1, "{removed:?}");
    assert_eq!(removed.total(), 7, "{removed:?}");
    assert_eq!(rows(&f).await, [0, 1, 1, 3, 2, 2]);
    assert_eq!(count(&f, &format!("SELECT COUNT(*) FROM bindings WHERE id = '{revoked_id}'")).await, 0);
    let metrics = f.state.metrics.render();
    for line in [
        "latch_cleanup_removed_total{table=\"pairing_tokens\"} 3",
        "latch_cleanup_removed_total{table=\"bindings\"} 1",
        "latch_cleanup_removed_total{table=\"enrollment_nonces\"} 0",
    ] {
        assert!(metrics.contains(line), "{line} missing from:\n{metrics}");
    }
    // What was kept still works: the active binding refreshes, and the browser whose
    // confirm answer was lost still gets its binding.
    let (s, b) =
        f.call("POST", "/api/auth/refresh", None, Some(json!({"refreshToken": rotated["refreshToken"]}))).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = f.call("POST", "/api/pairing/confirm", None, Some(repeat_confirm)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(cleanup::run_once(&f.state, t1).await.unwrap().total(), 0, "a second pass finds nothing");

    // Past every session family's expiry (30 days) and the nonce's need: the sessions,
    // the confirmed code and the nonce go; the active bindings never do.
    let removed = cleanup::run_once(&f.state, t0 + 32 * DAY).await.unwrap();
    assert_eq!(rows(&f).await, [0, 0, 0, 0, 2, 2], "{removed:?}");
    assert_eq!((removed.of("enrollment_nonces"), removed.of("challenges")), (1, 1));
}

#[tokio::test]
async fn a_binding_revoked_past_retention_waits_for_the_rows_that_still_refer_to_it() {
    let f = fixture().await;
    sqlx::query("UPDATE tenants SET captures = 1").execute(&f.state.db).await.unwrap();
    let grant = paired(&f, "dana").await;
    let page = json!({"url": "https://example.com/", "title": "T", "text": "x"});
    let (s, b) = f.call("POST", "/api/inbox/v1/captures", grant["accessToken"].as_str(), Some(page)).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    let id = grant["binding"]["bindingId"].as_str().unwrap();
    let (s, _) = f.call("DELETE", &format!("/api/bindings/{id}"), Some(&f.api_key), None).await;
    assert_eq!(s, StatusCode::OK);
    let later = now_ms() + 2 * DAY;
    let removed = cleanup::run_once(&f.state, later).await.unwrap();
    // Its session goes; the binding stays while the app has not drained its capture.
    assert_eq!((removed.of("sessions"), removed.of("bindings")), (1, 0), "{removed:?}");
    let (s, d) = f.call("GET", "/api/inbox/v1/captures", Some(&f.api_key), None).await;
    assert_eq!((s, d["captures"].as_array().map(Vec::len)), (StatusCode::OK, Some(1)));
    let removed = cleanup::run_once(&f.state, later).await.unwrap();
    assert_eq!(removed.of("bindings"), 1, "{removed:?}");
}

#[tokio::test]
async fn concurrent_passes_split_the_work_without_errors() {
    let f = fixture().await;
    let t0 = now_ms();
    let n = 3 * BATCH as usize + 7;
    let mut tx = f.state.db.begin().await.unwrap();
    for i in 0..n {
        sqlx::query(
            "INSERT INTO pairing_tokens (hash, tenant_id, user_id, key_id, expires_at, created_at) VALUES ($1, 'acme', 'u', $2, $3, $3)",
        )
        .bind(format!("hash-{i:05}").into_bytes())
        .bind(&f.key_id)
        .bind(t0 as i64)
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    let keep = f.mint("live").await;
    let later = t0 + 2 * DAY;
    let passes: Vec<_> = (0..4)
        .map(|_| {
            let state = f.state.clone();
            tokio::spawn(async move { cleanup::run_once(&state, later).await })
        })
        .collect();
    let mut total = 0;
    for p in passes {
        total += p.await.unwrap().expect("a pass beside others doesn't fail").of("pairing_tokens");
    }
    // `keep` expires within minutes of t0, so it is past retention too: only the rows
    // inserted count as the split work; every row is removed exactly once.
    assert_eq!(total, n as u64 + 1);
    assert_eq!(count(&f, "SELECT COUNT(*) FROM pairing_tokens").await, 0);
    let _ = keep;
}

#[tokio::test]
async fn rotated_sessions_past_their_own_expiry_go_even_in_a_live_family() {
    let f = fixture().await;
    let t0 = now_ms();
    let active = paired(&f, "bob").await;
    let mut latest = active["refreshToken"].clone();
    for _ in 0..3 {
        let (s, b) = f.call("POST", "/api/auth/refresh", None, Some(json!({"refreshToken": latest}))).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        latest = b["refreshToken"].clone();
    }
    assert_eq!(count(&f, "SELECT COUNT(*) FROM sessions").await, 4);
    // As if the three rotations had happened 40 days ago (a family refreshed ever since).
    sqlx::query("UPDATE sessions SET expires_at = $1 WHERE rotated_at IS NOT NULL")
        .bind((t0 - 10 * DAY) as i64)
        .execute(&f.state.db)
        .await
        .unwrap();
    let removed = cleanup::run_once(&f.state, t0).await.unwrap();
    assert_eq!(removed.of("sessions"), 3, "{removed:?}");
    assert_eq!(count(&f, "SELECT COUNT(*) FROM sessions WHERE rotated_at IS NULL").await, 1);
    let (s, b) = f.call("POST", "/api/auth/refresh", None, Some(json!({"refreshToken": latest}))).await;
    assert_eq!(s, StatusCode::OK, "the live family still refreshes: {b}");
}

/// Every pairing creates a binding: the cleanup's index on `revoked_at` is partial, so an
/// unrevoked binding writes no entry into it, and the cleanup still finds revoked ones
/// through it (issue 18's load check: the full index was part of the cost per pairing).
#[tokio::test]
async fn only_revoked_bindings_enter_the_cleanup_index_and_the_cleanup_uses_it() {
    let f = fixture().await;
    let definition: String = if common::on_postgres() {
        text(&f, "SELECT indexdef FROM pg_indexes WHERE indexname = 'bindings_revoked_only'").await
    } else {
        text(&f, "SELECT sql FROM sqlite_master WHERE name = 'bindings_revoked_only'").await
    };
    let partial = definition.replace(['(', ')'], "");
    assert!(partial.ends_with("WHERE revoked_at IS NOT NULL"), "{definition}");
    let full = if common::on_postgres() {
        count(&f, "SELECT COUNT(*) FROM pg_indexes WHERE indexname = 'bindings_revoked'").await
    } else {
        count(&f, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'bindings_revoked'").await
    };
    assert_eq!(full, 0, "the full index is gone");
    if !common::on_postgres() {
        use sqlx::Row;
        let plan: Vec<String> = sqlx::query("EXPLAIN QUERY PLAN SELECT id FROM bindings WHERE revoked_at < $1")
            .bind(1_i64)
            .fetch_all(&f.state.db)
            .await
            .unwrap()
            .iter()
            .map(|r| r.get::<String, _>("detail"))
            .collect();
        assert!(plan.iter().any(|step| step.contains("USING INDEX bindings_revoked_only")), "{plan:?}");
    }
}

async fn text(f: &Fixture, sql: &str) -> String {
    sqlx::query_scalar(sql).fetch_one(&f.state.db).await.unwrap()
}

/// On SQLite the cleanup walks insert order instead of keeping expiry indexes on the two
/// tables every pairing writes (each index cost every mint and redeem a page per commit):
/// a pass still removes every expired row, across many batches, and keeps the rest.
#[tokio::test]
async fn expired_tokens_and_sessions_go_in_batches_without_expiry_indexes_on_sqlite() {
    let f = fixture().await;
    let t0 = now_ms() as i64;
    let indexes = if common::on_postgres() {
        count(&f, "SELECT COUNT(*) FROM pg_indexes WHERE indexname IN ('pairing_tokens_expiry', 'sessions_expiry')")
            .await
    } else {
        count(&f, "SELECT COUNT(*) FROM sqlite_master WHERE name IN ('pairing_tokens_expiry', 'sessions_expiry')").await
    };
    assert_eq!(indexes, if common::on_postgres() { 2 } else { 0 });
    // 1,200 long-expired tokens (2.4 batches) with a few out of order among them (a row
    // that expires later than the rows after it), then 3 that are still usable.
    let expired = BATCH * 2 + 200;
    let out_of_order = [0, 7, 600];
    for i in 0..expired + 3 {
        let usable = i >= expired || out_of_order.contains(&i);
        let expires = if usable { t0 + HOUR as i64 } else { t0 - 2 * DAY as i64 };
        sqlx::query(
            "INSERT INTO pairing_tokens (hash, tenant_id, user_id, key_id, expires_at, created_at, app_name) \
             VALUES ($1, 'acme', 'u', $2, $3, $4, 'Acme')",
        )
        .bind(format!("hash-{i:05}").into_bytes())
        .bind(&f.key_id)
        .bind(expires)
        .bind(expires - 120_000)
        .execute(&f.state.db)
        .await
        .unwrap();
    }
    let expired = expired - out_of_order.len() as i64;
    paired(&f, "bob").await; // a token (used, unexpired) and a live session
    let removed = cleanup::run_once(&f.state, t0 as u64).await.unwrap();
    assert_eq!(removed.of("pairing_tokens"), expired as u64, "{removed:?}");
    assert_eq!(count(&f, "SELECT COUNT(*) FROM pairing_tokens").await, 7, "the usable ones and bob's stay");
    assert_eq!(count(&f, "SELECT COUNT(*) FROM sessions").await, 1);
    // A month on, the session family is dead: its session goes too.
    let later = t0 as u64 + 32 * DAY;
    let removed = cleanup::run_once(&f.state, later).await.unwrap();
    assert_eq!((removed.of("pairing_tokens"), removed.of("sessions")), (7, 1), "{removed:?}");
}

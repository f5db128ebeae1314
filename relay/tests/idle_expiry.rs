//! A binding the cleanup revoked for going unused (PROTOCOL §11, `LATCH_BINDING_IDLE_DAYS`)
//! is told to its browser as such: the refused refresh says `revokedBy: "idle"` and for how
//! long — to a proof by the binding's own key only, and long after the token itself was
//! deleted — and a socket still open on it is closed with `binding_idle`. Runs on both
//! backends (`LATCH_PG_URL`).

mod common;

use axum::http::StatusCode;
use common::dpop::Key;
use common::ws::{authed, close_of, recv, serve};
use common::{fixture_with, Fixture};
use latch_relay::clock::now_ms;
use latch_relay::{cleanup, db};
use serde_json::{json, Value};

const REDEEM: &str = "/pairing-tokens/redeem";
const REFRESH: &str = "/api/auth/refresh";
const DAY_MS: u64 = 86_400_000;

async fn idle_fixture() -> Fixture {
    fixture_with(|c| {
        c.cleanup.binding_idle_ms = 90 * DAY_MS;
        c.cleanup.expired_retention_ms = DAY_MS;
        c.cleanup.activity_retention_ms = 90 * DAY_MS;
    })
    .await
}

/// Pairs with a proof by `key`: the grant.
async fn pair_bound(f: &Fixture, key: &Key) -> Value {
    let token = f.mint("dana").await;
    let body = json!({"pairingToken": token, "deviceName": "Test browser"});
    let (status, _, grant) = f.request("POST", REDEEM, &[("dpop", &key.proof("POST", REDEEM, None))], Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{grant}");
    grant
}

fn id(grant: &Value) -> &str {
    grant["binding"]["bindingId"].as_str().unwrap()
}

/// A refresh of `grant`'s refresh token with a fresh proof by `key`: status and body.
async fn refresh(f: &Fixture, grant: &Value, key: &Key) -> (StatusCode, Value) {
    let proof = key.proof("POST", REFRESH, None);
    let body = json!({"refreshToken": grant["refreshToken"]});
    let (status, _, answer) = f.request("POST", REFRESH, &[("dpop", &proof)], Some(body)).await;
    (status, answer)
}

/// Moves the binding's making and last sighting `days` into the past.
async fn unused_for(f: &Fixture, binding_id: &str, days: u64) {
    let then = (now_ms() - days * DAY_MS) as i64;
    sqlx::query("UPDATE bindings SET created_at = $1, last_seen_at = $1 WHERE id = $2")
        .bind(then)
        .bind(binding_id)
        .execute(&f.state.db)
        .await
        .unwrap();
}

/// 401 `refresh_token_revoked` with `revokedBy: "idle"` and how long the binding had gone
/// unused (91 days and the moments the test took).
fn told_idle(answer: &(StatusCode, Value)) {
    let (status, body) = answer;
    assert_eq!(*status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"], "refresh_token_revoked", "{body}");
    assert_eq!(body["revokedBy"], "idle", "{body}");
    let seconds = body["idleSeconds"].as_u64().unwrap();
    assert!((91 * 86_400..91 * 86_400 + 600).contains(&seconds), "{body}");
}

/// Refused as `code`, with no word of idleness.
fn refused_plainly(answer: &(StatusCode, Value), code: &str) {
    let (status, body) = answer;
    assert_eq!((*status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some(code)), "{body}");
    assert!(body.get("revokedBy").is_none() && body.get("idleSeconds").is_none(), "{body}");
}

#[tokio::test]
async fn a_browser_back_after_an_idle_revocation_is_told_why_until_the_activity_retention() {
    let f = idle_fixture().await;
    let (key, other_key) = (Key::new(), Key::new());
    let idle = pair_bound(&f, &key).await;
    // The same key on a second binding, which the user disconnects (the extension makes a
    // key per pairing; another client may not).
    let disconnected = pair_bound(&f, &key).await;
    let proof = key.proof("POST", "/api/auth/revoke", None);
    let revoke = json!({"refreshToken": disconnected["refreshToken"]});
    let (s, _, b) = f.request("POST", "/api/auth/revoke", &[("dpop", &proof)], Some(revoke)).await;
    assert_eq!((s, &b["revoked"]), (StatusCode::OK, &json!(true)), "{b}");
    unused_for(&f, id(&idle), 91).await;
    let now = now_ms();
    assert_eq!(cleanup::run_once(&f.state, now).await.unwrap().of("idle_bindings"), 1);
    told_idle(&refresh(&f, &idle, &key).await);
    // Each token hears of its own binding: the disconnected one's, by the same key, is no
    // idle one; the idle one's with another key's proof hears only that it was revoked.
    refused_plainly(&refresh(&f, &disconnected, &key).await, "refresh_token_revoked");
    refused_plainly(&refresh(&f, &idle, &other_key).await, "refresh_token_revoked");

    // Weeks later the binding, its sessions and its log are gone and the token is one the
    // relay never saw: the key still finds how long it had gone unused.
    let removed = cleanup::run_once(&f.state, now + 40 * DAY_MS).await.unwrap();
    assert_eq!(removed.of("bindings"), 2, "{removed:?}");
    assert!(db::binding(&f.state.db, id(&idle)).await.unwrap().is_none());
    told_idle(&refresh(&f, &idle, &key).await);
    refused_plainly(&refresh(&f, &idle, &other_key).await, "refresh_token_invalid");

    // Past the activity retention the key goes too, and the token is just unknown.
    let removed = cleanup::run_once(&f.state, now + 91 * DAY_MS).await.unwrap();
    assert_eq!(removed.of("idle_revocations"), 1, "{removed:?}");
    refused_plainly(&refresh(&f, &idle, &key).await, "refresh_token_invalid");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_open_on_a_binding_revoked_as_idle_is_closed_with_binding_idle() {
    let f = idle_fixture().await;
    let url = serve(&f).await;
    // A bearer binding (no key): its socket needs no proof.
    let (_, grant) = f.redeem(&f.mint("dana").await).await;
    let mut ws = authed(&url, grant["accessToken"].as_str().unwrap()).await;
    // The socket's "last seen" is written in the background: wait for it, then move it back.
    for _ in 0..200 {
        if db::binding(&f.state.db, id(&grant)).await.unwrap().unwrap().last_seen_at.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    unused_for(&f, id(&grant), 91).await;
    assert_eq!(cleanup::run_once(&f.state, now_ms()).await.unwrap().of("idle_bindings"), 1);
    assert_eq!(recv(&mut ws).await.unwrap(), json!({"type": "error", "code": "binding_idle"}));
    assert_eq!(close_of(&mut ws).await, Some((latch_wire::socket::CLOSE_REFUSED, "binding_idle".into())));
    // Its refresh, with no key to prove, hears why: the bearer token is the binding's own.
    let body = json!({"refreshToken": grant["refreshToken"]});
    told_idle(&f.call("POST", REFRESH, None, Some(body)).await);
}

//! PROTOCOL §8 enterprise auto-pair: `POST /api/enterprise/enroll` with an assertion signed
//! by a tenant's enrollment key. Runs on SQLite and (tests/support/with-postgres.sh) PostgreSQL.

mod common;

use axum::http::StatusCode;
use common::{fixture, Fixture};
use latch_relay::clock::now_ms;
use latch_relay::enrollment::{self, Claims};
use serde_json::{json, Value};

const AUD: &str = "http://localhost:8787";

/// A registered key for acme: its private key.
async fn register_key(f: &Fixture) -> String {
    let (private, public) = enrollment::generate();
    let bytes = enrollment::parse_public_key(&public).unwrap();
    latch_relay::db::enrollment::insert_key(&f.state.db, "acme", &bytes, now_ms()).await.unwrap();
    private
}

fn assertion(private: &str, user: &str, exp_ms: u64, aud: &str) -> String {
    let claims = Claims {
        tenant_id: "acme".into(),
        user_id: user.into(),
        aud: aud.into(),
        exp: exp_ms / 1000,
        nonce: enrollment::new_nonce(),
    };
    enrollment::sign(private, &claims).unwrap()
}

const KEY: &str = "lrk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
const OTHER_KEY: &str = "lrk_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBA";

async fn enroll_with(f: &Fixture, assertion: &str, key: Option<&str>) -> (StatusCode, Value) {
    let body = json!({"assertion": assertion, "deviceName": "Managed Chrome", "enrollKey": key});
    f.call("POST", "/api/enterprise/enroll", None, Some(body)).await
}

async fn enroll(f: &Fixture, assertion: &str) -> (StatusCode, Value) {
    enroll_with(f, assertion, Some(KEY)).await
}

#[tokio::test]
async fn a_signed_assertion_enrolls_once_into_a_managed_binding() {
    let f = fixture().await;
    let private = register_key(&f).await;
    let a = assertion(&private, "dana", now_ms() + 3_600_000, AUD);
    let (s, grant) = enroll(&f, &a).await;
    assert_eq!(s, StatusCode::OK, "{grant}");
    assert_eq!(grant["binding"]["tenantId"], "acme");
    assert_eq!(grant["binding"]["userId"], "dana");
    assert_eq!(grant["binding"]["appName"], "Acme Inc");
    let access = grant["accessToken"].as_str().unwrap();
    let (s, me) = f.call("GET", "/api/me", Some(access), None).await;
    assert_eq!((s, me["userId"].clone()), (StatusCode::OK, json!("dana")));

    // The browser can't remove an organization's binding with its refresh token.
    let refresh = grant["refreshToken"].as_str().unwrap();
    let (s, b) = f.call("POST", "/api/auth/revoke", None, Some(json!({"refreshToken": refresh}))).await;
    assert_eq!((s, b["error"].clone()), (StatusCode::FORBIDDEN, json!("managed_binding")));

    // A copy of the assertion presented without the browser's enroll key is a replay…
    for key in [None, Some(OTHER_KEY)] {
        let (s, b) = enroll_with(&f, &a, key).await;
        assert_eq!((s, b["error"].clone()), (StatusCode::CONFLICT, json!("assertion_replayed")), "{b}");
    }
    // …while the browser's retry whose answer was lost gets the same binding, as long as
    // its refresh token is unused…
    let (s, again) = enroll(&f, &a).await;
    assert_eq!(s, StatusCode::OK, "{again}");
    assert_eq!(again["binding"]["bindingId"], grant["binding"]["bindingId"]);
    assert_eq!(again["refreshToken"], grant["refreshToken"]);
    // …and after it was used, the assertion is spent: replayed.
    let (s, rotated) = f.call("POST", "/api/auth/refresh", None, Some(json!({"refreshToken": refresh}))).await;
    assert_eq!(s, StatusCode::OK, "{rotated}");
    let (s, b) = enroll(&f, &a).await;
    assert_eq!((s, b["error"].clone()), (StatusCode::CONFLICT, json!("assertion_replayed")), "{b}");

    // The owner can revoke it.
    let bindings = latch_relay::db::list_bindings(&f.state.db, Some("acme")).await.unwrap();
    assert_eq!(bindings.len(), 1, "one binding, however many tries");
}

#[tokio::test]
async fn tampered_expired_foreign_and_unknown_assertions_bind_nothing() {
    let f = fixture().await;
    let private = register_key(&f).await;
    let now = now_ms();
    let good = assertion(&private, "dana", now + 3_600_000, AUD);
    let mut parts: Vec<&str> = good.split('.').collect();
    let other = assertion(&private, "mallory", now + 3_600_000, AUD);
    let other_body = other.split('.').nth(1).unwrap();
    parts[1] = other_body;
    let tampered = parts.join(".");
    let (unregistered, _) = enrollment::generate();
    let cases = [
        (tampered, StatusCode::UNAUTHORIZED, "assertion_invalid"),
        (assertion(&private, "dana", now - 600_000, AUD), StatusCode::UNAUTHORIZED, "assertion_expired"),
        (
            assertion(&private, "dana", now + 3_600_000, "https://other-relay.example"),
            StatusCode::UNAUTHORIZED,
            "wrong_audience",
        ),
        (assertion(&unregistered, "dana", now + 3_600_000, AUD), StatusCode::UNAUTHORIZED, "assertion_invalid"),
        (
            assertion(&private, "dana", now + 40 * 24 * 3_600_000, AUD),
            StatusCode::BAD_REQUEST,
            "assertion_too_long_lived",
        ),
        (assertion(&private, " dana", now + 3_600_000, AUD), StatusCode::BAD_REQUEST, "malformed_assertion"),
        ("not.a.jwt".into(), StatusCode::BAD_REQUEST, "malformed_assertion"),
        ("x".repeat(10_000), StatusCode::BAD_REQUEST, "malformed_assertion"),
    ];
    for (a, status, error) in cases {
        let (s, b) = enroll(&f, &a).await;
        assert_eq!((s, b["error"].as_str()), (status, Some(error)), "{b}");
        assert!(b["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let (s, _) = f.call("POST", "/api/enterprise/enroll", None, Some(json!({"nope": 1}))).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, b) = enroll_with(&f, &good, Some("lrk_short")).await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_enroll_key")));
    assert!(latch_relay::db::list_bindings(&f.state.db, None).await.unwrap().is_empty(), "nothing bound");
}

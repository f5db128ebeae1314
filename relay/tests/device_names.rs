//! Naming this browser (PROTOCOL §10): the name sent at pairing and `PATCH /api/me/device`,
//! as the app sees it in `GET /api/bindings`.

mod common;

use axum::http::StatusCode;
use common::{fixture, fixture_with, Fixture};
use serde_json::{json, Value};

async fn listed_name(f: &Fixture, binding_id: &str) -> String {
    let (s, b) = f.call("GET", "/api/bindings", Some(&f.api_key), None).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let row = b["bindings"].as_array().unwrap().iter().find(|r| r["bindingId"] == binding_id).cloned();
    row.and_then(|r| r["deviceName"].as_str().map(str::to_owned)).expect("the binding is listed with a name")
}

async fn pair(f: &Fixture, device_name: &str) -> Value {
    let token = f.mint("dana").await;
    let body = json!({"pairingToken": token, "deviceName": device_name});
    let (s, grant) = f.call("POST", "/pairing-tokens/redeem", None, Some(body)).await;
    assert_eq!(s, StatusCode::OK, "{grant}");
    grant
}

async fn rename(f: &Fixture, access: &str, name: Value) -> (StatusCode, Value) {
    f.call("PATCH", "/api/me/device", Some(access), Some(json!({ "deviceName": name }))).await
}

#[tokio::test]
async fn the_user_renames_this_browser_for_one_app() {
    let f = fixture().await;
    let first = pair(&f, "Chrome 156 on Linux").await;
    let second = pair(&f, "Chrome 156 on Linux").await;
    let id = first["binding"]["bindingId"].as_str().unwrap();
    assert_eq!(listed_name(&f, id).await, "Chrome 156 on Linux");

    let (s, b) = rename(&f, first["accessToken"].as_str().unwrap(), json!("  Work laptop ")).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b, json!({"bindingId": id, "deviceName": "Work laptop"}));
    assert_eq!(listed_name(&f, id).await, "Work laptop");
    // Only the binding the token belongs to.
    assert_eq!(listed_name(&f, second["binding"]["bindingId"].as_str().unwrap()).await, "Chrome 156 on Linux");
    // Normalised as the consent-name policy does (NFC).
    let (s, b) = rename(&f, first["accessToken"].as_str().unwrap(), json!("Cafe\u{301} PC")).await;
    assert_eq!((s, b["deviceName"].as_str()), (StatusCode::OK, Some("Caf\u{e9} PC")));
}

#[tokio::test]
async fn a_hostile_or_malformed_name_is_refused_and_changes_nothing() {
    let f = fixture().await;
    let grant = pair(&f, "Work laptop").await;
    let (id, access) = (grant["binding"]["bindingId"].as_str().unwrap(), grant["accessToken"].as_str().unwrap());
    let too_long = "a".repeat(65);
    for hostile in ["", "   ", "PC\u{202E}exe.txt", "A\u{200B}B", "two\nlines", "\u{410}pple PC", &too_long] {
        let (s, b) = rename(&f, access, json!(hostile)).await;
        assert_eq!((s, b["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_device_name")), "{hostile:?}");
        assert!(b["message"].as_str().is_some_and(|m| m.contains("64")), "{b}");
    }
    for malformed in [json!({}), json!({"deviceName": 5}), json!("Work")] {
        let (s, b) = f.call("PATCH", "/api/me/device", Some(access), Some(malformed.clone())).await;
        assert_eq!((s, b["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_request")), "{malformed}");
    }
    assert_eq!(listed_name(&f, id).await, "Work laptop");
}

#[tokio::test]
async fn only_a_live_access_token_renames() {
    let f = fixture().await;
    let grant = pair(&f, "Work laptop").await;
    let id = grant["binding"]["bindingId"].as_str().unwrap();
    let (s, b) = f.call("PATCH", "/api/me/device", None, Some(json!({"deviceName": "X"}))).await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("access token required")));
    // The app's API key and the refresh token are not access tokens.
    for wrong in [f.api_key.as_str(), grant["refreshToken"].as_str().unwrap()] {
        let (s, b) = rename(&f, wrong, json!("Stolen")).await;
        assert_eq!((s, b["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("access token invalid")));
    }
    // No token and a malformed body: the token is what is wrong.
    let (s, b) = f.call("PATCH", "/api/me/device", None, Some(json!({"deviceName": 5}))).await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("access token required")));
    let refresh = grant["refreshToken"].as_str().unwrap();
    let (s, _) = f.call("POST", "/api/auth/revoke", None, Some(json!({"refreshToken": refresh}))).await;
    assert_eq!(s, StatusCode::OK);
    let (s, b) = rename(&f, grant["accessToken"].as_str().unwrap(), json!("After revoke")).await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("access token invalid")));
    assert_eq!(listed_name(&f, id).await, "Work laptop");
}

/// The gate remembers a pass for up to 2 s; a binding revoked meanwhile by another instance
/// (here: straight in the database, no revocation heard) is still not renamed.
#[tokio::test]
async fn a_binding_revoked_after_the_gate_passed_its_token_is_not_renamed() {
    let f = fixture().await;
    let grant = pair(&f, "Work laptop").await;
    let (id, access) = (grant["binding"]["bindingId"].as_str().unwrap(), grant["accessToken"].as_str().unwrap());
    assert_eq!(f.call("GET", "/api/me", Some(access), None).await.0, StatusCode::OK); // the pass is remembered
    sqlx::query("UPDATE bindings SET revoked_at = 1 WHERE id = $1").bind(id).execute(&f.state.db).await.unwrap();
    assert_eq!(f.call("GET", "/api/me", Some(access), None).await.0, StatusCode::OK, "the gate still remembers");
    let (s, b) = rename(&f, access, json!("Too late")).await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("access token invalid")));
    assert_eq!(listed_name(&f, id).await, "Work laptop");
    for what in ["pause", "resume"] {
        let (s, b) = f.call("POST", &format!("/api/me/{what}"), Some(access), Some(json!({}))).await;
        assert_eq!((s, b["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("access token invalid")), "{what}");
    }
}

#[tokio::test]
async fn renames_are_held_to_a_rate_per_binding() {
    let f = fixture_with(|c| c.limits.changes_per_binding = 2).await;
    let grant = pair(&f, "Work laptop").await;
    let other = pair(&f, "Home").await;
    let access = grant["accessToken"].as_str().unwrap();
    for name in ["One", "Two"] {
        assert_eq!(rename(&f, access, json!(name)).await.0, StatusCode::OK);
    }
    let (s, b) = rename(&f, access, json!("Three")).await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::TOO_MANY_REQUESTS, Some("rate_limited")), "{b}");
    // Another binding has its own budget.
    assert_eq!(rename(&f, other["accessToken"].as_str().unwrap(), json!("Den")).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_pairing_keeps_a_fine_name_and_says_browser_for_a_hostile_one() {
    let f = fixture().await;
    // Normalised before it is cut: 64 decomposed é are 128 characters, 64 once composed.
    let (decomposed, composed) = ("e\u{301}".repeat(64), "\u{e9}".repeat(64));
    for (sent, kept) in [
        ("Chromium 130 on Linux", "Chromium 130 on Linux"),
        (decomposed.as_str(), composed.as_str()),
        ("PC\u{202E}exe.txt", "Browser"),
        ("", "Browser"),
        ("\u{410}pple PC", "Browser"),
    ] {
        let grant = pair(&f, sent).await;
        assert_eq!(listed_name(&f, grant["binding"]["bindingId"].as_str().unwrap()).await, kept, "{sent:?}");
    }
}

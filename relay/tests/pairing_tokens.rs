//! PROTOCOL §3 token pairing: every status and error code of mint / describe / redeem.

mod common;

use axum::http::StatusCode;
use common::{fixture, fixture_with};
use serde_json::json;

use latch_wire::token::is_pairing_token;

#[tokio::test]
async fn mint_requires_a_valid_api_key() {
    let f = fixture().await;
    let body = Some(json!({"userId": "dana"}));
    let (s, b) = f.call("POST", "/pairing-tokens", None, body.clone()).await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("api_key_required")));
    assert!(b["message"].as_str().is_some_and(|m| !m.is_empty()));
    let wrong = format!("{}x", &f.api_key[..f.api_key.len() - 1]);
    for key in [wrong.as_str(), "lak_nope", "garbage"] {
        let (s, b) = f.call("POST", "/pairing-tokens", Some(key), body.clone()).await;
        assert_eq!((s, b["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("api_key_invalid")), "{key}");
    }
    latch_relay::db::revoke_api_key(&f.state.db, &f.key_id, 0).await.unwrap();
    // Keys are revoked by the owner CLI, another process: the relay hears of it through its
    // database watcher (tests/instances.rs covers that path end to end).
    f.state.realtime.revocations.bump();
    let (s, b) = f.call("POST", "/pairing-tokens", Some(&f.api_key), body).await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("api_key_invalid")));
}

#[tokio::test]
async fn mint_validates_the_user_id() {
    let f = fixture().await;
    for body in [
        json!({}),
        json!({"userId": ""}),
        json!({"userId": 5}),
        json!({"userId": " dana"}),
        json!({"userId": "a\u{0}b"}),
        json!({"userId": "x".repeat(129)}),
        json!([1]),
    ] {
        let (s, b) = f.call("POST", "/pairing-tokens", Some(&f.api_key), Some(body.clone())).await;
        assert_eq!((s, b["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_user_id")), "{body}");
    }
    let (s, _) = f.raw("POST", "/pairing-tokens", Some(&f.api_key), Some("{not json".into())).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn mint_answers_a_token_and_connect_url() {
    let f = fixture().await;
    let (s, b) = f.call("POST", "/pairing-tokens", Some(&f.api_key), Some(json!({"userId": "dana"}))).await;
    assert_eq!(s, StatusCode::CREATED);
    let token = b["pairingToken"].as_str().unwrap();
    assert!(is_pairing_token(token));
    assert_eq!(b["connectUrl"], format!("http://localhost:8787/connect#token={token}"));
    let now = latch_relay::clock::now_ms();
    let exp = b["expiresAt"].as_u64().unwrap();
    assert!(exp > now + 110_000 && exp <= now + 120_000, "{exp} vs {now}");
}

#[tokio::test]
async fn describe_names_the_app_without_consuming_the_token() {
    let f = fixture().await;
    let token = f.mint("dana").await;
    for _ in 0..2 {
        let (s, b) = f.call("POST", "/pairing-tokens/describe", None, Some(json!({"pairingToken": token}))).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(
            (b["appName"].as_str(), b["tenantId"].as_str(), b["userId"].as_str()),
            (Some("Acme"), Some("acme"), Some("dana"))
        );
    }
    let (s, _) = f.redeem(&token).await;
    assert_eq!(s, StatusCode::OK);
    let (s, b) = f.call("POST", "/pairing-tokens/describe", None, Some(json!({"pairingToken": token}))).await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::CONFLICT, Some("token_used")));
}

#[tokio::test]
async fn describe_and_redeem_explain_bad_tokens() {
    let f = fixture().await;
    let unknown = latch_wire::token::encode_secret("lpt_", &[1; 32]);
    for path in ["/pairing-tokens/describe", "/pairing-tokens/redeem"] {
        for bad in [
            json!({"pairingToken": "lpt_short"}),
            json!({"pairingToken": 7}),
            json!({}),
            json!({"pairingToken": "x".repeat(60_000)}),
        ] {
            let (s, b) = f.call("POST", path, None, Some(bad.clone())).await;
            assert_eq!((s, b["error"].as_str()), (StatusCode::BAD_REQUEST, Some("malformed_token")), "{path} {bad}");
        }
        let (s, b) = f.call("POST", path, None, Some(json!({"pairingToken": unknown, "deviceName": "x"}))).await;
        assert_eq!((s, b["error"].as_str()), (StatusCode::NOT_FOUND, Some("token_not_found")), "{path}");
    }
    let (s, _) = f.raw("POST", "/pairing-tokens/redeem", None, Some("x".repeat(100_000))).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn expired_tokens_are_gone() {
    let f = fixture_with(|c| c.pairing_ttl_ms = 1).await;
    let token = f.mint("dana").await;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let (s, b) = f.call("POST", "/pairing-tokens/describe", None, Some(json!({"pairingToken": token}))).await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::GONE, Some("token_expired")));
    let (s, b) = f.redeem(&token).await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::GONE, Some("token_expired")));
}

#[tokio::test]
async fn redeem_binds_once_and_issues_tokens() {
    let f = fixture().await;
    let token = f.mint("dana").await;
    let (s, b) = f.redeem(&token).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["binding"]["tenantId"], "acme");
    assert_eq!(b["binding"]["userId"], "dana");
    assert_eq!(b["binding"]["appName"], "Acme");
    assert!(b["binding"]["bindingId"].as_str().unwrap().starts_with("bnd_"));
    assert!(latch_wire::token::is_refresh_token(b["refreshToken"].as_str().unwrap()));
    assert!(b["accessExpiresAt"].as_u64().unwrap() < b["refreshExpiresAt"].as_u64().unwrap());
    let (s, b) = f.redeem(&token).await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::CONFLICT, Some("token_used")));
}

#[tokio::test]
async fn hostile_key_labels_fall_back_to_the_tenant_name_then_id() {
    let f = fixture().await;
    let (key, _) = latch_relay::db::create_api_key(&f.state.db, "acme", "Latch Security", 0).await.unwrap();
    let (_, b) = f.call("POST", "/pairing-tokens", Some(&key), Some(json!({"userId": "dana"}))).await;
    let (_, d) =
        f.call("POST", "/pairing-tokens/describe", None, Some(json!({"pairingToken": b["pairingToken"]}))).await;
    assert_eq!(d["appName"], "Acme Inc");
    // A tenant whose name is hostile too: the id is all that is left.
    let tenant = latch_relay::db::Tenant {
        id: "goog".into(),
        name: "Go\u{200B}ogle".into(),
        origins: vec!["https://goog.example".into()],
        captures: false,
    };
    latch_relay::db::create_tenant(&f.state.db, &tenant, 0).await.unwrap();
    let (key, _) = latch_relay::db::create_api_key(&f.state.db, "goog", "Latch Security", 0).await.unwrap();
    let (_, b) = f.call("POST", "/pairing-tokens", Some(&key), Some(json!({"userId": "dana"}))).await;
    let (_, d) =
        f.call("POST", "/pairing-tokens/describe", None, Some(json!({"pairingToken": b["pairingToken"]}))).await;
    assert_eq!(d["appName"], "goog");
}

/// Exactly one of 100 concurrent redeems of one token succeeds; the rest get 409.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hundred_concurrent_redeems_bind_exactly_once() {
    // 100 attackers on 100 addresses: the per-address limit (tested in abuse_limits.rs) is off.
    let f = std::sync::Arc::new(fixture_with(|c| c.limits.redeem_per_address = 0).await);
    let token = f.mint("dana").await;
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let (f, t) = (f.clone(), token.clone());
            tokio::spawn(async move { f.redeem(&t).await })
        })
        .collect();
    let mut ok = 0;
    let mut conflict = 0;
    for t in tasks {
        match t.await.unwrap() {
            (StatusCode::OK, _) => ok += 1,
            (StatusCode::CONFLICT, b) if b["error"] == "token_used" => conflict += 1,
            (s, b) => panic!("unexpected {s} {b}"),
        }
    }
    assert_eq!((ok, conflict), (1, 99));
    let bindings = latch_relay::db::list_bindings(&f.state.db, Some("acme")).await.unwrap();
    assert_eq!(bindings.len(), 1);
}

/// The name is worked out at mint and stored with the token: describe shows it and redeem
/// binds exactly it. A token minted before names were stored (or by an older instance in
/// a rolling upgrade) is named from the key and tenant at describe and redeem, as before.
#[tokio::test]
async fn the_name_stored_at_mint_is_shown_and_bound_and_unnamed_tokens_still_work() {
    let f = fixture().await;
    let set_name = |token: &str, name: Option<&str>| {
        let hash = latch_relay::secrets::token_hash(&f.state.pepper, token);
        let db = f.state.db.clone();
        let name = name.map(str::to_owned);
        async move {
            sqlx::query("UPDATE pairing_tokens SET app_name = $1 WHERE hash = $2")
                .bind(name)
                .bind(hash)
                .execute(&db)
                .await
                .unwrap();
        }
    };
    let named = f.mint("dana").await;
    let stored: Option<String> = sqlx::query_scalar("SELECT app_name FROM pairing_tokens WHERE hash = $1")
        .bind(latch_relay::secrets::token_hash(&f.state.pepper, &named))
        .fetch_one(&f.state.db)
        .await
        .unwrap();
    assert_eq!(stored.as_deref(), Some("Acme"), "named at mint");
    set_name(&named, Some("Acme Support")).await; // e.g. the key was labelled so at mint
    let unnamed = f.mint("erin").await;
    set_name(&unnamed, None).await;

    for (token, expected) in [(&named, "Acme Support"), (&unnamed, "Acme")] {
        let (s, b) = f.call("POST", "/pairing-tokens/describe", None, Some(json!({"pairingToken": token}))).await;
        assert_eq!((s, b["appName"].as_str()), (StatusCode::OK, Some(expected)), "{b}");
        let (s, b) = f.redeem(token).await;
        assert_eq!((s, b["binding"]["appName"].as_str()), (StatusCode::OK, Some(expected)), "{b}");
        let (s, b) = f.redeem(token).await;
        assert_eq!((s, b["error"].as_str()), (StatusCode::CONFLICT, Some("token_used")), "still single use");
    }
}

/// Describe names the tenant's registered web origins (the connect page's opener check and
/// the prompt's opener line use them); an origin that is not a plain origin is left out.
#[tokio::test]
async fn describe_names_the_tenants_plain_origins() {
    let f = fixture().await;
    let token = f.mint("dana").await;
    let (s, d) = f.call("POST", "/pairing-tokens/describe", None, Some(json!({"pairingToken": token}))).await;
    assert_eq!(s, StatusCode::OK, "{d}");
    assert_eq!(d["appOrigins"], json!(["http://localhost:8788"]));

    let tenant = latch_relay::db::Tenant {
        id: "globex".into(),
        name: "Globex".into(),
        origins: vec!["javascript:alert(1)".into(), "https://globex.example".into(), "https://x.example/path".into()],
        captures: false,
    };
    latch_relay::db::create_tenant(&f.state.db, &tenant, 0).await.unwrap();
    let (key, _) = latch_relay::db::create_api_key(&f.state.db, "globex", "Globex", 0).await.unwrap();
    let (_, b) = f.call("POST", "/pairing-tokens", Some(&key), Some(json!({"userId": "gus"}))).await;
    let (_, d) =
        f.call("POST", "/pairing-tokens/describe", None, Some(json!({"pairingToken": b["pairingToken"]}))).await;
    assert_eq!(d["appOrigins"], json!(["https://globex.example"]), "{d}");
}

/// Mint's `returnUrl` (seed 000: the user comes back to the app): the connect link carries
/// it when it is a page on one of the app's registered origins, and the connect page's
/// "Back to" link is that page; anything else is refused, not silently dropped.
#[tokio::test]
async fn mint_carries_a_return_url_on_the_apps_own_origins_only() {
    let f = fixture().await;
    let mint = |body: serde_json::Value| f.call("POST", "/pairing-tokens", Some(&f.api_key), Some(body));
    let page = "http://localhost:8788/settings?tab=browsers#latch";
    let (s, b) = mint(json!({"userId": "dana", "returnUrl": page})).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (_, fragment) = b["connectUrl"].as_str().unwrap().split_once('#').unwrap();
    let params: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(fragment.as_bytes()).into_owned().collect();
    assert_eq!((params["token"].as_str(), params["return"].as_str()), (b["pairingToken"].as_str().unwrap(), page));
    let described = json!({"pairingToken": params["token"], "returnUrl": params["return"]});
    let (s, d) = f.call("POST", "/pairing-tokens/describe", None, Some(described)).await;
    assert_eq!((s, d["returnUrl"].as_str()), (StatusCode::OK, Some(page)), "{d}");

    let (s, b) = mint(json!({"userId": "dana", "returnUrl": null})).await;
    assert_eq!(s, StatusCode::CREATED);
    assert!(!b["connectUrl"].as_str().unwrap().contains("return="), "no return asked, none given");

    let long = format!("http://localhost:8788/{}", "a".repeat(2048));
    for bad in [
        json!("https://evil.example/"),
        json!("http://localhost:8788.evil.example/"),
        json!("https://localhost:8788/"),
        json!("http://dana@localhost:8788/"),
        json!("javascript:alert(1)"),
        json!("/relative"),
        json!(long),
        json!(format!("http://localhost:8788/{}", "é".repeat(700))), // 2 bytes each, 6 once encoded
        json!(5),
    ] {
        let (s, b) = mint(json!({"userId": "dana", "returnUrl": bad})).await;
        assert_eq!((s, b["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_return_url")), "{bad}: {b}");
    }
}

/// A name never fails a pairing, whatever JSON stands there; a `redeemKey` that is not a
/// string is refused rather than dropped (dropped, a retry after a lost answer would find
/// no key and could not get its binding back).
#[tokio::test]
async fn redeem_reads_any_device_name_but_never_drops_the_redeem_key() {
    let f = fixture().await;
    let key = "lrk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let token = f.mint("dana").await;
    let body = json!({"pairingToken": token, "deviceName": 5, "redeemKey": key});
    let (s, first) = f.call("POST", "/pairing-tokens/redeem", None, Some(body.clone())).await;
    assert_eq!(s, StatusCode::OK, "{first}");
    // The answer was lost: the retry with the same key gets the same binding back.
    let (s, again) = f.call("POST", "/pairing-tokens/redeem", None, Some(body)).await;
    assert_eq!(s, StatusCode::OK, "{again}");
    assert_eq!(again["binding"]["bindingId"], first["binding"]["bindingId"]);
    let (_, list) = f.call("GET", "/api/bindings", Some(&f.api_key), None).await;
    assert_eq!(list["bindings"][0]["deviceName"], "Browser", "{list}");

    let token = f.mint("erin").await;
    let (s, b) =
        f.call("POST", "/pairing-tokens/redeem", None, Some(json!({"pairingToken": token, "redeemKey": 5}))).await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_request")), "{b}");
    let (s, b) = f.redeem(&token).await;
    assert_eq!(s, StatusCode::OK, "the refused request did not use the token: {b}");
}

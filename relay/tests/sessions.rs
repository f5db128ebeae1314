//! The token gate of `/api/me` and revocation by refresh token.

mod common;

use axum::http::StatusCode;
use common::{fixture, fixture_with};
use serde_json::json;

#[tokio::test]
async fn me_answers_only_a_valid_unrevoked_access_token() {
    let f = fixture().await;
    let (_, grant) = f.redeem(&f.mint("dana").await).await;
    let access = grant["accessToken"].as_str().unwrap();

    let (s, b) = f.call("GET", "/api/me", None, None).await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("access token required")));
    for bad in ["nope", &access[..access.len() - 2], "a.b.c"] {
        let (s, b) = f.call("GET", "/api/me", Some(bad), None).await;
        assert_eq!((s, b["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("access token invalid")), "{bad}");
    }
    let (s, b) = f.call("GET", "/api/me", Some(access), None).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["bindingId"], grant["binding"]["bindingId"]);
    assert_eq!((b["tenantId"].as_str(), b["userId"].as_str()), (Some("acme"), Some("dana")));
    assert!(b["scopes"].as_array().is_some_and(|s| !s.is_empty()));

    let refresh = grant["refreshToken"].as_str().unwrap();
    let (s, b) = f.call("POST", "/api/auth/revoke", None, Some(json!({"refreshToken": refresh}))).await;
    assert_eq!((s, b["revoked"].as_bool()), (StatusCode::OK, Some(true)));
    let (s, b) = f.call("GET", "/api/me", Some(access), None).await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("access token invalid")));
    let (s, b) = f.call("POST", "/api/auth/revoke", None, Some(json!({"refreshToken": refresh}))).await;
    assert_eq!((s, b["revoked"].as_bool()), (StatusCode::OK, Some(false)));
}

#[tokio::test]
async fn revoke_rejects_malformed_refresh_tokens() {
    let f = fixture().await;
    let (s, b) = f.call("POST", "/api/auth/revoke", None, Some(json!({"refreshToken": "x"}))).await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::BAD_REQUEST, Some("refresh_token_invalid")));
    let (s, b) = f
        .call(
            "POST",
            "/api/auth/revoke",
            None,
            Some(json!({"refreshToken": latch_wire::token::encode_secret("lrt_", &[3; 32])})),
        )
        .await;
    assert_eq!((s, b["revoked"].as_bool()), (StatusCode::OK, Some(false)));
    let (s, _) = f.call("POST", "/api/auth/revoke", None, Some(json!([]))).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn owner_revocation_bites_immediately() {
    let f = fixture().await;
    let (_, grant) = f.redeem(&f.mint("dana").await).await;
    let id = grant["binding"]["bindingId"].as_str().unwrap();
    assert!(latch_relay::db::revoke_binding(&f.state.db, id, 1, latch_relay::db::RevokedBy::Owner).await.unwrap());
    let (s, _) = f.call("GET", "/api/me", grant["accessToken"].as_str(), None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn expired_access_tokens_are_invalid() {
    let f = fixture_with(|c| c.access_ttl_ms = 0).await;
    let (_, grant) = f.redeem(&f.mint("dana").await).await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (s, b) = f.call("GET", "/api/me", grant["accessToken"].as_str(), None).await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("access token invalid")));
}

/// The gate remembers a pass for up to 2 s; a token that expires meanwhile is refused
/// anyway. JWT expiry has whole seconds: with a TTL of 0 a token lives until the end of
/// the second it was issued in.
#[tokio::test]
async fn a_remembered_pass_still_expires() {
    let f = fixture_with(|c| c.access_ttl_ms = 0).await;
    let into_second = || latch_relay::clock::now_ms() % 1000;
    if into_second() > 300 {
        tokio::time::sleep(std::time::Duration::from_millis(1000 - into_second())).await;
    }
    let (_, grant) = f.redeem(&f.mint("dana").await).await;
    let (s, b) = f.call("GET", "/api/me", grant["accessToken"].as_str(), None).await;
    assert_eq!(s, StatusCode::OK, "still within the second it was issued in: {b}");
    tokio::time::sleep(std::time::Duration::from_millis(1000 - into_second() + 20)).await;
    let (s, b) = f.call("GET", "/api/me", grant["accessToken"].as_str(), None).await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("access token invalid")));
}

#[tokio::test]
async fn health_and_web_pieces() {
    let f = fixture().await;
    let (s, b) = f.call("GET", "/healthz", None, None).await;
    assert_eq!((s, b["status"].as_str()), (StatusCode::OK, Some("ok")));
    let (s, b) = f.call("GET", "/readyz", None, None).await;
    assert_eq!((s, b["status"].as_str()), (StatusCode::OK, Some("ready")));
    let (s, page) = f.raw("GET", "/connect", None, None).await;
    assert_eq!(s, StatusCode::OK);
    let page = String::from_utf8(page).unwrap();
    assert!(page.contains(latch_relay::DEV_EXTENSION_ID));
    assert!(!page.contains("<script>"), "no inline scripts");
    assert!(page.contains(r#"data-install-url="/install""#), "no store listing: the relay's own steps");
    let (s, steps) = f.raw("GET", "/install", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(String::from_utf8(steps).unwrap().contains("Load unpacked"));
    let (s, frame) = f.raw("GET", "/status-frame?tenant=acme", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(String::from_utf8(frame).unwrap().contains("http://localhost:8788"));
    let (_, frame) = f.raw("GET", "/status-frame?tenant=nobody", None, None).await;
    assert!(String::from_utf8(frame).unwrap().contains("data-origins=\"[]\""));
    let (s, js) = f.raw("GET", "/embed.js", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(String::from_utf8(js).unwrap().contains("Connect Latch"));
}

/// `--install-url`: the connect page's Install button leads there, escaped as an attribute.
#[tokio::test]
async fn the_connect_page_links_the_configured_install_url() {
    let f = fixture_with(|c| c.install_url = Some("https://store.example/latch?a=1&b=\"x\"".into())).await;
    let (_, page) = f.raw("GET", "/connect", None, None).await;
    let page = String::from_utf8(page).unwrap();
    assert!(page.contains(r#"data-install-url="https://store.example/latch?a=1&amp;b=&quot;x&quot;""#), "{page}");
    // The development steps would be wrong here: /install leads to the listing.
    assert_eq!(f.raw("GET", "/install", None, None).await.0, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_relay_shutting_down_is_alive_but_not_ready() {
    let f = fixture().await;
    f.state.shutdown.send_replace(true);
    let (s, b) = f.call("GET", "/readyz", None, None).await;
    assert_eq!((s, b["status"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("shutting_down")));
    assert_eq!(f.call("GET", "/healthz", None, None).await.0, StatusCode::OK);
}

/// What a revocation asks for all sockets of an instance at once, in batches of 500.
#[tokio::test]
async fn revoked_among_names_only_revoked_bindings() {
    let f = fixture().await;
    let (_, kept) = f.redeem(&f.mint("dana").await).await;
    let (_, gone) = f.redeem(&f.mint("erin").await).await;
    let (s, _) = f.call("POST", "/api/auth/revoke", None, Some(json!({"refreshToken": gone["refreshToken"]}))).await;
    assert_eq!(s, StatusCode::OK);
    let id = |g: &serde_json::Value| g["binding"]["bindingId"].as_str().unwrap().to_owned();
    let mut ids: Vec<String> = (0..1200).map(|n| format!("bnd_unknown{n}")).collect();
    ids.insert(700, id(&gone)); // in the second batch
    ids.push(id(&kept));
    let revoked = latch_relay::db::revoked_or_paused_among(&f.state.db, &ids).await.unwrap();
    assert_eq!(revoked, vec![id(&gone)]);
}

/// A page can open a WebSocket to any host without a preflight; its browser names the
/// page's origin. Only the extension's origin (or a client outside a browser, which sends
/// none) gets a session: a page could otherwise hold the address's unauthenticated slots.
#[tokio::test]
async fn a_page_on_another_origin_cannot_open_a_session() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let f = fixture().await;
    let url = common::ws::serve(&f).await;
    let (_, grant) = f.redeem(&f.mint("dana").await).await;
    let token = grant["accessToken"].as_str().unwrap();
    for origin in ["https://evil.example", "chrome-extension://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "null"] {
        let mut req = url.as_str().into_client_request().unwrap();
        req.headers_mut().insert("origin", origin.parse().unwrap());
        match tokio_tungstenite::connect_async(req).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(res)) => {
                assert_eq!(res.status(), axum::http::StatusCode::FORBIDDEN, "{origin}");
                let body: serde_json::Value = serde_json::from_slice(res.body().as_deref().unwrap()).unwrap();
                assert_eq!(body["error"], "origin_not_allowed", "{origin}");
            }
            other => panic!("{origin}: {:?}", other.map(|(_, res)| res.status())),
        }
    }
    let mut req = url.as_str().into_client_request().unwrap();
    let extension = format!("chrome-extension://{}", latch_relay::DEV_EXTENSION_ID);
    req.headers_mut().insert("origin", extension.parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.expect("the extension's origin is let in");
    common::ws::send(&mut ws, serde_json::json!({"type": "hello"})).await;
    assert_eq!(common::ws::recv(&mut ws).await.unwrap()["type"], "hello");
    common::ws::send(&mut ws, serde_json::json!({"type": "auth", "accessToken": token})).await;
    assert_eq!(common::ws::recv(&mut ws).await.unwrap()["type"], "auth_ack");
}

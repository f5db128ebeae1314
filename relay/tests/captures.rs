//! The capture inbox's token gate (seed 003) and the tenant's bindings API.

mod common;

use axum::http::StatusCode;
use common::fixture;
use serde_json::json;

const PATH: &str = "/api/inbox/v1/captures";

#[tokio::test]
async fn the_gate_answers_exactly_as_documented() {
    let f = fixture().await;
    sqlx::query("UPDATE tenants SET captures = 1").execute(&f.state.db).await.unwrap();
    let (_, grant) = f.redeem(&f.mint("dana").await).await;
    let access = grant["accessToken"].as_str().unwrap();
    let page = json!({"url": "https://example.com/a", "title": "A", "text": "hello"});

    let (s, b) = f.call("POST", PATH, None, Some(page.clone())).await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("access token required")));
    let (s, b) = f.call("POST", PATH, Some("wrong"), Some(page.clone())).await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("access token invalid")));
    for bad in [
        json!({}),
        json!({"url": "javascript:alert(1)", "title": "", "text": ""}),
        json!({"url": 1, "title": "", "text": ""}),
    ] {
        let (s, b) = f.call("POST", PATH, Some(access), Some(bad.clone())).await;
        assert_eq!((s, b["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_payload")), "{bad}");
    }
    let (s, b) = f.call("PUT", PATH, Some(access), Some(page.clone())).await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::METHOD_NOT_ALLOWED, Some("method_not_allowed")));

    let (s, b) = f.call("POST", PATH, Some(access), Some(page.clone())).await;
    assert_eq!((s, b["status"].as_str()), (StatusCode::ACCEPTED, Some("accepted")));
    let id = b["captureId"].as_str().unwrap().to_owned();

    // Only the one accepted capture was stored; draining hands it over once.
    let (s, d) = f.call("GET", PATH, Some(&f.api_key), None).await;
    assert_eq!(s, StatusCode::OK);
    let caps = d["captures"].as_array().unwrap();
    assert_eq!(caps.len(), 1);
    assert_eq!((caps[0]["captureId"].as_str(), caps[0]["userId"].as_str()), (Some(id.as_str()), Some("dana")));
    assert_eq!(caps[0]["text"], "hello");
    let (_, d) = f.call("GET", PATH, Some(&f.api_key), None).await;
    assert_eq!(d["captures"], json!([]));
    let (s, _) = f.call("GET", PATH, Some(access), None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "an access token can't drain");
}

#[tokio::test]
async fn a_tenant_without_captures_has_no_consumer() {
    let f = fixture().await;
    let (_, grant) = f.redeem(&f.mint("dana").await).await;
    let page = json!({"url": "https://example.com/", "title": "", "text": ""});
    let (s, b) = f.call("POST", PATH, grant["accessToken"].as_str(), Some(page)).await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("no_consumer")));
}

#[tokio::test]
async fn the_app_lists_and_revokes_its_bindings() {
    let f = fixture().await;
    let (_, grant) = f.redeem(&f.mint("dana").await).await;
    let id = grant["binding"]["bindingId"].as_str().unwrap();
    let (s, b) = f.call("GET", "/api/bindings", Some(&f.api_key), None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(b["bindings"][0]["bindingId"], id);
    let (s, _) = f.call("DELETE", "/api/bindings/bnd_other", Some(&f.api_key), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, b) = f.call("DELETE", &format!("/api/bindings/{id}"), Some(&f.api_key), None).await;
    assert_eq!((s, b["revoked"].as_bool()), (StatusCode::OK, Some(true)));
    let (s, b) = f.call("GET", "/api/me", grant["accessToken"].as_str(), None).await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("access token invalid")));
    let (s, _) = f.call("DELETE", &format!("/api/bindings/{id}"), Some(&f.api_key), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

// Issue 18 item 4: captures can't fill the disk.

async fn consuming(tweak: impl FnOnce(&mut latch_relay::Config)) -> common::Fixture {
    let f = common::fixture_with(|c| {
        c.limits.redeem_per_address = 0;
        tweak(c);
    })
    .await;
    sqlx::query("UPDATE tenants SET captures = 1").execute(&f.state.db).await.unwrap();
    f
}

async fn access_token(f: &common::Fixture, user: &str) -> String {
    let (s, grant) = f.redeem(&f.mint(user).await).await;
    assert_eq!(s, StatusCode::OK, "{grant}");
    grant["accessToken"].as_str().unwrap().to_owned()
}

async fn stored(f: &common::Fixture) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM captures").fetch_one(&f.state.db).await.unwrap()
}

fn page(text: &str) -> serde_json::Value {
    json!({"url": "https://example.com/", "title": "T", "text": text})
}

#[tokio::test]
async fn captures_are_rate_limited_per_binding() {
    let f = consuming(|c| c.inbox.per_binding_per_minute = 3).await;
    let (dana, eve) = (access_token(&f, "dana").await, access_token(&f, "eve").await);
    for _ in 0..3 {
        let (s, b) = f.call("POST", PATH, Some(&dana), Some(page("x"))).await;
        assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    }
    let (s, b) = f.call("POST", PATH, Some(&dana), Some(page("x"))).await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::TOO_MANY_REQUESTS, Some("rate_limited")), "{b}");
    assert!(b["retryAfter"].as_u64().is_some_and(|s| (1..=60).contains(&s)), "{b}");
    assert_eq!(stored(&f).await, 3, "the refused capture stored nothing");
    // Each stored capture is in the binding's activity with its size; the refused one is not.
    let logged: Vec<Option<String>> = sqlx::query_scalar("SELECT detail FROM binding_events WHERE type = 'capture'")
        .fetch_all(&f.state.db)
        .await
        .unwrap();
    let size = "https://example.com/".len() + "T".len() + "x".len();
    assert_eq!(logged, vec![Some(format!("{{\"bytes\":{size}}}")); 3]);
    let (s, _) = f.call("POST", PATH, Some(&eve), Some(page("x"))).await;
    assert_eq!(s, StatusCode::ACCEPTED, "another binding has its own budget");
    assert!(f.state.metrics.render().contains("latch_rate_limited_total{limit=\"capture\"} 1"));
}

#[tokio::test]
async fn a_full_inbox_refuses_by_count_and_by_bytes_until_the_app_drains_it() {
    let f = consuming(|c| {
        c.inbox.per_binding_per_minute = 0;
        c.inbox.max_captures = 3;
        c.inbox.max_bytes = 1_000;
    })
    .await;
    let token = access_token(&f, "dana").await;
    let post = |text: String| {
        let (f, token) = (&f, token.clone());
        async move { f.call("POST", PATH, Some(&token), Some(page(&text))).await }
    };
    // Each capture counts url (20) + title (1) + text bytes.
    let (s, _) = post("a".repeat(600)).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let (s, b) = post("€".repeat(200)).await; // 600 bytes: 621 + 621 > 1,000
    assert_eq!((s, b["error"].as_str()), (StatusCode::INSUFFICIENT_STORAGE, Some("inbox_full")), "{b}");
    assert!(b["message"].as_str().is_some_and(|m| !m.is_empty()));
    let (s, _) = post("b".repeat(300)).await; // 621 + 321 = 942
    assert_eq!(s, StatusCode::ACCEPTED);
    let (s, _) = post(String::new()).await; // 963: the third
    assert_eq!(s, StatusCode::ACCEPTED);
    let (s, b) = post(String::new()).await; // a fourth, however small
    assert_eq!((s, b["error"].as_str()), (StatusCode::INSUFFICIENT_STORAGE, Some("inbox_full")), "{b}");
    assert_eq!(stored(&f).await, 3);
    let (_, d) = f.call("GET", PATH, Some(&f.api_key), None).await;
    assert_eq!(d["captures"].as_array().map(Vec::len), Some(3));
    let (s, _) = post("€".repeat(200)).await;
    assert_eq!(s, StatusCode::ACCEPTED, "drained: room again");
}

#[tokio::test]
async fn concurrent_posts_never_go_past_the_cap() {
    let f = std::sync::Arc::new(
        consuming(|c| {
            c.inbox.per_binding_per_minute = 0;
            c.inbox.max_captures = 5;
        })
        .await,
    );
    let mut tokens = Vec::new();
    for n in 0..8 {
        tokens.push(access_token(&f, &format!("user{n}")).await);
    }
    let posts: Vec<_> = (0..40)
        .map(|i| {
            let (f, token) = (f.clone(), tokens[i % tokens.len()].clone());
            tokio::spawn(async move { f.call("POST", PATH, Some(&token), Some(page("x"))).await.0 })
        })
        .collect();
    let mut accepted = 0;
    for p in posts {
        match p.await.unwrap() {
            StatusCode::ACCEPTED => accepted += 1,
            s => assert_eq!(s, StatusCode::INSUFFICIENT_STORAGE),
        }
    }
    assert_eq!((accepted, stored(&f).await), (5, 5));
}

#[tokio::test]
async fn the_body_limit_fits_the_largest_capture_the_extension_sends() {
    let f = consuming(|_| {}).await;
    let token = access_token(&f, "dana").await;
    // capture.js sends at most 200,000 UTF-16 units of text: 3 UTF-8 bytes each at worst.
    let largest = json!({
        "url": format!("https://example.com/{}", "p".repeat(4096 - 20)),
        "title": "\"".repeat(1024),
        "text": "€".repeat(200_000),
    });
    let bytes = largest.to_string().len();
    assert!(bytes > 600_000, "{bytes}");
    let (s, b) = f.call("POST", PATH, Some(&token), Some(largest)).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    let too_big = page(&"a".repeat(700 * 1024));
    let (s, b) = f.call("POST", PATH, Some(&token), Some(too_big)).await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::PAYLOAD_TOO_LARGE, Some("payload_too_large")), "{b}");
    assert_eq!(stored(&f).await, 1);
}

#[tokio::test]
async fn undrained_captures_expire_after_the_capture_retention() {
    let f = consuming(|_| {}).await;
    let token = access_token(&f, "dana").await;
    let (s, _) = f.call("POST", PATH, Some(&token), Some(page("x"))).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let now = latch_relay::clock::now_ms();
    let week = 7 * 24 * 3_600_000;
    let removed = latch_relay::cleanup::run_once(&f.state, now + week - 3_600_000).await.unwrap();
    assert_eq!((removed.of("captures"), stored(&f).await), (0, 1));
    let removed = latch_relay::cleanup::run_once(&f.state, now + week + 60_000).await.unwrap();
    assert_eq!((removed.of("captures"), stored(&f).await), (1, 0));
    assert!(f.state.metrics.render().contains("latch_cleanup_removed_total{table=\"captures\"} 1"));
}

/// A HEAD stands for a GET without its body; here the GET hands captures over and deletes
/// them, so a HEAD (a link checker, a proxy's probe) must not: 405, and nothing is lost.
#[tokio::test]
async fn a_head_request_drains_nothing() {
    let f = fixture().await;
    sqlx::query("UPDATE tenants SET captures = 1").execute(&f.state.db).await.unwrap();
    let (_, grant) = f.redeem(&f.mint("dana").await).await;
    let access = grant["accessToken"].as_str().unwrap();
    let page = json!({"url": "https://example.com/a", "title": "A", "text": "hello"});
    let (s, _) = f.call("POST", PATH, Some(access), Some(page)).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let (s, _) = f.raw("HEAD", PATH, Some(&f.api_key), None).await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
    let (_, d) = f.call("GET", PATH, Some(&f.api_key), None).await;
    assert_eq!(d["captures"].as_array().map(Vec::len), Some(1), "{d}");
}

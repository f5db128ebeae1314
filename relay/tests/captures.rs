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

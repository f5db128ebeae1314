//! The shape of every HTTP answer (issue 18, items 8 and 9): JSON endpoints take only
//! `Content-Type: application/json` (415 otherwise, before anything happens), every error
//! is `{"error", "message"}` whatever went wrong, and the connect page's "Back to the app"
//! link is held to the tenant's registered origins.

mod common;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use common::{fixture_with, Fixture};
use http_body_util::BodyExt;
use latch_relay::clock::now_ms;
use latch_relay::db;
use latch_relay::limits::LimitConfig;
use serde_json::{json, Value};
use tower::ServiceExt;

/// One request with exactly these headers; status, headers and JSON body (null if none).
async fn send(
    f: &Fixture,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<String>,
) -> (StatusCode, HeaderMap, Value) {
    let mut req = Request::builder().method(method).uri(path);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let req = req.body(body.map(Body::from).unwrap_or_else(Body::empty)).unwrap();
    let res = f.app.clone().oneshot(req).await.unwrap();
    let (status, headers) = (res.status(), res.headers().clone());
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (status, headers, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

fn assert_error_shape(what: &str, status: StatusCode, headers: &HeaderMap, body: &Value, code: &str) {
    let content_type = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(content_type.starts_with("application/json"), "{what}: {status} content-type {content_type:?}");
    assert_eq!(body["error"].as_str(), Some(code), "{what}: {status} {body}");
    assert!(body["message"].as_str().is_some_and(|m| m.len() > 10), "{what}: {body}");
}

async fn count(f: &Fixture, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}")).fetch_one(&f.state.db).await.unwrap()
}

fn one_each(l: &mut LimitConfig) {
    *l = LimitConfig {
        mint_per_key: 1,
        describe_per_address: 1,
        redeem_per_address: 1,
        challenge_per_address: 1,
        approve_per_key: 1,
        refresh_per_address: 1,
        refresh_per_token: 1,
        revoke_per_address: 1,
        status_per_address: 1,
        changes_per_binding: 1,
    };
}

/// Content types a web page can send cross-site without a preflight, none at all, and
/// near misses.
const NOT_JSON: [Option<&str>; 7] = [
    Some("text/plain"),
    Some("text/plain;charset=UTF-8"),
    Some("application/x-www-form-urlencoded"),
    Some("multipart/form-data; boundary=x"),
    None,
    Some("application/jsonp"),
    Some("text/json"),
];

#[tokio::test]
async fn every_json_route_refuses_other_media_types_before_doing_anything() {
    // One request of each kind allowed per minute: a refused request that counted would
    // leave the JSON request after it rate-limited.
    let f = fixture_with(|c| one_each(&mut c.limits)).await;
    sqlx::query("UPDATE tenants SET captures = 1").execute(&f.state.db).await.unwrap();
    let token = f.mint("dana").await;
    assert_eq!(count(&f, "pairing_tokens").await, 1);
    let key = f.api_key.clone();
    let routes: Vec<(&str, &str, Option<&str>, Value)> = vec![
        ("POST", "/pairing-tokens", Some(&key), json!({"userId": "erin"})),
        ("POST", "/pairing-tokens/describe", None, json!({"pairingToken": token})),
        ("POST", "/pairing-tokens/redeem", None, json!({"pairingToken": token, "deviceName": "Chrome"})),
        ("POST", "/api/pairing/request", None, json!({"deviceId": "dev-1", "deviceName": "Chrome"})),
        ("POST", "/api/pairing/confirm", None, json!({"challengeId": "lch_x", "redeemKey": "lrk_x"})),
        ("POST", "/api/pairing/reject", None, json!({"challengeId": "lch_x"})),
        ("POST", "/api/pairing/approve", Some(&key), json!({"code": "ABCD-EFGH", "userId": "dana"})),
        ("POST", "/api/pairing/deny", Some(&key), json!({"code": "ABCD-EFGH"})),
        ("POST", "/api/enterprise/enroll", None, json!({"assertion": "a.b.c", "deviceName": "Chrome"})),
        ("POST", "/api/auth/refresh", None, json!({"refreshToken": "lrt_x"})),
        ("POST", "/api/auth/revoke", None, json!({"refreshToken": "lrt_x"})),
        ("POST", "/api/errands", Some(&key), json!({"userId": "dana", "kind": "ping", "params": {}})),
        (
            "POST",
            "/api/inbox/v1/captures",
            Some("not-a-token"),
            json!({"url": "https://a.example/", "title": "", "text": ""}),
        ),
        ("PATCH", "/api/me/device", Some("not-a-token"), json!({"deviceName": "Hijacked"})),
        ("POST", "/api/me/pause", Some("not-a-token"), json!({})),
        ("POST", "/api/me/resume", Some("not-a-token"), json!({})),
    ];
    for (method, path, bearer, body) in &routes {
        for content_type in NOT_JSON {
            let auth = bearer.map(|b| format!("Bearer {b}"));
            let mut headers = vec![];
            if let Some(ct) = content_type {
                headers.push(("content-type", ct));
            }
            if let Some(a) = &auth {
                headers.push(("authorization", a.as_str()));
            }
            let (s, h, b) = send(&f, method, path, &headers, Some(body.to_string())).await;
            assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{path} {content_type:?}: {b}");
            assert_error_shape(path, s, &h, &b, "unsupported_media_type");
        }
    }
    // Nothing happened: no token minted, no code issued, nothing stored or bound ...
    assert_eq!(count(&f, "pairing_tokens").await, 1);
    assert_eq!(count(&f, "challenges").await, 0);
    assert_eq!(count(&f, "bindings").await, 0);
    assert_eq!(count(&f, "captures").await, 0);
    // ... no budget spent, and the token not spent: the same requests as JSON go through.
    let (s, b) = f.call("POST", "/pairing-tokens/describe", None, Some(json!({"pairingToken": token}))).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = f.redeem(&token).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = f.call("POST", "/api/pairing/request", None, Some(json!({"deviceId": "d", "deviceName": "C"}))).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
}

#[tokio::test]
async fn a_text_plain_revoke_refresh_rename_or_pause_changes_nothing() {
    // One change of the binding allowed per minute: a refused request that counted would
    // leave the JSON rename after them rate-limited.
    let f = fixture_with(|c| c.limits.changes_per_binding = 1).await;
    let (s, grant) = f.redeem(&f.mint("dana").await).await;
    assert_eq!(s, StatusCode::OK, "{grant}");
    let refresh = grant["refreshToken"].as_str().unwrap();
    let access = grant["accessToken"].as_str().unwrap();
    let body = json!({"refreshToken": refresh}).to_string();
    for path in ["/api/auth/revoke", "/api/auth/refresh"] {
        let (s, _, b) = send(&f, "POST", path, &[("content-type", "text/plain")], Some(body.clone())).await;
        assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{path}: {b}");
    }
    let bearer = format!("Bearer {access}");
    let rename = json!({"deviceName": "Hijacked"}).to_string();
    for (method, path) in [("PATCH", "/api/me/device"), ("POST", "/api/me/pause"), ("POST", "/api/me/resume")] {
        let headers = [("content-type", "text/plain"), ("authorization", bearer.as_str())];
        let (s, _, b) = send(&f, method, path, &headers, Some(rename.clone())).await;
        assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{path}: {b}");
    }
    let (s, _) = f.call("GET", "/api/me", Some(access), None).await;
    assert_eq!(s, StatusCode::OK, "the binding still stands");
    let rotated: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sessions").fetch_one(&f.state.db).await.unwrap();
    assert_eq!(rotated, 1, "no refresh happened");
    let (name, paused): (String, Option<i64>) =
        sqlx::query_as("SELECT device_name, paused_at FROM bindings").fetch_one(&f.state.db).await.unwrap();
    assert_eq!((name.as_str(), paused), ("Test browser", None), "not renamed, not paused");
    let (s, b) = f.call("PATCH", "/api/me/device", Some(access), Some(json!({"deviceName": "Home"}))).await;
    assert_eq!(s, StatusCode::OK, "no budget spent: {b}");
}

#[tokio::test]
async fn json_with_parameters_or_in_another_case_is_json() {
    let f = fixture_with(|_| {}).await;
    let auth = format!("Bearer {}", f.api_key);
    for ct in [
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON;charset=UTF-8",
        "APPLICATION/JSON ; x=y",
    ] {
        let headers = [("content-type", ct), ("authorization", auth.as_str())];
        let (s, _, b) =
            send(&f, "POST", "/pairing-tokens", &headers, Some(json!({"userId": "dana"}).to_string())).await;
        assert_eq!(s, StatusCode::CREATED, "{ct}: {b}");
    }
    // Requests without a body need no content type.
    let (s, _, b) = send(&f, "GET", "/api/bindings", &[("authorization", auth.as_str())], None).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, _, _) = send(&f, "GET", "/healthz", &[("content-type", "text/plain")], None).await;
    assert_eq!(s, StatusCode::OK);
}

/// Method, path, headers, body; the status and error code expected.
type BadRequest<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>, Option<String>, StatusCode, &'a str);

#[tokio::test]
async fn every_kind_of_bad_request_is_answered_in_the_error_shape() {
    let f = fixture_with(|_| {}).await;
    let json_ct = ("content-type", "application/json");
    let auth = format!("Bearer {}", f.api_key);
    let huge = json!({"pairingToken": "A".repeat(1 << 20)}).to_string();
    let ws_headers = [
        ("connection", "upgrade"),
        ("upgrade", "websocket"),
        ("sec-websocket-version", "13"),
        ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ];
    let cases: Vec<BadRequest> = vec![
        ("GET", "/no-such-page", vec![], None, StatusCode::NOT_FOUND, "not_found"),
        ("POST", "/api/no-such-endpoint", vec![json_ct], Some("{}".into()), StatusCode::NOT_FOUND, "not_found"),
        // The media type is checked before anything else, routing included (§13).
        (
            "POST",
            "/api/no-such-endpoint",
            vec![("content-type", "text/plain")],
            Some("x".into()),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        ("GET", "/pairing-tokens/describe", vec![], None, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
        ("DELETE", "/pairing-tokens", vec![], None, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
        ("POST", "/api/me", vec![json_ct], Some("{}".into()), StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
        (
            "PUT",
            "/api/inbox/v1/captures",
            vec![json_ct],
            Some("{}".into()),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            "GET",
            "/api/pairing/status?challengeId=a&challengeId=b",
            vec![],
            None,
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
        ("GET", "/status-frame?tenant=acme&tenant=acme", vec![], None, StatusCode::BAD_REQUEST, "invalid_query"),
        (
            "DELETE",
            "/api/bindings/%FF%FE",
            vec![("authorization", auth.as_str())],
            None,
            StatusCode::BAD_REQUEST,
            "invalid_path",
        ),
        ("GET", "/api/session", vec![], None, StatusCode::BAD_REQUEST, "websocket_required"),
        ("GET", "/api/session", vec![("connection", "upgrade")], None, StatusCode::BAD_REQUEST, "websocket_required"),
        // Every upgrade header, but no connection that can be upgraded (not over hyper).
        ("GET", "/api/session", ws_headers.to_vec(), None, StatusCode::UPGRADE_REQUIRED, "websocket_required"),
        (
            "POST",
            "/api/session",
            vec![json_ct],
            Some("{}".into()),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            "POST",
            "/pairing-tokens/describe",
            vec![json_ct],
            Some(huge),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
        (
            "POST",
            "/pairing-tokens/describe",
            vec![],
            Some("{}".into()),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            "POST",
            "/pairing-tokens/describe",
            vec![json_ct],
            Some("not json".into()),
            StatusCode::BAD_REQUEST,
            "malformed_token",
        ),
    ];
    for (method, path, headers, body, status, code) in cases {
        let what = format!("{method} {path} {headers:?}");
        let (s, h, b) = send(&f, method, path, &headers, body).await;
        assert_eq!(s, status, "{what}: {b}");
        assert_error_shape(&what, s, &h, &b, code);
        if s == StatusCode::METHOD_NOT_ALLOWED {
            assert!(h.contains_key("allow"), "{what}: 405 keeps Allow");
        }
    }
    // Readiness: a 503 carries the error shape beside its status.
    f.state.shutdown.send_replace(true);
    let (s, h, b) = send(&f, "GET", "/readyz", &[], None).await;
    assert_eq!((s, b["status"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("shutting_down")));
    assert_error_shape("readyz", s, &h, &b, "shutting_down");
}

async fn describe(f: &Fixture, token: &str, return_url: Option<&str>) -> (StatusCode, Value) {
    let mut body = json!({"pairingToken": token});
    if let Some(r) = return_url {
        body["returnUrl"] = r.into();
    }
    f.call("POST", "/pairing-tokens/describe", None, Some(body)).await
}

#[tokio::test]
async fn the_back_link_leads_only_to_an_origin_of_the_tokens_tenant() {
    let f = fixture_with(|c| c.limits.describe_per_address = 0).await;
    let token = f.mint("dana").await;
    // The tenant's own pages: offered, as a browser would read them.
    for (asked, offered) in [
        ("http://localhost:8788/", "http://localhost:8788/"),
        ("http://localhost:8788/settings?tab=latch#top", "http://localhost:8788/settings?tab=latch#top"),
        ("HTTP://LOCALHOST:8788/a", "http://localhost:8788/a"),
        ("http://localhost:8788", "http://localhost:8788/"),
    ] {
        let (s, b) = describe(&f, &token, Some(asked)).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(b["returnUrl"].as_str(), Some(offered), "{asked}");
    }
    // Anything else: never offered; the tenant's first origin instead.
    let hostile = [
        "javascript:alert(document.domain)",
        "JavaScript:alert(1)//http://localhost:8788/",
        "data:text/html,<script>alert(1)</script>",
        "https://evil.example/",
        "http://localhost:8789/",
        "https://localhost:8788/",
        "http://127.0.0.1:8788/",
        "http://localhost.evil.example:8788/",
        "http://localhost:8788@evil.example/",
        "http://localhost:8788:x@evil.example/",
        "http://user:pw@localhost:8788/",
        "http://evil.example\\@localhost:8788/",
        "//evil.example/",
        "/relative",
        "ws://localhost:8788/",
        "",
    ];
    for asked in hostile {
        let (s, b) = describe(&f, &token, Some(asked)).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(b["returnUrl"].as_str(), Some("http://localhost:8788/"), "{asked:?} must not be offered");
    }
    let long = format!("http://localhost:8788/{}", "a".repeat(3000));
    assert_eq!(describe(&f, &token, Some(&long)).await.1["returnUrl"], "http://localhost:8788/");
    assert_eq!(describe(&f, &token, None).await.1["returnUrl"], "http://localhost:8788/");

    // The refusals of a token the relay knows carry the link too (the way back), held the same.
    assert_eq!(f.redeem(&token).await.0, StatusCode::OK);
    let (s, b) = describe(&f, &token, Some("http://localhost:8788/back")).await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::CONFLICT, Some("token_used")));
    assert_eq!(b["returnUrl"].as_str(), Some("http://localhost:8788/back"));
    let (_, b) = describe(&f, &token, Some("https://evil.example/")).await;
    assert_eq!(b["returnUrl"].as_str(), Some("http://localhost:8788/"), "{b}");
    // An unknown token belongs to no tenant: no link at all.
    let unknown = format!("lpt_{}", "A".repeat(43));
    let (s, b) = describe(&f, &unknown, Some("http://localhost:8788/")).await;
    assert_eq!((s, b.get("returnUrl")), (StatusCode::NOT_FOUND, None), "{b}");

    // Another tenant's origin is not this tenant's; a tenant without origins offers none.
    let bare = db::Tenant { id: "bare".into(), name: "Bare".into(), origins: vec![], captures: false };
    db::create_tenant(&f.state.db, &bare, now_ms()).await.unwrap();
    let (bare_key, _) = db::create_api_key(&f.state.db, "bare", "Bare", now_ms()).await.unwrap();
    let (s, minted) = f.call("POST", "/pairing-tokens", Some(&bare_key), Some(json!({"userId": "dana"}))).await;
    assert_eq!(s, StatusCode::CREATED);
    let bare_token = minted["pairingToken"].as_str().unwrap();
    let (s, b) = describe(&f, bare_token, Some("http://localhost:8788/")).await;
    assert_eq!((s, b.get("returnUrl")), (StatusCode::OK, None), "{b}");
}

#[tokio::test]
async fn the_connect_page_takes_its_back_link_from_the_relay_only() {
    let f = fixture_with(|_| {}).await;
    let (s, js) = f.raw("GET", "/static/connect.js", None, None).await;
    assert_eq!(s, StatusCode::OK);
    let js = String::from_utf8(js).unwrap();
    // The fragment's `return` goes to describe; the link is set from describe's answer.
    assert!(js.contains("returnUrl: requestedReturn"), "describe is asked");
    assert!(js.contains("body.returnUrl"), "the answer is used");
    assert!(!js.contains("safeReturn(params.get(\"return\"))"), "the fragment is never linked directly");
}

/// A request with neither a body nor a `Content-Type` has nothing to misread: it is routed
/// (an unknown method is 405, a missing token 401, as the OpenAPI document says). Any page
/// can send one cross-site (`sendBeacon`, a `no-cors` fetch), so a limit counted per
/// address before the body refuses it (415) instead of counting it. A body without the
/// JSON type, an empty form post included, is still 415 before anything.
#[tokio::test]
async fn a_bare_request_is_routed_but_spends_no_budget() {
    let f = fixture_with(|c| one_each(&mut c.limits)).await;
    let (s, _, b) = send(&f, "POST", "/api/me/pause", &[], None).await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("access token required")), "{b}");
    for (method, path) in [("PUT", "/api/me"), ("POST", "/api/pairing/status")] {
        let (s, _, b) = send(&f, method, path, &[], None).await;
        assert_eq!((s, b["error"].as_str()), (StatusCode::METHOD_NOT_ALLOWED, Some("method_not_allowed")), "{b}");
    }
    let form = [("content-type", "application/x-www-form-urlencoded")];
    let (s, h, b) = send(&f, "POST", "/api/me/pause", &form, None).await;
    assert_error_shape("empty form post", s, &h, &b, "unsupported_media_type");
    let (s, h, b) = send(&f, "POST", "/pairing-tokens/describe", &[], Some("{}".into())).await;
    assert_error_shape("a body without a type", s, &h, &b, "unsupported_media_type");
    // Every route that counts a per-address limit, twice each with a budget of one: all
    // 415, nothing stored, and the JSON requests after them still have their budgets.
    let open = [
        "/pairing-tokens/describe",
        "/pairing-tokens/redeem",
        "/api/pairing/request",
        "/api/pairing/confirm",
        "/api/pairing/reject",
        "/api/enterprise/enroll",
        "/api/auth/refresh",
        "/api/auth/revoke",
    ];
    for path in open {
        for _ in 0..2 {
            let (s, h, b) = send(&f, "POST", path, &[], None).await;
            assert_error_shape(path, s, &h, &b, "unsupported_media_type");
        }
    }
    for table in ["challenges", "bindings", "sessions"] {
        assert_eq!(count(&f, table).await, 0, "{table}");
    }
    let (s, b) = f.call("POST", "/api/pairing/request", None, Some(json!({"deviceId": "d1", "deviceName": "B"}))).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let token = f.mint("dana").await;
    let (s, b) = f.call("POST", "/pairing-tokens/describe", None, Some(json!({"pairingToken": token}))).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, grant) = f.redeem(&token).await;
    assert_eq!(s, StatusCode::OK, "{grant}");
    let refresh = json!({"refreshToken": grant["refreshToken"]});
    let (s, b) = f.call("POST", "/api/auth/refresh", None, Some(refresh)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = f.call("POST", "/api/auth/revoke", None, Some(json!({"refreshToken": b["refreshToken"]}))).await;
    assert_eq!((s, b["revoked"].as_bool()), (StatusCode::OK, Some(true)), "{b}");
}

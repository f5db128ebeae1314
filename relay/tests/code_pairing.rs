//! PROTOCOL §3 code pairing: request, status (long-poll, slow_down), approve/deny, pending.
//! An app's approval only names who asks (`awaiting_confirmation`); the binding is made by
//! the browser user's confirm. Tenant isolation, confirm's exactly-once and lost-answer
//! rules: `code_confirmation.rs`.

mod common;

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use common::{fixture, fixture_with, Fixture};
use serde_json::{json, Value};

const ALPHABET: &str = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

async fn request(f: &Fixture, device: &str) -> (StatusCode, Value) {
    f.call("POST", "/api/pairing/request", None, Some(json!({"deviceId": device, "deviceName": "Chrome"}))).await
}

async fn status(f: &Fixture, id: &str, wait: u64) -> (StatusCode, Value) {
    f.call("GET", &format!("/api/pairing/status?challengeId={id}&wait={wait}"), None, None).await
}

async fn approve(f: &Fixture, code: &str) -> (StatusCode, Value) {
    f.call("POST", "/api/pairing/approve", Some(&f.api_key), Some(json!({"code": code, "userId": "dana"}))).await
}

async fn confirm(f: &Fixture, id: &str, key: &str) -> (StatusCode, Value) {
    f.call("POST", "/api/pairing/confirm", None, Some(json!({"challengeId": id, "redeemKey": key}))).await
}

async fn bindings(f: &Fixture) -> Value {
    let (s, b) = f.call("GET", "/api/bindings", Some(&f.api_key), None).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b["bindings"].clone()
}

const KEY: &str = "lrk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

#[tokio::test]
async fn request_issues_a_code_from_the_alphabet() {
    let f = fixture().await;
    let (s, b) = request(&f, "dev-1").await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let code = b["code"].as_str().unwrap();
    assert_eq!(code.len(), 8);
    assert!(code.chars().all(|c| ALPHABET.contains(c)), "{code}");
    assert!(b["challengeId"].as_str().unwrap().starts_with("lch_"));
    assert_eq!(b["interval"], 5);
    let now = latch_relay::clock::now_ms();
    let ttl = b["expiresAt"].as_u64().unwrap() - now;
    assert!((590_000..=600_000).contains(&ttl), "{ttl}");
    for bad in [json!({}), json!({"deviceId": "", "deviceName": "x"}), json!({"deviceId": 3, "deviceName": "x"})] {
        let (s, _) = f.call("POST", "/api/pairing/request", None, Some(bad)).await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
    }
}

#[tokio::test]
async fn at_most_three_pending_per_device() {
    let f = fixture().await;
    for _ in 0..3 {
        assert_eq!(request(&f, "dev-1").await.0, StatusCode::CREATED);
    }
    let (s, b) = request(&f, "dev-1").await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::TOO_MANY_REQUESTS, Some("max_pending")));
    assert_eq!(request(&f, "dev-2").await.0, StatusCode::CREATED);
}

#[tokio::test]
async fn requests_are_rate_limited_per_address() {
    let f = fixture_with(|c| c.limits.challenge_per_address = 4).await;
    for i in 0..4 {
        assert_eq!(request(&f, &format!("dev-{i}")).await.0, StatusCode::CREATED);
    }
    let (s, b) = request(&f, "dev-9").await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::TOO_MANY_REQUESTS, Some("rate_limited")));
    assert!(b["retryAfter"].as_u64().is_some_and(|r| (1..=60).contains(&r)), "{b}");
}

#[tokio::test]
async fn polling_faster_than_the_interval_slows_down() {
    let f = fixture().await;
    let (_, c) = request(&f, "dev-1").await;
    let id = c["challengeId"].as_str().unwrap();
    let (s, b) = status(&f, id, 0).await;
    assert_eq!((s, b["status"].as_str()), (StatusCode::OK, Some("pending")));
    let (s, b) = status(&f, id, 0).await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::TOO_MANY_REQUESTS, Some("slow_down")));
    assert_eq!(b["interval"], 10, "RFC 8628: +5 s");
    let (_, b) = status(&f, id, 0).await;
    assert_eq!(b["interval"], 15);
}

#[tokio::test]
async fn unknown_challenges_and_codes() {
    let f = fixture().await;
    let (s, b) = status(&f, "lch_nope", 0).await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::NOT_FOUND, Some("challenge_not_found")));
    for code in ["ABCD-2345", "nonsense", ""] {
        let (s, b) = approve(&f, code).await;
        assert_eq!((s, b["error"].as_str()), (StatusCode::NOT_FOUND, Some("code_not_found")), "{code}");
    }
    let (s, _) =
        f.call("POST", "/api/pairing/approve", None, Some(json!({"code": "ABCD2345", "userId": "dana"}))).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn approval_awaits_the_browser_user_and_only_confirm_binds() {
    let f = fixture_with(|c| c.poll_interval_ms = 0).await;
    let (_, c) = request(&f, "dev-1").await;
    let (id, code) = (c["challengeId"].as_str().unwrap(), c["code"].as_str().unwrap());
    let shown = format!("{}-{}", &code[..4], &code[4..]);
    let (s, p) = f.call("GET", "/api/pairing/pending", Some(&f.api_key), None).await;
    assert_eq!((s, &p), (StatusCode::OK, &json!({"pending": []})), "an unapproved code is listed to no key");

    // Lower case with a dash is accepted.
    let (s, b) = approve(&f, &shown.to_lowercase()).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    assert_eq!(b, json!({"status": "awaiting_confirmation", "appName": "Acme", "userId": "dana"}));
    assert_eq!(bindings(&f).await, json!([]), "nothing is bound by an app's approval");
    let (_, p) = f.call("GET", "/api/pairing/pending", Some(&f.api_key), None).await;
    let listed = &p["pending"].as_array().unwrap()[..];
    assert_eq!(listed.len(), 1, "{p}");
    assert_eq!((listed[0]["code"].as_str(), listed[0]["userId"].as_str()), (Some(shown.as_str()), Some("dana")));
    assert_eq!(listed[0]["deviceName"], "Chrome");
    assert!(listed[0]["approvedAt"].as_u64().is_some(), "{p}");

    let (s, b) = status(&f, id, 0).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["status"], "awaiting_confirmation");
    assert_eq!((b["appName"].as_str(), b["tenantId"].as_str()), (Some("Acme"), Some("acme")));
    assert_eq!((b["userId"].as_str(), b["appOrigin"].as_str()), (Some("dana"), Some("http://localhost:8788")));
    assert!(b.get("refreshToken").is_none() && b.get("binding").is_none(), "no tokens from a status poll: {b}");

    let (s, grant) = confirm(&f, id, KEY).await;
    assert_eq!(s, StatusCode::OK, "{grant}");
    assert_eq!(grant["binding"]["userId"], "dana");
    assert_eq!(grant["binding"]["appName"], "Acme");
    assert_eq!(grant["binding"]["tenantId"], "acme");
    assert!(latch_wire::token::is_refresh_token(grant["refreshToken"].as_str().unwrap()));
    let (s, me) = f.call("GET", "/api/me", grant["accessToken"].as_str(), None).await;
    assert_eq!((s, me["userId"].as_str()), (StatusCode::OK, Some("dana")));
    let listed = bindings(&f).await;
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(listed[0]["bindingId"], grant["binding"]["bindingId"]);
    assert_eq!(listed[0]["deviceName"], "Chrome", "the device name sent with the request");

    let (s, b) = status(&f, id, 0).await;
    assert_eq!((s, b["status"].as_str()), (StatusCode::OK, Some("confirmed")), "{b}");
    assert!(b.get("refreshToken").is_none());
    let (_, p) = f.call("GET", "/api/pairing/pending", Some(&f.api_key), None).await;
    assert_eq!(p["pending"], json!([]), "answered codes are no longer pending");
    let (s, b) = approve(&f, code).await;
    assert_eq!((s, b["status"].as_str()), (StatusCode::ACCEPTED, Some("confirmed")), "the same approval again: {b}");
}

#[tokio::test]
async fn reject_denies_binds_nothing_and_confirm_afterwards_conflicts() {
    let f = fixture_with(|c| c.poll_interval_ms = 0).await;
    let (_, c) = request(&f, "dev-1").await;
    let id = c["challengeId"].as_str().unwrap();
    assert_eq!(approve(&f, c["code"].as_str().unwrap()).await.0, StatusCode::ACCEPTED);
    let reject = json!({"challengeId": id});
    let (s, b) = f.call("POST", "/api/pairing/reject", None, Some(reject.clone())).await;
    assert_eq!((s, b), (StatusCode::OK, json!({"status": "denied"})));
    let (s, b) = f.call("POST", "/api/pairing/reject", None, Some(reject)).await;
    assert_eq!((s, b["status"].as_str()), (StatusCode::OK, Some("denied")), "idempotent");
    let (_, b) = status(&f, id, 0).await;
    assert_eq!(b["status"], "denied");
    let (s, b) = confirm(&f, id, KEY).await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::CONFLICT, Some("not_awaiting_confirmation")));
    assert_eq!(bindings(&f).await, json!([]));
    let (s, b) = approve(&f, c["code"].as_str().unwrap()).await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::NOT_FOUND, Some("code_not_found")), "a denied code is done");

    // A code nobody approved can be rejected too (the user cancelled it) ...
    let (_, c) = request(&f, "dev-2").await;
    let id = c["challengeId"].as_str().unwrap();
    let (s, _) = f.call("POST", "/api/pairing/reject", None, Some(json!({"challengeId": id}))).await;
    assert_eq!(s, StatusCode::OK);
    let (s, b) = approve(&f, c["code"].as_str().unwrap()).await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::NOT_FOUND, Some("code_not_found")));
    // ... but not a confirmed one, nor an unknown one.
    let (_, c) = request(&f, "dev-3").await;
    let id = c["challengeId"].as_str().unwrap();
    approve(&f, c["code"].as_str().unwrap()).await;
    assert_eq!(confirm(&f, id, KEY).await.0, StatusCode::OK);
    let (s, b) = f.call("POST", "/api/pairing/reject", None, Some(json!({"challengeId": id}))).await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::CONFLICT, Some("not_awaiting_confirmation")));
    let (s, b) = f.call("POST", "/api/pairing/reject", None, Some(json!({"challengeId": "lch_nope"}))).await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::NOT_FOUND, Some("challenge_not_found")));
}

#[tokio::test]
async fn confirm_refuses_unknown_unapproved_and_malformed() {
    let f = fixture_with(|c| c.poll_interval_ms = 0).await;
    let (s, b) = confirm(&f, "lch_nope", KEY).await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::NOT_FOUND, Some("challenge_not_found")));
    let (_, c) = request(&f, "dev-1").await;
    let id = c["challengeId"].as_str().unwrap();
    let (s, b) = confirm(&f, id, KEY).await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::CONFLICT, Some("not_awaiting_confirmation")), "pending");
    approve(&f, c["code"].as_str().unwrap()).await;
    for key in ["", "lrk_short", "lpt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"] {
        let (s, b) = confirm(&f, id, key).await;
        assert_eq!((s, b["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_redeem_key")), "{key}");
    }
    let (s, _) = f.call("POST", "/api/pairing/confirm", None, Some(json!({"challengeId": id}))).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "redeemKey is required");
    assert_eq!(bindings(&f).await, json!([]));
    let body = json!({"challengeId": id, "redeemKey": KEY, "deviceName": "Work laptop"});
    let (s, grant) = f.call("POST", "/api/pairing/confirm", None, Some(body)).await;
    assert_eq!(s, StatusCode::OK, "{grant}");
    assert_eq!(bindings(&f).await[0]["deviceName"], "Work laptop", "the name sent with the confirm wins");
}

#[tokio::test]
async fn deny_and_expiry() {
    let f = fixture_with(|c| c.poll_interval_ms = 0).await;
    let (_, c) = request(&f, "dev-1").await;
    let code = c["code"].as_str().unwrap();
    assert_eq!(approve(&f, code).await.0, StatusCode::ACCEPTED);
    let (s, b) = f.call("POST", "/api/pairing/deny", Some(&f.api_key), Some(json!({"code": code}))).await;
    assert_eq!((s, b), (StatusCode::OK, json!({"status": "denied"})), "the approving app withdraws");
    let (_, b) = status(&f, c["challengeId"].as_str().unwrap(), 0).await;
    assert_eq!(b["status"], "denied");
    let (s, b) = f.call("POST", "/api/pairing/deny", Some(&f.api_key), Some(json!({"code": code}))).await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::NOT_FOUND, Some("code_not_found")));

    let f = fixture_with(|c| {
        c.poll_interval_ms = 0;
        c.challenge_ttl_ms = 1;
    })
    .await;
    let (_, c) = request(&f, "dev-1").await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    let (s, b) = approve(&f, c["code"].as_str().unwrap()).await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::GONE, Some("code_expired")));
    let (_, b) = status(&f, c["challengeId"].as_str().unwrap(), 0).await;
    assert_eq!(b["status"], "expired");
}

/// An approved code the user did not answer in time: confirm says so, the poll says
/// expired, and nothing is bound.
#[tokio::test]
async fn an_expired_awaiting_code_cannot_be_confirmed() {
    let f = fixture_with(|c| {
        c.poll_interval_ms = 0;
        c.challenge_ttl_ms = 300;
    })
    .await;
    let (_, c) = request(&f, "dev-1").await;
    let id = c["challengeId"].as_str().unwrap();
    assert_eq!(approve(&f, c["code"].as_str().unwrap()).await.0, StatusCode::ACCEPTED);
    let (_, b) = status(&f, id, 0).await;
    assert_eq!(b["status"], "awaiting_confirmation");
    tokio::time::sleep(Duration::from_millis(350)).await;
    let (s, b) = confirm(&f, id, KEY).await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::GONE, Some("code_expired")));
    let (_, b) = status(&f, id, 0).await;
    assert_eq!(b["status"], "expired");
    assert!(b.get("appName").is_none(), "{b}");
    assert_eq!(bindings(&f).await, json!([]));
    let (_, p) = f.call("GET", "/api/pairing/pending", Some(&f.api_key), None).await;
    assert_eq!(p["pending"], json!([]));
}

/// A long-poll answers on the approval, not at the end of its 20 s wait. The bound is
/// loose on purpose: this checks the wake-up, not its speed (12–15 ms here, printed; a
/// shared CI machine once took 120 ms on PostgreSQL). Speed is BENCHMARKS.md's job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_poll_seen_pending_wakes_on_approval_with_the_requester() {
    let f = std::sync::Arc::new(fixture().await);
    let (_, c) = request(&f, "dev-1").await;
    let id = c["challengeId"].as_str().unwrap().to_owned();
    let poller = {
        let f = f.clone();
        tokio::spawn(async move {
            let r =
                f.call("GET", &format!("/api/pairing/status?challengeId={id}&wait=20&seen=pending"), None, None).await;
            (r, Instant::now())
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!poller.is_finished(), "still waiting while pending");
    let approved_at = Instant::now();
    assert_eq!(approve(&f, c["code"].as_str().unwrap()).await.0, StatusCode::ACCEPTED);
    let ((s, b), answered_at) = poller.await.unwrap();
    assert_eq!((s, b["status"].as_str()), (StatusCode::OK, Some("awaiting_confirmation")), "{b}");
    assert_eq!((b["appName"].as_str(), b["userId"].as_str()), (Some("Acme"), Some("dana")));
    let latency = answered_at.duration_since(approved_at);
    println!("long-poll wake latency: {latency:?}");
    assert!(latency < Duration::from_secs(1), "{latency:?}");
}

/// The extension that already shows the prompt polls with `seen=awaiting_confirmation`:
/// that poll waits while the code still awaits, and answers on the user's (or the app's)
/// decision.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_poll_seen_awaiting_waits_and_wakes_on_reject_or_confirm() {
    let f = std::sync::Arc::new(fixture_with(|c| c.poll_interval_ms = 0).await);
    for answer in ["reject", "confirm", "deny"] {
        let (_, c) = request(&f, &format!("dev-{answer}")).await;
        let id = c["challengeId"].as_str().unwrap().to_owned();
        assert_eq!(approve(&f, c["code"].as_str().unwrap()).await.0, StatusCode::ACCEPTED);
        let poller = {
            let (f, id) = (f.clone(), id.clone());
            tokio::spawn(async move {
                let path = format!("/api/pairing/status?challengeId={id}&wait=20&seen=awaiting_confirmation");
                (f.call("GET", &path, None, None).await, Instant::now())
            })
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!poller.is_finished(), "{answer}: still waiting while awaiting the user");
        let decided_at = Instant::now();
        let expected = match answer {
            "reject" => {
                let (s, _) = f.call("POST", "/api/pairing/reject", None, Some(json!({"challengeId": id}))).await;
                assert_eq!(s, StatusCode::OK);
                "denied"
            }
            "confirm" => {
                assert_eq!(confirm(&f, &id, KEY).await.0, StatusCode::OK);
                "confirmed"
            }
            _ => {
                let body = json!({"code": c["code"]});
                assert_eq!(f.call("POST", "/api/pairing/deny", Some(&f.api_key), Some(body)).await.0, StatusCode::OK);
                "denied"
            }
        };
        let ((s, b), answered_at) = poller.await.unwrap();
        assert_eq!((s, b["status"].as_str()), (StatusCode::OK, Some(expected)), "{answer}: {b}");
        let latency = answered_at.duration_since(decided_at);
        assert!(latency < Duration::from_secs(1), "{answer}: {latency:?}");
    }
    // Polled as if still pending, an awaiting code answers at once.
    let (_, c) = request(&f, "dev-last").await;
    approve(&f, c["code"].as_str().unwrap()).await;
    let t = Instant::now();
    let (_, b) = status(&f, c["challengeId"].as_str().unwrap(), 20).await;
    assert_eq!(b["status"], "awaiting_confirmation");
    assert!(t.elapsed() < Duration::from_secs(1));
    let path = format!("/api/pairing/status?challengeId={}&seen=approved", c["challengeId"].as_str().unwrap());
    let (s, b) = f.call("GET", &path, None, None).await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_seen")));
}

#[tokio::test]
async fn long_poll_returns_pending_at_its_deadline() {
    let f = fixture().await;
    let (_, c) = request(&f, "dev-1").await;
    let t = Instant::now();
    let (s, b) = status(&f, c["challengeId"].as_str().unwrap(), 1).await;
    assert_eq!((s, b["status"].as_str()), (StatusCode::OK, Some("pending")));
    assert!(t.elapsed() >= Duration::from_millis(950), "{:?}", t.elapsed());
}

/// An approved code still counts against the browser's three open codes.
#[tokio::test]
async fn awaiting_codes_count_as_open_for_the_device_limit() {
    let f = fixture().await;
    for _ in 0..3 {
        let (_, c) = request(&f, "dev-1").await;
        approve(&f, c["code"].as_str().unwrap()).await;
    }
    let (s, b) = request(&f, "dev-1").await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::TOO_MANY_REQUESTS, Some("max_pending")));
}

/// `tenant create --pair-url`: the code request answers the app's page with `?code=`
/// filled in while exactly one tenant registered one; with none or two (a code request
/// doesn't say which app it is for) it answers no `url`.
#[tokio::test]
async fn the_code_request_names_the_one_registered_pairing_page() {
    let f = fixture_with(|c| c.limits.challenge_per_address = 0).await;
    let (s, b) = request(&f, "dev-1").await;
    assert_eq!((s, b.get("url")), (StatusCode::CREATED, None), "{b}");

    latch_relay::db::set_pair_url(&f.state.db, "acme", "http://localhost:8788/pair?from=latch").await.unwrap();
    let (_, b) = request(&f, "dev-2").await;
    let code = b["code"].as_str().unwrap();
    let shown = format!("{}-{}", &code[..4], &code[4..]);
    assert_eq!(b["url"], format!("http://localhost:8788/pair?from=latch&code={shown}"));

    let globex =
        latch_relay::db::Tenant { id: "globex".into(), name: "Globex".into(), origins: vec![], captures: false };
    latch_relay::db::create_tenant(&f.state.db, &globex, latch_relay::clock::now_ms()).await.unwrap();
    latch_relay::db::set_pair_url(&f.state.db, "globex", "https://globex.example/pair").await.unwrap();
    let (_, b) = request(&f, "dev-3").await;
    assert_eq!(b.get("url"), None, "two apps: the relay can't tell which");
}

/// An app approves a code only for a user id of the rule the mint holds (1–128 characters,
/// no control or format characters, no surrounding spaces); a refused approval leaves the
/// code pending for a valid one.
#[tokio::test]
async fn approve_holds_user_ids_to_the_mint_s_rule() {
    let f = fixture().await;
    let (_, b) = request(&f, "dev-1").await;
    let code = b["code"].as_str().unwrap().to_owned();
    for bad in ["", " dana", "da\u{7}na", "da\u{200B}na", &"x".repeat(129)] {
        let body = json!({"code": code, "userId": bad});
        let (s, b) = f.call("POST", "/api/pairing/approve", Some(&f.api_key), Some(body)).await;
        assert_eq!((s, b["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_user_id")), "{bad:?}: {b}");
    }
    let (s, b) = approve(&f, &code).await;
    assert_eq!((s, b["status"].as_str()), (StatusCode::ACCEPTED, Some("awaiting_confirmation")), "{b}");
}

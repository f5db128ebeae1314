//! Key-bound sessions (PROTOCOL §12, RFC 9449): a binding made with a DPoP proof holds its
//! key's thumbprint, and its tokens are worth nothing without a fresh proof by that key.
//! Runs on both backends (`LATCH_PG_URL`).

mod common;

use axum::http::{HeaderMap, StatusCode};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::dpop::{now_secs, Key};
use common::ws::{authed, close_of, recv, round_trip, send, serve};
use common::{fixture, Fixture};
use serde_json::{json, Value};

const ME: &str = "/api/me";
const REFRESH: &str = "/api/auth/refresh";
const REDEEM: &str = "/pairing-tokens/redeem";
const REVOKE: &str = "/api/auth/revoke";
const SESSION: &str = "/api/session";

/// The claims of a JWT, unverified (the test reads what the relay put in).
fn claims_of(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// Pairs with a proof by `key`: the grant.
async fn pair_bound(f: &Fixture, key: &Key) -> Value {
    let token = f.mint("dana").await;
    let proof = key.proof("POST", REDEEM, None);
    let body = json!({"pairingToken": token, "deviceName": "Test browser"});
    let (status, _, grant) = f.request("POST", REDEEM, &[("dpop", &proof)], Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{grant}");
    grant
}

fn at(grant: &Value) -> &str {
    grant["accessToken"].as_str().unwrap()
}

fn rt(grant: &Value) -> &str {
    grant["refreshToken"].as_str().unwrap()
}

/// `GET /api/me` with the token presented as `scheme` and these extra headers.
async fn me(f: &Fixture, scheme: &str, token: &str, proof: Option<&str>) -> (StatusCode, HeaderMap, Value) {
    let auth = format!("{scheme} {token}");
    let mut headers = vec![("authorization", auth.as_str())];
    if let Some(p) = proof {
        headers.push(("dpop", p));
    }
    f.request("GET", ME, &headers, None).await
}

async fn refresh(f: &Fixture, refresh_token: &str, proof: Option<&str>) -> (StatusCode, HeaderMap, Value) {
    let headers: Vec<(&str, &str)> = proof.map(|p| ("dpop", p)).into_iter().collect();
    f.request("POST", REFRESH, &headers, Some(json!({"refreshToken": refresh_token}))).await
}

async fn revoke(f: &Fixture, refresh_token: &str, proof: Option<&str>) -> (StatusCode, HeaderMap, Value) {
    let headers: Vec<(&str, &str)> = proof.map(|p| ("dpop", p)).into_iter().collect();
    f.request("POST", REVOKE, &headers, Some(json!({"refreshToken": refresh_token}))).await
}

fn refused_as(answer: &(StatusCode, HeaderMap, Value), code: &str) {
    let (status, headers, body) = answer;
    assert_eq!(*status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"], code, "{body}");
    let challenge = headers.get("www-authenticate").expect("a DPoP challenge").to_str().unwrap();
    assert!(challenge.starts_with(&format!(r#"DPoP error="{code}""#)), "{challenge}");
}

#[tokio::test]
async fn a_pairing_with_a_proof_binds_its_key_and_the_access_token_needs_a_proof_by_it() {
    let f = fixture().await;
    let key = Key::new();
    let grant = pair_bound(&f, &key).await;
    let token = at(&grant);
    assert_eq!(claims_of(token)["cnf"]["jkt"], key.jkt(), "the access token names the key (cnf.jkt)");

    let (status, _, body) = me(&f, "DPoP", token, Some(&key.proof("GET", ME, Some(token)))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["userId"], "dana");

    // The same token without its proof, or as a bearer token: refused.
    refused_as(&me(&f, "DPoP", token, None).await, "invalid_dpop_proof");
    refused_as(&me(&f, "Bearer", token, None).await, "invalid_dpop_proof");
    refused_as(&me(&f, "Bearer", token, Some(&key.proof("GET", ME, Some(token)))).await, "invalid_dpop_proof");
    // The gate's own strings are unchanged for a missing or invalid token.
    let (status, _, body) = f.request("GET", ME, &[], None).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("access token required")));
    let forged = format!("{token}x");
    let (status, _, body) = me(&f, "DPoP", &forged, Some(&key.proof("GET", ME, Some(&forged)))).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("access token invalid")));
}

#[tokio::test]
async fn a_proof_is_refused_replayed_or_made_for_another_request_key_token_or_time() {
    let f = fixture().await;
    let key = Key::new();
    let grant = pair_bound(&f, &key).await;
    let token = at(&grant);
    let proof = key.proof("GET", ME, Some(token));
    assert_eq!(me(&f, "DPoP", token, Some(&proof)).await.0, StatusCode::OK);
    refused_as(&me(&f, "DPoP", token, Some(&proof)).await, "invalid_dpop_proof"); // replayed

    let other = Key::new();
    let wrong: [(&str, String); 6] = [
        ("another method", key.proof("POST", ME, Some(token))),
        ("another URL", key.proof("GET", "/api/me/device", Some(token))),
        ("another relay", key.proof_with("GET", ME, Some(token), |c| c["htu"] = json!("https://evil.example/api/me"))),
        ("another token's hash", key.proof("GET", ME, Some("another token"))),
        ("no token hash", key.proof("GET", ME, None)),
        ("another key", other.proof("GET", ME, Some(token))),
    ];
    for (what, proof) in wrong {
        let answer = me(&f, "DPoP", token, Some(&proof)).await;
        assert_eq!(answer.2["error"], "invalid_dpop_proof", "{what}: {}", answer.2);
        refused_as(&answer, "invalid_dpop_proof");
    }
    // A forged signature, a private key in the header, another typ or alg.
    let mut forged = key.proof("GET", ME, Some(token));
    forged.replace_range(forged.len() - 3.., "AAA");
    let mut with_private = key.header();
    with_private["jwk"]["d"] = json!(key.x);
    let mut jwt_typ = key.header();
    jwt_typ["typ"] = json!("JWT");
    let mut hs256 = key.header();
    hs256["alg"] = json!("HS256");
    for (what, proof) in [
        ("forged signature", forged),
        ("private key", key.sign(&with_private, &key.claims("GET", ME, Some(token)))),
        ("typ JWT", key.sign(&jwt_typ, &key.claims("GET", ME, Some(token)))),
        ("alg HS256", key.sign(&hs256, &key.claims("GET", ME, Some(token)))),
        ("not a JWS", "a.b".into()),
    ] {
        let answer = me(&f, "DPoP", token, Some(&proof)).await;
        assert_eq!(answer.2["error"], "invalid_dpop_proof", "{what}: {}", answer.2);
    }

    // Too old or too new: the relay hands out a nonce, and a proof with it passes.
    for iat in [now_secs() - 600, now_secs() + 600] {
        let late = key.proof_with("GET", ME, Some(token), |c| c["iat"] = json!(iat));
        let answer = me(&f, "DPoP", token, Some(&late)).await;
        refused_as(&answer, "use_dpop_nonce");
        let nonce = answer.1.get("dpop-nonce").expect("a DPoP-Nonce").to_str().unwrap().to_owned();
        let with_nonce = key.proof_with("GET", ME, Some(token), |c| {
            c["iat"] = json!(iat);
            c["nonce"] = json!(nonce);
        });
        assert_eq!(me(&f, "DPoP", token, Some(&with_nonce)).await.0, StatusCode::OK, "a proof with the relay's nonce");
        refused_as(&me(&f, "DPoP", token, Some(&with_nonce)).await, "invalid_dpop_proof");
        // and only once
    }
    // Two DPoP headers are refused.
    let auth = format!("DPoP {token}");
    let (p1, p2) = (key.proof("GET", ME, Some(token)), key.proof("GET", ME, Some(token)));
    let answer = f.request("GET", ME, &[("authorization", &auth), ("dpop", &p1), ("dpop", &p2)], None).await;
    refused_as(&answer, "invalid_dpop_proof");
}

#[tokio::test]
async fn a_copied_refresh_token_is_refused_without_the_key_and_leaves_the_family_alone() {
    let f = fixture().await;
    let key = Key::new();
    let grant = pair_bound(&f, &key).await;
    let stolen = rt(&grant);
    let thief = Key::new();
    refused_as(&refresh(&f, stolen, None).await, "invalid_dpop_proof");
    refused_as(&refresh(&f, stolen, Some(&thief.proof("POST", REFRESH, None))).await, "invalid_dpop_proof");
    refused_as(&revoke(&f, stolen, None).await, "invalid_dpop_proof");
    refused_as(&revoke(&f, stolen, Some(&thief.proof("POST", REVOKE, None))).await, "invalid_dpop_proof");

    // The browser that holds the key still refreshes: the thief's tries revoked nothing.
    let (status, _, next) = refresh(&f, stolen, Some(&key.proof("POST", REFRESH, None))).await;
    assert_eq!(status, StatusCode::OK, "{next}");
    assert_eq!(claims_of(at(&next))["cnf"]["jkt"], key.jkt());
    // An older token replayed without the key is still only refused, not treated as reuse.
    refused_as(&refresh(&f, stolen, Some(&thief.proof("POST", REFRESH, None))).await, "invalid_dpop_proof");
    let token = at(&next);
    assert_eq!(me(&f, "DPoP", token, Some(&key.proof("GET", ME, Some(token)))).await.0, StatusCode::OK);
    // With the key, the real Disconnect works.
    let (status, _, body) = revoke(&f, stolen, Some(&key.proof("POST", REVOKE, None))).await;
    assert_eq!((status, body["revoked"].as_bool()), (StatusCode::OK, Some(true)), "{body}");
}

#[tokio::test]
async fn a_binding_made_without_a_key_is_bound_once_by_its_next_refresh_with_a_proof() {
    let f = fixture().await;
    let token = f.mint("dana").await;
    let (status, grant) = f.redeem(&token).await;
    assert_eq!(status, StatusCode::OK, "{grant}");
    assert!(claims_of(at(&grant)).get("cnf").is_none(), "a keyless binding's token is a bearer token");
    assert_eq!(me(&f, "Bearer", at(&grant), None).await.0, StatusCode::OK);

    let key = Key::new();
    let (status, _, upgraded) = refresh(&f, rt(&grant), Some(&key.proof("POST", REFRESH, None))).await;
    assert_eq!(status, StatusCode::OK, "{upgraded}");
    assert_eq!(claims_of(at(&upgraded))["cnf"]["jkt"], key.jkt(), "bound on this refresh");
    // From now on the key is required, and no second key can take over.
    refused_as(&refresh(&f, rt(&upgraded), None).await, "invalid_dpop_proof");
    refused_as(&refresh(&f, rt(&upgraded), Some(&Key::new().proof("POST", REFRESH, None))).await, "invalid_dpop_proof");
    let (status, _, next) = refresh(&f, rt(&upgraded), Some(&key.proof("POST", REFRESH, None))).await;
    assert_eq!(status, StatusCode::OK, "{next}");
    // A lost answer's retry within the grace window gets the same successor, with the key only.
    refused_as(&refresh(&f, rt(&upgraded), None).await, "invalid_dpop_proof");
    let (status, _, again) = refresh(&f, rt(&upgraded), Some(&key.proof("POST", REFRESH, None))).await;
    assert_eq!((status, rt(&again)), (StatusCode::OK, rt(&next)), "{again}");
    // The bearer token of before the upgrade died with it (it names no key), on the gate
    // and on the socket; every token issued since is bound.
    let (status, _, body) = me(&f, "Bearer", at(&grant), None).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("access token invalid")));
    refused_as(&me(&f, "Bearer", at(&next), None).await, "invalid_dpop_proof");
    let url = serve(&f).await;
    let (mut ws, _) = greeted(&url).await;
    send(&mut ws, json!({"type": "auth", "accessToken": at(&grant)})).await;
    assert_eq!(refusal(&mut ws).await, ("invalid_access_token".into(), 4401), "a pre-upgrade token's socket");
}

#[tokio::test]
async fn a_thief_who_upgrades_a_keyless_binding_first_loses_it_to_the_browser_s_next_refresh() {
    let f = fixture().await;
    let (_, grant) = f.redeem(&f.mint("dana").await).await;
    // The thief holds a copy of the keyless binding's refresh token and refreshes first,
    // binding its own key.
    let thief = Key::new();
    let (status, _, stolen) = refresh(&f, rt(&grant), Some(&thief.proof("POST", REFRESH, None))).await;
    assert_eq!((status, stolen["tokenType"].as_str()), (StatusCode::OK, Some("DPoP")), "{stolen}");
    // The browser's own refresh of that token, with its own key: the token is older than the
    // binding's key, so this is reuse, and the family (the thief's successor with it) dies.
    let browser = Key::new();
    let (status, _, body) = refresh(&f, rt(&grant), Some(&browser.proof("POST", REFRESH, None))).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("refresh_token_reused")), "{body}");
    let (status, _, body) = refresh(&f, rt(&stolen), Some(&thief.proof("POST", REFRESH, None))).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("refresh_token_revoked")), "{body}");
    let token = at(&stolen);
    let (_, _, body) = me(&f, "DPoP", token, Some(&thief.proof("GET", ME, Some(token)))).await;
    assert_eq!(body["error"], "access token invalid");
}

#[tokio::test]
async fn a_redeem_retry_is_repeated_only_to_the_key_that_made_the_binding() {
    let f = fixture().await;
    let key = Key::new();
    let token = f.mint("dana").await;
    let body = json!({"pairingToken": token, "deviceName": "Test browser", "redeemKey": format!("lrk_{}", "C".repeat(42) + "A")});
    let (status, _, grant) =
        f.request("POST", REDEEM, &[("dpop", &key.proof("POST", REDEEM, None))], Some(body.clone())).await;
    assert_eq!(status, StatusCode::OK, "{grant}");
    assert_eq!(grant["tokenType"], "DPoP");
    refused_as(&f.request("POST", REDEEM, &[], Some(body.clone())).await, "invalid_dpop_proof");
    let other = Key::new().proof("POST", REDEEM, None);
    refused_as(&f.request("POST", REDEEM, &[("dpop", &other)], Some(body.clone())).await, "invalid_dpop_proof");
    let (status, _, again) = f.request("POST", REDEEM, &[("dpop", &key.proof("POST", REDEEM, None))], Some(body)).await;
    assert_eq!((status, rt(&again)), (StatusCode::OK, rt(&grant)), "{again}");
}

#[tokio::test]
async fn the_key_is_bound_at_code_confirm_too_and_a_lost_answer_is_repeated_only_to_it() {
    let f = fixture().await;
    let device = json!({"deviceId": "dev-1", "deviceName": "Test browser"});
    let (status, issued) = f.call("POST", "/api/pairing/request", None, Some(device)).await;
    assert_eq!(status, StatusCode::CREATED, "{issued}");
    let approve = json!({"code": issued["code"], "userId": "dana"});
    let (status, body) = f.call("POST", "/api/pairing/approve", Some(&f.api_key), Some(approve)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let key = Key::new();
    let confirm = json!({"challengeId": issued["challengeId"], "redeemKey": format!("lrk_{}", "A".repeat(43))});
    let path = "/api/pairing/confirm";
    let (status, _, grant) =
        f.request("POST", path, &[("dpop", &key.proof("POST", path, None))], Some(confirm.clone())).await;
    assert_eq!(status, StatusCode::OK, "{grant}");
    assert_eq!(claims_of(at(&grant))["cnf"]["jkt"], key.jkt());
    // The retry of a lost answer: refused to another key, repeated to this one.
    let other = Key::new();
    let answer = f.request("POST", path, &[("dpop", &other.proof("POST", path, None))], Some(confirm.clone())).await;
    refused_as(&answer, "invalid_dpop_proof");
    let (status, _, again) = f.request("POST", path, &[("dpop", &key.proof("POST", path, None))], Some(confirm)).await;
    assert_eq!((status, rt(&again)), (StatusCode::OK, rt(&grant)), "{again}");
}

#[tokio::test]
async fn captures_rename_pause_and_resume_need_the_proof_too() {
    let f = fixture().await;
    let key = Key::new();
    let grant = pair_bound(&f, &key).await;
    let token = at(&grant);
    let auth = format!("DPoP {token}");
    for (method, path, body) in [
        ("PATCH", "/api/me/device", json!({"deviceName": "Work laptop"})),
        ("POST", "/api/me/pause", json!({})),
        ("POST", "/api/me/resume", json!({})),
        ("POST", "/api/inbox/v1/captures", json!({"url": "https://example.com/", "title": "t", "text": "x"})),
    ] {
        let answer = f.request(method, path, &[("authorization", &auth)], Some(body.clone())).await;
        refused_as(&answer, "invalid_dpop_proof");
        let other = Key::new().proof(method, path, Some(token));
        let answer = f.request(method, path, &[("authorization", &auth), ("dpop", &other)], Some(body.clone())).await;
        refused_as(&answer, "invalid_dpop_proof");
        let proof = key.proof(method, path, Some(token));
        let (status, _, answer) =
            f.request(method, path, &[("authorization", &auth), ("dpop", &proof)], Some(body)).await;
        // Captures answer 503 no_consumer for this tenant: past the gate either way.
        assert!(status.is_success() || answer["error"] == "no_consumer", "{method} {path}: {status} {answer}");
    }
}

/// `hello` on a fresh socket: the socket and the nonce the relay sent.
async fn greeted(url: &str) -> (common::ws::Ws, String) {
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    send(&mut ws, json!({"type": "hello"})).await;
    let hello = recv(&mut ws).await.unwrap();
    assert_eq!(hello["type"], "hello", "{hello}");
    let nonce = hello["nonce"].as_str().expect("hello carries a nonce").to_owned();
    (ws, nonce)
}

fn socket_proof(key: &Key, token: &str, nonce: &str) -> String {
    key.proof_with("GET", SESSION, Some(token), |c| c["nonce"] = json!(nonce))
}

/// The `error` frame's code and the close code of a refused socket.
async fn refusal(ws: &mut common::ws::Ws) -> (String, u16) {
    let error = recv(ws).await.expect("an error frame");
    assert_eq!(error["type"], "error", "{error}");
    (error["code"].as_str().unwrap().to_owned(), close_of(ws).await.unwrap().0)
}

#[tokio::test]
async fn a_socket_auth_needs_a_proof_with_the_nonce_of_its_own_hello() {
    let f = fixture().await;
    let url = serve(&f).await;
    let key = Key::new();
    let grant = pair_bound(&f, &key).await;
    let token = at(&grant);

    let (mut ws, _) = greeted(&url).await;
    send(&mut ws, json!({"type": "auth", "accessToken": token})).await;
    assert_eq!(refusal(&mut ws).await, ("invalid_dpop_proof".into(), 4401), "no proof");

    let (mut ws, nonce) = greeted(&url).await;
    let thief = Key::new();
    send(&mut ws, json!({"type": "auth", "accessToken": token, "proof": socket_proof(&thief, token, &nonce)})).await;
    assert_eq!(refusal(&mut ws).await, ("invalid_dpop_proof".into(), 4401), "another key");

    let (mut ws, _) = greeted(&url).await;
    let stale = key.proof("GET", SESSION, Some(token));
    send(&mut ws, json!({"type": "auth", "accessToken": token, "proof": stale})).await;
    assert_eq!(refusal(&mut ws).await, ("use_dpop_nonce".into(), 4401), "no nonce");

    let (mut ws, nonce) = greeted(&url).await;
    let recorded = json!({"type": "auth", "accessToken": token, "proof": socket_proof(&key, token, &nonce)});
    send(&mut ws, recorded.clone()).await;
    let ack = recv(&mut ws).await.unwrap();
    assert_eq!(ack["type"], "auth_ack", "{ack}");
    let next_nonce = ack["nonce"].as_str().expect("auth_ack carries the next nonce").to_owned();
    assert_ne!(next_nonce, nonce);

    // The recorded frame is good for no other socket…
    let (mut replay, _) = greeted(&url).await;
    send(&mut replay, recorded.clone()).await;
    assert_eq!(refusal(&mut replay).await, ("use_dpop_nonce".into(), 4401), "a recorded auth replayed");
    // …nor as this socket's renewal; a renewal with the ack's nonce is taken.
    let (_, _, next) = refresh(&f, rt(&grant), Some(&key.proof("POST", REFRESH, None))).await;
    let renewed = at(&next);
    send(&mut ws, json!({"type": "auth", "accessToken": renewed, "proof": socket_proof(&key, renewed, &next_nonce)}))
        .await;
    let ack = recv(&mut ws).await.unwrap();
    assert_eq!(ack["type"], "auth_ack", "{ack}");
    round_trip(&mut ws).await;
    send(&mut ws, json!({"type": "auth", "accessToken": renewed, "proof": socket_proof(&key, renewed, &next_nonce)}))
        .await;
    assert_eq!(refusal(&mut ws).await, ("use_dpop_nonce".into(), 4401), "the ack's nonce, used twice");
}

#[tokio::test]
async fn a_keyless_binding_s_socket_takes_its_bearer_token_as_before() {
    let f = fixture().await;
    let url = serve(&f).await;
    let (_, grant) = f.redeem(&f.mint("dana").await).await;
    let mut ws = authed(&url, at(&grant)).await;
    round_trip(&mut ws).await;
}

#[tokio::test]
async fn a_proof_spent_before_a_restart_is_still_refused_after_it() {
    let f = fixture().await;
    let key = Key::new();
    let grant = pair_bound(&f, &key).await;
    let token = at(&grant);
    let made_before = key.proof("GET", ME, Some(token));
    assert_eq!(me(&f, "DPoP", token, Some(&made_before)).await.0, StatusCode::OK);
    // Its iat (whole seconds) must fall before the restart's second.
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    // The same database, a new process: PostgreSQL remembers the proof; one relay on SQLite
    // remembered it in memory, so it takes no proof made before it started without a nonce.
    let cfg = latch_relay::Config::new(common::dpop::BASE);
    let restarted = latch_relay::AppState::new(f.state.db.clone(), cfg).await.unwrap();
    let after = Fixture { app: latch_relay::app(restarted.clone()), state: restarted, ..f };
    let expected = if common::on_postgres() { "invalid_dpop_proof" } else { "use_dpop_nonce" };
    refused_as(&me(&after, "DPoP", token, Some(&made_before)).await, expected);
    assert_eq!(me(&after, "DPoP", token, Some(&key.proof("GET", ME, Some(token)))).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_proof_spent_on_one_instance_is_refused_on_another() {
    if !common::on_postgres() {
        return; // several instances share PostgreSQL (PROTOCOL §1); one relay owns a SQLite file
    }
    let f = fixture().await;
    let key = Key::new();
    let grant = pair_bound(&f, &key).await;
    let token = at(&grant);
    let cfg = latch_relay::Config::new(common::dpop::BASE);
    let other = latch_relay::AppState::new(f.state.db.clone(), cfg).await.unwrap();
    let b = Fixture {
        app: latch_relay::app(other.clone()),
        state: other,
        api_key: f.api_key.clone(),
        key_id: f.key_id.clone(),
        _dir: None,
    };
    let proof = key.proof("GET", ME, Some(token));
    assert_eq!(me(&f, "DPoP", token, Some(&proof)).await.0, StatusCode::OK);
    refused_as(&me(&b, "DPoP", token, Some(&proof)).await, "invalid_dpop_proof");
    let proof = key.proof("POST", REFRESH, None);
    assert_eq!(refresh(&b, rt(&grant), Some(&proof)).await.0, StatusCode::OK);
    refused_as(&refresh(&f, rt(&grant), Some(&proof)).await, "invalid_dpop_proof");
}

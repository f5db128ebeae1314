//! Webhooks (PROTOCOL §11): each change an app should hear of is queued in its own
//! transaction and POSTed to that app's receiver, signed, at least once — exactly once per
//! event while the receiver answers 2xx, even with two instances sending; retried with
//! backoff while it fails, given up after 24 h. The receiver here checks signatures from
//! the documented scheme alone (`verified`), not with the relay's code. Runs on both
//! backends (`LATCH_PG_URL`).

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use common::{fixture, fixture_on, fixture_with, test_db, Fixture};
use hmac::{Hmac, Mac};
use latch_relay::clock::now_ms;
use latch_relay::db::outbox::{claim_due, deliveries, not_delivered, Delivery, PER_TENANT_IN_FLIGHT};
use latch_relay::secrets::TokenKeys;
use latch_relay::webhooks::{deliver_due, issue_secret, GIVE_UP_AFTER_MS, LEASE_MS};
use latch_relay::{cleanup, db, AppState, Config};
use serde_json::{json, Value};
use sha2::Sha256;

/// What a receiver was sent: the `Latch-Signature` header and the raw body.
#[derive(Clone, Debug)]
struct Received {
    signature: String,
    body: String,
}

/// An app's webhook endpoint on this machine, answering `status` after `delay`.
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Received>>>,
    status: Arc<AtomicU16>,
}

impl Receiver {
    async fn start(delay: Duration) -> Self {
        let got = Arc::new(Mutex::new(Vec::new()));
        let status = Arc::new(AtomicU16::new(200));
        let (record, answer) = (got.clone(), status.clone());
        let route = post(move |headers: HeaderMap, body: String| async move {
            tokio::time::sleep(delay).await;
            let signature = headers.get("latch-signature").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
            record.lock().unwrap().push(Received { signature, body });
            StatusCode::from_u16(answer.load(Ordering::SeqCst)).unwrap()
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, axum::Router::new().route("/hooks", route)).await });
        Self { url, got, status }
    }

    fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// Every event received, verified with `secret`.
    fn events(&self, secret: &str) -> Vec<Value> {
        self.received().iter().map(|r| verified(secret, &r.signature, &r.body).unwrap()).collect()
    }
}

/// A receiver's check, written from PROTOCOL §11 alone: `t=<unix seconds>,v1=<hex>` where
/// `v1` is HMAC-SHA-256 keyed with the secret over `"<t>.<raw body>"`, and `t` is recent.
fn verified(secret: &str, header: &str, body: &str) -> Result<Value, String> {
    let (mut t, mut v1) = (None, None);
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", value)) => t = value.parse::<u64>().ok(),
            Some(("v1", value)) => v1 = hex::decode(value).ok(),
            _ => {}
        }
    }
    let (t, v1) = (t.ok_or("no t")?, v1.ok_or("no v1")?);
    if (now_ms() / 1000).abs_diff(t) > 300 {
        return Err(format!("stale timestamp {t}"));
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{body}").as_bytes());
    mac.verify_slice(&v1).map_err(|_| "signature does not verify".to_owned())?;
    serde_json::from_str(body).map_err(|e| e.to_string())
}

/// Points `tenant`'s webhooks at `url`; the signing secret.
async fn hooked(state: &AppState, tenant: &str, url: &str) -> String {
    issue_secret(&state.db, &state.pepper, tenant, url).await.unwrap().expect("the tenant exists")
}

async fn pair(f: &Fixture, user: &str) -> Value {
    let token = f.mint(user).await;
    let (s, grant) = f.redeem(&token).await;
    assert_eq!(s, StatusCode::OK, "{grant}");
    grant
}

fn binding_id(grant: &Value) -> &str {
    grant["binding"]["bindingId"].as_str().unwrap()
}

fn types(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["type"].as_str().unwrap()).collect()
}

async fn outbox(f: &Fixture) -> Vec<Delivery> {
    deliveries(&f.state.db, None, 1000).await.unwrap()
}

fn metric(f: &Fixture, outcome: &str) -> String {
    let rendered = f.state.metrics.render();
    let line = format!("latch_webhook_deliveries_total{{outcome=\"{outcome}\"}}");
    rendered.lines().find(|l| l.starts_with(&line)).unwrap_or_default().to_owned()
}

async fn globex(f: &Fixture) -> String {
    let tenant = db::Tenant { id: "globex".into(), name: "Globex".into(), origins: vec![], captures: false };
    db::create_tenant(&f.state.db, &tenant, now_ms()).await.unwrap();
    db::create_api_key(&f.state.db, "globex", "Globex", now_ms()).await.unwrap().0
}

#[tokio::test]
async fn binding_events_reach_the_apps_receiver_signed_once_each() {
    let f = fixture().await;
    let receiver = Receiver::start(Duration::ZERO).await;
    let secret = hooked(&f.state, "acme", &receiver.url).await;

    let kept = pair(&f, "dana").await;
    let revoked_by_app = pair(&f, "dana").await;
    let (s, _) =
        f.call("DELETE", &format!("/api/bindings/{}", binding_id(&revoked_by_app)), Some(&f.api_key), None).await;
    assert_eq!(s, StatusCode::OK);
    // A refresh token used again past the lost-answer grace: reuse, then revoked by it.
    let reused = pair(&f, "erin").await;
    let first = reused["refreshToken"].as_str().unwrap();
    let refresh = |rt: &str| json!({"refreshToken": rt});
    assert_eq!(f.call("POST", "/api/auth/refresh", None, Some(refresh(first))).await.0, StatusCode::OK);
    sqlx::query("UPDATE sessions SET rotated_at = rotated_at - 60000 WHERE rotated_at IS NOT NULL")
        .execute(&f.state.db)
        .await
        .unwrap();
    let (s, b) = f.call("POST", "/api/auth/refresh", None, Some(refresh(first))).await;
    assert_eq!((s, b["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("refresh_token_reused")), "{b}");
    // The app removes all of frank's.
    pair(&f, "frank").await;
    let (s, b) = f.call("DELETE", "/api/bindings?userId=frank", Some(&f.api_key), None).await;
    assert_eq!(s, StatusCode::OK, "{b}");

    assert!(receiver.received().is_empty(), "nothing is sent from the request that made the change");
    assert_eq!(deliver_due(&f.state, now_ms()).await.unwrap(), 8);
    let got = receiver.events(&secret);
    // Sent concurrently, so compared as a sorted list: (type, user, by).
    let mut summary: Vec<String> =
        got.iter().map(|e| format!("{} {} {}", e["type"], e["data"]["userId"], e["data"]["by"])).collect();
    summary.sort();
    let expected = [
        r#""binding.created" "dana" null"#,
        r#""binding.created" "dana" null"#,
        r#""binding.created" "erin" null"#,
        r#""binding.created" "frank" null"#,
        r#""binding.reuse_detected" "erin" null"#,
        r#""binding.revoked" "dana" "app""#,
        r#""binding.revoked" "erin" "reuse""#,
        r#""binding.revoked" "frank" "app""#,
    ];
    assert_eq!(summary, expected, "{got:?}");
    let created = got.iter().find(|e| e["data"]["bindingId"] == binding_id(&kept)).unwrap();
    assert_eq!(created["type"], "binding.created");
    assert_eq!(created["data"]["deviceName"], "Test browser");
    assert_eq!(created["data"]["via"], "pasted_token");
    for e in &got {
        assert!(e["id"].as_str().unwrap().starts_with("evt_"), "{e}");
        assert!(e["createdAt"].as_u64().unwrap() <= now_ms());
    }
    let ids: std::collections::HashSet<_> = got.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), got.len(), "one id per event");
    // Delivered once: the next pass sends nothing.
    assert_eq!(deliver_due(&f.state, now_ms()).await.unwrap(), 0);
    assert_eq!(receiver.received().len(), got.len());
    assert!(outbox(&f).await.iter().all(|d| d.state() == "delivered" && d.attempts == 1));
    assert!(metric(&f, "delivered").ends_with(&format!(" {}", got.len())), "{}", metric(&f, "delivered"));
}

/// A code requested by a browser: `(challengeId, code)`.
async fn requested(f: &Fixture) -> (String, String) {
    let body = json!({"deviceId": "dev_1", "deviceName": "Chrome on Linux"});
    let (s, c) = f.call("POST", "/api/pairing/request", None, Some(body)).await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    (c["challengeId"].as_str().unwrap().to_owned(), c["code"].as_str().unwrap().to_owned())
}

async fn approved(f: &Fixture, code: &str, user: &str) {
    let body = json!({"code": code, "userId": user});
    let (s, b) = f.call("POST", "/api/pairing/approve", Some(&f.api_key), Some(body)).await;
    assert_eq!((s, b["status"].as_str()), (StatusCode::ACCEPTED, Some("awaiting_confirmation")), "{b}");
}

#[tokio::test]
async fn a_code_the_app_approved_tells_it_when_it_waits_for_the_user_and_who_denied_it() {
    let f = fixture_with_polls().await;
    let receiver = Receiver::start(Duration::ZERO).await;
    let secret = hooked(&f.state, "acme", &receiver.url).await;
    // Denied by the browser's user.
    let (id, code) = requested(&f).await;
    approved(&f, &code, "dana").await;
    deliver_due(&f.state, now_ms()).await.unwrap();
    let (s, b) = f.call("POST", "/api/pairing/reject", None, Some(json!({"challengeId": id}))).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    deliver_due(&f.state, now_ms()).await.unwrap();
    let got = receiver.events(&secret);
    assert_eq!(types(&got), ["pairing.awaiting_confirmation", "pairing.denied"], "{got:?}");
    assert_eq!(got[0]["data"]["userId"], "dana");
    assert_eq!(got[0]["data"]["deviceName"], "Chrome on Linux");
    assert!(got[0]["data"]["expiresAt"].as_u64().unwrap() > now_ms());
    assert_eq!((got[1]["data"]["userId"].as_str(), got[1]["data"]["by"].as_str()), (Some("dana"), Some("user")));
    // Denied by the relay's owner.
    let (_, code) = requested(&f).await;
    approved(&f, &code, "erin").await;
    db::challenges::deny_open(&f.state.db, &code, now_ms()).await.unwrap();
    // Confirmed: the binding made by code.
    let (id, code) = requested(&f).await;
    approved(&f, &code, "frank").await;
    let confirm = json!({"challengeId": id, "redeemKey": "lrk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"});
    let (s, b) = f.call("POST", "/api/pairing/confirm", None, Some(confirm)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    // A code nobody approved concerns no app: denying it sends nothing.
    let (id, _) = requested(&f).await;
    f.call("POST", "/api/pairing/reject", None, Some(json!({"challengeId": id}))).await;
    deliver_due(&f.state, now_ms()).await.unwrap();
    let got = receiver.events(&secret);
    let later: Vec<String> =
        got[2..].iter().map(|e| format!("{} {} {}", e["type"], e["data"]["userId"], e["data"]["by"])).collect();
    let mut later = later;
    later.sort();
    let expected = [
        r#""binding.created" "frank" null"#,
        r#""pairing.awaiting_confirmation" "erin" null"#,
        r#""pairing.awaiting_confirmation" "frank" null"#,
        r#""pairing.denied" "erin" "owner""#,
    ];
    assert_eq!(later, expected, "{got:?}");
    let by_code = got.iter().find(|e| e["type"] == "binding.created").unwrap();
    assert_eq!(by_code["data"]["via"], "code");
    // The key that approved a code is revoked while the code waits: its approval is
    // withdrawn, and the app hears the code was denied.
    let (second_key, second_key_id) = db::create_api_key(&f.state.db, "acme", "Second", now_ms()).await.unwrap();
    let (_, code) = requested(&f).await;
    let body = json!({"code": code, "userId": "gina"});
    let (s, b) = f.call("POST", "/api/pairing/approve", Some(&second_key), Some(body)).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    deliver_due(&f.state, now_ms()).await.unwrap();
    assert!(db::revoke_api_key(&f.state.db, &second_key_id, now_ms()).await.unwrap());
    deliver_due(&f.state, now_ms()).await.unwrap();
    let last = receiver.events(&secret).pop().unwrap();
    assert_eq!(
        (last["type"].as_str(), last["data"]["userId"].as_str(), last["data"]["by"].as_str()),
        (Some("pairing.denied"), Some("gina"), Some("owner"))
    );
}

async fn fixture_with_polls() -> Fixture {
    fixture_with(|c| c.poll_interval_ms = 0).await
}

#[tokio::test]
async fn an_idle_binding_is_revoked_with_a_webhook_and_sent_events_are_cleaned_up_after_the_retention() {
    const DAY_MS: u64 = 86_400_000;
    let f = fixture_with(|c| {
        c.cleanup.binding_idle_ms = 90 * DAY_MS;
        c.cleanup.expired_retention_ms = DAY_MS;
    })
    .await;
    let receiver = Receiver::start(Duration::ZERO).await;
    let secret = hooked(&f.state, "acme", &receiver.url).await;
    let idle = pair(&f, "dana").await;
    // Delivered one pass at a time: a pass sends its events concurrently, in no order.
    deliver_due(&f.state, now_ms()).await.unwrap();
    let now = now_ms();
    sqlx::query("UPDATE bindings SET created_at = $1")
        .bind((now - 91 * DAY_MS) as i64)
        .execute(&f.state.db)
        .await
        .unwrap();
    assert_eq!(cleanup::run_once(&f.state, now).await.unwrap().of("idle_bindings"), 1);
    deliver_due(&f.state, now_ms()).await.unwrap();
    let got = receiver.events(&secret);
    assert_eq!(types(&got), ["binding.created", "binding.revoked"], "{got:?}");
    assert_eq!(
        (got[1]["data"]["bindingId"].as_str(), got[1]["data"]["by"].as_str()),
        (Some(binding_id(&idle)), Some("idle"))
    );
    // A pending event stays however old; delivered ones go a retention after delivery.
    receiver.status.store(500, Ordering::SeqCst);
    pair(&f, "erin").await;
    deliver_due(&f.state, now_ms()).await.unwrap();
    let removed = cleanup::run_once(&f.state, now_ms() + 2 * DAY_MS).await.unwrap();
    assert_eq!(removed.of("webhook_outbox"), 2, "{removed:?}");
    let left = outbox(&f).await;
    assert_eq!((left.len(), left[0].state()), (1, "pending"), "{left:?}");
}

#[tokio::test]
async fn a_tenant_without_a_webhook_queues_nothing_and_no_app_hears_of_anothers_bindings() {
    let f = fixture().await;
    pair(&f, "dana").await;
    assert!(outbox(&f).await.is_empty(), "acme has no webhook: no row");

    let globex_key = globex(&f).await;
    let (acme_receiver, globex_receiver) =
        (Receiver::start(Duration::ZERO).await, Receiver::start(Duration::ZERO).await);
    let acme_secret = hooked(&f.state, "acme", &acme_receiver.url).await;
    let globex_secret = hooked(&f.state, "globex", &globex_receiver.url).await;
    assert_ne!(acme_secret, globex_secret);
    pair(&f, "dana").await;
    let globex_token = {
        let (s, b) = f.call("POST", "/pairing-tokens", Some(&globex_key), Some(json!({"userId": "dana"}))).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        b["pairingToken"].as_str().unwrap().to_owned()
    };
    assert_eq!(f.redeem(&globex_token).await.0, StatusCode::OK);
    deliver_due(&f.state, now_ms()).await.unwrap();
    let (to_acme, to_globex) = (acme_receiver.received(), globex_receiver.received());
    assert_eq!((to_acme.len(), to_globex.len()), (1, 1));
    let acme_event = verified(&acme_secret, &to_acme[0].signature, &to_acme[0].body).unwrap();
    let globex_event = verified(&globex_secret, &to_globex[0].signature, &to_globex[0].body).unwrap();
    let binding_tenant = async |e: &Value| {
        db::binding(&f.state.db, e["data"]["bindingId"].as_str().unwrap()).await.unwrap().unwrap().tenant_id
    };
    assert_eq!(binding_tenant(&acme_event).await, "acme");
    assert_eq!(binding_tenant(&globex_event).await, "globex");
    // One app's secret verifies nothing sent to the other.
    assert!(verified(&globex_secret, &to_acme[0].signature, &to_acme[0].body).is_err());
    assert!(verified(&acme_secret, &to_globex[0].signature, &to_globex[0].body).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_sending_at_once_deliver_each_event_exactly_once() {
    let test_db = test_db().await;
    let instance = async || {
        let mut cfg = Config::new("http://localhost:8787");
        // Every pairing here comes from one test address; the limits are abuse_limits.rs's.
        cfg.limits.redeem_per_address = 0;
        AppState::new(db::open(&test_db.url).await.unwrap(), cfg).await.unwrap()
    };
    let f = fixture_on(instance().await).await;
    let other = instance().await;
    // A slow receiver, so the two instances' passes overlap.
    let receiver = Receiver::start(Duration::from_millis(20)).await;
    let secret = hooked(&f.state, "acme", &receiver.url).await;
    const EVENTS: usize = 80;
    for n in 0..EVENTS {
        pair(&f, &format!("user{n}")).await;
    }
    let mut sent = 0;
    for _ in 0..20 {
        let now = now_ms();
        let (a, b) = tokio::join!(deliver_due(&f.state, now), deliver_due(&other, now));
        sent += a.unwrap() + b.unwrap();
        if sent >= EVENTS {
            break;
        }
    }
    assert_eq!(sent, EVENTS);
    let got = receiver.events(&secret);
    let mut times: HashMap<String, usize> = HashMap::new();
    for e in &got {
        *times.entry(e["id"].as_str().unwrap().to_owned()).or_default() += 1;
    }
    assert_eq!(times.len(), EVENTS, "every event arrived");
    assert!(times.values().all(|&n| n == 1), "none twice: {times:?}");
    assert!(outbox(&f).await.iter().all(|d| d.state() == "delivered" && d.attempts == 1));
}

#[tokio::test]
async fn a_failing_receiver_is_retried_with_growing_backoff_and_a_dead_one_given_up_after_a_day() {
    let f = fixture().await;
    let receiver = Receiver::start(Duration::ZERO).await;
    let secret = hooked(&f.state, "acme", &receiver.url).await;
    receiver.status.store(503, Ordering::SeqCst);
    pair(&f, "dana").await;
    let now = now_ms();
    assert_eq!(deliver_due(&f.state, now).await.unwrap(), 0);
    let row = outbox(&f).await.remove(0);
    assert_eq!((row.state(), row.attempts), ("pending", 1));
    assert!(row.last_error.as_deref().unwrap().contains("503"), "{row:?}");
    let first_wait = row.next_attempt_at as u64 - now;
    assert!((1_000..=2_000).contains(&first_wait), "{first_wait}");
    // Not due yet: nothing is sent.
    deliver_due(&f.state, now + 900).await.unwrap();
    assert_eq!(receiver.received().len(), 1);
    // The second try waits up to twice as long, the third up to four times.
    let mut at = row.next_attempt_at as u64;
    for ceiling in [4_000, 8_000] {
        assert_eq!(deliver_due(&f.state, at).await.unwrap(), 0);
        let row = outbox(&f).await.remove(0);
        let wait = row.next_attempt_at as u64 - at;
        assert!((1_000..=ceiling).contains(&wait), "{wait} > {ceiling}");
        at = row.next_attempt_at as u64;
    }
    // It answers again: delivered, the same event every time.
    receiver.status.store(200, Ordering::SeqCst);
    assert_eq!(deliver_due(&f.state, at).await.unwrap(), 1);
    let got = receiver.received();
    assert_eq!(got.len(), 4);
    let ids: Vec<Value> = got.iter().map(|r| verified(&secret, &r.signature, &r.body).unwrap()["id"].clone()).collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    let row = outbox(&f).await.remove(0);
    assert_eq!((row.state(), row.attempts, row.last_error.as_deref()), ("delivered", 4, None));
    assert!(metric(&f, "retry").ends_with(" 3"), "{}", metric(&f, "retry"));

    // A receiver that is gone: retried until a day after the event, then given up.
    let gone = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gone_url = format!("http://{}/hooks", gone.local_addr().unwrap());
    drop(gone);
    hooked(&f.state, "acme", &gone_url).await;
    pair(&f, "erin").await;
    let now = now_ms();
    assert_eq!(deliver_due(&f.state, now).await.unwrap(), 0);
    let pending = outbox(&f).await.into_iter().find(|d| d.state() == "pending").unwrap();
    assert!(pending.last_error.as_deref().unwrap().starts_with("not sent"), "{pending:?}");
    let day_later = pending.created_at as u64 + GIVE_UP_AFTER_MS;
    assert_eq!(deliver_due(&f.state, day_later).await.unwrap(), 0);
    let failed = outbox(&f).await.into_iter().find(|d| d.id == pending.id).unwrap();
    assert_eq!((failed.state(), failed.attempts), ("failed", 2));
    assert!(metric(&f, "failed").ends_with(" 1"), "{}", metric(&f, "failed"));
    // Given up is final.
    assert!(claim_due(&f.state.db, day_later + GIVE_UP_AFTER_MS, LEASE_MS, 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_claimed_event_waits_out_its_lease_and_a_late_sender_records_nothing() {
    let f = fixture().await;
    let receiver = Receiver::start(Duration::ZERO).await;
    hooked(&f.state, "acme", &receiver.url).await;
    pair(&f, "dana").await;
    let now = now_ms();
    // An instance claims it and stalls before sending.
    let stalled = claim_due(&f.state.db, now, LEASE_MS, 10).await.unwrap().remove(0);
    assert_eq!(deliver_due(&f.state, now + 1_000).await.unwrap(), 0);
    assert!(receiver.received().is_empty());
    assert_eq!(deliver_due(&f.state, now + LEASE_MS).await.unwrap(), 1);
    assert_eq!(receiver.received().len(), 1);
    // The stalled one comes back with a failure: its claim is over, nothing changes.
    not_delivered(&f.state.db, &stalled, "answered 500", None, now + LEASE_MS).await.unwrap();
    let row = outbox(&f).await.remove(0);
    assert_eq!((row.state(), row.attempts, row.last_error), ("delivered", 2, None));
}

#[tokio::test]
async fn tenants_take_turns_and_none_holds_more_than_eight_sends_in_flight() {
    let f = fixture().await;
    globex(&f).await;
    let receiver = Receiver::start(Duration::ZERO).await;
    hooked(&f.state, "acme", &receiver.url).await;
    hooked(&f.state, "globex", &receiver.url).await;
    // Globex has 20 events waiting, all older than acme's 3.
    let now = now_ms();
    for n in 0..20 {
        let hook = db::Hook::PairingDenied { user_id: &format!("g{n}"), by: "user" };
        let mut conn = f.state.db.acquire().await.unwrap();
        latch_relay::db::outbox::enqueue(&mut conn, "globex", &hook, now - 1_000).await.unwrap();
    }
    for user in ["a", "b", "c"] {
        pair(&f, user).await;
    }
    let claimed = claim_due(&f.state.db, now_ms(), LEASE_MS, 32).await.unwrap();
    let of = |tenant: &str| claimed.iter().filter(|e| e.tenant_id == tenant).count();
    assert_eq!((of("globex"), of("acme")), (PER_TENANT_IN_FLIGHT as usize, 3));
    // While those eight are in flight, globex gets no more.
    assert!(claim_due(&f.state.db, now_ms(), LEASE_MS, 32).await.unwrap().is_empty());
    // A limit smaller than the due events: each tenant's first before anyone's second.
    let later = now_ms() + LEASE_MS;
    pair(&f, "d").await;
    let two = claim_due(&f.state.db, later, LEASE_MS, 2).await.unwrap();
    let mut tenants: Vec<&str> = two.iter().map(|e| e.tenant_id.as_str()).collect();
    tenants.sort();
    assert_eq!(tenants, ["acme", "globex"]);
}

#[tokio::test]
async fn a_rotated_pepper_still_signs_with_the_secret_issued_under_the_old_one() {
    let f = fixture().await;
    let receiver = Receiver::start(Duration::ZERO).await;
    let secret = hooked(&f.state, "acme", &receiver.url).await;
    pair(&f, "dana").await;
    let fresh = || latch_relay::secrets::random_bytes().to_vec();
    let rotated = TokenKeys {
        pepper: fresh(),
        previous_pepper: Some(f.state.pepper.clone()),
        signing: fresh(),
        previous_signing: None,
        from_database: false,
    };
    let cfg = Config::new("http://localhost:8787");
    let after_rotation = AppState::with_keys(f.state.db.clone(), cfg.clone(), rotated).unwrap();
    assert_eq!(deliver_due(&after_rotation, now_ms()).await.unwrap(), 1);
    assert_eq!(receiver.events(&secret).len(), 1);
    // Once neither pepper made it, nothing is signed with a wrong key: it waits, and says why.
    pair(&f, "erin").await;
    let unrelated = TokenKeys {
        pepper: fresh(),
        previous_pepper: None,
        signing: fresh(),
        previous_signing: None,
        from_database: false,
    };
    let lost = AppState::with_keys(f.state.db.clone(), cfg, unrelated).unwrap();
    assert_eq!(deliver_due(&lost, now_ms()).await.unwrap(), 0);
    assert_eq!(receiver.received().len(), 1);
    let waiting = outbox(&f).await.into_iter().find(|d| d.state() == "pending").unwrap();
    assert!(waiting.last_error.as_deref().unwrap().contains("pepper"), "{waiting:?}");
}

/// `latch-relay … args` on the test database; its stdout as JSON, or its one-line error.
fn cli(db: &str, args: &[&str]) -> Result<Value, String> {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_latch-relay"))
        .args(["--database", db])
        .args(args)
        .env_remove("LATCH_TOKEN_PEPPER")
        .env_remove("LATCH_TOKEN_SECRET")
        .output()
        .expect("run latch-relay");
    match out.status.success() {
        true => Ok(serde_json::from_slice(&out.stdout).expect("JSON on stdout")),
        false => Err(String::from_utf8_lossy(&out.stderr).trim().to_owned()),
    }
}

#[tokio::test]
async fn the_secret_the_cli_prints_once_verifies_what_the_relay_sends_and_a_new_one_replaces_it() {
    let test_db = test_db().await;
    let db = test_db.url.as_str();
    let receiver = Receiver::start(Duration::ZERO).await;
    let create = ["tenant", "create", "--name", "Shop", "--id", "shop", "--webhook-url"];
    for bad in ["http://shop.example/hooks", "https://user:pw@shop.example/h", "ftp://shop.example/"] {
        let err = cli(db, &[&create[..], &[bad, "--dev"]].concat()).unwrap_err();
        assert!(err.contains("--webhook-url") && err.lines().count() == 1, "{err}");
    }
    let err = cli(db, &[&create[..], &["https://169.254.169.254/latest"]].concat()).unwrap_err();
    assert!(err.contains("public host"), "{err}");
    let err = cli(db, &[&create[..], &[&receiver.url]].concat()).unwrap_err();
    assert!(err.contains("--dev"), "plain http to this machine is for a --dev relay: {err}");
    assert!(db::tenant(&db::open(db).await.unwrap(), "shop").await.unwrap().is_none(), "a refused URL makes no tenant");
    // Without the pepper the relay has (env, or --dev for a --dev relay), no secret.
    let err = cli(db, &[&create[..], &["https://shop.example/hooks"]].concat()).unwrap_err();
    assert!(err.contains("LATCH_TOKEN_PEPPER"), "{err}");
    let created = cli(db, &[&create[..], &[&receiver.url, "--dev"]].concat()).unwrap();
    let secret = created["webhookSecret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{created}");

    // A relay on that database (a --dev one: the pepper is the database's) signs with it.
    let state = AppState::new(db::open(db).await.unwrap(), Config::new("http://localhost:8787")).await.unwrap();
    let (api_key, key_id) = db::create_api_key(&state.db, "shop", "Shop", now_ms()).await.unwrap();
    let f = Fixture { app: latch_relay::app(state.clone()), state, api_key, key_id, _dir: None };
    pair(&f, "dana").await;
    deliver_due(&f.state, now_ms()).await.unwrap();
    assert_eq!(types(&receiver.events(&secret)), ["binding.created"]);
    // The secret is not in the database.
    let stored: Vec<(String, String)> =
        sqlx::query_as("SELECT webhook_secret_nonce, webhook_secret_hash FROM tenants WHERE id = 'shop'")
            .fetch_all(&f.state.db)
            .await
            .unwrap();
    assert!(!format!("{stored:?}").contains(&secret[6..]), "{stored:?}");

    // A new secret: the old one verifies nothing sent from then on.
    let update = ["tenant", "update", "--id", "shop", "--webhook-url", &receiver.url, "--dev"];
    let renewed = cli(db, &update).unwrap()["webhookSecret"].as_str().unwrap().to_owned();
    assert_ne!(renewed, secret);
    pair(&f, "erin").await;
    deliver_due(&f.state, now_ms()).await.unwrap();
    let last = receiver.received().pop().unwrap();
    assert!(verified(&secret, &last.signature, &last.body).is_err());
    assert_eq!(verified(&renewed, &last.signature, &last.body).unwrap()["data"]["userId"], "erin");
    assert!(cli(db, &["tenant", "update", "--id", "nobody", "--webhook-url", &receiver.url, "--dev"])
        .unwrap_err()
        .contains("no tenant"));

    // The owner sees the deliveries.
    let listed = cli(db, &["webhook", "deliveries", "--tenant", "shop", "--json"]).unwrap();
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().all(|d| d["type"] == "binding.created" && d["deliveredAt"].is_i64()), "{listed:?}");
    // Removed: what was not yet sent is dropped, and nothing more is queued.
    receiver.status.store(500, Ordering::SeqCst);
    pair(&f, "frank").await;
    cli(db, &["tenant", "update", "--id", "shop", "--no-webhook"]).unwrap();
    pair(&f, "gina").await;
    let rows = outbox(&f).await;
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert_eq!((rows[0].state(), rows[0].last_error.as_deref()), ("failed", Some("the webhook was removed")));
    assert_eq!(deliver_due(&f.state, now_ms()).await.unwrap(), 0);
}

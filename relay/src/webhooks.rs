//! Webhook delivery (PROTOCOL §11): every instance sends the outbox's due events
//! (`db/outbox.rs`) to their tenant's URL, signed, at least once, retrying with full-jitter
//! backoff for [`GIVE_UP_AFTER_MS`]. An event is claimed with a lease before it is sent, so
//! two instances never send it at the same time; an instance that dies mid-send leaves it
//! to be sent again after the lease (the receiver deduplicates by the event `id`).
//!
//! The signature is the scheme payment APIs use: `Latch-Signature: t=<unix seconds>,
//! v1=<hex HMAC-SHA-256 of "<t>.<body>" keyed with the secret>`; a receiver recomputes it
//! and refuses a `t` more than a few minutes old.

use std::time::Duration;

use hmac::{Hmac, Mac};
use rand::Rng;
use serde_json::{json, Value};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::db::outbox::{self, Claimed};
use crate::db::tenants::{set_webhook, webhook_target, WebhookTarget};
use crate::db::Db;
use crate::secrets::{fingerprint, random_bytes, webhook_secret};
use crate::AppState;

pub const SIGNATURE_HEADER: &str = "Latch-Signature";
/// An instance holds a claimed event this long (a send times out well before).
pub const LEASE_MS: u64 = 60_000;
/// A receiver gets this long to answer.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// An event not delivered this long after it happened is given up (`failed`).
pub const GIVE_UP_AFTER_MS: u64 = 24 * 3_600_000;
/// The backoff: attempt n waits a uniform time in [1 s, min(cap, base · 2^(n-1))].
pub const BACKOFF_BASE_MS: u64 = 2_000;
pub const BACKOFF_CAP_MS: u64 = 3_600_000;
const BACKOFF_MIN_MS: u64 = 1_000;
/// Events claimed per pass, sent concurrently.
const BATCH: i64 = 32;
/// How often each instance looks for due events.
const PASS_EVERY: Duration = Duration::from_secs(1);

/// The client every delivery uses: no redirects (a receiver answers where it was
/// registered), a timeout, rustls.
#[derive(Clone)]
pub struct Sender(reqwest::Client);

impl Sender {
    pub fn new() -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(SEND_TIMEOUT)
            .user_agent(concat!("latch-relay/", env!("CARGO_PKG_VERSION"), " (webhooks)"))
            .build()?;
        Ok(Self(client))
    }
}

/// A webhook URL the relay sends to: `https`, or `http` to this machine (development).
pub fn check_url(raw: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(raw).map_err(|e| format!("not a URL: {e}"))?;
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match url.scheme() {
        "https" if url.host().is_some() => {}
        "http" if loopback => {}
        _ => return Err("a webhook URL is https (or http to localhost)".into()),
    }
    if !url.username().is_empty() || url.password().is_some() || url.fragment().is_some() {
        return Err("a webhook URL has no credentials or fragment".into());
    }
    if raw.len() > 2048 {
        return Err("a webhook URL is at most 2048 characters".into());
    }
    Ok(url)
}

/// Points the tenant's webhooks at `url` (checked by [`check_url`]) with a new signing
/// secret, which it returns once (`None`: no such tenant). The database keeps a random
/// nonce and the secret's fingerprint; the secret itself derives from the token pepper, so
/// the caller needs the pepper the relay has.
pub async fn issue_secret(db: &Db, pepper: &[u8], tenant_id: &str, url: &str) -> sqlx::Result<Option<String>> {
    let nonce = hex::encode(random_bytes());
    let secret = webhook_secret(pepper, tenant_id, &nonce);
    let issued = set_webhook(db, tenant_id, url, &nonce, &fingerprint(&secret)).await?;
    Ok(issued.then_some(secret))
}

/// `t=<unix seconds>,v1=<hex HMAC-SHA-256(secret, "<t>.<body>")>`.
pub fn signature(secret: &str, unix_seconds: u64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(unix_seconds.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    format!("t={unix_seconds},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// The body an event is sent as.
pub fn envelope(event: &Claimed) -> String {
    let data: Value = serde_json::from_str(&event.data).unwrap_or(Value::Null);
    json!({"id": event.id, "type": event.kind, "createdAt": event.created_at, "data": data}).to_string()
}

/// When the `attempts`-th failed attempt is tried again (full jitter).
pub fn next_attempt_at(attempts: i64, now: u64, rng: &mut impl Rng) -> u64 {
    let doublings = attempts.clamp(1, 32) as u32 - 1;
    let ceiling = BACKOFF_BASE_MS.saturating_mul(1 << doublings.min(31)).min(BACKOFF_CAP_MS);
    now + rng.gen_range(BACKOFF_MIN_MS..=ceiling.max(BACKOFF_MIN_MS))
}

/// The tenant's current signing secret: derived under the pepper that made it (the
/// current one, else the one before a rotation), which its stored fingerprint tells.
fn secret_of(state: &AppState, tenant_id: &str, target: &WebhookTarget) -> Option<String> {
    let peppers = std::iter::once(&state.pepper).chain(state.previous_pepper.as_ref());
    peppers
        .map(|pepper| webhook_secret(pepper, tenant_id, &target.webhook_secret_nonce))
        .find(|secret| bool::from(fingerprint(secret).as_bytes().ct_eq(target.webhook_secret_hash.as_bytes())))
}

/// Sends one claimed event; `Err` says why it was not delivered.
async fn send(state: &AppState, event: &Claimed, now: u64) -> Result<(), String> {
    let target = webhook_target(&state.db, &event.tenant_id).await.map_err(|e| format!("storage: {e}"))?;
    let target = target.ok_or("the tenant has no webhook URL")?;
    let secret = secret_of(state, &event.tenant_id, &target).ok_or("the signing secret's pepper is gone")?;
    let body = envelope(event);
    let answer = state
        .webhooks
        .0
        .post(&target.webhook_url)
        .header("content-type", "application/json")
        .header(SIGNATURE_HEADER, signature(&secret, now / 1000, &body))
        .body(body)
        .send()
        .await
        .map_err(|e| format!("not sent: {}", e.without_url()))?;
    match answer.status() {
        status if status.is_success() => Ok(()),
        status => Err(format!("answered {status}")),
    }
}

/// One pass: claims the due events and sends them concurrently. How many were delivered.
pub async fn deliver_due(state: &AppState, now: u64) -> sqlx::Result<usize> {
    let mut sends = tokio::task::JoinSet::new();
    for event in outbox::claim_due(&state.db, now, LEASE_MS, BATCH).await? {
        let state = state.clone();
        sends.spawn(async move {
            let result = send(&state, &event, now).await;
            (event, result)
        });
    }
    let mut delivered = 0;
    while let Some(sent) = sends.join_next().await {
        // A send that panicked leaves its event to be claimed again after the lease.
        let Ok((event, result)) = sent else { continue };
        let outcome = match result {
            Ok(()) => {
                outbox::delivered(&state.db, &event.id, now).await?;
                delivered += 1;
                "delivered"
            }
            Err(error) => {
                let give_up = now.saturating_sub(event.created_at as u64) >= GIVE_UP_AFTER_MS;
                let next = (!give_up).then(|| next_attempt_at(event.attempts, now, &mut rand::thread_rng()));
                outbox::not_delivered(&state.db, &event.id, &error, next, now).await?;
                tracing::info!(event = %event.id, tenant = %event.tenant_id, %error, give_up, "webhook not delivered");
                if give_up {
                    "failed"
                } else {
                    "retry"
                }
            }
        };
        state.metrics.webhook_sent(outcome);
    }
    Ok(delivered)
}

/// Delivers due events every second until shutdown.
pub async fn run_forever(state: AppState) {
    let mut ticks = tokio::time::interval(PASS_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut shutdown = state.shutdown.subscribe();
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
        if let Err(e) = deliver_due(&state, crate::clock::now_ms()).await {
            tracing::warn!(error = %e, "webhook delivery pass failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn only_https_or_loopback_http_urls_are_taken() {
        for ok in ["https://app.example/hooks", "http://localhost:3000/h", "http://127.0.0.1:9/h", "http://[::1]/h"] {
            assert!(check_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://app.example/hooks",
            "http://169.254.169.254/",
            "ftp://app.example/",
            "https://user:pw@app.example/",
            "https://app.example/#x",
            "not a url",
            "https://",
            "http://localhost.evil.example/",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_signature_is_hmac_of_timestamp_dot_body() {
        // Computed independently: python3 -c 'hmac.new(b"whsec_test", b"1700000000.{\"a\":1}", sha256)'.
        let sig = signature("whsec_test", 1_700_000_000, r#"{"a":1}"#);
        assert_eq!(sig, "t=1700000000,v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789");
    }

    proptest! {
        #[test]
        fn backoff_stays_between_a_second_and_the_cap(attempts in -5i64..100, now in 0u64..1 << 50, seed: u64) {
            use rand::SeedableRng;
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            let at = next_attempt_at(attempts, now, &mut rng);
            prop_assert!(at >= now + BACKOFF_MIN_MS && at <= now + BACKOFF_CAP_MS);
            let ceiling = (BACKOFF_BASE_MS << (attempts.clamp(1, 32) - 1).min(31)).min(BACKOFF_CAP_MS);
            prop_assert!(at - now <= ceiling);
        }
    }
}

//! Webhook delivery (PROTOCOL §11): every instance sends the outbox's due events
//! (`db/outbox.rs`) to their tenant's URL, signed, at least once, retrying with full-jitter
//! backoff for [`GIVE_UP_AFTER_MS`]. An event is claimed with a lease before it is sent, so
//! two instances never send it at the same time; an instance that dies mid-send leaves it
//! to be sent again after the lease (the receiver deduplicates by the event `id`).
//!
//! The signature is the scheme payment APIs use: `Latch-Signature: t=<unix seconds>,
//! v1=<hex HMAC-SHA-256 of "<t>.<body>" keyed with the secret>`; a receiver recomputes it
//! and refuses a `t` more than a few minutes old.

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use rand::Rng;
use serde_json::{json, Value};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

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
/// Sends in flight on one instance.
const MAX_IN_FLIGHT: usize = 64;
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
///
/// Only the owner sets one (CLI), but a URL is still kept from reaching into the relay's own
/// network by mistake: an address literal must be a public one, and plain `http` (to
/// localhost) is for a `--dev` relay only. A host name that resolves to a private address
/// is the owner's choice (and https still needs a certificate for it).
pub fn check_url(raw: &str, dev: bool) -> Result<url::Url, String> {
    let url = url::Url::parse(raw).map_err(|e| format!("not a URL: {e}"))?;
    let (loopback, internal) = match url.host() {
        Some(url::Host::Domain(d)) => (d == "localhost", d == "localhost"),
        Some(url::Host::Ipv4(ip)) => (ip.is_loopback(), !is_public_v4(ip)),
        Some(url::Host::Ipv6(ip)) => match ip.to_ipv4_mapped() {
            Some(v4) => (v4.is_loopback(), !is_public_v4(v4)),
            None => (
                ip.is_loopback(),
                ip.is_loopback() || ip.is_unspecified() || ip.is_unique_local() || ip.is_unicast_link_local(),
            ),
        },
        None => (false, false),
    };
    match url.scheme() {
        "http" if loopback && dev => {}
        "https" if url.host().is_some() && (dev || !internal) => {}
        "http" if loopback => return Err("http to localhost is for a --dev relay; use https".into()),
        "https" if internal => return Err("a webhook URL names a public host (or, with --dev, localhost)".into()),
        _ => return Err("a webhook URL is https (or, with --dev, http to localhost)".into()),
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

fn is_public_v4(ip: std::net::Ipv4Addr) -> bool {
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_documentation()
        // 100.64.0.0/10, carrier-grade NAT: inside a provider's network.
        || (ip.octets()[0] == 100 && (ip.octets()[1] & 0xc0) == 64))
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

/// Sends one claimed event and records the outcome (under its claim); true when delivered.
/// A storage error is logged: the event is sent again once its lease ends.
async fn deliver_one(state: AppState, event: Claimed, now: u64) -> bool {
    let result = send(&state, &event, now).await;
    let (recorded, outcome) = match &result {
        Ok(()) => (outbox::delivered(&state.db, &event, now).await, "delivered"),
        Err(error) => {
            let give_up = now.saturating_sub(event.created_at as u64) >= GIVE_UP_AFTER_MS;
            let next = (!give_up).then(|| next_attempt_at(event.attempts, now, &mut rand::thread_rng()));
            tracing::info!(event = %event.id, tenant = %event.tenant_id, %error, give_up, "webhook not delivered");
            let recorded = outbox::not_delivered(&state.db, &event, error, next, now).await;
            (recorded, if give_up { "failed" } else { "retry" })
        }
    };
    if let Err(e) = recorded {
        tracing::warn!(event = %event.id, error = %e, "webhook outcome not recorded; sent again after the lease");
    }
    state.metrics.webhook_sent(outcome);
    result.is_ok()
}

/// One pass, waiting for its sends: claims the due events, sends them concurrently, and
/// tells how many were delivered (tests drive delivery with it; the relay runs
/// [`run_forever`]).
pub async fn deliver_due(state: &AppState, now: u64) -> sqlx::Result<usize> {
    let mut sends = tokio::task::JoinSet::new();
    for event in outbox::claim_due(&state.db, now, LEASE_MS, BATCH).await? {
        sends.spawn(deliver_one(state.clone(), event, now));
    }
    Ok(sends.join_all().await.into_iter().filter(|delivered| *delivered).count())
}

/// Every second until shutdown, claims as many due events as it has room for and sends
/// each on its own task: a slow receiver holds its own sends (at most
/// `PER_TENANT_IN_FLIGHT` of them), never the next pass.
pub async fn run_forever(state: AppState) {
    let room = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    crate::clock::every(PASS_EVERY, &state.shutdown, || pass(&state, &room)).await;
}

/// Claims as many due events as there is room to send, and sends each in its own task.
async fn pass(state: &AppState, room: &Arc<Semaphore>) {
    let free = room.available_permits().min(BATCH as usize);
    if free == 0 {
        return;
    }
    let now = crate::clock::now_ms();
    match outbox::claim_due(&state.db, now, LEASE_MS, free as i64).await {
        Ok(events) => {
            for event in events {
                let Ok(permit) = room.clone().try_acquire_owned() else { break };
                let state = state.clone();
                tokio::spawn(async move {
                    deliver_one(state, event, now).await;
                    drop(permit);
                });
            }
        }
        Err(e) => tracing::warn!(error = %e, "webhook delivery pass failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn only_public_https_urls_are_taken_and_local_http_with_dev() {
        for ok in ["https://app.example/hooks", "https://93.184.215.14/h", "https://[2606:4700::1111]/h"] {
            assert!(check_url(ok, false).is_ok(), "{ok}");
            assert!(check_url(ok, true).is_ok(), "{ok}");
        }
        for dev_only in [
            "http://localhost:3000/h",
            "http://127.0.0.1:9/h",
            "http://[::1]/h",
            "https://localhost/h",
            "https://10.0.0.5/h",
            "https://192.168.1.1/h",
            "https://169.254.169.254/latest/meta-data",
            "https://100.100.100.200/",
            "https://[fd00::1]/h",
            "https://[::ffff:10.0.0.1]/h",
        ] {
            assert!(check_url(dev_only, false).is_err(), "{dev_only}");
            assert!(check_url(dev_only, true).is_ok(), "{dev_only}");
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
            "http://10.0.0.5/h",
        ] {
            assert!(check_url(bad, true).is_err(), "{bad}");
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

//! Enterprise auto-pair: reads the organization's policy (`chrome.storage.managed`),
//! enrolls with the relay when `core::managed` says so, stores the managed binding and
//! the record of the attempt (`latch.managed`). Runs at worker start, when the policy
//! changes, and at the retry alarm after an outage.

use wasm_bindgen::prelude::*;

use latch_wire::api::{EnrollRequest, TokenGrant};
use latch_wire::clock::Localize;
use latch_wire::panel::ManagedView;
use latch_wire::stored::{ManagedOutcome, ManagedPolicy, ManagedRecord, StoredBinding};
use latch_wire::token::REDEEM_KEY_PREFIX;

use crate::config::CONNECT_ORIGIN;
use crate::core::managed::{self, Answer, Step};
use crate::shell::chrome::{self, Area};
use crate::shell::relay::{self, Credential, Reply};
use crate::shell::{from_js, log, now_ms, random_secret, random_u64};

use super::lock;
use super::state::update_bindings;
use super::wakeup::{wake_at, LocalFuture};

pub const RECORD_KEY: &str = "latch.managed";
pub const ALARM: &str = "latch.managed";

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = ["chrome", "storage", "managed"], js_name = get, catch)]
    async fn managed_get() -> Result<JsValue, JsValue>;
}

async fn read_record() -> Option<ManagedRecord> {
    chrome::storage_get(Area::Local, RECORD_KEY).await.ok().flatten()
}

/// What the panel shows about the policy.
pub async fn view() -> Option<ManagedView> {
    read_record().await.as_ref().map(ManagedView::from)
}

fn retry() -> LocalFuture {
    Box::pin(sync())
}

/// Brings this browser in line with the policy.
pub async fn sync() {
    let _guard = lock::lock(&lock::MANAGED).await;
    let policy: ManagedPolicy = managed_get().await.ok().and_then(from_js).unwrap_or_default();
    let previous = read_record().await;
    let now = now_ms();
    // `basis`: the record the outcome is recorded over (the attempt's, once one was made).
    let (fingerprint, answer, basis) = match managed::decide(&policy, previous.as_ref(), CONNECT_ORIGIN, now) {
        Step::Idle => {
            if let Some(ManagedRecord { outcome: ManagedOutcome::Retrying, retry_at: Some(at), .. }) = previous {
                wake_at(ALARM, at, retry).await;
            }
            return;
        }
        Step::Refuse { fingerprint, error } => (fingerprint, Answer::Refused { error: error.into() }, previous),
        Step::Enroll { assertion, fingerprint } => {
            let attempt =
                managed::attempting(fingerprint.clone(), previous.as_ref(), || random_secret(REDEEM_KEY_PREFIX));
            if chrome::storage_set(Area::Local, RECORD_KEY, &attempt).await.is_err() {
                log("could not store the enrollment attempt");
                return;
            }
            let device_name = super::device::name().await;
            // The enroll key is this enrollment's retry secret: a retry finds the same key.
            let pairing_key = match &attempt.enroll_key {
                Some(k) => super::keys::for_pairing(k).await,
                None => None,
            };
            let req =
                EnrollRequest { assertion, device_name: device_name.clone(), enroll_key: attempt.enroll_key.clone() };
            let proof = Credential::Proof(pairing_key.as_deref());
            let answer =
                match relay::post_as::<_, TokenGrant>(proof, CONNECT_ORIGIN, "/api/enterprise/enroll", &req).await {
                    Reply::Ok(grant) => {
                        let dpop_key = super::keys::adopt(pairing_key.as_deref(), &grant).await;
                        let kept = dpop_key.clone();
                        let answer = store(grant, device_name, dpop_key, attempt.binding_id.as_deref()).await;
                        super::keys::release(pairing_key.as_deref(), kept.as_deref()).await;
                        answer
                    }
                    Reply::Refused { body, .. } => Answer::Refused { error: body.error },
                    Reply::Unreachable | Reply::ServerError => Answer::Unreachable,
                };
            (fingerprint, answer, Some(attempt))
        }
    };
    let random = random_u64();
    let record = managed::record(fingerprint, answer, basis.as_ref(), now_ms(), random);
    if basis.as_ref() != Some(&record) && chrome::storage_set(Area::Local, RECORD_KEY, &record).await.is_err() {
        log("could not store the enrollment record");
    }
    if let Some(error) = &record.error {
        log(&format!("organization policy not applied: {error}"));
    }
    if let (ManagedOutcome::Retrying, Some(at)) = (record.outcome, record.retry_at) {
        wake_at(ALARM, at, retry).await;
    }
    super::bindings_changed().await;
}

/// Stores the managed binding; `held`, the one an earlier policy made, is dropped from this
/// browser (the relay keeps it until the app or the owner revokes it).
async fn store(grant: TokenGrant, device_name: String, dpop_key: Option<String>, held: Option<&str>) -> Answer {
    let now = now_ms();
    let binding = StoredBinding {
        managed: true,
        device_name: Some(device_name),
        dpop_key,
        ..StoredBinding::from_grant(grant.localized(now), now)
    };
    let binding_id = binding.binding_id.clone();
    let replaced = held.filter(|old| *old != binding_id).map(str::to_owned);
    let stored = update_bindings(|all| {
        all.retain(|b| b.binding_id != binding.binding_id && Some(&b.binding_id) != replaced.as_ref());
        all.push(binding);
    })
    .await;
    if let Some(old) = &replaced {
        super::live::close(old);
        super::tokens::forget(old);
    }
    match stored {
        Ok(()) => Answer::Enrolled { binding_id },
        // Not stored: the relay's answer for this nonce can be fetched again (the retry
        // window of a lost answer), so this is an outage, not a refusal.
        Err(_) => Answer::Unreachable,
    }
}

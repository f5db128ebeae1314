//! One-click and pasted-token pairing: park, describe, approve (redeem), deny, disconnect.

use std::cell::RefCell;

use latch_wire::api::{
    DescribeResponse, ErrorBody, PairingTokenRequest, RedeemRequest, RefreshTokenRequest, RevokeResponse, TokenGrant,
};
use latch_wire::clock::Localize;
use latch_wire::external::{OfferRefusal, OfferReply, OfferState};
use latch_wire::panel::{BindingView, PanelState};
use latch_wire::stored::StoredBinding;
use latch_wire::token::REDEEM_KEY_PREFIX;

use crate::config::CONNECT_ORIGIN;
use crate::core::errors::CommandError;
use crate::core::offers::{Arrival, OfferBook, OfferOutcome};
use crate::core::user_change;
use crate::shell::relay::{self, Credential, Reply};
use crate::shell::{chrome, log, now_ms, random_id, random_secret};

use super::state::{read_bindings, read_book, update_bindings, update_book};

/// The relay is served from the connect origin.
const RELAY: &str = CONNECT_ORIGIN;

pub(super) fn storage_error(e: wasm_bindgen::JsValue) -> CommandError {
    log(&format!("storage error: {e:?}"));
    CommandError::StorageUnavailable
}

/// `pairing.offer` from the connect page, with the opener it verified (checked against the
/// tenant's registered origins once the relay describes the token).
pub async fn offer(token: &str, tab_id: Option<i32>, opener: Option<String>) -> OfferReply {
    let arrival = Arrival::connect_page(tab_id, opener);
    let outcome = update_book(|book, now| book.offer_from(token, arrival, now, random_id)).await;
    match outcome {
        Ok(OfferOutcome::Parked { offer_id }) => {
            // Answer now; the relay's description fills in the prompt moments later.
            let running = Describing::start(&offer_id);
            let token = token.to_owned();
            wasm_bindgen_futures::spawn_local(async move {
                let _ = describe(running, token).await;
            });
            parked(offer_id)
        }
        Ok(OfferOutcome::AlreadyParked { offer_id }) => parked(offer_id),
        Ok(OfferOutcome::Refused(error)) => OfferReply::refused(error),
        Err(e) => {
            storage_error(e);
            OfferReply::refused(OfferRefusal::Busy)
        }
    }
}

fn parked(offer_id: String) -> OfferReply {
    OfferReply::parked(offer_id, OfferState::AwaitingApproval)
}

thread_local! {
    /// Offers whose describe is in flight in this worker: a panel read doesn't start
    /// another (each open panel asks on every storage change, and each describe is a relay
    /// call and a write of the book, which a just-parked offer's connect page waits behind).
    static DESCRIBING: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

/// Marks an offer's describe as in flight until dropped (taken before the describe is
/// spawned, so two reads in one turn can't both start one).
struct Describing(String);

impl Describing {
    fn start(offer_id: &str) -> Self {
        DESCRIBING.with(|d| d.borrow_mut().push(offer_id.to_owned()));
        Describing(offer_id.to_owned())
    }

    /// [`Describing::start`], unless that offer's describe is already in flight.
    fn start_unless_running(offer_id: &str) -> Option<Self> {
        let running = DESCRIBING.with(|d| d.borrow().iter().any(|id| id == offer_id));
        (!running).then(|| Self::start(offer_id))
    }
}

impl Drop for Describing {
    fn drop(&mut self) {
        DESCRIBING.with(|d| {
            let mut d = d.borrow_mut();
            if let Some(i) = d.iter().position(|id| *id == self.0) {
                d.swap_remove(i);
            }
        });
    }
}

/// Asks the relay whose token (`token`, the offer's) this is. A refusal (used, expired,
/// unknown) fails the offer; no answer (or none within the relay call's deadline) leaves it
/// undescribed, and the panel, which keeps asking while it shows "Checking…", retries.
async fn describe(running: Describing, token: String) -> Result<(), CommandError> {
    let offer_id = running.0.as_str();
    let reply: Reply<DescribeResponse> =
        relay::post(RELAY, "/pairing-tokens/describe", &PairingTokenRequest { pairing_token: token }).await;
    match reply {
        Reply::Ok(d) => {
            let d = d.localized(now_ms());
            // Stored as the relay sent it; the panel re-checks every name it shows
            // (`core::shown_names::with_shown_names`), so the worker links no Unicode tables.
            let name = d.app_name.clone();
            update_book(|book, _| book.described(offer_id, &d, name)).await.map_err(storage_error)
        }
        Reply::Refused { body: ErrorBody { error, .. }, .. } => {
            update_book(|book, now| book.decide(offer_id, OfferState::Failed, Some(&error), now))
                .await
                .map_err(storage_error)?;
            Err(CommandError::Refused(error))
        }
        Reply::Unreachable | Reply::ServerError => Err(CommandError::RelayUnreachable),
    }
}

/// The user clicked Approve: redeem, store the binding, close the connect popup. Also
/// repeats a redeem that a stopped worker left unanswered (same redeem key, so the relay
/// hands back the binding it may already have created).
pub async fn approve(offer_id: &str) -> Result<(), CommandError> {
    let worker = super::state::instance();
    let redeem =
        update_book(|book, now| book.begin_approval(offer_id, now, &worker, || random_secret(REDEEM_KEY_PREFIX)))
            .await
            .map_err(storage_error)??;
    let device_name = super::device::name().await;
    // The redeem key is this approval's retry secret: a retry finds the same key.
    let pairing_key = super::keys::for_pairing(&redeem.redeem_key).await;
    let req = RedeemRequest {
        pairing_token: redeem.pairing_token,
        device_name: device_name.clone(),
        redeem_key: Some(redeem.redeem_key),
        via: Some(redeem.via),
    };
    let proof = Credential::Proof(pairing_key.as_deref());
    match relay::post_as::<_, TokenGrant>(proof, RELAY, "/pairing-tokens/redeem", &req).await {
        Reply::Ok(grant) => {
            let now = now_ms();
            let dpop_key = super::keys::adopt(pairing_key.as_deref(), &grant).await;
            let binding_key = dpop_key.clone();
            let binding = StoredBinding {
                device_name: Some(device_name),
                dpop_key,
                ..StoredBinding::from_grant(grant.localized(now), now)
            };
            update_bindings(|all| {
                all.retain(|b| b.binding_id != binding.binding_id);
                all.push(binding);
            })
            .await
            .map_err(storage_error)?;
            super::keys::release(pairing_key.as_deref(), binding_key.as_deref()).await;
            let tab = update_book(|book, now| book.decide(offer_id, OfferState::Approved, None, now))
                .await
                .map_err(storage_error)?;
            if let Some(Some(tab_id)) = tab {
                chrome::close_tab(tab_id).await;
            }
            Ok(())
        }
        Reply::Refused { body: ErrorBody { error, .. }, .. } => {
            update_book(|book, now| book.decide(offer_id, OfferState::Failed, Some(&error), now))
                .await
                .map_err(storage_error)?;
            Err(CommandError::Refused(error))
        }
        Reply::Unreachable | Reply::ServerError => {
            update_book(|book, _| book.abort_approval(offer_id)).await.map_err(storage_error)?;
            Err(CommandError::RelayUnreachable)
        }
    }
}

/// Worker start: finish approvals whose redeem a stopped worker left unanswered. `book` is
/// the one the start-up just read (no second storage read on the cold-start path).
pub async fn resume_interrupted(book: &OfferBook) {
    let worker = super::state::instance();
    for offer_id in book.interrupted_redeems(&worker) {
        log("repeating a redeem cut off by a stopped worker");
        let _ = approve(&offer_id).await;
    }
}

/// The user clicked Deny: the token is dropped unredeemed; the connect page learns it
/// from `pairing.result`.
pub async fn deny(offer_id: &str) -> Result<(), CommandError> {
    update_book(|book, now| book.decide(offer_id, OfferState::Denied, None, now))
        .await
        .map_err(storage_error)?
        .map(|_| ())
        .ok_or(CommandError::AlreadyDecided)
}

/// A token pasted into "Connect an app": same gates as the one-click path.
pub async fn connect_pasted(token: &str) -> Result<(), CommandError> {
    let outcome = update_book(|book, now| book.offer_from(token, Arrival::pasted(), now, random_id))
        .await
        .map_err(storage_error)?;
    match outcome {
        OfferOutcome::Parked { offer_id } => describe(Describing::start(&offer_id), token.to_owned()).await,
        OfferOutcome::AlreadyParked { .. } => Ok(()),
        OfferOutcome::Refused(r) => Err(CommandError::Offer(r)),
    }
}

/// Disconnect: revoke at the relay, then forget locally. If the relay can't be reached
/// the binding stays, so the user can retry instead of leaving a live session behind.
pub async fn disconnect(binding_id: &str) -> Result<(), CommandError> {
    let Some(b) = read_bindings().await.into_iter().find(|b| b.binding_id == binding_id) else {
        return Err(CommandError::UnknownBinding);
    };
    if b.managed {
        return Err(CommandError::ManagedBinding);
    }
    let req = RefreshTokenRequest { refresh_token: b.refresh_token };
    let key = super::keys::of(binding_id, b.dpop_key.as_deref()).await;
    let proof = Credential::Proof(key.as_deref());
    match relay::post_as::<_, RevokeResponse>(proof, RELAY, "/api/auth/revoke", &req).await {
        // The relay refused this browser's proof: nothing was revoked. While the key is
        // here, the binding stays (the user tries again); without it the binding can never
        // be used or revoked from here, and goes.
        Reply::Refused { status: 401, body } if is_dpop_refusal(&body.error) && key_held(key.as_deref()).await => {
            Err(CommandError::Refused(body.error))
        }
        Reply::Ok(_) | Reply::Refused { .. } => {
            super::live::close(binding_id);
            super::tokens::forget(binding_id);
            update_bindings(|all| all.retain(|x| x.binding_id != binding_id)).await.map_err(storage_error)?;
            super::keys::forget(key.as_deref()).await;
            Ok(())
        }
        Reply::Unreachable | Reply::ServerError => Err(CommandError::RelayUnreachable),
    }
}

/// "Disconnect all": each binding the user may disconnect, in turn; one that fails stays
/// and the rest still go (`core::user_change` decides which and what to answer).
pub async fn disconnect_all() -> Result<(), CommandError> {
    let bindings = read_bindings().await;
    let mut outcomes = Vec::new();
    for binding_id in user_change::disconnect_all_targets(&bindings) {
        outcomes.push(disconnect(binding_id).await);
    }
    user_change::disconnect_all_outcome(outcomes)
}

fn is_dpop_refusal(error: &str) -> bool {
    matches!(error, "invalid_dpop_proof" | "use_dpop_nonce")
}

async fn key_held(slot: Option<&str>) -> bool {
    match slot {
        Some(slot) => super::keys::held(slot).await,
        None => false,
    }
}

/// What the panel shows. Undescribed offers get another describe attempt (unless one is
/// still running).
pub async fn panel_state() -> PanelState {
    let book = read_book().await;
    for (offer_id, token) in book.undescribed() {
        let Some(running) = Describing::start_unless_running(&offer_id) else {
            continue;
        };
        wasm_bindgen_futures::spawn_local(async move {
            let _ = describe(running, token).await;
        });
    }
    // One storage round trip for the three reads, not three in a row (a just-woken
    // worker's panel waits on them: BENCHMARKS.md, "Continue → prompt on screen").
    let (challenge, bindings, managed) =
        futures_util::future::join3(super::code_pairing::view(), read_bindings(), super::managed::view()).await;
    let mut pending = book.pending_views();
    pending.extend(challenge.as_ref().and_then(super::code_pairing::prompt_view));
    PanelState { pending, bindings: bindings.iter().map(BindingView::from).collect(), challenge, managed }
}

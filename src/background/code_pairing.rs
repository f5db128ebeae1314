//! Driver of the code-pairing poller ([`crate::core::challenge::Poller`]): carries out its
//! actions with fetch, `chrome.storage`, timers and `chrome.alarms`, and feeds the
//! answers back. The poller in memory is only a cache: a new worker rebuilds it from
//! `latch.challenge` (`Event::Restored`), so killing the worker loses nothing.

use std::cell::RefCell;

use latch_wire::api::{
    ChallengeIssued, ChallengeRequest, ChallengeStatus, ChallengeStatusReply, ConfirmRequest, RejectRequest, TokenGrant,
};
use latch_wire::clock::Localize;
use latch_wire::panel::{ChallengeView, PendingView, PromptVia, ViewState};
use latch_wire::stored::{StoredBinding, StoredChallenge};
use latch_wire::token::REDEEM_KEY_PREFIX;

use crate::config::CONNECT_ORIGIN;
use crate::core::challenge::{code_prompt_id, Action, Event, Poller};
use crate::core::errors::CommandError;
use crate::shell::chrome::{self, Area};
use crate::shell::relay::{self, Credential, Reply};
use crate::shell::{log, now_ms, random_id, random_secret, random_u64};

use super::lock;
use super::state::update_bindings;
use super::wakeup::{wake_at, LocalFuture};

pub const CHALLENGE_KEY: &str = "latch.challenge";
pub const VIEW_KEY: &str = "latch.challengeView";
pub const ALARM: &str = "latch.challenge";
const DEVICE_KEY: &str = "latch.deviceId";

/// `feed` as a boxed future: the network tasks it spawns feed it again.
fn feed_later(event: Event) -> LocalFuture {
    Box::pin(feed(event))
}

thread_local! {
    static POLLER: RefCell<Option<Poller>> = const { RefCell::new(None) };
}

/// Feeds `event` to the poller (restoring it from storage first in a new worker) and
/// carries out what it decides.
pub async fn feed(event: Event) {
    let restore = POLLER.with_borrow(Option::is_none);
    if restore {
        let stored: Option<StoredChallenge> = chrome::storage_get(Area::Local, CHALLENGE_KEY).await.ok().flatten();
        // Another task may have restored it while we awaited storage.
        let actions = POLLER.with_borrow_mut(|p| {
            if p.is_some() {
                return Vec::new();
            }
            let seed = random_u64();
            p.insert(Poller::new(seed)).handle(Event::Restored(stored), now_ms())
        });
        run(actions).await;
    }
    if event != Event::Tick || !restore {
        let actions = POLLER.with_borrow_mut(|p| p.as_mut().map(|p| p.handle(event, now_ms())).unwrap_or_default());
        run(actions).await;
    }
}

/// Feeds the relay's answer to call `call` (dropped if the poller no longer waits for it).
async fn feed_answer(call: u32, event: Event) {
    let actions = POLLER.with_borrow_mut(|p| p.as_mut().map(|p| p.answer(call, event, now_ms())).unwrap_or_default());
    run(actions).await;
}

/// The panel's view of the poller.
pub async fn view() -> Option<ChallengeView> {
    chrome::storage_get(Area::Session, VIEW_KEY).await.ok().flatten()
}

/// The code prompt as a pending approval (the same prompt as the other paths, §6).
pub fn prompt_view(view: &ChallengeView) -> Option<PendingView> {
    let prompt = view.prompt.as_ref()?;
    let code = view.code.clone()?;
    let r = &prompt.requester;
    Some(PendingView {
        offer_id: code_prompt_id(prompt, &code),
        app_name: Some(r.app_name.clone()),
        tenant_id: Some(r.tenant_id.clone()),
        user_id: Some(r.user_id.clone()),
        expires_at: view.expires_at.unwrap_or_default(),
        shown_at: prompt.shown_at,
        via: PromptVia::Code,
        opener: None,
        code: Some(code),
        app_origin: r.app_origin.clone(),
    })
}

/// True while a code prompt waits for the user (the badge counts it).
pub async fn prompt_waiting() -> bool {
    view().await.is_some_and(|v| v.state == ViewState::AwaitingConfirmation)
}

/// The user clicked Approve on the code prompt `prompt_id`: confirm at the relay. A prompt
/// that is no longer on show (replaced, expired, already answered) is refused.
pub async fn approve(prompt_id: &str) -> Result<(), CommandError> {
    if !showing(prompt_id).await {
        return Err(CommandError::AlreadyDecided);
    }
    let redeem_key = random_secret(REDEEM_KEY_PREFIX);
    feed(Event::Approve { prompt_id: prompt_id.to_owned(), redeem_key }).await;
    Ok(())
}

/// The user clicked Deny on the code prompt `prompt_id`.
pub async fn deny(prompt_id: &str) -> Result<(), CommandError> {
    if !showing(prompt_id).await {
        return Err(CommandError::AlreadyDecided);
    }
    feed(Event::Reject { prompt_id: prompt_id.to_owned() }).await;
    Ok(())
}

async fn showing(prompt_id: &str) -> bool {
    feed(Event::Tick).await; // restores the poller in a new worker
    POLLER.with_borrow(|p| p.as_ref().and_then(Poller::prompt_id)).as_deref() == Some(prompt_id)
}

/// Carries out actions in order; network calls run as their own tasks and feed back.
async fn run(actions: Vec<Action>) {
    if actions.is_empty() {
        return;
    }
    let _guard = lock::lock(&lock::CHALLENGE).await;
    for action in actions {
        match action {
            Action::Request { call } => wasm_bindgen_futures::spawn_local(Box::pin(request(call)) as LocalFuture),
            Action::Poll { call, challenge_id, wait_s, seen } => {
                wasm_bindgen_futures::spawn_local(Box::pin(poll(call, challenge_id, wait_s, seen)) as LocalFuture)
            }
            Action::Confirm { call, challenge_id, redeem_key } => {
                wasm_bindgen_futures::spawn_local(Box::pin(confirm(call, challenge_id, redeem_key)) as LocalFuture)
            }
            Action::Reject { challenge_id } => wasm_bindgen_futures::spawn_local(reject(challenge_id)),
            Action::Store(s) => {
                if let Err(e) = chrome::storage_set(Area::Local, CHALLENGE_KEY, &s).await {
                    log(&format!("could not store the challenge: {e:?}"));
                }
            }
            Action::Clear => {
                let _ = chrome::storage_remove(Area::Local, CHALLENGE_KEY).await;
            }
            Action::Schedule(at) => wake_at(ALARM, at, || feed_later(Event::Tick)).await,
            Action::Deliver(grant) => {
                // Only the answer to confirm carries a grant, and confirm only follows the
                // user's Approve (core::challenge).
                let device_name = Some(super::device::name().await);
                // `confirm` kept a bound key under the binding's slot.
                let dpop_key = (grant.token_type.as_deref() == Some("DPoP"))
                    .then(|| crate::core::dpop::upgrade_slot(&grant.binding.binding_id));
                let binding = StoredBinding { device_name, dpop_key, ..StoredBinding::from_grant(grant, now_ms()) };
                let stored = update_bindings(|all| {
                    all.retain(|b| b.binding_id != binding.binding_id);
                    all.push(binding);
                })
                .await;
                match stored {
                    Ok(()) => super::bindings_changed().await,
                    Err(e) => log(&format!("could not store the binding: {e:?}")),
                }
            }
            Action::PromptShown => wasm_bindgen_futures::spawn_local(bring_prompt_up()),
            Action::Show(view) => {
                let _ = chrome::storage_set(Area::Session, VIEW_KEY, &view).await;
                wasm_bindgen_futures::spawn_local(super::state::refresh_badge());
            }
        }
    }
}

async fn device_id() -> String {
    if let Ok(Some(id)) = chrome::storage_get::<String>(Area::Local, DEVICE_KEY).await {
        return id;
    }
    let id = format!("dev_{}", random_id());
    let _ = chrome::storage_set(Area::Local, DEVICE_KEY, &id).await;
    id
}

async fn request(call: u32) {
    let body = ChallengeRequest { device_id: device_id().await, device_name: super::device::name().await };
    let reply: Reply<ChallengeIssued> = relay::post(CONNECT_ORIGIN, "/api/pairing/request", &body).await;
    let event = match reply {
        Reply::Ok(issued) => Event::Issued(issued.localized(now_ms())),
        other => failure(other),
    };
    feed_answer(call, event).await;
}

async fn poll(call: u32, challenge_id: String, wait_s: u64, seen: ChallengeStatus) {
    // `seen`: the relay holds the poll while the status is still what the prompt shows.
    let seen = match seen {
        ChallengeStatus::AwaitingConfirmation => "&seen=awaiting_confirmation",
        _ => "",
    };
    let path = format!("/api/pairing/status?challengeId={challenge_id}&wait={wait_s}{seen}");
    let reply: Reply<ChallengeStatusReply> = relay::get(CONNECT_ORIGIN, &path).await;
    let event = match reply {
        Reply::Ok(status) => Event::Status(status),
        Reply::Refused { status: 404, .. } => Event::NotFound,
        other => failure(other),
    };
    feed_answer(call, event).await;
}

/// The user's Approve, at the relay: the binding and its tokens.
async fn confirm(call: u32, challenge_id: String, redeem_key: String) {
    // The redeem key is this confirm's retry secret: a retry finds the same key.
    let pairing_key = super::keys::for_pairing(&redeem_key).await;
    let body = ConfirmRequest { challenge_id, redeem_key, device_name: super::device::name().await };
    let proof = Credential::Proof(pairing_key.as_deref());
    let reply: Reply<TokenGrant> = relay::post_as(proof, CONNECT_ORIGIN, "/api/pairing/confirm", &body).await;
    let event = match reply {
        Reply::Ok(grant) => {
            // Kept under the binding before the grant is delivered (and stored).
            super::keys::adopt(pairing_key.as_deref(), &grant).await;
            Event::Confirmed(grant.localized(now_ms()))
        }
        Reply::Refused { status: 404, .. } => Event::NotFound,
        other => failure(other),
    };
    feed_answer(call, event).await;
}

/// An app approved the code while no Latch page is open (the user is at the app, typing
/// it): open the panel in a small window, as the one-click path does without a gesture.
async fn bring_prompt_up() {
    if !chrome::extension_page_open().await {
        chrome::open_panel_window().await;
    }
}

/// The user's Deny (or Cancel), at the relay. Nothing waits for it: without the user's
/// confirm nothing is bound, and the code expires anyway.
async fn reject(challenge_id: String) {
    let body = RejectRequest { challenge_id };
    if let Reply::Unreachable | Reply::ServerError =
        relay::post::<_, ChallengeStatusReply>(CONNECT_ORIGIN, "/api/pairing/reject", &body).await
    {
        log("could not tell the relay the code was declined; it expires by itself");
    }
}

fn failure<T>(reply: Reply<T>) -> Event {
    match reply {
        Reply::Refused { status: 429, body } => Event::TooMany {
            error: body.error,
            retry_after_ms: body.retry_after.map(|s| s.saturating_mul(1000)),
            interval_ms: body.interval.map(|s| s.saturating_mul(1000)),
        },
        Reply::Refused { body, .. } => Event::Refused(body.error),
        Reply::ServerError => Event::ServerError,
        Reply::Ok(_) | Reply::Unreachable => Event::NetworkError,
    }
}

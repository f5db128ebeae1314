//! Driver of the refresh scheduler ([`crate::core::refresh::Scheduler`]): refreshes access
//! tokens ahead of expiry (timer + `latch.refresh` alarm) and on demand, one refresh per
//! binding at a time; everyone who needs a token meanwhile waits for that one refresh.

use std::cell::RefCell;

use futures_channel::oneshot;
use litemap::LiteMap;

use latch_wire::api::{ErrorBody, RefreshTokenRequest, RefreshedTokens};
use latch_wire::clock::Localize;

use crate::config::CONNECT_ORIGIN;
use crate::core::errors::CommandError;
use crate::core::refresh::{Action, Event, Scheduler};
use crate::core::repair;
use crate::shell::relay::{self, Credential, Reply};
use crate::shell::{log, now_ms, random_u64};

use super::state::{read_bindings, update_binding};
use super::wakeup::wake_at;

pub const ALARM: &str = "latch.refresh";

thread_local! {
    static SCHEDULER: RefCell<Option<Scheduler>> = const { RefCell::new(None) };
    /// Callers waiting for a binding's refresh to end: each hears whether it succeeded.
    static WAITERS: RefCell<LiteMap<String, Vec<oneshot::Sender<bool>>>> = const { RefCell::new(LiteMap::new()) };
}

fn handle(event: Event) -> Vec<Action> {
    SCHEDULER.with_borrow_mut(|s| {
        let seed = random_u64();
        s.get_or_insert_with(|| Scheduler::new(seed)).handle(event, now_ms())
    })
}

/// Worker start, alarm, timer: refresh whatever is due and schedule the next one.
pub async fn tick() {
    let bindings = read_bindings()
        .await
        .into_iter()
        .map(|b| {
            // Neither a paused binding nor one that needs re-pair is refreshed on schedule.
            let dormant = b.needs_repair.is_some() || b.paused;
            (b.binding_id, b.access_obtained_at.unwrap_or(b.paired_at), b.access_expires_at, dormant)
        })
        .collect();
    run(handle(Event::Tick { bindings })).await;
}

/// An access token and the slot of the key its binding's proofs are signed with (none: a
/// bearer binding).
pub struct Access {
    pub token: String,
    pub key: Option<String>,
}

impl Access {
    pub fn credential(&self) -> Credential<'_> {
        Credential::Access { token: &self.token, key: self.key.as_deref() }
    }
}

/// A fresh access token for `binding_id`, refreshing first (shared with any refresh
/// already on its way). `Err` when the binding needs re-pair or the relay is unreachable.
pub async fn refreshed_access_token(binding_id: &str) -> Result<Access, CommandError> {
    let (done, outcome) = oneshot::channel();
    WAITERS.with_borrow_mut(|w| w.entry(binding_id.to_owned()).or_default().push(done));
    run(handle(Event::Needed { binding_id: binding_id.to_owned() })).await;
    // A sender dropped without an answer (the binding was forgotten) is a failed refresh.
    if !outcome.await.unwrap_or(false) {
        return Err(CommandError::RefreshFailed);
    }
    let b = read_bindings().await.into_iter().find(|b| b.binding_id == binding_id);
    b.map(|b| Access { token: b.access_token, key: b.dpop_key }).ok_or(CommandError::UnknownBinding)
}

/// The binding's access token if it is still valid, else a refreshed one (the live
/// channel's handshake). `Err` when the binding is gone or can't be refreshed.
pub async fn valid_access_token(binding_id: &str) -> Result<Access, CommandError> {
    let b = read_bindings().await.into_iter().find(|b| b.binding_id == binding_id);
    match b {
        None => Err(CommandError::UnknownBinding),
        Some(b) if b.access_expires_at > now_ms() => Ok(Access { token: b.access_token, key: b.dpop_key }),
        Some(_) => refreshed_access_token(binding_id).await,
    }
}

/// Calls the relay with the binding's access token (refreshed first when it has expired);
/// a 401 gets one refresh and one more try. The relay's last answer, or why no token.
pub async fn with_access_token<T, Call, Answer>(binding_id: &str, call: Call) -> Result<Reply<T>, CommandError>
where
    Call: Fn(Access) -> Answer,
    Answer: std::future::Future<Output = Reply<T>>,
{
    let reply = call(valid_access_token(binding_id).await?).await;
    if let Reply::Refused { status: 401, .. } = reply {
        return Ok(call(refreshed_access_token(binding_id).await?).await);
    }
    Ok(reply)
}

/// Forgets the scheduler's state of a removed binding. Whoever waits for its refresh hears
/// it failed (their senders drop): no refresh of a removed binding will end.
pub fn forget(binding_id: &str) {
    WAITERS.with_borrow_mut(|w| w.remove(binding_id));
    handle(Event::Forgotten { binding_id: binding_id.to_owned() });
}

async fn run(actions: Vec<Action>) {
    for action in actions {
        match action {
            Action::Refresh { binding_id } => wasm_bindgen_futures::spawn_local(refresh(binding_id)),
            Action::Schedule(at) => wake_at(ALARM, at, || Box::pin(tick())).await,
            Action::MarkNeedsRepair { binding_id, error } => {
                let marked = update_binding(&binding_id, |b| b.needs_repair = Some(error.clone())).await;
                if marked.is_err() {
                    log("could not mark a binding as needing re-pair");
                }
            }
            Action::Release { binding_id, ok } => {
                for done in WAITERS.with_borrow_mut(|w| w.remove(&binding_id)).unwrap_or_default() {
                    // A waiter that went away doesn't need the answer.
                    let _ = done.send(ok);
                }
            }
        }
    }
}

async fn refresh(binding_id: String) {
    let Some(b) = read_bindings().await.into_iter().find(|b| b.binding_id == binding_id) else {
        forget(&binding_id);
        return;
    };
    // A binding made before keys is bound to one now, by this refresh (PROTOCOL §12).
    let key = match b.dpop_key {
        Some(slot) => Some(slot),
        None => super::keys::for_upgrade(&binding_id).await,
    };
    let req = RefreshTokenRequest { refresh_token: b.refresh_token };
    let proof = Credential::Proof(key.as_deref());
    let reply: Reply<RefreshedTokens> = relay::post_as(proof, CONNECT_ORIGIN, "/api/auth/refresh", &req).await;
    let event = match reply {
        Reply::Ok(t) => {
            let now = now_ms();
            let t = t.localized(now);
            let expires_at = t.access_expires_at;
            let bound = (t.token_type.as_deref() == Some("DPoP")).then_some(key).flatten();
            let stored = update_binding(&binding_id, |x| {
                x.access_token = t.access_token.clone();
                x.refresh_token = t.refresh_token.clone();
                x.access_expires_at = t.access_expires_at;
                x.refresh_expires_at = t.refresh_expires_at;
                x.access_obtained_at = Some(now);
                x.dpop_key.clone_from(&bound);
            })
            .await;
            match stored {
                Ok(()) => {
                    super::live::reauthenticate(&binding_id, Access { token: t.access_token.clone(), key: bound });
                    Event::Refreshed { binding_id, expires_at }
                }
                Err(_) => Event::Failed { binding_id },
            }
        }
        // Asked for a nonce even after the one retry with it: a clock problem, not the
        // binding's; tried again later like an unreachable relay.
        Reply::Refused { status: 401, body: ErrorBody { error, .. } } if error == "use_dpop_nonce" => {
            Event::Failed { binding_id }
        }
        Reply::Refused { status: 401, body } => Event::Rejected { binding_id, error: repair::from_refusal(&body) },
        _ => Event::Failed { binding_id },
    };
    Box::pin(run(handle(event))).await;
}

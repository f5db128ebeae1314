//! Driver of the code-pairing poller ([`crate::core::challenge::Poller`]): carries out its
//! actions with fetch, `chrome.storage`, timers and `chrome.alarms`, and feeds the
//! answers back. The poller in memory is only a cache: a new worker rebuilds it from
//! `latch.challenge` (`Event::Restored`), so killing the worker loses nothing.

use std::cell::RefCell;

use crate::config::CONNECT_ORIGIN;
use crate::core::challenge::{Action, ChallengeView, Event, Poller, StoredChallenge};
use crate::core::wire::{ChallengeIssued, ChallengeRequest, ChallengeStatusReply, StoredBinding};
use crate::shell::chrome::{self, Area};
use crate::shell::relay::{self, Reply};
use crate::shell::{log, now_ms, random_id, random_u64};

use super::lock;
use super::state::update_bindings;
use super::wakeup::{wake_at, LocalFuture};

pub const CHALLENGE_KEY: &str = "latch.challenge";
pub const VIEW_KEY: &str = "latch.challengeView";
pub const ALARM: &str = "latch.challenge";
const DEVICE_KEY: &str = "latch.deviceId";
const DEVICE_NAME: &str = "Chrome with Latch";

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

/// The panel's view of the poller.
pub async fn view() -> Option<ChallengeView> {
    chrome::storage_get(Area::Session, VIEW_KEY).await.ok().flatten()
}

/// Carries out actions in order; network calls run as their own tasks and feed back.
async fn run(actions: Vec<Action>) {
    if actions.is_empty() {
        return;
    }
    let _guard = lock::lock(&lock::CHALLENGE).await;
    for action in actions {
        match action {
            Action::Request => wasm_bindgen_futures::spawn_local(Box::pin(request()) as LocalFuture),
            Action::Poll { challenge_id, wait_s } => {
                wasm_bindgen_futures::spawn_local(Box::pin(poll(challenge_id, wait_s)) as LocalFuture)
            }
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
                let binding = StoredBinding::from_grant(grant, now_ms());
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
            Action::Show(view) => {
                let _ = chrome::storage_set(Area::Session, VIEW_KEY, &view).await;
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

async fn request() {
    let body = ChallengeRequest { device_id: device_id().await, device_name: DEVICE_NAME.into() };
    let reply: Reply<ChallengeIssued> = relay::post(CONNECT_ORIGIN, "/api/pairing/request", &body).await;
    let event = match reply {
        Reply::Ok(issued) => Event::Issued(issued.localized(now_ms())),
        other => failure(other),
    };
    feed_later(event).await;
}

async fn poll(challenge_id: String, wait_s: u64) {
    // redeliver=1: an approval answered to a worker that has since stopped (or over a
    // dropped connection) is answered again rather than lost.
    let path = format!("/api/pairing/status?challengeId={challenge_id}&wait={wait_s}&redeliver=1");
    let reply: Reply<ChallengeStatusReply> = relay::get(CONNECT_ORIGIN, &path).await;
    let event = match reply {
        Reply::Ok(mut status) => {
            status.grant = status.grant.map(|g| g.localized(now_ms()));
            Event::Status(status)
        }
        Reply::Refused { status: 404, .. } => Event::NotFound,
        other => failure(other),
    };
    feed_later(event).await;
}

fn failure<T>(reply: Reply<T>) -> Event {
    match reply {
        Reply::Refused { status: 429, body } => Event::TooMany {
            error: body.error,
            retry_after_ms: body.retry_after.map(|s| s * 1000),
            interval_ms: body.interval.map(|s| s * 1000),
        },
        Reply::Refused { body, .. } => Event::Refused(body.error),
        Reply::ServerError => Event::ServerError,
        Reply::Ok(_) | Reply::Unreachable => Event::NetworkError,
    }
}

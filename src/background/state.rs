//! Stored state of the worker: the offer book (`chrome.storage.session`, key
//! `latch.offers`) and the bindings (`chrome.storage.local`, key `latch.bindings`).
//! Always re-read: the worker may have been restarted since the last message.

use wasm_bindgen::JsValue;

use latch_wire::stored::StoredBinding;
use latch_wire::EpochMs;

use super::lock;
use crate::core::offers::OfferBook;
use crate::shell::chrome::{self, Area};
use crate::shell::now_ms;

pub const OFFERS_KEY: &str = "latch.offers";
pub const BINDINGS_KEY: &str = "latch.bindings";

pub async fn read_book() -> OfferBook {
    let mut book: OfferBook = chrome::storage_get(Area::Session, OFFERS_KEY).await.ok().flatten().unwrap_or_default();
    book.prune(now_ms());
    book
}

/// Runs `f` on the stored book under the write lock, saves it and refreshes the badge.
pub async fn update_book<R>(f: impl FnOnce(&mut OfferBook, EpochMs) -> R) -> Result<R, JsValue> {
    let _guard = lock::lock(&lock::STORAGE).await;
    let mut book = read_book().await;
    let r = f(&mut book, now_ms());
    chrome::storage_set(Area::Session, OFFERS_KEY, &book).await?;
    // The answer need not wait for the badge (one more round trip to the browser on the
    // cold-start path); Chrome applies the calls in the order they are made.
    let offers = book.pending_count();
    wasm_bindgen_futures::spawn_local(async move {
        let code = usize::from(super::code_pairing::prompt_waiting().await);
        chrome::set_badge(offers + code).await;
    });
    Ok(r)
}

/// The badge counts every prompt waiting for the user: parked offers and a code prompt.
pub async fn refresh_badge() {
    let offers = read_book().await.pending_count();
    let code = usize::from(super::code_pairing::prompt_waiting().await);
    chrome::set_badge(offers + code).await;
}

/// The stored bindings; none when they can't be read.
pub async fn read_bindings() -> Vec<StoredBinding> {
    try_read_bindings().await.unwrap_or_default()
}

/// The stored bindings, or the error that kept them from being read (a caller that would
/// act on their absence must not take a failed read for "none").
/// Records of an older shape come migrated ([`StoredBinding::migrated`]).
pub async fn try_read_bindings() -> Result<Vec<StoredBinding>, JsValue> {
    let stored: Vec<StoredBinding> = chrome::storage_get(Area::Local, BINDINGS_KEY).await?.unwrap_or_default();
    Ok(stored.into_iter().map(StoredBinding::migrated).collect())
}

/// Runs `f` on the stored bindings under the write lock and saves them. A failed read
/// fails the update: writing back an empty list would lose every binding.
pub async fn update_bindings<R>(f: impl FnOnce(&mut Vec<StoredBinding>) -> R) -> Result<R, JsValue> {
    let _guard = lock::lock(&lock::STORAGE).await;
    let mut bindings = try_read_bindings().await?;
    let r = f(&mut bindings);
    chrome::storage_set(Area::Local, BINDINGS_KEY, &bindings).await?;
    Ok(r)
}

/// [`update_bindings`] on the stored binding with this id (on each, should storage hold it
/// twice); nothing when it is gone. `f` by reference: one copy of the locked read-modify-
/// write serves every caller (a generic one cost the worker 0.4 KB).
pub async fn update_binding(binding_id: &str, mut f: impl FnMut(&mut StoredBinding)) -> Result<(), JsValue> {
    update_one(binding_id, &mut f).await
}

async fn update_one(binding_id: &str, f: &mut dyn FnMut(&mut StoredBinding)) -> Result<(), JsValue> {
    update_bindings(|all| all.iter_mut().filter(|b| b.binding_id == binding_id).for_each(f)).await
}

thread_local! {
    /// This worker instance. Not state: only a name, so work marked in storage by an
    /// instance that has since stopped can be told from work this instance is doing.
    static INSTANCE: String = crate::shell::random_id();
}

/// The id of this worker instance (new after every worker start).
pub fn instance() -> String {
    INSTANCE.with(Clone::clone)
}

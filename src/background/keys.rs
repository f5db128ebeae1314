//! Which key each binding signs with (PROTOCOL §12). A pairing makes its key in a slot named
//! after the pairing's retry secret (a retry after a lost answer signs with the key the
//! relay bound); once the relay answers `tokenType: "DPoP"` the key is kept under the
//! binding (`binding:{id}`, the slot the binding's record names) and the pairing's slot is
//! let go. A binding made before keys gets its key in that same slot on its next refresh.

use latch_wire::api::TokenGrant;

use crate::core::dpop::{pairing_slot, upgrade_slot};
use crate::shell::{dpop, log};

/// The slot of the key a pairing signs with, made there first (or found, on a retry).
/// `None` when this browser can't make or keep a key: the pairing goes on unbound (a
/// bearer binding, bound on a later refresh if a key can be made then).
pub async fn for_pairing(retry_key: &str) -> Option<String> {
    let slot = pairing_slot(&dpop::fingerprint(retry_key).await.ok()?);
    match dpop::key(&slot).await {
        Ok(_) => Some(slot),
        Err(_) => {
            log("no key could be made for this pairing; it goes on unbound");
            None
        }
    }
}

/// The key a binding without one gets on its next refresh.
pub async fn for_upgrade(binding_id: &str) -> Option<String> {
    let slot = upgrade_slot(binding_id);
    dpop::key(&slot).await.ok().map(|_| slot)
}

/// Where the new binding's key is kept from now on, if the relay bound one: under the
/// binding, or, if it can't be copied there, where it is (never lost: it is the only key
/// the relay takes for this binding).
pub async fn adopt(pairing: Option<&str>, grant: &TokenGrant) -> Option<String> {
    if grant.token_type.as_deref() != Some("DPoP") {
        return None;
    }
    let pairing = pairing?;
    let slot = upgrade_slot(&grant.binding.binding_id);
    match dpop::copy(pairing, &slot).await {
        Ok(()) => Some(slot),
        Err(_) => {
            log("the pairing's key stays in the pairing's slot");
            Some(pairing.to_owned())
        }
    }
}

/// The pairing's own slot, once its binding is stored with `kept` (the key lives on under
/// the binding, unless `kept` is the pairing's slot itself).
pub async fn release(pairing: Option<&str>, kept: Option<&str>) {
    if let Some(slot) = pairing.filter(|p| Some(*p) != kept) {
        dpop::forget(slot).await;
    }
}

/// The slot of the key a stored binding signs with: the one its record names, else its
/// upgrade's, when a refresh that bound it lost its answer (the relay already holds that key).
pub async fn of(binding_id: &str, named: Option<&str>) -> Option<String> {
    if let Some(named) = named {
        return Some(named.to_owned());
    }
    let slot = upgrade_slot(binding_id);
    dpop::find(&slot).await.map(|_| slot)
}

/// Whether this browser holds the key in `slot`.
pub async fn held(slot: &str) -> bool {
    dpop::find(slot).await.is_some()
}

/// A removed binding's key.
pub async fn forget(slot: Option<&str>) {
    if let Some(slot) = slot {
        dpop::forget(slot).await;
    }
}

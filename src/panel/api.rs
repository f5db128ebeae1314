//! The panel's line to the background and to storage-change events.

use wasm_bindgen::prelude::*;

use crate::core::wire::{PanelReply, PanelRequest};
use crate::shell::chrome;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = ["chrome", "storage", "onChanged"], js_name = addListener)]
    fn storage_on_changed(cb: &Closure<dyn FnMut()>);
}

pub async fn send(req: &PanelRequest) -> Option<PanelReply> {
    let v = chrome::send_message(req).await.ok()?;
    crate::shell::from_js(v)
}

/// Calls `f` whenever extension storage changes (offers parked, bindings written).
pub fn on_storage_changed(f: impl FnMut() + 'static) {
    let cb = Closure::<dyn FnMut()>::new(f);
    storage_on_changed(&cb);
    // The panel lives as long as its page: the listener never needs removing.
    cb.forget();
}

/// A sentence with a next step for each error code the background can answer.
pub fn explain(code: &str) -> String {
    match code {
        "bad_token_shape" => "That isn't a Latch pairing token. Copy it again from the app (it starts with lpt_).",
        "token_expired" => "This pairing token has expired. Ask the app for a new one.",
        "token_used" => "This pairing token was already used. Ask the app for a new one.",
        "token_not_found" | "malformed_token" => {
            "The relay doesn't know this pairing token. Ask the app for a new one."
        }
        "busy" => "Several approvals are already waiting. Approve or deny them first.",
        "rate_limited" => "Too many connection attempts. Wait a minute and try again.",
        "relay_unreachable" => "Latch's relay can't be reached. Check your connection and try again.",
        "not_described" => "Still checking this app with the relay. Try again in a moment.",
        "already_decided" | "unknown_offer" => "This request was already handled.",
        "unknown_binding" => "This app is no longer connected.",
        "no_consumer" => "This app doesn't accept page captures.",
        "no_page_access" => {
            "Latch can't read this page. Open Latch from the toolbar while the page is in front, then try again."
        }
        "needs_repair" => "This app needs to be paired again before it can receive pages.",
        "no_background" => "Latch's background service isn't answering. Close and reopen this panel.",
        "managed_binding" => "Your organization manages this connection. Ask your administrator to remove it.",
        _ => return explain_policy(code),
    }
    .to_string()
}

/// Why the organization's policy did not connect this browser, and what to ask for.
pub fn explain_policy(code: &str) -> String {
    match code {
        "assertion_replayed" => {
            "The enrollment in your organization's policy was already used by another browser. Ask your administrator for a new one for this browser."
        }
        "assertion_expired" => "The enrollment in your organization's policy has expired. Ask your administrator for a new one.",
        "assertion_invalid" => {
            "The enrollment in your organization's policy is not signed by a key the relay knows (changed, or the key was revoked). Ask your administrator for a new one."
        }
        "wrong_audience" => "The enrollment in your organization's policy was made for another Latch relay. Ask your administrator for one for this relay.",
        "malformed_assertion" | "assertion_too_long_lived" => {
            "The enrollment in your organization's policy is not valid. Ask your administrator to sign a new one with latch-relay tenant sign-assertion."
        }
        "policy_wrong_relay" => "Your organization's policy names a different relay than this Latch uses. Ask your administrator to check relayUrl.",
        "policy_incomplete" => "Your organization's policy is missing relayUrl, tenantId or assertion. Ask your administrator to complete it.",
        "relay_unreachable" => "Latch's relay can't be reached yet; Latch will try again by itself.",
        _ => "Something went wrong. Try again.",
    }
    .to_string()
}

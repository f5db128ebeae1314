//! The panel's line to the background and to storage-change events.

use std::future::Future;

use wasm_bindgen::prelude::*;

use latch_wire::panel::{ActivityItem, ActivityPage, PanelReply, PanelRequest};

use crate::shell::chrome;

use super::i18n::t;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = ["chrome", "storage", "onChanged"], js_name = addListener)]
    fn storage_on_changed(cb: &Closure<dyn FnMut()>);
}

/// Sends `req` to the background now; resolves to its reply (`None`: no answer).
pub fn send(req: &PanelRequest) -> impl Future<Output = Option<PanelReply>> + 'static {
    let sent = chrome::send_message(req);
    async move { crate::shell::from_js(sent.await.ok()?) }
}

/// A binding's activity (`panel.activity`): the relay's page as the worker passed it on, or
/// the sentence for why there is none.
pub async fn activity(binding_id: &str) -> Result<Vec<ActivityItem>, String> {
    let req = PanelRequest::Activity { binding_id: binding_id.to_owned() };
    let reply = chrome::send_message(&req).await.map_err(|_| t("err_unknown"))?;
    let page = js_sys::Reflect::get(&reply, &"activity".into()).ok().filter(|p| !p.is_undefined());
    match page.and_then(crate::shell::from_js::<ActivityPage>) {
        Some(page) => Ok(page.events),
        None => {
            let error = crate::shell::from_js::<PanelReply>(reply).and_then(|r| r.error);
            Err(explain(error.as_deref().unwrap_or("unknown")))
        }
    }
}

/// Calls `f` whenever extension storage changes (offers parked, bindings written).
pub fn on_storage_changed(f: impl FnMut() + 'static) {
    let cb = Closure::<dyn FnMut()>::new(f);
    storage_on_changed(&cb);
    // The panel lives as long as its page: the listener never needs removing.
    cb.forget();
}

/// A sentence with a next step for each error code the background can answer (the
/// catalogue's `err_<code>`), else for a policy refusal, else a generic one.
pub fn explain(code: &str) -> String {
    let key = match code {
        "malformed_token" => "token_not_found",
        "unknown_offer" => "already_decided",
        other => other,
    };
    let sentence = t(&format!("err_{key}"));
    if sentence.is_empty() {
        explain_policy(code)
    } else {
        sentence
    }
}

/// Why the organization's policy did not connect this browser, and what to ask for
/// (the catalogue's `policy_<code>`).
pub fn explain_policy(code: &str) -> String {
    let key = if code == "assertion_too_long_lived" { "malformed_assertion" } else { code };
    let sentence = t(&format!("policy_{key}"));
    if sentence.is_empty() {
        t("err_unknown")
    } else {
        sentence
    }
}

//! The service-worker router. The JS shim (`extension/background.js`) registers every
//! listener synchronously and forwards here; each entry point re-reads stored state,
//! decides with the core, writes back and answers.

mod capture;
mod code_pairing;
mod device;
mod keys;
mod live;
mod lock;
mod managed;
mod pairing;
mod pause;
mod state;
mod tokens;
mod user_change;
mod wakeup;

use wasm_bindgen::prelude::*;

use latch_wire::external::{ExternalMessage, StatusReply};
use latch_wire::origin::is_connect_origin;
use latch_wire::panel::{PanelReply, PanelRequest};

use crate::config::CONNECT_ORIGIN;
use crate::core::challenge::Event;
use crate::core::errors::CommandError;
use crate::shell::{chrome, from_js, log, to_js};

/// `chrome.runtime.onMessageExternal`: messages from web pages.
/// Anything not from the connect origin, or not of a known shape, is ignored (undefined).
#[wasm_bindgen]
pub async fn handle_external(message: JsValue, sender_origin: Option<String>, tab_id: Option<i32>) -> JsValue {
    if !is_connect_origin(sender_origin.as_deref(), CONNECT_ORIGIN) {
        log(&format!("ignored external message from {sender_origin:?}"));
        return JsValue::UNDEFINED;
    }
    let Some(msg) = from_js::<ExternalMessage>(message) else {
        log("ignored external message of unknown shape");
        return JsValue::UNDEFINED;
    };
    match msg {
        ExternalMessage::PairingOffer { pairing_token, opener } => {
            to_js(&pairing::offer(&pairing_token, tab_id, opener).await)
        }
        ExternalMessage::PairingResult { offer_id } => to_js(&state::read_book().await.result(&offer_id)),
        ExternalMessage::Status { tenant_id } => {
            let connected = state::read_bindings().await.iter().any(|b| b.tenant_id == tenant_id);
            to_js(&StatusReply { connected })
        }
    }
}

/// `chrome.runtime.onMessage`: commands from the extension's own panel only.
#[wasm_bindgen]
pub async fn handle_panel(message: JsValue, sender_id: Option<String>, sender_origin: Option<String>) -> JsValue {
    let own_origin = format!("chrome-extension://{}", chrome::runtime_id());
    if sender_id.as_deref() != Some(&chrome::runtime_id()) || sender_origin.as_deref() != Some(own_origin.as_str()) {
        log("ignored internal message from outside the extension's pages");
        return JsValue::UNDEFINED;
    }
    let Some(req) = from_js::<PanelRequest>(message) else {
        return to_js(&PanelReply { ok: false, info: None, error: Some("bad_request".into()), state: None });
    };
    if let PanelRequest::Activity { binding_id } = &req {
        return activity(binding_id).await;
    }
    let only_state = req == PanelRequest::State;
    let result: Result<Option<String>, CommandError> = match req {
        PanelRequest::State => Ok(None),
        PanelRequest::Approve { offer_id } => pairing::approve(&offer_id).await.map(|()| None),
        PanelRequest::Deny { offer_id } => pairing::deny(&offer_id).await.map(|()| None),
        PanelRequest::ApproveCode { offer_id } => code_pairing::approve(&offer_id).await.map(|()| None),
        PanelRequest::DenyCode { offer_id } => code_pairing::deny(&offer_id).await.map(|()| None),
        PanelRequest::Connect { pairing_token } => pairing::connect_pasted(pairing_token.trim()).await.map(|()| None),
        PanelRequest::Disconnect { binding_id } => pairing::disconnect(&binding_id).await.map(|()| None),
        PanelRequest::PairCode => {
            code_pairing::feed(Event::Started).await;
            Ok(None)
        }
        PanelRequest::CancelCode => {
            code_pairing::feed(Event::Cancelled).await;
            Ok(None)
        }
        PanelRequest::Capture { binding_id } => capture::send_active_page(&binding_id).await.map(Some),
        PanelRequest::Pause { binding_id } => pause::set_paused(&binding_id, true).await.map(|()| None),
        PanelRequest::Resume { binding_id } => pause::set_paused(&binding_id, false).await.map(|()| None),
        PanelRequest::Rename { binding_id, device_name } => device::rename(&binding_id, &device_name).await.map(Some),
        PanelRequest::DisconnectAll => pairing::disconnect_all().await.map(|()| None),
        // Answered above: it changes nothing and needs no state.
        PanelRequest::Activity { .. } => Ok(None),
    };
    // A state read changes nothing: sockets and tokens follow the commands that do, and
    // every worker start (`on_startup`). Each open panel asks on every storage change, and
    // a just-opened one waits for this answer.
    if !only_state {
        bindings_changed().await;
    }
    let state = Some(pairing::panel_state().await);
    to_js(&match result {
        Ok(info) => PanelReply { ok: true, info, error: None, state },
        Err(e) => PanelReply { ok: false, info: None, error: Some(e.code().to_owned()), state },
    })
}

/// The binding's activity as the relay keeps it (`GET /api/me/events`), passed on as the
/// relay sent it in the reply's `activity`: the panel decodes it, so the worker carries no
/// code for its shape.
async fn activity(binding_id: &str) -> JsValue {
    let read = user_change::Change::Read;
    match user_change::at_relay(binding_id, read, "GET", "/api/me/events", JsValue::UNDEFINED).await {
        Ok(page) => {
            let reply = to_js(&PanelReply { ok: true, info: None, error: None, state: None });
            let _ = js_sys::Reflect::set(&reply, &"activity".into(), &page);
            reply
        }
        Err(e) => to_js(&PanelReply { ok: false, info: None, error: Some(e.code().to_owned()), state: None }),
    }
}

/// Worker start, browser start-up and install: bring the badge in line with storage and
/// resume a code pairing or an approved redeem that was running when the worker stopped.
/// Waits [`STARTUP_DEFER_MS`] first: Chrome starts a stopped worker for an event (usually
/// a `pairing.offer`), and this work's dozen storage reads would queue ahead of that
/// event's in the browser (measured: +5-10 ms on the offer's answer; BENCHMARKS.md).
#[wasm_bindgen]
pub async fn on_startup() {
    gloo_timers::future::TimeoutFuture::new(STARTUP_DEFER_MS).await;
    let book = state::read_book().await;
    code_pairing::feed(Event::Tick).await;
    state::refresh_badge().await;
    pairing::resume_interrupted(&book).await;
    bindings_changed().await;
    managed::sync().await;
}

/// `chrome.storage.onChanged`: a changed organization policy may mean a new enrollment.
#[wasm_bindgen]
pub async fn on_storage_changed(area: String) {
    if area == "managed" {
        managed::sync().await;
    }
}

/// How long start-up work yields to the event that woke the worker.
const STARTUP_DEFER_MS: u32 = 100;

/// After bindings may have changed: schedule their refreshes and open their live channels.
pub(crate) async fn bindings_changed() {
    tokens::tick().await;
    live::ensure_all().await;
}

/// `chrome.alarms.onAlarm`: the code-pairing poller's wake-up outlives the worker.
#[wasm_bindgen]
pub async fn on_alarm(name: String) {
    if name == code_pairing::ALARM {
        code_pairing::feed(Event::Tick).await;
    }
    if name == tokens::ALARM {
        tokens::tick().await;
    }
    if name == managed::ALARM {
        managed::sync().await;
    }
    live::ensure_all().await;
}

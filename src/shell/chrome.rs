//! `chrome.*` externs: one small block per API, `catch` on every promise-returning call.

use latch_wire::EpochMs;
use serde::{de::DeserializeOwned, Serialize};
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = ["chrome", "storage", "local"], js_name = get, catch)]
    async fn local_get(key: &str) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_namespace = ["chrome", "storage", "local"], js_name = set, catch)]
    async fn local_set(items: &JsValue) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_namespace = ["chrome", "storage", "session"], js_name = get, catch)]
    async fn session_get(key: &str) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_namespace = ["chrome", "storage", "session"], js_name = set, catch)]
    async fn session_set(items: &JsValue) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_namespace = ["chrome", "storage", "local"], js_name = remove, catch)]
    async fn local_remove(key: &str) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_namespace = ["chrome", "storage", "session"], js_name = remove, catch)]
    async fn session_remove(key: &str) -> Result<JsValue, JsValue>;

    #[wasm_bindgen(js_namespace = ["chrome", "alarms"], js_name = create, catch)]
    async fn alarms_create(name: &str, info: &JsValue) -> Result<JsValue, JsValue>;

    #[wasm_bindgen(thread_local_v2, js_namespace = ["chrome", "runtime"], js_name = id)]
    static RUNTIME_ID: JsValue;
    #[wasm_bindgen(js_namespace = ["chrome", "runtime"], js_name = sendMessage, catch)]
    fn runtime_send_message(msg: &JsValue) -> Result<js_sys::Promise, JsValue>;

    #[wasm_bindgen(js_namespace = ["chrome", "tabs"], js_name = remove, catch)]
    async fn tabs_remove(tab_id: i32) -> Result<JsValue, JsValue>;

    #[wasm_bindgen(js_namespace = ["chrome", "runtime"], js_name = getContexts, catch)]
    async fn runtime_get_contexts(filter: &JsValue) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_namespace = ["chrome", "windows"], js_name = create, catch)]
    async fn windows_create(info: &JsValue) -> Result<JsValue, JsValue>;

    #[wasm_bindgen(js_namespace = ["chrome", "action"], js_name = setBadgeText, catch)]
    async fn action_set_badge_text(details: &JsValue) -> Result<JsValue, JsValue>;
}

/// Which storage area a key lives in.
#[derive(Clone, Copy)]
pub enum Area {
    /// Survives browser restarts (`chrome.storage.local`).
    Local,
    /// Memory only, survives worker restarts (`chrome.storage.session`).
    Session,
}

/// Reads and decodes `key`; a missing or undecodable value is `None`.
pub async fn storage_get<T: DeserializeOwned>(area: Area, key: &str) -> Result<Option<T>, JsValue> {
    let items = match area {
        Area::Local => local_get(key).await?,
        Area::Session => session_get(key).await?,
    };
    let value = js_sys::Reflect::get(&items, &JsValue::from_str(key))?;
    if value.is_undefined() {
        return Ok(None);
    }
    Ok(super::from_js(value))
}

pub async fn storage_set<T: Serialize>(area: Area, key: &str, value: &T) -> Result<(), JsValue> {
    let items = js_sys::Object::new();
    js_sys::Reflect::set(&items, &JsValue::from_str(key), &super::to_js(value))?;
    match area {
        Area::Local => local_set(&items).await?,
        Area::Session => session_set(&items).await?,
    };
    Ok(())
}

pub async fn storage_remove(area: Area, key: &str) -> Result<(), JsValue> {
    match area {
        Area::Local => local_remove(key).await?,
        Area::Session => session_remove(key).await?,
    };
    Ok(())
}

/// (Re)arms the alarm `name` to fire at `when`. Alarms outlive the worker.
pub async fn set_alarm(name: &str, when: EpochMs) {
    let info = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&info, &"when".into(), &when.as_js().into());
    let _ = alarms_create(name, &info).await;
}

/// This extension's id.
pub fn runtime_id() -> String {
    RUNTIME_ID.with(|v| v.as_string().unwrap_or_default())
}

#[cfg(feature = "panel")]
/// Sends a message to the extension's own background at once (not when first polled, as an
/// `async fn` would) and resolves to its reply.
pub fn send_message<T: Serialize>(msg: &T) -> impl std::future::Future<Output = Result<JsValue, JsValue>> {
    let sent = runtime_send_message(&super::to_js(msg));
    async move { wasm_bindgen_futures::JsFuture::from(sent?).await }
}

/// Closes a tab; a tab the user already closed is not an error worth reporting.
pub async fn close_tab(tab_id: i32) {
    let _ = tabs_remove(tab_id).await;
}

/// Shows `count` on the toolbar badge (nothing for zero).
pub async fn set_badge(count: usize) {
    let text = if count == 0 { String::new() } else { count.to_string() };
    let details = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&details, &"text".into(), &text.into());
    let _ = action_set_badge_text(&details).await;
}

/// True when one of the extension's pages (the panel: side panel, tab or window) is open.
pub async fn extension_page_open() -> bool {
    let filter = js_sys::Object::new();
    let kinds = js_sys::Array::of3(&"SIDE_PANEL".into(), &"TAB".into(), &"POPUP".into());
    let _ = js_sys::Reflect::set(&filter, &"contextTypes".into(), &kinds);
    match runtime_get_contexts(&filter).await {
        Ok(list) => js_sys::Array::from(&list).length() > 0,
        Err(_) => true, // unknown: don't open a window over the user's work
    }
}

/// Opens the panel in a small window (no gesture needed, unlike the side panel).
pub async fn open_panel_window() {
    let info = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&info, &"type".into(), &"popup".into());
    let _ = js_sys::Reflect::set(&info, &"url".into(), &"panel.html".into());
    let _ = js_sys::Reflect::set(&info, &"width".into(), &420.into());
    let _ = js_sys::Reflect::set(&info, &"height".into(), &640.into());
    let _ = windows_create(&info).await;
}

//! "Send this page to {appName}": reads the active tab (activeTab + scripting, through the
//! static `capture.js`) and posts it to the app's capture inbox with the binding's access
//! token, refreshing once if the relay calls the token invalid.

use serde::Deserialize;
use wasm_bindgen::prelude::*;

use latch_wire::api::{Capture, CaptureAccepted, ErrorBody};

use crate::config::CONNECT_ORIGIN;
use crate::core::errors::CommandError;
use crate::shell::relay::{self, Reply};
use crate::shell::{chrome, from_js};

use super::state::read_bindings;
use super::tokens;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = ["chrome", "tabs"], js_name = query, catch)]
    async fn tabs_query(query: &JsValue) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_namespace = ["chrome", "scripting"], js_name = executeScript, catch)]
    async fn execute_script(details: &JsValue) -> Result<JsValue, JsValue>;
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Tab {
    id: Option<i32>,
    url: Option<String>,
    last_accessed: Option<f64>,
}

#[derive(Deserialize)]
struct Injection {
    result: Option<Capture>,
}

fn obj(pairs: &[(&str, JsValue)]) -> JsValue {
    let o = js_sys::Object::new();
    for (k, v) in pairs {
        let _ = js_sys::Reflect::set(&o, &(*k).into(), v);
    }
    o.into()
}

/// The page the user is looking at: the most recently used active tab of a normal window
/// that isn't one of the extension's own pages.
async fn active_page() -> Option<i32> {
    let query = obj(&[("active", true.into()), ("windowType", "normal".into())]);
    let tabs: Vec<Tab> = from_js(tabs_query(&query).await.ok()?)?;
    let own = format!("chrome-extension://{}/", chrome::runtime_id());
    tabs.into_iter()
        .filter(|t| !t.url.as_deref().is_some_and(|u| u.starts_with(&own) || u.starts_with("chrome://")))
        .max_by(|a, b| a.last_accessed.unwrap_or(0.0).total_cmp(&b.last_accessed.unwrap_or(0.0)))
        .and_then(|t| t.id)
}

async fn read_page(tab_id: i32) -> Result<Capture, CommandError> {
    let files = js_sys::Array::of1(&"capture.js".into());
    let details = obj(&[("target", obj(&[("tabId", tab_id.into())])), ("files", files.into())]);
    let results = execute_script(&details).await.map_err(|_| CommandError::NoPageAccess)?;
    let mut injections: Vec<Injection> = from_js(results).ok_or(CommandError::NoPageAccess)?;
    injections.pop().and_then(|i| i.result).ok_or(CommandError::NoPageAccess)
}

/// Sends the active page to the binding's app; returns the page's title (the panel words
/// the confirmation with the app's re-checked name).
pub async fn send_active_page(binding_id: &str) -> Result<String, CommandError> {
    let binding =
        read_bindings().await.into_iter().find(|b| b.binding_id == binding_id).ok_or(CommandError::UnknownBinding)?;
    if binding.needs_repair.is_some() {
        return Err(CommandError::NeedsRepair);
    }
    if binding.paused {
        return Err(CommandError::Paused);
    }
    let tab = active_page().await.ok_or(CommandError::NoPageAccess)?;
    let capture = read_page(tab).await?;
    let post = |access: tokens::Access| {
        let capture = &capture;
        async move { relay::post_as(access.credential(), CONNECT_ORIGIN, "/api/inbox/v1/captures", capture).await }
    };
    match tokens::with_access_token::<CaptureAccepted, _, _>(binding_id, post).await? {
        Reply::Ok(_) => Ok(capture.title),
        Reply::Refused { status: 401, .. } => Err(CommandError::AccessTokenInvalid),
        Reply::Refused { body: ErrorBody { error, .. }, .. } => Err(CommandError::Refused(error)),
        Reply::ServerError => Err(CommandError::NoConsumerOrRelayDown),
        Reply::Unreachable => Err(CommandError::RelayUnreachable),
    }
}

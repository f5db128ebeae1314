//! This browser's name for its apps (PROTOCOL §10): the user's last rename
//! (`latch.deviceName`), else the default from the browser and OS. Sent with every pairing;
//! a rename in the panel goes to the relay for that binding's app.

use wasm_bindgen::prelude::*;

use latch_wire::api::{DeviceRename, DeviceRenamed};

use crate::config::CONNECT_ORIGIN;
use crate::core::device_name::{default_device_name, Brand};
use crate::core::errors::CommandError;
use crate::shell::chrome::{self, Area};
use crate::shell::relay::{self, Reply};

use super::pairing::storage_error;
use super::state::{read_bindings, update_bindings};
use super::tokens;

/// The name the user last chose, for the next pairings (a default is never stored: it
/// follows the browser's version).
pub const NAME_KEY: &str = "latch.deviceName";

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = ["chrome", "runtime"], js_name = getPlatformInfo, catch)]
    async fn get_platform_info() -> Result<JsValue, JsValue>;
}

/// The name to send with a pairing.
pub async fn name() -> String {
    match chrome::storage_get::<String>(Area::Local, NAME_KEY).await {
        Ok(Some(chosen)) => chosen,
        _ => default_name().await,
    }
}

/// "Chrome 156 on Linux": `navigator.userAgentData.brands` (else `navigator.userAgent`) and
/// `chrome.runtime.getPlatformInfo().os`.
async fn default_name() -> String {
    let get = |from: &JsValue, key: &str| js_sys::Reflect::get(from, &key.into()).unwrap_or(JsValue::UNDEFINED);
    let navigator = get(&js_sys::global(), "navigator");
    // Read field by field: a serde decode of the list was ~1.3 KB of the worker's wasm.
    let list = get(&get(&navigator, "userAgentData"), "brands");
    let list = list.dyn_into::<js_sys::Array>().unwrap_or_default();
    let brands: Vec<Brand> = list
        .iter()
        .map(|b| Brand {
            brand: get(&b, "brand").as_string().unwrap_or_default(),
            version: get(&b, "version").as_string().unwrap_or_default(),
        })
        .collect();
    let user_agent = get(&navigator, "userAgent").as_string().unwrap_or_default();
    let os = match get_platform_info().await {
        Ok(info) => get(&info, "os").as_string().unwrap_or_default(),
        Err(_) => String::new(),
    };
    default_device_name(&brands, &user_agent, &os)
}

/// Renames this browser for the binding's app. The relay checks the name (the panel can't:
/// normalising needs tables too big for the worker) and answers it normalised; that is
/// what is kept, for this binding and as the name of the next pairings, and answered.
pub async fn rename(binding_id: &str, device_name: &str) -> Result<String, CommandError> {
    let binding =
        read_bindings().await.into_iter().find(|b| b.binding_id == binding_id).ok_or(CommandError::UnknownBinding)?;
    if binding.needs_repair.is_some() {
        return Err(CommandError::NeedsRepair);
    }
    let body = DeviceRename { device_name: device_name.to_owned() };
    let patch = |token: String| {
        let body = &body;
        async move { relay::patch_with_bearer(CONNECT_ORIGIN, "/api/me/device", &token, body).await }
    };
    let renamed = match tokens::with_access_token::<DeviceRenamed, _, _>(binding_id, patch).await? {
        Reply::Ok(renamed) => renamed,
        Reply::Refused { status: 401, .. } => return Err(CommandError::AccessTokenInvalid),
        Reply::Refused { body, .. } => return Err(CommandError::Refused(body.error)),
        Reply::ServerError | Reply::Unreachable => return Err(CommandError::RelayUnreachable),
    };
    update_bindings(|all| {
        if let Some(b) = all.iter_mut().find(|b| b.binding_id == binding_id) {
            b.device_name = Some(renamed.device_name.clone());
        }
    })
    .await
    .map_err(storage_error)?;
    chrome::storage_set(Area::Local, NAME_KEY, &renamed.device_name).await.map_err(storage_error)?;
    Ok(renamed.device_name)
}

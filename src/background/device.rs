//! This browser's name for its apps (PROTOCOL §10): every pairing sends the default from the
//! browser and OS; a rename in the panel is for that binding's app only. A chosen name is
//! never sent to another app: the next app (and a code request, before the user knows which
//! app approves it) hears only the default.

use wasm_bindgen::prelude::*;

use latch_wire::api::{DeviceRename, DeviceRenamed};

use crate::core::device_name::{default_device_name, Brand};
use crate::core::errors::CommandError;
use crate::shell::{from_js, to_js};

use super::pairing::storage_error;
use super::state::update_binding;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = ["chrome", "runtime"], js_name = getPlatformInfo, catch)]
    async fn get_platform_info() -> Result<JsValue, JsValue>;
}

/// The name a pairing sends, "Chrome 156 on Linux": from `navigator.userAgentData.brands`
/// (else `navigator.userAgent`) and `chrome.runtime.getPlatformInfo().os`.
pub async fn name() -> String {
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
/// what the binding keeps, and the answer. The organization's binding keeps the name it
/// enrolled with: the user can't relabel a device the organization keeps track of.
pub async fn rename(binding_id: &str, device_name: &str) -> Result<String, CommandError> {
    let body = to_js(&DeviceRename { device_name: device_name.to_owned() });
    let answer =
        super::user_change::at_relay(binding_id, super::user_change::Change::Write, "PATCH", "/api/me/device", body)
            .await?;
    // An answer not of the documented shape is the relay's failure, as a 5xx is.
    let renamed: DeviceRenamed = from_js(answer).ok_or(CommandError::RelayUnreachable)?;
    update_binding(binding_id, |b| b.device_name = Some(renamed.device_name.clone())).await.map_err(storage_error)?;
    Ok(renamed.device_name)
}

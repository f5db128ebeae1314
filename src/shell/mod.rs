//! Thin platform bindings shared by the worker and the panel: chrome.* APIs, fetch and the
//! clock. No decisions here — only calls and conversions.

pub mod chrome;
#[cfg(feature = "background")]
pub mod dpop;
#[cfg(feature = "background")]
pub mod relay;

use latch_wire::EpochMs;
use wasm_bindgen::JsValue;

use crate::core::timer::timer_delay;

/// The wall clock, now.
pub fn now_ms() -> EpochMs {
    EpochMs::from_js(js_sys::Date::now())
}

/// A timer's delay from now until `at` (see [`timer_delay`]).
pub fn timer_delay_until(at: EpochMs) -> u32 {
    timer_delay(now_ms(), at)
}

/// Logs to the worker/panel console (never with secrets).
pub fn log(msg: &str) {
    web_sys::console::log_1(&JsValue::from_str(msg));
}

/// A random 128-bit identifier as hex (offer ids).
pub fn random_id() -> String {
    let mut b = [0u8; 16];
    getrandom::getrandom(&mut b).expect("crypto.getRandomValues is available");
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// 64 random bits (jitter seeds).
pub fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    getrandom::getrandom(&mut b).expect("crypto.getRandomValues is available");
    u64::from_le_bytes(b)
}

/// A random 256-bit secret `prefix` + 43 base64url characters (redeem keys).
pub fn random_secret(prefix: &str) -> String {
    let mut b = [0u8; 32];
    getrandom::getrandom(&mut b).expect("crypto.getRandomValues is available");
    latch_wire::token::encode_secret(prefix, &b)
}

/// Encodes as a plain JS value (objects, arrays, strings, numbers; `None` as null), the
/// shapes the JSON wire and chrome.storage use. A value that can't be encoded (an integer
/// beyond 2^53) is `undefined`.
pub fn to_js<T: serde::Serialize>(v: &T) -> JsValue {
    v.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).unwrap_or(JsValue::UNDEFINED)
}

/// Decodes a JS value; `None` when it doesn't have the type's shape or nests deeper than
/// [`MAX_DEPTH`] anywhere.
pub fn from_js<T: serde::de::DeserializeOwned>(v: JsValue) -> Option<T> {
    if !nests_within(&v, MAX_DEPTH) {
        return None;
    }
    serde_wasm_bindgen::from_value(v).ok()
}

/// How deep a value crossing into Rust may nest (no wire or stored shape goes past a
/// handful of levels; serde_json stops at 128). Checked before decoding because
/// serde-wasm-bindgen words a refusal with wasm-bindgen's recursive `debugString`: an array
/// ~10,000 deep where a string stands overflowed the JS stack and threw through the Rust
/// frames, leaving the handler unanswered and its shadow stack claimed
/// (`shell::tests::hostile`).
const MAX_DEPTH: usize = 64;

/// Whether `v` nests at most `depth` objects or arrays deep.
fn nests_within(v: &JsValue, depth: usize) -> bool {
    use wasm_bindgen::JsCast;
    if !v.is_object() {
        return true;
    }
    depth > 0 && js_sys::Object::values(v.unchecked_ref()).iter().all(|x| nests_within(&x, depth - 1))
}

// What `to_js`/`from_js` accept and refuse, against serde_json, in headless Chromium.
#[cfg(all(test, target_arch = "wasm32"))]
mod tests;

//! HTTP calls to the relay (`fetch`). Returns status + decoded body; the caller decides.

use serde::{de::DeserializeOwned, Serialize};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use crate::core::wire::ErrorBody;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = fetch, catch)]
    async fn js_fetch(url: &str, init: &JsValue) -> Result<JsValue, JsValue>;

    type Response;
    #[wasm_bindgen(method, getter)]
    fn status(this: &Response) -> u16;
    #[wasm_bindgen(method)]
    fn json(this: &Response) -> js_sys::Promise;
}

/// The outcome of one relay call.
pub enum Reply<T> {
    Ok(T),
    /// The relay answered with an error body (4xx/5xx).
    Refused {
        error: String,
    },
    /// No answer (network error, relay down) or an unreadable one.
    Unreachable,
}

/// POSTs `body` as JSON to `base + path`.
pub async fn post<B: Serialize, T: DeserializeOwned>(base: &str, path: &str, body: &B) -> Reply<T> {
    let init = js_sys::Object::new();
    let headers = js_sys::Object::new();
    let json = js_sys::JSON::stringify(&super::to_js(body)).map(String::from).unwrap_or_default();
    let _ = js_sys::Reflect::set(&headers, &"content-type".into(), &"application/json".into());
    let _ = js_sys::Reflect::set(&init, &"method".into(), &"POST".into());
    let _ = js_sys::Reflect::set(&init, &"headers".into(), &headers);
    let _ = js_sys::Reflect::set(&init, &"body".into(), &json.into());
    let Ok(res) = js_fetch(&format!("{base}{path}"), &init).await else {
        return Reply::Unreachable;
    };
    let res: Response = res.unchecked_into();
    let status = res.status();
    let Ok(value) = JsFuture::from(res.json()).await else {
        return Reply::Unreachable;
    };
    if (200..300).contains(&status) {
        return match serde_wasm_bindgen::from_value(value) {
            Ok(v) => Reply::Ok(v),
            Err(_) => Reply::Unreachable,
        };
    }
    match serde_wasm_bindgen::from_value::<ErrorBody>(value) {
        Ok(e) if status < 500 => Reply::Refused { error: e.error },
        _ => Reply::Unreachable,
    }
}

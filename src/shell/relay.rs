//! HTTP calls to the relay (`fetch`). Returns status + decoded body; the caller decides.

use serde::{de::DeserializeOwned, Serialize};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use latch_wire::api::ErrorBody;

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
    /// The relay refused with a 4xx error body.
    Refused {
        status: u16,
        body: ErrorBody,
    },
    /// 5xx, or an answer that isn't the documented JSON.
    ServerError,
    /// No answer at all (network error, relay down).
    Unreachable,
}

/// POSTs `body` as JSON to `base + path`.
pub async fn post<B: Serialize, T: DeserializeOwned>(base: &str, path: &str, body: &B) -> Reply<T> {
    post_inner(base, path, None, body).await
}

/// POSTs `body` as JSON with `Authorization: Bearer <token>`.
pub async fn post_with_bearer<B: Serialize, T: DeserializeOwned>(
    base: &str,
    path: &str,
    token: &str,
    body: &B,
) -> Reply<T> {
    post_inner(base, path, Some(token), body).await
}

async fn post_inner<B: Serialize, T: DeserializeOwned>(
    base: &str,
    path: &str,
    bearer: Option<&str>,
    body: &B,
) -> Reply<T> {
    let headers = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&headers, &"content-type".into(), &"application/json".into());
    if let Some(t) = bearer {
        let _ = js_sys::Reflect::set(&headers, &"authorization".into(), &format!("Bearer {t}").into());
    }
    let json = js_sys::JSON::stringify(&super::to_js(body)).map(String::from).unwrap_or_default();
    let init = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&init, &"method".into(), &"POST".into());
    let _ = js_sys::Reflect::set(&init, &"headers".into(), &headers);
    let _ = js_sys::Reflect::set(&init, &"body".into(), &json.into());
    call(&format!("{base}{path}"), &init).await
}

/// GETs `base + path`.
pub async fn get<T: DeserializeOwned>(base: &str, path: &str) -> Reply<T> {
    call(&format!("{base}{path}"), &js_sys::Object::new()).await
}

/// No relay call waits longer: a hung answer is `Unreachable`, so whatever waits on it
/// (an offer's describe, a refresh) gives way to its retry. Above the longest long-poll the
/// relay holds (25 s); Chrome itself stops a worker whose fetch takes more than 30 s.
const DEADLINE_MS: u32 = 28_000;

async fn call<T: DeserializeOwned>(url: &str, init: &JsValue) -> Reply<T> {
    let _ = js_sys::Reflect::set(init, &"signal".into(), &web_sys::AbortSignal::timeout_with_u32(DEADLINE_MS));
    let Ok(res) = js_fetch(url, init).await else {
        return Reply::Unreachable;
    };
    let res: Response = res.unchecked_into();
    let status = res.status();
    let Ok(value) = JsFuture::from(res.json()).await else {
        return if status >= 500 { Reply::ServerError } else { Reply::Unreachable };
    };
    match status {
        200..=299 => super::from_js(value).map_or(Reply::ServerError, Reply::Ok),
        400..=499 => super::from_js(value).map_or(Reply::ServerError, |body| Reply::Refused { status, body }),
        _ => Reply::ServerError,
    }
}

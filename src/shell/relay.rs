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
    send_json("POST", base, path, None, body).await
}

/// POSTs `body` as JSON with `Authorization: Bearer <token>`.
pub async fn post_with_bearer<B: Serialize, T: DeserializeOwned>(
    base: &str,
    path: &str,
    token: &str,
    body: &B,
) -> Reply<T> {
    send_json("POST", base, path, Some(token), body).await
}

/// Sends `body` (already a JS value) as JSON with `Authorization: Bearer <token>`; a 2xx
/// answer is handed back undecoded. Not generic: the user's changes to a binding (rename,
/// pause, resume) share this one copy and decode their answers themselves.
pub async fn send_with_bearer(method: &str, base: &str, path: &str, token: &str, body: JsValue) -> Reply<JsValue> {
    match fetch(format!("{base}{path}"), json_init(method, Some(token), body)).await {
        Answer::Json { status: 200..=299, value } => Reply::Ok(value),
        other => decode_refusal(other),
    }
}

async fn send_json<B: Serialize, T: DeserializeOwned>(
    method: &str,
    base: &str,
    path: &str,
    bearer: Option<&str>,
    body: &B,
) -> Reply<T> {
    decode(fetch(format!("{base}{path}"), json_init(method, bearer, super::to_js(body))).await)
}

/// The `fetch` options of a JSON request. Not generic: one copy for every body type.
fn json_init(method: &str, bearer: Option<&str>, body: JsValue) -> JsValue {
    let headers = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&headers, &"content-type".into(), &"application/json".into());
    if let Some(t) = bearer {
        let _ = js_sys::Reflect::set(&headers, &"authorization".into(), &format!("Bearer {t}").into());
    }
    let json = js_sys::JSON::stringify(&body).map(String::from).unwrap_or_default();
    let init = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&init, &"method".into(), &method.into());
    let _ = js_sys::Reflect::set(&init, &"headers".into(), &headers);
    let _ = js_sys::Reflect::set(&init, &"body".into(), &json.into());
    init.into()
}

/// GETs `base + path`.
pub async fn get<T: DeserializeOwned>(base: &str, path: &str) -> Reply<T> {
    decode(fetch(format!("{base}{path}"), js_sys::Object::new().into()).await)
}

/// No relay call waits longer: a hung answer is `Unreachable`, so whatever waits on it
/// (an offer's describe, a refresh) gives way to its retry. Above the longest long-poll the
/// relay holds (25 s); Chrome itself stops a worker whose fetch takes more than 30 s.
const DEADLINE_MS: u32 = 28_000;

/// An answer before it is decoded.
enum Answer {
    Json { status: u16, value: JsValue },
    ServerError,
    Unreachable,
}

/// One `fetch` and its JSON. Not generic: every call site awaits this one copy (each
/// generic copy of it was ~2 KB of the worker's wasm).
async fn fetch(url: String, init: JsValue) -> Answer {
    let _ = js_sys::Reflect::set(&init, &"signal".into(), &web_sys::AbortSignal::timeout_with_u32(DEADLINE_MS));
    let Ok(res) = js_fetch(&url, &init).await else {
        return Answer::Unreachable;
    };
    let res: Response = res.unchecked_into();
    let status = res.status();
    match JsFuture::from(res.json()).await {
        Ok(value) => Answer::Json { status, value },
        Err(_) if status >= 500 => Answer::ServerError,
        Err(_) => Answer::Unreachable,
    }
}

fn decode<T: DeserializeOwned>(answer: Answer) -> Reply<T> {
    match answer {
        Answer::Json { status: 200..=299, value } => super::from_js(value).map_or(Reply::ServerError, Reply::Ok),
        other => decode_refusal(other),
    }
}

/// Every answer but a 2xx one.
fn decode_refusal<T>(answer: Answer) -> Reply<T> {
    match answer {
        Answer::Json { status: status @ 400..=499, value } => {
            super::from_js(value).map_or(Reply::ServerError, |body| Reply::Refused { status, body })
        }
        Answer::Json { .. } | Answer::ServerError => Reply::ServerError,
        Answer::Unreachable => Reply::Unreachable,
    }
}

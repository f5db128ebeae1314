//! HTTP calls to the relay (`fetch`). Returns status + decoded body; the caller decides.
//! A call for a key-bound binding carries a DPoP proof by its key (PROTOCOL §12); when the
//! relay asks for its nonce (`use_dpop_nonce`), the proof is made again with it, once.

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
    #[wasm_bindgen(method, getter)]
    fn headers(this: &Response) -> Headers;

    type Headers;
    #[wasm_bindgen(method)]
    fn get(this: &Headers, name: &str) -> Option<String>;
}

/// How a call shows whose it is.
#[derive(Clone, Copy)]
pub enum Credential<'a> {
    None,
    /// A proof by the key in this slot, if the binding has one (the calls that make a
    /// binding, refresh and revoke: no access token goes with them).
    Proof(Option<&'a str>),
    /// An access token: `Bearer`, or `DPoP` with a proof by the key in `key` (its slot).
    Access {
        token: &'a str,
        key: Option<&'a str>,
    },
}

thread_local! {
    /// The relay's last `DPoP-Nonce`: proofs carry it until it hands out another.
    static NONCE: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
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
    post_as(Credential::None, base, path, body).await
}

/// POSTs `body` as JSON with `credential`.
pub async fn post_as<B: Serialize, T: DeserializeOwned>(
    credential: Credential<'_>,
    base: &str,
    path: &str,
    body: &B,
) -> Reply<T> {
    decode(fetch("POST", format!("{base}{path}"), credential, Some(super::to_js(body))).await)
}

/// Sends `body` (already a JS value; `undefined` for none) as JSON with `credential`; a 2xx
/// answer is handed back undecoded. Not generic: the user's changes to a binding (rename,
/// pause, resume) and its activity share this one copy and decode their answers themselves.
pub async fn send_as(
    credential: Credential<'_>,
    method: &str,
    base: &str,
    path: &str,
    body: JsValue,
) -> Reply<JsValue> {
    // `undefined`: no body (a GET).
    let body = Some(body).filter(|b| !b.is_undefined());
    match fetch(method, format!("{base}{path}"), credential, body).await {
        Answer::Json { status: 200..=299, value, .. } => Reply::Ok(value),
        other => decode_refusal(other),
    }
}

/// The `fetch` options of a request: JSON `body` if any, the credential's headers.
/// Not generic: one copy for every body type.
async fn init(method: &str, url: &str, credential: Credential<'_>, body: Option<&JsValue>) -> JsValue {
    let headers = js_sys::Object::new();
    let set = |target: &js_sys::Object, key: &str, value: &JsValue| {
        let _ = js_sys::Reflect::set(target, &key.into(), value);
    };
    let (token, slot) = match credential {
        Credential::None => (None, None),
        Credential::Proof(slot) => (None, slot),
        Credential::Access { token, key } => (Some(token), key),
    };
    // A proof by the binding's key when it has one; no key found (storage cleared under
    // it) sends none, and the relay's refusal says what went wrong.
    let key = match slot {
        Some(slot) => super::dpop::find(slot).await,
        None => None,
    };
    let proof = match &key {
        Some(key) => {
            let nonce = NONCE.with_borrow(Clone::clone);
            super::dpop::proof(key, method, url, token, nonce.as_deref()).await.ok()
        }
        None => None,
    };
    if let Some(proof) = &proof {
        set(&headers, "dpop", &proof.as_str().into());
    }
    if let Some(t) = token {
        let scheme = if key.is_some() { "DPoP" } else { "Bearer" };
        set(&headers, "authorization", &format!("{scheme} {t}").into());
    }
    let init = js_sys::Object::new();
    set(&init, "method", &method.into());
    if let Some(body) = body {
        set(&headers, "content-type", &"application/json".into());
        let json = js_sys::JSON::stringify(body).map(String::from).unwrap_or_default();
        set(&init, "body", &json.into());
    }
    set(&init, "headers", &headers);
    init.into()
}

/// GETs `base + path`.
pub async fn get<T: DeserializeOwned>(base: &str, path: &str) -> Reply<T> {
    decode(fetch("GET", format!("{base}{path}"), Credential::None, None).await)
}

/// No relay call waits longer: a hung answer is `Unreachable`, so whatever waits on it
/// (an offer's describe, a refresh) gives way to its retry. Above the longest long-poll the
/// relay holds (25 s); Chrome itself stops a worker whose fetch takes more than 30 s.
const DEADLINE_MS: u32 = 28_000;

/// An answer before it is decoded.
enum Answer {
    /// `nonce`: a 401's `DPoP-Nonce`.
    Json {
        status: u16,
        value: JsValue,
        nonce: Option<String>,
    },
    ServerError,
    Unreachable,
}

/// One request and its JSON; made once more, with a fresh proof, when the relay answers
/// `use_dpop_nonce` with a nonce. Not generic: every call site awaits this one copy (each
/// generic copy of it was ~2 KB of the worker's wasm).
async fn fetch(method: &str, url: String, credential: Credential<'_>, body: Option<JsValue>) -> Answer {
    let mut answer = fetch_once(&url, init(method, &url, credential, body.as_ref()).await).await;
    if let Answer::Json { status: 401, value, nonce: Some(nonce) } = &answer {
        let asked = js_sys::Reflect::get(value, &"error".into()).ok().and_then(|e| e.as_string());
        if asked.as_deref() == Some("use_dpop_nonce") && !matches!(credential, Credential::None) {
            NONCE.with_borrow_mut(|n| *n = Some(nonce.clone()));
            answer = fetch_once(&url, init(method, &url, credential, body.as_ref()).await).await;
        }
    }
    answer
}

async fn fetch_once(url: &str, init: JsValue) -> Answer {
    let _ = js_sys::Reflect::set(&init, &"signal".into(), &web_sys::AbortSignal::timeout_with_u32(DEADLINE_MS));
    let Ok(res) = js_fetch(url, &init).await else {
        return Answer::Unreachable;
    };
    let res: Response = res.unchecked_into();
    let status = res.status();
    let nonce = if status == 401 { res.headers().get("dpop-nonce") } else { None };
    match JsFuture::from(res.json()).await {
        Ok(value) => Answer::Json { status, value, nonce },
        Err(_) if status >= 500 => Answer::ServerError,
        Err(_) => Answer::Unreachable,
    }
}

fn decode<T: DeserializeOwned>(answer: Answer) -> Reply<T> {
    match answer {
        Answer::Json { status: 200..=299, value, .. } => super::from_js(value).map_or(Reply::ServerError, Reply::Ok),
        other => decode_refusal(other),
    }
}

/// Every answer but a 2xx one.
fn decode_refusal<T>(answer: Answer) -> Reply<T> {
    match answer {
        Answer::Json { status: status @ 400..=499, value, .. } => {
            super::from_js(value).map_or(Reply::ServerError, |body| Reply::Refused { status, body })
        }
        Answer::Json { .. } | Answer::ServerError => Reply::ServerError,
        Answer::Unreachable => Reply::Unreachable,
    }
}

//! The binding keys (PROTOCOL §12): non-extractable ECDSA P-256 keys made with
//! `crypto.subtle`, kept as `CryptoKey`s in IndexedDB (database `latch`, store `keys`, one
//! per slot), and the DPoP proofs they sign. The private key never leaves WebCrypto: not
//! into wasm memory, not into `chrome.storage`, not into a backup of it. What a proof says is
//! `core::dpop`'s.

use std::cell::RefCell;

use base64ct::{Base64UrlUnpadded, Encoding};
use js_sys::{Object, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{CryptoKey, IdbDatabase, IdbRequest, IdbTransactionMode};

use crate::core::dpop::{ProofClaims, PublicJwk};

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(thread_local_v2, js_name = crypto)]
    static CRYPTO: web_sys::Crypto;
    #[wasm_bindgen(thread_local_v2, js_name = indexedDB)]
    static INDEXED_DB: Option<web_sys::IdbFactory>;
}

const DATABASE: &str = "latch";
const STORE: &str = "keys";

/// A binding's key: the private half (usable, never readable) and the public one.
#[derive(Clone)]
pub struct Key {
    private: CryptoKey,
    jwk: PublicJwk,
}

thread_local! {
    static DB: RefCell<Option<IdbDatabase>> = const { RefCell::new(None) };
    /// Keys this worker already read or made, by slot: a proof costs no IndexedDB read.
    static KEYS: RefCell<Vec<(String, Key)>> = const { RefCell::new(Vec::new()) };
}

fn subtle() -> web_sys::SubtleCrypto {
    CRYPTO.with(web_sys::Crypto::subtle)
}

fn set(target: &Object, key: &str, value: &JsValue) {
    let _ = Reflect::set(target, &key.into(), value);
}

fn text(from: &JsValue, key: &str) -> Option<String> {
    Reflect::get(from, &key.into()).ok()?.as_string()
}

/// An IndexedDB request's result, once it succeeded.
async fn settled(req: &IdbRequest) -> Result<JsValue, JsValue> {
    let done = js_sys::Promise::new(&mut |resolve, reject| {
        req.set_onsuccess(Some(&resolve));
        req.set_onerror(Some(&reject));
    });
    JsFuture::from(done).await?;
    req.result()
}

async fn database() -> Result<IdbDatabase, JsValue> {
    if let Some(db) = DB.with_borrow(Clone::clone) {
        return Ok(db);
    }
    let factory = INDEXED_DB.with(Clone::clone).ok_or_else(|| JsValue::from_str("no IndexedDB"))?;
    let open = factory.open_with_u32(DATABASE, 1)?;
    let request = open.clone();
    let upgrade = Closure::<dyn FnMut(JsValue)>::new(move |_| {
        if let Ok(db) = request.result() {
            let _ = db.unchecked_into::<IdbDatabase>().create_object_store(STORE);
        }
    });
    open.set_onupgradeneeded(Some(upgrade.as_ref().unchecked_ref()));
    let db: IdbDatabase = settled(&open).await?.unchecked_into();
    drop(upgrade);
    DB.with_borrow_mut(|d| *d = Some(db.clone()));
    Ok(db)
}

async fn store(mode: IdbTransactionMode) -> Result<web_sys::IdbObjectStore, JsValue> {
    database().await?.transaction_with_str_and_mode(STORE, mode)?.object_store(STORE)
}

fn cached(slot: &str) -> Option<Key> {
    KEYS.with_borrow(|k| k.iter().find(|(s, _)| s == slot).map(|(_, key)| key.clone()))
}

fn remember(slot: &str, key: &Key) {
    KEYS.with_borrow_mut(|k| {
        k.retain(|(s, _)| s != slot);
        k.push((slot.to_owned(), key.clone()));
    });
}

/// The key kept in `slot`, if there is one.
pub async fn find(slot: &str) -> Option<Key> {
    if let Some(key) = cached(slot) {
        return Some(key);
    }
    let record = settled(&store(IdbTransactionMode::Readonly).await.ok()?.get(&slot.into()).ok()?).await.ok()?;
    let private: CryptoKey = Reflect::get(&record, &"key".into()).ok()?.dyn_into().ok()?;
    let key = Key { private, jwk: PublicJwk::p256(text(&record, "x")?, text(&record, "y")?) };
    remember(slot, &key);
    Some(key)
}

/// The key in `slot`, made and kept there first if there is none. `Err` when this browser
/// can't make or keep one (no IndexedDB, WebCrypto refused).
pub async fn key(slot: &str) -> Result<Key, JsValue> {
    if let Some(key) = find(slot).await {
        return Ok(key);
    }
    let algorithm = Object::new();
    set(&algorithm, "name", &"ECDSA".into());
    set(&algorithm, "namedCurve", &"P-256".into());
    let usages = js_sys::Array::of1(&"sign".into());
    // Not extractable: the private key can sign here and nowhere else.
    let pair = JsFuture::from(subtle().generate_key_with_object(&algorithm, false, &usages)?).await?;
    let private: CryptoKey = Reflect::get(&pair, &"privateKey".into())?.dyn_into()?;
    let public: CryptoKey = Reflect::get(&pair, &"publicKey".into())?.dyn_into()?;
    let jwk = JsFuture::from(subtle().export_key("jwk", &public)?).await?;
    let (x, y) = (text(&jwk, "x"), text(&jwk, "y"));
    let (Some(x), Some(y)) = (x, y) else {
        return Err(JsValue::from_str("the public key has no coordinates"));
    };
    let key = Key { private, jwk: PublicJwk::p256(x, y) };
    keep(slot, &key).await?;
    Ok(key)
}

/// Stores `key` in `slot` (a structured clone: the `CryptoKey` stays non-extractable), and
/// waits for the transaction to commit: a key the relay binds must be on disk first.
async fn keep(slot: &str, key: &Key) -> Result<(), JsValue> {
    let record = Object::new();
    set(&record, "key", &key.private);
    set(&record, "x", &key.jwk.x.as_str().into());
    set(&record, "y", &key.jwk.y.as_str().into());
    let tx = database().await?.transaction_with_str_and_mode(STORE, IdbTransactionMode::Readwrite)?;
    let committed = js_sys::Promise::new(&mut |resolve, reject| {
        tx.set_oncomplete(Some(&resolve));
        tx.set_onerror(Some(&reject));
        tx.set_onabort(Some(&reject));
    });
    tx.object_store(STORE)?.put_with_key(&record, &slot.into())?;
    JsFuture::from(committed).await?;
    remember(slot, key);
    Ok(())
}

/// Keeps the key of slot `from` in slot `to` as well (a pairing's key, under its binding).
pub async fn copy(from: &str, to: &str) -> Result<(), JsValue> {
    let key = find(from).await.ok_or_else(|| JsValue::from_str("no key in that slot"))?;
    keep(to, &key).await
}

/// Forgets the key in `slot` (its binding was disconnected or revoked).
pub async fn forget(slot: &str) {
    KEYS.with_borrow_mut(|k| k.retain(|(s, _)| s != slot));
    if let Ok(store) = store(IdbTransactionMode::Readwrite).await {
        if let Ok(req) = store.delete(&slot.into()) {
            let _ = settled(&req).await;
        }
    }
}

fn b64(bytes: &[u8]) -> String {
    Base64UrlUnpadded::encode_string(bytes)
}

/// A JSON string of `s`.
fn quote(s: &str) -> String {
    js_sys::JSON::stringify(&s.into()).map(String::from).unwrap_or_default()
}

/// SHA-256 of `text`, base64url: a proof's `ath` (of the access token), and the name of a
/// pairing's slot (of its retry secret, so no secret is written into IndexedDB's key names).
pub async fn fingerprint(text: &str) -> Result<String, JsValue> {
    let digest = JsFuture::from(subtle().digest_with_str_and_u8_array("SHA-256", text.as_bytes())?).await?;
    Ok(b64(&Uint8Array::new(&digest).to_vec()))
}

/// A proof for `method` on `url`, signed by `key`: with the access token's hash when one
/// goes with the request, and the relay's nonce when it gave one.
pub async fn proof(
    key: &Key,
    method: &str,
    url: &str,
    token: Option<&str>,
    nonce: Option<&str>,
) -> Result<String, JsValue> {
    let mut jti = [0u8; 16];
    getrandom::getrandom(&mut jti).map_err(|_| JsValue::from_str("no randomness"))?;
    let jti = b64(&jti);
    let ath = match token {
        Some(t) => Some(fingerprint(t).await?),
        None => None,
    };
    let iat = super::now_ms().as_ms() / 1000;
    let claims = ProofClaims { jti: &jti, htm: method, htu: url, iat, ath: ath.as_deref(), nonce };
    let input = format!("{}.{}", b64(key.jwk.header_json().as_bytes()), b64(claims.to_json(&quote).as_bytes()));
    let algorithm = Object::new();
    set(&algorithm, "name", &"ECDSA".into());
    set(&algorithm, "hash", &"SHA-256".into());
    // WebCrypto's ECDSA signature is r || s, as JWS's ES256 wants it.
    let signed = subtle().sign_with_object_and_u8_array(&algorithm, &key.private, input.as_bytes())?;
    let signature = Uint8Array::new(&JsFuture::from(signed).await?).to_vec();
    Ok(format!("{input}.{}", b64(&signature)))
}

//! What the JS boundary (`to_js` / `from_js`, serde-wasm-bindgen) accepts and refuses,
//! proved in a real browser (headless Chromium, `wasm-pack test`) against serde_json.
//!
//! Inputs are built the way they reach the extension: `JSON.parse` of JSON text. Chrome
//! hands `onMessageExternal` a page's message after a JSON round trip, and relay answers
//! come from `Response.json()`; either way a plain object, array, string, number, boolean
//! or null. Each decode is compared with `serde_json::from_str` of the same text; each
//! encode, as `JSON.stringify(to_js(v))`, with `serde_json::to_string(v)`.
//!
//! Where the two differ, the tests assert what serde-wasm-bindgen does and say whether it
//! matters for safety. Decoding, from_js:
//! * refuses a struct spelled as an array of its fields, which serde_json reads (hostile.rs);
//! * reads any array as a struct whose fields are all optional, all absent (differences.rs);
//! * takes integral float tokens (`5.0`, `1e3`, `-0`) as integers and refuses integers
//!   beyond 2^53 - 1 that JSON.parse rounded (numbers.rs);
//! * keeps the last of a repeated key, and replaces an unpaired surrogate with U+FFFD,
//!   where serde_json refuses both; refuses integer map keys (differences.rs);
//! * throws a JS RangeError instead of refusing when an array nested beyond the JS stack
//!   stands where a string, number or bool should (hostile.rs): the one robustness gap.
//!
//! Encoding, `to_js` gives `undefined` for a whole value holding an integer beyond
//! 2^53 - 1 or an integer map key, which serde_json writes (numbers.rs, differences.rs).
//! Otherwise every wire type encodes as serde_json does (encode.rs), and every valid
//! message, broken in any simple way (mutations.rs) or at random (generated.rs), is
//! accepted or refused alike, to the same value.
//!
//! Here rather than in `tests/`: `shell` is private to the crate, and these tests must go
//! through the functions the worker and the panel really call.

mod differences;
mod encode;
mod generated;
mod hostile;
mod mutations;
mod numbers;
mod samples;

use serde::{de::DeserializeOwned, Serialize};
use std::fmt::Debug;
use wasm_bindgen::JsValue;

wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

/// The JS value `JSON.parse` makes of `text` (which must be JSON).
fn parse(text: &str) -> JsValue {
    js_sys::JSON::parse(text).unwrap_or_else(|_| panic!("not JSON: {text}"))
}

/// What the boundary decodes from the JS value of `text`.
fn decode<T: DeserializeOwned>(text: &str) -> Option<T> {
    super::from_js(parse(text))
}

/// What serde_json decodes from `text`.
fn decode_json<T: DeserializeOwned>(text: &str) -> Option<T> {
    serde_json::from_str(text).ok()
}

/// `JSON.stringify(to_js(v))`, or `None` when `to_js` gave `undefined` (it could not encode).
fn encode<T: Serialize>(v: &T) -> Option<String> {
    let js = super::to_js(v);
    if js.is_undefined() {
        return None;
    }
    Some(js_sys::JSON::stringify(&js).expect("to_js makes JSON-able values").into())
}

/// Decodes exactly when serde_json decodes, to the same value.
fn decodes_like_serde_json<T: DeserializeOwned + PartialEq + Debug>(text: &str) -> Result<(), String> {
    let (ours, theirs) = (decode::<T>(text), decode_json::<T>(text));
    if ours == theirs {
        Ok(())
    } else {
        Err(format!("{text}\n  from_js:    {ours:?}\n  serde_json: {theirs:?}"))
    }
}

/// What it decodes, serde_json decodes alike; serde_json may decode more (a struct from an
/// array of its fields, which from_js refuses). The check for JSON with an array where a
/// struct might stand.
fn decodes_no_more_than_serde_json<T: DeserializeOwned + PartialEq + Debug>(text: &str) -> Result<(), String> {
    match decode::<T>(text) {
        None => Ok(()),
        ours => {
            let theirs = decode_json::<T>(text);
            if ours == theirs {
                Ok(())
            } else {
                Err(format!("{text}\n  from_js:    {ours:?}\n  serde_json: {theirs:?}"))
            }
        }
    }
}

/// Whether a JSON value is or holds an array: where one stands for a struct, serde_json
/// may read it (as the struct's fields in order) and from_js refuses it.
fn contains_array(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Array(_) => true,
        serde_json::Value::Object(map) => map.values().any(contains_array),
        _ => false,
    }
}

/// Panics with every message of the checks that failed.
fn all_pass(failures: Vec<String>) {
    assert!(failures.is_empty(), "{} failed:\n{}", failures.len(), failures.join("\n"));
}

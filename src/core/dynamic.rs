//! serde over a JSON-shaped dynamic value, one level at a time. The wasm shells implement
//! [`Dynamic`] for `JsValue`, so messages, relay bodies and stored records convert straight
//! to and from JS objects; the tests implement it for `serde_json::Value` and check every
//! wire type against serde_json.
//!
//! Why not serde-wasm-bindgen: in the worker it was ~58 KB of 272 KB (its deserializer per
//! visitor plus an interned-key hash map), and its error messages format the offending value,
//! which links float formatting (~17 KB) for text nobody reads. Here a refusal is one
//! [`Refused`] with no message: the callers only ever ask "did it decode?".

mod de;
mod ser;
#[cfg(test)]
mod tests;

use std::fmt;

/// The largest integer a JS number holds exactly (2^53 - 1). Integers beyond it are
/// refused when encoding and decoded as floats.
const MAX_EXACT: f64 = 9_007_199_254_740_991.0;

/// One level of a dynamic value. Containers hold their children undecoded, so a field the
/// target type ignores is never looked into.
pub enum Shape<V> {
    Null,
    Bool(bool),
    Number(f64),
    String(String),
    Array(Vec<V>),
    Object(Vec<(String, V)>),
    /// Functions, symbols, big integers: nothing a message may carry.
    Unsupported,
}

/// A JSON-shaped value the codec reads by [`Dynamic::shape`] and builds by the constructors.
pub trait Dynamic: Sized {
    /// Takes the value apart one level.
    fn shape(self) -> Shape<Self>;
    fn null() -> Self;
    fn bool(b: bool) -> Self;
    fn number(n: f64) -> Self;
    fn string(s: &str) -> Self;
    fn array(items: Vec<Self>) -> Self;
    fn object(entries: Vec<(String, Self)>) -> Self;
}

/// The value does not have the shape the type needs (or, when encoding, the type holds
/// something a JSON value can't: a non-string map key, an integer beyond 2^53).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused;

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("value does not have the expected shape")
    }
}

impl std::error::Error for Refused {}

/// Decodes `T` from `value`.
pub fn from_dyn<T: serde::de::DeserializeOwned, V: Dynamic>(value: V) -> Result<T, Refused> {
    T::deserialize(de::Deserializer::Raw(value))
}

/// Encodes `value` as a dynamic value (objects, arrays, strings, numbers; `None` as null).
pub fn to_dyn<T: serde::Serialize + ?Sized, V: Dynamic>(value: &T) -> Result<V, Refused> {
    value.serialize(ser::Serializer(std::marker::PhantomData))
}

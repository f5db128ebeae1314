//! Fields the relay reads the way it always has, whatever JSON stands there: a token or an
//! id that is not a string reads as empty (and then matches nothing), an `ok` that is not
//! `true` reads as a failure. A frame with such a field is still that frame, so it gets
//! that frame's answer (an `auth` with `"accessToken": null` is refused as an invalid
//! token, not ignored as noise).

use std::fmt;

use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserializer;

/// What a visitor makes of a value that is not the one it wants.
struct OrDefault<T>(std::marker::PhantomData<T>);

/// Takes strings (or `true`) and turns every other JSON value into the default.
trait Accepts: Default + Sized {
    fn from_str(_: &str) -> Self {
        Self::default()
    }
    fn from_bool(_: bool) -> Self {
        Self::default()
    }
}

impl Accepts for String {
    fn from_str(s: &str) -> Self {
        s.to_owned()
    }
}

impl Accepts for bool {
    fn from_bool(b: bool) -> Self {
        b
    }
}

impl<'de, T: Accepts> Visitor<'de> for OrDefault<T> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<T, E> {
        Ok(T::from_str(s))
    }
    fn visit_bool<E: de::Error>(self, b: bool) -> Result<T, E> {
        Ok(T::from_bool(b))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<T, E> {
        Ok(T::default())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<T, E> {
        Ok(T::default())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<T, E> {
        Ok(T::default())
    }
    fn visit_unit<E: de::Error>(self) -> Result<T, E> {
        Ok(T::default())
    }
    fn visit_none<E: de::Error>(self) -> Result<T, E> {
        Ok(T::default())
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<T, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(T::default())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<T, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(T::default())
    }
}

/// A string, or `""` for any other value.
pub fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    d.deserialize_any(OrDefault(std::marker::PhantomData))
}

/// `true` only for the JSON literal `true`.
pub fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    d.deserialize_any(OrDefault(std::marker::PhantomData))
}

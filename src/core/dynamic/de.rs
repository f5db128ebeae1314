//! The decoding half: a serde `Deserializer` that reads one [`Shape`] at a time.

use serde::de::{self, value::StringDeserializer, DeserializeSeed, IntoDeserializer, Visitor};

use super::{Dynamic, Refused, Shape, MAX_EXACT};

// Every default of `de::Error` formats a message from its arguments (the unexpected value,
// the expected type); overriding them keeps that formatting code out of the wasm.
impl de::Error for Refused {
    fn custom<T: std::fmt::Display>(_msg: T) -> Self {
        Refused
    }
    fn invalid_type(_: de::Unexpected<'_>, _: &dyn de::Expected) -> Self {
        Refused
    }
    fn invalid_value(_: de::Unexpected<'_>, _: &dyn de::Expected) -> Self {
        Refused
    }
    fn invalid_length(_: usize, _: &dyn de::Expected) -> Self {
        Refused
    }
    fn unknown_variant(_: &str, _: &'static [&'static str]) -> Self {
        Refused
    }
    fn unknown_field(_: &str, _: &'static [&'static str]) -> Self {
        Refused
    }
    fn missing_field(_: &'static str) -> Self {
        Refused
    }
    fn duplicate_field(_: &'static str) -> Self {
        Refused
    }
}

/// Decodes from a value, or from a value whose top level was already taken apart (by
/// `deserialize_option`, which must look before it knows whether there is `Some`).
pub enum Deserializer<V> {
    Raw(V),
    Taken(Shape<V>),
}

impl<V: Dynamic> Deserializer<V> {
    fn shape(self) -> Shape<V> {
        match self {
            Self::Raw(v) => v.shape(),
            Self::Taken(shape) => shape,
        }
    }
}

impl<'de, D: Dynamic> de::Deserializer<'de> for Deserializer<D> {
    type Error = Refused;

    fn deserialize_any<W: Visitor<'de>>(self, visitor: W) -> Result<W::Value, Refused> {
        match self.shape() {
            Shape::Null => visitor.visit_unit(),
            Shape::Bool(b) => visitor.visit_bool(b),
            Shape::Number(n) if n.fract() == 0.0 && n.abs() <= MAX_EXACT => {
                if n >= 0.0 {
                    visitor.visit_u64(n as u64)
                } else {
                    visitor.visit_i64(n as i64)
                }
            }
            Shape::Number(n) => visitor.visit_f64(n),
            Shape::String(s) => visitor.visit_string(s),
            // A visitor that stops early leaves items over: refused, as serde_json does,
            // rather than dropped unseen.
            Shape::Array(items) => {
                let mut seq = Seq(items.into_iter());
                let value = visitor.visit_seq(&mut seq)?;
                if seq.0.len() == 0 {
                    Ok(value)
                } else {
                    Err(Refused)
                }
            }
            Shape::Object(entries) => visit_object(entries, visitor),
            Shape::Unsupported => Err(Refused),
        }
    }

    fn deserialize_option<W: Visitor<'de>>(self, visitor: W) -> Result<W::Value, Refused> {
        match self.shape() {
            Shape::Null => visitor.visit_none(),
            shape => visitor.visit_some(Deserializer::Taken(shape)),
        }
    }

    /// Unit variants are strings (`"pending"`); that is the only enum form on the wire.
    fn deserialize_enum<W: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: W,
    ) -> Result<W::Value, Refused> {
        match self.shape() {
            Shape::String(s) => visitor.visit_enum(IntoDeserializer::<Refused>::into_deserializer(s)),
            _ => Err(Refused),
        }
    }

    /// A struct is read from an object only. serde's derive can also read one from an array
    /// of its fields in order; no message is written that way, and refusing it here leaves
    /// that second decoder of every struct out of the wasm.
    fn deserialize_struct<W: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: W,
    ) -> Result<W::Value, Refused> {
        match self.shape() {
            Shape::Object(entries) => visit_object(entries, visitor),
            _ => Err(Refused),
        }
    }

    fn deserialize_newtype_struct<W: Visitor<'de>>(self, _name: &'static str, visitor: W) -> Result<W::Value, Refused> {
        visitor.visit_newtype_struct(self)
    }

    /// A field the type doesn't know is skipped without being taken apart.
    fn deserialize_ignored_any<W: Visitor<'de>>(self, visitor: W) -> Result<W::Value, Refused> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map identifier
    }
}

/// Hands an object's entries to `visitor`; entries it leaves unread are refused, as above.
fn visit_object<'de, V: Dynamic, W: Visitor<'de>>(entries: Vec<(String, V)>, visitor: W) -> Result<W::Value, Refused> {
    let mut map = Map { entries: entries.into_iter(), value: None };
    let value = visitor.visit_map(&mut map)?;
    if map.entries.len() == 0 {
        Ok(value)
    } else {
        Err(Refused)
    }
}

struct Seq<V>(std::vec::IntoIter<V>);

impl<'de, V: Dynamic> de::SeqAccess<'de> for Seq<V> {
    type Error = Refused;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, Refused> {
        self.0.next().map(|v| seed.deserialize(Deserializer::Raw(v))).transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

struct Map<V> {
    entries: std::vec::IntoIter<(String, V)>,
    /// The value of the key just handed out.
    value: Option<V>,
}

impl<'de, V: Dynamic> de::MapAccess<'de> for Map<V> {
    type Error = Refused;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Refused> {
        let Some((key, value)) = self.entries.next() else {
            return Ok(None);
        };
        self.value = Some(value);
        seed.deserialize(StringDeserializer::<Refused>::new(key)).map(Some)
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, Refused> {
        seed.deserialize(Deserializer::Raw(self.value.take().ok_or(Refused)?))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

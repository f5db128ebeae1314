//! The encoding half: a serde `Serializer` that builds a [`Dynamic`] value.

use std::marker::PhantomData;

use serde::ser::{self, Serialize};

use super::{Dynamic, Refused, Shape, MAX_EXACT};

impl ser::Error for Refused {
    fn custom<T: std::fmt::Display>(_msg: T) -> Self {
        Refused
    }
}

pub struct Serializer<V>(pub PhantomData<V>);

fn integer<V: Dynamic>(n: f64) -> Result<V, Refused> {
    if n.abs() <= MAX_EXACT {
        Ok(V::number(n))
    } else {
        Err(Refused)
    }
}

impl<V: Dynamic> ser::Serializer for Serializer<V> {
    type Ok = V;
    type Error = Refused;
    type SerializeSeq = Array<V>;
    type SerializeTuple = Array<V>;
    type SerializeTupleStruct = Array<V>;
    type SerializeTupleVariant = ser::Impossible<V, Refused>;
    type SerializeMap = Object<V>;
    type SerializeStruct = Object<V>;
    type SerializeStructVariant = ser::Impossible<V, Refused>;

    fn serialize_bool(self, v: bool) -> Result<V, Refused> {
        Ok(V::bool(v))
    }
    fn serialize_i8(self, v: i8) -> Result<V, Refused> {
        Ok(V::number(v.into()))
    }
    fn serialize_i16(self, v: i16) -> Result<V, Refused> {
        Ok(V::number(v.into()))
    }
    fn serialize_i32(self, v: i32) -> Result<V, Refused> {
        Ok(V::number(v.into()))
    }
    fn serialize_i64(self, v: i64) -> Result<V, Refused> {
        integer(v as f64)
    }
    fn serialize_u8(self, v: u8) -> Result<V, Refused> {
        Ok(V::number(v.into()))
    }
    fn serialize_u16(self, v: u16) -> Result<V, Refused> {
        Ok(V::number(v.into()))
    }
    fn serialize_u32(self, v: u32) -> Result<V, Refused> {
        Ok(V::number(v.into()))
    }
    fn serialize_u64(self, v: u64) -> Result<V, Refused> {
        integer(v as f64)
    }
    fn serialize_f32(self, v: f32) -> Result<V, Refused> {
        Ok(V::number(v.into()))
    }
    fn serialize_f64(self, v: f64) -> Result<V, Refused> {
        Ok(V::number(v))
    }
    fn serialize_char(self, v: char) -> Result<V, Refused> {
        Ok(V::string(v.encode_utf8(&mut [0; 4])))
    }
    fn serialize_str(self, v: &str) -> Result<V, Refused> {
        Ok(V::string(v))
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<V, Refused> {
        Ok(V::array(v.iter().map(|&b| V::number(b.into())).collect()))
    }
    fn serialize_none(self) -> Result<V, Refused> {
        Ok(V::null())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<V, Refused> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<V, Refused> {
        Ok(V::null())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<V, Refused> {
        Ok(V::null())
    }
    fn serialize_unit_variant(self, _name: &'static str, _index: u32, variant: &'static str) -> Result<V, Refused> {
        Ok(V::string(variant))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _name: &'static str, value: &T) -> Result<V, Refused> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<V, Refused> {
        Ok(V::object(vec![(variant.to_owned(), value.serialize(self)?)]))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<Array<V>, Refused> {
        Ok(Array(Vec::with_capacity(len.unwrap_or(0))))
    }
    fn serialize_tuple(self, len: usize) -> Result<Array<V>, Refused> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<Array<V>, Refused> {
        self.serialize_seq(Some(len))
    }
    /// No wire type has tuple or struct variants; refusing keeps their code out.
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, Refused> {
        Err(Refused)
    }
    fn serialize_map(self, len: Option<usize>) -> Result<Object<V>, Refused> {
        Ok(Object { entries: Vec::with_capacity(len.unwrap_or(0)), key: None })
    }
    fn serialize_struct(self, _name: &'static str, len: usize) -> Result<Object<V>, Refused> {
        self.serialize_map(Some(len))
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, Refused> {
        Err(Refused)
    }
}

pub struct Array<V>(Vec<V>);

impl<V: Dynamic> Array<V> {
    fn push<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Refused> {
        self.0.push(value.serialize(Serializer(PhantomData))?);
        Ok(())
    }
}

impl<V: Dynamic> ser::SerializeSeq for Array<V> {
    type Ok = V;
    type Error = Refused;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Refused> {
        self.push(value)
    }
    fn end(self) -> Result<V, Refused> {
        Ok(V::array(self.0))
    }
}

impl<V: Dynamic> ser::SerializeTuple for Array<V> {
    type Ok = V;
    type Error = Refused;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Refused> {
        self.push(value)
    }
    fn end(self) -> Result<V, Refused> {
        Ok(V::array(self.0))
    }
}

impl<V: Dynamic> ser::SerializeTupleStruct for Array<V> {
    type Ok = V;
    type Error = Refused;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Refused> {
        self.push(value)
    }
    fn end(self) -> Result<V, Refused> {
        Ok(V::array(self.0))
    }
}

pub struct Object<V> {
    entries: Vec<(String, V)>,
    /// The key of a map entry whose value comes next.
    key: Option<String>,
}

impl<V: Dynamic> ser::SerializeMap for Object<V> {
    type Ok = V;
    type Error = Refused;
    /// Map keys must encode as strings, as in JSON.
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Refused> {
        match key.serialize(Serializer::<V>(PhantomData))?.shape() {
            Shape::String(k) => {
                self.key = Some(k);
                Ok(())
            }
            _ => Err(Refused),
        }
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Refused> {
        let key = self.key.take().ok_or(Refused)?;
        self.entries.push((key, value.serialize(Serializer(PhantomData))?));
        Ok(())
    }
    fn end(self) -> Result<V, Refused> {
        Ok(V::object(self.entries))
    }
}

impl<V: Dynamic> ser::SerializeStruct for Object<V> {
    type Ok = V;
    type Error = Refused;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), Refused> {
        self.entries.push((key.to_owned(), value.serialize(Serializer(PhantomData))?));
        Ok(())
    }
    fn end(self) -> Result<V, Refused> {
        Ok(V::object(self.entries))
    }
}

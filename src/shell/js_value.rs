//! `JsValue` as a [`Dynamic`] value: how the core's serde codec reads and builds JS objects.

use js_sys::{Array, Object, Reflect};
use wasm_bindgen::{JsCast, JsValue};

use crate::core::dynamic::{Dynamic, Shape};

impl Dynamic for JsValue {
    fn shape(self) -> Shape<Self> {
        if let Some(s) = self.as_string() {
            Shape::String(s)
        } else if let Some(n) = self.as_f64() {
            Shape::Number(n)
        } else if let Some(b) = self.as_bool() {
            Shape::Bool(b)
        } else if self.is_null() || self.is_undefined() {
            // A property set to `undefined` reads like a missing one.
            Shape::Null
        } else if Array::is_array(&self) {
            Shape::Array(self.unchecked_into::<Array>().iter().collect())
        } else if self.is_object() {
            let entries = Object::entries(self.unchecked_ref());
            Shape::Object(
                entries
                    .iter()
                    .filter_map(|entry| {
                        let pair: Array = entry.unchecked_into();
                        Some((pair.get(0).as_string()?, pair.get(1)))
                    })
                    .collect(),
            )
        } else {
            Shape::Unsupported
        }
    }
    fn null() -> Self {
        JsValue::NULL
    }
    fn bool(b: bool) -> Self {
        JsValue::from_bool(b)
    }
    fn number(n: f64) -> Self {
        JsValue::from_f64(n)
    }
    fn string(s: &str) -> Self {
        JsValue::from_str(s)
    }
    fn array(items: Vec<Self>) -> Self {
        let array = Array::new();
        for item in items {
            array.push(&item);
        }
        array.into()
    }
    fn object(entries: Vec<(String, Self)>) -> Self {
        let object = Object::new();
        for (key, value) in entries {
            // Setting a property on a fresh plain object cannot fail.
            let _ = Reflect::set(&object, &JsValue::from_str(&key), &value);
        }
        object.into()
    }
}
